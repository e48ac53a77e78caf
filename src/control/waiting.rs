//! Whether a session waits for the supervisor, and why, folded from its events: the one
//! answer `ps`, the fleet view, the notification hook and the workbench's bell share.

use std::collections::BTreeMap;

use crate::protocol::{Event, EventKind, PauseReason};

/// What a session waits for the supervisor to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wait {
    /// Escalation `id` asks to run `command` outside the sandbox.
    Escalation { id: u64, command: String },
    /// A pause the supervisor did not ask for (a budget, a stall, a verifier hand-over, …).
    Paused(PauseReason),
    /// Max Mode review: the judge picked candidate `judge_pick` at `step`.
    Pick { step: u64, judge_pick: u32 },
}

impl Wait {
    /// Why, in a few words.
    pub fn why(&self) -> String {
        match self {
            Wait::Escalation { id, .. } => format!("escalation {id} to approve"),
            Wait::Paused(reason) => pause_why(reason),
            Wait::Pick { step, judge_pick } => format!("a pick to review (step {step}, judge: {judge_pick})"),
        }
    }

    /// A short stable name for scripts (`--notify`'s reason starts with it).
    pub fn kind(&self) -> &'static str {
        match self {
            Wait::Escalation { .. } => "escalation",
            Wait::Pick { .. } => "pick",
            Wait::Paused(PauseReason::Budget { .. }) => "budget",
            Wait::Paused(PauseReason::Stall) => "stall",
            Wait::Paused(PauseReason::Verifier { .. }) => "verifier",
            Wait::Paused(PauseReason::Refusal) => "refusal",
            Wait::Paused(PauseReason::Truncation { .. }) => "truncation",
            Wait::Paused(PauseReason::Rebuild { .. }) => "rebuild",
            Wait::Paused(PauseReason::Supervisor) => "paused",
        }
    }
}

pub fn pause_why(reason: &PauseReason) -> String {
    match reason {
        PauseReason::Supervisor => "paused by the supervisor".into(),
        PauseReason::Budget { budget } => format!("{} budget reached", budget.as_str()),
        PauseReason::Stall => "stall".into(),
        PauseReason::Verifier { reason } => format!("verifier hand-over: {reason}"),
        PauseReason::Refusal => "the model refused".into(),
        PauseReason::Truncation { max_tokens } => format!("answers cut at {max_tokens} tokens"),
        PauseReason::Rebuild { reason } => format!("rebuild: {reason}"),
    }
}

/// The fold.
#[derive(Debug, Clone, Default)]
pub struct Waiting {
    paused: Option<PauseReason>,
    escalations: BTreeMap<u64, String>,
    review_picks: bool,
    /// The step whose judge answered and whose pick is not made yet, with the judge's pick.
    judged: Option<(u64, u32)>,
    finished: bool,
}

impl Waiting {
    pub fn apply(&mut self, ev: &Event) {
        match &ev.kind {
            EventKind::Paused { reason } => self.paused = Some(reason.clone()),
            EventKind::Resumed | EventKind::SessionResumed { .. } => self.paused = None,
            EventKind::EscalationRequested { id, command, .. } => {
                self.escalations.insert(*id, command.clone());
            }
            EventKind::EscalationResolved { id, .. } => {
                self.escalations.remove(id);
            }
            EventKind::MaxModeChanged { review_picks, .. } => self.review_picks = *review_picks,
            EventKind::JudgeVerdict { step, pick, .. } => self.judged = Some((*step, *pick)),
            EventKind::CandidatePicked { .. } | EventKind::StepFinished { .. } => self.judged = None,
            EventKind::SessionFinished { .. } => self.finished = true,
            _ => {}
        }
    }

    /// What the session waits for, most pressing first: an escalation blocks a tool call, a
    /// pick blocks a step, a pause blocks the run.
    pub fn wait(&self) -> Option<Wait> {
        if self.finished {
            return None;
        }
        if let Some((id, command)) = self.escalations.iter().next() {
            return Some(Wait::Escalation { id: *id, command: command.clone() });
        }
        if let (true, Some((step, judge_pick))) = (self.review_picks, self.judged) {
            return Some(Wait::Pick { step, judge_pick });
        }
        match &self.paused {
            Some(PauseReason::Supervisor) | None => None,
            Some(reason) => Some(Wait::Paused(reason.clone())),
        }
    }

    /// Paused at the supervisor's own request.
    pub fn paused_by_supervisor(&self) -> bool {
        !self.finished && self.paused == Some(PauseReason::Supervisor)
    }

    pub fn paused(&self) -> Option<&PauseReason> {
        self.paused.as_ref().filter(|_| !self.finished)
    }

    pub fn finished(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::BudgetKind;

    fn ev(kind: EventKind) -> Event {
        Event { seq: 0, ts: chrono::Utc::now(), command_id: None, kind }
    }

    #[test]
    fn an_escalation_outranks_a_pause_and_a_resume_ends_the_wait() {
        let mut w = Waiting::default();
        w.apply(&ev(EventKind::Paused { reason: PauseReason::Budget { budget: BudgetKind::Steps } }));
        assert_eq!(w.wait().map(|w| w.kind()), Some("budget"));
        w.apply(&ev(EventKind::EscalationRequested { id: 3, command: "curl x".into(), justification: "j".into() }));
        assert_eq!(w.wait().map(|w| w.why()), Some("escalation 3 to approve".into()));
        w.apply(&ev(EventKind::EscalationResolved { id: 3, approved: true, by: "supervisor".into(), note: None }));
        w.apply(&ev(EventKind::Resumed));
        assert_eq!(w.wait(), None);
        w.apply(&ev(EventKind::Paused { reason: PauseReason::Supervisor }));
        assert_eq!(w.wait(), None, "a pause the supervisor asked for waits for nobody else");
        assert!(w.paused_by_supervisor());
    }

    #[test]
    fn a_judged_step_waits_only_with_review_picks_on() {
        let mut w = Waiting::default();
        w.apply(&ev(EventKind::JudgeVerdict { step: 2, pick: 1, reason: "r".into() }));
        assert_eq!(w.wait(), None);
        w.apply(&ev(EventKind::MaxModeChanged { candidates: Some(3), review_picks: true }));
        assert_eq!(w.wait(), Some(Wait::Pick { step: 2, judge_pick: 1 }));
        w.apply(&ev(EventKind::CandidatePicked { step: 2, pick: 1, by: crate::protocol::PickedBy::Supervisor }));
        assert_eq!(w.wait(), None);
    }
}
