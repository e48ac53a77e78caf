//! The run loop: step boundaries, commands, pauses, budgets, corrections and cycles.
//!
//! Commands are read while a step runs, so `Inject` and `Pause` are queued immediately and
//! take effect at the next boundary, and `Stop` drops the step in flight (which kills a
//! running command's process group). The time budget is watched while a step runs too: when
//! it runs out, the step is dropped the same way. Rollback and rollover also wait for a
//! boundary, or run at once while the session is paused.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::budget::BudgetReading;
use super::cycles::{Cycles, WriterSetup, rollback_to};
use super::escalation::EscalationAnswer;
use super::rebuild::{Review, ReviewStep};
use super::recorder::SharedRecorder;
use super::step::{StepEnd, StepRunner, open_calls};
use super::{AgentConfig, RunResult, Supervision};
use crate::mcp::McpServers;
use crate::memory::window::Adjustments;
use crate::protocol::{
    BudgetKind, Command, CommandEnvelope, EventKind, Outcome, PauseReason, RebuildReview, Role, RolloverReason, SessionInfo,
};
use crate::sandbox::{Sandbox, SandboxMode};
use crate::session::LogError;
use crate::tools::process::Processes;

/// Flags set by commands between boundaries.
#[derive(Default)]
struct Control {
    pause_requested: bool,
    stop: bool,
    /// Budgets the supervisor chose to run past by resuming after a budget pause.
    waived: Vec<BudgetKind>,
    warned: Vec<BudgetKind>,
    /// A rollback the supervisor asked for, done at the next boundary.
    rollback: Option<String>,
    /// A manual rollover the supervisor asked for.
    rollover: bool,
    /// The workspace whose MEMORY.md the supervisor's memory commands change.
    workspace: PathBuf,
    /// MEMORY.md proposals waiting for the supervisor: (id, source, content).
    proposals: Vec<(u64, String, String)>,
    /// Where Max Mode picks by the supervisor go: the step waiting on them.
    pick_tx: Option<mpsc::UnboundedSender<(u32, Option<String>)>>,
    /// Where the supervisor's answers to escalations go: the step waiting on them.
    escalation_tx: Option<mpsc::UnboundedSender<EscalationAnswer>>,
    /// The supervisor's answer to a verdict: accept, or reject with a note.
    verdict_override: Option<(bool, Option<String>, String)>,
    /// Max Mode on (Some(n)) or off (None) from the next step.
    max_mode: Option<Option<u32>>,
    review_picks: Option<bool>,
    /// Rollovers propose their window and wait for the supervisor (supervised runs only).
    review_rebuilds: bool,
    /// Runs the session's workflows; commands for a running one go there.
    workflow: Option<Arc<crate::workflow::Parent>>,
}

impl Control {
    fn handle(&mut self, rec: &SharedRecorder, env: CommandEnvelope) -> Result<(), LogError> {
        let CommandEnvelope { id: cmd, command } = env;
        match command {
            // A running workflow pauses and resumes with the session; the session itself
            // pauses at the boundary after the workflow call.
            Command::Pause => {
                self.pause_requested = true;
                if let Some(w) = &self.workflow {
                    w.forward(Command::Pause, Some(&cmd));
                }
            }
            Command::Resume => {
                self.pause_requested = false;
                if let Some(w) = &self.workflow {
                    w.forward(Command::Resume, Some(&cmd));
                }
            }
            Command::ToAgent { target, command } => {
                let sent = self.workflow.as_ref().is_some_and(|w| w.forward(Command::ToAgent { target, command }, Some(&cmd)));
                if !sent {
                    rec.emit_for(
                        Some(&cmd),
                        EventKind::Warning { message: format!("no workflow is running, so the command for agent {target} was dropped") },
                    )?;
                }
            }
            Command::Stop => self.stop = true,
            Command::Inject(text) => {
                let text = text.trim().to_string();
                if !text.is_empty() {
                    let id = rec.with_state(|s| s.next_correction_id);
                    rec.emit_for(Some(&cmd), EventKind::CorrectionQueued { id, text })?;
                }
            }
            Command::WithdrawCorrection { id } => {
                if rec.with_state(|s| s.pending_corrections.iter().any(|(i, _)| *i == id)) {
                    rec.emit_for(Some(&cmd), EventKind::CorrectionWithdrawn { id })?;
                } else {
                    rec.emit_for(
                        Some(&cmd),
                        EventKind::Warning { message: format!("correction {id} cannot be withdrawn: it was delivered already") },
                    )?;
                }
            }
            // The task is already set; a second Start is a frontend bug, not worth failing over.
            Command::Start(_) => {}
            Command::Rollback(id) => self.rollback = Some(id),
            Command::Rollover => self.rollover = true,
            Command::ResolveMemory { id, accept } => match self.proposals.iter().position(|(p, _, _)| *p == id) {
                Some(pos) => {
                    let (_, source, content) = self.proposals.remove(pos);
                    super::upkeep::resolve_proposal(&self.workspace, rec, &cmd, id, &source, &content, accept)?;
                }
                None => rec.emit_for(
                    Some(&cmd),
                    EventKind::Warning { message: format!("MEMORY.md proposal {id} is not waiting for an answer") },
                )?,
            },
            Command::SaveMemory { text, base_hash } => {
                if let Some((id, content)) = super::upkeep::save_memory(&self.workspace, rec, &cmd, &text, &base_hash)? {
                    self.proposals.push((id, "supervisor".into(), content));
                }
            }
            Command::PickCandidate(i) => {
                if let Some(tx) = &self.pick_tx {
                    let _ = tx.send((i, Some(cmd)));
                }
            }
            Command::OverrideVerdict { accept, note } => self.verdict_override = Some((accept, note, cmd)),
            Command::SetMaxMode(n) => self.max_mode = Some(n),
            Command::SetReviewPicks(on) => self.review_picks = Some(on),
            Command::ResolveEscalation { id, approve, note } => {
                if let Some(tx) = &self.escalation_tx {
                    let _ = tx.send(EscalationAnswer { id, approve, note, command_id: Some(cmd) });
                }
            }
            Command::SetReviewRebuilds(on) => {
                if on != self.review_rebuilds {
                    self.review_rebuilds = on;
                    rec.emit_for(Some(&cmd), EventKind::RebuildReviewChanged { on })?;
                }
            }
            // A review that is no longer waiting (approved, vetoed) ignores late edits.
            Command::ReviewRebuild { .. } => {}
            Command::ListForks => {
                let me = rec.with_state(|s| s.info.as_ref().map(|i| i.session_id.clone())).unwrap_or_default();
                rec.emit_for(Some(&cmd), EventKind::ForksFound { forks: super::fork::forks_of(&self.workspace, &me) })?;
            }
        }
        Ok(())
    }
}

