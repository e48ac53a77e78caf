//! The MCP client: a session's MCP servers and the tools they offer the model.
//!
//! Servers come from `[mcp.servers.NAME]` in config.toml and a workspace `.mcp.json`
//! ([`config`]). They start lazily: not when endure starts, but at the session's first step,
//! because the model needs their tools in its first request. All start at once; one that
//! fails is reported (`mcp_server_failed`) and skipped. A server's tools are offered as
//! `mcp__NAME__TOOL` with their own JSON schemas, fixed for the session (a stable request
//! prefix). A server that dies is restarted once, at the next call of one of its tools; after
//! that its tools answer with a clear error. Every server is stopped when the session ends.
//! stdio servers run in the session's sandbox with its scrubbed environment ([`stdio`]);
//! HTTP servers are reached by endure itself.

pub mod config;
mod content;
mod server;
mod stdio;

use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde_json::{Value, json};

pub use config::{McpSection, ServerSpec, Transport};
pub use server::CallResult;

use crate::model::ToolSpec;
use crate::protocol::EventKind;
use crate::sandbox::Sandbox;
use crate::tools::process::Notify;
use server::{Env, Server, State};

/// Tool names of MCP servers start with this.
pub const TOOL_PREFIX: &str = "mcp__";
/// Longest tool name offered: OpenAI's limit for function names.
const MAX_TOOL_NAME: usize = 64;
/// A tool description longer than this is cut: it is sent with every request.
const MAX_DESCRIPTION: usize = 4000;

