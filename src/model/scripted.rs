//! The scripted provider: replays a scenario file's answers, per role, in order.
//!
//! It only replaces the HTTP layer. Its answers come out as the same [`StreamEvent`]s a real
//! provider produces, split into word-sized deltas at a configurable pace, and go through the
//! same assembly, retry and runtime code.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{EventStream, ModelError, ModelRequest, OpenFuture, Provider, StreamEvent, TokenUsage};
use crate::protocol::{Role, ToolCallRequest};

/// A scenario: the answers to give for each role, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Shown in `--help`-like listings and the demo banner.
    #[serde(default)]
    pub description: String,
    /// The task the scenario was written for; the demo uses it.
    #[serde(default)]
    pub task: String,
    #[serde(default)]
    pub agent: Vec<Answer>,
    #[serde(default)]
    pub writer: Vec<Answer>,
    #[serde(default)]
    pub verifier: Vec<Answer>,
    #[serde(default)]
    pub judge: Vec<Answer>,
    /// Workflow subagents' answers by their label (`*` for any label not listed): each label
    /// has its own answers per role, consumed in order by the agents with that label, so
    /// concurrent subagents with distinct labels get deterministic answers.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub subagents: std::collections::BTreeMap<String, Scenario>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub tool_calls: Vec<ScriptedCall>,
    /// Reported usage; when absent the runtime estimates, as it does for providers that report
    /// nothing.
    #[serde(default)]
    pub usage: Option<TokenUsage>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedCall {
    /// Defaults to `call_<answer>_<index>`.
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    /// The arguments as a structured value.
    #[serde(default)]
    pub arguments: Option<Value>,
    /// The arguments as raw text, to script malformed JSON.
    #[serde(default)]
    pub raw_arguments: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("bad scenario {path}: {message}")]
    Parse { path: String, message: String },
}

impl Scenario {
    /// Loads a `.json` or `.toml` scenario (by extension; anything else is tried as TOML).
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io { path: path.display().to_string(), source })?;
        Self::parse(&text, path.extension().is_some_and(|e| e == "json"))
            .map_err(|message| ScenarioError::Parse { path: path.display().to_string(), message })
    }

    pub fn parse(text: &str, json: bool) -> Result<Scenario, String> {
        if json {
            serde_json::from_str(text).map_err(|e| format!("line {}, column {}: {e}", e.line(), e.column()))
        } else {
            toml::from_str(text).map_err(|e| crate::config::describe_toml_error(text, &e))
        }
    }

    pub fn answers(&self, role: Role) -> &[Answer] {
        match role {
            Role::Agent => &self.agent,
            Role::Writer => &self.writer,
            Role::Verifier => &self.verifier,
            Role::Judge => &self.judge,
        }
    }
}

impl Answer {
    /// The tool calls as the model would have produced them, with the default ids.
    pub fn tool_requests(&self, answer_index: usize) -> Vec<ToolCallRequest> {
        self.tool_calls
            .iter()
            .enumerate()
            .map(|(i, c)| ToolCallRequest {
                id: c.id.clone().unwrap_or_else(|| format!("call_{answer_index}_{i}")),
                name: c.name.clone(),
                arguments: c
                    .raw_arguments
                    .clone()
                    .unwrap_or_else(|| c.arguments.as_ref().map(|v| v.to_string()).unwrap_or_else(|| "{}".to_string())),
            })
            .collect()
    }
}

