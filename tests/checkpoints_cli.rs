#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! `endure checkpoints SESSION [--json]`: the real binary over a session log with a
//! checkpoint for each flag.

use std::path::Path;
use std::process::Command;

use chrono::Utc;
use endure::protocol::{Checkpoint, CheckpointField, Event, EventKind, RoleModels, SessionInfo, Task, TaskStatus};
use serde_json::Value;

const TASK: &str = "Advance the counter to 60 in counter.txt, one step at a time";
const ID: &str = "20261121-080000-000-abcd";

fn cp(intent: &str, directives: &[&str]) -> Checkpoint {
    Checkpoint {
        active_intent: CheckpointField::Text(intent.into()),
        directives: CheckpointField::List(directives.iter().map(|d| d.to_string()).collect()),
        next_action: CheckpointField::Text("write the next number".into()),
        ..Checkpoint::default()
    }
}

fn write_log(ws: &Path) {
    let mut kinds = vec![
        EventKind::SessionStarted {
            info: Box::new(SessionInfo {
                session_id: ID.into(),
                endure_version: "0".into(),
                workspace: ws.display().to_string(),
                task: TASK.into(),
                provider: "scripted".into(),
                base_url: None,
                models: RoleModels { agent: "m".into(), writer: "m".into(), verifier: "m".into(), judge: "m".into() },
                system_prompt: "sys".into(),
                sandbox: None,
                config: serde_json::json!({}),
                context_budget: 10_000,
            }),
        },
        EventKind::TaskList { tasks: vec![Task { title: "count to 60".into(), status: TaskStatus::InProgress }] },
    ];
    let saved = |id: &str, n: u32, checkpoint: Checkpoint, snapshot: bool| EventKind::CheckpointSaved {
        id: id.into(),
        cycle: 1,
        n,
        threshold_pct: 20,
        window_tokens: 1_000,
        upto_seq: 1,
        snapshot: snapshot.then(|| format!("snap-{id}")),
        snapshot_error: (!snapshot).then(|| "git add failed: index.lock exists".to_string()),
        path: format!(".endure/sessions/{ID}/checkpoints/{id}.json"),
        checkpoint: Box::new(checkpoint),
    };
    kinds.push(saved("1.1", 1, cp(TASK, &["Never skip a number."]), true));
    // Paraphrased: loses "60" and "counter.txt"; loses the directive; no snapshot.
    kinds.push(saved("1.2", 2, cp("Advance the counter to the end, one step at a time", &[]), false));
    // Everything back, but the same task has now been in progress for three checkpoints.
    kinds.push(saved("1.3", 3, cp(TASK, &["Never skip a number."]), true));
    let dir = ws.join(".endure/sessions").join(ID);
    std::fs::create_dir_all(&dir).unwrap();
    let lines: Vec<String> = kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| serde_json::to_string(&Event { command_id: None, seq: i as u64, ts: Utc::now(), kind }).unwrap())
        .collect();
    std::fs::write(dir.join("events.jsonl"), lines.join("\n") + "\n").unwrap();
}

fn run(ws: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_endure")).args(args).arg("-C").arg(ws).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn checkpoints_json_lists_every_checkpoint_with_changes_and_each_flag() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path());
    let (ok, out, err) = run(dir.path(), &["checkpoints", "20261121", "--json"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let rows = v.as_array().expect("an array");
    assert_eq!(rows.len(), 3);
    for r in rows {
        let mut keys: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["changed", "cycle", "flags", "id", "upto_seq"], "{r}");
        assert!(r["id"].is_string() && r["cycle"].is_u64() && r["upto_seq"].is_u64() && r["changed"].is_array());
        for f in r["flags"].as_array().unwrap() {
            let mut keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["detail", "kind"]);
        }
    }
    let kinds = |i: usize| -> Vec<&str> { rows[i]["flags"].as_array().unwrap().iter().map(|f| f["kind"].as_str().unwrap()).collect() };
    assert_eq!(rows[0]["id"], "1.1");
    assert_eq!(rows[0]["cycle"], 1);
    assert_eq!(rows[0]["upto_seq"], 1);
    assert!(kinds(0).is_empty());
    assert_eq!(rows[0]["changed"], serde_json::json!(["active_intent", "next_action", "directives"]));

    assert_eq!(kinds(1), ["intent_drift", "lost_directive", "snapshot_missing"]);
    let drift = rows[1]["flags"][0]["detail"].as_str().unwrap();
    assert!(drift.contains("\"60\"") && drift.contains("\"counter.txt\""), "{drift}");
    assert!(rows[1]["flags"][1]["detail"].as_str().unwrap().contains("Never skip a number."));
    assert!(rows[1]["flags"][2]["detail"].as_str().unwrap().contains("index.lock exists"), "the flag says why the snapshot is missing");
    assert_eq!(rows[1]["changed"], serde_json::json!(["active_intent", "directives"]));

    assert_eq!(kinds(2), ["stale_task"]);
    assert!(rows[2]["flags"][0]["detail"].as_str().unwrap().contains("\"count to 60\""));
}

