//! The workbench's side of workflows: the Workflow panel appears when a run starts, and
//! drilling into a subagent scopes the usual panels (transcript, diffs, tasks) to it.

use super::App;
use crate::tui::panels::workflow;

impl App {
    /// A workflow began: show its panel (once; the user may hide it again), and give it the
    /// focus when the workflow is what the session runs.
    pub(super) fn workflow_started(&mut self, own_session: bool) {
        if self.workflow_shown {
            return;
        }
        self.workflow_shown = true;
        self.hidden.remove(&workflow::ID);
        if own_session {
            self.set_focus(workflow::ID);
        }
    }

    /// Scopes the panels to subagent `n` (None: the session). The panels that hold a view of
    /// one state (selection, scroll, wrapped lines) start afresh, since cell ids and positions
    /// of one session mean nothing in another.
    pub(super) fn set_scope(&mut self, n: Option<u64>) {
        let n = n.filter(|n| self.state.workflow.agents.contains_key(n));
        if self.state.scope == n {
            return;
        }
        self.state.scope = n;
        let fresh = super::registry();
        for p in fresh {
            let id = p.id();
            if id == workflow::ID {
                continue;
            }
            if let Some(slot) = self.panels.iter_mut().find(|q| q.id() == id) {
                *slot = p;
            }
        }
        self.pending.clear();
        self.session_known();
        self.notice = Some(match n.and_then(|n| self.state.workflow.agents.get(&n)) {
            Some(a) => format!("agent {} [{}]: the panels show its session; pause, stop and corrections go to it only", a.n, a.label),
            None => "the panels show the whole session again".into(),
        });
    }
}
