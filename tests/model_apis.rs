#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Today's model APIs against streams shaped like the providers' recorded ones
//! (`tests/fixtures/streams/`), served over real HTTP by the loopback server: parallel tool
//! calls, thinking with signatures, redacted thinking, an error mid-stream, reasoning_content,
//! the Responses API with a reasoning item and a function call, cached-token usage; and what
//! each client sends back (captured request bodies).

mod common;
mod support;

use std::path::Path;

use common::{count, pos, run_headless};
use endure::agent::{self, Supervision};
use endure::config::prices::{MaxTokensField, ModelInfo};
use endure::config::settings::RunOptions;
use endure::model::ReasoningEffort;
use endure::model::scripted::{Answer, Scenario, ScriptedCall};
use endure::protocol::{Event, EventKind, Outcome, Role};
use endure::tui::state::{CellKind, WorkbenchState};
use serde_json::{Value, json};
use support::{Recorded, Reply, TestServer, Wire};

/// A scenario whose agent answer number `at` (counted in assistant turns of the request)
/// claims done; the earlier ones are never served. The verifier accepts.
fn done_at(at: usize) -> Scenario {
    let mut agent: Vec<Answer> = (0..at).map(|i| Answer { text: format!("unused {i}"), ..Default::default() }).collect();
    let done =
        ScriptedCall { id: None, name: "done".into(), arguments: Some(json!({"summary": "finished"}).to_string()), raw_arguments: None };
    agent.push(Answer { text: "Done.".into(), tool_calls: vec![done], usage: None });
    Scenario { agent, verifier: vec![common::accepting_verdict(); 4], ..Default::default() }
}

async fn server(scenario: Scenario, replies: Vec<Reply>) -> TestServer {
    let s = TestServer::builder().scenario(scenario).role_model(Role::Verifier, "verifier-model").start().await;
    s.push_all(replies);
    s
}

fn workspace() -> tempfile::TempDir {
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("a.txt"), "alpha\n").unwrap();
    ws
}

async fn run(workspace: &Path, opts: &RunOptions) -> (agent::RunResult, Vec<Event>) {
    run_headless(workspace, opts, "fix the tests").await
}

fn agent_requests(server: &TestServer) -> Vec<Recorded> {
    server.requests().into_iter().filter(|r| r.model() != "verifier-model").collect()
}

/// The JSON of every `data:` line of a fixture.
fn fixture_events(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/streams").join(name)).unwrap();
    text.lines().filter_map(|l| l.strip_prefix("data: ")).filter_map(|d| serde_json::from_str(d).ok()).collect()
}

/// The thinking block of an Anthropic fixture as the API requires it back: its text and
/// signature, joined from the deltas.
fn fixture_thinking(name: &str, index: u64) -> Value {
    let deltas: Vec<Value> = fixture_events(name)
        .into_iter()
        .filter(|v| v["type"] == "content_block_delta" && v["index"] == index)
        .map(|v| v["delta"].clone())
        .collect();
    let thinking: String = deltas.iter().filter_map(|d| d["thinking"].as_str()).collect();
    let signature = deltas.iter().find_map(|d| d["signature"].as_str()).unwrap();
    json!({"type": "thinking", "thinking": thinking, "signature": signature})
}

fn reasoning_events(events: &[Event]) -> Vec<(String, u32)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Reasoning { text, redacted, .. } => Some((text.clone(), *redacted)),
            _ => None,
        })
        .collect()
}

fn usage_of(events: &[Event]) -> (u64, u64, u64) {
    let at = pos(events, "the agent's usage", |k| matches!(k, EventKind::Usage { role: Role::Agent, .. }));
    let EventKind::Usage { prompt_tokens, cache_read_tokens, cache_write_tokens, .. } = &events[at].kind else { unreachable!() };
    (*prompt_tokens, *cache_read_tokens, *cache_write_tokens)
}

