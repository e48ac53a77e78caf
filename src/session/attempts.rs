//! The attempt tree: a session's history as the branches it tried. Rollbacks abandon a branch
//! (from the checkpoint rolled back to, up to the rollback), Max Mode steps discard the
//! candidates not taken, and forks (`endure fork`) are sessions of their own that start from a
//! checkpoint. Built from event logs alone, so `endure tree` and the workbench's Attempts
//! panel show the same tree.
//!
//! Summaries: a root's or a fork's is its whole session (every step and cost, its outcome)
//! with the last test counts of the line it is on (not of a branch it abandoned); a
//! rollback's is the abandoned branch's; a candidate not taken ran no step, and its cost is
//! its own answer's.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::protocol::{Checkpoint, Event, EventKind, TestCounts, ToolCallRequest};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Root,
    Rollback,
    Pick,
    Fork,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Root => "root",
            NodeKind::Rollback => "rollback",
            NodeKind::Pick => "pick",
            NodeKind::Fork => "fork",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub steps: u64,
    pub cost: f64,
    /// The last test counts of the branch; null when no test run was parsed.
    pub tests_passed: Option<u32>,
    pub tests_failed: Option<u32>,
    /// A session's outcome (`done`, `budget`, …, `unfinished`), `rolled back`, or `not taken`.
    pub outcome: String,
}

/// One file a branch changed: its content hash at the end of the branch (None: deleted) and
/// every diff the branch made to it, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileChange {
    pub path: String,
    pub after: Option<String>,
    pub diff: String,
}

/// What a node shows when selected; not part of the JSON.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Detail {
    /// The session the node's events are from.
    pub session: String,
    /// The fields of the checkpoint the node starts from.
    pub checkpoint: Option<Checkpoint>,
    pub files: Vec<FileChange>,
    /// A candidate not taken: its text and the calls it proposed.
    pub candidate: Option<(String, Vec<ToolCallRequest>)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptNode {
    pub id: String,
    pub kind: NodeKind,
    /// A checkpoint id (`c.n`) for rollbacks and forks, `step N` for picks; null for the root.
    pub at: Option<String>,
    pub children: Vec<AttemptNode>,
    pub summary: Summary,
    #[serde(skip)]
    pub detail: Detail,
}

/// Another session's log, where forks are looked for.
#[derive(Debug, Clone)]
pub struct OtherLog<'a> {
    pub id: &'a str,
    pub events: &'a [Event],
}

/// Forks deeper than this are not followed (a log claiming to be its own ancestor).
const MAX_DEPTH: usize = 32;

/// The tree of session `id` (its `events`), with the forks found among `others`.
pub fn build(id: &str, events: &[Event], others: &[OtherLog]) -> AttemptNode {
    build_at(id, events, others, NodeKind::Root, None, None, 0)
}

