//! `endure config check` for the UI: every bundled and user theme and keymap, loaded for real.

use std::path::Path;

use super::keymap::{bundled_keymap_names, load_keymap, user_keymap_names};
use super::problem::ConfigProblem;
use super::theme::{bundled_theme_names, load_theme, user_theme_names};

/// Loads every bundled and user theme and keymap and returns every problem, each once (a
/// broken parent would otherwise be reported by every theme inheriting it).
pub fn check_ui(user_dir: Option<&Path>) -> Vec<ConfigProblem> {
    let mut themes: Vec<String> = bundled_theme_names().iter().map(|s| s.to_string()).collect();
    themes.extend(user_theme_names(user_dir));
    let mut keymaps: Vec<String> = bundled_keymap_names().iter().map(|s| s.to_string()).collect();
    keymaps.extend(user_keymap_names(user_dir));

    let mut out: Vec<ConfigProblem> = Vec::new();
    let mut add = |problems: Vec<ConfigProblem>| {
        for p in problems {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    };
    for name in dedup(themes) {
        add(load_theme(&name, user_dir).1);
    }
    for name in dedup(keymaps) {
        let (km, problems) = load_keymap(&name, user_dir);
        add(problems);
        add(km.conflicts().into_iter().map(|c| ConfigProblem::file(format!("keymap {name}"), c)).collect());
    }
    out
}

fn dedup(mut names: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}
