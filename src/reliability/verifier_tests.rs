use super::*;
use crate::protocol::CheckpointField;

fn call(id: &str, name: &str, args: &str) -> ToolCallRequest {
    ToolCallRequest { id: id.into(), name: name.into(), arguments: args.into() }
}

fn user(text: &str) -> Message {
    Message::User { text: text.into() }
}

fn assistant(text: &str, calls: Vec<ToolCallRequest>) -> Message {
    Message::Assistant { text: text.into(), tool_calls: calls, blocks: vec![] }
}

fn tool(id: &str, name: &str, content: &str) -> Message {
    Message::Tool { call_id: id.into(), name: name.into(), content: content.into(), is_error: false }
}

fn text_of(m: &Message) -> &str {
    match m {
        Message::User { text } | Message::Assistant { text, .. } => text,
        Message::Tool { content, .. } => content,
    }
}

// ---- parse_verdict ----

#[test]
fn bare_verdict() {
    let v = parse_verdict(r#"{"met": true, "missing": [], "evidence": ["run `pytest` → 5 passed"]}"#).unwrap();
    assert_eq!(v, Verdict { met: true, missing: vec![], evidence: vec!["run `pytest` → 5 passed".into()] });
}

#[test]
fn fenced_verdict_with_prose_around() {
    let text = "I checked the transcript carefully.\n\n```json\n{\n  \"met\": false,\n  \"missing\": [\"no test for empty input\", \"README not updated\"],\n  \"evidence\": []\n}\n```\nLet me know if you need more.";
    let v = parse_verdict(text).unwrap();
    assert!(!v.met);
    assert_eq!(v.missing, ["no test for empty input", "README not updated"]);
    assert!(v.evidence.is_empty());
}

#[test]
fn prose_wrapped_verdict_skips_objects_without_met() {
    // An example object in the prose comes first; the answer is the one with `met`.
    let text = r#"The tool was called with {"cmd": "pytest -q"}. My verdict: {"met": "yes", "evidence": "pytest: 12 passed"} — done."#;
    let v = parse_verdict(text).unwrap();
    assert!(v.met);
    assert_eq!(v.evidence, ["pytest: 12 passed"]);
    assert!(v.missing.is_empty());
}

#[test]
fn braces_inside_strings_do_not_end_the_object() {
    let text =
        r#"Verdict: {"met": false, "missing": ["fn main() { } still panics on \"}\" input"], "evidence": ["output: {\"ok\": false}"]} end"#;
    let v = parse_verdict(text).unwrap();
    assert!(!v.met);
    assert_eq!(v.missing, [r#"fn main() { } still panics on "}" input"#]);
    assert_eq!(v.evidence, [r#"output: {"ok": false}"#]);
}

#[test]
fn a_wrapper_objects_inner_verdict_is_found() {
    let v = parse_verdict(r#"{"verdict": {"met": true, "evidence": ["x"]}}"#).unwrap();
    assert!(v.met);
    assert_eq!(v.evidence, ["x"]);
}

#[test]
fn string_booleans() {
    for (s, want) in [("true", true), ("TRUE", true), ("yes", true), (" Yes ", true), ("false", false), ("no", false), ("No", false)] {
        let v = parse_verdict(&format!(r#"{{"met": "{s}"}}"#)).unwrap();
        assert_eq!(v.met, want, "{s}");
    }
    let e = parse_verdict(r#"{"met": "maybe"}"#).unwrap_err();
    assert!(e.contains("`met`") && e.contains("maybe"), "{e}");
    let e = parse_verdict(r#"{"met": 1}"#).unwrap_err();
    assert!(e.contains("`met`"), "{e}");
}

#[test]
fn missing_fields_are_empty_and_not_met_without_specifics_is_valid() {
    let v = parse_verdict(r#"{"met": false}"#).unwrap();
    assert_eq!(v, Verdict { met: false, missing: vec![], evidence: vec![] });
    let v = parse_verdict(r#"{"met": false, "missing": null, "evidence": ""}"#).unwrap();
    assert!(v.missing.is_empty() && v.evidence.is_empty());
    let v = parse_verdict(r#"{"met": false, "missing": "tests for the CLI"}"#).unwrap();
    assert_eq!(v.missing, ["tests for the CLI"]);
}

#[test]
fn non_string_items_are_kept_as_json_and_blank_ones_dropped() {
    let v = parse_verdict(r#"{"met": false, "missing": [{"item": "docs"}, "  ", null, 3]}"#).unwrap();
    assert_eq!(v.missing, [r#"{"item":"docs"}"#, "3"]);
    let e = parse_verdict(r#"{"met": false, "missing": 3}"#).unwrap_err();
    assert!(e.contains("`missing`"), "{e}");
}

#[test]
fn garbage_is_an_error_that_says_what_was_wrong() {
    let e = parse_verdict("The work looks complete to me.").unwrap_err();
    assert!(e.contains("no JSON object"), "{e}");
    let e = parse_verdict(r#"{"done": true}"#).unwrap_err();
    assert!(e.contains("no `met` key"), "{e}");
    let e = parse_verdict("```json\n{\"met\": tru}\n```").unwrap_err();
    assert!(e.contains("does not parse"), "{e}");
    assert!(parse_verdict("").is_err());
}

// ---- verifier_request ----

fn checkpoint(intent: &str, knowledge: &[&str]) -> Checkpoint {
    Checkpoint {
        active_intent: CheckpointField::Text(intent.into()),
        knowledge: CheckpointField::List(knowledge.iter().map(|s| s.to_string()).collect()),
        ..Checkpoint::default()
    }
}

fn small_window() -> Vec<Message> {
    vec![
        user("Fix the median of an even-length list."),
        assistant("Running the tests.", vec![call("c1", "run", r#"{"cmd":"pytest -q"}"#)]),
        tool("c1", "run", "1 failed, 4 passed"),
        assistant("", vec![call("c2", "edit_file", r#"{"path":"stats.py"}"#), call("c3", "run", r#"{"cmd":"pytest -q"}"#)]),
        tool("c2", "edit_file", "edited stats.py"),
        tool("c3", "run", "5 passed in 0.10s"),
    ]
}

fn input<'a>(window: &'a Conversation, cps: &'a [(String, Checkpoint)], limit: u64) -> VerifierInput<'a> {
    VerifierInput {
        goal: "median() returns the mean of the two middle values for even-length lists; all tests pass",
        summary: "Fixed median; pytest passes.",
        checkpoints: cps,
        users_words: None,
        window,
        model: "verifier-model",
        max_tokens: 1000,
        limit_tokens: limit,
    }
}

#[test]
fn request_shape_and_native_messages() {
    let window = small_window();
    let req = verifier_request(&input(&Conversation::from(window.clone()), &[], 100_000));
    assert_eq!(req.role, Role::Verifier);
    assert_eq!(req.temperature, Some(0.0));
    assert_eq!(req.model, "verifier-model");
    assert_eq!(req.max_tokens, 1000);
    assert!(req.tools.is_empty());
    assert!(req.system.contains("independent") && req.system.contains("not evidence"), "{}", req.system);
    assert!(req.system.contains(r#""met""#));

    // Opening user message, the window verbatim, the closing question.
    assert!(matches!(&req.messages[0], Message::User { .. }));
    assert_eq!(&req.messages.to_vec()[1..req.messages.len() - 1], window.as_slice());
    let last = text_of(req.messages.last().unwrap());
    assert!(matches!(req.messages.last(), Some(Message::User { .. })));
    assert!(last.contains("median() returns the mean of the two middle values"), "{last}");
    assert!(last.contains("Fixed median; pytest passes."), "{last}");
    assert!(last.contains(r#""met""#));
}

#[test]
fn checkpoints_come_first_oldest_first() {
    let window = small_window();
    let cps = vec![
        ("1.1".to_string(), checkpoint("Fix median", &["tests live in tests/test_stats.py"])),
        ("2.1".to_string(), checkpoint("Fix median", &["median used integer division"])),
    ];
    let req = verifier_request(&input(&Conversation::from(window.clone()), &cps, 100_000));
    let Message::User { text } = &req.messages[0] else { panic!("first message must be a user message") };
    assert!(text.contains("before the current window"), "{text}");
    let a = text.find("# Checkpoint 1.1").expect("first checkpoint");
    let b = text.find("# Checkpoint 2.1").expect("second checkpoint");
    assert!(a < b);
    assert!(text.contains("- median used integer division"));
    assert_eq!(&req.messages.to_vec()[1..req.messages.len() - 1], window.as_slice());
}

#[test]
fn a_window_starting_with_an_assistant_message_still_opens_with_a_user_message() {
    let window = small_window()[1..].to_vec();
    let req = verifier_request(&input(&Conversation::from(window.clone()), &[], 100_000));
    assert!(matches!(&req.messages[0], Message::User { .. }));
    assert_eq!(&req.messages.to_vec()[1..req.messages.len() - 1], window.as_slice());
}

#[test]
fn unanswered_calls_and_orphan_results_are_made_sendable() {
    let window =
        vec![tool("c0", "run", "orphan output: 3 passed"), assistant("All done.", vec![call("c9", "done", r#"{"summary":"ok"}"#)])];
    let req = verifier_request(&input(&Conversation::from(window.clone()), &[], 100_000));
    let all = req.messages.to_vec();
    let body = &all[1..all.len() - 1];
    let Message::User { text } = &body[0] else { panic!("orphan result becomes a user message: {body:?}") };
    assert!(text.contains("orphan output: 3 passed") && text.contains("`run`"));
    let Message::Assistant { text, tool_calls, .. } = &body[1] else { panic!("{body:?}") };
    assert!(tool_calls.is_empty());
    assert!(text.starts_with("All done.") && text.contains("`done`") && text.contains(r#"{"summary":"ok"}"#), "{text}");
}

#[test]
fn long_tool_results_are_trimmed_in_the_middle() {
    let big: String = (0..6000).map(|i| format!("line {i} of noisy output\n")).collect();
    let window = vec![
        user("go"),
        assistant("", vec![call("c1", "run", r#"{"cmd":"make"}"#)]),
        tool("c1", "run", &format!("BUILD START\n{big}RESULT: 12 passed")),
    ];
    let req = verifier_request(&input(&Conversation::from(window.clone()), &[], 1_000_000));
    let Message::Tool { content, .. } = &req.messages[3] else { panic!("{:?}", req.messages[3]) };
    assert!(tokens::estimate(content) <= TOOL_RESULT_TOKENS);
    assert!(content.starts_with("BUILD START") && content.ends_with("RESULT: 12 passed"));
    assert!(content.contains(tokens::TRIM_MARKER));
}

/// Every assistant tool call in `msgs` is followed by its results, and every result follows
/// its call.
fn assert_calls_paired(msgs: &[Message]) {
    let mut open: Vec<String> = Vec::new();
    for m in msgs {
        match m {
            Message::Assistant { tool_calls, .. } => {
                assert!(open.is_empty(), "calls without results: {open:?}");
                open = tool_calls.iter().map(|c| c.id.clone()).collect();
            }
            Message::Tool { call_id, .. } => {
                let pos = open.iter().position(|id| id == call_id).unwrap_or_else(|| panic!("result {call_id} without its call"));
                open.remove(pos);
            }
            Message::User { .. } => assert!(open.is_empty(), "calls without results: {open:?}"),
        }
    }
    assert!(open.is_empty());
}

#[test]
fn a_huge_window_fits_the_limit_without_splitting_calls_from_results() {
    let mut window = vec![user("Implement the parser.")];
    for i in 0..400 {
        let (a, b) = (format!("a{i}"), format!("b{i}"));
        window.push(assistant(
            &format!("step {i}"),
            vec![call(&a, "run", &format!(r#"{{"cmd":"pytest -k t{i}"}}"#)), call(&b, "read_file", r#"{"path":"p.py"}"#)],
        ));
        window.push(tool(&a, "run", &"collected 30 items; 29 passed, 1 failed\n".repeat(40)));
        window.push(tool(&b, "read_file", &"def parse(x):\n    return x\n".repeat(30)));
    }
    window.push(assistant("Final run.", vec![call("z", "run", r#"{"cmd":"pytest"}"#)]));
    window.push(tool("z", "run", "120 passed"));
    let cps = vec![("3.2".to_string(), checkpoint("Implement the parser.", &["parser handles nested lists"]))];
    let limit = 20_000;
    let req = verifier_request(&input(&Conversation::from(window.clone()), &cps, limit));

    let total = tokens::estimate(&req.system) + tokens::estimate_messages(&req.messages);
    assert!(total <= limit, "{total} > {limit}");
    assert!(total > limit * 3 / 4, "room was wasted: {total} of {limit}");
    assert!(matches!(&req.messages[0], Message::User { .. }));
    assert!(text_of(&req.messages[0]).contains("# Checkpoint 3.2"));
    assert!(text_of(&req.messages[0]).contains("were left out"));
    let all = req.messages.to_vec();
    let body = &all[1..all.len() - 1];
    assert!(body.len() < window.len() && !body.is_empty());
    assert_calls_paired(body);
    // The newest messages are the ones kept, verbatim.
    assert_eq!(body, &window[window.len() - body.len()..]);
    assert!(text_of(req.messages.last().unwrap()).contains("Fixed median"));
}

#[test]
fn many_big_checkpoints_leave_room_for_the_window() {
    let knowledge: Vec<String> = (0..400).map(|i| format!("fact {i}: the parser handles case {i}")).collect();
    let refs: Vec<&str> = knowledge.iter().map(String::as_str).collect();
    let cps: Vec<(String, Checkpoint)> = (1..=6).map(|i| (format!("{i}.1"), checkpoint("Implement", &refs))).collect();
    let window = small_window();
    let limit = 12_000;
    let req = verifier_request(&input(&Conversation::from(window.clone()), &cps, limit));
    let total = tokens::estimate(&req.system) + tokens::estimate_messages(&req.messages);
    assert!(total <= limit, "{total} > {limit}");
    // The small window is kept whole; the newest checkpoint is there, the oldest is not.
    assert_eq!(&req.messages.to_vec()[1..req.messages.len() - 1], window.as_slice());
    let first = text_of(&req.messages[0]);
    assert!(first.contains("# Checkpoint 6.1") && !first.contains("# Checkpoint 1.1"), "{}", &first[..200]);
}

#[test]
fn a_tiny_limit_still_asks_the_question() {
    let window = small_window();
    let req = verifier_request(&input(&Conversation::from(window.clone()), &[], tokens::estimate(VERIFIER_PROMPT) + 200));
    assert!(matches!(&req.messages[0], Message::User { .. }));
    assert!(matches!(req.messages.last(), Some(Message::User { .. })));
    assert!(req.messages.len() == 2, "no room for the window: {:?}", req.messages);
    assert!(text_of(&req.messages[1]).contains("median()"));
}

#[test]
fn a_big_write_keeps_valid_json_arguments_and_does_not_hide_older_evidence() {
    let content = "def f():\n    return 1\n".repeat(3000);
    let args = serde_json::json!({"path": "big.py", "content": content}).to_string();
    let window = vec![
        user("go"),
        assistant("", vec![call("t1", "run", r#"{"cmd":"pytest"}"#)]),
        tool("t1", "run", "EARLY EVIDENCE: 3 passed"),
        assistant("", vec![call("w", "write_file", &args)]),
        tool("w", "write_file", "wrote big.py"),
    ];
    let req = verifier_request(&input(&Conversation::from(window.clone()), &[], 8_000));
    assert!(req.messages.iter().any(|m| text_of(m).contains("EARLY EVIDENCE")), "older evidence kept");
    let Some(Message::Assistant { tool_calls, .. }) =
        req.messages.iter().find(|m| matches!(m, Message::Assistant { tool_calls, .. } if tool_calls.iter().any(|c| c.id == "w")))
    else {
        panic!("write call kept")
    };
    let v: serde_json::Value = serde_json::from_str(&tool_calls[0].arguments).expect("still JSON");
    assert_eq!(v["path"], "big.py");
    let cut = v["content"].as_str().unwrap();
    assert!(cut.contains(tokens::TRIM_MARKER) && cut.starts_with("def f():") && cut.len() < content.len() / 10);
}

#[test]
fn after_a_rollover_the_users_words_are_kept_whatever_else_is_cut() {
    let words = crate::memory::window::users_words_block(
        "Advance the counter to 60, one step at a time",
        Some("counter.txt holds 60"),
        &["Never skip a number".to_string()],
    );
    // A window far over the limit: most of it is left out, the user's words are not.
    let big: Conversation = (0..200)
        .flat_map(|i| {
            vec![
                assistant("", vec![call(&format!("c{i}"), "run", r#"{"cmd":"./step.sh"}"#)]),
                tool(&format!("c{i}"), "run", &format!("counter at {i}\n{}", "log line\n".repeat(100))),
            ]
        })
        .collect();
    let mut inp = input(&big, &[], 6_000);
    inp.users_words = Some(&words);
    let req = verifier_request(&inp);
    let first = match &req.messages[0] {
        Message::User { text } => text.clone(),
        other => panic!("{other:?}"),
    };
    for needle in ["Advance the counter to 60, one step at a time", "counter.txt holds 60", "Never skip a number"] {
        assert!(first.contains(needle), "{needle} missing:\n{first}");
    }
    assert!(first.contains("were left out"), "the window was cut: {first}");
    assert!(crate::memory::tokens::estimate_messages(&req.messages) + crate::memory::tokens::estimate(&req.system) <= 6_000);
}

#[test]
fn the_request_shares_the_results_it_keeps_whole_and_copies_none_it_leaves_out() {
    let window: Conversation = small_window().into();
    let req = verifier_request(&input(&window, &[], 100_000));
    let shared = req
        .messages
        .iter()
        .filter_map(|m| match m {
            Message::Tool { content, .. } => Some(content),
            _ => None,
        })
        .filter(|c| window.iter().any(|w| matches!(w, Message::Tool { content, .. } if Arc::ptr_eq(content, c))))
        .count();
    assert_eq!(shared, 3, "every short result is the window's own, not a copy");
}
