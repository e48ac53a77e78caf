//! Per-file locks for sessions sharing a workspace (workflow subagents): two writes to one
//! file never interleave, and an edit reads the file only after the previous write finished.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

#[derive(Debug, Default)]
pub struct FileLocks {
    files: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

impl FileLocks {
    /// Waits for the file's lock; it is released when the guard drops.
    pub async fn lock(&self, path: &Path) -> OwnedMutexGuard<()> {
        self.entry(path).lock_owned().await
    }

    /// As [`FileLocks::lock`], from a thread outside the async runtime (`spawn_blocking`).
    pub fn lock_blocking(&self, path: &Path) -> OwnedMutexGuard<()> {
        self.entry(path).blocking_lock_owned()
    }

    fn entry(&self, path: &Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        // Locks nobody holds or waits for are dropped, so the map stays as small as the set of
        // files being written at once.
        files.retain(|_, l| Arc::strong_count(l) > 1);
        files.entry(path.to_path_buf()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_writer_per_file_at_a_time() {
        let locks = Arc::new(FileLocks::default());
        let a = locks.lock(Path::new("/w/a")).await;
        // Another file is free; the same file waits.
        let _b = locks.lock(Path::new("/w/b")).await;
        let l2 = locks.clone();
        let waiter = tokio::spawn(async move { l2.lock(Path::new("/w/a")).await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(a);
        tokio::time::timeout(std::time::Duration::from_secs(10), waiter).await.expect("lock released").expect("join");
    }
}
