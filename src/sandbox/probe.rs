//! What this machine lets the sandbox do, found by trying it: each capability is a short
//! `bwrap … true` run, so the answer is the kernel's, not a guess from version numbers.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::netns::SharedNet;
use super::policy::{NetworkMode, SandboxMode};

/// How bwrap gets its namespaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavor {
    /// Run as root: bwrap creates the namespaces directly, and commands run as uid 0 with
    /// only the file-ownership capabilities (reads, writes and chmod where mounts allow).
    Privileged,
    /// Any other user: bwrap creates a user namespace first; commands keep the user's uid and
    /// have no capabilities on the host.
    UserNamespace,
}

/// The answers of every probe, as `endure doctor` prints them.
#[derive(Debug, Clone, Serialize)]
pub struct Capabilities {
    /// Where bwrap is, when it was found.
    pub bwrap: Option<PathBuf>,
    pub bwrap_version: Option<String>,
    pub uid: u32,
    /// bwrap can create an unprivileged user namespace.
    pub user_namespaces: bool,
    pub mount_namespace: bool,
    pub pid_namespace: bool,
    pub ipc_namespace: bool,
    pub network_namespace: bool,
    /// One network namespace can be held open and joined by every command of a session,
    /// so that loopback servers outlive the command that started them.
    pub shared_network_namespace: bool,
    pub flavor: Option<Flavor>,
    /// Why probes failed, in bwrap's words.
    pub problems: Vec<String>,
}

/// A policy as this machine can enforce it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enforcement {
    /// Filesystem and process confinement (mount and PID namespaces).
    pub filesystem: bool,
    /// Network confinement: a network namespace with only loopback.
    pub network: bool,
    /// Loopback is shared by all commands of the session (else each command has its own).
    pub shared_loopback: bool,
    /// What is missing, for messages and `session_started`.
    pub missing: Vec<String>,
}

impl Enforcement {
    /// True when everything the policy asks for holds.
    pub fn complete(&self) -> bool {
        self.missing.is_empty()
    }
}

impl Capabilities {
    /// What `mode` and `network` get on this machine.
    pub fn enforcement(&self, mode: SandboxMode, network: NetworkMode) -> Enforcement {
        let mut missing = Vec::new();
        if mode.effective() == SandboxMode::Off {
            return Enforcement { filesystem: false, network: network == NetworkMode::On, shared_loopback: true, missing };
        }
        let filesystem = self.flavor.is_some() && self.mount_namespace && self.pid_namespace;
        if self.bwrap.is_none() {
            missing.push("bwrap (install bubblewrap)".to_string());
        } else if !filesystem {
            missing.push(if self.uid == 0 { "namespaces".to_string() } else { "user namespaces".to_string() });
        }
        let mut net = network == NetworkMode::On;
        let mut shared = true;
        if network == NetworkMode::Off && filesystem {
            net = self.network_namespace;
            shared = self.shared_network_namespace;
            if !net {
                missing.push("network namespace".to_string());
            } else if !shared {
                missing.push("shared network namespace (loopback is not shared between commands)".to_string());
            }
        } else if network == NetworkMode::Off {
            missing.push("network namespace".to_string());
        }
        Enforcement { filesystem, network: net, shared_loopback: shared, missing }
    }
}

/// Where bwrap is: `ENDURE_BWRAP` when set (empty or `none` means "pretend it is missing",
/// which is how the degraded path is tested), else the first `bwrap` on PATH.
pub fn find_bwrap() -> Option<PathBuf> {
    if let Some(v) = std::env::var_os("ENDURE_BWRAP") {
        let p = PathBuf::from(&v);
        if v.is_empty() || v == "none" || !is_executable(&p) {
            return None;
        }
        return Some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("bwrap")).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The machine's capabilities, probed once per process.
pub fn capabilities() -> &'static Capabilities {
    static CAPS: OnceLock<Capabilities> = OnceLock::new();
    CAPS.get_or_init(detect)
}

const PROBE_DEADLINE: Duration = Duration::from_secs(10);

