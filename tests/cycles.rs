#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Cycles end to end: background checkpoints, rollovers, rollback, memory and skills, with the
//! scripted provider on real files.

mod common;

use std::collections::BTreeMap;

use common::{Scripted, finish, logged_events, pos, wait_for};
use endure::agent::Supervision;
use endure::model::scripted::{Answer, Scenario, ScriptedCall};
use endure::protocol::{Command, Event, EventKind, Message, Outcome, Role};
use serde_json::json;

fn read_big(i: usize) -> Answer {
    Answer {
        text: format!("Step {i}: reading the module again to check the next function."),
        tool_calls: vec![ScriptedCall {
            name: "read_file".into(),
            arguments: Some(json!({"path": "big.txt"}).to_string()),
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
            arguments: Some(json!({"summary": "all steps done"}).to_string()),
            ..Default::default()
        }],
        usage: None,
    }
}

/// A valid writer answer; `k` makes each one distinct.
fn writer_answer(k: usize, memory: bool) -> Answer {
    let mut cp = json!({
        "active_intent": "Refactor the module step by step",
        "next_action": format!("continue with function {k}"),
        "directives": ["Use tabs, not spaces."],
        "task_tree": ["read every function", "refactor"],
        "current_work": format!("function {k}"),
        "files": ["big.txt: the module being refactored"],
        "knowledge": [format!("functions before {k} are checked")],
        "errors_and_fixes": [],
        "live_resources": "none",
        "decisions": ["read before editing"],
        "open_notes": ""
    });
    if memory {
        cp["memory_updates"] = json!({"Gotchas": [format!("big.txt is read in full every step (noted at checkpoint {k})")]});
    }
    Answer { text: format!("```json\n{}\n```", serde_json::to_string_pretty(&cp).unwrap()), ..Default::default() }
}

fn big_file() -> String {
    (0..120).map(|i| format!("pub fn function_{i}(input: &str) -> usize {{ input.len() + {i} }}\n")).collect()
}

fn scenario(steps: usize, writers: usize) -> Scenario {
    let mut agent: Vec<Answer> = (0..steps).map(read_big).collect();
    agent.push(done());
    Scenario { agent, writer: (0..writers).map(|k| writer_answer(k, true)).collect(), ..Default::default() }
}

