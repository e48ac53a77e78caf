//! Anthropic Messages (`POST {base}/v1/messages`, streamed).

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName};
use serde_json::{Map, Value, json};

use super::sse::{self, DecodeError, Decoder, Flow, SseClient, SseEvent};
use super::{Message, ModelError, ModelRequest, OpenFuture, Provider, Secret, StreamEvent, TokenUsage};

pub const API_VERSION: &str = "2023-06-01";

pub struct AnthropicProvider {
    http: SseClient,
    url: Url,
    headers: HeaderMap,
}

impl AnthropicProvider {
    /// `base_url` is without the version segment, e.g. `https://api.anthropic.com`.
    pub fn new(base_url: &str, key: Option<Secret>, connect_timeout: Duration) -> Result<Self, ModelError> {
        let url = sse::endpoint("anthropic", base_url, "/v1/messages")?;
        let http = SseClient::new("anthropic", key, connect_timeout)?;
        let mut headers = HeaderMap::new();
        let (name, value) = sse::header("anthropic-version", API_VERSION);
        headers.insert(name, value);
        if let Some(v) = http.key_header("")? {
            headers.insert(HeaderName::from_static("x-api-key"), v);
        }
        Ok(AnthropicProvider { http, url, headers })
    }
}

impl Provider for AnthropicProvider {
    fn name(&self) -> &str {
        self.http.provider()
    }

    fn open<'a>(&'a self, req: &'a ModelRequest) -> OpenFuture<'a> {
        Box::pin(async move {
            let body = request_body(req);
            self.http.open(&self.url, &self.headers, &body, req.max_tokens, AnthropicDecoder::default()).await
        })
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

fn blocks(m: &Message) -> (&'static str, Vec<Value>) {
    match m {
        Message::User { text } => ("user", vec![json!({"type": "text", "text": text})]),
        Message::Assistant { text, tool_calls, blocks } => {
            // Server tool blocks go back unchanged, before the text and the client tool calls:
            // each server call is followed by its result, and the client calls stay last so
            // that the tool results answering them open the next turn.
            let mut b = blocks.clone();
            b.reserve(tool_calls.len() + 1);
            if !text.is_empty() {
                b.push(json!({"type": "text", "text": text}));
            }
            for c in tool_calls {
                b.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": tool_input(&c.arguments)}));
            }
            ("assistant", b)
        }
        Message::Tool { call_id, content, .. } => {
            ("user", vec![json!({"type": "tool_result", "tool_use_id": call_id, "content": content})])
        }
    }
}

/// The API requires user and assistant turns to alternate, so consecutive messages of one role
/// (tool results followed by a supervisor's note) become one message.
pub fn encode_messages(messages: &[Message]) -> Vec<Value> {
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

pub fn request_body(req: &ModelRequest) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), req.model.as_str().into());
    if !req.system.is_empty() {
        body.insert("system".into(), req.system.as_str().into());
    }
    body.insert("max_tokens".into(), req.max_tokens.into());
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), super::openai::temperature_json(t));
    }
    body.insert("stream".into(), true.into());
    if !req.tools.is_empty() {
        let tools = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    body.insert("messages".into(), Value::Array(encode_messages(&req.messages)));
    Value::Object(body)
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

/// Block types read for what they are; every other type is kept opaque.
const KNOWN_BLOCKS: [&str; 4] = ["text", "tool_use", "thinking", "redacted_thinking"];

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
    opaque_seen: usize,
    saw_text: bool,
    input_tokens: u64,
    output_tokens: u64,
    saw_usage: bool,
    stop_reason: Option<String>,
}

