#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Commands carry ids and the events they cause echo them: corrections (queued, withdrawn),
//! memory saves and proposals. The runtime, not the workbench, writes MEMORY.md.

mod common;

use common::{Scripted, finish, logged_events, wait_for};
use endure::agent::Supervision;
use endure::protocol::{Command, EventKind, Outcome};

const STEPS: &str = r#"
[[agent]]
text = "Step one."
[[agent.tool_calls]]
name = "run"
arguments = { command = "echo one >> trace.txt" }

[[agent]]
text = "Finished."
[[agent.tool_calls]]
name = "done"
arguments = { summary = "wrote the trace" }
"#;

fn sha(s: &str) -> String {
    endure::workspace::sha256_hex(s.as_bytes())
}

#[tokio::test]
async fn events_echo_the_ids_of_the_commands_that_caused_them() {
    let s = Scripted::new(&[("MEMORY.md", "# Memory\n")], STEPS);
    let mut handle = s.spawn("write a trace", Supervision::Supervised);
    let log = handle.log_path.clone();
    let mut rx = handle.take_events();
    let pause = handle.commands.send(Command::Pause).unwrap();
    wait_for(&mut rx, "paused", |k| matches!(k, EventKind::Paused { .. })).await;

    let keep = handle.commands.send(Command::Inject("keep this".into())).unwrap();
    let drop = handle.commands.send(Command::Inject("keep this".into())).unwrap();
    assert_ne!(keep, drop, "ids are unique per client");
    let other = handle.commands.for_client("second");
    let queued = wait_for(&mut rx, "the second correction queued", |k| matches!(k, EventKind::CorrectionQueued { id: 1, .. })).await;
    assert_eq!(queued.command_id.as_deref(), Some(drop.as_str()), "same text, told apart by id");
    let withdraw = other.send(Command::WithdrawCorrection { id: 1 }).unwrap();
    assert!(withdraw.starts_with("second:"));
    let withdrawn = wait_for(&mut rx, "withdrawn", |k| matches!(k, EventKind::CorrectionWithdrawn { id: 1 })).await;
    assert_eq!(withdrawn.command_id.as_deref(), Some(withdraw.as_str()));

    // A save from the version on disk is written by the runtime.
    let save = handle.commands.send(Command::SaveMemory { text: "# Memory\n\n- a fact\n".into(), base_hash: sha("# Memory\n") }).unwrap();
    let updated = wait_for(&mut rx, "memory updated", |k| matches!(k, EventKind::MemoryUpdated { .. })).await;
    assert_eq!(updated.command_id.as_deref(), Some(save.as_str()));
    assert_eq!(std::fs::read_to_string(s.path("MEMORY.md")).unwrap(), "# Memory\n\n- a fact\n");

    // A save from a stale version overwrites nothing: it becomes a proposal, which is rejected.
    let stale = handle.commands.send(Command::SaveMemory { text: "# Memory\n\n- stale\n".into(), base_hash: sha("# Memory\n") }).unwrap();
    let proposed = wait_for(&mut rx, "proposal", |k| matches!(k, EventKind::MemoryProposed { .. })).await;
    assert_eq!(proposed.command_id.as_deref(), Some(stale.as_str()));
    let EventKind::MemoryProposed { id, content, .. } = proposed.kind else { unreachable!() };
    assert_eq!(content, "# Memory\n\n- stale\n");
    assert_eq!(std::fs::read_to_string(s.path("MEMORY.md")).unwrap(), "# Memory\n\n- a fact\n");
    let reject = handle.commands.send(Command::ResolveMemory { id, accept: false }).unwrap();
    let resolved = wait_for(&mut rx, "resolved", |k| matches!(k, EventKind::MemoryResolved { .. })).await;
    assert_eq!(resolved.command_id.as_deref(), Some(reject.as_str()));
    assert_eq!(resolved.kind, EventKind::MemoryResolved { id, accept: false });
    assert_eq!(std::fs::read_to_string(s.path("MEMORY.md")).unwrap(), "# Memory\n\n- a fact\n");

    handle.commands.send(Command::Resume).unwrap();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done);

    let events = logged_events(&log);
    let paused = events.iter().find(|e| matches!(e.kind, EventKind::Paused { .. })).unwrap();
    assert_eq!(paused.command_id, None, "a pause lands at a boundary, not as the command's direct effect");
    let _ = pause;
    let delivered: Vec<u64> =
        events.iter().filter_map(|e| if let EventKind::CorrectionDelivered { id, .. } = e.kind { Some(id) } else { None }).collect();
    assert_eq!(delivered, vec![0], "the withdrawn correction is never delivered");
    assert_eq!(result.state.corrections, vec!["keep this".to_string()]);
    assert!(result.state.memory_pending.is_empty());
    // The replayed log tells the same story: the rejection is there.
    let replay = endure::session::SessionState::from_events(&events);
    assert!(replay.memory_pending.is_empty());
    assert_eq!(replay.corrections_withdrawn, 1);
}
