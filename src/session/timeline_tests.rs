use chrono::Utc;

use super::*;
use crate::protocol::{CheckpointField, RoleModels, SessionInfo, Task, TaskStatus};

const TASK: &str = "Advance the counter to 60, one step at a time";

struct Log(Vec<Event>);

impl Log {
    fn push(&mut self, kind: EventKind) -> &mut Self {
        let seq = self.0.len() as u64;
        self.0.push(Event { command_id: None, seq, ts: Utc::now(), kind });
        self
    }

    fn save(&mut self, id: &str, intent: &str, directives: &[&str], snapshot: bool) -> &mut Self {
        let (cycle, n) = id.split_once('.').map(|(c, n)| (c.parse().unwrap(), n.parse().unwrap())).unwrap();
        let upto_seq = self.0.len() as u64 - 1;
        self.push(EventKind::CheckpointSaved {
            id: id.into(),
            cycle,
            n,
            threshold_pct: 20,
            window_tokens: 1_000,
            upto_seq,
            snapshot: snapshot.then(|| format!("snap-{id}")),
            snapshot_error: None,
            path: format!(".endure/sessions/s/checkpoints/{id}.json"),
            checkpoint: Box::new(Checkpoint {
                active_intent: CheckpointField::Text(intent.into()),
                directives: CheckpointField::List(directives.iter().map(|d| d.to_string()).collect()),
                next_action: CheckpointField::Text(format!("continue after {id}")),
                ..Checkpoint::default()
            }),
        })
    }
}

fn started() -> Log {
    let mut log = Log(Vec::new());
    log.push(EventKind::SessionStarted {
        info: Box::new(SessionInfo {
            session_id: "s".into(),
            endure_version: "0".into(),
            workspace: "/w".into(),
            task: TASK.into(),
            provider: "scripted".into(),
            base_url: None,
            models: RoleModels { agent: "m".into(), writer: "m".into(), verifier: "m".into(), judge: "m".into() },
            system_prompt: "sys".into(),
            sandbox: None,
            config: serde_json::json!({}),
            context_budget: 10_000,
        }),
    });
    log.push(EventKind::TaskList { tasks: vec![Task { title: "count to 60".into(), status: TaskStatus::InProgress }] });
    log
}

fn kinds(r: &CheckpointReport) -> Vec<&str> {
    r.flags.iter().map(|f| f.kind.as_str()).collect()
}

#[test]
fn each_flag_is_raised_where_it_belongs() {
    let mut log = started();
    log.save("1.1", TASK, &["Use tabs, not spaces."], true);
    log.save("1.2", "Advance the counter to the end, one step at a time", &[], false);
    log.save("1.3", TASK, &["Use tabs, not spaces."], true);
    log.push(EventKind::RolledBack {
        to: "1.1".into(),
        snapshot: Some("snap-1.1".into()),
        cycle: 2,
        window_tokens: 100,
        window: vec![],
        tasks: vec![Task { title: "count to 60".into(), status: TaskStatus::InProgress }],
        restored: 0,
        removed: 0,
        origins: vec![],
    });
    log.save("2.1", TASK, &["Use tabs, not spaces."], true);

    let t = checkpoint_timeline(&log.0);
    let ids: Vec<&str> = t.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["1.1", "1.2", "1.3", "2.1"]);
    assert!(t[0].flags.is_empty(), "{:?}", t[0].flags);
    assert_eq!(t[0].changed, ["active_intent", "next_action", "directives"]);

    assert_eq!(kinds(&t[1]), ["intent_drift", "lost_directive", "snapshot_missing"]);
    assert!(t[1].flags[0].detail.contains("\"60\""), "{}", t[1].flags[0].detail);
    assert!(t[1].flags[1].detail.contains("Use tabs, not spaces."));
    assert_eq!(t[1].changed, ["active_intent", "next_action", "directives"]);

    // Three checkpoints in a row with the same task in progress.
    assert_eq!(kinds(&t[2]), ["stale_task"]);
    assert!(t[2].flags[0].detail.contains("\"count to 60\"") && t[2].flags[0].detail.contains("since 1.1"), "{}", t[2].flags[0].detail);

    // After the rollback the branch is 1.1 → 2.1: two checkpoints only, nothing lost.
    assert!(t[3].flags.is_empty(), "{:?}", t[3].flags);
    assert_eq!(t[3].changed, ["next_action"], "compared with 1.1, the rollback's target");

    let text = render_text(&t);
    assert!(text.contains("1.2    cycle 1") && text.contains("intent_drift: active_intent lost"), "{text}");
}

#[test]
fn a_directive_lost_earlier_is_still_missing_later() {
    let mut log = started();
    log.save("1.1", TASK, &["Never push to main"], true);
    log.save("1.2", TASK, &[], true);
    log.save("1.3", TASK, &[], true);
    let t = checkpoint_timeline(&log.0);
    assert_eq!(kinds(&t[1]), ["lost_directive"]);
    assert!(kinds(&t[2]).contains(&"lost_directive"), "present in 1.1, missing from 1.3 too: {:?}", t[2].flags);
    assert_eq!(t[2].changed, ["next_action"]);
}
