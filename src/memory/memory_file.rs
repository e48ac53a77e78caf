//! Project memory: `MEMORY.md` at the workspace root.
//!
//! The file is meant to be read and edited by people, so it is kept as the lines it was made
//! of: what the user wrote (a title, notes, sections of their own, prose inside a known
//! section) comes back out byte for byte, and only the lines of entries we add are new. The
//! known sections hold bullet entries; each entry we add ends with an HTML comment naming the
//! session it came from, which Markdown viewers hide.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

use super::atomic::write_atomic;
use crate::model::ModelError;

/// The file name, at the workspace root.
pub const MEMORY_FILE: &str = "MEMORY.md";

/// The known sections, in the order a new file lists them.
pub const SECTIONS: [&str; 5] = ["Rules", "Architecture decisions", "Verified knowledge", "Patterns", "Gotchas"];

/// Where updates for a section name we cannot place go. The writer is told to propose only
/// verified facts, so its general notes belong with the other facts.
pub const DEFAULT_SECTION: &str = "Verified knowledge";

/// Past this many entries the file refuses new ones until a dream consolidates it: a memory
/// that only grows ends up too long to be read at every session start.
pub const MAX_ENTRIES: usize = 200;

/// From this many entries on, a merge suggests a dream before the cap is hit.
pub const DREAM_SUGGESTED_AT: usize = MAX_ENTRIES * 9 / 10;

const TEMPLATE_HEAD: &str =
    "# Project memory\n\n<!-- Kept by endure's writer and the supervisor. The agent reads this file but never writes it. -->\n";

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("the writer model failed: {0}")]
    Model(#[from] ModelError),
    /// The writer answered twice with something unusable; `reason` says what was wrong.
    #[error("the writer's {task} answer was unusable after a retry: {reason}")]
    BadAnswer { task: &'static str, reason: String },
    #[error("invalid skill name `{name}`: {reason}")]
    BadSkillName { name: String, reason: String },
    #[error("no skill named `{name}` (known: {})", if known.is_empty() { "none".to_string() } else { known.join(", ") })]
    UnknownSkill { name: String, known: Vec<String> },
    #[error("malformed skill file {path}: {reason}")]
    MalformedSkill { path: String, reason: String },
}

/// One bullet of a known section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's text without the bullet and the source marker (continuation lines joined
    /// with spaces).
    pub text: String,
    /// The session (or sessions, comma-separated) the entry came from, when it says.
    pub source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// Anything that is not an entry, verbatim.
    Text(String),
    /// An entry, with the lines it was parsed from (empty for entries added since, which are
    /// rendered in the canonical form).
    Entry { entry: Entry, raw: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    /// The heading line as written.
    heading: String,
    /// Index into [`SECTIONS`] when the heading names a known section.
    known: Option<usize>,
    lines: Vec<Line>,
}

/// A parsed `MEMORY.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryFile {
    /// Lines before the first heading.
    preamble: Vec<String>,
    sections: Vec<Section>,
    /// Whether the text ended with a newline, so that rendering gives the same bytes back.
    trailing_newline: bool,
    crlf: bool,
}

/// What a merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeReport {
    pub added: u32,
    /// Updates that were already in the file (or twice in the batch).
    pub duplicates: u32,
    /// Updates refused because the file is at [`MAX_ENTRIES`].
    pub refused: u32,
    /// Section names that did not match exactly, with the section they went to.
    pub remapped: Vec<(String, &'static str)>,
    /// True when the file is large enough that a dream should consolidate it.
    pub dream_suggested: bool,
}

