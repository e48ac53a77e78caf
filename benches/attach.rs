#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Control socket and attach benchmarks: `cargo bench --bench attach`.
//!
//! 1. The socket's added latency per event: one session streams; each persisted event's
//!    arrival at an in-process subscriber (the workbench's path) and at a socket client (the
//!    `attach` path: the server's connection task, JSON, the socket, the client's parse) are
//!    timed; the difference's median and 99th percentile.
//! 2. CPU per attached client while 5 sessions stream: five sessions stream answers at a
//!    model's pace (scripted, word by word) in this process; one client process per session
//!    (this binary again) attaches over the socket and does what the attached workbench does
//!    (folds every event into `App`, draws at most every 16 ms on a 160x48 `TestBackend`) for
//!    10 s, then reports its own CPU time.
//! 3. Attach time to the first frame on a 10,000-event session: connect, subscribe from 0,
//!    fold the backlog into `App` until the last event, draw; median of 5.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use endure::agent::Supervision;
use endure::config::settings::RunOptions;
use endure::control::ControlServer;
use endure::control::attach::{self, Incoming};
use endure::protocol::{Command, EventKind};
use endure::tui::{App, WorkbenchOptions};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const CLIENT_ENV: &str = "ENDURE_BENCH_ATTACH_CLIENT";
const CLIENT_SECS: u64 = 10;
const SESSIONS: usize = 5;

fn scenario(dir: &Path, name: &str, steps: usize, words: usize) -> PathBuf {
    let text: String = (0..words).map(|i| format!("word{i} ")).collect();
    let mut s = String::new();
    for _ in 0..steps {
        s.push_str(&format!(
            "[[agent]]\ntext = \"{text}\"\n[[agent.tool_calls]]\nname = \"read_file\"\narguments = {{ path = \"a.txt\" }}\n"
        ));
    }
    s.push_str("[[agent]]\ntext = \"Done.\"\n[[agent.tool_calls]]\nname = \"done\"\narguments = { summary = \"ok\" }\n");
    s.push_str("[[verifier]]\ntext = '{\"met\": true, \"missing\": [], \"evidence\": [\"ok\"]}'\n");
    let path = dir.join(name);
    std::fs::write(&path, s).unwrap();
    path
}

fn workspace(root: &Path, name: &str) -> PathBuf {
    let ws = root.join(name);
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("a.txt"), "hello\n").unwrap();
    std::fs::canonicalize(ws).unwrap()
}

fn options(script: PathBuf, speed: f64, max_steps: Option<u64>) -> RunOptions {
    RunOptions {
        provider: Some("scripted".into()),
        script: Some(script),
        speed: Some(speed),
        max_steps,
        // Far from any checkpoint or rollover threshold: the scripted writer has no answers.
        context_budget: Some(50_000_000),
        // The same read again and again is what the stall detector catches.
        stall_after: Some(1_000_000),
        sandbox: Some(endure::sandbox::SandboxMode::Off),
        ..Default::default()
    }
}

