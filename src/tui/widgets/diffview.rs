//! Unified and side-by-side diff rendering, with code highlighted by the file's extension.
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::highlight::Highlighter;
use crate::config::theme::Theme;
use crate::tui::text::{LineBuf, code_wrap, expand_tabs, hard_wrap_styled};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `diff --git`, `index`, `---`, `+++` and anything else outside a hunk.
    Header,
    Hunk,
    Add,
    Del,
    Context,
    /// `\ No newline at end of file`.
    Note,
}

struct DLine<'a> {
    kind: Kind,
    /// The line without its `+`/`-`/` ` marker (whole line for headers).
    text: &'a str,
    old: Option<usize>,
    new: Option<usize>,
    /// Index of the hunk this line belongs to, for highlighting hunk by hunk.
    hunk: usize,
}

/// `@@ -a,b +c,d @@` → (a, b, c, d); counts default to 1 as in the format.
fn hunk_header(line: &str) -> Option<(usize, usize, usize, usize)> {
    let rest = line.strip_prefix("@@ -")?;
    let (ranges, _) = rest.split_once(" @@")?;
    let (old, new) = ranges.split_once(" +")?;
    let range = |r: &str| -> Option<(usize, usize)> {
        match r.split_once(',') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => Some((r.parse().ok()?, 1)),
        }
    };
    let (a, b) = range(old)?;
    let (c, d) = range(new)?;
    Some((a, b, c, d))
}

/// Classifies every line. Hunk line counts decide where a hunk ends, so an added line that
/// starts with `++` is not mistaken for a `+++` header.
fn parse(diff: &str) -> Vec<DLine<'_>> {
    let mut out = Vec::new();
    // Remaining old/new lines in the current hunk; None when the header had no counts.
    let mut left: Option<(usize, usize)> = None;
    let mut in_hunk = false;
    let (mut old_no, mut new_no) = (0usize, 0usize);
    let mut hunk = 0;
    for line in diff.lines() {
        if line.starts_with("@@") {
            hunk += 1;
            in_hunk = true;
            left = hunk_header(line).map(|(a, b, c, d)| {
                old_no = a;
                new_no = c;
                (b, d)
            });
            out.push(DLine { kind: Kind::Hunk, text: line, old: None, new: None, hunk });
            continue;
        }
        if in_hunk && left.is_none() && line.starts_with("diff ") {
            in_hunk = false;
        }
        if !in_hunk {
            out.push(DLine { kind: Kind::Header, text: line, old: None, new: None, hunk });
            continue;
        }
        let (kind, text) = match line.as_bytes().first() {
            Some(b'+') => (Kind::Add, &line[1..]),
            Some(b'-') => (Kind::Del, &line[1..]),
            Some(b' ') => (Kind::Context, &line[1..]),
            // Some tools strip the space of an empty context line.
            None => (Kind::Context, ""),
            Some(b'\\') => (Kind::Note, line),
            Some(_) => {
                in_hunk = false;
                out.push(DLine { kind: Kind::Header, text: line, old: None, new: None, hunk });
                continue;
            }
        };
        let (old, new) = match kind {
            Kind::Add => (None, Some(new_no)),
            Kind::Del => (Some(old_no), None),
            Kind::Context => (Some(old_no), Some(new_no)),
            _ => (None, None),
        };
        if matches!(kind, Kind::Del | Kind::Context) {
            old_no += 1;
        }
        if matches!(kind, Kind::Add | Kind::Context) {
            new_no += 1;
        }
        if let Some((o, n)) = left.as_mut() {
            if matches!(kind, Kind::Del | Kind::Context) {
                *o = o.saturating_sub(1);
            }
            if matches!(kind, Kind::Add | Kind::Context) {
                *n = n.saturating_sub(1);
            }
            if *o == 0 && *n == 0 {
                // A trailing `\ No newline` note still belongs to the hunk.
                in_hunk = false;
            }
        }
        out.push(DLine { kind, text, old, new, hunk });
    }
    // Notes after the hunk ended were classified as headers; they are notes.
    for l in &mut out {
        if l.kind == Kind::Header && l.text.starts_with("\\ ") {
            l.kind = Kind::Note;
        }
    }
    out
}

