//! `go test` / `go build` / `go vet` output.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use super::{Loc, Sink, re};

static RESULT_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*--- (FAIL|PASS|SKIP): (\S+) \("));
/// Package lines: `ok  \tpkg\t0.01s`, `FAIL\tpkg\t0.01s`, `FAIL\tpkg [build failed]`.
static PACKAGE_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(ok|FAIL)\s+(\S+)\s+(?:\d|\(cached\)|\[)"));
/// `t.Errorf` output: indented, file and line, no column.
static TEST_LOG_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s+([\w./-]+\.go):(\d+): (.*)$"));
/// Compiler and vet errors: column 0, file, line and column.
static COMPILE_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\S+\.go):(\d+):(\d+): (.+)$"));
static PANIC_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^panic: (.+?)(?: \[recovered\])?$"));
static STACK_FRAME_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\t(\S+\.go):(\d+)(?: \+0x[0-9a-f]+)?$"));

/// Goroutine dumps can be long; the user's frame is near the top of the panicking goroutine.
const PANIC_SCAN_LINES: usize = 200;

fn is_go_internal(path: &str) -> bool {
    path.contains("/src/runtime/")
        || path.contains("/src/testing/")
        || path.contains("/src/reflect/")
        || path.contains("/pkg/mod/")
        || path.starts_with("/usr/local/go/")
        || path.starts_with("/usr/lib/go")
}

/// A `t.Log`/`t.Error` line.
struct Log<'a> {
    pos: usize,
    file: &'a str,
    line: &'a str,
    message: &'a str,
}

impl Log<'_> {
    fn report(self, sink: &mut Sink) {
        sink.error(self.pos, "go test", Loc::new(self.file, self.line, None), self.message);
    }
}

pub(super) fn parse(lines: &[&str], sink: &mut Sink) {
    let mut verbose = false;
    let (mut pass, mut fail, mut skip) = (0u32, 0u32, 0u32);
    let (mut ok_pkgs, mut fail_pkgs) = (0u32, 0u32);
    let mut any = false;
    let mut current: Option<&str> = None;
    let mut pending: HashMap<&str, Vec<Log>> = HashMap::new();
    for (i, &line) in lines.iter().enumerate() {
        if let Some(name) = line.strip_prefix("=== RUN").or_else(|| line.strip_prefix("=== CONT")) {
            verbose = true;
            current = Some(name.trim());
        } else if let Some(c) = RESULT_RE.captures(line) {
            any = true;
            let name = c.get(2).map_or("", |m| m.as_str());
            let logs = pending.remove(name).unwrap_or_default();
            match c.get(1).map_or("", |m| m.as_str()) {
                "FAIL" => {
                    fail += 1;
                    sink.failing(i, name);
                    logs.into_iter().for_each(|l| l.report(sink));
                }
                "PASS" => pass += 1,
                _ => skip += 1,
            }
        } else if let Some(c) = PACKAGE_RE.captures(line) {
            any = true;
            if c.get(1).is_some_and(|m| m.as_str() == "ok") {
                ok_pkgs += 1;
            } else {
                fail_pkgs += 1;
            }
        } else if let Some(c) = TEST_LOG_RE.captures(line) {
            let get = |k: usize| c.get(k).map_or("", |m| m.as_str());
            let log = Log { pos: i, file: get(1), line: get(2), message: get(3) };
            // With -v, logs precede their test's result and passing or skipped tests log too;
            // they only matter once the test is known to have failed.
            match current {
                Some(name) if verbose => pending.entry(name).or_default().push(log),
                _ => log.report(sink),
            }
        } else if let Some(c) = COMPILE_RE.captures(line) {
            let get = |k: usize| c.get(k).map_or("", |m| m.as_str());
            sink.error(i, "go build", Loc::new(get(1), get(2), Some(get(3))), get(4));
        } else if let Some(c) = PANIC_RE.captures(line) {
            // The dump ends where go test reports the package or the next panic starts.
            let frame = lines
                .iter()
                .skip(i + 1)
                .take(PANIC_SCAN_LINES)
                .take_while(|l| !(l.starts_with("panic: ") || l.starts_with("FAIL") || l.starts_with("exit status")))
                .filter(|l| l.starts_with('\t'))
                .find_map(|l| {
                    STACK_FRAME_RE.captures(l).filter(|f| f.get(1).is_some_and(|p| !is_go_internal(p.as_str())))
                });
            let loc = frame.as_ref().map_or_else(Loc::default, |f| {
                Loc::new(f.get(1).map_or("", |m| m.as_str()), f.get(2).map_or("", |m| m.as_str()), None)
            });
            sink.error(i, "go panic", loc, c.get(1).map_or("", |m| m.as_str()));
        }
    }
    // A test killed by a panic or timeout never prints its result line.
    let mut left: Vec<Log> = pending.into_values().flatten().collect();
    left.sort_by_key(|l| l.pos);
    left.into_iter().for_each(|l| l.report(sink));
    if !any {
        return;
    }
    // Without -v passing tests print nothing, so only package results can be counted: the
    // counts are then packages, not tests.
    if verbose || pass + skip > 0 || ok_pkgs + fail_pkgs == 0 {
        sink.add_counts(pass, fail, skip);
    } else {
        sink.add_counts(ok_pkgs, fail_pkgs, 0);
    }
}
