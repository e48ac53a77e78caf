#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Whole sessions over HTTP against the loopback server speaking the real wire formats.

mod common;
mod support;

use std::time::Duration;

use common::{pos, run_headless as run, wait_for};
use endure::agent::{self, Supervision};
use endure::config::settings::RunOptions;
use endure::model::scripted::Scenario;
use endure::protocol::{Command, Event, EventKind, Outcome};
use serde_json::Value;
use support::{Reply, TestServer, Wire};

/// The loopback server for `scenario`, with the verifier's requests answered from its
/// verifier answers.
async fn server_for(scenario: Scenario) -> TestServer {
    TestServer::builder().scenario(scenario).role_model(endure::protocol::Role::Verifier, "verifier-model").start().await
}

fn http_opts(server: &TestServer, wire: Wire) -> RunOptions {
    // Short, so that the stall tests do not wait long for a stream that went quiet.
    RunOptions { stream_idle_timeout: Some(0.5), ..server.run_options(wire) }
}

/// The events with what legitimately differs between two runs blanked: times, durations,
/// the session id and provider details, and timings printed by test runners.
fn normalized(events: &[Event]) -> Vec<Value> {
    let timing = regex::Regex::new(r"\d+\.\d+s").unwrap();
    events
        .iter()
        .map(|e| {
            let mut v = serde_json::to_value(e).unwrap();
            v["ts"] = Value::Null;
            if v["type"] == "session_started" {
                for k in ["session_id", "provider", "base_url", "config"] {
                    v[k] = Value::Null;
                }
            }
            // Snapshot ids are git commit ids, which include the time they were taken.
            if v["type"] == "workspace_snapshot" {
                v["id"] = Value::Null;
            }
            if v.get("duration_ms").is_some() {
                v["duration_ms"] = Value::Null;
            }
            if let Some(out) = v.get("output").and_then(Value::as_str) {
                v["output"] = Value::String(timing.replace_all(out, "T").into_owned());
            }
            v
        })
        .collect()
}

async fn same_log_as_scripted(wire: Wire) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("demo");
    let (ws, script) = endure::demo::materialize(&root).unwrap();
    let scripted_opts = RunOptions {
        verifier_model: Some("verifier-model".into()),
        provider: Some("scripted".into()),
        script: Some(script),
        speed: Some(0.0),
        ..Default::default()
    };
    let (scripted, scripted_events) = run(&ws, &scripted_opts, &endure::demo::task()).await;
    assert_eq!(scripted.outcome, Outcome::Done, "{}", scripted.reason);

    // The same workspace path again, fresh, so that paths in command output are equal too.
    std::fs::remove_dir_all(&root).unwrap();
    endure::demo::materialize(&root).unwrap();
    let scenario = Scenario::parse(endure::demo::SCENARIO, false).unwrap();
    let server = server_for(scenario).await;
    let (http, http_events) = run(&ws, &http_opts(&server, wire), &endure::demo::task()).await;
    assert_eq!(http.outcome, Outcome::Done, "{}", http.reason);

    assert_eq!(normalized(&http_events), normalized(&scripted_events));
    let demo = Scenario::parse(endure::demo::SCENARIO, false).unwrap();
    assert_eq!(server.request_count(), demo.agent.len() + demo.verifier.len());
}

#[tokio::test]
async fn the_demo_over_openai_http_logs_the_same_events_as_the_scripted_run() {
    same_log_as_scripted(Wire::OpenAi).await;
}

#[tokio::test]
async fn the_demo_over_anthropic_http_logs_the_same_events_as_the_scripted_run() {
    same_log_as_scripted(Wire::Anthropic).await;
}

#[tokio::test]
async fn the_demo_over_openai_responses_http_logs_the_same_events_as_the_scripted_run() {
    same_log_as_scripted(Wire::Responses).await;
}

const APPEND_THEN_DONE: &str = r#"
[[verifier]]
text = '{"met": true, "missing": [], "evidence": ["side_effect.txt has one line"]}'

[[agent]]
text = "Appending a line."
[[agent.tool_calls]]
name = "run"
arguments = { command = "echo ran >> side_effect.txt" }

[[agent]]
text = "Finished."
[[agent.tool_calls]]
name = "done"
arguments = { summary = "appended once" }
"#;

