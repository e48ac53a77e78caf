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
use crate::session::SessionState;

#[path = "state_cycles.rs"]
mod cycles;
#[path = "state_workflow.rs"]
mod workflow;
use crate::protocol::{
    BudgetKind, Checkpoint, CheckpointFlag, Event, EventKind, Outcome, PauseReason, PickedBy, Role, SessionInfo, Task, TaskStatus,
    TestCounts, ToolCallRequest, opaque_block_summary,
};
pub use cycles::{RebuildProposal, RebuiltCell, thousands};
pub use workflow::{AgentStatus, AgentView, RunView, WorkflowView};

/// What the runtime is doing, as far as the events tell.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum RunState {
    /// No `SessionStarted` yet (or started without a task).
    #[default]
    NotStarted,
    Running,
    WaitingForModel,
    Paused(PauseReason),
    Stalled,
    Finished {
        outcome: Outcome,
        reason: String,
    },
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
    /// The arguments as compact JSON, parsed when shown (`args_value`): a parsed value costs
    /// hundreds of bytes, and a cell is kept for every call of the session.
    pub args: String,
    pub started: DateTime<Utc>,
    pub status: ToolStatus,
    pub duration_ms: Option<u64>,
    pub exit_code: Option<i32>,
    /// Shared with the event and the runtime's conversation (see `Message::Tool`).
    pub output: std::sync::Arc<str>,
    pub tests: Option<TestCounts>,
}

impl ToolCell {
    /// The one thing the call is about, so a collapsed line says what was touched.
    pub fn target(&self) -> String {
        call_target(&self.name, &self.args_value())
    }

    /// The arguments, parsed (null when they are not JSON, which a cell never holds).
    pub fn args_value(&self) -> Value {
        serde_json::from_str(&self.args).unwrap_or(Value::Null)
    }
}

/// What a call is about, whole and on one line: the words the transcript's collapsed line and
/// the Candidates view both show (and search reads), cut only by the room each has.
pub fn call_target(name: &str, args: &serde_json::Value) -> String {
    crate::protocol::tool_target_full(name, args).replace('\n', " ")
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
    Assistant {
        step: u64,
        text: String,
    },
    Tool(Box<ToolCell>),
    /// A supervisor correction: queued, then delivered at a step, or withdrawn before that.
    Correction {
        id: u64,
        text: String,
        delivered_at: Option<u64>,
        withdrawn: bool,
    },
    Notice {
        level: NoticeLevel,
        text: String,
    },
    /// The model refused; `text` is its refusal, possibly empty.
    Refusal {
        step: u64,
        text: String,
    },
    /// A rollover: what left the window and what it was summarized into.
    Rebuilt(Box<RebuiltCell>),
    /// The reasoning that came with the answer of `step`, shown collapsed until expanded;
    /// `redacted` blocks the provider encrypted.
    Reasoning {
        step: u64,
        text: String,
        redacted: u32,
    },
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
            CellKind::Refusal { text, .. } => format!("refusal {text}"),
            CellKind::Rebuilt(r) => r.summary(),
            CellKind::Reasoning { text, .. } => text.clone(),
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
    /// The part of `cost_usd` spent on reliability (losing Max Mode candidates, the judge).
    pub overhead_usd: f64,
    /// Of `tokens_in`, read from and written to the provider's prompt cache.
    pub cache_read: u64,
    pub cache_write: u64,
}

impl Totals {
    /// Total cost over the cost the agent's own work would have had: how many times more Max
    /// Mode costs. None while nothing but overhead has a price.
    pub fn overhead_ratio(&self) -> Option<f64> {
        let own = self.cost_usd - self.overhead_usd;
        (own > 1e-9).then(|| self.cost_usd / own)
    }

    /// The share of prompt tokens read from the cache, once the provider reported any cache
    /// figure (a provider that reports none shows nothing rather than 0%).
    pub fn cache_hit_rate(&self) -> Option<f64> {
        if self.cache_read + self.cache_write == 0 {
            return None;
        }
        crate::session::cache_hit_rate(self.cache_read, self.tokens_in)
    }
}

