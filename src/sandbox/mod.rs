//! The sandbox `run` commands execute in.
//!
//! Mechanism: bubblewrap (`bwrap`), which builds the mount, PID, IPC and (unprivileged) user
//! namespaces of each command, plus one network namespace per session that every command
//! joins ([`netns`]). [`probe`] finds out what this machine allows; [`Sandbox::start`] sets a
//! session up with the strongest policy it can and says what is missing; [`Sandbox::command`]
//! builds the process for one command. ARCHITECTURE.md explains the choice.

pub mod bwrap;
pub mod env;
pub mod guard;
pub mod netns;
pub mod policy;
pub mod probe;
pub mod protect;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use guard::{MemoryGuard, note_memory_written};
pub use policy::{EnvPolicy, NetworkMode, Policy, SandboxMode};
pub use probe::{Capabilities, DoctorReport, Flavor, capabilities, doctor};

use crate::protocol::SandboxInfo;
use netns::SharedNet;

/// Where a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confinement {
    /// Under the session's policy.
    Sandboxed,
    /// Outside the sandbox, once, because the supervisor (or `--approve-escalations`) said so.
    Escalated,
}

/// A session's sandbox: its policy, what is enforced, its network namespace, its private
/// temporary directory (removed when the session ends) and the environment commands get.
#[derive(Debug)]
pub struct Sandbox {
    policy: Policy,
    info: SandboxInfo,
    /// How bwrap runs, when commands are confined.
    confine: Option<(PathBuf, Flavor)>,
    net: Option<SharedNet>,
    own_network: bool,
    tmp: Option<tempfile::TempDir>,
    workspace: PathBuf,
    env: Vec<(OsString, OsString)>,
    memory: MemoryGuard,
    hidden: Vec<protect::Hidden>,
}

/// `--sandbox require` on a machine that cannot enforce it.
#[derive(Debug, thiserror::Error)]
#[error("--sandbox require: this machine cannot enforce the sandbox (missing: {}); run `endure doctor` for details", missing.join(", "))]
pub struct NotEnforceable {
    pub missing: Vec<String>,
}

/// Checks at launch that a `require` policy can hold here.
pub fn check_required(policy: &Policy) -> Result<(), NotEnforceable> {
    if policy.mode != SandboxMode::Require {
        return Ok(());
    }
    let e = capabilities().enforcement(policy.mode, policy.network);
    if e.complete() { Ok(()) } else { Err(NotEnforceable { missing: e.missing }) }
}

