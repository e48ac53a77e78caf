//! The workspace: path confinement, change detection and diffs (skeleton; the tools helper fills it).

use std::path::{Path, PathBuf};

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
    root: PathBuf,
}

impl Workspace {
    /// Opens a workspace and records the state of its files for change detection.
    pub fn open(root: &Path) -> Result<Workspace, WorkspaceError> {
        Ok(Workspace { root: root.to_path_buf() })
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// Resolves a model-given path to an absolute path inside the workspace, or refuses it.
    pub fn resolve(&self, path: &str, _access: Access) -> Result<PathBuf, WorkspaceError> {
        Ok(self.root.join(path))
    }
    /// Compares the workspace with the recorded state and returns what changed since.
    pub fn rescan(&mut self) -> Vec<FileChange> {
        Vec::new()
    }
    /// Records that a tool wrote `content` to `rel` and returns the change, if any.
    pub fn record_write(&mut self, _rel: &str, _content: &[u8]) -> Option<FileChange> {
        None
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}
