//! Sessions: the append-only event log, the state it folds into, and finding past sessions.

pub mod attempts;
pub mod id;
pub mod list;
pub mod lock;
pub mod log;
pub mod state;
pub mod timeline;

pub use list::{SessionSummary, find_session, list_sessions, log_path, sessions_dir};
pub use lock::{LockError, SessionLock};
pub use log::{EventLog, LogError, LogRead, read_log};
pub use state::{SessionState, cache_hit_rate};
