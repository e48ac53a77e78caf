//! Python test runners: pytest (summary, `FAILED` lines, the failure sections) and unittest.

use std::sync::LazyLock;

use regex::Regex;

use super::python::{EXC_RE, FRAME_RE, Frame, is_library};
use super::{Loc, Sink, re};

static SUMMARY_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^=*\s*((?:\d+ [a-z]+(?: [a-z]+)?(?:, )?)+|no tests ran) in \d+(?:\.\d+)?s(?: \([0-9:.]+\))?\s*=*\s*$"));
/// `3 failed`; subtest tallies (`1 subtests passed`) are not tests and are left out.
static ITEM_RE: LazyLock<Regex> = LazyLock::new(|| re(r"(\d+) ([a-z]+(?: [a-z]+)?)"));
/// `FAILED id - msg` from the short summary; xdist prefixes the worker and progress. The id must
/// start with a file name so that log lines such as `ERROR connection refused` stay out.
/// A failed subtest is `SUBFAILED(params) id`; its test is what can be rerun, so the id is kept.
static FAILED_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?:\[gw\d+\] \[\s*\d+%\] )?(?:FAILED|ERROR|SUBFAILED(?:\(.*?\))?) ([^\s(]+?\.\w+(?:::\S+)?)(?: - .*)?$"));
/// `-v` progress lines: `tests/test_x.py::test_y FAILED  [ 50%]`.
static VERBOSE_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\S+::\S+) (?:FAILED|ERROR)\b"));
static SECTION_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^=+ (.+?) =+$"));
static TEST_HEADER_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^_{3,} .+? _{3,}$"));
static LOC_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\S+?\.pyx?):(\d+):(?: (.*))?$"));
static E_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^E(?:\s+(.*))?$"));
static EXC_NAME_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:[A-Za-z_]\w*\.)*[A-Z]\w*$"));

static UT_HEADER_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:FAIL|ERROR|UNEXPECTED SUCCESS): (\S+) \(([^)\s]*)\)"));
static RAN_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^Ran (\d+) tests? in "));
static RESULT_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:OK|FAILED)(?: \((.*)\))?\s*$"));
static KV_RE: LazyLock<Regex> = LazyLock::new(|| re(r"([a-z ]+)=(\d+)"));

/// What one test's section of the failure report has shown so far.
#[derive(Default)]
struct Block<'a> {
    frames: Vec<Frame<'a>>,
    /// The `E   ` lines: pytest's rendering of the exception.
    e_lines: Vec<&'a str>,
    last_pos: usize,
}

/// A bound on remembered `E` lines; huge assertion diffs add nothing past the first lines.
const MAX_E_LINES: usize = 40;

pub(super) fn parse_pytest(lines: &[&str], sink: &mut Sink) {
    let mut in_failures = false;
    let mut block = Block::default();
    for (i, &line) in lines.iter().enumerate() {
        if let Some(c) = SUMMARY_RE.captures(line) {
            flush(&mut block, sink);
            in_failures = false;
            summary(c.get(1).map_or("", |m| m.as_str()), sink);
            continue;
        }
        if let Some(c) = FAILED_RE.captures(line).or_else(|| VERBOSE_RE.captures(line)) {
            sink.failing(i, c.get(1).map_or("", |m| m.as_str()));
            continue;
        }
        if let Some(c) = SECTION_RE.captures(line) {
            flush(&mut block, sink);
            let name = c.get(1).map_or("", |m| m.as_str());
            in_failures = name == "FAILURES" || name == "ERRORS";
            continue;
        }
        if !in_failures {
            continue;
        }
        if TEST_HEADER_RE.is_match(line) {
            flush(&mut block, sink);
        } else if let Some(c) = E_RE.captures(line) {
            let text = c.get(1).map_or("", |m| m.as_str());
            if let Some(f) = FRAME_RE.captures(text) {
                // A SyntaxError quoted by pytest names the offending file inside the E lines.
                if let (Some(file), Some(n)) = (f.get(1), f.get(2)) {
                    block.frames.push(Frame { file: file.as_str(), line: n.as_str() });
                }
            }
            if block.e_lines.len() < MAX_E_LINES {
                block.e_lines.push(text);
            }
            block.last_pos = i;
        } else if let Some(c) = LOC_RE.captures(line) {
            let (Some(file), Some(n)) = (c.get(1), c.get(2)) else { continue };
            let rest = c.get(3).map_or("", |m| m.as_str().trim());
            let frame = Frame { file: file.as_str(), line: n.as_str() };
            if rest.is_empty() || rest.starts_with("in ") {
                block.frames.push(frame);
                block.last_pos = i;
            } else if EXC_NAME_RE.is_match(rest) {
                block.frames.push(frame);
                block.last_pos = i;
                report(&mut block, Some(rest), sink);
            } else {
                // `--tb=line` prints the assertion's `E` lines before its one location line.
                line_style(i, frame, rest, sink);
                block.e_lines.clear();
                block.frames.clear();
            }
        }
    }
    flush(&mut block, sink);
}

fn summary(items: &str, sink: &mut Sink) {
    let (mut passed, mut failed, mut skipped) = (0u32, 0u32, 0u32);
    for c in ITEM_RE.captures_iter(items) {
        let n: u32 = c.get(1).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
        match c.get(2).map_or("", |m| m.as_str()) {
            "passed" | "xpassed" => passed = passed.saturating_add(n),
            "failed" | "error" | "errors" => failed = failed.saturating_add(n),
            // An expected failure is neither a pass nor something to fix.
            "skipped" | "xfailed" => skipped = skipped.saturating_add(n),
            _ => {}
        }
    }
    sink.add_counts(passed, failed, skipped);
}

