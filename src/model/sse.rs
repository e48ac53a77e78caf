//! HTTP and server-sent-events plumbing shared by the OpenAI and Anthropic providers.
//!
//! A provider only knows its URL, headers, body encoding and how to decode one SSE event; this
//! module sends the request, turns failures into [`ModelError`]s with the key scrubbed out, and
//! drives a [`Decoder`] over the response body.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};
use eventsource_stream::{EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use serde_json::Value;

use super::{EventStream, ModelError, Secret, StreamEvent};

/// Longest error text kept from a response body that is not the provider's JSON error shape.
const MAX_ERROR_BODY: usize = 500;
/// Longest message kept from a provider's JSON error object.
const MAX_ERROR_MESSAGE: usize = MAX_ERROR_BODY * 4;
/// Bytes of a body that is not an event stream quoted in the error.
const MAX_HEAD: usize = 300;

/// One server-sent event: its `event:` name (`message` when the server gave none) and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

impl SseEvent {
    pub fn new(event: impl Into<String>, data: impl Into<String>) -> Self {
        SseEvent { event: event.into(), data: data.into() }
    }
}

/// Whether a decoder wants more events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The provider marked the end of the answer; the rest of the body is not read.
    Done,
}

/// Why a decoder stopped the stream. Messages may quote the provider at any length and may
/// contain the key: [`decode_stream`] redacts, then cuts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Something that is not the provider's wire format.
    Malformed(String),
    /// The provider reported an error in the stream, with its type and HTTP-like status when
    /// it gave them.
    Reported { kind: Option<String>, status: Option<u64>, message: String },
}

impl From<String> for DecodeError {
    fn from(m: String) -> Self {
        DecodeError::Malformed(m)
    }
}

impl From<&str> for DecodeError {
    fn from(m: &str) -> Self {
        DecodeError::Malformed(m.to_string())
    }
}

/// Translates one provider's SSE events into [`StreamEvent`]s.
pub trait Decoder: Send + 'static {
    /// Appends the events `ev` stands for to `out`.
    fn decode(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<Flow, DecodeError>;
}

/// The error a provider put in a stream event, in the shapes seen in the wild:
/// `{"error":{"type":..,"message":..,"code":..}}`, `{"type":"error","error":{..}}`,
/// `{"error":".."}`; `raw` is quoted when there is no message.
pub fn reported_error(v: &Value, raw: &str) -> DecodeError {
    let err = v.get("error").unwrap_or(v);
    let kind = err
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| *t != "error")
        .or_else(|| err.get("code").and_then(Value::as_str))
        .map(str::to_string);
    let status = ["status", "code", "status_code"].iter().find_map(|k| err.get(*k).or_else(|| v.get(*k)).and_then(Value::as_u64));
    let message = json_error_message(v).unwrap_or_else(|| raw.to_string());
    DecodeError::Reported { kind, status, message }
}

/// Whether a reported error is worth another attempt: its type says overloaded, internal or
/// rate-limited, or its status is 408, 409, 429 or 5xx. An error that gives neither is
/// treated like a broken stream and retried.
pub fn is_transient(kind: Option<&str>, status: Option<u64>) -> bool {
    const TRANSIENT: [&str; 8] = [
        "overloaded_error",
        "api_error",
        "server_error",
        "internal_error",
        "rate_limit_error",
        "rate_limit_exceeded",
        "timeout_error",
        "service_unavailable",
    ];
    if kind.is_some_and(|k| TRANSIENT.contains(&k)) {
        return true;
    }
    match status {
        Some(s) => s == 408 || s == 409 || s == 429 || (500..600).contains(&s),
        None => kind.is_none(),
    }
}

type SseStream = Pin<Box<dyn Stream<Item = Result<SseEvent, ModelError>> + Send>>;

/// A reqwest client bound to one provider name and (optional) key, built once per provider.
pub struct SseClient {
    provider: &'static str,
    client: reqwest::Client,
    key: Option<Secret>,
}

impl SseClient {
    pub fn new(provider: &'static str, key: Option<Secret>, connect_timeout: Duration) -> Result<Self, ModelError> {
        super::install_tls();
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .build()
            .map_err(|e| ModelError::Config(format!("{provider}: cannot set up the HTTP client: {}", error_chain(&e))))?;
        Ok(SseClient { provider, client, key })
    }

