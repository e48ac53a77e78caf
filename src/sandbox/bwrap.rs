//! The bwrap command line for one command: the mounts that make a policy, in order.
//!
//! Later mounts cover earlier ones, so the order is the policy: the whole filesystem
//! read-only (/tmp included), fresh /dev, /proc and /run, credential stores hidden, the
//! session's private temporary directory writable at its own path, the workspace writable, and the protected paths inside it read-only
//! again on top.

use std::ffi::OsString;
use std::path::Path;

use super::policy::{NetworkMode, SandboxMode};
use super::probe::Flavor;
use super::protect::{Hidden, Protected};

/// The capabilities root keeps inside the sandbox: enough to read and write files it does
/// not own, where the mounts allow writing at all. Nothing that mounts, configures the
/// network, or reaches the kernel.
const ROOT_FILE_CAPS: [&str; 5] = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID"];

/// Where /run's resolver files live, bound back for `--network on` so name lookups work.
const RESOLVER_DIRS: [&str; 2] = ["/run/systemd/resolve", "/run/resolvconf"];

pub struct Layout<'a> {
    pub flavor: Flavor,
    /// WorkspaceWrite or ReadOnly.
    pub mode: SandboxMode,
    pub network: NetworkMode,
    /// Give this command a network namespace of its own: used when network is off but the
    /// session's shared namespace could not be made.
    pub own_network: bool,
    pub workspace: &'a Path,
    pub tmp: &'a Path,
    pub protected: &'a Protected,
    pub hidden: &'a [Hidden],
}

/// The arguments for bwrap (without the program) that run `sh -c command` under `layout`.
pub fn args(l: &Layout, command: &str) -> Vec<OsString> {
    let mut a = Args::default();
    a.flags(&["--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]);
    if l.flavor == Flavor::UserNamespace {
        a.flags(&["--unshare-user"]);
    }
    if l.own_network {
        a.flags(&["--unshare-net"]);
    }
    a.flags(&["--cap-drop", "ALL"]);
    if l.flavor == Flavor::Privileged {
        for cap in ROOT_FILE_CAPS {
            a.flags(&["--cap-add", cap]);
        }
    }
    a.flags(&["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]);
    // Writable /proc/sys would let a root-owned command change kernel settings.
    a.flags(&["--remount-ro", "/proc"]);
    let under_run = |p: &Path| p.starts_with("/run") || p.starts_with("/var/run");
    if !under_run(l.workspace) && !under_run(l.tmp) {
        // /run holds daemon sockets (docker, dbus, agents) that reach outside any namespace.
        a.flags(&["--tmpfs", "/run"]);
        if l.network == NetworkMode::On {
            for d in RESOLVER_DIRS {
                a.flags(&["--ro-bind-try", d, d]);
            }
        }
        a.flags(&["--remount-ro", "/run"]);
    }
    for h in l.hidden {
        if h.dir {
            a.path_pair("--tmpfs", None, &h.path);
            a.path_pair("--remount-ro", None, &h.path);
        } else {
            a.path_pair("--ro-bind", Some(Path::new("/dev/null")), &h.path);
        }
    }
    // The private directory keeps its own path: the host's /tmp stays readable (a project or a
    // tool may live there) and read-only like the rest of the system.
    a.path_pair("--bind", Some(l.tmp), l.tmp);
    match l.mode {
        SandboxMode::ReadOnly => a.path_pair("--ro-bind", Some(l.workspace), l.workspace),
        _ => {
            a.path_pair("--bind", Some(l.workspace), l.workspace);
            for w in &l.protected.writable {
                a.path_pair("--bind", Some(w), w);
            }
            for r in &l.protected.read_only {
                a.path_pair("--ro-bind", Some(r), r);
            }
        }
    }
    a.path_pair("--chdir", None, l.workspace);
    a.flags(&["--", "sh", "-c"]);
    a.0.push(command.into());
    a.0
}

#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn flags(&mut self, f: &[&str]) {
        self.0.extend(f.iter().map(OsString::from));
    }

    fn path_pair(&mut self, flag: &str, src: Option<&Path>, dest: &Path) {
        self.0.push(flag.into());
        if let Some(s) = src {
            self.0.push(s.as_os_str().to_owned());
        }
        self.0.push(dest.as_os_str().to_owned());
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn strings(a: &[OsString]) -> Vec<String> {
        a.iter().map(|s| s.to_string_lossy().into_owned()).collect()
    }

    fn pos(a: &[String], window: &[&str]) -> usize {
        a.windows(window.len()).position(|w| w == window).unwrap_or_else(|| panic!("{window:?} not in {a:?}"))
    }

    #[test]
    fn protected_paths_are_bound_read_only_after_the_writable_workspace() {
        let protected = Protected {
            writable: vec![PathBuf::from("/repo/.git")],
            read_only: vec![PathBuf::from("/w/MEMORY.md"), PathBuf::from("/repo/.git/config")],
        };
        let l = Layout {
            flavor: Flavor::UserNamespace,
            mode: SandboxMode::WorkspaceWrite,
            network: NetworkMode::Off,
            own_network: false,
            workspace: Path::new("/w"),
            tmp: Path::new("/tmp/endure-s-1"),
            protected: &protected,
            hidden: &[Hidden { path: PathBuf::from("/home/u/.ssh"), dir: true }],
        };
        let a = strings(&args(&l, "echo hi"));
        let ws = pos(&a, &["--bind", "/w", "/w"]);
        assert!(pos(&a, &["--bind", "/tmp/endure-s-1", "/tmp/endure-s-1"]) < ws);
        assert!(pos(&a, &["--bind", "/repo/.git", "/repo/.git"]) > ws);
        assert!(pos(&a, &["--ro-bind", "/w/MEMORY.md", "/w/MEMORY.md"]) > ws);
        assert!(pos(&a, &["--ro-bind", "/repo/.git/config", "/repo/.git/config"]) > pos(&a, &["--bind", "/repo/.git", "/repo/.git"]));
        assert!(pos(&a, &["--tmpfs", "/home/u/.ssh"]) < ws);
        assert!(a.contains(&"--unshare-user".to_string()) && !a.contains(&"--unshare-net".to_string()));
        assert_eq!(&a[a.len() - 4..], ["--", "sh", "-c", "echo hi"]);
    }

    #[test]
    fn read_only_binds_the_workspace_read_only_and_root_keeps_file_capabilities_only() {
        let l = Layout {
            flavor: Flavor::Privileged,
            mode: SandboxMode::ReadOnly,
            network: NetworkMode::On,
            own_network: false,
            workspace: Path::new("/w"),
            tmp: Path::new("/t"),
            protected: &Protected { writable: vec![], read_only: vec![PathBuf::from("/w/MEMORY.md")] },
            hidden: &[],
        };
        let a = strings(&args(&l, "true"));
        pos(&a, &["--ro-bind", "/w", "/w"]);
        assert!(!a.contains(&"/w/MEMORY.md".to_string()), "nothing inside needs covering");
        assert!(!a.contains(&"--unshare-user".to_string()));
        pos(&a, &["--cap-add", "CAP_DAC_OVERRIDE"]);
        assert!(!a.iter().any(|x| x == "CAP_SYS_ADMIN"));
        pos(&a, &["--ro-bind-try", "/run/systemd/resolve", "/run/systemd/resolve"]);
    }
}
