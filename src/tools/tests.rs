use std::fs;
use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::protocol::TaskStatus;
use crate::workspace::sha256_hex;

pub(super) fn ctx(dir: &Path) -> ToolContext {
    ToolContext::new(Workspace::open(dir).unwrap(), ToolLimits::default())
}

pub(super) async fn call(ctx: &mut ToolContext, name: &str, args: Value) -> ToolOutcome {
    execute(ctx, name, &args).await
}

#[test]
fn specs_name_every_tool_with_an_object_schema() {
    let names: Vec<String> = specs().into_iter().map(|s| s.name).collect();
    assert_eq!(names, TOOL_NAMES);
    for s in specs() {
        assert_eq!(s.parameters["type"], "object", "{}", s.name);
        assert!(s.description.len() > 40, "{}", s.name);
        for req in s.parameters["required"].as_array().into_iter().flatten() {
            let req = req.as_str().unwrap();
            assert!(s.parameters["properties"].get(req).is_some(), "{}: {req}", s.name);
        }
    }
}

#[tokio::test]
async fn unknown_tools_and_bad_arguments_are_reported_not_panicked() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ctx(dir.path());
    let o = call(&mut c, "rm_rf", json!({})).await;
    assert!(!o.ok);
    assert!(o.output.contains("unknown tool `rm_rf`") && o.output.contains("read_file, write_file"), "{}", o.output);

    let o = call(&mut c, "read_file", json!({})).await;
    assert!(!o.ok);
    assert!(o.output.contains("missing required argument `path` (expected a string)"), "{}", o.output);

    let o = call(&mut c, "read_file", json!({"path": 3})).await;
    assert!(o.output.contains("argument `path` must be a string, got a number"), "{}", o.output);

    let o = call(&mut c, "read_file", json!({"path": "x", "offset": "ten"})).await;
    assert!(o.output.contains("argument `offset` must be a non-negative integer, got a string"), "{}", o.output);

    let o = call(&mut c, "run", json!("ls")).await;
    assert!(o.output.contains("must be a JSON object"), "{}", o.output);

    let o = call(&mut c, "todo", json!({"tasks": "all of them"})).await;
    assert!(o.output.contains("argument `tasks` must be an array, got a string"), "{}", o.output);
}

#[tokio::test]
async fn read_file_numbers_lines_and_pages_with_offset_and_limit() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (1..=10).map(|i| format!("line {i}\n")).collect();
    fs::write(dir.path().join("f.txt"), &text).unwrap();
    let mut c = ctx(dir.path());

    let o = call(&mut c, "read_file", json!({"path": "f.txt"})).await;
    assert!(o.ok);
    assert!(o.output.starts_with("     1\tline 1\n     2\tline 2\n"), "{}", o.output);
    assert!(o.output.ends_with("    10\tline 10\n"), "{}", o.output);

    let o = call(&mut c, "read_file", json!({"path": "f.txt", "offset": 4, "limit": 2})).await;
    assert_eq!(o.output, "     4\tline 4\n     5\tline 5\n… 5 more lines; use offset=6 to read on\n");

    let o = call(&mut c, "read_file", json!({"path": "f.txt", "offset": 11})).await;
    assert!(!o.ok && o.output.contains("past the end") && o.output.contains("10 lines"), "{}", o.output);
}

#[tokio::test]
async fn read_file_truncates_long_lines_and_refuses_binary_and_missing() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("long.txt"), format!("{}\nshort\n", "é".repeat(2500))).unwrap();
    fs::write(dir.path().join("bin"), [0x7fu8, b'E', b'L', b'F', 0, 0, 1]).unwrap();
    let mut c = ctx(dir.path());

    let o = call(&mut c, "read_file", json!({"path": "long.txt"})).await;
    let first = o.output.lines().next().unwrap();
    assert!(first.starts_with(&format!("     1\t{}", "é".repeat(2000))));
    assert!(first.ends_with("[… line truncated, 500 more characters]"), "{first}");
    assert!(o.output.contains("     2\tshort"));

    let o = call(&mut c, "read_file", json!({"path": "bin"})).await;
    assert!(!o.ok && o.output.contains("binary file"), "{}", o.output);
    let o = call(&mut c, "read_file", json!({"path": "nope.rs"})).await;
    assert!(!o.ok && o.output.contains("file not found: nope.rs"), "{}", o.output);
    let o = call(&mut c, "read_file", json!({"path": "/etc/passwd"})).await;
    assert!(!o.ok && o.output.contains("outside the workspace"), "{}", o.output);
}

