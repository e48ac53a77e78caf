//! OpenAI-compatible Chat Completions (`POST {base}/chat/completions`, streamed).
//!
//! "Compatible" servers (vLLM, llama.cpp, Ollama, OpenRouter, ...) differ in the details, so the
//! decoder reads only the fields it needs and ignores everything else.

use std::time::Duration;

use reqwest::Url;
use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::sse::{self, DecodeError, Decoder, Flow, SseClient, SseEvent};
use super::{Message, ModelError, ModelRequest, OpenFuture, Provider, RequestOptions, Secret, StreamEvent, TokenUsage};
use crate::config::prices::MaxTokensField;

pub struct OpenAiProvider {
    http: SseClient,
    url: Url,
    headers: HeaderMap,
    options: RequestOptions,
}

impl OpenAiProvider {
    /// `base_url` includes the version segment, e.g. `https://api.openai.com/v1`.
    pub fn new(base_url: &str, key: Option<Secret>, connect_timeout: Duration, options: RequestOptions) -> Result<Self, ModelError> {
        let url = sse::endpoint("openai", base_url, "/chat/completions")?;
        let http = SseClient::new("openai", key, connect_timeout)?;
        let headers = bearer_headers(&http)?;
        Ok(OpenAiProvider { http, url, headers, options })
    }
}

/// `Authorization: Bearer KEY` when there is a key.
pub(crate) fn bearer_headers(http: &SseClient) -> Result<HeaderMap, ModelError> {
    let mut headers = HeaderMap::new();
    if let Some(v) = http.key_header("Bearer ")? {
        headers.insert(AUTHORIZATION, v);
    }
    Ok(headers)
}

impl Provider for OpenAiProvider {
    fn name(&self) -> &str {
        self.http.provider()
    }

    fn open<'a>(&'a self, req: &'a ModelRequest) -> OpenFuture<'a> {
        Box::pin(async move {
            let body = request_body(req, &self.options);
            self.http.open(&self.url, &self.headers, &body, req.max_tokens, OpenAiDecoder::default()).await
        })
    }
}

/// f32 → JSON goes through its shortest decimal form, so 0.2 is sent as 0.2 and not
/// 0.20000000298023224.
pub(crate) fn temperature_json(t: f32) -> Value {
    t.to_string().parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number)
}

/// A Chat Completions request. Fields go out in this order: what never changes in a session
/// (model, tools, then the system prompt as the first message) before the conversation, and
/// the conversation before the few fields that may change between requests, so consecutive
/// requests share a byte-identical prefix up to their newest message, which servers with
/// prefix caching (OpenAI, vLLM, llama.cpp) reuse.
#[derive(Debug, Serialize)]
pub struct ChatBody {
    model: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Value>,
    messages: Vec<Value>,
    stream: bool,
    stream_options: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
}

/// The tools as the Chat Completions and Responses APIs describe functions, in the order given
/// (which `tools::specs` keeps fixed).
fn chat_tools(req: &ModelRequest) -> Vec<Value> {
    req.tools
        .iter()
        .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
        .collect()
}

pub fn request_body(req: &ModelRequest, opts: &RequestOptions) -> ChatBody {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system}));
    }
    for m in &req.messages {
        messages.push(match m {
            Message::User { text } => json!({"role": "user", "content": text}),
            // Opaque blocks are another API's content (and `reasoning_content` is never kept):
            // this API has no place for them, and DeepSeek rejects reasoning sent back.
            Message::Assistant { text, tool_calls, .. } => {
                let mut o = Map::new();
                o.insert("role".into(), "assistant".into());
                let content = if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { text.as_str().into() };
                o.insert("content".into(), content);
                if !tool_calls.is_empty() {
                    let calls = tool_calls
                        .iter()
                        .map(|c| {
                            json!({"id": c.id, "type": "function",
                                   "function": {"name": c.name, "arguments": c.arguments}})
                        })
                        .collect();
                    o.insert("tool_calls".into(), Value::Array(calls));
                }
                Value::Object(o)
            }
            Message::Tool { call_id, content, .. } => {
                json!({"role": "tool", "tool_call_id": call_id, "content": content})
            }
        });
    }
    let reasoning_model = opts.is_reasoning_model(&req.model);
    let (max_tokens, max_completion_tokens) = match opts.max_tokens_field(&req.model) {
        MaxTokensField::MaxTokens => (Some(req.max_tokens), None),
        MaxTokensField::MaxCompletionTokens => (None, Some(req.max_tokens)),
    };
    ChatBody {
        model: req.model.clone(),
        tools: chat_tools(req),
        messages,
        stream: true,
        stream_options: json!({"include_usage": true}),
        // OpenAI reasoning models accept only the default temperature and reject any other.
        temperature: req.temperature.filter(|_| !reasoning_model).map(temperature_json),
        max_tokens,
        max_completion_tokens,
        reasoning_effort: opts.effort(req.role).map(|e| e.as_str()),
    }
}

