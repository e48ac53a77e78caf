use super::*;

const PYTEST_FAILURES: &str = r#"============================= test session starts ==============================
platform linux -- Python 3.12.3, pytest-8.3.4, pluggy-1.5.0
rootdir: /home/dev/proj
configfile: pyproject.toml
collected 8 items

tests/test_stats.py .F..F.s.                                             [100%]

=================================== FAILURES ===================================
__________________________________ test_mean ___________________________________

    def test_mean():
>       assert mean([1, 2, 3, 4]) == 2.5
E       assert 2.0 == 2.5
E        +  where 2.0 = mean([1, 2, 3, 4])

tests/test_stats.py:8: AssertionError
_______________________________ test_mean_empty ________________________________

    def test_mean_empty():
>       assert mean([]) == 0

tests/test_stats.py:12: 
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ 

xs = []

    def mean(xs):
>       return sum(xs) // len(xs)
E       ZeroDivisionError: integer division or modulo by zero

textstats/core.py:12: ZeroDivisionError
----------------------------- Captured stdout call -----------------------------
computing mean of 0 values
=============================== warnings summary ===============================
tests/test_stats.py::test_median
  /home/dev/proj/textstats/core.py:20: DeprecationWarning: median_low is deprecated
    warnings.warn("median_low is deprecated", DeprecationWarning)

-- Docs: https://docs.pytest.org/en/stable/how-to/capture-warnings.html
=========================== short test summary info ============================
FAILED tests/test_stats.py::test_mean - assert 2.0 == 2.5
FAILED tests/test_stats.py::test_mean_empty - ZeroDivisionError: integer divis...
=============== 2 failed, 5 passed, 1 skipped, 1 warning in 0.31s ===============
"#;

const PYTEST_PASS: &str = r#"============================= test session starts ==============================
platform linux -- Python 3.12.3, pytest-8.3.4, pluggy-1.5.0
rootdir: /home/dev/proj
collected 12 items

tests/test_core.py ........                                              [ 66%]
tests/test_cli.py ...x                                                   [100%]

======================== 11 passed, 1 xfailed in 0.42s =========================
"#;

const PYTEST_QUIET: &str = "...........                                                              [100%]\n11 passed in 0.05s\n";

const PYTEST_COLLECTION_ERROR: &str = r#"============================= test session starts ==============================
platform linux -- Python 3.11.9, pytest-8.2.0, pluggy-1.5.0
rootdir: /home/dev/proj
collected 3 items / 1 error

==================================== ERRORS ====================================
____________________ ERROR collecting tests/test_report.py _____________________
ImportError while importing test module '/home/dev/proj/tests/test_report.py'.
Hint: make sure your test modules/packages have valid Python names.
Traceback:
/usr/lib/python3.11/importlib/__init__.py:126: in import_module
    return _bootstrap._gcd_import(name[level:], package, level)
tests/test_report.py:3: in <module>
    from textstats.report import render_table
E   ImportError: cannot import name 'render_table' from 'textstats.report' (/home/dev/proj/textstats/report.py)
=========================== short test summary info ============================
ERROR tests/test_report.py
!!!!!!!!!!!!!!!!!!!! Interrupted: 1 error during collection !!!!!!!!!!!!!!!!!!!!
=============================== 1 error in 0.09s ===============================
"#;

const PYTEST_SHORT_TB: &str = r#"============================= test session starts ==============================
collected 4 items

tests/test_io.py F...                                                    [100%]

=================================== FAILURES ===================================
_______________________________ test_read_words ________________________________
tests/test_io.py:9: in test_read_words
    words = read_words(path)
textstats/io.py:5: in read_words
    with open(path, encoding="utf-8") as fh:
E   FileNotFoundError: [Errno 2] No such file or directory: 'missing.txt'
=========================== short test summary info ============================
FAILED tests/test_io.py::test_read_words - FileNotFoundError: [Errno 2] No such file or directory: 'missing.txt'
========================= 1 failed, 3 passed in 0.08s ==========================
"#;

const PYTEST_VERBOSE_XDIST: &str = r#"[gw1] [ 50%] PASSED tests/test_a.py::test_ok
[gw0] [100%] FAILED tests/test_a.py::test_add[2-2-5]
tests/test_b.py::test_io ERROR                                           [100%]
=================== 1 failed, 1 passed, 1 error in 1.20s (0:00:01) ===================
"#;

