//! Model clients: one trait, four providers (OpenAI-compatible Chat Completions, OpenAI
//! Responses, Anthropic, scripted).
//!
//! A provider only turns a [`ModelRequest`] into a stream of [`StreamEvent`]s. Everything above
//! that — assembly of tool calls, idle timeouts, retries with backoff, usage — lives in
//! [`complete`], so the scripted provider exercises exactly the same path as a real one.

pub mod anthropic;
pub mod ask;
pub mod conversation;
pub mod openai;
pub mod options;
pub mod responses;
pub mod retry;
pub mod scripted;
pub mod sse;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::protocol::Message;
use crate::protocol::{Role, ToolCallRequest};
pub use conversation::Conversation;

pub use options::{ReasoningEffort, RequestOptions};
pub use retry::{Progress, RetryPolicy, complete};

/// A tool as described to the model: name, description and a JSON schema for its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelRequest {
    pub role: Role,
    pub model: String,
    pub system: String,
    pub messages: Conversation,
    pub tools: Vec<ToolSpec>,
    pub temperature: Option<f32>,
    pub max_tokens: u32,
}

/// Token counts for one completed request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Every prompt token, cached or not.
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Of `prompt_tokens`, those read from the provider's prompt cache (Anthropic
    /// `cache_read_input_tokens`, OpenAI `cached_tokens`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_read_tokens: u64,
    /// Of `prompt_tokens`, those written to the cache (Anthropic
    /// `cache_creation_input_tokens`; OpenAI reports none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_tokens: u64,
}

impl TokenUsage {
    /// Counts without any cache figures.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> TokenUsage {
        TokenUsage { prompt_tokens, completion_tokens, ..Default::default() }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a provider's stream yields, already translated from its wire format.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    TextDelta(String),
    /// Refusal text (OpenAI streams it apart from the content).
    RefusalDelta(String),
    /// Readable reasoning: `reasoning_content` deltas, Anthropic thinking, a Responses
    /// reasoning summary. Shown, never sent back as such.
    ReasoningDelta(String),
    /// A complete content block the runtime keeps without interpreting it (an Anthropic
    /// server tool call or result, a signed thinking block, a Responses reasoning item), to be
    /// passed back to the provider unchanged and in its place among the answer's text and tool
    /// calls.
    Opaque(Value),
    /// A new tool call at position `index` of this answer.
    ToolCallStart {
        index: usize,
        id: String,
        name: String,
    },
    /// More argument text for the tool call at `index`.
    ToolCallDelta {
        index: usize,
        arguments: String,
    },
    Usage(TokenUsage),
    /// The provider said the answer is complete. A stream that ends without this was cut.
    Finished {
        stop_reason: Option<String>,
    },
}

/// A fully assembled answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Completion {
    pub text: String,
    pub tool_calls: Vec<ToolCallRequest>,
    /// As reported by the provider, when it reported anything.
    pub usage: Option<TokenUsage>,
    /// Normalised to OpenAI's vocabulary: `stop`, `tool_calls`, `length`, `refusal`, ...
    pub stop_reason: Option<String>,
    /// Set when the model refused: the refusal text, possibly empty. `text` then holds
    /// nothing of it.
    pub refusal: Option<String>,
    /// Empty unless the answer had opaque provider blocks; then the whole answer in order:
    /// the opaque blocks, with the text as `{"type":"text","text":..}` pieces and each tool
    /// call as `{"type":"tool_use","id":..}` between them (see
    /// [`crate::protocol::is_answer_block`]).
    pub blocks: Vec<Value>,
    /// Readable reasoning that came with the answer, for display only.
    pub reasoning: String,
}

impl Completion {
    /// The answer stopped at the output token limit: its text is cut and its tool calls may
    /// be incomplete.
    pub fn truncated(&self) -> bool {
        matches!(self.stop_reason.as_deref(), Some("length" | "model_context_window_exceeded"))
    }
}

/// At most this many tool calls in one answer; a provider numbering calls beyond it sent a
/// malformed answer.
pub const MAX_TOOL_CALLS: usize = 128;

/// Bytes of content (text, refusal, tool arguments, opaque blocks) one answer may hold: 16
/// per requested token (a token averages about 4), at least 1 MiB and at most 16 MiB. Past it
/// the answer is malformed: a model cannot have produced it within its limit.
pub fn answer_cap(max_tokens: u32) -> usize {
    (max_tokens as usize).saturating_mul(16).clamp(1 << 20, 16 << 20)
}

