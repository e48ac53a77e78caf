use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    File { bytes: Vec<u8>, executable: bool },
    Symlink(PathBuf),
    Dir,
}

/// Everything under `root` except `.endure` and `.git` at the top, and paths `skip` accepts.
fn manifest(root: &Path, skip: &dyn Fn(&str) -> bool) -> BTreeMap<String, Entry> {
    fn walk(root: &Path, dir: &Path, skip: &dyn Fn(&str) -> bool, out: &mut BTreeMap<String, Entry>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if rel == ".endure" || rel == ".git" || skip(&rel) {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                out.insert(rel, Entry::Symlink(fs::read_link(&path).unwrap()));
            } else if meta.is_dir() {
                out.insert(rel, Entry::Dir);
                walk(root, &path, skip, out);
            } else {
                let executable = meta.permissions().mode() & 0o111 != 0;
                out.insert(rel, Entry::File { bytes: fs::read(&path).unwrap(), executable });
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, skip, &mut out);
    out
}

/// Path, mode and content of every file under `dir`.
fn fingerprint(dir: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, (meta.permissions().mode(), fs::read(&path).unwrap()));
            }
        }
    }
    out
}

fn write(root: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

fn set_executable(root: &Path, rel: &str, on: bool) {
    let path = root.join(rel);
    fs::set_permissions(&path, fs::Permissions::from_mode(if on { 0o755 } else { 0o644 })).unwrap();
}

/// The user's own git, as they would run it, isolated from this machine's configuration.
fn user_git(dir: &Path, args: &[&str]) {
    let mut cmd = Command::new("git");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GIT_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(["-c", "user.name=User", "-c", "user.email=user@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A shadow-repository git command, for looking at what snapshots recorded.
fn shadow(s: &Snapshots, args: &[&str]) -> String {
    let args: Vec<&OsStr> = args.iter().map(|a| OsStr::new(*a)).collect();
    String::from_utf8(s.git(&args, None).unwrap()).unwrap().trim().to_string()
}

#[test]
fn snapshots_form_a_chain_under_the_ref() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.txt", "a");
    let s = Snapshots::open(dir.path()).unwrap();
    assert!(dir.path().join(".endure/snapshots.git/HEAD").is_file());
    assert_eq!(s.latest().unwrap(), None);

    let first = s.snapshot("session start").unwrap();
    write(dir.path(), "b.txt", "b");
    let second = s.snapshot("checkpoint 1").unwrap();
    let third = s.snapshot("checkpoint 2, nothing changed").unwrap();

    assert!(is_object_id(&first) && is_object_id(&second) && is_object_id(&third));
    assert_ne!(first, second);
    assert_ne!(second, third, "every checkpoint gets its own snapshot");
    assert_eq!(s.latest().unwrap().as_deref(), Some(third.as_str()));
    assert_eq!(shadow(&s, &["rev-parse", &format!("{third}^")]), second);
    assert_eq!(shadow(&s, &["rev-parse", &format!("{second}^")]), first);
    assert_eq!(shadow(&s, &["log", "--format=%s", SNAPSHOT_REF]), "checkpoint 2, nothing changed\ncheckpoint 1\nsession start");
    assert_eq!(s.files(&first).unwrap(), ["a.txt"]);
    assert_eq!(s.files(&second).unwrap(), ["a.txt", "b.txt"]);

    // Opening again reuses the repository and its chain.
    let again = Snapshots::open(dir.path()).unwrap();
    assert_eq!(again.latest().unwrap(), Some(third));
}

#[test]
fn restore_is_byte_for_byte_and_leaves_ignored_files_alone() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".gitignore", "*.log\nbuild/\n");
    write(root, "src/main.rs", "fn main() {}\n");
    write(root, "src/deep/nested/dir/file.txt", "deep\n");
    write(root, "with space.txt", "spaces\n");
    write(root, "ünïcödé/名前 (1).txt", "unicode\n");
    write(root, "empty", "");
    write(root, "run.sh", "#!/bin/sh\necho hi\n");
    set_executable(root, "run.sh", true);
    write(root, "binary.bin", [0u8, 159, 146, 150, 0, 13, 10, 255]);
    write(root, "crlf.txt", "a\r\nb\nc\r");
    symlink("src/main.rs", root.join("link")).unwrap();
    write(root, "debug.log", "ignored before\n");
    write(root, "build/out.bin", "ignored build output");

    let s = Snapshots::open(root).unwrap();
    let id = s.snapshot("start").unwrap();
    let ignored = |rel: &str| rel == "debug.log" || rel.starts_with("build");
    let at_snapshot = manifest(root, &ignored);

    let files = s.files(&id).unwrap();
    for expected in ["src/deep/nested/dir/file.txt", "with space.txt", "ünïcödé/名前 (1).txt", "empty", "link"] {
        assert!(files.iter().any(|f| f == expected), "{expected} missing from {files:?}");
    }
    assert!(!files.iter().any(|f| ignored(f) || f.starts_with(".endure")), "{files:?}");

    // Everything a session can do to files.
    write(root, "src/main.rs", "fn main() { changed() }\n");
    fs::remove_file(root.join("with space.txt")).unwrap();
    fs::remove_dir_all(root.join("src/deep")).unwrap();
    write(root, "new/dir/x.txt", "created since\n");
    write(root, "added.txt", "created since\n");
    set_executable(root, "run.sh", false);
    write(root, "empty", "not empty any more");
    fs::remove_file(root.join("link")).unwrap();
    symlink("elsewhere", root.join("link")).unwrap();
    write(root, "debug.log", "ignored after\n");
    write(root, "build/new.bin", "more ignored output");
    write(root, ".endure/notes.md", "runtime state");

    let report = s.restore(&id).unwrap();

    assert_eq!(manifest(root, &ignored), at_snapshot);
    assert_eq!((report.restored, report.removed), (6, 2), "{report:?}");
    assert!(!root.join("new").exists(), "directories left empty by deletions are removed");
    assert_eq!(fs::read_to_string(root.join("debug.log")).unwrap(), "ignored after\n");
    assert!(root.join("build/new.bin").is_file() && root.join("build/out.bin").is_file());
    assert_eq!(fs::read_to_string(root.join(".endure/notes.md")).unwrap(), "runtime state");

    // The shadow index matches the restored files: nothing is stat-dirty, and the next
    // snapshot records the same tree.
    let args: Vec<&OsStr> = ["diff-files", "--quiet"].iter().map(OsStr::new).collect();
    s.git(&args, None).expect("index clean after restore");
    let next = s.snapshot("after restore").unwrap();
    assert_eq!(shadow(&s, &["rev-parse", &format!("{next}^{{tree}}")]), shadow(&s, &["rev-parse", &format!("{id}^{{tree}}")]));

    // Restoring what is already there writes nothing.
    let again = s.restore(&id).unwrap();
    assert_eq!((again.restored, again.removed), (0, 0));
}

#[test]
fn the_users_git_repository_is_never_touched() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    user_git(root, &["init", "-q"]);
    write(root, "README.md", "v1\n");
    write(root, "lib.rs", "pub fn f() {}\n");
    user_git(root, &["add", "."]);
    user_git(root, &["commit", "-q", "-m", "first"]);
    write(root, "README.md", "v2\n");
    user_git(root, &["commit", "-q", "-am", "second"]);
    write(root, "lib.rs", "pub fn f() { staged() }\n");
    user_git(root, &["add", "lib.rs"]);
    write(root, "untracked.txt", "untracked\n");
    let git_before = fingerprint(&root.join(".git"));

    let s = Snapshots::open(root).unwrap();
    let first = s.snapshot("start").unwrap();
    assert_eq!(s.files(&first).unwrap(), ["README.md", "lib.rs", "untracked.txt"]);
    write(root, "README.md", "agent edit\n");
    fs::remove_file(root.join("lib.rs")).unwrap();
    write(root, "src/new.rs", "new\n");
    let second = s.snapshot("step").unwrap();
    s.restore(&first).unwrap();
    s.restore(&second).unwrap();
    s.restore(&first).unwrap();

    assert_eq!(fingerprint(&root.join(".git")), git_before);
    assert_eq!(fs::read_to_string(root.join("lib.rs")).unwrap(), "pub fn f() { staged() }\n");
}

