//! The workbench: a full-screen projection of a session's events.
//!
//! # Launching
//!
//! ```ignore
//! use endure::tui::{run_live, run_replay, WorkbenchOptions};
//! let opts = WorkbenchOptions {
//!     theme, keymap,                  // from crate::config::{theme, keymap}
//!     banner: config_problems,        // e.g. "config: ~/.config/endure/themes/x.toml:3:7: unknown colour \"blu\" — using defaults"
//!     context_budget: 128_000,        // tokens; the context gauge's 100%
//!     title: "endure — demo".into(),
//! };
//! // Live: subscribe first, then pass what was emitted before subscribing as `history`.
//! let exit = run_live(opts, history, runtime.subscribe(), command_tx, task.is_none()).await?;
//! // Replay (`endure replay SESSION`): read-only; `follow` tails a log that is still growing.
//! let exit = run_replay(opts, session_dir.join("events.jsonl"), true).await?;
//! ```
//!
//! Both own the terminal for their duration and restore it on every way out (quit, error,
//! panic, SIGTERM, SIGHUP, SIGINT). The workbench never blocks the runtime: it reads a broadcast
//! receiver (a lagging workbench drops events and says so; the log has them) and sends
//! commands on an unbounded channel.
//!
//! # Structure
//!
//! - [`state`]: `WorkbenchState::apply(&Event)`, the pure projection every panel draws from.
//! - [`app`]: keys (through the keymap) to actions, actions to commands and view changes.
//! - [`view`], [`layout`], [`panels`]: drawing. [`search`]: transcript search.
//! - [`replay`]: the step timeline and the log tail reader. [`session_diff`]: the
//!   whole-session diff composed from per-step diffs.
//! - [`scheduler`]: coalesced frame requests. [`terminal`]: setup, teardown, panic hook.
//! - The Memory panel reads `<workspace>/MEMORY.md` from disk; `run_loop` watches the
//!   workspace for it (see [`watch_memory`]) and calls `App::memory_changed` on a change.
//!
//! Theme scopes used (exactly `config::theme::SCOPES`; `scopes_tests` checks the two agree):
//! `ui` (the base, filled under everything),
//! `ui.{border,border.focused,title,title.focused,tab,tab.active,selection,dim,banner.error,
//! flash,confirm,help.section,help.key,help.desc,search.match,search.input,statusbar,
//! statusbar.key,replay,timeline,field,abandoned,proposal,conflict}`,
//! `status.{idle,running,waiting,paused,stalled,done,failed}`, `gauge.{fill,high,mark,mark.fired,empty}`,
//! `transcript.{user,user.header,assistant.header,tool.name,tool.target,tool.args,tool.output,
//! tool.running,tool.ok,tool.error,correction,correction.pending,correction.queued,
//! correction.delivered,notice.info,notice.warning,notice.error,new_marker}`,
//! `markdown.{heading,code,emphasis,strong,list,quote,link}`, `tasks.{pending,active,done}`,
//! `diff.{file,header,hunk,context,plus,minus}`, `status.{max,overhead}`,
//! `candidate.{judge,picked,failed,waiting}`, `verdict.{met,unmet,override}`,
//! `endurance.{figure,context,checkpoint,rollover,intervention,tests,quality,stall}`.

pub mod alerts;
pub mod app;
pub mod clipboard;
pub mod composer;
pub mod dropped;
pub mod escalation;
pub mod fleet;
mod layer_keys;
pub mod layers;
pub mod layout;
pub mod pager;
pub mod panel;
pub mod panels;
pub mod rebuild;
pub mod replay;
pub mod sandbox;
pub mod scheduler;
pub mod search;
pub mod session_diff;
pub mod state;
pub mod terminal;
#[doc(hidden)]
pub mod testkit;
pub mod text;
pub mod view;
pub mod widgets;

#[cfg(test)]
mod escalation_tests;
#[cfg(test)]
mod scopes_tests;

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{broadcast, mpsc};

