//! The binary's edge: parse arguments, run, map outcomes to exit codes.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use endure::agent::{self, Supervision};
use endure::cli::{Cli, Command, ConfigCommand, DemoArgs, DoctorArgs, ExecArgs, MemoryCommand, ReplayArgs, SessionsArgs};
use endure::config::settings::RunOptions;
use endure::tui::{WorkbenchExit, WorkbenchOptions};
use endure::config::settings::load_layered;
use endure::headless::Headless;
use endure::launch;
use endure::protocol::Outcome;
use endure::redact::Redactor;

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
struct Out(Redactor);

impl Out {
    fn clean(&self, text: &str) -> String {
        endure::printable::visible(&self.0.redact(text)).into_owned()
    }

    /// A line on stderr. A closed terminal (after SIGHUP) or pipe is no reason to panic.
    fn say(&self, text: &str) {
        let _ = writeln!(std::io::stderr(), "{}", self.clean(text));
    }

    /// A line on stdout.
    fn print(&self, text: &str) {
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
        Some(Command::Demo(_) | Command::Doctor(_)) => (cli.workspace.dir(), RunOptions::default()),
    };
    let opts = std::fs::canonicalize(&dir).ok().and_then(|ws| load_layered(&ws, flags.clone()).ok()).unwrap_or(flags);
    launch::redactor(&opts)
}

