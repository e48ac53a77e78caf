//! The orchestrator of one workflow run: it answers the script's primitives, keeps the
//! journal and the run's budget, routes the supervisor's commands, and records the run's
//! events in the parent session's log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};

use super::engine::{self, Host, HostFuture};
use super::journal::{Entry, Journal};
use super::meter::{Meter, Tripped};
use super::parent::{Parent, RunSpec, emit};
use super::subagent::{AgentOpts, ChildEnd};
use crate::agent::Supervision;
use crate::agent::budget::{BudgetReading, SharedBudget};
use crate::protocol::{AgentUsage, BudgetKind, Command, EventKind, WorkflowCaps};

#[derive(Debug, thiserror::Error)]
pub(super) enum StartError {
    #[error("workflow run {0} of this session has no saved script ({1})")]
    NoScript(u32, String),
    #[error("cannot save the workflow's files in {0}: {1}")]
    Files(String, std::io::Error),
    #[error(transparent)]
    Journal(#[from] super::journal::JournalError),
}

pub(super) struct RunState {
    pub(super) journal: Journal,
    /// Calls made so far per hash: the n-th identical call has key `hash#n`.
    occurrences: HashMap<String, u32>,
    pub(super) phase: Option<String>,
    script_caps: WorkflowCaps,
    /// The session's own budgets, less what the session had spent itself when the run began.
    session_caps: WorkflowCaps,
    /// Agents that settled (journaled ones included).
    settled: AgentUsage,
    /// Agents started, journaled ones included: what the `agents` cap counts.
    pub(super) agents: u64,
    /// Usage so far of each running agent.
    pub(super) live: HashMap<u64, AgentUsage>,
    /// The command channel of each running agent.
    pub(super) children: HashMap<u64, crate::agent::CommandSender>,
    /// The id of the supervisor's latest pause or resume of each agent, echoed by the
    /// `agent_paused` or `agent_resumed` it leads to (the agent's own `paused` lands at a
    /// boundary and carries none).
    pub(super) causes: HashMap<(u64, bool), String>,
    pub(super) paused: bool,
    /// The pause was for a cap; resuming waives the caps.
    cap_pause: bool,
    waived: bool,
    pub(super) stopping: bool,
}

impl RunState {
    fn caps(&self) -> WorkflowCaps {
        let min_u = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let min_f = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        WorkflowCaps {
            tokens: min_u(self.script_caps.tokens, self.session_caps.tokens),
            cost: min_f(self.script_caps.cost, self.session_caps.cost),
            agents: self.script_caps.agents,
        }
    }

    fn spent(&self) -> AgentUsage {
        let mut total = self.settled;
        for u in self.live.values() {
            total.add(*u);
        }
        total
    }

