//! The binary's edge: parse arguments, run, map outcomes to exit codes.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use endure::agent::{self, Supervision};
use endure::cli::{Cli, Command, DemoArgs, ExecArgs, SessionsArgs};
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
        Command::Exec(args) => exec(args).await,
        Command::Sessions(args) => sessions(args),
        Command::Demo(args) => demo(args).await,
    }
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
    let opts = load_layered(&workspace, args.run)?;
    run_headless(&workspace, &opts, args.task, args.json).await
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
    eprintln!("endure demo: workspace {}", workspace.display());
    let opts = endure::config::settings::RunOptions {
        provider: Some("scripted".into()),
        script: Some(scenario),
        speed: args.speed,
        ..Default::default()
    };
    run_headless(&workspace, &opts, endure::demo::task(), args.json).await
}

async fn run_headless(
    workspace: &Path,
    opts: &endure::config::settings::RunOptions,
    task: String,
    json: bool,
) -> Result<ExitCode> {
    let cfg = launch::agent_config(workspace, opts, Some(task), Supervision::Headless, 0.0)?;
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
