use super::*;

const GCC: &str = r#"gcc -Wall -O2 -c -o build/stats.o src/stats.c
src/stats.c: In function 'mean':
src/stats.c:14:12: warning: unused variable 'tmp' [-Wunused-variable]
   14 |     double tmp;
      |            ^~~
src/stats.c:18:5: error: 'totl' undeclared (first use in this function); did you mean 'total'?
   18 |     totl += xs[i];
      |     ^~~~
      |     total
src/stats.c:18:5: note: each undeclared identifier is reported only once for each function it appears in
In file included from src/main.c:2:
src/report.h:1:10: fatal error: table.h: No such file or directory
    1 | #include "table.h"
      |          ^~~~~~~~~
compilation terminated.
make: *** [Makefile:12: build/stats.o] Error 1
"#;

const CLANG_WARNINGS: &str = "src/stats.c:14:12: warning: unused variable 'tmp' [-Wunused-variable]\n   14 |     double tmp;\n      |            ^~~\n1 warning generated.\n";

const TSC: &str = r#"src/stats.ts(12,7): error TS2322: Type 'string' is not assignable to type 'number'.
src/report.ts(3,10): error TS2305: Module '"./stats"' has no exported member 'mode'.
"#;

const TSC_PRETTY: &str = r#"src/stats.ts:12:7 - error TS2322: Type 'string' is not assignable to type 'number'.

12   const n: number = label;
         ~

Found 1 error in src/stats.ts:12
"#;

const ESLINT_STYLISH: &str = r#"
/home/dev/proj/src/stats.js
   3:7   error    'unused' is assigned a value but never used  no-unused-vars
  10:3   warning  Unexpected console statement                 no-console

/home/dev/proj/src/report.js
  1:10  error  Parsing error: Unexpected token {

✖ 3 problems (2 errors, 1 warning)
"#;

const ESLINT_UNIX: &str = "/home/dev/proj/src/stats.js:3:7: 'unused' is assigned a value but never used. [Error/no-unused-vars]\n/home/dev/proj/src/stats.js:10:3: Unexpected console statement. [Warning/no-console]\n\n2 problems\n";

const ESLINT_COMPACT: &str =
    "/home/dev/proj/src/stats.js: line 3, col 7, Error - 'unused' is assigned a value but never used. (no-unused-vars)\n\n1 problem\n";

const MYPY: &str = "textstats/core.py:12: error: Incompatible return value type (got \"str\", expected \"float\")  [return-value]\nFound 1 error in 1 file (checked 4 source files)\n";

#[test]
fn gcc_errors_fatal_errors_and_warnings_notes_left_out() {
    let fb = analyze(GCC);
    let got: Vec<_> = fb.diagnostics.iter().map(|d| (d.kind.as_str(), at(d))).collect();
    assert_eq!(
        got,
        [
            ("cc warning", (Some("src/stats.c"), Some(14), Some(12))),
            ("cc", (Some("src/stats.c"), Some(18), Some(5))),
            ("cc", (Some("src/report.h"), Some(1), Some(10))),
        ]
    );
    assert_eq!(fb.diagnostics[2].message, "table.h: No such file or directory");
}

#[test]
fn compiler_warnings_alone_are_reported() {
    let d = only_owned(analyze(CLANG_WARNINGS));
    assert_eq!(d.kind, "cc warning");
    assert_eq!(d.message, "unused variable 'tmp' [-Wunused-variable]");
}

#[test]
fn tsc_both_formats() {
    let fb = analyze(TSC);
    assert_eq!(fb.diagnostics.len(), 2);
    assert_eq!(fb.diagnostics[0].kind, "tsc TS2322");
    assert_eq!(at(&fb.diagnostics[0]), (Some("src/stats.ts"), Some(12), Some(7)));
    assert_eq!(fb.diagnostics[1].message, "Module '\"./stats\"' has no exported member 'mode'.");

    let d = only_owned(analyze(TSC_PRETTY));
    assert_eq!(d.kind, "tsc TS2322");
    assert_eq!(at(&d), (Some("src/stats.ts"), Some(12), Some(7)));
}

#[test]
fn eslint_stylish_tracks_the_file_line() {
    let fb = analyze(ESLINT_STYLISH);
    let got: Vec<_> = fb.diagnostics.iter().map(|d| (d.kind.as_str(), at(d), d.message.as_str())).collect();
    assert_eq!(
        got,
        [
            (
                "eslint no-unused-vars",
                (Some("/home/dev/proj/src/stats.js"), Some(3), Some(7)),
                "'unused' is assigned a value but never used"
            ),
            ("eslint warning", (Some("/home/dev/proj/src/stats.js"), Some(10), Some(3)), "Unexpected console statement [no-console]"),
            ("eslint", (Some("/home/dev/proj/src/report.js"), Some(1), Some(10)), "Parsing error: Unexpected token {"),
        ]
    );
}

#[test]
fn eslint_unix_and_compact() {
    let fb = analyze(ESLINT_UNIX);
    let got: Vec<_> = fb.diagnostics.iter().map(|d| (d.kind.as_str(), at(d))).collect();
    assert_eq!(
        got,
        [
            ("eslint no-unused-vars", (Some("/home/dev/proj/src/stats.js"), Some(3), Some(7))),
            ("eslint warning", (Some("/home/dev/proj/src/stats.js"), Some(10), Some(3))),
        ]
    );

    let d = only_owned(analyze(ESLINT_COMPACT));
    assert_eq!(d.kind, "eslint no-unused-vars");
    assert_eq!(d.message, "'unused' is assigned a value but never used.");
}

#[test]
fn mypy_uses_the_same_shape_without_a_column() {
    let d = only_owned(analyze(MYPY));
    assert_eq!(d.kind, "mypy");
    assert_eq!(at(&d), (Some("textstats/core.py"), Some(12), None));
}

#[test]
fn short_rustc_format() {
    let d = only_owned(analyze(
        "src/main.rs:4:18: error[E0308]: mismatched types: expected `i32`, found `&str`\nerror: could not compile `textstats` (bin \"textstats\") due to 1 previous error\n",
    ));
    assert_eq!(d.kind, "rustc E0308");
    assert_eq!(at(&d), (Some("src/main.rs"), Some(4), Some(18)));
}
