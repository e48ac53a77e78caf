#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Whole-workbench snapshots on a `TestBackend`, driven by a realistic session.
//!
//! Themes and keymap are the bundled files, loaded as the program loads them. The text backend
//! shows symbols, not colours, so the default and light snapshots share their text; the colour
//! tests at the end check styled cells against the themes instead.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use endure::config::theme::{Theme, load_theme};
use endure::protocol::{Checkpoint, CheckpointField, Event, EventKind, Role};
use endure::tui::WorkbenchOptions;
use endure::tui::app::{App, Clock};
use endure::tui::testkit::{EventSeq, default_keymap, demo_session, t0};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// A bundled theme, which must load cleanly: a fallback would test the wrong colours.
fn theme(name: &str) -> Theme {
    let (t, problems) = load_theme(name, None);
    assert!(problems.is_empty(), "theme {name}: {problems:?}");
    assert_eq!(t.name, name);
    t
}

/// The demo session, then a model request streaming its answer.
fn events() -> Vec<Event> {
    let mut s = EventSeq::new();
    for e in demo_session() {
        s.push(e.kind);
    }
    s.push(EventKind::StepStarted { step: 4 });
    s.push(EventKind::ModelRequest { role: Role::Agent, step: 4, attempt: 1 });
    s.push(EventKind::AssistantDelta { role: Role::Agent, text: "All tests pass now. ".into() });
    s.push(EventKind::AssistantDelta { role: Role::Agent, text: "I will call done".into() });
    s.events
}

fn app(theme_name: &str) -> App {
    let (tx, rx) = endure::tui::testkit::command_channel();
    // The receiver is leaked on purpose: commands sent in a snapshot test are not inspected.
    std::mem::forget(rx);
    let opts = WorkbenchOptions {
        theme: theme(theme_name),
        keymap: default_keymap(),
        banner: vec![r#"config: ~/.config/endure/themes/x.toml:3:7: unknown colour "blu" — using defaults"#.into()],
        context_budget: 128_000,
        title: "endure — demo".into(),
        ..WorkbenchOptions::default()
    };
    let mut app = App::live(opts, &events(), tx, false);
    app.clock = Clock::Fixed(t0() + chrono::Duration::seconds(95));
    app
}

fn draw(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    t.draw(|f| app.render(f)).expect("draw");
    t
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

#[test]
fn full_layout() {
    for th in ["default", "light"] {
        for (w, h) in [(80, 24), (200, 50)] {
            let mut a = app(th);
            let t = draw(&mut a, w, h);
            insta::assert_snapshot!(format!("full_{th}_{w}x{h}"), t.backend());
        }
    }
}

#[test]
fn each_panel_maximized() {
    for th in ["default", "light"] {
        for n in 1..=6u8 {
            let mut a = app(th);
            a.handle_key(key(char::from(b'0' + n)));
            a.handle_key(key('z'));
            let t = draw(&mut a, 100, 24);
            insta::assert_snapshot!(format!("panel_{th}_{n}"), t.backend());
        }
    }
}

#[test]
fn diff_side_by_side_and_session_scope() {
    let mut a = app("default");
    a.handle_key(key('2'));
    a.handle_key(key('z'));
    a.handle_key(key('d'));
    insta::assert_snapshot!("diff_side_by_side", draw(&mut a, 100, 24).backend());
    a.handle_key(key('d'));
    a.handle_key(key('D'));
    insta::assert_snapshot!("diff_session", draw(&mut a, 100, 24).backend());
}

#[test]
fn expanded_tool_call() {
    let mut a = app("default");
    // Expand acts on the tool call on screen, so the transcript must have been drawn once.
    draw(&mut a, 100, 30);
    a.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    insta::assert_snapshot!("transcript_expanded", draw(&mut a, 100, 30).backend());
}

#[test]
fn help_overlay() {
    let mut a = app("default");
    a.handle_key(key('?'));
    insta::assert_snapshot!("help", draw(&mut a, 100, 50).backend());
}

#[test]
fn inject_editor() {
    // The composer: an input at the bottom, Alt+Enter for a new line.
    let mut a = app("default");
    a.handle_key(key('i'));
    for c in "Keep the public API".chars() {
        a.handle_key(key(c));
    }
    a.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT));
    for c in "unchanged.".chars() {
        a.handle_key(key(c));
    }
    insta::assert_snapshot!("inject_editor", draw(&mut a, 100, 30).backend());
}

