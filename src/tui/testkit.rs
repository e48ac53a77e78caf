//! Fixtures shared by the unit tests, `tests/tui_snapshots.rs` and `benches/render.rs`: the
//! bundled default keymap, and a realistic session.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use crate::config::keymap::Keymap;
use crate::protocol::{Event, EventKind, Feedback, Outcome, Role, RoleModels, SessionInfo, Task, TaskStatus, TestCounts, ToolCallRequest};

/// The bundled default keymap, loaded from `keymaps/default.toml` like the real program does,
/// so tests exercise the shipped bindings and descriptions.
///
/// # Panics
/// When the bundled keymap has problems: every test using it would be testing the fallback.
pub fn default_keymap() -> Keymap {
    let (km, problems) = crate::config::keymap::load_keymap("default", None);
    assert!(problems.is_empty(), "bundled default keymap: {problems:?}");
    km
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 8, 0, 0).single().unwrap_or_default()
}

/// Builds events with increasing `seq` and timestamps one second apart.
pub struct EventSeq {
    pub events: Vec<Event>,
    secs: i64,
}

impl Default for EventSeq {
    fn default() -> Self {
        Self::new()
    }
}

impl EventSeq {
    pub fn new() -> Self {
        EventSeq { events: Vec::new(), secs: 0 }
    }

    pub fn push(&mut self, kind: EventKind) -> &mut Self {
        let seq = self.events.len() as u64;
        let ts = t0() + chrono::Duration::seconds(self.secs);
        self.secs += 1;
        self.events.push(Event { command_id: None, seq, ts, kind });
        self
    }
}

pub fn session_info(task: &str) -> SessionInfo {
    SessionInfo {
        context_budget: 128_000,
        session_id: "demo-1".into(),
        endure_version: "0.1.0".into(),
        // A path that never exists, so the Memory panel shows its empty state in every snapshot
        // whatever the machine has in /tmp.
        workspace: "/nonexistent/endure-demo-ws".into(),
        task: task.into(),
        provider: "scripted".into(),
        base_url: None,
        models: RoleModels { agent: "m".into(), writer: "m".into(), verifier: "m".into(), judge: "m".into() },
        system_prompt: "sys".into(),
        config: json!({}),
        sandbox: None,
    }
}

pub const LIB_BEFORE: &str = "pub fn add(a: i32, b: i32) -> i32 {\n    a - b\n}\n";
pub const LIB_AFTER: &str = "pub fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n";