// Constant patterns: a failure here is a programming error caught by every test run.
#[allow(clippy::expect_used)]
static MARKER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s*<!--\s*from:\s*(.*?)\s*-->").expect("a valid constant regex"));
#[allow(clippy::expect_used)]
static HEADING: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(#{1,2})\s+(.*?)\s*#*\s*$").expect("a valid constant regex"));

impl Default for MemoryFile {
    fn default() -> Self {
        Self::template()
    }
}

impl MemoryFile {
    /// The file a workspace starts with: a title, a note, and the five empty sections.
    pub fn template() -> MemoryFile {
        let mut text = TEMPLATE_HEAD.to_string();
        for s in SECTIONS {
            text.push_str(&format!("\n## {s}\n"));
        }
        Self::parse(&text)
    }

    pub fn path(workspace: &Path) -> PathBuf {
        workspace.join(MEMORY_FILE)
    }

    /// Reads the workspace's `MEMORY.md`; a missing or blank file gives the template.
    pub fn load(workspace: &Path) -> Result<MemoryFile, MemoryError> {
        let path = Self::path(workspace);
        match std::fs::read_to_string(&path) {
            Ok(text) if text.trim().is_empty() => Ok(Self::template()),
            Ok(text) => Ok(Self::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::template()),
            Err(source) => Err(MemoryError::Read { path: path.display().to_string(), source }),
        }
    }

    /// Writes the file atomically, so a reader never sees half of it.
    pub fn save(&self, workspace: &Path) -> Result<(), MemoryError> {
        let path = Self::path(workspace);
        write_memory_md(&path, self.render().as_bytes()).map_err(|source| MemoryError::Write { path: path.display().to_string(), source })
    }

    /// Parses any text; nothing is an error; what is not understood is kept as text.
    pub fn parse(text: &str) -> MemoryFile {
        let crlf = text.contains("\r\n");
        let trailing_newline = text.ends_with('\n');
        let body = text.strip_suffix('\n').unwrap_or(text);
        let mut file = MemoryFile { preamble: Vec::new(), sections: Vec::new(), trailing_newline, crlf };
        if text.is_empty() {
            return file;
        }
        // A fence marker while inside a fence closes it; `##` lines in code are not headings.
        let mut fence: Option<&str> = None;
        let mut raw_lines: Vec<String> = Vec::new();
        for line in body.split('\n') {
            let line = if crlf { line.strip_suffix('\r').unwrap_or(line) } else { line };
            raw_lines.push(line.to_string());
        }
        let mut current: Option<(String, Option<usize>, Vec<String>)> = None;
        for line in &raw_lines {
            let trimmed = line.trim_start();
            let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
            match (fence, marker) {
                (None, Some(m)) => fence = Some(m),
                (Some(f), Some(m)) if f == m => fence = None,
                _ => {}
            }
            let heading = if fence.is_none() && marker.is_none() { HEADING.captures(line) } else { None };
            if let Some(caps) = heading {
                if let Some((h, k, lines)) = current.take() {
                    file.sections.push(Section { heading: h, known: k, lines: parse_lines(&lines, k.is_some()) });
                }
                let level2 = caps.get(1).is_some_and(|m| m.as_str().len() == 2);
                let title = caps.get(2).map(|m| m.as_str()).unwrap_or("");
                let known = if level2 { known_index(title) } else { None };
                current = Some((line.clone(), known, Vec::new()));
            } else if let Some((_, _, lines)) = current.as_mut() {
                lines.push(line.clone());
            } else {
                file.preamble.push(line.clone());
            }
        }
        if let Some((h, k, lines)) = current.take() {
            file.sections.push(Section { heading: h, known: k, lines: parse_lines(&lines, k.is_some()) });
        }
        file
    }

    /// The file as text; a parsed file that was not changed renders to exactly its input
    /// (for files with consistent line endings).
    pub fn render(&self) -> String {
        let mut lines: Vec<String> = self.preamble.clone();
        for s in &self.sections {
            lines.push(s.heading.clone());
            for l in &s.lines {
                match l {
                    Line::Text(t) => lines.push(t.clone()),
                    Line::Entry { raw, .. } if !raw.is_empty() => lines.extend(raw.iter().cloned()),
                    Line::Entry { entry, .. } => lines.push(render_entry(entry)),
                }
            }
        }
        let nl = if self.crlf { "\r\n" } else { "\n" };
        let mut out = lines.join(nl);
        if self.trailing_newline {
            out.push_str(nl);
        }
        out
    }

    /// Known sections the file does not have.
    pub fn missing_sections(&self) -> Vec<&'static str> {
        SECTIONS.iter().enumerate().filter(|(i, _)| !self.sections.iter().any(|s| s.known == Some(*i))).map(|(_, s)| *s).collect()
    }

    /// The entries of a known section (by its canonical name), in file order. A section that
    /// appears twice contributes both of its parts.
    pub fn entries(&self, section: &str) -> Vec<&Entry> {
        let Some(idx) = known_index(section) else { return Vec::new() };
        self.sections
            .iter()
            .filter(|s| s.known == Some(idx))
            .flat_map(|s| s.lines.iter())
            .filter_map(|l| match l {
                Line::Entry { entry, .. } => Some(entry),
                Line::Text(_) => None,
            })
            .collect()
    }

    /// Entries in the known sections; what the size cap counts.
    pub fn entry_count(&self) -> usize {
        SECTIONS.iter().map(|s| self.entries(s).len()).sum()
    }

    /// Entries that name the session they came from.
    pub fn sourced_entry_count(&self) -> usize {
        SECTIONS.iter().flat_map(|s| self.entries(s)).filter(|e| e.source.is_some()).count()
    }

    /// Whether the file is big enough that a dream should consolidate it.
    pub fn needs_dream(&self) -> bool {
        self.entry_count() >= DREAM_SUGGESTED_AT
    }

    /// Adds updates (section name → entry texts) from `source`; returns how many were added.
    /// See [`MemoryFile::merge`] for what else happened.
    pub fn merge_updates(&mut self, updates: &BTreeMap<String, Vec<String>>, source: &str) -> u32 {
        self.merge(updates, source).added
    }

    /// Adds updates to their sections, skipping texts already present (compared normalised,
    /// across the whole file), and refusing new entries once the file holds [`MAX_ENTRIES`].
    /// Section names are matched case-insensitively and with a few aliases; names that still
    /// do not match go to [`DEFAULT_SECTION`] and are reported.
    pub fn merge(&mut self, updates: &BTreeMap<String, Vec<String>>, source: &str) -> MergeReport {
        let mut report = MergeReport::default();
        let mut seen: HashSet<String> = self
            .sections
            .iter()
            .flat_map(|s| s.lines.iter())
            .filter_map(|l| match l {
                Line::Entry { entry, .. } => Some(normalize(&entry.text)),
                Line::Text(_) => None,
            })
            .collect();
        let source = clean_source(source);
        let mut count = self.entry_count();
        for (name, texts) in updates {
            let idx = match section_for(name) {
                (idx, true) => idx,
                (idx, false) => {
                    report.remapped.push((name.clone(), SECTIONS[idx]));
                    idx
                }
            };
            for text in texts {
                let text = clean_text(text);
                let key = normalize(&text);
                if key.is_empty() {
                    continue;
                }
                if !seen.insert(key) {
                    report.duplicates += 1;
                    continue;
                }
                if count >= MAX_ENTRIES {
                    report.refused += 1;
                    continue;
                }
                let entry = Entry { text, source: (!source.is_empty()).then(|| source.clone()) };
                self.push_entry(idx, entry);
                count += 1;
                report.added += 1;
            }
        }
        report.dream_suggested = report.refused > 0 || count >= DREAM_SUGGESTED_AT;
        report
    }

    /// Appends an entry after the last entry of the section (or after its prose), keeping one
    /// blank line before whatever follows.
    fn push_entry(&mut self, idx: usize, entry: Entry) {
        let pos = match self.sections.iter().position(|s| s.known == Some(idx)) {
            Some(p) => p,
            None => {
                // Keep a blank line between the previous content and the new heading.
                let last_blank = match self.sections.last() {
                    Some(s) => s.lines.last().is_none_or(|l| matches!(l, Line::Text(t) if t.trim().is_empty())),
                    None => self.preamble.last().is_none_or(|l| l.trim().is_empty()),
                };
                if !last_blank {
                    match self.sections.last_mut() {
                        Some(s) => s.lines.push(Line::Text(String::new())),
                        None => self.preamble.push(String::new()),
                    }
                }
                self.sections.push(Section { heading: format!("## {}", SECTIONS[idx]), known: Some(idx), lines: Vec::new() });
                self.sections.len() - 1
            }
        };
        // A changed file always ends with a newline, even if the hand-written one did not.
        self.trailing_newline = true;
        let is_last = pos + 1 == self.sections.len();
        let lines = &mut self.sections[pos].lines;
        let new = Line::Entry { entry, raw: Vec::new() };
        if let Some(last) = lines.iter().rposition(|l| matches!(l, Line::Entry { .. })) {
            lines.insert(last + 1, new);
            return;
        }
        let content_end = lines.iter().rposition(|l| !matches!(l, Line::Text(t) if t.trim().is_empty()));
        let trailing = lines.len() - content_end.map_or(0, |e| e + 1);
        lines.truncate(lines.len() - trailing);
        // A blank line after the heading or the prose, the entry, then the blank line(s) that
        // separated the section from the next one.
        lines.push(Line::Text(String::new()));
        lines.push(new);
        let blanks = if is_last { trailing } else { trailing.max(1) };
        lines.extend(std::iter::repeat_n(Line::Text(String::new()), blanks));
    }
}