fn kinds_of<'a>(events: &'a [Event], f: impl Fn(&EventKind) -> bool + 'a) -> impl Iterator<Item = &'a Event> + 'a {
    events.iter().filter(move |e| f(&e.kind))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_session_rolls_over_three_times_keeping_every_correction() {
    let big = big_file();
    let mut s = Scripted::with_scenario(&[("big.txt", &big)], &scenario(40, 80));
    s.opts.context_budget = Some(12_000);
    let mut handle = s.spawn("Refactor the module step by step", Supervision::Headless);
    let log = handle.log_path.clone();
    let mut rx = handle.take_events();
    let corrections = ["Use tabs, not spaces.", "Keep function names unchanged.", "Do not touch the tests."];
    // The first correction is queued before the first boundary, so it is delivered at step 1
    // whatever the machine's load; the others follow the first two rollovers.
    handle.commands.send(Command::Inject(corrections[0].into())).unwrap();
    for c in &corrections[1..] {
        wait_for(&mut rx, "a rollover", |k| matches!(k, EventKind::Rollover { .. }) || matches!(k, EventKind::SessionFinished { .. }))
            .await;
        let _ = handle.commands.send(Command::Inject((*c).into()));
    }
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    let events = logged_events(&log);

    let rollovers: Vec<&Event> = kinds_of(&events, |k| matches!(k, EventKind::Rollover { .. })).collect();
    let trace: Vec<String> = events
        .iter()
        .filter(|e| {
            !matches!(
                e.kind,
                EventKind::ToolCall { .. }
                    | EventKind::ToolResult { .. }
                    | EventKind::AssistantMessage { .. }
                    | EventKind::StepFinished { .. }
            )
        })
        .map(|e| serde_json::to_string(&e.kind).unwrap().chars().take(140).collect())
        .collect();
    assert!(rollovers.len() >= 3, "{} rollovers:\n{}", rollovers.len(), trace.join("\n"));
    let limit = 12_000 / 2;
    let mut checked = 0;
    for r in &rollovers {
        let EventKind::Rollover { window, window_tokens, cycle, .. } = &r.kind else { unreachable!() };
        assert!(*window_tokens <= limit, "rebuilt window of {window_tokens} tokens over {limit}");
        // Every correction delivered before this rollover is in the new window, verbatim. One
        // queued just before a rollover is delivered right after it, into the new window.
        let delivered_ids: Vec<u64> = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::CorrectionDelivered { id, .. } if e.seq < r.seq => Some(*id),
                _ => None,
            })
            .collect();
        let delivered: Vec<&str> = corrections
            .iter()
            .copied()
            .filter(|c| {
                events
                    .iter()
                    .any(|e| matches!(&e.kind, EventKind::CorrectionQueued { id, text } if text == c && delivered_ids.contains(id)))
            })
            .collect();
        let text = serde_json::to_string(window).unwrap();
        for c in &delivered {
            assert!(text.contains(c), "cycle {cycle}: correction {c:?} missing after the rollover");
        }
        checked += usize::from(!delivered.is_empty());
    }
    assert!(checked >= 2, "only {checked} rollovers came after a correction:\n{}", trace.join("\n"));
    // Every request the agent made stayed within the budget.
    for e in kinds_of(&events, |k| matches!(k, EventKind::Usage { role: Role::Agent, .. })) {
        let EventKind::Usage { prompt_tokens, .. } = e.kind else { unreachable!() };
        assert!(prompt_tokens <= 12_000, "a request of {prompt_tokens} tokens");
    }
    // Checkpoints were written by the background writer, as JSON and Markdown, in each cycle.
    let saved: Vec<&Event> = kinds_of(&events, |k| matches!(k, EventKind::CheckpointSaved { .. })).collect();
    let cycles: std::collections::BTreeSet<u32> =
        saved.iter().map(|e| if let EventKind::CheckpointSaved { cycle, .. } = e.kind { cycle } else { 0 }).collect();
    assert!(cycles.len() >= 4, "checkpoints in cycles {cycles:?}");
    for e in &saved {
        let EventKind::CheckpointSaved { path, id, .. } = &e.kind else { unreachable!() };
        let json_path = s.workspace.join(path);
        assert!(json_path.is_file(), "{path}");
        assert!(json_path.with_extension("md").is_file(), "{id}.md");
        assert!(std::fs::read_to_string(&json_path).unwrap().contains("\"active_intent\""));
    }
    // At each rollover the writer's memory updates were merged into MEMORY.md with their source.
    let memory = std::fs::read_to_string(s.path("MEMORY.md")).unwrap();
    let session = &result.state.info.as_ref().unwrap().session_id;
    assert!(memory.contains("## Gotchas") && memory.contains("big.txt is read in full every step"), "{memory}");
    assert!(memory.contains(session.as_str()), "entries record their source session:\n{memory}");
    pos(&events, "memory_updated", |k| matches!(k, EventKind::MemoryUpdated { .. }));
    assert_eq!(endure::session::SessionState::from_events(&events), *result.state, "replay stays exact across rollovers");
}

