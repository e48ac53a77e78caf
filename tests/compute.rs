#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Max Mode and the Goal verifier end to end, over the loopback server's real wire format.

mod common;
mod support;

use std::time::Duration;

use common::{finish, logged_events, pos, wait_for};
use endure::agent::{self, Supervision};
use endure::config::settings::RunOptions;
use endure::model::scripted::{Answer, Scenario, ScriptedCall};
use endure::protocol::{Command, Event, EventKind, Outcome, PauseReason, PickedBy, Role};
use serde_json::json;
use support::{Recorded, TestServer, TestServerBuilder};

fn call(name: &str, args: serde_json::Value) -> ScriptedCall {
    ScriptedCall { name: name.into(), arguments: Some(args.to_string()), ..Default::default() }
}

fn answer(text: &str, calls: Vec<ScriptedCall>) -> Answer {
    Answer { text: text.into(), tool_calls: calls, usage: None }
}

fn write(content: &str, marker: &str) -> Answer {
    answer(&format!("Writing the value. {marker}"), vec![call("write_file", json!({"path": "value.txt", "content": content}))])
}

fn done(summary: &str) -> Answer {
    answer("Finished.", vec![call("done", json!({"summary": summary}))])
}

fn verdict(met: bool, missing: &[&str]) -> Answer {
    Answer { text: json!({"met": met, "missing": missing, "evidence": ["value.txt was written"]}).to_string(), ..Default::default() }
}

fn builder() -> TestServerBuilder {
    TestServer::builder().role_model(Role::Verifier, "verifier-model").role_model(Role::Judge, "judge-model")
}

/// A judge that reads the candidates it was shown and picks the one carrying `marker`.
fn judge_picking(marker: &'static str) -> impl Fn(&Recorded) -> Answer + Send + Sync {
    move |rec| {
        let prompt = rec.body.to_string();
        let pick = (1..=9)
            .find(|i| {
                prompt.split(&format!("Candidate {i}")).nth(1).is_some_and(|rest| {
                    let end = rest.find(&format!("Candidate {}", i + 1)).unwrap_or(rest.len());
                    rest[..end].contains(marker)
                })
            })
            .unwrap_or(1);
        Answer { text: json!({"pick": pick, "reason": format!("it does what {marker} asks")}).to_string(), ..Default::default() }
    }
}

fn opts(server: &TestServer) -> RunOptions {
    RunOptions {
        provider: Some("openai".into()),
        base_url: Some(server.base_url_openai()),
        model: Some("agent-model".into()),
        verifier_model: Some("verifier-model".into()),
        judge_model: Some("judge-model".into()),
        max_attempts: Some(2),
        retry_base_ms: Some(10),
        ..Default::default()
    }
}

fn spawn(opts: &RunOptions, supervision: Supervision) -> (tempfile::TempDir, agent::AgentHandle) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = endure::launch::agent_config(dir.path(), opts, Some("set the value".into()), supervision, 0.0).unwrap();
    let handle = agent::spawn(cfg).unwrap();
    (dir, handle)
}