/// Where a Max Mode candidate stands.
#[derive(Debug, Clone, PartialEq)]
pub enum CandidateStatus {
    /// Text is still arriving (`CandidateDelta`).
    Streaming,
    Proposed,
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// 1-based, as in the events and in `PickCandidate`.
    pub index: u32,
    pub text: String,
    pub tool_calls: Vec<ToolCallRequest>,
    pub status: CandidateStatus,
}

/// One Max Mode step: its candidates, the judge's answer and the pick that executed.
#[derive(Debug, Clone, PartialEq)]
pub struct MaxStep {
    pub step: u64,
    /// Sorted by index.
    pub candidates: Vec<Candidate>,
    pub judge: Option<(u32, String)>,
    pub picked: Option<(u32, PickedBy)>,
}

impl MaxStep {
    fn candidate_mut(&mut self, index: u32) -> &mut Candidate {
        let pos = match self.candidates.binary_search_by_key(&index, |c| c.index) {
            Ok(i) => i,
            Err(i) => {
                self.candidates
                    .insert(i, Candidate { index, text: String::new(), tool_calls: Vec::new(), status: CandidateStatus::Streaming });
                i
            }
        };
        &mut self.candidates[pos]
    }

    pub fn candidate(&self, index: u32) -> Option<&Candidate> {
        self.candidates.iter().find(|c| c.index == index)
    }
}

/// A goal-verifier verdict, with the supervisor's override when there was one.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub attempt: u32,
    pub met: bool,
    pub missing: Vec<String>,
    pub evidence: Vec<String>,
    /// `(accept, note)` from the `VerdictOverridden` that followed it.
    pub overridden: Option<(bool, Option<String>)>,
}

/// What the Endurance panel plots for one step; values carry forward from the step before.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepSample {
    pub step: u64,
    /// Agent (non-overhead) prompt tokens: the context window's fill at the end of the step.
    pub context_tokens: u64,
    pub tests_passed: Option<u32>,
    pub quality: Option<f64>,
    /// The stall detector's counter (tool calls since the last one that changed a file or a
    /// test outcome): its peak over the step's tool results, or the count carried in.
    pub stall: u32,
    /// Tool results seen in the step.
    pub tool_results: u32,
    pub checkpoint: bool,
    pub rollover: bool,
    /// The supervisor intervened during (or just before) this step.
    pub intervention: bool,
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
    /// What the runtime's checks found (`checkpoint_flagged`).
    pub flags: Vec<CheckpointFlag>,
}

/// A MEMORY.md proposal waiting for the supervisor.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryProposal {
    pub id: u64,
    pub source: String,
    pub diff: String,
    pub content: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkbenchState {
    /// The runtime's own fold of the same events: every counter (steps, usage, the window,
    /// stalls, interventions, cycles, thresholds, Max Mode, tasks) is read from here, so the
    /// workbench and the runtime never disagree. What follows is view state only.
    pub core: SessionState,
    pub last_ts: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub run: RunState,
    pub cells: Vec<Cell>,
    pub streaming: Streaming,
    pub changes: Vec<FileChange>,
    pub session_diff: SessionDiff,
    pub events_applied: u64,
    /// Every checkpoint saved, in the order saved (abandoned ones included).
    pub checkpoints: Vec<CheckpointEntry>,
    /// Every MEMORY.md proposal with its content; `core.memory_pending` says which still wait.
    pub memory_proposals: Vec<MemoryProposal>,
    /// A pause this workbench asked for that has not landed yet ("pausing…").
    pub pause_pending: bool,
    /// Every Max Mode step seen, oldest first.
    pub max_steps: Vec<MaxStep>,
    /// Goal-verifier verdicts, oldest first.
    pub verdicts: Vec<Verdict>,
    /// One sample per step seen, for the Endurance panel.
    pub samples: Vec<StepSample>,
    /// The sandbox policy, running background processes, a pending escalation.
    pub sandbox: super::sandbox::SandboxState,
    /// A rebuilt window waiting for the supervisor's review.
    pub rebuild: Option<RebuildProposal>,
    /// The events the attempt tree is built from, slimmed (`session::attempts::KeptLog`).
    pub attempt_log: crate::session::attempts::KeptLog,
    /// This session's forks, as the runtime last listed them (`forks_found`).
    pub fork_logs: Vec<crate::protocol::ForkLog>,
    /// Workflow runs, their phases and agents, and each agent's own projection.
    pub workflow: WorkflowView,
    /// The subagent the usual panels are scoped to (drilled into from the Workflow panel).
    pub scope: Option<u64>,
    /// Event seq → the cell that shows the message it added.
    seq_cells: HashMap<u64, usize>,
    /// An answer with tool calls only, waiting for its first call's cell.
    answer_without_cell: Option<u64>,
    last_quality: Option<f64>,
    tool_cells: HashMap<String, usize>,
    correction_cells: HashMap<u64, usize>,
    /// A fleet row's fold (`rows_only`): the run state, the counters and the per-step samples,
    /// but no transcript, file changes, attempt log or subagent projections. A fleet follows
    /// every running session at once, and holding each one's transcript would make it cost
    /// memory in proportion to every session's length.
    rows_only: bool,
}