#[test]
fn checkpoints_text_is_for_people_and_a_bad_session_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path());
    let (ok, out, err) = run(dir.path(), &["checkpoints", ID]);
    assert!(ok, "{err}");
    assert!(out.contains("1.2") && out.contains("intent_drift: active_intent lost the task's key terms"), "{out}");
    assert!(out.contains("snapshot_missing") && out.contains("changed: active_intent, directives"), "{out}");
    let (ok, _, err) = run(dir.path(), &["checkpoints", "nope"]);
    assert!(!ok);
    assert!(err.contains("no session `nope`"), "{err}");
}

/// A scripted session whose writer paraphrases the task: headless prints each flag and each
/// rollover's summary, and `endure checkpoints` finds the same flags in its log.
#[test]
fn headless_prints_flags_and_rollovers_and_checkpoints_reads_the_real_log() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let part: String = (0..24).map(|i| format!("line {i}: the counter advances by one and the step is logged\n")).collect();
    std::fs::write(ws.join("part.txt"), part).unwrap();
    let mut script = String::new();
    for i in 0..30 {
        script.push_str(&format!(
            "[[agent]]\ntext = \"Step {i}.\"\n[[agent.tool_calls]]\nname = \"read_file\"\narguments = {{ path = \"part.txt\" }}\n\n"
        ));
    }
    script.push_str("[[agent]]\ntext = \"Done.\"\n[[agent.tool_calls]]\nname = \"done\"\narguments = { summary = \"at 60\" }\n\n");
    script.push_str("[[verifier]]\ntext = '{\"met\": true, \"missing\": [], \"evidence\": [\"60\"]}'\n\n");
    for _ in 0..100 {
        script.push_str("[[writer]]\ntext = '{\"active_intent\": \"Advance the counter to the end\", \"next_action\": \"go on\", \"directives\": [], \"task_tree\": [], \"current_work\": \"\", \"files\": [], \"knowledge\": [], \"errors_and_fixes\": [], \"live_resources\": \"\", \"decisions\": [], \"open_notes\": \"\"}'\n\n");
    }
    let path = dir.path().join("s.toml");
    std::fs::write(&path, script).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_endure"))
        .args(["exec", "--provider", "scripted", "--speed", "0", "--stall-after", "0", "--context-budget", "12000", "--script"])
        .arg(&path)
        .arg("-C")
        .arg(&ws)
        .arg("Advance the counter to 60")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("flagged: intent_drift — active_intent lost the task's key term: \"60\""), "{stderr}");
    assert!(stderr.contains("rollover: context rebuilt: ") && stderr.contains(" summarized into checkpoint "), "{stderr}");
    let id = std::fs::read_dir(ws.join(".endure/sessions")).unwrap().next().unwrap().unwrap().file_name();
    let (ok, json, err) = run(&ws, &["checkpoints", &id.to_string_lossy(), "--json"]);
    assert!(ok, "{err}");
    let rows: Value = serde_json::from_str(&json).unwrap();
    let rows = rows.as_array().unwrap();
    assert!(rows.len() >= 3);
    assert!(rows.iter().all(|r| r["flags"].as_array().unwrap().iter().any(|f| f["kind"] == "intent_drift")), "{json}");
}
