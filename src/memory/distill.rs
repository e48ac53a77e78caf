//! Distill: mining past sessions' event logs for patterns that keep coming back, and having
//! the writer model turn them into skills.
//!
//! Mining is pure and cheap, so it runs first and decides whether the model is needed at
//! all: with nothing repeated there is nothing to distill.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::dream::{ask_writer, strip_fence};
use super::memory_file::{MemoryError, normalize};
use super::skills::{Skill, SkillMeta, validate_name};
use crate::model::ask::Spent;
use crate::model::{Provider, RetryPolicy};
use crate::protocol::{Event, EventKind, Feedback};

pub const DISTILL_PROMPT: &str = include_str!("../../assets/prompts/distill.md");

const MAX_TOKENS: u32 = 6144;

/// Patterns of each kind shown to the model, most frequent first; the rest add length more
/// than information.
const MAX_PER_KIND: usize = 25;

/// Word overlap (Jaccard) from which two corrections count as the same one said differently.
const CORRECTION_SIMILARITY: f64 = 0.6;

/// A `run` command line that several sessions ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandPattern {
    pub command: String,
    pub count: u32,
    pub sessions: Vec<String>,
}

/// Consecutive `run` commands (two or three) that recur.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SequencePattern {
    pub commands: Vec<String>,
    pub count: u32,
    pub sessions: Vec<String>,
}

/// A supervisor correction given in several sessions, in the same or similar words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CorrectionPattern {
    /// The first wording seen.
    pub text: String,
    /// Other wordings, when there were some.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<String>,
    pub count: u32,
    pub sessions: Vec<String>,
}

/// A command that failed the same way more than once and passed after files were changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixPattern {
    pub command: String,
    /// The failure as first seen: failing tests or the first diagnostic.
    pub failure: String,
    /// Files changed between the failure and the pass, most often changed first.
    pub files: Vec<String>,
    pub count: u32,
    pub sessions: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Patterns {
    pub commands: Vec<CommandPattern>,
    pub sequences: Vec<SequencePattern>,
    pub corrections: Vec<CorrectionPattern>,
    pub fixes: Vec<FixPattern>,
}

impl Patterns {
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty() && self.sequences.is_empty() && self.corrections.is_empty() && self.fixes.is_empty()
    }

    /// The same patterns with at most `n` of each kind (they are sorted most frequent first).
    pub fn truncated(&self, n: usize) -> Patterns {
        Patterns {
            commands: self.commands.iter().take(n).cloned().collect(),
            sequences: self.sequences.iter().take(n).cloned().collect(),
            corrections: self.corrections.iter().take(n).cloned().collect(),
            fixes: self.fixes.iter().take(n).cloned().collect(),
        }
    }
}

/// Occurrences of one key, with the sessions in the order they were first seen.
#[derive(Debug, Default)]
struct Tally {
    count: u32,
    sessions: Vec<String>,
}

impl Tally {
    fn add(&mut self, session: &str) {
        self.count += 1;
        if !self.sessions.iter().any(|s| s == session) {
            self.sessions.push(session.to_string());
        }
    }
}

/// A failure waiting for the same command to pass.
struct Episode {
    signature: String,
    failure: String,
    files: Vec<String>,
}

#[derive(Default)]
struct FixTally {
    tally: Tally,
    failure: String,
    files: BTreeMap<String, u32>,
}

