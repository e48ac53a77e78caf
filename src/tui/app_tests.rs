use super::*;
use crate::tui::panels::{memory::MemoryView, transcript_panel::TranscriptPanel};
use crate::tui::testkit::{default_keymap, demo_session, finished_session, long_session, long_session_with, t0};
use crossterm::event::{KeyEvent, MouseEvent};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn opts() -> WorkbenchOptions {
    WorkbenchOptions { keymap: default_keymap(), title: "endure — test".into(), ..WorkbenchOptions::default() }
}

fn live_app(events: &[Event]) -> (App, crate::tui::testkit::CommandRx) {
    let (tx, rx) = crate::tui::testkit::command_channel();
    let mut app = App::live(opts(), events, tx, false);
    app.clock = Clock::Fixed(t0() + chrono::Duration::seconds(90));
    (app, rx)
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn draw(app: &mut App, w: u16, h: u16) -> String {
    let mut t = match Terminal::new(TestBackend::new(w, h)) {
        Ok(t) => t,
        Err(e) => panic!("test backend: {e}"),
    };
    if let Err(e) = t.draw(|f| app.render(f)) {
        panic!("draw: {e}");
    }
    t.backend().to_string()
}

#[test]
fn quit_asks_for_confirmation_while_running() {
    let (mut app, _rx) = live_app(&demo_session());
    app.handle_key(key('q'));
    assert!(!app.should_quit);
    assert!(matches!(app.layers.top(), Overlay::Confirm(ConfirmKind::Quit)));
    app.handle_key(key('n'));
    assert!(!app.should_quit, "any other key cancels");
    assert!(matches!(app.layers.top(), Overlay::None));
    app.handle_key(key('q'));
    app.handle_key(key('y'));
    assert!(app.should_quit);

    let (mut done, _rx) = live_app(&finished_session());
    done.handle_key(key('q'));
    assert!(done.should_quit, "a finished session quits at once");
}

#[test]
fn pause_resume_and_stop_send_commands() {
    let (mut app, mut rx) = live_app(&demo_session());
    app.handle_key(key('p'));
    assert_eq!(rx.try_recv().ok(), Some(Command::Pause));
    app.apply_event(&Event {
        command_id: None,
        seq: 99,
        ts: t0(),
        kind: EventKind::Paused { reason: crate::protocol::PauseReason::Supervisor },
    });
    app.handle_key(key('p'));
    assert_eq!(rx.try_recv().ok(), Some(Command::Resume));
    app.handle_key(key('s'));
    assert!(rx.try_recv().is_err(), "stop waits for confirmation");
    app.handle_key(key('y'));
    assert_eq!(rx.try_recv().ok(), Some(Command::Stop));
}

#[test]
fn the_composer_sends_with_enter_and_shows_pending_until_queued() {
    let (mut app, mut rx) = live_app(&demo_session());
    app.handle_key(key('i'));
    assert!(matches!(app.layers.top(), Overlay::Composer(_)));
    assert_eq!(app.layer(), KeyContext::Composer);
    for c in "use v2".chars() {
        app.handle_key(key(c));
    }
    // Alt+Enter is a new line, Enter sends; `p` and `q` are text here.
    app.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT));
    for c in "please".chars() {
        app.handle_key(key(c));
    }
    assert!(draw(&mut app, 100, 30).contains("Correction — <Enter> send"));
    app.handle_key(code(KeyCode::Enter));
    assert_eq!(rx.try_recv().ok(), Some(Command::Inject("use v2\nplease".into())));
    assert!(matches!(app.layers.top(), Overlay::Composer(c) if c.text().is_empty()), "the composer stays, empty");
    app.handle_key(code(KeyCode::Esc));
    let sent = rx.ids.last().cloned().unwrap_or_default();
    assert_eq!(app.pending, vec![Sent { command_id: sent.clone(), text: "use v2\nplease".into() }]);
    assert!(draw(&mut app, 100, 30).contains("sending"));
    // Another client's correction with the same text settles nothing: ids, not text, match.
    let queued = |id: u64, cmd: &str| Event {
        command_id: Some(cmd.into()),
        seq: 99,
        ts: t0(),
        kind: EventKind::CorrectionQueued { id, text: "use v2\nplease".into() },
    };
    app.apply_event(&queued(2, "other:1"));
    assert_eq!(app.pending.len(), 1);
    app.apply_event(&queued(3, &sent));
    assert!(app.pending.is_empty());
    // Up recalls it; Esc leaves without sending.
    app.handle_key(key('i'));
    app.handle_key(code(KeyCode::Up));
    assert!(matches!(app.layers.top(), Overlay::Composer(c) if c.text() == "use v2\nplease"));
    app.handle_key(code(KeyCode::Esc));
    assert!(matches!(app.layers.top(), Overlay::None));
    assert!(rx.try_recv().is_err());
    // Queued, then delivered at step N, in the transcript.
    assert!(draw(&mut app, 100, 30).contains("correction · queued"));
    app.apply_event(&Event { command_id: None, seq: 100, ts: t0(), kind: EventKind::CorrectionDelivered { id: 3, step: 4 } });
    assert!(draw(&mut app, 100, 30).contains("correction · delivered at step 4"));
}

#[test]
fn a_queued_correction_is_withdrawn_from_the_transcript() {
    let mut events = demo_session();
    events.push(Event { command_id: None, seq: 50, ts: t0(), kind: EventKind::CorrectionQueued { id: 7, text: "never mind".into() } });
    let (mut app, mut rx) = live_app(&events);
    draw(&mut app, 120, 40);
    // Up from the followed tail selects the newest cell: the correction.
    app.handle_key(key('k'));
    assert!(app.hints().iter().any(|(k, d)| k == "W" && d.contains("Withdraw")), "{:?}", app.hints());
    app.handle_key(key('W'));
    assert_eq!(rx.try_recv().ok(), Some(Command::WithdrawCorrection { id: 7 }));
    app.apply_event(&Event { command_id: rx.ids.last().cloned(), seq: 51, ts: t0(), kind: EventKind::CorrectionWithdrawn { id: 7 } });
    assert!(draw(&mut app, 120, 40).contains("withdrawn before delivery"));
    assert!(!app.hints().iter().any(|(k, _)| k == "W"), "nothing left to withdraw");
}

#[test]
fn task_editor_opens_without_a_task_and_sends_start() {
    let (tx, mut rx) = crate::tui::testkit::command_channel();
    let mut app = App::live(opts(), &[], tx, true);
    assert!(matches!(app.layers.top(), Overlay::Editor(EditorKind::Task, _)));
    for c in "fix it".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    assert_eq!(rx.try_recv().ok(), Some(Command::Start("fix it".into())));
}

