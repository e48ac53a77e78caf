#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! What attaching needs of the control socket, through the real binary: several clients at
//! once whose commands keep their own ids and record their sources, supervised detached runs
//! that wait for a supervisor, and the notification hook.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

mod common;

use common::socket::RawClient;

struct Setup {
    dir: tempfile::TempDir,
    ws: PathBuf,
    pids: Vec<i32>,
}

impl Setup {
    /// `steps` commands of `secs` each, then done.
    fn new(steps: usize, secs: f64) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        let mut scenario = String::new();
        for i in 0..steps {
            scenario.push_str(&format!(
                "[[agent]]\ntext = \"step {i}\"\n[[agent.tool_calls]]\nname = \"run\"\narguments = {{ command = \"echo {i} >> trace.txt; sleep {secs}\" }}\n"
            ));
        }
        scenario.push_str("[[agent]]\ntext = \"Done.\"\n[[agent.tool_calls]]\nname = \"done\"\narguments = { summary = \"all steps\" }\n");
        std::fs::write(dir.path().join("s.toml"), common::with_accepting_verifier(&scenario)).unwrap();
        Setup { dir, ws, pids: Vec::new() }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_endure"))
            .args(args)
            .current_dir(&self.ws)
            .env("ENDURE_CONFIG_DIR", self.dir.path().join("config"))
            .env("ENDURE_STATE_DIR", self.dir.path().join("state"))
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .output()
            .expect("run endure")
    }

    /// `exec --detach` with `extra` flags: the session id it printed.
    fn detach(&mut self, extra: &[&str]) -> String {
        let script = self.dir.path().join("s.toml");
        let mut args = vec!["exec", "--detach", "--provider", "scripted", "--speed", "0", "--script", script.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push("count");
        let out = self.run(&args);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let entry = std::fs::read_to_string(self.dir.path().join("state/running").join(format!("{id}.json"))).unwrap();
        let entry: Value = serde_json::from_str(&entry).unwrap();
        self.pids.push(entry["pid"].as_i64().unwrap() as i32);
        id
    }

    fn session_dir(&self, id: &str) -> PathBuf {
        self.ws.join(".endure/sessions").join(id)
    }

    fn log(&self, id: &str) -> Vec<Value> {
        let read = endure::session::read_log(&self.session_dir(id).join("events.jsonl")).map(|r| r.events).unwrap_or_default();
        read.iter().map(|e| serde_json::to_value(e).unwrap()).collect()
    }

    fn wait_gone(&self, id: &str) {
        common::wait_until("the background run to exit", 60, || {
            endure::session::lock::SessionLock::holder(&self.session_dir(id)).is_none()
        });
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        for pid in &self.pids {
            // SAFETY: a signal to a process this test started; harmless if it already ended.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
    }
}

#[test]
fn two_clients_see_every_event_and_each_command_keeps_its_id_and_source() {
    let mut s = Setup::new(60, 0.1);
    let id = s.detach(&[]);
    let socket = s.session_dir(&id).join("control.sock");
    let mut alice = RawClient::subscribed(&socket, "alice");
    let mut bob = RawClient::subscribed(&socket, "bob");
    alice.wait_event("step_started");
    alice.send(&serde_json::json!({"type": "command", "id": "alice:1", "command": {"type": "inject", "value": "check the edge cases"}}));
    // Both see the correction queued, and know whose command it answers.
    for c in [&mut alice, &mut bob] {
        assert_eq!(c.wait_event("correction_queued")["command_id"], "alice:1");
    }
    bob.send(&serde_json::json!({"type": "command", "id": "bob:7", "command": {"type": "pause"}}));
    for c in [&mut alice, &mut bob] {
        let received = c.wait_event("command_received");
        assert_eq!((received["command_id"].as_str(), received["command"]["type"].as_str()), (Some("bob:7"), Some("pause")));
        c.wait_event("paused");
    }
    // Without an id the server numbers the command under the client's name.
    bob.send(&serde_json::json!({"type": "command", "command": {"type": "stop"}}));
    for c in [&mut alice, &mut bob] {
        assert_eq!(c.wait_event("session_finished")["outcome"], "stopped");
    }
    s.wait_gone(&id);
    let received: Vec<Value> = s.log(&id).into_iter().filter(|v| v["type"] == "command_received").collect();
    let got: Vec<(&str, &str, &str)> = received
        .iter()
        .map(|v| (v["command_id"].as_str().unwrap(), v["command"]["type"].as_str().unwrap(), v["source"].as_str().unwrap()))
        .collect();
    let pid = std::process::id();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!((got[0].0, got[0].1), ("alice:1", "inject"));
    assert_eq!(got[0].2, format!("alice (pid {pid})"));
    assert_eq!((got[1].0, got[1].1, got[1].2), ("bob:7", "pause", format!("bob (pid {pid})").as_str()));
    assert!(got[2].0.starts_with("bob (pid ") && got[2].1 == "stop", "{got:?}");
}

#[test]
fn a_supervised_detached_run_waits_on_its_budget_notifies_and_a_socket_command_lets_it_go_on() {
    let mut s = Setup::new(4, 0.0);
    let hook = s.dir.path().join("hook.sh");
    let calls = s.dir.path().join("calls.txt");
    std::fs::write(&hook, format!("#!/bin/sh\nprintf '%s|' \"$@\" >> {}\necho >> {}\n", calls.display(), calls.display())).unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let notify = format!("{} first-arg", hook.display());
    let id = s.detach(&["--supervised", "--max-steps", "2", "--notify", &notify]);
    common::wait_until("the hook to run", 60, || std::fs::read_to_string(&calls).is_ok_and(|t| t.ends_with('\n')));
    assert_eq!(std::fs::read_to_string(&calls).unwrap(), format!("first-arg|{id}|budget: steps budget reached|\n"));
    // `ps` says why it waits.
    let ps = s.run(&["ps", "--json"]);
    let rows: Value = serde_json::from_slice(&ps.stdout).unwrap();
    let row = rows.as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).expect("ps lists the session").clone();
    assert_eq!((row["state"].as_str(), row["why"].as_str()), (Some("waiting"), Some("steps budget reached")), "{row}");
    // A resume over the socket waives the budget: the run goes on to the end.
    let mut c = RawClient::subscribed(&s.session_dir(&id).join("control.sock"), "approver");
    c.send(&serde_json::json!({"type": "command", "command": {"type": "resume"}}));
    assert_eq!(c.wait_event("session_finished")["outcome"], "done");
    s.wait_gone(&id);
    assert_eq!(std::fs::read_to_string(s.ws.join("trace.txt")).unwrap().lines().count(), 4);
}

#[test]
fn a_notify_hook_that_cannot_run_is_a_warning_and_the_run_is_not_disturbed() {
    let mut s = Setup::new(3, 0.0);
    let id = s.detach(&["--supervised", "--max-steps", "1", "--notify", "/nonexistent/endure-hook"]);
    let mut c = RawClient::subscribed(&s.session_dir(&id).join("control.sock"), "watcher");
    c.wait_event("paused");
    let warning = c.wait_event("warning");
    assert!(warning["message"].as_str().unwrap().contains("could not start"), "{warning}");
    c.send(&serde_json::json!({"type": "command", "command": {"type": "resume"}}));
    assert_eq!(c.wait_event("session_finished")["outcome"], "done");
    s.wait_gone(&id);
}