fn parse_lines(lines: &[String], entries: bool) -> Vec<Line> {
    let mut out = Vec::new();
    let mut fence = false;
    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = !fence;
        }
        let bullet = line.strip_prefix("- ").or_else(|| line.strip_prefix("* "));
        match bullet {
            Some(first) if entries && !fence => {
                let mut raw = vec![line.clone()];
                let mut text = first.trim().to_string();
                // Indented lines that follow continue the bullet.
                while let Some(next) = lines.get(i + 1) {
                    if next.trim().is_empty() || !next.starts_with([' ', '\t']) {
                        break;
                    }
                    raw.push(next.clone());
                    text.push(' ');
                    text.push_str(next.trim());
                    i += 1;
                }
                let (text, source) = split_marker(&text);
                out.push(Line::Entry { entry: Entry { text, source }, raw });
            }
            _ => out.push(Line::Text(line.clone())),
        }
        i += 1;
    }
    out
}

/// Separates the `<!-- from: … -->` marker from an entry's text.
fn split_marker(text: &str) -> (String, Option<String>) {
    let Some(caps) = MARKER.captures(text) else { return (text.trim().to_string(), None) };
    let source = caps.get(1).map(|m| m.as_str().trim().to_string()).filter(|s| !s.is_empty());
    let whole = caps.get(0).map_or(0..0, |m| m.range());
    let mut rest = String::with_capacity(text.len());
    rest.push_str(&text[..whole.start]);
    rest.push_str(&text[whole.end..]);
    (rest.trim().to_string(), source)
}

