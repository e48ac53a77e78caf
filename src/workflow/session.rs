//! `endure workflow run`: a session whose work is one workflow run rather than an agent's
//! steps. Its log holds the run's events; its subagents live in its directory like those of
//! an agent's `workflow` call; `endure workflow resume` and `endure exec --resume` continue it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use super::parent::{Parent, RunSpec};
use crate::agent::{AgentConfig, AgentError, Budgets, SharedRecorder};
use crate::protocol::{BudgetKind, Command, Event, EventKind, Outcome, SessionInfo};
use crate::session::{EventLog, SessionLock, SessionState};

/// How a workflow session ended.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowEnd {
    pub outcome: Outcome,
    pub reason: String,
    /// The script's return value when it returned.
    pub result: Option<Value>,
}

pub struct WorkflowHandle {
    pub session_id: String,
    pub log_path: PathBuf,
    /// What the log held before this process (a resumed run's history).
    pub history: Vec<Event>,
    /// Subscribed before the run started: receives every event from now on.
    pub events: broadcast::Receiver<Event>,
    pub commands: crate::agent::CommandSender,
    pub join: JoinHandle<WorkflowEnd>,
    /// For the session's control socket.
    pub control: crate::agent::ControlLink,
}

/// What a workflow session runs: a new script, or the unfinished run of an existing session.
pub enum Start {
    New {
        name: String,
        script: String,
        args: Value,
    },
    /// `cfg.session_id` names the session.
    Resume,
}

/// The unfinished `endure workflow run` of a session, if it is one: the run's number.
pub fn unfinished_run(state: &SessionState) -> Option<u32> {
    let driven = state.workflows.values().next().is_some_and(|w| w.call_id.is_none()) && state.step == 0;
    if !driven {
        return None;
    }
    state.workflows.iter().find(|(_, w)| w.finished.is_none()).map(|(n, _)| *n)
}

/// Whether a session was started by `endure workflow run` (rather than being an agent's).
pub fn is_workflow_session(state: &SessionState) -> bool {
    state.step == 0 && state.workflows.values().next().is_some_and(|w| w.call_id.is_none())
}

const EVENT_CAPACITY: usize = 8_192;

/// Starts (or resumes) a workflow session on the current tokio runtime.
pub fn start(cfg: AgentConfig, what: Start) -> Result<WorkflowHandle, AgentError> {
    let workspace = std::fs::canonicalize(&cfg.workspace)
        .map_err(|e| AgentError::Workspace { path: cfg.workspace.display().to_string(), message: e.to_string() })?;
    let session_id = cfg.session_id.clone().unwrap_or_else(|| crate::session::id::new_session_id(chrono::Utc::now()));
    let dir = crate::agent::session_dir(&workspace, &session_id);
    let log_path = dir.join("events.jsonl");
    let lock = SessionLock::acquire(&dir)?;
    let mut history = Vec::new();
    let (state, spec) = match what {
        Start::New { name, script, args } => (SessionState::default(), RunSpec { name, script, args, call_id: None, resume: None }),
        Start::Resume => {
            let read = crate::session::read_log(&log_path)?;
            let state = SessionState::from_events(&read.events);
            let Some(run) = unfinished_run(&state) else {
                return Err(AgentError::Resume(format!("session {session_id} has no unfinished workflow run to resume")));
            };
            let name = state.workflows.get(&run).map(|w| w.name.clone()).unwrap_or_default();
            history = read.events;
            (state, RunSpec { name, script: String::new(), args: Value::Null, call_id: None, resume: Some(run) })
        }
    };
    let resuming = spec.resume.is_some();
    let log = EventLog::open(&log_path)?;
    let (tx, rx) = broadcast::channel(EVENT_CAPACITY);
    let caps_rx = tx.subscribe();
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<crate::protocol::CommandEnvelope>();
    let commands = crate::agent::CommandSender::new(cmd_tx, "local");
    let rec = SharedRecorder::new(log, tx.clone(), state, cfg.redactor.clone());
    let control = crate::agent::ControlLink::new(&tx, &commands, &rec);
    // Only the recorder keeps the channel open, so it closes when the run's task ends.
    drop(tx);
    let cfg = AgentConfig { workspace: workspace.clone(), session_id: Some(session_id.clone()), ..cfg };
    let id = session_id.clone();
    let join = tokio::spawn(async move {
        let _lock = lock;
        let begun = if resuming {
            rec.emit(EventKind::SessionResumed { at: None, interrupted_calls: Vec::new(), sandbox: None })
        } else {
            rec.emit(EventKind::SessionStarted {
                info: Box::new(SessionInfo {
                    session_id: id.clone(),
                    endure_version: env!("CARGO_PKG_VERSION").to_string(),
                    workspace: workspace.display().to_string(),
                    task: format!("workflow {}", spec.name),
                    provider: cfg.provider_name.clone(),
                    base_url: cfg.base_url.clone(),
                    models: cfg.models.clone(),
                    system_prompt: String::new(),
                    config: cfg.recorded_config.clone(),
                    context_budget: cfg.context_budget,
                    sandbox: None,
                }),
            })
        };
        if let Err(e) = begun {
            return WorkflowEnd { outcome: Outcome::Failed, reason: e.to_string(), result: None };
        }
        let parent = Parent::new(&cfg, &id, &dir, rec.clone());
        // The supervisor's commands reach the run (or one of its agents) while it runs.
        let p = parent.clone();
        let r = rec.clone();
        let commands = tokio::spawn(async move {
            while let Some(crate::protocol::CommandEnvelope { id, command }) = cmd_rx.recv().await {
                match command {
                    Command::Stop => p.stop_and_wait(std::time::Duration::from_secs(20)).await,
                    Command::Start(_) => {}
                    other => {
                        if !p.forward(other.clone(), Some(&id)) {
                            let _ = r.emit_for(
                                Some(&id),
                                EventKind::Warning { message: format!("no workflow is running; {other:?} was dropped") },
                            );
                        }
                    }
                }
            }
        });
        let budget_end = Arc::new(std::sync::OnceLock::new());
        let caps = (cfg.budgets.max_steps.is_some() || cfg.budgets.max_time.is_some()).then(|| {
            let headless = cfg.supervision == crate::agent::Supervision::Headless;
            tokio::spawn(watch_caps(parent.clone(), rec.clone(), caps_rx, cfg.budgets, headless, budget_end.clone()))
        });
        let result = parent.run(spec).await;
        commands.abort();
        if let Some(c) = caps {
            c.abort();
        }
        let end = match (budget_end.get(), result) {
            (Some(reason), _) => WorkflowEnd { outcome: Outcome::Budget, reason: reason.clone(), result: None },
            (None, Ok(value)) => {
                WorkflowEnd { outcome: Outcome::Done, reason: format!("the workflow returned {}", short_json(&value)), result: Some(value) }
            }
            (None, Err(e)) if e == super::ScriptError::Stopped.to_string() => {
                WorkflowEnd { outcome: Outcome::Stopped, reason: e, result: None }
            }
            (None, Err(e)) => WorkflowEnd { outcome: Outcome::Failed, reason: e, result: None },
        };
        let _ = rec.emit(EventKind::SessionFinished { outcome: end.outcome, reason: end.reason.clone() });
        end
    });
    Ok(WorkflowHandle { session_id, log_path, history, events: rx, commands, join, control })
}