#[tokio::test]
async fn read_file_stops_before_the_output_cap_and_says_where_to_continue() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (1..=100).map(|i| format!("{i:0>50}\n")).collect();
    fs::write(dir.path().join("f.txt"), &text).unwrap();
    let mut c = ctx(dir.path());
    c.limits.output_cap = 1000;
    let o = call(&mut c, "read_file", json!({"path": "f.txt"})).await;
    assert!(!o.output.contains("omitted"), "no hole in the middle: {}", o.output);
    let last = o.output.lines().last().unwrap();
    assert!(last.starts_with("… ") && last.contains("use offset="), "{last}");
    assert!(o.output.chars().count() <= 1000);
}

#[tokio::test]
async fn write_file_creates_parents_and_records_the_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ctx(dir.path());
    let o = call(&mut c, "write_file", json!({"path": "a/b/c.txt", "content": "x\ny\n"})).await;
    assert!(o.ok, "{}", o.output);
    assert_eq!(o.output, "created a/b/c.txt (2 lines, 4 bytes)");
    assert_eq!(fs::read_to_string(dir.path().join("a/b/c.txt")).unwrap(), "x\ny\n");
    assert_eq!(o.changes.len(), 1);
    assert_eq!(o.changes[0].path, "a/b/c.txt");
    assert_eq!(o.changes[0].before, None);
    assert_eq!(o.changes[0].after.as_deref(), Some(sha256_hex(b"x\ny\n").as_str()));

    let o = call(&mut c, "write_file", json!({"path": "a/b/c.txt", "content": "x\nz\n"})).await;
    assert_eq!(o.output, "wrote a/b/c.txt (2 lines, 4 bytes)");
    assert_eq!(o.changes[0].diff, "--- a/a/b/c.txt\n+++ b/a/b/c.txt\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n");
    let o = call(&mut c, "write_file", json!({"path": "a/b/c.txt", "content": "x\nz\n"})).await;
    assert!(o.ok && o.changes.is_empty() && o.output.contains("nothing changed"), "{}", o.output);
    assert!(c.workspace.rescan().is_empty());
}

#[tokio::test]
async fn write_file_refuses_protected_paths_but_reads_are_allowed() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("MEMORY.md"), "memory\n").unwrap();
    fs::create_dir_all(dir.path().join(".endure")).unwrap();
    fs::write(dir.path().join(".endure/x"), "state\n").unwrap();
    let mut c = ctx(dir.path());
    for p in ["MEMORY.md", ".endure/x", ".git/config", "../escape.txt"] {
        let o = call(&mut c, "write_file", json!({"path": p, "content": "evil"})).await;
        assert!(!o.ok, "{p} should be refused");
        let o = call(&mut c, "edit_file", json!({"path": p, "old": "m", "new": "n"})).await;
        assert!(!o.ok, "{p} should be refused");
    }
    assert_eq!(fs::read_to_string(dir.path().join("MEMORY.md")).unwrap(), "memory\n");
    assert!(!dir.path().join(".git").exists());
    assert!(!dir.path().parent().unwrap().join("escape.txt").exists());
    let o = call(&mut c, "read_file", json!({"path": "MEMORY.md"})).await;
    assert_eq!(o.output, "     1\tmemory\n");
    let o = call(&mut c, "read_file", json!({"path": ".endure/x"})).await;
    assert_eq!(o.output, "     1\tstate\n");
}

#[tokio::test]
async fn edit_file_replaces_exactly_one_occurrence() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.rs");
    fs::write(&p, "fn a() {\n    one();\n}\nfn b() {\n    two();\n    two();\n}\n").unwrap();
    let mut c = ctx(dir.path());

    let o = call(&mut c, "edit_file", json!({"path": "m.rs", "old": "one();", "new": "uno();\n    dos();"})).await;
    assert!(o.ok, "{}", o.output);
    assert_eq!(o.output, "edited m.rs: replaced 1 line with 2 lines at line 2");
    assert_eq!(fs::read_to_string(&p).unwrap(), "fn a() {\n    uno();\n    dos();\n}\nfn b() {\n    two();\n    two();\n}\n");
    assert_eq!(o.changes.len(), 1);
    assert!(o.changes[0].diff.contains("-    one();\n+    uno();\n+    dos();\n"), "{}", o.changes[0].diff);

    let before = fs::read_to_string(&p).unwrap();
    let o = call(&mut c, "edit_file", json!({"path": "m.rs", "old": "two();", "new": "three();"})).await;
    assert!(!o.ok && o.output.contains("occurs 2 times") && o.output.contains("surrounding lines"), "{}", o.output);

    let o = call(&mut c, "edit_file", json!({"path": "m.rs", "old": "three();", "new": "x"})).await;
    assert!(!o.ok && o.output.contains("not found") && o.output.contains("whitespace"), "{}", o.output);

    let o = call(&mut c, "edit_file", json!({"path": "m.rs", "old": "fn b() {\n two();", "new": "x"})).await;
    assert!(o.output.contains("except for whitespace/indentation starts at line 5"), "{}", o.output);

    let o = call(&mut c, "edit_file", json!({"path": "m.rs", "old": "", "new": "x"})).await;
    assert!(!o.ok && o.output.contains("`old` is empty"), "{}", o.output);
    assert_eq!(fs::read_to_string(&p).unwrap(), before, "failed edits leave the file alone");

    let o = call(&mut c, "edit_file", json!({"path": "missing.rs", "old": "a", "new": "b"})).await;
    assert!(!o.ok && o.output.contains("file not found") && o.output.contains("write_file"), "{}", o.output);
}