fn opts() -> WorkbenchOptions {
    WorkbenchOptions { attached: Some("bench".into()), bell: false, title_updates: false, ..WorkbenchOptions::default() }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

/// CPU seconds (user + system) of this process.
fn cpu_secs() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

async fn latency(root: &Path) {
    let ws = workspace(root, "latency");
    let script = scenario(root, "latency.toml", 200, 30);
    // Supervised without a task: it waits for `Start`, so both subscribers see every event live.
    let cfg = endure::launch::agent_config(&ws, &options(script, 0.02, None), None, Supervision::Supervised, 0.0).unwrap();
    let mut handle = endure::agent::spawn(cfg).unwrap();
    let server = ControlServer::for_session(&handle, "bench").unwrap();
    let mut local = handle.take_events();
    let mut remote = attach::connect(server.socket(), "bench-latency", 0).await.unwrap();
    let local_task = tokio::spawn(async move {
        let mut at = std::collections::HashMap::new();
        while let Ok(ev) = local.recv().await {
            if !ev.kind.is_live_only() {
                at.insert(ev.seq, Instant::now());
            }
            if matches!(ev.kind, EventKind::SessionFinished { .. }) {
                break;
            }
        }
        at
    });
    let remote_task = tokio::spawn(async move {
        let mut at = std::collections::HashMap::new();
        while let Some(item) = remote.events.recv().await {
            if let Incoming::Event(ev) = item {
                if !ev.kind.is_live_only() {
                    at.insert(ev.seq, Instant::now());
                }
                if matches!(ev.kind, EventKind::SessionFinished { .. }) {
                    break;
                }
            }
        }
        at
    });
    handle.commands.send(Command::Start("bench".into())).unwrap();
    let (local, remote) = (local_task.await.unwrap(), remote_task.await.unwrap());
    let _ = handle.join.await;
    server.finish().await;
    let mut added: Vec<f64> =
        local.iter().filter_map(|(seq, t)| remote.get(seq).map(|r| r.saturating_duration_since(*t).as_secs_f64() * 1e6)).collect();
    let n = added.len();
    println!(
        "socket added latency per event: median {:.0} µs, p99 {:.0} µs ({n} events; {} persisted in all)",
        median(&mut added),
        pct(&mut added, 0.99),
        local.len()
    );
}

/// The client process: attaches to one session and works like the attached workbench.
async fn client(socket: &str) {
    let mut remote = attach::connect(Path::new(socket), &attach::client_name("bench"), 0).await.unwrap();
    let mut app = App::live(opts(), &[], remote.commands.clone(), false);
    let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
    let start_cpu = cpu_secs();
    let end = Instant::now() + Duration::from_secs(CLIENT_SECS);
    let mut tick = tokio::time::interval(Duration::from_millis(16));
    let (mut dirty, mut events, mut frames) = (true, 0u64, 0u64);
    loop {
        tokio::select! {
            item = remote.events.recv() => match item {
                Some(Incoming::Event(ev)) => { app.apply_event(&ev); events += 1; dirty = true; }
                Some(Incoming::Error(_)) => {}
                None => break,
            },
            _ = tick.tick() => {
                if Instant::now() >= end { break; }
                if dirty {
                    term.draw(|f| app.render(f)).unwrap();
                    frames += 1;
                    dirty = false;
                }
            }
        }
    }
    println!("{} {events} {frames}", cpu_secs() - start_cpu);
}

async fn cpu_per_client(root: &Path) {
    let mut handles = Vec::new();
    let mut servers = Vec::new();
    for i in 0..SESSIONS {
        let ws = workspace(root, &format!("stream{i}"));
        let script = scenario(root, &format!("stream{i}.toml"), 400, 120);
        let cfg =
            endure::launch::agent_config(&ws, &options(script, 0.25, None), Some("bench".into()), Supervision::Supervised, 0.0).unwrap();
        let handle = endure::agent::spawn(cfg).unwrap();
        servers.push(ControlServer::for_session(&handle, "bench").unwrap());
        handles.push(handle);
    }
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = servers
        .iter()
        .map(|s| std::process::Command::new(&exe).env(CLIENT_ENV, s.socket()).stdout(std::process::Stdio::piped()).spawn().unwrap())
        .collect();
    let outs: Vec<String> = tokio::task::spawn_blocking(move || {
        children.into_iter().map(|c| String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap()).collect()
    })
    .await
    .unwrap();
    let (mut cpu, mut events, mut frames) = (Vec::new(), 0u64, 0u64);
    for o in &outs {
        let f: Vec<f64> = o.split_whitespace().map(|x| x.parse().unwrap()).collect();
        cpu.push(f[0] / CLIENT_SECS as f64 * 100.0);
        events += f[1] as u64;
        frames += f[2] as u64;
    }
    let n = outs.len() as f64;
    println!(
        "CPU per attached client while {SESSIONS} sessions stream: median {:.1}% of one core, max {:.1}% ({:.0} events/s and {:.0} frames/s per client over {CLIENT_SECS} s)",
        median(&mut cpu.clone()),
        cpu.iter().copied().fold(0.0, f64::max),
        events as f64 / n / CLIENT_SECS as f64,
        frames as f64 / n / CLIENT_SECS as f64,
    );
    for h in &handles {
        let _ = h.commands.send(Command::Stop);
    }
    for h in handles {
        let _ = h.join.await;
    }
    for s in servers {
        s.finish().await;
    }
}

async fn attach_time(root: &Path) {
    let ws = workspace(root, "big");
    let steps = 1700;
    let script = scenario(root, "big.toml", steps + 10, 5);
    // Supervised with a step budget: it pauses at the end, a running session with a long log.
    let run = options(script, 0.0, Some(steps as u64));
    let cfg = endure::launch::agent_config(&ws, &run, Some("bench".into()), Supervision::Supervised, 0.0).unwrap();
    let mut handle = endure::agent::spawn(cfg).unwrap();
    let mut rx = handle.take_events();
    let server = ControlServer::for_session(&handle, "bench").unwrap();
    let built = Instant::now();
    loop {
        let ev = rx.recv().await.unwrap();
        if matches!(ev.kind, EventKind::Paused { .. }) {
            break;
        }
    }
    let log = endure::session::read_log(&handle.log_path).unwrap().events;
    let last = log.last().unwrap().seq;
    eprintln!("  (built a {}-event session in {:.1} s)", log.len(), built.elapsed().as_secs_f64());
    let mut times = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let mut remote = attach::connect(server.socket(), &attach::client_name("bench-first-frame"), 0).await.unwrap();
        let mut app = App::live(opts(), &[], remote.commands.clone(), false);
        let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
        while let Some(item) = remote.events.recv().await {
            if let Incoming::Event(ev) = item {
                let done = ev.seq >= last && !ev.kind.is_live_only();
                app.apply_event(&ev);
                if done {
                    break;
                }
            }
        }
        term.draw(|f| app.render(f)).unwrap();
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "attach time to the first frame on a {}-event session: median {:.0} ms (min {:.0}, max {:.0}; 160x48)",
        log.len(),
        median(&mut times.clone()),
        times.iter().copied().fold(f64::MAX, f64::min),
        times.iter().copied().fold(0.0, f64::max)
    );
    let _ = handle.commands.send(Command::Stop);
    let _ = handle.join.await;
    server.finish().await;
}

fn main() {
    if let Ok(socket) = std::env::var(CLIENT_ENV) {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        rt.block_on(client(&socket));
        return;
    }
    let root = tempfile::tempdir().unwrap();
    // SAFETY: set while this process has one thread; the registry of these sessions stays in
    // the temporary directory.
    unsafe { std::env::set_var("ENDURE_STATE_DIR", root.path().join("state")) };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        latency(root.path()).await;
        cpu_per_client(root.path()).await;
        attach_time(root.path()).await;
    });
}
