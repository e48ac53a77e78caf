#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! The bundled demo, run through the real runtime without a terminal: it must show every
//! feature, follow a supervisor's correction, and survive the supervisor's keys.

mod common;

use std::path::PathBuf;

use common::{finish, kinds, logged_events, wait_for};
use endure::agent::{self, AgentHandle, Supervision};
use endure::protocol::{Command, Event, EventKind, Outcome, PickedBy};

struct Demo {
    _dir: tempfile::TempDir,
    workspace: PathBuf,
    script: PathBuf,
}

impl Demo {
    fn new() -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let (workspace, script) = endure::demo::materialize(&dir.path().join("demo")).unwrap();
        Demo { _dir: dir, workspace, script }
    }

    /// The session `endure demo` runs (supervised, so that the dream is proposed), at speed 0,
    /// with the demo's director.
    fn spawn(&self) -> AgentHandle {
        let opts = endure::demo::options(self.script.clone(), Some(0.0));
        let cfg = endure::launch::agent_config(&self.workspace, &opts, Some(endure::demo::task()), Supervision::Supervised, 0.0).unwrap();
        let handle = agent::spawn(cfg).unwrap();
        endure::demo::direct(&handle).expect("the runtime is running");
        handle
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.workspace.join(rel)).unwrap()
    }
}

/// `endure rollback` on a finished session. A process another test forks at that moment holds
/// a copy of the session's lock until it execs, so a held lock is tried again, with a deadline.
async fn rollback_when_free(workspace: &std::path::Path, session: &str, to: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match agent::rollback_session(workspace, session, to) {
            Ok(_) => return,
            Err(agent::AgentError::Locked(_)) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("rollback: {e}"),
        }
    }
}

