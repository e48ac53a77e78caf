//! A problem found in a configuration file, positioned for `file:line:col` messages.

use std::fmt;

/// One problem in a configuration file. `line` and `col` are 1-based; 0 means the problem is
/// about the file as a whole (missing, unreadable, unknown name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// The label used as `file` for configuration embedded in the binary.
pub const BUNDLED_PREFIX: &str = "<bundled>/";

impl ConfigProblem {
    /// A problem about a whole file.
    pub fn file(file: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigProblem { file: file.into(), line: 0, col: 0, message: message.into() }
    }

    /// A problem at byte offset `offset` of `text`.
    pub fn at(file: impl Into<String>, text: &str, offset: usize, message: impl Into<String>) -> Self {
        let (line, col) = super::line_col(text, offset);
        ConfigProblem { file: file.into(), line, col, message: message.into() }
    }

    /// A TOML syntax error, positioned where the parser stopped.
    pub fn toml(file: impl Into<String>, text: &str, err: &toml::de::Error) -> Self {
        match err.span() {
            Some(span) => Self::at(file, text, span.start, err.message().trim_end()),
            None => Self::file(file, err.message().trim_end()),
        }
    }

    /// The offending source line with a caret under the column, given the file's text.
    pub fn snippet(&self, source: &str) -> Option<String> {
        if self.line == 0 {
            return None;
        }
        let text = source.lines().nth(self.line - 1)?;
        let gutter = self.line.to_string();
        let pad = " ".repeat(gutter.len());
        // Columns count chars; the caret line reuses the line's own tabs so it lines up.
        let lead: String = text.chars().take(self.col.saturating_sub(1)).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
        Some(format!("{pad} |\n{gutter} | {text}\n{pad} | {lead}^"))
    }

    /// `Display` plus the snippet, reading the file (or the embedded text of a bundled file).
    /// For `endure config check`, where a little I/O per problem is fine.
    pub fn render(&self) -> String {
        let source = match self.file.strip_prefix(BUNDLED_PREFIX) {
            Some(rel) => super::theme::bundled_source(rel).or_else(|| super::keymap::bundled_source(rel)).map(str::to_string),
            None => std::fs::read_to_string(&self.file).ok(),
        };
        match source.as_deref().and_then(|s| self.snippet(s)) {
            Some(snip) => format!("{self}\n{snip}"),
            None => self.to_string(),
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.message)
        }
    }
}

/// A configuration file's label and text, for positioning problems found while walking it.
pub(crate) struct Source {
    pub file: String,
    pub text: String,
}

impl Source {
    pub fn problem(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> ConfigProblem {
        ConfigProblem::at(self.file.clone(), &self.text, span.start, message)
    }

    /// A problem positioned like `problem`, kept for later (theme colours resolve after merging).
    pub fn pos(&self, span: std::ops::Range<usize>) -> Pos {
        let (line, col) = super::line_col(&self.text, span.start);
        Pos { file: self.file.clone(), line, col }
    }
}

/// A remembered position in some configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pos {
    pub file: String,
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub fn problem(&self, message: impl Into<String>) -> ConfigProblem {
        ConfigProblem { file: self.file.clone(), line: self.line, col: self.col, message: message.into() }
    }
}

/// The TOML type of a value, for "expected X, found Y" messages.
pub(crate) fn type_name(v: &toml::de::DeValue<'_>) -> &'static str {
    use toml::de::DeValue as V;
    match v {
        V::String(_) => "a string",
        V::Integer(_) => "an integer",
        V::Float(_) => "a float",
        V::Boolean(_) => "a boolean",
        V::Datetime(_) => "a date-time",
        V::Array(_) => "an array",
        V::Table(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_with_and_without_position() {
        let p = ConfigProblem { file: "a.toml".into(), line: 3, col: 7, message: "bad".into() };
        assert_eq!(p.to_string(), "a.toml:3:7: bad");
        assert_eq!(ConfigProblem::file("a.toml", "missing").to_string(), "a.toml: missing");
    }

    #[test]
    fn snippet_points_at_column() {
        let text = "x = 1\nfg = \"nope\"\n";
        let p = ConfigProblem::at("t.toml", text, text.find("\"nope").unwrap(), "bad colour");
        assert_eq!((p.line, p.col), (2, 6));
        let snip = p.snippet(text).unwrap();
        let lines: Vec<&str> = snip.lines().collect();
        assert_eq!(lines[1], "2 | fg = \"nope\"");
        assert_eq!(lines[2], "  |      ^");
        assert_eq!(ConfigProblem::file("t", "m").snippet(text), None);
    }
}
