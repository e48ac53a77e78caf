//! Compilers that print one line per problem: gcc/clang (and anything using the same
//! `file:line:col: error: msg` convention, such as mypy or `rustc --error-format=short`) and tsc.

use std::sync::LazyLock;

use regex::Regex;

use super::{Loc, Sink, re};

static CC_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\S.*?):(\d+):(?:(\d+):)? (fatal error|error|warning)(?:\[([\w-]+)\])?: (.+)$"));
static TSC_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\S.*?)\((\d+),(\d+)\): (error|warning) (TS\d+): (.+)$"));
static TSC_PRETTY_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\S.*?):(\d+):(\d+) - (error|warning) (TS\d+): (.+)$"));

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
    for (i, &line) in lines.iter().enumerate() {
        if super::lint::is_shellcheck_gcc(line) {
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
        }
    }
}