/// How a rollover ended.
enum RollEnd {
    Done,
    /// The supervisor stopped the session while the rebuild waited for review.
    Stopped,
    /// The window could not be built; the run is still in the old one.
    Failed(String),
}

pub(super) async fn run(
    cfg: AgentConfig,
    session_id: String,
    log_path: PathBuf,
    rec: SharedRecorder,
    commands: mpsc::UnboundedReceiver<CommandEnvelope>,
) -> RunResult {
    let cfg_workspace = cfg.workspace.clone();
    let mut run = Run {
        cfg,
        rec: rec.clone(),
        commands,
        ctl: Control { workspace: cfg_workspace, ..Control::default() },
        log_path,
        accepted: None,
        sandbox: None,
        processes: None,
        mcp: None,
        workflow: None,
    };
    let (outcome, reason) = match run.run(session_id).await {
        Ok(r) => r,
        Err(e) => {
            let reason = e.to_string();
            if let Some(p) = &run.processes {
                p.shutdown("session ended");
            }
            if let Some(m) = &run.mcp {
                m.shutdown("session ended");
            }
            // The log itself may be what failed; try once to record the end anyway.
            let _ = rec.emit(EventKind::SessionFinished { outcome: Outcome::Failed, reason: reason.clone() });
            (Outcome::Failed, reason)
        }
    };
    RunResult { outcome, reason, state: Box::new(rec.state()) }
}

type Finish = Result<(Outcome, String), LogError>;

/// How a step in flight ended.
enum InFlight {
    Ended(Result<StepEnd, LogError>),
    Stopped,
    OutOfTime,
    /// The supervisor paused while the model was still answering and no tool of the step
    /// had started: the request was cancelled, and the step is asked again on resume.
    Paused,
}

/// What the model is told when the supervisor resumes after its refusal without a correction.
const RESUMED_AFTER_REFUSAL: &str = "[endure] The supervisor resumed the session after your refusal. Continue with the \
     task if you can; if part of it is something you will not do, say which part and do the rest.";

/// Waits until `deadline`, or forever without one.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

struct Run {
    cfg: AgentConfig,
    rec: SharedRecorder,
    commands: mpsc::UnboundedReceiver<CommandEnvelope>,
    ctl: Control,
    log_path: PathBuf,
    /// Set when the supervisor accepted the work during a pause: the summary to finish with.
    accepted: Option<String>,
    sandbox: Option<Arc<Sandbox>>,
    /// Background processes, ended before the session records its end.
    processes: Option<Arc<Processes>>,
    /// MCP servers, stopped before the session records its end.
    mcp: Option<Arc<McpServers>>,
    /// Runs the `workflow` tool; None for subagents.
    workflow: Option<Arc<crate::workflow::Parent>>,
}

