use std::fs;
use std::path::Path;

use super::*;

fn ws(dir: &Path) -> Workspace {
    Workspace::open(dir).unwrap()
}

fn err_of(r: Result<PathBuf, WorkspaceError>) -> String {
    match r {
        Ok(p) => panic!("expected a refusal, got {}", p.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn relative_and_inside_absolute_paths_resolve() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("src")).unwrap();
    let w = ws(dir.path());
    let root = w.root().to_path_buf();
    assert_eq!(w.resolve("src/main.rs", Access::Write).unwrap(), root.join("src/main.rs"));
    assert_eq!(w.resolve("./src/../a.txt", Access::Write).unwrap(), root.join("a.txt"));
    let abs = root.join("src/x.rs");
    assert_eq!(w.resolve(abs.to_str().unwrap(), Access::Write).unwrap(), abs);
    // The non-canonical form of the root is accepted too.
    let given = dir.path().join("src/y.rs");
    assert_eq!(w.resolve(given.to_str().unwrap(), Access::Read).unwrap(), root.join("src/y.rs"));
    let (_, rel) = w.resolve_rel("src//z.rs", Access::Write).unwrap();
    assert_eq!(rel, "src/z.rs");
}

#[test]
fn absolute_paths_outside_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let w = ws(dir.path());
    assert_eq!(err_of(w.resolve("/etc/passwd", Access::Read)), "path /etc/passwd is outside the workspace");
    // `..` in an absolute path is normalised before the check.
    let sneaky = format!("{}/../x", w.root().display());
    assert!(err_of(w.resolve(&sneaky, Access::Read)).contains("is outside the workspace"));
}

#[test]
fn dotdot_escapes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("a")).unwrap();
    let w = ws(dir.path());
    for p in ["../x", "a/../../x", "a/./../b/../../x"] {
        let e = err_of(w.resolve(p, Access::Read));
        assert!(e.contains(&format!("path {p} is outside the workspace")), "{p}: {e}");
    }
    // `..` that stays inside is fine.
    assert_eq!(w.resolve("a/../b", Access::Read).unwrap(), w.root().join("b"));
}

#[test]
fn symlinks_escaping_the_root_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), "s").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("secret_link")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("nowhere"), dir.path().join("dangling")).unwrap();
    fs::write(dir.path().join("real.txt"), "r").unwrap();
    std::os::unix::fs::symlink("real.txt", dir.path().join("inner_link")).unwrap();
    let w = ws(dir.path());

    for p in ["out/secret", "out/new/file.txt", "secret_link"] {
        for access in [Access::Read, Access::Write] {
            let e = err_of(w.resolve(p, access));
            assert!(e.contains("outside the workspace") && e.contains("symlink"), "{p}: {e}");
        }
    }
    let e = err_of(w.resolve("dangling", Access::Write));
    assert!(e.contains("symlink") && e.contains("does not exist"), "{e}");
    // A symlink that stays inside resolves to its target.
    assert_eq!(w.resolve("inner_link", Access::Write).unwrap(), w.root().join("real.txt"));
}

#[test]
fn memory_endure_and_git_are_read_only() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("MEMORY.md"), "m").unwrap();
    fs::create_dir_all(dir.path().join(".endure")).unwrap();
    fs::create_dir_all(dir.path().join(".git")).unwrap();
    std::os::unix::fs::symlink("MEMORY.md", dir.path().join("notes.md")).unwrap();
    let w = ws(dir.path());

    assert_eq!(
        err_of(w.resolve("MEMORY.md", Access::Write)),
        "MEMORY.md is project memory and has a single writer; the agent cannot write it"
    );
    let abs_memory = w.root().join("MEMORY.md");
    assert!(err_of(w.resolve(abs_memory.to_str().unwrap(), Access::Write)).contains("MEMORY.md is project memory"));
    assert!(err_of(w.resolve("notes.md", Access::Write)).contains("MEMORY.md is project memory"));
    assert!(err_of(w.resolve(".endure/x", Access::Write)).contains(".endure/"));
    assert!(err_of(w.resolve("sub/../.endure/state.json", Access::Write)).contains(".endure/"));
    assert!(err_of(w.resolve(".git/config", Access::Write)).contains(".git/"));
    assert!(err_of(w.resolve("", Access::Write)).contains("workspace root"));

    assert!(w.resolve("MEMORY.md", Access::Read).is_ok());
    assert!(w.resolve(".endure/x", Access::Read).is_ok());
    assert!(w.resolve(".git/config", Access::Read).is_ok());
    // Only the root's MEMORY.md is special.
    assert!(w.resolve("docs/MEMORY.md", Access::Write).is_ok());
}

#[test]
fn rescan_of_an_unchanged_tree_returns_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("src")).unwrap();
    fs::write(dir.path().join("src/a.rs"), "fn a() {}\n").unwrap();
    fs::write(dir.path().join("b.bin"), [0u8, 1, 2, 3]).unwrap();
    let mut w = ws(dir.path());
    assert_eq!(w.tracked_files(), 2);
    assert!(w.rescan().is_empty());
    assert!(w.rescan().is_empty());
}

