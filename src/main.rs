//! The binary's edge: parse arguments, run, map outcomes to exit codes.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use endure::agent::{self, Supervision};
use endure::cli::{
    Cli, Command, ConfigCommand, DemoArgs, DoctorArgs, ExecArgs, McpCommand, McpListArgs, MemoryCommand, ReplayArgs, SessionsArgs,
    WorkflowCommand,
};
use endure::config::settings::RunOptions;
use endure::config::settings::load_layered;
use endure::headless::Headless;
use endure::launch;
use endure::protocol::Outcome;
use endure::redact::Redactor;
use endure::tui::{WorkbenchExit, WorkbenchOptions};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out(stderr_redactor(&cli));
    endure::model::install_tls();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            out.say(&format!("endure: cannot start the async runtime: {e}"));
            return ExitCode::from(1);
        }
    };
    match rt.block_on(dispatch(cli, &out)) {
        Ok(code) => code,
        Err(e) => {
            out.say(&format!("endure: {e:#}"));
            ExitCode::from(1)
        }
    }
}

/// What the binary prints itself (errors, summaries, listings) goes through here: the API key
/// redacted, control characters and escape sequences made visible.
#[derive(Clone)]
pub(crate) struct Out(Redactor);

impl Out {
    fn clean(&self, text: &str) -> String {
        endure::printable::visible(&self.0.redact(text)).into_owned()
    }

    /// A line on stderr. A closed terminal (after SIGHUP) or pipe is no reason to panic.
    pub(crate) fn say(&self, text: &str) {
        let _ = writeln!(std::io::stderr(), "{}", self.clean(text));
    }

    /// A line on stdout.
    pub(crate) fn print(&self, text: &str) {
        let _ = writeln!(std::io::stdout(), "{}", self.clean(text));
    }
}

/// The redactor for the binary's own messages, from the options the command was given (and
/// the workspace's config files, when they can be read): the same key the runtime redacts.
fn stderr_redactor(cli: &Cli) -> Redactor {
    let (dir, flags) = match &cli.command {
        None => (cli.workspace.dir(), cli.run.clone()),
        Some(Command::Exec(a)) => (a.workspace.dir(), a.run.clone()),
        Some(Command::Resume(a)) => (a.workspace.dir(), a.run.clone()),
        Some(Command::Memory(MemoryCommand::Dream(a) | MemoryCommand::Distill(a))) => (a.workspace.dir(), a.run.clone()),
        Some(Command::Sessions(a)) => (a.workspace.dir(), RunOptions::default()),
        Some(Command::Rollback(a)) => (a.workspace.dir(), RunOptions::default()),
        Some(Command::Replay(a)) => (a.workspace.dir(), RunOptions::default()),
        Some(Command::Config(ConfigCommand::Check(ws))) => (ws.dir(), RunOptions::default()),
        Some(Command::Checkpoints(a)) => (a.workspace.dir(), RunOptions::default()),
        Some(Command::Mcp(McpCommand::List(a))) => (a.workspace.dir(), a.run.clone()),
        Some(Command::Logs(a)) => (a.workspace.dir(), RunOptions::default()),
        Some(Command::Fork(a)) => (a.workspace.dir(), a.run.clone()),
        Some(Command::Tree(a)) => (a.workspace.dir(), RunOptions::default()),
        Some(Command::Attach(a)) => (a.workspace.dir(), RunOptions::default()),
        Some(Command::Fleet(a)) => (a.workspace.dir(), RunOptions::default()),
        Some(Command::Demo(_) | Command::Doctor(_) | Command::Ps(_) | Command::Stop(_)) => (cli.workspace.dir(), RunOptions::default()),
        Some(Command::Workflow(a)) => match &a.command {
            Some(WorkflowCommand::Run(r)) => (r.opts.workspace.dir(), r.opts.run.clone()),
            Some(WorkflowCommand::Resume(r)) => (r.workspace.dir(), r.run.clone()),
            Some(WorkflowCommand::List(l)) => (l.workspace.dir(), RunOptions::default()),
            None => (a.opts.workspace.dir(), a.opts.run.clone()),
        },
    };
    let opts = std::fs::canonicalize(&dir).ok().and_then(|ws| load_layered(&ws, flags.clone()).ok()).unwrap_or(flags);
    launch::redactor(&opts)
}