async fn dispatch(cli: Cli, out: &Out) -> Result<ExitCode> {
    match cli.command {
        None => {
            let workspace = workspace_dir(&cli.workspace.dir())?;
            let opts = load_layered(&workspace, cli.run)?;
            let pending = cli.task.is_none();
            let cfg = launch::agent_config(&workspace, &opts, cli.task, Supervision::Supervised, 1.0)?;
            workbench(cfg, &opts, format!("endure — {}", workspace.display()), pending, out).await
        }
        Some(Command::Exec(args)) => exec(args, out).await,
        Some(Command::Sessions(args)) => sessions(args, out),
        Some(Command::Demo(args)) => demo(args, out).await,
        Some(Command::Replay(args)) => replay(args).await,
        Some(Command::Config(ConfigCommand::Check(ws))) => config_check(&ws.dir(), out),
        Some(Command::Resume(args)) => resume(args, out).await,
        Some(Command::Rollback(args)) => rollback(args, out),
        Some(Command::Memory(MemoryCommand::Dream(args))) => memory_dream(args, out).await,
        Some(Command::Memory(MemoryCommand::Distill(args))) => memory_distill(args, out).await,
        Some(Command::Doctor(args)) => doctor(args, out),
        Some(Command::Checkpoints(args)) => checkpoints(args, out),
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

/// The configuration of a session to continue: its recorded options with `flags` over them.
fn resume_config(
    workspace: &Path,
    session: Option<&str>,
    at: Option<String>,
    flags: RunOptions,
    supervision: Supervision,
) -> Result<Option<(agent::AgentConfig, RunOptions)>> {
    let id = endure::session::find_session(workspace, session.filter(|s| !s.is_empty())).map_err(anyhow::Error::msg)?;
    let read = endure::session::read_log(&endure::session::log_path(workspace, &id))?;
    let state = endure::session::SessionState::from_events(&read.events);
    let info = state.info.clone().context("the session's log has no session_started event")?;
    if at.is_none() && matches!(state.outcome, Some((Outcome::Done, _))) {
        return Ok(None);
    }
    let opts = launch::resumed_options(&info, flags)?;
    let mut cfg = launch::agent_config(workspace, &opts, Some(info.task.clone()), supervision, 0.0)?;
    cfg.session_id = Some(id);
    cfg.resume = Some(agent::ResumeFrom { at });
    Ok(Some((cfg, opts)))
}

const ALREADY_DONE: &str = "endure: that session already finished (done); nothing to resume. Use --at <cycle>.<n> to continue from a checkpoint";

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

async fn memory_dream(args: endure::cli::MemoryArgs, out: &Out) -> Result<ExitCode> {
    let cfg = memory_config(&args)?;
    let Some(result) = agent::upkeep::propose_dream(&cfg, None).await.map_err(anyhow::Error::msg)? else {
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
    let (patterns, skills) = agent::upkeep::distill_skills(&cfg, None).await.map_err(anyhow::Error::msg)?;
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
fn ui_options(theme: Option<&str>, keymap: Option<&str>, context_budget: u64, title: String) -> WorkbenchOptions {
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
    WorkbenchOptions { theme, keymap, banner, context_budget, title }
}

async fn workbench(cfg: agent::AgentConfig, opts: &RunOptions, title: String, task_pending: bool, out: &Out) -> Result<ExitCode> {
    let ui = ui_options(opts.theme.as_deref(), opts.keymap.as_deref(), cfg.context_budget, title);
    // A resumed session's history is in its log; the workbench shows it before new events.
    let history = match &cfg.session_id {
        Some(id) if cfg.resume.is_some() => endure::session::read_log(&endure::session::log_path(&cfg.workspace, id))?.events,
        _ => Vec::new(),
    };
    let mut handle = agent::spawn(cfg)?;
    let events = handle.take_events();
    let exit = endure::tui::run_live(ui, history, events, handle.commands.clone(), task_pending).await;
    // Leaving the workbench ends the session: stop a run still going so its log says so, but
    // never hang on the way out.
    let _ = handle.commands.send(endure::protocol::Command::Stop);
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), handle.join).await;
    let exit = exit.context("the workbench failed")?;
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

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

async fn replay(args: ReplayArgs) -> Result<ExitCode> {
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
    endure::tui::run_replay(ui, log, !args.no_follow).await.context("the workbench failed")?;
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

fn exit_code(outcome: Outcome) -> ExitCode {
    match outcome {
        Outcome::Done => ExitCode::SUCCESS,
        Outcome::Budget | Outcome::Stalled => ExitCode::from(2),
        Outcome::Stopped | Outcome::Failed => ExitCode::from(1),
    }
}

fn workspace_dir(dir: &Path) -> Result<std::path::PathBuf> {
    std::fs::canonicalize(dir).with_context(|| format!("workspace {}", dir.display()))
}

async fn exec(args: ExecArgs, out: &Out) -> Result<ExitCode> {
    let workspace = workspace_dir(&args.workspace.dir())?;
    let cfg = match args.resume {
        Some(session) => match resume_config(&workspace, Some(&session), args.at, args.run, Supervision::Headless)? {
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
            launch::agent_config(&workspace, &opts, Some(task), Supervision::Headless, 0.0)?
        }
    };
    run_headless(cfg, args.json, out).await
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
    let opts = RunOptions {
        provider: Some("scripted".into()),
        script: Some(scenario),
        speed: args.speed,
        theme: args.theme,
        keymap: args.keymap,
        ..Default::default()
    };
    if args.headless {
        out.say(&format!("endure demo: workspace {}", workspace.display()));
        let cfg = launch::agent_config(&workspace, &opts, Some(endure::demo::task()), Supervision::Headless, 0.0)?;
        return run_headless(cfg, args.json, out).await;
    }
    let cfg = launch::agent_config(&workspace, &opts, Some(endure::demo::task()), Supervision::Supervised, 1.0)?;
    let code = workbench(cfg, &opts, "endure — demo".into(), false, out).await?;
    out.say(&format!("endure demo: the workspace is kept at {}", workspace.display()));
    Ok(code)
}

async fn run_headless(cfg: agent::AgentConfig, json: bool, out: &Out) -> Result<ExitCode> {
    // Installed before the run starts, so that no signal finds the default action (which
    // would end the process without `session_finished` and orphan a running command).
    let mut signals = Signals::install().context("cannot handle signals")?;
    let agent::AgentHandle { events, commands, join, log_path, .. } = agent::spawn(cfg)?;
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
    let result = result.context("the agent task failed")?;
    Ok(exit_code(result.outcome))
}

/// The signals that stop a headless run.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals { int: signal(SignalKind::interrupt())?, term: signal(SignalKind::terminate())?, hup: signal(SignalKind::hangup())? })
    }

    /// The next signal's name, and the exit status a process killed by it reports (128 + n).
    async fn next(&mut self) -> (&'static str, i32) {
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