#[tokio::test]
async fn parallel_openai_tool_calls_run_in_order_and_go_back_with_their_results() {
    let server = server(done_at(1), vec![Reply::fixture("openai_parallel_tools.sse")]).await;
    let ws = workspace();
    let (result, events) = run(ws.path(), &server.run_options(Wire::OpenAi)).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);

    let at = pos(&events, "the answer", |k| matches!(k, EventKind::AssistantMessage { .. }));
    let EventKind::AssistantMessage { tool_calls, blocks, .. } = &events[at].kind else { unreachable!() };
    let calls: Vec<(&str, &str, &str)> = tool_calls.iter().map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str())).collect();
    assert_eq!(
        calls,
        [("call_Rd7Qm2XkV4pLs9aT1", "read_file", "{\"path\": \"a.txt\"}"), ("call_Ls3Hn8WcE5jKq0bY6", "list_files", "{\"path\": \".\"}")]
    );
    assert!(blocks.is_empty(), "no provider blocks, nothing duplicated");
    let results: Vec<(String, bool)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ToolResult { call_id, ok, .. } => Some((call_id.clone(), *ok)),
            _ => None,
        })
        .collect();
    assert_eq!(results[..2], [("call_Rd7Qm2XkV4pLs9aT1".to_string(), true), ("call_Ls3Hn8WcE5jKq0bY6".to_string(), true)]);
    assert_eq!(usage_of(&events), (2006, 1920, 0), "prompt_tokens_details.cached_tokens");

    let reqs = agent_requests(&server);
    let msgs = reqs[1].body["messages"].as_array().unwrap();
    let a = msgs.iter().position(|m| m["role"] == "assistant").unwrap();
    assert_eq!(msgs[a]["tool_calls"][0]["id"], "call_Rd7Qm2XkV4pLs9aT1");
    assert_eq!(msgs[a]["tool_calls"][1]["function"], json!({"name": "list_files", "arguments": "{\"path\": \".\"}"}));
    assert_eq!(
        (msgs[a + 1]["tool_call_id"].clone(), msgs[a + 2]["tool_call_id"].clone()),
        (json!("call_Rd7Qm2XkV4pLs9aT1"), json!("call_Ls3Hn8WcE5jKq0bY6"))
    );
    assert!(msgs[a + 1]["content"].as_str().unwrap().contains("alpha"));
}

#[tokio::test]
async fn anthropic_thinking_blocks_go_back_unchanged_before_the_tool_use_they_led_to() {
    let server = server(done_at(1), vec![Reply::fixture("anthropic_thinking_tool.sse")]).await;
    let ws = workspace();
    let mut o = server.run_options(Wire::Anthropic);
    o.thinking = Some(2048);
    o.temperature = Some(0.2);
    let (result, events) = run(ws.path(), &o).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);

    let thinking = fixture_thinking("anthropic_thinking_tool.sse", 0);
    let reasoning = pos(&events, "the reasoning", |k| matches!(k, EventKind::Reasoning { .. }));
    let answer = pos(&events, "the answer", |k| matches!(k, EventKind::AssistantMessage { .. }));
    assert_eq!(reasoning + 1, answer, "the reasoning is recorded just before its answer");
    assert_eq!(reasoning_events(&events), vec![(thinking["thinking"].as_str().unwrap().to_string(), 0)]);
    let EventKind::AssistantMessage { text, blocks, .. } = &events[answer].kind else { unreachable!() };
    assert_eq!(text, "I'll read the file first.");
    assert_eq!(
        blocks,
        &vec![
            thinking.clone(),
            json!({"type": "text", "text": "I'll read the file first."}),
            json!({"type": "tool_use", "id": "toolu_01ReadThink9Vb"})
        ]
    );
    assert_eq!(usage_of(&events), (312 + 1536 + 4096, 4096, 1536), "cache reads and writes counted apart and in the prompt");

    let reqs = agent_requests(&server);
    for r in &reqs {
        assert_eq!(r.body["thinking"], json!({"type": "enabled", "budget_tokens": 2048}));
        assert_eq!(r.body["max_tokens"], 8192 + 2048, "the answer keeps its own limit");
        assert!(r.body.get("temperature").is_none(), "thinking takes no temperature");
    }
    let content = reqs[1].body["messages"][1]["content"].as_array().unwrap().clone();
    assert_eq!(content[0], thinking, "the signed thinking block goes back unchanged");
    assert_eq!(content[1], json!({"type": "text", "text": "I'll read the file first."}));
    assert_eq!(content[2], json!({"type": "tool_use", "id": "toolu_01ReadThink9Vb", "name": "read_file", "input": {"path": "a.txt"}}));
    let result_block = &reqs[1].body["messages"][2]["content"][0];
    assert_eq!(result_block["type"], "tool_result");
    assert!(result_block.get("is_error").is_none(), "a tool that worked is not an error");
    // The verifier runs without thinking and at its own temperature.
    let verifier = server.requests().into_iter().find(|r| r.model() == "verifier-model").unwrap();
    assert!(verifier.body.get("thinking").is_none());
    assert_eq!(verifier.body["temperature"], json!(0.0));

    let cells = WorkbenchState::from_events(&events).cells;
    assert!(
        cells.iter().any(
            |c| matches!(&c.kind, CellKind::Reasoning { step: 1, text, redacted: 0 } if text.starts_with("The failing test reads a.txt"))
        ),
        "the workbench shows the thinking as a reasoning cell"
    );
    assert!(!cells.iter().any(|c| matches!(&c.kind, CellKind::Notice { text, .. } if text.contains("thinking"))), "not as a server tool");
}

