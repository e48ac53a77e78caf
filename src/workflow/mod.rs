//! Dynamic Workflow: orchestration written as JavaScript, run by endure.
//!
//! A script (`engine`) calls `agent()` and the other primitives; each `agent()` call is a
//! subagent: a real session of the same runtime (`agent::spawn`) whose files live in the
//! parent session's directory (`agents/<n>/`). [`Parent`] ties workflows to the session that
//! runs them (an agent's `workflow` tool, or `endure workflow run`); `run` is the orchestrator
//! that answers the script: journal, budgets, commands, events.

pub mod describe;
pub mod engine;
pub mod journal;
pub mod meter;
mod parent;
mod run;
pub mod schema;
pub mod scripts;
pub mod session;
mod subagent;
pub mod worktree;

pub use engine::{Limits, ScriptError};
pub use parent::{Parent, RunSpec, ToolHost};

/// How workflows run in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkflowSettings {
    pub limits: Limits,
    /// Subagents running at once in one run, whatever the script asks for.
    pub max_agents_at_once: usize,
}

impl Default for WorkflowSettings {
    fn default() -> Self {
        WorkflowSettings { limits: Limits::default(), max_agents_at_once: 16 }
    }
}
