use super::*;
use crate::protocol::ToolCallRequest;

fn checkpoint() -> Checkpoint {
    Checkpoint {
        active_intent: CheckpointField::Text("Make `cargo test` pass on the billing crate".into()),
        next_action: CheckpointField::Text("Fix the rounding in src/invoice.rs:42".into()),
        directives: CheckpointField::List(vec!["Use the v2 API".into()]),
        files: CheckpointField::List(vec!["src/invoice.rs: totals".into()]),
        knowledge: CheckpointField::List(vec!["3 tests fail, all in invoice::total".into()]),
        ..Checkpoint::default()
    }
}

fn tasks(done: bool) -> Vec<Task> {
    vec![
        Task { title: "Reproduce".into(), status: TaskStatus::Done },
        Task { title: "Fix rounding".into(), status: if done { TaskStatus::Done } else { TaskStatus::InProgress } },
    ]
}

fn input<'a>(cp: &'a Checkpoint, tasks: &'a [Task], corrections: &'a [String], history: &'a [Message], limit: u64) -> RebuildInput<'a> {
    RebuildInput {
        system_tokens: 1_000,
        limit_tokens: limit,
        memory_md: Some("# Rules\n- Run tests with `cargo test -p billing`\n"),
        checkpoint: Some(("3.2", cp)),
        task: "Make the tests pass",
        goal: None,
        tasks,
        corrections,
        facts: SessionFacts { step: 57, cycle: 3, tool_calls: 140, tokens_used: 2_345_678, cost_usd: 1.5 },
        history,
    }
}

fn text(m: &Message) -> &str {
    match m {
        Message::User { text } | Message::Assistant { text, .. } => text,
        Message::Tool { content, .. } => content,
    }
}

/// A small deterministic generator (xorshift), so a failing case can be replayed by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const WORDS: [&str; 12] =
    ["fn", "total", "=", "invoice.rs:42", "error[E0308]:", "{\"path\":", "assert", "0.30000000000000004", "→", "日本", "\n", "    "];

/// Between `min` and `min + span - 1` random words.
fn words(rng: &mut Rng, min: u64, span: u64) -> String {
    let n = min + rng.below(span);
    (0..n).map(|_| WORDS[rng.below(WORDS.len() as u64) as usize]).collect::<Vec<_>>().join(" ")
}

/// A history of user messages, answers, single and parallel tool calls with results of very
/// different sizes, sometimes a trailing call still waiting for its result.
fn history(rng: &mut Rng) -> Vec<Message> {
    let mut h = Vec::new();
    let turns = rng.below(60);
    let mut call = 0;
    for _ in 0..turns {
        match rng.below(4) {
            0 => h.push(Message::User { text: words(rng, 1, 80) }),
            1 => h.push(Message::Assistant { text: words(rng, 1, 200), tool_calls: vec![], blocks: vec![] }),
            _ => {
                let n = 1 + rng.below(4);
                let calls: Vec<ToolCallRequest> = (0..n)
                    .map(|_| {
                        call += 1;
                        ToolCallRequest { id: format!("call_{call}"), name: "run".into(), arguments: words(rng, 1, 40) }
                    })
                    .collect();
                h.push(Message::Assistant { text: words(rng, 0, 30), tool_calls: calls.clone(), blocks: vec![] });
                for c in calls {
                    // Now and then a huge output, like a full test log.
                    let content = if rng.below(6) == 0 { words(rng, 1_000, 6_000) } else { words(rng, 0, 300) };
                    h.push(Message::Tool { call_id: c.id, name: c.name, content: content.into(), is_error: false });
                }
            }
        }
    }
    if rng.below(5) == 0 {
        let id = "call_pending".to_string();
        h.push(Message::Assistant {
            text: "checking".into(),
            tool_calls: vec![ToolCallRequest { id, name: "read_file".into(), arguments: "{}".into() }],
            blocks: vec![],
        });
    }
    h
}

/// Every tool result in the window has its call in an earlier assistant message, and every
/// assistant call in the window has its result.
fn assert_pairs_intact(msgs: &[Message], ctx: &str) {
    let mut open: Vec<&str> = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        match m {
            Message::Assistant { tool_calls, .. } => {
                assert!(open.is_empty(), "{ctx}: unanswered calls {open:?} before message {i}");
                open = tool_calls.iter().map(|c| c.id.as_str()).collect();
            }
            Message::Tool { call_id, .. } => {
                let pos = open.iter().position(|id| id == call_id);
                assert!(pos.is_some(), "{ctx}: tool result {call_id} at {i} without its call");
                open.retain(|id| id != call_id);
            }
            Message::User { .. } => assert!(open.is_empty(), "{ctx}: unanswered calls {open:?} before message {i}"),
        }
    }
    assert!(open.is_empty(), "{ctx}: unanswered calls at the end: {open:?}");
}

