//! MEMORY.md has a single writer, endure. An existing MEMORY.md is bound read-only into every
//! sandbox, but a mount needs something to mount over: a MEMORY.md that does not exist yet
//! could be created by a command. So endure also watches the file across every window in
//! which a command of the session runs (a foreground call, a background process's life): a
//! change that endure did not make itself is undone (a created file removed, a changed one
//! restored) and reported. The same watch is all the protection there is when the kernel
//! cannot enforce the sandbox.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};

/// Counts endure's own writes of each MEMORY.md (writer, dream, the supervisor's editor), so
/// that the guard can tell them from a command's.
static ENDURE_WRITES: LazyLock<Mutex<HashMap<PathBuf, u64>>> = LazyLock::new(Default::default);

/// One name for a file however it was reached: its directory resolved.
fn key(path: &Path) -> PathBuf {
    match (path.parent().and_then(|d| std::fs::canonicalize(d).ok()), path.file_name()) {
        (Some(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

fn writes_of(path: &Path) -> u64 {
    let map = ENDURE_WRITES.lock().unwrap_or_else(|p| p.into_inner());
    map.get(&key(path)).copied().unwrap_or(0)
}

/// Called by every place endure writes a MEMORY.md, with its path.
pub fn note_memory_written(path: &Path) {
    let mut map = ENDURE_WRITES.lock().unwrap_or_else(|p| p.into_inner());
    *map.entry(key(path)).or_default() += 1;
}

/// Anything bigger is not a MEMORY.md endure wrote; it is removed without being read whole.
const MAX_EXPECTED: u64 = 16 * 1024 * 1024;

#[derive(Debug)]
pub struct MemoryGuard {
    path: PathBuf,
    state: Mutex<Seen>,
}

#[derive(Debug)]
struct Seen {
    /// MEMORY.md as endure last knew it: None when absent.
    expected: Option<Vec<u8>>,
    writes: u64,
}

/// What the file is now.
#[derive(Debug, PartialEq)]
enum Now {
    Absent,
    Content(Vec<u8>),
    /// A directory, a FIFO, or too big: never endure's.
    Other,
}

/// The file's content, through a symlink (a user may keep MEMORY.md elsewhere).
fn read_now(path: &Path) -> Now {
    let Ok(meta) = path.metadata() else { return Now::Absent };
    if !meta.is_file() || meta.len() > MAX_EXPECTED {
        return Now::Other;
    }
    let mut buf = Vec::new();
    match std::fs::File::open(path).and_then(|f| f.take(MAX_EXPECTED + 1).read_to_end(&mut buf)) {
        Ok(_) => Now::Content(buf),
        Err(_) => Now::Other,
    }
}

impl MemoryGuard {
    pub fn new(workspace: &Path) -> MemoryGuard {
        let path = workspace.join("MEMORY.md");
        let expected = match read_now(&path) {
            Now::Content(c) => Some(c),
            _ => None,
        };
        let writes = writes_of(&path);
        MemoryGuard { path, state: Mutex::new(Seen { expected, writes }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the file as it is now as legitimate: called when no command of the session is
    /// running, so whoever changed it (the supervisor, by hand) was not a command.
    pub fn accept_current(&self) {
        let mut s = self.lock();
        s.expected = match read_now(&self.path) {
            Now::Content(c) => Some(c),
            _ => s.expected.take(),
        };
        s.writes = writes_of(&self.path);
    }

    /// Undoes a change endure did not make; returns what was done, for the command's result
    /// and a warning.
    pub fn check(&self) -> Option<String> {
        let mut s = self.lock();
        let writes = writes_of(&self.path);
        let now = read_now(&self.path);
        if writes != s.writes {
            // endure wrote it since the last look: that version is the one to keep.
            s.writes = writes;
            if let Now::Content(c) = now {
                s.expected = Some(c);
                return None;
            }
        }
        match (&s.expected, now) {
            (None, Now::Absent) => None,
            (Some(e), Now::Content(c)) if *e == c => None,
            (None, _) => Some(match remove(&self.path) {
                Ok(()) => "the sandbox refused a write to MEMORY.md: a command created it, and endure removed it (only endure writes project memory)".to_string(),
                Err(e) => format!("a command created MEMORY.md, which only endure writes, and endure could not remove it: {e}"),
            }),
            (Some(e), _) => {
                let restored = remove(&self.path).and_then(|()| crate::memory::atomic::write_atomic(&self.path, e));
                Some(match restored {
                    Ok(()) => "the sandbox refused a write to MEMORY.md: a command changed it, and endure restored it (only endure writes project memory)".to_string(),
                    Err(e) => format!("a command changed MEMORY.md, which only endure writes, and endure could not restore it: {e}"),
                })
            }
        }
    }
}

/// Removes a file, a symlink or a whole directory tree at `path` (never following a link).
fn remove(path: &Path) -> std::io::Result<()> {
    match path.symlink_metadata() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_memory_file_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let g = MemoryGuard::new(dir.path());
        assert_eq!(g.check(), None);
        std::fs::write(dir.path().join("MEMORY.md"), "poison").unwrap();
        let msg = g.check().expect("reported");
        assert!(msg.contains("MEMORY.md") && msg.contains("removed"), "{msg}");
        assert!(!dir.path().join("MEMORY.md").exists());
    }

    #[test]
    fn a_changed_memory_file_is_restored_but_endures_own_writes_stand() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("MEMORY.md");
        std::fs::write(&p, "# Rules\n").unwrap();
        let g = MemoryGuard::new(dir.path());
        std::fs::write(&p, "# Rules\n- poison\n").unwrap();
        assert!(g.check().is_some());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "# Rules\n");
        std::fs::write(&p, "# Rules\n- by the writer\n").unwrap();
        note_memory_written(&p);
        assert_eq!(g.check(), None);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "# Rules\n- by the writer\n");
    }

    #[test]
    fn a_directory_in_its_place_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let g = MemoryGuard::new(dir.path());
        std::fs::create_dir_all(dir.path().join("MEMORY.md/x")).unwrap();
        assert!(g.check().is_some());
        assert!(!dir.path().join("MEMORY.md").exists());
    }

    #[test]
    fn a_symlinked_memory_file_is_read_through_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("real.md"), "# Rules\n").unwrap();
        std::os::unix::fs::symlink("real.md", dir.path().join("MEMORY.md")).unwrap();
        let g = MemoryGuard::new(dir.path());
        assert_eq!(g.check(), None);
        assert!(dir.path().join("MEMORY.md").symlink_metadata().unwrap().file_type().is_symlink());
    }
}
