#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Containment from outside: the real binary, attacked the way a hostile model, tool output or
//! a killed process would. Secrets, terminal escapes, one process per session, honest
//! snapshots, signals and odd files.

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{alive, process_with, wait_until};
use endure::model::scripted::{Answer, Scenario, ScriptedCall};
use serde_json::{Value, json};

/// What the tests use as the API key; redaction must catch it and any 12-byte piece of it.
const KEY: &str = "sk-containment-7f3a9c2e41b84d6fa0c5e9d2b7164a83";
const KEY_ENV: &str = "ENDURE_CONTAINMENT_TEST_KEY";

struct Ws {
    dir: tempfile::TempDir,
    ws: PathBuf,
    cfg: PathBuf,
}

impl Ws {
    fn new(files: &[(&str, &str)]) -> Ws {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        for (rel, content) in files {
            let p = ws.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        let cfg = dir.path().join("cfg");
        std::fs::create_dir_all(&cfg).unwrap();
        Ws { dir, ws, cfg }
    }

    /// Writes the scenario (accepting verifier added when it has none) and returns its path.
    fn script(&self, scenario: &Scenario) -> String {
        let mut scenario = scenario.clone();
        if scenario.verifier.is_empty() {
            scenario.verifier = (0..8).map(|_| common::accepting_verdict()).collect();
        }
        let path = self.dir.path().join("scenario.json");
        std::fs::write(&path, serde_json::to_string(&scenario).unwrap()).unwrap();
        path.to_str().unwrap().to_string()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_endure"));
        c.args(args)
            .current_dir(&self.ws)
            .env("ENDURE_CONFIG_DIR", &self.cfg)
            .env(KEY_ENV, KEY)
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run endure")
    }

    /// `exec` of a scripted scenario, headless, with the test key in the environment.
    fn exec_args(&self, script: &str, extra: &[&str]) -> Vec<String> {
        let mut a: Vec<String> =
            ["exec", "--provider", "scripted", "--speed", "0", "--api-key-env", KEY_ENV, "--script", script].map(String::from).to_vec();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    fn session_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.ws.join(".endure/sessions"))
            .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
            .unwrap_or_default();
        dirs.sort();
        dirs
    }

    fn only_session(&self) -> (String, PathBuf) {
        let dirs = self.session_dirs();
        assert_eq!(dirs.len(), 1, "{dirs:?}");
        let id = dirs[0].file_name().unwrap().to_string_lossy().into_owned();
        (id, dirs[0].clone())
    }

