//! Max Mode: N candidate answers in parallel, a judge picks one, and only the pick's tool
//! calls execute. Losing candidates and the judge are overhead: their cost is counted, their
//! tokens never fill the agent's window.

use futures::future::join_all;
use tokio::sync::mpsc;

use super::recorder::SharedRecorder;
use crate::model::ask::{AskError, Spent, ask_until_valid};
use crate::model::{self, Completion, ModelRequest, Progress};
use crate::protocol::{EventKind, PickedBy, Role};
use crate::reliability::judge::{Candidate, JudgeInput, judge_request, parse_pick};
use crate::session::LogError;

/// What a Max Mode step needs from the step runner.
pub(super) struct MaxModeStep<'a> {
    pub rec: &'a SharedRecorder,
    /// The session's task, which the judge weighs the candidates against.
    pub task: &'a str,
    pub provider: &'a dyn model::Provider,
    pub retry: &'a model::RetryPolicy,
    pub judge_model: &'a str,
    pub temperature: f32,
    pub review: bool,
    /// Supervisor picks, with the id of the command that sent each.
    pub picks: &'a mut mpsc::UnboundedReceiver<(u32, Option<String>)>,
    pub usage: &'a super::UsageFn<'a>,
}

/// The answer to execute, or None when every candidate failed (the caller then asks once,
/// normally).
pub(super) async fn answer(m: MaxModeStep<'_>, step: u64, req: &ModelRequest, n: u32) -> Result<Option<Completion>, LogError> {
    let mut candidate_req = req.clone();
    candidate_req.temperature = Some(m.temperature);
    let rec = m.rec;
    let runs = (1..=n).map(|index| {
        let creq = candidate_req.clone();
        let rec = rec.clone();
        async move {
            let mut on = move |p: Progress<'_>| {
                if let Progress::Delta(t) = p {
                    let _ = rec.emit(EventKind::CandidateDelta { step, index, text: t.to_string() });
                }
            };
            (index, model::complete(m.provider, &creq, m.retry, &mut on).await)
        }
    });
    let results = join_all(runs).await;

    let mut ok: Vec<(u32, Completion)> = Vec::new();
    for (index, result) in results {
        match result {
            // A refusal or a cut answer is no proposal to pick; if every candidate ends so, the
            // step asks once normally and records the outcome for what it is.
            Ok(c) if c.refusal.is_some() => {
                let why = c.refusal.as_deref().map(str::trim).filter(|t| !t.is_empty()).unwrap_or("no reason given");
                rec.emit(EventKind::CandidateFailed { step, index, reason: format!("the model refused: {why}") })?
            }
            Ok(c) if c.truncated() => rec.emit(EventKind::CandidateFailed {
                step,
                index,
                reason: format!("the answer was cut at the output limit of {} tokens", candidate_req.max_tokens),
            })?,
            Ok(c) => {
                rec.emit(EventKind::CandidateProposed { step, index, text: c.text.clone(), tool_calls: c.tool_calls.clone() })?;
                ok.push((index, c));
            }
            Err(e) => rec.emit(EventKind::CandidateFailed { step, index, reason: e.to_string() })?,
        }
    }
    if ok.is_empty() {
        rec.emit(EventKind::Warning { message: format!("all {n} Max Mode candidates failed; asking once without Max Mode") })?;
        return Ok(None);
    }

    let (mut pick, mut by) = if ok.len() == 1 { (ok[0].0, PickedBy::Fallback) } else { judge(&m, step, req, &ok, n).await? };
    let mut cause = None;
    if m.review {
        // The run waits here until the supervisor confirms the pick or chooses another.
        while m.picks.try_recv().is_ok() {}
        loop {
            match m.picks.recv().await {
                Some((i, id)) if ok.iter().any(|(idx, _)| *idx == i) => {
                    if i != pick {
                        by = PickedBy::Supervisor;
                    }
                    pick = i;
                    cause = id;
                    break;
                }
                Some((i, _)) => {
                    rec.emit(EventKind::Warning { message: format!("candidate {i} cannot be picked: it failed or does not exist") })?
                }
                // The runtime is going away; the step is being dropped anyway.
                None => break,
            }
        }
    } else if let Ok((i, id)) = m.picks.try_recv()
        && ok.iter().any(|(idx, _)| *idx == i)
    {
        // A pick sent while the candidates streamed overrides the judge.
        by = if i == pick { by } else { PickedBy::Supervisor };
        pick = i;
        cause = id;
    }
    rec.emit_for(cause.as_deref(), EventKind::CandidatePicked { step, pick, by })?;

    let mut chosen = None;
    for (index, c) in ok {
        if index == pick {
            chosen = Some(c);
        } else {
            (m.usage)(&Spent::of(Role::Agent, &candidate_req.model, &candidate_req, &c), true)?;
        }
    }
    Ok(chosen)
}

/// Asks the judge; a judge that fails or answers something unusable falls back to the first
/// candidate that did not fail.
async fn judge(m: &MaxModeStep<'_>, step: u64, req: &ModelRequest, ok: &[(u32, Completion)], n: u32) -> Result<(u32, PickedBy), LogError> {
    let candidates: Vec<Candidate<'_>> =
        ok.iter().map(|(index, c)| Candidate { index: *index, text: &c.text, tool_calls: &c.tool_calls }).collect();
    let jreq = judge_request(&JudgeInput {
        task: m.task,
        window: &req.messages.to_vec(),
        candidates: &candidates,
        model: m.judge_model,
        max_tokens: 1024,
        limit_tokens: 60_000,
    });
    let first = ok[0].0;
    // The judge is asked once: a fallback pick is cheaper than a second judgement.
    let mut jreq = jreq;
    let asked = ask_until_valid(m.provider, m.retry, &mut jreq, 1, |text| parse_pick(text, n), |why| why.to_string()).await;
    for spent in &asked.spent {
        (m.usage)(spent, true)?;
    }
    let parsed = match asked.answer {
        Ok(v) => Ok(v.value),
        Err(AskError::Invalid(e)) => Err(e),
        Err(AskError::Model(e)) => {
            m.rec.emit(EventKind::Warning { message: format!("the judge failed ({e}); candidate {first} is used") })?;
            return Ok((first, PickedBy::Fallback));
        }
    };
    match parsed {
        Ok((pick, reason)) if ok.iter().any(|(i, _)| *i == pick) => {
            m.rec.emit(EventKind::JudgeVerdict { step, pick, reason })?;
            Ok((pick, PickedBy::Judge))
        }
        Ok((pick, _)) => {
            m.rec.emit(EventKind::Warning {
                message: format!("the judge picked candidate {pick}, which failed; candidate {first} is used"),
            })?;
            Ok((first, PickedBy::Fallback))
        }
        Err(e) => {
            m.rec.emit(EventKind::Warning { message: format!("the judge's answer could not be read ({e}); candidate {first} is used") })?;
            Ok((first, PickedBy::Fallback))
        }
    }
}
