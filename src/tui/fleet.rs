//! The fleet: every running session of the registry, each followed over its control socket
//! (so the view updates live) and commanded over it (so a row can be paused, resumed, stopped
//! or answered without attaching). `endure fleet` and the Fleet panel both draw this model.
//!
//! A watcher task rescans the registry every second, connects to sessions it has not seen,
//! and folds each one's events into a `WorkbenchState` (the workbench's own projection, so
//! steps, cost and test counts mean what they mean there) plus a `Waiting` fold. Every change
//! bumps a `watch` counter that wakes the frontend's loop.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::App;
use super::panels::fleet::FleetPanel;
use super::state::WorkbenchState;
use crate::agent::CommandSender;
use crate::control::attach::Incoming;
use crate::control::registry::{Entry, Registry};
use crate::control::waiting::Waiting;
use crate::protocol::{Command, Event, EventKind};

/// How often the registry is read again for sessions that started or ended.
const RESCAN: Duration = Duration::from_secs(1);

/// One running session as the fleet sees it.
pub struct SessionView {
    pub entry: Entry,
    pub state: WorkbenchState,
    pub waiting: Waiting,
    /// The last tool call: its name and target.
    pub latest: Option<String>,
    /// Its socket's connection ended (the session is finishing) or could not be made.
    pub closed: bool,
    pub problem: Option<String>,
    commands: Option<CommandSender>,
}

impl SessionView {
    pub fn new(entry: Entry) -> SessionView {
        SessionView {
            entry,
            state: WorkbenchState::rows_only(),
            waiting: Waiting::default(),
            latest: None,
            closed: false,
            problem: None,
            commands: None,
        }
    }

    pub fn apply(&mut self, ev: &Event) {
        self.state.apply(ev);
        self.waiting.apply(ev);
        if let EventKind::ToolCall { name, args, .. } = &ev.kind {
            let target = crate::protocol::tool_target(name, args);
            self.latest = Some(if target.is_empty() { name.clone() } else { format!("{name} {target}") });
        }
    }

    /// Sends `command` over the session's socket; Err says why it cannot.
    pub fn send(&self, command: Command) -> Result<String, String> {
        match &self.commands {
            Some(c) if !self.closed => c.send(command).map_err(|_| format!("session {}: the connection closed", self.entry.id)),
            _ => Err(format!("session {} cannot take commands: {}", self.entry.id, self.problem.as_deref().unwrap_or("not connected"))),
        }
    }

    /// Waiting rows first, then the ones paused by the supervisor, then the rest, oldest first.
    pub fn rank(&self) -> u8 {
        if self.waiting.wait().is_some() {
            0
        } else if self.waiting.paused_by_supervisor() {
            1
        } else {
            2
        }
    }
}

#[derive(Default)]
pub struct FleetModel {
    pub sessions: Vec<SessionView>,
    /// The registry has been read at least once.
    pub scanned: bool,
    pub problem: Option<String>,
}

impl FleetModel {
    /// The rows in display order.
    pub fn ordered(&self) -> Vec<&SessionView> {
        let mut v: Vec<&SessionView> = self.sessions.iter().collect();
        v.sort_by(|a, b| a.rank().cmp(&b.rank()).then(a.entry.started_at.cmp(&b.entry.started_at)).then(a.entry.id.cmp(&b.entry.id)));
        v
    }
}

/// The model shared by the watcher and whoever draws it.
#[derive(Clone, Default)]
pub struct Shared(Arc<Mutex<FleetModel>>);

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, FleetModel> {
        // A panic while holding the lock leaves a model that is still worth drawing.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The running watcher; dropping it stops following every session.
pub struct Watcher {
    scan: JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.scan.abort();
    }
}

/// Starts following `registry`. The receiver changes whenever the model does.
pub fn start(registry: Registry) -> (Shared, watch::Receiver<u64>, Watcher) {
    let shared = Shared::default();
    let (tx, rx) = watch::channel(0u64);
    let scan = tokio::spawn(scan_loop(registry, shared.clone(), tx));
    (shared, rx, Watcher { scan })
}

