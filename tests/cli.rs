#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! The `endure` binary: exit codes, output formats, sessions listing and config errors.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod common;

fn endure(args: &[&str], cwd: &Path, config_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_endure"))
        .args(args)
        .current_dir(cwd)
        .env("ENDURE_CONFIG_DIR", config_dir)
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .output()
        .expect("run endure")
}

fn setup(scenario: &str) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("a.txt"), "alpha\n").unwrap();
    let cfg = dir.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(dir.path().join("s.toml"), common::with_accepting_verifier(scenario)).unwrap();
    (dir, ws, cfg)
}

const DONE: &str = r#"
[[agent]]
text = "Reading."
[[agent.tool_calls]]
name = "read_file"
arguments = { path = "a.txt" }
[[agent]]
text = "Done."
[[agent.tool_calls]]
name = "done"
arguments = { summary = "read a.txt" }
"#;

#[test]
fn exec_exits_0_when_done_and_prints_events_as_jsonl() {
    let (dir, ws, cfg) = setup(DONE);
    let script = dir.path().join("s.toml");
    let out = endure(&["exec", "--provider", "scripted", "--script", script.to_str().unwrap(), "--json", "read a.txt"], &ws, &cfg);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let events: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    assert_eq!(events.first().unwrap()["type"], "session_started");
    assert_eq!(events.last().unwrap()["type"], "session_finished");
    assert_eq!(events.last().unwrap()["outcome"], "done");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("read_file  a.txt  ok"), "{stderr}");
    assert!(stderr.contains("finished: done"), "{stderr}");

    // The log on disk holds the same events as stdout.
    let list = endure(&["sessions", "--json"], &ws, &cfg);
    let sessions: Value = serde_json::from_slice(&list.stdout).unwrap();
    let id = sessions[0]["id"].as_str().unwrap();
    assert_eq!(sessions[0]["outcome"], "done");
    assert_eq!(sessions[0]["steps"], 2);
    assert_eq!(sessions[0]["task"], "read a.txt");
    let log = std::fs::read_to_string(ws.join(".endure/sessions").join(id).join("events.jsonl")).unwrap();
    assert_eq!(log, stdout);
}

#[test]
fn exec_exits_2_on_a_budget_and_1_on_failure() {
    let (dir, ws, cfg) = setup(DONE);
    let script = dir.path().join("s.toml");
    let s = script.to_str().unwrap();
    let out = endure(&["exec", "--provider", "scripted", "--script", s, "--max-steps", "1", "t"], &ws, &cfg);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("steps budget reached"));

    std::fs::write(&script, "[[agent]]\ntext = \"I will not use tools.\"\n").unwrap();
    let out = endure(&["exec", "--provider", "scripted", "--script", s, "t"], &ws, &cfg);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("finished: failed"), "{stderr}");
}

#[test]
fn a_bad_config_file_names_file_line_and_key() {
    let (dir, ws, cfg) = setup(DONE);
    std::fs::create_dir_all(ws.join(".endure")).unwrap();
    std::fs::write(ws.join(".endure/config.toml"), "provider = \"scripted\"\nmax-steps = \"lots\"\n").unwrap();
    let script = dir.path().join("s.toml");
    let out = endure(&["exec", "--script", script.to_str().unwrap(), "t"], &ws, &cfg);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(".endure/config.toml:2:"), "{stderr}");
    assert!(stderr.contains("max-steps"), "{stderr}");
}

#[test]
fn config_files_layer_user_then_project_then_flags() {
    let (dir, ws, cfg) = setup(DONE);
    let script = dir.path().join("s.toml");
    std::fs::write(cfg.join("config.toml"), format!("provider = \"scripted\"\nscript = {:?}\nmax-steps = 1\n", script)).unwrap();
    // User file alone: the step budget of 1 stops the run.
    let out = endure(&["exec", "t"], &ws, &cfg);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    // The project file lifts it.
    std::fs::create_dir_all(ws.join(".endure")).unwrap();
    std::fs::write(ws.join(".endure/config.toml"), "max-steps = 10\n").unwrap();
    let out = endure(&["exec", "t"], &ws, &cfg);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // A flag overrides both.
    let out = endure(&["exec", "--max-steps", "1", "t"], &ws, &cfg);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_missing_api_key_is_a_clear_error() {
    let (_dir, ws, cfg) = setup(DONE);
    let out = endure(&["exec", "--provider", "openai", "t"], &ws, &cfg);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no API key for openai") && stderr.contains("OPENAI_API_KEY"), "{stderr}");
}

#[test]
fn the_key_never_reaches_the_event_log() {
    let (_dir, ws, cfg) = setup(DONE);
    // A provider that refuses the connection: the run fails, and the key appears nowhere.
    let secret = "sk-test-SECRET-0123456789";
    let out = Command::new(env!("CARGO_BIN_EXE_endure"))
        .args(["exec", "--provider", "openai", "--base-url", "http://127.0.0.1:9/v1", "--api-key-env", "MY_KEY"])
        .args(["--max-attempts", "1", "--json", "t"])
        .current_dir(&ws)
        .env("ENDURE_CONFIG_DIR", &cfg)
        .env("MY_KEY", secret)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(all.contains("MY_KEY"), "the variable's name is recorded: {all}");
    assert!(!all.contains(secret));
    for entry in walk(&ws.join(".endure")) {
        assert!(!std::fs::read_to_string(&entry).unwrap_or_default().contains(secret), "{}", entry.display());
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
        }
    }
    out
}

