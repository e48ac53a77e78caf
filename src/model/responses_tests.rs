use super::*;
use crate::model::{ReasoningEffort, ToolSpec};
use crate::protocol::Role;

fn call(id: &str, args: &str) -> ToolCallRequest {
    ToolCallRequest { id: id.into(), name: "run".into(), arguments: args.into() }
}

fn req(model: &str, messages: Vec<Message>) -> ModelRequest {
    ModelRequest {
        role: Role::Agent,
        model: model.into(),
        system: "be brief".into(),
        messages: messages.into(),
        tools: vec![ToolSpec { name: "run".into(), description: "runs".into(), parameters: json!({"type":"object"}) }],
        temperature: Some(0.2),
        max_tokens: 4096,
    }
}

fn body(r: &ModelRequest, opts: &RequestOptions) -> Value {
    serde_json::to_value(request_body(r, opts)).unwrap()
}

#[test]
fn the_conversation_becomes_input_items_with_reasoning_in_place() {
    let reasoning =
        json!({"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Run ls."}],"encrypted_content":"gAAAAB"});
    let r = req(
        "gpt-5",
        vec![
            Message::User { text: "fix it".into() },
            Message::Assistant {
                text: "Looking.".into(),
                tool_calls: vec![call("call_1", "{\"cmd\":\"ls\"}")],
                blocks: vec![
                    reasoning.clone(),
                    json!({"type":"reasoning","id":"rs_2","summary":[]}),
                    json!({"type":"thinking","thinking":"x","signature":"s"}),
                    json!({"type":"text","text":"Looking."}),
                    json!({"type":"tool_use","id":"call_1"}),
                ],
            },
            Message::Tool { call_id: "call_1".into(), name: "run".into(), content: "a.py".into(), is_error: true },
        ],
    );
    let b = body(&r, &RequestOptions { reasoning_effort: Some(ReasoningEffort::Low), ..Default::default() });
    assert_eq!(
        b["input"],
        json!([
            {"role":"user","content":"fix it"},
            reasoning,
            {"role":"assistant","content":"Looking."},
            {"type":"function_call","call_id":"call_1","name":"run","arguments":"{\"cmd\":\"ls\"}"},
            {"type":"function_call_output","call_id":"call_1","output":"a.py"},
        ]),
        "a reasoning item without encrypted content, and another API's thinking, are not sent"
    );
    assert_eq!(b["instructions"], "be brief");
    assert_eq!(b["tools"], json!([{"type":"function","name":"run","description":"runs","parameters":{"type":"object"},"strict":false}]));
    assert_eq!((b["store"].clone(), b["stream"].clone()), (json!(false), json!(true)));
    assert_eq!(b["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(b["reasoning"], json!({"summary":"auto","effort":"low"}));
    assert_eq!(b["max_output_tokens"], 4096);
    assert!(b.get("temperature").is_none(), "reasoning models take no temperature");
}

#[test]
fn other_models_get_no_reasoning_fields() {
    let b = body(&req("gpt-4.1", vec![Message::User { text: "hi".into() }]), &RequestOptions::default());
    assert!(b.get("reasoning").is_none() && b.get("include").is_none());
    assert_eq!(b["temperature"], json!(0.2));
    // Older logs (no markers): reasoning first, then the text, then the calls.
    let mut out = Vec::new();
    assistant_items("Hi.", &[call("c", "{}")], &[json!({"type":"reasoning","id":"rs","encrypted_content":"e"})], &mut out);
    let kinds: Vec<String> = out.iter().map(|i| i.get("type").and_then(Value::as_str).unwrap_or("message").to_string()).collect();
    assert_eq!(kinds, ["reasoning", "message", "function_call"]);
}

#[test]
fn the_body_puts_stable_fields_first() {
    let text =
        serde_json::to_string(&request_body(&req("gpt-5", vec![Message::User { text: "hi".into() }]), &RequestOptions::default())).unwrap();
    let at = |k: &str| text.find(&format!("\"{k}\":")).unwrap();
    assert!(
        at("model") < at("instructions")
            && at("instructions") < at("tools")
            && at("tools") < at("input")
            && at("input") < at("max_output_tokens"),
        "{text}"
    );
}

fn run(events: &[&str]) -> Result<(Vec<StreamEvent>, Flow), DecodeError> {
    let mut d = ResponsesDecoder::default();
    let mut out = Vec::new();
    let mut flow = Flow::Continue;
    for data in events {
        let v: Value = serde_json::from_str(data).unwrap_or(Value::Null);
        let name = v.get("type").and_then(Value::as_str).unwrap_or("message");
        flow = d.decode(&SseEvent::new(name, *data), &mut out)?;
        if flow == Flow::Done {
            break;
        }
    }
    Ok((out, flow))
}

#[test]
fn parses_reasoning_text_and_a_function_call() {
    let item = r#"{"id":"rs_1","type":"reasoning","summary":[{"type":"summary_text","text":"Look first."}],"encrypted_content":"gAAAAB"}"#;
    let (ev, flow) = run(&[
        r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","status":"in_progress","output":[]}}"#,
        r#"{"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[]}}"#,
        r#"{"type":"response.reasoning_summary_part.added","sequence_number":2,"item_id":"rs_1","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":""}}"#,
        r#"{"type":"response.reasoning_summary_text.delta","sequence_number":3,"item_id":"rs_1","output_index":0,"summary_index":0,"delta":"Look first."}"#,
        &format!(r#"{{"type":"response.output_item.done","sequence_number":4,"output_index":0,"item":{item}}}"#),
        r#"{"type":"response.output_item.added","sequence_number":5,"output_index":1,"item":{"id":"msg_1","type":"message","role":"assistant","content":[]}}"#,
        r#"{"type":"response.output_text.delta","sequence_number":6,"item_id":"msg_1","output_index":1,"content_index":0,"delta":"Reading."}"#,
        r#"{"type":"response.output_item.added","sequence_number":7,"output_index":2,"item":{"id":"fc_1","type":"function_call","call_id":"call_1","name":"read_file","arguments":""}}"#,
        r#"{"type":"response.function_call_arguments.delta","sequence_number":8,"item_id":"fc_1","output_index":2,"delta":"{\"path\":"}"#,
        r#"{"type":"response.function_call_arguments.delta","sequence_number":9,"output_index":2,"delta":"\"a.py\"}"}"#,
        r#"{"type":"response.function_call_arguments.done","sequence_number":10,"item_id":"fc_1","output_index":2,"arguments":"{\"path\":\"a.py\"}"}"#,
        r#"{"type":"response.output_item.done","sequence_number":11,"output_index":2,"item":{"id":"fc_1","type":"function_call","call_id":"call_1","name":"read_file","arguments":"{\"path\":\"a.py\"}"}}"#,
        r#"{"type":"response.completed","sequence_number":12,"response":{"id":"resp_1","status":"completed","usage":{"input_tokens":2100,"input_tokens_details":{"cached_tokens":1920},"output_tokens":80,"output_tokens_details":{"reasoning_tokens":64},"total_tokens":2180}}}"#,
        "[DONE]",
    ])
    .unwrap();
    assert_eq!(flow, Flow::Done);
    assert_eq!(
        ev,
        vec![
            StreamEvent::ReasoningDelta("Look first.".into()),
            StreamEvent::Opaque(serde_json::from_str(item).unwrap()),
            StreamEvent::TextDelta("Reading.".into()),
            StreamEvent::ToolCallStart { index: 0, id: "call_1".into(), name: "read_file".into() },
            StreamEvent::ToolCallDelta { index: 0, arguments: "{\"path\":".into() },
            StreamEvent::ToolCallDelta { index: 0, arguments: "\"a.py\"}".into() },
            StreamEvent::Usage(TokenUsage { prompt_tokens: 2100, completion_tokens: 80, cache_read_tokens: 1920, cache_write_tokens: 0 }),
            StreamEvent::Finished { stop_reason: Some("tool_calls".into()) },
        ]
    );
}

#[test]
fn whole_items_without_deltas_still_give_arguments_and_summary() {
    let (ev, _) = run(&[
        r#"{"type":"response.output_item.done","output_index":0,"item":{"id":"rs_1","type":"reasoning","summary":[{"type":"summary_text","text":"A"},{"type":"summary_text","text":"B"}]}}"#,
        r#"{"type":"response.output_item.added","output_index":1,"item":{"id":"fc_1","type":"function_call","call_id":"c","name":"run","arguments":""}}"#,
        r#"{"type":"response.output_item.done","output_index":1,"item":{"id":"fc_1","type":"function_call","call_id":"c","name":"run","arguments":"{}"}}"#,
        r#"{"type":"response.completed","response":{"status":"completed"}}"#,
    ])
    .unwrap();
    assert_eq!(
        ev,
        vec![
            StreamEvent::ReasoningDelta("A\n\nB".into()),
            StreamEvent::ToolCallStart { index: 0, id: "c".into(), name: "run".into() },
            StreamEvent::ToolCallDelta { index: 0, arguments: "{}".into() },
            StreamEvent::Finished { stop_reason: Some("tool_calls".into()) },
        ],
        "a reasoning item without encrypted content is shown, not kept"
    );
}

#[test]
fn incomplete_refused_failed_and_error_events() {
    let (ev, _) = run(&[
        r#"{"type":"response.output_text.delta","item_id":"m","output_index":0,"content_index":0,"delta":"{\""}"#,
        r#"{"type":"response.incomplete","response":{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":10,"output_tokens":16}}}"#,
    ])
    .unwrap();
    assert_eq!(ev.last(), Some(&StreamEvent::Finished { stop_reason: Some("length".into()) }));
    let (ev, _) = run(&[
        r#"{"type":"response.refusal.delta","item_id":"m","output_index":0,"content_index":0,"delta":"I can't help with that."}"#,
        r#"{"type":"response.completed","response":{"status":"completed"}}"#,
    ])
    .unwrap();
    assert_eq!(ev[0], StreamEvent::RefusalDelta("I can't help with that.".into()));
    let err = run(&[
        r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"The model failed."}}}"#,
    ])
    .unwrap_err();
    assert_eq!(err, DecodeError::Reported { kind: Some("server_error".into()), status: None, message: "The model failed.".into() });
    let err = run(&[r#"{"type":"error","code":"invalid_prompt","message":"Bad input.","param":null,"sequence_number":1}"#]).unwrap_err();
    assert_eq!(err, DecodeError::Reported { kind: Some("invalid_prompt".into()), status: None, message: "Bad input.".into() });
    assert!(run(&[r#"{"type":"response.function_call_arguments.delta","item_id":"nope","delta":"{}"}"#]).is_err());
    // [DONE] before the end is a cut stream: no finish.
    let (ev, flow) = run(&[r#"{"type":"response.output_text.delta","delta":"x"}"#, "[DONE]"]).unwrap();
    assert_eq!((ev, flow), (vec![StreamEvent::TextDelta("x".into())], Flow::Done));
}
