use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};

use super::*;
use crate::protocol::{Event, EventKind, PauseReason, Role, WorkflowCaps};
use crate::tui::WorkbenchOptions;
use crate::tui::app::{App, Clock};
use crate::tui::testkit::{CommandRx, EventSeq, command_channel, default_keymap, session_info, t0};

pub const SCRIPT: &str = "phase(\"prep\");\n\
const plan = await agent(\"Plan the review\", {label: \"planner\"});\n\
phase(\"review\");\n\
const reviews = await parallel([\n\
  () => agent(\"Review the parser\", {label: \"reviewer-a\"}),\n\
  () => agent(\"Review the printer\", {label: \"reviewer-b\"}),\n\
]);\n\
phase(\"synthesis\");\n\
return await agent(\"Synthesize\", {label: \"synth\"});";

fn usage(p: u64, c: u64, cost: f64) -> AgentUsage {
    AgentUsage { prompt_tokens: p, completion_tokens: c, cost_usd: cost }
}

fn sub(s: &mut EventSeq, agent: u64, kind: EventKind) {
    let event = Box::new(Event { seq: 0, ts: t0(), command_id: None, kind });
    s.push(EventKind::SubagentEvent { run: 1, agent, event });
}

/// `endure workflow run review.js` in the middle of its review phase: the planner done,
/// reviewer-a running (its session seen live), reviewer-b paused.
pub fn workflow_session() -> Vec<Event> {
    let mut s = EventSeq::new();
    s.push(EventKind::SessionStarted { info: Box::new(session_info("workflow review.js")) });
    s.push(EventKind::WorkflowStarted {
        run: 1,
        name: "review.js".into(),
        script: "workflows/1/script.js".into(),
        args: Value::Null,
        call_id: None,
        resumed: false,
        source: SCRIPT.into(),
    });
    s.push(EventKind::WorkflowBudget { run: 1, caps: WorkflowCaps { tokens: Some(50_000), cost: Some(1.0), agents: Some(5) } });
    s.push(EventKind::WorkflowPhase { run: 1, name: "prep".into() });
    let queued = |agent: u64, label: &str, phase: &str, line: u32| EventKind::AgentQueued {
        run: 1,
        agent,
        label: label.into(),
        phase: Some(phase.into()),
        prompt: format!("{label}'s task"),
        line: Some(line),
    };
    let started = |agent: u64, label: &str, line: u32| EventKind::AgentStarted {
        run: 1,
        agent,
        label: label.into(),
        log: format!(".endure/sessions/demo-1/agents/{agent}/events.jsonl"),
        isolation: None,
        resumed: false,
        line: Some(line),
    };
    s.push(queued(1, "planner", "prep", 2));
    s.push(started(1, "planner", 2));
    s.push(EventKind::AgentStep { run: 1, agent: 1, step: 1, action: "done".into(), usage: usage(1_000, 200, 0.002) });
    s.push(EventKind::AgentFinished {
        run: 1,
        agent: 1,
        label: "planner".into(),
        result: json!("look at the parser and the printer"),
        steps: 1,
        usage: usage(1_000, 200, 0.002),
        journaled: false,
    });
    s.push(EventKind::WorkflowPhase { run: 1, name: "review".into() });
    s.push(queued(2, "reviewer-a", "review", 5));
    s.push(queued(3, "reviewer-b", "review", 6));
    s.push(started(2, "reviewer-a", 5));
    s.push(started(3, "reviewer-b", 6));
    sub(&mut s, 2, EventKind::SessionStarted { info: Box::new(session_info("Review the parser")) });
    sub(&mut s, 2, EventKind::UserMessage { text: "Review the parser".into() });
    sub(&mut s, 2, EventKind::StepStarted { step: 1 });
    sub(
        &mut s,
        2,
        EventKind::AssistantMessage { step: 1, text: "The parser drops trailing commas.".into(), tool_calls: vec![], blocks: vec![] },
    );
    sub(&mut s, 2, EventKind::StepFinished { step: 1 });
    s.push(EventKind::AgentStep { run: 1, agent: 2, step: 1, action: "read src/parser.rs".into(), usage: usage(2_000, 300, 0.004) });
    s.push(EventKind::AgentPaused { run: 1, agent: 3, reason: PauseReason::Supervisor });
    s.events
}

fn opts() -> WorkbenchOptions {
    WorkbenchOptions { keymap: default_keymap(), title: "endure workflow — test".into(), ..WorkbenchOptions::default() }
}

fn live_app(events: &[Event]) -> (App, CommandRx) {
    let (tx, rx) = command_channel();
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
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| app.render(f)).unwrap();
    t.backend().to_string()
}

/// Moves the Workflow panel's selection to agent `n`.
fn select(app: &mut App, n: u64) {
    let i = rows(&app.state.workflow).iter().position(|r| *r == Row::Agent(n)).unwrap();
    app.handle_key(key('g'));
    for _ in 0..i {
        app.handle_key(key('j'));
    }
}

