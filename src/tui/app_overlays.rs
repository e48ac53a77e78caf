//! The overlay layers' keys: confirmations, the editors (task, correction, notes, MEMORY.md),
//! the MEMORY.md conflict, help, the escalation question and the dropped list. Whatever they
//! decide goes to the runtime as a command; nothing here writes a file.

use crossterm::event::KeyEvent;

use super::{App, ConfirmKind, EditorKind, Mode, Overlay};
use crate::config::keymap::Action;
use crate::protocol::Command;
use crate::tui::panels::memory::{self, MemoryEdit};
use crate::tui::panels::transcript::Sent;

impl App {
    pub(super) fn overlay_key(&mut self, key: KeyEvent, action: Option<Action>) {
        match self.layers.pop().unwrap_or_default() {
            Overlay::None => {}
            // Not modal: its keys never come here.
            Overlay::Rebuild => self.layers.push(Overlay::Rebuild),
            Overlay::Escalation(id) => match action {
                Some(Action::Confirm) => self.answer_escalation(id, true, None),
                // The note's editor goes over the question, which is back when it closes.
                Some(Action::Cancel) => {
                    self.layers.push(Overlay::Escalation(id));
                    self.open_editor(EditorKind::EscalationNote(id), "");
                }
                // The run waits on this answer; nothing else is done until it is given.
                _ => self.layers.push(Overlay::Escalation(id)),
            },
            Overlay::Confirm(kind) => {
                if action == Some(Action::Confirm) {
                    self.confirmed(kind);
                }
            }
            Overlay::Help { mut scroll, mut filter } => match (action, key.code) {
                (Some(Action::Help | Action::Cancel), _) => {}
                (_, crossterm::event::KeyCode::Backspace) => {
                    filter.pop();
                    self.layers.push(Overlay::Help { scroll: 0, filter });
                }
                // Letters narrow the list; the arrows and page keys scroll it.
                (_, crossterm::event::KeyCode::Char(c)) if !key.modifiers.contains(crossterm::event::KeyModifiers::CONTROL) => {
                    filter.push(c);
                    self.layers.push(Overlay::Help { scroll: 0, filter });
                }
                (other, _) => {
                    if other == Some(Action::Quit) {
                        return;
                    }
                    scroll_overlay(&mut scroll, other);
                    self.layers.push(Overlay::Help { scroll, filter });
                }
            },
            Overlay::Dropped(mut list) => match action {
                Some(Action::ScrollDown) => {
                    list.move_by(1);
                    self.layers.push(Overlay::Dropped(list));
                }
                Some(Action::ScrollUp) => {
                    list.move_by(-1);
                    self.layers.push(Overlay::Dropped(list));
                }
                Some(Action::PageDown) => {
                    list.move_by(10);
                    self.layers.push(Overlay::Dropped(list));
                }
                Some(Action::PageUp) => {
                    list.move_by(-10);
                    self.layers.push(Overlay::Dropped(list));
                }
                Some(Action::Expand) => {
                    if let Some(seq) = list.selected_seq() {
                        let mut fx = crate::tui::panel::Effects::default();
                        fx.push(crate::tui::panel::Effect::Reveal(seq));
                        self.apply_effects(fx);
                    }
                }
                Some(Action::Cancel | Action::OpenDropped | Action::Quit) => {}
                _ => self.layers.push(Overlay::Dropped(list)),
            },
            Overlay::MemoryConflict { edit, theirs, mut scroll } => match action {
                Some(Action::MemoryKeepMine) => {
                    // Overwriting the disk version on purpose: it is the base now.
                    let mine = memory::buffer_text(&edit.editor);
                    self.request_memory_save(mine, &theirs, edit);
                }
                Some(Action::MemoryTakeTheirs) => {
                    self.file_changed_panels();
                    self.notice = Some("kept MEMORY.md as it is on disk; your edits were dropped".into());
                }
                Some(Action::MemoryEdit | Action::Cancel) => {
                    // The disk version has been seen: saving now overwrites it on purpose.
                    self.layers.push(Overlay::MemoryEditor(MemoryEdit { base: theirs, ..edit }));
                }
                other => {
                    scroll_overlay(&mut scroll, other);
                    self.layers.push(Overlay::MemoryConflict { edit, theirs, scroll });
                }
            },
            Overlay::Composer(mut c) => {
                match action {
                    Some(Action::EditorSend) => {
                        let text = c.text();
                        if text.trim().is_empty() {
                            self.error = Some("nothing to send".into());
                        } else {
                            self.editor_sent(EditorKind::Inject, text);
                            c.clear();
                        }
                    }
                    Some(Action::EditorCancel) => return,
                    Some(Action::ComposerNewline) => c.newline(),
                    Some(a @ (Action::HistoryPrev | Action::HistoryNext)) => {
                        c.recall(&crate::tui::composer::history(&self.state), a == Action::HistoryPrev)
                    }
                    _ => {
                        c.editor.input(key);
                    }
                }
                self.layers.push(Overlay::Composer(c));
            }
            Overlay::MemoryEditor(mut edit) => match action {
                Some(Action::EditorSend) => self.save_memory(edit),
                Some(Action::EditorCancel) => {}
                _ => {
                    edit.editor.input(key);
                    self.layers.push(Overlay::MemoryEditor(edit));
                }
            },
            Overlay::Editor(kind, mut ta) => match action {
                Some(Action::EditorSend) => {
                    let text = ta.lines().join("\n");
                    if let EditorKind::EscalationNote(id) = kind {
                        let note = Some(text).filter(|n| !n.trim().is_empty());
                        self.answer_escalation(id, false, note);
                        return;
                    }
                    if text.trim().is_empty() {
                        self.error = Some("nothing to send".into());
                        self.layers.push(Overlay::Editor(kind, ta));
                        return;
                    }
                    self.editor_sent(kind, text);
                }
                // Back to the question: it still waits for an answer (`sync_escalation`).
                Some(Action::EditorCancel) => {}
                _ => {
                    ta.input(key);
                    self.layers.push(Overlay::Editor(kind, ta));
                }
            },
        }
        self.sync_escalation();
    }

