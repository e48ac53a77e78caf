//! CTest: one line per test (`1/6 Test #1: name ....   Passed    0.01 sec`), then a summary
//! and the lists of tests that failed or did not run.

use std::sync::LazyLock;

use regex::Regex;

use super::{Sink, re};

static TEST_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^\s*\d+/\d+ Test\s+#\d+: (\S+) \.*\s*(?:\*\*\*)?(Passed|Failed|Not Run|Skipped|Timeout|Exception: .+?|\w.*?)\s+[\d.]+ sec\s*$")
});
static SUMMARY_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\d+% tests passed, (\d+) tests? failed out of (\d+)\s*$"));
static LISTED_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s+\d+ - (\S+) \((.+)\)\s*$"));

pub(super) fn parse(lines: &[&str], sink: &mut Sink) {
    let (mut passed, mut failed, mut skipped, mut any) = (0u32, 0u32, 0u32, false);
    let mut summary: Option<(u32, u32)> = None;
    let mut section = "";
    let mut not_run = 0u32;
    for (i, line) in lines.iter().enumerate() {
        if let Some(c) = TEST_RE.captures(line) {
            any = true;
            let name = c.get(1).map_or("", |m| m.as_str());
            match c.get(2).map_or("", |m| m.as_str()) {
                "Passed" => passed += 1,
                "Skipped" | "Not Run" => skipped += 1,
                _ => {
                    failed += 1;
                    sink.failing(i, name);
                }
            }
        } else if let Some(c) = SUMMARY_RE.captures(line) {
            let n = |k: usize| c.get(k).and_then(|m| m.as_str().parse().ok()).unwrap_or(0u32);
            summary = Some((n(1), n(2)));
        } else if line.starts_with("The following tests FAILED:") {
            section = "failed";
        } else if line.starts_with("The following tests did not run:") {
            section = "not run";
        } else if let Some(c) = LISTED_RE.captures(line).filter(|_| !section.is_empty()) {
            if section == "failed" {
                sink.failing(i, c.get(1).map_or("", |m| m.as_str()));
            } else {
                not_run += 1;
            }
        } else {
            section = "";
        }
    }
    if any {
        sink.add_counts(passed, failed, skipped);
    } else if let Some((failed, total)) = summary {
        // ctest counts a skipped test as passed in its summary; the list of tests that did not
        // run says which.
        sink.add_counts(total.saturating_sub(failed).saturating_sub(not_run), failed, not_run);
    }
}
