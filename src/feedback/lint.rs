//! Linters: eslint (stylish, unix and compact formats), ruff (full and concise) and shellcheck
//! (its default tty format and `-f gcc`).

use std::sync::LazyLock;

use regex::Regex;

use super::{Loc, Sink, re};

/// eslint stylish: the file is on its own line, problems below it are indented.
static ESLINT_FILE_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(/|[A-Za-z]:\\|\.{1,2}/|\w)\S*\.\w+$"));
static ESLINT_ENTRY_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s+(\d+):(\d+)\s+(error|warning)\s+(.+?)(?:\s{2,}(@?[\w/-]+))?\s*$"));
static ESLINT_UNIX_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\S.*?):(\d+):(\d+): (.+?) \[(Error|Warning)(?:/(@?[\w/-]+))?\]$"));
static ESLINT_COMPACT_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(\S.*?): line (\d+), col (\d+), (Error|Warning) - (.+?)(?: \((@?[\w/-]+)\))?$"));

/// ruff's rule codes (`F401`, `UP045`) and its syntax errors.
const RUFF_CODE: &str = r"(?:[A-Z]{1,6}\d{1,5}|invalid-syntax)";
/// ruff's full format: `F401 [*] msg`, then ` --> file:line:col` on the next line.
static RUFF_HEADER_RE: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"^({RUFF_CODE}):? (?:\[\*\] )?(.+)$")));
static RUFF_ARROW_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s*--> (.+?):(\d+):(\d+)\s*$"));
/// ruff's concise format (the default before 0.8): `file:line:col: F401 [*] msg`.
static RUFF_CONCISE_RE: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"^(\S.*?):(\d+):(\d+): ({RUFF_CODE}):? (?:\[\*\] )?(.+)$")));

/// shellcheck's default format: `In file line N:`, the source line, then one caret line per
/// problem whose `^` sits under the column.
static SC_HEADER_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^In (.+) line (\d+):$"));
static SC_CARET_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\s*)\^[-^]*\s+(SC\d+) \((error|warning|info|style)\): (.+)$"));
/// `shellcheck -f gcc`: `file:line:col: level: msg [SC2086]`.
static SC_GCC_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\S.*?):(\d+):(\d+): (error|warning|note|style|info): (.+) \[(SC\d+)\]$"));

/// Whether a line is shellcheck's gcc format, which the C compiler parser must leave alone.
pub(super) fn is_shellcheck_gcc(line: &str) -> bool {
    line.ends_with(']') && SC_GCC_RE.is_match(line)
}

pub(super) fn parse(lines: &[&str], sink: &mut Sink) {
    parse_eslint(lines, sink);
    parse_ruff(lines, sink);
    parse_shellcheck(lines, sink);
}

fn parse_eslint(lines: &[&str], sink: &mut Sink) {
    let mut eslint_file: Option<&str> = None;
    for (i, &line) in lines.iter().enumerate() {
        if line.is_empty() {
            eslint_file = None;
            continue;
        }
        if let Some(c) = ESLINT_UNIX_RE.captures(line) {
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

fn parse_ruff(lines: &[&str], sink: &mut Sink) {
    for (i, &line) in lines.iter().enumerate() {
        if let Some(c) = RUFF_CONCISE_RE.captures(line) {
            let get = |k: usize| c.get(k).map_or("", |m| m.as_str());
            sink.error(i, format!("ruff {}", get(4)), Loc::new(get(1), get(2), Some(get(3))), get(5));
            continue;
        }
        let Some(c) = RUFF_HEADER_RE.captures(line) else { continue };
        let Some(a) = lines.get(i + 1).and_then(|next| RUFF_ARROW_RE.captures(next)) else { continue };
        let get = |k: usize| c.get(k).map_or("", |m| m.as_str());
        let at = |k: usize| a.get(k).map_or("", |m| m.as_str());
        sink.error(i, format!("ruff {}", get(1)), Loc::new(at(1), at(2), Some(at(3))), get(2));
    }
}

fn parse_shellcheck(lines: &[&str], sink: &mut Sink) {
    let mut at: Option<(&str, &str)> = None;
    for (i, &line) in lines.iter().enumerate() {
        if let Some(c) = SC_GCC_RE.captures(line) {
            let get = |k: usize| c.get(k).map_or("", |m| m.as_str());
            shellcheck(sink, i, Loc::new(get(1), get(2), Some(get(3))), get(4), get(6), get(5));
        } else if let Some(c) = SC_HEADER_RE.captures(line) {
            at = Some((c.get(1).map_or("", |m| m.as_str()), c.get(2).map_or("", |m| m.as_str())));
        } else if let (Some((file, n)), Some(c)) = (at, SC_CARET_RE.captures(line)) {
            let get = |k: usize| c.get(k).map_or("", |m| m.as_str());
            // The caret line is aligned with the quoted source line, so its indent is the column.
            let col = (get(1).chars().count() + 1).to_string();
            shellcheck(sink, i, Loc::new(file, n, Some(&col)), get(3), get(2), get(4));
        }
    }
}

fn shellcheck(sink: &mut Sink, pos: usize, loc: Loc, level: &str, code: &str, message: &str) {
    if level == "error" {
        sink.error(pos, format!("shellcheck {code}"), loc, message);
    } else {
        sink.warning(pos, "shellcheck warning", loc, &format!("{message} [{code}]"));
    }
}