/// A short but complete session: every kind of cell, a failing then passing test run, two
/// file changes, tasks, a delivered correction and usage.
pub fn demo_session() -> Vec<Event> {
    let mut s = EventSeq::new();
    s.push(EventKind::SessionStarted { info: Box::new(session_info("Fix the add function")) });
    s.push(EventKind::UserMessage { text: "Fix the add function in src/lib.rs".into() });
    s.push(EventKind::TaskList {
        tasks: vec![
            Task { title: "Read src/lib.rs".into(), status: TaskStatus::Done },
            Task { title: "Fix add".into(), status: TaskStatus::InProgress },
            Task { title: "Run the tests".into(), status: TaskStatus::Pending },
        ],
    });
    s.push(EventKind::StepStarted { step: 1 });
    s.push(EventKind::ModelRequest { role: Role::Agent, step: 1, attempt: 1 });
    s.push(EventKind::AssistantDelta { role: Role::Agent, text: "Let me run ".into() });
    s.push(EventKind::AssistantMessage {
        step: 1,
        text: "Let me run the **tests** first.".into(),
        tool_calls: vec![ToolCallRequest { id: "c1".into(), name: "run".into(), arguments: "{\"command\":\"cargo test\"}".into() }],
        blocks: vec![],
    });
    s.push(EventKind::Usage {
        role: Role::Agent,
        prompt_tokens: 30_000,
        completion_tokens: 400,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        cost_usd: 0.12,
        estimated: false,
        priced: true,
        overhead: false,
    });
    s.push(EventKind::ToolCall { step: 1, call_id: "c1".into(), name: "run".into(), args: json!({"command": "cargo test"}) });
    s.push(EventKind::ToolResult {
        step: 1,
        call_id: "c1".into(),
        name: "run".into(),
        ok: false,
        exit_code: Some(101),
        duration_ms: 2300,
        output: "running 3 tests\ntest add_works ... FAILED\ntest result: FAILED. 2 passed; 1 failed".into(),
        feedback: Feedback { tests: Some(TestCounts { passed: 2, failed: 1, skipped: 0 }), ..Feedback::default() },
    });
    s.push(EventKind::StepFinished { step: 1 });
    s.push(EventKind::CorrectionQueued { id: 1, text: "Keep the signature unchanged".into() });
    s.push(EventKind::StepStarted { step: 2 });
    s.push(EventKind::CorrectionDelivered { id: 1, step: 2 });
    s.push(EventKind::AssistantMessage {
        step: 2,
        text: "The bug is a `-` instead of `+`.".into(),
        tool_calls: vec![ToolCallRequest { id: "c2".into(), name: "edit".into(), arguments: "{}".into() }],
        blocks: vec![],
    });
    s.push(EventKind::ToolCall {
        step: 2,
        call_id: "c2".into(),
        name: "edit".into(),
        args: json!({"path": "src/lib.rs", "old": "a - b", "new": "a + b"}),
    });
    s.push(EventKind::FileChanged {
        step: 2,
        path: "src/lib.rs".into(),
        before: Some("h0".into()),
        after: Some("h1".into()),
        diff: "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,3 +1,3 @@\n pub fn add(a: i32, b: i32) -> i32 {\n-    a - b\n+    a + b\n }\n"
            .into(),
    });
    s.push(EventKind::ToolResult {
        step: 2,
        call_id: "c2".into(),
        name: "edit".into(),
        ok: true,
        exit_code: None,
        duration_ms: 12,
        output: "edited src/lib.rs".into(),
        feedback: Feedback::default(),
    });
    s.push(EventKind::FileChanged {
        step: 2,
        path: "tests/add.rs".into(),
        before: None,
        after: Some("h2".into()),
        diff: "--- /dev/null\n+++ b/tests/add.rs\n@@ -0,0 +1,2 @@\n+#[test]\n+fn adds() { assert_eq!(endure::add(2, 2), 4); }\n".into(),
    });
    s.push(EventKind::StepFinished { step: 2 });
    s.push(EventKind::StepStarted { step: 3 });
    s.push(EventKind::ToolCall { step: 3, call_id: "c3".into(), name: "run".into(), args: json!({"command": "cargo test"}) });
    s.push(EventKind::ToolResult {
        step: 3,
        call_id: "c3".into(),
        name: "run".into(),
        ok: true,
        exit_code: Some(0),
        duration_ms: 1800,
        output: "test result: ok. 4 passed; 0 failed".into(),
        feedback: Feedback { tests: Some(TestCounts { passed: 4, failed: 0, skipped: 0 }), ..Feedback::default() },
    });
    s.push(EventKind::Usage {
        role: Role::Agent,
        prompt_tokens: 64_000,
        completion_tokens: 900,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        cost_usd: 0.31,
        estimated: false,
        priced: true,
        overhead: false,
    });
    s.push(EventKind::BudgetWarning { budget: crate::protocol::BudgetKind::Cost, used: 0.43, limit: 0.5 });
    s.push(EventKind::TaskList {
        tasks: vec![
            Task { title: "Read src/lib.rs".into(), status: TaskStatus::Done },
            Task { title: "Fix add".into(), status: TaskStatus::Done },
            Task { title: "Run the tests".into(), status: TaskStatus::InProgress },
        ],
    });
    s.push(EventKind::StepFinished { step: 3 });
    s.events
}