    fn events(&self, session_dir: &Path) -> Vec<Value> {
        let text = std::fs::read_to_string(session_dir.join("events.jsonl")).unwrap_or_default();
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn call(name: &str, arguments: Value) -> ScriptedCall {
    ScriptedCall { name: name.into(), arguments: Some(arguments.to_string()), ..Default::default() }
}

fn answer(text: &str, calls: Vec<ScriptedCall>) -> Answer {
    Answer { text: text.into(), tool_calls: calls, ..Default::default() }
}

fn done(summary: &str) -> Answer {
    answer("Done.", vec![call("done", json!({ "summary": summary }))])
}

/// Fails when `text` holds any 12-byte piece of the key.
fn assert_no_key(text: &str, what: &str) {
    for (i, w) in KEY.as_bytes().windows(12).enumerate() {
        let piece = std::str::from_utf8(w).unwrap();
        assert!(!text.contains(piece), "{what} holds a piece of the key ({piece:?} at {i}):\n{text}");
    }
}

/// Every file under `dir`, read as text.
fn all_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else if let Ok(bytes) = std::fs::read(&p) {
            out.push((p, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Secrets

const WRITER_WITH_KEY: &str = r#"{"active_intent": "t", "next_action": "n", "directives": [], "task_tree": [], "current_work": "the key is KEY", "files": [], "knowledge": ["PIECE"], "errors_and_fixes": [], "live_resources": [], "decisions": [], "open_notes": ""}"#;

#[test]
fn the_key_reaches_no_log_output_listing_or_checkpoint() {
    let piece = &KEY[10..30];
    let big: String = (0..150).map(|i| format!("pub fn f{i}(x: u32) -> u32 {{ x + {i} }}\n")).collect();
    let w = Ws::new(&[("secret.txt", &format!("token={KEY}\n")), ("big.txt", &big)]);
    let mut agent = vec![
        // The model's own text, with the key and a 20-character piece of it.
        answer(&format!("I found the key {KEY} and its middle {piece}."), vec![call("run", json!({ "command": "cat secret.txt" }))]),
        // A tool's output and a tool error that echo the key.
        answer("Reading.", vec![call("read_file", json!({ "path": "secret.txt" })), call("read_file", json!({ "path": KEY }))]),
    ];
    for i in 0..4 {
        agent.push(answer(&format!("read {i}"), vec![call("read_file", json!({ "path": "big.txt" }))]));
    }
    // A reply without tools is printed on stderr as the model's words.
    agent.push(answer(&format!("Just saying: {KEY}"), vec![]));
    agent.push(done(&format!("finished with {piece}")));
    let writer = WRITER_WITH_KEY.replace("KEY", KEY).replace("PIECE", piece);
    let scenario = Scenario { agent, writer: (0..10).map(|_| answer(&writer, vec![])).collect(), ..Default::default() };
    let script = w.script(&scenario);
    let a = w.exec_args(&script, &["--json", "--context-budget", "40000", "--checkpoints", "5,10", &format!("check {piece}")]);
    let out = w.run(&args(&a));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let (id, dir) = w.only_session();

    // The run did see the key: it is redacted, not absent.
    assert!(stdout.contains("[redacted]"), "{stdout}");
    assert!(stderr.contains("said: Just saying: [redacted]"), "{stderr}");
    assert_no_key(&stdout, "--json stdout");
    assert_no_key(&stderr, "stderr");
    let log = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    assert!(log.contains("token=[redacted]"), "the tool output is in the log, redacted");
    assert_no_key(&log, "events.jsonl");

    let checkpoints = all_files(&dir.join("checkpoints"));
    assert!(!checkpoints.is_empty(), "the scenario writes checkpoints");
    for (path, text) in &checkpoints {
        assert_no_key(text, &path.display().to_string());
    }
    assert!(checkpoints.iter().any(|(_, t)| t.contains("the key is [redacted]")));

    let listing = w.run(&["sessions", "--json"]);
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    assert!(listing.contains(&id), "{listing}");
    assert_no_key(&listing, "sessions --json");
    // Nothing endure wrote anywhere under .endure holds it either.
    for (path, text) in all_files(&w.ws.join(".endure")) {
        if !path.components().any(|c| c.as_os_str() == "objects") {
            assert_no_key(&text, &path.display().to_string());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_in_a_reply_or_a_tool_result_is_in_no_later_model_request() {
    let piece = &KEY[5..25];
    let w = Ws::new(&[("secret.txt", &format!("{KEY}\n"))]);
    let scenario = Scenario {
        agent: vec![
            answer(&format!("The key is {KEY}, the piece {piece}."), vec![call("read_file", json!({ "path": "secret.txt" }))]),
            done("ok"),
        ],
        verifier: (0..4).map(|_| common::accepting_verdict()).collect(),
        ..Default::default()
    };
    let server =
        support::TestServer::builder().scenario(scenario).role_model(endure::protocol::Role::Verifier, "verifier-model").start().await;
    let base = server.base_url_openai();
    let a = [
        "exec",
        "--provider",
        "openai",
        "--base-url",
        &base,
        "--model",
        "scripted",
        "--verifier-model",
        "verifier-model",
        "--api-key-env",
        KEY_ENV,
        "read the secret",
    ];
    let mut cmd = tokio::process::Command::from(w.command(&a));
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output()).await.expect("exec finished").expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let requests = server.requests();
    assert!(requests.len() >= 2, "{} requests", requests.len());
    for r in &requests[1..] {
        assert_no_key(&r.body.to_string(), "a later model request");
    }
    assert!(requests[1].body.to_string().contains("[redacted]"));
}

// ---------------------------------------------------------------------------------------------
// Terminal output

#[test]
fn escape_sequences_from_the_model_are_shown_visibly_on_stderr() {
    let w = Ws::new(&[]);
    let scenario = Scenario {
        agent: vec![
            answer("Running.", vec![call("run", json!({ "command": "true \u{1b}]0;pwned\u{7} \u{1b}[2J" }))]),
            answer("Clearing \u{1b}[2J\u{1b}[H the screen\r and \u{202e}reversed", vec![]),
            done("ok \u{1b}[31mred"),
        ],
        ..Default::default()
    };
    let script = w.script(&scenario);
    let out = w.run(&args(&w.exec_args(&script, &["t"])));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\r') && !stderr.contains('\u{7}') && !stderr.contains('\u{202e}'),
        "{stderr:?}"
    );
    assert!(stderr.contains("true \\x1b]0;pwned\\x07 \\x1b[2J"), "the tool argument, visible: {stderr}");
    assert!(stderr.contains("said: Clearing \\x1b[2J\\x1b[H the screen\\r and \\u{202e}reversed"), "the model's text, visible: {stderr}");
    assert!(stderr.contains("ok \\x1b[31mred"), "{stderr}");
}

// ---------------------------------------------------------------------------------------------
// One process per session

/// A step whose command records its pid and sleeps 30 s the first time it runs, and returns
/// at once when repeated after a resume.
/// The sleeper's command line carries a duration unique to its workspace, so the test finds it
/// among the host's processes: the pid the command sees is its PID namespace's, not the host's.
fn sleeper_duration(w: &Ws) -> String {
    let n = w.ws.display().to_string().bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("30.{}", n % 1_000_000 + 1)
}

fn sleeper_scenario(w: &Ws) -> Scenario {
    let sleep = sleeper_duration(w);
    Scenario {
        agent: vec![
            answer(
                "Waiting for the build.",
                vec![call(
                    "run",
                    json!({ "command": format!("mkdir .started 2>/dev/null || exit 0; echo $$ > sleeper.pid; exec sleep {sleep}") }),
                )],
            ),
            done("waited"),
        ],
        ..Default::default()
    }
}

/// A running `exec` in the background, its output in files, killed when dropped.
struct Running {
    child: std::process::Child,
    stderr: PathBuf,
}

impl Running {
    fn start(w: &Ws, args: &[&str]) -> Running {
        let stderr = w.dir.path().join(format!("stderr-{}", unique_suffix()));
        let child = w
            .command(args)
            .stdout(std::fs::File::create(w.dir.path().join("stdout")).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn endure");
        Running { child, stderr }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: i32) {
        // SAFETY: sends a signal to the child this test started and has not reaped yet.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, sig);
        }
    }

    fn wait(&mut self, secs: u64) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "endure did not exit within {secs}s; stderr:\n{}", self.stderr_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unique_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// The pid the sleeper command wrote, once it has started.
fn sleeper_pid(w: &Ws) -> u32 {
    let needle = format!("sleep\u{0}{}", sleeper_duration(w));
    let mut pid = None;
    wait_until("the sleeper to start", 30, || {
        pid = process_with(&needle);
        pid.is_some()
    });
    pid.unwrap_or_default()
}

/// Ends a process a test left behind (when the code under test failed to).
fn reap(pid: u32) {
    if alive(pid) {
        // SAFETY: only signals the sleeper this test's scenario started.
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
        }
    }
}

#[test]
fn a_running_session_cannot_be_resumed_or_rolled_back_by_another_process() {
    let w = Ws::new(&[]);
    let script = w.script(&sleeper_scenario(&w));
    let a = w.exec_args(&script, &["wait"]);
    let mut first = Running::start(&w, &args(&a));
    let sleeper = sleeper_pid(&w);
    let (id, dir) = w.only_session();
    let before = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();

    let second = w.run(&["exec", "--resume", &id]);
    let stderr = String::from_utf8_lossy(&second.stderr).into_owned();
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("pid {}", first.pid())), "the refusal names the holder: {stderr}");
    let rollback = w.run(&["rollback", &id, "--to", "1.1"]);
    let stderr = String::from_utf8_lossy(&rollback.stderr).into_owned();
    assert_eq!(rollback.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("pid {}", first.pid())), "{stderr}");
    // Neither refused process wrote to the log.
    assert_eq!(std::fs::read_to_string(dir.join("events.jsonl")).unwrap(), before);

    first.signal(libc::SIGKILL);
    first.wait(20);
    reap(sleeper);
    // The dead holder's lock does not block: the session resumes and finishes.
    let third = w.run(&["exec", "--resume", &id]);
    let stderr = String::from_utf8_lossy(&third.stderr).into_owned();
    assert_eq!(third.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("finished: done"), "{stderr}");
    let events = w.events(&dir);
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert!(seqs.windows(2).all(|p| p[1] == p[0] + 1), "sequence numbers are unique and in order: {seqs:?}");
}

// ---------------------------------------------------------------------------------------------
// Snapshots

/// Answers that fill a 40,000-token budget past 5% and 10%, with a writer for each checkpoint.
fn checkpointing_scenario(w: &Ws) -> Scenario {
    let big: String = (0..150).map(|i| format!("pub fn f{i}(x: u32) -> u32 {{ x + {i} }}\n")).collect();
    std::fs::write(w.ws.join("big.txt"), big).unwrap();
    let mut agent: Vec<Answer> =
        (0..4).map(|i| answer(&format!("read {i}"), vec![call("read_file", json!({ "path": "big.txt" }))])).collect();
    agent.push(done("read it all"));
    let writer = WRITER_WITH_KEY.replace("KEY", "nothing").replace("PIECE", "nothing");
    Scenario { agent, writer: (0..10).map(|_| answer(&writer, vec![])).collect(), ..Default::default() }
}

const CHECKPOINTING: [&str; 4] = ["--context-budget", "40000", "--checkpoints", "5,10"];

fn init_shadow_repo(w: &Ws) -> PathBuf {
    let shadow = w.ws.join(".endure/snapshots.git");
    let ok = Command::new("git").args(["init", "--bare", "--quiet"]).arg(&shadow).status().is_ok_and(|s| s.success());
    assert!(ok, "git init");
    shadow
}

#[test]
fn a_stale_index_lock_is_removed_with_a_warning_and_the_snapshot_taken() {
    let w = Ws::new(&[("a.txt", "alpha\n")]);
    let shadow = init_shadow_repo(&w);
    // What a git killed mid-`add` leaves behind.
    std::fs::write(shadow.join("index.lock"), b"").unwrap();
    let script = w.script(&Scenario { agent: vec![done("nothing to do")], ..Default::default() });
    let out = w.run(&args(&w.exec_args(&script, &["t"])));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("warning: workspace snapshot: removed .endure/snapshots.git/index.lock, a stale lock"), "{stderr}");
    assert!(!shadow.join("index.lock").exists());
    let (_, dir) = w.only_session();
    let snapshots: Vec<Value> = w.events(&dir).into_iter().filter(|e| e["type"] == "workspace_snapshot").collect();
    assert_eq!(snapshots.len(), 1, "the session-start snapshot was taken");
}

#[test]
fn a_failed_snapshot_is_shown_and_the_checkpoint_says_why() {
    if std::fs::read_dir("/proc/self/fd").is_err() {
        eprintln!("skipped: /proc is not readable, so a held lock cannot be told from a stale one");
        return;
    }
    let w = Ws::new(&[("a.txt", "alpha\n")]);
    let shadow = init_shadow_repo(&w);
    // A lock some live process holds open, as a git running at the same time would.
    let _held = std::fs::File::create(shadow.join("index.lock")).unwrap();
    let script = w.script(&checkpointing_scenario(&w));
    let mut a = w.exec_args(&script, &CHECKPOINTING);
    a.push("read".into());
    let out = w.run(&args(&a));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("warning: workspace snapshot failed (session start)"), "{stderr}");
    assert!(stderr.contains("warning: checkpoint 1.1 has no workspace snapshot"), "{stderr}");
    let (_, dir) = w.only_session();
    let saved: Vec<Value> = w.events(&dir).into_iter().filter(|e| e["type"] == "checkpoint_saved").collect();
    assert!(!saved.is_empty(), "checkpoints were saved");
    for cp in &saved {
        assert!(cp["snapshot"].is_null());
        let why = cp["snapshot_error"].as_str().unwrap_or_else(|| panic!("no snapshot_error in {cp}"));
        assert!(why.contains("index.lock"), "{why}");
    }
    // Rolling back to it says why it cannot.
    let rollback = w.run(&["rollback", dir.file_name().unwrap().to_str().unwrap(), "--to", "1.1"]);
    let stderr = String::from_utf8_lossy(&rollback.stderr).into_owned();
    assert_eq!(rollback.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("has no workspace snapshot to restore") && stderr.contains("index.lock"), "{stderr}");
}

#[test]
fn checkpoint_temporaries_left_by_a_kill_are_removed_on_the_next_open() {
    let w = Ws::new(&[]);
    let script = w.script(&checkpointing_scenario(&w));
    let mut a = w.exec_args(&script, &CHECKPOINTING);
    a.extend(["--max-steps".to_string(), "3".to_string(), "read".to_string()]);
    let out = w.run(&args(&a));
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let (id, dir) = w.only_session();
    let leftover = dir.join("checkpoints").join(".endure-tmp-a1B2c3");
    std::fs::create_dir_all(leftover.parent().unwrap()).unwrap();
    std::fs::write(&leftover, "{\"active_intent\": ").unwrap();
    let out = w.run(&["exec", "--resume", &id, "--max-steps", "10"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!leftover.exists(), "the half-written temporary is gone");
    assert!(dir.join("checkpoints").join("1.1.json").exists(), "real checkpoints stay");
}

// ---------------------------------------------------------------------------------------------
// Signals

/// Headless `exec` gets `sig` while a command runs: the run stops as on Ctrl-C.
fn a_signal_stops_the_run_and_its_command(sig: i32) {
    let w = Ws::new(&[]);
    let script = w.script(&sleeper_scenario(&w));
    let a = w.exec_args(&script, &["wait"]);
    let mut endure = Running::start(&w, &args(&a));
    let sleeper = sleeper_pid(&w);
    assert!(alive(sleeper));
    let sent = Instant::now();
    endure.signal(sig);
    let status = endure.wait(20);
    let took = sent.elapsed();
    let stderr = endure.stderr_text();
    reap_later(sleeper, || {
        assert_eq!(status.code(), Some(1), "outcome stopped exits 1; stderr:\n{stderr}");
        assert!(took < Duration::from_secs(10), "stopping took {took:?}");
        assert!(stderr.contains("finished: stopped"), "{stderr}");
        let (_, dir) = w.only_session();
        let events = w.events(&dir);
        let last = events.last().expect("events");
        assert_eq!(last["type"], "session_finished", "{last}");
        assert_eq!(last["outcome"], "stopped", "{last}");
        let result = events.iter().find(|e| e["type"] == "tool_result").expect("the interrupted call has a result");
        assert_eq!(result["ok"], false);
        // The command's process is gone with the step (a zombie until its new parent reaps it
        // does not count).
        wait_until("the sleeper to be killed", 10, || !alive(sleeper));
    });
}

/// Runs `checks`, and kills `pid` afterwards whether they passed or not, so a failing test
/// leaves no process behind.
fn reap_later(pid: u32, checks: impl FnOnce()) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(checks));
    reap(pid);
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

#[test]
fn sigterm_stops_a_headless_run_and_kills_its_command() {
    a_signal_stops_the_run_and_its_command(libc::SIGTERM);
}

#[test]
fn sighup_stops_a_headless_run_and_kills_its_command() {
    a_signal_stops_the_run_and_its_command(libc::SIGHUP);
}

// ---------------------------------------------------------------------------------------------
// Odd files

#[test]
fn read_file_on_a_fifo_is_an_error_not_a_hang() {
    let w = Ws::new(&[]);
    let fifo = std::ffi::CString::new(w.ws.join("pipe").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `fifo` is a valid NUL-terminated path for the duration of the call.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let script = w.script(&Scenario {
        agent: vec![answer("Reading.", vec![call("read_file", json!({ "path": "pipe" }))]), done("read")],
        ..Default::default()
    });
    let a = w.exec_args(&script, &["--json", "read the pipe"]);
    let mut endure = Running::start(&w, &args(&a));
    // Generous for a loaded machine; a read that blocks on the FIFO never finishes at all.
    let status = endure.wait(20);
    assert_eq!(status.code(), Some(0), "{}", endure.stderr_text());
    let (_, dir) = w.only_session();
    let result = w.events(&dir).into_iter().find(|e| e["type"] == "tool_result").expect("a result");
    assert_eq!(result["ok"], false);
    assert!(result["output"].as_str().unwrap().contains("pipe is a named pipe (FIFO), not a regular file"), "{result}");
}

#[test]
fn writing_through_a_hard_link_leaves_the_file_outside_unchanged() {
    let w = Ws::new(&[]);
    let outside = w.dir.path().join("outside.txt");
    std::fs::write(&outside, "outside\n").unwrap();
    std::fs::hard_link(&outside, w.ws.join("linked.txt")).unwrap();
    let script = w.script(&Scenario {
        agent: vec![
            answer("Writing.", vec![call("write_file", json!({ "path": "linked.txt", "content": "inside\n" }))]),
            answer("Editing.", vec![call("edit_file", json!({ "path": "linked.txt", "old": "inside", "new": "edited" }))]),
            done("wrote"),
        ],
        ..Default::default()
    });
    let out = w.run(&args(&w.exec_args(&script, &["write"])));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(w.ws.join("linked.txt")).unwrap(), "edited\n");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "outside\n");
}

