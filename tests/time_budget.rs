#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! `--max-time` while a step is in flight: a model call that streams forever and a command
//! that outlives the budget are stopped, headless and in the workbench.

mod common;
mod support;

use std::time::{Duration, Instant};

use common::{Scripted, finish, logged_events, pos, wait_for};
use endure::agent::{self, Supervision};
use endure::config::settings::RunOptions;
use endure::model::scripted::{Answer, Scenario};
use endure::protocol::{BudgetKind, Command, EventKind, Outcome, PauseReason, Role};
use support::{Reply, TestServer};

#[tokio::test]
async fn a_model_call_is_cancelled_when_the_time_budget_runs_out_mid_stream() {
    let scenario = Scenario { verifier: vec![common::accepting_verdict()], agent: vec![Answer::default()], ..Default::default() };
    let server = TestServer::builder().scenario(scenario).role_model(Role::Verifier, "verifier-model").start().await;
    // A stream that trickles forever, never silent long enough to time out: only the budget
    // can end this step.
    server.push(Reply::endless_text(Duration::from_millis(50)));
    let ws = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        provider: Some("openai".into()),
        base_url: Some(server.base_url_openai()),
        model: Some("scripted".into()),
        verifier_model: Some("verifier-model".into()),
        stream_idle_timeout: Some(5.0),
        max_time: Some("2s".into()),
        ..Default::default()
    };
    let cfg = endure::launch::agent_config(ws.path(), &opts, Some("fix it".into()), Supervision::Headless, 0.0).unwrap();
    let started = Instant::now();
    let handle = agent::spawn(cfg).unwrap();
    let log = handle.log_path.clone();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Budget, "{}", result.reason);
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    let events = logged_events(&log);
    pos(&events, "the budget stop", |k| matches!(k, EventKind::BudgetStop { budget: BudgetKind::Time, .. }));
    assert!(!events.iter().any(|e| matches!(e.kind, EventKind::AssistantMessage { .. })), "no partial answer is recorded");
    assert_eq!(server.request_count(), 1);
}

const SLEEPER: &str = "sleep 100.5151";

#[tokio::test]
async fn in_the_workbench_a_command_stopped_by_the_time_budget_pauses_and_never_runs_twice() {
    let scenario = format!(
        r#"
[[agent]]
text = "Running the slow check."
[[agent.tool_calls]]
name = "run"
arguments = {{ command = "echo ran >> ran.txt; {SLEEPER}" }}

[[agent]]
text = "Done."
[[agent.tool_calls]]
name = "done"
arguments = {{ summary = "checked" }}
"#
    );
    let mut s = Scripted::new(&[], &scenario);
    s.opts.max_time = Some("2s".into());
    let mut handle = s.spawn("check", Supervision::Supervised);
    let mut rx = handle.take_events();
    wait_for(&mut rx, "the time budget pause", |k| {
        matches!(k, EventKind::Paused { reason: PauseReason::Budget { budget: BudgetKind::Time } })
    })
    .await;
    handle.commands.send(Command::Resume).unwrap();
    let log = handle.log_path.clone();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);

    let events = logged_events(&log);
    let stop = pos(&events, "the budget stop", |k| matches!(k, EventKind::BudgetStop { budget: BudgetKind::Time, .. }));
    let interrupted = pos(
        &events,
        "the interrupted result",
        |k| matches!(k, EventKind::ToolResult { name, ok: false, output, .. } if name == "run" && output.starts_with("interrupted: the time budget ran out")),
    );
    assert!(interrupted < stop, "open calls are closed before the pause");
    let runs = events.iter().filter(|e| matches!(&e.kind, EventKind::ToolCall { name, .. } if name == "run")).count();
    assert_eq!(runs, 1);
    assert_eq!(std::fs::read_to_string(s.path("ran.txt")).unwrap(), "ran\n", "the command ran once");
    let deadline = Instant::now() + Duration::from_secs(20);
    while sleeper_alive() {
        assert!(Instant::now() < deadline, "the stopped command is still running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn sleeper_alive() -> bool {
    std::fs::read_dir("/proc").into_iter().flatten().flatten().any(|e| {
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        String::from_utf8_lossy(&cmdline).replace('\0', " ").contains(SLEEPER)
    })
}
