//! The `[feedback]` block that leads a `run` result given to the model.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::{ANSI_RE, is_warning, split_kind, truncate_chars, visible_line};
use crate::protocol::{Diagnostic, Feedback};

const RENDER_ERRORS: usize = 10;
const RENDER_WARNINGS: usize = 10;
/// Beside errors, a few warnings: enough to show a likely cause.
const RENDER_WARNINGS_WHEN_BROKEN: usize = 5;
const RENDER_FAILING: usize = 10;
const RENDER_MESSAGE_CHARS: usize = 160;
const RENDER_TEST_CHARS: usize = 100;
/// Lines of unrecognised output repeated in the block: about a screenful of a tool's summary.
const RENDER_TAIL_LINES: usize = 15;
const RENDER_TAIL_CHARS: usize = 200;

/// The compact block for what the parsers found. Empty when nothing was found.
pub fn render(fb: &Feedback) -> String {
    if fb.is_empty() {
        return String::new();
    }
    let (errors, warnings): (Vec<&Diagnostic>, Vec<&Diagnostic>) = fb.diagnostics.iter().partition(|d| !is_warning(d));
    let error_total = errors.len() + fb.omitted.errors as usize;
    let warning_total = warnings.len() + fb.omitted.warnings as usize;
    let failing_total = fb.failing_tests.len() + fb.omitted.failing_tests as usize;

    let mut head = String::new();
    match (fb.tests, &fb.tests_unknown) {
        (Some(t), unknown) => {
            let _ = write!(head, "tests: {} passed, {} failed", t.passed, t.failed);
            if t.skipped > 0 {
                let _ = write!(head, ", {} skipped", t.skipped);
            }
            if let Some(why) = unknown {
                let _ = write!(head, " (incomplete: {why})");
            }
        }
        (None, Some(why)) => {
            let _ = write!(head, "tests: counts unknown ({why})");
            if failing_total > 0 {
                let _ = write!(head, "; {}", plural(failing_total, "failing test"));
            }
        }
        (None, None) => {
            let mut parts = Vec::new();
            if error_total > 0 {
                parts.push(plural(error_total, "error"));
            }
            if warning_total > 0 {
                parts.push(plural(warning_total, "warning"));
            }
            if failing_total > 0 {
                parts.push(plural(failing_total, "failing test"));
            }
            head = parts.join(", ");
        }
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

    if failing_total > 0 {
        let shown: Vec<Cow<str>> = fb.failing_tests.iter().take(RENDER_FAILING).map(|t| truncate_chars(t, RENDER_TEST_CHARS)).collect();
        let _ = write!(out, "failing: {}", shown.join(", "));
        if failing_total > shown.len() {
            let _ = write!(out, " … and {} more", failing_total - shown.len());
        }
        out.push('\n');
    }

    // Errors first: in compiler output warnings often come first and would push them out.
    list(&mut out, &errors, RENDER_ERRORS, error_total, "errors");
    let broken = error_total > 0 || failing_total > 0 || fb.tests.is_some_and(|t| t.failed > 0);
    let cap = if broken { RENDER_WARNINGS_WHEN_BROKEN } else { RENDER_WARNINGS };
    list(&mut out, &warnings, cap, warning_total, "warnings");
    out
}

fn list(out: &mut String, diags: &[&Diagnostic], cap: usize, total: usize, what: &str) {
    for d in diags.iter().take(cap) {
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
    let shown = diags.len().min(cap);
    if total > shown {
        let _ = writeln!(out, "… and {} more {what}", total - shown);
    }
}

/// The block for a command's result. When the command failed and nothing in `fb` says why, the
/// block says so and repeats the output's last lines, so that the model is never told less than
/// the raw output would have told it.
pub fn render_for_run(fb: &Feedback, output: &str, failed: bool) -> String {
    let mut out = render(fb);
    if !failed || shows_a_failure(fb) {
        return out;
    }
    let text = ANSI_RE.replace_all(output, "");
    let lines: Vec<&str> = text.split('\n').map(visible_line).collect();
    let end = lines.iter().rposition(|l| !l.trim().is_empty()).map_or(0, |i| i + 1);
    let start = end.saturating_sub(RENDER_TAIL_LINES);
    // Without output there is nothing to repeat; the exit status below says the rest.
    if end == 0 {
        return out;
    }
    out.push_str("[feedback] the command failed and no parser recognised why; its last lines:\n");
    for line in &lines[start..end] {
        let _ = writeln!(out, "  | {}", truncate_chars(line.trim_end(), RENDER_TAIL_CHARS));
    }
    out
}

/// Whether the feedback names something broken: an error, a failing test or a failed count.
fn shows_a_failure(fb: &Feedback) -> bool {
    fb.diagnostics.iter().any(|d| !is_warning(d))
        || !fb.failing_tests.is_empty()
        || fb.tests.is_some_and(|t| t.failed > 0)
        || fb.omitted.errors > 0
        || fb.omitted.failing_tests > 0
}

/// A percentage as tools print it: `82`, `81.2`, never `81.20000001`.
fn trim_number(x: f64) -> String {
    let s = format!("{:.1}", x);
    s.strip_suffix(".0").map_or_else(|| s.clone(), str::to_string)
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}
