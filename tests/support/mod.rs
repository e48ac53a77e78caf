//! A loopback model server for integration tests, speaking the OpenAI Chat Completions, OpenAI
//! Responses and Anthropic Messages streaming wire formats.
//!
//! Replies come from a queue of programmed [`Reply`]s (fault injection) and, when the queue is
//! empty, from a [`Scenario`]. Scenario answers are chosen statelessly from the request, so a
//! retried request gets the same answer as the attempt it repeats.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use endure::model::scripted::{Answer, Scenario, chunk_words};
use endure::protocol::Role;
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// One programmed response.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete streamed answer, in the wire format of the requested path.
    Answer(Answer),
    /// A plain HTTP response, e.g. an error status with a JSON error body.
    Status { code: u16, body: String, retry_after: Option<String> },
    /// The first `events` SSE events of the answer, then the connection is dropped.
    CutAfter { answer: Answer, events: usize },
    /// The first `events` SSE events of the answer, then silence with the connection open.
    StallAfter { answer: Answer, events: usize },
    /// A well-formed stream with no content.
    Empty,
    /// This exact text as the `text/event-stream` body.
    Raw(String),
    /// A response with this status, content-type and body (a 200 that is not a stream).
    Body { code: u16, content_type: String, body: String },
    /// A `text/event-stream` body that never ends: `frame` again and again, one every
    /// `every` (zero: as fast as the client reads).
    Endless { frame: String, every: Duration },
}

impl Reply {
    /// A recorded stream from `tests/fixtures/streams/`, served as it is.
    pub fn fixture(name: &str) -> Reply {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/streams").join(name);
        Reply::Raw(std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
    }

    /// An OpenAI stream that sends text forever.
    pub fn endless_text(every: Duration) -> Reply {
        let chunk = json!({"id": "chatcmpl-endless", "object": "chat.completion.chunk", "created": 1_700_000_000,
                           "model": "scripted", "choices": [{"index": 0, "delta": {"content": "all work and no play ".repeat(40)},
                           "finish_reason": null}]});
        Reply::Endless { frame: format!("data: {chunk}\n\n"), every }
    }

    pub fn text(text: &str) -> Reply {
        Reply::Answer(Answer { text: text.into(), ..Default::default() })
    }

    /// An error status with the provider-style body `{"error":{"message":..}}`.
    pub fn error(code: u16, message: &str) -> Reply {
        Reply::Status { code, body: json!({"error": {"message": message}}).to_string(), retry_after: None }
    }

    pub fn retry_after(code: u16, seconds: &str) -> Reply {
        Reply::Status { code, body: json!({"error": {"message": "slow down"}}).to_string(), retry_after: Some(seconds.into()) }
    }
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    /// `Value::Null` when the body was not JSON.
    pub body: Value,
    /// The body's bytes as they arrived (lossy UTF-8).
    pub raw: String,
}

impl Recorded {
    /// The text of the first user message that is not project memory: a session's task.
    pub fn task(&self) -> String {
        let Some(messages) = self.body["messages"].as_array() else { return String::new() };
        messages
            .iter()
            .filter(|m| m["role"] == "user")
            .filter_map(|m| match &m["content"] {
                Value::String(s) => Some(s.clone()),
                Value::Array(parts) => Some(parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("")),
                _ => None,
            })
            .find(|t| !t.starts_with("Project memory (MEMORY.md"))
            .unwrap_or_default()
    }

