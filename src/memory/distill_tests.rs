use chrono::Utc;
use serde_json::json;

use super::*;
use crate::memory::dream::tests::Recording;
use crate::model::Message;
use crate::protocol::{Diagnostic, Role, TestCounts};

/// Builds a session's events in order, with call ids and step numbers filled in.
#[derive(Default)]
struct Log {
    events: Vec<Event>,
    calls: u32,
}

impl Log {
    fn push(&mut self, kind: EventKind) -> &mut Self {
        self.events.push(Event { command_id: None, seq: self.events.len() as u64, ts: Utc::now(), kind });
        self
    }

    fn run(&mut self, command: &str, ok: bool, feedback: Feedback) -> &mut Self {
        self.calls += 1;
        let call_id = format!("c{}", self.calls);
        let step = u64::from(self.calls);
        self.push(EventKind::ToolCall { step, call_id: call_id.clone(), name: "run".into(), args: json!({ "command": command }) });
        self.push(EventKind::ToolResult {
            step,
            call_id,
            name: "run".into(),
            ok,
            exit_code: Some(if ok { 0 } else { 1 }),
            duration_ms: 10,
            output: "".into(),
            feedback,
        })
    }

    fn pass(&mut self, command: &str) -> &mut Self {
        self.run(command, true, Feedback::default())
    }

    fn fail_test(&mut self, command: &str, test: &str) -> &mut Self {
        let fb = Feedback {
            failing_tests: vec![test.into()],
            tests: Some(TestCounts { passed: 3, failed: 1, skipped: 0 }),
            ..Default::default()
        };
        self.run(command, false, fb)
    }

    fn edit(&mut self, path: &str) -> &mut Self {
        self.calls += 1;
        self.push(EventKind::FileChanged { step: u64::from(self.calls), path: path.into(), before: None, after: None, diff: String::new() })
    }

    fn correct(&mut self, text: &str) -> &mut Self {
        let id = u64::from(self.calls);
        self.push(EventKind::CorrectionQueued { id, text: text.into() })
    }

    fn read(&mut self, path: &str) -> &mut Self {
        self.calls += 1;
        self.push(EventKind::ToolCall {
            step: 0,
            call_id: format!("r{}", self.calls),
            name: "read_file".into(),
            args: json!({ "path": path }),
        })
    }

    fn done(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}

const PYTEST: &str = "python3 -m pytest -x";
const FAILING: &str = "tests/test_stats.py::test_mean_empty";

fn session_a() -> Vec<Event> {
    Log::default()
        .correct("Always run the tests with python3 -m pytest -x, not pytest.")
        .pass("cargo test")
        .read("src/lib.rs")
        .pass("python3  -m pytest   -x")
        .fail_test(PYTEST, FAILING)
        .edit("textstats/stats.py")
        .fail_test(PYTEST, FAILING)
        .edit("tests/test_stats.py")
        .pass(PYTEST)
        .done()
}

fn session_b() -> Vec<Event> {
    Log::default()
        .pass("cargo test")
        .pass("cargo test")
        .pass(PYTEST)
        .correct("always run tests with `python3 -m pytest -x` and not plain pytest")
        .fail_test(PYTEST, FAILING)
        .edit("textstats/stats.py")
        .pass(PYTEST)
        .done()
}

fn mined() -> Patterns {
    mine(&[("a".into(), session_a()), ("b".into(), session_b())])
}

#[test]
fn mines_repeated_commands_across_sessions() {
    let p = mined();
    let cmds: Vec<(&str, u32, Vec<&str>)> =
        p.commands.iter().map(|c| (c.command.as_str(), c.count, c.sessions.iter().map(String::as_str).collect())).collect();
    // Whitespace does not make a different command.
    assert_eq!(cmds, vec![(PYTEST, 7, vec!["a", "b"]), ("cargo test", 3, vec!["a", "b"])]);
}

#[test]
fn mines_repeated_consecutive_sequences() {
    let p = mined();
    let seq = |cs: &[&str]| p.sequences.iter().find(|s| s.commands.iter().map(String::as_str).eq(cs.iter().copied()));
    let s = seq(&["cargo test", PYTEST]).unwrap_or_else(|| panic!("{:#?}", p.sequences));
    assert_eq!(s.count, 2, "b's rerun of cargo test is one step");
    assert_eq!(s.sessions, vec!["a", "b"]);
    // Consecutive reruns collapse, so no sequence repeats a command with itself.
    assert!(p.sequences.iter().all(|s| s.commands.windows(2).all(|w| w[0] != w[1])), "{:#?}", p.sequences);
    assert!(p.sequences.iter().all(|s| s.count >= 2));
}

#[test]
fn mines_similar_corrections_across_sessions() {
    let p = mined();
    assert_eq!(p.corrections.len(), 1, "{:#?}", p.corrections);
    let c = &p.corrections[0];
    assert_eq!(c.count, 2);
    assert_eq!(c.sessions, vec!["a", "b"]);
    assert_eq!(c.text, "Always run the tests with python3 -m pytest -x, not pytest.");
    assert_eq!(c.variants, vec!["always run tests with `python3 -m pytest -x` and not plain pytest"]);
}

#[test]
fn mines_failures_fixed_by_edits() {
    let p = mined();
    assert_eq!(p.fixes.len(), 1, "{:#?}", p.fixes);
    let f = &p.fixes[0];
    assert_eq!(f.command, PYTEST);
    assert_eq!(f.failure, format!("failing tests: {FAILING}"));
    assert_eq!(f.count, 2);
    assert_eq!(f.sessions, vec!["a", "b"]);
    // stats.py was changed in both fixes, the test file in one.
    assert_eq!(f.files, vec!["textstats/stats.py", "tests/test_stats.py"]);
}

#[test]
fn failures_that_pass_without_edits_or_diagnostics_are_not_fixes() {
    let flaky = |_: ()| Log::default().fail_test(PYTEST, FAILING).pass(PYTEST).done();
    let vague = |_: ()| Log::default().run("make", false, Feedback::default()).edit("Makefile").pass("make").done();
    let p = mine(&[("a".into(), flaky(())), ("b".into(), flaky(())), ("c".into(), vague(())), ("d".into(), vague(()))]);
    assert!(p.fixes.is_empty(), "{:#?}", p.fixes);
    // Diagnostics count as a failure, and numbers in them do not split one failure into two.
    let diag = |n: u32| Feedback {
        diagnostics: vec![Diagnostic {
            kind: "rustc error".into(),
            file: Some("src/lib.rs".into()),
            line: Some(n),
            col: None,
            message: format!("expected {n} arguments"),
        }],
        ..Default::default()
    };
    let s = |n| Log::default().run("cargo build", false, diag(n)).edit("src/lib.rs").pass("cargo build").done();
    let p = mine(&[("a".into(), s(2)), ("b".into(), s(3))]);
    assert_eq!(p.fixes.len(), 1, "{:#?}", p.fixes);
    assert_eq!(p.fixes[0].failure, "rustc error in src/lib.rs: expected 2 arguments");
}

#[test]
fn nothing_repeated_means_no_patterns_and_no_model_call() {
    let one = Log::default().correct("use the v2 API").fail_test(PYTEST, FAILING).edit("a.py").pass(PYTEST).pass("ls").done();
    let other = Log::default().correct("write a changelog entry").pass("cargo build").done();
    let p = mine(&[("a".into(), one), ("b".into(), other)]);
    assert!(p.is_empty(), "{p:#?}");
    assert!(mine(&[]).is_empty());

    let provider = Recording::writer(&[]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let skills = rt.block_on(distill(&provider, "m", &RetryPolicy::default(), &p, &[], &mut Vec::new())).unwrap();
    assert!(skills.is_empty());
    assert!(provider.sent().is_empty(), "the model was called");
}

const SKILLS: &str = r#"{"skills": [
  {"name": "run-python-tests", "description": "Use before calling done.\n Runs pytest.", "body": "Run `python3 -m pytest -x` and read the first failure."},
  {"name": "existing-one", "description": "dup", "body": "x"}
]}"#;

