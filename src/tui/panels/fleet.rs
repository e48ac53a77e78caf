//! Fleet: every running session (of every workspace), one row each, the ones waiting for the
//! supervisor first with why; step, elapsed time, cost, a sparkline of tests passing, the
//! latest action. Commands act on the selected row over that session's own socket, without
//! attaching; Enter attaches. The rows come from `tui::fleet`, connected by the run loop once
//! the panel is first drawn.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{RenderCtx, empty_state};
use crate::config::keymap::{Action, KeyContext};
use crate::control::waiting::Wait;
use crate::protocol::{Command, PauseReason};
use crate::tui::fleet::{SessionView, Shared};
use crate::tui::panel::{Effects, Offer, Panel, PanelId, Placement, scroll_delta, scroll_offers};
use crate::tui::text::truncate;

pub const FLEET: &str = "fleet";

#[derive(Default)]
pub struct FleetPanel {
    model: Option<Shared>,
    unavailable: Option<String>,
    /// Drawn at least once: the run loop connects the model then.
    drawn: bool,
    selected: usize,
    /// The selected session, so the selection stays on it when rows reorder (a session that
    /// starts or stops waiting moves).
    selected_id: Option<String>,
    /// The session Enter asked to attach to, for the run loop.
    attach: Option<String>,
    /// `s` was pressed once on this session: the second press stops it.
    stop_armed: Option<String>,
}

impl FleetPanel {
    pub fn wanted(&self) -> bool {
        self.drawn && self.model.is_none() && self.unavailable.is_none()
    }

    pub fn connect(&mut self, model: Shared) {
        self.model = Some(model);
    }

    pub fn unavailable(&mut self, why: &str) {
        self.unavailable = Some(why.to_string());
    }

    pub fn take_attach(&mut self) -> Option<String> {
        self.attach.take()
    }

    /// Runs `f` on the selected row.
    fn with_selected<R>(&self, f: impl FnOnce(&SessionView) -> R) -> Option<R> {
        let model = self.model.as_ref()?;
        let m = model.lock();
        let rows = m.ordered();
        let i = self.index(&rows);
        rows.get(i).map(|s| f(s))
    }

    /// The selected row's index now: where its session moved, else the last index chosen.
    fn index(&self, rows: &[&SessionView]) -> usize {
        let by_id = self.selected_id.as_ref().and_then(|id| rows.iter().position(|s| s.entry.id == *id));
        by_id.unwrap_or(self.selected).min(rows.len().saturating_sub(1))
    }

    fn send(&self, command: Command, done: &str, fx: &mut Effects) {
        match self.with_selected(|s| s.send(command).map(|_| s.entry.id.clone())) {
            Some(Ok(id)) => fx.notice(format!("{id}: {done}")),
            Some(Err(e)) => fx.error(e),
            None => fx.error("no session selected"),
        }
    }
}

/// What the selected row allows now.
struct RowState {
    wait: Option<Wait>,
    paused: bool,
    live: bool,
}

fn row_state(s: &SessionView) -> RowState {
    RowState { wait: s.waiting.wait(), paused: s.waiting.paused().is_some(), live: !s.closed && !s.waiting.finished() }
}

