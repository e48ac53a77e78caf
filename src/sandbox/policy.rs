//! What a session asks of the sandbox: the filesystem mode, the network, and which
//! environment variables commands may see.

use serde::{Deserialize, Serialize};

/// What `run` commands may write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// Read everything; write the workspace (minus MEMORY.md, .endure/, .git/hooks and
    /// .git/config) and the session's private temporary directory.
    #[default]
    WorkspaceWrite,
    /// Read everything; write only the private temporary directory.
    ReadOnly,
    /// No sandbox: commands run as the user, in a process group.
    Off,
    /// workspace-write, and refuse to start when this machine cannot enforce it.
    Require,
}

impl SandboxMode {
    /// The filesystem policy in force: `require` is workspace-write that must be enforced.
    pub fn effective(self) -> SandboxMode {
        match self {
            SandboxMode::Require => SandboxMode::WorkspaceWrite,
            m => m,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SandboxMode::WorkspaceWrite => "workspace-write",
            SandboxMode::ReadOnly => "read-only",
            SandboxMode::Off => "off",
            SandboxMode::Require => "require",
        }
    }
}

/// Whether `run` commands may open sockets to other hosts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkMode {
    /// Loopback only, shared by every command of the session.
    #[default]
    Off,
    On,
}

impl NetworkMode {
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::Off => "off",
            NetworkMode::On => "on",
        }
    }
}

/// The policy a session runs its commands under.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub mode: SandboxMode,
    pub network: NetworkMode,
    /// Approve every escalation without asking (`--approve-escalations`).
    pub approve_escalations: bool,
    pub env: EnvPolicy,
}

impl Policy {
    /// True when commands are meant to run confined (anything but `off`).
    pub fn confined(&self) -> bool {
        self.mode.effective() != SandboxMode::Off
    }
}

/// Which variables are taken out of, or kept in, the environment commands inherit.
#[derive(Debug, Clone, Default)]
pub struct EnvPolicy {
    /// The variable that holds the provider's API key: always removed.
    pub api_key_env: Option<String>,
    /// The key itself: any variable whose value contains it is removed too.
    pub api_key: Option<crate::model::Secret>,
    /// Names kept even though they look like secrets (`env-keep`).
    pub keep: Vec<String>,
    /// Names removed as well (`env-remove`).
    pub remove: Vec<String>,
}
