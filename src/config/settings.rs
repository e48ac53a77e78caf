//! Run settings: the same struct is the command-line flags and the config files' schema, so
//! every flag is settable in `~/.config/endure/config.toml` and `<workspace>/.endure/config.toml`.
//! The project file overrides the user file, and flags override both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::prices::ModelInfo;
use super::{describe_toml_error, line_col};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RunOptions {
    /// Model API: openai (any OpenAI-compatible server), openai-responses (OpenAI's Responses
    /// API), anthropic, or scripted.
    #[arg(long)]
    pub provider: Option<String>,
    /// Base URL of the API (openai: including /v1; anthropic: without it).
    #[arg(long)]
    pub base_url: Option<String>,
    /// The agent's model.
    #[arg(long)]
    pub model: Option<String>,
    /// Model for the checkpoint writer (defaults to --model).
    #[arg(long)]
    pub writer_model: Option<String>,
    /// Model for the goal verifier (defaults to --model).
    #[arg(long)]
    pub verifier_model: Option<String>,
    /// Model for the Max Mode judge (defaults to --model).
    #[arg(long)]
    pub judge_model: Option<String>,
    /// Environment variable that holds the API key (default OPENAI_API_KEY or ANTHROPIC_API_KEY).
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// Scenario file for --provider scripted (JSON or TOML).
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// Pace of scripted answers: 1 = human pace, 0 = no delay.
    #[arg(long, value_name = "FACTOR")]
    pub speed: Option<f64>,
    /// Stop after this many steps.
    #[arg(long, value_name = "N")]
    pub max_steps: Option<u64>,
    /// Stop after this many tokens in all (prompt and completion, every role).
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u64>,
    /// Stop after this cost in USD (from the price table; unknown models cost 0).
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
    /// Stop after this much wall time, e.g. 90s, 30m, 2h, 1h30m.
    #[arg(long, value_name = "DURATION")]
    pub max_time: Option<String>,
    /// Pause (workbench) or stop (headless) after N tool calls that changed no file and no test outcome.
    #[arg(long, value_name = "N")]
    pub stall_after: Option<u32>,
    /// Context window budget in tokens (default from the model table, else 128000).
    #[arg(long, value_name = "N")]
    pub context_budget: Option<u64>,
    /// Sampling temperature for the agent.
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Most tokens a single answer may have.
    #[arg(long, value_name = "N")]
    pub max_output_tokens: Option<u32>,
    /// Reasoning effort of the agent's model (openai, openai-responses), passed as the API's
    /// `reasoning_effort` / `reasoning.effort`.
    #[arg(long, value_enum, value_name = "low|medium|high")]
    pub reasoning_effort: Option<crate::model::ReasoningEffort>,
    /// Anthropic extended thinking for the agent, with a budget of BUDGET tokens (1024 or more).
    #[arg(long, value_name = "BUDGET")]
    pub thinking: Option<u32>,
    /// Attempts per model request before giving up on transient failures.
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,
    /// First retry delay in milliseconds (doubles each attempt, with jitter).
    #[arg(long, value_name = "MS")]
    pub retry_base_ms: Option<u64>,
    /// Seconds a stream may stay silent before it counts as disconnected.
    #[arg(long, value_name = "SECS")]
    pub stream_idle_timeout: Option<f64>,
    /// Default timeout of the `run` tool, in seconds.
    #[arg(long, value_name = "SECS")]
    pub run_timeout: Option<u64>,
    /// Context fill percentages at which the background writer saves a checkpoint.
    #[arg(long, value_name = "PCTS", value_delimiter = ',')]
    pub checkpoints: Option<Vec<u32>>,
    /// Context fill percentage at which a fresh window is rebuilt from the newest checkpoint.
    #[arg(long, value_name = "PCT")]
    pub rollover: Option<u32>,
    /// Consolidate MEMORY.md at session start when the last dream is older than this (e.g. 7d).
    #[arg(long, value_name = "DURATION")]
    pub dream_every: Option<String>,
    /// Distill past sessions into skills when the last distill is older than this (e.g. 30d).
    #[arg(long, value_name = "DURATION")]
    pub distill_every: Option<String>,
    /// The completion condition the goal verifier checks a claim of done against (default: the task).
    #[arg(long)]
    pub goal: Option<String>,
    /// Pause for the supervisor (headless: stop, exit 2) after this many rejections in a row.
    #[arg(long, value_name = "K")]
    pub max_rejections: Option<u32>,
    /// Max Mode: N candidate steps in parallel and a judge picks one (N = 5 without a value; 0 = off).
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "5")]
    pub max_mode: Option<u32>,
    /// Sampling temperature of Max Mode candidates.
    #[arg(long, value_name = "T")]
    pub candidate_temperature: Option<f32>,
    /// Max Mode: wait for the supervisor to confirm or change every pick (workbench).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub review_picks: Option<bool>,
    /// Propose every rebuilt context window for review before it applies: read, edit, pin,
    /// approve or veto it (workbench; headless rebuilds never wait). `--review-rebuilds=false`
    /// turns off what a config file turned on.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub review_rebuilds: Option<bool>,
    /// UI theme (workbench).
    #[arg(long)]
    pub theme: Option<String>,
    /// Keymap: default, vim or emacs (workbench).
    #[arg(long)]
    pub keymap: Option<String>,
    /// What `run` commands may write: workspace-write (default), read-only, off, or require
    /// (workspace-write, and refuse to start when this machine cannot enforce it).
    #[arg(long, value_enum, value_name = "MODE")]
    pub sandbox: Option<crate::sandbox::SandboxMode>,
    /// Network for `run` commands: off (default; loopback only) or on.
    #[arg(long, value_enum, value_name = "off|on")]
    pub network: Option<crate::sandbox::NetworkMode>,
    /// Approve every request to run a command outside the sandbox without asking.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub approve_escalations: Option<bool>,
    /// Environment variables commands keep although their names look like secrets.
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub env_keep: Option<Vec<String>>,
    /// Environment variables removed from commands' environment as well.
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub env_remove: Option<Vec<String>>,
    /// Run CMD whenever the session starts waiting for the supervisor: no shell, CMD split at
    /// whitespace, the session id and the reason appended (config: `[notify] command`).
    #[arg(long, value_name = "CMD")]
    #[serde(skip)]
    pub notify: Option<String>,
    /// `[notify]`: `command` (as --notify), `bell` and `title` (the workbench rings the
    /// terminal bell when the run starts waiting, and keeps the terminal's title on the
    /// session's state; both on unless set to false). Config files only.
    #[arg(skip)]
    #[serde(default, rename = "notify", skip_serializing_if = "NotifySection::is_empty")]
    pub notify_section: NotifySection,
    /// Extra or overriding model prices and context sizes (config files only).
    #[arg(skip)]
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, ModelInfo>,
    /// MCP servers, `[mcp.servers.NAME]` (config files only). Never recorded in
    /// `session_started`: headers and environment values may hold secrets, so a resumed
    /// session reads them from the config files again.
    #[arg(skip)]
    #[serde(default, skip_serializing)]
    pub mcp: crate::mcp::McpSection,
}