#[test]
fn random_histories_never_exceed_the_limit_and_keep_pairs_and_corrections() {
    let cp = checkpoint();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for case in 0..200 {
        let h = history(&mut rng);
        let n_corr = rng.below(4) as usize;
        let corrections: Vec<String> = (0..n_corr).map(|i| format!("Correction {i}: {}", words(&mut rng, 5, 40))).collect();
        let t = tasks(rng.below(2) == 0);
        let limit = 1_000 + 2_500 + rng.below(40_000);
        let inp = input(&cp, &t, &corrections, &h, limit);
        let w = rebuild_window(&inp).expect("fits");
        let ctx = format!("case {case}, limit {limit}, {} history messages", h.len());

        assert!(w.tokens <= limit, "{ctx}: {} tokens", w.tokens);
        assert_eq!(w.tokens, inp.system_tokens + tokens::estimate_messages(&w.messages), "{ctx}");
        assert!(w.messages.len() >= 2, "{ctx}");
        assert!(matches!(w.messages.first(), Some(Message::User { text }) if text.starts_with("[endure: context rebuilt]")), "{ctx}");
        assert!(matches!(w.messages.last(), Some(Message::User { text }) if text.starts_with("[endure: reminder]")), "{ctx}");
        let tail = &w.messages[1..w.messages.len() - 1];
        assert!(!matches!(tail.first(), Some(Message::Tool { .. })), "{ctx}: tail starts with a tool result");
        assert_pairs_intact(tail, &ctx);
        // The tail is a verbatim suffix of the history, apart from units that cannot be sent.
        for m in tail {
            assert!(h.contains(m), "{ctx}: message not from the history");
        }
        let (header, reminder) = (text(&w.messages[0]), text(&w.messages[w.messages.len() - 1]));
        for c in &corrections {
            assert!(header.contains(c.as_str()) && reminder.contains(c.as_str()), "{ctx}: correction not verbatim: {c}");
        }
        assert!(header.contains("Task:\nMake the tests pass") && reminder.contains("Make the tests pass"), "{ctx}");
        assert!(header.contains("Make `cargo test` pass on the billing crate"), "{ctx}");

        // Limits too small for the full frame go through the cutting paths; the limit and
        // the pairing still hold, and the user's words are whole or the build fails.
        let tight = 1_000 + rng.below(700);
        let ctx = format!("{ctx}, tight limit {tight}");
        match rebuild_window(&input(&cp, &t, &corrections, &h, tight)) {
            Ok(w) => {
                assert!(w.tokens <= tight, "{ctx}: {} tokens", w.tokens);
                assert_pairs_intact(&w.messages[1..], &ctx);
                assert!(text(&w.messages[0]).contains("Task:\nMake the tests pass"), "{ctx}");
                for c in &corrections {
                    assert!(text(&w.messages[0]).contains(c.as_str()), "{ctx}: correction cut: {c}");
                }
                let last = w.messages.last().expect("a reminder");
                assert!(matches!(last, Message::User { text } if text.starts_with("[endure: reminder]")), "{ctx}");
            }
            Err(RebuildError::Verbatim { needed, room }) => assert!(needed > room, "{ctx}"),
            Err(e) => panic!("{ctx}: {e}"),
        }
    }
}

