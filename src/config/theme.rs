//! Themes as data: `themes/*.toml` with a `[palette]` and dotted scopes that fall back along
//! the path (skeleton of the contract; the theme/keymap helper fills the loader).

use ratatui::style::Style;

#[derive(Debug, Clone, Default)]
pub struct Theme {
    pub name: String,
    /// Resolved styles by full scope, e.g. `diff.plus`.
    pub styles: std::collections::HashMap<String, Style>,
    /// The bundled syntect theme that matches this UI theme.
    pub syntax: String,
}

impl Theme {
    /// The style for `scope`, falling back along the dotted path (`ui.border.focused`, then
    /// `ui.border`, then `ui`), and to the default style when nothing matches.
    pub fn style(&self, scope: &str) -> Style {
        let mut s = scope;
        loop {
            if let Some(st) = self.styles.get(s) {
                return *st;
            }
            match s.rfind('.') {
                Some(i) => s = &s[..i],
                None => return Style::default(),
            }
        }
    }
}
