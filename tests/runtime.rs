#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! The agent runtime end to end with the scripted provider: real files, real processes.

mod common;

use std::time::Duration;

use common::{Scripted, finish, logged_events, pos, wait_for};
use endure::agent::Supervision;
use endure::model::Message;
use endure::protocol::{Command, EventKind, Outcome, PauseReason};
use endure::session::SessionState;

#[tokio::test]
async fn demo_session_fixes_the_project_and_replay_rebuilds_its_state() {
    let s = Scripted::demo();
    let handle = s.spawn(&endure::demo::task(), Supervision::Headless);
    let log = handle.log_path.clone();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);

    let fixed = std::fs::read_to_string(s.path("textstats/stats.py")).unwrap();
    assert!(fixed.contains("if not ws:\n        return 0.0"), "{fixed}");

    let events = logged_events(&log);
    // The first test run fails, the later ones pass, with counts recorded in the events (the
    // two checks on the sample essay in between are no test runs).
    let counts: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ToolResult { name, feedback, .. } if name == "run" => Some(feedback.tests),
            _ => None,
        })
        .collect();
    assert_eq!(counts.len(), 6);
    if python_available() {
        let first = counts[0].expect("counts of the failing run");
        let fixed = counts[1].expect("counts of the passing run");
        let docstrings = counts[4].expect("counts of the run after the docstrings");
        assert_eq!((docstrings.passed, docstrings.failed), (10, 0));
        let last = counts[5].expect("counts of the run with the verifier's test");
        assert_eq!((first.passed, first.failed), (8, 2));
        assert_eq!((fixed.passed, fixed.failed), (10, 0));
        assert_eq!((last.passed, last.failed), (11, 0));
    }
    assert_eq!(
        events.iter().filter(|e| matches!(e.kind, EventKind::FileChanged { .. })).count(),
        6,
        "two fixes and two docstrings in stats.py, the README, one test added, and nothing else (bytecode is ignored)"
    );

    let replayed = SessionState::from_events(&events);
    assert_eq!(replayed, *result.state, "replaying the log must rebuild the runtime's state exactly");
    assert_eq!(replayed.tasks.len(), 5);
    assert!(replayed.outcome.is_some());
}

fn python_available() -> bool {
    std::process::Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success())
}

const SLOW_STEPS: &str = r#"
[[agent]]
text = "Step one takes a while."
[[agent.tool_calls]]
name = "run"
arguments = { command = "sleep 0.5; echo one >> trace.txt" }

[[agent]]
text = "Step two."
[[agent.tool_calls]]
name = "run"
arguments = { command = "echo two >> trace.txt" }

[[agent]]
text = "Finished."
[[agent.tool_calls]]
name = "done"
arguments = { summary = "wrote the trace" }
"#;

#[tokio::test]
async fn pause_waits_for_the_boundary_and_a_correction_is_delivered_before_the_next_request() {
    let s = Scripted::new(&[], SLOW_STEPS);
    let mut handle = s.spawn("write a trace", Supervision::Supervised);
    let log = handle.log_path.clone();
    let mut rx = handle.take_events();
    wait_for(&mut rx, "the first tool call", |k| matches!(k, EventKind::ToolCall { .. })).await;
    handle.commands.send(Command::Pause).unwrap();
    handle.commands.send(Command::Inject("Use tabs, not spaces.".into())).unwrap();
    wait_for(&mut rx, "paused", |k| matches!(k, EventKind::Paused { .. })).await;
    // Paused at the boundary: step 1 completed its command, step 2 has not started.
    assert_eq!(std::fs::read_to_string(s.path("trace.txt")).unwrap(), "one\n");
    handle.commands.send(Command::Resume).unwrap();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done);
    assert_eq!(std::fs::read_to_string(s.path("trace.txt")).unwrap(), "one\ntwo\n");

    let events = logged_events(&log);
    let queued = pos(&events, "correction_queued", |k| matches!(k, EventKind::CorrectionQueued { .. }));
    let finished1 = pos(&events, "step 1 finished", |k| matches!(k, EventKind::StepFinished { step: 1 }));
    let paused = pos(&events, "paused", |k| matches!(k, EventKind::Paused { reason: PauseReason::Supervisor }));
    let resumed = pos(&events, "resumed", |k| matches!(k, EventKind::Resumed));
    let delivered = pos(&events, "delivered", |k| matches!(k, EventKind::CorrectionDelivered { step: 2, .. }));
    let started2 = pos(&events, "step 2", |k| matches!(k, EventKind::StepStarted { step: 2 }));
    assert!(queued < finished1, "queued as soon as it was sent, while step 1 ran");
    assert!(finished1 < paused && paused < resumed && resumed < delivered && delivered < started2);

    // The correction reached the conversation before the model's second answer.
    let msgs = &result.state.messages;
    let correction = msgs
        .iter()
        .position(
            |m| matches!(m, Message::User { text } if text.contains("[Supervisor correction]") && text.contains("Use tabs, not spaces.")),
        )
        .expect("correction in the conversation");
    let second_answer =
        msgs.iter().enumerate().filter(|(_, m)| matches!(m, Message::Assistant { .. })).nth(1).map(|(i, _)| i).expect("second answer");
    assert!(correction < second_answer);
    assert_eq!(SessionState::from_events(&events), *result.state);
}

