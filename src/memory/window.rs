//! Rebuilding a fresh context window from the newest checkpoint.
//!
//! The window is three parts: a header that loads everything durable at once (project memory,
//! the checkpoint, the task list, session facts and every supervisor correction), the most
//! recent conversation verbatim, and a short reminder at the very end, where models attend
//! most. It must fit its budget exactly, by the same estimate the runtime budgets with, so the
//! fitting is done here on the final text rather than on guesses about it.

use crate::memory::tokens::{self, TRIM_MARKER};
use crate::protocol::{Checkpoint, CheckpointField, Message, Task, TaskStatus};

/// Counters of the session so far, shown to the agent so it knows how much it has spent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SessionFacts {
    pub step: u64,
    pub cycle: u32,
    pub tool_calls: u64,
    pub tokens_used: u64,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, Copy)]
pub struct RebuildInput<'a> {
    /// Tokens of the system prompt (and tool specs) that will precede the window.
    pub system_tokens: u64,
    /// Tokens system prompt and window may take together.
    pub limit_tokens: u64,
    pub memory_md: Option<&'a str>,
    /// The newest checkpoint and its id.
    pub checkpoint: Option<(&'a str, &'a Checkpoint)>,
    /// The session's task, the intent when there is no checkpoint.
    pub task: &'a str,
    pub tasks: &'a [Task],
    /// Every supervisor correction of the session, verbatim, oldest first.
    pub corrections: &'a [String],
    pub facts: SessionFacts,
    /// The conversation of the window being replaced, oldest first.
    pub history: &'a [Message],
}

#[derive(Debug, Clone, PartialEq)]
pub struct RebuiltWindow {
    pub messages: Vec<Message>,
    /// `system_tokens` plus the estimate of `messages`.
    pub tokens: u64,
}

