//! `dotnet test` (VSTest's console logger) and MSBuild's compiler lines.
//!
//! Not verified on output captured here: no .NET SDK can be installed from the registries this
//! project reaches, so there is no fixture. The shapes are the console logger's documented
//! ones: `  Failed Ns.Class.Method [12 ms]`, then `  Error Message:` and `  Stack Trace:`
//! sections whose frames end in `in /path/File.cs:line 18`; the summary is
//! `Failed!  - Failed: 2, Passed: 4, Skipped: 0, Total: 6, …` per test assembly (minimal
//! verbosity) or `Total tests: 6` with `Passed: 4` / `Failed: 2` / `Skipped: 0` lines below it.

use std::sync::LazyLock;

use regex::Regex;

use super::{Loc, Sink, re};

static FAILED_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s+Failed (\S.*?) \[[^\]]*\]\s*$"));
static SUMMARY_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?:Failed|Passed)!\s+-\s+Failed:\s+(\d+),\s+Passed:\s+(\d+),\s+Skipped:\s+(\d+),\s+Total:\s+\d+"));
static TOTAL_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^Total tests: (\d+)\s*$"));
static PART_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s+(Passed|Failed|Skipped): (\d+)\s*$"));
static FRAME_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s+at (\S+?)\(.*\) in (.+):line (\d+)\s*$"));
/// `src/Cart.cs(12,5): error CS0103: The name 'x' does not exist … [/abs/App.csproj]`.
static MSBUILD_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^\s*(?:\d+>)?(\S.*?\.(?:cs|fs|vb))\((\d+),(\d+)\): (error|warning) ([A-Z]+\d+): (.+?)(?: \[[^\]]+\])?\s*$"));

/// Lines a failure's report may take before the next test's.
const MAX_BLOCK_LINES: usize = 60;
const MESSAGE_LINES: usize = 4;

fn is_library(method: &str) -> bool {
    ["System.", "Microsoft.", "Xunit.", "NUnit.", "FluentAssertions.", "Shouldly.", "Moq."].iter().any(|p| method.starts_with(p))
}

pub(super) fn parse(lines: &[&str], sink: &mut Sink) {
    let mut summary: Option<[u32; 3]> = None;
    let mut totals: Option<[u32; 3]> = None;
    let add = |slot: &mut Option<[u32; 3]>, v: [u32; 3]| {
        let t = slot.get_or_insert([0; 3]);
        for (a, b) in t.iter_mut().zip(v) {
            *a = a.saturating_add(b);
        }
    };
    for (i, &line) in lines.iter().enumerate() {
        if let Some(c) = FAILED_RE.captures(line) {
            sink.failing(i, c.get(1).map_or("", |m| m.as_str()));
            failure(lines, i, sink);
        } else if let Some(c) = SUMMARY_RE.captures(line) {
            let n = |k: usize| c.get(k).and_then(|m| m.as_str().parse().ok()).unwrap_or(0u32);
            add(&mut summary, [n(2), n(1), n(3)]);
        } else if TOTAL_RE.is_match(line) {
            let mut v = [0u32; 3];
            for part in lines.iter().skip(i + 1).take(3).map_while(|l| PART_RE.captures(l)) {
                let n: u32 = part.get(2).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
                match part.get(1).map_or("", |m| m.as_str()) {
                    "Passed" => v[0] = n,
                    "Failed" => v[1] = n,
                    _ => v[2] = n,
                }
            }
            add(&mut totals, v);
        } else if let Some(c) = MSBUILD_RE.captures(line) {
            let get = |k: usize| c.get(k).map_or("", |m| m.as_str());
            let loc = Loc::new(get(1), get(2), Some(get(3)));
            if get(4) == "warning" {
                sink.warning(i, "dotnet warning", loc, &format!("{} [{}]", get(6), get(5)));
            } else {
                sink.error(i, format!("dotnet {}", get(5)), loc, get(6));
            }
        }
    }
    // Both summaries may be printed; the per-assembly one is the console logger's own.
    if let Some([p, f, s]) = summary.or(totals) {
        sink.add_counts(p, f, s);
    }
}

/// The message and the first user frame of one `Failed` test.
fn failure(lines: &[&str], header: usize, sink: &mut Sink) {
    let mut message: Vec<&str> = Vec::new();
    let mut section = "";
    for line in lines.iter().skip(header + 1).take(MAX_BLOCK_LINES) {
        let t = line.trim();
        if FAILED_RE.is_match(line) || line.trim_start().starts_with("Passed ") && line.contains(" [") {
            break;
        }
        match t {
            "Error Message:" => section = "message",
            "Stack Trace:" => section = "stack",
            _ if section == "message" && !t.is_empty() && message.len() < MESSAGE_LINES => message.push(t),
            _ if section == "stack" => {
                let Some(c) = FRAME_RE.captures(line) else { continue };
                if is_library(c.get(1).map_or("", |m| m.as_str())) {
                    continue;
                }
                let loc = Loc::new(c.get(2).map_or("", |m| m.as_str()), c.get(3).map_or("", |m| m.as_str()), None);
                sink.error(header, "dotnet test", loc, &joined(&message));
                return;
            }
            _ => {}
        }
    }
    if !message.is_empty() {
        sink.error(header, "dotnet test", Loc::default(), &joined(&message));
    }
}

fn joined(message: &[&str]) -> String {
    if message.is_empty() { "test failed".to_string() } else { message.join(" ") }
}
