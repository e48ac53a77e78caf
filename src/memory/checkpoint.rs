//! Checkpoints: what the background writer is asked, how its answer is parsed and checked,
//! and how a checkpoint is stored (`<id>.json` for the runtime, `<id>.md` for people).
//!
//! The writer is a model, so its answer is untrusted input: it may wrap the JSON in prose or
//! a fence, and it may get the keys wrong. Parsing finds the object robustly and, when the
//! object is wrong, says exactly what is wrong, because the runtime retries once with that
//! reason and records it.

use crate::jsonfind::Found;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::memory::atomic::write_atomic;
use crate::memory::tokens;
use crate::protocol::{Checkpoint, CheckpointField, Message};
use crate::redact::Redactor;

/// The writer's system prompt; the part between the `memory_updates` markers is kept only
/// when memory updates are wanted.
const WRITER_PROMPT: &str = include_str!("../../assets/prompts/writer.md");
const MEMORY_BEGIN: &str = "<!-- memory_updates:begin -->";
const MEMORY_END: &str = "<!-- memory_updates:end -->";

/// The MEMORY.md sections the writer may propose entries for.
pub const MEMORY_SECTIONS: [&str; 5] = ["Rules", "Architecture decisions", "Verified knowledge", "Patterns", "Gotchas"];

/// The optional key beside the 11 checkpoint fields.
const MEMORY_UPDATES_KEY: &str = "memory_updates";

/// A tool result longer than this is shown to the writer as head and tail only: the writer
/// needs what the result was and how it ended, not every line of it.
const TOOL_RESULT_TOKENS: u64 = 1_500;
/// Tool-call arguments are capped harder: they are mostly file contents the agent wrote, and
/// the writer needs to know which file, not the whole content.
const TOOL_ARGS_TOKENS: u64 = 400;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("the answer contains no JSON object")]
    NoObject,
    #[error("the answer's JSON object does not parse: {0}")]
    InvalidJson(String),
    #[error("{}", keys_message(.missing, .unknown))]
    Keys { missing: Vec<String>, unknown: Vec<String> },
    #[error("{0} must be a string or a list of strings")]
    FieldType(String),
    #[error("{0}")]
    MemoryUpdates(String),
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a checkpoint: {message}", .path.display())]
    Invalid { path: PathBuf, message: String },
}

