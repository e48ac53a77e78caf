#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Runtime benchmarks: `cargo bench --bench harness`.
//!
//! - harness overhead per step (scripted model at zero delay, so model time is ~0): median of
//!   step durations over a 1,000-step session;
//! - replay of a 10,000-event log (read + fold), median of 20 runs;
//! - peak RSS of a 1,000-step headless session of the real binary (its own `VmHWM`);
//! - prompt prefix stability: a 300-step session (no rollover) served over HTTP by the
//!   loopback model server, and the share of each request's (estimated) tokens that is a
//!   byte-identical prefix of the previous request, which is what providers' prefix caches
//!   can reuse. `cargo bench --bench harness -- prefix` runs this figure alone.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use endure::agent::{self, Supervision};
use endure::config::settings::RunOptions;
use endure::protocol::EventKind;
use endure::session::{SessionState, read_log};

const STEPS: usize = 1000;

/// [`common::refactor_session`], with the background writer's answers.
fn scenario(steps: usize) -> String {
    let mut s = common::refactor_session(steps);
    // The background writer's answers: a checkpoint at each threshold and rollover.
    for k in 0..steps / 10 {
        let _ = write!(
            s,
            "[[writer]]\ntext = '{{\"active_intent\": \"refactor\", \"next_action\": \"part {k}\", \"directives\": [], \"task_tree\": [\"read\", \"edit\"], \"current_work\": \"part {k}\", \"files\": [\"src/lib.rs: the module\"], \"knowledge\": [], \"errors_and_fixes\": [], \"live_resources\": [], \"decisions\": [], \"open_notes\": \"\"}}'\n"
        );
    }
    s
}

fn setup(dir: &Path, steps: usize) -> (std::path::PathBuf, std::path::PathBuf) {
    let ws = dir.join("ws");
    std::fs::create_dir_all(ws.join("src")).expect("mkdir");
    let mut lib = String::from("// marker 0\n");
    for i in 0..200 {
        let _ = writeln!(lib, "pub fn f{i}(x: u64) -> u64 {{ x + {i} }}");
    }
    std::fs::write(ws.join("src/lib.rs"), lib).expect("write");
    let script = dir.join("scenario.toml");
    std::fs::write(&script, scenario(steps)).expect("write");
    (ws, script)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn opts(script: &Path) -> RunOptions {
    RunOptions {
        provider: Some("scripted".into()),
        script: Some(script.to_path_buf()),
        speed: Some(0.0),
        stall_after: Some(0),
        ..Default::default()
    }
}

fn step_overhead() -> (Duration, Duration, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ws, script) = setup(dir.path(), STEPS);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let cfg = endure::launch::agent_config(&ws, &opts(&script), Some("refactor".into()), Supervision::Headless, 0.0).expect("config");
    let started = Instant::now();
    let (result, log) = rt.block_on(async {
        let handle = agent::spawn(cfg).expect("spawn");
        let log = handle.log_path.clone();
        (handle.join.await.expect("join"), log)
    });
    let total = started.elapsed();
    assert_eq!(result.outcome, endure::protocol::Outcome::Done, "{}", result.reason);
    let events = read_log(&log).expect("log").events;
    let mut starts = std::collections::HashMap::new();
    let mut per_step = Vec::new();
    for e in &events {
        match e.kind {
            EventKind::StepStarted { step } => {
                starts.insert(step, e.ts);
            }
            EventKind::StepFinished { step } => {
                if let Some(s) = starts.get(&step) {
                    per_step.push((e.ts - *s).to_std().unwrap_or_default());
                }
            }
            _ => {}
        }
    }
    (median(per_step), total / (STEPS as u32 + 1), log, dir)
}

fn replay(log: &Path) -> (usize, Duration) {
    // Grow the 1,000-step log to at least 10,000 events by repeating its body.
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("events.jsonl");
    let body = std::fs::read_to_string(log).expect("read");
    let mut text = String::new();
    while text.lines().count() < 10_000 {
        text.push_str(&body);
    }
    std::fs::write(&big, &text).expect("write");
    let n = text.lines().count();
    let runs: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            let read = read_log(&big).expect("read");
            let state = SessionState::from_events(&read.events);
            std::hint::black_box(state);
            t.elapsed()
        })
        .collect();
    (n, median(runs))
}