/// True when `name` is (shaped like) an MCP tool's.
pub fn is_mcp_tool(name: &str) -> bool {
    name.starts_with(TOOL_PREFIX)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One tool as offered to the model.
#[derive(Debug, Clone)]
struct Offered {
    server: usize,
    tool: String,
    spec: ToolSpec,
}

/// A session's MCP servers.
pub struct McpServers {
    servers: Vec<Arc<Server>>,
    env: Option<Env>,
    offered: Mutex<Vec<Offered>>,
    started: tokio::sync::OnceCell<()>,
}

impl McpServers {
    /// No servers (tools used outside a session, or none configured).
    pub fn none() -> McpServers {
        McpServers { servers: Vec::new(), env: None, offered: Mutex::new(Vec::new()), started: tokio::sync::OnceCell::new() }
    }

    /// The servers of a session, none started yet. Events go to `notify`.
    pub fn new(specs: Vec<ServerSpec>, sandbox: Arc<Sandbox>, notify: Notify) -> McpServers {
        let servers = specs.into_iter().map(|s| Arc::new(Server::new(s))).collect();
        McpServers { servers, env: Some(Env { sandbox, notify }), offered: Mutex::new(Vec::new()), started: tokio::sync::OnceCell::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Starts every enabled server, once (later calls return at once). Each start is recorded:
    /// `mcp_server_started` with the tools offered, or `mcp_server_failed` with the reason.
    /// Abandoned midway (the step was stopped), the next call starts the servers not yet up.
    pub async fn start(&self) {
        let Some(env) = &self.env else { return };
        self.started
            .get_or_init(|| async {
                let starts = self.servers.iter().filter(|s| s.with_state(|st| matches!(st, State::NotStarted))).map(|s| start_one(s, env));
                futures::future::join_all(starts).await;
                // Names hold the server's name, so they can only collide through names that
                // differ in characters a tool name cannot hold: the first keeps its name.
                let mut offered: Vec<Offered> = Vec::new();
                for (i, s) in self.servers.iter().enumerate() {
                    for (tool, spec) in s.offered() {
                        if !offered.iter().any(|o| o.spec.name == spec.name) {
                            offered.push(Offered { server: i, tool, spec });
                        }
                    }
                }
                *lock(&self.offered) = offered;
            })
            .await;
    }

    /// The tools the servers offer, in a fixed order (server name, then tool name).
    pub fn specs(&self) -> Vec<ToolSpec> {
        lock(&self.offered).iter().map(|o| o.spec.clone()).collect()
    }

    /// The names of the tools offered.
    pub fn tool_names(&self) -> Vec<String> {
        lock(&self.offered).iter().map(|o| o.spec.name.clone()).collect()
    }

    /// Calls the tool offered as `name`. None when no server offers it and none of its name
    /// is known; a server that failed or is disabled says so.
    pub async fn call(&self, name: &str, args: &Value) -> Option<CallResult> {
        let found = {
            let offered = lock(&self.offered);
            offered.iter().find(|o| o.spec.name == name).map(|o| (self.servers[o.server].clone(), o.tool.clone()))
        };
        let Some((server, tool)) = found else {
            let s = self.servers.iter().find(|s| name.starts_with(&format!("{TOOL_PREFIX}{}__", s.name())))?;
            return s.with_state(|st| match st {
                State::Failed(reason) => {
                    Some(CallResult { ok: false, text: format!("MCP server `{}` is not available: {reason}", s.name()) })
                }
                State::Disabled => Some(CallResult {
                    ok: false,
                    text: format!("MCP server `{}` is disabled in its configuration (`enabled = false`)", s.name()),
                }),
                _ => None,
            });
        };
        let env = self.env.as_ref()?;
        Some(server.call(env, &tool, args).await)
    }

    /// True while a server runs (for the MEMORY.md guard: something of the session is running).
    pub fn any_running(&self) -> bool {
        self.servers.iter().any(|s| s.running())
    }

    /// Stops every server, recording `mcp_server_exited` with `reason` for those running.
    pub fn shutdown(&self, reason: &str) {
        let Some(env) = &self.env else { return };
        for s in &self.servers {
            s.stop(env, reason);
        }
    }

    /// Each server's state and tools, for `endure mcp list` (after [`start`](Self::start)).
    pub fn report(&self) -> Vec<ServerReport> {
        let offered = lock(&self.offered);
        self.servers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (state, reason) = s.with_state(|st| match st {
                    State::Running(_) => ("running", None),
                    State::NotStarted => ("not started", None),
                    State::Exited(r) => ("exited", Some(r.clone())),
                    State::Failed(r) => ("failed", Some(r.clone())),
                    State::Disabled => ("disabled", None),
                    State::Stopped => ("stopped", None),
                });
                let tools = offered
                    .iter()
                    .filter(|o| o.server == i)
                    .map(|o| ToolReport { name: o.spec.name.clone(), server_name: o.tool.clone(), description: o.spec.description.clone() })
                    .collect();
                ServerReport {
                    name: s.name().to_string(),
                    transport: s.spec.transport.kind(),
                    target: s.spec.transport.describe(),
                    source: s.spec.source.clone(),
                    state,
                    reason,
                    tools,
                }
            })
            .collect()
    }
}

/// One server in `endure mcp list`.
#[derive(Debug, Clone, Serialize)]
pub struct ServerReport {
    pub name: String,
    pub transport: &'static str,
    /// The command line or the URL.
    pub target: String,
    /// The file that defines it.
    pub source: String,
    /// running, failed, disabled (or exited, stopped, not started).
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub tools: Vec<ToolReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolReport {
    /// As offered to the model: `mcp__NAME__TOOL`.
    pub name: String,
    /// As the server calls it.
    pub server_name: String,
    pub description: String,
}

/// Starts one server and records the outcome.
async fn start_one(server: &Arc<Server>, env: &Env) {
    let Ok(tools) = server.start(env).await else { return };
    let (mine, unknown) = offer(server.name(), server.spec.tools.as_deref(), &tools);
    let names: Vec<String> = mine.iter().map(|(_, s)| s.name.clone()).collect();
    server.set_offered(mine);
    (env.notify)(EventKind::McpServerStarted {
        name: server.name().to_string(),
        transport: server.spec.transport.kind().into(),
        tools: names,
        restarted: false,
    });
    if !unknown.is_empty() {
        let available: Vec<String> = tools.iter().map(|t| t.name.to_string()).collect();
        (env.notify)(EventKind::Warning {
            message: format!(
                "MCP server `{}`: its `tools` list names {}, which it does not offer (it offers: {})",
                server.name(),
                unknown.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", "),
                available.join(", ")
            ),
        });
    }
}

/// The tools to offer of a server named `server` (each with the server's own name for it),
/// sorted, and the names in its allow-list it does not have.
fn offer(server: &str, allow: Option<&[String]>, tools: &[rmcp::model::Tool]) -> (Vec<(String, ToolSpec)>, Vec<String>) {
    let unknown = allow.map(|a| a.iter().filter(|n| !tools.iter().any(|t| t.name == n.as_str())).cloned().collect()).unwrap_or_default();
    let mut chosen: Vec<&rmcp::model::Tool> =
        tools.iter().filter(|t| allow.is_none_or(|a| a.iter().any(|n| t.name == n.as_str()))).collect();
    chosen.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out: Vec<(String, ToolSpec)> = Vec::new();
    for t in chosen {
        let name = offered_name(server, &t.name);
        // Two tools that differ only in characters a name cannot hold: the first keeps it.
        if out.iter().any(|(_, s)| s.name == name) {
            continue;
        }
        let description = t.description.as_deref().or(t.title.as_deref()).unwrap_or("").to_string();
        let description = if description.chars().count() > MAX_DESCRIPTION {
            format!("{}…", description.chars().take(MAX_DESCRIPTION).collect::<String>())
        } else {
            description
        };
        out.push((t.name.to_string(), ToolSpec { name, description, parameters: parameters(&t.input_schema) }));
    }
    (out, unknown)
}

/// `mcp__SERVER__TOOL`, in the characters providers accept, at most 64 long.
pub fn offered_name(server: &str, tool: &str) -> String {
    let clean: String = tool.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    let full = format!("{TOOL_PREFIX}{server}__{clean}");
    if full.len() <= MAX_TOOL_NAME {
        return full;
    }
    // Cut names stay distinct through a hash of the whole.
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(format!("{server}\0{tool}").as_bytes());
    let hex: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}_{hex}", &full[..MAX_TOOL_NAME - 9])
}

/// A tool's input schema as function parameters: providers want an object schema.
fn parameters(schema: &rmcp::model::JsonObject) -> Value {
    let mut v = Value::Object(schema.clone());
    if let Some(o) = v.as_object_mut() {
        o.entry("type").or_insert_with(|| json!("object"));
        if o.get("type") == Some(&json!("object")) {
            o.entry("properties").or_insert_with(|| json!({}));
        }
    }
    v
}

#[cfg(test)]
mod tests;
