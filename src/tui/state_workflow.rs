//! The workbench's fold of workflow events: each run's phases and agents, and each agent's own
//! session projected from the `subagent_event`s that carry it, so that the usual panels can be
//! scoped to one subagent. Everything comes from the event stream; nothing is read from disk.

use std::collections::BTreeMap;

use super::WorkbenchState;
use crate::protocol::{AgentUsage, Event, EventKind, WorkflowCaps};

/// Where a subagent stands, as the Workflow panel shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentStatus {
    Queued,
    Running,
    Paused,
    Done,
    Failed,
}

impl AgentStatus {
    pub fn label(self) -> &'static str {
        match self {
            AgentStatus::Queued => "queued",
            AgentStatus::Running => "running",
            AgentStatus::Paused => "paused",
            AgentStatus::Done => "done",
            AgentStatus::Failed => "failed",
        }
    }

    /// Still waiting on: its `await` in the script is pending.
    pub fn pending(self) -> bool {
        matches!(self, AgentStatus::Queued | AgentStatus::Running | AgentStatus::Paused)
    }
}

/// One subagent: the summary the run's events give, and its own session's projection.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentView {
    pub n: u64,
    pub run: u32,
    pub label: String,
    pub phase: Option<String>,
    pub prompt: String,
    pub status: AgentStatus,
    pub step: u64,
    pub usage: AgentUsage,
    /// Its latest action (a tool and its target, or "answered").
    pub action: String,
    /// The script line its `agent()` call was made from.
    pub line: Option<u32>,
    /// Settled from the journal of an earlier process.
    pub journaled: bool,
    pub error: Option<String>,
    /// Its session as far as this workbench saw it (`subagent_event`s are live only).
    pub view: Box<WorkbenchState>,
}

impl AgentView {
    fn empty(run: u32, n: u64) -> AgentView {
        AgentView {
            n,
            run,
            label: String::new(),
            phase: None,
            prompt: String::new(),
            status: AgentStatus::Queued,
            step: 0,
            usage: AgentUsage::default(),
            action: String::new(),
            line: None,
            journaled: false,
            error: None,
            view: Box::default(),
        }
    }
}

/// One workflow run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunView {
    pub run: u32,
    pub name: String,
    /// The script's text, from `workflow_started`.
    pub source: String,
    /// Started by an agent's `workflow` call (not by `endure workflow run`).
    pub by_tool: bool,
    /// Phases in the order the script named them.
    pub phases: Vec<String>,
    /// Agents in the order they were queued.
    pub agents: Vec<u64>,
    pub caps: WorkflowCaps,
    pub paused: Option<String>,
    /// `Some(Ok)` when the script returned, `Some(Err(why))` when it failed.
    pub finished: Option<Result<(), String>>,
    /// The newest `log()` lines, oldest first.
    pub logs: Vec<String>,
}

/// How many `log()` lines a run keeps for display.
const LOGS_KEPT: usize = 50;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkflowView {
    pub runs: Vec<RunView>,
    pub agents: BTreeMap<u64, AgentView>,
}

impl WorkflowView {
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    pub fn run(&self, run: u32) -> Option<&RunView> {
        self.runs.iter().find(|r| r.run == run)
    }

    fn run_mut(&mut self, run: u32) -> &mut RunView {
        let i = match self.runs.iter().position(|r| r.run == run) {
            Some(i) => i,
            None => {
                self.runs.push(RunView { run, ..Default::default() });
                self.runs.len() - 1
            }
        };
        &mut self.runs[i]
    }

    fn agent_mut(&mut self, run: u32, n: u64) -> &mut AgentView {
        let r = self.run_mut(run);
        if !r.agents.contains(&n) {
            r.agents.push(n);
        }
        self.agents.entry(n).or_insert_with(|| AgentView::empty(run, n))
    }

    /// What run `run` has spent so far: its agents' usage as last reported.
    pub fn spent(&self, run: &RunView) -> AgentUsage {
        let mut total = AgentUsage::default();
        for a in run.agents.iter().filter_map(|n| self.agents.get(n)) {
            total.add(a.usage);
        }
        total
    }

    /// Agents of run `run` with each status, in `AgentStatus` order.
    pub fn counts(&self, run: &RunView) -> [usize; 5] {
        let mut c = [0; 5];
        for a in run.agents.iter().filter_map(|n| self.agents.get(n)) {
            c[a.status as usize] += 1;
        }
        c
    }

