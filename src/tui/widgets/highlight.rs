//! Syntax highlighting with syntect, following the UI theme.
use std::sync::OnceLock;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, HighlightState, Theme as SynTheme, ThemeSet};
use syntect::parsing::{ParseState, SyntaxReference, SyntaxSet};
use syntect::util::LinesWithEndings;

use crate::config::theme::{DEFAULT_SYNTAX, Theme};
use crate::tui::text::expand_tabs;

// Loading syntect's dumps takes tens of milliseconds (far more in debug builds), so every
// Highlighter in the process shares one copy.
fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(SyntaxSet::load_defaults_newlines)
}

fn themes() -> &'static ThemeSet {
    static SET: OnceLock<ThemeSet> = OnceLock::new();
    SET.get_or_init(ThemeSet::load_defaults)
}

/// Where highlighting a code block stopped: syntect's state after its last line (None when
/// the block is not highlighted, whose lines need no state).
#[derive(Debug, Clone, PartialEq)]
pub struct CodeState(Option<(HighlightState, ParseState)>);

/// Styled text of one source line: (text, style) pieces.
pub type StyledLine = Vec<(String, Style)>;

pub struct Highlighter {
    /// None when the UI theme has no colours (NO_COLOR): code is then shown in the plain
    /// code style, never in syntect's colours.
    theme: Option<&'static SynTheme>,
    code_style: Style,
}

impl Highlighter {
    /// Loads syntaxes and the syntect theme named by `theme.syntax` (expensive: build once).
    /// An unknown syntect theme name falls back to `base16-ocean.dark`.
    pub fn new(theme: &Theme) -> Highlighter {
        let set = themes();
        let syn = set.themes.get(&theme.syntax).or_else(|| set.themes.get(DEFAULT_SYNTAX));
        let syn = if theme.has_color() { syn } else { None };
        Highlighter { theme: syn, code_style: theme.style("markdown.code") }
    }

    /// Highlights `code` for a language name or file extension (`rust`, `py`, `src/a.ts`).
    /// Unknown languages give plain lines in the `markdown.code` style. Tabs are expanded.
    pub fn highlight(&self, code: &str, lang: &str) -> Vec<Line<'static>> {
        self.highlight_from(code, lang, None).0
    }

    /// Like `highlight`, going on from where highlighting the block's earlier lines stopped
    /// (`None`: its start), and saying where these lines leave it. Syntect reads lines forward
    /// only, so lines highlighted in pieces cut after a newline get the colours of the whole.
    pub fn highlight_from(&self, code: &str, lang: &str, from: Option<CodeState>) -> (Vec<Line<'static>>, CodeState) {
        let base = self.code_style;
        match self.styled_from(code, lang, from.and_then(|s| s.0)) {
            Some((lines, state)) => {
                let lines = lines
                    .into_iter()
                    .map(|l| Line::from(l.into_iter().map(|(t, s)| Span::styled(t, base.patch(s))).collect::<Vec<_>>()))
                    .collect();
                (lines, CodeState(Some(state)))
            }
            None => {
                let lines = code
                    .lines()
                    .map(|l| {
                        let mut col = 0;
                        Line::from(Span::styled(expand_tabs(l, &mut col), base))
                    })
                    .collect();
                (lines, CodeState(None))
            }
        }
    }

    /// Syntax styles only (foreground and font style, no background), one entry per line of
    /// `code`, for callers that lay syntax over their own base style (diffs). None when the
    /// language is unknown or colours are off.
    pub fn highlight_styled(&self, code: &str, lang: &str) -> Option<Vec<StyledLine>> {
        self.styled_from(code, lang, None).map(|(lines, _)| lines)
    }

    fn styled_from(
        &self,
        code: &str,
        lang: &str,
        from: Option<(HighlightState, ParseState)>,
    ) -> Option<(Vec<StyledLine>, (HighlightState, ParseState))> {
        let theme = self.theme?;
        let syntax = find_syntax(lang)?;
        let mut hl = match from {
            Some((h, p)) => HighlightLines::from_state(theme, h, p),
            None => HighlightLines::new(syntax, theme),
        };
        let mut out = Vec::new();
        for line in LinesWithEndings::from(code) {
            let mut col = 0;
            let pieces = match hl.highlight_line(line, syntaxes()) {
                Ok(p) => p,
                // A syntect failure loses colour for this line, not the line itself.
                Err(_) => vec![(syntect::highlighting::Style::default(), line)],
            };
            let styled: StyledLine = pieces
                .into_iter()
                .map(|(st, text)| {
                    let text = text.trim_end_matches(['\n', '\r']);
                    (expand_tabs(text, &mut col), convert(st))
                })
                .filter(|(t, _)| !t.is_empty())
                .collect();
            out.push(styled);
        }
        Some((out, hl.state()))
    }

    /// Whether `lang` names a language this highlighter knows.
    pub fn knows(&self, lang: &str) -> bool {
        find_syntax(lang).is_some()
    }
}

