//! The workbench's projection of cycle events: the rollover divider (what left the window),
//! a rebuild proposal waiting for review, the review setting, and checkpoint flags.

use super::{Cell, CellKind, NoticeLevel, RunState, WorkbenchState};
use crate::protocol::{
    CheckpointFlag, Event, EventKind, OldUnit, PauseReason, RebuildEdit, RebuildReview, RebuildSection, RolloverReason, WindowDrop,
};

/// A rollover in the transcript: one line saying what was summarized, expandable to what
/// was dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct RebuiltCell {
    pub cycle: u32,
    pub reason: RolloverReason,
    pub checkpoint: Option<String>,
    pub window_tokens: u64,
    pub dropped: Option<WindowDrop>,
    pub review: Option<RebuildReview>,
    /// The log records where the window came from (logs before this existed do not, so they
    /// cannot say what was dropped either).
    pub recorded: bool,
}

/// 48200 → "48,200".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl RebuiltCell {
    /// "context rebuilt: 42 messages from steps 3–31 (48,200 tokens) summarized into
    /// checkpoint 2.3".
    pub fn summary(&self) -> String {
        let into = match &self.checkpoint {
            Some(id) => format!("summarized into checkpoint {id}"),
            None => "with no checkpoint to summarize them".into(),
        };
        let mut s = match &self.dropped {
            Some(d) => {
                let steps = if d.from_step == d.to_step {
                    format!("step {}", d.from_step)
                } else {
                    format!("steps {}–{}", d.from_step, d.to_step)
                };
                let n = if d.messages == 1 { "1 message".to_string() } else { format!("{} messages", d.messages) };
                format!("context rebuilt: {n} from {steps} ({} tokens) {into}", thousands(d.tokens))
            }
            None if self.recorded => format!("context rebuilt: nothing dropped, {into}"),
            None => format!("context rebuilt from checkpoint {}", self.checkpoint.as_deref().unwrap_or("(none)")),
        };
        s.push_str(&format!(" · cycle {} · new window {} tokens", self.cycle, thousands(self.window_tokens)));
        match &self.review {
            Some(r) if r.forced => s.push_str(" · applied without your review: the window reached 100% of the budget"),
            Some(r) if !r.edits.is_empty() => {
                s.push_str(&format!(" · approved with {} change{}", r.edits.len(), if r.edits.len() == 1 { "" } else { "s" }))
            }
            Some(_) => s.push_str(" · approved as proposed"),
            None => {}
        }
        s
    }

    /// "read_file ×12, run ×3".
    pub fn tool_summary(&self) -> String {
        let Some(d) = &self.dropped else { return String::new() };
        d.tool_calls.iter().map(|(name, n)| format!("{name} ×{n}")).collect::<Vec<_>>().join(", ")
    }
}

/// A rebuilt window waiting for the supervisor's review, as last proposed.
#[derive(Debug, Clone, PartialEq)]
pub struct RebuildProposal {
    pub id: u64,
    pub revision: u32,
    pub cycle: u32,
    pub reason: RolloverReason,
    pub checkpoint: Option<String>,
    pub fill_pct: u32,
    pub limit_tokens: u64,
    pub total_tokens: u64,
    pub sections: Vec<RebuildSection>,
    pub old_window: Vec<OldUnit>,
    pub edits: Vec<RebuildEdit>,
}

fn waiting_reason() -> PauseReason {
    PauseReason::Rebuild { reason: "the rebuilt window waits for your review".into() }
}