    /// The phases of `run` with their agents, in script order; agents queued before any
    /// phase come first under `None`.
    pub fn tree<'a>(&'a self, run: &'a RunView) -> Vec<(Option<&'a str>, Vec<&'a AgentView>)> {
        let mut out: Vec<(Option<&str>, Vec<&AgentView>)> = Vec::new();
        let agents: Vec<&AgentView> = run.agents.iter().filter_map(|n| self.agents.get(n)).collect();
        let loose: Vec<&AgentView> = agents.iter().copied().filter(|a| a.phase.as_ref().is_none_or(|p| !run.phases.contains(p))).collect();
        if !loose.is_empty() {
            out.push((None, loose));
        }
        for p in &run.phases {
            out.push((Some(p.as_str()), agents.iter().copied().filter(|a| a.phase.as_deref() == Some(p.as_str())).collect()));
        }
        out
    }

    /// Folds one event; true when it was a workflow event.
    pub fn apply(&mut self, ev: &Event) -> bool {
        match &ev.kind {
            EventKind::WorkflowStarted { run, name, source, call_id, .. } => {
                let r = self.run_mut(*run);
                r.name = name.clone();
                if !source.is_empty() {
                    r.source = source.clone();
                }
                r.by_tool = call_id.is_some();
                r.finished = None;
                r.paused = None;
            }
            EventKind::WorkflowPhase { run, name } => {
                let r = self.run_mut(*run);
                if !r.phases.contains(name) {
                    r.phases.push(name.clone());
                }
            }
            EventKind::WorkflowLog { run, message } => {
                let r = self.run_mut(*run);
                r.logs.push(message.clone());
                if r.logs.len() > LOGS_KEPT {
                    r.logs.remove(0);
                }
            }
            EventKind::WorkflowBudget { run, caps } => self.run_mut(*run).caps = *caps,
            EventKind::WorkflowPaused { run, reason } => self.run_mut(*run).paused = Some(reason.clone()),
            EventKind::WorkflowResumed { run } => self.run_mut(*run).paused = None,
            EventKind::WorkflowMerged { .. } => {}
            EventKind::WorkflowFinished { run, ok, error, .. } => {
                let r = self.run_mut(*run);
                r.paused = None;
                r.finished = Some(if *ok { Ok(()) } else { Err(error.clone().unwrap_or_default()) });
            }
            EventKind::AgentQueued { run, agent, label, phase, prompt, line } => {
                let a = self.agent_mut(*run, *agent);
                a.label = label.clone();
                a.phase = phase.clone();
                a.prompt = prompt.clone();
                a.status = AgentStatus::Queued;
                a.line = line.or(a.line);
            }
            EventKind::AgentStarted { run, agent, label, line, .. } => {
                let a = self.agent_mut(*run, *agent);
                a.label = label.clone();
                a.status = AgentStatus::Running;
                a.line = line.or(a.line);
            }
            EventKind::AgentStep { run, agent, step, action, usage } => {
                let a = self.agent_mut(*run, *agent);
                a.step = *step;
                a.action = action.clone();
                a.usage = *usage;
            }
            EventKind::AgentPaused { run, agent, .. } => self.agent_mut(*run, *agent).status = AgentStatus::Paused,
            EventKind::AgentResumed { run, agent } => self.agent_mut(*run, *agent).status = AgentStatus::Running,
            EventKind::AgentFinished { run, agent, label, steps, usage, journaled, .. } => {
                let a = self.agent_mut(*run, *agent);
                a.label = label.clone();
                a.status = AgentStatus::Done;
                a.step = *steps;
                a.usage = *usage;
                a.journaled = *journaled;
            }
            EventKind::AgentFailed { run, agent, label, error, steps, usage } => {
                let a = self.agent_mut(*run, *agent);
                a.label = label.clone();
                a.status = AgentStatus::Failed;
                a.step = *steps;
                a.usage = *usage;
                a.error = Some(error.clone());
            }
            EventKind::SubagentEvent { run, agent, event } => self.agent_mut(*run, *agent).view.apply(event),
            _ => return false,
        }
        true
    }
}

impl WorkbenchState {
    /// The state the usual panels show: the subagent the supervisor drilled into, or the
    /// session itself.
    pub fn scoped(&self) -> &WorkbenchState {
        match self.scope.and_then(|n| self.workflow.agents.get(&n)) {
            Some(a) => &a.view,
            None => self,
        }
    }

    pub fn scoped_mut(&mut self) -> &mut WorkbenchState {
        let scope = self.scope.filter(|n| self.workflow.agents.contains_key(n));
        let Some(n) = scope else { return self };
        self.workflow.agents.entry(n).or_insert_with(|| AgentView::empty(0, n)).view.as_mut()
    }

    /// The pause and resume of a run started by `endure workflow run` are the session's own.
    pub(super) fn apply_workflow_run_state(&mut self, kind: &EventKind) {
        let own = |run: &u32, w: &WorkflowView| w.run(*run).is_some_and(|r| !r.by_tool);
        match kind {
            EventKind::WorkflowPaused { run, .. } if own(run, &self.workflow) && self.run_is_live() => {
                self.pause_pending = false;
                self.run = super::RunState::Paused(crate::protocol::PauseReason::Supervisor);
            }
            EventKind::WorkflowResumed { run } if own(run, &self.workflow) && matches!(self.run, super::RunState::Paused(_)) => {
                self.pause_pending = false;
                self.run = super::RunState::Running;
            }
            _ => {}
        }
    }
}
