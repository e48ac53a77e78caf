#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches fail loudly on purpose
//! What the workbench costs: frame render time against session length, and the CPU use of the
//! live loop while five token streams arrive and while nothing happens.
//!
//! `cargo bench --bench render` (or build with `cargo bench --no-run --bench render` and run the
//! binary it names). Takes about 30 s.
//!
//! 1. Render time on a 200x50 `TestBackend`: the median per frame for a short session and for
//!    one of 10,000 events / about 100,000 transcript lines, following the tail, scrolled into
//!    the middle, and with one new event per frame (the live case).
//! 2. Five concurrent token streams at 500 tokens/s each. The protocol's `AssistantDelta` has no
//!    stream id yet (Max Mode will add per-candidate streams), so the five streams are five
//!    tokio tasks each sending `AssistantDelta { role: Agent }` every 2 ms, staggered, into one
//!    broadcast channel: 2,500 deltas/s, all landing in the transcript's streaming cell, which
//!    therefore changes at up to 60 fps with five streams' worth of text (about what five
//!    candidate cells would cost). Stream 0 is the agent's: every 1,000 of its tokens it ends
//!    the turn (`AssistantMessage`, `StepFinished`, `StepStarted`, `ModelRequest`), so the
//!    streaming cell grows to about 5,000 tokens and starts again. The session already holds
//!    2,000 events.
//!    A stress case repeats this with 5,000-token turns (the cell grows to about 25,000
//!    tokens). The streaming cell keeps the layout of its final part (whole top-level Markdown
//!    blocks, and complete lines of an open code fence) and lays out only the rest each frame,
//!    so a frame should cost no more when the answer is longer; this case checks that.
//! 3. Idle: a finished session and no events; also, for reference, a session waiting for the
//!    model with no tokens yet, where the spinner legitimately asks for 10 frames/s.
//!
//! See the comment above `cpu_time` for how the live loop is reproduced without a TTY.

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;
use std::time::{Duration, Instant};

use endure::protocol::{Event, EventKind, Role};
use endure::tui::WorkbenchOptions;
use endure::tui::app::{App, Clock};
use endure::tui::scheduler;
use endure::tui::testkit::{default_keymap, demo_session, finished_session, long_session_with, t0};
use ratatui::backend::{CrosstermBackend, TestBackend};
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use tokio::sync::broadcast;

const FRAMES: usize = 200;

fn app(events: &[Event]) -> App {
    let (tx, rx) = endure::tui::testkit::command_channel();
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

type Row = (String, usize, Duration);

fn render_times() -> Vec<Row> {
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
    let mut rows: Vec<Row> = Vec::new();
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
    rows
}

// ---------------------------------------------------------------------------------------------
// CPU use of the live loop: five token streams, and idle.
//
// `run_live` needs a TTY (raw mode, the alternate screen, crossterm's input stream), so this
// drives the same pieces the way `run_loop` does: a broadcast receiver folded into `App` (up to
// `MAX_DRAIN` queued events per wake-up, then one frame request), the real frame scheduler
// (`scheduler::spawn`, at most one draw per 16 ms), the spinner re-arming itself while
// `is_animating`, and `Terminal::draw` on a `CrosstermBackend` at 200x50 whose writer counts
// and discards the bytes, so diffing the buffers and writing the ANSI escapes is included.
// Everything runs on a multi-thread tokio runtime with the loop on the `block_on` thread, as
// in `main`. CPU is `getrusage(RUSAGE_SELF)` user+sys over a wall-clock window, i.e. the whole
// process, the simulated producers included (their share alone is measured separately).

/// Per stream.
const TOKENS_PER_SEC: u64 = 500;
const STREAMS: u64 = 5;
/// Tokens of the agent's stream per model turn; the other streams add theirs to the same
/// buffer, so the streaming cell peaks at about `STREAMS * turn` tokens. The acceptance case
/// uses `TURN_TOKENS`; the stress case five times that, over a window long enough to see it.
const TURN_TOKENS: u64 = 1_000;
const LONG_TURN_TOKENS: u64 = 5_000;
/// What `run_loop` folds per wake-up before drawing (`src/tui/mod.rs`).
const MAX_DRAIN: usize = 4096;
/// The runtime's broadcast capacity (`EVENT_CAPACITY` in `src/agent/mod.rs`).
const EVENT_CAPACITY: usize = 8_192;
const WARMUP: Duration = Duration::from_millis(500);
const STREAM_WINDOW: Duration = Duration::from_secs(5);
const LONG_STREAM_WINDOW: Duration = Duration::from_secs(9);
const IDLE_WINDOW: Duration = Duration::from_secs(3);

/// Process CPU time (user + system) so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct we pass; all-zero is a valid `rusage`.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        eprintln!("getrusage failed: {}", std::io::Error::last_os_error());
        std::process::exit(1);
    }
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// A terminal writer that throws the bytes away and counts them.
#[derive(Default, Clone)]
struct CountingSink {
    bytes: Rc<Cell<u64>>,
}

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes.set(self.bytes.get() + buf.len() as u64);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

