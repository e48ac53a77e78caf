//! The client side of the control socket, for `endure stop`, `logs -f`, `ps`, `attach` and the
//! fleet view.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use super::{ClientLine, ControlError};
use crate::protocol::{Command, CommandEnvelope, Event};

pub struct Client {
    tx: ClientTx,
    rx: ClientRx,
}

/// The half that writes to the server.
pub struct ClientTx {
    path: PathBuf,
    write: OwnedWriteHalf,
}

/// The half that reads what the server sends.
pub struct ClientRx {
    path: PathBuf,
    lines: Lines<BufReader<OwnedReadHalf>>,
}

/// A line the server sent.
#[derive(Debug)]
pub enum Received {
    Event(Box<Event>),
    /// A `control_error` line, or a line that is no event.
    Error(String),
}

fn io(path: &Path, source: std::io::Error) -> ControlError {
    ControlError::Io { path: path.display().to_string(), source }
}

impl Client {
    /// Connects and names the client (`client` goes into the source of its commands).
    pub async fn connect(socket: &Path, client: &str) -> Result<Client, ControlError> {
        let stream =
            UnixStream::connect(socket).await.map_err(|source| ControlError::Connect { path: socket.display().to_string(), source })?;
        let (read, write) = stream.into_split();
        let mut tx = ClientTx { path: socket.to_path_buf(), write };
        tx.send_line(&ClientLine::Hello { client: client.to_string() }).await?;
        Ok(Client { tx, rx: ClientRx { path: socket.to_path_buf(), lines: BufReader::new(read).lines() } })
    }

    /// The two halves, for a reader and a writer that run apart.
    pub fn split(self) -> (ClientTx, ClientRx) {
        (self.tx, self.rx)
    }

    pub async fn subscribe(&mut self, from: u64) -> Result<(), ControlError> {
        self.tx.subscribe(from).await
    }

    pub async fn command(&mut self, command: Command) -> Result<(), ControlError> {
        self.tx.command(command).await
    }

    /// The next line from the server; None when the connection closed (the session ended).
    pub async fn next(&mut self) -> Result<Option<Received>, ControlError> {
        self.rx.next().await
    }
}

impl ClientTx {
    async fn send_line(&mut self, line: &ClientLine) -> Result<(), ControlError> {
        let mut bytes = serde_json::to_vec(line).map_err(|e| io(&self.path, std::io::Error::other(e)))?;
        bytes.push(b'\n');
        let r = self.write.write_all(&bytes).await;
        r.map_err(|e| io(&self.path, e))
    }

    pub async fn subscribe(&mut self, from: u64) -> Result<(), ControlError> {
        self.send_line(&ClientLine::Subscribe { from }).await
    }

    /// A command the server numbers under the client's name.
    pub async fn command(&mut self, command: Command) -> Result<(), ControlError> {
        self.send_line(&ClientLine::Command { command, id: None }).await
    }

    /// A command under the id the client gave it (from its own `CommandSender`).
    pub async fn envelope(&mut self, envelope: CommandEnvelope) -> Result<(), ControlError> {
        self.send_line(&ClientLine::Command { command: envelope.command, id: Some(envelope.id) }).await
    }
}

impl ClientRx {
    /// The next line from the server; None when the connection closed (the session ended).
    pub async fn next(&mut self) -> Result<Option<Received>, ControlError> {
        loop {
            let line = self.lines.next_line().await;
            let Some(line) = line.map_err(|e| io(&self.path, e))? else { return Ok(None) };
            if line.trim().is_empty() {
                continue;
            }
            return Ok(Some(match serde_json::from_str::<Event>(&line) {
                Ok(ev) => Received::Event(Box::new(ev)),
                Err(_) => Received::Error(
                    serde_json::from_str::<super::ServerNotice>(&line)
                        .map(|super::ServerNotice::ControlError { message }| message)
                        .unwrap_or_else(|_| format!("unexpected line: {line}")),
                ),
            }));
        }
    }
}