/// Peak RSS of the endure process itself. `getrusage(RUSAGE_CHILDREN)` would report the
/// largest descendant, which is a `git` snapshot process rather than endure, so this samples
/// the child's own high-water mark (`VmHWM`, which never decreases) until it exits.
fn peak_rss_kib() -> Option<i64> {
    let dir = tempfile::tempdir().ok()?;
    let (ws, script) = setup(dir.path(), STEPS);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_endure"))
        .args(["exec", "--provider", "scripted", "--speed", "0", "--stall-after", "0", "--script"])
        .arg(&script)
        .arg("-C")
        .arg(&ws)
        .arg("refactor")
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = None;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            let hwm = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok());
            if hwm.is_some() {
                peak = hwm;
            }
        }
        if let Some(status) = child.try_wait().ok()? {
            assert!(status.success(), "the 1,000-step session failed: {status}");
            return peak;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Steps of the prefix-stability session.
const PREFIX_STEPS: usize = 300;

/// How much of each request repeats the previous one byte for byte, over `wire`: (share of
/// estimated tokens, share of bytes, requests compared).
fn prefix_share(wire: support::Wire) -> (f64, f64, usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ws, script) = setup(dir.path(), PREFIX_STEPS);
    let scenario = endure::model::scripted::Scenario::load(&script).expect("scenario");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (reqs, events) = rt.block_on(async {
        let server =
            support::TestServer::builder().scenario(scenario).role_model(endure::protocol::Role::Verifier, "verifier-model").start().await;
        let opts = RunOptions {
            provider: Some(wire.provider().into()),
            base_url: Some(server.base_url(wire)),
            model: Some("scripted".into()),
            verifier_model: Some("verifier-model".into()),
            stall_after: Some(0),
            // No checkpoint and no rollover: the figure is about one window.
            context_budget: Some(1_000_000_000),
            ..Default::default()
        };
        let cfg = endure::launch::agent_config(&ws, &opts, Some("refactor".into()), Supervision::Headless, 0.0).expect("config");
        let handle = agent::spawn(cfg).expect("spawn");
        let log = handle.log_path.clone();
        let result = handle.join.await.expect("join");
        assert_eq!(result.outcome, endure::protocol::Outcome::Done, "{}", result.reason);
        let reqs: Vec<String> = server.requests().into_iter().filter(|r| r.model() == "scripted").map(|r| r.raw).collect();
        (reqs, read_log(&log).expect("log").events)
    });
    assert!(
        !events.iter().any(|e| matches!(e.kind, EventKind::Rollover { .. } | EventKind::CheckpointSaved { .. })),
        "the session rolled over"
    );
    assert_eq!(reqs.len(), PREFIX_STEPS + 1, "one request per agent answer");
    let (mut same_tokens, mut all_tokens, mut same_bytes, mut all_bytes) = (0u64, 0u64, 0usize, 0usize);
    for pair in reqs.windows(2) {
        let (prev, cur) = (&pair[0], &pair[1]);
        let mut same = prev.bytes().zip(cur.bytes()).take_while(|(a, b)| a == b).count();
        while !cur.is_char_boundary(same) {
            same -= 1;
        }
        same_tokens += endure::memory::tokens::estimate(&cur[..same]);
        all_tokens += endure::memory::tokens::estimate(cur);
        same_bytes += same;
        all_bytes += cur.len();
    }
    (same_tokens as f64 / all_tokens as f64, same_bytes as f64 / all_bytes as f64, reqs.len() - 1)
}

fn print_prefix_share() {
    println!("prompt prefix stability ({PREFIX_STEPS}-step session over HTTP, no rollover; goal >= 97%)");
    for wire in [support::Wire::OpenAi, support::Wire::Responses] {
        let (tokens, bytes, n) = prefix_share(wire);
        println!(
            "  {:<18} {:>6.2}% of request tokens ({:.2}% of bytes) repeat the previous request byte for byte, over {n} requests",
            wire.provider(),
            tokens * 100.0,
            bytes * 100.0
        );
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing: run either way.
    if std::env::args().skip(1).any(|a| a == "prefix") {
        print_prefix_share();
        return;
    }
    let (median_step, mean_step, log, _dir) = step_overhead();
    let (events, replay_time) = replay(&log);
    let rss = peak_rss_kib();
    println!("endure runtime benchmarks ({STEPS}-step scripted session, model delay 0)");
    println!("  harness time per step, median  {:>10.3} ms   (target < 2 ms)", median_step.as_secs_f64() * 1e3);
    println!("  wall time per step, mean       {:>10.3} ms", mean_step.as_secs_f64() * 1e3);
    println!("  replay of {events} events, median {:>8.1} ms   (target < 100 ms)", replay_time.as_secs_f64() * 1e3);
    match rss {
        Some(kib) => println!("  peak RSS, {STEPS}-step session    {:>10.1} MB   (target < 50 MB)", kib as f64 / 1024.0),
        None => println!("  peak RSS: unavailable"),
    }
    print_prefix_share();
}