type SinkTerminal = Terminal<CrosstermBackend<CountingSink>>;

fn sink_terminal() -> (SinkTerminal, Rc<Cell<u64>>) {
    let opts = TerminalOptions { viewport: Viewport::Fixed(Rect::new(0, 0, 200, 50)) };
    let sink = CountingSink::default();
    let bytes = sink.bytes.clone();
    match Terminal::with_options(CrosstermBackend::new(sink), opts) {
        Ok(t) => (t, bytes),
        Err(e) => {
            eprintln!("crossterm backend over a sink: {e}");
            std::process::exit(1);
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio runtime: {e}");
            std::process::exit(1);
        }
    }
}

fn live_app(history: &[Event]) -> App {
    let (tx, rx) = endure::tui::testkit::command_channel();
    std::mem::forget(rx);
    let opts = WorkbenchOptions { keymap: default_keymap(), ..WorkbenchOptions::default() };
    // The real clock, as in a live session (the spinner and durations follow it).
    App::live(opts, history, tx, false)
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    frames: u64,
    events: u64,
    wakeups: u64,
    lagged: u64,
    bytes: u64,
}

impl Counters {
    fn since(self, a: Counters) -> Counters {
        Counters {
            frames: self.frames - a.frames,
            events: self.events - a.events,
            wakeups: self.wakeups - a.wakeups,
            lagged: self.lagged - a.lagged,
            bytes: self.bytes - a.bytes,
        }
    }
}

struct Window {
    cpu: Duration,
    wall: Duration,
    counts: Counters,
    /// Longest streaming text seen at a frame, in bytes.
    peak_streaming: usize,
}

impl Window {
    fn cpu_pct(&self) -> f64 {
        100.0 * self.cpu.as_secs_f64() / self.wall.as_secs_f64().max(1e-9)
    }
}

/// `run_loop` without the TTY: events in, coalesced frames out, measured between `WARMUP`
/// and `WARMUP + window` after it starts. The clocks are pinned outside the loop so that
/// measuring adds no timer per iteration.
async fn ui_loop(mut app: App, mut live: broadcast::Receiver<Event>, window: Duration) -> Window {
    let (mut term, bytes) = sink_terminal();
    let (frames, mut draws) = scheduler::spawn();
    let mut c = Counters::default();
    let mut peak_streaming = 0;
    let begin = tokio::time::Instant::now();
    let start = tokio::time::sleep_until(begin + WARMUP);
    let end = tokio::time::sleep_until(begin + WARMUP + window);
    tokio::pin!(start, end);
    let mut started: Option<(Instant, Duration, Counters)> = None;
    let mut open = true;
    frames.schedule();
    loop {
        tokio::select! {
            Some(()) = draws.recv() => {
                if let Err(e) = term.draw(|f| app.render(f)) {
                    eprintln!("draw failed: {e}");
                    std::process::exit(1);
                }
                c.frames += 1;
                c.bytes = bytes.get();
                if started.is_some() {
                    peak_streaming = peak_streaming.max(app.state.streaming.text.len());
                }
                if app.is_animating() {
                    frames.schedule_in(Duration::from_millis(100));
                }
            }
            r = live.recv(), if open => {
                c.wakeups += 1;
                let mut next = Some(r);
                let mut n = 0;
                while let Some(r) = next.take() {
                    match r {
                        Ok(ev) => {
                            app.apply_event(&ev);
                            c.events += 1;
                        }
                        Err(broadcast::error::RecvError::Lagged(k)) => {
                            app.note_lagged(k);
                            c.lagged += k;
                        }
                        Err(broadcast::error::RecvError::Closed) => {
                            open = false;
                            break;
                        }
                    }
                    n += 1;
                    if n < MAX_DRAIN {
                        next = match live.try_recv() {
                            Ok(ev) => Some(Ok(ev)),
                            Err(broadcast::error::TryRecvError::Lagged(k)) => Some(Err(broadcast::error::RecvError::Lagged(k))),
                            Err(broadcast::error::TryRecvError::Closed) => Some(Err(broadcast::error::RecvError::Closed)),
                            Err(broadcast::error::TryRecvError::Empty) => None,
                        };
                    }
                }
                frames.schedule();
            }
            _ = &mut start, if started.is_none() => started = Some((Instant::now(), cpu_time(), c)),
            _ = &mut end => break,
        }
    }
    let (t0, cpu0, c0) = started.unwrap_or((Instant::now(), cpu_time(), c));
    Window { cpu: cpu_time() - cpu0, wall: t0.elapsed(), counts: c.since(c0), peak_streaming }
}

