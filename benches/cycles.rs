#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Cycle benchmarks: `cargo bench --bench cycles`.
//!
//! A 300-step scripted session (model delay 0) on a 32,000-token context budget, so the
//! window rolls over again and again. For every rollover it reports:
//! - the time from the rollover decision to the first request of the new window, split into
//!   the workspace snapshot and final checkpoint (the writer is scripted here, so its model
//!   time is ~0), building and recording the window, and the agent's next request. The decision is taken at the step boundary right
//!   after `step_finished`, so that event's time is the start (an upper bound);
//! - the rebuilt window's size against its cap, min(65,000, budget / 2) = 16,000 tokens.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use endure::agent::{self, Supervision};
use endure::config::settings::RunOptions;
use endure::protocol::{Event, EventKind, Role};

const STEPS: usize = 300;
const BUDGET: u64 = 32_000;

fn scenario() -> String {
    let mut s = String::new();
    for i in 0..STEPS {
        let _ = write!(s, "[[agent]]\ntext = \"Step {i}: checking the next function before changing it.\"\n");
        let _ = write!(
            s,
            "[[agent.tool_calls]]\nname = \"read_file\"\narguments = {{ path = \"src/lib.rs\", offset = {}, limit = 40 }}\n",
            (i % 5) * 40 + 1
        );
    }
    s.push_str("[[agent]]\ntext = \"Done.\"\n[[agent.tool_calls]]\nname = \"done\"\narguments = { summary = \"ok\" }\n");
    s.push_str("[[verifier]]\ntext = '{\"met\": true, \"missing\": [], \"evidence\": [\"read\"]}'\n");
    for k in 0..STEPS {
        let _ = write!(
            s,
            "[[writer]]\ntext = '{{\"active_intent\": \"refactor src/lib.rs\", \"next_action\": \"part {k}\", \"directives\": [], \"task_tree\": [\"read\", \"edit\"], \"current_work\": \"part {k}\", \"files\": [\"src/lib.rs: the module\"], \"knowledge\": [], \"errors_and_fixes\": [], \"live_resources\": [], \"decisions\": [], \"open_notes\": \"\"}}'\n"
        );
    }
    s
}

fn ms(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).to_std().unwrap_or_default().as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("src")).expect("mkdir");
    let lib: String = (0..200).map(|i| format!("pub fn f{i}(x: u64) -> u64 {{ x + {i} }} // keeps the counter in step {i}\n")).collect();
    std::fs::write(ws.join("src/lib.rs"), lib).expect("write");
    let script = dir.path().join("scenario.toml");
    std::fs::write(&script, scenario()).expect("write");
    let opts = RunOptions {
        provider: Some("scripted".into()),
        script: Some(script),
        speed: Some(0.0),
        stall_after: Some(0),
        context_budget: Some(BUDGET),
        ..Default::default()
    };
    let cfg =
        endure::launch::agent_config(&ws, &opts, Some("Refactor src/lib.rs, one function per step".into()), Supervision::Headless, 0.0)
            .expect("config");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // Live events too: the agent's request (`model_request`) is live-only.
    let (result, events) = rt.block_on(async {
        let mut handle = agent::spawn(cfg).expect("spawn");
        let mut rx = handle.take_events();
        let collect = tokio::spawn(async move {
            let mut out: Vec<Event> = Vec::new();
            let mut lagged = 0;
            loop {
                match rx.recv().await {
                    Ok(e) => {
                        let end = matches!(e.kind, EventKind::SessionFinished { .. });
                        out.push(e);
                        if end {
                            break;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => lagged += n,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
            assert_eq!(lagged, 0, "the collector fell behind; the figures would miss rollovers");
            out
        });
        let result = handle.join.await.expect("join");
        let events = tokio::time::timeout(Duration::from_secs(30), collect).await.expect("events").expect("collector");
        (result, events)
    });
    assert_eq!(result.outcome, endure::protocol::Outcome::Done, "{}", result.reason);

    let cap = (BUDGET / 2).min(65_000);
    let (mut total, mut writer, mut build, mut to_request, mut sizes) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, e) in events.iter().enumerate() {
        let EventKind::Rollover { window_tokens, .. } = e.kind else { continue };
        sizes.push(window_tokens);
        let Some(decided) = events[..i].iter().rev().find(|x| matches!(x.kind, EventKind::StepFinished { .. })) else { continue };
        let written = events[..i]
            .iter()
            .rev()
            .take_while(|x| x.seq >= decided.seq)
            .find(|x| matches!(x.kind, EventKind::Usage { role: Role::Writer, .. }));
        let Some(request) = events[i..].iter().find(|x| matches!(x.kind, EventKind::ModelRequest { role: Role::Agent, .. })) else {
            continue;
        };
        total.push(ms(decided.ts, request.ts));
        let written_at = written.map_or(decided.ts, |w| w.ts);
        writer.push(ms(decided.ts, written_at));
        build.push(ms(written_at, e.ts));
        to_request.push(ms(e.ts, request.ts));
    }
    assert!(!sizes.is_empty(), "the session never rolled over");
    let mut sorted = sizes.clone();
    sorted.sort_unstable();
    let over = sizes.iter().filter(|s| **s > cap).count();
    println!("endure cycle benchmarks ({STEPS}-step scripted session, {BUDGET}-token budget, model delay 0)");
    println!("  rollovers                                  {:>8}", sizes.len());
    println!("  rollover decision → first request, median  {:>8.2} ms   (max {:.2} ms)", median(total.clone()), max(&total));
    println!("    snapshot and final checkpoint (writer)   {:>8.2} ms", median(writer));
    println!("    build and record the window              {:>8.2} ms", median(build.clone()));
    println!("    rollover event → agent request           {:>8.2} ms", median(to_request));
    println!(
        "  rebuilt window vs cap {cap}             min {} · median {} · max {} tokens ({:.0}% of the cap at the median; {over} over)",
        sorted[0],
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1],
        sorted[sorted.len() / 2] as f64 * 100.0 / cap as f64
    );
}
