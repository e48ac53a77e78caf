#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use endure::config::keymap::{Action, KeyContext, bundled_keymap_names, load_keymap, parse_key};
use endure::config::problem::ConfigProblem;
use endure::config::theme::{SCOPES, bundled_theme_names, load_theme, parse_color};
use endure::config::ui_check::check_ui;
use ratatui::style::{Color, Modifier, Style};

fn write(dir: &Path, rel: &str, text: &str) -> String {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
    KeyEvent::new(code, mods)
}

fn ch(c: char) -> KeyEvent {
    key(KeyCode::Char(c), KeyModifiers::NONE)
}

/// The one problem reported, asserting it is at `file:line:col` and mentions `needle`.
fn one_problem(problems: &[ConfigProblem], file: &str, line: usize, col: usize, needle: &str) {
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let p = &problems[0];
    assert_eq!((p.file.as_str(), p.line, p.col), (file, line, col), "{p}");
    assert!(p.message.contains(needle), "{p}");
    assert!(p.to_string().starts_with(&format!("{file}:{line}:{col}: ")), "{p}");
}

#[test]
fn every_bundled_theme_and_keymap_loads_without_problems() {
    for name in bundled_theme_names() {
        let (t, problems) = load_theme(name, None);
        assert!(problems.is_empty(), "theme {name}: {problems:#?}");
        assert_eq!(t.name, *name);
        assert!(t.has_color());
    }
    for name in bundled_keymap_names() {
        let (k, problems) = load_keymap(name, None);
        assert!(problems.is_empty(), "keymap {name}: {problems:#?}");
        assert!(!k.bindings(KeyContext::Global).is_empty());
    }
    assert_eq!(check_ui(None), vec![]);
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(check_ui(Some(empty.path())), vec![]);
}

#[test]
fn default_theme_sets_every_scope_and_themes_differ() {
    let (t, _) = load_theme("default", None);
    for scope in SCOPES {
        assert!(t.styles.contains_key(*scope), "default theme lacks `{scope}`");
    }
    let light = load_theme("light", None).0;
    assert_ne!(light.style("ui").bg, t.style("ui").bg);
    assert_eq!(light.syntax, "InspiredGitHub");
    // Inherited scopes resolve against the child's palette.
    assert_eq!(light.style("diff.plus").bg, Some(Color::Rgb(0xda, 0xfb, 0xe1)));
}

#[test]
fn bundled_keymaps_have_no_duplicate_keys_within_a_section() {
    for name in bundled_keymap_names() {
        let (k, _) = load_keymap(name, None);
        for ctx in KeyContext::ALL {
            let b = k.bindings(ctx);
            for (i, x) in b.iter().enumerate() {
                // The first binding for a key must be the one lookup finds, or it is shadowed.
                assert!(b[..i].iter().all(|y| y.keys != x.keys), "{name} [{}]: `{}` bound twice", ctx.as_str(), x.notation);
            }
        }
    }
}

