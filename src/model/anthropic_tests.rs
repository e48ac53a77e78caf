use super::*;
use crate::model::ToolSpec;

fn body(req: &ModelRequest) -> Value {
    serde_json::to_value(request_body(req, &RequestOptions::default())).unwrap()
}

fn tool(call_id: &str, content: &str) -> Message {
    Message::Tool { call_id: call_id.into(), name: "run".into(), content: content.into(), is_error: false }
}

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
            tool("t1", "a.py"),
            Message::Tool { call_id: "t2".into(), name: "run".into(), content: "error: bad arguments".into(), is_error: true },
            Message::User { text: "hurry up".into() },
            Message::Assistant { text: String::new(), tool_calls: vec![call("t3", "{}")], blocks: vec![] },
        ]
        .into(),
        tools: vec![ToolSpec { name: "run".into(), description: "runs".into(), parameters: json!({"type":"object"}) }],
        temperature: Some(0.5),
        max_tokens: 2048,
    };
    let b = body(&req);
    assert_eq!(b["system"], json!([{"type":"text","text":"be brief","cache_control":{"type":"ephemeral"}}]));
    assert_eq!(b["max_tokens"], 2048);
    assert_eq!(b["stream"], true);
    assert_eq!(b["temperature"], json!(0.5));
    assert!(b.get("thinking").is_none());
    assert_eq!(
        b["tools"],
        json!([{"name":"run","description":"runs","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}])
    );
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
                {"type":"tool_result","tool_use_id":"t2","content":"error: bad arguments","is_error":true},
                {"type":"text","text":"hurry up"}]},
            {"role":"assistant","content":[{"type":"tool_use","id":"t3","name":"run","input":{},"cache_control":{"type":"ephemeral"}}]},
        ])
    );
}

#[test]
fn tool_results_open_a_merged_user_turn() {
    let msgs = encode_messages(&[Message::User { text: "note".into() }, tool("t1", "ok")]);
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
            StreamEvent::Usage(TokenUsage { prompt_tokens: 17, completion_tokens: 42, cache_read_tokens: 4, cache_write_tokens: 3 }),
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
            StreamEvent::Opaque(
                json!({"type":"web_search_tool_result","tool_use_id":"srv1","content":[{"type":"web_search_result","url":"https://example.com","encrypted_content":"e"}]})
            ),
            StreamEvent::ToolCallStart { index: 0, id: "tu".into(), name: "run".into() },
            StreamEvent::ToolCallDelta { index: 0, arguments: "{}".into() },
            StreamEvent::Finished { stop_reason: Some("tool_calls".into()) },
        ]
    );
    let bad = run(&[
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"s","name":"web_search","input":{}}}"#,
        ),
        ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{oops"}}"#),
        ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
    ]);
    assert!(matches!(bad, Err(DecodeError::Malformed(_))), "{bad:?}");
}

#[test]
fn blocks_of_older_logs_go_back_first_and_unchanged() {
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

#[test]
fn ordered_blocks_go_back_in_their_place() {
    let thinking = json!({"type":"thinking","thinking":"Check the file first.","signature":"EqQBCgIYAhIM"});
    let redacted = json!({"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix"});
    let msgs = encode_messages(&[Message::Assistant {
        text: "Let me look. Reading it now.".into(),
        tool_calls: vec![call("t1", "{\"cmd\":\"ls\"}"), call("t2", "{}")],
        blocks: vec![
            thinking.clone(),
            redacted.clone(),
            json!({"type":"text","text":"Let me look."}),
            json!({"type":"server_tool_use","id":"srv1","name":"web_search","input":{"query":"q"}}),
            json!({"type":"text","text":" Reading it now."}),
            json!({"type":"tool_use","id":"t1"}),
            json!({"type":"tool_use","id":"cut"}),
            json!({"type":"reasoning","id":"rs_1","encrypted_content":"gAAA"}),
        ],
    }]);
    let content = msgs[0]["content"].as_array().unwrap();
    assert_eq!(content[0], thinking, "unchanged, signature and all");
    assert_eq!(content[1], redacted);
    let types: Vec<&str> = content.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["thinking", "redacted_thinking", "text", "server_tool_use", "text", "tool_use", "tool_use"]);
    assert_eq!(content[5], json!({"type":"tool_use","id":"t1","name":"run","input":{"cmd":"ls"}}));
    assert_eq!(content[6]["id"], "t2", "a call the markers missed still goes back, last");
}

fn req_with(messages: Vec<Message>, role: Role) -> ModelRequest {
    ModelRequest {
        role,
        model: "claude-sonnet-4-5".into(),
        system: "sys".into(),
        messages: messages.into(),
        tools: vec![
            ToolSpec { name: "read_file".into(), description: "reads".into(), parameters: json!({"type":"object"}) },
            ToolSpec { name: "run".into(), description: "runs".into(), parameters: json!({"type":"object"}) },
        ],
        temperature: Some(0.0),
        max_tokens: 8192,
    }
}

