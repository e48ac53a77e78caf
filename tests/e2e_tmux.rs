#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! End to end in a real terminal: the real binary in tmux, driven by keys, read from the
//! screen. Every step waits for screen text with a deadline; none sleeps a fixed time.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use endure::model::scripted::Scenario;
use support::TestServer;

/// A tmux server of our own (its own socket), killed when the test ends however it ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str, cwd: &Path) -> Tmux {
        let socket = format!("endure-e2e-{}-{name}", std::process::id());
        let t = Tmux { socket };
        // A plain shell with a recognisable prompt, so the test can see it come back.
        let out = t
            .cmd(&["new-session", "-d", "-s", "e2e", "-x", "160", "-y", "48", "-c"])
            .arg(cwd)
            .args([
                "env",
                "-i",
                "PATH=/usr/local/bin:/usr/bin:/bin",
                "TERM=xterm-256color",
                "PS1=E2E-PROMPT$ ",
                "bash",
                "--norc",
                "--noprofile",
            ])
            .output()
            .expect("tmux is installed (.ci/run installs it)");
        assert!(out.status.success(), "tmux failed to start: {}", String::from_utf8_lossy(&out.stderr));
        t
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]).args(args);
        c
    }

    fn keys(&self, keys: &[&str]) {
        let ok = self.cmd(&["send-keys", "-t", "e2e"]).args(keys).status().expect("send-keys").success();
        assert!(ok);
    }

    fn literal(&self, text: &str) {
        let ok = self.cmd(&["send-keys", "-t", "e2e", "-l", text]).status().expect("send-keys").success();
        assert!(ok);
    }

    fn screen(&self) -> String {
        let out = self.cmd(&["capture-pane", "-p", "-t", "e2e"]).output().expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn format(&self, f: &str) -> String {
        let out = self.cmd(&["display-message", "-p", "-t", "e2e", f]).output().expect("display-message");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Polls the screen until `pred` holds, failing with the last screen after `secs`.
    async fn wait(&self, what: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; the screen was:\n{s}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_text(&self, text: &str, secs: u64) -> String {
        self.wait(&format!("{text:?}"), secs, |s| s.contains(text)).await
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]).status();
    }
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_endure")
}

const SCENARIO: &str = r##"
[[agent]]
text = "Running a slow check first."
[[agent.tool_calls]]
name = "run"
arguments = { command = "sleep 2; echo checked > check.txt" }

[[agent]]
text = "Following the supervisor's correction: writing the notes file."
[[agent.tool_calls]]
name = "write_file"
arguments = { path = "notes.md", content = "# Notes\n\nUse the v2 API.\n" }

[[agent]]
text = "All done."
[[agent.tool_calls]]
name = "done"
arguments = { summary = "checked and wrote notes.md" }

[[verifier]]
text = '{"met": true, "missing": [], "evidence": ["notes.md was written"]}'
"##;

fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    let cfg = dir.path().join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    (dir, ws, cfg)
}