#[tokio::test]
async fn a_writer_answer_that_is_not_a_checkpoint_is_retried_once_then_the_previous_one_stands() {
    let big = big_file();
    let mut sc = scenario(6, 0);
    sc.writer = vec![
        Answer { text: "Sure! Here is a summary of the session.".into(), ..Default::default() },
        writer_answer(1, false),
        Answer { text: "{\"active_intent\": \"x\"}".into(), ..Default::default() },
        Answer { text: "still not it".into(), ..Default::default() },
    ];
    let mut s = Scripted::with_scenario(&[("big.txt", &big)], &sc);
    s.opts.context_budget = Some(40_000);
    s.opts.checkpoints = Some(vec![10, 15]);
    s.opts.rollover = Some(99);
    let handle = s.spawn("t", Supervision::Headless);
    let log = handle.log_path.clone();
    assert_eq!(finish(handle).await.outcome, Outcome::Done);
    let events = logged_events(&log);
    let saved: Vec<&Event> = kinds_of(&events, |k| matches!(k, EventKind::CheckpointSaved { .. })).collect();
    let trace: Vec<String> = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::CheckpointSaved { .. } | EventKind::Warning { .. } | EventKind::Usage { .. } | EventKind::StepStarted { .. }
            )
        })
        .map(|e| serde_json::to_string(&e.kind).unwrap().chars().take(160).collect())
        .collect();
    assert_eq!(saved.len(), 1, "the first trigger's retry succeeded; the second failed twice:\n{}", trace.join("\n"));
    let warning = pos(
        &events,
        "writer warning",
        |k| matches!(k, EventKind::Warning { message } if message.contains("checkpoint writer failed") && message.contains("checkpoint 1.1 stands")),
    );
    assert!(warning > events.iter().position(|e| matches!(e.kind, EventKind::CheckpointSaved { .. })).unwrap());
    let writer_requests = kinds_of(&events, |k| matches!(k, EventKind::Usage { role: Role::Writer, .. })).count();
    assert_eq!(writer_requests, 4, "each trigger asked at most twice");
}

/// Expected content hashes (None: absent) of every path the session touched, as of `seq`.
fn expected_at(initial: &[(&str, &str)], events: &[Event], seq: u64) -> BTreeMap<String, Option<String>> {
    let mut m: BTreeMap<String, Option<String>> =
        initial.iter().map(|(p, c)| (p.to_string(), Some(endure::workspace::sha256_hex(c.as_bytes())))).collect();
    for e in events {
        if let EventKind::FileChanged { path, after, .. } = &e.kind {
            let entry = m.entry(path.clone()).or_insert(None);
            if e.seq <= seq {
                *entry = after.clone();
            }
        }
    }
    m
}

#[tokio::test]
async fn rollback_restores_the_workspace_byte_for_byte_and_the_conversation() {
    let big = big_file();
    let initial: Vec<(&str, &str)> = vec![("big.txt", &big), ("keep.txt", "keep\n"), ("gone.txt", "deleted later\n"), ("mod.txt", "v1\n")];
    let step = |text: &str, name: &str, args: serde_json::Value| Answer {
        text: text.into(),
        tool_calls: vec![ScriptedCall { name: name.into(), arguments: Some(args.to_string()), ..Default::default() }],
        usage: None,
    };
    let mut agent = vec![read_big(0), read_big(1)];
    agent.push(step(
        "Changing files.",
        "run",
        json!({"command": "echo v2 > mod.txt; rm gone.txt; echo new > created.txt; mkdir -p sub/deeper && printf '\\000\\001bin' > sub/deeper/data.bin; chmod +x created.txt"}),
    ));
    agent.push(read_big(3));
    agent.push(step("Another file.", "write_file", json!({"path": "notes/plan.md", "content": "# Plan\n\n- one\n"})));
    agent.push(step("Edit.", "edit_file", json!({"path": "mod.txt", "old": "v2", "new": "v3"})));
    agent.extend((6..10).map(read_big));
    agent.push(done());
    let sc = Scenario { agent, writer: (0..40).map(|k| writer_answer(k, false)).collect(), ..Default::default() };
    let mut s = Scripted::with_scenario(&initial, &sc);
    s.opts.context_budget = Some(30_000);
    s.opts.checkpoints = Some(vec![8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30]);
    s.opts.rollover = Some(95);
    let handle = s.spawn("change files", Supervision::Headless);
    let log = handle.log_path.clone();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    let events = logged_events(&log);

    // The newest checkpoint taken before the big change, so that rolling back to it must
    // delete created files, restore the deleted one, and undo edits.
    let first_change = events.iter().find(|e| matches!(e.kind, EventKind::FileChanged { .. })).unwrap().seq;
    let target = events
        .iter()
        .rev()
        .filter_map(|e| match &e.kind {
            EventKind::CheckpointSaved { id, upto_seq, .. } if *upto_seq < first_change => Some((id.clone(), *upto_seq)),
            _ => None,
        })
        .next()
        .expect("a checkpoint before the changes");
    let expected = expected_at(&initial, &events, target.1);
    assert!(expected.get("created.txt") == Some(&None) && expected.get("gone.txt").is_some_and(Option::is_some));

    let session = result.state.info.as_ref().unwrap().session_id.clone();
    let report = endure::agent::rollback_session(&s.workspace, &session, &target.0).expect("rollback");
    assert!(report.restored >= 2 && report.removed >= 3, "restored {} removed {}", report.restored, report.removed);
    for (path, hash) in &expected {
        let p = s.workspace.join(path);
        match hash {
            None => assert!(!p.exists(), "{path} should have been deleted"),
            Some(h) => assert_eq!(&endure::workspace::sha256_hex(&std::fs::read(&p).unwrap()), h, "{path}"),
        }
    }
    assert!(!s.workspace.join("sub").exists(), "directories left empty are removed");

    let after = logged_events(&log);
    let rb = after.last().unwrap();
    let EventKind::RolledBack { to, window, .. } = &rb.kind else { panic!("last event is {:?}", rb.kind.name()) };
    assert_eq!(to, &target.0);
    // The conversation went back: nothing said after the checkpoint is in the window.
    let text = serde_json::to_string(window).unwrap();
    assert!(!text.contains("Changing files.") && !text.contains("notes/plan.md"), "{text}");
    // The rebuilt window opens with the user's own words, verbatim.
    let EventKind::RolledBack { window, origins, .. } = &rb.kind else { unreachable!() };
    assert!(matches!(&window[0], Message::User { text } if text.contains("The user's own words") && text.contains("Task:\nchange files")));
    assert_eq!(origins.len(), window.len());
    // Nothing was deleted from the log: the abandoned branch is still there.
    assert_eq!(&after[..events.len()], &events[..]);
}