use crate::agent::CommandSender;
use crate::config::keymap::Keymap;
use crate::config::theme::Theme;
use crate::protocol::Event;
use crate::session::log::LogError;

pub use app::App;

pub struct WorkbenchOptions {
    pub theme: Theme,
    pub keymap: Keymap,
    /// Config problems, one persistent line each at the top of the screen.
    pub banner: Vec<String>,
    /// Tokens of context the gauge counts as full.
    pub context_budget: u64,
    pub title: String,
    /// Attached to session `id` over its control socket: quitting detaches and leaves the
    /// run going.
    pub attached: Option<String>,
    /// Ring the terminal bell when the run starts waiting for the supervisor.
    pub bell: bool,
    /// Keep the terminal's title on the session's state.
    pub title_updates: bool,
}

impl Default for WorkbenchOptions {
    fn default() -> Self {
        WorkbenchOptions {
            theme: Theme::default(),
            keymap: Keymap::default(),
            banner: Vec::new(),
            context_budget: 128_000,
            title: "endure".into(),
            attached: None,
            bell: true,
            title_updates: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkbenchExit {
    /// The user quit.
    Quit,
    /// SIGTERM, SIGHUP or SIGINT; the terminal was restored first.
    Signal(&'static str),
    /// The Fleet panel asked to attach to this session instead.
    Attach(String),
}

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("terminal: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("cannot follow the session log: {0}")]
    Watch(#[from] notify::Error),
}

/// Supervises a running session. `history` = events emitted before `events` subscribed;
/// `task_pending` = started without a task, so the task editor opens focused.
pub async fn run_live(
    opts: WorkbenchOptions,
    history: Vec<Event>,
    events: broadcast::Receiver<Event>,
    commands: CommandSender,
    task_pending: bool,
) -> Result<WorkbenchExit, TuiError> {
    let app = App::live(opts, &history, commands, task_pending);
    run_loop(app, Some(Live::Broadcast(events)), None).await
}

/// [`run_live`], with the events handed on through a channel (`agent::after_run::relay`).
pub async fn run_live_relayed(
    opts: WorkbenchOptions,
    history: Vec<Event>,
    events: mpsc::UnboundedReceiver<Event>,
    commands: CommandSender,
    task_pending: bool,
) -> Result<WorkbenchExit, TuiError> {
    let app = App::live(opts, &history, commands, task_pending);
    run_loop(app, Some(Live::Channel(events)), None).await
}

/// Supervises a session another process runs, over its control socket: the events come from
/// `remote` (backlog, then live) and commands go back over it. Quitting detaches.
pub async fn run_attached(opts: WorkbenchOptions, mut remote: crate::control::attach::Remote) -> Result<WorkbenchExit, TuiError> {
    let events = std::mem::replace(&mut remote.events, mpsc::unbounded_channel().1);
    let app = App::live(opts, &[], remote.commands.clone(), false);
    let exit = run_loop(app, Some(Live::Socket(events)), None).await;
    // Closes the connection: the run goes on.
    drop(remote);
    exit
}

/// `endure fleet`: the Fleet panel on its own, full screen.
pub async fn run_fleet(opts: WorkbenchOptions) -> Result<WorkbenchExit, TuiError> {
    let mut app = App::new(opts, app::Mode::Live { task_pending: false }, None);
    let fleet = panel::PanelId(panels::fleet::FLEET);
    app.hidden = app.panels.iter().map(|p| p.id()).filter(|id| *id != fleet).collect();
    app.set_focus(fleet);
    app.maximized = true;
    run_loop(app, None, None).await
}

/// Opens a session log read-only. With `follow`, events appended later are shown as they
/// arrive (a torn last line waits for its rest).
pub async fn run_replay(opts: WorkbenchOptions, log_path: PathBuf, follow: bool) -> Result<WorkbenchExit, TuiError> {
    if !follow {
        let read = crate::session::log::read_log(&log_path)?;
        let mut app = App::replay(opts, read.events);
        for w in read.warnings {
            app.note(state::NoticeLevel::Warning, w);
        }
        return run_loop(app, None, None).await;
    }
    let mut tail = replay::LogTail::new(&log_path);
    let (events, warnings) = tail.read_new().map_err(|source| LogError::Io { path: log_path.display().to_string(), source })?;
    let mut app = App::replay(opts, events);
    for w in warnings {
        app.note(state::NoticeLevel::Warning, w);
    }
    let (rx, _watcher) = follow_log(tail)?;
    run_loop(app, None, Some(rx)).await
}

type Batch = (Vec<Event>, Vec<String>);

/// Watches the directory holding `path` and pings on every change to the file. The directory,
/// because the file may not exist yet and a rename over it (an atomic save) replaces its inode,
/// which a watch on the file itself would lose. `unnamed` also pings for events that name no
/// path, which some backends send when they cannot tell what changed.
fn watch_file(path: &std::path::Path, unnamed: bool) -> Result<(mpsc::UnboundedReceiver<()>, notify::RecommendedWatcher), notify::Error> {
    use notify::Watcher;
    let (ping_tx, ping_rx) = mpsc::unbounded_channel::<()>();
    let name = path.file_name().map(|n| n.to_os_string());
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res
            && ((unnamed && ev.paths.is_empty()) || ev.paths.iter().any(|p| p.file_name().map(|n| n.to_os_string()) == name))
        {
            let _ = ping_tx.send(());
        }
    })?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).map(|p| p.to_path_buf()).unwrap_or_else(|| PathBuf::from("."));
    watcher.watch(&dir, notify::RecursiveMode::NonRecursive)?;
    Ok((ping_rx, watcher))
}

/// Follows the log (which may not be flushed for a moment) and sends what was appended each
/// time it changes.
fn follow_log(mut tail: replay::LogTail) -> Result<(mpsc::UnboundedReceiver<Batch>, notify::RecommendedWatcher), TuiError> {
    // A log that is still being written is worth a read on any hint of a change.
    let (mut ping_rx, watcher) = watch_file(tail.path(), true)?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while ping_rx.recv().await.is_some() {
            while ping_rx.try_recv().is_ok() {}
            match tail.read_new() {
                Ok((events, warnings)) if events.is_empty() && warnings.is_empty() => {}
                Ok(batch) => {
                    if tx.send(batch).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    if tx.send((Vec::new(), vec![format!("reading {}: {e}", tail.path().display())])).is_err() {
                        break;
                    }
                }
            }
        }
    });
    Ok((rx, watcher))
}

