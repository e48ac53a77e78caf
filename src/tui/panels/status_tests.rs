use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::*;
use crate::config::theme::load_theme;
use crate::protocol::{Event, EventKind, Role};
use crate::tui::state::WorkbenchState;
use crate::tui::testkit::t0;
use crate::tui::widgets::highlight::Highlighter;

fn usage(prompt: u64, read: u64, write: u64) -> Event {
    let kind = EventKind::Usage {
        role: Role::Agent,
        prompt_tokens: prompt,
        completion_tokens: 100,
        cache_read_tokens: read,
        cache_write_tokens: write,
        cost_usd: 0.01,
        estimated: false,
        priced: true,
        overhead: false,
    };
    Event { seq: 0, ts: t0(), kind, command_id: None }
}

fn status_row(state: &WorkbenchState) -> String {
    let theme = load_theme("default", None).0;
    let hl = Highlighter::new(&theme);
    let keymap = crate::config::keymap::load_keymap("default", None).0;
    let ctx = RenderCtx {
        theme: &theme,
        hl: &hl,
        state,
        root: state,
        now: t0(),
        spinner: 0,
        live: true,
        keymap: &keymap,
        pending: &[],
        context_budget: 200_000,
        search_input: None,
    };
    let mut term = Terminal::new(TestBackend::new(160, 2)).unwrap();
    term.draw(|f| render(f, f.area(), &ctx, &StatusInfo { context_budget: 200_000, hints: &[], notice: None, error: None })).unwrap();
    term.backend().to_string().lines().next().unwrap_or_default().to_string()
}

#[test]
fn the_cache_hit_rate_shows_once_the_provider_reports_cache_figures() {
    let mut state = WorkbenchState::default();
    state.apply(&usage(10_000, 0, 0));
    assert!(!status_row(&state).contains("cache"), "a provider that reports no cache shows nothing");
    state.apply(&usage(10_000, 0, 9_000));
    state.apply(&usage(20_000, 18_000, 500));
    let row = status_row(&state);
    assert!(row.contains("in 40.0k out 300 │ cache 45%"), "18k of 40k prompt tokens read from the cache: {row}");
}
