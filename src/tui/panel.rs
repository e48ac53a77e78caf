//! The panel component: each panel owns its state, drawing, scrolling, selection and keys,
//! and says which actions it offers right now. Hints, help and key dispatch all come from
//! that one answer (`Panel::offers`), so an action that does nothing is neither hinted nor
//! run. A panel never touches the runtime or the screen outside its area: it asks for
//! commands, overlays and messages through `Effects`, which `App` carries out.
//!
//! Adding a panel is one new file in `panels/` with a type implementing `Panel`, plus one
//! line in the `panels!` list of `panels/mod.rs`.

use std::any::Any;
use std::path::Path;

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;

use super::app::{ConfirmKind, EditorKind, Overlay};
use super::panels::RenderCtx;
use crate::config::keymap::{Action, KeyContext};
use crate::protocol::{Command, Event};

/// A panel's identity: a stable name (used in tests and by `Focus` through its number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PanelId(pub &'static str);

// The built-in panels, named like the variants they replaced so call sites read the same.
#[allow(non_upper_case_globals)]
impl PanelId {
    pub const Transcript: PanelId = PanelId("transcript");
    pub const Tasks: PanelId = PanelId("tasks");
    pub const Diff: PanelId = PanelId("diff");
    pub const Checkpoints: PanelId = PanelId("checkpoints");
    pub const Verifier: PanelId = PanelId("verifier");
    pub const Memory: PanelId = PanelId("memory");
    pub const Endurance: PanelId = PanelId("endurance");
}

/// Where a panel goes on a wide screen; narrower screens put everything but the main panel
/// in tabs. Columns are read left to right, so this order is also the panels' numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Placement {
    /// The transcript's column.
    Main,
    /// The wide column (diffs, charts).
    Wide,
    /// The narrow column of lists (tasks, verdicts, processes).
    Side,
    /// The column of prose (checkpoint fields, MEMORY.md).
    Prose,
}

/// One action a panel offers now; `disabled` says why it would do nothing (read-only replay,
/// nothing selected), and such an action is neither hinted nor run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub action: Action,
    pub disabled: Option<String>,
    /// Named in the status bar ahead of the run controls (a pick that waits, a verdict).
    pub urgent: bool,
}

impl Offer {
    pub fn on(action: Action) -> Offer {
        Offer { action, disabled: None, urgent: false }
    }

    pub fn when(action: Action, enabled: bool, why: &str) -> Offer {
        Offer { action, disabled: (!enabled).then(|| why.to_string()), urgent: false }
    }

    /// Enabled only where commands can be sent (not in a replay).
    pub fn live(action: Action, cx: &RenderCtx) -> Offer {
        Offer::when(action, cx.live, READ_ONLY)
    }

    pub fn urgent(mut self) -> Offer {
        self.urgent = true;
        self
    }

    pub fn enabled(&self) -> bool {
        self.disabled.is_none()
    }
}

pub const READ_ONLY: &str = "read-only replay";

/// What a panel asks the app to do after a key.
#[derive(Debug)]
pub enum Effect {
    Send(Command),
    /// A message for the status bar.
    Notice(String),
    /// Something the user asked for could not be done.
    Error(String),
    Confirm(ConfirmKind),
    /// Open an editor with this text.
    Edit(EditorKind, String),
    /// Open a layer over the panels (pushed on the stack).
    Overlay(Overlay),
    /// Search the transcript for this text (the search layer's Enter).
    SearchFor(String),
    Focus(PanelId),
    /// Show the message event `seq` added, wherever a panel can (the transcript).
    Reveal(u64),
    /// Put this text on the clipboard.
    Copy(String),
    /// Leave the workbench (a confirmed quit).
    Quit,
    /// Start the run with this task.
    StartTask(String),
    /// Send this correction to the agent.
    Correct(String),
    /// Answer escalation `id`.
    AnswerEscalation {
        id: u64,
        approve: bool,
        note: Option<String>,
    },
    /// The new text of the rebuilt window's field being edited.
    RebuildField(String),
    /// Ask the runtime to save MEMORY.md as `text` if it is still `base`; `edit` is the
    /// editor to reopen if the request cannot be sent.
    SaveMemory {
        text: String,
        base: String,
        edit: super::panels::memory::MemoryEdit,
    },
    /// Files shown by panels may have changed: read them again.
    ReloadFiles,
    /// Scope the usual panels to workflow subagent `n`, or back to the session (None).
    Scope(Option<u64>),
}

