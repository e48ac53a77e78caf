//! One network namespace per session, joined by every command.
//!
//! Each command gets its own PID namespace, so nothing it starts outlives it; but a server a
//! command leaves running in the background must stay reachable over loopback from the next
//! command, so the network namespace is the session's. A short-lived bwrap creates it (and,
//! for an unprivileged user, the user namespace that owns it); endure opens
//! `/proc/<pid>/ns/{user,net}` while that process lives and keeps the descriptors, which keep
//! the namespaces alive after it exits. A command's child joins them with `setns` between
//! fork and exec, then execs bwrap without `--unshare-net`.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::probe::{Flavor, run_with_deadline};

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot create a network namespace: {0}")]
    Create(String),
}

/// The session's network namespace, and the user namespace that owns it when it is not ours.
#[derive(Debug)]
pub struct SharedNet {
    user: Option<OwnedFd>,
    net: OwnedFd,
}

const CREATE_DEADLINE: Duration = Duration::from_secs(10);

impl SharedNet {
    /// Creates the namespaces with a bwrap that waits on its stdin, and takes hold of them.
    pub fn create(bwrap: &Path, flavor: Flavor) -> Result<SharedNet, NetError> {
        let err = |m: String| NetError::Create(m);
        let (info_r, info_w) = pipe().map_err(|e| err(format!("pipe: {e}")))?;
        let info_fd = info_w.as_raw_fd();
        let mut cmd = Command::new(bwrap);
        cmd.arg("--unshare-net");
        if flavor == Flavor::UserNamespace {
            cmd.arg("--unshare-user");
        }
        cmd.args(["--die-with-parent", "--ro-bind", "/", "/", "--info-fd", "3", "--", "cat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let parent = std::process::id();
        // SAFETY: dup2 and fcntl are async-signal-safe; they give bwrap the info pipe as fd 3
        // without close-on-exec. die_with_parent makes only async-signal-safe calls.
        unsafe {
            cmd.pre_exec(move || {
                super::die_with_parent(parent)?;
                if info_fd == 3 {
                    let flags = libc::fcntl(3, libc::F_GETFD);
                    if flags < 0 || libc::fcntl(3, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(info_fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| err(format!("cannot start bwrap: {e}")))?;
        drop(info_w);
        let info = read_info(info_r);
        let result = info.and_then(|(pid, net_ino)| {
            let net = open_ns(pid, "net").map_err(|e| format!("/proc/{pid}/ns/net: {e}"))?;
            // The namespace must be the one bwrap reported, not that of a reused pid.
            let opened = File::from(net.try_clone().map_err(|e| e.to_string())?).metadata().map_err(|e| e.to_string())?.ino();
            if opened != net_ino {
                return Err(format!("/proc/{pid}/ns/net is not the namespace bwrap created"));
            }
            let user = match flavor {
                Flavor::Privileged => None,
                Flavor::UserNamespace => {
                    let theirs = open_ns(pid, "user").map_err(|e| format!("/proc/{pid}/ns/user: {e}"))?;
                    let ours = std::fs::metadata("/proc/self/ns/user").map(|m| m.ino()).ok();
                    let their_ino = File::from(theirs.try_clone().map_err(|e| e.to_string())?).metadata().map(|m| m.ino()).ok();
                    if ours.is_some() && ours == their_ino { None } else { Some(theirs) }
                }
            };
            Ok(SharedNet { user, net })
        });
        // Closing stdin ends `cat`, and with it the holder: the descriptors keep the namespaces.
        // The holder sets up loopback before it runs `cat`, so a clean exit means the namespace
        // is ready.
        drop(child.stdin.take());
        let (ok, stderr) = wait_briefly(&mut child);
        let result = result.and_then(|net| if ok { Ok(net) } else { Err("the namespace holder failed".to_string()) });
        result.map_err(|e| err(if stderr.is_empty() { e } else { format!("{e}: {stderr}") }))
    }

    /// The descriptors a child joins between fork and exec.
    pub fn fds(&self) -> JoinFds {
        JoinFds { user: self.user.as_ref().map(AsRawFd::as_raw_fd), net: self.net.as_raw_fd() }
    }

    /// Runs `true` in the namespace the way commands will, to prove joining works.
    pub fn check_join(&self, bwrap: &Path, flavor: Flavor) -> Result<(), NetError> {
        let mut cmd = Command::new(bwrap);
        if flavor == Flavor::UserNamespace {
            cmd.arg("--unshare-user");
        }
        cmd.args(["--unshare-pid", "--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev", "--", "true"]);
        let fds = self.fds();
        // SAFETY: setns is async-signal-safe; the descriptors outlive the spawn.
        unsafe {
            cmd.pre_exec(move || fds.join());
        }
        run_with_deadline(cmd).map_err(|e| NetError::Create(format!("joining it failed: {e}")))
    }
}

/// Raw descriptors of a [`SharedNet`], copied into a child's `pre_exec`.
#[derive(Debug, Clone, Copy)]
pub struct JoinFds {
    user: Option<RawFd>,
    net: RawFd,
}

impl JoinFds {
    /// Enters the user namespace (when it is not ours) and then the network namespace. Runs in
    /// the forked child, which is single-threaded as `setns` into a user namespace requires.
    pub fn join(&self) -> std::io::Result<()> {
        // SAFETY: setns only changes this (child) process's namespaces.
        unsafe {
            if let Some(u) = self.user
                && libc::setns(u, libc::CLONE_NEWUSER) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            if libc::setns(self.net, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the array on success; each is owned once.
    unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])))
    }
}

fn open_ns(pid: u32, which: &str) -> std::io::Result<OwnedFd> {
    Ok(File::open(format!("/proc/{pid}/ns/{which}"))?.into())
}

/// Reads bwrap's `--info-fd` JSON (`child-pid`, `net-namespace`), with a deadline: a bwrap
/// that fails before writing it closes the pipe, one that hangs is given up on.
fn read_info(r: OwnedFd) -> Result<(u32, u64), String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut f = File::from(r);
        let mut buf = Vec::new();
        let mut chunk = [0u8; 512];
        // The object is complete when it parses; bwrap may keep the pipe open afterwards.
        let parsed = loop {
            match f.read(&mut chunk) {
                Ok(0) | Err(_) => break serde_json::from_slice::<serde_json::Value>(&buf).ok(),
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&buf) {
                        break Some(v);
                    }
                    if buf.len() > 64 * 1024 {
                        break None;
                    }
                }
            }
        };
        let _ = tx.send(parsed);
    });
    let v = match rx.recv_timeout(CREATE_DEADLINE) {
        Ok(Some(v)) => v,
        Ok(None) => return Err("bwrap exited without reporting its namespaces".into()),
        Err(_) => return Err("bwrap did not report its namespaces within 10 s".into()),
    };
    let pid = v.get("child-pid").and_then(serde_json::Value::as_u64).and_then(|p| u32::try_from(p).ok());
    let net = v.get("net-namespace").and_then(serde_json::Value::as_u64);
    match (pid, net) {
        (Some(p), Some(n)) => Ok((p, n)),
        _ => Err(format!("unexpected bwrap info: {v}")),
    }
}

/// Waits a moment for the holder to exit: whether it exited cleanly, and what it printed on
/// stderr. A holder that does not exit is killed.
fn wait_briefly(child: &mut std::process::Child) -> (bool, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let ok = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.success(),
            Err(_) => break false,
            Ok(None) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                break false;
            }
        }
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (ok, err.trim().to_string())
}
