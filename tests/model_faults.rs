#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! The HTTP providers against a loopback server: wire formats, faults and retries, through
//! `model::build` and `model::complete` as the runtime uses them.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use endure::model::scripted::{Answer, Scenario, ScriptedCall, ScriptedProvider};
use endure::model::{
    Completion, Message, ModelError, ModelRequest, Progress, Provider, ProviderKind, ProviderSettings, RetryPolicy, Secret, TokenUsage,
    ToolSpec, build, complete,
};
use endure::protocol::{Role, ToolCallRequest};
use serde_json::json;
use support::{Reply, TestServer, Wire};

const WIRES: [Wire; 3] = [Wire::OpenAi, Wire::Anthropic, Wire::Responses];
const KEY: &str = "sk-test-4f9a8b7c6d5e";

fn provider(server: &TestServer, wire: Wire, key: Option<&str>) -> Arc<dyn Provider> {
    let kind = match wire {
        Wire::OpenAi => ProviderKind::Openai,
        Wire::Anthropic => ProviderKind::Anthropic,
        Wire::Responses => ProviderKind::OpenaiResponses,
    };
    build(&ProviderSettings {
        kind,
        base_url: Some(server.base_url(wire)),
        api_key: key.map(Secret::new),
        script: None,
        speed: 0.0,
        connect_timeout: Duration::from_secs(5),
        options: Default::default(),
    })
    .unwrap()
}

fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        idle_timeout: Duration::from_secs(5),
    }
}

fn request(messages: Vec<Message>) -> ModelRequest {
    ModelRequest {
        role: Role::Agent,
        model: "test-model".into(),
        system: "You are a careful engineer.".into(),
        messages: messages.into(),
        tools: vec![ToolSpec {
            name: "read_file".into(),
            description: "Reads a file".into(),
            parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
        }],
        temperature: None,
        max_tokens: 4096,
    }
}

fn hello() -> ModelRequest {
    request(vec![Message::User { text: "Fix the failing test.".into() }])
}

#[derive(Debug, Default)]
struct Log {
    attempts: u32,
    /// Every text delta of every attempt, so a cut attempt's partial text shows too.
    text: String,
    retries: Vec<(Duration, String)>,
}

async fn run(p: &dyn Provider, req: &ModelRequest, policy: &RetryPolicy) -> (Result<Completion, ModelError>, Log) {
    let mut log = Log::default();
    let mut on = |ev: Progress<'_>| match ev {
        Progress::Attempt(n) => log.attempts = n,
        Progress::Delta(t) => log.text.push_str(t),
        Progress::Retry { delay, reason, .. } => log.retries.push((delay, reason)),
    };
    let r = complete(p, req, policy, &mut on).await;
    (r, log)
}

fn call(name: &str, args: serde_json::Value) -> ScriptedCall {
    ScriptedCall { id: None, name: name.into(), arguments: Some(args.to_string()), raw_arguments: None }
}

fn tool_answer() -> Answer {
    Answer {
        text: "Let me look at both files first.".into(),
        tool_calls: vec![call("read_file", json!({"path": "src/lib.rs"})), call("run", json!({"command": "cargo test -- --nocapture"}))],
        usage: Some(TokenUsage::new(321, 45)),
    }
}

#[tokio::test]
async fn retry_after_zero_is_retried_at_once() {
    for wire in WIRES {
        let server = TestServer::start().await;
        server.push(Reply::retry_after(429, "0"));
        server.push(Reply::text("All good."));
        let (r, log) = run(&*provider(&server, wire, None), &hello(), &policy()).await;
        assert_eq!(r.unwrap().text, "All good.", "{wire:?}");
        assert_eq!(server.request_count(), 2);
        assert_eq!(log.retries.len(), 1);
        assert_eq!(log.retries[0].0, Duration::ZERO, "Retry-After: 0 overrides the backoff");
        assert!(log.retries[0].1.contains("429") && log.retries[0].1.contains("slow down"), "{:?}", log.retries);
    }
}

