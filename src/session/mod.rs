//! Sessions: the append-only event log, replay and listing (skeleton).
pub mod log;
