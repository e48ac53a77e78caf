//! mocha's default `spec` reporter.
//!
//! The counts are the `N passing` / `N failing` / `N pending` lines. Each failure is reported
//! after them as `1) Suite` with the rest of its title on the following, deeper-indented lines,
//! the last ending with a colon; mocha's own name for it (`fullTitle`) joins the parts with
//! spaces. The error and stack below it are Node's, which the Node trace parser reads.

use std::sync::LazyLock;

use regex::Regex;

use super::{Sink, re};

static COUNT_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s+(\d+) (passing|failing|pending)(?: \(\d+m?s\))?\s*$"));
static TITLE_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\s+)(\d+)\) (.+?)\s*$"));

/// Title lines a failure's name may take (one per nested `describe`).
const MAX_TITLE_LINES: usize = 12;

pub(super) fn parse(lines: &[&str], sink: &mut Sink) {
    let (mut passing, mut failing, mut pending) = (None::<u32>, 0u32, 0u32);
    let mut failures_start = None;
    for (i, line) in lines.iter().enumerate() {
        let Some(c) = COUNT_RE.captures(line) else { continue };
        let n: u32 = c.get(1).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
        match c.get(2).map_or("", |m| m.as_str()) {
            "passing" => passing = Some(passing.unwrap_or(0).saturating_add(n)),
            "failing" => {
                failing = failing.saturating_add(n);
                failures_start = Some(i + 1);
            }
            _ => pending = pending.saturating_add(n),
        }
    }
    // `N passing` always comes first; without it the lines are someone else's.
    let Some(passing) = passing else { return };
    sink.add_counts(passing, failing, pending);
    let Some(start) = failures_start else { return };
    let mut i = start;
    while i < lines.len() {
        let Some(c) = TITLE_RE.captures(lines[i]) else {
            i += 1;
            continue;
        };
        let mut parts = vec![c.get(3).map_or("", |m| m.as_str())];
        let mut j = i;
        let mut ended = parts[0].ends_with(':');
        while !ended && j + 1 < lines.len() && j - i < MAX_TITLE_LINES {
            j += 1;
            let part = lines[j].trim();
            if part.is_empty() {
                break;
            }
            parts.push(part);
            ended = part.ends_with(':');
        }
        if ended {
            let last = parts.len() - 1;
            parts[last] = parts[last].trim_end_matches(':');
            sink.failing(i, &parts.join(" "));
        }
        i = j + 1;
    }
}
