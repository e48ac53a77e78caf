//! The workbench's keys for cycles: the Rebuild view (review a rebuilt window), the list of
//! what a rollover dropped, rebuild review on or off, and marking a checkpoint to compare.
//! Every change to a rebuild is a `ReviewRebuild` command; nothing here writes a file.

use super::{App, EditorKind, Overlay};
use crate::config::keymap::Action;
use crate::protocol::{Command, Event, EventKind, RebuildEdit};
use crate::tui::dropped::DroppedList;
use crate::tui::layout::PanelId;
use crate::tui::panels::transcript::Anchor;
use crate::tui::panels::RenderCtx;
use crate::tui::rebuild::Row;
use crate::tui::state::CellKind;

impl App {
    /// The Rebuild view has the keyboard: it is shown, a proposal waits, and no overlay is open.
    pub fn rebuild_in_view(&self) -> bool {
        self.rebuild.shown && self.state.rebuild.is_some()
    }

    /// Opens the Rebuild view when a new proposal arrives (live only), and closes it when the
    /// review is over.
    pub(super) fn follow_rebuild(&mut self, e: &Event) {
        match &e.kind {
            EventKind::RebuildProposed { id, .. } if !self.is_replay() && self.rebuild.opened_for != Some(*id) => {
                self.rebuild.opened_for = Some(*id);
                self.rebuild.shown = true;
                self.rebuild.selected = 0;
                self.rebuild.scroll = 0;
            }
            EventKind::Rollover { .. } | EventKind::RebuildVetoed { .. } | EventKind::RebuildFailed { .. } | EventKind::SessionResumed { .. } => {
                self.rebuild.shown = false;
                self.rebuild.editing = None;
                if matches!(self.overlay, Overlay::Editor(EditorKind::RebuildField, _)) {
                    self.overlay = Overlay::None;
                }
            }
            _ => {}
        }
    }

    /// A key in the Rebuild view; false when it is not one of the view's (it then does what
    /// it does anywhere: quit, help, focus).
    pub(super) fn rebuild_act(&mut self, a: Action) -> bool {
        let Some(p) = self.state.rebuild.clone() else { return false };
        let row = self.rebuild.selected_row(&p);
        let review = |edit: RebuildEdit| Command::ReviewRebuild { id: p.id, edit };
        match a {
            Action::ScrollDown | Action::ScrollUp => self.rebuild.move_by(if a == Action::ScrollDown { 1 } else { -1 }, &p),
            Action::Top | Action::Bottom => self.rebuild.move_by(if a == Action::Top { isize::MIN / 2 } else { isize::MAX / 2 }, &p),
            Action::PageDown | Action::PageUp => {
                let page = self.rebuild.page();
                self.rebuild.scroll_by(if a == Action::PageDown { page } else { -page });
            }
            Action::RebuildApprove => {
                self.send(review(RebuildEdit::Approve));
                self.flash.get_or_insert_with(|| "approved: the new window applies now".into());
            }
            Action::RebuildVeto => {
                self.send(review(RebuildEdit::Veto));
                self.flash.get_or_insert_with(|| "vetoed: the run continues in the old window".into());
            }
            Action::RebuildEdit => match row {
                Some(Row::Section(i)) if p.sections[i].editable => {
                    let s = &p.sections[i];
                    let field = s.key.split_once('.').map_or(s.key.clone(), |(_, f)| f.to_string());
                    let mut ta = super::memory::textarea(&s.text);
                    ta.set_placeholder_text("The field's text for the new window…");
                    self.rebuild.editing = Some((p.id, field));
                    self.overlay = Overlay::Editor(EditorKind::RebuildField, Box::new(ta));
                }
                _ => self.flash = Some("only a checkpoint field can be edited: select one".into()),
            },
            Action::RebuildPin => match row {
                Some(Row::Unit(i)) => {
                    let u = &p.old_window[i];
                    let edit = if u.pinned { RebuildEdit::Unpin { unit: u.index } } else { RebuildEdit::Pin { unit: u.index } };
                    self.send(review(edit));
                }
                _ => self.flash = Some("pins are for the old window's messages: select one below the sections".into()),
            },
            Action::RebuildDrop => match row {
                Some(Row::Section(i)) if p.sections[i].droppable => {
                    let s = &p.sections[i];
                    let section = s.key.clone();
                    self.send(review(if s.dropped { RebuildEdit::RestoreSection { section } } else { RebuildEdit::DropSection { section } }));
                }
                Some(Row::Section(_)) => self.flash = Some("the user's own words stay in every rebuilt window".into()),
                _ => self.flash = Some("select a section to drop or restore".into()),
            },
            Action::ToggleRebuildView => self.rebuild.shown = false,
            _ => return false,
        }
        true
    }

