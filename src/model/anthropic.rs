//! Anthropic Messages (`POST {base}/v1/messages`, streamed).

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName};
use serde::Serialize;
use serde_json::{Value, json};

use super::sse::{self, DecodeError, Decoder, Flow, SseClient, SseEvent};
use super::{Message, ModelError, ModelRequest, OpenFuture, Provider, RequestOptions, Secret, StreamEvent, TokenUsage};
use crate::protocol::{Role, ToolCallRequest, block_type, is_answer_block};

pub const API_VERSION: &str = "2023-06-01";

pub struct AnthropicProvider {
    http: SseClient,
    url: Url,
    headers: HeaderMap,
    options: RequestOptions,
}

impl AnthropicProvider {
    /// `base_url` is without the version segment, e.g. `https://api.anthropic.com`.
    pub fn new(base_url: &str, key: Option<Secret>, connect_timeout: Duration, options: RequestOptions) -> Result<Self, ModelError> {
        let url = sse::endpoint("anthropic", base_url, "/v1/messages")?;
        let http = SseClient::new("anthropic", key, connect_timeout)?;
        let mut headers = HeaderMap::new();
        let (name, value) = sse::header("anthropic-version", API_VERSION);
        headers.insert(name, value);
        if let Some(v) = http.key_header("")? {
            headers.insert(HeaderName::from_static("x-api-key"), v);
        }
        Ok(AnthropicProvider { http, url, headers, options })
    }
}

impl Provider for AnthropicProvider {
    fn name(&self) -> &str {
        self.http.provider()
    }

    fn open<'a>(&'a self, req: &'a ModelRequest) -> OpenFuture<'a> {
        Box::pin(async move {
            let body = request_body(req, &self.options);
            let limit = body.max_tokens;
            self.http.open(&self.url, &self.headers, &body, limit, AnthropicDecoder::default()).await
        })
    }

    fn output_limit(&self, req: &ModelRequest) -> u32 {
        max_tokens(req, &self.options)
    }
}

/// `max_tokens` as sent: the request's, raised by the thinking budget when thinking is on.
fn max_tokens(req: &ModelRequest, opts: &RequestOptions) -> u32 {
    match opts.thinking(req.role) {
        Some(budget) => opts.max_tokens_with_thinking(&req.model, req.max_tokens, budget),
        None => req.max_tokens,
    }
}

/// The arguments as the object Anthropic requires. Arguments the model got wrong were already
/// reported back to it as an error result, so an empty object is an honest stand-in.
fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({}),
    }
}

fn tool_use(c: &ToolCallRequest) -> Value {
    json!({"type": "tool_use", "id": c.id, "name": c.name, "input": tool_input(&c.arguments)})
}

/// Block types of other APIs that may sit in a message's blocks (a session resumed with
/// another provider); Anthropic rejects them.
const FOREIGN_BLOCKS: [&str; 1] = ["reasoning"];

/// An assistant message's content. Blocks kept from the provider (server tools, signed
/// thinking) go back unchanged and in their place: the API checks that thinking comes before
/// the text and tool calls it led to, and each server call before its result.
fn assistant_content(text: &str, tool_calls: &[ToolCallRequest], blocks: &[Value]) -> Vec<Value> {
    let mut out = Vec::with_capacity(blocks.len() + tool_calls.len() + 1);
    if !blocks.iter().any(is_answer_block) {
        // Logs from before the order was kept hold the provider's blocks alone; they came
        // first in every answer that had them.
        out.extend(blocks.iter().filter(|b| !FOREIGN_BLOCKS.contains(&block_type(b))).cloned());
        if !text.is_empty() {
            out.push(json!({"type": "text", "text": text}));
        }
        out.extend(tool_calls.iter().map(tool_use));
        return out;
    }
    let mut sent: Vec<&str> = Vec::new();
    for b in blocks {
        match block_type(b) {
            // The API rejects empty text blocks.
            "text" if b.get("text").and_then(Value::as_str).is_none_or(str::is_empty) => {}
            "text" => out.push(b.clone()),
            "tool_use" => {
                // A call that was not kept (a cut answer's) has nothing to stand for.
                let id = b.get("id").and_then(Value::as_str).unwrap_or_default();
                if let Some(c) = tool_calls.iter().find(|c| c.id == id) {
                    out.push(tool_use(c));
                    sent.push(&c.id);
                }
            }
            t if FOREIGN_BLOCKS.contains(&t) => {}
            _ => out.push(b.clone()),
        }
    }
    out.extend(tool_calls.iter().filter(|c| !sent.contains(&c.id.as_str())).map(tool_use));
    out
}