#[tokio::test]
async fn edit_file_counts_overlapping_matches_and_handles_crlf() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.txt"), "aaa\n").unwrap();
    fs::write(dir.path().join("w.txt"), "one\r\ntwo\r\nthree\r\n").unwrap();
    let mut c = ctx(dir.path());
    let o = call(&mut c, "edit_file", json!({"path": "a.txt", "old": "aa", "new": "b"})).await;
    assert!(o.output.contains("occurs 2 times"), "{}", o.output);
    let o = call(&mut c, "edit_file", json!({"path": "w.txt", "old": "one\ntwo\n", "new": "1\n2\n"})).await;
    assert!(o.ok, "{}", o.output);
    assert_eq!(fs::read_to_string(dir.path().join("w.txt")).unwrap(), "1\r\n2\r\nthree\r\n");
}

#[tokio::test]
async fn list_files_respects_gitignore_and_marks_directories() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join(".gitignore"), "target/\n*.log\n").unwrap();
    fs::create_dir_all(d.join("src/util")).unwrap();
    fs::create_dir_all(d.join("target")).unwrap();
    fs::create_dir_all(d.join(".git")).unwrap();
    fs::create_dir_all(d.join(".endure")).unwrap();
    fs::write(d.join("target/out"), "").unwrap();
    fs::write(d.join("x.log"), "").unwrap();
    fs::write(d.join(".git/HEAD"), "").unwrap();
    fs::write(d.join(".endure/e"), "").unwrap();
    fs::write(d.join("src/main.rs"), "").unwrap();
    fs::write(d.join("src/util/mod.rs"), "").unwrap();
    fs::write(d.join("Cargo.toml"), "").unwrap();
    let mut c = ctx(d);

    let o = call(&mut c, "list_files", json!({})).await;
    assert_eq!(o.output, ".gitignore\nCargo.toml\nsrc/\nsrc/main.rs\nsrc/util/\nsrc/util/mod.rs\n");
    let o = call(&mut c, "list_files", json!({"path": "src/util"})).await;
    assert_eq!(o.output, "src/util/mod.rs\n");
    let o = call(&mut c, "list_files", json!({"path": "nope"})).await;
    assert!(!o.ok && o.output.contains("not found"), "{}", o.output);
}

#[tokio::test]
async fn list_files_caps_at_1000_entries() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..1005 {
        fs::write(dir.path().join(format!("f{i:04}")), "").unwrap();
    }
    let mut c = ctx(dir.path());
    let o = call(&mut c, "list_files", json!({"path": "."})).await;
    let lines: Vec<&str> = o.output.lines().collect();
    assert_eq!(lines.len(), 1001);
    assert_eq!(lines[999], "f0999");
    assert!(lines[1000].contains("5 more entries not shown"), "{}", lines[1000]);
}