    /// The editor of a checkpoint field was sent: the new text goes to the runtime.
    pub(super) fn send_field_edit(&mut self, text: String) {
        let Some((id, field)) = self.rebuild.editing.take() else { return };
        self.send(Command::ReviewRebuild { id, edit: RebuildEdit::EditField { field: field.clone(), text } });
        self.flash.get_or_insert_with(|| format!("{field} edited in the proposed window"));
    }

    pub(super) fn toggle_rebuild_view(&mut self) {
        if self.state.rebuild.is_none() {
            self.flash = Some("no rebuilt window waits for review".into());
            return;
        }
        self.rebuild.shown = !self.rebuild.shown;
    }

    pub(super) fn toggle_review_rebuilds(&mut self) {
        if self.read_only() {
            return;
        }
        let on = !self.state.core.review_rebuilds;
        self.send(Command::SetReviewRebuilds(on));
        self.flash.get_or_insert_with(|| {
            if on { "rebuild review on: the next rollover waits for you" } else { "rebuild review off: rollovers apply at once" }.into()
        });
    }

    /// Lists what the selected rollover divider dropped.
    pub(super) fn open_dropped(&mut self) {
        let divider = self.transcript.selected.and_then(|id| self.state.cells.iter().find(|c| c.id == id)).and_then(|c| match &c.kind {
            CellKind::Rebuilt(r) => Some(r.clone()),
            _ => None,
        });
        match divider {
            Some(r) => match &r.dropped {
                Some(d) if !d.seqs.is_empty() => {
                    self.overlay = Overlay::Dropped(DroppedList { title: r.summary(), seqs: d.seqs.clone(), selected: 0 })
                }
                _ => self.flash = Some("that rollover dropped nothing".into()),
            },
            None => self.flash = Some("select a rollover divider in the transcript first".into()),
        }
    }

    /// A key in the dropped list: move, open the selected message, or close.
    pub(super) fn dropped_key(&mut self, action: Option<Action>) {
        let Overlay::Dropped(list) = &mut self.overlay else { return };
        match action {
            Some(Action::ScrollDown) => list.move_by(1),
            Some(Action::ScrollUp) => list.move_by(-1),
            Some(Action::PageDown) => list.move_by(10),
            Some(Action::PageUp) => list.move_by(-10),
            Some(Action::Expand) => {
                let seq = list.selected_seq();
                self.overlay = Overlay::None;
                if let Some(seq) = seq {
                    self.show_message(seq);
                }
            }
            Some(Action::Cancel | Action::OpenDropped | Action::Quit) => self.overlay = Overlay::None,
            _ => {}
        }
    }

    /// Shows the message event `seq` added, in the transcript, expanded.
    fn show_message(&mut self, seq: u64) {
        let Some(cell) = self.state.cell_for_seq(seq).map(|c| c.id) else {
            self.flash = Some(format!("event #{seq} is not in this view"));
            return;
        };
        let Some(entry) = self.state.cells.iter().position(|c| c.id == cell) else { return };
        self.set_focus(PanelId::Transcript);
        self.candidates.shown = false;
        self.transcript.expanded.insert(cell);
        let now = self.now();
        let ctx = RenderCtx { theme: &self.opts.theme, hl: &self.hl, state: &self.state, now, spinner: 0 };
        self.transcript.jump_to(&ctx, &self.pending, Anchor { entry, row: 0 });
        self.flash = Some(format!("the original message of event #{seq}"));
    }

    /// Marks the selected checkpoint as the one diffs compare against (again: unmarks).
    pub(super) fn mark_checkpoint(&mut self) {
        let n = self.state.checkpoints.len();
        let Some(sel) = self.checkpoints.selected_index(n) else {
            self.flash = Some("no checkpoint to mark yet".into());
            return;
        };
        if self.checkpoints.marked == Some(sel) {
            self.checkpoints.marked = None;
            self.flash = Some("diffs compare with the previous checkpoint again".into());
        } else {
            self.checkpoints.marked = Some(sel);
            self.checkpoints.diff = true;
            self.flash = Some(format!("diffs now compare with checkpoint {}", self.state.checkpoints[sel].id));
        }
    }
}

#[cfg(test)]
#[path = "app_cycles_tests.rs"]
mod tests;