#[test]
fn a_workspace_inside_a_users_repository_is_snapshotted_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    user_git(repo, &["init", "-q"]);
    write(repo, "outside.txt", "outside\n");
    write(repo, "sub/inside.txt", "inside\n");
    user_git(repo, &["add", "."]);
    user_git(repo, &["commit", "-q", "-m", "first"]);
    let git_before = fingerprint(&repo.join(".git"));
    let ws = repo.join("sub");

    let s = Snapshots::open(&ws).unwrap();
    let id = s.snapshot("start").unwrap();
    assert_eq!(s.files(&id).unwrap(), ["inside.txt"]);
    write(&ws, "inside.txt", "changed\n");
    write(repo, "outside.txt", "changed outside\n");
    let report = s.restore(&id).unwrap();

    assert_eq!(report.restored, 1);
    assert_eq!(fs::read_to_string(ws.join("inside.txt")).unwrap(), "inside\n");
    assert_eq!(fs::read_to_string(repo.join("outside.txt")).unwrap(), "changed outside\n");
    assert_eq!(fingerprint(&repo.join(".git")), git_before);
}

#[test]
fn endure_dir_is_never_recorded_even_when_a_gitignore_unignores_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".gitignore", "!.endure\n!.endure/\n");
    write(root, "a.txt", "a");
    write(root, ".endure/session.json", "{}");
    let s = Snapshots::open(root).unwrap();
    let id = s.snapshot("start").unwrap();
    assert_eq!(s.files(&id).unwrap(), [".gitignore", "a.txt"]);

    write(root, ".endure/later.json", "{}");
    let report = s.restore(&id).unwrap();
    assert_eq!(report.removed, 0);
    assert!(root.join(".endure/later.json").is_file() && root.join(".endure/session.json").is_file());
}

