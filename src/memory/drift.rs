//! Checks on what a checkpoint writer kept of the user's words.
//!
//! A writer that paraphrases loses exactly the details a long task turns on: "advance the
//! counter to 60" becomes "advance the counter to the end". The checks here are literal on
//! purpose: they compare the task's key terms (numbers, quoted strings, file names and
//! identifiers) and earlier directives against the new checkpoint's text, so a flag always
//! names what is gone.

use crate::protocol::{Checkpoint, CheckpointField, CheckpointFlag};

pub const INTENT_DRIFT: &str = "intent_drift";
pub const STALE_TASK: &str = "stale_task";
pub const LOST_DIRECTIVE: &str = "lost_directive";
pub const SNAPSHOT_MISSING: &str = "snapshot_missing";

/// Checkpoints in a row (this one included) a task may stay `in_progress`, unchanged, before
/// it is flagged.
pub const STALE_AFTER: usize = 3;

/// What kind of key term a term is; numbers compare as whole numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Number(String),
    Text(String),
}

impl Term {
    pub fn as_str(&self) -> &str {
        match self {
            Term::Number(s) | Term::Text(s) => s,
        }
    }
}

const QUOTES: [(char, char); 4] = [('"', '"'), ('“', '”'), ('`', '`'), ('\'', '\'')];

/// Quoted spans of `text` on one line: double, curly and back quotes anywhere; single quotes
/// only around words (so that "don't" is not a quote).
fn quoted(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let Some(&(_, close)) = QUOTES.iter().find(|(open, _)| *open == chars[i]) else {
            i += 1;
            continue;
        };
        let single = chars[i] == '\'';
        if single && i > 0 && chars[i - 1].is_alphanumeric() {
            i += 1;
            continue;
        }
        let end = (i + 1..chars.len())
            .take_while(|j| chars[*j] != '\n')
            .find(|j| chars[*j] == close && (!single || chars.get(j + 1).is_none_or(|c| !c.is_alphanumeric())));
        match end {
            Some(e) => {
                let inner: String = chars[i + 1..e].iter().collect();
                let inner = inner.trim();
                if !inner.is_empty() && inner.chars().count() <= 200 {
                    out.push(inner.to_string());
                }
                i = e + 1;
            }
            None => i += 1,
        }
    }
    out
}

const EDGE: &[char] = &['.', ',', ';', ':', '!', '?', '(', ')', '[', ']', '{', '}', '"', '\'', '`', '“', '”', '‘', '’', '<', '>'];

fn is_number(t: &str) -> bool {
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    let t = t.strip_suffix('%').unwrap_or(t);
    let mut parts = t.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac_ok = parts.next().is_none_or(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()));
    int.starts_with(|c: char| c.is_ascii_digit()) && int.chars().all(|c| c.is_ascii_digit() || c == ',') && frac_ok
}

fn is_file_name(t: &str) -> bool {
    if t.contains('/') && t.chars().any(char::is_alphanumeric) {
        return true;
    }
    // `name.ext` with a short alphabetic-led extension: main.rs, config.toml, README.md.
    match t.rsplit_once('.') {
        Some((stem, ext)) => {
            !stem.is_empty()
                && stem.chars().any(char::is_alphabetic)
                && (1..=6).contains(&ext.len())
                && ext.starts_with(|c: char| c.is_ascii_alphabetic())
                && ext.chars().all(|c| c.is_ascii_alphanumeric())
        }
        None => false,
    }
}

fn is_identifier(t: &str) -> bool {
    let has_alpha = t.chars().any(char::is_alphabetic);
    if !has_alpha {
        return false;
    }
    if t.contains('_') || t.contains("::") || t.ends_with("()") || (t.starts_with("--") && t.len() > 2) {
        return true;
    }
    // Letters and digits mixed: v2, sha256, E0308.
    if t.chars().any(|c| c.is_ascii_digit()) {
        return true;
    }
    // camelCase or PascalCase: an upper-case letter after a lower-case one.
    let chars: Vec<char> = t.chars().collect();
    chars.windows(2).any(|w| w[0].is_lowercase() && w[1].is_uppercase())
}

