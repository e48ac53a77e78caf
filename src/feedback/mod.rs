//! Execution-aware feedback: structured failures parsed from command output.
//!
//! The output of a `run` call is untrusted text from any tool, so every parser is a tolerant,
//! line-oriented recogniser: it looks for the shapes a tool prints and ignores everything else.
//! Each parser family lives in its own file and reports into a shared [`Sink`]; [`analyze`]
//! then orders, de-duplicates and caps what they found.
//!
//! Warnings (rustc, C compilers, eslint) are collected but kept only when the output shows no
//! error and no failing test: once something is broken they are noise that pushes the real
//! problem out of the model's summary.

mod go;
mod js;
mod lint;
mod pytest;
mod python;
pub mod quality;
mod rust;
pub mod sandbox;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;

use crate::protocol::{Diagnostic, Feedback, TestCounts};

/// Enough to show every distinct problem of a bad build without flooding the event log.
const MAX_DIAGNOSTICS: usize = 50;
const MAX_FAILING: usize = 200;
const MAX_MESSAGE_CHARS: usize = 300;
/// Parsers only look at the start of very long lines (minified code, JSON blobs): nothing a
/// test runner or compiler prints as a header is that long, and it keeps the regexes cheap.
const MAX_LINE_BYTES: usize = 4096;

const RENDER_DIAGNOSTICS: usize = 10;
const RENDER_FAILING: usize = 10;
const RENDER_MESSAGE_CHARS: usize = 160;
const RENDER_TEST_CHARS: usize = 100;

static ANSI_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])"));

/// Compiles a static pattern. The patterns are literals, so failure is a programming error that
/// the first test run reveals.
fn re(pattern: &str) -> Regex {
    match Regex::new(pattern) {
        Ok(r) => r,
        Err(e) => panic!("bad feedback regex {pattern}: {e}"),
    }
}

/// Parses everything the parsers recognise in `output`.
pub fn analyze(output: &str) -> Feedback {
    let text: Cow<str> = if output.contains('\x1b') { ANSI_RE.replace_all(output, "") } else { Cow::Borrowed(output) };
    let lines: Vec<&str> = text.split('\n').map(visible_line).collect();
    let mut sink = Sink::default();
    python::parse(&lines, &mut sink);
    pytest::parse_pytest(&lines, &mut sink);
    pytest::parse_unittest(&lines, &mut sink);
    rust::parse(&lines, &mut sink);
    go::parse(&lines, &mut sink);
    js::parse(&lines, &mut sink);
    lint::parse(&lines, &mut sink);
    let mut fb = sink.finish();
    fb.coverage = quality::coverage(&lines);
    fb.lint_problems = quality::lint_problems(&lines);
    // A score only means something for a run that tested; a lint-only run keeps its count.
    fb.quality = fb.tests.and_then(|t| quality::quality_score(t, fb.coverage, fb.lint_problems));
    fb
}

/// What a terminal would show of one line: progress bars rewrite a line with `\r`, so only the
/// text after the last carriage return survives.
fn visible_line(line: &str) -> &str {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let line = match line.rfind('\r') {
        Some(i) => &line[i + 1..],
        None => line,
    };
    truncate_bytes(line, MAX_LINE_BYTES)
}

fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn truncate_chars(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((i, _)) => Cow::Owned(format!("{}…", s[..i].trim_end())),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Severity {
    Error,
    Warning,
}

/// Where a diagnostic points; every part is optional because many tools omit some.
#[derive(Debug, Clone, Copy, Default)]
struct Loc<'a> {
    file: Option<&'a str>,
    line: Option<u32>,
    col: Option<u32>,
}

impl<'a> Loc<'a> {
    fn new(file: &'a str, line: &str, col: Option<&str>) -> Self {
        Loc { file: Some(file), line: line.parse().ok(), col: col.and_then(|c| c.parse().ok()) }
    }
}

struct Found {
    /// Index of the line the diagnostic was reported at, so that the merged list follows the
    /// order of the output whichever parser found it.
    pos: usize,
    severity: Severity,
    diag: Diagnostic,
}

#[derive(Default)]
struct Sink {
    found: Vec<Found>,
    failing: Vec<(usize, String)>,
    counts: Option<TestCounts>,
}

impl Sink {
    fn error(&mut self, pos: usize, kind: impl Into<String>, loc: Loc, message: &str) {
        self.push(pos, Severity::Error, kind.into(), loc, message);
    }

    fn warning(&mut self, pos: usize, kind: impl Into<String>, loc: Loc, message: &str) {
        self.push(pos, Severity::Warning, kind.into(), loc, message);
    }

    fn push(&mut self, pos: usize, severity: Severity, kind: String, loc: Loc, message: &str) {
        let file = loc.file.map(str::trim).filter(|f| !f.is_empty()).map(str::to_string);
        let message = truncate_chars(message.trim(), MAX_MESSAGE_CHARS).into_owned();
        let diag = Diagnostic { kind, file, line: loc.line, col: loc.col, message };
        self.found.push(Found { pos, severity, diag });
    }

