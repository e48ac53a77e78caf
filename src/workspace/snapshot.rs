//! Workspace snapshots: the exact state of the workspace files at session start and at every
//! checkpoint, kept in a shadow git repository so that the supervisor can roll back to any of
//! them byte for byte.
//!
//! The shadow repository lives in `<workspace>/.endure/snapshots.git` and is driven through the
//! `git` CLI with `GIT_DIR`, `GIT_WORK_TREE` and its own `GIT_INDEX_FILE`, so the user's own
//! `.git` (its index, refs, config and hooks) is never read or written. Because `GIT_DIR` is
//! explicit, git does no repository discovery, so a workspace that is a subdirectory of a
//! user's repository is snapshotted on its own.
//!
//! What a snapshot contains:
//! - every file git would add with `git add -A` in the workspace: tracked-or-not, untracked
//!   files included, minus what the workspace's `.gitignore` files ignore. Only `.gitignore`
//!   files *inside* the workspace count: the user's global excludes file, their
//!   `.git/info/exclude` and the `.gitignore` of a parent repository are not consulted, so the
//!   result does not depend on the machine or on where the workspace sits.
//! - never `.endure/` (excluded with a pathspec, which no `.gitignore` negation can undo).
//! - never a `.git` entry (git itself refuses them at every level).
//! - file contents byte for byte (every attribute that converts content — `text`, `eol`,
//!   `filter`, `ident`, `working-tree-encoding` — is unset for the shadow repository), the
//!   executable bit and symlinks. Other permission bits, timestamps and empty directories are
//!   not recorded: git has no place for them.
//!
//! Nested repositories (a subdirectory with its own `.git`, like a submodule or a cloned
//! dependency) are not snapshotted file by file: git records a nested repository that has a
//! commit checked out as a single "gitlink" entry (its HEAD commit id) and refuses one without
//! a commit, which is then left out. Either way its files are outside the snapshot, and
//! [`Snapshots::restore`] never creates, changes or deletes anything inside it.
//!
//! Snapshots form a chain under [`SNAPSHOT_REF`]: each one's parent is the previous one, so
//! `git --git-dir .endure/snapshots.git log refs/endure/snapshots` shows the history.
//!
//! A git killed mid-command (with endure, by `kill -9`) leaves its lock file behind
//! (`index.lock`, `refs/endure/snapshots.lock`), and every later git command on the shadow
//! repository then fails with "File exists". The rule for such a lock: after a command
//! failed because of it, a lock file inside the shadow repository is stale when no process
//! has it open (git keeps its lock file open from creating it until it renames it into place;
//! every process's open files are listed under `/proc`). Where `/proc` cannot be read, it is
//! stale when it has not been modified for [`STALE_LOCK_AGE`]. A stale lock is removed, the
//! command is run again, and a note says so (see [`Snapshots::take_notes`]).

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The ref whose history is the chain of snapshots.
pub const SNAPSHOT_REF: &str = "refs/endure/snapshots";

/// The shadow repository, relative to the workspace root.
pub const SHADOW_DIR: &str = ".endure/snapshots.git";

/// Excludes `.endure/` from every command that walks the work tree. A pathspec rather than
/// `info/exclude`: a `.gitignore` line like `!.endure/` would override `info/exclude` (it has
/// lower precedence) and the shadow repository would start recording itself. It is also the
/// only exclusion: with `.endure` in `info/exclude` as well, `git add` reports the excluded
/// path as "ignored" and fails.
const EXCLUDE_ENDURE: &str = ":(exclude,top,literal).endure";

/// Written to the shadow repository's `info/attributes`, which takes precedence over every
/// `.gitattributes` in the work tree: no attribute may convert content on the way in or out,
/// or a restored file would differ from the one that was snapshotted (e.g. `eol=crlf` on a
/// file with LF endings).
const ATTRIBUTES: &str = "* -text -eol -crlf -ident -filter -working-tree-encoding\n";

/// Git's mode for a nested repository entry.
const GITLINK_MODE: &str = "160000";