    pub fn provider(&self) -> &'static str {
        self.provider
    }

    pub fn key(&self) -> Option<&Secret> {
        self.key.as_ref()
    }

    /// The key as a header value, marked sensitive so it never shows in reqwest's Debug output.
    pub fn key_header(&self, prefix: &str) -> Result<Option<HeaderValue>, ModelError> {
        let Some(key) = &self.key else { return Ok(None) };
        let mut v = HeaderValue::from_str(&format!("{prefix}{}", key.expose()))
            .map_err(|_| ModelError::Config(format!("{}: the API key contains characters not allowed in an HTTP header", self.provider)))?;
        v.set_sensitive(true);
        Ok(Some(v))
    }

    fn redact(&self, text: &str) -> String {
        match &self.key {
            Some(k) => k.redact(text),
            None => text.to_string(),
        }
    }

    /// Sends one request and, once the status says it succeeded and the body starts as an
    /// event stream, returns the decoded events. `max_tokens` sets the body's bounds.
    pub async fn open<D: Decoder, B: serde::Serialize + Sync + ?Sized>(
        &self,
        url: &Url,
        headers: &HeaderMap,
        body: &B,
        max_tokens: u32,
        decoder: D,
    ) -> Result<EventStream<'static>, ModelError> {
        let resp = self
            .client
            .post(url.clone())
            .headers(headers.clone())
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(body)
            .send()
            .await
            .map_err(|e| self.transport(&e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(self.http_error(resp).await);
        }
        let content_type = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("none").to_string();
        let provider = self.provider;
        let mut bytes = bounded(Box::pin(resp.bytes_stream()), super::body_cap(max_tokens), super::MAX_EVENT_BYTES);
        let head = match sniff(&mut bytes).await {
            Ok(Sniffed::Events(head)) => head,
            Ok(Sniffed::Other(head)) => {
                return Err(ModelError::NotAStream {
                    provider: provider.to_string(),
                    status: status.as_u16(),
                    content_type: clean(self.key.as_ref(), &content_type, 100),
                    head: describe_head(self.key.as_ref(), &head),
                });
            }
            Err(e) => return Err(self.body_error(e)),
        };
        let key = self.key.clone();
        let bytes = futures::stream::iter(head.into_iter().map(Ok)).chain(bytes);
        let events: SseStream = Box::pin(bytes.eventsource().map(move |item| match item {
            Ok(ev) => Ok(SseEvent { event: ev.event, data: ev.data }),
            Err(EventStreamError::Transport(e)) => Err(body_error(provider, key.as_ref(), e)),
            Err(e) => {
                Err(ModelError::Protocol { provider: provider.to_string(), message: clean(key.as_ref(), &e.to_string(), MAX_ERROR_BODY) })
            }
        }));
        Ok(decode_stream(provider, self.key.clone(), events, decoder))
    }

    fn body_error(&self, e: BodyError) -> ModelError {
        body_error(self.provider, self.key.as_ref(), e)
    }

    fn transport(&self, e: &reqwest::Error) -> ModelError {
        ModelError::Transport { provider: self.provider.to_string(), message: self.redact(&error_chain(e)) }
    }

    async fn http_error(&self, resp: reqwest::Response) -> ModelError {
        let status = resp.status();
        let retry_after = retry_after(resp.headers(), Utc::now());
        // A body that cannot be read still leaves the status, which is what decides retrying.
        // An error body is read only up to a bound: a hostile one could be endless.
        let mut body = Vec::new();
        let mut chunks = resp.bytes_stream();
        while let Some(Ok(chunk)) = chunks.next().await {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_ERROR_BODY_BYTES {
                break;
            }
        }
        let body = String::from_utf8_lossy(&body);
        let (message, max) = error_message(status, &body);
        ModelError::Http { provider: self.provider.to_string(), status: status.as_u16(), message: self.clean(&message, max), retry_after }
    }

    /// The key removed first, then the text cut: a cut first could leave all but the end of
    /// the key, which redaction no longer recognises.
    fn clean(&self, text: &str, max: usize) -> String {
        clean(self.key.as_ref(), text, max)
    }
}

/// Bytes of an error response read at most.
const MAX_ERROR_BODY_BYTES: usize = 1 << 20;

fn scrub(key: Option<&Secret>, text: &str) -> String {
    key.map_or_else(|| text.to_string(), |k| k.redact(text))
}

