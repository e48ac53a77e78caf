//! Unified and side-by-side diff rendering (skeleton).
use ratatui::text::Line;
use crate::config::theme::Theme;
use super::highlight::Highlighter;

/// +/- counts of a unified diff.
pub fn counts(diff: &str) -> (usize, usize) {
    let _ = diff;
    (0, 0)
}
/// A unified diff (as in `file_changed` events) as styled lines.
pub fn unified(diff: &str, path: &str, theme: &Theme, hl: &Highlighter) -> Vec<Line<'static>> {
    let _ = (path, theme, hl);
    diff.lines().map(|l| Line::raw(l.to_string())).collect()
}
/// The same diff as two columns, old left and new right, each `width / 2` wide.
pub fn side_by_side(diff: &str, path: &str, width: u16, theme: &Theme, hl: &Highlighter) -> Vec<Line<'static>> {
    let _ = (width, path, theme, hl);
    diff.lines().map(|l| Line::raw(l.to_string())).collect()
}
