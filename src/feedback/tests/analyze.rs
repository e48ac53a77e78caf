//! Behaviour of the whole pipeline: merging, ordering, capping and rendering.

use std::time::Instant;

use super::*;

const LS: &str = "Cargo.lock\nCargo.toml\nREADME.md\nsrc\ntarget\ntests\n";

const LS_LONG: &str = "total 24\n-rw-r--r-- 1 dev dev  812 Nov 21 08:00 Cargo.toml\ndrwxr-xr-x 3 dev dev 4096 Nov 21 08:00 src\n-rw-r--r-- 1 dev dev 1290 Nov 21 08:00 main.py\n";

const CARGO_BUILD_THEN_NOTHING: &str = r#"$ cargo build && ./target/debug/textstats data.txt
   Compiling textstats v0.1.0 (/home/dev/proj)
error[E0599]: no method named `lenght` found for struct `Vec<f64>` in the current scope
  --> src/stats.rs:9:19
   |
9  |     let n = xs.lenght() as f64;
   |                ^^^^^^
   |
help: there is a method `len` with a similar name
   |
9  |     let n = xs.len() as f64;
   |                ~~~

For more information about this error, try `rustc --explain E0599`.
error: could not compile `textstats` (lib) due to 1 previous error
"#;

const PYTEST_THEN_TRACEBACK: &str = r#"FAILED tests/test_stats.py::test_mean - assert 2.0 == 2.5
==================== 1 failed, 4 passed in 0.12s ====================
running 2 tests
test tests::a ... ok
test tests::b ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
"#;

#[test]
fn empty_output_gives_empty_feedback() {
    assert!(analyze("").is_empty());
    assert_eq!(render(&analyze("")), "");
    assert!(analyze("\n\n   \n").is_empty());
}

#[test]
fn plain_listings_give_nothing() {
    assert!(analyze(LS).is_empty());
    assert!(analyze(LS_LONG).is_empty());
}

#[test]
fn a_failed_build_alone() {
    let fb = analyze(CARGO_BUILD_THEN_NOTHING);
    assert!(fb.tests.is_none() && fb.failing_tests.is_empty());
    let d = only(&fb);
    assert_eq!(d.kind, "rustc E0599");
    assert_eq!(at(d), (Some("src/stats.rs"), Some(9), Some(19)));
    assert_eq!(
        render(&fb),
        "[feedback] 1 error\nerror (rustc E0599) src/stats.rs:9:19: no method named `lenght` found for struct `Vec<f64>` in the current scope\n"
    );
}

#[test]
fn counts_from_several_frameworks_add_up() {
    let fb = analyze(PYTEST_THEN_TRACEBACK);
    assert_eq!(fb.tests, counts(6, 1, 0));
    assert_eq!(fb.failing_tests, ["tests/test_stats.py::test_mean"]);
}

#[test]
fn diagnostics_follow_the_output_order_across_parsers_and_are_deduplicated() {
    let out = "src/a.ts(3,5): error TS2322: Type 'string' is not assignable to type 'number'.\nsrc/b.c:1:1: error: expected ';'\nsrc/a.ts(3,5): error TS2322: Type 'string' is not assignable to type 'number'.\nerror[E0308]: mismatched types\n --> src/main.rs:4:5\n";
    let fb = analyze(out);
    let files: Vec<_> = fb.diagnostics.iter().map(|d| d.file.as_deref().unwrap_or("")).collect();
    assert_eq!(files, ["src/a.ts", "src/b.c", "src/main.rs"]);
}

#[test]
fn diagnostics_are_capped_and_what_is_left_out_is_counted() {
    let out: String = (1..=500).map(|i| format!("src/gen.c:{i}:1: error: unknown type name 'uint'\n")).collect();
    let fb = analyze(&out);
    assert_eq!(fb.diagnostics.len(), MAX_DIAGNOSTICS);
    assert_eq!(fb.diagnostics[0].line, Some(1));
    assert_eq!(fb.omitted.errors as usize, 500 - MAX_DIAGNOSTICS);
    let text = render(&fb);
    assert!(text.starts_with("[feedback] 500 errors\n"), "{text}");
    assert_eq!(text.lines().count(), 1 + 10 + 1, "{text}");
    assert!(text.ends_with("… and 490 more errors\n"), "{text}");
}

