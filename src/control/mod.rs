//! A running session's control socket: `<session dir>/control.sock`, served by whichever
//! process runs the session (headless `exec`, the workbench, a detached run).
//!
//! The wire is JSON lines. A client sends [`ClientLine`]s: `hello` to name itself, `subscribe`
//! with a starting sequence number, `command` with a [`Command`]. The server sends [`Event`]s
//! (the backlog from the log, then live events, with no gap and no duplicate), and a
//! `{"type":"control_error","message":...}` line for input it cannot take. The connection
//! closes when the session ends.
//!
//! Every connection has its own task and its own broadcast receiver: a client that stops
//! reading lags and catches up from the log, and a client that dies only ends its own task,
//! so no client can slow or stop the run.

pub mod attach;
pub mod client;
pub mod detach;
pub mod notify;
pub mod registry;
mod server;
pub mod status;
pub mod waiting;

use serde::{Deserialize, Serialize};

use crate::protocol::Command;

pub use server::ControlServer;

/// The socket's name inside a session's directory.
pub const SOCKET_FILE: &str = "control.sock";

/// What a client may send, one JSON object per line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientLine {
    /// Names the client in the `source` its commands are recorded with.
    Hello { client: String },
    /// Every persisted event with `seq >= from` from the log, then live events.
    Subscribe {
        #[serde(default)]
        from: u64,
    },
    /// A command for the runtime, as the workbench sends it. `id` is the command's id from
    /// the client's own `CommandSender` (`<client>:<n>`), which the events it causes echo;
    /// without one the server numbers it under the client's name.
    Command {
        command: Command,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
}

/// What the server sends for a line it cannot take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerNotice {
    ControlError { message: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("cannot serve the control socket {path}: {source}")]
    Bind { path: String, source: std::io::Error },
    #[error("the control socket path {path} is too long for a Unix socket ({len} bytes; at most 107)")]
    PathTooLong { path: String, len: usize },
    #[error("cannot connect to {path}: {source}")]
    Connect { path: String, source: std::io::Error },
    #[error("control socket {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("registry {path}: {source}")]
    Registry { path: String, source: std::io::Error },
}