fn blocks(m: &Message) -> (&'static str, Vec<Value>) {
    match m {
        Message::User { text } => ("user", vec![json!({"type": "text", "text": text})]),
        Message::Assistant { text, tool_calls, blocks } => ("assistant", assistant_content(text, tool_calls, blocks)),
        Message::Tool { call_id, content, is_error, .. } => {
            let mut b = json!({"type": "tool_result", "tool_use_id": call_id, "content": content});
            if *is_error {
                b["is_error"] = true.into();
            }
            ("user", vec![b])
        }
    }
}

/// The API requires user and assistant turns to alternate, so consecutive messages of one role
/// (tool results followed by a supervisor's note) become one message.
pub fn encode_messages<'a>(messages: impl IntoIterator<Item = &'a Message>) -> Vec<Value> {
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in messages {
        let (role, b) = blocks(m);
        if b.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((r, existing)) if *r == role => existing.extend(b),
            _ => turns.push((role, b)),
        }
    }
    turns
        .into_iter()
        .map(|(role, mut content)| {
            // Tool results must open the user turn that answers the tool calls; the sort is
            // stable, so everything else keeps its order.
            content.sort_by_key(|b| b["type"] != "tool_result");
            json!({"role": role, "content": content})
        })
        .collect()
}

fn ephemeral() -> Value {
    json!({"type": "ephemeral"})
}

/// Marks the newest message's last block of endure's own making (text, a tool call or result;
/// never an empty text, and never a provider's block, which goes back unchanged), so the next
/// request, which extends this one, reads everything up to here from the cache.
fn mark_newest_message(messages: &mut [Value]) {
    let Some(content) = messages.last_mut().and_then(|m| m.get_mut("content")).and_then(Value::as_array_mut) else { return };
    let target = content.iter_mut().rev().find(|b| match block_type(b) {
        "text" => b["text"].as_str().is_some_and(|t| !t.is_empty()),
        t => t == "tool_use" || t == "tool_result",
    });
    if let Some(b) = target {
        b["cache_control"] = ephemeral();
    }
}

/// A Messages request, fields in the order of Anthropic's cache (tools, system, messages) and
/// the conversation before the fields that may change between requests.
#[derive(Debug, Serialize)]
pub struct MessagesBody {
    model: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<Value>,
    messages: Vec<Value>,
    pub max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<Value>,
    stream: bool,
}

/// The request body. Cache breakpoints go on the last tool and the system prompt (the part
/// every request of a session shares) and, for the agent, on the newest message: each step
/// then reads the previous step's whole prompt from the cache. Other roles answer once, so
/// marking their newest message would only pay for a cache write nobody reads.
pub fn request_body(req: &ModelRequest, opts: &RequestOptions) -> MessagesBody {
    let mut tools: Vec<Value> =
        req.tools.iter().map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters})).collect();
    if let Some(last) = tools.last_mut() {
        last["cache_control"] = ephemeral();
    }
    let system = (!req.system.is_empty()).then(|| json!([{"type": "text", "text": req.system, "cache_control": ephemeral()}]));
    let mut messages = encode_messages(&req.messages);
    if req.role == Role::Agent {
        mark_newest_message(&mut messages);
    }
    let thinking = opts.thinking(req.role);
    MessagesBody {
        model: req.model.clone(),
        tools,
        system,
        messages,
        max_tokens: max_tokens(req, opts),
        thinking: thinking.map(|budget| json!({"type": "enabled", "budget_tokens": budget})),
        // Thinking accepts no temperature but the default.
        temperature: req.temperature.filter(|_| thinking.is_none()).map(super::openai::temperature_json),
        stream: true,
    }
}

/// Stop reasons in the vocabulary the rest of endure (and the scripted provider) uses, which is
/// OpenAI's; anything unrecognised passes through.
pub fn normalize_stop_reason(reason: &str) -> String {
    match reason {
        "end_turn" | "stop_sequence" => "stop",
        "tool_use" => "tool_calls",
        "max_tokens" => "length",
        other => other,
    }
    .to_string()
}

/// A content block the runtime passes back without interpreting it, being received.
#[derive(Debug)]
struct OpaqueBlock {
    block: Value,
    /// `input_json_delta` text of a server tool call, parsed into `input` at the block's end.
    partial_input: String,
}