#[test]
fn replay_is_read_only() {
    let mut app = App::replay(opts(), demo_session());
    app.handle_key(key('p'));
    assert_eq!(app.message(), Some("read-only replay"));
    app.handle_key(key('i'));
    assert!(matches!(app.layers.top(), Overlay::None));
    assert_eq!(app.message(), Some("read-only replay"));
    app.handle_key(key('['));
    let Mode::Replay(tl) = &app.mode else { panic!("replay mode") };
    assert_eq!(tl.position() + 1, tl.steps());
    let label = format!("step {}/{}", tl.steps() - 1, tl.steps());
    assert!(draw(&mut app, 120, 30).contains(&label));
    app.handle_key(key('q'));
    assert!(app.should_quit, "nothing runs in a replay, so no confirmation");
}

#[test]
fn focus_cycles_maximizes_and_hides() {
    let (mut app, _rx) = live_app(&demo_session());
    // Panels are numbered, and focused, in reading order: left to right, top to bottom.
    app.handle_key(code(KeyCode::Tab));
    assert_eq!(app.focus, PanelId::Diff);
    app.handle_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    app.handle_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(app.focus, PanelId("attempts"), "the Attempts panel is the last one shown (Workflow waits hidden)");
    app.handle_key(key('2'));
    assert_eq!(app.focus, PanelId::Diff);
    app.handle_key(key('z'));
    assert!(app.maximized);
    let screen = draw(&mut app, 200, 50);
    assert!(screen.contains("2 Diff [max]"));
    assert!(!screen.contains("1 Transcript"));
    app.handle_key(key('z'));
    app.handle_key(key('h'));
    assert!(app.hidden.contains(&PanelId::Diff));
    assert_eq!(app.focus, PanelId::Endurance);
    assert!(!draw(&mut app, 200, 50).contains("2 Diff"));
    app.handle_key(key('2'));
    assert!(!app.hidden.contains(&PanelId::Diff), "focusing a hidden panel shows it");
    for _ in 0..app.panels.len() {
        app.handle_key(key('h'));
    }
    assert_eq!(app.visible_panels().len(), 1);
    assert!(app.message().is_some());
}

#[test]
fn mouse_click_focuses_the_panel_under_it() {
    let (mut app, _rx) = live_app(&demo_session());
    draw(&mut app, 200, 50);
    let diff = app.screen.slots.iter().find(|s| s.shown == PanelId::Diff).map(|s| s.area).unwrap_or_default();
    app.handle_event(TermEvent::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: diff.x + 2,
        row: diff.y + 2,
        modifiers: KeyModifiers::NONE,
    }));
    assert_eq!(app.focus, PanelId::Diff);
}

#[test]
fn scrolled_up_transcript_counts_new_entries() {
    let events = long_session(200);
    let (mut app, _rx) = live_app(&events[..100]);
    draw(&mut app, 100, 30);
    assert!(app.panel::<TranscriptPanel>().view.following());
    app.handle_key(code(KeyCode::PageUp));
    assert!(!app.panel::<TranscriptPanel>().view.following());
    let before = draw(&mut app, 100, 30);
    assert!(!before.contains("new"));
    for e in &events[100..110] {
        app.apply_event(e);
    }
    let after = draw(&mut app, 100, 30);
    let n = app.panel::<TranscriptPanel>().view.new_since_scroll(&app.state, &app.pending);
    assert!(n > 0);
    assert!(after.contains(&format!("↓ {n} new")), "{after}");
    assert_eq!(before.lines().nth(3), after.lines().nth(3), "the view stays where the user put it");
    app.handle_key(key('G'));
    assert!(app.panel::<TranscriptPanel>().view.following());
    assert!(!draw(&mut app, 100, 30).contains("new "));
}

#[test]
fn following_shows_the_latest_events() {
    let events = long_session(300);
    let (mut app, _rx) = live_app(&events[..50]);
    draw(&mut app, 100, 30);
    for e in &events[50..] {
        app.apply_event(e);
    }
    let screen = draw(&mut app, 100, 30);
    assert!(screen.contains(&format!("step {}", app.state.step())), "{screen}");
}

#[test]
fn search_finds_hits_and_n_moves_between_them() {
    let (mut app, _rx) = live_app(&demo_session());
    draw(&mut app, 100, 30);
    app.handle_key(key('/'));
    assert!(matches!(app.layers.top(), Overlay::Search(_)), "the search line is a layer on top");
    for c in "cargo test".chars() {
        app.handle_key(key(c));
    }
    assert!(draw(&mut app, 100, 30).contains("/cargo test"), "the line shows what is typed");
    app.handle_key(code(KeyCode::Enter));
    assert!(matches!(app.layers.top(), Overlay::None), "Enter closes it");
    assert_eq!(app.panel::<TranscriptPanel>().search.hits.len(), 2);
    assert_eq!(app.panel::<TranscriptPanel>().search.current, Some(0));
    let first = app.panel::<TranscriptPanel>().search.hits[0];
    app.handle_key(key('n'));
    assert_eq!(app.panel::<TranscriptPanel>().search.current, Some(1));
    app.handle_key(key('n'));
    assert_eq!(app.panel::<TranscriptPanel>().search.current, Some(0), "wraps around");
    app.handle_key(KeyEvent::new(KeyCode::Char('N'), KeyModifiers::SHIFT));
    assert_eq!(app.panel::<TranscriptPanel>().search.current, Some(1));
    assert_ne!(first, app.panel::<TranscriptPanel>().search.hits[1]);
    let screen = draw(&mut app, 100, 30);
    assert!(screen.contains("match 2/2"), "{screen}");
    app.handle_key(code(KeyCode::Esc));
    assert!(app.panel::<TranscriptPanel>().search.query.is_empty());
}

#[test]
fn expand_shows_arguments_and_output() {
    let (mut app, _rx) = live_app(&finished_session());
    let collapsed = draw(&mut app, 100, 40);
    assert!(!collapsed.contains("arguments:"));
    app.handle_key(code(KeyCode::Enter));
    let expanded = draw(&mut app, 100, 40);
    assert!(expanded.contains("arguments:"), "{expanded}");
    assert!(expanded.contains("4 passed; 0 failed"));
    app.handle_key(code(KeyCode::Enter));
    assert!(!draw(&mut app, 100, 40).contains("arguments:"));
}

#[test]
fn the_wrap_cache_keeps_what_is_near_the_screen_not_the_whole_session() {
    let (mut app, _rx) = live_app(&long_session_with(6000, 1));
    let top = {
        app.handle_key(code(KeyCode::Home));
        draw(&mut app, 120, 40)
    };
    // Every entry of the session passes over the screen once.
    let mut pages = 0;
    while !app.panel::<TranscriptPanel>().view.following() && pages < 10_000 {
        app.handle_key(code(KeyCode::PageDown));
        draw(&mut app, 120, 40);
        pages += 1;
    }
    let cells = app.state.cells.len();
    let kept = app.panel::<TranscriptPanel>().view.cache.len();
    assert!(cells > 2 * 512 && kept <= 512, "{kept} of {cells} entries kept laid out");
    // What was evicted is laid out again, the same, when scrolled back to.
    app.handle_key(code(KeyCode::Home));
    assert_eq!(draw(&mut app, 120, 40), top);
}

