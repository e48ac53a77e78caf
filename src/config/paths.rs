//! Where user configuration lives.

use std::path::PathBuf;

/// The user's endure configuration directory: `$ENDURE_CONFIG_DIR` when set (tests and
/// portable setups), else `$XDG_CONFIG_HOME/endure`, else `~/.config/endure`.
///
/// `~/.config` is used on every platform rather than the platform's native config folder, so
/// the documented paths are the same everywhere.
pub fn user_config_dir() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = env("ENDURE_CONFIG_DIR") {
        return Some(dir);
    }
    // The XDG spec says relative values are invalid and must be ignored.
    if let Some(xdg) = env("XDG_CONFIG_HOME").filter(|p| p.is_absolute()) {
        return Some(xdg.join("endure"));
    }
    directories::BaseDirs::new().map(|b| b.home_dir().join(".config").join("endure"))
}