pub fn render_entry(entry: &Entry) -> String {
    match &entry.source {
        Some(s) => format!("- {} <!-- from: {s} -->", entry.text),
        None => format!("- {}", entry.text),
    }
}

/// The canonical section for a heading or update key, if it names one.
fn known_index(title: &str) -> Option<usize> {
    let t = canon(title);
    SECTIONS.iter().position(|s| canon(s) == t)
}

fn canon(name: &str) -> String {
    name.trim()
        .trim_start_matches('#')
        .chars()
        .map(|c| if c == '_' || c == '-' { ' ' } else { c.to_ascii_lowercase() })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The section an update key goes to, and whether the key named it exactly.
fn section_for(name: &str) -> (usize, bool) {
    if let Some(i) = known_index(name) {
        return (i, true);
    }
    let alias = match canon(name).as_str() {
        "rule" | "directives" | "conventions" | "constraints" => "Rules",
        "architecture" | "decisions" | "architecture decision" | "design decisions" => "Architecture decisions",
        "knowledge" | "facts" | "verified" | "verified facts" => "Verified knowledge",
        "pattern" | "workflows" | "recipes" => "Patterns",
        "gotcha" | "pitfalls" | "warnings" | "errors and fixes" => "Gotchas",
        _ => DEFAULT_SECTION,
    };
    (known_index(alias).unwrap_or(2), false)
}

/// Entry text on one line, without a bullet the writer may have included, and without
/// comment delimiters that would break (or forge) the source marker.
fn clean_text(text: &str) -> String {
    let one = text.replace("<!--", " ").replace("-->", " ");
    let one = one.split_whitespace().collect::<Vec<_>>().join(" ");
    let one = one.as_str();
    let one = one.strip_prefix("- ").or_else(|| one.strip_prefix("* ")).unwrap_or(one);
    one.trim().to_string()
}

fn clean_source(source: &str) -> String {
    source.split_whitespace().collect::<Vec<_>>().join(" ").replace("--", "-").replace('>', "")
}

/// The text two entries are compared by: case, punctuation and spacing do not matter.
pub fn normalize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_alphanumeric() { c.to_lowercase().next().unwrap_or(c) } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes MEMORY.md atomically as endure: every write of project memory goes through here, so
/// the sandbox's guard can tell endure's writes from a command's.
pub fn write_memory_md(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic(path, bytes)?;
    crate::sandbox::note_memory_written(path);
    Ok(())
}

#[cfg(test)]
#[path = "memory_file_tests.rs"]
mod tests;
