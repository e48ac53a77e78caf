//! Compute spent on reliability: the goal verifier's verdicts and the Max Mode judge's picks
//! (prompts and robust parsing; the runtime decides what to do with them).

pub mod judge;
pub mod verifier;