/// `--max-steps` and `--max-time` of a workflow session: the steps its subagents took in all
/// (journaled ones included) and the time since this process started the run. Headless, a cap
/// reached stops the run (outcome `budget`); supervised, it pauses the run, and resuming
/// waives that cap.
async fn watch_caps(
    parent: Arc<Parent>,
    rec: SharedRecorder,
    mut events: broadcast::Receiver<Event>,
    budgets: Budgets,
    headless: bool,
    ended: Arc<std::sync::OnceLock<String>>,
) {
    let started = tokio::time::Instant::now();
    let mut deadline = budgets.max_time.map(|t| started + t);
    let mut max_steps = budgets.max_steps;
    let mut steps: HashMap<u64, u64> = HashMap::new();
    loop {
        let timer = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        let hit = tokio::select! {
            _ = timer => {
                deadline = None;
                let limit = budgets.max_time.map(|t| t.as_secs_f64()).unwrap_or_default();
                Some((BudgetKind::Time, started.elapsed().as_secs_f64(), limit))
            }
            ev = events.recv() => match ev {
                Ok(ev) => match ev.kind {
                    EventKind::AgentStep { agent, step, .. } => {
                        steps.insert(agent, step);
                        let total: u64 = steps.values().sum();
                        max_steps.filter(|m| total >= *m).map(|m| {
                            max_steps = None;
                            (BudgetKind::Steps, total as f64, m as f64)
                        })
                    }
                    EventKind::AgentFinished { agent, steps: n, .. } | EventKind::AgentFailed { agent, steps: n, .. } => {
                        steps.insert(agent, n);
                        None
                    }
                    _ => None,
                },
                // The next step event carries the agent's count again.
                Err(broadcast::error::RecvError::Lagged(_)) => None,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        let Some((kind, used, limit)) = hit else { continue };
        let _ = rec.emit(EventKind::BudgetStop { budget: kind, used, limit });
        let reason = format!("budget: {} {} of {}", kind.as_str(), fmt_amount(kind, used), fmt_amount(kind, limit));
        if headless {
            let _ = ended.set(reason);
            parent.stop_and_wait(std::time::Duration::from_secs(20)).await;
            return;
        }
        parent.pause_for_budget(reason);
    }
}

fn fmt_amount(kind: BudgetKind, v: f64) -> String {
    match kind {
        BudgetKind::Time => format!("{v:.0}s"),
        _ => format!("{v:.0}"),
    }
}

fn short_json(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 300 { format!("{}…", s.chars().take(300).collect::<String>()) } else { s }
}
