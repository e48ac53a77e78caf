#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Crash resume: SIGKILL the real binary at 20 random points of a scripted session, resume
//! each time, and compare with an uninterrupted run.
//!
//! Each step's command guards its side effect with `mkdir` (atomic), as a careful agent would
//! after being told a call was interrupted with an unknown outcome. The scripted model asks
//! for an interrupted answer again; the runtime never re-runs a call on its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STEPS: usize = 40;

fn scenario() -> String {
    let mut s = String::new();
    for k in 1..=STEPS {
        s.push_str(&format!(
            "[[agent]]\ntext = \"Step {k}.\"\n[[agent.tool_calls]]\nname = \"run\"\narguments = {{ command = \"echo {k} >> attempts.txt; mkdir -p .locks; mkdir .locks/{k} 2>/dev/null && echo {k} >> effects.txt; sleep 0.08\" }}\n"
        ));
        if k % 8 == 0 {
            s.push_str(&format!(
                "[[agent.tool_calls]]\nname = \"write_file\"\narguments = {{ path = \"notes/{k}.md\", content = \"step {k} done\\n\" }}\n"
            ));
        }
    }
    s.push_str("[[agent]]\ntext = \"Done.\"\n[[agent.tool_calls]]\nname = \"done\"\narguments = { summary = \"all steps\" }\n");
    s.push_str("[[verifier]]\ntext = '{\"met\": true, \"missing\": [], \"evidence\": [\"effects.txt has every step\"]}'\n");
    s
}