impl Sandbox {
    /// Sets up a session's sandbox with the strongest policy this machine allows, and says
    /// what falls short in warnings for the supervisor. A `require` policy that falls short
    /// is the caller's to refuse (`info().enforced` is false).
    pub fn start(policy: &Policy, workspace: &Path, session_id: &str) -> (Sandbox, Vec<String>) {
        let mode = policy.mode.effective();
        // Probing runs bwrap; a session without a sandbox has no need to.
        let (caps, mut e) = match mode {
            SandboxMode::Off => (None, probe::Enforcement { filesystem: false, network: true, shared_loopback: true, missing: Vec::new() }),
            _ => {
                let caps = capabilities();
                (Some(caps), caps.enforcement(policy.mode, policy.network))
            }
        };
        let mut warnings = Vec::new();
        let confine = match caps.map(|c| (&c.bwrap, c.flavor)) {
            Some((Some(b), Some(f))) if e.filesystem => Some((b.clone(), f)),
            _ => None,
        };
        let mut net = None;
        let mut own_network = false;
        if let Some((bwrap, flavor)) = &confine
            && policy.network == NetworkMode::Off
            && e.network
        {
            if e.shared_loopback {
                match SharedNet::create(bwrap, *flavor) {
                    Ok(n) => net = Some(n),
                    Err(err) => {
                        warnings.push(format!(
                            "{err}; each command gets a network namespace of its own, so loopback servers do not outlive their command"
                        ));
                        e.missing.push("shared network namespace (loopback is not shared between commands)".into());
                        own_network = true;
                    }
                }
            } else {
                own_network = true;
            }
        }
        remove_stale_tmp();
        let prefix = format!("endure-{session_id}-p{}-", std::process::id());
        let tmp = tempfile::Builder::new().prefix(&prefix).tempdir();
        let tmp = match tmp {
            Ok(t) => Some(t),
            Err(err) => {
                warnings.push(format!("cannot create the session's temporary directory ({err}); commands use the system's"));
                None
            }
        };
        if confine.is_some() && tmp.is_none() {
            // Commands may write only the private directory outside the workspace; without it,
            // no sandbox.
            e.missing.push("a private temporary directory".into());
        }
        let confine = confine.filter(|_| tmp.is_some());
        let network = if mode == SandboxMode::Off { NetworkMode::On } else { policy.network };
        let info = SandboxInfo {
            mode,
            network,
            enforced: mode == SandboxMode::Off || (confine.is_some() && e.missing.is_empty()),
            mechanism: if confine.is_some() { "bwrap".into() } else { "none".into() },
            missing: if mode == SandboxMode::Off { Vec::new() } else { e.missing.clone() },
        };
        if mode == SandboxMode::Off {
            warnings.push("the sandbox is off (--sandbox off): commands run with your permissions and network".into());
        } else if !info.enforced {
            warnings.push(format!(
                "SANDBOX NOT ENFORCED: this machine lacks {}; {}. `endure doctor` shows what is missing; `--sandbox require` refuses to start without it",
                info.missing.join(", "),
                if confine.is_some() {
                    "files and processes are confined, the rest is not"
                } else {
                    "commands run with your permissions; only MEMORY.md is watched and secrets are kept out of the environment"
                }
            ));
        }
        let keep: Vec<&Path> = [Some(workspace), tmp.as_ref().map(|t| t.path())].into_iter().flatten().collect();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let sandbox = Sandbox {
            policy: policy.clone(),
            info,
            hidden: protect::hidden(home.as_deref(), &keep),
            confine,
            net,
            own_network,
            tmp,
            workspace: workspace.to_path_buf(),
            env: env::scrubbed_env(&policy.env),
            memory: MemoryGuard::new(workspace),
        };
        (sandbox, warnings)
    }

    /// No confinement, the default environment policy and a private temporary directory: for
    /// tools used outside a session (tests).
    pub fn unconfined(workspace: &Path) -> Sandbox {
        let policy = Policy { mode: SandboxMode::Off, ..Default::default() };
        Sandbox {
            info: SandboxInfo {
                mode: SandboxMode::Off,
                network: NetworkMode::On,
                enforced: true,
                mechanism: "none".into(),
                missing: Vec::new(),
            },
            confine: None,
            net: None,
            own_network: false,
            tmp: tempfile::Builder::new().prefix("endure-").tempdir().ok(),
            workspace: workspace.to_path_buf(),
            env: env::scrubbed_env(&policy.env),
            memory: MemoryGuard::new(workspace),
            hidden: Vec::new(),
            policy,
        }
    }

