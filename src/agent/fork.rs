//! `endure fork SESSION --at c.n`: a new session that starts from another session's
//! checkpoint, in a git worktree of its own, so that both can run at once.
//!
//! The parent is only read: its log (up to the checkpoint) and its shadow snapshot repository,
//! whose snapshots are fetched into the worktree's own before the checkpoint's is restored
//! there with the same [`Snapshots::restore`] a rollback uses. The parent's lock is never
//! taken, so a running parent keeps running. The fork's log says where it came from
//! (`forked`), which is how `endure tree` finds forks: by reading the sessions of every
//! worktree of the repository.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::rebuild::{self, WindowSpec};
use crate::memory::window::Adjustments;
use crate::protocol::{Event, EventKind, Message, SessionInfo, Task};
use crate::session::{LogError, SessionState};
use crate::workflow::worktree::{git, worktree_list_lock};
use crate::workspace::snapshot::{SnapshotError, Snapshots};

/// What the fork's `forked` event records; the runtime emits it right after `session_started`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ForkStart {
    pub parent: String,
    pub at: String,
    pub parent_workspace: PathBuf,
    pub snapshot: String,
    pub branch: String,
    pub window_tokens: u64,
    pub window: Vec<Message>,
    pub tasks: Vec<Task>,
    pub restored: u32,
    pub removed: u32,
}

impl ForkStart {
    pub(crate) fn event(&self) -> EventKind {
        EventKind::Forked {
            parent: self.parent.clone(),
            at: self.at.clone(),
            parent_workspace: self.parent_workspace.display().to_string(),
            snapshot: self.snapshot.clone(),
            branch: Some(self.branch.clone()),
            window_tokens: self.window_tokens,
            window: self.window.clone(),
            tasks: self.tasks.clone(),
            restored: self.restored,
            removed: self.removed,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ForkError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("restoring the checkpoint's snapshot in the worktree: {0}")]
    Snapshot(#[from] SnapshotError),
    #[error("{0}")]
    Worktree(String),
}

/// A fork whose worktree is ready: run it with `AgentConfig { workspace, session_id, fork, .. }`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Fork {
    pub session_id: String,
    /// The worktree, the fork's workspace.
    pub workspace: PathBuf,
    /// The parent's `session_started`: its task and the options it ran with.
    pub parent_info: SessionInfo,
    pub start: ForkStart,
}

/// Where a fork's worktree goes unless `--into` says otherwise.
pub fn default_dir(workspace: &Path, session_id: &str) -> PathBuf {
    workspace.join(".endure").join("worktrees").join(session_id)
}

/// Where `fork --detach` leaves the prepared fork for its background process, which takes it.
const HANDOFF: &str = ".endure/fork.json";

impl Fork {
    /// Leaves the fork in its worktree for the background process of `--detach`.
    pub fn hand_off(&self) -> Result<(), ForkError> {
        let path = self.workspace.join(HANDOFF);
        let text = serde_json::to_vec(self).map_err(|e| ForkError::Worktree(format!("{}: {e}", path.display())))?;
        crate::memory::atomic::write_atomic(&path, &text).map_err(|e| ForkError::Worktree(format!("{}: {e}", path.display())))
    }

    /// Removes the worktree and its branch: a fork that will not run (its background process
    /// could not start) leaves nothing behind.
    pub fn discard(&self) {
        remove_worktree(&self.start.parent_workspace, &self.workspace, &self.start.branch);
    }