#[test]
fn cache_breakpoints_mark_tools_system_and_the_newest_message() {
    let convo = vec![
        Message::User { text: "fix it".into() },
        Message::Assistant { text: String::new(), tool_calls: vec![call("t1", "{}")], blocks: vec![] },
        tool("t1", "output"),
        Message::User { text: String::new() },
    ];
    let b = body(&req_with(convo.clone(), Role::Agent));
    let text = b.to_string();
    assert_eq!(text.matches("cache_control").count(), 3, "{text}");
    assert!(b["tools"][0].get("cache_control").is_none() && b["tools"][1]["cache_control"]["type"] == "ephemeral");
    assert_eq!(b["system"][0]["cache_control"]["type"], "ephemeral");
    let last = b["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["content"][0]["cache_control"]["type"], "ephemeral", "the tool result, not the empty text after it: {last}");
    assert!(last["content"][1].get("cache_control").is_none());
    // Other roles: the shared part only.
    let b = body(&req_with(convo, Role::Verifier));
    assert_eq!(b.to_string().matches("cache_control").count(), 2);
    // A newest message of provider blocks alone (thinking, a paused server tool turn) gets no
    // breakpoint: those blocks go back unchanged.
    let mut msgs = vec![
        json!({"role":"assistant","content":[{"type":"thinking","thinking":"x","signature":"s"},{"type":"web_search_tool_result","tool_use_id":"s","content":[]}]}),
    ];
    mark_newest_message(&mut msgs);
    assert!(!msgs[0].to_string().contains("cache_control"));
}

#[test]
fn thinking_is_requested_for_the_agent_with_room_for_the_answer() {
    let opts = RequestOptions { thinking_budget: Some(4096), ..Default::default() };
    let r = req_with(vec![Message::User { text: "hi".into() }], Role::Agent);
    let b = serde_json::to_value(request_body(&r, &opts)).unwrap();
    assert_eq!(b["thinking"], json!({"type":"enabled","budget_tokens":4096}));
    assert_eq!(b["max_tokens"], 8192 + 4096);
    assert!(b.get("temperature").is_none(), "thinking takes no temperature");
    let p = AnthropicProvider::new("http://127.0.0.1:9", None, std::time::Duration::from_secs(1), opts.clone()).unwrap();
    assert_eq!(p.output_limit(&r), 8192 + 4096, "an answer's bounds include the budget");
    let v = req_with(vec![Message::User { text: "hi".into() }], Role::Verifier);
    let b = serde_json::to_value(request_body(&v, &opts)).unwrap();
    assert!(b.get("thinking").is_none() && b["max_tokens"] == 8192 && b["temperature"] == 0.0);
}

#[test]
fn the_body_keeps_the_cache_order() {
    let text =
        serde_json::to_string(&request_body(&req_with(vec![Message::User { text: "hi".into() }], Role::Agent), &RequestOptions::default()))
            .unwrap();
    let at = |k: &str| text.find(&format!("\"{k}\":")).unwrap();
    assert!(
        at("model") < at("tools") && at("tools") < at("system") && at("system") < at("messages") && at("messages") < at("max_tokens"),
        "{text}"
    );
}

#[test]
fn thinking_blocks_are_kept_with_their_signature() {
    let (ev, _) = run(&[
        ("message_start", r#"{"type":"message_start","message":{"id":"m","usage":{"input_tokens":50,"cache_creation_input_tokens":0,"cache_read_input_tokens":2000,"output_tokens":1}}}"#),
        ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#),
        ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"The test fails on "}}"#),
        ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"an off-by-one."}}"#),
        ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}"#),
        ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
        ("content_block_start", r#"{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"EmwKAhgB"}}"#),
        ("content_block_stop", r#"{"type":"content_block_stop","index":1}"#),
        ("content_block_start", r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"tu","name":"run","input":{}}}"#),
        ("content_block_stop", r#"{"type":"content_block_stop","index":2}"#),
        ("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":90}}"#),
        ("message_stop", r#"{"type":"message_stop"}"#),
    ])
    .unwrap();
    assert_eq!(
        ev,
        vec![
            StreamEvent::ReasoningDelta("The test fails on ".into()),
            StreamEvent::ReasoningDelta("an off-by-one.".into()),
            StreamEvent::Opaque(json!({"type":"thinking","thinking":"The test fails on an off-by-one.","signature":"EqQBCgIYAhIM"})),
            StreamEvent::Opaque(json!({"type":"redacted_thinking","data":"EmwKAhgB"})),
            StreamEvent::ToolCallStart { index: 0, id: "tu".into(), name: "run".into() },
            StreamEvent::ToolCallDelta { index: 0, arguments: "{}".into() },
            StreamEvent::Usage(TokenUsage { prompt_tokens: 2050, completion_tokens: 90, cache_read_tokens: 2000, cache_write_tokens: 0 }),
            StreamEvent::Finished { stop_reason: Some("tool_calls".into()) },
        ]
    );
    // Without a signature (cut mid-thought) the text is shown but the block is not kept.
    let (ev, _) = run(&[
        ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#),
        ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#),
        ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
    ])
    .unwrap();
    assert_eq!(ev, vec![StreamEvent::ReasoningDelta("hmm".into())]);
    assert!(
        run(&[("content_block_delta", r#"{"type":"content_block_delta","index":3,"delta":{"type":"signature_delta","signature":"x"}}"#)])
            .is_err()
    );
}
