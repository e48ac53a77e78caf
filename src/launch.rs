//! Turning layered options into a runtime configuration: provider, key, models, budgets.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::agent::{AgentConfig, Budgets, CycleSettings, MaxModeSettings, MemorySettings, Supervision, VerifierSettings};
use crate::config::prices::ModelTable;
use crate::config::settings::{RunOptions, parse_duration};
use crate::model::options::MIN_THINKING_BUDGET;
use crate::model::scripted::Scenario;
use crate::model::{self, ProviderKind, ProviderSettings, RequestOptions, RetryPolicy, Secret};
use crate::protocol::RoleModels;
use crate::redact::Redactor;
use crate::tools::ToolLimits;

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Scenario(#[from] crate::model::scripted::ScenarioError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
}

/// Default stall threshold: tool calls in a row without a file or test change.
pub const DEFAULT_STALL_AFTER: u32 = 50;

fn default_model(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Openai => "gpt-4.1",
        ProviderKind::OpenaiResponses => "gpt-5",
        ProviderKind::Anthropic => "claude-sonnet-4-5",
        ProviderKind::Scripted => "scripted",
    }
}

pub fn provider_kind(opts: &RunOptions) -> Result<ProviderKind, LaunchError> {
    match opts.provider.as_deref() {
        Some(p) => p.parse().map_err(LaunchError::Invalid),
        // With a script and no provider, the script is what the user wants to run.
        None if opts.script.is_some() => Ok(ProviderKind::Scripted),
        None => Ok(ProviderKind::Openai),
    }
}

pub fn role_models(opts: &RunOptions, kind: ProviderKind) -> RoleModels {
    let agent = opts.model.clone().unwrap_or_else(|| default_model(kind).to_string());
    RoleModels {
        writer: opts.writer_model.clone().unwrap_or_else(|| agent.clone()),
        verifier: opts.verifier_model.clone().unwrap_or_else(|| agent.clone()),
        judge: opts.judge_model.clone().unwrap_or_else(|| agent.clone()),
        agent,
    }
}

/// Builds the runtime configuration. `default_speed` is the scripted pace when `--speed` is
/// not given (the workbench defaults to human pace, headless to none).
pub fn agent_config(
    workspace: &Path,
    opts: &RunOptions,
    task: Option<String>,
    supervision: Supervision,
    default_speed: f64,
) -> Result<AgentConfig, LaunchError> {
    let kind = provider_kind(opts)?;
    let (key_env, api_key) = api_key(opts, kind);
    let sandbox = sandbox_policy(opts, key_env.clone(), api_key.clone());
    crate::sandbox::check_required(&sandbox).map_err(|e| LaunchError::Invalid(e.to_string()))?;
    let mcp = mcp_servers(workspace, opts, &sandbox)?;
    let script = match (kind, &opts.script) {
        (ProviderKind::Scripted, Some(p)) => Some(Arc::new(Scenario::load(p)?)),
        (ProviderKind::Scripted, None) => {
            return Err(LaunchError::Invalid("--provider scripted needs --script FILE".into()));
        }
        _ => None,
    };
    let speed = opts.speed.unwrap_or(default_speed);
    if !(speed.is_finite() && speed >= 0.0) {
        return Err(LaunchError::Invalid(format!("--speed must be 0 or more, not {speed}")));
    }
    let base_url = opts.base_url.clone().or_else(|| kind.default_base_url().map(str::to_string));
    let models = role_models(opts, kind);
    let prices = ModelTable::with_overrides(&opts.models);
    let options = request_options(opts, kind, &models.agent, &prices)?;
    let provider = model::build(&ProviderSettings {
        kind,
        base_url: base_url.clone(),
        api_key,
        script,
        speed,
        connect_timeout: Duration::from_secs(30),
        options,
    })?;
    let max_time = opts.max_time.as_deref().map(parse_duration).transpose().map_err(LaunchError::Invalid)?;
    let mut retry = RetryPolicy::default();
    if let Some(n) = opts.max_attempts {
        retry.max_attempts = n.max(1);
    }
    if let Some(ms) = opts.retry_base_ms {
        retry.base_delay = Duration::from_millis(ms);
    }
    if let Some(s) = opts.stream_idle_timeout {
        if !(s.is_finite() && s > 0.0) {
            return Err(LaunchError::Invalid(format!("--stream-idle-timeout must be positive, not {s}")));
        }
        retry.idle_timeout = Duration::from_secs_f64(s);
    }
    let mut tool_limits = ToolLimits::default();
    if let Some(t) = opts.run_timeout {
        tool_limits.default_timeout = Duration::from_secs(t.max(1));
    }
    Ok(AgentConfig {
        workspace: workspace.to_path_buf(),
        task,
        provider,
        provider_name: kind.as_str().to_string(),
        base_url: base_url.filter(|_| kind != ProviderKind::Scripted),
        context_budget: opts.context_budget.unwrap_or_else(|| prices.context(&models.agent)),
        models,
        budgets: Budgets { max_steps: opts.max_steps, max_tokens: opts.max_tokens, max_cost: opts.max_cost, max_time },
        stall_after: opts.stall_after.unwrap_or(DEFAULT_STALL_AFTER),
        supervision,
        notify: opts.notify_command().map(str::to_string),
        retry,
        tool_limits,
        temperature: opts.temperature,
        max_output_tokens: opts.max_output_tokens.unwrap_or(8192),
        prices,
        recorded_config: recorded(opts),
        session_id: None,
        cycles: cycle_settings(opts)?,
        memory: MemorySettings {
            dream_every: every(opts.dream_every.as_deref(), "--dream-every", MemorySettings::default().dream_every)?,
            distill_every: every(opts.distill_every.as_deref(), "--distill-every", MemorySettings::default().distill_every)?,
        },
        resume: None,
        redactor: redactor(opts),
        verifier: VerifierSettings {
            enabled: true,
            goal: opts.goal.clone().filter(|g| !g.trim().is_empty()),
            max_rejections: opts.max_rejections.unwrap_or(VerifierSettings::default().max_rejections).max(1),
        },
        max_mode: MaxModeSettings {
            candidates: match opts.max_mode {
                None | Some(0) => None,
                Some(n @ 2..=16) => Some(n),
                Some(n) => return Err(LaunchError::Invalid(format!("--max-mode takes 2 to 16 candidates (or 0 for off), not {n}"))),
            },
            temperature: match opts.candidate_temperature {
                None => 1.0,
                Some(t) if (0.0..=2.0).contains(&t) => t,
                Some(t) => return Err(LaunchError::Invalid(format!("--candidate-temperature must be between 0 and 2, not {t}"))),
            },
            review_picks: opts.review_picks.unwrap_or(false),
        },
        sandbox,
        mcp,
        child: None,
        workflow: Default::default(),
        fork: None,
    })
}