#[tokio::test]
async fn redacted_thinking_is_kept_in_order_and_a_failed_tool_is_an_error_result() {
    let server = server(done_at(1), vec![Reply::fixture("anthropic_redacted_thinking.sse")]).await;
    let ws = workspace();
    let mut o = server.run_options(Wire::Anthropic);
    o.thinking = Some(1024);
    let (result, events) = run(ws.path(), &o).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);

    let redacted = fixture_events("anthropic_redacted_thinking.sse")
        .into_iter()
        .find(|v| v["type"] == "content_block_start" && v["content_block"]["type"] == "redacted_thinking")
        .map(|v| v["content_block"].clone())
        .unwrap();
    assert_eq!(reasoning_events(&events), vec![("Check whether the config file exists.".to_string(), 1)]);
    pos(&events, "the failed read", |k| matches!(k, EventKind::ToolResult { name, ok: false, .. } if name == "read_file"));

    let reqs = agent_requests(&server);
    let content = reqs[1].body["messages"][1]["content"].as_array().unwrap().clone();
    let types: Vec<&str> = content.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["thinking", "redacted_thinking", "text", "tool_use"]);
    assert_eq!(content[0], fixture_thinking("anthropic_redacted_thinking.sse", 0));
    assert_eq!(content[1], redacted, "passed back unchanged");
    let result_block = &reqs[1].body["messages"][2]["content"][0];
    assert_eq!((result_block["type"].clone(), result_block["is_error"].clone()), (json!("tool_result"), json!(true)));
    assert_eq!(result_block["tool_use_id"], "toolu_01ReadMissing3Cd");
}

#[tokio::test]
async fn an_error_event_mid_thought_is_retried_and_the_half_thought_dropped() {
    let server = server(done_at(0), vec![Reply::fixture("anthropic_thinking_error.sse")]).await;
    let ws = workspace();
    let mut o = server.run_options(Wire::Anthropic);
    o.thinking = Some(1024);
    let (result, events) = run(ws.path(), &o).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    let at = pos(&events, "a retry", |k| matches!(k, EventKind::ModelRetry { .. }));
    let EventKind::ModelRetry { reason, .. } = &events[at].kind else { unreachable!() };
    assert!(reason.contains("reported an error (overloaded_error): Overloaded"), "{reason}");
    assert!(reasoning_events(&events).is_empty(), "nothing of the failed attempt is recorded");
    assert_eq!(agent_requests(&server).len(), 2);
}

#[tokio::test]
async fn reasoning_content_is_shown_and_never_sent_back() {
    let server = server(done_at(1), vec![Reply::fixture("openai_reasoning_content.sse")]).await;
    let ws = workspace();
    let (result, events) = run(ws.path(), &server.run_options(Wire::OpenAi)).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    assert_eq!(reasoning_events(&events), vec![("The user wants the test fixed. First I need to see a.txt.".to_string(), 0)]);
    assert_eq!(usage_of(&events), (1830, 1664, 0));
    let at = pos(&events, "the answer", |k| matches!(k, EventKind::AssistantMessage { .. }));
    assert!(
        matches!(&events[at].kind, EventKind::AssistantMessage { text, blocks, .. } if text == "Let me read a.txt." && blocks.is_empty())
    );

    let reqs = agent_requests(&server);
    assert!(!reqs[1].raw.contains("reasoning_content") && !reqs[1].raw.contains("First I need"), "{}", reqs[1].raw);
    let msgs = reqs[1].body["messages"].as_array().unwrap();
    let a = msgs.iter().find(|m| m["role"] == "assistant").unwrap();
    assert_eq!(a["content"], "Let me read a.txt.");
}

