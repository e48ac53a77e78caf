//! The only types the runtime and its frontends share.
//!
//! The runtime publishes [`Event`]s and consumes [`Command`]s. Headless mode, replay and the
//! workbench are all projections of the same event stream, so everything a frontend needs to
//! show must be in an event, and everything a supervisor can do must be a command.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[path = "protocol_cycles.rs"]
mod cycles;
pub use cycles::{CheckpointFlag, OldUnit, RebuildEdit, RebuildReview, RebuildSection, WindowDrop};

/// One line of `events.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the log, starting at 0. Live-only events carry the sequence number of the
    /// last persisted event so that consumers can order them.
    pub seq: u64,
    pub ts: DateTime<Utc>,
    /// The id of the command that caused this event (see `CommandEnvelope`), so that a client
    /// knows which of its commands an event answers without matching text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_id: Option<String>,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Which model role a request or a usage figure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Writer,
    Verifier,
    Judge,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Agent, Role::Writer, Role::Verifier, Role::Judge];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Writer => "writer",
            Role::Verifier => "verifier",
            Role::Judge => "judge",
        }
    }
}

/// What the session was started with; recorded so that replay and resume need nothing else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub session_id: String,
    pub endure_version: String,
    pub workspace: String,
    pub task: String,
    pub provider: String,
    /// The base URL of the provider, if it has one. Never contains credentials.
    pub base_url: Option<String>,
    pub models: RoleModels,
    /// The full system prompt given to the agent, so that replay rebuilds the conversation.
    pub system_prompt: String,
    /// The effective settings (budgets and the like) as a JSON object, with secrets removed.
    pub config: Value,
    /// Tokens of context the agent's window may hold; checkpoints and rollovers are
    /// percentages of it.
    #[serde(default)]
    pub context_budget: u64,
    /// The sandbox `run` commands get; absent in logs written before there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxInfo>,
}

/// The sandbox policy of a session and how much of it this machine enforces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxInfo {
    pub mode: crate::sandbox::SandboxMode,
    pub network: crate::sandbox::NetworkMode,
    /// True when everything the mode and network setting ask for is enforced by the kernel.
    pub enforced: bool,
    /// `bwrap` (namespaces through bubblewrap) or `none`.
    pub mechanism: String,
    /// What this machine lacks for the policy, e.g. `bwrap`, `network namespace`.
    #[serde(default)]
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleModels {
    pub agent: String,
    pub writer: String,
    pub verifier: String,
    pub judge: String,
}

impl RoleModels {
    pub fn get(&self, role: Role) -> &str {
        match role {
            Role::Agent => &self.agent,
            Role::Writer => &self.writer,
            Role::Verifier => &self.verifier,
            Role::Judge => &self.judge,
        }
    }
}

/// Reads an `Arc<str>` with one copy: serde's own impl goes through a `String` and a
/// `Box<str>` first, which costs a replay of a long log an extra copy of every tool output.
mod shared_text {
    use std::sync::Arc;

    use serde::Deserializer;
    use serde::de::{Error, Visitor};

    struct Text;

    impl Visitor<'_> for Text {
        type Value = Arc<str>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string")
        }

        fn visit_str<E: Error>(self, v: &str) -> Result<Arc<str>, E> {
            Ok(Arc::from(v))
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
        d.deserialize_str(Text)
    }
}

/// One message of the conversation as the runtime keeps it. Providers translate it to their
/// own wire shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    User {
        text: String,
    },
    Assistant {
        text: String,
        tool_calls: Vec<ToolCallRequest>,
        /// Provider content the runtime does not interpret (Anthropic server tool blocks such
        /// as `server_tool_use` and `web_search_tool_result`, signed `thinking` and
        /// `redacted_thinking` blocks, Responses `reasoning` items), kept verbatim so that the
        /// provider gets them back unchanged. When present, the list is the whole answer in
        /// order: `text` appears in it as `{"type":"text","text":..}` pieces and each tool call
        /// as a `{"type":"tool_use","id":..}` marker ([`is_answer_block`]), so each provider
        /// block goes back in its place. Older logs hold the provider blocks alone. Absent when
        /// the answer had none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        blocks: Vec<Value>,
    },
    Tool {
        call_id: String,
        name: String,
        /// Shared with the `tool_result` event it came from and every fold that shows it: a
        /// long session's outputs are held once, however many views hold them.
        #[serde(deserialize_with = "shared_text::deserialize")]
        content: Arc<str>,
        /// The tool failed (Anthropic's `is_error`). Absent from older logs.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
}

impl Message {
    /// Characters of content, used by the token estimate.
    pub fn content_len(&self) -> usize {
        match self {
            Message::User { text } => text.len(),
            Message::Assistant { text, tool_calls, blocks } => {
                text.len()
                    + tool_calls.iter().map(|c| c.name.len() + c.arguments.len()).sum::<usize>()
                    + provider_blocks(blocks).map(|b| b.to_string().len()).sum::<usize>()
            }
            Message::Tool { content, .. } => content.len(),
        }
    }
}

/// The `type` of a content block, or "".
pub fn block_type(block: &Value) -> &str {
    block.get("type").and_then(Value::as_str).unwrap_or_default()
}

/// Whether a block of [`Message::Assistant`]'s `blocks` stands for the answer's own text or
/// one of its tool calls (which the message holds in `text` and `tool_calls`), rather than
/// provider content. Both are types providers never send as opaque blocks.
pub fn is_answer_block(block: &Value) -> bool {
    matches!(block_type(block), "text" | "tool_use")
}

