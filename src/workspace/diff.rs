//! Unified diffs of file changes, and the notes that replace them for binary or large files.

use std::fmt::Write;
use std::time::Duration;

use similar::TextDiff;

/// How long a single diff may take before `similar` approximates; a pathological pair of
/// files must not stall the step that produced them.
const DIFF_TIMEOUT: Duration = Duration::from_millis(500);

/// Whether bytes should be treated as binary: a NUL byte near the start (the heuristic git
/// uses) or content that is not UTF-8.
pub fn is_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(8000)].contains(&0) || std::str::from_utf8(bytes).is_err()
}

/// One side of a change: `None` when the file does not exist on that side.
#[derive(Clone, Copy)]
pub(super) struct Side<'a> {
    pub size: u64,
    /// The content, when it was retained (small enough, within the memory budget).
    pub content: Option<&'a [u8]>,
}

/// The diff text for a change of `path` between `old` and `new` (`None` = absent).
pub(super) fn describe(path: &str, old: Option<Side<'_>>, new: Option<Side<'_>>) -> String {
    if let (Some(a), Some(b)) = (text_of(old), text_of(new)) {
        let from = if old.is_some() { format!("a/{path}") } else { "/dev/null".to_string() };
        let to = if new.is_some() { format!("b/{path}") } else { "/dev/null".to_string() };
        return file_diff(&from, &to, a, b);
    }
    let binary = [old, new].iter().flatten().any(|s| s.content.is_some_and(is_binary));
    let large = [old, new].iter().flatten().any(|s| s.size > super::MAX_DIFF_BYTES);
    let what = match (binary, large) {
        (true, _) => "Binary file",
        (false, true) => "Large file",
        // Small text whose earlier content was not kept because the index's memory budget ran out.
        (false, false) => "File",
    };
    match (old, new) {
        (None, Some(n)) => format!("{what} created ({} bytes)", n.size),
        (Some(o), None) => format!("{what} deleted ({} bytes)", o.size),
        (Some(o), Some(n)) => format!("{what} changed ({} → {} bytes)", o.size, n.size),
        (None, None) => String::new(),
    }
}

/// The text of one side, `""` when absent, `None` when binary or not retained.
fn text_of<'a>(s: Option<Side<'a>>) -> Option<&'a str> {
    match s {
        None => Some(""),
        Some(Side { content: Some(b), .. }) if !b[..b.len().min(8000)].contains(&0) => std::str::from_utf8(b).ok(),
        Some(_) => None,
    }
}

/// A unified diff with `--- from` / `+++ to` headers and three lines of context. The headers
/// are written even when there are no hunks (an empty file created), so that the change still
/// names its file.
pub fn file_diff(from: &str, to: &str, old: &str, new: &str) -> String {
    let diff = TextDiff::configure().timeout(DIFF_TIMEOUT).diff_lines(old, new);
    let mut out = String::new();
    let _ = writeln!(out, "--- {from}");
    let _ = writeln!(out, "+++ {to}");
    let mut udiff = diff.unified_diff();
    udiff.context_radius(3);
    for hunk in udiff.iter_hunks() {
        let _ = write!(out, "{hunk}");
    }
    out
}