#[test]
fn a_gitignore_that_ignores_endure_dir_does_not_fail_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".gitignore", ".endure/\n");
    write(root, "a.txt", "a");
    write(root, ".endure/session.json", "{}");
    let s = Snapshots::open(root).unwrap();
    let id = s.snapshot("start").unwrap();
    assert_eq!(s.files(&id).unwrap(), [".gitignore", "a.txt"]);
    write(root, "b.txt", "b");
    assert_eq!(s.restore(&id).unwrap().removed, 1);
    assert!(!root.join("b.txt").exists() && root.join(".endure/session.json").is_file());
}

#[test]
fn gitattributes_cannot_change_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".gitattributes", "* text eol=crlf\n*.id ident\n*.enc working-tree-encoding=UTF-16\n");
    let originals: [(&str, &[u8]); 4] =
        [("lf.txt", b"a\nb\n"), ("mixed.txt", b"a\r\nb\nc\r"), ("x.id", b"$Id$\n"), ("y.enc", b"plain utf-8\n")];
    for (name, bytes) in originals {
        write(root, name, bytes);
    }
    let s = Snapshots::open(root).unwrap();
    let id = s.snapshot("start").unwrap();
    for (name, _) in originals {
        write(root, name, "overwritten");
    }
    s.restore(&id).unwrap();
    for (name, bytes) in originals {
        assert_eq!(fs::read(root.join(name)).unwrap(), bytes, "{name}");
    }
}

