#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! A rebuild the supervisor reviews, driven through `Command`s: read the proposal, edit a
//! checkpoint field, pin an old message, drop a section, approve; veto until the window is
//! full and the rebuild applies without asking. And what happens when the user's words alone
//! do not fit.

mod common;

use common::{Scripted, finish, logged_events, wait_for};
use endure::agent::Supervision;
use endure::model::scripted::{Answer, Scenario, ScriptedCall};
use endure::protocol::{Command, Event, EventKind, Outcome, RebuildEdit, RebuildSection};
use serde_json::json;

const TASK: &str = "Advance the counter to 60, one step at a time";

fn read(i: usize) -> Answer {
    Answer {
        text: format!("Step {i}: reading the next part."),
        tool_calls: vec![ScriptedCall {
            name: "read_file".into(),
            arguments: Some(json!({"path": "part.txt"}).to_string()),
            ..Default::default()
        }],
        usage: None,
    }
}

fn done() -> Answer {
    Answer {
        text: "Finished.".into(),
        tool_calls: vec![ScriptedCall {
            name: "done".into(),
            arguments: Some(json!({"summary": "counted"}).to_string()),
            ..Default::default()
        }],
        usage: None,
    }
}

fn writer(k: usize) -> Answer {
    let cp = json!({
        "active_intent": TASK,
        "next_action": format!("read part {k}"),
        "directives": ["Log every step."],
        "task_tree": ["count"],
        "current_work": format!("part {k}"),
        "files": ["part.txt: the input"],
        "knowledge": [], "errors_and_fixes": [], "live_resources": "", "decisions": [], "open_notes": ""
    });
    Answer { text: cp.to_string(), ..Default::default() }
}

fn part() -> String {
    (0..24).map(|i| format!("line {i}: the counter advances by one and the step is logged\n")).collect()
}

fn session(steps: usize) -> Scripted {
    let mut agent: Vec<Answer> = (0..steps).map(read).collect();
    agent.push(done());
    let sc = Scenario { agent, writer: (0..200).map(writer).collect(), ..Default::default() };
    let memory = "# Memory\n\n## Rules\n- Log every step <!-- from: s0 -->\n\n## Architecture decisions\n\n## Verified knowledge\n\n## Patterns\n\n## Gotchas\n";
    let mut s = Scripted::with_scenario(&[("part.txt", &part()), ("MEMORY.md", memory)], &sc);
    s.opts.context_budget = Some(12_000);
    s.opts.stall_after = Some(0);
    s
}

struct Proposal {
    id: u64,
    revision: u32,
    total: u64,
    limit: u64,
    fill: u32,
    sections: Vec<RebuildSection>,
    old: Vec<endure::protocol::OldUnit>,
}

fn proposal(e: &Event) -> Proposal {
    let EventKind::RebuildProposed { id, revision, total_tokens, limit_tokens, fill_pct, sections, old_window, .. } = &e.kind else {
        panic!("not a proposal: {}", e.kind.name())
    };
    Proposal {
        id: *id,
        revision: *revision,
        total: *total_tokens,
        limit: *limit_tokens,
        fill: *fill_pct,
        sections: sections.clone(),
        old: old_window.clone(),
    }
}

impl Proposal {
    fn section(&self, key: &str) -> &RebuildSection {
        self.sections.iter().find(|s| s.key == key).unwrap_or_else(|| panic!("no section {key}"))
    }
    fn in_tail(&self) -> usize {
        self.old.iter().filter(|u| u.in_tail).count()
    }
}

