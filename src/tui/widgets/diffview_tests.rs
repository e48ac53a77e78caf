use super::*;
use crate::config::theme::load_theme;

fn setup() -> (Theme, Highlighter) {
    let t = load_theme("default", None).0;
    let hl = Highlighter::new(&t);
    (t, hl)
}

fn plain(l: &Line<'_>) -> String {
    l.spans.iter().map(|s| s.content.as_ref()).collect()
}

const DIFF: &str = "diff --git a/src/lib.rs b/src/lib.rs\nindex 1..2 100644\n--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,4 +1,5 @@\n fn main() {\n-    let x = 1;\n+    let x = 2;\n+    let y = \"a string that is rather long and will need to wrap in narrow columns\";\n     println!(\"{x}\");\n }\n@@ -10,2 +11,2 @@\n-++old\n+++new\n context\n";

#[test]
fn counts_ignore_headers_but_not_lines_that_look_like_them() {
    // `-++old` and `+++new` inside the hunk are a real removal and addition.
    assert_eq!(counts(DIFF), (3, 2));
    assert_eq!(counts(""), (0, 0));
    assert_eq!(counts("--- a\n+++ b\n@@ -1 +1 @@\n-a\n+b\n"), (1, 1));
}

#[test]
fn unified_styles_each_kind_of_line() {
    let (t, hl) = setup();
    let lines = unified(DIFF, "src/lib.rs", &t, &hl);
    assert_eq!(lines.len(), DIFF.lines().count());
    assert_eq!(lines[2].spans[0].style, t.style("diff.header"));
    assert_eq!(lines[4].spans[0].style, t.style("diff.hunk"));
    assert_eq!(plain(&lines[7]), "+    let x = 2;");
    assert_eq!(lines[7].spans[0].style, t.style("diff.plus"));
    assert_eq!(lines[6].spans[0].style, t.style("diff.minus"));
    // Added code keeps syntax colours over the diff background.
    let plus_bg = t.style("diff.plus").bg;
    assert!(lines[7].spans.iter().all(|s| s.style.bg == plus_bg));
    let fgs: std::collections::HashSet<_> = lines[7].spans.iter().filter_map(|s| s.style.fg).collect();
    assert!(fgs.len() >= 2, "{fgs:?}");
}

#[test]
fn side_by_side_pairs_changes_with_line_numbers() {
    let (t, hl) = setup();
    let lines = side_by_side(DIFF, "src/lib.rs", 121, &t, &hl);
    let text: Vec<String> = lines.iter().map(plain).collect();
    let row = text.iter().find(|l| l.contains("let x = 1")).unwrap();
    let (left, right) = row.split_once('│').unwrap();
    assert!(left.starts_with(" 2 ") && left.contains("let x = 1"), "{row}");
    assert!(right.starts_with(" 2 ") && right.contains("let x = 2"), "{row}");
    // The extra added line has nothing on the left.
    let extra = text.iter().find(|l| l.contains("let y")).unwrap();
    assert!(extra.split_once('│').unwrap().0.trim().is_empty(), "{extra}");
    assert!(text.iter().any(|l| l.contains("11 ") && l.contains("+new")), "{text:#?}");
}

#[test]
fn side_by_side_lines_never_exceed_the_width() {
    let (t, hl) = setup();
    for width in [3u16, 10, 25, 40, 41, 80, 200] {
        let lines = side_by_side(DIFF, "src/lib.rs", width, &t, &hl);
        assert!(!lines.is_empty());
        for l in &lines {
            assert!(l.width() <= width as usize, "width {width}: {} > {width}: {:?}", l.width(), plain(l));
        }
        // Both columns are the same width, so the separators line up.
        let col = (width as usize - 1) / 2;
        for l in lines.iter().filter(|l| plain(l).contains('│')) {
            assert_eq!(plain(l).chars().position(|c| c == '│'), Some(col), "{:?}", plain(l));
        }
    }
    assert!(side_by_side(DIFF, "x.rs", 2, &t, &hl).is_empty());
}
