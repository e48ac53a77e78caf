//! One MCP server of a session: starting it (stdio in the sandbox, or streamable HTTP),
//! calling its tools, noticing that it died, restarting it once, and stopping it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion, Tool};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use serde_json::Value;

use super::config::{ServerSpec, Transport};
use super::stdio::{self, Proc};
use crate::protocol::EventKind;
use crate::sandbox::Sandbox;
use crate::tools::process::Notify;

/// How long a message waits for a dead server's exit status, so that it can say how it ended.
const EXIT_STATUS_WAIT: Duration = Duration::from_secs(2);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What servers need from the session.
#[derive(Clone)]
pub(super) struct Env {
    pub sandbox: Arc<Sandbox>,
    pub notify: Notify,
}

pub(super) enum State {
    NotStarted,
    Running(Arc<Conn>),
    /// It died; restarted once at its next use.
    Exited(String),
    /// Its tools answer with this for the rest of the session.
    Failed(String),
    Disabled,
    Stopped,
}

pub(super) struct Conn {
    generation: u64,
    service: RunningService<RoleClient, ClientConfig>,
    proc: Option<Arc<Proc>>,
}

impl Conn {
    fn alive(&self) -> bool {
        !self.service.peer().is_transport_closed() && self.proc.as_ref().is_none_or(|p| p.exit().is_none())
    }

    /// Why it stopped answering, as far as can be told.
    async fn diagnosis(&self) -> String {
        match &self.proc {
            Some(p) => {
                p.exit_within(EXIT_STATUS_WAIT).await;
                let d = p.diagnosis();
                if d.is_empty() { "its connection closed".into() } else { d }
            }
            None => "its connection closed".into(),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(p) = &self.proc {
            p.kill();
        }
    }
}

/// What a tool call came to.
pub struct CallResult {
    pub ok: bool,
    pub text: String,
}

impl CallResult {
    fn error(text: impl Into<String>) -> CallResult {
        CallResult { ok: false, text: text.into() }
    }
}

pub(super) struct Server {
    pub spec: ServerSpec,
    state: Mutex<State>,
    /// Starts and restarts one at a time.
    start_lock: tokio::sync::Mutex<()>,
    restarted: AtomicBool,
    generation: AtomicU64,
    /// Its tools as offered to the model, fixed at the first start: (its name for the
    /// tool, the spec the model sees).
    offered: Mutex<Vec<(String, crate::model::ToolSpec)>>,
}

impl Server {
    pub fn new(spec: ServerSpec) -> Server {
        let state = if spec.enabled { State::NotStarted } else { State::Disabled };
        Server {
            spec,
            state: Mutex::new(state),
            start_lock: tokio::sync::Mutex::new(()),
            restarted: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            offered: Mutex::new(Vec::new()),
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn set_offered(&self, tools: Vec<(String, crate::model::ToolSpec)>) {
        *lock(&self.offered) = tools;
    }

    pub fn offered(&self) -> Vec<(String, crate::model::ToolSpec)> {
        lock(&self.offered).clone()
    }

    pub fn with_state<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&lock(&self.state))
    }

    /// The first start. Returns the server's tools, or why it failed (already recorded).
    pub async fn start(self: &Arc<Self>, env: &Env) -> Result<Vec<Tool>, String> {
        let _g = self.start_lock.lock().await;
        if !matches!(*lock(&self.state), State::NotStarted) {
            return Err("already started".into());
        }
        if let Some(reason) = self.spec.unusable.clone() {
            return Err(self.fail(env, reason));
        }
        match self.connect(env).await {
            Ok((conn, tools)) => {
                *lock(&self.state) = State::Running(conn);
                Ok(tools)
            }
            Err(reason) => Err(self.fail(env, reason)),
        }
    }

    /// Records that the server cannot be used, and why; returns the reason.
    fn fail(&self, env: &Env, reason: String) -> String {
        *lock(&self.state) = State::Failed(reason.clone());
        (env.notify)(EventKind::McpServerFailed { name: self.spec.name.clone(), reason: reason.clone() });
        reason
    }

