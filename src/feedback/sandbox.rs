//! Sandbox denials in command output, said plainly: which path the sandbox refused and why,
//! or that the network is off, so the model does not loop on a bare "Read-only file system"
//! or a failed name lookup.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

use super::re;
use crate::protocol::Diagnostic;

/// What the command ran under.
pub struct SandboxContext<'a> {
    pub workspace: &'a Path,
    /// The session is read-only: only the temporary directory is writable.
    pub read_only: bool,
    /// Connections beyond loopback are refused.
    pub network_off: bool,
}

/// Distinct denials reported at most, so a loop over many files does not flood the block.
const MAX_DENIALS: usize = 5;

static QUOTED: LazyLock<Regex> = LazyLock::new(|| re(r#"['"‘`]([^'"’`]+)['"’`]"#));
static UNQUOTED: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:cannot create|could not lock config file|unable to create|cannot open|can't create|failed to create|could not create)\s+(?:directory\s+|regular file\s+)?([^\s:]+)",
    )
});
static BEFORE_COLON: LazyLock<Regex> =
    LazyLock::new(|| re(r"([^\s:'\x22]+):\s*(?:Read-only file system|Device or resource busy|Permission denied)"));
static HOST: LazyLock<Regex> = LazyLock::new(|| re(r"(?:resolve host:?|resolve|host)\s+'?([A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,})'?"));

/// The sandbox's refusals found in `output`.
pub fn denials(output: &str, ctx: &SandboxContext) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::new();
    let mut network = false;
    for line in output.lines() {
        if out.len() >= MAX_DENIALS {
            break;
        }
        let lower = line.to_ascii_lowercase();
        let erofs = lower.contains("read-only file system") || lower.contains("[errno 30]");
        let busy = lower.contains("device or resource busy") || lower.contains("[errno 16]");
        let denied = lower.contains("permission denied") || lower.contains("[errno 13]");
        if erofs || busy || denied {
            let Some(path) = path_in(line) else { continue };
            let why = match classify(&path, ctx) {
                Some(why) => why,
                // Permission denied and busy have other causes; only a protected path is ours.
                None if !erofs => continue,
                None if ctx.read_only => {
                    "this session is read-only: commands may write only $TMPDIR, the session's private directory".to_string()
                }
                None => "commands may write only the workspace and $TMPDIR, the session's private directory".to_string(),
            };
            if !out.iter().any(|d| d.file.as_deref() == Some(path.as_str())) {
                out.push(Diagnostic {
                    kind: "sandbox".into(),
                    file: Some(path),
                    line: None,
                    col: None,
                    message: format!("the sandbox refused this write: {why}"),
                });
            }
            continue;
        }
        if ctx.network_off && !network && is_network_failure(&lower) {
            network = true;
            let target = HOST.captures(line).map(|c| format!(" ({})", &c[1])).unwrap_or_default();
            out.push(Diagnostic {
                kind: "sandbox".into(),
                file: None,
                line: None,
                col: None,
                message: format!(
                    "the sandbox refused a network connection{target}: the network is off for commands; only loopback (127.0.0.1) works"
                ),
            });
        }
    }
    out
}

fn is_network_failure(lower: &str) -> bool {
    [
        "network is unreachable",
        "temporary failure in name resolution",
        "could not resolve host",
        "name or service not known",
        "no address associated with hostname",
        "could not resolve hostname",
        "getaddrinfo enotfound",
        "getaddrinfo eai_again",
        "failed to lookup address information",
        "dial tcp: lookup",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

/// The path a denial line names.
fn path_in(line: &str) -> Option<String> {
    let found = QUOTED
        .captures(line)
        .or_else(|| UNQUOTED.captures(line))
        .or_else(|| BEFORE_COLON.captures(line))
        .map(|c| c[1].trim_end_matches([',', '.', ':']).to_string())?;
    (found.contains('/') || found.contains('.')).then_some(found)
}

/// Why a path inside the workspace is protected, if it is.
fn classify(path: &str, ctx: &SandboxContext) -> Option<String> {
    let p = Path::new(path);
    let abs: PathBuf = if p.is_absolute() { p.to_path_buf() } else { ctx.workspace.join(p) };
    let rel = abs.strip_prefix(ctx.workspace).ok()?;
    let first = rel.components().next()?.as_os_str().to_string_lossy().into_owned();
    let mut parts = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned());
    let second = parts.nth(1);
    match (first.as_str(), second.as_deref()) {
        ("MEMORY.md", _) => Some("MEMORY.md is project memory, written only by endure".into()),
        (".endure", _) => Some(".endure/ holds endure's own state and is read-only to commands".into()),
        (".git", Some("config" | "config.worktree")) => {
            Some(".git/config is read-only to commands; pass settings with `git -c key=value` or environment variables".into())
        }
        (".git", Some("hooks")) => Some(".git/hooks is read-only to commands, so no hook can be planted".into()),
        _ if ctx.read_only => Some("this session is read-only: commands may write only $TMPDIR, the session's private directory".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> SandboxContext<'static> {
        SandboxContext { workspace: Path::new("/w"), read_only: false, network_off: true }
    }

    #[test]
    fn writes_outside_the_workspace_name_the_path() {
        let d = denials("sh: 1: cannot create /etc/foo: Read-only file system\n", &ctx());
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].file.as_deref(), Some("/etc/foo"));
        assert!(d[0].message.contains("only the workspace and $TMPDIR"), "{}", d[0].message);
        let d = denials("OSError: [Errno 30] Read-only file system: '/usr/lib/x.so'\n", &ctx());
        assert_eq!(d[0].file.as_deref(), Some("/usr/lib/x.so"));
    }

    #[test]
    fn protected_paths_say_why() {
        let out = "error: could not lock config file .git/config: Read-only file system\n\
                   rm: cannot remove 'MEMORY.md': Device or resource busy\n\
                   touch: cannot touch '/w/.git/hooks/pre-commit': Read-only file system\n";
        let d = denials(out, &ctx());
        let files: Vec<_> = d.iter().map(|d| d.file.clone().unwrap_or_default()).collect();
        assert_eq!(files, [".git/config", "MEMORY.md", "/w/.git/hooks/pre-commit"]);
        assert!(d[0].message.contains("git -c"));
        assert!(d[1].message.contains("written only by endure"));
    }

    #[test]
    fn an_ordinary_permission_error_is_not_blamed_on_the_sandbox() {
        assert!(denials("cat: /root/secret: Permission denied\n", &ctx()).is_empty());
    }

    #[test]
    fn network_failures_name_the_network_once() {
        let out = "curl: (6) Could not resolve host: example.com\nOSError: [Errno 101] Network is unreachable\n";
        let d = denials(out, &ctx());
        assert_eq!(d.len(), 1);
        assert!(d[0].message.contains("network") && d[0].message.contains("example.com"), "{}", d[0].message);
        let on = SandboxContext { network_off: false, ..ctx() };
        assert!(denials(out, &on).is_empty());
    }
}