#[test]
fn wrap_cache_is_reused_between_frames() {
    let (mut app, _rx) = live_app(&long_session(1000));
    draw(&mut app, 120, 40);
    let misses = app.panel::<TranscriptPanel>().view.cache.misses;
    let hits = app.panel::<TranscriptPanel>().view.cache.hits;
    draw(&mut app, 120, 40);
    assert_eq!(app.panel::<TranscriptPanel>().view.cache.misses, misses, "nothing is laid out twice");
    assert!(app.panel::<TranscriptPanel>().view.cache.hits > hits);
    assert!(misses < 40, "only what is on screen is laid out, not 1000 events: {misses}");
    draw(&mut app, 90, 40);
    assert!(app.panel::<TranscriptPanel>().view.cache.misses > misses, "a new width lays out again");
}

#[test]
fn resizing_down_to_tiny_never_panics() {
    let (mut app, _rx) = live_app(&demo_session());
    app.opts.banner = vec!["config: x.toml:3:7: unknown colour \"blu\" — using defaults".into()];
    for w in (1..=210).step_by(7).chain([20, 80, 160]) {
        for h in (1..=55).step_by(3).chain([5, 24]) {
            draw(&mut app, w, h);
        }
    }
    app.handle_key(key('?'));
    draw(&mut app, 20, 5);
    app.handle_key(code(KeyCode::Esc));
    app.handle_key(key('i'));
    draw(&mut app, 20, 5);
    app.handle_key(code(KeyCode::Esc));
    app.handle_key(key('2'));
    app.handle_key(key('d'));
    draw(&mut app, 20, 5);
    draw(&mut app, 23, 7);
}

#[test]
fn help_lists_the_active_keymap() {
    let (mut app, _rx) = live_app(&demo_session());
    if let Some(list) = app.opts.keymap.sections.get_mut(&KeyContext::Global) {
        for b in list.iter_mut().filter(|b| b.action == Action::Maximize) {
            b.desc = "make it big".into();
        }
    }
    app.handle_key(key('?'));
    let screen = draw(&mut app, 120, 60);
    assert!(screen.contains("make it big"));
    assert!(screen.contains("transcript"));
    app.handle_key(key('?'));
    assert!(matches!(app.layers.top(), Overlay::None));
}

#[test]
fn status_bar_hints_come_from_the_keymap() {
    let (mut app, _rx) = live_app(&demo_session());
    app.handle_key(key('2'));
    let screen = draw(&mut app, 200, 50);
    let hints = screen.lines().last().unwrap_or_default().trim_matches('"');
    // The bundled keymap's notations and descriptions, help and quit first.
    assert!(hints.starts_with(" ? Show the keys  q Quit  p Pause or resume the agent"), "{hints}");
    assert!(hints.contains("D This change or the whole session"), "{hints}");
    assert!(hints.contains("<Space> Expand or collapse the file"), "{hints}");

    // At 80 columns only whole hints are shown, never one cut after its key.
    let narrow = draw(&mut app, 80, 24);
    let hints = narrow.lines().last().unwrap_or_default().trim_matches('"').trim_end();
    assert!(hints.starts_with(" ? Show the keys  q Quit"), "the footer always shows help and quit: {hints}");
    assert!(hints.ends_with("p Pause or resume the agent"), "the next hint does not fit whole: {hints}");
    let status = narrow.lines().nth_back(1).unwrap_or_default();
    assert!(status.contains("51%"), "the gauge keeps its percentage at 80 columns: {status}");

    // A panel key that does nothing there is not advertised.
    app.handle_key(key('7'));
    let hints = draw(&mut app, 200, 50);
    assert!(!hints.contains("Show or hide the checkpoint list"), "{hints}");
    assert!(!hints.contains("Roll back"), "no checkpoint to roll back to: {hints}");
}

#[test]
fn help_shows_bundled_notations_and_descriptions() {
    let (mut app, _rx) = live_app(&demo_session());
    let lines: Vec<String> =
        crate::tui::view::help_lines(&app, "").iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect();
    let find = |desc: &str| lines.iter().find(|l| l.ends_with(desc)).map(|l| l.split_whitespace().next().unwrap_or_default().to_string());
    assert_eq!(find("Pause or resume the agent").as_deref(), Some("p"), "{lines:#?}");
    assert_eq!(find("Send the correction").as_deref(), Some("<Enter>"), "the composer sends with Enter: {lines:#?}");
    assert_eq!(find("This change or the whole session").as_deref(), Some("D"), "{lines:#?}");
    app.handle_key(key('?'));
    let screen = draw(&mut app, 100, 50);
    assert!(screen.contains("p           Pause or resume the agent"), "{screen}");
}

// ---- checkpoints, rollover, rollback ----

fn checkpoint(cycle: u32, n: u32, pct: u32, tokens: u64, next: &str) -> EventKind {
    let mut cp = crate::protocol::Checkpoint {
        active_intent: crate::protocol::CheckpointField::Text("Fix the failing add test".into()),
        next_action: crate::protocol::CheckpointField::Text(next.into()),
        ..Default::default()
    };
    cp.files = crate::protocol::CheckpointField::List(vec!["src/lib.rs — add()".into()]);
    EventKind::CheckpointSaved {
        id: format!("{cycle}.{n}"),
        cycle,
        n,
        threshold_pct: pct,
        window_tokens: tokens,
        upto_seq: 10,
        snapshot: None,
        snapshot_error: None,
        path: format!(".endure/checkpoints/{cycle}.{n}.json"),
        checkpoint: Box::new(cp),
    }
}

fn with_checkpoints() -> Vec<Event> {
    let mut s = crate::tui::testkit::EventSeq::new();
    for e in demo_session() {
        s.push(e.kind);
    }
    s.push(checkpoint(1, 1, 20, 25_600, "run the tests"));
    s.push(checkpoint(1, 2, 45, 57_600, "fix the sign in add"));
    s.events
}

#[test]
fn rollback_asks_then_sends_the_selected_checkpoint() {
    let (mut app, mut rx) = live_app(&with_checkpoints());
    app.handle_key(key('7'));
    app.handle_key(key('r'));
    assert!(matches!(app.layers.top(), Overlay::Confirm(ConfirmKind::Rollback(id)) if id == "1.2"), "the newest is selected");
    let screen = draw(&mut app, 100, 30);
    assert!(screen.contains("Roll back the workspace and conversation to checkpoint"), "{screen}");
    assert!(screen.contains("1.2? Files created since are deleted."), "{screen}");
    app.handle_key(key('n'));
    assert!(rx.try_recv().is_err(), "any other key cancels");
    // Select the older one, then confirm.
    app.handle_key(key('k'));
    app.handle_key(key('r'));
    app.handle_key(key('y'));
    assert_eq!(rx.try_recv().ok(), Some(Command::Rollback("1.1".into())));
    assert!(app.message().is_some_and(|f| f.contains("1.1")));
    app.handle_key(key('j'));
    app.handle_key(key('r'));
    app.handle_key(key('y'));
    assert_eq!(rx.try_recv().ok(), Some(Command::Rollback("1.2".into())));
}

