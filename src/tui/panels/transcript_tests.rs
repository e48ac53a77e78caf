use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::*;
use crate::config::theme::{Theme, load_theme};
use crate::protocol::{Event, EventKind, Role};
use crate::tui::testkit::t0;
use crate::tui::widgets::highlight::Highlighter;

/// A realistic answer: blocks whose end depends on what follows (loose lists, a fence with
/// blank lines inside, a setext heading) and wide characters.
const ANSWER: &str = "## Findings\n\nThe failure comes from `parse` returning early on *empty* input, which\nthe caller treats as an error.\n\n- `src/parse.rs`: the early return\n- `src/main.rs`: where the error surfaces\n\n1. make `parse` return an empty list\n\n2. add a test\n   - for empty input\n   - for whitespace only\n\nThe fix\n-------\n\n```rust\npub fn parse(input: &str) -> Result<Vec<Token>> {\n    if input.trim().is_empty() {\n\n        return Ok(Vec::new());\n    }\n\n    tokenize(input)\n}\n```\n\n> Note: the whitespace case was already broken before this change.\n\n日本語のテキストも折り返す必要があります。 All **42** tests pass now.\n";

fn ev(kind: EventKind) -> Event {
    Event { command_id: None, seq: 0, ts: t0(), kind }
}

fn setup() -> (Theme, Highlighter) {
    let t = load_theme("default", None).0;
    let hl = Highlighter::new(&t);
    (t, hl)
}

fn ctx<'a>(t: &'a Theme, hl: &'a Highlighter, state: &'a WorkbenchState) -> RenderCtx<'a> {
    let keymap: &'static crate::config::keymap::Keymap = Box::leak(Box::new(crate::tui::testkit::default_keymap()));
    RenderCtx {
        theme: t,
        hl,
        state,
        root: state,
        now: t0(),
        spinner: 0,
        live: true,
        keymap,
        pending: &[],
        context_budget: 128_000,
        search_input: None,
    }
}

fn lines(rows: &Rows) -> Vec<Line<'static>> {
    rows.iter().cloned().collect()
}

fn started() -> WorkbenchState {
    let mut s = WorkbenchState::default();
    s.apply(&ev(EventKind::ModelRequest { role: Role::Agent, step: 1, attempt: 1 }));
    s
}

/// Streams `text` in random pieces, checking after each piece (or, when not `every`, after
/// the last: the one-shot layout is what the streaming one avoids, and costs as much) that
/// the streaming entry's rows are the one-shot layout of the text so far.
fn stream(text: &str, width: u16, seed: u64) -> (TranscriptView, WorkbenchState) {
    stream_checked(text, width, seed, true)
}

fn stream_checked(text: &str, width: u16, seed: u64, every: bool) -> (TranscriptView, WorkbenchState) {
    let (t, hl) = setup();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut state = started();
    let mut view = TranscriptView { width, height: 20, ..TranscriptView::default() };
    let mut rest = text;
    while !rest.is_empty() {
        let mut n = rng.usize(1..=rest.len().min(24));
        while !rest.is_char_boundary(n) {
            n += 1;
        }
        let (piece, after) = rest.split_at(n);
        rest = after;
        state.apply(&ev(EventKind::AssistantDelta { role: Role::Agent, text: piece.to_string() }));
        let c = ctx(&t, &hl, &state);
        let i = state.cells.len();
        let streamed = lines(&view.rows(&c, &[], i));
        if !every && !rest.is_empty() {
            continue;
        }
        let one_shot = layout_entry(&c, &Entry::Streaming, usize::from(width), false);
        assert_eq!(streamed, one_shot, "seed {seed}, width {width}, after {:?}", state.streaming.text);
    }
    (view, state)
}

#[test]
fn streamed_rows_equal_the_one_shot_layout_for_random_pieces() {
    for seed in 0..40 {
        let width = [14u16, 31, 60, 100][seed as usize % 4];
        let (view, _) = stream(ANSWER, width, seed);
        assert!(view.stream.committed_len() > ANSWER.len() / 2, "seed {seed}: only {} bytes were kept", view.stream.committed_len());
    }
}

#[test]
fn the_final_message_renders_as_the_stream_ended() {
    let (t, hl) = setup();
    let (mut view, mut state) = stream(ANSWER, 48, 3);
    let i = state.cells.len();
    let streamed = lines(&view.rows(&ctx(&t, &hl, &state), &[], i));
    state.apply(&ev(EventKind::AssistantMessage { step: 1, text: ANSWER.to_string(), tool_calls: vec![], blocks: vec![] }));
    assert!(state.streaming.text.is_empty());
    let c = ctx(&t, &hl, &state);
    let cell = lines(&view.rows(&c, &[], i));
    assert!(matches!(entry(&state, &[], i), Some(Entry::Cell(_))));
    // Only the header differs: the step number replaces the spinner.
    assert_eq!(cell.get(2..), streamed.get(2..));
    assert_eq!(cell, markdown_cell(&c, i, 48));
}

