//! One step: ask the model, then run the tools it asked for.

use std::sync::Arc;

use serde_json::Value;

use super::AgentConfig;
use super::recorder::SharedRecorder;
use crate::config::prices::ModelTable;
use crate::model::ask::Spent;
use crate::model::{self, Message, ModelRequest, Progress, Provider, RetryPolicy, ToolSpec};
use crate::protocol::{EventKind, Role, RoleModels, ToolCallRequest};
use crate::session::LogError;
use crate::tools::{self, ToolContext};
use crate::workspace::Workspace;

pub(super) enum StepEnd {
    Continue,
    Done(String),
    Stalled(String),
    Failed(String),
    /// The goal verifier needs the supervisor; headless, the run ends with `headless`.
    Verifier {
        reason: String,
        headless: crate::protocol::Outcome,
    },
    /// The model refused; the supervisor decides (headless, the run fails with `reason`).
    Refused(String),
    /// Answers kept being cut at the output limit of `max_tokens`; the supervisor decides
    /// (headless, the run fails with `reason`).
    Truncated {
        reason: String,
        max_tokens: u32,
    },
}

/// After this many answers in a row without a tool call, the model is not making progress.
const MAX_IDLE_ANSWERS: u32 = 3;

/// Cut answers in a row after which the output limit is raised (once per session), and after
/// which the supervisor decides.
const RAISE_AFTER_CUTS: u32 = 2;
const GIVE_UP_AFTER_CUTS: u32 = 3;

/// The raised output limit for a model whose limit the model table does not know.
const FALLBACK_OUTPUT_CEILING: u32 = 32_768;

pub(super) struct StepRunner {
    rec: SharedRecorder,
    provider: Arc<dyn Provider>,
    models: RoleModels,
    retry: RetryPolicy,
    tools: ToolContext,
    specs: Vec<ToolSpec>,
    /// The MCP servers were started and their tools joined `specs`.
    mcp_started: bool,
    prices: ModelTable,
    temperature: Option<f32>,
    max_output_tokens: u32,
    stall_after: u32,
    idle_answers: u32,
    /// Answers in a row cut at the output limit.
    cut_answers: u32,
    pub(super) max_mode: super::MaxModeSettings,
    verifier: super::VerifierSettings,
    picks: tokio::sync::mpsc::UnboundedReceiver<(u32, Option<String>)>,
    escalations: tokio::sync::mpsc::UnboundedReceiver<super::escalation::EscalationAnswer>,
    supervision: super::Supervision,
    /// A subagent's answer schema, and how many answers failed it so far.
    result_schema: Option<Value>,
    invalid_results: u32,
    /// Set when the answer failed its schema twice: the run ends with this reason.
    result_failure: Option<String>,
    /// The agent's prompt estimate, kept up to date message by message.
    prompt_tokens: PromptTokens,
}

/// The token estimate of the agent's prompt, counted incrementally. Within a cycle the
/// conversation only grows at its end (a rollover or rollback replaces it and starts a new
/// cycle), so each step estimates only the messages added since the last one; estimating the
/// whole conversation every step would make a step's cost grow with the session.
#[derive(Debug, Default)]
struct PromptTokens {
    /// The system prompt and tool schemas, estimated once per tool list.
    fixed: Option<(usize, u64)>,
    cycle: u32,
    /// How many messages `messages` covers.
    counted: usize,
    messages: u64,
}

impl PromptTokens {
    /// The estimate of `req`'s prompt, whose messages are the state's in `cycle`.
    fn update(&mut self, req: &ModelRequest, cycle: u32) -> u64 {
        use crate::memory::tokens::{estimate, estimate_messages};
        let fixed = match self.fixed {
            Some((tools, n)) if tools == req.tools.len() => n,
            _ => {
                let n = estimate(&req.system) + crate::model::ask::tools_estimate(&req.tools);
                self.fixed = Some((req.tools.len(), n));
                n
            }
        };
        if cycle != self.cycle || req.messages.len() < self.counted {
            *self = PromptTokens { fixed: self.fixed, cycle, counted: 0, messages: 0 };
        }
        self.messages += estimate_messages(req.messages.since(self.counted));
        self.counted = req.messages.len();
        fixed + self.messages
    }
}