/// Decodes `chat.completion.chunk` objects.
#[derive(Debug, Default)]
pub struct OpenAiDecoder {
    finished: bool,
    /// Tool calls seen so far, for servers that leave out `index`.
    calls: usize,
    last_index: Option<usize>,
}

impl OpenAiDecoder {
    fn tool_call(&mut self, tc: &Value, out: &mut Vec<StreamEvent>) -> Result<(), DecodeError> {
        let id = tc.get("id").and_then(Value::as_str).unwrap_or_default();
        let name = tc.pointer("/function/name").and_then(Value::as_str).unwrap_or_default();
        let index = match tc.get("index").and_then(Value::as_u64) {
            // Bounded further by the assembly; this only keeps the counter below from overflowing.
            Some(i) => {
                usize::try_from(i).ok().filter(|i| *i < usize::MAX / 2).ok_or_else(|| format!("tool call index {i} is out of range"))?
            }
            // Without an index, an id starts a new call and anything else continues the last.
            None if !id.is_empty() || self.last_index.is_none() => self.calls,
            None => self.last_index.unwrap_or_default(),
        };
        self.calls = self.calls.max(index + 1);
        self.last_index = Some(index);
        if !id.is_empty() || !name.is_empty() {
            out.push(StreamEvent::ToolCallStart { index, id: id.to_string(), name: name.to_string() });
        }
        let args = tc.pointer("/function/arguments").and_then(Value::as_str).unwrap_or_default();
        if !args.is_empty() {
            out.push(StreamEvent::ToolCallDelta { index, arguments: args.to_string() });
        }
        Ok(())
    }
}

