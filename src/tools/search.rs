//! list_files and search. Both walk the tree on a blocking thread so that a large workspace
//! does not stall the runtime's other tasks.

use std::path::{Path, PathBuf};

use regex::Regex;

use super::args::Args;
use super::{ToolContext, ToolError, ToolOutcome};
use crate::workspace::{Access, walker};

const MAX_ENTRIES: usize = 1000;
const MAX_MATCHES: usize = 200;
const MAX_MATCH_CHARS: usize = 300;
/// Files above this are not searched: they are almost always generated data or logs, and
/// reading them would dominate the call.
const MAX_SEARCH_BYTES: u64 = 16 * 1024 * 1024;
/// Files skipped for size that are named in the result; the rest are counted.
const MAX_SKIPPED_NAMED: usize = 20;

fn rel_of(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).to_string_lossy().into_owned()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ToolError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ToolError(format!("internal error: {e}")))
}

/// Resolves an optional directory-or-file argument (default: the root).
fn start_path(ctx: &ToolContext, a: &Args<'_>) -> Result<(PathBuf, String), ToolError> {
    let path = a.opt_str("path")?.unwrap_or(".");
    let (abs, _) = ctx.workspace.resolve_rel(path, Access::Read)?;
    if !abs.exists() {
        return Err(ToolError(format!("path not found: {path}")));
    }
    Ok((abs, path.to_string()))
}

pub(super) async fn list_files(ctx: &mut ToolContext, a: &Args<'_>) -> Result<ToolOutcome, ToolError> {
    let (start, _) = start_path(ctx, a)?;
    let root = ctx.workspace.root().to_path_buf();
    let output = blocking(move || list_blocking(&root, &start)).await?;
    Ok(ToolOutcome::success(output))
}

fn list_blocking(root: &Path, start: &Path) -> String {
    if start.is_file() {
        return format!("{}\n", rel_of(root, start));
    }
    let mut out = String::new();
    let mut shown = 0usize;
    let mut more = 0usize;
    for entry in walker(root, start).sort_by_file_name(|a, b| a.cmp(b)).build() {
        let Ok(entry) = entry else { continue };
        if entry.depth() == 0 {
            continue;
        }
        if shown >= MAX_ENTRIES {
            more += 1;
            continue;
        }
        out.push_str(&rel_of(root, entry.path()));
        if entry.file_type().is_some_and(|t| t.is_dir()) {
            out.push('/');
        }
        out.push('\n');
        shown += 1;
    }
    if shown == 0 {
        return "(no files)\n".to_string();
    }
    if more > 0 {
        out.push_str(&format!("… {more} more entries not shown ({MAX_ENTRIES} shown); list a subdirectory to see them\n"));
    }
    out
}

pub(super) async fn search(ctx: &mut ToolContext, a: &Args<'_>) -> Result<ToolOutcome, ToolError> {
    let pattern = a.str("pattern")?;
    let re = Regex::new(pattern).map_err(|e| {
        ToolError(format!("search: invalid regular expression `{pattern}`: {e}\n(escape special characters such as ( [ {{ . * + ? with a backslash to match them literally)"))
    })?;
    let (start, _) = start_path(ctx, a)?;
    let root = ctx.workspace.root().to_path_buf();
    let pattern = pattern.to_string();
    let output = blocking(move || search_blocking(&root, &start, &re, &pattern)).await?;
    Ok(ToolOutcome::success(output))
}

fn search_blocking(root: &Path, start: &Path, re: &Regex, pattern: &str) -> String {
    let mut out = String::new();
    let mut matches = 0usize;
    let mut truncated = false;
    // (path, size) of files too large to search: a match may be in them.
    let mut skipped: Vec<(String, u64)> = Vec::new();
    'files: for entry in walker(root, start).sort_by_file_name(|a, b| a.cmp(b)).build() {
        let Ok(entry) = entry else { continue };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if meta.len() > MAX_SEARCH_BYTES {
            skipped.push((rel_of(root, entry.path()), meta.len()));
            continue;
        }
        let Ok(bytes) = std::fs::read(entry.path()) else { continue };
        if bytes[..bytes.len().min(8000)].contains(&0) {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        let rel = rel_of(root, entry.path());
        for (i, line) in text.lines().enumerate() {
            if !re.is_match(line) {
                continue;
            }
            if matches >= MAX_MATCHES {
                truncated = true;
                break 'files;
            }
            matches += 1;
            let line = line.trim();
            let shown: String = line.chars().take(MAX_MATCH_CHARS).collect();
            let cut = if shown.len() < line.len() { " …" } else { "" };
            out.push_str(&format!("{rel}:{}: {shown}{cut}\n", i + 1));
        }
    }
    if matches == 0 && skipped.is_empty() {
        return format!("no matches for `{pattern}`\n");
    }
    if matches == 0 {
        out.push_str(&format!("no matches for `{pattern}` in the files searched, but not every file was searched:\n"));
    }
    if truncated {
        out.push_str(&format!("… stopped after {MAX_MATCHES} matches; narrow the pattern or the path\n"));
    }
    if !skipped.is_empty() {
        out.push_str(&skipped_note(&skipped));
    }
    out
}

/// Names the files skipped for size, so that "no matches" is never said of a file that was
/// not read.
fn skipped_note(skipped: &[(String, u64)]) -> String {
    let mib = |n: u64| n as f64 / (1024.0 * 1024.0);
    let mut note = format!(
        "skipped {} file{} larger than {} MiB (not searched; use run with grep to search {}):\n",
        skipped.len(),
        if skipped.len() == 1 { "" } else { "s" },
        MAX_SEARCH_BYTES / (1024 * 1024),
        if skipped.len() == 1 { "it" } else { "them" }
    );
    for (path, size) in skipped.iter().take(MAX_SKIPPED_NAMED) {
        note.push_str(&format!("  {path} ({:.1} MiB)\n", mib(*size)));
    }
    if skipped.len() > MAX_SKIPPED_NAMED {
        note.push_str(&format!("  … and {} more\n", skipped.len() - MAX_SKIPPED_NAMED));
    }
    note
}