impl WorkbenchState {
    /// Folds the cycle events this module owns; false for any other event.
    pub(super) fn apply_cycles(&mut self, id: u64, ev: &Event) -> bool {
        match &ev.kind {
            EventKind::Rollover { cycle, reason, checkpoint, window_tokens, dropped, review, origins, .. } => {
                if let Some(s) = self.sample_mut() {
                    s.rollover = true;
                }
                self.end_review();
                // Counted like `SessionState`: a rebuild the supervisor changed is an intervention.
                if review.as_ref().is_some_and(|r| !r.edits.is_empty()) {
                    self.intervened();
                }
                let idx = self.cells.len();
                self.push(
                    id,
                    CellKind::Rebuilt(Box::new(RebuiltCell {
                        cycle: *cycle,
                        reason: *reason,
                        checkpoint: checkpoint.clone(),
                        window_tokens: *window_tokens,
                        dropped: dropped.clone(),
                        review: review.clone(),
                        recorded: !origins.is_empty() || dropped.is_some(),
                    })),
                );
                self.seq_cells.insert(ev.seq, idx);
            }
            EventKind::RebuildProposed {
                id: pid,
                revision,
                cycle,
                reason,
                checkpoint,
                fill_pct,
                limit_tokens,
                total_tokens,
                sections,
                old_window,
                edits,
            } => {
                let first = self.rebuild.as_ref().is_none_or(|p| p.id != *pid);
                self.rebuild = Some(RebuildProposal {
                    id: *pid,
                    revision: *revision,
                    cycle: *cycle,
                    reason: *reason,
                    checkpoint: checkpoint.clone(),
                    fill_pct: *fill_pct,
                    limit_tokens: *limit_tokens,
                    total_tokens: *total_tokens,
                    sections: sections.clone(),
                    old_window: old_window.clone(),
                    edits: edits.clone(),
                });
                if self.run_is_live() {
                    self.run = RunState::Paused(waiting_reason());
                }
                if first {
                    self.push(
                        id,
                        CellKind::Notice {
                            level: NoticeLevel::Warning,
                            text: format!(
                                "a rebuilt window for cycle {cycle} waits for your review ({} of {} tokens, old window at {fill_pct}%)",
                                crate::tui::panels::status::tokens(*total_tokens),
                                crate::tui::panels::status::tokens(*limit_tokens)
                            ),
                        },
                    );
                }
            }
            EventKind::RebuildVetoed { fill_pct, next_pct, .. } => {
                self.end_review();
                self.intervened();
                self.push(
                    id,
                    CellKind::Notice {
                        level: NoticeLevel::Info,
                        text: format!(
                            "you vetoed the rebuild at {fill_pct}%: the run continues in the old window; asked again at {next_pct}%"
                        ),
                    },
                );
            }
            EventKind::RebuildReviewChanged { on } => {
                let text = if *on {
                    "rebuild review on: every rollover waits for your approval"
                } else {
                    "rebuild review off: rollovers apply at once"
                };
                self.push(id, CellKind::Notice { level: NoticeLevel::Info, text: text.into() });
            }
            EventKind::RebuildFailed { reason, .. } => {
                self.end_review();
                self.push(id, CellKind::Notice { level: NoticeLevel::Error, text: reason.clone() });
            }
            EventKind::CheckpointFlagged { id: cp, flags } => {
                if let Some(e) = self.checkpoints.iter_mut().rev().find(|c| c.id == *cp) {
                    e.flags = flags.clone();
                }
                let text = flags.iter().map(|f| format!("{}: {}", f.kind, f.detail)).collect::<Vec<_>>().join(" · ");
                self.push(id, CellKind::Notice { level: NoticeLevel::Warning, text: format!("checkpoint {cp} flagged — {text}") });
            }
            _ => return false,
        }
        true
    }

    /// The review that was waiting is over (approved, vetoed or failed).
    fn end_review(&mut self) {
        if self.rebuild.take().is_some() && matches!(&self.run, RunState::Paused(PauseReason::Rebuild { .. })) {
            self.run = RunState::Running;
        }
    }

    /// Remembers which cell shows the message event `ev` added, so a rollover's dropped
    /// messages can be opened; `cells_before` is the cell count before `ev` was folded.
    pub(super) fn map_message_seq(&mut self, ev: &Event, cells_before: usize) {
        let idx = match &ev.kind {
            EventKind::UserMessage { .. } | EventKind::RolledBack { .. } => self.cells.len().checked_sub(1),
            EventKind::AssistantMessage { .. } => {
                if self.cells.len() > cells_before {
                    self.cells.len().checked_sub(1)
                } else {
                    // An answer with only tool calls has no cell of its own: its first call's
                    // cell stands for it.
                    self.answer_without_cell = Some(ev.seq);
                    None
                }
            }
            EventKind::ToolCall { call_id, .. } => {
                if let (Some(seq), Some(i)) = (self.answer_without_cell.take(), self.tool_cells.get(call_id)) {
                    self.seq_cells.insert(seq, *i);
                }
                None
            }
            // A call has one result: its entry is done with, and would otherwise be kept for
            // every call of the session.
            EventKind::ToolResult { call_id, .. } => self.tool_cells.remove(call_id),
            EventKind::CorrectionDelivered { id, .. } => self.correction_cells.get(id).copied(),
            _ => None,
        };
        if let Some(i) = idx {
            self.seq_cells.insert(ev.seq, i);
        }
    }

    /// The cell that shows the message event `seq` added, if it is known.
    pub fn cell_for_seq(&self, seq: u64) -> Option<&Cell> {
        self.seq_cells.get(&seq).and_then(|i| self.cells.get(*i))
    }

    /// The flags of checkpoint `id`, as the runtime raised them.
    pub fn checkpoint_flags(&self, id: &str) -> &[CheckpointFlag] {
        self.checkpoints.iter().rev().find(|c| c.id == id).map_or(&[], |c| c.flags.as_slice())
    }
}