#[test]
fn the_fold_builds_phases_agents_and_totals() {
    let state = crate::tui::state::WorkbenchState::from_events(&workflow_session());
    let w = &state.workflow;
    let r = w.run(1).unwrap();
    assert_eq!(r.phases, ["prep", "review"]);
    type Tree<'a> = Vec<(Option<&'a str>, Vec<(u64, AgentStatus)>)>;
    let tree: Tree =
        w.tree(r).into_iter().map(|(p, a)| (p, a.iter().map(|a| (a.n, a.status)).collect())).collect();
    assert_eq!(
        tree,
        vec![
            (Some("prep"), vec![(1, AgentStatus::Done)]),
            (Some("review"), vec![(2, AgentStatus::Running), (3, AgentStatus::Paused)])
        ]
    );
    assert_eq!(w.spent(r), usage(3_000, 500, 0.006));
    assert_eq!(w.counts(r), [0, 1, 1, 1, 0]);
    // The running reviewer's own session, from its subagent events only.
    let a = &w.agents[&2];
    assert_eq!((a.step, a.action.as_str(), a.line), (1, "read src/parser.rs", Some(5)));
    assert!(a.view.cells.iter().any(|c| c.search_text().contains("drops trailing commas")));
    // Pending awaits: the two reviewers' lines; the planner's await has settled.
    let lines: Vec<(u32, u64)> = pending_lines(w, r).into_iter().map(|(l, a)| (l, a.n)).collect();
    assert_eq!(lines, [(5, 2), (6, 3)]);
}

#[test]
fn the_panel_appears_and_takes_the_focus_when_the_sessions_workflow_starts() {
    let (app, _rx) = live_app(&crate::tui::testkit::demo_session());
    assert!(app.hidden.contains(&ID), "no workflow: the panel waits hidden");
    let (app, _rx) = live_app(&workflow_session());
    assert!(!app.hidden.contains(&ID));
    assert_eq!(app.focus, ID);
}

#[test]
fn tree_snapshot() {
    let (mut app, _rx) = live_app(&workflow_session());
    app.handle_key(key('z'));
    select(&mut app, 2);
    insta::assert_snapshot!("workflow_tree", draw(&mut app, 110, 16));
}

#[test]
fn script_view_marks_each_pending_await() {
    let (mut app, _rx) = live_app(&workflow_session());
    app.handle_key(key('z'));
    app.handle_key(key('v'));
    assert!(app.panel::<WorkflowPanel>().showing_script());
    let screen = draw(&mut app, 110, 16);
    insta::assert_snapshot!("workflow_script", screen);
    let marked: Vec<&str> = screen.lines().filter(|l| l.contains("│▶")).collect();
    assert_eq!(marked.len(), 2, "{screen}");
    assert!(marked[0].contains("5 │") && marked[0].contains("#2 reviewer-a running"), "{screen}");
    assert!(marked[1].contains("6 │") && marked[1].contains("#3 reviewer-b paused"), "{screen}");
}

#[test]
fn pause_resume_and_stop_act_on_the_selected_agent_or_the_run() {
    let (mut app, mut rx) = live_app(&workflow_session());
    select(&mut app, 2);
    app.handle_key(key('p'));
    assert_eq!(rx.try_recv().ok(), Some(Command::ToAgent { target: 2, command: Box::new(Command::Pause) }));
    select(&mut app, 3);
    app.handle_key(key('p'));
    assert_eq!(rx.try_recv().ok(), Some(Command::ToAgent { target: 3, command: Box::new(Command::Resume) }), "agent 3 is paused");
    app.handle_key(key('s'));
    assert_eq!(rx.try_recv().ok(), Some(Command::ToAgent { target: 3, command: Box::new(Command::Stop) }));
    // A finished agent has nothing to pause; the key says why instead of sending.
    select(&mut app, 1);
    app.handle_key(key('p'));
    assert!(rx.try_recv().is_err());
    assert_eq!(app.error.as_deref(), Some("agent 1 is done"));
    // The run's own row: the whole run.
    app.handle_key(key('g'));
    app.handle_key(key('p'));
    assert_eq!(rx.try_recv().ok(), Some(Command::Pause));
    app.handle_key(key('s'));
    assert!(matches!(app.layers.top(), crate::tui::app::Overlay::Confirm(ConfirmKind::Stop)), "stopping the run asks first");
    app.handle_key(key('y'));
    assert_eq!(rx.try_recv().ok(), Some(Command::Stop));
}

