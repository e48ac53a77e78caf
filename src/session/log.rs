//! The append-only event log: `<workspace>/.endure/sessions/<id>/events.jsonl`.
//!
//! Each event is one JSON line written with a single `write` on a file opened for appending,
//! so a `kill -9` can lose at most the line being written. Reading tolerates exactly that: a
//! torn or unparsable line is skipped with a warning.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use crate::protocol::Event;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("cannot write the event log {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

/// What reading a log produced: the events, and a warning per line that was skipped.
#[derive(Debug, Default)]
pub struct LogRead {
    pub events: Vec<Event>,
    pub warnings: Vec<String>,
}

/// Reads `events.jsonl`. A torn or unparsable line is skipped with a warning, never an error.
pub fn read_log(path: &Path) -> Result<LogRead, LogError> {
    let bytes = std::fs::read(path).map_err(|source| LogError::Io { path: path.display().to_string(), source })?;
    Ok(parse_log(&bytes, &path.display().to_string()))
}

/// Parses log bytes; `name` is used in warnings.
pub fn parse_log(bytes: &[u8], name: &str) -> LogRead {
    let mut out = LogRead::default();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Event>(line) {
            Ok(ev) => out.events.push(ev),
            Err(e) => out.warnings.push(format!("{name}:{}: skipped an unreadable event line ({e})", i + 1)),
        }
    }
    out
}

/// The events of a log from sequence number `from` on, read a line at a time. A client that
/// catches up on the tail of a long session (the control socket at the end of a run, or
/// after it lagged) neither holds nor parses the whole log for it; lines before `from` are
/// skipped by their leading `seq`. Torn or unparsable lines are skipped, as `parse_log` does.
pub fn events_from(path: &Path, from: u64) -> Result<impl Iterator<Item = Event> + Send + use<>, LogError> {
    let file = File::open(path).map_err(|source| LogError::Io { path: path.display().to_string(), source })?;
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    Ok(std::iter::from_fn(move || {
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            if leading_seq(&line).is_some_and(|seq| seq < from) {
                continue;
            }
            if let Ok(ev) = serde_json::from_slice::<Event>(&line)
                && ev.seq >= from
            {
                return Some(ev);
            }
        }
    }))
}

/// The `seq` a log line starts with (every line `EventLog` writes does), without parsing the
/// rest of it.
fn leading_seq(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(rest.get(..digits)?).ok()?.parse().ok()
}

/// The writer side of a session's log.
pub struct EventLog {
    path: PathBuf,
    file: File,
}

impl EventLog {
    /// Opens (creating if needed) the log for appending.
    pub fn open(path: &Path) -> Result<EventLog, LogError> {
        let err = |source| LogError::Write { path: path.display().to_string(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path).map_err(err)?;
        let mut log = EventLog { path: path.to_path_buf(), file };
        log.heal_torn_tail().map_err(err)?;
        Ok(log)
    }

    /// A process killed mid-write leaves a last line without its newline; terminate it so the
    /// next event starts on a line of its own (the torn line is then skipped on read).
    fn heal_torn_tail(&mut self) -> std::io::Result<()> {
        let len = self.file.metadata()?.len();
        if len == 0 {
            return Ok(());
        }
        use std::io::{Read, Seek, SeekFrom};
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(len - 1))?;
        let mut last = [0u8; 1];
        f.read_exact(&mut last)?;
        if last[0] != b'\n' {
            self.file.write_all(b"\n")?;
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn append(&mut self, event: &Event) -> Result<(), LogError> {
        let mut line = serde_json::to_vec(event)
            .map_err(|e| LogError::Write { path: self.path.display().to_string(), source: std::io::Error::other(e) })?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(|source| LogError::Write { path: self.path.display().to_string(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::EventKind;
    use chrono::Utc;

    fn ev(seq: u64) -> Event {
        Event { command_id: None, seq, ts: Utc::now(), kind: EventKind::StepStarted { step: seq } }
    }

    #[test]
    fn torn_last_line_is_skipped_and_healed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/events.jsonl");
        let mut log = EventLog::open(&path).unwrap();
        log.append(&ev(0)).unwrap();
        log.append(&ev(1)).unwrap();
        drop(log);
        // Simulate a kill mid-write: half a line, cut inside a multi-byte character.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        let partial = "{\"seq\":2,\"ts\":\"2026-01-01T00:00:00Z\",\"type\":\"warning\",\"message\":\"é";
        let cut = partial.len() - 1; // inside the two bytes of `é`
        f.write_all(&partial.as_bytes()[..cut]).unwrap();
        drop(f);
        let read = read_log(&path).unwrap();
        assert_eq!(read.events.len(), 2);
        assert_eq!(read.warnings.len(), 1, "{:?}", read.warnings);

        let mut log = EventLog::open(&path).unwrap();
        log.append(&ev(2)).unwrap();
        let read = read_log(&path).unwrap();
        assert_eq!(read.events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(read.warnings.len(), 1);
    }

    #[test]
    fn events_from_reads_the_tail_past_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/events.jsonl");
        let mut log = EventLog::open(&path).unwrap();
        for seq in 0..40 {
            log.append(&ev(seq)).unwrap();
        }
        drop(log);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"seq\":40,\"ts\":\"2026-01-01T00:00:00Z\",\"type\":\"warn\n\n").unwrap();
        drop(f);
        let mut log = EventLog::open(&path).unwrap();
        log.append(&ev(41)).unwrap();
        drop(log);
        let seqs = |from| events_from(&path, from).unwrap().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(seqs(37), vec![37, 38, 39, 41]);
        assert_eq!(seqs(0).len(), 41);
        assert_eq!(seqs(42), Vec::<u64>::new());
        assert_eq!(leading_seq(b"{\"seq\":12345,\"ts\":1}"), Some(12345));
        assert_eq!(leading_seq(b"{\"ts\":1,\"seq\":3}"), None, "no fast path: the line is parsed");
        assert!(events_from(&dir.path().join("missing.jsonl"), 0).is_err());
    }
}
