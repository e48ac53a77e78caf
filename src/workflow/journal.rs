//! The journal of a workflow run: `workflows/<run>/journal.jsonl` in the session's directory.
//!
//! An `agent()` call is known by its key: a hash of its prompt and options, and how many
//! identical calls the run made before it. A resumed run re-executes the script from the top;
//! a call whose key has an entry `finished` or `failed` settles at once with what the entry
//! says, and one with only `started` continues the subagent's own session from its log.
//! Lines are appended with one `write` each, like the event log, so a `kill -9` tears at most
//! the last one, which reading skips.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::protocol::AgentUsage;

/// Where an isolated subagent works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorktreeInfo {
    /// Relative to the workspace.
    pub path: String,
    pub branch: String,
    pub base: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum Entry {
    Started {
        key: String,
        agent: u64,
        label: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worktree: Option<WorktreeInfo>,
    },
    Finished {
        key: String,
        agent: u64,
        result: Value,
        steps: u64,
        #[serde(flatten)]
        usage: AgentUsage,
    },
    Failed {
        key: String,
        agent: u64,
        error: String,
        steps: u64,
        #[serde(flatten)]
        usage: AgentUsage,
    },
}

impl Entry {
    pub fn key(&self) -> &str {
        match self {
            Entry::Started { key, .. } | Entry::Finished { key, .. } | Entry::Failed { key, .. } => key,
        }
    }
}

/// What the journal knows of one call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Known {
    pub started: Option<(u64, String, Option<WorktreeInfo>)>,
    /// `finished` or `failed`: the call settles with this.
    pub settled: Option<Entry>,
}

pub struct Journal {
    path: PathBuf,
    file: File,
    known: HashMap<String, Known>,
}

#[derive(Debug, thiserror::Error)]
#[error("workflow journal {path}: {source}")]
pub struct JournalError {
    path: String,
    source: std::io::Error,
}

impl Journal {
    /// Opens (creating) the journal, reading what an earlier process recorded.
    pub fn open(path: &Path) -> Result<(Journal, Vec<String>), JournalError> {
        let err = |source| JournalError { path: path.display().to_string(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut warnings = Vec::new();
        let mut known: HashMap<String, Known> = HashMap::new();
        match std::fs::read(path) {
            Ok(bytes) => {
                for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    match serde_json::from_slice::<Entry>(line) {
                        Ok(entry) => {
                            let k = known.entry(entry.key().to_string()).or_default();
                            match entry {
                                Entry::Started { agent, label, worktree, .. } => k.started = Some((agent, label, worktree)),
                                settled => k.settled = Some(settled),
                            }
                        }
                        Err(e) => warnings.push(format!("{}:{}: skipped an unreadable journal line ({e})", path.display(), i + 1)),
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e)),
        }
        let mut file = OpenOptions::new().create(true).append(true).open(path).map_err(err)?;
        // A torn last line would swallow the next entry: end it first.
        if std::fs::read(path).map_err(err)?.last().is_some_and(|b| *b != b'\n') {
            file.write_all(b"\n").map_err(err)?;
        }
        Ok((Journal { path: path.to_path_buf(), file, known }, warnings))
    }

    pub fn known(&self, key: &str) -> Option<&Known> {
        self.known.get(key)
    }

    pub fn append(&mut self, entry: Entry) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(&entry).map_err(|e| JournalError { path: self.path.display().to_string(), source: e.into() })?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(|source| JournalError { path: self.path.display().to_string(), source })?;
        // A finished agent must survive a crash right after: it is what saves redoing it.
        if !matches!(entry, Entry::Started { .. }) {
            let _ = self.file.sync_data();
        }
        let k = self.known.entry(entry.key().to_string()).or_default();
        match entry {
            Entry::Started { agent, label, worktree, .. } => k.started = Some((agent, label, worktree)),
            settled => k.settled = Some(settled),
        }
        Ok(())
    }
}

/// The identity of a call by what it asks: its prompt and options (object keys sorted, so the
/// order they were written in does not matter).
pub fn call_hash(prompt: &str, opts: &Value) -> String {
    let mut h = Sha256::new();
    h.update(prompt.as_bytes());
    h.update([0]);
    h.update(opts.to_string().as_bytes());
    h.finalize().iter().take(12).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn entries_survive_a_reopen_and_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w/journal.jsonl");
        let (mut j, _) = Journal::open(&path).unwrap();
        j.append(Entry::Started { key: "k#0".into(), agent: 1, label: "a".into(), worktree: None }).unwrap();
        j.append(Entry::Finished {
            key: "k#0".into(),
            agent: 1,
            result: json!({"x": 1}),
            steps: 2,
            usage: AgentUsage { prompt_tokens: 5, completion_tokens: 1, cost_usd: 0.0 },
        })
        .unwrap();
        j.append(Entry::Started { key: "k#1".into(), agent: 2, label: "b".into(), worktree: None }).unwrap();
        drop(j);
        // A kill in the middle of a write.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"entry\":\"finished\",\"key\":\"k#1\",\"ag").unwrap();
        let (mut j, warnings) = Journal::open(&path).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(matches!(&j.known("k#0").unwrap().settled, Some(Entry::Finished { result, .. }) if result == &json!({"x": 1})));
        assert_eq!(j.known("k#1").unwrap().started.as_ref().map(|s| s.0), Some(2));
        assert!(j.known("k#1").unwrap().settled.is_none());
        j.append(Entry::Failed { key: "k#1".into(), agent: 2, error: "no".into(), steps: 1, usage: AgentUsage::default() }).unwrap();
        let (j, warnings) = Journal::open(&path).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(matches!(j.known("k#1").unwrap().settled, Some(Entry::Failed { .. })));
    }

    #[test]
    fn the_hash_ignores_key_order_but_not_content() {
        let a = call_hash("p", &serde_json::from_str(r#"{"label": "x", "tools": ["read_file"]}"#).unwrap());
        let b = call_hash("p", &serde_json::from_str(r#"{"tools": ["read_file"], "label": "x"}"#).unwrap());
        assert_eq!(a, b);
        assert_ne!(a, call_hash("p2", &json!({"label": "x", "tools": ["read_file"]})));
    }
}