/// Redacts, then truncates: in that order, so no part of the key survives a cut.
pub fn clean(key: Option<&Secret>, text: &str, max: usize) -> String {
    truncate(&scrub(key, text), max)
}

/// A response body failed or went past its bounds.
#[derive(Debug)]
pub enum BodyError {
    Transport(reqwest::Error),
    TooLarge(String),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Transport(e) => f.write_str(&error_chain(e)),
            BodyError::TooLarge(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for BodyError {}

fn body_error(provider: &str, key: Option<&Secret>, e: BodyError) -> ModelError {
    match e {
        BodyError::Transport(e) => ModelError::Transport {
            provider: provider.to_string(),
            message: clean(key, &format!("the stream broke off: {}", error_chain(&e)), MAX_ERROR_BODY),
        },
        BodyError::TooLarge(m) => ModelError::Protocol { provider: provider.to_string(), message: m },
    }
}

/// The body with its bounds enforced as it arrives: at most `max_body` bytes in all, and at
/// most `max_event` bytes in one server-sent event (the parser buffers an event whole, so
/// an event that never ends would otherwise grow without bound).
fn bounded<S, B>(body: S, max_body: usize, max_event: usize) -> impl Stream<Item = Result<B, BodyError>> + Send + Unpin
where
    S: Stream<Item = reqwest::Result<B>> + Send + Unpin,
    B: AsRef<[u8]>,
{
    let mut total = 0usize;
    let mut in_event = 0usize;
    let mut prev = 0u8;
    let mut at_line_start = true;
    body.map(move |chunk| {
        let chunk = chunk.map_err(BodyError::Transport)?;
        let bytes = chunk.as_ref();
        total = total.saturating_add(bytes.len());
        if total > max_body {
            return Err(BodyError::TooLarge(format!("the response exceeded {max_body} bytes; the stream was cut")));
        }
        for &b in bytes {
            // An event ends at an empty line; lines end in LF, CR or CRLF.
            if b == b'\n' && prev == b'\r' {
                prev = b;
                continue;
            }
            let newline = b == b'\n' || b == b'\r';
            if newline && at_line_start {
                in_event = 0;
            } else {
                in_event += 1;
            }
            at_line_start = newline;
            prev = b;
        }
        if in_event > max_event {
            return Err(BodyError::TooLarge(format!("one server-sent event exceeded {max_event} bytes; the stream was cut")));
        }
        Ok(chunk)
    })
}

enum Sniffed<B> {
    /// The body starts like server-sent events; these chunks were read to tell.
    Events(Vec<B>),
    /// It does not; the first bytes.
    Other(Vec<u8>),
}

/// Reads enough of the body to tell whether it is server-sent events (whatever the
/// content-type claims): a first line that is a comment or a `data`, `event`, `id` or
/// `retry` field. A JSON document, an HTML page or garbage is not.
async fn sniff<S, B>(body: &mut S) -> Result<Sniffed<B>, BodyError>
where
    S: Stream<Item = Result<B, BodyError>> + Unpin,
    B: AsRef<[u8]>,
{
    let mut chunks = Vec::new();
    let mut head: Vec<u8> = Vec::new();
    loop {
        let start = head.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&head);
        let first = start.iter().position(|b| !b.is_ascii_whitespace());
        if let Some(i) = first {
            let line = &start[i..];
            let end = line.iter().position(|b| *b == b'\n' || *b == b'\r');
            if end.is_some() || line.len() >= 16 {
                let line = &line[..end.unwrap_or(line.len())];
                let field = line.split(|b| *b == b':').next().unwrap_or(line);
                let sse = line.first() == Some(&b':') || [&b"data"[..], b"event", b"id", b"retry"].contains(&field);
                return Ok(if sse { Sniffed::Events(chunks) } else { Sniffed::Other(head) });
            }
        }
        match body.next().await {
            Some(chunk) => {
                let chunk = chunk?;
                if head.len() < 4096 {
                    let bytes = chunk.as_ref();
                    head.extend_from_slice(&bytes[..bytes.len().min(4096)]);
                }
                chunks.push(chunk);
            }
            None if head.iter().all(u8::is_ascii_whitespace) => return Ok(Sniffed::Other(head)),
            // A short body that ends mid-line: the parser decides.
            None => return Ok(Sniffed::Events(chunks)),
        }
    }
}

/// The start of a body for an error message: the key removed, control characters shown as
/// escapes, cut.
fn describe_head(key: Option<&Secret>, head: &[u8]) -> String {
    let text = String::from_utf8_lossy(head);
    if text.trim().is_empty() {
        return "(empty)".into();
    }
    let visible: String =
        scrub(key, &text).chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect();
    truncate(&visible, MAX_HEAD)
}

/// Joins `base` and `path`, rejecting anything that is not an http(s) URL.
pub fn endpoint(provider: &str, base_url: &str, path: &str) -> Result<Url, ModelError> {
    let base = base_url.trim().trim_end_matches('/');
    let bad = |why: String| ModelError::Config(format!("{provider}: bad base URL `{base}`: {why}"));
    let url = Url::parse(&format!("{base}{path}")).map_err(|e| bad(e.to_string()))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(bad("only http and https are supported".into()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host".into()));
    }
    Ok(url)
}

pub fn header(name: &'static str, value: &'static str) -> (HeaderName, HeaderValue) {
    (HeaderName::from_static(name), HeaderValue::from_static(value))
}

/// reqwest's top-level message is generic ("error sending request"); the cause is in the chain.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let m = s.to_string();
        if !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        cur = s.source();
    }
    out
}

