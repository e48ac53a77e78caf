//! A stdio MCP server's process: started through the session's sandbox like a `run` command
//! (same confinement, scrubbed environment, process group, parent-death signal) plus the
//! environment its configuration gives it; its stderr kept as a short tail for error
//! messages; its stdout watched for lines that are not JSON-RPC, which the MCP client skips
//! silently but which usually explain a server that never answers.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::watch;

use crate::sandbox::{Confinement, Sandbox};

/// Bytes of stderr kept for messages.
const STDERR_TAIL: usize = 4096;
/// Lines up to this size are checked as JSON; longer ones only by their first byte.
const CHECK_LINE: usize = 64 * 1024;
/// Characters of a malformed line quoted in messages.
const QUOTE: usize = 200;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running (or exited) server process.
pub struct Proc {
    pgid: libc::pid_t,
    stderr: Mutex<VecDeque<u8>>,
    /// The first stdout line that was not JSON, and how many there were.
    malformed: Mutex<Option<(String, u64)>>,
    /// How it exited, once it has.
    exit: watch::Receiver<Option<String>>,
    /// Ended on purpose (session end, a failed start), not crashed.
    killed: AtomicBool,
    /// The group was signalled: once its members are gone its id may be reused.
    signalled: AtomicBool,
}

impl Proc {
    /// Ends the process and everything it started (its sandbox's PID namespace goes with the
    /// group's first process).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.signal_group();
    }

    fn signal_group(&self) {
        if !self.signalled.swap(true, Ordering::SeqCst) {
            // SAFETY: killpg only sends a signal to the group this server leads.
            unsafe {
                libc::killpg(self.pgid, libc::SIGKILL);
            }
        }
    }

    pub fn was_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    /// How it exited, if it has.
    pub fn exit(&self) -> Option<String> {
        self.exit.borrow().clone()
    }

    /// Waits until it has exited.
    pub async fn exited(&self) -> String {
        let mut rx = self.exit.clone();
        match rx.wait_for(|e| e.is_some()).await {
            Ok(e) => e.clone().unwrap_or_default(),
            Err(_) => "its watcher ended".to_string(),
        }
    }

    /// Waits up to `limit` for the exit, for messages that can then say how it ended.
    pub async fn exit_within(&self, limit: Duration) -> Option<String> {
        tokio::time::timeout(limit, self.exited()).await.ok()
    }

    /// The last lines it wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        let bytes: Vec<u8> = lock(&self.stderr).iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect();
        let tail = &lines[lines.len().saturating_sub(5)..];
        tail.join("\n")
    }

    /// Says what the server wrote on stdout that was not JSON-RPC, if anything.
    pub fn malformed_note(&self) -> Option<String> {
        lock(&self.malformed).as_ref().map(|(line, n)| {
            let more = if *n > 1 { format!(" (and {} more such line{})", n - 1, if *n == 2 { "" } else { "s" }) } else { String::new() };
            format!("it wrote output on stdout that is not JSON-RPC, which was ignored: `{line}`{more}")
        })
    }

    /// Everything known about why the server is not answering: exit, malformed output, stderr.
    pub fn diagnosis(&self) -> String {
        let mut parts = Vec::new();
        if let Some(e) = self.exit() {
            parts.push(e);
        }
        if let Some(m) = self.malformed_note() {
            parts.push(m);
        }
        let tail = self.stderr_tail();
        if !tail.is_empty() {
            parts.push(format!("its stderr ends with:\n{tail}"));
        }
        parts.join("; ")
    }
}

/// Kills a server whose start was abandoned (the step was stopped mid-handshake), unless
/// disarmed once the server is in use.
pub struct KillGuard(pub Option<Arc<Proc>>);

impl Drop for KillGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            p.kill();
        }
    }
}

/// What to start.
pub struct Launch<'a> {
    pub command: &'a str,
    pub args: &'a [String],
    pub env: &'a [(String, String)],
    pub cwd: Option<&'a PathBuf>,
}