async fn dispatch(cli: Cli, out: &Out) -> Result<ExitCode> {
    match cli.command {
        None => {
            let workspace = workspace_dir(&cli.workspace.dir())?;
            if let Some(entry) = fleet_cmd::offer_attach(&workspace, out)? {
                return fleet_cmd::attach_to(entry, &workspace, None, None, out).await;
            }
            let opts = load_layered(&workspace, cli.run)?;
            let pending = cli.task.is_none();
            let cfg = launch::agent_config(&workspace, &opts, cli.task, Supervision::Supervised, 1.0)?;
            workbench(cfg, &opts, format!("endure — {}", workspace.display()), pending, out).await
        }
        Some(Command::Exec(args)) => exec(args, out).await,
        Some(Command::Sessions(args)) => sessions(args, out),
        Some(Command::Demo(args)) => demo(args, out).await,
        Some(Command::Replay(args)) => replay(args, out).await,
        Some(Command::Config(ConfigCommand::Check(ws))) => config_check(&ws.dir(), out),
        Some(Command::Resume(args)) => resume(args, out).await,
        Some(Command::Rollback(args)) => rollback(args, out),
        Some(Command::Memory(MemoryCommand::Dream(args))) => memory_dream(args, out).await,
        Some(Command::Memory(MemoryCommand::Distill(args))) => memory_distill(args, out).await,
        Some(Command::Doctor(args)) => doctor(args, out),
        Some(Command::Checkpoints(args)) => checkpoints(args, out),
        Some(Command::Mcp(McpCommand::List(args))) => mcp_list(args, out).await,
        Some(Command::Workflow(args)) => workflow_cmd::dispatch(*args, out).await,
        Some(Command::Ps(args)) => fleet_cmd::ps(args, out).await,
        Some(Command::Stop(args)) => fleet_cmd::stop(args, out).await,
        Some(Command::Logs(args)) => fleet_cmd::logs(args, out).await,
        Some(Command::Fork(args)) => tree_cmd::fork(*args, out).await,
        Some(Command::Tree(args)) => tree_cmd::tree(args, out),
        Some(Command::Attach(args)) => fleet_cmd::attach(args, out).await,
        Some(Command::Fleet(args)) => fleet_cmd::fleet(args, out).await,
    }
}

