//! Themes as data: `themes/*.toml` with a `[palette]` and dotted scopes that fall back along
//! the path.
//!
//! File format (every key optional):
//!
//! ```toml
//! inherits = "default"          # merge this theme's palette and styles over another theme
//! syntax = "base16-ocean.dark"  # the bundled syntect theme for code (see SYNTAX_THEMES)
//! [palette]
//! accent = "#89b4fa"
//! [styles]
//! "ui.border" = "gray"                                   # fg only
//! "ui.title.focused" = { fg = "accent", bg = "reset", modifiers = ["bold"] }
//! ```
//!
//! Colours are a palette name, an ANSI name (`red`, `light_blue`, `dark_gray`, `reset`...),
//! `#rrggbb`, or an index 0-255. Palette names win over ANSI names, so a theme can retune `red`.
//! Style colours resolve against the final merged palette, so a child theme that changes a
//! palette entry recolours the parent's styles too. A child's style replaces the parent's style
//! for that scope whole (fields are not merged).
//!
//! User themes live in `<user config dir>/themes/NAME.toml` and are found before bundled ones.
//! A user theme's `inherits` also looks in the user directory first, except that a user theme
//! may inherit the bundled theme of its own name (a user `default.toml` with
//! `inherits = "default"` tweaks the bundled default). Bundled themes only inherit bundled ones.
//!
//! `NO_COLOR` is not applied by [`load_theme`], which reads no environment: callers check
//! [`no_color_requested`] and use [`Theme::without_color`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::problem::{BUNDLED_PREFIX, ConfigProblem, Pos, Source, type_name};

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

    /// The same theme with every colour removed and modifiers kept, for `NO_COLOR`.
    pub fn without_color(&self) -> Theme {
        let styles = self
            .styles
            .iter()
            .map(|(k, s)| {
                let mut s = *s;
                s.fg = None;
                s.bg = None;
                s.underline_color = None;
                (k.clone(), s)
            })
            .collect();
        Theme { name: self.name.clone(), styles, syntax: self.syntax.clone() }
    }

    /// Whether any style sets a colour; false for [`Theme::without_color`] themes, which tells
    /// the highlighter not to add syntax colours either.
    pub fn has_color(&self) -> bool {
        self.styles.values().any(|s| s.fg.is_some() || s.bg.is_some())
    }
}

/// `NO_COLOR` is set and non-empty (<https://no-color.org>).
pub fn no_color_requested() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Every scope the workbench styles, exactly: `src/tui/scopes_tests.rs` fails when the
/// workbench names a scope missing here or this lists one nothing uses, and the default theme
/// sets each one explicitly (`tests/theme_keymap.rs`).
pub const SCOPES: &[&str] = &[
    // The base style under everything: the frame is filled with it first.
    "ui",
    "ui.border",
    "ui.border.focused",
    "ui.title",
    "ui.title.focused",
    "ui.tab",
    "ui.tab.active",
    "ui.selection",
    "ui.dim",
    "ui.banner.error",
    "ui.flash",
    "ui.error",
    "ui.confirm",
    "ui.help.section",
    "ui.help.key",
    "ui.help.desc",
    "ui.search.match",
    "ui.search.current",
    "ui.search.input",
    "ui.statusbar",
    "ui.statusbar.key",
    "ui.replay",
    "ui.timeline",
    // Checkpoint field names, checkpoints a rollback abandoned, the MEMORY.md proposal banner
    // and the MEMORY.md conflict view's title and choices.
    "ui.field",
    "ui.abandoned",
    "ui.proposal",
    "ui.conflict",
    "status.idle",
    "status.running",
    "status.waiting",
    "status.paused",
    "status.stalled",
    "status.done",
    "status.failed",
    "gauge.fill",
    "gauge.high",
    "gauge.mark",
    "gauge.mark.fired",
    "gauge.empty",
    "transcript.user",
    "transcript.user.header",
    "transcript.assistant.header",
    "transcript.tool.name",
    "transcript.tool.target",
    "transcript.tool.args",
    "transcript.tool.output",
    "transcript.tool.running",
    "transcript.tool.ok",
    "transcript.tool.error",
    "transcript.correction",
    "transcript.correction.pending",
    "transcript.correction.queued",
    "transcript.correction.delivered",
    "transcript.notice.info",
    "transcript.notice.warning",
    "transcript.notice.error",
    "transcript.new_marker",
    "markdown.heading",
    "markdown.code",
    "markdown.emphasis",
    "markdown.strong",
    "markdown.list",
    "markdown.quote",
    "markdown.link",
    "tasks.pending",
    "tasks.active",
    "tasks.done",
    "diff.file",
    "diff.header",
    "diff.hunk",
    "diff.context",
    "diff.plus",
    "diff.minus",
    // Max Mode markers and overhead cost in the status bar.
    "status.max",
    "status.overhead",
    // Max Mode candidates: the judge's pick, the one executing, a failed one, and the call to
    // pick while the run waits for the supervisor.
    "candidate.judge",
    "candidate.picked",
    "candidate.failed",
    "candidate.waiting",
    // Goal-verifier verdicts and the supervisor's override of one.
    "verdict.met",
    "verdict.unmet",
    "verdict.override",
    // The Endurance panel's figure, series and marks.
    "endurance.figure",
    "endurance.context",
    "endurance.checkpoint",
    "endurance.rollover",
    "endurance.intervention",
    "endurance.tests",
    "endurance.quality",
    "endurance.stall",
];

