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

fn plain(lines: &[LineBuf]) -> Vec<String> {
    lines.iter().map(|l| l.spans.iter().map(|(t, _)| t.as_str()).collect()).collect()
}

#[test]
fn wraps_words_and_keeps_styles_across_lines() {
    let bold = Style::default().add_modifier(ratatui::style::Modifier::BOLD);
    let segs = vec![("the quick ".to_string(), Style::default()), ("brown fox jumps".to_string(), bold)];
    let lines = wrap_styled(&segs, 11);
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
    let lines = wrap_styled(&[("abcdefghij".to_string(), Style::default())], 4);
    assert_eq!(plain(&lines), vec!["abcd", "efgh", "ij"]);
    let lines = hard_wrap_styled(&[("日本語テキスト".to_string(), Style::default())], 5);
    assert!(lines.iter().all(|l| l.width <= 5), "{:?}", plain(&lines));
    assert_eq!(plain(&lines).concat(), "日本語テキスト");
}

#[test]
fn tabs_expand_to_stops() {
    let mut col = 1;
    assert_eq!(expand_tabs("a\tb", &mut col), "a  b");
    assert_eq!(col, 5);
}

#[test]
fn every_wrap_puts_a_tab_at_the_next_tab_stop() {
    // Plain text keeps its indentation; prose drops whitespace at a line's start; in the middle
    // of a line both agree.
    assert_eq!(wrap("a\tb\tc", 40), vec!["a   b   c"]);
    assert_eq!(wrap("abcde\tf", 40), vec!["abcde   f"]);
    assert_eq!(wrap("\tindented", 40), vec!["    indented"]);
    let styled = |t: &str| plain(&wrap_styled(&[(t.to_string(), Style::default())], 40));
    assert_eq!(styled("a\tb\tc"), wrap("a\tb\tc", 40));
    assert_eq!(styled("abcde\tf"), wrap("abcde\tf", 40));
    // A tab at a break is dropped like any space.
    assert_eq!(wrap("abc\tdef", 5), vec!["abc", "def"]);
    assert_eq!(plain(&wrap_styled(&[("abc\tdef".to_string(), Style::default())], 5)), vec!["abc", "def"]);
    let mut col = 0;
    assert_eq!(expand_tabs("ab\tc", &mut col), "ab  c");
}
