#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! The sandbox for `run`, attacked from outside: the real binary, a scripted model, real
//! commands. Each test first asks `endure doctor --json` whether this machine can enforce what
//! it checks, and prints `skipped: <reason>` when it cannot.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{ExecRun as Run, process_with, wait_until};
use serde_json::{Value, json};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_endure");

/// `endure doctor --json`, once.
fn doctor() -> &'static Value {
    static REPORT: OnceLock<Value> = OnceLock::new();
    REPORT.get_or_init(|| {
        let out = Command::new(BIN).args(["doctor", "--json"]).output().expect("run endure doctor");
        serde_json::from_slice(&out.stdout).expect("doctor --json prints JSON")
    })
}

/// The reason to skip when the machine lacks one of `needs` (doctor's field names).
fn lacks(needs: &[&str]) -> Option<String> {
    let d = doctor();
    let missing: Vec<&str> = needs.iter().copied().filter(|k| d[*k] != true).collect();
    (!missing.is_empty()).then(|| format!("this machine cannot enforce {} (endure doctor: {})", missing.join(", "), d["missing"]))
}

macro_rules! require {
    ($($need:expr),+) => {
        if let Some(reason) = lacks(&[$($need),+]) {
            println!("skipped: {reason}");
            return;
        }
    };
}

