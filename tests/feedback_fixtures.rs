#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Every real-output fixture under tests/fixtures/feedback/ parses to exactly what its sidecar
//! says: counts (or "unknown"), failing test names, error and warning locations relative to the
//! workspace, and key message text.

#[path = "feedback_support/mod.rs"]
// Each user of the shared module reads only part of it.
#[allow(dead_code)]
mod support;

use endure::feedback::{analyze_in, render_for_run};
use support::{Tests, Word};

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn every_fixture_parses_exactly() {
    let cases = match support::load() {
        Ok(c) => c,
        Err(e) => panic!("cannot load the fixtures: {e}"),
    };
    assert!(cases.len() >= 28, "expected the fixtures to be there, found {}", cases.len());
    let mut problems = Vec::new();
    for case in &cases {
        let fb = analyze_in(&case.output, &case.ctx);
        let expect = &case.sidecar.expect;
        let mut bad = |what: &str, got: String, want: String| {
            if got != want {
                problems.push(format!("{}: {what}\n     got: {got}\n    want: {want}", case.id));
            }
        };
        let got_tests = match (fb.tests, &fb.tests_unknown) {
            (Some(t), _) => format!("{}/{}/{}", t.passed, t.failed, t.skipped),
            (None, Some(_)) => "unknown".into(),
            (None, None) => "none".into(),
        };
        let want_tests = match expect.tests {
            Tests::Counts { passed, failed, skipped } => format!("{passed}/{failed}/{skipped}"),
            Tests::Word(Word::Unknown) => "unknown".into(),
            Tests::Word(Word::None) => "none".into(),
        };
        bad("tests (passed/failed/skipped)", got_tests, want_tests);
        let incomplete = fb.tests.is_some() && fb.tests_unknown.is_some();
        bad("tests incomplete", incomplete.to_string(), expect.tests_incomplete.to_string());

        let kept = fb.failing_tests.len() + fb.omitted.failing_tests as usize;
        bad("failing tests found", kept.to_string(), expect.failing.len().to_string());
        let want_names: Vec<String> = expect.failing.iter().filter(|n| fb.failing_tests.contains(n)).cloned().collect();
        bad("failing tests", format!("{:?}", sorted(fb.failing_tests.clone())), format!("{:?}", sorted(want_names)));

        let (errors, warnings) = support::locations(&fb);
        let total_errors = errors.len() + fb.omitted.errors as usize;
        bad("error count", total_errors.to_string(), expect.errors.len().to_string());
        bad("errors", format!("{:?}", sorted(errors)), format!("{:?}", sorted(expect.errors.clone())));
        bad("warnings", format!("{:?}", sorted(warnings)), format!("{:?}", sorted(expect.warnings.clone())));
        for m in &expect.messages {
            if !fb.diagnostics.iter().any(|d| d.message.contains(m.as_str())) {
                problems.push(format!("{}: no diagnostic message contains {m:?}", case.id));
            }
        }
        let block = render_for_run(&fb, &case.output, case.sidecar.exit_code != 0);
        for r in &expect.render {
            if !block.contains(r.as_str()) {
                problems.push(format!("{}: the block lacks {r:?}:\n{block}", case.id));
            }
        }
        // A failed command's block always says what is wrong, or shows the output's end.
        if case.sidecar.exit_code != 0 && block.trim().is_empty() {
            problems.push(format!("{}: the command failed but the block is empty", case.id));
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}
