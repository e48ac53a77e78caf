//! The workspace: path confinement, change detection and diffs.
//!
//! Every path a model names goes through [`Workspace::resolve`], and every change to the tree
//! (by a tool writing a file, or by a command run through the shell) is detected against an
//! index of the files' state so that it can be shown to the supervisor as a diff.

mod diff;
mod index;
mod paths;
pub mod snapshot;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use diff::{file_diff, is_binary};
pub(crate) use index::walker;

use index::Index;

/// Files larger than this are tracked by hash only; their changes are described, not diffed.
pub const MAX_DIFF_BYTES: u64 = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("{0}")]
    Path(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// Whether a tool reads or writes a path; writes to MEMORY.md and .endure/ are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// One file's change, as recorded in a `file_changed` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub diff: String,
}

pub struct Workspace {
    /// Canonical root; everything resolved is checked against it.
    root: PathBuf,
    /// The root as it was given (made absolute), so that absolute paths the model copied from
    /// the supervisor's prompt still resolve when the canonical form differs (e.g. /tmp links).
    given_root: PathBuf,
    index: Index,
}

impl Workspace {
    /// Opens a workspace and records the state of its files for change detection.
    pub fn open(root: &Path) -> Result<Workspace, WorkspaceError> {
        let io_err = |source| WorkspaceError::Io { path: root.display().to_string(), source };
        let canonical = std::fs::canonicalize(root).map_err(io_err)?;
        if !canonical.is_dir() {
            return Err(WorkspaceError::Path(format!("workspace {} is not a directory", root.display())));
        }
        let given_root = std::path::absolute(root).map_err(io_err)?;
        let mut index = Index::default();
        index.scan(&canonical);
        Ok(Workspace { root: canonical, given_root, index })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves a model-given path to an absolute path inside the workspace, or refuses it.
    pub fn resolve(&self, path: &str, access: Access) -> Result<PathBuf, WorkspaceError> {
        self.resolve_rel(path, access).map(|(abs, _)| abs)
    }

    /// Like [`Workspace::resolve`], and also returns the path relative to the root with `/`
    /// separators (empty for the root itself), the form used in the index and in changes.
    pub fn resolve_rel(&self, path: &str, access: Access) -> Result<(PathBuf, String), WorkspaceError> {
        paths::resolve(&self.root, &self.given_root, path, access)
    }

    /// Compares the workspace with the recorded state and returns what changed since.
    pub fn rescan(&mut self) -> Vec<FileChange> {
        self.index.scan(&self.root)
    }

    /// Makes sure the index knows the current content of `rel` before a tool overwrites it.
    ///
    /// Files the walk skips (gitignored ones) are not indexed, so without this a write to one
    /// would be reported as a creation even when it replaced existing content.
    pub fn note_before_write(&mut self, rel: &str) {
        self.index.track_existing(&self.root, rel);
    }

    /// Records that a tool wrote `content` to `rel` and returns the change, if any.
    pub fn record_write(&mut self, rel: &str, content: &[u8]) -> Option<FileChange> {
        self.index.record_write(&self.root, rel, content)
    }

    /// How many files the index tracks.
    pub fn tracked_files(&self) -> usize {
        self.index.len()
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha256(bytes))
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

pub(crate) fn hex(hash: &[u8; 32]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(64);
    for b in hash {
        let _ = write!(s, "{b:02x}");
    }
    s
}