#[test]
fn rollback_and_rollover_are_read_only_in_replay() {
    let mut app = App::replay(opts(), with_checkpoints());
    app.handle_key(key('7'));
    app.handle_key(key('r'));
    assert!(matches!(app.layers.top(), Overlay::None));
    assert_eq!(app.message(), Some("read-only replay"));
    app.handle_key(key('R'));
    assert_eq!(app.message(), Some("read-only replay"));
}

#[test]
fn rollover_key_sends_rollover_with_a_flash() {
    let (mut app, mut rx) = live_app(&with_checkpoints());
    app.handle_key(KeyEvent::new(KeyCode::Char('R'), KeyModifiers::SHIFT));
    assert_eq!(rx.try_recv().ok(), Some(Command::Rollover));
    assert_eq!(app.message(), Some("rollover requested"));
    let (mut done, mut rx) = live_app(&finished_session());
    done.handle_key(key('R'));
    assert!(rx.try_recv().is_err(), "a finished session has no window to roll over");
}

#[test]
fn checkpoint_panel_lists_fields_and_diffs_against_the_previous() {
    let (mut app, _rx) = live_app(&with_checkpoints());
    app.handle_key(key('7'));
    app.handle_key(key('z'));
    let screen = draw(&mut app, 100, 40);
    assert!(screen.contains("1.1    20% · 25.6k tok"), "{screen}");
    assert!(screen.contains("next_action"), "{screen}");
    assert!(screen.contains("fix the sign in add"), "{screen}");
    assert!(screen.contains("• src/lib.rs — add()"), "{screen}");
    app.handle_key(key('c'));
    let diff = draw(&mut app, 100, 40);
    assert!(diff.contains("diff against 1.1"), "{diff}");
    assert!(diff.contains("- run the tests"), "{diff}");
    assert!(diff.contains("+ fix the sign in add"), "{diff}");
    assert!(diff.contains("active_intent  unchanged"), "unchanged fields collapse: {diff}");
    assert!(!diff.contains("Fix the failing add test"), "{diff}");
}

#[test]
fn page_keys_page_the_checkpoint_fields_and_a_new_selection_starts_at_the_top() {
    use crate::tui::panels::checkpoints::CheckpointsView;
    let (mut app, _rx) = live_app(&with_checkpoints());
    app.handle_key(key('7'));
    app.handle_key(key('z'));
    let top = draw(&mut app, 100, 16);
    app.handle_key(code(KeyCode::PageDown));
    let offset = app.panel::<CheckpointsView>().detail.offset;
    assert!(offset > 0, "the fields are longer than the box");
    let paged = draw(&mut app, 100, 16);
    assert_ne!(top, paged);
    for _ in 0..50 {
        app.handle_key(code(KeyCode::PageDown));
    }
    draw(&mut app, 100, 16);
    let end = app.panel::<CheckpointsView>().detail.offset;
    app.handle_key(code(KeyCode::PageDown));
    draw(&mut app, 100, 16);
    assert_eq!(app.panel::<CheckpointsView>().detail.offset, end, "the last page stays full");
    app.handle_key(key('k'));
    assert_eq!(app.panel::<CheckpointsView>().detail.offset, 0, "another checkpoint starts at its top");
}

#[test]
fn after_a_rollback_the_run_shows_paused() {
    let mut events = with_checkpoints();
    events.push(Event {
        command_id: None,
        seq: 200,
        ts: t0(),
        kind: EventKind::RolledBack {
            to: "1.1".into(),
            snapshot: None,
            cycle: 2,
            window_tokens: 9_000,
            window: vec![],
            tasks: vec![],
            restored: 2,
            removed: 1,
            origins: vec![],
        },
    });
    let (mut app, _rx) = live_app(&events);
    let screen = draw(&mut app, 200, 50);
    assert!(screen.contains("paused"), "{screen}");
    assert!(screen.contains("cycle 2"), "{screen}");
    assert!(screen.contains("abandoned"), "{screen}");
}

// ---- memory ----

fn memory_session(ws: &std::path::Path) -> Vec<Event> {
    let mut info = crate::tui::testkit::session_info("t");
    info.workspace = ws.display().to_string();
    vec![Event { command_id: None, seq: 0, ts: t0(), kind: EventKind::SessionStarted { info: Box::new(info) } }]
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn type_str(app: &mut App, s: &str) {
    for c in s.chars() {
        app.handle_key(if c == '\n' { code(KeyCode::Enter) } else { key(c) });
    }
}

#[test]
fn memory_panel_shows_the_file_and_edit_saves_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("MEMORY.md");
    std::fs::write(&path, "# Memory\n\n- use cargo nextest\n").expect("write");
    let (mut app, mut rx) = live_app(&memory_session(dir.path()));
    app.handle_key(key('8'));
    assert_eq!(app.focus, PanelId::Memory);
    let screen = draw(&mut app, 100, 30);
    assert!(screen.contains("use cargo nextest"), "{screen}");
    app.handle_key(key('e'));
    assert!(matches!(app.layers.top(), Overlay::MemoryEditor(_)));
    type_str(&mut app, "- never push to main\n");
    app.handle_key(ctrl('s'));
    assert!(matches!(app.layers.top(), Overlay::None), "sent and closed");
    // The workbench never writes the file: the runtime does, if the base is still current.
    assert_eq!(
        rx.try_recv().ok(),
        Some(Command::SaveMemory {
            text: "- never push to main\n# Memory\n\n- use cargo nextest\n".into(),
            base_hash: crate::workspace::sha256_hex(b"# Memory\n\n- use cargo nextest\n"),
        })
    );
    assert_eq!(std::fs::read_to_string(&path).ok().as_deref(), Some("# Memory\n\n- use cargo nextest\n"));
}

#[test]
fn memory_edit_needs_focus_and_is_read_only_in_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut app, _rx) = live_app(&memory_session(dir.path()));
    app.handle_key(key('e'));
    assert!(matches!(app.layers.top(), Overlay::None), "the key does nothing outside the Memory panel");
    let mut replay = App::replay(opts(), memory_session(dir.path()));
    replay.handle_key(key('8'));
    replay.handle_key(key('e'));
    assert!(matches!(replay.layers.top(), Overlay::None));
    assert_eq!(replay.message(), Some("read-only replay"));
}

