//! One completed answer from a provider: attempts, idle timeouts, backoff and assembly.
//!
//! Tools only run on a fully assembled answer, so a stream cut mid-way is simply requested
//! again: nothing the half answer asked for has happened yet.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use super::{Completion, MAX_TOOL_CALLS, ModelError, ModelRequest, Provider, StreamEvent, TokenUsage};
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
    Retry {
        attempt: u32,
        delay: Duration,
        reason: String,
    },
}

/// Largest piece of text forwarded as one live delta. Live deltas wait in the event channel
/// for slow consumers, so their size bounds its memory; longer deltas are split.
const MAX_DELTA_BYTES: usize = 4096;

/// One piece of an answer, in the order the provider sent it.
enum Piece {
    Text(String),
    /// The tool call at this index of the answer.
    Call(usize),
    Opaque(Value),
}

/// The answer being put together from one attempt's events, within its bounds.
struct Assembly {
    text: String,
    refusal: Option<String>,
    reasoning: String,
    calls: Vec<(String, String, String)>,
    /// Text, calls and opaque blocks in order; consulted only when opaque blocks came.
    order: Vec<Piece>,
    usage: Option<TokenUsage>,
    finished: Option<Option<String>>,
    /// Content bytes received, against `cap`.
    size: usize,
    cap: usize,
}

impl Assembly {
    fn new(cap: usize) -> Self {
        Assembly {
            text: String::new(),
            refusal: None,
            reasoning: String::new(),
            calls: Vec::new(),
            order: Vec::new(),
            usage: None,
            finished: None,
            size: 0,
            cap,
        }
    }

    /// Counts `n` more bytes of content; an answer past its cap is malformed, which also
    /// bounds every single argument string and block.
    fn grow(&mut self, n: usize) -> Result<(), String> {
        self.size = self.size.saturating_add(n);
        if self.size > self.cap {
            return Err(format!("the answer exceeded {} bytes, more than its max_tokens allow; the stream was cut", self.cap));
        }
        Ok(())
    }

    fn slot(&mut self, index: usize) -> Result<&mut (String, String, String), String> {
        if index >= MAX_TOOL_CALLS {
            return Err(format!("tool call index {index} is out of range (an answer has at most {MAX_TOOL_CALLS} calls)"));
        }
        if self.calls.len() <= index {
            self.calls.resize_with(index + 1, Default::default);
        }
        Ok(&mut self.calls[index])
    }

    fn apply(&mut self, ev: &StreamEvent) -> Result<(), String> {
        match ev {
            StreamEvent::TextDelta(t) => {
                self.grow(t.len())?;
                self.text.push_str(t);
                match self.order.last_mut() {
                    Some(Piece::Text(piece)) => piece.push_str(t),
                    _ => self.order.push(Piece::Text(t.clone())),
                }
            }
            StreamEvent::RefusalDelta(t) => {
                self.grow(t.len())?;
                self.refusal.get_or_insert_with(String::new).push_str(t);
            }
            StreamEvent::ReasoningDelta(t) => {
                self.grow(t.len())?;
                self.reasoning.push_str(t);
            }
            StreamEvent::Opaque(block) => {
                self.grow(block.to_string().len())?;
                self.order.push(Piece::Opaque(block.clone()));
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.grow(id.len() + name.len())?;
                if !self.order.iter().any(|p| matches!(p, Piece::Call(i) if i == index)) {
                    self.order.push(Piece::Call(*index));
                }
                let slot = self.slot(*index)?;
                if !id.is_empty() {
                    slot.0 = id.clone();
                }
                if !name.is_empty() {
                    slot.1 = name.clone();
                }
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                self.grow(arguments.len())?;
                self.slot(*index)?.2.push_str(arguments);
            }
            StreamEvent::Usage(u) => self.usage = Some(*u),
            StreamEvent::Finished { stop_reason } => self.finished = Some(stop_reason.clone()),
        }
        Ok(())
    }

    fn into_completion(self) -> Completion {
        let stop_reason = self.finished.flatten();
        let refused = self.refusal.is_some() || matches!(stop_reason.as_deref(), Some("refusal" | "content_filter"));
        if refused {
            // A refusal is the whole answer: whatever text came with it is the refusal (that is
            // how Anthropic sends it), and no tool call of it may run.
            let refusal = self.refusal.filter(|r| !r.trim().is_empty()).unwrap_or(self.text);
            return Completion { refusal: Some(refusal), usage: self.usage, stop_reason, reasoning: self.reasoning, ..Default::default() };
        }
        // A slot with no name is a gap left by a provider that numbered sparsely.
        let ids: Vec<Option<String>> = self
            .calls
            .iter()
            .enumerate()
            .map(|(i, (id, name, _))| (!name.is_empty()).then(|| if id.is_empty() { format!("call_{i}") } else { id.clone() }))
            .collect();
        let blocks = if self.order.iter().any(|p| matches!(p, Piece::Opaque(_))) {
            self.order
                .into_iter()
                .filter_map(|p| match p {
                    Piece::Text(t) => Some(json!({"type": "text", "text": t})),
                    Piece::Call(i) => ids.get(i).cloned().flatten().map(|id| json!({"type": "tool_use", "id": id})),
                    Piece::Opaque(b) => Some(b),
                })
                .collect()
        } else {
            Vec::new()
        };
        let tool_calls = self
            .calls
            .into_iter()
            .zip(ids)
            .filter_map(|((_, name, arguments), id)| Some(ToolCallRequest { id: id?, name, arguments }))
            .collect();
        Completion { text: self.text, tool_calls, usage: self.usage, stop_reason, refusal: None, blocks, reasoning: self.reasoning }
    }
}

