//! Dynamic Workflow: orchestration written as JavaScript, run by endure.

pub mod engine;
pub mod meter;