/// Whether a provider block carries the model's reasoning (Anthropic `thinking` and
/// `redacted_thinking`, a Responses `reasoning` item): shown through the `reasoning` event,
/// not as a server tool.
pub fn is_reasoning_block(block: &Value) -> bool {
    matches!(block_type(block), "thinking" | "redacted_thinking" | "reasoning")
}

/// The provider's own blocks among an assistant message's `blocks`.
pub fn provider_blocks(blocks: &[Value]) -> impl Iterator<Item = &Value> {
    blocks.iter().filter(|b| !is_answer_block(b))
}

/// Provider blocks shown as server tools: neither the answer's own pieces nor reasoning.
pub fn server_tool_blocks(blocks: &[Value]) -> impl Iterator<Item = &Value> {
    provider_blocks(blocks).filter(|b| !is_reasoning_block(b))
}

/// A tool call as the model asked for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRequest {
    pub id: String,
    pub name: String,
    /// The raw argument text the model produced. It may not be valid JSON; the runtime reports
    /// that back to the model as the call's result rather than failing.
    pub arguments: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Pending,
    InProgress,
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub title: String,
    pub status: TaskStatus,
}

/// Pass and fail counts parsed from a test runner's output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCounts {
    pub passed: u32,
    pub failed: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// One structured problem found in command output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// e.g. `rustc error`, `python traceback`, `test failure`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub col: Option<u32>,
    pub message: String,
}

/// What the feedback parsers found in a `run` result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<Diagnostic>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing_tests: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests: Option<TestCounts>,
    /// Coverage in percent, when the output reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
    /// Lint problems counted in the output, when a linter reported a total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lint_problems: Option<u32>,
    /// 0–100, computed from the test counts (and coverage and lint counts when present);
    /// only when tests ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<f64>,
    /// Why the test counts are unknown or incomplete although tests ran (e.g. `go test` without
    /// `-v` names failing tests but never counts passing ones). With `tests` absent the counts
    /// are unknown; with `tests` present they cover only what the output reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tests_unknown: Option<String>,
    /// What the parsers found but the capped lists above leave out.
    #[serde(default, skip_serializing_if = "Omitted::is_empty")]
    pub omitted: Omitted,
}

/// Counts of what a [`Feedback`]'s capped lists leave out, so that a reader is told exactly how
/// much more there is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Omitted {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failing_tests: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub errors: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warnings: u32,
}

impl Omitted {
    pub fn is_empty(&self) -> bool {
        *self == Omitted::default()
    }
}

impl Feedback {
    pub fn is_empty(&self) -> bool {
        self.diagnostics.is_empty()
            && self.failing_tests.is_empty()
            && self.tests.is_none()
            && self.coverage.is_none()
            && self.lint_problems.is_none()
            && self.quality.is_none()
            && self.tests_unknown.is_none()
            && self.omitted.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetKind {
    Steps,
    Tokens,
    Cost,
    Time,
}

impl BudgetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetKind::Steps => "steps",
            BudgetKind::Tokens => "tokens",
            BudgetKind::Cost => "cost",
            BudgetKind::Time => "time",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The agent declared completion.
    Done,
    /// A budget ran out.
    Budget,
    /// The stall detector fired and nobody was there to decide.
    Stalled,
    /// The supervisor stopped the run.
    Stopped,
    /// Anything else: provider errors, bad configuration, internal failures.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Budget => "budget",
            Outcome::Stalled => "stalled",
            Outcome::Stopped => "stopped",
            Outcome::Failed => "failed",
        }
    }
}

/// Why the runtime paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum PauseReason {
    Supervisor,
    Budget {
        budget: BudgetKind,
    },
    Stall,
    /// The goal verifier is not converging or could not be read; the supervisor decides.
    Verifier {
        reason: String,
    },
    /// The model refused to continue the task.
    Refusal,
    /// The model's answers kept being cut at the output token limit.
    Truncation {
        max_tokens: u32,
    },
    /// A fresh window could not be built (the user's own words alone exceed its cap), or a
    /// proposed rebuild waits for the supervisor's review.
    Rebuild {
        reason: String,
    },
}

/// One checkpoint field: the writer answers each as a string or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CheckpointField {
    Text(String),
    List(Vec<String>),
}

impl Default for CheckpointField {
    fn default() -> Self {
        CheckpointField::Text(String::new())
    }
}

/// The 11 fields a background writer keeps for a session, so that a fresh context window can
/// be rebuilt from them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The user's request, verbatim.
    pub active_intent: CheckpointField,
    pub next_action: CheckpointField,
    /// Session rules and every supervisor correction, verbatim.
    pub directives: CheckpointField,
    pub task_tree: CheckpointField,
    pub current_work: CheckpointField,
    /// Each file touched, with its purpose.
    pub files: CheckpointField,
    /// Verified facts.
    pub knowledge: CheckpointField,
    pub errors_and_fixes: CheckpointField,
    /// Branches, processes, ports.
    pub live_resources: CheckpointField,
    /// Design decisions and why.
    pub decisions: CheckpointField,
    pub open_notes: CheckpointField,
}

impl Checkpoint {
    pub const FIELDS: [&'static str; 11] = [
        "active_intent",
        "next_action",
        "directives",
        "task_tree",
        "current_work",
        "files",
        "knowledge",
        "errors_and_fixes",
        "live_resources",
        "decisions",
        "open_notes",
    ];