#[tokio::test]
async fn skills_are_listed_in_the_prompt_and_loaded_on_demand() {
    let s = Scripted::with_scenario(
        &[],
        &Scenario {
            agent: vec![
                Answer {
                    text: "Loading the skill.".into(),
                    tool_calls: vec![ScriptedCall {
                        name: "skill".into(),
                        arguments: Some(json!({"name": "run-tests"}).to_string()),
                        ..Default::default()
                    }],
                    usage: None,
                },
                done(),
            ],
            ..Default::default()
        },
    );
    let skill = endure::memory::skills::Skill {
        name: "run-tests".into(),
        description: "Run the project's test suite the way CI does".into(),
        body: "1. `make test`\n2. read the first failure only\n".into(),
    };
    endure::memory::skills::write_skill(&s.workspace, &skill).unwrap();
    let result = finish(s.spawn("t", Supervision::Headless)).await;
    assert_eq!(result.outcome, Outcome::Done);
    let info = result.state.info.as_ref().unwrap();
    assert!(info.system_prompt.contains("run-tests: Run the project's test suite the way CI does"));
    let loaded = result.state.messages.iter().find_map(|m| match m {
        Message::Tool { name, content, .. } if name == "skill" => Some(content.clone()),
        _ => None,
    });
    assert!(loaded.unwrap().contains("read the first failure only"));
}

#[tokio::test]
async fn memory_md_opens_every_session_and_the_agent_cannot_write_it() {
    let s = Scripted::with_scenario(
        &[(
            "MEMORY.md",
            "# Memory\n\n## Rules\n- Never push to main <!-- from: s1 -->\n\n## Architecture decisions\n\n## Verified knowledge\n\n## Patterns\n\n## Gotchas\n",
        )],
        &Scenario {
            agent: vec![
                Answer {
                    text: "Trying to write memory.".into(),
                    tool_calls: vec![ScriptedCall {
                        name: "write_file".into(),
                        arguments: Some(json!({"path": "MEMORY.md", "content": "x"}).to_string()),
                        ..Default::default()
                    }],
                    usage: None,
                },
                done(),
            ],
            ..Default::default()
        },
    );
    let result = finish(s.spawn("t", Supervision::Headless)).await;
    let first = match &result.state.messages[0] {
        Message::User { text } => text.clone(),
        other => panic!("{other:?}"),
    };
    assert!(first.contains("Never push to main"), "{first}");
    assert!(std::fs::read_to_string(s.path("MEMORY.md")).unwrap().contains("Never push to main"));
}

