#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! Flat cost per step: `cargo bench --bench flat_cost`.
//!
//! The same scripted session at 50 and at 1,000 steps, run by the real binary
//! (`CARGO_BIN_EXE_endure`, built in release by `cargo bench`) twice: headless (`endure exec`)
//! and in the workbench (`endure TASK` on a pseudo-terminal of 160x48, the bench draining the
//! screen output as a terminal would and pressing `q` once the log says the session finished).
//! The model is the in-process scripted provider at speed 0, its script given as JSON (see
//! `setup`), so no model server's cost is in the figures. For each run the bench reports the
//! process's CPU time (user + system, from `wait4`, so it includes the `git` processes of the
//! start snapshot) and peak RSS (`ru_maxrss` from the same call: the largest of endure and its
//! descendants), plus endure's own high-water mark (`VmHWM`, sampled) for reference.
//!
//! The session has no rollover: the context budget is 1,000,000,000 tokens, so the whole
//! conversation (about 3,000 messages at 1,000 steps) stays in the window and every step's
//! request carries all of it. That is the case where per-step work could grow with history;
//! a rollover would cut the window back and hide it.
//!
//! `FLAT_COST_BIN=PATH` measures another endure binary with the same sessions (to compare
//! with an older commit's build); an argument `headless` or `workbench` runs that frontend only.
//!
//! Per step = the whole process's CPU over the steps (start-up included, as the issue measured
//! it); the marginal figure, (CPU at 1,000 − CPU at 50) / 950, is printed too. Each
//! configuration runs `RUNS` times (default 3, `FLAT_COST_RUNS` to change) and the median is
//! used, since the machine is shared.

mod common;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SHORT: usize = 50;
const LONG: usize = 1000;

struct Setup {
    _dir: tempfile::TempDir,
    ws: PathBuf,
    script: PathBuf,
    home: PathBuf,
}

fn setup(steps: usize) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("src")).expect("mkdir");
    let mut lib = String::from("// marker 0\n");
    for i in 0..200 {
        let _ = writeln!(lib, "pub fn f{i}(x: u64) -> u64 {{ x + {i} }}");
    }
    std::fs::write(ws.join("src/lib.rs"), lib).expect("write");
    // The script goes to endure as JSON: a TOML parser builds a whole document first, and for
    // 1,000 steps that takes several MB while the scenario loads. That is the model's cost,
    // which the figures leave out; JSON is read straight into the scenario.
    let scenario: toml::Value = toml::from_str(&common::refactor_session(steps)).expect("the scenario is TOML");
    let script = dir.path().join("scenario.json");
    std::fs::write(&script, serde_json::to_string(&scenario).expect("JSON")).expect("write");
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join("config")).expect("mkdir");
    Setup { _dir: dir, ws, script, home }
}

/// What one run of the binary cost.
#[derive(Debug, Clone, Copy)]
struct Cost {
    cpu: Duration,
    /// `ru_maxrss`, KiB.
    maxrss_kib: i64,
    /// endure's own `VmHWM`, KiB, sampled.
    hwm_kib: i64,
}

/// `endure [exec] FLAGS refactor` in the bench's own home, config and state directories.
fn command(s: &Setup, exec: bool) -> Command {
    // `FLAT_COST_BIN` measures another build (an older commit's binary, for a comparison).
    let bin = std::env::var_os("FLAT_COST_BIN").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_endure")), PathBuf::from);
    let mut c = Command::new(bin);
    if exec {
        c.arg("exec");
    }
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &s.home)
        .env("ENDURE_CONFIG_DIR", s.home.join("config"))
        .env("ENDURE_STATE_DIR", s.home.join("state"))
        .env("TERM", "xterm-256color")
        .args(["--provider", "scripted", "--speed", "0", "--stall-after", "0", "--context-budget", "1000000000", "--script"])
        .arg(&s.script)
        .arg("-C")
        .arg(&s.ws)
        .arg("refactor");
    c
}

/// The child's own high-water mark, KiB.
fn hwm_kib(pid: i32) -> Option<i64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
}

