//! Text that came from a model, a tool or a file, made safe to put on a terminal.
//!
//! Control characters and escape sequences would let that text move the cursor, rewrite
//! what was printed before, change the window title or hide itself; bidirectional overrides
//! would make it read differently from what it is. Both frontends print them visibly instead
//! (`\x1b`, `\r`, `\u{202e}`): headless `exec` on stderr and the workbench in its panels.

use std::borrow::Cow;

use unicode_width::UnicodeWidthChar;

/// Columns between tab stops.
pub const TAB_WIDTH: usize = 4;

/// The visible form of a character that must not reach a terminal as is, or None for one
/// that may. Newlines and tabs are layout, not escapes: callers decide what to do with them.
pub fn escaped(c: char) -> Option<String> {
    match c {
        '\n' | '\t' => None,
        '\r' => Some("\\r".into()),
        '\u{0}'..='\u{1f}' | '\u{7f}' => Some(format!("\\x{:02x}", c as u32)),
        // C1 controls (a single-byte CSI among them) and the characters that reorder or
        // hide text: bidirectional embeddings, overrides, isolates and marks.
        '\u{80}'..='\u{9f}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
            Some(format!("\\u{{{:x}}}", c as u32))
        }
        _ => None,
    }
}

/// `text` with every control character and escape sequence made visible; newlines and tabs
/// are kept.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| escaped(c).is_some()) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match escaped(c) {
            Some(e) => out.push_str(&e),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn char_width(c: char) -> usize {
    UnicodeWidthChar::width(c).unwrap_or(0)
}

/// One line for a terminal grid: tabs become spaces up to the next tab stop, control
/// characters and escapes are made visible (see [`escaped`]), and a stray newline is
/// dropped. `col` is the column the text starts at and is advanced past it.
pub fn expand_tabs(s: &str, col: &mut usize) -> String {
    if !s.chars().any(|c| c == '\t' || c == '\n' || escaped(c).is_some()) {
        *col += s.chars().map(char_width).sum::<usize>();
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c == '\t' {
            let n = TAB_WIDTH - *col % TAB_WIDTH;
            out.extend(std::iter::repeat_n(' ', n));
            *col += n;
        } else if c == '\n' {
            continue;
        } else if let Some(e) = escaped(c) {
            *col += e.len();
            out.push_str(&e);
        } else {
            out.push(c);
            *col += char_width(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_become_visible_and_plain_text_is_borrowed() {
        assert_eq!(visible("\x1b[2J\x1b]0;title\x07ok\r\n"), "\\x1b[2J\\x1b]0;title\\x07ok\\r\n");
        assert_eq!(visible("a\u{202e}b\u{9b}c"), "a\\u{202e}b\\u{9b}c");
        assert!(matches!(visible("plain\ttext\né"), Cow::Borrowed(_)));
    }

    #[test]
    fn expand_tabs_keeps_columns_and_shows_controls() {
        let mut col = 1;
        assert_eq!(expand_tabs("a\tb", &mut col), "a  b");
        assert_eq!(col, 5);
        let mut col = 0;
        assert_eq!(expand_tabs("x\x1by", &mut col), "x\\x1by");
        assert_eq!(col, 6);
    }
}

/// A duration in milliseconds the way every frontend prints it: `850ms`, `2.3s`, `4m05s`.
pub fn fmt_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    }
}

/// An amount of money the way every frontend prints it: cents (`$0.43`), and four decimals
/// only for an amount under a cent that would otherwise read as nothing (`$0.0042`).
pub fn money(usd: f64) -> String {
    if usd != 0.0 && usd.abs() < 0.01 { format!("${usd:.4}") } else { format!("${usd:.2}") }
}

#[cfg(test)]
mod money_tests {
    use super::{fmt_ms, money};

    #[test]
    fn money_is_cents_unless_that_would_hide_a_small_amount() {
        assert_eq!(money(0.0), "$0.00");
        assert_eq!(money(0.4321), "$0.43");
        assert_eq!(money(12.5), "$12.50");
        assert_eq!(money(0.0042), "$0.0042");
        assert_eq!((fmt_ms(850), fmt_ms(2300), fmt_ms(245_000)), ("850ms".into(), "2.3s".into(), "4m05s".into()));
    }
}