#[test]
fn rescan_reports_create_modify_delete_with_diffs_and_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("keep.txt"), "1\n2\n3\n4\n5\n6\n7\n8\n9\n").unwrap();
    fs::write(d.join("gone.txt"), "bye\n").unwrap();
    fs::write(d.join("blob"), [0u8; 10]).unwrap();
    let mut w = ws(d);

    // Same size, and most likely the same mtime second: only the recency rule catches it.
    fs::write(d.join("keep.txt"), "1\n2\n3\n4\nX\n6\n7\n8\n9\n").unwrap();
    fs::write(d.join("new.txt"), "hello\n").unwrap();
    fs::remove_file(d.join("gone.txt")).unwrap();
    fs::write(d.join("blob"), [1u8; 12]).unwrap();
    let changes = w.rescan();
    let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["blob", "gone.txt", "keep.txt", "new.txt"]);

    let blob = &changes[0];
    assert_eq!(blob.diff, "Binary file changed (10 → 12 bytes)");
    assert_eq!(blob.before.as_deref(), Some(sha256_hex(&[0u8; 10]).as_str()));

    let gone = &changes[1];
    assert_eq!(gone.before.as_deref(), Some(sha256_hex(b"bye\n").as_str()));
    assert_eq!(gone.after, None);
    assert_eq!(gone.diff, "--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n");

    let keep = &changes[2];
    assert_eq!(keep.before.as_deref(), Some(sha256_hex(b"1\n2\n3\n4\n5\n6\n7\n8\n9\n").as_str()));
    assert_eq!(keep.after.as_deref(), Some(sha256_hex(b"1\n2\n3\n4\nX\n6\n7\n8\n9\n").as_str()));
    assert_eq!(keep.diff, "--- a/keep.txt\n+++ b/keep.txt\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+X\n 6\n 7\n 8\n");

    let new = &changes[3];
    assert_eq!(new.before, None);
    assert_eq!(new.after.as_deref(), Some(sha256_hex(b"hello\n").as_str()));
    assert_eq!(new.diff, "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+hello\n");

    assert!(w.rescan().is_empty(), "the index is updated by a rescan");
}

#[test]
fn ignored_git_and_endure_files_are_not_tracked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join(".gitignore"), "target/\n*.log\n").unwrap();
    fs::create_dir_all(d.join(".git")).unwrap();
    fs::create_dir_all(d.join(".endure")).unwrap();
    fs::write(d.join(".hidden"), "h").unwrap();
    let mut w = ws(d);
    assert_eq!(w.tracked_files(), 2, ".gitignore and .hidden");

    fs::create_dir_all(d.join("target/debug")).unwrap();
    fs::write(d.join("target/debug/out"), "o").unwrap();
    fs::write(d.join("run.log"), "l").unwrap();
    fs::write(d.join(".git/index"), "i").unwrap();
    fs::write(d.join(".endure/events.jsonl"), "e").unwrap();
    fs::write(d.join(".hidden"), "h2").unwrap();
    let changes = w.rescan();
    assert_eq!(changes.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(), [".hidden"]);
}

#[test]
fn large_files_get_a_note_instead_of_a_diff() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let big = "x\n".repeat(200 * 1024);
    fs::write(d.join("big.txt"), &big).unwrap();
    let mut w = ws(d);
    let bigger = "y\n".repeat(150 * 1024);
    fs::write(d.join("big.txt"), &bigger).unwrap();
    let changes = w.rescan();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].diff, format!("Large file changed ({} → {} bytes)", big.len(), bigger.len()));
    assert_eq!(changes[0].after.as_deref(), Some(sha256_hex(bigger.as_bytes()).as_str()));
}

#[test]
fn record_write_reports_created_modified_and_identical() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("a.txt"), "one\n").unwrap();
    let mut w = ws(d);

    fs::write(d.join("a.txt"), "two\n").unwrap();
    let c = w.record_write("a.txt", b"two\n").unwrap();
    assert_eq!(c.before.as_deref(), Some(sha256_hex(b"one\n").as_str()));
    assert_eq!(c.diff, "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-one\n+two\n");
    assert!(w.record_write("a.txt", b"two\n").is_none());

    fs::write(d.join("b.txt"), "").unwrap();
    let c = w.record_write("b.txt", b"").unwrap();
    assert_eq!((c.before, c.diff.as_str()), (None, "--- /dev/null\n+++ b/b.txt\n"));
    assert!(w.rescan().is_empty(), "a recorded write is not reported again");
}

#[test]
fn rescan_detects_same_size_rewrite_with_preserved_mtime() {
    // A rewrite that keeps size and mtime is invisible to stat; it is caught only while the
    // mtime is recent, which is the window in which coarse timestamps can collide.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.txt");
    fs::write(&p, "aaaa").unwrap();
    let mtime = fs::metadata(&p).unwrap().modified().unwrap();
    let mut w = ws(dir.path());
    fs::write(&p, "bbbb").unwrap();
    fs::File::options().write(true).open(&p).unwrap().set_modified(mtime).unwrap();
    let changes = w.rescan();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].after.as_deref(), Some(sha256_hex(b"bbbb").as_str()));
}

/// Timing check for the rescan after every `run`: `cargo test --release --lib
/// workspace::tests::rescan_of_10k_files -- --ignored --nocapture`.
#[test]
#[ignore]
fn rescan_of_10k_unchanged_files_is_fast() {
    let dir = tempfile::tempdir().unwrap();
    for d in 0..100 {
        let sub = dir.path().join(format!("dir{d:03}"));
        fs::create_dir(&sub).unwrap();
        for f in 0..100 {
            fs::write(sub.join(format!("file{f:03}.rs")), format!("// {d} {f}\nfn f() {{}}\n")).unwrap();
        }
    }
    let t = std::time::Instant::now();
    let mut w = ws(dir.path());
    println!("open: {:?}", t.elapsed());
    // Past the recency window, so that the rescans measured are stat-only.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert!(w.rescan().is_empty());
    let t = std::time::Instant::now();
    assert!(w.rescan().is_empty());
    let took = t.elapsed();
    println!("rescan: {took:?}");
    assert_eq!(w.tracked_files(), 10_000);
}