    fn failing(&mut self, pos: usize, name: &str) {
        let name = name.trim();
        if !name.is_empty() {
            self.failing.push((pos, name.to_string()));
        }
    }

    /// Several runs (one per test binary, package or framework) add up.
    fn add_counts(&mut self, passed: u32, failed: u32, skipped: u32) {
        let c = self.counts.get_or_insert_with(TestCounts::default);
        c.passed = c.passed.saturating_add(passed);
        c.failed = c.failed.saturating_add(failed);
        c.skipped = c.skipped.saturating_add(skipped);
    }

    fn finish(mut self) -> Feedback {
        self.found.sort_by_key(|f| f.pos);
        self.failing.sort_by_key(|f| f.0);
        let broken = !self.failing.is_empty()
            || self.counts.is_some_and(|c| c.failed > 0)
            || self.found.iter().any(|f| f.severity == Severity::Error);
        let mut seen = HashSet::new();
        let diagnostics = self
            .found
            .into_iter()
            .filter(|f| f.severity == Severity::Error || !broken)
            .map(|f| f.diag)
            .filter(|d| seen.insert((d.file.clone(), d.line, d.message.clone())))
            .take(MAX_DIAGNOSTICS)
            .collect();
        let mut seen = HashSet::new();
        let failing_tests =
            self.failing.into_iter().map(|f| f.1).filter(|n| seen.insert(n.clone())).take(MAX_FAILING).collect();
        Feedback { diagnostics, failing_tests, tests: self.counts, ..Feedback::default() }
    }
}

/// Whether a kind names a warning; warnings are reported with a ` warning` suffix so that the
/// severity survives in the shared `Diagnostic`, which has no field for it.
fn split_kind(kind: &str) -> (&'static str, &str) {
    match kind.strip_suffix(" warning") {
        Some(tool) => ("warning", tool),
        None if kind == "warning" => ("warning", kind),
        None => ("error", kind),
    }
}

/// The compact block that leads a `run` result given to the model. Empty when nothing was found.
pub fn render(fb: &Feedback) -> String {
    if fb.is_empty() {
        return String::new();
    }
    let mut head = String::new();
    if let Some(t) = fb.tests {
        let _ = write!(head, "tests: {} passed, {} failed", t.passed, t.failed);
        if t.skipped > 0 {
            let _ = write!(head, ", {} skipped", t.skipped);
        }
    } else {
        let errors = fb.diagnostics.iter().filter(|d| split_kind(&d.kind).0 == "error").count();
        let warnings = fb.diagnostics.len() - errors;
        let mut parts = Vec::new();
        if errors > 0 {
            parts.push(plural(errors, "error"));
        }
        if warnings > 0 {
            parts.push(plural(warnings, "warning"));
        }
        if !fb.failing_tests.is_empty() {
            parts.push(plural(fb.failing_tests.len(), "failing test"));
        }
        head = parts.join(", ");
    }
    let mut first: Vec<String> = Vec::new();
    if !head.is_empty() {
        first.push(head);
    }
    if let Some(c) = fb.coverage {
        first.push(format!("coverage {}%", trim_number(c)));
    }
    if let Some(n) = fb.lint_problems {
        first.push(format!("lint {n}"));
    }
    if let Some(q) = fb.quality {
        first.push(format!("quality {}/100", q.round()));
    }
    let mut out = format!("[feedback] {}\n", first.join(" · "));

    if !fb.failing_tests.is_empty() {
        let shown: Vec<Cow<str>> =
            fb.failing_tests.iter().take(RENDER_FAILING).map(|t| truncate_chars(t, RENDER_TEST_CHARS)).collect();
        let _ = write!(out, "failing: {}", shown.join(", "));
        if fb.failing_tests.len() > RENDER_FAILING {
            let _ = write!(out, " … and {} more", fb.failing_tests.len() - RENDER_FAILING);
        }
        out.push('\n');
    }

    for d in fb.diagnostics.iter().take(RENDER_DIAGNOSTICS) {
        let (severity, tool) = split_kind(&d.kind);
        let message = d.message.lines().next().unwrap_or("");
        let message = truncate_chars(message, RENDER_MESSAGE_CHARS);
        let _ = write!(out, "{severity} ({tool})");
        if let Some(file) = &d.file {
            let _ = write!(out, " {file}");
            if let Some(line) = d.line {
                let _ = write!(out, ":{line}");
                if let Some(col) = d.col {
                    let _ = write!(out, ":{col}");
                }
            }
        }
        let _ = writeln!(out, ": {message}");
    }
    if fb.diagnostics.len() > RENDER_DIAGNOSTICS {
        let _ = writeln!(out, "… and {} more diagnostics", fb.diagnostics.len() - RENDER_DIAGNOSTICS);
    }
    out
}

/// A percentage as tools print it: `82`, `81.2`, never `81.20000001`.
fn trim_number(x: f64) -> String {
    let s = format!("{:.1}", x);
    s.strip_suffix(".0").map_or_else(|| s.clone(), str::to_string)
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}
