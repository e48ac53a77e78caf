//! The rollover divider in the transcript: one line saying what left the window and what it
//! was summarized into, and, expanded, every dropped message.

use ratatui::text::{Line, Span};

use super::RenderCtx;
use crate::tui::state::{CellKind, RebuiltCell, WorkbenchState};
use crate::tui::text::{truncate, wrap};

/// One line naming the message event `seq` added, from the cell that shows it.
pub fn item_label(state: &WorkbenchState, seq: u64) -> String {
    let first = |t: &str| t.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
    let what = match state.cell_for_seq(seq).map(|c| &c.kind) {
        Some(CellKind::User(t)) => format!("user: {}", first(t)),
        Some(CellKind::Assistant { step, text }) => format!("assistant · step {step}: {}", first(text)),
        Some(CellKind::Tool(t)) => format!("step {} · {} {}", t.step, t.name, first(&t.target())),
        Some(CellKind::Correction { text, .. }) => format!("correction: {}", first(text)),
        Some(CellKind::Notice { text, .. }) => first(text),
        Some(CellKind::Rebuilt(r)) => format!("the rebuilt window of cycle {}", r.cycle),
        Some(CellKind::Refusal { step, text }) => format!("refusal · step {step}: {}", first(text)),
        Some(CellKind::Reasoning { step, text, .. }) => format!("reasoning · step {step}: {}", first(text)),
        None => "(not in this view)".into(),
    };
    format!("#{seq}  {what}")
}

/// The divider's rows: a marker, the summary, and when expanded the dropped items.
pub fn divider_lines(ctx: &RenderCtx, r: &RebuiltCell, width: usize, expanded: bool) -> Vec<Line<'static>> {
    let th = ctx.theme;
    let style = th.style("transcript.notice.info");
    let dim = th.style("ui.dim");
    let marker = if expanded { "▾ " } else { "▸ " };
    let mut out = vec![Line::default()];
    let text = format!("⟳ {}", r.summary());
    for (i, l) in wrap(&text, width.saturating_sub(2).max(1)).into_iter().enumerate() {
        let lead = if i == 0 { marker } else { "  " };
        out.push(Line::from(vec![Span::styled(lead.to_string(), dim), Span::styled(l, style)]));
    }
    if !expanded {
        return out;
    }
    let tools = r.tool_summary();
    if !tools.is_empty() {
        out.push(Line::styled(truncate(&format!("  tool calls dropped: {tools}"), width), dim));
    }
    match &r.dropped {
        Some(d) => {
            out.push(Line::styled(truncate("  dropped, oldest first (the status bar names the key that opens each one):", width), dim));
            for seq in &d.seqs {
                out.push(Line::styled(truncate(&format!("    {}", item_label(ctx.state, *seq)), width), th.style("ui")));
            }
        }
        None => out.push(Line::styled("  nothing was dropped: the whole old window fitted", dim)),
    }
    out
}