#[tokio::test]
async fn search_respects_gitignore_skips_binaries_and_caps() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join(".gitignore"), "build/\n").unwrap();
    fs::create_dir_all(d.join("build")).unwrap();
    fs::create_dir_all(d.join("src")).unwrap();
    fs::write(d.join("build/gen.rs"), "fn needle() {}\n").unwrap();
    fs::write(d.join("blob"), b"needle\0\0").unwrap();
    fs::write(d.join("src/a.rs"), format!("// x\n    fn needle() {{ {} }}\n", "z".repeat(400))).unwrap();
    fs::write(d.join("src/b.rs"), "let needle = 1;\n").unwrap();
    let mut c = ctx(d);

    let o = call(&mut c, "search", json!({"pattern": "need(le)"})).await;
    assert!(o.ok, "{}", o.output);
    let lines: Vec<&str> = o.output.lines().collect();
    assert_eq!(lines.len(), 2, "{}", o.output);
    assert!(lines[0].starts_with("src/a.rs:2: fn needle() { zzz"), "{}", lines[0]);
    assert!(lines[0].chars().count() < 330 && lines[0].ends_with('…'), "{}", lines[0]);
    assert_eq!(lines[1], "src/b.rs:1: let needle = 1;");

    let o = call(&mut c, "search", json!({"pattern": "needle", "path": "src/b.rs"})).await;
    assert_eq!(o.output, "src/b.rs:1: let needle = 1;\n");
    let o = call(&mut c, "search", json!({"pattern": "haystack"})).await;
    assert!(o.ok && o.output.contains("no matches"), "{}", o.output);
    let o = call(&mut c, "search", json!({"pattern": "fn ("})).await;
    assert!(!o.ok && o.output.contains("invalid regular expression"), "{}", o.output);

    fs::write(d.join("many.txt"), "hit\n".repeat(250)).unwrap();
    let o = call(&mut c, "search", json!({"pattern": "^hit$"})).await;
    let lines: Vec<&str> = o.output.lines().collect();
    assert_eq!(lines.len(), 201);
    assert!(lines[200].contains("stopped after 200 matches"), "{}", lines[200]);
}

#[tokio::test]
async fn todo_validates_and_replaces_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ctx(dir.path());
    let o = call(
        &mut c,
        "todo",
        json!({"tasks": [{"title": "write parser", "status": "done"}, {"title": "test it", "status": "in_progress"}, {"title": "docs", "status": "pending"}]}),
    )
    .await;
    assert!(o.ok, "{}", o.output);
    let tasks = o.tasks.unwrap();
    assert_eq!(tasks.len(), 3);
    assert_eq!(tasks[1].status, TaskStatus::InProgress);
    assert!(o.output.contains("3 tasks (1 done, 1 in progress, 1 pending)") && o.output.contains("[~] test it"), "{}", o.output);

    let o = call(&mut c, "todo", json!({"tasks": [{"title": "a", "status": "started"}]})).await;
    assert!(!o.ok && o.tasks.is_none() && o.output.contains("tasks[0]") && o.output.contains("pending, in_progress, done"), "{}", o.output);
    let o = call(&mut c, "todo", json!({"tasks": [{"status": "done"}]})).await;
    assert!(!o.ok && o.output.contains("missing `title`"), "{}", o.output);
}

#[tokio::test]
async fn done_carries_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ctx(dir.path());
    let o = call(&mut c, "done", json!({"summary": "fixed the bug; tests pass"})).await;
    assert!(o.ok);
    assert_eq!(o.done.as_deref(), Some("fixed the bug; tests pass"));
    let o = call(&mut c, "done", json!({})).await;
    assert!(!o.ok && o.done.is_none());
}

#[test]
fn cap_output_keeps_head_and_tail_on_char_boundaries() {
    assert_eq!(cap_output("short", 100), "short");
    let text: String = (0..2000).map(|i| if i % 3 == 0 { 'é' } else { '日' }).collect::<String>() + "END";
    let head: String = text.chars().take(10).collect();
    for cap in [80, 81, 97, 500, 1999] {
        let out = cap_output(&text, cap);
        assert!(out.chars().count() <= cap, "cap {cap}: {}", out.chars().count());
        assert!(out.starts_with(&head) && out.ends_with("END"), "cap {cap}");
        let omitted: usize = out.split("[... ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
        // What is kept plus what is said to be omitted is exactly the original.
        let marker = format!("\n[... {omitted} characters omitted ...]\n");
        assert_eq!(out.chars().count() - marker.chars().count() + omitted, text.chars().count());
        let (h, t) = out.split_once(&marker).unwrap();
        assert!(text.starts_with(h) && text.ends_with(t));
    }
}

#[tokio::test]
async fn every_result_is_capped() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..300 {
        fs::write(dir.path().join(format!("file_with_a_rather_long_name_{i:04}.txt")), "").unwrap();
    }
    let mut c = ctx(dir.path());
    c.limits.output_cap = 500;
    let o = call(&mut c, "list_files", json!({})).await;
    assert!(o.output.chars().count() <= 500);
    assert!(o.output.starts_with("file_with_a_rather_long_name_0000.txt") && o.output.contains("characters omitted"));
}

