//! Coverage and lint totals, the quality score, and how `analyze` and `render` carry them.

use super::*;
use crate::feedback::{analyze, render};
use crate::protocol::Feedback;

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

fn t(passed: u32, failed: u32) -> TestCounts {
    TestCounts { passed, failed, skipped: 0 }
}

const PYTEST_COV: &str = "============================= test session starts ==============================
collected 14 items

tests/test_stats.py ..............                                       [100%]

---------- coverage: platform linux, python 3.12.3-final-0 -----------
Name                     Stmts   Miss  Cover
--------------------------------------------
textstats/__init__.py        2      0   100%
textstats/stats.py          48      5    90%
textstats/cli.py            70      7    90%
--------------------------------------------
TOTAL                      120     12    90%

============================== 14 passed in 0.31s ==============================
";

const COVERAGE_BRANCH: &str = "Name                 Stmts   Miss Branch BrPart  Cover
------------------------------------------------------
textstats/stats.py      48      5     20      3  87.5%
------------------------------------------------------
TOTAL                   48      5     20      3  87.5%
";

const GO_COVER_VERBOSE: &str = "=== RUN   TestMean
--- PASS: TestMean (0.00s)
PASS
coverage: 80.0% of statements
ok  \texample.com/textstats\t0.002s\tcoverage: 80.0% of statements
=== RUN   TestReport
--- PASS: TestReport (0.00s)
PASS
coverage: 60.0% of statements
ok  \texample.com/textstats/report\t0.003s\tcoverage: 60.0% of statements
";

const GO_COVER_QUIET: &str = "ok  \texample.com/a\t0.002s\tcoverage: 81.2% of statements
ok  \texample.com/b\t(cached)\tcoverage: 50.0% of statements
?   \texample.com/cmd\t[no test files]
";

const JEST_COV: &str = " PASS  src/stats.test.js
  ✓ mean (2 ms)

----------|---------|----------|---------|---------|-------------------
File      | % Stmts | % Branch | % Funcs | % Lines | Uncovered Line #s
----------|---------|----------|---------|---------|-------------------
All files |   85.71 |       75 |     100 |   85.71 |
 stats.js |   85.71 |       75 |     100 |   85.71 | 12,14
----------|---------|----------|---------|---------|-------------------
Test Suites: 1 passed, 1 total
Tests:       1 passed, 1 total
";

const LLVM_COV: &str = "Filename                      Regions    Missed Regions     Cover   Functions  Missed Functions  Executed       Lines      Missed Lines     Cover    Branches   Missed Branches     Cover
-----------------------------------------------------------------------------------------------------------------------------------------------------------------------------------
src/lib.rs                        120                12    90.00%          20                 2    90.00%         200                43    78.50%           0                 0         -
-----------------------------------------------------------------------------------------------------------------------------------------------------------------------------------
TOTAL                             120                12    90.00%          20                 2    90.00%         200                43    78.50%           0                 0         -
";

const TARPAULIN: &str = "|| Tested/Total Lines:
|| src/lib.rs: 17/20
||
85.00% coverage, 17/20 lines covered
";

#[test]
fn coverage_parsers_on_real_output() {
    assert_eq!(coverage(&lines(PYTEST_COV)), Some(90.0));
    assert_eq!(coverage(&lines(COVERAGE_BRANCH)), Some(87.5));
    assert_eq!(coverage(&lines(LLVM_COV)), Some(78.5));
    assert_eq!(coverage(&lines(JEST_COV)), Some(85.71));
    assert_eq!(coverage(&lines(TARPAULIN)), Some(85.0));
    // Packages averaged; `-v` repeats each figure, which must not count twice.
    assert_eq!(coverage(&lines(GO_COVER_QUIET)), Some(65.6));
    assert_eq!(coverage(&lines(GO_COVER_VERBOSE)), Some(70.0));
    assert_eq!(coverage(&lines("PASS\ncoverage: 42.5% of statements\n")), Some(42.5));
}