/// Reaps `pid` once it exits, sampling its `VmHWM` until then; `tick` runs between samples.
fn wait_with_usage(pid: i32, mut tick: impl FnMut()) -> (i32, Cost) {
    let mut hwm = 0;
    loop {
        if let Some(h) = hwm_kib(pid) {
            hwm = hwm.max(h);
        }
        let mut status = 0;
        // SAFETY: a zeroed rusage is a valid value for wait4 to fill.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our own child; status and ru are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        assert!(r >= 0, "wait4: {}", std::io::Error::last_os_error());
        if r == pid {
            let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
            return (status, Cost { cpu: tv(ru.ru_utime) + tv(ru.ru_stime), maxrss_kib: ru.ru_maxrss, hwm_kib: hwm });
        }
        tick();
        std::thread::sleep(Duration::from_millis(5));
    }
}

// The child is reaped by `wait4` in `wait_with_usage`, which is what gives its rusage.
#[allow(clippy::zombie_processes)]
fn headless(steps: usize) -> Cost {
    let s = setup(steps);
    let child = command(&s, true).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn");
    let (status, cost) = wait_with_usage(child.id() as i32, || {});
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "the {steps}-step headless session failed: {status}");
    assert_finished(&s.ws, steps);
    cost
}

/// The session's log: the only session of the workspace.
fn log_path(ws: &Path) -> Option<PathBuf> {
    let dir = ws.join(".endure/sessions");
    std::fs::read_dir(dir).ok()?.flatten().map(|e| e.path().join("events.jsonl")).find(|p| p.exists())
}

fn finished(ws: &Path) -> bool {
    log_path(ws).and_then(|p| std::fs::read_to_string(p).ok()).is_some_and(|t| t.contains("\"type\":\"session_finished\""))
}

fn assert_finished(ws: &Path, steps: usize) {
    let log = std::fs::read_to_string(log_path(ws).expect("a session log")).expect("read log");
    assert!(log.contains("\"outcome\":\"done\""), "the {steps}-step session did not finish done");
    let started = log.matches("\"type\":\"step_started\"").count();
    assert!(started > steps, "the {steps}-step session ran {started} steps");
}

// Reaped by `wait4`, as in `headless`.
#[allow(clippy::zombie_processes)]
fn workbench(steps: usize) -> Cost {
    let s = setup(steps);
    let (mut master, slave) = pty(48, 160);
    let fd = |f: &OwnedFd| Stdio::from(f.try_clone().expect("dup"));
    let mut cmd = command(&s, false);
    cmd.stdin(fd(&slave)).stdout(fd(&slave)).stderr(fd(&slave));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // A session of its own with the pty as its controlling terminal, as a shell gives.
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().expect("spawn");
    // The command keeps its copies of the slave open: without closing them the screen reader
    // never sees the end of the output.
    drop(cmd);
    drop(slave);
    // A terminal reads everything the program draws; a full pty buffer would block it.
    let mut reader = master.try_clone().expect("dup");
    let mut answer = master.try_clone().expect("dup");
    let drain = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut tail: Vec<u8> = Vec::new();
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            // The workbench asks where the cursor is (as crossterm does on start) and waits for
            // the answer a terminal gives.
            for _ in buf[..n].windows(4).filter(|w| *w == b"\x1b[6n") {
                let _ = answer.write_all(b"\x1b[1;1R");
            }
            tail.extend_from_slice(&buf[..n]);
            // Only the end is kept, for the failure message.
            let excess = tail.len().saturating_sub(8192);
            tail.drain(..excess);
        }
        tail
    });
    let deadline = Instant::now() + Duration::from_secs(600);
    // The log can say the session finished before the workbench has folded that far; a `q`
    // then asks whether to stop the run, so the answer follows a moment later if it is still
    // open (a `y` with no question open only copies a cell).
    let mut quit_sent: Option<Instant> = None;
    let mut confirmed = false;
    let (status, cost) = wait_with_usage(child.id() as i32, || {
        assert!(Instant::now() < deadline, "the {steps}-step workbench session did not end in time");
        match quit_sent {
            None if finished(&s.ws) => {
                let _ = master.write_all(b"q");
                quit_sent = Some(Instant::now());
            }
            Some(at) if !confirmed && at.elapsed() > Duration::from_secs(2) => {
                let _ = master.write_all(b"y");
                confirmed = true;
            }
            _ => {}
        }
    });
    drop(master);
    let tail = drain.join().unwrap_or_default();
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    assert!(ok, "the {steps}-step workbench failed ({status}); the end of its output:\n{}", String::from_utf8_lossy(&tail));
    assert!(!tail.is_empty(), "the workbench drew nothing");
    assert_finished(&s.ws, steps);
    cost
}

