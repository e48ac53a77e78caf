//! Rebuilding a fresh context window from the newest checkpoint.
//!
//! The window is three parts: a header that loads everything durable at once, the most recent
//! conversation verbatim, and a short reminder at the very end, where models attend most. The
//! header opens with the user's own words (the task, the `--goal`, every supervisor
//! correction), copied by the runtime itself and never cut: a checkpoint is a model's summary,
//! and a summary can lose the one number a task turns on. Then come project memory, the
//! checkpoint, the task list and the session's facts.
//!
//! The window must fit its budget exactly, by the same estimate the runtime budgets with, so
//! the fitting is done here on the final text rather than on guesses about it. A supervisor
//! reviewing the rebuild can edit checkpoint fields, drop sections and pin old messages
//! ([`Adjustments`]); the same function builds the window with them, so what they approve is
//! exactly what the agent gets.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use crate::memory::tokens::{self, TRIM_MARKER};
use crate::protocol::{Checkpoint, CheckpointField, Message, RebuildEdit, RebuildSection, Task, TaskStatus};

pub const USERS_WORDS: &str = "users_words";
pub const CORRECTIONS: &str = "corrections";
pub const MEMORY: &str = "memory";
pub const TASKS: &str = "tasks";
pub const TAIL: &str = "tail";
pub const REMINDER: &str = "reminder";
const FIELD_PREFIX: &str = "checkpoint.";

/// The heading that marks the user's own words in every rebuilt window.
pub const USERS_WORDS_HEADING: &str = "## The user's own words (verbatim, never summarized; they take precedence over any summary below)";

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
    /// The session's task, verbatim.
    pub task: &'a str,
    /// The `--goal`, when one was given.
    pub goal: Option<&'a str>,
    pub tasks: &'a [Task],
    /// Every supervisor correction of the session, verbatim, oldest first.
    pub corrections: &'a [String],
    pub facts: SessionFacts,
    /// The conversation of the window being replaced, oldest first.
    pub history: &'a [Message],
}

/// What a supervisor changed in a proposed window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Adjustments {
    /// Checkpoint field (`next_action`) → the text that replaces it.
    pub fields: BTreeMap<String, String>,
    /// Section keys left out.
    pub dropped: BTreeSet<String>,
    /// Units of the old window carried verbatim.
    pub pinned: BTreeSet<u32>,
}

impl Adjustments {
    /// The adjustments that `edits`, applied in order, add up to.
    pub fn from_edits(edits: &[RebuildEdit]) -> Adjustments {
        let mut a = Adjustments::default();
        for e in edits {
            a.apply(e);
        }
        a
    }

    pub fn apply(&mut self, edit: &RebuildEdit) {
        match edit {
            RebuildEdit::EditField { field, text } => {
                self.fields.insert(field.clone(), text.clone());
            }
            RebuildEdit::Pin { unit } => {
                self.pinned.insert(*unit);
            }
            RebuildEdit::Unpin { unit } => {
                self.pinned.remove(unit);
            }
            RebuildEdit::DropSection { section } => {
                self.dropped.insert(section.clone());
            }
            RebuildEdit::RestoreSection { section } => {
                self.dropped.remove(section);
            }
            RebuildEdit::Approve | RebuildEdit::Veto => {}
        }
    }
}

/// Field edits from a review, applied to the checkpoint they were made on.
pub fn apply_field_edits(cp: &mut Checkpoint, edits: &[RebuildEdit]) {
    for e in edits {
        if let RebuildEdit::EditField { field, text } = e
            && let Some(slot) = field_mut(cp, field)
        {
            *slot = CheckpointField::Text(text.clone());
        }
    }
}

fn field_mut<'a>(cp: &'a mut Checkpoint, key: &str) -> Option<&'a mut CheckpointField> {
    Some(match key {
        "active_intent" => &mut cp.active_intent,
        "next_action" => &mut cp.next_action,
        "directives" => &mut cp.directives,
        "task_tree" => &mut cp.task_tree,
        "current_work" => &mut cp.current_work,
        "files" => &mut cp.files,
        "knowledge" => &mut cp.knowledge,
        "errors_and_fixes" => &mut cp.errors_and_fixes,
        "live_resources" => &mut cp.live_resources,
        "decisions" => &mut cp.decisions,
        "open_notes" => &mut cp.open_notes,
        _ => return None,
    })
}

