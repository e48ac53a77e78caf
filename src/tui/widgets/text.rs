//! Column-aware wrapping of styled text, shared by the Markdown and diff renderers.
use ratatui::style::Style;
use ratatui::text::Span;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

pub use crate::printable::{TAB_WIDTH, expand_tabs};

/// Display width in terminal columns.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

fn char_width(c: char) -> usize {
    UnicodeWidthChar::width(c).unwrap_or(0)
}

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
        self.width += width(text);
        match self.spans.last_mut() {
            Some((t, s)) if *s == style => t.push_str(text),
            _ => self.spans.push((text.to_string(), style)),
        }
    }

    pub fn push_char(&mut self, c: char, style: Style) {
        self.width += char_width(c);
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

/// Greedy word wrap of styled segments to lines of at most `width` columns. Runs of spaces at
/// a break are dropped; a word longer than a line is split between characters; `\n` forces a
/// break. Always returns at least one (possibly empty) line.
pub fn wrap(segments: &[(String, Style)], width: usize) -> Vec<LineBuf> {
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
                    if cur.width + char_width(c) > width && cur.width > 0 {
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
                    space.push_char(' ', *style);
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
        let cw = char_width(chars[i].0);
        if w + cw > width && i > start {
            let end = brk.filter(|b| *b > start).unwrap_or(i);
            let mut l = LineBuf::default();
            chars[start..end].iter().for_each(|(c, st)| l.push_char(*c, *st));
            lines.push(l);
            start = end;
            w = chars[start..i].iter().map(|(c, _)| char_width(*c)).sum();
            brk = None;
            continue;
        }
        w += cw;
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
pub fn hard_wrap(segments: &[(String, Style)], width: usize) -> Vec<LineBuf> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut cur = LineBuf::default();
    for (text, style) in segments {
        for c in text.chars() {
            let w = char_width(c);
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
mod tests {
    use super::*;

    fn plain(lines: &[LineBuf]) -> Vec<String> {
        lines.iter().map(|l| l.spans.iter().map(|(t, _)| t.as_str()).collect()).collect()
    }

    #[test]
    fn wraps_words_and_keeps_styles_across_lines() {
        let bold = Style::default().add_modifier(ratatui::style::Modifier::BOLD);
        let segs = vec![("the quick ".to_string(), Style::default()), ("brown fox jumps".to_string(), bold)];
        let lines = wrap(&segs, 11);
        assert_eq!(plain(&lines), vec!["the quick", "brown fox", "jumps"]);
        assert_eq!(lines[2].spans[0].1, bold);
    }

    #[test]
    fn code_wraps_at_word_boundaries_and_keeps_indentation() {
        let lines = code_wrap(&[("    let total = price * quantity;".to_string(), Style::default())], 20);
        assert_eq!(plain(&lines), vec!["    let total = ", "price * quantity;"]);
        let lines = code_wrap(&[("abcdefghij".to_string(), Style::default())], 4);
        assert_eq!(plain(&lines), vec!["abcd", "efgh", "ij"]);
        assert!(code_wrap(&[("日本語 テキスト".to_string(), Style::default())], 5).iter().all(|l| l.width <= 5));
    }

    #[test]
    fn splits_overlong_words_and_wide_chars() {
        let lines = wrap(&[("abcdefghij".to_string(), Style::default())], 4);
        assert_eq!(plain(&lines), vec!["abcd", "efgh", "ij"]);
        let lines = hard_wrap(&[("日本語テキスト".to_string(), Style::default())], 5);
        assert!(lines.iter().all(|l| l.width <= 5), "{:?}", plain(&lines));
        assert_eq!(plain(&lines).concat(), "日本語テキスト");
    }

    #[test]
    fn tabs_expand_to_stops() {
        let mut col = 1;
        assert_eq!(expand_tabs("a\tb", &mut col), "a  b");
        assert_eq!(col, 5);
    }
}
