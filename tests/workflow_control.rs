#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Supervising a workflow: pause, resume and stop per subagent and for the whole run (each
//! command's id echoed by the events it causes), the control socket of a workflow session,
//! `endure workflow run --detach`, and `--max-steps` / `--max-time` as caps on the session.
//! The scripted provider answers each subagent by its label; `--speed` keeps agents running
//! long enough to be commanded. Every wait polls with a deadline.

use std::path::PathBuf;
use std::process::{Command as Process, Output};
use std::time::{Duration, Instant};

use endure::protocol::{Command, Event, EventKind, Outcome};
use serde_json::{Value, json};
use tokio::sync::broadcast;

mod common;

use common::socket::RawClient;

const DEADLINE: Duration = Duration::from_secs(90);

/// Each label reads notes.txt `steps` times, then answers "<label> done".
fn scenario(agents: &[(&str, usize)]) -> String {
    let mut s = String::new();
    for (label, steps) in agents {
        for i in 0..*steps {
            s.push_str(&format!(
                "[[subagents.{label}.agent]]\ntext = \"Reading the notes, pass {i}.\"\n[[subagents.{label}.agent.tool_calls]]\nname = \"read_file\"\narguments = {{ path = \"notes.txt\" }}\n"
            ));
        }
        s.push_str(&format!(
            "[[subagents.{label}.agent]]\ntext = \"Done.\"\n[[subagents.{label}.agent.tool_calls]]\nname = \"done\"\narguments = {{ summary = \"{label} done\" }}\n"
        ));
    }
    s
}

struct Ws {
    dir: tempfile::TempDir,
    ws: PathBuf,
    pids: Vec<i32>,
}

impl Ws {
    fn new(scenario: &str, script: &str) -> Ws {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::write(ws.join("notes.txt"), "hello\n").unwrap();
        std::fs::write(dir.path().join("s.toml"), scenario).unwrap();
        std::fs::write(dir.path().join("flow.js"), script).unwrap();
        Ws { dir, ws, pids: Vec::new() }
    }

    fn scenario(&self) -> String {
        self.dir.path().join("s.toml").display().to_string()
    }

    fn flow(&self) -> String {
        self.dir.path().join("flow.js").display().to_string()
    }

    fn cmd(&self, args: &[&str]) -> Process {
        let mut c = Process::new(env!("CARGO_BIN_EXE_endure"));
        c.args(args)
            .current_dir(&self.ws)
            .env("ENDURE_CONFIG_DIR", self.dir.path().join("config"))
            .env("ENDURE_STATE_DIR", self.dir.path().join("state"))
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run endure")
    }

    fn session_dir(&self, id: &str) -> PathBuf {
        self.ws.join(".endure/sessions").join(id)
    }

    fn only_session(&self) -> String {
        let mut ids: Vec<String> = std::fs::read_dir(self.ws.join(".endure/sessions"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(ids.len(), 1, "{ids:?}");
        ids.remove(0)
    }

    fn log(&self, id: &str) -> Vec<Event> {
        endure::session::read_log(&self.session_dir(id).join("events.jsonl")).map(|r| r.events).unwrap_or_default()
    }

    fn outcome(&self, id: &str) -> Option<Outcome> {
        self.log(id).iter().find_map(|e| match &e.kind {
            EventKind::SessionFinished { outcome, .. } => Some(*outcome),
            _ => None,
        })
    }
}

impl Drop for Ws {
    fn drop(&mut self) {
        for pid in &self.pids {
            // SAFETY: a signal to a process this test started; harmless if it already ended.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
    }
}

/// The next event matching `pred`, with everything seen before it.
async fn wait_event(rx: &mut broadcast::Receiver<Event>, seen: &mut Vec<Event>, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => panic!("timed out waiting for {what}"),
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Err(broadcast::error::RecvError::Closed)) => panic!("the run ended before {what}"),
            Ok(Ok(ev)) => {
                seen.push(ev.clone());
                if pred(&ev) {
                    return ev;
                }
            }
        }
    }
}

