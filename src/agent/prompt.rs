//! The agent's system prompt: the bundled prompt plus the workspace's AGENTS.md.

use std::path::Path;

use crate::memory::memory_file::MemoryFile;
use crate::memory::skills::SkillMeta;
use crate::protocol::SandboxInfo;
use crate::sandbox::{NetworkMode, SandboxMode};

/// Project memory as the first message of a session, when MEMORY.md has any entries.
pub fn memory_message(workspace: &Path) -> Option<String> {
    let memory = MemoryFile::load(workspace).ok()?;
    if memory.entry_count() == 0 {
        return None;
    }
    Some(format!("Project memory (MEMORY.md, kept by endure from earlier sessions; read-only for you):\n\n{}", memory.render().trim()))
}

const SYSTEM: &str = include_str!("../../assets/prompts/system.md");
const SANDBOX: &str = include_str!("../../assets/prompts/sandbox.md");
pub(crate) const NUDGE: &str = include_str!("../../assets/prompts/nudge.md");

/// AGENTS.md beyond this many bytes is cut, with a note, so one file cannot eat the window.
const AGENTS_MD_CAP: usize = 24 * 1024;

pub fn system_prompt(workspace: &Path, skills: &[SkillMeta], sandbox: Option<&SandboxInfo>) -> String {
    let mut prompt = SYSTEM.trim_end().to_string();
    if let Some(info) = sandbox {
        prompt.push_str("\n\n");
        prompt.push_str(&sandbox_section(info));
    }
    if !skills.is_empty() {
        prompt.push_str(
            "\n\n# Skills\nDistilled from earlier sessions in this project. Load one with the `skill` tool when it fits the work:\n",
        );
        for s in skills {
            prompt.push_str(&format!("- {}: {}\n", s.name, s.description));
        }
    }
    if let Ok(agents) = std::fs::read_to_string(workspace.join("AGENTS.md")) {
        let body = crate::tools::cap_output(agents.trim(), AGENTS_MD_CAP);
        prompt.push_str("\n\n# Project instructions (AGENTS.md)\n");
        prompt.push_str(&body);
    }
    prompt.push('\n');
    prompt
}

/// The sandbox section: what commands may write and reach, so the model knows its limits.
fn sandbox_section(info: &SandboxInfo) -> String {
    if info.mode == SandboxMode::Off {
        return "# Sandbox\nThe sandbox is off: your `run` commands execute with the user's own permissions and network. Be careful with anything that writes outside the workspace.".into();
    }
    let writes = match info.mode {
        SandboxMode::ReadOnly => {
            "only $TMPDIR (a directory private to this session, removed when it ends; /tmp itself is read-only). The workspace is read-only: inspect and test, do not modify."
        }
        _ => {
            "the workspace and $TMPDIR (a directory private to this session, removed when it ends; /tmp itself is read-only). Inside the workspace, MEMORY.md, .endure/, .git/config and .git/hooks are read-only (commit with `git -c user.name=... -c user.email=... commit` or GIT_AUTHOR_*/GIT_COMMITTER_* variables). Everything outside is read-only, and credential stores such as ~/.ssh are hidden."
        }
    };
    let network = match info.network {
        NetworkMode::Off => {
            "off. Only loopback works (127.0.0.1, localhost), and it is shared by all your commands, so a background server is reachable from later ones. Installing packages from the internet will fail."
        }
        NetworkMode::On => "on.",
    };
    let mut s = SANDBOX
        .trim_end()
        .replace("{policy}", &format!("{}, network {}", info.mode.as_str(), info.network.as_str()))
        .replace("{writes}", writes)
        .replace("{network}", network);
    if !info.enforced {
        s.push_str(&format!(
            "\n- This machine cannot enforce all of it (missing: {}); keep to these limits anyway.",
            info.missing.join(", ")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_agents_md_when_present() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!system_prompt(dir.path(), &[], None).contains("AGENTS.md)"));
        std::fs::write(dir.path().join("AGENTS.md"), "Always run `make lint`.").unwrap();
        let p = system_prompt(dir.path(), &[], None);
        assert!(p.contains("# Project instructions (AGENTS.md)\nAlways run `make lint`."));
    }

    #[test]
    fn states_the_sandbox_policy() {
        let dir = tempfile::tempdir().unwrap();
        let info = SandboxInfo {
            mode: SandboxMode::WorkspaceWrite,
            network: NetworkMode::Off,
            enforced: false,
            mechanism: "none".into(),
            missing: vec!["bwrap".into()],
        };
        let p = system_prompt(dir.path(), &[], Some(&info));
        assert!(p.contains("workspace-write, network off"), "{p}");
        assert!(p.contains(".git/config") && p.contains("Only loopback") && p.contains("missing: bwrap"), "{p}");
        assert!(!p.contains("{writes}") && !p.contains("{network}") && !p.contains("{policy}"), "{p}");
    }
}