/// The text parts of the header and the reminder, before any trimming.
struct Parts {
    checkpoint_id: Option<String>,
    memory: Option<String>,
    /// Checkpoint fields other than the intent, rendered, in canonical order.
    fields: Vec<(&'static str, String)>,
    tasks: String,
    facts: String,
    intent: String,
    corrections: Vec<String>,
    /// Whether the old window ended with the agent's answer and nothing left open.
    finished: bool,
}

/// How hard the parts are cut: `items` caps memory, checkpoint fields and the task list;
/// `pinned` caps the intent and the corrections, which is only ever needed when they alone
/// exceed the budget.
#[derive(Clone, Copy)]
struct Caps {
    items: Option<u64>,
    pinned: Option<u64>,
}

const NO_CAPS: Caps = Caps { items: None, pinned: None };

fn render_field(field: &CheckpointField) -> String {
    match field {
        CheckpointField::Text(t) => t.trim().to_string(),
        CheckpointField::List(items) => items.iter().map(|i| format!("- {}", i.trim_end())).collect::<Vec<_>>().join("\n"),
    }
}

fn render_tasks(tasks: &[Task]) -> String {
    if tasks.is_empty() {
        return "No task list yet.".into();
    }
    tasks
        .iter()
        .map(|t| {
            let status = match t.status {
                TaskStatus::Done => "done",
                TaskStatus::InProgress => "in progress",
                TaskStatus::Pending => "pending",
            };
            format!("- [{status}] {}", t.title)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn parts(input: &RebuildInput) -> Parts {
    let (checkpoint_id, intent, fields) = match input.checkpoint {
        Some((id, cp)) => {
            let intent = render_field(&cp.active_intent);
            let fields = cp
                .fields()
                .into_iter()
                .filter(|(k, _)| *k != "active_intent")
                .map(|(k, f)| (k, render_field(f)))
                .collect();
            (Some(id.to_string()), intent, fields)
        }
        None => (None, String::new(), Vec::new()),
    };
    // A checkpoint with an empty intent is a writer slip; the task is still the intent then.
    let intent = if intent.is_empty() { input.task.trim().to_string() } else { intent };
    let f = input.facts;
    let finished = matches!(input.history.last(), Some(Message::Assistant { tool_calls, .. }) if tool_calls.is_empty())
        && input.tasks.iter().all(|t| t.status == TaskStatus::Done);
    Parts {
        checkpoint_id,
        memory: input.memory_md.map(|m| m.trim().to_string()).filter(|m| !m.is_empty()),
        fields,
        tasks: render_tasks(input.tasks),
        facts: format!(
            "step {} · cycle {} · {} tool calls · {} tokens used · ${:.2} spent",
            f.step, f.cycle, f.tool_calls, f.tokens_used, f.cost_usd
        ),
        intent,
        corrections: input.corrections.to_vec(),
        finished,
    }
}

fn cap(text: &str, limit: Option<u64>) -> String {
    match limit {
        None => text.to_string(),
        Some(n) => {
            let cut = tokens::trim_middle(text, n);
            // Say that something was there even when nothing of it fits.
            if cut.is_empty() && !text.is_empty() { TRIM_MARKER.to_string() } else { cut.into_owned() }
        }
    }
}

fn field<'a>(p: &'a Parts, key: &str) -> &'a str {
    p.fields.iter().find(|(k, _)| *k == key).map_or("", |(_, v)| v.as_str())
}

/// The header and reminder texts for the given caps.
fn frame(p: &Parts, caps: Caps) -> (String, String) {
    let intent = cap(&p.intent, caps.pinned);
    let corrections: Vec<String> = p.corrections.iter().map(|c| cap(c, caps.pinned)).collect();
    let corrections_block = if corrections.is_empty() {
        "None.".to_string()
    } else {
        corrections.iter().map(|c| format!("- {c}")).collect::<Vec<_>>().join("\n")
    };

    let mut header = String::from(
        "[endure: context rebuilt]\nYour previous context window was replaced by this one. The blocks below are \
         already loaded here: do not re-read MEMORY.md, checkpoint files or the session log to recover them. \
         After this message comes as much of the most recent conversation as fitted, verbatim.\n",
    );
    if let Some(m) = &p.memory {
        header.push_str(&format!("\n## Project memory (MEMORY.md)\n{}\n", cap(m, caps.items)));
    }
    match &p.checkpoint_id {
        Some(id) => {
            header.push_str(&format!("\n## Checkpoint {id}\nactive_intent:\n{intent}\n"));
            for (key, value) in &p.fields {
                if !value.is_empty() {
                    header.push_str(&format!("{key}:\n{}\n", cap(value, caps.items)));
                }
            }
        }
        None => header.push_str(&format!("\n## Task (no checkpoint yet)\n{intent}\n")),
    }
    header.push_str(&format!("\n## Task list\n{}\n", cap(&p.tasks, caps.items)));
    header.push_str(&format!("\n## Session state\n{}\n", p.facts));
    header.push_str(&format!(
        "\n## Supervisor corrections (verbatim; every one remains in force)\n{corrections_block}\n"
    ));

    let mut reminder = format!("[endure: reminder]\nActive intent:\n{intent}\n");
    let next = field(p, "next_action");
    if !next.is_empty() {
        reminder.push_str(&format!("\nNext action:\n{}\n", cap(next, caps.items)));
    }
    let directives = field(p, "directives");
    if !directives.is_empty() {
        reminder.push_str(&format!("\nDirectives:\n{}\n", cap(directives, caps.items)));
    }
    reminder.push_str(&format!("\nSupervisor corrections still in force:\n{corrections_block}\n\n"));
    reminder.push_str(if p.finished {
        "The previous window ended right after you answered, with no tool call pending and no open task. Do not \
         resume blindly: verify whether the work is complete (run the tests or check the result against the \
         active intent), and if it is, call `done` with a summary. Continue working only on something you \
         verify is missing."
    } else {
        "Continue from the next action. Do not redo work the checkpoint records as done, and do not re-read \
         files only to recover what is already above."
    });
    (header, reminder)
}

fn frame_cost(p: &Parts, caps: Caps) -> (String, String, u64) {
    let (h, r) = frame(p, caps);
    let cost = tokens::estimate_message(&Message::User { text: h.clone() })
        + tokens::estimate_message(&Message::User { text: r.clone() });
    (h, r, cost)
}

/// The largest cap in `0..=max` for which `fits` holds, if any. `fits` is monotone up to a
/// token at seams, so the answer is always one that was checked to fit.
fn largest_fitting(max: u64, fits: impl Fn(u64) -> bool) -> Option<u64> {
    if !fits(0) {
        return None;
    }
    let (mut lo, mut hi) = (0u64, max);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid) { lo = mid } else { hi = mid - 1 }
    }
    Some(lo)
}