/// What the session shares with every step's tools: they live as long as the session.
pub(super) struct StepServices {
    pub sandbox: Arc<crate::sandbox::Sandbox>,
    pub processes: Arc<crate::tools::process::Processes>,
    pub mcp: Arc<crate::mcp::McpServers>,
    pub workflow: Option<Arc<crate::workflow::ToolHost>>,
}

/// Answers that may fail a subagent's schema before it fails: the first is asked for again.
const MAX_INVALID_RESULTS: u32 = 2;

impl StepRunner {
    pub(super) fn new(
        cfg: &AgentConfig,
        rec: SharedRecorder,
        picks: tokio::sync::mpsc::UnboundedReceiver<(u32, Option<String>)>,
        escalations: tokio::sync::mpsc::UnboundedReceiver<super::escalation::EscalationAnswer>,
        services: StepServices,
    ) -> Result<StepRunner, String> {
        let StepServices { sandbox, processes, mcp, workflow } = services;
        let workspace = Workspace::open(&cfg.workspace).map_err(|e| format!("cannot open the workspace: {e}"))?;
        // A limit raised earlier in the session (before a resume) still holds.
        let max_output_tokens = rec.with_state(|s| s.max_tokens_raised).unwrap_or(cfg.max_output_tokens);
        let mut tools = ToolContext::new(workspace, cfg.tool_limits.clone());
        tools.sandbox = sandbox;
        tools.processes = processes;
        tools.mcp = mcp;
        let child = cfg.child.as_ref();
        tools.allowed = child.and_then(|c| c.tools.clone());
        tools.file_locks = child.and_then(|c| c.file_locks.clone());
        let result_schema = child.and_then(|c| c.schema.clone());
        let specs = tools::session_specs(tools.allowed.as_deref(), workflow.is_some(), result_schema.as_ref());
        tools.workflow = workflow;
        Ok(StepRunner {
            rec,
            provider: cfg.provider.clone(),
            models: cfg.models.clone(),
            retry: cfg.retry.clone(),
            tools,
            specs,
            mcp_started: false,
            prices: cfg.prices.clone(),
            temperature: cfg.temperature,
            max_output_tokens,
            stall_after: cfg.stall_after,
            idle_answers: 0,
            cut_answers: 0,
            max_mode: cfg.max_mode.clone(),
            verifier: cfg.verifier.clone(),
            picks,
            escalations,
            supervision: cfg.supervision,
            result_schema,
            invalid_results: 0,
            result_failure: None,
            prompt_tokens: PromptTokens::default(),
        })
    }

    /// The agent's request, and the estimate of its prompt.
    fn request(&mut self) -> (ModelRequest, u64) {
        let (system, messages, cycle) =
            self.rec.with_state(|s| (s.info.as_ref().map(|i| i.system_prompt.clone()).unwrap_or_default(), s.messages.clone(), s.cycle));
        let req = ModelRequest {
            role: Role::Agent,
            model: self.models.agent.clone(),
            system,
            messages,
            tools: self.specs.clone(),
            temperature: self.temperature,
            max_tokens: self.max_output_tokens,
        };
        let prompt = self.prompt_tokens.update(&req, cycle);
        (req, prompt)
    }

    pub(super) async fn step(&mut self, step: u64) -> Result<StepEnd, LogError> {
        if !self.mcp_started {
            // Lazily, at the first step: the model needs the servers' tools in its first request.
            self.tools.mcp.start().await;
            let mcp = self.tools.mcp_specs();
            self.specs.extend(mcp);
            self.mcp_started = true;
        }
        let (req, prompt) = self.request();
        let rec = self.rec.clone();
        let mut log_err: Option<LogError> = None;
        let mut on_progress = |p: Progress<'_>| {
            let kind = match p {
                Progress::Attempt(attempt) => EventKind::ModelRequest { role: Role::Agent, step, attempt },
                Progress::Delta(t) => EventKind::AssistantDelta { role: Role::Agent, text: t.to_string() },
                Progress::Retry { attempt, delay, reason } => {
                    EventKind::ModelRetry { role: Role::Agent, attempt, delay_ms: delay.as_millis() as u64, reason }
                }
            };
            if let Err(e) = rec.emit(kind) {
                log_err.get_or_insert(e);
            }
        };
        let from_max_mode = match self.max_mode.candidates {
            Some(n) => {
                let usage = |spent: &Spent, overhead: bool| self.rec.emit_spent(&self.prices, spent, overhead);
                let task = self.rec.with_state(|s| s.task().to_string());
                let m = super::maxmode::MaxModeStep {
                    rec: &self.rec,
                    task: &task,
                    provider: self.provider.as_ref(),
                    retry: &self.retry,
                    judge_model: &self.models.judge,
                    temperature: self.max_mode.temperature,
                    review: self.max_mode.review_picks,
                    picks: &mut self.picks,
                    usage: &usage,
                };
                super::maxmode::answer(m, step, &req, n).await?
            }
            None => None,
        };
        let completion = match from_max_mode {
            Some(c) => c,
            None => {
                let result = model::complete(self.provider.as_ref(), &req, &self.retry, &mut on_progress).await;
                if let Some(e) = log_err {
                    return Err(e);
                }
                match result {
                    Ok(c) => c,
                    Err(e) => return Ok(StepEnd::Failed(e.to_string())),
                }
            }
        };