fn build_at(
    id: &str,
    events: &[Event],
    others: &[OtherLog],
    kind: NodeKind,
    at: Option<String>,
    checkpoint: Option<Checkpoint>,
    depth: usize,
) -> AttemptNode {
    let rollbacks = rollback_ranges(events);
    let in_abandoned = |seq: u64| rollbacks.iter().any(|r| r.lo < seq && seq <= r.hi);
    let outcome = events
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            EventKind::SessionFinished { outcome, .. } => Some(outcome.as_str().to_string()),
            // A session continued after it finished is running again.
            EventKind::SessionResumed { .. } => Some("unfinished".to_string()),
            _ => None,
        })
        .unwrap_or_else(|| "unfinished".to_string());
    let mut children: Vec<(u64, AttemptNode)> = Vec::new();
    for r in &rollbacks {
        let range = |seq: u64| r.lo < seq && seq <= r.hi;
        children.push((
            r.hi,
            AttemptNode {
                id: format!("{id}:rollback-{}", r.n),
                kind: NodeKind::Rollback,
                at: Some(r.to.clone()),
                children: Vec::new(),
                summary: summary(events, range, "rolled back".into()),
                detail: Detail {
                    session: id.to_string(),
                    checkpoint: checkpoint_fields(events, &r.to),
                    files: file_changes(events, range),
                    candidate: None,
                },
            },
        ));
    }
    for (seq, node) in candidates_not_taken(id, events) {
        // A pick made on a branch later abandoned belongs to that branch.
        match rollbacks.iter().position(|r| r.lo < seq && seq <= r.hi) {
            Some(i) => {
                if let Some((_, parent)) = children.iter_mut().filter(|(_, n)| n.kind == NodeKind::Rollback).nth(i) {
                    parent.children.push(node);
                }
            }
            None => children.push((seq, node)),
        }
    }
    if depth < MAX_DEPTH {
        for other in others {
            let Some((parent, fork_at)) = fork_origin(other.events) else { continue };
            if parent != id || other.id == id {
                continue;
            }
            let fields = checkpoint_fields(events, &fork_at);
            let upto = checkpoint_seq(events, &fork_at).unwrap_or(u64::MAX);
            let node = build_at(other.id, other.events, others, NodeKind::Fork, Some(fork_at), fields, depth + 1);
            children.push((upto, node));
        }
    }
    children.sort_by_key(|(seq, _)| *seq);
    let mut whole = summary(events, |_| true, outcome);
    // The tests of the line the session is on, not of a branch it abandoned since.
    let line = summary(events, |s| !in_abandoned(s), String::new());
    (whole.tests_passed, whole.tests_failed) = (line.tests_passed, line.tests_failed);
    AttemptNode {
        id: id.to_string(),
        kind,
        at,
        children: children.into_iter().map(|(_, n)| n).collect(),
        summary: whole,
        detail: Detail { session: id.to_string(), checkpoint, files: file_changes(events, |s| !in_abandoned(s)), candidate: None },
    }
}

/// `e` as the tree needs it, or None when the tree never reads it: what a live view keeps of
/// the event stream (tool output and rebuilt windows are dropped; test counts stay).
pub fn keep(e: &Event) -> Option<Event> {
    let kind = match &e.kind {
        EventKind::ToolResult { step, call_id, name, ok, feedback, .. } if feedback.tests.is_some() => EventKind::ToolResult {
            step: *step,
            call_id: call_id.clone(),
            name: name.clone(),
            ok: *ok,
            exit_code: None,
            duration_ms: 0,
            output: "".into(),
            feedback: crate::protocol::Feedback { tests: feedback.tests, ..Default::default() },
        },
        EventKind::RolledBack { to, snapshot, cycle, restored, removed, .. } => EventKind::RolledBack {
            to: to.clone(),
            snapshot: snapshot.clone(),
            cycle: *cycle,
            window_tokens: 0,
            window: Vec::new(),
            tasks: Vec::new(),
            restored: *restored,
            removed: *removed,
            origins: Vec::new(),
        },
        EventKind::Forked { parent, at, parent_workspace, snapshot, branch, restored, removed, .. } => EventKind::Forked {
            parent: parent.clone(),
            at: at.clone(),
            parent_workspace: parent_workspace.clone(),
            snapshot: snapshot.clone(),
            branch: branch.clone(),
            window_tokens: 0,
            window: Vec::new(),
            tasks: Vec::new(),
            restored: *restored,
            removed: *removed,
        },
        EventKind::StepStarted { .. }
        | EventKind::Usage { .. }
        | EventKind::FileChanged { .. }
        | EventKind::CheckpointSaved { .. }
        | EventKind::CandidateProposed { .. }
        | EventKind::CandidatePicked { .. }
        | EventKind::SessionFinished { .. }
        | EventKind::SessionResumed { .. } => e.kind.clone(),
        _ => return None,
    };
    Some(Event { seq: e.seq, ts: e.ts, command_id: None, kind })
}

