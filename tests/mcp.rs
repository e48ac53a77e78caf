#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! The MCP client against real servers, through the real binary with a scripted model.
//!
//! The reference server `@modelcontextprotocol/server-everything` (npm, pinned in
//! tests/mcp-servers/package-lock.json, installed by `.ci/run` with `npm ci`) is driven over
//! stdio and streamable HTTP. Servers that crash, hang or answer malformed JSON-RPC are a small
//! script of ours, tests/mcp-servers/faulty.py. A test whose server or interpreter is missing
//! prints `skipped: <reason>` and returns.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{ExecRun as Run, process_with, wait_until};
use serde_json::{Value, json};

mod common;
mod support;

const BIN: &str = env!("CARGO_BIN_EXE_endure");

fn servers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp-servers")
}

fn has(program: &str) -> bool {
    Command::new(program).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// The reference server's entry point, or why it cannot run here.
fn everything() -> Result<PathBuf, String> {
    let entry = servers_dir().join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    if !has("node") {
        return Err("node is not installed".into());
    }
    if !entry.is_file() {
        return Err(format!("{} is missing: run `npm ci --prefix tests/mcp-servers` (.ci/run does)", entry.display()));
    }
    Ok(entry)
}

fn faulty() -> Result<PathBuf, String> {
    if !has("python3") {
        return Err("python3 is not installed".into());
    }
    Ok(servers_dir().join("faulty.py"))
}

macro_rules! need {
    ($what:expr) => {
        match $what {
            Ok(v) => v,
            Err(reason) => {
                println!("skipped: {reason}");
                return;
            }
        }
    };
}

/// A unique marker for command lines.
fn unique(tag: &str) -> String {
    format!("{tag}-{}-{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos())
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

struct Session {
    dir: tempfile::TempDir,
    ws: PathBuf,
    cfg: PathBuf,
}

impl Session {
    /// A workspace whose `.endure/config.toml` is `config`.
    fn new(config: &str) -> Session {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        let cfg = dir.path().join("config");
        std::fs::create_dir_all(ws.join(".endure")).unwrap();
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(ws.join(".endure/config.toml"), config).unwrap();
        Session { dir, ws, cfg }
    }

    /// A scenario in which the agent makes `calls`, one per answer, then says done.
    fn script(&self, calls: &[(&str, Value)]) -> PathBuf {
        let mut agent: Vec<Value> =
            calls.iter().map(|(name, args)| json!({"text": "", "tool_calls": [{"name": name, "arguments": args}]})).collect();
        agent.push(json!({"text": "Done.", "tool_calls": [{"name": "done", "arguments": {"summary": "done"}}]}));
        let verdict = json!({"text": "{\"met\": true, \"missing\": [], \"evidence\": [\"ok\"]}"});
        let path = self.dir.path().join(format!("{}.json", unique("s")));
        std::fs::write(&path, json!({"agent": agent, "verifier": [verdict.clone(), verdict]}).to_string()).unwrap();
        path
    }

    fn endure(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args).current_dir(&self.ws).env("ENDURE_CONFIG_DIR", &self.cfg);
        c
    }

    fn exec(&self, calls: &[(&str, Value)], extra: &[&str]) -> Run {
        let script = self.script(calls);
        let mut c = self.endure(&["exec", "--provider", "scripted", "--speed", "0", "--json", "--script"]);
        c.arg(&script).args(extra).arg("use the tools");
        Run::from(c.output().expect("run endure"))
    }

    /// The session's event log as written.
    fn log(&self) -> String {
        let sessions = self.ws.join(".endure/sessions");
        let id = std::fs::read_dir(&sessions).unwrap().next().unwrap().unwrap().file_name();
        std::fs::read_to_string(sessions.join(id).join("events.jsonl")).unwrap()
    }
}

fn everything_config(entry: &Path, marker: &str) -> String {
    format!(
        "[mcp.servers.everything]\ncommand = \"node\"\nargs = [{}, \"stdio\", {}]\nenv = {{ ENDURE_MCP_GREETING = \"hello-from-config\" }}\nstartup-timeout = 120\n",
        toml_str(&entry.to_string_lossy()),
        toml_str(marker)
    )
}

#[test]
fn the_reference_servers_tools_are_called_end_to_end_and_recorded() {
    let entry = need!(everything());
    let marker = unique("everything");
    let s = Session::new(&everything_config(&entry, &marker));
    let calls = [
        ("mcp__everything__echo", json!({"message": "hello from endure"})),
        ("mcp__everything__get-tiny-image", json!({})),
        ("mcp__everything__get-resource-reference", json!({"resourceType": "Text", "resourceId": 1})),
        ("mcp__everything__get-env", json!({})),
        ("mcp__everything__echo", json!({})),
    ];
    let script = s.script(&calls);
    let out = s
        .endure(&["exec", "--provider", "scripted", "--speed", "0", "--json", "--script"])
        .arg(&script)
        .arg("use the tools")
        .env("ENDURE_TEST_SERVICE_TOKEN", "tok-must-not-reach-the-server")
        .output()
        .expect("run endure");
    let r = Run::from(out);
    r.done();

    let started = r.of("mcp_server_started");
    assert_eq!(started.len(), 1, "{}", r.stderr);
    assert_eq!(
        (started[0]["name"].as_str(), started[0]["transport"].as_str(), &started[0]["restarted"]),
        (Some("everything"), Some("stdio"), &json!(false))
    );
    let tools: Vec<&str> = started[0]["tools"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(tools.contains(&"mcp__everything__echo") && tools.contains(&"mcp__everything__get-env"), "{tools:?}");
    // Started lazily: at the first step, before its first request.
    let first_step = r.position(|e| e["type"] == "step_started").unwrap();
    let start_at = r.position(|e| e["type"] == "mcp_server_started").unwrap();
    assert!(first_step < start_at, "the server starts at the first step");

    // Calls and results are ordinary tool events.
    let call = r.of("tool_call")[0];
    assert_eq!((call["name"].as_str(), &call["args"]["message"]), (Some("mcp__everything__echo"), &json!("hello from endure")));
    assert_eq!(r.result(0), (true, "Echo: hello from endure".to_string()));
    let (ok, image) = r.result(1);
    assert!(ok && image.contains("[image: image/png,") && image.contains("The image above is the MCP logo."), "{image}");
    let (ok, resource) = r.result(2);
    assert!(
        ok && resource.contains("[resource demo://resource/dynamic/text/1 (text/plain)]\nResource 1: This is a plaintext resource"),
        "{resource}"
    );
    // Its environment: the sandbox's scrubbed one plus what the config gives it.
    let (ok, env) = r.result(3);
    assert!(ok && env.contains("\"ENDURE_MCP_GREETING\": \"hello-from-config\""), "{env}");
    assert!(!env.contains("tok-must-not-reach-the-server") && !env.contains("ENDURE_TEST_SERVICE_TOKEN"), "{env}");
    // A call the server rejects is a failed result, and the session goes on.
    let (ok, bad) = r.result(4);
    assert!(!ok && bad.to_lowercase().contains("message"), "{bad}");

    // The result is in the log, as the model saw it.
    let log = s.log();
    assert!(log.contains("Echo: hello from endure"), "the log lacks the result");
    // Stopped at session end, before the session records its end.
    let exited = r.position(|e| e["type"] == "mcp_server_exited" && e["reason"] == "session ended").expect("stopped at session end");
    let finished = r.position(|e| e["type"] == "session_finished").unwrap();
    assert!(exited < finished);
    wait_until("the server's process to be gone", 10, || process_with(&marker).is_none());
    assert!(r.stderr.contains("mcp server everything started (stdio,"), "{}", r.stderr);
}

#[tokio::test]
async fn the_model_is_offered_the_servers_tools_with_their_schemas() {
    let entry = need!(everything());
    let s = Session::new(&format!("{}tools = [\"echo\", \"get-sum\"]\n", everything_config(&entry, &unique("schemas"))));
    let scenario: endure::model::scripted::Scenario = serde_json::from_value(json!({
        "agent": [
            {"text": "", "tool_calls": [{"name": "mcp__everything__get-sum", "arguments": {"a": 2, "b": 40}}]},
            {"text": "", "tool_calls": [{"name": "done", "arguments": {"summary": "summed"}}]}
        ],
        "verifier": [{"text": "{\"met\": true, \"missing\": [], \"evidence\": [\"ok\"]}"}]
    }))
    .unwrap();
    let server =
        support::TestServer::builder().scenario(scenario).role_model(endure::protocol::Role::Verifier, "verifier-model").start().await;
    let base = server.base_url_openai();
    let mut cmd = tokio::process::Command::from(s.endure(&[
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
        "ENDURE_MCP_TEST_KEY",
        "--json",
        "add two numbers",
    ]));
    cmd.env("ENDURE_MCP_TEST_KEY", "sk-test-0123456789abcdef");
    let out = tokio::time::timeout(Duration::from_secs(180), cmd.output()).await.expect("exec finished").expect("run");
    let r = Run::from(out);
    r.done();
    let requests = server.requests();
    let first = &requests[0].body;
    let tools: Vec<&Value> = first["tools"].as_array().expect("tools").iter().collect();
    let names: Vec<&str> = tools.iter().filter_map(|t| t["function"]["name"].as_str()).collect();
    // The allow-list holds: only the two tools named, after the built-in ones.
    assert_eq!(
        names.iter().filter(|n| n.starts_with("mcp__")).copied().collect::<Vec<_>>(),
        ["mcp__everything__echo", "mcp__everything__get-sum"]
    );
    assert!(names.contains(&"run") && names.iter().position(|n| *n == "run") < names.iter().position(|n| *n == "mcp__everything__echo"));
    let echo = tools.iter().find(|t| t["function"]["name"] == "mcp__everything__echo").unwrap();
    assert_eq!(echo["function"]["description"], "Echoes back the input string");
    assert_eq!(echo["function"]["parameters"]["properties"]["message"]["type"], "string");
    assert_eq!(echo["function"]["parameters"]["required"], json!(["message"]));
    // The same list, byte for byte, in the next request: a stable prefix.
    assert_eq!(requests[1].body["tools"], first["tools"]);
    assert_eq!(r.result(0), (true, "The sum of 2 and 40 is 42.".to_string()));
}

#[test]
fn a_streamable_http_server_on_loopback_is_used() {
    let entry = need!(everything());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = HttpServer::start(&entry, port);
    need!(server.wait_listening());
    let s = Session::new(&format!(
        "[mcp.servers.web]\nurl = \"http://127.0.0.1:{port}/mcp\"\nheaders = {{ Authorization = \"Bearer ${{ENDURE_TEST_MCP_CREDENTIAL}}\" }}\n\n[mcp.servers.nobody]\nurl = \"http://127.0.0.1:1/mcp\"\nstartup-timeout = 20\n"
    ));
    let token = "mcp-credential-0123456789abcdef";
    let script =
        s.script(&[("mcp__web__echo", json!({"message": format!("over http {token}")})), ("mcp__nobody__echo", json!({"message": "x"}))]);
    let out = s
        .endure(&["exec", "--provider", "scripted", "--speed", "0", "--json", "--script"])
        .arg(&script)
        .arg("use the tools")
        .env("ENDURE_TEST_MCP_CREDENTIAL", token)
        .output()
        .expect("run endure");
    server.stop();
    let r = Run::from(out);
    r.done();
    // The header's credential is a secret: neither recorded nor echoed into the log.
    let log = s.log();
    assert!(!log.contains(token) && !r.stdout.contains(token), "the credential reached the log");
    assert!(log.contains("Echo: over http [redacted]"), "the echo is recorded, redacted");
    assert!(r.of("session_started")[0]["info"]["config"].get("mcp").is_none(), "MCP settings are not recorded");
    let started = r.of("mcp_server_started");
    assert_eq!(started.len(), 1, "{}", r.stderr);
    assert_eq!((started[0]["name"].as_str(), started[0]["transport"].as_str()), (Some("web"), Some("http")));
    assert_eq!(r.result(0), (true, "Echo: over http [redacted]".to_string()));
    // A server nobody listens for is reported and skipped; calling its tools says why.
    let failed = r.of("mcp_server_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["name"], "nobody");
    assert!(failed[0]["reason"].as_str().unwrap().contains("127.0.0.1:1"), "{}", failed[0]["reason"]);
    let (ok, unknown) = r.result(1);
    assert!(!ok && unknown.contains("MCP server `nobody` is not available") && unknown.contains("127.0.0.1:1"), "{unknown}");
}

/// server-everything in streamableHttp mode on a loopback port, killed when dropped.
struct HttpServer {
    child: Child,
    stderr: Option<std::process::ChildStderr>,
    port: u16,
}

impl HttpServer {
    fn start(entry: &Path, port: u16) -> HttpServer {
        let mut child = Command::new("node")
            .arg(entry)
            .arg("streamableHttp")
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start node");
        let stderr = child.stderr.take();
        HttpServer { child, stderr, port }
    }

    /// Reads its stderr until it says it listens (or exits: then why, as a skip reason).
    fn wait_listening(&mut self) -> Result<(), String> {
        let Some(err) = self.stderr.take() else { return Err("no stderr".into()) };
        let mut lines = BufReader::new(err).lines();
        let mut seen = String::new();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if line.contains(&format!("listening on port {}", self.port)) {
                // Keep draining so that the server never blocks on a full pipe.
                std::thread::spawn(move || for _ in lines {});
                return Ok(());
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        panic!("server-everything (streamableHttp) did not start:\n{seen}");
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn faulty_config(script: &Path, name: &str, mode: &str, extra: &str) -> String {
    format!("[mcp.servers.{name}]\ncommand = \"python3\"\nargs = [{}, \"{mode}\"]\n{extra}", toml_str(&script.to_string_lossy()))
}

#[test]
fn a_crashed_server_is_restarted_once_then_its_tools_say_why_they_cannot_run() {
    let script = need!(faulty());
    let s = Session::new(&faulty_config(&script, "flaky", "crash", ""));
    let calls = [
        ("mcp__flaky__crash", json!({})),
        ("mcp__flaky__ping", json!({})),
        ("mcp__flaky__crash", json!({})),
        ("mcp__flaky__ping", json!({})),
    ];
    let r = s.exec(&calls, &[]);
    r.done();
    let (ok, first) = r.result(0);
    assert!(!ok, "{first}");
    assert!(first.contains("MCP server `flaky` stopped answering during this call") && first.contains("exited with code 3"), "{first}");
    assert!(first.contains("crashing on purpose") && first.contains("restarted (once) at the next call"), "{first}");
    // The next call restarts it and works.
    assert_eq!(r.result(1), (true, "pong".to_string()));
    let started = r.of("mcp_server_started");
    assert_eq!(started.len(), 2);
    assert_eq!(started[1]["restarted"], true);
    assert_eq!(started[1]["tools"], started[0]["tools"]);
    let (ok, second) = r.result(2);
    assert!(!ok && second.contains("restarted once already"), "{second}");
    // After its one restart, a clear error and no third start.
    let (ok, after) = r.result(3);
    assert!(
        !ok && after.contains("MCP server `flaky` is not available") && after.contains("exited again after its one restart"),
        "{after}"
    );
    assert_eq!(r.of("mcp_server_started").len(), 2);
    let failed = r.of("mcp_server_failed");
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["reason"].as_str().unwrap().contains("exited again"), "{}", failed[0]["reason"]);
    let exits: Vec<&str> = r.of("mcp_server_exited").iter().filter_map(|e| e["reason"].as_str()).collect();
    assert_eq!(exits.len(), 2, "{exits:?}");
    assert!(exits.iter().all(|e| e.contains("exited with code 3")), "{exits:?}");
}

#[test]
fn a_hanging_call_times_out_and_the_server_keeps_serving() {
    let script = need!(faulty());
    let s = Session::new(&format!(
        "{}\n{}",
        faulty_config(&script, "slow", "hang", "timeout = 5\nstartup-timeout = 120\n"),
        faulty_config(&script, "mute", "hang-start", "startup-timeout = 2\n")
    ));
    let started = Instant::now();
    let r = s.exec(&[("mcp__slow__hang", json!({})), ("mcp__slow__ping", json!({})), ("mcp__mute__ping", json!({}))], &[]);
    r.done();
    let (ok, hung) = r.result(0);
    assert!(!ok && hung.contains("MCP server `slow` did not answer within 5 s") && hung.contains("cancelled"), "{hung}");
    assert_eq!(r.result(1), (true, "pong".to_string()));
    // A server that never finishes its handshake is reported and skipped.
    let failed = r.of("mcp_server_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["name"], "mute");
    assert!(
        failed[0]["reason"].as_str().unwrap().contains("did not complete the MCP handshake and list its tools within 2 s"),
        "{}",
        failed[0]["reason"]
    );
    let (ok, mute) = r.result(2);
    assert!(!ok && mute.contains("MCP server `mute` is not available: it did not complete the MCP handshake"), "{mute}");
    assert!(started.elapsed() < Duration::from_secs(100), "nothing waited for more than its timeout");
}

#[test]
fn malformed_json_rpc_is_reported_not_waited_on_forever() {
    let script = need!(faulty());
    let s = Session::new(&faulty_config(&script, "odd", "malformed", "timeout = 5\nstartup-timeout = 120\n"));
    let r = s.exec(&[("mcp__odd__garbage", json!({})), ("mcp__odd__wrong", json!({})), ("mcp__odd__ping", json!({}))], &[]);
    r.done();
    let (ok, garbage) = r.result(0);
    assert!(!ok, "{garbage}");
    assert!(
        garbage.contains("did not answer within 5 s") && garbage.contains("not JSON-RPC") && garbage.contains("`this is not json-rpc`"),
        "{garbage}"
    );
    let (ok, wrong) = r.result(1);
    assert!(!ok, "{wrong}");
    assert!(wrong.contains("MCP server `odd`"), "{wrong}");
    // The server itself is still there.
    assert_eq!(r.result(2), (true, "pong".to_string()));
}

#[test]
fn a_workspace_mcp_json_in_claude_codes_format_is_read() {
    let script = need!(faulty());
    let s = Session::new("");
    let json = json!({"mcpServers": {
        "fromjson": {"command": "python3", "args": [script.to_string_lossy(), "crash"]},
        "remote": {"type": "http", "url": "http://127.0.0.1:1/mcp"}
    }});
    std::fs::write(s.ws.join(".mcp.json"), json.to_string()).unwrap();
    let r = s.exec(&[("mcp__fromjson__ping", json!({}))], &[]);
    r.done();
    assert_eq!(r.result(0), (true, "pong".to_string()));
    // The agent can write .mcp.json; an HTTP server from it would be a way around --network off.
    let failed = r.of("mcp_server_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["name"], "remote");
    assert!(failed[0]["reason"].as_str().unwrap().contains("not used while the network is off"), "{}", failed[0]["reason"]);
}

#[test]
fn mcp_calls_count_toward_the_stall_detector() {
    let script = need!(faulty());
    let s = Session::new(&faulty_config(&script, "idle", "crash", "cwd = \"sub\"\n"));
    std::fs::create_dir_all(s.ws.join("sub")).unwrap();
    let mut calls: Vec<(&str, Value)> = vec![("mcp__idle__cwd", json!({}))];
    calls.extend((0..3).map(|_| ("mcp__idle__ping", json!({}))));
    let r = s.exec(&calls, &["--stall-after", "3"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    // `cwd` is relative to the workspace.
    let (ok, cwd) = r.result(0);
    assert!(ok && cwd.ends_with("/ws/sub"), "{cwd}");
    assert_eq!(r.of("stall").len(), 1);
    assert_eq!(r.of("tool_result").len(), 3);
    assert_eq!(r.of("session_finished")[0]["outcome"], "stalled");
}

#[test]
fn mcp_list_shows_each_server_its_state_and_its_tools() {
    let entry = need!(everything());
    let script = need!(faulty());
    let config = format!(
        "{}tools = [\"echo\"]\n\n{}\n[mcp.servers.off]\ncommand = \"true\"\nenabled = false\n",
        everything_config(&entry, &unique("list")),
        faulty_config(&script, "mute", "hang-start", "startup-timeout = 2\n")
    );
    let s = Session::new(&config);
    let out = s.endure(&["mcp", "list"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a failing server makes it fail: {text}");
    assert!(text.contains("everything  running  stdio  node "), "{text}");
    assert!(text.contains("  mcp__everything__echo  Echoes back the input string"), "{text}");
    assert!(!text.contains("mcp__everything__get-env"), "{text}");
    assert!(text.contains("mute  failed  stdio  python3 ") && text.contains("reason: it did not complete the MCP handshake"), "{text}");
    assert!(text.contains("off  disabled  stdio  true"), "{text}");

    let out = s.endure(&["mcp", "list", "--json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let by = |n: &str| v.as_array().unwrap().iter().find(|s| s["name"] == n).cloned().unwrap();
    assert_eq!(by("everything")["state"], "running");
    assert_eq!(by("everything")["tools"][0]["server_name"], "echo");
    assert_eq!(by("mute")["state"], "failed");
    assert_eq!(by("off")["state"], "disabled");
}

#[test]
fn bad_mcp_config_is_a_clear_error_with_file_and_key() {
    let s = Session::new("[mcp.servers.both]\ncommand = \"a\"\nurl = \"http://127.0.0.1:9/mcp\"\n");
    let r = s.exec(&[], &[]);
    assert_eq!(r.code, Some(1));
    let config = s.ws.join(".endure/config.toml");
    let expected = format!("{}:1:1: key `mcp.servers.both.url`", config.canonicalize().unwrap_or(config.clone()).display());
    assert!(
        r.stderr.contains(&expected) || r.stderr.contains(&format!("{}:1:1: key `mcp.servers.both.url`", config.display())),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("not both"), "{}", r.stderr);

    let s = Session::new("");
    std::fs::write(s.ws.join(".mcp.json"), "{\"mcpServers\": {\"x\": {\"command\": 5}}}").unwrap();
    let r = s.exec(&[], &[]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains(".mcp.json:1:") && r.stderr.contains("invalid type"), "{}", r.stderr);
    let check = s.endure(&["config", "check"]).output().unwrap();
    assert_eq!(check.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&check.stdout).contains(".mcp.json:1:"), "{}", String::from_utf8_lossy(&check.stdout));
}

#[test]
fn a_server_dies_with_a_killed_endure_and_the_resumed_session_starts_its_own() {
    let script = need!(faulty());
    let s = Session::new("");
    // In the workspace: the sandbox gives the server a /tmp of its own.
    let state = s.ws.join(unique("state"));
    std::fs::create_dir_all(&state).unwrap();
    let marker = state.to_string_lossy().into_owned();
    std::fs::write(
        s.ws.join(".endure/config.toml"),
        format!(
            "[mcp.servers.keep]\ncommand = \"python3\"\nargs = [{}, \"crash\", {}]\n",
            toml_str(&script.to_string_lossy()),
            toml_str(&marker)
        ),
    )
    .unwrap();
    let calls = [("mcp__keep__ping", json!({})), ("run", json!({"command": "touch started; while [ ! -e go ]; do sleep 0.05; done"}))];
    let path = s.script(&calls);
    let mut child = KillOnDrop(
        s.endure(&["exec", "--provider", "scripted", "--speed", "0", "--json", "--script"])
            .arg(&path)
            .arg("use the tools")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("the second call to run", 60, || s.ws.join("started").exists() && process_with(&marker).is_some());
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    wait_until("the server to die with endure", 10, || process_with(&marker).is_none());

    std::fs::write(s.ws.join("go"), "").unwrap();
    let resumed = Run::from(s.endure(&["exec", "--resume", "--json"]).output().unwrap());
    resumed.done();
    let exited = resumed.of("mcp_server_exited");
    assert_eq!((&exited[0]["name"], &exited[0]["reason"]), (&json!("keep"), &json!("endure stopped")), "{}", resumed.stdout);
    assert_eq!(resumed.of("mcp_server_started").len(), 1, "the resumed session starts its own server");
    let starts = std::fs::read_to_string(state.join("starts")).unwrap();
    assert_eq!(starts.lines().count(), 2, "{starts}");
    wait_until("the resumed session's server to be stopped", 10, || process_with(&marker).is_none());
}

/// A child process killed (SIGKILL) if the test fails before it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
