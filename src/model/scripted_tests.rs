use futures::StreamExt;

use super::*;
use crate::model::Message;

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

fn request(role: Role, system: &str, messages: Vec<Message>) -> ModelRequest {
    ModelRequest {
        role,
        model: "m".into(),
        system: system.into(),
        messages: messages.into(),
        tools: vec![],
        temperature: None,
        max_tokens: 100,
    }
}

fn user(text: &str) -> Message {
    Message::User { text: text.into() }
}

fn assistant(text: &str) -> Message {
    Message::Assistant { text: text.into(), tool_calls: vec![], blocks: vec![] }
}

/// The answer's text and its tool calls as (id, name, arguments).
async fn ask(p: &ScriptedProvider, req: &ModelRequest) -> Result<(String, Vec<(String, String, String)>), ModelError> {
    let mut stream = p.open(req).await?;
    let mut text = String::new();
    let mut calls: Vec<(String, String, String)> = Vec::new();
    while let Some(ev) = stream.next().await {
        match ev? {
            StreamEvent::TextDelta(t) => text.push_str(&t),
            StreamEvent::ToolCallStart { id, name, .. } => calls.push((id, name, String::new())),
            StreamEvent::ToolCallDelta { index, arguments } => calls[index].2.push_str(&arguments),
            _ => {}
        }
    }
    Ok((text, calls))
}

fn provider(toml: &str) -> ScriptedProvider {
    ScriptedProvider::new(std::sync::Arc::new(Scenario::parse(toml, false).expect("scenario")), 0.0)
}

const BRANCHING: &str = r#"
same_step_candidates = true

[[agent]]
text = "one"
[[agent]]
text = "two"
[[agent]]
text = "three"

[[when_correction]]
text = "Following your correction: {correction}"
[[when_correction.tool_calls]]
name = "write_file"
arguments = { path = "NOTES.md", content = "- {correction}\n" }
[[when_correction]]
text = "branch done"

[fallback.agent]
text = "fallback"
[fallback.verifier]
text = '{"met": true, "missing": [], "evidence": ["e"]}'

[[candidates]]
of = 2
text = "two, another way"

[[matched]]
role = "writer"
request_contains = "consolidating"
text = "dream answer"

[[writer]]
text = "checkpoint 1"
"#;

#[tokio::test]
async fn a_delivered_correction_switches_to_the_branch_then_the_main_line_continues() {
    let p = provider(BRANCHING);
    let mut msgs = vec![user("task")];
    assert_eq!(ask(&p, &request(Role::Agent, "s", msgs.clone())).await.unwrap().0, "one");
    msgs.push(assistant("one"));
    msgs.push(user(&crate::session::state::correction_message("Use tabs.")));
    let (text, calls) = ask(&p, &request(Role::Agent, "s", msgs.clone())).await.unwrap();
    assert_eq!(text, "Following your correction: Use tabs.");
    assert_eq!(calls[0].1, "write_file");
    assert_eq!(calls[0].2, r#"{"content":"- Use tabs.\n","path":"NOTES.md"}"#);
    // The correction now precedes an answer: it is not followed a second time.
    msgs.push(assistant(&text));
    assert_eq!(ask(&p, &request(Role::Agent, "s", msgs.clone())).await.unwrap().0, "branch done");
    msgs.push(assistant("branch done"));
    assert_eq!(ask(&p, &request(Role::Agent, "s", msgs.clone())).await.unwrap().0, "two");
    msgs.push(assistant("two"));
    assert_eq!(ask(&p, &request(Role::Agent, "s", msgs.clone())).await.unwrap().0, "three");
    msgs.push(assistant("three"));
    // The list is used up: the fallback answers, as often as asked, with ids of its own.
    let (a, _) = ask(&p, &request(Role::Agent, "s", msgs.clone())).await.unwrap();
    msgs.push(assistant("x"));
    let (b, _) = ask(&p, &request(Role::Agent, "s", msgs.clone())).await.unwrap();
    assert_eq!((a.as_str(), b.as_str()), ("fallback", "fallback"));
}

#[tokio::test]
async fn without_a_correction_the_branch_is_never_taken() {
    let p = provider(BRANCHING);
    let mut msgs = vec![user("task")];
    for want in ["one", "two", "three"] {
        assert_eq!(ask(&p, &request(Role::Agent, "s", msgs.clone())).await.unwrap().0, want);
        msgs.push(assistant(want));
        msgs.push(user("a plain user message that merely mentions [Supervisor correction]"));
    }
}

#[tokio::test]
async fn max_mode_candidates_of_one_step_share_it_with_their_variants() {
    let p = provider(BRANCHING);
    let mut msgs = vec![user("task")];
    assert_eq!(ask(&p, &request(Role::Agent, "s", msgs.clone())).await.unwrap().0, "one");
    msgs.push(assistant("one"));
    let req = request(Role::Agent, "s", msgs.clone());
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(ask(&p, &req).await.unwrap().0);
    }
    assert_eq!(got, ["two", "two, another way", "two", "two, another way"]);
    msgs.push(assistant("two"));
    assert_eq!(ask(&p, &request(Role::Agent, "s", msgs)).await.unwrap().0, "three", "one step of the script per step of the run");
}

