#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! `endure fork` and `endure tree` with the real binary: a scripted session saves a
//! checkpoint, a fork starts from it in a git worktree (while the parent's session lock is
//! held, as when it runs), both run to their end, and the tree shows both outcomes.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@localhost", "-c", "commit.gpgSign=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The binary, with its config and state (the registry of running sessions) beside `ws`.
fn endure(args: &[&str], ws: &Path) -> Output {
    let home = ws.parent().unwrap();
    Command::new(env!("CARGO_BIN_EXE_endure"))
        .args(args)
        .arg("-C")
        .arg(ws)
        .env("ENDURE_CONFIG_DIR", home.join("config"))
        .env("ENDURE_STATE_DIR", home.join("state"))
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn call(text: &str, name: &str, args: &str) -> String {
    format!("[[agent]]\ntext = \"{text}\"\n[[agent.tool_calls]]\nname = \"{name}\"\narguments = {args}\n\n")
}

const WRITER: &str = "[[writer]]\ntext = '{\"active_intent\": \"Write a.txt\", \"next_action\": \"go on\", \"directives\": [], \"task_tree\": [], \"current_work\": \"\", \"files\": [\"a.txt\"], \"knowledge\": [], \"errors_and_fixes\": [], \"live_resources\": \"\", \"decisions\": [], \"open_notes\": \"\"}'\n\n";
const VERDICT: &str = "[[verifier]]\ntext = '{\"met\": true, \"missing\": [], \"evidence\": [\"a.txt\"]}'\n\n";

fn parent_script() -> String {
    let mut s = call("First version.", "write_file", "{ path = \"a.txt\", content = \"parent-1\\n\" }");
    for i in 0..8 {
        s.push_str(&call(&format!("Reading {i}."), "read_file", "{ path = \"part.txt\" }"));
    }
    s.push_str(&call("Final version.", "write_file", "{ path = \"a.txt\", content = \"parent-final\\n\" }"));
    s.push_str(&call("Done.", "done", "{ summary = \"a.txt written\" }"));
    s.push_str(VERDICT);
    for _ in 0..20 {
        s.push_str(WRITER);
    }
    s
}

fn fork_script() -> String {
    let mut s = call("Another way.", "write_file", "{ path = \"fork.txt\", content = \"fork\\n\" }");
    s.push_str(&call("Look.", "read_file", "{ path = \"a.txt\" }"));
    s.push_str(&call("Done.", "done", "{ summary = \"forked\" }"));
    s.push_str(VERDICT);
    for _ in 0..20 {
        s.push_str(WRITER);
    }
    s
}

#[test]
fn a_fork_runs_in_a_worktree_from_a_checkpoint_and_the_tree_shows_both_outcomes() {
    if !Command::new("git").arg("--version").output().is_ok_and(|o| o.status.success()) {
        println!("skipped: git is not available, and forks run in git worktrees");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let part: String = (0..24).map(|i| format!("line {i}: the counter advances by one and the step is logged\n")).collect();
    std::fs::write(ws.join("part.txt"), part).unwrap();
    std::fs::write(ws.join(".gitignore"), ".endure/\n").unwrap();
    git(&ws, &["init", "-q"]);
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-q", "-m", "start"]);
    let parent_path = dir.path().join("parent.toml");
    std::fs::write(&parent_path, parent_script()).unwrap();
    let fork_path = dir.path().join("fork.toml");
    std::fs::write(&fork_path, fork_script()).unwrap();

    let out = endure(
        &[
            "exec",
            "--provider",
            "scripted",
            "--speed",
            "0",
            "--stall-after",
            "0",
            "--context-budget",
            "12000",
            "--rollover",
            "99",
            "--script",
            parent_path.to_str().unwrap(),
            "Write a.txt",
        ],
        &ws,
    );
    assert!(out.status.success(), "{}", text(&out));
    let parent = std::fs::read_dir(ws.join(".endure/sessions")).unwrap().next().unwrap().unwrap().file_name().into_string().unwrap();
    let out = endure(&["checkpoints", &parent, "--json"], &ws);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!(rows[0]["id"], "1.1", "{rows}");

    // A bad checkpoint is a clear error that leaves no worktree behind.
    let out = endure(&["fork", &parent, "--at", "9.9", "--script", fork_path.to_str().unwrap()], &ws);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no checkpoint 9.9"), "{}", text(&out));
    assert!(std::fs::read_dir(ws.join(".endure/worktrees")).map_or(true, |mut d| d.next().is_none()));

    // The parent's lock is held, as it is while the parent runs: the fork needs none of it.
    let lock = endure::session::SessionLock::acquire(&endure::agent::session_dir(&ws, &parent)).unwrap();
    let out = endure(&["fork", &parent, "--at", "1.1", "--max-steps", "2", "--script", fork_path.to_str().unwrap()], &ws);
    drop(lock);
    assert_eq!(out.status.code(), Some(2), "the fork stops at its step budget: {}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("forked from session") && stderr.contains("at checkpoint 1.1"), "{stderr}");

    let worktrees: Vec<_> = std::fs::read_dir(ws.join(".endure/worktrees")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(worktrees.len(), 1, "{worktrees:?}");
    let wt = &worktrees[0];
    let fork_id = wt.file_name().unwrap().to_str().unwrap().to_string();
    assert!(wt.join(".git").is_file(), "a git worktree");
    assert_eq!(std::fs::read_to_string(wt.join("a.txt")).unwrap(), "parent-1\n", "the checkpoint's snapshot, not the parent's end");
    assert_eq!(std::fs::read_to_string(wt.join("fork.txt")).unwrap(), "fork\n");
    assert_eq!(std::fs::read_to_string(ws.join("a.txt")).unwrap(), "parent-final\n", "the parent's workspace is untouched");
    assert!(!ws.join("fork.txt").exists());

    // The fork's log records where it came from and starts from the checkpoint's window.
    let log = std::fs::read_to_string(wt.join(".endure/sessions").join(&fork_id).join("events.jsonl")).unwrap();
    let forked: Value = log.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|e| e["type"] == "forked").expect("forked");
    assert_eq!(forked["parent"], parent.as_str());
    assert_eq!(forked["at"], "1.1");
    assert!(forked["window"].as_array().unwrap().iter().any(|m| m.to_string().contains("Write a.txt")), "{forked}");

    let out = endure(&["tree", &parent, "--json"], &ws);
    assert!(out.status.success(), "{}", text(&out));
    let tree: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(tree["id"], parent.as_str());
    assert_eq!(tree["kind"], "root");
    assert_eq!(tree["summary"]["outcome"], "done");
    assert_eq!(tree["summary"]["steps"], 11);
    let children = tree["children"].as_array().unwrap();
    assert_eq!(children.len(), 1, "{tree}");
    let fork = &children[0];
    assert_eq!(fork["id"], fork_id.as_str());
    assert_eq!(fork["kind"], "fork");
    assert_eq!(fork["at"], "1.1");
    assert_eq!(fork["summary"]["outcome"], "budget");
    assert_eq!(fork["summary"]["steps"], 2);
    assert_eq!(fork["children"], serde_json::json!([]));

    // The fork's own tree, from inside its worktree and from the parent's workspace.
    for dir in [wt.as_path(), ws.as_path()] {
        let out = endure(&["tree", &fork_id], dir);
        assert!(out.status.success(), "{}", text(&out));
        assert!(String::from_utf8_lossy(&out.stdout).starts_with(&format!("root {fork_id} — 2 steps")), "{}", text(&out));
    }

    // A second fork, in the background and into a directory of our choosing, runs to `done`.
    let into = dir.path().join("elsewhere");
    let out = endure(
        &["fork", &parent, "--at", "1.1", "--detach", "--into", into.to_str().unwrap(), "--script", fork_path.to_str().unwrap()],
        &ws,
    );
    assert!(out.status.success(), "{}", text(&out));
    let second = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let log = into.join(".endure/sessions").join(&second).join("events.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !std::fs::read_to_string(&log).is_ok_and(|l| l.contains("\"type\":\"session_finished\"")) {
        assert!(std::time::Instant::now() < deadline, "the detached fork did not finish: {:?}", std::fs::read_to_string(&log));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!into.join(".endure/fork.json").exists(), "the background process took the prepared fork");
    let out = endure(&["tree", &parent, "--json"], &ws);
    let tree: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let outcomes: std::collections::BTreeMap<String, String> = tree["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c["summary"]["outcome"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(outcomes, [(fork_id.clone(), "budget".to_string()), (second.clone(), "done".to_string())].into_iter().collect());

    // What the runtime answers the Attempts panel's `ListForks` with.
    let forks = endure::agent::fork::forks_of(&ws, &parent);
    let mut ids: Vec<&str> = forks.iter().map(|f| f.id.as_str()).collect();
    ids.sort_unstable();
    let mut want = [fork_id.as_str(), second.as_str()];
    want.sort_unstable();
    assert_eq!(ids, want);
    assert!(forks.iter().all(|f| f.events.iter().any(|e| matches!(e.kind, endure::protocol::EventKind::Forked { .. }))));

    // The runtime tells a resumed parent's frontends about its forks, and answers `ListForks`.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let seen = rt.block_on(async {
        let opts = endure::config::settings::RunOptions {
            provider: Some("scripted".into()),
            script: Some(parent_path.clone()),
            speed: Some(0.0),
            ..Default::default()
        };
        let mut cfg = endure::launch::agent_config(&ws, &opts, None, endure::agent::Supervision::Headless, 0.0).unwrap();
        cfg.session_id = Some(parent.clone());
        cfg.resume = Some(endure::agent::ResumeFrom { at: None });
        let mut handle = endure::agent::spawn(cfg).unwrap();
        let mut rx = handle.take_events();
        let asked = handle.commands.send(endure::protocol::Command::ListForks).unwrap();
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        while let Ok(Ok(e)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            if let endure::protocol::EventKind::ForksFound { forks } = &e.kind {
                seen.push((e.command_id.clone() == Some(asked.clone()), forks.len()));
                if seen.len() == 2 {
                    let _ = handle.commands.send(endure::protocol::Command::Stop);
                    break;
                }
            }
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(60), handle.join).await;
        seen
    });
    assert_eq!(seen, [(false, 2), (true, 2)], "once on resume, once answering the command");
}