#[test]
fn default_keymap_contract_keys() {
    let (k, _) = load_keymap("default", None);
    let g = |e: KeyEvent| k.lookup(KeyContext::Transcript, &e).map(|b| b.action);
    assert_eq!(g(ch('p')), Some(Action::PauseResume));
    assert_eq!(g(ch('i')), Some(Action::Inject));
    assert_eq!(g(ch('s')), Some(Action::Stop));
    assert_eq!(g(key(KeyCode::Tab, KeyModifiers::NONE)), Some(Action::FocusNext));
    assert_eq!(g(key(KeyCode::BackTab, KeyModifiers::SHIFT)), Some(Action::FocusPrev));
    assert_eq!(g(key(KeyCode::BackTab, KeyModifiers::NONE)), Some(Action::FocusPrev));
    assert_eq!(g(key(KeyCode::Tab, KeyModifiers::SHIFT)), Some(Action::FocusPrev));
    for n in 1..=9u8 {
        assert_eq!(g(ch((b'0' + n) as char)), Some(Action::Focus(n)));
    }
    assert_eq!(g(ch('0')), Some(Action::Focus(10)));
    assert_eq!(g(ch('z')), Some(Action::Maximize));
    assert_eq!(g(ch('?')), Some(Action::Help));
    assert_eq!(g(key(KeyCode::Char('?'), KeyModifiers::SHIFT)), Some(Action::Help));
    assert_eq!(g(ch('/')), Some(Action::Search));
    assert_eq!(g(ch('n')), Some(Action::SearchNext));
    assert_eq!(g(key(KeyCode::Char('N'), KeyModifiers::SHIFT)), Some(Action::SearchPrev));
    assert_eq!(g(key(KeyCode::Char('n'), KeyModifiers::SHIFT)), Some(Action::SearchPrev));
    assert_eq!(g(ch('d')), Some(Action::ToggleDiffMode));
    assert_eq!(g(key(KeyCode::Enter, KeyModifiers::NONE)), Some(Action::Expand));
    assert_eq!(g(ch('q')), Some(Action::Quit));
    // Answering yes belongs to the confirmation layer, so `y` is free elsewhere.
    assert_eq!(k.lookup(KeyContext::Confirm, &ch('y')).map(|b| b.action), Some(Action::Confirm));
    assert_eq!(k.lookup(KeyContext::Memory, &ch('a')).map(|b| b.action), Some(Action::MemoryAccept));
    assert_eq!(k.lookup(KeyContext::Verifier, &ch('a')).map(|b| b.action), Some(Action::VerdictAccept));
    assert_eq!(k.lookup(KeyContext::Transcript, &ch('a')).map(|b| b.action), None, "memory keys are not global any more");
    assert_eq!(g(key(KeyCode::Esc, KeyModifiers::NONE)), Some(Action::Cancel));
    // In the transcript j/k and the arrows move the selection cursor; elsewhere they scroll.
    assert_eq!(g(ch('j')), Some(Action::SelectNext));
    assert_eq!(g(key(KeyCode::Up, KeyModifiers::NONE)), Some(Action::SelectPrev));
    assert_eq!(g(ch('y')), Some(Action::Copy));
    assert_eq!(k.lookup(KeyContext::Diff, &ch('j')).map(|b| b.action), Some(Action::ScrollDown));
    assert_eq!(g(key(KeyCode::PageDown, KeyModifiers::NONE)), Some(Action::PageDown));
    assert_eq!(g(key(KeyCode::Char('G'), KeyModifiers::SHIFT)), Some(Action::Bottom));
    assert_eq!(g(key(KeyCode::Home, KeyModifiers::NONE)), Some(Action::Top));
    assert_eq!(g(ch('[')), Some(Action::TimelinePrev));
    assert_eq!(g(ch(']')), Some(Action::TimelineNext));
    assert_eq!(g(ch('h')), Some(Action::HidePanel));
    // Ctrl changes the key: Ctrl+p is not p.
    assert_eq!(g(key(KeyCode::Char('p'), KeyModifiers::CONTROL)), None);
    let diff = |e: KeyEvent| k.lookup(KeyContext::Diff, &e).map(|b| b.action);
    assert_eq!(diff(key(KeyCode::Char('D'), KeyModifiers::SHIFT)), Some(Action::ToggleDiffScope));
    assert_eq!(diff(ch('p')), Some(Action::PauseResume), "global keys apply in panels");
    let ed = |e: KeyEvent| k.lookup(KeyContext::Editor, &e).map(|b| b.action);
    assert_eq!(ed(key(KeyCode::Char('s'), KeyModifiers::CONTROL)), Some(Action::EditorSend));
    assert_eq!(ed(key(KeyCode::Esc, KeyModifiers::NONE)), Some(Action::EditorCancel));
    assert_eq!(ed(ch('q')), None, "typed letters belong to the editor");
}

#[test]
fn vim_and_emacs_keep_the_contract_keys() {
    for name in ["vim", "emacs"] {
        let (k, _) = load_keymap(name, None);
        let g = |e: KeyEvent| k.lookup(KeyContext::Tasks, &e).map(|b| b.action);
        assert_eq!(g(ch('p')), Some(Action::PauseResume), "{name}");
        assert_eq!(g(ch('q')), Some(Action::Quit), "{name}");
        assert_eq!(g(key(KeyCode::BackTab, KeyModifiers::SHIFT)), Some(Action::FocusPrev), "{name}");
        assert_eq!(
            k.lookup(KeyContext::Editor, &key(KeyCode::Char('s'), KeyModifiers::CONTROL)).map(|b| b.action),
            Some(Action::EditorSend)
        );
    }
    let (emacs, _) = load_keymap("emacs", None);
    assert_eq!(emacs.lookup(KeyContext::Global, &key(KeyCode::Char('v'), KeyModifiers::ALT)).map(|b| b.action), Some(Action::PageUp));
    assert_eq!(
        emacs.lookup(KeyContext::Global, &key(KeyCode::Char('n'), KeyModifiers::CONTROL)).map(|b| b.action),
        Some(Action::ScrollDown)
    );
    let (vim, _) = load_keymap("vim", None);
    assert_eq!(vim.lookup(KeyContext::Global, &key(KeyCode::Char('d'), KeyModifiers::CONTROL)).map(|b| b.action), Some(Action::PageDown));
}