    /// Why no agent may start now, if a cap says so.
    fn cap_reached(&self) -> Option<String> {
        if self.waived {
            return None;
        }
        let caps = self.caps();
        let spent = self.spent();
        if let Some(a) = caps.agents.filter(|a| self.agents >= *a) {
            return Some(format!("agents: {} of {a} started", self.agents));
        }
        if let Some(t) = caps.tokens.filter(|t| spent.tokens() >= *t) {
            return Some(format!("tokens: {} of {t} spent", spent.tokens()));
        }
        if let Some(c) = caps.cost.filter(|c| spent.cost_usd >= *c) {
            return Some(format!("cost: ${:.4} of ${c:.4} spent", spent.cost_usd));
        }
        None
    }
}

pub(super) struct Orchestrator {
    pub(super) parent: Arc<Parent>,
    pub(super) run: u32,
    meter: Arc<Meter>,
    state: Mutex<RunState>,
    /// Wakes agents waiting for a pause to end, and `stop` waiting for agents to end.
    pub(super) changed: Notify,
    slots: Arc<Semaphore>,
    args: Value,
}

impl Orchestrator {
    pub(super) fn start(parent: Arc<Parent>, spec: RunSpec) -> Result<(Arc<Orchestrator>, String, String), StartError> {
        let run = spec.resume.unwrap_or_else(|| parent.rec.with_state(|s| s.workflows.keys().max().copied().unwrap_or(0)) + 1);
        let rel = format!("workflows/{run}");
        let dir = parent.session_dir.join(&rel);
        let files = |e| StartError::Files(dir.display().to_string(), e);
        let script_path = dir.join("script.js");
        let (script, args) = if spec.resume.is_some() {
            let script = std::fs::read_to_string(&script_path).map_err(|e| StartError::NoScript(run, e.to_string()))?;
            let args = parent.rec.with_state(|s| s.workflows.get(&run).map(|w| w.args.clone())).unwrap_or(spec.args.clone());
            (script, args)
        } else {
            // The run executes this copy, so a resume replays exactly what ran, whatever
            // happens to the file it came from.
            std::fs::create_dir_all(&dir).map_err(files)?;
            std::fs::write(&script_path, &spec.script).map_err(files)?;
            (spec.script.clone(), spec.args.clone())
        };
        let (journal, warnings) = Journal::open(&dir.join("journal.jsonl"))?;
        for w in warnings {
            emit(&parent.rec, EventKind::Warning { message: w });
        }
        // What the session spent itself (its subagents are counted by the run's own figures).
        let (own_tokens, own_cost) = parent.rec.with_state(|s| {
            (s.usage.tokens().saturating_sub(s.subagent_usage.tokens()), (s.usage.cost_usd - s.subagent_usage.cost_usd).max(0.0))
        });
        let budgets = &parent.template.budgets;
        let session_caps = WorkflowCaps {
            tokens: budgets.max_tokens.map(|t| t.saturating_sub(own_tokens)),
            cost: budgets.max_cost.map(|c| (c - own_cost).max(0.0)),
            agents: None,
        };
        let slots = Arc::new(Semaphore::new(parent.template.workflow.max_agents_at_once.max(1)));
        let o = Arc::new(Orchestrator {
            parent: parent.clone(),
            run,
            meter: Arc::new(Meter::default()),
            state: Mutex::new(RunState {
                journal,
                occurrences: HashMap::new(),
                phase: None,
                script_caps: WorkflowCaps::default(),
                session_caps,
                settled: AgentUsage::default(),
                agents: 0,
                live: HashMap::new(),
                children: HashMap::new(),
                causes: HashMap::new(),
                paused: false,
                cap_pause: false,
                waived: false,
                stopping: false,
            }),
            changed: Notify::new(),
            slots,
            args: args.clone(),
        });
        emit(
            &parent.rec,
            EventKind::WorkflowStarted {
                run,
                name: spec.name.clone(),
                script: format!("{rel}/script.js"),
                args,
                call_id: spec.call_id.clone(),
                resumed: spec.resume.is_some(),
                source: script.clone(),
            },
        );
        if session_caps != WorkflowCaps::default() {
            emit(&parent.rec, EventKind::WorkflowBudget { run, caps: session_caps });
        }
        let name = if spec.name.ends_with(".js") { spec.name } else { format!("{}.js", spec.name) };
        Ok((o, script, name))
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, kind: EventKind) {
        emit(&self.parent.rec, kind);
    }

    fn emit_for(&self, id: Option<&str>, kind: EventKind) {
        let _ = self.parent.rec.emit_for(id, kind);
    }

    /// Runs the script to its end, then ends the agents it left running.
    pub(super) async fn execute(self: Arc<Self>, script: String, file_name: String) -> Result<Value, String> {
        let limits = self.parent.template.workflow.limits;
        let host: Arc<dyn Host> = Arc::new(HostRef(self.clone()));
        let result = engine::run(script, file_name, self.args.clone(), limits, host, self.meter.clone()).await;
        // Agents the script did not wait for would outlive it.
        self.stop_children(Duration::from_secs(20)).await;
        let (agents, usage) = {
            let s = self.lock();
            (s.agents, s.spent())
        };
        let (ok, value, error) = match &result {
            Ok(v) => (true, v.clone(), None),
            Err(e) => (false, Value::Null, Some(e.to_string())),
        };
        self.emit(EventKind::WorkflowFinished { run: self.run, ok, result: value, error, agents, usage });
        result.map_err(|e| e.to_string())
    }

