//! A quality score for a `run` that executed tests, from the pass and fail counts plus the
//! coverage and lint totals when the output reports them.
//!
//! Coverage and lint totals are read only from the summary lines tools print (a `TOTAL` row,
//! a `✖ N problems` line), never by counting individual entries: the summaries are what the
//! tools themselves stand behind, and they survive output that was cut in the middle.

use std::sync::LazyLock;

use regex::Regex;

use super::re;
use crate::protocol::TestCounts;

/// Weight of the pass rate when coverage is known; coverage gets the rest. Passing tests are
/// the stronger signal: full coverage of failing code is still failing code.
const PASS_WEIGHT: f64 = 0.75;
/// Points lost per lint problem, and at most: lint matters, but a noisy linter on an old
/// codebase must not drown out the tests.
const LINT_PENALTY: f64 = 1.5;
const LINT_PENALTY_MAX: f64 = 20.0;

/// coverage.py / pytest-cov (`TOTAL  120  12  90%`, with branch columns too) and
/// cargo-llvm-cov (`TOTAL  …  95.46%  …  78.50%  …`) both put the totals on a `TOTAL` row.
static TOTAL_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^TOTAL\s+\d"));
static PERCENT_RE: LazyLock<Regex> = LazyLock::new(|| re(r"(\d+(?:\.\d+)?)%"));
static GO_RE: LazyLock<Regex> = LazyLock::new(|| re(r"coverage: (\d+(?:\.\d+)?)% of statements"));
/// istanbul's text table: the `All files` row, first column after the name is statements.
static ISTANBUL_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*All files\s*\|\s*(\d+(?:\.\d+)?)\s*\|"));
static TARPAULIN_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:\|\| )?(\d+(?:\.\d+)?)% coverage,"));

static ESLINT_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*✖ (\d+) problems? \("));
static RUFF_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^Found (\d+) errors?(?:\s*\((?:\d+ fixed, )?(\d+) remaining\))?\.?\s*$"));
static CARGO_WARNINGS_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^warning: `[^`]+` \([^)]*\) generated (\d+) warnings?(?: \((\d+) duplicates?\))?"));
static GOLANGCI_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\d+) issues?[:.]\s*$"));

/// The coverage percentage the output reports, if any. When several tools report, the first
/// in this order wins: coverage.py / cargo-llvm-cov `TOTAL`, go test, istanbul, tarpaulin.
pub fn coverage(lines: &[&str]) -> Option<f64> {
    total_row(lines)
        .or_else(|| go_coverage(lines))
        .or_else(|| lines.iter().rev().find_map(|l| capture_f64(&ISTANBUL_RE, l)))
        .or_else(|| lines.iter().rev().find_map(|l| capture_f64(&TARPAULIN_RE, l)))
        .map(|c| c.clamp(0.0, 100.0))
}

fn capture_f64(re: &Regex, line: &str) -> Option<f64> {
    re.captures(line)?.get(1)?.as_str().parse().ok()
}

/// The last `TOTAL` row. coverage.py has one percentage (the last column); llvm-cov has one
/// per metric (regions, functions, lines, branches), and lines is the third, the figure
/// people mean by coverage.
fn total_row(lines: &[&str]) -> Option<f64> {
    let line = lines.iter().rev().find(|l| TOTAL_RE.is_match(l))?;
    let pcts: Vec<f64> = PERCENT_RE.captures_iter(line).filter_map(|c| c.get(1)?.as_str().parse().ok()).collect();
    if pcts.len() >= 3 { Some(pcts[2]) } else { pcts.last().copied() }
}

/// The average over packages. `go test -v` prints each package's figure twice (alone, then on
/// its `ok` line), so when package lines exist only they count.
fn go_coverage(lines: &[&str]) -> Option<f64> {
    let (mut package, mut bare) = (Vec::new(), Vec::new());
    for line in lines {
        if let Some(m) = GO_RE.captures(line).and_then(|c| c.get(1))
            && let Ok(v) = m.as_str().parse::<f64>()
        {
            let alone = line[..m.start()].trim() == "coverage:";
            if alone { bare.push(v) } else { package.push(v) }
        }
    }
    let figures = if package.is_empty() { bare } else { package };
    (!figures.is_empty()).then(|| figures.iter().sum::<f64>() / figures.len() as f64)
}

/// Lint problems the output's summary lines report, summed over tools (and over cargo
/// targets, less the duplicates cargo itself points out). None when no linter summary is
/// there; pylint's `rated at 7.5/10` is a rating, not a count, and is not read.
pub fn lint_problems(lines: &[&str]) -> Option<u32> {
    let mut total: Option<u32> = None;
    let mut add = |n: u32| *total.get_or_insert(0) = total.unwrap_or(0).saturating_add(n);
    for line in lines {
        let num = |c: &regex::Captures, k: usize| c.get(k).and_then(|m| m.as_str().parse::<u32>().ok());
        if let Some(c) = ESLINT_RE.captures(line) {
            add(num(&c, 1).unwrap_or(0));
        } else if let Some(c) = RUFF_RE.captures(line) {
            // `Found 5 errors (3 fixed, 2 remaining).`: only the remaining ones are problems.
            add(num(&c, 2).or_else(|| num(&c, 1)).unwrap_or(0));
        } else if let Some(c) = CARGO_WARNINGS_RE.captures(line) {
            add(num(&c, 1).unwrap_or(0).saturating_sub(num(&c, 2).unwrap_or(0)));
        } else if let Some(c) = GOLANGCI_RE.captures(line) {
            add(num(&c, 1).unwrap_or(0));
        }
    }
    total
}

/// A 0–100 score for a run that executed tests; None when no test passed or failed.
///
/// `score = clamp(base − min(1.5 × lint, 20), 0, 100)`, where the pass rate is
/// `passed / (passed + failed)` (skipped tests count for nothing), and `base` is
/// `100 × pass rate`, or `0.75 × 100 × pass rate + 0.25 × coverage` when coverage is known.
/// The score is rounded to one decimal.
///
/// It is monotonic: more passing tests never lower it, more failing tests never raise it,
/// more lint problems never raise it (until the penalty's cap), more coverage never lowers it.
pub fn quality_score(tests: TestCounts, coverage: Option<f64>, lint_problems: Option<u32>) -> Option<f64> {
    let ran = u64::from(tests.passed) + u64::from(tests.failed);
    if ran == 0 {
        return None;
    }
    let pass = 100.0 * tests.passed as f64 / ran as f64;
    let base = match coverage {
        Some(c) if c.is_finite() => PASS_WEIGHT * pass + (1.0 - PASS_WEIGHT) * c.clamp(0.0, 100.0),
        _ => pass,
    };
    let penalty = (LINT_PENALTY * f64::from(lint_problems.unwrap_or(0))).min(LINT_PENALTY_MAX);
    let score = (base - penalty).clamp(0.0, 100.0);
    Some((score * 10.0).round() / 10.0)
}

#[cfg(test)]
#[path = "tests/quality.rs"]
mod tests;
