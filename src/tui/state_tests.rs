use super::*;
use crate::protocol::{Feedback, RoleModels};
use crate::tui::testkit::{EventSeq, demo_session, finished_session, session_info, t0};
use serde_json::json;

fn ev(kind: EventKind) -> Event {
    Event { command_id: None, seq: 0, ts: t0(), kind }
}

fn state_of(kinds: Vec<EventKind>) -> WorkbenchState {
    let mut s = EventSeq::new();
    for k in kinds {
        s.push(k);
    }
    WorkbenchState::from_events(&s.events)
}

#[test]
fn session_started_sets_running_and_clock() {
    let s = state_of(vec![EventKind::SessionStarted { info: Box::new(session_info("t")) }]);
    assert_eq!(s.run, RunState::Running);
    assert_eq!(s.started_at(), Some(t0()));
    assert_eq!(s.session().map(|i| i.task.as_str()), Some("t"));
    let _ = RoleModels { agent: String::new(), writer: String::new(), verifier: String::new(), judge: String::new() };
}

#[test]
fn deltas_stream_and_a_new_attempt_resets_them() {
    let mut s = state_of(vec![
        EventKind::SessionStarted { info: Box::new(session_info("t")) },
        EventKind::ModelRequest { role: Role::Agent, step: 1, attempt: 1 },
        EventKind::AssistantDelta { role: Role::Agent, text: "Hel".into() },
        EventKind::AssistantDelta { role: Role::Agent, text: "lo".into() },
        EventKind::AssistantDelta { role: Role::Writer, text: "not mine".into() },
    ]);
    assert_eq!(s.streaming.text, "Hello");
    assert_eq!(s.run, RunState::WaitingForModel);
    s.apply(&ev(EventKind::ModelRequest { role: Role::Agent, step: 1, attempt: 2 }));
    assert_eq!(s.streaming.text, "");
    s.apply(&ev(EventKind::AssistantDelta { role: Role::Agent, text: "Again".into() }));
    s.apply(&ev(EventKind::AssistantMessage { step: 1, text: "Again, done".into(), tool_calls: vec![], blocks: vec![] }));
    assert_eq!(s.streaming.text, "");
    assert_eq!(s.run, RunState::Running);
    assert!(matches!(&s.cells.last().map(|c| &c.kind), Some(CellKind::Assistant { text, step: 1 }) if text == "Again, done"));
}

#[test]
fn tool_call_then_result_updates_one_cell() {
    let mut s = state_of(vec![EventKind::ToolCall { step: 1, call_id: "a".into(), name: "run".into(), args: json!({"command": "make"}) }]);
    assert_eq!(s.cells.len(), 1);
    assert_eq!(s.running_tools(), 1);
    s.apply(&ev(EventKind::ToolResult {
        step: 1,
        call_id: "a".into(),
        name: "run".into(),
        ok: false,
        exit_code: Some(2),
        duration_ms: 1500,
        output: "boom".into(),
        feedback: Feedback { tests: Some(TestCounts { passed: 3, failed: 1, skipped: 0 }), ..Feedback::default() },
    }));
    assert_eq!(s.cells.len(), 1);
    assert_eq!(s.running_tools(), 0);
    let CellKind::Tool(t) = &s.cells[0].kind else { panic!("tool cell expected") };
    assert_eq!(t.status, ToolStatus::Failed);
    assert_eq!(t.target(), "make");
    assert_eq!(t.tests.map(|c| (c.passed, c.failed)), Some((3, 1)));
    assert_eq!(s.cells[0].revision, 1);
}

#[test]
fn correction_is_queued_then_delivered() {
    let mut s = state_of(vec![EventKind::CorrectionQueued { id: 7, text: "use v2".into() }]);
    assert!(matches!(s.cells[0].kind, CellKind::Correction { delivered_at: None, .. }));
    s.apply(&ev(EventKind::CorrectionDelivered { id: 7, step: 4 }));
    assert!(matches!(s.cells[0].kind, CellKind::Correction { delivered_at: Some(4), .. }));
}

