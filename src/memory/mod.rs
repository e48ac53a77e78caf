//! Memory: checkpoints and the windows rebuilt from them, project memory (MEMORY.md), dream,
//! distill and skills. Only the runtime's writer (and the supervisor) write any of it.

pub mod atomic;
pub mod checkpoint;
pub mod distill;
pub mod dream;
pub mod drift;
pub mod memory_file;
pub mod skills;
pub mod store;
pub mod tokens;
pub mod window;
