use super::*;

const VERBOSE_FAIL: &str = "=== RUN   TestMean\n--- PASS: TestMean (0.00s)\n=== RUN   TestMedian\n=== RUN   TestMedian/even\n    stats_test.go:21: Median([1 2 3 4]) = 3; want 2.5\n=== RUN   TestMedian/odd\n--- FAIL: TestMedian (0.00s)\n    --- FAIL: TestMedian/even (0.00s)\n    --- PASS: TestMedian/odd (0.00s)\n=== RUN   TestSlow\n    stats_test.go:30: skipping in short mode\n--- SKIP: TestSlow (0.00s)\nFAIL\nFAIL\texample.com/textstats\t0.003s\nFAIL\n";

const QUIET_FAIL: &str = "--- FAIL: TestMedian (0.00s)\n    stats_test.go:21: Median([1 2 3 4]) = 3; want 2.5\nFAIL\nFAIL\texample.com/textstats\t0.002s\nok  \texample.com/textstats/report\t0.004s\n?   \texample.com/textstats/cmd/ts\t[no test files]\nFAIL\n";

const ALL_OK: &str = "ok  \texample.com/textstats\t0.002s\nok  \texample.com/textstats/report\t(cached)\n?   \texample.com/textstats/cmd/ts\t[no test files]\n";

const BUILD_FAILED: &str = "# example.com/textstats [example.com/textstats.test]\n./stats_test.go:10:9: undefined: Mode\n./stats.go:33:2: declared and not used: total\nFAIL\texample.com/textstats [build failed]\nFAIL\n";

const PANIC: &str = "--- FAIL: TestMode (0.00s)\npanic: runtime error: index out of range [3] with length 3 [recovered]\n\tpanic: runtime error: index out of range [3] with length 3\n\ngoroutine 7 [running]:\ntesting.tRunner.func1.2({0x5190a0, 0xc000018180})\n\t/usr/local/go/src/testing/testing.go:1632 +0x230\npanic({0x5190a0?, 0xc000018180?})\n\t/usr/local/go/src/runtime/panic.go:785 +0x132\nexample.com/textstats.Mode(...)\n\t/home/dev/proj/stats.go:41\nexample.com/textstats.TestMode(0xc0000a0b60?)\n\t/home/dev/proj/stats_test.go:40 +0x25\ntesting.tRunner(0xc0000a0b60, 0x545e18)\n\t/usr/local/go/src/testing/testing.go:1690 +0xf4\nFAIL\texample.com/textstats\t0.004s\nFAIL\n";

#[test]
fn verbose_counts_every_result_line() {
    let fb = analyze(VERBOSE_FAIL);
    assert_eq!(fb.tests, counts(2, 2, 1));
    assert_eq!(fb.failing_tests, ["TestMedian", "TestMedian/even"]);
    // The skip message logged by TestSlow is not a problem.
    let d = only(&fb);
    assert_eq!(d.kind, "go test");
    assert_eq!(at(d), (Some("stats_test.go"), Some(21), None));
    assert_eq!(d.message, "Median([1 2 3 4]) = 3; want 2.5");
}

#[test]
fn without_verbose_the_counts_are_unknown_and_packages_are_not_counted_as_tests() {
    let fb = analyze(QUIET_FAIL);
    assert_eq!(fb.tests, None);
    assert_eq!(fb.tests_unknown.as_deref(), Some("go test prints passing tests only with -v"));
    assert_eq!(fb.failing_tests, ["TestMedian"]);
    assert_eq!(only(&fb).line, Some(21));
    assert!(render(&fb).starts_with("[feedback] tests: counts unknown (go test prints passing tests only with -v); 1 failing test\n"));

    let fb = analyze(ALL_OK);
    assert_eq!(fb.tests, None);
    assert!(fb.tests_unknown.is_some());
    assert!(fb.diagnostics.is_empty());
}

#[test]
fn log_lines_are_put_in_their_package_folder_from_go_mod() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    std::fs::write(dir.path().join("go.mod"), "module example.com/textstats // the module\n\ngo 1.22\n").unwrap_or_else(|e| panic!("{e}"));
    let ctx = Context::workspace(dir.path());
    let out = "--- FAIL: TestTable (0.00s)\n    table_test.go:9: bad width\nFAIL\nFAIL\texample.com/textstats/report\t0.002s\n--- FAIL: TestMedian (0.00s)\n    stats_test.go:21: Median([1 2 3 4]) = 3; want 2.5\nFAIL\nFAIL\texample.com/textstats\t0.002s\n--- FAIL: TestX (0.00s)\n    x_test.go:3: other module\nFAIL\nFAIL\texample.org/other\t0.002s\n";
    let fb = analyze_in(out, &ctx);
    let files: Vec<_> = fb.diagnostics.iter().map(|d| d.file.as_deref().unwrap_or("")).collect();
    assert_eq!(files, ["report/table_test.go", "stats_test.go", "x_test.go"]);
}

#[test]
fn build_failures_are_compile_diagnostics() {
    let fb = analyze(BUILD_FAILED);
    assert_eq!(fb.tests, None);
    assert!(fb.tests_unknown.as_deref().is_some_and(|w| w.contains("example.com/textstats did not build")), "{fb:?}");
    let got: Vec<_> = fb.diagnostics.iter().map(|d| (d.kind.as_str(), at(d), d.message.as_str())).collect();
    assert_eq!(
        got,
        [
            ("go", (Some("stats_test.go"), Some(10), Some(9)), "undefined: Mode"),
            ("go", (Some("stats.go"), Some(33), Some(2)), "declared and not used: total"),
        ]
    );
}

#[test]
fn panics_point_at_user_code_past_the_runtime() {
    let fb = analyze(PANIC);
    assert_eq!(fb.failing_tests, ["TestMode"]);
    let d = only(&fb);
    assert_eq!(d.kind, "go panic");
    assert_eq!(at(d), (Some("/home/dev/proj/stats.go"), Some(41), None));
    assert_eq!(d.message, "runtime error: index out of range [3] with length 3");
}