#[tokio::test]
async fn a_responses_reasoning_item_goes_back_encrypted_before_its_function_call() {
    let server = server(done_at(1), vec![Reply::fixture("responses_reasoning_tool.sse")]).await;
    let ws = workspace();
    let mut o = server.run_options(Wire::Responses);
    o.reasoning_effort = Some(ReasoningEffort::Medium);
    let (result, events) = run(ws.path(), &o).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);

    let item = fixture_events("responses_reasoning_tool.sse")
        .into_iter()
        .find(|v| v["type"] == "response.output_item.done" && v["item"]["type"] == "reasoning")
        .map(|v| v["item"].clone())
        .unwrap();
    let summary = item["summary"][0]["text"].as_str().unwrap().to_string();
    assert_eq!(reasoning_events(&events), vec![(summary, 0)]);
    let at = pos(&events, "the answer", |k| matches!(k, EventKind::AssistantMessage { .. }));
    let EventKind::AssistantMessage { text, tool_calls, blocks, .. } = &events[at].kind else { unreachable!() };
    assert_eq!((text.as_str(), tool_calls[0].id.as_str()), ("Reading a.txt first.", "call_Vq8Rd2Lm5Tx0Ws3Ky6"));
    assert_eq!(blocks[0], item);
    assert_eq!(usage_of(&events), (2329, 2048, 0), "input_tokens_details.cached_tokens");
    pos(&events, "the read", |k| matches!(k, EventKind::ToolResult { name, ok: true, .. } if name == "read_file"));

    let reqs = agent_requests(&server);
    assert!(reqs.iter().all(|r| r.path == "/v1/responses"));
    let first = &reqs[0].body;
    assert_eq!((first["store"].clone(), first["stream"].clone()), (json!(false), json!(true)));
    assert_eq!(first["include"], json!(["reasoning.encrypted_content"]));
    assert_eq!(first["reasoning"], json!({"effort": "medium", "summary": "auto"}));
    assert_eq!(first["max_output_tokens"], 8192);
    assert!(first["instructions"].as_str().is_some_and(|s| !s.is_empty()));
    let input = reqs[1].body["input"].as_array().unwrap();
    let r = input.iter().position(|i| i["type"] == "reasoning").expect("the reasoning item is sent back");
    assert_eq!(input[r], item, "unchanged, encrypted content and all");
    assert_eq!(input[r + 1], json!({"role": "assistant", "content": "Reading a.txt first."}));
    assert_eq!(
        input[r + 2],
        json!({"type": "function_call", "call_id": "call_Vq8Rd2Lm5Tx0Ws3Ky6", "name": "read_file", "arguments": "{\"path\":\"a.txt\"}"})
    );
    assert_eq!(input[r + 3]["type"], "function_call_output");
    assert_eq!(input[r + 3]["call_id"], "call_Vq8Rd2Lm5Tx0Ws3Ky6");
    assert!(input[r + 3]["output"].as_str().unwrap().contains("alpha"));
}

#[tokio::test]
async fn a_responses_answer_cut_at_max_output_tokens_is_not_finished() {
    let server = server(done_at(1), vec![Reply::fixture("responses_incomplete.sse")]).await;
    let ws = workspace();
    let (result, events) = run(ws.path(), &server.run_options(Wire::Responses)).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    pos(&events, "the cut", |k| matches!(k, EventKind::AnswerTruncated { max_tokens: 8192, in_a_row: 1, .. }));
    pos(&events, "the cut text", |k| matches!(k, EventKind::AssistantMessage { text, .. } if text == "{\""));
    let reqs = agent_requests(&server);
    let last = reqs[1].body["input"].as_array().unwrap().last().unwrap().clone();
    assert!(last["content"].as_str().unwrap().contains("cut off at the output limit of 8192 tokens"), "{last}");
}

#[tokio::test]
async fn a_responses_refusal_ends_a_headless_run() {
    let server = server(done_at(0), vec![Reply::fixture("responses_refusal.sse")]).await;
    let ws = workspace();
    let (result, events) = run(ws.path(), &server.run_options(Wire::Responses)).await;
    assert_eq!(result.outcome, Outcome::Failed);
    assert_eq!(result.reason, "the model refused: I'm sorry, but I can't help with that.");
    assert_eq!(count(&events, |k| matches!(k, EventKind::Refusal { .. })), 1);
    assert_eq!(agent_requests(&server).len(), 1, "never retried");
}

