#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Streams shaped like the providers' recorded ones (`tests/fixtures/streams/`), served over
//! real HTTP by the loopback server, through whole sessions: what the runtime records for
//! refusals, cut answers, server tool blocks, several choices and error events.

mod common;
mod support;

use std::path::Path;

use common::{count, finish, logged_events, pos, run_headless, wait_for};
use endure::agent::{self, Supervision};
use endure::config::settings::RunOptions;
use endure::model::scripted::{Answer, Scenario, ScriptedCall};
use endure::protocol::{Command, Event, EventKind, Message, Outcome, PauseReason, Role};
use endure::tui::state::{CellKind, WorkbenchState};
use serde_json::{Value, json};
use support::{Recorded, Reply, TestServer, Wire};

fn done_call() -> ScriptedCall {
    ScriptedCall { id: None, name: "done".into(), arguments: Some(json!({"summary": "finished"}).to_string()), raw_arguments: None }
}

/// A scenario whose agent answer number `at` (counted in assistant turns of the request)
/// claims done; the earlier ones are never served. The verifier accepts.
fn done_at(at: usize) -> Scenario {
    let mut agent: Vec<Answer> = (0..at).map(|i| Answer { text: format!("unused {i}"), ..Default::default() }).collect();
    agent.push(Answer { text: "Done.".into(), tool_calls: vec![done_call()], usage: None });
    Scenario { agent, verifier: vec![common::accepting_verdict(); 4], ..Default::default() }
}

async fn server(scenario: Scenario, replies: Vec<Reply>) -> TestServer {
    let s = TestServer::builder().scenario(scenario).role_model(Role::Verifier, "verifier-model").start().await;
    s.push_all(replies);
    s
}

async fn run(workspace: &Path, opts: &RunOptions) -> (agent::RunResult, Vec<Event>) {
    run_headless(workspace, opts, "fix the tests").await
}

fn agent_requests(server: &TestServer) -> Vec<Recorded> {
    server.requests().into_iter().filter(|r| r.model() == "scripted").collect()
}

