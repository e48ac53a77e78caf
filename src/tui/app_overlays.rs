//! Routing to the layers and carrying out what they ask: the top layer answers a key itself
//! (`Overlay::key` in `layer_keys.rs`) and asks for commands, messages and other layers
//! through `Effects`; here the app puts the layer back and does what only it can (send, keep
//! the corrections it sent, remember answered escalations). Nothing here writes a file.

use crossterm::event::KeyEvent;

use super::{App, Mode, Overlay};
use crate::config::keymap::Action;
use crate::protocol::Command;
use crate::tui::panel::Effects;
use crate::tui::panels::memory::MemoryEdit;
use crate::tui::panels::transcript::Sent;

impl App {
    /// A key for the top layer.
    pub(super) fn overlay_key(&mut self, key: KeyEvent, action: Option<Action>) {
        let Some(top) = self.layers.pop() else { return };
        let mut fx = Effects::default();
        let kept = {
            let cx = self.cx(0);
            top.key(key, action, &cx, &mut fx)
        };
        if let Some(layer) = kept {
            self.layers.push(layer);
        }
        self.apply_effects(fx);
        self.sync_escalation();
    }

    /// MEMORY.md changed on disk: the MEMORY.md layer on top follows it (see
    /// `Overlay::memory_changed`).
    pub(super) fn memory_changed(&mut self) {
        if !matches!(self.layers.top(), Overlay::MemoryEditor(_) | Overlay::MemoryConflict { .. }) {
            return;
        }
        let Some(top) = self.layers.pop() else { return };
        let mut fx = Effects::default();
        self.layers.push(top.memory_changed(&mut fx));
        self.apply_effects(fx);
    }

    pub(super) fn start_task(&mut self, text: String) {
        self.send(Command::Start(text));
        if let Mode::Live { task_pending } = &mut self.mode {
            *task_pending = false;
        }
    }

    /// Sends a correction and keeps it as sent until the runtime's `correction_queued`.
    pub(super) fn correct(&mut self, text: String) {
        if let Some(command_id) = self.send(Command::Inject(text.clone())) {
            self.pending.push(Sent { command_id, text });
            self.notice = Some("correction sent: it shows queued, then delivered at the next step".into());
        }
    }

    pub(super) fn answer_escalation(&mut self, id: u64, approve: bool, note: Option<String>) {
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

    pub(super) fn reload_files(&mut self) {
        for p in &mut self.panels {
            p.file_changed();
        }
    }

    /// Asks the runtime to write MEMORY.md if it still is `base`; the editor comes back when
    /// the command cannot be sent, since the edits are only in memory.
    pub(super) fn request_memory_save(&mut self, text: String, base: &str, edit: MemoryEdit) {
        let base_hash = crate::workspace::sha256_hex(base.as_bytes());
        match self.send(Command::SaveMemory { text, base_hash }) {
            Some(_) => self.notice = Some("MEMORY.md sent to the runtime to save".into()),
            None => self.layers.push(Overlay::MemoryEditor(edit)),
        }
    }
}
