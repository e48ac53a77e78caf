//! OpenAI Responses (`POST {base}/responses`, streamed), for models served only there and for
//! reasoning models whose reasoning should carry over between tool calls.
//!
//! Requests are stateless (`store: false`): the whole conversation is sent each time, and the
//! reasoning items a model returns come back with their `encrypted_content` (asked for with
//! `include`), which is how a stateless client passes reasoning on to the next turn.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::HeaderMap;
use serde::Serialize;
use serde_json::{Value, json};

use super::sse::{self, DecodeError, Decoder, Flow, SseClient, SseEvent};
use super::{Message, ModelError, ModelRequest, OpenFuture, Provider, RequestOptions, Secret, StreamEvent, TokenUsage};
use crate::protocol::{ToolCallRequest, block_type, is_answer_block};

pub struct ResponsesProvider {
    http: SseClient,
    url: Url,
    headers: HeaderMap,
    options: RequestOptions,
}

impl ResponsesProvider {
    /// `base_url` includes the version segment, e.g. `https://api.openai.com/v1`.
    pub fn new(base_url: &str, key: Option<Secret>, connect_timeout: Duration, options: RequestOptions) -> Result<Self, ModelError> {
        let url = sse::endpoint("openai-responses", base_url, "/responses")?;
        let http = SseClient::new("openai-responses", key, connect_timeout)?;
        let headers = super::openai::bearer_headers(&http)?;
        Ok(ResponsesProvider { http, url, headers, options })
    }
}

impl Provider for ResponsesProvider {
    fn name(&self) -> &str {
        self.http.provider()
    }

    fn open<'a>(&'a self, req: &'a ModelRequest) -> OpenFuture<'a> {
        Box::pin(async move {
            let body = request_body(req, &self.options);
            self.http.open(&self.url, &self.headers, &body, req.max_tokens, ResponsesDecoder::default()).await
        })
    }
}

/// A Responses request, what never changes in a session first and the conversation before
/// the fields that may change between requests (see [`super::openai::ChatBody`]).
#[derive(Debug, Serialize)]
pub struct ResponsesBody {
    model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Value>,
    input: Vec<Value>,
    stream: bool,
    store: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    include: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<Value>,
    max_output_tokens: u32,
}

fn function_call(c: &ToolCallRequest) -> Value {
    json!({"type": "function_call", "call_id": c.id, "name": c.name, "arguments": c.arguments})
}

/// A reasoning item goes back only with its encrypted content: with `store: false` the API
/// cannot look one up by id, and rejects it.
fn passable_reasoning(block: &Value) -> bool {
    block_type(block) == "reasoning" && block.get("encrypted_content").is_some_and(Value::is_string)
}

/// The input items of one assistant answer: reasoning items unchanged and in their place
/// before the message and calls they led to (the API requires a reasoning item to be followed
/// by the item it produced), the text as an assistant message, each tool call as a
/// `function_call`. Other APIs' blocks (Anthropic thinking, server tools) have no place here.
fn assistant_items(text: &str, tool_calls: &[ToolCallRequest], blocks: &[Value], out: &mut Vec<Value>) {
    let message = |t: &str| json!({"role": "assistant", "content": t});
    if !blocks.iter().any(is_answer_block) {
        out.extend(blocks.iter().filter(|b| passable_reasoning(b)).cloned());
        if !text.is_empty() {
            out.push(message(text));
        }
        out.extend(tool_calls.iter().map(function_call));
        return;
    }
    let mut sent: Vec<&str> = Vec::new();
    for b in blocks {
        match block_type(b) {
            "text" => {
                if let Some(t) = b.get("text").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                    out.push(message(t));
                }
            }
            "tool_use" => {
                let id = b.get("id").and_then(Value::as_str).unwrap_or_default();
                if let Some(c) = tool_calls.iter().find(|c| c.id == id) {
                    out.push(function_call(c));
                    sent.push(&c.id);
                }
            }
            _ if passable_reasoning(b) => out.push(b.clone()),
            _ => {}
        }
    }
    out.extend(tool_calls.iter().filter(|c| !sent.contains(&c.id.as_str())).map(function_call));
}