/// The first segment of every valid scope (of every [`SCOPES`] entry); anything else is almost
/// surely a typo.
const SCOPE_ROOTS: &[&str] = &["ui", "status", "gauge", "transcript", "markdown", "tasks", "diff", "candidate", "verdict", "endurance"];

/// The syntect themes bundled in the binary, valid values of `syntax`.
pub const SYNTAX_THEMES: &[&str] = &[
    "base16-ocean.dark",
    "base16-eighties.dark",
    "base16-mocha.dark",
    "base16-ocean.light",
    "InspiredGitHub",
    "Solarized (dark)",
    "Solarized (light)",
];

pub const DEFAULT_SYNTAX: &str = "base16-ocean.dark";

const BUNDLED: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("high-contrast", include_str!("../../themes/high-contrast.toml")),
    ("catppuccin-mocha", include_str!("../../themes/catppuccin-mocha.toml")),
];

pub fn bundled_theme_names() -> &'static [&'static str] {
    &["default", "light", "high-contrast", "catppuccin-mocha"]
}

/// The embedded text of `themes/NAME.toml`, for snippets in problem reports.
pub(crate) fn bundled_source(rel: &str) -> Option<&'static str> {
    let name = rel.strip_prefix("themes/")?.strip_suffix(".toml")?;
    BUNDLED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Names of the user's themes (`themes/*.toml` in `user_dir`), sorted.
pub fn user_theme_names(user_dir: Option<&Path>) -> Vec<String> {
    super::keymap::toml_stems(user_dir.map(|d| d.join("themes")).as_deref())
}

/// Loads theme `name`, always returning a usable theme. If anything in the theme or its parents
/// is wrong, every problem found is returned along with a fallback: the bundled theme of that
/// name when there is one, else the bundled default.
pub fn load_theme(name: &str, user_dir: Option<&Path>) -> (Theme, Vec<ConfigProblem>) {
    let mut loader = Loader { user_dir, problems: Vec::new(), stack: Vec::new() };
    let theme = loader.load(name, None, true).and_then(|layer| {
        let theme = layer.resolve(name, &mut loader.problems);
        loader.problems.is_empty().then_some(theme)
    });
    match theme {
        Some(t) => (t, loader.problems),
        None => (fallback(name), loader.problems),
    }
}

fn fallback(name: &str) -> Theme {
    let mut candidates = Vec::new();
    if bundled_source(&format!("themes/{name}.toml")).is_some() {
        candidates.push(name);
    }
    candidates.push("default");
    for n in candidates {
        let mut loader = Loader { user_dir: None, problems: Vec::new(), stack: Vec::new() };
        if let Some(layer) = loader.load(n, None, false) {
            let t = layer.resolve(n, &mut loader.problems);
            if loader.problems.is_empty() {
                return t;
            }
        }
    }
    // Unreachable while the bundled default is valid, which a test enforces.
    Theme { name: "default".into(), styles: HashMap::new(), syntax: DEFAULT_SYNTAX.into() }
}

