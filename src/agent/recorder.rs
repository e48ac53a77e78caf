//! Every event goes through one place: redacted, written to the log, folded into the
//! runtime's state, then broadcast. Doing all of it together is what makes replay exact, and
//! redacting first is what keeps a secret out of the log, the state (so out of every later
//! model request), `--json` and the workbench alike.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Utc;
use tokio::sync::broadcast;

use crate::config::prices::ModelTable;
use crate::model::ask::Spent;
use crate::protocol::{Event, EventKind, Role};
use crate::redact::{MIN_PIECE, Redactor};
use crate::session::{EventLog, LogError, SessionState};

pub struct Recorder {
    log: EventLog,
    tx: broadcast::Sender<Event>,
    state: SessionState,
    /// The unsent tail of each text stream: see [`Recorder::hold_back`].
    held: HashMap<Stream, String>,
}

/// A stream of live text deltas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Stream {
    Assistant(Role),
    Candidate { step: u64, index: u32 },
}

/// Cloneable handle to the recorder, shared by the step in flight and the command handler.
#[derive(Clone)]
pub struct SharedRecorder {
    inner: Arc<Mutex<Recorder>>,
    redactor: Redactor,
}

/// A recorder that does not keep the session's recorder (and so its event channel) alive.
#[derive(Clone)]
pub struct WeakRecorder {
    inner: std::sync::Weak<Mutex<Recorder>>,
    redactor: Redactor,
}

impl WeakRecorder {
    pub fn upgrade(&self) -> Option<SharedRecorder> {
        Some(SharedRecorder { inner: self.inner.upgrade()?, redactor: self.redactor.clone() })
    }
}

impl SharedRecorder {
    pub fn downgrade(&self) -> WeakRecorder {
        WeakRecorder { inner: Arc::downgrade(&self.inner), redactor: self.redactor.clone() }
    }

    pub fn new(log: EventLog, tx: broadcast::Sender<Event>, state: SessionState, redactor: Redactor) -> Self {
        SharedRecorder { inner: Arc::new(Mutex::new(Recorder { log, tx, state, held: HashMap::new() })), redactor }
    }

    fn lock(&self) -> MutexGuard<'_, Recorder> {
        // A panic while holding the lock cannot leave the recorder half-updated in a way that
        // matters more than losing the session, so recover the guard.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The redactor every event passes through, for files written beside the log
    /// (checkpoints, MEMORY.md).
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Records an event. Live-only events are broadcast without touching the log or state.
    pub fn emit(&self, kind: EventKind) -> Result<(), LogError> {
        self.emit_for(None, kind)
    }

    /// Records an event caused by command `command_id`, which the event echoes.
    pub fn emit_for(&self, command_id: Option<&str>, kind: EventKind) -> Result<(), LogError> {
        // Done outside the lock: it is the costliest part, and needs nothing the lock guards.
        let kind = match kind {
            delta @ (EventKind::AssistantDelta { .. } | EventKind::CandidateDelta { .. }) => delta,
            // A subagent's event went through its own recorder, with the same redactor.
            sub @ EventKind::SubagentEvent { .. } => sub,
            other => self.redact(other),
        };
        let mut r = self.lock();
        let Some(kind) = r.hold_back(kind, &self.redactor) else { return Ok(()) };
        let live = kind.is_live_only();
        let ev = Event { command_id: command_id.map(str::to_string), seq: r.state.next_seq, ts: Utc::now(), kind };
        if !live {
            r.log.append(&ev)?;
            r.state.apply(&ev);
        }
        // No receivers is fine: headless without --json only reads the state.
        let _ = r.tx.send(ev);
        Ok(())
    }

    fn redact(&self, kind: EventKind) -> EventKind {
        match self.redactor.redact_serde(&kind) {
            Ok(Some(clean)) => clean,
            Ok(None) => kind,
            // Only a redaction inside a field with a fixed form could make the event
            // unreadable; recording that the event was withheld beats recording the secret.
            Err(e) => EventKind::Warning {
                message: format!("a `{}` event held the API key and could not be redacted ({e}); it was not recorded", kind.name()),
            },
        }
    }

    /// Records one model call's spending as a `usage` event, priced from the model table; every
    /// role's calls go through here, so all of them count toward the budgets.
    pub fn emit_spent(&self, prices: &ModelTable, spent: &Spent, overhead: bool) -> Result<(), LogError> {
        let (cost_usd, priced) = prices.cost(&spent.model, &spent.usage);
        let u = &spent.usage;
        self.emit(EventKind::Usage {
            role: spent.role,
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            cache_read_tokens: u.cache_read_tokens,
            cache_write_tokens: u.cache_write_tokens,
            cost_usd,
            estimated: spent.estimated,
            priced,
            overhead,
        })
    }

    /// Reads the state under the lock.
    pub fn with_state<T>(&self, f: impl FnOnce(&SessionState) -> T) -> T {
        f(&self.lock().state)
    }

    pub fn state(&self) -> SessionState {
        self.lock().state.clone()
    }
}

