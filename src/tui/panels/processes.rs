//! Processes: the session's MCP servers and their state (`mcp_server_*`, folded by
//! `tui::sandbox`), then the background processes `run {background: true}` started and that
//! still run, as the session's fold counts them (`process_started` / `process_exited`).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{RenderCtx, empty_state};
use crate::config::keymap::{Action, KeyContext};
use crate::tui::panel::{Effects, Offer, Panel, PanelId, Placement, scroll_delta, scroll_offers};
use crate::tui::sandbox::{McpServer, McpStatus};
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
        let n = cx.state.sandbox.mcp.len() + cx.state.core.background.len();
        self.selected = self.selected.saturating_add_signed(delta).min(n.saturating_sub(1));
    }
    fn render(&mut self, f: &mut Frame, area: Rect, cx: &RenderCtx) {
        let th = cx.theme;
        let running = &cx.state.core.background;
        let started = cx.state.core.last_process_id;
        let mcp = &cx.state.sandbox.mcp;
        if started == 0 && mcp.is_empty() {
            empty_state(f, area, cx, "Background processes the agent starts (run with background: true) are listed here while they run.");
            return;
        }
        let w = usize::from(area.width);
        // One selectable row per server, then per running process; headings are not rows.
        let mut rows: Vec<Line> = Vec::new();
        let mut headings: Vec<(usize, Line)> = Vec::new();
        if !mcp.is_empty() {
            let up = mcp.values().filter(|m| m.status == McpStatus::Running).count();
            headings.push((rows.len(), Line::styled(format!("MCP servers · {up} of {} running", mcp.len()), th.style("ui.dim"))));
            for (name, m) in mcp {
                rows.push(mcp_line(name, m, w, th));
            }
        }
        if started > 0 {
            headings.push((rows.len(), Line::styled(format!("{} running · {started} started", running.len()), th.style("ui.dim"))));
            for (id, command) in running {
                let label = format!("#{id} ");
                rows.push(Line::from(vec![
                    Span::styled(label.clone(), th.style("transcript.tool.running")),
                    Span::styled(truncate(command, w.saturating_sub(label.len())), th.style("transcript.tool.target")),
                ]));
            }
        }
        let h = usize::from(area.height).saturating_sub(headings.len());
        self.selected = self.selected.min(rows.len().saturating_sub(1));
        let skip = self.selected.saturating_sub(h.saturating_sub(1));
        let mut lines = Vec::new();
        let mut headings = headings.into_iter().peekable();
        for (i, line) in rows.into_iter().enumerate() {
            while let Some((_, heading)) = headings.next_if(|(at, _)| *at <= i) {
                lines.push(heading);
            }
            if i < skip {
                continue;
            }
            lines.push(if i == self.selected { line.patch_style(th.style("ui.selection")) } else { line });
        }
        lines.extend(headings.map(|(_, heading)| heading));
        f.render_widget(Paragraph::new(lines), area);
    }
    crate::panel_any!();
}

/// A server's row: its name, status, and what it offers or why it stopped.
fn mcp_line(name: &str, m: &McpServer, w: usize, th: &crate::config::theme::Theme) -> Line<'static> {
    let (mark, style) = match m.status {
        McpStatus::Running => ("● ", "transcript.tool.ok"),
        McpStatus::Exited => ("○ ", "transcript.tool.running"),
        McpStatus::Failed => ("✗ ", "transcript.tool.error"),
        McpStatus::Stopped => ("■ ", "ui.dim"),
    };
    let mut detail = vec![m.status.label().to_string()];
    if !m.transport.is_empty() {
        detail.push(m.transport.clone());
        detail.push(format!("{} tool{}", m.tools, if m.tools == 1 { "" } else { "s" }));
    }
    if m.restarted {
        detail.push("restarted".into());
    }
    let mut detail = detail.join(" · ");
    if let Some(r) = m.reason.as_deref().filter(|_| m.status != McpStatus::Running) {
        detail.push_str(&format!(": {r}"));
    }
    let head = format!("{mark}{name} ");
    let room = w.saturating_sub(crate::tui::text::str_width(&head));
    Line::from(vec![
        Span::styled(head, th.style(style)),
        Span::styled(truncate(&detail, room), th.style(if m.status == McpStatus::Running { "transcript.tool.target" } else { "ui.dim" })),
    ])
}
