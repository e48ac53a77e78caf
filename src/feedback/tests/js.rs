use super::*;

const JEST_FAIL: &str = r#"
> textstats@1.0.0 test
> jest

 PASS  src/format.test.js
 FAIL  src/stats.test.js
  stats
    ✓ computes the mean (2 ms)
    ✕ computes the median (4 ms)
    ✕ rejects empty input (1 ms)

  ● stats › computes the median

    expect(received).toBe(expected) // Object.is equality

    Expected: 2.5
    Received: 3

      10 |   test('computes the median', () => {
      11 |     const xs = [1, 2, 3, 4];
    > 12 |     expect(median(xs)).toBe(2.5);
         |                        ^
      13 |   });
      14 |
      15 |   test('rejects empty input', () => {

      at Object.toBe (src/stats.test.js:12:24)

  ● stats › rejects empty input

    TypeError: xs.reduce is not a function

      3 | function mean(xs) {
    > 4 |   return xs.reduce((a, b) => a + b, 0) / xs.length;
        |             ^
      5 | }

      at reduce (src/stats.js:4:13)
      at Object.mean (src/stats.test.js:16:12)
      at Promise.then.completed (node_modules/jest-circus/build/utils.js:298:28)

Test Suites: 1 failed, 1 passed, 2 total
Tests:       2 failed, 4 passed, 6 total
Snapshots:   0 total
Time:        0.734 s
Ran all test suites.
"#;

const JEST_PASS: &str = " PASS  src/stats.test.js\n  stats\n    ✓ computes the mean (2 ms)\n    ○ skipped slow path\n    ✎ todo handles NaN\n\nTest Suites: 1 passed, 1 total\nTests:       1 skipped, 1 todo, 3 passed, 5 total\nSnapshots:   0 total\nTime:        0.401 s\n";

const JEST_SUITE_ERROR: &str = r#" FAIL  src/report.test.js
  ● Test suite failed to run

    Cannot find module './table' from 'src/report.js'

    Require stack:
      src/report.js
      src/report.test.js

      at Resolver._throwModNotFoundError (node_modules/jest-resolve/build/resolver.js:427:11)
      at Object.<anonymous> (src/report.js:1:1)

Test Suites: 1 failed, 1 total
Tests:       0 total
"#;

const VITEST_FAIL: &str = r#"
 RUN  v2.1.8 /home/dev/proj

 ❯ src/stats.test.ts (3 tests | 1 failed) 7ms
   × stats > computes the median 5ms
     → expected 3 to be 2.5 // Object.is equality
 ✓ src/format.test.ts (2 tests) 2ms

⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯ Failed Tests 1 ⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯

 FAIL  src/stats.test.ts > stats > computes the median
AssertionError: expected 3 to be 2.5 // Object.is equality

- Expected
+ Received

- 2.5
+ 3

 ❯ src/stats.test.ts:12:24
     10|   test('computes the median', () => {
     11|     const xs = [1, 2, 3, 4]
     12|     expect(median(xs)).toBe(2.5)
       |                        ^
     13|   })

⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯[1/1]⎯

 Test Files  1 failed | 1 passed (2)
      Tests  1 failed | 4 passed (5)
   Start at  10:42:17
   Duration  412ms (transform 61ms, setup 0ms, collect 80ms, tests 9ms, environment 0ms, prepare 190ms)
"#;

const NODE_CRASH: &str = r#"/home/dev/proj/src/index.js:7
  return rows.map((r) => r.cells.join(' | '));
                                 ^

TypeError: Cannot read properties of undefined (reading 'join')
    at /home/dev/proj/src/index.js:7:34
    at Array.map (<anonymous>)
    at render (/home/dev/proj/src/index.js:7:15)
    at Object.<anonymous> (/home/dev/proj/src/index.js:12:1)
    at Module._compile (node:internal/modules/cjs/loader:1554:14)
    at Object..js (node:internal/modules/cjs/loader:1706:10)
    at Module.load (node:internal/modules/cjs/loader:1289:32)
    at node:internal/main/run_main_module:36:49

Node.js v22.14.0
"#;

const NODE_LIBRARY_FIRST: &str = r#"file:///home/dev/proj/node_modules/yaml/dist/errors.js:41
        throw new YAMLParseError(...);
              ^
Error: Nested mappings are not allowed in compact mappings at line 3, column 8
    at Parser.parse (file:///home/dev/proj/node_modules/yaml/dist/parse/parser.js:120:15)
    at loadConfig (file:///home/dev/proj/src/config.mjs:9:22)
    at async main (file:///home/dev/proj/src/cli.mjs:4:18)
"#;

const NODE_MODULE_NOT_FOUND: &str = r#"node:internal/modules/cjs/loader:1228
  throw err;
  ^

Error: Cannot find module '/home/dev/proj/src/mian.js'
    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15)
    at Module._load (node:internal/modules/cjs/loader:1051:27)
    at node:internal/main/run_main_module:28:49 {
  code: 'MODULE_NOT_FOUND',
  requireStack: []
}

Node.js v20.11.1
"#;

#[test]
fn jest_failures() {
    let fb = analyze(JEST_FAIL);
    assert_eq!(fb.tests, counts(4, 2, 0));
    assert_eq!(fb.failing_tests, ["stats › computes the median", "stats › rejects empty input"]);
    let got: Vec<_> = fb.diagnostics.iter().map(|d| (d.kind.as_str(), at(d), d.message.as_str())).collect();
    assert_eq!(
        got,
        [
            (
                "jest",
                (Some("src/stats.test.js"), Some(12), Some(24)),
                "expect(received).toBe(expected) // Object.is equality (Expected: 2.5, Received: 3)"
            ),
            ("jest", (Some("src/stats.js"), Some(4), Some(13)), "TypeError: xs.reduce is not a function"),
        ]
    );
}

#[test]
fn jest_success_counts_skipped_and_todo() {
    let fb = analyze(JEST_PASS);
    assert_eq!(fb.tests, counts(3, 0, 2));
    assert!(fb.diagnostics.is_empty() && fb.failing_tests.is_empty());
}

#[test]
fn jest_suite_that_failed_to_run() {
    let fb = analyze(JEST_SUITE_ERROR);
    assert_eq!(fb.tests, counts(0, 0, 0));
    assert_eq!(fb.failing_tests, ["src/report.test.js (suite failed to run)"]);
    let d = only(&fb);
    assert_eq!(at(d), (Some("src/report.js"), Some(1), Some(1)));
    assert_eq!(d.message, "Cannot find module './table' from 'src/report.js'");
}

#[test]
fn vitest_failures() {
    let fb = analyze(VITEST_FAIL);
    assert_eq!(fb.tests, counts(4, 1, 0));
    assert_eq!(fb.failing_tests, ["src/stats.test.ts > stats > computes the median"]);
    let d = only(&fb);
    assert_eq!(d.kind, "vitest");
    assert_eq!(at(d), (Some("src/stats.test.ts"), Some(12), Some(24)));
    assert_eq!(d.message, "AssertionError: expected 3 to be 2.5 // Object.is equality");
}

#[test]
fn node_uncaught_error_points_at_the_first_user_frame() {
    let d = only_owned(analyze(NODE_CRASH));
    assert_eq!(d.kind, "node TypeError");
    assert_eq!(at(&d), (Some("/home/dev/proj/src/index.js"), Some(7), Some(34)));
    assert_eq!(d.message, "Cannot read properties of undefined (reading 'join')");
}

#[test]
fn node_skips_node_modules_frames() {
    let d = only_owned(analyze(NODE_LIBRARY_FIRST));
    assert_eq!(d.kind, "node Error");
    assert_eq!(at(&d), (Some("/home/dev/proj/src/config.mjs"), Some(9), Some(22)));
}

#[test]
fn node_error_with_only_internal_frames_has_no_location() {
    let d = only_owned(analyze(NODE_MODULE_NOT_FOUND));
    assert_eq!(d.kind, "node Error");
    assert_eq!(d.file, None);
    assert_eq!(d.message, "Cannot find module '/home/dev/proj/src/mian.js'");
}

#[test]
fn bullets_from_other_tools_are_not_jest_failures() {
    let out = "● nginx.service - A high performance web server and a reverse proxy server\n     Loaded: loaded (/lib/systemd/system/nginx.service; enabled; preset: enabled)\n     Active: failed (Result: exit-code) since Sat 2026-11-21 08:00:00 UTC; 3s ago\n    Process: 4121 ExecStartPre=/usr/sbin/nginx -t -q -g daemon on; master_process on; (code=exited, status=1/FAILURE)\n";
    assert!(analyze(out).is_empty());
}
