//! What a rollover dropped, as a list over the workbench: move to a message and open it,
//! which shows the original message in the transcript, expanded.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};

use super::panels::RenderCtx;
use super::panels::rebuilt::item_label;
use super::text::truncate;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedList {
    /// The divider's summary, as the title.
    pub title: String,
    /// The events whose messages were dropped, oldest first.
    pub seqs: Vec<u64>,
    pub selected: usize,
}

impl DroppedList {
    pub fn move_by(&mut self, delta: isize) {
        self.selected = self.selected.saturating_add_signed(delta).min(self.seqs.len().saturating_sub(1));
    }

    pub fn selected_seq(&self) -> Option<u64> {
        self.seqs.get(self.selected).copied()
    }

    pub fn render(&self, f: &mut Frame, area: Rect, ctx: &RenderCtx, footer: &str) {
        let th = ctx.theme;
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(th.style("ui.border.focused"))
            .title(Line::styled(
                truncate(&format!(" {} ", self.title), usize::from(area.width.saturating_sub(2))),
                th.style("ui.title.focused"),
            ))
            .title_bottom(Line::styled(truncate(footer, usize::from(area.width.saturating_sub(2))), th.style("ui.dim")));
        let inner = block.inner(area);
        f.render_widget(block, area);
        let w = usize::from(inner.width);
        let h = usize::from(inner.height);
        let first = self.selected.saturating_sub(h.saturating_sub(1));
        let lines: Vec<Line> = self
            .seqs
            .iter()
            .enumerate()
            .skip(first)
            .take(h)
            .map(|(i, seq)| {
                let line = Line::styled(truncate(&item_label(ctx.state, *seq), w), th.style("ui"));
                if i == self.selected { line.patch_style(th.style("ui.selection")) } else { line }
            })
            .collect();
        f.render_widget(Paragraph::new(lines), inner);
    }
}
