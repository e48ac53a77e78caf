//! rustc/cargo/clippy diagnostics and `cargo test` results.

use std::sync::LazyLock;

use regex::Regex;

use super::{Loc, Sink, re};

static HEADER_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(error|warning)(?:\[([A-Z]\d{4})\])?: (.+)$"));
static ARROW_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*--> (.+?):(\d+):(\d+)\s*$"));
/// `test name ... FAILED`; a `#[should_panic]` test is printed as `name - should panic`.
static TEST_FAILED_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^test (.+?)(?: - should panic)? \.\.\. FAILED\b"));
/// `cargo test -q` prints failures as `name --- FAILED` instead.
static QUIET_FAILED_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\S+) --- FAILED$"));
/// The list after the second `failures:` line, which names every failing test.
static FAILURES_ITEM_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^    (\S+)$"));
/// A `#[should_panic]` test that returned normally.
static NO_PANIC_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^note: test did not panic as expected(?: at (.+?):(\d+):(\d+))?\s*$"));
static RESULT_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored"));
/// Rust ≥ 1.73 puts the message on the following lines; recent versions add the thread id.
static PANIC_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^thread '.*?'(?: \(\d+\))? panicked at (.+?):(\d+):(\d+):$"));
/// Rust < 1.73: `panicked at 'message', src/lib.rs:10:5`.
static PANIC_OLD_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^thread '.*?'(?: \(\d+\))? panicked at '(.*)', (.+?):(\d+):(\d+)$"));

/// cargo-nextest: `     Summary [   0.006s] 3 tests run: 2 passed, 1 failed, 0 skipped`.
static NEXTEST_SUMMARY_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*Summary \[[^\]]*\] \d+ tests? run: (.+)$"));
static NEXTEST_COUNT_RE: LazyLock<Regex> = LazyLock::new(|| re(r"(\d+) (passed|failed|skipped|timed out)"));
/// cargo-nextest: `        FAIL [   0.004s] textstats tests::median_even`.
static NEXTEST_FAIL_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s+(?:FAIL|TIMEOUT|SIG[A-Z]+) \[\s*[\d.]+s\] (\S+ \S+)\s*$"));

/// How many lines after a header rustc may put the ` --> file:line:col` line.
const ARROW_LOOKAHEAD: usize = 2;
/// Panic messages can be long (`Debug` dumps); a few lines carry the point.
const PANIC_MESSAGE_LINES: usize = 4;

/// Test results seen so far. nextest echoes each failing test's captured libtest output
/// (`test … FAILED`, `test result:`), so once nextest is recognised its own lines win.
#[derive(Default)]
struct Tests<'a> {
    libtest_failing: Vec<(usize, &'a str)>,
    libtest_counts: Option<[u32; 3]>,
    nextest_failing: Vec<(usize, &'a str)>,
    nextest_counts: Option<[u32; 3]>,
}

fn add(total: &mut Option<[u32; 3]>, more: [u32; 3]) {
    let t = total.get_or_insert([0; 3]);
    for (a, b) in t.iter_mut().zip(more) {
        *a = a.saturating_add(b);
    }
}

pub(super) fn parse(lines: &[&str], sink: &mut Sink) {
    let mut tests = Tests::default();
    for (i, &line) in lines.iter().enumerate() {
        if line.starts_with("error") || line.starts_with("warning") {
            header(lines, i, sink);
        } else if line.starts_with("test ") {
            if let Some(c) = TEST_FAILED_RE.captures(line) {
                tests.libtest_failing.push((i, c.get(1).map_or("", |m| m.as_str())));
            } else if let Some(c) = RESULT_RE.captures(line) {
                let n = |k: usize| c.get(k).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
                add(&mut tests.libtest_counts, [n(1), n(2), n(3)]);
            }
        } else if line == "failures:" {
            let names = lines.iter().enumerate().skip(i + 1).map_while(|(j, l)| FAILURES_ITEM_RE.captures(l).map(|c| (j, c)));
            for (j, c) in names {
                tests.libtest_failing.push((j, c.get(1).map_or("", |m| m.as_str())));
            }
        } else if let Some(c) = QUIET_FAILED_RE.captures(line) {
            tests.libtest_failing.push((i, c.get(1).map_or("", |m| m.as_str())));
        } else if let Some(c) = NO_PANIC_RE.captures(line) {
            let get = |k: usize| c.get(k).map(|m| m.as_str());
            let loc = get(1).map_or_else(Loc::default, |f| Loc::new(f, get(2).unwrap_or(""), get(3)));
            sink.error(i, "rust test", loc, "test did not panic as expected");
        } else if line.starts_with("thread '") {
            panic(lines, i, sink);
        } else if line.starts_with(' ') {
            nextest(line, i, &mut tests);
        }
    }
    let nextest = tests.nextest_counts.is_some() || !tests.nextest_failing.is_empty();
    let (failing, counts) =
        if nextest { (tests.nextest_failing, tests.nextest_counts) } else { (tests.libtest_failing, tests.libtest_counts) };
    for (i, name) in failing {
        sink.failing(i, name);
    }
    if let Some([p, f, s]) = counts {
        sink.add_counts(p, f, s);
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

fn nextest<'a>(line: &'a str, i: usize, tests: &mut Tests<'a>) {
    if let Some(c) = NEXTEST_FAIL_RE.captures(line) {
        tests.nextest_failing.push((i, c.get(1).map_or("", |m| m.as_str())));
    } else if let Some(c) = NEXTEST_SUMMARY_RE.captures(line) {
        let mut counts = [0u32; 3];
        for item in NEXTEST_COUNT_RE.captures_iter(c.get(1).map_or("", |m| m.as_str())) {
            let n: u32 = item.get(1).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
            let slot = match item.get(2).map_or("", |m| m.as_str()) {
                "passed" => 0,
                "skipped" => 2,
                _ => 1,
            };
            counts[slot] = counts[slot].saturating_add(n);
        }
        add(&mut tests.nextest_counts, counts);
    }
}
