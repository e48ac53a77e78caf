//! The bundled demo: a small Python project with two failing tests, and the scripted session
//! that fixes it. Embedded so that `endure demo` works from an installed binary.

use std::path::{Path, PathBuf};

/// The demo scenario (TOML).
pub const SCENARIO: &str = include_str!("../assets/demo/scenario.toml");

/// The demo workspace's files, relative paths and contents.
pub const WORKSPACE: &[(&str, &str)] = &[
    ("README.md", include_str!("../assets/demo/workspace/README.md")),
    ("AGENTS.md", include_str!("../assets/demo/workspace/AGENTS.md")),
    ("textstats/__init__.py", include_str!("../assets/demo/workspace/textstats/__init__.py")),
    ("textstats/stats.py", include_str!("../assets/demo/workspace/textstats/stats.py")),
    ("tests/__init__.py", include_str!("../assets/demo/workspace/tests/__init__.py")),
    ("tests/test_stats.py", include_str!("../assets/demo/workspace/tests/test_stats.py")),
];

/// A fresh copy of the demo under `root`: `root/textstats` (the workspace) and
/// `root/scenario.toml`. Returns (workspace, scenario path).
pub fn materialize(root: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
    let ws = root.join("textstats");
    for (rel, content) in WORKSPACE {
        let path = ws.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, content)?;
    }
    // Python would otherwise litter the workspace with bytecode that shows up as changes.
    std::fs::write(ws.join(".gitignore"), "__pycache__/\n*.pyc\n")?;
    let scenario = root.join("scenario.toml");
    std::fs::write(&scenario, SCENARIO)?;
    Ok((ws, scenario))
}

/// The task the demo scenario was written for.
pub fn task() -> String {
    crate::model::scripted::Scenario::parse(SCENARIO, false).map(|s| s.task).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_files_match_assets_on_disk() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/workspace");
        let mut on_disk: Vec<String> = ignore::WalkBuilder::new(&base)
            .hidden(false)
            .build()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
            .filter_map(|e| e.path().strip_prefix(&base).ok().map(|p| p.display().to_string()))
            .filter(|p| !p.contains("__pycache__"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = WORKSPACE.iter().map(|(p, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "a demo file was added or removed without updating demo::WORKSPACE");
        let scenario = crate::model::scripted::Scenario::parse(SCENARIO, false).expect("scenario parses");
        assert!(scenario.agent.len() >= 6 && !task().is_empty());
    }
}
