//! Every event goes through one place: written to the log, folded into the runtime's state,
//! then broadcast. Doing all three together is what makes replay exact.

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Utc;
use tokio::sync::broadcast;

use crate::protocol::{Event, EventKind};
use crate::session::{EventLog, LogError, SessionState};

pub struct Recorder {
    log: EventLog,
    tx: broadcast::Sender<Event>,
    state: SessionState,
}

/// Cloneable handle to the recorder, shared by the step in flight and the command handler.
#[derive(Clone)]
pub struct SharedRecorder(Arc<Mutex<Recorder>>);

impl SharedRecorder {
    pub fn new(log: EventLog, tx: broadcast::Sender<Event>, state: SessionState) -> Self {
        SharedRecorder(Arc::new(Mutex::new(Recorder { log, tx, state })))
    }

    fn lock(&self) -> MutexGuard<'_, Recorder> {
        // A panic while holding the lock cannot leave the recorder half-updated in a way that
        // matters more than losing the session, so recover the guard.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an event. Live-only events are broadcast without touching the log or state.
    pub fn emit(&self, kind: EventKind) -> Result<(), LogError> {
        let mut r = self.lock();
        let live = kind.is_live_only();
        let ev = Event { seq: r.state.next_seq, ts: Utc::now(), kind };
        if !live {
            r.log.append(&ev)?;
            r.state.apply(&ev);
        }
        // No receivers is fine: headless without --json only reads the state.
        let _ = r.tx.send(ev);
        Ok(())
    }

    /// Reads the state under the lock.
    pub fn with_state<T>(&self, f: impl FnOnce(&SessionState) -> T) -> T {
        f(&self.lock().state)
    }

    pub fn state(&self) -> SessionState {
        self.lock().state.clone()
    }
}