#[tokio::test]
async fn retry_after_one_second_is_honoured() {
    for wire in WIRES {
        let server = TestServer::start().await;
        server.push(Reply::retry_after(429, "1"));
        server.push(Reply::text("Done waiting."));
        let started = Instant::now();
        let (r, log) = run(&*provider(&server, wire, None), &hello(), &policy()).await;
        let elapsed = started.elapsed();
        assert_eq!(r.unwrap().text, "Done waiting.");
        assert_eq!(log.retries[0].0, Duration::from_secs(1));
        assert!(elapsed >= Duration::from_millis(950), "retried after only {elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
        assert_eq!(server.request_count(), 2);
    }
}

#[tokio::test]
async fn server_errors_are_retried() {
    for wire in WIRES {
        let server = TestServer::start().await;
        server.push(Reply::error(500, "internal"));
        server.push(Reply::Status { code: 502, body: "<html>Bad Gateway</html>".into(), retry_after: None });
        server.push(Reply::error(529, "Overloaded"));
        server.push(Reply::text("Recovered."));
        let (r, log) = run(&*provider(&server, wire, None), &hello(), &policy()).await;
        assert_eq!(r.unwrap().text, "Recovered.");
        assert_eq!(server.request_count(), 4);
        assert_eq!(log.attempts, 4);
        assert!(log.retries[1].1.contains("<html>Bad Gateway</html>"), "{:?}", log.retries);
    }
}

#[tokio::test]
async fn attempts_are_bounded() {
    for wire in WIRES {
        let server = TestServer::start().await;
        server.push_all((0..10).map(|_| Reply::error(503, "unavailable")));
        let policy = RetryPolicy { max_attempts: 3, ..policy() };
        let (r, _) = run(&*provider(&server, wire, None), &hello(), &policy).await;
        match r {
            Err(ModelError::Http { status: 503, message, .. }) => assert_eq!(message, "unavailable"),
            other => panic!("{wire:?}: expected a 503 error, got {other:?}"),
        }
        assert_eq!(server.request_count(), 3);
    }
}

#[tokio::test]
async fn a_cut_stream_is_requested_again_and_completes() {
    for wire in WIRES {
        let server = TestServer::start().await;
        // Far enough in that text has arrived, but before any finish marker.
        server.push(Reply::CutAfter { answer: tool_answer(), events: 5 });
        server.push(Reply::Answer(tool_answer()));
        let (r, log) = run(&*provider(&server, wire, None), &hello(), &policy()).await;
        let c = r.unwrap();
        assert_eq!(c.text, "Let me look at both files first.");
        assert_eq!(c.tool_calls, tool_answer().tool_requests(0));
        assert_eq!(c.usage, Some(TokenUsage::new(321, 45)));
        assert_eq!(server.request_count(), 2);
        assert_eq!(log.retries.len(), 1, "{wire:?}: {:?}", log.retries);
        assert!(log.retries[0].1.contains("the stream broke off"), "{:?}", log.retries);
        assert!(
            log.text.len() > c.text.len() && log.text.ends_with(&c.text),
            "{wire:?}: the cut attempt should have streamed some text first: {:?}",
            log.text
        );
    }
}

#[tokio::test]
async fn a_cut_without_a_transport_error_is_still_a_cut() {
    // A server that closes the stream cleanly but early: no [DONE], no message_stop.
    let raw = [
        (Wire::OpenAi, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"half\"}}]}\n\n"),
        (Wire::Anthropic, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n"),
        (
            Wire::Responses,
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"item_id\":\"m\",\"output_index\":0,\"content_index\":0,\"delta\":\"half\"}\n\n",
        ),
    ];
    for (wire, text) in raw {
        let server = TestServer::start().await;
        server.push(Reply::Raw(text.into()));
        server.push(Reply::text("whole"));
        let (r, log) = run(&*provider(&server, wire, None), &hello(), &policy()).await;
        assert_eq!(r.unwrap().text, "whole");
        assert!(log.retries[0].1.contains("ended before"), "{:?}", log.retries);
    }
}

#[tokio::test]
async fn invalid_argument_json_comes_back_verbatim() {
    let bad = r#"{"path": "src/lib.rs", "#;
    for wire in WIRES {
        let server = TestServer::start().await;
        server.push(Reply::Answer(Answer {
            tool_calls: vec![ScriptedCall {
                id: Some("call_bad".into()),
                name: "read_file".into(),
                arguments: None,
                raw_arguments: Some(bad.into()),
            }],
            ..Default::default()
        }));
        let (r, _) = run(&*provider(&server, wire, None), &hello(), &policy()).await;
        let c = r.unwrap();
        assert_eq!(c.tool_calls, vec![ToolCallRequest { id: "call_bad".into(), name: "read_file".into(), arguments: bad.into() }]);
        assert_eq!(server.request_count(), 1);
    }
}

#[tokio::test]
async fn an_empty_answer_is_retried() {
    for wire in WIRES {
        let server = TestServer::start().await;
        server.push(Reply::Empty);
        server.push(Reply::text("Something."));
        let (r, log) = run(&*provider(&server, wire, None), &hello(), &policy()).await;
        assert_eq!(r.unwrap().text, "Something.");
        assert_eq!(server.request_count(), 2);
        assert!(log.retries[0].1.contains("empty"), "{:?}", log.retries);
    }
}

#[tokio::test]
async fn unknown_events_fields_and_keepalives_are_ignored() {
    let openai = concat!(
        ": keep-alive\n\n",
        "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"reasoning_content\":\"thinking...\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"object\":\"vendor.progress\",\"queue_position\":3}\n\n",
        ": still here\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\",\"annotations\":[]},\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    );
    let anthropic = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}\n\n",
        "event: ping\ndata: {\"type\":\"ping\"}\n\n",
        ": comment\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: brand_new_event\ndata: {\"type\":\"brand_new_event\",\"whatever\":1}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello there\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let responses = concat!(
        ": keep-alive\n\n",
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"r\",\"status\":\"in_progress\",\"output\":[]}}\n\n",
        "event: response.in_progress\ndata: {\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":{\"id\":\"r\"}}\n\n",
        "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":2,\"output_index\":0,\"item\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"brand_new_field\":true}}\n\n",
        "event: response.brand_new_event\ndata: {\"type\":\"response.brand_new_event\",\"sequence_number\":3}\n\n",
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,\"item_id\":\"m\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hello there\"}\n\n",
        "event: response.output_text.done\ndata: {\"type\":\"response.output_text.done\",\"sequence_number\":5,\"item_id\":\"m\",\"output_index\":0,\"content_index\":0,\"text\":\"Hello there\"}\n\n",
        "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":6,\"response\":{\"id\":\"r\",\"status\":\"completed\"}}\n\n",
    );
    for (wire, raw) in [(Wire::OpenAi, openai), (Wire::Anthropic, anthropic), (Wire::Responses, responses)] {
        let server = TestServer::start().await;
        server.push(Reply::Raw(raw.into()));
        let (r, log) = run(&*provider(&server, wire, None), &hello(), &policy()).await;
        let c = r.unwrap();
        assert_eq!(c.text, "Hello there", "{wire:?}");
        assert_eq!(c.stop_reason.as_deref(), Some("stop"));
        assert!(log.retries.is_empty(), "{:?}", log.retries);
    }
}

#[tokio::test]
async fn an_idle_stream_times_out_and_the_retry_succeeds() {
    for wire in WIRES {
        for events in [0, 3] {
            let server = TestServer::start().await;
            server.push(Reply::StallAfter { answer: tool_answer(), events });
            server.push(Reply::Answer(tool_answer()));
            let policy = RetryPolicy { idle_timeout: Duration::from_millis(300), ..policy() };
            let started = Instant::now();
            let (r, log) = run(&*provider(&server, wire, None), &hello(), &policy).await;
            assert_eq!(r.unwrap().tool_calls, tool_answer().tool_requests(0));
            assert!(started.elapsed() >= Duration::from_millis(300));
            assert_eq!(server.request_count(), 2);
            assert!(log.retries[0].1.contains("no data for 0.3s"), "{:?}", log.retries);
        }
    }
}

#[tokio::test]
async fn client_errors_stop_at_once_with_the_providers_message() {
    for wire in WIRES {
        for (code, message) in [(400, "model `gpt-9` does not exist"), (401, "invalid x-api-key")] {
            let server = TestServer::start().await;
            server.push(Reply::error(code, message));
            server.push(Reply::text("never sent"));
            let (r, log) = run(&*provider(&server, wire, None), &hello(), &policy()).await;
            let err = r.unwrap_err();
            assert!(!err.is_retryable());
            assert!(matches!(err, ModelError::Http { status, .. } if status == code), "{err:?}");
            assert!(err.to_string().contains(message), "{err}");
            assert_eq!(server.request_count(), 1);
            assert!(log.retries.is_empty());
        }
    }
}

#[tokio::test]
async fn keys_are_sent_the_providers_way() {
    let server = TestServer::start().await;
    server.push_all([Reply::text("a"), Reply::text("b"), Reply::text("c")]);
    run(&*provider(&server, Wire::OpenAi, Some(KEY)), &hello(), &policy()).await.0.unwrap();
    run(&*provider(&server, Wire::Anthropic, Some(KEY)), &hello(), &policy()).await.0.unwrap();
    run(&*provider(&server, Wire::OpenAi, None), &hello(), &policy()).await.0.unwrap();
    let reqs = server.requests();
    assert_eq!(reqs[0].path, "/v1/chat/completions");
    assert_eq!(reqs[0].header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(reqs[0].header("x-api-key"), None);
    assert_eq!(reqs[1].path, "/v1/messages");
    assert_eq!(reqs[1].header("x-api-key"), Some(KEY));
    assert_eq!(reqs[1].header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(reqs[1].header("authorization"), None);
    assert_eq!(reqs[2].header("authorization"), None, "no key, no header");
}

#[tokio::test]
async fn an_echoed_key_never_reaches_the_error_text() {
    for wire in WIRES {
        let server = TestServer::start().await;
        server.push(Reply::error(401, &format!("Incorrect API key provided: {KEY}. Find yours at example.com")));
        let (r, _) = run(&*provider(&server, wire, Some(KEY)), &hello(), &policy()).await;
        let err = r.unwrap_err();
        let (text, debug) = (err.to_string(), format!("{err:?}"));
        assert!(text.contains("Incorrect API key provided"), "{text}");
        assert!(!text.contains(KEY) && !debug.contains(KEY), "{debug}");

        // Not JSON, and inside the stream rather than in a status.
        let server = TestServer::start().await;
        server.push(Reply::Status { code: 403, body: format!("forbidden for key {KEY}"), retry_after: None });
        let (r, _) = run(&*provider(&server, wire, Some(KEY)), &hello(), &policy()).await;
        let text = r.unwrap_err().to_string();
        assert!(text.contains("forbidden for key") && !text.contains(KEY), "{text}");

        let server = TestServer::start().await;
        let stream_error = match wire {
            Wire::OpenAi => format!("data: {{\"error\":{{\"message\":\"key {KEY} is rate limited\"}}}}\n\n"),
            Wire::Anthropic => format!(
                "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\",\"message\":\"key {KEY} is rate limited\"}}}}\n\n"
            ),
            Wire::Responses => format!(
                "event: error\ndata: {{\"type\":\"error\",\"code\":\"rate_limit_exceeded\",\"message\":\"key {KEY} is rate limited\",\"param\":null}}\n\n"
            ),
        };
        server.push(Reply::Raw(stream_error));
        server.push(Reply::text("fine"));
        let (r, log) = run(&*provider(&server, wire, Some(KEY)), &hello(), &policy()).await;
        assert_eq!(r.unwrap().text, "fine");
        let reason = &log.retries[0].1;
        assert!(reason.contains("is rate limited") && !reason.contains(KEY), "{reason}");
    }
}

#[tokio::test]
async fn parallel_tool_calls_keep_their_order_ids_and_arguments() {
    for wire in WIRES {
        let server = TestServer::start().await;
        server.push(Reply::Answer(tool_answer()));
        let (r, _) = run(&*provider(&server, wire, None), &hello(), &policy()).await;
        let c = r.unwrap();
        assert_eq!(
            c.tool_calls,
            vec![
                ToolCallRequest { id: "call_0_0".into(), name: "read_file".into(), arguments: r#"{"path":"src/lib.rs"}"#.into() },
                ToolCallRequest {
                    id: "call_0_1".into(),
                    name: "run".into(),
                    arguments: r#"{"command":"cargo test -- --nocapture"}"#.into()
                },
            ]
        );
        assert_eq!(c.stop_reason.as_deref(), Some("tool_calls"));
    }
}

#[tokio::test]
async fn interleaved_openai_tool_call_chunks_are_assembled() {
    let chunk = |tc: serde_json::Value| format!("data: {}\n\n", json!({"choices": [{"index": 0, "delta": {"tool_calls": [tc]}}]}));
    let raw = [
        chunk(json!({"index": 0, "id": "call_a", "type": "function", "function": {"name": "read_file", "arguments": ""}})),
        chunk(json!({"index": 1, "id": "call_b", "type": "function", "function": {"name": "run", "arguments": "{\"comm"}})),
        chunk(json!({"index": 0, "function": {"arguments": "{\"path\":"}})),
        chunk(json!({"index": 1, "function": {"arguments": "and\":\"ls\"}"}})),
        chunk(json!({"index": 0, "function": {"arguments": "\"a.py\"}"}})),
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n".into(),
        "data: [DONE]\n\n".into(),
    ]
    .concat();
    let server = TestServer::start().await;
    server.push(Reply::Raw(raw));
    let (r, _) = run(&*provider(&server, Wire::OpenAi, None), &hello(), &policy()).await;
    let calls = r.unwrap().tool_calls;
    assert_eq!(calls[0], ToolCallRequest { id: "call_a".into(), name: "read_file".into(), arguments: r#"{"path":"a.py"}"#.into() });
    assert_eq!(calls[1], ToolCallRequest { id: "call_b".into(), name: "run".into(), arguments: r#"{"command":"ls"}"#.into() });
}

#[tokio::test]
async fn usage_is_reported_only_when_sent() {
    for wire in WIRES {
        let server = TestServer::start().await;
        server.push(Reply::Answer(tool_answer()));
        server.push(Reply::text("no usage here"));
        let p = provider(&server, wire, None);
        let with = run(&*p, &hello(), &policy()).await.0.unwrap();
        assert_eq!(with.usage, Some(TokenUsage::new(321, 45)), "{wire:?}");
        let without = run(&*p, &hello(), &policy()).await.0.unwrap();
        assert_eq!(without.usage, None);
    }
}

#[tokio::test]
async fn request_bodies_have_the_required_fields() {
    let server = TestServer::start().await;
    server.push_all([Reply::text("a"), Reply::text("b")]);
    let mut req = hello();
    req.temperature = Some(0.3);
    run(&*provider(&server, Wire::OpenAi, None), &req, &policy()).await.0.unwrap();
    run(&*provider(&server, Wire::Anthropic, None), &req, &policy()).await.0.unwrap();
    let reqs = server.requests();
    let (o, a) = (&reqs[0].body, &reqs[1].body);
    assert_eq!(o["stream"], true);
    assert_eq!(o["stream_options"]["include_usage"], true);
    assert_eq!(o["model"], "test-model");
    assert_eq!(o["max_tokens"], 4096);
    assert_eq!(o["temperature"], json!(0.3));
    assert_eq!(o["messages"][0], json!({"role": "system", "content": "You are a careful engineer."}));
    assert_eq!(o["tools"][0]["function"]["name"], "read_file");
    assert_eq!(a["stream"], true);
    assert_eq!(a["max_tokens"], 4096);
    assert_eq!(a["system"], json!([{"type": "text", "text": "You are a careful engineer.", "cache_control": {"type": "ephemeral"}}]));
    assert_eq!(
        a["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "Fix the failing test.", "cache_control": {"type": "ephemeral"}}]}])
    );
    assert_eq!(a["tools"][0]["input_schema"]["type"], "object");
    assert_eq!(reqs[1].header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn anthropic_merges_consecutive_messages_of_one_role() {
    let server = TestServer::start().await;
    server.push(Reply::text("ok"));
    let calls = tool_answer().tool_requests(0);
    let req = request(vec![
        Message::User { text: "Fix it.".into() },
        Message::Assistant { text: String::new(), tool_calls: calls.clone(), blocks: vec![] },
        Message::Tool { call_id: calls[0].id.clone(), name: calls[0].name.clone(), content: "fn main() {}".into(), is_error: false },
        Message::Tool { call_id: calls[1].id.clone(), name: calls[1].name.clone(), content: "1 passed".into(), is_error: false },
        Message::User { text: "Supervisor: also update the docs.".into() },
    ]);
    run(&*provider(&server, Wire::Anthropic, None), &req, &policy()).await.0.unwrap();
    let messages = server.requests()[0].body["messages"].clone();
    let roles: Vec<_> = messages.as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap().to_string()).collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    let last: Vec<_> = messages[2]["content"].as_array().unwrap().iter().map(|b| b["type"].as_str().unwrap().to_string()).collect();
    assert_eq!(last, ["tool_result", "tool_result", "text"]);
    assert_eq!(messages[2]["content"][1]["tool_use_id"], "call_0_1");
    assert_eq!(messages[1]["content"][0]["input"], json!({"path": "src/lib.rs"}));
}

#[tokio::test]
async fn an_error_event_in_the_stream_is_retried() {
    let raw = [
        (Wire::OpenAi, "data: {\"error\":{\"message\":\"upstream overloaded\",\"type\":\"server_error\"}}\n\n"),
        (
            Wire::Anthropic,
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"upstream overloaded\"}}\n\n",
        ),
        (
            Wire::Responses,
            "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\"}}\n\nevent: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"id\":\"r\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"upstream overloaded\"}}}\n\n",
        ),
    ];
    for (wire, text) in raw {
        let server = TestServer::start().await;
        server.push(Reply::Raw(text.into()));
        server.push(Reply::text("after the storm"));
        let (r, log) = run(&*provider(&server, wire, None), &hello(), &policy()).await;
        assert_eq!(r.unwrap().text, "after the storm");
        assert!(log.retries[0].1.contains("upstream overloaded"), "{:?}", log.retries);
        assert_eq!(server.request_count(), 2);
    }
}

#[tokio::test]
async fn garbage_in_a_data_line_is_a_protocol_error() {
    let server = TestServer::start().await;
    server.push_all((0..2).map(|_| Reply::Raw("data: {\"choices\": [oops\n\n".into())));
    let policy = RetryPolicy { max_attempts: 2, ..policy() };
    let (r, _) = run(&*provider(&server, Wire::OpenAi, None), &hello(), &policy).await;
    assert!(matches!(r, Err(ModelError::Protocol { .. })), "{r:?}");
    assert_eq!(server.request_count(), 2);
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_transport_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for kind in [ProviderKind::Openai, ProviderKind::Anthropic] {
        let p = build(&ProviderSettings {
            kind,
            base_url: Some(format!("http://127.0.0.1:{port}/v1")),
            api_key: Some(Secret::new(KEY)),
            script: None,
            speed: 0.0,
            connect_timeout: Duration::from_secs(2),
            options: Default::default(),
        })
        .unwrap();
        let policy = RetryPolicy { max_attempts: 2, ..policy() };
        let (r, log) = run(&*p, &hello(), &policy).await;
        let err = r.unwrap_err();
        assert!(matches!(err, ModelError::Transport { .. }), "{err:?}");
        assert!(!format!("{err:?}").contains(KEY));
        assert_eq!(log.attempts, 2);
    }
}

#[test]
fn bad_base_urls_are_config_errors() {
    for kind in [ProviderKind::Openai, ProviderKind::Anthropic] {
        let settings = ProviderSettings {
            kind,
            base_url: Some("localhost:8080/v1".into()),
            api_key: Some(Secret::new(KEY)),
            script: None,
            speed: 0.0,
            connect_timeout: Duration::from_secs(1),
            options: Default::default(),
        };
        let err = build(&settings).err().expect("must fail");
        assert!(matches!(err, ModelError::Config(_)), "{err:?}");
        assert!(!err.is_retryable());
    }
}

fn scenario() -> Scenario {
    Scenario {
        agent: vec![
            tool_answer(),
            Answer {
                text: "Now the fix.".into(),
                tool_calls: vec![call("edit_file", json!({"path": "src/lib.rs", "old": "a", "new": "b"}))],
                usage: None,
            },
            Answer { text: "All tests pass.".into(), ..Default::default() },
        ],
        judge: vec![Answer { text: "score: 7".into(), ..Default::default() }, Answer { text: "score: 9".into(), ..Default::default() }],
        ..Default::default()
    }
}

/// The conversation after `turns` answers of the scenario, as the runtime would send it.
fn conversation(s: &Scenario, turns: usize) -> Vec<Message> {
    let mut m = vec![Message::User { text: "Fix the failing test.".into() }];
    for (k, a) in s.agent.iter().take(turns).enumerate() {
        let calls = a.tool_requests(k);
        m.push(Message::Assistant { text: a.text.clone(), tool_calls: calls.clone(), blocks: vec![] });
        for c in calls {
            m.push(Message::Tool { call_id: c.id, name: c.name, content: "ok".into(), is_error: false });
        }
    }
    m
}

#[tokio::test]
async fn scenario_mode_answers_like_the_scripted_provider() {
    let s = scenario();
    for wire in WIRES {
        let server = TestServer::with_scenario(s.clone()).await;
        let http = provider(&server, wire, None);
        let scripted = ScriptedProvider::new(Arc::new(s.clone()), 0.0);
        // A fault injected into the second request: the retry must get the same answer.
        server.push(Reply::CutAfter { answer: s.agent[1].clone(), events: 3 });
        for turn in 0..3 {
            let req = request(conversation(&s, turn));
            let over_http = run(&*http, &req, &policy()).await.0.unwrap();
            let direct = run(&scripted, &req, &policy()).await.0.unwrap();
            assert_eq!(over_http, direct, "{wire:?} turn {turn}");
        }
        assert_eq!(server.request_count(), 4);
        // Past the end of the scenario is a clear, non-retried failure.
        let err = run(&*http, &request(conversation(&s, 3)), &policy()).await.0.unwrap_err();
        assert!(err.to_string().contains("no agent answer 3"), "{err}");
    }
}

#[tokio::test]
async fn scenario_mode_routes_other_roles_by_model_name() {
    let server = TestServer::builder().scenario(scenario()).role_model(Role::Judge, "judge-model").start().await;
    let p = provider(&server, Wire::OpenAi, None);
    let mut req = hello();
    req.model = "judge-model".into();
    assert_eq!(run(&*p, &req, &policy()).await.0.unwrap().text, "score: 7");
    assert_eq!(run(&*p, &req, &policy()).await.0.unwrap().text, "score: 9");
    req.model = "test-model".into();
    assert_eq!(run(&*p, &req, &policy()).await.0.unwrap().tool_calls.len(), 2, "the agent's first answer");
}