fn existing() -> Vec<SkillMeta> {
    vec![SkillMeta { name: "existing-one".into(), description: "covers cargo test".into() }]
}

fn policy() -> RetryPolicy {
    RetryPolicy { max_attempts: 1, ..Default::default() }
}

#[tokio::test]
async fn distill_turns_patterns_into_validated_skills() {
    let provider = Recording::writer(&[SKILLS]);
    let skills = distill(&provider, "w", &policy(), &mined(), &existing(), &mut Vec::new()).await.unwrap();
    assert_eq!(
        skills,
        vec![Skill {
            name: "run-python-tests".into(),
            description: "Use before calling done. Runs pytest.".into(),
            body: "Run `python3 -m pytest -x` and read the first failure.".into(),
        }],
        "an existing skill's name is skipped"
    );
    let sent = provider.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].role, sent[0].temperature), (Role::Writer, Some(0.0)));
    assert_eq!(sent[0].system, DISTILL_PROMPT);
    let Message::User { text } = &sent[0].messages[0] else { panic!() };
    assert!(text.contains("- existing-one: covers cargo test"), "{text}");
    assert!(text.contains(FAILING) && text.contains("\"corrections\""), "{text}");
}

#[tokio::test]
async fn distill_accepts_fenced_and_empty_answers() {
    let fenced = format!("Here you go:\n```json\n{SKILLS}\n```");
    let provider = Recording::writer(&[&fenced, "```json\n{\"skills\": []}\n```"]);
    assert_eq!(distill(&provider, "w", &policy(), &mined(), &[], &mut Vec::new()).await.unwrap().len(), 2);
    assert!(distill(&provider, "w", &policy(), &mined(), &[], &mut Vec::new()).await.unwrap().is_empty());
}

#[tokio::test]
async fn distill_retries_once_then_fails_with_the_reason() {
    let bad_name = r#"{"skills": [{"name": "Run Tests", "description": "d", "body": "b"}]}"#;
    let provider = Recording::writer(&["I think you should write a skill about pytest.", SKILLS]);
    let skills = distill(&provider, "w", &policy(), &mined(), &[], &mut Vec::new()).await.unwrap();
    assert_eq!(skills.len(), 2);
    let sent = provider.sent();
    assert_eq!(sent.len(), 2);
    let Some(Message::User { text }) = sent[1].messages.last() else { panic!() };
    assert!(text.contains("not the JSON object"), "{text}");

    let provider = Recording::writer(&[bad_name, r#"{"skills": [{"name": "ok", "description": " ", "body": ""}]}"#, SKILLS]);
    let err = distill(&provider, "w", &policy(), &mined(), &[], &mut Vec::new()).await.unwrap_err();
    match err {
        MemoryError::BadAnswer { task: "distill", reason } => {
            assert!(reason.contains("empty description") && reason.contains("empty body"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(provider.sent().len(), 2);
}

#[test]
fn parse_skills_refuses_bad_names_and_duplicates() {
    let err = parse_skills(r#"{"skills": [{"name": "../x", "description": "d", "body": "b"}]}"#, &[]).unwrap_err();
    assert!(err.contains("invalid skill name `../x`"), "{err}");
    let dup = r#"[{"name": "a", "description": "d", "body": "b"}, {"name": "a", "description": "d", "body": "b"}]"#;
    assert!(parse_skills(dup, &[]).unwrap_err().contains("appears twice"));
}