#[test]
fn usage_accumulates_and_context_follows_the_agent() {
    let s = state_of(vec![
        EventKind::Usage {
            role: Role::Agent,
            prompt_tokens: 100,
            completion_tokens: 10,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            cost_usd: 0.5,
            estimated: false,
            priced: true,
            overhead: false,
        },
        EventKind::Usage {
            role: Role::Writer,
            prompt_tokens: 900,
            completion_tokens: 20,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            cost_usd: 0.25,
            estimated: true,
            priced: true,
            overhead: false,
        },
    ]);
    assert_eq!((s.totals().tokens_in, s.totals().tokens_out), (1000, 30));
    assert!((s.totals().cost_usd - 0.75).abs() < 1e-9);
    assert!(s.totals().estimated);
    // The runtime counts the window as the last prompt plus its answer.
    assert_eq!(s.context_tokens(), 110);
}

#[test]
fn pause_resume_stall_and_finish_drive_the_run_state() {
    let mut s = state_of(vec![EventKind::SessionStarted { info: Box::new(session_info("t")) }]);
    s.apply(&ev(EventKind::Paused { reason: PauseReason::Supervisor }));
    assert_eq!(s.run.label(), "paused");
    s.apply(&ev(EventKind::Resumed));
    assert_eq!(s.run, RunState::Running);
    s.apply(&ev(EventKind::Stall { tool_calls: 12 }));
    assert_eq!(s.run, RunState::Stalled);
    s.apply(&ev(EventKind::StepStarted { step: 5 }));
    assert_eq!(s.run, RunState::Running);
    assert_eq!(s.step(), 5);
    s.apply(&ev(EventKind::SessionFinished { outcome: Outcome::Failed, reason: "provider down".into() }));
    assert_eq!(s.run.label(), "failed");
    assert!(!s.run.is_active());
    s.apply(&ev(EventKind::Resumed));
    assert_eq!(s.run.label(), "failed", "nothing revives a finished session");
}

#[test]
fn warnings_budget_and_retries_become_notices() {
    let s = state_of(vec![
        EventKind::Warning { message: "torn line".into() },
        EventKind::ModelRetry { role: Role::Agent, attempt: 2, delay_ms: 1500, reason: "429".into() },
        EventKind::BudgetWarning { budget: BudgetKind::Steps, used: 80.0, limit: 100.0 },
        EventKind::BudgetStop { budget: BudgetKind::Cost, used: 1.0, limit: 1.0 },
    ]);
    let texts: Vec<String> = s.cells.iter().map(Cell::search_text).collect();
    assert_eq!(texts[0], "torn line");
    assert!(texts[1].contains("attempt 2 in 1.5s: 429"), "{}", texts[1]);
    assert!(texts[2].contains("80 of 100 (80%)"), "{}", texts[2]);
    assert!(matches!(s.cells[3].kind, CellKind::Notice { level: NoticeLevel::Error, .. }));
}

#[test]
fn tasks_files_and_elapsed() {
    let s = WorkbenchState::from_events(&demo_session());
    assert_eq!(s.in_progress_task(), Some(2));
    assert_eq!(s.changes.len(), 2);
    assert_eq!((s.changes[0].plus, s.changes[0].minus), (1, 1));
    assert_eq!(s.session_diff.files().len(), 2);
    let f = WorkbenchState::from_events(&finished_session());
    let later = t0() + chrono::Duration::hours(5);
    assert_eq!(f.elapsed(later), f.finished_at.unwrap_or(later) - t0(), "a finished session's clock stops");
    assert!(f.elapsed(later) < chrono::Duration::minutes(1));
}

#[test]
fn count_diff_counts_removed_lines_that_look_like_headers() {
    assert_eq!(count_diff("--- a/x\n+++ b/x\n@@ -1,2 +1,1 @@\n--- sql comment\n+++x\n"), (1, 1));
}