    /// A command from the supervisor for this run; the events it causes carry `id`.
    pub(super) fn command(&self, cmd: Command, id: Option<&str>) {
        match cmd {
            Command::Pause => self.pause("the supervisor paused the run".into(), false, id),
            Command::Resume => {
                let children = {
                    let mut s = self.lock();
                    if !s.paused {
                        return;
                    }
                    s.paused = false;
                    // Resuming after a cap pause runs past the caps, as resuming after a
                    // session budget pause does.
                    if std::mem::take(&mut s.cap_pause) {
                        s.waived = true;
                    }
                    s.children.iter().map(|(n, c)| (*n, c.clone())).collect::<Vec<_>>()
                };
                self.emit_for(id, EventKind::WorkflowResumed { run: self.run });
                for (n, c) in children {
                    self.note_cause(n, false, id);
                    let _ = send_child(&c, Command::Resume, id);
                }
                self.changed.notify_waiters();
            }
            Command::Stop => {
                self.meter.trip(Tripped::Stopped);
                let children: Vec<_> = {
                    let mut s = self.lock();
                    s.stopping = true;
                    s.children.values().cloned().collect()
                };
                for c in children {
                    let _ = send_child(&c, Command::Stop, id);
                }
                self.changed.notify_waiters();
            }
            Command::ToAgent { target, command } => {
                let allowed = matches!(*command, Command::Pause | Command::Resume | Command::Stop | Command::Inject(_));
                let child = self.lock().children.get(&target).cloned();
                match (allowed, child) {
                    (false, _) => self.emit_for(
                        id,
                        EventKind::Warning {
                            message: format!("agent {target} takes pause, resume, stop or a correction, not {:?}", command),
                        },
                    ),
                    (true, None) => {
                        self.emit_for(id, EventKind::Warning { message: format!("agent {target} is not running; the command was dropped") })
                    }
                    // The subagent's events (its queued correction) echo the id, and so do
                    // the run's `agent_paused` and `agent_resumed`.
                    (true, Some(c)) => {
                        match *command {
                            Command::Pause => self.note_cause(target, true, id),
                            Command::Resume => self.note_cause(target, false, id),
                            _ => {}
                        }
                        if send_child(&c, *command, id).is_err() {
                            self.emit_for(
                                id,
                                EventKind::Warning { message: format!("agent {target} has just ended; the command was dropped") },
                            );
                        }
                    }
                }
            }
            Command::Inject(_) => self.emit_for(
                id,
                EventKind::Warning {
                    message: "a correction during a workflow goes to one agent: address it to that agent (to_agent)".into(),
                },
            ),
            other => self.emit_for(id, EventKind::Warning { message: format!("a workflow run does not take {other:?}") }),
        }
    }

    /// Pauses the whole run: queued agents wait, running ones pause at their next boundary.
    /// `cap`: the pause is for a budget, so resuming waives the caps.
    pub(super) fn pause(&self, reason: String, cap: bool, id: Option<&str>) {
        let children = {
            let mut s = self.lock();
            s.cap_pause |= cap;
            if s.paused {
                return;
            }
            s.paused = true;
            s.children.iter().map(|(n, c)| (*n, c.clone())).collect::<Vec<_>>()
        };
        self.emit_for(id, EventKind::WorkflowPaused { run: self.run, reason });
        for (n, c) in children {
            self.note_cause(n, true, id);
            let _ = send_child(&c, Command::Pause, id);
        }
    }

    fn note_cause(&self, agent: u64, pause: bool, id: Option<&str>) {
        if let Some(id) = id {
            self.lock().causes.insert((agent, pause), id.to_string());
        }
    }

    /// The id of the command that led to agent `agent`'s pause (or resume), once.
    pub(super) fn take_cause(&self, agent: u64, pause: bool) -> Option<String> {
        self.lock().causes.remove(&(agent, pause))
    }