#[test]
fn huge_history_gives_a_much_smaller_window_with_the_newest_messages() {
    let mut h = Vec::new();
    for i in 0..2_000 {
        h.push(Message::Assistant {
            text: format!("step {i}"),
            tool_calls: vec![ToolCallRequest {
                id: format!("c{i}"),
                name: "run".into(),
                arguments: "{\"command\": \"cargo test\"}".into(),
            }],
            blocks: vec![],
        });
        h.push(Message::Tool {
            call_id: format!("c{i}"),
            name: "run".into(),
            content: format!("run {i}\n{}", "test ok\n".repeat(200)).into(),
            is_error: false,
        });
    }
    let cp = checkpoint();
    let t = tasks(false);
    let limit = 65_000;
    let w = rebuild_window(&input(&cp, &t, &[], &h, limit)).expect("fits");
    let full = tokens::estimate_messages(&h);
    assert!(full > 10 * limit, "the history must really be huge: {full}");
    assert!(w.tokens <= limit);
    // The budget left after the frame is mostly used: the tail is not needlessly short.
    assert!(w.tokens > limit - 1_000, "{}", w.tokens);
    let tail = &w.messages[1..w.messages.len() - 1];
    assert_eq!(tail.last(), h.last(), "the newest message is kept");
    assert!(matches!(tail.first(), Some(Message::Assistant { .. })));
    assert!(tail.len() < h.len() / 10);
}

#[test]
fn a_history_that_fits_is_kept_entirely_and_in_order() {
    let h = vec![
        Message::User { text: "Please also update the changelog".into() },
        Message::Assistant {
            text: "Reading it first.".into(),
            tool_calls: vec![
                ToolCallRequest { id: "a".into(), name: "read_file".into(), arguments: "{\"path\": \"CHANGELOG.md\"}".into() },
                ToolCallRequest { id: "b".into(), name: "read_file".into(), arguments: "{\"path\": \"Cargo.toml\"}".into() },
            ],
            blocks: vec![],
        },
        Message::Tool { call_id: "a".into(), name: "read_file".into(), content: "# Changelog\n".into(), is_error: false },
        Message::Tool { call_id: "b".into(), name: "read_file".into(), content: "[package]\n".into(), is_error: false },
        Message::Assistant { text: "Now editing.".into(), tool_calls: vec![], blocks: vec![] },
    ];
    let cp = checkpoint();
    let t = tasks(false);
    let corrections = vec!["Do not bump the version".to_string()];
    let w = rebuild_window(&input(&cp, &t, &corrections, &h, 20_000)).expect("fits");
    assert_eq!(&w.messages[1..w.messages.len() - 1], &h[..]);
    let header = text(&w.messages[0]);
    for needle in [
        "already loaded",
        "Run tests with `cargo test -p billing`",
        "## Checkpoint 3.2",
        "Fix the rounding in src/invoice.rs:42",
        "- [done] Reproduce",
        "- [in progress] Fix rounding",
        "step 57",
        "remains in force",
        USERS_WORDS_HEADING,
        "Task:\nMake the tests pass",
        "Do not bump the version",
    ] {
        assert!(header.contains(needle), "header lacks {needle:?}:\n{header}");
    }
    // The user's words come before anything a model wrote.
    assert!(header.find(USERS_WORDS_HEADING) < header.find("## Checkpoint 3.2"));
    let reminder = text(w.messages.last().unwrap());
    assert!(reminder.contains("Fix the rounding in src/invoice.rs:42") && reminder.contains("- Use the v2 API"));
    assert!(reminder.contains("Make the tests pass"));
    assert!(reminder.contains("Continue from the next action"));
}

#[test]
fn a_trailing_call_without_result_and_an_orphan_result_are_left_out() {
    let h = vec![
        Message::Tool { call_id: "old".into(), name: "run".into(), content: "orphan".into(), is_error: false },
        Message::User { text: "go on".into() },
        Message::Assistant {
            text: "two calls".into(),
            tool_calls: vec![
                ToolCallRequest { id: "x".into(), name: "run".into(), arguments: "{}".into() },
                ToolCallRequest { id: "y".into(), name: "run".into(), arguments: "{}".into() },
            ],
            blocks: vec![],
        },
        Message::Tool { call_id: "x".into(), name: "run".into(), content: "only x answered".into(), is_error: false },
    ];
    let cp = checkpoint();
    let t = tasks(false);
    let w = rebuild_window(&input(&cp, &t, &[], &h, 20_000)).expect("fits");
    assert_eq!(&w.messages[1..w.messages.len() - 1], &[Message::User { text: "go on".into() }]);
}