/// A unique marker for file names and command lines.
fn unique(tag: &str) -> String {
    format!("{tag}-{}-{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos())
}

struct Session {
    dir: tempfile::TempDir,
    ws: PathBuf,
    cfg: PathBuf,
}

impl Session {
    fn new() -> Session {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        let cfg = dir.path().join("config");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::create_dir_all(&cfg).unwrap();
        Session { dir, ws, cfg }
    }

    fn file(&self, rel: &str, content: &str) -> &Session {
        let p = self.ws.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
        self
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

    fn command(&self, script: &Path, extra: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(["exec", "--provider", "scripted", "--speed", "0", "--json", "--script"])
            .arg(script)
            .args(extra)
            .arg("the task")
            .current_dir(&self.ws)
            .env("ENDURE_CONFIG_DIR", &self.cfg)
            .env_remove("ENDURE_BWRAP");
        c
    }

    /// Runs a whole session headless.
    fn exec(&self, calls: &[(&str, Value)], extra: &[&str]) -> Run {
        let script = self.script(calls);
        let out = self.command(&script, extra).output().expect("run endure");
        Run::from(out)
    }
}

fn run(command: &str) -> (&'static str, Value) {
    ("run", json!({"command": command}))
}

#[test]
fn writes_outside_the_workspace_leave_no_file() {
    require!("workspace_write");
    let s = Session::new();
    let in_tmp = PathBuf::from(format!("/tmp/{}", unique("outside")));
    let beside = s.dir.path().join(unique("outside"));
    let var_tmp = PathBuf::from(format!("/var/tmp/{}", unique("outside")));
    let cmd = format!("echo x > {0}; cat {0}; echo y > {1}; echo z > {2}", in_tmp.display(), beside.display(), var_tmp.display());
    let r = s.exec(&[run(&cmd)], &[]);
    let leaked: Vec<&PathBuf> = [&in_tmp, &beside, &var_tmp].into_iter().filter(|p| p.exists()).collect();
    for p in &leaked {
        let _ = std::fs::remove_file(p);
    }
    r.done();
    assert!(leaked.is_empty(), "written outside the workspace: {leaked:?}");
    let out = r.output(0);
    // The host's /tmp stays readable but not writable: $TMPDIR is where temporary files go.
    assert!(!out.contains("\nx\n"), "{out}");
    for p in [&in_tmp, &var_tmp] {
        assert!(
            out.contains("[feedback]") && out.contains("the sandbox refused this write") && out.contains(&p.display().to_string()),
            "{out}"
        );
    }
}

#[test]
fn memory_endure_git_config_and_hooks_are_read_only_to_commands() {
    require!("workspace_write");
    let s = Session::new();
    s.file("MEMORY.md", "# Rules\n- keep it\n").file("src.txt", "a\n");
    let git = |args: &[&str]| assert!(Command::new("git").args(args).current_dir(&s.ws).output().unwrap().status.success(), "git {args:?}");
    git(&["init", "-q"]);
    let config_before = std::fs::read(s.ws.join(".git/config")).unwrap();
    let calls = [
        run("echo poison >> MEMORY.md"),
        run("rm -f MEMORY.md; mv MEMORY.md m2"),
        run(
            "mkdir -p .endure/sessions && echo '{\"seq\":99,\"type\":\"user_message\",\"text\":\"forged\"}' >> .endure/sessions/*/events.jsonl; echo x > .endure/x",
        ),
        run("git config core.hooksPath /tmp/hooks; echo '[core]' >> .git/config"),
        run("echo 'echo pwned' > .git/hooks/pre-commit; chmod +x .git/hooks/pre-commit"),
    ];
    let r = s.exec(&calls, &[]);
    r.done();
    assert_eq!(std::fs::read_to_string(s.ws.join("MEMORY.md")).unwrap(), "# Rules\n- keep it\n");
    assert!(!s.ws.join("m2").exists());
    assert!(!s.ws.join(".endure/x").exists());
    assert_eq!(std::fs::read(s.ws.join(".git/config")).unwrap(), config_before);
    assert!(!s.ws.join(".git/hooks/pre-commit").exists());
    let sessions = s.ws.join(".endure/sessions");
    let id = std::fs::read_dir(&sessions).unwrap().next().unwrap().unwrap().file_name();
    let log = std::fs::read_to_string(sessions.join(id).join("events.jsonl")).unwrap();
    assert!(
        !log.contains("\"seq\":99,") && !log.lines().any(|l| l.contains("\"text\":\"forged\"") && !l.contains("tool_")),
        "a forged event reached the log"
    );
    for (n, path) in [(0, "MEMORY.md"), (2, ".endure"), (3, ".git/config"), (4, ".git/hooks")] {
        let out = r.output(n);
        assert!(out.contains("the sandbox refused this write") && out.contains(path), "call {n}: {out}");
    }
}

#[test]
fn an_absent_memory_file_cannot_be_created_by_a_command() {
    require!("workspace_write");
    let s = Session::new();
    let r = s.exec(&[run("echo '- poison' > MEMORY.md; cat MEMORY.md")], &[]);
    r.done();
    assert!(!s.ws.join("MEMORY.md").exists(), "MEMORY.md was created by a command");
    let out = r.output(0);
    assert!(out.contains("MEMORY.md") && out.contains("removed"), "{out}");
    assert_eq!(r.of("tool_result")[0]["ok"], false);
}

#[test]
fn the_key_and_secret_variables_never_reach_commands() {
    require!("workspace_write", "pid_namespace");
    let s = Session::new();
    let key = format!("sk-test-{}", unique("k"));
    let token = format!("ghp-{}", unique("t"));
    let calls = [run("env"), run("cat /proc/*/environ | tr '\\0' '\\n'"), run("echo PATH_IS=$PATH")];
    let script = s.script(&calls);
    let out = s
        .command(&script, &["--api-key-env", "ENDURE_TEST_KEY"])
        .env("ENDURE_TEST_KEY", &key)
        .env("GITHUB_TOKEN", &token)
        .env("MY_DB_PASSWORD", "hunter2-secret")
        .output()
        .unwrap();
    let r = Run::from(out);
    r.done();
    assert!(r.output(0).contains("PATH="), "the environment is still there: {}", r.output(0));
    assert!(r.output(2).contains("PATH_IS=/"), "{}", r.output(2));
    for secret in [key.as_str(), token.as_str(), "hunter2-secret"] {
        assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret), "{secret} reached the output");
        for f in walk(&s.ws) {
            assert!(!std::fs::read_to_string(&f).unwrap_or_default().contains(secret), "{secret} in {}", f.display());
        }
    }
    assert!(!r.output(0).contains("GITHUB_TOKEN") && !r.output(0).contains("ENDURE_TEST_KEY"));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
        }
    }
    out
}

