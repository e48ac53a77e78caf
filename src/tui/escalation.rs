//! The escalation overlay: the agent asks to run one command outside the sandbox, and the
//! run waits until the supervisor approves it once or denies it with a note for the agent.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};

use super::app::App;
use super::view::{binding_notation, centered, clear};
use crate::config::keymap::{Action, KeyContext};

pub fn render(f: &mut Frame, area: Rect, app: &App, id: u64) {
    let th = &app.opts.theme;
    let Some(e) = app.state.sandbox.escalation.as_ref().filter(|e| e.id == id) else { return };
    let width: u16 = area.width.saturating_sub(4).min(90);
    let w = usize::from(width.saturating_sub(2)).max(10);
    let approve = binding_notation(app, KeyContext::Confirm, Action::Confirm);
    let deny = binding_notation(app, KeyContext::Confirm, Action::Cancel);
    let mut lines = vec![Line::styled("The agent asks to run this command outside the sandbox:", th.style("ui.confirm"))];
    for l in e.command.lines().take(8) {
        for part in super::text::wrap(l, w.saturating_sub(2)) {
            lines.push(Line::styled(format!("  {part}"), th.style("transcript.tool.target")));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("Why:", th.style("ui.dim")));
    for l in e.justification.lines().take(8) {
        for part in super::text::wrap(l, w) {
            lines.push(Line::styled(part, th.style("ui.confirm")));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "Outside the sandbox it can write anywhere you can, reach the network, and leave processes running.",
        th.style("ui.dim"),
    ));
    lines.push(Line::styled(format!("{approve} approve once · {deny} deny with a note for the agent"), th.style("ui.dim")));
    let r = centered(area, width, (lines.len() as u16 + 2).min(area.height));
    clear(f, r, th);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.style("ui.border.focused"))
        .title(Line::styled(format!(" Escalation {id} — the run waits for you "), th.style("ui.title.focused")));
    let inner = block.inner(r);
    f.render_widget(block, r);
    f.render_widget(Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }), inner);
}
