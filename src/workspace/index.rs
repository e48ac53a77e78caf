//! The index of file states used to detect what a command changed.
//!
//! A rescan is stat-only for files whose size and mtime are unchanged, so that it can run after
//! every command on a large tree. Content is hashed only when the metadata moved, or when the
//! mtime is so recent that a same-granule rewrite could hide behind it.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::diff::{Side, describe};
use super::{FileChange, MAX_DIFF_BYTES, hex, sha256};

/// Files modified this close before the previous scan are hashed again even when their
/// metadata looks unchanged: coarse mtime granularity can hide a rewrite of the same size.
const MTIME_SLACK: Duration = Duration::from_secs(2);

/// Total bytes of file content kept for diffs. Beyond it files are tracked by hash only, so a
/// huge tree costs hashes, not its own size in memory.
const CONTENT_BUDGET: usize = 128 * 1024 * 1024;

/// A walk that respects .gitignore, .ignore and git excludes (also outside a git repository),
/// includes hidden files, and never enters `.git/` directories or the root's `.endure/`.
pub(crate) fn walker(root: &Path, start: &Path) -> ignore::WalkBuilder {
    let endure_dir = root.join(".endure");
    let mut b = ignore::WalkBuilder::new(start);
    b.hidden(false).require_git(false).follow_links(false).filter_entry(move |e| {
        let name = e.file_name();
        let is_dir = e.file_type().is_some_and(|t| t.is_dir());
        !(is_dir && (name == ".git" || (name == ".endure" && e.path() == endure_dir)))
    });
    b
}

struct Entry {
    size: u64,
    mtime: Option<SystemTime>,
    hash: [u8; 32],
    content: Option<Box<[u8]>>,
    /// The scan generation that last saw the file; older ones were deleted.
    seen: u32,
}

impl Entry {
    fn side(&self) -> Side<'_> {
        Side { size: self.size, content: self.content.as_deref() }
    }
}

#[derive(Default)]
pub(super) struct Index {
    files: HashMap<Box<str>, Entry>,
    generation: u32,
    /// When the previous scan started; `None` before the first one.
    last_scan: Option<SystemTime>,
    content_bytes: usize,
}

struct Snapshot {
    size: u64,
    hash: [u8; 32],
    content: Option<Vec<u8>>,
}

fn read_snapshot(path: &Path) -> Option<Snapshot> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut head = Vec::new();
    // Read one byte past the limit to learn whether the file fits without a second stat.
    (&mut f).take(MAX_DIFF_BYTES + 1).read_to_end(&mut head).ok()?;
    if head.len() as u64 <= MAX_DIFF_BYTES {
        return Some(Snapshot { size: head.len() as u64, hash: sha256(&head), content: Some(head) });
    }
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(&head);
    let mut size = head.len() as u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(Snapshot { size, hash: hasher.finalize().into(), content: None })
}

fn rel_str<'a>(root: &Path, path: &'a Path) -> Option<&'a str> {
    path.strip_prefix(root).ok()?.to_str()
}

impl Index {
    pub(super) fn len(&self) -> usize {
        self.files.len()
    }

    /// Turns a snapshot into an entry, keeping its content if the budget allows.
    fn make_entry(&mut self, snap: Snapshot, mtime: Option<SystemTime>) -> Entry {
        let content = snap.content.filter(|c| self.content_bytes + c.len() <= CONTENT_BUDGET).map(Vec::into_boxed_slice);
        self.content_bytes += content.as_ref().map_or(0, |c| c.len());
        Entry { size: snap.size, mtime, hash: snap.hash, content, seen: self.generation }
    }

    fn release(&mut self, e: &Entry) {
        self.content_bytes -= e.content.as_ref().map_or(0, |c| c.len());
    }