impl Decoder for OpenAiDecoder {
    fn decode(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<Flow, DecodeError> {
        let data = ev.data.trim();
        if data == "[DONE]" {
            if !self.finished {
                out.push(StreamEvent::Finished { stop_reason: None });
            }
            return Ok(Flow::Done);
        }
        let v: Value = serde_json::from_str(data).map_err(|e| format!("unreadable chunk ({e}): {data}"))?;
        if ev.event == "error" || v.get("error").is_some_and(|e| !e.is_null()) {
            return Err(sse::reported_error(&v, data));
        }
        // The request never asks for more than one choice; a server that streams several
        // anyway (each chunk carries one, by its index) is read for choice 0 only.
        let choices = v.get("choices").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        if let Some(choice) = choices.iter().find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0) {
            if let Some(delta) = choice.get("delta") {
                if let Some(text) = delta.get("content").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::TextDelta(text.to_string()));
                }
                if let Some(refusal) = delta.get("refusal").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::RefusalDelta(refusal.to_string()));
                }
                // DeepSeek, vLLM and llama.cpp call it `reasoning_content`; OpenRouter and newer
                // vLLM `reasoning`.
                let reasoning = ["reasoning_content", "reasoning"].iter().find_map(|k| delta.get(*k).and_then(Value::as_str));
                if let Some(r) = reasoning.filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::ReasoningDelta(r.to_string()));
                }
                for tc in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
                    self.tool_call(tc, out)?;
                }
            }
            // Some compatible servers send "" rather than null on chunks that do not finish.
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str).filter(|r| !r.is_empty()) {
                self.finished = true;
                out.push(StreamEvent::Finished { stop_reason: Some(reason.to_string()) });
            }
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            let n = |k: &str| u.pointer(k).and_then(Value::as_u64);
            out.push(StreamEvent::Usage(TokenUsage {
                prompt_tokens: n("/prompt_tokens").unwrap_or(0),
                completion_tokens: n("/completion_tokens").unwrap_or(0),
                // DeepSeek reports its cache hits apart from OpenAI's details object.
                cache_read_tokens: n("/prompt_tokens_details/cached_tokens").or_else(|| n("/prompt_cache_hit_tokens")).unwrap_or(0),
                cache_write_tokens: 0,
            }));
        }
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ToolSpec;
    use crate::protocol::{Role, ToolCallRequest};

    fn body(r: &ModelRequest) -> Value {
        serde_json::to_value(request_body(r, &RequestOptions::default())).unwrap()
    }

    fn req(messages: Vec<Message>) -> ModelRequest {
        ModelRequest {
            role: Role::Agent,
            model: "gpt-test".into(),
            system: "be brief".into(),
            messages: messages.into(),
            tools: vec![],
            temperature: None,
            max_tokens: 1000,
        }
    }

    #[test]
    fn body_encodes_the_conversation() {
        let mut r = req(vec![
            Message::User { text: "fix it".into() },
            Message::Assistant {
                text: String::new(),
                tool_calls: vec![ToolCallRequest { id: "c1".into(), name: "run".into(), arguments: "{\"cmd\":\"ls\"}".into() }],
                blocks: vec![json!({"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {}})],
            },
            Message::Tool { call_id: "c1".into(), name: "run".into(), content: "a.py".into(), is_error: false },
            Message::Assistant { text: "done".into(), tool_calls: vec![], blocks: vec![] },
        ]);
        r.tools = vec![ToolSpec { name: "run".into(), description: "runs".into(), parameters: json!({"type":"object"}) }];
        r.temperature = Some(0.2);
        let b = body(&r);
        assert_eq!(
            b["messages"],
            json!([
                {"role":"system","content":"be brief"},
                {"role":"user","content":"fix it"},
                {"role":"assistant","content":null,"tool_calls":[
                    {"id":"c1","type":"function","function":{"name":"run","arguments":"{\"cmd\":\"ls\"}"}}]},
                {"role":"tool","tool_call_id":"c1","content":"a.py"},
                {"role":"assistant","content":"done"},
            ])
        );
        assert_eq!(b["tools"], json!([{"type":"function","function":{"name":"run","description":"runs","parameters":{"type":"object"}}}]));
        assert_eq!(b["stream"], json!(true));
        assert_eq!(b["stream_options"], json!({"include_usage": true}));
        assert_eq!(b["temperature"], json!(0.2));
        assert_eq!(b["max_tokens"], json!(1000));
        assert_eq!(b["model"], json!("gpt-test"));
    }

    #[test]
    fn body_omits_optional_fields() {
        let b = body(&req(vec![Message::User { text: "hi".into() }]));
        assert!(b.get("tools").is_none());
        assert!(b.get("temperature").is_none());
    }

    fn run(chunks: &[&str]) -> Result<(Vec<StreamEvent>, Flow), DecodeError> {
        let mut d = OpenAiDecoder::default();
        let mut out = Vec::new();
        let mut flow = Flow::Continue;
        for c in chunks {
            flow = d.decode(&SseEvent::new("message", *c), &mut out)?;
        }
        Ok((out, flow))
    }

    #[test]
    fn parses_text_tools_finish_and_usage() {
        let (ev, flow) = run(&[
            r#"{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"Hi","reasoning_content":"hmm"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning":" more"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"run","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"read","arguments":"{\"p"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":null}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}"#,
            "[DONE]",
        ])
        .unwrap();
        assert_eq!(flow, Flow::Done);
        assert_eq!(
            ev,
            vec![
                StreamEvent::TextDelta("Hi".into()),
                StreamEvent::ReasoningDelta("hmm".into()),
                StreamEvent::ReasoningDelta(" more".into()),
                StreamEvent::ToolCallStart { index: 0, id: "a".into(), name: "run".into() },
                StreamEvent::ToolCallStart { index: 1, id: "b".into(), name: "read".into() },
                StreamEvent::ToolCallDelta { index: 1, arguments: "{\"p".into() },
                StreamEvent::ToolCallDelta { index: 0, arguments: "{}".into() },
                StreamEvent::Finished { stop_reason: Some("tool_calls".into()) },
                StreamEvent::Usage(TokenUsage::new(12, 5)),
            ]
        );
    }

    #[test]
    fn done_without_finish_reason_still_finishes() {
        let (ev, _) = run(&[r#"{"choices":[{"delta":{"content":"x"},"finish_reason":""}]}"#, "[DONE]"]).unwrap();
        assert_eq!(ev, vec![StreamEvent::TextDelta("x".into()), StreamEvent::Finished { stop_reason: None }]);
    }

    #[test]
    fn missing_indices_follow_ids() {
        let (ev, _) = run(&[
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"name":"x","arguments":"1"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"2"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"b","function":{"name":"y","arguments":"3"}}]}}]}"#,
        ])
        .unwrap();
        let deltas: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCallDelta { index, arguments } => Some((*index, arguments.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(deltas, vec![(0, "1"), (0, "2"), (1, "3")]);
    }

    #[test]
    fn errors_in_the_stream_and_bad_json_are_protocol_errors() {
        let err = run(&[r#"{"error":{"message":"model overloaded","type":"server_error"}}"#]).unwrap_err();
        assert_eq!(err, DecodeError::Reported { kind: Some("server_error".into()), status: None, message: "model overloaded".into() });
        let DecodeError::Malformed(err) = run(&["{not json"]).unwrap_err() else { panic!("not malformed") };
        assert!(err.contains("{not json"), "{err}");
    }

    #[test]
    fn refusals_are_their_own_deltas() {
        let (ev, _) = run(&[
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"refusal":""},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"refusal":"I can't"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        ])
        .unwrap();
        assert_eq!(ev, vec![StreamEvent::RefusalDelta("I can't".into()), StreamEvent::Finished { stop_reason: Some("stop".into()) }]);
    }

    #[test]
    fn only_choice_zero_is_read() {
        let (ev, _) = run(&[
            r#"{"choices":[{"index":1,"delta":{"content":"other"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"mine"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":2,"delta":{"refusal":"no"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":1,"delta":{},"finish_reason":"length"}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        ])
        .unwrap();
        assert_eq!(ev, vec![StreamEvent::TextDelta("mine".into()), StreamEvent::Finished { stop_reason: Some("stop".into()) }]);
    }

    #[test]
    fn cached_tokens_are_read_from_either_shape() {
        let (ev, _) = run(&[
            r#"{"choices":[],"usage":{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,"prompt_tokens_details":{"cached_tokens":1920,"audio_tokens":0}}}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":100,"completion_tokens":5,"prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36}}"#,
        ])
        .unwrap();
        let cached: Vec<(u64, u64)> = ev
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Usage(u) => Some((u.prompt_tokens, u.cache_read_tokens)),
                _ => None,
            })
            .collect();
        assert_eq!(cached, vec![(2006, 1920), (100, 64)]);
    }

    #[test]
    fn reasoning_models_get_max_completion_tokens_and_no_temperature() {
        use crate::model::ReasoningEffort;
        let opts = RequestOptions { reasoning_effort: Some(ReasoningEffort::High), ..Default::default() };
        let mut r = req(vec![Message::User { text: "hi".into() }]);
        r.temperature = Some(0.0);
        for (model, field, temperature) in [
            ("o3", "max_completion_tokens", false),
            ("gpt-5-mini", "max_completion_tokens", false),
            ("gpt-4.1", "max_tokens", true),
            ("qwen2.5-coder", "max_tokens", true),
        ] {
            r.model = model.into();
            let b = serde_json::to_value(request_body(&r, &opts)).unwrap();
            let other = if field == "max_tokens" { "max_completion_tokens" } else { "max_tokens" };
            assert_eq!((b.get(field), b.get(other)), (Some(&json!(1000)), None), "{model}");
            assert_eq!(b.get("temperature").is_some(), temperature, "{model}");
            assert_eq!(b["reasoning_effort"], "high", "{model}: the flag is passed as given");
        }
        r.role = Role::Verifier;
        assert!(serde_json::to_value(request_body(&r, &opts)).unwrap().get("reasoning_effort").is_none(), "the agent's flag only");
        assert!(body(&r).get("reasoning_effort").is_none());
    }

    #[test]
    fn the_body_puts_stable_fields_first() {
        let mut r = req(vec![Message::User { text: "hi".into() }]);
        r.tools = vec![ToolSpec { name: "run".into(), description: "runs".into(), parameters: json!({"type":"object"}) }];
        let text = serde_json::to_string(&request_body(&r, &RequestOptions::default())).unwrap();
        let at = |k: &str| text.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("{k} in {text}"));
        assert!(
            at("model") < at("tools") && at("tools") < at("messages") && at("messages") < at("stream") && at("stream") < at("max_tokens"),
            "{text}"
        );
    }

    #[test]
    fn n_is_never_requested() {
        let b = body(&req(vec![Message::User { text: "hi".into() }]));
        assert!(b.get("n").is_none());
    }

    #[test]
    fn huge_tool_call_indices_reach_the_assembly_or_fail() {
        let (ev, _) = run(&[r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1000000000000,"id":"x","function":{"name":"run","arguments":"{}"}}]}}]}"#])
            .unwrap();
        assert!(matches!(ev[0], StreamEvent::ToolCallStart { index: 1_000_000_000_000, .. }), "{ev:?}");
        assert!(
            run(&[r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":18446744073709551615,"function":{"arguments":"{}"}}]}}]}"#])
                .is_err()
        );
    }
}
