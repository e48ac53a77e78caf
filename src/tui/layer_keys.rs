//! Each layer's keys: what a key does to the layer (kept, changed, closed) and what it asks of
//! the app, as `Effects` like a panel's. The app routes the key to the top layer, puts back the
//! layer it answers, and carries out the effects; nothing here sends a command or writes a file.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{ConfirmKind, EditorKind};
use super::layers::Overlay;
use super::panel::{Effect, Effects};
use super::panels::RenderCtx;
use super::panels::memory::{self, MemoryEdit};
use crate::config::keymap::Action;
use crate::protocol::Command;

impl Overlay {
    /// A key for this layer, `action` its binding in the layer's section. Returns the layer as
    /// it is after the key, or None when the key closed it.
    pub fn key(self, key: KeyEvent, action: Option<Action>, cx: &RenderCtx, fx: &mut Effects) -> Option<Overlay> {
        match self {
            Overlay::None => None,
            // Not modal: the app gives it its actions in `act`, never raw keys.
            Overlay::Rebuild => Some(Overlay::Rebuild),
            Overlay::Escalation(id) => match action {
                Some(Action::Confirm) => {
                    fx.push(Effect::AnswerEscalation { id, approve: true, note: None });
                    None
                }
                // The note's editor goes over the question, which is back when it closes.
                Some(Action::Cancel) => {
                    fx.push(Effect::Edit(EditorKind::EscalationNote(id), String::new()));
                    Some(Overlay::Escalation(id))
                }
                // The run waits on this answer; nothing else is done until it is given.
                _ => Some(Overlay::Escalation(id)),
            },
            Overlay::Confirm(kind) => {
                if action == Some(Action::Confirm) {
                    confirmed(kind, fx);
                }
                None
            }
            Overlay::Help { mut scroll, mut filter } => match (action, key.code) {
                (Some(Action::Help | Action::Cancel | Action::Quit), _) => None,
                (_, KeyCode::Backspace) => {
                    filter.pop();
                    Some(Overlay::Help { scroll: 0, filter })
                }
                // Letters narrow the list; the arrows and page keys scroll it.
                (_, KeyCode::Char(c)) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    filter.push(c);
                    Some(Overlay::Help { scroll: 0, filter })
                }
                (other, _) => {
                    scroll_overlay(&mut scroll, other);
                    Some(Overlay::Help { scroll, filter })
                }
            },
            Overlay::Dropped(mut list) => {
                match action {
                    Some(Action::ScrollDown) => list.move_by(1),
                    Some(Action::ScrollUp) => list.move_by(-1),
                    Some(Action::PageDown) => list.move_by(10),
                    Some(Action::PageUp) => list.move_by(-10),
                    Some(Action::Expand) => {
                        if let Some(seq) = list.selected_seq() {
                            fx.push(Effect::Reveal(seq));
                        }
                        return None;
                    }
                    Some(Action::Cancel | Action::OpenDropped | Action::Quit) => return None,
                    _ => {}
                }
                Some(Overlay::Dropped(list))
            }
            Overlay::MemoryConflict { edit, theirs, mut scroll } => match action {
                Some(Action::MemoryKeepMine) => {
                    // Overwriting the disk version on purpose: it is the base now.
                    let text = memory::buffer_text(&edit.editor);
                    fx.push(Effect::SaveMemory { text, base: theirs, edit });
                    None
                }
                Some(Action::MemoryTakeTheirs) => {
                    fx.push(Effect::ReloadFiles);
                    fx.notice("kept MEMORY.md as it is on disk; your edits were dropped");
                    None
                }
                // The disk version has been seen: saving now overwrites it on purpose.
                Some(Action::MemoryEdit | Action::Cancel) => Some(Overlay::MemoryEditor(MemoryEdit { base: theirs, ..edit })),
                other => {
                    scroll_overlay(&mut scroll, other);
                    Some(Overlay::MemoryConflict { edit, theirs, scroll })
                }
            },
            Overlay::Search(mut q) => match (action, key.code) {
                (Some(Action::EditorSend), _) => {
                    fx.push(Effect::SearchFor(q));
                    None
                }
                (Some(Action::EditorCancel), _) => None,
                (_, KeyCode::Backspace) => {
                    q.pop();
                    Some(Overlay::Search(q))
                }
                (_, KeyCode::Char(c)) if !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) => {
                    q.push(c);
                    Some(Overlay::Search(q))
                }
                _ => Some(Overlay::Search(q)),
            },
            Overlay::Composer(mut c) => {
                match action {
                    Some(Action::EditorSend) => {
                        let text = c.text();
                        if text.trim().is_empty() {
                            fx.error("nothing to send");
                        } else {
                            fx.push(Effect::Correct(text));
                            c.clear();
                        }
                    }
                    Some(Action::EditorCancel) => return None,
                    Some(Action::ComposerNewline) => c.newline(),
                    Some(a @ (Action::HistoryPrev | Action::HistoryNext)) => {
                        c.recall(&super::composer::history(cx.state), a == Action::HistoryPrev)
                    }
                    _ => {
                        c.editor.input(key);
                    }
                }
                Some(Overlay::Composer(c))
            }
            Overlay::MemoryEditor(mut edit) => match action {
                Some(Action::EditorSend) => save_memory(edit, fx),
                Some(Action::EditorCancel) => None,
                _ => {
                    edit.editor.input(key);
                    Some(Overlay::MemoryEditor(edit))
                }
            },
            Overlay::Editor(kind, mut ta) => match action {
                Some(Action::EditorSend) => {
                    let text = ta.lines().join("\n");
                    if let EditorKind::EscalationNote(id) = kind {
                        let note = Some(text).filter(|n| !n.trim().is_empty());
                        fx.push(Effect::AnswerEscalation { id, approve: false, note });
                        return None;
                    }
                    if text.trim().is_empty() {
                        fx.error("nothing to send");
                        return Some(Overlay::Editor(kind, ta));
                    }
                    editor_sent(kind, text, fx);
                    None
                }
                // Back to what is under it (an escalation's question still waits for its answer).
                Some(Action::EditorCancel) => None,
                _ => {
                    ta.input(key);
                    Some(Overlay::Editor(kind, ta))
                }
            },
        }
    }

    /// MEMORY.md changed on disk. An open editor follows it while it has no unsaved edits;
    /// otherwise the conflict view opens so that neither version is lost.
    pub fn memory_changed(self, fx: &mut Effects) -> Overlay {
        match self {
            Overlay::MemoryEditor(mut edit) => {
                let theirs = edit.read_now().ok().flatten().unwrap_or_default();
                let mine = memory::buffer_text(&edit.editor);
                if theirs == edit.base || theirs == mine {
                    // Our own save echoing back, a touch, or the same edit made on both sides.
                    edit.base = theirs;
                    Overlay::MemoryEditor(edit)
                } else if mine == edit.base {
                    *edit.editor = memory::textarea(&theirs);
                    edit.base = theirs;
                    fx.notice("MEMORY.md changed on disk; the editor shows the new version");
                    Overlay::MemoryEditor(edit)
                } else {
                    fx.notice("MEMORY.md changed on disk while you were editing it");
                    Overlay::MemoryConflict { edit, theirs, scroll: 0 }
                }
            }
            Overlay::MemoryConflict { edit, scroll, .. } => {
                let theirs = edit.read_now().ok().flatten().unwrap_or_default();
                Overlay::MemoryConflict { edit, theirs, scroll }
            }
            other => other,
        }
    }
}

