use super::*;
use crate::tui::testkit::{default_keymap, demo_session, finished_session, long_session, t0};
use crossterm::event::{KeyEvent, MouseEvent};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use tokio::sync::mpsc;

fn opts() -> WorkbenchOptions {
    WorkbenchOptions { keymap: default_keymap(), title: "endure — test".into(), ..WorkbenchOptions::default() }
}

fn live_app(events: &[Event]) -> (App, mpsc::UnboundedReceiver<Command>) {
    let (tx, rx) = mpsc::unbounded_channel();
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
    assert!(matches!(app.overlay, Overlay::Confirm(ConfirmKind::Quit)));
    app.handle_key(key('n'));
    assert!(!app.should_quit, "any other key cancels");
    assert!(matches!(app.overlay, Overlay::None));
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
    app.apply_event(&Event { seq: 99, ts: t0(), kind: EventKind::Paused { reason: crate::protocol::PauseReason::Supervisor } });
    app.handle_key(key('p'));
    assert_eq!(rx.try_recv().ok(), Some(Command::Resume));
    app.handle_key(key('s'));
    assert!(rx.try_recv().is_err(), "stop waits for confirmation");
    app.handle_key(key('y'));
    assert_eq!(rx.try_recv().ok(), Some(Command::Stop));
}

#[test]
fn inject_editor_sends_and_shows_pending_until_queued() {
    let (mut app, mut rx) = live_app(&demo_session());
    app.handle_key(key('i'));
    assert!(matches!(app.overlay, Overlay::Editor(EditorKind::Inject, _)));
    for c in "use v2".chars() {
        app.handle_key(key(c));
    }
    app.handle_event(TermEvent::Paste("\nplease".into()));
    app.handle_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    assert_eq!(rx.try_recv().ok(), Some(Command::Inject("use v2\nplease".into())));
    assert_eq!(app.pending, vec!["use v2\nplease".to_string()]);
    assert!(draw(&mut app, 100, 30).contains("sending"));
    app.apply_event(&Event { seq: 99, ts: t0(), kind: EventKind::CorrectionQueued { id: 2, text: "use v2\nplease".into() } });
    assert!(app.pending.is_empty());
    app.handle_key(key('i'));
    app.handle_key(code(KeyCode::Esc));
    assert!(matches!(app.overlay, Overlay::None));
    assert!(rx.try_recv().is_err());
}

#[test]
fn task_editor_opens_without_a_task_and_sends_start() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut app = App::live(opts(), &[], tx, true);
    assert!(matches!(app.overlay, Overlay::Editor(EditorKind::Task, _)));
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
    assert_eq!(app.flash.as_deref(), Some("read-only replay"));
    app.handle_key(key('i'));
    assert!(matches!(app.overlay, Overlay::None));
    assert_eq!(app.flash.as_deref(), Some("read-only replay"));
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
    app.handle_key(code(KeyCode::Tab));
    assert_eq!(app.focus, PanelId::Tasks);
    app.handle_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    app.handle_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(app.focus, PanelId::Verifier);
    app.handle_key(key('3'));
    assert_eq!(app.focus, PanelId::Diff);
    app.handle_key(key('z'));
    assert!(app.maximized);
    let screen = draw(&mut app, 200, 50);
    assert!(screen.contains("3 Diff [max]"));
    assert!(!screen.contains("1 Transcript"));
    app.handle_key(key('z'));
    app.handle_key(key('h'));
    assert!(app.hidden.contains(&PanelId::Diff));
    assert_eq!(app.focus, PanelId::Checkpoints);
    assert!(!draw(&mut app, 200, 50).contains("3 Diff"));
    app.handle_key(key('3'));
    assert!(!app.hidden.contains(&PanelId::Diff), "focusing a hidden panel shows it");
    for _ in 0..5 {
        app.handle_key(key('h'));
    }
    assert_eq!(app.visible_panels().len(), 1);
    assert!(app.flash.is_some());
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
    assert!(app.transcript.following());
    app.handle_key(key('k'));
    assert!(!app.transcript.following());
    let before = draw(&mut app, 100, 30);
    assert!(!before.contains("new"));
    for e in &events[100..110] {
        app.apply_event(e);
    }
    let after = draw(&mut app, 100, 30);
    let n = app.transcript.new_since_scroll(&app.state, &app.pending);
    assert!(n > 0);
    assert!(after.contains(&format!("↓ {n} new")), "{after}");
    assert_eq!(before.lines().nth(3), after.lines().nth(3), "the view stays where the user put it");
    app.handle_key(key('G'));
    assert!(app.transcript.following());
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
    assert!(screen.contains(&format!("step {}", app.state.step)), "{screen}");
}