fn cp(cycle: u32, n: u32, pct: u32, tokens: u64) -> EventKind {
    EventKind::CheckpointSaved {
        id: format!("{cycle}.{n}"),
        cycle,
        n,
        threshold_pct: pct,
        window_tokens: tokens,
        upto_seq: 3,
        snapshot: None,
        snapshot_error: None,
        path: String::new(),
        checkpoint: Box::default(),
    }
}

#[test]
fn checkpoints_fill_the_cycle_and_a_rollover_starts_the_next() {
    let mut s = state_of(vec![EventKind::SessionStarted { info: Box::new(session_info("t")) }, cp(1, 1, 20, 25_600), cp(1, 2, 45, 57_600)]);
    assert_eq!(s.checkpoints.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["1.1", "1.2"]);
    assert_eq!(s.checkpoints[1].prev, Some(0));
    assert_eq!((s.core.cycle, s.core.fired_thresholds.clone()), (1, vec![20, 45]));
    assert!(matches!(&s.cells.last().map(|c| &c.kind), Some(CellKind::Notice { text, .. }) if text.contains("checkpoint 1.2 saved")));
    s.apply(&ev(EventKind::Rollover {
        cycle: 2,
        reason: crate::protocol::RolloverReason::Threshold,
        checkpoint: Some("1.2".into()),
        window_tokens: 12_000,
        window: vec![],
        origins: vec![],
        dropped: None,
        review: None,
    }));
    assert_eq!((s.core.cycle, s.core.rollovers), (2, 1));
    assert!(s.core.fired_thresholds.is_empty(), "thresholds fire again in the new window");
    assert_eq!(s.context_tokens(), 12_000, "the gauge shows the fresh window");
    s.apply(&ev(cp(2, 1, 20, 26_000)));
    assert_eq!(s.core.fired_thresholds, vec![20]);
}

#[test]
fn a_rollback_after_the_session_ended_leaves_it_finished_and_says_how_to_go_on() {
    let mut s = state_of(vec![EventKind::SessionStarted { info: Box::new(session_info("t")) }, cp(1, 1, 20, 1)]);
    s.apply(&ev(EventKind::SessionFinished { outcome: Outcome::Done, reason: "done".into() }));
    s.apply(&ev(EventKind::RolledBack {
        to: "1.1".into(),
        snapshot: None,
        cycle: 2,
        window_tokens: 8_000,
        window: vec![],
        tasks: vec![],
        restored: 1,
        removed: 0,
        origins: vec![],
    }));
    assert!(matches!(s.run, RunState::Finished { .. }), "no runtime is left to resume: {:?}", s.run);
    assert!(!s.run.is_active());
    let last = s.cells.last().map(Cell::search_text).unwrap_or_default();
    assert!(last.contains("rolled back to checkpoint 1.1") && last.contains("endure resume"), "{last}");
}

#[test]
fn a_rollback_abandons_later_checkpoints_and_pauses() {
    let mut s =
        state_of(vec![EventKind::SessionStarted { info: Box::new(session_info("t")) }, cp(1, 1, 20, 1), cp(1, 2, 45, 2), cp(1, 3, 70, 3)]);
    s.apply(&ev(EventKind::RolledBack {
        to: "1.1".into(),
        snapshot: None,
        cycle: 2,
        window_tokens: 8_000,
        window: vec![],
        tasks: vec![Task { title: "again".into(), status: TaskStatus::InProgress }],
        restored: 3,
        removed: 1,
        origins: vec![],
    }));
    let abandoned: Vec<bool> = s.checkpoints.iter().map(|c| c.abandoned).collect();
    assert_eq!(abandoned, [false, true, true]);
    assert_eq!((s.core.cycle, s.core.rollbacks, s.core.rollovers), (2, 1, 0));
    assert_eq!(s.context_tokens(), 8_000);
    assert_eq!(s.run, RunState::Paused(PauseReason::Supervisor));
    assert_eq!(s.tasks().len(), 1);
    let last = s.cells.last().map(Cell::search_text).unwrap_or_default();
    assert!(last.contains("rolled back to checkpoint 1.1") && last.contains("paused"), "{last}");
    // The next checkpoint continues from the rollback target, not the abandoned 1.3.
    s.apply(&ev(cp(2, 1, 20, 9_000)));
    assert_eq!(s.checkpoints[3].prev, Some(0));
    assert_eq!(s.core.fired_thresholds, vec![20]);
    // A Paused from the runtime keeps it paused.
    s.apply(&ev(EventKind::Paused { reason: PauseReason::Supervisor }));
    assert_eq!(s.run.label(), "paused");
}

