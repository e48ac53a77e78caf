//! The agent runtime: a tokio task that runs steps, publishes events and obeys commands.
//!
//! It knows nothing of any frontend. [`spawn`] returns an [`AgentHandle`] with a receiver that
//! was subscribed before the task started, so the first consumer misses nothing.

pub mod after_run;
pub mod budget;
pub mod commands;
mod cycles;
mod escalation;
pub mod fork;
mod maxmode;
mod prompt;
mod rebuild;
mod recorder;
mod runner;
mod step;
pub mod upkeep;
mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

pub use budget::Budgets;
pub use cycles::RollbackReport;
pub use prompt::system_prompt;
pub use recorder::SharedRecorder;

use crate::config::prices::ModelTable;
use crate::model::{Provider, RetryPolicy};
use crate::protocol::{Event, Outcome, RoleModels};
use crate::session::{EventLog, LogError};
use crate::tools::ToolLimits;
pub use commands::{CommandSender, RuntimeGone};

/// What to do when a budget runs out or the run stalls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Supervision {
    /// Nobody is watching: stop and record why.
    Headless,
    /// A supervisor is watching: pause and let them decide.
    Supervised,
}

#[derive(Clone)]
pub struct AgentConfig {
    pub workspace: PathBuf,
    /// None: wait for `Command::Start`.
    pub task: Option<String>,
    pub provider: Arc<dyn Provider>,
    pub provider_name: String,
    pub base_url: Option<String>,
    pub models: RoleModels,
    pub budgets: Budgets,
    pub stall_after: u32,
    pub supervision: Supervision,
    /// `--notify`: the frontend running the session runs it whenever the run starts waiting
    /// for the supervisor (`control::notify`); the runtime itself never reads it.
    pub notify: Option<String>,
    pub retry: RetryPolicy,
    pub tool_limits: ToolLimits,
    pub temperature: Option<f32>,
    pub max_output_tokens: u32,
    pub prices: ModelTable,
    pub context_budget: u64,
    /// The effective settings, recorded in `session_started` (no secrets).
    pub recorded_config: Value,
    /// Start the session with this id instead of a new one.
    pub session_id: Option<String>,
    pub cycles: CycleSettings,
    pub memory: MemorySettings,
    /// Continue an existing session (`session_id` names it) instead of starting one.
    pub resume: Option<ResumeFrom>,
    pub verifier: VerifierSettings,
    pub max_mode: MaxModeSettings,
    /// Removes the API key from everything recorded or shown (see [`crate::redact`]).
    pub redactor: crate::redact::Redactor,
    /// What `run` commands may do, and whose escalations are approved without asking.
    pub sandbox: crate::sandbox::Policy,
    /// The MCP servers of the session, started at its first step.
    pub mcp: Vec<crate::mcp::ServerSpec>,
    /// Set for a workflow subagent: a child session of the session that ran the workflow.
    pub child: Option<ChildSettings>,
    /// Limits of the scripts the `workflow` tool runs.
    pub workflow: crate::workflow::WorkflowSettings,
    /// A new session forked from another's checkpoint (`endure fork`): its workspace is
    /// already restored, and this is recorded as `forked` right after it starts.
    pub fork: Option<Box<fork::ForkStart>>,
}

/// What makes a session a workflow subagent.
#[derive(Clone)]
pub struct ChildSettings {
    /// Its log and files: `sessions/<parent>/agents/<n>`.
    pub dir: PathBuf,
    /// The tools it may call besides `done`; None: all but `workflow`.
    pub tools: Option<Vec<String>>,
    /// The JSON Schema its answer (`done`'s `result`) must match.
    pub schema: Option<Value>,
    /// Shared with the sessions writing the same workspace at the same time.
    pub file_locks: Option<Arc<crate::tools::locks::FileLocks>>,
    /// The caps of the whole workflow run, checked at each step boundary like its own budgets.
    pub budget: Option<Arc<dyn budget::SharedBudget>>,
}

