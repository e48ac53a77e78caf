//! Asking a model for an answer in a required shape: ask, validate, and ask once more with the
//! reason when the answer cannot be used. The writer (checkpoints, dream, distill), the goal
//! verifier and the Max Mode judge all ask this way; every call's spending comes back with the
//! answer, so each caller records it as a `usage` event and no role's calls escape the budgets.

use super::{Completion, Message, ModelError, ModelRequest, Progress, Provider, RetryPolicy, TokenUsage, complete};
use crate::protocol::Role;

/// "Retry once": the first answer and one more after saying what was wrong.
pub const TRIES: u32 = 2;

/// One model call's spending: as the provider reported it, or estimated.
#[derive(Debug, Clone, PartialEq)]
pub struct Spent {
    pub role: Role,
    pub model: String,
    pub usage: TokenUsage,
    pub estimated: bool,
}

impl Spent {
    /// What answering `req` with `c` cost; estimated from the text when the provider reported
    /// nothing.
    pub fn of(role: Role, model: &str, req: &ModelRequest, c: &Completion) -> Spent {
        Spent::with_prompt(role, model, || prompt_estimate(req), c)
    }

    /// [`Spent::of`] with the prompt's estimate supplied (asked for only when the provider
    /// reported no usage), for a caller that keeps it up to date incrementally.
    pub fn with_prompt(role: Role, model: &str, prompt: impl FnOnce() -> u64, c: &Completion) -> Spent {
        use crate::memory::tokens::estimate;
        let (usage, estimated) = match c.usage {
            Some(u) => (u, false),
            None => {
                let completion = estimate(&c.text) + c.tool_calls.iter().map(|t| estimate(&t.name) + estimate(&t.arguments)).sum::<u64>();
                (TokenUsage::new(prompt(), completion), true)
            }
        };
        Spent { role, model: model.to_string(), usage, estimated }
    }
}

/// The estimate of a whole request's prompt: system, tool schemas and messages.
pub fn prompt_estimate(req: &ModelRequest) -> u64 {
    use crate::memory::tokens::{estimate, estimate_messages};
    estimate(&req.system) + tools_estimate(&req.tools) + estimate_messages(&req.messages)
}

/// The estimate of the tool schemas offered with a request.
pub fn tools_estimate(tools: &[super::ToolSpec]) -> u64 {
    use crate::memory::tokens::estimate;
    tools.iter().map(|t| estimate(&t.name) + estimate(&t.description) + estimate(&t.parameters.to_string())).sum()
}

#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Every answer failed validation; the reason is the last one's.
    #[error("{0}")]
    Invalid(String),
}

/// A valid answer: what validation made of it, and its text (to continue the conversation).
#[derive(Debug)]
pub struct Valid<T> {
    pub value: T,
    pub text: String,
}

/// The outcome of asking, and what every call of it cost, failed ones included.
#[derive(Debug)]
pub struct Asked<T> {
    pub answer: Result<Valid<T>, AskError>,
    pub spent: Vec<Spent>,
}

/// Sends `req` up to `tries` times. An answer `validate` rejects is added to `req.messages`
/// with `again(reason)` as the next user message, so the model sees what it said and what was
/// wrong; `req` then holds the conversation so far. A model error ends the asking at once
/// (`complete` has already retried what is worth retrying).
pub async fn ask_until_valid<T>(
    provider: &dyn Provider,
    retry: &RetryPolicy,
    req: &mut ModelRequest,
    tries: u32,
    mut validate: impl FnMut(&str) -> Result<T, String>,
    again: impl Fn(&str) -> String,
) -> Asked<T> {
    let mut spent = Vec::new();
    let mut reason = String::from("no answer was asked for");
    for attempt in 0..tries.max(1) {
        // Nobody watches these streams; only the whole answer matters.
        let completion = match complete(provider, req, retry, &mut |_: Progress<'_>| {}).await {
            Ok(c) => c,
            Err(e) => return Asked { answer: Err(AskError::Model(e)), spent },
        };
        spent.push(Spent::of(req.role, &req.model, req, &completion));
        match validate(&completion.text) {
            Ok(value) => return Asked { answer: Ok(Valid { value, text: completion.text }), spent },
            Err(why) => {
                reason = why;
                if attempt + 1 < tries {
                    req.messages.push(Message::Assistant { text: completion.text, tool_calls: Vec::new(), blocks: Vec::new() });
                    req.messages.push(Message::User { text: again(&reason) });
                }
            }
        }
    }
    Asked { answer: Err(AskError::Invalid(reason)), spent }
}

#[cfg(test)]
#[path = "ask_tests.rs"]
mod tests;