fn endure(ws: &Path, cfg: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_endure"))
        .args(args)
        .current_dir(ws)
        .env("ENDURE_CONFIG_DIR", cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn endure")
}

fn setup(root: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ws = root.join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let cfg = root.join("cfg");
    std::fs::create_dir_all(&cfg).unwrap();
    let script = root.join("s.toml");
    std::fs::write(&script, scenario()).unwrap();
    (ws, cfg, script)
}

fn start_args(script: &Path) -> Vec<String> {
    vec![
        "exec".into(),
        "--provider".into(),
        "scripted".into(),
        "--speed".into(),
        "0".into(),
        "--script".into(),
        script.display().to_string(),
        "guarded steps".into(),
    ]
}

fn wait_exit(child: &mut Child, secs: u64) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("endure did not finish in {secs}s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every file under `dir` but `.endure/`, with its content.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            if rel == ".endure" {
                continue;
            }
            if p.is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                stack.push(p);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn log_file(ws: &Path) -> Option<PathBuf> {
    let dir = std::fs::read_dir(ws.join(".endure/sessions")).ok()?.flatten().next()?.path();
    Some(dir.join("events.jsonl"))
}

#[test]
fn twenty_kills_and_resumes_end_like_an_uninterrupted_run() {
    let root = tempfile::tempdir().unwrap();
    let (ws_a, cfg_a, script_a) = setup(&root.path().join("a"));
    let mut child = endure(&ws_a, &cfg_a, &start_args(&script_a).iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(wait_exit(&mut child, 120), Some(0), "the uninterrupted run");
    let expected = tree(&ws_a);

    let (ws, cfg, script) = setup(&root.path().join("b"));
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut kills = 0;
    let mut first = true;
    // Resumed processes that appended anything to the log before they were killed. A kill can
    // land before a resumed process has written its first event (on a loaded machine it often
    // does); such a process leaves the log as it was, which is consistent, and is not counted.
    let mut resumes_that_wrote = 0;
    while kills < 20 {
        let args: Vec<String> = if first { start_args(&script) } else { vec!["exec".into(), "--resume".into()] };
        let resuming = !first;
        let before = if resuming { persisted_seqs(&ws) } else { 0 };
        let mut child = endure(&ws, &cfg, &args.iter().map(String::as_str).collect::<Vec<_>>());
        if first {
            // Kill only once the session exists, so there is something to resume.
            let deadline = Instant::now() + Duration::from_secs(20);
            while !log_file(&ws).is_some_and(|l| std::fs::read_to_string(l).is_ok_and(|t| t.contains("\"user_message\""))) {
                assert!(Instant::now() < deadline, "the session never started");
                std::thread::sleep(Duration::from_millis(5));
            }
            first = false;
        }
        std::thread::sleep(Duration::from_millis(rng.u64(20..260)));
        if let Some(status) = child.try_wait().unwrap() {
            // It finished before the kill: nothing more to interrupt.
            assert_eq!(status.code(), Some(0), "a resumed run failed");
            resumes_that_wrote += usize::from(resuming && resume_wrote(&ws, before));
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if !resuming {
            kills += 1;
            continue;
        }
        resumes_that_wrote += usize::from(resume_wrote(&ws, before));
        kills += 1;
    }
    let before = persisted_seqs(&ws);
    let mut last = endure(&ws, &cfg, &["exec", "--resume"]);
    let code = wait_exit(&mut last, 120);
    resumes_that_wrote += usize::from(resume_wrote(&ws, before));
    let log = std::fs::read_to_string(log_file(&ws).unwrap()).unwrap();
    assert!(kills >= 10, "only {kills} kills landed before the session ended");
    assert!(code == Some(0) || log.contains("\"outcome\":\"done\""), "the final resume ended with {code:?}");

    // The same workspace as the uninterrupted run: every effect exactly once.
    let effects = std::fs::read_to_string(ws.join("effects.txt")).unwrap();
    let lines: Vec<&str> = effects.lines().collect();
    let mut sorted = lines.clone();
    sorted.sort_by_key(|l| l.parse::<usize>().unwrap_or(0));
    sorted.dedup();
    assert_eq!(lines.len(), sorted.len(), "a side effect ran twice: {effects}");
    let got = tree(&ws);
    let strip = |t: &BTreeMap<String, Vec<u8>>| {
        t.iter().filter(|(k, _)| *k != "attempts.txt").map(|(k, v)| (k.clone(), v.clone())).collect::<BTreeMap<_, _>>()
    };
    let mut want = strip(&expected);
    let mut have = strip(&got);
    // Order of effects.txt lines is the same too, since steps run in order.
    let text = |v: Option<Vec<u8>>| String::from_utf8_lossy(&v.unwrap_or_default()).replace('\n', " ");
    assert_eq!(text(have.remove("effects.txt")), text(want.remove("effects.txt")));
    let differ: Vec<&String> = have.keys().chain(want.keys()).filter(|k| have.get(*k) != want.get(*k)).collect();
    assert!(differ.is_empty(), "the workspace differs from the uninterrupted run's in {differ:?}");

    // A command ran a second time only where the log says its first run was interrupted.
    let attempts = std::fs::read_to_string(ws.join("attempts.txt")).unwrap();
    let read = endure::session::read_log(&log_file(&ws).unwrap()).unwrap();
    let interrupted: Vec<String> = read
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            endure::protocol::EventKind::SessionResumed { interrupted_calls, .. } => Some(interrupted_calls.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    for k in 1..=STEPS {
        let n = attempts.lines().filter(|l| *l == k.to_string()).count();
        assert!(n >= 1, "step {k} never ran");
        assert!(n <= 1 + interrupted.len(), "step {k} ran {n} times");
    }
    // One `session_resumed` per resumed process that wrote anything.
    let resumed = read.events.iter().filter(|e| matches!(e.kind, endure::protocol::EventKind::SessionResumed { .. })).count();
    assert_eq!(resumed, resumes_that_wrote, "session_resumed events against resumed processes that wrote to the log");
    assert!(resumed >= 1, "no resume ever wrote to the log");
}

/// Whether a resumed process appended to the log past its first `before` events. Whatever
/// it appended must begin with its `session_resumed`: nothing it does comes before the log
/// says it resumed.
fn resume_wrote(ws: &Path, before: usize) -> bool {
    let read = endure::session::read_log(&log_file(ws).unwrap()).unwrap();
    let Some(first_new) = read.events.get(before) else { return false };
    assert!(
        matches!(first_new.kind, endure::protocol::EventKind::SessionResumed { .. }),
        "a resumed process wrote {:?} before session_resumed",
        first_new.kind
    );
    true
}

/// How many events the session's log holds now.
fn persisted_seqs(ws: &Path) -> usize {
    log_file(ws).and_then(|l| endure::session::read_log(&l).ok()).map(|r| r.events.len()).unwrap_or(0)
}