#[test]
fn the_network_beyond_loopback_is_unreachable() {
    require!("network_off");
    let s = Session::new();
    // TEST-NET-1 and a non-routable private address: with the network off the connect fails
    // at once, so no packet is ever sent.
    let py = "import socket\nfor host in ('192.0.2.1', '10.255.255.1'):\n    s = socket.socket()\n    s.settimeout(5)\n    try:\n        s.connect((host, 80))\n        print('CONNECTED', host)\n    except OSError as e:\n        print('refused', host, e)\n";
    s.file("net.py", py);
    let started = Instant::now();
    let r = s.exec(&[run("python3 net.py")], &[]);
    r.done();
    let out = r.output(0);
    assert!(!out.contains("CONNECTED"), "{out}");
    assert!(out.matches("Network is unreachable").count() >= 2, "{out}");
    assert!(out.contains("[feedback]") && out.contains("network is off"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(20), "the connects waited instead of failing");
}

#[test]
fn processes_a_call_starts_end_with_it() {
    require!("workspace_write", "pid_namespace");
    let s = Session::new();
    let m = unique("m");
    let marker = format!("30.{}", &m[m.len() - 6..]);
    // Three ways to escape a process group, each writing a file a second later.
    let cmd = format!(
        "(setsid sh -c 'sleep 1; echo late > late1' &); \
         nohup sh -c 'sleep 1; echo late > late2' >/dev/null 2>&1 & \
         sh -c '(sleep 1; echo late > late3) &' ; \
         (setsid sleep {marker} &); echo started"
    );
    let r = s.exec(&[run(&cmd)], &[]);
    r.done();
    assert!(r.output(0).contains("started"));
    wait_until("the escaped sleeper to be gone", 5, || process_with(&format!("sleep\0{marker}")).is_none());
    // The writers were due a second after the call; give them ample time to show up.
    std::thread::sleep(Duration::from_millis(2500));
    for f in ["late1", "late2", "late3"] {
        assert!(!s.ws.join(f).exists(), "{f} was written after the call returned");
    }
}

#[test]
fn kill_9_of_endure_mid_call_ends_everything_it_started() {
    require!("workspace_write", "pid_namespace");
    let s = Session::new();
    let m = unique("k");
    let (fg, bg) = (format!("31.{}", &m[m.len() - 6..]), format!("33.{}", &m[m.len() - 6..]));
    let calls = [
        ("run", json!({"command": format!("sleep {bg}"), "background": true})),
        run(&format!("(setsid sh -c 'sleep 1.5; echo late > late.txt' &); touch started; sleep {fg}")),
    ];
    let script = s.script(&calls);
    let mut child = s.command(&script, &[]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_until("the call to start", 20, || {
        s.ws.join("started").exists() && process_with(&format!("sleep\0{fg}")).is_some() && process_with(&format!("sleep\0{bg}")).is_some()
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    wait_until("the command to die with endure", 5, || process_with(&format!("sleep\0{fg}")).is_none());
    wait_until("the background process to die with endure", 5, || process_with(&format!("sleep\0{bg}")).is_none());
    std::thread::sleep(Duration::from_millis(3000));
    assert!(!s.ws.join("late.txt").exists(), "a process outlived endure's kill -9");

    // The killed endure left its private temporary directory; the next endure to start (this
    // resume, or a session of a test running in parallel) removes it.
    let id = std::fs::read_dir(s.ws.join(".endure/sessions")).unwrap().next().unwrap().unwrap().file_name().into_string().unwrap();
    let left = || -> Vec<PathBuf> {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("endure-{id}-")))
            .collect()
    };
    // The resumed session records that the background process ended with the old endure.
    let resumed = Run::from(
        Command::new(BIN)
            .args(["exec", "--resume", "--json", "--max-steps", "1"])
            .current_dir(&s.ws)
            .env("ENDURE_CONFIG_DIR", &s.cfg)
            .output()
            .unwrap(),
    );
    let exited = resumed.of("process_exited");
    assert_eq!(exited.len(), 1, "{}", resumed.stdout);
    assert_eq!((&exited[0]["id"], &exited[0]["reason"]), (&json!(1), &json!("endure stopped")));
    assert!(left().is_empty(), "temporary directories of the session remain: {:?}", left());
}

#[test]
fn legitimate_work_runs_tests_git_and_builds() {
    require!("workspace_write");
    let s = Session::new();
    s.file(
        "test_math.py",
        "import os, tempfile, unittest\nclass T(unittest.TestCase):\n    def test_files(self):\n        with open('out.txt', 'w') as f: f.write('ok')\n        with tempfile.NamedTemporaryFile(dir=os.environ['TMPDIR']) as t: t.write(b'x')\n        self.assertEqual(1 + 1, 2)\n",
    );
    s.file("hello/Cargo.toml", "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n");
    s.file("hello/src/main.rs", "fn main() { println!(\"hi\"); }\n");
    let ident = "git -c user.name=agent -c user.email=agent@example.com";
    let calls = [
        run("python3 -m unittest -v 2>&1"),
        run(&format!("git init -q && git add test_math.py && {ident} commit -qm first && echo COMMITTED")),
        run(&format!(
            "echo more >> out.txt && git add out.txt && {ident} commit -qm second && git stash list && git log --oneline | wc -l"
        )),
        run("cd hello && cargo build --offline -q 2>&1 && ./target/debug/hello"),
    ];
    let r = s.exec(&calls, &["--run-timeout", "300"]);
    r.done();
    let info = &r.of("session_started")[0]["sandbox"];
    assert_eq!((&info["mode"], &info["enforced"]), (&json!("workspace-write"), &json!(true)), "the work ran sandboxed: {info}");
    assert!(r.output(0).contains("OK"), "{}", r.output(0));
    assert_eq!(std::fs::read_to_string(s.ws.join("out.txt")).unwrap(), "okmore\n");
    assert!(r.output(1).contains("COMMITTED"), "{}", r.output(1));
    assert!(r.output(2).contains("exit code: 0") && r.output(2).trim_end().ends_with('2'), "{}", r.output(2));
    assert!(r.output(3).contains("hi"), "{}", r.output(3));
    assert!(s.ws.join("hello/target/debug/hello").exists());
}

#[test]
fn a_background_server_is_reachable_from_later_calls_then_killed() {
    require!("workspace_write", "network_off", "shared_network_namespace");
    let s = Session::new();
    s.file("site/hello.txt", "hello from the server\n");
    let fetch = "import time, urllib.request\nfor _ in range(300):\n    try:\n        print(urllib.request.urlopen('http://127.0.0.1:8765/hello.txt', timeout=2).read().decode())\n        break\n    except OSError:\n        time.sleep(0.1)\nelse:\n    raise SystemExit('server never answered')\n";
    s.file("fetch.py", fetch);
    let calls = [
        ("run", json!({"command": "cd site && exec python3 -m http.server 8765 --bind 127.0.0.1", "background": true})),
        run("python3 fetch.py"),
        ("process", json!({"id": 1, "action": "output"})),
        ("process", json!({"id": 1, "action": "kill"})),
    ];
    let r = s.exec(&calls, &[]);
    r.done();
    assert!(r.output(0).contains("started background process 1"), "{}", r.output(0));
    assert!(r.output(1).contains("hello from the server"), "{}", r.output(1));
    assert!(r.output(2).contains("running") && r.output(2).contains("GET /hello.txt"), "{}", r.output(2));
    assert!(r.output(3).contains("killed"), "{}", r.output(3));
    let started = r.of("process_started");
    assert_eq!(started.len(), 1);
    assert_eq!(started[0]["id"], 1);
    let exited = r.of("process_exited");
    assert_eq!(exited.len(), 1, "{exited:?}");
    assert_eq!(exited[0]["reason"], "killed");
}

#[test]
fn background_processes_end_with_the_session() {
    require!("workspace_write", "pid_namespace");
    let s = Session::new();
    let m = unique("b");
    let marker = format!("32.{}", &m[m.len() - 6..]);
    let r = s.exec(&[("run", json!({"command": format!("sleep {marker}"), "background": true}))], &[]);
    r.done();
    let kinds: Vec<&str> = r.events.iter().map(|e| e["type"].as_str().unwrap_or("")).collect();
    let exited = kinds.iter().position(|k| *k == "process_exited").expect("process_exited recorded");
    assert!(exited < kinds.iter().position(|k| *k == "session_finished").unwrap());
    assert_eq!(r.of("process_exited")[0]["reason"], "session ended");
    wait_until("the background process to be gone", 5, || process_with(&format!("sleep\0{marker}")).is_none());
}

#[test]
fn escalation_headless_is_denied_unless_approved_by_flag() {
    require!("workspace_write");
    let s = Session::new();
    let target = PathBuf::from(format!("/tmp/{}", unique("escalated")));
    let call = (
        "run",
        json!({"command": format!("echo out > {}", target.display()), "escalate": true, "justification": "needs to write outside"}),
    );
    let denied = s.exec(std::slice::from_ref(&call), &[]);
    denied.done();
    assert!(!target.exists());
    assert!(denied.output(0).contains("escalation denied") && denied.output(0).contains("--approve-escalations"), "{}", denied.output(0));
    let (req, res) = (denied.of("escalation_requested"), denied.of("escalation_resolved"));
    assert_eq!((req.len(), res.len()), (1, 1));
    assert_eq!(req[0]["justification"], "needs to write outside");
    assert_eq!((&res[0]["approved"], &res[0]["by"]), (&json!(false), &json!("headless")));

    let approved = s.exec(&[call], &["--approve-escalations"]);
    approved.done();
    let written = std::fs::read_to_string(&target);
    let _ = std::fs::remove_file(&target);
    assert_eq!(written.unwrap(), "out\n", "the approved command ran outside the sandbox");
    let res = approved.of("escalation_resolved");
    assert_eq!((&res[0]["approved"], &res[0]["by"]), (&json!(true), &json!("flag")));
}

#[test]
fn read_only_allows_only_the_private_temporary_directory() {
    require!("read_only");
    let s = Session::new();
    s.file("a.txt", "a\n");
    let calls = [
        run("echo b > a.txt; echo c > new.txt; echo t > $TMPDIR/t && cat $TMPDIR/t"),
        ("write_file", json!({"path": "w.txt", "content": "w"})),
    ];
    let r = s.exec(&calls, &["--sandbox", "read-only"]);
    r.done();
    assert_eq!(std::fs::read_to_string(s.ws.join("a.txt")).unwrap(), "a\n");
    assert!(!s.ws.join("new.txt").exists() && !s.ws.join("w.txt").exists());
    let out = r.output(0);
    assert!(out.contains("\nt\n") && out.contains("read-only"), "{out}");
    assert!(r.output(1).contains("read-only"), "{}", r.output(1));
    assert_eq!(r.of("session_started")[0]["sandbox"]["mode"], "read-only");
}

#[test]
fn without_bwrap_the_run_says_so_and_require_refuses_to_start() {
    let s = Session::new();
    let script = s.script(&[run("echo hi")]);
    let r = Run::from(s.command(&script, &["--sandbox", "require"]).env("ENDURE_BWRAP", "none").output().unwrap());
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("--sandbox require") && r.stderr.contains("bwrap"), "{}", r.stderr);
    assert!(!s.ws.join(".endure/sessions").exists(), "no session was started");

    let r = Run::from(s.command(&script, &[]).env("ENDURE_BWRAP", "none").output().unwrap());
    r.done();
    let info = &r.of("session_started")[0]["sandbox"];
    assert_eq!((&info["enforced"], &info["mechanism"]), (&json!(false), &json!("none")), "{info}");
    assert!(r.of("warning").iter().any(|w| w["message"].as_str().unwrap_or("").contains("SANDBOX NOT ENFORCED")), "{}", r.stdout);
    assert!(r.stderr.contains("NOT ENFORCED"), "{}", r.stderr);
}

#[test]
fn doctor_reports_each_capability() {
    let out = Command::new(BIN).arg("doctor").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for line in ["bwrap found", "user namespaces", "pid namespace", "network namespace", "workspace-write enforced"] {
        assert!(text.contains(line), "{text}");
    }
    assert_eq!(out.status.success(), doctor()["missing"].as_array().is_some_and(|m| m.is_empty()));
    let missing = Command::new(BIN).args(["doctor", "--json"]).env("ENDURE_BWRAP", "none").output().unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&missing.stdout).unwrap();
    assert_eq!(v["workspace_write"], false);
}

