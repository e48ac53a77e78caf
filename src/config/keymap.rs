//! Keymaps as data: `keymaps/*.toml`, one section per context, each an ordered list of
//! `{ on, run, desc }`.
//!
//! File format:
//!
//! ```toml
//! [global]
//! keys = [
//!   { on = "p", run = "pause_resume", desc = "Pause or resume the agent" },
//!   { on = "<C-c>", run = "quit", desc = "Quit" },
//!   { on = ["g", "g"], run = "top", desc = "Go to the top" },   # a key sequence
//! ]
//! ```
//!
//! Sections: `global`, `transcript`, `tasks`, `diff`, `checkpoints`, `verifier`, `editor`,
//! `rebuild` (the Rebuild view, shown while a proposed window waits for review). A
//! user keymap `<user config dir>/keymaps/NAME.toml` applies over the bundled keymap NAME (or
//! over the bundled keymap named by its top-level `inherits`, or the bundled default when NAME
//! is not bundled). Per section it may use `keys = [...]` to replace the section, and
//! `prepend = [...]` / `append = [...]` to add bindings before or after it; earlier bindings
//! win, so `prepend` can rebind a key.
//!
//! Key notation: one character (`p`, `?`, `N`, `<`), or a named key in angle brackets with
//! optional modifiers `C-` (Ctrl), `A-`/`M-` (Alt), `S-` (Shift): `<C-s>`, `<A-v>`, `<S-Tab>`,
//! `<Tab>`, `<Enter>`, `<Esc>`, `<Space>`, `<Backspace>`, `<Up>`, `<Down>`, `<Left>`,
//! `<Right>`, `<PageUp>`, `<PageDown>`, `<Home>`, `<End>`, `<Delete>`, `<Insert>`,
//! `<F1>`..`<F12>`, `<lt>`, `<gt>`.

use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::problem::{BUNDLED_PREFIX, ConfigProblem, Source, type_name};

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
    Rebuild,
    Memory,
    /// The Max Mode candidates, shown in the transcript's place.
    Candidates,
    /// A yes/no question (quit, stop, rollback, an escalation).
    Confirm,
    Help,
    /// MEMORY.md changed on disk under unsaved edits.
    Conflict,
    /// The inline correction input at the bottom.
    Composer,
    /// The list of what a rollover dropped.
    Dropped,
    /// The Workflow panel: a run's phases and agents, and its script.
    Workflow,
    /// The Fleet panel (and `endure fleet`): every running session.
    Fleet,
    /// The transcript's search line, while it is being typed.
    Search,
}

impl KeyContext {
    pub const ALL: [KeyContext; 18] = [
        KeyContext::Global,
        KeyContext::Transcript,
        KeyContext::Candidates,
        KeyContext::Tasks,
        KeyContext::Diff,
        KeyContext::Checkpoints,
        KeyContext::Verifier,
        KeyContext::Memory,
        KeyContext::Editor,
        KeyContext::Composer,
        KeyContext::Rebuild,
        KeyContext::Confirm,
        KeyContext::Help,
        KeyContext::Conflict,
        KeyContext::Dropped,
        KeyContext::Workflow,
        KeyContext::Fleet,
        KeyContext::Search,
    ];