impl WorkbenchState {
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> WorkbenchState {
        let mut s = WorkbenchState::default();
        for e in events {
            s.apply(e);
        }
        s
    }

    /// The fold a fleet row needs: see `rows_only`.
    pub fn rows_only() -> WorkbenchState {
        WorkbenchState { rows_only: true, ..WorkbenchState::default() }
    }

    pub fn in_progress_task(&self) -> Option<usize> {
        self.core.tasks.iter().position(|t| t.status == TaskStatus::InProgress)
    }

    /// Adds a notice that did not come from the runtime (a lagged receiver, a torn log line).
    pub fn push_local_notice(&mut self, level: NoticeLevel, text: String) {
        // Local notices have no event index, so they take ids above any event's.
        let id = u64::MAX / 2 + self.cells.len() as u64;
        self.cells.push(Cell { id, revision: 0, kind: CellKind::Notice { level, text } });
    }

    pub fn apply(&mut self, ev: &Event) {
        // The workbench draws the events; the conversation the runtime holds is not kept twice.
        self.core.counters_only = true;
        self.core.apply(ev);
        if !self.rows_only {
            self.attempt_log.push(ev);
        }
        if matches!(ev.kind, EventKind::Paused { .. } | EventKind::Resumed | EventKind::SessionFinished { .. }) {
            self.pause_pending = false;
        }
        let cells_before = self.cells.len();
        self.apply_kind(ev);
        self.map_message_seq(ev, cells_before);
        self.update_sample();
    }

