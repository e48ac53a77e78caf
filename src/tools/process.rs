//! Background processes: `run {background: true}` starts one, `process` reads its recent
//! output or ends it. Each runs sandboxed like any command (its own PID namespace, the
//! session's network namespace), outlives the call that started it, and is killed when the
//! session ends, or with endure itself.

use std::collections::{BTreeMap, VecDeque};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::oneshot;

use super::args::Args;
use super::{ToolContext, ToolError, ToolOutcome};
use crate::protocol::EventKind;
use crate::sandbox::{Confinement, Sandbox};

/// Recent output kept per process.
const RING_BYTES: usize = 64 * 1024;
/// At most this many background processes run at once.
const MAX_RUNNING: usize = 16;
/// How long `kill` waits for the process to be gone before answering.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// Where process events go: the session's recorder, or nowhere in tests.
pub type Notify = Arc<dyn Fn(EventKind) + Send + Sync>;

/// The background processes of a session.
pub struct Processes {
    table: Mutex<Table>,
    notify: Notify,
}

struct Table {
    next_id: u64,
    procs: BTreeMap<u64, Arc<Proc>>,
}

struct Proc {
    command: String,
    /// The process group of the sandbox's outermost process: killing it ends the namespace.
    pgid: libc::pid_t,
    ring: Mutex<Ring>,
    state: Mutex<ProcState>,
    kill: Mutex<Option<oneshot::Sender<()>>>,
    exited: tokio::sync::Notify,
}

#[derive(Debug, Clone, PartialEq)]
enum ProcState {
    Running,
    Exited { exit_code: Option<i32>, reason: String },
}

#[derive(Default)]
struct Ring {
    buf: VecDeque<u8>,
    dropped: u64,
}

impl Ring {
    fn push(&mut self, data: &[u8]) {
        self.buf.extend(data);
        if self.buf.len() > RING_BYTES {
            let excess = self.buf.len() - RING_BYTES;
            self.buf.drain(..excess);
            self.dropped += excess as u64;
        }
    }