/// `demo_session` plus its end.
pub fn finished_session() -> Vec<Event> {
    let mut s = EventSeq { events: demo_session(), secs: 0 };
    s.secs = s.events.len() as i64;
    s.push(EventKind::SessionFinished { outcome: Outcome::Done, reason: "the agent called done".into() });
    s.events
}

/// A long session for the render benchmark: `n` events, about ten lines of output each.
pub fn long_session(n: usize) -> Vec<Event> {
    long_session_with(n, 10)
}

/// `n` events whose assistant messages have `lines` lines each.
pub fn long_session_with(n: usize, lines: usize) -> Vec<Event> {
    let mut s = EventSeq::new();
    s.push(EventKind::SessionStarted { info: Box::new(session_info("long")) });
    let mut step = 0;
    while s.events.len() < n {
        step += 1;
        let id = format!("c{step}");
        s.push(EventKind::StepStarted { step });
        s.push(EventKind::AssistantMessage {
            step,
            text: (0..lines)
                .map(|i| format!("Step {step}, thought {i}: keep going with the plan and check the output."))
                .collect::<Vec<_>>()
                .join("\n"),
            tool_calls: vec![],
            blocks: vec![],
        });
        s.push(EventKind::ToolCall { step, call_id: id.clone(), name: "run".into(), args: json!({"command": "cargo test"}) });
        s.push(EventKind::ToolResult {
            step,
            call_id: id,
            name: "run".into(),
            ok: true,
            exit_code: Some(0),
            duration_ms: 900,
            output: (0..10).map(|i| format!("test t{i} ... ok")).collect::<Vec<_>>().join("\n").into(),
            feedback: Feedback { tests: Some(TestCounts { passed: 10, failed: 0, skipped: 0 }), ..Feedback::default() },
        });
        s.push(EventKind::StepFinished { step });
    }
    s.events.truncate(n);
    s.events
}

/// How far the Max Mode step of [`max_mode_session`] has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxStage {
    /// Three candidates are streaming; the first is complete.
    Streaming,
    /// The judge picked candidate 2 and it executes.
    Picked,
    /// Review picks are on: the judge picked candidate 2 and the run waits for the supervisor.
    Waiting,
}

fn call(id: &str, name: &str, args: serde_json::Value) -> ToolCallRequest {
    ToolCallRequest { id: id.into(), name: name.into(), arguments: args.to_string() }
}

fn usage(prompt: u64, cost: f64, overhead: bool) -> EventKind {
    EventKind::Usage {
        role: Role::Agent,
        prompt_tokens: prompt,
        completion_tokens: 300,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        cost_usd: cost,
        estimated: false,
        priced: true,
        overhead,
    }
}