#[test]
fn key_notation() {
    assert_eq!(parse_key("<C-s>").unwrap(), key(KeyCode::Char('s'), KeyModifiers::CONTROL));
    assert_eq!(parse_key("<S-Tab>").unwrap(), key(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(parse_key("<A-<>").unwrap(), key(KeyCode::Char('<'), KeyModifiers::ALT));
    assert_eq!(parse_key("<F12>").unwrap(), key(KeyCode::F(12), KeyModifiers::NONE));
    assert_eq!(parse_key("<space>").unwrap(), ch(' '));
    assert_eq!(parse_key("<S-a>").unwrap(), ch('A'));
    for bad in ["", "Tab", "<Tabb>", "<F13>", "<X-a>", "<>", "ab"] {
        assert!(parse_key(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn keymap_errors_point_at_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "keymaps/default.toml", "[global]\nprepend = [\n  { on = \"x\", run = \"explode\", desc = \"?\" },\n]\n");
    let (k, problems) = load_keymap("default", Some(dir.path()));
    one_problem(&problems, &f, 3, 21, "unknown action `explode`");
    assert_eq!(k.lookup(KeyContext::Global, &ch('p')).map(|b| b.action), Some(Action::PauseResume), "falls back to the bundled keymap");
    assert!(k.lookup(KeyContext::Global, &ch('x')).is_none());

    let f = write(dir.path(), "keymaps/default.toml", "[diff]\nappend = [{ on = [\"g\", \"<Ctrl-x>\"], run = \"top\" }]\n");
    one_problem(&load_keymap("default", Some(dir.path())).1, &f, 2, 24, "bad key notation `<Ctrl-x>`");

    let f = write(
        dir.path(),
        "keymaps/default.toml",
        "[editor]\nkeys = [\n { on = \"a\", run = \"quit\" },\n { on = \"a\", run = \"help\" },\n]\n",
    );
    one_problem(&load_keymap("default", Some(dir.path())).1, &f, 4, 9, "duplicate key `a`");

    let f = write(dir.path(), "keymaps/default.toml", "[global\nkeys = []\n");
    one_problem(&load_keymap("default", Some(dir.path())).1, &f, 1, 8, "");

    let f = write(dir.path(), "keymaps/default.toml", "[panels]\nkeys = []\n");
    one_problem(&load_keymap("default", Some(dir.path())).1, &f, 1, 2, "unknown section `panels`");

    // check_ui reports the same problems, with a snippet available from the file.
    let all = check_ui(Some(dir.path()));
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(all[0].render().contains("1 | [panels]"), "{}", all[0].render());

    let (k, problems) = load_keymap("nope", None);
    assert_eq!(problems.len(), 1);
    assert!(problems[0].message.contains("unknown keymap `nope`"));
    assert!(k.lookup(KeyContext::Global, &ch('q')).is_some());
}

#[test]
fn user_keymap_replaces_prepends_and_appends() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "keymaps/default.toml",
        r#"
[global]
prepend = [{ on = "p", run = "help", desc = "mine" }]
append = [{ on = "<F1>", run = "help", desc = "Help" }]

[diff]
keys = [{ on = "x", run = "toggle_diff_scope", desc = "Scope" }]
"#,
    );
    let (k, problems) = load_keymap("default", Some(dir.path()));
    assert!(problems.is_empty(), "{problems:#?}");
    let g = k.bindings(KeyContext::Global);
    assert_eq!((g[0].notation.as_str(), g[0].action), ("p", Action::Help));
    assert_eq!(k.lookup(KeyContext::Global, &ch('p')).map(|b| b.desc.as_str()), Some("mine"), "prepend wins");
    assert_eq!(g.last().map(|b| b.notation.as_str()), Some("<F1>"));
    assert_eq!(g.len(), load_keymap("default", None).0.bindings(KeyContext::Global).len() + 2);
    let d = k.bindings(KeyContext::Diff);
    assert_eq!(d.len(), 1);
    assert_eq!(k.lookup(KeyContext::Diff, &ch('D')).map(|b| b.action), None, "replaced section drops D");
    assert_eq!(k.bindings(KeyContext::Editor), load_keymap("default", None).0.bindings(KeyContext::Editor), "untouched section kept");

    // A user keymap with a new name applies over the bundled keymap it inherits.
    write(dir.path(), "keymaps/mine.toml", "inherits = \"emacs\"\n[global]\nappend = [{ on = [\"<C-x>\", \"<C-c>\"], run = \"quit\" }]\n");
    let (k, problems) = load_keymap("mine", Some(dir.path()));
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(k.lookup(KeyContext::Global, &key(KeyCode::Char('v'), KeyModifiers::CONTROL)).is_some());
    let seq = [key(KeyCode::Char('x'), KeyModifiers::CONTROL), key(KeyCode::Char('c'), KeyModifiers::CONTROL)];
    assert!(matches!(k.lookup_sequence(KeyContext::Tasks, &seq[..1]), endure::config::keymap::SeqMatch::Prefix));
    match k.lookup_sequence(KeyContext::Tasks, &seq) {
        endure::config::keymap::SeqMatch::Exact(b) => assert_eq!((b.action, b.notation.as_str()), (Action::Quit, "<C-x> <C-c>")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn theme_errors_point_at_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let d = Some(dir.path());
    let f = write(dir.path(), "themes/t.toml", "[styles]\n\"ui.border\" = { fg = \"chartreuse\", modifiers = [\"bold\"] }\n");
    let (t, problems) = load_theme("t", d);
    one_problem(&problems, &f, 2, 22, "unknown colour `chartreuse`");
    assert_eq!(t.name, "default", "falls back to the bundled default");

    let f = write(dir.path(), "themes/t.toml", "[styles]\n\"ui.border\" = { fg = \"red\", modifiers = [\"bold\", \"blinky\"] }\n");
    one_problem(&load_theme("t", d).1, &f, 2, 50, "unknown modifier `blinky`");

    let f = write(dir.path(), "themes/t.toml", "[styles]\n\"ui\" = 300\n");
    one_problem(&load_theme("t", d).1, &f, 2, 8, "0 to 255");

    let f = write(dir.path(), "themes/t.toml", "inherits = \"nosuch\"\n");
    one_problem(&load_theme("t", d).1, &f, 1, 12, "unknown theme `nosuch`");

    let a = write(dir.path(), "themes/a.toml", "# a\ninherits = \"b\"\n");
    write(dir.path(), "themes/b.toml", "inherits = \"a\"\n");
    let problems = load_theme("a", d).1;
    // The cycle closes at b's `inherits`, but a's own file is reported only once.
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].message.contains("inheritance cycle: a -> b -> a"), "{}", problems[0]);
    assert_eq!((problems[0].line, problems[0].col), (1, 12));
    assert!(problems[0].file.ends_with("b.toml"));
    let _ = a;

    let f = write(dir.path(), "themes/t.toml", "[styles\n");
    let problems = load_theme("t", d).1;
    assert_eq!(problems.len(), 1);
    assert_eq!((problems[0].file.as_str(), problems[0].line), (f.as_str(), 1));

    let f = write(dir.path(), "themes/t.toml", "[styles]\n\"uii.border\" = \"red\"\n");
    one_problem(&load_theme("t", d).1, &f, 2, 1, "unknown scope `uii.border`");

    let (t, problems) = load_theme("../etc/passwd", d);
    assert_eq!(problems.len(), 1);
    assert_eq!(t.name, "default");
}

#[test]
fn user_themes_override_and_inherit_bundled_ones() {
    let dir = tempfile::tempdir().unwrap();
    let d = Some(dir.path());
    write(
        dir.path(),
        "themes/default.toml",
        "inherits = \"default\"\n[palette]\nblue = \"#010203\"\n[styles]\n\"ui.dim\" = { fg = 8, modifiers = [\"dim\"] }\n",
    );
    let (t, problems) = load_theme("default", d);
    assert!(problems.is_empty(), "{problems:#?}");
    // The palette override recolours the bundled styles that use it.
    assert_eq!(t.style("ui.border.focused").fg, Some(Color::Rgb(1, 2, 3)));
    assert_eq!(t.style("ui.dim"), Style::default().fg(Color::Indexed(8)).add_modifier(Modifier::DIM));
    assert_eq!(t.style("diff.plus"), load_theme("default", None).0.style("diff.plus"));
    // Bundled themes inherit the bundled default, not the user's.
    assert_ne!(load_theme("light", d).0.style("ui.border.focused").fg, Some(Color::Rgb(1, 2, 3)));

    write(dir.path(), "themes/light.toml", "syntax = \"Solarized (light)\"\n[styles]\n\"ui\" = \"black\"\n");
    let (t, problems) = load_theme("light", d);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(t.style("ui.border.focused"), Style::default().fg(Color::Black), "no inherits: only the user's styles");
    assert_eq!(t.syntax, "Solarized (light)");
}

#[test]
fn styles_fall_back_along_the_dotted_path() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "themes/sparse.toml",
        "[styles]\n\"ui\" = \"white\"\n\"ui.border\" = { fg = \"red\", bg = \"#000000\" }\n[styles.diff]\nplus = \"green\"\n",
    );
    let (t, problems) = load_theme("sparse", Some(dir.path()));
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(t.style("ui.border.focused"), Style::default().fg(Color::Red).bg(Color::Rgb(0, 0, 0)));
    assert_eq!(t.style("ui.title.focused"), Style::default().fg(Color::White));
    // Unquoted nested tables are scopes too.
    assert_eq!(t.style("diff.plus"), Style::default().fg(Color::Green));
    assert_eq!(t.style("diff.minus"), Style::default());
}

