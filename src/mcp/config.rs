//! Which MCP servers a session uses: `[mcp.servers.NAME]` tables in config.toml and a
//! workspace `.mcp.json` in Claude Code's format, resolved into [`ServerSpec`]s.
//!
//! Layers, lowest first: `.mcp.json`, the user's config.toml, the project's. An entry with
//! `command` or `url` defines its server, replacing a lower definition of the same name; an
//! entry with neither adjusts `enabled`, `tools`, `timeout` and `startup-timeout` of a server
//! defined lower.
//!
//! `${VAR}` and `${VAR:-default}` are expanded in commands, arguments, `env`, `cwd`, URLs and
//! headers. config.toml is the user's (the agent cannot write it); `.mcp.json` is workspace
//! content the agent can write, so it gets no secret-looking variable, and its HTTP servers
//! (reached by endure itself, outside the sandbox) are used only when the session's network
//! is on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::settings::ConfigFileError;
use crate::sandbox::EnvPolicy;

/// The limit of one tool call when a server sets no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The limit of a start (handshake and tool list) when a server sets no `startup-timeout`.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The `[mcp]` table of config.toml.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpSection {
    #[serde(default)]
    pub servers: BTreeMap<String, ServerConfig>,
}

/// One `[mcp.servers.NAME]` table.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub command: Option<String>,
    pub args: Option<Vec<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
    pub url: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub enabled: Option<bool>,
    /// The server's tools to offer (its own names); all when absent.
    pub tools: Option<Vec<String>>,
    /// The limit of one tool call.
    pub timeout: Option<TimeoutValue>,
    /// The limit of a start: the MCP handshake and the tool list.
    #[serde(rename = "startup-timeout")]
    pub startup_timeout: Option<TimeoutValue>,
    /// Where the table is, for messages: set by the parser, never read from the file.
    #[serde(skip)]
    pub origin: Origin,
}

/// Seconds (`30`, `2.5`) or a duration (`"90s"`, `"2m"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum TimeoutValue {
    Secs(f64),
    Text(String),
}

/// The file and line a server's definition comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: usize,
    /// `.mcp.json`, which the agent can write.
    pub workspace_file: bool,
}

/// How endure reaches a server.
#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    /// A child process speaking JSON-RPC on stdin and stdout, run in the session's sandbox.
    Stdio { command: String, args: Vec<String>, env: Vec<(String, String)>, cwd: Option<PathBuf> },
    /// A streamable HTTP endpoint.
    Http { url: String, headers: Vec<(String, String)> },
}

impl Transport {
    pub fn kind(&self) -> &'static str {
        match self {
            Transport::Stdio { .. } => "stdio",
            Transport::Http { .. } => "http",
        }
    }

    /// What it runs or reaches, for listings: the command line or the URL (never headers or
    /// environment values, which may hold secrets).
    pub fn describe(&self) -> String {
        match self {
            Transport::Stdio { command, args, .. } => {
                std::iter::once(command.as_str()).chain(args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
            }
            Transport::Http { url, .. } => url.clone(),
        }
    }
}

/// A server as the session uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSpec {
    pub name: String,
    pub transport: Transport,
    pub enabled: bool,
    pub tools: Option<Vec<String>>,
    pub timeout: Duration,
    pub startup_timeout: Duration,
    /// The file that defined it.
    pub source: String,
    /// Why it cannot be used although its definition is well formed (a variable that is not
    /// set or may not be expanded, an unsupported transport, an HTTP server from `.mcp.json`
    /// with the network off). Reported when the session would start it.
    pub unusable: Option<String>,
}

/// What resolution needs from the session: whose variables are secrets, and whether commands
/// may reach the network.
#[derive(Debug, Clone, Default)]
pub struct ResolveContext<'a> {
    pub env_policy: Option<&'a EnvPolicy>,
    pub network_on: bool,
}