/// What a live view keeps of the event stream for the tree (`keep`), held compactly. Every
/// step adds a `step_started` and a `usage`, and an `Event` is as large as its largest kind
/// (288 bytes), so a long session's kept events would cost the view that much twice per step.
/// Those two kinds are held as the fields the tree reads (the step; the role, cost and
/// whether it was overhead) and made into events again only when the tree is built.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeptLog {
    events: Vec<Event>,
    per_step: Vec<PerStep>,
}

#[derive(Debug, Clone, PartialEq)]
struct PerStep {
    seq: u64,
    ts: chrono::DateTime<chrono::Utc>,
    what: PerStepKind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum PerStepKind {
    Step(u64),
    Usage { role: crate::protocol::Role, cost_usd: f64, overhead: bool },
}

impl KeptLog {
    /// Keeps what the tree needs of `e`, if anything.
    pub fn push(&mut self, e: &Event) {
        let what = match &e.kind {
            EventKind::StepStarted { step } => PerStepKind::Step(*step),
            EventKind::Usage { role, cost_usd, overhead, .. } => {
                PerStepKind::Usage { role: *role, cost_usd: *cost_usd, overhead: *overhead }
            }
            _ => {
                self.events.extend(keep(e));
                return;
            }
        };
        self.per_step.push(PerStep { seq: e.seq, ts: e.ts, what });
    }

    /// Events kept so far.
    pub fn len(&self) -> usize {
        self.events.len() + self.per_step.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kept events in log order, as `keep` gives them (a `usage` carries only what the
    /// tree reads: its role, cost and overhead flag).
    pub fn events(&self) -> Vec<Event> {
        let mut out = Vec::with_capacity(self.len());
        let mut per_step = self.per_step.iter().peekable();
        for e in &self.events {
            while let Some(p) = per_step.next_if(|p| p.seq < e.seq) {
                out.push(p.event());
            }
            out.push(e.clone());
        }
        out.extend(per_step.map(PerStep::event));
        out
    }
}

impl PerStep {
    fn event(&self) -> Event {
        let kind = match self.what {
            PerStepKind::Step(step) => EventKind::StepStarted { step },
            PerStepKind::Usage { role, cost_usd, overhead } => EventKind::Usage {
                role,
                prompt_tokens: 0,
                completion_tokens: 0,
                cache_read_tokens: 0,
                cache_write_tokens: 0,
                cost_usd,
                estimated: false,
                priced: true,
                overhead,
            },
        };
        Event { seq: self.seq, ts: self.ts, command_id: None, kind }
    }
}

/// The parent session and checkpoint of a forked session's log.
pub fn fork_origin(events: &[Event]) -> Option<(String, String)> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::Forked { parent, at, .. } => Some((parent.clone(), at.clone())),
        _ => None,
    })
}

/// An abandoned branch: the events after `lo` up to the rollback at `hi`.
struct Abandoned {
    n: usize,
    to: String,
    lo: u64,
    hi: u64,
}

fn rollback_ranges(events: &[Event]) -> Vec<Abandoned> {
    let mut out = Vec::new();
    let mut line_start = 0;
    for e in events {
        if let EventKind::RolledBack { to, .. } = &e.kind {
            // The branch left began at the checkpoint, unless another rollback came since.
            let lo = checkpoint_seq(events, to).unwrap_or(0).max(line_start);
            out.push(Abandoned { n: out.len() + 1, to: to.clone(), lo, hi: e.seq });
            line_start = e.seq;
        }
    }
    out
}

fn checkpoint_seq(events: &[Event], id: &str) -> Option<u64> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::CheckpointSaved { id: cid, upto_seq, .. } if cid == id => Some(*upto_seq),
        _ => None,
    })
}

fn checkpoint_fields(events: &[Event], id: &str) -> Option<Checkpoint> {
    events.iter().find_map(|e| match &e.kind {
        EventKind::CheckpointSaved { id: cid, checkpoint, .. } if cid == id => Some((**checkpoint).clone()),
        _ => None,
    })
}

