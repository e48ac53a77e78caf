use super::*;
use crate::protocol::ToolCallRequest;

/// A complete answer object; `extra` is spliced in before the closing brace.
fn answer_json(extra: &str) -> String {
    format!(
        r#"{{
  "active_intent": "Fix the rounding bug in Invoice.total {{not a brace problem}}",
  "next_action": "Run `python -m pytest tests/test_invoice.py -x`",
  "directives": ["Use the v2 API", "Never touch migrations/"],
  "task_tree": ["[done] reproduce", "[in progress] fix"],
  "current_work": "Editing src/billing/invoice.py",
  "files": ["src/billing/invoice.py: Invoice model"],
  "knowledge": ["0.1 * 3 == 0.30000000000000004 in Python"],
  "errors_and_fixes": ["AssertionError: assert 0.30000000000000004 == 0.3 -> round to cents"],
  "live_resources": ["branch fix-rounding", "dev server on port 8080"],
  "decisions": ["round() in total(), not at display time: totals are compared in tests"],
  "open_notes": ""{extra}
}}"#
    )
}

fn sample() -> Checkpoint {
    match parse_writer_answer(&answer_json("")) {
        Ok(a) => a.checkpoint,
        Err(e) => panic!("sample does not parse: {e}"),
    }
}

#[test]
fn parses_a_bare_object() {
    let a = parse_writer_answer(&answer_json("")).unwrap();
    assert_eq!(a.checkpoint.active_intent, CheckpointField::Text("Fix the rounding bug in Invoice.total {not a brace problem}".into()));
    assert_eq!(a.checkpoint.directives, CheckpointField::List(vec!["Use the v2 API".into(), "Never touch migrations/".into()]));
    assert_eq!(a.checkpoint.open_notes, CheckpointField::Text(String::new()));
    assert!(a.memory_updates.is_empty());
}

#[test]
fn parses_a_fenced_object_with_prose_around_it() {
    let text = format!("Here is the checkpoint.\n\n```json\n{}\n```\n\nLet me know if anything is missing.", answer_json(""));
    let a = parse_writer_answer(&text).unwrap();
    assert_eq!(a.checkpoint, sample());
}

#[test]
fn prefers_the_fenced_block_over_an_example_object_in_the_prose() {
    // The prose holds a complete but different object; the fenced one is the answer.
    let other = answer_json("").replace("port 8080", "port 9999");
    let text = format!("Earlier I wrote {other} but here is the real one:\n```json\n{}\n```", answer_json(""));
    let a = parse_writer_answer(&text).unwrap();
    assert_eq!(a.checkpoint, sample());
}