/// A thinking block being received: its text (also streamed for display) and signature.
#[derive(Debug, Default)]
struct ThinkingBlock {
    thinking: String,
    signature: String,
}

/// Block types read for what they are; every other type (server tools, `redacted_thinking`)
/// is kept opaque.
const KNOWN_BLOCKS: [&str; 3] = ["text", "tool_use", "thinking"];

#[derive(Debug, Default)]
struct ToolBlock {
    index: usize,
    /// Whether any argument text arrived; a call without arguments still needs `{}`.
    had_arguments: bool,
    initial_input: Option<Value>,
}

/// Decodes the Messages event stream.
#[derive(Debug, Default)]
pub struct AnthropicDecoder {
    /// Anthropic numbers content blocks of all kinds; tool calls are numbered densely.
    tools: HashMap<u64, ToolBlock>,
    /// Opaque blocks still open, by block index.
    opaque: HashMap<u64, OpaqueBlock>,
    thinking: HashMap<u64, ThinkingBlock>,
    opaque_seen: usize,
    saw_text: bool,
    usage: TokenUsage,
    /// Input tokens not read from or written to the cache.
    uncached_input: u64,
    saw_usage: bool,
    stop_reason: Option<String>,
}

impl AnthropicDecoder {
    /// Usage comes in `message_start` and again, cumulative, in `message_delta`; a field
    /// missing from the later one keeps its earlier value.
    fn usage(&mut self, u: &Value) {
        let n = |k: &str| u.get(k).and_then(Value::as_u64);
        if let Some(input) = n("input_tokens") {
            self.uncached_input = input;
            self.saw_usage = true;
        }
        if let Some(read) = n("cache_read_input_tokens") {
            self.usage.cache_read_tokens = read;
        }
        if let Some(write) = n("cache_creation_input_tokens") {
            self.usage.cache_write_tokens = write;
        }
        // Cached prompt tokens are still prompt tokens; Anthropic counts them apart.
        self.usage.prompt_tokens = self.uncached_input + self.usage.cache_read_tokens + self.usage.cache_write_tokens;
        if let Some(output) = n("output_tokens") {
            self.usage.completion_tokens = output;
            self.saw_usage = true;
        }
    }

    fn start_opaque(&mut self, block: Option<u64>, kind: &str, cb: &Value) -> Result<(), DecodeError> {
        let block = block.ok_or_else(|| format!("a {kind} block without an index"))?;
        self.opaque_seen += 1;
        if self.opaque_seen > super::MAX_TOOL_CALLS {
            return Err(format!("more than {} opaque blocks in one answer", super::MAX_TOOL_CALLS).into());
        }
        self.opaque.insert(block, OpaqueBlock { block: cb.clone(), partial_input: String::new() });
        Ok(())
    }
}

