//! The real-output feedback fixtures (tests/fixtures/feedback/<tool>/<case>.txt) and what each
//! must parse to (the `<case>.toml` sidecar). Shared by tests/feedback_fixtures.rs and
//! benches/feedback.rs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use endure::feedback::Context;
use endure::protocol::Feedback;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    pub command: String,
    pub version: String,
    /// The small project under tests/fixtures/feedback/projects/ the command ran on.
    pub project: String,
    /// Where the copy of the project was when the capture was made.
    pub workspace: String,
    pub exit_code: i32,
    pub expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub tests: Tests,
    /// The counts cover only part of the tests (a suite that could not load, say).
    #[serde(default)]
    pub tests_incomplete: bool,
    pub failing: Vec<String>,
    /// `file:line[:col]` of every error, relative to the workspace.
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    /// Text each of which some diagnostic's message must contain.
    #[serde(default)]
    pub messages: Vec<String>,
    /// Text the rendered block must contain.
    #[serde(default)]
    pub render: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Tests {
    Counts {
        passed: u32,
        failed: u32,
        skipped: u32,
    },
    /// "unknown": tests ran but the output does not say how many passed; "none": no tests ran.
    Word(Word),
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Word {
    Unknown,
    None,
}

pub struct Case {
    /// `tool/case`.
    pub id: String,
    pub tool: String,
    pub output: String,
    pub sidecar: Sidecar,
    /// The capture's workspace, with the checked-in project standing in for its files.
    pub ctx: Context,
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/feedback")
}

/// Every fixture, in a stable order. A sidecar without its capture, or the reverse, is an error.
pub fn load() -> Result<Vec<Case>, String> {
    let dir = fixtures_dir();
    let mut by_id = BTreeMap::new();
    let tools = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for tool in tools {
        let tool = tool.map_err(|e| e.to_string())?.path();
        let Some(tool_name) = tool.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
        if !tool.is_dir() || tool_name == "projects" {
            continue;
        }
        for file in std::fs::read_dir(&tool).map_err(|e| e.to_string())? {
            let file = file.map_err(|e| e.to_string())?.path();
            let Some(stem) = file.file_stem().and_then(|s| s.to_str()) else { continue };
            let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext != "txt" && ext != "toml" {
                return Err(format!("{}: only <case>.txt and <case>.toml belong here", file.display()));
            }
            by_id.entry(format!("{tool_name}/{stem}")).or_insert((tool_name.clone(), tool.join(stem)));
        }
    }
    let mut cases = Vec::new();
    for (id, (tool, base)) in by_id {
        let txt = base.with_extension("txt");
        let toml_path = base.with_extension("toml");
        let output = std::fs::read_to_string(&txt).map_err(|e| format!("{}: {e}", txt.display()))?;
        let text = std::fs::read_to_string(&toml_path).map_err(|e| format!("{}: {e}", toml_path.display()))?;
        let sidecar: Sidecar = toml::from_str(&text).map_err(|e| format!("{}: {e}", toml_path.display()))?;
        let project = dir.join("projects").join(&sidecar.project);
        if !project.is_dir() {
            return Err(format!("{id}: no project {}", project.display()));
        }
        let ctx = Context { root: Some(PathBuf::from(&sidecar.workspace)), tree: Some(project) };
        cases.push(Case { id, tool, output, sidecar, ctx });
    }
    Ok(cases)
}

/// `file:line:col` as the sidecars spell a location; `-` for a diagnostic without a file.
pub fn location(file: Option<&str>, line: Option<u32>, col: Option<u32>) -> String {
    let Some(file) = file else { return "-".into() };
    match (line, col) {
        (Some(l), Some(c)) => format!("{file}:{l}:{c}"),
        (Some(l), None) => format!("{file}:{l}"),
        _ => file.to_string(),
    }
}

/// The error and warning locations found, each in output order.
pub fn locations(fb: &Feedback) -> (Vec<String>, Vec<String>) {
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    for d in &fb.diagnostics {
        let loc = location(d.file.as_deref(), d.line, d.col);
        if d.kind.ends_with(" warning") || d.kind == "warning" { warnings.push(loc) } else { errors.push(loc) }
    }
    (errors, warnings)
}

/// `file:line` of a location, the part the bench scores.
pub fn file_line(loc: &str) -> String {
    let mut parts = loc.splitn(3, ':');
    match (parts.next(), parts.next()) {
        (Some(f), Some(l)) => format!("{f}:{l}"),
        (Some(f), None) => f.to_string(),
        _ => loc.to_string(),
    }
}
