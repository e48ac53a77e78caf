//! Every theme scope the workbench names is one the themes know, and vice versa.
//!
//! Scopes are plain strings at the call sites (`th.style("diff.plus")`, or a literal picked in a
//! `match` and styled later), so a typo or a new scope compiles fine and silently renders
//! unstyled. This reads the workbench's own source, embedded at compile time, and collects:
//! every string literal passed straight to `style(`, and every literal shaped like a dotted
//! scope (`a.b`, lowercase). That set must equal `config::theme::SCOPES`, which the default
//! theme must define in full (`tests/theme_keymap.rs`).

use std::collections::BTreeSet;

use crate::config::theme::SCOPES;

/// Every source file under `src/tui`, by path relative to it. `sources_list_is_complete`
/// fails when a file is added without being listed here.
/// Every `.rs` file under `src/tui`, read from disk, so a new panel file is checked
/// without being listed anywhere.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, base, out);
            } else if p.extension().is_some_and(|x| x == "rs")
                && let (Ok(rel), Ok(text)) = (p.strip_prefix(base), std::fs::read_to_string(&p))
            {
                out.push((rel.to_string_lossy().replace('\\', "/"), text));
            }
        }
    }
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tui");
    let mut out = Vec::new();
    walk(&base, &base, &mut out);
    assert!(out.len() > 20, "cannot read the sources under {}", base.display());
    out.sort();
    out
}

/// File names (`"app_tests.rs"`, `"events.jsonl"`) look like dotted scopes; these endings mark
/// them, and no scope ends in one.
const FILE_EXTENSIONS: &[&str] = &["rs", "toml", "json", "jsonl", "md", "txt", "diff", "patch", "js"];

/// The string literals in Rust source, each with the text just before its opening quote.
/// Enough of a lexer for this purpose: it skips comments, char literals (`'"'`) and raw
/// strings, and unescapes nothing (scopes contain no escapes).
fn literals(src: &str) -> Vec<(&str, &str)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            // A char literal: 'x', '\'', '"', '\u{..}'. A lifetime (`'a`) has no closing quote
            // within two characters and is stepped over as one byte.
            b'\'' => {
                if b.get(i + 1) == Some(&b'\\') {
                    i += 2;
                    while i < b.len() && b[i] != b'\'' {
                        i += 1;
                    }
                    i += 1;
                } else if let Some(c) = src[i + 1..].chars().next()
                    && src[i + 1 + c.len_utf8()..].starts_with('\'')
                {
                    i += 2 + c.len_utf8();
                } else {
                    i += 1;
                }
            }
            b'r' if (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let hashes = b[i + 1..].iter().take_while(|c| **c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let start = i + 2 + hashes;
                let end = src[start..].find(&close).map_or(b.len(), |e| start + e);
                i = end + close.len();
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                let end = j.min(b.len());
                out.push((&src[..i], &src[start..end]));
                i = end + 1;
            }
            _ => i += 1,
        }
    }
    out
}

fn looks_like_scope(s: &str) -> bool {
    let mut parts = s.split('.');
    let first_ok = parts.next().is_some_and(|p| p.starts_with(|c: char| c.is_ascii_lowercase()));
    let last_is_ext = s.rsplit('.').next().is_some_and(|e| FILE_EXTENSIONS.contains(&e));
    s.contains('.')
        && first_ok
        && !last_is_ext
        && s.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
}

/// Every scope named in `src`.
fn scopes_in(src: &str) -> BTreeSet<String> {
    literals(src)
        .into_iter()
        .filter(|(before, lit)| before.ends_with("style(") || looks_like_scope(lit))
        .map(|(_, lit)| lit.to_string())
        .collect()
}

#[test]
fn the_lexer_finds_scopes_and_skips_what_is_not_code() {
    let src = r##"
        // th.style("in.a.comment")
        /* "in.block" */
        let q = '"'; let e = '\''; fn f<'a>(x: &'a str) {}
        th.style("ui"); th.style(if x { "ui.dim" } else { "diff.plus" });
        let (icon, scope) = ("✓", "tasks.done");
        let raw = r#"raw.scope"#; let path = "src/lib.rs"; let f = "lib.rs"; let s = "Not.a.scope";
        let esc = "say \"hi.there\""; th.style("diff.minus")
    "##;
    let found: Vec<String> = scopes_in(src).into_iter().collect();
    assert_eq!(found, ["diff.minus", "diff.plus", "tasks.done", "ui", "ui.dim"]);
}

#[test]
fn every_scope_the_workbench_uses_is_in_scopes_and_nothing_else() {
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut where_used: Vec<(String, &str)> = Vec::new();
    let sources = sources();
    for (file, src) in &sources {
        if file == "scopes_tests.rs" {
            continue; // its own examples above are not scopes
        }
        for s in scopes_in(src) {
            where_used.push((s.clone(), file.as_str()));
            used.insert(s);
        }
    }
    let known: BTreeSet<String> = SCOPES.iter().map(|s| s.to_string()).collect();
    let undefined: Vec<String> =
        used.difference(&known).map(|s| format!("{s} (in {})", where_used.iter().find(|(x, _)| x == s).map_or("?", |(_, f)| f))).collect();
    assert!(undefined.is_empty(), "scopes used by src/tui but missing from config::theme::SCOPES: {undefined:?}");
    let unused: Vec<&String> = known.difference(&used).collect();
    assert!(unused.is_empty(), "SCOPES entries no workbench code uses (remove them, or use them): {unused:?}");
}