    /// Stops the run: the script, then every agent, waiting up to `timeout` for them to end.
    pub(super) async fn stop(&self, timeout: Duration) {
        self.command(Command::Stop, None);
        self.wait_for_children(timeout).await;
    }

    async fn stop_children(&self, timeout: Duration) {
        let children: Vec<_> = {
            let mut s = self.lock();
            if s.children.is_empty() {
                return;
            }
            s.stopping = true;
            s.children.values().cloned().collect()
        };
        for c in children {
            let _ = c.send(Command::Stop);
        }
        self.wait_for_children(timeout).await;
    }

    async fn wait_for_children(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.lock().children.is_empty() {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    /// Waits while the run is paused; Err when it is stopping.
    pub(super) async fn wait_unpaused(&self) -> Result<(), String> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let s = self.lock();
                if s.stopping {
                    return Err("the workflow was stopped".into());
                }
                if !s.paused {
                    return Ok(());
                }
            }
            notified.await;
        }
    }

    /// Checks the caps before an agent starts: headless, a cap reached rejects the call;
    /// supervised, the run pauses until the supervisor resumes it (which waives the caps).
    async fn admit(&self) -> Result<(), String> {
        loop {
            let reached = self.lock().cap_reached();
            let Some(reason) = reached else { return Ok(()) };
            if self.parent.template.supervision == Supervision::Headless {
                return Err(format!("the workflow's budget is spent ({reason}); no new agent starts"));
            }
            let newly = {
                let mut s = self.lock();
                let newly = !s.paused;
                s.paused = true;
                s.cap_pause = true;
                newly
            };
            if newly {
                self.emit(EventKind::WorkflowPaused { run: self.run, reason: format!("budget: {reason}") });
            }
            self.wait_unpaused().await?;
        }
    }

    /// `agent(prompt, opts)`.
    async fn agent(self: Arc<Self>, prompt: String, opts: Value, line: Option<u32>) -> Result<Value, String> {
        let parsed = AgentOpts::parse(&opts)?;
        let hash = super::journal::call_hash(&prompt, &opts);
        let (key, known, phase) = {
            let mut s = self.lock();
            if s.stopping {
                return Err("the workflow was stopped".into());
            }
            let n = s.occurrences.entry(hash.clone()).or_insert(0);
            let key = format!("{hash}#{n}");
            *n += 1;
            let known = s.journal.known(&key).cloned().unwrap_or_default();
            (key, known, s.phase.clone())
        };
        if let Some(entry) = known.settled {
            return self.replay(entry, &parsed.label, &prompt, phase, line);
        }
        self.admit().await?;
        let (agent, worktree) = match &known.started {
            Some((n, _, wt)) => (*n, wt.clone()),
            None => {
                let n = self.parent.next_agent();
                (n, parsed.isolation.then(|| super::worktree::plan(&self.parent.session_id, n)))
            }
        };
        self.lock().agents += 1;
        self.emit(EventKind::AgentQueued { run: self.run, agent, label: parsed.label.clone(), phase, prompt: prompt.clone(), line });
        if known.started.is_none() {
            let entry = Entry::Started { key: key.clone(), agent, label: parsed.label.clone(), worktree: worktree.clone() };
            self.lock().journal.append(entry).map_err(|e| e.to_string())?;
        }
        let _slot = self.slots.clone().acquire_owned().await.map_err(|_| "the workflow ended".to_string())?;
        self.wait_unpaused().await?;
        let resume = known.started.is_some();
        let call = super::subagent::Call { key: &key, n: agent, prompt: &prompt, opts: &parsed, line };
        let end = super::subagent::run(&self, call, worktree, resume).await;
        let label = parsed.label;
        match end {
            ChildEnd::Answer { result, steps, usage } => {
                let entry = Entry::Finished { key, agent, result: result.clone(), steps, usage };
                self.settle(agent, usage, entry)?;
                self.emit(EventKind::AgentFinished { run: self.run, agent, label, result: result.clone(), steps, usage, journaled: false });
                Ok(result)
            }
            ChildEnd::Failed { error, steps, usage, by_run } => {
                let entry = Entry::Failed { key, agent, error: error.clone(), steps, usage };
                // An agent ended because the whole run stopped (a crash later, a Stop) is
                // not journaled: a resumed run continues it instead of replaying the stop.
                if by_run {
                    let mut s = self.lock();
                    s.live.remove(&agent);
                    s.settled.add(usage);
                } else {
                    self.settle(agent, usage, entry)?;
                }
                self.emit(EventKind::AgentFailed { run: self.run, agent, label, error: error.clone(), steps, usage });
                Err(error)
            }
        }
    }

