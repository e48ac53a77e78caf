use std::sync::{Arc, Mutex};

use super::*;
use crate::model::OpenFuture;
use crate::model::scripted::{Answer, Scenario, ScriptedProvider};

/// A scripted provider that also keeps the requests it was sent.
pub(in crate::memory) struct Recording {
    inner: ScriptedProvider,
    pub requests: Mutex<Vec<ModelRequest>>,
}

impl Recording {
    pub fn writer(answers: &[&str]) -> Recording {
        let scenario = Scenario {
            writer: answers.iter().map(|t| Answer { text: t.to_string(), ..Default::default() }).collect(),
            ..Default::default()
        };
        Recording { inner: ScriptedProvider::new(Arc::new(scenario), 0.0), requests: Mutex::new(Vec::new()) }
    }

    pub fn sent(&self) -> Vec<ModelRequest> {
        self.requests.lock().unwrap().clone()
    }
}

impl Provider for Recording {
    fn name(&self) -> &str {
        "recording"
    }
    fn open<'a>(&'a self, req: &'a ModelRequest) -> OpenFuture<'a> {
        self.requests.lock().unwrap().push(req.clone());
        self.inner.open(req)
    }
}

const OLD: &str = "\
# Project memory

## Rules

- Run tests with `python3 -m pytest -x` <!-- from: s1 -->
- run the tests with python3 -m pytest -x before done <!-- from: s2 -->

## Architecture decisions

## Verified knowledge

- mean() raises ValueError on empty input <!-- from: s1 -->

## Patterns

## Gotchas
";

const NEW: &str = "\
# Project memory

## Rules

- Run tests with `python3 -m pytest -x` before calling done <!-- from: s1, s2 -->

## Architecture decisions

- Keep stats pure functions: no I/O in textstats/ <!-- from: s3 -->

## Verified knowledge

- mean() raises ValueError on empty input <!-- from: s1 -->

## Patterns

```sh
python3 -m pytest -x tests/test_stats.py
```

## Gotchas
";

fn checkpoint() -> Checkpoint {
    Checkpoint {
        knowledge: CheckpointField::List(vec!["median() sorts a copy".into(), " ".into()]),
        decisions: CheckpointField::Text("Keep stats pure functions".into()),
        next_action: CheckpointField::Text("EPHEMERAL-NEXT-ACTION".into()),
        ..Default::default()
    }
}

fn policy() -> RetryPolicy {
    RetryPolicy { max_attempts: 1, ..Default::default() }
}

#[tokio::test]
async fn valid_answer_becomes_the_proposal_with_a_diff() {
    let p = Recording::writer(&[NEW]);
    let cps = vec![("s3/1.1".to_string(), checkpoint())];
    let r = dream(&p, "writer-model", &policy(), OLD, &cps, &["s3".to_string()], &mut Vec::new()).await.unwrap();
    assert_eq!(r.content, NEW);
    assert!(r.diff.starts_with("--- a/MEMORY.md\n+++ b/MEMORY.md\n"), "{}", r.diff);
    assert!(r.diff.contains("\n-- run the tests with python3 -m pytest -x before done <!-- from: s2 -->\n"), "{}", r.diff);
    assert!(r.diff.contains("\n+- Keep stats pure functions: no I/O in textstats/ <!-- from: s3 -->\n"), "{}", r.diff);

    let sent = p.sent();
    assert_eq!(sent.len(), 1);
    let req = &sent[0];
    assert_eq!(req.role, Role::Writer);
    assert_eq!(req.model, "writer-model");
    assert_eq!(req.temperature, Some(0.0));
    assert_eq!(req.system, DREAM_PROMPT);
    let Message::User { text } = &req.messages[0] else { panic!("{:?}", req.messages) };
    assert!(text.contains(OLD), "the current file is in the prompt");
    assert!(text.contains("## Checkpoint s3/1.1") && text.contains("  - median() sorts a copy"), "{text}");
    assert!(text.contains("- decisions: Keep stats pure functions"), "{text}");
    assert!(!text.contains("EPHEMERAL-NEXT-ACTION"), "next actions are not memory: {text}");
}

