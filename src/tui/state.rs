//! The projection of the event stream that every panel draws from.
//!
//! `WorkbenchState::apply` is pure: the same events always give the same state, which is what
//! lets replay rebuild any step and tests drive the workbench without a terminal. Cell ids come
//! from the index of the event that created the cell, so a rebuilt projection reuses the wrap
//! cache of the previous one.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::session_diff::SessionDiff;
use crate::protocol::{
    BudgetKind, Checkpoint, Event, EventKind, Outcome, PauseReason, Role, SessionInfo, Task, TaskStatus, TestCounts,
};

/// What the runtime is doing, as far as the events tell.
#[derive(Debug, Clone, PartialEq)]
pub enum RunState {
    /// No `SessionStarted` yet (or started without a task).
    NotStarted,
    Running,
    WaitingForModel,
    Paused(PauseReason),
    Stalled,
    Finished { outcome: Outcome, reason: String },
}

impl RunState {
    /// True while the runtime may still act, which is when quitting needs a confirmation.
    pub fn is_active(&self) -> bool {
        matches!(self, RunState::Running | RunState::WaitingForModel | RunState::Paused(_) | RunState::Stalled)
    }

    pub fn label(&self) -> &'static str {
        match self {
            RunState::NotStarted => "not started",
            RunState::Running => "running",
            RunState::WaitingForModel => "waiting for model",
            RunState::Paused(_) => "paused",
            RunState::Stalled => "stalled",
            RunState::Finished { outcome: Outcome::Done, .. } => "done",
            RunState::Finished { outcome: Outcome::Failed, .. } => "failed",
            RunState::Finished { outcome: Outcome::Stopped, .. } => "stopped",
            RunState::Finished { outcome: Outcome::Budget, .. } => "out of budget",
            RunState::Finished { outcome: Outcome::Stalled, .. } => "stalled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolStatus {
    Running,
    Ok,
    Failed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCell {
    pub call_id: String,
    pub name: String,
    pub step: u64,
    pub args: Value,
    pub started: DateTime<Utc>,
    pub status: ToolStatus,
    pub duration_ms: Option<u64>,
    pub exit_code: Option<i32>,
    pub output: String,
    pub tests: Option<TestCounts>,
}

impl ToolCell {
    /// The one thing the call is about, so a collapsed line says what was touched.
    pub fn target(&self) -> String {
        const KEYS: [&str; 8] = ["path", "command", "cmd", "pattern", "query", "file", "url", "title"];
        if let Value::Object(map) = &self.args {
            for k in KEYS {
                if let Some(v) = map.get(k) {
                    return match v {
                        Value::String(s) => s.clone(),
                        Value::Array(items) => items.iter().map(|i| i.as_str().map(str::to_owned).unwrap_or_else(|| i.to_string())).collect::<Vec<_>>().join(" "),
                        other => other.to_string(),
                    };
                }
            }
            if let Some(s) = map.values().find_map(Value::as_str) {
                return s.to_string();
            }
            String::new()
        } else if let Value::String(raw) = &self.args {
            raw.clone()
        } else {
            self.args.to_string()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeLevel {
    Info,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CellKind {
    User(String),
    Assistant { step: u64, text: String },
    Tool(Box<ToolCell>),
    Correction { id: u64, text: String, delivered_at: Option<u64> },
    Notice { level: NoticeLevel, text: String },
}

/// One transcript entry. `revision` changes whenever its rendering would change.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub id: u64,
    pub revision: u64,
    pub kind: CellKind,
}

impl Cell {
    /// The text a search looks through.
    pub fn search_text(&self) -> String {
        match &self.kind {
            CellKind::User(t) | CellKind::Assistant { text: t, .. } => t.clone(),
            CellKind::Tool(t) => format!("{} {}\n{}", t.name, t.target(), t.output),
            CellKind::Correction { text, .. } => text.clone(),
            CellKind::Notice { text, .. } => text.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FileChange {
    pub seq: u64,
    pub step: u64,
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub diff: String,
    pub plus: usize,
    pub minus: usize,
}

/// The assistant text streaming in for the current model attempt.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Streaming {
    pub text: String,
    pub revision: u64,
    /// Changes with every attempt so a stale cached layout is never shown for a new one.
    pub attempt_id: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    pub estimated: bool,
}

/// One saved checkpoint as the Checkpoints panel lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointEntry {
    pub id: String,
    pub cycle: u32,
    pub n: u32,
    pub threshold_pct: u32,
    pub window_tokens: u64,
    pub upto_seq: u64,
    pub path: String,
    pub checkpoint: Checkpoint,
    /// A later rollback went to an earlier checkpoint, so the branch this one belongs to is
    /// no longer the session's history.
    pub abandoned: bool,
    /// The checkpoint this one continues from: the newest one still on the live branch when it
    /// was saved. After a rollback that is the rollback's target, not the abandoned one saved
    /// just before, so a diff against it shows what the new branch changed.
    pub prev: Option<usize>,
}

/// A MEMORY.md proposal waiting for the supervisor.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryProposal {
    pub id: u64,
    pub source: String,
    pub diff: String,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkbenchState {
    pub session: Option<Box<SessionInfo>>,
    pub started_at: Option<DateTime<Utc>>,
    pub last_ts: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub run: RunState,
    pub step: u64,
    pub totals: Totals,
    /// The latest agent prompt size: how full the context window is.
    pub context_tokens: u64,
    pub cells: Vec<Cell>,
    pub streaming: Streaming,
    pub tasks: Vec<Task>,
    pub changes: Vec<FileChange>,
    pub session_diff: SessionDiff,
    pub events_applied: u64,
    /// Tool calls without a result yet; their lines show a live spinner and duration.
    pub running_tools: usize,
    /// Every checkpoint saved, in the order saved (abandoned ones included).
    pub checkpoints: Vec<CheckpointEntry>,
    /// The context window's cycle: 1 at the start, one more with every rollover or rollback.
    pub cycle: u32,
    pub rollovers: u32,
    pub rollbacks: u32,
    /// The thresholds (% of the context budget) whose checkpoint was saved in this cycle.
    pub fired: Vec<u32>,
    /// Proposals not yet followed by the `MemoryUpdated` that accepting them produces.
    pub memory_proposals: Vec<MemoryProposal>,
    tool_cells: HashMap<String, usize>,
    correction_cells: HashMap<u64, usize>,
}

impl Default for WorkbenchState {
    fn default() -> Self {
        WorkbenchState {
            session: None,
            started_at: None,
            last_ts: None,
            finished_at: None,
            run: RunState::NotStarted,
            step: 0,
            totals: Totals::default(),
            context_tokens: 0,
            cells: Vec::new(),
            streaming: Streaming::default(),
            tasks: Vec::new(),
            changes: Vec::new(),
            session_diff: SessionDiff::default(),
            events_applied: 0,
            running_tools: 0,
            checkpoints: Vec::new(),
            cycle: 1,
            rollovers: 0,
            rollbacks: 0,
            fired: Vec::new(),
            memory_proposals: Vec::new(),
            tool_cells: HashMap::new(),
            correction_cells: HashMap::new(),
        }
    }
}

impl WorkbenchState {
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> WorkbenchState {
        let mut s = WorkbenchState::default();
        for e in events {
            s.apply(e);
        }
        s
    }

    pub fn in_progress_task(&self) -> Option<usize> {
        self.tasks.iter().position(|t| t.status == TaskStatus::InProgress)
    }

    /// Adds a notice that did not come from the runtime (a lagged receiver, a torn log line).
    pub fn push_local_notice(&mut self, level: NoticeLevel, text: String) {
        // Local notices have no event index, so they take ids above any event's.
        let id = u64::MAX / 2 + self.cells.len() as u64;
        self.cells.push(Cell { id, revision: 0, kind: CellKind::Notice { level, text } });
    }

    pub fn apply(&mut self, ev: &Event) {
        let id = self.events_applied;
        self.events_applied += 1;
        self.last_ts = Some(ev.ts);
        match &ev.kind {
            EventKind::SessionStarted { info } => {
                self.session = Some(info.clone());
                self.started_at = Some(ev.ts);
                self.run = RunState::Running;
            }
            EventKind::UserMessage { text } => self.push(id, CellKind::User(text.clone())),
            EventKind::AssistantDelta { role, text } => {
                if *role == Role::Agent {
                    self.streaming.text.push_str(text);
                    self.streaming.revision += 1;
                }
            }
            EventKind::ModelRequest { role, step, .. } => {
                if *role == Role::Agent {
                    // A new attempt replaces whatever a failed one streamed.
                    self.reset_streaming(id);
                    self.step = self.step.max(*step);
                    if self.run_is_live() {
                        self.run = RunState::WaitingForModel;
                    }
                }
            }
            EventKind::ModelRetry { role, attempt, delay_ms, reason } => self.push(
                id,
                CellKind::Notice {
                    level: NoticeLevel::Warning,
                    text: format!("retry {} attempt {attempt} in {}: {reason}", role.as_str(), fmt_ms(*delay_ms)),
                },
            ),
            EventKind::AssistantMessage { step, text, .. } => {
                self.reset_streaming(id);
                self.step = self.step.max(*step);
                if self.run == RunState::WaitingForModel {
                    self.run = RunState::Running;
                }
                if !text.trim().is_empty() {
                    self.push(id, CellKind::Assistant { step: *step, text: text.clone() });
                }
            }
            EventKind::ToolCall { step, call_id, name, args } => {
                let idx = self.cells.len();
                self.push(
                    id,
                    CellKind::Tool(Box::new(ToolCell {
                        call_id: call_id.clone(),
                        name: name.clone(),
                        step: *step,
                        args: args.clone(),
                        started: ev.ts,
                        status: ToolStatus::Running,
                        duration_ms: None,
                        exit_code: None,
                        output: String::new(),
                        tests: None,
                    })),
                );
                self.tool_cells.insert(call_id.clone(), idx);
                self.running_tools += 1;
            }
            EventKind::ToolResult { step, call_id, name, ok, exit_code, duration_ms, output, feedback } => {
                let idx = match self.tool_cells.get(call_id) {
                    Some(i) => *i,
                    None => {
                        // A result without its call (a log cut mid-step): still show it.
                        let idx = self.cells.len();
                        self.push(
                            id,
                            CellKind::Tool(Box::new(ToolCell {
                                call_id: call_id.clone(),
                                name: name.clone(),
                                step: *step,
                                args: Value::Null,
                                started: ev.ts,
                                status: ToolStatus::Running,
                                duration_ms: None,
                                exit_code: None,
                                output: String::new(),
                                tests: None,
                            })),
                        );
                        self.tool_cells.insert(call_id.clone(), idx);
                        self.running_tools += 1;
                        idx
                    }
                };
                if let Some(cell) = self.cells.get_mut(idx) {
                    if let CellKind::Tool(t) = &mut cell.kind {
                        if t.status == ToolStatus::Running {
                            self.running_tools = self.running_tools.saturating_sub(1);
                        }
                        t.status = if *ok { ToolStatus::Ok } else { ToolStatus::Failed };
                        t.duration_ms = Some(*duration_ms);
                        t.exit_code = *exit_code;
                        t.output = output.clone();
                        t.tests = feedback.tests;
                    }
                    cell.revision += 1;
                }
            }
            EventKind::FileChanged { step, path, before, after, diff } => {
                let (plus, minus) = count_diff(diff);
                self.session_diff.apply(path, before.as_deref(), after.as_deref(), diff);
                self.changes.push(FileChange {
                    seq: ev.seq,
                    step: *step,
                    path: path.clone(),
                    before: before.clone(),
                    after: after.clone(),
                    diff: diff.clone(),
                    plus,
                    minus,
                });
            }
            EventKind::TaskList { tasks } => self.tasks = tasks.clone(),
            EventKind::Usage { role, prompt_tokens, completion_tokens, cost_usd, estimated, .. } => {
                self.totals.tokens_in += prompt_tokens;
                self.totals.tokens_out += completion_tokens;
                self.totals.cost_usd += cost_usd;
                self.totals.estimated |= estimated;
                if *role == Role::Agent {
                    self.context_tokens = *prompt_tokens;
                }
            }
            EventKind::StepStarted { step } => {
                self.step = self.step.max(*step);
                if self.run == RunState::Stalled {
                    self.run = RunState::Running;
                }
            }
            EventKind::StepFinished { step } => self.step = self.step.max(*step),
            EventKind::Paused { reason } => {
                if self.run_is_live() {
                    self.run = RunState::Paused(reason.clone());
                }
            }
            EventKind::Resumed => {
                if self.run_is_live() {
                    self.run = RunState::Running;
                }
            }
            EventKind::CorrectionQueued { id: cid, text } => {
                let idx = self.cells.len();
                self.push(id, CellKind::Correction { id: *cid, text: text.clone(), delivered_at: None });
                self.correction_cells.insert(*cid, idx);
            }
            EventKind::CorrectionDelivered { id: cid, step } => {
                if let Some(cell) = self.correction_cells.get(cid).and_then(|i| self.cells.get_mut(*i)) {
                    if let CellKind::Correction { delivered_at, .. } = &mut cell.kind {
                        *delivered_at = Some(*step);
                    }
                    cell.revision += 1;
                }
            }
            EventKind::BudgetWarning { budget, used, limit } => self.push(
                id,
                CellKind::Notice { level: NoticeLevel::Warning, text: format!("budget {}: {}", budget.as_str(), fmt_budget(*budget, *used, *limit)) },
            ),
            EventKind::BudgetStop { budget, used, limit } => self.push(
                id,
                CellKind::Notice { level: NoticeLevel::Error, text: format!("budget {} exhausted: {}", budget.as_str(), fmt_budget(*budget, *used, *limit)) },
            ),
            EventKind::Stall { tool_calls } => {
                if self.run_is_live() {
                    self.run = RunState::Stalled;
                }
                self.push(
                    id,
                    CellKind::Notice { level: NoticeLevel::Warning, text: format!("stall: {tool_calls} tool calls without progress") },
                );
            }
            EventKind::Warning { message } => self.push(id, CellKind::Notice { level: NoticeLevel::Warning, text: message.clone() }),
            EventKind::WorkspaceSnapshot { .. } => {}
            EventKind::CheckpointSaved { id: cp, cycle, n, threshold_pct, window_tokens, upto_seq, path, checkpoint, .. } => {
                let prev = self.checkpoints.iter().rposition(|c| !c.abandoned);
                self.checkpoints.push(CheckpointEntry {
                    id: cp.clone(),
                    cycle: *cycle,
                    n: *n,
                    threshold_pct: *threshold_pct,
                    window_tokens: *window_tokens,
                    upto_seq: *upto_seq,
                    path: path.clone(),
                    checkpoint: checkpoint.clone(),
                    abandoned: false,
                    prev,
                });
                // A checkpoint always belongs to the running cycle; trusting it keeps the
                // gauge right when the log starts mid-session (a resumed or cut log).
                if *cycle > self.cycle {
                    self.cycle = *cycle;
                    self.fired.clear();
                }
                if *cycle == self.cycle && !self.fired.contains(threshold_pct) {
                    self.fired.push(*threshold_pct);
                }
                self.push(id, CellKind::Notice { level: NoticeLevel::Info, text: format!("checkpoint {cp} saved (at {threshold_pct}% of the context budget)") })
            }
            EventKind::Rollover { cycle, checkpoint, window_tokens, .. } => {
                self.cycle = *cycle;
                self.rollovers += 1;
                self.fired.clear();
                self.context_tokens = *window_tokens;
                self.push(
                    id,
                    CellKind::Notice {
                        level: NoticeLevel::Info,
                        text: format!(
                            "rollover: cycle {cycle} starts from checkpoint {} in a fresh window of {window_tokens} tokens",
                            checkpoint.as_deref().unwrap_or("(none)")
                        ),
                    },
                )
            }
            EventKind::RolledBack { to, cycle, window_tokens, tasks, restored, removed, .. } => {
                // Everything saved after the target is on the branch the rollback left.
                if let Some(i) = self.checkpoints.iter().rposition(|c| c.id == *to) {
                    for c in &mut self.checkpoints[i + 1..] {
                        c.abandoned = true;
                    }
                }
                self.cycle = *cycle;
                self.rollbacks += 1;
                self.fired.clear();
                self.context_tokens = *window_tokens;
                self.tasks = tasks.clone();
                // The runtime stays paused after a rollback (a `Paused` follows); showing it
                // paused at once also covers a rollback after the session had finished.
                self.run = RunState::Paused(PauseReason::Supervisor);
                self.finished_at = None;
                self.push(
                    id,
                    CellKind::Notice {
                        level: NoticeLevel::Warning,
                        text: format!(
                            "rolled back to checkpoint {to}: {restored} files restored, {removed} removed; cycle {cycle} continues from it. \
                             The agent is paused: correct it if needed, then resume."
                        ),
                    },
                )
            }
            EventKind::SessionResumed { interrupted_calls, .. } => {
                self.run = RunState::Running;
                self.finished_at = None;
                self.push(
                    id,
                    CellKind::Notice {
                        level: NoticeLevel::Info,
                        text: format!("session resumed ({} interrupted call(s) reported to the model)", interrupted_calls.len()),
                    },
                )
            }
            EventKind::CandidateDelta { .. } | EventKind::CandidateProposed { .. } => {}
            EventKind::CandidateFailed { index, reason, .. } => {
                self.push(id, CellKind::Notice { level: NoticeLevel::Warning, text: format!("candidate {index} failed: {reason}") })
            }
            EventKind::JudgeVerdict { pick, reason, .. } => {
                self.push(id, CellKind::Notice { level: NoticeLevel::Info, text: format!("judge picked candidate {pick}: {reason}") })
            }
            EventKind::CandidatePicked { pick, by, .. } => self.push(
                id,
                CellKind::Notice { level: NoticeLevel::Info, text: format!("candidate {pick} executes ({by:?})").to_lowercase() },
            ),
            EventKind::MaxModeChanged { candidates, review_picks } => self.push(
                id,
                CellKind::Notice {
                    level: NoticeLevel::Info,
                    text: match candidates {
                        Some(n) => format!("Max Mode on: {n} candidates per step{}", if *review_picks { ", picks reviewed" } else { "" }),
                        None => "Max Mode off".into(),
                    },
                },
            ),
            EventKind::VerifierVerdict { attempt, met, missing, .. } => self.push(
                id,
                CellKind::Notice {
                    level: if *met { NoticeLevel::Info } else { NoticeLevel::Warning },
                    text: if *met {
                        format!("verifier (attempt {attempt}): goal met")
                    } else {
                        format!("verifier (attempt {attempt}): not met — missing: {}", missing.join("; "))
                    },
                },
            ),
            EventKind::VerdictOverridden { accept, note } => self.push(
                id,
                CellKind::Notice {
                    level: NoticeLevel::Info,
                    text: if *accept {
                        "the supervisor accepted the work as done".into()
                    } else {
                        format!("the supervisor rejected the work: {}", note.as_deref().unwrap_or(""))
                    },
                },
            ),
            EventKind::MemoryProposed { id: pid, source, diff, content } => {
                self.memory_proposals.push(MemoryProposal { id: *pid, source: source.clone(), diff: diff.clone(), content: content.clone() });
                self.push(id, CellKind::Notice { level: NoticeLevel::Info, text: format!("a new MEMORY.md from {source} waits for your approval") })
            }
            EventKind::MemoryUpdated { source, summary, .. } => {
                // Accepting a proposal writes it under the proposer's name; the event carries
                // no id, so the oldest proposal from that source is the one it settles.
                if let Some(i) = self.memory_proposals.iter().position(|p| p.source == *source) {
                    self.memory_proposals.remove(i);
                }
                self.push(id, CellKind::Notice { level: NoticeLevel::Info, text: format!("MEMORY.md updated by {source}: {summary}") })
            }
            EventKind::SessionFinished { outcome, reason } => {
                self.reset_streaming(id);
                self.finished_at = Some(ev.ts);
                self.run = RunState::Finished { outcome: *outcome, reason: reason.clone() };
                let level = if *outcome == Outcome::Done { NoticeLevel::Info } else { NoticeLevel::Error };
                self.push(id, CellKind::Notice { level, text: format!("session finished: {} — {reason}", outcome.as_str()) });
            }
        }
    }

    fn run_is_live(&self) -> bool {
        !matches!(self.run, RunState::Finished { .. })
    }

    fn reset_streaming(&mut self, id: u64) {
        self.streaming.text.clear();
        self.streaming.revision += 1;
        self.streaming.attempt_id = id;
    }

    fn push(&mut self, id: u64, kind: CellKind) {
        self.cells.push(Cell { id, revision: 0, kind });
    }

    /// Elapsed session time at `now`; a finished session stops its clock.
    pub fn elapsed(&self, now: DateTime<Utc>) -> chrono::Duration {
        let Some(start) = self.started_at else { return chrono::Duration::zero() };
        let end = self.finished_at.unwrap_or(now);
        (end - start).max(chrono::Duration::zero())
    }
}

/// +/- line counts of a unified diff, skipping the file headers.
pub fn count_diff(diff: &str) -> (usize, usize) {
    let (mut plus, mut minus) = (0, 0);
    // Headers come before the first hunk; inside hunks a removed `-- x` line is still a line.
    let mut in_hunks = false;
    for l in diff.lines() {
        if l.starts_with("@@") {
            in_hunks = true;
            continue;
        }
        if !in_hunks {
            continue;
        }
        if l.starts_with('+') {
            plus += 1;
        } else if l.starts_with('-') {
            minus += 1;
        }
    }
    (plus, minus)
}

pub fn fmt_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    }
}

fn fmt_budget(kind: BudgetKind, used: f64, limit: f64) -> String {
    let pct = if limit > 0.0 { used / limit * 100.0 } else { 0.0 };
    match kind {
        BudgetKind::Cost => format!("${used:.2} of ${limit:.2} ({pct:.0}%)"),
        BudgetKind::Time => format!("{}s of {}s ({pct:.0}%)", used.round(), limit.round()),
        _ => format!("{} of {} ({pct:.0}%)", used.round(), limit.round()),
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
