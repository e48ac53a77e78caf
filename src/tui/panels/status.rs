//! The status bar: run state, step, time, tokens, cost, the context gauge and key hints.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::RenderCtx;
use super::transcript::SPINNER;
use crate::tui::state::RunState;

/// Context fill marks, where the background writer saves checkpoints.
const GAUGE_WIDTH: usize = 20;

pub struct StatusInfo<'a> {
    pub context_budget: u64,
    /// The focused panel's keys as (notation, description).
    pub hints: &'a [(String, String)],
    /// What the last key did, replacing the hints until the next key.
    pub notice: Option<&'a str>,
    /// Why the last key could not do what it asked; shown as an error.
    pub error: Option<&'a str>,
}

pub fn tokens(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.2}M", n as f64 / 1e6),
    }
}

pub fn clock(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

/// The context gauge, `width` cells of bar between "ctx " and the percentage. A threshold
/// whose checkpoint was saved in this cycle is drawn `┃` in its own style, one still ahead
/// `│`; a fired threshold off the static marks (a configured one) gets a mark of its own.
pub fn gauge(ctx: &RenderCtx, fill: f64, width: usize) -> Vec<Span<'static>> {
    let th = ctx.theme;
    let width = width.max(1);
    let filled = ((fill.clamp(0.0, 1.0)) * width as f64).round() as usize;
    let at = |pct: f64| ((pct * width as f64).round() as usize).min(width - 1);
    // The session's own thresholds (`--checkpoints`), not the defaults.
    let thresholds = ctx.state.thresholds();
    let marks: Vec<usize> = thresholds.iter().map(|p| at(f64::from(*p) / 100.0)).collect();
    let last = thresholds.iter().max().map_or(0.70, |p| f64::from(*p) / 100.0);
    let fired: Vec<usize> = ctx.state.core.fired_thresholds.iter().map(|p| at(f64::from(*p) / 100.0)).collect();
    let fill_scope = if fill >= last { "gauge.high" } else { "gauge.fill" };
    let mut spans = vec![Span::styled("ctx ", th.style("ui.dim"))];
    for i in 0..width {
        let (ch, scope) = if fired.contains(&i) {
            ("┃", "gauge.mark.fired")
        } else if marks.contains(&i) {
            ("│", "gauge.mark")
        } else if i < filled {
            ("█", fill_scope)
        } else {
            ("░", "gauge.empty")
        };
        spans.push(Span::styled(ch, th.style(scope)));
    }
    spans.push(Span::styled(format!(" {:>3.0}%", fill * 100.0), th.style("ui.statusbar")));
    spans
}

/// The narrowest gauge still worth drawing: below this the marks merge.
const GAUGE_MIN_WIDTH: usize = 10;