/// Without `/proc`, a lock file untouched for this long is taken for one a dead git left.
pub const STALE_LOCK_AGE: Duration = Duration::from_secs(60);

/// How many stale locks one operation may clear (the index and a ref, say) before it gives up.
const MAX_LOCK_RECOVERIES: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("git is needed for workspace snapshots (could not run {program:?}: {source})")]
    GitMissing { program: String, source: std::io::Error },
    #[error("`git {command}` failed ({status}): {stderr}")]
    GitFailed { command: String, status: String, stderr: String },
    #[error("no snapshot {0:?} in the workspace's snapshot repository")]
    UnknownSnapshot(String),
    /// A file of the snapshot cannot be written without deleting something restore must leave
    /// alone (ignored files, a nested repository). The workspace state from before the restore
    /// is recorded in the snapshot `before`.
    #[error("cannot restore {path}: {reason} (the state before the restore is snapshot {before})")]
    Conflict { path: String, reason: String, before: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// What [`Snapshots::restore`] changed in the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// Files written because they differed from the snapshot (content, executable bit or
    /// file/symlink type) or were missing.
    pub restored: u32,
    /// Files deleted because they were not in the snapshot.
    pub removed: u32,
    /// The snapshot holding the workspace as it was just before the restore, so a rollback
    /// can itself be undone. When nothing had changed since the latest snapshot, that one.
    pub before: String,
}

/// The shadow repository of one workspace.
#[derive(Debug, Clone)]
pub struct Snapshots {
    /// Canonical workspace root: the shadow repository's work tree.
    workspace: PathBuf,
    git_dir: PathBuf,
    /// Reused between snapshots: its stat information is what lets an unchanged file cost a
    /// `lstat` instead of a read and a hash.
    index_file: PathBuf,
    git: PathBuf,
    /// What recovery did that the supervisor should hear about (stale locks removed).
    notes: Arc<Mutex<Vec<String>>>,
}

/// One entry of a `diff-tree -r --raw -z` between the current tree and a snapshot.
struct TreeChange {
    current_mode: Vec<u8>,
    target_mode: Vec<u8>,
    path: Vec<u8>,
}

impl Snapshots {
    /// Opens the snapshots of `workspace`, creating the shadow repository on first use.
    pub fn open(workspace: &Path) -> Result<Snapshots, SnapshotError> {
        Snapshots::open_with_git(workspace, "git")
    }

    /// Like [`Snapshots::open`], with the git program to run (a path or a name on `PATH`).
    pub fn open_with_git(workspace: &Path, git: impl Into<PathBuf>) -> Result<Snapshots, SnapshotError> {
        let workspace = std::fs::canonicalize(workspace).map_err(|e| io_err(workspace, e))?;
        let git_dir = workspace.join(SHADOW_DIR);
        let snapshots = Snapshots { index_file: git_dir.join("index"), git_dir, workspace, git: git.into(), notes: Default::default() };
        snapshots.recovering(|| snapshots.init())?;
        Ok(snapshots)
    }

    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    /// Records the current state of the workspace files and returns the new snapshot's commit
    /// id. Its parent is the previous snapshot.
    pub fn snapshot(&self, label: &str) -> Result<String, SnapshotError> {
        self.recovering(|| {
            self.stage_workspace()?;
            let tree = self.write_tree()?;
            self.commit(&tree, label)
        })
    }

    /// What recovery did since the last call: one line per stale lock removed.
    pub fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Runs `op`, and runs it again after removing a stale lock file that made it fail (see
    /// the module documentation for when a lock is stale).
    fn recovering<T>(&self, op: impl Fn() -> Result<T, SnapshotError>) -> Result<T, SnapshotError> {
        let mut result = op();
        for _ in 0..MAX_LOCK_RECOVERIES {
            let Err(e) = &result else { break };
            let Some(lock) = self.lock_in_the_way(e) else { break };
            match lock_holders(&lock) {
                Holders::Some => break,
                Holders::Unknown if !older_than(&lock, STALE_LOCK_AGE) => break,
                Holders::None | Holders::Unknown => {}
            }
            match std::fs::remove_file(&lock) {
                Ok(()) => {
                    let rel = lock.strip_prefix(&self.workspace).unwrap_or(&lock).display().to_string();
                    self.notes
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("removed {rel}, a stale lock left by an interrupted git (no process holds it)"));
                }
                // Gone meanwhile: its owner finished; trying again is all there is to do.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(_) => break,
            }
            result = op();
        }
        result
    }

