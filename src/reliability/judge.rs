//! The Max Mode judge: N candidate next steps were proposed in parallel, and one judge call
//! picks the one to execute.
//!
//! Unlike the verifier, the judge sees the context as one compact rendering rather than native
//! messages: it compares proposals side by side, and what matters is that every candidate is
//! shown whole and the recent context only as far as it fits.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::verifier::find_object_with;
use crate::memory::tokens;
use crate::model::ModelRequest;
use crate::protocol::{Message, Role, ToolCallRequest};

const JUDGE_PROMPT: &str = include_str!("../../assets/prompts/judge.md");

/// Caps on one message of the recent context: the judge needs to know what happened, not
/// every line of it, and the candidates are what it must read closely.
const CONTEXT_TEXT_TOKENS: u64 = 800;
const CONTEXT_ARGS_TOKENS: u64 = 300;
const CONTEXT_RESULT_TOKENS: u64 = 600;
/// The task is what progress is measured against; a longer one is cut in the middle.
const TASK_TOKENS: u64 = 3_000;

/// `2`, `Candidate 2`, `#2`, `2.`, `**2**`: the answers a model gives when it ignores the
/// requested JSON but still names one candidate.
static BARE_PICK_RE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"(?i)^(?:candidate\s*)?#?\s*(\d+)\s*[.):]?$").ok());

/// One proposed next step.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// 1-based, as shown to the judge and to the supervisor.
    pub index: u32,
    pub text: &'a str,
    pub tool_calls: &'a [ToolCallRequest],
}

/// What the judge is given.
#[derive(Debug, Clone, Copy)]
pub struct JudgeInput<'a> {
    pub task: &'a str,
    /// The agent's window the candidates were proposed from; only its end is shown.
    pub window: &'a [Message],
    pub candidates: &'a [Candidate<'a>],
    pub model: &'a str,
    pub max_tokens: u32,
    /// Tokens the whole prompt (system and message) may take.
    pub limit_tokens: u64,
}

/// The judge request: one user message with the task, as much recent context as fits
/// (newest kept), the numbered candidates, and the question. The candidates are shown whole
/// when they fit beside the task; only when they do not is each cut in the middle to an
/// equal share.
pub fn judge_request(input: &JudgeInput) -> ModelRequest {
    let system = JUDGE_PROMPT.to_string();
    let room = input.limit_tokens.saturating_sub(tokens::estimate(&system) + tokens::MESSAGE_OVERHEAD);
    let task = tokens::trim_middle(input.task.trim(), TASK_TOKENS).into_owned();
    let n = input.candidates.len();
    let ask = format!(
        "# Your answer\nPick the candidate most likely to make real progress toward the task, safely. Answer with only \
         the JSON object {{\"pick\": k, \"reason\": \"...\"}}, where k is from 1 to {n}.\n"
    );
    let mut candidates: Vec<String> = input.candidates.iter().map(render_candidate).collect();
    let assemble = |context: &[String], dropped: usize, candidates: &[String]| -> String {
        let mut out = format!("# Task\n{task}\n\n# Recent context\n");
        if context.is_empty() {
            out.push_str("(none shown)\n");
        } else if dropped > 0 {
            out.push_str(&format!("[The {dropped} older messages are not shown.]\n"));
        }
        for block in context {
            out.push_str(block);
        }
        out.push_str(&format!("\n# Candidates ({n})\n"));
        for c in candidates {
            out.push_str(c);
        }
        out.push('\n');
        out.push_str(&ask);
        out
    };

    let fixed = tokens::estimate(&assemble(&[], input.window.len(), &candidates));
    if fixed > room && n > 0 {
        // The candidates alone are over: give each an equal share of what is left.
        let rest = tokens::estimate(&assemble(&[], input.window.len(), &vec![String::new(); n]));
        let share = room.saturating_sub(rest) / n as u64;
        candidates = candidates.iter().map(|c| tokens::trim_middle(c, share.saturating_sub(2)).into_owned()).collect();
    }

    let blocks: Vec<String> = input.window.iter().map(render_context).collect();
    let fixed = tokens::estimate(&assemble(&[], blocks.len(), &candidates));
    let mut kept = tokens::newest_that_fit(&blocks, fixed, room);
    let mut user = assemble(&blocks[blocks.len() - kept..], blocks.len() - kept, &candidates);
    while tokens::estimate(&user) > room && kept > 0 {
        kept -= 1;
        user = assemble(&blocks[blocks.len() - kept..], blocks.len() - kept, &candidates);
    }

    ModelRequest {
        role: Role::Judge,
        model: input.model.to_string(),
        system,
        messages: vec![Message::User { text: user }].into(),
        tools: Vec::new(),
        temperature: Some(0.0),
        max_tokens: input.max_tokens,
    }
}

