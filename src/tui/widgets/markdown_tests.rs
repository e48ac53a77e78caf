use ratatui::style::Modifier;

use super::*;
use crate::config::theme::load_theme;

fn setup() -> (Theme, Highlighter) {
    let t = load_theme("default", None).0;
    let hl = Highlighter::new(&t);
    (t, hl)
}

fn plain(lines: &[Line<'_>]) -> Vec<String> {
    lines.iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect()
}

const DOC: &str = "# Title\n\nSome *emphasis* and **strong** text with `code` and a [link](https://x.y) that goes on for a while to wrap.\n\n- one\n- two which is a long item that should wrap with a hanging indent\n  - nested item that is also long\n1. first\n2. second\n\n> quoted text that is also long enough to wrap around\n\n```rust\nfn main() {\n    println!(\"hi there, this line is long enough to need wrapping\");\n}\n```\n\n| col a | col b |\n|---|---|\n| 1 | a much longer cell |\n\n---\n日本語のテキストも折り返す必要があります。\n";

#[test]
fn headings_lists_quotes_and_links_render_with_their_styles() {
    let (t, hl) = setup();
    let lines = render(DOC, 40, &t, &hl);
    let text = plain(&lines);
    assert_eq!(text[0], "# Title");
    assert_eq!(lines[0].spans[0].style, t.style("markdown.heading"));
    assert_eq!(text[1], "");

    let em = lines.iter().flat_map(|l| &l.spans).find(|s| s.content == "emphasis").unwrap();
    assert!(em.style.add_modifier.contains(Modifier::ITALIC));
    let strong = lines.iter().flat_map(|l| &l.spans).find(|s| s.content == "strong").unwrap();
    assert!(strong.style.add_modifier.contains(Modifier::BOLD));
    let code = lines.iter().flat_map(|l| &l.spans).find(|s| s.content == "code").unwrap();
    assert_eq!(code.style, t.style("markdown.code"));
    assert!(text.iter().any(|l| l.contains("(https://x.y)")), "{text:#?}");

    // The second item wraps with its continuation under the text, not under the bullet.
    let item = text.iter().position(|l| l.starts_with("• two")).unwrap();
    assert!(text[item + 1].starts_with("  ") && !text[item + 1].starts_with("   "), "{text:#?}");
    assert!(text.iter().any(|l| l.starts_with("  • nested")), "{text:#?}");
    assert!(text.iter().any(|l| l == "1. first") && text.iter().any(|l| l == "2. second"));
    let quoted: Vec<_> = text.iter().filter(|l| l.starts_with("│ ")).collect();
    assert!(quoted.len() >= 2, "quote should wrap with its bar on every line: {text:#?}");
}

#[test]
fn code_fences_are_highlighted_by_language() {
    let (t, hl) = setup();
    let lines = render("```rust\nfn main() { let s = \"x\"; }\n```\n", 80, &t, &hl);
    assert_eq!(lines.len(), 1);
    let colours: std::collections::HashSet<_> = lines[0].spans.iter().filter_map(|s| s.style.fg).collect();
    assert!(colours.len() >= 3, "expected syntax colours, got {colours:?}");

    let lines = render("```\nplain code\n```\n", 80, &t, &hl);
    assert_eq!(plain(&lines), vec!["  plain code"]);
    assert!(lines[0].spans.iter().any(|s| s.content == "plain code" && s.style == t.style("markdown.code")));
}

#[test]
fn no_line_exceeds_the_width() {
    let (t, hl) = setup();
    for width in [8u16, 12, 20, 33, 40, 80] {
        for (i, l) in render(DOC, width, &t, &hl).iter().enumerate() {
            assert!(l.width() <= width as usize, "width {width}, line {i} is {}: {:?}", l.width(), plain(std::slice::from_ref(l)));
        }
    }
}

#[test]
fn wrapped_lines_keep_their_style() {
    let (t, hl) = setup();
    let lines = render("**bold words that wrap across several lines**", 12, &t, &hl);
    assert!(lines.len() >= 3);
    for l in &lines {
        assert!(l.spans.iter().filter(|s| !s.content.trim().is_empty()).all(|s| s.style.add_modifier.contains(Modifier::BOLD)));
    }
}

#[test]
fn streaming_prefixes_never_panic_and_unclosed_fences_render_as_code() {
    let (t, hl) = setup();
    let doc = "Intro\n\n```python\ndef f(x):\n    return x * 2\n```\n\n- a\n- b *em";
    for (i, _) in doc.char_indices() {
        let lines = render(&doc[..i], 24, &t, &hl);
        assert!(lines.iter().all(|l| l.width() <= 24));
    }
    let lines = render("Intro\n\n```python\ndef f(x):\n    return x", 40, &t, &hl);
    let text = plain(&lines);
    assert_eq!(text[text.len() - 2], "  def f(x):");
    assert_eq!(text[text.len() - 1], "      return x");
    let colours: std::collections::HashSet<_> = lines.iter().skip(2).flat_map(|l| l.spans.iter().filter_map(|s| s.style.fg)).collect();
    assert!(colours.len() >= 2, "unclosed fence should still be highlighted: {colours:?}");
}

#[test]
fn no_color_theme_renders_without_colours() {
    let t = load_theme("default", None).0.without_color();
    let hl = Highlighter::new(&t);
    let lines = render(DOC, 50, &t, &hl);
    assert!(lines.iter().flat_map(|l| &l.spans).all(|s| s.style.fg.is_none() && s.style.bg.is_none()));
}