#[test]
fn failing_tests_past_the_cap_are_counted() {
    let out: String = (0..MAX_FAILING + 7).map(|i| format!("FAILED tests/test_x.py::test_{i} - assert False\n")).collect();
    let fb = analyze(&out);
    assert_eq!(fb.failing_tests.len(), MAX_FAILING);
    assert_eq!(fb.omitted.failing_tests, 7);
    let text = render(&fb);
    assert!(text.contains(&format!("… and {} more\n", MAX_FAILING + 7 - 10)), "{text}");
}

#[test]
fn warnings_are_kept_beside_errors_but_capped_and_listed_after_them() {
    let mut out: String = (1..=30).map(|i| format!("src/a.c:{i}:1: warning: unused variable 'x{i}' [-Wunused-variable]\n")).collect();
    out.push_str("src/a.c:40:5: error: expected ';' before 'return'\n");
    let fb = analyze(&out);
    let warnings = fb.diagnostics.iter().filter(|d| is_warning(d)).count();
    assert_eq!(warnings, MAX_WARNINGS_WHEN_BROKEN);
    assert_eq!(fb.omitted.warnings as usize, 30 - MAX_WARNINGS_WHEN_BROKEN);
    let text = render(&fb);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "[feedback] 1 error, 30 warnings");
    assert_eq!(lines[1], "error (cc) src/a.c:40:5: expected ';' before 'return'");
    assert!(lines[2].starts_with("warning (cc) src/a.c:1:1: "), "{text}");
    assert_eq!(lines.last().copied(), Some("… and 25 more warnings"));
}

#[test]
fn locations_are_made_relative_to_the_workspace() {
    let ctx = Context { root: Some("/home/dev/proj".into()), tree: None };
    let out = "Traceback (most recent call last):\n  File \"/home/dev/proj/app/main.py\", line 3, in <module>\n    main()\n  File \"/usr/lib/python3.11/json/__init__.py\", line 346, in loads\n    return x\nValueError: bad\n";
    let fb = analyze_in(out, &ctx);
    assert_eq!(at(only(&fb)), (Some("app/main.py"), Some(3), None));
    // A path outside the workspace stays absolute; a sibling with the same prefix is outside.
    let fb = analyze_in("/home/dev/project2/a.c:1:2: error: boom\n./src/b.c:3:4: error: bang\n", &ctx);
    let files: Vec<_> = fb.diagnostics.iter().map(|d| d.file.as_deref().unwrap_or("")).collect();
    assert_eq!(files, ["/home/dev/project2/a.c", "src/b.c"]);
}

#[test]
fn a_failed_command_that_no_parser_understood_shows_its_last_lines() {
    let out = format!("{}Segmentation fault (core dumped)\n\n", (1..=30).map(|i| format!("step {i}\n")).collect::<String>());
    let fb = analyze(&out);
    assert!(fb.is_empty());
    let block = render_for_run(&fb, &out, true);
    let lines: Vec<&str> = block.lines().collect();
    assert_eq!(lines[0], "[feedback] the command failed and no parser recognised why; its last lines:");
    assert_eq!(lines.len(), 1 + 15);
    assert_eq!(lines[1], "  | step 17");
    assert_eq!(lines.last().copied(), Some("  | Segmentation fault (core dumped)"));
    // Succeeding commands and recognised failures get no such note.
    assert_eq!(render_for_run(&fb, &out, false), "");
    let fb = analyze("src/a.c:1:2: error: boom\n");
    assert!(!render_for_run(&fb, "src/a.c:1:2: error: boom\n", true).contains("no parser"));
    assert_eq!(render_for_run(&Feedback::default(), "\n\n", true), "");
}