/// Parses a literal colour: ANSI name, `#rrggbb`, or `0`-`255`.
pub fn parse_color(s: &str) -> Option<Color> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix('#') {
        if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let v = u32::from_str_radix(hex, 16).ok()?;
        return Some(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
    }
    if let Ok(i) = s.parse::<u8>() {
        return Some(Color::Indexed(i));
    }
    let c = match s.to_ascii_lowercase().replace('-', "_").as_str() {
        "reset" | "default" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "dark_gray" | "dark_grey" => Color::DarkGray,
        "light_red" => Color::LightRed,
        "light_green" => Color::LightGreen,
        "light_yellow" => Color::LightYellow,
        "light_blue" => Color::LightBlue,
        "light_magenta" => Color::LightMagenta,
        "light_cyan" => Color::LightCyan,
        "white" => Color::White,
        _ => return None,
    };
    Some(c)
}

fn parse_modifier(s: &str) -> Option<Modifier> {
    Some(match s {
        "bold" => Modifier::BOLD,
        "dim" => Modifier::DIM,
        "italic" => Modifier::ITALIC,
        "underlined" => Modifier::UNDERLINED,
        "slow_blink" => Modifier::SLOW_BLINK,
        "rapid_blink" => Modifier::RAPID_BLINK,
        "reversed" => Modifier::REVERSED,
        "hidden" => Modifier::HIDDEN,
        "crossed_out" => Modifier::CROSSED_OUT,
        _ => return None,
    })
}

const MODIFIER_NAMES: &str = "bold, italic, underlined, dim, reversed, crossed_out, slow_blink, rapid_blink, hidden";

/// A colour as written, resolved once the palette of the whole inheritance chain is known.
#[derive(Debug, Clone)]
enum RawColor {
    Index(Option<u8>, Pos),
    Text(String, Pos),
}

#[derive(Debug, Clone, Default)]
struct RawStyle {
    fg: Option<RawColor>,
    bg: Option<RawColor>,
    modifiers: Modifier,
}

/// One theme merged over its parents, with colours still unresolved.
#[derive(Debug, Default)]
struct Layer {
    palette: BTreeMap<String, Color>,
    styles: BTreeMap<String, RawStyle>,
    syntax: Option<String>,
}

impl Layer {
    fn resolve(self, name: &str, problems: &mut Vec<ConfigProblem>) -> Theme {
        let mut color = |raw: &Option<RawColor>| -> Option<Color> {
            match raw.as_ref()? {
                RawColor::Index(Some(i), _) => Some(Color::Indexed(*i)),
                RawColor::Index(None, pos) => {
                    problems.push(pos.problem("colour index must be from 0 to 255"));
                    None
                }
                RawColor::Text(s, pos) => {
                    let c = self.palette.get(s).copied().or_else(|| parse_color(s));
                    if c.is_none() {
                        problems.push(pos.problem(format!(
                            "unknown colour `{s}`: not a [palette] name, an ANSI name (red, light_blue, dark_gray, reset, ...), #rrggbb, or 0-255"
                        )));
                    }
                    c
                }
            }
        };
        let mut styles = HashMap::new();
        for (scope, raw) in &self.styles {
            let mut st = Style::default().add_modifier(raw.modifiers);
            st.fg = color(&raw.fg);
            st.bg = color(&raw.bg);
            styles.insert(scope.clone(), st);
        }
        let syntax = self.syntax.unwrap_or_else(|| DEFAULT_SYNTAX.to_string());
        Theme { name: name.to_string(), styles, syntax }
    }
}

struct Loader<'a> {
    user_dir: Option<&'a Path>,
    problems: Vec<ConfigProblem>,
    /// The chain being loaded, as (name, file label), for cycle detection.
    stack: Vec<(String, String)>,
}

