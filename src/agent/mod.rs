//! The agent runtime: a tokio task that runs steps, publishes events and obeys commands.
//!
//! It knows nothing of any frontend. [`spawn`] returns an [`AgentHandle`] with a receiver that
//! was subscribed before the task started, so the first consumer misses nothing.

pub mod budget;
mod prompt;
mod recorder;
mod runner;
mod step;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

pub use budget::Budgets;
pub use prompt::system_prompt;
pub use recorder::SharedRecorder;

use crate::config::prices::ModelTable;
use crate::model::{Provider, RetryPolicy};
use crate::protocol::{Command, Event, Outcome, RoleModels};
use crate::session::{EventLog, LogError};
use crate::tools::ToolLimits;

/// What to do when a budget runs out or the run stalls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Supervision {
    /// Nobody is watching: stop and record why.
    Headless,
    /// A supervisor is watching: pause and let them decide.
    Supervised,
}

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
}

pub struct AgentHandle {
    pub session_id: String,
    pub log_path: PathBuf,
    /// Subscribed before the runtime started: receives every event.
    pub events: broadcast::Receiver<Event>,
    sender: broadcast::Sender<Event>,
    pub commands: mpsc::UnboundedSender<Command>,
    pub join: JoinHandle<RunResult>,
}

impl AgentHandle {
    /// Another receiver; it sees events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// Takes the receiver that has seen every event (leaving a fresh one in its place).
    pub fn take_events(&mut self) -> broadcast::Receiver<Event> {
        let fresh = self.sender.subscribe();
        std::mem::replace(&mut self.events, fresh)
    }
}

/// Room for bursts of streaming deltas before a slow consumer lags (it can re-read the log).
/// The ring is allocated up front, so this is also a fixed memory cost per session: 8,192
/// slots hold several seconds of five concurrent streams.
const EVENT_CAPACITY: usize = 8_192;

/// Starts the runtime on the current tokio runtime.
pub fn spawn(config: AgentConfig) -> Result<AgentHandle, AgentError> {
    let workspace = std::fs::canonicalize(&config.workspace).map_err(|e| AgentError::Workspace {
        path: config.workspace.display().to_string(),
        message: e.to_string(),
    })?;
    if !workspace.is_dir() {
        return Err(AgentError::Workspace { path: workspace.display().to_string(), message: "not a directory".into() });
    }
    let session_id = config.session_id.clone().unwrap_or_else(|| crate::session::id::new_session_id(chrono::Utc::now()));
    let log_path = crate::session::log_path(&workspace, &session_id);
    let log = EventLog::open(&log_path)?;
    let (tx, rx) = broadcast::channel(EVENT_CAPACITY);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let recorder = SharedRecorder::new(log, tx.clone(), Default::default());
    let config = AgentConfig { workspace, ..config };
    let id = session_id.clone();
    let join = tokio::spawn(async move { runner::run(config, id, recorder, cmd_rx).await });
    Ok(AgentHandle { session_id, log_path, events: rx, sender: tx, commands: cmd_tx, join })
}

/// The directory of a session's files.
pub fn session_dir(workspace: &Path, session_id: &str) -> PathBuf {
    crate::session::sessions_dir(workspace).join(session_id)
}