        record_reasoning(&self.rec, step, &completion)?;
        if let Some(text) = completion.refusal.clone() {
            // Recorded as what it is and never retried: asking again would only repeat it.
            self.cut_answers = 0;
            self.rec.emit(EventKind::Refusal { step, text: text.clone() })?;
            record_agent_usage(&self.rec, &self.prices, &req, prompt, &completion)?;
            return Ok(StepEnd::Refused(refusal_reason(&text, completion.stop_reason.as_deref())));
        }
        if completion.truncated() {
            return self.cut_answer(step, &req, prompt, &completion);
        }
        self.cut_answers = 0;

        self.rec.emit(EventKind::AssistantMessage {
            step,
            text: completion.text.clone(),
            tool_calls: completion.tool_calls.clone(),
            blocks: completion.blocks.clone(),
        })?;
        record_agent_usage(&self.rec, &self.prices, &req, prompt, &completion)?;

        if completion.tool_calls.is_empty() && completion.stop_reason.as_deref() == Some("pause_turn") {
            // A server tool paused a long turn: the provider continues it when it gets the
            // answer so far back, which the next request does. Nothing to nudge about, but
            // it still counts as an answer without progress.
            self.idle_answers += 1;
            if self.idle_answers >= MAX_IDLE_ANSWERS {
                return Ok(StepEnd::Stalled(format!("the provider paused its turn {MAX_IDLE_ANSWERS} times in a row")));
            }
            return Ok(StepEnd::Continue);
        }
        if completion.tool_calls.is_empty() {
            self.idle_answers += 1;
            if self.idle_answers >= MAX_IDLE_ANSWERS {
                return Ok(StepEnd::Stalled(format!("the model answered {MAX_IDLE_ANSWERS} times in a row without calling a tool")));
            }
            self.rec.emit(EventKind::UserMessage { text: super::prompt::NUDGE.trim().to_string() })?;
            return Ok(StepEnd::Continue);
        }
        self.idle_answers = 0;

