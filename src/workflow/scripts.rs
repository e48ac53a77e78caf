//! Saved workflows: `.endure/workflows/NAME.js`, and `.claude/workflows/NAME.js` for scripts
//! written for Claude Code.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// Where saved workflows are looked for, in order.
pub fn dirs(workspace: &Path) -> [PathBuf; 2] {
    [workspace.join(".endure/workflows"), workspace.join(".claude/workflows")]
}

/// The saved workflow `name` (with or without `.js`): its path and script.
pub fn find(workspace: &Path, name: &str) -> Result<(PathBuf, String), String> {
    let stem = name.strip_suffix(".js").unwrap_or(name);
    if stem.is_empty() || !stem.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) || stem.starts_with('.') {
        return Err(format!("workflow: `{name}` is not a workflow name (letters, digits, -, _ and .; no paths)"));
    }
    for dir in dirs(workspace) {
        let path = dir.join(format!("{stem}.js"));
        match std::fs::read_to_string(&path) {
            Ok(script) => return Ok((path, script)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("workflow: cannot read {}: {e}", path.display())),
        }
    }
    let known: Vec<String> = list(workspace).into_iter().map(|w| w.name).collect();
    Err(format!(
        "workflow: no saved workflow `{stem}` in .endure/workflows/ or .claude/workflows/{}",
        if known.is_empty() { String::new() } else { format!(" (saved: {})", known.join(", ")) }
    ))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SavedWorkflow {
    pub name: String,
    pub path: PathBuf,
    /// The script's first comment line, if it starts with one.
    pub description: String,
}

/// The saved workflows, by name; one in `.endure/workflows/` hides the same name in
/// `.claude/workflows/`.
pub fn list(workspace: &Path) -> Vec<SavedWorkflow> {
    let mut out: Vec<SavedWorkflow> = Vec::new();
    for dir in dirs(workspace) {
        let Ok(rd) = std::fs::read_dir(&dir) else { continue };
        let mut found: Vec<PathBuf> =
            rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "js")).collect();
        found.sort();
        for path in found {
            let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_string) else { continue };
            if out.iter().any(|w| w.name == name) {
                continue;
            }
            let description = std::fs::read_to_string(&path).ok().map(|s| describe(&s)).unwrap_or_default();
            out.push(SavedWorkflow { name, path, description });
        }
    }
    out
}

fn describe(script: &str) -> String {
    let first = script.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    first.strip_prefix("//").map(|d| d.trim().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_endure_then_claude_and_lists_both() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path();
        std::fs::create_dir_all(ws.join(".endure/workflows")).unwrap();
        std::fs::create_dir_all(ws.join(".claude/workflows")).unwrap();
        std::fs::write(ws.join(".endure/workflows/review.js"), "// Parallel review\nreturn 1;").unwrap();
        std::fs::write(ws.join(".claude/workflows/review.js"), "return 2;").unwrap();
        std::fs::write(ws.join(".claude/workflows/port.js"), "return 3;").unwrap();
        assert_eq!(find(ws, "review").unwrap().1, "// Parallel review\nreturn 1;");
        assert_eq!(find(ws, "port.js").unwrap().1, "return 3;");
        assert!(find(ws, "../x").unwrap_err().contains("not a workflow name"));
        let e = find(ws, "nope").unwrap_err();
        assert!(e.contains("saved: review, port"), "{e}");
        let l = list(ws);
        assert_eq!(
            l.iter().map(|w| (w.name.as_str(), w.description.as_str())).collect::<Vec<_>>(),
            vec![("review", "Parallel review"), ("port", "")]
        );
    }
}
