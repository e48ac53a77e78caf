//! The goal verifier: every claim of "done" is checked, by a separate model call, against the
//! completion condition.
//!
//! The verifier is only useful if it judges what the agent *did*, not what it says it did, so
//! the transcript goes to it as native messages (tool calls and their results, exactly as the
//! agent saw them) rather than as a prose retelling, and the agent's summary comes last and is
//! labelled a claim. Its answer is untrusted model output: parsing finds the JSON object
//! wherever it is and accepts the loose shapes models commonly produce.

use std::ops::Range;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::jsonfind::Found;
use crate::memory::checkpoint::render_markdown;
use crate::memory::tokens;
use crate::model::{Conversation, ModelRequest};
use crate::protocol::{Checkpoint, Message, Role, ToolCallRequest};

const VERIFIER_PROMPT: &str = include_str!("../../assets/prompts/verifier.md");

/// A tool result longer than this is cut in the middle: its head says what ran and its tail
/// how it ended, which is what a verdict rests on; the middle would crowd out older evidence.
const TOOL_RESULT_TOKENS: u64 = 2_000;
/// A string inside tool-call arguments longer than this (a whole file given to `write_file`)
/// is cut in the middle too; without the cut one big write would push every older piece of
/// evidence out of the window.
const TOOL_ARG_STRING_TOKENS: u64 = 1_000;
/// The agent's summary is a claim, not evidence; past this it only costs room.
const SUMMARY_TOKENS: u64 = 2_000;
/// The verifier's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    pub met: bool,
    /// Concrete items still missing or unproven. May be empty even when `met` is false: the
    /// runtime then says the verifier gave no specifics.
    pub missing: Vec<String>,
    /// What the verifier relied on, quoted from the transcript.
    pub evidence: Vec<String>,
}

/// Parses the verifier's answer: `{"met": bool, "missing": [..], "evidence": [..]}`, bare or
/// fenced, possibly surrounded by prose. `met` may also be `"true"`/`"false"`/`"yes"`/`"no"`;
/// `missing` and `evidence` may be a list, a single string, null or absent. Non-string list
/// items (a model sometimes answers `{"item": .., "why": ..}`) are kept as compact JSON rather
/// than rejected, because losing a verdict over formatting costs a whole retry.
pub fn parse_verdict(text: &str) -> Result<Verdict, String> {
    let obj = find_object_with(text, "met")?;
    let met = match obj.get("met") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" => true,
            "false" | "no" => false,
            _ => return Err(format!("`met` must be true or false, got {s:?}")),
        },
        Some(other) => return Err(format!("`met` must be true or false, got {other}")),
        None => return Err("the answer's JSON object has no `met` key".into()),
    };
    Ok(Verdict { met, missing: string_list(&obj, "missing")?, evidence: string_list(&obj, "evidence")? })
}

/// A list-of-strings field, read leniently; blank entries are dropped.
fn string_list(obj: &Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
    let item = |v: &Value| -> Option<String> {
        match v {
            Value::Null => None,
            Value::String(s) => Some(s.trim().to_string()),
            other => Some(other.to_string()),
        }
    };
    let list: Vec<String> = match obj.get(key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.trim().to_string()],
        Some(Value::Array(items)) => items.iter().filter_map(item).collect(),
        Some(other) => return Err(format!("`{key}` must be a list of strings, got {other}")),
    };
    Ok(list.into_iter().filter(|s| !s.is_empty()).collect())
}

/// The JSON object in a model's answer that has `key`: the fenced blocks are searched first
/// (the model's own framing of its answer), then every balanced `{…}` of the whole text. An
/// object without `key` is skipped, so an example or a wrapper object in the prose is not
/// mistaken for the answer (a wrapper's inner object is still found). The error says what
/// was wrong: no object at all, JSON that does not parse, or objects without the key.
pub(crate) fn find_object_with(text: &str, key: &str) -> Result<Map<String, Value>, String> {
    match crate::jsonfind::find_object(text, |map| map.contains_key(key)) {
        Found::Wanted(map) => Ok(map),
        Found::Other(_) => Err(format!("the answer's JSON object has no `{key}` key")),
        Found::Unparsable(e) => Err(format!("the answer's JSON object does not parse: {e}")),
        Found::Nothing => Err(format!("the answer contains no JSON object with `{key}`")),
    }
}