#[tokio::test]
async fn stop_cancels_the_step_in_flight_and_kills_its_processes() {
    let s = Scripted::new(
        &[],
        r#"
[[agent]]
text = "A long command."
[[agent.tool_calls]]
name = "run"
arguments = { command = "sleep 60.4242 & echo $! > bg.pid; sleep 60" }
[[agent.tool_calls]]
name = "done"
arguments = { summary = "never reached" }
"#,
    );
    let mut handle = s.spawn("wait", Supervision::Headless);
    let log = handle.log_path.clone();
    let mut rx = handle.take_events();
    wait_for(&mut rx, "the run call", |k| matches!(k, EventKind::ToolCall { .. })).await;
    let pid_file = s.path("bg.pid");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&pid_file).map(|t| t.trim().is_empty()).unwrap_or(true) {
        assert!(std::time::Instant::now() < deadline, "the command never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while common::process_with("sleep\u{0}60.4242").is_none() {
        assert!(std::time::Instant::now() < deadline, "the background sleeper never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = std::time::Instant::now();
    handle.commands.send(Command::Stop).unwrap();
    let result = finish(handle).await;
    assert!(started.elapsed() < Duration::from_secs(5), "stop must not wait for the command");
    assert_eq!(result.outcome, Outcome::Stopped);

    // The pid the command saw may be its PID namespace's, so the sleeper is found by its
    // command line among the host's processes.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while let Some(pid) = common::process_with("sleep\u{0}60.4242") {
        assert!(std::time::Instant::now() < deadline, "background process {pid} survived the stop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let events = logged_events(&log);
    let results: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ToolResult { name, output, ok, .. } => Some((name.clone(), output.clone(), *ok)),
            _ => None,
        })
        .collect();
    // Both calls of the interrupted answer have a result, so the conversation stays valid.
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(results.iter().all(|(_, out, ok)| !ok && out.starts_with("interrupted:")));
    assert!(matches!(events.last().map(|e| &e.kind), Some(EventKind::SessionFinished { outcome: Outcome::Stopped, .. })));
    assert_eq!(SessionState::from_events(&events), *result.state);
}

#[tokio::test]
async fn invalid_tool_arguments_go_back_to_the_model_and_the_session_continues() {
    let s = Scripted::new(
        &[("a.txt", "alpha\n")],
        r#"
[[agent]]
text = "Reading."
[[agent.tool_calls]]
name = "read_file"
raw_arguments = '{"path": "a.txt"'

[[agent]]
text = "Again, with valid JSON."
[[agent.tool_calls]]
name = "read_file"
arguments = { path = "a.txt" }

[[agent]]
text = "Done."
[[agent.tool_calls]]
name = "done"
arguments = { summary = "read it" }
"#,
    );
    let result = finish(s.spawn("read a.txt", Supervision::Headless)).await;
    assert_eq!(result.outcome, Outcome::Done);
    let tools: Vec<&std::sync::Arc<str>> = result
        .state
        .messages
        .iter()
        .filter_map(|m| match m {
            Message::Tool { content, .. } => Some(content),
            _ => None,
        })
        .collect();
    assert!(tools[0].contains("not valid JSON"), "{}", tools[0]);
    assert!(tools[1].contains("alpha"), "{}", tools[1]);
}

fn reads(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "[[agent]]\ntext = \"Look {i}.\"\n[[agent.tool_calls]]\nname = \"read_file\"\narguments = {{ path = \"a.txt\" }}\n\n"
        ));
    }
    s.push_str("[[agent]]\ntext = \"Done.\"\n[[agent.tool_calls]]\nname = \"done\"\narguments = { summary = \"looked\" }\n");
    s
}

#[tokio::test]
async fn a_step_budget_stops_a_headless_run() {
    let mut s = Scripted::new(&[("a.txt", "x\n")], &reads(10));
    s.opts.max_steps = Some(5);
    let handle = s.spawn("look", Supervision::Headless);
    let log = handle.log_path.clone();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Budget, "{}", result.reason);
    assert!(result.reason.contains("steps budget reached: 5 of 5"), "{}", result.reason);
    let events = logged_events(&log);
    // The warning comes at 80%: before step 5 starts (4 of 5 used).
    let warning = pos(&events, "budget warning", |k| matches!(k, EventKind::BudgetWarning { .. }));
    let step5 = pos(&events, "step 5", |k| matches!(k, EventKind::StepStarted { step: 5 }));
    assert!(warning < step5);
    pos(&events, "budget stop", |k| matches!(k, EventKind::BudgetStop { .. }));
    assert_eq!(result.state.step, 5);
}