    /// The fields in their canonical order, with their keys.
    pub fn fields(&self) -> [(&'static str, &CheckpointField); 11] {
        [
            ("active_intent", &self.active_intent),
            ("next_action", &self.next_action),
            ("directives", &self.directives),
            ("task_tree", &self.task_tree),
            ("current_work", &self.current_work),
            ("files", &self.files),
            ("knowledge", &self.knowledge),
            ("errors_and_fixes", &self.errors_and_fixes),
            ("live_resources", &self.live_resources),
            ("decisions", &self.decisions),
            ("open_notes", &self.open_notes),
        ]
    }
}

/// Who made a Max Mode pick final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PickedBy {
    Judge,
    Supervisor,
    /// The judge's answer could not be used; the first candidate was taken.
    Fallback,
}

/// Why a fresh context window was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloverReason {
    /// The window reached the rollover threshold.
    Threshold,
    /// The supervisor asked for it.
    Supervisor,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    SessionStarted {
        #[serde(flatten)]
        info: Box<SessionInfo>,
    },
    UserMessage {
        text: String,
    },
    /// Live only: a piece of assistant text as it streams. Never written to the log.
    AssistantDelta {
        role: Role,
        text: String,
    },
    /// Live only: the runtime is waiting for a model answer.
    ModelRequest {
        role: Role,
        step: u64,
        attempt: u32,
    },
    /// A transient provider failure that will be retried.
    ModelRetry {
        role: Role,
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
    AssistantMessage {
        step: u64,
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCallRequest>,
        /// Opaque provider content (server tool blocks), as in [`Message::Assistant`].
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        blocks: Vec<Value>,
    },
    ToolCall {
        step: u64,
        call_id: String,
        name: String,
        /// The parsed arguments, or the raw text as a string when it is not valid JSON.
        args: Value,
    },
    ToolResult {
        step: u64,
        call_id: String,
        name: String,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        duration_ms: u64,
        /// Exactly what the model was given as the result (already capped). Shared, not
        /// copied, by the conversation and the views that fold it.
        #[serde(deserialize_with = "shared_text::deserialize")]
        output: Arc<str>,
        #[serde(default, skip_serializing_if = "Feedback::is_empty")]
        feedback: Feedback,
    },
    FileChanged {
        step: u64,
        path: String,
        /// SHA-256 of the content before, absent when the file was created.
        before: Option<String>,
        /// SHA-256 of the content after, absent when the file was deleted.
        after: Option<String>,
        diff: String,
    },
    TaskList {
        tasks: Vec<Task>,
    },
    Usage {
        role: Role,
        /// Every prompt token, cached or not.
        prompt_tokens: u64,
        completion_tokens: u64,
        /// Of `prompt_tokens`, those read from the provider's prompt cache.
        #[serde(default, skip_serializing_if = "is_zero_u64")]
        cache_read_tokens: u64,
        /// Of `prompt_tokens`, those written to the provider's prompt cache.
        #[serde(default, skip_serializing_if = "is_zero_u64")]
        cache_write_tokens: u64,
        cost_usd: f64,
        /// True when the provider reported nothing and the figures are estimates.
        estimated: bool,
        /// Whether the model has a known price; unknown models cost 0.
        priced: bool,
        /// Spent on reliability rather than on the agent's window: losing Max Mode candidates
        /// and the judge. Never counted toward the context budget.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        overhead: bool,
    },
    StepStarted {
        step: u64,
    },
    StepFinished {
        step: u64,
    },
    Paused {
        reason: PauseReason,
    },
    Resumed,
    CorrectionQueued {
        id: u64,
        text: String,
    },
    CorrectionDelivered {
        id: u64,
        step: u64,
    },
    BudgetWarning {
        budget: BudgetKind,
        used: f64,
        limit: f64,
    },
    BudgetStop {
        budget: BudgetKind,
        used: f64,
        limit: f64,
    },
    Stall {
        tool_calls: u32,
    },
    /// Something that went wrong without ending the session (a torn log line, a retried
    /// parse, a fallback).
    Warning {
        message: String,
    },
    SessionFinished {
        outcome: Outcome,
        reason: String,
    },
    /// The exact state of the workspace files was recorded (at session start and with every
    /// checkpoint). `id` names it in the shadow repository under `.endure/`.
    WorkspaceSnapshot {
        id: String,
        label: String,
    },
    /// The background writer saved checkpoint `id` (`<cycle>.<n>`), covering the conversation
    /// up to event `upto_seq`, with the workspace as in `snapshot`.
    CheckpointSaved {
        id: String,
        cycle: u32,
        n: u32,
        /// The threshold (% of the context budget) that started the writer.
        threshold_pct: u32,
        window_tokens: u64,
        upto_seq: u64,
        snapshot: Option<String>,
        /// Why `snapshot` is missing: the snapshot failed, or snapshots are off. Such a
        /// checkpoint cannot be rolled back to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        snapshot_error: Option<String>,
        /// The checkpoint's JSON file, relative to the workspace.
        path: String,
        checkpoint: Box<Checkpoint>,
    },
    /// A fresh context window replaced the old one; the conversation continues from `window`.
    Rollover {
        cycle: u32,
        reason: RolloverReason,
        checkpoint: Option<String>,
        window_tokens: u64,
        window: Vec<Message>,
        /// The event each window message came from (aligned with `window`); `None` for the
        /// messages this rollover wrote itself (the rebuilt header and the reminder).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        origins: Vec<Option<u64>>,
        /// What left the window.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dropped: Option<WindowDrop>,
        /// The supervisor's review of the rebuild, when there was one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        review: Option<RebuildReview>,
    },
    /// The workspace and the conversation went back to checkpoint `to`. Nothing before this
    /// event is deleted: the abandoned branch stays in the log.
    RolledBack {
        to: String,
        snapshot: Option<String>,
        /// A new cycle, so that checkpoints after the rollback never reuse an abandoned id.
        cycle: u32,
        window_tokens: u64,
        window: Vec<Message>,
        tasks: Vec<Task>,
        restored: u32,
        removed: u32,
        /// As in `Rollover`: the event each window message came from.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        origins: Vec<Option<u64>>,
    },
    /// A new process continued this session from its log (after a crash, a stop, or with
    /// `--at`). Tool calls that were in flight got an `interrupted` result first.
    SessionResumed {
        at: Option<String>,
        interrupted_calls: Vec<String>,
        /// The sandbox of the resumed process (flags given again may change it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sandbox: Option<SandboxInfo>,
    },
    /// A whole new MEMORY.md was proposed (by a dream) and waits for the supervisor's
    /// `ResolveMemory`; `diff` is against the file as it is now.
    MemoryProposed {
        id: u64,
        source: String,
        diff: String,
        content: String,
    },
    /// Live only: text of Max Mode candidate `index` (1-based) as it streams.
    CandidateDelta {
        step: u64,
        index: u32,
        text: String,
    },
    /// A Max Mode candidate's complete proposal. Its tool calls are not executed unless it is
    /// picked.
    CandidateProposed {
        step: u64,
        index: u32,
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCallRequest>,
    },
    CandidateFailed {
        step: u64,
        index: u32,
        reason: String,
    },
    /// The judge's answer: candidate `pick` (1-based), and why.
    JudgeVerdict {
        step: u64,
        pick: u32,
        reason: String,
    },
    /// The pick that will execute. With review picks on, the run waits for the supervisor.
    CandidatePicked {
        step: u64,
        pick: u32,
        by: PickedBy,
    },
    /// Max Mode turned on (`candidates` = N) or off (None), or review picks toggled.
    MaxModeChanged {
        candidates: Option<u32>,
        review_picks: bool,
    },
    /// The goal verifier's verdict on a claim of done (attempt counts from 1).
    VerifierVerdict {
        attempt: u32,
        met: bool,
        #[serde(default)]
        missing: Vec<String>,
        #[serde(default)]
        evidence: Vec<String>,
    },
    /// The supervisor overrode the last verdict: accepted the work as done, or rejected it
    /// with a note for the agent.
    VerdictOverridden {
        accept: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Project memory (MEMORY.md) was changed by the writer or the supervisor. `id` is the
    /// proposal this change settles, when it settles one.
    MemoryUpdated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        source: String,
        added: u32,
        summary: String,
    },
    /// The model refused to answer (OpenAI `refusal`, Anthropic `stop_reason: "refusal"`, a
    /// content filter). `text` is the refusal as the model gave it, possibly empty. The
    /// conversation keeps it as the model's answer; nothing is retried.
    Refusal {
        step: u64,
        text: String,
    },
    /// The answer of `step` was cut at the output limit of `max_tokens` tokens. Its text (kept
    /// as the assistant message before this event) is not a finished answer and its tool
    /// calls, named in `dropped_calls`, were not run. `notice` is what the model is told next
    /// (the state adds it as a user message). `in_a_row` counts consecutive cut answers.
    AnswerTruncated {
        step: u64,
        max_tokens: u32,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        dropped_calls: Vec<String>,
        in_a_row: u32,
        notice: String,
    },
    /// The agent's output token limit was raised after repeated truncation; it applies to
    /// every later agent request of the session.
    MaxTokensRaised {
        from: u32,
        to: u32,
    },
    /// `run {background: true}` started background process `id`.
    ProcessStarted {
        id: u64,
        command: String,
    },
    /// A background process ended: `reason` is `exited`, `killed` (by the `process` tool),
    /// `session ended`, or `endure stopped` (recorded on resume for one left by a dead
    /// endure). `exit_code` only when it exited by itself.
    ProcessExited {
        id: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        reason: String,
    },
    /// The agent asked to run one command outside the sandbox.
    EscalationRequested {
        id: u64,
        command: String,
        justification: String,
    },
    /// The answer to an escalation: `by` is `supervisor`, `flag` (`--approve-escalations`),
    /// `headless` (denied: nobody to ask) or `sandbox off` (nothing to escalate from).
    EscalationResolved {
        id: u64,
        approved: bool,
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// With rebuild review on, a rollover proposes its new window and waits for the
    /// supervisor's `ReviewRebuild` commands. Every change re-proposes it with `revision` + 1.
    RebuildProposed {
        id: u64,
        revision: u32,
        cycle: u32,
        reason: RolloverReason,
        checkpoint: Option<String>,
        /// How full the old window is, in percent of the budget.
        fill_pct: u32,
        /// The new window's limit (system prompt included) and its size as proposed.
        limit_tokens: u64,
        total_tokens: u64,
        sections: Vec<RebuildSection>,
        /// The old window's messages, unit by unit (a call with its results is one unit).
        old_window: Vec<OldUnit>,
        /// The supervisor's changes so far.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        edits: Vec<RebuildEdit>,
    },
    /// The supervisor vetoed proposal `id`: the run continues in the old window, and the
    /// rebuild is proposed again when the window reaches `next_pct` of the budget (at 100% it
    /// applies without asking).
    RebuildVetoed {
        id: u64,
        fill_pct: u32,
        next_pct: u32,
    },
    /// Rebuild review turned on or off.
    RebuildReviewChanged {
        on: bool,
    },
    /// A fresh window could not be built without cutting the user's own words (task, goal,
    /// corrections), which are never cut: the old window stays.
    RebuildFailed {
        reason: String,
        /// Tokens the user's words need and the room a rebuilt window has for them.
        needed_tokens: u64,
        room_tokens: u64,
    },
    /// Checks on checkpoint `id` found problems (see `CheckpointFlag`).
    CheckpointFlagged {
        id: String,
        flags: Vec<CheckpointFlag>,
    },
    /// An MCP server started (at the session's first step) or, with `restarted`, was started
    /// again after it exited. `tools` are the names its tools are offered under
    /// (`mcp__NAME__TOOL`); `transport` is `stdio` or `http`.
    McpServerStarted {
        name: String,
        transport: String,
        tools: Vec<String>,
        #[serde(default)]
        restarted: bool,
    },
    /// An MCP server cannot be used: it failed to start or to restart, or exited again after
    /// its one restart. Its tools answer with `reason` for the rest of the session.
    McpServerFailed {
        name: String,
        reason: String,
    },
    /// A running MCP server ended: it exited or its connection closed (`reason` says how; it
    /// is restarted once, at the next call of one of its tools), or endure stopped it
    /// (`session ended`; `endure stopped`, recorded on resume for one a dead endure ran).
    McpServerExited {
        name: String,
        reason: String,
    },
    /// The readable reasoning that came with the agent's answer of `step` (OpenAI-compatible
    /// `reasoning_content`, Anthropic thinking, a Responses reasoning summary), recorded just
    /// before that answer. Display only: the conversation never gets it from here (signed
    /// thinking blocks go back through the answer's `blocks`). `redacted` counts thinking the
    /// provider encrypted.
    Reasoning {
        step: u64,
        text: String,
        #[serde(default, skip_serializing_if = "is_zero")]
        redacted: u32,
    },
    /// A workflow run began (or began again after a crash: `resumed`). `run` numbers the
    /// session's workflows from 1; `script` is the copy the run executes, relative to the
    /// session's directory; `call_id` is the agent's `workflow` tool call that started it
    /// (absent for `endure workflow run`).
    WorkflowStarted {
        run: u32,
        name: String,
        script: String,
        #[serde(default)]
        args: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call_id: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        resumed: bool,
        /// The script's text, so that a frontend can show it without reading files.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        source: String,
    },
    /// `phase(name)`: what follows belongs to this phase.
    WorkflowPhase {
        run: u32,
        name: String,
    },
    /// `log(msg)`.
    WorkflowLog {
        run: u32,
        message: String,
    },
    /// The run's caps now in force: the script's `budget({...})` within the session's own.
    WorkflowBudget {
        run: u32,
        #[serde(flatten)]
        caps: WorkflowCaps,
    },
    /// The whole run was paused (by the supervisor, or at a cap when supervised); queued
    /// agents wait and running ones pause at their next boundary.
    WorkflowPaused {
        run: u32,
        reason: String,
    },
    WorkflowResumed {
        run: u32,
    },
    /// `merge(result)`: the files of agent `agent`'s worktree applied to the workspace, or,
    /// when any file conflicts, nothing applied and the conflicts named.
    WorkflowMerged {
        run: u32,
        agent: u64,
        branch: String,
        applied: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        conflicts: Vec<String>,
    },
    /// The script returned (`ok`, with `result`) or failed (`error`). The usage sums every
    /// agent of the run, journaled ones included.
    WorkflowFinished {
        run: u32,
        ok: bool,
        #[serde(default)]
        result: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        agents: u64,
        #[serde(flatten)]
        usage: AgentUsage,
    },
    /// `agent()` was called: subagent `agent` (numbered per session; its log is
    /// `agents/<agent>/events.jsonl` in the session's directory) waits for a slot.
    AgentQueued {
        run: u32,
        agent: u64,
        label: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<String>,
        prompt: String,
        /// The script line the `agent()` call was made from (1-based), where its `await` waits.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<u32>,
    },
    /// The subagent's session started (or was resumed from its log: `resumed`).
    AgentStarted {
        run: u32,
        agent: u64,
        label: String,
        /// Its log, relative to the workspace.
        log: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        isolation: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        resumed: bool,
        /// The script line the `agent()` call was made from (1-based).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<u32>,
    },
    /// The subagent finished a step: its latest action and its usage so far.
    AgentStep {
        run: u32,
        agent: u64,
        step: u64,
        action: String,
        #[serde(flatten)]
        usage: AgentUsage,
    },
    AgentPaused {
        run: u32,
        agent: u64,
        reason: PauseReason,
    },
    AgentResumed {
        run: u32,
        agent: u64,
    },
    /// The subagent's answer: text, or the object its schema asked for (with `branch` and
    /// `diff` under worktree isolation). `journaled`: taken from the journal of an earlier
    /// process, nothing was run or spent again.
    AgentFinished {
        run: u32,
        agent: u64,
        label: String,
        result: Value,
        steps: u64,
        #[serde(flatten)]
        usage: AgentUsage,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        journaled: bool,
    },
    AgentFailed {
        run: u32,
        agent: u64,
        label: String,
        error: String,
        steps: u64,
        #[serde(flatten)]
        usage: AgentUsage,
    },
    /// Live only: an event of subagent `agent`'s own session, for a view that follows it.
    /// Its log holds it already.
    SubagentEvent {
        run: u32,
        agent: u64,
        event: Box<Event>,
    },
    /// A command that reached the runtime from a control-socket client, recorded before it is
    /// forwarded: `source` names the client (its name and pid). Until commands travel in an
    /// envelope with their own id and source ([4/7]), this is where the source is kept.
    CommandReceived {
        source: String,
        command: Command,
    },
    /// MEMORY.md proposal `id` was settled: accepted (a `memory_updated` with the same id
    /// follows when the file was written) or rejected (the file is unchanged).
    MemoryResolved {
        id: u64,
        accept: bool,
    },
    /// Queued correction `id` was withdrawn by the supervisor before it was delivered.
    CorrectionWithdrawn {
        id: u64,
    },
    /// This session is a fork (`endure fork`) of session `parent` from its checkpoint `at`:
    /// its workspace, a git worktree on `branch`, was restored to the checkpoint's `snapshot`,
    /// and the conversation continues from `window`, rebuilt from the parent's log as it was at
    /// the checkpoint. Recorded once, right after the session starts.
    Forked {
        parent: String,
        at: String,
        /// The parent's workspace, where its log is.
        parent_workspace: String,
        snapshot: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
        window_tokens: u64,
        window: Vec<Message>,
        tasks: Vec<Task>,
        restored: u32,
        removed: u32,
    },
    /// Live only: the forks of this session (and theirs), each with the events of its log the
    /// attempt tree reads (`session::attempts::keep`). Sent at the session's start and on
    /// `ListForks`.
    ForksFound {
        forks: Vec<ForkLog>,
    },
}

/// A forked session's log, as the attempt tree needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForkLog {
    pub id: String,
    pub events: Vec<Event>,
}