async fn scan_loop(registry: Registry, shared: Shared, changed: watch::Sender<u64>) {
    let bump = |tx: &watch::Sender<u64>| tx.send_modify(|n| *n += 1);
    let mut followers: Vec<(String, JoinHandle<()>)> = Vec::new();
    loop {
        let running = registry.running();
        let ids: HashSet<&str> = running.iter().map(|e| e.id.as_str()).collect();
        let mut dirty = false;
        {
            let mut m = shared.lock();
            let before = m.sessions.len();
            m.sessions.retain(|s| ids.contains(s.entry.id.as_str()));
            dirty |= m.sessions.len() != before || !m.scanned;
            m.scanned = true;
        }
        followers.retain(|(id, task)| {
            let keep = ids.contains(id.as_str());
            if !keep {
                task.abort();
            }
            keep
        });
        for entry in running {
            if followers.iter().any(|(id, _)| *id == entry.id) {
                continue;
            }
            shared.lock().sessions.push(SessionView::new(entry.clone()));
            dirty = true;
            followers.push((entry.id.clone(), tokio::spawn(follow(entry, shared.clone(), changed.clone()))));
        }
        if dirty {
            bump(&changed);
        }
        tokio::time::sleep(RESCAN).await;
    }
}

/// Follows one session until its connection closes.
async fn follow(entry: Entry, shared: Shared, changed: watch::Sender<u64>) {
    let id = entry.id.clone();
    let with_wake = |wake: bool, f: &mut dyn FnMut(&mut SessionView)| {
        if let Some(s) = shared.lock().sessions.iter_mut().find(|s| s.entry.id == id) {
            f(s);
        }
        if wake {
            changed.send_modify(|n| *n += 1);
        }
    };
    let with = |f: &mut dyn FnMut(&mut SessionView)| with_wake(true, f);
    let client = crate::control::attach::client_name("fleet");
    let mut remote = match crate::control::attach::connect(std::path::Path::new(&entry.socket), &client, 0).await {
        Ok(r) => r,
        Err(e) => {
            let message = e.to_string();
            with(&mut |s| {
                s.closed = true;
                s.problem = Some(message.clone());
            });
            return;
        }
    };
    let commands = remote.commands.clone();
    with(&mut |s| s.commands = Some(commands.clone()));
    while let Some(first) = remote.events.recv().await {
        // Fold what is queued under one lock and one wake-up.
        let mut batch = vec![first];
        while batch.len() < 4096
            && let Ok(more) = remote.events.try_recv()
        {
            batch.push(more);
        }
        // Streamed text changes no row: only persisted events (and problems) redraw the view.
        let wake = batch.iter().any(|i| !matches!(i, Incoming::Event(ev) if ev.kind.is_live_only()));
        with_wake(wake, &mut |s| {
            for item in &batch {
                match item {
                    Incoming::Event(ev) => s.apply(ev),
                    Incoming::Error(m) => s.problem = Some(m.clone()),
                }
            }
        });
    }
    with(&mut |s| s.closed = true);
}

/// Starts the watcher for the app's Fleet panel once the panel has been drawn (so a workbench
/// whose fleet nobody looks at is nobody's client).
pub struct Connection {
    pub changed: Option<watch::Receiver<u64>>,
    _watcher: Option<Watcher>,
}

impl Connection {
    pub fn none() -> Connection {
        Connection { changed: None, _watcher: None }
    }

    /// Connects the panel when it wants the model and is not connected yet.
    pub fn sync(&mut self, app: &mut App) {
        if self._watcher.is_some() {
            return;
        }
        let Some(panel) = app.panels.iter_mut().find_map(|p| p.as_any_mut().downcast_mut::<FleetPanel>()) else { return };
        if !panel.wanted() {
            return;
        }
        match Registry::user() {
            Some(registry) => {
                let (shared, rx, w) = start(registry);
                panel.connect(shared);
                self.changed = Some(rx);
                self._watcher = Some(w);
            }
            None => panel.unavailable("no state directory for the registry of running sessions: set XDG_STATE_HOME or HOME"),
        }
    }
}

