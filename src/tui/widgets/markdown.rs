//! Markdown to styled lines: headings, lists with hanging indents, emphasis, inline code, block
//! quotes, links, rules, simple tables, and fenced code highlighted by language.
use std::borrow::Cow;
use std::rc::Rc;

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;

use super::highlight::{CodeState, Highlighter};
use crate::config::theme::Theme;
use crate::tui::text::{LineBuf, hard_wrap_styled, str_width, wrap_styled};

/// Renders Markdown to lines wrapped at `width` columns; code fences are highlighted by
/// language. Text that ends inside a fence (streaming) renders the fence so far as code.
/// A `width` of 0 means "do not wrap".
pub fn render(text: &str, width: u16, theme: &Theme, hl: &Highlighter) -> Vec<Line<'static>> {
    let mut r = Renderer::new(columns(width), theme, hl, &Resume::default());
    for event in Parser::new_ext(text, OPTIONS) {
        r.event(event);
    }
    r.finish()
}

const OPTIONS: Options = Options::ENABLE_TABLES.union(Options::ENABLE_STRIKETHROUGH).union(Options::ENABLE_TASKLISTS);

fn columns(width: u16) -> usize {
    if width == 0 { UNBOUNDED } else { width as usize }
}

/// The width that stands for "do not wrap".
const UNBOUNDED: usize = usize::MAX / 4;
/// How long a rule is drawn when nothing bounds the width (it must not fill `UNBOUNDED`).
const UNBOUNDED_RULE: usize = 40;

/// What a rendering of earlier text leaves behind that matters to the text after a cut made
/// by `render_split`: whether anything was drawn, whether a blank line is owed before the next
/// block, and, for a cut inside a fenced code block, that block. At a top-level block boundary
/// the renderer holds nothing else.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    /// Set when earlier text was rendered separately (this is a continuation).
    continues: bool,
    has_output: bool,
    blank_pending: bool,
    fence: Option<Rc<Fence>>,
}

/// A top-level fenced code block cut after one of its lines.
#[derive(Debug)]
struct Fence {
    /// Its opening line, newline included: the rest of the block is parsed after it again, as
    /// the block's content depends only on it (indentation, fence characters, language).
    opener: String,
    /// The highlighter's state after the lines already drawn.
    code: CodeState,
}

/// The rendering of Markdown that may still grow at its end (a streaming answer), cut at the
/// last point that no appended text can change.
#[derive(Debug, Default)]
pub struct Split {
    /// How many bytes of the text are final (0 when none are): up to the start of the line
    /// where the last top-level block began, or to the end of the last complete line of an
    /// open top-level code fence.
    pub stable_len: usize,
    /// The lines of `text[..stable_len]`.
    pub stable: Vec<Line<'static>>,
    /// What to pass to the next `render_split` of `text[stable_len..]` and what follows it.
    pub resume: Resume,
    /// The lines of `text[stable_len..]` as it stands now.
    pub rest: Vec<Line<'static>>,
    /// The earlier text's lines are no longer final: this text may hold a link reference
    /// definition, which can apply to them. Nothing was rendered; render the whole text again
    /// from `Resume::default()`.
    pub restart: bool,
}