#[test]
fn memory_proposals_wait_until_resolved_by_id_and_replay_shows_rejections() {
    let mut s = state_of(vec![
        EventKind::MemoryProposed { id: 4, source: "dream".into(), diff: String::new(), content: "x".into() },
        EventKind::MemoryProposed { id: 5, source: "supervisor".into(), diff: String::new(), content: "y".into() },
    ]);
    assert_eq!(s.core.memory_pending, vec![4, 5]);
    s.apply(&ev(EventKind::MemoryUpdated { id: None, source: "dream".into(), added: 1, summary: "merged".into() }));
    assert_eq!(s.core.memory_pending, vec![4, 5], "an update without the proposal's id settles nothing");
    s.apply(&ev(EventKind::MemoryResolved { id: 4, accept: false }));
    assert_eq!(s.core.memory_pending, vec![5]);
    let shown = s.cells.iter().filter_map(|c| match &c.kind {
        CellKind::Notice { text, .. } => Some(text.as_str()),
        _ => None,
    });
    assert!(shown.clone().any(|t| t.contains("proposal 4 rejected")), "{:?}", shown.collect::<Vec<_>>());
}

#[test]
fn a_withdrawn_correction_is_marked_and_never_delivered() {
    let mut s = state_of(vec![EventKind::CorrectionQueued { id: 0, text: "use v2".into() }]);
    assert_eq!(s.core.pending_corrections.len(), 1);
    s.apply(&ev(EventKind::CorrectionWithdrawn { id: 0 }));
    assert!(s.core.pending_corrections.is_empty());
    assert!(s.cells.iter().any(|c| matches!(c.kind, CellKind::Correction { withdrawn: true, delivered_at: None, .. })));
}

use crate::protocol::{PickedBy, ToolCallRequest};
use crate::tui::testkit::{MaxStage, endurance_session, max_mode_session, verdict_session};

#[test]
fn candidates_stream_then_are_judged_and_picked() {
    let s = WorkbenchState::from_events(&max_mode_session(MaxStage::Streaming));
    assert_eq!(s.core.max_mode, Some(3));
    let m = s.latest_max_step().expect("a max mode step");
    assert_eq!(m.step, 4);
    assert_eq!(m.candidates.iter().map(|c| c.index).collect::<Vec<_>>(), [1, 2, 3], "sorted by index whatever the arrival order");
    assert_eq!(m.candidates[0].status, CandidateStatus::Proposed);
    assert_eq!(m.candidates[1].status, CandidateStatus::Streaming);
    assert_eq!(m.candidates[1].text, "Add a regression test for negative", "deltas append");
    assert!(m.judge.is_none() && m.picked.is_none());
    assert!(s.awaiting_pick().is_none());

    let s = WorkbenchState::from_events(&max_mode_session(MaxStage::Picked));
    let m = s.latest_max_step().expect("a max mode step");
    assert!(m.candidates.iter().all(|c| c.status == CandidateStatus::Proposed));
    assert_eq!(m.judge.as_ref().map(|j| j.0), Some(2));
    assert_eq!(m.picked, Some((2, PickedBy::Judge)));
    assert!(s.awaiting_pick().is_none());
    assert_eq!(s.core.interventions, [2], "the demo's correction only: the judge's pick is no intervention");
    // The losing candidates and the judge are overhead: cost, not context.
    assert!((s.totals().overhead_usd - 0.71).abs() < 1e-9, "{}", s.totals().overhead_usd);
    assert_eq!(s.context_tokens(), 66_300);
    let ratio = s.totals().overhead_ratio().expect("a ratio");
    assert!((ratio - s.totals().cost_usd / (s.totals().cost_usd - 0.71)).abs() < 1e-9);

    let s = WorkbenchState::from_events(&max_mode_session(MaxStage::Waiting));
    assert!(s.core.review_picks);
    assert_eq!(s.awaiting_pick().map(|m| m.step), Some(4));
}