/// Where a live workbench's events come from: the runtime in this process, or a session's
/// control socket.
enum Live {
    Broadcast(broadcast::Receiver<Event>),
    /// Events handed on one by one (`agent::after_run::relay`).
    Channel(mpsc::UnboundedReceiver<Event>),
    Socket(mpsc::UnboundedReceiver<crate::control::attach::Incoming>),
}

/// One item from the live source: an event, or a line the socket could not give as one.
enum LiveItem {
    Event(Box<Event>),
    Lagged(u64),
    Problem(String),
    Closed,
}

impl Live {
    async fn recv(&mut self) -> LiveItem {
        match self {
            Live::Broadcast(r) => match r.recv().await {
                Ok(ev) => LiveItem::Event(Box::new(ev)),
                Err(broadcast::error::RecvError::Lagged(k)) => LiveItem::Lagged(k),
                Err(broadcast::error::RecvError::Closed) => LiveItem::Closed,
            },
            Live::Channel(r) => r.recv().await.map_or(LiveItem::Closed, |ev| LiveItem::Event(Box::new(ev))),
            Live::Socket(r) => Live::from_socket(r.recv().await),
        }
    }

    /// What is already queued, without waiting.
    fn try_recv(&mut self) -> Option<LiveItem> {
        match self {
            Live::Broadcast(r) => match r.try_recv() {
                Ok(ev) => Some(LiveItem::Event(Box::new(ev))),
                Err(broadcast::error::TryRecvError::Lagged(k)) => Some(LiveItem::Lagged(k)),
                Err(broadcast::error::TryRecvError::Closed) => Some(LiveItem::Closed),
                Err(broadcast::error::TryRecvError::Empty) => None,
            },
            Live::Channel(r) => match r.try_recv() {
                Ok(ev) => Some(LiveItem::Event(Box::new(ev))),
                Err(mpsc::error::TryRecvError::Disconnected) => Some(LiveItem::Closed),
                Err(mpsc::error::TryRecvError::Empty) => None,
            },
            Live::Socket(r) => match r.try_recv() {
                Ok(item) => Some(Live::from_socket(Some(item))),
                Err(mpsc::error::TryRecvError::Disconnected) => Some(LiveItem::Closed),
                Err(mpsc::error::TryRecvError::Empty) => None,
            },
        }
    }

