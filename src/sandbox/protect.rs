//! Which paths inside a writable workspace stay read-only to commands, and which credential
//! stores outside it are hidden from them.

use std::path::{Path, PathBuf};

/// Paths looked up fresh before every command, since a command may create a repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Protected {
    /// Git directories outside the workspace (a worktree's or a `gitdir:` pointer's) that
    /// must be writable for `git commit` to work.
    pub writable: Vec<PathBuf>,
    /// Bound read-only over the writable workspace, in this order.
    pub read_only: Vec<PathBuf>,
}

/// Nested submodule git directories are followed this deep.
const MODULES_DEPTH: usize = 4;

/// The protected paths of `workspace` as they are now. A git directory without `hooks/` gets
/// an empty one first, so that no command can create it and plant a hook.
pub fn protected(workspace: &Path) -> Protected {
    let mut p = Protected::default();
    for name in ["MEMORY.md", ".endure"] {
        let path = workspace.join(name);
        if path.symlink_metadata().is_ok() {
            p.read_only.push(path);
        }
    }
    let Some(git) = git_dirs(workspace) else { return p };
    let ws = std::fs::canonicalize(workspace).unwrap_or_else(|_| workspace.to_path_buf());
    for dir in [Some(&git.gitdir), git.common.as_ref()].into_iter().flatten() {
        if !dir.starts_with(&ws) && !p.writable.contains(dir) {
            p.writable.push(dir.clone());
        }
    }
    // Hooks and config live in the common directory; a linked worktree's own directory may
    // have a config.worktree.
    let common = git.common.clone().unwrap_or_else(|| git.gitdir.clone());
    let hooks = common.join("hooks");
    if !hooks.exists() {
        let _ = std::fs::create_dir(&hooks);
    }
    protect_git_dir(&common, &mut p.read_only, 0);
    if git.common.is_some() {
        push_existing(&mut p.read_only, git.gitdir.join("config.worktree"));
    }
    p
}

struct GitDirs {
    gitdir: PathBuf,
    /// A linked worktree's shared directory (`commondir`).
    common: Option<PathBuf>,
}

/// The repository's git directory: `.git` itself, or where a `.git` file's `gitdir:` points.
fn git_dirs(workspace: &Path) -> Option<GitDirs> {
    let dotgit = workspace.join(".git");
    let meta = dotgit.symlink_metadata().ok()?;
    let gitdir = if meta.is_file() {
        let text = std::fs::read_to_string(&dotgit).ok()?;
        let target = text.lines().find_map(|l| l.strip_prefix("gitdir:"))?.trim();
        std::fs::canonicalize(workspace.join(target)).ok()?
    } else {
        std::fs::canonicalize(&dotgit).ok()?
    };
    if !gitdir.is_dir() {
        return None;
    }
    let common = std::fs::read_to_string(gitdir.join("commondir"))
        .ok()
        .and_then(|c| std::fs::canonicalize(gitdir.join(c.trim())).ok())
        .filter(|c| c.is_dir() && *c != gitdir);
    Some(GitDirs { gitdir, common })
}

fn protect_git_dir(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    for name in ["config", "config.worktree", "hooks"] {
        push_existing(out, dir.join(name));
    }
    // Submodules keep their own config and hooks under modules/<name>/.
    if depth >= MODULES_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir.join("modules")) else { return };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            protect_git_dir(&e.path(), out, depth + 1);
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir.join("worktrees")) {
        for e in entries.flatten() {
            push_existing(out, e.path().join("config.worktree"));
        }
    }
}

fn push_existing(out: &mut Vec<PathBuf>, path: PathBuf) {
    if path.symlink_metadata().is_ok() && !out.contains(&path) {
        out.push(path);
    }
}

/// A credential store hidden from commands: an empty read-only directory or an empty file
/// takes its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hidden {
    pub path: PathBuf,
    pub dir: bool,
}

/// Credential stores under the home directory, relative to it.
const CREDENTIAL_STORES: [&str; 15] = [
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".kube",
    ".docker",
    ".netrc",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    ".config/gh",
    ".config/gcloud",
    ".config/endure",
    ".cargo/credentials",
    ".cargo/credentials.toml",
];

/// The credential stores that exist under `home`, except any that holds `keep` (the
/// workspace or the temporary directory) or lies inside it.
pub fn hidden(home: Option<&Path>, keep: &[&Path]) -> Vec<Hidden> {
    let Some(home) = home else { return Vec::new() };
    CREDENTIAL_STORES
        .iter()
        .map(|rel| home.join(rel))
        .filter(|p| !keep.iter().any(|k| k.starts_with(p) || p.starts_with(k)))
        .filter_map(|path| {
            let meta = std::fs::metadata(&path).ok()?;
            Some(Hidden { dir: meta.is_dir(), path })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_endure_and_git_config_and_hooks_are_protected() {
        let dir = tempfile::tempdir().unwrap();
        let ws = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::write(ws.join("MEMORY.md"), "m").unwrap();
        std::fs::create_dir_all(ws.join(".endure")).unwrap();
        std::fs::create_dir_all(ws.join(".git/modules/sub/hooks")).unwrap();
        std::fs::write(ws.join(".git/config"), "").unwrap();
        std::fs::write(ws.join(".git/modules/sub/config"), "").unwrap();
        let p = protected(&ws);
        assert!(p.writable.is_empty(), "{p:?}");
        for rel in ["MEMORY.md", ".endure", ".git/config", ".git/hooks", ".git/modules/sub/config", ".git/modules/sub/hooks"] {
            assert!(p.read_only.contains(&ws.join(rel)), "{rel} in {p:?}");
        }
        assert!(ws.join(".git/hooks").is_dir(), "a missing hooks directory is created empty");
    }

    #[test]
    fn a_gitdir_pointer_is_followed_and_its_directory_made_writable() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let main = root.join("main/.git");
        let wt = main.join("worktrees/w");
        std::fs::create_dir_all(main.join("hooks")).unwrap();
        std::fs::create_dir_all(&wt).unwrap();
        std::fs::write(main.join("config"), "").unwrap();
        std::fs::write(wt.join("commondir"), "../..\n").unwrap();
        let ws = root.join("w");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::write(ws.join(".git"), format!("gitdir: {}\n", wt.display())).unwrap();
        let p = protected(&ws);
        assert_eq!(p.writable, vec![wt.clone(), main.clone()]);
        assert!(p.read_only.contains(&main.join("config")) && p.read_only.contains(&main.join("hooks")), "{p:?}");
        assert!(!wt.join("hooks").exists(), "a worktree's own directory gets no hooks");
    }

    #[test]
    fn no_repository_protects_only_what_exists() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(protected(dir.path()), Protected::default());
    }

    #[test]
    fn credential_stores_are_hidden_unless_they_hold_the_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::create_dir_all(home.join(".aws/proj")).unwrap();
        std::fs::write(home.join(".netrc"), "machine x").unwrap();
        let ws = home.join(".aws/proj");
        let h = hidden(Some(home), &[&ws]);
        assert_eq!(h, vec![Hidden { path: home.join(".ssh"), dir: true }, Hidden { path: home.join(".netrc"), dir: false }]);
    }
}
