#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Prompt caching: consecutive requests share a byte-identical prefix up to the previous
//! request's newest message (OpenAI-compatible and Responses servers cache such prefixes by
//! themselves), Anthropic requests carry their cache breakpoints where they belong, and cached
//! tokens reach the usage events, the cost and `sessions --json`.

mod common;
mod support;

use std::process::Command;

use common::{finish, wait_for};
use endure::agent::{self, Supervision};
use endure::config::settings::RunOptions;
use endure::model::scripted::Scenario;
use endure::protocol::{Command as RunCommand, EventKind, Outcome, Role};
use serde_json::Value;
use support::{Recorded, TestServer, Wire};

/// Reads, a failing test run (feedback in its result), a task list, an answer without a tool
/// call (the runtime nudges), a write, done; the supervisor corrects the agent on the way.
const SESSION: &str = r#"
[[agent]]
text = "Reading the input."
[[agent.tool_calls]]
name = "read_file"
arguments = { path = "a.txt" }

[[agent]]
text = "Running the tests."
[[agent.tool_calls]]
name = "run"
arguments = { command = "printf 'FAILED test_a.py::test_one - assert 1 == 2\n1 failed, 1 passed in 0.02s\n'; exit 1" }

[[agent]]
text = "Planning."
[[agent.tool_calls]]
name = "todo"
arguments = { tasks = [{ title = "fix test_one", status = "in_progress" }] }

[[agent]]
text = "The assertion compares the wrong values."

[[agent]]
text = "Writing the note."
[[agent.tool_calls]]
name = "write_file"
arguments = { path = "notes.md", content = "test_one compares the wrong values\n" }

[[agent]]
text = "Done."
[[agent.tool_calls]]
name = "done"
arguments = { summary = "noted the cause" }

[[verifier]]
text = '{"met": true, "missing": [], "evidence": ["notes.md names the cause"]}'
"#;

/// Runs SESSION over `wire` in the workbench's mode, with a correction after the first tool
/// result; returns the agent's requests.
async fn session(wire: Wire) -> Vec<Recorded> {
    let scenario = Scenario::parse(SESSION, false).unwrap();
    let server = TestServer::builder().scenario(scenario).role_model(Role::Verifier, "verifier-model").start().await;
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("a.txt"), "alpha\n").unwrap();
    let opts = RunOptions {
        provider: Some(wire.provider().into()),
        base_url: Some(server.base_url(wire)),
        model: Some("scripted".into()),
        verifier_model: Some("verifier-model".into()),
        retry_base_ms: Some(10),
        ..Default::default()
    };
    let cfg = endure::launch::agent_config(ws.path(), &opts, Some("find why test_one fails".into()), Supervision::Supervised, 0.0).unwrap();
    let mut handle = agent::spawn(cfg).unwrap();
    let mut rx = handle.take_events();
    wait_for(&mut rx, "the first tool result", |k| matches!(k, EventKind::ToolResult { .. })).await;
    handle.commands.send(RunCommand::Inject("Write the cause to notes.md.".into())).unwrap();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{wire:?}: {}", result.reason);
    let reqs: Vec<Recorded> = server.requests().into_iter().filter(|r| r.model() == "scripted").collect();
    assert_eq!(reqs.len(), 6, "{wire:?}");
    assert!(reqs.iter().any(|r| r.raw.contains("Write the cause to notes.md.")), "{wire:?}: the correction was delivered");
    reqs
}

/// Each request begins with the whole previous request up to the end of its newest message
/// (the conversation array ends just before `end_marker`); the conversation comes after the
/// tools and system prompt.
fn assert_prefix_stable(wire: Wire, bodies: &[String], conversation: &str, end_marker: &str) {
    for (i, pair) in bodies.windows(2).enumerate() {
        let (prev, cur) = (&pair[0], &pair[1]);
        let end = prev.rfind(end_marker).unwrap_or_else(|| panic!("{wire:?}: no {end_marker} in {prev}"));
        let same = prev.bytes().zip(cur.bytes()).take_while(|(a, b)| a == b).count();
        assert!(
            same >= end,
            "{wire:?}: request {} differs from request {} at byte {same} of {end}:\n  before: …{}\n  after:  …{}",
            i + 2,
            i + 1,
            &prev[same.saturating_sub(80)..(same + 80).min(prev.len())],
            &cur[same.saturating_sub(80)..(same + 80).min(cur.len())]
        );
        let conv = cur.find(&format!("\"{conversation}\":[")).unwrap();
        assert!(cur[..conv].contains("\"tools\":["), "{wire:?}: tools before the conversation");
        assert!(end > prev.len() * 9 / 10, "{wire:?}: the prefix is most of the request ({end} of {})", prev.len());
    }
}

#[tokio::test]
async fn consecutive_openai_requests_share_a_byte_identical_prefix() {
    let reqs = session(Wire::OpenAi).await;
    let bodies: Vec<String> = reqs.iter().map(|r| r.raw.clone()).collect();
    assert_prefix_stable(Wire::OpenAi, &bodies, "messages", "],\"stream\":");
    // The feedback of the failing run is in its own (then newest) message, nowhere else.
    let with_feedback = bodies.iter().position(|b| b.contains("1 failed, 1 passed")).unwrap();
    assert_eq!(with_feedback, 2, "first sent with the request after the run");
}