/// What the verifier is given.
#[derive(Debug, Clone, Copy)]
pub struct VerifierInput<'a> {
    /// The completion condition.
    pub goal: &'a str,
    /// The agent's summary from its `done` call.
    pub summary: &'a str,
    /// Checkpoints of past rollovers, `(id, checkpoint)`, oldest first.
    pub checkpoints: &'a [(String, Checkpoint)],
    /// After a rollover: the user's own words (task, goal, corrections), verbatim, which the
    /// request always carries whatever else has to be left out.
    pub users_words: Option<&'a str>,
    /// The agent's current context window, shared with the session's state: the request takes
    /// copies only of the messages it keeps.
    pub window: &'a Conversation,
    pub model: &'a str,
    pub max_tokens: u32,
    /// Tokens the whole prompt (system and messages) may take.
    pub limit_tokens: u64,
}

/// The verifier request. The messages are: an opening user message (the rendered checkpoints
/// when there are any, so the first message is always a user message), the window's messages
/// as native messages, and a closing user message with the goal, the agent's summary and the
/// question. It fits in `limit_tokens` whenever the goal does: the oldest window messages go
/// first (a tool call always together with its results), then older checkpoints.
pub fn verifier_request(input: &VerifierInput) -> ModelRequest {
    let system = VERIFIER_PROMPT.to_string();
    let room = input.limit_tokens.saturating_sub(tokens::estimate(&system));
    let messages = fit(input, room);
    ModelRequest {
        role: Role::Verifier,
        model: input.model.to_string(),
        system,
        messages: messages.into(),
        tools: Vec::new(),
        temperature: Some(0.0),
        max_tokens: input.max_tokens,
    }
}

fn closing(goal: &str, summary: &str) -> String {
    let summary = summary.trim();
    let summary = if summary.is_empty() { "(no summary)".into() } else { tokens::trim_middle(summary, SUMMARY_TOKENS) };
    format!(
        "[endure: verifier] The agent has declared the task done. Decide whether the completion condition is met.\n\n\
         ## Completion condition\n{}\n\n\
         ## The agent's summary (a claim to check, not evidence)\n{summary}\n\n\
         Judge only from the evidence above: the tool calls and their results, and the checkpoints. If the \
         evidence does not show a part of the condition, it is not met. Answer with only the JSON object \
         {{\"met\": true|false, \"missing\": [...], \"evidence\": [...]}}.",
        goal.trim()
    )
}

fn opening(users_words: Option<&str>, checkpoints: Option<&str>, dropped: usize, total: usize) -> String {
    let mut out = String::from("[endure: verifier] ");
    if let Some(words) = users_words {
        out.push_str("The session's context window was rebuilt. What the user asked for, in their own words:\n\n");
        out.push_str(words.trim_end());
        out.push_str("\n\n");
    }
    match checkpoints {
        Some(cps) => {
            out.push_str("What happened before the current window (the checkpoints written at each rollover):\n\n");
            out.push_str(cps.trim_end());
            out.push_str("\n\nThe agent's current context window follows, verbatim.");
        }
        None => out.push_str("The agent's transcript follows, verbatim: its messages, tool calls and their results."),
    }
    if dropped > 0 {
        out.push_str(&format!("\n[The oldest {dropped} of {total} messages of the window were left out to fit your context.]"));
    }
    out
}