#[test]
fn no_coverage_without_a_summary() {
    assert_eq!(coverage(&lines("14 passed in 0.31s\nTOTAL time: 3s\n")), None);
    assert_eq!(coverage(&lines("File | % Stmts\nsrc/a.js | 80 |\n")), None);
    assert_eq!(coverage(&lines("")), None);
}

const ESLINT: &str = "
/home/dev/proj/src/stats.js
  3:7   error    'unused' is assigned a value but never used  no-unused-vars
  9:1   error    Unexpected console statement                  no-console
  12:5  error    Missing semicolon                             semi
  14:3  warning  Unexpected var, use let or const instead      no-var
  20:1  warning  Expected indentation of 2 spaces              indent

✖ 5 problems (3 errors, 2 warnings)
  1 error and 0 warnings potentially fixable with the `--fix` option.
";

const CLIPPY: &str = "warning: unused variable: `x`
 --> src/lib.rs:3:9
  |
3 |     let x = 1;
  |         ^ help: if this is intentional, prefix it with an underscore: `_x`

warning: `textstats` (lib) generated 4 warnings (run `cargo clippy --fix --lib -p textstats` to apply 2 suggestions)
warning: `textstats` (lib test) generated 6 warnings (4 duplicates)
warning: `textstats` (bin \"ts\") generated 1 warning
    Finished `dev` profile [unoptimized + debuginfo] target(s) in 0.52s
";

#[test]
fn lint_totals_on_real_output() {
    assert_eq!(lint_problems(&lines(ESLINT)), Some(5));
    assert_eq!(
        lint_problems(&lines(
            "stats.py:1:8: F401 [*] `os` imported but unused\nstats.py:4:1: E731 Do not assign a `lambda`\nstats.py:9:5: F841 Local variable `y` is assigned to but never used\nFound 3 errors.\n[*] 1 fixable with the `--fix` option.\n"
        )),
        Some(3)
    );
    assert_eq!(lint_problems(&lines("Found 5 errors (3 fixed, 2 remaining).\n")), Some(2));
    assert_eq!(lint_problems(&lines("Found 1 error.\n")), Some(1));
    // 4 + (6 − 4 duplicates) + 1.
    assert_eq!(lint_problems(&lines(CLIPPY)), Some(7));
    assert_eq!(
        lint_problems(&lines("stats.go:12:2: Error return value is not checked (errcheck)\n5 issues:\n* errcheck: 2\n* unused: 3\n")),
        Some(5)
    );
    assert_eq!(lint_problems(&lines("0 issues.\n")), Some(0));
}

#[test]
fn no_lint_total_without_a_summary() {
    assert_eq!(lint_problems(&lines("Your code has been rated at 7.50/10 (previous run: 7.00/10, +0.50)\n")), None);
    assert_eq!(lint_problems(&lines("5 passed, 1 failed\nFound the bug.\n")), None);
    assert_eq!(lint_problems(&lines("")), None);
}

#[test]
fn score_formula_and_bounds() {
    assert_eq!(quality_score(t(0, 0), Some(90.0), Some(3)), None);
    assert_eq!(quality_score(TestCounts { passed: 0, failed: 0, skipped: 4 }, None, None), None);
    assert_eq!(quality_score(t(10, 0), None, None), Some(100.0));
    assert_eq!(quality_score(t(0, 3), None, None), Some(0.0));
    assert_eq!(quality_score(t(3, 1), None, None), Some(75.0));
    // 0.75 × 75 + 0.25 × 80 = 76.25 → 76.3; minus 1.5 × 2 = 73.3.
    assert_eq!(quality_score(t(3, 1), Some(80.0), None), Some(76.3));
    assert_eq!(quality_score(t(3, 1), Some(80.0), Some(2)), Some(73.3));
    // The lint penalty is capped at 20, and the score never goes below 0 or above 100.
    assert_eq!(quality_score(t(10, 0), None, Some(1000)), Some(80.0));
    assert_eq!(quality_score(t(1, 9), Some(0.0), Some(1000)), Some(0.0));
    assert_eq!(quality_score(t(5, 0), Some(250.0), None), Some(100.0));
    assert_eq!(quality_score(t(5, 0), Some(f64::NAN), None), Some(100.0));
}

#[test]
fn score_is_monotonic() {
    for cov in [None, Some(0.0), Some(55.5), Some(100.0)] {
        for lint in [None, Some(0), Some(4), Some(30)] {
            for passed in 0..12u32 {
                for failed in 0..12u32 {
                    let Some(s) = quality_score(t(passed, failed), cov, lint) else {
                        assert_eq!(passed + failed, 0);
                        continue;
                    };
                    assert!((0.0..=100.0).contains(&s));
                    let more_pass = quality_score(t(passed + 1, failed), cov, lint).unwrap();
                    assert!(more_pass >= s, "more passing lowered {passed}/{failed}");
                    if failed > 0 {
                        // Only the clamp at 0 can hide a gain.
                        assert!(more_pass > s || more_pass == 0.0, "{passed}/{failed}");
                    }
                    let more_fail = quality_score(t(passed, failed + 1), cov, lint).unwrap();
                    assert!(more_fail <= s, "more failing raised {passed}/{failed}");
                    let more_lint = quality_score(t(passed, failed), cov, Some(lint.unwrap_or(0) + 1)).unwrap();
                    assert!(more_lint <= s, "more lint raised {passed}/{failed}");
                }
            }
        }
    }
    // Strictly: a failing test and a lint problem each cost something when there is room.
    assert!(quality_score(t(5, 1), None, None) < quality_score(t(5, 0), None, None));
    assert!(quality_score(t(6, 1), None, None) > quality_score(t(5, 1), None, None));
    assert!(quality_score(t(5, 1), None, Some(1)) < quality_score(t(5, 1), None, None));
    assert!(quality_score(t(5, 1), Some(90.0), None) > quality_score(t(5, 1), Some(60.0), None));
}

#[test]
fn analyze_fills_coverage_lint_and_quality_only_when_tests_ran() {
    let fb = analyze(PYTEST_COV);
    assert_eq!(fb.tests, Some(t(14, 0)));
    assert_eq!(fb.coverage, Some(90.0));
    assert_eq!(fb.lint_problems, None);
    // 0.75 × 100 + 0.25 × 90.
    assert_eq!(fb.quality, Some(97.5));

    let lint_only = analyze(ESLINT);
    assert_eq!(lint_only.lint_problems, Some(5));
    assert_eq!(lint_only.tests, None);
    assert_eq!(lint_only.quality, None);

    let both = analyze(&format!("{ESLINT}\n=========== 1 failed, 3 passed in 0.2s ===========\n"));
    assert_eq!(both.tests, Some(t(3, 1)));
    assert_eq!(both.lint_problems, Some(5));
    assert_eq!(both.quality, Some(67.5));

    let nothing = analyze("Cargo.toml\nsrc\n");
    assert!(nothing.coverage.is_none() && nothing.lint_problems.is_none() && nothing.quality.is_none());
}

#[test]
fn render_shows_the_new_parts_on_the_first_line() {
    let fb = Feedback { tests: Some(t(5, 1)), coverage: Some(82.0), lint_problems: Some(3), quality: Some(71.2), ..Default::default() };
    assert_eq!(render(&fb), "[feedback] tests: 5 passed, 1 failed · coverage 82% · lint 3 · quality 71/100\n");

    let fb = Feedback { tests: Some(t(14, 0)), coverage: Some(81.24), quality: Some(95.3), ..Default::default() };
    assert_eq!(render(&fb).lines().next(), Some("[feedback] tests: 14 passed, 0 failed · coverage 81.2% · quality 95/100"));

    // A lint-only run shows its count and no score.
    let fb = Feedback { lint_problems: Some(5), ..Default::default() };
    assert_eq!(render(&fb), "[feedback] lint 5\n");

    // End to end from real output.
    let text = render(&analyze(PYTEST_COV));
    assert_eq!(text, "[feedback] tests: 14 passed, 0 failed · coverage 90% · quality 98/100\n");
}
