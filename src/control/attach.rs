//! A session reached over its control socket, as a frontend needs it: its events on a channel
//! and a `CommandSender` whose commands travel over the socket under the ids it gives them,
//! so a workbench attached to a detached run works exactly as one running the session itself.

use std::path::Path;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::ControlError;
use super::client::{Client, Received};
use crate::agent::CommandSender;
use crate::protocol::Event;

/// What arrives from the session.
#[derive(Debug)]
pub enum Incoming {
    Event(Box<Event>),
    /// The server could not take a line of ours, or sent one we could not read.
    Error(String),
}

/// A live connection; dropping it closes the socket (the run goes on).
pub struct Remote {
    /// Every event from `from` on: the backlog from the log, then live. Closed when the
    /// session ends or the connection breaks.
    pub events: mpsc::UnboundedReceiver<Incoming>,
    pub commands: CommandSender,
    pub client: String,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Drop for Remote {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

/// The name an attaching process gives itself: unique among the clients of a session, so the
/// ids of its commands are too.
pub fn client_name(kind: &str) -> String {
    format!("{kind}-{}", std::process::id())
}

/// Connects to `socket` as `client` and subscribes from `from`.
pub async fn connect(socket: &Path, client: &str, from: u64) -> Result<Remote, ControlError> {
    let mut c = Client::connect(socket, client).await?;
    c.subscribe(from).await?;
    let (mut tx, mut rx) = c.split();
    let (ev_tx, events) = mpsc::unbounded_channel();
    // Weak: the channel closes when the reader ends (the session ended), whatever the writer.
    let error_tx = ev_tx.downgrade();
    let reader = tokio::spawn(async move {
        loop {
            let item = match rx.next().await {
                Ok(Some(Received::Event(ev))) => Incoming::Event(ev),
                Ok(Some(Received::Error(m))) => Incoming::Error(m),
                Ok(None) => break,
                Err(e) => {
                    let _ = ev_tx.send(Incoming::Error(e.to_string()));
                    break;
                }
            };
            if ev_tx.send(item).is_err() {
                break;
            }
        }
    });
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(async move {
        while let Some(envelope) = cmd_rx.recv().await {
            if let Err(e) = tx.envelope(envelope).await {
                if let Some(tx) = error_tx.upgrade() {
                    let _ = tx.send(Incoming::Error(e.to_string()));
                }
                break;
            }
        }
    });
    Ok(Remote { events, commands: CommandSender::new(cmd_tx, client), client: client.to_string(), reader, writer })
}