/// Theme and keymap names become file names, so they must not reach outside the directory.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl Loader<'_> {
    /// Loads `name` and its parents. `at` is where the name was asked for (an `inherits`
    /// value), to position "unknown" and "cycle" problems. None means problems were recorded.
    fn load(&mut self, name: &str, at: Option<&Pos>, user_allowed: bool) -> Option<Layer> {
        let user_path: Option<PathBuf> = self.user_dir.filter(|_| user_allowed).map(|d| d.join("themes").join(format!("{name}.toml")));
        let report = |this: &mut Self, msg: String| {
            let p = match at {
                Some(pos) => pos.problem(msg),
                None => ConfigProblem::file(
                    user_path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| format!("theme `{name}`")),
                    msg,
                ),
            };
            this.problems.push(p);
        };
        if !valid_name(name) {
            report(self, format!("invalid theme name `{name}` (use letters, digits, `-`, `_`, `.`)"));
            return None;
        }
        let bundled = BUNDLED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t);
        let bundled_label = format!("{BUNDLED_PREFIX}themes/{name}.toml");
        let user = user_path.as_ref().filter(|p| p.is_file());
        let on_stack = |label: &str| self.stack.iter().any(|(_, l)| l == label);
        let chosen: Option<(String, Option<&'static str>, bool)> = match (user, bundled) {
            (Some(p), _) if !on_stack(&p.display().to_string()) => Some((p.display().to_string(), None, true)),
            (_, Some(text)) if !on_stack(&bundled_label) => Some((bundled_label.clone(), Some(text), false)),
            _ => None,
        };
        let Some((label, embedded, is_user)) = chosen else {
            if user.is_some() || bundled.is_some() {
                let mut chain: Vec<&str> = self.stack.iter().map(|(n, _)| n.as_str()).collect();
                chain.push(name);
                report(self, format!("inheritance cycle: {}", chain.join(" -> ")));
            } else {
                let names = bundled_theme_names().join(", ");
                report(self, format!("unknown theme `{name}` (bundled themes: {names})"));
            }
            return None;
        };
        let text = match embedded {
            Some(t) => t.to_string(),
            None => match std::fs::read_to_string(&label) {
                Ok(t) => t,
                Err(e) => {
                    self.problems.push(ConfigProblem::file(label, format!("cannot read: {e}")));
                    return None;
                }
            },
        };
        let src = Source { file: label.clone(), text };
        let root = match DeTable::parse(&src.text) {
            Ok(t) => t,
            Err(e) => {
                self.problems.push(ConfigProblem::toml(src.file.clone(), &src.text, &e));
                return None;
            }
        };
        let before = self.problems.len();
        let (file, inherits) = parse_file(&src, root.get_ref(), &mut self.problems);
        let parent = match inherits {
            Some((parent, pos)) => {
                self.stack.push((name.to_string(), label));
                let p = self.load(&parent, Some(&pos), is_user);
                self.stack.pop();
                Some(p?)
            }
            None => None,
        };
        if self.problems.len() > before {
            return None;
        }
        let mut layer = parent.unwrap_or_default();
        layer.palette.extend(file.palette);
        layer.styles.extend(file.styles);
        if file.syntax.is_some() {
            layer.syntax = file.syntax;
        }
        Some(layer)
    }
}

fn parse_file(src: &Source, root: &DeTable<'_>, problems: &mut Vec<ConfigProblem>) -> (Layer, Option<(String, Pos)>) {
    let mut layer = Layer::default();
    let mut inherits = None;
    for (key, value) in root {
        let span = value.span();
        match (key.get_ref().as_ref(), value.get_ref()) {
            ("inherits", DeValue::String(s)) => inherits = Some((s.to_string(), src.pos(span))),
            ("syntax", DeValue::String(s)) => {
                if SYNTAX_THEMES.contains(&s.as_ref()) {
                    layer.syntax = Some(s.to_string());
                } else {
                    problems.push(src.problem(span, format!("unknown syntax theme `{s}` (bundled: {})", SYNTAX_THEMES.join(", "))));
                }
            }
            ("palette", DeValue::Table(t)) => {
                for (name, v) in t {
                    let c = match v.get_ref() {
                        DeValue::String(s) => parse_color(s),
                        DeValue::Integer(i) => u8::from_str_radix(i.as_str(), i.radix()).ok().map(Color::Indexed),
                        _ => None,
                    };
                    match c {
                        Some(c) => {
                            layer.palette.insert(name.get_ref().to_string(), c);
                        }
                        None => problems.push(
                            src.problem(v.span(), format!("palette colour `{}` must be #rrggbb, an ANSI name, or 0-255", name.get_ref())),
                        ),
                    }
                }
            }
            ("styles", DeValue::Table(t)) => parse_styles(src, "", t, &mut layer.styles, problems),
            (k @ ("inherits" | "syntax"), v) => problems.push(src.problem(span, format!("`{k}` must be a string, not {}", type_name(v)))),
            (k @ ("palette" | "styles"), v) => problems.push(src.problem(span, format!("`{k}` must be a table, not {}", type_name(v)))),
            (k, _) => problems.push(src.problem(key.span(), format!("unknown key `{k}` (expected inherits, syntax, palette, styles)"))),
        }
    }
    (layer, inherits)
}

