//! `node --test`, with its `tap` reporter (the default without a terminal before Node 23) and
//! its `spec` reporter. Other TAP producers (tape, `tap`) share the `# pass N` summary.
//!
//! In both reporters a `describe` block or a test with subtests fails when one of its children
//! does; only the children are failing tests.

use std::sync::LazyLock;

use regex::Regex;

use super::js::is_user_frame;
use super::{Loc, Sink, re};

/// `# pass 2` (tap) and `ℹ pass 2` (spec).
static SUMMARY_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:#|ℹ) (tests|pass|fail|cancelled|skipped|todo) (\d+)\s*$"));
static TAP_SUBTEST_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\s*)# Subtest: (.+?)\s*$"));
static TAP_NOT_OK_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\s*)not ok \d+(?: - (.+?))?(?:\s+#\s*(SKIP|TODO)\b.*)?\s*$"));
static TAP_KEY_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\s*)(\w+): ?(.*)$"));
/// `✖ name (1.2ms)`; a `# TODO` test may fail without failing the run.
static SPEC_FAIL_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\s*)✖ (.+?)(?: \([\d.]+m?s\))?\s*$"));
static SPEC_SUITE_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\s*)▶ (.+?)\s*$"));
/// A stack line of a TAP diagnostic, which lacks the `at`.
static STACK_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:async )?(?:.*? \()?(?:file://)?([^\s()]+?):(\d+):(\d+)\)?$"));

/// Lines a TAP diagnostic block may take: Node's hold a stack of a dozen frames and the error.
const MAX_YAML_LINES: usize = 200;

pub(super) fn parse(lines: &[&str], sink: &mut Sink) {
    let tap = lines.iter().any(|l| l.starts_with("TAP version") || l.starts_with("# pass ") || l.starts_with("# fail "));
    let spec = lines.iter().any(|l| l.starts_with("ℹ pass ") || l.starts_with("ℹ fail "));
    if !tap && !spec {
        return;
    }
    if tap {
        parse_tap(lines, sink);
    }
    if spec {
        parse_spec(lines, sink);
    }
    counts(lines, sink);
}

fn counts(lines: &[&str], sink: &mut Sink) {
    let (mut pass, mut fail, mut skipped, mut any) = (0u32, 0u32, 0u32, false);
    for line in lines {
        let Some(c) = SUMMARY_RE.captures(line) else { continue };
        let n: u32 = c.get(2).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
        match c.get(1).map_or("", |m| m.as_str()) {
            "pass" => pass = pass.saturating_add(n),
            // A cancelled test (a timeout, a parent that failed first) did not pass either.
            "fail" | "cancelled" => fail = fail.saturating_add(n),
            "skipped" | "todo" => skipped = skipped.saturating_add(n),
            _ => {}
        }
        any = true;
    }
    if any {
        sink.add_counts(pass, fail, skipped);
    }
}

/// The names of the enclosing subtests, by nesting level (four spaces a level).
fn path_name(stack: &[String], depth: usize, name: &str) -> String {
    let mut parts: Vec<&str> = stack.iter().take(depth).map(String::as_str).filter(|s| !s.is_empty()).collect();
    parts.push(name);
    parts.join(" > ")
}

fn parse_tap(lines: &[&str], sink: &mut Sink) {
    let mut stack: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(c) = TAP_SUBTEST_RE.captures(line) {
            let depth = c.get(1).map_or(0, |m| m.as_str().len() / 4);
            stack.truncate(depth);
            stack.resize(depth, String::new());
            stack.push(c.get(2).map_or("", |m| m.as_str()).to_string());
            i += 1;
            continue;
        }
        let Some(c) = TAP_NOT_OK_RE.captures(line) else {
            i += 1;
            continue;
        };
        let indent = c.get(1).map_or(0, |m| m.as_str().len());
        let name = c.get(2).map_or("", |m| m.as_str());
        let directive = c.get(3).is_some();
        let yaml = yaml_block(lines, i + 1, indent);
        let end = yaml.as_ref().map_or(i + 1, |y| y.end);
        if !directive && !yaml.as_ref().is_some_and(|y| y.children_failed) {
            let full = path_name(&stack, indent / 4, name);
            sink.failing(i, &full);
            if let Some(y) = &yaml {
                y.report(i, sink);
            }
        }
        i = end;
    }
}

/// What a failed test's YAML diagnostic block says.
struct Yaml<'a> {
    /// Index of the line after the block.
    end: usize,
    children_failed: bool,
    error_type: Option<&'a str>,
    message: String,
    /// The first stack frame in user code, else the test's own location.
    frame: Option<Loc<'a>>,
    location: Option<Loc<'a>>,
}

