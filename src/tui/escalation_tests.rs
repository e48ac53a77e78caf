//! The workbench's sandbox view: the policy in the status bar, background processes, and the
//! escalation overlay that approves once or denies with a note.

use chrono::Utc;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::WorkbenchOptions;
use super::app::{App, Clock, EditorKind, Overlay};
use super::testkit::{default_keymap, session_info, t0};
use crate::protocol::{Command, Event, EventKind, SandboxInfo};
use crate::sandbox::{NetworkMode, SandboxMode};

fn ev(seq: u64, kind: EventKind) -> Event {
    Event { command_id: None, seq, ts: Utc::now(), kind }
}

fn started(enforced: bool) -> Event {
    let mut info = session_info("t");
    info.sandbox = Some(SandboxInfo {
        mode: SandboxMode::WorkspaceWrite,
        network: NetworkMode::Off,
        enforced,
        mechanism: if enforced { "bwrap".into() } else { "none".into() },
        missing: if enforced { vec![] } else { vec!["bwrap (install bubblewrap)".into()] },
    });
    ev(0, EventKind::SessionStarted { info: Box::new(info) })
}

fn requested(seq: u64, id: u64) -> Event {
    ev(seq, EventKind::EscalationRequested { id, command: "pip install requests".into(), justification: "the tests import it".into() })
}

fn live(events: &[Event]) -> (App, crate::tui::testkit::CommandRx) {
    let (tx, rx) = crate::tui::testkit::command_channel();
    let opts = WorkbenchOptions { keymap: default_keymap(), ..WorkbenchOptions::default() };
    let mut app = App::live(opts, events, tx, false);
    app.clock = Clock::Fixed(t0());
    (app, rx)
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn draw(app: &mut App) -> String {
    let mut t = Terminal::new(TestBackend::new(200, 30)).unwrap_or_else(|e| panic!("{e}"));
    t.draw(|f| app.render(f)).unwrap_or_else(|e| panic!("{e}"));
    t.backend().to_string()
}

fn drain(rx: &mut crate::tui::testkit::CommandRx) -> Vec<Command> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

#[test]
fn an_escalation_opens_the_overlay_and_is_approved_once() {
    let (mut app, mut rx) = live(&[started(true)]);
    app.apply_event(&requested(1, 1));
    assert!(matches!(app.layers.top(), Overlay::Escalation(1)));
    let screen = draw(&mut app);
    assert!(screen.contains("pip install requests") && screen.contains("the tests import it"), "{screen}");
    app.handle_key(key('x'));
    assert!(drain(&mut rx).is_empty(), "other keys do not answer it");
    app.handle_key(key('y'));
    assert_eq!(drain(&mut rx), [Command::ResolveEscalation { id: 1, approve: true, note: None }]);
    assert!(matches!(app.layers.top(), Overlay::None));
    app.handle_key(key('j'));
    assert!(matches!(app.layers.top(), Overlay::None), "an answered escalation does not come back before the runtime resolves it");
    app.apply_event(&ev(2, EventKind::EscalationResolved { id: 1, approved: true, by: "supervisor".into(), note: None }));
    assert!(app.state.sandbox.escalation.is_none());
    assert_eq!(app.state.core.interventions.len(), 1, "the supervisor's answer is an intervention");
}

#[test]
fn denying_takes_a_note_for_the_agent() {
    let (mut app, mut rx) = live(&[started(true), requested(1, 4)]);
    assert!(matches!(app.layers.top(), Overlay::Escalation(4)));
    app.handle_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    assert!(matches!(app.layers.top(), Overlay::Editor(EditorKind::EscalationNote(4), _)));
    app.handle_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    app.handle_key(key('j'));
    assert!(matches!(app.layers.top(), Overlay::Escalation(4)), "leaving the note goes back to the question");
    app.handle_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));
    for c in "vendor it".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    assert_eq!(drain(&mut rx), [Command::ResolveEscalation { id: 4, approve: false, note: Some("vendor it".into()) }]);
}

