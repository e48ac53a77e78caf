//! RSpec's progress and documentation formatters: the `Failures:` section, the
//! `N examples, N failures, N pending` summary and the `rspec ./spec/x_spec.rb:8 # name` list.

use std::sync::LazyLock;

use regex::Regex;

use super::{Loc, Sink, re};

static SUMMARY_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(\d+) examples?, (\d+) failures?(?:, (\d+) pending)?(?:, (\d+) errors? occurred outside of examples)?\s*$"));
static RERUN_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^rspec (\S+?):(\d+) # (.+?)\s*$"));
static HEADER_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s+\d+\) (.+?)\s*$"));
/// A backtrace line: `# ./lib/stack.rb:12:in 'pop'`.
static FRAME_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*# (.+?):(\d+)(?::in .*)?$"));
/// `An error occurred while loading ./spec/x_spec.rb. - Did you mean?` and the like.
static LOAD_ERROR_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^An error occurred while loading (\S+?)\.?(?:\s|$)"));

/// Message lines worth keeping from a failure (an expectation's expected/got pair).
const MESSAGE_LINES: usize = 4;

fn is_library(path: &str) -> bool {
    path.contains("/gems/") || path.contains("/lib/ruby/") || path.starts_with("<internal:") || path.contains("/rubygems/")
}

pub(super) fn parse(lines: &[&str], sink: &mut Sink) {
    let mut in_failures = false;
    let mut block: Option<Block> = None;
    for (i, &line) in lines.iter().enumerate() {
        if let Some(c) = SUMMARY_RE.captures(line) {
            let n = |k: usize| c.get(k).and_then(|m| m.as_str().parse().ok()).unwrap_or(0u32);
            let (examples, failures, pending, outside) = (n(1), n(2), n(3), n(4));
            sink.add_counts(examples.saturating_sub(failures).saturating_sub(pending), failures, pending);
            if outside > 0 {
                sink.counts_unknown(format!("{outside} error(s) occurred outside of examples; what they stopped is not counted"));
            }
        } else if let Some(c) = RERUN_RE.captures(line) {
            sink.failing(i, c.get(3).map_or("", |m| m.as_str()));
        } else if let Some(c) = LOAD_ERROR_RE.captures(line) {
            finish(&mut block, sink);
            let file = c.get(1).map_or("", |m| m.as_str());
            sink.failing(i, &format!("{} (failed to load)", file.trim_start_matches("./")));
            block = Some(Block { pos: i, message: Vec::new(), seen_failure_line: false });
            in_failures = true;
        } else if line == "Failures:" {
            in_failures = true;
        } else if line.starts_with("Finished in ") || line == "Failed examples:" || line == "Pending:" {
            finish(&mut block, sink);
            in_failures = false;
        } else if !in_failures {
            continue;
        } else if HEADER_RE.is_match(line) && !FRAME_RE.is_match(line) {
            finish(&mut block, sink);
            block = Some(Block { pos: i, message: Vec::new(), seen_failure_line: false });
        } else if let Some(b) = block.as_mut() {
            if let Some(c) = FRAME_RE.captures(line) {
                let file = c.get(1).map_or("", |m| m.as_str());
                if !is_library(file) {
                    let loc = Loc::new(file, c.get(2).map_or("", |m| m.as_str()), None);
                    report(b, loc, sink);
                    block = None;
                }
                continue;
            }
            let t = line.trim();
            if t.starts_with("Failure/Error:") {
                b.seen_failure_line = true;
            } else if b.seen_failure_line && !t.is_empty() && b.message.len() < MESSAGE_LINES {
                b.message.push(t);
            }
        }
    }
    finish(&mut block, sink);
}

/// One numbered failure being read: its message lines until the first frame in user code.
struct Block<'a> {
    pos: usize,
    message: Vec<&'a str>,
    seen_failure_line: bool,
}

fn report(b: &Block, loc: Loc, sink: &mut Sink) {
    let message = if b.message.is_empty() { "example failed".to_string() } else { b.message.join(" ") };
    sink.error(b.pos, "rspec", loc, &message);
}

fn finish(block: &mut Option<Block>, sink: &mut Sink) {
    if let Some(b) = block.take().filter(|b| !b.message.is_empty()) {
        report(&b, Loc::default(), sink);
    }
}
