//! Escalation: the agent asks to run one command outside the sandbox, and a human decides.
//! Supervised, the step waits for the supervisor's `ResolveEscalation`; headless, nobody can
//! decide, so it is denied unless `--approve-escalations` approved every escalation up front.
//! Every request and every answer is an event.

use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

use super::Supervision;
use super::recorder::SharedRecorder;
use crate::protocol::EventKind;
use crate::session::LogError;

/// The supervisor's answer to escalation `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EscalationAnswer {
    pub id: u64,
    pub approve: bool,
    pub note: Option<String>,
    /// The command that carried the answer.
    pub command_id: Option<String>,
}

/// True when a `run` call asks to leave the sandbox.
pub(super) fn requested(name: &str, args: &Value) -> bool {
    name == "run"
        && (matches!(args.get("escalate"), Some(Value::Bool(true))) || args.get("escalate").and_then(Value::as_str) == Some("true"))
}

pub(super) struct Escalation<'a> {
    pub rec: &'a SharedRecorder,
    pub supervision: Supervision,
    pub approve_all: bool,
    /// Commands are confined; otherwise there is nothing to escalate from.
    pub confining: bool,
    pub answers: &'a mut UnboundedReceiver<EscalationAnswer>,
}

impl Escalation<'_> {
    /// Records the request and the decision. Ok(Ok(())): run it outside the sandbox, once;
    /// Ok(Err(text)): the result the model gets instead.
    pub(super) async fn decide(self, args: &Value) -> Result<Result<(), String>, LogError> {
        let command = args.get("command").and_then(Value::as_str).unwrap_or("").to_string();
        let justification = args.get("justification").and_then(Value::as_str).unwrap_or("").trim().to_string();
        if command.trim().is_empty() {
            return Ok(Err("run: `command` is empty; nothing to escalate".into()));
        }
        if justification.is_empty() {
            return Ok(Err(
                "run: an escalation needs a `justification` saying why this command must run outside the sandbox; the command did not run"
                    .into(),
            ));
        }
        let id = self.rec.with_state(|s| s.escalations) + 1;
        self.rec.emit(EventKind::EscalationRequested { id, command, justification })?;
        let mut cause = None;
        let (approved, by, note) = if !self.confining {
            (true, "sandbox off", None)
        } else if self.approve_all {
            (true, "flag", None)
        } else if self.supervision == Supervision::Headless {
            (false, "headless", None)
        } else {
            // Answers to other (older) escalations are stale: only this one is waited on.
            loop {
                match self.answers.recv().await {
                    Some(a) if a.id == id => {
                        cause = a.command_id;
                        break (a.approve, "supervisor", a.note.filter(|n| !n.trim().is_empty()));
                    }
                    Some(_) => continue,
                    // The runtime is going away; the step is dropped before this matters.
                    None => break (false, "supervisor", None),
                }
            }
        };
        self.rec.emit_for(cause.as_deref(), EventKind::EscalationResolved { id, approved, by: by.to_string(), note: note.clone() })?;
        if approved {
            return Ok(Ok(()));
        }
        Ok(Err(match by {
            "headless" => "escalation denied: this is a headless run with nobody to approve commands outside the sandbox \
                           (endure exec --approve-escalations allows them). The command did not run; find a way to do it \
                           within the sandbox, or report what you need in your summary."
                .to_string(),
            _ => format!(
                "escalation denied by the supervisor; the command did not run.{}",
                note.map(|n| format!("\nTheir note: {n}")).unwrap_or_default()
            ),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_run_with_escalate_true_is_an_escalation() {
        assert!(requested("run", &serde_json::json!({"command": "x", "escalate": true})));
        assert!(!requested("run", &serde_json::json!({"command": "x", "escalate": false})));
        assert!(!requested("run", &serde_json::json!({"command": "x"})));
        assert!(!requested("search", &serde_json::json!({"escalate": true})));
    }
}
