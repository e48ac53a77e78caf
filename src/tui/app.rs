//! Input to actions, actions to commands and view changes. No terminal in here: tests drive
//! `handle_key`/`handle_event` and draw with `render` on a `TestBackend`.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEventKind};
use ratatui::Frame;
use ratatui_textarea::TextArea;

use super::WorkbenchOptions;
use super::dropped::DroppedList;
use super::layout::{PanelId, Screen};
use super::panels::candidates::CandidatesView;
use super::panels::checkpoints::CheckpointsView;
use super::panels::diff::{DiffMode, DiffScope, DiffView};
use super::panels::memory::{self, MemoryView};
use super::panels::transcript::{Anchor, Sent, TranscriptView};
use super::panels::verifier::VerifierView;
use super::panels::{RenderCtx, TasksView};
use super::rebuild::RebuildView;
use super::replay::Timeline;
use super::search::Search;
use super::state::{NoticeLevel, WorkbenchState};
use super::text::find_all;
use super::widgets::highlight::Highlighter;
use crate::agent::CommandSender;
use crate::config::keymap::{Action, KeyContext};
use crate::protocol::{Command, Event, EventKind};

#[path = "app_cycles.rs"]
mod cycles;

/// The first proposal waiting for an answer that `answered` does not hold yet.
pub fn pending_proposal<'a>(state: &'a WorkbenchState, answered: &HashSet<u64>) -> Option<&'a super::state::MemoryProposal> {
    let id = state.core.memory_pending.iter().find(|id| !answered.contains(id))?;
    state.memory_proposals.iter().find(|p| p.id == *id)
}

/// Where "now" comes from: the wall clock, or a fixed instant so tests are deterministic.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    Fixed(DateTime<Utc>),
}