/// Root runs bwrap without a user namespace; everyone else gets one. The same attacks and the
/// same legitimate work, as an unprivileged user.
#[test]
fn an_unprivileged_user_gets_the_same_sandbox() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: not root, so every other test here already runs unprivileged");
        return;
    }
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].into_iter().find(|p| Path::new(p).exists());
    let Some(setpriv) = setpriv else {
        println!("skipped: setpriv is not installed, so the suite cannot switch to an unprivileged user");
        return;
    };
    let as_nobody = |c: &mut Command| {
        c.env("PATH", "/usr/local/bin:/usr/bin:/bin").env("HOME", "/nonexistent");
    };
    let mut dc = Command::new(setpriv);
    dc.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN, "doctor", "--json"]);
    as_nobody(&mut dc);
    let d: Value = serde_json::from_slice(&dc.output().unwrap().stdout).unwrap_or(Value::Null);
    if d["workspace_write"] != true || d["shared_network_namespace"] != true {
        println!("skipped: an unprivileged user cannot get the sandbox here (endure doctor as uid 65534: {})", d["missing"]);
        return;
    }
    assert_eq!(d["flavor"], "user_namespace");
    let s = Session::new();
    s.file("MEMORY.md", "# Rules\n").file("site/hello.txt", "hello unprivileged\n");
    s.file("fetch.py", "import time, urllib.request\nfor _ in range(300):\n    try:\n        print(urllib.request.urlopen('http://127.0.0.1:8766/hello.txt', timeout=2).read().decode())\n        break\n    except OSError:\n        time.sleep(0.1)\n");
    let var_tmp = PathBuf::from(format!("/var/tmp/{}", unique("nobody")));
    let calls = [
        run(&format!(
            "id -u; echo z > {}; echo poison >> MEMORY.md; python3 -c 'import socket; socket.create_connection((\"192.0.2.1\", 80), 5)'",
            var_tmp.display()
        )),
        ("run", json!({"command": "cd site && exec python3 -m http.server 8766 --bind 127.0.0.1", "background": true})),
        run("python3 fetch.py"),
    ];
    let script = s.script(&calls);
    for p in [s.dir.path(), &s.ws, &s.cfg] {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    }
    for p in walk(&s.ws) {
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    }
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    Command::new("chown").args(["-R", "65534:65534"]).arg(&s.ws).status().unwrap();
    let inner = s.command(&script, &[]);
    let mut c = Command::new(setpriv);
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(inner.get_program())
        .args(inner.get_args())
        .current_dir(&s.ws)
        .env("ENDURE_CONFIG_DIR", &s.cfg);
    as_nobody(&mut c);
    let r = Run::from(c.output().unwrap());
    let leaked = var_tmp.exists();
    let _ = std::fs::remove_file(&var_tmp);
    r.done();
    assert!(!leaked, "{} was written", var_tmp.display());
    let out = r.output(0);
    assert!(out.contains("65534") && out.contains("Network is unreachable") && out.contains("the sandbox refused this write"), "{out}");
    assert_eq!(std::fs::read_to_string(s.ws.join("MEMORY.md")).unwrap(), "# Rules\n");
    assert!(r.output(2).contains("hello unprivileged"), "{}", r.output(2));
}