/// The history cut into units that must stay together: a user message, an answer without
/// tool calls, or an answer with tool calls followed by all of their results. Units that
/// cannot be sent as they are (a call whose result is missing, a result without its call)
/// are `None`: providers reject both.
fn units(history: &[Message]) -> Vec<Option<std::ops::Range<usize>>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < history.len() {
        match &history[i] {
            Message::Assistant { tool_calls, .. } if !tool_calls.is_empty() => {
                let mut j = i + 1;
                let mut answered = Vec::new();
                while let Some(Message::Tool { call_id, .. }) = history.get(j) {
                    if !tool_calls.iter().any(|c| &c.id == call_id) {
                        break;
                    }
                    answered.push(call_id.as_str());
                    j += 1;
                }
                let complete = tool_calls.iter().all(|c| answered.contains(&c.id.as_str()));
                out.push(complete.then_some(i..j));
                i = j;
            }
            Message::Tool { .. } => {
                out.push(None);
                i += 1;
            }
            _ => {
                out.push(Some(i..i + 1));
                i += 1;
            }
        }
    }
    out
}

/// The most recent units of `history` that fit in `budget` tokens, oldest first. Stops at
/// the first unit that does not fit, so the tail is the conversation's end without holes
/// other than units that could not be sent anyway.
fn tail(history: &[Message], budget: u64) -> Vec<Message> {
    let mut used = 0;
    let mut picked = Vec::new();
    for unit in units(history).into_iter().rev().flatten() {
        let cost = tokens::estimate_messages(&history[unit.clone()]);
        if used + cost > budget {
            break;
        }
        used += cost;
        picked.push(unit);
    }
    picked.into_iter().rev().flat_map(|u| history[u].iter().cloned()).collect()
}

/// Builds the fresh window. `system_tokens + tokens(messages) <= limit_tokens` holds whenever
/// it can: the verbatim tail shrinks first, then memory, checkpoint fields and the task list
/// are cut in the middle (longest first), and only then the intent and the corrections. When
/// not even a trimmed reminder fits, the window is empty.
pub fn rebuild_window(input: &RebuildInput) -> RebuiltWindow {
    let room = input.limit_tokens.saturating_sub(input.system_tokens);
    let p = parts(input);
    let done = |messages: Vec<Message>| RebuiltWindow {
        tokens: input.system_tokens + tokens::estimate_messages(&messages),
        messages,
    };
    let with_tail = |header: String, reminder: String, cost: u64| {
        let mut messages = vec![Message::User { text: header }];
        messages.extend(tail(input.history, room - cost));
        messages.push(Message::User { text: reminder });
        done(messages)
    };

    let (h, r, cost) = frame_cost(&p, NO_CAPS);
    if cost <= room {
        return with_tail(h, r, cost);
    }

    let fits = |caps: Caps| frame_cost(&p, caps).2 <= room;
    let longest_item = p
        .fields
        .iter()
        .map(|(_, v)| tokens::estimate(v))
        .chain(p.memory.as_deref().map(tokens::estimate))
        .chain([tokens::estimate(&p.tasks)])
        .max()
        .unwrap_or(0);
    if let Some(c) = largest_fitting(longest_item, |c| fits(Caps { items: Some(c), pinned: None })) {
        let (h, r, cost) = frame_cost(&p, Caps { items: Some(c), pinned: None });
        return with_tail(h, r, cost);
    }

    // Pathological: the intent and the corrections alone are over. Cut the longest of them.
    let longest_pinned =
        p.corrections.iter().map(|c| tokens::estimate(c)).chain([tokens::estimate(&p.intent)]).max().unwrap_or(0);
    if let Some(c) = largest_fitting(longest_pinned, |c| fits(Caps { items: Some(0), pinned: Some(c) })) {
        let (h, r, cost) = frame_cost(&p, Caps { items: Some(0), pinned: Some(c) });
        return with_tail(h, r, cost);
    }

    // Not even the frame's scaffolding fits: keep the start of the reminder and what fits of
    // the intent, so the agent at least knows what it is doing.
    const PREFIX: &str = "[endure: reminder]\nActive intent:\n";
    let left = room.saturating_sub(tokens::MESSAGE_OVERHEAD + tokens::estimate(PREFIX) + 1);
    let text = format!("{PREFIX}{}", tokens::trim_middle(&p.intent, left));
    if tokens::estimate_message(&Message::User { text: text.clone() }) > room {
        return done(Vec::new());
    }
    done(vec![Message::User { text }])
}

#[cfg(test)]
#[path = "window_tests.rs"]
mod tests;
