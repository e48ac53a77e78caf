//! Building a fresh window from the session's state, recording what it leaves behind, and
//! the supervisor's review of a proposed rebuild.
//!
//! A review changes nothing until it is approved: every edit rebuilds the proposal with the
//! same function the rollover uses ([`crate::memory::window::rebuild_with`]) and proposes it
//! again, so the totals the supervisor sees are the window the agent will get.

use std::collections::BTreeMap;
use std::path::Path;

use super::recorder::SharedRecorder;
use crate::memory::memory_file::MemoryFile;
use crate::memory::tokens;
use crate::memory::window::{self, Adjustments, RebuildError, RebuildInput, RebuiltWindow, SessionFacts};
use crate::protocol::{Checkpoint, EventKind, Message, OldUnit, RebuildEdit, RolloverReason, Task, WindowDrop, tool_target};
use crate::session::state::MessageOrigin;
use crate::session::{LogError, SessionState};

/// The limit of a rebuilt window: min(cap, half the budget).
pub(crate) fn window_limit(budget: u64, cap: u64) -> u64 {
    cap.min(budget / 2).max(1)
}

fn tool_spec_tokens() -> u64 {
    crate::tools::specs().iter().map(|t| tokens::estimate(&t.description) + tokens::estimate(&t.parameters.to_string())).sum()
}

/// Where a window is built: the workspace (for MEMORY.md), the context budget and the cap.
#[derive(Debug, Clone)]
pub(crate) struct WindowSpec<'a> {
    pub workspace: &'a Path,
    pub budget: u64,
    pub cap: u64,
}

/// A window rebuilt from `checkpoint` and `history` (with `tasks`), as of `state`.
pub(crate) fn build_window(
    spec: &WindowSpec,
    state: &SessionState,
    checkpoint: Option<(&str, &Checkpoint)>,
    history: &[Message],
    tasks: &[Task],
    adj: &Adjustments,
) -> Result<RebuiltWindow, RebuildError> {
    let memory = MemoryFile::load(spec.workspace).ok().map(|m| m.render()).filter(|m| !m.trim().is_empty());
    let system = state.info.as_ref().map(|i| i.system_prompt.as_str()).unwrap_or("");
    window::rebuild_with(
        &RebuildInput {
            system_tokens: tokens::estimate(system) + tool_spec_tokens(),
            limit_tokens: window_limit(spec.budget, spec.cap),
            memory_md: memory.as_deref(),
            checkpoint,
            task: state.task(),
            goal: state.goal(),
            tasks,
            corrections: &state.corrections,
            facts: SessionFacts {
                step: state.step,
                cycle: state.cycle,
                tool_calls: state.tool_calls,
                tokens_used: state.usage.tokens(),
                cost_usd: state.usage.cost_usd,
            },
            history,
        },
        adj,
    )
}

/// Where each message of a built window came from: `None` for the header and the reminder,
/// the history's origin for every message carried verbatim.
pub(crate) fn origins(built: &RebuiltWindow, history_origins: &[MessageOrigin]) -> Vec<Option<u64>> {
    let mut out = vec![None];
    out.extend(built.kept.iter().map(|i| history_origins.get(*i).map(|o| o.seq)));
    out.resize(built.messages.len(), None);
    out
}