pub enum Mode {
    Live { task_pending: bool },
    Replay(Timeline),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmKind {
    Quit,
    Stop,
    /// Roll back to this checkpoint id.
    Rollback(String),
    /// Overrule the goal verifier and accept the work as done.
    AcceptWork,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditorKind {
    Task,
    Inject,
    /// MEMORY.md, saved to disk rather than sent.
    Memory,
    /// The note that goes with rejecting the work over the verifier's verdict.
    RejectNote,
    /// The note that goes to the agent with denying escalation `id` (may be empty).
    EscalationNote(u64),
    /// A checkpoint field's text in a rebuilt window under review.
    RebuildField,
}

pub enum Overlay {
    None,
    Help { scroll: usize },
    Confirm(ConfirmKind),
    Editor(EditorKind, Box<TextArea<'static>>),
    /// MEMORY.md changed on disk while the editor had unsaved edits: neither is written until
    /// the supervisor picks one. `editor` keeps the buffer for "keep editing".
    MemoryConflict { editor: Box<TextArea<'static>>, theirs: String, scroll: usize },
    /// Escalation `id` waits for the supervisor: approve once, or deny with a note.
    Escalation(u64),
    /// What a rollover dropped, to open each original message.
    Dropped(DroppedList),
}

pub struct App {
    pub opts: WorkbenchOptions,
    pub(super) hl: Highlighter,
    pub state: WorkbenchState,
    pub mode: Mode,
    commands: Option<CommandSender>,
    pub focus: PanelId,
    pub hidden: HashSet<PanelId>,
    pub maximized: bool,
    pub(super) last_side: PanelId,
    pub transcript: TranscriptView,
    pub tasks: TasksView,
    pub diff: DiffView,
    pub checkpoints: CheckpointsView,
    pub memory: MemoryView,
    pub candidates: CandidatesView,
    pub verifier: VerifierView,
    pub rebuild: RebuildView,
    /// Proposals this workbench answered, hidden until their `memory_resolved` arrives.
    pub resolved_proposals: HashSet<u64>,
    /// Escalations this workbench answered, so the overlay does not reopen before the
    /// runtime's `escalation_resolved` arrives.
    pub answered_escalations: HashSet<u64>,
    pub search: Search,
    pub overlay: Overlay,
    /// Corrections sent but not yet acknowledged by a `CorrectionQueued`.
    pub pending: Vec<Sent>,
    pub flash: Option<String>,
    pub should_quit: bool,
    pub clock: Clock,
    pub(super) screen: Screen,
    /// Events lost to a lagging broadcast receiver.
    pub lagged: u64,
}

impl App {
    pub fn new(opts: WorkbenchOptions, mode: Mode, commands: Option<CommandSender>) -> App {
        let hl = Highlighter::new(&opts.theme);
        let mut app = App {
            opts,
            hl,
            state: WorkbenchState::default(),
            mode,
            commands,
            focus: PanelId::Transcript,
            hidden: HashSet::new(),
            maximized: false,
            last_side: PanelId::Tasks,
            transcript: TranscriptView::default(),
            tasks: TasksView::default(),
            diff: DiffView::default(),
            checkpoints: CheckpointsView::default(),
            memory: MemoryView::default(),
            candidates: CandidatesView::default(),
            verifier: VerifierView::default(),
            rebuild: RebuildView::default(),
            resolved_proposals: HashSet::new(),
            answered_escalations: HashSet::new(),
            search: Search::default(),
            overlay: Overlay::None,
            pending: Vec::new(),
            flash: None,
            should_quit: false,
            clock: Clock::System,
            screen: Screen::default(),
            lagged: 0,
        };
        if let Mode::Replay(tl) = &mut app.mode {
            tl.seek(tl.steps(), &mut app.state);
        }
        app.sync_memory_path();
        if matches!(app.mode, Mode::Live { task_pending: true }) {
            app.open_editor(EditorKind::Task);
        }
        app
    }

    pub fn live(opts: WorkbenchOptions, history: &[Event], commands: CommandSender, task_pending: bool) -> App {
        let mut app = App::new(opts, Mode::Live { task_pending }, Some(commands));
        for e in history {
            app.apply_event(e);
        }
        app
    }

    pub fn replay(opts: WorkbenchOptions, events: Vec<Event>) -> App {
        App::new(opts, Mode::Replay(Timeline::new(events)), None)
    }

    pub fn is_replay(&self) -> bool {
        matches!(self.mode, Mode::Replay(_))
    }

    pub fn now(&self) -> DateTime<Utc> {
        match (self.clock, &self.mode) {
            (Clock::Fixed(t), _) => t,
            // A replay's "now" is the moment of the step shown.
            (Clock::System, Mode::Replay(_)) => self.state.last_ts.unwrap_or_else(Utc::now),
            (Clock::System, Mode::Live { .. }) => Utc::now(),
        }
    }

    pub fn spinner_frame(&self) -> usize {
        (self.now().timestamp_millis() / 100).rem_euclid(8) as usize
    }

    /// True while something on screen moves by itself, which is the only time the loop
    /// schedules frames without an input.
    pub fn is_animating(&self) -> bool {
        !self.is_replay() && self.state.run.is_active() && (self.state.run == super::state::RunState::WaitingForModel || self.state.running_tools() > 0)
    }

    /// Folds a live event into the projection.
    pub fn apply_event(&mut self, e: &Event) {
        if let (EventKind::CorrectionQueued { .. }, Some(cause)) = (&e.kind, &e.command_id) {
            self.pending.retain(|p| p.command_id != *cause);
        }
        if let (EventKind::SessionStarted { .. }, Mode::Live { task_pending }) = (&e.kind, &mut self.mode) {
            *task_pending = false;
        }
        let max_steps = self.state.max_steps.len();
        self.state.apply(e);
        if matches!(e.kind, EventKind::SessionStarted { .. }) {
            self.sync_memory_path();
        }
        self.follow_max_mode(e, max_steps);
        self.follow_rebuild(e);
        self.sync_escalation();
    }

    /// An escalation nobody here has answered yet opens its overlay as soon as no other is
    /// open; one the runtime resolved (or that is gone) closes.
    pub fn sync_escalation(&mut self) {
        let pending = match &self.mode {
            Mode::Live { .. } => self.state.sandbox.escalation.as_ref().map(|e| e.id).filter(|id| !self.answered_escalations.contains(id)),
            Mode::Replay(_) => None,
        };
        match (&self.overlay, pending) {
            (Overlay::None, Some(id)) => self.overlay = Overlay::Escalation(id),
            (Overlay::Escalation(open), p) if p != Some(*open) => self.overlay = Overlay::None,
            _ => {}
        }
    }

    fn answer_escalation(&mut self, id: u64, approve: bool, note: Option<String>) {
        self.answered_escalations.insert(id);
        self.send(Command::ResolveEscalation { id, approve, note });
        if self.flash.is_none() {
            self.flash = Some(if approve { format!("escalation {id} approved: the command runs outside the sandbox once") } else { format!("escalation {id} denied") });
        }
    }

    /// The Candidates view takes the transcript's place while a Max Mode step is in flight,
    /// and gives it back when that step ends unless the supervisor opened it themselves.
    fn follow_max_mode(&mut self, e: &Event, max_steps_before: usize) {
        match &e.kind {
            // A new step: follow it, unless the supervisor is reading an older one.
            EventKind::CandidateDelta { .. } | EventKind::CandidateProposed { .. } | EventKind::CandidateFailed { .. }
                if self.state.max_steps.len() > max_steps_before
                    && (!self.candidates.shown || self.candidates.auto || self.candidates.step.is_none()) =>
            {
                self.candidates.open(None, !self.candidates.shown || self.candidates.auto);
            }
            EventKind::JudgeVerdict { step, pick, .. } if self.state.core.review_picks => {
                // Start the review on the judge's choice: confirming it is one key.
                if self.candidates.shown_step(&self.state).is_some_and(|m| m.step == *step)
                    && let Some(pos) = self.state.max_steps.last().and_then(|m| m.candidates.iter().position(|c| c.index == *pick))
                {
                    self.candidates.selected = pos;
                }
            }
            EventKind::StepFinished { step } | EventKind::StepStarted { step }
                if self.candidates.shown && self.candidates.auto && self.candidates.step.is_none() =>
            {
                let done = self.state.max_steps.last().is_some_and(|m| m.picked.is_some() && (m.step < *step || matches!(e.kind, EventKind::StepFinished { .. })));
                if done {
                    self.candidates.shown = false;
                    self.candidates.auto = false;
                }
            }
            _ => {}
        }
    }

    /// Appends events read from a followed log.
    pub fn append_replay(&mut self, events: Vec<Event>) {
        if let Mode::Replay(tl) = &mut self.mode {
            tl.append_following(events, &mut self.state);
        }
        self.sync_memory_path();
    }

    /// Points the Memory panel at the session's workspace once it is known.
    fn sync_memory_path(&mut self) {
        if let Some(info) = self.state.session() {
            let path = memory::memory_path(&info.workspace);
            self.memory.set_path(path);
        }
    }

    /// The MEMORY.md being shown, for the file watcher.
    pub fn memory_path(&self) -> Option<&std::path::Path> {
        self.memory.path.as_deref()
    }

    /// The first proposal nobody has answered yet (nor this workbench, whose answer may not
    /// have come back as `memory_resolved` yet).
    pub fn pending_proposal(&self) -> Option<&super::state::MemoryProposal> {
        pending_proposal(&self.state, &self.resolved_proposals)
    }

    /// MEMORY.md changed on disk (the watcher's reload message). The panel follows the file;
    /// an open editor follows it too while it has no unsaved edits, and otherwise the
    /// conflict view opens so that neither version is lost.
    pub fn memory_changed(&mut self) {
        self.memory.reload();
        let theirs = self.memory.disk.clone().unwrap_or_default();
        match std::mem::replace(&mut self.overlay, Overlay::None) {
            Overlay::Editor(EditorKind::Memory, mut ta) => {
                let mine = memory::buffer_text(&ta);
                if theirs == self.memory.base || theirs == mine {
                    // Our own save echoing back, a touch, or the same edit made on both sides.
                    self.memory.base = theirs;
                    self.overlay = Overlay::Editor(EditorKind::Memory, ta);
                } else if mine == self.memory.base {
                    *ta = memory::textarea(&theirs);
                    self.memory.base = theirs;
                    self.flash = Some("MEMORY.md changed on disk; the editor shows the new version".into());
                    self.overlay = Overlay::Editor(EditorKind::Memory, ta);
                } else {
                    self.flash = Some("MEMORY.md changed on disk while you were editing it".into());
                    self.overlay = Overlay::MemoryConflict { editor: ta, theirs, scroll: 0 };
                }
            }
            Overlay::MemoryConflict { editor, scroll, .. } => {
                self.overlay = Overlay::MemoryConflict { editor, theirs, scroll };
            }
            other => self.overlay = other,
        }
    }

    fn open_memory_editor(&mut self) {
        if self.read_only() {
            return;
        }
        if self.memory.path.is_none() {
            self.flash = Some("no workspace yet: MEMORY.md is known once the session starts".into());
            return;
        }
        self.memory.reload();
        if let Some(e) = &self.memory.error {
            self.flash = Some(format!("cannot read MEMORY.md: {e}"));
            return;
        }
        let text = self.memory.disk.clone().unwrap_or_default();
        let mut ta = memory::textarea(&text);
        ta.set_placeholder_text("What every session in this workspace should know…");
        self.memory.base = text;
        self.overlay = Overlay::Editor(EditorKind::Memory, Box::new(ta));
    }

    /// Asks the runtime to save the editor's buffer, unless the file visibly changed since
    /// the editor loaded it (then it is a conflict, not an overwrite). The runtime checks
    /// the base again when it writes, so a change the watcher has not reported yet is caught
    /// there and the edit becomes a proposal instead.
    fn save_memory(&mut self, ta: Box<TextArea<'static>>) {
        let mine = memory::buffer_text(&ta);
        let theirs = match self.memory.read_now() {
            Ok(t) => t.unwrap_or_default(),
            Err(e) => {
                self.flash = Some(format!("cannot read MEMORY.md before saving: {e}"));
                self.overlay = Overlay::Editor(EditorKind::Memory, ta);
                return;
            }
        };
        if theirs != self.memory.base && theirs != mine {
            self.memory.reload();
            self.flash = Some("MEMORY.md changed on disk while you were editing it".into());
            self.overlay = Overlay::MemoryConflict { editor: ta, theirs, scroll: 0 };
            return;
        }
        let base = std::mem::take(&mut self.memory.base);
        self.request_memory_save(mine, &base, ta);
    }

    fn request_memory_save(&mut self, text: String, base: &str, ta: Box<TextArea<'static>>) {
        let base_hash = crate::workspace::sha256_hex(base.as_bytes());
        match self.send(Command::SaveMemory { text, base_hash }) {
            Some(_) => {
                self.memory.base.clear();
                self.overlay = Overlay::None;
                self.flash = Some("MEMORY.md sent to the runtime to save".into());
            }
            // Keep the buffer: the edits are still only in memory.
            None => self.overlay = Overlay::Editor(EditorKind::Memory, ta),
        }
    }

    fn resolve_proposal(&mut self, accept: bool) {
        if self.focus != PanelId::Memory {
            self.flash = Some("proposals are answered in the Memory panel (focus it first)".into());
            return;
        }
        if self.read_only() {
            return;
        }
        let Some(id) = self.pending_proposal().map(|p| p.id) else {
            self.flash = Some("no proposed MEMORY.md is waiting".into());
            return;
        };
        self.send(Command::ResolveMemory { id, accept });
        if self.flash.is_none() {
            self.resolved_proposals.insert(id);
            self.flash = Some(format!("{} proposal #{id}", if accept { "accepted" } else { "rejected" }));
        }
    }

    pub fn note(&mut self, level: NoticeLevel, text: String) {
        self.state.push_local_notice(level, text);
    }

    pub fn note_lagged(&mut self, n: u64) {
        self.lagged += n;
        self.note(NoticeLevel::Warning, format!("the workbench fell behind and missed {n} events; the session log has them all"));
    }

    pub fn visible_panels(&self) -> Vec<PanelId> {
        PanelId::ALL.iter().copied().filter(|p| !self.hidden.contains(p)).collect()
    }

    fn context(&self) -> KeyContext {
        match self.overlay {
            Overlay::Editor(..) => KeyContext::Editor,
            // The conflict view takes no text, so its keys are the global memory keys.
            Overlay::MemoryConflict { .. } | Overlay::Dropped(_) => KeyContext::Global,
            Overlay::None if self.rebuild_in_view() => KeyContext::Rebuild,
            _ => self.focus.context(),
        }
    }

    /// The binding for a key: as sent, then with the shift state that terminals disagree on
    /// (`?` with or without SHIFT, `N` with or without it).
    pub fn lookup(&self, ctx: KeyContext, key: &KeyEvent) -> Option<Action> {
        if let Some(b) = self.opts.keymap.lookup(ctx, key) {
            return Some(b.action);
        }
        if let KeyCode::Char(c) = key.code {
            let mut alt = *key;
            if c.is_ascii_uppercase() {
                alt.modifiers ^= KeyModifiers::SHIFT;
            } else if key.modifiers.contains(KeyModifiers::SHIFT) {
                alt.modifiers.remove(KeyModifiers::SHIFT);
            } else {
                return None;
            }
            return self.opts.keymap.lookup(ctx, &alt).map(|b| b.action);
        }
        None
    }

    pub fn handle_event(&mut self, ev: TermEvent) {
        match ev {
            TermEvent::Key(k) => self.handle_key(k),
            TermEvent::Paste(text) => self.paste(&text),
            TermEvent::Mouse(m) => match m.kind {
                MouseEventKind::Down(MouseButton::Left) => {
                    if let Some((shown, tab)) = self.screen.panel_at(m.column, m.row) {
                        self.set_focus(tab.unwrap_or(shown));
                    }
                }
                MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                    let up = matches!(m.kind, MouseEventKind::ScrollUp);
                    if let Some((p, _)) = self.screen.panel_at(m.column, m.row) {
                        self.scroll_panel(p, if up { -3 } else { 3 });
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn paste(&mut self, text: &str) {
        if let Overlay::Editor(_, ta) = &mut self.overlay {
            ta.insert_str(text);
        } else if let Some(input) = &mut self.search.input {
            input.push_str(&text.replace(['\n', '\r'], " "));
        }
    }

    pub fn handle_key(&mut self, key: KeyEvent) {
        if key.kind == KeyEventKind::Release {
            return;
        }
        self.flash = None;
        self.sync_escalation();
        let ctx = self.context();
        let action = self.lookup(ctx, &key);
        match &mut self.overlay {
            Overlay::Escalation(id) => {
                let id = *id;
                match action {
                    Some(Action::Confirm) => {
                        self.overlay = Overlay::None;
                        self.answer_escalation(id, true, None);
                    }
                    Some(Action::Cancel) => self.open_editor(EditorKind::EscalationNote(id)),
                    // The run waits on this answer; nothing else is done until it is given.
                    _ => {}
                }
            }
            Overlay::Editor(EditorKind::EscalationNote(id), ta) => match action {
                Some(Action::EditorSend) => {
                    let (id, note) = (*id, ta.lines().join("\n"));
                    self.overlay = Overlay::None;
                    let note = Some(note).filter(|n| !n.trim().is_empty());
                    self.answer_escalation(id, false, note);
                }
                // Back to the question: it still waits for an answer.
                Some(Action::EditorCancel) => self.overlay = Overlay::None,
                _ => {
                    ta.input(key);
                }
            },
            Overlay::Confirm(kind) => {
                let kind = kind.clone();
                self.overlay = Overlay::None;
                if action == Some(Action::Confirm) {
                    match kind {
                        ConfirmKind::Quit => self.should_quit = true,
                        ConfirmKind::Stop => {
                            self.send(Command::Stop);
                        }
                        ConfirmKind::Rollback(id) => {
                            self.send(Command::Rollback(id.clone()));
                            if self.flash.is_none() {
                                self.flash = Some(format!("rollback to checkpoint {id} requested"));
                            }
                        }
                        ConfirmKind::AcceptWork => {
                            self.send(Command::OverrideVerdict { accept: true, note: None });
                            if self.flash.is_none() {
                                self.flash = Some("you accepted the work as done".into());
                            }
                        }
                    }
                }
            }
            Overlay::MemoryConflict { scroll, .. } => match action {
                Some(Action::MemoryKeepMine) => {
                    if let Overlay::MemoryConflict { editor, theirs, .. } = std::mem::replace(&mut self.overlay, Overlay::None) {
                        // Overwriting the disk version on purpose: it is the base now.
                        let mine = memory::buffer_text(&editor);
                        self.request_memory_save(mine, &theirs, editor);
                    }
                }
                Some(Action::MemoryTakeTheirs) => {
                    self.overlay = Overlay::None;
                    self.memory.reload();
                    self.memory.base.clear();
                    self.flash = Some("kept MEMORY.md as it is on disk; your edits were dropped".into());
                }
                Some(Action::MemoryEdit | Action::Cancel) => {
                    if let Overlay::MemoryConflict { editor, theirs, .. } = std::mem::replace(&mut self.overlay, Overlay::None) {
                        // The disk version has been seen: saving now overwrites it on purpose.
                        self.memory.base = theirs;
                        self.overlay = Overlay::Editor(EditorKind::Memory, editor);
                    }
                }
                other => scroll_overlay(scroll, other),
            },
            Overlay::Dropped(_) => self.dropped_key(action),
            Overlay::Editor(EditorKind::Memory, _) => match action {
                Some(Action::EditorSend) => {
                    if let Overlay::Editor(_, ta) = std::mem::replace(&mut self.overlay, Overlay::None) {
                        self.save_memory(ta);
                    }
                }
                Some(Action::EditorCancel) => {
                    self.overlay = Overlay::None;
                    self.memory.base.clear();
                }
                _ => {
                    if let Overlay::Editor(_, ta) = &mut self.overlay {
                        ta.input(key);
                    }
                }
            },
            Overlay::Editor(kind, ta) => match action {
                Some(Action::EditorSend) => {
                    let kind = *kind;
                    let text = ta.lines().join("\n");
                    if text.trim().is_empty() {
                        self.flash = Some("nothing to send".into());
                        return;
                    }
                    self.overlay = Overlay::None;
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
                            }
                        }
                        EditorKind::RejectNote => {
                            self.send(Command::OverrideVerdict { accept: false, note: Some(text) });
                            if self.flash.is_none() {
                                self.flash = Some("you rejected the work; the note goes to the agent".into());
                            }
                        }
                        EditorKind::RebuildField => self.send_field_edit(text),
                        // Handled by their own arms above.
                        EditorKind::Memory | EditorKind::EscalationNote(_) => {}
                    }
                }
                Some(Action::EditorCancel) => self.overlay = Overlay::None,
                _ => {
                    ta.input(key);
                }
            },
            Overlay::Help { scroll } => match action {
                Some(Action::Help | Action::Cancel | Action::Quit) => self.overlay = Overlay::None,
                other => scroll_overlay(scroll, other),
            },
            Overlay::None => {
                if self.search.input.is_some() {
                    self.search_input(key);
                } else if let Some(a) = action {
                    self.act(a);
                }
            }
        }
    }

    /// The search line is a modal text input, so its keys are fixed: typing, backspace,
    /// enter to search, esc to cancel.
    fn search_input(&mut self, key: KeyEvent) {
        let Some(input) = &mut self.search.input else { return };
        match key.code {
            KeyCode::Enter => {
                self.search.commit(&self.state);
                if self.search.hits.is_empty() {
                    self.flash = Some(format!("no matches for {:?}", self.search.query));
                } else {
                    self.search_step(true);
                }
            }
            KeyCode::Esc => self.search.input = None,
            KeyCode::Backspace => {
                input.pop();
            }
            KeyCode::Char(c) if !key.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) => input.push(c),
            _ => {}
        }
    }

    fn read_only(&mut self) -> bool {
        if self.is_replay() {
            self.flash = Some("read-only replay".into());
            true
        } else {
            false
        }
    }

    /// Sends `cmd` and returns its id, which the events it causes echo.
    fn send(&mut self, cmd: Command) -> Option<String> {
        if self.read_only() {
            return None;
        }
        let id = self.commands.as_ref().and_then(|tx| tx.send(cmd).ok());
        if id.is_none() {
            self.flash = Some("the runtime is not listening any more".into());
        }
        id
    }

    fn open_editor(&mut self, kind: EditorKind) {
        let mut ta = TextArea::default();
        ta.set_cursor_line_style(ratatui::style::Style::default());
        ta.set_placeholder_text(match kind {
            EditorKind::Task => "Describe the task for the agent…",
            EditorKind::Inject => "A correction for the agent, delivered at the next step…",
            EditorKind::RejectNote => "What is still wrong or missing: the agent gets this note and keeps working…",
            EditorKind::EscalationNote(_) => "Why not, or what to do instead: the agent gets this note (may be empty)…",
            EditorKind::Memory | EditorKind::RebuildField => "",
        });
        self.overlay = Overlay::Editor(kind, Box::new(ta));
    }

    pub fn set_focus(&mut self, p: PanelId) {
        self.hidden.remove(&p);
        self.focus = p;
        if p != PanelId::Transcript {
            self.last_side = p;
        }
    }

    fn cycle_focus(&mut self, forward: bool) {
        let vis = self.visible_panels();
        if vis.is_empty() {
            return;
        }
        let i = vis.iter().position(|p| *p == self.focus).unwrap_or(0);
        let n = vis.len();
        let next = if forward { (i + 1) % n } else { (i + n - 1) % n };
        self.set_focus(vis[next]);
    }

    pub fn act(&mut self, a: Action) {
        use super::state::RunState;
        if self.rebuild_in_view() && self.rebuild_act(a) {
            return;
        }
        match a {
            Action::Quit => {
                if !self.is_replay() && self.state.run.is_active() {
                    self.overlay = Overlay::Confirm(ConfirmKind::Quit);
                } else {
                    self.should_quit = true;
                }
            }
            Action::Confirm => {}
            Action::Cancel => {
                self.search.clear();
                self.maximized = false;
            }
            Action::PauseResume => {
                if self.read_only() {
                    return;
                }
                match self.state.run {
                    RunState::Paused(_) => {
                        self.send(Command::Resume);
                    }
                    RunState::Running | RunState::WaitingForModel | RunState::Stalled => {
                        self.send(Command::Pause);
                    }
                    _ => self.flash = Some(format!("nothing to pause: the session is {}", self.state.run.label())),
                }
            }
            Action::Inject => {
                if self.read_only() {
                    return;
                }
                if matches!(self.mode, Mode::Live { task_pending: true }) {
                    self.open_editor(EditorKind::Task);
                } else if matches!(self.state.run, RunState::Finished { .. }) {
                    self.flash = Some("the session has finished".into());
                } else {
                    self.open_editor(EditorKind::Inject);
                }
            }
            Action::Stop => {
                if self.read_only() {
                    return;
                }
                if self.state.run.is_active() {
                    self.overlay = Overlay::Confirm(ConfirmKind::Stop);
                } else {
                    self.flash = Some("nothing to stop".into());
                }
            }
            Action::FocusNext => self.cycle_focus(true),
            Action::FocusPrev => self.cycle_focus(false),
            Action::Focus(n) => {
                if let Some(p) = PanelId::from_number(n) {
                    self.set_focus(p);
                }
            }
            Action::Maximize => self.maximized = !self.maximized,
            Action::HidePanel => {
                if self.visible_panels().len() <= 1 {
                    self.flash = Some("the last visible panel cannot be hidden".into());
                } else {
                    let hide = self.focus;
                    self.cycle_focus(true);
                    self.hidden.insert(hide);
                    self.maximized = false;
                }
            }
            Action::Help => self.overlay = Overlay::Help { scroll: 0 },
            Action::Search => {
                if self.focus == PanelId::Transcript {
                    self.search.open();
                } else {
                    self.flash = Some("search works in the transcript (focus it first)".into());
                }
            }
            Action::SearchNext => self.search_step(true),
            Action::SearchPrev => self.search_step(false),
            Action::ScrollUp => self.scroll_panel(self.focus, -1),
            Action::ScrollDown => self.scroll_panel(self.focus, 1),
            Action::PageUp | Action::PageDown => {
                let up = a == Action::PageUp;
                match self.focus {
                    PanelId::Diff => {
                        let p = self.diff.page();
                        self.diff.scroll_detail(if up { -p } else { p });
                    }
                    PanelId::Checkpoints => {
                        let p = self.checkpoints.page();
                        self.checkpoints.scroll_detail(if up { -p } else { p });
                    }
                    PanelId::Memory => {
                        let p = self.memory.page();
                        self.memory.scroll_by(if up { -p } else { p });
                    }
                    PanelId::Verifier => {
                        let p = self.verifier.page();
                        self.verifier.scroll_by(if up { -p } else { p });
                    }
                    PanelId::Transcript if self.candidates.shown => {
                        let p = self.candidates.page();
                        self.candidates.scroll_by(if up { -p } else { p });
                    }
                    p => {
                        let page = self.transcript.height.saturating_sub(1).max(1) as isize;
                        self.scroll_panel(p, if up { -page } else { page });
                    }
                }
            }
            Action::Top | Action::Bottom => self.top_bottom(a == Action::Top),
            Action::Expand => match self.focus {
                PanelId::Transcript => {
                    if let Some(id) = self.transcript.selected {
                        if !self.transcript.expanded.remove(&id) {
                            self.transcript.expanded.insert(id);
                        }
                    } else {
                        self.flash = Some("no tool call on screen to expand".into());
                    }
                }
                PanelId::Diff => self.diff.expanded = !self.diff.expanded,
                PanelId::Checkpoints => self.checkpoints.expanded = !self.checkpoints.expanded,
                _ => {}
            },
            Action::ToggleDiffMode => {
                self.diff.mode = match self.diff.mode {
                    DiffMode::Unified => DiffMode::SideBySide,
                    DiffMode::SideBySide => DiffMode::Unified,
                }
            }
            Action::ToggleDiffScope => {
                self.diff.scope = match self.diff.scope {
                    DiffScope::Step => DiffScope::Session,
                    DiffScope::Session => DiffScope::Step,
                };
                self.diff.selected = 0;
                self.diff.detail_scroll = 0;
            }
            Action::TimelinePrev | Action::TimelineNext => {
                let Mode::Replay(tl) = &mut self.mode else {
                    self.flash = Some("the timeline is for replays (endure replay SESSION)".into());
                    return;
                };
                let k = if a == Action::TimelineNext { tl.position() + 1 } else { tl.position().saturating_sub(1) };
                tl.seek(k, &mut self.state);
            }
            Action::Rollback => {
                if self.read_only() {
                    return;
                }
                match self.checkpoints.selected_id(&self.state) {
                    Some(id) => self.overlay = Overlay::Confirm(ConfirmKind::Rollback(id)),
                    None => self.flash = Some("no checkpoint to roll back to yet".into()),
                }
            }
            Action::Rollover => {
                if self.read_only() {
                    return;
                }
                if !self.state.run.is_active() {
                    self.flash = Some(format!("nothing to roll over: the session is {}", self.state.run.label()));
                    return;
                }
                self.send(Command::Rollover);
                if self.flash.is_none() {
                    self.flash = Some("rollover requested".into());
                }
            }
            Action::ToggleCheckpointDiff => {
                self.checkpoints.diff = !self.checkpoints.diff;
                self.checkpoints.scroll = 0;
            }
            Action::MemoryEdit => {
                if self.focus == PanelId::Memory {
                    self.open_memory_editor();
                } else {
                    self.flash = Some("MEMORY.md is edited from the Memory panel (focus it first)".into());
                }
            }
            Action::MemoryAccept => self.resolve_proposal(true),
            Action::MemoryReject => self.resolve_proposal(false),
            // Only meaningful in the conflict view, which handles them itself.
            Action::MemoryKeepMine | Action::MemoryTakeTheirs => {}
            Action::EditorSend | Action::EditorCancel => {}
            Action::ToggleCandidates => self.toggle_candidates(),
            Action::CandidatePrev | Action::CandidateNext => {
                if self.candidates_in_view() {
                    let n = self.candidates.shown_step(&self.state).map_or(0, |m| m.candidates.len());
                    self.candidates.move_selection(if a == Action::CandidateNext { 1 } else { -1 }, n);
                }
            }
            Action::CandidateStepPrev | Action::CandidateStepNext => {
                if self.candidates_in_view() {
                    self.candidates.move_step(if a == Action::CandidateStepNext { 1 } else { -1 }, self.state.max_steps.len());
                    // Reading an older step is a choice: keep the view when the run moves on.
                    self.candidates.auto = false;
                }
            }
            Action::PickCandidate => self.pick_candidate(),
            Action::ToggleMaxMode => {
                if self.read_only() {
                    return;
                }
                let next = if self.state.core.max_mode.is_some() { None } else { Some(MAX_MODE_CANDIDATES) };
                self.send(Command::SetMaxMode(next));
                if self.flash.is_none() {
                    self.flash = Some(match next {
                        Some(n) => format!("Max Mode on from the next step: {n} candidates, judged (about {n}x the cost)"),
                        None => "Max Mode off from the next step".into(),
                    });
                }
            }
            Action::ToggleReviewPicks => {
                if self.read_only() {
                    return;
                }
                let on = !self.state.core.review_picks;
                self.send(Command::SetReviewPicks(on));
                if self.flash.is_none() {
                    self.flash = Some(if on { "review picks on: every Max Mode pick waits for you" } else { "review picks off: the judge's pick runs" }.into());
                }
            }
            Action::ToggleReviewRebuilds => self.toggle_review_rebuilds(),
            Action::ToggleRebuildView => self.toggle_rebuild_view(),
            Action::RebuildEdit | Action::RebuildPin | Action::RebuildDrop | Action::RebuildApprove | Action::RebuildVeto => {
                self.flash = Some(if self.state.rebuild.is_some() {
                    "show the Rebuild view first".into()
                } else {
                    "no rebuilt window waits for review".into()
                });
            }
            Action::OpenDropped => self.open_dropped(),
            Action::MarkCheckpoint => self.mark_checkpoint(),
            Action::VerdictAccept | Action::VerdictReject => {
                if self.focus != PanelId::Verifier {
                    self.flash = Some("verdicts are overridden from the Verifier panel (focus it first)".into());
                    return;
                }
                if self.read_only() {
                    return;
                }
                if self.state.verdicts.is_empty() {
                    self.flash = Some("no verdict to override yet".into());
                } else if !self.state.run.is_active() {
                    self.flash = Some(format!("the session is {}: nothing to override", self.state.run.label()));
                } else if a == Action::VerdictAccept {
                    self.overlay = Overlay::Confirm(ConfirmKind::AcceptWork);
                } else {
                    self.open_editor(EditorKind::RejectNote);
                }
            }
        }
    }

    /// The Candidates view is what the transcript's area shows and the keyboard is there.
    fn candidates_in_view(&self) -> bool {
        self.focus == PanelId::Transcript && self.candidates.shown
    }

    /// Shows the candidates (of the selected tool call's step when it ran in Max Mode, else
    /// of the newest Max Mode step), or the transcript again.
    fn toggle_candidates(&mut self) {
        if self.candidates.shown && self.focus == PanelId::Transcript {
            self.candidates.shown = false;
            self.candidates.auto = false;
            return;
        }
        self.set_focus(PanelId::Transcript);
        let selected_step = self.transcript.selected.and_then(|id| {
            self.state.cells.iter().find(|c| c.id == id).and_then(|c| match &c.kind {
                super::state::CellKind::Tool(t) => Some(t.step),
                _ => None,
            })
        });
        let at = selected_step.and_then(|s| self.state.max_steps.iter().position(|m| m.step == s));
        // The newest step is followed rather than pinned, so new steps still show up.
        let at = at.filter(|i| i + 1 < self.state.max_steps.len());
        self.candidates.open(at, false);
        if self.state.max_steps.is_empty() {
            self.flash = Some("no Max Mode step yet".into());
        }
    }

    /// Sends the selected candidate while the run waits for the supervisor's pick.
    fn pick_candidate(&mut self) {
        if !self.candidates_in_view() {
            self.flash = Some("picks are made in the Candidates view (show it first)".into());
            return;
        }
        if self.read_only() {
            return;
        }
        let shown = self.candidates.shown_step(&self.state).map(|m| m.step);
        let waiting = self.state.awaiting_pick().map(|m| m.step);
        if waiting.is_none() || shown != waiting {
            self.flash = Some(if self.state.core.review_picks {
                "nothing waits for a pick now".into()
            } else {
                "picks run without you: turn review picks on first".into()
            });
            return;
        }
        let Some(i) = self.candidates.selected_number(&self.state) else { return };
        let failed = self
            .candidates
            .shown_step(&self.state)
            .and_then(|m| m.candidate(i))
            .is_some_and(|c| matches!(c.status, super::state::CandidateStatus::Failed(_)));
        if failed {
            self.flash = Some(format!("candidate {i} failed: pick another"));
            return;
        }
        self.send(Command::PickCandidate(i));
        if self.flash.is_none() {
            self.flash = Some(format!("candidate {i} picked"));
        }
    }

    fn top_bottom(&mut self, top: bool) {
        match self.focus {
            PanelId::Transcript if self.candidates.shown => self.candidates.scroll = if top { 0 } else { usize::MAX / 2 },
            PanelId::Verifier => self.verifier.scroll = if top { 0 } else { usize::MAX / 2 },
            PanelId::Transcript => {
                if top {
                    let now = self.now();
                    let ctx = RenderCtx { theme: &self.opts.theme, hl: &self.hl, state: &self.state, now, spinner: 0 };
                    self.transcript.top(&ctx, &self.pending);
                } else {
                    self.transcript.bottom();
                }
            }
            PanelId::Tasks => self.tasks.scroll = if top { 0 } else { self.state.tasks().len() },
            PanelId::Diff => self.diff.move_selection(if top { isize::MIN / 2 } else { isize::MAX / 2 }),
            PanelId::Checkpoints => {
                let n = self.state.checkpoints.len();
                self.checkpoints.move_selection(if top { isize::MIN / 2 } else { isize::MAX / 2 }, n);
            }
            PanelId::Memory => self.memory.scroll = if top { 0 } else { usize::MAX / 2 },
            _ => {}
        }
    }

    fn scroll_panel(&mut self, p: PanelId, delta: isize) {
        match p {
            PanelId::Transcript if self.candidates.shown => self.candidates.scroll_by(delta),
            PanelId::Verifier => self.verifier.scroll_by(delta),
            PanelId::Transcript => {
                let now = self.now();
                let ctx = RenderCtx { theme: &self.opts.theme, hl: &self.hl, state: &self.state, now, spinner: 0 };
                if delta < 0 {
                    self.transcript.scroll_up(&ctx, &self.pending, delta.unsigned_abs());
                } else {
                    self.transcript.scroll_down(&ctx, &self.pending, delta.unsigned_abs());
                }
            }
            PanelId::Tasks => self.tasks.scroll_by(delta, self.state.tasks().len()),
            PanelId::Diff => self.diff.move_selection(delta.signum()),
            PanelId::Checkpoints => self.checkpoints.move_selection(delta.signum(), self.state.checkpoints.len()),
            PanelId::Memory => self.memory.scroll_by(delta),
            _ => {}
        }
    }

    fn search_step(&mut self, forward: bool) {
        if self.search.query.is_empty() {
            self.flash = Some("no search yet: press the search key first".into());
            return;
        }
        let Some(hit) = self.search.step(&self.state, forward) else {
            self.flash = Some(format!("no matches for {:?}", self.search.query));
            return;
        };
        let now = self.now();
        let ctx = RenderCtx { theme: &self.opts.theme, hl: &self.hl, state: &self.state, now, spinner: 0 };
        let needle = self.search.query.to_ascii_lowercase();
        let rows = self.transcript.rows(&ctx, &self.pending, hit.cell);
        // The row holding the nth occurrence; the cell's first row when markup moved it.
        let mut seen = 0;
        let mut row = 0;
        for (i, l) in rows.iter().enumerate() {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            let n = find_all(&text, &needle).len();
            if seen + n > hit.nth {
                row = i;
                break;
            }
            seen += n;
        }
        self.transcript.jump_to(&ctx, &self.pending, Anchor { entry: hit.cell, row });
    }

    /// Bindings to show in the status bar for what has the keyboard now, most useful first
    /// (the bar shows as many whole hints as fit), one per action.
    pub fn hints(&self) -> Vec<(String, String)> {
        let km = &self.opts.keymap;
        let mut seen = HashSet::new();
        let mut out: Vec<(String, String)> = Vec::new();
        let mut add = |ctx: KeyContext, actions: &[Action]| {
            // In the listed order, not the keymap's; the first binding of each action.
            for a in actions {
                if let Some(b) = km.bindings(ctx).iter().find(|b| b.action == *a)
                    && seen.insert(b.action)
                {
                    out.push((b.notation.clone(), b.desc.clone()));
                }
            }
        };
        match &self.overlay {
            Overlay::Editor(kind, _) => {
                add(KeyContext::Editor, &[Action::EditorSend, Action::EditorCancel]);
                if *kind == EditorKind::Memory {
                    // The editor section describes corrections; here the same keys save a file.
                    for ((_, d), new) in out.iter_mut().zip(["Save MEMORY.md", "Close without saving"]) {
                        *d = new.into();
                    }
                }
            }
            Overlay::MemoryConflict { .. } => {
                add(KeyContext::Global, &[Action::MemoryKeepMine, Action::MemoryTakeTheirs, Action::MemoryEdit]);
            }
            Overlay::Confirm(_) => add(KeyContext::Global, &[Action::Confirm]),
            Overlay::Escalation(_) => {
                add(KeyContext::Global, &[Action::Confirm, Action::Cancel]);
                for ((_, d), new) in out.iter_mut().zip(["Approve once", "Deny with a note"]) {
                    *d = new.into();
                }
            }
            Overlay::Help { .. } => add(KeyContext::Global, &[Action::Help, Action::ScrollDown, Action::ScrollUp]),
            Overlay::Dropped(_) => add(KeyContext::Global, &[Action::Expand, Action::ScrollDown, Action::ScrollUp, Action::Cancel]),
            Overlay::None => {
                // Help first: it leads to every other key.
                add(KeyContext::Global, &[Action::Help]);
                if self.rebuild_in_view() {
                    // The view claims the keys (`p` pins there), so only its own are hinted.
                    add(
                        KeyContext::Rebuild,
                        &[Action::RebuildApprove, Action::RebuildVeto, Action::RebuildEdit, Action::RebuildPin, Action::RebuildDrop, Action::ToggleRebuildView],
                    );
                    add(KeyContext::Global, &[Action::Quit]);
                    return out;
                }
                if self.state.rebuild.is_some() {
                    add(KeyContext::Global, &[Action::ToggleRebuildView]);
                }
                // Then what the moment asks for: a pick that waits, a verdict to answer.
                if self.candidates_in_view() {
                    if self.state.awaiting_pick().is_some() {
                        add(self.focus.context(), &[Action::PickCandidate, Action::CandidatePrev, Action::CandidateNext]);
                    }
                    add(KeyContext::Global, &[Action::ToggleCandidates]);
                }
                if self.focus == PanelId::Verifier && self.acts_in_focus(Action::VerdictAccept) {
                    add(KeyContext::Verifier, &[Action::VerdictAccept, Action::VerdictReject]);
                }
                if self.is_replay() {
                    add(KeyContext::Global, &[Action::TimelinePrev, Action::TimelineNext]);
                } else {
                    add(KeyContext::Global, &[Action::PauseResume, Action::Inject, Action::Stop]);
                }
                let ctx = self.focus.context();
                let local: Vec<Action> =
                    km.bindings(ctx).iter().map(|b| b.action).filter(|a| self.acts_in_focus(*a)).collect();
                if self.candidates_in_view() {
                    add(KeyContext::Global, &[Action::ToggleMaxMode, Action::ToggleReviewPicks]);
                }
                if self.focus == PanelId::Memory {
                    // Its keys are global ones, so name them before the generic ones.
                    let mem: Vec<Action> =
                        [Action::MemoryAccept, Action::MemoryReject, Action::MemoryEdit].into_iter().filter(|a| self.acts_in_focus(*a)).collect();
                    add(KeyContext::Global, &mem);
                } else {
                    add(ctx, &local);
                }
                if self.focus == PanelId::Checkpoints && !self.is_replay() {
                    add(KeyContext::Global, &[Action::Rollover]);
                }
                add(KeyContext::Global, &[Action::FocusNext, Action::Maximize, Action::Quit]);
            }
        }
        out
    }

    /// Whether `a` does anything in the focused panel, so the bar does not advertise a
    /// panel key that is a no-op there (expanding in a panel with nothing to expand).
    fn acts_in_focus(&self, a: Action) -> bool {
        let has_checkpoints = !self.state.checkpoints.is_empty();
        match a {
            Action::Expand => match self.focus {
                PanelId::Transcript | PanelId::Diff => true,
                PanelId::Checkpoints => has_checkpoints,
                _ => false,
            },
            Action::ToggleDiffMode | Action::ToggleDiffScope => self.focus == PanelId::Diff,
            Action::Rollback | Action::ToggleCheckpointDiff => self.focus == PanelId::Checkpoints && has_checkpoints,
            Action::MemoryEdit => self.focus == PanelId::Memory && !self.is_replay(),
            Action::MemoryAccept | Action::MemoryReject => self.focus == PanelId::Memory && self.pending_proposal().is_some(),
            Action::MemoryKeepMine | Action::MemoryTakeTheirs => false,
            Action::CandidatePrev | Action::CandidateNext | Action::CandidateStepPrev | Action::CandidateStepNext => self.candidates_in_view(),
            Action::PickCandidate => self.candidates_in_view() && self.state.awaiting_pick().is_some(),
            Action::OpenDropped => {
                self.focus == PanelId::Transcript
                    && self.transcript.selected.is_some_and(|id| {
                        self.state.cells.iter().any(|c| c.id == id && matches!(c.kind, super::state::CellKind::Rebuilt(_)))
                    })
            }
            Action::MarkCheckpoint => self.focus == PanelId::Checkpoints && has_checkpoints,
            Action::ToggleRebuildView => self.state.rebuild.is_some(),
            Action::RebuildEdit | Action::RebuildPin | Action::RebuildDrop | Action::RebuildApprove | Action::RebuildVeto => self.rebuild_in_view(),
            Action::VerdictAccept | Action::VerdictReject => self.focus == PanelId::Verifier && !self.state.verdicts.is_empty() && !self.is_replay(),
            _ => true,
        }
    }

    pub fn render(&mut self, f: &mut Frame) {
        super::view::render(self, f);
    }
}

/// Candidates per step when the supervisor turns Max Mode on from the workbench.
pub const MAX_MODE_CANDIDATES: u32 = 5;

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

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