#[test]
fn after_a_finished_task_the_reminder_asks_to_verify_and_call_done() {
    let h = vec![
        Message::User { text: "status?".into() },
        Message::Assistant { text: "All tests pass; the fix is complete.".into(), tool_calls: vec![], blocks: vec![] },
    ];
    let cp = checkpoint();
    let finished = tasks(true);
    let w = rebuild_window(&input(&cp, &finished, &[], &h, 20_000)).expect("fits");
    let reminder = text(w.messages.last().unwrap());
    assert!(reminder.contains("ended right after you answered"), "{reminder}");
    assert!(reminder.contains("call `done`"));
    assert!(!reminder.contains("Continue from the next action"));

    // An open task, or a last message that is a tool result, is ordinary continuation.
    let open = tasks(false);
    let w = rebuild_window(&input(&cp, &open, &[], &h, 20_000)).expect("fits");
    assert!(text(w.messages.last().unwrap()).contains("Continue from the next action"));
}

#[test]
fn without_a_checkpoint_the_task_is_the_intent() {
    let t = tasks(false);
    let empty = Checkpoint::default();
    let mut inp = input(&empty, &t, &[], &[], 20_000);
    inp.checkpoint = None;
    let w = rebuild_window(&inp).expect("fits");
    assert!(text(&w.messages[0]).contains("Task:\nMake the tests pass"));
    assert!(!text(&w.messages[0]).contains("## Checkpoint"));
    assert!(text(w.messages.last().unwrap()).contains("Make the tests pass"));
}

#[test]
fn an_oversized_checkpoint_and_memory_are_cut_but_intent_and_corrections_stay() {
    let mut cp = checkpoint();
    cp.knowledge = CheckpointField::List((0..3_000).map(|i| format!("fact {i}: the parser handles case {i}")).collect());
    let memory = "- a durable project rule that is long enough to matter\n".repeat(2_000);
    let corrections = vec!["Never force-push to main".to_string(), "Keep the CLI flags unchanged".to_string()];
    let t = tasks(false);
    let h = vec![Message::User { text: "continue".into() }];
    let mut inp = input(&cp, &t, &corrections, &h, 6_000);
    inp.memory_md = Some(&memory);
    let w = rebuild_window(&inp).expect("fits");
    assert!(w.tokens <= 6_000, "{}", w.tokens);
    let header = text(&w.messages[0]);
    assert!(header.contains(TRIM_MARKER));
    assert!(header.contains("fact 0:"), "the head of a cut field stays");
    for c in &corrections {
        assert!(header.contains(c.as_str()));
        assert!(text(w.messages.last().unwrap()).contains(c.as_str()));
    }
    assert!(header.contains("Make `cargo test` pass on the billing crate"));
}

#[test]
fn user_words_that_do_not_fit_are_an_error_never_a_cut() {
    let cp = checkpoint();
    let t = tasks(false);
    let corrections = vec![format!("START {} END", "do this and that ".repeat(5_000)), "short one".to_string()];
    let err = rebuild_window(&input(&cp, &t, &corrections, &[], 4_000)).expect_err("the corrections alone are over");
    let RebuildError::Verbatim { needed, room } = err else { panic!("{err}") };
    assert_eq!(room, 3_000);
    assert!(needed > 20_000, "{needed}");
    assert!(err.to_string().contains("never cut"));

    // Tiny limits: a window within the limit, or the error; nothing in between.
    for limit in [0, 500, 1_000, 1_010, 1_050, 1_100, 1_300, 1_600] {
        match rebuild_window(&input(&cp, &t, &[], &[], limit)) {
            Ok(w) => {
                assert!(w.tokens <= limit, "limit {limit}: {}", w.tokens);
                assert_eq!(w.tokens, 1_000 + tokens::estimate_messages(&w.messages));
                assert!(text(&w.messages[0]).contains("Task:\nMake the tests pass"));
            }
            Err(e) => assert!(matches!(e, RebuildError::Verbatim { .. }), "limit {limit}: {e}"),
        }
    }
}

#[test]
fn the_goal_is_carried_verbatim_beside_the_task() {
    let cp = checkpoint();
    let t = tasks(false);
    let mut inp = input(&cp, &t, &[], &[], 20_000);
    inp.goal = Some("All 60 tests in tests/billing.rs pass");
    let w = rebuild_window(&inp).expect("fits");
    let header = text(&w.messages[0]);
    assert!(header.contains("Goal (the completion condition):\nAll 60 tests in tests/billing.rs pass"), "{header}");
    assert!(text(w.messages.last().unwrap()).contains("All 60 tests in tests/billing.rs pass"));
}