/// The MCP servers a session with these options uses (see [`crate::mcp::config`]).
pub fn mcp_servers(
    workspace: &Path,
    opts: &RunOptions,
    sandbox: &crate::sandbox::Policy,
) -> Result<Vec<crate::mcp::ServerSpec>, LaunchError> {
    use crate::sandbox::{NetworkMode, SandboxMode};
    let ctx = crate::mcp::config::ResolveContext {
        env_policy: Some(&sandbox.env),
        network_on: sandbox.network == NetworkMode::On || sandbox.mode == SandboxMode::Off,
    };
    crate::mcp::config::resolve(workspace, &opts.mcp, &ctx).map_err(|e| LaunchError::Invalid(e.to_string()))
}

/// `--reasoning-effort` and `--thinking`, checked against the provider that would receive them:
/// a flag the API cannot take is an error rather than silently dropped. The scripted provider
/// takes both and ignores them, so a project's config may set them for its real runs.
fn request_options(opts: &RunOptions, kind: ProviderKind, agent_model: &str, prices: &ModelTable) -> Result<RequestOptions, LaunchError> {
    if let Some(effort) = opts.reasoning_effort
        && kind == ProviderKind::Anthropic
    {
        return Err(LaunchError::Invalid(format!(
            "--reasoning-effort {} is for --provider openai or openai-responses; Anthropic models think with --thinking BUDGET",
            effort.as_str()
        )));
    }
    if let Some(budget) = opts.thinking {
        if matches!(kind, ProviderKind::Openai | ProviderKind::OpenaiResponses) {
            return Err(LaunchError::Invalid(format!(
                "--thinking {budget} is for --provider anthropic; OpenAI reasoning models take --reasoning-effort low|medium|high"
            )));
        }
        if budget < MIN_THINKING_BUDGET {
            return Err(LaunchError::Invalid(format!("--thinking takes a budget of at least {MIN_THINKING_BUDGET} tokens, not {budget}")));
        }
        if let Some(max) = prices.max_output(agent_model).filter(|m| u64::from(budget) >= *m) {
            return Err(LaunchError::Invalid(format!(
                "--thinking {budget} leaves no room for an answer: {agent_model} writes at most {max} tokens per answer"
            )));
        }
    }
    Ok(RequestOptions { reasoning_effort: opts.reasoning_effort, thinking_budget: opts.thinking, models: prices.clone() })
}