    /// The whole request as text, to look for what the model was told.
    pub fn text(&self) -> String {
        self.body.to_string()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// Assistant messages in the request: how many answers the client has already accepted.
    /// A Responses request has no messages but input items, of which an answer is a run of
    /// reasoning items, assistant messages and function calls.
    pub fn assistant_turns(&self) -> usize {
        if let Some(input) = self.body["input"].as_array() {
            let ours = |i: &Value| i["role"] == "assistant" || i["type"] == "reasoning" || i["type"] == "function_call";
            return input.iter().enumerate().filter(|(k, i)| ours(i) && (*k == 0 || !ours(&input[k - 1]))).count();
        }
        self.body["messages"].as_array().map_or(0, |m| m.iter().filter(|m| m["role"] == "assistant").count())
    }

    pub fn model(&self) -> &str {
        self.body["model"].as_str().unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    OpenAi,
    Anthropic,
    Responses,
}

impl Wire {
    fn for_path(path: &str) -> Option<Wire> {
        match path {
            "/v1/chat/completions" => Some(Wire::OpenAi),
            "/v1/messages" => Some(Wire::Anthropic),
            "/v1/responses" => Some(Wire::Responses),
            _ => None,
        }
    }

    /// The `--provider` that speaks this wire.
    pub fn provider(self) -> &'static str {
        match self {
            Wire::OpenAi => "openai",
            Wire::Anthropic => "anthropic",
            Wire::Responses => "openai-responses",
        }
    }
}

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<Reply>>,
    recorded: Mutex<Vec<Recorded>>,
    arrived: Notify,
    scenario: Option<Scenario>,
    /// Requests whose `model` is one of these names are answered from that role's list.
    role_models: Mutex<HashMap<String, Role>>,
    role_counters: Mutex<HashMap<Role, usize>>,
    /// Max Mode: for the agent request with k assistant turns that carries a temperature,
    /// the n-th such request (by arrival) gets the n-th answer.
    candidates: Mutex<HashMap<usize, (Vec<Answer>, usize)>>,
    /// Answers computed from the request, by role (e.g. a judge that reads the candidates).
    responders: Mutex<HashMap<Role, Responder>>,
    /// Requests held back until enough of them wait at once: proof of concurrency.
    gates: Vec<Arc<Gate>>,
}

/// Holds the requests it matches until `n` of them have arrived (or it is opened, or 30 s
/// pass), and records how many were held at once: requests sent one after the other never
/// get past one.
pub struct Gate {
    n: usize,
    matches: Box<dyn Fn(&Recorded) -> bool + Send + Sync>,
    arrived: Mutex<usize>,
    waiting: Mutex<usize>,
    max_waiting: Mutex<usize>,
    opened: Mutex<bool>,
    changed: Notify,
}

impl Gate {
    async fn pass(&self) {
        {
            *lock(&self.arrived) += 1;
            let mut w = lock(&self.waiting);
            *w += 1;
            let mut m = lock(&self.max_waiting);
            *m = (*m).max(*w);
        }
        self.changed.notify_waiters();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if *lock(&self.arrived) >= self.n || *lock(&self.opened) {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        *lock(&self.waiting) -= 1;
    }

    /// The most requests this gate held at once.
    pub fn max_held(&self) -> usize {
        *lock(&self.max_waiting)
    }

    /// Lets every held request (and every later one) through.
    pub fn open(&self) {
        *lock(&self.opened) = true;
        self.changed.notify_waiters();
    }

    /// Requests that reached the gate so far.
    pub fn arrived(&self) -> usize {
        *lock(&self.arrived)
    }
}

/// Builds an answer from what the request contains.
pub type Responder = Arc<dyn Fn(&Recorded) -> Answer + Send + Sync>;

/// A poisoned lock only means another test thread panicked; the data is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
pub struct TestServerBuilder {
    scenario: Option<Scenario>,
    role_models: HashMap<String, Role>,
    candidates: HashMap<usize, (Vec<Answer>, usize)>,
    responders: HashMap<Role, Responder>,
    gates: Vec<Arc<Gate>>,
}

impl TestServerBuilder {
    pub fn scenario(mut self, scenario: Scenario) -> Self {
        self.scenario = Some(scenario);
        self
    }

    /// Requests for `model` are answered from `role`'s answers in the scenario, in order.
    pub fn role_model(mut self, role: Role, model: &str) -> Self {
        self.role_models.insert(model.to_string(), role);
        self
    }

    /// Max Mode candidates for the agent step whose request has `k` assistant turns.
    pub fn candidates(mut self, k: usize, answers: Vec<Answer>) -> Self {
        self.candidates.insert(k, (answers, 0));
        self
    }