/// The task's key terms, in order of appearance, without repeats.
pub fn key_terms(text: &str) -> Vec<Term> {
    let mut out: Vec<Term> = Vec::new();
    let mut add = |t: Term| {
        if !out.contains(&t) {
            out.push(t);
        }
    };
    for q in quoted(text) {
        add(Term::Text(q));
    }
    for raw in text.split_whitespace() {
        let t = raw.trim_matches(EDGE);
        if t.is_empty() {
            continue;
        }
        if is_number(t) {
            add(Term::Number(t.strip_suffix('%').unwrap_or(t).to_string()));
        } else if is_file_name(t) || is_identifier(t) {
            add(Term::Text(t.to_string()));
        }
    }
    out
}

/// Whether `text` holds `term`: a number as a whole number (60 is not in 600 or 1.60), any
/// other term as a substring.
pub fn contains_term(text: &str, term: &Term) -> bool {
    match term {
        Term::Text(t) => text.contains(t.as_str()),
        Term::Number(n) => text.match_indices(n.as_str()).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + n.len()..].chars().next();
            let digitish = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
            let decimal_before = before == Some('.') && text[..i.saturating_sub(1)].ends_with(|c: char| c.is_ascii_digit());
            let decimal_after = after == Some('.') && text[i + n.len() + 1..].starts_with(|c: char| c.is_ascii_digit());
            !digitish(before) && !digitish(after) && !decimal_before && !decimal_after
        }),
    }
}

/// A field as plain text: a string as it is, a list one item a line.
pub fn field_plain(f: &CheckpointField) -> String {
    match f {
        CheckpointField::Text(t) => t.clone(),
        CheckpointField::List(items) => items.join("\n"),
    }
}

/// `intent_drift` when the checkpoint's `active_intent` lacks any of the task's key terms.
pub fn intent_drift(task: &str, cp: &Checkpoint) -> Option<CheckpointFlag> {
    let intent = field_plain(&cp.active_intent);
    if intent.trim().is_empty() && !task.trim().is_empty() {
        return Some(CheckpointFlag { kind: INTENT_DRIFT.into(), detail: "active_intent is empty".into() });
    }
    let lost: Vec<String> = key_terms(task).iter().filter(|t| !contains_term(&intent, t)).map(|t| quote(t.as_str())).collect();
    (!lost.is_empty()).then(|| CheckpointFlag {
        kind: INTENT_DRIFT.into(),
        detail: format!("active_intent lost the task's {}: {}", plural(lost.len(), "key term", "key terms"), lost.join(", ")),
    })
}

/// The directives of a checkpoint, one item each: a list's items, or a text's lines without
/// their bullets.
pub fn directive_items(cp: &Checkpoint) -> Vec<String> {
    let items: Vec<String> = match &cp.directives {
        CheckpointField::List(items) => items.clone(),
        CheckpointField::Text(t) => t.lines().map(|l| l.trim().trim_start_matches(['-', '*', '•']).trim().to_string()).collect(),
    };
    items.into_iter().map(|i| i.trim().to_string()).filter(|i| !i.is_empty()).collect()
}

/// Lower case, single spaces, no bullet and no closing full stop: how directives compare, so
/// that rewrapping or a bullet does not count as losing one.
fn normalize(s: &str) -> String {
    let words: Vec<&str> = s.split_whitespace().collect();
    words.join(" ").to_lowercase().trim_start_matches(['-', '*', '•', ' ']).trim_end_matches(['.', ' ']).to_string()
}

/// `lost_directive` when any of `required` (directives of earlier checkpoints) is missing
/// from this checkpoint's directives.
pub fn lost_directives(required: &[String], cp: &Checkpoint) -> Option<CheckpointFlag> {
    let have = normalize(&directive_items(cp).join("\n"));
    let lost: Vec<String> =
        required.iter().filter(|r| !normalize(r).is_empty() && !have.contains(&normalize(r))).map(|r| quote(r)).collect();
    (!lost.is_empty()).then(|| CheckpointFlag {
        kind: LOST_DIRECTIVE.into(),
        detail: format!(
            "{} from an earlier checkpoint {} missing: {}",
            plural(lost.len(), "directive", "directives"),
            if lost.len() == 1 { "is" } else { "are" },
            lost.join(", ")
        ),
    })
}

/// The checks the writer's answer must pass before it is accepted without a second try.
pub fn writer_flags(task: &str, required: &[String], cp: &Checkpoint) -> Vec<CheckpointFlag> {
    intent_drift(task, cp).into_iter().chain(lost_directives(required, cp)).collect()
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\\\""))
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

#[cfg(test)]
#[path = "drift_tests.rs"]
mod tests;
