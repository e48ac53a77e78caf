//! The notification hook (`--notify CMD`, `[notify] command`): runs a command each time the
//! session starts waiting for the supervisor, so a supervisor away from the terminal hears of
//! it. Run by whichever process runs the session (so detached runs notify too), never through
//! a shell: CMD is split at whitespace and the session id and the reason are appended as two
//! more arguments. The hook never blocks the run: it runs in a task of its own, and its
//! failure (it cannot start, exits non-zero, or takes over a minute) becomes a `warning`.

use std::process::Stdio;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::waiting::{Wait, Waiting};
use crate::agent::ControlLink;

/// How long a hook may run before it is reported (and left to itself).
const HOOK_LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyHook {
    argv: Vec<String>,
}

impl NotifyHook {
    /// None for an empty command.
    pub fn parse(cmd: &str) -> Option<NotifyHook> {
        let argv: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
        (!argv.is_empty()).then_some(NotifyHook { argv })
    }

    /// The reason argument: the wait's kind, then why (`budget: steps budget reached`).
    pub fn reason(wait: &Wait) -> String {
        format!("{}: {}", wait.kind(), wait.why())
    }

    /// Runs the hook for `session` and `reason`; Err(message) when it fails.
    pub async fn run(&self, session: &str, reason: &str) -> Result<(), String> {
        let mut cmd = tokio::process::Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..]).arg(session).arg(reason).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let child = cmd.spawn().map_err(|e| format!("the notify command `{}` could not start: {e}", self.argv[0]))?;
        match tokio::time::timeout(HOOK_LIMIT, child.wait_with_output()).await {
            Ok(Ok(out)) if out.status.success() => Ok(()),
            Ok(Ok(out)) => {
                let err = String::from_utf8_lossy(&out.stderr);
                let first = err.lines().next().unwrap_or("").chars().take(200).collect::<String>();
                Err(format!(
                    "the notify command `{}` failed ({}){}",
                    self.argv[0],
                    out.status,
                    if first.is_empty() { String::new() } else { format!(": {first}") }
                ))
            }
            Ok(Err(e)) => Err(format!("the notify command `{}`: {e}", self.argv[0])),
            Err(_) => Err(format!("the notify command `{}` still runs after {} s", self.argv[0], HOOK_LIMIT.as_secs())),
        }
    }
}

/// Watches the session behind `link` and runs `hook` each time it starts waiting (or starts
/// waiting for something else). Ends with the session.
pub fn spawn(link: &ControlLink, session: String, hook: NotifyHook) -> Option<JoinHandle<()>> {
    let mut rx = link.subscribe()?;
    let link = link.clone();
    Some(tokio::spawn(async move {
        let mut waiting = Waiting::default();
        let mut last: Option<Wait> = None;
        loop {
            match rx.recv().await {
                Ok(ev) => waiting.apply(&ev),
                // Missed events cannot hide a wait that lasts: the fold is current again with
                // the next pause or escalation event.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            }
            let now = waiting.wait();
            if let Some(wait) = now.as_ref().filter(|w| last.as_ref() != Some(*w)) {
                let (hook, link, session, reason) = (hook.clone(), link.clone(), session.clone(), NotifyHook::reason(wait));
                tokio::spawn(async move {
                    if let Err(message) = hook.run(&session, &reason).await {
                        link.warn(message);
                    }
                });
            }
            last = now;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_command_is_no_hook_and_words_are_split_without_a_shell() {
        assert_eq!(NotifyHook::parse("  "), None);
        let h = NotifyHook::parse("notify-send  -u critical").unwrap();
        assert_eq!(h.argv, ["notify-send", "-u", "critical"]);
    }

    #[tokio::test]
    async fn the_hook_gets_the_session_and_the_reason_and_a_failure_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("args");
        let script = dir.path().join("hook.sh");
        std::fs::write(&script, format!("#!/bin/sh\nprintf '%s|' \"$@\" > {}\n", out.display())).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let hook = NotifyHook::parse(&format!("{} first", script.display())).unwrap();
        assert_eq!(hook.run("s1", "budget: steps budget reached").await, Ok(()));
        assert_eq!(std::fs::read_to_string(&out).unwrap_or_default(), "first|s1|budget: steps budget reached|");
        let missing = NotifyHook::parse("/nonexistent/endure-hook").unwrap();
        let err = missing.run("s1", "r").await.expect_err("a missing program fails");
        assert!(err.contains("could not start"), "{err}");
        let failing = NotifyHook::parse("false").unwrap();
        assert!(failing.run("s1", "r").await.is_err());
    }
}