/// Raw bytes one response may send, wire framing included (a streamed token costs up to a
/// few hundred bytes of JSON around it): 512 per requested token, between 16 and 128 MiB.
pub fn body_cap(max_tokens: u32) -> usize {
    (max_tokens as usize).saturating_mul(512).clamp(16 << 20, 128 << 20)
}

/// Bytes one server-sent event may have before its end; the parser holds an event whole.
pub const MAX_EVENT_BYTES: usize = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The provider answered with an HTTP error status.
    #[error("{provider} returned HTTP {status}: {message}")]
    Http { provider: String, status: u16, message: String, retry_after: Option<Duration> },
    /// Connecting or reading failed below HTTP.
    #[error("{provider}: connection failed: {message}")]
    Transport { provider: String, message: String },
    /// The stream ended before the provider said the answer was complete.
    #[error("{provider}: stream ended before the answer was complete")]
    StreamCut { provider: String },
    #[error("{provider}: no data for {}s, treating the stream as disconnected", .after.as_secs_f32())]
    IdleTimeout { provider: String, after: Duration },
    /// The provider said something that is not its wire format, or more than an answer can
    /// hold.
    #[error("{provider}: malformed stream: {message}")]
    Protocol { provider: String, message: String },
    /// The provider reported an error inside a stream that had started (Anthropic's `event:
    /// error`, an `error` object in an OpenAI stream). `kind` is its type, when it gave one.
    #[error("{provider} reported an error ({}): {message}", .kind.as_deref().unwrap_or("no type given"))]
    Reported { provider: String, kind: Option<String>, message: String, transient: bool },
    /// A successful status whose body is not a server-sent event stream (a JSON document, an
    /// HTML page from a proxy, garbage). `head` is the start of the body, key removed.
    #[error("{provider}: HTTP {status} with content-type `{content_type}` is not an event stream; the body begins: {head}")]
    NotAStream { provider: String, status: u16, content_type: String, head: String },
    #[error("{provider}: the model returned an empty answer")]
    Empty { provider: String },
    /// Bad setup: missing key, bad base URL, a scripted scenario that ran out.
    #[error("{0}")]
    Config(String),
}

impl ModelError {
    /// Transient failures are retried; the rest stop the run with their message.
    pub fn is_retryable(&self) -> bool {
        match self {
            ModelError::Http { status, .. } => *status == 408 || *status == 409 || *status == 429 || *status >= 500,
            ModelError::Reported { transient, .. } => *transient,
            ModelError::Transport { .. }
            | ModelError::StreamCut { .. }
            | ModelError::IdleTimeout { .. }
            | ModelError::Protocol { .. }
            | ModelError::NotAStream { .. }
            | ModelError::Empty { .. } => true,
            ModelError::Config(_) => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ModelError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

pub type EventStream<'a> = Pin<Box<dyn Stream<Item = Result<StreamEvent, ModelError>> + Send + 'a>>;
pub type OpenFuture<'a> = Pin<Box<dyn Future<Output = Result<EventStream<'a>, ModelError>> + Send + 'a>>;

/// A model backend. `open` makes one attempt: it sends the request and returns the stream of
/// events once the response headers say it succeeded. Retrying is the caller's job.
pub trait Provider: Send + Sync {
    /// A short name for messages, e.g. `openai`.
    fn name(&self) -> &str;
    fn open<'a>(&'a self, req: &'a ModelRequest) -> OpenFuture<'a>;

    /// The most tokens the provider may produce for `req`: its `max_tokens`, plus a thinking
    /// budget the provider adds. An answer's size bounds follow it.
    fn output_limit(&self, req: &ModelRequest) -> u32 {
        req.max_tokens
    }

    /// A resumed session has already received `answers` answers for `role`. Only a scripted
    /// provider cares: a real model just answers the next request.
    fn resume_at(&self, role: Role, answers: usize) {
        let _ = (role, answers);
    }

    /// The provider a workflow subagent labelled `label` uses; None: this one. Only a
    /// scripted provider differs, so that concurrent subagents each get their own answers in
    /// a deterministic order.
    fn for_subagent(&self, label: &str) -> Result<Option<Arc<dyn Provider>>, ModelError> {
        let _ = label;
        Ok(None)
    }
}

/// An API key that cannot be printed by accident.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Removes the secret, and any long piece of it, from text that came from elsewhere (a
    /// provider's error body may echo the key back). The same rules as everywhere else: see
    /// [`crate::redact`].
    pub fn redact(&self, text: &str) -> String {
        self.redactor().redact(text).into_owned()
    }

    /// The redactor for this secret.
    pub fn redactor(&self) -> crate::redact::Redactor {
        crate::redact::Redactor::new([self.0.as_str()])
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    Openai,
    /// OpenAI's Responses API (`POST /v1/responses`).
    #[serde(rename = "openai-responses")]
    OpenaiResponses,
    Anthropic,
    Scripted,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::OpenaiResponses => "openai-responses",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Scripted => "scripted",
        }
    }

    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::Openai | ProviderKind::OpenaiResponses => Some("https://api.openai.com/v1"),
            ProviderKind::Anthropic => Some("https://api.anthropic.com"),
            ProviderKind::Scripted => None,
        }
    }

    pub fn default_key_env(self) -> Option<&'static str> {
        match self {
            ProviderKind::Openai | ProviderKind::OpenaiResponses => Some("OPENAI_API_KEY"),
            ProviderKind::Anthropic => Some("ANTHROPIC_API_KEY"),
            ProviderKind::Scripted => None,
        }
    }
}