const TWO_AGENTS: &str = r#"
phase("review");
const r = await parallel([
  () => agent("Read the notes", { label: "alpha" }),
  () => agent("Read the notes too", { label: "beta" }),
]);
return r.map((x) => (x instanceof Error ? "E:" + x.message : x));
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_stop_per_subagent_and_for_the_run_echo_their_command_ids() {
    let w = Ws::new(&scenario(&[("alpha", 12), ("beta", 200)]), TWO_AGENTS);
    let opts = endure::config::settings::RunOptions {
        provider: Some("scripted".into()),
        script: Some(PathBuf::from(w.scenario())),
        speed: Some(0.2),
        ..Default::default()
    };
    let cfg = endure::launch::agent_config(&w.ws, &opts, None, endure::agent::Supervision::Headless, 0.2).unwrap();
    let start = endure::workflow::session::Start::New { name: "flow.js".into(), script: TWO_AGENTS.into(), args: Value::Null };
    let mut handle = endure::workflow::session::start(cfg, start).unwrap();
    let rx = &mut handle.events;
    let mut seen = Vec::new();
    let (mut alpha, mut beta) = (None, None);
    while alpha.is_none() || beta.is_none() {
        let e = wait_event(rx, &mut seen, "the agents to start", |e| matches!(e.kind, EventKind::AgentStarted { .. })).await;
        if let EventKind::AgentStarted { agent, label, .. } = &e.kind {
            *(if label == "alpha" { &mut alpha } else { &mut beta }) = Some(*agent);
        }
    }
    let (alpha, beta) = (alpha.unwrap(), beta.unwrap());
    let step_of = |e: &Event, who: u64| matches!(&e.kind, EventKind::AgentStep { agent, .. } if *agent == who);
    wait_event(rx, &mut seen, "a step of alpha", |e| step_of(e, alpha)).await;

    // One agent pauses; the run's record of its pause echoes the id.
    let id = handle.commands.send(Command::ToAgent { target: alpha, command: Box::new(Command::Pause) }).unwrap();
    let paused =
        wait_event(rx, &mut seen, "alpha paused", |e| matches!(&e.kind, EventKind::AgentPaused { agent, .. } if *agent == alpha)).await;
    assert_eq!(paused.command_id.as_deref(), Some(id.as_str()));
    // The other goes on while it waits; the paused one takes no step.
    let from = seen.len();
    for _ in 0..2 {
        wait_event(rx, &mut seen, "beta steps on", |e| step_of(e, beta)).await;
    }
    assert!(!seen[from..].iter().any(|e| step_of(e, alpha)), "a paused agent takes no step");

    // One agent stops: its agent() call rejects and the run goes on.
    handle.commands.send(Command::ToAgent { target: beta, command: Box::new(Command::Stop) }).unwrap();
    wait_event(rx, &mut seen, "beta failed", |e| matches!(&e.kind, EventKind::AgentFailed { agent, .. } if *agent == beta)).await;
    // A command for an agent that no longer runs says so, under its id.
    let late = handle.commands.send(Command::ToAgent { target: beta, command: Box::new(Command::Pause) }).unwrap();
    let warned = wait_event(rx, &mut seen, "the dropped command's warning", |e| matches!(e.kind, EventKind::Warning { .. })).await;
    assert_eq!(warned.command_id.as_deref(), Some(late.as_str()));

    // The whole run pauses and resumes; resuming it resumes every agent, alpha included.
    let pause = handle.commands.send(Command::Pause).unwrap();
    let wp = wait_event(rx, &mut seen, "the run paused", |e| matches!(e.kind, EventKind::WorkflowPaused { .. })).await;
    assert_eq!(wp.command_id.as_deref(), Some(pause.as_str()));
    let resume = handle.commands.send(Command::Resume).unwrap();
    let wr = wait_event(rx, &mut seen, "the run resumed", |e| matches!(e.kind, EventKind::WorkflowResumed { .. })).await;
    assert_eq!(wr.command_id.as_deref(), Some(resume.as_str()));
    let ar =
        wait_event(rx, &mut seen, "alpha resumed", |e| matches!(&e.kind, EventKind::AgentResumed { agent, .. } if *agent == alpha)).await;
    assert_eq!(ar.command_id.as_deref(), Some(resume.as_str()));

    let end = tokio::time::timeout(DEADLINE, handle.join).await.unwrap().unwrap();
    assert_eq!(end.outcome, Outcome::Done, "{}", end.reason);
    let result = end.result.unwrap();
    assert_eq!(result[0], json!("alpha done"));
    let beta_error = result[1].as_str().unwrap();
    assert!(beta_error.starts_with("E:") && beta_error.contains("stopped"), "{beta_error}");
    // beta's own log ends with its stop, well before its 200 steps.
    let id = w.only_session();
    let beta_log = endure::session::read_log(&w.session_dir(&id).join(format!("agents/{beta}/events.jsonl"))).unwrap().events;
    let last = beta_log.iter().rev().find_map(|e| match &e.kind {
        EventKind::SessionFinished { outcome, .. } => Some(*outcome),
        _ => None,
    });
    assert_eq!(last, Some(Outcome::Stopped));
    let steps = beta_log.iter().filter(|e| matches!(e.kind, EventKind::StepFinished { .. })).count();
    assert!(steps < 200, "{steps}");
}