    /// The lock file inside the shadow repository that made git fail, if that is why it did.
    /// With `LC_ALL=C` git says: `Unable to create '<path>.lock': File exists.`
    fn lock_in_the_way(&self, e: &SnapshotError) -> Option<PathBuf> {
        let SnapshotError::GitFailed { stderr, .. } = e else { return None };
        let rest = &stderr[stderr.find("Unable to create '")? + "Unable to create '".len()..];
        let end = rest.find("': File exists")?;
        let path = PathBuf::from(&rest[..end]);
        let inside = path.starts_with(&self.git_dir) && !path.components().any(|c| c == std::path::Component::ParentDir);
        (inside && path.extension() == Some(OsStr::new("lock"))).then_some(path)
    }

    /// The latest snapshot, if any was taken.
    pub fn latest(&self) -> Result<Option<String>, SnapshotError> {
        Ok(self.head()?.map(|(commit, _)| commit))
    }

    /// Puts the workspace files back to snapshot `id`: files that differ or are missing are
    /// written, files that are not in the snapshot are deleted (with the directories that
    /// leaves empty). Ignored files, `.endure/`, `.git` and nested repositories are left alone.
    ///
    /// The current state is recorded first (see [`RestoreReport::before`]).
    pub fn restore(&self, id: &str) -> Result<RestoreReport, SnapshotError> {
        self.recovering(|| self.restore_once(id))
    }

    fn restore_once(&self, id: &str) -> Result<RestoreReport, SnapshotError> {
        let target = self.resolve(id)?;
        self.stage_workspace()?;
        let current_tree = self.write_tree()?;
        let before = match self.head()? {
            Some((commit, tree)) if tree == current_tree => commit,
            _ => self.commit(&current_tree, &format!("before restore to {target}"))?,
        };

        let diff =
            self.git(&[os("diff-tree"), os("-r"), os("-z"), os("--raw"), os("--no-renames"), os(&current_tree), os(&target)], None)?;
        let changes = parse_raw_diff(&diff).map_err(|detail| self.unexpected("diff-tree", detail))?;

        let mut to_write: Vec<Vec<u8>> = Vec::new();
        let mut to_remove: Vec<Vec<u8>> = Vec::new();
        for change in changes {
            if is_file_mode(&change.target_mode) {
                to_write.push(change.path);
            } else if is_file_mode(&change.current_mode) {
                to_remove.push(change.path);
            }
            // Otherwise a nested repository is involved on both sides: left alone.
        }

        // Deletions first: a file of the snapshot may sit where a deleted file's directory
        // was, or the other way round.
        let mut emptied_dirs = BTreeSet::new();
        for rel in &to_remove {
            let path = self.workspace.join(bytes_to_path(rel));
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                // Gone already (the agent may still be running): the outcome is the same.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&path, e)),
            }
            let mut parent = bytes_to_path(rel);
            while parent.pop() && !parent.as_os_str().is_empty() {
                emptied_dirs.insert(parent.clone());
            }
        }
        // A child sorts after its parent, so in reverse order children are tried first.
        for dir in emptied_dirs.iter().rev() {
            // Fails when the directory still holds something (an ignored file, say), which is
            // exactly when it must stay.
            let _ = std::fs::remove_dir(self.workspace.join(dir));
        }

        for rel in &to_write {
            self.check_writable(rel, &before)?;
        }

        // The index becomes the snapshot's tree; `-m` keeps the stat information of entries
        // whose content matches, so unchanged files stay clean and the next snapshot is a
        // stat pass.
        self.git(&[os("read-tree"), os("-m"), os(&target)], None)?;
        if !to_write.is_empty() {
            let mut stdin = Vec::new();
            for rel in &to_write {
                stdin.extend_from_slice(rel);
                stdin.push(0);
            }
            // `-u` records the written files' stat information in the index.
            self.git(&[os("checkout-index"), os("-f"), os("-u"), os("-z"), os("--stdin")], Some(&stdin))?;
        }

