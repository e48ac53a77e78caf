//! Confinement of model-given paths to the workspace.

use std::path::{Component, Path, PathBuf};

use super::{Access, WorkspaceError};

fn refuse(msg: String) -> WorkspaceError {
    WorkspaceError::Path(msg)
}

/// Resolves `path` against the workspace `root` (canonical) and returns the absolute path with
/// symlinks in its existing part resolved, and the `/`-separated path relative to the root.
pub(super) fn resolve(root: &Path, given_root: &Path, path: &str, access: Access) -> Result<(PathBuf, String), WorkspaceError> {
    // Models often pad paths with whitespace; a file name that really ends in a space is rarer
    // than that mistake.
    let shown = path.trim();
    let comps = lexical_components(root, given_root, shown)?;
    if access == Access::Write {
        check_writable(shown, &comps)?;
    }

    let (canon, rest) = deepest_existing(root, shown, &comps)?;
    let Ok(inside) = canon.strip_prefix(root) else {
        return Err(refuse(format!("path {shown} is outside the workspace (it leads through a symlink to {})", canon.display())));
    };
    let mut real: Vec<String> = Vec::with_capacity(comps.len());
    for c in inside.components() {
        match c.as_os_str().to_str() {
            Some(s) => real.push(s.to_string()),
            None => return Err(refuse(format!("path {shown} leads to a name that is not valid UTF-8"))),
        }
    }
    real.extend(rest.iter().map(|s| s.to_string()));
    // A symlink inside the workspace may point at MEMORY.md or into .endure/; what counts is
    // where the write lands.
    if access == Access::Write {
        check_writable(shown, &real)?;
    }
    let mut abs = canon;
    for r in rest {
        abs.push(r);
    }
    Ok((abs, real.join("/")))
}

/// Normalises `path` lexically (no filesystem access) into components relative to the root.
fn lexical_components<'a>(root: &Path, given_root: &Path, path: &'a str) -> Result<Vec<&'a str>, WorkspaceError> {
    let p = Path::new(path);
    if p.is_absolute() {
        let mut stack: Vec<&str> = Vec::new();
        for c in p.components() {
            match c {
                Component::Normal(s) => stack.push(s.to_str().unwrap_or_default()),
                // `..` at / stays at /, like the kernel does.
                Component::ParentDir => {
                    stack.pop();
                }
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            }
        }
        let normalized: PathBuf = std::iter::once("/").chain(stack.iter().copied()).collect();
        for base in [root, given_root] {
            if let Ok(rel) = normalized.strip_prefix(base) {
                let n = rel.components().count();
                return Ok(stack[stack.len() - n..].to_vec());
            }
        }
        return Err(refuse(format!("path {path} is outside the workspace")));
    }
    let mut stack: Vec<&str> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => stack.push(s.to_str().unwrap_or_default()),
            Component::ParentDir => {
                if stack.pop().is_none() {
                    return Err(refuse(format!("path {path} is outside the workspace (`..` leads above the workspace root)")));
                }
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Ok(stack)
}

fn check_writable(shown: &str, comps: &[impl AsRef<str>]) -> Result<(), WorkspaceError> {
    let Some(first) = comps.first() else {
        return Err(refuse(format!("path {shown:?} is the workspace root, not a file")));
    };
    let first = first.as_ref();
    // Compared case-insensitively because on case-insensitive filesystems `memory.md` is the
    // same file.
    if comps.len() == 1 && first.eq_ignore_ascii_case("MEMORY.md") {
        return Err(refuse("MEMORY.md is project memory and has a single writer; the agent cannot write it".into()));
    }
    if first.eq_ignore_ascii_case(".endure") {
        return Err(refuse(format!("path {shown} is inside .endure/, which holds endure's own state; the agent cannot write it")));
    }
    if comps.iter().any(|c| c.as_ref().eq_ignore_ascii_case(".git")) {
        return Err(refuse(format!("path {shown} is inside .git/; the agent cannot write git's internals (use git commands through run)")));
    }
    Ok(())
}

/// Canonicalises the deepest existing ancestor of `root/comps` and returns it with the
/// components that do not exist yet.
fn deepest_existing<'a>(root: &Path, shown: &str, comps: &'a [&'a str]) -> Result<(PathBuf, &'a [&'a str]), WorkspaceError> {
    for i in (0..=comps.len()).rev() {
        let mut prefix = root.to_path_buf();
        prefix.extend(&comps[..i]);
        match std::fs::canonicalize(&prefix) {
            Ok(c) => return Ok((c, &comps[i..])),
            Err(e) => match std::fs::symlink_metadata(&prefix) {
                Err(_) => continue,
                // A dangling symlink would be followed by a write and create its target
                // wherever it points, so it cannot be treated as a name that does not exist.
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(refuse(format!(
                        "path {shown} goes through the symlink {} whose target does not exist; refusing to follow it",
                        comps[..i].join("/")
                    )));
                }
                Ok(_) => return Err(WorkspaceError::Io { path: shown.to_string(), source: e }),
            },
        }
    }
    // Unreachable in practice: the root itself was canonicalised when the workspace opened.
    Err(refuse(format!("the workspace root {} no longer exists", root.display())))
}
