use chrono::Utc;

use super::*;
use crate::protocol::{CheckpointField, Feedback, Outcome, PickedBy, Role, RoleModels, SessionInfo};

struct Log(Vec<Event>);

impl Log {
    fn new(id: &str) -> Log {
        let mut log = Log(Vec::new());
        log.push(EventKind::SessionStarted {
            info: Box::new(SessionInfo {
                session_id: id.into(),
                endure_version: "0".into(),
                workspace: "/w".into(),
                task: "fix the tests".into(),
                provider: "scripted".into(),
                base_url: None,
                models: RoleModels { agent: "m".into(), writer: "m".into(), verifier: "m".into(), judge: "m".into() },
                system_prompt: "sys".into(),
                sandbox: None,
                config: serde_json::json!({}),
                context_budget: 10_000,
            }),
        });
        log
    }

    fn push(&mut self, kind: EventKind) -> &mut Self {
        let seq = self.0.len() as u64;
        self.0.push(Event { command_id: None, seq, ts: Utc::now(), kind });
        self
    }

    /// A step that writes `path` (content `hash`), costs `cost` and runs the tests.
    fn step(&mut self, step: u64, path: &str, hash: &str, cost: f64, tests: (u32, u32)) -> &mut Self {
        self.push(EventKind::StepStarted { step });
        self.push(EventKind::Usage {
            role: Role::Agent,
            prompt_tokens: 10,
            completion_tokens: 5,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            cost_usd: cost,
            estimated: false,
            priced: true,
            overhead: false,
        });
        self.push(EventKind::FileChanged { step, path: path.into(), before: None, after: Some(hash.into()), diff: format!("+{hash}\n") });
        self.push(EventKind::ToolResult {
            step,
            call_id: format!("c{step}"),
            name: "run".into(),
            ok: tests.1 == 0,
            exit_code: Some(0),
            duration_ms: 1,
            output: "".into(),
            feedback: Feedback { tests: Some(TestCounts { passed: tests.0, failed: tests.1, skipped: 0 }), ..Default::default() },
        });
        self.push(EventKind::StepFinished { step })
    }

    fn checkpoint(&mut self, id: &str, intent: &str) -> &mut Self {
        let upto_seq = self.0.len() as u64 - 1;
        self.push(EventKind::CheckpointSaved {
            id: id.into(),
            cycle: 1,
            n: 1,
            threshold_pct: 20,
            window_tokens: 100,
            upto_seq,
            snapshot: Some(format!("snap-{id}")),
            snapshot_error: None,
            path: format!("checkpoints/{id}.json"),
            checkpoint: Box::new(Checkpoint { active_intent: CheckpointField::Text(intent.into()), ..Checkpoint::default() }),
        })
    }

    fn rollback(&mut self, to: &str) -> &mut Self {
        self.push(EventKind::RolledBack {
            to: to.into(),
            snapshot: Some(format!("snap-{to}")),
            cycle: 2,
            window_tokens: 50,
            window: Vec::new(),
            tasks: Vec::new(),
            restored: 1,
            removed: 0,
            origins: Vec::new(),
        })
    }

    fn finish(&mut self, outcome: Outcome) -> &mut Self {
        self.push(EventKind::SessionFinished { outcome, reason: "because".into() })
    }
}

