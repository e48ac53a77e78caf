//! The session a workflow belongs to: where its files go, how its subagents are configured,
//! where its events are recorded, and which run (one at a time) gets the supervisor's commands.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::run::Orchestrator;
use crate::agent::{AgentConfig, SharedRecorder};
use crate::protocol::{Command, EventKind};
use crate::tools::ToolOutcome;
use crate::tools::locks::FileLocks;

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// The saved workflow's name or the script file's name, for displays.
    pub name: String,
    pub script: String,
    pub args: Value,
    /// The agent's `workflow` call that runs it, if any.
    pub call_id: Option<String>,
    /// Continue run `n` of the session from its journal instead of starting one.
    pub resume: Option<u32>,
}

pub struct Parent {
    pub(super) workspace: PathBuf,
    pub(super) session_id: String,
    pub(super) session_dir: PathBuf,
    pub(super) rec: SharedRecorder,
    /// The session's configuration, from which each subagent's is made.
    pub(super) template: AgentConfig,
    pub(super) file_locks: Arc<FileLocks>,
    pub(super) runtime: tokio::runtime::Handle,
    next_agent: AtomicU64,
    running: Mutex<Option<Arc<Orchestrator>>>,
}

impl Parent {
    /// Must be called on the tokio runtime the subagents will run on.
    pub fn new(cfg: &AgentConfig, session_id: &str, session_dir: &Path, rec: SharedRecorder) -> Arc<Parent> {
        let mut template = cfg.clone();
        template.resume = None;
        template.child = None;
        template.session_id = None;
        let last = rec.with_state(|s| s.last_agent);
        Arc::new(Parent {
            workspace: cfg.workspace.clone(),
            session_id: session_id.to_string(),
            session_dir: session_dir.to_path_buf(),
            rec,
            template,
            file_locks: Arc::new(FileLocks::default()),
            runtime: tokio::runtime::Handle::current(),
            next_agent: AtomicU64::new(last + 1),
            running: Mutex::new(None),
        })
    }

    pub(super) fn next_agent(&self) -> u64 {
        self.next_agent.fetch_add(1, Ordering::SeqCst)
    }

    fn current(&self) -> Option<Arc<Orchestrator>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Hands a command to the running workflow; false when none runs. The events it causes
    /// (in the run's log and in a subagent's) carry `id`.
    pub fn forward(&self, cmd: Command, id: Option<&str>) -> bool {
        match self.current() {
            Some(o) => {
                o.command(cmd, id);
                true
            }
            None => false,
        }
    }

    /// Stops the running workflow, if any, and waits (up to `timeout`) for its subagents to
    /// record their end.
    pub async fn stop_and_wait(&self, timeout: Duration) {
        if let Some(o) = self.current() {
            o.stop(timeout).await;
        }
    }

    /// Pauses the running workflow for a budget (supervised runs): resuming it waives the caps.
    pub fn pause_for_budget(&self, reason: String) -> bool {
        match self.current() {
            Some(o) => {
                o.pause(reason, true, None);
                true
            }
            None => false,
        }
    }

    /// Runs a workflow to its end: the script's return value, or why it failed.
    pub async fn run(self: &Arc<Self>, spec: RunSpec) -> Result<Value, String> {
        let (orchestrator, script, name) = Orchestrator::start(self.clone(), spec).map_err(|e| e.to_string())?;
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = Some(orchestrator.clone());
        let result = orchestrator.clone().execute(script, name).await;
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = None;
        result
    }
}

/// The `workflow` tool of a session.
pub struct ToolHost {
    parent: Arc<Parent>,
}

impl ToolHost {
    pub fn new(parent: Arc<Parent>) -> ToolHost {
        ToolHost { parent }
    }

    pub async fn call(&self, call_id: String, args: Value) -> ToolOutcome {
        match self.prepare(&call_id, &args) {
            Ok(spec) => match self.parent.run(spec).await {
                Ok(value) => {
                    ToolOutcome { ok: true, output: serde_json::to_string_pretty(&value).unwrap_or_default(), ..Default::default() }
                }
                Err(e) => ToolOutcome { ok: false, output: format!("the workflow failed: {e}"), ..Default::default() },
            },
            Err(e) => ToolOutcome { ok: false, output: e, ..Default::default() },
        }
    }

    fn prepare(&self, call_id: &str, args: &Value) -> Result<RunSpec, String> {
        if let Some(o) = args.as_object()
            && let Some(k) = o.keys().find(|k| !["name", "script", "args"].contains(&k.as_str()))
        {
            return Err(format!("workflow: unknown argument `{k}`; give `name` or `script`, and `args`"));
        }
        let field = |k: &str| args.get(k).and_then(Value::as_str).filter(|s| !s.trim().is_empty());
        let wf_args = args.get("args").cloned().unwrap_or(Value::Null);
        // The same call, left without a result by a killed process: continue its run.
        let earlier = self.parent.rec.with_state(|s| {
            s.workflows
                .iter()
                .find(|(_, w)| w.call_id.as_deref() == Some(call_id) && w.finished.is_none())
                .map(|(n, w)| (*n, w.name.clone()))
        });
        if let Some((run, name)) = earlier {
            return Ok(RunSpec { name, script: String::new(), args: wf_args, call_id: Some(call_id.to_string()), resume: Some(run) });
        }
        let (name, script) = match (field("name"), field("script")) {
            (Some(_), Some(_)) => return Err("workflow: give `name` or `script`, not both".into()),
            (Some(name), None) => {
                let (_, script) = super::scripts::find(&self.parent.workspace, name)?;
                (name.to_string(), script)
            }
            (None, Some(script)) => ("inline".to_string(), script.to_string()),
            (None, None) => return Err("workflow: give `name` (a saved workflow) or `script`".into()),
        };
        Ok(RunSpec { name, script, args: wf_args, call_id: Some(call_id.to_string()), resume: None })
    }
}

/// Records an event of the parent session; a log that cannot be written fails the session at
/// its next event anyway, so the error is not the workflow's to handle.
pub(super) fn emit(rec: &SharedRecorder, kind: EventKind) {
    let _ = rec.emit(kind);
}