#[tokio::test(flavor = "multi_thread")]
async fn supervise_a_session_in_a_real_terminal() {
    let server = TestServer::builder()
        .scenario(Scenario::parse(SCENARIO, false).unwrap())
        .role_model(endure::protocol::Role::Verifier, "verifier-model")
        .start()
        .await;
    let (_dir, ws, cfg) = setup();
    let tmux = Tmux::start("supervise", &ws);
    tmux.wait_text("E2E-PROMPT$", 10).await;
    let command = format!(
        "ENDURE_CONFIG_DIR={} {} --provider openai --base-url {} --model scripted --verifier-model verifier-model 'check, then write notes'",
        cfg.display(),
        binary(),
        server.base_url_openai()
    );
    tmux.literal(&command);
    tmux.keys(&["Enter"]);

    // 1. Every panel's title.
    for title in ["Transcript", "Tasks", "Diff", "Checkpoints", "Verifier"] {
        tmux.wait_text(title, 20).await;
    }
    // 2. Pause while the slow command runs; it takes effect at the step boundary.
    tmux.wait_text("sleep 2", 20).await;
    tmux.keys(&["p"]);
    tmux.wait(r#"the state "paused""#, 20, |s| s.to_lowercase().contains("paused")).await;
    assert_eq!(server.request_count(), 1, "no new request while paused");

    // 3. A correction, typed into the composer and sent with Enter; Esc leaves it.
    tmux.keys(&["i"]);
    tmux.wait("the composer", 10, |s| s.contains("Correction — <Enter> send")).await;
    tmux.literal("Use the v2 API.");
    tmux.keys(&["Enter"]);
    tmux.wait_text("correction · queued", 10).await;
    tmux.keys(&["Escape"]);
    tmux.wait("the composer closed", 10, |s| !s.contains("Correction — <Enter> send")).await;

    // 4. Resume: the correction is delivered at the next step, then the agent finishes.
    tmux.keys(&["p"]);
    tmux.wait_text("delivered at step 2", 20).await;
    tmux.wait("done", 30, |s| s.contains("session finished: done") || s.contains("✓ done")).await;

    let requests: Vec<_> = server.requests().into_iter().filter(|r| r.model() == "scripted").collect();
    assert_eq!(requests.len(), 3);
    let second = serde_json::to_string(&requests[1].body).unwrap();
    assert!(second.contains("[Supervisor correction]") && second.contains("Use the v2 API."), "{second}");
    assert_eq!(std::fs::read_to_string(ws.join("notes.md")).unwrap(), "# Notes\n\nUse the v2 API.\n");

    let sessions = ws.join(".endure/sessions");
    let id = std::fs::read_dir(&sessions).unwrap().next().unwrap().unwrap().file_name();
    let log = std::fs::read_to_string(sessions.join(id).join("events.jsonl")).unwrap();
    assert!(log.contains("\"type\":\"correction_queued\"") && log.contains("Use the v2 API."));
    assert!(log.contains("\"type\":\"correction_delivered\""));

    // 5. Quit, and the terminal is the shell's again.
    tmux.keys(&["q"]);
    let after = tmux.wait("the prompt after quitting", 15, |s| s.matches("E2E-PROMPT$").count() >= 2).await;
    assert!(after.contains("endure: session"), "the session summary is printed after restoring: {after}");
    assert_eq!(tmux.format("#{alternate_on}"), "0", "left the alternate screen");
    assert_eq!(tmux.format("#{cursor_flag}"), "1", "cursor shown");
    assert_eq!(tmux.format("#{mouse_any_flag}"), "0", "mouse capture off");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_runs_in_the_workbench_and_quitting_mid_run_asks_first() {
    let (dir, _ws, cfg) = setup();
    let tmux = Tmux::start("demo", dir.path());
    tmux.wait_text("E2E-PROMPT$", 10).await;
    let demo_dir = dir.path().join("demo");
    tmux.literal(&format!("ENDURE_CONFIG_DIR={} {} demo --speed 0.3 --dir {}", cfg.display(), binary(), demo_dir.display()));
    tmux.keys(&["Enter"]);
    tmux.wait_text("Transcript", 20).await;
    tmux.wait_text("read_file", 20).await;
    // Quitting while the agent runs asks for confirmation; any other key keeps going.
    tmux.keys(&["q"]);
    tmux.wait_text("Quit the workbench?", 10).await;
    tmux.keys(&["n"]);
    tmux.wait("the confirmation to close", 10, |s| !s.contains("Quit the workbench?")).await;
    tmux.wait("the demo to finish", 60, |s| s.contains("session finished: done")).await;
    assert!(std::fs::read_to_string(demo_dir.join("textstats/textstats/stats.py")).unwrap().contains("middle - 1"));
    tmux.keys(&["q"]);
    tmux.wait("the prompt after quitting", 15, |s| s.matches("E2E-PROMPT$").count() >= 2).await;
    assert_eq!(tmux.format("#{alternate_on}"), "0");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_restores_the_terminal() {
    let (dir, _ws, cfg) = setup();
    let tmux = Tmux::start("sigterm", dir.path());
    tmux.wait_text("E2E-PROMPT$", 10).await;
    tmux.literal(&format!("ENDURE_CONFIG_DIR={} {} demo --speed 1 --dir {}", cfg.display(), binary(), dir.path().join("d").display()));
    tmux.keys(&["Enter"]);
    tmux.wait_text("Transcript", 20).await;
    let ok =
        Command::new("pkill").args(["-TERM", "-f", &format!("demo --speed 1 --dir {}", dir.path().join("d").display())]).status().unwrap();
    assert!(ok.success());
    tmux.wait("the prompt after SIGTERM", 15, |s| s.matches("E2E-PROMPT$").count() >= 2).await;
    assert_eq!(tmux.format("#{alternate_on}"), "0");
    assert_eq!(tmux.format("#{cursor_flag}"), "1");
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_scrubs_a_finished_session_step_by_step() {
    let (dir, _ws, cfg) = setup();
    let demo_dir = dir.path().join("demo");
    let out = Command::new(binary())
        .args(["demo", "--headless", "--speed", "0", "--dir"])
        .arg(&demo_dir)
        .env("ENDURE_CONFIG_DIR", &cfg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ws = demo_dir.join("textstats");
    let tmux = Tmux::start("replay", &ws);
    tmux.wait_text("E2E-PROMPT$", 10).await;
    tmux.literal(&format!("ENDURE_CONFIG_DIR={} {} replay", cfg.display(), binary()));
    tmux.keys(&["Enter"]);
    tmux.wait_text("Transcript", 20).await;
    // The status bar and the transcript may land in different frames on a loaded machine:
    // wait for the screen that has both.
    tmux.wait("the timeline at the last step, with the end of the session", 10, |s| {
        s.contains("19/19") && s.contains("session finished: done")
    })
    .await;
    // Step back to the start: the later steps disappear from every panel.
    for _ in 0..18 {
        tmux.keys(&["["]);
    }
    let first = tmux.wait("the timeline at step 1", 10, |s| s.contains("step 1/19")).await;
    assert!(!first.contains("session finished"), "{first}");
    assert!(!first.contains("edit_file"), "{first}");
    tmux.keys(&["p"]);
    tmux.wait_text("read-only", 10).await;
    tmux.keys(&["q"]);
    tmux.wait("the prompt after quitting", 15, |s| s.matches("E2E-PROMPT$").count() >= 2).await;
    assert_eq!(tmux.format("#{alternate_on}"), "0");
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_restores_the_terminal_and_the_log_records_the_stop() {
    let (dir, _ws, cfg) = setup();
    let tmux = Tmux::start("sighup", dir.path());
    tmux.wait_text("E2E-PROMPT$", 10).await;
    let d = dir.path().join("hup");
    tmux.literal(&format!("ENDURE_CONFIG_DIR={} {} demo --speed 1 --dir {}", cfg.display(), binary(), d.display()));
    tmux.keys(&["Enter"]);
    tmux.wait_text("Transcript", 20).await;
    let ok = Command::new("pkill").args(["-HUP", "-f", &format!("demo --speed 1 --dir {}", d.display())]).status().unwrap();
    assert!(ok.success());
    tmux.wait("the prompt after SIGHUP", 15, |s| s.matches("E2E-PROMPT$").count() >= 2).await;
    assert_eq!(tmux.format("#{alternate_on}"), "0");
    let sessions = d.join("textstats/.endure/sessions");
    let id = std::fs::read_dir(&sessions).unwrap().next().unwrap().unwrap().file_name();
    let log = std::fs::read_to_string(sessions.join(id).join("events.jsonl")).unwrap();
    assert!(log.contains("\"outcome\":\"stopped\""), "leaving on a signal stops the run cleanly");
}

/// The process the pane's shell is running in the foreground (its only child).
fn pane_child(tmux: &Tmux) -> i32 {
    let shell = tmux.format("#{pane_pid}");
    let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap_or_default();
    children.split_whitespace().next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no child of the pane's shell {shell}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_restores_the_terminal_and_the_log_records_the_stop() {
    let (dir, _ws, cfg) = setup();
    let tmux = Tmux::start("sigint", dir.path());
    tmux.wait_text("E2E-PROMPT$", 10).await;
    let d = dir.path().join("int");
    tmux.literal(&format!("ENDURE_CONFIG_DIR={} {} demo --speed 1 --dir {}", cfg.display(), binary(), d.display()));
    tmux.keys(&["Enter"]);
    tmux.wait_text("Transcript", 20).await;
    assert_eq!(tmux.format("#{mouse_any_flag}"), "1", "the workbench tracks the mouse");
    // In raw mode Ctrl-C is a key; `kill -INT` is the signal itself.
    let pid = pane_child(&tmux);
    // SAFETY: signals the endure process this test started in its own tmux server.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    tmux.wait("the prompt after SIGINT", 15, |s| s.matches("E2E-PROMPT$").count() >= 2).await;
    assert_eq!(tmux.format("#{alternate_on}"), "0");
    assert_eq!(tmux.format("#{mouse_any_flag}"), "0", "mouse tracking is off again");
    assert_eq!(tmux.format("#{cursor_flag}"), "1");
    let sessions = d.join("textstats/.endure/sessions");
    let id = std::fs::read_dir(&sessions).unwrap().next().unwrap().unwrap().file_name();
    let log = std::fs::read_to_string(sessions.join(id).join("events.jsonl")).unwrap();
    assert!(log.contains("\"outcome\":\"stopped\""), "leaving on SIGINT stops the run cleanly");
}

/// A scripted session that rolls over: reads of a part file, then done; valid checkpoints.
fn rebuild_scenario() -> String {
    let mut s = String::new();
    for i in 0..40 {
        s.push_str(&format!("[[agent]]\ntext = \"Step {i}: reading the next part.\"\n[[agent.tool_calls]]\nname = \"read_file\"\narguments = {{ path = \"part.txt\" }}\n\n"));
    }
    s.push_str("[[agent]]\ntext = \"Finished.\"\n[[agent.tool_calls]]\nname = \"done\"\narguments = { summary = \"counted\" }\n\n");
    s.push_str("[[verifier]]\ntext = '{\"met\": true, \"missing\": [], \"evidence\": [\"counted\"]}'\n\n");
    for k in 0..200 {
        s.push_str(&format!(
            "[[writer]]\ntext = '{{\"active_intent\": \"Advance the counter to 60\", \"next_action\": \"read part {k}\", \"directives\": [], \"task_tree\": [\"count\"], \"current_work\": \"part {k}\", \"files\": [\"part.txt\"], \"knowledge\": [], \"errors_and_fixes\": [], \"live_resources\": \"\", \"decisions\": [], \"open_notes\": \"\"}}'\n\n"
        ));
    }
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn review_a_rebuild_with_keys_edit_pin_drop_and_approve() {
    let (dir, ws, cfg) = setup();
    let part: String = (0..24).map(|i| format!("line {i}: the counter advances by one and the step is logged\n")).collect();
    std::fs::write(ws.join("part.txt"), part).unwrap();
    // A project memory, so the proposal's rows are known: the user's words, corrections,
    // MEMORY.md, the 11 checkpoint fields, the task list, the tail, the reminder.
    std::fs::write(ws.join("MEMORY.md"), "# Memory\n\n## Rules\n- Log every step <!-- from: s0 -->\n").unwrap();
    let script = dir.path().join("rebuild.toml");
    std::fs::write(&script, rebuild_scenario()).unwrap();
    let tmux = Tmux::start("rebuild", &ws);
    tmux.wait_text("E2E-PROMPT$", 10).await;
    tmux.literal(&format!(
        "ENDURE_CONFIG_DIR={} {} --provider scripted --script {} --speed 0.2 --context-budget 12000 --stall-after 0 'Advance the counter to 60'",
        cfg.display(),
        binary(),
        script.display()
    ));
    tmux.keys(&["Enter"]);
    tmux.wait_text("Transcript", 20).await;
    // The toggle key turns review on while the session runs (a rollover before the key
    // applies at once; the next one waits).
    tmux.keys(&["B"]);
    tmux.wait_text("rebuild review on", 20).await;

    // The rollover proposes its window and waits: the Rebuild view opens by itself.
    let view = tmux.wait_text("Rebuild — cycle", 60).await;
    assert!(view.contains("The user's words") && view.contains("verbatim"), "{view}");
    // next_action is the 5th row.
    tmux.keys(&["j", "j", "j", "j", "e"]);
    tmux.wait_text("Checkpoint field in the rebuilt window", 10).await;
    tmux.literal("EDITED-BY-E2E ");
    tmux.keys(&["C-s"]);
    tmux.wait("the edited mark", 20, |s| s.contains("edited") && !s.contains("Checkpoint field in the rebuilt window")).await;
    // The first message of the old window (below the 17 sections) is dropped: pin it.
    for _ in 0..13 {
        tmux.keys(&["j"]);
    }
    tmux.keys(&["p"]);
    tmux.wait_text("[pin]", 20).await;
    // The user's words cannot be dropped; the task list can.
    tmux.keys(&["g", "x"]);
    tmux.wait_text("the user's own words stay", 10).await;
    for _ in 0..14 {
        tmux.keys(&["j"]);
    }
    tmux.keys(&["x"]);
    tmux.wait_text("Dropped: left out", 20).await;
    tmux.keys(&["a"]);
    tmux.wait_text("approved with 3 changes", 30).await;
    // Later rollovers need no review: turn it off and let the session finish.
    tmux.keys(&["B"]);
    tmux.wait_text("rebuild review off", 20).await;
    tmux.wait("done", 90, |s| s.contains("session finished: done")).await;

    let sessions = ws.join(".endure/sessions");
    let id = std::fs::read_dir(&sessions).unwrap().next().unwrap().unwrap().file_name();
    let log = std::fs::read_to_string(sessions.join(id).join("events.jsonl")).unwrap();
    let rollover = log.lines().find(|l| l.contains("\"type\":\"rollover\"") && l.contains("\"review\"")).expect("a reviewed rollover");
    assert!(rollover.contains("EDITED-BY-E2E") && rollover.contains(r#"{"op":"pin","unit":0}"#), "{rollover}");
    assert!(rollover.contains(r#"{"op":"drop_section","section":"tasks"}"#) && !rollover.contains("## Task list"), "{rollover}");
    assert!(rollover.contains("Advance the counter to 60"));
    tmux.keys(&["q"]);
    tmux.wait("the prompt after quitting", 15, |s| s.matches("E2E-PROMPT$").count() >= 2).await;
}

/// The whole demo as a new user would try it: the dream's proposal, a correction typed in the
/// composer and followed, checkpoints, a Max Mode step, the rollover, the end, then a rollback
/// from the finished workbench that restores the demo's files, and quit.
#[tokio::test(flavor = "multi_thread")]
async fn the_full_demo_with_a_correction_and_a_rollback_after_the_run() {
    let (dir, _ws, cfg) = setup();
    let tmux = Tmux::start("fulldemo", dir.path());
    tmux.wait_text("E2E-PROMPT$", 10).await;
    let d = dir.path().join("full");
    tmux.literal(&format!("ENDURE_CONFIG_DIR={} {} demo --speed 0.5 --dir {}", cfg.display(), binary(), d.display()));
    tmux.keys(&["Enter"]);
    tmux.wait_text("Transcript", 20).await;
    tmux.wait_text("Proposed MEMORY.md #1 from dream", 30).await;

    // A correction, typed while the agent works: delivered at the next step, and followed.
    tmux.keys(&["i"]);
    tmux.wait("the composer", 10, |s| s.contains("Correction — <Enter> send")).await;
    tmux.literal("Keep every docstring to one line.");
    tmux.keys(&["Enter"]);
    tmux.wait_text("correction · queued", 10).await;
    tmux.keys(&["Escape"]);
    tmux.wait("the composer closed", 10, |s| !s.contains("Correction — <Enter> send")).await;
    tmux.wait_text("delivered at step", 60).await;
    tmux.wait_text("Following your correction", 60).await;

    // Checkpoints at 20 and 45% of the demo's budget, then the Max Mode step and its pick.
    let row = |s: &str, id: &str, pct: &str| s.lines().any(|l| l.contains(id) && l.contains(pct));
    tmux.wait("checkpoint 1.1 at 20%", 60, |s| row(s, "1.1", "20%")).await;
    tmux.wait("checkpoint 1.2 at 45%", 60, |s| row(s, "1.2", "45%")).await;
    tmux.wait_text("3 candidates", 90).await;
    tmux.wait_text("judge picked candidate", 60).await;
    // The rollover (the status bar counts it), then the end; the workbench stays open.
    tmux.wait("the rollover", 90, |s| s.contains("↻1")).await;
    tmux.wait_text("session finished: done", 120).await;
    let ws = d.join("textstats");
    assert!(std::fs::read_to_string(ws.join("textstats/stats.py")).unwrap().contains("middle - 1"));
    assert!(std::fs::read_to_string(ws.join("NOTES.md")).unwrap().contains("Keep every docstring to one line."));

    // After the run: the Checkpoints panel, the oldest checkpoint, roll back, confirm.
    tmux.keys(&["7"]);
    tmux.wait_text("Roll back to the selected checkpoint", 10).await;
    for _ in 0..12 {
        tmux.keys(&["k"]);
    }
    tmux.keys(&["r"]);
    tmux.wait("the rollback confirmation for 1.1", 10, |s| s.contains("Roll back the workspace") && s.contains("1.1?")).await;
    tmux.keys(&["y"]);
    tmux.wait_text("rolled back to checkpoint 1.1", 30).await;
    assert_eq!(
        std::fs::read_to_string(ws.join("textstats/stats.py")).unwrap(),
        include_str!("../assets/demo/workspace/textstats/stats.py"),
        "the demo's files are as they were at checkpoint 1.1"
    );
    assert!(!ws.join("NOTES.md").exists(), "a file created after the checkpoint is removed");

    // Quit (the workbench may ask first), and the terminal is the shell's again.
    tmux.keys(&["q"]);
    let s = tmux.wait("quit or its confirmation", 15, |s| s.matches("E2E-PROMPT$").count() >= 2 || s.contains("Quit the workbench?")).await;
    if s.contains("Quit the workbench?") {
        tmux.keys(&["y"]);
    }
    tmux.wait("the prompt after quitting", 15, |s| s.matches("E2E-PROMPT$").count() >= 2).await;
    assert_eq!(tmux.format("#{alternate_on}"), "0");

    let sessions = ws.join(".endure/sessions");
    let id = std::fs::read_dir(&sessions).unwrap().next().unwrap().unwrap().file_name();
    let log = std::fs::read_to_string(sessions.join(id).join("events.jsonl")).unwrap();
    for kind in ["memory_proposed", "correction_delivered", "candidate_picked", "judge_verdict", "rollover", "rolled_back"] {
        assert!(log.contains(&format!("\"type\":\"{kind}\"")), "no {kind} in the log");
    }
    for pct in [20, 45, 70] {
        assert!(log.contains(&format!("\"threshold_pct\":{pct},")), "no checkpoint at {pct}%");
    }
    assert!(!log.contains("has no answer"), "the script never ran out");
}

/// Each label reads notes.txt `steps` times, saying who reads, then answers.
fn workflow_scenario(agents: &[(&str, usize)]) -> String {
    let mut s = String::new();
    for (label, steps) in agents {
        for i in 0..*steps {
            s.push_str(&format!(
                "[[subagents.{label}.agent]]\ntext = \"{label} is reading the notes, pass {i}.\"\n[[subagents.{label}.agent.tool_calls]]\nname = \"read_file\"\narguments = {{ path = \"notes.txt\" }}\n"
            ));
        }
        s.push_str(&format!(
            "[[subagents.{label}.agent]]\ntext = \"Done.\"\n[[subagents.{label}.agent.tool_calls]]\nname = \"done\"\narguments = {{ summary = \"{label} done\" }}\n"
        ));
    }
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn the_workflow_panel_shows_the_tree_drills_into_an_agent_and_pauses_it() {
    let (dir, ws, cfg) = setup();
    std::fs::write(ws.join("notes.txt"), "hello\n").unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(&scenario, workflow_scenario(&[("alpha", 24), ("beta", 400)])).unwrap();
    let flow = dir.path().join("flow.js");
    std::fs::write(
        &flow,
        "phase(\"review\");\nconst r = await parallel([\n  () => agent(\"Read the notes\", { label: \"alpha\" }),\n  () => agent(\"Read them too\", { label: \"beta\" }),\n]);\nreturn r;\n",
    )
    .unwrap();
    let tmux = Tmux::start("workflow", &ws);
    tmux.wait_text("E2E-PROMPT$", 10).await;
    let command = format!(
        "ENDURE_CONFIG_DIR={} {} workflow {} --provider scripted --script {} --speed 0.5",
        cfg.display(),
        binary(),
        flow.display(),
        scenario.display()
    );
    tmux.literal(&command);
    tmux.keys(&["Enter"]);

    // 1. The tree: the run, its phase, both agents running (the panel has the focus).
    tmux.wait_text("phase review", 30).await;
    tmux.keys(&["z"]);
    tmux.wait("the Workflow panel maximized", 10, |s| s.contains("Workflow [max]")).await;
    let row = |s: &str, label: &str, state: &str| s.lines().any(|l| l.contains(&format!(" {label} ")) && l.contains(state));
    tmux.wait("both agents running, beta past its first step", 30, |s| {
        row(s, "alpha", "running") && s.lines().any(|l| l.contains(" beta ") && l.contains("running") && l.contains("read_file"))
    })
    .await;
    let s = tmux.screen();
    assert!(s.contains("run 1 flow.js") && s.contains("phase review") && s.contains("budget:"), "{s}");

    // 2. Drill into beta: the workbench is scoped to it. The agents are numbered in the order
    // their calls reached the runtime, so beta is the last row or the one before it.
    let line_of = |s: &str, label: &str| s.lines().position(|l| l.contains(&format!(" {label} ")));
    let beta_last = line_of(&s, "beta") > line_of(&s, "alpha");
    tmux.keys(&["G"]);
    if !beta_last {
        tmux.wait("the last row selected", 10, |s| s.lines().any(|l| l.contains("›") && l.contains(" alpha "))).await;
        tmux.keys(&["k"]);
    }
    tmux.wait("beta selected", 10, |s| s.lines().any(|l| l.contains("›") && l.contains(" beta "))).await;
    tmux.keys(&["Enter"]);
    tmux.wait("the scope badge", 10, |s| s.contains("▸ agent") && s.contains("[beta]")).await;

    // 3. Pause it: beta alone pauses; alpha goes on to the end.
    tmux.keys(&["p"]);
    tmux.wait("beta paused", 30, |s| row(s, "beta", "paused")).await;
    tmux.wait("alpha done while beta waits", 60, |s| row(s, "alpha", "done") && row(s, "beta", "paused")).await;

    // 4. The usual panels show beta's own session: its transcript, not alpha's.
    tmux.keys(&["z"]);
    let s = tmux.wait_text("beta is reading the notes", 20).await;
    assert!(!s.contains("alpha is reading the notes"), "{s}");

    // 5. Quit (the run is stopped), and the log tells what happened.
    tmux.keys(&["q"]);
    tmux.wait("the quit question", 10, |s| s.to_lowercase().contains("quit")).await;
    tmux.keys(&["y"]);
    tmux.wait("the prompt after quitting", 30, |s| s.matches("E2E-PROMPT$").count() >= 2).await;
    assert_eq!(tmux.format("#{alternate_on}"), "0", "left the alternate screen");
    let sessions = ws.join(".endure/sessions");
    let id = std::fs::read_dir(&sessions).unwrap().next().unwrap().unwrap().file_name();
    let events = endure::session::read_log(&sessions.join(id).join("events.jsonl")).unwrap().events;
    let beta = events.iter().find_map(|e| match &e.kind {
        endure::protocol::EventKind::AgentStarted { agent, label, .. } if label == "beta" => Some(*agent),
        _ => None,
    });
    let paused = events
        .iter()
        .find(|e| matches!(&e.kind, endure::protocol::EventKind::AgentPaused { agent, .. } if Some(*agent) == beta))
        .expect("beta's pause is in the log");
    assert!(paused.command_id.is_some(), "the pause echoes the workbench's command id");
}