#[test]
fn demo_headless_completes_a_real_multi_step_session() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config");
    let out = endure(&["demo", "--headless", "--speed", "0", "--dir", dir.path().join("d").to_str().unwrap()], dir.path(), &cfg);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("finished: done"), "{stderr}");
    let stats = std::fs::read_to_string(dir.path().join("d/textstats/textstats/stats.py")).unwrap();
    assert!(stats.contains("(lengths[middle - 1] + lengths[middle]) / 2"));
}

#[test]
fn kill_9_mid_session_leaves_a_readable_log() {
    let mut scenario = String::new();
    for i in 0..40 {
        scenario.push_str(&format!(
            "[[agent]]\ntext = \"step {i}\"\n[[agent.tool_calls]]\nname = \"run\"\narguments = {{ command = \"echo {i} >> trace.txt; sleep 0.05\" }}\n"
        ));
    }
    let (dir, ws, cfg) = setup(&scenario);
    let script = dir.path().join("s.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_endure"))
        .args(["exec", "--provider", "scripted", "--speed", "0", "--script", script.to_str().unwrap(), "t"])
        .current_dir(&ws)
        .env("ENDURE_CONFIG_DIR", &cfg)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_to_string(ws.join("trace.txt")).map(|t| t.lines().count()).unwrap_or(0) < 5 {
        assert!(std::time::Instant::now() < deadline, "the session did not get going");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let sessions = ws.join(".endure/sessions");
    let id = std::fs::read_dir(&sessions).unwrap().next().unwrap().unwrap().file_name();
    let read = endure::session::read_log(&sessions.join(id).join("events.jsonl")).unwrap();
    assert!(read.warnings.len() <= 1, "at most the line being written is torn: {:?}", read.warnings);
    let state = endure::session::SessionState::from_events(&read.events);
    // Every step before the one in flight is complete in the log.
    assert!(state.steps_finished >= 4, "{}", state.steps_finished);
    assert!(state.step <= state.steps_finished + 1);
    assert!(state.outcome.is_none());
    let listed = endure(&["sessions", "--json"], &ws, &cfg);
    let v: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(v[0]["outcome"], "unfinished");
}

#[test]
fn config_check_reports_every_problem_with_its_position() {
    let (_dir, ws, cfg) = setup(DONE);
    let out = endure(&["config", "check", "-C", ws.to_str().unwrap()], &ws, &cfg);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));

    std::fs::create_dir_all(cfg.join("themes")).unwrap();
    std::fs::write(cfg.join("themes/mine.toml"), "inherits = \"default\"\n[styles]\n\"diff.plus\" = { fg = \"blu\" }\n").unwrap();
    std::fs::create_dir_all(cfg.join("keymaps")).unwrap();
    std::fs::write(cfg.join("keymaps/default.toml"), "[global]\nprepend = [{ on = \"x\", run = \"explode\", desc = \"no\" }]\n").unwrap();
    std::fs::write(cfg.join("config.toml"), "max-stepz = 3\n").unwrap();
    let out = endure(&["config", "check", "-C", ws.to_str().unwrap()], &ws, &cfg);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("themes/mine.toml:3:") && stdout.contains("blu"), "{stdout}");
    assert!(stdout.contains("keymaps/default.toml:2:") && stdout.contains("explode"), "{stdout}");
    assert!(stdout.contains("config.toml:1:1") && stdout.contains("max-stepz"), "{stdout}");
}

fn run_in(ws: &Path, cfg: &Path, args: &[&str]) -> Output {
    endure(args, ws, cfg)
}

#[test]
fn memory_dream_shows_the_diff_and_applies_only_with_yes() {
    let (dir, ws, cfg) = setup("");
    let memory = "# Memory\n\n## Rules\n- Use tabs <!-- from: s1 -->\n- use tabs for indentation <!-- from: s2 -->\n\n## Architecture decisions\n\n## Verified knowledge\n\n## Patterns\n\n## Gotchas\n";
    std::fs::write(ws.join("MEMORY.md"), memory).unwrap();
    let answer = "# Memory\n\n## Rules\n- Use tabs for indentation. <!-- from: s1 -->\n\n## Architecture decisions\n\n## Verified knowledge\n\n## Patterns\n\n## Gotchas\n";
    let script = dir.path().join("w.json");
    std::fs::write(&script, serde_json::json!({"writer": [{"text": answer}, {"text": answer}]}).to_string()).unwrap();
    let s = script.to_str().unwrap();
    let out = run_in(&ws, &cfg, &["memory", "dream", "--provider", "scripted", "--script", s]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("+- Use tabs for indentation."));
    // Outside a session nothing counts it, so the spending is said.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the writer model was asked 1 time(s):") && stderr.contains(" tokens"), "{stderr}");
    assert_eq!(std::fs::read_to_string(ws.join("MEMORY.md")).unwrap(), memory, "not applied without --yes");
    let out = run_in(&ws, &cfg, &["memory", "dream", "--yes", "--provider", "scripted", "--script", s]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(ws.join("MEMORY.md")).unwrap(), answer);
}