/// `--tb=line` prints one `path:line: message` per failure.
fn line_style(pos: usize, frame: Frame, rest: &str, sink: &mut Sink) {
    let loc = Loc::new(frame.file, frame.line, None);
    match EXC_RE.captures(rest) {
        Some(c) if c.get(2).is_some() => {
            let ty = c.get(1).map_or("", |m| m.as_str());
            sink.error(pos, format!("python {ty}"), loc, c.get(2).map_or("", |m| m.as_str()));
        }
        _ if rest.starts_with("assert ") => sink.error(pos, "python AssertionError", loc, rest),
        _ => sink.error(pos, "pytest", loc, rest),
    }
}

/// A test section ended. `--tb=short` and collection errors never print the final
/// `path:line: ExcType` line, so whatever was gathered is reported here.
fn flush(block: &mut Block, sink: &mut Sink) {
    if !block.e_lines.is_empty() {
        report(block, None, sink);
    }
    *block = Block::default();
}

fn report(block: &mut Block, ty: Option<&str>, sink: &mut Sink) {
    let (found_ty, message) = exception_text(&block.e_lines, ty);
    let ty = ty
        .or(found_ty)
        .unwrap_or_else(|| if block.e_lines.first().is_some_and(|l| l.starts_with("assert ")) { "AssertionError" } else { "Exception" });
    let frame = block.frames.iter().rev().find(|f| !is_library(f.file)).or_else(|| block.frames.last());
    let loc = frame.map_or_else(Loc::default, |f| Loc::new(f.file, f.line, None));
    let message = if message.is_empty() { ty } else { message };
    sink.error(block.last_pos, format!("python {ty}"), loc, message);
    block.frames.clear();
    block.e_lines.clear();
}

/// The exception type and the most useful message line among pytest's `E` lines: the
/// `ExcType: message` line when there is one, otherwise the first line (an assertion).
fn exception_text<'a>(e_lines: &[&'a str], ty: Option<&str>) -> (Option<&'a str>, &'a str) {
    for line in e_lines.iter().rev() {
        let Some(c) = EXC_RE.captures(line.trim()) else { continue };
        let (Some(name), Some(msg)) = (c.get(1), c.get(2)) else { continue };
        let name = name.as_str();
        let short = name.rsplit('.').next().unwrap_or(name);
        let matches_ty = ty.is_none_or(|t| t == name || t.ends_with(short));
        if EXC_NAME_RE.is_match(name) && matches_ty {
            return (Some(name), msg.as_str());
        }
    }
    let first = e_lines.iter().map(|l| l.trim()).find(|l| !l.is_empty()).unwrap_or("");
    (None, first)
}

/// unittest's summary counts failure reports, and each failed subtest is a report of its own:
/// `Ran 4 tests … FAILED (failures=3, errors=1)` can mean one test passed. The failing tests are
/// therefore counted from the report headers, which name the test, once per test.
pub(super) fn parse_unittest(lines: &[&str], sink: &mut Sink) {
    // Test ids of the report headers since the previous summary, one per report.
    let mut reports: Vec<String> = Vec::new();
    for (i, &line) in lines.iter().enumerate() {
        if line.starts_with("FAIL") || line.starts_with("ERROR") || line.starts_with("UNEXPECTED") {
            // The separator guard keeps log lines that happen to start with `ERROR:` out.
            let after_separator = i > 0 && lines[i - 1].len() >= 20 && lines[i - 1].bytes().all(|b| b == b'=');
            if let Some(c) = UT_HEADER_RE.captures(line).filter(|_| after_separator) {
                let name = c.get(1).map_or("", |m| m.as_str());
                let id = c.get(2).map_or("", |m| m.as_str());
                // Python 3.11+ prints the full id in the parentheses, older versions the class.
                let id = if id == name || id.ends_with(&format!(".{name}")) { id.to_string() } else { format!("{id}.{name}") };
                sink.failing(i, &id);
                reports.push(id);
            }
            continue;
        }
        let Some(c) = RAN_RE.captures(line) else { continue };
        let ran: u32 = c.get(1).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
        let reported = std::mem::take(&mut reports);
        for next in lines.iter().skip(i + 1).take(4) {
            if next.starts_with("NO TESTS RAN") {
                sink.add_counts(0, 0, 0);
                break;
            }
            let Some(r) = RESULT_RE.captures(next) else { continue };
            let (mut failure_reports, mut skipped) = (0u32, 0u32);
            for kv in KV_RE.captures_iter(r.get(1).map_or("", |m| m.as_str())) {
                let n: u32 = kv.get(2).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
                match kv.get(1).map_or("", |m| m.as_str().trim()) {
                    "failures" | "errors" | "unexpected successes" => failure_reports = failure_reports.saturating_add(n),
                    "skipped" | "expected failures" => skipped = skipped.saturating_add(n),
                    _ => {}
                }
            }
            if reported.len() as u64 != u64::from(failure_reports) {
                // Some reports are missing (the output was cut): how many tests they cover is
                // not knowable.
                sink.counts_unknown(format!(
                    "unittest reported {failure_reports} failures and errors, but only {} are in the output",
                    reported.len()
                ));
                break;
            }
            let mut ids: Vec<&String> = reported.iter().collect();
            ids.sort();
            ids.dedup();
            let failed = u32::try_from(ids.len()).unwrap_or(u32::MAX);
            let passed = ran.saturating_sub(failed).saturating_sub(skipped);
            sink.add_counts(passed, failed, skipped);
            break;
        }
    }
}
