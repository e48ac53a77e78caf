//! The terminal's bell and title: the title says the session's state (and why it waits), and
//! the bell rings when the run starts waiting for the supervisor, so a workbench in a
//! background tab or tmux window is noticed. Both on by default (`[notify] bell`, `title`).

use std::io::Write;

use super::App;
use crate::control::waiting::{Wait, Waiting};
use crate::protocol::Event;

#[derive(Default)]
pub struct Alerts {
    waiting: Waiting,
    last_wait: Option<Wait>,
    title: Option<String>,
    /// A bell is owed: the run started waiting since the last write.
    ring: bool,
}

impl Alerts {
    pub fn on_event(&mut self, ev: &Event) {
        self.waiting.apply(ev);
        let now = self.waiting.wait();
        if now.is_some() && now != self.last_wait {
            self.ring = true;
        }
        self.last_wait = now;
    }

    pub fn wait(&self) -> Option<&Wait> {
        self.last_wait.as_ref()
    }

    /// The title for the terminal: the state first, so it shows in a short tab.
    pub fn title_for(&self, app: &App) -> String {
        let state = match &self.last_wait {
            Some(w) => format!("waiting: {}", w.why()),
            None => app.state.run_label().to_string(),
        };
        let title = crate::printable::visible(&app.opts.title).into_owned();
        format!("{state} — {title}")
    }

    /// Writes what changed: the title (OSC 2) and a bell (BEL).
    pub fn flush(&mut self, app: &App, out: &mut impl Write) -> std::io::Result<()> {
        let mut wrote = false;
        if app.opts.title_updates {
            let title = self.title_for(app);
            if self.title.as_ref() != Some(&title) {
                crossterm::queue!(out, crossterm::terminal::SetTitle(&title))?;
                self.title = Some(title);
                wrote = true;
            }
        }
        if std::mem::take(&mut self.ring) && app.opts.bell {
            out.write_all(b"\x07")?;
            wrote = true;
        }
        if wrote {
            out.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{BudgetKind, EventKind, PauseReason};

    fn ev(kind: EventKind) -> Event {
        Event { seq: 0, ts: chrono::Utc::now(), command_id: None, kind }
    }

    #[test]
    fn the_bell_rings_once_when_the_run_starts_waiting_and_the_title_says_why() {
        let opts =
            |bell, title_updates| super::super::WorkbenchOptions {
                title: "endure — t".into(), bell, title_updates, ..Default::default()
            };
        let (bell_only, title_only) = (App::replay(opts(true, false), Vec::new()), App::replay(opts(false, true), Vec::new()));
        let mut a = Alerts::default();
        let mut out = Vec::new();
        a.flush(&bell_only, &mut out).unwrap();
        assert!(out.is_empty(), "no bell before any wait: {out:?}");
        a.on_event(&ev(EventKind::Paused { reason: PauseReason::Budget { budget: BudgetKind::Steps } }));
        a.flush(&bell_only, &mut out).unwrap();
        assert_eq!(out, b"\x07");
        out.clear();
        a.on_event(&ev(EventKind::Warning { message: "w".into() }));
        a.flush(&bell_only, &mut out).unwrap();
        assert!(out.is_empty(), "still the same wait: no second bell: {out:?}");
        a.flush(&title_only, &mut out).unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        assert!(text.contains("waiting: steps budget reached — endure — t"), "{text:?}");
        out.clear();
        a.flush(&title_only, &mut out).unwrap();
        assert!(out.is_empty(), "an unchanged title is not written again: {out:?}");
        let quiet = App::replay(opts(false, false), Vec::new());
        a.on_event(&ev(EventKind::Resumed));
        a.on_event(&ev(EventKind::Paused { reason: PauseReason::Stall }));
        a.flush(&quiet, &mut out).unwrap();
        assert!(out.is_empty(), "both off: {out:?}");
    }
}