#[test]
fn memory_distill_turns_repeated_commands_of_past_sessions_into_skills() {
    let session = r#"
[[agent]]
text = "Testing."
[[agent.tool_calls]]
name = "run"
arguments = { command = "echo lint ok && echo test ok" }
[[agent]]
text = "Done."
[[agent.tool_calls]]
name = "done"
arguments = { summary = "s" }
"#;
    let (dir, ws, cfg) = setup(session);
    let script = dir.path().join("s.toml");
    for _ in 0..2 {
        let out = run_in(&ws, &cfg, &["exec", "--provider", "scripted", "--script", script.to_str().unwrap(), "check"]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let skills = serde_json::json!({"skills": [{"name": "check-all", "description": "Lint and test in one go", "body": "Run `echo lint ok && echo test ok`."}]});
    let writer = dir.path().join("w.json");
    std::fs::write(&writer, serde_json::json!({"writer": [{"text": skills.to_string()}]}).to_string()).unwrap();
    let out = run_in(&ws, &cfg, &["memory", "distill", "--yes", "--provider", "scripted", "--script", writer.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the writer model was asked 1 time(s):"));
    let skill = std::fs::read_to_string(ws.join(".endure/skills/check-all/SKILL.md")).unwrap();
    assert!(skill.starts_with("---\n") && skill.contains("Lint and test in one go"), "{skill}");
}

#[test]
fn exec_resume_at_a_checkpoint_rolls_back_and_continues() {
    let mut scenario = String::new();
    let big: String = (0..120).map(|i| format!("pub fn f{i}(x: u32) -> u32 {{ x + {i} }}\n")).collect();
    for i in 0..6 {
        scenario.push_str(&format!(
            "[[agent]]\ntext = \"read {i}\"\n[[agent.tool_calls]]\nname = \"read_file\"\narguments = {{ path = \"big.txt\" }}\n"
        ));
    }
    scenario.push_str("[[agent]]\ntext = \"break\"\n[[agent.tool_calls]]\nname = \"run\"\narguments = { command = \"rm a.txt\" }\n");
    scenario.push_str("[[agent]]\ntext = \"done\"\n[[agent.tool_calls]]\nname = \"done\"\narguments = { summary = \"first\" }\n");
    scenario
        .push_str("[[agent]]\ntext = \"again\"\n[[agent.tool_calls]]\nname = \"done\"\narguments = { summary = \"after the rollback\" }\n");
    let writer = r#"{"active_intent": "t", "next_action": "n", "directives": [], "task_tree": [], "current_work": "", "files": [], "knowledge": [], "errors_and_fixes": [], "live_resources": [], "decisions": [], "open_notes": ""}"#;
    for _ in 0..10 {
        scenario.push_str(&format!("[[writer]]\ntext = '{writer}'\n"));
    }
    let (dir, ws, cfg) = setup(&scenario);
    std::fs::write(ws.join("big.txt"), &big).unwrap();
    let script = dir.path().join("s.toml");
    let out = run_in(
        &ws,
        &cfg,
        &[
            "exec",
            "--provider",
            "scripted",
            "--script",
            script.to_str().unwrap(),
            "--context-budget",
            "40000",
            "--checkpoints",
            "5,10",
            "t",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!ws.join("a.txt").exists());
    let list: Value = serde_json::from_slice(&run_in(&ws, &cfg, &["sessions", "--json"]).stdout).unwrap();
    let id = list[0]["id"].as_str().unwrap().to_string();
    let out = run_in(&ws, &cfg, &["exec", "--resume", &id, "--at", "1.1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(std::fs::read_to_string(ws.join("a.txt")).unwrap(), "alpha\n", "restored by the rollback");
    assert!(stderr.contains("after the rollback"), "{stderr}");
    // Resuming a finished session without --at says so instead of asking the model again.
    let out = run_in(&ws, &cfg, &["exec", "--resume", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already finished"));
}

#[test]
fn the_demo_says_it_needs_python3_when_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("bin");
    std::fs::create_dir_all(&empty).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_endure"))
        .args(["demo", "--headless", "--speed", "0", "--dir"])
        .arg(dir.path().join("demo"))
        .env("PATH", &empty)
        .env("ENDURE_CONFIG_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("endure demo needs python3"), "{stderr}");
    assert!(!dir.path().join("demo").exists(), "nothing was started");
}