/// Agent-like text for one stream, cut into tokens of about four characters: prose with
/// inline code and emphasis, list items, and now and then a fenced Rust block.
fn stream_tokens(seed: u64, n: usize) -> Vec<String> {
    const WORDS: &[&str] = &[
        "the", "test", "fails", "because", "parser", "returns", "an", "error", "when", "input", "is", "empty", "so", "I", "will", "change",
        "function", "to", "handle", "that", "case", "first", "then", "run", "suite", "again", "and", "check", "output", "module", "config",
        "value", "should", "be", "updated", "before", "we", "commit", "this",
    ];
    const CODE: &[&str] = &[
        "let",
        "x",
        "=",
        "parse(&input)?;",
        "if",
        "x.is_empty()",
        "{",
        "return",
        "Ok(Vec::new());",
        "}",
        "for",
        "line",
        "in",
        "text.lines()",
        "out.push(line.trim().to_string());",
        "match",
        "cmd",
        "Err(e)",
        "=>",
        "anyhow::bail!(\"{e}\"),",
    ];
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut words: Vec<String> = Vec::new();
    while words.len() < n {
        match rng.u8(..20) {
            0 => {
                words.push("\n\n```rust\n".into());
                for _ in 0..rng.usize(20..60) {
                    let w = CODE[rng.usize(..CODE.len())];
                    words.push(if rng.u8(..6) == 0 { format!("{w}\n    ") } else { format!("{w} ") });
                }
                words.push("\n```\n\n".into());
            }
            1 => words.push("\n- ".into()),
            2 => words.push(format!(" `{}`", CODE[rng.usize(..CODE.len())])),
            3 => words.push(format!(" **{}**", WORDS[rng.usize(..WORDS.len())])),
            4 => words.push(".\n\n".into()),
            _ => words.push(format!(" {}", WORDS[rng.usize(..WORDS.len())])),
        }
    }
    // Tokens: words up to four characters stay whole; longer ones are split.
    let mut out = Vec::with_capacity(n);
    for w in words {
        let chars: Vec<char> = w.chars().collect();
        for piece in chars.chunks(4) {
            out.push(piece.iter().collect());
        }
    }
    out.truncate(n);
    out
}

fn ev(kind: EventKind) -> Event {
    Event { command_id: None, seq: 0, ts: chrono::Utc::now(), kind }
}