    /// Requests routed to `role` are answered by `f` instead of the scenario.
    pub fn responder(mut self, role: Role, f: impl Fn(&Recorded) -> Answer + Send + Sync + 'static) -> Self {
        self.responders.insert(role, Arc::new(f));
        self
    }

    /// Holds requests matching `matches` until `n` of them have arrived; see [`Gate`].
    /// Gates are numbered in the order they are added, from 0.
    pub fn gate(mut self, n: usize, matches: impl Fn(&Recorded) -> bool + Send + Sync + 'static) -> Self {
        self.gates.push(Arc::new(Gate {
            n,
            matches: Box::new(matches),
            arrived: Mutex::new(0),
            waiting: Mutex::new(0),
            max_waiting: Mutex::new(0),
            opened: Mutex::new(false),
            changed: Notify::new(),
        }));
        self
    }

    pub async fn start(self) -> TestServer {
        let shared = Arc::new(Shared {
            scenario: self.scenario,
            role_models: Mutex::new(self.role_models),
            candidates: Mutex::new(self.candidates),
            responders: Mutex::new(self.responders),
            gates: self.gates,
            ..Default::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer { addr, shared, task }
    }
}

pub struct TestServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// A server with only programmed replies.
    pub async fn start() -> TestServer {
        Self::builder().start().await
    }

    pub async fn with_scenario(scenario: Scenario) -> TestServer {
        Self::builder().scenario(scenario).start().await
    }

    pub fn builder() -> TestServerBuilder {
        TestServerBuilder::default()
    }

    pub fn base_url_openai(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn base_url_anthropic(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Run options that talk to this server over `wire`, with the verifier on its own model
    /// name, quick retries and a 5 s stream idle timeout.
    pub fn run_options(&self, wire: Wire) -> endure::config::settings::RunOptions {
        endure::config::settings::RunOptions {
            provider: Some(wire.provider().into()),
            base_url: Some(self.base_url(wire)),
            model: Some("scripted".into()),
            verifier_model: Some("verifier-model".into()),
            max_attempts: Some(4),
            retry_base_ms: Some(10),
            stream_idle_timeout: Some(5.0),
            ..Default::default()
        }
    }

    pub fn base_url(&self, wire: Wire) -> String {
        match wire {
            Wire::OpenAi | Wire::Responses => self.base_url_openai(),
            Wire::Anthropic => self.base_url_anthropic(),
        }
    }

    /// Queues a reply; queued replies are used first, in order, before any scenario answer.
    pub fn push(&self, reply: Reply) {
        lock(&self.shared.queue).push_back(reply);
    }

    pub fn push_all(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.shared.queue).extend(replies);
    }

    pub fn route_model(&self, role: Role, model: &str) {
        lock(&self.shared.role_models).insert(model.to_string(), role);
    }

    pub fn gate(&self, i: usize) -> &Gate {
        &self.shared.gates[i]
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.recorded).clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.shared.recorded).len()
    }

