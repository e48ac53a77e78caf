//! The checkpoint timeline: every checkpoint of a session in order, what changed since the
//! checkpoint it continues from, and the flags that say where the writer may have drifted.
//!
//! The same [`flags_for`] runs in the runtime when a checkpoint is saved (its result is the
//! `checkpoint_flagged` event) and here over a whole log (`endure checkpoints`), on the same
//! fold of the events, so the two always agree.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::state::SessionState;
use crate::memory::drift::{self, SNAPSHOT_MISSING, STALE_AFTER, STALE_TASK};
use crate::protocol::{Checkpoint, CheckpointFlag, Event, EventKind};

/// One row of `endure checkpoints --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointReport {
    pub id: String,
    pub cycle: u32,
    pub upto_seq: u64,
    /// Fields that differ from the checkpoint it continues from (all non-empty ones for the
    /// first), in canonical order.
    pub changed: Vec<String>,
    pub flags: Vec<CheckpointFlag>,
}

/// The flags of checkpoint `id` (just folded into `state`, with its content `cp`).
pub fn flags_for(state: &SessionState, id: &str, cp: &Checkpoint) -> Vec<CheckpointFlag> {
    let Some(record) = state.checkpoint(id) else { return Vec::new() };
    let ancestors = state.ancestors(id);
    let mut flags: Vec<CheckpointFlag> = drift::intent_drift(state.task(), cp).into_iter().collect();

    // A task still in progress, under the same title, in this checkpoint and the ones before.
    for title in &record.in_progress {
        let run = 1 + ancestors.iter().take_while(|a| a.in_progress.contains(title)).count();
        if run >= STALE_AFTER {
            let since = ancestors.get(run - 2).map_or(record.id.as_str(), |a| a.id.as_str());
            flags.push(CheckpointFlag {
                kind: STALE_TASK.into(),
                detail: format!("\"{title}\" has been in progress, unchanged, across {run} checkpoints (since {since})"),
            });
        }
    }

    let mut required: Vec<String> = Vec::new();
    for d in ancestors.iter().rev().flat_map(|a| a.directives.iter()) {
        if !required.contains(d) {
            required.push(d.clone());
        }
    }
    flags.extend(drift::lost_directives(&required, cp));

    if record.snapshot.is_none() {
        flags.push(CheckpointFlag {
            kind: SNAPSHOT_MISSING.into(),
            detail: match &record.snapshot_error {
                Some(why) => format!("no workspace snapshot ({why}): this checkpoint cannot be rolled back to"),
                None => "no workspace snapshot was recorded: this checkpoint cannot be rolled back to".into(),
            },
        });
    }
    flags
}

/// Fields of `cp` that differ from `parent` (every non-empty field when there is none).
pub fn changed_fields(cp: &Checkpoint, parent: Option<&Checkpoint>) -> Vec<String> {
    let empty = |f: &crate::protocol::CheckpointField| drift::field_plain(f).trim().is_empty();
    match parent {
        Some(p) => cp.fields().into_iter().zip(p.fields()).filter(|((_, a), (_, b))| a != b).map(|((k, _), _)| k.to_string()).collect(),
        None => cp.fields().into_iter().filter(|(_, f)| !empty(f)).map(|(k, _)| k.to_string()).collect(),
    }
}

/// Every checkpoint of the session in the order saved, abandoned branches included.
pub fn checkpoint_timeline(events: &[Event]) -> Vec<CheckpointReport> {
    let mut state = SessionState::default();
    let mut contents: HashMap<String, Checkpoint> = HashMap::new();
    let mut out = Vec::new();
    for e in events {
        state.apply(e);
        let EventKind::CheckpointSaved { id, cycle, upto_seq, checkpoint, .. } = &e.kind else { continue };
        let parent = state.checkpoint(id).and_then(|r| r.parent.clone()).and_then(|p| contents.get(&p));
        out.push(CheckpointReport {
            id: id.clone(),
            cycle: *cycle,
            upto_seq: *upto_seq,
            changed: changed_fields(checkpoint, parent),
            flags: flags_for(&state, id, checkpoint),
        });
        contents.insert(id.clone(), (**checkpoint).clone());
    }
    out
}

/// The timeline as text for people: one block per checkpoint.
pub fn render_text(reports: &[CheckpointReport]) -> String {
    if reports.is_empty() {
        return "no checkpoints in this session\n".into();
    }
    let mut out = String::new();
    for r in reports {
        let flags =
            if r.flags.is_empty() { "ok".to_string() } else { r.flags.iter().map(|f| f.kind.as_str()).collect::<Vec<_>>().join(" ") };
        out.push_str(&format!("{:<6} cycle {:<3} up to event {:<6} {flags}\n", r.id, r.cycle, r.upto_seq));
        let changed = if r.changed.is_empty() { "nothing".to_string() } else { r.changed.join(", ") };
        out.push_str(&format!("       changed: {changed}\n"));
        for f in &r.flags {
            out.push_str(&format!("       {}: {}\n", f.kind, f.detail));
        }
    }
    out
}

#[cfg(test)]
#[path = "timeline_tests.rs"]
mod tests;