impl Run {
    async fn run(&mut self, session_id: String) -> Finish {
        let resuming = self.cfg.resume.clone();
        let (sandbox, sandbox_warnings) = Sandbox::start(&self.cfg.sandbox, &self.cfg.workspace, &session_id);
        let sandbox = Arc::new(sandbox);
        self.sandbox = Some(sandbox.clone());
        let session_dir = self.log_path.parent().map(PathBuf::from).unwrap_or_default();
        if self.cfg.child.is_none() {
            let parent = crate::workflow::Parent::new(&self.cfg, &session_id, &session_dir, self.rec.clone());
            self.ctl.workflow = Some(parent.clone());
            self.workflow = Some(parent);
        }
        if resuming.is_none() && !self.start_session(session_id, &sandbox).await? {
            return Ok((Outcome::Stopped, "no task was given".into()));
        }
        let rec = self.rec.clone();
        let first_id = self.rec.with_state(|s| s.last_process_id) + 1;
        let processes = Arc::new(Processes::new(
            first_id,
            Some(Arc::new(move |k| {
                // A log that cannot be written fails the session at its next event anyway.
                let _ = rec.emit(k);
            })),
        ));
        self.processes = Some(processes.clone());
        let rec = self.rec.clone();
        let mcp = Arc::new(McpServers::new(
            self.cfg.mcp.clone(),
            sandbox.clone(),
            Arc::new(move |k| {
                let _ = rec.emit(k);
            }),
        ));
        self.mcp = Some(mcp.clone());
        let started = tokio::time::Instant::now();
        let (pick_tx, pick_rx) = mpsc::unbounded_channel();
        self.ctl.pick_tx = Some(pick_tx);
        let (escalation_tx, escalation_rx) = mpsc::unbounded_channel();
        self.ctl.escalation_tx = Some(escalation_tx);
        let host = self.workflow.clone().map(|p| Arc::new(crate::workflow::ToolHost::new(p)));
        let mut steps = match StepRunner::new(
            &self.cfg,
            self.rec.clone(),
            pick_rx,
            escalation_rx,
            super::step::StepServices { sandbox: sandbox.clone(), processes, mcp, workflow: host },
        ) {
            Ok(r) => r,
            Err(reason) => return self.finish(Outcome::Failed, reason),
        };
        let budget =
            self.rec.with_state(|s| s.info.as_ref().map(|i| i.context_budget).filter(|b| *b > 0)).unwrap_or(self.cfg.context_budget);
        let writer = WriterSetup {
            provider: self.cfg.provider.clone(),
            model: self.cfg.models.writer.clone(),
            retry: self.cfg.retry.clone(),
            prices: self.cfg.prices.clone(),
            max_output_tokens: self.cfg.max_output_tokens,
        };
        let mut cycles = Cycles::new(&self.cfg.workspace, &session_dir, budget, &self.cfg.cycles, writer, &self.rec)?;
        self.start_review_setting()?;
        let mut rerun = Vec::new();
        match resuming {
            // A subagent shares its parent's snapshot and memory upkeep.
            None if self.cfg.child.is_some() => {}
            None => {
                if let Ok(id) = cycles.snapshot(&self.rec, "session start")? {
                    self.rec.emit(EventKind::WorkspaceSnapshot { id, label: "session start".into() })?;
                }
                match self.cfg.fork.take() {
                    Some(fork) => self.rec.emit(fork.event())?,
                    // A fork's memory upkeep is its parent workspace's.
                    None => self.maintain_memory().await?,
                }
                if self.cfg.max_mode.candidates.is_some() {
                    self.rec.emit(EventKind::MaxModeChanged {
                        candidates: self.cfg.max_mode.candidates,
                        review_picks: self.cfg.max_mode.review_picks,
                    })?;
                }
            }
            Some(from) => {
                rerun = self.resume(&mut steps, &sandbox)?;
                if let Some(at) = from.at {
                    self.ctl.rollback = Some(at);
                }
            }
        }
        // The Attempts panel shows forks the runtime reads for it; a new session has none.
        if self.cfg.resume.is_some() && self.cfg.child.is_none() {
            let me = self.rec.with_state(|s| s.info.as_ref().map(|i| i.session_id.clone())).unwrap_or_default();
            let forks = super::fork::forks_of(&self.cfg.workspace, &me);
            if !forks.is_empty() {
                self.rec.emit(EventKind::ForksFound { forks })?;
            }
        }
        for w in sandbox_warnings {
            self.rec.emit(EventKind::Warning { message: w })?;
        }
        if self.cfg.sandbox.mode == SandboxMode::Require && !sandbox.info().enforced {
            let missing = sandbox.info().missing.join(", ");
            return self.finish(Outcome::Failed, format!("--sandbox require: the sandbox cannot be enforced here (missing: {missing})"));
        }
        if !rerun.is_empty() {
            steps.rerun_workflow_calls(&rerun).await?;
        }

        // A step whose request a pause cancelled, asked again.
        let mut retry: Option<u64> = None;
        loop {
            // Step boundary: take everything the supervisor sent since the last one.
            while let Ok(cmd) = self.commands.try_recv() {
                self.ctl.handle(&self.rec, cmd)?;
            }
            if self.ctl.stop {
                return self.finish(Outcome::Stopped, "stopped by the supervisor".into());
            }
            self.apply_max_mode(&mut steps)?;
            if let Some(summary) = self.apply_verdict_override()? {
                self.accepted = Some(summary);
            }
            if let Some(summary) = self.accepted.take() {
                return self.finish(Outcome::Done, summary);
            }
            // A checkpoint that finished meanwhile is recorded before any pause, so that the
            // supervisor can see it and roll back to it.
            cycles.take_in_finished(&self.rec).await?;
            if self.ctl.rollback.is_some() {
                self.do_rollback(&mut cycles, &mut steps, budget)?;
                if self.cfg.supervision == Supervision::Supervised {
                    // The supervisor rolled back to correct something: wait for them.
                    self.ctl.pause_requested = true;
                }
            }
            if self.ctl.pause_requested && !self.wait_while_paused(PauseReason::Supervisor, &mut cycles, &mut steps, budget).await? {
                return self.finish(Outcome::Stopped, "stopped by the supervisor".into());
            }
            if let Some(result) = self.check_budgets(started.elapsed(), &mut cycles, &mut steps, budget).await? {
                return Ok(result);
            }
            // The supervisor may have accepted the work during a pause just now.
            if let Some(summary) = self.accepted.take() {
                return self.finish(Outcome::Done, summary);
            }
            // Corrections go in before a rollover, so the rebuilt window's block of the user's
            // words already holds every one the supervisor sent.
            self.deliver_corrections(retry)?;
            let roll = cycles.on_boundary(&self.rec).await?;
            let manual = std::mem::take(&mut self.ctl.rollover);
            if roll.is_some() || manual {
                let reason = if roll.is_some() { RolloverReason::Threshold } else { RolloverReason::Supervisor };
                match self.roll_over(&mut cycles, reason, roll.is_some_and(|r| r.forced)).await? {
                    RollEnd::Done => {}
                    RollEnd::Stopped => return self.finish(Outcome::Stopped, "stopped by the supervisor".into()),
                    RollEnd::Failed(reason) => match self.cfg.supervision {
                        Supervision::Headless => return self.finish(Outcome::Failed, reason),
                        Supervision::Supervised => {
                            if !self.wait_while_paused(PauseReason::Rebuild { reason }, &mut cycles, &mut steps, budget).await? {
                                return self.finish(Outcome::Stopped, "stopped by the supervisor".into());
                            }
                        }
                    },
                }
            }
            // And those sent while the rollover ran (or waited for review) before the step.
            self.deliver_corrections(retry)?;

            let step = match retry.take() {
                Some(step) => step,
                None => {
                    let step = self.rec.with_state(|s| s.step) + 1;
                    self.rec.emit(EventKind::StepStarted { step })?;
                    step
                }
            };
            // Until an answer is recorded no tool of this step can have started.
            let answered_before = self.rec.with_state(|s| s.messages_answered);
            let time_limit = self.cfg.budgets.max_time.filter(|_| !self.ctl.waived.contains(&BudgetKind::Time));
            let outcome = {
                let fut = steps.step(step);
                tokio::pin!(fut);
                let out_of_time = until(time_limit.map(|t| started + t));
                tokio::pin!(out_of_time);
                loop {
                    tokio::select! {
                        end = &mut fut => break InFlight::Ended(end),
                        _ = &mut out_of_time => break InFlight::OutOfTime,
                        cmd = self.commands.recv() => match cmd {
                            Some(CommandEnvelope { command: Command::Stop, .. }) | None => {
                                // A running workflow stops its subagents first, so that their
                                // logs end with their own `session_finished`.
                                if let Some(w) = &self.workflow {
                                    w.stop_and_wait(Duration::from_secs(20)).await;
                                }
                                break InFlight::Stopped;
                            }
                            Some(c) => {
                                let pause = c.command == Command::Pause;
                                self.ctl.handle(&self.rec, c)?;
                                if pause && self.rec.with_state(|s| s.messages_answered) == answered_before {
                                    break InFlight::Paused;
                                }
                            }
                        },
                    }
                }
            };
            // Leaving the block dropped the step: a model call is cancelled and a running
            // command's process group killed.
            let end = match outcome {
                InFlight::Ended(end) => end?,
                InFlight::Stopped => {
                    steps.close_open_calls("the supervisor stopped the session while this call was running; its outcome is unknown")?;
                    return self.finish(Outcome::Stopped, "stopped by the supervisor".into());
                }
                InFlight::Paused => {
                    // Dropping the step cancelled the request; nothing of it was recorded, so
                    // the same step is asked again, and a scripted model repeats its answer.
                    let answers = self.rec.with_state(|s| s.messages_answered.saturating_sub(s.answers_reasked));
                    self.cfg.provider.resume_at(Role::Agent, answers as usize);
                    self.rec.emit(EventKind::Warning {
                        message: format!(
                            "paused while the model was answering step {step}: the request was cancelled and is asked again on resume"
                        ),
                    })?;
                    if !self.wait_while_paused(PauseReason::Supervisor, &mut cycles, &mut steps, budget).await? {
                        return self.finish(Outcome::Stopped, "stopped by the supervisor".into());
                    }
                    retry = Some(step);
                    continue;
                }
                InFlight::OutOfTime => {
                    steps.close_open_calls(
                        "the time budget ran out while this call was running; it was stopped and its outcome is unknown",
                    )?;
                    // The timer fired at the limit, so the reading says exhausted even if the
                    // clock is read a hair early.
                    let elapsed = started.elapsed().max(time_limit.unwrap_or_default());
                    if let Some(result) = self.check_budgets(elapsed, &mut cycles, &mut steps, budget).await? {
                        return Ok(result);
                    }
                    continue;
                }
            };
            self.rec.emit(EventKind::StepFinished { step })?;
            match end {
                StepEnd::Continue => {}
                StepEnd::Done(summary) => {
                    cycles.drain(&self.rec).await?;
                    return self.finish(Outcome::Done, summary);
                }
                StepEnd::Failed(reason) => return self.finish(Outcome::Failed, reason),
                StepEnd::Verifier { reason, headless } => match self.cfg.supervision {
                    Supervision::Headless => return self.finish(headless, reason),
                    Supervision::Supervised => {
                        if !self.wait_while_paused(PauseReason::Verifier { reason }, &mut cycles, &mut steps, budget).await? {
                            return self.finish(Outcome::Stopped, "stopped by the supervisor".into());
                        }
                    }
                },
                StepEnd::Refused(reason) => match self.cfg.supervision {
                    Supervision::Headless => return self.finish(Outcome::Failed, reason),
                    Supervision::Supervised => {
                        if !self.wait_while_paused(PauseReason::Refusal, &mut cycles, &mut steps, budget).await? {
                            return self.finish(Outcome::Stopped, "stopped by the supervisor".into());
                        }
                        // A correction queued meanwhile is delivered at the boundary; without
                        // one, the model still needs a turn to answer.
                        if self.rec.with_state(|s| s.pending_corrections.is_empty()) {
                            self.rec.emit(EventKind::UserMessage { text: RESUMED_AFTER_REFUSAL.to_string() })?;
                        }
                    }
                },
                StepEnd::Truncated { reason, max_tokens } => match self.cfg.supervision {
                    Supervision::Headless => return self.finish(Outcome::Failed, reason),
                    Supervision::Supervised => {
                        if !self.wait_while_paused(PauseReason::Truncation { max_tokens }, &mut cycles, &mut steps, budget).await? {
                            return self.finish(Outcome::Stopped, "stopped by the supervisor".into());
                        }
                        steps.forget_cut_answers();
                    }
                },
                StepEnd::Stalled(reason) => match self.cfg.supervision {
                    Supervision::Headless => return self.finish(Outcome::Stalled, reason),
                    Supervision::Supervised => {
                        if !self.wait_while_paused(PauseReason::Stall, &mut cycles, &mut steps, budget).await? {
                            return self.finish(Outcome::Stopped, "stopped by the supervisor".into());
                        }
                    }
                },
            }
        }
    }

