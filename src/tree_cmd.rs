//! `endure fork` (a new session from a checkpoint, in a worktree) and `endure tree` (the
//! attempt tree of a session).

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::{Context, Result};
use endure::agent::fork::{self, Fork};
use endure::agent::{AgentConfig, Supervision};
use endure::cli::{ForkArgs, TreeArgs};
use endure::config::settings::{RunOptions, load_layered};
use endure::launch;
use endure::session::attempts::{self, OtherLog};

use super::{Out, run_headless, workspace_dir};

pub async fn fork(args: ForkArgs, out: &Out) -> Result<ExitCode> {
    let workspace = workspace_dir(&args.workspace.dir())?;
    // The background process of --detach: its starter made the worktree and left the fork there.
    if let (Some(id), Some(into)) = (&args.detached_session, &args.into) {
        let fork = Fork::take(into, id)?;
        return run_headless(config(fork, args.run)?, args.json, out).await;
    }
    let parent = endure::session::find_session(&workspace, Some(&args.session)).map_err(anyhow::Error::msg)?;
    let id = endure::session::id::new_session_id(chrono::Utc::now());
    let fork = fork::prepare(&workspace, &parent, &args.at, args.into.as_deref(), &id)?;
    out.say(&format!(
        "endure: session {id} forks {parent} at checkpoint {} in {} (branch {}): {} file(s) restored, {} removed",
        args.at,
        fork.workspace.display(),
        fork.start.branch,
        fork.start.restored,
        fork.start.removed
    ));
    if args.detach {
        return detach(fork, out);
    }
    run_headless(config(fork, args.run)?, args.json, out).await
}

/// The fork's configuration: the options its parent recorded, with the flags given over them.
fn config(fork: Fork, flags: RunOptions) -> Result<AgentConfig> {
    let mut opts = launch::resumed_options(&fork.parent_info, flags)?;
    // MCP servers are not recorded (their headers and variables may be secrets): as configured now.
    opts.mcp = load_layered(&fork.workspace, RunOptions::default())?.mcp;
    let mut cfg = launch::agent_config(&fork.workspace, &opts, Some(fork.parent_info.task.clone()), Supervision::Headless, 0.0)?;
    cfg.session_id = Some(fork.session_id);
    cfg.fork = Some(Box::new(fork.start));
    Ok(cfg)
}

/// `fork --detach`: the worktree is ready; a background process runs the fork from it.
fn detach(fork: Fork, out: &Out) -> Result<ExitCode> {
    fork.hand_off()?;
    let exe = std::env::current_exe().context("cannot find the endure binary to run in the background")?;
    let dir = endure::agent::session_dir(&fork.workspace, &fork.session_id);
    let args = background_args(std::env::args_os().skip(1), &fork);
    let pid = endure::control::detach::start(&exe, args, &dir).inspect_err(|_| fork.discard())?;
    let id = &fork.session_id;
    out.print(id);
    out.say(&format!(
        "endure: session {id} runs in the background (pid {pid}); follow it with `endure logs -f {id}`, stop it with `endure stop {id}`"
    ));
    Ok(ExitCode::SUCCESS)
}

/// This process's arguments without `--detach` and `--into`, then the worktree and the id.
fn background_args(args: impl Iterator<Item = OsString>, fork: &Fork) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut skip_value = false;
    for a in args {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        let text = a.to_string_lossy();
        if text == "--detach" || text.starts_with("--into=") {
            continue;
        }
        if text == "--into" {
            skip_value = true;
            continue;
        }
        out.push(a);
    }
    out.extend(["--into".into(), fork.workspace.clone().into_os_string(), "--detached-session".into(), fork.session_id.clone().into()]);
    out
}

pub fn tree(args: TreeArgs, out: &Out) -> Result<ExitCode> {
    let workspace = workspace_dir(&args.workspace.dir())?;
    let (forks, warnings) = fork::fork_logs(&workspace);
    for w in &warnings {
        out.say(&format!("endure: {w}"));
    }
    let found = endure::session::find_session(&workspace, args.session.as_deref());
    // A fork's log is in its worktree; from the parent's workspace it is found among the forks.
    let fork_hit = |wanted: &str| forks.iter().find(|l| l.id == wanted).or_else(|| forks.iter().find(|l| l.id.starts_with(wanted)));
    let (id, events) = match (found, args.session.as_deref().and_then(fork_hit)) {
        (Ok(id), _) => {
            let read = endure::session::read_log(&endure::session::log_path(&workspace, &id))?;
            for w in &read.warnings {
                out.say(&format!("endure: {w}"));
            }
            (id, read.events)
        }
        (Err(_), Some(log)) => (log.id.clone(), log.events.clone()),
        (Err(e), None) => return Err(anyhow::Error::msg(e)),
    };
    let others: Vec<OtherLog> = forks.iter().map(|l| OtherLog { id: &l.id, events: &l.events }).collect();
    let root = attempts::build(&id, &events, &others);
    if args.json {
        // Logs written since redaction existed hold no key; older ones might.
        let mut v = serde_json::to_value(&root)?;
        out.0.redact_json(&mut v);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        out.print(attempts::render_text(&root).trim_end());
    }
    Ok(ExitCode::SUCCESS)
}
