//! The one redactor every persisted or displayed string passes through: the event log (and so
//! the state, the model requests built from it, `--json` and the workbench), stderr,
//! `sessions --json`, checkpoint files and MEMORY.md.
//!
//! It catches a secret and any piece of it at least [`MIN_PIECE`] bytes long, wherever it
//! appears: a provider echoing half the key, a model quoting it, a tool printing a file that
//! holds it. Every window of [`MIN_PIECE`] bytes of each secret is indexed; a text is scanned
//! once with a rolling window, and runs of matching windows are merged into maximal spans,
//! each replaced by [`REDACTED`]. Redaction runs before any truncation, so a cut can never
//! leave a piece of the key that no longer matches.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Pieces of a secret this long (in bytes) or longer are caught.
pub const MIN_PIECE: usize = 12;

/// Secrets shorter than this are not redacted: replacing every occurrence of, say, `abc`
/// would mangle ordinary text without protecting anything.
const MIN_SECRET: usize = 4;

/// What a redacted span becomes.
pub const REDACTED: &str = "[redacted]";

/// Removes known secrets from text. Cheap to clone; the default redacts nothing.
#[derive(Clone, Default)]
pub struct Redactor(Option<Arc<Windows>>);

/// The windows of every secret, grouped by window length (a secret shorter than
/// [`MIN_PIECE`] is one window of its own length). A window of at most 12 bytes is packed
/// into a `u128`, so a lookup compares numbers, never slices, and cannot collide.
struct Windows {
    by_len: Vec<(usize, HashSet<u128, BuildHasherDefault<Mix>>)>,
}

/// A fast hasher for packed windows (they are not attacker-chosen keys of a map that grows).
#[derive(Default)]
struct Mix(u64);

impl Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u128(&mut self, v: u128) {
        let folded = (v as u64) ^ ((v >> 64) as u64).rotate_left(29);
        self.0 = (self.0 ^ folded).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

fn pack(bytes: &[u8]) -> u128 {
    bytes.iter().fold(0u128, |v, b| (v << 8) | u128::from(*b))
}

impl Redactor {
    /// A redactor for these secrets; empty and too-short ones are ignored.
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Redactor {
        let mut by_len: Vec<(usize, HashSet<u128, BuildHasherDefault<Mix>>)> = Vec::new();
        for secret in secrets {
            let bytes = secret.as_ref().as_bytes();
            if bytes.len() < MIN_SECRET {
                continue;
            }
            let w = bytes.len().min(MIN_PIECE);
            let set = match by_len.iter().position(|(l, _)| *l == w) {
                Some(i) => &mut by_len[i].1,
                None => {
                    by_len.push((w, HashSet::default()));
                    let last = by_len.len() - 1;
                    &mut by_len[last].1
                }
            };
            set.extend(bytes.windows(w).map(pack));
        }
        if by_len.is_empty() { Redactor(None) } else { Redactor(Some(Arc::new(Windows { by_len }))) }
    }

    /// True when there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// `text` with every secret, and every piece of one at least [`MIN_PIECE`] bytes long,
    /// replaced by [`REDACTED`].
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(windows) = &self.0 else { return Cow::Borrowed(text) };
        let spans = windows.spans(text.as_bytes());
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        let mut marker_end = None;
        for (start, end) in spans {
            // A piece may start or end inside a multi-byte character of the text; the whole
            // character goes with it, so the result stays valid UTF-8.
            let mut start = start;
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = end;
            while !text.is_char_boundary(end) {
                end += 1;
            }
            let start = start.max(at);
            if end <= at {
                continue;
            }
            // Spans that touch after widening share one marker.
            if marker_end != Some(start) {
                out.push_str(&text[at..start]);
                out.push_str(REDACTED);
            }
            at = end;
            marker_end = Some(end);
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }

    /// Redacts every string (and object key) inside `v`. Returns whether anything changed.
    pub fn redact_json(&self, v: &mut Value) -> bool {
        if self.is_empty() {
            return false;
        }
        match v {
            Value::String(s) => match self.redact(s) {
                Cow::Owned(r) => {
                    *s = r;
                    true
                }
                Cow::Borrowed(_) => false,
            },
            Value::Array(items) => items.iter_mut().fold(false, |changed, item| self.redact_json(item) | changed),
            Value::Object(map) => {
                let mut changed = false;
                let renamed: Vec<(String, String)> = map
                    .keys()
                    .filter_map(|k| match self.redact(k) {
                        Cow::Owned(r) => Some((k.clone(), r)),
                        Cow::Borrowed(_) => None,
                    })
                    .collect();
                for (old, new) in renamed {
                    if let Some(value) = map.remove(&old) {
                        map.insert(new, value);
                        changed = true;
                    }
                }
                for value in map.values_mut() {
                    changed |= self.redact_json(value);
                }
                changed
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => false,
        }
    }

    /// A redacted copy of `value`, or None when it holds no secret. Goes through JSON, so
    /// every string field is covered, however deeply nested.
    pub fn redact_serde<T: Serialize + DeserializeOwned>(&self, value: &T) -> Result<Option<T>, serde_json::Error> {
        if self.is_empty() {
            return Ok(None);
        }
        let mut v = serde_json::to_value(value)?;
        if !self.redact_json(&mut v) {
            return Ok(None);
        }
        serde_json::from_value(v).map(Some)
    }

    /// Like [`Redactor::redact_serde`], returning the value itself whether or not it changed.
    /// Fails only when the redacted JSON no longer reads back as a `T`, which cannot happen
    /// for types made of plain strings.
    pub fn redacted<T: Serialize + DeserializeOwned + Clone>(&self, value: &T) -> Result<T, serde_json::Error> {
        Ok(self.redact_serde(value)?.unwrap_or_else(|| value.clone()))
    }
}

impl Windows {
    /// Byte spans of `text` covered by windows of a secret, sorted and merged.
    fn spans(&self, text: &[u8]) -> Vec<(usize, usize)> {
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for (w, set) in &self.by_len {
            let w = *w;
            if text.len() < w {
                continue;
            }
            // w <= MIN_PIECE = 12 bytes: the window fits in 96 bits.
            let mask: u128 = (1u128 << (w * 8)) - 1;
            let mut v = pack(&text[..w - 1]);
            for end in w..=text.len() {
                v = ((v << 8) | u128::from(text[end - 1])) & mask;
                if set.contains(&v) {
                    let start = end - w;
                    match spans.last_mut() {
                        Some(last) if last.1 >= start => last.1 = end,
                        _ => spans.push((start, end)),
                    }
                }
            }
        }
        spans.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
        for (s, e) in spans {
            match merged.last_mut() {
                Some(last) if last.1 >= s => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        merged
    }
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Redactor(none)"),
            Some(_) => f.write_str("Redactor([redacted])"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-live-0123456789abcdefghijKLMNOPQRST";

    #[test]
    fn the_whole_key_and_long_pieces_are_caught_short_ones_are_not() {
        let r = Redactor::new([KEY]);
        assert_eq!(r.redact(&format!("key={KEY}!")), "key=[redacted]!");
        // A 20-character piece from the middle, glued to other text.
        let piece = &KEY[8..28];
        assert_eq!(r.redact(&format!("x{piece}y")), "x[redacted]y");
        // Exactly 12 characters is caught, 11 is not.
        assert_eq!(r.redact(&format!("[{}]", &KEY[3..15])), "[[redacted]]");
        let short = &KEY[3..14];
        assert_eq!(r.redact(&format!("[{short}]")), format!("[{short}]"));
        assert!(matches!(r.redact("nothing to see"), Cow::Borrowed(_)));
    }

    #[test]
    fn several_occurrences_and_overlaps_become_one_marker_each() {
        let r = Redactor::new([KEY]);
        let text = format!("{KEY} and {} and {KEY}{KEY}", &KEY[..15]);
        let out = r.redact(&text);
        assert_eq!(out, "[redacted] and [redacted] and [redacted]");
    }

    #[test]
    fn multibyte_text_around_and_inside_a_match_stays_valid() {
        let key = "é0123456789abcdefé";
        let r = Redactor::new([key]);
        assert_eq!(r.redact(&format!("ü{key}ü")), "ü[redacted]ü");
        // 'ɩ' ends in the same byte as 'é': the match starts inside it, and takes it along.
        assert_eq!(r.redact("xɩ0123456789abz"), "x[redacted]z");
    }

    #[test]
    fn short_keys_are_matched_whole_and_tiny_ones_ignored() {
        let r = Redactor::new(["abcdefgh"]);
        assert_eq!(r.redact("xabcdefghx abcdefg"), "x[redacted]x abcdefg");
        assert!(Redactor::new(["abc", ""]).is_empty());
        assert_eq!(Redactor::default().redact(KEY), KEY);
    }

    #[test]
    fn json_values_are_redacted_everywhere_including_keys() {
        let r = Redactor::new([KEY]);
        let mut v = serde_json::json!({"a": [1, KEY, {"b": format!("x{KEY}")}], KEY: true, "n": null});
        assert!(r.redact_json(&mut v));
        let s = v.to_string();
        assert!(!s.contains(&KEY[..12]), "{s}");
        assert_eq!(v["a"][1], "[redacted]");
        assert_eq!(v["[redacted]"], true);
        let mut clean = serde_json::json!({"a": "b"});
        assert!(!r.redact_json(&mut clean));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        assert!(!format!("{:?}", Redactor::new([KEY])).contains("sk-live"));
    }
}