    /// Waits for the task if there is none yet, then records the start. False: no task came.
    async fn start_session(&mut self, session_id: String, sandbox: &Sandbox) -> Result<bool, LogError> {
        let task = match self.cfg.task.clone() {
            Some(t) => t,
            None => loop {
                match self.commands.recv().await {
                    Some(CommandEnvelope { command: Command::Start(t), .. }) if !t.trim().is_empty() => break t,
                    Some(CommandEnvelope { command: Command::Stop, .. }) | None => return Ok(false),
                    Some(other) => self.ctl.handle(&self.rec, other)?,
                }
            },
        };
        let (skills, skill_warnings) = crate::memory::skills::list_skills(&self.cfg.workspace);
        let system_prompt = super::prompt::system_prompt(&self.cfg.workspace, &skills, Some(sandbox.info()));
        self.rec.emit(EventKind::SessionStarted {
            info: Box::new(SessionInfo {
                session_id,
                endure_version: env!("CARGO_PKG_VERSION").to_string(),
                workspace: self.cfg.workspace.display().to_string(),
                task: task.clone(),
                provider: self.cfg.provider_name.clone(),
                base_url: self.cfg.base_url.clone(),
                models: self.cfg.models.clone(),
                system_prompt,
                config: self.cfg.recorded_config.clone(),
                context_budget: self.cfg.context_budget,
                sandbox: Some(sandbox.info().clone()),
            }),
        })?;
        if let Some(memory) = super::prompt::memory_message(&self.cfg.workspace) {
            self.rec.emit(EventKind::UserMessage { text: memory })?;
        }
        self.rec.emit(EventKind::UserMessage { text: task })?;
        for w in skill_warnings {
            self.rec.emit(EventKind::Warning { message: w })?;
        }
        self.warn_unpriced()?;
        Ok(true)
    }