impl Decoder for AnthropicDecoder {
    fn decode(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<Flow, DecodeError> {
        let v: Value = serde_json::from_str(ev.data.trim()).map_err(|e| format!("unreadable event ({e}): {}", ev.data))?;
        // The `event:` line and the data's `type` agree on Anthropic's own API; proxies
        // sometimes drop the former.
        let kind = match ev.event.as_str() {
            "message" | "" => v.get("type").and_then(Value::as_str).unwrap_or_default(),
            k => k,
        };
        let block = v.get("index").and_then(Value::as_u64);
        match kind {
            "message_start" => {
                if let Some(u) = v.pointer("/message/usage").filter(|u| u.is_object()) {
                    self.usage(u);
                }
            }
            "content_block_start" => {
                let cb = v.get("content_block").unwrap_or(&Value::Null);
                match cb.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(t) = cb.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                            self.saw_text = true;
                            out.push(StreamEvent::TextDelta(t.to_string()));
                        }
                    }
                    Some("tool_use") => {
                        let block = block.ok_or("a tool_use block without an index")?;
                        let index = self.tools.len();
                        let str_of = |k: &str| cb.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                        out.push(StreamEvent::ToolCallStart { index, id: str_of("id"), name: str_of("name") });
                        let initial_input = cb.get("input").filter(|i| i.as_object().is_some_and(|o| !o.is_empty())).cloned();
                        self.tools.insert(block, ToolBlock { index, had_arguments: false, initial_input });
                    }
                    Some("thinking") => {
                        let block = block.ok_or("a thinking block without an index")?;
                        let mut t = ThinkingBlock::default();
                        if let Some(text) = cb.get("thinking").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                            t.thinking.push_str(text);
                            out.push(StreamEvent::ReasoningDelta(text.to_string()));
                        }
                        t.signature = cb.get("signature").and_then(Value::as_str).unwrap_or_default().to_string();
                        self.thinking.insert(block, t);
                    }
                    Some(kind) if !KNOWN_BLOCKS.contains(&kind) => self.start_opaque(block, kind, cb)?,
                    _ => {}
                }
            }
            "content_block_delta" => {
                let d = v.get("delta").unwrap_or(&Value::Null);
                match d.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        if let Some(t) = d.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                            self.saw_text = true;
                            out.push(StreamEvent::TextDelta(t.to_string()));
                        }
                    }
                    Some("thinking_delta") => {
                        let t = block.and_then(|b| self.thinking.get_mut(&b)).ok_or("thinking text for a block that is not thinking")?;
                        if let Some(text) = d.get("thinking").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                            t.thinking.push_str(text);
                            out.push(StreamEvent::ReasoningDelta(text.to_string()));
                        }
                    }
                    Some("signature_delta") => {
                        let t = block.and_then(|b| self.thinking.get_mut(&b)).ok_or("a signature for a block that is not thinking")?;
                        // The signature comes whole, just before the block ends (the SDKs
                        // replace, not append).
                        t.signature = d.get("signature").and_then(Value::as_str).unwrap_or_default().to_string();
                    }
                    Some("input_json_delta") if block.is_some_and(|b| self.opaque.contains_key(&b)) => {
                        if let Some(o) = block.and_then(|b| self.opaque.get_mut(&b)) {
                            o.partial_input.push_str(d.get("partial_json").and_then(Value::as_str).unwrap_or_default());
                        }
                    }
                    Some("input_json_delta") => {
                        let tool = block.and_then(|b| self.tools.get_mut(&b)).ok_or("argument text for a tool call that never started")?;
                        let part = d.get("partial_json").and_then(Value::as_str).unwrap_or_default();
                        if !part.is_empty() {
                            tool.had_arguments = true;
                            out.push(StreamEvent::ToolCallDelta { index: tool.index, arguments: part.to_string() });
                        }
                    }
                    _ => {}
                }
            }
            "content_block_stop" => {
                // A thinking block goes back to the API only with its signature, which proves
                // it unchanged; one without (an answer cut mid-thought) can only be shown.
                if let Some(t) = block.and_then(|b| self.thinking.remove(&b)).filter(|t| !t.signature.is_empty()) {
                    self.opaque_seen += 1;
                    if self.opaque_seen > super::MAX_TOOL_CALLS {
                        return Err(format!("more than {} opaque blocks in one answer", super::MAX_TOOL_CALLS).into());
                    }
                    out.push(StreamEvent::Opaque(json!({"type": "thinking", "thinking": t.thinking, "signature": t.signature})));
                }
                if let Some(mut o) = block.and_then(|b| self.opaque.remove(&b)) {
                    if !o.partial_input.trim().is_empty() {
                        let input: Value = serde_json::from_str(&o.partial_input)
                            .map_err(|e| format!("the input of a server tool block is not valid JSON ({e}): {}", o.partial_input))?;
                        o.block["input"] = input;
                    }
                    out.push(StreamEvent::Opaque(o.block));
                }
                if let Some(tool) = block.and_then(|b| self.tools.get_mut(&b)).filter(|t| !t.had_arguments) {
                    tool.had_arguments = true;
                    let input = tool.initial_input.take().unwrap_or_else(|| json!({}));
                    out.push(StreamEvent::ToolCallDelta { index: tool.index, arguments: input.to_string() });
                }
            }
            "message_delta" => {
                if let Some(r) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(normalize_stop_reason(r));
                    // A refusal without text may still say why.
                    if r == "refusal"
                        && !self.saw_text
                        && let Some(why) = v.pointer("/delta/stop_details/explanation").and_then(Value::as_str).filter(|t| !t.is_empty())
                    {
                        out.push(StreamEvent::RefusalDelta(why.to_string()));
                    }
                }
                if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                    self.usage(u);
                }
            }
            "message_stop" => {
                if self.saw_usage {
                    out.push(StreamEvent::Usage(self.usage));
                }
                out.push(StreamEvent::Finished { stop_reason: self.stop_reason.take() });
                return Ok(Flow::Done);
            }
            "error" => return Err(sse::reported_error(&v, &ev.data)),
            // ping, and whatever event types are added later
            _ => {}
        }
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
#[path = "anthropic_tests.rs"]
mod tests;