fn editor_sent(kind: EditorKind, text: String, fx: &mut Effects) {
    match kind {
        EditorKind::Task => fx.push(Effect::StartTask(text)),
        EditorKind::Inject => fx.push(Effect::Correct(text)),
        EditorKind::RejectNote => {
            fx.send(Command::OverrideVerdict { accept: false, note: Some(text) });
            fx.notice("you rejected the work; the note goes to the agent");
        }
        EditorKind::RebuildField => fx.push(Effect::RebuildField(text)),
        EditorKind::EscalationNote(_) => {}
    }
}

fn confirmed(kind: ConfirmKind, fx: &mut Effects) {
    match kind {
        ConfirmKind::Quit => fx.push(Effect::Quit),
        ConfirmKind::Stop => fx.send(Command::Stop),
        ConfirmKind::Rollback(id) => {
            fx.send(Command::Rollback(id.clone()));
            fx.notice(format!("rolling back to checkpoint {id}; the agent stays paused until you resume"));
        }
        ConfirmKind::AcceptWork => {
            fx.send(Command::OverrideVerdict { accept: true, note: None });
            fx.notice("you accepted the work as done");
        }
    }
}

/// Asks for the editor's buffer to be saved, unless the file visibly changed since the editor
/// loaded it (then it is a conflict, not an overwrite). The runtime checks the base again when
/// it writes, so a change the watcher has not reported yet is caught there and the edit
/// becomes a proposal instead.
fn save_memory(edit: MemoryEdit, fx: &mut Effects) -> Option<Overlay> {
    let mine = memory::buffer_text(&edit.editor);
    let theirs = match edit.read_now() {
        Ok(t) => t.unwrap_or_default(),
        Err(e) => {
            fx.error(format!("cannot read MEMORY.md before saving: {e}"));
            return Some(Overlay::MemoryEditor(edit));
        }
    };
    if theirs != edit.base && theirs != mine {
        fx.push(Effect::ReloadFiles);
        fx.notice("MEMORY.md changed on disk while you were editing it");
        return Some(Overlay::MemoryConflict { edit, theirs, scroll: 0 });
    }
    let base = edit.base.clone();
    fx.push(Effect::SaveMemory { text: mine, base, edit });
    None
}

/// The scroll keys every scrolling layer (help, the MEMORY.md conflict) shares.
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
