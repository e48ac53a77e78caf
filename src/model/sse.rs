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
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use serde_json::Value;

use super::{EventStream, ModelError, Secret, StreamEvent};

/// Longest error text kept from a response body that is not the provider's JSON error shape.
const MAX_ERROR_BODY: usize = 500;

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

/// Translates one provider's SSE events into [`StreamEvent`]s.
pub trait Decoder: Send + 'static {
    /// Appends the events `ev` stands for to `out`. An `Err` is a message for a
    /// [`ModelError::Protocol`]: the provider reported an error or sent something unreadable.
    fn decode(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<Flow, String>;
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
        let mut v = HeaderValue::from_str(&format!("{prefix}{}", key.expose())).map_err(|_| {
            ModelError::Config(format!("{}: the API key contains characters not allowed in an HTTP header", self.provider))
        })?;
        v.set_sensitive(true);
        Ok(Some(v))
    }

    fn redact(&self, text: &str) -> String {
        match &self.key {
            Some(k) => k.redact(text),
            None => text.to_string(),
        }
    }

    /// Sends one request and, once the status says it succeeded, returns the decoded events.
    pub async fn open<D: Decoder>(
        &self,
        url: &Url,
        headers: &HeaderMap,
        body: &Value,
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
        let provider = self.provider;
        let key = self.key.clone();
        let events: SseStream = Box::pin(resp.bytes_stream().eventsource().map(move |item| match item {
            Ok(ev) => Ok(SseEvent { event: ev.event, data: ev.data }),
            Err(EventStreamError::Transport(e)) => Err(ModelError::Transport {
                provider: provider.to_string(),
                message: scrub(key.as_ref(), &format!("the stream broke off: {}", error_chain(&e))),
            }),
            Err(e) => Err(ModelError::Protocol { provider: provider.to_string(), message: scrub(key.as_ref(), &e.to_string()) }),
        }));
        Ok(decode_stream(provider, self.key.clone(), events, decoder))
    }

    fn transport(&self, e: &reqwest::Error) -> ModelError {
        ModelError::Transport { provider: self.provider.to_string(), message: self.redact(&error_chain(e)) }
    }

    async fn http_error(&self, resp: reqwest::Response) -> ModelError {
        let status = resp.status();
        let retry_after = retry_after(resp.headers(), Utc::now());
        // A body that cannot be read still leaves the status, which is what decides retrying.
        let body = resp.text().await.unwrap_or_default();
        ModelError::Http {
            provider: self.provider.to_string(),
            status: status.as_u16(),
            message: self.redact(&error_message(status, &body)),
            retry_after,
        }
    }
}

fn scrub(key: Option<&Secret>, text: &str) -> String {
    key.map_or_else(|| text.to_string(), |k| k.redact(text))
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
/// `{"error":{"message":..}}`, `{"error":".."}` and `{"message":..}`.
pub fn json_error_message(v: &Value) -> Option<String> {
    let s = v
        .pointer("/error/message")
        .and_then(Value::as_str)
        .or_else(|| v.get("error").and_then(Value::as_str))
        .or_else(|| v.get("message").and_then(Value::as_str))?;
    Some(truncate(s, MAX_ERROR_BODY * 4))
}

fn error_message(status: StatusCode, body: &str) -> String {
    if let Some(m) = serde_json::from_str::<Value>(body).ok().as_ref().and_then(json_error_message) {
        return m;
    }
    let body = body.trim();
    if body.is_empty() {
        return status.canonical_reason().unwrap_or("no error message").to_string();
    }
    truncate(body, MAX_ERROR_BODY)
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
    if let Some(d) = get("retry-after-ms")
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
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
fn decode_stream<D: Decoder>(
    provider: &'static str,
    key: Option<Secret>,
    events: SseStream,
    decoder: D,
) -> EventStream<'static> {
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
                    Err(message) => {
                        ModelError::Protocol { provider: st.provider.to_string(), message: scrub(st.key.as_ref(), &message) }
                    }
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
        assert_eq!(error_message(s, r#"{"error":{"message":"bad model","type":"x"}}"#), "bad model");
        assert_eq!(error_message(s, r#"{"error":"overloaded"}"#), "overloaded");
        assert_eq!(error_message(s, "  <html>oops</html> "), "<html>oops</html>");
        assert_eq!(error_message(s, ""), "Bad Request");
        let long = "é".repeat(2000);
        let m = error_message(s, &long);
        assert_eq!(m.chars().count(), MAX_ERROR_BODY + 1);
        assert!(m.ends_with('…'));
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
        fn decode(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<Flow, String> {
            match ev.data.as_str() {
                "end" => Ok(Flow::Done),
                "bad" => Err(format!("bad event carrying sk-secret-key in {}", ev.event)),
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