#[tokio::test]
async fn writes_to_ignored_files_show_their_previous_content_and_are_not_reported_deleted() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(".gitignore"), "*.env\n").unwrap();
    fs::write(dir.path().join("local.env"), "A=1\n").unwrap();
    let mut c = ctx(dir.path());
    let o = call(&mut c, "edit_file", json!({"path": "local.env", "old": "A=1", "new": "A=2"})).await;
    assert!(o.ok, "{}", o.output);
    assert_eq!(o.changes[0].before.as_deref(), Some(sha256_hex(b"A=1\n").as_str()));
    assert_eq!(o.changes[0].diff, "--- a/local.env\n+++ b/local.env\n@@ -1 +1 @@\n-A=1\n+A=2\n");
    assert!(c.workspace.rescan().is_empty(), "the ignored file still exists; it was not deleted");
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo {}", path.display());
}

#[tokio::test]
async fn file_tools_refuse_fifos_sockets_and_devices_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("pipe"));
    let _socket = std::os::unix::net::UnixListener::bind(dir.path().join("sock")).unwrap();
    std::os::unix::fs::symlink("/dev/null", dir.path().join("null")).unwrap();
    let mut c = ctx(dir.path());
    for (path, kind) in [("pipe", "a named pipe (FIFO)"), ("sock", "a socket")] {
        for (tool, args) in [
            ("read_file", json!({"path": path})),
            ("write_file", json!({"path": path, "content": "x"})),
            ("edit_file", json!({"path": path, "old": "a", "new": "b"})),
        ] {
            let o = tokio::time::timeout(std::time::Duration::from_secs(20), call(&mut c, tool, args)).await.expect("no hang");
            assert!(!o.ok, "{tool} {path}");
            assert!(o.output.contains(&format!("{path} is {kind}, not a regular file")), "{tool}: {}", o.output);
        }
    }
    // A symlink inside the workspace to a device outside: reading it is refused too (writing
    // through it is already refused as a path outside the workspace).
    let o = call(&mut c, "read_file", json!({"path": "null"})).await;
    assert!(!o.ok);
    assert!(o.output.contains("outside the workspace") || o.output.contains("a character device"), "{}", o.output);
}

#[tokio::test]
async fn writes_replace_the_file_so_a_hard_link_outside_keeps_its_content() {
    use std::os::unix::fs::PermissionsExt;
    let outside = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = outside.path().join("victim.txt");
    fs::write(&target, "original\n").unwrap();
    fs::hard_link(&target, dir.path().join("link.txt")).unwrap();
    fs::set_permissions(dir.path().join("link.txt"), fs::Permissions::from_mode(0o754)).unwrap();
    let mut c = ctx(dir.path());
    let o = call(&mut c, "write_file", json!({"path": "link.txt", "content": "changed\n"})).await;
    assert!(o.ok, "{}", o.output);
    let o = call(&mut c, "edit_file", json!({"path": "link.txt", "old": "changed", "new": "edited"})).await;
    assert!(o.ok, "{}", o.output);
    assert_eq!(fs::read_to_string(dir.path().join("link.txt")).unwrap(), "edited\n");
    assert_eq!(fs::read_to_string(&target).unwrap(), "original\n", "the file outside is untouched");
    let mode = fs::metadata(dir.path().join("link.txt")).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o754, "the replaced file keeps its permissions");
    // A file the user made read-only stays unwritable, as with a plain write.
    fs::write(dir.path().join("ro.txt"), "ro\n").unwrap();
    fs::set_permissions(dir.path().join("ro.txt"), fs::Permissions::from_mode(0o444)).unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let o = call(&mut c, "write_file", json!({"path": "ro.txt", "content": "x"})).await;
        assert!(!o.ok && o.output.contains("cannot write ro.txt"), "{}", o.output);
        assert_eq!(fs::read_to_string(dir.path().join("ro.txt")).unwrap(), "ro\n");
    }
}

#[tokio::test]
async fn search_names_the_files_it_skipped_for_size() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("small.txt"), "nothing here\n").unwrap();
    // Sparse: large without costing the disk.
    let big = fs::File::create(dir.path().join("huge.log")).unwrap();
    big.set_len(17 * 1024 * 1024).unwrap();
    let mut c = ctx(dir.path());
    let o = call(&mut c, "search", json!({"pattern": "needle"})).await;
    assert!(o.ok);
    assert!(!o.output.starts_with("no matches for `needle`\n"), "{}", o.output);
    assert!(o.output.contains("not every file was searched"), "{}", o.output);
    assert!(o.output.contains("skipped 1 file larger than 16 MiB") && o.output.contains("huge.log (17.0 MiB)"), "{}", o.output);
    let o = call(&mut c, "search", json!({"pattern": "nothing"})).await;
    assert!(o.output.starts_with("small.txt:1: nothing here\n") && o.output.contains("huge.log"), "{}", o.output);
}