/// The `[notify]` section of a config file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct NotifySection {
    pub command: Option<String>,
    pub bell: Option<bool>,
    pub title: Option<bool>,
}

impl NotifySection {
    pub fn is_empty(&self) -> bool {
        self == &NotifySection::default()
    }

    fn overlay(self, over: NotifySection) -> NotifySection {
        NotifySection { command: over.command.or(self.command), bell: over.bell.or(self.bell), title: over.title.or(self.title) }
    }
}

macro_rules! overlay {
    ($base:ident, $over:ident; $($f:ident),*) => {
        $( if $over.$f.is_some() { $base.$f = $over.$f; } )*
    };
}

impl RunOptions {
    /// The notification hook's command: the flag, else `[notify] command`.
    pub fn notify_command(&self) -> Option<&str> {
        self.notify.as_deref().or(self.notify_section.command.as_deref()).filter(|c| !c.trim().is_empty())
    }

    /// Fields set in `over` replace those in `self`.
    pub fn overlay(mut self, over: RunOptions) -> RunOptions {
        overlay!(self, over; provider, base_url, model, writer_model, verifier_model, judge_model,
            api_key_env, script, speed, max_steps, max_tokens, max_cost, max_time, stall_after,
            context_budget, temperature, max_output_tokens, reasoning_effort, thinking, max_attempts, retry_base_ms,
            stream_idle_timeout, run_timeout, checkpoints, rollover, dream_every, distill_every, goal, max_rejections, max_mode,
            candidate_temperature, review_picks, review_rebuilds, theme, keymap, sandbox, network, approve_escalations,
            env_keep, env_remove, notify);
        self.notify_section = self.notify_section.overlay(over.notify_section);
        self.models.extend(over.models);
        self.mcp = self.mcp.overlay(over.mcp);
        self
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{file}:{line}:{col}: {message}")]
pub struct ConfigFileError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// Reads one config file; a missing file is an empty one.
pub fn read_config_file(path: &Path) -> Result<RunOptions, ConfigFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RunOptions::default()),
        Err(e) => {
            return Err(ConfigFileError { file: path.display().to_string(), line: 0, col: 0, message: e.to_string() });
        }
    };
    parse_config(&text, path)
}