#[test]
fn search_finds_hits_and_n_moves_between_them() {
    let (mut app, _rx) = live_app(&demo_session());
    draw(&mut app, 100, 30);
    app.handle_key(key('/'));
    for c in "cargo test".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(code(KeyCode::Enter));
    assert_eq!(app.search.hits.len(), 2);
    assert_eq!(app.search.current, Some(0));
    let first = app.search.hits[0];
    app.handle_key(key('n'));
    assert_eq!(app.search.current, Some(1));
    app.handle_key(key('n'));
    assert_eq!(app.search.current, Some(0), "wraps around");
    app.handle_key(KeyEvent::new(KeyCode::Char('N'), KeyModifiers::SHIFT));
    assert_eq!(app.search.current, Some(1));
    assert_ne!(first, app.search.hits[1]);
    let screen = draw(&mut app, 100, 30);
    assert!(screen.contains("match 2/2"), "{screen}");
    app.handle_key(code(KeyCode::Esc));
    assert!(app.search.query.is_empty());
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
fn wrap_cache_is_reused_between_frames() {
    let (mut app, _rx) = live_app(&long_session(1000));
    draw(&mut app, 120, 40);
    let misses = app.transcript.cache.misses;
    let hits = app.transcript.cache.hits;
    draw(&mut app, 120, 40);
    assert_eq!(app.transcript.cache.misses, misses, "nothing is laid out twice");
    assert!(app.transcript.cache.hits > hits);
    assert!(misses < 40, "only what is on screen is laid out, not 1000 events: {misses}");
    draw(&mut app, 90, 40);
    assert!(app.transcript.cache.misses > misses, "a new width lays out again");
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
    app.handle_key(key('3'));
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
    assert!(matches!(app.overlay, Overlay::None));
}

#[test]
fn status_bar_hints_come_from_the_keymap() {
    let (mut app, _rx) = live_app(&demo_session());
    app.handle_key(key('3'));
    let screen = draw(&mut app, 200, 50);
    let hints = screen.lines().last().unwrap_or_default().trim_matches('"');
    // The bundled keymap's notations and descriptions, help first.
    assert!(hints.starts_with(" ? Show the keys  p Pause or resume the agent"), "{hints}");
    assert!(hints.contains("D This change or the whole session"), "{hints}");
    assert!(hints.contains("<Space> Expand or collapse the file"), "{hints}");

    // At 80 columns only whole hints are shown, never one cut after its key.
    let narrow = draw(&mut app, 80, 24);
    let hints = narrow.lines().last().unwrap_or_default().trim_matches('"').trim_end();
    assert!(hints.ends_with("p Pause or resume the agent"), "the next hint does not fit whole: {hints}");
    let status = narrow.lines().nth_back(1).unwrap_or_default();
    assert!(status.contains("50%"), "the gauge keeps its percentage at 80 columns: {status}");

    // A panel key that does nothing there is not advertised.
    app.handle_key(key('4'));
    let hints = draw(&mut app, 200, 50);
    assert!(!hints.contains("Expand or collapse the checkpoint"), "{hints}");
}

#[test]
fn help_shows_bundled_notations_and_descriptions() {
    let (mut app, _rx) = live_app(&demo_session());
    let lines: Vec<String> =
        crate::tui::view::help_lines(&app).iter().map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect()).collect();
    let find = |desc: &str| lines.iter().find(|l| l.ends_with(desc)).map(|l| l.split_whitespace().next().unwrap_or_default().to_string());
    assert_eq!(find("Pause or resume the agent").as_deref(), Some("p"), "{lines:#?}");
    assert_eq!(find("Send the correction").as_deref(), Some("<C-s>"), "{lines:#?}");
    assert_eq!(find("This change or the whole session").as_deref(), Some("D"), "{lines:#?}");
    app.handle_key(key('?'));
    let screen = draw(&mut app, 100, 50);
    assert!(screen.contains("p           Pause or resume the agent"), "{screen}");
}