/// Renders `text` as the continuation of earlier text that ended in state `from`, and says
/// how much of it is final. `stable` followed by `rest` is exactly what `render` gives for
/// the same text after the same earlier text, and rendering `text[stable_len..]` (and anything
/// appended to it) from `resume` gives the lines that would follow `stable` in a rendering of
/// the whole. That lets a caller keep the final lines and lay out only the tail again.
///
/// A boundary is final when a new top-level block has started on a complete line: block
/// structure is decided line by line, so the blocks before it are closed whatever comes next,
/// and at the top level the renderer holds no state but `Resume`. Inside an open top-level
/// fence every complete line is final too: it is content (or it would have closed the fence),
/// code is drawn line by line, and syntect highlights forward only, its state carried over.
/// Link reference definitions are the exception (one can turn `[x]` anywhere into a link), so
/// text that might hold one, which always contains `]:`, is never split, and a continuation
/// that might hold one asks for a `restart`.
pub fn render_split(text: &str, width: u16, theme: &Theme, hl: &Highlighter, from: Resume) -> Split {
    let splittable = !text.contains("]:");
    if from.continues && !splittable {
        return Split { restart: true, ..Split::default() };
    }
    // Offsets below are in `source`; the caller's text starts at `base`.
    let (source, base) = match &from.fence {
        Some(f) => (Cow::Owned(format!("{}{text}", f.opener)), f.opener.len()),
        None => (Cow::Borrowed(text), 0),
    };
    let mut r = Renderer::new(columns(width), theme, hl, &from);
    // (offset, lines emitted, state) at the last final top-level boundary.
    let mut cut: Option<(usize, usize, Resume)> = None;
    // The open top-level fence: its opening line, and the end of its last complete line as
    // (offset, bytes of code).
    let mut fence: Option<(String, Option<(usize, usize)>)> = None;
    let mut depth = 0usize;
    for (event, range) in Parser::new_ext(&source, OPTIONS).into_offset_iter() {
        let opens_block = matches!(event, Event::Start(_) | Event::Rule);
        if depth == 0 && opens_block && r.at_top_level() {
            let line_start = source.get(..range.start).and_then(|t| t.rfind('\n')).map_or(0, |i| i + 1);
            let indent_only = source.get(line_start..range.start).is_some_and(|t| t.trim().is_empty());
            // The line must be complete: until its newline arrives, what it starts can change.
            let line = source.get(line_start..).and_then(|t| t.find('\n').and_then(|i| t.get(..=i)));
            if splittable && line_start > base && indent_only && line.is_some() {
                cut = Some((line_start, r.out.len(), r.resume()));
            }
            if let Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(_))) = &event {
                fence = line.filter(|_| indent_only).map(|l| (l.to_string(), None));
            }
        }
        // Where the last complete code line in this event ends, as (offset, bytes of code).
        let code_line = match &event {
            Event::Text(t) if depth == 1 && fence.is_some() => {
                let before = r.code.as_ref().map_or(0, |(_, c)| c.len());
                if source.get(range.clone()) == Some(t.as_ref()) {
                    // Verbatim (consecutive lines come as one event): cut at its last newline.
                    t.rfind('\n').map(|k| (range.start + k + 1, before + k + 1))
                } else if t.ends_with('\n') && source.as_bytes().get(range.end.wrapping_sub(1)) == Some(&b'\n') {
                    Some((range.end, before + t.len()))
                } else {
                    None
                }
            }
            _ => None,
        };
        let closes_code = matches!(event, Event::End(TagEnd::CodeBlock));
        if closes_code && depth == 1 && fence.is_some() && range.end >= source.len() {
            // The parser closes a fence at the end of the input. Keep it open: `finish` draws
            // it the same way, and more text may be more of it. (A complete content line is
            // final even when the last line turns out to close the fence.)
            continue;
        }
        match event {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
        r.event(event);
        if closes_code {
            fence = None;
        } else if let (Some(at), Some((_, last))) = (code_line, fence.as_mut()) {
            *last = Some(at);
        }
    }
    if let Some((opener, Some((end, done)))) = fence
        && splittable
        && end > base
        && let Some((lang, code)) = r.code.take()
        && let (Some(complete), Some(partial)) = (code.get(..done), code.get(done..))
    {
        // Draw the complete lines now and leave the last, partial one to the tail.
        let (lines, state) = hl.highlight_from(complete, &lang, r.code_from.take());
        r.emit_code(lines);
        let n = r.out.len();
        let resume = Resume {
            continues: true,
            has_output: r.had_output || n > 0,
            blank_pending: false,
            fence: Some(Rc::new(Fence { opener, code: state.clone() })),
        };
        r.code = Some((lang, partial.to_string()));
        r.code_from = Some(state);
        let mut rest = r.finish();
        let stable: Vec<Line<'static>> = rest.drain(..n.min(rest.len())).collect();
        return Split { stable_len: end - base, stable, resume, rest, restart: false };
    }
    let mut rest = r.finish();
    match cut {
        Some((at, n, resume)) => {
            let stable: Vec<Line<'static>> = rest.drain(..n.min(rest.len())).collect();
            Split { stable_len: at - base, stable, resume, rest, restart: false }
        }
        // Nothing final yet: the next call starts from the same place.
        None => Split { stable_len: 0, stable: Vec::new(), resume: from, rest, restart: false },
    }
}

enum Container {
    Quote,
    Item { marker: String, emitted: bool },
}

struct Table {
    rows: Vec<Vec<Vec<(String, Style)>>>,
    header_rows: usize,
}

struct Renderer<'a> {
    width: usize,
    theme: &'a Theme,
    hl: &'a Highlighter,
    out: Vec<Line<'static>>,
    inline: Vec<(String, Style)>,
    styles: Vec<Style>,
    containers: Vec<Container>,
    /// Next number of each open list; None for bullet lists.
    lists: Vec<Option<u64>>,
    code: Option<(String, String)>,
    /// Where each open link's text starts in `inline`, and its destination.
    links: Vec<(usize, String)>,
    table: Option<Table>,
    blank_pending: bool,
    /// Whether earlier text, rendered separately, drew anything (see `Resume`).
    had_output: bool,
    /// Where highlighting of the first code block starts when it continues a cut one.
    code_from: Option<CodeState>,
}