pub fn parse_config(text: &str, path: &Path) -> Result<RunOptions, ConfigFileError> {
    let mut opts: RunOptions = toml::from_str(text).map_err(|e| {
        let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
        let key = key_on_line(text, line);
        let described = describe_toml_error(text, &e);
        let msg = described.split_once(": ").map(|(_, m)| m.to_string()).unwrap_or(described);
        let message = match key {
            Some(k) if !msg.contains(&format!("`{k}`")) => format!("key `{k}`: {msg}"),
            _ => msg,
        };
        ConfigFileError { file: path.display().to_string(), line, col, message }
    })?;
    opts.mcp = std::mem::take(&mut opts.mcp).checked(text, path)?;
    // A relative script path in a config file means relative to that file's folder.
    if let (Some(script), Some(dir)) = (&opts.script, path.parent())
        && script.is_relative()
    {
        let base = if dir.file_name().is_some_and(|n| n == ".endure") { dir.parent().unwrap_or(dir) } else { dir };
        opts.script = Some(base.join(script));
    }
    Ok(opts)
}

fn key_on_line(text: &str, line: usize) -> Option<String> {
    let l = text.lines().nth(line.checked_sub(1)?)?;
    let (k, _) = l.split_once('=')?;
    let k = k.trim().trim_matches('"');
    (!k.is_empty() && !k.starts_with('[')).then(|| k.to_string())
}

/// The user's and the project's config files, in the order they apply.
pub fn config_files(workspace: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(dir) = super::paths::user_config_dir() {
        files.push(dir.join("config.toml"));
    }
    files.push(workspace.join(".endure").join("config.toml"));
    files
}

/// user file, then project file, then flags.
pub fn load_layered(workspace: &Path, flags: RunOptions) -> Result<RunOptions, ConfigFileError> {
    let mut opts = RunOptions::default();
    for f in config_files(workspace) {
        opts = opts.overlay(read_config_file(&f)?);
    }
    Ok(opts.overlay(flags))
}

