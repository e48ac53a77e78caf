//! Execution-aware feedback: structured failures parsed from command output (skeleton).

use crate::protocol::Feedback;

/// Parses everything the parsers recognise in `output`.
pub fn analyze(_output: &str) -> Feedback {
    Feedback::default()
}

/// The compact block that leads a `run` result given to the model. Empty when nothing was found.
pub fn render(_fb: &Feedback) -> String {
    String::new()
}