impl<'a> Renderer<'a> {
    fn new(width: usize, theme: &'a Theme, hl: &'a Highlighter, from: &Resume) -> Self {
        Renderer {
            width,
            theme,
            hl,
            out: Vec::new(),
            inline: Vec::new(),
            styles: vec![Style::default()],
            containers: Vec::new(),
            lists: Vec::new(),
            code: None,
            links: Vec::new(),
            table: None,
            blank_pending: from.blank_pending,
            had_output: from.has_output,
            code_from: from.fence.as_ref().map(|f| f.code.clone()),
        }
    }

    fn resume(&self) -> Resume {
        Resume { continues: true, has_output: self.had_output || !self.out.is_empty(), blank_pending: self.blank_pending, fence: None }
    }

    /// Between top-level blocks with nothing held back: the only state left is `Resume`.
    fn at_top_level(&self) -> bool {
        self.inline.is_empty()
            && self.containers.is_empty()
            && self.lists.is_empty()
            && self.code.is_none()
            && self.links.is_empty()
            && self.table.is_none()
            && self.styles.len() == 1
    }

    fn style(&self) -> Style {
        self.styles.last().copied().unwrap_or_default()
    }

    fn push_style(&mut self, scope_style: Style) {
        let s = self.style().patch(scope_style);
        self.styles.push(s);
    }

    fn pop_style(&mut self) {
        if self.styles.len() > 1 {
            self.styles.pop();
        }
    }

    fn text(&mut self, t: &str, style: Style) {
        if let Some(cell) = self.table.as_mut().and_then(|t| t.rows.last_mut()).and_then(|r| r.last_mut()) {
            cell.push((t.to_string(), style));
            return;
        }
        self.inline.push((t.to_string(), style));
    }

    /// The prefixes for the first and later lines of the next block, marking list markers as
    /// used so an item's marker appears once.
    fn prefixes(&mut self) -> (LineBuf, LineBuf) {
        let quote = self.theme.style("markdown.quote");
        let list = self.theme.style("markdown.list");
        let (mut first, mut rest) = (LineBuf::default(), LineBuf::default());
        for c in &mut self.containers {
            match c {
                Container::Quote => {
                    first.push("│ ", quote);
                    rest.push("│ ", quote);
                }
                Container::Item { marker, emitted } => {
                    let pad = " ".repeat(str_width(marker));
                    if *emitted {
                        first.push(&pad, Style::default());
                    } else {
                        first.push(marker, list);
                        *emitted = true;
                    }
                    rest.push(&pad, Style::default());
                }
            }
        }
        (first, rest)
    }

    /// Emits body lines under the current prefixes. When the prefixes leave no room, they are
    /// dropped rather than overflow the width.
    fn emit(&mut self, lines: Vec<LineBuf>, first: LineBuf, rest: LineBuf) {
        for (i, body) in lines.into_iter().enumerate() {
            let prefix = if i == 0 { first.clone() } else { rest.clone() };
            let mut line = if prefix.width + body.width <= self.width { prefix } else { LineBuf::default() };
            for (t, s) in body.spans {
                line.push(&t, s);
            }
            self.out.push(Line::from(line.into_spans()));
        }
    }

    fn avail(&self, prefix: &LineBuf) -> usize {
        self.width.saturating_sub(prefix.width).max(1)
    }

    fn start_block(&mut self) {
        self.flush();
        if self.blank_pending && (self.had_output || !self.out.is_empty()) {
            let (_, rest) = self.prefixes_peek();
            let mut blank = LineBuf::default();
            for (t, s) in rest.spans {
                blank.push(t.trim_end(), s);
            }
            self.out.push(Line::from(blank.into_spans()));
        }
        self.blank_pending = false;
    }

    /// Like `prefixes` without using up list markers.
    fn prefixes_peek(&self) -> (LineBuf, LineBuf) {
        let mut rest = LineBuf::default();
        for c in &self.containers {
            match c {
                Container::Quote => rest.push("│ ", self.theme.style("markdown.quote")),
                Container::Item { marker, .. } => rest.push(&" ".repeat(str_width(marker)), Style::default()),
            }
        }
        (rest.clone(), rest)
    }