    fn warn_unpriced(&self) -> Result<(), LogError> {
        let cfg = &self.cfg;
        for role in Role::ALL {
            let model = cfg.models.get(role);
            if cfg.prices.lookup(model).is_none() && (role == Role::Agent || model != cfg.models.agent) {
                self.rec.emit(EventKind::Warning {
                    message: format!(
                        "model `{model}` ({}) has no price in the model table: its cost counts as 0; add it under [models.\"{model}\"] in config.toml",
                        role.as_str()
                    ),
                })?;
            }
        }
        Ok(())
    }

    /// Continues a session from its log: calls that were in flight are reported to the model
    /// as interrupted (never re-run), and the scripted provider, if any, picks up where the
    /// log says it was.
    fn resume(&mut self, steps: &mut StepRunner, sandbox: &Sandbox) -> Result<Vec<crate::protocol::ToolCallRequest>, LogError> {
        let (mut open, answers, writer_answers, verifier_answers, judge_answers) = self.rec.with_state(|s| {
            let requests = |role: &str| s.usage_by_role.get(role).map(|u| u.requests).unwrap_or(0);
            (
                open_calls(s),
                s.messages_answered.saturating_sub(s.answers_reasked),
                requests("writer"),
                requests("verifier"),
                requests("judge"),
            )
        });
        // A workflow call is run again instead: its journal makes that safe, and the model gets
        // the workflow's real result.
        let (rerun, interrupted): (Vec<_>, Vec<_>) = open.drain(..).partition(|c| c.name == "workflow" && self.workflow.is_some());
        let open = interrupted;
        // An answer whose calls never finished is asked for again: the model, told the calls
        // were interrupted, decides what to do, rather than the runtime re-running them. A
        // scripted model repeats the interrupted answer, so its cursor steps back one.
        let agent_answers = if open.is_empty() { answers } else { answers.saturating_sub(1) };
        self.cfg.provider.resume_at(Role::Agent, agent_answers as usize);
        self.cfg.provider.resume_at(Role::Writer, writer_answers as usize);
        self.cfg.provider.resume_at(Role::Verifier, verifier_answers as usize);
        self.cfg.provider.resume_at(Role::Judge, judge_answers as usize);
        let (orphans, before): (Vec<u64>, _) = self.rec.with_state(|s| (s.background.keys().copied().collect(), s.sandbox.clone()));
        let servers: Vec<String> = self.rec.with_state(|s| s.mcp_running.iter().cloned().collect());
        self.rec.emit(EventKind::SessionResumed {
            at: self.cfg.resume.as_ref().and_then(|r| r.at.clone()),
            interrupted_calls: open.iter().map(|c| c.id.clone()).collect(),
            sandbox: Some(sandbox.info().clone()),
        })?;
        // Background processes died with the endure that ran them (their sandbox dies with it).
        for id in orphans {
            self.rec.emit(EventKind::ProcessExited { id, exit_code: None, reason: "endure stopped".into() })?;
        }
        // So were its MCP servers; this run starts its own at its first step.
        for name in servers {
            self.rec.emit(EventKind::McpServerExited { name, reason: "endure stopped".into() })?;
        }
        let keep: Vec<String> = rerun.iter().map(|c| c.id.clone()).collect();
        steps.close_open_calls_except(
            "the process running this call stopped before it finished (it was killed or crashed); its outcome is unknown. Check the workspace before repeating anything with side effects",
            &keep,
        )?;
        // The system prompt states the policy the session started with; a different one now
        // (flags given again, another machine) is told to the model, after the calls' results
        // so that the conversation stays valid.
        let now = sandbox.info();
        if before.as_ref().is_some_and(|b| (b.mode, b.network, b.enforced) != (now.mode, now.network, now.enforced)) {
            self.rec.emit(EventKind::UserMessage {
                text: format!("[endure] This session was resumed with a different sandbox: {}. It replaces what the system prompt says about the sandbox.", crate::sandbox::describe(now)),
            })?;
        }
        Ok(rerun)
    }

