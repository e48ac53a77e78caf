//! Skills: reusable instructions distilled from repeated patterns, one per
//! `.endure/skills/<name>/SKILL.md`, with YAML front matter (`name`, `description`) and a
//! Markdown body.
//!
//! Names are validated everywhere a path is built from them, so a name from the model or the
//! command line can never leave the skills directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::atomic::write_atomic;
use super::memory_file::MemoryError;

pub const SKILL_FILE: &str = "SKILL.md";
pub const MAX_NAME_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skill {
    pub name: String,
    pub description: String,
    pub body: String,
}

/// What listing shows and what the distiller is told exists already.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillMeta {
    pub name: String,
    pub description: String,
}

pub fn skills_dir(workspace: &Path) -> PathBuf {
    workspace.join(".endure").join("skills")
}

/// A lowercase slug: `[a-z0-9-]{1,64}`, not starting with `-` (so that it cannot be read as
/// an option by a shell command that is given the directory).
pub fn validate_name(name: &str) -> Result<(), MemoryError> {
    let bad = |reason: &str| Err(MemoryError::BadSkillName { name: name.to_string(), reason: reason.to_string() });
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("it is longer than 64 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return bad("use only lowercase letters, digits and `-`");
    }
    if name.starts_with('-') {
        return bad("it starts with `-`");
    }
    Ok(())
}

pub fn skill_path(workspace: &Path, name: &str) -> Result<PathBuf, MemoryError> {
    validate_name(name)?;
    Ok(skills_dir(workspace).join(name).join(SKILL_FILE))
}

/// The file's text. Values are written as double-quoted scalars (JSON string syntax is valid
/// YAML), so a description with `:` or `#` or quotes cannot break the front matter.
pub fn render_skill(skill: &Skill) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let body = skill.body.trim_matches('\n');
    format!("---\nname: {}\ndescription: {}\n---\n\n{body}\n", q(&skill.name), q(skill.description.trim()))
}

/// Writes `.endure/skills/<name>/SKILL.md` atomically and returns its path.
pub fn write_skill(workspace: &Path, skill: &Skill) -> Result<PathBuf, MemoryError> {
    let path = skill_path(workspace, &skill.name)?;
    write_atomic(&path, render_skill(skill).as_bytes())
        .map_err(|source| MemoryError::Write { path: path.display().to_string(), source })?;
    Ok(path)
}

/// Parses a `SKILL.md`. Accepts the subset of YAML people write in front matter: plain,
/// single- and double-quoted values, and `|`/`>` blocks.
pub fn parse_skill(text: &str) -> Result<Skill, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some("---") {
        return Err("it does not start with `---` front matter".into());
    }
    let mut front: Vec<&str> = Vec::new();
    let mut closed = false;
    for line in lines.by_ref() {
        if line.trim_end() == "---" {
            closed = true;
            break;
        }
        front.push(line);
    }
    if !closed {
        return Err("the front matter is not closed with `---`".into());
    }
    let body: Vec<&str> = lines.collect();
    let body = body.join("\n").trim_matches('\n').to_string();
    let (mut name, mut description) = (None, None);
    let mut i = 0;
    while i < front.len() {
        let line = front[i];
        i += 1;
        if line.trim().is_empty() || line.trim_start().starts_with('#') || line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(format!("front matter line `{line}` is not `key: value`"));
        };
        let value = value.trim();
        let value = if value == "|" || value == ">" || value == "|-" || value == ">-" {
            let mut block = Vec::new();
            while i < front.len() && (front[i].starts_with([' ', '\t']) || front[i].trim().is_empty()) {
                block.push(front[i].trim());
                i += 1;
            }
            let sep = if value.starts_with('|') { "\n" } else { " " };
            block.join(sep).trim().to_string()
        } else {
            scalar(value)?
        };
        match key.trim() {
            "name" => name = Some(value),
            "description" => description = Some(value),
            _ => {}
        }
    }
    let name = name.ok_or("the front matter has no `name`")?;
    let description = description.filter(|d| !d.trim().is_empty()).ok_or("the front matter has no `description`")?;
    validate_name(&name).map_err(|e| e.to_string())?;
    Ok(Skill { name, description, body })
}

fn scalar(value: &str) -> Result<String, String> {
    if value.starts_with('"') {
        return serde_json::from_str::<String>(value).map_err(|e| format!("bad double-quoted value {value}: {e}"));
    }
    if let Some(inner) = value.strip_prefix('\'') {
        let inner = inner.strip_suffix('\'').ok_or_else(|| format!("unterminated quoted value {value}"))?;
        return Ok(inner.replace("''", "'"));
    }
    // A plain scalar ends at a comment.
    Ok(value.split(" #").next().unwrap_or("").trim().to_string())
}

/// The skills in the workspace, sorted by name, and a warning for each directory whose
/// `SKILL.md` is missing or malformed (those are left out, not fatal).
pub fn list_skills(workspace: &Path) -> (Vec<SkillMeta>, Vec<String>) {
    let mut skills = Vec::new();
    let mut warnings = Vec::new();
    let Ok(rd) = std::fs::read_dir(skills_dir(workspace)) else {
        return (skills, warnings);
    };
    let mut dirs: Vec<_> = rd.filter_map(Result::ok).filter(|e| e.path().is_dir()).collect();
    dirs.sort_by_key(|e| e.file_name());
    for d in dirs {
        let path = d.path().join(SKILL_FILE);
        let dir_name = d.file_name().to_string_lossy().into_owned();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                warnings.push(format!("skipped skill `{dir_name}`: cannot read {}: {e}", path.display()));
                continue;
            }
        };
        match parse_skill(&text) {
            Ok(s) if s.name != dir_name => warnings.push(format!(
                "skipped skill `{dir_name}`: {} names it `{}`; the name must match the directory",
                path.display(),
                s.name
            )),
            Ok(s) => skills.push(SkillMeta { name: s.name, description: s.description }),
            Err(reason) => warnings.push(format!("skipped skill `{dir_name}`: {}: {reason}", path.display())),
        }
    }
    (skills, warnings)
}

/// The body of skill `name`. An unknown name is an error that lists the known ones.
pub fn load_skill(workspace: &Path, name: &str) -> Result<String, MemoryError> {
    let path = skill_path(workspace, name)?;
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let known = list_skills(workspace).0.into_iter().map(|s| s.name).collect();
            return Err(MemoryError::UnknownSkill { name: name.to_string(), known });
        }
        Err(source) => return Err(MemoryError::Read { path: path.display().to_string(), source }),
    };
    parse_skill(&text).map(|s| s.body).map_err(|reason| MemoryError::MalformedSkill { path: path.display().to_string(), reason })
}

#[cfg(test)]
#[path = "skills_tests.rs"]
mod tests;
