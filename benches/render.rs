//! Frame render time against session length, on a 200x50 `TestBackend`.
//!
//! `cargo bench --bench render`. Prints the median per frame for a short session and for one
//! of 10,000 events / about 100,000 transcript lines, following the tail, scrolled into the
//! middle, and with one new event per frame (the live case).

use std::time::{Duration, Instant};

use endure::tui::app::{App, Clock};
use endure::tui::testkit::{default_keymap, long_session_with, t0};
use endure::tui::WorkbenchOptions;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const FRAMES: usize = 200;

fn app(events: &[endure::protocol::Event]) -> App {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::mem::forget(rx);
    let opts = WorkbenchOptions { keymap: default_keymap(), ..WorkbenchOptions::default() };
    let mut a = App::live(opts, events, tx, false);
    a.clock = Clock::Fixed(t0());
    a
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn frames(a: &mut App, t: &mut Terminal<TestBackend>, mut before: impl FnMut(&mut App, usize)) -> Duration {
    // Warm the wrap cache the way a running workbench would have.
    let _ = t.draw(|f| a.render(f));
    let mut times = Vec::with_capacity(FRAMES);
    for i in 0..FRAMES {
        before(a, i);
        let start = Instant::now();
        if let Err(e) = t.draw(|f| a.render(f)) {
            eprintln!("draw failed: {e}");
            std::process::exit(1);
        }
        times.push(start.elapsed());
    }
    median(times)
}

fn main() {
    let mut t = match Terminal::new(TestBackend::new(200, 50)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("test backend: {e}");
            std::process::exit(1);
        }
    };
    let small = long_session_with(100, 50);
    let extra = long_session_with(10_000 + FRAMES + 10, 50);
    let big = extra[..10_000].to_vec();
    let mut rows: Vec<(String, usize, Duration)> = Vec::new();
    for (label, events) in [("100 events", &small), ("10,000 events", &big)] {
        let mut a = app(events);
        let lines: usize = a
            .state
            .cells
            .iter()
            .map(|c| match &c.kind {
                endure::tui::state::CellKind::Assistant { text, .. } => text.lines().count() + 2,
                _ => 1,
            })
            .sum();
        let tail = frames(&mut a, &mut t, |_, _| {});
        rows.push((format!("{label}, following the tail"), lines, tail));
        let mut a = app(events);
        let _ = t.draw(|f| a.render(f));
        a.handle_key(crossterm::event::KeyEvent::new(crossterm::event::KeyCode::Char('g'), crossterm::event::KeyModifiers::NONE));
        for _ in 0..(lines / 2 / 48).min(2000) {
            a.handle_key(crossterm::event::KeyEvent::new(crossterm::event::KeyCode::PageDown, crossterm::event::KeyModifiers::NONE));
        }
        let mid = frames(&mut a, &mut t, |_, _| {});
        rows.push((format!("{label}, scrolled to the middle"), lines, mid));
        let mut a = app(events);
        let start = events.len();
        let live = frames(&mut a, &mut t, |a, i| {
            if let Some(e) = extra.get(start + i) {
                a.apply_event(e);
            }
        });
        rows.push((format!("{label}, one new event per frame"), lines, live));
    }
    println!("{:<42} {:>10} {:>14}", "case (200x50)", "lines", "median/frame");
    println!("{}", "-".repeat(68));
    for (label, lines, d) in &rows {
        println!("{label:<42} {lines:>10} {:>11.3} ms", d.as_secs_f64() * 1e3);
    }
    let ratio = rows[3].2.as_secs_f64() / rows[0].2.as_secs_f64().max(1e-9);
    println!("{}", "-".repeat(68));
    println!("10,000 vs 100 events (following the tail): {ratio:.2}x");
}
