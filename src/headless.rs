//! Headless frontend for `endure exec`: a readable progress log on stderr, and the events as
//! JSONL on stdout with `--json`. It is just another consumer of the event stream.

use crate::printable::fmt_ms;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use tokio::sync::broadcast::{self, error::RecvError};

use crate::protocol::{Event, EventKind, opaque_block_summary, tool_target};

pub struct Headless {
    json: bool,
    /// Folded from the events, for the closing summary.
    state: crate::session::SessionState,
    /// Last persisted event printed to stdout, so a lagging receiver can catch up from the log.
    last_seq: Option<u64>,
    /// Tool call targets by call id, for the result line.
    calls: HashMap<String, (String, String)>,
    /// Progress lines go to stdout instead of stderr (`endure logs`).
    progress_on_stdout: bool,
}

impl Headless {
    pub fn new(json: bool) -> Self {
        Headless {
            json,
            state: crate::session::SessionState::counters_only(),
            last_seq: None,
            calls: HashMap::new(),
            progress_on_stdout: false,
        }
    }

    /// Progress lines on stdout: for `endure logs`, whose output is the lines themselves.
    pub fn progress_on_stdout(mut self) -> Self {
        self.progress_on_stdout = true;
        self
    }

    /// Consumes events until the channel closes (the runtime finished).
    pub async fn consume(&mut self, mut rx: broadcast::Receiver<Event>, log_path: &Path) {
        let mut lagged = false;
        loop {
            match rx.recv().await {
                Ok(ev) => self.on_event(&ev),
                Err(RecvError::Lagged(_)) => {
                    lagged = true;
                    self.catch_up(log_path);
                }
                Err(RecvError::Closed) => break,
            }
        }
        // A lag near the end could leave a gap that only the log can fill; without one,
        // re-reading a long session's log would only cost time and memory.
        if lagged {
            self.catch_up(log_path);
        }
    }

    /// Prints what the log holds beyond what was printed already.
    pub fn catch_up(&mut self, log_path: &Path) {
        if let Ok(read) = crate::session::read_log(log_path) {
            // on_event skips what was already printed.
            for ev in &read.events {
                self.on_event(ev);
            }
        }
    }

