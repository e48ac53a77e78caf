//! The agent's system prompt: the bundled prompt plus the workspace's AGENTS.md.

use std::path::Path;

const SYSTEM: &str = include_str!("../../assets/prompts/system.md");
pub(crate) const NUDGE: &str = include_str!("../../assets/prompts/nudge.md");

/// AGENTS.md beyond this many bytes is cut, with a note, so one file cannot eat the window.
const AGENTS_MD_CAP: usize = 24 * 1024;

pub fn system_prompt(workspace: &Path) -> String {
    let mut prompt = SYSTEM.trim_end().to_string();
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
        assert!(!system_prompt(dir.path()).contains("AGENTS.md)"));
        std::fs::write(dir.path().join("AGENTS.md"), "Always run `make lint`.").unwrap();
        let p = system_prompt(dir.path());
        assert!(p.contains("# Project instructions (AGENTS.md)\nAlways run `make lint`."));
    }
}