fn convert(st: syntect::highlighting::Style) -> Style {
    let mut s = Style::default();
    if st.foreground.a > 0 {
        s = s.fg(Color::Rgb(st.foreground.r, st.foreground.g, st.foreground.b));
    }
    if st.font_style.contains(FontStyle::BOLD) {
        s = s.add_modifier(Modifier::BOLD);
    }
    if st.font_style.contains(FontStyle::ITALIC) {
        s = s.add_modifier(Modifier::ITALIC);
    }
    if st.font_style.contains(FontStyle::UNDERLINE) {
        s = s.add_modifier(Modifier::UNDERLINED);
    }
    s
}

/// A language token (`rust`, `Python`, `rs`), or a path whose file name or extension says it.
fn find_syntax(lang: &str) -> Option<&'static SyntaxReference> {
    let set = syntaxes();
    let lang = lang.trim();
    if lang.is_empty() {
        return None;
    }
    let file = lang.rsplit(['/', '\\']).next().unwrap_or(lang);
    let ext = file.rsplit_once('.').map(|(_, e)| e).filter(|e| !e.is_empty());
    let found = set
        .find_syntax_by_token(lang)
        .or_else(|| set.find_syntax_by_extension(file))
        .or_else(|| ext.and_then(|e| set.find_syntax_by_extension(e)))
        .or_else(|| ext.and_then(|e| set.find_syntax_by_token(e)))?;
    // Plain Text would only replace the code style with the syntect theme's default colour.
    (found.name != "Plain Text").then_some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn theme() -> Theme {
        crate::config::theme::load_theme("default", None).0
    }

    #[test]
    fn finds_languages_by_token_name_extension_and_path() {
        for lang in ["rust", "Rust", "rs", "src/main.rs", "py", "a/b/script.py", "Makefile", "sh"] {
            assert!(find_syntax(lang).is_some(), "{lang}");
        }
        for lang in ["", "no-such-language", "README", "txt"] {
            assert!(find_syntax(lang).is_none(), "{lang}");
        }
    }

    #[test]
    fn highlights_known_code_with_several_colours() {
        let hl = Highlighter::new(&theme());
        let lines = hl.highlight("fn main() {\n    let x = \"s\";\n}\n", "rust");
        assert_eq!(lines.len(), 3);
        let colours: std::collections::HashSet<_> = lines.iter().flat_map(|l| l.spans.iter().filter_map(|s| s.style.fg)).collect();
        assert!(colours.len() >= 2, "{colours:?}");
        assert_eq!(lines[1].to_string(), "    let x = \"s\";");
    }

    #[test]
    fn unknown_language_uses_code_style_and_no_color_drops_syntax_colours() {
        let t = theme();
        let hl = Highlighter::new(&t);
        let lines = hl.highlight("a\tb\nc", "klingon");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].to_string(), "a   b");
        assert_eq!(lines[0].spans[0].style, t.style("markdown.code"));

        let mono = t.without_color();
        let hl = Highlighter::new(&mono);
        let lines = hl.highlight("fn main() {}\n", "rust");
        assert!(lines.iter().flat_map(|l| &l.spans).all(|s| s.style.fg.is_none() && s.style.bg.is_none()));
    }
}
