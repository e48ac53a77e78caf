#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Dynamic Workflow end to end: the real binary (or the runtime in-process where a test must
//! send commands), with the loopback model server answering each subagent by its task, so
//! every agent gets its own answers however the agents interleave. Gates on the server hold
//! requests until several are waiting at once: the proof that agents really run concurrently.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use endure::model::TokenUsage;
use endure::model::scripted::{Answer, ScriptedCall};
use endure::protocol::{Command, Event, EventKind};
use serde_json::{Value, json};
use support::{Recorded, TestServer};

const KEY_ENV: &str = "ENDURE_WORKFLOW_TEST_KEY";

fn call(name: &str, args: Value) -> ScriptedCall {
    ScriptedCall { id: None, name: name.into(), arguments: Some(args.to_string()), raw_arguments: None }
}

fn say(text: &str, calls: Vec<ScriptedCall>) -> Answer {
    Answer { text: text.into(), tool_calls: calls, usage: Some(TokenUsage::new(100, 10)) }
}

fn done(summary: &str) -> Answer {
    say("Done.", vec![call("done", json!({"summary": summary}))])
}

fn done_with(result: Value) -> Answer {
    say("Done.", vec![call("done", json!({"summary": "answered", "result": result}))])
}

fn read(path: &str) -> Answer {
    say("Reading.", vec![call("read_file", json!({"path": path}))])
}