#[test]
fn a_failed_candidate_keeps_its_reason_and_a_proposal_replaces_streamed_text() {
    let s = state_of(vec![
        EventKind::StepStarted { step: 2 },
        EventKind::CandidateDelta { step: 2, index: 1, text: "partial".into() },
        EventKind::CandidateFailed { step: 2, index: 2, reason: "provider error".into() },
        EventKind::CandidateProposed {
            step: 2,
            index: 1,
            text: "the whole text".into(),
            tool_calls: vec![ToolCallRequest { id: "x".into(), name: "run".into(), arguments: "{}".into() }],
        },
        EventKind::CandidatePicked { step: 2, pick: 1, by: PickedBy::Supervisor },
    ]);
    let m = s.latest_max_step().expect("step");
    assert_eq!(m.candidates[0].text, "the whole text");
    assert_eq!(m.candidates[0].tool_calls.len(), 1);
    assert_eq!(m.candidates[1].status, CandidateStatus::Failed("provider error".into()));
    assert_eq!(s.core.interventions, [2], "a supervisor pick is an intervention");
    assert!(s.cells.iter().any(|c| c.search_text() == "candidate 2 failed: provider error"), "the transcript notice stays");
}

#[test]
fn verdicts_are_kept_and_an_override_lands_on_the_last_one() {
    let s = WorkbenchState::from_events(&verdict_session());
    assert_eq!(s.verdicts.len(), 2);
    assert_eq!(s.verdicts[0].attempt, 1);
    assert!(!s.verdicts[0].met);
    assert_eq!(s.verdicts[0].missing.len(), 2);
    assert_eq!(s.verdicts[0].overridden, None);
    assert_eq!(s.verdicts[1].overridden, Some((false, Some("Also document add() in the crate docs.".into()))));
    // The pause and the override at step 5 are one intervention; the correction at 2 another.
    assert_eq!(s.core.interventions, [2, 5]);
}

#[test]
fn endurance_matches_the_runtime_and_known_sequences() {
    let events = endurance_session();
    let s = WorkbenchState::from_events(&events);
    assert_eq!(s.core.interventions, [6, 12, 15, 18, 22]);
    assert_eq!((s.endurance(), s.step()), (6, 24));
    // The runtime's own fold gives the same figure: the summary and the workbench agree.
    let rt = crate::session::state::SessionState::from_events(&events);
    assert_eq!(rt.endurance(), s.endurance());
    assert_eq!(rt.interventions, s.core.interventions);

    // Known sequences: (intervention steps, final step) -> longest run.
    for (at, last, want) in [(vec![], 10, 10), (vec![3], 10, 7), (vec![3, 9], 10, 6), (vec![1, 2, 3], 4, 1)] {
        let mut kinds = vec![EventKind::SessionStarted { info: Box::new(session_info("t")) }];
        for step in 1..=last {
            kinds.push(EventKind::StepStarted { step });
            if at.contains(&step) {
                kinds.push(EventKind::Paused { reason: PauseReason::Supervisor });
                kinds.push(EventKind::Resumed);
            }
        }
        // Pauses for the budget or a stall are the runtime's, not the supervisor's.
        kinds.push(EventKind::Paused { reason: PauseReason::Stall });
        let s = state_of(kinds);
        assert_eq!(s.endurance(), want, "interventions at {at:?} over {last} steps");
    }
}

