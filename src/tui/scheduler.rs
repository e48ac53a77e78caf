//! Frame requests, coalesced: whoever changes what is on screen asks for a frame, and at most
//! one draw happens per 16 ms. Nothing ticks; an idle workbench never redraws, and the spinner
//! keeps itself going by asking for its next frame only while something animates.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

pub const MIN_INTERVAL: Duration = Duration::from_millis(16);

/// The pure part of the scheduler: the earliest requested frame, held back to keep the rate.
#[derive(Debug, Default, Clone, Copy)]
pub struct FrameClock {
    next: Option<Instant>,
    last: Option<Instant>,
}

impl FrameClock {
    pub fn request(&mut self, at: Instant) {
        self.next = Some(self.next.map_or(at, |n| n.min(at)));
    }

    /// When the next draw may fire, if one is wanted.
    pub fn due(&self) -> Option<Instant> {
        let n = self.next?;
        Some(self.last.map_or(n, |l| n.max(l + MIN_INTERVAL)))
    }

    pub fn fired(&mut self, now: Instant) {
        self.last = Some(now);
        self.next = None;
    }
}

/// A cheap handle for asking for frames; clones share the scheduler.
#[derive(Debug, Clone)]
pub struct FrameRequester {
    tx: mpsc::UnboundedSender<Instant>,
}

impl FrameRequester {
    pub fn schedule(&self) {
        let _ = self.tx.send(Instant::now());
    }

    pub fn schedule_in(&self, d: Duration) {
        let _ = self.tx.send(Instant::now() + d);
    }
}

/// Starts the scheduler task. Each message on the returned receiver means "draw now"; the
/// channel holds one, so draws never queue up behind a slow frame.
pub fn spawn() -> (FrameRequester, mpsc::Receiver<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Instant>();
    let (draw_tx, draw_rx) = mpsc::channel(1);
    tokio::spawn(async move {
        let mut clock = FrameClock::default();
        loop {
            let due = clock.due();
            // Requests first: a burst already queued merges into one frame, rather than
            // racing the draw and leaving a second frame for its stragglers.
            tokio::select! {
                biased;
                req = rx.recv() => match req {
                    Some(at) => clock.request(at),
                    None => break,
                },
                _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    clock.fired(Instant::now());
                    if draw_tx.try_send(()).is_err() && draw_tx.is_closed() {
                        break;
                    }
                }
            }
        }
    });
    (FrameRequester { tx }, draw_rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_merge_and_respect_the_rate() {
        let t = Instant::now();
        let mut c = FrameClock::default();
        assert_eq!(c.due(), None, "idle means no frame");
        c.request(t + Duration::from_millis(5));
        c.request(t);
        c.request(t + Duration::from_millis(50));
        assert_eq!(c.due(), Some(t));
        c.fired(t);
        assert_eq!(c.due(), None);
        c.request(t + Duration::from_millis(1));
        assert_eq!(c.due(), Some(t + MIN_INTERVAL));
    }

    // A paused clock: time moves only when every task waits, so the test does not depend on
    // how fast a loaded machine runs the scheduler.
    #[tokio::test(start_paused = true)]
    async fn a_burst_of_requests_draws_once() {
        let (req, mut draws) = spawn();
        for _ in 0..500 {
            req.schedule();
        }
        tokio::time::sleep(Duration::from_millis(12)).await;
        let mut n = 0;
        while draws.try_recv().is_ok() {
            n += 1;
        }
        assert_eq!(n, 1);
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(draws.try_recv().is_err(), "no request, no frame");
    }
}