        Ok(RestoreReport { restored: count(to_write.len()), removed: count(to_remove.len()), before })
    }

    /// Copies every snapshot of `other` (another workspace's shadow repository) into this one,
    /// under `refs/endure/imported`, so that [`Snapshots::restore`] can restore any of them
    /// here: how a fork's worktree gets its parent's checkpoint. Only objects are added; this
    /// repository's own chain is unchanged.
    pub fn import_from(&self, other: &Snapshots) -> Result<(), SnapshotError> {
        let refspec = format!("+{SNAPSHOT_REF}:refs/endure/imported");
        self.recovering(|| {
            self.git(
                &[os("fetch"), os("--quiet"), os("--no-tags"), os("--no-write-fetch-head"), other.git_dir.as_os_str(), os(&refspec)],
                None,
            )
            .map(|_| ())
        })
    }

    /// The paths of the files in snapshot `id` (with `/` separators, sorted as git sorts).
    pub fn files(&self, id: &str) -> Result<Vec<String>, SnapshotError> {
        let commit = self.resolve(id)?;
        let out = self.git(&[os("ls-tree"), os("-r"), os("-z"), os("--full-tree"), os(&commit)], None)?;
        let mut files = Vec::new();
        for entry in out.split(|&b| b == 0).filter(|e| !e.is_empty()) {
            // "<mode> <type> <oid>\t<path>"
            let Some(tab) = entry.iter().position(|&b| b == b'\t') else {
                return Err(self.unexpected("ls-tree", String::from_utf8_lossy(entry).into_owned()));
            };
            let mode = entry.split(|&b| b == b' ').next().unwrap_or_default();
            if is_file_mode(mode) {
                files.push(String::from_utf8_lossy(&entry[tab + 1..]).into_owned());
            }
        }
        Ok(files)
    }

    fn init(&self) -> Result<(), SnapshotError> {
        if !self.git_dir.join("HEAD").is_file() {
            let parent = self.workspace.join(".endure");
            std::fs::create_dir_all(&parent).map_err(|e| io_err(&parent, e))?;
            // Bare, so that a human running git on it without `--work-tree` cannot check files
            // out into the wrong place; our own commands override this with `core.bare=false`.
            // No templates: they only bring sample hooks.
            let mut cmd = self.base_command();
            cmd.arg("init").arg("--bare").arg("--quiet").arg("--template=").arg(&self.git_dir);
            self.run("init", cmd, None)?;
        }
        let info = self.git_dir.join("info");
        std::fs::create_dir_all(&info).map_err(|e| io_err(&info, e))?;
        let attributes = info.join("attributes");
        if std::fs::read_to_string(&attributes).ok().as_deref() != Some(ATTRIBUTES) {
            std::fs::write(&attributes, ATTRIBUTES).map_err(|e| io_err(&attributes, e))?;
        }
        Ok(())
    }

    /// Brings the shadow index to the current state of the workspace.
    fn stage_workspace(&self) -> Result<(), SnapshotError> {
        // A `.gitignore` that ignores `.endure/` (the usual case) leaves it out already, and
        // then the exclude pathspec makes `git add` exit 1 ("paths are ignored") after adding
        // everything else, so it is given only when needed.
        let ignored = self.git(&[os("check-ignore"), os("-q"), os("--"), os(".endure")], None).is_ok();
        let exclude: &[&str] = if ignored { &[] } else { &[EXCLUDE_ENDURE] };
        let mut add = vec![os("add"), os("-A"), os("--")];
        add.extend(exclude.iter().map(|e| os(e)));
        if let Err(first) = self.git(&add, None) {
            // A nested repository without a commit checked out makes `git add -A` fail as a
            // whole; leave such repositories out and try once more. Any other failure stands.
            let nested = self.untracked_nested_repositories()?;
            if nested.is_empty() {
                return Err(first);
            }
            let mut pathspecs = Vec::new();
            for e in exclude {
                pathspecs.extend_from_slice(e.as_bytes());
                pathspecs.push(0);
            }
            for dir in nested {
                pathspecs.extend_from_slice(b":(exclude,top,literal)");
                pathspecs.extend_from_slice(&dir);
                pathspecs.push(0);
            }
            self.git(&[os("add"), os("-A"), os("--pathspec-from-file=-"), os("--pathspec-file-nul")], Some(&pathspecs))?;
        }
        // A file stays in the index once added, even after a `.gitignore` starts ignoring it;
        // drop those so that every snapshot follows the `.gitignore` files of its own time.
        let ignored = self.git(&[os("ls-files"), os("-z"), os("--cached"), os("--ignored"), os("--exclude-standard")], None)?;
        if !ignored.is_empty() {
            let mut pathspecs = Vec::new();
            for path in ignored.split(|&b| b == 0).filter(|p| !p.is_empty()) {
                pathspecs.extend_from_slice(b":(top,literal)");
                pathspecs.extend_from_slice(path);
                pathspecs.push(0);
            }
            self.git(
                &[os("rm"), os("--cached"), os("--quiet"), os("--ignore-unmatch"), os("--pathspec-from-file=-"), os("--pathspec-file-nul")],
                Some(&pathspecs),
            )?;
        }
        Ok(())
    }

    /// Untracked nested repositories: `ls-files --others` lists them as one entry ending in
    /// `/` because git does not descend into them.
    fn untracked_nested_repositories(&self) -> Result<Vec<Vec<u8>>, SnapshotError> {
        let out = self.git(&[os("ls-files"), os("-z"), os("--others"), os("--exclude-standard"), os("--"), os(EXCLUDE_ENDURE)], None)?;
        Ok(out.split(|&b| b == 0).filter_map(|p| p.strip_suffix(b"/")).filter(|p| !p.is_empty()).map(<[u8]>::to_vec).collect())
    }

    fn write_tree(&self) -> Result<String, SnapshotError> {
        let out = self.git(&[os("write-tree")], None)?;
        self.object_id("write-tree", &out)
    }

    /// Creates a snapshot commit of `tree` on top of the chain and moves the ref to it.
    fn commit(&self, tree: &str, label: &str) -> Result<String, SnapshotError> {
        let parent = self.head()?.map(|(commit, _)| commit);
        let mut args = vec![os("commit-tree"), os(tree)];
        if let Some(parent) = &parent {
            args.push(os("-p"));
            args.push(os(parent));
        }
        args.push(os("-F"));
        args.push(os("-"));
        let mut message = label.as_bytes().to_vec();
        message.push(b'\n');
        let out = self.git(&args, Some(&message))?;
        let commit = self.object_id("commit-tree", &out)?;
        // With the old value, a snapshot taken concurrently by another process makes this
        // fail instead of silently cutting that snapshot out of the chain. An empty old value
        // means "must not exist yet".
        let old = parent.unwrap_or_default();
        self.git(&[os("update-ref"), os(SNAPSHOT_REF), os(&commit), os(&old)], None)?;
        Ok(commit)
    }

    /// The latest snapshot and its tree.
    fn head(&self) -> Result<Option<(String, String)>, SnapshotError> {
        // Unlike `rev-parse`, `for-each-ref` succeeds with no output when the ref is missing,
        // so "no snapshot yet" is not confused with a failure.
        let out = self.git(&[os("for-each-ref"), os("--format=%(objectname) %(tree)"), os(SNAPSHOT_REF)], None)?;
        let text = String::from_utf8_lossy(&out);
        let line = text.trim();
        if line.is_empty() {
            return Ok(None);
        }
        match line.split_once(' ') {
            Some((commit, tree)) if is_object_id(commit) && is_object_id(tree) => Ok(Some((commit.to_string(), tree.to_string()))),
            _ => Err(self.unexpected("for-each-ref", line.to_string())),
        }
    }

    /// The full commit id of snapshot `id` (any revision git understands).
    fn resolve(&self, id: &str) -> Result<String, SnapshotError> {
        let spec = format!("{id}^{{commit}}");
        // `--end-of-options`: an id starting with `-` is a revision, never an option.
        let out =
            self.git(&[os("rev-parse"), os("--quiet"), os("--verify"), os("--end-of-options"), os(&spec)], None).map_err(|e| match e {
                SnapshotError::GitFailed { .. } => SnapshotError::UnknownSnapshot(id.to_string()),
                other => other,
            })?;
        self.object_id("rev-parse", &out)
    }

    /// Refuses to write `rel` where `checkout-index -f` would delete something restore must
    /// leave alone: a directory at the path (it would be removed with everything in it) or a
    /// non-directory where a parent directory must go (an ignored file, or a symlink that
    /// would lead the write outside the workspace).
    fn check_writable(&self, rel: &[u8], before: &str) -> Result<(), SnapshotError> {
        let rel_path = bytes_to_path(rel);
        let conflict = |path: &Path, reason: &str| SnapshotError::Conflict {
            path: path.display().to_string(),
            reason: reason.to_string(),
            before: before.to_string(),
        };
        let mut prefix = PathBuf::new();
        let components: Vec<_> = rel_path.components().collect();
        for (i, component) in components.iter().enumerate() {
            prefix.push(component);
            let last = i + 1 == components.len();
            match std::fs::symlink_metadata(self.workspace.join(&prefix)) {
                Ok(meta) if last && meta.is_dir() => {
                    return Err(conflict(&prefix, "a directory is in the way (ignored files or a nested repository)"));
                }
                Ok(meta) if !last && !meta.is_dir() => {
                    return Err(conflict(&prefix, "a file or symlink is in the way of a directory"));
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io_err(&self.workspace.join(&prefix), e)),
            }
        }
        Ok(())
    }

    fn object_id(&self, command: &str, out: &[u8]) -> Result<String, SnapshotError> {
        let text = String::from_utf8_lossy(out);
        let id = text.trim();
        if is_object_id(id) { Ok(id.to_string()) } else { Err(self.unexpected(command, format!("expected an object id, got {id:?}"))) }
    }

    fn unexpected(&self, command: &str, detail: String) -> SnapshotError {
        SnapshotError::GitFailed { command: command.to_string(), status: "unexpected output".to_string(), stderr: detail }
    }

    /// A git command isolated from the caller's environment and the user's configuration.
    fn base_command(&self) -> Command {
        let mut cmd = Command::new(&self.git);
        cmd.current_dir(&self.workspace);
        // Inherited GIT_* variables (from a hook, or a shell inside `git rebase -x`) would point
        // git at another repository, index or object store.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("GIT_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_NO_REPLACE_OBJECTS", "1")
            .env("GIT_AUTHOR_NAME", "endure")
            .env("GIT_AUTHOR_EMAIL", "endure@localhost")
            .env("GIT_COMMITTER_NAME", "endure")
            .env("GIT_COMMITTER_EMAIL", "endure@localhost")
            // Error messages are reported to the supervisor; keep them untranslated.
            .env("LC_ALL", "C");
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }

    /// Runs git on the shadow repository and returns its stdout.
    fn git(&self, args: &[&OsStr], stdin: Option<&[u8]>) -> Result<Vec<u8>, SnapshotError> {
        let mut cmd = self.base_command();
        cmd.env("GIT_DIR", &self.git_dir).env("GIT_WORK_TREE", &self.workspace).env("GIT_INDEX_FILE", &self.index_file);
        // The repository's own config is ours, but these are forced per command so that no
        // setting (ours by mistake, or a default that varies by platform) can change what a
        // snapshot records. The excludes and attributes files default to per-user files under
        // ~/.config/git even without any config, hence /dev/null.
        for setting in [
            "core.bare=false",
            "core.autocrlf=false",
            "core.safecrlf=false",
            "core.fileMode=true",
            "core.symlinks=true",
            "core.ignoreCase=false",
            "core.hooksPath=/dev/null",
            "core.fsmonitor=false",
            "core.excludesFile=/dev/null",
            "core.attributesFile=/dev/null",
            "core.sparseCheckout=false",
            "core.splitIndex=false",
            "advice.addEmbeddedRepo=false",
            "advice.addIgnoredFile=false",
        ] {
            cmd.arg("-c").arg(setting);
        }
        cmd.args(args);
        let name = args.first().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
        self.run(&name, cmd, stdin)
    }

    fn run(&self, command: &str, mut cmd: Command, stdin: Option<&[u8]>) -> Result<Vec<u8>, SnapshotError> {
        if stdin.is_some() {
            cmd.stdin(Stdio::piped());
        }
        let mut child = cmd.spawn().map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                SnapshotError::GitMissing { program: self.git.display().to_string(), source }
            } else {
                io_err(&self.git, source)
            }
        })?;
        let output = std::thread::scope(|scope| {
            // Written from another thread: git may fill its stdout pipe before it has read all
            // of stdin, and each side would wait for the other.
            let writer = stdin.zip(child.stdin.take()).map(|(bytes, mut pipe)| {
                scope.spawn(move || {
                    // A git that exits early closes the pipe; its exit status tells why.
                    let _ = pipe.write_all(bytes);
                })
            });
            let output = child.wait_with_output();
            if let Some(writer) = writer {
                let _ = writer.join();
            }
            output
        })
        .map_err(|e| io_err(&self.git, e))?;
        if output.status.success() {
            Ok(output.stdout)
        } else {
            Err(SnapshotError::GitFailed {
                command: command.to_string(),
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            })
        }
    }
}