pub fn render(f: &mut Frame, area: Rect, ctx: &RenderCtx, info: &StatusInfo) {
    if area.height == 0 {
        return;
    }
    let th = ctx.theme;
    let st = ctx.state;
    let (icon, scope) = match &st.run {
        RunState::NotStarted => ("○", "status.idle"),
        RunState::Running => ("●", "status.running"),
        RunState::WaitingForModel => (SPINNER[ctx.spinner % SPINNER.len()], "status.waiting"),
        RunState::Paused(_) => ("⏸", "status.paused"),
        RunState::Stalled => ("⚠", "status.stalled"),
        RunState::Finished { outcome: crate::protocol::Outcome::Done, .. } => ("✓", "status.done"),
        RunState::Finished { .. } => ("✗", "status.failed"),
    };
    let fill = if info.context_budget == 0 { 0.0 } else { st.context_tokens() as f64 / info.context_budget as f64 };
    let est = if st.totals().estimated { "~" } else { "" };
    let bar = th.style("ui.statusbar");
    let run = if st.awaiting_pick().is_some() {
        // Review picks hold the run at the pick without pausing it: say who it waits for.
        Span::styled(" ◆ waiting for your pick ", th.style("candidate.waiting"))
    } else {
        Span::styled(format!(" {icon} {} ", st.run_label()), th.style(scope))
    };
    // (position on the row, field), most important first: on a narrow terminal the gauge
    // shrinks, then whole fields drop from the end of this list, rather than the row being cut
    // mid-number at the edge.
    let mut fields = vec![
        (0, Span::styled(format!("step {}", st.step()), bar)),
        (3, Span::styled(crate::printable::money(st.totals().cost_usd), bar)),
        (1, Span::styled(clock(st.elapsed(ctx.now)), bar)),
        (2, Span::styled(format!("in {est}{} out {est}{}", tokens(st.totals().tokens_in), tokens(st.totals().tokens_out)), bar)),
    ];
    if let Some(rate) = st.totals().cache_hit_rate() {
        // Next to the tokens it qualifies: how much of the prompt the provider's cache served.
        let at = fields.iter().position(|(p, _)| *p == 2).map_or(fields.len(), |i| i + 1);
        fields.insert(at, (2, Span::styled(format!("cache {:.0}%", rate * 100.0), bar)));
    }
    // Max Mode's markers come right after the step: they change what a step costs and whether
    // it waits for you, so they are worth more room than the clock.
    let mut markers = Vec::new();
    if let Some(n) = st.core.max_mode {
        markers.push(format!("max {n}"));
    }
    if st.core.review_picks {
        markers.push("review".to_string());
    }
    if !markers.is_empty() {
        fields.insert(1, (0, Span::styled(markers.join(" "), th.style("status.max"))));
    }
    if st.totals().overhead_usd > 0.0 {
        // What the losing candidates and the judge cost, and total over the agent's own cost:
        // Max Mode's multiplier, visible while it runs.
        let ratio = st.totals().overhead_ratio().map_or(String::new(), |r| format!(" ({r:.1}x)"));
        let at = fields.iter().position(|(p, _)| *p == 3).map_or(fields.len(), |i| i + 1);
        fields.insert(
            at,
            (
                3,
                Span::styled(format!("overhead {}{ratio}", crate::printable::money(st.totals().overhead_usd)), th.style("status.overhead")),
            ),
        );
    }
    if matches!(st.run, RunState::Finished { .. }) && st.step() > 0 {
        let at = fields.iter().position(|(p, _)| *p == 3).map_or(fields.len(), |i| i + 1);
        fields.insert(at, (3, Span::styled(super::endurance::figure(st), th.style("endurance.figure"))));
    }
    if st.session().is_some() {
        // Next to the gauge it qualifies: which window the fill is of, and how many
        // rollovers made it (rollbacks start cycles too, so the two can differ).
        let mut cycle = format!("cycle {}", st.core.cycle);
        if st.core.rollovers > 0 {
            cycle.push_str(&format!(" ↻{}", st.core.rollovers));
        }
        fields.insert(1, (4, Span::styled(cycle, bar)));
    }
    if let Some((text, warn)) = st.sandbox.status(st.core.background.len()) {
        // An unenforced sandbox is worth room next to the step; an enforced one yields first.
        if warn {
            fields.insert(1, (0, Span::styled(format!("⚠ {text}"), th.style("status.stalled"))));
        } else {
            fields.push((5, Span::styled(text, bar)));
        }
    }
    const SEP: &str = " │ ";
    let sep_w = SEP.chars().count();
    let avail = usize::from(area.width);
    let gauge_fixed = "ctx ".len() + " 100%".len();
    let width_of = |fields: &[(u8, Span)]| run.width() + fields.iter().map(|(_, s)| s.width() + sep_w).sum::<usize>() + sep_w;
    while !fields.is_empty() && width_of(&fields) + gauge_fixed + GAUGE_MIN_WIDTH > avail {
        fields.pop();
    }
    let gauge_w = avail.saturating_sub(width_of(&fields) + gauge_fixed).clamp(GAUGE_MIN_WIDTH, GAUGE_WIDTH);
    fields.sort_by_key(|(pos, _)| *pos);
    let sep = || Span::styled(SEP, th.style("ui.dim"));
    let mut spans = vec![run];
    for (_, fld) in fields {
        spans.push(sep());
        spans.push(fld);
    }
    spans.push(sep());
    spans.extend(gauge(ctx, fill, gauge_w));
    f.render_widget(Paragraph::new(Line::from(spans)).style(bar), Rect { height: 1, ..area });
    if area.height < 2 {
        return;
    }
    let hint_row = Rect { y: area.y + 1, height: 1, ..area };
    let line = match (info.error, info.notice) {
        (Some(msg), _) => Line::styled(format!(" {msg}"), th.style("ui.error")),
        (None, Some(msg)) => Line::styled(format!(" {msg}"), th.style("ui.flash")),
        (None, None) => {
            // Whole hints only, in the order given (most useful first): a hint cut after its
            // key would name the key but not what it does.
            let mut spans = vec![Span::raw(" ")];
            let mut left = avail.saturating_sub(1);
            for (k, d) in info.hints {
                let key = Span::styled(k.clone(), th.style("ui.statusbar.key"));
                let desc = Span::styled(format!(" {d}  "), bar);
                let w = key.width() + desc.width();
                // The trailing gap may fall off the edge.
                if w.saturating_sub(2) > left {
                    break;
                }
                left = left.saturating_sub(w);
                spans.push(key);
                spans.push(desc);
            }
            Line::from(spans)
        }
    };
    f.render_widget(Paragraph::new(line).style(bar), hint_row);
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
