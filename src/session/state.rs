//! The state of a session as a fold over its events.
//!
//! The runtime keeps its own state only by applying the events it emits, so replaying the
//! log rebuilds exactly what the runtime had: the conversation, the task list, usage, and the
//! counters behind budgets and stall detection.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Conversation, Message};
use crate::protocol::{Checkpoint, Event, EventKind, Outcome, Role, SessionInfo, Task, TestCounts};

/// The text the model sees for a supervisor correction.
pub fn correction_message(text: &str) -> String {
    format!("[Supervisor correction] The human supervising this session says:\n{text}")
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageTotals {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Of `prompt_tokens`, read from the provider's prompt cache.
    #[serde(default)]
    pub cache_read_tokens: u64,
    /// Of `prompt_tokens`, written to the provider's prompt cache.
    #[serde(default)]
    pub cache_write_tokens: u64,
    pub cost_usd: f64,
    /// True when some figures were estimated rather than reported.
    pub estimated: bool,
    /// True when some model had no known price (counted as 0).
    pub unpriced: bool,
    /// Answers the figures cover.
    pub requests: u64,
}

impl UsageTotals {
    pub fn tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// The share of prompt tokens read from the provider's cache; None before any prompt.
    pub fn cache_hit_rate(&self) -> Option<f64> {
        cache_hit_rate(self.cache_read_tokens, self.prompt_tokens)
    }
}

/// Cache reads over prompt tokens, at most 1; None without prompt tokens. The one rule the
/// status bar and `sessions --json` share.
pub fn cache_hit_rate(cache_read_tokens: u64, prompt_tokens: u64) -> Option<f64> {
    (prompt_tokens > 0).then(|| (cache_read_tokens as f64 / prompt_tokens as f64).min(1.0))
}

/// The longest run of steps between interventions (the steps they happened at, in order),
/// out of `steps`: the endurance figure, shared by the session summary and the workbench.
pub fn longest_unassisted_run(interventions: &[u64], steps: u64) -> u64 {
    let mut longest = 0;
    let mut from = 0;
    for &at in interventions {
        longest = longest.max(at.saturating_sub(from));
        from = at;
    }
    longest.max(steps.saturating_sub(from))
}

/// Where a checkpoint is and what it covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    pub id: String,
    pub cycle: u32,
    pub n: u32,
    pub threshold_pct: u32,
    pub upto_seq: u64,
    pub snapshot: Option<String>,
    /// Why there is no snapshot, when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_error: Option<String>,
    pub path: String,
    /// The checkpoint this one continues from on its branch (a rollback starts a new branch
    /// from its target).
    #[serde(default)]
    pub parent: Option<String>,
    /// Its directives, one item each, for the checks on later checkpoints.
    #[serde(default)]
    pub directives: Vec<String>,
    /// Titles of the tasks in progress when it was saved.
    #[serde(default)]
    pub in_progress: Vec<String>,
}

