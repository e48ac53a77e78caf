//! The workbench's one text module: display widths, wrapping (plain text, styled segments,
//! code), truncating and match highlighting. Every wrap treats a tab the same way: whitespace up
//! to the next tab stop ([`TAB_WIDTH`]).

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

pub use crate::printable::{TAB_WIDTH, expand_tabs};

fn cw(c: char) -> usize {
    c.width().unwrap_or(0)
}

pub fn str_width(s: &str) -> usize {
    s.chars().map(cw).sum()
}

/// Greedy word wrap; words longer than the width are split; spaces inside a line (indentation
/// too) are kept. Always at least one line.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    for raw in text.split('\n') {
        let raw = expand_tabs(raw, &mut 0);
        let mut line = String::new();
        let mut w = 0;
        for word in raw.split_inclusive(' ') {
            let ww = str_width(word);
            // A trailing space may hang past the edge.
            if w + str_width(word.trim_end()) > width && w > 0 {
                out.push(std::mem::take(&mut line).trim_end().to_string());
                w = 0;
            }
            if ww > width {
                for c in word.chars() {
                    if w + cw(c) > width {
                        out.push(std::mem::take(&mut line));
                        w = 0;
                    }
                    line.push(c);
                    w += cw(c);
                }
            } else {
                line.push_str(word);
                w += ww;
            }
        }
        out.push(line.trim_end().to_string());
    }
    out
}

/// Cuts `s` to `width` columns, marking the cut with an ellipsis.
pub fn truncate(s: &str, width: usize) -> String {
    if str_width(s) <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        if w + cw(c) + 1 > width {
            break;
        }
        out.push(c);
        w += cw(c);
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// Splits a styled line into rows of at most `width` columns, so every cached line is one row.
pub fn hard_wrap(line: Line<'static>, width: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    if line.width() <= width {
        return vec![line];
    }
    let mut rows = Vec::new();
    let mut cur: Vec<Span<'static>> = Vec::new();
    let mut w = 0;
    for span in line.spans {
        let mut buf = String::new();
        for c in span.content.chars() {
            if w + cw(c) > width {
                if !buf.is_empty() {
                    cur.push(Span::styled(std::mem::take(&mut buf), span.style));
                }
                rows.push(Line::from(std::mem::take(&mut cur)).style(line.style));
                w = 0;
            }
            buf.push(c);
            w += cw(c);
        }
        if !buf.is_empty() {
            cur.push(Span::styled(buf, span.style));
        }
    }
    rows.push(Line::from(cur).style(line.style));
    rows
}

/// Byte ranges of ASCII-case-insensitive occurrences of `needle_lower` in `hay`.
pub fn find_all(hay: &str, needle_lower: &str) -> Vec<(usize, usize)> {
    if needle_lower.is_empty() {
        return Vec::new();
    }
    // ASCII lowering keeps byte offsets valid for the original string.
    let lower = hay.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = lower[from..].find(needle_lower) {
        let s = from + i;
        out.push((s, s + needle_lower.len()));
        from = s + needle_lower.len().max(1);
    }
    out
}