#[test]
fn a_rollback_is_an_abandoned_branch_from_its_checkpoint() {
    let mut log = Log::new("s");
    log.step(1, "a.py", "h1", 0.01, (1, 2)).checkpoint("1.1", "make the tests pass");
    log.step(2, "b.py", "bad", 0.02, (0, 3)).step(3, "b.py", "worse", 0.03, (0, 4));
    log.rollback("1.1");
    log.step(4, "b.py", "good", 0.05, (3, 0)).finish(Outcome::Done);
    let tree = build("s", &log.0, &[]);

    assert_eq!(tree.kind, NodeKind::Root);
    assert_eq!(tree.summary.steps, 4);
    assert!((tree.summary.cost - 0.11).abs() < 1e-9);
    assert_eq!((tree.summary.tests_passed, tree.summary.tests_failed), (Some(3), Some(0)));
    assert_eq!(tree.summary.outcome, "done");
    assert_eq!(tree.children.len(), 1);
    let rb = &tree.children[0];
    assert_eq!(rb.kind, NodeKind::Rollback);
    assert_eq!(rb.at.as_deref(), Some("1.1"));
    assert_eq!(rb.summary.steps, 2, "steps 2 and 3 were abandoned");
    assert!((rb.summary.cost - 0.05).abs() < 1e-9);
    assert_eq!((rb.summary.tests_passed, rb.summary.tests_failed), (Some(0), Some(4)));
    assert_eq!(rb.summary.outcome, "rolled back");
    assert_eq!(rb.detail.checkpoint.as_ref().map(|c| c.active_intent.clone()), Some(CheckpointField::Text("make the tests pass".into())));
    assert_eq!(rb.detail.files.len(), 1);
    assert_eq!(rb.detail.files[0].after.as_deref(), Some("worse"));
    // The surviving line's files leave the abandoned versions out.
    let b = tree.detail.files.iter().find(|f| f.path == "b.py").expect("b.py on the line");
    assert_eq!(b.after.as_deref(), Some("good"));
    assert!(!b.diff.contains("bad"), "{}", b.diff);

    let cmp = compare_files(&tree, rb);
    assert_eq!(cmp, vec![("a.py".to_string(), FileSide::OnlyA), ("b.py".to_string(), FileSide::Differs)]);
}

#[test]
fn a_second_rollback_to_the_same_checkpoint_abandons_only_what_came_after_the_first() {
    let mut log = Log::new("s");
    log.step(1, "a.py", "h1", 0.0, (0, 1)).checkpoint("1.1", "x");
    log.step(2, "a.py", "h2", 0.0, (0, 1)).rollback("1.1");
    log.step(3, "a.py", "h3", 0.0, (0, 1)).step(4, "a.py", "h4", 0.0, (0, 1)).rollback("1.1");
    let tree = build("s", &log.0, &[]);
    let steps: Vec<u64> = tree.children.iter().map(|c| c.summary.steps).collect();
    assert_eq!(steps, [1, 2]);
    assert_eq!(tree.summary.outcome, "unfinished");
}

fn max_mode_step(log: &mut Log, step: u64, pick: u32) {
    log.push(EventKind::StepStarted { step });
    for index in 1..=3 {
        log.push(EventKind::CandidateProposed { step, index, text: format!("plan {index}"), tool_calls: Vec::new() });
    }
    log.push(EventKind::CandidatePicked { step, pick, by: PickedBy::Judge });
    for cost in [0.1, 0.2] {
        log.push(EventKind::Usage {
            role: Role::Agent,
            prompt_tokens: 1,
            completion_tokens: 1,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            cost_usd: cost,
            estimated: false,
            priced: true,
            overhead: true,
        });
    }
    log.push(EventKind::StepFinished { step });
}

#[test]
fn max_mode_candidates_not_taken_are_pick_nodes_with_their_cost() {
    let mut log = Log::new("s");
    max_mode_step(&mut log, 1, 2);
    log.finish(Outcome::Done);
    let tree = build("s", &log.0, &[]);
    let picks: Vec<(&str, Option<&str>, f64)> = tree.children.iter().map(|c| (c.id.as_str(), c.at.as_deref(), c.summary.cost)).collect();
    assert_eq!(picks, [("s:step-1:candidate-1", Some("step 1"), 0.1), ("s:step-1:candidate-3", Some("step 1"), 0.2)]);
    assert!(tree.children.iter().all(|c| c.kind == NodeKind::Pick && c.summary.outcome.starts_with("not taken")));
    assert_eq!(tree.children[1].detail.candidate.as_ref().map(|c| c.0.as_str()), Some("plan 3"));
}

#[test]
fn a_pick_on_an_abandoned_branch_hangs_under_its_rollback() {
    let mut log = Log::new("s");
    log.step(1, "a.py", "h1", 0.0, (0, 1)).checkpoint("1.1", "x");
    max_mode_step(&mut log, 2, 1);
    log.rollback("1.1");
    let tree = build("s", &log.0, &[]);
    assert_eq!(tree.children.len(), 1);
    assert_eq!(tree.children[0].kind, NodeKind::Rollback);
    assert_eq!(tree.children[0].children.len(), 2);
}