/// A pseudo-terminal of `rows` x `cols`: (master, slave).
fn pty(rows: u16, cols: u16) -> (std::fs::File, OwnedFd) {
    let (mut m, mut s) = (0, 0);
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: m and s are valid for writes; a null name and termios are allowed.
    let r = unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty returned two new descriptors that nothing else owns.
    unsafe { (std::fs::File::from_raw_fd(m), OwnedFd::from_raw_fd(s)) }
}

fn runs() -> usize {
    std::env::var("FLAT_COST_RUNS").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(3)
}

/// The median run by CPU time, and the median peak RSS.
fn median(mut v: Vec<Cost>) -> Cost {
    let mid = v.len() / 2;
    v.sort_by_key(|c| c.cpu);
    let cpu = v[mid].cpu;
    v.sort_by_key(|c| c.maxrss_kib);
    let maxrss_kib = v[mid].maxrss_kib;
    v.sort_by_key(|c| c.hwm_kib);
    Cost { cpu, maxrss_kib, hwm_kib: v[mid].hwm_kib }
}

fn ms_per_step(c: Cost, steps: usize) -> f64 {
    c.cpu.as_secs_f64() * 1000.0 / steps as f64
}

fn mb(kib: i64) -> f64 {
    kib as f64 / 1024.0
}

fn report(name: &str, short: Cost, long: Cost) {
    let (ps, pl) = (ms_per_step(short, SHORT), ms_per_step(long, LONG));
    let marginal = (long.cpu.as_secs_f64() - short.cpu.as_secs_f64()) * 1000.0 / (LONG - SHORT) as f64;
    println!("{name}:");
    println!(
        "  {SHORT:>5} steps: CPU {:.3} s = {ps:.2} ms/step · peak RSS {:.1} MB (endure alone {:.1} MB)",
        short.cpu.as_secs_f64(),
        mb(short.maxrss_kib),
        mb(short.hwm_kib)
    );
    println!(
        "  {LONG:>5} steps: CPU {:.3} s = {pl:.2} ms/step · peak RSS {:.1} MB (endure alone {:.1} MB)",
        long.cpu.as_secs_f64(),
        mb(long.maxrss_kib),
        mb(long.hwm_kib)
    );
    println!("  marginal CPU per step between them: {marginal:.2} ms");
    println!(
        "  ratio 1,000 / 50: CPU per step {:.2}x (goal ≤ 1.3x) · peak RSS {:.2}x (goal ≤ 1.3x; endure alone {:.2}x)",
        pl / ps,
        long.maxrss_kib as f64 / short.maxrss_kib as f64,
        long.hwm_kib as f64 / short.hwm_kib as f64
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter picks one frontend.
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let wants = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let n = runs();
    println!("flat cost per step: the same scripted session at {SHORT} and {LONG} steps, median of {n} runs each");
    type Runner = fn(usize) -> Cost;
    let frontends: [(&str, Runner); 2] = [("headless", headless), ("workbench", workbench)];
    for (name, run) in frontends {
        if !wants(name) {
            continue;
        }
        let short = median((0..n).map(|_| run(SHORT)).collect());
        let long = median((0..n).map(|_| run(LONG)).collect());
        report(name, short, long);
    }
}
