use super::*;

const BUILD_ERRORS: &str = r#"   Compiling libc v0.2.155
   Compiling textstats v0.1.0 (/home/dev/proj)
warning: unused variable: `count`
 --> src/lib.rs:3:9
  |
3 |     let count = 0;
  |         ^^^^^ help: if this is intentional, prefix it with an underscore: `_count`
  |
  = note: `#[warn(unused_variables)]` on by default

error[E0308]: mismatched types
 --> src/main.rs:4:18
  |
4 |     let n: i32 = "hello";
  |            ---   ^^^^^^^ expected `i32`, found `&str`
  |            |
  |            expected due to this

error[E0425]: cannot find value `totl` in this scope
  --> src/main.rs:12:20
   |
12 |     println!("{}", totl);
   |                    ^^^^ help: a local variable with a similar name exists: `total`

error: unused import: `std::fs`
 --> src/main.rs:1:5
  |
1 | use std::fs;
  |     ^^^^^^^

Some errors have detailed explanations: E0308, E0425.
For more information about an error, try `rustc --explain E0308`.
warning: `textstats` (bin "textstats") generated 1 warning
error: could not compile `textstats` (bin "textstats") due to 3 previous errors; 1 warning emitted
"#;

const WARNINGS_ONLY: &str = r#"    Checking textstats v0.1.0 (/home/dev/proj)
warning: function `helper` is never used
  --> src/util.rs:14:4
   |
14 | fn helper() -> u32 {
   |    ^^^^^^
   |
   = note: `#[warn(dead_code)]` on by default

warning: `textstats` (lib) generated 1 warning
    Finished `dev` profile [unoptimized + debuginfo] target(s) in 0.41s
"#;

const TEST_FAILURE: &str = r#"   Compiling textstats v0.1.0 (/home/dev/proj)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 1.02s
     Running unittests src/lib.rs (target/debug/deps/textstats-3f2a1c9e0b7d4e21)

running 4 tests
test tests::mean_of_empty_is_none ... ok
test tests::mean_of_four ... ok
test tests::median_even ... FAILED
test tests::slow_case ... ignored

failures:

---- tests::median_even stdout ----

thread 'tests::median_even' panicked at src/lib.rs:41:9:
assertion `left == right` failed
  left: 3.0
 right: 2.5
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


failures:
    tests::median_even

test result: FAILED. 2 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s

error: test failed, to rerun pass `--lib`
"#;

const TEST_SEVERAL_BINARIES: &str = r#"     Running unittests src/lib.rs (target/debug/deps/textstats-3f2a1c9e0b7d4e21)

running 3 tests
test tests::a ... ok
test tests::b ... ok
test tests::c ... ok

test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s

     Running tests/cli.rs (target/debug/deps/cli-9c0e1f2a3b4d5e6f)

running 2 tests
test prints_usage ... ok
test rejects_bad_flag ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

   Doc-tests textstats

running 1 test
test src/lib.rs - mean (line 5) ... ignored

test result: ok. 0 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s

"#;

const OLD_PANIC: &str = "thread 'main' panicked at 'called `Option::unwrap()` on a `None` value', src/main.rs:7:41\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";

const RUN_PANIC_WITH_THREAD_ID: &str = "     Running `target/debug/textstats data.txt`\n\nthread 'main' (48213) panicked at src/main.rs:9:33:\ncalled `Result::unwrap()` on an `Err` value: Os { code: 2, kind: NotFound, message: \"No such file or directory\" }\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";

#[test]
fn build_errors_keep_codes_and_locations_and_warnings() {
    let fb = analyze(BUILD_ERRORS);
    let got: Vec<_> = fb.diagnostics.iter().map(|d| (d.kind.as_str(), at(d), d.message.as_str())).collect();
    assert_eq!(
        got,
        [
            ("rustc warning", (Some("src/lib.rs"), Some(3), Some(9)), "unused variable: `count`"),
            ("rustc E0308", (Some("src/main.rs"), Some(4), Some(18)), "mismatched types"),
            ("rustc E0425", (Some("src/main.rs"), Some(12), Some(20)), "cannot find value `totl` in this scope"),
            ("rustc", (Some("src/main.rs"), Some(1), Some(5)), "unused import: `std::fs`"),
        ]
    );
    assert!(fb.tests.is_none() && fb.failing_tests.is_empty());
}

#[test]
fn warnings_are_kept_when_nothing_failed() {
    let d = only_owned(analyze(WARNINGS_ONLY));
    assert_eq!(d.kind, "rustc warning");
    assert_eq!(at(&d), (Some("src/util.rs"), Some(14), Some(4)));
    assert_eq!(d.message, "function `helper` is never used");
}

#[test]
fn cargo_test_failure() {
    let fb = analyze(TEST_FAILURE);
    assert_eq!(fb.tests, counts(2, 1, 1));
    assert_eq!(fb.failing_tests, ["tests::median_even"]);
    let d = only(&fb);
    assert_eq!(d.kind, "rust panic");
    assert_eq!(at(d), (Some("src/lib.rs"), Some(41), Some(9)));
    assert_eq!(d.message, "assertion `left == right` failed; left: 3.0; right: 2.5");
}

#[test]
fn result_lines_of_every_test_binary_add_up() {
    let fb = analyze(TEST_SEVERAL_BINARIES);
    assert_eq!(fb.tests, counts(5, 0, 1));
    assert!(fb.failing_tests.is_empty() && fb.diagnostics.is_empty());
}

#[test]
fn panics_in_old_and_new_formats() {
    let d = only_owned(analyze(OLD_PANIC));
    assert_eq!(at(&d), (Some("src/main.rs"), Some(7), Some(41)));
    assert_eq!(d.message, "called `Option::unwrap()` on a `None` value");

    let d = only_owned(analyze(RUN_PANIC_WITH_THREAD_ID));
    assert_eq!(at(&d), (Some("src/main.rs"), Some(9), Some(33)));
    assert!(d.message.starts_with("called `Result::unwrap()` on an `Err` value: Os"), "{}", d.message);
}

const NEXTEST: &str = r#"    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.05s
------------
 Nextest run ID 6f1e2a40-3c1d-4b8e-9a57-0d2c8e1f9b3a with nextest profile: default
    Starting 3 tests across 1 binary
        PASS [   0.003s] textstats tests::mean_of_four
        FAIL [   0.004s] textstats tests::median_even

--- STDOUT:              textstats tests::median_even ---

running 1 test
test tests::median_even ... FAILED

failures:

failures:
    tests::median_even

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 2 filtered out; finished in 0.00s

--- STDERR:              textstats tests::median_even ---
thread 'tests::median_even' panicked at src/lib.rs:41:9:
assertion `left == right` failed
  left: 3.0
 right: 2.5
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

        PASS [   0.002s] textstats tests::mean_of_empty_is_none
------------
     Summary [   0.006s] 3 tests run: 2 passed, 1 failed, 0 skipped
        FAIL [   0.004s] textstats tests::median_even
error: test run failed
"#;

#[test]
fn nextest_summary_and_failures_win_over_the_echoed_libtest_lines() {
    let fb = analyze(NEXTEST);
    assert_eq!(fb.failing_tests, ["textstats tests::median_even"]);
    assert_eq!(fb.tests, counts(2, 1, 0));
    let d = only(&fb);
    assert_eq!(d.kind, "rust panic");
    assert_eq!(at(d), (Some("src/lib.rs"), Some(41), Some(9)));
}