#[test]
fn quit_confirmation_and_replay_timeline() {
    let mut a = app("default");
    a.handle_key(key('q'));
    insta::assert_snapshot!("quit_confirm", draw(&mut a, 80, 24).backend());

    let opts = WorkbenchOptions { keymap: default_keymap(), title: "endure — replay".into(), ..WorkbenchOptions::default() };
    let mut r = App::replay(opts, demo_session());
    r.clock = Clock::Fixed(t0() + chrono::Duration::seconds(95));
    r.handle_key(key('['));
    r.handle_key(key('['));
    insta::assert_snapshot!("replay_step_1", draw(&mut r, 120, 30).backend());
}

/// The first cell whose row contains `needle`, at the needle's first character.
fn cell_of<'a>(t: &'a Terminal<TestBackend>, needle: &str) -> &'a ratatui::buffer::Cell {
    let buf = t.backend().buffer();
    let area = buf.area;
    for y in area.top()..area.bottom() {
        let row: String = (area.left()..area.right()).map(|x| buf[(x, y)].symbol().to_string()).collect();
        if let Some(byte) = row.find(needle) {
            // Columns, not bytes: the row has multi-byte box-drawing characters.
            let col = row[..byte].chars().count() as u16;
            return &buf[(area.left() + col, y)];
        }
    }
    panic!("{needle:?} not on screen:\n{}", t.backend());
}

#[test]
fn cells_carry_the_theme_colours() {
    for name in ["default", "light"] {
        let th = theme(name);
        let mut a = app(name);
        a.handle_key(key('2'));
        a.handle_key(key('z'));
        let t = draw(&mut a, 100, 24);
        // An added line of the diff, drawn in the theme's diff.plus colours.
        let plus = cell_of(&t, "+fn adds()");
        let want = th.style("diff.plus");
        assert_eq!((Some(plus.fg), Some(plus.bg)), (want.fg, want.bg), "{name}: diff.plus");
        // A plain cell of the panel body sits on the theme's base background.
        let body = cell_of(&t, "per step");
        assert_eq!(Some(body.bg), th.style("ui.tab.active").bg.or(th.style("ui").bg), "{name}: tab");
        let blank = &t.backend().buffer()[(50, 15)];
        assert_eq!(Some(blank.bg), th.style("ui").bg, "{name}: the base style fills the frame");
    }
    let (dark, light) = (theme("default"), theme("light"));
    assert_ne!(dark.style("diff.plus"), light.style("diff.plus"), "the light theme has its own diff colours");
    assert_ne!(dark.style("ui").bg, light.style("ui").bg);
}

#[test]
fn status_bar_and_overlays_use_their_scopes() {
    let th = theme("light");
    let mut a = app("light");
    let t = draw(&mut a, 100, 24);
    let key_cell = cell_of(&t, "? Show the keys");
    assert_eq!((Some(key_cell.fg), Some(key_cell.bg)), (th.style("ui.statusbar.key").fg, th.style("ui.statusbar.key").bg));
    let state = cell_of(&t, "waiting for model");
    assert_eq!(Some(state.fg), th.style("status.waiting").fg);
    assert_eq!(Some(state.bg), th.style("ui.statusbar").bg, "the state sits on the bar's background");
    // Overlays are cleared to the theme's page, not to the terminal's default colours.
    a.handle_key(key('?'));
    let t = draw(&mut a, 100, 40);
    let section = cell_of(&t, "global");
    assert_eq!(Some(section.fg), th.style("ui.help.section").fg);
    assert_eq!(Some(section.bg), th.style("ui").bg);
}

fn saved(cycle: u32, n: u32, pct: u32, tokens: u64, cp: Checkpoint) -> EventKind {
    EventKind::CheckpointSaved {
        id: format!("{cycle}.{n}"),
        cycle,
        n,
        threshold_pct: pct,
        window_tokens: tokens,
        upto_seq: 12,
        snapshot: Some("snap-1".into()),
        snapshot_error: None,
        path: format!(".endure/checkpoints/{cycle}.{n}.json"),
        checkpoint: Box::new(cp),
    }
}

fn text(s: &str) -> CheckpointField {
    CheckpointField::Text(s.into())
}

fn list(items: &[&str]) -> CheckpointField {
    CheckpointField::List(items.iter().map(|s| s.to_string()).collect())
}