#[test]
fn resuming_a_finished_session_exits_1_and_says_why() {
    let w = Ws::new(&[]);
    let script = w.script(&Scenario { agent: vec![done("nothing to do")], ..Default::default() });
    let out = w.run(&args(&w.exec_args(&script, &["t"])));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (id, dir) = w.only_session();
    let before = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let out = w.run(&["exec", "--resume", &id]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("already finished (done); nothing to resume"), "{stderr}");
    assert_eq!(std::fs::read_to_string(dir.join("events.jsonl")).unwrap(), before, "nothing was appended");
}

#[test]
fn search_says_which_files_it_skipped_for_size() {
    let w = Ws::new(&[("src/lib.rs", "fn main() {}\n")]);
    let big = std::fs::File::create(w.ws.join("dump.sql")).unwrap();
    big.set_len(20 * 1024 * 1024).unwrap();
    let script = w.script(&Scenario {
        agent: vec![answer("Searching.", vec![call("search", json!({ "pattern": "CREATE TABLE" }))]), done("searched")],
        ..Default::default()
    });
    let out = w.run(&args(&w.exec_args(&script, &["find the schema"])));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (_, dir) = w.only_session();
    let result = w.events(&dir).into_iter().find(|e| e["type"] == "tool_result").expect("a result");
    let output = result["output"].as_str().unwrap();
    assert!(!output.trim().ends_with("no matches for `CREATE TABLE`"), "{output}");
    assert!(output.contains("skipped 1 file larger than 16 MiB") && output.contains("dump.sql (20.0 MiB)"), "{output}");
}
