//! The workbench's keys for cycles: the Rebuild view (a layer over the panels to review a
//! rebuilt window) and rebuild review on or off.
//! Every change to a rebuild is a `ReviewRebuild` command; nothing here writes a file.

use super::{App, EditorKind, Overlay};
use crate::config::keymap::Action;
use crate::protocol::{Command, Event, EventKind, RebuildEdit};
use crate::tui::rebuild::Row;

impl App {
    /// The Rebuild view has the keyboard: it is the top layer and a proposal waits.
    pub fn rebuild_in_view(&self) -> bool {
        matches!(self.layers.top(), Overlay::Rebuild) && self.state.rebuild.is_some()
    }

    /// The Rebuild view is drawn: it is on the stack (perhaps under an editor) and a proposal
    /// waits.
    pub fn rebuild_shown(&self) -> bool {
        self.layers.any(|l| matches!(l, Overlay::Rebuild)) && self.state.rebuild.is_some()
    }

    pub(super) fn toggle_rebuild_view(&mut self) {
        if self.layers.any(|l| matches!(l, Overlay::Rebuild)) {
            self.layers.retain(|l| !matches!(l, Overlay::Rebuild));
        } else {
            self.layers.push(Overlay::Rebuild);
        }
    }

    /// Opens the Rebuild view when a new proposal arrives (live only), and closes it when the
    /// review is over.
    pub(super) fn follow_rebuild(&mut self, e: &Event) {
        match &e.kind {
            EventKind::RebuildProposed { id, .. } if !self.is_replay() && self.rebuild.opened_for != Some(*id) => {
                self.rebuild.opened_for = Some(*id);
                // Under any layer open now: a question or a half-typed correction keeps the
                // keyboard until it is closed.
                if !self.layers.any(|l| matches!(l, Overlay::Rebuild)) {
                    self.layers.push_under(Overlay::Rebuild);
                }
                self.rebuild.selected = 0;
                self.rebuild.detail.reset();
            }
            EventKind::Rollover { .. }
            | EventKind::RebuildVetoed { .. }
            | EventKind::RebuildFailed { .. }
            | EventKind::SessionResumed { .. } => {
                self.rebuild.editing = None;
                self.layers.retain(|l| !matches!(l, Overlay::Rebuild | Overlay::Editor(EditorKind::RebuildField, _)));
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
                self.rebuild.detail.page_key(a);
            }
            Action::RebuildApprove => {
                self.send(review(RebuildEdit::Approve));
                self.notice.get_or_insert_with(|| "approved: the new window applies now".into());
            }
            Action::RebuildVeto => {
                self.send(review(RebuildEdit::Veto));
                self.notice.get_or_insert_with(|| "vetoed: the run continues in the old window".into());
            }
            Action::RebuildEdit => match row {
                Some(Row::Section(i)) if p.sections[i].editable => {
                    let s = &p.sections[i];
                    let field = s.key.split_once('.').map_or(s.key.clone(), |(_, f)| f.to_string());
                    self.rebuild.editing = Some((p.id, field));
                    self.open_editor(EditorKind::RebuildField, &s.text.clone());
                }
                _ => self.error = Some("only a checkpoint field can be edited: select one".into()),
            },
            Action::RebuildPin => match row {
                Some(Row::Unit(i)) => {
                    let u = &p.old_window[i];
                    let edit = if u.pinned { RebuildEdit::Unpin { unit: u.index } } else { RebuildEdit::Pin { unit: u.index } };
                    self.send(review(edit));
                }
                _ => self.error = Some("pins are for the old window's messages: select one below the sections".into()),
            },
            Action::RebuildDrop => match row {
                Some(Row::Section(i)) if p.sections[i].droppable => {
                    let s = &p.sections[i];
                    let section = s.key.clone();
                    self.send(review(if s.dropped {
                        RebuildEdit::RestoreSection { section }
                    } else {
                        RebuildEdit::DropSection { section }
                    }));
                }
                Some(Row::Section(_)) => self.error = Some("the user's own words stay in every rebuilt window".into()),
                _ => self.error = Some("select a section to drop or restore".into()),
            },
            Action::ToggleRebuildView => self.toggle_rebuild_view(),
            _ => return false,
        }
        true
    }

    /// The editor of a checkpoint field was sent: the new text goes to the runtime.
    pub(super) fn send_field_edit(&mut self, text: String) {
        let Some((id, field)) = self.rebuild.editing.take() else { return };
        self.send(Command::ReviewRebuild { id, edit: RebuildEdit::EditField { field: field.clone(), text } });
        self.notice.get_or_insert_with(|| format!("{field} edited in the proposed window"));
    }

    pub(super) fn toggle_review_rebuilds(&mut self) {
        let on = !self.state.core.review_rebuilds;
        self.send(Command::SetReviewRebuilds(on));
        self.notice.get_or_insert_with(|| {
            if on { "rebuild review on: the next rollover waits for you" } else { "rebuild review off: rollovers apply at once" }.into()
        });
    }
}

#[cfg(test)]
#[path = "app_cycles_tests.rs"]
mod tests;
