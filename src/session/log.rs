//! The event log (skeleton of the contract).
use std::path::Path;
use crate::protocol::Event;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// What reading a log produced: the events, and a warning per line that was skipped.
#[derive(Debug, Default)]
pub struct LogRead {
    pub events: Vec<Event>,
    pub warnings: Vec<String>,
}

/// Reads `events.jsonl`. A torn or unparsable line is skipped with a warning, never an error.
pub fn read_log(path: &Path) -> Result<LogRead, LogError> {
    let text = std::fs::read_to_string(path).map_err(|source| LogError::Io { path: path.display().to_string(), source })?;
    let mut out = LogRead::default();
    for (i, line) in text.lines().enumerate() {
        match serde_json::from_str(line) {
            Ok(ev) => out.events.push(ev),
            Err(e) => out.warnings.push(format!("{}:{}: skipped: {e}", path.display(), i + 1)),
        }
    }
    Ok(out)
}