/// `demo_session`, then step 4 in Max Mode with three candidates: an `edit_file`, a
/// `write_file` and a `run`, up to `stage`.
pub fn max_mode_session(stage: MaxStage) -> Vec<Event> {
    let mut s = EventSeq { events: demo_session(), secs: 0 };
    s.secs = s.events.len() as i64;
    s.push(EventKind::MaxModeChanged { candidates: Some(3), review_picks: stage == MaxStage::Waiting });
    s.push(EventKind::StepStarted { step: 4 });
    let texts = [
        "Tighten the **doc comment** so the fix is explained.",
        "Add a regression test for negative numbers.",
        "Run the whole suite once more before calling done.",
    ];
    let calls = [
        vec![call(
            "a1",
            "edit_file",
            json!({"path": "src/lib.rs", "old": "pub fn add(a: i32, b: i32) -> i32 {\n", "new": "/// Adds two numbers.\npub fn add(a: i32, b: i32) -> i32 {\n"}),
        )],
        vec![call(
            "b1",
            "write_file",
            json!({"path": "tests/neg.rs", "content": "#[test]\nfn negatives() {\n    assert_eq!(endure::add(-2, -3), -5);\n}\n"}),
        )],
        vec![call("c1", "run", json!({"command": "cargo test"}))],
    ];
    if stage == MaxStage::Streaming {
        s.push(EventKind::CandidateDelta { step: 4, index: 1, text: texts[0].into() });
        s.push(EventKind::CandidateProposed { step: 4, index: 1, text: texts[0].into(), tool_calls: calls[0].clone() });
        s.push(EventKind::CandidateDelta { step: 4, index: 2, text: "Add a regression test ".into() });
        s.push(EventKind::CandidateDelta { step: 4, index: 3, text: "Run the whole ".into() });
        s.push(EventKind::CandidateDelta { step: 4, index: 2, text: "for negative".into() });
        return s.events;
    }
    for (i, (t, c)) in texts.iter().zip(calls).enumerate() {
        s.push(EventKind::CandidateDelta { step: 4, index: i as u32 + 1, text: (*t).into() });
        s.push(EventKind::CandidateProposed { step: 4, index: i as u32 + 1, text: (*t).into(), tool_calls: c });
    }
    // The two losers and the judge are overhead; the winner is the agent's own request.
    s.push(usage(66_000, 0.33, false));
    s.push(usage(66_000, 0.33, true));
    s.push(usage(66_000, 0.33, true));
    s.push(EventKind::Usage {
        role: Role::Judge,
        prompt_tokens: 9_000,
        completion_tokens: 80,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        cost_usd: 0.05,
        estimated: false,
        priced: true,
        overhead: true,
    });
    s.push(EventKind::JudgeVerdict { step: 4, pick: 2, reason: "a regression test protects the fix; the others change nothing".into() });
    if stage == MaxStage::Picked {
        s.push(EventKind::CandidatePicked { step: 4, pick: 2, by: crate::protocol::PickedBy::Judge });
    }
    s.events
}

/// `demo_session`, then two verdicts: attempt 1 not met, attempt 2 met and rejected by the
/// supervisor with a note.
pub fn verdict_session() -> Vec<Event> {
    let mut s = EventSeq { events: demo_session(), secs: 0 };
    s.secs = s.events.len() as i64;
    s.push(EventKind::StepStarted { step: 4 });
    s.push(EventKind::VerifierVerdict {
        attempt: 1,
        met: false,
        missing: vec!["a test for negative numbers".into(), "the README example still shows the bug".into()],
        evidence: vec!["tests/add.rs covers 2 + 2 only".into()],
    });
    s.push(EventKind::StepFinished { step: 4 });
    s.push(EventKind::StepStarted { step: 5 });
    s.push(EventKind::VerifierVerdict {
        attempt: 2,
        met: true,
        missing: vec![],
        evidence: vec!["cargo test: 5 passed, 0 failed".into(), "README example fixed".into()],
    });
    s.push(EventKind::Paused { reason: crate::protocol::PauseReason::Supervisor });
    s.push(EventKind::VerdictOverridden { accept: false, note: Some("Also document add() in the crate docs.".into()) });
    s.push(EventKind::Resumed);
    s.events
}