    fn from_socket(item: Option<crate::control::attach::Incoming>) -> LiveItem {
        match item {
            Some(crate::control::attach::Incoming::Event(ev)) => LiveItem::Event(ev),
            Some(crate::control::attach::Incoming::Error(m)) => LiveItem::Problem(m),
            None => LiveItem::Closed,
        }
    }
}

async fn recv_live(rx: &mut Option<Live>) -> LiveItem {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// How long MEMORY.md must stay quiet before the panel reloads: an atomic save is a create
/// and a rename, and an editor may write several times in a row.
const MEMORY_DEBOUNCE: Duration = Duration::from_millis(150);

/// Sends one message per quiet burst of changes to MEMORY.md at `path`.
fn watch_memory(path: &std::path::Path) -> Result<(mpsc::UnboundedReceiver<()>, notify::RecommendedWatcher), notify::Error> {
    // Only events that name the file: a reload on every unrelated change in the workspace
    // would churn the panel (and an open editor's conflict check) for nothing.
    let (mut ping_rx, watcher) = watch_file(path, false)?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while ping_rx.recv().await.is_some() {
            // Debounce: wait until a whole interval passes without another change.
            loop {
                tokio::time::sleep(MEMORY_DEBOUNCE).await;
                let mut more = false;
                while ping_rx.try_recv().is_ok() {
                    more = true;
                }
                if !more {
                    break;
                }
            }
            if tx.send(()).is_err() {
                break;
            }
        }
    });
    Ok((rx, watcher))
}

/// The MEMORY.md watch for the path the app shows; replaced when that path changes.
#[derive(Default)]
struct MemoryWatch {
    path: Option<PathBuf>,
    rx: Option<mpsc::UnboundedReceiver<()>>,
    _watcher: Option<notify::RecommendedWatcher>,
}

impl MemoryWatch {
    fn sync(&mut self, app: &mut App) {
        // One watched file today (MEMORY.md, from the Memory panel).
        let Some(want) = app.watched_files().into_iter().next() else { return };
        if self.path.as_deref() == Some(want.as_path()) {
            return;
        }
        *self = MemoryWatch { path: Some(want.clone()), ..MemoryWatch::default() };
        match watch_memory(&want) {
            Ok((rx, w)) => {
                self.rx = Some(rx);
                self._watcher = Some(w);
            }
            // The panel still shows the file; it just will not follow changes.
            Err(e) => app.note(state::NoticeLevel::Warning, format!("cannot watch {} for changes: {e}", want.display())),
        }
    }
}

async fn recv_unit(rx: &mut Option<mpsc::UnboundedReceiver<()>>) -> Option<()> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_changed(rx: &mut Option<tokio::sync::watch::Receiver<u64>>) -> Option<()> {
    match rx {
        Some(r) => r.changed().await.ok(),
        None => std::future::pending().await,
    }
}