    fn settle(&self, agent: u64, usage: AgentUsage, entry: Entry) -> Result<(), String> {
        let mut s = self.lock();
        s.live.remove(&agent);
        s.settled.add(usage);
        s.journal.append(entry).map_err(|e| e.to_string())
    }

    /// A call the journal says settled in an earlier process: its answer at once.
    fn replay(&self, entry: Entry, label: &str, prompt: &str, phase: Option<String>, line: Option<u32>) -> Result<Value, String> {
        let (agent, usage, steps) = match &entry {
            Entry::Finished { agent, usage, steps, .. } | Entry::Failed { agent, usage, steps, .. } => (*agent, *usage, *steps),
            Entry::Started { agent, .. } => (*agent, AgentUsage::default(), 0),
        };
        {
            let mut s = self.lock();
            s.agents += 1;
            s.settled.add(usage);
        }
        self.emit(EventKind::AgentQueued { run: self.run, agent, label: label.to_string(), phase, prompt: prompt.to_string(), line });
        match entry {
            Entry::Finished { result, .. } => {
                self.emit(EventKind::AgentFinished {
                    run: self.run,
                    agent,
                    label: label.to_string(),
                    result: result.clone(),
                    steps,
                    usage,
                    journaled: true,
                });
                Ok(result)
            }
            Entry::Failed { error, .. } => {
                self.emit(EventKind::AgentFailed { run: self.run, agent, label: label.to_string(), error: error.clone(), steps, usage });
                Err(error)
            }
            Entry::Started { .. } => Err("internal: a started journal entry replayed".into()),
        }
    }

    fn budget_view(&self) -> Value {
        let s = self.lock();
        let caps = s.caps();
        let spent = s.spent();
        json!({
            "limits": {"tokens": caps.tokens, "cost": caps.cost, "agents": caps.agents},
            "spent": {"tokens": spent.tokens(), "cost": spent.cost_usd, "agents": s.agents},
        })
    }

    fn set_budget(&self, caps: Value) -> Result<Value, String> {
        let Value::Object(o) = &caps else { return Err("budget(caps): give an object".into()) };
        if let Some(k) = o.keys().find(|k| !["tokens", "cost", "agents"].contains(&k.as_str())) {
            return Err(format!("budget(caps): unknown cap `{k}`; the caps are tokens, cost and agents"));
        }
        let whole = |k: &str| -> Result<Option<u64>, String> {
            match o.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_u64().map(Some).ok_or_else(|| format!("budget(caps): `{k}` must be a whole number, not {v}")),
            }
        };
        let cost = match o.get("cost") {
            None | Some(Value::Null) => None,
            Some(v) => {
                Some(v.as_f64().filter(|c| *c >= 0.0).ok_or_else(|| format!("budget(caps): `cost` must be a number of USD, not {v}"))?)
            }
        };
        let script_caps = WorkflowCaps { tokens: whole("tokens")?, cost, agents: whole("agents")? };
        let effective = {
            let mut s = self.lock();
            s.script_caps = script_caps;
            s.caps()
        };
        self.emit(EventKind::WorkflowBudget { run: self.run, caps: effective });
        Ok(self.budget_view())
    }

    async fn merge(self: Arc<Self>, result: Value) -> Result<Value, String> {
        let workspace = self.parent.workspace.clone();
        let locks = self.parent.file_locks.clone();
        let r = result.clone();
        let report = tokio::task::spawn_blocking(move || super::worktree::merge(&workspace, &r, &locks))
            .await
            .map_err(|e| format!("merge failed: {e}"))??;
        let agent = result.get("agent").and_then(Value::as_u64).unwrap_or(0);
        let branch = result.get("branch").and_then(Value::as_str).unwrap_or_default().to_string();
        self.emit(EventKind::WorkflowMerged {
            run: self.run,
            agent,
            branch,
            applied: report.applied.clone(),
            conflicts: report.conflicts.clone(),
        });
        Ok(json!({"ok": report.conflicts.is_empty(), "applied": report.applied, "conflicts": report.conflicts}))
    }

    /// The run's caps as budgets for agent `agent`.
    pub(super) fn shared_budget(self: &Arc<Self>, agent: u64) -> Arc<dyn SharedBudget> {
        Arc::new(RunBudget { run: Arc::downgrade(self), agent })
    }
}