/// Answers a subagent from the list whose key starts its task; the answer for a request with
/// k assistant turns is the k-th. Stateless, so concurrency and retries change nothing.
fn by_task(table: Vec<(&'static str, Vec<Answer>)>) -> impl Fn(&Recorded) -> Answer + Send + Sync + 'static {
    move |rec: &Recorded| {
        let task = rec.task();
        let turn = rec.assistant_turns();
        table
            .iter()
            .find(|(key, _)| task.starts_with(key))
            .and_then(|(_, answers)| answers.get(turn).cloned())
            .unwrap_or_else(|| done(&format!("the test has no answer {turn} for this task: {}", task.lines().next().unwrap_or(""))))
    }
}

fn task_starts(rec: &Recorded, prefix: &str) -> bool {
    rec.task().starts_with(prefix)
}

struct Ws {
    _dir: tempfile::TempDir,
    root: PathBuf,
    ws: PathBuf,
}

fn workspace(files: &[(&str, &str)]) -> Ws {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let ws = root.join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::create_dir_all(root.join("cfg")).unwrap();
    for (rel, content) in files {
        let p = ws.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    Ws { _dir: dir, root, ws }
}

impl Ws {
    fn script(&self, text: &str) -> PathBuf {
        let p = self.root.join("flow.js");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn command(&self, args: &[String]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_endure"));
        cmd.args(args)
            .current_dir(&self.ws)
            .env("ENDURE_CONFIG_DIR", self.root.join("cfg"))
            .env(KEY_ENV, "test-key")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    async fn endure(&self, args: &[String]) -> Output {
        tokio::time::timeout(Duration::from_secs(120), self.command(args).output()).await.expect("endure finished in time").unwrap()
    }

    fn session_dir(&self) -> PathBuf {
        let dir = self.ws.join(".endure/sessions");
        let mut ids: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
        ids.sort();
        ids.pop().expect("a session")
    }

    fn events(&self) -> Vec<Event> {
        endure::session::read_log(&self.session_dir().join("events.jsonl")).unwrap().events
    }
}

fn http(server: &TestServer) -> Vec<String> {
    [
        "--provider",
        "openai",
        "--base-url",
        &server.base_url_openai(),
        "--model",
        "scripted",
        "--api-key-env",
        KEY_ENV,
        "--max-attempts",
        "2",
        "--retry-base-ms",
        "10",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run_args(script: &Path, extra: &[&str], server: &TestServer) -> Vec<String> {
    let mut a = vec!["workflow".to_string(), "run".to_string(), script.display().to_string()];
    a.extend(extra.iter().map(|s| s.to_string()));
    a.extend(http(server));
    a
}

fn stdout_json(out: &Output) -> Value {
    assert!(out.status.success(), "endure failed: {}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn label_of(events: &[Event], agent: u64) -> String {
    events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::AgentQueued { agent: a, label, .. } if *a == agent => Some(label.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_primitive_with_real_concurrency() {
    let answers = vec![
        ("par 1", vec![done("par 1 ok")]),
        ("par 2", vec![done("par 2 ok")]),
        ("par 3", vec![done("par 3 ok")]),
        ("stage1 x", vec![done("s1x")]),
        ("stage1 y", vec![done("s1y")]),
        ("stage2 s1x", vec![done("s2x")]),
        ("stage2 s1y", vec![done("s2y")]),
        ("bg one", vec![done("bg1")]),
        ("bg two", vec![done("bg2")]),
        ("dag a", vec![done("A")]),
        ("dag b after A", vec![done("B")]),
        ("dag c after A", vec![done("C")]),
    ];
    let server = TestServer::builder()
        .responder(endure::protocol::Role::Agent, by_task(answers))
        .gate(3, |r| task_starts(r, "par "))
        .gate(2, |r| task_starts(r, "stage1 "))
        .gate(2, |r| task_starts(r, "bg "))
        .gate(2, |r| task_starts(r, "dag b") || task_starts(r, "dag c"))
        .start()
        .await;
    let w = workspace(&[("notes.txt", "hello\n")]);
    let script = w.script(
        r#"
        phase("fan-out");
        const par = await parallel([1, 2, 3].map((i) => () => agent(`par ${i}`, { label: `p${i}` })), { concurrency: 3 });
        phase("pipeline");
        const pipe = await pipeline(["x", "y"], (v) => agent(`stage1 ${v}`), (r) => agent(`stage2 ${r}`));
        phase("barrier");
        agent("bg one", { label: "bg1" });
        agent("bg two", { label: "bg2" });
        await barrier();
        phase("dag");
        const d = await dag({
          a: { run: () => agent("dag a") },
          b: { deps: ["a"], run: (i) => agent(`dag b after ${i.a}`) },
          c: { deps: ["a"], run: (i) => agent(`dag c after ${i.a}`) },
          d: { deps: ["b", "c"], run: (i) => i.b + "+" + i.c },
        });
        log("all done", args.tag);
        return { par, pipe, d, agents: budget.spent.agents };
        "#,
    );
    let out = w.endure(&run_args(&script, &["--args", r#"{"tag": "t1"}"#], &server)).await;
    let v = stdout_json(&out);
    assert_eq!(
        v,
        json!({"par": ["par 1 ok", "par 2 ok", "par 3 ok"], "pipe": ["s2x", "s2y"], "d": {"a": "A", "b": "B", "c": "C", "d": "B+C"}, "agents": 12})
    );
    // The server saw the agents of each group waiting together.
    assert_eq!(server.gate(0).max_held(), 3, "parallel agents overlapped");
    assert_eq!(server.gate(1).max_held(), 2, "pipeline items overlapped");
    assert_eq!(server.gate(2).max_held(), 2, "the agents before the barrier overlapped");
    assert_eq!(server.gate(3).max_held(), 2, "dag nodes b and c overlapped");

    let events = w.events();
    let phases: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::WorkflowPhase { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(phases, ["fan-out", "pipeline", "barrier", "dag"]);
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::WorkflowLog { message, .. } if message == "all done t1")));
    // barrier() returned only after both background agents finished.
    let dag_phase = events.iter().position(|e| matches!(&e.kind, EventKind::WorkflowPhase { name, .. } if name == "dag")).unwrap();
    for label in ["bg1", "bg2"] {
        let finished = events.iter().position(|e| matches!(&e.kind, EventKind::AgentFinished { label: l, .. } if l == label)).unwrap();
        assert!(finished < dag_phase, "{label} finished before barrier() returned");
    }
    let finished = events.iter().filter(|e| matches!(e.kind, EventKind::AgentFinished { .. })).count();
    assert_eq!(finished, 12);
    // Each subagent is a child session with its own log, and the parent records its usage.
    let dir = w.session_dir();
    for n in 1..=12 {
        let log = endure::session::read_log(&dir.join(format!("agents/{n}/events.jsonl"))).unwrap().events;
        assert!(matches!(log.first().map(|e| &e.kind), Some(EventKind::SessionStarted { .. })), "agent {n}");
        assert!(
            matches!(log.last().map(|e| &e.kind), Some(EventKind::SessionFinished { outcome: endure::protocol::Outcome::Done, .. })),
            "agent {n}"
        );
    }
    let state = endure::session::SessionState::from_events(&events);
    assert_eq!(state.subagent_usage.tokens(), 12 * 110);
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::WorkflowFinished { ok: true, agents: 12, .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_answer_is_asked_for_again_once_then_fails() {
    let schema_answers = vec![
        ("schema good", vec![done_with(json!({"n": "three"})), done_with(json!({"n": 3}))]),
        ("schema bad", vec![done_with(json!({})), done_with(json!({"n": "x"})), done_with(json!({"n": 1}))]),
    ];
    let server = TestServer::builder().responder(endure::protocol::Role::Agent, by_task(schema_answers)).start().await;
    let w = workspace(&[]);
    let script = w.script(
        r#"
        const schema = { type: "object", properties: { n: { type: "integer" } }, required: ["n"], additionalProperties: false };
        const good = await agent("schema good", { label: "good", schema });
        let err = null;
        try { await agent("schema bad", { label: "bad", schema }); } catch (e) { err = e.message; }
        return { good, err };
        "#,
    );
    let v = stdout_json(&w.endure(&run_args(&script, &[], &server)).await);
    assert_eq!(v["good"], json!({"n": 3}));
    let err = v["err"].as_str().unwrap();
    assert!(err.contains("did not match its schema 2 times") && err.contains("$.n: expected integer"), "{err}");
    // The first invalid answer was sent back with what was wrong; the bad agent got no third try.
    let requests = server.requests();
    let good: Vec<&Recorded> = requests.iter().filter(|r| task_starts(r, "schema good")).collect();
    assert_eq!(good.len(), 2);
    assert!(good[1].text().contains("does not match the schema"), "{}", good[1].text());
    assert_eq!(requests.iter().filter(|r| task_starts(r, "schema bad")).count(), 2);
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git").args(args).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worktree_agents_merge_cleanly_and_a_conflict_applies_nothing() {
    let edit = |old: &str, new: &str| say("Editing.", vec![call("edit_file", json!({"path": "notes.txt", "old": old, "new": new}))]);
    let answers = vec![
        ("wt first", vec![edit("one", "ONE"), done("first line")]),
        ("wt last", vec![edit("three", "THREE"), done("last line")]),
        ("wt mid upper", vec![edit("two", "TWO"), done("middle upper")]),
        (
            "wt mid french",
            vec![
                say("New file.", vec![call("write_file", json!({"path": "extra.txt", "content": "extra\n"}))]),
                edit("two", "deux"),
                done("middle french"),
            ],
        ),
    ];
    let server = TestServer::builder()
        .responder(endure::protocol::Role::Agent, by_task(answers))
        .gate(2, |r| (task_starts(r, "wt first") || task_starts(r, "wt last")) && r.assistant_turns() == 0)
        .start()
        .await;
    let w = workspace(&[("notes.txt", "one\ntwo\nthree\n"), (".gitignore", ".endure/\n")]);
    git(&w.ws, &["init", "-q"]);
    git(&w.ws, &["add", "-A"]);
    git(&w.ws, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]);
    let script = w.script(
        r#"
        const [a, b] = await parallel([
          () => agent("wt first", { label: "w1", isolation: "worktree" }),
          () => agent("wt last", { label: "w2", isolation: "worktree" }),
        ]);
        const m1 = await merge(a);
        const m2 = await merge(b);
        const [c, d] = await parallel([
          () => agent("wt mid upper", { label: "w3", isolation: "worktree" }),
          () => agent("wt mid french", { label: "w4", isolation: "worktree" }),
        ]);
        const m3 = await merge(c);
        const m4 = await merge(d);
        return { m1, m2, m3, m4, answer: a.answer, branch: a.branch, diff: a.diff };
        "#,
    );
    let v = stdout_json(&w.endure(&run_args(&script, &[], &server)).await);
    assert_eq!(v["m1"], json!({"ok": true, "applied": ["notes.txt"], "conflicts": []}));
    assert_eq!(v["m2"], json!({"ok": true, "applied": ["notes.txt"], "conflicts": []}));
    assert_eq!(v["m3"], json!({"ok": true, "applied": ["notes.txt"], "conflicts": []}));
    assert_eq!(v["m4"]["ok"], json!(false));
    assert_eq!(v["m4"]["applied"], json!([]));
    let conflicts = v["m4"]["conflicts"].as_array().unwrap();
    assert!(conflicts.iter().any(|c| c.as_str().unwrap().starts_with("notes.txt")), "{conflicts:?}");
    assert_eq!(v["answer"], json!("first line"));
    assert!(v["branch"].as_str().unwrap().starts_with("endure/"), "{v}");
    assert!(v["diff"].as_str().unwrap().contains("+ONE"), "{v}");
    // Both worktrees' edits landed; the conflicting agent's changes, its new file included, did not.
    assert_eq!(std::fs::read_to_string(w.ws.join("notes.txt")).unwrap(), "ONE\nTWO\nTHREE\n");
    assert!(!w.ws.join("extra.txt").exists());
    assert_eq!(server.gate(0).max_held(), 2);
    // The user's index and HEAD are untouched; the agents' work is on their branches.
    assert_eq!(git(&w.ws, &["diff", "--cached", "--name-only"]), "");
    assert_eq!(git(&w.ws, &["log", "--oneline"]).lines().count(), 1);
    assert_eq!(git(&w.ws, &["branch", "--list", "endure/*"]).lines().count(), 4);
    assert!(git(&w.ws, &["worktree", "list"]).lines().count() == 1, "worktrees are removed once their work is on the branch");
    let events = w.events();
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::WorkflowMerged { conflicts, .. } if !conflicts.is_empty())));
}

/// A workflow with nothing but a script to run (no agent is asked).
async fn script_only(script: &str, extra: &[&str]) -> (Output, Ws) {
    let w = workspace(&[]);
    let scenario = w.root.join("empty.toml");
    std::fs::write(&scenario, "").unwrap();
    let path = w.script(script);
    let mut args = vec!["workflow".to_string(), "run".to_string(), path.display().to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["--provider", "scripted", "--script", &scenario.display().to_string()].map(String::from));
    let out = w.endure(&args).await;
    (out, w)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_stop_an_endless_loop_and_an_allocation_bomb() {
    let (out, w) = script_only("let i = 0; while (true) { i++; }", &["--cpu-limit", "1"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CPU time limit of 1s"), "{err}");
    assert!(
        w.events()
            .iter()
            .any(|e| matches!(&e.kind, EventKind::WorkflowFinished { ok: false, error: Some(m), .. } if m.contains("CPU time limit")))
    );

    let (out, _) = script_only(
        "const keep = []; for (;;) { try { keep.push(new Array(1 << 16).fill(keep.length)); } catch (e) {} }",
        &["--memory-limit", "16"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("memory limit of 16 MiB"), "{err}");

    let (out, _) = script_only("function down(n) { return down(n + 1) + 1; } return down(0);", &[]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(1) && err.contains("stack limit"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clocks_and_randomness_are_refused_with_the_reason() {
    for expr in ["Date.now()", "new Date()", "Math.random()"] {
        let (out, _) = script_only(&format!("return {expr};"), &[]).await;
        assert_eq!(out.status.code(), Some(1), "{expr}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("{expr} is not available in workflow scripts")) && err.contains("deterministic"), "{err}");
    }
    let (out, _) =
        script_only("return [typeof require, typeof process, typeof fetch, typeof setTimeout, new Date(86400000).getUTCDate()];", &[])
            .await;
    assert_eq!(stdout_json(&out), json!(["undefined", "undefined", "undefined", "undefined", 2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_caps_reject_new_agents_and_stop_running_ones_at_a_boundary() {
    let big = Answer { usage: Some(TokenUsage::new(6000, 10)), ..read("notes.txt") };
    let answers = vec![
        ("cap one", vec![done("one")]),
        ("cap two", vec![done("two")]),
        ("cap three", vec![done("three")]),
        ("tok long", vec![big, done("never")]),
        ("tok next", vec![done("never")]),
    ];
    let server = TestServer::builder().responder(endure::protocol::Role::Agent, by_task(answers)).start().await;
    let w = workspace(&[("notes.txt", "hello\n")]);
    let script = w.script(
        r#"
        budget({ agents: 2 });
        const a = await agent("cap one");
        const b = await agent("cap two");
        let third = null;
        try { await agent("cap three"); } catch (e) { third = e.message; }
        const limits = budget.limits;
        budget({ tokens: 5000 });
        let long = null, next = null;
        try { await agent("tok long"); } catch (e) { long = e.message; }
        try { await agent("tok next"); } catch (e) { next = e.message; }
        return { a, b, third, limits, long, next, spent: budget.spent.tokens };
        "#,
    );
    let v = stdout_json(&w.endure(&run_args(&script, &[], &server)).await);
    assert_eq!(v["a"], "one");
    assert_eq!(v["b"], "two");
    assert!(v["third"].as_str().unwrap().contains("budget is spent (agents: 2 of 2 started)"), "{v}");
    assert_eq!(v["limits"], json!({"tokens": null, "cost": null, "agents": 2}));
    // The agents cap no longer applies once replaced; the tokens cap stops the long agent at
    // the boundary after its first answer, and nothing new starts.
    let long = v["long"].as_str().unwrap();
    assert!(long.contains("ended budget") && long.contains("tokens budget reached"), "{long}");
    assert!(v["next"].as_str().unwrap().contains("budget is spent (tokens"), "{v}");
    let requests = server.requests();
    assert_eq!(requests.iter().filter(|r| task_starts(r, "cap three")).count(), 0);
    assert_eq!(requests.iter().filter(|r| task_starts(r, "tok long")).count(), 1);
    assert_eq!(requests.iter().filter(|r| task_starts(r, "tok next")).count(), 0);
}

fn kill_script() -> &'static str {
    r#"
    phase("wave");
    const r = await parallel([1, 2, 3, 4].map((i) => () => agent(`wave ${i}`, { label: `w${i}` })), { concurrency: 4 });
    phase("after");
    const s = await agent(`sum ${r.join(",")}`, { label: "sum" });
    return { r, s };
    "#
}

fn kill_answers() -> Vec<(&'static str, Vec<Answer>)> {
    let run = |k: &str| say("Working.", vec![call("run", json!({"command": format!("echo {k} >> ran.txt")}))]);
    vec![
        ("wave 1", vec![done("one")]),
        ("wave 2", vec![done("two")]),
        ("wave 3", vec![run("3"), done("three")]),
        ("wave 4", vec![run("4"), done("four")]),
        ("sum one,two,three,four", vec![done("ten")]),
    ]
}

fn journal_finished(w: &Ws) -> usize {
    let Ok(dir) = std::fs::read_dir(w.ws.join(".endure/sessions")) else { return 0 };
    let Some(session) = dir.flatten().next() else { return 0 };
    let text = std::fs::read_to_string(session.path().join("workflows/1/journal.jsonl")).unwrap_or_default();
    text.lines().filter(|l| l.contains("\"entry\":\"finished\"")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_parallel_then_resume_redoes_no_finished_agent() {
    // The uninterrupted run, for the expected result.
    let clean = TestServer::builder().responder(endure::protocol::Role::Agent, by_task(kill_answers())).start().await;
    let w0 = workspace(&[]);
    let expected = stdout_json(&w0.endure(&run_args(&w0.script(kill_script()), &[], &clean)).await);
    assert_eq!(expected, json!({"r": ["one", "two", "three", "four"], "s": "ten"}));

    // Agents 3 and 4 finish their first step, then their second request hangs.
    let first = TestServer::builder()
        .responder(endure::protocol::Role::Agent, by_task(kill_answers()))
        .gate(1000, |r| (task_starts(r, "wave 3") || task_starts(r, "wave 4")) && r.assistant_turns() == 1)
        .start()
        .await;
    let w = workspace(&[]);
    let script = w.script(kill_script());
    let mut child = w.command(&run_args(&script, &[], &first)).spawn().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !(journal_finished(&w) == 2 && first.gate(0).arrived() == 2) {
        assert!(tokio::time::Instant::now() < deadline, "agents 1 and 2 finished and 3 and 4 are mid-step");
        assert!(child.try_wait().unwrap().is_none(), "endure ended early");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id().unwrap() as i32;
    // SAFETY: signalling a child process this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = child.wait().await;

    let second = TestServer::builder().responder(endure::protocol::Role::Agent, by_task(kill_answers())).start().await;
    let id = w.session_dir().file_name().unwrap().to_string_lossy().into_owned();
    // `endure exec --resume` continues a workflow session as a workflow.
    let mut args = vec!["exec".to_string(), "--resume".to_string(), id[..12].to_string()];
    args.extend(http(&second));
    let out = w.endure(&args).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let finished = w.events().into_iter().rev().find_map(|e| match e.kind {
        EventKind::WorkflowFinished { ok: true, result, .. } => Some(result),
        _ => None,
    });
    assert_eq!(finished, Some(expected.clone()));
    // Nothing is left to resume.
    let mut again = vec!["workflow".to_string(), "resume".to_string(), id.clone()];
    again.extend(http(&second));
    let out = w.endure(&again).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already finished"), "{}", String::from_utf8_lossy(&out.stderr));
    let requests = second.requests();
    // Finished agents were taken from the journal: not one request for them.
    for done_before in ["wave 1", "wave 2"] {
        assert_eq!(requests.iter().filter(|r| task_starts(r, done_before)).count(), 0, "{done_before} ran again");
    }
    // Agents in flight continued from their own logs: their first step was not asked again.
    for in_flight in ["wave 3", "wave 4"] {
        let turns: Vec<usize> = requests.iter().filter(|r| task_starts(r, in_flight)).map(Recorded::assistant_turns).collect();
        assert_eq!(turns, vec![1], "{in_flight} continued from its log");
    }
    let ran = std::fs::read_to_string(w.ws.join("ran.txt")).unwrap();
    assert_eq!(ran.lines().filter(|l| *l == "3").count(), 1, "{ran}");
    let events = w.events();
    let mut journaled: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::AgentFinished { label, journaled: true, .. } => Some(label.clone()),
            _ => None,
        })
        .collect();
    // Journaled calls of one parallel phase settle together, in no fixed order.
    journaled.sort();
    assert_eq!(journaled, ["w1", "w2"]);
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::AgentStarted { resumed: true, label, .. } if label == "w3")));
    // Usage of the finished agents is counted once in the session.
    let state = endure::session::SessionState::from_events(&events);
    let clean_state = endure::session::SessionState::from_events(&w0.events());
    assert_eq!(state.subagent_usage.tokens(), clean_state.subagent_usage.tokens());
}

/// Receives parent events until one matches.
async fn wait_event(rx: &mut tokio::sync::broadcast::Receiver<Event>, what: &str, pred: impl Fn(&EventKind) -> bool) -> Event {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => panic!("timed out waiting for {what}"),
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Err(e)) => panic!("channel closed waiting for {what}: {e}"),
            Ok(Ok(ev)) if pred(&ev.kind) => return ev,
            Ok(Ok(ev)) => {
                if std::env::var("WF_DEBUG").is_ok() && !matches!(ev.kind, EventKind::SubagentEvent { .. }) {
                    eprintln!("{}", serde_json::to_string(&ev).unwrap());
                }
            }
        }
    }
}

fn queued_agent(kind: &EventKind, want: &str) -> Option<u64> {
    match kind {
        EventKind::AgentQueued { agent, label, .. } if label == want => Some(*agent),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_reaches_only_its_subagent_and_one_agent_pauses_alone() {
    let answers = vec![
        ("hold one", vec![read("notes.txt"), done("h1")]),
        ("free two", vec![read("notes.txt"), done("h2")]),
        ("pause me", vec![read("notes.txt"), read("notes.txt"), read("notes.txt"), read("notes.txt"), done("p")]),
    ];
    let server = TestServer::builder()
        .responder(endure::protocol::Role::Agent, by_task(answers))
        .gate(1000, |r| task_starts(r, "hold one") && r.assistant_turns() == 0)
        .gate(1000, |r| task_starts(r, "pause me") && r.assistant_turns() == 0)
        .start()
        .await;
    let w = workspace(&[("notes.txt", "hello\n")]);
    let mut opts = endure::config::settings::RunOptions {
        provider: Some("openai".into()),
        base_url: Some(server.base_url_openai()),
        model: Some("scripted".into()),
        api_key_env: Some(KEY_ENV.into()),
        ..Default::default()
    };
    opts.max_attempts = Some(2);
    // SAFETY: set before any thread of this test reads the environment for it.
    unsafe { std::env::set_var(KEY_ENV, "test-key") };
    let cfg = endure::launch::agent_config(&w.ws, &opts, None, endure::agent::Supervision::Headless, 0.0).unwrap();
    let script = r#"
        const r = await parallel([() => agent("hold one", { label: "h1" }), () => agent("free two", { label: "h2" })]);
        const p = await agent("pause me", { label: "p" });
        return [...r, p];
    "#;
    let start = endure::workflow::session::Start::New { name: "correct.js".into(), script: script.into(), args: Value::Null };
    let mut handle = endure::workflow::session::start(cfg, start).unwrap();
    let rx = &mut handle.events;
    let h1 = wait_event(rx, "h1 queued", |k| queued_agent(k, "h1").is_some()).await;
    let h1 = queued_agent(&h1.kind, "h1").unwrap();
    wait_event(rx, "h1 started", |k| matches!(k, EventKind::AgentStarted { agent, .. } if *agent == h1)).await;
    // h1's first request is held at the server: the correction waits for its next boundary.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while server.gate(0).arrived() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "h1 asked the model");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handle.commands.send(Command::ToAgent { target: h1, command: Box::new(Command::Inject("only for h1: keep it short".into())) }).unwrap();
    wait_event(rx, "the correction queued in h1's session", |k| {
        matches!(k, EventKind::SubagentEvent { agent, event, .. } if *agent == h1 && matches!(event.kind, EventKind::CorrectionQueued { .. }))
    })
    .await;
    server.gate(0).open();

    let p = wait_event(rx, "p queued", |k| queued_agent(k, "p").is_some()).await;
    let p = queued_agent(&p.kind, "p").unwrap();
    while server.gate(1).arrived() == 0 {
        assert!(tokio::time::Instant::now() < deadline + Duration::from_secs(60), "p asked the model");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handle.commands.send(Command::ToAgent { target: p, command: Box::new(Command::Pause) }).unwrap();
    server.gate(1).open();
    // The command reaches the agent while a step runs; it pauses at the next boundary, well
    // before its fifth and last answer.
    wait_event(rx, "p paused", |k| matches!(k, EventKind::AgentPaused { agent, .. } if *agent == p)).await;
    let asked = |s: &TestServer| s.requests().iter().filter(|r| task_starts(r, "pause me")).count();
    let at_pause = asked(&server);
    assert!(at_pause < 5, "{at_pause}");
    let p_log = w.session_dir().join(format!("agents/{p}/events.jsonl"));
    let paused_log = endure::session::read_log(&p_log).unwrap().events;
    assert!(matches!(paused_log.last().map(|e| &e.kind), Some(EventKind::Paused { .. })), "paused at a boundary");
    // A request the pause cancelled may reach the server's record only after the pause (the
    // client let go of it mid-flight); anything beyond those is an agent asking while paused.
    let cancelled_by_now = paused_log
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Warning { message } if message.contains("the request was cancelled and is asked again")))
        .count();
    let while_paused = asked(&server) - at_pause;
    assert!(while_paused <= cancelled_by_now, "a paused agent asks nothing: {while_paused} request(s) after the pause");
    handle.commands.send(Command::ToAgent { target: p, command: Box::new(Command::Resume) }).unwrap();
    wait_event(rx, "p resumed", |k| matches!(k, EventKind::AgentResumed { agent, .. } if *agent == p)).await;
    let end = tokio::time::timeout(Duration::from_secs(60), handle.join).await.unwrap().unwrap();
    assert_eq!(end.result, Some(json!(["h1", "h2", "p"])));
    // A pause that lands while the model is still answering cancels that request, and the
    // step is asked again on resume (never a tool run twice): one more request each time.
    let p_events = endure::session::read_log(&p_log).unwrap().events;
    let cancelled = p_events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Warning { message } if message.contains("the request was cancelled and is asked again")))
        .count();
    assert_eq!(asked(&server), 5 + cancelled);

    let requests = server.requests();
    let told = |prefix: &str| requests.iter().filter(|r| task_starts(r, prefix)).any(|r| r.text().contains("only for h1: keep it short"));
    assert!(told("hold one"), "h1 got the correction");
    assert!(!told("free two") && !told("pause me"), "no other agent got it");
    let dir = w.session_dir();
    let h1_log = endure::session::read_log(&dir.join(format!("agents/{h1}/events.jsonl"))).unwrap().events;
    assert!(h1_log.iter().any(|e| matches!(e.kind, EventKind::CorrectionDelivered { .. })));
    let events = w.events();
    assert_eq!(label_of(&events, h1), "h1");
    for n in 1..=3u64 {
        if n == h1 {
            continue;
        }
        let log = endure::session::read_log(&dir.join(format!("agents/{n}/events.jsonl"))).unwrap().events;
        assert!(!log.iter().any(|e| matches!(e.kind, EventKind::CorrectionQueued { .. })), "agent {n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_runs_a_saved_workflow_with_its_tool() {
    let w = workspace(&[
        ("notes.txt", "hello\n"),
        (
            ".endure/workflows/tiny.js",
            "// Two readers\nconst r = await parallel(args.files.map((f) => () => agent(`read ${f}`, { label: f })));\nreturn { read: r };\n",
        ),
    ]);
    let scenario = r#"
[[agent]]
text = "Running the saved workflow."
[[agent.tool_calls]]
name = "workflow"
arguments = { name = "tiny", args = { files = ["a", "b"] } }
[[agent]]
text = "All read."
[[agent.tool_calls]]
name = "done"
arguments = { summary = "both read" }
[[verifier]]
text = '{"met": true, "missing": [], "evidence": ["the workflow read both"]}'

[[subagents.a.agent]]
text = "Done."
[[subagents.a.agent.tool_calls]]
name = "done"
arguments = { summary = "a read" }
[[subagents.b.agent]]
text = "Done."
[[subagents.b.agent.tool_calls]]
name = "done"
arguments = { summary = "b read" }
"#;
    let path = w.root.join("s.toml");
    std::fs::write(&path, scenario).unwrap();
    let list = w.endure(&["workflow".into(), "list".into()]).await;
    assert!(String::from_utf8_lossy(&list.stdout).contains("tiny") && String::from_utf8_lossy(&list.stdout).contains("Two readers"));
    let out =
        w.endure(&["exec", "--provider", "scripted", "--script", &path.display().to_string(), "read the files"].map(String::from)).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events = w.events();
    let result = events.iter().find_map(|e| match &e.kind {
        EventKind::ToolResult { name, output, ok: true, .. } if name == "workflow" => Some(output.clone()),
        _ => None,
    });
    let result: Value = serde_json::from_str(&result.expect("a workflow result")).unwrap();
    assert_eq!(result, json!({"read": ["a read", "b read"]}));
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::WorkflowStarted { call_id: Some(_), name, .. } if name == "tiny")));
    assert!(w.session_dir().join("agents/2/events.jsonl").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundled_examples_run_against_the_scripted_provider() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/workflows");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workflows");
    let run = |_w: &Ws, name: &str, extra: &[&str]| {
        let mut args = vec!["workflow".to_string(), "run".to_string(), examples.join(format!("{name}.js")).display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["--provider", "scripted", "--script", &fixtures.join(format!("{name}.toml")).display().to_string()].map(String::from));
        args
    };

    let w = workspace(&[("calc.py", "def divide(a, b):\n    return a / b\n")]);
    let v = stdout_json(&w.endure(&run(&w, "review", &[])).await);
    assert_eq!(v["verdict"], "request_changes");
    assert_eq!(v["issues"].as_array().unwrap().len(), 2);
    let read_only = w.events().iter().filter(|e| matches!(e.kind, EventKind::AgentFinished { .. })).count();
    assert_eq!(read_only, 4);

    let check = "for t in ${1:-a b c}; do if grep -q bug \"$t.txt\"; then echo \"FAIL $t\"; fail=1; else echo \"ok $t\"; fi; done; exit ${fail:-0}\n";
    let w = workspace(&[("a.txt", "bug\n"), ("b.txt", "bug\n"), ("c.txt", "ok\n"), ("check.sh", check), (".gitignore", ".endure/\n")]);
    git(&w.ws, &["init", "-q"]);
    git(&w.ws, &["add", "-A"]);
    git(&w.ws, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]);
    let v = stdout_json(&w.endure(&run(&w, "fix-failing-tests", &["--args", r#"{"command": "sh check.sh"}"#])).await);
    assert_eq!(
        v,
        json!({"fixes": [{"test": "a", "merged": true, "conflicts": []}, {"test": "b", "merged": true, "conflicts": []}], "passed": true})
    );
    assert_eq!(std::fs::read_to_string(w.ws.join("a.txt")).unwrap(), "fixed\n");
    assert_eq!(std::fs::read_to_string(w.ws.join("b.txt")).unwrap(), "fixed\n");

    let w = workspace(&[]);
    let v = stdout_json(&w.endure(&run(&w, "migrate", &[])).await);
    assert_eq!(v["modules"], json!({"util": "util migrated", "models": "models migrated", "api": "api migrated", "cli": "cli migrated"}));
    // dag order: a module starts only after the modules it depends on finished.
    let events = w.events();
    let at = |kind: &str, label: &str| {
        events
            .iter()
            .position(|e| match &e.kind {
                EventKind::AgentStarted { label: l, .. } => kind == "start" && l == label,
                EventKind::AgentFinished { label: l, .. } => kind == "end" && l == label,
                _ => false,
            })
            .unwrap()
    };
    for (module, deps) in [("models", vec!["util"]), ("api", vec!["models", "util"]), ("cli", vec!["api"])] {
        for d in deps {
            assert!(at("end", &format!("migrate-{d}")) < at("start", &format!("migrate-{module}")), "{d} before {module}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_inside_its_workflow_call_resumes_the_workflow_not_the_agents() {
    let mut answers = kill_answers();
    answers.push(("run the flow", vec![say("Running it.", vec![call("workflow", json!({"script": kill_script()}))]), done("flowed")]));
    let verdicts = endure::model::scripted::Scenario {
        verifier: (0..4)
            .map(|_| Answer { text: r#"{"met": true, "missing": [], "evidence": ["the workflow ran"]}"#.into(), ..Default::default() })
            .collect(),
        ..Default::default()
    };
    let server = |gated: bool| {
        let mut b = TestServer::builder()
            .scenario(verdicts.clone())
            .role_model(endure::protocol::Role::Verifier, "verifier-model")
            .responder(endure::protocol::Role::Agent, by_task(answers.clone()));
        if gated {
            b = b.gate(1000, |r| (task_starts(r, "wave 3") || task_starts(r, "wave 4")) && r.assistant_turns() == 1);
        }
        b.start()
    };
    let first = server(true).await;
    let w = workspace(&[]);
    let mut args = vec!["exec".to_string()];
    args.extend(http(&first));
    args.extend(["--verifier-model".to_string(), "verifier-model".to_string(), "run the flow".to_string()]);
    let mut child = w.command(&args).spawn().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !(journal_finished(&w) == 2 && first.gate(0).arrived() == 2) {
        assert!(tokio::time::Instant::now() < deadline, "the workflow is mid-wave");
        assert!(child.try_wait().unwrap().is_none(), "endure ended early");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SAFETY: signalling a child process this test started.
    unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGKILL) };
    let _ = child.wait().await;

    let second = server(false).await;
    let id = w.session_dir().file_name().unwrap().to_string_lossy().into_owned();
    let mut args = vec!["exec".to_string(), "--resume".to_string(), id];
    args.extend(http(&second));
    args.extend(["--verifier-model".to_string(), "verifier-model".to_string()]);
    let out = w.endure(&args).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let requests = second.requests();
    for done_before in ["wave 1", "wave 2"] {
        assert_eq!(requests.iter().filter(|r| task_starts(r, done_before)).count(), 0, "{done_before} ran again");
    }
    // The agent was not asked to redo its call: its next request already carries the result.
    let parent: Vec<usize> = requests.iter().filter(|r| task_starts(r, "run the flow")).map(Recorded::assistant_turns).collect();
    assert_eq!(parent, vec![1]);
    let events = w.events();
    let result = events.iter().rev().find_map(|e| match &e.kind {
        EventKind::ToolResult { name, output, ok: true, .. } if name == "workflow" => Some(output.clone()),
        _ => None,
    });
    let result: Value = serde_json::from_str(&result.expect("the workflow call's result")).unwrap();
    assert_eq!(result, json!({"r": ["one", "two", "three", "four"], "s": "ten"}));
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::SessionResumed { interrupted_calls, .. } if interrupted_calls.is_empty())));
}
