//! The transcript: messages, one-line tool calls, corrections and notices.
//!
//! Only what is on screen is laid out. Scrolling is an anchor (entry, row within it) rather
//! than a row number, so neither rendering nor scrolling needs the height of the whole
//! session; laid-out entries are cached by id, width and revision.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::RenderCtx;
use crate::tui::search::Search;
use crate::tui::state::{Cell, CellKind, NoticeLevel, ToolCell, ToolStatus, WorkbenchState};
use crate::tui::text::{find_all, hard_wrap, highlight_nth, str_width, truncate, wrap};
use crate::tui::widgets::markdown;

pub const SPINNER: [&str; 8] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧"];

/// One transcript row source: a projected cell, the streaming text, or a correction the
/// supervisor sent that the runtime has not acknowledged yet.
pub enum Entry<'a> {
    Cell(&'a Cell),
    Streaming,
    Pending(&'a str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Anchor {
    pub entry: usize,
    pub row: usize,
}

/// The rows of one entry, one screen row each, in shared parts so that a streaming answer can
/// reuse the rows of its final part without copying them every frame.
#[derive(Clone, Default)]
pub struct Rows {
    parts: Vec<Rc<Vec<Line<'static>>>>,
}

impl Rows {
    fn one(lines: Vec<Line<'static>>) -> Rows {
        Rows { parts: vec![Rc::new(lines)] }
    }

    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &Line<'static>> {
        self.parts.iter().flat_map(|p| p.iter())
    }

    /// The rows from `skip` on, without walking the ones before (a long answer's bottom rows
    /// are the ones a following view shows).
    pub fn starting_at(&self, mut skip: usize) -> impl Iterator<Item = &Line<'static>> {
        let mut parts = self.parts.iter();
        let mut first: &[Line<'static>] = &[];
        for p in parts.by_ref() {
            if skip < p.len() {
                first = p.get(skip..).unwrap_or(&[]);
                break;
            }
            skip -= p.len();
        }
        first.iter().chain(parts.flat_map(|p| p.iter()))
    }
}

struct Cached {
    width: u16,
    revision: u64,
    lines: Rows,
    /// When it was last asked for (`WrapCache::tick`), for eviction.
    used: u64,
}

/// The streaming answer's layout between frames. The text only grows within an attempt, so
/// the rows of its final part (up to the last top-level Markdown block boundary, or complete
/// line of an open code fence, that no later text can change; see `markdown::render_split`)
/// are kept, and each frame lays out only what follows. That keeps a frame's cost independent of how long the answer already is.
#[derive(Default)]
pub struct StreamLayout {
    attempt: u64,
    width: u16,
    /// The final part of the text, kept to check that the text still starts with it.
    committed: String,
    /// Its rows, hard-wrapped to `width`.
    rows: Rc<Vec<Line<'static>>>,
    resume: markdown::Resume,
}

impl StreamLayout {
    fn reset(&mut self, attempt: u64, width: u16) {
        *self = StreamLayout { attempt, width, ..StreamLayout::default() };
    }

    /// Bytes of the streaming text whose rows are kept between frames.
    pub fn committed_len(&self) -> usize {
        self.committed.len()
    }

    /// The rows of the final part and of the rest of `text`, which must be the streaming text
    /// of `attempt`. Starts again whenever the text is not a continuation of what was kept.
    fn layout(&mut self, ctx: &RenderCtx, text: &str, attempt: u64, width: u16) -> (Rc<Vec<Line<'static>>>, Vec<Line<'static>>) {
        if self.attempt != attempt || self.width != width || !text.starts_with(self.committed.as_str()) {
            self.reset(attempt, width);
        }
        let cols = usize::from(width);
        let tail = text.get(self.committed.len()..).unwrap_or("");
        let mut split = markdown::render_split(tail, width, ctx.theme, ctx.hl, self.resume.clone());
        if split.restart {
            self.reset(attempt, width);
            split = markdown::render_split(text, width, ctx.theme, ctx.hl, markdown::Resume::default());
        }
        if split.stable_len > 0 {
            // Unique unless a caller still holds last frame's rows; then this copies once.
            let rows = Rc::make_mut(&mut self.rows);
            rows.extend(split.stable.into_iter().flat_map(|l| hard_wrap(l, cols)));
            let tail = text.get(self.committed.len()..).unwrap_or("");
            self.committed.push_str(tail.get(..split.stable_len).unwrap_or(tail));
            self.resume = split.resume;
        }
        (self.rows.clone(), split.rest.into_iter().flat_map(|l| hard_wrap(l, cols)).collect())
    }
}