fn summary(events: &[Event], within: impl Fn(u64) -> bool, outcome: String) -> Summary {
    let mut steps = 0;
    let mut cost = 0.0;
    let mut tests: Option<TestCounts> = None;
    for e in events.iter().filter(|e| within(e.seq)) {
        match &e.kind {
            EventKind::StepStarted { .. } => steps += 1,
            EventKind::Usage { cost_usd, .. } => cost += cost_usd,
            EventKind::ToolResult { feedback, .. } if feedback.tests.is_some() => tests = feedback.tests,
            _ => {}
        }
    }
    Summary { steps, cost, tests_passed: tests.map(|t| t.passed), tests_failed: tests.map(|t| t.failed), outcome }
}

fn file_changes(events: &[Event], within: impl Fn(u64) -> bool) -> Vec<FileChange> {
    let mut files: BTreeMap<String, FileChange> = BTreeMap::new();
    for e in events.iter().filter(|e| within(e.seq)) {
        if let EventKind::FileChanged { path, after, diff, .. } = &e.kind {
            let f = files.entry(path.clone()).or_insert_with(|| FileChange { path: path.clone(), ..Default::default() });
            f.after = after.clone();
            f.diff.push_str(diff);
            if !diff.ends_with('\n') && !diff.is_empty() {
                f.diff.push('\n');
            }
        }
    }
    files.into_values().collect()
}