fn doctor(args: DoctorArgs, out: &Out) -> Result<ExitCode> {
    let report = endure::sandbox::doctor();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        out.print(report.render().trim_end());
    }
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `endure mcp list`: starts the servers as a session would, reports, stops them.
async fn mcp_list(args: McpListArgs, out: &Out) -> Result<ExitCode> {
    let workspace = workspace_dir(&args.workspace.dir())?;
    let opts = load_layered(&workspace, args.run)?;
    let policy = launch::policy(&opts)?;
    let specs = launch::mcp_servers(&workspace, &opts, &policy)?;
    if specs.is_empty() {
        if args.json {
            println!("[]");
        } else {
            out.print("no MCP servers are configured: add [mcp.servers.NAME] to config.toml, or a .mcp.json to the workspace");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (sandbox, warnings) = endure::sandbox::Sandbox::start(&policy, &workspace, "mcp-list");
    for w in warnings {
        out.say(&format!("endure: {w}"));
    }
    let notes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = notes.clone();
    let notify: endure::tools::process::Notify = std::sync::Arc::new(move |k| {
        if let endure::protocol::EventKind::Warning { message } = k {
            sink.lock().unwrap_or_else(|p| p.into_inner()).push(message);
        }
    });
    let servers = endure::mcp::McpServers::new(specs, std::sync::Arc::new(sandbox), notify);
    servers.start().await;
    let report = servers.report();
    servers.shutdown("listed");
    for n in notes.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        out.say(&format!("endure: {n}"));
    }
    let failed = report.iter().any(|s| s.state != "running" && s.state != "disabled");
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        out.0.redact_json(&mut v);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for s in &report {
            out.print(&format!("{}  {}  {}  {}", s.name, s.state, s.transport, s.target));
            out.print(&format!("  from {}", s.source));
            if let Some(r) = &s.reason {
                for (i, line) in r.lines().enumerate() {
                    out.print(&format!("  {}{line}", if i == 0 { "reason: " } else { "  " }));
                }
            }
            for t in &s.tools {
                let desc = t.description.lines().next().unwrap_or("");
                out.print(&format!("  {}  {}", t.name, desc));
            }
        }
    }
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The configuration of a session to continue: its recorded options with `flags` over them.
pub(crate) fn resume_config(
    workspace: &Path,
    session: Option<&str>,
    at: Option<String>,
    flags: RunOptions,
    supervision: Supervision,
) -> Result<Option<(agent::AgentConfig, RunOptions)>> {
    let id = endure::session::find_session(workspace, session.filter(|s| !s.is_empty())).map_err(anyhow::Error::msg)?;
    // A session another process runs (a detached one, say) may not have logged its start yet:
    // the lock is the answer, not the log.
    if let Some(holder) = endure::session::SessionLock::holder(&agent::session_dir(workspace, &id)) {
        return Err(endure::session::LockError::Held { session: id, pid: holder.pid }.into());
    }
    let read = endure::session::read_log(&endure::session::log_path(workspace, &id))?;
    let state = endure::session::SessionState::from_events(&read.events);
    let info = state.info.clone().context("the session's log has no session_started event")?;
    if at.is_none() && matches!(state.outcome, Some((Outcome::Done, _))) {
        return Ok(None);
    }
    let mut opts = launch::resumed_options(&info, flags)?;
    // MCP servers are not recorded (their headers and variables may be secrets): as configured now.
    opts.mcp = load_layered(workspace, RunOptions::default())?.mcp;
    let mut cfg = launch::agent_config(workspace, &opts, Some(info.task.clone()), supervision, 0.0)?;
    cfg.session_id = Some(id);
    cfg.resume = Some(agent::ResumeFrom { at });
    Ok(Some((cfg, opts)))
}

const ALREADY_DONE: &str =
    "endure: that session already finished (done); nothing to resume. Use --at <cycle>.<n> to continue from a checkpoint";

async fn resume(args: endure::cli::ResumeArgs, out: &Out) -> Result<ExitCode> {
    let workspace = workspace_dir(&args.workspace.dir())?;
    let Some((cfg, opts)) = resume_config(&workspace, args.session.as_deref(), args.at, args.run, Supervision::Supervised)? else {
        out.say(ALREADY_DONE);
        return Ok(ExitCode::from(1));
    };
    let title = format!("endure — {}", workspace.display());
    workbench(cfg, &opts, title, false, out).await
}

fn rollback(args: endure::cli::RollbackArgs, out: &Out) -> Result<ExitCode> {
    let workspace = workspace_dir(&args.workspace.dir())?;
    let id = endure::session::find_session(&workspace, Some(&args.session)).map_err(anyhow::Error::msg)?;
    let report = agent::rollback_session(&workspace, &id, &args.to)?;
    out.print(&format!(
        "rolled session {id} back to checkpoint {}: {} file(s) restored, {} removed; continue with `endure resume {id}` or `endure exec --resume {id}`",
        args.to, report.restored, report.removed
    ));
    Ok(ExitCode::SUCCESS)
}

fn checkpoints(args: endure::cli::CheckpointsArgs, out: &Out) -> Result<ExitCode> {
    let workspace = workspace_dir(&args.workspace.dir())?;
    let id = endure::session::find_session(&workspace, Some(&args.session)).map_err(anyhow::Error::msg)?;
    let read = endure::session::read_log(&endure::session::log_path(&workspace, &id))?;
    for w in &read.warnings {
        out.say(&format!("endure: {w}"));
    }
    let reports = endure::session::timeline::checkpoint_timeline(&read.events);
    if args.json {
        // Logs written since redaction existed hold no key; older ones might.
        let mut v = serde_json::to_value(&reports)?;
        out.0.redact_json(&mut v);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        out.print(endure::session::timeline::render_text(&reports).trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

fn memory_config(args: &endure::cli::MemoryArgs) -> Result<agent::AgentConfig> {
    let workspace = workspace_dir(&args.workspace.dir())?;
    let opts = load_layered(&workspace, args.run.clone())?;
    Ok(launch::agent_config(&workspace, &opts, None, Supervision::Headless, 0.0)?)
}

/// Outside a session there is no budget to count against, so the writer's spending is said.
fn say_spent(cfg: &agent::AgentConfig, spent: &[endure::model::ask::Spent], out: &Out) {
    if spent.is_empty() {
        return;
    }
    let tokens: u64 = spent.iter().map(|s| s.usage.prompt_tokens + s.usage.completion_tokens).sum();
    let cost: f64 = spent.iter().map(|s| cfg.prices.cost(&s.model, &s.usage).0).sum();
    let estimated = if spent.iter().any(|s| s.estimated) { " (estimated)" } else { "" };
    out.say(&format!(
        "endure: the writer model was asked {} time(s): {tokens} tokens{estimated}, {}",
        spent.len(),
        endure::printable::money(cost)
    ));
}

async fn memory_dream(args: endure::cli::MemoryArgs, out: &Out) -> Result<ExitCode> {
    let cfg = memory_config(&args)?;
    let mut spent = Vec::new();
    let dreamed = agent::upkeep::propose_dream(&cfg, None, &mut spent).await;
    say_spent(&cfg, &spent, out);
    let Some(result) = dreamed.map_err(anyhow::Error::msg)? else {
        out.print("MEMORY.md has no entries yet: nothing to consolidate");
        return Ok(ExitCode::SUCCESS);
    };
    if result.diff.trim().is_empty() {
        out.print("MEMORY.md is already consolidated: the dream changed nothing");
        return Ok(ExitCode::SUCCESS);
    }
    out.print(&result.diff);
    if !args.yes {
        out.say("endure: not applied; run again with --yes to write this MEMORY.md");
        return Ok(ExitCode::SUCCESS);
    }
    let content = cfg.redactor.redact(&result.content);
    endure::memory::memory_file::write_memory_md(&cfg.workspace.join("MEMORY.md"), content.as_bytes())?;
    let (mut state, _) = endure::memory::store::MemoryState::load(&cfg.workspace);
    state.mark_dreamed(chrono::Utc::now());
    state.save(&cfg.workspace)?;
    out.say("endure: MEMORY.md updated");
    Ok(ExitCode::SUCCESS)
}

async fn memory_distill(args: endure::cli::MemoryArgs, out: &Out) -> Result<ExitCode> {
    let cfg = memory_config(&args)?;
    let mut spent = Vec::new();
    let distilled = agent::upkeep::distill_skills(&cfg, None, &mut spent).await;
    say_spent(&cfg, &spent, out);
    let (patterns, skills) = distilled.map_err(anyhow::Error::msg)?;
    if patterns.is_empty() {
        out.print("no command sequence, correction or failure repeats across past sessions: no skills to distill");
        return Ok(ExitCode::SUCCESS);
    }
    if skills.is_empty() {
        out.print("the writer found nothing worth a skill in the repeated patterns");
        return Ok(ExitCode::SUCCESS);
    }
    for s in &skills {
        out.print(&format!("skill {}: {}\n{}\n", s.name, s.description, s.body.trim()));
    }
    if !args.yes {
        out.say("endure: not written; run again with --yes to write these skills to .endure/skills/");
        return Ok(ExitCode::SUCCESS);
    }
    for s in &skills {
        let path = endure::memory::skills::write_skill(&cfg.workspace, s)?;
        out.say(&format!("endure: wrote {}", path.display()));
    }
    let (mut state, _) = endure::memory::store::MemoryState::load(&cfg.workspace);
    state.mark_distilled(chrono::Utc::now());
    state.save(&cfg.workspace)?;
    Ok(ExitCode::SUCCESS)
}

/// Theme and keymap by name; problems become the workbench's banner, never a failed start.
pub(crate) fn ui_options(theme: Option<&str>, keymap: Option<&str>, context_budget: u64, title: String) -> WorkbenchOptions {
    let user_dir = endure::config::paths::user_config_dir();
    let (mut theme, theme_problems) = endure::config::theme::load_theme(theme.unwrap_or("default"), user_dir.as_deref());
    if endure::config::theme::no_color_requested() {
        theme = theme.without_color();
    }
    let (keymap, keymap_problems) = endure::config::keymap::load_keymap(keymap.unwrap_or("default"), user_dir.as_deref());
    let banner = theme_problems
        .iter()
        .chain(&keymap_problems)
        .map(|p| format!("config: {p} — using defaults (see `endure config check`)"))
        .collect();
    WorkbenchOptions { theme, keymap, banner, context_budget, title, ..WorkbenchOptions::default() }
}

/// The bell and title settings of `[notify]`.
pub(crate) fn alert_options(ui: &mut WorkbenchOptions, opts: &RunOptions) {
    ui.bell = opts.notify_section.bell.unwrap_or(true);
    ui.title_updates = opts.notify_section.title.unwrap_or(true);
}

pub(crate) async fn workbench(
    cfg: agent::AgentConfig,
    opts: &RunOptions,
    title: String,
    task_pending: bool,
    out: &Out,
) -> Result<ExitCode> {
    workbench_with(cfg, opts, title, task_pending, out, agent::after_run::relay).await
}

/// [`workbench`], with `wire` giving the workbench its events and command sender from the
/// spawned session (the demo also starts its director there).
async fn workbench_with(
    cfg: agent::AgentConfig,
    opts: &RunOptions,
    title: String,
    task_pending: bool,
    out: &Out,
    wire: impl FnOnce(&mut agent::AgentHandle) -> (tokio::sync::mpsc::UnboundedReceiver<endure::protocol::Event>, agent::CommandSender),
) -> Result<ExitCode> {
    let mut ui = ui_options(opts.theme.as_deref(), opts.keymap.as_deref(), cfg.context_budget, title);
    alert_options(&mut ui, opts);
    // A resumed session's history is in its log; the workbench shows it before new events.
    let history = match &cfg.session_id {
        Some(id) if cfg.resume.is_some() => endure::session::read_log(&endure::session::log_path(&cfg.workspace, id))?.events,
        _ => Vec::new(),
    };
    let task = cfg.task.clone().unwrap_or_default();
    let notify = cfg.notify.clone();
    let workspace = cfg.workspace.clone();
    let mut handle = agent::spawn(cfg)?;
    let control = serve_control(&handle, &task, notify.as_deref(), out);
    let (events, commands) = wire(&mut handle);
    let exit = endure::tui::run_live_relayed(ui, history, events, commands, task_pending).await;
    // Leaving the workbench ends the session: stop a run still going so its log says so, but
    // never hang on the way out.
    let _ = handle.commands.send(endure::protocol::Command::Stop);
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), handle.join).await;
    if let Some(control) = control {
        control.finish().await;
    }
    let exit = exit.context("the workbench failed")?;
    // The Fleet panel's Enter on another session before this run started (it has none).
    if let WorkbenchExit::Attach(id) = exit {
        let entry = fleet_cmd::running(&id)?;
        return fleet_cmd::attach_to(entry, &workspace, opts.theme.as_deref(), opts.keymap.as_deref(), out).await;
    }
    let log = handle.log_path;
    match result {
        Ok(Ok(r)) if log.exists() => {
            out.say(&format!("endure: session {} — {}: {}", handle.session_id, r.outcome.as_str(), first_line(&r.reason)));
            out.say(&format!("endure: log {}", log.display()));
            if let WorkbenchExit::Signal(sig) = exit {
                out.say(&format!("endure: left on {sig}"));
            }
            Ok(exit_code(r.outcome))
        }
        Ok(Ok(_)) => Ok(ExitCode::SUCCESS),
        Ok(Err(e)) => Err(anyhow::anyhow!("the agent task failed: {e}")),
        Err(_) => Err(anyhow::anyhow!("the agent did not stop within 10 s; its log is {}", log.display())),
    }
}

pub(crate) fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

async fn replay(args: ReplayArgs, out: &Out) -> Result<ExitCode> {
    let workspace = workspace_dir(&args.workspace.dir())?;
    let id = endure::session::find_session(&workspace, args.session.as_deref()).map_err(anyhow::Error::msg)?;
    let log = endure::session::log_path(&workspace, &id);
    let opts = load_layered(&workspace, RunOptions::default())?;
    let ui = ui_options(
        args.theme.as_deref().or(opts.theme.as_deref()),
        args.keymap.as_deref().or(opts.keymap.as_deref()),
        opts.context_budget.unwrap_or(endure::config::prices::DEFAULT_CONTEXT),
        format!("endure replay — {id}"),
    );
    let exit = endure::tui::run_replay(ui, log, !args.no_follow).await.context("the workbench failed")?;
    // The Fleet panel's Enter.
    if let WorkbenchExit::Attach(id) = exit {
        let entry = fleet_cmd::running(&id)?;
        return fleet_cmd::attach_to(entry, &workspace, args.theme.as_deref(), args.keymap.as_deref(), out).await;
    }
    Ok(ExitCode::SUCCESS)
}

fn config_check(dir: &Path, out: &Out) -> Result<ExitCode> {
    let workspace = workspace_dir(dir)?;
    let user_dir = endure::config::paths::user_config_dir();
    let mut problems: Vec<String> = endure::config::ui_check::check_ui(user_dir.as_deref()).iter().map(|p| p.render()).collect();
    for file in endure::config::settings::config_files(&workspace) {
        if let Err(e) = endure::config::settings::read_config_file(&file) {
            problems.push(e.to_string());
        }
    }
    // MCP servers: .mcp.json, and config tables that only make sense over it.
    if let Ok(opts) = load_layered(&workspace, RunOptions::default())
        && let Err(e) = endure::mcp::config::resolve(&workspace, &opts.mcp, &Default::default())
    {
        problems.push(e.to_string());
    }
    if problems.is_empty() {
        out.print("no problems in config, themes or keymaps");
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        out.print(p);
    }
    out.say(&format!("endure: {} problem{}", problems.len(), if problems.len() == 1 { "" } else { "s" }));
    Ok(ExitCode::from(1))
}

pub(crate) fn exit_code(outcome: Outcome) -> ExitCode {
    match outcome {
        Outcome::Done => ExitCode::SUCCESS,
        Outcome::Budget | Outcome::Stalled => ExitCode::from(2),
        Outcome::Stopped | Outcome::Failed => ExitCode::from(1),
    }
}

pub(crate) fn workspace_dir(dir: &Path) -> Result<std::path::PathBuf> {
    std::fs::canonicalize(dir).with_context(|| format!("workspace {}", dir.display()))
}

async fn exec(args: ExecArgs, out: &Out) -> Result<ExitCode> {
    let workspace = workspace_dir(&args.workspace.dir())?;
    // A session started by `endure workflow run` continues as a workflow, not as an agent.
    if let Some(session) = args.resume.as_deref()
        && args.at.is_none()
        && let Some(id) = workflow_cmd::workflow_session(&workspace, session)?
    {
        let common =
            endure::cli::WorkflowCommonOpts { json: args.json, tui: false, memory_limit: None, cpu_limit: None, agents_at_once: None };
        return workflow_cmd::resume_session(&workspace, id, common, args.run, out).await;
    }
    if args.detach {
        return detach(&workspace, args.resume.as_deref(), out);
    }
    // The background process of --detach: a new session gets the id its starter printed.
    let resume = match (&args.detached_session, args.resume) {
        (Some(id), Some(_)) => Some(id.clone()),
        (_, resume) => resume,
    };
    let cfg = match resume {
        Some(session) => match resume_config(
            &workspace,
            Some(&session),
            args.at,
            args.run,
            if args.supervised { Supervision::Supervised } else { Supervision::Headless },
        )? {
            Some((cfg, _)) => cfg,
            None => {
                // Nothing asked for was done: a script must not take this for success.
                out.say(ALREADY_DONE);
                return Ok(ExitCode::from(1));
            }
        },
        None => {
            let opts = load_layered(&workspace, args.run)?;
            let task = args.task.context("a TASK is needed (or --resume)")?;
            let supervision = if args.supervised { Supervision::Supervised } else { Supervision::Headless };
            let mut cfg = launch::agent_config(&workspace, &opts, Some(task), supervision, 0.0)?;
            cfg.session_id = args.detached_session;
            cfg
        }
    };
    run_headless(cfg, args.json, out).await
}

/// `exec --detach`: starts the run in a background process and prints its session id.
fn detach(workspace: &Path, resume: Option<&str>, out: &Out) -> Result<ExitCode> {
    let id = match resume {
        Some(session) => endure::session::find_session(workspace, Some(session).filter(|s| !s.is_empty())).map_err(anyhow::Error::msg)?,
        None => endure::session::id::new_session_id(chrono::Utc::now()),
    };
    let exe = std::env::current_exe().context("cannot find the endure binary to run in the background")?;
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let dir = agent::session_dir(workspace, &id);
    let pid = endure::control::detach::start(&exe, endure::control::detach::background_args(&args, &id), &dir)?;
    out.print(&id);
    out.say(&format!(
        "endure: session {id} runs in the background (pid {pid}); follow it with `endure logs -f {id}`, stop it with `endure stop {id}`"
    ));
    Ok(ExitCode::SUCCESS)
}

async fn demo(args: DemoArgs, out: &Out) -> Result<ExitCode> {
    // The demo project's tests are Python; without python3 every `run` of them fails.
    let python = std::process::Command::new("python3").arg("--version").output();
    if !python.is_ok_and(|o| o.status.success()) {
        out.say("endure demo needs python3 on PATH: the demo project is a small Python package whose tests the agent runs. Install python3 and try again.");
        return Ok(ExitCode::from(1));
    }
    let root = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => tempfile::Builder::new().prefix("endure-demo-").tempdir().context("creating a temporary directory")?.keep(),
    };
    let (workspace, scenario) = endure::demo::materialize(&root).context("writing the demo workspace")?;
    let workspace = workspace_dir(&workspace)?;
    let opts = RunOptions { theme: args.theme, keymap: args.keymap, ..endure::demo::options(scenario, args.speed) };
    if args.headless {
        out.say(&format!("endure demo: workspace {}", workspace.display()));
        let cfg = launch::agent_config(&workspace, &opts, Some(endure::demo::task()), Supervision::Headless, 0.0)?;
        return run_headless_with(cfg, args.json, out, |h| {
            endure::demo::direct(h);
        })
        .await;
    }
    let cfg = launch::agent_config(&workspace, &opts, Some(endure::demo::task()), Supervision::Supervised, 1.0)?;
    let code = workbench_with(cfg, &opts, "endure — demo".into(), false, out, |h| {
        endure::demo::direct(h);
        agent::after_run::relay(h)
    })
    .await?;
    out.say(&format!("endure demo: the workspace is kept at {}", workspace.display()));
    Ok(code)
}

pub(crate) async fn run_headless(cfg: agent::AgentConfig, json: bool, out: &Out) -> Result<ExitCode> {
    run_headless_with(cfg, json, out, |_| {}).await
}

/// [`run_headless`], with `started` called on the session once it is spawned.
async fn run_headless_with(cfg: agent::AgentConfig, json: bool, out: &Out, started: impl FnOnce(&agent::AgentHandle)) -> Result<ExitCode> {
    // Installed before the run starts, so that no signal finds the default action (which
    // would end the process without `session_finished` and orphan a running command).
    let mut signals = Signals::install().context("cannot handle signals")?;
    let task = cfg.task.clone().unwrap_or_default();
    let notify = cfg.notify.clone();
    let mut handle = agent::spawn(cfg)?;
    let control = serve_control(&handle, &task, notify.as_deref(), out);
    started(&handle);
    let events = handle.take_events();
    let (commands, join, log_path) = handle.into_parts();
    // Ctrl-C, and SIGTERM and SIGHUP (what `timeout`, CI and systemd send, and a closed
    // terminal), ask the runtime to stop cleanly: the step in flight is dropped, which kills a
    // running command's process group, and the session finishes with outcome `stopped`. A
    // second signal leaves at once.
    let out = out.clone();
    tokio::spawn(async move {
        let (name, _) = signals.next().await;
        out.say(&format!("endure: {name}: stopping (send it again to quit at once)"));
        let _ = commands.send(endure::protocol::Command::Stop);
        let (_, code) = signals.next().await;
        std::process::exit(code);
    });
    let mut headless = Headless::new(json);
    let consumer = headless.consume(events, &log_path);
    let (result, ()) = tokio::join!(join, consumer);
    if let Some(control) = control {
        control.finish().await;
    }
    let result = result.context("the agent task failed")?;
    Ok(exit_code(result.outcome))
}

/// The session's control socket; a session that cannot serve one still runs, with a warning.
pub(crate) fn serve_control(
    handle: &agent::AgentHandle,
    task: &str,
    notify: Option<&str>,
    out: &Out,
) -> Option<endure::control::ControlServer> {
    // The hook follows the session's events itself and ends with them.
    if let Some(hook) = notify.and_then(endure::control::notify::NotifyHook::parse) {
        let _ = endure::control::notify::spawn(&handle.control_link(), handle.session_id.clone(), hook);
    }
    match endure::control::ControlServer::for_session(handle, task) {
        Ok(server) => Some(server),
        Err(e) => {
            out.say(&format!("endure: warning: {e}; the session runs without one"));
            None
        }
    }
}

/// The signals that stop a headless run.
pub(crate) struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals { int: signal(SignalKind::interrupt())?, term: signal(SignalKind::terminate())?, hup: signal(SignalKind::hangup())? })
    }

    /// The next signal's name, and the exit status a process killed by it reports (128 + n).
    pub(crate) async fn next(&mut self) -> (&'static str, i32) {
        tokio::select! {
            _ = self.int.recv() => ("SIGINT", 130),
            _ = self.term.recv() => ("SIGTERM", 143),
            _ = self.hup.recv() => ("SIGHUP", 129),
        }
    }
}