#[test]
fn drilling_in_scopes_the_panels_and_the_commands_to_that_agent() {
    let (mut app, mut rx) = live_app(&workflow_session());
    select(&mut app, 2);
    app.handle_key(code(KeyCode::Enter));
    assert_eq!(app.state.scope, Some(2));
    // The transcript shows the subagent's session, not the (empty) session's own.
    app.handle_key(key('1'));
    let screen = draw(&mut app, 160, 40);
    assert!(screen.contains("drops trailing commas"), "{screen}");
    assert!(screen.contains("▸ agent 2 [reviewer-a]"), "{screen}");
    // The global pause and a correction go to that agent only.
    app.handle_key(key('p'));
    assert_eq!(rx.try_recv().ok(), Some(Command::ToAgent { target: 2, command: Box::new(Command::Pause) }));
    app.handle_key(key('i'));
    for c in "check the tests".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(code(KeyCode::Enter));
    assert_eq!(
        rx.try_recv().ok(),
        Some(Command::ToAgent { target: 2, command: Box::new(Command::Inject("check the tests".into())) })
    );
    app.handle_key(code(KeyCode::Esc));
    // Other commands would reach the session, not the agent on screen: refused with the reason.
    app.handle_key(key('M'));
    assert!(rx.try_recv().is_err());
    assert!(app.error.as_deref().is_some_and(|e| e.starts_with("agent 2 takes pause, resume, stop and corrections only")), "{:?}", app.error);
    // The subagent's own acknowledgement clears the pending correction.
    let id = rx.ids.last().cloned().unwrap();
    assert_eq!(app.pending.len(), 1);
    let ack = Event { seq: 0, ts: t0(), command_id: Some(id), kind: EventKind::CorrectionQueued { id: 1, text: "check the tests".into() } };
    app.apply_event(&Event {
        seq: 99,
        ts: t0(),
        command_id: None,
        kind: EventKind::SubagentEvent { run: 1, agent: 2, event: Box::new(ack) },
    });
    assert!(app.pending.is_empty());
    // Back to the whole session: commands are the session's again.
    // The Workflow panel is the last one: past the number keys, Tab reaches it.
    for _ in 0..app.visible_panels().len() {
        if app.focus == ID {
            break;
        }
        app.handle_key(code(KeyCode::Tab));
    }
    assert_eq!(app.focus, ID, "{:?} {:?}", app.layers.top(), app.error);
    app.handle_key(code(KeyCode::Esc));
    assert_eq!(app.state.scope, None, "{:?} {:?}", app.layers.top(), app.error);
    app.handle_key(key('1'));
    app.handle_key(key('p'));
    assert_eq!(rx.try_recv().ok(), Some(Command::Pause));
}

#[test]
fn a_paused_workflow_session_reads_as_paused() {
    let mut events = workflow_session();
    let n = events.len() as u64;
    events.push(Event {
        seq: n,
        ts: t0(),
        command_id: None,
        kind: EventKind::WorkflowPaused { run: 1, reason: "the supervisor paused the run".into() },
    });
    let (mut app, mut rx) = live_app(&events);
    assert!(matches!(app.state.run, crate::tui::state::RunState::Paused(_)));
    app.handle_key(key('1'));
    app.handle_key(key('p'));
    assert_eq!(rx.try_recv().ok(), Some(Command::Resume));
}

#[test]
fn replay_offers_no_commands() {
    let mut app = App::replay(opts(), workflow_session());
    app.set_focus(ID);
    app.handle_key(key('p'));
    assert_eq!(app.error.as_deref(), Some(crate::tui::panel::READ_ONLY));
    let _ = Role::Agent;
}

#[test]
fn the_panel_in_the_wide_layout_snapshot() {
    // The prose column is narrow: each agent keeps its state and step in view.
    let (mut app, _rx) = live_app(&workflow_session());
    let screen = draw(&mut app, 200, 50);
    insta::assert_snapshot!("workflow_wide_layout", screen);
    for (label, state) in [("planner", "done"), ("reviewer-a", "running"), ("reviewer-b", "paused")] {
        assert!(screen.lines().any(|l| l.contains(label) && l.contains(state)), "{label} {state}\n{screen}");
    }
}

#[test]
fn an_agents_workflow_call_shows_the_panel_without_taking_the_focus() {
    let mut events = crate::tui::testkit::demo_session();
    let n = events.len() as u64;
    events.push(Event {
        seq: n,
        ts: t0(),
        command_id: None,
        kind: EventKind::WorkflowStarted {
            run: 1,
            name: "review".into(),
            script: "workflows/1/script.js".into(),
            args: Value::Null,
            call_id: Some("c9".into()),
            resumed: false,
            source: SCRIPT.into(),
        },
    });
    let (mut app, mut rx) = live_app(&events);
    assert!(!app.hidden.contains(&ID));
    assert_eq!(app.focus, crate::tui::panel::PanelId::Transcript, "the agent's transcript keeps the focus");
    // The run's own pause is not the session's: the session reads as the agent's state.
    let mut paused = events.clone();
    paused.push(Event {
        seq: n + 1,
        ts: t0(),
        command_id: None,
        kind: EventKind::WorkflowPaused { run: 1, reason: "the supervisor paused the run".into() },
    });
    let state = crate::tui::state::WorkbenchState::from_events(&paused);
    assert!(!matches!(state.run, crate::tui::state::RunState::Paused(_)));
    // From the run's row, p pauses the whole run (through the session, which forwards it).
    app.set_focus(ID);
    app.handle_key(key('g'));
    app.handle_key(key('p'));
    assert_eq!(rx.try_recv().ok(), Some(Command::Pause));
}
