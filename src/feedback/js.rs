//! JavaScript test runners (jest, vitest) and Node.js stack traces.

use std::sync::LazyLock;

use regex::Regex;

use super::{Loc, Sink, re};

/// jest's per-file badge (`FAIL src/a.test.js (1.2 s)`, indented on a terminal). Spaces, not
/// `go test`'s tab, and a script's extension keep `FAIL\tpkg` out.
static JEST_FILE_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*(?:FAIL|PASS) +(\S+\.[cm]?[jt]sx?)(?:\s+\(.*\))?\s*$"));
/// Babel's parse error in a suite that failed to run: `SyntaxError: /abs/a.test.js: Unexpected
/// token (1:11)`.
static BABEL_SYNTAX_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*SyntaxError: (.+?): (.+ \((\d+):(\d+)\))\s*$"));
/// vitest's badge for a file that failed before its tests ran: ` FAIL  a.test.js [ a.test.js ]`.
static VITEST_SUITE_FAIL_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s+FAIL\s+(\S+) \[ .+ \]\s*$"));
static JEST_TESTS_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^Tests:\s+(.+)$"));
static JEST_HEADER_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*● (.+?)\s*$"));
static VITEST_FAIL_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s+FAIL\s+(\S+ > .+?)\s*$"));
static VITEST_LOC_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*❯ (\S+?):(\d+):(\d+)$"));
static VITEST_TESTS_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*Tests\s+(.+?)\s+\(\d+\)$"));
static COUNT_RE: LazyLock<Regex> = LazyLock::new(|| re(r"(\d+) (failed|passed|skipped|todo|pending)"));
static FRAME_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s+at (?:async )?(?:.*? \()?(?:file://)?([^\s()]+?):(\d+):(\d+)\)?$"));
static NODE_ERROR_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^\s*(?:Uncaught )?((?:[A-Z]\w*)?Error|[A-Z]\w*Exception)(?: \[[A-Za-z0-9_]+\])?: (.*)$"));

/// Lines a Node error message may take before its stack (`Require stack:` lists, assertion
/// diffs and the like).
const NODE_MESSAGE_LINES: usize = 16;
/// Lines of an assertion message after its `…equal:` line worth keeping: the values compared.
const NODE_CONTINUATION_LINES: usize = 3;

pub(super) fn is_user_frame(path: &str) -> bool {
    !(path.contains("node_modules") || path.starts_with("node:") || path.starts_with("internal/") || path == "<anonymous>")
}

/// One `●` (jest) or `FAIL … > …` (vitest) failure report being read.
struct Block<'a> {
    tool: &'static str,
    pos: usize,
    message: Option<&'a str>,
    expected: Option<&'a str>,
    received: Option<&'a str>,
    reported: bool,
}

impl<'a> Block<'a> {
    fn new(tool: &'static str, pos: usize) -> Self {
        Block { tool, pos, message: None, expected: None, received: None, reported: false }
    }

    fn feed(&mut self, line: &'a str, pos: usize, sink: &mut Sink) {
        let t = line.trim();
        if self.reported || t.is_empty() {
            return;
        }
        if self.tool == "jest"
            && let Some(c) = BABEL_SYNTAX_RE.captures(line)
        {
            let get = |k: usize| c.get(k).map_or("", |m| m.as_str());
            self.message = Some(t);
            self.report(pos, Loc::new(get(1), get(3), Some(get(4))), sink);
            return;
        }
        let frame = if self.tool == "jest" { FRAME_RE.captures(line) } else { VITEST_LOC_RE.captures(line) };
        if let Some(f) = frame {
            let get = |k: usize| f.get(k).map_or("", |m| m.as_str());
            if is_user_frame(get(1)) {
                self.report(pos, Loc::new(get(1), get(2), Some(get(3))), sink);
            }
            return;
        }
        if let Some(v) = t.strip_prefix("Expected: ") {
            self.expected.get_or_insert(v);
        } else if let Some(v) = t.strip_prefix("Received: ") {
            self.received.get_or_insert(v);
        } else if self.message.is_none() {
            self.message = Some(t);
        }
    }

    fn report(&mut self, pos: usize, loc: Loc, sink: &mut Sink) {
        if self.reported {
            return;
        }
        self.reported = true;
        let mut message = self.message.unwrap_or("test failed").to_string();
        if let (Some(e), Some(r)) = (self.expected, self.received) {
            message.push_str(&format!(" (Expected: {e}, Received: {r})"));
        }
        sink.error(pos.max(self.pos), self.tool, loc, &message);
    }

    /// A failure without a usable stack frame is still worth reporting.
    fn finish(mut self, sink: &mut Sink) {
        if self.message.is_some() {
            let pos = self.pos;
            self.report(pos, Loc::default(), sink);
        }
    }
}

pub(super) fn parse(lines: &[&str], sink: &mut Sink) {
    parse_runners(lines, sink);
    parse_node(lines, sink);
}

fn parse_runners(lines: &[&str], sink: &mut Sink) {
    let mut file: Option<&str> = None;
    let mut block: Option<Block> = None;
    // Files whose tests never ran, so that the counts the runner prints leave them out.
    let mut not_run = 0u32;
    for (i, &line) in lines.iter().enumerate() {
        if let Some(c) = VITEST_SUITE_FAIL_RE.captures(line) {
            if let Some(b) = block.take() {
                b.finish(sink);
            }
            not_run += 1;
            sink.failing(i, &format!("{} (suite failed to run)", c.get(1).map_or("", |m| m.as_str())));
            block = Some(Block::new("vitest", i));
        } else if let Some(c) = VITEST_FAIL_RE.captures(line) {
            if let Some(b) = block.take() {
                b.finish(sink);
            }
            sink.failing(i, c.get(1).map_or("", |m| m.as_str()));
            block = Some(Block::new("vitest", i));
        } else if let Some(c) = JEST_FILE_RE.captures(line) {
            if let Some(b) = block.take() {
                b.finish(sink);
            }
            file = c.get(1).map(|m| m.as_str());
        } else if let Some(c) = JEST_HEADER_RE.captures(line) {
            if let Some(b) = block.take() {
                b.finish(sink);
            }
            let name = c.get(1).map_or("", |m| m.as_str());
            // `● Validation Warning:` and friends are configuration notices, not tests; bullets
            // before any jest badge belong to other tools (`systemctl status` prints them).
            if name.ends_with("Warning:") || file.is_none() {
                continue;
            }
            if name == "Test suite failed to run" {
                not_run += 1;
                sink.failing(i, &format!("{} (suite failed to run)", file.unwrap_or("test suite")));
            } else {
                sink.failing(i, name);
            }
            block = Some(Block::new("jest", i));
        } else if let Some(c) = JEST_TESTS_RE.captures(line).or_else(|| VITEST_TESTS_RE.captures(line)) {
            if let Some(b) = block.take() {
                b.finish(sink);
            }
            counts(c.get(1).map_or("", |m| m.as_str()), sink);
        } else if line.starts_with("Test Suites:") || line.trim_start().starts_with("⎯") {
            if let Some(b) = block.take() {
                b.finish(sink);
            }
        } else if let Some(b) = block.as_mut() {
            b.feed(line, i, sink);
        }
    }
    if let Some(b) = block.take() {
        b.finish(sink);
    }
    match not_run {
        0 => {}
        1 => sink.counts_unknown("1 test file failed to run; its tests are not counted"),
        n => sink.counts_unknown(format!("{n} test files failed to run; their tests are not counted")),
    }
}

fn counts(items: &str, sink: &mut Sink) {
    let (mut passed, mut failed, mut skipped) = (0u32, 0u32, 0u32);
    for c in COUNT_RE.captures_iter(items) {
        let n: u32 = c.get(1).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
        match c.get(2).map_or("", |m| m.as_str()) {
            "passed" => passed = passed.saturating_add(n),
            "failed" => failed = failed.saturating_add(n),
            _ => skipped = skipped.saturating_add(n),
        }
    }
    sink.add_counts(passed, failed, skipped);
}

/// An uncaught error as Node prints it: `TypeError: msg` then `    at …` frames. Assertion
/// messages end with a colon and continue on the next lines (`5 !== 4`), blank lines between.
fn parse_node(lines: &[&str], sink: &mut Sink) {
    let mut i = 0;
    while i < lines.len() {
        let Some(c) = NODE_ERROR_RE.captures(lines[i]) else {
            i += 1;
            continue;
        };
        let start = i;
        let mut j = i + 1;
        while j < lines.len() && j - start <= NODE_MESSAGE_LINES && !is_frame(lines[j]) {
            j += 1;
        }
        let mut first_user = None;
        let mut frames = 0;
        let frames_start = j;
        while j < lines.len() && is_frame(lines[j]) {
            frames += 1;
            if first_user.is_none() {
                first_user = FRAME_RE.captures(lines[j]).filter(|f| f.get(1).is_some_and(|p| is_user_frame(p.as_str())));
            }
            j += 1;
        }
        if frames == 0 {
            i += 1;
            continue;
        }
        let loc = first_user.as_ref().map_or_else(Loc::default, |f| {
            let get = |k: usize| f.get(k).map_or("", |m| m.as_str());
            Loc::new(get(1), get(2), Some(get(3)))
        });
        let ty = c.get(1).map_or("", |m| m.as_str());
        let mut message = c.get(2).map_or("", |m| m.as_str()).trim_end().to_string();
        if message.ends_with(':') {
            let more: Vec<&str> =
                lines[start + 1..frames_start].iter().map(|l| l.trim()).filter(|l| !l.is_empty()).take(NODE_CONTINUATION_LINES).collect();
            if !more.is_empty() {
                message = format!("{message} {}", more.join(" "));
            }
        }
        sink.error(start, format!("node {ty}"), loc, &message);
        i = j;
    }
}

fn is_frame(line: &str) -> bool {
    line.trim_start().starts_with("at ") && line.starts_with(char::is_whitespace)
}
