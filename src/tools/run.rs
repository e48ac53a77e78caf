//! run: a shell command in the session's sandbox (or, escalated, outside it), in its own
//! process group, with a timeout, captured output and the file changes it made.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::{Instant, sleep_until};

use super::args::Args;
use super::{ToolContext, ToolError, ToolOutcome, cap_output};
use crate::sandbox::{Confinement, SandboxMode};

/// Bytes of output kept from the start and from the end of a command's output; the middle
/// of a runaway output is dropped while it streams so memory stays bounded.
const KEEP_HEAD: usize = 1024 * 1024;
const KEEP_TAIL: usize = 1024 * 1024;

/// How long to keep reading after the shell exits, for output still in flight from its
/// children. Background processes holding the pipes open are killed after it.
const EXIT_GRACE: Duration = Duration::from_millis(300);
const DRAIN_AFTER_KILL: Duration = Duration::from_millis(300);

/// Kills the whole process group when dropped: on normal completion, on timeout, and when
/// the future running the command is dropped because the supervisor stopped the step.
struct GroupGuard {
    pgid: libc::pid_t,
    armed: bool,
}

impl GroupGuard {
    fn kill(&mut self) {
        // Once signalled, the group is not signalled again: after its members are gone the id
        // could in principle be reused by an unrelated group.
        if std::mem::replace(&mut self.armed, false) {
            // SAFETY: killpg only sends a signal; a group that no longer exists yields ESRCH.
            unsafe {
                libc::killpg(self.pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Output in arrival order, bounded to a head and a tail.
#[derive(Default)]
struct Capture {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    dropped: u64,
}

impl Capture {
    fn push(&mut self, mut data: &[u8]) {
        if self.head.len() < KEEP_HEAD {
            let take = (KEEP_HEAD - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        self.tail.extend(data);
        if self.tail.len() > KEEP_TAIL {
            let excess = self.tail.len() - KEEP_TAIL;
            self.tail.drain(..excess);
            self.dropped += excess as u64;
        }
    }

    fn into_string(self) -> String {
        let mut head = self.head;
        let mut tail: Vec<u8> = self.tail.into();
        if self.dropped == 0 {
            head.extend_from_slice(&tail);
            return String::from_utf8_lossy(&head).into_owned();
        }
        // Cut points may split a character; drop the partial bytes instead of showing U+FFFD.
        if let Err(e) = std::str::from_utf8(&head)
            && e.error_len().is_none()
        {
            head.truncate(e.valid_up_to());
        }
        let skip = tail.iter().take(3).take_while(|b| (**b & 0xC0) == 0x80).count();
        tail.drain(..skip);
        format!("{}\n[... {} bytes omitted ...]\n{}", String::from_utf8_lossy(&head), self.dropped, String::from_utf8_lossy(&tail))
    }
}

async fn read_some<R: AsyncRead + Unpin>(r: &mut Option<R>, buf: &mut [u8]) -> std::io::Result<usize> {
    match r {
        Some(r) => r.read(buf).await,
        None => std::future::pending().await,
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

fn format_secs(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{:.1}s", d.as_secs_f64()) }
}

pub(super) async fn run(ctx: &mut ToolContext, a: &Args<'_>) -> Result<ToolOutcome, ToolError> {
    let command = a.str("command")?;
    if command.trim().is_empty() {
        return Err(ToolError("run: `command` is empty".into()));
    }
    let limits = &ctx.limits;
    let timeout = match a.opt_f64("timeout_s")? {
        None => limits.default_timeout.min(limits.max_timeout),
        Some(s) if s.is_finite() && s > 0.0 => Duration::from_secs_f64(s.min(limits.max_timeout.as_secs_f64())),
        Some(s) => return Err(ToolError(format!("run: `timeout_s` must be a positive number of seconds, got {s}"))),
    };

    let background = a.opt_bool("background")?.unwrap_or(false);
    let escalate = a.opt_bool("escalate")?.unwrap_or(false);
    if background && escalate {
        return Err(ToolError(
            "run: a background process cannot be escalated; run it in the sandbox, or escalate a foreground command".into(),
        ));
    }
    if escalate && !ctx.escalation_approved {
        return Err(ToolError("run: this escalation was not approved; the command did not run".into()));
    }
    if background {
        return super::process::start(ctx, command);
    }
    let confinement = if escalate { Confinement::Escalated } else { Confinement::Sandboxed };
    // With nothing of the session running, whoever changed MEMORY.md since was not a command.
    if !ctx.processes.any_running() && !ctx.mcp.any_running() {
        ctx.sandbox.memory_guard().accept_current();
    }

    let mut cmd = ctx.sandbox.command(command, confinement);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| ToolError(format!("run: cannot start the command: {e}")))?;
    let Some(pid) = child.id() else {
        return Err(ToolError("run: the command exited before it could be tracked".into()));
    };
    let mut guard = GroupGuard { pgid: pid as libc::pid_t, armed: true };

    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let mut capture = Capture::default();
    let (mut out_buf, mut err_buf) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let deadline = Instant::now() + timeout;
    let mut status = None;
    let mut grace_end: Option<Instant> = None;
    let mut timed_out = false;
    let mut orphans_killed = false;

    loop {
        if status.is_some() && stdout.is_none() && stderr.is_none() {
            break;
        }
        tokio::select! {
            r = read_some(&mut stdout, &mut out_buf) => match r {
                Ok(n) if n > 0 => capture.push(&out_buf[..n]),
                _ => stdout = None,
            },
            r = read_some(&mut stderr, &mut err_buf) => match r {
                Ok(n) if n > 0 => capture.push(&err_buf[..n]),
                _ => stderr = None,
            },
            s = child.wait(), if status.is_none() => {
                status = Some(s);
                grace_end = Some(Instant::now() + EXIT_GRACE);
            }
            _ = sleep_until(grace_end.unwrap_or(deadline)), if grace_end.is_some() => {
                orphans_killed = true;
                break;
            }
            _ = sleep_until(deadline), if status.is_none() => {
                timed_out = true;
                break;
            }
        }
    }

    guard.kill();
    if status.is_none() {
        status = Some(child.wait().await);
    }
    // Whatever the killed processes had already written is still worth showing.
    let drain_end = Instant::now() + DRAIN_AFTER_KILL;
    while stdout.is_some() || stderr.is_some() {
        tokio::select! {
            r = read_some(&mut stdout, &mut out_buf) => match r {
                Ok(n) if n > 0 => capture.push(&out_buf[..n]),
                _ => stdout = None,
            },
            r = read_some(&mut stderr, &mut err_buf) => match r {
                Ok(n) if n > 0 => capture.push(&err_buf[..n]),
                _ => stderr = None,
            },
            _ = sleep_until(drain_end) => break,
        }
    }
    drop(guard);

    let raw = capture.into_string();
    let mut feedback = crate::feedback::analyze_in(&raw, &crate::feedback::Context::workspace(ctx.workspace.root()));
    let memory = ctx.sandbox.memory_guard().check();
    if confinement == Confinement::Sandboxed {
        let info = ctx.sandbox.info();
        let sandbox = crate::feedback::sandbox::SandboxContext {
            workspace: ctx.workspace.root(),
            read_only: ctx.sandbox.is_confining() && info.mode == SandboxMode::ReadOnly,
            network_off: ctx.sandbox.is_confining() && info.network == crate::sandbox::NetworkMode::Off,
        };
        let mut denials = if ctx.sandbox.is_confining() { crate::feedback::sandbox::denials(&raw, &sandbox) } else { Vec::new() };
        denials.append(&mut feedback.diagnostics);
        feedback.diagnostics = denials;
    }
    // The single writer holds even for an escalated command.
    if let Some(m) = &memory {
        let d = crate::protocol::Diagnostic {
            kind: "sandbox".into(),
            file: Some("MEMORY.md".into()),
            line: None,
            col: None,
            message: m.clone(),
        };
        feedback.diagnostics.insert(0, d);
    }
    let mut head = String::new();
    // A timeout is reported below with its reason; any other failure may need the output's end.
    let failed = !timed_out && !matches!(&status, Some(Ok(s)) if s.success());
    let block = crate::feedback::render_for_run(&feedback, &raw, failed);
    if !block.trim().is_empty() {
        head.push_str(block.trim_end());
        head.push('\n');
    }
    if confinement == Confinement::Escalated {
        head.push_str("ran outside the sandbox (escalation approved)\n");
    }
    let mut exit_code = None;
    if timed_out {
        head.push_str(&format!("timed out after {}; the process group was killed\n", format_secs(timeout)));
    } else {
        match status {
            Some(Ok(s)) => match (s.code(), s.signal()) {
                (Some(code), _) => {
                    exit_code = Some(code);
                    head.push_str(&format!("exit code: {code}\n"));
                }
                (None, Some(sig)) => head.push_str(&format!("killed by signal {sig} ({})\n", signal_name(sig))),
                (None, None) => head.push_str("exit status unknown\n"),
            },
            Some(Err(e)) => head.push_str(&format!("could not wait for the command: {e}\n")),
            None => head.push_str("exit status unknown\n"),
        }
        if orphans_killed {
            head.push_str("(background processes kept the output open after the command exited; they were killed)\n");
        }
    }
    let body = if raw.is_empty() { "(no output)" } else { raw.as_str() };
    let budget = ctx.limits.output_cap.saturating_sub(head.chars().count());
    let output = head + &cap_output(body, budget);

    let changes = ctx.workspace.rescan();
    let ok = exit_code == Some(0) && memory.is_none();
    Ok(ToolOutcome { ok, exit_code, output, feedback, changes, ..Default::default() })
}
