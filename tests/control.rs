#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! The control socket, detached runs, and `ps`, `stop`, `logs`, through the real binary.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

mod common;

use common::socket::RawClient;

/// A workspace, a config dir, a registry dir, and a scenario of `steps` commands of `secs` each.
struct Fleet {
    dir: tempfile::TempDir,
    ws: PathBuf,
    /// Background runs started, killed if a test fails before they end.
    pids: Vec<i32>,
}

impl Fleet {
    fn new(steps: usize, secs: f64) -> Fleet {
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
        Fleet { dir, ws, pids: Vec::new() }
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_endure"));
        c.args(args)
            .current_dir(&self.ws)
            .env("ENDURE_CONFIG_DIR", self.dir.path().join("config"))
            .env("ENDURE_STATE_DIR", self.state_dir())
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run endure")
    }

    /// `exec --detach`: the session id it printed.
    fn detach(&mut self) -> String {
        let script = self.dir.path().join("s.toml");
        let out = self.run(&["exec", "--detach", "--provider", "scripted", "--speed", "0", "--script", script.to_str().unwrap(), "count"]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
        assert!(!id.is_empty());
        if let Some(pid) = self.entry(&id).and_then(|e| e["pid"].as_i64()) {
            self.pids.push(pid as i32);
        }
        id
    }

    fn session_dir(&self, id: &str) -> PathBuf {
        self.ws.join(".endure/sessions").join(id)
    }

    fn socket(&self, id: &str) -> PathBuf {
        self.session_dir(id).join("control.sock")
    }

    fn entry(&self, id: &str) -> Option<Value> {
        let text = std::fs::read_to_string(self.state_dir().join("running").join(format!("{id}.json"))).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn log(&self, id: &str) -> Vec<endure::protocol::Event> {
        endure::session::read_log(&self.session_dir(id).join("events.jsonl")).map(|r| r.events).unwrap_or_default()
    }

    fn finished(&self, id: &str) -> Option<String> {
        self.log(id).iter().find_map(|e| match &e.kind {
            endure::protocol::EventKind::SessionFinished { outcome, .. } => Some(outcome.as_str().to_string()),
            _ => None,
        })
    }

    /// Waits until the background process has let go of the session.
    fn wait_gone(&self, id: &str) {
        common::wait_until("the background run to exit", 60, || {
            endure::session::lock::SessionLock::holder(&self.session_dir(id)).is_none()
        });
    }

    /// Waits until a run that ended by itself has also removed its registry entry, which the
    /// process does on its way out, after it let go of the lock.
    fn wait_cleaned_up(&self, id: &str) {
        self.wait_gone(id);
        common::wait_until("the registry entry to be removed", 60, || self.entry(id).is_none());
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for pid in &self.pids {
            // SAFETY: a signal to a process this test started; harmless if it already ended.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
    }
}

#[test]
fn backlog_then_live_has_no_gap_and_no_duplicate_for_two_clients() {
    let mut f = Fleet::new(12, 0.15);
    let id = f.detach();
    let socket = f.socket(&id);
    // Permission bits: the socket is the user's only, in a directory only the user enters.
    assert_eq!(std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(f.session_dir(&id)).unwrap().permissions().mode() & 0o777, 0o700);
    let mut a = RawClient::connect(&socket, "a");
    a.send(&serde_json::json!({"type": "subscribe", "from": 0}));
    // The second client joins mid-run, from seq 3: part backlog, part live.
    common::wait_until("a few steps", 60, || {
        std::fs::read_to_string(f.ws.join("trace.txt")).map(|t| t.lines().count() >= 3).unwrap_or(false)
    });
    let mut b = RawClient::connect(&socket, "b");
    b.send(&serde_json::json!({"type": "subscribe", "from": 3}));
    let seqs_a = a.seqs_to_end();
    let seqs_b = b.seqs_to_end();
    f.wait_gone(&id);
    let log: Vec<u64> = f.log(&id).iter().map(|e| e.seq).collect();
    assert_eq!(f.finished(&id).as_deref(), Some("done"));
    assert_eq!(seqs_a, log, "client a: every event of the log once, in order");
    assert_eq!(seqs_b, log.iter().copied().filter(|s| *s >= 3).collect::<Vec<_>>(), "client b");
}

#[test]
fn a_command_over_the_socket_takes_effect_and_its_source_is_recorded() {
    let mut f = Fleet::new(40, 0.1);
    let id = f.detach();
    let mut c = RawClient::connect(&f.socket(&id), "tester");
    c.send(&serde_json::json!({"type": "subscribe", "from": 0}));
    c.wait_event("step_started");
    c.send(&serde_json::json!({"type": "command", "command": {"type": "pause"}}));
    let paused = c.wait_event("paused");
    assert_eq!(paused["reason"]["by"], "supervisor");
    // While paused, `ps` says so.
    let ps = f.run(&["ps", "--json"]);
    assert_eq!(ps.status.code(), Some(0), "{}", String::from_utf8_lossy(&ps.stderr));
    let rows: Value = serde_json::from_slice(&ps.stdout).unwrap();
    let row = rows.as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).expect("ps lists the session");
    assert_eq!(row["state"], "paused");
    assert_eq!(row["task"], "count");
    assert_eq!(row["workspace"], std::fs::canonicalize(&f.ws).unwrap().to_str().unwrap());
    c.send(&serde_json::json!({"type": "command", "command": {"type": "stop"}}));
    c.wait_event("session_finished");
    f.wait_gone(&id);
    let received: Vec<Value> =
        f.log(&id).iter().map(|e| serde_json::to_value(e).unwrap()).filter(|v| v["type"] == "command_received").collect();
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!(received[0]["command"]["type"], "pause");
    let source = received[0]["source"].as_str().unwrap();
    assert!(source.starts_with("tester (pid ") && source.contains(&std::process::id().to_string()), "{source}");
    assert_eq!(f.finished(&id).as_deref(), Some("stopped"));
}

#[test]
fn a_client_killed_with_kill_9_does_not_disturb_the_run() {
    let mut f = Fleet::new(10, 0.1);
    let id = f.detach();
    // `logs -f` is a client: it is killed mid-run, and a raw subscriber hangs up without a word.
    let mut stuck = f.cmd(&["logs", "-f", &id]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut raw = RawClient::connect(&f.socket(&id), "dies");
    raw.send(&serde_json::json!({"type": "subscribe", "from": 0}));
    raw.wait_event("step_started");
    stuck.kill().unwrap(); // SIGKILL
    stuck.wait().unwrap();
    drop(raw);
    let mut watcher = RawClient::connect(&f.socket(&id), "watcher");
    watcher.send(&serde_json::json!({"type": "subscribe", "from": 0}));
    let seqs = watcher.seqs_to_end();
    f.wait_gone(&id);
    assert_eq!(f.finished(&id).as_deref(), Some("done"));
    assert_eq!(seqs, f.log(&id).iter().map(|e| e.seq).collect::<Vec<_>>());
}

#[test]
fn the_lock_refuses_a_second_resume_of_a_detached_run_and_stop_ends_it() {
    let mut f = Fleet::new(200, 0.1);
    let id = f.detach();
    common::wait_until("a few steps", 60, || {
        std::fs::read_to_string(f.ws.join("trace.txt")).map(|t| t.lines().count() >= 2).unwrap_or(false)
    });
    let script = f.dir.path().join("s.toml");
    let out = f.run(&["exec", "--provider", "scripted", "--script", script.to_str().unwrap(), "--resume", &id]);
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in use by another endure process"), "{stderr}");
    let stop = f.run(&["stop", &id]);
    let stdout = String::from_utf8_lossy(&stop.stdout);
    assert_eq!(stop.status.code(), Some(0), "{}", String::from_utf8_lossy(&stop.stderr));
    assert!(stdout.contains("stopped"), "{stdout}");
    assert_eq!(f.finished(&id).as_deref(), Some("stopped"));
    f.wait_cleaned_up(&id);
    // The run cleaned up after itself.
    assert!(!f.socket(&id).exists());
    assert!(f.entry(&id).is_none());
    let steps = std::fs::read_to_string(f.ws.join("trace.txt")).unwrap().lines().count();
    assert!(steps < 200, "stopped early: {steps} steps");
}

#[test]
fn ps_prunes_a_killed_detached_run_and_removes_its_stale_socket() {
    let mut f = Fleet::new(200, 0.1);
    let id = f.detach();
    let pid = f.entry(&id).and_then(|e| e["pid"].as_i64()).expect("registered with a pid") as i32;
    // SAFETY: a signal to the background process this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    f.wait_gone(&id);
    assert!(f.socket(&id).exists(), "kill -9 leaves the socket behind");
    let ps = f.run(&["ps", "--json"]);
    assert_eq!(ps.status.code(), Some(0), "{}", String::from_utf8_lossy(&ps.stderr));
    let rows: Value = serde_json::from_slice(&ps.stdout).unwrap();
    assert!(rows.as_array().unwrap().iter().all(|r| r["id"] != id.as_str()), "{rows}");
    assert!(f.entry(&id).is_none(), "the entry is pruned");
    assert!(!f.socket(&id).exists(), "the stale socket is removed");
}

#[test]
fn detach_then_logs_follow_to_the_end() {
    let mut f = Fleet::new(8, 0.1);
    let id = f.detach();
    let out = f.run(&["logs", "-f", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("session {id}")), "{stdout}");
    assert!(stdout.contains("finished: done"), "{stdout}");
    // Every step is there once.
    assert_eq!(stdout.matches("echo 3 >> trace.txt").count(), 1, "{stdout}");
    f.wait_cleaned_up(&id);
    assert!(f.entry(&id).is_none());
    // Afterwards, the same lines from the log.
    let again = f.run(&["logs", &id]);
    assert_eq!(String::from_utf8_lossy(&again.stdout), stdout);
}