/// One stream: a delta every 2 ms, staggered against the others. Stream 0 is the agent's
/// own: every `TURN_TOKENS` of its tokens it ends the model turn (`AssistantMessage` with
/// what it streamed, `StepFinished`) and starts the next (`StepStarted`, `ModelRequest`).
async fn stream(k: u64, tx: broadcast::Sender<Event>, tokens: Vec<String>, mut step: u64, turn: u64, until: tokio::time::Instant) {
    let period = Duration::from_micros(1_000_000 / TOKENS_PER_SEC);
    let first = tokio::time::Instant::now() + period.mul_f64(k as f64 / STREAMS as f64);
    let mut tick = tokio::time::interval_at(first, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut own = String::new();
    let mut sent = 0u64;
    loop {
        if tick.tick().await >= until {
            break;
        }
        let text = tokens[sent as usize % tokens.len()].clone();
        if k == 0 {
            own.push_str(&text);
        }
        let _ = tx.send(ev(EventKind::AssistantDelta { role: Role::Agent, text }));
        sent += 1;
        if k == 0 && sent.is_multiple_of(turn) {
            let _ = tx.send(ev(EventKind::AssistantMessage { step, text: std::mem::take(&mut own), tool_calls: vec![], blocks: vec![] }));
            let _ = tx.send(ev(EventKind::StepFinished { step }));
            step += 1;
            let _ = tx.send(ev(EventKind::StepStarted { step }));
            let _ = tx.send(ev(EventKind::ModelRequest { role: Role::Agent, step, attempt: 1 }));
        }
    }
}

fn spawn_streams(tx: &broadcast::Sender<Event>, step: u64, turn: u64, run_for: Duration) {
    let until = tokio::time::Instant::now() + run_for;
    for k in 0..STREAMS {
        let tokens = stream_tokens(k + 1, 4_096);
        tokio::spawn(stream(k, tx.clone(), tokens, step, turn, until));
    }
}

/// History for the streaming case: a session 2,000 events in, at the start of a model turn.
fn streaming_history() -> (Vec<Event>, u64) {
    let mut h = long_session_with(2_000, 10);
    let step = h
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::StepStarted { step } => Some(step),
            _ => None,
        })
        .max()
        .unwrap_or(0)
        + 1;
    h.push(ev(EventKind::StepStarted { step }));
    h.push(ev(EventKind::ModelRequest { role: Role::Agent, step, attempt: 1 }));
    (h, step)
}

/// Five streams into the live loop, the agent's turns `turn` tokens long.
fn cpu_streaming(turn: u64, window: Duration) -> Window {
    let rt = runtime();
    let (history, step) = streaming_history();
    rt.block_on(async {
        let (tx, rx) = broadcast::channel(EVENT_CAPACITY);
        let app = live_app(&history);
        spawn_streams(&tx, step, turn, WARMUP + window + Duration::from_millis(200));
        ui_loop(app, rx, window).await
    })
}

