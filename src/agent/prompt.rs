//! The agent's system prompt: the bundled prompt plus the workspace's AGENTS.md.

use std::path::Path;

use crate::memory::memory_file::MemoryFile;
use crate::memory::skills::SkillMeta;

/// Project memory as the first message of a session, when MEMORY.md has any entries.
pub fn memory_message(workspace: &Path) -> Option<String> {
    let memory = MemoryFile::load(workspace).ok()?;
    if memory.entry_count() == 0 {
        return None;
    }
    Some(format!(
        "Project memory (MEMORY.md, kept by endure from earlier sessions; read-only for you):\n\n{}",
        memory.render().trim()
    ))
}

const SYSTEM: &str = include_str!("../../assets/prompts/system.md");
pub(crate) const NUDGE: &str = include_str!("../../assets/prompts/nudge.md");

/// AGENTS.md beyond this many bytes is cut, with a note, so one file cannot eat the window.
const AGENTS_MD_CAP: usize = 24 * 1024;

pub fn system_prompt(workspace: &Path, skills: &[SkillMeta]) -> String {
    let mut prompt = SYSTEM.trim_end().to_string();
    if !skills.is_empty() {
        prompt.push_str("\n\n# Skills\nDistilled from earlier sessions in this project. Load one with the `skill` tool when it fits the work:\n");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_agents_md_when_present() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!system_prompt(dir.path(), &[]).contains("AGENTS.md)"));
        std::fs::write(dir.path().join("AGENTS.md"), "Always run `make lint`.").unwrap();
        let p = system_prompt(dir.path(), &[]);
        assert!(p.contains("# Project instructions (AGENTS.md)\nAlways run `make lint`."));
    }
}