/// The goal verifier: what "done" must satisfy, and when to stop trusting the loop.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifierSettings {
    /// Off for workflow subagents unless asked for (`verify: true`): a claim of done ends them.
    pub enabled: bool,
    /// The completion condition; None means the task itself.
    pub goal: Option<String>,
    /// Rejections in a row before the supervisor decides.
    pub max_rejections: u32,
}

impl Default for VerifierSettings {
    fn default() -> Self {
        VerifierSettings { enabled: true, goal: None, max_rejections: 3 }
    }
}

/// Max Mode: candidates per step (None = off), their temperature, and pick review.
#[derive(Debug, Clone, PartialEq)]
pub struct MaxModeSettings {
    pub candidates: Option<u32>,
    pub temperature: f32,
    pub review_picks: bool,
}

impl Default for MaxModeSettings {
    fn default() -> Self {
        MaxModeSettings { candidates: None, temperature: 1.0, review_picks: false }
    }
}

/// When the background writer checkpoints and when the window is rebuilt.
#[derive(Debug, Clone, PartialEq)]
pub struct CycleSettings {
    /// Context fill percentages that start the writer, ascending.
    pub checkpoints: Vec<u32>,
    /// Context fill percentage that rebuilds the window.
    pub rollover_pct: u32,
    /// Ceiling of a rebuilt window in tokens, whatever the budget.
    pub window_cap: u64,
    /// Propose each rebuilt window to the supervisor and wait for approval (supervised runs).
    pub review_rebuilds: bool,
}

impl Default for CycleSettings {
    fn default() -> Self {
        CycleSettings { checkpoints: DEFAULT_CHECKPOINTS.to_vec(), rollover_pct: 85, window_cap: 65_000, review_rebuilds: false }
    }
}

/// How often project memory is consolidated (dream) and distilled into skills.
#[derive(Debug, Clone, PartialEq)]
pub struct MemorySettings {
    pub dream_every: Option<std::time::Duration>,
    pub distill_every: Option<std::time::Duration>,
}

impl Default for MemorySettings {
    fn default() -> Self {
        MemorySettings {
            dream_every: Some(std::time::Duration::from_secs(7 * 86_400)),
            distill_every: Some(std::time::Duration::from_secs(30 * 86_400)),
        }
    }
}

/// Where a resumed session continues from.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumeFrom {
    /// Roll back to this checkpoint (`<cycle>.<n>`) first.
    pub at: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    pub outcome: Outcome,
    pub reason: String,
    /// The runtime's state at the end, as built from the events it emitted.
    pub state: Box<crate::session::SessionState>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("workspace {path}: {message}")]
    Workspace { path: String, message: String },
    #[error("cannot resume: {0}")]
    Resume(String),
    #[error(transparent)]
    Locked(#[from] crate::session::LockError),
}

/// Records one model call's spending (overhead or not); shared by the step, Max Mode and the
/// verifier.
pub(crate) type UsageFn<'a> = dyn Fn(&crate::model::ask::Spent, bool) -> Result<(), LogError> + Sync + 'a;

/// Checkpoint thresholds (% of the context budget) when none are configured.
pub const DEFAULT_CHECKPOINTS: [u32; 3] = [20, 45, 70];

pub struct AgentHandle {
    pub session_id: String,
    pub log_path: PathBuf,
    /// Subscribed before the runtime started: receives every event.
    pub events: broadcast::Receiver<Event>,
    sender: broadcast::Sender<Event>,
    pub commands: CommandSender,
    pub join: JoinHandle<RunResult>,
    recorder: recorder::WeakRecorder,
}