/// +/- counts of a unified diff.
pub fn counts(diff: &str) -> (usize, usize) {
    parse(diff).iter().fold((0, 0), |(a, d), l| match l.kind {
        Kind::Add => (a + 1, d),
        Kind::Del => (a, d + 1),
        _ => (a, d),
    })
}

/// The content of every line, styled: diff scopes, with syntax colours on code when the diff
/// style leaves room for them (it has a background to tint with).
fn styled(lines: &[DLine<'_>], path: &str, theme: &Theme, hl: &Highlighter) -> Vec<Vec<(String, Style)>> {
    let plus = theme.style("diff.plus");
    let minus = theme.style("diff.minus");
    let ctx = theme.style("diff.context");
    let base = |k: Kind| match k {
        Kind::Add => plus,
        Kind::Del => minus,
        Kind::Context => ctx,
        Kind::Hunk => theme.style("diff.hunk"),
        Kind::Header => theme.style("diff.header"),
        Kind::Note => theme.style("ui.dim"),
    };
    let syntax_ok = |k: Kind| match k {
        Kind::Add => plus.bg.is_some(),
        Kind::Del => minus.bg.is_some(),
        Kind::Context => true,
        _ => false,
    };
    let mut out: Vec<Vec<(String, Style)>> = lines
        .iter()
        .map(|l| {
            let mut col = 0;
            vec![(expand_tabs(l.text, &mut col), base(l.kind))]
        })
        .collect();
    if !hl.knows(path) {
        return out;
    }
    // Each side of each hunk is highlighted as one stream, so multi-line strings and
    // comments colour correctly; hunks restart the state since the lines between are unknown.
    let mut start = 0;
    while start < lines.len() {
        let hunk = lines[start].hunk;
        let end = lines[start..].iter().position(|l| l.hunk != hunk).map_or(lines.len(), |p| start + p);
        for side in [Kind::Del, Kind::Add] {
            let idx: Vec<usize> = (start..end).filter(|&i| lines[i].kind == side || lines[i].kind == Kind::Context).collect();
            if idx.is_empty() {
                continue;
            }
            let mut code = String::new();
            for &i in &idx {
                code.push_str(lines[i].text);
                code.push('\n');
            }
            let Some(hi) = hl.highlight_styled(&code, path) else { return out };
            for (&i, spans) in idx.iter().zip(hi) {
                // Context lines appear on both sides; colour them from the new side.
                if lines[i].kind == Kind::Context && side == Kind::Del {
                    continue;
                }
                if syntax_ok(lines[i].kind) {
                    let b = base(lines[i].kind);
                    out[i] = spans.into_iter().map(|(t, s)| (t, b.patch(s))).collect();
                }
            }
        }
        start = end;
    }
    out
}

fn marker(kind: Kind) -> &'static str {
    match kind {
        Kind::Add => "+",
        Kind::Del => "-",
        Kind::Context => " ",
        _ => "",
    }
}

/// A unified diff (as in `file_changed` events) as styled lines.
pub fn unified(diff: &str, path: &str, theme: &Theme, hl: &Highlighter) -> Vec<Line<'static>> {
    let lines = parse(diff);
    let content = styled(&lines, path, theme, hl);
    lines
        .iter()
        .zip(content)
        .map(|(l, spans)| {
            let mut v = Vec::with_capacity(spans.len() + 1);
            let m = marker(l.kind);
            if !m.is_empty() {
                let st = match l.kind {
                    Kind::Add => theme.style("diff.plus"),
                    Kind::Del => theme.style("diff.minus"),
                    _ => theme.style("diff.context"),
                };
                v.push(Span::styled(m, st));
            }
            v.extend(spans.into_iter().map(|(t, s)| Span::styled(t, s)));
            Line::from(v)
        })
        .collect()
}

