//! endure: a terminal workbench for supervising long-horizon coding agents.
//!
//! The runtime (`agent`, `model`, `tools`, `session`, ...) never depends on the UI; frontends
//! consume [`protocol::Event`]s and send [`protocol::Command`]s.

pub mod agent;
pub mod cli;
pub mod config;
pub mod control;
pub mod demo;
pub mod feedback;
pub mod headless;
pub mod jsonfind;
pub mod launch;
pub mod mcp;
pub mod memory;
pub mod model;
pub mod printable;
pub mod protocol;
pub mod redact;
pub mod reliability;
pub mod sandbox;
pub mod session;
pub mod tools;
pub mod tui;
pub mod workflow;
pub mod workspace;