/// The session the Fleet panel asked to attach to, if the app can leave for it: an attached
/// workbench (detaching leaves its run going), a replay, `endure fleet`, or a workbench whose
/// run has not started. A workbench running its own session stays: leaving would end it.
pub fn take_attach(app: &mut App) -> Option<String> {
    let id = app.panels.iter_mut().find_map(|p| p.as_any_mut().downcast_mut::<FleetPanel>()).and_then(FleetPanel::take_attach)?;
    if app.state.session().is_some_and(|s| s.session_id == id) {
        app.notice = Some(format!("this workbench shows session {id} already"));
        return None;
    }
    if app.opts.attached.is_none() && !app.is_replay() && app.state.session().is_some() {
        app.error = Some(format!(
            "this workbench runs its own session, which ends when it closes: attach to {id} from another terminal (`endure attach {id}`)"
        ));
        return None;
    }
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::keymap::Action;
    use crate::protocol::{BudgetKind, PauseReason};
    use crate::tui::panels::fleet::FLEET;
    use crate::tui::{WorkbenchOptions, panel::PanelId};
    use ratatui::{Terminal, backend::TestBackend};

    fn entry(id: &str, secs: i64) -> Entry {
        Entry {
            id: id.into(),
            workspace: format!("/w/{id}"),
            pid: 1,
            socket: String::new(),
            task: format!("task of {id}"),
            started_at: chrono::DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap(),
        }
    }

    fn ev(kind: EventKind) -> Event {
        Event { seq: 0, ts: chrono::Utc::now(), command_id: None, kind }
    }

    #[test]
    fn waiting_sessions_come_first_with_why_and_a_row_without_a_connection_says_so() {
        let shared = Shared::default();
        {
            let mut m = shared.lock();
            m.scanned = true;
            m.sessions.push(SessionView::new(entry("older-busy", 0)));
            let mut waiting = SessionView::new(entry("newer-waiting", 10));
            waiting.apply(&ev(EventKind::ToolCall {
                step: 1,
                call_id: "c".into(),
                name: "run".into(),
                args: serde_json::json!({"command": "cargo test"}),
            }));
            waiting.apply(&ev(EventKind::Paused { reason: PauseReason::Budget { budget: BudgetKind::Cost } }));
            m.sessions.push(waiting);
        }
        let ids: Vec<String> = shared.lock().ordered().iter().map(|s| s.entry.id.clone()).collect();
        assert_eq!(ids, ["newer-waiting", "older-busy"]);

        let opts = WorkbenchOptions { keymap: crate::tui::testkit::default_keymap(), ..WorkbenchOptions::default() };
        let mut app = App::new(opts, crate::tui::app::Mode::Live { task_pending: false }, None);
        let id = PanelId(FLEET);
        app.set_focus(id);
        app.maximized = true;
        let panel = app.panels.iter_mut().find_map(|p| p.as_any_mut().downcast_mut::<FleetPanel>()).unwrap();
        panel.connect(shared);
        let mut t = Terminal::new(TestBackend::new(120, 20)).unwrap();
        t.draw(|f| app.render(f)).unwrap();
        let screen = t.backend().to_string();
        assert!(screen.contains("2 running · 1 waiting for you"), "{screen}");
        assert!(screen.contains("WAITING: cost budget reached  newer-waiting"), "{screen}");
        assert!(screen.contains("newer-waiting: task of newer-waiting · run cargo test"), "{screen}");
        // `y` approves the selected (waiting) row: with no connection, it says why not.
        app.act(Action::Approve);
        assert!(app.error.as_deref().is_some_and(|e| e.contains("newer-waiting cannot take commands")), "{:?}", app.error);
        // Enter asks to attach; an app running no session of its own may leave for it.
        app.act(Action::Expand);
        assert_eq!(take_attach(&mut app).as_deref(), Some("newer-waiting"));
    }
}