/// Every Max Mode candidate not taken, with the seq of the pick that passed it over. A loser's
/// cost is the overhead usage recorded for it after the pick (losers in index order).
fn candidates_not_taken(id: &str, events: &[Event]) -> Vec<(u64, AttemptNode)> {
    let mut proposed: BTreeMap<(u64, u32), (String, Vec<ToolCallRequest>)> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        match &e.kind {
            EventKind::CandidateProposed { step, index, text, tool_calls } => {
                proposed.insert((*step, *index), (text.clone(), tool_calls.clone()));
            }
            EventKind::CandidatePicked { step, pick, by } => {
                let losers: Vec<(u32, (String, Vec<ToolCallRequest>))> = proposed
                    .range((*step, 0)..=(*step, u32::MAX))
                    .filter(|((_, index), _)| index != pick)
                    .map(|((_, index), c)| (*index, c.clone()))
                    .collect();
                let mut costs = events[i + 1..].iter().filter_map(|e| match &e.kind {
                    EventKind::Usage { cost_usd, overhead: true, role: crate::protocol::Role::Agent, .. } => Some(*cost_usd),
                    _ => None,
                });
                let by = match by {
                    crate::protocol::PickedBy::Judge => "the judge",
                    crate::protocol::PickedBy::Supervisor => "the supervisor",
                    crate::protocol::PickedBy::Fallback => "fallback",
                };
                for (index, (text, calls)) in losers {
                    out.push((
                        e.seq,
                        AttemptNode {
                            id: format!("{id}:step-{step}:candidate-{index}"),
                            kind: NodeKind::Pick,
                            at: Some(format!("step {step}")),
                            children: Vec::new(),
                            summary: Summary {
                                steps: 0,
                                cost: costs.next().unwrap_or(0.0),
                                tests_passed: None,
                                tests_failed: None,
                                outcome: format!("not taken ({by} picked candidate {pick})"),
                            },
                            detail: Detail { session: id.to_string(), candidate: Some((text, calls)), ..Default::default() },
                        },
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

impl AttemptNode {
    /// The nodes in drawing order (depth first), each with its depth.
    pub fn flatten(&self) -> Vec<(usize, &AttemptNode)> {
        fn walk<'a>(n: &'a AttemptNode, depth: usize, out: &mut Vec<(usize, &'a AttemptNode)>) {
            out.push((depth, n));
            for c in &n.children {
                walk(c, depth + 1, out);
            }
        }
        let mut out = Vec::new();
        walk(self, 0, &mut out);
        out
    }

    /// The node with this id.
    pub fn find(&self, id: &str) -> Option<&AttemptNode> {
        self.flatten().into_iter().map(|(_, n)| n).find(|n| n.id == id)
    }

    /// One line: kind, id, where it starts, and its summary.
    pub fn label(&self) -> String {
        let s = &self.summary;
        let tests = match (s.tests_passed, s.tests_failed) {
            (Some(p), Some(f)) => format!("tests {p} passed, {f} failed"),
            _ => "no tests".into(),
        };
        let at = self.at.as_deref().map(|a| format!(" at {a}")).unwrap_or_default();
        let plural = if s.steps == 1 { "" } else { "s" };
        format!("{} {}{at} — {} step{plural}, ${:.4}, {tests}, {}", self.kind.as_str(), self.id, s.steps, s.cost, s.outcome)
    }
}

/// The tree as indented text, for `endure tree`.
pub fn render_text(root: &AttemptNode) -> String {
    let mut out = String::new();
    for (depth, n) in root.flatten() {
        out.push_str(&"  ".repeat(depth));
        out.push_str(&n.label());
        out.push('\n');
    }
    out
}

/// How the files of two branches compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSide {
    /// Both changed it and it ended the same.
    Same,
    /// Both changed it, differently.
    Differs,
    OnlyA,
    OnlyB,
}

/// Two nodes side by side: their summaries, and every file either changed.
pub fn compare(a: &AttemptNode, b: &AttemptNode) -> Vec<String> {
    let tests = |s: &Summary| match (s.tests_passed, s.tests_failed) {
        (Some(p), Some(f)) => format!("{p} passed, {f} failed"),
        _ => "—".into(),
    };
    let w = 28;
    let mut lines = vec![
        format!("{:<10} {:<w$} {}", "", a.id, b.id),
        format!("{:<10} {:<w$} {}", "kind", a.kind.as_str(), b.kind.as_str()),
        format!("{:<10} {:<w$} {}", "steps", a.summary.steps, b.summary.steps),
        format!("{:<10} {:<w$} {}", "cost", format!("${:.4}", a.summary.cost), format!("${:.4}", b.summary.cost)),
        format!("{:<10} {:<w$} {}", "tests", tests(&a.summary), tests(&b.summary)),
        format!("{:<10} {:<w$} {}", "outcome", a.summary.outcome, b.summary.outcome),
        String::new(),
    ];
    let files = compare_files(a, b);
    if files.is_empty() {
        lines.push("neither changed a file".into());
    }
    for (path, side) in &files {
        let what = match side {
            FileSide::Same => "same in both",
            FileSide::Differs => "differs",
            FileSide::OnlyA => "only in the first",
            FileSide::OnlyB => "only in the second",
        };
        lines.push(format!("{path}: {what}"));
    }
    for (path, _) in files.iter().filter(|(_, s)| *s != FileSide::Same) {
        for (label, node) in [("first", a), ("second", b)] {
            if let Some(f) = node.detail.files.iter().find(|f| f.path == *path) {
                lines.push(String::new());
                lines.push(format!("── {path} in the {label} ({})", node.id));
                lines.extend(f.diff.lines().map(str::to_string));
            }
        }
    }
    lines
}

/// Every file either node changed, and how they compare.
pub fn compare_files(a: &AttemptNode, b: &AttemptNode) -> Vec<(String, FileSide)> {
    let mut paths: BTreeMap<&str, (Option<&FileChange>, Option<&FileChange>)> = BTreeMap::new();
    for f in &a.detail.files {
        paths.entry(&f.path).or_default().0 = Some(f);
    }
    for f in &b.detail.files {
        paths.entry(&f.path).or_default().1 = Some(f);
    }
    paths
        .into_iter()
        .map(|(p, sides)| {
            let side = match sides {
                (Some(x), Some(y)) if x.after == y.after => FileSide::Same,
                (Some(_), Some(_)) => FileSide::Differs,
                (Some(_), None) => FileSide::OnlyA,
                _ => FileSide::OnlyB,
            };
            (p.to_string(), side)
        })
        .collect()
}

#[cfg(test)]
#[path = "attempts_tests.rs"]
mod tests;