/// Finds what repeats across `(session id, events)`: run commands in at least two sessions,
/// consecutive command pairs and triples seen at least twice, corrections given in at least
/// two sessions, and failures fixed the same way at least twice.
pub fn mine(sessions: &[(String, Vec<Event>)]) -> Patterns {
    let mut commands: BTreeMap<String, Tally> = BTreeMap::new();
    let mut sequences: BTreeMap<Vec<String>, Tally> = BTreeMap::new();
    let mut corrections: Vec<(Vec<String>, HashSet<String>, Tally)> = Vec::new();
    let mut fixes: BTreeMap<(String, String), FixTally> = BTreeMap::new();

    for (sid, events) in sessions {
        let mut runs: Vec<String> = Vec::new();
        let mut pending: HashMap<&str, String> = HashMap::new();
        let mut open: BTreeMap<String, Episode> = BTreeMap::new();
        for ev in events {
            match &ev.kind {
                EventKind::ToolCall { name, call_id, args, .. } if name == "run" => {
                    let Some(cmd) = args.get("command").and_then(Value::as_str).map(normalize_command) else { continue };
                    if cmd.is_empty() {
                        continue;
                    }
                    commands.entry(cmd.clone()).or_default().add(sid);
                    pending.insert(call_id.as_str(), cmd.clone());
                    runs.push(cmd);
                }
                EventKind::ToolResult { name, call_id, ok, exit_code, feedback, .. } if name == "run" => {
                    let Some(cmd) = pending.remove(call_id.as_str()) else { continue };
                    let passed = *ok && exit_code.is_none_or(|c| c == 0);
                    if passed {
                        if let Some(ep) = open.remove(&cmd) {
                            // A pass with no change in between is a flaky run, not a fix.
                            if !ep.files.is_empty() {
                                let t = fixes.entry((cmd, ep.signature)).or_default();
                                t.tally.add(sid);
                                if t.failure.is_empty() {
                                    t.failure = ep.failure;
                                }
                                for f in ep.files {
                                    *t.files.entry(f).or_default() += 1;
                                }
                            }
                        }
                    } else if let Some(failure) = describe_failure(feedback) {
                        // Later failures of the same command belong to the episode it opened.
                        open.entry(cmd).or_insert_with(|| Episode { signature: signature(&failure), failure, files: Vec::new() });
                    }
                }
                EventKind::FileChanged { path, .. } => {
                    for ep in open.values_mut() {
                        if !ep.files.contains(path) {
                            ep.files.push(path.clone());
                        }
                    }
                }
                EventKind::CorrectionQueued { text, .. } => add_correction(&mut corrections, text, sid),
                _ => {}
            }
        }
        // A command rerun straight away is one step of a sequence, not two.
        runs.dedup();
        for n in [2, 3] {
            for w in runs.windows(n) {
                sequences.entry(w.to_vec()).or_default().add(sid);
            }
        }
    }

    let mut p = Patterns {
        commands: commands
            .into_iter()
            .filter(|(_, t)| t.sessions.len() >= 2)
            .map(|(command, t)| CommandPattern { command, count: t.count, sessions: t.sessions })
            .collect(),
        sequences: Vec::new(),
        corrections: corrections
            .into_iter()
            .filter(|(_, _, t)| t.sessions.len() >= 2)
            .map(|(texts, _, t)| {
                let mut texts = texts.into_iter();
                let text = texts.next().unwrap_or_default();
                CorrectionPattern { text, variants: texts.take(5).collect(), count: t.count, sessions: t.sessions }
            })
            .collect(),
        fixes: fixes
            .into_iter()
            .filter(|(_, t)| t.tally.count >= 2)
            .map(|((command, _), t)| {
                let mut files: Vec<(String, u32)> = t.files.into_iter().collect();
                files.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                FixPattern {
                    command,
                    failure: t.failure,
                    files: files.into_iter().map(|(f, _)| f).collect(),
                    count: t.tally.count,
                    sessions: t.tally.sessions,
                }
            })
            .collect(),
    };
    let repeated: Vec<(Vec<String>, Tally)> = sequences.into_iter().filter(|(_, t)| t.count >= 2).collect();
    // A pair that only ever occurs inside a repeated triple says nothing the triple does not.
    let subsumed = |pair: &[String], count: u32| {
        repeated.iter().any(|(seq, t)| seq.len() == 3 && t.count == count && seq.windows(2).any(|w| w == pair))
    };
    p.sequences = repeated
        .iter()
        .filter(|(seq, t)| seq.len() == 3 || !subsumed(seq, t.count))
        .map(|(seq, t)| SequencePattern { commands: seq.clone(), count: t.count, sessions: t.sessions.clone() })
        .collect();

    p.commands.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.command.cmp(&b.command)));
    p.sequences.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.commands.cmp(&b.commands)));
    p.corrections.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.text.cmp(&b.text)));
    p.fixes.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.command.cmp(&b.command)));
    p
}