        let mut done = None;
        for call in &completion.tool_calls {
            if let Some(summary) = self.run_tool(step, call).await? {
                done = Some(summary);
            }
        }
        if let Some(reason) = self.result_failure.take() {
            return Ok(StepEnd::Failed(reason));
        }
        if let Some(summary) = done {
            if !self.verifier.enabled {
                return Ok(StepEnd::Done(summary));
            }
            let usage = |spent: &Spent, overhead: bool| self.rec.emit_spent(&self.prices, spent, overhead);
            let verifier = super::verify::Verifier {
                rec: &self.rec,
                provider: self.provider.as_ref(),
                retry: &self.retry,
                model: &self.models.verifier,
                goal: self.verifier.goal.as_deref(),
                max_rejections: self.verifier.max_rejections,
                usage: &usage,
            };
            return Ok(match verifier.check(&summary).await? {
                super::verify::Decision::Met => StepEnd::Done(summary),
                super::verify::Decision::Continue => StepEnd::Continue,
                super::verify::Decision::Supervisor { reason, headless } => StepEnd::Verifier { reason, headless },
            });
        }
        let since = self.rec.with_state(|s| s.calls_since_progress);
        if self.stall_after > 0 && since >= self.stall_after {
            self.rec.emit(EventKind::Stall { tool_calls: since })?;
            return Ok(StepEnd::Stalled(format!("{since} tool calls in a row changed no file and no test outcome")));
        }
        Ok(StepEnd::Continue)
    }

    /// An answer cut at the output limit: its text stays in the conversation so the model
    /// sees where it stopped, its tool calls are not run, and the model is told so. The
    /// second cut in a row raises the limit once per session; past that the supervisor
    /// decides.
    fn cut_answer(&mut self, step: u64, req: &ModelRequest, prompt: u64, c: &model::Completion) -> Result<StepEnd, LogError> {
        self.cut_answers += 1;
        let in_a_row = self.cut_answers;
        let limit = req.max_tokens;
        if !c.text.is_empty() || !c.blocks.is_empty() {
            self.rec.emit(EventKind::AssistantMessage { step, text: c.text.clone(), tool_calls: Vec::new(), blocks: c.blocks.clone() })?;
        }
        record_agent_usage(&self.rec, &self.prices, req, prompt, c)?;
        let raise_to = if in_a_row >= RAISE_AFTER_CUTS { self.raised_limit(limit) } else { None };
        let give_up = in_a_row >= GIVE_UP_AFTER_CUTS || (in_a_row >= RAISE_AFTER_CUTS && raise_to.is_none());
        let dropped_calls: Vec<String> = c.tool_calls.iter().map(|t| t.name.clone()).collect();
        let notice = truncation_notice(limit, &dropped_calls, raise_to);
        self.rec.emit(EventKind::AnswerTruncated { step, max_tokens: limit, dropped_calls, in_a_row, notice })?;
        if let Some(to) = raise_to {
            self.rec.emit(EventKind::MaxTokensRaised { from: limit, to })?;
            self.max_output_tokens = to;
        }
        if give_up {
            let raised = self.rec.with_state(|s| s.max_tokens_raised);
            let reason = format!(
                "{in_a_row} answers in a row were cut at the output limit (the last at {limit} tokens; {}); \
                 cut answers are never treated as finished and their tool calls were not run",
                match raised {
                    Some(to) => format!("the limit was raised once already, to {to}"),
                    None => "the model allows no higher limit".to_string(),
                }
            );
            return Ok(StepEnd::Truncated { reason, max_tokens: limit });
        }
        Ok(StepEnd::Continue)
    }

    /// The output limit to try after repeated cuts: double, within what the model allows.
    /// None when it was raised before in this session or cannot go higher.
    fn raised_limit(&self, current: u32) -> Option<u32> {
        if self.rec.with_state(|s| s.max_tokens_raised.is_some()) {
            return None;
        }
        let ceiling = self.prices.max_output(&self.models.agent).map_or(FALLBACK_OUTPUT_CEILING, |m| u32::try_from(m).unwrap_or(u32::MAX));
        let to = current.saturating_mul(2).min(ceiling);
        (to > current).then_some(to)
    }

    /// A new run of answers starts (the supervisor resumed after cut answers).
    pub(super) fn forget_cut_answers(&mut self) {
        self.cut_answers = 0;
    }

    /// Runs one tool call and records it; returns the summary when it was `done`.
    async fn run_tool(&mut self, step: u64, call: &ToolCallRequest) -> Result<Option<String>, LogError> {
        let parsed = if call.arguments.trim().is_empty() {
            Ok(Value::Object(Default::default()))
        } else {
            serde_json::from_str::<Value>(&call.arguments)
        };
        let args = match parsed {
            Ok(v) => v,
            Err(e) => {
                self.rec.emit(EventKind::ToolCall {
                    step,
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    args: Value::String(call.arguments.clone()),
                })?;
                self.rec.emit(EventKind::ToolResult {
                    step,
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    ok: false,
                    exit_code: None,
                    duration_ms: 0,
                    output: format!(
                        "error: the arguments of this `{}` call are not valid JSON ({e}); nothing was run. \
                         Call the tool again with a JSON object as arguments.",
                        call.name
                    )
                    .into(),
                    feedback: Default::default(),
                })?;
                return Ok(None);
            }
        };
        self.rec.emit(EventKind::ToolCall { step, call_id: call.id.clone(), name: call.name.clone(), args: args.clone() })?;
        let started = std::time::Instant::now();
        if super::escalation::requested(&call.name, &args) {
            let escalation = super::escalation::Escalation {
                rec: &self.rec,
                supervision: self.supervision,
                approve_all: self.tools.sandbox.policy().approve_escalations,
                confining: self.tools.sandbox.is_confining(),
                answers: &mut self.escalations,
            };
            if let Err(denied) = escalation.decide(&args).await? {
                self.rec.emit(EventKind::ToolResult {
                    step,
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    ok: false,
                    exit_code: None,
                    duration_ms: started.elapsed().as_millis() as u64,
                    output: denied.into(),
                    feedback: Default::default(),
                })?;
                return Ok(None);
            }
            self.tools.escalation_approved = true;
        }
        self.tools.call_id = call.id.clone();
        let mut outcome = tools::execute(&mut self.tools, &call.name, &args).await;
        self.tools.escalation_approved = false;
        if outcome.done.is_some() {
            self.check_result(&args, &mut outcome);
        }
        let duration_ms = started.elapsed().as_millis() as u64;
        self.emit_changes(step, outcome.changes)?;
        if call.name == "workflow" {
            // Subagents and merges changed files outside this session's tools.
            let changes = self.tools.workspace.rescan();
            self.emit_changes(step, changes)?;
        }
        if let Some(tasks) = outcome.tasks {
            self.rec.emit(EventKind::TaskList { tasks })?;
        }
        self.rec.emit(EventKind::ToolResult {
            step,
            call_id: call.id.clone(),
            name: call.name.clone(),
            ok: outcome.ok,
            exit_code: outcome.exit_code,
            duration_ms,
            output: outcome.output.into(),
            feedback: outcome.feedback,
        })?;
        Ok(outcome.done)
    }

    /// A subagent's `done` must carry a `result` matching its schema. The first answer that
    /// does not is refused with the problems (the agent calls `done` again); the second ends
    /// the run.
    fn check_result(&mut self, args: &Value, outcome: &mut tools::ToolOutcome) {
        let Some(schema) = &self.result_schema else { return };
        let problems = match args.get("result") {
            None => vec!["`result` is missing".to_string()],
            Some(result) => crate::workflow::schema::validate(schema, result),
        };
        if problems.is_empty() {
            return;
        }
        self.invalid_results += 1;
        outcome.ok = false;
        outcome.done = None;
        let list = problems.iter().take(20).map(|p| format!("- {p}")).collect::<Vec<_>>().join("\n");
        if self.invalid_results >= MAX_INVALID_RESULTS {
            outcome.output = format!("error: `result` does not match the schema again:\n{list}");
            self.result_failure =
                Some(format!("the answer did not match its schema {MAX_INVALID_RESULTS} times; the last problems:\n{list}"));
        } else {
            outcome.output = format!(
                "error: `result` does not match the schema it must follow:\n{list}\nCall `done` again with a corrected `result`; nothing else is needed."
            );
        }
    }

    /// Runs calls of the `workflow` tool that a killed process left without a result: the
    /// workflow resumes from its journal, so re-running it redoes no finished agent.
    pub(super) async fn rerun_workflow_calls(&mut self, calls: &[ToolCallRequest]) -> Result<(), LogError> {
        let step = self.rec.with_state(|s| s.step);
        for call in calls {
            let args = serde_json::from_str::<Value>(&call.arguments).unwrap_or(Value::Null);
            let started = std::time::Instant::now();
            self.tools.call_id = call.id.clone();
            let outcome = tools::execute(&mut self.tools, &call.name, &args).await;
            let changes = self.tools.workspace.rescan();
            self.emit_changes(step, changes)?;
            self.rec.emit(EventKind::ToolResult {
                step,
                call_id: call.id.clone(),
                name: call.name.clone(),
                ok: outcome.ok,
                exit_code: outcome.exit_code,
                duration_ms: started.elapsed().as_millis() as u64,
                output: outcome.output.into(),
                feedback: outcome.feedback,
            })?;
        }
        Ok(())
    }

    fn emit_changes(&self, step: u64, changes: Vec<crate::workspace::FileChange>) -> Result<(), LogError> {
        for c in changes {
            self.rec.emit(EventKind::FileChanged { step, path: c.path, before: c.before, after: c.after, diff: c.diff })?;
        }
        Ok(())
    }

    /// Re-reads the workspace after something other than the agent changed it (a rollback),
    /// without recording those changes as the agent's.
    pub(super) fn forget_workspace_changes(&mut self) {
        let _ = self.tools.workspace.rescan();
    }

    /// Gives every tool call of the last answer that has no result yet a result saying why, so
    /// the conversation stays valid for any later request (providers reject unanswered calls).
    pub(super) fn close_open_calls(&mut self, why: &str) -> Result<(), LogError> {
        self.close_open_calls_except(why, &[])
    }

    /// As [`Self::close_open_calls`], leaving the calls in `keep` open (to be run again).
    pub(super) fn close_open_calls_except(&mut self, why: &str, keep: &[String]) -> Result<(), LogError> {
        let mut open = self.rec.with_state(open_calls);
        open.retain(|c| !keep.contains(&c.id));
        let step = self.rec.with_state(|s| s.step);
        for call in open {
            self.rec.emit(EventKind::ToolResult {
                step,
                call_id: call.id,
                name: call.name,
                ok: false,
                exit_code: None,
                duration_ms: 0,
                output: format!("interrupted: {why}").into(),
                feedback: Default::default(),
            })?;
        }
        // Files the interrupted call changed are still changes the session made.
        let changes = self.tools.workspace.rescan();
        self.emit_changes(step, changes)
    }
}

