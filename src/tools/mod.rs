//! The tools offered to the model.
//!
//! [`specs`] describes them to the model and [`execute`] runs one call. A call never fails
//! outright: bad arguments, refused paths and failing commands all become a [`ToolOutcome`]
//! with `ok = false` and a message written for the model to act on.

mod args;
mod fs;
pub mod locks;
pub mod process;
mod run;
mod search;
mod specs;
mod tasks;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_run;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::model::ToolSpec;
use crate::protocol::{Feedback, Task};
use crate::workspace::{FileChange, Workspace};

pub use specs::TOOL_NAMES;

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
    /// Where `run` commands execute.
    pub sandbox: Arc<crate::sandbox::Sandbox>,
    pub processes: Arc<process::Processes>,
    /// Set by the runtime for the one `run` call approved to execute outside the sandbox.
    pub escalation_approved: bool,
    /// The session's MCP servers, whose tools are offered beside these.
    pub mcp: Arc<crate::mcp::McpServers>,
    /// The tools this session may call (`done` always); None: all of them.
    pub allowed: Option<Vec<String>>,
    /// Shared with the other sessions writing this workspace at the same time.
    pub file_locks: Option<Arc<locks::FileLocks>>,
    /// Runs the `workflow` tool; None where workflows cannot start (subagents).
    pub workflow: Option<Arc<crate::workflow::ToolHost>>,
    /// The id of the call being executed, set by the runtime before each call.
    pub call_id: String,
}

impl ToolContext {
    /// Tools without a session: no sandbox, background processes reported nowhere.
    pub fn new(workspace: Workspace, limits: ToolLimits) -> ToolContext {
        let sandbox = Arc::new(crate::sandbox::Sandbox::unconfined(workspace.root()));
        ToolContext {
            workspace,
            limits,
            sandbox,
            processes: Arc::new(process::Processes::new(1, None)),
            escalation_approved: false,
            mcp: Arc::new(crate::mcp::McpServers::none()),
            allowed: None,
            file_locks: None,
            workflow: None,
            call_id: String::new(),
        }
    }

