use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use super::tests::{call, ctx};
use crate::workspace::sha256_hex;

/// Whether `pid` is gone: no such process, or a zombie (the container's init may not reap
/// orphans, and a zombie no longer runs).
fn process_gone(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return true;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_pid(path: &Path) -> i32 {
    let mut pid = None;
    wait_until("the pid file", Duration::from_secs(10), || {
        pid = fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok());
        pid.is_some()
    });
    pid.unwrap()
}

#[tokio::test]
async fn run_feedback_locations_are_relative_to_the_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ctx(dir.path());
    let o = call(&mut c, "run", json!({"command": "echo \"$PWD/src/a.c:3:4: error: expected ';'\"; exit 1"})).await;
    assert!(!o.ok);
    let d = &o.feedback.diagnostics;
    assert_eq!(d.len(), 1, "{:?}", o.feedback);
    assert_eq!((d[0].file.as_deref(), d[0].line, d[0].col), (Some("src/a.c"), Some(3), Some(4)));
    assert!(o.output.starts_with("[feedback] 1 error\nerror (cc) src/a.c:3:4: expected ';'\nexit code: 1\n"), "{}", o.output);
}

#[tokio::test]
async fn run_captures_exit_code_and_both_streams() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ctx(dir.path());
    let o = call(&mut c, "run", json!({"command": "echo out; echo err >&2; pwd; exit 3"})).await;
    assert!(!o.ok);
    assert_eq!(o.exit_code, Some(3));
    // Nothing in the output says why it failed, so the block says so and repeats its end
    // (stdout and stderr are two pipes: their lines may arrive in either order).
    let note = "[feedback] the command failed and no parser recognised why; its last lines:\n";
    assert!(o.output.starts_with(note), "{}", o.output);
    assert!(o.output.contains("\n  | out\n") && o.output.contains("\n  | err\n"), "{}", o.output);
    assert!(o.output.contains("\nexit code: 3\n"), "{}", o.output);
    assert!(o.output.contains("out\n") && o.output.contains("err\n"), "{}", o.output);
    assert!(o.output.contains(c.workspace.root().to_str().unwrap()), "runs in the root: {}", o.output);

    let o = call(&mut c, "run", json!({"command": "printf '%s %s %s' \"$PAGER\" \"$TERM\" \"$NO_COLOR\"; read x; echo \"[$x]\""})).await;
    assert!(o.ok, "{}", o.output);
    assert_eq!(o.exit_code, Some(0));
    assert!(o.output.contains("cat dumb 1[]"), "env and empty stdin: {}", o.output);

    let o = call(&mut c, "run", json!({"command": "true"})).await;
    assert_eq!(o.output, "exit code: 0\n(no output)");
}

#[tokio::test]
async fn run_reports_signal_deaths() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ctx(dir.path());
    let o = call(&mut c, "run", json!({"command": "kill -SEGV $$"})).await;
    assert!(!o.ok);
    assert_eq!(o.exit_code, None);
    assert!(o.output.contains("killed by signal 11 (SIGSEGV)"), "{}", o.output);
}

#[tokio::test]
async fn run_yields_created_modified_and_deleted_changes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join(".gitignore"), "*.o\n").unwrap();
    fs::write(d.join("mod.txt"), "a\nb\nc\n").unwrap();
    fs::write(d.join("del.txt"), "old\n").unwrap();
    fs::write(d.join("obj.o"), "1").unwrap();
    let mut c = ctx(d);
    let o = call(
        &mut c,
        "run",
        json!({"command": "printf 'new\\n' > new.txt && printf 'a\\nB\\nc\\n' > mod.txt && rm del.txt && echo 2 > obj.o && echo 3 > other.o"}),
    )
    .await;
    assert!(o.ok, "{}", o.output);
    let paths: Vec<&str> = o.changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["del.txt", "mod.txt", "new.txt"], "ignored files produce no change");

    let del = &o.changes[0];
    assert_eq!((del.before.as_deref(), del.after.as_deref()), (Some(sha256_hex(b"old\n").as_str()), None));
    assert_eq!(del.diff, "--- a/del.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-old\n");
    let m = &o.changes[1];
    assert_eq!(m.before.as_deref(), Some(sha256_hex(b"a\nb\nc\n").as_str()));
    assert_eq!(m.after.as_deref(), Some(sha256_hex(b"a\nB\nc\n").as_str()));
    assert_eq!(m.diff, "--- a/mod.txt\n+++ b/mod.txt\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
    let n = &o.changes[2];
    assert_eq!((n.before.as_deref(), n.after.as_deref()), (None, Some(sha256_hex(b"new\n").as_str())));
    assert_eq!(n.diff, "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+new\n");

    let o = call(&mut c, "run", json!({"command": "cat mod.txt > /dev/null"})).await;
    assert!(o.changes.is_empty(), "{:?}", o.changes);
}

