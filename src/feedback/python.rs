//! Python tracebacks, including chained ones (`During handling of the above exception…`).

use std::sync::LazyLock;

use regex::Regex;

use super::{Loc, Sink, re};

const HEADER: &str = "Traceback (most recent call last):";

pub(super) static FRAME_RE: LazyLock<Regex> = LazyLock::new(|| re(r#"^\s*File "([^"]+)", line (\d+)(?:, in .+)?\s*$"#));
/// `ExcType: message`, `pkg.mod.ExcType: message` or a bare `ExcType`.
pub(super) static EXC_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)(?::\s?(.*))?$"));

/// A traceback longer than this is not one (recursion errors print about 3 000 lines at most);
/// the cap keeps a stray header from making the scan quadratic.
const MAX_TRACEBACK_LINES: usize = 5000;
/// How far after a finished traceback a chaining sentence may appear (blank lines around it).
const CHAIN_LOOKAHEAD: usize = 3;

pub(super) struct Frame<'a> {
    pub file: &'a str,
    pub line: &'a str,
}

struct Exception<'a> {
    pos: usize,
    frames: Vec<Frame<'a>>,
    ty: &'a str,
    message: &'a str,
}

/// Installed packages and the standard library are rarely where the fix goes, so diagnostics
/// point at the innermost frame outside them.
pub(super) fn is_library(path: &str) -> bool {
    path.starts_with('<')
        || path.contains("site-packages")
        || path.contains("dist-packages")
        || path.contains("/lib/python")
        || path.contains("/lib64/python")
        || path.contains("\\Lib\\")
}

pub(super) fn parse(lines: &[&str], sink: &mut Sink) {
    let mut chain: Vec<Exception> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (prefix, start) = match lines[i].find(HEADER) {
            // Tracebacks quoted by another tool (pytest's `E   ` lines, log prefixes) carry the
            // same prefix on every line; stripping it lets one parser handle all of them.
            Some(at) => (&lines[i][..at], i + 1),
            // A SyntaxError raised while compiling the main script comes without the header.
            None if is_bare_syntax_frame(lines[i]) => ("", i),
            None => {
                i += 1;
                continue;
            }
        };
        match parse_one(lines, start, prefix) {
            Some((exc, next)) => {
                chain.push(exc);
                i = next;
                if let Some(after) = chain_marker(lines, i, prefix) {
                    i = after;
                    continue;
                }
                emit(&mut chain, sink);
            }
            None => {
                emit(&mut chain, sink);
                i += 1;
            }
        }
    }
    emit(&mut chain, sink);
}

fn is_bare_syntax_frame(line: &str) -> bool {
    line.starts_with("  File \"") && !line.contains(", in ") && FRAME_RE.is_match(line)
}

/// Reads frames from `start` until the exception line. Returns the exception and the index of
/// the line after it, or `None` when the text stops looking like a traceback.
fn parse_one<'a>(lines: &[&'a str], start: usize, prefix: &str) -> Option<(Exception<'a>, usize)> {
    let mut frames = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(start).take(MAX_TRACEBACK_LINES) {
        let rest = line.strip_prefix(prefix)?;
        if let Some(c) = FRAME_RE.captures(rest) {
            let (Some(file), Some(n)) = (c.get(1), c.get(2)) else { return None };
            frames.push(Frame { file: file.as_str(), line: n.as_str() });
            continue;
        }
        // Source lines, carets and `[Previous line repeated N more times]` are indented.
        if rest.trim().is_empty() || rest.starts_with(' ') || rest.starts_with('\t') {
            continue;
        }
        if frames.is_empty() {
            return None;
        }
        let c = EXC_RE.captures(rest.trim_end())?;
        let ty = c.get(1).map_or("", |m| m.as_str());
        let message = c.get(2).map_or("", |m| m.as_str());
        return Some((Exception { pos: i, frames, ty, message }, i + 1));
    }
    None
}

/// The line after a chaining sentence that follows a traceback ending just before `from`.
fn chain_marker(lines: &[&str], from: usize, prefix: &str) -> Option<usize> {
    for (i, line) in lines.iter().enumerate().skip(from).take(CHAIN_LOOKAHEAD) {
        let rest = line.strip_prefix(prefix)?.trim();
        if rest.is_empty() {
            continue;
        }
        let chained =
            rest.starts_with("During handling of the above exception") || rest.starts_with("The above exception was the direct cause");
        return chained.then_some(i + 1);
    }
    None
}

/// Reports a chain as one diagnostic: the exception that escaped, located in user code, with the
/// exception that started it mentioned because that is usually the real cause.
fn emit(chain: &mut Vec<Exception>, sink: &mut Sink) {
    let Some(last) = chain.last() else { return };
    let frame = chain.iter().rev().find_map(|e| e.frames.iter().rev().find(|f| !is_library(f.file))).or_else(|| last.frames.last());
    let loc = frame.map_or_else(Loc::default, |f| Loc::new(f.file, f.line, None));
    let mut message = if last.message.trim().is_empty() { last.ty.to_string() } else { last.message.to_string() };
    if chain.len() > 1 {
        let first = &chain[0];
        message.push_str(&format!(" (from {}", first.ty));
        if !first.message.is_empty() {
            message.push_str(&format!(": {}", super::truncate_chars(first.message, 60)));
        }
        message.push(')');
    }
    sink.error(last.pos, format!("python {}", last.ty), loc, &message);
    chain.clear();
}