/// The demo session with three checkpoints in cycle 1, a rollback to 1.2 (abandoning 1.3) and
/// one checkpoint on the new branch.
fn checkpoint_app() -> App {
    let mut s = EventSeq::new();
    for e in events() {
        s.push(e.kind);
    }
    let first = Checkpoint {
        active_intent: text("Fix the add function so the tests pass"),
        next_action: text("Run cargo test"),
        directives: list(&["Keep the public API unchanged"]),
        task_tree: list(&["✓ read src/lib.rs", "▶ fix add", "○ run the tests"]),
        current_work: text("add() subtracts instead of adding"),
        files: list(&["src/lib.rs — the add function"]),
        knowledge: list(&["tests live in tests/add.rs"]),
        ..Checkpoint::default()
    };
    let mut second = first.clone();
    second.next_action = text("Call done");
    second.task_tree = list(&["✓ read src/lib.rs", "✓ fix add", "▶ run the tests"]);
    second.errors_and_fixes = list(&["add used `-`: changed to `+`"]);
    second.decisions = list(&["No new dependencies: the fix is one character"]);
    let mut third = second.clone();
    third.next_action = text("Refactor the whole crate");
    s.push(saved(1, 1, 20, 25_600, first));
    s.push(saved(1, 2, 45, 57_600, second.clone()));
    s.push(saved(1, 3, 70, 89_600, third));
    s.push(EventKind::RolledBack {
        to: "1.2".into(),
        snapshot: Some("snap-2".into()),
        cycle: 2,
        window_tokens: 14_000,
        window: vec![],
        tasks: vec![],
        restored: 2,
        removed: 1,
        origins: vec![],
    });
    let mut fourth = second;
    fourth.directives = list(&["Keep the public API unchanged", "Do not refactor beyond the fix"]);
    s.push(saved(2, 1, 20, 26_000, fourth));
    let (tx, rx) = endure::tui::testkit::command_channel();
    std::mem::forget(rx);
    let opts = WorkbenchOptions {
        theme: theme("default"),
        keymap: default_keymap(),
        banner: vec![],
        context_budget: 128_000,
        title: "endure — demo".into(),
        ..WorkbenchOptions::default()
    };
    let mut app = App::live(opts, &s.events, tx, false);
    app.clock = Clock::Fixed(t0() + chrono::Duration::seconds(95));
    app
}

#[test]
fn checkpoints_fields_and_diff() {
    for (w, h) in [(80, 24), (200, 50)] {
        let mut a = checkpoint_app();
        a.handle_key(key('7'));
        insta::assert_snapshot!(format!("checkpoints_fields_{w}x{h}"), draw(&mut a, w, h).backend());
        a.handle_key(key('c'));
        insta::assert_snapshot!(format!("checkpoints_diff_{w}x{h}"), draw(&mut a, w, h).backend());
    }
}

fn memory_app(ws: &std::path::Path, proposal: bool) -> App {
    let mut s = EventSeq::new();
    for e in events() {
        let kind = match e.kind {
            EventKind::SessionStarted { mut info } => {
                info.workspace = ws.display().to_string();
                EventKind::SessionStarted { info }
            }
            k => k,
        };
        s.push(kind);
    }
    if proposal {
        s.push(EventKind::MemoryProposed {
            id: 3,
            source: "dream".into(),
            diff: "--- a/MEMORY.md\n+++ b/MEMORY.md\n@@ -1,4 +1,5 @@\n # Project memory\n \n - Run the tests with `cargo test`.\n-- The add function lives in src/lib.rs.\n+- `add` and its tests: src/lib.rs, tests/add.rs.\n+- Never change the public API.\n".into(),
            content: String::new(),
        });
    }
    let (tx, rx) = endure::tui::testkit::command_channel();
    std::mem::forget(rx);
    let opts = WorkbenchOptions {
        theme: theme("default"),
        keymap: default_keymap(),
        banner: vec![],
        context_budget: 128_000,
        title: "endure — demo".into(),
        ..WorkbenchOptions::default()
    };
    let mut app = App::live(opts, &s.events, tx, false);
    app.clock = Clock::Fixed(t0() + chrono::Duration::seconds(95));
    app
}

const MEMORY: &str = "# Project memory\n\n- Run the tests with `cargo test`.\n- The add function lives in src/lib.rs.\n";