/// The checkpoints, newest `keep` of them, rendered oldest first.
fn render_checkpoints(cps: &[(String, Checkpoint)], keep: usize) -> Option<String> {
    if keep == 0 {
        return None;
    }
    let skipped = cps.len() - keep;
    let mut out = String::new();
    if skipped > 0 {
        out.push_str(&format!("[{skipped} older checkpoints were left out; the newest carry their content forward.]\n\n"));
    }
    let rendered: Vec<String> = cps[skipped..].iter().map(|(id, cp)| render_markdown(id, cp)).collect();
    out.push_str(&rendered.join("\n"));
    Some(out)
}

fn user_cost(text: &str) -> u64 {
    tokens::estimate_message(&Message::User { text: text.to_string() })
}

/// The whole message list for `room` tokens.
///
/// A long session's window is far larger than the verifier's room, and copying all of it to
/// keep the newest part would make the check at `done` cost memory in proportion to the
/// session: units are located by index, costed newest first only until the room is spent,
/// and only the kept ones are copied into the request.
fn fit(input: &VerifierInput, room: u64) -> Vec<Message> {
    let window = input.window;
    let bounds = unit_bounds(window);
    let total = window.len();

    let mut last = closing(input.goal, input.summary);
    let base = user_cost(&opening(input.users_words, Some(""), total, total)) + 1;
    if user_cost(&last) + base > room {
        // Pathological: the goal alone is over. Keep what fits of it rather than overflow.
        last = tokens::trim_middle(&last, room.saturating_sub(base + tokens::MESSAGE_OVERHEAD)).into_owned();
    }
    let avail = room.saturating_sub(user_cost(&last) + base);

    // Costs of the newest units, newest first, until they pass `avail`: no older unit could
    // be kept, and the share below only needs to know the window passes half of `avail`.
    let mut costs_newest_first: Vec<u64> = Vec::new();
    let mut window_full: u64 = 0;
    for r in bounds.iter().rev() {
        if window_full > avail {
            break;
        }
        let cost = tokens::estimate_messages(&unit(window, r.clone()));
        window_full += cost;
        costs_newest_first.push(cost);
    }

    // The window is the primary evidence and the checkpoints summarise what it no longer
    // shows, so each is guaranteed half of the room and either may use what the other leaves.
    let cp_budget = avail - window_full.min(avail / 2);
    let n = input.checkpoints.len();
    let mut cp_text: Option<String> = None;
    for keep in (1..=n).rev() {
        let text = render_checkpoints(input.checkpoints, keep);
        if text.as_deref().is_some_and(|t| tokens::estimate(t) + 2 <= cp_budget) {
            cp_text = text;
            break;
        }
    }
    if cp_text.is_none() && n > 0 {
        // Not even the newest fits whole: its head and tail are better than nothing.
        let newest = render_checkpoints(input.checkpoints, 1).unwrap_or_default();
        cp_text = Some(tokens::trim_middle(&newest, cp_budget.saturating_sub(2)).into_owned());
    }
    let cp_cost = cp_text.as_deref().map_or(0, |t| tokens::estimate(t) + 2);

    // The newest units that fit, stopping at the first that does not, so the transcript has
    // no holes in the middle.
    let window_budget = avail.saturating_sub(cp_cost);
    let mut kept = 0;
    let mut used = 0;
    for cost in &costs_newest_first {
        if used + cost > window_budget {
            break;
        }
        used += cost;
        kept += 1;
    }

    let assemble = |kept: usize| -> Vec<Message> {
        let first_kept = bounds.len() - kept;
        let dropped = bounds.get(first_kept).map_or(total, |r| r.start);
        let mut messages = vec![Message::User { text: opening(input.users_words, cp_text.as_deref(), dropped, total) }];
        for r in &bounds[first_kept..] {
            messages.extend(unit(window, r.clone()));
        }
        messages.push(Message::User { text: last.clone() });
        messages
    };
    // The estimate of the assembled list can differ from the parts by a token at the seams.
    let mut messages = assemble(kept);
    while tokens::estimate_messages(&messages) > room && kept > 0 {
        kept -= 1;
        messages = assemble(kept);
    }
    messages
}

