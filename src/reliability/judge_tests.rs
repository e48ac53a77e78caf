use super::*;

fn call(id: &str, name: &str, args: &str) -> ToolCallRequest {
    ToolCallRequest { id: id.into(), name: name.into(), arguments: args.into() }
}

fn user_text(req: &ModelRequest) -> &str {
    assert_eq!(req.messages.len(), 1, "one user message");
    match &req.messages[0] {
        Message::User { text } => text,
        other => panic!("not a user message: {other:?}"),
    }
}

// ---- judge_request ----

#[test]
fn candidates_are_numbered_with_their_tool_calls() {
    let c1 = [call("a", "run", r#"{"cmd":"pytest -q","timeout":60}"#)];
    let c2 = [call("b", "edit_file", r#"{"path":"stats.py","old":"//","new":"/"}"#), call("c", "run", "not json {")];
    let candidates = [
        Candidate { index: 1, text: "Run the tests first.", tool_calls: &c1 },
        Candidate { index: 2, text: "Fix the division.", tool_calls: &c2 },
        Candidate { index: 3, text: "I think we are done.", tool_calls: &[] },
    ];
    let window = vec![
        Message::User { text: "Fix median for even lists.".into() },
        Message::Assistant { text: "Reading.".into(), tool_calls: vec![call("r", "read_file", r#"{"path":"stats.py"}"#)], blocks: vec![] },
        Message::Tool {
            call_id: "r".into(),
            name: "read_file".into(),
            content: "def median(xs): return xs[len(xs)//2]".into(),
            is_error: false,
        },
    ];
    let req = judge_request(&JudgeInput {
        task: "Fix median for even lists.",
        window: &window,
        candidates: &candidates,
        model: "judge-model",
        max_tokens: 300,
        limit_tokens: 50_000,
    });
    assert_eq!(req.role, Role::Judge);
    assert_eq!(req.temperature, Some(0.0));
    assert_eq!(req.model, "judge-model");
    assert_eq!(req.max_tokens, 300);
    assert!(req.tools.is_empty());
    assert!(req.system.contains(r#""pick""#) && req.system.contains("progress"));
    let text = user_text(&req);

    let (p1, p2, p3) = (text.find("## Candidate 1\n"), text.find("## Candidate 2\n"), text.find("## Candidate 3\n"));
    let (p1, p2, p3) = (p1.expect("candidate 1"), p2.expect("candidate 2"), p3.expect("candidate 3"));
    assert!(p1 < p2 && p2 < p3);
    let one = &text[p1..p2];
    assert!(one.contains("Run the tests first."));
    // JSON arguments are pretty-printed under the tool name.
    assert!(one.contains("- `run`") && one.contains("\"cmd\": \"pytest -q\",\n  \"timeout\": 60"), "{one}");
    let two = &text[p2..p3];
    assert!(two.contains("- `edit_file`") && two.contains("\"path\": \"stats.py\""), "{two}");
    // Arguments that are not JSON are shown raw.
    assert!(two.contains("- `run`\n```json\nnot json {\n```"), "{two}");
    assert!(text[p3..].contains("Tool calls: none"));

    // Context comes before the candidates, and the task is there.
    let ctx = text.find("def median(xs)").expect("recent context shown");
    assert!(ctx < p1);
    assert!(text.starts_with("# Task\nFix median for even lists."));
    assert!(text.contains("from 1 to 3"));
}

#[test]
fn context_is_trimmed_to_fit_keeping_the_newest() {
    let mut window = Vec::new();
    for i in 0..300 {
        window.push(Message::Assistant {
            text: format!("step {i}"),
            tool_calls: vec![call(&format!("c{i}"), "run", r#"{"cmd":"make"}"#)],
            blocks: vec![],
        });
        window.push(Message::Tool {
            call_id: format!("c{i}"),
            name: "run".into(),
            content: format!("output {i}\n").repeat(200).into(),
            is_error: false,
        });
    }
    let args = r#"{"path":"a.py","content":"print(1)"}"#;
    let c = [call("x", "write_file", args)];
    let candidates = [Candidate { index: 1, text: "write", tool_calls: &c }, Candidate { index: 2, text: "test", tool_calls: &[] }];
    let limit = 6_000;
    let req = judge_request(&JudgeInput {
        task: "t",
        window: &window,
        candidates: &candidates,
        model: "m",
        max_tokens: 100,
        limit_tokens: limit,
    });
    let text = user_text(&req);
    let total = tokens::estimate(&req.system) + tokens::estimate_messages(&req.messages);
    assert!(total <= limit, "{total} > {limit}");
    assert!(text.contains("step 299") && !text.contains("step 0\n"), "newest kept, oldest dropped");
    assert!(text.contains("older messages are not shown"));
    assert!(text.contains("## Candidate 1") && text.contains("## Candidate 2"));
}

#[test]
fn huge_candidates_are_cut_to_fit() {
    let big = format!(r#"{{"path":"big.py","content":{}}}"#, serde_json::to_string(&"x = 1\n".repeat(5000)).unwrap());
    let c = [call("x", "write_file", &big)];
    let candidates = [Candidate { index: 1, text: "write it", tool_calls: &c }, Candidate { index: 2, text: "run tests", tool_calls: &[] }];
    let limit = 3_000;
    let req =
        judge_request(&JudgeInput { task: "t", window: &[], candidates: &candidates, model: "m", max_tokens: 100, limit_tokens: limit });
    let total = tokens::estimate(&req.system) + tokens::estimate_messages(&req.messages);
    assert!(total <= limit, "{total} > {limit}");
    let text = user_text(&req);
    assert!(text.contains("## Candidate 1") && text.contains("## Candidate 2\nrun tests"), "{text}");
}

// ---- parse_pick ----

#[test]
fn pick_as_json_in_every_wrapping() {
    assert_eq!(parse_pick(r#"{"pick": 2, "reason": "runs the tests"}"#, 3), Ok((2, "runs the tests".into())));
    assert_eq!(parse_pick("```json\n{\"pick\": 1, \"reason\": \"minimal\"}\n```", 3), Ok((1, "minimal".into())));
    assert_eq!(
        parse_pick(r#"Comparing them, {"note": "x"} aside: {"pick": "3", "reason": "reads {first}"} is best."#, 3),
        Ok((3, "reads {first}".into()))
    );
    assert_eq!(parse_pick(r#"{"pick": 2}"#, 2), Ok((2, String::new())));
    assert_eq!(parse_pick(r#"{"pick": 2.0, "reason": "ok"}"#, 2), Ok((2, "ok".into())));
    assert_eq!(parse_pick(r#"{"pick": "Candidate 1", "reason": "ok"}"#, 2), Ok((1, "ok".into())));
}

#[test]
fn bare_integer_answers() {
    for (answer, want) in [("2", 2), (" 2\n", 2), ("Candidate 2", 2), ("candidate #3", 3), ("2.", 2), ("**1**", 1), ("`3`", 3), ("3)", 3)] {
        assert_eq!(parse_pick(answer, 3), Ok((want, String::new())), "{answer:?}");
    }
}

#[test]
fn out_of_range_and_garbage_are_errors() {
    for answer in [r#"{"pick": 0}"#, r#"{"pick": 4, "reason": "x"}"#, "0", "Candidate 7", r#"{"pick": -1}"#, r#"{"pick": 99999999999}"#] {
        let e = parse_pick(answer, 3).unwrap_err();
        assert!(e.contains("pick") || e.contains("candidate"), "{answer}: {e}");
    }
    let e = parse_pick(r#"{"pick": 4}"#, 3).unwrap_err();
    assert!(e.contains('4') && e.contains("1 to 3"), "{e}");
    assert!(parse_pick("I like the second one best.", 3).is_err());
    assert!(parse_pick("2 and 3 are both fine", 3).is_err());
    assert!(parse_pick(r#"{"pick": "two"}"#, 3).unwrap_err().contains("`pick`"));
    assert!(parse_pick(r#"{"pick": true}"#, 3).is_err());
    assert!(parse_pick("", 3).is_err());
}