/// A 24-step session with everything the Endurance panel plots: context growing to three
/// checkpoints and a rollover, tests and quality rising, a stall building up and clearing,
/// and five supervisor interventions (steps 6, 12, 15, 18 and 22), so its endurance is 6 of
/// 24 (the runs between interventions are 6, 6, 3, 3, 4 and 2 steps).
pub fn endurance_session() -> Vec<Event> {
    let mut s = EventSeq::new();
    let mut info = session_info("Port the parser to the new API");
    info.config = json!({"stall-after": 8});
    info.context_budget = 100_000;
    s.push(EventKind::SessionStarted { info: Box::new(info) });
    let mut tokens: u64 = 8_000;
    let mut cycle = 1;
    let mut fired = 0;
    let mut n = 0;
    for step in 1..=24u64 {
        s.push(EventKind::StepStarted { step });
        if step == 6 {
            s.push(EventKind::CorrectionQueued { id: 1, text: "Keep the old API as a shim".into() });
            s.push(EventKind::CorrectionDelivered { id: 1, step });
        }
        if step == 12 {
            s.push(EventKind::Paused { reason: crate::protocol::PauseReason::Supervisor });
            s.push(EventKind::Resumed);
        }
        tokens += 6_500;
        s.push(usage(tokens, 0.2, false));
        // Steps 8 to 11 read without changing anything: the stall counter climbs.
        let reading = (8..=11).contains(&step);
        let id = format!("c{step}");
        let name = if reading { "read_file" } else { "run" };
        s.push(EventKind::ToolCall { step, call_id: id.clone(), name: name.into(), args: json!({"path": "src/parser.rs"}) });
        if !reading {
            s.push(EventKind::FileChanged {
                step,
                path: "src/parser.rs".into(),
                before: Some("h".into()),
                after: Some("h2".into()),
                diff: String::new(),
            });
        }
        let passed = (step as u32 / 2) * 3;
        let feedback = if reading {
            Feedback::default()
        } else {
            Feedback {
                tests: Some(TestCounts { passed, failed: 2, skipped: 0 }),
                quality: Some((40.0 + step as f64 * 2.2).min(95.0)),
                ..Feedback::default()
            }
        };
        s.push(EventKind::ToolResult {
            step,
            call_id: id,
            name: name.into(),
            ok: true,
            exit_code: Some(0),
            duration_ms: 800,
            output: "ok".into(),
            feedback,
        });
        // Checkpoints at 20, 45 and 70% of the 100k budget; a rollover at 80%.
        let pct = tokens * 100 / 100_000;
        for th in [20u64, 45, 70] {
            if pct >= th && fired < th {
                fired = th;
                n += 1;
                s.push(EventKind::CheckpointSaved {
                    id: format!("{cycle}.{n}"),
                    cycle,
                    n,
                    threshold_pct: th as u32,
                    window_tokens: tokens,
                    upto_seq: s.events.len() as u64,
                    snapshot: None,
                    snapshot_error: None,
                    path: format!(".endure/checkpoints/{cycle}.{n}.json"),
                    checkpoint: Box::default(),
                });
            }
        }
        if pct >= 80 {
            cycle += 1;
            fired = 0;
            n = 0;
            tokens = 12_000;
            s.push(EventKind::Rollover {
                cycle,
                reason: crate::protocol::RolloverReason::Threshold,
                checkpoint: Some(format!("{}.3", cycle - 1)),
                window_tokens: tokens,
                window: vec![],
                origins: vec![],
                dropped: None,
                review: None,
            });
        }
        if step == 15 {
            s.push(EventKind::RolledBack {
                to: "1.3".into(),
                snapshot: None,
                cycle: cycle + 1,
                window_tokens: tokens,
                window: vec![],
                tasks: vec![],
                restored: 1,
                removed: 0,
                origins: vec![],
            });
            cycle += 1;
            s.push(EventKind::Resumed);
        }
        if step == 18 {
            s.push(EventKind::CandidatePicked { step, pick: 3, by: crate::protocol::PickedBy::Supervisor });
        }
        if step == 22 {
            s.push(EventKind::VerifierVerdict { attempt: 1, met: false, missing: vec!["docs".into()], evidence: vec![] });
            s.push(EventKind::VerdictOverridden { accept: false, note: Some("write the docs".into()) });
        }
        s.push(EventKind::StepFinished { step });
    }
    s.events
}

/// The runtime's end of a workbench's command channel, for tests: yields the commands and
/// keeps the ids the workbench gave them.
pub struct CommandRx {
    rx: tokio::sync::mpsc::UnboundedReceiver<crate::protocol::CommandEnvelope>,
    pub ids: Vec<String>,
}

impl CommandRx {
    pub fn try_recv(&mut self) -> Result<crate::protocol::Command, tokio::sync::mpsc::error::TryRecvError> {
        let env = self.rx.try_recv()?;
        self.ids.push(env.id);
        Ok(env.command)
    }
}

pub fn command_channel() -> (crate::agent::CommandSender, CommandRx) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (crate::agent::CommandSender::new(tx, "test"), CommandRx { rx, ids: Vec::new() })
}