const STYLE_FIELDS: &[&str] = &["fg", "bg", "modifiers"];

/// Reads `[styles]`. Keys are normally quoted dotted scopes (`"ui.border"`); unquoted dotted
/// keys make nested TOML tables, which are flattened back into scopes.
fn parse_styles(src: &Source, prefix: &str, table: &DeTable<'_>, out: &mut BTreeMap<String, RawStyle>, problems: &mut Vec<ConfigProblem>) {
    for (key, value) in table {
        let scope = if prefix.is_empty() { key.get_ref().to_string() } else { format!("{prefix}.{}", key.get_ref()) };
        if prefix.is_empty() {
            let root = scope.split('.').next().unwrap_or("");
            if !SCOPE_ROOTS.contains(&root) {
                problems.push(
                    src.problem(key.span(), format!("unknown scope `{scope}` (scopes start with one of: {})", SCOPE_ROOTS.join(", "))),
                );
                continue;
            }
        }
        match value.get_ref() {
            DeValue::Table(t) if !t.is_empty() && t.keys().all(|k| !STYLE_FIELDS.contains(&k.get_ref().as_ref())) => {
                parse_styles(src, &scope, t, out, problems);
            }
            _ => {
                if let Some(st) = parse_style(src, value, problems) {
                    out.insert(scope, st);
                }
            }
        }
    }
}

fn parse_style(src: &Source, value: &Spanned<DeValue<'_>>, problems: &mut Vec<ConfigProblem>) -> Option<RawStyle> {
    match value.get_ref() {
        DeValue::Table(t) => {
            let mut st = RawStyle::default();
            for (k, v) in t {
                match k.get_ref().as_ref() {
                    "fg" => st.fg = raw_color(src, v, problems),
                    "bg" => st.bg = raw_color(src, v, problems),
                    "modifiers" => match v.get_ref() {
                        DeValue::Array(items) => {
                            for item in items.iter() {
                                match item.get_ref().as_str().map(|s| parse_modifier(s).ok_or(s)) {
                                    Some(Ok(m)) => st.modifiers |= m,
                                    Some(Err(bad)) => problems.push(
                                        src.problem(item.span(), format!("unknown modifier `{bad}` (expected one of: {MODIFIER_NAMES})")),
                                    ),
                                    None => problems.push(src.problem(item.span(), "a modifier must be a string")),
                                }
                            }
                        }
                        other => problems
                            .push(src.problem(v.span(), format!("`modifiers` must be an array of strings, not {}", type_name(other)))),
                    },
                    other => problems.push(src.problem(
                        k.span(),
                        format!("unknown style field `{other}` (expected fg, bg, modifiers; nested scopes and style fields cannot mix)"),
                    )),
                }
            }
            Some(st)
        }
        _ => raw_color(src, value, problems).map(|fg| RawStyle { fg: Some(fg), ..RawStyle::default() }),
    }
}

fn raw_color(src: &Source, v: &Spanned<DeValue<'_>>, problems: &mut Vec<ConfigProblem>) -> Option<RawColor> {
    let pos = src.pos(v.span());
    match v.get_ref() {
        DeValue::String(s) => Some(RawColor::Text(s.to_string(), pos)),
        DeValue::Integer(i) => Some(RawColor::Index(u8::from_str_radix(i.as_str(), i.radix()).ok(), pos)),
        other => {
            problems.push(src.problem(v.span(), format!("a colour must be a string or 0-255, not {}", type_name(other))));
            None
        }
    }
}
