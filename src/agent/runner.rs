//! The run loop: step boundaries, commands, pauses, budgets and corrections.
//!
//! Commands are read while a step runs, so `Inject` and `Pause` are queued immediately and
//! take effect at the next boundary, and `Stop` drops the step in flight (which kills a
//! running command's process group).

use std::time::Duration;

use tokio::sync::mpsc;

use super::budget::BudgetReading;
use super::recorder::SharedRecorder;
use super::step::{StepEnd, StepRunner};
use super::{AgentConfig, RunResult, Supervision};
use crate::protocol::{BudgetKind, Command, EventKind, Outcome, PauseReason, SessionInfo};
use crate::session::LogError;

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
    /// The supervisor's answers to proposed MEMORY.md changes.
    memory_answers: Vec<(u64, bool)>,
}

impl Control {
    fn handle(&mut self, rec: &SharedRecorder, cmd: Command) -> Result<(), LogError> {
        match cmd {
            Command::Pause => self.pause_requested = true,
            Command::Resume => self.pause_requested = false,
            Command::Stop => self.stop = true,
            Command::Inject(text) => {
                let text = text.trim().to_string();
                if !text.is_empty() {
                    let id = rec.with_state(|s| s.next_correction_id);
                    rec.emit(EventKind::CorrectionQueued { id, text })?;
                }
            }
            // The task is already set; a second Start is a frontend bug, not worth failing over.
            Command::Start(_) => {}
            Command::Rollback(id) => self.rollback = Some(id),
            Command::Rollover => self.rollover = true,
            Command::ResolveMemory { id, accept } => self.memory_answers.push((id, accept)),
        }
        Ok(())
    }
}

pub(super) async fn run(
    cfg: AgentConfig,
    session_id: String,
    rec: SharedRecorder,
    mut commands: mpsc::UnboundedReceiver<Command>,
) -> RunResult {
    let (outcome, reason) = match run_inner(cfg, session_id, &rec, &mut commands).await {
        Ok(r) => r,
        Err(e) => {
            let reason = e.to_string();
            // The log itself may be what failed; try once to record the end anyway.
            let _ = rec.emit(EventKind::SessionFinished { outcome: Outcome::Failed, reason: reason.clone() });
            (Outcome::Failed, reason)
        }
    };
    RunResult { outcome, reason, state: Box::new(rec.state()) }
}

async fn run_inner(
    cfg: AgentConfig,
    session_id: String,
    rec: &SharedRecorder,
    commands: &mut mpsc::UnboundedReceiver<Command>,
) -> Result<(Outcome, String), LogError> {
    let mut ctl = Control::default();
    let task = match cfg.task.clone() {
        Some(t) => t,
        None => loop {
            match commands.recv().await {
                Some(Command::Start(t)) if !t.trim().is_empty() => break t,
                Some(Command::Stop) | None => {
                    return Ok((Outcome::Stopped, "no task was given".into()));
                }
                Some(other) => ctl.handle(rec, other)?,
            }
        },
    };

    let system_prompt = super::system_prompt(&cfg.workspace);
    rec.emit(EventKind::SessionStarted {
        info: Box::new(SessionInfo {
            session_id,
            endure_version: env!("CARGO_PKG_VERSION").to_string(),
            workspace: cfg.workspace.display().to_string(),
            task: task.clone(),
            provider: cfg.provider_name.clone(),
            base_url: cfg.base_url.clone(),
            models: cfg.models.clone(),
            system_prompt,
            config: cfg.recorded_config.clone(),
            context_budget: cfg.context_budget,
        }),
    })?;
    rec.emit(EventKind::UserMessage { text: task })?;
    if cfg.budgets.max_cost.is_some() || cfg.provider_name != "scripted" {
        for role in crate::protocol::Role::ALL {
            let model = cfg.models.get(role);
            if cfg.prices.lookup(model).is_none() && (role == crate::protocol::Role::Agent || model != cfg.models.agent) {
                rec.emit(EventKind::Warning {
                    message: format!(
                        "model `{model}` ({}) has no price in the model table: its cost counts as 0; add it under [models.\"{model}\"] in config.toml",
                        role.as_str()
                    ),
                })?;
            }
        }
    }

    let started = tokio::time::Instant::now();
    let mut runner = match StepRunner::new(&cfg, rec.clone()) {
        Ok(r) => r,
        Err(reason) => return finish(rec, Outcome::Failed, reason),
    };

    loop {
        // Step boundary: take everything the supervisor sent since the last one.
        while let Ok(cmd) = commands.try_recv() {
            ctl.handle(rec, cmd)?;
        }
        if ctl.stop {
            return finish(rec, Outcome::Stopped, "stopped by the supervisor".into());
        }
        if ctl.pause_requested && !wait_while_paused(rec, commands, &mut ctl, PauseReason::Supervisor).await? {
            return finish(rec, Outcome::Stopped, "stopped by the supervisor".into());
        }
        if let Some(result) = check_budgets(&cfg, rec, commands, &mut ctl, started.elapsed()).await? {
            return Ok(result);
        }
        deliver_corrections(rec)?;

        let step = rec.with_state(|s| s.step) + 1;
        rec.emit(EventKind::StepStarted { step })?;
        let outcome = {
            let fut = runner.step(step);
            tokio::pin!(fut);
            loop {
                tokio::select! {
                    end = &mut fut => break Some(end),
                    cmd = commands.recv() => match cmd {
                        Some(Command::Stop) | None => break None,
                        Some(c) => ctl.handle(rec, c)?,
                    },
                }
            }
        };
        let Some(end) = outcome else {
            runner.close_open_calls("the supervisor stopped the session while this call was running; its outcome is unknown")?;
            return finish(rec, Outcome::Stopped, "stopped by the supervisor".into());
        };
        let end = end?;
        rec.emit(EventKind::StepFinished { step })?;
        match end {
            StepEnd::Continue => {}
            StepEnd::Done(summary) => return finish(rec, Outcome::Done, summary),
            StepEnd::Failed(reason) => return finish(rec, Outcome::Failed, reason),
            StepEnd::Stalled(reason) => match cfg.supervision {
                Supervision::Headless => return finish(rec, Outcome::Stalled, reason),
                Supervision::Supervised => {
                    if !wait_while_paused(rec, commands, &mut ctl, PauseReason::Stall).await? {
                        return finish(rec, Outcome::Stopped, "stopped by the supervisor".into());
                    }
                }
            },
        }
    }
}