#[test]
fn a_file_ignored_later_leaves_later_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "a.txt", "a");
    write(root, "build/out.o", "object");
    let s = Snapshots::open(root).unwrap();
    let first = s.snapshot("before .gitignore").unwrap();
    assert_eq!(s.files(&first).unwrap(), ["a.txt", "build/out.o"]);

    write(root, ".gitignore", "build/\n");
    let second = s.snapshot("after .gitignore").unwrap();
    assert_eq!(s.files(&second).unwrap(), [".gitignore", "a.txt"]);

    write(root, "build/out.o", "rebuilt");
    let report = s.restore(&second).unwrap();
    assert_eq!((report.restored, report.removed), (0, 0));
    assert_eq!(fs::read_to_string(root.join("build/out.o")).unwrap(), "rebuilt");

    // The older snapshot still has the file, and rolling back to it brings it back.
    s.restore(&first).unwrap();
    assert_eq!(fs::read_to_string(root.join("build/out.o")).unwrap(), "object");
    assert!(!root.join(".gitignore").exists());
}

#[test]
fn a_rollback_can_be_undone() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "a.txt", "v1");
    let s = Snapshots::open(root).unwrap();
    let first = s.snapshot("start").unwrap();
    write(root, "a.txt", "v2, not yet snapshotted");
    write(root, "b.txt", "new");
    let edited = manifest(root, &|_| false);

    let report = s.restore(&first).unwrap();
    assert_eq!(fs::read_to_string(root.join("a.txt")).unwrap(), "v1");
    assert_ne!(report.before, first);
    assert_eq!(shadow(&s, &["rev-parse", &format!("{}^", report.before)]), first);

    s.restore(&report.before).unwrap();
    assert_eq!(manifest(root, &|_| false), edited);

    // Nothing changed since the latest snapshot: no extra snapshot is recorded.
    let latest = s.snapshot("checkpoint").unwrap();
    let report = s.restore(&first).unwrap();
    assert_eq!(report.before, latest);
    assert_eq!(shadow(&s, &["rev-list", "--count", SNAPSHOT_REF]), "4");
}

#[test]
fn nested_repositories_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "a.txt", "a");
    // One without a commit (git refuses to add it) and one with.
    write(root, "vendor/fresh/lib.rs", "fresh");
    user_git(&root.join("vendor/fresh"), &["init", "-q"]);
    write(root, "vendor/cloned/lib.rs", "cloned");
    user_git(&root.join("vendor/cloned"), &["init", "-q"]);
    user_git(&root.join("vendor/cloned"), &["add", "."]);
    user_git(&root.join("vendor/cloned"), &["commit", "-q", "-m", "x"]);
    let cloned_git = fingerprint(&root.join("vendor/cloned/.git"));

    let s = Snapshots::open(root).unwrap();
    let id = s.snapshot("start").unwrap();
    assert_eq!(s.files(&id).unwrap(), ["a.txt"]);

    write(root, "vendor/fresh/lib.rs", "edited");
    write(root, "vendor/cloned/lib.rs", "edited");
    write(root, "later/repo/x", "x");
    user_git(&root.join("later/repo"), &["init", "-q"]);
    s.snapshot("nested repos changed").unwrap();
    s.restore(&id).unwrap();

    assert_eq!(fs::read_to_string(root.join("vendor/fresh/lib.rs")).unwrap(), "edited");
    assert_eq!(fs::read_to_string(root.join("vendor/cloned/lib.rs")).unwrap(), "edited");
    assert!(root.join("later/repo/x").is_file());
    assert_eq!(fingerprint(&root.join("vendor/cloned/.git")), cloned_git);
}