/// Entries kept laid out at most. A frame shows at most a screenful of entries and a scroll
/// walks a screenful more, so this is several screens' worth; the rest of a long session is
/// laid out again when scrolled to, rather than kept for its whole length.
const CACHE_ENTRIES: usize = 512;

#[derive(Default)]
pub struct WrapCache {
    map: HashMap<u64, Cached>,
    tick: u64,
    pub hits: u64,
    pub misses: u64,
}

impl WrapCache {
    fn get(&mut self, id: u64, width: u16, revision: u64) -> Option<Rows> {
        self.tick += 1;
        let c = self.map.get_mut(&id).filter(|c| c.width == width && c.revision == revision)?;
        c.used = self.tick;
        Some(c.lines.clone())
    }

    fn insert(&mut self, id: u64, width: u16, revision: u64, lines: Rows) {
        if self.map.len() >= CACHE_ENTRIES && !self.map.contains_key(&id) {
            self.evict_older_half();
        }
        self.map.insert(id, Cached { width, revision, lines, used: self.tick });
    }

    /// Drops the least recently used half: one pass per `CACHE_ENTRIES / 2` insertions.
    fn evict_older_half(&mut self) {
        let mut used: Vec<u64> = self.map.values().map(|c| c.used).collect();
        let mid = used.len() / 2;
        let (_, median, _) = used.select_nth_unstable(mid);
        let median = *median;
        self.map.retain(|_, c| c.used >= median);
    }

    /// Entries laid out and kept.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[derive(Default)]
pub struct TranscriptView {
    /// `None` follows the tail.
    pub anchor: Option<Anchor>,
    /// How many entries existed when the user scrolled away from the tail.
    pub seen: usize,
    pub expanded: HashSet<u64>,
    /// The tool call (or rollover divider) `expand` acts on: the lowest one on screen.
    pub selected: Option<u64>,
    /// The cell the supervisor moved the selection cursor to; `None` follows the newest
    /// tool call or divider on screen.
    pub cursor: Option<u64>,
    /// The entry shown on each row of the last frame, for clicks and keeping the cursor in view.
    pub row_owners: Vec<usize>,
    pub cache: WrapCache,
    pub stream: StreamLayout,
    pub height: u16,
    pub width: u16,
}

/// A correction this workbench sent that the runtime has not acknowledged yet: matched to its
/// `correction_queued` by the command id the event echoes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub command_id: String,
    pub text: String,
}

pub fn entry_count(state: &WorkbenchState, pending: &[Sent]) -> usize {
    state.cells.len() + usize::from(!state.streaming.text.is_empty()) + pending.len()
}

pub fn entry<'a>(state: &'a WorkbenchState, pending: &'a [Sent], i: usize) -> Option<Entry<'a>> {
    let n = state.cells.len();
    if i < n {
        return state.cells.get(i).map(Entry::Cell);
    }
    let streaming = usize::from(!state.streaming.text.is_empty());
    if i < n + streaming {
        return Some(Entry::Streaming);
    }
    pending.get(i - n - streaming).map(|s| Entry::Pending(s.text.as_str()))
}

impl TranscriptView {
    pub fn following(&self) -> bool {
        self.anchor.is_none()
    }

