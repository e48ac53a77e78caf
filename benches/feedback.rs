#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! How right the feedback parsers are on real tool output.
//!
//! `cargo bench --bench feedback` runs every fixture under tests/fixtures/feedback/ (output
//! captured from the real tools, see regenerate.sh there) through `feedback::analyze_in` and
//! prints, per tool and overall, the precision and recall of the failing test names and of the
//! diagnostic locations (`file:line`, relative to the workspace) against the hand-checked
//! sidecars, and how many fixtures got their test counts exactly right (or exactly "unknown").
//! `-- --blocks` also prints the `[feedback]` block each fixture gives the model.
//!
//! Precision is found-and-expected over found, recall found-and-expected over expected, summed
//! over the fixtures (so a tool with more cases weighs more in "overall").

#[path = "../tests/feedback_support/mod.rs"]
// Each user of the shared module reads only part of it.
#[allow(dead_code)]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use endure::feedback::{analyze_in, render_for_run};
use support::{Tests, Word};

#[derive(Default, Clone, Copy)]
struct Score {
    found: usize,
    expected: usize,
    hit: usize,
}

impl Score {
    fn add(&mut self, found: &BTreeSet<String>, expected: &BTreeSet<String>) {
        self.found += found.len();
        self.expected += expected.len();
        self.hit += found.intersection(expected).count();
    }

    fn merge(&mut self, o: Score) {
        self.found += o.found;
        self.expected += o.expected;
        self.hit += o.hit;
    }

    fn cells(&self) -> (String, String) {
        let pct = |n: usize, d: usize| {
            if d == 0 { "—".to_string() } else { format!("{:.1}%", 100.0 * n as f64 / d as f64) }
        };
        (pct(self.hit, self.found), pct(self.hit, self.expected))
    }
}

#[derive(Default, Clone, Copy)]
struct Row {
    cases: usize,
    counts_exact: usize,
    names: Score,
    locations: Score,
}

fn main() {
    let show_blocks = std::env::args().any(|a| a == "--blocks");
    let cases = match support::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot load the fixtures: {e}");
            std::process::exit(1);
        }
    };
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut misses = Vec::new();
    let started = Instant::now();
    for case in &cases {
        let fb = analyze_in(&case.output, &case.ctx);
        let expect = &case.sidecar.expect;
        let row = rows.entry(case.tool.clone()).or_default();
        row.cases += 1;
        let counts_ok = match (expect.tests, fb.tests, &fb.tests_unknown) {
            (Tests::Counts { passed, failed, skipped }, Some(t), unknown) => {
                (t.passed, t.failed, t.skipped) == (passed, failed, skipped) && unknown.is_some() == expect.tests_incomplete
            }
            (Tests::Word(Word::Unknown), None, Some(_)) => true,
            (Tests::Word(Word::None), None, None) => true,
            _ => false,
        };
        row.counts_exact += usize::from(counts_ok);
        let found: BTreeSet<String> = fb.failing_tests.iter().cloned().collect();
        let expected: BTreeSet<String> = expect.failing.iter().cloned().collect();
        row.names.add(&found, &expected);
        let found_locs: BTreeSet<String> = fb
            .diagnostics
            .iter()
            .filter(|d| d.file.is_some())
            .map(|d| support::file_line(&support::location(d.file.as_deref(), d.line, d.col)))
            .collect();
        let expected_locs: BTreeSet<String> = expect.errors.iter().chain(&expect.warnings).map(|l| support::file_line(l)).collect();
        row.locations.add(&found_locs, &expected_locs);
        if !counts_ok || found != expected || found_locs != expected_locs {
            misses.push(case.id.clone());
        }
        if show_blocks {
            println!("── {} ({})\n{}", case.id, case.sidecar.command, render_for_run(&fb, &case.output, case.sidecar.exit_code != 0));
        }
    }
    let took = started.elapsed();

    println!("| tool | fixtures | counts exact | names precision | names recall | locations precision | locations recall |");
    println!("|---|---|---|---|---|---|---|");
    let mut total = Row::default();
    for (tool, row) in &rows {
        print_row(tool, row);
        total.cases += row.cases;
        total.counts_exact += row.counts_exact;
        total.names.merge(row.names);
        total.locations.merge(row.locations);
    }
    print_row("**overall**", &total);
    println!();
    println!(
        "{} fixtures, {} failing test names, {} locations expected; parsed in {:.1} ms",
        total.cases,
        total.names.expected,
        total.locations.expected,
        took.as_secs_f64() * 1000.0
    );
    if !misses.is_empty() {
        println!("not exact: {}", misses.join(", "));
    }
}

fn print_row(tool: &str, row: &Row) {
    let (np, nr) = row.names.cells();
    let (lp, lr) = row.locations.cells();
    println!("| {tool} | {} | {}/{} | {np} | {nr} | {lp} | {lr} |", row.cases, row.counts_exact, row.cases);
}