#[tokio::test]
async fn a_supervised_escalation_waits_for_the_supervisor_and_takes_the_note_to_the_agent() {
    use endure::agent::Supervision;
    use endure::protocol::{Command as Cmd, EventKind};
    require!("workspace_write");
    let target = PathBuf::from(format!("/tmp/{}", unique("supervised")));
    let call = |why: &str| {
        format!(
            "[[agent]]\ntext = \"\"\n[[agent.tool_calls]]\nname = \"run\"\narguments = {{ command = \"echo ran > {}\", escalate = true, justification = \"{why}\" }}\n",
            target.display()
        )
    };
    let scenario = format!(
        "{}{}[[agent]]\ntext = \"Done.\"\n[[agent.tool_calls]]\nname = \"done\"\narguments = {{ summary = \"ok\" }}\n",
        call("first try"),
        call("second try")
    );
    let s = common::Scripted::new(&[], &scenario);
    let mut handle = s.spawn("t", Supervision::Supervised);
    let log = handle.log_path.clone();
    let mut rx = handle.take_events();
    let first = common::wait_for(&mut rx, "the first escalation", |k| matches!(k, EventKind::EscalationRequested { .. })).await;
    let EventKind::EscalationRequested { id, justification, .. } = first.kind else { unreachable!() };
    assert_eq!(justification, "first try");
    assert!(!target.exists(), "nothing runs before the supervisor answers");
    handle.commands.send(Cmd::ResolveEscalation { id, approve: false, note: Some("write it in the workspace instead".into()) }).unwrap();
    let second = common::wait_for(&mut rx, "the second escalation", |k| matches!(k, EventKind::EscalationRequested { .. })).await;
    let EventKind::EscalationRequested { id: id2, .. } = second.kind else { unreachable!() };
    assert_eq!(id2, id + 1);
    assert!(!target.exists(), "the denied command did not run");
    handle.commands.send(Cmd::ResolveEscalation { id: id2, approve: true, note: None }).unwrap();
    let result = common::finish(handle).await;
    let written = std::fs::read_to_string(&target);
    let _ = std::fs::remove_file(&target);
    assert_eq!(result.outcome, endure::protocol::Outcome::Done, "{}", result.reason);
    assert_eq!(written.unwrap(), "ran\n");
    let events = common::logged_events(&log);
    let resolved: Vec<(bool, String, Option<String>)> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::EscalationResolved { approved, by, note, .. } => Some((*approved, by.clone(), note.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        resolved,
        vec![(false, "supervisor".into(), Some("write it in the workspace instead".into())), (true, "supervisor".into(), None)]
    );
    let outputs: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ToolResult { output, .. } => Some(output.to_string()),
            _ => None,
        })
        .collect();
    assert!(outputs[0].contains("denied by the supervisor") && outputs[0].contains("write it in the workspace instead"), "{}", outputs[0]);
    assert!(outputs[1].contains("exit code: 0"), "{}", outputs[1]);
}

#[test]
fn a_session_resumed_under_another_policy_tells_the_model() {
    require!("workspace_write");
    let s = Session::new();
    let script = s.script(&[run("echo one"), run("echo two > two.txt")]);
    let first = Run::from(s.command(&script, &["--max-steps", "1"]).output().unwrap());
    assert_eq!(first.code, Some(2), "stopped by the step budget: {}", first.stderr);
    let resumed = Run::from(
        Command::new(BIN)
            .args(["exec", "--resume", "--json", "--max-steps", "3", "--sandbox", "read-only"])
            .current_dir(&s.ws)
            .env("ENDURE_CONFIG_DIR", &s.cfg)
            .output()
            .unwrap(),
    );
    resumed.done();
    assert_eq!(resumed.of("session_resumed")[0]["sandbox"]["mode"], "read-only");
    let told = resumed
        .of("user_message")
        .iter()
        .any(|m| m["text"].as_str().unwrap_or("").contains("resumed with a different sandbox: sandbox read-only"));
    assert!(told, "{}", resumed.stdout);
    assert!(!s.ws.join("two.txt").exists(), "the resumed session is read-only");
}