    pub fn new_since_scroll(&self, state: &WorkbenchState, pending: &[Sent]) -> usize {
        if self.following() { 0 } else { entry_count(state, pending).saturating_sub(self.seen) }
    }

    fn key(&self, state: &WorkbenchState, e: &Entry, i: usize) -> (u64, u64) {
        match e {
            Entry::Cell(c) => (c.id, c.revision * 2 + u64::from(self.expanded.contains(&c.id))),
            Entry::Streaming => (u64::MAX - 1, state.streaming.revision ^ (state.streaming.attempt_id << 32)),
            Entry::Pending(_) => (u64::MAX - 2 - i as u64, 0),
        }
    }

    /// The rows of entry `i` at the current width, from the cache when it is still valid.
    pub fn rows(&mut self, ctx: &RenderCtx, pending: &[Sent], i: usize) -> Rows {
        let Some(e) = entry(ctx.state, pending, i) else { return Rows::default() };
        let (id, revision) = self.key(ctx.state, &e, i);
        let width = self.width;
        // Tool lines show a live duration while running, so they are not cached then.
        let live = matches!(&e, Entry::Cell(Cell { kind: CellKind::Tool(t), .. }) if t.status == ToolStatus::Running);
        if !live && let Some(lines) = self.cache.get(id, width, revision) {
            self.cache.hits += 1;
            return lines;
        }
        self.cache.misses += 1;
        let expanded = matches!(&e, Entry::Cell(c) if self.expanded.contains(&c.id));
        let lines = match e {
            Entry::Streaming => {
                // Drop last frame's copy first so the kept rows can grow in place.
                self.cache.map.remove(&id);
                let s = &ctx.state.streaming;
                let (done, rest) = self.stream.layout(ctx, &s.text, s.attempt_id, width);
                let head = streaming_header(ctx).into_iter().flat_map(|l| hard_wrap(l, usize::from(width))).collect();
                Rows { parts: vec![Rc::new(head), done, Rc::new(rest)] }
            }
            _ => Rows::one(layout_entry(ctx, &e, usize::from(width), expanded)),
        };
        if !live {
            self.cache.insert(id, width, revision, lines.clone());
        }
        lines
    }

    fn len(&mut self, ctx: &RenderCtx, pending: &[Sent], i: usize) -> usize {
        self.rows(ctx, pending, i).len()
    }

    /// The anchor of the top row when the view shows the tail.
    fn tail_anchor(&mut self, ctx: &RenderCtx, pending: &[Sent]) -> Anchor {
        let count = entry_count(ctx.state, pending);
        self.back(ctx, pending, Anchor { entry: count, row: 0 }, usize::from(self.height))
    }

    fn back(&mut self, ctx: &RenderCtx, pending: &[Sent], mut a: Anchor, mut n: usize) -> Anchor {
        while n > 0 {
            if a.row > 0 {
                let d = a.row.min(n);
                a.row -= d;
                n -= d;
            } else if a.entry > 0 {
                a.entry -= 1;
                a.row = self.len(ctx, pending, a.entry).max(1) - 1;
                n -= 1;
            } else {
                break;
            }
        }
        a
    }

    pub fn scroll_up(&mut self, ctx: &RenderCtx, pending: &[Sent], n: usize) {
        let from = match self.anchor {
            Some(a) => a,
            None => {
                self.seen = entry_count(ctx.state, pending);
                self.tail_anchor(ctx, pending)
            }
        };
        self.anchor = Some(self.back(ctx, pending, from, n));
    }

    pub fn scroll_down(&mut self, ctx: &RenderCtx, pending: &[Sent], n: usize) {
        let Some(a) = self.anchor else { return };
        let tail = self.tail_anchor(ctx, pending);
        let mut a = a;
        let mut n = n;
        let count = entry_count(ctx.state, pending);
        while n > 0 && a.entry < count {
            let len = self.len(ctx, pending, a.entry);
            if a.row + n < len {
                a.row += n;
                n = 0;
            } else {
                n -= len - a.row;
                a.entry += 1;
                a.row = 0;
            }
        }
        // Reaching the tail resumes following it.
        self.anchor = if (a.entry, a.row) >= (tail.entry, tail.row) { None } else { Some(a) };
    }