/// The redactor for a run with these options: the key in the variable named by
/// `--api-key-env` (or the provider's default), and the keys of both known providers, which
/// may sit in the environment whichever provider this run uses.
pub fn redactor(opts: &RunOptions) -> Redactor {
    let named = opts.api_key_env.clone().or_else(|| provider_kind(opts).ok().and_then(|k| k.default_key_env()).map(str::to_string));
    let vars = named
        .into_iter()
        .chain([ProviderKind::Openai, ProviderKind::Anthropic].into_iter().filter_map(|k| k.default_key_env()).map(str::to_string));
    // What config.toml gives MCP servers (tokens in headers, secret variables) is secret too.
    Redactor::new(vars.filter_map(|v| std::env::var(v).ok()).chain(crate::mcp::config::secret_values(&opts.mcp)))
}

/// The sandbox policy a run with these options gets (for commands that start servers outside
/// a session, like `endure mcp list`).
pub fn policy(opts: &RunOptions) -> Result<crate::sandbox::Policy, LaunchError> {
    let (key_env, api_key) = api_key(opts, provider_kind(opts)?);
    Ok(sandbox_policy(opts, key_env, api_key))
}

/// The variable that holds the API key (by `--api-key-env` or the provider), and its value.
fn api_key(opts: &RunOptions, kind: ProviderKind) -> (Option<String>, Option<Secret>) {
    let key_env = opts.api_key_env.clone().or_else(|| kind.default_key_env().map(str::to_string));
    let api_key = key_env.as_deref().and_then(|v| std::env::var(v).ok()).filter(|k| !k.is_empty()).map(Secret::new);
    (key_env, api_key)
}

/// The sandbox policy from the options; the key's variable and value are always scrubbed.
fn sandbox_policy(opts: &RunOptions, api_key_env: Option<String>, api_key: Option<Secret>) -> crate::sandbox::Policy {
    crate::sandbox::Policy {
        mode: opts.sandbox.unwrap_or_default(),
        network: opts.network.unwrap_or_default(),
        approve_escalations: opts.approve_escalations.unwrap_or(false),
        env: crate::sandbox::EnvPolicy {
            api_key_env,
            api_key,
            keep: opts.env_keep.clone().unwrap_or_default(),
            remove: opts.env_remove.clone().unwrap_or_default(),
        },
    }
}

fn cycle_settings(opts: &RunOptions) -> Result<CycleSettings, LaunchError> {
    let mut c = CycleSettings::default();
    if let Some(list) = &opts.checkpoints {
        let mut list = list.clone();
        list.sort_unstable();
        list.dedup();
        if list.iter().any(|p| *p == 0 || *p >= 100) {
            return Err(LaunchError::Invalid(format!("--checkpoints takes percentages from 1 to 99, not {list:?}")));
        }
        c.checkpoints = list;
    }
    if let Some(r) = opts.rollover {
        if r == 0 || r > 100 {
            return Err(LaunchError::Invalid(format!("--rollover takes a percentage from 1 to 100, not {r}")));
        }
        c.rollover_pct = r;
    }
    c.review_rebuilds = opts.review_rebuilds.unwrap_or(false);
    Ok(c)
}

/// `never` or `off` disables; otherwise a duration.
fn every(v: Option<&str>, flag: &str, default: Option<Duration>) -> Result<Option<Duration>, LaunchError> {
    match v {
        None => Ok(default),
        Some("never" | "off") => Ok(None),
        Some(d) => parse_duration(d).map(Some).map_err(|e| LaunchError::Invalid(format!("{flag}: {e}"))),
    }
}

/// The options as recorded in `session_started`: what `endure resume` reuses. Paths are made
/// absolute, since a resume may run from another directory.
fn recorded(opts: &RunOptions) -> serde_json::Value {
    let mut o = opts.clone();
    if let Some(p) = &o.script {
        o.script = Some(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()));
    }
    serde_json::to_value(o).unwrap_or_default()
}

/// The options a resumed session runs with: those recorded at its start, overridden by the
/// flags given again.
pub fn resumed_options(info: &crate::protocol::SessionInfo, flags: RunOptions) -> Result<RunOptions, LaunchError> {
    let recorded: RunOptions = serde_json::from_value(info.config.clone())
        .map_err(|e| LaunchError::Invalid(format!("the session's recorded settings cannot be read: {e}")))?;
    Ok(recorded.overlay(flags))
}
