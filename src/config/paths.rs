//! Where user configuration lives.

use std::path::PathBuf;

/// `$ENDURE_CONFIG_DIR`, else `$XDG_CONFIG_HOME/endure`, else `~/.config/endure`.
pub fn user_config_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("ENDURE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("endure"));
    }
    directories::BaseDirs::new().map(|b| b.home_dir().join(".config").join("endure"))
}
