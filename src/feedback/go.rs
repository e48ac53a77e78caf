//! `go test` / `go build` / `go vet` output.
//!
//! `go test` prints each package's output in one piece, ending with the package's result line
//! (`ok  \tpkg\t0.01s`, `FAIL\tpkg\t0.01s`, `FAIL\tpkg [build failed]`). `t.Errorf` lines name
//! only the file, so what a package printed is held until its result line says which package
//! (and so which folder) it was.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use super::{Context, Loc, Sink, re};

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

/// A problem found in a package's output, kept until the package is known.
struct Problem<'a> {
    pos: usize,
    kind: &'static str,
    file: &'a str,
    line: &'a str,
    col: Option<&'a str>,
    message: &'a str,
}

/// What one package printed so far.
#[derive(Default)]
struct Package<'a> {
    problems: Vec<Problem<'a>>,
    /// `t.Log` lines of tests whose result is not known yet (with -v they come first).
    pending: HashMap<&'a str, Vec<Problem<'a>>>,
}

impl<'a> Package<'a> {
    /// Reports the package's problems, putting bare file names in the package's folder.
    fn flush(&mut self, dir: Option<&str>, sink: &mut Sink) {
        // A test killed by a panic or timeout never prints its result line.
        let mut left: Vec<Problem> = self.pending.drain().flat_map(|(_, logs)| logs).collect();
        left.sort_by_key(|p| p.pos);
        self.problems.extend(left);
        for p in self.problems.drain(..) {
            let file = match dir {
                Some(d) if !d.is_empty() && !p.file.contains('/') => format!("{d}/{}", p.file),
                _ => p.file.to_string(),
            };
            sink.error(p.pos, p.kind, Loc::new(&file, p.line, p.col), p.message);
        }
    }
}

/// The module path `go.mod` declares, which package import paths start with.
fn module_path(ctx: &Context) -> Option<String> {
    let text = ctx.read_small("go.mod")?;
    let line = text.lines().map(str::trim).find(|l| l.starts_with("module "))?;
    let path = line.trim_start_matches("module ").split("//").next()?.trim().trim_matches('"');
    (!path.is_empty()).then(|| path.to_string())
}

/// The folder of a package, relative to the module's root (the workspace).
fn package_dir<'p>(module: Option<&str>, package: &'p str) -> Option<&'p str> {
    let module = module?;
    if package == module {
        return Some("");
    }
    package.strip_prefix(module)?.strip_prefix('/')
}

pub(super) fn parse(lines: &[&str], sink: &mut Sink) {
    let module = module_path(sink.ctx);
    let mut verbose = false;
    let (mut pass, mut fail, mut skip) = (0u32, 0u32, 0u32);
    let mut packages_seen = false;
    let mut build_failed: Vec<&str> = Vec::new();
    let mut current: Option<&str> = None;
    let mut package = Package::default();
    for (i, &line) in lines.iter().enumerate() {
        if let Some(name) = line.strip_prefix("=== RUN").or_else(|| line.strip_prefix("=== CONT")) {
            verbose = true;
            current = Some(name.trim());
        } else if let Some(c) = RESULT_RE.captures(line) {
            let name = c.get(2).map_or("", |m| m.as_str());
            let logs = package.pending.remove(name).unwrap_or_default();
            match c.get(1).map_or("", |m| m.as_str()) {
                "FAIL" => {
                    fail += 1;
                    sink.failing(i, name);
                    package.problems.extend(logs);
                }
                "PASS" => pass += 1,
                _ => skip += 1,
            }
        } else if let Some(c) = PACKAGE_RE.captures(line) {
            packages_seen = true;
            let name = c.get(2).map_or("", |m| m.as_str());
            if line.ends_with("[build failed]") || line.ends_with("[setup failed]") {
                build_failed.push(name);
            }
            package.flush(package_dir(module.as_deref(), name), sink);
            current = None;
        } else if let Some(c) = TEST_LOG_RE.captures(line) {
            let get = |k: usize| c.get(k).map_or("", |m| m.as_str());
            let log = Problem { pos: i, kind: "go test", file: get(1), line: get(2), col: None, message: get(3) };
            // With -v, logs precede their test's result and passing or skipped tests log too;
            // they only matter once the test is known to have failed.
            match current {
                Some(name) if verbose => package.pending.entry(name).or_default().push(log),
                _ => package.problems.push(log),
            }
        } else if let Some(c) = COMPILE_RE.captures(line) {
            // Build and vet errors name files relative to where go ran.
            let get = |k: usize| c.get(k).map_or("", |m| m.as_str());
            sink.error(i, "go", Loc::new(get(1), get(2), Some(get(3))), get(4));
        } else if let Some(c) = PANIC_RE.captures(line) {
            panic(lines, i, c.get(1).map_or("", |m| m.as_str()), sink);
        }
    }
    package.flush(None, sink);
    if !packages_seen && pass + fail + skip == 0 {
        return;
    }
    if verbose {
        sink.add_counts(pass, fail, skip);
    } else {
        // Without -v, passing and skipped tests print nothing: only the failures are known.
        sink.counts_unknown("go test prints passing tests only with -v");
    }
    match build_failed.as_slice() {
        [] => {}
        [one] => sink.counts_unknown(format!("{one} did not build, so its tests did not run")),
        many => sink.counts_unknown(format!("{} packages did not build, so their tests did not run", many.len())),
    }
}

/// A panic, located at the first frame outside the runtime. Stack frames are absolute paths,
/// which the sink makes workspace-relative.
fn panic(lines: &[&str], i: usize, message: &str, sink: &mut Sink) {
    // The dump ends where go test reports the package or the next panic starts.
    let frame = lines
        .iter()
        .skip(i + 1)
        .take(PANIC_SCAN_LINES)
        .take_while(|l| !(l.starts_with("panic: ") || l.starts_with("FAIL") || l.starts_with("exit status")))
        .filter(|l| l.starts_with('\t'))
        .find_map(|l| STACK_FRAME_RE.captures(l).filter(|f| f.get(1).is_some_and(|p| !is_go_internal(p.as_str()))));
    let loc = frame
        .as_ref()
        .map_or_else(Loc::default, |f| Loc::new(f.get(1).map_or("", |m| m.as_str()), f.get(2).map_or("", |m| m.as_str()), None));
    sink.error(i, "go panic", loc, message);
}
