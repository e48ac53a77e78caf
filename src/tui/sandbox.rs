//! The workbench's view of the sandbox: the policy in force, the MCP servers running, and an
//! escalation waiting for the supervisor. Running background processes are counted by the
//! session's own fold.

use std::collections::BTreeMap;

use super::state::NoticeLevel;
use crate::protocol::{EventKind, SandboxInfo};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SandboxState {
    pub info: Option<SandboxInfo>,
    /// The escalation the runtime waits on, if any.
    pub escalation: Option<PendingEscalation>,
    /// MCP servers by name, as their events tell.
    pub mcp: BTreeMap<String, McpServer>,
}

/// Where an MCP server stands, as `mcp_server_*` events tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpStatus {
    Running,
    /// It died; the next call of one of its tools restarts it once.
    Exited,
    /// Unusable for the rest of the session: its tools answer with the reason.
    Failed,
    /// endure ended it (`session ended`, or `endure stopped` for one a dead endure ran).
    Stopped,
}

impl McpStatus {
    pub fn label(self) -> &'static str {
        match self {
            McpStatus::Running => "running",
            McpStatus::Exited => "exited",
            McpStatus::Failed => "failed",
            McpStatus::Stopped => "stopped",
        }
    }
}

/// One MCP server of the session, for the Processes panel and the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpServer {
    pub status: McpStatus,
    /// `stdio` or `http`; empty for a server that never started.
    pub transport: String,
    /// Tools it offers (from its last start).
    pub tools: usize,
    /// It was restarted after exiting (its one restart is used).
    pub restarted: bool,
    /// Why it failed, exited or was stopped.
    pub reason: Option<String>,
}

impl McpServer {
    fn new(status: McpStatus) -> McpServer {
        McpServer { status, transport: String::new(), tools: 0, restarted: false, reason: None }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEscalation {
    pub id: u64,
    pub command: String,
    pub justification: String,
}

impl SandboxState {
    /// Folds one event; returns the notice the transcript shows for it, if any.
    pub fn apply(&mut self, kind: &EventKind) -> Option<(NoticeLevel, String)> {
        match kind {
            EventKind::SessionStarted { info } => {
                self.info = info.sandbox.clone();
                self.info.as_ref().filter(|i| !i.enforced).map(|i| {
                    (NoticeLevel::Warning, format!("the sandbox is NOT enforced on this machine (missing: {})", i.missing.join(", ")))
                })
            }
            EventKind::SessionResumed { sandbox, .. } => {
                if sandbox.is_some() {
                    self.info = sandbox.clone();
                }
                // A resumed session's earlier processes died with the endure that ran them.
                self.escalation = None;
                None
            }
            EventKind::ProcessStarted { id, command } => Some((NoticeLevel::Info, format!("background process {id} started: {command}"))),
            EventKind::ProcessExited { id, exit_code, reason } => {
                let code = exit_code.map(|c| format!(" (exit code {c})")).unwrap_or_default();
                Some((NoticeLevel::Info, format!("background process {id} {reason}{code}")))
            }
            EventKind::EscalationRequested { id, command, justification } => {
                self.escalation = Some(PendingEscalation { id: *id, command: command.clone(), justification: justification.clone() });
                Some((NoticeLevel::Warning, format!("the agent asks to run outside the sandbox: {command}")))
            }
            EventKind::EscalationResolved { id, approved, by, note } => {
                if self.escalation.as_ref().is_some_and(|e| e.id == *id) {
                    self.escalation = None;
                }
                let what = if *approved { "approved" } else { "denied" };
                let note = note.as_deref().map(|n| format!(": {n}")).unwrap_or_default();
                Some((if *approved { NoticeLevel::Warning } else { NoticeLevel::Info }, format!("escalation {id} {what} ({by}){note}")))
            }
            EventKind::McpServerStarted { name, transport, tools, restarted } => {
                let server = McpServer {
                    status: McpStatus::Running,
                    transport: transport.clone(),
                    tools: tools.len(),
                    restarted: *restarted,
                    reason: None,
                };
                self.mcp.insert(name.clone(), server);
                let what = if *restarted { "restarted" } else { "started" };
                let n = tools.len();
                Some((NoticeLevel::Info, format!("MCP server {name} {what} ({transport}, {n} tool{})", if n == 1 { "" } else { "s" })))
            }
            EventKind::McpServerFailed { name, reason } => {
                self.set_mcp(name, McpStatus::Failed, reason);
                Some((NoticeLevel::Error, format!("MCP server {name} failed: {reason}")))
            }
            EventKind::McpServerExited { name, reason } => {
                let by_endure = reason == "session ended" || reason == "endure stopped";
                self.set_mcp(name, if by_endure { McpStatus::Stopped } else { McpStatus::Exited }, reason);
                let level = if reason == "session ended" { NoticeLevel::Info } else { NoticeLevel::Warning };
                Some((level, format!("MCP server {name} exited: {reason}")))
            }
            EventKind::SessionFinished { .. } => {
                self.escalation = None;
                None
            }
            _ => None,
        }
    }

    /// A server's new status, keeping what its start told (transport, tools).
    fn set_mcp(&mut self, name: &str, status: McpStatus, reason: &str) {
        let server = self.mcp.entry(name.to_string()).or_insert_with(|| McpServer::new(status));
        server.status = status;
        server.reason = Some(reason.to_string());
    }

    /// The status bar's sandbox field with `running` background processes, and whether it
    /// is a warning.
    pub fn status(&self, running: usize) -> Option<(String, bool)> {
        let info = self.info.as_ref()?;
        let mut text = crate::sandbox::describe(info);
        if running > 0 {
            text.push_str(&format!(" · bg {running}"));
        }
        if !self.mcp.is_empty() {
            let up = self.mcp.values().filter(|m| m.status == McpStatus::Running).count();
            text.push_str(&format!(" · mcp {up}/{}", self.mcp.len()));
        }
        Some((text, !info.enforced))
    }
}