#[test]
fn no_color_strips_colours_but_keeps_modifiers() {
    let t = load_theme("default", None).0;
    let mono = t.without_color();
    assert!(!mono.has_color());
    for (scope, s) in &mono.styles {
        assert_eq!((s.fg, s.bg), (None, None), "{scope}");
        assert_eq!(s.add_modifier, t.styles[scope].add_modifier, "{scope}");
    }
    assert!(mono.style("ui.title.focused").add_modifier.contains(Modifier::BOLD));
}

#[test]
fn colour_forms() {
    assert_eq!(parse_color("#ff8000"), Some(Color::Rgb(255, 128, 0)));
    assert_eq!(parse_color("light_blue"), Some(Color::LightBlue));
    assert_eq!(parse_color("dark_gray"), Some(Color::DarkGray));
    assert_eq!(parse_color("reset"), Some(Color::Reset));
    assert_eq!(parse_color("42"), Some(Color::Indexed(42)));
    for bad in ["#ff80", "#gg0000", "256", "chartreuse", ""] {
        assert_eq!(parse_color(bad), None, "{bad}");
    }
}

#[test]
fn notation_round_trips_through_parse_key() {
    for n in ["g", "G", "<C-s>", "<A-Enter>", "<Space>", "<S-Tab>", "<F5>", "<Up>", "<lt>"] {
        let k = parse_key(n).unwrap();
        assert_eq!(parse_key(&endure::config::keymap::notation(&k)).unwrap(), k, "{n}");
    }
}

