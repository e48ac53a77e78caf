//! Memory: the workspace's MEMORY.md rendered as Markdown, a proposal waiting for the
//! supervisor above it, and the conflict view shown when the file changes under the editor.
//!
//! The file is read from disk (it is not in the event log), in replay too; the app reloads it
//! when the watcher in `tui::mod` reports a change.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use ratatui_textarea::TextArea;

use super::{empty_state, RenderCtx};
use crate::config::keymap::{Action, KeyContext};
use crate::protocol::Command;
use crate::tui::app::Overlay;
use crate::tui::pager::Pager;
use crate::tui::panel::{Effect, Effects, Offer, PanelId, Placement, READ_ONLY, scroll_delta, scroll_offers};
use crate::config::theme::Theme;
use crate::tui::state::MemoryProposal;
use crate::tui::text::{hard_wrap, wrap};
use crate::tui::widgets::{diffview, highlight::Highlighter, markdown};

pub const MEMORY_FILE: &str = "MEMORY.md";

/// Key notations the panel names in its texts, looked up in the active keymap.
pub struct MemoryKeys {
    pub edit: String,
    pub accept: String,
    pub reject: String,
}

/// Rendered Markdown, keyed by (file revision, width).
type MarkdownCache = Option<((u64, u16), Rc<Vec<Line<'static>>>)>;

#[derive(Default)]
pub struct MemoryView {
    /// `<workspace>/MEMORY.md`, once a `SessionStarted` said where the workspace is.
    pub path: Option<PathBuf>,
    /// The file as last read; `None` while it does not exist.
    pub disk: Option<String>,
    /// Why the last read failed, when the file exists but cannot be read.
    pub error: Option<String>,
    /// Proposals answered here, hidden until their `memory_resolved` arrives.
    pub answered: std::collections::HashSet<u64>,
    pub pager: Pager,
    revision: u64,
    cache: MarkdownCache,
}

impl MemoryView {
    /// Points the panel at `path` and reads it; false when it already was.
    pub fn set_path(&mut self, path: PathBuf) -> bool {
        if self.path.as_deref() == Some(path.as_path()) {
            return false;
        }
        self.path = Some(path);
        self.pager.reset();
        self.reload();
        true
    }

    /// The file as it is on disk now: `Ok(None)` when it does not exist.
    pub fn read_now(&self) -> std::io::Result<Option<String>> {
        let Some(p) = &self.path else { return Ok(None) };
        match std::fs::read(p) {
            // Lossy: a stray invalid byte should not hide the rest of the file.
            Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn reload(&mut self) {
        match self.read_now() {
            Ok(text) => {
                self.disk = text;
                self.error = None;
            }
            Err(e) => self.error = Some(e.to_string()),
        }
        self.revision += 1;
    }

    /// Records a successful save without waiting for the watcher to echo it.
    pub fn saved(&mut self, text: String) {
        self.disk = Some(text);
        self.error = None;
        self.revision += 1;
    }

    fn markdown(&mut self, width: u16, th: &Theme, hl: &Highlighter) -> Rc<Vec<Line<'static>>> {
        let key = (self.revision, width);
        if let Some((k, lines)) = &self.cache
            && *k == key
        {
            return lines.clone();
        }
        let lines = Rc::new(markdown::render(self.disk.as_deref().unwrap_or(""), width, th, hl));
        self.cache = Some((key, lines.clone()));
        lines
    }

    pub fn render(&mut self, f: &mut Frame, area: Rect, ctx: &RenderCtx, proposal: Option<&MemoryProposal>, keys: &MemoryKeys) {
        let th = ctx.theme;
        let Some(path) = self.path.clone() else {
            empty_state(f, area, ctx, "Project memory (MEMORY.md) appears here once the session says where its workspace is.");
            return;
        };
        let w = usize::from(area.width);
        let mut lines: Vec<Line<'static>> = Vec::new();
        if let Some(p) = proposal {
            lines.extend(proposal_lines(p, keys, th, ctx.hl, w));
            lines.push(Line::default());
            lines.push(Line::styled(format!("{MEMORY_FILE} now:"), th.style("ui.dim")));
        }
        if let Some(e) = &self.error {
            lines.push(Line::styled(format!("cannot read {}: {e}", path.display()), th.style("transcript.notice.error")));
        } else if self.disk.as_deref().is_none_or(|t| t.trim().is_empty()) {
            if proposal.is_none() {
                let what = if self.disk.is_none() { "No MEMORY.md in the workspace yet" } else { "MEMORY.md is empty" };
                empty_state(f, area, ctx, &format!("{what}. Press {} to write what every session here should know.", keys.edit));
                return;
            }
            lines.push(Line::styled("(no MEMORY.md yet)", th.style("ui.dim")));
        } else {
            lines.extend(self.markdown(area.width, th, ctx.hl).iter().cloned());
        }
        f.render_widget(Paragraph::new(self.pager.visible(&lines, area.height)), area);
    }
}

/// The proposal's banner and its diff against the file as it was when proposed.
fn proposal_lines(p: &MemoryProposal, keys: &MemoryKeys, th: &Theme, hl: &Highlighter, width: usize) -> Vec<Line<'static>> {
    let head = format!("Proposed MEMORY.md #{} from {} — {} accept · {} reject", p.id, p.source, keys.accept, keys.reject);
    let mut out: Vec<Line> = wrap(&head, width).into_iter().map(|l| Line::styled(l, th.style("ui.proposal"))).collect();
    for l in diffview::unified(&p.diff, MEMORY_FILE, th, hl) {
        out.extend(hard_wrap(l, width));
    }
    out
}

/// A unified diff from the file on disk to the editor's buffer.
pub fn conflict_diff(theirs: &str, mine: &str) -> String {
    similar::TextDiff::from_lines(theirs, mine).unified_diff().context_radius(3).header("MEMORY.md (on disk)", "MEMORY.md (your edits)").to_string()
}

pub fn conflict_lines(theirs: &str, mine: &str, th: &Theme, hl: &Highlighter, width: usize) -> Vec<Line<'static>> {
    let diff = conflict_diff(theirs, mine);
    diffview::unified(&diff, MEMORY_FILE, th, hl).into_iter().flat_map(|l| hard_wrap(l, width)).collect()
}