impl Yaml<'_> {
    fn report(&self, pos: usize, sink: &mut Sink) {
        let loc = self.frame.or(self.location).unwrap_or_default();
        let kind = self.error_type.map_or_else(|| "node test".to_string(), |t| format!("node {t}"));
        let message = if self.message.is_empty() { "test failed" } else { self.message.as_str() };
        sink.error(pos, kind, loc, message);
    }
}

/// Reads the `  ---` … `  ...` block after a `not ok` line indented by `indent`.
fn yaml_block<'a>(lines: &[&'a str], start: usize, indent: usize) -> Option<Yaml<'a>> {
    let open = lines.get(start)?;
    if open.trim() != "---" {
        return None;
    }
    let key_indent = indent + 2;
    let mut y = Yaml { end: start + 1, children_failed: false, error_type: None, message: String::new(), frame: None, location: None };
    // The key whose multi-line value (`|-`) is being read.
    let mut reading: Option<&str> = None;
    for (j, line) in lines.iter().enumerate().skip(start + 1).take(MAX_YAML_LINES) {
        y.end = j + 1;
        if line.trim() == "..." && line.len() - line.trim_start().len() == key_indent {
            return Some(y);
        }
        let own_indent = line.len() - line.trim_start().len();
        if own_indent > key_indent || line.trim().is_empty() {
            let text = line.trim();
            match reading {
                Some("error") if !text.is_empty() => push_words(&mut y.message, text),
                Some("stack") if y.frame.is_none() => y.frame = user_frame(text),
                _ => {}
            }
            continue;
        }
        let Some(c) = TAP_KEY_RE.captures(line) else { continue };
        let key = c.get(2).map_or("", |m| m.as_str());
        let value = c.get(3).map_or("", |m| m.as_str()).trim();
        reading = matches!(value, "|-" | "|" | ">-" | ">").then_some(key);
        let scalar = value.trim_matches('\'');
        match key {
            "failureType" => y.children_failed = scalar == "subtestsFailed",
            "name" => y.error_type = Some(scalar),
            "error" if reading.is_none() => push_words(&mut y.message, scalar),
            "location" => y.location = split_location(scalar),
            _ => {}
        }
    }
    Some(y)
}

fn push_words(message: &mut String, text: &str) {
    if !message.is_empty() {
        message.push(' ');
    }
    message.push_str(text);
}

/// A TAP stack line: `fn (/abs/file.js:10:10)` or `/abs/file.js:10:10`, without `at`.
fn user_frame(text: &str) -> Option<Loc<'_>> {
    let c = STACK_RE.captures(text)?;
    let file = c.get(1)?.as_str();
    is_user_frame(file).then(|| Loc::new(file, c.get(2).map_or("", |m| m.as_str()), c.get(3).map(|m| m.as_str())))
}

/// `/abs/test/a.test.js:9:1`, the test's declaration.
fn split_location(text: &str) -> Option<Loc<'_>> {
    let c = STACK_RE.captures(text)?;
    Some(Loc::new(c.get(1)?.as_str(), c.get(2).map_or("", |m| m.as_str()), c.get(3).map(|m| m.as_str())))
}

/// The spec reporter: `▶ suite`, then its tests indented by two, then `✖ suite` again when one
/// failed. The failures are repeated after `✖ failing tests:`, without their suites.
fn parse_spec(lines: &[&str], sink: &mut Sink) {
    let mut suites: Vec<(usize, &str)> = Vec::new();
    for (i, &line) in lines.iter().enumerate() {
        if line.trim_end() == "✖ failing tests:" {
            break;
        }
        if let Some(c) = SPEC_SUITE_RE.captures(line) {
            let indent = c.get(1).map_or(0, |m| m.as_str().len());
            suites.retain(|s| s.0 < indent);
            suites.push((indent, c.get(2).map_or("", |m| m.as_str())));
            continue;
        }
        let Some(c) = SPEC_FAIL_RE.captures(line) else { continue };
        let indent = c.get(1).map_or(0, |m| m.as_str().len());
        let name = c.get(2).map_or("", |m| m.as_str());
        if name.ends_with("# TODO") || name.contains(" # TODO ") {
            continue;
        }
        // The suite's own closing line.
        if suites.last().is_some_and(|s| s.0 == indent && s.1 == name) {
            suites.pop();
            continue;
        }
        suites.retain(|s| s.0 < indent);
        let mut parts: Vec<&str> = suites.iter().map(|s| s.1).collect();
        parts.push(name);
        sink.failing(i, &parts.join(" > "));
    }
}