fn workspace() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[tokio::test]
async fn a_stream_cut_mid_way_is_retried_and_no_tool_runs_twice() {
    for wire in [Wire::OpenAi, Wire::Anthropic, Wire::Responses] {
        let scenario = Scenario::parse(APPEND_THEN_DONE, false).unwrap();
        let server = server_for(scenario.clone()).await;
        // The first answer is cut after a few events, then served whole on the retry.
        server.push(Reply::CutAfter { answer: scenario.agent[0].clone(), events: 3 });
        let ws = workspace();
        let (result, events) = run(ws.path(), &http_opts(&server, wire), "append").await;
        assert_eq!(result.outcome, Outcome::Done, "{wire:?}: {}", result.reason);
        assert_eq!(std::fs::read_to_string(ws.path().join("side_effect.txt")).unwrap(), "ran\n", "{wire:?}");
        assert_eq!(server.request_count(), 4, "{wire:?}: cut, retry, second answer, verifier");
        pos(&events, "a retry", |k| matches!(k, EventKind::ModelRetry { .. }));
    }
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_within_the_session() {
    let scenario = Scenario::parse(APPEND_THEN_DONE, false).unwrap();
    let server = server_for(scenario).await;
    server.push(Reply::retry_after(429, "0"));
    server.push(Reply::error(503, "overloaded"));
    let ws = workspace();
    let (result, events) = run(ws.path(), &http_opts(&server, Wire::OpenAi), "append").await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    let retries: Vec<_> = events.iter().filter(|e| matches!(e.kind, EventKind::ModelRetry { .. })).collect();
    assert_eq!(retries.len(), 2);
    assert_eq!(std::fs::read_to_string(ws.path().join("side_effect.txt")).unwrap(), "ran\n");
}

#[tokio::test]
async fn an_idle_stream_counts_as_a_disconnect() {
    let scenario = Scenario::parse(APPEND_THEN_DONE, false).unwrap();
    let server = server_for(scenario.clone()).await;
    server.push(Reply::StallAfter { answer: scenario.agent[0].clone(), events: 2 });
    let ws = workspace();
    let (result, events) = run(ws.path(), &http_opts(&server, Wire::Anthropic), "append").await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    let retry = pos(&events, "a retry", |k| matches!(k, EventKind::ModelRetry { .. }));
    let EventKind::ModelRetry { reason, .. } = &events[retry].kind else { unreachable!() };
    assert!(reason.contains("no data"), "{reason}");
}

#[tokio::test]
async fn a_client_error_stops_the_run_with_the_providers_message() {
    let scenario = Scenario::parse(APPEND_THEN_DONE, false).unwrap();
    let server = server_for(scenario).await;
    server.push(Reply::error(400, "max_tokens is too large for this model"));
    let ws = workspace();
    let (result, events) = run(ws.path(), &http_opts(&server, Wire::OpenAi), "append").await;
    assert_eq!(result.outcome, Outcome::Failed);
    assert!(result.reason.contains("max_tokens is too large for this model"), "{}", result.reason);
    assert_eq!(server.request_count(), 1, "a 4xx is not retried");
    assert!(!ws.path().join("side_effect.txt").exists());
    assert!(matches!(events.last().map(|e| &e.kind), Some(EventKind::SessionFinished { outcome: Outcome::Failed, .. })));
}

#[tokio::test]
async fn invalid_tool_arguments_over_http_are_reported_to_the_model() {
    let scenario = Scenario::parse(
        r#"
[[verifier]]
text = '{"met": true, "missing": [], "evidence": ["ok"]}'

[[agent]]
text = "Broken arguments."
[[agent.tool_calls]]
name = "run"
raw_arguments = '{"command": "echo hi'

[[agent]]
text = "Finished."
[[agent.tool_calls]]
name = "done"
arguments = { summary = "s" }
"#,
        false,
    )
    .unwrap();
    let server = server_for(scenario).await;
    let ws = workspace();
    let (result, _) = run(ws.path(), &http_opts(&server, Wire::OpenAi), "t").await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    // The second request carries the error as the call's result.
    let second = &server.requests()[1].body;
    let tool_msg = second["messages"].as_array().unwrap().iter().find(|m| m["role"] == "tool").expect("tool result sent");
    assert!(tool_msg["content"].as_str().unwrap().contains("not valid JSON"), "{tool_msg}");
}

#[tokio::test]
async fn an_injected_correction_is_in_the_next_request_to_the_model() {
    let scenario = Scenario::parse(
        r#"
[[verifier]]
text = '{"met": true, "missing": [], "evidence": ["ok"]}'

[[agent]]
text = "Working slowly."
[[agent.tool_calls]]
name = "run"
arguments = { command = "sleep 0.4" }

[[agent]]
text = "Finished."
[[agent.tool_calls]]
name = "done"
arguments = { summary = "s" }
"#,
        false,
    )
    .unwrap();
    let server = server_for(scenario).await;
    let ws = workspace();
    let cfg = endure::launch::agent_config(ws.path(), &http_opts(&server, Wire::Anthropic), Some("t".into()), Supervision::Headless, 0.0)
        .unwrap();
    let mut handle = agent::spawn(cfg).unwrap();
    let mut rx = handle.take_events();
    wait_for(&mut rx, "the slow command", |k| matches!(k, EventKind::ToolCall { .. })).await;
    handle.commands.send(Command::Inject("Prefer the v2 API.".into())).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(30), handle.join).await.unwrap().unwrap();
    assert_eq!(result.outcome, Outcome::Done);
    let second = serde_json::to_string(&server.requests()[1].body).unwrap();
    assert!(second.contains("[Supervisor correction]") && second.contains("Prefer the v2 API."), "{second}");
    let first = serde_json::to_string(&server.requests()[0].body).unwrap();
    assert!(!first.contains("Prefer the v2 API."));
}