pub fn request_body(req: &ModelRequest, opts: &RequestOptions) -> ResponsesBody {
    let mut input = Vec::with_capacity(req.messages.len());
    for m in &req.messages {
        match m {
            Message::User { text } => input.push(json!({"role": "user", "content": text})),
            Message::Assistant { text, tool_calls, blocks } => assistant_items(text, tool_calls, blocks, &mut input),
            Message::Tool { call_id, content, .. } => {
                input.push(json!({"type": "function_call_output", "call_id": call_id, "output": content}))
            }
        }
    }
    // Function tools are strict by default on this API, which would require every property
    // of every schema to be listed as required.
    let tools = req
        .tools
        .iter()
        .map(|t| json!({"type": "function", "name": t.name, "description": t.description, "parameters": t.parameters, "strict": false}))
        .collect();
    let effort = opts.effort(req.role);
    let reasoning_on = effort.is_some() || opts.is_reasoning_model(&req.model);
    let reasoning = reasoning_on.then(|| {
        let mut r = json!({"summary": "auto"});
        if let Some(e) = effort {
            r["effort"] = e.as_str().into();
        }
        r
    });
    ResponsesBody {
        model: req.model.clone(),
        instructions: (!req.system.is_empty()).then(|| req.system.clone()),
        tools,
        input,
        stream: true,
        store: false,
        include: if reasoning_on { vec!["reasoning.encrypted_content"] } else { Vec::new() },
        reasoning,
        // Reasoning models accept only the default temperature.
        temperature: req.temperature.filter(|_| !reasoning_on).map(super::openai::temperature_json),
        max_output_tokens: req.max_tokens,
    }
}

/// A function call being received.
#[derive(Debug)]
struct Call {
    index: usize,
    had_arguments: bool,
}

/// Decodes the Responses event stream.
#[derive(Debug, Default)]
pub struct ResponsesDecoder {
    /// Function calls by output item id; dense indices in the order they started.
    calls: HashMap<String, Call>,
    /// Output item ids by `output_index`, for events that name only the latter.
    items: HashMap<u64, String>,
    /// Reasoning items whose text arrived as deltas.
    reasoning_streamed: HashSet<String>,
    reasoning_parts: usize,
    kept: usize,
}

impl ResponsesDecoder {
    fn call_for(&mut self, v: &Value) -> Option<&mut Call> {
        let id = match v.get("item_id").and_then(Value::as_str) {
            Some(id) => id.to_string(),
            None => self.items.get(&v.get("output_index").and_then(Value::as_u64)?)?.clone(),
        };
        self.calls.get_mut(&id)
    }

    fn reasoning(&mut self, v: &Value, text: &str, out: &mut Vec<StreamEvent>) {
        if let Some(id) = v.get("item_id").and_then(Value::as_str) {
            self.reasoning_streamed.insert(id.to_string());
        }
        if !text.is_empty() {
            out.push(StreamEvent::ReasoningDelta(text.to_string()));
        }
    }

    fn item_added(&mut self, v: &Value, out: &mut Vec<StreamEvent>) {
        let item = v.get("item").unwrap_or(&Value::Null);
        let id = item.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        if let Some(at) = v.get("output_index").and_then(Value::as_u64) {
            self.items.insert(at, id.clone());
        }
        if block_type(item) != "function_call" {
            return;
        }
        let index = self.calls.len();
        let str_of = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        out.push(StreamEvent::ToolCallStart { index, id: str_of("call_id"), name: str_of("name") });
        let arguments = str_of("arguments");
        let had_arguments = !arguments.is_empty();
        if had_arguments {
            out.push(StreamEvent::ToolCallDelta { index, arguments });
        }
        self.calls.insert(id, Call { index, had_arguments });
    }

