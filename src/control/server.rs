//! The server side of the control socket.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::registry::{Entry, Registry};
use super::{ClientLine, ControlError, SOCKET_FILE, ServerNotice};
use crate::agent::ControlLink;
use crate::protocol::Event;

/// Serves a session's control socket until [`ControlServer::finish`] or drop; either removes
/// the socket and the session's registry entry.
pub struct ControlServer {
    socket: PathBuf,
    registered: Option<PathBuf>,
    ended: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
}

/// sun_path holds 108 bytes with the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

impl ControlServer {
    /// Binds `<session_dir>/control.sock` (0600, in the directory made 0700) and registers the
    /// session in `registry`, if given. The caller holds the session's lock, so a socket file
    /// already there was left by a process that died: it is replaced.
    pub fn start(
        link: ControlLink,
        session_dir: &Path,
        log_path: &Path,
        registry: Option<(&Registry, Entry)>,
    ) -> Result<ControlServer, ControlError> {
        let socket = session_dir.join(SOCKET_FILE);
        let len = socket.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            return Err(ControlError::PathTooLong { path: socket.display().to_string(), len });
        }
        let bind = |source| ControlError::Bind { path: socket.display().to_string(), source };
        std::fs::create_dir_all(session_dir).map_err(bind)?;
        std::fs::set_permissions(session_dir, std::fs::Permissions::from_mode(0o700)).map_err(bind)?;
        match std::fs::remove_file(&socket) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(bind(e)),
        }
        // Bound under another name and renamed when ready: whoever sees `control.sock` (such
        // as `exec --detach`, waiting) sees it with its mode set and the session registered.
        let fresh = session_dir.join(".control.sock.new");
        let _ = std::fs::remove_file(&fresh);
        let listener = UnixListener::bind(&fresh).map_err(bind)?;
        // The directory already keeps others out; the mode says so on the socket too.
        std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o600)).map_err(bind)?;
        let registered = match registry {
            Some((reg, mut entry)) => {
                entry.socket = socket.display().to_string();
                match reg.register(&entry) {
                    Ok(path) => Some(path),
                    Err(e) => {
                        let _ = std::fs::remove_file(&fresh);
                        return Err(e);
                    }
                }
            }
            None => None,
        };
        if let Err(e) = std::fs::rename(&fresh, &socket) {
            let _ = std::fs::remove_file(&fresh);
            if let Some(path) = &registered {
                let _ = std::fs::remove_file(path);
            }
            return Err(bind(e));
        }
        let (ended, ended_rx) = watch::channel(false);
        let accept = tokio::spawn(accept_loop(listener, link, log_path.to_path_buf(), ended_rx));
        Ok(ControlServer { socket, registered, ended, accept: Some(accept) })
    }

    /// Serves the session `handle` runs, registered in the user's registry (when there is
    /// one) with `task`.
    pub fn for_session(handle: &crate::agent::AgentHandle, task: &str) -> Result<ControlServer, ControlError> {
        ControlServer::for_link(handle.control_link(), &handle.session_id, &handle.log_path, task)
    }

    /// Serves session `session_id` (whose log is `log_path`) through `link`, registered like
    /// [`ControlServer::for_session`]; a workflow session is served this way.
    pub fn for_link(link: ControlLink, session_id: &str, log_path: &Path, task: &str) -> Result<ControlServer, ControlError> {
        let session_dir = log_path.parent().map(Path::to_path_buf).unwrap_or_default();
        // <workspace>/.endure/sessions/<id>/events.jsonl
        let workspace = session_dir.ancestors().nth(3).map(Path::to_path_buf).unwrap_or_default();
        let registry = Registry::user();
        let entry = Entry {
            id: session_id.to_string(),
            workspace: workspace.display().to_string(),
            pid: std::process::id(),
            socket: String::new(),
            task: task.to_string(),
            started_at: chrono::Utc::now(),
        };
        ControlServer::start(link, &session_dir, log_path, registry.as_ref().map(|r| (r, entry)))
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The run has ended: clients get the events still queued for them, then their connection
    /// closes. Waits a little for that, never long.
    pub async fn finish(mut self) {
        let _ = self.ended.send(true);
        if let Some(accept) = self.accept.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), accept).await;
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = self.ended.send(true);
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        let _ = std::fs::remove_file(&self.socket);
        if let Some(entry) = &self.registered {
            let _ = std::fs::remove_file(entry);
        }
    }
}

async fn accept_loop(listener: UnixListener, link: ControlLink, log_path: PathBuf, mut ended: watch::Receiver<bool>) {
    let mut clients = tokio::task::JoinSet::new();
    let mut n = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                n += 1;
                clients.spawn(serve_client(stream, link.clone(), log_path.clone(), ended.clone(), n));
            }
            // Reap finished connections so a long run with many short clients holds nothing.
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
            _ = until_ended(&mut ended) => break,
        }
    }
    drop(listener);
    while clients.join_next().await.is_some() {}
}

