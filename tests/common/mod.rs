//! Helpers for runtime tests: scripted sessions in temporary workspaces.
#![allow(dead_code)]

pub mod socket;

use std::path::{Path, PathBuf};
use std::time::Duration;

use endure::agent::{self, AgentConfig, AgentHandle, RunResult, Supervision};
use endure::config::settings::RunOptions;
use endure::protocol::{Event, EventKind};
use tokio::sync::broadcast;

pub struct Scripted {
    pub dir: tempfile::TempDir,
    pub workspace: PathBuf,
    pub opts: RunOptions,
}

impl Scripted {
    /// A workspace with `files`, and a scenario (TOML text). A scenario that scripts no
    /// verifier answers gets some that accept every claim of done, so tests about other
    /// things need not script the goal verifier.
    pub fn new(files: &[(&str, &str)], scenario: &str) -> Scripted {
        let scenario = &with_accepting_verifier(scenario);
        let dir = tempfile::tempdir().expect("tempdir");
        let workspace = dir.path().join("ws");
        for (rel, content) in files {
            let p = workspace.join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, content).expect("write");
        }
        std::fs::create_dir_all(&workspace).expect("mkdir ws");
        let script = dir.path().join("scenario.toml");
        std::fs::write(&script, scenario).expect("write scenario");
        let opts = RunOptions { provider: Some("scripted".into()), script: Some(script), speed: Some(0.0), ..Default::default() };
        Scripted { dir, workspace, opts }
    }

    /// A workspace with `files`, and a scenario built in code (written as JSON).
    pub fn with_scenario(files: &[(&str, &str)], scenario: &endure::model::scripted::Scenario) -> Scripted {
        let mut s = Scripted::new(files, "");
        let mut scenario = scenario.clone();
        if scenario.verifier.is_empty() {
            scenario.verifier = (0..8).map(|_| accepting_verdict()).collect();
        }
        let scenario = &scenario;
        let script = s.dir.path().join("scenario.json");
        std::fs::write(&script, serde_json::to_string(scenario).expect("scenario json")).expect("write scenario");
        s.opts.script = Some(script);
        s
    }

    /// The bundled demo workspace and scenario.
    pub fn demo() -> Scripted {
        let dir = tempfile::tempdir().expect("tempdir");
        let (workspace, script) = endure::demo::materialize(dir.path()).expect("demo");
        let opts = RunOptions { provider: Some("scripted".into()), script: Some(script), speed: Some(0.0), ..Default::default() };
        Scripted { dir, workspace, opts }
    }

    pub fn config(&self, task: &str, supervision: Supervision) -> AgentConfig {
        endure::launch::agent_config(&self.workspace, &self.opts, Some(task.to_string()), supervision, 0.0).expect("config")
    }

    pub fn spawn(&self, task: &str, supervision: Supervision) -> AgentHandle {
        agent::spawn(self.config(task, supervision)).expect("spawn")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.workspace.join(rel)
    }
}

/// A verifier answer that accepts the claim of done.
pub fn accepting_verdict() -> endure::model::scripted::Answer {
    endure::model::scripted::Answer {
        text: r#"{"met": true, "missing": [], "evidence": ["the transcript shows the work"]}"#.into(),
        ..Default::default()
    }
}

/// `scenario` (TOML) with accepting verifier answers when it scripts none.
pub fn with_accepting_verifier(scenario: &str) -> String {
    if scenario.contains("[[verifier]]") {
        return scenario.to_string();
    }
    let mut s = scenario.to_string();
    for _ in 0..8 {
        s.push_str("\n[[verifier]]\ntext = '{\"met\": true, \"missing\": [], \"evidence\": [\"the transcript shows the work\"]}'\n");
    }
    s
}

/// Waits for the run to finish, with a deadline so a hung runtime fails the test.
pub async fn finish(handle: AgentHandle) -> RunResult {
    tokio::time::timeout(Duration::from_secs(60), handle.join).await.expect("run finished in time").expect("join")
}

/// Receives events until one matches, with a deadline.
pub async fn wait_for(rx: &mut broadcast::Receiver<Event>, what: &str, pred: impl Fn(&EventKind) -> bool) -> Event {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ev = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .unwrap_or_else(|e| panic!("channel closed waiting for {what}: {e}"));
        if pred(&ev.kind) {
            return ev;
        }
    }
}

pub fn logged_events(log: &Path) -> Vec<Event> {
    let read = endure::session::read_log(log).expect("read log");
    assert!(read.warnings.is_empty(), "{:?}", read.warnings);
    read.events
}

/// Runs `task` headless to the end with `opts`; its result and the events it logged.
pub async fn run_headless(workspace: &Path, opts: &RunOptions, task: &str) -> (RunResult, Vec<Event>) {
    let cfg = endure::launch::agent_config(workspace, opts, Some(task.into()), Supervision::Headless, 0.0).unwrap();
    let handle = agent::spawn(cfg).unwrap();
    let log = handle.log_path.clone();
    let result = finish(handle).await;
    (result, logged_events(&log))
}

pub fn count(events: &[Event], pred: impl Fn(&EventKind) -> bool) -> usize {
    events.iter().filter(|e| pred(&e.kind)).count()
}

pub fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.name()).collect()
}

/// Position of the first event matching `pred`, panicking with `what` if none does.
pub fn pos(events: &[Event], what: &str, pred: impl Fn(&EventKind) -> bool) -> usize {
    events.iter().position(|e| pred(&e.kind)).unwrap_or_else(|| panic!("no {what} in {:?}", kinds(events)))
}

/// What one `endure exec --json` process left: its exit code, both streams and the events it
/// printed.
pub struct ExecRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub events: Vec<serde_json::Value>,
}

impl From<std::process::Output> for ExecRun {
    fn from(out: std::process::Output) -> ExecRun {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let events = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        ExecRun { code: out.status.code(), stdout, stderr: String::from_utf8_lossy(&out.stderr).into_owned(), events }
    }
}

impl ExecRun {
    pub fn of(&self, kind: &str) -> Vec<&serde_json::Value> {
        self.events.iter().filter(|e| e["type"] == kind).collect()
    }

    /// The `n`-th tool result (0-based): whether it succeeded, and its text.
    pub fn result(&self, n: usize) -> (bool, String) {
        let r = self.of("tool_result");
        let e = r.get(n).unwrap_or_else(|| panic!("no result {n}:\n{}", self.stderr));
        (e["ok"] == true, e["output"].as_str().unwrap_or("").to_string())
    }

    /// The text of the `n`-th tool result (0-based).
    pub fn output(&self, n: usize) -> String {
        self.result(n).1
    }

    pub fn done(&self) -> &ExecRun {
        assert_eq!(self.code, Some(0), "stderr: {}\nstdout: {}", self.stderr, self.stdout);
        self
    }

    pub fn position(&self, pred: impl Fn(&serde_json::Value) -> bool) -> Option<usize> {
        self.events.iter().position(pred)
    }
}

/// A live host process whose NUL-separated command line contains `needle`.
pub fn process_with(needle: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        (String::from_utf8_lossy(&cmdline).contains(needle) && alive(pid)).then_some(pid)
    })
}

/// True while `pid` is a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Polls `cond` until it holds; fails the test after `secs` seconds.
pub fn wait_until(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out after {secs}s waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
