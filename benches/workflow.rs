#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Workflow benchmarks: `cargo bench --bench workflow`.
//!
//! - overhead per `agent()` call with the model answering at once (scripted provider at zero
//!   delay): a script of N sequential calls, each a whole subagent session (log, lock, state,
//!   one step, `done`), wall time / N; with the sandbox off (endure's own cost) and on (what a
//!   user gets: a sandbox and a network namespace per subagent);
//! - replaying a journal of 1,000 finished agents: the same run, killed after its last agent
//!   (its end removed from the log), resumed; median of 5 resumes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use endure::agent::Supervision;
use endure::config::settings::RunOptions;
use endure::workflow::session::{self, Start};

const REPLAYED: usize = 1000;

fn scenario(dir: &Path) -> PathBuf {
    let path = dir.join("scenario.toml");
    std::fs::write(
        &path,
        "[[subagents.\"*\".agent]]\ntext = \"Done.\"\n[[subagents.\"*\".agent.tool_calls]]\nname = \"done\"\narguments = { summary = \"ok\" }\n",
    )
    .expect("scenario");
    path
}

fn script(n: usize) -> String {
    format!(
        "const out = [];\nfor (let i = 0; i < {n}; i++) out.push(await agent(`task ${{i}}`, {{ label: `a${{i}}` }}));\nreturn out.length;\n"
    )
}

fn options(scenario: &Path, sandbox: &str) -> RunOptions {
    RunOptions {
        provider: Some("scripted".into()),
        script: Some(scenario.to_path_buf()),
        speed: Some(0.0),
        sandbox: Some(<endure::sandbox::SandboxMode as clap::ValueEnum>::from_str(sandbox, false).expect("sandbox mode")),
        ..Default::default()
    }
}

/// Runs a new workflow of `n` sequential agents; returns its wall time and its session id.
async fn run(ws: &Path, opts: &RunOptions, n: usize) -> (Duration, String) {
    let cfg = endure::launch::agent_config(ws, opts, None, Supervision::Headless, 0.0).expect("config");
    let started = Instant::now();
    let handle =
        session::start(cfg, Start::New { name: "bench.js".into(), script: script(n), args: serde_json::Value::Null }).expect("start");
    let id = handle.session_id.clone();
    let end = handle.join.await.expect("join");
    assert_eq!(end.result, Some(serde_json::json!(n)), "{}", end.reason);
    (started.elapsed(), id)
}

fn fresh(root: &Path, name: &str) -> PathBuf {
    let ws = root.join(name);
    std::fs::create_dir_all(&ws).expect("workspace");
    std::fs::write(ws.join("README.md"), "bench\n").expect("file");
    ws
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    endure::model::install_tls();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = scenario(dir.path());
    rt.block_on(async {
        for (sandbox, n) in [("off", 200), ("workspace-write", 50)] {
            let ws = fresh(dir.path(), &format!("per-call-{sandbox}"));
            let (wall, _) = run(&ws, &options(&scenario, sandbox), n).await;
            println!(
                "agent() overhead, sandbox {sandbox}: {:.2} ms per call ({n} sequential calls in {:.2} s)",
                wall.as_secs_f64() * 1000.0 / n as f64,
                wall.as_secs_f64()
            );
        }

        let ws = fresh(dir.path(), "replay");
        let opts = options(&scenario, "off");
        let (wall, id) = run(&ws, &opts, REPLAYED).await;
        println!(
            "a run of {REPLAYED} agents: {:.2} s ({:.2} ms per agent)",
            wall.as_secs_f64(),
            wall.as_secs_f64() * 1000.0 / REPLAYED as f64
        );
        // As if the process died right after the last agent finished: the run's end is not in
        // the log, the journal has every agent.
        let log = endure::session::log_path(&ws, &id);
        let text = std::fs::read_to_string(&log).expect("log");
        let cut: String = text
            .lines()
            .filter(|l| !l.contains("\"type\":\"workflow_finished\"") && !l.contains("\"type\":\"session_finished\""))
            .map(|l| format!("{l}\n"))
            .collect();
        let mut times = Vec::new();
        for _ in 0..5 {
            std::fs::write(&log, &cut).expect("log");
            let mut cfg = endure::launch::agent_config(&ws, &opts, None, Supervision::Headless, 0.0).expect("config");
            cfg.session_id = Some(id.clone());
            let started = Instant::now();
            let handle = session::start(cfg, Start::Resume).expect("resume");
            let end = handle.join.await.expect("join");
            times.push(started.elapsed());
            assert_eq!(end.result, Some(serde_json::json!(REPLAYED)), "{}", end.reason);
        }
        let m = median(times);
        println!(
            "replaying a journal of {REPLAYED} finished agents: {:.1} ms (median of 5; {:.1} µs per agent; nothing run again)",
            m.as_secs_f64() * 1000.0,
            m.as_secs_f64() * 1e6 / REPLAYED as f64
        );
    });
}