/// Where a message of the window came from: the event that added it, and the step then.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageOrigin {
    pub seq: u64,
    pub step: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionState {
    pub info: Option<SessionInfo>,
    pub started_at: Option<DateTime<Utc>>,
    pub last_event_at: Option<DateTime<Utc>>,
    /// Sequence number the next persisted event gets.
    pub next_seq: u64,
    /// The conversation of the current window (empty when `counters_only`).
    pub messages: Conversation,
    /// Where each of `messages` came from, aligned with it.
    pub message_origins: Vec<MessageOrigin>,
    /// `(seq, step)` of every `step_started`, so the step of any event is known.
    pub step_starts: Vec<(u64, u64)>,
    /// Agent answers received (assistant messages), across every window.
    pub messages_answered: u64,
    /// Answers asked for again after a resume found their calls interrupted.
    pub answers_reasked: u64,
    pub tasks: Vec<Task>,
    /// The last step that started (0 before the first).
    pub step: u64,
    /// Steps that finished.
    pub steps_finished: u64,
    pub usage: UsageTotals,
    pub usage_by_role: BTreeMap<String, UsageTotals>,
    /// Tokens in the agent's current context window: the last agent request's prompt plus its
    /// answer.
    pub window_tokens: u64,
    /// How many of `messages` `window_tokens` accounts for; later ones are not yet counted.
    pub window_covers: usize,
    /// Corrections queued and not yet delivered, in order.
    pub pending_corrections: Vec<(u64, String)>,
    pub corrections_delivered: u64,
    pub next_correction_id: u64,
    pub paused: bool,
    pub tool_calls: u64,
    /// Tool calls since the last one that changed a file or a test outcome.
    pub calls_since_progress: u32,
    pub last_tests: Option<TestCounts>,
    #[serde(skip)]
    progress_in_call: bool,
    /// Tool calls that started and have no result yet.
    pub calls_in_flight: Vec<String>,
    pub files_changed: u64,
    pub outcome: Option<(Outcome, String)>,
    /// The context window's cycle: 1 at the start, +1 at every rollover and rollback.
    pub cycle: u32,
    /// Every checkpoint saved, in order, abandoned branches included.
    pub checkpoints: Vec<CheckpointRecord>,
    /// The checkpoint the current window descends from.
    pub latest_checkpoint: Option<Checkpoint>,
    /// The newest checkpoint on the live branch: the parent of the next one.
    pub branch_head: Option<String>,
    /// Rebuilds wait for the supervisor's review (workbench).
    pub review_rebuilds: bool,
    /// Thresholds (% of the budget) whose checkpoint was saved in the current cycle.
    pub fired_thresholds: Vec<u32>,
    pub start_snapshot: Option<String>,
    /// Every delivered supervisor correction, verbatim, in order: they stay in force across
    /// rollovers.
    pub corrections: Vec<String>,
    pub rollovers: u32,
    /// Usage spent on reliability (losing candidates, the judge), also counted in `usage`.
    pub overhead: UsageTotals,
    /// Max Mode: candidates per step, when on.
    pub max_mode: Option<u32>,
    pub review_picks: bool,
    /// Goal-verifier verdicts that said "not met" in a row.
    pub rejections_in_a_row: u32,
    pub verdicts: u32,
    /// The last verdict's missing items, to spot two identical verdicts in a row.
    pub last_missing: Option<Vec<String>>,
    /// Steps at which the supervisor intervened (pauses, corrections, rollbacks, overrides,
    /// picks), in order; the endurance figure is the longest run of steps between them.
    pub interventions: Vec<u64>,
    /// The agent's output token limit after repeated truncation raised it.
    #[serde(default)]
    pub max_tokens_raised: Option<u32>,
    /// The sandbox in force: from `session_started`, then from the latest `session_resumed`.
    pub sandbox: Option<crate::protocol::SandboxInfo>,
    /// Background processes still running, by id, with their command.
    pub background: BTreeMap<u64, String>,
    /// The highest background process id used so far.
    pub last_process_id: u64,
    /// Escalations requested so far; the next one gets this + 1.
    pub escalations: u64,
    /// MCP servers running, by name.
    #[serde(default)]
    pub mcp_running: std::collections::BTreeSet<String>,
    /// What workflow subagents spent (journaled ones once, when they ran); also in `usage`.
    #[serde(default)]
    pub subagent_usage: UsageTotals,
    /// The session's workflow runs, by run number.
    #[serde(default)]
    pub workflows: BTreeMap<u32, WorkflowRecord>,
    /// The highest workflow subagent number used so far.
    #[serde(default)]
    pub last_agent: u64,
    /// The highest MEMORY.md proposal id so far; the next proposal gets this + 1.
    #[serde(default)]
    pub memory_proposed: u64,
    /// MEMORY.md proposals not yet accepted or rejected, by id.
    #[serde(default)]
    pub memory_pending: Vec<u64>,
    /// Corrections the supervisor withdrew before delivery.
    #[serde(default)]
    pub corrections_withdrawn: u64,
    /// Rollbacks done so far.
    #[serde(default)]
    pub rollbacks: u32,
    /// The session this one was forked from, and the checkpoint (`endure fork`).
    #[serde(default)]
    pub forked_from: Option<(String, String)>,
    /// A frontend's fold that keeps no conversation (`messages`, `message_origins`): it shows
    /// the events themselves and needs only the counters, so the session's messages are not
    /// held once more for it.
    #[serde(skip)]
    pub counters_only: bool,
}

