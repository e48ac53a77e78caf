//! rustc/cargo/clippy diagnostics and `cargo test` results.

use std::sync::LazyLock;

use regex::Regex;

use super::{Loc, Sink, re};

static HEADER_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(error|warning)(?:\[([A-Z]\d{4})\])?: (.+)$"));
static ARROW_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*--> (.+?):(\d+):(\d+)\s*$"));
static TEST_FAILED_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^test (.+?) \.\.\. FAILED\b"));
static RESULT_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored"));
/// Rust ≥ 1.73 puts the message on the following lines; recent versions add the thread id.
static PANIC_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^thread '.*?'(?: \(\d+\))? panicked at (.+?):(\d+):(\d+):$"));
/// Rust < 1.73: `panicked at 'message', src/lib.rs:10:5`.
static PANIC_OLD_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^thread '.*?'(?: \(\d+\))? panicked at '(.*)', (.+?):(\d+):(\d+)$"));

/// How many lines after a header rustc may put the ` --> file:line:col` line.
const ARROW_LOOKAHEAD: usize = 2;
/// Panic messages can be long (`Debug` dumps); a few lines carry the point.
const PANIC_MESSAGE_LINES: usize = 4;

pub(super) fn parse(lines: &[&str], sink: &mut Sink) {
    for (i, &line) in lines.iter().enumerate() {
        if line.starts_with("error") || line.starts_with("warning") {
            header(lines, i, sink);
        } else if line.starts_with("test ") {
            if let Some(c) = TEST_FAILED_RE.captures(line) {
                sink.failing(i, c.get(1).map_or("", |m| m.as_str()));
            } else if let Some(c) = RESULT_RE.captures(line) {
                let n = |k: usize| c.get(k).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
                sink.add_counts(n(1), n(2), n(3));
            }
        } else if line.starts_with("thread '") {
            panic(lines, i, sink);
        }
    }
}

fn header(lines: &[&str], i: usize, sink: &mut Sink) {
    let Some(c) = HEADER_RE.captures(lines[i]) else { return };
    let warning = c.get(1).is_some_and(|m| m.as_str() == "warning");
    let code = c.get(2).map(|m| m.as_str());
    let message = c.get(3).map_or("", |m| m.as_str());
    let arrow = lines.iter().skip(i + 1).take(ARROW_LOOKAHEAD).find_map(|l| ARROW_RE.captures(l));
    let loc = match &arrow {
        Some(a) => Loc::new(a.get(1).map_or("", |m| m.as_str()), a.get(2).map_or("", |m| m.as_str()), a.get(3).map(|m| m.as_str())),
        // Located nowhere and uncoded, these are cargo's summaries (`could not compile`,
        // `aborting due to`, `N warnings emitted`), which repeat what the located ones said.
        None if code.is_none() => return,
        None => Loc::default(),
    };
    if warning {
        sink.warning(i, "rustc warning", loc, message);
    } else {
        sink.error(i, code.map_or_else(|| "rustc".to_string(), |c| format!("rustc {c}")), loc, message);
    }
}

fn panic(lines: &[&str], i: usize, sink: &mut Sink) {
    let line = lines[i];
    if let Some(c) = PANIC_RE.captures(line) {
        let get = |k: usize| c.get(k).map_or("", |m| m.as_str());
        let message: Vec<&str> = lines
            .iter()
            .skip(i + 1)
            .take_while(|l| !l.trim().is_empty() && !l.starts_with("note: ") && !l.starts_with("stack backtrace:"))
            .take(PANIC_MESSAGE_LINES)
            .map(|l| l.trim())
            .collect();
        let message = if message.is_empty() { "panicked".to_string() } else { message.join("; ") };
        sink.error(i, "rust panic", Loc::new(get(1), get(2), Some(get(3))), &message);
    } else if let Some(c) = PANIC_OLD_RE.captures(line) {
        let get = |k: usize| c.get(k).map_or("", |m| m.as_str());
        sink.error(i, "rust panic", Loc::new(get(2), get(3), Some(get(4))), get(1));
    }
}