    fn apply_kind(&mut self, ev: &Event) {
        let id = self.events_applied;
        self.events_applied += 1;
        self.last_ts = Some(ev.ts);
        if let Some((level, text)) = self.sandbox.apply(&ev.kind) {
            self.push(id, CellKind::Notice { level, text });
        }
        if self.apply_cycles(id, ev) {
            return;
        }
        match &ev.kind {
            EventKind::SessionStarted { .. } => self.run = RunState::Running,
            EventKind::UserMessage { text } => self.push(id, CellKind::User(text.clone())),
            EventKind::AssistantDelta { role, text } => {
                if *role == Role::Agent {
                    self.streaming.text.push_str(text);
                    self.streaming.revision += 1;
                }
            }
            EventKind::ModelRequest { role, .. } => {
                if *role == Role::Agent {
                    // A new attempt replaces whatever a failed one streamed.
                    self.reset_streaming(id);
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
            EventKind::AssistantMessage { step, text, blocks, .. } => {
                self.reset_streaming(id);
                if self.run == RunState::WaitingForModel {
                    self.run = RunState::Running;
                }
                for b in crate::protocol::server_tool_blocks(blocks) {
                    self.push(
                        id,
                        CellKind::Notice { level: NoticeLevel::Info, text: format!("server tool · {}", opaque_block_summary(b)) },
                    );
                }
                if !text.trim().is_empty() {
                    self.push(id, CellKind::Assistant { step: *step, text: text.clone() });
                }
            }
            EventKind::Reasoning { step, text, redacted } => {
                self.push(id, CellKind::Reasoning { step: *step, text: text.clone(), redacted: *redacted })
            }
            EventKind::Refusal { step, text } => {
                self.reset_streaming(id);
                if self.run == RunState::WaitingForModel {
                    self.run = RunState::Running;
                }
                self.push(id, CellKind::Refusal { step: *step, text: text.clone() });
            }
            EventKind::AnswerTruncated { max_tokens, dropped_calls, in_a_row, .. } => {
                let calls = if dropped_calls.is_empty() { String::new() } else { format!("; not run: {}", dropped_calls.join(", ")) };
                let times = if *in_a_row > 1 { format!(" ({in_a_row} in a row)") } else { String::new() };
                self.push(
                    id,
                    CellKind::Notice {
                        level: NoticeLevel::Warning,
                        text: format!(
                            "answer cut at the output limit of {max_tokens} tokens{times}{calls}; the model was asked for a smaller step"
                        ),
                    },
                )
            }
            EventKind::MaxTokensRaised { from, to } => self.push(
                id,
                CellKind::Notice {
                    level: NoticeLevel::Info,
                    text: format!("output limit raised from {from} to {to} tokens after repeated cut answers"),
                },
            ),
            EventKind::ToolCall { step, call_id, name, args } => {
                self.open_tool_cell(id, call_id, name, *step, args, ev.ts);
            }
            EventKind::ToolResult { step, call_id, name, ok, exit_code, duration_ms, output, feedback } => {
                let idx = match self.tool_cells.get(call_id) {
                    Some(i) => *i,
                    // A result without its call (a log cut mid-step): still show it.
                    None => self.open_tool_cell(id, call_id, name, *step, &Value::Null, ev.ts),
                };
                if let Some(cell) = self.cells.get_mut(idx) {
                    if let CellKind::Tool(t) = &mut cell.kind {
                        t.status = if *ok { ToolStatus::Ok } else { ToolStatus::Failed };
                        t.duration_ms = Some(*duration_ms);
                        t.exit_code = *exit_code;
                        t.output = output.clone();
                        t.tests = feedback.tests;
                    }
                    cell.revision += 1;
                }
                if feedback.quality.is_some() {
                    self.last_quality = feedback.quality;
                }
                let c = self.core.calls_since_progress;
                if let Some(s) = self.sample_mut() {
                    s.stall = if s.tool_results == 0 { c } else { s.stall.max(c) };
                    s.tool_results += 1;
                }
            }
            EventKind::FileChanged { .. } if self.rows_only => {}
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
            EventKind::TaskList { .. } | EventKind::Usage { .. } | EventKind::StepFinished { .. } => {}
            EventKind::StepStarted { .. } => {
                if self.run == RunState::Stalled {
                    self.run = RunState::Running;
                }
            }
            EventKind::Paused { reason } => {
                // A budget can stop a model call mid-stream; its partial text is not an answer.
                self.reset_streaming(id);
                if self.run_is_live() {
                    self.run = RunState::Paused(reason.clone());
                }
                if *reason == PauseReason::Supervisor {
                    self.intervened();
                }
            }
            EventKind::Resumed => {
                if self.run_is_live() {
                    self.run = RunState::Running;
                }
            }
            EventKind::CorrectionQueued { id: cid, text } => {
                let idx = self.cells.len();
                self.push(id, CellKind::Correction { id: *cid, text: text.clone(), delivered_at: None, withdrawn: false });
                self.correction_cells.insert(*cid, idx);
            }
            EventKind::CorrectionDelivered { id: cid, step } => {
                if let Some(cell) = self.correction_cells.get(cid).and_then(|i| self.cells.get_mut(*i)) {
                    if let CellKind::Correction { delivered_at, .. } = &mut cell.kind {
                        *delivered_at = Some(*step);
                    }
                    cell.revision += 1;
                }
                self.intervened();
            }
            EventKind::BudgetWarning { budget, used, limit } => self.push(
                id,
                CellKind::Notice {
                    level: NoticeLevel::Warning,
                    text: format!("budget {}: {}", budget.as_str(), fmt_budget(*budget, *used, *limit)),
                },
            ),
            EventKind::BudgetStop { budget, used, limit } => self.push(
                id,
                CellKind::Notice {
                    level: NoticeLevel::Error,
                    text: format!("budget {} exhausted: {}", budget.as_str(), fmt_budget(*budget, *used, *limit)),
                },
            ),
            EventKind::Stall { tool_calls } => {
                // The detector starts counting again once it has fired; the step keeps the peak.
                if let Some(s) = self.sample_mut() {
                    s.stall = s.stall.max(*tool_calls);
                }
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
            EventKind::CheckpointSaved {
                id: cp,
                cycle,
                n,
                threshold_pct,
                window_tokens,
                upto_seq,
                path,
                checkpoint,
                snapshot_error,
                ..
            } => {
                if let Some(why) = snapshot_error {
                    self.push(
                        id,
                        CellKind::Notice {
                            level: NoticeLevel::Warning,
                            text: format!("checkpoint {cp} has no workspace snapshot, so it cannot be rolled back to: {why}"),
                        },
                    );
                }
                let prev = self.checkpoints.iter().rposition(|c| !c.abandoned);
                self.checkpoints.push(CheckpointEntry {
                    id: cp.clone(),
                    cycle: *cycle,
                    n: *n,
                    threshold_pct: *threshold_pct,
                    window_tokens: *window_tokens,
                    upto_seq: *upto_seq,
                    path: path.clone(),
                    checkpoint: (**checkpoint).clone(),
                    abandoned: false,
                    prev,
                    flags: Vec::new(),
                });
                if let Some(s) = self.sample_mut() {
                    s.checkpoint = true;
                }
                self.push(
                    id,
                    CellKind::Notice {
                        level: NoticeLevel::Info,
                        text: format!("checkpoint {cp} saved (at {threshold_pct}% of the context budget)"),
                    },
                )
            }
            // Folded by `apply_cycles`.
            EventKind::Rollover { .. }
            | EventKind::RebuildProposed { .. }
            | EventKind::RebuildVetoed { .. }
            | EventKind::RebuildReviewChanged { .. }
            | EventKind::RebuildFailed { .. }
            | EventKind::CheckpointFlagged { .. } => {}
            EventKind::RolledBack { to, cycle, restored, removed, .. } => {
                // Everything saved after the target is on the branch the rollback left.
                if let Some(i) = self.checkpoints.iter().rposition(|c| c.id == *to) {
                    for c in &mut self.checkpoints[i + 1..] {
                        c.abandoned = true;
                    }
                }
                self.intervened();
                // A live runtime stays paused after a rollback (a `Paused` follows). After the
                // session has ended there is no runtime left to resume, so the run stays
                // finished and the notice says how to go on from the checkpoint.
                let then = if matches!(self.run, RunState::Finished { .. }) {
                    let id = self.core.info.as_ref().map_or("SESSION", |i| i.session_id.as_str());
                    format!("The session has ended: `endure resume {id}` continues from this checkpoint.")
                } else {
                    self.run = RunState::Paused(PauseReason::Supervisor);
                    self.finished_at = None;
                    "The agent is paused: correct it if needed, then resume.".to_string()
                };
                self.push(
                    id,
                    CellKind::Notice {
                        level: NoticeLevel::Warning,
                        text: format!(
                            "rolled back to checkpoint {to}: {restored} files restored, {removed} removed; cycle {cycle} continues from it. {then}"
                        ),
                    },
                )
            }
            EventKind::Forked { parent, at, restored, removed, .. } => self.push(
                id,
                CellKind::Notice {
                    level: NoticeLevel::Info,
                    text: format!(
                        "forked from session {parent} at checkpoint {at}: the worktree was restored to its snapshot ({restored} files written, {removed} removed) and the conversation continues from the checkpoint's rebuilt window"
                    ),
                },
            ),
            EventKind::SessionResumed { interrupted_calls, .. } => {
                // A review that was waiting when the process stopped is asked again, anew.
                self.rebuild = None;
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
            EventKind::CandidateDelta { step, index, text } => self.max_step_mut(*step).candidate_mut(*index).text.push_str(text),
            EventKind::CandidateProposed { step, index, text, tool_calls } => {
                let c = self.max_step_mut(*step).candidate_mut(*index);
                // The complete text replaces what streamed, which a lagging receiver may lack.
                c.text = text.clone();
                c.tool_calls = tool_calls.clone();
                c.status = CandidateStatus::Proposed;
            }
            EventKind::CandidateFailed { step, index, reason } => {
                self.max_step_mut(*step).candidate_mut(*index).status = CandidateStatus::Failed(reason.clone());
                self.push(id, CellKind::Notice { level: NoticeLevel::Warning, text: format!("candidate {index} failed: {reason}") })
            }
            EventKind::JudgeVerdict { step, pick, reason } => {
                self.max_step_mut(*step).judge = Some((*pick, reason.clone()));
                self.push(id, CellKind::Notice { level: NoticeLevel::Info, text: format!("judge picked candidate {pick}: {reason}") })
            }
            EventKind::CandidatePicked { step, pick, by } => {
                self.max_step_mut(*step).picked = Some((*pick, *by));
                if *by == PickedBy::Supervisor {
                    self.intervened();
                }
                self.push(
                    id,
                    CellKind::Notice { level: NoticeLevel::Info, text: format!("candidate {pick} executes ({by:?})").to_lowercase() },
                )
            }
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
            EventKind::VerifierVerdict { attempt, met, missing, evidence } => {
                self.verdicts.push(Verdict {
                    attempt: *attempt,
                    met: *met,
                    missing: missing.clone(),
                    evidence: evidence.clone(),
                    overridden: None,
                });
                self.push(
                    id,
                    CellKind::Notice {
                        level: if *met { NoticeLevel::Info } else { NoticeLevel::Warning },
                        text: if *met {
                            format!("verifier (attempt {attempt}): goal met")
                        } else {
                            format!("verifier (attempt {attempt}): not met — missing: {}", missing.join("; "))
                        },
                    },
                )
            }
            EventKind::VerdictOverridden { accept, note } => {
                // It overrides the latest verdict: the one the runtime paused on.
                if let Some(v) = self.verdicts.last_mut() {
                    v.overridden = Some((*accept, note.clone()));
                }
                self.intervened();
                self.push(
                    id,
                    CellKind::Notice {
                        level: NoticeLevel::Info,
                        text: if *accept {
                            "the supervisor accepted the work as done".into()
                        } else {
                            format!("the supervisor rejected the work: {}", note.as_deref().unwrap_or(""))
                        },
                    },
                )
            }
            EventKind::MemoryProposed { id: pid, source, diff, content } => {
                self.memory_proposals.push(MemoryProposal {
                    id: *pid,
                    source: source.clone(),
                    diff: diff.clone(),
                    content: content.clone(),
                });
                self.push(
                    id,
                    CellKind::Notice { level: NoticeLevel::Info, text: format!("a new MEMORY.md from {source} waits for your approval") },
                )
            }
            EventKind::MemoryResolved { id: pid, accept } => {
                let verb = if *accept { "accepted" } else { "rejected; MEMORY.md is unchanged" };
                self.intervened();
                self.push(id, CellKind::Notice { level: NoticeLevel::Info, text: format!("MEMORY.md proposal {pid} {verb}") })
            }
            EventKind::CorrectionWithdrawn { id: cid } => {
                if let Some(cell) = self.correction_cells.get(cid).and_then(|i| self.cells.get_mut(*i)) {
                    if let CellKind::Correction { withdrawn, .. } = &mut cell.kind {
                        *withdrawn = true;
                    }
                    cell.revision += 1;
                }
            }
            EventKind::MemoryUpdated { source, summary, .. } => {
                self.push(id, CellKind::Notice { level: NoticeLevel::Info, text: format!("MEMORY.md updated by {source}: {summary}") })
            }
            EventKind::EscalationResolved { by, .. } => {
                if by == "supervisor" {
                    self.intervened();
                }
            }
            // Folded by `self.sandbox` above.
            EventKind::ProcessStarted { .. }
            | EventKind::ProcessExited { .. }
            | EventKind::EscalationRequested { .. }
            | EventKind::McpServerStarted { .. }
            | EventKind::McpServerFailed { .. }
            | EventKind::McpServerExited { .. } => {}
            // The Workflow panel folds the run; the transcript also notes each milestone, as
            // headless prints it. Listed (not `EventKind::is_workflow`) so that a new event
            // kind must be placed here by the compiler's exhaustiveness check.
            EventKind::WorkflowStarted { .. }
            | EventKind::WorkflowPhase { .. }
            | EventKind::WorkflowLog { .. }
            | EventKind::WorkflowBudget { .. }
            | EventKind::WorkflowPaused { .. }
            | EventKind::WorkflowResumed { .. }
            | EventKind::WorkflowMerged { .. }
            | EventKind::WorkflowFinished { .. }
            | EventKind::AgentQueued { .. }
            | EventKind::AgentStarted { .. }
            | EventKind::AgentStep { .. }
            | EventKind::AgentPaused { .. }
            | EventKind::AgentResumed { .. }
            | EventKind::AgentFinished { .. }
            | EventKind::AgentFailed { .. }
            | EventKind::SubagentEvent { .. } => {
                if !self.rows_only {
                    self.workflow.apply(ev);
                }
                self.apply_workflow_run_state(&ev.kind);
                if let Some((failed, text)) = crate::workflow::describe::milestone(&ev.kind) {
                    let level = if failed { NoticeLevel::Warning } else { NoticeLevel::Info };
                    self.push(id, CellKind::Notice { level, text });
                }
            }
            EventKind::ForksFound { forks } => self.fork_logs = forks.clone(),
            EventKind::CommandReceived { source, command } => {
                self.push(id, CellKind::Notice { level: NoticeLevel::Info, text: format!("command {} from {source}", command.name()) });
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

    /// The longest run of steps without a supervisor intervention (the runtime's count).
    pub fn endurance(&self) -> u64 {
        self.core.endurance()
    }

    /// What the run is doing, as the status bar says it.
    pub fn run_label(&self) -> &'static str {
        if self.pause_pending && self.run.is_active() && !matches!(self.run, RunState::Paused(_)) { "pausing…" } else { self.run.label() }
    }

    pub fn step(&self) -> u64 {
        self.core.step
    }

    pub fn session(&self) -> Option<&SessionInfo> {
        self.core.info.as_ref()
    }

    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        self.core.started_at
    }

    pub fn tasks(&self) -> &[Task] {
        &self.core.tasks
    }

    /// How full the agent's context window is, in tokens.
    pub fn context_tokens(&self) -> u64 {
        self.core.window_tokens
    }

    /// Tool calls without a result yet; their lines show a live spinner and duration.
    pub fn running_tools(&self) -> usize {
        self.core.calls_in_flight.len()
    }

    /// Spending so far, as the runtime counts it.
    pub fn totals(&self) -> Totals {
        let u = &self.core.usage;
        Totals {
            tokens_in: u.prompt_tokens,
            tokens_out: u.completion_tokens,
            cost_usd: u.cost_usd,
            estimated: u.estimated,
            overhead_usd: self.core.overhead.cost_usd,
            cache_read: u.cache_read_tokens,
            cache_write: u.cache_write_tokens,
        }
    }

    /// Checkpoint thresholds (% of the context budget) as the session is configured.
    pub fn thresholds(&self) -> Vec<u32> {
        self.session()
            .and_then(|i| i.config.get("checkpoints"))
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|n| n.as_u64().and_then(|n| u32::try_from(n).ok())).collect::<Vec<_>>())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| crate::agent::DEFAULT_CHECKPOINTS.to_vec())
    }

    /// The stall detector's threshold, when the session recorded one.
    pub fn stall_after(&self) -> Option<u32> {
        let v = self.session()?.config.get("stall-after")?;
        v.as_u64().and_then(|n| u32::try_from(n).ok())
    }

    /// The Max Mode step the run is in or last went through.
    pub fn latest_max_step(&self) -> Option<&MaxStep> {
        self.max_steps.last()
    }

    /// True while the run waits for the supervisor to pick: review on, the judge has
    /// answered, and nothing was picked yet.
    pub fn awaiting_pick(&self) -> Option<&MaxStep> {
        let m = self.max_steps.last()?;
        (self.core.review_picks && m.judge.is_some() && m.picked.is_none() && self.run_is_live()).then_some(m)
    }

    fn max_step_mut(&mut self, step: u64) -> &mut MaxStep {
        // Steps arrive in order; a late event for an older step still finds its entry.
        let pos = match self.max_steps.iter().rposition(|m| m.step == step) {
            Some(i) => i,
            None => {
                self.max_steps.push(MaxStep { step, candidates: Vec::new(), judge: None, picked: None });
                self.max_steps.len() - 1
            }
        };
        &mut self.max_steps[pos]
    }

    /// Marks the step's sample; the intervention itself is counted by `core`.
    fn intervened(&mut self) {
        if let Some(s) = self.sample_mut() {
            s.intervention = true;
        }
    }

    /// The current step's sample, created (carrying the figures forward) on first use; none
    /// before the first step.
    fn sample_mut(&mut self) -> Option<&mut StepSample> {
        let step = self.core.step;
        if step == 0 {
            return None;
        }
        if self.samples.last().is_none_or(|s| s.step != step) {
            self.samples.push(StepSample {
                step,
                context_tokens: self.core.window_tokens,
                tests_passed: self.core.last_tests.map(|t| t.passed),
                quality: self.last_quality,
                stall: self.core.calls_since_progress,
                ..StepSample::default()
            });
        }
        self.samples.last_mut()
    }

    /// Brings the current step's figures up to date after an event.
    fn update_sample(&mut self) {
        let (ctx, tests, quality) = (self.core.window_tokens, self.core.last_tests.map(|t| t.passed), self.last_quality);
        if let Some(s) = self.sample_mut() {
            s.context_tokens = ctx;
            s.tests_passed = tests;
            s.quality = quality;
        }
    }

    /// Adds a running tool call's cell and returns its index.
    fn open_tool_cell(&mut self, id: u64, call_id: &str, name: &str, step: u64, args: &Value, started: DateTime<Utc>) -> usize {
        let idx = self.cells.len();
        if self.rows_only {
            return idx;
        }
        self.push(
            id,
            CellKind::Tool(Box::new(ToolCell {
                call_id: call_id.to_string(),
                name: name.to_string(),
                step,
                args: args.to_string(),
                started,
                status: ToolStatus::Running,
                duration_ms: None,
                exit_code: None,
                output: "".into(),
                tests: None,
            })),
        );
        self.tool_cells.insert(call_id.to_string(), idx);
        idx
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
        if self.rows_only {
            return;
        }
        self.cells.push(Cell { id, revision: 0, kind });
    }

    /// Elapsed session time at `now`; a finished session stops its clock.
    pub fn elapsed(&self, now: DateTime<Utc>) -> chrono::Duration {
        let Some(start) = self.core.started_at else { return chrono::Duration::zero() };
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

pub use crate::printable::fmt_ms;

fn fmt_budget(kind: BudgetKind, used: f64, limit: f64) -> String {
    let pct = if limit > 0.0 { used / limit * 100.0 } else { 0.0 };
    match kind {
        BudgetKind::Cost => format!("{} of {} ({pct:.0}%)", crate::printable::money(used), crate::printable::money(limit)),
        BudgetKind::Time => format!("{}s of {}s ({pct:.0}%)", used.round(), limit.round()),
        _ => format!("{} of {} ({pct:.0}%)", used.round(), limit.round()),
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