/// A workflow run of the session, as `workflow_started` and `workflow_finished` tell it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowRecord {
    pub name: String,
    /// The script the run executes, relative to the session's directory.
    pub script: String,
    pub args: serde_json::Value,
    /// The agent's `workflow` call that started it; None for `endure workflow run`.
    pub call_id: Option<String>,
    /// Set by `workflow_finished`: whether the script returned, and what it returned or why it failed.
    pub finished: Option<(bool, serde_json::Value)>,
}

impl SessionState {
    /// The longest run of steps without a supervisor intervention.
    pub fn endurance(&self) -> u64 {
        longest_unassisted_run(&self.interventions, self.step)
    }

    fn intervened(&mut self) {
        // An intervention between steps counts against the next one.
        let at = self.step;
        if self.interventions.last() != Some(&at) {
            self.interventions.push(at);
        }
    }
}

impl SessionState {
    /// A fold for a frontend: every counter, no conversation (see `counters_only`).
    pub fn counters_only() -> SessionState {
        SessionState { counters_only: true, ..SessionState::default() }
    }

    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> SessionState {
        let mut s = SessionState::default();
        for e in events {
            s.apply(e);
        }
        s
    }

    /// The id the next checkpoint in the current cycle gets.
    pub fn next_checkpoint_n(&self) -> u32 {
        self.checkpoints.iter().filter(|c| c.cycle == self.cycle).map(|c| c.n).max().unwrap_or(0) + 1
    }

    pub fn checkpoint(&self, id: &str) -> Option<&CheckpointRecord> {
        self.checkpoints.iter().find(|c| c.id == id)
    }

    pub fn task(&self) -> &str {
        self.info.as_ref().map(|i| i.task.as_str()).unwrap_or("")
    }

    /// The `--goal` the session was started with, if any.
    pub fn goal(&self) -> Option<&str> {
        self.info.as_ref()?.config.get("goal")?.as_str().map(str::trim).filter(|g| !g.is_empty())
    }

    /// The checkpoints `id` descends from on its branch, nearest first, `id` itself excluded.
    pub fn ancestors(&self, id: &str) -> Vec<&CheckpointRecord> {
        let mut out: Vec<&CheckpointRecord> = Vec::new();
        let mut next = self.checkpoint(id).and_then(|c| c.parent.clone());
        while let Some(p) = next {
            // A malformed log could make a cycle; each checkpoint is visited once.
            let Some(rec) = self.checkpoint(&p).filter(|r| !out.iter().any(|o| o.id == r.id)) else { break };
            out.push(rec);
            next = rec.parent.clone();
        }
        out
    }

    /// Directives of the checkpoints on the live branch, oldest first, without repeats: what
    /// the next checkpoint must still hold.
    pub fn branch_directives(&self) -> Vec<String> {
        let Some(head) = self.branch_head.as_deref() else { return Vec::new() };
        let mut chain: Vec<&CheckpointRecord> = self.ancestors(head);
        chain.reverse();
        chain.extend(self.checkpoint(head));
        let mut out: Vec<String> = Vec::new();
        for d in chain.iter().flat_map(|c| c.directives.iter()) {
            if !out.contains(d) {
                out.push(d.clone());
            }
        }
        out
    }

    fn push_message(&mut self, m: Message, seq: u64) {
        if self.counters_only {
            return;
        }
        self.messages.push(m);
        self.message_origins.push(MessageOrigin { seq, step: self.step });
    }

    /// The step event `seq` happened in (0 before the first step).
    pub fn step_at(&self, seq: u64) -> u64 {
        let i = self.step_starts.partition_point(|(s, _)| *s <= seq);
        i.checked_sub(1).map_or(0, |i| self.step_starts[i].1)
    }

    /// A rebuilt window replaces the conversation; `origins` says where each message came
    /// from (`None`, or an old log without them: the rebuilding event itself).
    fn replace_window(&mut self, window: &[Message], origins: &[Option<u64>], seq: u64) {
        if self.counters_only {
            return;
        }
        self.messages = window.into();
        self.message_origins = (0..window.len())
            .map(|i| match origins.get(i).copied().flatten() {
                Some(s) => MessageOrigin { seq: s, step: self.step_at(s) },
                None => MessageOrigin { seq, step: self.step },
            })
            .collect();
    }