#[tokio::test]
async fn a_step_asked_again_after_a_pause_gets_the_same_answer_even_in_a_branch() {
    let p = provider(BRANCHING);
    let mut msgs = vec![user("task")];
    ask(&p, &request(Role::Agent, "s", msgs.clone())).await.unwrap();
    msgs.push(assistant("one"));
    msgs.push(user(&crate::session::state::correction_message("Stop.")));
    let first = ask(&p, &request(Role::Agent, "s", msgs.clone())).await.unwrap();
    // The runtime cancelled that answer and counts one answer recorded.
    p.resume_at(Role::Agent, 1);
    let again = ask(&p, &request(Role::Agent, "s", msgs.clone())).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(again.0, "Following your correction: Stop.");
}

#[tokio::test]
async fn matched_answers_go_by_what_the_request_says_and_keep_the_order_of_the_rest() {
    let p = provider(BRANCHING);
    let dream = request(Role::Writer, "You are consolidating it", vec![user("x")]);
    let checkpoint = request(Role::Writer, "You write checkpoints", vec![user("x")]);
    assert_eq!(ask(&p, &dream).await.unwrap().0, "dream answer");
    assert_eq!(ask(&p, &checkpoint).await.unwrap().0, "checkpoint 1");
    assert_eq!(ask(&p, &dream).await.unwrap().0, "dream answer");
    let in_a_message = request(Role::Writer, "other", vec![user("as you are consolidating it, …")]);
    assert_eq!(ask(&p, &in_a_message).await.unwrap().0, "dream answer");
    // No writer fallback: past the list is the error it always was.
    let err = ask(&p, &checkpoint).await.expect_err("no second checkpoint answer");
    assert!(err.to_string().contains("no answer 2 for the writer role"), "{err}");
    // A verifier with only a fallback answers every time.
    let v = request(Role::Verifier, "v", vec![user("x")]);
    for _ in 0..3 {
        assert!(ask(&p, &v).await.unwrap().0.contains("\"met\": true"));
    }
}

#[tokio::test]
async fn without_same_step_candidates_identical_requests_take_the_next_answers() {
    let p = provider("[[agent]]\ntext = \"a\"\n[[agent]]\ntext = \"b\"\n");
    let req = request(Role::Agent, "s", vec![user("task")]);
    assert_eq!(ask(&p, &req).await.unwrap().0, "a");
    assert_eq!(ask(&p, &req).await.unwrap().0, "b");
    let err = ask(&p, &req).await.expect_err("used up");
    assert!(err.to_string().contains("no answer 3 for the agent role (it has 2)"), "{err}");
}

#[test]
fn new_sections_round_trip_through_json() {
    let a = Scenario::parse(BRANCHING, false).expect("toml");
    let json = serde_json::to_string(&a).expect("json");
    assert_eq!(Scenario::parse(&json, true).expect("parse json"), a);
    assert_eq!(a.when_correction.len(), 2);
    assert!(a.fallback.agent.is_some() && a.fallback.writer.is_none());
}
