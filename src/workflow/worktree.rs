//! `isolation: "worktree"`: a subagent works in its own git worktree under
//! `.endure/worktrees/`, on a branch that starts from the workspace as it is (uncommitted
//! changes included), and `merge(result)` brings its changes back.
//!
//! The user's index, HEAD and branches other than the agent's own are never touched: the base
//! and the result are committed through a temporary index, and the merge is a three-way merge
//! of each file's content (`git merge-file`) written to the workspace, all files or none.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::journal::WorktreeInfo;

/// Where agent `agent` of session `session` works, and its branch.
pub fn plan(session: &str, agent: u64) -> WorktreeInfo {
    WorktreeInfo {
        path: format!(".endure/worktrees/{session}-a{agent}"),
        branch: format!("endure/{session}/agent-{agent}"),
        base: String::new(),
    }
}

pub(crate) fn git(dir: &Path, args: &[&OsStr], index: Option<&Path>) -> Result<Vec<u8>, String> {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir);
    // Inherited GIT_* variables would point git at another repository or index.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GIT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "endure")
        .env("GIT_AUTHOR_EMAIL", "endure@localhost")
        .env("GIT_COMMITTER_NAME", "endure")
        .env("GIT_COMMITTER_EMAIL", "endure@localhost")
        .env("LC_ALL", "C");
    if let Some(index) = index {
        cmd.env("GIT_INDEX_FILE", index);
    }
    // The repository's hooks are not run on its owner's behalf by a subagent's bookkeeping.
    cmd.args(["-c", "core.hooksPath=/dev/null", "-c", "commit.gpgSign=false"]);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let name = args.iter().map(|a| a.to_string_lossy()).take(2).collect::<Vec<_>>().join(" ");
    let out = cmd.output().map_err(|e| format!("cannot run git ({e}); worktree isolation needs git"))?;
    if out.status.success() { Ok(out.stdout) } else { Err(format!("git {name} failed: {}", String::from_utf8_lossy(&out.stderr).trim())) }
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).trim().to_string()
}

/// Commits the state of `dir`'s files (tracked and untracked, not ignored, `.endure/` left
/// out) on top of its HEAD, through a temporary index; returns the commit.
fn commit_state(dir: &Path, message: &str) -> Result<String, String> {
    let tmp = tempfile::Builder::new().prefix("endure-index-").tempdir().map_err(|e| format!("temporary index: {e}"))?;
    let index = tmp.path().join("index");
    let head = git(dir, &[os("rev-parse"), os("--verify"), os("HEAD")], None)
        .map(text)
        .map_err(|_| "worktree isolation needs a git repository with at least one commit".to_string())?;
    git(dir, &[os("read-tree"), os(&head)], Some(&index))?;
    git(dir, &[os("add"), os("-A")], Some(&index))?;
    // endure's own files are never part of the work (an exclude pathspec would fail when
    // .gitignore lists .endure/ already).
    git(dir, &[os("rm"), os("-r"), os("-q"), os("--cached"), os("--ignore-unmatch"), os("--"), os(".endure")], Some(&index))?;
    let tree = text(git(dir, &[os("write-tree")], Some(&index))?);
    Ok(text(git(dir, &[os("commit-tree"), os(&tree), os("-p"), os(&head), os("-m"), os(message)], None)?))
}

/// Held while the repository's worktree list changes: git reads every worktree's metadata
/// when it adds or removes one, and fails on another's half-written entry ("failed to read
/// .git/worktrees/…/commondir") when two subagents start or finish at once.
static WORKTREE_LIST: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) fn worktree_list_lock() -> std::sync::MutexGuard<'static, ()> {
    // The lock guards no data: a panic while holding it leaves nothing inconsistent.
    WORKTREE_LIST.lock().unwrap_or_else(|p| p.into_inner())
}

/// Creates the worktree (or finds it again, for a resumed agent); fills in `info.base`.
pub fn prepare(workspace: &Path, info: &mut WorktreeInfo) -> Result<PathBuf, String> {
    let _list = worktree_list_lock();
    let path = workspace.join(&info.path);
    if path.join(".git").exists() && !info.base.is_empty() {
        return Ok(path);
    }
    let top = text(
        git(workspace, &[os("rev-parse"), os("--show-toplevel")], None)
            .map_err(|_| "worktree isolation needs the workspace to be a git repository (run `git init` and commit)".to_string())?,
    );
    let same = std::fs::canonicalize(&top).ok() == std::fs::canonicalize(workspace).ok();
    if !same {
        return Err(format!("worktree isolation needs the workspace to be the top of its git repository ({top})"));
    }
    let base = commit_state(workspace, "endure: the workspace when the agent started")?;
    if path.exists() {
        // Left by a process killed before it recorded the worktree: start it over.
        let _ = git(workspace, &[os("worktree"), os("remove"), os("--force"), path.as_os_str()], None);
        let _ = std::fs::remove_dir_all(&path);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    git(workspace, &[os("worktree"), os("add"), os("--quiet"), os("-B"), os(&info.branch), path.as_os_str(), os(&base)], None)?;
    info.base = base;
    Ok(path)
}

/// Commits what the agent left in its worktree to its branch, removes the worktree, and
/// returns the diff from the base.
pub fn finish(workspace: &Path, info: &WorktreeInfo, agent: u64) -> Result<String, String> {
    let _list = worktree_list_lock();
    let path = workspace.join(&info.path);
    let commit = if path.join(".git").exists() {
        let commit = commit_state(&path, &format!("endure: the work of agent {agent}"))?;
        git(workspace, &[os("update-ref"), os(&format!("refs/heads/{}", info.branch)), os(&commit)], None)?;
        let _ = git(workspace, &[os("worktree"), os("remove"), os("--force"), path.as_os_str()], None);
        commit
    } else {
        // Finished before: the branch holds the result.
        text(git(workspace, &[os("rev-parse"), os("--verify"), os(&info.branch)], None)?)
    };
    let diff = git(workspace, &[os("diff"), os("--binary"), os("--no-renames"), os(&info.base), os(&commit)], None)?;
    Ok(String::from_utf8_lossy(&diff).into_owned())
}

/// What `merge(result)` did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MergeReport {
    pub applied: Vec<String>,
    pub conflicts: Vec<String>,
}