fn markdown_cell(c: &RenderCtx, i: usize, width: usize) -> Vec<Line<'static>> {
    match c.state.cells.get(i) {
        Some(cell) => layout_entry(c, &Entry::Cell(cell), width, false),
        None => Vec::new(),
    }
}

#[test]
fn a_long_answer_lays_out_only_its_tail() {
    let long = ANSWER.repeat(20);
    let (view, state) = stream_checked(&long, 80, 11, false);
    let tail = state.streaming.text.len() - view.stream.committed_len();
    assert!(tail < ANSWER.len(), "{tail} bytes of {} are laid out every frame", long.len());
}

#[test]
fn a_new_width_or_a_new_attempt_starts_the_layout_again() {
    let (t, hl) = setup();
    let (mut view, mut state) = stream(ANSWER, 40, 5);
    let i = state.cells.len();
    view.width = 33;
    let c = ctx(&t, &hl, &state);
    assert_eq!(lines(&view.rows(&c, &[], i)), layout_entry(&c, &Entry::Streaming, 33, false));
    // A retry streams different text under a new attempt id.
    state.apply(&ev(EventKind::ModelRequest { role: Role::Agent, step: 1, attempt: 2 }));
    state.apply(&ev(EventKind::AssistantDelta { role: Role::Agent, text: "Other\n\ntext\n".into() }));
    let c = ctx(&t, &hl, &state);
    let rows = lines(&view.rows(&c, &[], i));
    assert_eq!(rows, layout_entry(&c, &Entry::Streaming, 33, false));
    assert!(!rows.iter().any(|l| l.to_string().contains("Findings")));
}

#[test]
fn rows_starting_at_any_row_match_skipping() {
    let part = |n: usize| Rc::new((0..n).map(|k| Line::raw(format!("{n}:{k}"))).collect::<Vec<_>>());
    let rows = Rows { parts: vec![part(2), part(0), part(3), part(0), part(1)] };
    assert_eq!(rows.len(), 6);
    for k in 0..=7 {
        let a: Vec<_> = rows.starting_at(k).cloned().collect();
        let b: Vec<_> = rows.iter().skip(k).cloned().collect();
        assert_eq!(a, b, "from row {k}");
    }
}

#[test]
fn drawing_every_stage_of_a_stream_never_panics() {
    let (t, hl) = setup();
    for (w, h) in [(1u16, 1u16), (7, 3), (40, 12), (120, 30)] {
        let mut state = started();
        let mut view = TranscriptView::default();
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap_or_else(|e| panic!("test backend: {e}"));
        for (k, c) in ANSWER.char_indices() {
            state.apply(&ev(EventKind::AssistantDelta { role: Role::Agent, text: c.to_string() }));
            if k % 7 != 0 {
                continue;
            }
            let cx = ctx(&t, &hl, &state);
            let drawn = term.draw(|f| view.render(f, f.area(), &cx, &[], &Search::default()));
            assert!(drawn.is_ok());
        }
    }
}

#[test]
fn a_refusal_cell_shows_its_text_or_says_none_was_given() {
    let (t, hl) = setup();
    for (text, shown) in [("I can't help with that.", "I can't help with that."), ("", "(the model refused without giving a reason)")] {
        let mut state = WorkbenchState::default();
        state.apply(&ev(EventKind::Refusal { step: 4, text: text.into() }));
        let c = ctx(&t, &hl, &state);
        let rows: Vec<String> = layout_entry(&c, &Entry::Cell(&state.cells[0]), 60, false)
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect();
        assert!(rows.iter().any(|r| r == "⊘ refusal · step 4"), "{rows:?}");
        assert!(rows.iter().any(|r| r.trim() == shown), "{rows:?}");
    }
}

#[test]
fn reasoning_is_one_line_until_expanded_and_selectable_like_a_tool_call() {
    let (t, hl) = setup();
    let mut state = WorkbenchState::default();
    state.apply(&ev(EventKind::Reasoning { step: 2, text: "Read the test first.\nThen fix the parser.".into(), redacted: 1 }));
    let c = ctx(&t, &hl, &state);
    let text = |expanded: bool| -> Vec<String> {
        layout_entry(&c, &Entry::Cell(&state.cells[0]), 80, expanded)
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    };
    let collapsed = text(false);
    assert_eq!(collapsed, vec!["▸ ✻ reasoning · step 2 · 41 chars · 1 block encrypted by the provider".to_string()]);
    let expanded = text(true);
    assert!(expanded[0].starts_with("▾ ✻ reasoning"), "{expanded:?}");
    assert_eq!(expanded[1..].iter().map(|r| r.trim()).collect::<Vec<_>>(), ["Read the test first.", "Then fix the parser."]);

    let mut view = TranscriptView { width: 80, height: 10, ..TranscriptView::default() };
    let mut term = Terminal::new(TestBackend::new(80, 10)).unwrap();
    term.draw(|f| view.render(f, f.area(), &c, &[], &Default::default())).unwrap();
    assert_eq!(view.selected, Some(state.cells[0].id), "the expand key acts on it");
}