    fn editor_sent(&mut self, kind: EditorKind, text: String) {
        match kind {
            EditorKind::Task => {
                self.send(Command::Start(text));
                if let Mode::Live { task_pending } = &mut self.mode {
                    *task_pending = false;
                }
            }
            EditorKind::Inject => {
                if let Some(command_id) = self.send(Command::Inject(text.clone())) {
                    self.pending.push(Sent { command_id, text });
                    self.notice = Some("correction sent: it shows queued, then delivered at the next step".into());
                }
            }
            EditorKind::RejectNote => {
                self.send_noting(
                    Command::OverrideVerdict { accept: false, note: Some(text) },
                    "you rejected the work; the note goes to the agent",
                );
            }
            EditorKind::RebuildField => self.send_field_edit(text),
            EditorKind::EscalationNote(_) => {}
        }
    }

    fn confirmed(&mut self, kind: ConfirmKind) {
        match kind {
            ConfirmKind::Quit => self.should_quit = true,
            ConfirmKind::Stop => {
                self.send(Command::Stop);
            }
            ConfirmKind::Rollback(id) => {
                self.send_noting(
                    Command::Rollback(id.clone()),
                    format!("rolling back to checkpoint {id}; the agent stays paused until you resume"),
                );
            }
            ConfirmKind::AcceptWork => {
                self.send_noting(Command::OverrideVerdict { accept: true, note: None }, "you accepted the work as done");
            }
        }
    }