#[tokio::test]
async fn run_timeout_kills_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ctx(dir.path());
    let started = Instant::now();
    let o = call(&mut c, "run", json!({"command": "echo before; sleep 30 & echo $! > pid; sleep 30", "timeout_s": 1})).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!o.ok);
    assert_eq!(o.exit_code, None);
    assert!(o.output.starts_with("timed out after 1s; the process group was killed\n"), "{}", o.output);
    assert!(o.output.contains("before"), "output before the timeout is kept: {}", o.output);
    let pid = read_pid(&dir.path().join("pid"));
    wait_until("the background sleep to die", Duration::from_secs(5), || process_gone(pid));
}

#[tokio::test]
async fn timeout_is_clamped_to_the_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ctx(dir.path());
    c.limits.max_timeout = Duration::from_millis(500);
    let o = call(&mut c, "run", json!({"command": "sleep 30", "timeout_s": 1000})).await;
    assert!(o.output.starts_with("timed out after 0.5s"), "{}", o.output);
    let o = call(&mut c, "run", json!({"command": "true", "timeout_s": -1})).await;
    assert!(!o.ok && o.output.contains("timeout_s"), "{}", o.output);
}

#[tokio::test]
async fn dropping_the_call_kills_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ctx(dir.path());
    let args = json!({"command": "sleep 30 & echo $! > pid; sleep 30"});
    let r = tokio::time::timeout(Duration::from_millis(700), super::execute(&mut c, "run", &args)).await;
    assert!(r.is_err(), "the command should still have been running");
    let pid = read_pid(&dir.path().join("pid"));
    wait_until("the background sleep to die", Duration::from_secs(5), || process_gone(pid));
}

#[tokio::test]
async fn background_processes_do_not_outlive_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ctx(dir.path());
    let started = Instant::now();
    let o = call(&mut c, "run", json!({"command": "sleep 30 & echo $! > pid; echo done"})).await;
    assert!(started.elapsed() < Duration::from_secs(10), "a child holding the pipes must not block the call");
    assert!(o.ok, "{}", o.output);
    assert!(o.output.contains("done") && o.output.contains("background processes"), "{}", o.output);
    let pid = read_pid(&dir.path().join("pid"));
    wait_until("the background sleep to die", Duration::from_secs(5), || process_gone(pid));
}

#[tokio::test]
async fn run_output_is_capped_keeping_head_and_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ctx(dir.path());
    c.limits.output_cap = 2000;
    let o = call(
        &mut c,
        "run",
        json!({"command": "echo FIRST; i=0; while [ $i -lt 3000 ]; do echo \"ligne-é-$i\"; i=$((i+1)); done; echo LAST"}),
    )
    .await;
    assert!(o.ok);
    assert!(o.output.chars().count() <= 2000, "{}", o.output.chars().count());
    assert!(o.output.starts_with("exit code: 0\nFIRST\n"), "{}", &o.output[..40]);
    assert!(o.output.trim_end().ends_with("LAST"));
    assert!(o.output.contains("characters omitted"));
}

#[tokio::test]
async fn huge_output_is_bounded_while_streaming() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = ctx(dir.path());
    // 8 MiB of output: more than the streaming head and tail together.
    let o = call(&mut c, "run", json!({"command": "head -c 8388608 /dev/zero | tr '\\0' 'x'; echo; echo TAIL"})).await;
    assert!(o.ok, "{}", &o.output[..200.min(o.output.len())]);
    assert!(o.output.chars().count() <= c.limits.output_cap);
    assert!(o.output.trim_end().ends_with("TAIL"));
}