fn is_proposal(k: &EventKind) -> bool {
    matches!(k, EventKind::RebuildProposed { .. })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_supervisor_edits_pins_drops_and_approves_then_vetoes_until_the_window_is_full() {
    let mut s = session(90);
    s.opts.review_rebuilds = Some(true);
    let mut handle = s.spawn(TASK, Supervision::Supervised);
    let log = handle.log_path.clone();
    let mut rx = handle.take_events();
    let send = |edit: RebuildEdit, id: u64| handle.commands.send(Command::ReviewRebuild { id, edit }).unwrap();

    // The proposal: every section with its tokens and cap, and the old window to pin from.
    let p0 = proposal(&wait_for(&mut rx, "a proposal", is_proposal).await);
    assert_eq!(p0.revision, 0);
    let keys: Vec<&str> = p0.sections.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(&keys[..3], ["users_words", "corrections", "memory"]);
    assert_eq!(&keys[keys.len() - 3..], ["tasks", "tail", "reminder"]);
    assert_eq!(keys.iter().filter(|k| k.starts_with("checkpoint.")).count(), 11);
    assert!(p0.section("users_words").text.contains(TASK) && !p0.section("users_words").droppable);
    assert!(p0.total <= p0.limit && p0.limit == 6_000, "{} of {}", p0.total, p0.limit);
    for s in &p0.sections {
        assert!(s.tokens <= s.cap, "{}: {} over its cap {}", s.key, s.tokens, s.cap);
    }
    assert!(p0.old.iter().any(|u| !u.in_tail), "some of the old window is left out");

    // Edit a field: recorded, and in the proposal.
    let edited = "Read part 7 next; the counter must reach 60.";
    send(RebuildEdit::EditField { field: "next_action".into(), text: edited.into() }, p0.id);
    let p1 = proposal(&wait_for(&mut rx, "revision 1", is_proposal).await);
    assert_eq!(p1.revision, 1);
    assert!(p1.section("checkpoint.next_action").edited && p1.section("checkpoint.next_action").text == edited);

    // Pin an old message that is not carried: the tail shrinks, the total stays within the limit.
    let unit = p1.old.iter().filter(|u| !u.in_tail && !u.pinned).max_by_key(|u| u.tokens).expect("a dropped unit").clone();
    send(RebuildEdit::Pin { unit: unit.index }, p0.id);
    let p2 = proposal(&wait_for(&mut rx, "revision 2", is_proposal).await);
    assert!(p2.old.iter().any(|u| u.index == unit.index && u.pinned));
    assert!(p2.in_tail() < p1.in_tail(), "the tail made room: {} then {}", p1.in_tail(), p2.in_tail());
    assert!(p2.total <= p2.limit);

    // Drop MEMORY.md from this window: the total goes down at once.
    send(RebuildEdit::DropSection { section: "memory".into() }, p0.id);
    let p3 = proposal(&wait_for(&mut rx, "revision 3", is_proposal).await);
    assert!(p3.section("memory").dropped && p3.total < p2.total, "{} then {}", p2.total, p3.total);

    // The user's words cannot be dropped: refused, nothing changes.
    send(RebuildEdit::DropSection { section: "users_words".into() }, p0.id);
    wait_for(&mut rx, "the refusal", |k| matches!(k, EventKind::Warning { message } if message.contains("user's own words"))).await;

    send(RebuildEdit::Approve, p0.id);
    let rollover = wait_for(&mut rx, "the approved rollover", |k| matches!(k, EventKind::Rollover { .. })).await;
    let EventKind::Rollover { window, review, origins, .. } = &rollover.kind else { unreachable!() };
    let review = review.as_ref().expect("the review is recorded");
    assert_eq!(review.proposal, Some(p0.id));
    assert!(!review.forced);
    assert_eq!(review.edits.len(), 3, "{:?}", review.edits);
    let header = serde_json::to_string(&window[0]).unwrap();
    assert!(header.contains(edited) && header.contains(TASK) && !header.contains("## Project memory"), "{header}");
    assert!(origins.contains(&Some(unit.seq)), "the pinned message is carried verbatim");

    // The next rollover: veto it, again and again; each ask comes at a higher fill, and at
    // 100% the rebuild applies without asking.
    let mut vetoes = 0;
    let mut asked_at = 0;
    let forced = loop {
        let e = wait_for(&mut rx, "a proposal or a rollover", |k| is_proposal(k) || matches!(k, EventKind::Rollover { .. })).await;
        if let EventKind::Rollover { review, .. } = &e.kind {
            break review.clone();
        }
        let p = proposal(&e);
        assert!(p.fill >= asked_at, "asked again at {}% before {}%", p.fill, asked_at);
        send(RebuildEdit::Veto, p.id);
        let v = wait_for(&mut rx, "the veto", |k| matches!(k, EventKind::RebuildVetoed { .. })).await;
        let EventKind::RebuildVetoed { next_pct, fill_pct, .. } = v.kind else { unreachable!() };
        assert!(next_pct > fill_pct && next_pct % 5 == 0, "{fill_pct} → {next_pct}");
        asked_at = next_pct;
        vetoes += 1;
    };
    assert!(vetoes >= 2, "{vetoes} vetoes");
    assert_eq!(forced, Some(endure::protocol::RebuildReview { proposal: None, edits: vec![], forced: true }));

    // Review off: the rest of the run rolls over without waiting.
    handle.commands.send(Command::SetReviewRebuilds(false)).unwrap();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    let events = logged_events(&log);
    assert!(events.iter().any(|e| matches!(e.kind, EventKind::RebuildReviewChanged { on: false })));
    // Vetoes and approved changes are interventions; replay folds to the runtime's state.
    assert_eq!(endure::session::SessionState::from_events(&events), *result.state);
    assert!(result.state.interventions.len() > vetoes, "the approved changes and every veto");
    let workbench = endure::tui::state::WorkbenchState::from_events(&events);
    assert_eq!(workbench.core.interventions, result.state.interventions, "the workbench counts them the same way");
    assert_eq!(workbench.core.rollovers, result.state.rollovers);
}

#[tokio::test]
async fn headless_rebuilds_never_wait_and_say_so() {
    let mut s = session(40);
    s.opts.review_rebuilds = Some(true);
    let handle = s.spawn(TASK, Supervision::Headless);
    let log = handle.log_path.clone();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    let events = logged_events(&log);
    assert!(
        events.iter().any(
            |e| matches!(&e.kind, EventKind::Warning { message } if message.contains("--review-rebuilds works in the workbench only"))
        )
    );
    assert!(!events.iter().any(|e| is_proposal(&e.kind)));
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::Rollover { review: None, .. })));
}

#[tokio::test]
async fn user_words_too_large_for_a_rebuilt_window_are_an_error_never_a_cut() {
    // A task far larger than a rebuilt window's room (min(65,000, budget/2) minus the system
    // prompt): no window can hold it whole.
    let task = format!("{TASK}. Details: {}", "each step must be logged with its number and time. ".repeat(500));
    let s = session(40);
    let handle = s.spawn(&task, Supervision::Headless);
    let log = handle.log_path.clone();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Failed, "{}", result.reason);
    assert!(result.reason.contains("never cut"), "{}", result.reason);
    let events = logged_events(&log);
    let failed = events.iter().find_map(|e| match &e.kind {
        EventKind::RebuildFailed { needed_tokens, room_tokens, .. } => Some((*needed_tokens, *room_tokens)),
        _ => None,
    });
    let (needed, room) = failed.expect("a rebuild_failed event");
    assert!(needed > room, "{needed} > {room}");
    assert!(!events.iter().any(|e| matches!(e.kind, EventKind::Rollover { .. })), "no window with the task cut");
}