fn detect() -> Capabilities {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let mut caps = Capabilities {
        bwrap: find_bwrap(),
        bwrap_version: None,
        uid,
        user_namespaces: false,
        mount_namespace: false,
        pid_namespace: false,
        ipc_namespace: false,
        network_namespace: false,
        shared_network_namespace: false,
        flavor: None,
        problems: Vec::new(),
    };
    let Some(bwrap) = caps.bwrap.clone() else {
        caps.problems.push("bwrap was not found on PATH".into());
        return caps;
    };
    caps.bwrap_version = Command::new(&bwrap)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().trim_start_matches("bubblewrap ").to_string())
        .filter(|v| !v.is_empty());
    let mut problems = Vec::new();
    let mut probe = |args: &[&str]| match try_bwrap(&bwrap, args) {
        Ok(()) => true,
        Err(e) => {
            if !problems.contains(&e) {
                problems.push(e);
            }
            false
        }
    };
    caps.user_namespaces = probe(&["--unshare-user"]);
    // Root needs no user namespace, and is better without one: its files stay its own.
    let candidates: &[Flavor] = if uid == 0 { &[Flavor::Privileged, Flavor::UserNamespace] } else { &[Flavor::UserNamespace] };
    for &flavor in candidates {
        let base: &[&str] = match flavor {
            Flavor::Privileged => &[],
            Flavor::UserNamespace => &["--unshare-user"],
        };
        let with = |extra: &[&'static str]| -> Vec<&'static str> { base.iter().chain(extra).copied().collect() };
        if !probe(&with(&[])) {
            continue;
        }
        caps.flavor = Some(flavor);
        caps.mount_namespace = true;
        caps.pid_namespace = probe(&with(&["--unshare-pid", "--proc", "/proc", "--remount-ro", "/proc"]));
        caps.ipc_namespace = probe(&with(&["--unshare-ipc"]));
        caps.network_namespace = probe(&with(&["--unshare-net"]));
        break;
    }
    caps.problems = problems;
    if let (Some(flavor), true) = (caps.flavor, caps.network_namespace) {
        match SharedNet::create(&bwrap, flavor).and_then(|net| net.check_join(&bwrap, flavor)) {
            Ok(()) => caps.shared_network_namespace = true,
            Err(e) => caps.problems.push(format!("shared network namespace: {e}")),
        }
    }
    caps
}

/// Runs `bwrap ARGS --ro-bind / / --dev /dev -- true`; Err carries what bwrap said.
fn try_bwrap(bwrap: &Path, args: &[&str]) -> Result<(), String> {
    let mut cmd = Command::new(bwrap);
    cmd.args(args).args(["--ro-bind", "/", "/", "--dev", "/dev", "--die-with-parent", "--", "true"]);
    run_with_deadline(cmd)
}

/// Runs a probe command to completion within the probe deadline.
pub(super) fn run_with_deadline(mut cmd: Command) -> Result<(), String> {
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot start bwrap: {e}"))?;
    let deadline = Instant::now() + PROBE_DEADLINE;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                let err = err.trim();
                return Err(if err.is_empty() { format!("bwrap failed ({status})") } else { err.to_string() });
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("bwrap did not finish within 10 s".into());
            }
            Err(e) => return Err(format!("cannot wait for bwrap: {e}")),
        }
    }
}

/// `endure doctor`'s report: each capability, and whether the default policy holds.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    #[serde(flatten)]
    pub capabilities: Capabilities,
    /// `--sandbox workspace-write` (and `require`) is enforced: filesystem and processes.
    pub workspace_write: bool,
    pub read_only: bool,
    /// `--network off` is enforced.
    pub network_off: bool,
    /// Everything the default policy (workspace-write, network off) needs that is missing.
    pub missing: Vec<String>,
}

pub fn doctor() -> DoctorReport {
    let caps = capabilities().clone();
    let e = caps.enforcement(SandboxMode::WorkspaceWrite, NetworkMode::Off);
    DoctorReport { workspace_write: e.filesystem, read_only: e.filesystem, network_off: e.network, missing: e.missing, capabilities: caps }
}

impl DoctorReport {
    /// The human-readable report, one capability per line.
    pub fn render(&self) -> String {
        let c = &self.capabilities;
        let yn = |b: bool| if b { "yes" } else { "no" };
        let mut out = String::new();
        let bwrap = match (&c.bwrap, &c.bwrap_version) {
            (Some(p), Some(v)) => format!("yes ({}, {v})", p.display()),
            (Some(p), None) => format!("yes ({})", p.display()),
            (None, _) => "no".to_string(),
        };
        let flavor = match c.flavor {
            Some(Flavor::Privileged) => "as root, without a user namespace",
            Some(Flavor::UserNamespace) => "in a user namespace",
            None => "-",
        };
        let lines = [
            ("bwrap found", bwrap),
            ("running as uid", c.uid.to_string()),
            ("user namespaces", yn(c.user_namespaces).into()),
            ("mount namespace", yn(c.mount_namespace).into()),
            ("pid namespace", yn(c.pid_namespace).into()),
            ("ipc namespace", yn(c.ipc_namespace).into()),
            ("network namespace", yn(c.network_namespace).into()),
            ("shared network namespace", yn(c.shared_network_namespace).into()),
            ("commands run", flavor.into()),
            ("workspace-write enforced", yn(self.workspace_write).into()),
            ("read-only enforced", yn(self.read_only).into()),
            ("network off enforced", yn(self.network_off).into()),
        ];
        for (k, v) in lines {
            out.push_str(&format!("{k:<26} {v}\n"));
        }
        for p in &c.problems {
            out.push_str(&format!("problem: {p}\n"));
        }
        if self.missing.is_empty() {
            out.push_str("the default sandbox (workspace-write, network off) is enforced on this machine\n");
        } else {
            out.push_str(&format!("NOT ENFORCED: missing {}\n", self.missing.join(", ")));
        }
        out
    }

    /// The default policy holds.
    pub fn ok(&self) -> bool {
        self.missing.is_empty()
    }
}