fn refusals(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Refusal { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// The text of every message of a request body, as one string per message.
fn message_texts(r: &Recorded) -> Vec<String> {
    r.body["messages"].as_array().map_or_else(Vec::new, |m| m.iter().map(|m| m["content"].to_string()).collect())
}

#[tokio::test]
async fn an_openai_refusal_is_recorded_and_ends_a_headless_run() {
    let server = server(done_at(0), vec![Reply::fixture("openai_refusal.sse")]).await;
    let ws = tempfile::tempdir().unwrap();
    let (result, events) = run(ws.path(), &server.run_options(Wire::OpenAi)).await;
    assert_eq!(result.outcome, Outcome::Failed, "{}", result.reason);
    assert_eq!(result.reason, "the model refused: I'm sorry, but I can't help with that.");
    assert_eq!(refusals(&events), vec!["I'm sorry, but I can't help with that."]);
    assert_eq!(agent_requests(&server).len(), 1, "a refusal is never retried");
    assert_eq!(count(&events, |k| matches!(k, EventKind::ModelRetry { .. } | EventKind::AssistantMessage { .. })), 0);
    // Usage of the refused answer is still counted.
    assert!(events.iter().any(|e| matches!(e.kind, EventKind::Usage { completion_tokens: 10, .. })));
}

#[tokio::test]
async fn anthropic_refusals_with_and_without_text_are_recorded() {
    for (fixture, text) in [
        ("anthropic_refusal.sse", "This request was declined under the usage policy."),
        ("anthropic_refusal_text.sse", "I can't help with disabling the safety interlock."),
    ] {
        let server = server(done_at(0), vec![Reply::fixture(fixture)]).await;
        let ws = tempfile::tempdir().unwrap();
        let (result, events) = run(ws.path(), &server.run_options(Wire::Anthropic)).await;
        assert_eq!(result.outcome, Outcome::Failed, "{fixture}: {}", result.reason);
        assert_eq!(refusals(&events), vec![text], "{fixture}");
        assert!(result.reason.contains(text), "{fixture}: {}", result.reason);
        assert_eq!(agent_requests(&server).len(), 1, "{fixture}: not retried as an empty answer");
        assert_eq!(count(&events, |k| matches!(k, EventKind::AssistantMessage { .. })), 0, "{fixture}: not a normal answer");
    }
}

#[tokio::test]
async fn a_refusal_in_the_workbench_pauses_and_the_supervisor_decides() {
    // After the refusal the conversation holds one assistant turn, so the scenario's answer 1
    // is what the resumed session gets.
    let server = server(done_at(1), vec![Reply::fixture("openai_refusal.sse")]).await;
    let ws = tempfile::tempdir().unwrap();
    let cfg = endure::launch::agent_config(
        ws.path(),
        &server.run_options(Wire::OpenAi),
        Some("fix the tests".into()),
        Supervision::Supervised,
        0.0,
    )
    .unwrap();
    let mut handle = agent::spawn(cfg).unwrap();
    let mut rx = handle.take_events();
    wait_for(&mut rx, "the refusal pause", |k| matches!(k, EventKind::Paused { reason: PauseReason::Refusal })).await;
    handle.commands.send(Command::Inject("Only the unit tests need fixing.".into())).unwrap();
    handle.commands.send(Command::Resume).unwrap();
    let log = handle.log_path.clone();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);

    let reqs = agent_requests(&server);
    assert_eq!(reqs.len(), 2);
    let texts = message_texts(&reqs[1]);
    let refusal =
        texts.iter().position(|t| t.contains("I'm sorry, but I can't help with that.")).expect("the refusal is in the conversation");
    assert_eq!(reqs[1].body["messages"][refusal]["role"], "assistant");
    assert!(texts[refusal + 1..].iter().any(|t| t.contains("Only the unit tests need fixing.")), "{texts:?}");

    let events = logged_events(&log);
    let cells = WorkbenchState::from_events(&events).cells;
    assert!(
        cells.iter().any(|c| matches!(&c.kind, CellKind::Refusal { step: 1, text } if text == "I'm sorry, but I can't help with that.")),
        "the workbench shows a refusal cell"
    );
}

#[tokio::test]
async fn cut_openai_answers_are_never_finished_raise_the_limit_once_then_stop() {
    let replies =
        vec![Reply::fixture("openai_length.sse"), Reply::fixture("openai_length_tool.sse"), Reply::fixture("openai_length_tool.sse")];
    let server = server(done_at(0), replies).await;
    let ws = tempfile::tempdir().unwrap();
    let (result, events) = run(ws.path(), &server.run_options(Wire::OpenAi)).await;
    assert_eq!(result.outcome, Outcome::Failed, "{}", result.reason);
    assert!(
        result.reason.starts_with(
            "3 answers in a row were cut at the output limit (the last at 16384 tokens; the limit was raised once already, to 16384)"
        ),
        "{}",
        result.reason
    );

    let cuts: Vec<(u32, u32, Vec<String>)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::AnswerTruncated { max_tokens, in_a_row, dropped_calls, .. } => Some((*max_tokens, *in_a_row, dropped_calls.clone())),
            _ => None,
        })
        .collect();
    let wf = || vec!["write_file".to_string()];
    assert_eq!(cuts, vec![(8192, 1, vec![]), (8192, 2, wf()), (16384, 3, wf())]);
    pos(&events, "the raise", |k| matches!(k, EventKind::MaxTokensRaised { from: 8192, to: 16384 }));
    assert_eq!(count(&events, |k| matches!(k, EventKind::MaxTokensRaised { .. })), 1, "raised once only");
    assert_eq!(count(&events, |k| matches!(k, EventKind::ToolCall { .. })), 0, "cut arguments never run");
    assert!(!ws.path().join("notes.md").exists());
    // The cut text is kept as what the model wrote, not as a finished answer.
    pos(
        &events,
        "the cut text",
        |k| matches!(k, EventKind::AssistantMessage { text, tool_calls, .. } if text == "{\"" && tool_calls.is_empty()),
    );

    let reqs = agent_requests(&server);
    let limits: Vec<u64> = reqs.iter().map(|r| r.body["max_tokens"].as_u64().unwrap()).collect();
    assert_eq!(limits, vec![8192, 8192, 16384]);
    let last_user = |r: &Recorded| message_texts(r).into_iter().last().unwrap_or_default();
    assert!(last_user(&reqs[1]).contains("cut off at the output limit of 8192 tokens"), "{}", last_user(&reqs[1]));
    let second = last_user(&reqs[2]);
    assert!(second.contains("`write_file` did not run") && second.contains("now 16384 tokens"), "{second}");
}

