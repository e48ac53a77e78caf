//! The status bar: run state, step, time, tokens, cost, the context gauge and key hints.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::transcript::SPINNER;
use super::RenderCtx;
use crate::tui::state::RunState;

/// Context fill marks, where the background writer saves checkpoints.
pub const GAUGE_MARKS: [f64; 3] = [0.20, 0.45, 0.70];
const GAUGE_WIDTH: usize = 20;

pub struct StatusInfo<'a> {
    pub context_budget: u64,
    /// The focused panel's keys as (notation, description).
    pub hints: &'a [(String, String)],
    /// A one-off message that replaces the hints until the next key.
    pub flash: Option<&'a str>,
}

pub fn tokens(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.2}M", n as f64 / 1e6),
    }
}

fn clock(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

pub fn gauge(ctx: &RenderCtx, fill: f64) -> Vec<Span<'static>> {
    let th = ctx.theme;
    let filled = ((fill.clamp(0.0, 1.0)) * GAUGE_WIDTH as f64).round() as usize;
    let marks: Vec<usize> = GAUGE_MARKS.iter().map(|m| (m * GAUGE_WIDTH as f64).round() as usize).collect();
    let fill_scope = if fill >= GAUGE_MARKS[2] { "ui.gauge.high" } else { "ui.gauge.fill" };
    let mut spans = vec![Span::styled("ctx ", th.style("ui.dim"))];
    for i in 0..GAUGE_WIDTH {
        let is_mark = marks.contains(&i);
        let (ch, scope) = match (i < filled, is_mark) {
            (true, true) => ("┃", "ui.gauge.mark"),
            (true, false) => ("█", fill_scope),
            (false, true) => ("│", "ui.gauge.mark"),
            (false, false) => ("░", "ui.gauge.empty"),
        };
        spans.push(Span::styled(ch, th.style(scope)));
    }
    spans.push(Span::styled(format!(" {:>3.0}%", fill * 100.0), th.style("ui.status")));
    spans
}

pub fn render(f: &mut Frame, area: Rect, ctx: &RenderCtx, info: &StatusInfo) {
    if area.height == 0 {
        return;
    }
    let th = ctx.theme;
    let st = ctx.state;
    let (icon, scope) = match &st.run {
        RunState::NotStarted => ("○", "ui.state.idle"),
        RunState::Running => ("●", "ui.state.running"),
        RunState::WaitingForModel => (SPINNER[ctx.spinner % SPINNER.len()], "ui.state.waiting"),
        RunState::Paused(_) => ("⏸", "ui.state.paused"),
        RunState::Stalled => ("⚠", "ui.state.stalled"),
        RunState::Finished { outcome: crate::protocol::Outcome::Done, .. } => ("✓", "ui.state.done"),
        RunState::Finished { .. } => ("✗", "ui.state.failed"),
    };
    let sep = || Span::styled(" │ ", th.style("ui.dim"));
    let fill = if info.context_budget == 0 { 0.0 } else { st.context_tokens as f64 / info.context_budget as f64 };
    let est = if st.totals.estimated { "~" } else { "" };
    let mut spans = vec![
        Span::styled(format!(" {icon} {} ", st.run.label()), th.style(scope)),
        sep(),
        Span::styled(format!("step {}", st.step), th.style("ui.status")),
        sep(),
        Span::styled(clock(st.elapsed(ctx.now)), th.style("ui.status")),
        sep(),
        Span::styled(format!("in {est}{} out {est}{}", tokens(st.totals.tokens_in), tokens(st.totals.tokens_out)), th.style("ui.status")),
        sep(),
        Span::styled(format!("${:.2}", st.totals.cost_usd), th.style("ui.status")),
        sep(),
    ];
    spans.extend(gauge(ctx, fill));
    f.render_widget(Paragraph::new(Line::from(spans)).style(th.style("ui.status")), Rect { height: 1, ..area });
    if area.height < 2 {
        return;
    }
    let hint_row = Rect { y: area.y + 1, height: 1, ..area };
    let line = match info.flash {
        Some(msg) => Line::styled(format!(" {msg}"), th.style("ui.flash")),
        None => {
            let mut spans = vec![Span::raw(" ")];
            for (k, d) in info.hints {
                spans.push(Span::styled(k.clone(), th.style("ui.hint.key")));
                spans.push(Span::styled(format!(" {d}  "), th.style("ui.hint.desc")));
            }
            Line::from(spans)
        }
    };
    f.render_widget(Paragraph::new(line), hint_row);
}