#[test]
fn a_change_on_disk_under_unsaved_edits_opens_the_conflict_view() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("MEMORY.md");
    std::fs::write(&path, "one\n").expect("write");
    let (mut app, mut rx) = live_app(&memory_session(dir.path()));
    app.handle_key(key('8'));
    let save =
        |text: &str, base: &str| Some(Command::SaveMemory { text: text.into(), base_hash: crate::workspace::sha256_hex(base.as_bytes()) });

    // Without edits the editor just follows the file.
    app.handle_key(key('e'));
    std::fs::write(&path, "two\n").expect("write");
    app.file_changed();
    let Overlay::MemoryEditor(edit) = app.layers.top() else { panic!("still editing") };
    assert_eq!(edit.editor.lines().join("\n"), "two\n");

    // With edits: a conflict, and neither side is written.
    type_str(&mut app, "mine ");
    std::fs::write(&path, "theirs\n").expect("write");
    app.file_changed();
    assert!(matches!(app.layers.top(), Overlay::MemoryConflict { .. }));
    assert_eq!(std::fs::read_to_string(&path).ok().as_deref(), Some("theirs\n"));
    let screen = draw(&mut app, 100, 30);
    assert!(screen.contains("-theirs"), "{screen}");
    assert!(screen.contains("+mine two"), "{screen}");
    assert!(screen.contains("m keep mine"), "{screen}");

    // Keep editing, then keep mine: the buffer overwrites the file.
    app.handle_key(key('e'));
    assert!(matches!(app.layers.top(), Overlay::MemoryEditor(_)));
    app.handle_key(ctrl('s'));
    assert_eq!(rx.try_recv().ok(), save("mine two\n", "theirs\n"), "seen conflicts do not block a save: the base is the version seen");
    std::fs::write(&path, "mine two\n").expect("write");

    // Take theirs drops the buffer.
    app.handle_key(key('e'));
    type_str(&mut app, "x");
    std::fs::write(&path, "newest\n").expect("write");
    app.file_changed();
    app.handle_key(key('t'));
    assert!(matches!(app.layers.top(), Overlay::None));
    assert_eq!(std::fs::read_to_string(&path).ok().as_deref(), Some("newest\n"));
    assert_eq!(app.panel::<MemoryView>().disk.as_deref(), Some("newest\n"));

    // A change the watcher has not reported yet is caught at save time.
    app.handle_key(key('e'));
    type_str(&mut app, "y");
    std::fs::write(&path, "sneaky\n").expect("write");
    app.handle_key(ctrl('s'));
    assert!(matches!(app.layers.top(), Overlay::MemoryConflict { .. }));
    app.handle_key(key('m'));
    assert_eq!(rx.try_recv().ok(), save("ynewest\n", "sneaky\n"), "keep mine overwrites the version it was shown");
}

#[test]
fn memory_proposals_are_accepted_or_rejected_from_the_panel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut events = memory_session(dir.path());
    for id in [1, 2] {
        events.push(Event {
            command_id: None,
            seq: id,
            ts: t0(),
            kind: EventKind::MemoryProposed {
                id,
                source: "dream".into(),
                diff: "--- a/MEMORY.md\n+++ b/MEMORY.md\n@@ -0,0 +1 @@\n+- tests run with nextest\n".into(),
                content: "- tests run with nextest\n".into(),
            },
        });
    }
    let (mut app, mut rx) = live_app(&events);
    app.handle_key(key('a'));
    assert!(rx.try_recv().is_err(), "only from the Memory panel");
    app.handle_key(key('8'));
    let screen = draw(&mut app, 100, 30);
    assert!(screen.contains("Proposed MEMORY.md #1 from dream"), "{screen}");
    assert!(screen.contains("+- tests run with nextest"), "{screen}");
    app.handle_key(key('a'));
    assert_eq!(rx.try_recv().ok(), Some(Command::ResolveMemory { id: 1, accept: true }));
    assert!(draw(&mut app, 100, 30).contains("Proposed MEMORY.md #2"), "the next one shows");
    app.handle_key(KeyEvent::new(KeyCode::Char('X'), KeyModifiers::SHIFT));
    assert_eq!(rx.try_recv().ok(), Some(Command::ResolveMemory { id: 2, accept: false }));
    assert!(!draw(&mut app, 100, 30).contains("Proposed MEMORY.md"));
    app.handle_key(key('a'));
    assert!(rx.try_recv().is_err(), "nothing left to answer");
}

/// The gauge's bar on the status row: the cells between "ctx " and the percentage.
fn gauge_of(screen: &str) -> String {
    let status = screen.lines().nth_back(1).unwrap_or_default();
    let after = status.split("ctx ").nth(1).unwrap_or_default();
    after.chars().take_while(|c| !c.is_whitespace()).collect()
}

#[test]
fn gauge_marks_fired_thresholds_and_shows_the_cycle() {
    let (mut app, _rx) = live_app(&with_checkpoints());
    let screen = draw(&mut app, 200, 50);
    let bar = gauge_of(&screen);
    assert_eq!(bar.chars().filter(|c| *c == '┃').count(), 2, "20% and 45% fired: {bar}");
    assert_eq!(bar.chars().filter(|c| *c == '│').count(), 1, "70% still ahead: {bar}");
    assert!(screen.contains("cycle 1"), "{screen}");
    app.apply_event(&Event {
        command_id: None,
        seq: 300,
        ts: t0(),
        kind: EventKind::Rollover {
            cycle: 2,
            reason: crate::protocol::RolloverReason::Supervisor,
            checkpoint: Some("1.2".into()),
            window_tokens: 6_400,
            window: vec![],
            origins: vec![],
            dropped: None,
            review: None,
        },
    });
    let screen = draw(&mut app, 200, 50);
    let bar = gauge_of(&screen);
    assert_eq!(bar.chars().filter(|c| *c == '┃').count(), 0, "a new cycle starts unfired: {bar}");
    assert!(screen.contains("cycle 2 ↻1"), "{screen}");
    assert!(screen.lines().nth_back(1).unwrap_or_default().contains("  5%"), "fill is the new window: {screen}");
}

#[test]
fn the_session_budget_wins_over_the_option() {
    let mut events = demo_session();
    for e in &mut events {
        if let EventKind::SessionStarted { info } = &mut e.kind {
            info.context_budget = 64_000;
        }
    }
    let (mut app, _rx) = live_app(&events);
    let status = draw(&mut app, 200, 50).lines().nth_back(1).unwrap_or_default().to_string();
    // The window is the last prompt (64k) plus its answer, of a 64k session budget, not of the 128k option.
    assert!(status.contains("101%"), "{status}");
}

use crate::tui::testkit::{MaxStage, max_mode_session, verdict_session};

fn drain(rx: &mut crate::tui::testkit::CommandRx) -> Vec<Command> {
    let mut out = Vec::new();
    while let Ok(c) = rx.try_recv() {
        out.push(c);
    }
    out
}