/// What a control socket needs of a running session: its events from now on, and a way to
/// send it commands with their source recorded. Weak, so that holding it never keeps the
/// event channel open after the runtime finished (consumers wait for it to close).
#[derive(Clone)]
pub struct ControlLink {
    events: broadcast::WeakSender<Event>,
    commands: mpsc::WeakUnboundedSender<crate::protocol::CommandEnvelope>,
    recorder: recorder::WeakRecorder,
    /// Numbers the commands that come through the socket; with the source in the id, ids stay
    /// unique across clients.
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl ControlLink {
    /// The link of a session run by something other than [`spawn`] (a workflow session).
    pub fn new(events: &broadcast::Sender<Event>, commands: &CommandSender, recorder: &SharedRecorder) -> ControlLink {
        ControlLink {
            events: events.downgrade(),
            commands: commands.downgrade(),
            recorder: recorder.downgrade(),
            next: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    /// A receiver of every event from now on; None once the runtime has finished.
    pub fn subscribe(&self) -> Option<broadcast::Receiver<Event>> {
        self.events.upgrade().map(|tx| tx.subscribe())
    }

    /// Records `command_received {source, command}` under the command's id, then forwards the
    /// command in its envelope as the workbench would, so the events it causes echo the same
    /// id. False when the runtime has finished.
    /// `id` is the client's own id for the command (kept, so the client can match the events
    /// it causes), or None to number it here.
    pub fn send(&self, source: &str, command: crate::protocol::Command, id: Option<String>) -> bool {
        let (Some(commands), Some(recorder)) = (self.commands.upgrade(), self.recorder.upgrade()) else { return false };
        if commands.is_closed() {
            return false;
        }
        let id = match id.map(|i| crate::printable::visible(i.trim()).chars().take(80).collect::<String>()).filter(|i| !i.is_empty()) {
            Some(id) => id,
            None => format!("{source}:{}", self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1),
        };
        let received = crate::protocol::EventKind::CommandReceived { source: source.to_string(), command: command.clone() };
        let _ = recorder.emit_for(Some(&id), received);
        commands.send(crate::protocol::CommandEnvelope { id, command }).is_ok()
    }
}

impl ControlLink {
    /// Records a `warning` in the session (a hook or a client's trouble that the run should
    /// show but not stop for).
    pub fn warn(&self, message: String) {
        if let Some(recorder) = self.recorder.upgrade() {
            let _ = recorder.emit(crate::protocol::EventKind::Warning { message });
        }
    }
}

impl AgentHandle {
    /// Another receiver; it sees events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// The parts a frontend that no longer needs new receivers keeps: dropping the rest lets
    /// the event channel close when the runtime finishes.
    pub fn into_parts(self) -> (CommandSender, JoinHandle<RunResult>, PathBuf) {
        (self.commands, self.join, self.log_path)
    }

    /// For the session's control socket.
    pub fn control_link(&self) -> ControlLink {
        ControlLink {
            events: self.sender.downgrade(),
            commands: self.commands.downgrade(),
            recorder: self.recorder.clone(),
            next: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    /// Takes the receiver that has seen every event; `subscribe` gives others.
    pub fn take_events(&mut self) -> broadcast::Receiver<Event> {
        // What is left in its place is closed, never subscribed: a receiver nobody reads would
        // keep every event in the ring (tool outputs included) until it wraps, so a long
        // session's memory would grow with it.
        std::mem::replace(&mut self.events, broadcast::channel(1).1)
    }
}

/// Room for bursts of streaming deltas before a slow consumer lags (it can re-read the log).
/// The ring is allocated up front, so this is also a fixed memory cost per session: 8,192
/// slots hold several seconds of five concurrent streams.
const EVENT_CAPACITY: usize = 8_192;

/// Starts the runtime on the current tokio runtime.
pub fn spawn(config: AgentConfig) -> Result<AgentHandle, AgentError> {
    let workspace = std::fs::canonicalize(&config.workspace)
        .map_err(|e| AgentError::Workspace { path: config.workspace.display().to_string(), message: e.to_string() })?;
    if !workspace.is_dir() {
        return Err(AgentError::Workspace { path: workspace.display().to_string(), message: "not a directory".into() });
    }
    let session_id = config.session_id.clone().unwrap_or_else(|| crate::session::id::new_session_id(chrono::Utc::now()));
    // A subagent's files live inside its parent's session directory.
    let dir = config.child.as_ref().map(|c| c.dir.clone()).unwrap_or_else(|| session_dir(&workspace, &session_id));
    let log_path = dir.join("events.jsonl");
    // Taken before the log is read: another process driving this session could append to it
    // between our read and our first write. Held until the run ends.
    let lock = crate::session::SessionLock::acquire(&dir)?;
    // A checkpoint write killed midway leaves its temporary file; nobody else writes here
    // while we hold the lock. Failing to tidy up is no reason not to run.
    let _ = crate::memory::atomic::remove_temporaries(&dir.join("checkpoints"));
    // A resumed session continues its own log: the state is what the log says.
    let state = if config.resume.is_some() {
        let read = crate::session::read_log(&log_path)?;
        let state = crate::session::SessionState::from_events(&read.events);
        if state.info.is_none() {
            return Err(AgentError::Resume(format!("{} has no session_started event", log_path.display())));
        }
        state
    } else {
        Default::default()
    };
    let log = EventLog::open(&log_path)?;
    let (tx, rx) = broadcast::channel(EVENT_CAPACITY);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let recorder = SharedRecorder::new(log, tx.clone(), state, config.redactor.clone());
    let config = AgentConfig { workspace, ..config };
    let id = session_id.clone();
    let path = log_path.clone();
    let kept = recorder.downgrade();
    let join = tokio::spawn(async move {
        let _lock = lock;
        runner::run(config, id, path, recorder, cmd_rx).await
    });
    Ok(AgentHandle { session_id, log_path, events: rx, sender: tx, commands: CommandSender::new(cmd_tx, "local"), join, recorder: kept })
}

/// The directory of a session's files.
pub fn session_dir(workspace: &Path, session_id: &str) -> PathBuf {
    crate::session::sessions_dir(workspace).join(session_id)
}

/// Rolls a session that is not running back to checkpoint `to` (`endure rollback`): restores
/// the workspace files from the checkpoint's snapshot and appends a `rolled_back` event, so
/// that `endure resume` continues from the rebuilt window. A running session is rolled back
/// from its workbench instead, since two processes must not append to one log.
pub fn rollback_session(workspace: &Path, session_id: &str, to: &str) -> Result<cycles::RollbackReport, AgentError> {
    let log_path = crate::session::log_path(workspace, session_id);
    if !log_path.is_file() {
        return Err(AgentError::Resume(format!("no session log at {}", log_path.display())));
    }
    // Refused while the session runs: the files would change under its agent.
    let _lock = crate::session::SessionLock::acquire(&session_dir(workspace, session_id))?;
    let read = crate::session::read_log(&log_path)?;
    let state = crate::session::SessionState::from_events(&read.events);
    let budget = state.info.as_ref().map(|i| i.context_budget).filter(|b| *b > 0).unwrap_or(crate::config::prices::DEFAULT_CONTEXT);
    let log = EventLog::open(&log_path)?;
    let (tx, _rx) = broadcast::channel(16);
    // The key this session would use, by the options it recorded.
    let redactor = state
        .info
        .as_ref()
        .and_then(|i| crate::launch::resumed_options(i, Default::default()).ok())
        .map(|o| crate::launch::redactor(&o))
        .unwrap_or_default();
    let rec = SharedRecorder::new(log, tx, state, redactor);
    let snapshots = crate::workspace::snapshot::Snapshots::open(workspace).map_err(|e| AgentError::Resume(e.to_string()))?;
    cycles::rollback_to(&rec, workspace, &log_path, &snapshots, to, budget, CycleSettings::default().window_cap)?
        .map_err(AgentError::Resume)
}
