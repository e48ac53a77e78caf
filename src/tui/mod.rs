//! The workbench: a full-screen view of a session's events (skeleton).
pub mod widgets;