fn forked(id: &str, parent: &str, at: &str) -> Log {
    let mut log = Log::new(id);
    log.push(EventKind::Forked {
        parent: parent.into(),
        at: at.into(),
        parent_workspace: "/w".into(),
        snapshot: "snap".into(),
        branch: Some(format!("endure/fork/{id}")),
        window_tokens: 10,
        window: Vec::new(),
        tasks: Vec::new(),
        restored: 0,
        removed: 0,
    });
    log
}

#[test]
fn forks_hang_under_their_parent_with_their_own_outcome_and_forks() {
    let mut parent = Log::new("p");
    parent.step(1, "a.py", "h1", 0.01, (1, 1)).checkpoint("1.1", "fix it").step(2, "a.py", "h2", 0.01, (2, 0)).finish(Outcome::Done);
    let mut f1 = forked("f1", "p", "1.1");
    f1.step(1, "a.py", "other", 0.5, (0, 2)).finish(Outcome::Budget);
    let mut f2 = forked("f2", "f1", "1.1");
    f2.step(1, "c.py", "c", 0.0, (0, 0));
    let unrelated = forked("u", "someone-else", "1.1");
    let others = [OtherLog { id: "f1", events: &f1.0 }, OtherLog { id: "f2", events: &f2.0 }, OtherLog { id: "u", events: &unrelated.0 }];
    let tree = build("p", &parent.0, &others);
    assert_eq!(tree.children.len(), 1);
    let fork = &tree.children[0];
    assert_eq!((fork.id.as_str(), fork.kind, fork.at.as_deref()), ("f1", NodeKind::Fork, Some("1.1")));
    assert_eq!(fork.summary.outcome, "budget");
    assert_eq!(fork.summary.steps, 1);
    assert_eq!(fork.detail.checkpoint.as_ref().map(|c| c.active_intent.clone()), Some(CheckpointField::Text("fix it".into())));
    assert_eq!(fork.children.len(), 1);
    assert_eq!(fork.children[0].id, "f2");
    assert_eq!(fork.children[0].summary.outcome, "unfinished");

    let json = serde_json::to_value(&tree).expect("json");
    assert_eq!(json["kind"], "root");
    assert_eq!(json["at"], serde_json::Value::Null);
    assert_eq!(json["children"][0]["kind"], "fork");
    assert_eq!(json["children"][0]["summary"]["outcome"], "budget");
    assert_eq!(json["children"][0]["summary"]["tests_failed"], 2);
    let keys: Vec<&str> = json.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(keys, ["at", "children", "id", "kind", "summary"]);
    let summary: Vec<&str> = json["summary"].as_object().expect("summary").keys().map(String::as_str).collect();
    assert_eq!(summary, ["cost", "outcome", "steps", "tests_failed", "tests_passed"]);
}

#[test]
fn a_log_that_names_itself_as_its_parent_does_not_recurse() {
    let me = forked("x", "x", "1.1");
    let tree = build("x", &me.0, &[OtherLog { id: "x", events: &me.0 }]);
    assert!(tree.children.is_empty());
}

#[test]
fn a_live_views_compact_kept_log_builds_the_same_tree_as_the_whole_log() {
    let mut log = Log::new("s");
    log.step(1, "a.py", "h1", 0.01, (1, 2)).checkpoint("1.1", "make the tests pass");
    log.step(2, "b.py", "bad", 0.02, (0, 3)).step(3, "b.py", "worse", 0.03, (0, 4));
    log.rollback("1.1");
    max_mode_step(&mut log, 4, 2);
    log.step(5, "b.py", "good", 0.05, (3, 0)).finish(Outcome::Done);
    let mut kept = KeptLog::default();
    for e in &log.0 {
        kept.push(e);
    }
    let whole = build("s", &log.0, &[]);
    assert!(!whole.children.is_empty() && whole.summary.cost > 0.1, "a tree with branches and costs: {whole:?}");
    assert_eq!(build("s", &kept.events(), &[]), whole);
    let seqs: Vec<u64> = kept.events().iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in log order: {seqs:?}");
    assert_eq!(kept.len(), seqs.len());
    assert!(seqs.len() < log.0.len(), "only what the tree reads is kept");
}
