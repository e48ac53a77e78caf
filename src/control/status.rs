//! What `endure ps` shows of a running session, folded from its log.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::registry::Entry;
use crate::session::SessionState;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub id: String,
    pub workspace: String,
    pub task: String,
    pub pid: u32,
    /// `running`, `paused` (by the supervisor), `waiting` (for the supervisor: see `why`), or
    /// `finishing` (the log has its end; the process is on its way out).
    pub state: String,
    pub why: Option<String>,
    pub step: u64,
    pub cost_usd: f64,
    /// The agent's context window over its budget, 0 to 1 (more when over).
    pub context_fill: Option<f64>,
    pub last_event_age_secs: Option<i64>,
    pub started_at: DateTime<Utc>,
}

pub fn row(entry: &Entry, now: DateTime<Utc>) -> Row {
    let read = crate::session::read_log(&entry.log_path()).unwrap_or_default();
    let s = SessionState::from_events(&read.events);
    let mut waiting = super::waiting::Waiting::default();
    for ev in &read.events {
        waiting.apply(ev);
    }
    let (state, why) = if s.outcome.is_some() {
        ("finishing", None)
    } else if let Some(w) = waiting.wait() {
        ("waiting", Some(w.why()))
    } else if s.paused {
        ("paused", None)
    } else {
        ("running", None)
    };
    let budget = s.info.as_ref().map(|i| i.context_budget).filter(|b| *b > 0);
    Row {
        id: entry.id.clone(),
        workspace: entry.workspace.clone(),
        task: entry.task.clone(),
        pid: entry.pid,
        state: state.into(),
        why,
        step: s.step,
        cost_usd: s.usage.cost_usd,
        context_fill: budget.map(|b| s.window_tokens as f64 / b as f64),
        last_event_age_secs: s.last_event_at.map(|t| (now - t).num_seconds().max(0)),
        started_at: entry.started_at,
    }
}

/// The table `endure ps` prints.
pub fn render(rows: &[Row]) -> String {
    let mut out = String::from("SESSION                   STATE     STEP   COST     CTX   LAST  WORKSPACE / TASK\n");
    for r in rows {
        let state = match &r.why {
            Some(why) => format!("{} ({why})", r.state),
            None => r.state.clone(),
        };
        out.push_str(&format!(
            "{:<25} {:<9} {:>4}  {:>7}  {:>4}  {:>4}  {}\n{:<25} {}{}\n",
            r.id,
            r.state,
            r.step,
            format!("${:.4}", r.cost_usd),
            r.context_fill.map(|f| format!("{:.0}%", f * 100.0)).unwrap_or_else(|| "-".into()),
            r.last_event_age_secs.map(age).unwrap_or_else(|| "-".into()),
            r.workspace,
            "",
            first_line(&r.task),
            if r.why.is_some() { format!("\n{:<25} {state}", "") } else { String::new() },
        ));
    }
    out
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > 80 { format!("{}…", line.chars().take(80).collect::<String>()) } else { line.to_string() }
}

fn age(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s => format!("{}h", s / 3600),
    }
}