#[tokio::test]
async fn the_output_limit_field_and_temperature_follow_the_model() {
    let cases = [
        ("o4-mini", Some(ReasoningEffort::Low), MaxTokensField::MaxCompletionTokens, false),
        ("gpt-5-mini", None, MaxTokensField::MaxCompletionTokens, false),
        ("qwen2.5-coder:32b", None, MaxTokensField::MaxTokens, true),
        ("my-vllm-reasoner", Some(ReasoningEffort::High), MaxTokensField::MaxCompletionTokens, true),
    ];
    for (model, effort, field, temperature) in cases {
        let server = server(done_at(0), vec![]).await;
        let ws = workspace();
        let mut o = server.run_options(Wire::OpenAi);
        o.model = Some(model.into());
        o.temperature = Some(0.3);
        o.reasoning_effort = effort;
        o.models.insert(
            "my-vllm-reasoner".into(),
            ModelInfo { max_tokens_field: Some(MaxTokensField::MaxCompletionTokens), ..Default::default() },
        );
        let (result, _) = run(ws.path(), &o).await;
        assert_eq!(result.outcome, Outcome::Done, "{model}: {}", result.reason);
        let reqs = server.requests();
        let agent = reqs.iter().find(|r| r.model() == model).unwrap();
        let other = match field {
            MaxTokensField::MaxTokens => "max_completion_tokens",
            MaxTokensField::MaxCompletionTokens => "max_tokens",
        };
        assert_eq!((agent.body.get(field.as_str()), agent.body.get(other)), (Some(&json!(8192)), None), "{model}");
        assert_eq!(agent.body.get("temperature").is_some(), temperature, "{model}");
        assert_eq!(agent.body.get("reasoning_effort").and_then(Value::as_str), effort.map(|e| e.as_str()), "{model}");
        let verifier = reqs.iter().find(|r| r.model() == "verifier-model").unwrap();
        assert!(
            verifier.body.get("max_tokens").is_some() && verifier.body.get("reasoning_effort").is_none(),
            "{model}: the verifier's own model"
        );
    }
}

#[test]
fn reasoning_flags_the_provider_cannot_take_are_errors() {
    let ws = workspace();
    let config = |provider: &str, f: &dyn Fn(&mut RunOptions)| {
        let mut o = RunOptions { provider: Some(provider.into()), base_url: Some("http://127.0.0.1:9/v1".into()), ..Default::default() };
        f(&mut o);
        endure::launch::agent_config(ws.path(), &o, Some("t".into()), Supervision::Headless, 0.0).err().map(|e| e.to_string())
    };
    let err = config("anthropic", &|o| o.reasoning_effort = Some(ReasoningEffort::High)).unwrap();
    assert!(err.contains("--reasoning-effort high is for --provider openai or openai-responses"), "{err}");
    for p in ["openai", "openai-responses"] {
        let err = config(p, &|o| o.thinking = Some(4096)).unwrap();
        assert!(err.contains("--thinking 4096 is for --provider anthropic"), "{err}");
    }
    let err = config("anthropic", &|o| o.thinking = Some(500)).unwrap();
    assert!(err.contains("at least 1024"), "{err}");
    let err = config("anthropic", &|o| {
        o.thinking = Some(9000);
        o.model = Some("claude-3-5-haiku".into());
    })
    .unwrap();
    assert!(err.contains("writes at most 8192 tokens"), "{err}");
    assert_eq!(config("openai-responses", &|o| o.reasoning_effort = Some(ReasoningEffort::Low)), None);
    assert_eq!(config("anthropic", &|o| o.thinking = Some(1024)), None);
}

#[test]
fn the_flags_are_spelled_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_endure"))
            .args(args)
            .current_dir(dir.path())
            .env("ENDURE_CONFIG_DIR", dir.path())
            .env_remove("ANTHROPIC_API_KEY")
            .output()
            .unwrap()
    };
    let out = run(&["exec", "--provider", "anthropic", "--reasoning-effort", "high", "t"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--reasoning-effort high is for --provider openai"), "{stderr}");
    let out = run(&["exec", "--provider", "openai-responses", "--reasoning-effort", "extreme", "t"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("low") && stderr.contains("high"), "{stderr}");
    let out = run(&["exec", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--reasoning-effort") && help.contains("--thinking <BUDGET>") && help.contains("openai-responses"), "{help}");
}

#[tokio::test]
async fn a_headless_run_prints_what_the_model_reasoned() {
    let server = server(done_at(1), vec![Reply::fixture("openai_reasoning_content.sse")]).await;
    let ws = workspace();
    let config = tempfile::tempdir().unwrap();
    let base = server.base_url(Wire::OpenAi);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_endure"))
        .args([
            "exec",
            "--provider",
            "openai",
            "--base-url",
            &base,
            "--model",
            "scripted",
            "--verifier-model",
            "verifier-model",
            "fix the tests",
        ])
        .current_dir(ws.path())
        .env("ENDURE_CONFIG_DIR", config.path())
        .env_remove("OPENAI_API_KEY")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("reasoned: The user wants the test fixed. First I need to see a.txt."), "{stderr}");
}
