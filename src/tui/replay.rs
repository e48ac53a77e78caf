//! Replay: a timeline over a finished (or still growing) event log, and the tail reader that
//! follows a log while the session that writes it runs.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::protocol::{Event, EventKind};

use super::state::WorkbenchState;

/// The events of a log and which step the workbench shows.
///
/// Position `k` shows everything before step `k + 1` started (position 0: before the first
/// step; the last position: the whole log). Moving forward folds the next events into the
/// projection; moving back rebuilds it from the start, which for 10,000 events is a few
/// milliseconds and keeps memory flat (no per-step snapshots).
#[derive(Debug, Default)]
pub struct Timeline {
    events: Vec<Event>,
    /// Index in `events` of each `StepStarted`.
    starts: Vec<usize>,
    position: usize,
    /// How many events the projection holds.
    applied: usize,
}

impl Timeline {
    pub fn new(events: Vec<Event>) -> Timeline {
        let mut t = Timeline::default();
        t.append(events);
        t.position = t.steps();
        t
    }

    pub fn steps(&self) -> usize {
        self.starts.len()
    }

    pub fn position(&self) -> usize {
        self.position
    }

    pub fn at_end(&self) -> bool {
        self.position >= self.steps()
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    fn boundary(&self, k: usize) -> usize {
        self.starts.get(k).copied().unwrap_or(self.events.len())
    }

    pub fn append(&mut self, events: Vec<Event>) {
        for e in events {
            if matches!(e.kind, EventKind::StepStarted { .. }) {
                self.starts.push(self.events.len());
            }
            self.events.push(e);
        }
    }

    /// Appends events; a timeline at its end stays at the end and shows them.
    pub fn append_following(&mut self, events: Vec<Event>, state: &mut WorkbenchState) {
        let was_at_end = self.at_end();
        self.append(events);
        if was_at_end {
            self.seek(self.steps(), state);
        }
    }

    /// Moves to position `k` (clamped) and brings `state` to it.
    pub fn seek(&mut self, k: usize, state: &mut WorkbenchState) {
        self.position = k.min(self.steps());
        let target = self.boundary(self.position);
        if target >= self.applied {
            for e in &self.events[self.applied..target] {
                state.apply(e);
            }
        } else {
            *state = WorkbenchState::from_events(&self.events[..target]);
        }
        self.applied = target;
    }
}

/// Reads only what was appended to a log since the last read, holding back a torn last line
/// until the rest of it arrives.
#[derive(Debug)]
pub struct LogTail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    line_no: usize,
}

impl LogTail {
    pub fn new(path: &Path) -> LogTail {
        LogTail { path: path.to_path_buf(), offset: 0, partial: Vec::new(), line_no: 0 }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// New complete events, plus a warning for each complete line that did not parse.
    pub fn read_new(&mut self) -> std::io::Result<(Vec<Event>, Vec<String>)> {
        let mut f = std::fs::File::open(&self.path)?;
        let len = f.metadata()?.len();
        if len < self.offset {
            // Truncated or replaced: start over rather than read garbage.
            self.offset = 0;
            self.partial.clear();
            self.line_no = 0;
        }
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let mut events = Vec::new();
        let mut warnings = Vec::new();
        let Some(last_nl) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return Ok((events, warnings));
        };
        let rest = self.partial.split_off(last_nl + 1);
        let complete = std::mem::replace(&mut self.partial, rest);
        for line in complete.split(|b| *b == b'\n') {
            if line.is_empty() {
                continue;
            }
            self.line_no += 1;
            match serde_json::from_slice::<Event>(line) {
                Ok(e) => events.push(e),
                Err(e) => warnings.push(format!("{}:{}: skipped: {e}", self.path.display(), self.line_no)),
            }
        }
        Ok((events, warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::testkit::demo_session;
    use std::io::Write;

    #[test]
    fn timeline_position_matches_a_live_projection_of_the_same_prefix() {
        let events = demo_session();
        let mut tl = Timeline::new(events.clone());
        let mut state = WorkbenchState::default();
        tl.seek(tl.steps(), &mut state);
        assert_eq!(state, WorkbenchState::from_events(&events));
        for k in (0..=tl.steps()).rev().chain(0..=tl.steps()) {
            tl.seek(k, &mut state);
            let cut = tl.boundary(k);
            let live = WorkbenchState::from_events(&events[..cut]);
            assert_eq!(state, live, "position {k}");
            if k < tl.steps() {
                assert!(matches!(events[cut].kind, EventKind::StepStarted { .. }));
            }
        }
        tl.seek(1, &mut state);
        assert_eq!(state.step(), 1);
    }

    #[test]
    fn following_timeline_stays_at_the_end_unless_scrubbed_back() {
        let events = demo_session();
        let split = events.iter().rposition(|e| matches!(e.kind, EventKind::StepStarted { .. })).unwrap_or(0);
        let mut tl = Timeline::new(events[..split].to_vec());
        let mut state = WorkbenchState::default();
        tl.seek(tl.steps(), &mut state);
        tl.append_following(events[split..].to_vec(), &mut state);
        assert!(tl.at_end());
        assert_eq!(state, WorkbenchState::from_events(&events));
        tl.seek(0, &mut state);
        tl.append_following(Vec::new(), &mut state);
        assert_eq!(tl.position(), 0);
    }

    #[test]
    fn tail_waits_for_the_rest_of_a_torn_line() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("events.jsonl");
        let events = demo_session();
        let lines: Vec<String> = events.iter().take(3).map(|e| serde_json::to_string(e).unwrap_or_default()).collect();
        let mut f = std::fs::File::create(&path)?;
        write!(f, "{}\n{}", lines[0], &lines[1][..10])?;
        f.flush()?;
        let mut tail = LogTail::new(&path);
        let (got, warns) = tail.read_new()?;
        assert_eq!(got, vec![events[0].clone()]);
        assert!(warns.is_empty());
        write!(f, "{}\n{}\nnot json\n", &lines[1][10..], lines[2])?;
        f.flush()?;
        let (got, warns) = tail.read_new()?;
        assert_eq!(got, vec![events[1].clone(), events[2].clone()]);
        assert_eq!(warns.len(), 1);
        let (got, _) = tail.read_new()?;
        assert!(got.is_empty());
        Ok(())
    }
}
