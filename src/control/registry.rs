//! The registry of running sessions, across workspaces: one small JSON file per session in
//! `$ENDURE_STATE_DIR/running/`, else `$XDG_STATE_HOME/endure/running/`, else
//! `~/.local/state/endure/running/`. Written when a session's control socket is up, removed
//! when it ends; an entry whose process died (kill -9) is pruned by whoever lists them.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ControlError;

/// One running session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub workspace: String,
    pub pid: u32,
    pub socket: String,
    pub task: String,
    pub started_at: DateTime<Utc>,
}

impl Entry {
    pub fn session_dir(&self) -> PathBuf {
        crate::session::sessions_dir(Path::new(&self.workspace)).join(&self.id)
    }

    pub fn log_path(&self) -> PathBuf {
        crate::session::log_path(Path::new(&self.workspace), &self.id)
    }

    /// True while the process named in the entry holds the session's lock: a pid reused by
    /// another program after a kill -9 does not count.
    pub fn is_alive(&self) -> bool {
        crate::session::lock::SessionLock::holder(&self.session_dir()).is_some_and(|h| h.pid == Some(self.pid))
    }
}

pub struct Registry {
    dir: PathBuf,
}

impl Registry {
    /// The user's registry, or None when no state directory can be found (no HOME).
    pub fn user() -> Option<Registry> {
        let base = std::env::var_os("ENDURE_STATE_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()).map(|v| PathBuf::from(v).join("endure")))
            .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".local/state/endure")))?;
        Some(Registry { dir: base.join("running") })
    }

    pub fn at(dir: PathBuf) -> Registry {
        Registry { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn err(&self, source: std::io::Error) -> ControlError {
        ControlError::Registry { path: self.dir.display().to_string(), source }
    }

    /// Writes the entry (atomically) and returns its path.
    pub fn register(&self, entry: &Entry) -> Result<PathBuf, ControlError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.err(e))?;
        let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700));
        let path = self.dir.join(format!("{}.json", entry.id));
        let tmp = self.dir.join(format!(".{}.json.tmp", entry.id));
        let text = serde_json::to_vec_pretty(entry).map_err(|e| self.err(std::io::Error::other(e)))?;
        std::fs::write(&tmp, text).map_err(|e| self.err(e))?;
        std::fs::rename(&tmp, &path).map_err(|e| self.err(e))?;
        Ok(path)
    }

    /// The running sessions, oldest first. Entries of processes that died are removed, with
    /// the socket they left behind.
    pub fn running(&self) -> Vec<Entry> {
        let Ok(dir) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut out = Vec::new();
        for file in dir.flatten() {
            let path = file.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Some(entry) = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Entry>(&b).ok()) else {
                // Unreadable: a torn write cannot happen (rename), so it is not ours to keep.
                let _ = std::fs::remove_file(&path);
                continue;
            };
            if entry.is_alive() {
                out.push(entry);
            } else {
                prune(&path, &entry);
            }
        }
        out.sort_by(|a, b| a.started_at.cmp(&b.started_at).then_with(|| a.id.cmp(&b.id)));
        out
    }

    /// The running session `id`, or the only one whose id starts with it.
    pub fn find(&self, id: &str) -> Result<Entry, String> {
        let running = self.running();
        if let Some(e) = running.iter().find(|e| e.id == id) {
            return Ok(e.clone());
        }
        let matches: Vec<&Entry> = running.iter().filter(|e| e.id.starts_with(id)).collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(format!("no running session {id} (see `endure ps`)")),
            _ => Err(format!(
                "{id} matches several running sessions: {}",
                matches.iter().map(|e| e.id.as_str()).collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

/// Removes a dead session's entry and the socket it left, unless someone serves it again
/// (a resume of the same session holds its lock).
fn prune(path: &Path, entry: &Entry) {
    let _ = std::fs::remove_file(path);
    if crate::session::lock::SessionLock::holder(&entry.session_dir()).is_none() {
        let _ = std::fs::remove_file(entry.session_dir().join(super::SOCKET_FILE));
    }
}
