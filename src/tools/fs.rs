//! read_file, write_file and edit_file.
//!
//! They work on regular files only: a FIFO would block a read forever, a device or a socket
//! has no content to show or replace. The type is checked without opening the file first,
//! and again on the open descriptor (opened non-blocking), so a swap in between cannot make a
//! read hang. Writes replace the file atomically (see [`crate::memory::atomic`]): a reader
//! never sees half a file, and a hard link to it from outside the workspace keeps its content.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use super::args::Args;
use super::{ToolContext, ToolError, ToolOutcome};
use crate::workspace::Access;

const DEFAULT_LIMIT: u64 = 2000;
const MAX_LINE_CHARS: usize = 2000;

fn err<T>(msg: String) -> Result<T, ToolError> {
    Err(ToolError(msg))
}

fn looks_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(8000)].contains(&0)
}

/// What a file that is not a regular file is, for messages; None for a regular file.
fn odd_kind(t: std::fs::FileType) -> Option<&'static str> {
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a named pipe (FIFO)")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else {
        Some("not a regular file")
    }
}

fn not_regular(shown: &str, kind: &str) -> ToolError {
    if kind == "a directory" {
        return ToolError(format!("{shown} is a directory, not a file; use list_files to see what it contains"));
    }
    ToolError(format!(
        "{shown} is {kind}, not a regular file; read_file, write_file and edit_file only work on regular files (use run for anything else)"
    ))
}

/// Refuses a path that exists and is not a regular file (following symlinks).
fn refuse_odd(abs: &Path, shown: &str) -> Result<(), ToolError> {
    match std::fs::metadata(abs) {
        Ok(m) => match odd_kind(m.file_type()) {
            Some(kind) => Err(not_regular(shown, kind)),
            None => Ok(()),
        },
        Err(_) => Ok(()),
    }
}

/// Reads a file for a tool, with messages for the usual mistakes.
fn read_existing(abs: &Path, shown: &str, missing_hint: &str) -> Result<Vec<u8>, ToolError> {
    match std::fs::metadata(abs) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return err(format!("file not found: {shown}{missing_hint}")),
        Err(e) => return err(format!("cannot read {shown}: {e}")),
        Ok(m) => {
            if let Some(kind) = odd_kind(m.file_type()) {
                return Err(not_regular(shown, kind));
            }
        }
    }
    let cannot = |e: std::io::Error| ToolError(format!("cannot read {shown}: {e}"));
    // Non-blocking: should the path have become a FIFO since the check, the open returns at
    // once and the check below refuses it. (It changes nothing for a regular file.)
    let mut file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(abs).map_err(cannot)?;
    let meta = file.metadata().map_err(cannot)?;
    if let Some(kind) = odd_kind(meta.file_type()) {
        return Err(not_regular(shown, kind));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(cannot)?;
    Ok(bytes)
}

/// Replaces the file at `abs` with `bytes`, atomically.
fn replace(abs: &Path, shown: &str, bytes: &[u8]) -> Result<(), ToolError> {
    let cannot = |e: std::io::Error| ToolError(format!("cannot write {shown}: {e}"));
    // A rename would replace a file we may not write (a read-only file, a running binary);
    // opening it for writing (without truncating) asks the kernel the same question a
    // plain write would have.
    if abs.exists() {
        std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(abs).map_err(cannot)?;
    }
    crate::memory::atomic::write_atomic(abs, bytes).map_err(cannot)
}

fn line_count(text: &str) -> usize {
    text.lines().count()
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

pub(super) fn read_file(ctx: &mut ToolContext, a: &Args<'_>) -> Result<ToolOutcome, ToolError> {
    let path = a.str("path")?;
    let offset = a.opt_u64("offset")?.unwrap_or(1).max(1);
    let limit = a.opt_u64("limit")?.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 {
        return err("read_file: argument `limit` must be at least 1".into());
    }
    let abs = ctx.workspace.resolve(path, Access::Read)?;
    let bytes = read_existing(&abs, path, "")?;
    if looks_binary(&bytes) {
        return err(format!("{path} is a binary file ({} bytes); read_file only shows text", bytes.len()));
    }
    let text = String::from_utf8_lossy(&bytes);
    if text.is_empty() {
        return Ok(ToolOutcome::success(format!("{path} is empty")));
    }
    let lines: Vec<&str> = text.strip_suffix('\n').unwrap_or(&text).split('\n').collect();
    let total = lines.len() as u64;
    if offset > total {
        return err(format!("offset {offset} is past the end of {path}, which has {}", plural(total as usize, "line")));
    }

    // Stop before the overall cap would cut the middle out: the model is better served by a
    // note to continue from a given offset than by a hole in the listing.
    let budget = ctx.limits.output_cap.saturating_sub(200);
    let mut out = String::new();
    let mut used = 0usize;
    let mut next = offset;
    for (i, line) in lines.iter().enumerate().skip((offset - 1) as usize).take(limit.min(total) as usize) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut rendered = format!("{:>6}\t", i + 1);
        let chars = line.chars().count();
        if chars > MAX_LINE_CHARS {
            rendered.extend(line.chars().take(MAX_LINE_CHARS));
            rendered.push_str(&format!(" [… line truncated, {} more characters]", chars - MAX_LINE_CHARS));
        } else {
            rendered.push_str(line);
        }
        rendered.push('\n');
        let len = rendered.chars().count();
        if used + len > budget && next > offset {
            break;
        }
        used += len;
        out.push_str(&rendered);
        next = i as u64 + 2;
    }
    let remaining = total + 1 - next;
    if remaining > 0 {
        let unit = if remaining == 1 { "line" } else { "lines" };
        out.push_str(&format!("… {remaining} more {unit}; use offset={next} to read on\n"));
    }
    Ok(ToolOutcome::success(out))
}

