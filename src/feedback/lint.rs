//! Compilers and linters that print one line per problem: gcc/clang (and anything using the
//! same `file:line:col: error: msg` convention, such as mypy or `rustc --error-format=short`),
//! tsc, and eslint's stylish, unix and compact formats.

use std::sync::LazyLock;

use regex::Regex;

use super::{Loc, Sink, re};

static CC_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(\S.*?):(\d+):(?:(\d+):)? (fatal error|error|warning)(?:\[([\w-]+)\])?: (.+)$")
});
static TSC_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\S.*?)\((\d+),(\d+)\): (error|warning) (TS\d+): (.+)$"));
static TSC_PRETTY_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(\S.*?):(\d+):(\d+) - (error|warning) (TS\d+): (.+)$"));
/// eslint stylish: the file is on its own line, problems below it are indented.
static ESLINT_FILE_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(/|[A-Za-z]:\\|\.{1,2}/|\w)\S*\.\w+$"));
static ESLINT_ENTRY_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^\s+(\d+):(\d+)\s+(error|warning)\s+(.+?)(?:\s{2,}(@?[\w/-]+))?\s*$"));
static ESLINT_UNIX_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(\S.*?):(\d+):(\d+): (.+?) \[(Error|Warning)(?:/(@?[\w/-]+))?\]$"));
static ESLINT_COMPACT_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^(\S.*?): line (\d+), col (\d+), (Error|Warning) - (.+?)(?: \((@?[\w/-]+)\))?$")
});

/// Names the tool from the file type, since the `file:line:col: error:` shape is shared.
fn cc_tool(file: &str, code: Option<&str>) -> String {
    if let Some(code) = code.filter(|c| c.starts_with('E') && file.ends_with(".rs")) {
        return format!("rustc {code}");
    }
    let ext = file.rsplit('.').next().unwrap_or("");
    match ext {
        "c" | "h" | "cc" | "cpp" | "cxx" | "hpp" | "hh" | "hxx" | "m" | "mm" => "cc",
        "py" | "pyi" => "mypy",
        "rs" => "rustc",
        _ => "compiler",
    }
    .to_string()
}

pub(super) fn parse(lines: &[&str], sink: &mut Sink) {
    let mut eslint_file: Option<&str> = None;
    for (i, &line) in lines.iter().enumerate() {
        if line.is_empty() {
            eslint_file = None;
            continue;
        }
        if let Some(c) = CC_RE.captures(line) {
            let get = |k: usize| c.get(k).map_or("", |m| m.as_str());
            let loc = Loc::new(get(1), get(2), c.get(3).map(|m| m.as_str()));
            let tool = cc_tool(get(1), c.get(5).map(|m| m.as_str()));
            if get(4) == "warning" {
                sink.warning(i, format!("{tool} warning"), loc, get(6));
            } else {
                sink.error(i, tool, loc, get(6));
            }
        } else if let Some(c) = TSC_RE.captures(line).or_else(|| TSC_PRETTY_RE.captures(line)) {
            let get = |k: usize| c.get(k).map_or("", |m| m.as_str());
            let loc = Loc::new(get(1), get(2), Some(get(3)));
            if get(4) == "warning" {
                sink.warning(i, "tsc warning", loc, &format!("{} {}", get(5), get(6)));
            } else {
                sink.error(i, format!("tsc {}", get(5)), loc, get(6));
            }
        } else if let Some(c) = ESLINT_UNIX_RE.captures(line) {
            let get = |k: usize| c.get(k).map_or("", |m| m.as_str());
            eslint(sink, i, Loc::new(get(1), get(2), Some(get(3))), get(5) == "Error", get(4), c.get(6));
        } else if let Some(c) = ESLINT_COMPACT_RE.captures(line) {
            let get = |k: usize| c.get(k).map_or("", |m| m.as_str());
            eslint(sink, i, Loc::new(get(1), get(2), Some(get(3))), get(4) == "Error", get(5), c.get(6));
        } else if let Some(file) = eslint_file {
            if let Some(c) = ESLINT_ENTRY_RE.captures(line) {
                let get = |k: usize| c.get(k).map_or("", |m| m.as_str());
                eslint(sink, i, Loc::new(file, get(1), Some(get(2))), get(3) == "error", get(4), c.get(5));
            } else {
                eslint_file = None;
            }
        } else if ESLINT_FILE_RE.is_match(line) {
            eslint_file = Some(line);
        }
    }
}

fn eslint(sink: &mut Sink, pos: usize, loc: Loc, error: bool, message: &str, rule: Option<regex::Match>) {
    let rule = rule.map(|m| m.as_str());
    if error {
        sink.error(pos, rule.map_or_else(|| "eslint".to_string(), |r| format!("eslint {r}")), loc, message);
    } else {
        let message = rule.map_or_else(|| message.to_string(), |r| format!("{message} [{r}]"));
        sink.warning(pos, "eslint warning", loc, &message);
    }
}
