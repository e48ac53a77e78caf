//! Markdown to styled lines (skeleton).
use ratatui::text::Line;
use crate::config::theme::Theme;
use super::highlight::Highlighter;

/// Renders Markdown to lines wrapped at `width` columns; code fences are highlighted by language.
pub fn render(text: &str, width: u16, theme: &Theme, hl: &Highlighter) -> Vec<Line<'static>> {
    let _ = (width, theme, hl);
    text.lines().map(|l| Line::raw(l.to_string())).collect()
}