#[test]
fn endurance_samples_carry_figures_forward_and_mark_events() {
    let s = WorkbenchState::from_events(&endurance_session());
    assert_eq!(s.samples.len(), 24);
    assert_eq!(s.stall_after(), Some(8));
    let at = |step: u64| s.samples.iter().find(|x| x.step == step).cloned().unwrap_or_default();
    // Reading steps 8 to 11 change nothing: the counter climbs, tests and quality carry over.
    assert_eq!((at(7).stall, at(8).stall, at(11).stall, at(12).stall), (0, 1, 4, 0));
    assert_eq!(at(9).tests_passed, at(7).tests_passed);
    assert_eq!(at(9).quality, at(7).quality);
    assert!(at(12).tests_passed > at(7).tests_passed);
    let checkpoints: Vec<u64> = s.samples.iter().filter(|x| x.checkpoint).map(|x| x.step).collect();
    let rollovers: Vec<u64> = s.samples.iter().filter(|x| x.rollover).map(|x| x.step).collect();
    assert!(checkpoints.len() >= 3, "{checkpoints:?}");
    assert!(!rollovers.is_empty());
    let r = rollovers[0];
    assert!(at(r).context_tokens < at(r - 1).context_tokens, "a rollover drops the fill");
    let marked: Vec<u64> = s.samples.iter().filter(|x| x.intervention).map(|x| x.step).collect();
    assert_eq!(marked, s.core.interventions);
}

#[test]
fn refusals_cut_answers_and_budget_pauses_are_shown() {
    let mut s = state_of(vec![
        EventKind::SessionStarted { info: Box::new(session_info("t")) },
        EventKind::ModelRequest { role: Role::Agent, step: 1, attempt: 1 },
        EventKind::AssistantDelta { role: Role::Agent, text: "I can't".into() },
        EventKind::Refusal { step: 1, text: "I can't help with that.".into() },
    ]);
    assert_eq!(s.streaming.text, "", "the refusal replaces what streamed");
    assert_eq!(s.run, RunState::Running);
    assert!(matches!(&s.cells.last().map(|c| &c.kind), Some(CellKind::Refusal { step: 1, text }) if text == "I can't help with that."));
    s.apply(&ev(EventKind::Paused { reason: PauseReason::Refusal }));
    assert_eq!(s.run, RunState::Paused(PauseReason::Refusal));
    s.apply(&ev(EventKind::Resumed));

    s.apply(&ev(EventKind::AnswerTruncated {
        step: 2,
        max_tokens: 8192,
        dropped_calls: vec!["write_file".into()],
        in_a_row: 2,
        notice: "cut".into(),
    }));
    assert!(matches!(&s.cells.last().map(|c| &c.kind),
        Some(CellKind::Notice { level: NoticeLevel::Warning, text }) if text.contains("8192 tokens (2 in a row); not run: write_file")));
    s.apply(&ev(EventKind::MaxTokensRaised { from: 8192, to: 16384 }));
    assert!(matches!(&s.cells.last().map(|c| &c.kind), Some(CellKind::Notice { text, .. }) if text.contains("from 8192 to 16384")));

    // A time budget that runs out mid-stream drops the partial text with the pause.
    s.apply(&ev(EventKind::ModelRequest { role: Role::Agent, step: 3, attempt: 1 }));
    s.apply(&ev(EventKind::AssistantDelta { role: Role::Agent, text: "half an answ".into() }));
    s.apply(&ev(EventKind::Paused { reason: PauseReason::Budget { budget: BudgetKind::Time } }));
    assert_eq!(s.streaming.text, "");
}

