//! PHPUnit: `There were 2 failures:` sections of numbered entries (`1) Class::method`, the
//! message, then `file:line` frames innermost first), and the `Tests: 5, Assertions: 3,
//! Failures: 1.` or `OK (5 tests, 10 assertions)` summary.

use std::sync::LazyLock;

use regex::Regex;

use super::{Loc, Sink, re};

static SECTION_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^There (?:was|were) \d+ (errors?|failures?|warnings?|risky tests?|skipped tests?|incomplete tests?|deprecations?|notices?):\s*$")
});
static ENTRY_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\d+)\) (\S+::\S+.*?)\s*$"));
static FRAME_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\S+\.php):(\d+)\s*$"));
static TOTALS_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^Tests: (\d+), Assertions: \d+(.*?)\.?\s*$"));
static ITEM_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r", (Errors|Failures|Skipped|Incomplete|Risky|Warnings|Deprecations|Notices|PHPUnit Deprecations): (\d+)"));
static OK_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^OK \((\d+) tests?, \d+ assertions?\)\s*$"));

/// Message lines kept from an entry: PHPUnit's comparison diffs can be long.
const MESSAGE_LINES: usize = 4;

fn is_library(path: &str) -> bool {
    path.contains("/vendor/") || path.starts_with("vendor/") || path.starts_with("/usr/share/php/")
}

pub(super) fn parse(lines: &[&str], sink: &mut Sink) {
    let mut failing_section = None::<bool>;
    let mut entry: Option<Entry> = None;
    for (i, &line) in lines.iter().enumerate() {
        if let Some(c) = SECTION_RE.captures(line) {
            finish(&mut entry, sink);
            let what = c.get(1).map_or("", |m| m.as_str());
            failing_section = Some(what.starts_with("error") || what.starts_with("failure"));
        } else if let Some(c) = TOTALS_RE.captures(line) {
            finish(&mut entry, sink);
            failing_section = None;
            let tests: u32 = c.get(1).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
            let (mut failed, mut skipped) = (0u32, 0u32);
            for item in ITEM_RE.captures_iter(c.get(2).map_or("", |m| m.as_str())) {
                let n: u32 = item.get(2).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
                match item.get(1).map_or("", |m| m.as_str()) {
                    "Errors" | "Failures" => failed = failed.saturating_add(n),
                    "Skipped" | "Incomplete" => skipped = skipped.saturating_add(n),
                    // Risky tests, warnings and deprecations are about tests that ran and passed.
                    _ => {}
                }
            }
            sink.add_counts(tests.saturating_sub(failed).saturating_sub(skipped), failed, skipped);
        } else if let Some(c) = OK_RE.captures(line) {
            sink.add_counts(c.get(1).and_then(|m| m.as_str().parse().ok()).unwrap_or(0), 0, 0);
        } else if line.trim() == "--" || line.starts_with("FAILURES!") || line.starts_with("ERRORS!") {
            finish(&mut entry, sink);
        } else if let Some(c) = ENTRY_RE.captures(line).filter(|_| failing_section.is_some()) {
            finish(&mut entry, sink);
            if failing_section == Some(true) {
                sink.failing(i, c.get(2).map_or("", |m| m.as_str()));
                entry = Some(Entry { pos: i, message: Vec::new(), loc: None });
            }
        } else if let Some(e) = entry.as_mut() {
            if let Some(c) = FRAME_RE.captures(line) {
                let file = c.get(1).map_or("", |m| m.as_str());
                if e.loc.is_none() && !is_library(file) {
                    e.loc = Some(Loc::new(file, c.get(2).map_or("", |m| m.as_str()), None));
                }
            } else if !line.trim().is_empty() && e.loc.is_none() && e.message.len() < MESSAGE_LINES {
                e.message.push(line.trim());
            }
        }
    }
    finish(&mut entry, sink);
}

struct Entry<'a> {
    pos: usize,
    message: Vec<&'a str>,
    loc: Option<Loc<'a>>,
}

fn finish(entry: &mut Option<Entry>, sink: &mut Sink) {
    let Some(e) = entry.take() else { return };
    let message = if e.message.is_empty() { "test failed".to_string() } else { e.message.join(" ") };
    sink.error(e.pos, "phpunit", e.loc.unwrap_or_default(), &message);
}