#[test]
fn memory_view_editor_conflict_and_proposal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("MEMORY.md");
    std::fs::write(&path, MEMORY).expect("write");
    for (w, h) in [(80, 24), (200, 50)] {
        std::fs::write(&path, MEMORY).expect("write");
        let mut a = memory_app(dir.path(), false);
        a.handle_key(key('8'));
        insta::assert_snapshot!(format!("memory_view_{w}x{h}"), draw(&mut a, w, h).backend());
        a.handle_key(key('e'));
        for c in "- Prefer small commits.".chars() {
            a.handle_key(key(c));
        }
        a.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        insta::assert_snapshot!(format!("memory_editor_{w}x{h}"), draw(&mut a, w, h).backend());
        std::fs::write(&path, format!("{MEMORY}- Written by the agent meanwhile.\n")).expect("write");
        a.file_changed();
        insta::assert_snapshot!(format!("memory_conflict_{w}x{h}"), draw(&mut a, w, h).backend());

        std::fs::write(&path, MEMORY).expect("write");
        let mut p = memory_app(dir.path(), true);
        p.handle_key(key('8'));
        insta::assert_snapshot!(format!("memory_proposal_{w}x{h}"), draw(&mut p, w, h).backend());
    }
}

/// A live workbench over `events` with the snapshot options and clock.
fn app_with(events: &[Event]) -> App {
    let (tx, rx) = endure::tui::testkit::command_channel();
    // Leaked like `app`'s: nothing here reads the commands.
    std::mem::forget(rx);
    let opts = WorkbenchOptions {
        theme: theme("default"),
        keymap: default_keymap(),
        banner: vec![],
        context_budget: 128_000,
        title: "endure — max mode".into(),
        ..WorkbenchOptions::default()
    };
    let mut app = App::live(opts, events, tx, false);
    app.clock = Clock::Fixed(t0() + chrono::Duration::seconds(120));
    app
}

#[test]
fn candidates_view_streaming_judged_and_waiting() {
    use endure::tui::testkit::{MaxStage, max_mode_session};
    for (name, stage) in [("streaming", MaxStage::Streaming), ("picked", MaxStage::Picked), ("waiting", MaxStage::Waiting)] {
        for (w, h) in [(80, 24), (200, 50)] {
            let mut a = app_with(&max_mode_session(stage));
            let t = draw(&mut a, w, h);
            let text = t.backend().to_string();
            assert!(text.contains("step 4 · 3 candidates"), "{name} {w}x{h}: the candidates take the transcript's place");
            if stage == MaxStage::Waiting {
                assert!(text.contains("waiting for your pick"), "{name} {w}x{h}");
            }
            insta::assert_snapshot!(format!("candidates_{name}_{w}x{h}"), t.backend());
        }
    }
}

#[test]
fn verifier_panel_with_an_overridden_verdict() {
    use endure::tui::testkit::verdict_session;
    for (w, h) in [(80, 24), (200, 50)] {
        let mut a = app_with(&verdict_session());
        a.handle_key(key('5'));
        let t = draw(&mut a, w, h);
        let text = t.backend().to_string();
        assert!(text.contains("#2 ✓ goal met"), "newest first: {text}");
        assert!(text.contains("overridden: you rejected"), "{text}");
        insta::assert_snapshot!(format!("verifier_{w}x{h}"), t.backend());
    }
}

#[test]
fn endurance_panel_over_a_long_run() {
    use endure::tui::testkit::endurance_session;
    for (w, h) in [(100, 30), (200, 50)] {
        let mut a = app_with(&endurance_session());
        a.handle_key(key('3'));
        if w < 200 {
            a.handle_key(key('z'));
        }
        let t = draw(&mut a, w, h);
        assert!(t.backend().to_string().contains("endurance 6 of 24 steps"));
        insta::assert_snapshot!(format!("endurance_{w}x{h}"), t.backend());
    }
}

#[test]
fn new_views_survive_shrinking_to_nothing() {
    use endure::tui::testkit::{MaxStage, endurance_session, max_mode_session, verdict_session};
    for events in [max_mode_session(MaxStage::Waiting), verdict_session(), endurance_session()] {
        let mut a = app_with(&events);
        for panel in ['1', '5', '7'] {
            a.handle_key(key(panel));
            let mut t = Terminal::new(TestBackend::new(200, 50)).expect("test backend");
            for (w, h) in [(200, 50), (120, 40), (80, 24), (40, 12), (20, 5), (3, 2), (1, 1)] {
                t.backend_mut().resize(w, h);
                t.draw(|f| a.render(f)).expect("draw");
            }
        }
    }
}