#[test]
fn bundled_keymaps_have_no_conflicts_and_vim_uses_a_sequence() {
    for name in bundled_keymap_names() {
        let (k, _) = load_keymap(name, None);
        assert!(k.conflicts().is_empty(), "{name}: {:?}", k.conflicts());
    }
    let (vim, _) = load_keymap("vim", None);
    let top = vim.bindings(KeyContext::Global).iter().find(|b| b.action == Action::Top && b.keys.len() == 2).expect("g g");
    assert_eq!(top.notation, "g g");
    assert_eq!(vim.continuations(KeyContext::Transcript, &[ch('g')]), vec![("g".to_string(), "Go to the top".to_string())]);
}

#[test]
fn config_check_reports_conflicts_within_a_layer() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "keymaps/default.toml",
        r#"
[diff]
append = [
  { on = "D", run = "toggle_diff_mode", desc = "Shadowed" },
  { on = ["x", "y"], run = "toggle_diff_mode", desc = "Sequence" },
  { on = "x", run = "expand", desc = "Short" },
]
"#,
    );
    let (k, problems) = load_keymap("default", Some(dir.path()));
    assert!(problems.is_empty(), "{problems:?}");
    let c = k.conflicts();
    assert!(c.iter().any(|m| m.contains("[diff] `D` is bound twice")), "{c:?}");
    assert!(c.iter().any(|m| m.contains("[diff] `x` (Short) shadows the sequence `x y` (Sequence)")), "{c:?}");
    assert_eq!(c.len(), 2, "keys of other layers do not conflict: {c:?}");
    let problems = endure::config::ui_check::check_ui(Some(dir.path()));
    assert!(problems.iter().any(|p| p.message.contains("shadows the sequence")), "{problems:?}");
}