/// Sends a command to a subagent under the supervisor's id when there is one, so the events
/// it causes in the subagent's session echo that id.
fn send_child(c: &crate::agent::CommandSender, command: Command, id: Option<&str>) -> Result<(), crate::agent::RuntimeGone> {
    match id {
        Some(id) => c.send_envelope(crate::protocol::CommandEnvelope { id: id.to_string(), command }),
        None => c.send(command).map(|_| ()),
    }
}

struct RunBudget {
    run: Weak<Orchestrator>,
    agent: u64,
}

impl SharedBudget for RunBudget {
    fn readings(&self, own: &crate::session::SessionState) -> Vec<BudgetReading> {
        let Some(o) = self.run.upgrade() else { return Vec::new() };
        let s = o.lock();
        if s.waived {
            return Vec::new();
        }
        let caps = s.caps();
        // The agent's own usage from its state, which is current; the others' as last heard.
        let mut spent = s.settled;
        for (n, u) in &s.live {
            if *n != self.agent {
                spent.add(*u);
            }
        }
        spent.add(AgentUsage {
            prompt_tokens: own.usage.prompt_tokens,
            completion_tokens: own.usage.completion_tokens,
            cost_usd: own.usage.cost_usd,
        });
        let mut out = Vec::new();
        if let Some(t) = caps.tokens {
            out.push(BudgetReading { kind: BudgetKind::Tokens, used: spent.tokens() as f64, limit: t as f64 });
        }
        if let Some(c) = caps.cost {
            out.push(BudgetReading { kind: BudgetKind::Cost, used: spent.cost_usd, limit: c });
        }
        out
    }
}

/// The engine's view of the orchestrator. The engine polls host futures on its own thread;
/// the work itself runs on the session's runtime.
struct HostRef(Arc<Orchestrator>);

impl Host for HostRef {
    fn agent(&self, prompt: String, opts: Value, line: Option<u32>) -> HostFuture {
        let o = self.0.clone();
        let task = o.parent.runtime.spawn(o.clone().agent(prompt, opts, line));
        Box::pin(async move { task.await.unwrap_or_else(|e| Err(format!("the agent's task failed: {e}"))) })
    }

    fn merge(&self, result: Value) -> HostFuture {
        let o = self.0.clone();
        let task = o.parent.runtime.spawn(o.clone().merge(result));
        Box::pin(async move { task.await.unwrap_or_else(|e| Err(format!("merge failed: {e}"))) })
    }

    fn phase(&self, name: String) {
        self.0.lock().phase = Some(name.clone());
        self.0.emit(EventKind::WorkflowPhase { run: self.0.run, name });
    }

    fn log(&self, message: String) {
        self.0.emit(EventKind::WorkflowLog { run: self.0.run, message });
    }

    fn budget(&self) -> Value {
        self.0.budget_view()
    }

    fn set_budget(&self, caps: Value) -> Result<Value, String> {
        self.0.set_budget(caps)
    }
}