    pub fn apply(&mut self, event: &Event) {
        if event.kind.is_live_only() {
            return;
        }
        self.next_seq = event.seq + 1;
        self.last_event_at = Some(event.ts);
        match &event.kind {
            EventKind::SessionStarted { info } => {
                self.sandbox = info.sandbox.clone();
                self.info = Some((**info).clone());
                self.started_at = Some(event.ts);
                self.cycle = 1;
            }
            EventKind::UserMessage { text } => self.push_message(Message::User { text: text.clone() }, event.seq),
            EventKind::AssistantMessage { text, tool_calls, blocks, .. } => {
                self.messages_answered += 1;
                self.push_message(
                    Message::Assistant { text: text.clone(), tool_calls: tool_calls.clone(), blocks: blocks.clone() },
                    event.seq,
                )
            }
            EventKind::ToolCall { call_id, .. } => {
                self.tool_calls += 1;
                self.calls_in_flight.push(call_id.clone());
                self.progress_in_call = false;
            }
            EventKind::ToolResult { call_id, name, ok, output, feedback, .. } => {
                self.calls_in_flight.retain(|c| c != call_id);
                self.push_message(
                    Message::Tool { call_id: call_id.clone(), name: name.clone(), content: output.clone(), is_error: !ok },
                    event.seq,
                );
                let tests_changed = feedback.tests.is_some() && feedback.tests != self.last_tests;
                if feedback.tests.is_some() {
                    self.last_tests = feedback.tests;
                }
                if self.progress_in_call || tests_changed {
                    self.calls_since_progress = 0;
                } else {
                    self.calls_since_progress += 1;
                }
                self.progress_in_call = false;
            }
            EventKind::FileChanged { .. } => {
                self.files_changed += 1;
                self.progress_in_call = true;
            }
            EventKind::TaskList { tasks } => self.tasks = tasks.clone(),
            EventKind::Usage {
                role,
                prompt_tokens,
                completion_tokens,
                cache_read_tokens,
                cache_write_tokens,
                cost_usd,
                estimated,
                priced,
                overhead,
            } => {
                if *overhead {
                    self.overhead.prompt_tokens += prompt_tokens;
                    self.overhead.completion_tokens += completion_tokens;
                    self.overhead.cache_read_tokens += cache_read_tokens;
                    self.overhead.cache_write_tokens += cache_write_tokens;
                    self.overhead.cost_usd += cost_usd;
                    self.overhead.requests += 1;
                }
                for t in [&mut self.usage, self.usage_by_role.entry(role.as_str().to_string()).or_default()] {
                    t.prompt_tokens += prompt_tokens;
                    t.completion_tokens += completion_tokens;
                    t.cache_read_tokens += cache_read_tokens;
                    t.cache_write_tokens += cache_write_tokens;
                    t.cost_usd += cost_usd;
                    t.estimated |= *estimated;
                    t.unpriced |= !*priced;
                    t.requests += 1;
                }
                if *role == Role::Agent && !*overhead {
                    self.window_tokens = prompt_tokens + completion_tokens;
                    self.window_covers = self.messages.len();
                }
            }
            EventKind::StepStarted { step } => {
                self.step = *step;
                self.step_starts.push((event.seq, *step));
            }
            EventKind::StepFinished { .. } => self.steps_finished += 1,
            EventKind::Paused { reason } => {
                self.paused = true;
                if *reason == crate::protocol::PauseReason::Supervisor {
                    self.intervened();
                }
            }
            EventKind::Resumed => self.paused = false,
            EventKind::CorrectionQueued { id, text } => {
                self.pending_corrections.push((*id, text.clone()));
                self.next_correction_id = self.next_correction_id.max(id + 1);
            }
            EventKind::CorrectionDelivered { id, .. } => {
                if let Some(pos) = self.pending_corrections.iter().position(|(i, _)| i == id) {
                    let (_, text) = self.pending_corrections.remove(pos);
                    self.push_message(Message::User { text: correction_message(&text) }, event.seq);
                    self.corrections.push(text);
                    self.corrections_delivered += 1;
                    self.intervened();
                }
            }
            EventKind::Stall { .. } => self.calls_since_progress = 0,
            EventKind::SessionFinished { outcome, reason } => self.outcome = Some((*outcome, reason.clone())),
            EventKind::WorkspaceSnapshot { id, .. } => {
                if self.start_snapshot.is_none() {
                    self.start_snapshot = Some(id.clone());
                }
            }
            EventKind::CheckpointSaved { id, cycle, n, threshold_pct, upto_seq, snapshot, snapshot_error, path, checkpoint, .. } => {
                self.checkpoints.push(CheckpointRecord {
                    id: id.clone(),
                    cycle: *cycle,
                    n: *n,
                    threshold_pct: *threshold_pct,
                    upto_seq: *upto_seq,
                    snapshot: snapshot.clone(),
                    snapshot_error: snapshot_error.clone(),
                    path: path.clone(),
                    parent: self.branch_head.replace(id.clone()),
                    directives: crate::memory::drift::directive_items(checkpoint),
                    in_progress: self
                        .tasks
                        .iter()
                        .filter(|t| t.status == crate::protocol::TaskStatus::InProgress)
                        .map(|t| t.title.clone())
                        .collect(),
                });
                self.latest_checkpoint = Some((**checkpoint).clone());
                self.fired_thresholds.push(*threshold_pct);
            }
            EventKind::Rollover { cycle, window_tokens, window, origins, review, .. } => {
                if let Some(r) = review {
                    if !r.edits.is_empty() {
                        self.intervened();
                    }
                    // Fields the supervisor edited are what later checkpoints continue from.
                    if let Some(cp) = &mut self.latest_checkpoint {
                        crate::memory::window::apply_field_edits(cp, &r.edits);
                    }
                }
                self.cycle = *cycle;
                self.replace_window(window, origins, event.seq);
                self.window_tokens = *window_tokens;
                self.window_covers = window.len();
                self.fired_thresholds.clear();
                self.rollovers += 1;
            }
            EventKind::RolledBack { to, cycle, window_tokens, window, tasks, origins, .. } => {
                self.rollbacks += 1;
                self.intervened();
                self.cycle = *cycle;
                self.branch_head = Some(to.clone());
                self.replace_window(window, origins, event.seq);
                self.window_tokens = *window_tokens;
                self.window_covers = window.len();
                self.tasks = tasks.clone();
                self.fired_thresholds.clear();
                self.calls_since_progress = 0;
            }
            EventKind::SessionResumed { interrupted_calls, sandbox, .. } => {
                if sandbox.is_some() {
                    self.sandbox = sandbox.clone();
                }
                if !interrupted_calls.is_empty() {
                    self.answers_reasked += 1;
                }
                self.calls_in_flight.clear();
                self.paused = false;
                self.outcome = None;
            }
            EventKind::MemoryProposed { id, .. } => {
                self.memory_proposed = self.memory_proposed.max(*id);
                self.memory_pending.push(*id);
            }
            EventKind::MemoryResolved { id, .. } => {
                self.memory_pending.retain(|p| p != id);
                self.intervened();
            }
            EventKind::MemoryUpdated { .. } => {}
            EventKind::Forked { parent, at, window_tokens, window, tasks, .. } => {
                self.forked_from = Some((parent.clone(), at.clone()));
                // The window's messages come from the parent's log: their origin here is this event.
                self.replace_window(window, &[], event.seq);
                self.window_tokens = *window_tokens;
                self.window_covers = window.len();
                self.tasks = tasks.clone();
            }
            EventKind::CorrectionWithdrawn { id } => {
                if let Some(pos) = self.pending_corrections.iter().position(|(i, _)| i == id) {
                    self.pending_corrections.remove(pos);
                    self.corrections_withdrawn += 1;
                }
            }
            EventKind::RebuildReviewChanged { on } => self.review_rebuilds = *on,
            EventKind::RebuildVetoed { .. } => self.intervened(),
            EventKind::RebuildProposed { .. } | EventKind::RebuildFailed { .. } | EventKind::CheckpointFlagged { .. } => {}
            EventKind::MaxModeChanged { candidates, review_picks } => {
                self.max_mode = *candidates;
                self.review_picks = *review_picks;
            }
            EventKind::CandidatePicked { by, .. } => {
                if *by == crate::protocol::PickedBy::Supervisor {
                    self.intervened();
                }
            }
            EventKind::VerifierVerdict { met, missing, .. } => {
                self.verdicts += 1;
                if *met {
                    self.rejections_in_a_row = 0;
                } else {
                    self.rejections_in_a_row += 1;
                }
                self.last_missing = Some(missing.clone());
            }
            EventKind::VerdictOverridden { .. } => {
                self.rejections_in_a_row = 0;
                self.last_missing = None;
                self.intervened();
            }
            EventKind::CandidateProposed { .. } | EventKind::CandidateFailed { .. } | EventKind::JudgeVerdict { .. } => {}
            EventKind::ProcessStarted { id, command } => {
                self.background.insert(*id, command.clone());
                self.last_process_id = self.last_process_id.max(*id);
            }
            EventKind::ProcessExited { id, .. } => {
                self.background.remove(id);
            }
            EventKind::EscalationRequested { id, .. } => self.escalations = self.escalations.max(*id),
            EventKind::McpServerStarted { name, .. } => {
                self.mcp_running.insert(name.clone());
            }
            EventKind::McpServerFailed { name, .. } | EventKind::McpServerExited { name, .. } => {
                self.mcp_running.remove(name);
            }
            EventKind::EscalationResolved { by, .. } => {
                if by == "supervisor" {
                    self.intervened();
                }
            }
            EventKind::ModelRetry { .. } | EventKind::BudgetWarning { .. } | EventKind::BudgetStop { .. } | EventKind::Warning { .. } => {}
            EventKind::AssistantDelta { .. } | EventKind::ModelRequest { .. } | EventKind::CandidateDelta { .. } => {}
            // The refusal is the model's answer; later requests show it as such.
            EventKind::Refusal { text, .. } => {
                self.messages_answered += 1;
                if !self.counters_only {
                    self.messages.push(Message::Assistant { text: text.clone(), tool_calls: Vec::new(), blocks: Vec::new() });
                }
            }
            EventKind::AnswerTruncated { notice, .. } => {
                if !self.counters_only {
                    self.messages.push(Message::User { text: notice.clone() });
                }
            }
            EventKind::MaxTokensRaised { to, .. } => self.max_tokens_raised = Some(*to),
            // Display only: the conversation keeps the signed blocks of the answer itself.
            EventKind::Reasoning { .. } => {}
            EventKind::WorkflowStarted { run, name, script, args, call_id, .. } => {
                let record = WorkflowRecord {
                    name: name.clone(),
                    script: script.clone(),
                    args: args.clone(),
                    call_id: call_id.clone(),
                    finished: None,
                };
                self.workflows.insert(*run, record);
            }
            EventKind::WorkflowFinished { run, ok, result, error, .. } => {
                if let Some(w) = self.workflows.get_mut(run) {
                    let outcome = if *ok { result.clone() } else { serde_json::Value::String(error.clone().unwrap_or_default()) };
                    w.finished = Some((*ok, outcome));
                }
            }
            EventKind::AgentQueued { agent, .. } | EventKind::AgentStarted { agent, .. } => self.last_agent = self.last_agent.max(*agent),
            // Counted once, when it ran: a journaled answer spent nothing in this process and
            // was counted when it was first recorded.
            EventKind::AgentFinished { agent, usage, journaled: false, .. } | EventKind::AgentFailed { agent, usage, .. } => {
                self.last_agent = self.last_agent.max(*agent);
                for t in [&mut self.usage, &mut self.subagent_usage] {
                    t.prompt_tokens += usage.prompt_tokens;
                    t.completion_tokens += usage.completion_tokens;
                    t.cost_usd += usage.cost_usd;
                }
                self.subagent_usage.requests += 1;
            }
            EventKind::AgentFinished { agent, .. } => self.last_agent = self.last_agent.max(*agent),
            EventKind::WorkflowPhase { .. }
            | EventKind::WorkflowLog { .. }
            | EventKind::WorkflowBudget { .. }
            | EventKind::WorkflowPaused { .. }
            | EventKind::WorkflowResumed { .. }
            | EventKind::WorkflowMerged { .. }
            | EventKind::AgentStep { .. }
            | EventKind::AgentPaused { .. }
            | EventKind::AgentResumed { .. }
            | EventKind::SubagentEvent { .. }
            | EventKind::ForksFound { .. }
            | EventKind::CommandReceived { .. } => {}
        }
    }
}