#[test]
fn a_failed_command_with_only_warnings_recognised_still_shows_its_end() {
    let out = "src/a.c:1:1: warning: unused variable 'x' [-Wunused-variable]\ncollect2: error: ld returned 1 exit status\n";
    let fb = analyze(out);
    let block = render_for_run(&fb, out, true);
    assert!(block.starts_with("[feedback] 1 warning\n"), "{block}");
    assert!(block.contains("  | collect2: error: ld returned 1 exit status\n"), "{block}");
}

#[test]
fn colour_codes_and_carriage_returns_do_not_hide_results() {
    let out = "\x1b[1m\x1b[31merror[E0308]\x1b[0m\x1b[1m: mismatched types\x1b[0m\n \x1b[1m\x1b[94m--> \x1b[0msrc/main.rs:4:5\nDownloading 10%\rDownloading 100%\r\x1b[32m==== 3 passed in 0.10s ====\x1b[0m\r\n";
    let fb = analyze(out);
    assert_eq!(fb.tests, counts(3, 0, 0));
    assert_eq!(only(&fb).message, "mismatched types");
}

#[test]
fn render_matches_the_documented_shape() {
    let fb = Feedback {
        diagnostics: vec![
            Diagnostic {
                kind: "python ZeroDivisionError".into(),
                file: Some("textstats/core.py".into()),
                line: Some(12),
                col: None,
                message: "division by zero".into(),
            },
            Diagnostic {
                kind: "rustc E0308".into(),
                file: Some("src/main.rs".into()),
                line: Some(4),
                col: Some(5),
                message: "mismatched types".into(),
            },
            Diagnostic { kind: "node Error".into(), file: None, line: None, col: None, message: "Cannot find module 'x'".into() },
            Diagnostic {
                kind: "rustc warning".into(),
                file: Some("src/lib.rs".into()),
                line: Some(3),
                col: Some(9),
                message: "unused variable: `x`".into(),
            },
        ],
        failing_tests: vec!["tests/test_stats.py::test_mean".into(), "tests/test_stats.py::test_median".into()],
        tests: counts(5, 2, 0),
        ..Default::default()
    };
    assert_eq!(
        render(&fb),
        "[feedback] tests: 5 passed, 2 failed\n\
         failing: tests/test_stats.py::test_mean, tests/test_stats.py::test_median\n\
         error (python ZeroDivisionError) textstats/core.py:12: division by zero\n\
         error (rustc E0308) src/main.rs:4:5: mismatched types\n\
         error (node Error): Cannot find module 'x'\n\
         warning (rustc) src/lib.rs:3:9: unused variable: `x`\n"
    );
}

#[test]
fn render_truncates_long_lists_and_messages() {
    let fb = Feedback {
        diagnostics: vec![Diagnostic {
            kind: "jest".into(),
            file: None,
            line: None,
            col: None,
            message: format!("{}\nsecond line", "x".repeat(500)),
        }],
        failing_tests: (0..25).map(|i| format!("suite › case {i}")).collect(),
        tests: counts(0, 25, 3),
        ..Default::default()
    };
    let text = render(&fb);
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines[0], "[feedback] tests: 0 passed, 25 failed, 3 skipped");
    assert!(lines[1].starts_with("failing: suite › case 0, "));
    assert!(lines[1].ends_with("suite › case 9 … and 15 more"), "{}", lines[1]);
    assert!(lines[2].chars().count() < 200 && lines[2].ends_with('…'));
    assert_eq!(lines.len(), 3);
}