#[test]
fn parses_prose_wrapped_bare_object_with_braces_in_strings_and_an_example_before_it() {
    let json = answer_json("").replace("Editing src/billing/invoice.py", r#"Editing {\"a\": \"}\"} and } and { in strings"#);
    let text = format!("I use the format {{like this}} and {{\"x\": 1}} below.\n{json}\nDone {{ trailing");
    let a = parse_writer_answer(&text).unwrap();
    assert_eq!(a.checkpoint.current_work, CheckpointField::Text(r#"Editing {"a": "}"} and } and { in strings"#.into()));
}

#[test]
fn a_fence_inside_a_string_does_not_break_a_bare_answer() {
    let json = answer_json("").replace("Editing src/billing/invoice.py", "wrote ```rust\\nfn main() {}\\n``` into main.rs");
    let a = parse_writer_answer(&json).unwrap();
    assert_eq!(a.checkpoint.current_work, CheckpointField::Text("wrote ```rust\nfn main() {}\n``` into main.rs".into()));
}

#[test]
fn an_unclosed_fence_still_parses() {
    let text = format!("```json\n{}", answer_json(""));
    assert_eq!(parse_writer_answer(&text).unwrap().checkpoint, sample());
}

#[test]
fn parses_memory_updates() {
    let a = parse_writer_answer(&answer_json(
        r#",
  "memory_updates": {"Gotchas": ["Floats: compare totals in cents"], "Rules": "Use the v2 API", "Patterns": []}"#,
    ))
    .unwrap();
    assert_eq!(a.memory_updates.get("Gotchas"), Some(&vec!["Floats: compare totals in cents".to_string()]));
    assert_eq!(a.memory_updates.get("Rules"), Some(&vec!["Use the v2 API".to_string()]));
    assert!(!a.memory_updates.contains_key("Patterns"), "empty sections are dropped");
}

#[test]
fn missing_keys_are_named_in_canonical_order() {
    let json = answer_json("").replace("\"files\"", "\"files_x\"").replace("\"decisions\"", "\"decisions_x\"");
    let v: Value = serde_json::from_str(&json).unwrap();
    let mut map = v.as_object().unwrap().clone();
    map.remove("files_x");
    map.remove("decisions_x");
    let err = parse_writer_answer(&Value::Object(map).to_string()).unwrap_err();
    assert_eq!(err.to_string(), "missing keys: files, decisions");
    assert!(matches!(err, CheckpointError::Keys { ref unknown, .. } if unknown.is_empty()));
}

#[test]
fn unknown_and_missing_keys_are_both_reported() {
    let err = parse_writer_answer(&answer_json(r#", "foo": "bar""#)).unwrap_err();
    assert_eq!(err.to_string(), "unknown key: foo");
    let renamed = answer_json("").replace("\"open_notes\"", "\"notes\"");
    let err = parse_writer_answer(&renamed).unwrap_err();
    assert_eq!(err.to_string(), "missing key: open_notes; unknown key: notes");
}

#[test]
fn field_types_are_checked() {
    for (from, to) in [
        (r#""next_action": "Run `python -m pytest tests/test_invoice.py -x`""#, r#""next_action": 3"#),
        (r#""next_action": "Run `python -m pytest tests/test_invoice.py -x`""#, r#""next_action": null"#),
        (r#""next_action": "Run `python -m pytest tests/test_invoice.py -x`""#, r#""next_action": ["a", 2]"#),
        (r#""next_action": "Run `python -m pytest tests/test_invoice.py -x`""#, r#""next_action": {"a": "b"}"#),
    ] {
        let json = answer_json("").replace(from, to);
        assert_ne!(json, answer_json(""), "replacement must apply");
        let err = parse_writer_answer(&json).unwrap_err();
        assert_eq!(err.to_string(), "next_action must be a string or a list of strings", "{to}");
    }
}

#[test]
fn bad_memory_updates_are_named() {
    let err = parse_writer_answer(&answer_json(r#", "memory_updates": ["x"]"#)).unwrap_err();
    assert!(matches!(err, CheckpointError::MemoryUpdates(_)));
    assert!(err.to_string().starts_with("memory_updates must be an object"), "{err}");
    let err = parse_writer_answer(&answer_json(r#", "memory_updates": {"Gotchas": [1]}"#)).unwrap_err();
    assert_eq!(err.to_string(), "memory_updates.Gotchas must be a list of strings");
}

#[test]
fn no_object_and_broken_json_are_distinguished() {
    assert!(matches!(parse_writer_answer("I could not write a checkpoint."), Err(CheckpointError::NoObject)));
    let err = parse_writer_answer("```json\n{\"active_intent\": \"x\",}\n```").unwrap_err();
    assert!(matches!(err, CheckpointError::InvalidJson(_)), "{err}");
    // An array is JSON but not an object.
    assert!(matches!(parse_writer_answer("[1, 2]"), Err(CheckpointError::NoObject)));
}

#[test]
fn save_and_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let cp = sample();
    let path = save(&dir.path().join("checkpoints"), "2.3", &cp, &crate::redact::Redactor::default()).unwrap();
    assert_eq!(path, dir.path().join("checkpoints/2.3.json"));
    assert_eq!(load(&path).unwrap(), cp);
    let md = std::fs::read_to_string(dir.path().join("checkpoints/2.3.md")).unwrap();
    assert!(md.starts_with("# Checkpoint 2.3\n"), "{md}");
    let json = std::fs::read_to_string(&path).unwrap();
    assert!(json.contains("\n  \"active_intent\""), "pretty JSON: {json}");
}

#[test]
fn saved_files_never_hold_the_key() {
    let key = "sk-ant-0123456789abcdefghijklmnopqrstuvwxyz";
    let dir = tempfile::tempdir().unwrap();
    let mut cp = sample();
    cp.knowledge = CheckpointField::List(vec![format!("the key is {key}"), format!("half: {}", &key[10..30])]);
    let path = save(dir.path(), "1.1", &cp, &crate::redact::Redactor::new([key])).unwrap();
    for file in [path.clone(), dir.path().join("1.1.md")] {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains(&key[10..22]) && !text.contains(&key[20..32]), "{text}");
        assert!(text.contains("the key is [redacted]"), "{text}");
    }
}

#[test]
fn save_refuses_ids_that_are_not_plain_names() {
    let dir = tempfile::tempdir().unwrap();
    for id in ["", "../x", "a/b", ".hidden"] {
        assert!(save(dir.path(), id, &sample(), &crate::redact::Redactor::default()).is_err(), "{id:?}");
    }
}

#[test]
fn load_reports_missing_and_invalid_files() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(load(&dir.path().join("none.json")), Err(CheckpointError::Io { .. })));
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"active_intent": "x"}"#).unwrap();
    let err = load(&bad).unwrap_err();
    assert!(matches!(err, CheckpointError::Invalid { .. }));
    assert!(err.to_string().contains("bad.json"), "{err}");
}

#[test]
fn markdown_has_a_heading_per_field_and_bullets_for_lists() {
    let mut cp = sample();
    cp.knowledge = CheckpointField::List(vec!["line one\nline two".into()]);
    let md = render_markdown("1.0", &cp);
    for key in Checkpoint::FIELDS {
        assert!(md.contains(&format!("\n## {}\n", title(key))), "{key}: {md}");
    }
    assert!(md.contains("## Errors and fixes\n"));
    assert!(md.contains("- Use the v2 API\n- Never touch migrations/\n"));
    assert!(md.contains("- line one\n  line two\n"), "multi-line items stay one bullet");
    assert!(md.contains("## Open notes\n\n_none_\n"));
}

fn conversation() -> Vec<Message> {
    vec![
        Message::User { text: "Fix the rounding bug".into() },
        Message::Assistant {
            text: "Running the tests.".into(),
            tool_calls: vec![ToolCallRequest { id: "c1".into(), name: "run".into(), arguments: r#"{"command": "pytest -x"}"#.into() }],
            blocks: vec![],
        },
        Message::Tool { call_id: "c1".into(), name: "run".into(), content: "1 failed, 45 passed".into(), is_error: false },
    ]
}

fn input<'a>(conv: &'a [Message], corrections: &'a [String], limit: u64) -> WriterInput<'a> {
    WriterInput {
        task: "Fix the rounding bug",
        previous: None,
        conversation: conv,
        corrections,
        memory_md: Some("# Rules\n- Use uv, not pip\n"),
        want_memory_updates: false,
        limit_tokens: limit,
    }
}

#[test]
fn writer_system_prompt_lists_every_key_and_the_literal_rule() {
    let (system, _) = writer_prompt(&input(&[], &[], 100_000));
    for key in Checkpoint::FIELDS {
        assert!(system.contains(&format!("`{key}`")), "{key} missing from the writer prompt");
    }
    assert!(system.contains("byte for byte"));
    assert!(!system.contains("memory_updates"), "memory section only when wanted");
    assert!(!system.contains("<!--"));

    let mut wanted = input(&[], &[], 100_000);
    wanted.want_memory_updates = true;
    let (system, user) = writer_prompt(&wanted);
    assert!(system.contains("`memory_updates`"));
    for s in MEMORY_SECTIONS {
        assert!(system.contains(&format!("`{s}`")), "{s}");
    }
    assert!(!system.contains("<!--"));
    assert!(user.contains("plus memory_updates"));
}

#[test]
fn writer_user_message_renders_the_conversation_compactly() {
    let conv = conversation();
    let corrections = vec!["Use the v2 API, not v1".to_string()];
    let mut inp = input(&conv, &corrections, 100_000);
    let prev = sample();
    inp.previous = Some(&prev);
    let (_, user) = writer_prompt(&inp);
    assert!(user.contains("### user\nFix the rounding bug\n"));
    assert!(user.contains(r#"→ run({"command": "pytest -x"})"#));
    assert!(user.contains("### tool result: run\n1 failed, 45 passed\n"));
    assert!(user.contains("- Use the v2 API, not v1\n"));
    assert!(user.contains("\"live_resources\""), "previous checkpoint included");
    assert!(user.contains("Use uv, not pip"), "memory included");
    assert!(!user.contains("left out"));
}

#[test]
fn writer_prompt_trims_huge_tool_results_to_head_and_tail() {
    let mut conv = conversation();
    let huge = format!("HEAD-LINE\n{}TAIL-LINE 3 failed", "x = 1 + 2 # filler line\n".repeat(5_000));
    conv[2] = Message::Tool { call_id: "c1".into(), name: "run".into(), content: huge.into(), is_error: false };
    let (_, user) = writer_prompt(&input(&conv, &[], 1_000_000));
    assert!(user.contains("HEAD-LINE") && user.contains("TAIL-LINE 3 failed") && user.contains(tokens::TRIM_MARKER));
    assert!(tokens::estimate(&user) < 3_000, "{}", tokens::estimate(&user));
}

#[test]
fn writer_prompt_drops_the_oldest_messages_to_fit_and_says_so() {
    let mut conv = Vec::new();
    for i in 0..200 {
        conv.push(Message::User { text: format!("message number {i}: {}", "some words here ".repeat(30)) });
    }
    let corrections = vec!["Keep the public API stable".to_string()];
    let limit = 4_000;
    let (system, user) = writer_prompt(&input(&conv, &corrections, limit));
    assert!(tokens::estimate(&system) + tokens::estimate(&user) <= limit);
    assert!(user.contains("message number 199:"), "newest kept");
    assert!(!user.contains("message number 0:"), "oldest dropped");
    assert!(user.contains("were left out to fit"));
    assert!(user.contains("Keep the public API stable"));
    assert!(user.ends_with("Copy literal values byte for byte.\n"));
}

#[test]
fn writer_prompt_fits_even_when_memory_alone_is_too_big() {
    let memory = "- a durable fact about the project\n".repeat(3_000);
    let mut inp = input(&[], &[], 3_000);
    inp.memory_md = Some(&memory);
    let (system, user) = writer_prompt(&inp);
    assert!(tokens::estimate(&system) + tokens::estimate(&user) <= 3_000);
    assert!(user.contains(tokens::TRIM_MARKER));
    assert!(user.contains("# Task\nFix the rounding bug"));
}