fn err(origin: &Origin, message: impl Into<String>) -> ConfigFileError {
    ConfigFileError { file: origin.file.clone(), line: origin.line, col: if origin.line > 0 { 1 } else { 0 }, message: message.into() }
}

/// A server name becomes part of tool names the model calls, which providers restrict.
fn check_name(name: &str, origin: &Origin) -> Result<(), ConfigFileError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(err(
            origin,
            format!(
                "mcp server name `{name}`: use letters, digits, `_` and `-` only (it becomes part of the tool names `mcp__{name}__TOOL`)"
            ),
        ));
    }
    Ok(())
}

impl ServerConfig {
    fn defines(&self) -> bool {
        self.command.is_some() || self.url.is_some()
    }

    /// The checks one table can fail on its own. `key` is `mcp.servers.NAME` or
    /// `mcpServers.NAME`, as the file spells it.
    fn check(&self, name: &str, key: &str) -> Result<(), ConfigFileError> {
        let o = &self.origin;
        check_name(name, o)?;
        let at = |k: &str, m: &str| err(o, format!("key `{key}.{k}`: {m}"));
        if self.command.is_some() && self.url.is_some() {
            return Err(at("url", "a server has either `command` (stdio) or `url` (streamable HTTP), not both"));
        }
        if self.command.as_deref().is_some_and(|c| c.trim().is_empty()) {
            return Err(at("command", "is empty"));
        }
        if self.url.is_some() {
            for (k, present) in [("args", self.args.is_some()), ("env", !self.env.is_empty()), ("cwd", self.cwd.is_some())] {
                if present {
                    return Err(at(k, "belongs to a stdio server (`command`), not to an HTTP one (`url`)"));
                }
            }
        }
        if self.command.is_some() && !self.headers.is_empty() {
            return Err(at("headers", "belongs to an HTTP server (`url`), not to a stdio one (`command`)"));
        }
        if !self.defines() && (self.args.is_some() || !self.env.is_empty() || self.cwd.is_some() || !self.headers.is_empty()) {
            return Err(err(o, format!("`{key}`: needs `command` (a stdio server) or `url` (a streamable HTTP server)")));
        }
        if let Some(u) = &self.url
            && !(u.starts_with("http://") || u.starts_with("https://") || u.starts_with("${"))
        {
            return Err(at("url", &format!("`{u}` is not an http:// or https:// URL")));
        }
        if let Some(t) = &self.timeout {
            timeout(t).map_err(|m| at("timeout", &m))?;
        }
        if let Some(t) = &self.startup_timeout {
            timeout(t).map_err(|m| at("startup-timeout", &m))?;
        }
        if let Some(tools) = &self.tools
            && let Some(bad) = tools.iter().find(|t| t.trim().is_empty())
        {
            return Err(at("tools", &format!("`{bad}` is not a tool name")));
        }
        Ok(())
    }

    /// This entry over `lower` (the same server from a lower layer).
    fn over(self, lower: Option<ServerConfig>) -> ServerConfig {
        match lower {
            Some(mut l) if !self.defines() => {
                if self.enabled.is_some() {
                    l.enabled = self.enabled;
                }
                if self.tools.is_some() {
                    l.tools = self.tools;
                }
                if self.timeout.is_some() {
                    l.timeout = self.timeout;
                }
                if self.startup_timeout.is_some() {
                    l.startup_timeout = self.startup_timeout;
                }
                l
            }
            _ => self,
        }
    }
}

