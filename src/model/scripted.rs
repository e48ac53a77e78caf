//! The scripted provider: replays a scenario file's answers, per role, in order.
//!
//! It only replaces the HTTP layer. Its answers come out as the same [`StreamEvent`]s a real
//! provider produces, split into word-sized deltas at a configurable pace, and go through the
//! same assembly, retry and runtime code.
//!
//! Beyond plain order, a scenario can react to what a request carries, the way a model would,
//! and nothing else: a supervisor correction delivered since the agent's last answer switches
//! the agent to the `when_correction` answers; a request that contains a `matched`
//! answer's text gets that answer; with `same_step_candidates`, Max Mode's identical
//! candidate requests all answer the same step (with its `candidates` variants); and `fallback`
//! answers keep a role answering once its list is used up.

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
    /// Agent answers for after a supervisor correction: when a request carries a correction
    /// delivered since the agent's last answer, these are given in order (`{correction}` in
    /// their text and string arguments becomes the correction's text), then the `agent`
    /// answers continue where they stopped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when_correction: Vec<Answer>,
    /// Per role, the answer given whenever the role's list is used up, as often as needed.
    #[serde(default, skip_serializing_if = "Fallback::is_empty")]
    pub fallback: Fallback,
    /// Answers chosen by what the request says instead of by order (a dream's writer request,
    /// a judge shown a particular candidate); the first that matches is given, as often as
    /// asked, without moving the role's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matched: Vec<Matched>,
    /// With Max Mode on, the candidates of one step are identical requests in a row. When set,
    /// they all answer the same step: candidate 1 gets the step's answer, the others its
    /// `candidates` variants in turn (or the answer again). Unset, each request takes the next
    /// answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub same_step_candidates: bool,
    /// Max Mode variants of agent answers (with `same_step_candidates`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Variant>,
}

/// Per-role answers for when a role's list is used up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fallback {
    #[serde(default)]
    pub agent: Option<Answer>,
    #[serde(default)]
    pub writer: Option<Answer>,
    #[serde(default)]
    pub verifier: Option<Answer>,
    #[serde(default)]
    pub judge: Option<Answer>,
}

impl Fallback {
    pub fn is_empty(&self) -> bool {
        Role::ALL.iter().all(|r| self.get(*r).is_none())
    }

    pub fn get(&self, role: Role) -> Option<&Answer> {
        match role {
            Role::Agent => self.agent.as_ref(),
            Role::Writer => self.writer.as_ref(),
            Role::Verifier => self.verifier.as_ref(),
            Role::Judge => self.judge.as_ref(),
        }
    }
}

/// An answer for any request of `role` that contains `request_contains` in its system prompt
/// or any of its messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matched {
    pub role: Role,
    pub request_contains: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub tool_calls: Vec<ScriptedCall>,
}

/// A Max Mode candidate's alternative to agent answer number `of` (1-based, in `agent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub of: usize,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub tool_calls: Vec<ScriptedCall>,
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
    /// The arguments, written as a structured value and kept as compact JSON text: a parsed
    /// value per call would make a long scenario (the model of the flat-cost bench) cost
    /// memory out of proportion to it.
    #[serde(default, with = "json_text")]
    pub arguments: Option<String>,
    /// The arguments as raw text, to script malformed JSON.
    #[serde(default)]
    pub raw_arguments: Option<String>,
}

