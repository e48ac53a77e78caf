#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Detached runs in a real terminal: the real binary in tmux, driven by keys and read from the
//! screen. Attach, watch, detach with `q` while the run goes on, reattach, stop from
//! `endure stop`; a second client killed with kill -9; the fleet view approving a budget wait
//! without attaching. Every step polls with a deadline; none sleeps a fixed time.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A tmux server of our own, killed when the test ends however it ends. Each window is a tmux
/// session of its own on that server.
struct Tmux {
    socket: String,
    env: Vec<String>,
}

impl Tmux {
    fn start(name: &str, env: Vec<String>) -> Tmux {
        Tmux { socket: format!("endure-e2e-attach-{}-{name}", std::process::id()), env }
    }

    /// A shell in `cwd` named `window`; with `exec`, the pane runs that command line instead
    /// (so the pane's pid is the program's).
    fn open(&self, window: &str, cwd: &Path, exec: Option<&str>) {
        let mut c = self.cmd(&["new-session", "-d", "-s", window, "-x", "160", "-y", "48", "-c"]);
        c.arg(cwd).args(["env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", "TERM=xterm-256color", "PS1=E2E-PROMPT$ "]).args(&self.env);
        match exec {
            Some(line) => c.args(["sh", "-c", &format!("exec {line}")]),
            None => c.args(["bash", "--norc", "--noprofile"]),
        };
        let out = c.output().expect("tmux is installed (.ci/run installs it)");
        assert!(out.status.success(), "tmux failed to start: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]).args(args);
        c
    }

    fn keys(&self, window: &str, keys: &[&str]) {
        assert!(self.cmd(&["send-keys", "-t", window]).args(keys).status().expect("send-keys").success());
    }

    fn line(&self, window: &str, text: &str) {
        assert!(self.cmd(&["send-keys", "-t", window, "-l", text]).status().expect("send-keys").success());
        self.keys(window, &["Enter"]);
    }

    fn screen(&self, window: &str) -> String {
        let out = self.cmd(&["capture-pane", "-p", "-t", window]).output().expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn pane_pid(&self, window: &str) -> i32 {
        let out = self.cmd(&["display-message", "-p", "-t", window, "#{pane_pid}"]).output().expect("display-message");
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("a pid")
    }

    async fn wait(&self, window: &str, what: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen(window);
            if pred(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; the screen of {window} was:\n{s}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_text(&self, window: &str, text: &str, secs: u64) -> String {
        self.wait(window, &format!("{text:?}"), secs, |s| s.contains(text)).await
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]).status();
    }
}

/// Workspaces, config and registry directories, and a scenario of `steps` slow commands.
struct World {
    dir: tempfile::TempDir,
    pids: Vec<i32>,
}

impl World {
    fn new(steps: usize, secs: f64) -> World {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        let mut scenario = String::new();
        for i in 0..steps {
            scenario.push_str(&format!(
                "[[agent]]\ntext = \"step {i}\"\n[[agent.tool_calls]]\nname = \"run\"\narguments = {{ command = \"echo {i} >> trace.txt; sleep {secs}\" }}\n"
            ));
        }
        scenario.push_str("[[agent]]\ntext = \"Done.\"\n[[agent.tool_calls]]\nname = \"done\"\narguments = { summary = \"all steps\" }\n");
        std::fs::write(dir.path().join("s.toml"), common::with_accepting_verifier(&scenario)).unwrap();
        World { dir, pids: Vec::new() }
    }

    fn ws(&self, name: &str) -> PathBuf {
        let ws = self.dir.path().join(name);
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::canonicalize(ws).unwrap()
    }

    fn env(&self) -> Vec<String> {
        vec![
            format!("ENDURE_CONFIG_DIR={}", self.dir.path().join("config").display()),
            format!("ENDURE_STATE_DIR={}", self.dir.path().join("state").display()),
        ]
    }

    fn endure(&self, ws: &Path, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_endure"))
            .args(args)
            .current_dir(ws)
            .env("ENDURE_CONFIG_DIR", self.dir.path().join("config"))
            .env("ENDURE_STATE_DIR", self.dir.path().join("state"))
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .output()
            .expect("run endure")
    }

    fn detach(&mut self, ws: &Path, extra: &[&str]) -> String {
        let script = self.dir.path().join("s.toml");
        let mut args = vec!["exec", "--detach", "--provider", "scripted", "--speed", "0", "--script", script.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push("count slowly");
        let out = self.endure(ws, &args);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let entry = std::fs::read_to_string(self.dir.path().join("state/running").join(format!("{id}.json"))).unwrap();
        let entry: Value = serde_json::from_str(&entry).unwrap();
        self.pids.push(entry["pid"].as_i64().unwrap() as i32);
        id
    }

    fn log(&self, ws: &Path, id: &str) -> Vec<Value> {
        let path = ws.join(".endure/sessions").join(id).join("events.jsonl");
        let read = endure::session::read_log(&path).map(|r| r.events).unwrap_or_default();
        read.iter().map(|e| serde_json::to_value(e).unwrap()).collect()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for pid in &self.pids {
            // SAFETY: a signal to a background run this test started; harmless if it ended.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
    }
}

fn steps_done(ws: &Path) -> usize {
    std::fs::read_to_string(ws.join("trace.txt")).map(|t| t.lines().count()).unwrap_or(0)
}

async fn wait_steps(ws: &Path, more_than: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = steps_done(ws);
        if n > more_than {
            return n;
        }
        assert!(Instant::now() < deadline, "the run did not go past step {more_than}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_endure")
}

#[tokio::test(flavor = "multi_thread")]
async fn attach_watch_detach_reattach_and_stop_a_detached_run() {
    let mut world = World::new(400, 0.4);
    let ws = world.ws("ws");
    let id = world.detach(&ws, &[]);
    let tmux = Tmux::start("attach", world.env());
    tmux.open("a", &ws, None);
    tmux.wait_text("a", "E2E-PROMPT$", 10).await;

    // 1. Attach without naming the session: the one running in this workspace.
    tmux.line("a", &format!("{} attach", binary()));
    tmux.wait_text("a", "(attached)", 20).await;
    let seen = wait_steps(&ws, 2).await;
    tmux.wait_text("a", &format!("echo {} >> trace.txt", seen - 1), 20).await;

    // 2. A second client attaches too, sees the same run, and is killed with kill -9.
    tmux.open("b", &ws, Some(&format!("{} attach {id}", binary())));
    tmux.wait_text("b", "(attached)", 20).await;
    let now = wait_steps(&ws, seen).await;
    tmux.wait_text("b", &format!("echo {} >> trace.txt", now - 1), 20).await;
    // SAFETY: a signal to the attach process the pane runs (exec'd by its shell).
    assert_eq!(unsafe { libc::kill(tmux.pane_pid("b"), libc::SIGKILL) }, 0);
    let after_kill = wait_steps(&ws, now + 1).await;
    tmux.wait_text("a", &format!("echo {} >> trace.txt", after_kill - 1), 20).await;

    // 3. q asks, and says the agent keeps running; yes detaches.
    tmux.keys("a", &["q"]);
    tmux.wait("a", "the detach question", 10, |s| s.contains("Detach from session") && s.contains("keeps running")).await;
    tmux.keys("a", &["y"]);
    tmux.wait("a", "the prompt after detaching", 15, |s| s.matches("E2E-PROMPT$").count() >= 2).await;
    tmux.wait_text("a", "it keeps running", 10).await;
    let detached_at = steps_done(&ws);
    // The run went on without anyone attached.
    let later = wait_steps(&ws, detached_at + 2).await;

    // 4. Opening the workbench here offers to attach instead of starting a second run; that
    // reattaches, and what happened meanwhile is there.
    tmux.keys("a", &["C-l"]);
    tmux.line("a", binary());
    tmux.wait_text("a", "Attach to it instead of starting a second run? [Y/n]", 20).await;
    tmux.keys("a", &["Enter"]);
    tmux.wait_text("a", "(attached)", 20).await;
    tmux.wait_text("a", &format!("echo {} >> trace.txt", later - 1), 20).await;

    // 5. `endure stop` from another shell ends the run; the attached workbench shows it.
    let stop = world.endure(&ws, &["stop", &id]);
    assert_eq!(stop.status.code(), Some(0), "{}", String::from_utf8_lossy(&stop.stderr));
    assert!(String::from_utf8_lossy(&stop.stdout).contains("stopped"));
    tmux.wait("a", "the stopped run", 20, |s| s.contains("stopped")).await;
    // Nothing runs any more: q leaves without a question.
    tmux.keys("a", &["q"]);
    tmux.wait("a", "the prompt after quitting", 15, |s| s.contains(&format!("session {id} — stopped"))).await;

    // Every client's commands are recorded with their source: here only `endure stop` sent one.
    let received: Vec<Value> = world.log(&ws, &id).into_iter().filter(|v| v["type"] == "command_received").collect();
    assert_eq!(received.len(), 1, "{received:?}");
    assert!(received[0]["source"].as_str().unwrap().starts_with("endure stop (pid "), "{received:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fleet_view_approves_a_budget_wait_without_attaching() {
    // Long enough (about two minutes) that both sessions still run when the test comes back to
    // the fleet, however slow the machine; the test stops them at the end.
    let mut world = World::new(400, 0.3);
    let (busy_ws, budget_ws) = (world.ws("busy"), world.ws("budget"));
    let busy = world.detach(&busy_ws, &[]);
    let waiting = world.detach(&budget_ws, &["--supervised", "--max-steps", "2"]);
    let tmux = Tmux::start("fleet", world.env());
    tmux.open("f", &busy_ws, Some(&format!("{} fleet", binary())));

    // Both rows; the waiting one first, with why.
    let screen = tmux.wait("f", "two rows, one waiting", 30, |s| s.contains("2 running · 1 waiting for you")).await;
    let (first, second) = (screen.find(&waiting).unwrap(), screen.find(&busy).unwrap());
    assert!(first < second, "the waiting session is listed first:\n{screen}");
    assert!(screen.contains("WAITING: steps budget reached"), "{screen}");

    // The selection follows its session as rows reorder: go to the top row, the waiting one;
    // y approves what it waits for: a resume past the budget.
    tmux.keys("f", &["g"]);
    tmux.wait("f", "the waiting row selected", 10, |s| s.contains(&format!("▸ WAITING: steps budget reached  {waiting}"))).await;
    tmux.keys("f", &["y"]);
    tmux.wait("f", "the wait approved", 20, |s| s.contains("0 waiting for you")).await;
    wait_steps(&budget_ws, 3).await;
    let received: Vec<Value> = world.log(&budget_ws, &waiting).into_iter().filter(|v| v["type"] == "command_received").collect();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["command"]["type"], "resume");
    assert!(received[0]["source"].as_str().unwrap().starts_with("fleet-"), "sent by the fleet view, not an attached client: {received:?}");

    // Live: the busy session's latest action moves on in its row.
    let before = wait_steps(&busy_ws, 0).await;
    let moved = regex::Regex::new(r"busy: count slowly · run echo (\d+) >> trace.txt").unwrap();
    tmux.wait("f", "the busy row to update", 30, |s| {
        moved.captures(s).and_then(|c| c[1].parse::<usize>().ok()).is_some_and(|k| k > before)
    })
    .await;
    // Enter attaches to the selected row (still the session just approved); detaching comes
    // back to the fleet.
    tmux.keys("f", &["Enter"]);
    tmux.wait("f", "the attached workbench", 20, |s| s.contains(&format!("{waiting} (attached)"))).await;
    // The session still runs, so q asks (the attached workbench's own Fleet panel also says
    // "running ·", so only the question tells that q landed).
    tmux.keys("f", &["q"]);
    tmux.wait("f", "the detach question", 10, |s| s.contains("Detach from session")).await;
    tmux.keys("f", &["y"]);
    tmux.wait("f", "the fleet again", 20, |s| s.contains("endure fleet") && s.contains("running ·") && !s.contains("(attached)")).await;
    tmux.keys("f", &["q"]);
    let stop = world.endure(&busy_ws, &["stop", &busy]);
    assert_eq!(stop.status.code(), Some(0), "{}", String::from_utf8_lossy(&stop.stderr));
}
