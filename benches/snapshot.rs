#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! What a workspace snapshot costs on a 10,000-file workspace.
//!
//! `cargo bench --bench snapshot` (release profile). Takes about 10 s, mostly the first
//! snapshot and building the tree.
//!
//! 1. First snapshot: every file is read, hashed and written to the shadow repository.
//! 2. Checkpoint: change 5 files, then snapshot; the median of 10 runs, each changing 5
//!    different files. This is the case the target is for: the shadow index is reused, so
//!    unchanged files cost an `lstat` each.
//! 3. Checkpoint with nothing changed (median of 10), for reference.
//! 4. Restore to the first snapshot (which undoes the 50 changes of step 2 and deletes 5
//!    files created since), then restore to the latest snapshot again.

use std::path::Path;
use std::time::{Duration, Instant};

use endure::workspace::snapshot::Snapshots;

const FILES: usize = 10_000;
const CHANGED: usize = 5;
const RUNS: usize = 10;
const TARGET: Duration = Duration::from_millis(200);

/// 10 top-level directories × 10 subdirectories × 100 files of a few hundred bytes.
fn build_tree(root: &Path) {
    for i in 0..FILES {
        let dir = root.join(format!("pkg{}/mod{}", i % 10, (i / 10) % 10));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let body: String = (0..8).map(|l| format!("// file {i}, line {l}: some source text\n")).collect();
        std::fs::write(dir.join(format!("file{i}.rs")), body).expect("write");
    }
}

fn change(root: &Path, run: usize) {
    for k in 0..CHANGED {
        let i = (run * 997 + k * 1_999) % FILES;
        let path = root.join(format!("pkg{}/mod{}/file{i}.rs", i % 10, (i / 10) % 10));
        std::fs::write(path, format!("// changed in run {run}\n")).expect("write");
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let started = Instant::now();
    build_tree(root);
    let built = started.elapsed();

    let snaps = Snapshots::open(root).expect("open");
    let started = Instant::now();
    let first = snaps.snapshot("session start").expect("first snapshot");
    let first_time = started.elapsed();
    assert_eq!(snaps.files(&first).expect("files").len(), FILES);

    let mut checkpoint = Vec::new();
    for run in 0..RUNS {
        let started = Instant::now();
        change(root, run);
        snaps.snapshot(&format!("checkpoint {run}")).expect("snapshot");
        checkpoint.push(started.elapsed());
    }
    let mut unchanged = Vec::new();
    for run in 0..RUNS {
        let started = Instant::now();
        snaps.snapshot(&format!("idle {run}")).expect("snapshot");
        unchanged.push(started.elapsed());
    }

    for k in 0..CHANGED {
        std::fs::write(root.join(format!("pkg{k}/new{k}.rs")), "created since\n").expect("write");
    }
    let latest = snaps.snapshot("with new files").expect("snapshot");
    let started = Instant::now();
    let back = snaps.restore(&first).expect("restore");
    let restore_first = started.elapsed();
    let started = Instant::now();
    let forward = snaps.restore(&latest).expect("restore");
    let restore_latest = started.elapsed();

    let checkpoint_median = median(checkpoint.clone());
    let verdict = |d: Duration| if d < TARGET { "ok" } else { "OVER" };
    println!("workspace snapshots, {FILES} files ({} to build the tree)", ms(built));
    println!("{:<48} {:>10}  {:>10}", "case", "time", "target");
    println!("{:<48} {:>10}  {:>10}", "first snapshot (hash every file)", ms(first_time), "-");
    println!(
        "{:<48} {:>10}  {:>10}  {}",
        format!("change {CHANGED} files + snapshot (median of {RUNS})"),
        ms(checkpoint_median),
        "< 200 ms",
        verdict(checkpoint_median)
    );
    println!(
        "{:<48} {:>10}  {:>10}",
        "  min / max",
        format!("{} / {}", ms(*checkpoint.iter().min().expect("runs")), ms(*checkpoint.iter().max().expect("runs"))),
        ""
    );
    println!("{:<48} {:>10}  {:>10}", format!("snapshot, nothing changed (median of {RUNS})"), ms(median(unchanged)), "-");
    println!(
        "{:<48} {:>10}  {:>10}",
        format!("restore to first ({} written, {} removed)", back.restored, back.removed),
        ms(restore_first),
        "-"
    );
    println!(
        "{:<48} {:>10}  {:>10}",
        format!("restore to latest ({} written, {} removed)", forward.restored, forward.removed),
        ms(restore_latest),
        "-"
    );
}