/// The message a provider put in a JSON error object, in the shapes seen in the wild:
/// `{"error":{"message":..}}`, `{"error":".."}` and `{"message":..}`. Uncut: callers redact
/// before they cut.
pub fn json_error_message(v: &Value) -> Option<String> {
    let s = v
        .pointer("/error/message")
        .and_then(Value::as_str)
        .or_else(|| v.get("error").and_then(Value::as_str))
        .or_else(|| v.get("message").and_then(Value::as_str))?;
    Some(s.to_string())
}

/// The message of an error response and how much of it to keep.
fn error_message(status: StatusCode, body: &str) -> (String, usize) {
    if let Some(m) = serde_json::from_str::<Value>(body).ok().as_ref().and_then(json_error_message) {
        return (m, MAX_ERROR_MESSAGE);
    }
    let body = body.trim();
    if body.is_empty() {
        return (status.canonical_reason().unwrap_or("no error message").to_string(), MAX_ERROR_BODY);
    }
    (body.to_string(), MAX_ERROR_BODY)
}

/// Cuts `s` to at most `max` characters, marking the cut.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// `retry-after-ms` (sent by OpenAI) when present, else `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(d) =
        get("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()).and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
    {
        return Some(d);
    }
    get("retry-after").and_then(|v| parse_retry_after(v, now))
}

pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let when = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    // A date already past means "now".
    Some((when - now).to_std().unwrap_or(Duration::ZERO))
}

struct DecodeState<D> {
    provider: &'static str,
    key: Option<Secret>,
    events: SseStream,
    decoder: D,
    pending: VecDeque<StreamEvent>,
    done: bool,
}