fn timeout(t: &TimeoutValue) -> Result<Duration, String> {
    let d = match t {
        TimeoutValue::Secs(s) if s.is_finite() && *s > 0.0 => Duration::from_secs_f64(*s),
        TimeoutValue::Secs(s) => return Err(format!("must be a positive number of seconds, not {s}")),
        TimeoutValue::Text(s) => crate::config::settings::parse_duration(s)?,
    };
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

impl McpSection {
    /// Called by the config parser: records where each table is and checks it.
    pub fn checked(mut self, text: &str, file: &Path) -> Result<McpSection, ConfigFileError> {
        for (name, s) in self.servers.iter_mut() {
            s.origin = Origin { file: file.display().to_string(), line: toml_table_line(text, name), workspace_file: false };
            s.check(name, &format!("mcp.servers.{name}"))?;
        }
        Ok(self)
    }

    /// `over` (a later config file) over this one.
    pub fn overlay(mut self, over: McpSection) -> McpSection {
        for (name, s) in over.servers {
            let lower = self.servers.remove(&name);
            self.servers.insert(name, s.over(lower));
        }
        self
    }
}

/// The line of `[mcp.servers.NAME]` (or of `NAME = {…}` under `[mcp.servers]`), 0 if not found.
fn toml_table_line(text: &str, name: &str) -> usize {
    let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let headers = [squeeze(&format!("[mcp.servers.{name}]")), squeeze(&format!("[mcp.servers.\"{name}\"]"))];
    let name = squeeze(name);
    let mut in_servers = false;
    for (i, line) in text.lines().enumerate() {
        let t = squeeze(line);
        if headers.iter().any(|h| t.starts_with(h.as_str())) {
            return i + 1;
        }
        if t.starts_with('[') {
            in_servers = t.starts_with("[mcp.servers]");
        } else if in_servers && (t.starts_with(&format!("{name}=")) || t.starts_with(&format!("\"{name}\"="))) {
            return i + 1;
        }
    }
    0
}

/// `.mcp.json` as Claude Code writes it. Fields other tools add are ignored.
#[derive(Debug, Deserialize)]
struct McpJson {
    #[serde(rename = "mcpServers", default)]
    servers: BTreeMap<String, JsonServer>,
}

#[derive(Debug, Deserialize)]
struct JsonServer {
    #[serde(rename = "type")]
    kind: Option<String>,
    command: Option<String>,
    args: Option<Vec<String>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    cwd: Option<String>,
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// Servers by name, and why those endure cannot speak to are unusable.
type McpJsonServers = (BTreeMap<String, ServerConfig>, BTreeMap<String, String>);

/// Reads `<workspace>/.mcp.json`; a missing file defines nothing.
fn read_mcp_json(workspace: &Path) -> Result<McpJsonServers, ConfigFileError> {
    let path = workspace.join(".mcp.json");
    let file = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => return Err(ConfigFileError { file, line: 0, col: 0, message: e.to_string() }),
    };
    let parsed: McpJson = serde_json::from_str(&text).map_err(|e| {
        let key = json_key_on_line(&text, e.line()).map(|k| format!("key `{k}`: ")).unwrap_or_default();
        ConfigFileError { file: file.clone(), line: e.line(), col: e.column(), message: format!("{key}{e}") }
    })?;
    let mut servers = BTreeMap::new();
    let mut unsupported = BTreeMap::new();
    for (name, j) in parsed.servers {
        let origin = Origin { file: file.clone(), line: json_key_line(&text, &name), workspace_file: true };
        let key = format!("mcpServers.{name}");
        match j.kind.as_deref() {
            None | Some("stdio") | Some("http") | Some("streamable-http") | Some("streamableHttp") => {}
            Some("sse") => {
                unsupported.insert(
                    name.clone(),
                    "`type: sse` (the deprecated HTTP+SSE transport) is not supported; endure speaks stdio and streamable HTTP (`type: http`)".to_string(),
                );
            }
            Some(other) => return Err(err(&origin, format!("key `{key}.type`: unknown transport `{other}` (use stdio or http)"))),
        }
        match j.kind.as_deref() {
            Some("stdio") if j.command.is_none() => return Err(err(&origin, format!("`{key}`: `type: stdio` needs `command`"))),
            Some("http" | "streamable-http" | "streamableHttp") if j.url.is_none() => {
                return Err(err(&origin, format!("`{key}`: `type: http` needs `url`")));
            }
            _ => {}
        }
        let c = ServerConfig {
            command: j.command,
            args: j.args,
            env: j.env,
            cwd: j.cwd,
            url: j.url,
            headers: j.headers,
            origin,
            ..Default::default()
        };
        if !c.defines() && !unsupported.contains_key(&name) {
            return Err(err(&c.origin, format!("`{key}`: needs `command` (a stdio server) or `url` (an HTTP server)")));
        }
        if !unsupported.contains_key(&name) {
            c.check(&name, &key)?;
        }
        servers.insert(name, c);
    }
    Ok((servers, unsupported))
}

/// The line of `"NAME":` in a JSON text, 0 if not found.
fn json_key_line(text: &str, name: &str) -> usize {
    let needle = format!("\"{name}\"");
    text.lines().position(|l| l.trim_start().starts_with(&needle) && l.contains(':')).map_or(0, |i| i + 1)
}

fn json_key_on_line(text: &str, line: usize) -> Option<String> {
    let l = text.lines().nth(line.checked_sub(1)?)?;
    let rest = l.trim_start().strip_prefix('"')?;
    let (k, after) = rest.split_once('"')?;
    after.trim_start().starts_with(':').then(|| k.to_string())
}

/// The servers a session in `workspace` uses: `.mcp.json` under the config files' `[mcp]`.
/// A definition that does not hold together is an error naming its file and key; one that
/// cannot be used here (a variable, a transport, the network) is kept with the reason.
pub fn resolve(workspace: &Path, section: &McpSection, ctx: &ResolveContext<'_>) -> Result<Vec<ServerSpec>, ConfigFileError> {
    let (mut merged, unsupported) = read_mcp_json(workspace)?;
    for (name, s) in section.servers.clone() {
        let lower = merged.remove(&name);
        if lower.is_none() && !s.defines() {
            return Err(err(
                &s.origin,
                format!(
                    "`mcp.servers.{name}`: needs `command` (a stdio server) or `url` (a streamable HTTP server); no server of that name is defined in .mcp.json or a lower config file for it to adjust"
                ),
            ));
        }
        merged.insert(name, s.over(lower));
    }
    let mut specs = Vec::new();
    for (name, c) in merged {
        let limit = |t: &Option<TimeoutValue>, key: &str, default| match t {
            Some(t) => timeout(t).map_err(|m| err(&c.origin, format!("key `mcp.servers.{name}.{key}`: {m}"))),
            None => Ok(default),
        };
        let call_timeout = limit(&c.timeout, "timeout", DEFAULT_TIMEOUT)?;
        let startup_timeout = limit(&c.startup_timeout, "startup-timeout", DEFAULT_STARTUP_TIMEOUT)?;
        // A config file that redefined the server replaced what .mcp.json could not express.
        let mut unusable = unsupported.get(&name).filter(|_| c.origin.workspace_file).cloned();
        let transport = match expand_server(&name, &c, workspace, ctx) {
            Ok(t) => Some(t),
            Err(reason) => {
                unusable.get_or_insert(reason);
                None
            }
        };
        if let (Some(Transport::Http { .. }), true, false) = (&transport, c.origin.workspace_file, ctx.network_on) {
            unusable.get_or_insert(format!(
                "an HTTP server defined in .mcp.json is not used while the network is off: endure reaches it outside the sandbox, and .mcp.json is workspace content the agent can write. \
                 Define `{name}` under [mcp.servers.{name}] in ~/.config/endure/config.toml or .endure/config.toml, or run with --network on"
            ));
        }
        let transport = transport.unwrap_or_else(|| Transport::Stdio {
            command: c.command.clone().unwrap_or_default(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
        });
        specs.push(ServerSpec {
            name,
            transport,
            enabled: c.enabled.unwrap_or(true),
            tools: c.tools.clone(),
            timeout: call_timeout,
            startup_timeout,
            source: c.origin.file.clone(),
            unusable,
        });
    }
    Ok(specs)
}

/// The transport with every `${VAR}` replaced.
fn expand_server(name: &str, c: &ServerConfig, workspace: &Path, ctx: &ResolveContext<'_>) -> Result<Transport, String> {
    let prefix = if c.origin.workspace_file { format!("mcpServers.{name}") } else { format!("mcp.servers.{name}") };
    let x = |key: &str, v: &str| {
        expand(v, &|var| lookup(var, c.origin.workspace_file, ctx))
            .map_err(|m| format!("cannot expand `{prefix}.{key}` of {}: {m}", c.origin.file))
    };
    if let Some(url) = &c.url {
        let url = x("url", url)?;
        let headers = c.headers.iter().map(|(k, v)| Ok((k.clone(), x(&format!("headers.{k}"), v)?))).collect::<Result<Vec<_>, String>>()?;
        return Ok(Transport::Http { url, headers });
    }
    let command = x("command", c.command.as_deref().unwrap_or_default())?;
    let args = c.args.iter().flatten().enumerate().map(|(i, a)| x(&format!("args[{i}]"), a)).collect::<Result<Vec<_>, String>>()?;
    let env = c.env.iter().map(|(k, v)| Ok((k.clone(), x(&format!("env.{k}"), v)?))).collect::<Result<Vec<_>, String>>()?;
    let cwd = match &c.cwd {
        Some(d) => {
            let d = PathBuf::from(x("cwd", d)?);
            Some(if d.is_relative() { workspace.join(d) } else { d })
        }
        None => None,
    };
    Ok(Transport::Stdio { command, args, env, cwd })
}

/// The value of `${var}`: None when unset; an error when `.mcp.json` may not have it.
fn lookup(var: &str, workspace_file: bool, ctx: &ResolveContext<'_>) -> Result<Option<String>, String> {
    if workspace_file {
        let keep = ctx.env_policy.is_some_and(|p| p.keep.iter().any(|k| k == var));
        let is_key = ctx.env_policy.is_some_and(|p| p.api_key_env.as_deref() == Some(var));
        if is_key || (crate::sandbox::env::is_secret_name(var) && !keep) {
            return Err(format!(
                "`${{{var}}}` looks like a secret, and .mcp.json is workspace content the agent can write, so endure does not expand it there; \
                 define this server in ~/.config/endure/config.toml (or .endure/config.toml) instead"
            ));
        }
    }
    Ok(std::env::var(var).ok())
}

/// Expands `${VAR}` and `${VAR:-default}`; a `$` not followed by `{` is kept as it is.
pub(crate) fn expand(text: &str, get: &dyn Fn(&str) -> Result<Option<String>, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("`${{` without a closing `}}` in `{text}`"));
        };
        let inner = &after[..end];
        let (var, default) = match inner.split_once(":-") {
            Some((v, d)) => (v, Some(d)),
            None => (inner, None),
        };
        if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`${{{inner}}}` is not a variable name"));
        }
        match (get(var)?, default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return Err(format!("the environment variable `{var}` is not set")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Values from config.toml that may be secrets (every header value, and `env` values whose
/// names look like secrets), for the redactor: what a server is given must not reach the log
/// when a server or an error echoes it.
pub fn secret_values(section: &McpSection) -> Vec<String> {
    let mut out = Vec::new();
    let get = |var: &str| Ok(std::env::var(var).ok());
    for s in section.servers.values() {
        let env = s.env.iter().filter(|(k, v)| crate::sandbox::env::is_secret_name(k) || names_a_secret(v)).map(|(_, v)| v);
        for v in s.headers.values().chain(env) {
            if let Ok(v) = expand(v, &get) {
                // The header's scheme word alone ("Bearer") is not the secret.
                let v = v.split_once(' ').map_or(v.as_str(), |(_, t)| t).trim().to_string();
                if !v.is_empty() {
                    out.push(v);
                }
            }
        }
    }
    out
}

/// True when `text` expands a variable whose name looks like a secret.
fn names_a_secret(text: &str) -> bool {
    text.split("${").skip(1).any(|rest| {
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        crate::sandbox::env::is_secret_name(&name)
    })
}