/// Splits text into word-sized pieces, whitespace kept, the way tokens arrive from a model.
pub fn chunk_words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for ch in text.chars() {
        cur.push(ch);
        if ch.is_whitespace() && cur.trim().len() >= 2 {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub struct ScriptedProvider {
    scenario: std::sync::Arc<Scenario>,
    /// Delay per word at speed 1, roughly a fast human reader's pace of a streaming model.
    word_delay: Duration,
    /// Delay before the first word at speed 1, like a model's time to first token.
    first_delay: Duration,
    cursors: Mutex<HashMap<Role, usize>>,
    speed: f64,
    /// One provider per subagent label, made on first use.
    children: Mutex<HashMap<String, std::sync::Arc<ScriptedProvider>>>,
}

impl ScriptedProvider {
    pub fn new(scenario: std::sync::Arc<Scenario>, speed: f64) -> Self {
        let speed = if speed.is_finite() && speed > 0.0 { speed } else { 0.0 };
        ScriptedProvider {
            scenario,
            word_delay: Duration::from_millis(40).mul_f64(speed),
            first_delay: Duration::from_millis(800).mul_f64(speed),
            cursors: Mutex::new(HashMap::new()),
            speed,
            children: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a role's answers further in, for a session resumed part-way.
    pub fn skip(&self, role: Role, answers: usize) {
        if let Ok(mut c) = self.cursors.lock() {
            c.insert(role, answers);
        }
    }

    fn next_answer(&self, role: Role) -> Result<(usize, Answer), ModelError> {
        let mut cursors = self.cursors.lock().map_err(|_| ModelError::Config("scripted provider poisoned".into()))?;
        let cursor = cursors.entry(role).or_insert(0);
        let answers = self.scenario.answers(role);
        let answer = answers.get(*cursor).cloned().ok_or_else(|| {
            ModelError::Config(format!(
                "the scripted scenario has no answer {} for the {} role (it has {})",
                *cursor + 1,
                role.as_str(),
                answers.len()
            ))
        })?;
        let index = *cursor;
        *cursor += 1;
        Ok((index, answer))
    }
}

impl Provider for ScriptedProvider {
    fn name(&self) -> &str {
        "scripted"
    }

    fn resume_at(&self, role: Role, answers: usize) {
        self.skip(role, answers);
    }

    fn for_subagent(&self, label: &str) -> Result<Option<std::sync::Arc<dyn Provider>>, ModelError> {
        if self.scenario.subagents.is_empty() {
            return Ok(None);
        }
        let Some(sub) = self.scenario.subagents.get(label).or_else(|| self.scenario.subagents.get("*")) else {
            return Err(ModelError::Config(format!(
                "the scripted scenario has no [subagents.\"{label}\"] answers (and no [subagents.\"*\"])"
            )));
        };
        let mut children = self.children.lock().map_err(|_| ModelError::Config("scripted provider poisoned".into()))?;
        let child = children
            .entry(label.to_string())
            .or_insert_with(|| std::sync::Arc::new(ScriptedProvider::new(std::sync::Arc::new(sub.clone()), self.speed)))
            .clone();
        Ok(Some(child))
    }

    fn open<'a>(&'a self, req: &'a ModelRequest) -> OpenFuture<'a> {
        Box::pin(async move {
            let (index, answer) = self.next_answer(req.role)?;
            let mut events: Vec<StreamEvent> = chunk_words(&answer.text).into_iter().map(StreamEvent::TextDelta).collect();
            for (i, call) in answer.tool_requests(index).into_iter().enumerate() {
                events.push(StreamEvent::ToolCallStart { index: i, id: call.id, name: call.name });
                events.push(StreamEvent::ToolCallDelta { index: i, arguments: call.arguments });
            }
            if let Some(u) = answer.usage {
                events.push(StreamEvent::Usage(u));
            }
            events
                .push(StreamEvent::Finished { stop_reason: Some(if answer.tool_calls.is_empty() { "stop" } else { "tool_calls" }.into()) });
            if !self.first_delay.is_zero() {
                tokio::time::sleep(self.first_delay).await;
            }
            let delay = self.word_delay;
            let stream = futures::stream::unfold(events.into_iter(), move |mut it| async move {
                let ev = it.next()?;
                if !delay.is_zero() && matches!(ev, StreamEvent::TextDelta(_) | StreamEvent::ToolCallDelta { .. }) {
                    tokio::time::sleep(delay).await;
                }
                Some((Ok(ev), it))
            });
            Ok(Box::pin(stream) as EventStream<'a>)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_keep_every_character() {
        let text = "Let me read   the failing test.\nThen fix it.";
        assert_eq!(chunk_words(text).concat(), text);
        assert!(chunk_words(text).len() > 4);
    }

    #[test]
    fn parses_toml_and_json_alike() {
        let toml = r#"
            [[agent]]
            text = "hi"
            [[agent.tool_calls]]
            name = "read_file"
            arguments = { path = "a.py" }
        "#;
        let json = r#"{"agent":[{"text":"hi","tool_calls":[{"name":"read_file","arguments":{"path":"a.py"}}]}]}"#;
        let a = Scenario::parse(toml, false).expect("toml");
        let b = Scenario::parse(json, true).expect("json");
        assert_eq!(a, b);
        assert_eq!(a.agent[0].tool_requests(0)[0].id, "call_0_0");
        assert_eq!(a.agent[0].tool_requests(0)[0].arguments, r#"{"path":"a.py"}"#);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = Scenario::parse("[[agent]]\ntxt = \"hi\"\n", false).expect_err("must fail");
        assert!(err.contains("txt"), "{err}");
    }
}