    /// Waits until at least `n` requests have arrived.
    pub async fn wait_for_requests(&self, n: usize) {
        loop {
            let notified = self.shared.arrived.notified();
            tokio::pin!(notified);
            // Registered before the check, so an arrival between check and await is not lost.
            notified.as_mut().enable();
            if self.request_count() >= n {
                return;
            }
            notified.await;
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let rec = Recorded {
        path: uri.path().to_string(),
        headers: headers.iter().map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        raw: String::from_utf8_lossy(&body).into_owned(),
    };
    lock(&shared.recorded).push(rec.clone());
    shared.arrived.notify_waiters();
    // The first gate that matches holds the request.
    if let Some(g) = shared.gates.iter().find(|g| (g.matches)(&rec)) {
        g.pass().await;
    }

    let Some(wire) = Wire::for_path(&rec.path) else {
        return status(404, &format!("test server: no endpoint {}", rec.path));
    };
    let queued = lock(&shared.queue).pop_front();
    match queued {
        Some(reply) => respond(wire, &rec, reply, rec.assistant_turns()),
        None => match scenario_answer(&shared, &rec) {
            Ok((index, answer)) => respond(wire, &rec, Reply::Answer(answer), index),
            // 400 is not retried, so a test that runs past its scenario fails at once.
            Err(message) => status(400, &message),
        },
    }
}

fn scenario_answer(shared: &Shared, rec: &Recorded) -> Result<(usize, Answer), String> {
    let role = lock(&shared.role_models).get(rec.model()).copied().unwrap_or(Role::Agent);
    if let Some(f) = lock(&shared.responders).get(&role).cloned() {
        return Ok((0, f(rec)));
    }
    if role == Role::Agent && rec.body.get("temperature").is_some_and(|t| t.is_number()) {
        let k = rec.assistant_turns();
        if let Some((answers, served)) = lock(&shared.candidates).get_mut(&k)
            && *served < answers.len()
        {
            *served += 1;
            return Ok((k, answers[*served - 1].clone()));
        }
    }
    let scenario = shared.scenario.as_ref().ok_or("test server: no programmed reply left and no scenario")?;
    let index = match role {
        // Counted from the request itself, so a retry is answered like the attempt it repeats.
        Role::Agent => rec.assistant_turns(),
        _ => {
            let mut counters = lock(&shared.role_counters);
            let c = counters.entry(role).or_insert(0);
            *c += 1;
            *c - 1
        }
    };
    let answer = scenario
        .answers(role)
        .get(index)
        .cloned()
        .ok_or_else(|| format!("test server: the scenario has no {} answer {index}", role.as_str()))?;
    Ok((index, answer))
}

fn status(code: u16, message: &str) -> Response {
    respond_status(code, json!({"error": {"message": message}}).to_string(), None)
}

fn respond_status(code: u16, body: String, retry_after: Option<String>) -> Response {
    let is_json = serde_json::from_str::<Value>(&body).is_ok();
    let mut b = Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", if is_json { "application/json" } else { "text/plain" });
    if let Some(ra) = retry_after {
        b = b.header("retry-after", ra);
    }
    b.body(Body::from(body)).expect("response")
}

fn respond(wire: Wire, rec: &Recorded, reply: Reply, index: usize) -> Response {
    let frames = |a: &Answer| render(wire, rec, a, index);
    let ok = |s: BoxStream<'static, Result<String, std::io::Error>>| {
        Response::builder()
            .status(200)
            .header("content-type", "text/event-stream")
            .header("cache-control", "no-cache")
            .body(Body::from_stream(s))
            .expect("response")
    };
    match reply {
        Reply::Status { code, body, retry_after } => respond_status(code, body, retry_after),
        Reply::Answer(a) => ok(all(frames(&a))),
        Reply::Empty => ok(all(frames(&Answer::default()))),
        Reply::Raw(text) => ok(all(vec![text])),
        Reply::CutAfter { answer, events } => {
            let head = first(frames(&answer), events);
            ok(head
                .chain(stream::once(async {
                    // Lets the frames already handed to hyper reach the socket before the abort.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Err(std::io::Error::other("test server: connection cut"))
                }))
                .boxed())
        }
        Reply::StallAfter { answer, events } => ok(first(frames(&answer), events).chain(stream::pending()).boxed()),
        Reply::Body { code, content_type, body } => Response::builder()
            .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .header("content-type", content_type)
            .body(Body::from(body))
            .expect("response"),
        Reply::Endless { frame, every } => ok(stream::unfold((), move |()| {
            let frame = frame.clone();
            async move {
                if !every.is_zero() {
                    tokio::time::sleep(every).await;
                }
                Some((Ok(frame), ()))
            }
        })
        .boxed()),
    }
}

fn all(frames: Vec<String>) -> BoxStream<'static, Result<String, std::io::Error>> {
    stream::iter(frames.into_iter().map(Ok)).boxed()
}

fn first(frames: Vec<String>, n: usize) -> BoxStream<'static, Result<String, std::io::Error>> {
    stream::iter(frames.into_iter().take(n).map(Ok)).boxed()
}

/// Splits argument text into two or more pieces, as providers stream it.
fn split_arguments(args: &str) -> Vec<String> {
    let chars: Vec<char> = args.chars().collect();
    if chars.len() < 2 {
        return if args.is_empty() { vec![] } else { vec![args.to_string()] };
    }
    let step = chars.len().div_ceil(3).max(1);
    chars.chunks(step).map(|c| c.iter().collect()).collect()
}

/// The SSE frames of `answer`, each a complete event including its blank line.
pub fn render(wire: Wire, rec: &Recorded, answer: &Answer, index: usize) -> Vec<String> {
    match wire {
        Wire::OpenAi => render_openai(rec, answer, index),
        Wire::Anthropic => render_anthropic(rec, answer, index),
        Wire::Responses => render_responses(rec, answer, index),
    }
}

fn render_openai(rec: &Recorded, answer: &Answer, index: usize) -> Vec<String> {
    let model = rec.model().to_string();
    let chunk = |choices: Value, usage: Option<Value>| {
        let mut c = json!({
            "id": format!("chatcmpl-test{index}"),
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": model,
            "system_fingerprint": "fp_test",
            "choices": choices,
        });
        if let Some(u) = usage {
            c["usage"] = u;
        }
        format!("data: {c}\n\n")
    };
    let delta = |d: Value, finish: Option<&str>| chunk(json!([{"index": 0, "delta": d, "logprobs": null, "finish_reason": finish}]), None);

    let mut frames = vec![delta(json!({"role": "assistant", "content": ""}), None)];
    for word in chunk_words(&answer.text) {
        frames.push(delta(json!({"content": word}), None));
    }
    for (i, call) in answer.tool_requests(index).into_iter().enumerate() {
        frames.push(delta(
            json!({"tool_calls": [{"index": i, "id": call.id, "type": "function",
                                   "function": {"name": call.name, "arguments": ""}}]}),
            None,
        ));
        for piece in split_arguments(&call.arguments) {
            frames.push(delta(json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}), None));
        }
    }
    let finish = if answer.tool_calls.is_empty() { "stop" } else { "tool_calls" };
    frames.push(delta(json!({}), Some(finish)));
    // Usage only when the answer has it, so the scripted and HTTP paths report the same.
    let wants_usage = rec.body.pointer("/stream_options/include_usage") == Some(&Value::Bool(true));
    if let (true, Some(u)) = (wants_usage, answer.usage) {
        let mut usage = json!({"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                               "total_tokens": u.prompt_tokens + u.completion_tokens});
        if u.cache_read_tokens > 0 {
            usage["prompt_tokens_details"] = json!({"cached_tokens": u.cache_read_tokens, "audio_tokens": 0});
        }
        frames.push(chunk(json!([]), Some(usage)));
    }
    frames.push("data: [DONE]\n\n".to_string());
    frames
}

fn render_anthropic(rec: &Recorded, answer: &Answer, index: usize) -> Vec<String> {
    let ev = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut message = json!({
        "id": format!("msg_test{index}"), "type": "message", "role": "assistant",
        "model": rec.model(), "content": [], "stop_reason": null, "stop_sequence": null,
    });
    if let Some(u) = answer.usage {
        // Anthropic counts cached prompt tokens apart from `input_tokens`.
        let uncached = u.prompt_tokens.saturating_sub(u.cache_read_tokens + u.cache_write_tokens);
        message["usage"] = json!({"input_tokens": uncached, "cache_creation_input_tokens": u.cache_write_tokens,
                                  "cache_read_input_tokens": u.cache_read_tokens, "output_tokens": 1});
    }
    let mut frames = vec![ev("message_start", json!({"type": "message_start", "message": message}))];
    frames.push(ev("ping", json!({"type": "ping"})));
    let mut block = 0;
    if !answer.text.is_empty() {
        frames.push(ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": block, "content_block": {"type": "text", "text": ""}}),
        ));
        for word in chunk_words(&answer.text) {
            frames.push(ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": block, "delta": {"type": "text_delta", "text": word}}),
            ));
        }
        frames.push(ev("content_block_stop", json!({"type": "content_block_stop", "index": block})));
        block += 1;
    }
    for call in answer.tool_requests(index) {
        frames.push(ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": block,
                   "content_block": {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}}),
        ));
        for piece in split_arguments(&call.arguments) {
            frames.push(ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": block,
                       "delta": {"type": "input_json_delta", "partial_json": piece}}),
            ));
        }
        frames.push(ev("content_block_stop", json!({"type": "content_block_stop", "index": block})));
        block += 1;
    }
    let stop = if answer.tool_calls.is_empty() { "end_turn" } else { "tool_use" };
    let mut delta = json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}});
    if let Some(u) = answer.usage {
        delta["usage"] = json!({"output_tokens": u.completion_tokens});
    }
    frames.push(ev("message_delta", delta));
    frames.push(ev("message_stop", json!({"type": "message_stop"})));
    frames
}

