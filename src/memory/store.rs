//! When memory was last consolidated: `.endure/state.json` with `last_dream` and
//! `last_distill` (RFC 3339).
//!
//! Deciding whether a dream is due must never stop a session, so a missing, unreadable or
//! corrupt file reads as "never", with a warning; the next save replaces it. Keys this module
//! does not know are kept, so that the file can be shared with other state.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::atomic::write_atomic;
use super::memory_file::MemoryError;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryState {
    pub last_dream: Option<DateTime<Utc>>,
    pub last_distill: Option<DateTime<Utc>>,
    /// Other keys found in the file, written back unchanged.
    other: Map<String, Value>,
}

impl MemoryState {
    pub fn path(workspace: &Path) -> PathBuf {
        workspace.join(".endure").join("state.json")
    }

    /// Reads the state; never fails. The warnings say what was ignored and why.
    pub fn load(workspace: &Path) -> (MemoryState, Vec<String>) {
        let path = Self::path(workspace);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (MemoryState::default(), Vec::new()),
            Err(e) => {
                return (
                    MemoryState::default(),
                    vec![format!("cannot read {}: {e}; treating memory as never consolidated", path.display())],
                );
            }
        };
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses the file's text; `name` is used in warnings.
    pub fn parse(text: &str, name: &str) -> (MemoryState, Vec<String>) {
        let mut warnings = Vec::new();
        let mut other = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                warnings.push(format!("{name} is not a JSON object; it will be replaced on the next save"));
                return (MemoryState::default(), warnings);
            }
            Err(e) => {
                warnings.push(format!("{name} is corrupt ({e}); it will be replaced on the next save"));
                return (MemoryState::default(), warnings);
            }
        };
        // One bad timestamp loses only that timestamp, not the other.
        let mut field = |key: &str| -> Option<DateTime<Utc>> {
            match other.remove(key)? {
                Value::Null => None,
                Value::String(s) => match DateTime::parse_from_rfc3339(&s) {
                    Ok(t) => Some(t.with_timezone(&Utc)),
                    Err(e) => {
                        warnings.push(format!("{name}: `{key}` is not an RFC 3339 time ({e}); ignored"));
                        None
                    }
                },
                v => {
                    warnings.push(format!("{name}: `{key}` should be a time string, found {v}; ignored"));
                    None
                }
            }
        };
        let last_dream = field("last_dream");
        let last_distill = field("last_distill");
        (MemoryState { last_dream, last_distill, other }, warnings)
    }

    pub fn to_json(&self) -> String {
        let mut m = self.other.clone();
        let ts = |t: &Option<DateTime<Utc>>| match t {
            Some(t) => Value::String(t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            None => Value::Null,
        };
        m.insert("last_dream".into(), ts(&self.last_dream));
        m.insert("last_distill".into(), ts(&self.last_distill));
        let mut s = serde_json::to_string_pretty(&Value::Object(m)).unwrap_or_else(|_| "{}".into());
        s.push('\n');
        s
    }

    /// Writes the state atomically (replacing a corrupt file).
    pub fn save(&self, workspace: &Path) -> Result<(), MemoryError> {
        let path = Self::path(workspace);
        write_atomic(&path, self.to_json().as_bytes()).map_err(|source| MemoryError::Write { path: path.display().to_string(), source })
    }

    pub fn dream_due(&self, now: DateTime<Utc>, every: Duration) -> bool {
        is_due(self.last_dream, now, every)
    }

    pub fn distill_due(&self, now: DateTime<Utc>, every: Duration) -> bool {
        is_due(self.last_distill, now, every)
    }

    pub fn mark_dreamed(&mut self, now: DateTime<Utc>) {
        self.last_dream = Some(now);
    }

    pub fn mark_distilled(&mut self, now: DateTime<Utc>) {
        self.last_distill = Some(now);
    }
}