#[tokio::test]
async fn cut_anthropic_tool_arguments_are_not_run_and_the_model_continues() {
    // The cut answer's text stays in the conversation: the scenario's answer 1 follows.
    let server = server(done_at(1), vec![Reply::fixture("anthropic_max_tokens_tool.sse")]).await;
    let ws = tempfile::tempdir().unwrap();
    let (result, events) = run(ws.path(), &server.run_options(Wire::Anthropic)).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    assert!(!ws.path().join("report.md").exists());
    assert_eq!(count(&events, |k| matches!(k, EventKind::ToolCall { name, .. } if name == "write_file")), 0);
    let at = pos(&events, "the cut", |k| matches!(k, EventKind::AnswerTruncated { in_a_row: 1, .. }));
    let EventKind::AnswerTruncated { dropped_calls, max_tokens, .. } = &events[at].kind else { unreachable!() };
    assert_eq!((dropped_calls.as_slice(), *max_tokens), (&["write_file".to_string()][..], 8192));

    let reqs = agent_requests(&server);
    assert_eq!(reqs.len(), 2);
    let msgs = reqs[1].body["messages"].as_array().unwrap();
    assert_eq!(msgs[1]["role"], "assistant");
    assert_eq!(msgs[1]["content"], json!([{"type": "text", "text": "I'll write the report."}]), "no cut tool_use is sent back");
    let notice = msgs[2]["content"][0]["text"].as_str().unwrap();
    assert!(notice.contains("cut off at the output limit of 8192 tokens") && notice.contains("`write_file` did not run"), "{notice}");
    assert!(!notice.contains("not valid JSON"), "{notice}");
}

/// A content block of the fixture, by its block index.
fn fixture_block(name: &str, index: u64) -> Value {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/streams").join(name)).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .find(|v| v["type"] == "content_block_start" && v["index"] == index)
        .map(|v| v["content_block"].clone())
        .unwrap()
}