fn finish(rec: &SharedRecorder, outcome: Outcome, reason: String) -> Result<(Outcome, String), LogError> {
    rec.emit(EventKind::SessionFinished { outcome, reason: reason.clone() })?;
    Ok((outcome, reason))
}

/// Records a pause and waits for the supervisor. Returns false when they chose to stop.
async fn wait_while_paused(
    rec: &SharedRecorder,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    ctl: &mut Control,
    reason: PauseReason,
) -> Result<bool, LogError> {
    rec.emit(EventKind::Paused { reason })?;
    ctl.pause_requested = true;
    while ctl.pause_requested && !ctl.stop {
        match commands.recv().await {
            Some(c) => ctl.handle(rec, c)?,
            None => ctl.stop = true,
        }
    }
    if ctl.stop {
        return Ok(false);
    }
    rec.emit(EventKind::Resumed)?;
    Ok(true)
}

async fn check_budgets(
    cfg: &AgentConfig,
    rec: &SharedRecorder,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    ctl: &mut Control,
    elapsed: Duration,
) -> Result<Option<(Outcome, String)>, LogError> {
    let readings = rec.with_state(|s| cfg.budgets.readings(s, elapsed));
    for BudgetReading { kind, used, limit } in readings {
        if ctl.waived.contains(&kind) {
            continue;
        }
        let reading = BudgetReading { kind, used, limit };
        if reading.exhausted() {
            rec.emit(EventKind::BudgetStop { budget: kind, used, limit })?;
            match cfg.supervision {
                Supervision::Headless => {
                    let reason = format!("{} budget reached: {} of {}", kind.as_str(), fmt_amount(kind, used), fmt_amount(kind, limit));
                    return finish(rec, Outcome::Budget, reason).map(Some);
                }
                Supervision::Supervised => {
                    if !wait_while_paused(rec, commands, ctl, PauseReason::Budget { budget: kind }).await? {
                        return finish(rec, Outcome::Stopped, "stopped by the supervisor".into()).map(Some);
                    }
                    ctl.waived.push(kind);
                }
            }
        } else if reading.nearly() && !ctl.warned.contains(&kind) {
            ctl.warned.push(kind);
            rec.emit(EventKind::BudgetWarning { budget: kind, used, limit })?;
        }
    }
    Ok(None)
}

pub(crate) fn fmt_amount(kind: BudgetKind, v: f64) -> String {
    match kind {
        BudgetKind::Steps | BudgetKind::Tokens => format!("{}", v as u64),
        BudgetKind::Cost => format!("${v:.4}"),
        BudgetKind::Time => format!("{}s", v as u64),
    }
}

fn deliver_corrections(rec: &SharedRecorder) -> Result<(), LogError> {
    let (pending, step) = rec.with_state(|s| (s.pending_corrections.clone(), s.step + 1));
    for (id, _) in pending {
        rec.emit(EventKind::CorrectionDelivered { id, step })?;
    }
    Ok(())
}