    async fn connect(self: &Arc<Self>, env: &Env) -> Result<(Arc<Conn>, Vec<Tool>), String> {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let limit = self.spec.startup_timeout;
        let (conn, tools) = match &self.spec.transport {
            Transport::Stdio { command, args, env: vars, cwd } => {
                let launch = stdio::Launch { command, args, env: vars, cwd: cwd.as_ref() };
                let (out, inp, proc) = stdio::spawn(&env.sandbox, &launch).map_err(|e| format!("cannot start `{command}`: {e}"))?;
                let mut guard = stdio::KillGuard(Some(proc.clone()));
                let handshake = async {
                    let service =
                        rmcp::serve_client(client_config(), (out, inp)).await.map_err(|e| format!("the MCP handshake failed: {e}"))?;
                    let tools = service.peer().list_all_tools().await.map_err(|e| format!("listing its tools failed: {e}"))?;
                    Ok::<_, String>((service, tools))
                };
                let result = tokio::time::timeout(limit, handshake).await;
                let failure = match result {
                    Ok(Ok((service, tools))) => {
                        guard.0 = None;
                        let conn = Arc::new(Conn { generation, service, proc: Some(proc.clone()) });
                        self.watch_exit(env, generation, proc);
                        return Ok((conn, tools));
                    }
                    Ok(Err(e)) => {
                        // It most likely exited; how is the useful part of the message.
                        proc.exit_within(EXIT_STATUS_WAIT).await;
                        e
                    }
                    Err(_) => {
                        format!("it did not complete the MCP handshake and list its tools within {} (its `startup-timeout`)", secs(limit))
                    }
                };
                proc.kill();
                let d = proc.diagnosis();
                return Err(if d.is_empty() { failure } else { format!("{failure}; {d}") });
            }
            Transport::Http { url, headers } => {
                let transport = http_transport(url, headers)?;
                let handshake = async {
                    let service = rmcp::serve_client(client_config(), transport)
                        .await
                        .map_err(|e| format!("the MCP handshake with {url} failed: {e}"))?;
                    let tools = service.peer().list_all_tools().await.map_err(|e| format!("listing its tools failed: {e}"))?;
                    Ok::<_, String>((service, tools))
                };
                let (service, tools) = tokio::time::timeout(limit, handshake)
                    .await
                    .map_err(|_| format!("{url} did not complete the MCP handshake and list its tools within {}", secs(limit)))??;
                (Arc::new(Conn { generation, service, proc: None }), tools)
            }
        };
        Ok((conn, tools))
    }

    /// Records the exit of a stdio server as soon as it happens, unless endure ended it.
    fn watch_exit(self: &Arc<Self>, env: &Env, generation: u64, proc: Arc<Proc>) {
        // Weak: the task must not keep a stopped session's server alive.
        let me: Weak<Server> = Arc::downgrade(self);
        let env = env.clone();
        tokio::spawn(async move {
            proc.exited().await;
            if proc.was_killed() {
                return;
            }
            if let Some(server) = me.upgrade() {
                server.mark_exited(&env, generation, proc.diagnosis());
            }
        });
    }

    /// The connection of `generation` is gone: records it once. True if this call did.
    fn mark_exited(&self, env: &Env, generation: u64, reason: String) -> bool {
        let mut st = lock(&self.state);
        let current = matches!(&*st, State::Running(c) if c.generation == generation);
        if current {
            *st = State::Exited(reason.clone());
            (env.notify)(EventKind::McpServerExited { name: self.spec.name.clone(), reason });
        }
        current
    }

    /// A live connection: the running one, or a restart of one that died (once per session).
    async fn ready(self: &Arc<Self>, env: &Env) -> Result<Arc<Conn>, String> {
        let _g = self.start_lock.lock().await;
        let running = match &*lock(&self.state) {
            State::Running(c) => Some(c.clone()),
            _ => None,
        };
        if let Some(c) = running {
            if c.alive() {
                return Ok(c);
            }
            let d = c.diagnosis().await;
            self.mark_exited(env, c.generation, d);
        }
        let name = &self.spec.name;
        let exited = match &*lock(&self.state) {
            State::Running(c) => return Ok(c.clone()),
            State::Exited(reason) => reason.clone(),
            State::Failed(reason) => return Err(format!("MCP server `{name}` is not available: {reason}")),
            State::Disabled => return Err(format!("MCP server `{name}` is disabled")),
            State::Stopped => return Err(format!("MCP server `{name}` was stopped: the session is ending")),
            State::NotStarted => return Err(format!("MCP server `{name}` has not been started")),
        };
        if self.restarted.swap(true, Ordering::SeqCst) {
            let reason = format!("it exited again after its one restart ({exited}); its tools cannot be used for the rest of this session");
            return Err(format!("MCP server `{name}` is not available: {}", self.fail(env, reason)));
        }
        match self.connect(env).await {
            Ok((conn, _)) => {
                *lock(&self.state) = State::Running(conn.clone());
                // The model keeps the tool list it was given at the start.
                let names = lock(&self.offered).iter().map(|(_, s)| s.name.clone()).collect();
                (env.notify)(EventKind::McpServerStarted {
                    name: name.clone(),
                    transport: self.spec.transport.kind().into(),
                    tools: names,
                    restarted: true,
                });
                Ok(conn)
            }
            Err(e) => {
                let reason = format!("it exited ({exited}) and could not be restarted: {e}");
                Err(format!("MCP server `{name}` is not available: {}", self.fail(env, reason)))
            }
        }
    }