#[test]
fn a_streaming_max_mode_step_takes_the_transcript_area_and_gives_it_back() {
    let (mut app, _rx) = live_app(&max_mode_session(MaxStage::Streaming));
    assert!(app.panel::<TranscriptPanel>().candidates.shown && app.panel::<TranscriptPanel>().candidates.auto);
    assert!(draw(&mut app, 100, 30).contains("1 Transcript · Max Mode candidates"));
    // The toggle goes back to the transcript and again to the candidates.
    app.handle_key(key('C'));
    assert!(!app.panel::<TranscriptPanel>().candidates.shown);
    app.handle_key(key('C'));
    assert!(app.panel::<TranscriptPanel>().candidates.shown);
    app.handle_key(key('C'));

    let (mut app, _rx) = live_app(&max_mode_session(MaxStage::Picked));
    assert!(app.panel::<TranscriptPanel>().candidates.shown, "still the step in flight");
    let seq = app.state.events_applied;
    app.apply_event(&Event { command_id: None, seq, ts: t0(), kind: EventKind::StepFinished { step: 4 } });
    assert!(!app.panel::<TranscriptPanel>().candidates.shown, "the transcript comes back when the picked step ends");
}

#[test]
fn review_picks_select_with_arrows_and_send_the_pick() {
    let (mut app, mut rx) = live_app(&max_mode_session(MaxStage::Waiting));
    assert!(app.state.awaiting_pick().is_some());
    assert!(draw(&mut app, 80, 24).contains("waiting for your pick"));
    // The review starts on the judge's pick, so confirming it is one key.
    app.handle_key(key('P'));
    assert_eq!(drain(&mut rx), [Command::PickCandidate(2)]);
    app.handle_key(code(KeyCode::Right));
    app.handle_key(code(KeyCode::Right));
    app.handle_key(key('P'));
    assert_eq!(drain(&mut rx), [Command::PickCandidate(3)], "the selection stops at the last candidate");
    app.handle_key(code(KeyCode::Left));
    app.handle_key(code(KeyCode::Left));
    app.handle_key(code(KeyCode::Left));
    app.handle_key(key('P'));
    assert_eq!(drain(&mut rx), [Command::PickCandidate(1)]);

    // Without a wait, a pick is refused and nothing is sent.
    let (mut app, mut rx) = live_app(&max_mode_session(MaxStage::Picked));
    app.handle_key(key('P'));
    assert!(drain(&mut rx).is_empty());
    assert!(app.message().is_some_and(|f| f.contains("review picks")));
}

#[test]
fn max_mode_and_review_toggles_send_commands_from_the_projection() {
    let (mut app, mut rx) = live_app(&demo_session());
    app.handle_key(key('M'));
    app.handle_key(key('V'));
    assert_eq!(drain(&mut rx), [Command::SetMaxMode(Some(5)), Command::SetReviewPicks(true)]);
    // What is on comes from the events, not from what was sent.
    let (mut app, mut rx) = live_app(&max_mode_session(MaxStage::Waiting));
    app.handle_key(key('M'));
    app.handle_key(key('V'));
    assert_eq!(drain(&mut rx), [Command::SetMaxMode(None), Command::SetReviewPicks(false)]);
    let screen = draw(&mut app, 200, 50);
    assert!(screen.contains("max 3 review"), "{screen}");
    assert!(screen.contains("overhead $0.71"), "{screen}");
}

#[test]
fn verdicts_are_accepted_with_a_confirmation_and_rejected_with_a_note() {
    let (mut app, mut rx) = live_app(&verdict_session());
    app.handle_key(key('a'));
    assert!(drain(&mut rx).is_empty(), "outside the Verifier panel `a` is not an override");
    app.handle_key(key('5'));
    app.handle_key(key('a'));
    assert!(matches!(app.layers.top(), Overlay::Confirm(ConfirmKind::AcceptWork)));
    app.handle_key(key('n'));
    assert!(drain(&mut rx).is_empty(), "any other key cancels");
    app.handle_key(key('a'));
    app.handle_key(key('y'));
    assert_eq!(drain(&mut rx), [Command::OverrideVerdict { accept: true, note: None }]);

    app.handle_key(key('r'));
    assert!(matches!(app.layers.top(), Overlay::Editor(EditorKind::RejectNote, _)));
    app.handle_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    assert!(drain(&mut rx).is_empty(), "an empty note is not sent");
    for c in "add a test".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    assert_eq!(drain(&mut rx), [Command::OverrideVerdict { accept: false, note: Some("add a test".into()) }]);
    assert!(matches!(app.layers.top(), Overlay::None));
}

#[test]
fn help_scrolls_with_the_arrows_and_filters_by_typing() {
    let (mut app, _rx) = live_app(&demo_session());
    app.handle_key(key('?'));
    app.handle_key(code(KeyCode::Down));
    app.handle_key(code(KeyCode::PageDown));
    assert!(matches!(app.layers.top(), Overlay::Help { scroll: 11, .. }));
    app.handle_key(code(KeyCode::Home));
    assert!(matches!(app.layers.top(), Overlay::Help { scroll: 0, .. }));
    for c in "roll".chars() {
        app.handle_key(key(c));
    }
    let screen = draw(&mut app, 100, 40);
    assert!(screen.contains("filter: roll") && screen.contains("Roll back to the selected checkpoint"), "{screen}");
    assert!(!screen.contains("Pause or resume"), "{screen}");
    app.handle_key(code(KeyCode::Esc));
    assert!(matches!(app.layers.top(), Overlay::None));
}

#[test]
fn help_lists_the_focused_layer_first_and_quit_at_the_top_of_the_global_keys() {
    let (mut app, _rx) = live_app(&demo_session());
    app.handle_key(key('2'));
    app.handle_key(key('?'));
    let lines: Vec<String> =
        crate::tui::view::help_lines(&app, "").iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect();
    assert_eq!(lines[0], "diff (here)");
    let global = lines.iter().position(|l| l == "global").expect("global");
    assert!(lines[global + 1].ends_with("Quit"), "{lines:?}");
    // At 80x24 quit is on the first screen of help.
    let screen = draw(&mut app, 80, 24);
    assert!(screen.contains("Quit"), "{screen}");
}