    /// Layers where typed keys are text, so global bindings do not apply.
    pub fn takes_text(self) -> bool {
        matches!(self, KeyContext::Editor | KeyContext::Composer | KeyContext::Search)
    }

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
            KeyContext::Rebuild => "rebuild",
            KeyContext::Memory => "memory",
            KeyContext::Candidates => "candidates",
            KeyContext::Confirm => "confirm",
            KeyContext::Help => "help",
            KeyContext::Conflict => "conflict",
            KeyContext::Composer => "composer",
            KeyContext::Dropped => "dropped",
            KeyContext::Workflow => "workflow",
            KeyContext::Fleet => "fleet",
            KeyContext::Search => "search",
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
    /// Checkpoints: roll the workspace and conversation back to the selected checkpoint
    /// (after a confirmation).
    Rollback,
    /// Ask the runtime for a fresh context window from the newest checkpoint now.
    Rollover,
    /// Checkpoints: show the selected checkpoint as a diff against the previous one.
    ToggleCheckpointDiff,
    /// Memory: edit MEMORY.md; in the conflict view, go back to editing.
    MemoryEdit,
    /// Memory: accept or reject the proposed MEMORY.md.
    MemoryAccept,
    MemoryReject,
    /// Memory conflict view: overwrite the file with the buffer, or drop the buffer and take
    /// the file as it is on disk.
    MemoryKeepMine,
    MemoryTakeTheirs,
    /// Show the Max Mode candidates in the transcript's place, or the transcript again.
    ToggleCandidates,
    /// Candidates view: select the previous or next candidate.
    CandidatePrev,
    CandidateNext,
    /// Candidates view: browse to an earlier or later Max Mode step.
    CandidateStepPrev,
    CandidateStepNext,
    /// Candidates view: execute the selected candidate (while the run waits for a pick).
    PickCandidate,
    /// Turn Max Mode on (5 candidates) or off, from the next step.
    ToggleMaxMode,
    /// Make every Max Mode pick wait for the supervisor, or not.
    ToggleReviewPicks,
    /// Verifier: accept the work as done (after a confirmation), overriding the verdict.
    VerdictAccept,
    /// Verifier: reject the work with a note for the agent.
    VerdictReject,
    /// Propose every rebuilt window for review before it applies, or not.
    ToggleReviewRebuilds,
    /// Show or hide the Rebuild view while a proposed window waits.
    ToggleRebuildView,
    /// Rebuild view: edit the selected checkpoint field's text.
    RebuildEdit,
    /// Rebuild view: pin or unpin the selected message of the old window.
    RebuildPin,
    /// Rebuild view: drop the selected section, or restore it.
    RebuildDrop,
    /// Rebuild view: apply the window as shown.
    RebuildApprove,
    /// Rebuild view: keep the old window (asked again at the next threshold).
    RebuildVeto,
    /// Transcript: list what the selected rollover dropped, to open each original message.
    OpenDropped,
    /// Checkpoints: mark the selected checkpoint as the one to compare against.
    MarkCheckpoint,
    /// Transcript: move the selection cursor to the next or previous cell.
    SelectNext,
    SelectPrev,
    /// Copy the selected cell's text to the clipboard (OSC 52: works over ssh and in tmux).
    Copy,
    /// Composer: a new line in the correction (Enter sends it).
    ComposerNewline,
    /// Composer: recall an earlier correction, or go forward again.
    HistoryPrev,
    HistoryNext,
    /// Transcript: take back the selected correction before it is delivered.
    Withdraw,
    /// Workflow: show the run's script (each pending `await` marked) or its tree again.
    ToggleScript,
    /// Fleet: approve what the selected session waits for (an escalation, a pick, a budget).
    Approve,
    /// Fleet: deny the selected session's escalation.
    Deny,
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
        ("rollback", Action::Rollback),
        ("rollover", Action::Rollover),
        ("toggle_checkpoint_diff", Action::ToggleCheckpointDiff),
        ("memory_edit", Action::MemoryEdit),
        ("memory_accept", Action::MemoryAccept),
        ("memory_reject", Action::MemoryReject),
        ("memory_keep_mine", Action::MemoryKeepMine),
        ("memory_take_theirs", Action::MemoryTakeTheirs),
        ("toggle_candidates", Action::ToggleCandidates),
        ("candidate_prev", Action::CandidatePrev),
        ("candidate_next", Action::CandidateNext),
        ("candidate_step_prev", Action::CandidateStepPrev),
        ("candidate_step_next", Action::CandidateStepNext),
        ("pick_candidate", Action::PickCandidate),
        ("toggle_max_mode", Action::ToggleMaxMode),
        ("toggle_review_picks", Action::ToggleReviewPicks),
        ("verdict_accept", Action::VerdictAccept),
        ("verdict_reject", Action::VerdictReject),
        ("toggle_review_rebuilds", Action::ToggleReviewRebuilds),
        ("toggle_rebuild_view", Action::ToggleRebuildView),
        ("rebuild_edit", Action::RebuildEdit),
        ("rebuild_pin", Action::RebuildPin),
        ("rebuild_drop", Action::RebuildDrop),
        ("rebuild_approve", Action::RebuildApprove),
        ("rebuild_veto", Action::RebuildVeto),
        ("open_dropped", Action::OpenDropped),
        ("mark_checkpoint", Action::MarkCheckpoint),
        ("select_next", Action::SelectNext),
        ("select_prev", Action::SelectPrev),
        ("copy", Action::Copy),
        ("composer_newline", Action::ComposerNewline),
        ("history_prev", Action::HistoryPrev),
        ("history_next", Action::HistoryNext),
        ("withdraw", Action::Withdraw),
        ("toggle_script", Action::ToggleScript),
        ("approve", Action::Approve),
        ("deny", Action::Deny),
    ];

    /// Parses a `run` value: a name from [`Action::NAMED`], or `focus N` with N in 1..=20.
    pub fn parse(s: &str) -> Result<Action, String> {
        let s = s.trim();
        if let Some(n) = s.strip_prefix("focus ") {
            return match n.trim().parse::<u8>() {
                Ok(n @ 1..=20) => Ok(Action::Focus(n)),
                _ => Err(format!("`focus` takes a panel number from 1 to 20, not `{n}`")),
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
    /// Bindings that can never fire, per layer: a key sequence bound twice (after `prepend`
    /// and `append` merged, the first wins), or a key that is also the start of a longer
    /// sequence in the same layer (the short one fires first).
    pub fn conflicts(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (ctx, bindings) in &self.sections {
            let norm: Vec<Vec<_>> = bindings.iter().map(|b| b.keys.iter().map(normalize).collect()).collect();
            for (i, a) in norm.iter().enumerate() {
                for (j, b) in norm.iter().enumerate().skip(i + 1) {
                    let (first, second) = (&bindings[i], &bindings[j]);
                    if a == b {
                        out.push(format!(
                            "[{}] `{}` is bound twice: to {} and to {} (the first wins)",
                            ctx.as_str(),
                            first.notation,
                            first.desc,
                            second.desc
                        ));
                    } else if a.len() != b.len() && a.iter().zip(b).all(|(x, y)| x == y) {
                        let (short, long) = if a.len() < b.len() { (first, second) } else { (second, first) };
                        out.push(format!(
                            "[{}] `{}` ({}) shadows the sequence `{}` ({})",
                            ctx.as_str(),
                            short.notation,
                            short.desc,
                            long.notation,
                            long.desc
                        ));
                    }
                }
            }
        }
        out
    }

    /// The bindings of `ctx` (then global) that continue the keys typed so far, for the
    /// which-key hint while a prefix is pending: (the remaining keys, description).
    pub fn continuations(&self, ctx: KeyContext, typed: &[KeyEvent]) -> Vec<(String, String)> {
        let typed: Vec<_> = typed.iter().map(normalize).collect();
        let mut contexts = vec![ctx];
        if !ctx.takes_text() && ctx != KeyContext::Global {
            contexts.push(KeyContext::Global);
        }
        let mut out = Vec::new();
        for c in contexts {
            for b in self.bindings(c) {
                let bound: Vec<_> = b.keys.iter().map(normalize).collect();
                if bound.len() > typed.len() && bound[..typed.len()] == typed[..] {
                    let rest: Vec<String> = b.notation.split_whitespace().skip(typed.len()).map(str::to_string).collect();
                    out.push((rest.join(" "), b.desc.clone()));
                }
            }
        }
        out
    }

    pub fn bindings(&self, ctx: KeyContext) -> &[Binding] {
        self.sections.get(&ctx).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The first binding in `ctx` whose single key matches, then the global section's (except
    /// in the editor, where typed keys belong to the text).
    ///
    /// Keys are compared the way terminals report them: SHIFT is ignored for characters (a
    /// typed `N` is `Char('N')` with SHIFT), and Shift+Tab matches `<S-Tab>` whether it
    /// arrives as `BackTab` or as `Tab` with SHIFT.
    pub fn lookup(&self, ctx: KeyContext, key: &KeyEvent) -> Option<&Binding> {
        let key = normalize(key);
        let hit = |c: KeyContext| self.bindings(c).iter().find(|b| b.keys.len() == 1 && normalize(&b.keys[0]) == key);
        hit(ctx).or_else(|| if ctx.takes_text() { None } else { hit(KeyContext::Global) })
    }

    /// Like [`Keymap::lookup`] for the keys typed so far, for multi-key bindings: an exact
    /// binding wins, else `Prefix` says to wait for another key.
    pub fn lookup_sequence(&self, ctx: KeyContext, keys: &[KeyEvent]) -> SeqMatch<'_> {
        if keys.is_empty() {
            return SeqMatch::None;
        }
        let typed: Vec<_> = keys.iter().map(normalize).collect();
        let mut contexts = vec![ctx];
        if !ctx.takes_text() && ctx != KeyContext::Global {
            contexts.push(KeyContext::Global);
        }
        for c in contexts {
            let mut prefix = false;
            for b in self.bindings(c) {
                let bound: Vec<_> = b.keys.iter().map(normalize).collect();
                if bound == typed {
                    return SeqMatch::Exact(b);
                }
                prefix |= bound.len() > typed.len() && bound[..typed.len()] == typed[..];
            }
            if prefix {
                return SeqMatch::Prefix;
            }
        }
        SeqMatch::None
    }

    /// The first binding for `action` usable in `ctx` (the section, then global), for hints
    /// such as "press ? for help".
    pub fn binding_for(&self, ctx: KeyContext, action: Action) -> Option<&Binding> {
        let find = |c: KeyContext| self.bindings(c).iter().find(|b| b.action == action);
        find(ctx).or_else(|| if ctx.takes_text() { None } else { find(KeyContext::Global) })
    }
}

/// The result of [`Keymap::lookup_sequence`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqMatch<'a> {
    Exact(&'a Binding),
    /// The keys start a longer binding: wait for the next key.
    Prefix,
    None,
}

/// A key reduced to what bindings compare: see [`Keymap::lookup`].
fn normalize(key: &KeyEvent) -> (KeyCode, KeyModifiers) {
    let shift = key.modifiers.contains(KeyModifiers::SHIFT);
    let mods = key.modifiers - KeyModifiers::SHIFT;
    match key.code {
        KeyCode::Char(c) if shift && c.is_lowercase() => (KeyCode::Char(c.to_uppercase().next().unwrap_or(c)), mods),
        KeyCode::Char(c) => (KeyCode::Char(c), mods),
        KeyCode::BackTab => (KeyCode::BackTab, mods),
        KeyCode::Tab if shift => (KeyCode::BackTab, mods),
        code => (code, key.modifiers),
    }
}

/// Parses one key in the notation described in the module docs.
/// A key as the keymap files write it: `g`, `<C-s>`, `<Space>`, `<S-Tab>`.
pub fn notation(key: &KeyEvent) -> String {
    let mut mods = String::new();
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        mods.push_str("C-");
    }
    if key.modifiers.contains(KeyModifiers::ALT) {
        mods.push_str("A-");
    }
    let name = match key.code {
        KeyCode::Char(' ') => "Space".to_string(),
        KeyCode::Char('<') => "lt".to_string(),
        KeyCode::Char('>') => "gt".to_string(),
        KeyCode::Char(c) if mods.is_empty() => return c.to_string(),
        KeyCode::Char(c) => c.to_string(),
        KeyCode::BackTab => return "<S-Tab>".into(),
        KeyCode::F(n) => format!("F{n}"),
        other => format!("{other:?}"),
    };
    format!("<{mods}{name}>")
}

pub fn parse_key(notation: &str) -> Result<KeyEvent, String> {
    let bad = || {
        format!("bad key notation `{notation}`: write one character, or a named key in angle brackets such as <Tab>, <C-s>, <S-Tab>, <F1>")
    };
    let mut chars = notation.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        return Ok(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    let mut inner = notation.strip_prefix('<').and_then(|s| s.strip_suffix('>')).filter(|s| !s.is_empty()).ok_or_else(bad)?;
    let mut mods = KeyModifiers::NONE;
    while inner.len() > 2 && inner.as_bytes()[1] == b'-' {
        mods |= match inner.as_bytes()[0].to_ascii_uppercase() {
            b'C' => KeyModifiers::CONTROL,
            b'A' | b'M' => KeyModifiers::ALT,
            b'S' => KeyModifiers::SHIFT,
            _ => return Err(format!("bad key notation `{notation}`: unknown modifier `{}-` (use C-, A- or S-)", &inner[..1])),
        };
        inner = &inner[2..];
    }
    let mut chars = inner.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        // Terminals report Shift+letter as the capital letter, so store it that way.
        let c = if mods.contains(KeyModifiers::SHIFT) { c.to_uppercase().next().unwrap_or(c) } else { c };
        return Ok(KeyEvent::new(KeyCode::Char(c), mods - KeyModifiers::SHIFT));
    }
    let code = match inner.to_ascii_lowercase().as_str() {
        "tab" if mods.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
        "tab" => KeyCode::Tab,
        "backtab" => {
            mods |= KeyModifiers::SHIFT;
            KeyCode::BackTab
        }
        "enter" | "cr" | "return" => KeyCode::Enter,
        "esc" | "escape" => KeyCode::Esc,
        "space" => KeyCode::Char(' '),
        "backspace" | "bs" => KeyCode::Backspace,
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "pageup" | "pgup" => KeyCode::PageUp,
        "pagedown" | "pgdn" => KeyCode::PageDown,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "delete" | "del" => KeyCode::Delete,
        "insert" | "ins" => KeyCode::Insert,
        "lt" => KeyCode::Char('<'),
        "gt" => KeyCode::Char('>'),
        f if f.starts_with('f') => match f[1..].parse::<u8>() {
            Ok(n @ 1..=12) => KeyCode::F(n),
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    if let KeyCode::Char(_) = code {
        mods -= KeyModifiers::SHIFT;
    }
    Ok(KeyEvent::new(code, mods))
}

const BUNDLED: &[(&str, &str)] = &[
    ("default", include_str!("../../keymaps/default.toml")),
    ("vim", include_str!("../../keymaps/vim.toml")),
    ("emacs", include_str!("../../keymaps/emacs.toml")),
];

pub fn bundled_keymap_names() -> &'static [&'static str] {
    &["default", "vim", "emacs"]
}

/// The embedded text of `keymaps/NAME.toml`, for snippets in problem reports.
pub(crate) fn bundled_source(rel: &str) -> Option<&'static str> {
    let name = rel.strip_prefix("keymaps/")?.strip_suffix(".toml")?;
    BUNDLED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Names of the user's keymaps (`keymaps/*.toml` in `user_dir`), sorted.
pub fn user_keymap_names(user_dir: Option<&Path>) -> Vec<String> {
    toml_stems(user_dir.map(|d| d.join("keymaps")).as_deref())
}

/// The stems of `*.toml` files in `dir`, sorted; nothing when it is missing or unreadable.
pub(crate) fn toml_stems(dir: Option<&Path>) -> Vec<String> {
    let Some(Ok(entries)) = dir.map(std::fs::read_dir) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_string))
        .collect();
    names.sort();
    names
}