    /// The fork a `--detach` starter prepared in `dir`, for session `session_id`; taken once.
    pub fn take(dir: &Path, session_id: &str) -> Result<Fork, ForkError> {
        let path = dir.join(HANDOFF);
        let text = std::fs::read(&path).map_err(|e| ForkError::Invalid(format!("no prepared fork at {}: {e}", path.display())))?;
        let fork: Fork = serde_json::from_slice(&text).map_err(|e| ForkError::Invalid(format!("{}: {e}", path.display())))?;
        if fork.session_id != session_id {
            return Err(ForkError::Invalid(format!("{} prepares session {}, not {session_id}", path.display(), fork.session_id)));
        }
        let _ = std::fs::remove_file(&path);
        Ok(fork)
    }
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Creates the worktree of fork `session_id` of session `parent` (in `workspace`) at its
/// checkpoint `at`, restores the checkpoint's snapshot there and rebuilds the window the fork
/// starts from. Nothing is left behind when it fails.
pub fn prepare(workspace: &Path, parent: &str, at: &str, into: Option<&Path>, session_id: &str) -> Result<Fork, ForkError> {
    let read = crate::session::read_log(&crate::session::log_path(workspace, parent))?;
    let state = SessionState::from_events(&read.events);
    let info = state.info.clone().ok_or_else(|| ForkError::Invalid(format!("session {parent} has no session_started event")))?;
    let Some(record) = state.checkpoint(at).cloned() else {
        let known: Vec<&str> = state.checkpoints.iter().map(|c| c.id.as_str()).collect();
        return Err(ForkError::Invalid(format!(
            "no checkpoint {at} in session {parent} (it has: {})",
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        )));
    };
    let Some(snapshot) = record.snapshot.clone() else {
        let why = record.snapshot_error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default();
        return Err(ForkError::Invalid(format!("checkpoint {at} has no workspace snapshot to fork from{why}")));
    };
    let then = SessionState::from_events(read.events.iter().take_while(|e| e.seq <= record.upto_seq));
    let checkpoint = read.events.iter().find_map(|e: &Event| match &e.kind {
        EventKind::CheckpointSaved { id, checkpoint, .. } if id == at => Some(checkpoint.clone()),
        _ => None,
    });
    let dir = match into {
        Some(d) => std::path::absolute(d).map_err(|e| ForkError::Invalid(format!("--into {}: {e}", d.display())))?,
        None => default_dir(workspace, session_id),
    };
    if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(ForkError::Invalid(format!("{} exists and is not empty; fork into a new directory", dir.display())));
    }
    let branch = format!("endure/fork/{session_id}");
    add_worktree(workspace, &dir, &branch)?;
    let restore = || -> Result<Fork, ForkError> {
        let theirs = Snapshots::open(workspace)?;
        let ours = Snapshots::open(&dir)?;
        ours.import_from(&theirs)?;
        let report = ours.restore(&snapshot)?;
        let dir = std::fs::canonicalize(&dir).map_err(|e| ForkError::Worktree(format!("{}: {e}", dir.display())))?;
        let budget = Some(info.context_budget).filter(|b| *b > 0).unwrap_or(crate::config::prices::DEFAULT_CONTEXT);
        let spec = WindowSpec { workspace: &dir, budget, cap: super::CycleSettings::default().window_cap };
        let built = rebuild::build_window(
            &spec,
            &then,
            checkpoint.as_deref().map(|c| (at, c)),
            &then.messages.to_vec(),
            &then.tasks,
            &Adjustments::default(),
        )
        .map_err(|e| ForkError::Invalid(format!("the window of checkpoint {at} cannot be rebuilt: {e}")))?;
        Ok(Fork {
            session_id: session_id.to_string(),
            workspace: dir,
            parent_info: info.clone(),
            start: ForkStart {
                parent: parent.to_string(),
                at: at.to_string(),
                parent_workspace: workspace.to_path_buf(),
                snapshot: snapshot.clone(),
                branch: branch.clone(),
                window_tokens: built.tokens,
                window: built.messages,
                tasks: then.tasks.clone(),
                restored: report.restored,
                removed: report.removed,
            },
        })
    };
    restore().inspect_err(|_| remove_worktree(workspace, &dir, &branch))
}

/// `git worktree add -b BRANCH DIR HEAD`: the files are replaced by the snapshot's next, but a
/// worktree needs a commit to start from.
fn add_worktree(workspace: &Path, dir: &Path, branch: &str) -> Result<(), ForkError> {
    let top = git(workspace, &[os("rev-parse"), os("--show-toplevel")], None).map_err(|_| {
        ForkError::Worktree("a fork runs in a git worktree: the workspace must be a git repository (run `git init` and commit)".into())
    })?;
    let top = String::from_utf8_lossy(&top).trim().to_string();
    if std::fs::canonicalize(&top).ok() != std::fs::canonicalize(workspace).ok() {
        return Err(ForkError::Worktree(format!("a fork's worktree is of the whole repository: run it from the repository's top ({top})")));
    }
    git(workspace, &[os("rev-parse"), os("--verify"), os("HEAD")], None)
        .map_err(|_| ForkError::Worktree("a fork runs in a git worktree, which needs a repository with at least one commit".into()))?;
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| ForkError::Worktree(format!("cannot create {}: {e}", parent.display())))?;
    }
    let _list = worktree_list_lock();
    git(workspace, &[os("worktree"), os("add"), os("--quiet"), os("-b"), os(branch), dir.as_os_str(), os("HEAD")], None)
        .map(|_| ())
        .map_err(ForkError::Worktree)
}