    fn item_done(&mut self, v: &Value, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        let item = v.get("item").unwrap_or(&Value::Null);
        let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
        match block_type(item) {
            "reasoning" => {
                // A proxy that sends items whole still gives the summary.
                if !self.reasoning_streamed.contains(id) {
                    let summary: Vec<&str> = item
                        .get("summary")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p.get("text").and_then(Value::as_str))
                        .collect();
                    if !summary.is_empty() {
                        out.push(StreamEvent::ReasoningDelta(summary.join("\n\n")));
                    }
                }
                if passable_reasoning(item) {
                    self.kept += 1;
                    if self.kept > super::MAX_TOOL_CALLS {
                        return Err(format!("more than {} reasoning items in one answer", super::MAX_TOOL_CALLS).into());
                    }
                    out.push(StreamEvent::Opaque(item.clone()));
                }
            }
            "function_call" => {
                if let Some(call) = self.calls.get_mut(id).filter(|c| !c.had_arguments) {
                    call.had_arguments = true;
                    let arguments = item.get("arguments").and_then(Value::as_str).unwrap_or_default();
                    out.push(StreamEvent::ToolCallDelta { index: call.index, arguments: arguments.to_string() });
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The end of the answer: `response.completed` or `response.incomplete`.
    fn finish(&mut self, v: &Value, out: &mut Vec<StreamEvent>) {
        let response = v.get("response").unwrap_or(&Value::Null);
        if let Some(u) = response.get("usage").filter(|u| u.is_object()) {
            let n = |k: &str| u.pointer(k).and_then(Value::as_u64).unwrap_or(0);
            out.push(StreamEvent::Usage(TokenUsage {
                prompt_tokens: n("/input_tokens"),
                completion_tokens: n("/output_tokens"),
                cache_read_tokens: n("/input_tokens_details/cached_tokens"),
                cache_write_tokens: 0,
            }));
        }
        let stop_reason = match response.pointer("/incomplete_details/reason").and_then(Value::as_str) {
            Some("max_output_tokens") => "length".to_string(),
            Some(other) => other.to_string(),
            None if self.calls.is_empty() => "stop".to_string(),
            None => "tool_calls".to_string(),
        };
        out.push(StreamEvent::Finished { stop_reason: Some(stop_reason) });
    }
}

impl Decoder for ResponsesDecoder {
    fn decode(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<Flow, DecodeError> {
        let data = ev.data.trim();
        // Not part of this API, but proxies and the SDKs' own test streams end with it. Before
        // `response.completed` it means the answer was cut.
        if data == "[DONE]" {
            return Ok(Flow::Done);
        }
        let v: Value = serde_json::from_str(data).map_err(|e| format!("unreadable event ({e}): {data}"))?;
        let kind = v.get("type").and_then(Value::as_str).unwrap_or(ev.event.as_str());
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        match kind {
            "response.output_item.added" => self.item_added(&v, out),
            "response.output_item.done" => self.item_done(&v, out)?,
            "response.output_text.delta" => {
                let t = text("delta");
                if !t.is_empty() {
                    out.push(StreamEvent::TextDelta(t));
                }
            }
            "response.refusal.delta" => {
                let t = text("delta");
                if !t.is_empty() {
                    out.push(StreamEvent::RefusalDelta(t));
                }
            }
            "response.reasoning_summary_part.added" => {
                if self.reasoning_parts > 0 {
                    self.reasoning(&v, "\n\n", out);
                }
                self.reasoning_parts += 1;
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => self.reasoning(&v, &text("delta"), out),
            "response.function_call_arguments.delta" => {
                let call = self.call_for(&v).ok_or("arguments for a function call that never started")?;
                let delta = text("delta");
                if !delta.is_empty() {
                    call.had_arguments = true;
                    out.push(StreamEvent::ToolCallDelta { index: call.index, arguments: delta });
                }
            }
            "response.function_call_arguments.done" => {
                let arguments = text("arguments");
                if let Some(call) = self.call_for(&v).filter(|c| !c.had_arguments) {
                    call.had_arguments = true;
                    out.push(StreamEvent::ToolCallDelta { index: call.index, arguments });
                }
            }
            "response.completed" | "response.incomplete" => {
                self.finish(&v, out);
                return Ok(Flow::Done);
            }
            "response.failed" => return Err(sse::reported_error(v.get("response").unwrap_or(&v), data)),
            "error" => return Err(sse::reported_error(&v, data)),
            // response.created, .in_progress, content parts, the `.done` of texts, and
            // whatever event types are added later.
            _ => {}
        }
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
#[path = "responses_tests.rs"]
mod tests;