#[test]
fn files_and_directories_can_swap_places() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "x", "a file");
    write(root, "y/z", "a file in a directory");
    let s = Snapshots::open(root).unwrap();
    let id = s.snapshot("start").unwrap();
    let at_snapshot = manifest(root, &|_| false);

    fs::remove_file(root.join("x")).unwrap();
    write(root, "x/inner.txt", "now a directory");
    fs::remove_dir_all(root.join("y")).unwrap();
    write(root, "y", "now a file");
    let report = s.restore(&id).unwrap();

    assert_eq!(manifest(root, &|_| false), at_snapshot);
    assert_eq!((report.restored, report.removed), (2, 2));
}

#[test]
fn ignored_files_in_the_way_are_a_conflict_not_a_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".gitignore", "cache/\n");
    write(root, "cache", "a file, not ignored: the pattern only matches directories");
    let s = Snapshots::open(root).unwrap();
    let id = s.snapshot("start").unwrap();
    assert_eq!(s.files(&id).unwrap(), [".gitignore", "cache"]);

    fs::remove_file(root.join("cache")).unwrap();
    write(root, "cache/data.bin", "ignored");
    let err = s.restore(&id).unwrap_err();
    assert!(matches!(&err, SnapshotError::Conflict { path, .. } if path == "cache"), "{err}");
    assert_eq!(fs::read_to_string(root.join("cache/data.bin")).unwrap(), "ignored");
}

#[test]
fn missing_git_is_reported_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let err = Snapshots::open_with_git(dir.path(), "/nonexistent/endure-test-git").unwrap_err();
    assert!(matches!(err, SnapshotError::GitMissing { .. }), "{err:?}");
    assert!(err.to_string().starts_with("git is needed for workspace snapshots"), "{err}");
}

#[test]
fn unknown_snapshot_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.txt", "a");
    let s = Snapshots::open(dir.path()).unwrap();
    s.snapshot("start").unwrap();
    let missing = "0123456789abcdef0123456789abcdef01234567";
    assert!(matches!(s.restore(missing), Err(SnapshotError::UnknownSnapshot(id)) if id == missing));
    assert!(matches!(s.files("no-such-snapshot"), Err(SnapshotError::UnknownSnapshot(_))));
    // An id that looks like an option is a revision to git, not an option.
    assert!(matches!(s.restore("--output=pwned"), Err(SnapshotError::UnknownSnapshot(_))));
    assert!(!dir.path().join("pwned").exists());
    assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "a");
}

#[test]
fn a_stale_lock_left_by_a_dead_git_is_removed_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.txt"), "one\n").unwrap();
    let snaps = Snapshots::open(dir.path()).unwrap();
    snaps.snapshot("first").unwrap();
    let index_lock = snaps.git_dir().join("index.lock");
    let ref_lock = snaps.git_dir().join("refs/endure/snapshots.lock");
    fs::write(&index_lock, b"").unwrap();
    fs::write(&ref_lock, b"").unwrap();
    fs::write(dir.path().join("a.txt"), "two\n").unwrap();
    let id = snaps.snapshot("after a crash").unwrap();
    assert!(!index_lock.exists() && !ref_lock.exists());
    let notes = snaps.take_notes();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].contains("index.lock") && notes[0].contains("stale lock"), "{notes:?}");
    assert!(snaps.take_notes().is_empty());
    assert_eq!(snaps.files(&id).unwrap(), ["a.txt"]);
}

#[test]
fn a_lock_some_process_holds_open_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.txt"), "one\n").unwrap();
    let snaps = Snapshots::open(dir.path()).unwrap();
    snaps.snapshot("first").unwrap();
    if fs::read_dir("/proc/self/fd").is_err() {
        eprintln!("skipped: /proc is not readable here, so a held lock cannot be told from a stale one");
        return;
    }
    let index_lock = snaps.git_dir().join("index.lock");
    // Held open as a live git holds it.
    let held = fs::File::create(&index_lock).unwrap();
    let err = snaps.snapshot("while another git runs").unwrap_err();
    assert!(err.to_string().contains("index.lock"), "{err}");
    assert!(index_lock.exists());
    assert!(snaps.take_notes().is_empty());
    drop(held);
}
