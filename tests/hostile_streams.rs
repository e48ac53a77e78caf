#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Hostile and broken provider streams against the real binary (`endure exec`) and the
//! loopback server: a huge tool-call index, an endless stream under `--max-time`, a tool that
//! outlives the time budget, a 200 that is not a stream, a key straddling an error's cut.

mod common;
mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use endure::model::scripted::{Answer, Scenario, ScriptedCall};
use endure::protocol::Role;
use serde_json::{Value, json};
use support::{Reply, TestServer};
use tokio::io::AsyncReadExt;

/// What one `endure exec` did.
struct Exec {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// The process's peak resident set (VmHWM), sampled while it ran, in KiB.
    peak_kib: u64,
    elapsed: Duration,
}

impl Exec {
    fn events(&self) -> Vec<Value> {
        self.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }

    fn finished(&self) -> Value {
        self.events()
            .into_iter()
            .rfind(|e| e["type"] == "session_finished")
            .unwrap_or_else(|| panic!("no session_finished:\n{}", self.stderr))
    }
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn read_all(pipe: Option<impl tokio::io::AsyncRead + Unpin>) -> String {
    let mut buf = Vec::new();
    if let Some(mut p) = pipe {
        let _ = p.read_to_end(&mut buf).await;
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Runs `endure exec ARGS` in `ws` until it exits (at most a minute), sampling its memory.
async fn exec(ws: &Path, args: &[&str], env: &[(&str, &str)]) -> Exec {
    let cfg = ws.parent().unwrap().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_endure"));
    cmd.arg("exec")
        .args(args)
        .current_dir(ws)
        .env("ENDURE_CONFIG_DIR", &cfg)
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn endure");
    let pid = child.id().expect("pid");
    let out = tokio::spawn(read_all(child.stdout.take()));
    let err = tokio::spawn(read_all(child.stderr.take()));
    let mut peak_kib = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        peak_kib = peak_kib.max(vm_hwm_kib(pid).unwrap_or(0));
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill().await;
            let stderr = err.await.unwrap_or_default();
            panic!("endure did not finish within a minute; stderr:\n{stderr}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let elapsed = started.elapsed();
    Exec { code: status.code(), stdout: out.await.unwrap(), stderr: err.await.unwrap(), peak_kib, elapsed }
}

fn workspace() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    (dir, ws)
}

/// A server whose first agent answer claims done (the verifier accepts), after `replies`.
async fn server(replies: Vec<Reply>) -> TestServer {
    let done = Answer {
        text: "Done.".into(),
        tool_calls: vec![ScriptedCall {
            id: None,
            name: "done".into(),
            arguments: Some(json!({"summary": "ok"}).to_string()),
            raw_arguments: None,
        }],
        usage: None,
    };
    let scenario = Scenario { agent: vec![done], verifier: vec![common::accepting_verdict(); 4], ..Default::default() };
    let s = TestServer::builder().scenario(scenario).role_model(Role::Verifier, "verifier-model").start().await;
    s.push_all(replies);
    s
}

fn http_args(server: &TestServer) -> Vec<String> {
    ["--provider", "openai", "--base-url", &server.base_url_openai(), "--model", "scripted", "--verifier-model", "verifier-model"]
        .map(String::from)
        .to_vec()
}

fn args<'a>(base: &'a [String], more: &[&'a str]) -> Vec<&'a str> {
    base.iter().map(String::as_str).chain(more.iter().copied()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_index_of_1e12_is_a_malformed_answer_and_is_retried() {
    let chunk = json!({"id": "chatcmpl-hostile", "object": "chat.completion.chunk", "created": 1, "model": "scripted",
                       "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1_000_000_000_000u64, "id": "call_x", "type": "function",
                                    "function": {"name": "run", "arguments": "{}"}}]}, "finish_reason": null}]});
    let raw = format!(
        "data: {chunk}\n\ndata: {}\n\ndata: [DONE]\n\n",
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    );
    let server = server(vec![Reply::Raw(raw)]).await;
    let (_dir, ws) = workspace();
    let base = http_args(&server);
    let run = exec(&ws, &args(&base, &["--max-attempts", "3", "--retry-base-ms", "10", "--json", "fix it"]), &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(!run.stderr.contains("memory allocation"), "{}", run.stderr);
    let retry = run.events().into_iter().find(|e| e["type"] == "model_retry").expect("a retry");
    let reason = retry["reason"].as_str().unwrap();
    assert!(reason.contains("malformed") && reason.contains("tool call index 1000000000000 is out of range"), "{reason}");
    assert_eq!(run.finished()["outcome"], "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_stream_under_max_time_ends_with_budget_in_bounded_memory() {
    let server = server((0..40).map(|_| Reply::endless_text(Duration::ZERO)).collect()).await;
    let (_dir, ws) = workspace();
    let base = http_args(&server);
    let run =
        exec(&ws, &args(&base, &["--max-time", "3s", "--max-attempts", "40", "--retry-base-ms", "10", "--json", "fix it"]), &[]).await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let finished = run.finished();
    assert_eq!(finished["outcome"], "budget", "{finished}");
    assert!(run.elapsed < Duration::from_secs(15), "finished after {:?}", run.elapsed);
    assert!(run.peak_kib > 0, "VmHWM was sampled");
    assert!(run.peak_kib < 300 * 1024, "peak RSS {} MiB", run.peak_kib / 1024);
    eprintln!("peak RSS {} MiB after {:?} and {} requests", run.peak_kib / 1024, run.elapsed, server.request_count());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_stream_is_cut_at_the_answer_cap_and_retried() {
    let server = server((0..2).map(|_| Reply::endless_text(Duration::ZERO)).collect()).await;
    let (_dir, ws) = workspace();
    let base = http_args(&server);
    let run = exec(&ws, &args(&base, &["--max-attempts", "2", "--retry-base-ms", "10", "--json", "fix it"]), &[]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let expected = "malformed stream: the answer exceeded 1048576 bytes, more than its max_tokens allow; the stream was cut";
    let retry = run.events().into_iter().find(|e| e["type"] == "model_retry").expect("the first attempt was retried");
    assert!(retry["reason"].as_str().unwrap().contains(expected), "{retry}");
    assert!(run.finished()["reason"].as_str().unwrap().contains(expected));
    assert_eq!(server.request_count(), 2);
    assert!(run.peak_kib < 300 * 1024, "peak RSS {} MiB", run.peak_kib / 1024);
}

/// Processes whose command line contains `needle`.
fn processes_with(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).replace('\0', " ").contains(needle) {
            out.push(pid);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_still_running_when_max_time_runs_out_is_stopped() {
    let (dir, ws) = workspace();
    // A duration no other process uses, to find the sleeper in /proc.
    let sleeper = "sleep 100.4242";
    let script = dir.path().join("s.toml");
    std::fs::write(
        &script,
        format!("[[agent]]\ntext = \"Waiting.\"\n[[agent.tool_calls]]\nname = \"run\"\narguments = {{ command = \"{sleeper}\" }}\n"),
    )
    .unwrap();
    let run = exec(
        &ws,
        &["--provider", "scripted", "--speed", "0", "--script", script.to_str().unwrap(), "--max-time", "3s", "--json", "wait"],
        &[],
    )
    .await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.elapsed < Duration::from_secs(20), "finished after {:?}", run.elapsed);
    let events = run.events();
    let result = events.iter().find(|e| e["type"] == "tool_result").expect("the call got a result");
    assert!(result["output"].as_str().unwrap().starts_with("interrupted: the time budget ran out"), "{result}");
    let stop = events.iter().find(|e| e["type"] == "budget_stop").expect("budget_stop");
    assert_eq!(stop["budget"], "time");
    assert_eq!(run.finished()["outcome"], "budget");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !processes_with(sleeper).is_empty() {
        assert!(Instant::now() < deadline, "the command outlived the session: {:?}", processes_with(sleeper));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_that_is_not_an_event_stream_says_what_came_back() {
    let json_body = r#"{"id":"chatcmpl-plain","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#;
    let garbage = "\u{1b}[2J<html><body>502 Bad Gateway</body></html>";
    for (content_type, body, expect) in [
        ("application/json", json_body, r#"{"id":"chatcmpl-plain","object":"chat.completion""#),
        ("text/event-stream", garbage, r"\u{1b}[2J<html><body>502 Bad Gateway"),
    ] {
        let reply = || Reply::Body { code: 200, content_type: content_type.into(), body: body.into() };
        let server = server(vec![reply(), reply()]).await;
        let (_dir, ws) = workspace();
        let base = http_args(&server);
        let run = exec(&ws, &args(&base, &["--max-attempts", "2", "--retry-base-ms", "10", "--json", "fix it"]), &[]).await;
        assert_eq!(run.code, Some(1), "{content_type}: {}", run.stderr);
        let finished = run.finished();
        let reason = finished["reason"].as_str().unwrap();
        assert!(reason.contains("HTTP 200") && reason.contains(&format!("`{content_type}`")) && reason.contains(expect), "{reason}");
        assert!(!run.stderr.contains('\u{1b}') && !run.stdout.contains('\u{1b}'), "control characters are shown, not sent");
        assert_eq!(server.request_count(), 2, "retried like any malformed answer");
    }
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(files_under(&p)) } else { out.push(p) }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_in_an_error_text_straddling_the_cut_never_leaks() {
    const KEY: &str = "sk-test-5f8e2a9c7b1d4e3f6a0b9c8d";
    // The provider's message is cut at 2,000 characters; this puts the cut just before the
    // key's last character.
    let message = format!("{}{KEY} is not a valid key", "x".repeat(2000 - KEY.len() + 1));
    let http = Reply::Status {
        code: 401,
        body: json!({"error": {"message": message, "type": "authentication_error"}}).to_string(),
        retry_after: None,
    };
    let in_stream = Reply::Raw(format!("data: {}\n\n", json!({"error": {"message": message, "type": "invalid_request_error"}})));
    for reply in [http, in_stream] {
        let server = server(vec![reply]).await;
        let (dir, ws) = workspace();
        let base = http_args(&server);
        let run = exec(
            &ws,
            &args(&base, &["--api-key-env", "STREAMS_TEST_KEY", "--max-attempts", "1", "--json", "fix it"]),
            &[("STREAMS_TEST_KEY", KEY)],
        )
        .await;
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        assert!(run.finished()["reason"].as_str().unwrap().contains("[redacted]"), "{}", run.stderr);
        let mut texts = vec![("stdout".to_string(), run.stdout.clone()), ("stderr".to_string(), run.stderr.clone())];
        for f in files_under(dir.path()) {
            texts.push((f.display().to_string(), String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned()));
        }
        for piece in KEY.as_bytes().windows(12).map(|w| std::str::from_utf8(w).unwrap()) {
            for (name, text) in &texts {
                assert!(!text.contains(piece), "{name} contains `{piece}` of the key");
            }
        }
    }
}