    async fn maintain_memory(&mut self) -> Result<(), LogError> {
        super::upkeep::at_session_start(&self.cfg, &self.rec, &mut self.ctl.proposals).await
    }

    fn do_rollback(&mut self, cycles: &mut Cycles, steps: &mut StepRunner, budget: u64) -> Result<(), LogError> {
        let Some(id) = self.ctl.rollback.take() else { return Ok(()) };
        cycles.abandon_writer();
        let Some(snapshots) = cycles.snapshots() else {
            return self.rec.emit(EventKind::Warning { message: format!("cannot roll back to {id}: workspace snapshots are off") });
        };
        match rollback_to(&self.rec, &self.cfg.workspace, &self.log_path, snapshots, &id, budget, self.cfg.cycles.window_cap)? {
            Ok(_) => {
                // The files changed under the tools' index; re-read it without reporting the
                // restore as the agent's own changes.
                steps.forget_workspace_changes();
                Ok(())
            }
            Err(reason) => self.rec.emit(EventKind::Warning { message: format!("rollback to {id} failed: {reason}") }),
        }
    }

    /// Max Mode and pick review, as the supervisor set them, from the next step on.
    fn apply_max_mode(&mut self, steps: &mut StepRunner) -> Result<(), LogError> {
        let n = self.ctl.max_mode.take();
        let review = self.ctl.review_picks.take();
        if n.is_none() && review.is_none() {
            return Ok(());
        }
        if let Some(n) = n {
            steps.max_mode.candidates = n.filter(|n| *n >= 2).map(|n| n.min(16));
        }
        if let Some(r) = review {
            steps.max_mode.review_picks = r;
        }
        self.rec.emit(EventKind::MaxModeChanged { candidates: steps.max_mode.candidates, review_picks: steps.max_mode.review_picks })
    }