/// Loads keymap `name`, always returning a usable keymap. On any problem, every problem found
/// is returned with a fallback: the bundled keymap of that name when there is one, else the
/// bundled default.
pub fn load_keymap(name: &str, user_dir: Option<&Path>) -> (Keymap, Vec<ConfigProblem>) {
    let mut problems = Vec::new();
    let keymap = try_load(name, user_dir, &mut problems).filter(|_| problems.is_empty());
    match keymap {
        Some(k) => (k, problems),
        None => {
            let fallback = if bundled_text(name).is_some() { name } else { "default" };
            let mut ignored = Vec::new();
            let k = try_load(fallback, None, &mut ignored).filter(|_| ignored.is_empty()).unwrap_or_default();
            (k, problems)
        }
    }
}

fn bundled_text(name: &str) -> Option<&'static str> {
    BUNDLED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

fn try_load(name: &str, user_dir: Option<&Path>, problems: &mut Vec<ConfigProblem>) -> Option<Keymap> {
    let user_path: Option<PathBuf> = user_dir.map(|d| d.join("keymaps").join(format!("{name}.toml")));
    let label = || user_path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| format!("keymap `{name}`"));
    if !super::theme::valid_name(name) {
        problems.push(ConfigProblem::file(label(), format!("invalid keymap name `{name}` (use letters, digits, `-`, `_`, `.`)")));
        return None;
    }
    let user = user_path.as_ref().filter(|p| p.is_file());
    let Some(user) = user else {
        let Some(text) = bundled_text(name) else {
            let names = bundled_keymap_names().join(", ");
            problems.push(ConfigProblem::file(label(), format!("unknown keymap `{name}` (bundled keymaps: {names})")));
            return None;
        };
        let src = Source { file: format!("{BUNDLED_PREFIX}keymaps/{name}.toml"), text: text.to_string() };
        let (_, edits) = parse_file(&src, problems)?;
        let mut km = Keymap::default();
        edits.apply(&mut km);
        return Some(km);
    };
    let text = match std::fs::read_to_string(user) {
        Ok(t) => t,
        Err(e) => {
            problems.push(ConfigProblem::file(user.display().to_string(), format!("cannot read: {e}")));
            return None;
        }
    };
    let src = Source { file: user.display().to_string(), text };
    let (inherits, edits) = parse_file(&src, problems)?;
    let base_name = match inherits {
        Some(spanned) => {
            let (span, base) = (spanned.span(), spanned.into_inner());
            if bundled_text(&base).is_none() {
                let names = bundled_keymap_names().join(", ");
                problems.push(src.problem(span, format!("unknown bundled keymap `{base}` (bundled keymaps: {names})")));
                return None;
            }
            base
        }
        None if bundled_text(name).is_some() => name.to_string(),
        None => "default".to_string(),
    };
    let mut km = try_load(&base_name, None, problems)?;
    edits.apply(&mut km);
    Some(km)
}