    fn answer_escalation(&mut self, id: u64, approve: bool, note: Option<String>) {
        self.answered_escalations.insert(id);
        self.layers.retain(|l| !matches!(l, Overlay::Escalation(open) if *open == id));
        if self.send(Command::ResolveEscalation { id, approve, note }).is_some() {
            self.notice = Some(if approve {
                format!("escalation {id} approved: the command runs outside the sandbox once")
            } else {
                format!("escalation {id} denied")
            });
        }
    }

    fn file_changed_panels(&mut self) {
        for p in &mut self.panels {
            p.file_changed();
        }
    }

    /// MEMORY.md changed on disk. An open editor follows it while it has no unsaved edits;
    /// otherwise the conflict view opens so that neither version is lost.
    pub(super) fn memory_changed(&mut self) {
        match self.layers.pop().unwrap_or_default() {
            Overlay::MemoryEditor(mut edit) => {
                let theirs = edit.read_now().ok().flatten().unwrap_or_default();
                let mine = memory::buffer_text(&edit.editor);
                if theirs == edit.base || theirs == mine {
                    // Our own save echoing back, a touch, or the same edit made on both sides.
                    edit.base = theirs;
                    self.layers.push(Overlay::MemoryEditor(edit));
                } else if mine == edit.base {
                    *edit.editor = memory::textarea(&theirs);
                    edit.base = theirs;
                    self.notice = Some("MEMORY.md changed on disk; the editor shows the new version".into());
                    self.layers.push(Overlay::MemoryEditor(edit));
                } else {
                    self.notice = Some("MEMORY.md changed on disk while you were editing it".into());
                    self.layers.push(Overlay::MemoryConflict { edit, theirs, scroll: 0 });
                }
            }
            Overlay::MemoryConflict { edit, scroll, .. } => {
                let theirs = edit.read_now().ok().flatten().unwrap_or_default();
                self.layers.push(Overlay::MemoryConflict { edit, theirs, scroll });
            }
            other => self.layers.push(other),
        }
    }

    /// Asks the runtime to save the editor's buffer, unless the file visibly changed since
    /// the editor loaded it (then it is a conflict, not an overwrite). The runtime checks the
    /// base again when it writes, so a change the watcher has not reported yet is caught
    /// there and the edit becomes a proposal instead.
    fn save_memory(&mut self, edit: MemoryEdit) {
        let mine = memory::buffer_text(&edit.editor);
        let theirs = match edit.read_now() {
            Ok(t) => t.unwrap_or_default(),
            Err(e) => {
                self.error = Some(format!("cannot read MEMORY.md before saving: {e}"));
                self.layers.push(Overlay::MemoryEditor(edit));
                return;
            }
        };
        if theirs != edit.base && theirs != mine {
            self.file_changed_panels();
            self.notice = Some("MEMORY.md changed on disk while you were editing it".into());
            self.layers.push(Overlay::MemoryConflict { edit, theirs, scroll: 0 });
            return;
        }
        let base = edit.base.clone();
        self.request_memory_save(mine, &base, edit);
    }

    fn request_memory_save(&mut self, text: String, base: &str, edit: MemoryEdit) {
        let base_hash = crate::workspace::sha256_hex(base.as_bytes());
        match self.send(Command::SaveMemory { text, base_hash }) {
            Some(_) => self.notice = Some("MEMORY.md sent to the runtime to save".into()),
            // Keep the buffer: the edits are still only in memory.
            None => self.layers.push(Overlay::MemoryEditor(edit)),
        }
    }
}

/// The scroll keys every scrolling overlay (help, the MEMORY.md conflict) shares.
fn scroll_overlay(scroll: &mut usize, action: Option<Action>) {
    match action {
        Some(Action::ScrollDown) => *scroll += 1,
        Some(Action::ScrollUp) => *scroll = scroll.saturating_sub(1),
        Some(Action::PageDown) => *scroll += 10,
        Some(Action::PageUp) => *scroll = scroll.saturating_sub(10),
        Some(Action::Top) => *scroll = 0,
        _ => {}
    }
}
