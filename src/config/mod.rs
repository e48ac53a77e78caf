//! Configuration: layered settings files, and helpers for clear errors about them.

/// Describes a TOML error with its line and column and the offending key, for messages of the
/// form `file:line:col: message`.
pub fn describe_toml_error(text: &str, err: &toml::de::Error) -> String {
    match err.span() {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            format!("{line}:{col}: {}", err.message())
        }
        None => err.message().to_string(),
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

pub mod keymap;
pub mod paths;
pub mod prices;
pub mod problem;
pub mod settings;
pub mod theme;
pub mod ui_check;
