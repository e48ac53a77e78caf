#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Pause answers at once: while the model streams and no tool of the step has started, the
//! request is cancelled and the run pauses; on resume the step is asked again and no tool
//! runs twice. Driven through `Command`s against a slow streaming loopback server.

mod common;
mod support;

use std::time::{Duration, Instant};

use common::{finish, logged_events, wait_for};
use endure::agent::{self, Supervision};
use endure::config::settings::RunOptions;
use endure::model::scripted::Scenario;
use endure::protocol::{Command, EventKind, Outcome, PauseReason};
use support::{Reply, TestServer, Wire};

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

/// The product promises 200 ms from the command to the `paused` event. On a loaded 2-core CI
/// machine scheduling alone can take longer, so the hard bound here is 2 s; the mechanism
/// (the request cancelled, no tool started, the step asked again) is asserted exactly, and
/// the measured latency is printed.
const PROMISE: Duration = Duration::from_millis(200);
const CI_BOUND: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_while_the_model_streams_cancels_the_request_and_the_step_is_asked_again() {
    let scenario = Scenario::parse(APPEND_THEN_DONE, false).unwrap();
    let server = TestServer::builder().scenario(scenario).role_model(endure::protocol::Role::Verifier, "verifier-model").start().await;
    // The first request streams slowly and never ends by itself.
    server.push(Reply::endless_text(Duration::from_millis(50)));
    let ws = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        provider: Some("openai".into()),
        base_url: Some(server.base_url(Wire::OpenAi)),
        model: Some("scripted".into()),
        verifier_model: Some("verifier-model".into()),
        max_attempts: Some(2),
        retry_base_ms: Some(10),
        ..Default::default()
    };
    let cfg = endure::launch::agent_config(ws.path(), &opts, Some("append".into()), Supervision::Supervised, 0.0).unwrap();
    let mut handle = agent::spawn(cfg).unwrap();
    let log = handle.log_path.clone();
    let mut rx = handle.take_events();
    // The model is answering: text is streaming.
    wait_for(&mut rx, "streamed text", |k| matches!(k, EventKind::AssistantDelta { .. })).await;
    let sent = Instant::now();
    let pause = handle.commands.send(Command::Pause).unwrap();
    wait_for(&mut rx, "paused", |k| matches!(k, EventKind::Paused { reason: PauseReason::Supervisor })).await;
    let latency = sent.elapsed();
    eprintln!("pause latency: {latency:?} (promise {PROMISE:?})");
    assert!(latency < CI_BOUND, "the pause took {latency:?}");
    assert!(!pause.is_empty());
    // Nothing of the cancelled answer ran.
    assert!(!ws.path().join("side_effect.txt").exists());
    assert_eq!(server.request_count(), 1);

    handle.commands.send(Command::Resume).unwrap();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    assert_eq!(std::fs::read_to_string(ws.path().join("side_effect.txt")).unwrap(), "ran\n", "the tool ran once");

    let events = logged_events(&log);
    let started: Vec<u64> =
        events.iter().filter_map(|e| if let EventKind::StepStarted { step } = e.kind { Some(step) } else { None }).collect();
    assert_eq!(started, vec![1, 2], "step 1 was asked again, not skipped or renumbered");
    let calls = events.iter().filter(|e| matches!(e.kind, EventKind::ToolCall { .. })).count();
    assert_eq!(calls, 2, "run once, done once");
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::Warning { message } if message.contains("request was cancelled"))));
    // The re-asked request is the same conversation: no assistant turn from the cancelled one.
    let reqs = server.requests();
    assert_eq!(reqs[1].assistant_turns(), 0);
    assert_eq!(endure::session::SessionState::from_events(&events), *result.state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_cancelled_before_it_lands_does_not_pause() {
    let scenario = Scenario::parse(APPEND_THEN_DONE, false).unwrap();
    let server = TestServer::builder().scenario(scenario).role_model(endure::protocol::Role::Verifier, "verifier-model").start().await;
    let ws = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        provider: Some("openai".into()),
        base_url: Some(server.base_url(Wire::OpenAi)),
        model: Some("scripted".into()),
        verifier_model: Some("verifier-model".into()),
        ..Default::default()
    };
    let cfg = endure::launch::agent_config(ws.path(), &opts, Some("append".into()), Supervision::Supervised, 0.0).unwrap();
    let mut handle = agent::spawn(cfg).unwrap();
    let log = handle.log_path.clone();
    let mut rx = handle.take_events();
    // While the first tool runs the pause waits for the boundary; a resume sent before then
    // cancels it.
    wait_for(&mut rx, "the tool call", |k| matches!(k, EventKind::ToolCall { .. })).await;
    handle.commands.send(Command::Pause).unwrap();
    handle.commands.send(Command::Resume).unwrap();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done);
    let events = logged_events(&log);
    assert!(!events.iter().any(|e| matches!(e.kind, EventKind::Paused { .. })), "no pause landed");
}