/// The window cut into units that must stay together (a user message; an answer; an answer
/// with tool calls and all their results), as index ranges in order.
fn unit_bounds(window: &Conversation) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < window.len() {
        let mut j = i + 1;
        if let Some(Message::Assistant { tool_calls, .. }) = window.get(i) {
            while let Some(Message::Tool { call_id, .. }) = window.get(j) {
                if !tool_calls.iter().any(|c| &c.id == call_id) {
                    break;
                }
                j += 1;
            }
        }
        out.push(i..j);
        i = j;
    }
    out
}

/// One unit of the window made valid to send: tool results are cut to
/// [`TOOL_RESULT_TOKENS`], a call without a recorded result becomes a note in its answer's
/// text (providers reject an unanswered call), and a result without its call becomes a user
/// message (providers reject that too, and its content is still evidence).
fn unit(window: &Conversation, r: Range<usize>) -> Vec<Message> {
    // A result short enough to go whole is shared with the window, not copied.
    let trimmed = |content: &Arc<str>| -> Arc<str> {
        match tokens::trim_middle(content, TOOL_RESULT_TOKENS) {
            std::borrow::Cow::Borrowed(_) => content.clone(),
            std::borrow::Cow::Owned(cut) => cut.into(),
        }
    };
    let mut messages = r.filter_map(|i| window.get(i));
    let Some(first) = messages.next() else { return Vec::new() };
    match first {
        Message::Assistant { text, tool_calls, .. } if !tool_calls.is_empty() => {
            let results: Vec<Message> = messages
                .filter_map(|m| match m {
                    Message::Tool { call_id, name, content, is_error } => {
                        Some(Message::Tool { call_id: call_id.clone(), name: name.clone(), content: trimmed(content), is_error: *is_error })
                    }
                    _ => None,
                })
                .collect();
            let answered = |c: &ToolCallRequest| results.iter().any(|r| matches!(r, Message::Tool { call_id, .. } if *call_id == c.id));
            let (kept, unanswered): (Vec<ToolCallRequest>, Vec<ToolCallRequest>) =
                tool_calls.iter().cloned().map(trim_call).partition(|c| answered(c));
            let mut text = text.clone();
            for c in &unanswered {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&format!("[tool call `{}` {} — no result recorded]", c.name, c.arguments));
            }
            let mut unit = vec![Message::Assistant { text, tool_calls: kept, blocks: Vec::new() }];
            unit.extend(results);
            unit
        }
        Message::Tool { name, content, .. } => {
            vec![Message::User { text: format!("[result of a `{name}` call made before this transcript]\n{}", trimmed(content)) }]
        }
        other => vec![other.clone()],
    }
}

/// The call with its long argument strings cut in the middle. The arguments stay valid JSON
/// (providers that need an object would otherwise send an empty one); arguments that were not
/// JSON to begin with are cut as text.
fn trim_call(mut call: ToolCallRequest) -> ToolCallRequest {
    if tokens::estimate(&call.arguments) <= TOOL_ARG_STRING_TOKENS {
        return call;
    }
    call.arguments = match serde_json::from_str::<Value>(&call.arguments) {
        Ok(mut v) => {
            trim_strings(&mut v);
            v.to_string()
        }
        Err(_) => tokens::trim_middle(&call.arguments, TOOL_ARG_STRING_TOKENS).into_owned(),
    };
    call
}

fn trim_strings(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(cut) = tokens::trim_middle(s, TOOL_ARG_STRING_TOKENS) {
                *s = cut;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(trim_strings),
        Value::Object(map) => map.values_mut().for_each(trim_strings),
        _ => {}
    }
}

#[cfg(test)]
#[path = "verifier_tests.rs"]
mod tests;
