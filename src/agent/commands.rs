//! The frontends' side of the command channel: every command gets an id that the events it
//! causes echo (`Event::command_id`), so a client tells its own commands' effects apart
//! without matching text.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::protocol::{Command, CommandEnvelope};

/// The runtime has ended; the command was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the runtime has ended; the command was not delivered")]
pub struct RuntimeGone;

/// Sends commands to one runtime under one client's name. Clones share the counter, so ids
/// stay unique per client; `for_client` gives another client its own name and counter.
#[derive(Debug, Clone)]
pub struct CommandSender {
    tx: mpsc::UnboundedSender<CommandEnvelope>,
    client: Arc<str>,
    next: Arc<AtomicU64>,
}

impl CommandSender {
    pub fn new(tx: mpsc::UnboundedSender<CommandEnvelope>, client: &str) -> CommandSender {
        CommandSender { tx, client: client.into(), next: Arc::new(AtomicU64::new(1)) }
    }

    /// A sender for another client of the same runtime. Client names must be unique among
    /// the runtime's clients for ids to be.
    pub fn for_client(&self, client: &str) -> CommandSender {
        CommandSender::new(self.tx.clone(), client)
    }

    /// The id the next `send` will use.
    pub fn next_id(&self) -> String {
        format!("{}:{}", self.client, self.next.load(Ordering::Relaxed))
    }

    /// Sends `command` and returns its id.
    pub fn send(&self, command: Command) -> Result<String, RuntimeGone> {
        let id = format!("{}:{}", self.client, self.next.fetch_add(1, Ordering::Relaxed));
        self.tx.send(CommandEnvelope { id: id.clone(), command }).map_err(|_| RuntimeGone)?;
        Ok(id)
    }

    /// Sends an envelope whose id the caller chose (a client relaying another's commands).
    pub fn send_envelope(&self, envelope: CommandEnvelope) -> Result<(), RuntimeGone> {
        self.tx.send(envelope).map_err(|_| RuntimeGone)
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// A handle that does not keep the channel open (for the control socket).
    pub(crate) fn downgrade(&self) -> mpsc::WeakUnboundedSender<CommandEnvelope> {
        self.tx.downgrade()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_per_client_and_travel_with_the_command() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let a = CommandSender::new(tx, "tui");
        let b = a.for_client("socket-1");
        let a2 = a.clone();
        assert_eq!(a.send(Command::Pause), Ok("tui:1".to_string()));
        assert_eq!(a2.send(Command::Resume), Ok("tui:2".to_string()));
        assert_eq!(b.send(Command::Stop), Ok("socket-1:1".to_string()));
        let got: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).map(|e| (e.id, e.command)).collect();
        assert_eq!(got, vec![("tui:1".into(), Command::Pause), ("tui:2".into(), Command::Resume), ("socket-1:1".into(), Command::Stop)]);
        drop(rx);
        assert_eq!(a.send(Command::Pause), Err(RuntimeGone));
    }
}
