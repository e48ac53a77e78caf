//! Markdown to styled lines: headings, lists with hanging indents, emphasis, inline code, block
//! quotes, links, rules, simple tables, and fenced code highlighted by language.
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;

use super::highlight::Highlighter;
use super::text::{LineBuf, hard_wrap, width as text_width, wrap};
use crate::config::theme::Theme;

/// Renders Markdown to lines wrapped at `width` columns; code fences are highlighted by
/// language. Text that ends inside a fence (streaming) renders the fence so far as code.
/// A `width` of 0 means "do not wrap".
pub fn render(text: &str, width: u16, theme: &Theme, hl: &Highlighter) -> Vec<Line<'static>> {
    let width = if width == 0 { usize::MAX / 4 } else { width as usize };
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut r = Renderer::new(width, theme, hl);
    for event in Parser::new_ext(text, opts) {
        r.event(event);
    }
    r.finish()
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
}

impl<'a> Renderer<'a> {
    fn new(width: usize, theme: &'a Theme, hl: &'a Highlighter) -> Self {
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
            blank_pending: false,
        }
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
                    let pad = " ".repeat(text_width(marker));
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
        if self.blank_pending && !self.out.is_empty() {
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
                Container::Item { marker, .. } => rest.push(&" ".repeat(text_width(marker)), Style::default()),
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
        let lines = wrap(&segs, self.avail(&rest));
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
                let n = self.avail(&rest).min(self.width);
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
        let lines = if lang.is_empty() { self.hl.highlight(&code, "") } else { self.hl.highlight(&code, &lang) };
        let (first, rest) = self.prefixes();
        let indent = LineBuf { spans: vec![("  ".into(), Style::default())], width: 2 };
        let avail = self.avail(&rest).saturating_sub(indent.width).max(1);
        let mut body = Vec::new();
        for line in lines {
            let segs: Vec<(String, Style)> = line.spans.into_iter().map(|s| (s.content.into_owned(), s.style)).collect();
            for mut piece in hard_wrap(&segs, avail) {
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
        self.blank_pending = true;
    }

    fn end_table(&mut self) {
        let Some(table) = self.table.take() else { return };
        let (first, rest) = self.prefixes();
        let avail = self.avail(&rest);
        let cols = table.rows.iter().map(Vec::len).max().unwrap_or(0);
        let cell_w = |c: &Vec<(String, Style)>| c.iter().map(|(t, _)| text_width(t)).sum::<usize>();
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
                body.extend(hard_wrap(&segs, avail));
            } else {
                body.extend(wrap(&segs, avail));
            }
            if header && r + 1 == table.header_rows {
                let rule: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
                let rule = if fits { rule.join("─┼─") } else { "─".repeat(avail.min(self.width)) };
                body.extend(hard_wrap(&[(rule, sep)], avail));
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
