//! Finding a workspace's sessions.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::log::{LogError, read_log};
use super::state::SessionState;

pub fn sessions_dir(workspace: &Path) -> PathBuf {
    workspace.join(".endure").join("sessions")
}

pub fn log_path(workspace: &Path, session_id: &str) -> PathBuf {
    sessions_dir(workspace).join(session_id).join("events.jsonl")
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SessionSummary {
    pub id: String,
    pub start: Option<String>,
    pub task: String,
    pub steps: u64,
    /// `done`, `budget`, `stalled`, `stopped`, `failed`, or `unfinished` (still running, or
    /// its process was killed).
    pub outcome: String,
    pub reason: Option<String>,
    pub tool_calls: u64,
    pub tokens: u64,
    /// Prompt tokens read from and written to the provider's prompt cache.
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// `cache_read_tokens` over all prompt tokens (0 to 1); null before any request.
    pub cache_hit_rate: Option<f64>,
    pub cost_usd: f64,
    /// Of `cost_usd`, what went to losing Max Mode candidates and the judge.
    pub overhead_cost_usd: f64,
    /// The longest run of steps without a supervisor intervention.
    pub endurance: u64,
    /// Supervisor interventions: pauses, corrections, rollbacks, overrides, picks.
    pub interventions: usize,
}

impl SessionSummary {
    pub fn from_state(id: &str, s: &SessionState) -> SessionSummary {
        SessionSummary {
            id: id.to_string(),
            start: s.started_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            task: s.task().to_string(),
            steps: s.step,
            outcome: s.outcome.as_ref().map(|(o, _)| o.as_str()).unwrap_or("unfinished").to_string(),
            reason: s.outcome.as_ref().map(|(_, r)| r.clone()),
            tool_calls: s.tool_calls,
            tokens: s.usage.tokens(),
            cache_read_tokens: s.usage.cache_read_tokens,
            cache_write_tokens: s.usage.cache_write_tokens,
            cache_hit_rate: s.usage.cache_hit_rate(),
            cost_usd: s.usage.cost_usd,
            overhead_cost_usd: s.overhead.cost_usd,
            endurance: s.endurance(),
            interventions: s.interventions.len(),
        }
    }
}

/// The ids of the workspace's sessions, oldest first (ids sort by time).
pub fn session_ids(workspace: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(sessions_dir(workspace)) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = rd
        .filter_map(Result::ok)
        .filter(|e| e.path().join("events.jsonl").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    ids
}

pub fn list_sessions(workspace: &Path) -> Result<Vec<SessionSummary>, LogError> {
    session_ids(workspace)
        .iter()
        .map(|id| {
            let read = read_log(&log_path(workspace, id))?;
            Ok(SessionSummary::from_state(id, &SessionState::from_events(&read.events)))
        })
        .collect()
}

/// Resolves a session argument: an exact id, a unique prefix, or (None) the most recent.
pub fn find_session(workspace: &Path, wanted: Option<&str>) -> Result<String, String> {
    let ids = session_ids(workspace);
    match wanted {
        None => ids.last().cloned().ok_or_else(|| format!("no sessions in {}", sessions_dir(workspace).display())),
        Some(w) => {
            if ids.iter().any(|i| i == w) {
                return Ok(w.to_string());
            }
            let hits: Vec<&String> = ids.iter().filter(|i| i.starts_with(w)).collect();
            match hits.as_slice() {
                [one] => Ok((*one).clone()),
                [] => Err(format!("no session `{w}` in {}", sessions_dir(workspace).display())),
                many => Err(format!("`{w}` matches {} sessions; give more of the id", many.len())),
            }
        }
    }
}