/// A file at one commit: its mode and content, or None when absent.
fn blob(workspace: &Path, commit: &str, path: &str) -> Result<Option<(String, Vec<u8>)>, String> {
    let out = git(workspace, &[os("ls-tree"), os("-z"), os(commit), os("--"), os(path)], None)?;
    let line = String::from_utf8_lossy(&out);
    let Some((meta, _)) = line.split_once('\t') else { return Ok(None) };
    let mut parts = meta.split(' ');
    let (Some(mode), Some(_), Some(oid)) = (parts.next(), parts.next(), parts.next()) else { return Ok(None) };
    Ok(Some((mode.to_string(), git(workspace, &[os("cat-file"), os("blob"), os(oid)], None)?)))
}

enum Plan {
    Write { content: Vec<u8>, executable: bool },
    Delete,
    Nothing,
}

/// Applies the changes of a worktree result (`{branch, base}`) to the workspace. A file
/// changed on both sides is merged line by line; one that cannot be merged cleanly is a
/// conflict, and with any conflict nothing is written. Blocking: run it off the async runtime.
pub fn merge(workspace: &Path, result: &Value, locks: &crate::tools::locks::FileLocks) -> Result<MergeReport, String> {
    let field = |k: &str| result.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let (Some(branch), Some(base)) = (field("branch"), field("base")) else {
        return Err(
            "merge(result): the result has no branch and base; give the result of an agent() run with isolation: \"worktree\"".into()
        );
    };
    let names = git(workspace, &[os("diff"), os("--name-only"), os("-z"), os("--no-renames"), os(base), os(branch)], None)?;
    let names: Vec<String> = names.split(|b| *b == 0).filter(|n| !n.is_empty()).map(|n| String::from_utf8_lossy(n).into_owned()).collect();
    let ws = crate::workspace::Workspace::open(workspace).map_err(|e| e.to_string())?;
    let mut plans: BTreeMap<String, (PathBuf, Plan)> = BTreeMap::new();
    let mut report = MergeReport::default();
    for name in names {
        let Ok(abs) = ws.resolve(&name, crate::workspace::Access::Write) else {
            report.conflicts.push(format!("{name} (a path the workspace does not let agents write)"));
            continue;
        };
        let before = blob(workspace, base, &name)?;
        let theirs = blob(workspace, branch, &name)?;
        let special = |b: &Option<(String, Vec<u8>)>| b.as_ref().is_some_and(|(m, _)| m == "120000" || m == "160000");
        if special(&before) || special(&theirs) {
            report.conflicts.push(format!("{name} (a symlink or submodule; merge it by hand)"));
            continue;
        }
        let ours = match std::fs::read(&abs) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {name}: {e}")),
        };
        let theirs_content = theirs.as_ref().map(|(_, c)| c.clone());
        let executable = theirs.as_ref().is_some_and(|(m, _)| m == "100755");
        let to = |content: Option<Vec<u8>>| match content {
            Some(content) => Plan::Write { content, executable },
            None => Plan::Delete,
        };
        let plan = if ours == theirs_content {
            Plan::Nothing
        } else if ours == before.as_ref().map(|(_, c)| c.clone()) {
            to(theirs_content)
        } else {
            match (ours, before, theirs_content) {
                (Some(ours), Some((_, before)), Some(theirs)) => match merge_file(&ours, &before, &theirs)? {
                    Some(merged) => to(Some(merged)),
                    None => {
                        report.conflicts.push(name);
                        continue;
                    }
                },
                _ => {
                    report.conflicts.push(format!("{name} (created, deleted or changed on both sides)"));
                    continue;
                }
            }
        };
        plans.insert(name, (abs, plan));
    }
    if !report.conflicts.is_empty() {
        return Ok(report);
    }
    for (name, (abs, plan)) in plans {
        let _guard = locks.lock_blocking(&abs);
        match plan {
            Plan::Nothing => {}
            Plan::Delete => match std::fs::remove_file(&abs) {
                Ok(()) => report.applied.push(name),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot delete {name}: {e}")),
            },
            Plan::Write { content, executable } => {
                if let Some(dir) = abs.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                }
                crate::memory::atomic::write_atomic(&abs, &content).map_err(|e| format!("cannot write {name}: {e}"))?;
                if executable {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(&abs, std::fs::Permissions::from_mode(0o755));
                }
                report.applied.push(name);
            }
        }
    }
    Ok(report)
}

/// Three-way merge of one file's content; None when the two sides conflict.
fn merge_file(ours: &[u8], base: &[u8], theirs: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let tmp = tempfile::Builder::new().prefix("endure-merge-").tempdir().map_err(|e| format!("temporary files: {e}"))?;
    let mut paths = Vec::new();
    for (name, content) in [("ours", ours), ("base", base), ("theirs", theirs)] {
        let p = tmp.path().join(name);
        std::fs::write(&p, content).map_err(|e| format!("temporary files: {e}"))?;
        paths.push(p);
    }
    let out = Command::new("git")
        .args(["merge-file", "-p"])
        .args(&paths)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run git merge-file: {e}"))?;
    // 0: clean; 1..127: that many conflicts; anything else (binary files): cannot merge.
    Ok(if out.status.code() == Some(0) { Some(out.stdout) } else { None })
}
