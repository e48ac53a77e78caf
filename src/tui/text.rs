//! Width-aware text helpers: wrapping, truncating and match highlighting on styled lines.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

fn cw(c: char) -> usize {
    c.width().unwrap_or(0)
}

pub fn str_width(s: &str) -> usize {
    s.chars().map(cw).sum()
}

/// Greedy word wrap; words longer than the width are split. Always at least one line.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    for raw in text.split('\n') {
        let raw = crate::printable::visible(raw).replace('\t', "    ");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlight_nth_sets_the_current_occurrence_apart() {
        let (m, c) = (Style::default().bg(ratatui::style::Color::Yellow), Style::default().bg(ratatui::style::Color::Magenta));
        let (line, n) = highlight_nth(&Line::raw("add, add, add"), "add", m, Some(1), c);
        assert_eq!(n, 3);
        let styled: Vec<(String, Option<ratatui::style::Color>)> = line.spans.iter().map(|s| (s.content.to_string(), s.style.bg)).collect();
        assert_eq!(styled.iter().filter(|(t, bg)| t == "add" && *bg == Some(ratatui::style::Color::Magenta)).count(), 1);
        assert_eq!(styled.iter().filter(|(t, bg)| t == "add" && *bg == Some(ratatui::style::Color::Yellow)).count(), 2);
        assert_eq!(styled[2], ("add".to_string(), Some(ratatui::style::Color::Magenta)), "the second one is current: {styled:?}");
    }

    #[test]
    fn wrap_respects_width_and_keeps_words() {
        let rows = wrap("the quick brown fox", 9);
        assert_eq!(rows, vec!["the quick", "brown fox"]);
        assert!(wrap("abcdefghij", 4).iter().all(|r| str_width(r) <= 4));
        assert_eq!(wrap("", 5), vec![""]);
    }

    #[test]
    fn highlight_marks_only_matches() {
        let line = Line::from(vec![Span::raw("Hello wor"), Span::raw("ld, WORLD")]);
        let st = Style::new().bg(ratatui::style::Color::Yellow);
        let out = highlight(&line, "world", st);
        let marked: String = out.spans.iter().filter(|s| s.style == st).map(|s| s.content.as_ref()).collect();
        assert_eq!(marked, "worldWORLD");
        let all: String = out.spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(all, "Hello world, WORLD");
    }

    #[test]
    fn hard_wrap_splits_long_styled_lines() {
        let rows = hard_wrap(Line::raw("abcdefghij"), 4);
        assert_eq!(rows.len(), 3);
        assert!(rows.iter().all(|r| r.width() <= 4));
    }
}