/// Parses `90`, `90s`, `30m`, `2h`, `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return if secs.is_finite() && secs >= 0.0 { Ok(Duration::from_secs_f64(secs)) } else { Err(format!("bad duration `{s}`")) };
    }
    let mut total = 0u64;
    let mut num = String::new();
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            num.push(ch);
            continue;
        }
        let n: u64 = num.parse().map_err(|_| format!("bad duration `{s}` (use e.g. 90s, 30m, 2h, 1h30m)"))?;
        num.clear();
        total += n * match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(format!("bad duration `{s}`: unknown unit `{ch}` (use s, m, h or d)")),
        };
    }
    if !num.is_empty() {
        return Err(format!("bad duration `{s}`: a number needs a unit (s, m, h or d)"));
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = "provider = \"openai\"\nmax-stepz = 4\n";
        let err = parse_config(text, Path::new("/p/config.toml")).expect_err("must fail");
        assert_eq!((err.line, err.col), (2, 1), "{err}");
        assert!(err.message.contains("max-stepz"), "{err}");
        assert!(err.to_string().starts_with("/p/config.toml:2:1: "), "{err}");
    }

    #[test]
    fn bad_type_names_the_key() {
        let text = "max-steps = \"many\"\n";
        let err = parse_config(text, Path::new("c.toml")).expect_err("must fail");
        assert_eq!(err.line, 1);
        assert!(err.message.contains("max-steps"), "{err}");
    }

    #[test]
    fn layers_override_in_order() {
        let user = parse_config("model = \"a\"\nmax-steps = 10\n", Path::new("u")).unwrap();
        let project = parse_config("model = \"b\"\n", Path::new("p")).unwrap();
        let flags = RunOptions { max_steps: Some(3), ..Default::default() };
        let merged = RunOptions::default().overlay(user).overlay(project).overlay(flags);
        assert_eq!(merged.model.as_deref(), Some("b"));
        assert_eq!(merged.max_steps, Some(3));
    }

    #[test]
    fn the_notify_section_parses_and_the_flag_wins() {
        let o = parse_config("[notify]\ncommand = \"notify-send endure\"\nbell = false\n", Path::new("c.toml")).unwrap();
        assert_eq!((o.notify_command(), o.notify_section.bell, o.notify_section.title), (Some("notify-send endure"), Some(false), None));
        let flagged = o.overlay(RunOptions { notify: Some("my-hook".into()), ..RunOptions::default() });
        assert_eq!(flagged.notify_command(), Some("my-hook"));
        assert!(parse_config("[notify]\nbel = false\n", Path::new("c.toml")).is_err());
    }

    #[test]
    fn sandbox_keys_parse_and_bad_modes_name_the_key() {
        let text = "sandbox = \"read-only\"\nnetwork = \"on\"\napprove-escalations = true\nenv-keep = [\"KEYBOARD\"]\nenv-remove = [\"CORP_PROXY\"]\n";
        let o = parse_config(text, Path::new("c.toml")).unwrap();
        assert_eq!(
            (o.sandbox, o.network, o.approve_escalations),
            (Some(crate::sandbox::SandboxMode::ReadOnly), Some(crate::sandbox::NetworkMode::On), Some(true))
        );
        assert_eq!((o.env_keep.unwrap(), o.env_remove.unwrap()), (vec!["KEYBOARD".to_string()], vec!["CORP_PROXY".to_string()]));
        let err = parse_config("sandbox = \"loose\"\n", Path::new("c.toml")).expect_err("must fail");
        assert!(err.message.contains("sandbox") && err.line == 1, "{err}");
    }

    #[test]
    fn reasoning_keys_parse_and_bad_efforts_name_the_key() {
        let o = parse_config("reasoning-effort = \"high\"\nthinking = 8000\n", Path::new("c.toml")).unwrap();
        assert_eq!((o.reasoning_effort, o.thinking), (Some(crate::model::ReasoningEffort::High), Some(8000)));
        let err = parse_config("reasoning-effort = \"extreme\"\n", Path::new("c.toml")).expect_err("must fail");
        assert!(err.message.contains("reasoning-effort") && err.line == 1, "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("1h30").is_err());
    }
}