impl AnthropicDecoder {
    fn usage(&mut self, u: &Value) {
        let n = |k: &str| u.get(k).and_then(Value::as_u64);
        if let Some(input) = n("input_tokens") {
            // Cached prompt tokens are still prompt tokens; Anthropic counts them apart.
            self.input_tokens = input
                + n("cache_creation_input_tokens").unwrap_or(0)
                + n("cache_read_input_tokens").unwrap_or(0);
            self.saw_usage = true;
        }
        if let Some(output) = n("output_tokens") {
            self.output_tokens = output;
            self.saw_usage = true;
        }
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
                    Some(kind) if !KNOWN_BLOCKS.contains(&kind) => {
                        let block = block.ok_or_else(|| format!("a {kind} block without an index"))?;
                        self.opaque_seen += 1;
                        if self.opaque_seen > super::MAX_TOOL_CALLS {
                            return Err(format!("more than {} server tool blocks in one answer", super::MAX_TOOL_CALLS).into());
                        }
                        self.opaque.insert(block, OpaqueBlock { block: cb.clone(), partial_input: String::new() });
                    }
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
                    Some("input_json_delta") if block.is_some_and(|b| self.opaque.contains_key(&b)) => {
                        if let Some(o) = block.and_then(|b| self.opaque.get_mut(&b)) {
                            o.partial_input.push_str(d.get("partial_json").and_then(Value::as_str).unwrap_or_default());
                        }
                    }
                    Some("input_json_delta") => {
                        let tool = block
                            .and_then(|b| self.tools.get_mut(&b))
                            .ok_or("argument text for a tool call that never started")?;
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
                    out.push(StreamEvent::Usage(TokenUsage {
                        prompt_tokens: self.input_tokens,
                        completion_tokens: self.output_tokens,
                    }));
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
mod tests {
    use super::*;
    use crate::model::ToolSpec;
    use crate::protocol::{Role, ToolCallRequest};

    fn call(id: &str, args: &str) -> ToolCallRequest {
        ToolCallRequest { id: id.into(), name: "run".into(), arguments: args.into() }
    }

    #[test]
    fn body_has_blocks_and_merges_roles() {
        let req = ModelRequest {
            role: Role::Agent,
            model: "claude-test".into(),
            system: "be brief".into(),
            messages: vec![
                Message::User { text: "fix it".into() },
                Message::Assistant {
                    text: "Looking.".into(),
                    tool_calls: vec![call("t1", "{\"cmd\":\"ls\"}"), call("t2", "[1")],
                    blocks: vec![],
                },
                Message::Tool { call_id: "t1".into(), name: "run".into(), content: "a.py".into() },
                Message::Tool { call_id: "t2".into(), name: "run".into(), content: "error: bad arguments".into() },
                Message::User { text: "hurry up".into() },
                Message::Assistant { text: String::new(), tool_calls: vec![call("t3", "{}")], blocks: vec![] },
            ],
            tools: vec![ToolSpec { name: "run".into(), description: "runs".into(), parameters: json!({"type":"object"}) }],
            temperature: Some(0.5),
            max_tokens: 2048,
        };
        let b = request_body(&req);
        assert_eq!(b["system"], "be brief");
        assert_eq!(b["max_tokens"], 2048);
        assert_eq!(b["stream"], true);
        assert_eq!(b["temperature"], json!(0.5));
        assert_eq!(b["tools"], json!([{"name":"run","description":"runs","input_schema":{"type":"object"}}]));
        assert_eq!(
            b["messages"],
            json!([
                {"role":"user","content":[{"type":"text","text":"fix it"}]},
                {"role":"assistant","content":[
                    {"type":"text","text":"Looking."},
                    {"type":"tool_use","id":"t1","name":"run","input":{"cmd":"ls"}},
                    {"type":"tool_use","id":"t2","name":"run","input":{}}]},
                {"role":"user","content":[
                    {"type":"tool_result","tool_use_id":"t1","content":"a.py"},
                    {"type":"tool_result","tool_use_id":"t2","content":"error: bad arguments"},
                    {"type":"text","text":"hurry up"}]},
                {"role":"assistant","content":[{"type":"tool_use","id":"t3","name":"run","input":{}}]},
            ])
        );
    }

    #[test]
    fn tool_results_open_a_merged_user_turn() {
        let msgs = encode_messages(&[
            Message::User { text: "note".into() },
            Message::Tool { call_id: "t1".into(), name: "run".into(), content: "ok".into() },
        ]);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0]["content"][0]["type"], "tool_result");
        assert_eq!(msgs[0]["content"][1]["text"], "note");
    }

    fn run(events: &[(&str, &str)]) -> Result<(Vec<StreamEvent>, Flow), DecodeError> {
        let mut d = AnthropicDecoder::default();
        let mut out = Vec::new();
        let mut flow = Flow::Continue;
        for (e, data) in events {
            flow = d.decode(&SseEvent::new(*e, *data), &mut out)?;
        }
        Ok((out, flow))
    }

    #[test]
    fn parses_a_full_stream() {
        let (ev, flow) = run(&[
            ("message_start", r#"{"type":"message_start","message":{"id":"m","usage":{"input_tokens":10,"cache_creation_input_tokens":3,"cache_read_input_tokens":4,"output_tokens":1}}}"#),
            ("ping", r#"{"type":"ping"}"#),
            ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
            ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#),
            ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
            ("content_block_start", r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"tu1","name":"run","input":{}}}"#),
            ("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}"#),
            ("future_event", r#"{"type":"future_event"}"#),
            ("content_block_delta", r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}}"#),
            ("content_block_stop", r#"{"type":"content_block_stop","index":1}"#),
            ("content_block_start", r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"tu2","name":"list","input":{}}}"#),
            ("content_block_stop", r#"{"type":"content_block_stop","index":2}"#),
            ("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":42}}"#),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ])
        .unwrap();
        assert_eq!(flow, Flow::Done);
        assert_eq!(
            ev,
            vec![
                StreamEvent::TextDelta("Hi".into()),
                StreamEvent::ToolCallStart { index: 0, id: "tu1".into(), name: "run".into() },
                StreamEvent::ToolCallDelta { index: 0, arguments: "{\"a\":".into() },
                StreamEvent::ToolCallDelta { index: 0, arguments: "1}".into() },
                StreamEvent::ToolCallStart { index: 1, id: "tu2".into(), name: "list".into() },
                StreamEvent::ToolCallDelta { index: 1, arguments: "{}".into() },
                StreamEvent::Usage(TokenUsage { prompt_tokens: 17, completion_tokens: 42 }),
                StreamEvent::Finished { stop_reason: Some("tool_calls".into()) },
            ]
        );
    }

    #[test]
    fn no_usage_reported_means_no_usage_event() {
        let (ev, _) = run(&[
            ("message_start", r#"{"type":"message_start","message":{"id":"m"}}"#),
            ("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"}}"#),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ])
        .unwrap();
        assert_eq!(ev, vec![StreamEvent::Finished { stop_reason: Some("stop".into()) }]);
    }

    #[test]
    fn error_events_and_bad_json_fail() {
        let err = run(&[("error", r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#)]).unwrap_err();
        assert_eq!(err, DecodeError::Reported { kind: Some("overloaded_error".into()), status: None, message: "Overloaded".into() });
        assert!(run(&[("message_start", "{oops")]).is_err());
        assert!(run(&[("content_block_delta", r#"{"index":5,"delta":{"type":"input_json_delta","partial_json":"x"}}"#)]).is_err());
    }

    #[test]
    fn refusals_end_with_their_reason() {
        let (ev, _) = run(&[
            ("message_start", r#"{"type":"message_start","message":{"id":"m"}}"#),
            ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
            ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
            ("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"refusal","stop_details":{"type":"refusal","explanation":"Declined by policy."}}}"#),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ])
        .unwrap();
        assert_eq!(
            ev,
            vec![StreamEvent::RefusalDelta("Declined by policy.".into()), StreamEvent::Finished { stop_reason: Some("refusal".into()) }]
        );
    }

    #[test]
    fn server_tool_blocks_are_kept_opaque() {
        let (ev, _) = run(&[
            ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"srv1","name":"web_search","input":{}}}"#),
            ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"query\": "}}"#),
            ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"\"rust\"}"}}"#),
            ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
            ("content_block_start", r#"{"type":"content_block_start","index":1,"content_block":{"type":"web_search_tool_result","tool_use_id":"srv1","content":[{"type":"web_search_result","url":"https://example.com","encrypted_content":"e"}]}}"#),
            ("content_block_stop", r#"{"type":"content_block_stop","index":1}"#),
            ("content_block_start", r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"tu","name":"run","input":{}}}"#),
            ("content_block_stop", r#"{"type":"content_block_stop","index":2}"#),
            ("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"}}"#),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ])
        .unwrap();
        assert_eq!(
            ev,
            vec![
                StreamEvent::Opaque(json!({"type":"server_tool_use","id":"srv1","name":"web_search","input":{"query":"rust"}})),
                StreamEvent::Opaque(json!({"type":"web_search_tool_result","tool_use_id":"srv1","content":[{"type":"web_search_result","url":"https://example.com","encrypted_content":"e"}]})),
                StreamEvent::ToolCallStart { index: 0, id: "tu".into(), name: "run".into() },
                StreamEvent::ToolCallDelta { index: 0, arguments: "{}".into() },
                StreamEvent::Finished { stop_reason: Some("tool_calls".into()) },
            ]
        );
        let bad = run(&[
            ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"s","name":"web_search","input":{}}}"#),
            ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{oops"}}"#),
            ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
        ]);
        assert!(matches!(bad, Err(DecodeError::Malformed(_))), "{bad:?}");
    }

    #[test]
    fn opaque_blocks_go_back_first_and_unchanged() {
        let block = json!({"type":"web_search_tool_result","tool_use_id":"srv1","content":[]});
        let msgs = encode_messages(&[Message::Assistant {
            text: "Found it.".into(),
            tool_calls: vec![call("t1", "{}")],
            blocks: vec![json!({"type":"server_tool_use","id":"srv1","name":"web_search","input":{"query":"q"}}), block.clone()],
        }]);
        let content = msgs[0]["content"].as_array().unwrap();
        let types: Vec<&str> = content.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["server_tool_use", "web_search_tool_result", "text", "tool_use"]);
        assert_eq!(content[1], block);
    }
}