#[tokio::test]
async fn a_budget_pauses_a_supervised_run_until_the_supervisor_resumes() {
    let mut s = Scripted::new(&[("a.txt", "x\n")], &reads(4));
    s.opts.max_steps = Some(2);
    let mut handle = s.spawn("look", Supervision::Supervised);
    let mut rx = handle.take_events();
    wait_for(&mut rx, "budget pause", |k| matches!(k, EventKind::Paused { reason: PauseReason::Budget { .. } })).await;
    handle.commands.send(Command::Resume).unwrap();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "resuming runs past the budget");
}

#[tokio::test]
async fn calls_that_change_nothing_stall_the_run() {
    let mut s = Scripted::new(&[("a.txt", "x\n")], &reads(10));
    s.opts.stall_after = Some(4);
    let handle = s.spawn("look", Supervision::Headless);
    let log = handle.log_path.clone();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Stalled);
    let events = logged_events(&log);
    pos(&events, "stall", |k| matches!(k, EventKind::Stall { tool_calls: 4 }));
    assert_eq!(result.state.step, 4);
}

#[tokio::test]
async fn file_changes_reset_the_stall_counter() {
    let mut scenario = String::new();
    for i in 0..6 {
        let (name, args) = if i % 2 == 0 {
            ("read_file", "{ path = \"a.txt\" }".to_string())
        } else {
            ("run", format!("{{ command = \"echo {i} >> a.txt\" }}"))
        };
        scenario.push_str(&format!("[[agent]]\ntext = \"{i}\"\n[[agent.tool_calls]]\nname = \"{name}\"\narguments = {args}\n\n"));
    }
    scenario.push_str("[[agent]]\ntext = \"ok\"\n[[agent.tool_calls]]\nname = \"done\"\narguments = { summary = \"s\" }\n");
    let mut s = Scripted::new(&[("a.txt", "x\n")], &scenario);
    s.opts.stall_after = Some(2);
    let result = finish(s.spawn("edit", Supervision::Headless)).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    assert_eq!(result.state.files_changed, 3);
}

#[tokio::test]
async fn a_workbench_without_a_task_waits_for_start() {
    let s = Scripted::new(&[], "[[agent]]\ntext = \"ok\"\n[[agent.tool_calls]]\nname = \"done\"\narguments = { summary = \"s\" }\n");
    let mut cfg = s.config("unused", Supervision::Supervised);
    cfg.task = None;
    let mut handle = endure::agent::spawn(cfg).unwrap();
    let mut rx = handle.take_events();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(rx.try_recv().is_err(), "nothing happens before the task is given");
    handle.commands.send(Command::Start("say ok".into())).unwrap();
    let started = wait_for(&mut rx, "session start", |k| matches!(k, EventKind::SessionStarted { .. })).await;
    let EventKind::SessionStarted { info } = started.kind else { unreachable!() };
    assert_eq!(info.task, "say ok");
    assert_eq!(finish(handle).await.outcome, Outcome::Done);
}

#[tokio::test]
async fn a_scenario_that_runs_out_fails_with_a_clear_reason() {
    let s = Scripted::new(
        &[("a.txt", "x\n")],
        &reads(1).replace("name = \"done\"", "name = \"read_file\"").replace("{ summary = \"looked\" }", "{ path = \"a.txt\" }"),
    );
    let result = finish(s.spawn("look", Supervision::Headless)).await;
    assert_eq!(result.outcome, Outcome::Failed);
    assert!(result.reason.contains("no answer 3 for the agent role"), "{}", result.reason);
}

#[tokio::test]
async fn an_unpriced_model_under_a_cost_budget_is_called_out() {
    let mut s = Scripted::new(&[], "[[agent]]\ntext = \"ok\"\n[[agent.tool_calls]]\nname = \"done\"\narguments = { summary = \"s\" }\n");
    s.opts.model = Some("my-local-model".into());
    s.opts.max_cost = Some(1.0);
    let handle = s.spawn("t", Supervision::Headless);
    let log = handle.log_path.clone();
    assert_eq!(finish(handle).await.outcome, Outcome::Done);
    let events = logged_events(&log);
    let w = pos(
        &events,
        "a price warning",
        |k| matches!(k, EventKind::Warning { message } if message.contains("my-local-model") && message.contains("counts as 0")),
    );
    let usage = pos(&events, "usage", |k| matches!(k, EventKind::Usage { priced: false, .. }));
    assert!(w < usage);
}
