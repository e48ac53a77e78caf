//! `endure exec --detach`: the run continues in a background process of its own.
//!
//! The binary runs itself again with `--detached-session ID` in a new session (setsid, so no
//! terminal's hangup reaches it), stdin from /dev/null and stdout and stderr to `detached.log`
//! in the session's directory. The starting process returns once the background one holds the
//! session's lock and serves its control socket, so that `stop`, `logs -f` and `ps` work as
//! soon as the id is printed.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The background process's output, in its session's directory.
pub const DETACHED_LOG: &str = "detached.log";

#[derive(Debug, thiserror::Error)]
pub enum DetachError {
    #[error("cannot start the background run: {0}")]
    Spawn(std::io::Error),
    #[error("the background run ended before it started ({status}){}", tail(.log))]
    Ended { status: std::process::ExitStatus, log: String },
    #[error("the background run did not start within {secs} s; its output is in {log}")]
    Timeout { secs: u64, log: String },
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let last = &lines[lines.len().saturating_sub(10)..];
    if last.is_empty() { String::new() } else { format!(":\n{}", last.join("\n")) }
}

/// The arguments of the background process: this process's, without `--detach`, with the
/// session id it must use (after `exec`, or after `workflow run`).
pub fn background_args(args: &[OsString], session_id: &str) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len() + 2);
    let mut removed = false;
    let mut literal = false;
    for a in args {
        if a == "--" {
            literal = true;
        }
        if !removed && !literal && a == "--detach" {
            removed = true;
            continue;
        }
        let subcommand = a == "exec" || (a == "run" && out.last().is_some_and(|p: &OsString| p == "workflow"));
        out.push(a.clone());
        if subcommand && !literal && !out.iter().any(|x| x == "--detached-session") {
            out.push("--detached-session".into());
            out.push(session_id.into());
        }
    }
    out
}

/// Starts the background run of session `session_id` and waits until it serves its socket.
/// Returns its pid.
pub fn start(exe: &Path, args: Vec<OsString>, session_dir: &Path) -> Result<u32, DetachError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(session_dir).map_err(DetachError::Spawn)?;
    std::fs::set_permissions(session_dir, std::fs::Permissions::from_mode(0o700)).map_err(DetachError::Spawn)?;
    let log_path = session_dir.join(DETACHED_LOG);
    let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).map_err(DetachError::Spawn)?;
    let err = log.try_clone().map_err(DetachError::Spawn)?;
    let mut cmd = Command::new(exe);
    cmd.args(args).stdin(Stdio::null()).stdout(log).stderr(err);
    // SAFETY: setsid is async-signal-safe and touches nothing of the parent's memory.
    unsafe {
        cmd.pre_exec(|| if libc::setsid() < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) });
    }
    let mut child = cmd.spawn().map_err(DetachError::Spawn)?;
    let pid = child.id();
    let socket = session_dir.join(super::SOCKET_FILE);
    let limit = Duration::from_secs(60);
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(DetachError::Ended { status, log: std::fs::read_to_string(&log_path).unwrap_or_default() });
        }
        let held = crate::session::lock::SessionLock::holder(session_dir).is_some_and(|h| h.pid == Some(pid));
        if held && socket.exists() {
            return Ok(pid);
        }
        if start.elapsed() > limit {
            return Err(DetachError::Timeout { secs: limit.as_secs(), log: log_path.display().to_string() });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Where the background run's output goes.
pub fn log_path(session_dir: &Path) -> PathBuf {
    session_dir.join(DETACHED_LOG)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_background_arguments_drop_detach_and_name_the_session() {
        let args: Vec<OsString> = ["endure", "exec", "--detach", "--speed", "1", "--", "--detach"].iter().map(OsString::from).collect();
        let out = background_args(&args, "s1");
        let out: Vec<&str> = out.iter().filter_map(|a| a.to_str()).collect();
        assert_eq!(out, ["endure", "exec", "--detached-session", "s1", "--speed", "1", "--", "--detach"]);
    }

    #[test]
    fn a_detached_workflow_run_names_its_session_after_workflow_run() {
        let args: Vec<OsString> =
            ["endure", "workflow", "run", "--detach", "w.js", "--max-steps", "3"].iter().map(OsString::from).collect();
        let out = background_args(&args, "s2");
        let out: Vec<&str> = out.iter().filter_map(|a| a.to_str()).collect();
        assert_eq!(out, ["endure", "workflow", "run", "--detached-session", "s2", "w.js", "--max-steps", "3"]);
    }
}
