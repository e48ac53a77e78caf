//! Keymaps as data: `keymaps/*.toml`, one section per context, each an ordered list of
//! `{ on, run, desc }` (skeleton of the contract; the theme/keymap helper fills the loader).

use crossterm::event::KeyEvent;

/// The focus context a binding belongs to; `Global` bindings apply everywhere but the editor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyContext {
    Global,
    Transcript,
    Tasks,
    Diff,
    Checkpoints,
    Verifier,
    Editor,
}

impl KeyContext {
    pub const ALL: [KeyContext; 7] = [
        KeyContext::Global,
        KeyContext::Transcript,
        KeyContext::Tasks,
        KeyContext::Diff,
        KeyContext::Checkpoints,
        KeyContext::Verifier,
        KeyContext::Editor,
    ];

    /// The section name in keymap files.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyContext::Global => "global",
            KeyContext::Transcript => "transcript",
            KeyContext::Tasks => "tasks",
            KeyContext::Diff => "diff",
            KeyContext::Checkpoints => "checkpoints",
            KeyContext::Verifier => "verifier",
            KeyContext::Editor => "editor",
        }
    }
}

/// Everything a key can do. Keymap files name these in `run`: the snake_case name, plus an
/// argument for `focus N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    /// Answers yes in a confirmation prompt (quit, stop).
    Confirm,
    /// Closes an overlay, a prompt, or the search.
    Cancel,
    PauseResume,
    Inject,
    Stop,
    FocusNext,
    FocusPrev,
    /// Focus the panel with this 1-based number.
    Focus(u8),
    Maximize,
    /// Hide or show the focused panel.
    HidePanel,
    Help,
    Search,
    SearchNext,
    SearchPrev,
    ScrollUp,
    ScrollDown,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Expand or collapse the selected item (a tool call, a diff file).
    Expand,
    ToggleDiffMode,
    /// Diff panel: switch between per-change and whole-session views.
    ToggleDiffScope,
    /// Replay: move the timeline one step back or forward.
    TimelinePrev,
    TimelineNext,
    /// Editor: send the buffer; editor: cancel.
    EditorSend,
    EditorCancel,
}

impl Action {
    /// Every action with its keymap name, for parsing and for listing valid names in errors.
    pub const NAMED: &'static [(&'static str, Action)] = &[
        ("quit", Action::Quit),
        ("confirm", Action::Confirm),
        ("cancel", Action::Cancel),
        ("pause_resume", Action::PauseResume),
        ("inject", Action::Inject),
        ("stop", Action::Stop),
        ("focus_next", Action::FocusNext),
        ("focus_prev", Action::FocusPrev),
        ("maximize", Action::Maximize),
        ("hide_panel", Action::HidePanel),
        ("help", Action::Help),
        ("search", Action::Search),
        ("search_next", Action::SearchNext),
        ("search_prev", Action::SearchPrev),
        ("scroll_up", Action::ScrollUp),
        ("scroll_down", Action::ScrollDown),
        ("page_up", Action::PageUp),
        ("page_down", Action::PageDown),
        ("top", Action::Top),
        ("bottom", Action::Bottom),
        ("expand", Action::Expand),
        ("toggle_diff_mode", Action::ToggleDiffMode),
        ("toggle_diff_scope", Action::ToggleDiffScope),
        ("timeline_prev", Action::TimelinePrev),
        ("timeline_next", Action::TimelineNext),
        ("editor_send", Action::EditorSend),
        ("editor_cancel", Action::EditorCancel),
    ];

    /// Parses a `run` value: a name from [`Action::NAMED`], or `focus N` with N in 1..=9.
    pub fn parse(s: &str) -> Result<Action, String> {
        let s = s.trim();
        if let Some(n) = s.strip_prefix("focus ") {
            return match n.trim().parse::<u8>() {
                Ok(n @ 1..=9) => Ok(Action::Focus(n)),
                _ => Err(format!("`focus` takes a panel number from 1 to 9, not `{n}`")),
            };
        }
        Action::NAMED.iter().find(|(name, _)| *name == s).map(|(_, a)| *a).ok_or_else(|| {
            let names: Vec<&str> = Action::NAMED.iter().map(|(n, _)| *n).collect();
            format!("unknown action `{s}` (expected one of: {}, focus N)", names.join(", "))
        })
    }
}

/// One binding: a key sequence (usually one key) and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub keys: Vec<KeyEvent>,
    pub action: Action,
    pub desc: String,
    /// The key notation as written, for the help overlay and the status bar.
    pub notation: String,
}

#[derive(Debug, Clone, Default)]
pub struct Keymap {
    pub sections: std::collections::BTreeMap<KeyContext, Vec<Binding>>,
}

impl Keymap {
    pub fn bindings(&self, ctx: KeyContext) -> &[Binding] {
        self.sections.get(&ctx).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The first binding in `ctx` whose single key matches, then the global section's (except
    /// in the editor, where typed keys belong to the text).
    pub fn lookup(&self, ctx: KeyContext, key: &KeyEvent) -> Option<&Binding> {
        let hit = |c: KeyContext| self.bindings(c).iter().find(|b| b.keys.len() == 1 && b.keys[0].code == key.code && b.keys[0].modifiers == key.modifiers);
        hit(ctx).or_else(|| if ctx == KeyContext::Editor { None } else { hit(KeyContext::Global) })
    }
}