#[test]
fn server_tool_blocks_show_as_notices_before_the_text() {
    let s = state_of(vec![EventKind::AssistantMessage {
        step: 1,
        text: "Found it.".into(),
        tool_calls: vec![],
        blocks: vec![
            json!({"type": "server_tool_use", "id": "s", "name": "web_search", "input": {"query": "rust sse"}}),
            json!({"type": "web_search_tool_result", "tool_use_id": "s", "content": {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"}}),
        ],
    }]);
    let texts: Vec<String> = s.cells.iter().map(|c| c.search_text()).collect();
    assert_eq!(
        texts,
        vec!["server tool · server_tool_use web_search rust sse", "server tool · web_search_tool_result: max_uses_exceeded", "Found it.",]
    );
}

#[test]
fn a_tool_call_reads_the_same_in_the_transcript_and_everywhere_else() {
    let args = serde_json::json!({"pattern": "fn add", "path": "src"});
    let cell = ToolCell {
        call_id: "c".into(),
        name: "search".into(),
        step: 1,
        args: args.to_string(),
        started: t0(),
        status: ToolStatus::Ok,
        duration_ms: None,
        exit_code: None,
        output: "".into(),
        tests: None,
    };
    assert_eq!(cell.target(), "/fn add/ in src");
    assert_eq!(cell.target(), call_target("search", &args));
    // A long, multi-line command: one line, whole (each view cuts it to its own room only).
    let command = format!("cat <<'EOF' > notes.txt\n{}\nEOF", "x".repeat(120));
    let run = ToolCell { name: "run".into(), args: serde_json::json!({ "command": command }).to_string(), ..cell };
    assert_eq!(run.target(), command.replace('\n', " "));
    assert_eq!(run.target(), call_target("run", &run.args_value()));
}

#[test]
fn a_fleet_rows_fold_has_every_figure_of_the_full_fold_and_no_transcript() {
    for events in [demo_session(), finished_session()] {
        let full = WorkbenchState::from_events(&events);
        let mut rows = WorkbenchState::rows_only();
        for e in &events {
            rows.apply(e);
        }
        assert!(!full.cells.is_empty() && !full.changes.is_empty() && !full.attempt_log.is_empty());
        assert!(rows.cells.is_empty() && rows.changes.is_empty() && rows.attempt_log.is_empty() && rows.tool_cells.is_empty());
        assert_eq!(rows.run, full.run);
        assert_eq!(rows.run_label(), full.run_label());
        assert_eq!(rows.step(), full.step());
        assert_eq!(rows.samples, full.samples);
        assert_eq!(rows.core.usage, full.core.usage);
        assert_eq!(rows.finished_at, full.finished_at);
        assert_eq!(rows.running_tools(), full.running_tools());
    }
}

#[test]
fn a_tool_output_is_held_once_by_the_event_the_conversation_and_the_transcript() {
    let output: std::sync::Arc<str> = "x".repeat(4096).into();
    let events = [
        ev(EventKind::ToolCall { step: 1, call_id: "a".into(), name: "run".into(), args: json!({"command": "make"}) }),
        ev(EventKind::ToolResult {
            step: 1,
            call_id: "a".into(),
            name: "run".into(),
            ok: true,
            exit_code: Some(0),
            duration_ms: 5,
            output: output.clone(),
            feedback: Feedback::default(),
        }),
    ];
    let core = crate::session::SessionState::from_events(&events);
    let view = WorkbenchState::from_events(&events);
    let Some(crate::protocol::Message::Tool { content, .. }) = core.messages.last() else { panic!("{:?}", core.messages) };
    assert!(std::sync::Arc::ptr_eq(content, &output), "the conversation shares the event's output");
    let Some(CellKind::Tool(t)) = view.cells.last().map(|c| &c.kind) else { panic!("{:?}", view.cells) };
    assert!(std::sync::Arc::ptr_eq(&t.output, &output), "the transcript shares it too");
    assert!(view.tool_cells.is_empty(), "a finished call's lookup entry is not kept");
}