#[derive(Debug, Default)]
pub struct Effects(pub Vec<Effect>);

impl Effects {
    pub fn send(&mut self, c: Command) {
        self.0.push(Effect::Send(c));
    }

    pub fn notice(&mut self, s: impl Into<String>) {
        self.0.push(Effect::Notice(s.into()));
    }

    pub fn error(&mut self, s: impl Into<String>) {
        self.0.push(Effect::Error(s.into()));
    }

    pub fn push(&mut self, e: Effect) {
        self.0.push(e);
    }
}

pub trait Panel: Any {
    fn id(&self) -> PanelId;
    fn title(&self) -> &'static str;
    /// Shown after the title (the transcript says when it shows the candidates instead).
    fn title_suffix(&self) -> &'static str {
        ""
    }
    /// The keymap section that is looked up first while this panel has focus.
    fn layer(&self) -> KeyContext;
    fn placement(&self) -> Placement;
    /// How tall this panel is relative to others stacked in its column.
    fn weight(&self) -> u16 {
        1
    }
    /// Every action the panel handles, in the order the status bar should name them.
    fn offers(&self, cx: &RenderCtx) -> Vec<Offer>;
    /// Runs an action `offers` returned enabled.
    fn act(&mut self, a: Action, cx: &RenderCtx, fx: &mut Effects);
    /// The mouse wheel over the panel.
    fn scroll(&mut self, delta: isize, cx: &RenderCtx);
    fn render(&mut self, f: &mut Frame, area: Rect, cx: &RenderCtx);
    /// A left click at `row` (relative to the panel's inner area).
    fn click(&mut self, _row: u16, _cx: &RenderCtx) {}
    /// An event was folded into the state.
    fn on_event(&mut self, _e: &Event, _cx: &RenderCtx) {}
    /// True while the panel takes raw keys (a search line): the keymap is not consulted.
    fn takes_text(&self) -> bool {
        false
    }
    fn input(&mut self, _key: KeyEvent, _cx: &RenderCtx, _fx: &mut Effects) {}
    fn paste(&mut self, _text: &str) {}
    /// Shows the message event `seq` added; false when this panel cannot.
    fn reveal(&mut self, _seq: u64, _cx: &RenderCtx) -> bool {
        false
    }
    /// A file the panel shows, for the watcher, and the notice that it changed.
    fn watched_file(&self) -> Option<&Path> {
        None
    }
    fn file_changed(&mut self) {}
    /// The session said where its workspace is.
    fn session_known(&mut self, _cx: &RenderCtx) {}
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// Every panel (listed once, in `panels::panels!`). Numbers follow the reading order of the
/// wide layout: placement, then the listed order within a column.
pub fn registry() -> Vec<Box<dyn Panel>> {
    let mut panels = super::panels::all();
    panels.sort_by_key(|p| p.placement());
    panels
}

/// The standard scrolling actions, offered by every panel that scrolls.
pub fn scroll_offers() -> [Offer; 6] {
    [Action::ScrollDown, Action::ScrollUp, Action::PageDown, Action::PageUp, Action::Top, Action::Bottom].map(Offer::on)
}

/// Delta for a scrolling action given a page height; `None` for other actions.
pub fn scroll_delta(a: Action, page: isize) -> Option<isize> {
    match a {
        Action::ScrollDown => Some(1),
        Action::ScrollUp => Some(-1),
        Action::PageDown => Some(page),
        Action::PageUp => Some(-page),
        Action::Top => Some(isize::MIN / 2),
        Action::Bottom => Some(isize::MAX / 2),
        _ => None,
    }
}

/// The `Any` boilerplate every panel needs.
#[macro_export]
macro_rules! panel_any {
    () => {
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
        fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
            self
        }
    };
}