pub fn normalize_command(cmd: &str) -> String {
    cmd.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What a failed run reported, when it reported anything specific; a bare non-zero exit is
/// too vague to recognise the same failure again.
fn describe_failure(fb: &Feedback) -> Option<String> {
    if !fb.failing_tests.is_empty() {
        let mut names = fb.failing_tests.clone();
        names.sort();
        names.dedup();
        let more = names.len().saturating_sub(5);
        let mut s = format!("failing tests: {}", names.iter().take(5).cloned().collect::<Vec<_>>().join(", "));
        if more > 0 {
            let _ = write!(s, " and {more} more");
        }
        return Some(s);
    }
    if let Some(d) = fb.diagnostics.first() {
        return Some(match &d.file {
            Some(f) => format!("{} in {f}: {}", d.kind, d.message),
            None => format!("{}: {}", d.kind, d.message),
        });
    }
    fb.tests.filter(|t| t.failed > 0).map(|t| format!("{} failing tests", t.failed))
}

/// The failure with numbers blanked out, so that "expected 3, got 4" and "expected 5, got 2"
/// are the same failure.
fn signature(failure: &str) -> String {
    let blanked: String = failure.chars().map(|c| if c.is_ascii_digit() { '0' } else { c }).collect();
    normalize(&blanked)
}

fn add_correction(clusters: &mut Vec<(Vec<String>, HashSet<String>, Tally)>, text: &str, sid: &str) {
    let words: HashSet<String> = normalize(text).split(' ').filter(|w| !w.is_empty()).map(str::to_string).collect();
    if words.is_empty() {
        return;
    }
    let text = text.trim().to_string();
    let hit = clusters.iter_mut().find(|(_, w, _)| jaccard(w, &words) >= CORRECTION_SIMILARITY);
    match hit {
        Some((texts, _, tally)) => {
            tally.add(sid);
            if !texts.contains(&text) {
                texts.push(text);
            }
        }
        None => {
            let mut tally = Tally::default();
            tally.add(sid);
            clusters.push((vec![text], words, tally));
        }
    }
}

fn jaccard(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    let inter = a.intersection(b).count();
    let union = a.len() + b.len() - inter;
    if union == 0 { 0.0 } else { inter as f64 / union as f64 }
}

/// Asks the writer to turn `patterns` into skills. Skills whose names exist already are left
/// out: distill never overwrites a skill, which the supervisor may have edited. With no
/// patterns the model is not called.
pub async fn distill(
    provider: &dyn Provider,
    model: &str,
    retry: &RetryPolicy,
    patterns: &Patterns,
    existing_skills: &[SkillMeta],
    spent: &mut Vec<Spent>,
) -> Result<Vec<Skill>, MemoryError> {
    if patterns.is_empty() {
        return Ok(Vec::new());
    }
    let user = distill_input(patterns, existing_skills);
    ask_writer(provider, model, retry, DISTILL_PROMPT, user, MAX_TOKENS, "distill", |answer| parse_skills(answer, existing_skills), spent)
        .await
}

pub fn distill_input(patterns: &Patterns, existing: &[SkillMeta]) -> String {
    let mut out = String::from("# Existing skills\n\n");
    if existing.is_empty() {
        out.push_str("(none)\n");
    }
    for s in existing {
        let _ = writeln!(out, "- {}: {}", s.name, s.description);
    }
    let json = serde_json::to_string_pretty(&patterns.truncated(MAX_PER_KIND)).unwrap_or_else(|_| "{}".into());
    let _ = write!(out, "\n# Patterns\n\n```json\n{json}\n```\n\nAnswer with the skills JSON.");
    out
}

#[derive(Deserialize)]
struct RawSkill {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    body: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawAnswer {
    Object { skills: Vec<RawSkill> },
    List(Vec<RawSkill>),
}

/// Parses and checks the writer's skills answer.
pub fn parse_skills(answer: &str, existing: &[SkillMeta]) -> Result<Vec<Skill>, String> {
    let text = strip_fence(answer, &["json"]);
    let parsed: RawAnswer = match serde_json::from_str(text.trim()) {
        Ok(a) => a,
        // Prose around the JSON: the first object in it that is a skills answer.
        Err(first) => crate::jsonfind::object_candidates(answer)
            .find_map(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| format!("the answer is not the JSON object {{\"skills\": [...]}} ({first})"))?,
    };
    let raw = match parsed {
        RawAnswer::Object { skills } | RawAnswer::List(skills) => skills,
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut names = HashSet::new();
    for (i, r) in raw.into_iter().enumerate() {
        let name = r.name.unwrap_or_default().trim().to_string();
        let description = r.description.unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ");
        let body = r.body.unwrap_or_default().trim().to_string();
        let label = if name.is_empty() { format!("skill {}", i + 1) } else { format!("skill `{name}`") };
        if let Err(e) = validate_name(&name) {
            problems.push(e.to_string());
            continue;
        }
        if description.is_empty() {
            problems.push(format!("{label} has an empty description"));
        }
        if body.is_empty() {
            problems.push(format!("{label} has an empty body"));
        }
        if !names.insert(name.clone()) {
            problems.push(format!("{label} appears twice"));
        }
        if existing.iter().any(|s| s.name == name) {
            continue;
        }
        out.push(Skill { name, description, body });
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    Ok(out)
}

#[cfg(test)]
#[path = "distill_tests.rs"]
mod tests;