/// Tokens and cost of one subagent or of a whole workflow run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
}

impl AgentUsage {
    pub fn tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    pub fn add(&mut self, other: AgentUsage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.cost_usd += other.cost_usd;
    }
}

/// Caps on a workflow run; None is no cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkflowCaps {
    #[serde(default)]
    pub tokens: Option<u64>,
    #[serde(default)]
    pub cost: Option<f64>,
    #[serde(default)]
    pub agents: Option<u64>,
}

impl EventKind {
    /// A workflow's own event (a run, a phase, an agent, a subagent's relayed event): the
    /// headless progress lines and the workbench's notices are the same milestones.
    pub fn is_workflow(&self) -> bool {
        matches!(
            self,
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
                | EventKind::SubagentEvent { .. }
        )
    }

    /// Live-only events are broadcast to frontends but never written to the log, because
    /// they are either reconstructible (deltas are folded into the assistant message) or
    /// only meaningful while the process runs.
    pub fn is_live_only(&self) -> bool {
        matches!(
            self,
            EventKind::AssistantDelta { .. }
                | EventKind::ModelRequest { .. }
                | EventKind::CandidateDelta { .. }
                | EventKind::SubagentEvent { .. }
                | EventKind::ForksFound { .. }
        )
    }

    pub fn name(&self) -> &'static str {
        match self {
            EventKind::SessionStarted { .. } => "session_started",
            EventKind::UserMessage { .. } => "user_message",
            EventKind::AssistantDelta { .. } => "assistant_delta",
            EventKind::ModelRequest { .. } => "model_request",
            EventKind::ModelRetry { .. } => "model_retry",
            EventKind::AssistantMessage { .. } => "assistant_message",
            EventKind::ToolCall { .. } => "tool_call",
            EventKind::ToolResult { .. } => "tool_result",
            EventKind::FileChanged { .. } => "file_changed",
            EventKind::TaskList { .. } => "task_list",
            EventKind::Usage { .. } => "usage",
            EventKind::StepStarted { .. } => "step_started",
            EventKind::StepFinished { .. } => "step_finished",
            EventKind::Paused { .. } => "paused",
            EventKind::Resumed => "resumed",
            EventKind::CorrectionQueued { .. } => "correction_queued",
            EventKind::CorrectionDelivered { .. } => "correction_delivered",
            EventKind::BudgetWarning { .. } => "budget_warning",
            EventKind::BudgetStop { .. } => "budget_stop",
            EventKind::Stall { .. } => "stall",
            EventKind::Warning { .. } => "warning",
            EventKind::SessionFinished { .. } => "session_finished",
            EventKind::WorkspaceSnapshot { .. } => "workspace_snapshot",
            EventKind::CheckpointSaved { .. } => "checkpoint_saved",
            EventKind::Rollover { .. } => "rollover",
            EventKind::RolledBack { .. } => "rolled_back",
            EventKind::SessionResumed { .. } => "session_resumed",
            EventKind::MemoryProposed { .. } => "memory_proposed",
            EventKind::CandidateDelta { .. } => "candidate_delta",
            EventKind::CandidateProposed { .. } => "candidate_proposed",
            EventKind::CandidateFailed { .. } => "candidate_failed",
            EventKind::JudgeVerdict { .. } => "judge_verdict",
            EventKind::CandidatePicked { .. } => "candidate_picked",
            EventKind::MaxModeChanged { .. } => "max_mode_changed",
            EventKind::VerifierVerdict { .. } => "verifier_verdict",
            EventKind::VerdictOverridden { .. } => "verdict_overridden",
            EventKind::MemoryUpdated { .. } => "memory_updated",
            EventKind::Refusal { .. } => "refusal",
            EventKind::AnswerTruncated { .. } => "answer_truncated",
            EventKind::MaxTokensRaised { .. } => "max_tokens_raised",
            EventKind::ProcessStarted { .. } => "process_started",
            EventKind::ProcessExited { .. } => "process_exited",
            EventKind::EscalationRequested { .. } => "escalation_requested",
            EventKind::EscalationResolved { .. } => "escalation_resolved",
            EventKind::RebuildProposed { .. } => "rebuild_proposed",
            EventKind::RebuildVetoed { .. } => "rebuild_vetoed",
            EventKind::RebuildReviewChanged { .. } => "rebuild_review_changed",
            EventKind::RebuildFailed { .. } => "rebuild_failed",
            EventKind::CheckpointFlagged { .. } => "checkpoint_flagged",
            EventKind::McpServerStarted { .. } => "mcp_server_started",
            EventKind::McpServerFailed { .. } => "mcp_server_failed",
            EventKind::McpServerExited { .. } => "mcp_server_exited",
            EventKind::Reasoning { .. } => "reasoning",
            EventKind::WorkflowStarted { .. } => "workflow_started",
            EventKind::WorkflowPhase { .. } => "workflow_phase",
            EventKind::WorkflowLog { .. } => "workflow_log",
            EventKind::WorkflowBudget { .. } => "workflow_budget",
            EventKind::WorkflowPaused { .. } => "workflow_paused",
            EventKind::WorkflowResumed { .. } => "workflow_resumed",
            EventKind::WorkflowMerged { .. } => "workflow_merged",
            EventKind::WorkflowFinished { .. } => "workflow_finished",
            EventKind::AgentQueued { .. } => "agent_queued",
            EventKind::AgentStarted { .. } => "agent_started",
            EventKind::AgentStep { .. } => "agent_step",
            EventKind::AgentPaused { .. } => "agent_paused",
            EventKind::AgentResumed { .. } => "agent_resumed",
            EventKind::AgentFinished { .. } => "agent_finished",
            EventKind::AgentFailed { .. } => "agent_failed",
            EventKind::SubagentEvent { .. } => "subagent_event",
            EventKind::CommandReceived { .. } => "command_received",
            EventKind::MemoryResolved { .. } => "memory_resolved",
            EventKind::CorrectionWithdrawn { .. } => "correction_withdrawn",
            EventKind::Forked { .. } => "forked",
            EventKind::ForksFound { .. } => "forks_found",
        }
    }
}