    pub fn on_event(&mut self, ev: &Event) {
        if ev.kind.is_live_only() {
            return;
        }
        if self.last_seq.is_some_and(|s| ev.seq <= s) {
            return;
        }
        self.last_seq = Some(ev.seq);
        self.state.apply(ev);
        if self.json {
            let mut out = std::io::stdout().lock();
            // A closed stdout (piped into `head`) must not kill the run.
            if let Ok(line) = serde_json::to_string(ev) {
                let _ = writeln!(out, "{line}");
            }
        }
        if let Some(line) = self.progress_line(ev) {
            // Tool arguments, model text and errors come from outside: nothing in them may
            // drive the terminal.
            // A closed terminal (SIGHUP) or pipe must not panic the run on its way out.
            let line = crate::printable::visible(&line);
            if self.progress_on_stdout {
                let _ = writeln!(std::io::stdout(), "{line}");
            } else {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }

    fn progress_line(&mut self, ev: &Event) -> Option<String> {
        match &ev.kind {
            EventKind::SessionStarted { info } => Some(format!(
                "endure {}  session {}\n  workspace {}\n  provider {} · model {}{}",
                info.endure_version,
                info.session_id,
                info.workspace,
                info.provider,
                info.models.agent,
                info.sandbox.as_ref().map(|s| format!("\n  {}", crate::sandbox::describe(s))).unwrap_or_default()
            )),
            EventKind::ProcessStarted { id, command } => {
                Some(format!("           background process {id} started: {}", truncate(command, 120)))
            }
            EventKind::ProcessExited { id, exit_code, reason } => Some(format!(
                "           background process {id} {reason}{}",
                exit_code.map(|c| format!(" (exit code {c})")).unwrap_or_default()
            )),
            EventKind::EscalationRequested { id, command, justification } => {
                Some(format!("           escalation {id} requested: {} — {}", truncate(command, 120), truncate(justification, 160)))
            }
            EventKind::EscalationResolved { id, approved, by, note } => Some(format!(
                "           escalation {id} {} ({by}){}",
                if *approved { "approved" } else { "denied" },
                note.as_deref().map(|n| format!(": {}", truncate(n, 160))).unwrap_or_default()
            )),
            EventKind::McpServerStarted { name, transport, tools, restarted } => Some(format!(
                "           mcp server {name} {} ({transport}, {} tool{})",
                if *restarted { "restarted" } else { "started" },
                tools.len(),
                if tools.len() == 1 { "" } else { "s" }
            )),
            EventKind::McpServerFailed { name, reason } => {
                Some(format!("           mcp server {name} FAILED: {}", truncate(&reason.replace('\n', " | "), 400)))
            }
            EventKind::McpServerExited { name, reason } => {
                Some(format!("           mcp server {name} exited: {}", truncate(&reason.replace('\n', " | "), 300)))
            }
            EventKind::ToolCall { call_id, name, args, .. } => {
                self.calls.insert(call_id.clone(), (name.clone(), tool_target(name, args)));
                None
            }
            EventKind::ToolResult { step, call_id, name, ok, exit_code, duration_ms, feedback, output } => {
                let (_, target) = self.calls.remove(call_id).unwrap_or_else(|| (name.clone(), String::new()));
                let mark = if *ok { "ok" } else { "FAILED" };
                let mut line = format!("step {step:>3}  {name:<10} {target}  {mark}");
                if let Some(code) = exit_code.filter(|c| *c != 0) {
                    line.push_str(&format!(" (exit {code})"));
                }
                if let Some(t) = feedback.tests {
                    line.push_str(&format!("  tests: {} passed, {} failed", t.passed, t.failed));
                }
                line.push_str(&format!("  {}", fmt_ms(*duration_ms)));
                if !*ok && exit_code.is_none() {
                    let first = output.lines().next().unwrap_or("");
                    line.push_str(&format!("\n           {}", truncate(first, 160)));
                }
                Some(line)
            }
            EventKind::FileChanged { path, before, after, .. } => Some(format!(
                "           {} {path}",
                match (before, after) {
                    (None, _) => "created",
                    (_, None) => "deleted",
                    _ => "modified",
                }
            )),
            EventKind::TaskList { tasks } => {
                let done = tasks.iter().filter(|t| t.status == crate::protocol::TaskStatus::Done).count();
                Some(format!("           tasks: {done}/{} done", tasks.len()))
            }
            EventKind::ModelRetry { attempt, delay_ms, reason, .. } => {
                Some(format!("           retry {attempt} in {}: {reason}", fmt_ms(*delay_ms)))
            }
            EventKind::CorrectionQueued { text, .. } => Some(format!("           correction queued: {}", truncate(text, 120))),
            EventKind::CorrectionWithdrawn { id } => Some(format!("           correction {id} withdrawn before delivery")),
            EventKind::Forked { parent, at, restored, removed, .. } => {
                Some(format!("           forked from session {parent} at checkpoint {at} ({restored} files restored, {removed} removed)"))
            }
            EventKind::MemoryResolved { id, accept } => {
                Some(format!("           MEMORY.md proposal {id} {}", if *accept { "accepted" } else { "rejected: the file is unchanged" }))
            }
            EventKind::CorrectionDelivered { step, .. } => Some(format!("           correction delivered at step {step}")),
            EventKind::BudgetWarning { budget, used, limit } => {
                Some(format!("warning: {} budget at {:.0}% ({used:.2} of {limit:.2})", budget.as_str(), used / limit * 100.0))
            }
            EventKind::BudgetStop { budget, .. } => Some(format!("{} budget reached", budget.as_str())),
            EventKind::Stall { tool_calls } => Some(format!("stall: {tool_calls} tool calls in a row changed no file and no test outcome")),
            EventKind::Warning { message } => Some(format!("warning: {message}")),
            EventKind::CheckpointSaved { id, snapshot_error: Some(why), .. } => {
                Some(format!("warning: checkpoint {id} has no workspace snapshot, so it cannot be rolled back to: {why}"))
            }
            EventKind::Paused { .. } => Some("paused".into()),
            EventKind::Resumed => Some("resumed".into()),
            EventKind::SessionFinished { outcome, reason } => {
                let s = &self.state;
                let mut line = format!("finished: {} — {}", outcome.as_str(), truncate(reason, 400));
                line.push_str(&format!(
                    "\nendurance: {} of {} steps without a supervisor intervention ({} intervention{})",
                    s.endurance(),
                    s.step,
                    s.interventions.len(),
                    if s.interventions.len() == 1 { "" } else { "s" }
                ));
                if s.overhead.cost_usd > 0.0 {
                    line.push_str(&format!(
                        "\ncost: {}, of which {} Max Mode overhead",
                        crate::printable::money(s.usage.cost_usd),
                        crate::printable::money(s.overhead.cost_usd)
                    ));
                }
                Some(line)
            }
            EventKind::CandidatePicked { step, pick, by } => {
                Some(format!("step {step:>3}  max mode: candidate {pick} picked ({by:?})").to_lowercase())
            }
            EventKind::CandidateFailed { index, reason, .. } => {
                Some(format!("           candidate {index} failed: {}", truncate(reason, 160)))
            }
            EventKind::VerifierVerdict { attempt, met, missing, .. } => Some(if *met {
                format!("verifier (attempt {attempt}): goal met")
            } else {
                format!("verifier (attempt {attempt}): not met — missing: {}", truncate(&missing.join("; "), 300))
            }),
            EventKind::Rollover { cycle, checkpoint, window_tokens, dropped, review, .. } => {
                let mut line = match dropped {
                    Some(d) => format!(
                        "rollover: context rebuilt: {} messages from steps {}–{} ({} tokens) summarized into checkpoint {}",
                        d.messages,
                        d.from_step,
                        d.to_step,
                        d.tokens,
                        checkpoint.as_deref().unwrap_or("(none)")
                    ),
                    None => format!("rollover: context rebuilt from checkpoint {}", checkpoint.as_deref().unwrap_or("(none)")),
                };
                line.push_str(&format!("; cycle {cycle} starts with {window_tokens} tokens"));
                if review.as_ref().is_some_and(|r| r.forced) {
                    line.push_str(" (applied without review: the window reached 100% of the budget)");
                }
                Some(line)
            }
            EventKind::RebuildFailed { reason, .. } => Some(format!("error: {reason}")),
            EventKind::CheckpointFlagged { id, flags } => Some(
                flags
                    .iter()
                    .map(|f| format!("checkpoint {id} flagged: {} — {}", f.kind, truncate(&f.detail, 300)))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            EventKind::AssistantMessage { text, tool_calls, blocks, .. } => {
                let mut lines: Vec<String> = crate::protocol::server_tool_blocks(blocks)
                    .map(|b| format!("           server tool: {}", opaque_block_summary(b)))
                    .collect();
                if tool_calls.is_empty() && !text.is_empty() {
                    lines.push(format!("           said: {}", truncate(text.lines().next().unwrap_or(""), 160)));
                }
                (!lines.is_empty()).then(|| lines.join("\n"))
            }
            EventKind::Refusal { step, text } => Some(format!(
                "step {step:>3}  the model refused: {}",
                if text.trim().is_empty() { "(no reason given)".to_string() } else { truncate(text.trim(), 300) }
            )),
            EventKind::AnswerTruncated { step, max_tokens, dropped_calls, in_a_row, .. } => Some(format!(
                "step {step:>3}  answer cut at the output limit of {max_tokens} tokens ({in_a_row} in a row){}",
                if dropped_calls.is_empty() { String::new() } else { format!("; not run: {}", dropped_calls.join(", ")) }
            )),
            EventKind::MaxTokensRaised { from, to } => Some(format!("           output limit raised from {from} to {to} tokens")),
            EventKind::Reasoning { text, redacted, .. } => {
                let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
                let mut line = format!("           reasoned: {}", truncate(first, 120));
                if *redacted > 0 {
                    line.push_str(&format!(" ({redacted} block{} encrypted)", if *redacted == 1 { "" } else { "s" }));
                }
                Some(line)
            }
            EventKind::CommandReceived { source, command } => {
                Some(format!("           command {} from {}", command.name(), truncate(source, 80)))
            }
            EventKind::AgentStep { agent, step, action, .. } => {
                Some(format!("           agent {agent} step {step:>3}  {}", truncate(action, 120)))
            }
            kind if kind.is_workflow() => crate::workflow::describe::milestone(kind)
                .map(|(failed, line)| if failed { format!("workflow: {line}") } else { format!("           {line}") }),
            _ => None,
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n).collect::<String>()) }
}