fn sessions(args: SessionsArgs, out: &Out) -> Result<ExitCode> {
    let workspace = workspace_dir(&args.workspace.dir())?;
    let list = endure::session::list_sessions(&workspace)?;
    if args.json {
        // Logs written since redaction existed hold no key; older ones might.
        let mut v = serde_json::to_value(&list)?;
        out.0.redact_json(&mut v);
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        out.print(&format!("no sessions in {}", endure::session::sessions_dir(&workspace).display()));
        return Ok(ExitCode::SUCCESS);
    }
    out.print(&format!("{:<26} {:<20} {:>5}  {:<10} TASK", "ID", "START", "STEPS", "OUTCOME"));
    for s in list {
        let task: String = s.task.lines().next().unwrap_or("").chars().take(60).collect();
        out.print(&format!("{:<26} {:<20} {:>5}  {:<10} {}", s.id, s.start.unwrap_or_default(), s.steps, s.outcome, task));
    }
    Ok(ExitCode::SUCCESS)
}

/// `endure workflow …`, and `endure exec --resume` of a workflow session.
mod fleet_cmd;
/// `endure fork` and `endure tree`.
mod tree_cmd;

mod workflow_cmd {
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;

    use anyhow::{Context, Result, bail};
    use endure::agent::Supervision;
    use endure::cli::{WorkflowArgs, WorkflowCommand, WorkflowCommonOpts, WorkflowRunOpts};
    use endure::config::settings::{RunOptions, load_layered};
    use endure::launch;
    use endure::workflow::session::{self, Start, WorkflowHandle};