/// One client's subscription: its receiver and the next sequence number it wants.
struct Subscription {
    rx: broadcast::Receiver<Event>,
    next: u64,
}

async fn serve_client(stream: UnixStream, link: ControlLink, log_path: PathBuf, mut ended: watch::Receiver<bool>, n: u64) {
    let pid = stream.peer_cred().ok().and_then(|c| c.pid());
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut name = format!("socket client {n}");
    let mut sub: Option<Subscription> = None;
    let mut reading = true;
    loop {
        tokio::select! {
            line = lines.next_line(), if reading => match line {
                Ok(Some(line)) if line.trim().is_empty() => {}
                Ok(Some(line)) => {
                    let reply = match serde_json::from_str::<ClientLine>(&line) {
                        Ok(ClientLine::Hello { client }) => {
                            name = crate::printable::visible(client.trim()).chars().take(60).collect();
                            Ok(())
                        }
                        Ok(ClientLine::Subscribe { from }) => match (&sub, link.subscribe()) {
                            (Some(_), _) => Err("already subscribed".to_string()),
                            // Subscribed before the log is read: an event is either in the log
                            // already or still to come on the receiver (the recorder writes
                            // before it broadcasts), and `next` drops what both hold.
                            (None, Some(rx)) => {
                                let mut s = Subscription { rx, next: from };
                                if send_from_log(&mut write, &log_path, &mut s).await.is_err() {
                                    break;
                                }
                                sub = Some(s);
                                Ok(())
                            }
                            (None, None) => {
                                let mut s = Subscription { rx: broadcast::channel(1).1, next: from };
                                let _ = send_from_log(&mut write, &log_path, &mut s).await;
                                break;
                            }
                        },
                        Ok(ClientLine::Command { command, id }) => {
                            let source = match pid {
                                Some(pid) => format!("{name} (pid {pid})"),
                                None => name.clone(),
                            };
                            if link.send(&source, command, id) { Ok(()) } else { Err("the session has finished".to_string()) }
                        }
                        Err(e) => Err(format!("unreadable line: {e}")),
                    };
                    if let Err(message) = reply
                        && send_line(&mut write, &ServerNotice::ControlError { message }).await.is_err()
                    {
                        break;
                    }
                }
                // A client that closed its side may still be reading what it subscribed to.
                Ok(None) | Err(_) => {
                    if sub.is_none() {
                        break;
                    }
                    reading = false;
                }
            },
            received = recv(&mut sub) => {
                let Some(s) = sub.as_mut() else { break };
                match received {
                    Ok(ev) => {
                        if forward(&mut write, s, &ev).await.is_err() {
                            break;
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        if send_from_log(&mut write, &log_path, s).await.is_err() {
                            break;
                        }
                    }
                    Err(RecvError::Closed) => break,
                }
            }
            _ = until_ended(&mut ended) => {
                // The run is over: what is still queued, then the rest from the log.
                if let Some(s) = sub.as_mut() {
                    while let Ok(ev) = s.rx.try_recv() {
                        if forward(&mut write, s, &ev).await.is_err() {
                            break;
                        }
                    }
                    let _ = send_from_log(&mut write, &log_path, s).await;
                }
                break;
            }
        }
    }
    let _ = write.shutdown().await;
}

async fn until_ended(ended: &mut watch::Receiver<bool>) {
    // The guard wait_for returns must not live across another await.
    let _ = ended.wait_for(|e| *e).await.map(|_| ());
}

async fn recv(sub: &mut Option<Subscription>) -> Result<Event, RecvError> {
    match sub {
        Some(s) => s.rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Sends `ev` unless the client has it already.
async fn forward(write: &mut tokio::net::unix::OwnedWriteHalf, s: &mut Subscription, ev: &Event) -> std::io::Result<()> {
    if ev.seq < s.next {
        return Ok(());
    }
    // A live-only event carries the number the next persisted one will get: it does not
    // advance `next`.
    if !ev.kind.is_live_only() {
        s.next = ev.seq + 1;
    }
    send_line(write, ev).await
}

async fn send_from_log(write: &mut tokio::net::unix::OwnedWriteHalf, log_path: &Path, s: &mut Subscription) -> std::io::Result<()> {
    let Ok(events) = crate::session::log::events_from(log_path, s.next) else { return Ok(()) };
    for ev in events {
        forward(write, s, &ev).await?;
    }
    Ok(())
}

async fn send_line<T: serde::Serialize>(write: &mut tokio::net::unix::OwnedWriteHalf, value: &T) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await
}