impl Recorder {
    /// Redacts streamed text across delta boundaries. A key split over two deltas is in
    /// neither one whole, so the last `MIN_PIECE - 1` characters of each stream are held
    /// back and sent with the next delta, after redacting the two together. Whatever is
    /// still held when the answer completes is in the complete (redacted) answer, which
    /// replaces the streamed text everywhere. Returns None when nothing is left to send now.
    fn hold_back(&mut self, kind: EventKind, redactor: &Redactor) -> Option<EventKind> {
        // A stream ends (or restarts) with these: forget its tail.
        match &kind {
            EventKind::ModelRequest { role, .. } | EventKind::ModelRetry { role, .. } => {
                self.held.remove(&Stream::Assistant(*role));
            }
            EventKind::AssistantMessage { .. } => {
                self.held.remove(&Stream::Assistant(Role::Agent));
            }
            EventKind::CandidateProposed { step, index, .. } | EventKind::CandidateFailed { step, index, .. } => {
                self.held.remove(&Stream::Candidate { step: *step, index: *index });
            }
            _ => {}
        }
        if redactor.is_empty() {
            return Some(kind);
        }
        let (stream, text) = match &kind {
            EventKind::AssistantDelta { role, text } => (Stream::Assistant(*role), text),
            EventKind::CandidateDelta { step, index, text } => (Stream::Candidate { step: *step, index: *index }, text),
            _ => return Some(kind),
        };
        let mut joined = self.held.remove(&stream).unwrap_or_default();
        joined.push_str(text);
        let clean = redactor.redact(&joined).into_owned();
        let keep = MIN_PIECE - 1;
        let chars = clean.chars().count();
        let split = clean.char_indices().nth(chars.saturating_sub(keep)).map_or(clean.len(), |(i, _)| i);
        let (send, hold) = clean.split_at(split);
        self.held.insert(stream, hold.to_string());
        if send.is_empty() {
            return None;
        }
        let send = send.to_string();
        Some(match kind {
            EventKind::AssistantDelta { role, .. } => EventKind::AssistantDelta { role, text: send },
            EventKind::CandidateDelta { step, index, .. } => EventKind::CandidateDelta { step, index, text: send },
            other => other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-test-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123";

    fn recorder(dir: &std::path::Path, redactor: Redactor) -> (SharedRecorder, broadcast::Receiver<Event>) {
        let log = EventLog::open(&dir.join("events.jsonl")).unwrap();
        let (tx, rx) = broadcast::channel(64);
        (SharedRecorder::new(log, tx, SessionState::default(), redactor), rx)
    }

    #[test]
    fn events_are_redacted_before_the_log_the_state_and_the_broadcast() {
        let dir = tempfile::tempdir().unwrap();
        let (rec, mut rx) = recorder(dir.path(), Redactor::new([KEY]));
        rec.emit(EventKind::UserMessage { text: format!("use {KEY}") }).unwrap();
        rec.emit(EventKind::Warning { message: format!("half: {}", &KEY[5..25]) }).unwrap();
        let log = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
        assert!(!log.contains(&KEY[5..17]), "{log}");
        assert!(log.contains("use [redacted]"), "{log}");
        let state = format!("{:?}", rec.state().messages);
        assert!(state.contains("[redacted]") && !state.contains(&KEY[5..17]), "{state}");
        let sent = format!("{:?}", rx.try_recv().unwrap());
        assert!(!sent.contains(&KEY[5..17]), "{sent}");
    }

    #[test]
    fn a_key_split_across_deltas_never_streams() {
        let dir = tempfile::tempdir().unwrap();
        let (rec, mut rx) = recorder(dir.path(), Redactor::new([KEY]));
        let text = format!("the key is {KEY}, keep it safe");
        // Deltas of 5 characters: no delta holds 12 characters of the key.
        let chars: Vec<char> = text.chars().collect();
        for chunk in chars.chunks(5) {
            rec.emit(EventKind::AssistantDelta { role: Role::Agent, text: chunk.iter().collect() }).unwrap();
        }
        let mut streamed = String::new();
        while let Ok(ev) = rx.try_recv() {
            if let EventKind::AssistantDelta { text, .. } = ev.kind {
                streamed.push_str(&text);
            }
        }
        assert!(streamed.starts_with("the key is [redacted]"), "{streamed}");
        for w in KEY.as_bytes().windows(MIN_PIECE) {
            assert!(!streamed.contains(std::str::from_utf8(w).unwrap()), "{streamed}");
        }
        // The held tail is dropped when the answer completes; the answer carries all of it.
        rec.emit(EventKind::AssistantMessage { step: 1, text: text.clone(), tool_calls: Vec::new(), blocks: Vec::new() }).unwrap();
        assert!(rec.lock().held.is_empty());
    }

    #[test]
    fn without_a_key_deltas_pass_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let (rec, mut rx) = recorder(dir.path(), Redactor::default());
        rec.emit(EventKind::AssistantDelta { role: Role::Agent, text: "hi".into() }).unwrap();
        assert!(matches!(rx.try_recv().unwrap().kind, EventKind::AssistantDelta { text, .. } if text == "hi"));
    }
}