#[tokio::test]
async fn consecutive_responses_requests_share_a_byte_identical_prefix() {
    let reqs = session(Wire::Responses).await;
    let bodies: Vec<String> = reqs.iter().map(|r| r.raw.clone()).collect();
    assert_prefix_stable(Wire::Responses, &bodies, "input", "],\"stream\":");
}

#[tokio::test]
async fn anthropic_requests_mark_tools_system_and_the_newest_message() {
    let reqs = session(Wire::Anthropic).await;
    for (i, r) in reqs.iter().enumerate() {
        assert_eq!(r.raw.matches("cache_control").count(), 3, "request {}: three breakpoints: {}", i + 1, r.raw);
        let tools = r.body["tools"].as_array().unwrap();
        assert_eq!(tools.last().unwrap()["cache_control"]["type"], "ephemeral", "the last tool");
        assert!(tools[..tools.len() - 1].iter().all(|t| t.get("cache_control").is_none()));
        assert_eq!(r.body["system"][0]["cache_control"]["type"], "ephemeral", "the system prompt");
        let newest = r.body["messages"].as_array().unwrap().last().unwrap()["content"].as_array().unwrap().clone();
        assert_eq!(newest.last().unwrap()["cache_control"]["type"], "ephemeral", "request {}: the newest message's last block", i + 1);
    }
    // Apart from the moving breakpoint, the prefix is as stable as OpenAI's.
    const MARK: &str = "\"cache_control\":{\"type\":\"ephemeral\"}";
    let bodies: Vec<String> = reqs.iter().map(|r| r.raw.replace(&format!("{MARK},"), "").replace(&format!(",{MARK}"), "")).collect();
    assert!(bodies.iter().all(|b| !b.contains("cache_control")));
    assert_prefix_stable(Wire::Anthropic, &bodies, "messages", "],\"max_tokens\":");
    // The failed run's result says so.
    let failed = reqs[2].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .find(|b| b["type"] == "tool_result" && b["content"].as_str().is_some_and(|c| c.contains("1 failed")));
    assert_eq!(failed.map(|b| b["is_error"].clone()), Some(Value::Bool(true)));
}

#[test]
fn cached_tokens_are_priced_and_listed_with_the_hit_rate() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("a.txt"), "alpha\n").unwrap();
    let script = dir.path().join("s.toml");
    std::fs::write(
        &script,
        r#"
[[agent]]
text = "Reading."
usage = { prompt_tokens = 10000, completion_tokens = 200, cache_read_tokens = 8000, cache_write_tokens = 1000 }
[[agent.tool_calls]]
name = "read_file"
arguments = { path = "a.txt" }

[[agent]]
text = "Done."
usage = { prompt_tokens = 10000, completion_tokens = 200, cache_read_tokens = 8000, cache_write_tokens = 1000 }
[[agent.tool_calls]]
name = "done"
arguments = { summary = "read it" }

[[verifier]]
text = '{"met": true, "missing": [], "evidence": ["read"]}'
usage = { prompt_tokens = 1000, completion_tokens = 10 }
"#,
    )
    .unwrap();
    let endure = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_endure")).args(args).current_dir(&ws).env("ENDURE_CONFIG_DIR", dir.path()).output().unwrap()
    };
    let out = endure(&[
        "exec",
        "--provider",
        "scripted",
        "--script",
        script.to_str().unwrap(),
        "--model",
        "claude-sonnet-4-5",
        "--json",
        "read a.txt",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let usage: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "usage" && v["role"] == "agent")
        .collect();
    assert_eq!(usage.len(), 2);
    assert_eq!((usage[0]["cache_read_tokens"].clone(), usage[0]["cache_write_tokens"].clone()), (8000.into(), 1000.into()));
    // claude-sonnet-4: $3 input, $0.30 cache read, $3.75 cache write, $15 output per million.
    let agent_cost = (1000.0 * 3.0 + 8000.0 * 0.30 + 1000.0 * 3.75 + 200.0 * 15.0) / 1e6;
    assert!((usage[0]["cost_usd"].as_f64().unwrap() - agent_cost).abs() < 1e-12, "{}", usage[0]);

    let out = endure(&["sessions", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &list[0];
    assert_eq!((s["cache_read_tokens"].clone(), s["cache_write_tokens"].clone()), (16000.into(), 2000.into()));
    let rate = s["cache_hit_rate"].as_f64().unwrap();
    assert!((rate - 16000.0 / 21000.0).abs() < 1e-12, "{rate}");
    let verifier_cost = (1000.0 * 3.0 + 10.0 * 15.0) / 1e6;
    assert!((s["cost_usd"].as_f64().unwrap() - (2.0 * agent_cost + verifier_cost)).abs() < 1e-12, "{s}");
}