/// The section key of checkpoint field `field`.
pub fn field_section(field: &str) -> String {
    format!("{FIELD_PREFIX}{field}")
}

/// Why no window could be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RebuildError {
    #[error(
        "the user's own words (task, goal and corrections) need {needed} tokens with the window's framing, but a rebuilt window has room for {room} after the system prompt; they are never cut"
    )]
    Verbatim { needed: u64, room: u64 },
    #[error("the pinned messages take {pinned} tokens, and only {room} are left beside the rest of the window: unpin some")]
    Pins { pinned: u64, room: u64 },
    #[error("the old window has no unit {0} that can be carried")]
    UnknownUnit(u32),
}

/// One unit of the history (see [`units`]) that can be carried into the new window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub index: u32,
    /// Its messages in the history.
    pub range: Range<usize>,
    pub tokens: u64,
    pub in_tail: bool,
    pub pinned: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RebuiltWindow {
    pub messages: Vec<Message>,
    /// `system_tokens` plus the estimate of `messages`.
    pub tokens: u64,
    /// What each section holds and takes, for a review.
    pub sections: Vec<RebuildSection>,
    /// The history's units that could be carried, and whether they are.
    pub units: Vec<Unit>,
    /// Indices in the history of the messages carried verbatim, ascending; they follow the
    /// header in `messages`.
    pub kept: Vec<usize>,
}

/// The text parts of the window, before any trimming.
struct Parts<'a> {
    checkpoint_id: Option<String>,
    task: String,
    goal: Option<String>,
    corrections: Vec<String>,
    memory: Option<String>,
    /// All 11 checkpoint fields, rendered, with whether the supervisor edited them.
    fields: Vec<(&'static str, String, bool)>,
    tasks: String,
    facts: String,
    /// Whether the old window ended with the agent's answer and nothing left open.
    finished: bool,
    dropped: &'a BTreeSet<String>,
}

impl Parts<'_> {
    fn shown(&self, key: &str) -> bool {
        !self.dropped.contains(key)
    }
}

/// How hard the parts are cut: `items` caps memory, checkpoint fields and the task list;
/// `pinned` caps the reminder's copies of the user's words. The header's copy of the user's
/// words is never cut.
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