    /// Calls `tool` with `args` (a JSON object).
    pub async fn call(self: &Arc<Self>, env: &Env, tool: &str, args: &Value) -> CallResult {
        let arguments = match args {
            Value::Object(m) => Some(m.clone()),
            Value::Null => None,
            other => return CallResult::error(format!("the arguments must be a JSON object, not {other}")),
        };
        let conn = match self.ready(env).await {
            Ok(c) => c,
            Err(e) => return CallResult::error(e),
        };
        let mut params = CallToolRequestParams::new(tool.to_string());
        if let Some(a) = arguments {
            params = params.with_arguments(a);
        }
        let name = &self.spec.name;
        let limit = self.spec.timeout;
        // Dropping the call (timeout, or the step being stopped) tells the server to cancel it.
        let answer = tokio::time::timeout(limit, conn.service.peer().call_tool(params)).await;
        match answer {
            Ok(Ok(result)) => {
                let text = super::content::result_text(&result);
                if result.is_error == Some(true) {
                    CallResult::error(format!("the tool reported an error:\n{text}"))
                } else {
                    CallResult { ok: true, text }
                }
            }
            Err(_) => {
                let mut text = format!("MCP server `{name}` did not answer within {} (its `timeout`); the call was cancelled", secs(limit));
                if let Some(note) = conn.proc.as_ref().and_then(|p| p.malformed_note()) {
                    text.push_str(&format!("; {note}"));
                }
                CallResult::error(text)
            }
            Ok(Err(ServiceError::McpError(e))) => {
                CallResult::error(format!("MCP server `{name}` answered with an error (code {}): {}", e.code.0, e.message))
            }
            Ok(Err(ServiceError::UnexpectedResponse)) => {
                CallResult::error(format!("MCP server `{name}` sent an answer that is not a tools/call result"))
            }
            Ok(Err(e @ (ServiceError::TransportClosed | ServiceError::TransportSend(_)))) => {
                let d = match &conn.proc {
                    Some(_) => conn.diagnosis().await,
                    None => e.to_string(),
                };
                self.mark_exited(env, conn.generation, d.clone());
                let next = if self.restarted.load(Ordering::SeqCst) {
                    "It was restarted once already, so its tools cannot be used for the rest of this session."
                } else {
                    "It will be restarted (once) at the next call of one of its tools."
                };
                CallResult::error(format!(
                    "MCP server `{name}` stopped answering during this call ({d}); the call's outcome is unknown. {next}"
                ))
            }
            Ok(Err(e)) => CallResult::error(format!("MCP server `{name}`: {e}")),
        }
    }

    /// Stops the server for good; records its end if it was running.
    pub fn stop(&self, env: &Env, reason: &str) {
        let previous = std::mem::replace(&mut *lock(&self.state), State::Stopped);
        match previous {
            State::Running(c) => {
                if let Some(p) = &c.proc {
                    p.kill();
                }
                (env.notify)(EventKind::McpServerExited { name: self.spec.name.clone(), reason: reason.to_string() });
            }
            State::Disabled => *lock(&self.state) = State::Disabled,
            State::Failed(r) => *lock(&self.state) = State::Failed(r),
            _ => {}
        }
    }

    pub fn running(&self) -> bool {
        matches!(&*lock(&self.state), State::Running(c) if c.alive())
    }
}

fn client_config() -> ClientConfig {
    ClientConfig::new(ClientCapabilities::default(), Implementation::new("endure", env!("CARGO_PKG_VERSION")))
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
}

fn http_transport(
    url: &str,
    headers: &[(String, String)],
) -> Result<rmcp::transport::StreamableHttpClientTransport<reqwest::Client>, String> {
    use reqwest::header::{HeaderName, HeaderValue};
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let mut map = HashMap::new();
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("`{k}` is not a valid HTTP header name"))?;
        // The value is never quoted: it may be a credential.
        let mut value = HeaderValue::from_str(v).map_err(|_| format!("the value of header `{k}` is not valid in HTTP"))?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_string()).custom_headers(map);
    Ok(rmcp::transport::StreamableHttpClientTransport::from_config(config))
}

pub(super) fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{} s", d.as_secs()) } else { format!("{:.1} s", d.as_secs_f64()) }
}