fn render_responses(rec: &Recorded, answer: &Answer, index: usize) -> Vec<String> {
    let mut seq = 0u64;
    let mut ev = |mut data: Value| {
        data["sequence_number"] = seq.into();
        seq += 1;
        format!("event: {}\ndata: {data}\n\n", data["type"].as_str().unwrap_or_default())
    };
    let response = |status: &str, output: Value, usage: Value| {
        json!({"id": format!("resp_test{index}"), "object": "response", "created_at": 1_700_000_000, "status": status,
               "model": rec.model(), "output": output, "usage": usage, "incomplete_details": null, "error": null})
    };
    let mut frames = vec![ev(json!({"type": "response.created", "response": response("in_progress", json!([]), Value::Null)}))];
    let mut output = Vec::new();
    if !answer.text.is_empty() {
        let at = output.len();
        let id = format!("msg_test{index}");
        frames.push(ev(json!({"type": "response.output_item.added", "output_index": at,
                              "item": {"id": id, "type": "message", "role": "assistant", "status": "in_progress", "content": []}})));
        frames.push(ev(json!({"type": "response.content_part.added", "item_id": id, "output_index": at, "content_index": 0,
                              "part": {"type": "output_text", "text": "", "annotations": []}})));
        for word in chunk_words(&answer.text) {
            frames.push(ev(json!({"type": "response.output_text.delta", "item_id": id, "output_index": at, "content_index": 0,
                                  "delta": word, "logprobs": []})));
        }
        let item = json!({"id": id, "type": "message", "role": "assistant", "status": "completed",
                          "content": [{"type": "output_text", "text": answer.text, "annotations": []}]});
        frames.push(ev(
            json!({"type": "response.output_text.done", "item_id": id, "output_index": at, "content_index": 0, "text": answer.text}),
        ));
        frames.push(ev(json!({"type": "response.output_item.done", "output_index": at, "item": item})));
        output.push(item);
    }
    for (i, call) in answer.tool_requests(index).into_iter().enumerate() {
        let at = output.len();
        let id = format!("fc_test{index}_{i}");
        frames.push(ev(json!({"type": "response.output_item.added", "output_index": at,
                              "item": {"id": id, "type": "function_call", "status": "in_progress", "call_id": call.id, "name": call.name, "arguments": ""}})));
        for piece in split_arguments(&call.arguments) {
            frames.push(ev(json!({"type": "response.function_call_arguments.delta", "item_id": id, "output_index": at, "delta": piece})));
        }
        frames.push(ev(
            json!({"type": "response.function_call_arguments.done", "item_id": id, "output_index": at, "arguments": call.arguments}),
        ));
        let item = json!({"id": id, "type": "function_call", "status": "completed", "call_id": call.id, "name": call.name, "arguments": call.arguments});
        frames.push(ev(json!({"type": "response.output_item.done", "output_index": at, "item": item})));
        output.push(item);
    }
    let usage = answer.usage.map_or(Value::Null, |u| {
        json!({"input_tokens": u.prompt_tokens, "input_tokens_details": {"cached_tokens": u.cache_read_tokens},
               "output_tokens": u.completion_tokens, "output_tokens_details": {"reasoning_tokens": 0},
               "total_tokens": u.prompt_tokens + u.completion_tokens})
    });
    frames.push(ev(json!({"type": "response.completed", "response": response("completed", Value::Array(output), usage)})));
    frames
}
