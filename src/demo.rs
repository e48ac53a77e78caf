//! The bundled demo: a small Python project with two failing tests, and the scripted session
//! that fixes it. Embedded so that `endure demo` works from an installed binary.
//!
//! The session is meant to show every feature in about 80 seconds at speed 1: a MEMORY.md
//! dream proposed at the start, checkpoints at 20/45/70% of a small context budget and one
//! rollover, a Max Mode step, a verifier that rejects once, and a branch for a supervisor
//! correction. The scenario does what a model would; [`direct`] does the one thing a
//! supervisor would otherwise have to (turning Max Mode on for one step), through the same
//! commands; like every workbench run, the finished demo can be rolled back from the workbench
//! ([`crate::agent::after_run`]).

use std::path::{Path, PathBuf};

use tokio::sync::broadcast;

use crate::agent::AgentHandle;
use crate::config::settings::RunOptions;
use crate::protocol::{Command, EventKind};

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
    ("samples/essay.txt", include_str!("../assets/demo/workspace/samples/essay.txt")),
    ("MEMORY.md", include_str!("../assets/demo/workspace/MEMORY.md")),
];

/// The demo's context budget, in tokens: small, so that the checkpoints at 20/45/70% and a
/// rollover at 85% happen within its few steps.
pub const CONTEXT_BUDGET: u64 = 9_500;

/// Candidates of the demo's Max Mode step.
pub const MAX_MODE_CANDIDATES: u32 = 3;

/// The options a demo session runs with: the scripted provider on `scenario`, the small
/// context budget, and `speed` (a delay factor; None: the frontend's default).
pub fn options(scenario: PathBuf, speed: Option<f64>) -> RunOptions {
    RunOptions {
        provider: Some("scripted".into()),
        script: Some(scenario),
        speed,
        context_budget: Some(CONTEXT_BUDGET),
        ..Default::default()
    }
}

/// The agent's answer just before the one the scenario gives Max Mode variants: when it
/// arrives, the demo turns Max Mode on for the next step.
fn max_mode_cue() -> Option<String> {
    let s = crate::model::scripted::Scenario::parse(SCENARIO, false).ok()?;
    let of = s.candidates.first()?.of;
    s.agent.get(of.checked_sub(2)?).map(|a| a.text.clone())
}

/// Turns Max Mode on for one step of the running demo: `SetMaxMode` is sent when the agent's
/// answer before the scenario's Max Mode step arrives (it takes effect at the next boundary),
/// and turned off again as soon as the runtime reports it on, so exactly that step runs with
/// candidates when steps take their scripted time. Commands go as the client `demo`, like a
/// supervisor's.
pub fn direct(handle: &AgentHandle) -> Option<tokio::task::JoinHandle<()>> {
    let mut events = handle.control_link().subscribe()?;
    let commands = handle.commands.for_client("demo");
    let cue = max_mode_cue()?;
    Some(tokio::spawn(async move {
        let mut asked = false;
        // Max Mode as the supervisor left it: when they turned it on themselves, the demo's
        // step runs in it anyway, and the demo must not turn it off behind their back.
        let mut on = false;
        loop {
            let ev = match events.recv().await {
                Ok(ev) => ev,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            match ev.kind {
                EventKind::AssistantMessage { text, .. } if !asked && text == cue => {
                    if on {
                        return;
                    }
                    asked = true;
                    if commands.send(Command::SetMaxMode(Some(MAX_MODE_CANDIDATES))).is_err() {
                        return;
                    }
                }
                EventKind::MaxModeChanged { candidates: Some(_), .. } if asked => {
                    let _ = commands.send(Command::SetMaxMode(None));
                    return;
                }
                EventKind::MaxModeChanged { candidates, .. } => on = candidates.is_some(),
                EventKind::SessionFinished { .. } => return,
                _ => {}
            }
        }
    }))
}

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
        assert!(max_mode_cue().is_some(), "the scenario has Max Mode variants, after an answer of its own");
    }
}