/// Whether `analyze` takes time in proportion to its input: the best of three timings at one
/// size and at eight times that size, taken in turn so that a burst of load on a shared
/// machine hits both. Linear work gives a ratio near 8, quadratic work near 64; wall-clock
/// bounds would fail on a busy machine, a ratio does not.
fn assert_linear(what: &str, make: impl Fn(usize) -> String) {
    let (small, large) = (make(40_000), make(320_000));
    let time = |text: &str| {
        let start = Instant::now();
        std::hint::black_box(analyze(text));
        start.elapsed()
    };
    let (mut best_small, mut best_large) = (std::time::Duration::MAX, std::time::Duration::MAX);
    for _ in 0..3 {
        best_small = best_small.min(time(&small));
        best_large = best_large.min(time(&large));
    }
    let ratio = best_large.as_secs_f64() / best_small.as_secs_f64().max(1e-6);
    assert!(ratio < 24.0, "{what}: 8x the input took {ratio:.1}x the time ({best_small:?} → {best_large:?})");
}

#[test]
fn large_outputs_are_parsed_in_linear_time() {
    let make = |size: usize| {
        let mut out = String::new();
        while out.len() < size {
            out.push_str("   Compiling some-crate v1.2.3\nsrc/x.c:1: not really an error line with Traceback (most recent call last): inside\n    at something (weird place)\n");
            out.push_str(&"a".repeat(9000));
            out.push('\n');
        }
        out.push_str("test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s\n");
        out
    };
    assert_eq!(analyze(&make(40_000)).tests, counts(1, 1, 0));
    assert_linear("long lines", make);
}

#[test]
fn headers_without_bodies_do_not_make_scans_quadratic() {
    let chunk = "panic: boom\nTypeError: x is not a function\nTraceback (most recent call last):\n  File \"a.py\", line 1, in f\nerror[E0308]: mismatched types\n";
    let make = |size: usize| chunk.repeat(size / chunk.len());
    let fb = analyze(&make(40_000));
    assert!(!fb.diagnostics.is_empty());
    assert!(fb.diagnostics.len() <= MAX_DIAGNOSTICS);
    assert_linear("headers without bodies", make);
}

#[test]
fn a_failure_seen_by_two_parsers_is_reported_once_where_it_is_located() {
    // jest's block for a test quotes the Node error inside it; Node's own parser sees the
    // error too, with only an internal frame.
    let out = "FAIL __tests__/a.test.js\n  ● parse › rejects garbage\n\n    SyntaxError: Unexpected token v in JSON at position 1\n        at JSON.parse (<anonymous>)\n\n      at parse (src/parse.js:6:15)\n\nTests:       1 failed, 1 total\n";
    let fb = analyze(out);
    let d = only(&fb);
    assert_eq!(at(d), (Some("src/parse.js"), Some(6), Some(15)));
    assert_eq!(d.message, "SyntaxError: Unexpected token v in JSON at position 1");
    // Two different errors at one place both stay.
    let fb = analyze("src/a.c:1:5: error: first\nsrc/a.c:1:5: error: second\n");
    assert_eq!(fb.diagnostics.len(), 2);
}

#[test]
fn feedback_from_older_logs_still_loads_and_the_new_fields_round_trip() {
    let old =
        r#"{"diagnostics":[{"kind":"cc","file":"a.c","line":1,"message":"x"}],"failing_tests":["t"],"tests":{"passed":1,"failed":1}}"#;
    let fb: Feedback = serde_json::from_str(old).unwrap_or_else(|e| panic!("old feedback: {e}"));
    assert_eq!(fb.tests, counts(1, 1, 0));
    assert!(fb.tests_unknown.is_none() && fb.omitted.is_empty());

    let fb = Feedback {
        failing_tests: vec!["TestA".into()],
        tests_unknown: Some("go test prints passing tests only with -v".into()),
        omitted: Omitted { failing_tests: 3, errors: 0, warnings: 2 },
        ..Feedback::default()
    };
    let json = serde_json::to_string(&fb).unwrap_or_else(|e| panic!("{e}"));
    assert!(json.contains(r#""omitted":{"failing_tests":3,"warnings":2}"#), "{json}");
    let back: Feedback = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, fb);
    assert!(!fb.is_empty() && !Feedback { omitted: Omitted { errors: 1, ..Omitted::default() }, ..Feedback::default() }.is_empty());
}