/// What left the window: every history message not carried into the new one.
pub(crate) fn dropped(history: &[Message], history_origins: &[MessageOrigin], kept: &[usize]) -> Option<WindowDrop> {
    let gone: Vec<usize> = (0..history.len()).filter(|i| kept.binary_search(i).is_err()).collect();
    if gone.is_empty() {
        return None;
    }
    let origin = |i: usize| history_origins.get(i).copied().unwrap_or_default();
    let mut tool_calls: BTreeMap<String, u32> = BTreeMap::new();
    for i in &gone {
        if let Message::Assistant { tool_calls: calls, .. } = &history[*i] {
            for c in calls {
                *tool_calls.entry(c.name.clone()).or_default() += 1;
            }
        }
    }
    let mut seqs: Vec<u64> = gone.iter().map(|i| origin(*i).seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    let steps = gone.iter().map(|i| origin(*i).step);
    Some(WindowDrop {
        from_seq: seqs.first().copied().unwrap_or(0),
        to_seq: seqs.last().copied().unwrap_or(0),
        from_step: steps.clone().min().unwrap_or(0),
        to_step: steps.max().unwrap_or(0),
        messages: gone.len() as u32,
        tokens: gone.iter().map(|i| tokens::estimate_message(&history[*i])).sum(),
        tool_calls,
        seqs,
    })
}

/// One line saying what a unit of the old window is.
fn unit_label(msgs: &[Message]) -> String {
    let first_line = |t: &str| t.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
    let label = match msgs.first() {
        Some(Message::User { text }) => format!("user: {}", first_line(text)),
        Some(Message::Assistant { text, tool_calls, .. }) => {
            let calls: Vec<String> = tool_calls
                .iter()
                .map(|c| {
                    let args = serde_json::from_str(&c.arguments).unwrap_or(serde_json::Value::String(c.arguments.clone()));
                    format!("{} {}", c.name, tool_target(&c.name, &args))
                })
                .collect();
            match (first_line(text), calls.is_empty()) {
                (t, true) => format!("assistant: {t}"),
                (t, false) if t.is_empty() => format!("→ {}", calls.join(", ")),
                (t, false) => format!("{t} → {}", calls.join(", ")),
            }
        }
        Some(Message::Tool { name, content, .. }) => format!("{name} result: {}", first_line(content)),
        None => String::new(),
    };
    if label.chars().count() > 120 { format!("{}…", label.chars().take(119).collect::<String>()) } else { label }
}

/// The old window as the supervisor picks from it.
pub(crate) fn old_units(built: &RebuiltWindow, history: &[Message], history_origins: &[MessageOrigin]) -> Vec<OldUnit> {
    built
        .units
        .iter()
        .map(|u| {
            let origin = history_origins.get(u.range.start).copied().unwrap_or_default();
            OldUnit {
                index: u.index,
                seq: origin.seq,
                step: origin.step,
                label: unit_label(&history[u.range.clone()]),
                tokens: u.tokens,
                in_tail: u.in_tail,
                pinned: u.pinned,
            }
        })
        .collect()
}

/// A rollover ready to be applied: its final checkpoint is saved, and the old window is as
/// it was when the rollover was decided.
pub(crate) struct Prepared {
    pub reason: RolloverReason,
    pub checkpoint: Option<(String, Checkpoint)>,
    pub fill_pct: u32,
    /// The state the window is rebuilt from; nothing adds messages while a review waits.
    pub state: Box<SessionState>,
}

impl Prepared {
    pub(crate) fn build(&self, spec: &WindowSpec, adj: &Adjustments) -> Result<RebuiltWindow, RebuildError> {
        let s = &self.state;
        build_window(spec, s, self.checkpoint.as_ref().map(|(id, cp)| (id.as_str(), cp)), &s.messages.to_vec(), &s.tasks, adj)
    }
}

/// What an edit to a proposal led to.
pub(crate) enum ReviewStep {
    /// Applied and proposed again.
    Revised,
    /// Not applied; a warning says why.
    Rejected,
    Approve,
    Veto,
}

/// A rebuild waiting for the supervisor.
pub(crate) struct Review {
    pub id: u64,
    revision: u32,
    pub prepared: Prepared,
    pub adj: Adjustments,
    pub edits: Vec<RebuildEdit>,
    pub built: RebuiltWindow,
}

impl Review {
    /// A review of `built`, the window `prepared` rebuilds to without adjustments.
    pub(crate) fn new(id: u64, prepared: Prepared, built: RebuiltWindow) -> Review {
        Review { id, revision: 0, prepared, adj: Adjustments::default(), edits: Vec::new(), built }
    }

    /// Proposes the window; `cause` is the edit command that led to this revision.
    pub(crate) fn propose(&self, rec: &SharedRecorder, cause: Option<&str>, spec: &WindowSpec) -> Result<(), LogError> {
        let s = &self.prepared.state;
        rec.emit_for(
            cause,
            EventKind::RebuildProposed {
                id: self.id,
                revision: self.revision,
                cycle: s.cycle + 1,
                reason: self.prepared.reason,
                checkpoint: self.prepared.checkpoint.as_ref().map(|(id, _)| id.clone()),
                fill_pct: self.prepared.fill_pct,
                limit_tokens: window_limit(spec.budget, spec.cap),
                total_tokens: self.built.tokens,
                sections: self.built.sections.clone(),
                old_window: old_units(&self.built, &s.messages.to_vec(), &s.message_origins),
                edits: self.edits.clone(),
            },
        )
    }

    /// Applies one edit: a change is checked by building the window with it, and proposed
    /// again; one that cannot be built (a pin that does not fit, a section that must stay)
    /// is refused with a warning and changes nothing.
    pub(crate) fn apply(
        &mut self,
        rec: &SharedRecorder,
        cause: Option<&str>,
        spec: &WindowSpec,
        edit: RebuildEdit,
    ) -> Result<ReviewStep, LogError> {
        let refuse = |why: String| -> Result<ReviewStep, LogError> {
            rec.emit_for(cause, EventKind::Warning { message: format!("rebuild review: {why}") })?;
            Ok(ReviewStep::Rejected)
        };
        match &edit {
            RebuildEdit::Approve => return Ok(ReviewStep::Approve),
            RebuildEdit::Veto => return Ok(ReviewStep::Veto),
            RebuildEdit::DropSection { section } | RebuildEdit::RestoreSection { section } => {
                match self.built.sections.iter().find(|s| s.key == *section) {
                    None => return refuse(format!("there is no section `{section}`")),
                    Some(s) if !s.droppable => {
                        return refuse(format!("`{section}` holds the user's own words, which every rebuilt window keeps"));
                    }
                    Some(_) => {}
                }
            }
            RebuildEdit::EditField { field, .. } => {
                if self.prepared.checkpoint.is_none() {
                    return refuse("there is no checkpoint whose fields could be edited".into());
                }
                if !Checkpoint::FIELDS.contains(&field.as_str()) {
                    return refuse(format!("`{field}` is not a checkpoint field (one of: {})", Checkpoint::FIELDS.join(", ")));
                }
            }
            RebuildEdit::Pin { .. } | RebuildEdit::Unpin { .. } => {}
        }
        let mut adj = self.adj.clone();
        adj.apply(&edit);
        match self.prepared.build(spec, &adj) {
            Ok(built) => {
                self.adj = adj;
                self.built = built;
                self.edits.push(edit);
                self.revision += 1;
                self.propose(rec, cause, spec)?;
                Ok(ReviewStep::Revised)
            }
            Err(e) => refuse(e.to_string()),
        }
    }
}