enum Row {
    Full(usize),
    Pair(Option<usize>, Option<usize>),
}

/// The same diff as two columns, old left and new right, each `(width - 1) / 2` wide with
/// line numbers; removed and added lines of a change are paired side by side. Long lines wrap
/// within their column, so no line is wider than `width`.
pub fn side_by_side(diff: &str, path: &str, width: u16, theme: &Theme, hl: &Highlighter) -> Vec<Line<'static>> {
    let width = width as usize;
    if width < 3 {
        return Vec::new();
    }
    let col_w = (width - 1) / 2;
    let lines = parse(diff);
    let content = styled(&lines, path, theme, hl);

    let mut rows = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        match lines[i].kind {
            Kind::Context => {
                rows.push(Row::Pair(Some(i), Some(i)));
                i += 1;
            }
            Kind::Del | Kind::Add => {
                let dels: Vec<usize> = (i..lines.len()).take_while(|&j| lines[j].kind == Kind::Del).collect();
                let after = i + dels.len();
                let adds: Vec<usize> = (after..lines.len()).take_while(|&j| lines[j].kind == Kind::Add).collect();
                for k in 0..dels.len().max(adds.len()) {
                    rows.push(Row::Pair(dels.get(k).copied(), adds.get(k).copied()));
                }
                i = after + adds.len();
            }
            _ => {
                rows.push(Row::Full(i));
                i += 1;
            }
        }
    }

    let max_no = lines.iter().filter_map(|l| l.old.max(l.new)).max().unwrap_or(0);
    let digits = max_no.to_string().len();
    // Line numbers only when they leave room for some code.
    let gutter = if col_w >= digits + 1 + 4 { digits + 1 } else { 0 };
    let code_w = col_w - gutter;
    let dim = theme.style("ui.dim");
    let sep = theme.style("ui.border");

    let cell = |idx: Option<usize>, old_side: bool| -> Vec<LineBuf> {
        let Some(j) = idx else { return vec![LineBuf::default()] };
        // Side by side the columns are narrow: break at word boundaries, never mid-word.
        let mut wrapped = code_wrap(&content[j], code_w);
        let no = if old_side { lines[j].old } else { lines[j].new };
        for (n, part) in wrapped.iter_mut().enumerate() {
            let mut l = LineBuf::default();
            if gutter > 0 {
                let label = match no {
                    Some(no) if n == 0 => format!("{no:>digits$} "),
                    _ => " ".repeat(gutter),
                };
                l.push(&label, dim);
            }
            for (t, s) in part.spans.drain(..) {
                l.push(&t, s);
            }
            *part = l;
        }
        wrapped
    };

    let mut out = Vec::new();
    for row in rows {
        match row {
            Row::Full(j) => {
                for part in hard_wrap_styled(&content[j], width) {
                    out.push(Line::from(part.into_spans()));
                }
            }
            Row::Pair(l, r) => {
                let left = cell(l, true);
                let right = cell(r, false);
                let fill = |idx: Option<usize>| idx.map(|j| content[j].first().map(|(_, s)| *s).unwrap_or_default()).unwrap_or(dim);
                let (lfill, rfill) = (fill(l), fill(r));
                for k in 0..left.len().max(right.len()) {
                    let mut line = left.get(k).cloned().unwrap_or_default();
                    line.pad(col_w, lfill);
                    line.push("│", sep);
                    if let Some(rp) = right.get(k) {
                        for (t, s) in &rp.spans {
                            line.push(t, *s);
                        }
                    }
                    line.pad(2 * col_w + 1, rfill);
                    out.push(Line::from(line.into_spans()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "diffview_tests.rs"]
mod tests;
