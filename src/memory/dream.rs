//! Dream: the periodic consolidation of MEMORY.md by the writer model.
//!
//! The writer gets the current file and the recent sessions' checkpoints and answers with a
//! whole new file. Nothing is written here: the result (content and diff) is proposed to the
//! supervisor, who accepts or rejects it, because a rewrite can lose things a merge never
//! would.

use std::fmt::Write as _;

use super::memory_file::{MAX_ENTRIES, MemoryError, MemoryFile};
use crate::model::ask::{AskError, Spent, TRIES, ask_until_valid};
use crate::model::{Message, ModelRequest, Provider, RetryPolicy};
use crate::protocol::{Checkpoint, CheckpointField, Role};
use crate::workspace::file_diff;

pub const DREAM_PROMPT: &str = include_str!("../../assets/prompts/dream.md");

/// Upper bound on the checkpoint text put in the prompt; past it the oldest checkpoints are
/// left out, since newer ones already carry forward what still holds.
const MAX_CHECKPOINT_CHARS: usize = 60_000;

const MAX_TOKENS: u32 = 8192;

/// Checkpoint fields worth remembering across sessions. The others (next action, current
/// work, the task tree, live resources) describe one moment of one task.
const DURABLE_FIELDS: [&str; 7] = ["active_intent", "directives", "decisions", "knowledge", "errors_and_fixes", "files", "open_notes"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DreamResult {
    /// The whole new MEMORY.md.
    pub content: String,
    /// A unified diff from the old file to the new one.
    pub diff: String,
}

/// Asks the writer for a consolidated MEMORY.md. `checkpoints` are `(id, checkpoint)`, oldest
/// first; ids should name their session (e.g. `SESSION/1.2`) so that the writer can mark
/// entries with it. `session_ids` are the sessions the checkpoints come from.
pub async fn dream(
    provider: &dyn Provider,
    model: &str,
    retry: &RetryPolicy,
    memory_md: &str,
    checkpoints: &[(String, Checkpoint)],
    session_ids: &[String],
    spent: &mut Vec<Spent>,
) -> Result<DreamResult, MemoryError> {
    let old = MemoryFile::parse(memory_md);
    let user = dream_input(memory_md, checkpoints, session_ids);
    let content =
        ask_writer(provider, model, retry, DREAM_PROMPT, user, MAX_TOKENS, "dream", |answer| validate_dream(answer, &old), spent).await?;
    let diff = file_diff("a/MEMORY.md", "b/MEMORY.md", memory_md, &content);
    Ok(DreamResult { content, diff })
}

/// The user message: the current file, then the checkpoints.
pub fn dream_input(memory_md: &str, checkpoints: &[(String, Checkpoint)], session_ids: &[String]) -> String {
    let mut out = String::new();
    let current = if memory_md.trim().is_empty() { MemoryFile::template().render() } else { memory_md.to_string() };
    let _ = writeln!(out, "# Current MEMORY.md\n\n````markdown\n{}````\n", ensure_newline(&current));
    if !session_ids.is_empty() {
        let _ = writeln!(out, "# Sessions covered\n\n{}\n", session_ids.join(", "));
    }
    let rendered: Vec<String> = checkpoints.iter().map(|(id, c)| render_checkpoint(id, c)).collect();
    // Newest first until the budget is spent, then back in chronological order.
    let mut kept = Vec::new();
    let mut used = 0;
    for r in rendered.iter().rev() {
        if used + r.len() > MAX_CHECKPOINT_CHARS && !kept.is_empty() {
            break;
        }
        used += r.len();
        kept.push(r.as_str());
    }
    let left_out = rendered.len() - kept.len();
    kept.reverse();
    let _ = writeln!(out, "# Recent checkpoints ({}, oldest first)\n", kept.len());
    if left_out > 0 {
        let _ = writeln!(out, "({left_out} older checkpoints were left out for length.)\n");
    }
    if kept.is_empty() {
        out.push_str("(none)\n");
    }
    for r in kept {
        out.push_str(r);
        out.push('\n');
    }
    out.push_str("\nAnswer with the whole new MEMORY.md.");
    out
}

fn render_checkpoint(id: &str, c: &Checkpoint) -> String {
    let mut out = format!("## Checkpoint {id}\n");
    for (key, field) in c.fields() {
        if !DURABLE_FIELDS.contains(&key) {
            continue;
        }
        match field {
            CheckpointField::Text(t) if !t.trim().is_empty() => {
                let _ = writeln!(out, "- {key}: {}", t.trim());
            }
            CheckpointField::List(items) if items.iter().any(|i| !i.trim().is_empty()) => {
                let _ = writeln!(out, "- {key}:");
                for i in items.iter().filter(|i| !i.trim().is_empty()) {
                    let _ = writeln!(out, "  - {}", i.trim());
                }
            }
            _ => {}
        }
    }
    out
}

/// Checks a dream answer; `Ok` is the file to propose.
pub fn validate_dream(answer: &str, old: &MemoryFile) -> Result<String, String> {
    let text = strip_fence(answer, &["markdown", "md"]);
    if text.trim().is_empty() {
        return Err("the answer is empty".into());
    }
    let new = MemoryFile::parse(&text);
    let missing = new.missing_sections();
    if !missing.is_empty() {
        return Err(format!(
            "the answer lacks the section(s) {}",
            missing.iter().map(|s| format!("`## {s}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    let n = new.entry_count();
    if n > MAX_ENTRIES {
        return Err(format!("the answer has {n} entries; consolidate to at most {MAX_ENTRIES}"));
    }
    if n == 0 && old.entry_count() > 0 {
        return Err(format!("the answer has no entries, but the current file has {}", old.entry_count()));
    }
    if new.sourced_entry_count() == 0 && old.sourced_entry_count() > 0 {
        return Err("the answer dropped every `<!-- from: … -->` source marker; keep them".into());
    }
    Ok(ensure_newline(&text))
}

fn ensure_newline(s: &str) -> String {
    if s.ends_with('\n') { s.to_string() } else { format!("{s}\n") }
}

/// Removes a code fence around an answer. An answer that opens with prose and then a fence
/// (`Here it is:` + fence) gives the fenced part. The closing fence is the last one, so fences
/// inside the content survive.
pub(crate) fn strip_fence(answer: &str, langs: &[&str]) -> String {
    let lines: Vec<&str> = answer.trim().lines().collect();
    let is_open = |l: &str| {
        let t = l.trim();
        let tag = t.trim_start_matches('`');
        t.starts_with("```") && (tag.is_empty() || langs.iter().any(|lang| tag.trim().eq_ignore_ascii_case(lang)))
    };
    let Some(open) = lines.iter().position(|l| is_open(l)) else { return answer.trim().to_string() };
    // Only strip when the fence wraps the answer, or prose precedes a fence of the expected
    // language, not when the content merely contains a code block.
    let tagged = !lines[open].trim().trim_start_matches('`').trim().is_empty();
    if open > 0 && !tagged {
        return answer.trim().to_string();
    }
    let Some(close) = lines.iter().rposition(|l| l.trim().starts_with("```") && l.trim().trim_start_matches('`').is_empty()) else {
        return answer.trim().to_string();
    };
    if close <= open {
        return answer.trim().to_string();
    }
    lines[open + 1..close].join("\n")
}

/// Sends the writer `system` + `user` through [`ask_until_valid`], asking once more with the
/// reason when `validate` rejects the answer. Every call's spending is added to `spent`, failed
/// ones too, so the caller can record it against the session.
#[allow(clippy::too_many_arguments)] // one private call shape shared by dream and distill
pub(crate) async fn ask_writer<T>(
    provider: &dyn Provider,
    model: &str,
    retry: &RetryPolicy,
    system: &str,
    user: String,
    max_tokens: u32,
    task: &'static str,
    validate: impl Fn(&str) -> Result<T, String>,
    spent: &mut Vec<Spent>,
) -> Result<T, MemoryError> {
    let mut req = ModelRequest {
        role: Role::Writer,
        model: model.to_string(),
        system: system.to_string(),
        messages: vec![Message::User { text: user }].into(),
        tools: Vec::new(),
        temperature: Some(0.0),
        max_tokens,
    };
    let asked = ask_until_valid(provider, retry, &mut req, TRIES, validate, |reason| {
        format!("That answer cannot be used: {reason}. Answer again, in the required format, and only that.")
    })
    .await;
    spent.extend(asked.spent);
    match asked.answer {
        Ok(v) => Ok(v.value),
        Err(AskError::Model(e)) => Err(MemoryError::Model(e)),
        Err(AskError::Invalid(reason)) => Err(MemoryError::BadAnswer { task, reason }),
    }
}

#[cfg(test)]
#[path = "dream_tests.rs"]
pub(super) mod tests;