fn calls(n: usize, size: usize) -> Vec<Message> {
    let mut h = Vec::new();
    for i in 0..n {
        h.push(Message::Assistant {
            text: format!("step {i}"),
            tool_calls: vec![ToolCallRequest {
                id: format!("c{i}"),
                name: "read_file".into(),
                arguments: format!("{{\"path\": \"f{i}.rs\"}}"),
            }],
            blocks: Vec::new(),
        });
        h.push(Message::Tool {
            call_id: format!("c{i}"),
            name: "read_file".into(),
            content: format!("file {i}\n{}", "line of code\n".repeat(size)).into(),
            is_error: false,
        });
    }
    h
}

#[test]
fn a_review_edits_fields_drops_sections_and_pins_messages_within_the_limit() {
    let cp = checkpoint();
    let t = tasks(false);
    let h = calls(40, 60);
    let limit = 6_000;
    let plain = rebuild_window(&input(&cp, &t, &[], &h, limit)).expect("fits");
    assert!(!plain.units[0].in_tail, "the oldest unit is not in the plain tail");
    let tail_before = plain.units.iter().filter(|u| u.in_tail).count();

    let mut adj = Adjustments::default();
    adj.apply(&RebuildEdit::EditField { field: "next_action".into(), text: "Fix src/invoice.rs:42 first, then rerun".into() });
    adj.apply(&RebuildEdit::DropSection { section: MEMORY.into() });
    adj.apply(&RebuildEdit::Pin { unit: 0 });
    let w = rebuild_with(&input(&cp, &t, &[], &h, limit), &adj).expect("fits");
    assert!(w.tokens <= limit, "{}", w.tokens);
    let header = text(&w.messages[0]);
    assert!(header.contains("Fix src/invoice.rs:42 first, then rerun") && !header.contains("Fix the rounding"));
    assert!(!header.contains("MEMORY.md)"), "the dropped section is gone");
    assert!(text(w.messages.last().unwrap()).contains("Fix src/invoice.rs:42 first, then rerun"));
    // The pinned unit comes first, in order, and the tail shrank to make room.
    assert_eq!(&w.messages[1..3], &h[0..2]);
    assert!(w.units[0].pinned && !w.units[0].in_tail);
    let pin_only = Adjustments { pinned: [0].into(), ..Adjustments::default() };
    let pinned = rebuild_with(&input(&cp, &t, &[], &h, limit), &pin_only).expect("fits");
    assert!(pinned.units.iter().filter(|u| u.in_tail).count() < tail_before, "the tail shrinks to make room for the pin");
    assert!(pinned.tokens <= limit);
    assert_pairs_intact(&w.messages[1..], "pinned");
    assert_eq!(w.kept[..2], [0, 1]);

    let section = |key: &str| w.sections.iter().find(|s| s.key == key).unwrap_or_else(|| panic!("no section {key}"));
    assert!(section("checkpoint.next_action").edited && section("checkpoint.next_action").editable);
    assert!(section(MEMORY).dropped && section(MEMORY).tokens == 0);
    assert!(!section(USERS_WORDS).droppable && !section(CORRECTIONS).droppable);
    let tail = section(TAIL);
    assert!(tail.tokens <= tail.cap && tail.tokens > 0, "{} of {}", tail.tokens, tail.cap);
    let sum: u64 = w.sections.iter().map(|s| s.tokens).sum();
    assert!(sum <= w.tokens, "the sections ({sum}) are parts of the window ({})", w.tokens);

    // Edits replay to the same adjustments.
    let edits = [
        RebuildEdit::Pin { unit: 3 },
        RebuildEdit::DropSection { section: TASKS.into() },
        RebuildEdit::Unpin { unit: 3 },
        RebuildEdit::RestoreSection { section: TASKS.into() },
        RebuildEdit::Approve,
    ];
    assert_eq!(Adjustments::from_edits(&edits), Adjustments::default());
}

#[test]
fn pins_that_do_not_fit_and_unknown_units_are_errors() {
    let cp = checkpoint();
    let t = tasks(false);
    let h = calls(10, 400);
    let adj = Adjustments { pinned: (0..10).collect(), ..Adjustments::default() };
    let err = rebuild_with(&input(&cp, &t, &[], &h, 4_000), &adj).expect_err("too much pinned");
    assert!(matches!(err, RebuildError::Pins { .. }), "{err}");
    let adj = Adjustments { pinned: [99].into(), ..Adjustments::default() };
    assert_eq!(rebuild_with(&input(&cp, &t, &[], &h, 40_000), &adj), Err(RebuildError::UnknownUnit(99)));
}