pub(super) fn write_file(ctx: &mut ToolContext, a: &Args<'_>) -> Result<ToolOutcome, ToolError> {
    let path = a.str("path")?;
    let content = a.str("content")?;
    let (abs, rel) = ctx.workspace.resolve_rel(path, Access::Write)?;
    if abs.is_dir() {
        return err(format!("{path} is a directory; give the path of a file"));
    }
    refuse_odd(&abs, path)?;
    let existed = abs.exists();
    ctx.workspace.note_before_write(&rel);
    if let Some(parent) = abs.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ToolError(format!("cannot create the directories for {path}: {e}")))?;
    }
    replace(&abs, path, content.as_bytes())?;
    let change = ctx.workspace.record_write(&rel, content.as_bytes());
    let size = format!("{}, {} bytes", plural(line_count(content), "line"), content.len());
    let output = match (&change, existed) {
        (None, _) => format!("{rel} already had this content ({size}); nothing changed"),
        (Some(_), true) => format!("wrote {rel} ({size})"),
        (Some(_), false) => format!("created {rel} ({size})"),
    };
    Ok(ToolOutcome { changes: change.into_iter().collect(), ..ToolOutcome::success(output) })
}

/// Byte offsets of every occurrence of `needle`, overlapping ones included (an overlap makes
/// the edit just as ambiguous), stopping after `max`.
fn occurrences(hay: &str, needle: &str, max: usize) -> Vec<usize> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = hay[from..].find(needle) {
        found.push(from + i);
        if found.len() >= max {
            break;
        }
        let step = hay[from + i..].chars().next().map_or(1, char::len_utf8);
        from += i + step;
    }
    found
}

/// The 1-based line where `old` matches `text` when leading and trailing whitespace of every
/// line is ignored, to tell the model its whitespace is what is wrong.
fn whitespace_insensitive_match(text: &str, old: &str) -> Option<usize> {
    let want: Vec<&str> = old.lines().map(str::trim).collect();
    if want.iter().all(|l| l.is_empty()) {
        return None;
    }
    let have: Vec<&str> = text.lines().map(str::trim).collect();
    have.windows(want.len()).position(|w| w == want.as_slice()).map(|i| i + 1)
}

pub(super) fn edit_file(ctx: &mut ToolContext, a: &Args<'_>) -> Result<ToolOutcome, ToolError> {
    let path = a.str("path")?;
    let old = a.str("old")?;
    let new = a.str("new")?;
    if old.is_empty() {
        return err(
            "edit_file: `old` is empty; give the exact text to replace (use write_file to create a file or replace all of it)".into()
        );
    }
    if old == new {
        return err("edit_file: `old` and `new` are identical; nothing would change".into());
    }
    let (abs, rel) = ctx.workspace.resolve_rel(path, Access::Write)?;
    let bytes = read_existing(&abs, path, "; edit_file changes existing files, use write_file to create one")?;
    if looks_binary(&bytes) {
        return err(format!("{path} is a binary file; edit_file only edits text"));
    }
    let Ok(text) = String::from_utf8(bytes) else {
        return err(format!("{path} is not valid UTF-8; edit_file only edits UTF-8 text"));
    };

    let mut old = old.to_string();
    let mut new = new.to_string();
    let mut found = occurrences(&text, &old, 1000);
    // Models write \n; a file with CRLF line endings should still be editable.
    if found.is_empty() && text.contains("\r\n") && old.contains('\n') && !old.contains("\r\n") {
        let crlf_old = old.replace('\n', "\r\n");
        let crlf_found = occurrences(&text, &crlf_old, 1000);
        if !crlf_found.is_empty() {
            old = crlf_old;
            new = new.replace("\r\n", "\n").replace('\n', "\r\n");
            found = crlf_found;
        }
    }
    match found.len() {
        0 => {
            let numbered = old.lines().next().is_some_and(|l| {
                let t = l.trim_start();
                t.find('\t').is_some_and(|i| i > 0 && t[..i].chars().all(|c| c.is_ascii_digit()))
            });
            let hint = if numbered {
                "; it seems to include read_file's line-number prefixes, which are not part of the file".to_string()
            } else if let Some(line) = whitespace_insensitive_match(&text, &old) {
                format!("; text matching it except for whitespace/indentation starts at line {line}, so copy the whitespace exactly")
            } else {
                "; check whitespace and indentation, and read the file again to copy the text exactly".to_string()
            };
            err(format!("edit_file: `old` was not found in {path}{hint}"))
        }
        1 => {
            let at = found[0];
            let mut updated = String::with_capacity(text.len() + new.len());
            updated.push_str(&text[..at]);
            updated.push_str(&new);
            updated.push_str(&text[at + old.len()..]);
            ctx.workspace.note_before_write(&rel);
            replace(&abs, path, updated.as_bytes())?;
            let change = ctx.workspace.record_write(&rel, updated.as_bytes());
            let line = text[..at].matches('\n').count() + 1;
            let output = format!(
                "edited {rel}: replaced {} with {} at line {line}",
                plural(line_count(&old).max(1), "line"),
                plural(line_count(&new), "line")
            );
            Ok(ToolOutcome { changes: change.into_iter().collect(), ..ToolOutcome::success(output) })
        }
        n => {
            let count = if n >= 1000 { "at least 1000".to_string() } else { n.to_string() };
            err(format!(
                "edit_file: `old` occurs {count} times in {path}; include more of the surrounding lines so that it matches exactly one place"
            ))
        }
    }
}