impl std::str::FromStr for ProviderKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "openai" => Ok(ProviderKind::Openai),
            "openai-responses" => Ok(ProviderKind::OpenaiResponses),
            "anthropic" => Ok(ProviderKind::Anthropic),
            "scripted" => Ok(ProviderKind::Scripted),
            other => Err(format!("unknown provider `{other}` (expected openai, openai-responses, anthropic or scripted)")),
        }
    }
}

/// Everything needed to build a provider.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub kind: ProviderKind,
    pub base_url: Option<String>,
    pub api_key: Option<Secret>,
    /// Scripted provider: the scenario.
    pub script: Option<Arc<scripted::Scenario>>,
    /// Scripted provider: 1 = human pace, 0 = no delay.
    pub speed: f64,
    pub connect_timeout: Duration,
    /// Reasoning settings and the model table.
    pub options: RequestOptions,
}

/// True for base URLs that point at this machine, where a key is optional.
pub fn is_loopback(base_url: &str) -> bool {
    let rest = base_url.split_once("://").map(|(_, r)| r).unwrap_or(base_url);
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = if let Some(h) = host.strip_prefix('[') {
        h.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
    };
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

pub fn build(settings: &ProviderSettings) -> Result<Arc<dyn Provider>, ModelError> {
    let base = || settings.base_url.clone().or_else(|| settings.kind.default_base_url().map(str::to_string)).unwrap_or_default();
    let key = || -> Result<Option<Secret>, ModelError> {
        match &settings.api_key {
            Some(k) if !k.is_empty() => Ok(Some(k.clone())),
            _ if is_loopback(&base()) => Ok(None),
            _ => Err(ModelError::Config(format!(
                "no API key for {}: set the environment variable named by --api-key-env (default {})",
                settings.kind.as_str(),
                settings.kind.default_key_env().unwrap_or("-")
            ))),
        }
    };
    let options = settings.options.clone();
    match settings.kind {
        ProviderKind::Openai => Ok(Arc::new(openai::OpenAiProvider::new(&base(), key()?, settings.connect_timeout, options)?)),
        ProviderKind::OpenaiResponses => {
            Ok(Arc::new(responses::ResponsesProvider::new(&base(), key()?, settings.connect_timeout, options)?))
        }
        ProviderKind::Anthropic => Ok(Arc::new(anthropic::AnthropicProvider::new(&base(), key()?, settings.connect_timeout, options)?)),
        ProviderKind::Scripted => {
            let scenario = settings.script.clone().ok_or_else(|| ModelError::Config("--provider scripted needs --script FILE".into()))?;
            Ok(Arc::new(scripted::ScriptedProvider::new(scenario, settings.speed)))
        }
    }
}

/// Installs the TLS crypto provider once per process; safe to call repeatedly.
pub fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("http://127.0.0.1:8080/v1"));
        assert!(is_loopback("http://localhost:11434/v1"));
        assert!(is_loopback("http://[::1]:9000"));
        assert!(!is_loopback("https://api.openai.com/v1"));
        assert!(!is_loopback("https://localhost.evil.com/v1"));
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("sk-verysecret");
        assert!(!format!("{s:?}").contains("verysecret"));
        assert_eq!(s.redact("bad key sk-verysecret given"), "bad key [redacted] given");
        let long = Secret::new("sk-0123456789abcdefghijklmnop");
        assert_eq!(long.redact("echo: 0123456789abcdefghij…"), "echo: [redacted]…");
    }
}
