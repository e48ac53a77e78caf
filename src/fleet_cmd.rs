//! `endure ps`, `stop` and `logs`: running sessions, through the registry and their control
//! sockets.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use endure::cli::{LogsArgs, PsArgs, StopArgs};
use endure::control::client::{Client, Received};
use endure::control::registry::{Entry, Registry};
use endure::headless::Headless;

use super::{Out, first_line, workspace_dir};

fn registry() -> Result<Registry> {
    Registry::user().context("no state directory for the registry of running sessions: set XDG_STATE_HOME or HOME")
}

fn running(session: &str) -> Result<Entry> {
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
