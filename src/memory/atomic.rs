//! Atomic file replacement: a reader sees the old file or the new one, never half of either,
//! and a crash right after the rename keeps the new one.
//!
//! Replacing by rename also means a write never goes *through* the old file: a hard link to it
//! elsewhere keeps the old content, which is what confines the agent's writes to the
//! workspace. Temporary files are named [`TEMP_PREFIX`]…, so those a kill left behind can be
//! recognised and removed ([`remove_temporaries`]).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The name prefix of the temporary files this module creates.
pub const TEMP_PREFIX: &str = ".endure-tmp-";

/// Writes `bytes` to a temporary file beside `path`, syncs it, renames it over `path`, and
/// syncs the directory so the rename itself is durable. A file replaced keeps its permission
/// bits; a new one gets the usual `0666` minus the umask.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(TEMP_PREFIX).permissions(std::fs::Permissions::from_mode(0o666)).tempfile_in(dir)?;
    if let Ok(old) = std::fs::metadata(path)
        && old.is_file()
    {
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(old.permissions().mode() & 0o7777))?;
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    if let Ok(d) = std::fs::File::open(dir) {
        // Some filesystems refuse to fsync a directory; the rename has still happened.
        let _ = d.sync_all();
    }
    Ok(())
}

/// Removes the temporary files [`write_atomic`] left in `dir` when it was killed mid-write.
/// Only call it where no other process may be writing at the same time (a session's own
/// directory, under its lock). Returns what was removed.
pub fn remove_temporaries(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        let is_temp = entry.file_name().to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX));
        if is_temp && entry.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(entry.path())?;
            removed.push(entry.path());
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_files_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/MEMORY.md");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub")).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn a_replaced_file_keeps_its_mode_and_its_hard_links_keep_the_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run.sh");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o750)).unwrap();
        let outside = dir.path().join("outside");
        std::fs::hard_link(&p, &outside).unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777, 0o750);
        assert_eq!(std::fs::read(&outside).unwrap(), b"old");
    }

    #[test]
    fn temporaries_left_by_a_kill_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(format!("{TEMP_PREFIX}abc123")), "half").unwrap();
        std::fs::write(dir.path().join("1.1.json"), "{}").unwrap();
        let removed = remove_temporaries(dir.path()).unwrap();
        assert_eq!(removed.len(), 1);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(names, ["1.1.json"]);
        assert!(remove_temporaries(&dir.path().join("missing")).unwrap().is_empty());
    }
}