/// Tool-call arguments pretty-printed when they are JSON (easier to compare side by side),
/// else the raw text the model produced.
fn pretty_args(arguments: &str) -> String {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_else(|_| arguments.to_string()),
        Err(_) => arguments.to_string(),
    }
}

fn render_candidate(c: &Candidate) -> String {
    let mut out = format!("\n## Candidate {}\n", c.index);
    let text = c.text.trim();
    out.push_str(if text.is_empty() { "(no message)" } else { text });
    out.push('\n');
    if c.tool_calls.is_empty() {
        out.push_str("Tool calls: none\n");
    } else {
        out.push_str("Tool calls:\n");
        for call in c.tool_calls {
            out.push_str(&format!("- `{}`\n```json\n{}\n```\n", call.name, pretty_args(&call.arguments)));
        }
    }
    out
}

fn render_context(msg: &Message) -> String {
    match msg {
        Message::User { text } => format!("### user\n{}\n", tokens::trim_middle(text.trim_end(), CONTEXT_TEXT_TOKENS)),
        Message::Assistant { text, tool_calls, .. } => {
            let mut out = String::from("### assistant\n");
            if !text.trim().is_empty() {
                out.push_str(&tokens::trim_middle(text.trim_end(), CONTEXT_TEXT_TOKENS));
                out.push('\n');
            }
            for call in tool_calls {
                out.push_str(&format!("→ {} {}\n", call.name, tokens::trim_middle(&call.arguments, CONTEXT_ARGS_TOKENS)));
            }
            out
        }
        Message::Tool { name, content, .. } => {
            format!("### result of {name}\n{}\n", tokens::trim_middle(content.trim_end(), CONTEXT_RESULT_TOKENS))
        }
    }
}

/// Parses the judge's answer: `{"pick": k, "reason": "..."}` bare, fenced or inside prose,
/// with `pick` a number or a numeric string; or just a candidate number (`2`, `Candidate 2`,
/// `2.`), whose reason is then empty. A pick outside `1..=n` is an error, so the runtime falls
/// back rather than executing a candidate that does not exist.
pub fn parse_pick(text: &str, n: u32) -> Result<(u32, String), String> {
    let (pick, reason) = match find_object_with(text, "pick") {
        Ok(obj) => {
            let pick = match obj.get("pick") {
                Some(Value::Number(num)) => num
                    .as_u64()
                    .or_else(|| num.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
                    .ok_or_else(|| format!("`pick` must be a candidate number, got {num}"))?,
                Some(Value::String(s)) => bare_pick(s).ok_or_else(|| format!("`pick` must be a candidate number, got {s:?}"))?,
                Some(other) => return Err(format!("`pick` must be a candidate number, got {other}")),
                None => return Err("the answer's JSON object has no `pick` key".into()),
            };
            let reason = match obj.get("reason") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.trim().to_string(),
                Some(other) => other.to_string(),
            };
            (pick, reason)
        }
        Err(e) => match bare_pick(text) {
            Some(pick) => (pick, String::new()),
            None => return Err(format!("{e}, and the answer is not a bare candidate number")),
        },
    };
    match u32::try_from(pick) {
        Ok(k) if (1..=n).contains(&k) => Ok((k, reason)),
        _ => Err(format!("pick {pick} is not a candidate (there are {n}: 1 to {n})")),
    }
}

/// A candidate number given on its own, allowing markdown emphasis, backticks and quotes.
fn bare_pick(text: &str) -> Option<u64> {
    let t = text.trim().trim_matches(|c: char| matches!(c, '*' | '`' | '"' | '\'' | '_')).trim();
    let re = BARE_PICK_RE.as_ref()?;
    re.captures(t)?.get(1)?.as_str().parse().ok()
}

#[cfg(test)]
#[path = "judge_tests.rs"]
mod tests;