    use super::{Out, Signals, exit_code, first_line, ui_options, workspace_dir};

    pub async fn dispatch(args: WorkflowArgs, out: &Out) -> Result<ExitCode> {
        match args.command {
            Some(WorkflowCommand::Run(r)) => run(&r.file, r.opts, out).await,
            Some(WorkflowCommand::List(l)) => list(&l.workspace.dir(), l.json, out),
            Some(WorkflowCommand::Resume(r)) => {
                let workspace = workspace_dir(&r.workspace.dir())?;
                let id =
                    endure::session::find_session(&workspace, r.run_id.as_deref().filter(|s| !s.is_empty())).map_err(anyhow::Error::msg)?;
                resume_session(&workspace, id, r.common, r.run, out).await
            }
            None => match args.file {
                Some(file) => {
                    let mut opts = args.opts;
                    if opts.detach {
                        bail!(
                            "`endure workflow FILE.js` opens the workbench; run it in the background with `endure workflow run FILE.js --detach`"
                        );
                    }
                    opts.common.tui = !opts.common.json;
                    run(&file, opts, out).await
                }
                None => bail!("give a script: `endure workflow FILE.js`, or `endure workflow run|list|resume`"),
            },
        }
    }

    fn settings(common: &WorkflowCommonOpts) -> Result<endure::workflow::WorkflowSettings> {
        let mut s = endure::workflow::WorkflowSettings::default();
        if let Some(mb) = common.memory_limit {
            if mb == 0 {
                bail!("--memory-limit must be at least 1 MiB");
            }
            s.limits.memory_bytes = usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
        }
        if let Some(secs) = common.cpu_limit {
            if !(secs.is_finite() && secs > 0.0) {
                bail!("--cpu-limit must be a positive number of seconds, not {secs}");
            }
            s.limits.cpu = std::time::Duration::from_secs_f64(secs);
        }
        if let Some(n) = common.agents_at_once {
            if n == 0 {
                bail!("--agents-at-once must be at least 1");
            }
            s.max_agents_at_once = n;
        }
        Ok(s)
    }