fn keys_message(missing: &[String], unknown: &[String]) -> String {
    let part = |one: &str, many: &str, keys: &[String]| match keys.len() {
        0 => None,
        1 => Some(format!("{one}: {}", keys[0])),
        _ => Some(format!("{many}: {}", keys.join(", "))),
    };
    [part("missing key", "missing keys", missing), part("unknown key", "unknown keys", unknown)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ")
}

/// A parsed and checked writer answer.
#[derive(Debug, Clone, PartialEq)]
pub struct WriterAnswer {
    pub checkpoint: Checkpoint,
    /// MEMORY.md section name → new entries. Empty when the writer proposed none. Section
    /// names are not checked here: the memory file decides what it accepts.
    pub memory_updates: BTreeMap<String, Vec<String>>,
}

/// Finds the writer's JSON object in `text` and checks it: exactly the 11 checkpoint keys,
/// plus an optional `memory_updates`, every field a string or a list of strings.
pub fn parse_writer_answer(text: &str) -> Result<WriterAnswer, CheckpointError> {
    let obj = find_object(text)?;
    let missing: Vec<String> = Checkpoint::FIELDS.iter().filter(|k| !obj.contains_key(**k)).map(|k| k.to_string()).collect();
    let unknown: Vec<String> =
        obj.keys().filter(|k| k.as_str() != MEMORY_UPDATES_KEY && !Checkpoint::FIELDS.contains(&k.as_str())).cloned().collect();
    if !missing.is_empty() || !unknown.is_empty() {
        return Err(CheckpointError::Keys { missing, unknown });
    }
    let field = |key: &str| -> Result<CheckpointField, CheckpointError> {
        match obj.get(key) {
            Some(Value::String(s)) => Ok(CheckpointField::Text(s.clone())),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .map(CheckpointField::List)
                .ok_or_else(|| CheckpointError::FieldType(key.to_string())),
            _ => Err(CheckpointError::FieldType(key.to_string())),
        }
    };
    let checkpoint = Checkpoint {
        active_intent: field("active_intent")?,
        next_action: field("next_action")?,
        directives: field("directives")?,
        task_tree: field("task_tree")?,
        current_work: field("current_work")?,
        files: field("files")?,
        knowledge: field("knowledge")?,
        errors_and_fixes: field("errors_and_fixes")?,
        live_resources: field("live_resources")?,
        decisions: field("decisions")?,
        open_notes: field("open_notes")?,
    };
    let memory_updates = match obj.get(MEMORY_UPDATES_KEY) {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(v) => memory_updates(v)?,
    };
    Ok(WriterAnswer { checkpoint, memory_updates })
}

fn memory_updates(v: &Value) -> Result<BTreeMap<String, Vec<String>>, CheckpointError> {
    let Value::Object(sections) = v else {
        return Err(CheckpointError::MemoryUpdates("memory_updates must be an object of section name to a list of strings".into()));
    };
    let mut out = BTreeMap::new();
    for (section, entries) in sections {
        let bad = || CheckpointError::MemoryUpdates(format!("memory_updates.{section} must be a list of strings"));
        let list = match entries {
            // One entry given as a plain string means the same as a list of one.
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => items.iter().map(|i| i.as_str().map(str::to_string)).collect::<Option<Vec<_>>>().ok_or_else(bad)?,
            _ => return Err(bad()),
        };
        if !list.is_empty() {
            out.insert(section.clone(), list);
        }
    }
    Ok(out)
}

/// The answer's JSON object: the first fenced block that holds one, else the first balanced
/// `{…}` in the text that parses. Among parsing candidates, one that has a checkpoint key wins
/// over one that has none, so an example object in the prose is not mistaken for the answer.
fn find_object(text: &str) -> Result<Map<String, Value>, CheckpointError> {
    match crate::jsonfind::find_object(text, |map| Checkpoint::FIELDS.iter().any(|k| map.contains_key(*k))) {
        Found::Wanted(map) | Found::Other(map) => Ok(map),
        Found::Unparsable(e) => Err(CheckpointError::InvalidJson(e)),
        Found::Nothing => Err(CheckpointError::NoObject),
    }
}

/// A field key as a heading: `errors_and_fixes` → `Errors and fixes`.
fn title(key: &str) -> String {
    let words = key.replace('_', " ");
    let mut chars = words.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The checkpoint as Markdown for people: a heading per field, lists as bullets.
pub fn render_markdown(id: &str, cp: &Checkpoint) -> String {
    let mut out = format!("# Checkpoint {id}\n");
    for (key, field) in cp.fields() {
        out.push_str(&format!("\n## {}\n\n", title(key)));
        match field {
            CheckpointField::Text(t) if t.trim().is_empty() => out.push_str("_none_\n"),
            CheckpointField::List(l) if l.is_empty() => out.push_str("_none_\n"),
            CheckpointField::Text(t) => {
                out.push_str(t.trim_end());
                out.push('\n');
            }
            CheckpointField::List(items) => {
                for item in items {
                    // Continuation lines are indented so that a multi-line item stays one bullet.
                    out.push_str(&format!("- {}\n", item.trim_end().replace('\n', "\n  ")));
                }
            }
        }
    }
    out
}

/// Writes `<dir>/<id>.json` (pretty JSON) and `<dir>/<id>.md`, each atomically, and returns
/// the JSON path. The JSON is written last, so whenever it exists the Markdown does too.
/// Both hold the checkpoint as `redactor` leaves it: the writer is a model and may repeat
/// whatever it saw.
pub fn save(dir: &Path, id: &str, cp: &Checkpoint, redactor: &Redactor) -> std::io::Result<PathBuf> {
    // The id becomes a file name; one that could escape `dir` is a bug upstream, not a path.
    if id.is_empty() || id.starts_with('.') || id.contains(['/', '\\']) {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("bad checkpoint id: {id:?}")));
    }
    let cp = &redactor.redacted(cp).map_err(std::io::Error::other)?;
    let json = serde_json::to_string_pretty(cp).map_err(std::io::Error::other)?;
    let json_path = dir.join(format!("{id}.json"));
    write_atomic(&dir.join(format!("{id}.md")), render_markdown(id, cp).as_bytes())?;
    write_atomic(&json_path, format!("{json}\n").as_bytes())?;
    Ok(json_path)
}

/// Reads a checkpoint saved by [`save`].
pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let text = std::fs::read_to_string(path).map_err(|source| CheckpointError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|e| CheckpointError::Invalid { path: path.to_path_buf(), message: e.to_string() })
}

/// What the writer is given.
#[derive(Debug, Clone, Copy)]
pub struct WriterInput<'a> {
    pub task: &'a str,
    pub previous: Option<&'a Checkpoint>,
    /// The conversation since the previous checkpoint (all of it for the first).
    pub conversation: &'a [Message],
    /// Every supervisor correction of the session, verbatim, oldest first.
    pub corrections: &'a [String],
    pub memory_md: Option<&'a str>,
    pub want_memory_updates: bool,
    /// Tokens the whole prompt (system + user) may take.
    pub limit_tokens: u64,
}

/// The writer's system prompt for this request.
fn writer_system(want_memory_updates: bool) -> String {
    match (WRITER_PROMPT.find(MEMORY_BEGIN), WRITER_PROMPT.find(MEMORY_END)) {
        (Some(b), Some(e)) if b < e => {
            if want_memory_updates {
                format!("{}{}{}", &WRITER_PROMPT[..b], &WRITER_PROMPT[b + MEMORY_BEGIN.len()..e], &WRITER_PROMPT[e + MEMORY_END.len()..])
            } else {
                format!("{}{}", WRITER_PROMPT[..b].trim_end(), &WRITER_PROMPT[e + MEMORY_END.len()..])
            }
        }
        _ => WRITER_PROMPT.to_string(),
    }
}