fn parts<'a>(input: &RebuildInput, adj: &'a Adjustments) -> Parts<'a> {
    let (checkpoint_id, fields) = match input.checkpoint {
        Some((id, cp)) => {
            let fields = cp
                .fields()
                .into_iter()
                .map(|(k, f)| match adj.fields.get(k) {
                    Some(text) => (k, text.trim().to_string(), true),
                    None => (k, render_field(f), false),
                })
                .collect();
            (Some(id.to_string()), fields)
        }
        None => (None, Vec::new()),
    };
    let f = input.facts;
    let finished = matches!(input.history.last(), Some(Message::Assistant { tool_calls, .. }) if tool_calls.is_empty())
        && input.tasks.iter().all(|t| t.status == TaskStatus::Done);
    Parts {
        checkpoint_id,
        task: input.task.trim().to_string(),
        goal: input.goal.map(str::trim).filter(|g| !g.is_empty()).map(str::to_string),
        corrections: input.corrections.to_vec(),
        memory: input.memory_md.map(|m| m.trim().to_string()).filter(|m| !m.is_empty()),
        fields,
        tasks: render_tasks(input.tasks),
        facts: format!(
            "step {} · cycle {} · {} tool calls · {} tokens used · ${:.2} spent",
            f.step, f.cycle, f.tool_calls, f.tokens_used, f.cost_usd
        ),
        finished,
        dropped: &adj.dropped,
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

fn corrections_block(corrections: &[String], limit: Option<u64>) -> String {
    if corrections.is_empty() {
        return "None.".to_string();
    }
    corrections.iter().map(|c| format!("- {}", cap(c, limit))).collect::<Vec<_>>().join("\n")
}

fn users_words_text(p: &Parts, limit: Option<u64>) -> String {
    let mut out = format!("Task:\n{}\n", cap(&p.task, limit));
    if let Some(g) = &p.goal {
        out.push_str(&format!("\nGoal (the completion condition):\n{}\n", cap(g, limit)));
    }
    out
}

fn block(words: &str, corrections: &str) -> String {
    format!("{USERS_WORDS_HEADING}\n{words}\nSupervisor corrections (verbatim; every one remains in force):\n{corrections}\n")
}

/// The user's own words as every rebuilt window opens with them: the task, the goal and every
/// correction, verbatim, under their heading. The goal verifier gets the same block.
pub fn users_words_block(task: &str, goal: Option<&str>, corrections: &[String]) -> String {
    let mut words = format!("Task:\n{}\n", task.trim());
    if let Some(g) = goal.map(str::trim).filter(|g| !g.is_empty()) {
        words.push_str(&format!("\nGoal (the completion condition):\n{g}\n"));
    }
    block(&words, &corrections_block(corrections, None))
}

/// The frame for the given caps: header, reminder (None when dropped), and each section's
/// text as placed.
struct Frame {
    header: String,
    reminder: Option<String>,
    placed: Vec<(String, String)>,
}

fn frame(p: &Parts, caps: Caps) -> Frame {
    let mut placed: Vec<(String, String)> = Vec::new();
    let words = users_words_text(p, None);
    let corrections = corrections_block(&p.corrections, None);
    placed.push((USERS_WORDS.into(), words.clone()));
    placed.push((CORRECTIONS.into(), corrections.clone()));

    let mut header = String::from(
        "[endure: context rebuilt]\nYour previous context window was replaced by this one. The blocks below are \
         already loaded here: do not re-read MEMORY.md, checkpoint files or the session log to recover them. \
         After this message comes as much of the most recent conversation as fitted, verbatim.\n",
    );
    header.push('\n');
    header.push_str(&block(&words, &corrections));
    if let Some(m) = p.memory.as_deref().filter(|_| p.shown(MEMORY)) {
        let m = cap(m, caps.items);
        header.push_str(&format!("\n## Project memory (MEMORY.md)\n{m}\n"));
        placed.push((MEMORY.into(), m));
    }
    if let Some(id) = &p.checkpoint_id {
        let mut body = String::new();
        for (key, value, _) in &p.fields {
            let section = field_section(key);
            if !p.shown(&section) {
                continue;
            }
            let v = cap(value, caps.items);
            if !v.is_empty() {
                body.push_str(&format!("{key}:\n{v}\n"));
            }
            placed.push((section, v));
        }
        if !body.is_empty() {
            header.push_str(&format!("\n## Checkpoint {id} (the checkpoint writer's summary of the work so far)\n{body}"));
        }
    }
    if p.shown(TASKS) {
        let t = cap(&p.tasks, caps.items);
        header.push_str(&format!("\n## Task list\n{t}\n"));
        placed.push((TASKS.into(), t));
    }
    header.push_str(&format!("\n## Session state\n{}\n", p.facts));

    let reminder = p.shown(REMINDER).then(|| {
        let mut r = format!("[endure: reminder]\nThe task, in the user's words:\n{}", users_words_text(p, caps.pinned));
        let field =
            |key: &str| p.fields.iter().find(|(k, _, _)| *k == key && p.shown(&field_section(k))).map_or("", |(_, v, _)| v.as_str());
        let next = field("next_action");
        if !next.is_empty() {
            r.push_str(&format!("\nNext action:\n{}\n", cap(next, caps.items)));
        }
        let directives = field("directives");
        if !directives.is_empty() {
            r.push_str(&format!("\nDirectives:\n{}\n", cap(directives, caps.items)));
        }
        r.push_str(&format!("\nSupervisor corrections still in force:\n{}\n\n", corrections_block(&p.corrections, caps.pinned)));
        r.push_str(if p.finished {
            "The previous window ended right after you answered, with no tool call pending and no open task. Do not \
             resume blindly: verify whether the work is complete (run the tests or check the result against the \
             task), and if it is, call `done` with a summary. Continue working only on something you verify is \
             missing."
        } else {
            "Continue from the next action. Do not redo work the checkpoint records as done, and do not re-read \
             files only to recover what is already above."
        });
        r
    });
    if let Some(r) = &reminder {
        placed.push((REMINDER.into(), r.clone()));
    }
    Frame { header, reminder, placed }
}

fn frame_cost(f: &Frame) -> u64 {
    let user = |t: &str| tokens::estimate_message(&Message::User { text: t.to_string() });
    user(&f.header) + f.reminder.as_deref().map_or(0, user)
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
pub fn units(history: &[Message]) -> Vec<Option<Range<usize>>> {
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

/// Builds the fresh window. `system_tokens + tokens(messages) <= limit_tokens` always holds:
/// the verbatim tail shrinks first, then memory, checkpoint fields and the task list are cut
/// in the middle (longest first), then the reminder's copies of the user's words. The user's
/// words in the header are never cut: when they alone do not fit, that is an error.
pub fn rebuild_window(input: &RebuildInput) -> Result<RebuiltWindow, RebuildError> {
    rebuild_with(input, &Adjustments::default())
}

/// [`rebuild_window`] with a supervisor's adjustments.
pub fn rebuild_with(input: &RebuildInput, adj: &Adjustments) -> Result<RebuiltWindow, RebuildError> {
    let room = input.limit_tokens.saturating_sub(input.system_tokens);
    let p = parts(input, adj);
    let all_units = units(input.history);
    let mut pinned: Vec<(u32, Range<usize>)> = Vec::new();
    for &i in &adj.pinned {
        match all_units.get(i as usize).cloned().flatten() {
            Some(r) => pinned.push((i, r)),
            None => return Err(RebuildError::UnknownUnit(i)),
        }
    }
    let pinned_cost: u64 = pinned.iter().map(|(_, r)| tokens::estimate_messages(&input.history[r.clone()])).sum();

    let fits = |caps: Caps| frame_cost(&frame(&p, caps)) + pinned_cost <= room;
    let caps = if fits(NO_CAPS) {
        NO_CAPS
    } else {
        let longest_item = p
            .fields
            .iter()
            .map(|(_, v, _)| tokens::estimate(v))
            .chain(p.memory.as_deref().map(tokens::estimate))
            .chain([tokens::estimate(&p.tasks)])
            .max()
            .unwrap_or(0);
        let longest_pinned = p
            .corrections
            .iter()
            .map(|c| tokens::estimate(c))
            .chain([tokens::estimate(&p.task)])
            .chain(p.goal.as_deref().map(tokens::estimate))
            .max()
            .unwrap_or(0);
        if let Some(c) = largest_fitting(longest_item, |c| fits(Caps { items: Some(c), pinned: None })) {
            Caps { items: Some(c), pinned: None }
        } else if let Some(c) = largest_fitting(longest_pinned, |c| fits(Caps { items: Some(0), pinned: Some(c) })) {
            Caps { items: Some(0), pinned: Some(c) }
        } else {
            let bare = frame_cost(&frame(&p, Caps { items: Some(0), pinned: Some(0) }));
            return Err(if bare <= room {
                RebuildError::Pins { pinned: pinned_cost, room: room - bare }
            } else {
                RebuildError::Verbatim { needed: bare, room }
            });
        }
    };
    let f = frame(&p, caps);
    let tail_budget = room - frame_cost(&f) - pinned_cost;

    // The newest units that fit, stopping at the first that does not, so the tail is the
    // conversation's end without holes other than units that cannot be sent anyway.
    let mut tail: Vec<u32> = Vec::new();
    if p.shown(TAIL) {
        let mut used = 0;
        for (i, r) in all_units.iter().enumerate().rev() {
            let Some(r) = r else { continue };
            if adj.pinned.contains(&(i as u32)) {
                continue;
            }
            let cost = tokens::estimate_messages(&input.history[r.clone()]);
            if used + cost > tail_budget {
                break;
            }
            used += cost;
            tail.push(i as u32);
        }
    }
    let mut report = Vec::new();
    let mut kept: Vec<usize> = Vec::new();
    for (i, r) in all_units.iter().enumerate() {
        let Some(r) = r else { continue };
        let (in_tail, is_pinned) = (tail.contains(&(i as u32)), adj.pinned.contains(&(i as u32)));
        if in_tail || is_pinned {
            kept.extend(r.clone());
        }
        let tokens = tokens::estimate_messages(&input.history[r.clone()]);
        report.push(Unit { index: i as u32, range: r.clone(), tokens, in_tail, pinned: is_pinned });
    }

    let mut messages = vec![Message::User { text: f.header.clone() }];
    messages.extend(kept.iter().map(|i| input.history[*i].clone()));
    if let Some(r) = &f.reminder {
        messages.push(Message::User { text: r.clone() });
    }
    let tail_tokens = tokens::estimate_messages(&messages[1..1 + kept.len()]);
    let sections = sections(&p, &f, caps, room, tail_budget + pinned_cost, tail_tokens);
    Ok(RebuiltWindow { tokens: input.system_tokens + tokens::estimate_messages(&messages), messages, sections, units: report, kept })
}

fn title(key: &str) -> String {
    match key {
        USERS_WORDS => "The user's words (task and goal)".into(),
        CORRECTIONS => "Supervisor corrections".into(),
        MEMORY => "MEMORY.md".into(),
        TASKS => "Task list".into(),
        TAIL => "Newest messages, verbatim".into(),
        REMINDER => "Reminder".into(),
        other => format!("Checkpoint: {}", other.strip_prefix(FIELD_PREFIX).unwrap_or(other)),
    }
}

/// Every section of the window in order, placed or dropped, with its size and cap.
fn sections(p: &Parts, f: &Frame, caps: Caps, room: u64, tail_cap: u64, tail_tokens: u64) -> Vec<RebuildSection> {
    let mut keys: Vec<(String, String, bool, bool)> = vec![
        (USERS_WORDS.into(), users_words_text(p, None), false, false),
        (CORRECTIONS.into(), corrections_block(&p.corrections, None), false, false),
    ];
    if let Some(m) = &p.memory {
        keys.push((MEMORY.into(), m.clone(), false, true));
    }
    for (k, v, edited) in &p.fields {
        keys.push((field_section(k), v.clone(), *edited, true));
    }
    keys.push((TASKS.into(), p.tasks.clone(), false, true));
    keys.push((TAIL.into(), String::new(), false, true));
    keys.push((REMINDER.into(), String::new(), false, true));
    keys.into_iter()
        .map(|(key, full, edited, droppable)| {
            let placed = f.placed.iter().find(|(k, _)| *k == key).map(|(_, t)| t.clone());
            let dropped = !p.shown(&key);
            let item = droppable && key != TAIL && key != REMINDER;
            let text = placed.clone().unwrap_or_else(|| if dropped { full.clone() } else { String::new() });
            let tokens = match key.as_str() {
                TAIL => tail_tokens,
                _ if dropped => 0,
                _ => placed.as_deref().map_or(0, tokens::estimate),
            };
            let cap = match key.as_str() {
                TAIL => tail_cap,
                _ if item => caps.items.unwrap_or(room),
                _ => room,
            };
            let trimmed = item && !dropped && placed.as_deref().is_some_and(|t| t != full);
            RebuildSection {
                title: title(&key),
                editable: key.starts_with(FIELD_PREFIX),
                key,
                text,
                tokens,
                cap,
                trimmed,
                dropped,
                edited,
                droppable,
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "window_tests.rs"]
mod tests;
