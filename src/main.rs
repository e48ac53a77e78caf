//! The binary's edge: parse arguments, run, map outcomes to exit codes.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use endure::agent::{self, Supervision};
use endure::cli::{Cli, Command, ConfigCommand, DemoArgs, ExecArgs, MemoryCommand, ReplayArgs, SessionsArgs};
use endure::config::settings::RunOptions;
use endure::tui::{WorkbenchExit, WorkbenchOptions};
use endure::config::settings::load_layered;
use endure::headless::Headless;
use endure::launch;
use endure::protocol::Outcome;

fn main() -> ExitCode {
    let cli = Cli::parse();
    endure::model::install_tls();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("endure: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("endure: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        None => {
            let workspace = workspace_dir(&cli.workspace.dir())?;
            let opts = load_layered(&workspace, cli.run)?;
            let pending = cli.task.is_none();
            let cfg = launch::agent_config(&workspace, &opts, cli.task, Supervision::Supervised, 1.0)?;
            workbench(cfg, &opts, format!("endure — {}", workspace.display()), pending).await
        }
        Some(Command::Exec(args)) => exec(args).await,
        Some(Command::Sessions(args)) => sessions(args),
        Some(Command::Demo(args)) => demo(args).await,
        Some(Command::Replay(args)) => replay(args).await,
        Some(Command::Config(ConfigCommand::Check(ws))) => config_check(&ws.dir()),
        Some(Command::Resume(args)) => resume(args).await,
        Some(Command::Rollback(args)) => rollback(args),
        Some(Command::Checkpoints(args)) => checkpoints(args),
        Some(Command::Memory(MemoryCommand::Dream(args))) => memory_dream(args).await,
        Some(Command::Memory(MemoryCommand::Distill(args))) => memory_distill(args).await,
    }
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

async fn resume(args: endure::cli::ResumeArgs) -> Result<ExitCode> {
    let workspace = workspace_dir(&args.workspace.dir())?;
    let Some((cfg, opts)) = resume_config(&workspace, args.session.as_deref(), args.at, args.run, Supervision::Supervised)? else {
        eprintln!("{ALREADY_DONE}");
        return Ok(ExitCode::SUCCESS);
    };
    let title = format!("endure — {}", workspace.display());
    workbench(cfg, &opts, title, false).await
}

fn rollback(args: endure::cli::RollbackArgs) -> Result<ExitCode> {
    let workspace = workspace_dir(&args.workspace.dir())?;
    let id = endure::session::find_session(&workspace, Some(&args.session)).map_err(anyhow::Error::msg)?;
    let report = agent::rollback_session(&workspace, &id, &args.to)?;
    println!(
        "rolled session {id} back to checkpoint {}: {} file(s) restored, {} removed; continue with `endure resume {id}` or `endure exec --resume {id}`",
        args.to, report.restored, report.removed
    );
    Ok(ExitCode::SUCCESS)
}

fn checkpoints(args: endure::cli::CheckpointsArgs) -> Result<ExitCode> {
    let workspace = workspace_dir(&args.workspace.dir())?;
    let id = endure::session::find_session(&workspace, Some(&args.session)).map_err(anyhow::Error::msg)?;
    let read = endure::session::read_log(&endure::session::log_path(&workspace, &id))?;
    for w in &read.warnings {
        eprintln!("endure: {w}");
    }
    let reports = endure::session::timeline::checkpoint_timeline(&read.events);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        print!("{}", endure::session::timeline::render_text(&reports));
    }
    Ok(ExitCode::SUCCESS)
}

fn memory_config(args: &endure::cli::MemoryArgs) -> Result<agent::AgentConfig> {
    let workspace = workspace_dir(&args.workspace.dir())?;
    let opts = load_layered(&workspace, args.run.clone())?;
    Ok(launch::agent_config(&workspace, &opts, None, Supervision::Headless, 0.0)?)
}