async fn recv_batch(rx: &mut Option<mpsc::UnboundedReceiver<Batch>>) -> Option<Batch> {
    match rx {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

/// Longest burst of queued runtime events folded before drawing, so keys stay responsive.
const MAX_DRAIN: usize = 4096;

async fn run_loop(
    mut app: App,
    mut live: Option<Live>,
    mut follow: Option<mpsc::UnboundedReceiver<Batch>>,
) -> Result<WorkbenchExit, TuiError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    // In raw mode Ctrl-C is a key, but `kill -INT` is still a signal, whose default action
    // would leave the alternate screen and mouse tracking on.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut guard = terminal::TerminalGuard::enter()?;
    let (frames, mut draws) = scheduler::spawn();
    let mut input = crossterm::event::EventStream::new();
    let mut memory = MemoryWatch::default();
    let mut alerts = alerts::Alerts::default();
    let mut fleet = fleet::Connection::none();
    frames.schedule();
    loop {
        memory.sync(&mut app);
        fleet.sync(&mut app);
        // A terminal that takes neither escape ignores it; nothing to do about a failed write.
        let _ = alerts.flush(&app, guard.terminal.backend_mut());
        tokio::select! {
            Some(()) = draws.recv() => {
                guard.terminal.draw(|f| app.render(f))?;
                if app.is_animating() {
                    frames.schedule_in(Duration::from_millis(100));
                }
            }
            ev = input.next() => match ev {
                Some(Ok(ev)) => {
                    app.handle_event(ev);
                    if let Some(text) = app.clipboard.take() {
                        // A terminal without OSC 52 ignores the escape; nothing else to do.
                        let _ = clipboard::copy_to(guard.terminal.backend_mut(), &text);
                    }
                    frames.schedule();
                }
                Some(Err(e)) => return Err(TuiError::Io(e)),
                None => return Ok(WorkbenchExit::Quit),
            },
            r = recv_live(&mut live) => {
                let mut next = Some(r);
                let mut n = 0;
                // Fold everything already queued, then draw once.
                while let Some(r) = next.take() {
                    match r {
                        LiveItem::Event(ev) => {
                            alerts.on_event(&ev);
                            app.apply_event(&ev);
                        }
                        LiveItem::Lagged(k) => app.note_lagged(k),
                        LiveItem::Problem(m) => app.note(state::NoticeLevel::Warning, format!("control socket: {m}")),
                        LiveItem::Closed => {
                            live = None;
                            let gone = if app.opts.attached.is_some() {
                                "the session has ended (its connection closed); the workbench stays open until you quit"
                            } else {
                                "the runtime has exited; the workbench stays open until you quit"
                            };
                            app.note(state::NoticeLevel::Info, gone.into());
                            break;
                        }
                    }
                    n += 1;
                    if n < MAX_DRAIN {
                        next = live.as_mut().and_then(Live::try_recv);
                    }
                }
                frames.schedule();
            }
            b = recv_batch(&mut follow) => match b {
                Some((events, warnings)) => {
                    app.append_replay(events);
                    for w in warnings {
                        app.note(state::NoticeLevel::Warning, w);
                    }
                    frames.schedule();
                }
                None => follow = None,
            },
            m = recv_unit(&mut memory.rx) => match m {
                Some(()) => {
                    app.file_changed();
                    frames.schedule();
                }
                None => memory.rx = None,
            },
            c = recv_changed(&mut fleet.changed) => match c {
                Some(()) => frames.schedule(),
                None => fleet.changed = None,
            },
            _ = sigterm.recv() => return Ok(WorkbenchExit::Signal("SIGTERM")),
            _ = sighup.recv() => return Ok(WorkbenchExit::Signal("SIGHUP")),
            _ = sigint.recv() => return Ok(WorkbenchExit::Signal("SIGINT")),
        }
        if let Some(id) = fleet::take_attach(&mut app) {
            return Ok(WorkbenchExit::Attach(id));
        }
        if app.should_quit {
            return Ok(WorkbenchExit::Quit);
        }
    }
}