/// Restyles every occurrence of the query in a line, keeping the other spans' styles.
pub fn highlight(line: &Line<'static>, needle_lower: &str, style: Style) -> Line<'static> {
    highlight_nth(line, needle_lower, style, None, style).0
}

/// Like [`highlight`], with occurrence `current` (counted in this line) in `current_style`
/// instead; also returns how many occurrences the line has.
pub fn highlight_nth(
    line: &Line<'static>,
    needle_lower: &str,
    style: Style,
    current: Option<usize>,
    current_style: Style,
) -> (Line<'static>, usize) {
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    let hits = find_all(&text, needle_lower);
    if hits.is_empty() {
        return (line.clone(), 0);
    }
    let mut spans = Vec::new();
    let mut offset = 0;
    for span in &line.spans {
        let (s0, s1) = (offset, offset + span.content.len());
        offset = s1;
        let mut cuts = vec![s0, s1];
        for (a, b) in &hits {
            for x in [*a, *b] {
                if x > s0 && x < s1 {
                    cuts.push(x);
                }
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        for w in cuts.windows(2) {
            let (a, b) = (w[0], w[1]);
            let Some(piece) = text.get(a..b) else { continue };
            let hit = hits.iter().position(|(h0, h1)| a >= *h0 && b <= *h1);
            let st = match hit {
                Some(k) if Some(k) == current => span.style.patch(current_style),
                Some(_) => span.style.patch(style),
                None => span.style,
            };
            spans.push(Span::styled(piece.to_string(), st));
        }
    }
    (Line::from(spans).style(line.style), hits.len())
}

// Styled segments, for the Markdown and diff renderers.

/// A line under construction: spans with adjacent same-style text merged.
#[derive(Default, Debug, Clone)]
pub struct LineBuf {
    pub spans: Vec<(String, Style)>,
    pub width: usize,
}

impl LineBuf {
    pub fn push(&mut self, text: &str, style: Style) {
        if text.is_empty() {
            return;
        }
        self.width += str_width(text);
        match self.spans.last_mut() {
            Some((t, s)) if *s == style => t.push_str(text),
            _ => self.spans.push((text.to_string(), style)),
        }
    }

    pub fn push_char(&mut self, c: char, style: Style) {
        self.width += cw(c);
        match self.spans.last_mut() {
            Some((t, s)) if *s == style => t.push(c),
            _ => self.spans.push((c.to_string(), style)),
        }
    }

    /// Pads with spaces in `style` up to `to` columns.
    pub fn pad(&mut self, to: usize, style: Style) {
        if self.width < to {
            let n = to - self.width;
            self.push(&" ".repeat(n), style);
        }
    }

    pub fn into_spans(self) -> Vec<Span<'static>> {
        self.spans.into_iter().map(|(t, s)| Span::styled(t, s)).collect()
    }
}

/// Greedy word wrap of styled segments (prose) to lines of at most `width` columns. Runs of
/// whitespace at a break and at the start of a line are dropped; a word longer than a line is
/// split between characters; `\n` forces a break. Always returns at least one (possibly empty)
/// line.
pub fn wrap_styled(segments: &[(String, Style)], width: usize) -> Vec<LineBuf> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut cur = LineBuf::default();
    let mut space = LineBuf::default();
    let mut word = LineBuf::default();

    // Places the pending word (and the spaces before it) on the current line or the next.
    let flush_word = |cur: &mut LineBuf, space: &mut LineBuf, word: &mut LineBuf, lines: &mut Vec<LineBuf>| {
        if word.width == 0 && word.spans.is_empty() {
            return;
        }
        if cur.width + space.width + word.width <= width {
            for (t, s) in space.spans.drain(..) {
                cur.push(&t, s);
            }
        } else if word.width <= width {
            lines.push(std::mem::take(cur));
        } else {
            // Too long for any line: start it on this line if there is room, then split.
            if cur.width + space.width < width {
                for (t, s) in space.spans.drain(..) {
                    cur.push(&t, s);
                }
            } else if cur.width > 0 {
                lines.push(std::mem::take(cur));
            }
            for (t, s) in word.spans.drain(..) {
                for c in t.chars() {
                    if cur.width + cw(c) > width && cur.width > 0 {
                        lines.push(std::mem::take(cur));
                    }
                    cur.push_char(c, s);
                }
            }
        }
        *space = LineBuf::default();
        for (t, s) in word.spans.drain(..) {
            cur.push(&t, s);
        }
        word.width = 0;
    };

    for (text, style) in segments {
        for c in text.chars() {
            if c == '\n' {
                flush_word(&mut cur, &mut space, &mut word, &mut lines);
                lines.push(std::mem::take(&mut cur));
                space = LineBuf::default();
            } else if c == ' ' || c == '\t' {
                flush_word(&mut cur, &mut space, &mut word, &mut lines);
                if cur.width > 0 {
                    let col = cur.width + space.width;
                    let n = if c == '\t' { TAB_WIDTH - col % TAB_WIDTH } else { 1 };
                    (0..n).for_each(|_| space.push_char(' ', *style));
                }
            } else if let Some(shown) = crate::printable::escaped(c) {
                shown.chars().for_each(|e| word.push_char(e, *style));
            } else {
                word.push_char(c, *style);
            }
        }
    }
    flush_word(&mut cur, &mut space, &mut word, &mut lines);
    lines.push(cur);
    lines
}

/// Splits code into lines of at most `width` columns at word boundaries, keeping every
/// space (indentation included); a word longer than the line is split between characters.
/// Always returns at least one line.
pub fn code_wrap(segments: &[(String, Style)], width: usize) -> Vec<LineBuf> {
    let width = width.max(1);
    let chars: Vec<(char, Style)> = segments.iter().flat_map(|(t, s)| t.chars().map(move |c| (c, *s))).collect();
    let mut lines = Vec::new();
    let (mut start, mut w) = (0, 0);
    // Where the current line may break: just after a space that follows some code.
    let mut brk: Option<usize> = None;
    let mut i = 0;
    while i < chars.len() {
        let c_w = cw(chars[i].0);
        if w + c_w > width && i > start {
            let end = brk.filter(|b| *b > start).unwrap_or(i);
            let mut l = LineBuf::default();
            chars[start..end].iter().for_each(|(c, st)| l.push_char(*c, *st));
            lines.push(l);
            start = end;
            w = chars[start..i].iter().map(|(c, _)| cw(*c)).sum();
            brk = None;
            continue;
        }
        w += c_w;
        if chars[i].0 == ' ' && chars[start..i].iter().any(|(c, _)| *c != ' ') {
            brk = Some(i + 1);
        }
        i += 1;
    }
    let mut l = LineBuf::default();
    chars[start..].iter().for_each(|(c, st)| l.push_char(*c, *st));
    lines.push(l);
    lines
}

/// Splits styled text between characters into lines of at most `width` columns (for code,
/// where words must keep their spacing). Always returns at least one line.
pub fn hard_wrap_styled(segments: &[(String, Style)], width: usize) -> Vec<LineBuf> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut cur = LineBuf::default();
    for (text, style) in segments {
        for c in text.chars() {
            let w = cw(c);
            if cur.width + w > width && cur.width > 0 {
                lines.push(std::mem::take(&mut cur));
            }
            cur.push_char(c, *style);
        }
    }
    lines.push(cur);
    lines
}

#[cfg(test)]
#[path = "text_tests.rs"]
mod tests;