impl Panel for FleetPanel {
    fn id(&self) -> PanelId {
        PanelId(FLEET)
    }
    fn title(&self) -> &'static str {
        "Fleet"
    }
    fn layer(&self) -> KeyContext {
        KeyContext::Fleet
    }
    // In the prose column after the older panels, which keep their numbers: it is 9.
    fn placement(&self) -> Placement {
        Placement::Prose
    }
    fn offers(&self, _cx: &RenderCtx) -> Vec<Offer> {
        let st = self.with_selected(row_state);
        let live = st.as_ref().is_some_and(|s| s.live);
        let none = "no running session selected";
        let wait = st.as_ref().and_then(|s| s.wait.clone());
        let approvable = matches!(
            wait,
            Some(Wait::Escalation { .. } | Wait::Pick { .. } | Wait::Paused(PauseReason::Budget { .. } | PauseReason::Stall))
        );
        let verdict = matches!(wait, Some(Wait::Paused(PauseReason::Verifier { .. })));
        let mut v = vec![
            Offer::when(Action::Expand, st.is_some(), none),
            Offer::when(Action::Approve, live && approvable, "the selected session waits for no approval").urgent(),
            Offer::when(Action::Deny, live && matches!(wait, Some(Wait::Escalation { .. })), "no escalation waits on the selected session"),
            Offer::when(Action::VerdictAccept, live && verdict, "the selected session's verifier has not handed over"),
            Offer::when(Action::VerdictReject, live && verdict, "the selected session's verifier has not handed over"),
            Offer::when(Action::PauseResume, live, none),
            Offer::when(Action::Stop, live, none),
        ];
        v.extend(scroll_offers());
        v
    }
    fn act(&mut self, a: Action, cx: &RenderCtx, fx: &mut Effects) {
        if let Some(d) = scroll_delta(a, 5) {
            self.scroll(d, cx);
            self.stop_armed = None;
            return;
        }
        let Some((id, st)) = self.with_selected(|s| (s.entry.id.clone(), row_state(s))) else { return };
        if a != Action::Stop {
            self.stop_armed = None;
        }
        match a {
            Action::Expand => self.attach = Some(id),
            Action::PauseResume if st.paused => self.send(Command::Resume, "resume sent", fx),
            Action::PauseResume => self.send(Command::Pause, "pause sent", fx),
            Action::Stop if self.stop_armed.as_deref() == Some(id.as_str()) => {
                self.stop_armed = None;
                self.send(Command::Stop, "stop sent", fx);
            }
            Action::Stop => {
                let key = cx.key(KeyContext::Fleet, Action::Stop);
                fx.notice(format!("press {key} again to stop session {id}"));
                self.stop_armed = Some(id);
            }
            Action::Approve => match st.wait {
                Some(Wait::Escalation { id: e, .. }) => {
                    self.send(Command::ResolveEscalation { id: e, approve: true, note: None }, &format!("escalation {e} approved"), fx)
                }
                Some(Wait::Pick { judge_pick, .. }) => {
                    self.send(Command::PickCandidate(judge_pick), &format!("the judge's pick ({judge_pick}) confirmed"), fx)
                }
                // A resume after a budget or stall pause waives the limit that paused it.
                Some(Wait::Paused(_)) => self.send(Command::Resume, "approved: resumed past the limit", fx),
                None => {}
            },
            Action::Deny => {
                if let Some(Wait::Escalation { id: e, .. }) = st.wait {
                    let note = Some("denied from the fleet view".to_string());
                    self.send(Command::ResolveEscalation { id: e, approve: false, note }, &format!("escalation {e} denied"), fx);
                }
            }
            Action::VerdictAccept => self.send(Command::OverrideVerdict { accept: true, note: None }, "work accepted", fx),
            Action::VerdictReject => {
                let note = Some("The supervisor rejected the work from the fleet view: it is not done yet.".to_string());
                self.send(Command::OverrideVerdict { accept: false, note }, "work rejected; the agent keeps going", fx)
            }
            _ => {}
        }
    }
    fn scroll(&mut self, delta: isize, _cx: &RenderCtx) {
        let Some(model) = &self.model else { return };
        let m = model.lock();
        let rows = m.ordered();
        let i = self.index(&rows).saturating_add_signed(delta).min(rows.len().saturating_sub(1));
        self.selected = i;
        self.selected_id = rows.get(i).map(|s| s.entry.id.clone());
    }
    fn click(&mut self, row: u16, cx: &RenderCtx) {
        if row >= 1 {
            let target = usize::from(row - 1) / 2;
            let d = target as isize - self.selected as isize;
            self.selected_id = None;
            self.scroll(d, cx);
        }
    }
    fn render(&mut self, f: &mut Frame, area: Rect, cx: &RenderCtx) {
        self.drawn = true;
        if let Some(why) = &self.unavailable {
            empty_state(f, area, cx, why);
            return;
        }
        let Some(model) = &self.model else {
            empty_state(f, area, cx, "Reading the registry of running sessions…");
            return;
        };
        let m = model.lock();
        let rows = m.ordered();
        if rows.is_empty() {
            let text = if m.scanned { "No running sessions. Start one with `endure exec --detach \"TASK\"`." } else { "Reading the registry…" };
            empty_state(f, area, cx, text);
            return;
        }
        self.selected = self.index(&rows);
        // The selection stays on this session when the rows reorder.
        self.selected_id = rows.get(self.selected).map(|s| s.entry.id.clone());
        let th = cx.theme;
        let w = usize::from(area.width);
        let waiting = rows.iter().filter(|s| s.waiting.wait().is_some()).count();
        let mut lines = vec![Line::styled(format!("{} running · {waiting} waiting for you", rows.len()), th.style("ui.dim"))];
        let per_page = (usize::from(area.height).saturating_sub(1) / 2).max(1);
        let skip = self.selected.saturating_sub(per_page - 1);
        for (i, s) in rows.iter().enumerate().skip(skip).take(per_page) {
            let (label, scope) = state_label(s);
            let selected = i == self.selected;
            let marker = if selected { "▸ " } else { "  " };
            let figures = format!(
                "  step {} · {} · ${:.4} ",
                s.state.step(),
                super::status::clock(s.state.elapsed(cx.now)),
                s.state.core.usage.cost_usd
            );
            let spark = sparkline(s, 12);
            let head = vec![
                Span::styled(marker, th.style("ui.selection")),
                Span::styled(label.clone(), th.style(scope)),
                Span::raw("  "),
                Span::styled(s.entry.id.clone(), th.style("ui.title")),
                Span::styled(figures, th.style("ui.dim")),
                Span::styled(spark, th.style("endurance.tests")),
            ];
            let mut head = Line::from(head);
            if selected {
                head = head.style(th.style("ui.selection"));
            }
            lines.push(head);
            let ws = std::path::Path::new(&s.entry.workspace).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let task = s.entry.task.lines().next().unwrap_or("");
            let latest = s.latest.as_deref().map(|l| format!(" · {l}")).unwrap_or_default();
            let detail = crate::printable::visible(&format!("    {ws}: {task}{latest}")).into_owned();
            lines.push(Line::styled(truncate(&detail, w), th.style("ui.dim")));
        }
        drop(m);
        f.render_widget(Paragraph::new(lines), area);
    }
    crate::panel_any!();
}

/// The row's state and the scope it is drawn in.
fn state_label(s: &SessionView) -> (String, &'static str) {
    if let Some(w) = s.waiting.wait() {
        return (format!("WAITING: {}", w.why()), "status.waiting");
    }
    if s.closed || s.waiting.finished() {
        return ("ending".into(), "status.done");
    }
    if s.waiting.paused_by_supervisor() {
        return ("paused".into(), "status.paused");
    }
    (s.state.run_label().to_string(), "status.running")
}

/// Tests passing per step, newest last, as block characters scaled to the highest count.
fn sparkline(s: &SessionView, width: usize) -> String {
    let counts: Vec<u32> = s.state.samples.iter().filter_map(|x| x.tests_passed).collect();
    if counts.is_empty() {
        return String::new();
    }
    let tail = &counts[counts.len().saturating_sub(width)..];
    let max = tail.iter().copied().max().unwrap_or(0).max(1);
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let bars: String = tail.iter().map(|&c| BARS[((c as usize * 7) / max as usize).min(7)]).collect();
    format!("tests {bars} {}", tail.last().copied().unwrap_or(0))
}
