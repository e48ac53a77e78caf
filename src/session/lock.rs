//! One process per session: whoever drives a session (runs it, resumes it, rolls it back)
//! holds an exclusive `flock` on `<session dir>/lock` for as long as it does.
//!
//! The kernel releases the lock when the holder's file is closed, which includes the holder
//! dying by `kill -9`, so a lock left by a dead process never blocks anyone. The file's
//! content is the holder's pid, written after the lock is taken; it only serves the message
//! telling a second process who holds the session. The file itself is never deleted:
//! deleting it would let two processes lock two different files of the same name.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The lock file's name inside a session's directory.
pub const LOCK_FILE: &str = "lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("session {session} is in use by another endure process ({}); stop it or wait for it to finish", holder_text(.pid))]
    Held { session: String, pid: Option<u32> },
    #[error("cannot lock {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

fn holder_text(pid: &Option<u32>) -> String {
    match pid {
        Some(pid) => format!("pid {pid}"),
        None => "its pid is not recorded yet".into(),
    }
}

/// Held while this process drives the session; dropping it releases the lock.
#[derive(Debug)]
pub struct SessionLock {
    // Kept open: closing it is what releases the lock.
    _file: File,
    path: PathBuf,
}

/// Who holds a session's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    /// None in the instant between the holder taking the lock and writing its pid.
    pub pid: Option<u32>,
}

impl SessionLock {
    /// Takes the lock of the session in `session_dir` (created if needed), or says who holds it.
    pub fn acquire(session_dir: &Path) -> Result<SessionLock, LockError> {
        let path = session_dir.join(LOCK_FILE);
        let io = |source| LockError::Io { path: path.display().to_string(), source };
        std::fs::create_dir_all(session_dir).map_err(io)?;
        // Not truncated on open: that would erase the pid of a holder we are about to be
        // refused by. Rust opens it close-on-exec, so commands the session runs never inherit
        // (and so never prolong) the lock.
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        if !try_lock(&file).map_err(io)? {
            return Err(LockError::Held { session: session_name(session_dir), pid: read_pid(&mut file) });
        }
        let mut record = || -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(format!("{}\n", std::process::id()).as_bytes())?;
            file.sync_data()
        };
        record().map_err(io)?;
        Ok(SessionLock { _file: file, path })
    }

    /// Who holds the lock of the session in `session_dir`, if anyone does.
    pub fn holder(session_dir: &Path) -> Option<Holder> {
        let mut file = File::open(session_dir.join(LOCK_FILE)).ok()?;
        match try_lock(&file) {
            // Taken for a moment, and released when `file` is dropped.
            Ok(true) | Err(_) => None,
            Ok(false) => Some(Holder { pid: read_pid(&mut file) }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// True when the exclusive lock was taken; false when another open file holds it.
fn try_lock(file: &File) -> std::io::Result<bool> {
    // SAFETY: flock only acts on the descriptor, which `file` keeps open for the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) { Ok(false) } else { Err(err) }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn session_name(session_dir: &Path) -> String {
    session_dir.file_name().map_or_else(|| session_dir.display().to_string(), |n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().unwrap();
        let session = dir.path().join("s1");
        let lock = SessionLock::acquire(&session).unwrap();
        assert_eq!(std::fs::read_to_string(lock.path()).unwrap().trim(), std::process::id().to_string());
        let err = SessionLock::acquire(&session).unwrap_err();
        match &err {
            LockError::Held { session, pid } => {
                assert_eq!(session, "s1");
                assert_eq!(*pid, Some(std::process::id()));
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains(&format!("pid {}", std::process::id())), "{err}");
        assert_eq!(SessionLock::holder(&session), Some(Holder { pid: Some(std::process::id()) }));
        drop(lock);
        assert_eq!(SessionLock::holder(&session), None);
        let again = SessionLock::acquire(&session).unwrap();
        drop(again);
    }

    #[test]
    fn a_leftover_lock_file_without_a_holder_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), "999999\n").unwrap();
        assert_eq!(SessionLock::holder(dir.path()), None);
        let lock = SessionLock::acquire(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(lock.path()).unwrap().trim(), std::process::id().to_string());
    }

    #[test]
    fn no_lock_file_means_no_holder() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(SessionLock::holder(&dir.path().join("none")), None);
    }
}