/// What a frontend may ask of the runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Command {
    /// Give the task to a runtime started without one (the workbench's task editor).
    Start(String),
    /// Pause at the next step boundary.
    Pause,
    Resume,
    /// Deliver a supervisor correction at the next step boundary.
    Inject(String),
    /// Cancel the step in flight and finish the session.
    Stop,
    /// Go back to checkpoint `<cycle>.<n>`: workspace files and conversation. The run stays
    /// paused afterwards so that the supervisor can correct it before resuming.
    Rollback(String),
    /// Build a fresh context window from the newest checkpoint now.
    Rollover,
    /// Accept or reject a proposed MEMORY.md.
    ResolveMemory {
        id: u64,
        accept: bool,
    },
    /// Max Mode: execute candidate `i` (1-based) instead of, or confirming, the judge's pick.
    PickCandidate(u32),
    /// Overrule the goal verifier: accept the work as done, or reject it with a note.
    OverrideVerdict {
        accept: bool,
        note: Option<String>,
    },
    /// Turn Max Mode on with N candidates, or off with None, from the next step.
    SetMaxMode(Option<u32>),
    /// Wait for the supervisor at every Max Mode pick.
    SetReviewPicks(bool),
    /// Answer escalation `id`: run the command outside the sandbox once, or deny it with a
    /// note for the agent.
    ResolveEscalation {
        id: u64,
        approve: bool,
        note: Option<String>,
    },
    /// Propose every rollover's new window to the supervisor before applying it (workbench).
    SetReviewRebuilds(bool),
    /// A change to, or the verdict on, rebuild proposal `id`.
    ReviewRebuild {
        id: u64,
        edit: RebuildEdit,
    },
    /// For workflow subagent `target` only (its agent number): `Pause`, `Resume`, `Stop`, or
    /// `Inject` a correction that only it receives. Other commands inside are refused with a
    /// warning.
    ToAgent {
        target: u64,
        command: Box<Command>,
    },
    /// Replace MEMORY.md with `text`. `base_hash` is the SHA-256 (hex) of the file the edit
    /// started from (empty for a missing file); when the file changed since, nothing is
    /// overwritten: the edit becomes a `memory_proposed` against the file as it is now.
    SaveMemory {
        text: String,
        base_hash: String,
    },
    /// Take back queued correction `id` before it is delivered.
    WithdrawCorrection {
        id: u64,
    },
    /// Read the logs of this session's forks (`endure fork`, and theirs) and answer with
    /// `forks_found`, for the Attempts panel (which reads no file itself).
    ListForks,
}

