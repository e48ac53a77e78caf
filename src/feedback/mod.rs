//! Execution-aware feedback: structured failures parsed from command output.
//!
//! The output of a `run` call is untrusted text from any tool, so every parser is a tolerant,
//! line-oriented recogniser: it looks for the shapes a tool prints and ignores everything else.
//! Each parser family lives in its own file and reports into a shared [`Sink`]; [`analyze_in`]
//! then orders, de-duplicates and caps what they found, and makes locations relative to the
//! workspace.
//!
//! Nothing is guessed: counts a tool did not print are reported as unknown
//! (`Feedback::tests_unknown`), and whatever the caps leave out is counted (`Feedback::omitted`).
//! Warnings are kept, fewer of them, when something is broken: they are often the cause.

mod cc;
mod ctest;
mod dotnet;
mod go;
mod java;
mod js;
mod lint;
mod mocha;
mod node_test;
mod php;
mod pytest;
mod python;
pub mod quality;
mod render;
mod ruby;
mod rust;
pub mod sandbox;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

use crate::protocol::{Diagnostic, Feedback, Omitted, TestCounts};

pub use render::{render, render_for_run};

/// Enough to show every distinct problem of a bad build without flooding the event log.
const MAX_DIAGNOSTICS: usize = 50;
/// Warnings kept beside errors or failing tests: enough to show a cause, few enough not to
/// push the errors out.
const MAX_WARNINGS_WHEN_BROKEN: usize = 10;
const MAX_FAILING: usize = 500;
const MAX_MESSAGE_CHARS: usize = 300;
/// Parsers only look at the start of very long lines (minified code, JSON blobs): nothing a
/// test runner or compiler prints as a header is that long, and it keeps the regexes cheap.
const MAX_LINE_BYTES: usize = 4096;

static ANSI_RE: LazyLock<Regex> = LazyLock::new(|| re(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])"));

/// Compiles a static pattern. The patterns are literals, so failure is a programming error that
/// the first test run reveals.
fn re(pattern: &str) -> Regex {
    match Regex::new(pattern) {
        Ok(r) => r,
        Err(e) => panic!("bad feedback regex {pattern}: {e}"),
    }
}

/// Where a command ran, so that locations can be given relative to the workspace.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The directory the command ran in, spelled as the tool spells it in absolute paths.
    pub root: Option<PathBuf>,
    /// Where the workspace's files can be read: `go.mod` names the module whose packages
    /// `go test` reports, and Java stack frames name classes, not files. The same directory as
    /// `root` in a session.
    pub tree: Option<PathBuf>,
}

impl Context {
    pub fn workspace(root: &Path) -> Self {
        Context { root: Some(root.to_path_buf()), tree: Some(root.to_path_buf()) }
    }

    /// A workspace file, when it exists. Only paths the parsers build from a tool's output come
    /// here, and they are checked to stay inside the tree.
    fn existing(&self, relative: &str) -> Option<String> {
        let tree = self.tree.as_ref()?;
        let safe = Path::new(relative).components().all(|c| matches!(c, std::path::Component::Normal(_)));
        (safe && tree.join(relative).is_file()).then(|| relative.to_string())
    }

    /// The text of a small workspace file: a manifest such as `go.mod`.
    fn read_small(&self, relative: &str) -> Option<String> {
        let path = self.tree.as_ref()?.join(relative);
        let meta = std::fs::metadata(&path).ok()?;
        // A manifest is small; anything else is not what was asked for.
        if meta.len() > 64 * 1024 {
            return None;
        }
        std::fs::read_to_string(path).ok()
    }

    /// A location as the workspace knows it: `file://` and the workspace's own absolute prefix
    /// removed, `./` dropped.
    fn relative(&self, file: &str) -> String {
        let file = file.trim();
        let file = file.strip_prefix("file://").unwrap_or(file);
        let mut rel = file;
        if let Some(root) = self.root.as_ref().and_then(|r| r.to_str()) {
            let root = root.trim_end_matches('/');
            if let Some(rest) = file.strip_prefix(root).and_then(|r| r.strip_prefix('/')) {
                rel = rest;
            }
        }
        while let Some(rest) = rel.strip_prefix("./") {
            rel = rest;
        }
        rel.to_string()
    }
}

/// Parses everything the parsers recognise in `output`, with no workspace to resolve locations
/// against.
pub fn analyze(output: &str) -> Feedback {
    analyze_in(output, &Context::default())
}

/// Parses everything the parsers recognise in `output` of a command that ran in `ctx`.
pub fn analyze_in(output: &str, ctx: &Context) -> Feedback {
    let text: Cow<str> = if output.contains('\x1b') { ANSI_RE.replace_all(output, "") } else { Cow::Borrowed(output) };
    let lines: Vec<&str> = text.split('\n').map(visible_line).collect();
    let mut sink = Sink::new(ctx);
    python::parse(&lines, &mut sink);
    pytest::parse_pytest(&lines, &mut sink);
    pytest::parse_unittest(&lines, &mut sink);
    rust::parse(&lines, &mut sink);
    go::parse(&lines, &mut sink);
    js::parse(&lines, &mut sink);
    node_test::parse(&lines, &mut sink);
    mocha::parse(&lines, &mut sink);
    ruby::parse(&lines, &mut sink);
    php::parse(&lines, &mut sink);
    java::parse(&lines, &mut sink);
    dotnet::parse(&lines, &mut sink);
    ctest::parse(&lines, &mut sink);
    cc::parse(&lines, &mut sink);
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

/// What the parsers report into.
struct Sink<'c> {
    ctx: &'c Context,
    found: Vec<Found>,
    failing: Vec<(usize, String)>,
    counts: Option<TestCounts>,
    unknown: Vec<String>,
}