/// Starts the server; returns its stdout (watched), its stdin and the process.
pub fn spawn(sandbox: &Sandbox, l: &Launch<'_>) -> std::io::Result<(Watched<ChildStdout>, ChildStdin, Arc<Proc>)> {
    let mut shell = String::new();
    if let Some(dir) = l.cwd {
        shell.push_str(&format!("cd {} && ", shell_word(&dir.to_string_lossy())));
    }
    // exec: the server itself is the process the sandbox waits on, and gets the signals.
    shell.push_str("exec ");
    shell.push_str(&std::iter::once(l.command).chain(l.args.iter().map(String::as_str)).map(shell_word).collect::<Vec<_>>().join(" "));
    let mut cmd = sandbox.command(&shell, Confinement::Sandboxed);
    cmd.envs(l.env.iter().map(|(k, v)| (k, v))).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let Some(pid) = child.id() else {
        return Err(std::io::Error::other("the server exited before it could be tracked"));
    };
    let (Some(stdin), Some(stdout), Some(mut stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take()) else {
        return Err(std::io::Error::other("the server's stdio could not be connected"));
    };
    let (exit_tx, exit_rx) = watch::channel(None);
    let proc = Arc::new(Proc {
        pgid: pid as libc::pid_t,
        stderr: Mutex::new(VecDeque::new()),
        malformed: Mutex::new(None),
        exit: exit_rx,
        killed: AtomicBool::new(false),
        signalled: AtomicBool::new(false),
    });
    let p = proc.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        let mut stderr_open = true;
        let status = loop {
            tokio::select! {
                r = stderr.read(&mut buf), if stderr_open => match r {
                    Ok(n) if n > 0 => push_tail(&p, &buf[..n]),
                    _ => stderr_open = false,
                },
                s = child.wait() => break s,
            }
        };
        // What it wrote just before exiting is usually the reason.
        let drain = tokio::time::Instant::now() + Duration::from_millis(200);
        while stderr_open {
            tokio::select! {
                r = stderr.read(&mut buf) => match r {
                    Ok(n) if n > 0 => push_tail(&p, &buf[..n]),
                    _ => stderr_open = false,
                },
                _ = tokio::time::sleep_until(drain) => break,
            }
        }
        // Whatever it started dies with its group.
        p.signal_group();
        let text = match status {
            Ok(s) => match (s.code(), s.signal()) {
                (Some(c), _) => format!("it exited with code {c}"),
                (None, Some(sig)) => format!("it was killed by signal {sig}"),
                _ => "it exited".to_string(),
            },
            Err(e) => format!("it could not be waited for: {e}"),
        };
        let _ = exit_tx.send(Some(text));
    });
    let watched = Watched { inner: stdout, proc: proc.clone(), line: Vec::new(), line_len: 0 };
    Ok((watched, stdin, proc))
}

fn push_tail(p: &Proc, data: &[u8]) {
    let mut t = lock(&p.stderr);
    t.extend(data);
    let excess = t.len().saturating_sub(STDERR_TAIL);
    t.drain(..excess);
}

/// A word for `sh -c`, quoted unless it is plainly safe.
fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The server's stdout, passed through unchanged, with each line checked as it goes by.
pub struct Watched<R> {
    inner: R,
    proc: Arc<Proc>,
    /// The current line's first bytes (up to `CHECK_LINE`).
    line: Vec<u8>,
    line_len: usize,
}

impl<R> Watched<R> {
    fn see(&mut self, data: &[u8]) {
        for chunk in data.split_inclusive(|b| *b == b'\n') {
            let (body, ends) = match chunk.strip_suffix(b"\n") {
                Some(b) => (b, true),
                None => (chunk, false),
            };
            let room = CHECK_LINE.saturating_sub(self.line.len());
            self.line.extend_from_slice(&body[..body.len().min(room)]);
            self.line_len += body.len();
            if ends {
                self.end_line();
            }
        }
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        let len = std::mem::replace(&mut self.line_len, 0);
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            return;
        }
        let ok = if len <= CHECK_LINE {
            matches!(trimmed.first(), Some(b'{' | b'[')) && serde_json::from_slice::<serde::de::IgnoredAny>(trimmed).is_ok()
        } else {
            matches!(trimmed.first(), Some(b'{' | b'['))
        };
        if !ok {
            let text = String::from_utf8_lossy(trimmed);
            let quoted: String = text.chars().take(QUOTE).collect();
            let quoted = if text.chars().count() > QUOTE { format!("{quoted}…") } else { quoted };
            let mut m = lock(&self.proc.malformed);
            match m.as_mut() {
                Some((_, n)) => *n += 1,
                None => *m = Some((quoted, 1)),
            }
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Watched<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let fresh = buf.filled()[before..].to_vec();
            self.see(&fresh);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(shell_word("node"), "node");
        assert_eq!(shell_word("/a/b-c/index.js"), "/a/b-c/index.js");
        assert_eq!(shell_word("two words"), "'two words'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word("$HOME"), "'$HOME'");
        assert_eq!(shell_word(""), "''");
    }

    fn watched() -> Watched<tokio::io::Empty> {
        let (_tx, rx) = watch::channel(None);
        let proc = Arc::new(Proc {
            pgid: 0,
            stderr: Mutex::new(VecDeque::new()),
            malformed: Mutex::new(None),
            exit: rx,
            killed: AtomicBool::new(true),
            signalled: AtomicBool::new(true),
        });
        Watched { inner: tokio::io::empty(), proc, line: Vec::new(), line_len: 0 }
    }

    #[test]
    fn lines_that_are_not_json_are_noted_across_reads() {
        let mut w = watched();
        w.see(b"{\"jsonrpc\":\"2.0\",\"id\":1,");
        w.see(b"\"result\":{}}\n\n");
        assert_eq!(w.proc.malformed_note(), None);
        w.see(b"Server listening on stdio\n{\"jsonrpc\": \n{broken\n");
        let note = w.proc.malformed_note().expect("noted");
        assert!(note.contains("`Server listening on stdio` (and 2 more such lines)"), "{note}");
    }
}