/// The same producers with a receiver that only drains: what the simulation itself costs.
fn cpu_producers_only() -> Window {
    let rt = runtime();
    rt.block_on(async {
        let (tx, mut rx) = broadcast::channel::<Event>(EVENT_CAPACITY);
        spawn_streams(&tx, 1, TURN_TOKENS, WARMUP + STREAM_WINDOW + Duration::from_millis(200));
        let begin = tokio::time::Instant::now();
        let start = tokio::time::sleep_until(begin + WARMUP);
        let end = tokio::time::sleep_until(begin + WARMUP + STREAM_WINDOW);
        tokio::pin!(start, end);
        let mut c = Counters::default();
        let mut started = None;
        loop {
            tokio::select! {
                r = rx.recv() => match r {
                    Ok(_) => c.events += 1,
                    Err(broadcast::error::RecvError::Lagged(k)) => c.lagged += k,
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = &mut start, if started.is_none() => started = Some((Instant::now(), cpu_time(), c)),
                _ = &mut end => break,
            }
        }
        let (t0, cpu0, c0) = started.unwrap_or((Instant::now(), cpu_time(), c));
        Window { cpu: cpu_time() - cpu0, wall: t0.elapsed(), counts: c.since(c0), peak_streaming: 0 }
    })
}

/// No events: a finished session (nothing animates), or one waiting for the model (the
/// spinner asks for a frame every 100 ms). The runtime's sender stays open.
fn cpu_idle(history: Vec<Event>) -> Window {
    let rt = runtime();
    rt.block_on(async {
        let (tx, rx) = broadcast::channel::<Event>(EVENT_CAPACITY);
        let app = live_app(&history);
        let w = ui_loop(app, rx, IDLE_WINDOW).await;
        drop(tx);
        w
    })
}

fn waiting_session() -> Vec<Event> {
    let mut h = demo_session();
    h.push(ev(EventKind::StepStarted { step: 4 }));
    h.push(ev(EventKind::ModelRequest { role: Role::Agent, step: 4, attempt: 1 }));
    h
}

fn main() {
    let rows = render_times();
    println!("Render time, 200x50 TestBackend, median of {FRAMES} frames");
    println!("{:<42} {:>10} {:>14}", "case", "lines", "median/frame");
    println!("{}", "-".repeat(68));
    for (label, lines, d) in &rows {
        println!("{label:<42} {lines:>10} {:>11.3} ms", d.as_secs_f64() * 1e3);
    }
    let ratio = rows[3].2.as_secs_f64() / rows[0].2.as_secs_f64().max(1e-9);
    let worst_big = rows[3..].iter().map(|r| r.2).max().unwrap_or_default();

    let _ = std::io::stdout().flush();
    eprintln!(
        "measuring CPU: 5 streams ({} s), producers alone ({} s), idle ({} s), waiting ({} s), long turns ({} s)…",
        STREAM_WINDOW.as_secs(),
        STREAM_WINDOW.as_secs(),
        IDLE_WINDOW.as_secs(),
        IDLE_WINDOW.as_secs(),
        LONG_STREAM_WINDOW.as_secs()
    );
    let streaming = cpu_streaming(TURN_TOKENS, STREAM_WINDOW);
    let producers = cpu_producers_only();
    let idle = cpu_idle(finished_session());
    let waiting = cpu_idle(waiting_session());
    let long = cpu_streaming(LONG_TURN_TOKENS, LONG_STREAM_WINDOW);
    let five = format!("5 streams x 500 tok/s, {}-token turns", TURN_TOKENS);
    let five_long = format!("5 streams x 500 tok/s, {}-token turns", LONG_TURN_TOKENS);

    println!();
    println!("Live loop CPU, CrosstermBackend 200x50 over a counting sink, getrusage(RUSAGE_SELF) user+sys");
    println!(
        "{:<44} {:>6} {:>8} {:>9} {:>8} {:>8} {:>9} {:>7}",
        "case", "wall s", "cpu ms", "% of core", "events/s", "frames/s", "KiB out/s", "lagged"
    );
    println!("{}", "-".repeat(106));
    for (label, w) in [
        (five.as_str(), &streaming),
        ("the same producers, drained, no workbench", &producers),
        ("idle, finished session", &idle),
        ("waiting for the model (spinner), reference", &waiting),
        (five_long.as_str(), &long),
    ] {
        let secs = w.wall.as_secs_f64().max(1e-9);
        println!(
            "{label:<44} {:>6.2} {:>8.1} {:>8.2}% {:>8.0} {:>8.1} {:>9.1} {:>7}",
            secs,
            w.cpu.as_secs_f64() * 1e3,
            w.cpu_pct(),
            w.counts.events as f64 / secs,
            w.counts.frames as f64 / secs,
            w.counts.bytes as f64 / secs / 1024.0,
            w.counts.lagged,
        );
    }
    for (label, w) in [(&five, &streaming), (&five_long, &long)] {
        println!(
            "{label}: {} wake-ups folded {} events ({:.1} per wake-up); streaming cell peaked at {} KiB",
            w.counts.wakeups,
            w.counts.events,
            w.counts.events as f64 / w.counts.wakeups.max(1) as f64,
            w.peak_streaming / 1024,
        );
    }

    println!();
    println!("Acceptance");
    println!("{:<50} {:>16} {:<32} result", "measure", "measured", "target");
    println!("{}", "-".repeat(108));
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    let ms = worst_big.as_secs_f64() * 1e3;
    println!("{:<50} {:>13.3} ms {:<32} {}", "render, 10,000 events (worst median of 3 cases)", ms, "< 1 ms median", verdict(ms < 1.0));
    println!(
        "{:<50} {:>15.2}x {:<32} {}",
        "render, 10,000 vs 100 events (following the tail)",
        ratio,
        "<= 2x the 100-event case",
        verdict(ratio <= 2.0)
    );
    let s = streaming.cpu_pct();
    println!(
        "{:<50} {:>15.2}% {:<32} {}",
        format!("5 streams x 500 tok/s, {TURN_TOKENS}-token turns"),
        s,
        "< 15% of one core",
        verdict(s < 15.0)
    );
    let i = idle.cpu_pct();
    println!("{:<50} {:>15.2}% {:<32} {}", "idle, finished session", i, "< 1% CPU", verdict(i < 1.0));
    println!(
        "{:<50} {:>16} {:<32} {}",
        "frames drawn while idle",
        idle.counts.frames,
        "0 (nothing ticks)",
        verdict(idle.counts.frames == 0)
    );
    let l = long.cpu_pct();
    println!(
        "{:<50} {:>15.2}% {:<32} {}",
        format!("stress: the same, {LONG_TURN_TOKENS}-token turns"),
        l,
        "< 15% of one core",
        verdict(l < 15.0)
    );
    println!("{}", "-".repeat(108));
    println!("CPU is the whole process, the simulated producers included (alone they use {:.2}% of a core).", producers.cpu_pct());
}
