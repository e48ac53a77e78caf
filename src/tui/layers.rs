//! The layers over the panels, as a stack (helix's compositor). The top layer gets every key
//! first, and each layer is drawn over the ones below it, in its own keymap section. A layer
//! that does not claim a key (only the Rebuild view lets any through) passes it on to the
//! focused panel and then to the app's global keys. Opening a layer pushes it; closing pops it,
//! so whatever was under it (an escalation under its note, the Rebuild view under a field's
//! editor) has the keyboard again.

use ratatui_textarea::TextArea;

use super::app::{ConfirmKind, EditorKind};
use super::composer::Composer;
use super::dropped::DroppedList;
use super::panels::memory::MemoryEdit;
use crate::config::keymap::{Action, KeyContext};

/// One layer.
#[derive(Debug, Default)]
pub enum Overlay {
    /// What the top of an empty stack reads as; never on the stack itself.
    #[default]
    None,
    Help {
        scroll: usize,
        /// Typed text that narrows the list.
        filter: String,
    },
    Confirm(ConfirmKind),
    Editor(EditorKind, Box<TextArea<'static>>),
    /// MEMORY.md in the editor; saving asks the runtime to write it.
    MemoryEditor(MemoryEdit),
    /// MEMORY.md changed on disk while the editor had unsaved edits: nothing is saved until
    /// the supervisor picks a side.
    MemoryConflict {
        edit: MemoryEdit,
        theirs: String,
        scroll: usize,
    },
    /// The inline correction input at the bottom.
    Composer(Composer),
    /// Escalation `id` waits for the supervisor: approve once, or deny with a note.
    Escalation(u64),
    /// What a rollover dropped, to open each original message.
    Dropped(DroppedList),
    /// The transcript's search line: the text typed so far. The transcript panel draws it
    /// (in its last row) and keeps the query searched and its hits.
    Search(String),
    /// The Rebuild view: a rebuilt window under review, over the panels (its state is the
    /// app's `RebuildView`, kept while the view is hidden).
    Rebuild,
}

impl Overlay {
    /// The keymap section looked up while this layer is on top.
    pub fn context(&self) -> KeyContext {
        match self {
            Overlay::Editor(..) | Overlay::MemoryEditor(_) => KeyContext::Editor,
            Overlay::Composer(_) => KeyContext::Composer,
            Overlay::Search(_) => KeyContext::Search,
            Overlay::MemoryConflict { .. } => KeyContext::Conflict,
            Overlay::Confirm(_) | Overlay::Escalation(_) => KeyContext::Confirm,
            Overlay::Help { .. } => KeyContext::Help,
            Overlay::Dropped(_) => KeyContext::Dropped,
            Overlay::Rebuild => KeyContext::Rebuild,
            Overlay::None => KeyContext::Global,
        }
    }

    /// True when the layer takes every key: the keys it has no use for do nothing, rather than
    /// reach the panels under it.
    pub fn is_modal(&self) -> bool {
        !matches!(self, Overlay::Rebuild | Overlay::None)
    }

    /// True when the layer takes text: paste goes to it.
    pub fn takes_text(&self) -> bool {
        self.context().takes_text()
    }
}

/// What the status bar names while a layer has the keyboard.
pub struct LayerHints {
    /// In the order to name them, looked up in the layer's section.
    pub actions: &'static [Action],
    /// Descriptions that replace the keymap's, in the same order, where the layer gives the
    /// same keys another meaning (the editor's send is "Start the task" for a task).
    pub descs: &'static [&'static str],
    /// Hints that are no binding (typing filters the help).
    pub extra: &'static [(&'static str, &'static str)],
}

impl Overlay {
    pub fn hints(&self) -> LayerHints {
        let h = |actions, descs| LayerHints { actions, descs, extra: &[] };
        match self {
            Overlay::Editor(EditorKind::Task, _) => h(&[Action::EditorSend, Action::EditorCancel], &["Start the task", "Cancel"]),
            Overlay::Editor(..) => h(&[Action::EditorSend, Action::EditorCancel], &[]),
            Overlay::Composer(_) => h(&[Action::EditorSend, Action::ComposerNewline, Action::HistoryPrev, Action::EditorCancel], &[]),
            // The editor section describes corrections; here the same keys save a file.
            Overlay::MemoryEditor(_) => h(&[Action::EditorSend, Action::EditorCancel], &["Save MEMORY.md", "Close without saving"]),
            Overlay::MemoryConflict { .. } => h(&[Action::MemoryKeepMine, Action::MemoryTakeTheirs, Action::MemoryEdit], &[]),
            Overlay::Confirm(_) => h(&[Action::Confirm, Action::Cancel], &[]),
            Overlay::Escalation(_) => h(&[Action::Confirm, Action::Cancel], &["Approve once", "Deny with a note"]),
            Overlay::Help { .. } => {
                LayerHints { actions: &[Action::Help, Action::ScrollDown, Action::ScrollUp], descs: &[], extra: &[("type", "to filter")] }
            }
            Overlay::Dropped(_) => h(&[Action::Expand, Action::ScrollDown, Action::ScrollUp, Action::Cancel], &[]),
            Overlay::Search(_) => h(&[Action::EditorSend, Action::EditorCancel], &[]),
            Overlay::Rebuild => h(
                &[
                    Action::RebuildApprove,
                    Action::RebuildVeto,
                    Action::RebuildEdit,
                    Action::RebuildPin,
                    Action::RebuildDrop,
                    Action::ToggleRebuildView,
                ],
                &[],
            ),
            Overlay::None => h(&[], &[]),
        }
    }
}

/// The stack, bottom first.
#[derive(Debug, Default)]
pub struct Layers(Vec<Overlay>);

const NONE: &Overlay = &Overlay::None;

impl Layers {
    /// The layer that has the keyboard, or `Overlay::None`.
    pub fn top(&self) -> &Overlay {
        self.0.last().unwrap_or(NONE)
    }

    pub fn top_mut(&mut self) -> Option<&mut Overlay> {
        self.0.last_mut()
    }

    pub fn push(&mut self, layer: Overlay) {
        if !matches!(layer, Overlay::None) {
            self.0.push(layer);
        }
    }

    /// Puts a layer at the bottom, under those open now (which keep the keyboard).
    pub fn push_under(&mut self, layer: Overlay) {
        if !matches!(layer, Overlay::None) {
            self.0.insert(0, layer);
        }
    }

    pub fn pop(&mut self) -> Option<Overlay> {
        self.0.pop()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn any(&self, f: impl Fn(&Overlay) -> bool) -> bool {
        self.0.iter().any(f)
    }

    /// Removes every layer for which `f` is false.
    pub fn retain(&mut self, f: impl FnMut(&Overlay) -> bool) {
        self.0.retain(f);
    }

    /// Bottom to top: the order to draw them in.
    /// The transcript search being typed, while the search layer is open.
    pub fn search_typing(&self) -> Option<&str> {
        self.0.iter().find_map(|l| match l {
            Overlay::Search(q) => Some(q.as_str()),
            _ => None,
        })
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Overlay> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
#[path = "layers_tests.rs"]
mod tests;