    /// Wraps and emits the pending inline text as one block.
    fn flush(&mut self) {
        if self.inline.is_empty() {
            return;
        }
        let segs = std::mem::take(&mut self.inline);
        let (first, rest) = self.prefixes();
        let lines = wrap_styled(&segs, self.avail(&rest));
        self.emit(lines, first, rest);
    }

    fn end_block(&mut self) {
        self.flush();
        self.blank_pending = true;
    }

    fn event(&mut self, event: Event<'_>) {
        if let Some((_, buf)) = self.code.as_mut() {
            match event {
                Event::Text(t) => buf.push_str(&t),
                Event::End(TagEnd::CodeBlock) => self.end_code(),
                _ => {}
            }
            return;
        }
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => self.text(&t, self.style()),
            Event::Code(t) => {
                let s = self.style().patch(self.theme.style("markdown.code"));
                self.text(&t, s);
            }
            Event::InlineMath(t) | Event::DisplayMath(t) => {
                let s = self.style().patch(self.theme.style("markdown.code"));
                self.text(&t, s);
            }
            Event::Html(t) | Event::InlineHtml(t) => {
                let s = self.theme.style("ui.dim");
                self.text(t.trim_end_matches('\n'), s);
            }
            Event::FootnoteReference(t) => self.text(&format!("[^{t}]"), self.style()),
            Event::SoftBreak => self.text(" ", self.style()),
            Event::HardBreak => self.text("\n", self.style()),
            Event::Rule => {
                self.start_block();
                let (first, rest) = self.prefixes();
                let n = if self.width == UNBOUNDED { UNBOUNDED_RULE } else { self.avail(&rest).min(self.width) };
                let mut body = LineBuf::default();
                body.push(&"─".repeat(n), self.theme.style("ui.dim"));
                self.emit(vec![body], first, rest);
                self.blank_pending = true;
            }
            Event::TaskListMarker(done) => self.text(if done { "[x] " } else { "[ ] " }, self.theme.style("markdown.list")),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => self.start_block(),
            Tag::Heading { level, .. } => {
                self.start_block();
                self.push_style(self.theme.style("markdown.heading"));
                let n = match level {
                    HeadingLevel::H1 => 1,
                    HeadingLevel::H2 => 2,
                    HeadingLevel::H3 => 3,
                    HeadingLevel::H4 => 4,
                    HeadingLevel::H5 => 5,
                    HeadingLevel::H6 => 6,
                };
                self.text(&format!("{} ", "#".repeat(n)), self.style());
            }
            Tag::BlockQuote(_) => {
                self.start_block();
                self.containers.push(Container::Quote);
                self.push_style(self.theme.style("markdown.quote"));
            }
            Tag::CodeBlock(kind) => {
                self.start_block();
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => info.split([',', ' ', '\t', '{']).next().unwrap_or("").to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                self.code = Some((lang, String::new()));
            }
            Tag::List(start) => {
                // A list directly inside an item continues that item: no blank line.
                if self.lists.is_empty() {
                    self.start_block();
                } else {
                    self.flush();
                }
                self.lists.push(start);
            }
            Tag::Item => {
                self.flush();
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ => "• ".to_string(),
                };
                self.containers.push(Container::Item { marker, emitted: false });
            }
            Tag::Emphasis => self.push_style(self.theme.style("markdown.emphasis")),
            Tag::Strong => self.push_style(self.theme.style("markdown.strong")),
            Tag::Strikethrough => self.push_style(Style::default().add_modifier(Modifier::CROSSED_OUT)),
            Tag::Link { dest_url, .. } => {
                self.links.push((self.inline.len(), dest_url.to_string()));
                self.push_style(self.theme.style("markdown.link"));
            }
            Tag::Image { dest_url, .. } => {
                self.links.push((self.inline.len(), dest_url.to_string()));
                self.push_style(self.theme.style("markdown.link"));
                self.text("[image: ", self.style());
            }
            Tag::Table(_) => {
                self.start_block();
                self.table = Some(Table { rows: Vec::new(), header_rows: 0 });
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(t) = self.table.as_mut() {
                    t.rows.push(Vec::new());
                }
            }
            Tag::TableCell => {
                if let Some(row) = self.table.as_mut().and_then(|t| t.rows.last_mut()) {
                    row.push(Vec::new());
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => self.end_block(),
            TagEnd::Heading(_) => {
                self.end_block();
                self.pop_style();
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.containers.pop();
                self.pop_style();
                self.blank_pending = true;
            }
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
                if self.lists.is_empty() {
                    self.blank_pending = true;
                }
            }
            TagEnd::Item => {
                self.flush();
                let unused = matches!(self.containers.last(), Some(Container::Item { emitted: false, .. }));
                if unused {
                    // An empty item still shows its marker.
                    let (first, rest) = self.prefixes();
                    self.emit(vec![LineBuf::default()], first, rest);
                }
                self.containers.pop();
                // A loose item's paragraphs ask for a blank line; only the next block decides.
            }
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => self.pop_style(),
            TagEnd::Link | TagEnd::Image => {
                self.pop_style();
                let is_image = matches!(tag, TagEnd::Image);
                if is_image {
                    self.text("]", self.style().patch(self.theme.style("markdown.link")));
                }
                if let Some((start, dest)) = self.links.pop() {
                    let shown: String = self.inline.get(start..).unwrap_or(&[]).iter().map(|(t, _)| t.as_str()).collect();
                    let same = shown == dest || dest.strip_prefix("mailto:") == Some(shown.as_str());
                    if !dest.is_empty() && !same {
                        self.text(&format!(" ({dest})"), self.theme.style("ui.dim"));
                    }
                }
            }
            TagEnd::Table => self.end_table(),
            TagEnd::TableHead => {
                if let Some(t) = self.table.as_mut() {
                    t.header_rows = t.rows.len();
                }
            }
            _ => {}
        }
    }

    fn end_code(&mut self) {
        let Some((lang, code)) = self.code.take() else { return };
        let (lines, _) = self.hl.highlight_from(&code, &lang, self.code_from.take());
        self.emit_code(lines);
        self.blank_pending = true;
    }

    /// Emits highlighted code lines, indented and wrapped between characters.
    fn emit_code(&mut self, lines: Vec<Line<'static>>) {
        let (first, rest) = self.prefixes();
        let indent = LineBuf { spans: vec![("  ".into(), Style::default())], width: 2 };
        let avail = self.avail(&rest).saturating_sub(indent.width).max(1);
        let mut body = Vec::new();
        for line in lines {
            let segs: Vec<(String, Style)> = line.spans.into_iter().map(|s| (s.content.into_owned(), s.style)).collect();
            for mut piece in hard_wrap_styled(&segs, avail) {
                if avail + indent.width <= self.avail(&rest) {
                    let mut l = indent.clone();
                    for (t, s) in piece.spans.drain(..) {
                        l.push(&t, s);
                    }
                    piece = l;
                }
                body.push(piece);
            }
        }
        if !body.is_empty() {
            self.emit(body, first, rest);
        }
    }

    fn end_table(&mut self) {
        let Some(table) = self.table.take() else { return };
        let (first, rest) = self.prefixes();
        let avail = self.avail(&rest);
        let cols = table.rows.iter().map(Vec::len).max().unwrap_or(0);
        let cell_w = |c: &Vec<(String, Style)>| c.iter().map(|(t, _)| str_width(t)).sum::<usize>();
        let mut widths = vec![0; cols];
        for row in &table.rows {
            for (i, c) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell_w(c));
            }
        }
        let sep = self.theme.style("ui.dim");
        let strong = self.theme.style("markdown.strong");
        let fits = widths.iter().sum::<usize>() + 3 * cols.saturating_sub(1) <= avail;
        let mut body = Vec::new();
        for (r, row) in table.rows.iter().enumerate() {
            let header = r < table.header_rows;
            let mut segs: Vec<(String, Style)> = Vec::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    segs.push((" │ ".into(), sep));
                }
                for (t, s) in cell {
                    segs.push((t.clone(), if header { s.patch(strong) } else { *s }));
                }
                if fits && i + 1 < row.len() {
                    segs.push((" ".repeat(widths[i] - cell_w(cell)), Style::default()));
                }
            }
            if fits {
                body.extend(hard_wrap_styled(&segs, avail));
            } else {
                body.extend(wrap_styled(&segs, avail));
            }
            if header && r + 1 == table.header_rows {
                let rule: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
                let rule = if fits { rule.join("─┼─") } else { "─".repeat(avail.min(self.width)) };
                body.extend(hard_wrap_styled(&[(rule, sep)], avail));
            }
        }
        self.emit(body, first, rest);
        self.blank_pending = true;
    }

    fn finish(mut self) -> Vec<Line<'static>> {
        // Streaming text can stop inside a fence or a table; show what there is.
        if self.code.is_some() {
            self.end_code();
        }
        if self.table.is_some() {
            self.end_table();
        }
        self.flush();
        self.out
    }
}

#[cfg(test)]
#[path = "markdown_tests.rs"]
mod tests;