const UNITTEST_FAILED: &str = r#".F.E.s
======================================================================
ERROR: test_median (tests.test_stats.StatsTest.test_median)
----------------------------------------------------------------------
Traceback (most recent call last):
  File "/home/dev/proj/tests/test_stats.py", line 14, in test_median
    self.assertEqual(median([]), 0)
                     ^^^^^^^^^^
  File "/home/dev/proj/textstats/core.py", line 20, in median
    return xs[len(xs) // 2]
           ~~^^^^^^^^^^^^^^
IndexError: list index out of range

======================================================================
FAIL: test_mean (tests.test_stats.StatsTest.test_mean)
----------------------------------------------------------------------
Traceback (most recent call last):
  File "/home/dev/proj/tests/test_stats.py", line 8, in test_mean
    self.assertEqual(mean([1, 2, 3, 4]), 2.5)
AssertionError: 2.0 != 2.5

----------------------------------------------------------------------
Ran 6 tests in 0.002s

FAILED (failures=1, errors=1, skipped=1)
"#;

const UNITTEST_OLD_STYLE: &str = r#"F
======================================================================
FAIL: test_parse (test_cli.CliTest)
----------------------------------------------------------------------
Traceback (most recent call last):
  File "/home/dev/proj/test_cli.py", line 11, in test_parse
    self.assertTrue(ok)
AssertionError: False is not true

----------------------------------------------------------------------
Ran 1 test in 0.000s

FAILED (failures=1)
"#;

const UNITTEST_OK: &str =
    "....s.\n----------------------------------------------------------------------\nRan 6 tests in 0.004s\n\nOK (skipped=1)\n";

#[test]
fn pytest_failures_give_counts_ids_and_locations() {
    let fb = analyze(PYTEST_FAILURES);
    assert_eq!(fb.tests, counts(5, 2, 1));
    assert_eq!(fb.failing_tests, ["tests/test_stats.py::test_mean", "tests/test_stats.py::test_mean_empty"]);
    assert_eq!(fb.diagnostics.len(), 2, "{fb:#?}");
    let a = &fb.diagnostics[0];
    assert_eq!(a.kind, "python AssertionError");
    assert_eq!(at(a), (Some("tests/test_stats.py"), Some(8), None));
    assert_eq!(a.message, "assert 2.0 == 2.5");
    let z = &fb.diagnostics[1];
    assert_eq!(z.kind, "python ZeroDivisionError");
    assert_eq!(at(z), (Some("textstats/core.py"), Some(12), None));
    assert_eq!(z.message, "integer division or modulo by zero");
}

#[test]
fn pytest_success_counts_xfail_as_skipped() {
    let fb = analyze(PYTEST_PASS);
    assert_eq!(fb.tests, counts(11, 0, 1));
    assert!(fb.diagnostics.is_empty() && fb.failing_tests.is_empty());
}

#[test]
fn pytest_quiet_summary() {
    assert_eq!(analyze(PYTEST_QUIET).tests, counts(11, 0, 0));
    assert_eq!(analyze("no tests ran in 0.01s\n").tests, counts(0, 0, 0));
}

#[test]
fn pytest_collection_error_points_at_the_import_in_the_test_module() {
    let fb = analyze(PYTEST_COLLECTION_ERROR);
    assert_eq!(fb.tests, counts(0, 1, 0));
    assert_eq!(fb.failing_tests, ["tests/test_report.py"]);
    let d = only(&fb);
    assert_eq!(d.kind, "python ImportError");
    assert_eq!(at(d), (Some("tests/test_report.py"), Some(3), None));
    assert!(d.message.starts_with("cannot import name 'render_table'"), "{}", d.message);
}

#[test]
fn pytest_short_tracebacks_use_the_innermost_frame() {
    let fb = analyze(PYTEST_SHORT_TB);
    assert_eq!(fb.tests, counts(3, 1, 0));
    let d = only(&fb);
    assert_eq!(d.kind, "python FileNotFoundError");
    assert_eq!(at(d), (Some("textstats/io.py"), Some(5), None));
    assert_eq!(d.message, "[Errno 2] No such file or directory: 'missing.txt'");
}

#[test]
fn pytest_verbose_and_xdist_lines_name_failing_tests() {
    let fb = analyze(PYTEST_VERBOSE_XDIST);
    assert_eq!(fb.failing_tests, ["tests/test_a.py::test_add[2-2-5]", "tests/test_b.py::test_io"]);
    assert_eq!(fb.tests, counts(1, 2, 0));
}

#[test]
fn pytest_tb_line_mode() {
    let out = "=================================== FAILURES ===================================\n/home/dev/proj/tests/test_stats.py:8: assert 2.0 == 2.5\n/home/dev/proj/textstats/core.py:12: ZeroDivisionError: division by zero\n========================= 2 failed, 3 passed in 0.08s ==========================\n";
    let fb = analyze(out);
    assert_eq!(fb.diagnostics.len(), 2);
    assert_eq!(fb.diagnostics[0].kind, "python AssertionError");
    assert_eq!(fb.diagnostics[1].kind, "python ZeroDivisionError");
    assert_eq!(fb.diagnostics[1].message, "division by zero");
}

#[test]
fn log_lines_starting_with_error_are_not_tests() {
    let out = "ERROR connection refused, retrying\nERROR: could not reach db (timeout)\nFAILED (see above)\n";
    assert!(analyze(out).is_empty());
}

#[test]
fn unittest_failures_and_errors() {
    let fb = analyze(UNITTEST_FAILED);
    assert_eq!(fb.tests, counts(3, 2, 1));
    assert_eq!(fb.failing_tests, ["tests.test_stats.StatsTest.test_median", "tests.test_stats.StatsTest.test_mean"]);
    assert_eq!(fb.diagnostics.len(), 2);
    assert_eq!(fb.diagnostics[0].kind, "python IndexError");
    assert_eq!(at(&fb.diagnostics[0]), (Some("/home/dev/proj/textstats/core.py"), Some(20), None));
    assert_eq!(fb.diagnostics[1].message, "2.0 != 2.5");
}

#[test]
fn unittest_before_3_11_names_the_class_only() {
    let fb = analyze(UNITTEST_OLD_STYLE);
    assert_eq!(fb.failing_tests, ["test_cli.CliTest.test_parse"]);
    assert_eq!(fb.tests, counts(0, 1, 0));
}

#[test]
fn unittest_ok() {
    let fb = analyze(UNITTEST_OK);
    assert_eq!(fb.tests, counts(5, 0, 1));
    assert!(fb.diagnostics.is_empty() && fb.failing_tests.is_empty());
}
