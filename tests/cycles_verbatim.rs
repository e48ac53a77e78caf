#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! The user's own words survive every rollover, whatever the checkpoint writer does: a writer
//! that paraphrases the task and drops its number, over several rollovers, on the real wire
//! format through the loopback server, asserting on the request bodies themselves.

mod common;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{finish, logged_events};
use endure::agent::{self, Supervision};
use endure::config::settings::RunOptions;
use endure::model::scripted::{Answer, Scenario, ScriptedCall};
use endure::protocol::{EventKind, Outcome, Role};
use serde_json::json;
use support::{Recorded, TestServer};

const TASK: &str = "Advance the counter to 60, one step at a time";
const GOAL: &str = "counter.txt reads 60 and every step was logged";
const PARAPHRASE: &str = "Advance the counter to the end, one step at a time";
const STEPS: usize = 40;

fn big_file() -> String {
    (0..120).map(|i| format!("pub fn function_{i}(input: &str) -> usize {{ input.len() + {i} }}\n")).collect()
}

/// The agent reads the file STEPS times, then claims done; counted per request, since a
/// rebuilt window has fewer turns than the session had.
fn agent(counter: Arc<AtomicUsize>) -> impl Fn(&Recorded) -> Answer + Send + Sync {
    move |_| {
        let i = counter.fetch_add(1, Ordering::SeqCst);
        let (name, args) =
            if i < STEPS { ("read_file", json!({"path": "big.txt"})) } else { ("done", json!({"summary": "counter at 60"})) };
        Answer {
            text: format!("Step {i}: one more step."),
            tool_calls: vec![ScriptedCall { name: name.into(), arguments: Some(args.to_string()), ..Default::default() }],
            usage: None,
        }
    }
}

/// A writer that always paraphrases the task and loses its number, even when asked again.
fn writer(_: &Recorded) -> Answer {
    let cp = json!({
        "active_intent": PARAPHRASE,
        "next_action": "read the next part",
        "directives": [],
        "task_tree": ["count up"],
        "current_work": "counting",
        "files": ["big.txt: the module"],
        "knowledge": [],
        "errors_and_fixes": [],
        "live_resources": "",
        "decisions": [],
        "open_notes": "",
        "memory_updates": {}
    });
    Answer { text: cp.to_string(), ..Default::default() }
}

fn body(r: &Recorded) -> String {
    serde_json::to_string(&r.body).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paraphrasing_writer_never_takes_the_task_out_of_the_window_or_the_verifier_request() {
    let counter = Arc::new(AtomicUsize::new(0));
    let verdict = Answer { text: r#"{"met": true, "missing": [], "evidence": ["counter at 60"]}"#.into(), ..Default::default() };
    let server = TestServer::builder()
        .scenario(Scenario { verifier: vec![verdict; 4], ..Default::default() })
        .role_model(Role::Writer, "writer-model")
        .role_model(Role::Verifier, "verifier-model")
        .responder(Role::Agent, agent(counter))
        .responder(Role::Writer, writer)
        .start()
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.txt"), big_file()).unwrap();
    let opts = RunOptions {
        provider: Some("openai".into()),
        base_url: Some(server.base_url_openai()),
        model: Some("scripted".into()),
        writer_model: Some("writer-model".into()),
        verifier_model: Some("verifier-model".into()),
        context_budget: Some(12_000),
        goal: Some(GOAL.into()),
        max_attempts: Some(2),
        retry_base_ms: Some(10),
        ..Default::default()
    };
    let cfg = endure::launch::agent_config(dir.path(), &opts, Some(TASK.into()), Supervision::Headless, 0.0).unwrap();
    let handle = agent::spawn(cfg).unwrap();
    let log = handle.log_path.clone();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    let events = logged_events(&log);

    // Several rollovers, each from a checkpoint whose intent lost "60".
    let rollovers: Vec<_> = events.iter().filter(|e| matches!(e.kind, EventKind::Rollover { .. })).collect();
    assert!(rollovers.len() >= 3, "{} rollovers", rollovers.len());
    for r in &rollovers {
        let EventKind::Rollover { window, window_tokens, dropped, cycle, origins, .. } = &r.kind else { unreachable!() };
        let header = serde_json::to_string(&window[0]).unwrap();
        assert!(header.contains(TASK) && header.contains(GOAL), "cycle {cycle}: the user's words are missing:\n{header}");
        assert!(header.contains("The user's own words"), "cycle {cycle}: the block is marked as the user's");
        assert!(*window_tokens <= 6_000, "cycle {cycle}: {window_tokens} tokens over min(65,000, budget/2)");
        // What left the window is recorded.
        let d = dropped.as_ref().unwrap_or_else(|| panic!("cycle {cycle}: nothing recorded as dropped"));
        assert!(d.messages > 0 && d.tokens > 0 && d.tool_calls.get("read_file").is_some_and(|n| *n > 0), "{d:?}");
        assert!(d.from_step <= d.to_step && d.from_seq <= d.to_seq && d.seqs.first() == Some(&d.from_seq), "{d:?}");
        assert!(d.seqs.iter().all(|s| *s < r.seq), "dropped messages come from earlier events");
        assert_eq!(origins.len(), window.len(), "every window message says where it came from");
    }
    let saved: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::CheckpointSaved { checkpoint, .. } => Some(checkpoint.active_intent.clone()),
            _ => None,
        })
        .collect();
    assert!(saved.iter().all(|i| serde_json::to_string(i).unwrap().contains("to the end")), "the writer paraphrased every time");

    // Every request the agent made carries the exact task, the rebuilt ones included.
    let agent_requests: Vec<Recorded> = server.requests().into_iter().filter(|r| r.model() == "scripted").collect();
    assert_eq!(agent_requests.len(), STEPS + 1);
    let rebuilt = agent_requests.iter().filter(|r| body(r).contains("[endure: context rebuilt]")).count();
    assert!(rebuilt >= rollovers.len(), "{rebuilt} requests from rebuilt windows");
    for (i, r) in agent_requests.iter().enumerate() {
        assert!(body(r).contains(TASK), "agent request {i} lacks the exact task");
        assert!(!body(r).contains(PARAPHRASE) || body(r).contains(TASK), "request {i}");
    }

    // The verifier, after the rollovers, gets the user's words verbatim too.
    let verifier: Vec<Recorded> = server.requests().into_iter().filter(|r| r.model() == "verifier-model").collect();
    assert_eq!(verifier.len(), 1);
    let v = body(&verifier[0]);
    assert!(v.contains(TASK) && v.contains(GOAL) && v.contains("context window was rebuilt"), "{v}");

    // The writer was checked: asked again quoting what was lost, then flagged.
    let writer_requests: Vec<String> = server.requests().iter().filter(|r| r.model() == "writer-model").map(body).collect();
    let retries: Vec<&String> = writer_requests.iter().filter(|b| b.contains("lost the user's own words")).collect();
    assert!(!retries.is_empty() && retries.iter().all(|b| b.contains(r#"\"60\""#)), "the retry quotes what was lost");
    let flagged = events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::CheckpointFlagged { flags, .. } if flags.iter().any(|f| f.kind == "intent_drift" && f.detail.contains("\"60\""))))
        .count();
    assert_eq!(flagged, saved.len(), "every checkpoint that lost 60 is flagged");
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::Warning { message } if message.contains("asked once more"))));

    // Replay folds to what the runtime had.
    assert_eq!(endure::session::SessionState::from_events(&events), *result.state);
}