    pub fn top(&mut self, ctx: &RenderCtx, pending: &[Sent]) {
        if self.anchor.is_none() {
            self.seen = entry_count(ctx.state, pending);
        }
        self.anchor = Some(Anchor::default());
    }

    pub fn bottom(&mut self) {
        self.anchor = None;
    }

    pub fn jump_to(&mut self, ctx: &RenderCtx, pending: &[Sent], a: Anchor) {
        if self.anchor.is_none() {
            self.seen = entry_count(ctx.state, pending);
        }
        let tail = self.tail_anchor(ctx, pending);
        self.anchor = if (a.entry, a.row) >= (tail.entry, tail.row) { None } else { Some(a) };
    }

    pub fn render(&mut self, f: &mut Frame, area: Rect, ctx: &RenderCtx, pending: &[Sent], search: &Search) {
        self.width = area.width;
        self.height = area.height;
        if area.height == 0 || area.width == 0 {
            return;
        }
        let count = entry_count(ctx.state, pending);
        let start = match self.anchor {
            Some(a) => a,
            None => self.tail_anchor(ctx, pending),
        };
        let mut rows: Vec<Line<'static>> = Vec::with_capacity(usize::from(area.height));
        let mut owners: Vec<usize> = Vec::with_capacity(usize::from(area.height));
        let (mut i, mut skip) = (start.entry, start.row);
        while rows.len() < usize::from(area.height) && i < count {
            let lines = self.rows(ctx, pending, i);
            for l in lines.starting_at(skip).take(usize::from(area.height) - rows.len()) {
                rows.push(l.clone());
                owners.push(i);
            }
            skip = 0;
            i += 1;
        }
        if rows.is_empty() && count == 0 {
            rows.push(Line::styled("Waiting for the session to start…", ctx.theme.style("ui.dim")));
        }
        let auto = owners.iter().rev().find_map(|o| match ctx.state.cells.get(*o) {
            Some(Cell { id, kind: CellKind::Tool(_) | CellKind::Rebuilt(_) | CellKind::Reasoning { .. }, .. }) => Some(*id),
            _ => None,
        });
        self.selected = self.cursor.filter(|id| ctx.state.cells.iter().any(|c| c.id == *id)).or(auto);
        let sel_style = ctx.theme.style("ui.selection");
        let match_style = ctx.theme.style("ui.search.match");
        let current_style = ctx.theme.style("ui.search.current");
        let needle = search.needle(ctx.search_input);
        let current = search.current_hit();
        let mut marked = false;
        // Matches of the first entry above the screen count toward its occurrence numbers.
        let mut nth_in_cell: Option<(usize, usize)> = needle.as_ref().map(|n| {
            let before = self.rows(ctx, pending, start.entry);
            let k = before
                .iter()
                .take(start.row)
                .map(|l| find_all(&l.spans.iter().map(|s| s.content.as_ref()).collect::<String>(), n).len())
                .sum();
            (start.entry, k)
        });
        for (row, owner) in rows.iter_mut().zip(owners.iter()) {
            if let Some(c) = ctx.state.cells.get(*owner)
                && Some(c.id) == self.selected
                && !marked
                && !row.spans.iter().all(|s| s.content.trim().is_empty())
            {
                *row = row.clone().patch_style(sel_style);
                marked = true;
            }
            if let Some(n) = &needle {
                // The current match is drawn apart from the others.
                let seen = match nth_in_cell {
                    Some((cell, k)) if cell == *owner => k,
                    _ => 0,
                };
                let target = current.filter(|h| h.cell == *owner).map(|h| h.nth);
                let (line, count) = highlight_nth(row, n, match_style, target.and_then(|t| t.checked_sub(seen)), current_style);
                *row = line;
                nth_in_cell = Some((*owner, seen + count));
            }
        }
        self.row_owners = owners;
        f.render_widget(Paragraph::new(rows), area);
        let fresh = self.new_since_scroll(ctx.state, pending);
        if fresh > 0 {
            let label = format!(" ↓ {fresh} new ");
            let w = (str_width(&label) as u16).min(area.width);
            let r = Rect { x: area.right().saturating_sub(w), y: area.bottom().saturating_sub(1), width: w, height: 1 };
            f.render_widget(Paragraph::new(Line::styled(label, ctx.theme.style("transcript.new_marker"))), r);
        }
    }
}