async fn memory_dream(args: endure::cli::MemoryArgs) -> Result<ExitCode> {
    let cfg = memory_config(&args)?;
    let Some(result) = agent::upkeep::propose_dream(&cfg, None).await.map_err(anyhow::Error::msg)? else {
        println!("MEMORY.md has no entries yet: nothing to consolidate");
        return Ok(ExitCode::SUCCESS);
    };
    if result.diff.trim().is_empty() {
        println!("MEMORY.md is already consolidated: the dream changed nothing");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", result.diff);
    if !args.yes {
        eprintln!("endure: not applied; run again with --yes to write this MEMORY.md");
        return Ok(ExitCode::SUCCESS);
    }
    endure::memory::atomic::write_atomic(&cfg.workspace.join("MEMORY.md"), result.content.as_bytes())?;
    let (mut state, _) = endure::memory::store::MemoryState::load(&cfg.workspace);
    state.mark_dreamed(chrono::Utc::now());
    state.save(&cfg.workspace)?;
    eprintln!("endure: MEMORY.md updated");
    Ok(ExitCode::SUCCESS)
}

async fn memory_distill(args: endure::cli::MemoryArgs) -> Result<ExitCode> {
    let cfg = memory_config(&args)?;
    let (patterns, skills) = agent::upkeep::distill_skills(&cfg, None).await.map_err(anyhow::Error::msg)?;
    if patterns.is_empty() {
        println!("no command sequence, correction or failure repeats across past sessions: no skills to distill");
        return Ok(ExitCode::SUCCESS);
    }
    if skills.is_empty() {
        println!("the writer found nothing worth a skill in the repeated patterns");
        return Ok(ExitCode::SUCCESS);
    }
    for s in &skills {
        println!("skill {}: {}\n{}\n", s.name, s.description, s.body.trim());
    }
    if !args.yes {
        eprintln!("endure: not written; run again with --yes to write these skills to .endure/skills/");
        return Ok(ExitCode::SUCCESS);
    }
    for s in &skills {
        let path = endure::memory::skills::write_skill(&cfg.workspace, s)?;
        eprintln!("endure: wrote {}", path.display());
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

async fn workbench(cfg: agent::AgentConfig, opts: &RunOptions, title: String, task_pending: bool) -> Result<ExitCode> {
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
            eprintln!("endure: session {} — {}: {}", handle.session_id, r.outcome.as_str(), first_line(&r.reason));
            eprintln!("endure: log {}", log.display());
            if let WorkbenchExit::Signal(sig) = exit {
                eprintln!("endure: left on {sig}");
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

fn config_check(dir: &Path) -> Result<ExitCode> {
    let workspace = workspace_dir(dir)?;
    let user_dir = endure::config::paths::user_config_dir();
    let mut problems: Vec<String> = endure::config::ui_check::check_ui(user_dir.as_deref()).iter().map(|p| p.render()).collect();
    for file in endure::config::settings::config_files(&workspace) {
        if let Err(e) = endure::config::settings::read_config_file(&file) {
            problems.push(e.to_string());
        }
    }
    if problems.is_empty() {
        println!("no problems in config, themes or keymaps");
        return Ok(ExitCode::SUCCESS);
    }
    for p in &problems {
        println!("{p}");
    }
    eprintln!("endure: {} problem{}", problems.len(), if problems.len() == 1 { "" } else { "s" });
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

async fn exec(args: ExecArgs) -> Result<ExitCode> {
    let workspace = workspace_dir(&args.workspace.dir())?;
    let cfg = match args.resume {
        Some(session) => match resume_config(&workspace, Some(&session), args.at, args.run, Supervision::Headless)? {
            Some((cfg, _)) => cfg,
            None => {
                eprintln!("{ALREADY_DONE}");
                return Ok(ExitCode::SUCCESS);
            }
        },
        None => {
            let opts = load_layered(&workspace, args.run)?;
            let task = args.task.context("a TASK is needed (or --resume)")?;
            launch::agent_config(&workspace, &opts, Some(task), Supervision::Headless, 0.0)?
        }
    };
    run_headless(cfg, args.json).await
}

async fn demo(args: DemoArgs) -> Result<ExitCode> {
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
        eprintln!("endure demo: workspace {}", workspace.display());
        let cfg = launch::agent_config(&workspace, &opts, Some(endure::demo::task()), Supervision::Headless, 0.0)?;
        return run_headless(cfg, args.json).await;
    }
    let cfg = launch::agent_config(&workspace, &opts, Some(endure::demo::task()), Supervision::Supervised, 1.0)?;
    let code = workbench(cfg, &opts, "endure — demo".into(), false).await?;
    eprintln!("endure demo: the workspace is kept at {}", workspace.display());
    Ok(code)
}

async fn run_headless(cfg: agent::AgentConfig, json: bool) -> Result<ExitCode> {
    let agent::AgentHandle { events, commands, join, log_path, .. } = agent::spawn(cfg)?;
    // Ctrl-C asks the runtime to stop cleanly (it kills a running command's process group);
    // a second Ctrl-C leaves at once.
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("endure: stopping (Ctrl-C again to quit at once)");
            let _ = commands.send(endure::protocol::Command::Stop);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let mut headless = Headless::new(json);
    let consumer = headless.consume(events, &log_path);
    let (result, ()) = tokio::join!(join, consumer);
    let result = result.context("the agent task failed")?;
    Ok(exit_code(result.outcome))
}

fn sessions(args: SessionsArgs) -> Result<ExitCode> {
    let workspace = workspace_dir(&args.workspace.dir())?;
    let list = endure::session::list_sessions(&workspace)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        println!("no sessions in {}", endure::session::sessions_dir(&workspace).display());
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<26} {:<20} {:>5}  {:<10} TASK", "ID", "START", "STEPS", "OUTCOME");
    for s in list {
        let task: String = s.task.lines().next().unwrap_or("").chars().take(60).collect();
        println!("{:<26} {:<20} {:>5}  {:<10} {}", s.id, s.start.unwrap_or_default(), s.steps, s.outcome, task);
    }
    Ok(ExitCode::SUCCESS)
}