/// A structured value in the scenario, compact JSON text in memory.
mod json_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _, ser::Error as _};
    use serde_json::Value;

    pub fn serialize<S: Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(text) => serde_json::from_str::<Value>(text).map_err(S::Error::custom)?.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Option::<Value>::deserialize(d)?.map(|v| serde_json::to_string(&v).map_err(D::Error::custom)).transpose()
    }
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
        let mut scenario: Scenario = if json {
            serde_json::from_str(text).map_err(|e| format!("line {}, column {}: {e}", e.line(), e.column()))?
        } else {
            toml::from_str(text).map_err(|e| crate::config::describe_toml_error(text, &e))?
        };
        scenario.compact();
        Ok(scenario)
    }

    /// Gives back the room a parsed list reserves past its items: an answer's one tool call
    /// would otherwise hold room for four, for every step of a long script.
    fn compact(&mut self) {
        for answers in [&mut self.agent, &mut self.writer, &mut self.verifier, &mut self.judge, &mut self.when_correction] {
            answers.shrink_to_fit();
            for a in answers.iter_mut() {
                a.tool_calls.shrink_to_fit();
            }
        }
        self.subagents.values_mut().for_each(Scenario::compact);
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
        self.tool_requests_named(&answer_index.to_string())
    }

    /// The tool calls with default ids `call_<answer>_<index>`.
    fn tool_requests_named(&self, answer: &str) -> Vec<ToolCallRequest> {
        self.tool_calls
            .iter()
            .enumerate()
            .map(|(i, c)| ToolCallRequest {
                id: c.id.clone().unwrap_or_else(|| format!("call_{answer}_{i}")),
                name: c.name.clone(),
                arguments: c.raw_arguments.clone().unwrap_or_else(|| c.arguments.clone().unwrap_or_else(|| "{}".to_string())),
            })
            .collect()
    }

    /// This answer with `{correction}` replaced by `correction` in its text and in every string
    /// of its structured arguments (raw arguments are left as scripted).
    pub fn with_correction(&self, correction: &str) -> Answer {
        fn fill(v: &mut Value, correction: &str) {
            match v {
                Value::String(s) => *s = s.replace(CORRECTION_PLACEHOLDER, correction),
                Value::Array(items) => items.iter_mut().for_each(|i| fill(i, correction)),
                Value::Object(map) => map.values_mut().for_each(|i| fill(i, correction)),
                _ => {}
            }
        }
        let mut a = self.clone();
        a.text = a.text.replace(CORRECTION_PLACEHOLDER, correction);
        for call in &mut a.tool_calls {
            if let Some(args) = call.arguments.as_mut()
                && let Ok(mut v) = serde_json::from_str::<Value>(args)
            {
                fill(&mut v, correction);
                *args = v.to_string();
            }
        }
        a
    }
}

/// Where a `when_correction` answer puts the correction's text.
pub const CORRECTION_PLACEHOLDER: &str = "{correction}";

/// The text of the newest supervisor correction delivered since the agent's last answer, as
/// the request carries it.
pub fn delivered_correction<'a, I>(messages: I) -> Option<String>
where
    I: IntoIterator<Item = &'a crate::model::Message>,
    I::IntoIter: DoubleEndedIterator,
{
    let marker = crate::session::state::correction_message("");
    messages.into_iter().rev().take_while(|m| !matches!(m, crate::model::Message::Assistant { .. })).find_map(|m| match m {
        crate::model::Message::User { text } => text.strip_prefix(marker.as_str()).map(|t| t.trim().to_string()),
        _ => None,
    })
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
    cursors: Mutex<Cursors>,
    speed: f64,
    /// One provider per subagent label, made on first use.
    children: Mutex<HashMap<String, std::sync::Arc<ScriptedProvider>>>,
    /// `matched` answers given, so each one's tool calls get ids of their own.
    matched_given: std::sync::atomic::AtomicUsize,
}

/// Where each role stands in the scenario.
#[derive(Default)]
struct Cursors {
    /// Next answer per role in its ordered list (the agent's is in `agent`).
    roles: HashMap<Role, usize>,
    agent: AgentCursor,
}

/// Where the agent's script stands: the next `agent` answer, and the `when_correction` branch
/// when one is being followed (its next answer and the correction's text).
#[derive(Debug, Clone, Default, PartialEq)]
struct AgentLine {
    main: usize,
    branch: Option<(usize, String)>,
}

#[derive(Default)]
struct AgentCursor {
    line: AgentLine,
    /// Answers given before `history` starts (a session resumed from its log).
    base: usize,
    /// The line before each answer given since, so that a step asked again (a pause while the
    /// model answered) gets the same answer.
    history: Vec<AgentLine>,
    /// The last step's request and its answers (the answer, then its Max Mode variants).
    last: Option<LastStep>,
}

struct LastStep {
    key: u64,
    answers: Vec<Answer>,
    id: String,
    served: usize,
}

impl AgentCursor {
    fn step_back_to(&mut self, answers: usize) {
        self.last = None;
        match answers.checked_sub(self.base) {
            Some(i) if i < self.history.len() => {
                self.line = self.history[i].clone();
                self.history.truncate(i);
            }
            Some(i) if i == self.history.len() => {}
            // A fresh process resuming a log: only the count is known.
            _ => {
                *self = AgentCursor { line: AgentLine { main: answers, branch: None }, base: answers, ..AgentCursor::default() };
            }
        }
    }
}

/// Tells Max Mode's identical candidate requests for one step from the next step's request.
/// Within a session the conversation only grows, so its length and last message are enough,
/// and hashing them stays as cheap at step 1,000 as at step 1.
fn request_key(req: &ModelRequest) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    req.system.hash(&mut h);
    req.messages.len().hash(&mut h);
    serde_json::to_string(&req.messages.last()).unwrap_or_default().hash(&mut h);
    h.finish()
}