#[test]
fn help_says_from_the_offers_which_keys_do_nothing_now_and_why() {
    let text = |l: &ratatui::text::Line| -> String { l.spans.iter().map(|s| s.content.as_ref()).collect() };
    let (theme, problems) = crate::config::theme::load_theme("default", None);
    assert!(problems.is_empty(), "{problems:?}");
    let mut replay = App::replay(WorkbenchOptions { theme, ..opts() }, finished_session());
    replay.handle_key(key('?'));
    let lines = crate::tui::view::help_lines(&replay, "");
    let dim = replay.opts.theme.style("ui.dim");
    let find = |what: &str| lines.iter().find(|l| text(l).contains(what)).unwrap_or_else(|| panic!("no {what}"));
    let pause = find("Pause or resume the agent");
    assert!(text(pause).ends_with("— read-only replay"), "{}", text(pause));
    assert_eq!(pause.style, dim, "a key that does nothing is dimmed");
    let quit = find("Quit");
    assert!(!text(quit).contains(" — "), "quit works everywhere: {}", text(quit));
    assert!(!text(find("Focus panel 10")).contains(" — "), "panel 10 exists: {}", text(find("Focus panel 10")));
    // The same key live and running: enabled, as the hints say.
    let (mut live, _rx) = live_app(&demo_session());
    live.handle_key(key('?'));
    let lines = crate::tui::view::help_lines(&live, "");
    let pause = lines.iter().find(|l| text(l).contains("Pause or resume the agent")).expect("pause");
    assert_eq!(text(pause).trim(), "p           Pause or resume the agent");
    assert_ne!(pause.style, dim);
    // A key of another panel's section is listed for reference, not judged.
    let rollback = lines.iter().find(|l| text(l).contains("Roll back to the selected checkpoint")).expect("rollback");
    assert!(!text(rollback).contains(" — "), "{}", text(rollback));
}

#[test]
fn tiny_terminals_never_panic_with_every_new_view() {
    for events in [max_mode_session(MaxStage::Waiting), verdict_session(), crate::tui::testkit::endurance_session()] {
        let (mut app, _rx) = live_app(&events);
        for focus in ['1', '5', '7'] {
            app.handle_key(key(focus));
            for (w, h) in [(20, 5), (1, 1), (35, 8), (80, 24)] {
                draw(&mut app, w, h);
            }
        }
    }
}

#[test]
fn a_past_max_mode_step_opens_from_its_tool_call_and_steps_browse() {
    let mut events = max_mode_session(MaxStage::Picked);
    let mut push = |kind: EventKind| {
        let seq = events.len() as u64;
        events.push(Event { command_id: None, seq, ts: t0(), kind });
    };
    push(EventKind::ToolCall {
        step: 4,
        call_id: "b1".into(),
        name: "write_file".into(),
        args: serde_json::json!({"path": "tests/neg.rs"}),
    });
    push(EventKind::StepFinished { step: 4 });
    push(EventKind::StepStarted { step: 5 });
    push(EventKind::CandidateDelta { step: 5, index: 1, text: "next".into() });
    let (mut app, _rx) = live_app(&events);
    assert_eq!(app.panel::<TranscriptPanel>().candidates.shown_step(&app.state).map(|m| m.step), Some(5), "the step in flight is followed");
    app.handle_key(key('C'));
    assert!(!app.panel::<TranscriptPanel>().candidates.shown);
    // The write_file call of step 4 is the transcript's selection: the toggle opens its step.
    let id = app.state.cells.iter().find(|c| matches!(&c.kind, super::super::state::CellKind::Tool(t) if t.call_id == "b1")).map(|c| c.id);
    app.panel_mut::<TranscriptPanel>().view.selected = id;
    app.handle_key(key('C'));
    assert_eq!(app.panel::<TranscriptPanel>().candidates.shown_step(&app.state).map(|m| m.step), Some(4));
    app.handle_key(key('>'));
    assert_eq!(app.panel::<TranscriptPanel>().candidates.shown_step(&app.state).map(|m| m.step), Some(5));
    app.handle_key(key('<'));
    assert_eq!(app.panel::<TranscriptPanel>().candidates.shown_step(&app.state).map(|m| m.step), Some(4));
}

#[test]
fn a_finished_session_shows_its_endurance_in_the_status_bar() {
    let mut events = crate::tui::testkit::endurance_session();
    let seq = events.len() as u64;
    events.push(Event {
        command_id: None,
        seq,
        ts: t0(),
        kind: EventKind::SessionFinished { outcome: crate::protocol::Outcome::Done, reason: "done".into() },
    });
    let (mut app, _rx) = live_app(&events);
    let screen = draw(&mut app, 120, 30);
    let status = screen.lines().rev().nth(1).unwrap_or_default().to_string();
    assert!(status.contains("endurance 6 of 24 steps"), "{status}");
}

#[test]
fn a_key_sequence_fires_after_its_last_key_with_a_which_key_hint_between() {
    let (mut app, _rx) = live_app(&long_session(200));
    app.opts.keymap = crate::config::keymap::load_keymap("vim", None).0;
    draw(&mut app, 100, 30);
    assert!(app.panel::<TranscriptPanel>().view.following());
    app.handle_key(key('g'));
    assert!(app.panel::<TranscriptPanel>().view.following(), "one g does nothing yet");
    let hints = draw(&mut app, 100, 30).lines().last().unwrap_or_default().to_string();
    assert!(hints.contains("g… then:") && hints.contains("g Go to the top"), "{hints}");
    app.handle_key(key('g'));
    assert!(!app.panel::<TranscriptPanel>().view.following(), "g g went to the top");
    assert!(app.pending_keys.is_empty());
    // A prefix followed by a key that continues nothing is reported, and Esc cancels a prefix.
    app.handle_key(key('g'));
    app.handle_key(key('z'));
    assert_eq!(app.message(), Some("no binding for g z"));
    app.handle_key(key('g'));
    app.handle_key(code(KeyCode::Esc));
    assert!(app.pending_keys.is_empty() && app.message().is_none());
}

#[test]
fn each_layer_claims_its_keys_and_global_keys_apply_where_it_does_not() {
    let (mut app, mut rx) = live_app(&verdict_session_live());
    // Verifier layer: `a` accepts the work (after a confirmation, the confirm layer's `y`).
    app.handle_key(key('5'));
    assert_eq!(app.layer(), KeyContext::Verifier);
    app.handle_key(key('a'));
    assert_eq!(app.layer(), KeyContext::Confirm);
    app.handle_key(key('y'));
    assert_eq!(rx.try_recv().ok(), Some(Command::OverrideVerdict { accept: true, note: None }));
    // Outside the confirmation `y` does nothing, and `a` is not a memory key in the transcript.
    app.handle_key(key('1'));
    app.handle_key(key('y'));
    app.handle_key(key('a'));
    assert!(rx.try_recv().is_err());
    // Global keys reach every panel layer: `p` pauses from the Diff panel.
    app.handle_key(key('2'));
    assert_eq!(app.layer(), KeyContext::Diff);
    app.handle_key(key('p'));
    assert_eq!(rx.try_recv().ok(), Some(Command::Pause));
    // The help layer: `?` closes it, other global keys do nothing there.
    app.handle_key(key('?'));
    assert_eq!(app.layer(), KeyContext::Help);
    app.handle_key(key('p'));
    assert!(rx.try_recv().is_err(), "help has the keyboard");
    app.handle_key(key('?'));
    assert!(matches!(app.layers.top(), Overlay::None));
}