    /// The supervisor's override of the last verdict. Accepting returns the summary to finish
    /// with; rejecting sends the note to the agent, and the run goes on.
    fn apply_verdict_override(&mut self) -> Result<Option<String>, LogError> {
        let Some((accept, note, cmd)) = self.ctl.verdict_override.take() else { return Ok(None) };
        self.rec.emit_for(Some(&cmd), EventKind::VerdictOverridden { accept, note: note.clone() })?;
        if accept {
            return Ok(Some("the supervisor accepted the work as done".to_string()));
        }
        let note = note.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| "the work is not done yet".into());
        self.rec.emit(EventKind::UserMessage {
            text: format!("[Supervisor] The supervisor reviewed the goal verifier's verdict and says the work is not done:\n{note}"),
        })?;
        Ok(None)
    }

    fn finish(&self, outcome: Outcome, reason: String) -> Finish {
        if let Some(p) = &self.processes {
            p.shutdown("session ended");
        }
        if let Some(m) = &self.mcp {
            m.shutdown("session ended");
        }
        if let Some(msg) = self.sandbox.as_ref().and_then(|s| s.memory_guard().check()) {
            self.rec.emit(EventKind::Warning { message: msg })?;
        }
        self.rec.emit(EventKind::SessionFinished { outcome, reason: reason.clone() })?;
        Ok((outcome, reason))
    }

    /// Records a pause and waits for the supervisor, doing rollbacks and rollovers asked for
    /// meanwhile. Returns false when they chose to stop.
    async fn wait_while_paused(
        &mut self,
        reason: PauseReason,
        cycles: &mut Cycles,
        steps: &mut StepRunner,
        budget: u64,
    ) -> Result<bool, LogError> {
        self.rec.emit(EventKind::Paused { reason })?;
        self.ctl.pause_requested = true;
        while self.ctl.pause_requested && !self.ctl.stop {
            // While a writer runs, look up now and then so its checkpoint shows up during the
            // pause; otherwise just wait for the supervisor.
            let next = if cycles.writer_running() {
                tokio::time::timeout(Duration::from_millis(250), self.commands.recv()).await.ok()
            } else {
                Some(self.commands.recv().await)
            };
            match next {
                Some(Some(c)) => self.ctl.handle(&self.rec, c)?,
                Some(None) => self.ctl.stop = true,
                None => {}
            }
            cycles.take_in_finished(&self.rec).await?;
            self.apply_max_mode(steps)?;
            // An answer to the verdict ends the pause: accepting also ends the run (at the
            // next boundary), rejecting lets the agent continue with the note.
            let answered = self.ctl.verdict_override.is_some();
            if let Some(summary) = self.apply_verdict_override()? {
                self.accepted = Some(summary);
            }
            if answered {
                self.ctl.pause_requested = false;
            }
            if self.ctl.rollback.is_some() {
                self.do_rollback(cycles, steps, budget)?;
            }
            // A rebuild that fails here has said so in its event; the run is paused anyway.
            if std::mem::take(&mut self.ctl.rollover)
                && matches!(self.roll_over(cycles, RolloverReason::Supervisor, false).await?, RollEnd::Stopped)
            {
                self.ctl.stop = true;
            }
        }
        if self.ctl.stop {
            return Ok(false);
        }
        self.rec.emit(EventKind::Resumed)?;
        Ok(true)
    }

    async fn check_budgets(
        &mut self,
        elapsed: Duration,
        cycles: &mut Cycles,
        steps: &mut StepRunner,
        budget: u64,
    ) -> Result<Option<(Outcome, String)>, LogError> {
        let shared = self.cfg.child.as_ref().and_then(|c| c.budget.clone());
        let readings = self.rec.with_state(|s| {
            let mut r = self.cfg.budgets.readings(s, elapsed);
            if let Some(shared) = &shared {
                r.extend(shared.readings(s));
            }
            r
        });
        for reading in readings {
            let BudgetReading { kind, used, limit } = reading;
            if self.ctl.waived.contains(&kind) {
                continue;
            }
            if reading.exhausted() {
                self.rec.emit(EventKind::BudgetStop { budget: kind, used, limit })?;
                match self.cfg.supervision {
                    Supervision::Headless => {
                        let reason = format!("{} budget reached: {} of {}", kind.as_str(), fmt_amount(kind, used), fmt_amount(kind, limit));
                        return self.finish(Outcome::Budget, reason).map(Some);
                    }
                    Supervision::Supervised => {
                        if !self.wait_while_paused(PauseReason::Budget { budget: kind }, cycles, steps, budget).await? {
                            return self.finish(Outcome::Stopped, "stopped by the supervisor".into()).map(Some);
                        }
                        self.ctl.waived.push(kind);
                    }
                }
            } else if reading.nearly() && !self.ctl.warned.contains(&kind) {
                self.ctl.warned.push(kind);
                self.rec.emit(EventKind::BudgetWarning { budget: kind, used, limit })?;
            }
        }
        Ok(None)
    }

    /// Review of rebuilds as configured; headless runs never wait, and say so.
    fn start_review_setting(&mut self) -> Result<(), LogError> {
        let wanted = self.cfg.cycles.review_rebuilds;
        if wanted && self.cfg.supervision == Supervision::Headless {
            return self.rec.emit(EventKind::Warning {
                message: "--review-rebuilds works in the workbench only: headless rebuilds apply without waiting".into(),
            });
        }
        let recorded = self.rec.with_state(|s| s.review_rebuilds);
        self.ctl.review_rebuilds = wanted;
        if wanted != recorded {
            self.rec.emit(EventKind::RebuildReviewChanged { on: wanted })?;
        }
        Ok(())
    }

    /// Rebuilds the window: at once, or, with review on, after the supervisor approves the
    /// proposal (a veto keeps the old window until the next step of the fill). A full window
    /// (`forced`) is rebuilt without asking, and the `rollover` event says so.
    async fn roll_over(&mut self, cycles: &mut Cycles, reason: RolloverReason, forced: bool) -> Result<RollEnd, LogError> {
        let prepared = cycles.prepare_rollover(&self.rec, reason).await?;
        let review = self.ctl.review_rebuilds && self.cfg.supervision == Supervision::Supervised;
        let built = match cycles.build(&prepared, &Adjustments::default()) {
            Ok(b) => b,
            Err(e) => return Ok(RollEnd::Failed(cycles.failed(&self.rec, &prepared, &e)?)),
        };
        if !review || forced {
            let record = (review && forced).then(|| RebuildReview { proposal: None, edits: Vec::new(), forced: true });
            cycles.commit(&self.rec, &prepared, built, record, None)?;
            return Ok(RollEnd::Done);
        }
        let id = self.rec.with_state(|s| s.next_seq);
        let mut review = Review::new(id, prepared, built);
        review.propose(&self.rec, None, &cycles.spec())?;
        loop {
            let Some(env) = self.commands.recv().await else {
                self.ctl.stop = true;
                return Ok(RollEnd::Stopped);
            };
            let cause = env.id.clone();
            let step = match env.command {
                Command::Stop => {
                    self.ctl.stop = true;
                    return Ok(RollEnd::Stopped);
                }
                Command::ReviewRebuild { id, edit } if id == review.id => review.apply(&self.rec, Some(&env.id), &cycles.spec(), edit)?,
                // Turning review off approves what is proposed.
                Command::SetReviewRebuilds(false) => {
                    self.ctl.handle(&self.rec, env)?;
                    ReviewStep::Approve
                }
                _ => {
                    self.ctl.handle(&self.rec, env)?;
                    ReviewStep::Rejected
                }
            };
            match step {
                ReviewStep::Revised | ReviewStep::Rejected => {}
                ReviewStep::Approve => {
                    let record = RebuildReview { proposal: Some(review.id), edits: review.edits, forced: false };
                    cycles.commit(&self.rec, &review.prepared, review.built, Some(record), Some(&cause))?;
                    return Ok(RollEnd::Done);
                }
                ReviewStep::Veto => {
                    let fill_pct = review.prepared.fill_pct;
                    let next_pct = cycles.postpone(fill_pct);
                    self.rec.emit_for(Some(&cause), EventKind::RebuildVetoed { id: review.id, fill_pct, next_pct })?;
                    return Ok(RollEnd::Done);
                }
            }
        }
    }

    /// Delivers the queued corrections before the next step (`retry`: the step asked again).
    fn deliver_corrections(&self, retry: Option<u64>) -> Result<(), LogError> {
        let (pending, step) = self.rec.with_state(|s| (s.pending_corrections.clone(), retry.unwrap_or(s.step + 1)));
        for (id, _) in pending {
            self.rec.emit(EventKind::CorrectionDelivered { id, step })?;
        }
        Ok(())
    }
}

pub(crate) fn fmt_amount(kind: BudgetKind, v: f64) -> String {
    match kind {
        BudgetKind::Steps | BudgetKind::Tokens => format!("{}", v as u64),
        BudgetKind::Cost => crate::printable::money(v),
        BudgetKind::Time => format!("{}s", v as u64),
    }
}