fn run_step(text: &str, command: &str) -> Answer {
    Answer {
        text: text.into(),
        tool_calls: vec![ScriptedCall {
            name: "run".into(),
            arguments: Some(json!({"command": command}).to_string()),
            ..Default::default()
        }],
        usage: None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_supervised_rollback_stays_paused_until_the_supervisor_resumes() {
    let big = big_file();
    let mut agent = vec![read_big(0), read_big(1), read_big(2)];
    agent.push(run_step("Breaking things.", "echo broken > state.txt; rm keep.txt; sleep 0.3"));
    agent.extend((4..8).map(read_big));
    agent.push(done());
    let sc = Scenario { agent, writer: (0..30).map(|k| writer_answer(k, false)).collect(), ..Default::default() };
    let mut s = Scripted::with_scenario(&[("big.txt", &big), ("keep.txt", "keep\n"), ("state.txt", "good\n")], &sc);
    s.opts.context_budget = Some(40_000);
    s.opts.checkpoints = Some(vec![5, 10, 15]);
    s.opts.rollover = Some(99);
    let mut handle = s.spawn("t", Supervision::Supervised);
    let log = handle.log_path.clone();
    let mut rx = handle.take_events();
    // Pause while the breaking command runs, then roll back from the paused state to the
    // newest checkpoint taken before it.
    let breaking = wait_for(&mut rx, "the breaking command", |k| matches!(k, EventKind::ToolCall { name, .. } if name == "run")).await;
    handle.commands.send(Command::Pause).unwrap();
    wait_for(&mut rx, "paused", |k| matches!(k, EventKind::Paused { .. })).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let id = loop {
        let found = logged_events(&log).iter().rev().find_map(|e| match &e.kind {
            EventKind::CheckpointSaved { id, upto_seq, .. } if *upto_seq < breaking.seq => Some(id.clone()),
            _ => None,
        });
        if let Some(id) = found {
            break id;
        }
        assert!(std::time::Instant::now() < deadline, "no checkpoint before the breaking step showed up during the pause");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(std::fs::read_to_string(s.path("state.txt")).unwrap(), "broken\n");
    handle.commands.send(Command::Rollback(id.clone())).unwrap();
    wait_for(&mut rx, "the rollback", |k| matches!(k, EventKind::RolledBack { .. })).await;
    assert_eq!(std::fs::read_to_string(s.path("state.txt")).unwrap(), "good\n");
    assert_eq!(std::fs::read_to_string(s.path("keep.txt")).unwrap(), "keep\n");
    // Still paused: no step starts until the supervisor resumes.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    while let Ok(ev) = rx.try_recv() {
        assert!(!matches!(ev.kind, EventKind::StepStarted { .. }), "a step started after the rollback without a resume");
    }
    handle.commands.send(Command::Inject("Do not delete keep.txt.".into())).unwrap();
    handle.commands.send(Command::Resume).unwrap();
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
    let events = logged_events(&log);
    let rb = pos(&events, "rolled_back", |k| matches!(k, EventKind::RolledBack { .. }));
    let resumed = pos(&events, "resumed", |k| matches!(k, EventKind::Resumed));
    assert!(rb < resumed);
    assert_eq!(endure::session::SessionState::from_events(&events), *result.state);
}

#[tokio::test]
async fn a_due_dream_is_proposed_in_the_workbench_and_applied_only_when_accepted() {
    let memory = "# Memory\n\n## Rules\n- Run tests with make test <!-- from: s1 -->\n- run the tests with `make test` <!-- from: s2 -->\n\n## Architecture decisions\n\n## Verified knowledge\n\n## Patterns\n\n## Gotchas\n";
    let consolidated = "# Memory\n\n## Rules\n- Run the tests with `make test`. <!-- from: s1 -->\n\n## Architecture decisions\n\n## Verified knowledge\n\n## Patterns\n\n## Gotchas\n";
    let sc = Scenario {
        agent: vec![run_step("Working.", "sleep 0.3"), done()],
        writer: vec![Answer { text: format!("```markdown\n{consolidated}```"), ..Default::default() }],
        ..Default::default()
    };
    let s = Scripted::with_scenario(&[("MEMORY.md", memory)], &sc);
    let mut handle = s.spawn("t", Supervision::Supervised);
    let log = handle.log_path.clone();
    let mut rx = handle.take_events();
    let proposed = wait_for(&mut rx, "a proposal", |k| matches!(k, EventKind::MemoryProposed { .. })).await;
    let EventKind::MemoryProposed { id, diff, .. } = proposed.kind else { unreachable!() };
    assert!(diff.contains("-- Run tests with make test") || diff.contains("-- run the tests"), "{diff}");
    assert_eq!(std::fs::read_to_string(s.path("MEMORY.md")).unwrap(), memory, "nothing is written before approval");
    handle.commands.send(Command::ResolveMemory { id, accept: true }).unwrap();
    wait_for(&mut rx, "memory updated", |k| matches!(k, EventKind::MemoryUpdated { .. })).await;
    let result = finish(handle).await;
    assert_eq!(result.outcome, Outcome::Done);
    assert_eq!(std::fs::read_to_string(s.path("MEMORY.md")).unwrap(), consolidated);
    // The dream's model call is the writer's usage in the session, counted toward its budgets.
    let events = logged_events(&log);
    let usage = pos(&events, "the dream's usage", |k| matches!(k, EventKind::Usage { role: Role::Writer, overhead: false, .. }));
    assert!(usage < pos(&events, "the proposal", |k| matches!(k, EventKind::MemoryProposed { .. })));
    let writer = &result.state.usage_by_role["writer"];
    assert_eq!(writer.requests, 1);
    assert!(writer.prompt_tokens > 0 && result.state.usage.prompt_tokens >= writer.prompt_tokens);
    let state = std::fs::read_to_string(s.path(".endure/state.json")).unwrap();
    assert!(state.contains("last_dream"), "{state}");
}

#[tokio::test]
async fn distill_at_session_start_records_the_writers_usage_in_the_session() {
    let skills =
        r#"{"skills": [{"name": "check-all", "description": "Lint and test in one go", "body": "Run `echo lint ok && echo test ok`."}]}"#;
    let scenario = format!(
        "[[agent]]\ntext = \"Testing.\"\n[[agent.tool_calls]]\nname = \"run\"\narguments = {{ command = \"echo lint ok && echo test ok\" }}\n\
         [[agent]]\ntext = \"Done.\"\n[[agent.tool_calls]]\nname = \"done\"\narguments = {{ summary = \"s\" }}\n\
         [[writer]]\ntext = '{skills}'\n"
    );
    let s = Scripted::new(&[], &scenario);
    let mut last = None;
    // Two sessions make a repeated pattern; distill is due again (no state) at the third.
    for _ in 0..3 {
        let _ = std::fs::remove_file(s.path(".endure/state.json"));
        let handle = s.spawn("check", Supervision::Headless);
        let log = handle.log_path.clone();
        let result = finish(handle).await;
        assert_eq!(result.outcome, Outcome::Done, "{}", result.reason);
        last = Some((log, result));
    }
    let (log, result) = last.unwrap();
    assert!(s.path(".endure/skills/check-all/SKILL.md").exists(), "distill wrote the skill");
    let events = logged_events(&log);
    let usage = pos(&events, "distill's usage", |k| matches!(k, EventKind::Usage { role: Role::Writer, overhead: false, .. }));
    let updated = pos(&events, "the new skills", |k| matches!(k, EventKind::MemoryUpdated { source, .. } if source == "distill"));
    assert!(usage < updated);
    assert_eq!(result.state.usage_by_role["writer"].requests, 1, "distill counts toward the session's spending");
}