/// `s` in pieces of at most `max` bytes, cut at character boundaries.
fn pieces(s: &str, max: usize) -> impl Iterator<Item = &str> {
    let mut rest = s;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut at = rest.len().min(max);
        while !rest.is_char_boundary(at) {
            at -= 1;
        }
        // A single character wider than `max` still goes out whole.
        if at == 0 {
            at = rest.char_indices().nth(1).map_or(rest.len(), |(i, _)| i);
        }
        let (head, tail) = rest.split_at(at);
        rest = tail;
        Some(head)
    })
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
    let mut asm = Assembly::new(super::answer_cap(provider.output_limit(req)));
    loop {
        let next = tokio::time::timeout(idle, stream.next()).await.map_err(|_| idle_err())?;
        match next {
            None => break,
            Some(Err(e)) => return Err(e),
            Some(Ok(ev)) => {
                // Usage can trail the finish marker (OpenAI sends it in a last chunk), so the
                // loop keeps reading until the provider closes the stream.
                asm.apply(&ev).map_err(|message| ModelError::Protocol { provider: name.clone(), message })?;
                if let StreamEvent::TextDelta(t) | StreamEvent::RefusalDelta(t) = &ev {
                    for piece in pieces(t, MAX_DELTA_BYTES) {
                        on(Progress::Delta(piece));
                    }
                }
            }
        }
    }
    if asm.finished.is_none() {
        return Err(ModelError::StreamCut { provider: name });
    }
    let completion = asm.into_completion();
    let said_nothing = completion.text.trim().is_empty() && completion.tool_calls.is_empty() && completion.blocks.is_empty();
    // A refusal or a cut answer is an outcome of its own, never retried as "empty".
    if said_nothing && completion.refusal.is_none() && !completion.truncated() {
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
        let p = RetryPolicy { base_delay: Duration::from_millis(100), max_delay: Duration::from_millis(1000), ..Default::default() };
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
        let mut a = Assembly::new(1 << 20);
        for ev in [
            StreamEvent::ToolCallStart { index: 1, id: "b".into(), name: "run".into() },
            StreamEvent::ToolCallStart { index: 0, id: "a".into(), name: "read_file".into() },
            StreamEvent::ToolCallDelta { index: 0, arguments: "{\"pa".into() },
            StreamEvent::ToolCallDelta { index: 1, arguments: "{\"command\":\"ls\"}".into() },
            StreamEvent::ToolCallDelta { index: 0, arguments: "th\":\"x\"}".into() },
            StreamEvent::Finished { stop_reason: Some("tool_calls".into()) },
        ] {
            a.apply(&ev).unwrap();
        }
        let c = a.into_completion();
        assert_eq!(c.tool_calls.len(), 2);
        assert_eq!(c.tool_calls[0].arguments, "{\"path\":\"x\"}");
        assert_eq!(c.tool_calls[1].name, "run");
    }

    fn assemble(events: Vec<StreamEvent>, cap: usize) -> Result<Completion, String> {
        let mut a = Assembly::new(cap);
        for ev in &events {
            a.apply(ev)?;
        }
        Ok(a.into_completion())
    }

    #[test]
    fn tool_call_indices_are_bounded() {
        let start = |index| StreamEvent::ToolCallStart { index, id: "x".into(), name: "run".into() };
        let err = assemble(vec![start(1_000_000_000_000)], 1 << 20).unwrap_err();
        assert!(err.contains("1000000000000") && err.contains("at most 128"), "{err}");
        assert!(assemble(vec![StreamEvent::ToolCallDelta { index: MAX_TOOL_CALLS, arguments: "{}".into() }], 1 << 20).is_err());
        let c = assemble(vec![start(MAX_TOOL_CALLS - 1)], 1 << 20).unwrap();
        assert_eq!(c.tool_calls.len(), 1, "the last index in range is fine; the gaps before it are dropped");
    }

    #[test]
    fn an_answer_is_bounded_in_size() {
        let text = |n: usize| StreamEvent::TextDelta("x".repeat(n));
        assert!(assemble(vec![text(600), text(400)], 1000).is_ok());
        let err = assemble(vec![text(600), text(401)], 1000).unwrap_err();
        assert!(err.contains("exceeded 1000 bytes"), "{err}");
        let args = |n: usize| StreamEvent::ToolCallDelta { index: 0, arguments: "a".repeat(n) };
        assert!(assemble(vec![args(1001)], 1000).is_err(), "one argument string is bounded too");
        assert!(assemble(vec![StreamEvent::Opaque(serde_json::json!({"type": "x", "content": "y".repeat(1000)}))], 1000).is_err());
        assert_eq!(crate::model::answer_cap(8192), 1 << 20);
        assert_eq!(crate::model::answer_cap(200_000), 3_200_000);
        assert_eq!(crate::model::answer_cap(u32::MAX), 16 << 20);
    }

    #[test]
    fn refusals_take_the_whole_answer() {
        let finish = |r: &str| StreamEvent::Finished { stop_reason: Some(r.into()) };
        // OpenAI: refusal deltas, finish_reason stop.
        let c = assemble(
            vec![StreamEvent::RefusalDelta("I can't".into()), StreamEvent::RefusalDelta(" help.".into()), finish("stop")],
            1 << 20,
        )
        .unwrap();
        assert_eq!(c.refusal.as_deref(), Some("I can't help."));
        // Anthropic: text, then stop_reason refusal; tool calls never survive a refusal.
        let c = assemble(
            vec![
                StreamEvent::TextDelta("I won't do that.".into()),
                StreamEvent::ToolCallStart { index: 0, id: "t".into(), name: "run".into() },
                finish("refusal"),
            ],
            1 << 20,
        )
        .unwrap();
        assert_eq!((c.refusal.as_deref(), c.text.as_str(), c.tool_calls.len()), (Some("I won't do that."), "", 0));
        let c = assemble(vec![finish("refusal")], 1 << 20).unwrap();
        assert_eq!(c.refusal.as_deref(), Some(""));
        let c = assemble(vec![finish("content_filter")], 1 << 20).unwrap();
        assert!(c.refusal.is_some());
        let c = assemble(vec![StreamEvent::TextDelta("{\"".into()), finish("length")], 1 << 20).unwrap();
        assert!(c.truncated() && c.refusal.is_none());
    }

    #[test]
    fn opaque_blocks_keep_their_place_among_text_and_calls() {
        let thinking = json!({"type": "thinking", "thinking": "plan", "signature": "sig"});
        let search = json!({"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {}});
        let c = assemble(
            vec![
                StreamEvent::ReasoningDelta("plan".into()),
                StreamEvent::Opaque(thinking.clone()),
                StreamEvent::TextDelta("Let me ".into()),
                StreamEvent::TextDelta("check.".into()),
                StreamEvent::Opaque(search.clone()),
                StreamEvent::TextDelta(" Now the file.".into()),
                StreamEvent::ToolCallStart { index: 0, id: "t1".into(), name: "read_file".into() },
                StreamEvent::ToolCallDelta { index: 0, arguments: "{}".into() },
                StreamEvent::ToolCallStart { index: 1, id: String::new(), name: "run".into() },
                StreamEvent::ToolCallStart { index: 0, id: String::new(), name: String::new() },
                StreamEvent::Finished { stop_reason: Some("tool_calls".into()) },
            ],
            1 << 20,
        )
        .unwrap();
        assert_eq!(c.text, "Let me check. Now the file.");
        assert_eq!(c.reasoning, "plan");
        assert_eq!(
            c.blocks,
            vec![
                thinking,
                json!({"type": "text", "text": "Let me check."}),
                search,
                json!({"type": "text", "text": " Now the file."}),
                json!({"type": "tool_use", "id": "t1"}),
                json!({"type": "tool_use", "id": "call_1"}),
            ]
        );
        // Without opaque blocks nothing is duplicated: the answer is its text and calls.
        let c = assemble(vec![StreamEvent::TextDelta("hi".into()), StreamEvent::ReasoningDelta("hmm".into())], 1 << 20).unwrap();
        assert!(c.blocks.is_empty());
        assert_eq!(c.reasoning, "hmm");
        // Reasoning counts against the answer's bound.
        assert!(assemble(vec![StreamEvent::ReasoningDelta("x".repeat(1001))], 1000).is_err());
    }

    #[test]
    fn long_deltas_go_out_in_bounded_pieces() {
        let s = format!("{}é{}", "a".repeat(4095), "b".repeat(5000));
        let parts: Vec<&str> = pieces(&s, 4096).collect();
        assert_eq!(parts.concat(), s);
        assert!(parts.iter().all(|p| p.len() <= 4096), "{:?}", parts.iter().map(|p| p.len()).collect::<Vec<_>>());
        assert_eq!(parts[0].len(), 4095, "never inside a character");
        assert_eq!(pieces("ééé", 1).collect::<Vec<_>>(), vec!["é", "é", "é"]);
        assert_eq!(pieces("", 10).count(), 0);
    }
}