fn styled_wrap(text: &str, width: usize, indent: &str, style: ratatui::style::Style) -> Vec<Line<'static>> {
    let w = width.saturating_sub(str_width(indent)).max(1);
    wrap(text, w).into_iter().map(|l| Line::from(vec![Span::raw(indent.to_string()), Span::styled(l, style)])).collect()
}

fn streaming_header(ctx: &RenderCtx) -> [Line<'static>; 2] {
    let spinner = SPINNER[ctx.spinner % SPINNER.len()];
    [Line::default(), Line::styled(format!("● assistant {spinner} "), ctx.theme.style("transcript.assistant.header"))]
}

fn layout_entry(ctx: &RenderCtx, e: &Entry, width: usize, expanded: bool) -> Vec<Line<'static>> {
    let th = ctx.theme;
    let mut out = Vec::new();
    match e {
        Entry::Streaming => {
            // Normally laid out in parts by `StreamLayout`; this is the whole of it at once.
            out.extend(streaming_header(ctx));
            out.extend(markdown::render(&ctx.state.streaming.text, width as u16, th, ctx.hl));
        }
        Entry::Pending(text) => {
            out.push(Line::styled("✎ correction · sending…", th.style("transcript.correction.pending")));
            out.extend(styled_wrap(text, width, "  ", th.style("transcript.correction")));
        }
        Entry::Cell(c) => match &c.kind {
            CellKind::User(text) => {
                out.push(Line::default());
                out.push(Line::styled("▌ user", th.style("transcript.user.header")));
                out.extend(styled_wrap(text, width, "  ", th.style("transcript.user")));
            }
            CellKind::Assistant { step, text } => {
                out.push(Line::default());
                out.push(Line::styled(format!("● assistant · step {step}"), th.style("transcript.assistant.header")));
                out.extend(markdown::render(text, width as u16, th, ctx.hl));
            }
            CellKind::Tool(t) => {
                out.push(tool_line(ctx, t, width, expanded));
                if expanded {
                    let dim = th.style("ui.dim");
                    out.push(Line::styled("  arguments:", dim));
                    let args = serde_json::to_string_pretty(&t.args_value()).unwrap_or_else(|_| t.args.clone());
                    out.extend(styled_wrap(&args, width, "    ", th.style("transcript.tool.args")));
                    let exit = t.exit_code.map(|c| format!(" (exit {c})")).unwrap_or_default();
                    out.push(Line::styled(format!("  output{exit}:"), dim));
                    let output = if t.output.is_empty() { "(none yet)" } else { &t.output };
                    out.extend(styled_wrap(output, width, "    ", th.style("transcript.tool.output")));
                }
            }
            CellKind::Correction { text, delivered_at, withdrawn, .. } => {
                let head = match delivered_at {
                    Some(s) => format!("✎ correction · delivered at step {s}"),
                    None if *withdrawn => "✎ correction · withdrawn before delivery".to_string(),
                    None => "✎ correction · queued".to_string(),
                };
                let scope = if delivered_at.is_some() { "transcript.correction.delivered" } else { "transcript.correction.queued" };
                out.push(Line::styled(head, th.style(scope)));
                out.extend(styled_wrap(text, width, "  ", th.style("transcript.correction")));
            }
            CellKind::Reasoning { step, text, redacted } => {
                let marker = if expanded { "▾ " } else { "▸ " };
                let mut head = format!("{marker}✻ reasoning · step {step} · {} chars", text.chars().count());
                if *redacted > 0 {
                    head.push_str(&format!(" · {redacted} block{} encrypted by the provider", if *redacted == 1 { "" } else { "s" }));
                }
                out.push(Line::styled(head, th.style("ui.dim")));
                if expanded {
                    out.extend(styled_wrap(text, width, "  ", th.style("ui.dim")));
                }
            }
            CellKind::Refusal { step, text } => {
                out.push(Line::default());
                out.push(Line::styled(format!("⊘ refusal · step {step}"), th.style("transcript.notice.error")));
                let text = if text.trim().is_empty() { "(the model refused without giving a reason)" } else { text.as_str() };
                out.extend(styled_wrap(text, width, "  ", th.style("transcript.user")));
            }
            CellKind::Rebuilt(r) => out.extend(super::rebuilt::divider_lines(ctx, r, width, expanded)),
            CellKind::Notice { level, text } => {
                let (icon, scope) = match level {
                    NoticeLevel::Info => ("ℹ", "transcript.notice.info"),
                    NoticeLevel::Warning => ("⚠", "transcript.notice.warning"),
                    NoticeLevel::Error => ("✗", "transcript.notice.error"),
                };
                out.extend(styled_wrap(&format!("{icon} {text}"), width, "", th.style(scope)));
            }
        },
    }
    out.into_iter().flat_map(|l| hard_wrap(l, width)).collect()
}

