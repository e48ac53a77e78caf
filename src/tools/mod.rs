//! The tools offered to the model (skeleton; the tools helper fills it).

use std::time::Duration;

use serde_json::Value;

use crate::model::ToolSpec;
use crate::protocol::{Feedback, Task};
use crate::workspace::{FileChange, Workspace};

#[derive(Debug, Clone)]
pub struct ToolLimits {
    /// Cap on the characters of a result given to the model; head and tail are kept.
    pub output_cap: usize,
    pub default_timeout: Duration,
    pub max_timeout: Duration,
}

impl Default for ToolLimits {
    fn default() -> Self {
        ToolLimits { output_cap: 30_000, default_timeout: Duration::from_secs(120), max_timeout: Duration::from_secs(1800) }
    }
}

pub struct ToolContext {
    pub workspace: Workspace,
    pub limits: ToolLimits,
}

/// What one tool call did.
#[derive(Debug, Clone, Default)]
pub struct ToolOutcome {
    pub ok: bool,
    pub exit_code: Option<i32>,
    /// The result text given to the model (already capped).
    pub output: String,
    pub feedback: Feedback,
    pub changes: Vec<FileChange>,
    /// Set by `todo`: the new task list.
    pub tasks: Option<Vec<Task>>,
    /// Set by `done`: the summary.
    pub done: Option<String>,
}

pub fn specs() -> Vec<ToolSpec> {
    Vec::new()
}

pub async fn execute(_ctx: &mut ToolContext, name: &str, _args: &Value) -> ToolOutcome {
    ToolOutcome { ok: false, output: format!("unknown tool {name}"), ..Default::default() }
}

/// Caps text to `cap` bytes keeping head and tail (skeleton).
pub fn cap_output(text: &str, cap: usize) -> String {
    let _ = cap;
    text.to_string()
}