    fn supervision(common: &WorkflowCommonOpts) -> (Supervision, f64) {
        if common.tui { (Supervision::Supervised, 1.0) } else { (Supervision::Headless, 0.0) }
    }

    async fn run(file: &Path, opts: WorkflowRunOpts, out: &Out) -> Result<ExitCode> {
        let workspace = workspace_dir(&opts.workspace.dir())?;
        let script = std::fs::read_to_string(file).with_context(|| format!("reading the workflow script {}", file.display()))?;
        if opts.detach {
            // Checked here, so a bad flag fails in the foreground rather than in detached.log.
            if let Some(text) = opts.script_args.as_deref() {
                serde_json::from_str::<serde_json::Value>(text).with_context(|| format!("--args is not valid JSON: {text}"))?;
            }
            return super::detach(&workspace, None, out);
        }
        let args = match opts.script_args.as_deref() {
            None => serde_json::Value::Null,
            Some(text) => serde_json::from_str(text).with_context(|| format!("--args is not valid JSON: {text}"))?,
        };
        let run_opts = load_layered(&workspace, opts.run)?;
        let (supervision, speed) = supervision(&opts.common);
        let mut cfg = launch::agent_config(&workspace, &run_opts, None, supervision, speed)?;
        cfg.workflow = settings(&opts.common)?;
        cfg.session_id = opts.detached_session.clone();
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "workflow.js".into());
        let task = format!("workflow {name}");
        let handle = session::start(cfg.clone(), Start::New { name, script, args })?;
        drive(handle, &task, &opts.common, &run_opts, &cfg, out).await
    }

    /// The session id when `session` (an id, a prefix, or empty for the most recent) is a
    /// session started by `endure workflow run`.
    pub fn workflow_session(workspace: &Path, session: &str) -> Result<Option<String>> {
        let Ok(id) = endure::session::find_session(workspace, Some(session).filter(|s| !s.is_empty())) else { return Ok(None) };
        let read = endure::session::read_log(&endure::session::log_path(workspace, &id))?;
        let state = endure::session::SessionState::from_events(&read.events);
        Ok(session::is_workflow_session(&state).then_some(id))
    }

    pub async fn resume_session(
        workspace: &Path,
        id: String,
        common: WorkflowCommonOpts,
        flags: RunOptions,
        out: &Out,
    ) -> Result<ExitCode> {
        let read = endure::session::read_log(&endure::session::log_path(workspace, &id))?;
        let state = endure::session::SessionState::from_events(&read.events);
        let info = state.info.clone().context("the session's log has no session_started event")?;
        let (supervision, speed) = supervision(&common);
        if !session::is_workflow_session(&state) {
            // An agent's session: resuming it re-runs a workflow call it was in the middle of.
            let Some((cfg, opts)) = super::resume_config(workspace, Some(&id), None, flags, supervision)? else {
                out.say(super::ALREADY_DONE);
                return Ok(ExitCode::from(1));
            };
            if common.tui {
                return super::workbench(cfg, &opts, format!("endure — {}", workspace.display()), false, out).await;
            }
            return super::run_headless(cfg, common.json, out).await;
        }
        if session::unfinished_run(&state).is_none() {
            out.say(&format!("endure: the workflow of session {id} already finished; nothing to resume"));
            return Ok(ExitCode::from(1));
        }
        let opts = launch::resumed_options(&info, flags)?;
        let mut cfg = launch::agent_config(workspace, &opts, None, supervision, speed)?;
        cfg.workflow = settings(&common)?;
        cfg.session_id = Some(id);
        let handle = session::start(cfg.clone(), Start::Resume)?;
        drive(handle, &info.task, &common, &opts, &cfg, out).await
    }

    /// Follows a workflow session to its end, headless or in the workbench.
    async fn drive(
        handle: WorkflowHandle,
        task: &str,
        common: &WorkflowCommonOpts,
        opts: &RunOptions,
        cfg: &endure::agent::AgentConfig,
        out: &Out,
    ) -> Result<ExitCode> {
        let WorkflowHandle { session_id, log_path, history, events, commands, join, control } = handle;
        let control = match endure::control::ControlServer::for_link(control, &session_id, &log_path, task) {
            Ok(server) => Some(server),
            Err(e) => {
                out.say(&format!("endure: warning: {e}; the session runs without one"));
                None
            }
        };
        if common.tui {
            let ui = ui_options(
                opts.theme.as_deref(),
                opts.keymap.as_deref(),
                cfg.context_budget,
                format!("endure workflow — {}", cfg.workspace.display()),
            );
            let exit = endure::tui::run_live(ui, history, events, commands.clone(), false).await;
            let _ = commands.send(endure::protocol::Command::Stop);
            let end = tokio::time::timeout(std::time::Duration::from_secs(30), join).await;
            if let Some(control) = control {
                control.finish().await;
            }
            exit.context("the workbench failed")?;
            return match end {
                Ok(Ok(end)) => {
                    out.say(&format!("endure: session {session_id} — {}: {}", end.outcome.as_str(), first_line(&end.reason)));
                    out.say(&format!("endure: log {}", log_path.display()));
                    Ok(exit_code(end.outcome))
                }
                Ok(Err(e)) => Err(anyhow::anyhow!("the workflow task failed: {e}")),
                Err(_) => Err(anyhow::anyhow!("the workflow did not stop within 30 s; its log is {}", log_path.display())),
            };
        }
        let mut signals = Signals::install().context("cannot handle signals")?;
        let o = out.clone();
        tokio::spawn(async move {
            let (name, _) = signals.next().await;
            o.say(&format!("endure: {name}: stopping (send it again to quit at once)"));
            let _ = commands.send(endure::protocol::Command::Stop);
            let (_, code) = signals.next().await;
            std::process::exit(code);
        });
        let mut headless = endure::headless::Headless::new(common.json);
        let consumer = headless.consume(events, &log_path);
        let (end, ()) = tokio::join!(join, consumer);
        if let Some(control) = control {
            control.finish().await;
        }
        let end = end.context("the workflow task failed")?;
        if !common.json
            && let Some(result) = &end.result
        {
            println!("{}", serde_json::to_string_pretty(result)?);
        }
        Ok(exit_code(end.outcome))
    }

    fn list(dir: &Path, json: bool, out: &Out) -> Result<ExitCode> {
        let workspace = workspace_dir(dir)?;
        let saved = endure::workflow::scripts::list(&workspace);
        if json {
            println!("{}", serde_json::to_string_pretty(&saved)?);
            return Ok(ExitCode::SUCCESS);
        }
        if saved.is_empty() {
            out.print("no saved workflows in .endure/workflows/ or .claude/workflows/");
            return Ok(ExitCode::SUCCESS);
        }
        out.print(&format!("{:<24} {:<44} DESCRIPTION", "NAME", "PATH"));
        for w in saved {
            let path: PathBuf = w.path.strip_prefix(&workspace).map(Path::to_path_buf).unwrap_or(w.path);
            out.print(&format!("{:<24} {:<44} {}", w.name, path.display(), w.description));
        }
        Ok(ExitCode::SUCCESS)
    }
}