/// One file's changes per section, applied over a base keymap.
#[derive(Default)]
struct Edits {
    sections: Vec<(KeyContext, SectionEdit)>,
}

#[derive(Default)]
struct SectionEdit {
    keys: Option<Vec<Binding>>,
    prepend: Vec<Binding>,
    append: Vec<Binding>,
}

impl Edits {
    fn apply(self, km: &mut Keymap) {
        for (ctx, edit) in self.sections {
            let base = km.sections.remove(&ctx).unwrap_or_default();
            let middle = edit.keys.unwrap_or(base);
            let merged: Vec<Binding> = edit.prepend.into_iter().chain(middle).chain(edit.append).collect();
            km.sections.insert(ctx, merged);
        }
    }
}

/// Parses a keymap file into its `inherits` and edits; None when it has any problem.
fn parse_file(src: &Source, problems: &mut Vec<ConfigProblem>) -> Option<(Option<Spanned<String>>, Edits)> {
    let root = match DeTable::parse(&src.text) {
        Ok(t) => t,
        Err(e) => {
            problems.push(ConfigProblem::toml(src.file.clone(), &src.text, &e));
            return None;
        }
    };
    let before = problems.len();
    let mut inherits = None;
    let mut edits = Edits::default();
    for (key, value) in root.get_ref() {
        let name = key.get_ref().as_ref();
        if name == "inherits" {
            match value.get_ref() {
                DeValue::String(s) => inherits = Some(Spanned::new(value.span(), s.to_string())),
                other => problems.push(src.problem(value.span(), format!("`inherits` must be a string, not {}", type_name(other)))),
            }
            continue;
        }
        let Some(ctx) = KeyContext::ALL.into_iter().find(|c| c.as_str() == name) else {
            let names: Vec<&str> = KeyContext::ALL.iter().map(|c| c.as_str()).collect();
            problems.push(src.problem(key.span(), format!("unknown section `{name}` (expected inherits or one of: {})", names.join(", "))));
            continue;
        };
        let DeValue::Table(table) = value.get_ref() else {
            problems.push(src.problem(
                value.span(),
                format!("[{name}] must be a table with `keys`, `prepend` or `append`, not {}", type_name(value.get_ref())),
            ));
            continue;
        };
        let mut edit = SectionEdit::default();
        for (field, list) in table {
            let bindings = parse_list(src, name, field.get_ref(), list, problems);
            match field.get_ref().as_ref() {
                "keys" => edit.keys = Some(bindings),
                "prepend" => edit.prepend = bindings,
                "append" => edit.append = bindings,
                other => problems
                    .push(src.problem(field.span(), format!("unknown field `{other}` in [{name}] (expected keys, prepend, append)"))),
            }
        }
        edits.sections.push((ctx, edit));
    }
    (problems.len() == before).then_some((inherits, edits))
}

