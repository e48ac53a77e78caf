//! `endure ps`, `stop`, `logs`, `attach` and `fleet`: running sessions, through the registry
//! and their control sockets.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use endure::cli::{AttachArgs, FleetArgs, LogsArgs, PsArgs, StopArgs};
use endure::control::client::{Client, Received};
use endure::control::registry::{Entry, Registry};
use endure::headless::Headless;
use endure::tui::WorkbenchExit;

use super::{Out, first_line, workspace_dir};

fn registry() -> Result<Registry> {
    Registry::user().context("no state directory for the registry of running sessions: set XDG_STATE_HOME or HOME")
}

pub(crate) fn running(session: &str) -> Result<Entry> {
    registry()?.find(session).map_err(anyhow::Error::msg)
}

pub async fn ps(args: PsArgs, out: &Out) -> Result<ExitCode> {
    let now = chrono::Utc::now();
    let rows: Vec<_> = registry()?.running().iter().map(|e| endure::control::status::row(e, now)).collect();
    if args.json {
        let mut v = serde_json::to_value(&rows)?;
        out.0.redact_json(&mut v);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if rows.is_empty() {
        out.print("no running sessions");
    } else {
        out.print(endure::control::status::render(&rows).trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn stop(args: StopArgs, out: &Out) -> Result<ExitCode> {
    let entry = running(&args.session)?;
    let mut client = Client::connect(Path::new(&entry.socket), "endure stop").await?;
    client.command(endure::protocol::Command::Stop).await?;
    // The server closes every connection when the session ends.
    let ended = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(r) = client.next().await? {
            if let Received::Error(m) = r {
                return Err(anyhow!("session {}: {m}", entry.id));
            }
        }
        Ok::<_, anyhow::Error>(())
    })
    .await;
    match ended {
        Ok(r) => r?,
        Err(_) => return Err(anyhow!("session {} did not end within 120 s of the stop", entry.id)),
    }
    let read = endure::session::read_log(&entry.log_path())?;
    let state = endure::session::SessionState::from_events(&read.events);
    match state.outcome {
        Some((outcome, reason)) => out.print(&format!("session {} — {}: {}", entry.id, outcome.as_str(), first_line(&reason))),
        None => out.print(&format!("session {} ended", entry.id)),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn logs(args: LogsArgs, out: &Out) -> Result<ExitCode> {
    let mut headless = Headless::new(false).progress_on_stdout();
    let live = registry().ok().and_then(|r| r.find(&args.session).ok());
    let log_path = match &live {
        Some(entry) => entry.log_path(),
        None => {
            let workspace = workspace_dir(&args.workspace.dir())?;
            let id = endure::session::find_session(&workspace, Some(&args.session)).map_err(anyhow::Error::msg)?;
            endure::session::log_path(&workspace, &id)
        }
    };
    if let Some(entry) = live.filter(|_| args.follow) {
        match Client::connect(Path::new(&entry.socket), "endure logs").await {
            Ok(mut client) => {
                client.subscribe(0).await?;
                while let Some(r) = client.next().await? {
                    match r {
                        Received::Event(ev) => headless.on_event(&ev),
                        Received::Error(m) => out.say(&format!("endure: {m}")),
                    }
                }
            }
            // Ended between the registry and the connection: the log has it all.
            Err(e) => out.say(&format!("endure: {e}; printing the log")),
        }
    }
    headless.catch_up(&log_path);
    Ok(ExitCode::SUCCESS)
}

/// The sessions running in `workspace`.
fn running_here(workspace: &Path) -> Vec<Entry> {
    let Some(reg) = Registry::user() else { return Vec::new() };
    reg.running().into_iter().filter(|e| std::fs::canonicalize(&e.workspace).is_ok_and(|w| w == workspace)).collect()
}

/// Asks on the terminal; None when stdin is no terminal (nobody to ask).
fn ask(question: &str) -> Option<String> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return None;
    }
    let _ = write!(std::io::stderr(), "{question}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).ok()?;
    Some(line.trim().to_string())
}

fn describe(e: &Entry) -> String {
    let row = endure::control::status::row(e, chrono::Utc::now());
    let state = match &row.why {
        Some(why) => format!("{} ({why})", row.state),
        None => row.state.clone(),
    };
    format!("{}  {state}, step {}: {}", e.id, row.step, first_line(&e.task))
}

/// Lets the user pick one of `entries` by number; None for none of them.
fn choose(entries: &[Entry], out: &Out, none: &str) -> Option<Entry> {
    for (i, e) in entries.iter().enumerate() {
        out.say(&format!("  {}. {}", i + 1, describe(e)));
    }
    let answer = ask(&format!("Which one (1-{}, or Enter for {none})? ", entries.len()))?;
    let n: usize = answer.parse().ok()?;
    entries.get(n.checked_sub(1)?).cloned()
}

/// Opening the workbench where a session already runs: offers to attach to it instead of
/// starting a second run. None: start a new run (declined, or nobody to ask).
pub(crate) fn offer_attach(workspace: &Path, out: &Out) -> Result<Option<Entry>> {
    let here = running_here(workspace);
    match here.as_slice() {
        [] => Ok(None),
        [one] => {
            out.say(&format!("endure: a session is already running in this workspace:\n  {}", describe(one)));
            match ask("Attach to it instead of starting a second run? [Y/n] ") {
                Some(a) if a.is_empty() || a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes") => Ok(Some(one.clone())),
                _ => Ok(None),
            }
        }
        several => {
            out.say(&format!("endure: {} sessions are already running in this workspace:", several.len()));
            Ok(choose(several, out, "a new run"))
        }
    }
}

pub async fn attach(args: AttachArgs, out: &Out) -> Result<ExitCode> {
    let workspace = workspace_dir(&args.workspace.dir())?;
    let entry = match &args.session {
        Some(s) => running(s)?,
        None => {
            let here = running_here(&workspace);
            match here.as_slice() {
                [] => return Err(anyhow!("no session is running in {} (see `endure ps` for all of them)", workspace.display())),
                [one] => one.clone(),
                several => {
                    out.say(&format!("endure: {} sessions are running in this workspace:", several.len()));
                    match choose(several, out, "none") {
                        Some(e) => e,
                        None => return Err(anyhow!("name the session: `endure attach SESSION`")),
                    }
                }
            }
        }
    };
    attach_to(entry, &workspace, args.theme.as_deref(), args.keymap.as_deref(), out).await
}

/// The workbench's options for attaching from `workspace` (its config: theme, keymap, bell).
fn ui_for(workspace: &Path, theme: Option<&str>, keymap: Option<&str>, title: String) -> endure::tui::WorkbenchOptions {
    let opts = endure::config::settings::load_layered(workspace, Default::default()).unwrap_or_default();
    let mut ui = super::ui_options(theme.or(opts.theme.as_deref()), keymap.or(opts.keymap.as_deref()), 128_000, title);
    super::alert_options(&mut ui, &opts);
    ui
}

/// Attaches to `entry` until the user detaches; the Fleet panel's Enter moves on to another.
pub(crate) async fn attach_to(
    mut entry: Entry,
    workspace: &Path,
    theme: Option<&str>,
    keymap: Option<&str>,
    out: &Out,
) -> Result<ExitCode> {
    loop {
        let client = endure::control::attach::client_name("attach");
        let remote = endure::control::attach::connect(Path::new(&entry.socket), &client, 0).await?;
        let mut ui = ui_for(workspace, theme, keymap, format!("endure — {} (attached) — {}", entry.id, entry.workspace));
        ui.attached = Some(entry.id.clone());
        let exit = endure::tui::run_attached(ui, remote).await.context("the workbench failed")?;
        match exit {
            WorkbenchExit::Attach(next) if next != entry.id => entry = running(&next)?,
            WorkbenchExit::Attach(_) => {}
            WorkbenchExit::Quit | WorkbenchExit::Signal(_) => {
                say_detached(&entry, out);
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
}

fn say_detached(entry: &Entry, out: &Out) {
    let read = endure::session::read_log(&entry.log_path()).map(|r| r.events).unwrap_or_default();
    match endure::session::SessionState::from_events(&read).outcome {
        Some((outcome, reason)) => out.say(&format!("endure: session {} — {}: {}", entry.id, outcome.as_str(), first_line(&reason))),
        None => out.say(&format!(
            "endure: detached from session {id}; it keeps running (`endure attach {id}` to come back, `endure stop {id}` to end it)",
            id = entry.id
        )),
    }
}

pub async fn fleet(args: FleetArgs, out: &Out) -> Result<ExitCode> {
    let workspace = workspace_dir(&args.workspace.dir())?;
    loop {
        let ui = ui_for(&workspace, args.theme.as_deref(), args.keymap.as_deref(), "endure fleet".into());
        match endure::tui::run_fleet(ui).await.context("the fleet view failed")? {
            // Detaching comes back to the fleet.
            WorkbenchExit::Attach(id) => match running(&id) {
                Ok(entry) => {
                    attach_to(entry, &workspace, args.theme.as_deref(), args.keymap.as_deref(), out).await?;
                }
                Err(e) => out.say(&format!("endure: {e}")),
            },
            WorkbenchExit::Quit | WorkbenchExit::Signal(_) => return Ok(ExitCode::SUCCESS),
        }
    }
}