#[test]
fn replay_shows_escalations_without_asking() {
    let opts = WorkbenchOptions { keymap: default_keymap(), ..WorkbenchOptions::default() };
    let app = App::replay(opts, vec![started(true), requested(1, 1)]);
    assert!(matches!(app.layers.top(), Overlay::None));
}

#[test]
fn the_status_bar_states_the_policy_and_background_processes() {
    let (mut app, _rx) = live(&[started(true)]);
    app.apply_event(&ev(1, EventKind::ProcessStarted { id: 1, command: "python3 -m http.server".into() }));
    let screen = draw(&mut app);
    assert!(screen.contains("sandbox workspace-write · net off · bg 1"), "{screen}");
    app.apply_event(&ev(2, EventKind::ProcessExited { id: 1, exit_code: None, reason: "killed".into() }));
    assert!(app.state.core.background.is_empty());

    let (mut weak, _rx) = live(&[started(false)]);
    let screen = draw(&mut weak);
    assert!(screen.contains("NOT ENFORCED"), "{screen}");
}

#[test]
fn mcp_servers_show_in_the_status_bar_and_the_transcript() {
    let (mut app, _rx) = live(&[started(true)]);
    let tools = vec!["mcp__everything__echo".to_string()];
    app.apply_event(&ev(1, EventKind::McpServerStarted { name: "everything".into(), transport: "stdio".into(), tools, restarted: false }));
    app.apply_event(&ev(2, EventKind::McpServerFailed { name: "broken".into(), reason: "it exited with code 127".into() }));
    let screen = draw(&mut app);
    assert!(screen.contains("sandbox workspace-write · net off · mcp 1/2"), "{screen}");
    let notices: Vec<String> = app
        .state
        .cells
        .iter()
        .filter_map(|c| match &c.kind {
            super::state::CellKind::Notice { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert!(notices.iter().any(|n| n == "MCP server everything started (stdio, 1 tool)"), "{notices:?}");
    assert!(notices.iter().any(|n| n == "MCP server broken failed: it exited with code 127"), "{notices:?}");
    app.apply_event(&ev(3, EventKind::McpServerExited { name: "everything".into(), reason: "session ended".into() }));
    assert!(draw(&mut app).contains("mcp 0/2"));
}

#[test]
fn mcp_servers_are_folded_with_their_state() {
    use super::sandbox::McpStatus;
    let (mut app, _rx) = live(&[started(true)]);
    let tools = vec!["mcp__fs__read".to_string(), "mcp__fs__write".to_string()];
    let up = |restarted| EventKind::McpServerStarted { name: "fs".into(), transport: "stdio".into(), tools: tools.clone(), restarted };
    app.apply_event(&ev(1, up(false)));
    app.apply_event(&ev(2, EventKind::McpServerFailed { name: "web".into(), reason: "connection refused".into() }));
    let mcp = &app.state.sandbox.mcp;
    assert_eq!(
        (mcp["fs"].status, mcp["fs"].transport.as_str(), mcp["fs"].tools, mcp["fs"].restarted),
        (McpStatus::Running, "stdio", 2, false)
    );
    assert_eq!((mcp["web"].status, mcp["web"].reason.as_deref()), (McpStatus::Failed, Some("connection refused")));
    assert_eq!(mcp["web"].transport, "", "a server that never started has no transport");

    // A crash waits for its one restart; the restart is shown as such.
    app.apply_event(&ev(3, EventKind::McpServerExited { name: "fs".into(), reason: "exited with code 1".into() }));
    let fs = &app.state.sandbox.mcp["fs"];
    assert_eq!((fs.status, fs.reason.as_deref(), fs.tools), (McpStatus::Exited, Some("exited with code 1"), 2));
    app.apply_event(&ev(4, up(true)));
    let fs = &app.state.sandbox.mcp["fs"];
    assert_eq!((fs.status, fs.restarted, fs.reason.as_deref()), (McpStatus::Running, true, None));

    // endure ending it is not a crash.
    app.apply_event(&ev(5, EventKind::McpServerExited { name: "fs".into(), reason: "session ended".into() }));
    assert_eq!(app.state.sandbox.mcp["fs"].status, McpStatus::Stopped);
}