fn agent_requests(server: &TestServer) -> Vec<Recorded> {
    server.requests().into_iter().filter(|r| r.model() == "agent-model").collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn max_mode_asks_n_candidates_then_one_judge_and_runs_only_the_pick() {
    let server = builder()
        .scenario(Scenario { verifier: vec![verdict(true, &[])], ..Default::default() })
        .candidates(0, vec![write("one\n", "alpha"), write("two\n", "PICK-ME"), write("three\n", "gamma")])
        .candidates(1, vec![done("value set"), done("value set"), done("value set")])
        .responder(Role::Judge, judge_picking("PICK-ME"))
        .start()
        .await;
    let mut o = opts(&server);
    o.max_mode = Some(3);
    o.candidate_temperature = Some(0.9);
    let (dir, handle) = spawn(&o, Supervision::Headless);
    let log = handle.log_path.clone();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);

    // Three candidate requests per step at the candidate temperature, then one judge request.
    let agent = agent_requests(&server);
    assert_eq!(agent.len(), 6);
    assert!(agent.iter().all(|r| r.body["temperature"].as_f64().is_some_and(|t| (t - 0.9).abs() < 1e-6)));
    let judges: Vec<Recorded> = server.requests().into_iter().filter(|r| r.model() == "judge-model").collect();
    assert_eq!(judges.len(), 2);
    assert_eq!(judges[0].body["temperature"].as_f64(), Some(0.0));
    assert!(judges[0].body.to_string().contains("set the value"), "the judge sees the task");
    let order: Vec<String> = server.requests().iter().take(4).map(|r| r.model().to_string()).collect();
    assert_eq!(order, ["agent-model", "agent-model", "agent-model", "judge-model"], "the judge asks after the candidates");

    // Only the pick's edit landed.
    assert_eq!(std::fs::read_to_string(dir.path().join("value.txt")).unwrap(), "two\n");
    let events = logged_events(&log);
    assert_eq!(events.iter().filter(|e| matches!(e.kind, EventKind::CandidateProposed { step: 1, .. })).count(), 3);
    let picked = pos(&events, "the pick", |k| matches!(k, EventKind::CandidatePicked { step: 1, .. }));
    let EventKind::CandidatePicked { pick, by, .. } = &events[picked].kind else { unreachable!() };
    assert_eq!(*by, PickedBy::Judge);
    let EventKind::CandidateProposed { text, .. } =
        &events.iter().find(|e| matches!(&e.kind, EventKind::CandidateProposed { step: 1, index, .. } if index == pick)).unwrap().kind
    else {
        unreachable!()
    };
    assert!(text.contains("PICK-ME"));
    // Losing candidates and the judge are overhead: counted in cost, never in the window.
    let overhead = events.iter().filter(|e| matches!(e.kind, EventKind::Usage { overhead: true, .. })).count();
    assert_eq!(overhead, 2 * 2 + 2, "two losers and one judge per step");
    assert!(result.state.overhead.requests >= 6);
    let last_agent = events
        .iter()
        .rev()
        .find_map(|e| match e.kind {
            EventKind::Usage { role: Role::Agent, overhead: false, prompt_tokens, completion_tokens, .. } => {
                Some(prompt_tokens + completion_tokens)
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(result.state.window_tokens, last_agent);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_supervisors_pick_overrides_the_judges() {
    let server = builder()
        .scenario(Scenario { verifier: vec![verdict(true, &[])], ..Default::default() })
        .candidates(0, vec![write("one\n", "PICK-ME"), write("two\n", "beta")])
        .candidates(1, vec![done("v"), done("v")])
        .responder(Role::Judge, judge_picking("PICK-ME"))
        .start()
        .await;
    let mut o = opts(&server);
    o.max_mode = Some(2);
    o.review_picks = Some(true);
    let (dir, mut handle) = spawn(&o, Supervision::Supervised);
    let log = handle.log_path.clone();
    let mut rx = handle.take_events();
    let judged = wait_for(&mut rx, "the judge", |k| matches!(k, EventKind::JudgeVerdict { .. })).await;
    let EventKind::JudgeVerdict { pick, .. } = judged.kind else { unreachable!() };
    // Waiting for the supervisor: nothing executes yet.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!dir.path().join("value.txt").exists());
    let other = if pick == 1 { 2 } else { 1 };
    handle.commands.send(Command::PickCandidate(other)).unwrap();
    wait_for(&mut rx, "the second step's judge", |k| matches!(k, EventKind::JudgeVerdict { step: 2, .. })).await;
    handle.commands.send(Command::PickCandidate(1)).unwrap();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    assert_eq!(std::fs::read_to_string(dir.path().join("value.txt")).unwrap(), "two\n", "the supervisor's pick ran");
    let events = logged_events(&log);
    pos(&events, "a supervisor pick", |k| matches!(k, EventKind::CandidatePicked { step: 1, by: PickedBy::Supervisor, .. }));
    assert!(result.state.interventions.contains(&1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_done_continues_and_the_missing_items_reach_the_agent() {
    let server = builder()
        .scenario(Scenario {
            agent: vec![done("value set"), write("42\n", ""), done("value set and checked")],
            verifier: vec![verdict(false, &["value.txt does not exist: write 42 to it"]), verdict(true, &[])],
            ..Default::default()
        })
        .start()
        .await;
    let (dir, handle) = spawn(&opts(&server), Supervision::Headless);
    let log = handle.log_path.clone();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    assert_eq!(std::fs::read_to_string(dir.path().join("value.txt")).unwrap(), "42\n");
    let agent = agent_requests(&server);
    let second = agent[1].body.to_string();
    assert!(second.contains("value.txt does not exist: write 42 to it"), "{second}");
    assert!(!agent[0].body.to_string().contains("write 42"));
    let verifier: Vec<Recorded> = server.requests().into_iter().filter(|r| r.model() == "verifier-model").collect();
    assert_eq!(verifier.len(), 2);
    assert_eq!(verifier[0].body["temperature"].as_f64(), Some(0.0));
    // The verifier judged the transcript as native messages, tool calls and results included.
    assert!(verifier[1].body["messages"].as_array().unwrap().iter().any(|m| m["role"] == "tool"));
    let events = logged_events(&log);
    assert_eq!(events.iter().filter(|e| matches!(e.kind, EventKind::VerifierVerdict { .. })).count(), 2);
}

fn rejecting(n: usize, same: bool) -> Scenario {
    Scenario {
        agent: (0..n).map(|i| done(&format!("attempt {i}"))).collect(),
        verifier: (0..n).map(|i| if same { verdict(false, &["tests"]) } else { verdict(false, &[&format!("item {i}")]) }).collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn k_rejections_in_a_row_stop_a_headless_run_with_exit_code_2() {
    let server = builder().scenario(rejecting(5, false)).start().await;
    let mut o = opts(&server);
    o.max_rejections = Some(2);
    let (_dir, handle) = spawn(&o, Supervision::Headless);
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Stalled, "exit code 2: {}", result.reason);
    assert!(result.reason.contains("rejected done 2 times in a row"), "{}", result.reason);
}

#[tokio::test]
async fn two_identical_verdicts_in_a_row_stop_the_loop() {
    let server = builder().scenario(rejecting(5, true)).start().await;
    let (_dir, handle) = spawn(&opts(&server), Supervision::Headless);
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Stalled);
    assert!(result.reason.contains("same verdict twice"), "{}", result.reason);
}

#[tokio::test(flavor = "multi_thread")]
async fn k_rejections_pause_a_supervised_run_and_an_override_ends_it() {
    let server = builder().scenario(rejecting(5, false)).start().await;
    let mut o = opts(&server);
    o.max_rejections = Some(2);
    let (_dir, mut handle) = spawn(&o, Supervision::Supervised);
    let mut rx = handle.take_events();
    wait_for(&mut rx, "a verifier pause", |k| matches!(k, EventKind::Paused { reason: PauseReason::Verifier { .. } })).await;
    handle.commands.send(Command::OverrideVerdict { accept: true, note: None }).unwrap();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done);
    assert_eq!(server.requests().iter().filter(|r| r.model() == "verifier-model").count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn rejecting_a_verdict_with_a_note_continues_the_run_with_the_note() {
    let server = builder()
        .scenario(Scenario {
            agent: vec![done("first"), write("x\n", ""), done("second")],
            verifier: vec![verdict(false, &["value.txt"]), verdict(true, &[])],
            ..Default::default()
        })
        .start()
        .await;
    let mut o = opts(&server);
    o.max_rejections = Some(1);
    let (dir, mut handle) = spawn(&o, Supervision::Supervised);
    let mut rx = handle.take_events();
    wait_for(&mut rx, "a verifier pause", |k| matches!(k, EventKind::Paused { reason: PauseReason::Verifier { .. } })).await;
    handle.commands.send(Command::OverrideVerdict { accept: false, note: Some("Also write value.txt.".into()) }).unwrap();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    assert!(dir.path().join("value.txt").exists(), "the run continued after the rejection");
    let later: Vec<String> = agent_requests(&server).iter().map(|r| r.body.to_string()).collect();
    assert!(later.iter().any(|b| b.contains("Also write value.txt.")), "the note reached the agent");
    assert_eq!(result.state.interventions.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn rejecting_a_verdict_while_the_agent_works_does_not_end_the_run() {
    let server = builder()
        .scenario(Scenario {
            agent: vec![
                done("first"),
                answer("Checking.", vec![call("run", json!({"command": "sleep 1"}))]),
                write("y\n", ""),
                done("second"),
            ],
            verifier: vec![verdict(false, &["check again"]), verdict(true, &[])],
            ..Default::default()
        })
        .start()
        .await;
    let (dir, mut handle) = spawn(&opts(&server), Supervision::Supervised);
    let mut rx = handle.take_events();
    wait_for(&mut rx, "the first verdict", |k| matches!(k, EventKind::VerifierVerdict { met: false, .. })).await;
    handle.commands.send(Command::OverrideVerdict { accept: false, note: Some("Write value.txt too.".into()) }).unwrap();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    assert!(dir.path().join("value.txt").exists());
    assert!(agent_requests(&server).iter().any(|r| r.body.to_string().contains("Write value.txt too.")));
}

#[tokio::test]
async fn an_unreadable_verdict_twice_fails_a_headless_run() {
    let server = builder()
        .scenario(Scenario {
            agent: vec![done("d")],
            verifier: vec![
                Answer { text: "Looks fine to me!".into(), ..Default::default() },
                Answer { text: "Yes.".into(), ..Default::default() },
            ],
            ..Default::default()
        })
        .start()
        .await;
    let (_dir, handle) = spawn(&opts(&server), Supervision::Headless);
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Failed);
    assert!(result.reason.contains("goal verifier"), "{}", result.reason);
}

#[allow(dead_code)]
fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.name()).collect()
}