    /// The MCP servers' tools this session may call (started with
    /// [`crate::mcp::McpServers::start`] before the first request), offered after the
    /// built-in ones.
    pub fn mcp_specs(&self) -> Vec<ToolSpec> {
        let mut all = self.mcp.specs();
        if let Some(allowed) = &self.allowed {
            all.retain(|s| allowed.contains(&s.name));
        }
        all
    }
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

impl ToolOutcome {
    fn success(output: impl Into<String>) -> ToolOutcome {
        ToolOutcome { ok: true, output: output.into(), ..Default::default() }
    }
}

/// Why a call could not do its work; the message is what the model is told.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ToolError(pub String);

impl From<crate::workspace::WorkspaceError> for ToolError {
    fn from(e: crate::workspace::WorkspaceError) -> Self {
        ToolError(e.to_string())
    }
}

pub fn specs() -> Vec<ToolSpec> {
    specs::all()
}

/// The tools a session offers: all of them, or `allowed` and `done`; `workflow` only where a
/// workflow can start; `done` asking for a `result` matching `schema` when there is one.
pub fn session_specs(allowed: Option<&[String]>, workflows: bool, schema: Option<&Value>) -> Vec<ToolSpec> {
    let mut all = specs::all();
    all.retain(|s| (s.name != "workflow" || workflows) && (s.name == "done" || allowed.is_none_or(|a| a.contains(&s.name))));
    if let Some(schema) = schema
        && let Some(done) = all.iter_mut().find(|s| s.name == "done")
    {
        done.description.push_str(" Give your answer as `result`, a JSON value matching the schema given for it.");
        done.parameters["properties"]["result"] = schema.clone();
        done.parameters["required"] = serde_json::json!(["summary", "result"]);
    }
    all
}

pub async fn execute(ctx: &mut ToolContext, name: &str, args: &Value) -> ToolOutcome {
    let result = dispatch(ctx, name, args).await;
    let mut outcome = result.unwrap_or_else(|e| ToolOutcome { ok: false, output: e.0, ..Default::default() });
    outcome.output = cap_output(&outcome.output, ctx.limits.output_cap);
    outcome
}

async fn dispatch(ctx: &mut ToolContext, name: &str, raw: &Value) -> Result<ToolOutcome, ToolError> {
    if let Some(allowed) = &ctx.allowed
        && name != "done"
        && !allowed.iter().any(|a| a == name)
    {
        return Err(ToolError(format!("the tool `{name}` is not available to this agent; it may use: {}, done", allowed.join(", "))));
    }
    if crate::mcp::is_mcp_tool(name) {
        return mcp_call(ctx, name, raw).await;
    }
    if !TOOL_NAMES.contains(&name) {
        let mut known: Vec<String> = TOOL_NAMES.iter().map(|n| n.to_string()).collect();
        known.extend(ctx.mcp.tool_names());
        return Err(ToolError(format!("unknown tool `{name}`; the available tools are: {}", known.join(", "))));
    }
    let a = args::Args::new(name, raw)?;
    if matches!(name, "write_file" | "edit_file") && ctx.sandbox.info().mode == crate::sandbox::SandboxMode::ReadOnly {
        return Err(ToolError(format!("{name}: this session is read-only (--sandbox read-only): files cannot be changed")));
    }
    // Held until the write is done: another session's write to this file waits for it.
    let _file_lock = match (&ctx.file_locks, name) {
        (Some(locks), "write_file" | "edit_file") => match ctx.workspace.resolve(a.str("path")?, crate::workspace::Access::Write) {
            Ok(abs) => Some(locks.clone().lock(&abs).await),
            Err(_) => None,
        },
        _ => None,
    };
    match name {
        "read_file" => fs::read_file(ctx, &a),
        "write_file" => fs::write_file(ctx, &a),
        "edit_file" => fs::edit_file(ctx, &a),
        "list_files" => search::list_files(ctx, &a).await,
        "search" => search::search(ctx, &a).await,
        "run" => run::run(ctx, &a).await,
        "process" => process::process(ctx, &a).await,
        "todo" => tasks::todo(&a),
        "workflow" => match ctx.workflow.clone() {
            Some(host) => Ok(Box::pin(host.call(ctx.call_id.clone(), raw.clone())).await),
            None => Err(ToolError("workflow: subagents cannot start workflows (one level of workflows only)".into())),
        },
        "done" => tasks::done(&a),
        "skill" => {
            let name = a.str("name")?;
            let body = crate::memory::skills::load_skill(ctx.workspace.root(), name).map_err(|e| ToolError(e.to_string()))?;
            Ok(ToolOutcome { ok: true, output: format!("# Skill: {name}\n\n{body}"), ..Default::default() })
        }
        _ => Err(ToolError(format!("unknown tool `{name}`"))),
    }
}

/// A call of an MCP server's tool. Its result is an ordinary tool result; files the server
/// changed in the workspace are recorded like a command's.
async fn mcp_call(ctx: &mut ToolContext, name: &str, raw: &Value) -> Result<ToolOutcome, ToolError> {
    if !ctx.processes.any_running() && !ctx.mcp.any_running() {
        ctx.sandbox.memory_guard().accept_current();
    }
    let Some(result) = ctx.mcp.call(name, raw).await else {
        let offered = ctx.mcp.tool_names();
        let known = if offered.is_empty() {
            "no MCP server offers tools in this session".to_string()
        } else {
            format!("the MCP tools are: {}", offered.join(", "))
        };
        return Err(ToolError(format!("unknown tool `{name}`; {known}")));
    };
    let mut feedback = Feedback::default();
    let mut ok = result.ok;
    if let Some(m) = ctx.sandbox.memory_guard().check() {
        ok = false;
        feedback.diagnostics.push(crate::protocol::Diagnostic {
            kind: "sandbox".into(),
            file: Some("MEMORY.md".into()),
            line: None,
            col: None,
            message: m,
        });
    }
    let block = crate::feedback::render(&feedback);
    let output = if block.trim().is_empty() { result.text } else { format!("{}\n{}", block.trim_end(), result.text) };
    let changes = ctx.workspace.rescan();
    Ok(ToolOutcome { ok, output, feedback, changes, ..Default::default() })
}

/// Caps `text` to at most `cap` characters, keeping its head and its tail around a
/// `[... N characters omitted ...]` marker. Cuts fall on character boundaries.
pub fn cap_output(text: &str, cap: usize) -> String {
    let total = text.chars().count();
    if total <= cap {
        return text.to_string();
    }
    // Sized for the largest possible omitted count so that the result never exceeds `cap`.
    let marker_max = format!("\n[... {total} characters omitted ...]\n").chars().count();
    let keep = cap.saturating_sub(marker_max);
    let head = keep / 2;
    let tail = keep - head;
    let omitted = total - head - tail;
    let byte_at = |n: usize| text.char_indices().nth(n).map_or(text.len(), |(i, _)| i);
    let head_end = byte_at(head);
    let tail_start = byte_at(total - tail);
    let marker = format!("\n[... {omitted} characters omitted ...]\n");
    if keep == 0 && marker.chars().count() > cap {
        // Too small a cap to say anything useful; the head alone at least shows the start.
        return text.chars().take(cap).collect();
    }
    let mut out = String::with_capacity(head_end + marker.len() + text.len() - tail_start);
    out.push_str(&text[..head_end]);
    out.push_str(&marker);
    out.push_str(&text[tail_start..]);
    out
}