/// An editor over `text`, split so that joining its lines with `\n` gives `text` back exactly
/// (a trailing newline is an empty last line), which is what edit detection compares.
pub fn textarea(text: &str) -> TextArea<'static> {
    let mut ta = TextArea::new(text.split('\n').map(str::to_string).collect());
    ta.set_cursor_line_style(ratatui::style::Style::default());
    ta
}

pub fn buffer_text(ta: &TextArea) -> String {
    ta.lines().join("\n")
}

/// `<workspace>/MEMORY.md`.
pub fn memory_path(workspace: &str) -> PathBuf {
    Path::new(workspace).join(MEMORY_FILE)
}

impl MemoryView {
    /// The first proposal waiting for an answer this panel has not given yet.
    pub fn proposal<'a>(&self, state: &'a crate::tui::state::WorkbenchState) -> Option<&'a MemoryProposal> {
        let id = state.core.memory_pending.iter().find(|id| !self.answered.contains(id))?;
        state.memory_proposals.iter().find(|p| p.id == *id)
    }
}

impl crate::tui::panel::Panel for MemoryView {
    fn id(&self) -> PanelId {
        PanelId::Memory
    }
    fn title(&self) -> &'static str {
        "Memory"
    }
    fn layer(&self) -> KeyContext {
        KeyContext::Memory
    }
    fn placement(&self) -> Placement {
        Placement::Prose
    }
    fn offers(&self, cx: &RenderCtx) -> Vec<Offer> {
        let waiting = self.proposal(cx.state).is_some();
        let answer = |a| {
            let why = if !cx.live {
                Some(READ_ONLY.to_string())
            } else if !cx.state.run.is_active() {
                Some(format!("the session is {}: nobody applies the proposal now", cx.state.run.label()))
            } else if !waiting {
                Some("no proposed MEMORY.md is waiting".to_string())
            } else {
                None
            };
            Offer { action: a, urgent: why.is_none(), disabled: why }
        };
        let edit = if !cx.live {
            Offer::when(Action::MemoryEdit, false, READ_ONLY)
        } else {
            Offer::when(Action::MemoryEdit, self.path.is_some(), "no workspace yet: MEMORY.md is known once the session starts")
        };
        let mut v = vec![answer(Action::MemoryAccept), answer(Action::MemoryReject), edit];
        v.extend(scroll_offers());
        v
    }
    fn act(&mut self, a: Action, cx: &RenderCtx, fx: &mut Effects) {
        match a {
            Action::MemoryAccept | Action::MemoryReject => {
                let Some(id) = self.proposal(cx.state).map(|p| p.id) else { return };
                let accept = a == Action::MemoryAccept;
                self.answered.insert(id);
                fx.send(Command::ResolveMemory { id, accept });
                fx.notice(format!("{} proposal #{id}", if accept { "accepted" } else { "rejected" }));
            }
            Action::MemoryEdit => {
                let Some(path) = self.path.clone() else { return };
                self.reload();
                if let Some(e) = &self.error {
                    fx.error(format!("cannot read MEMORY.md: {e}"));
                    return;
                }
                let text = self.disk.clone().unwrap_or_default();
                let mut editor = textarea(&text);
                editor.set_placeholder_text("What every session in this workspace should know…");
                fx.push(Effect::Overlay(Overlay::MemoryEditor(MemoryEdit { path, base: text, editor: Box::new(editor) })));
            }
            _ => {
                if let Some(d) = scroll_delta(a, self.pager.page()) {
                    self.scroll(d, cx);
                }
            }
        }
    }
    fn scroll(&mut self, delta: isize, _cx: &RenderCtx) {
        self.pager.by(delta);
    }
    fn render(&mut self, f: &mut Frame, area: Rect, cx: &RenderCtx) {
        let keys = MemoryKeys {
            edit: cx.key(KeyContext::Memory, Action::MemoryEdit),
            accept: cx.key(KeyContext::Memory, Action::MemoryAccept),
            reject: cx.key(KeyContext::Memory, Action::MemoryReject),
        };
        let proposal = self.proposal(cx.state).cloned();
        MemoryView::render(self, f, area, cx, proposal.as_ref(), &keys)
    }
    fn session_known(&mut self, cx: &RenderCtx) {
        if let Some(info) = cx.state.session() {
            self.set_path(memory_path(&info.workspace));
        }
    }
    fn watched_file(&self) -> Option<&Path> {
        self.path.as_deref()
    }
    fn file_changed(&mut self) {
        self.reload();
    }
    crate::panel_any!();
}

/// MEMORY.md open in the editor: where it is and what the buffer was loaded from (the
/// yardstick for "has unsaved edits" and "changed under the editor").
pub struct MemoryEdit {
    pub path: PathBuf,
    pub base: String,
    pub editor: Box<TextArea<'static>>,
}

impl std::fmt::Debug for MemoryEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryEdit").field("path", &self.path).field("base", &self.base).finish_non_exhaustive()
    }
}

impl MemoryEdit {
    /// The file as it is on disk now: `Ok(None)` when it does not exist.
    pub fn read_now(&self) -> std::io::Result<Option<String>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}