/// Due when it never ran or ran at least `every` ago. A time more than `every` in the future
/// (a clock that was wrong, a hand edit) is treated as never, or it would block the work for
/// as long as the clock is off.
fn is_due(last: Option<DateTime<Utc>>, now: DateTime<Utc>, every: Duration) -> bool {
    let Some(last) = last else { return true };
    // An interval too large for chrono is never reached.
    let Ok(every) = chrono::Duration::from_std(every) else { return false };
    let elapsed = now.signed_duration_since(last);
    if elapsed < -every {
        return true;
    }
    elapsed >= every
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

    #[test]
    fn due_after_the_interval_and_when_never_run() {
        let now = t("2026-11-21T08:00:00Z");
        let mut s = MemoryState::default();
        assert!(s.dream_due(now, WEEK), "never dreamed");
        s.mark_dreamed(t("2026-11-15T08:00:00Z"));
        assert!(!s.dream_due(now, WEEK), "six days ago");
        s.mark_dreamed(t("2026-11-14T08:00:00Z"));
        assert!(s.dream_due(now, WEEK), "exactly a week ago");
        s.mark_distilled(t("2026-11-01T00:00:00Z"));
        assert!(!s.distill_due(now, Duration::from_secs(30 * 24 * 3600)));
        assert!(s.distill_due(now, Duration::from_secs(20 * 24 * 3600)));
        // A clock far ahead would otherwise block dreams for a long time.
        s.mark_dreamed(t("2027-06-01T00:00:00Z"));
        assert!(s.dream_due(now, WEEK));
        s.mark_dreamed(t("2026-11-21T09:00:00Z"));
        assert!(!s.dream_due(now, WEEK), "slightly ahead is just skew");
    }

    #[test]
    fn round_trips_and_keeps_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".endure")).unwrap();
        std::fs::write(MemoryState::path(dir.path()), r#"{"last_dream":"2026-11-01T10:00:00+02:00","other":{"x":1}}"#).unwrap();
        let (mut s, w) = MemoryState::load(dir.path());
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(s.last_dream, Some(t("2026-11-01T08:00:00Z")));
        assert_eq!(s.last_distill, None);
        s.mark_distilled(t("2026-11-20T00:00:00Z"));
        s.save(dir.path()).unwrap();
        let (back, w) = MemoryState::load(dir.path());
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(back, s);
        let v: Value = serde_json::from_str(&std::fs::read_to_string(MemoryState::path(dir.path())).unwrap()).unwrap();
        assert_eq!(v["other"]["x"], 1);
        assert_eq!(v["last_distill"], "2026-11-20T00:00:00Z");
    }

    #[test]
    fn missing_and_corrupt_files_read_as_never() {
        let dir = tempfile::tempdir().unwrap();
        let (s, w) = MemoryState::load(dir.path());
        assert_eq!(s, MemoryState::default());
        assert!(w.is_empty());

        std::fs::create_dir_all(dir.path().join(".endure")).unwrap();
        std::fs::write(MemoryState::path(dir.path()), "{\"last_dream\": \"2026-11").unwrap();
        let (s, w) = MemoryState::load(dir.path());
        assert_eq!(s, MemoryState::default());
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("corrupt"), "{w:?}");
        assert!(s.dream_due(Utc::now(), WEEK));
        // The corrupt file is replaced on save.
        s.save(dir.path()).unwrap();
        assert!(MemoryState::load(dir.path()).1.is_empty());

        let (s, w) = MemoryState::parse(r#"{"last_dream":"last tuesday","last_distill":"2026-11-01T00:00:00Z"}"#, "x");
        assert_eq!(s.last_dream, None);
        assert_eq!(s.last_distill, Some(t("2026-11-01T00:00:00Z")));
        assert!(w[0].contains("last_dream"), "{w:?}");
        let (_, w) = MemoryState::parse("[1]", "x");
        assert_eq!(w.len(), 1);
    }
}