fn request_contains(req: &ModelRequest, needle: &str) -> bool {
    use crate::model::Message;
    req.system.contains(needle)
        || req.messages.iter().any(|m| match m {
            Message::User { text } | Message::Assistant { text, .. } => text.contains(needle),
            Message::Tool { content, .. } => content.contains(needle),
        })
}

fn no_answer(role: Role, n: usize, has: usize) -> ModelError {
    ModelError::Config(format!("the scripted scenario has no answer {} for the {} role (it has {has})", n + 1, role.as_str()))
}

impl ScriptedProvider {
    pub fn new(scenario: std::sync::Arc<Scenario>, speed: f64) -> Self {
        let speed = if speed.is_finite() && speed > 0.0 { speed } else { 0.0 };
        ScriptedProvider {
            scenario,
            word_delay: Duration::from_millis(40).mul_f64(speed),
            first_delay: Duration::from_millis(800).mul_f64(speed),
            cursors: Mutex::new(Cursors::default()),
            speed,
            children: Mutex::new(HashMap::new()),
            matched_given: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Starts a role's answers further in, for a session resumed part-way.
    pub fn skip(&self, role: Role, answers: usize) {
        if let Ok(mut c) = self.cursors.lock() {
            match role {
                Role::Agent => c.agent.step_back_to(answers),
                _ => {
                    c.roles.insert(role, answers);
                }
            }
        }
    }

    /// The answer for `req` and the name its tool calls' default ids take.
    fn next_answer(&self, req: &ModelRequest) -> Result<(String, Answer), ModelError> {
        let role = req.role;
        if let Some(m) = self.scenario.matched.iter().find(|m| m.role == role && request_contains(req, &m.request_contains)) {
            let n = self.matched_given.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok((format!("m{n}"), Answer { text: m.text.clone(), tool_calls: m.tool_calls.clone(), usage: None }));
        }
        let mut cursors = self.cursors.lock().map_err(|_| ModelError::Config("scripted provider poisoned".into()))?;
        if role == Role::Agent {
            return self.next_agent_answer(&mut cursors.agent, req);
        }
        let cursor = cursors.roles.entry(role).or_insert(0);
        let answers = self.scenario.answers(role);
        let index = *cursor;
        let answer = match answers.get(index) {
            Some(a) => a.clone(),
            None => self.scenario.fallback.get(role).cloned().ok_or_else(|| no_answer(role, index, answers.len()))?,
        };
        *cursor += 1;
        Ok((index.to_string(), answer))
    }

    fn next_agent_answer(&self, c: &mut AgentCursor, req: &ModelRequest) -> Result<(String, Answer), ModelError> {
        let key = request_key(req);
        if self.scenario.same_step_candidates
            && let Some(last) = c.last.as_mut().filter(|l| l.key == key)
        {
            last.served += 1;
            return Ok((last.id.clone(), last.answers[last.served % last.answers.len()].clone()));
        }
        let before = c.line.clone();
        let number = c.base + c.history.len();
        if !self.scenario.when_correction.is_empty()
            && let Some(text) = delivered_correction(req.messages.iter())
        {
            c.line.branch = Some((0, text));
        }
        let (id, answers) = match c.line.branch.take() {
            Some((i, text)) if i < self.scenario.when_correction.len() => {
                let answer = self.scenario.when_correction[i].with_correction(&text);
                if i + 1 < self.scenario.when_correction.len() {
                    c.line.branch = Some((i + 1, text));
                }
                (format!("c{number}"), vec![answer])
            }
            _ => {
                let i = c.line.main;
                match self.scenario.agent.get(i) {
                    Some(a) => {
                        c.line.main += 1;
                        let variants = self.scenario.candidates.iter().filter(|v| v.of == i + 1);
                        let answers = std::iter::once(a.clone())
                            .chain(variants.map(|v| Answer { text: v.text.clone(), tool_calls: v.tool_calls.clone(), usage: None }))
                            .collect();
                        (i.to_string(), answers)
                    }
                    None => match &self.scenario.fallback.agent {
                        Some(a) => (format!("f{number}"), vec![a.clone()]),
                        None => {
                            c.line = before;
                            return Err(no_answer(Role::Agent, i, self.scenario.agent.len()));
                        }
                    },
                }
            }
        };
        c.history.push(before);
        let answer = answers[0].clone();
        c.last = Some(LastStep { key, answers, id: id.clone(), served: 0 });
        Ok((id, answer))
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
            let (id, answer) = self.next_answer(req)?;
            let mut events: Vec<StreamEvent> = chunk_words(&answer.text).into_iter().map(StreamEvent::TextDelta).collect();
            for (i, call) in answer.tool_requests_named(&id).into_iter().enumerate() {
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
#[path = "scripted_tests.rs"]
mod tests;
