//! One completed answer from a provider: attempts, idle timeouts, backoff and assembly.
//!
//! Tools only run on a fully assembled answer, so a stream cut mid-way is simply requested
//! again: nothing the half answer asked for has happened yet.

use std::time::Duration;

use futures::StreamExt;

use super::{Completion, ModelError, ModelRequest, Provider, StreamEvent, TokenUsage};
use crate::protocol::ToolCallRequest;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A stream silent for this long is treated as a disconnect.
    pub idle_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
        }
    }
}

/// Longest `Retry-After` we honour; a provider asking for more is treated as a hard stop.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

impl RetryPolicy {
    /// Exponential backoff with jitter in [50%, 100%] of the step, so that parallel clients
    /// (Max Mode candidates) do not retry in lockstep.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(MAX_RETRY_AFTER);
        }
        let exp = self.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(self.max_delay);
        capped.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

/// What happens while an answer is being obtained, for live display.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress<'a> {
    /// Attempt `n` (1-based) is being sent.
    Attempt(u32),
    Delta(&'a str),
    Retry { attempt: u32, delay: Duration, reason: String },
}

#[derive(Default)]
struct Assembly {
    text: String,
    calls: Vec<(String, String, String)>,
    usage: Option<TokenUsage>,
    finished: Option<Option<String>>,
}

impl Assembly {
    fn slot(&mut self, index: usize) -> &mut (String, String, String) {
        if self.calls.len() <= index {
            self.calls.resize_with(index + 1, Default::default);
        }
        &mut self.calls[index]
    }

    fn apply(&mut self, ev: StreamEvent) {
        match ev {
            StreamEvent::TextDelta(t) => self.text.push_str(&t),
            StreamEvent::ToolCallStart { index, id, name } => {
                let slot = self.slot(index);
                if !id.is_empty() {
                    slot.0 = id;
                }
                if !name.is_empty() {
                    slot.1 = name;
                }
            }
            StreamEvent::ToolCallDelta { index, arguments } => self.slot(index).2.push_str(&arguments),
            StreamEvent::Usage(u) => self.usage = Some(u),
            StreamEvent::Finished { stop_reason } => self.finished = Some(stop_reason),
        }
    }

    fn into_completion(self) -> Completion {
        let tool_calls = self
            .calls
            .into_iter()
            .enumerate()
            // A slot with no name is a gap left by a provider that numbered sparsely.
            .filter(|(_, (_, name, _))| !name.is_empty())
            .map(|(i, (id, name, arguments))| ToolCallRequest {
                id: if id.is_empty() { format!("call_{i}") } else { id },
                name,
                arguments,
            })
            .collect();
        Completion { text: self.text, tool_calls, usage: self.usage, stop_reason: self.finished.flatten() }
    }
}

async fn attempt(
    provider: &dyn Provider,
    req: &ModelRequest,
    idle: Duration,
    on: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<Completion, ModelError> {
    let name = provider.name().to_string();
    let idle_err = || ModelError::IdleTimeout { provider: name.clone(), after: idle };
    let mut stream = tokio::time::timeout(idle, provider.open(req)).await.map_err(|_| idle_err())??;
    let mut asm = Assembly::default();
    loop {
        let next = tokio::time::timeout(idle, stream.next()).await.map_err(|_| idle_err())?;
        match next {
            None => break,
            Some(Err(e)) => return Err(e),
            Some(Ok(ev)) => {
                if let StreamEvent::TextDelta(t) = &ev {
                    on(Progress::Delta(t));
                }
                // Usage can trail the finish marker (OpenAI sends it in a last chunk), so the
                // loop keeps reading until the provider closes the stream.
                asm.apply(ev);
            }
        }
    }
    if asm.finished.is_none() {
        return Err(ModelError::StreamCut { provider: name });
    }
    let completion = asm.into_completion();
    if completion.text.trim().is_empty() && completion.tool_calls.is_empty() {
        return Err(ModelError::Empty { provider: name });
    }
    Ok(completion)
}

/// Obtains one complete answer, retrying transient failures within the policy's bounds.
pub async fn complete(
    provider: &dyn Provider,
    req: &ModelRequest,
    policy: &RetryPolicy,
    on: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Result<Completion, ModelError> {
    let mut n = 1;
    loop {
        on(Progress::Attempt(n));
        match attempt(provider, req, policy.idle_timeout, on).await {
            Ok(c) => return Ok(c),
            Err(e) if e.is_retryable() && n < policy.max_attempts => {
                if e.retry_after().is_some_and(|ra| ra > MAX_RETRY_AFTER) {
                    return Err(e);
                }
                let delay = policy.delay(n, e.retry_after());
                on(Progress::Retry { attempt: n, delay, reason: e.to_string() });
                tokio::time::sleep(delay).await;
                n += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            ..Default::default()
        };
        for _ in 0..50 {
            let d1 = p.delay(1, None);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100), "{d1:?}");
            let d3 = p.delay(3, None);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400), "{d3:?}");
            let d10 = p.delay(10, None);
            assert!(d10 <= Duration::from_millis(1000), "{d10:?}");
        }
        assert_eq!(p.delay(2, Some(Duration::from_secs(7))), Duration::from_secs(7));
    }

    #[test]
    fn assembly_joins_split_tool_calls() {
        let mut a = Assembly::default();
        a.apply(StreamEvent::ToolCallStart { index: 1, id: "b".into(), name: "run".into() });
        a.apply(StreamEvent::ToolCallStart { index: 0, id: "a".into(), name: "read_file".into() });
        a.apply(StreamEvent::ToolCallDelta { index: 0, arguments: "{\"pa".into() });
        a.apply(StreamEvent::ToolCallDelta { index: 1, arguments: "{\"command\":\"ls\"}".into() });
        a.apply(StreamEvent::ToolCallDelta { index: 0, arguments: "th\":\"x\"}".into() });
        a.apply(StreamEvent::Finished { stop_reason: Some("tool_calls".into()) });
        let c = a.into_completion();
        assert_eq!(c.tool_calls.len(), 2);
        assert_eq!(c.tool_calls[0].arguments, "{\"path\":\"x\"}");
        assert_eq!(c.tool_calls[1].name, "run");
    }
}
