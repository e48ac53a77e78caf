use crate::tui::panels::{checkpoints::CheckpointsView, transcript_panel::TranscriptPanel};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::super::{App, Clock, EditorKind, Overlay};
use crate::protocol::{
    Checkpoint, CheckpointField, CheckpointFlag, Command, Event, EventKind, OldUnit, PauseReason, RebuildEdit, RebuildReview,
    RebuildSection, RolloverReason, WindowDrop,
};
use crate::tui::WorkbenchOptions;
use crate::tui::layout::PanelId;
use crate::tui::state::{CellKind, RunState};
use crate::tui::testkit::{default_keymap, demo_session, t0};

fn live(events: &[Event]) -> (App, crate::tui::testkit::CommandRx) {
    let (tx, rx) = crate::tui::testkit::command_channel();
    let opts = WorkbenchOptions { keymap: default_keymap(), title: "endure — test".into(), ..WorkbenchOptions::default() };
    let mut app = App::live(opts, events, tx, false);
    app.clock = Clock::Fixed(t0() + chrono::Duration::seconds(90));
    (app, rx)
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn draw(app: &mut App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap_or_else(|e| panic!("{e}"));
    t.draw(|f| app.render(f)).unwrap_or_else(|e| panic!("{e}"));
    t.backend().to_string()
}

fn ev(seq: u64, kind: EventKind) -> Event {
    Event { command_id: None, seq, ts: t0(), kind }
}

fn section(key: &str, text: &str, droppable: bool) -> RebuildSection {
    RebuildSection {
        key: key.into(),
        title: key.replace('_', " "),
        text: text.into(),
        tokens: 40,
        cap: 6_000,
        editable: key.starts_with("checkpoint"),
        droppable,
        ..RebuildSection::default()
    }
}

fn proposal() -> EventKind {
    EventKind::RebuildProposed {
        id: 50,
        revision: 0,
        cycle: 2,
        reason: RolloverReason::Threshold,
        checkpoint: Some("1.2".into()),
        fill_pct: 86,
        limit_tokens: 6_000,
        total_tokens: 5_200,
        sections: vec![
            section("users_words", "Task:\nFix the add function", false),
            section("corrections", "- Keep the signature unchanged", false),
            section(&["checkpoint", "next_action"].join("."), "run the tests", true),
            section("tail", "", true),
        ],
        old_window: vec![
            OldUnit { index: 0, seq: 1, step: 0, label: "user: Fix the add function".into(), tokens: 12, in_tail: false, pinned: false },
            OldUnit { index: 1, seq: 8, step: 1, label: "run cargo test".into(), tokens: 300, in_tail: true, pinned: false },
        ],
        edits: vec![],
    }
}

#[test]
fn the_rebuild_view_opens_on_a_proposal_and_its_keys_send_review_commands() {
    let (mut app, mut rx) = live(&demo_session());
    app.apply_event(&ev(40, proposal()));
    assert!(app.rebuild_shown(), "a new proposal opens the view");
    assert!(matches!(app.state.run, RunState::Paused(PauseReason::Rebuild { .. })));
    let screen = draw(&mut app, 140, 40);
    assert!(screen.contains("Rebuild — cycle 2") && screen.contains("5.2k of 6.0k tokens"), "{screen}");
    assert!(screen.contains("users words") && screen.contains("verbatim") && screen.contains("[tail]"), "{screen}");

    // The status bar names the view's keys, and not the global ones it shadows.
    let hints = app.hints();
    assert!(hints.iter().any(|(k, d)| k == "a" && d.starts_with("Approve")), "{hints:?}");
    assert!(hints.iter().any(|(k, d)| k == "p" && d.contains("Pin")) && !hints.iter().any(|(_, d)| d.contains("Pause")), "{hints:?}");

    let review = |edit| Some(Command::ReviewRebuild { id: 50, edit });
    // Down to the checkpoint field, edit it.
    app.handle_key(key('j'));
    app.handle_key(key('j'));
    app.handle_key(key('e'));
    assert!(matches!(app.layers.top(), Overlay::Editor(EditorKind::RebuildField, _)));
    for c in "first ".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    assert_eq!(rx.try_recv().ok(), review(RebuildEdit::EditField { field: "next_action".into(), text: "first run the tests".into() }));
    app.handle_key(key('x'));
    assert_eq!(rx.try_recv().ok(), review(RebuildEdit::DropSection { section: ["checkpoint", "next_action"].join(".") }));
    // The user's words cannot be dropped; the view says so and sends nothing.
    app.handle_key(key('g'));
    app.handle_key(key('x'));
    assert!(rx.try_recv().is_err());
    assert!(app.message().is_some_and(|f| f.contains("user's own words")));
    // Pin the old window's first message.
    app.handle_key(key('G'));
    app.handle_key(key('k'));
    app.handle_key(key('p'));
    assert_eq!(rx.try_recv().ok(), review(RebuildEdit::Pin { unit: 0 }));
    app.handle_key(key('v'));
    assert_eq!(rx.try_recv().ok(), review(RebuildEdit::Veto));
    app.handle_key(key('a'));
    assert_eq!(rx.try_recv().ok(), review(RebuildEdit::Approve));
    // `p` is pin here, not pause; Esc hides the view, `b` brings it back.
    app.handle_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert!(!app.rebuild_shown());
    app.handle_key(key('b'));
    assert!(app.rebuild_shown());
    app.handle_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    app.handle_key(key('B'));
    assert_eq!(rx.try_recv().ok(), Some(Command::SetReviewRebuilds(true)));
}

#[test]
fn a_rollover_is_a_divider_that_lists_what_it_dropped_and_opens_each_message() {
    let events = demo_session();
    let result_seq = events.iter().find(|e| matches!(e.kind, EventKind::ToolResult { .. })).map(|e| e.seq).unwrap_or_default();
    let (mut app, _rx) = live(&events);
    app.apply_event(&ev(40, proposal()));
    let dropped = WindowDrop {
        from_seq: 1,
        to_seq: result_seq,
        from_step: 1,
        to_step: 2,
        messages: 42,
        tokens: 48_200,
        tool_calls: [("run".to_string(), 3)].into(),
        seqs: vec![1, result_seq],
    };
    let review = RebuildReview { proposal: Some(50), edits: vec![RebuildEdit::Pin { unit: 0 }], forced: false };
    app.apply_event(&ev(
        41,
        EventKind::Rollover {
            cycle: 2,
            reason: RolloverReason::Threshold,
            checkpoint: Some("2.3".into()),
            window_tokens: 5_200,
            window: vec![],
            origins: vec![],
            dropped: Some(dropped),
            review: Some(review),
        },
    ));
    assert!(!app.rebuild_shown() && app.state.rebuild.is_none(), "the review is over");
    app.maximized = true;
    assert_eq!(app.state.run, RunState::Running);
    let screen = draw(&mut app, 160, 40);
    assert!(screen.contains("context rebuilt: 42 messages from steps 1–2 (48,200 tokens) summarized into checkpoint 2.3"), "{screen}");
    assert!(screen.contains("approved with 1 change"), "{screen}");

    // Enter expands the divider: the dropped messages, each named from its cell.
    app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    let screen = draw(&mut app, 160, 40);
    assert!(screen.contains("tool calls dropped: run ×3"), "{screen}");
    assert!(screen.contains("user: Fix the add function in src/lib.rs") && screen.contains("step 1 · run cargo test"), "{screen}");

    // The list opens each original message in the transcript, expanded.
    app.handle_key(key('o'));
    assert!(matches!(app.layers.top(), Overlay::Dropped(_)));
    assert!(draw(&mut app, 160, 40).contains("opens the message"));
    app.handle_key(key('j'));
    app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    assert!(matches!(app.layers.top(), Overlay::None));
    let tool = app.state.cell_for_seq(result_seq).map(|c| c.id).expect("the tool cell");
    assert!(app.panel::<TranscriptPanel>().view.expanded.contains(&tool));
    assert!(matches!(app.state.cell_for_seq(result_seq).map(|c| &c.kind), Some(CellKind::Tool(_))));
    assert!(draw(&mut app, 160, 40).contains("test add_works ... FAILED"), "the original output is shown");
}

fn saved(seq: u64, id: &str, n: u32, next: &str) -> Event {
    ev(
        seq,
        EventKind::CheckpointSaved {
            id: id.into(),
            cycle: 1,
            n,
            threshold_pct: 20 * n,
            window_tokens: 10_000,
            upto_seq: seq - 1,
            snapshot: None,
            snapshot_error: None,
            path: format!("cp/{id}.json"),
            checkpoint: Box::new(Checkpoint { next_action: CheckpointField::Text(next.into()), ..Checkpoint::default() }),
        },
    )
}

#[test]
fn the_timeline_shows_flags_as_badges_and_diffs_any_two_checkpoints() {
    let (mut app, _rx) = live(&demo_session());
    app.apply_event(&saved(30, "1.1", 1, "read the spec"));
    app.apply_event(&saved(31, "1.2", 2, "write the parser"));
    app.apply_event(&saved(32, "1.3", 3, "test the parser"));
    let flag = CheckpointFlag { kind: "intent_drift".into(), detail: "active_intent lost the task's key term: \"60\"".into() };
    app.apply_event(&ev(33, EventKind::CheckpointFlagged { id: "1.3".into(), flags: vec![flag] }));
    app.set_focus(PanelId::Checkpoints);
    app.maximized = true;
    let screen = draw(&mut app, 120, 40);
    assert!(screen.contains("1.3") && screen.contains("[drift]"), "{screen}");
    assert!(screen.contains("⚑ intent_drift: active_intent lost"), "{screen}");

    // Mark 1.1, select 1.3: the diff is between the two, field by field.
    app.handle_key(key('g'));
    app.handle_key(key('v'));
    assert_eq!(app.panel::<CheckpointsView>().marked, Some(0));
    app.handle_key(key('G'));
    let screen = draw(&mut app, 120, 40);
    assert!(screen.contains("diff against 1.1") && screen.contains("◆ compared"), "{screen}");
    assert!(screen.contains("- read the spec") && screen.contains("+ test the parser"), "{screen}");
    app.handle_key(key('g'));
    app.handle_key(key('v'));
    assert_eq!(app.panel::<CheckpointsView>().marked, None, "marking again unmarks");
}

#[test]
fn layers_stack_a_proposal_under_an_open_composer_and_help_over_the_rebuild_view() {
    let (mut app, mut rx) = live(&demo_session());
    app.handle_key(key('i'));
    assert!(matches!(app.layers.top(), Overlay::Composer(_)));
    // A proposal arriving mid-correction goes under the composer: typing stays text.
    app.apply_event(&ev(40, proposal()));
    assert!(app.rebuild_shown() && !app.rebuild_in_view());
    app.handle_key(key('a'));
    assert!(rx.try_recv().is_err(), "`a` was typed, not an approval");
    assert!(matches!(app.layers.top(), Overlay::Composer(c) if c.text() == "a"));
    let screen = draw(&mut app, 140, 40);
    assert!(screen.contains("Rebuild — cycle 2"), "drawn under the composer: {screen}");
    // Closing the composer gives the keyboard to the view under it.
    app.handle_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert!(app.rebuild_in_view());
    assert_eq!(app.layer(), crate::config::keymap::KeyContext::Rebuild);
    // Help goes over the view, lists the view's keys first, and closing it returns there.
    app.handle_key(key('?'));
    assert!(matches!(app.layers.top(), Overlay::Help { .. }));
    let lines = crate::tui::view::help_lines(&app, "");
    let first: String = lines[0].spans.iter().map(|s| s.content.as_ref()).collect();
    assert_eq!(first, "rebuild (here)");
    app.handle_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert!(app.rebuild_in_view());
    app.handle_key(key('a'));
    assert_eq!(rx.try_recv().ok(), Some(Command::ReviewRebuild { id: 50, edit: RebuildEdit::Approve }));
}