/// Whether any process has a file open.
enum Holders {
    Some,
    None,
    /// `/proc` could not be read.
    Unknown,
}

/// Looks through every process's open files for `path`. Processes whose descriptors cannot
/// be read (another user's) are skipped: a git of another user does not write our shadow
/// repository.
fn lock_holders(path: &Path) -> Holders {
    let Ok(procs) = std::fs::read_dir("/proc") else { return Holders::Unknown };
    let mut readable = false;
    for p in procs.flatten() {
        if !p.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else { continue };
        readable = true;
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|target| target == path) {
                return Holders::Some;
            }
        }
    }
    if readable { Holders::None } else { Holders::Unknown }
}

fn older_than(path: &Path, age: Duration) -> bool {
    std::fs::metadata(path).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).is_some_and(|e| e >= age)
}

/// Parses `diff-tree -r -z --raw` output: `:<mode> <mode> <oid> <oid> <status>\0<path>\0`.
fn parse_raw_diff(out: &[u8]) -> Result<Vec<TreeChange>, String> {
    let mut fields = out.split(|&b| b == 0);
    let mut changes = Vec::new();
    while let Some(header) = fields.next() {
        if header.is_empty() {
            continue;
        }
        let header = header.strip_prefix(b":").ok_or_else(|| format!("bad header {:?}", String::from_utf8_lossy(header)))?;
        let mut parts = header.split(|&b| b == b' ');
        let (Some(current_mode), Some(target_mode)) = (parts.next(), parts.next()) else {
            return Err(format!("bad header {:?}", String::from_utf8_lossy(header)));
        };
        let path = fields.next().ok_or("missing path")?;
        changes.push(TreeChange { current_mode: current_mode.to_vec(), target_mode: target_mode.to_vec(), path: path.to_vec() });
    }
    Ok(changes)
}

/// A regular file or a symlink: present, and not a nested repository.
fn is_file_mode(mode: &[u8]) -> bool {
    !mode.is_empty() && mode.iter().any(|&b| b != b'0') && mode != GITLINK_MODE.as_bytes()
}

fn is_object_id(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn io_err(path: &Path, source: std::io::Error) -> SnapshotError {
    SnapshotError::Io { path: path.display().to_string(), source }
}

/// A path from git's `-z` output (raw bytes, `/`-separated) as a relative path.
#[cfg(unix)]
fn bytes_to_path(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
fn bytes_to_path(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