fn no_missing_answers(events: &[Event]) {
    for e in events {
        if let EventKind::Warning { message } = &e.kind {
            assert!(!message.contains("has no answer"), "{message}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_shows_every_feature_and_can_be_rolled_back_after_the_run() {
    let demo = Demo::new();
    let original = demo.read("textstats/stats.py");
    let handle = demo.spawn();
    let (log, session) = (handle.log_path.clone(), handle.session_id.clone());
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    let events = logged_events(&log);
    no_missing_answers(&events);

    // A memory proposal: the dream at session start.
    assert!(
        events.iter().any(|e| matches!(&e.kind, EventKind::MemoryProposed { source, diff, .. } if source == "dream" && !diff.is_empty())),
        "{:?}",
        kinds(&events)
    );
    // Checkpoints at 20, 45 and 70% of the small budget, in that order, then one rollover.
    let first_cycle: Vec<u32> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::CheckpointSaved { cycle: 1, threshold_pct, .. } => Some(*threshold_pct),
            _ => None,
        })
        .collect();
    assert!(first_cycle.starts_with(&[20, 45, 70]), "{first_cycle:?}");
    let rollovers = events.iter().filter(|e| matches!(e.kind, EventKind::Rollover { .. })).count();
    assert_eq!(rollovers, 1, "{:?}", kinds(&events));
    let info = events.iter().find_map(|e| match &e.kind {
        EventKind::SessionStarted { info } => Some(info.context_budget),
        _ => None,
    });
    assert_eq!(info, Some(endure::demo::CONTEXT_BUDGET));

    // A Max Mode step: 3 to 5 candidates, the judge's verdict, and its pick.
    let picked = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::CandidatePicked { step, pick, by: PickedBy::Judge } => Some((*step, *pick)),
            _ => None,
        })
        .expect("a candidate picked by the judge");
    let candidates = events.iter().filter(|e| matches!(&e.kind, EventKind::CandidateProposed { step, .. } if *step == picked.0)).count();
    assert!((3..=5).contains(&candidates), "{candidates} candidates");
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::JudgeVerdict { step, pick, reason } if (*step, *pick) == picked && !reason.is_empty()))
    );

    // The verifier rejects once, naming what is missing, then accepts.
    let verdicts: Vec<(bool, usize)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::VerifierVerdict { met, missing, .. } => Some((*met, missing.len())),
            _ => None,
        })
        .collect();
    assert_eq!(verdicts, [(false, 1), (true, 0)]);

    let fixed = demo.read("textstats/stats.py");
    assert!(fixed.contains("(lengths[middle - 1] + lengths[middle]) / 2"), "{fixed}");
    assert!(demo.read("tests/test_stats.py").contains("test_median_of_empty_text_is_zero"));

    // After the run: back to the first checkpoint, taken before any edit.
    let first = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::CheckpointSaved { id, threshold_pct: 20, .. } => Some(id.clone()),
            _ => None,
        })
        .unwrap();
    rollback_when_free(&demo.workspace, &session, &first).await;
    assert_eq!(demo.read("textstats/stats.py"), original);
    assert!(!demo.read("tests/test_stats.py").contains("test_median_of_empty_text_is_zero"));
    let after = logged_events(&log);
    assert!(matches!(&after.last().unwrap().kind, EventKind::RolledBack { to, .. } if *to == first));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delivered_correction_switches_the_demo_agent_to_its_branch() {
    let demo = Demo::new();
    let mut handle = demo.spawn();
    let log = handle.log_path.clone();
    let mut rx = handle.take_events();
    wait_for(&mut rx, "step 2", |k| matches!(k, EventKind::StepStarted { step: 2 })).await;
    handle.commands.send(Command::Inject("Keep the docstrings in British English.".into())).unwrap();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    let events = logged_events(&log);
    no_missing_answers(&events);

    let delivered = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::CorrectionDelivered { step, .. } => Some(*step),
            _ => None,
        })
        .expect("the correction was delivered");
    let answers: Vec<(u64, &str, Vec<&str>)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::AssistantMessage { step, text, tool_calls, .. } => {
                Some((*step, text.as_str(), tool_calls.iter().map(|c| c.name.as_str()).collect()))
            }
            _ => None,
        })
        .collect();
    // The step the correction reached answers from the branch, with the correction's words.
    let (_, text, calls) = answers.iter().find(|(s, _, _)| *s == delivered).unwrap();
    assert!(text.contains("Following your correction: \"Keep the docstrings in British English.\""), "{text}");
    assert_eq!(calls, &["write_file"]);
    assert_eq!(demo.read("NOTES.md"), "# Supervisor notes\n\n- Keep the docstrings in British English.\n");
    // Then the script goes on where it was: no answer of it skipped or repeated (the Max Mode
    // judge picks the step's own answer).
    let scenario = endure::model::scripted::Scenario::parse(endure::demo::SCENARIO, false).unwrap();
    let main: Vec<&str> = answers.iter().filter(|(s, _, _)| *s != delivered).map(|(_, t, _)| *t).collect();
    let expected: Vec<&str> = scenario.agent.iter().map(|a| a.text.as_str()).collect();
    assert_eq!(main, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn max_mode_throughout_and_an_early_rollover_never_break_the_demo() {
    let demo = Demo::new();
    let mut handle = demo.spawn();
    let log = handle.log_path.clone();
    let mut rx = handle.take_events();
    // Five candidates from the first step on, and a rollover asked for early.
    handle.commands.send(Command::SetMaxMode(Some(5))).unwrap();
    wait_for(&mut rx, "step 2", |k| matches!(k, EventKind::StepStarted { step: 2 })).await;
    handle.commands.send(Command::Rollover).unwrap();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    let events = logged_events(&log);
    no_missing_answers(&events);
    assert!(events.iter().filter(|e| matches!(e.kind, EventKind::Rollover { .. })).count() >= 1);
    assert!(events.iter().any(|e| matches!(e.kind, EventKind::CandidateProposed { index: 5, .. })));
    // The supervisor turned Max Mode on: the demo leaves it on.
    assert!(!events.iter().any(|e| matches!(e.kind, EventKind::MaxModeChanged { candidates: None, .. })));
    assert!(demo.read("textstats/stats.py").contains("(lengths[middle - 1] + lengths[middle]) / 2"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_workbench_relay_rolls_back_mid_run_through_the_runtime_and_after_the_run_by_itself() {
    let demo = Demo::new();
    let original = demo.read("textstats/stats.py");
    let mut handle = demo.spawn();
    let log = handle.log_path.clone();
    let (mut ui, commands) = endure::agent::after_run::relay(&mut handle);
    async fn wait_ui(ui: &mut tokio::sync::mpsc::UnboundedReceiver<Event>, what: &str, pred: impl Fn(&EventKind) -> bool) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let ev = tokio::time::timeout_at(deadline, ui.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .unwrap_or_else(|| panic!("the relay closed waiting for {what}"));
            if pred(&ev.kind) {
                return;
            }
        }
    }

    // While the run goes, a rollback is the runtime's: it rolls back and pauses, and the
    // script carries on after the resume.
    wait_ui(&mut ui, "checkpoint 1.2", |k| matches!(k, EventKind::CheckpointSaved { threshold_pct: 45, .. })).await;
    commands.send(Command::Rollback("1.1".into())).unwrap();
    wait_ui(&mut ui, "the rollback", |k| matches!(k, EventKind::RolledBack { to, .. } if to == "1.1")).await;
    wait_ui(&mut ui, "the pause after it", |k| matches!(k, EventKind::Paused { .. })).await;
    commands.send(Command::Resume).unwrap();
    wait_ui(&mut ui, "the end", |k| matches!(k, EventKind::SessionFinished { .. })).await;
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    no_missing_answers(&logged_events(&log));
    assert_ne!(demo.read("textstats/stats.py"), original);

    // After the run, the relay does the rollback itself and passes on what it logged.
    commands.send(Command::Rollback("1.1".into())).unwrap();
    wait_ui(&mut ui, "the rollback after the run", |k| matches!(k, EventKind::RolledBack { to, .. } if to == "1.1")).await;
    assert_eq!(demo.read("textstats/stats.py"), original);
    let events = logged_events(&log);
    assert_eq!(events.iter().filter(|e| matches!(e.kind, EventKind::RolledBack { .. })).count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reject_or_an_accept_from_the_supervisor_at_any_step_never_breaks_the_demo() {
    for (accept, at) in [(false, 3), (false, 12), (true, 4)] {
        let demo = Demo::new();
        let mut handle = demo.spawn();
        let log = handle.log_path.clone();
        let mut rx = handle.take_events();
        wait_for(&mut rx, "the step", |k| matches!(k, EventKind::StepStarted { step } if *step == at)).await;
        handle.commands.send(Command::OverrideVerdict { accept, note: Some("Not yet: check the README too.".into()) }).unwrap();
        let result = finish(handle).await;
        assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
        let events = logged_events(&log);
        no_missing_answers(&events);
        assert!(events.iter().any(|e| matches!(&e.kind, EventKind::VerdictOverridden { accept: a, .. } if *a == accept)));
        if accept {
            assert_eq!(result.reason, "the supervisor accepted the work as done");
        }
    }
}