/// One conversation message as the writer sees it.
fn render_message(msg: &Message) -> String {
    match msg {
        Message::User { text } => format!("### user\n{text}\n"),
        Message::Assistant { text, tool_calls, .. } => {
            let mut out = String::from("### assistant\n");
            if !text.trim().is_empty() {
                out.push_str(text.trim_end());
                out.push('\n');
            }
            for call in tool_calls {
                let args = tokens::trim_middle(&call.arguments, TOOL_ARGS_TOKENS);
                out.push_str(&format!("→ {}({})\n", call.name, args));
            }
            out
        }
        Message::Tool { name, content, .. } => {
            format!("### tool result: {name}\n{}\n", tokens::trim_middle(content.trim_end(), TOOL_RESULT_TOKENS))
        }
    }
}

/// The writer request: `(system, user)`. Everything fits in `input.limit_tokens` (as long as
/// the system prompt itself does): the oldest conversation messages go first, then project
/// memory and the previous checkpoint are cut in the middle, and the prompt says so.
pub fn writer_prompt(input: &WriterInput) -> (String, String) {
    let system = writer_system(input.want_memory_updates);
    let room = input.limit_tokens.saturating_sub(tokens::estimate(&system));

    let mut head = format!("# Task\n{}\n\n", input.task.trim_end());
    head.push_str("# Supervisor corrections (verbatim, all still in force)\n");
    if input.corrections.is_empty() {
        head.push_str("None.\n\n");
    } else {
        for c in input.corrections {
            head.push_str(&format!("- {c}\n"));
        }
        head.push('\n');
    }
    let previous = match input.previous {
        Some(cp) => serde_json::to_string_pretty(cp).unwrap_or_default(),
        None => "None: this is the session's first checkpoint.".to_string(),
    };
    let memory = input.memory_md.map(str::trim_end).filter(|m| !m.is_empty());

    let mut ask = String::from(
        "# Your answer\nAnswer with one JSON object with exactly the 11 keys active_intent, next_action, \
         directives, task_tree, current_work, files, knowledge, errors_and_fixes, live_resources, decisions, \
         open_notes",
    );
    ask.push_str(if input.want_memory_updates {
        ", plus memory_updates. Copy literal values byte for byte.\n"
    } else {
        ". Copy literal values byte for byte.\n"
    });

    let blocks: Vec<String> = input.conversation.iter().map(render_message).collect();
    let assemble = |previous: &str, memory: Option<&str>, kept: usize| -> String {
        let mut user = head.clone();
        user.push_str(&format!("# Previous checkpoint\n{previous}\n\n"));
        if let Some(m) = memory {
            user.push_str(&format!("# Project memory (MEMORY.md)\n{m}\n\n"));
        }
        user.push_str("# Conversation since the previous checkpoint\n");
        let dropped = blocks.len() - kept;
        if dropped > 0 {
            user.push_str(&format!(
                "[The oldest {dropped} of {} messages were left out to fit your context; what they did is \
                 known only through the previous checkpoint and the messages below.]\n",
                blocks.len()
            ));
        }
        if blocks.is_empty() {
            user.push_str("(nothing new)\n");
        }
        for b in &blocks[dropped..] {
            user.push_str(b);
        }
        user.push('\n');
        user.push_str(&ask);
        user
    };

    // Start from the longest suffix of the conversation whose blocks fit beside the fixed
    // parts, then drop more while the assembled text (whose seams can cost a token or two
    // more than the parts) is still over.
    let fixed = tokens::estimate(&assemble(&previous, memory, 0));
    let mut kept = tokens::newest_that_fit(&blocks, fixed, room);
    let mut user = assemble(&previous, memory, kept);
    while tokens::estimate(&user) > room && kept > 0 {
        kept -= 1;
        user = assemble(&previous, memory, kept);
    }
    if tokens::estimate(&user) <= room {
        return (system, user);
    }

    // Even without the conversation it is over: cut project memory, then the previous
    // checkpoint, in the middle, each to what the rest leaves it.
    let memory_owned = memory.map(|m| {
        let rest = tokens::estimate(&assemble(&previous, Some(""), 0));
        tokens::trim_middle(m, room.saturating_sub(rest + 2)).into_owned()
    });
    user = assemble(&previous, memory_owned.as_deref(), 0);
    if tokens::estimate(&user) > room {
        let rest = tokens::estimate(&assemble("", memory_owned.as_deref(), 0));
        let prev = tokens::trim_middle(&previous, room.saturating_sub(rest + 2)).into_owned();
        user = assemble(&prev, memory_owned.as_deref(), 0);
    }
    if tokens::estimate(&user) > room {
        // Only the task and the corrections are left to cut; that is pathological.
        user = tokens::trim_middle(&user, room).into_owned();
    }
    (system, user)
}

#[cfg(test)]
#[path = "checkpoint_tests.rs"]
mod tests;
