//! One `agent()` call: a child session of the same runtime, configured from its parent's,
//! whose events are summarised into the parent's log while it runs.

use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::journal::WorktreeInfo;
use super::run::Orchestrator;
use crate::agent::{self, Budgets, ChildSettings, ResumeFrom};
use crate::protocol::{AgentUsage, EventKind, Message, Outcome, tool_target};

const KNOWN: &[&str] = &["label", "model", "tools", "schema", "max_steps", "isolation", "verify"];

/// The options of `agent(prompt, opts)`, checked.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct AgentOpts {
    pub label: String,
    pub model: Option<String>,
    pub tools: Option<Vec<String>>,
    pub schema: Option<Value>,
    pub max_steps: Option<u64>,
    /// `isolation: "worktree"`.
    pub isolation: bool,
    pub verify: bool,
}

impl AgentOpts {
    pub(super) fn parse(opts: &Value) -> Result<AgentOpts, String> {
        let Value::Object(o) = opts else { return Err("agent(prompt, opts): opts must be an object".into()) };
        if let Some(k) = o.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(format!("agent(): unknown option `{k}`; the options are {}", KNOWN.join(", ")));
        }
        let string = |k: &str| -> Result<Option<String>, String> {
            match o.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
                Some(v) => Err(format!("agent(): `{k}` must be a non-empty string, not {v}")),
            }
        };
        let tools = match o.get("tools") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => {
                let mut names = Vec::new();
                for t in a {
                    let Some(name) = t.as_str() else { return Err(format!("agent(): `tools` must list tool names, not {t}")) };
                    if !crate::tools::TOOL_NAMES.contains(&name) || name == "workflow" {
                        let offered: Vec<&str> = crate::tools::TOOL_NAMES.iter().copied().filter(|n| *n != "workflow").collect();
                        return Err(format!("agent(): `{name}` is not a tool a subagent can have; the tools are {}", offered.join(", ")));
                    }
                    names.push(name.to_string());
                }
                Some(names)
            }
            Some(v) => return Err(format!("agent(): `tools` must be an array of tool names, not {v}")),
        };
        let schema = match o.get("schema") {
            None | Some(Value::Null) => None,
            Some(s) => {
                super::schema::check(s).map_err(|e| format!("agent(): {e}"))?;
                Some(s.clone())
            }
        };
        let max_steps = match o.get("max_steps") {
            None | Some(Value::Null) => None,
            Some(v) => {
                Some(v.as_u64().filter(|n| *n > 0).ok_or_else(|| format!("agent(): `max_steps` must be a whole number above 0, not {v}"))?)
            }
        };
        let isolation = match string("isolation")?.as_deref() {
            None => false,
            Some("worktree") => true,
            Some(other) => return Err(format!("agent(): isolation `{other}` is not known; the one isolation is \"worktree\"")),
        };
        let verify = match o.get("verify") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => return Err(format!("agent(): `verify` must be true or false, not {v}")),
        };
        Ok(AgentOpts {
            label: string("label")?.unwrap_or_else(|| "agent".to_string()),
            model: string("model")?,
            tools,
            schema,
            max_steps,
            isolation,
            verify,
        })
    }
}

/// How a subagent ended.
pub(super) enum ChildEnd {
    Answer {
        result: Value,
        steps: u64,
        usage: AgentUsage,
    },
    /// `by_run`: it ended because the whole run was stopping, not by its own doing.
    Failed {
        error: String,
        steps: u64,
        usage: AgentUsage,
        by_run: bool,
    },
}

/// What a subagent is told besides its prompt.
fn task(prompt: &str, opts: &AgentOpts) -> String {
    let answer = match &opts.schema {
        Some(schema) => format!(
            "Its `result` is your answer: a JSON value matching this JSON Schema:\n{}",
            serde_json::to_string_pretty(schema).unwrap_or_default()
        ),
        None => "Its `summary` is your answer.".to_string(),
    };
    format!(
        "{prompt}\n\n[endure] You are a subagent of a workflow (`{}`). Do the task above with your tools, then call `done` once. {answer}",
        opts.label
    )
}

/// The answer a finished subagent gave: `done`'s `result` when it has a schema, else the
/// summary.
fn answer(state: &crate::session::SessionState, summary: &str, schema: bool) -> Value {
    if !schema {
        return Value::String(summary.to_string());
    }
    let last_done = state.messages.iter().rev().find_map(|m| match m {
        Message::Assistant { tool_calls, .. } => tool_calls.iter().rev().find(|c| c.name == "done").cloned(),
        _ => None,
    });
    last_done.and_then(|c| serde_json::from_str::<Value>(&c.arguments).ok()).and_then(|a| a.get("result").cloned()).unwrap_or(Value::Null)
}

