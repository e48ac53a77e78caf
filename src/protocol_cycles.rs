//! The protocol's types for cycles you can inspect: what a rollover dropped, a rebuild the
//! supervisor reviews, and the flags raised on checkpoints.

use serde::{Deserialize, Serialize};

/// What a rollover dropped from the window: the messages not carried into the new one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowDrop {
    /// The range of events the dropped messages came from.
    pub from_seq: u64,
    pub to_seq: u64,
    /// The steps they were written at.
    pub from_step: u64,
    pub to_step: u64,
    pub messages: u32,
    /// Their token estimate.
    pub tokens: u64,
    /// Tool calls among them, by tool name.
    #[serde(default)]
    pub tool_calls: std::collections::BTreeMap<String, u32>,
    /// Every event a dropped message came from, ascending.
    #[serde(default)]
    pub seqs: Vec<u64>,
}

/// One part of a proposed window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildSection {
    /// `users_words`, `corrections`, `memory`, `checkpoint.<field>`, `tasks`, `tail`, `reminder`.
    pub key: String,
    pub title: String,
    /// The text as it goes into the window (the tail is described by `old_window`).
    pub text: String,
    pub tokens: u64,
    /// The most this section may take in this window.
    pub cap: u64,
    /// Cut in the middle to fit.
    #[serde(default)]
    pub trimmed: bool,
    #[serde(default)]
    pub dropped: bool,
    #[serde(default)]
    pub edited: bool,
    pub editable: bool,
    pub droppable: bool,
}

/// One unit of the old window: a message, or an answer with its tool calls and results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OldUnit {
    pub index: u32,
    /// The event its first message came from, and that event's step.
    pub seq: u64,
    pub step: u64,
    pub label: String,
    pub tokens: u64,
    /// Carried verbatim as part of the newest messages.
    pub in_tail: bool,
    /// Carried verbatim because the supervisor pinned it.
    pub pinned: bool,
}

/// A supervisor's change to a proposed window, or the verdict on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RebuildEdit {
    /// Replace checkpoint field `field` (e.g. `next_action`) with `text` in the new window.
    EditField {
        field: String,
        text: String,
    },
    /// Carry unit `unit` of the old window verbatim (the tail shrinks to make room).
    Pin {
        unit: u32,
    },
    Unpin {
        unit: u32,
    },
    /// Leave section `section` out of the new window.
    DropSection {
        section: String,
    },
    RestoreSection {
        section: String,
    },
    Approve,
    /// Keep the old window; the next threshold asks again.
    Veto,
}

/// How a rebuild was reviewed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildReview {
    /// The proposal, when one was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal: Option<u64>,
    /// Every change the supervisor made, in order (the approval not included).
    #[serde(default)]
    pub edits: Vec<RebuildEdit>,
    /// The window reached 100% of the budget: applied without asking.
    #[serde(default)]
    pub forced: bool,
}

/// A problem found in a checkpoint: `intent_drift`, `stale_task`, `lost_directive` or
/// `snapshot_missing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointFlag {
    pub kind: String,
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use crate::protocol::{Event, EventKind};

    #[test]
    fn a_rollover_from_an_older_log_still_parses() {
        let old = r#"{"seq":9,"ts":"2026-11-21T08:00:00Z","type":"rollover","cycle":2,"reason":"threshold","checkpoint":"1.3","window_tokens":900,"window":[]}"#;
        let ev: Event = serde_json::from_str(old).expect("an old rollover parses");
        let EventKind::Rollover { origins, dropped, review, .. } = ev.kind else { panic!("{}", ev.kind.name()) };
        assert!(origins.is_empty() && dropped.is_none() && review.is_none());
    }

    #[test]
    fn what_a_rollover_dropped_and_its_review_are_plain_json() {
        let line = r#"{"seq":40,"ts":"2026-11-21T08:00:00Z","type":"rollover","cycle":3,"reason":"threshold","checkpoint":"2.3","window_tokens":15000,"window":[],"origins":[null,12],"dropped":{"from_seq":3,"to_seq":31,"from_step":3,"to_step":31,"messages":42,"tokens":48200,"tool_calls":{"read_file":12,"run":3},"seqs":[3,31]},"review":{"proposal":38,"edits":[{"op":"pin","unit":4},{"op":"edit_field","field":"next_action","text":"x"}],"forced":false}}"#;
        let ev: Event = serde_json::from_str(line).expect("parses");
        assert_eq!(serde_json::to_value(&ev).unwrap(), serde_json::from_str::<serde_json::Value>(line).unwrap(), "round trip");
    }
}
