//! Processes: the background processes `run {background: true}` started and that still run,
//! as the session's fold counts them (`process_started` / `process_exited`).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{RenderCtx, empty_state};
use crate::config::keymap::{Action, KeyContext};
use crate::tui::panel::{Effects, Offer, Panel, PanelId, Placement, scroll_delta, scroll_offers};
use crate::tui::text::truncate;

#[derive(Debug, Default)]
pub struct ProcessesPanel {
    selected: usize,
}

impl Panel for ProcessesPanel {
    fn id(&self) -> PanelId {
        PanelId("processes")
    }
    fn title(&self) -> &'static str {
        "Processes"
    }
    fn layer(&self) -> KeyContext {
        KeyContext::Global
    }
    fn placement(&self) -> Placement {
        Placement::Side
    }
    fn offers(&self, _cx: &RenderCtx) -> Vec<Offer> {
        scroll_offers().to_vec()
    }
    fn act(&mut self, a: Action, cx: &RenderCtx, _fx: &mut Effects) {
        if let Some(d) = scroll_delta(a, 10) {
            self.scroll(d, cx);
        }
    }
    fn scroll(&mut self, delta: isize, cx: &RenderCtx) {
        let n = cx.state.core.background.len();
        self.selected = self.selected.saturating_add_signed(delta).min(n.saturating_sub(1));
    }
    fn render(&mut self, f: &mut Frame, area: Rect, cx: &RenderCtx) {
        let th = cx.theme;
        let running = &cx.state.core.background;
        let started = cx.state.core.last_process_id;
        if started == 0 {
            empty_state(f, area, cx, "Background processes the agent starts (run with background: true) are listed here while they run.");
            return;
        }
        let w = usize::from(area.width);
        let mut lines = vec![Line::styled(format!("{} running · {started} started", running.len()), th.style("ui.dim"))];
        let h = usize::from(area.height).saturating_sub(1);
        self.selected = self.selected.min(running.len().saturating_sub(1));
        let skip = self.selected.saturating_sub(h.saturating_sub(1));
        for (i, (id, command)) in running.iter().enumerate().skip(skip).take(h) {
            let label = format!("#{id} ");
            let line = Line::from(vec![
                Span::styled(label.clone(), th.style("transcript.tool.running")),
                Span::styled(truncate(command, w.saturating_sub(label.len())), th.style("transcript.tool.target")),
            ]);
            lines.push(if i == self.selected { line.patch_style(th.style("ui.selection")) } else { line });
        }
        f.render_widget(Paragraph::new(lines), area);
    }
    crate::panel_any!();
}