fn usage_of(state: &crate::session::SessionState) -> AgentUsage {
    AgentUsage {
        prompt_tokens: state.usage.prompt_tokens,
        completion_tokens: state.usage.completion_tokens,
        cost_usd: state.usage.cost_usd,
    }
}

/// The call being run: which agent, under which journal key.
pub(super) struct Call<'a> {
    pub key: &'a str,
    pub n: u64,
    pub prompt: &'a str,
    pub opts: &'a AgentOpts,
    pub line: Option<u32>,
}

/// Runs (or resumes) subagent `n` to its end.
pub(super) async fn run(o: &Arc<Orchestrator>, call: Call<'_>, worktree: Option<WorktreeInfo>, resume: bool) -> ChildEnd {
    let Call { key, n, prompt, opts, line } = call;
    let failed = |error: String| ChildEnd::Failed { error, steps: 0, usage: AgentUsage::default(), by_run: false };
    let parent = &o.parent;
    let dir = parent.session_dir.join("agents").join(n.to_string());
    let log_file = dir.join("events.jsonl");
    // What an earlier process's run of this agent recorded: a finished one is not run again,
    // and an unfinished one continues with its usage so far.
    let history = if resume && log_file.is_file() { crate::session::read_log(&log_file).ok().map(|r| r.events) } else { None };
    let earlier = history.as_ref().map(crate::session::SessionState::from_events);
    if let Some(state) = &earlier
        && let Some((Outcome::Done, summary)) = &state.outcome
    {
        let result = answer(state, summary, opts.schema.is_some());
        return finish(o, n, result, state.step, usage_of(state), worktree).await;
    }
    let resume = earlier.is_some();
    let prior = earlier.as_ref().map(usage_of).unwrap_or_default();
    // An isolated agent works in its own worktree; the others share the workspace and its
    // per-file locks.
    let (workspace, worktree) = match worktree {
        Some(mut info) => {
            let ws = parent.workspace.clone();
            let prepared = tokio::task::spawn_blocking(move || super::worktree::prepare(&ws, &mut info).map(|p| (p, info))).await;
            match prepared {
                Ok(Ok((path, info))) => {
                    // The base is known only now; a resumed run must find the same one.
                    let entry = super::journal::Entry::Started {
                        key: key.to_string(),
                        agent: n,
                        label: opts.label.clone(),
                        worktree: Some(info.clone()),
                    };
                    if let Err(e) = o.lock().journal.append(entry) {
                        return failed(e.to_string());
                    }
                    (path, Some(info))
                }
                Ok(Err(e)) => return failed(e),
                Err(e) => return failed(format!("worktree: {e}")),
            }
        }
        None => (parent.workspace.clone(), None),
    };
    let provider = match parent.template.provider.for_subagent(&opts.label) {
        Ok(p) => p.unwrap_or_else(|| parent.template.provider.clone()),
        Err(e) => return failed(e.to_string()),
    };
    let mut cfg = parent.template.clone();
    cfg.workspace = workspace;
    cfg.task = Some(task(prompt, opts));
    cfg.session_id = Some(format!("{}-a{n}", parent.session_id));
    cfg.resume = resume.then_some(ResumeFrom { at: None });
    cfg.provider = provider;
    if let Some(m) = &opts.model {
        cfg.models.agent = m.clone();
    }
    cfg.verifier.enabled = opts.verify;
    cfg.budgets = Budgets { max_steps: opts.max_steps, ..Default::default() };
    cfg.max_mode.candidates = None;
    // A fork's subagents are not forks themselves.
    cfg.fork = None;
    cfg.child = Some(ChildSettings {
        dir: dir.clone(),
        tools: opts.tools.clone(),
        schema: opts.schema.clone(),
        file_locks: worktree.is_none().then(|| parent.file_locks.clone()),
        budget: Some(o.shared_budget(n)),
    });
    let mut handle = match agent::spawn(cfg) {
        Ok(h) => h,
        Err(e) => return failed(format!("the subagent could not start: {e}")),
    };
    let log = handle.log_path.strip_prefix(&parent.workspace).unwrap_or(&handle.log_path).display().to_string();
    let paused = {
        let mut s = o.lock();
        s.children.insert(n, handle.commands.clone());
        s.live.insert(n, prior);
        s.paused
    };
    if paused {
        let _ = handle.commands.send(crate::protocol::Command::Pause);
    }
    o.parent
        .rec
        .emit(EventKind::AgentStarted {
            run: o.run,
            agent: n,
            label: opts.label.clone(),
            log,
            isolation: worktree.as_ref().map(|_| "worktree".to_string()),
            resumed: resume,
            line,
        })
        .ok();
    let mut events = handle.take_events();
    let mut join = handle.join;
    // A frontend following the agent live sees what its earlier process did too.
    for ev in history.into_iter().flatten() {
        let _ = o.parent.rec.emit(EventKind::SubagentEvent { run: o.run, agent: n, event: Box::new(ev) });
    }
    let mut follow = Follow { o: o.clone(), n, action: String::new(), usage: prior };
    let result = loop {
        tokio::select! {
            r = &mut join => break r,
            ev = events.recv() => match ev {
                Ok(ev) => follow.event(ev),
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break (&mut join).await,
            },
        }
    };
    while let Ok(ev) = events.try_recv() {
        follow.event(ev);
    }
    let stopping = {
        let mut s = o.lock();
        s.children.remove(&n);
        s.stopping
    };
    o.changed.notify_waiters();
    let r = match result {
        Ok(r) => r,
        Err(e) => {
            return ChildEnd::Failed { error: format!("the subagent's task failed: {e}"), steps: 0, usage: follow.usage, by_run: stopping };
        }
    };
    let usage = usage_of(&r.state);
    let steps = r.state.step;
    if r.outcome != Outcome::Done {
        let error = format!("agent {n} ({}) ended {}: {}", opts.label, r.outcome.as_str(), r.reason);
        return ChildEnd::Failed { error, steps, usage, by_run: stopping && r.outcome == Outcome::Stopped };
    }
    let result = answer(&r.state, &r.reason, opts.schema.is_some());
    finish(o, n, result, steps, usage, worktree).await
}