impl<'c> Sink<'c> {
    fn new(ctx: &'c Context) -> Self {
        Sink { ctx, found: Vec::new(), failing: Vec::new(), counts: None, unknown: Vec::new() }
    }

    fn error(&mut self, pos: usize, kind: impl Into<String>, loc: Loc, message: &str) {
        self.push(pos, Severity::Error, kind.into(), loc, message);
    }

    fn warning(&mut self, pos: usize, kind: impl Into<String>, loc: Loc, message: &str) {
        self.push(pos, Severity::Warning, kind.into(), loc, message);
    }

    fn push(&mut self, pos: usize, severity: Severity, kind: String, loc: Loc, message: &str) {
        let file = loc.file.map(|f| self.ctx.relative(f)).filter(|f| !f.is_empty());
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

    /// Tests ran but the output does not say how many passed, or not for all of them.
    fn counts_unknown(&mut self, why: impl Into<String>) {
        let why = why.into();
        if !self.unknown.contains(&why) {
            self.unknown.push(why);
        }
    }

    fn finish(mut self) -> Feedback {
        self.found.sort_by_key(|f| f.pos);
        self.failing.sort_by_key(|f| f.0);
        let broken = !self.failing.is_empty()
            || self.counts.is_some_and(|c| c.failed > 0)
            || self.found.iter().any(|f| f.severity == Severity::Error);
        let mut seen = HashSet::new();
        let mut found: Vec<Found> =
            self.found.into_iter().filter(|f| seen.insert((f.diag.file.clone(), f.diag.line, f.diag.message.clone()))).collect();
        drop_restatements(&mut found);
        let mut omitted = Omitted::default();
        let (mut errors, mut warnings) = (0usize, 0usize);
        let warning_cap = if broken { MAX_WARNINGS_WHEN_BROKEN } else { MAX_DIAGNOSTICS };
        let mut diagnostics = Vec::new();
        for f in found {
            let (kept, cap, left_out) = match f.severity {
                Severity::Error => (&mut errors, MAX_DIAGNOSTICS, &mut omitted.errors),
                Severity::Warning => (&mut warnings, warning_cap, &mut omitted.warnings),
            };
            if *kept < cap {
                *kept += 1;
                diagnostics.push(f.diag);
            } else {
                *left_out = left_out.saturating_add(1);
            }
        }
        let mut seen = HashSet::new();
        let mut failing_tests = Vec::new();
        for (_, name) in self.failing {
            if !seen.insert(name.clone()) {
                continue;
            }
            if failing_tests.len() < MAX_FAILING {
                failing_tests.push(name);
            } else {
                omitted.failing_tests = omitted.failing_tests.saturating_add(1);
            }
        }
        let tests_unknown = (!self.unknown.is_empty()).then(|| self.unknown.join("; "));
        Feedback { diagnostics, failing_tests, tests: self.counts, tests_unknown, omitted, ..Feedback::default() }
    }
}

/// Above this many distinct diagnostics the restatement check (quadratic) is skipped: such
/// output is a flood where one more duplicate changes nothing.
const MAX_RESTATEMENT_CHECK: usize = 500;

/// Two parsers often see the same failure: a test runner's report and the stack trace inside it
/// (jest's `● test` block holds a Node `SyntaxError: …` with its frames). A diagnostic is dropped
/// when another of the same severity says as much: its message contains this one's, and it
/// points at the same place or this one points nowhere.
fn drop_restatements(found: &mut Vec<Found>) {
    if found.len() > MAX_RESTATEMENT_CHECK {
        return;
    }
    let restated = |i: usize| {
        let a = &found[i];
        found.iter().enumerate().any(|(j, b)| {
            let (x, y) = (&a.diag, &b.diag);
            let better_placed = x.file.is_none() && y.file.is_some();
            let same_place = x.file.is_some() && x.file == y.file && x.line == y.line && (x.col.is_none() || x.col == y.col);
            // Of two equally placed ones the longer message stays, or the first of equals.
            let says_more = y.message.len() > x.message.len() || (y.message.len() == x.message.len() && j < i);
            j != i && b.severity == a.severity && (better_placed || same_place && says_more) && y.message.contains(x.message.as_str())
        })
    };
    let drop: Vec<bool> = (0..found.len()).map(restated).collect();
    let mut k = 0;
    found.retain(|_| {
        k += 1;
        !drop[k - 1]
    });
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

fn is_warning(d: &Diagnostic) -> bool {
    split_kind(&d.kind).0 == "warning"
}
