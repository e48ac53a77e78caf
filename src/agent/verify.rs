//! The Goal verifier: every claim of "done" is checked by an independent call against the
//! completion condition, on the evidence in the transcript rather than the agent's report.

use super::recorder::SharedRecorder;
use crate::model::ask::{TRIES, ask_until_valid};
use crate::model::{Provider, RetryPolicy};
use crate::protocol::EventKind;
use crate::reliability::verifier::{Verdict, VerifierInput, parse_verdict, verifier_request};
use crate::session::LogError;

/// What the verifier decided about a claim of done.
pub(super) enum Decision {
    Met,
    /// Not met: the missing items went back to the agent, which continues.
    Continue,
    /// The loop is not converging, or the verifier could not be read: the supervisor decides
    /// (headless: the run ends with this outcome).
    Supervisor {
        reason: String,
        headless: crate::protocol::Outcome,
    },
}

pub(super) struct Verifier<'a> {
    pub rec: &'a SharedRecorder,
    pub provider: &'a dyn Provider,
    pub retry: &'a RetryPolicy,
    pub model: &'a str,
    pub goal: Option<&'a str>,
    pub max_rejections: u32,
    pub usage: &'a super::UsageFn<'a>,
}

/// The message that carries a rejection back to the agent.
pub fn rejection_message(missing: &[String]) -> String {
    let mut text = String::from("[Goal verifier] The goal is not met yet.");
    if missing.is_empty() {
        text.push_str(" The verifier gave no specifics: check the work against the task again.");
    } else {
        text.push_str(" Missing:\n");
        for m in missing {
            text.push_str(&format!("- {m}\n"));
        }
    }
    text.push_str("\nContinue working, and call `done` again once these are addressed and verified.");
    text
}

impl Verifier<'_> {
    pub(super) async fn check(&self, summary: &str) -> Result<Decision, LogError> {
        let (task, window, checkpoint, attempt, previous, users_words) = self.rec.with_state(|s| {
            (
                s.task().to_string(),
                s.messages.clone(),
                // Past a rollover, the window alone no longer holds the whole story.
                (s.rollovers > 0).then(|| s.latest_checkpoint.clone().zip(s.checkpoints.last().map(|c| c.id.clone()))).flatten(),
                s.verdicts + 1,
                s.last_missing.clone(),
                // A rebuilt window (rollover or rollback) is a summary: the user's words come
                // along verbatim, so the verdict is on what was asked, not on a paraphrase.
                (s.cycle > 1).then(|| crate::memory::window::users_words_block(s.task(), s.goal(), &s.corrections)),
            )
        });
        let goal = self.goal.unwrap_or(&task);
        let checkpoints: Vec<(String, crate::protocol::Checkpoint)> = checkpoint.map(|(c, id)| vec![(id, c)]).unwrap_or_default();
        let mut req = verifier_request(&VerifierInput {
            goal,
            summary,
            checkpoints: &checkpoints,
            users_words: users_words.as_deref(),
            window: &window,
            model: self.model,
            max_tokens: 2048,
            limit_tokens: 100_000,
        });
        // The evidence holds tool calls and results, and providers refuse those in a request
        // that declares no tools; the prompt tells the verifier to answer, not call them.
        req.tools = crate::tools::specs();
        let asked = ask_until_valid(self.provider, self.retry, &mut req, TRIES, parse_verdict, |why| {
            format!("That is not a verdict ({why}). Answer only with {{\"met\": bool, \"missing\": [...], \"evidence\": [...]}}.")
        })
        .await;
        for spent in &asked.spent {
            (self.usage)(spent, false)?;
        }
        let v: Verdict = match asked.answer {
            Ok(v) => v.value,
            Err(e) => {
                return Ok(Decision::Supervisor {
                    reason: format!("the goal verifier's answer could not be used ({e})"),
                    headless: crate::protocol::Outcome::Failed,
                });
            }
        };
        self.rec.emit(EventKind::VerifierVerdict { attempt, met: v.met, missing: v.missing.clone(), evidence: v.evidence.clone() })?;
        if v.met {
            return Ok(Decision::Met);
        }
        let in_a_row = self.rec.with_state(|s| s.rejections_in_a_row);
        let repeated = previous.as_ref() == Some(&v.missing);
        if in_a_row >= self.max_rejections || repeated {
            let reason = if repeated {
                "the goal verifier gave the same verdict twice in a row".to_string()
            } else {
                format!("the goal verifier rejected done {in_a_row} times in a row")
            };
            self.rec.emit(EventKind::UserMessage { text: rejection_message(&v.missing) })?;
            return Ok(Decision::Supervisor { reason, headless: crate::protocol::Outcome::Stalled });
        }
        self.rec.emit(EventKind::UserMessage { text: rejection_message(&v.missing) })?;
        Ok(Decision::Continue)
    }
}
