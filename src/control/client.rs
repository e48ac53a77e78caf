//! The client side of the control socket, for `endure stop`, `logs -f` and `ps`.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use super::{ClientLine, ControlError};
use crate::protocol::{Command, Event};

pub struct Client {
    path: PathBuf,
    lines: Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
}

/// A line the server sent.
#[derive(Debug)]
pub enum Received {
    Event(Box<Event>),
    /// A `control_error` line, or a line that is no event.
    Error(String),
}

impl Client {
    /// Connects and names the client (`client` goes into the source of its commands).
    pub async fn connect(socket: &Path, client: &str) -> Result<Client, ControlError> {
        let stream =
            UnixStream::connect(socket).await.map_err(|source| ControlError::Connect { path: socket.display().to_string(), source })?;
        let (read, write) = stream.into_split();
        let mut c = Client { path: socket.to_path_buf(), lines: BufReader::new(read).lines(), write };
        c.send_line(&ClientLine::Hello { client: client.to_string() }).await?;
        Ok(c)
    }

    async fn send_line(&mut self, line: &ClientLine) -> Result<(), ControlError> {
        let mut bytes = serde_json::to_vec(line).map_err(|e| self.io(std::io::Error::other(e)))?;
        bytes.push(b'\n');
        let r = self.write.write_all(&bytes).await;
        r.map_err(|e| self.io(e))
    }

    fn io(&self, source: std::io::Error) -> ControlError {
        ControlError::Io { path: self.path.display().to_string(), source }
    }

    pub async fn subscribe(&mut self, from: u64) -> Result<(), ControlError> {
        self.send_line(&ClientLine::Subscribe { from }).await
    }

    pub async fn command(&mut self, command: Command) -> Result<(), ControlError> {
        self.send_line(&ClientLine::Command { command }).await
    }

    /// The next line from the server; None when the connection closed (the session ended).
    pub async fn next(&mut self) -> Result<Option<Received>, ControlError> {
        loop {
            let line = self.lines.next_line().await;
            let Some(line) = line.map_err(|e| self.io(e))? else { return Ok(None) };
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