    /// Walks the tree, updates the index and returns what changed since the previous scan
    /// (nothing on the first scan, which only records the state).
    pub(super) fn scan(&mut self, root: &Path) -> Vec<FileChange> {
        let started = SystemTime::now();
        let first = self.last_scan.is_none();
        let recent_after = self.last_scan.and_then(|t| t.checked_sub(MTIME_SLACK));
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        let mut changes = Vec::new();

        for entry in walker(root, root).build() {
            let Ok(entry) = entry else { continue };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let Some(rel) = rel_str(root, entry.path()) else { continue };
            let Ok(meta) = entry.metadata() else { continue };
            let (size, mtime) = (meta.len(), meta.modified().ok());

            if let Some(e) = self.files.get_mut(rel) {
                e.seen = generation;
                let recent = match (mtime, recent_after) {
                    (Some(m), Some(after)) => m >= after,
                    _ => true,
                };
                if e.size == size && e.mtime == mtime && !recent {
                    continue;
                }
                // Unreadable now (permissions, or deleted mid-walk): keep the old state and let
                // the next scan decide.
                let Some(snap) = read_snapshot(entry.path()) else { continue };
                if snap.hash == e.hash {
                    e.size = snap.size;
                    e.mtime = mtime;
                    continue;
                }
                let Some(old) = self.files.remove(rel) else { continue };
                self.release(&old);
                let new = self.make_entry(snap, mtime);
                changes.push(FileChange {
                    path: rel.to_string(),
                    before: Some(hex(&old.hash)),
                    after: Some(hex(&new.hash)),
                    diff: describe(rel, Some(old.side()), Some(new.side())),
                });
                self.files.insert(rel.into(), new);
            } else {
                let Some(snap) = read_snapshot(entry.path()) else { continue };
                let new = self.make_entry(snap, mtime);
                if !first {
                    changes.push(FileChange {
                        path: rel.to_string(),
                        before: None,
                        after: Some(hex(&new.hash)),
                        diff: describe(rel, None, Some(new.side())),
                    });
                }
                self.files.insert(rel.into(), new);
            }
        }

        let gone: Vec<Box<str>> = self.files.iter().filter(|(_, e)| e.seen != generation).map(|(k, _)| k.clone()).collect();
        for rel in gone {
            let Some(old) = self.files.remove(&rel) else { continue };
            self.release(&old);
            // Still on disk but not walked: it became ignored, or a tool wrote an ignored file.
            // Ignored files are not tracked, so it is forgotten rather than reported deleted.
            if std::fs::symlink_metadata(root.join(&*rel)).is_ok() {
                continue;
            }
            changes.push(FileChange {
                path: rel.to_string(),
                before: Some(hex(&old.hash)),
                after: None,
                diff: describe(&rel, Some(old.side()), None),
            });
        }

        changes.sort_by(|a, b| a.path.cmp(&b.path));
        self.last_scan = Some(started);
        changes
    }

    /// Indexes `rel` from disk if it exists and is not indexed yet.
    pub(super) fn track_existing(&mut self, root: &Path, rel: &str) {
        if self.files.contains_key(rel) {
            return;
        }
        let path: PathBuf = root.join(rel);
        let Ok(meta) = std::fs::symlink_metadata(&path) else { return };
        if !meta.is_file() {
            return;
        }
        let Some(snap) = read_snapshot(&path) else { return };
        let entry = self.make_entry(snap, meta.modified().ok());
        self.files.insert(rel.into(), entry);
    }

    pub(super) fn record_write(&mut self, root: &Path, rel: &str, content: &[u8]) -> Option<FileChange> {
        // The mtime is taken from disk so that the next rescan does not hash the file again.
        let mtime = std::fs::metadata(root.join(rel)).ok().and_then(|m| m.modified().ok());
        let hash = sha256(content);
        if let Some(e) = self.files.get_mut(rel)
            && e.hash == hash
        {
            e.size = content.len() as u64;
            e.mtime = mtime;
            return None;
        }
        let retained = (content.len() as u64 <= MAX_DIFF_BYTES).then(|| content.to_vec());
        let new = self.make_entry(Snapshot { size: content.len() as u64, hash, content: retained }, mtime);
        let new_side = Side { size: content.len() as u64, content: (content.len() as u64 <= MAX_DIFF_BYTES).then_some(content) };
        let old = self.files.remove(rel);
        if let Some(o) = &old {
            self.release(o);
        }
        let change = FileChange {
            path: rel.to_string(),
            before: old.as_ref().map(|o| hex(&o.hash)),
            after: Some(hex(&hash)),
            diff: describe(rel, old.as_ref().map(Entry::side), Some(new_side)),
        };
        self.files.insert(rel.into(), new);
        Some(change)
    }
}