#[tokio::test]
async fn fenced_answer_is_unwrapped_and_inner_fences_survive() {
    let fenced = format!("Here is the consolidated file:\n\n```markdown\n{NEW}```\n");
    let p = Recording::writer(&[&fenced]);
    let r = dream(&p, "m", &policy(), OLD, &[], &[], &mut Vec::new()).await.unwrap();
    assert_eq!(r.content, NEW);
    assert!(r.content.contains("```sh\npython3 -m pytest"));
}

#[tokio::test]
async fn invalid_then_valid_retries_once_with_the_reason() {
    let bad = "# Project memory\n\n## Rules\n\n- only rules <!-- from: s1 -->\n";
    let p = Recording::writer(&[bad, NEW]);
    let mut spent = Vec::new();
    let r = dream(&p, "m", &policy(), OLD, &[], &[], &mut spent).await.unwrap();
    assert_eq!(r.content, NEW);
    assert_eq!(spent.len(), 2, "both calls are the writer's spending");
    assert!(spent.iter().all(|s| s.role == Role::Writer && s.model == "m" && s.usage.completion_tokens > 0), "{spent:?}");
    let sent = p.sent();
    assert_eq!(sent.len(), 2);
    let retry = &sent[1].messages;
    assert_eq!(retry.len(), 3, "{retry:?}");
    assert!(matches!(&retry[1], Message::Assistant { text, .. } if text == bad));
    let Message::User { text } = &retry[2] else { panic!("{retry:?}") };
    assert!(text.contains("`## Architecture decisions`") && text.contains("`## Gotchas`"), "{text}");
}

#[tokio::test]
async fn invalid_twice_is_an_error_with_the_reason() {
    let headings_only = MemoryFile::template().render();
    let p = Recording::writer(&["", &headings_only, NEW]);
    // An empty answer is the provider's failure; retried there, but the policy allows one attempt.
    let err = dream(&p, "m", &policy(), OLD, &[], &[], &mut Vec::new()).await.unwrap_err();
    assert!(matches!(err, MemoryError::Model(_)), "{err:?}");

    let p = Recording::writer(&[&headings_only, &headings_only, NEW]);
    let err = dream(&p, "m", &policy(), OLD, &[], &[], &mut Vec::new()).await.unwrap_err();
    match &err {
        MemoryError::BadAnswer { task: "dream", reason } => assert!(reason.contains("no entries"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(p.sent().len(), 2, "one retry, not more");
}

#[test]
fn validation_rejects_dropped_markers_and_oversized_files() {
    let old = MemoryFile::parse(OLD);
    let unmarked = NEW.replace(" <!-- from: s1, s2 -->", "").replace(" <!-- from: s3 -->", "").replace(" <!-- from: s1 -->", "");
    assert!(validate_dream(&unmarked, &old).unwrap_err().contains("source marker"));
    let mut huge = MemoryFile::template().render();
    for i in 0..=MAX_ENTRIES {
        huge.push_str(&format!("- fact {i} <!-- from: s1 -->\n"));
    }
    assert!(validate_dream(&huge, &old).unwrap_err().contains("at most"));
    // A fresh memory may legitimately stay small, and needs no markers.
    let empty_old = MemoryFile::template();
    assert!(validate_dream(&MemoryFile::template().render(), &empty_old).is_ok());
}

#[test]
fn fence_stripping_leaves_unfenced_content_alone() {
    assert_eq!(strip_fence("```md\n# a\n```", &["markdown", "md"]), "# a");
    assert_eq!(strip_fence("```\n# a\n```", &["markdown"]), "# a");
    // A file that merely contains a code block keeps it.
    let text = "# a\n\n```sh\nls\n```";
    assert_eq!(strip_fence(text, &["markdown"]), text);
    assert_eq!(strip_fence("# a\n\n```\nls\n```", &["markdown"]), "# a\n\n```\nls\n```");
}

#[test]
fn oldest_checkpoints_are_left_out_when_too_long() {
    let big = Checkpoint { knowledge: CheckpointField::Text("x".repeat(MAX_CHECKPOINT_CHARS / 2)), ..Default::default() };
    let cps: Vec<(String, Checkpoint)> = (1..=4).map(|i| (format!("s/1.{i}"), big.clone())).collect();
    let text = dream_input("", &cps, &[]);
    assert!(text.contains("## Checkpoint s/1.4") && !text.contains("## Checkpoint s/1.1"), "newest kept");
    assert!(text.contains("older checkpoints were left out"));
    assert!(text.contains("## Verified knowledge"), "an empty memory is shown as the template");
}