#[tokio::test]
async fn anthropic_server_tool_blocks_are_kept_shown_and_passed_back_unchanged() {
    let server = server(done_at(1), vec![Reply::fixture("anthropic_server_tool.sse")]).await;
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("a.txt"), "alpha\n").unwrap();
    let (result, events) = run(ws.path(), &server.run_options(Wire::Anthropic)).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);

    let mut server_use = fixture_block("anthropic_server_tool.sse", 1);
    server_use["input"] = json!({"query": "server-sent events line endings"});
    let search_result = fixture_block("anthropic_server_tool.sse", 2);
    let at = pos(&events, "the answer", |k| matches!(k, EventKind::AssistantMessage { .. }));
    let EventKind::AssistantMessage { text, tool_calls, blocks, .. } = &events[at].kind else { unreachable!() };
    assert_eq!(text, "Let me check the spec. Now the local file.");
    assert_eq!(
        blocks,
        &vec![
            json!({"type": "text", "text": "Let me check the spec."}),
            server_use.clone(),
            search_result.clone(),
            json!({"type": "text", "text": " Now the local file."}),
            json!({"type": "tool_use", "id": "toolu_01ReadA7xt"}),
        ],
        "the whole answer in its order"
    );
    assert_eq!(tool_calls.len(), 1);
    pos(&events, "the client tool's result", |k| matches!(k, EventKind::ToolResult { name, ok: true, .. } if name == "read_file"));

    let reqs = agent_requests(&server);
    let content = reqs[1].body["messages"][1]["content"].as_array().unwrap().clone();
    let types: Vec<&str> = content.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["text", "server_tool_use", "web_search_tool_result", "text", "tool_use"], "in the order they came");
    assert_eq!(content[1], server_use, "passed back unchanged");
    assert_eq!(content[2], search_result, "passed back unchanged");
    assert_eq!(content[4]["input"], json!({"path": "a.txt"}));
    assert_eq!(reqs[1].body["messages"][2]["content"][0]["type"], "tool_result");

    // Replay folds the blocks into the conversation, and the workbench shows them.
    let state = endure::session::SessionState::from_events(&events);
    assert!(state.messages.iter().any(|m| matches!(m, Message::Assistant { blocks, .. } if blocks.len() == 5)));
    let notices: Vec<String> = WorkbenchState::from_events(&events)
        .cells
        .into_iter()
        .filter_map(|c| match c.kind {
            CellKind::Notice { text, .. } if text.starts_with("server tool") => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(
        notices,
        vec![
            "server tool · server_tool_use web_search server-sent events line endings",
            "server tool · web_search_tool_result: 1 item, first https://html.spec.whatwg.org/multipage/server-sent-events.html",
        ]
    );
}

#[tokio::test]
async fn a_stream_with_several_choices_is_read_for_choice_zero() {
    let server = server(done_at(1), vec![Reply::fixture("openai_choices.sse")]).await;
    let ws = tempfile::tempdir().unwrap();
    let (result, events) = run(ws.path(), &server.run_options(Wire::OpenAi)).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    let at = pos(&events, "the answer", |k| matches!(k, EventKind::AssistantMessage { .. }));
    assert!(matches!(&events[at].kind, EventKind::AssistantMessage { text, .. } if text == "The tests pass now."), "{:?}", events[at].kind);
    assert!(refusals(&events).is_empty(), "choice 2's refusal is not ours");
    for r in server.requests() {
        assert!(r.body.get("n").is_none(), "n is never requested");
    }
}

#[tokio::test]
async fn error_events_carry_their_type_and_only_transient_ones_are_retried() {
    for (wire, fixture, kind, message) in [
        (Wire::Anthropic, "anthropic_error_overloaded.sse", "overloaded_error", "Overloaded"),
        (Wire::OpenAi, "openai_error_server.sse", "server_error", "The server had an error while processing your request."),
    ] {
        let server = server(done_at(0), vec![Reply::fixture(fixture)]).await;
        let ws = tempfile::tempdir().unwrap();
        let (result, events) = run(ws.path(), &server.run_options(wire)).await;
        assert_eq!(result.outcome, Outcome::Done, "{fixture}: {}", result.reason);
        let at = pos(&events, "a retry", |k| matches!(k, EventKind::ModelRetry { .. }));
        let EventKind::ModelRetry { reason, .. } = &events[at].kind else { unreachable!() };
        assert!(reason.contains(&format!("reported an error ({kind})")) && reason.contains(message), "{fixture}: {reason}");
        assert!(!reason.contains("malformed"), "{reason}");
        assert_eq!(agent_requests(&server).len(), 2, "{fixture}");
    }
    for (wire, fixture, kind, message) in [
        (Wire::Anthropic, "anthropic_error_invalid.sse", "invalid_request_error", "prompt is too long: 213455 tokens > 200000 maximum"),
        (Wire::OpenAi, "openai_error_invalid.sse", "invalid_request_error", "Invalid 'messages[3].content': string too long."),
    ] {
        let server = server(done_at(0), vec![Reply::fixture(fixture)]).await;
        let ws = tempfile::tempdir().unwrap();
        let (result, events) = run(ws.path(), &server.run_options(wire)).await;
        assert_eq!(result.outcome, Outcome::Failed, "{fixture}");
        assert!(
            result.reason.contains(&format!("reported an error ({kind})")) && result.reason.contains(message),
            "{fixture}: {}",
            result.reason
        );
        assert_eq!(agent_requests(&server).len(), 1, "{fixture}: not retried");
        assert_eq!(count(&events, |k| matches!(k, EventKind::ModelRetry { .. })), 0);
    }
}

#[tokio::test]
async fn a_paused_server_tool_turn_is_sent_back_to_continue() {
    let server = server(done_at(1), vec![Reply::fixture("anthropic_pause_turn.sse")]).await;
    let ws = tempfile::tempdir().unwrap();
    let (result, events) = run(ws.path(), &server.run_options(Wire::Anthropic)).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    let at = pos(&events, "the paused answer", |k| matches!(k, EventKind::AssistantMessage { blocks, .. } if blocks.len() == 2));
    assert!(!matches!(&events[at + 1].kind, EventKind::UserMessage { .. }), "no nudge after a paused turn");
    let reqs = agent_requests(&server);
    let msgs = reqs[1].body["messages"].as_array().unwrap();
    let last = msgs.last().unwrap();
    assert_eq!(last["role"], "assistant", "the paused turn is what the provider continues");
    assert_eq!(last["content"][0]["type"], "server_tool_use");
    assert_eq!(last["content"][1], fixture_block("anthropic_pause_turn.sse", 1));
}

#[tokio::test]
async fn in_the_workbench_repeated_cuts_pause_and_the_raised_limit_stays() {
    // Three cut answers, each leaving its text `{"` in the conversation: answer 3 comes next.
    let cut = || Reply::fixture("openai_length.sse");
    let server = server(done_at(3), vec![cut(), cut(), cut()]).await;
    let ws = tempfile::tempdir().unwrap();
    let cfg = endure::launch::agent_config(
        ws.path(),
        &server.run_options(Wire::OpenAi),
        Some("fix the tests".into()),
        Supervision::Supervised,
        0.0,
    )
    .unwrap();
    let mut handle = agent::spawn(cfg).unwrap();
    let mut rx = handle.take_events();
    wait_for(&mut rx, "the truncation pause", |k| matches!(k, EventKind::Paused { reason: PauseReason::Truncation { max_tokens: 16384 } }))
        .await;
    handle.commands.send(Command::Resume).unwrap();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    let limits: Vec<u64> = agent_requests(&server).iter().map(|r| r.body["max_tokens"].as_u64().unwrap()).collect();
    assert_eq!(limits, vec![8192, 8192, 16384, 16384]);
}