/// Runs `decoder` over `events`. The first error ends the stream: `complete` gives up on the
/// attempt at the first error anyway, and this stops the connection being read further.
fn decode_stream<D: Decoder>(provider: &'static str, key: Option<Secret>, events: SseStream, decoder: D) -> EventStream<'static> {
    let state = DecodeState { provider, key, events, decoder, pending: VecDeque::new(), done: false };
    Box::pin(futures::stream::unfold(state, |mut st| async move {
        let mut buf = Vec::new();
        loop {
            if let Some(ev) = st.pending.pop_front() {
                return Some((Ok(ev), st));
            }
            if st.done {
                return None;
            }
            let err = match st.events.next().await {
                None => {
                    st.done = true;
                    continue;
                }
                Some(Err(e)) => e,
                Some(Ok(sse)) => match st.decoder.decode(&sse, &mut buf) {
                    Ok(flow) => {
                        st.pending.extend(buf.drain(..));
                        st.done = flow == Flow::Done;
                        continue;
                    }
                    Err(DecodeError::Malformed(message)) => ModelError::Protocol {
                        provider: st.provider.to_string(),
                        message: clean(st.key.as_ref(), &message, MAX_ERROR_BODY),
                    },
                    Err(DecodeError::Reported { kind, status, message }) => ModelError::Reported {
                        provider: st.provider.to_string(),
                        transient: is_transient(kind.as_deref(), status),
                        kind: kind.map(|k| clean(st.key.as_ref(), &k, 100)),
                        message: clean(st.key.as_ref(), &message, MAX_ERROR_MESSAGE),
                    },
                },
            };
            st.done = true;
            st.pending.clear();
            return Some((Err(err), st));
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("1.5", now), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn retry_after_ms_wins() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("20"));
        h.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&h, Utc::now()), Some(Duration::from_millis(250)));
        h.remove("retry-after-ms");
        assert_eq!(retry_after(&h, Utc::now()), Some(Duration::from_secs(20)));
    }

    #[test]
    fn error_messages_prefer_the_provider_json() {
        let s = StatusCode::BAD_REQUEST;
        let msg = |body: &str| {
            let (m, max) = error_message(s, body);
            clean(None, &m, max)
        };
        assert_eq!(msg(r#"{"error":{"message":"bad model","type":"x"}}"#), "bad model");
        assert_eq!(msg(r#"{"error":"overloaded"}"#), "overloaded");
        assert_eq!(msg("  <html>oops</html> "), "<html>oops</html>");
        assert_eq!(msg(""), "Bad Request");
        let long = "é".repeat(2000);
        let m = msg(&long);
        assert_eq!(m.chars().count(), MAX_ERROR_BODY + 1);
        assert!(m.ends_with('…'));
    }

    #[test]
    fn a_key_straddling_the_cut_is_redacted_before_the_cut() {
        let key = Secret::new("sk-test-0123456789abcdefghij");
        for cut_inside in 1..key.expose().len() {
            let text = format!("{}{} trailing text", "x".repeat(MAX_ERROR_MESSAGE - key.expose().len() + cut_inside), key.expose());
            let out = clean(Some(&key), &text, MAX_ERROR_MESSAGE);
            for piece in key.expose().as_bytes().windows(12) {
                assert!(!out.contains(std::str::from_utf8(piece).unwrap()), "{cut_inside}: {}", &out[out.len() - 40..]);
            }
        }
    }

    #[test]
    fn transient_error_types() {
        assert!(is_transient(Some("overloaded_error"), None));
        assert!(is_transient(Some("api_error"), None));
        assert!(is_transient(Some("weird"), Some(503)));
        assert!(is_transient(None, None), "an untyped error is treated as a broken stream");
        assert!(!is_transient(Some("invalid_request_error"), None));
        assert!(!is_transient(Some("authentication_error"), Some(401)));
        assert!(!is_transient(None, Some(400)));
    }

    #[test]
    fn reported_errors_keep_type_status_and_message() {
        let v: Value = serde_json::from_str(r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#).unwrap();
        assert_eq!(
            reported_error(&v, "raw"),
            DecodeError::Reported { kind: Some("overloaded_error".into()), status: None, message: "Overloaded".into() }
        );
        let v: Value = serde_json::from_str(r#"{"error":{"code":502,"message":"bad gateway"}}"#).unwrap();
        assert_eq!(reported_error(&v, "raw"), DecodeError::Reported { kind: None, status: Some(502), message: "bad gateway".into() });
        let v: Value = serde_json::from_str(r#"{"error":{"code":"rate_limit_exceeded"}}"#).unwrap();
        assert_eq!(
            reported_error(&v, "the raw data"),
            DecodeError::Reported { kind: Some("rate_limit_exceeded".into()), status: None, message: "the raw data".into() }
        );
    }

    fn body(chunks: Vec<&'static str>) -> impl Stream<Item = reqwest::Result<&'static [u8]>> + Send + Unpin {
        futures::stream::iter(chunks.into_iter().map(|c| Ok(c.as_bytes())))
    }

    fn sniffed(chunks: Vec<&'static str>) -> Result<bool, String> {
        let mut b = bounded(body(chunks), 1 << 20, 1 << 10);
        match futures::executor::block_on(sniff(&mut b)) {
            Ok(Sniffed::Events(_)) => Ok(true),
            Ok(Sniffed::Other(head)) => Err(String::from_utf8_lossy(&head).into_owned()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn sniffing_tells_event_streams_from_other_bodies() {
        assert_eq!(sniffed(vec!["data: {}\n\n"]), Ok(true));
        assert_eq!(sniffed(vec!["\u{feff}\n\nevent: ping\ndata: {}\n\n"]), Ok(true));
        assert_eq!(sniffed(vec![": keep-alive\n\n"]), Ok(true));
        assert_eq!(sniffed(vec!["da", "ta", ": {}\n\n"]), Ok(true), "a first line split over chunks");
        assert_eq!(sniffed(vec!["data: {\"x\""]), Ok(true), "a short body is left to the parser");
        assert_eq!(sniffed(vec![r#"{"id":"chatcmpl-1","choices":[]}"#]), Err(r#"{"id":"chatcmpl-1","choices":[]}"#.into()));
        assert!(sniffed(vec!["<html><body>Bad gateway</body></html>"]).is_err());
        assert_eq!(sniffed(vec![]), Err(String::new()));
        assert!(sniffed(vec!["datum: 1\n\n"]).is_err());
    }

    #[test]
    fn bodies_are_bounded_in_total_and_per_event() {
        let all = |chunks: Vec<&'static str>, max_body, max_event| {
            let b = bounded(body(chunks), max_body, max_event);
            futures::executor::block_on(b.collect::<Vec<_>>()).into_iter().map(|r| r.map(|c| c.len())).collect::<Vec<_>>()
        };
        let ok = all(vec!["data: 12345\n\n", "data: 12345\r\n\r\n", "data: 12345\r\r"], 1000, 12);
        assert!(ok.iter().all(Result::is_ok), "events end at empty lines, LF, CRLF or CR");
        let r = all(vec!["data: 1234567890123"], 1000, 12);
        assert!(matches!(&r[0], Err(BodyError::TooLarge(m)) if m.contains("one server-sent event")), "{r:?}");
        let r = all(vec!["data: 1\n", "data: 2\n", "data: 3\n"], 1000, 12);
        assert!(matches!(&r[2], Err(BodyError::TooLarge(_))), "an event of many lines is one event: {r:?}");
        let r = all(vec!["data: 1\n\n"; 5], 30, 12);
        assert!(
            r[..3].iter().all(Result::is_ok) && matches!(&r[3], Err(BodyError::TooLarge(m)) if m.contains("response exceeded")),
            "{r:?}"
        );
    }

    #[test]
    fn the_head_of_a_body_is_shown_safely() {
        let key = Secret::new("sk-secret-key-123456");
        let head = describe_head(Some(&key), b"{\"error\": \"sk-secret-key-123456\"}\n\x1b[31mred");
        assert_eq!(head, "{\"error\": \"[redacted]\"}\\n\\u{1b}[31mred");
        assert_eq!(describe_head(None, b"  "), "(empty)");
    }

    #[test]
    fn endpoints_are_validated() {
        let u = endpoint("openai", "http://127.0.0.1:9/v1/", "/chat/completions").unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:9/v1/chat/completions");
        assert!(matches!(endpoint("openai", "not a url", "/x"), Err(ModelError::Config(_))));
        assert!(matches!(endpoint("openai", "ftp://host/v1", "/x"), Err(ModelError::Config(_))));
    }

    struct Echo;
    impl Decoder for Echo {
        fn decode(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<Flow, DecodeError> {
            match ev.data.as_str() {
                "end" => Ok(Flow::Done),
                "bad" => Err(format!("bad event carrying sk-secret-key in {}", ev.event).into()),
                d => {
                    out.push(StreamEvent::TextDelta(d.to_string()));
                    out.push(StreamEvent::TextDelta(d.to_uppercase()));
                    Ok(Flow::Continue)
                }
            }
        }
    }

    fn feed(items: Vec<&str>) -> Vec<Result<StreamEvent, ModelError>> {
        let events: SseStream =
            Box::pin(futures::stream::iter(items.into_iter().map(|d| Ok(SseEvent::new("message", d))).collect::<Vec<_>>()));
        let s = decode_stream("t", Some(Secret::new("sk-secret-key")), events, Echo);
        futures::executor::block_on(s.collect::<Vec<_>>())
    }

    #[test]
    fn decoding_stops_at_done_and_at_the_first_error() {
        let out = feed(vec!["a", "end", "b"]);
        let texts: Vec<_> = out.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(texts, vec![StreamEvent::TextDelta("a".into()), StreamEvent::TextDelta("A".into())]);

        let out = feed(vec!["a", "bad", "b"]);
        assert_eq!(out.len(), 3);
        let err = out[2].as_ref().unwrap_err().to_string();
        assert!(err.contains("bad event") && !err.contains("sk-secret-key"), "{err}");
    }
}