/// The verdict session with the run still going (its verdict can be overridden).
fn verdict_session_live() -> Vec<Event> {
    crate::tui::testkit::verdict_session()
        .into_iter()
        .filter(|e| !matches!(e.kind, EventKind::SessionFinished { .. } | EventKind::VerdictOverridden { .. }))
        .collect()
}

#[test]
fn pause_says_pausing_at_once_and_a_second_press_takes_it_back() {
    let (mut app, mut rx) = live_app(&demo_session());
    app.handle_key(key('p'));
    assert_eq!(rx.try_recv().ok(), Some(Command::Pause));
    let status = draw(&mut app, 120, 30).lines().nth_back(1).unwrap_or_default().to_string();
    assert!(status.contains("pausing…"), "{status}");
    app.handle_key(key('p'));
    assert_eq!(rx.try_recv().ok(), Some(Command::Resume), "the pending pause is cancelled");
    assert_eq!(app.message(), Some("pause cancelled"));
    assert!(!draw(&mut app, 120, 30).contains("pausing…"));
    // Once the pause lands the label is the run's own again.
    app.handle_key(key('p'));
    app.apply_event(&Event {
        command_id: None,
        seq: 99,
        ts: t0(),
        kind: EventKind::Paused { reason: crate::protocol::PauseReason::Supervisor },
    });
    assert!(!app.state.pause_pending);
    assert_eq!(app.state.run_label(), "paused");
}

#[test]
fn the_selection_cursor_moves_between_cells_enter_expands_it_and_y_copies_it() {
    let (mut app, _rx) = live_app(&demo_session());
    draw(&mut app, 200, 50);
    let cells: Vec<u64> = app.state.cells.iter().map(|c| c.id).collect();
    // The failing `run` at step 3 is reachable even when the whole transcript fits.
    let run = app
        .state
        .cells
        .iter()
        .position(|c| matches!(&c.kind, super::super::state::CellKind::Tool(t) if t.name == "run"))
        .expect("a run call");
    // The cursor starts on the newest cell; it stops at the first.
    for _ in 0..=cells.len() {
        app.handle_key(key('k'));
    }
    assert_eq!(app.panel::<TranscriptPanel>().view.cursor, Some(cells[0]));
    app.handle_key(key('j'));
    assert_eq!(app.panel::<TranscriptPanel>().view.cursor, Some(cells[1]));
    for _ in 1..run {
        app.handle_key(code(KeyCode::Down));
    }
    assert_eq!(app.panel::<TranscriptPanel>().view.cursor, Some(cells[run]));
    app.handle_key(code(KeyCode::Enter));
    assert!(app.panel::<TranscriptPanel>().view.expanded.contains(&cells[run]), "Enter expands the selected cell");
    assert!(draw(&mut app, 200, 50).contains("output"), "the expanded call shows its output");
    app.handle_key(key('k'));
    assert_eq!(app.panel::<TranscriptPanel>().view.cursor, Some(cells[run - 1]));
    app.handle_key(key('y'));
    let copied = app.clipboard.take().expect("y copies");
    assert_eq!(copied, app.state.cells[run - 1].search_text());
    assert!(app.message().is_some_and(|m| m.starts_with("copied")));
    // Past the newest cell the transcript follows again.
    for _ in 0..cells.len() {
        app.handle_key(key('j'));
    }
    assert_eq!(app.panel::<TranscriptPanel>().view.cursor, None);
    assert!(app.panel::<TranscriptPanel>().view.following());
}

#[test]
fn a_click_in_the_transcript_selects_the_cell_under_it() {
    let (mut app, _rx) = live_app(&demo_session());
    let screen = draw(&mut app, 200, 50);
    // Below the title, which names the task too.
    let row = screen.lines().skip(1).position(|l| l.contains("Fix the add function")).expect("the task on screen") as u16 + 1;
    let area = app.screen.slots.iter().find(|s| s.shown == PanelId::Transcript).map(|s| s.area).unwrap_or_default();
    app.handle_event(TermEvent::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: area.x + 3,
        row,
        modifiers: KeyModifiers::NONE,
    }));
    let id = app.panel::<TranscriptPanel>().view.cursor.expect("a cell selected");
    let cell = app.state.cells.iter().find(|c| c.id == id).expect("the cell");
    assert!(cell.search_text().contains("Fix the add function"), "{:?}", cell.kind);
}

#[test]
fn search_scrolls_to_the_current_match_and_draws_it_apart_from_the_others() {
    let (mut app, _rx) = live_app(&long_session(300));
    app.opts.theme = crate::config::theme::load_theme("default", None).0;
    let current_bg = app.opts.theme.style("ui.search.current").bg;
    let draw_buf = |app: &mut App| {
        let mut t = Terminal::new(TestBackend::new(100, 30)).expect("backend");
        t.draw(|f| app.render(f)).expect("draw");
        t.backend().buffer().clone()
    };
    draw_buf(&mut app);
    app.handle_key(key('/'));
    for c in "step 5".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(code(KeyCode::Enter));
    let first = draw_buf(&mut app);
    let marked = |b: &ratatui::buffer::Buffer| {
        (0..b.area.height).filter(|y| (0..b.area.width).any(|x| b[(x, *y)].bg == current_bg.unwrap_or_default())).count()
    };
    assert!(current_bg.is_some());
    assert_eq!(marked(&first), 1, "exactly one row holds the current match");
    let row_of = |b: &ratatui::buffer::Buffer| {
        (0..b.area.height).find(|y| (0..b.area.width).any(|x| b[(x, *y)].bg == current_bg.unwrap_or_default()))
    };
    let at = row_of(&first);
    app.handle_key(key('n'));
    let second = draw_buf(&mut app);
    assert_eq!(marked(&second), 1);
    assert!(
        app.panel::<TranscriptPanel>().search.status(None).contains("match 2/"),
        "{}",
        app.panel::<TranscriptPanel>().search.status(None)
    );
    // The view moved to the next match: the screen changed and the current match is on it.
    assert_ne!(first, second);
    assert!(row_of(&second).is_some() && (row_of(&second) != at || first != second));
}

#[test]
fn after_the_run_ends_the_hints_offer_no_run_controls() {
    let (mut app, _rx) = live_app(&finished_session());
    for panel in ['1', '5'] {
        app.handle_key(key(panel));
        let hints: Vec<String> = app.hints().into_iter().map(|(_, d)| d).collect();
        for gone in [
            "Pause or resume the agent",
            "Write a correction for the agent",
            "Stop the agent",
            "Accept the work as done (overrides the verifier)",
            "Reject the work with a note for the agent",
        ] {
            assert!(!hints.iter().any(|h| h == gone), "{gone} offered after the end: {hints:?}");
        }
        assert!(hints.iter().any(|h| h == "Quit") && hints.iter().any(|h| h == "Show the keys"));
    }
    // Pressing one says why instead of doing anything.
    app.handle_key(key('p'));
    assert!(app.message().is_some_and(|m| m.contains("nothing to pause")), "{:?}", app.message());
}