    fn text(&self) -> String {
        let bytes: Vec<u8> = self.buf.iter().copied().collect();
        // The ring's start may split a character.
        let skip = if self.dropped > 0 { bytes.iter().take(3).take_while(|b| (**b & 0xC0) == 0x80).count() } else { 0 };
        let text = String::from_utf8_lossy(&bytes[skip..]).into_owned();
        if self.dropped > 0 { format!("[... {} earlier bytes dropped ...]\n{text}", self.dropped) } else { text }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Processes {
    /// A table whose ids start at `next_id` (a resumed session continues its numbering).
    pub fn new(next_id: u64, notify: Option<Notify>) -> Processes {
        Processes {
            table: Mutex::new(Table { next_id: next_id.max(1), procs: BTreeMap::new() }),
            notify: notify.unwrap_or_else(|| Arc::new(|_| {})),
        }
    }

    pub fn any_running(&self) -> bool {
        lock(&self.table).procs.values().any(|p| *lock(&p.state) == ProcState::Running)
    }

    /// Ends every running process and records why, before the session records its end. The
    /// kill is a SIGKILL to each sandbox's process group: the PID namespace goes with it.
    pub fn shutdown(&self, reason: &str) {
        let procs: Vec<(u64, Arc<Proc>)> = lock(&self.table).procs.iter().map(|(id, p)| (*id, p.clone())).collect();
        for (id, p) in procs {
            let mut state = lock(&p.state);
            if *state != ProcState::Running {
                continue;
            }
            // SAFETY: killpg only sends a signal; the group is ours and still running.
            unsafe {
                libc::killpg(p.pgid, libc::SIGKILL);
            }
            *state = ProcState::Exited { exit_code: None, reason: reason.to_string() };
            // Recorded under the state's lock, so the watcher can never record it again.
            (self.notify)(EventKind::ProcessExited { id, exit_code: None, reason: reason.to_string() });
        }
    }

    fn get(&self, id: u64) -> Option<Arc<Proc>> {
        lock(&self.table).procs.get(&id).cloned()
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        // Whatever path ended the session, its processes end with it.
        for p in lock(&self.table).procs.values() {
            if *lock(&p.state) == ProcState::Running {
                // SAFETY: as in shutdown.
                unsafe {
                    libc::killpg(p.pgid, libc::SIGKILL);
                }
            }
        }
    }
}

/// `run {background: true}`: starts the command and returns its id at once.
pub(super) fn start(ctx: &mut ToolContext, command: &str) -> Result<ToolOutcome, ToolError> {
    let procs = ctx.processes.clone();
    let running = lock(&procs.table).procs.values().filter(|p| *lock(&p.state) == ProcState::Running).count();
    if running >= MAX_RUNNING {
        return Err(ToolError(format!(
            "run: {MAX_RUNNING} background processes are already running; end one with `process` (action \"kill\") first"
        )));
    }
    let mut cmd = ctx.sandbox.command(command, Confinement::Sandboxed);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| ToolError(format!("run: cannot start the background process: {e}")))?;
    let Some(pid) = child.id() else {
        return Err(ToolError("run: the background process exited before it could be tracked".into()));
    };
    let (kill_tx, kill_rx) = oneshot::channel();
    let proc = Arc::new(Proc {
        command: command.to_string(),
        pgid: pid as libc::pid_t,
        ring: Mutex::new(Ring::default()),
        state: Mutex::new(ProcState::Running),
        kill: Mutex::new(Some(kill_tx)),
        exited: tokio::sync::Notify::new(),
    });
    let id = {
        let mut t = lock(&procs.table);
        let id = t.next_id;
        t.next_id += 1;
        t.procs.insert(id, proc.clone());
        id
    };
    (procs.notify)(EventKind::ProcessStarted { id, command: command.to_string() });
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let sandbox = ctx.sandbox.clone();
    tokio::spawn(watch(procs, sandbox, id, proc, child, stdout, stderr, kill_rx));
    let confined = if ctx.sandbox.is_confining() { "sandboxed like any command, " } else { "" };
    Ok(ToolOutcome::success(format!(
        "started background process {id}: {command}\nIt keeps running ({confined}sharing the session's loopback) until it exits, you end it, or the session ends. \
         Read its recent output with `process` {{\"id\": {id}, \"action\": \"output\"}}; end it with {{\"id\": {id}, \"action\": \"kill\"}}."
    )))
}

/// Reads a background process's output into its ring until it exits or is killed, then
/// records the exit.
#[allow(clippy::too_many_arguments)]
async fn watch(
    procs: Arc<Processes>,
    sandbox: Arc<Sandbox>,
    id: u64,
    proc: Arc<Proc>,
    mut child: tokio::process::Child,
    mut stdout: Option<tokio::process::ChildStdout>,
    mut stderr: Option<tokio::process::ChildStderr>,
    mut kill_rx: oneshot::Receiver<()>,
) {
    let (mut ob, mut eb) = (vec![0u8; 8192], vec![0u8; 8192]);
    let mut status = None;
    let mut killed = false;
    loop {
        if status.is_some() {
            break;
        }
        tokio::select! {
            r = read_opt(&mut stdout, &mut ob) => match r {
                Some(n) => lock(&proc.ring).push(&ob[..n]),
                None => stdout = None,
            },
            r = read_opt(&mut stderr, &mut eb) => match r {
                Some(n) => lock(&proc.ring).push(&eb[..n]),
                None => stderr = None,
            },
            s = child.wait() => status = Some(s),
            _ = &mut kill_rx, if !killed => {
                killed = true;
                // SAFETY: killpg only sends a signal to the process group we started.
                unsafe {
                    libc::killpg(proc.pgid, libc::SIGKILL);
                }
            }
        }
    }
    // The namespace is gone with its first process; whatever is left in the pipes is output.
    // SAFETY: as above; a group already gone yields ESRCH.
    unsafe {
        libc::killpg(proc.pgid, libc::SIGKILL);
    }
    let drain_end = tokio::time::Instant::now() + Duration::from_millis(300);
    while stdout.is_some() || stderr.is_some() {
        tokio::select! {
            r = read_opt(&mut stdout, &mut ob) => match r {
                Some(n) => lock(&proc.ring).push(&ob[..n]),
                None => stdout = None,
            },
            r = read_opt(&mut stderr, &mut eb) => match r {
                Some(n) => lock(&proc.ring).push(&eb[..n]),
                None => stderr = None,
            },
            _ = tokio::time::sleep_until(drain_end) => break,
        }
    }
    let exit_code = match status {
        Some(Ok(s)) if !killed => s.code().or_else(|| s.signal().map(|sig| 128 + sig)),
        _ => None,
    };
    let reason = if killed { "killed" } else { "exited" };
    let newly = {
        let mut st = lock(&proc.state);
        let newly = *st == ProcState::Running;
        if newly {
            *st = ProcState::Exited { exit_code, reason: reason.to_string() };
            // Under the lock: a session ending now records its end only after this.
            (procs.notify)(EventKind::ProcessExited { id, exit_code, reason: reason.to_string() });
        }
        newly
    };
    if newly && let Some(msg) = sandbox.memory_guard().check() {
        (procs.notify)(EventKind::Warning { message: format!("background process {id}: {msg}") });
    }
    proc.exited.notify_waiters();
}

async fn read_opt<R: tokio::io::AsyncRead + Unpin>(r: &mut Option<R>, buf: &mut [u8]) -> Option<usize> {
    match r {
        Some(r) => match r.read(buf).await {
            Ok(n) if n > 0 => Some(n),
            _ => None,
        },
        None => std::future::pending().await,
    }
}

/// The `process` tool: `output` or `kill` one background process.
pub(super) async fn process(ctx: &mut ToolContext, a: &Args<'_>) -> Result<ToolOutcome, ToolError> {
    let id = a.u64("id")?;
    let action = a.str("action")?;
    let Some(p) = ctx.processes.get(id) else {
        let known: Vec<String> = lock(&ctx.processes.table).procs.keys().map(|k| k.to_string()).collect();
        let known = if known.is_empty() { "none has been started".to_string() } else { format!("known ids: {}", known.join(", ")) };
        return Err(ToolError(format!("process: no background process {id} ({known})")));
    };
    match action {
        "output" => Ok(ToolOutcome::success(describe(id, &p))),
        "kill" => {
            let waiting = p.exited.notified();
            tokio::pin!(waiting);
            waiting.as_mut().enable();
            let running = *lock(&p.state) == ProcState::Running;
            if running {
                if let Some(tx) = lock(&p.kill).take() {
                    let _ = tx.send(());
                }
                let _ = tokio::time::timeout(KILL_WAIT, waiting).await;
            }
            let head = if running { format!("killed background process {id}\n") } else { String::new() };
            Ok(ToolOutcome::success(format!("{head}{}", describe(id, &p))))
        }
        other => Err(ToolError(format!("process: unknown action `{other}`; use \"output\" or \"kill\""))),
    }
}

fn describe(id: u64, p: &Proc) -> String {
    let state = match &*lock(&p.state) {
        ProcState::Running => "running".to_string(),
        ProcState::Exited { exit_code: Some(c), reason } => format!("{reason} with code {c}"),
        ProcState::Exited { exit_code: None, reason } => reason.clone(),
    };
    let out = lock(&p.ring).text();
    let out = if out.is_empty() { "(no output yet)".to_string() } else { out };
    format!("process {id} ({state}): {}\n--- recent output ---\n{out}", p.command)
}
