//! A finished session stays useful in the workbench that ran it: the runtime is gone, but a
//! rollback to a checkpoint is still what `endure rollback` would do, and its events reach the
//! workbench like any others.

use std::path::{Path, PathBuf};

use tokio::sync::{broadcast, mpsc};

use super::{AgentHandle, CommandSender};
use crate::protocol::{Command, CommandEnvelope, Event, EventKind};

/// The workbench's ends of a session: its events and a command sender. While the run goes,
/// both pass straight through. Once it has finished, a `Rollback` is done the way
/// `endure rollback` does it (the runtime is gone), and the events it logged are passed on, so
/// that a finished session can be rolled back to a checkpoint from the workbench. Other
/// commands after the end are dropped: there is nothing left to do them.
///
/// The workbench's end is an unbounded channel, not a second ring: the workbench reads as fast
/// as events come, and a ring of its own would hold a second copy of the session's recent
/// events in memory for nothing.
pub fn relay(handle: &mut AgentHandle) -> (mpsc::UnboundedReceiver<Event>, CommandSender) {
    let mut upstream = handle.take_events();
    let runtime = handle.commands.clone();
    let (ui_tx, ui_rx) = mpsc::unbounded_channel();
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<CommandEnvelope>();
    let workspace = workspace_of(&handle.log_path);
    let session = handle.session_id.clone();
    let log = handle.log_path.clone();
    tokio::spawn(async move {
        let mut finished = false;
        let mut open = true;
        // The last logged event passed on. A live-only event carries the seq of the logged
        // event that follows it, so anything at or below this was passed on already (from the
        // log, after a lag).
        let mut last_seq: Option<u64> = None;
        loop {
            tokio::select! {
                ev = upstream.recv(), if open => match ev {
                    Ok(ev) if last_seq.is_some_and(|l| ev.seq <= l) => {}
                    Ok(ev) => {
                        if !ev.kind.is_live_only() {
                            last_seq = Some(ev.seq);
                        }
                        finished |= matches!(ev.kind, EventKind::SessionFinished { .. });
                        let _ = ui_tx.send(ev);
                    }
                    // Whatever was missed is in the log.
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let (last, ended) = forward_logged(&log, last_seq, &ui_tx);
                        last_seq = last;
                        finished |= ended;
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        open = false;
                        finished = true;
                    }
                },
                cmd = cmd_rx.recv() => match cmd {
                    None => return,
                    Some(env) if !finished => {
                        let _ = runtime.send_envelope(env);
                    }
                    Some(CommandEnvelope { command: Command::Rollback(to), .. }) => {
                        if let Some(ws) = workspace.clone() {
                            roll_back_finished(ws, session.clone(), to).await;
                            last_seq = forward_logged(&log, last_seq, &ui_tx).0;
                        }
                    }
                    Some(_) => {}
                },
            }
        }
    });
    (ui_rx, CommandSender::new(cmd_tx, "local"))
}

/// The workspace of a session whose log is `<workspace>/.endure/sessions/<id>/events.jsonl`.
fn workspace_of(log: &Path) -> Option<PathBuf> {
    log.ancestors().nth(4).map(Path::to_path_buf)
}

/// Sends the logged events after `after` to the workbench; returns the last seq sent and
/// whether the session's end was among them.
fn forward_logged(log: &Path, after: Option<u64>, ui: &mpsc::UnboundedSender<Event>) -> (Option<u64>, bool) {
    let (mut last, mut ended) = (after, false);
    if let Ok(read) = crate::session::read_log(log) {
        for ev in read.events.into_iter().filter(|e| after.is_none_or(|a| e.seq > a)) {
            last = Some(ev.seq);
            ended |= matches!(ev.kind, EventKind::SessionFinished { .. });
            let _ = ui.send(ev);
        }
    }
    (last, ended)
}

/// `endure rollback` on the finished session. The runtime releases the session's lock just
/// after its last event, so a lock still held is waited for, briefly.
async fn roll_back_finished(workspace: PathBuf, session: String, to: String) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (ws, id, cp) = (workspace.clone(), session.clone(), to.clone());
        let done = tokio::task::spawn_blocking(move || super::rollback_session(&ws, &id, &cp)).await;
        match done {
            Ok(Err(super::AgentError::Locked(_))) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            // A refused rollback changes nothing; what it would have logged is not there to show.
            _ => return,
        }
    }
}