#[test]
fn processes_panel_lists_the_running_background_processes() {
    let mut s = EventSeq::new();
    for e in demo_session() {
        s.push(e.kind);
    }
    s.push(EventKind::ProcessStarted { id: 1, command: "python3 -m http.server 8000".into() });
    s.push(EventKind::ProcessStarted { id: 2, command: "cargo watch -x test".into() });
    s.push(EventKind::ProcessExited { id: 1, exit_code: Some(0), reason: "exited".into() });
    let mut a = app_with(&s.events);
    a.handle_key(key('6'));
    a.handle_key(key('z'));
    let t = draw(&mut a, 80, 12);
    let text = t.backend().to_string();
    assert!(text.contains("6 Processes [max]"), "{text}");
    assert!(text.contains("1 running · 2 started") && text.contains("#2 cargo watch -x test"), "{text}");
    assert!(!text.contains("http.server"), "an exited process is gone: {text}");
    insta::assert_snapshot!("processes_80x12", t.backend());
}

/// The demo session, then a checkpoint, a branch with a bad edit and failing tests that a
/// rollback abandons, and a Max Mode step whose judge passed over two candidates.
fn attempts_events() -> Vec<Event> {
    use endure::protocol::{Feedback, PickedBy, TestCounts, ToolCallRequest};
    let mut s = EventSeq::new();
    for e in demo_session() {
        s.push(e.kind);
    }
    let upto = s.events.len() as u64 - 1;
    s.push(EventKind::CheckpointSaved {
        id: "1.1".into(),
        cycle: 1,
        n: 1,
        threshold_pct: 20,
        window_tokens: 25_000,
        upto_seq: upto,
        snapshot: Some("snap-1".into()),
        snapshot_error: None,
        path: ".endure/checkpoints/1.1.json".into(),
        checkpoint: Box::new(Checkpoint {
            active_intent: text("Fix the add function in src/lib.rs"),
            next_action: text("Run the whole test suite"),
            ..Checkpoint::default()
        }),
    });
    s.push(EventKind::StepStarted { step: 4 });
    s.push(EventKind::FileChanged {
        step: 4,
        path: "src/lib.rs".into(),
        before: Some("h-good".into()),
        after: Some("h-bad".into()),
        diff: "@@ -1,3 +1,3 @@\n pub fn add(a: i32, b: i32) -> i32 {\n-    a + b\n+    a * b\n }\n".into(),
    });
    s.push(EventKind::ToolResult {
        step: 4,
        call_id: "c4".into(),
        name: "run".into(),
        ok: false,
        exit_code: Some(101),
        duration_ms: 900,
        output: "test result: FAILED. 1 passed; 3 failed".into(),
        feedback: Feedback { tests: Some(TestCounts { passed: 1, failed: 3, skipped: 0 }), ..Default::default() },
    });
    s.push(EventKind::StepFinished { step: 4 });
    s.push(EventKind::RolledBack {
        to: "1.1".into(),
        snapshot: Some("snap-1".into()),
        cycle: 2,
        window_tokens: 9_000,
        window: Vec::new(),
        tasks: Vec::new(),
        restored: 1,
        removed: 0,
        origins: Vec::new(),
    });
    s.push(EventKind::StepStarted { step: 5 });
    for (index, text) in [(1, "Run the tests again."), (2, "Rewrite add with wrapping_add."), (3, "Add a doc comment first.")] {
        let call = ToolCallRequest { id: format!("k{index}"), name: "run".into(), arguments: r#"{"command":"cargo test"}"#.into() };
        s.push(EventKind::CandidateProposed { step: 5, index, text: text.into(), tool_calls: vec![call] });
    }
    s.push(EventKind::CandidatePicked { step: 5, pick: 1, by: PickedBy::Judge });
    // What the runtime answers `ListForks` with: a fork from 1.1 that ran out of budget.
    let mut fork = EventSeq::new();
    fork.push(EventKind::Forked {
        parent: "demo-1".into(),
        at: "1.1".into(),
        parent_workspace: "/nonexistent/endure-demo-ws".into(),
        snapshot: "snap-1".into(),
        branch: Some("endure/fork/fork-2".into()),
        window_tokens: 0,
        window: Vec::new(),
        tasks: Vec::new(),
        restored: 1,
        removed: 0,
    });
    fork.push(EventKind::StepStarted { step: 1 });
    fork.push(EventKind::FileChanged {
        step: 1,
        path: "src/lib.rs".into(),
        before: Some("h-good".into()),
        after: Some("h-wrapping".into()),
        diff: "@@ -1,3 +1,3 @@\n pub fn add(a: i32, b: i32) -> i32 {\n-    a + b\n+    a.wrapping_add(b)\n }\n".into(),
    });
    fork.push(EventKind::SessionFinished { outcome: endure::protocol::Outcome::Budget, reason: "max steps".into() });
    s.push(EventKind::ForksFound { forks: vec![endure::protocol::ForkLog { id: "fork-2".into(), events: fork.events }] });
    s.events
}

#[test]
fn attempts_panel_shows_the_tree_a_node_and_a_comparison() {
    let mut a = app_with(&attempts_events());
    a.handle_key(key('0'));
    a.handle_key(key('z'));
    let t = draw(&mut a, 100, 30);
    let text = t.backend().to_string();
    assert!(text.contains("10 Attempts [max]"), "{text}");
    assert!(text.contains("4 other attempts"), "{text}");
    assert!(text.contains("⑂ fork fork-2 at 1.1 — 1 step, $0.0000, no tests, budget"), "{text}");
    assert!(text.contains("↶ rollback demo-1:rollback-1 at 1.1 — 1 step"), "{text}");
    assert!(text.contains("tests 1 passed, 3 failed, rolled back"), "{text}");
    assert!(text.contains("◇ pick demo-1:step-5:candidate-2 at step 5"), "{text}");
    insta::assert_snapshot!("attempts_tree_100x30", t.backend());

    // The abandoned branch: the checkpoint it started from and, with `c`, its diff.
    a.handle_key(key('j'));
    a.handle_key(key('j'));
    a.handle_key(key('c'));
    let t = draw(&mut a, 100, 30);
    let text = t.backend().to_string();
    assert!(text.contains("from checkpoint 1.1") && text.contains("Run the whole test suite"), "{text}");
    assert!(text.contains("+    a * b"), "{text}");
    insta::assert_snapshot!("attempts_node_100x30", t.backend());

    // Two leaves: the abandoned branch, marked, compared with the fork.
    a.handle_key(key('v'));
    a.handle_key(key('k'));
    let t = draw(&mut a, 100, 40);
    let text = t.backend().to_string();
    assert!(text.contains("comparing with demo-1:rollback-1"), "{text}");
    assert!(text.contains("src/lib.rs: differs"), "{text}");
    assert!(text.contains("+    a * b") && text.contains("+    a.wrapping_add(b)"), "{text}");
    let outcome = text.lines().find(|l| l.contains("outcome")).unwrap_or_default();
    assert!(outcome.contains("rolled back") && outcome.contains("budget"), "side by side: {text}");
    insta::assert_snapshot!("attempts_compare_100x40", t.backend());
}

#[test]
fn processes_panel_shows_the_mcp_servers_and_their_state() {
    let mut s = EventSeq::new();
    for e in demo_session() {
        s.push(e.kind);
    }
    let tools = |n: usize| (0..n).map(|i| format!("mcp__x__t{i}")).collect::<Vec<_>>();
    s.push(EventKind::McpServerStarted { name: "everything".into(), transport: "stdio".into(), tools: tools(11), restarted: false });
    s.push(EventKind::McpServerStarted { name: "docs".into(), transport: "http".into(), tools: tools(1), restarted: false });
    s.push(EventKind::McpServerFailed { name: "broken".into(), reason: "it exited with code 127 before answering".into() });
    s.push(EventKind::McpServerExited { name: "docs".into(), reason: "the connection closed".into() });
    s.push(EventKind::ProcessStarted { id: 1, command: "cargo watch -x test".into() });
    let mut a = app_with(&s.events);
    a.handle_key(key('6'));
    a.handle_key(key('z'));
    let t = draw(&mut a, 80, 12);
    let text = t.backend().to_string();
    assert!(text.contains("MCP servers · 1 of 3 running"), "{text}");
    assert!(text.contains("everything running · stdio · 11 tools"), "{text}");
    assert!(text.contains("docs exited · http · 1 tool: the connection closed"), "{text}");
    assert!(text.contains("broken failed: it exited with code 127"), "{text}");
    assert!(text.contains("1 running · 1 started") && text.contains("#1 cargo watch -x test"), "{text}");
    insta::assert_snapshot!("processes_mcp_80x12", t.backend());
}
