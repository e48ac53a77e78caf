//! todo and done: the tools through which the model reports its plan and its completion.

use serde_json::Value;

use super::args::{Args, type_name};
use super::{ToolError, ToolOutcome};
use crate::protocol::{Task, TaskStatus};

fn parse_task(i: usize, v: &Value) -> Result<Task, ToolError> {
    let bad = |msg: String| ToolError(format!("todo: tasks[{i}]: {msg}"));
    let Value::Object(m) = v else {
        return Err(bad(format!("must be an object with `title` and `status`, got {}", type_name(v))));
    };
    let title = match m.get("title") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(Value::String(_)) => return Err(bad("`title` is empty".into())),
        Some(other) => return Err(bad(format!("`title` must be a string, got {}", type_name(other)))),
        None => return Err(bad("missing `title` (expected a string)".into())),
    };
    let status = match m.get("status") {
        Some(Value::String(s)) => match s.as_str() {
            "pending" => TaskStatus::Pending,
            "in_progress" => TaskStatus::InProgress,
            "done" => TaskStatus::Done,
            other => return Err(bad(format!("`status` must be one of pending, in_progress, done; got {other:?}"))),
        },
        Some(other) => return Err(bad(format!("`status` must be a string, got {}", type_name(other)))),
        None => return Err(bad("missing `status` (one of pending, in_progress, done)".into())),
    };
    Ok(Task { title, status })
}

pub(super) fn todo(a: &Args<'_>) -> Result<ToolOutcome, ToolError> {
    let tasks = a.array("tasks")?.iter().enumerate().map(|(i, v)| parse_task(i, v)).collect::<Result<Vec<_>, _>>()?;
    let count = |s: TaskStatus| tasks.iter().filter(|t| t.status == s).count();
    let mut out = format!(
        "task list updated: {} tasks ({} done, {} in progress, {} pending)\n",
        tasks.len(),
        count(TaskStatus::Done),
        count(TaskStatus::InProgress),
        count(TaskStatus::Pending)
    );
    for t in &tasks {
        let mark = match t.status {
            TaskStatus::Done => "[x]",
            TaskStatus::InProgress => "[~]",
            TaskStatus::Pending => "[ ]",
        };
        out.push_str(&format!("{mark} {}\n", t.title));
    }
    Ok(ToolOutcome { tasks: Some(tasks), ..ToolOutcome::success(out) })
}

pub(super) fn done(a: &Args<'_>) -> Result<ToolOutcome, ToolError> {
    let summary = a.str("summary")?.trim();
    if summary.is_empty() {
        return Err(ToolError("done: `summary` is empty; say what was done and how it was verified".into()));
    }
    Ok(ToolOutcome { done: Some(summary.to_string()), ..ToolOutcome::success("marked the task complete") })
}