#[test]
fn a_detached_workflow_serves_its_control_socket_and_stops_on_request() {
    let mut w = Ws::new(&scenario(&[("alpha", 300)]), "return await agent('Read the notes', { label: 'alpha' });");
    let (flow, answers) = (w.flow(), w.scenario());
    let out = w.run(&["workflow", "run", &flow, "--detach", "--provider", "scripted", "--script", &answers, "--speed", "0.2"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(id, w.only_session());
    let entry = std::fs::read_to_string(w.dir.path().join("state/running").join(format!("{id}.json"))).expect("registered");
    let entry: Value = serde_json::from_str(&entry).unwrap();
    w.pids.push(entry["pid"].as_i64().unwrap() as i32);
    assert_eq!(entry["task"], json!("workflow flow.js"));
    let ps = w.run(&["ps", "--json"]);
    assert!(String::from_utf8_lossy(&ps.stdout).contains(&id), "{}", String::from_utf8_lossy(&ps.stdout));

    // The socket is served from the start: its backlog, then live events, and commands.
    let socket = w.session_dir(&id).join("control.sock");
    let mut client = RawClient::connect(&socket, "wf-test");
    client.send(&json!({"type": "subscribe", "from": 0}));
    client.wait_event("workflow_started");
    client.wait_event("agent_step");
    client.send(&json!({"type": "command", "command": {"type": "pause"}}));
    let received = client.wait_event("command_received");
    let paused = client.wait_event("workflow_paused");
    assert!(received["command_id"].as_str().is_some_and(|c| c.starts_with("wf-test")), "{received}");
    assert_eq!(paused["command_id"], received["command_id"]);

    let stop = w.run(&["stop", &id]);
    assert_eq!(stop.status.code(), Some(0), "{}", String::from_utf8_lossy(&stop.stderr));
    common::wait_until("the detached run to end", 60, || w.outcome(&id).is_some());
    assert_eq!(w.outcome(&id), Some(Outcome::Stopped));
    common::wait_until("the background run to exit", 60, || endure::session::lock::SessionLock::holder(&w.session_dir(&id)).is_none());
    // The socket is removed right after the run lets go of its lock.
    common::wait_until("the socket to be removed", 60, || !socket.exists());
    let steps = w.log(&id).iter().filter(|e| matches!(e.kind, EventKind::AgentStep { .. })).count();
    assert!(steps < 300, "stopped early: {steps}");
}

#[test]
fn max_steps_and_max_time_cap_a_workflow_session() {
    let script = "return await parallel([() => agent('Read', { label: 'alpha' }), () => agent('Read too', { label: 'beta' })]);";
    let w = Ws::new(&scenario(&[("alpha", 300), ("beta", 300)]), script);
    let (flow, answers) = (w.flow(), w.scenario());
    let out = w.run(&["workflow", "run", &flow, "--provider", "scripted", "--script", &answers, "--speed", "0.2", "--max-steps", "4"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let id = w.only_session();
    let log = w.log(&id);
    let cap = log.iter().find_map(|e| match &e.kind {
        EventKind::BudgetStop { budget, used, limit } => Some((budget.as_str(), *used, *limit)),
        _ => None,
    });
    let (kind, used, limit) = cap.expect("a budget_stop");
    assert_eq!((kind, limit), ("steps", 4.0));
    assert!(used >= 4.0);
    assert_eq!(w.outcome(&id), Some(Outcome::Budget));
    let steps = log.iter().filter(|e| matches!(e.kind, EventKind::AgentStep { .. })).count();
    assert!(steps < 600, "{steps}");

    let w = Ws::new(&scenario(&[("alpha", 300)]), "return await agent('Read', { label: 'alpha' });");
    let (flow, answers) = (w.flow(), w.scenario());
    let started = Instant::now();
    let out = w.run(&["workflow", "run", &flow, "--provider", "scripted", "--script", &answers, "--speed", "0.2", "--max-time", "2s"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(started.elapsed() < DEADLINE);
    let id = w.only_session();
    let stop = w.log(&id).iter().find_map(|e| match &e.kind {
        EventKind::BudgetStop { budget, limit, .. } => Some((budget.as_str(), *limit)),
        _ => None,
    });
    assert_eq!(stop, Some(("time", 2.0)));
    assert_eq!(w.outcome(&id), Some(Outcome::Budget));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_agent_replays_its_earlier_events_to_the_frontends() {
    let w = Ws::new(&scenario(&[("alpha", 40)]), "return await agent('Read the notes', { label: 'alpha' });");
    let (flow, answers) = (w.flow(), w.scenario());
    let mut child = w.cmd(&["workflow", "run", &flow, "--provider", "scripted", "--script", &answers, "--speed", "0.2"]).spawn().unwrap();
    let steps = |w: &Ws| {
        let Ok(entries) = std::fs::read_dir(w.ws.join(".endure/sessions")) else { return 0 };
        let Some(dir) = entries.flatten().next() else { return 0 };
        let log = endure::session::read_log(&dir.path().join("agents/1/events.jsonl")).map(|r| r.events).unwrap_or_default();
        log.iter().filter(|e| matches!(e.kind, EventKind::StepFinished { .. })).count()
    };
    common::wait_until("two steps of alpha", 60, || steps(&w) >= 2);
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();

    let id = w.only_session();
    let opts = endure::config::settings::RunOptions {
        provider: Some("scripted".into()),
        script: Some(PathBuf::from(&answers)),
        speed: Some(0.0),
        ..Default::default()
    };
    let mut cfg = endure::launch::agent_config(&w.ws, &opts, None, endure::agent::Supervision::Headless, 0.0).unwrap();
    cfg.session_id = Some(id.clone());
    let mut handle = endure::workflow::session::start(cfg, endure::workflow::session::Start::Resume).unwrap();
    let mut seen = Vec::new();
    let inner = |e: &Event| match &e.kind {
        EventKind::SubagentEvent { event, .. } => Some(event.kind.clone()),
        _ => None,
    };
    let first = wait_event(&mut handle.events, &mut seen, "alpha's events", |e| inner(e).is_some()).await;
    assert!(matches!(inner(&first), Some(EventKind::SessionStarted { .. })), "its history comes first, from the top: {first:?}");
    wait_event(&mut handle.events, &mut seen, "its first step, from the killed process", |e| {
        matches!(inner(e), Some(EventKind::StepFinished { step: 1 }))
    })
    .await;
    let end = tokio::time::timeout(DEADLINE, handle.join).await.unwrap().unwrap();
    assert_eq!(end.result, Some(json!("alpha done")), "{}", end.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervised_workflow_session_pauses_at_max_steps_and_resuming_runs_past_it() {
    // At 0.2 s or more a step, the pause lands long before the agent's last step.
    let w = Ws::new(&scenario(&[("alpha", 12)]), "return await agent('Read the notes', { label: 'alpha' });");
    let opts = endure::config::settings::RunOptions {
        provider: Some("scripted".into()),
        script: Some(PathBuf::from(w.scenario())),
        speed: Some(0.2),
        max_steps: Some(3),
        ..Default::default()
    };
    let cfg = endure::launch::agent_config(&w.ws, &opts, None, endure::agent::Supervision::Supervised, 0.2).unwrap();
    let script = "return await agent('Read the notes', { label: 'alpha' });";
    let start = endure::workflow::session::Start::New { name: "flow.js".into(), script: script.into(), args: Value::Null };
    let mut handle = endure::workflow::session::start(cfg, start).unwrap();
    let mut seen = Vec::new();
    let stop = wait_event(&mut handle.events, &mut seen, "the steps cap", |e| matches!(e.kind, EventKind::BudgetStop { .. })).await;
    assert!(matches!(stop.kind, EventKind::BudgetStop { budget: endure::protocol::BudgetKind::Steps, limit, .. } if limit == 3.0));
    let paused = wait_event(&mut handle.events, &mut seen, "the run paused", |e| matches!(e.kind, EventKind::WorkflowPaused { .. })).await;
    let EventKind::WorkflowPaused { reason, .. } = &paused.kind else { unreachable!() };
    assert!(reason.starts_with("budget: steps"), "{reason}");
    wait_event(&mut handle.events, &mut seen, "the agent paused", |e| matches!(e.kind, EventKind::AgentPaused { .. })).await;
    handle.commands.send(Command::Resume).unwrap();
    let end = tokio::time::timeout(DEADLINE, handle.join).await.unwrap().unwrap();
    assert_eq!((end.outcome, end.result), (Outcome::Done, Some(json!("alpha done"))), "{}", end.reason);
}