fn parse_list(src: &Source, section: &str, field: &str, list: &Spanned<DeValue<'_>>, problems: &mut Vec<ConfigProblem>) -> Vec<Binding> {
    let DeValue::Array(items) = list.get_ref() else {
        problems.push(
            src.problem(list.span(), format!("`{field}` must be an array of {{ on, run, desc }}, not {}", type_name(list.get_ref()))),
        );
        return Vec::new();
    };
    // Remembers where each key sequence was first bound, to name it in duplicate errors.
    let mut seen: Vec<(Vec<(KeyCode, KeyModifiers)>, usize)> = Vec::new();
    let mut out = Vec::new();
    for item in items.iter() {
        let Some((binding, on_span)) = parse_binding(src, item, problems) else { continue };
        let norm: Vec<_> = binding.keys.iter().map(normalize).collect();
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == norm) {
            let line = super::line_col(&src.text, *first).0;
            problems
                .push(src.problem(on_span, format!("duplicate key `{}` in [{section}] (already bound on line {line})", binding.notation)));
            continue;
        }
        seen.push((norm, on_span.start));
        out.push(binding);
    }
    out
}

fn parse_binding(
    src: &Source,
    item: &Spanned<DeValue<'_>>,
    problems: &mut Vec<ConfigProblem>,
) -> Option<(Binding, std::ops::Range<usize>)> {
    let DeValue::Table(t) = item.get_ref() else {
        problems
            .push(src.problem(item.span(), format!("a binding must be a table {{ on, run, desc }}, not {}", type_name(item.get_ref()))));
        return None;
    };
    let before = problems.len();
    let (mut keys, mut notation, mut action, mut desc, mut on_span) = (Vec::new(), Vec::new(), None, None, None);
    for (k, v) in t {
        match (k.get_ref().as_ref(), v.get_ref()) {
            ("on", DeValue::String(s)) => {
                on_span = Some(v.span());
                match parse_key(s) {
                    Ok(key) => {
                        keys.push(key);
                        notation.push(s.to_string());
                    }
                    Err(e) => problems.push(src.problem(v.span(), e)),
                }
            }
            ("on", DeValue::Array(seq)) if !seq.is_empty() => {
                on_span = Some(v.span());
                for part in seq.iter() {
                    match part.get_ref().as_str().map(|s| (s, parse_key(s))) {
                        Some((s, Ok(key))) => {
                            keys.push(key);
                            notation.push(s.to_string());
                        }
                        Some((_, Err(e))) => problems.push(src.problem(part.span(), e)),
                        None => problems.push(src.problem(part.span(), "a key in a sequence must be a string")),
                    }
                }
            }
            ("on", _) => problems.push(src.problem(v.span(), "`on` must be a key (\"p\", \"<C-s>\") or a non-empty list of keys")),
            ("run", DeValue::String(s)) => match Action::parse(s) {
                Ok(a) => action = Some(a),
                Err(e) => problems.push(src.problem(v.span(), e)),
            },
            ("desc", DeValue::String(s)) => desc = Some(s.to_string()),
            (f @ ("run" | "desc"), other) => {
                problems.push(src.problem(v.span(), format!("`{f}` must be a string, not {}", type_name(other))))
            }
            (other, _) => problems.push(src.problem(k.span(), format!("unknown field `{other}` in a binding (expected on, run, desc)"))),
        }
    }
    if on_span.is_none() {
        problems.push(src.problem(item.span(), "binding has no `on` key"));
    }
    if action.is_none() && !t.keys().any(|k| k.get_ref() == "run") {
        problems.push(src.problem(item.span(), "binding has no `run` action"));
    }
    if problems.len() > before {
        return None;
    }
    let action = action?;
    let desc =
        desc.unwrap_or_else(|| Action::NAMED.iter().find(|(_, a)| *a == action).map(|(n, _)| n.replace('_', " ")).unwrap_or_default());
    Some((Binding { keys, action, desc, notation: notation.join(" ") }, on_span?))
}