/// A finished agent's answer; an isolated one's work is committed to its branch and its
/// answer carries `{answer, agent, branch, base, diff}`.
async fn finish(o: &Arc<Orchestrator>, n: u64, result: Value, steps: u64, usage: AgentUsage, worktree: Option<WorktreeInfo>) -> ChildEnd {
    let Some(info) = worktree.filter(|w| !w.base.is_empty()) else { return ChildEnd::Answer { result, steps, usage } };
    let ws = o.parent.workspace.clone();
    let i = info.clone();
    match tokio::task::spawn_blocking(move || super::worktree::finish(&ws, &i, n)).await {
        Ok(Ok(diff)) => ChildEnd::Answer {
            result: json!({"answer": result, "agent": n, "branch": info.branch, "base": info.base, "diff": diff}),
            steps,
            usage,
        },
        Ok(Err(e)) => ChildEnd::Failed { error: format!("agent {n}: its worktree: {e}"), steps, usage, by_run: false },
        Err(e) => ChildEnd::Failed { error: format!("agent {n}: its worktree: {e}"), steps, usage, by_run: false },
    }
}

/// Turns a subagent's events into the parent's summary events.
struct Follow {
    o: Arc<Orchestrator>,
    n: u64,
    action: String,
    usage: AgentUsage,
}

impl Follow {
    fn event(&mut self, ev: crate::protocol::Event) {
        let run = self.o.run;
        let n = self.n;
        let summary = match &ev.kind {
            EventKind::ToolCall { name, args, .. } => {
                self.action = format!("{name} {}", tool_target(name, args)).trim().to_string();
                None
            }
            EventKind::Usage { prompt_tokens, completion_tokens, cost_usd, .. } => {
                self.usage.add(AgentUsage { prompt_tokens: *prompt_tokens, completion_tokens: *completion_tokens, cost_usd: *cost_usd });
                if let Some(u) = self.o.lock().live.get_mut(&n) {
                    u.add(AgentUsage { prompt_tokens: *prompt_tokens, completion_tokens: *completion_tokens, cost_usd: *cost_usd });
                }
                None
            }
            EventKind::StepFinished { step } => {
                let action = if self.action.is_empty() { "answered".to_string() } else { std::mem::take(&mut self.action) };
                Some(EventKind::AgentStep { run, agent: n, step: *step, action, usage: self.usage })
            }
            EventKind::Paused { reason } => Some(EventKind::AgentPaused { run, agent: n, reason: reason.clone() }),
            EventKind::Resumed => Some(EventKind::AgentResumed { run, agent: n }),
            _ => None,
        };
        let rec = &self.o.parent.rec;
        // A pause or resume the supervisor asked for echoes the command's id.
        let cause = match &summary {
            Some(EventKind::AgentPaused { reason: crate::protocol::PauseReason::Supervisor, .. }) => self.o.take_cause(n, true),
            Some(EventKind::AgentResumed { .. }) => self.o.take_cause(n, false),
            _ => ev.command_id.clone(),
        };
        let _ = rec.emit(EventKind::SubagentEvent { run, agent: n, event: Box::new(ev) });
        if let Some(kind) = summary {
            let _ = rec.emit_for(cause.as_deref(), kind);
        }
    }
}