    pub fn info(&self) -> &SandboxInfo {
        &self.info
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// True when commands actually run confined.
    pub fn is_confining(&self) -> bool {
        self.confine.is_some()
    }

    pub fn memory_guard(&self) -> &MemoryGuard {
        &self.memory
    }

    /// The private temporary directory, as the host sees it.
    pub fn tmp_dir(&self) -> Option<&Path> {
        self.tmp.as_ref().map(|t| t.path())
    }

    /// A process running `sh -c shell` in the workspace: confined by the policy, or outside it
    /// when escalated. Its environment is scrubbed; it leads its own process group (the
    /// caller kills the group) and is killed when dropped. stdio is left to the caller.
    pub fn command(&self, shell: &str, confinement: Confinement) -> tokio::process::Command {
        let confined = match (confinement, &self.confine) {
            (Confinement::Sandboxed, Some(c)) => Some(c),
            _ => None,
        };
        let mut cmd = match confined {
            Some((bwrap, flavor)) => {
                let protected = match self.info.mode {
                    SandboxMode::WorkspaceWrite => protect::protected(&self.workspace),
                    _ => protect::Protected::default(),
                };
                let tmp = self.tmp.as_ref().map(|t| t.path()).unwrap_or(Path::new("/tmp"));
                let layout = bwrap::Layout {
                    flavor: *flavor,
                    mode: self.info.mode,
                    network: self.info.network,
                    own_network: self.own_network,
                    workspace: &self.workspace,
                    tmp,
                    protected: &protected,
                    hidden: &self.hidden,
                };
                let mut c = tokio::process::Command::new(bwrap);
                c.args(bwrap::args(&layout, shell));
                c
            }
            None => {
                let mut c = tokio::process::Command::new("sh");
                c.arg("-c").arg(shell).current_dir(&self.workspace);
                c
            }
        };
        // Confined or not, $TMPDIR is the session's private directory (bound writable at its
        // own path inside the sandbox).
        let tmpdir: OsString = match &self.tmp {
            Some(t) => t.path().as_os_str().to_owned(),
            None => std::env::temp_dir().into_os_string(),
        };
        cmd.env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("TMPDIR", tmpdir)
            .env("PAGER", "cat")
            .env("GIT_PAGER", "cat")
            .env("TERM", "dumb")
            .env("NO_COLOR", "1")
            // Without a terminal a credential prompt would wait for the whole timeout.
            .env("GIT_TERMINAL_PROMPT", "0")
            .process_group(0)
            .kill_on_drop(true);
        let join = if confined.is_some() { self.net.as_ref().map(SharedNet::fds) } else { None };
        let parent = std::process::id();
        // SAFETY: the closure makes only async-signal-safe system calls (setns, prctl,
        // getppid), and the descriptors it uses belong to `self.net`, which outlives the spawn.
        unsafe {
            cmd.pre_exec(move || {
                if let Some(fds) = join {
                    fds.join()?;
                }
                die_with_parent(parent)
            });
        }
        cmd
    }
}

/// In a forked child before exec: be killed when endure dies, even by `kill -9`. bwrap's own
/// `--die-with-parent` is set only once bwrap runs, and an unconfined shell has nothing else;
/// a parent that died before this call would never send the signal, so the child checks that
/// endure (`parent`) is still its parent after asking, and gives up if not.
pub(crate) fn die_with_parent(parent: u32) -> std::io::Result<()> {
    // SAFETY: prctl and getppid are async-signal-safe and touch only this process.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if u32::try_from(libc::getppid()).ok() != Some(parent) {
            return Err(std::io::Error::other("endure exited before the command could start"));
        }
    }
    Ok(())
}

/// Removes the private temporary directories that endure processes killed before they could
/// clean up left behind (`endure-<session>-p<pid>-…` whose pid is gone), this user's only. A
/// resumed session thereby starts with a fresh one.
fn remove_stale_tmp() {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(stale_pid) else { continue };
        // A symlink with the name is not ours to follow.
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else { continue };
        if !meta.is_dir() || meta.uid() != uid {
            continue;
        }
        // SAFETY: signal 0 only asks whether the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The pid in a private temporary directory's name, `endure-<session>-p<pid>-<random>`.
fn stale_pid(name: &str) -> Option<libc::pid_t> {
    let rest = name.strip_prefix("endure-")?;
    let (head, _random) = rest.rsplit_once('-')?;
    let (_session, pid) = head.rsplit_once("-p")?;
    pid.parse().ok().filter(|p: &libc::pid_t| *p > 0)
}

/// A one-line description of the policy for the status bar and progress lines.
pub fn describe(info: &SandboxInfo) -> String {
    let mode = info.mode.as_str();
    if info.mode == SandboxMode::Off {
        return "sandbox off".into();
    }
    let net = format!("net {}", info.network.as_str());
    if info.enforced { format!("sandbox {mode} · {net}") } else { format!("sandbox {mode} · {net} · NOT ENFORCED") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_of_private_temporary_directories_carry_a_pid() {
        assert_eq!(stale_pid("endure-20261130-142723-189-a9b5-p4242-LL2Ws5"), Some(4242));
        assert_eq!(stale_pid("endure-feedback"), None);
        assert_eq!(stale_pid("endure-20261130-142723-189-a9b5-LL2Ws5"), None);
        assert_eq!(stale_pid("other-x-p12-y"), None);
    }
}