/// What the model is told after an answer cut at the output limit.
fn truncation_notice(limit: u32, dropped_calls: &[String], raised_to: Option<u32>) -> String {
    let mut s = format!("[endure] Your previous answer was cut off at the output limit of {limit} tokens, so it is incomplete");
    if !dropped_calls.is_empty() {
        let names: Vec<String> = dropped_calls.iter().map(|n| format!("`{n}`")).collect();
        s.push_str(&format!(". Its tool call{} {} did not run", if names.len() == 1 { "" } else { "s" }, names.join(", ")));
    }
    s.push_str(
        ". Continue with a smaller step: one or two tool calls per answer, large files written in several smaller \
         edits, brief explanations.",
    );
    if let Some(to) = raised_to {
        s.push_str(&format!(" The output limit is now {to} tokens."));
    }
    s
}

/// Why the run stops (headless) or pauses after a refusal.
fn refusal_reason(text: &str, stop_reason: Option<&str>) -> String {
    let text = text.trim();
    match (text.is_empty(), stop_reason) {
        (false, _) => format!("the model refused: {text}"),
        (true, Some(r)) if r != "refusal" => format!("the model refused without saying why (stop reason `{r}`)"),
        (true, _) => "the model refused without saying why".to_string(),
    }
}

/// Tool calls of the last assistant message that have no result.
pub(crate) fn open_calls(s: &crate::session::SessionState) -> Vec<ToolCallRequest> {
    let Some(pos) = s.messages.iter().rposition(|m| matches!(m, Message::Assistant { .. })) else {
        return Vec::new();
    };
    let Message::Assistant { tool_calls, .. } = &s.messages[pos] else {
        return Vec::new();
    };
    let answered: Vec<&str> = s
        .messages
        .since(pos + 1)
        .filter_map(|m| match m {
            Message::Tool { call_id, .. } => Some(call_id.as_str()),
            _ => None,
        })
        .collect();
    tool_calls.iter().filter(|c| !answered.contains(&c.id.as_str())).cloned().collect()
}

/// Records the reasoning that came with an answer, before the answer itself.
fn record_reasoning(rec: &SharedRecorder, step: u64, c: &model::Completion) -> Result<(), LogError> {
    let redacted = c.blocks.iter().filter(|b| crate::protocol::block_type(b) == "redacted_thinking").count();
    if c.reasoning.trim().is_empty() && redacted == 0 {
        return Ok(());
    }
    rec.emit(EventKind::Reasoning { step, text: c.reasoning.clone(), redacted: u32::try_from(redacted).unwrap_or(u32::MAX) })
}

/// Records the agent's own answer's usage, with its prompt already estimated (incrementally:
/// estimating the whole conversation again would make every step cost more than the last).
fn record_agent_usage(
    rec: &SharedRecorder,
    prices: &ModelTable,
    req: &ModelRequest,
    prompt: u64,
    c: &model::Completion,
) -> Result<(), LogError> {
    rec.emit_spent(prices, &Spent::with_prompt(Role::Agent, &req.model, || prompt, c), false)
}