/// A command with the id its events echo in `Event::command_id`. Ids are unique across
/// clients: `<client>:<n>`, with `n` counting up per client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandEnvelope {
    pub id: String,
    pub command: Command,
}

impl Command {
    /// The command's wire name (`pause`, `inject`, ...), for progress lines.
    pub fn name(&self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.get("type")?.as_str().map(str::to_string)).unwrap_or_default()
    }
}

/// The short target of a tool call for one-line displays: the path, command or pattern, on
/// one line of at most 80 characters.
pub fn tool_target(name: &str, args: &Value) -> String {
    let target = tool_target_full(name, args);
    let one_line = target.lines().next().unwrap_or("").to_string();
    if one_line.chars().count() > 80 {
        format!("{}…", one_line.chars().take(79).collect::<String>())
    } else if target.contains('\n') {
        format!("{one_line} …")
    } else {
        one_line
    }
}

/// What a tool call is about, whole: the one function every display of a call uses.
pub fn tool_target_full(name: &str, args: &Value) -> String {
    let field = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_string);
    let target = match name {
        "read_file" | "write_file" | "edit_file" => field("path"),
        "list_files" => field("path").or_else(|| Some(".".into())),
        "search" => field("pattern").map(|p| match field("path") {
            Some(path) => format!("/{p}/ in {path}"),
            None => format!("/{p}/"),
        }),
        "run" => field("command"),
        "process" => args.get("id").map(|id| format!("{} {id}", field("action").unwrap_or_default())),
        "todo" => args.get("tasks").and_then(Value::as_array).map(|t| format!("{} tasks", t.len())),
        "workflow" => field("name").or_else(|| args.get("script").map(|_| "inline script".to_string())),
        "done" => field("summary"),
        _ => None,
    };
    target.unwrap_or_else(|| match args {
        // Another tool (an MCP one, say): the first field that usually names the target,
        // else its first string argument, else the JSON.
        Value::Object(map) => ["path", "command", "cmd", "pattern", "query", "file", "url", "title"]
            .iter()
            .find_map(|k| map.get(*k))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                Value::Array(items) => {
                    items.iter().map(|i| i.as_str().map(str::to_owned).unwrap_or_else(|| i.to_string())).collect::<Vec<_>>().join(" ")
                }
                other => other.to_string(),
            })
            .or_else(|| map.values().find_map(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| args.to_string()),
        Value::String(raw) => raw.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// One line describing an opaque provider block (a server tool call or its result) for the
/// transcript and progress lines.
pub fn opaque_block_summary(block: &Value) -> String {
    let kind = block.get("type").and_then(Value::as_str).unwrap_or("block");
    let line = if let Some(name) = block.get("name").and_then(Value::as_str) {
        let input = match block.get("input") {
            Some(Value::Object(o)) if o.is_empty() => String::new(),
            // Server tools take a query, a URL or code; anything else is shown as its JSON.
            Some(input) => match ["query", "url", "command", "code"].iter().find_map(|k| input.get(*k).and_then(Value::as_str)) {
                Some(arg) => format!(" {arg}"),
                None => format!(" {}", tool_target(name, input)),
            },
            None => String::new(),
        };
        format!("{kind} {name}{input}")
    } else {
        let detail = match block.get("content") {
            Some(Value::Array(items)) => {
                let first = items.iter().find_map(|i| i.get("url").or_else(|| i.get("title")).and_then(Value::as_str));
                let n = items.len();
                format!(": {n} item{}{}", if n == 1 { "" } else { "s" }, first.map(|f| format!(", first {f}")).unwrap_or_default())
            }
            Some(Value::Object(o)) => {
                let what = o.get("error_code").or_else(|| o.get("type")).and_then(Value::as_str).unwrap_or("");
                if what.is_empty() { String::new() } else { format!(": {what}") }
            }
            _ => String::new(),
        };
        format!("{kind}{detail}")
    };
    let one_line = line.replace(['\n', '\r'], " ");
    if one_line.chars().count() > 160 { format!("{}…", one_line.chars().take(159).collect::<String>()) } else { one_line }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_internally_tagged_one_object_per_line() {
        let ev = Event {
            command_id: None,
            seq: 3,
            ts: DateTime::parse_from_rfc3339("2026-11-21T08:00:00Z").map(|t| t.with_timezone(&Utc)).expect("valid time"),
            kind: EventKind::CorrectionDelivered { id: 1, step: 4 },
        };
        let line = serde_json::to_string(&ev).expect("serialize");
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["type"], "correction_delivered");
        assert_eq!(v["seq"], 3);
        assert_eq!(v["step"], 4);
        let back: Event = serde_json::from_str(&line).expect("deserialize");
        assert_eq!(back, ev);
    }

    #[test]
    fn session_started_flattens_its_info() {
        let info = SessionInfo {
            session_id: "s".into(),
            endure_version: "0".into(),
            workspace: "/w".into(),
            task: "t".into(),
            provider: "scripted".into(),
            base_url: None,
            models: RoleModels { agent: "a".into(), writer: "a".into(), verifier: "a".into(), judge: "a".into() },
            system_prompt: "sys".into(),
            config: serde_json::json!({"max_steps": 5}),
            context_budget: 1000,
            sandbox: None,
        };
        let ev = Event { command_id: None, seq: 0, ts: Utc::now(), kind: EventKind::SessionStarted { info: Box::new(info) } };
        let v: Value = serde_json::to_value(&ev).expect("serialize");
        assert_eq!(v["type"], "session_started");
        assert_eq!(v["task"], "t");
        let back: Event = serde_json::from_value(v).expect("deserialize");
        assert_eq!(back, ev);
    }

    #[test]
    fn commands_round_trip() {
        for c in [
            Command::Start("fix it".into()),
            Command::Rollback("1.2".into()),
            Command::Rollover,
            Command::ResolveMemory { id: 1, accept: true },
            Command::PickCandidate(2),
            Command::OverrideVerdict { accept: false, note: Some("add tests".into()) },
            Command::SetMaxMode(Some(5)),
            Command::SetReviewPicks(true),
            Command::ResolveEscalation { id: 1, approve: false, note: Some("no network".into()) },
            Command::SetReviewRebuilds(true),
            Command::ReviewRebuild { id: 2, edit: RebuildEdit::EditField { field: "next_action".into(), text: "x".into() } },
            Command::ReviewRebuild { id: 2, edit: RebuildEdit::Veto },
            Command::Pause,
            Command::Resume,
            Command::Inject("use the v2 API".into()),
            Command::Stop,
            Command::ToAgent { target: 3, command: Box::new(Command::Inject("only you".into())) },
        ] {
            let s = serde_json::to_string(&c).expect("serialize");
            assert_eq!(serde_json::from_str::<Command>(&s).expect("deserialize"), c);
        }
    }
}