fn tool_line(ctx: &RenderCtx, t: &ToolCell, width: usize, expanded: bool) -> Line<'static> {
    let th = ctx.theme;
    let (icon, scope) = match t.status {
        ToolStatus::Running => (SPINNER[ctx.spinner % SPINNER.len()], "transcript.tool.running"),
        ToolStatus::Ok => ("✓", "transcript.tool.ok"),
        ToolStatus::Failed => ("✗", "transcript.tool.error"),
    };
    let duration = match t.duration_ms {
        Some(ms) => crate::tui::state::fmt_ms(ms),
        None => {
            let ms = (ctx.now - t.started).num_milliseconds().max(0) as u64;
            crate::tui::state::fmt_ms(ms)
        }
    };
    let mut right = vec![Span::styled(format!(" {duration}"), th.style("ui.dim"))];
    if let Some(tc) = t.tests {
        right.push(Span::styled(format!(" {}✓", tc.passed), th.style("transcript.tool.ok")));
        let fail_scope = if tc.failed > 0 { "transcript.tool.error" } else { "ui.dim" };
        right.push(Span::styled(format!(" {}✗", tc.failed), th.style(fail_scope)));
        if tc.skipped > 0 {
            right.push(Span::styled(format!(" {}⊘", tc.skipped), th.style("ui.dim")));
        }
    }
    let right_w: usize = right.iter().map(|s| s.width()).sum();
    let marker = if expanded { "▾ " } else { "▸ " };
    let head = format!("{marker}{icon} {} ", t.name);
    let target_w = width.saturating_sub(str_width(&head) + right_w);
    let target = truncate(&t.target(), target_w);
    let pad = target_w.saturating_sub(str_width(&target));
    let mut spans = vec![
        Span::styled(marker.to_string(), th.style("ui.dim")),
        Span::styled(icon.to_string(), th.style(scope)),
        Span::styled(format!(" {} ", t.name), th.style("transcript.tool.name")),
        Span::styled(target, th.style("transcript.tool.target")),
        Span::raw(" ".repeat(pad)),
    ];
    spans.extend(right);
    Line::from(spans)
}

#[cfg(test)]
#[path = "transcript_tests.rs"]
mod tests;