fn remove_worktree(workspace: &Path, dir: &Path, branch: &str) {
    let _list = worktree_list_lock();
    let _ = git(workspace, &[os("worktree"), os("remove"), os("--force"), dir.as_os_str()], None);
    let _ = git(workspace, &[os("branch"), os("-D"), os(branch)], None);
}

/// One session's log, for the attempt tree.
#[derive(Debug, Clone)]
pub struct SessionLog {
    pub id: String,
    pub workspace: PathBuf,
    pub events: Vec<Event>,
}

/// The workspaces where forks of `workspace`'s sessions can be: the workspace itself, every
/// worktree of its repository (`--into` anywhere), and the default fork directories.
fn fork_workspaces(workspace: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![workspace.to_path_buf()];
    if let Ok(out) = git(workspace, &[os("worktree"), os("list"), os("--porcelain")], None) {
        dirs.extend(String::from_utf8_lossy(&out).lines().filter_map(|l| l.strip_prefix("worktree ")).map(PathBuf::from));
    }
    if let Ok(rd) = std::fs::read_dir(workspace.join(".endure").join("worktrees")) {
        dirs.extend(rd.filter_map(Result::ok).map(|e| e.path()));
    }
    let mut seen = std::collections::BTreeSet::new();
    dirs.retain(|d| seen.insert(std::fs::canonicalize(d).unwrap_or_else(|_| d.clone())));
    dirs
}

/// Every forked session found from `workspace` (see [`fork_workspaces`]), with its log. Logs
/// that cannot be read are skipped with a warning in the second list.
pub fn fork_logs(workspace: &Path) -> (Vec<SessionLog>, Vec<String>) {
    let mut logs = Vec::new();
    let mut warnings = Vec::new();
    for ws in fork_workspaces(workspace) {
        for id in crate::session::list::session_ids(&ws) {
            let path = crate::session::log_path(&ws, &id);
            if !starts_as_fork(&path) {
                continue;
            }
            match crate::session::read_log(&path) {
                Ok(read) => logs.push(SessionLog { id, workspace: ws.clone(), events: read.events }),
                Err(e) => warnings.push(format!("{}: {e}", path.display())),
            }
        }
    }
    (logs, warnings)
}

/// Whether a log records `forked`, which comes before its first step: only the beginning of
/// each log is read, so listing forks costs little however long the sessions ran. A string
/// value cannot hold `"type":"forked"` unescaped, so the text test is exact.
fn starts_as_fork(path: &Path) -> bool {
    use std::io::BufRead;
    let Ok(file) = std::fs::File::open(path) else { return false };
    for line in std::io::BufReader::new(file).lines() {
        let Ok(line) = line else { return false };
        if line.contains("\"type\":\"forked\"") {
            return true;
        }
        if line.contains("\"type\":\"step_started\"") {
            return false;
        }
    }
    false
}

/// The forks of session `session` (of `workspace`) and theirs, each with the events of its log
/// the attempt tree reads.
pub fn forks_of(workspace: &Path, session: &str) -> Vec<crate::protocol::ForkLog> {
    let (logs, _) = fork_logs(workspace);
    let mut family = std::collections::BTreeSet::from([session.to_string()]);
    let mut found = Vec::new();
    // Parents come before their forks in no particular order: grow the family until it stops.
    loop {
        let before = found.len();
        for log in &logs {
            if family.contains(&log.id) {
                continue;
            }
            if crate::session::attempts::fork_origin(&log.events).is_some_and(|(parent, _)| family.contains(&parent)) {
                family.insert(log.id.clone());
                found.push(crate::protocol::ForkLog {
                    id: log.id.clone(),
                    events: log.events.iter().filter_map(crate::session::attempts::keep).collect(),
                });
            }
        }
        if found.len() == before {
            return found;
        }
    }
}
