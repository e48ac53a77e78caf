//! The panels, each drawing one concern of the projection.

pub mod candidates;
pub mod checkpoints;
pub mod diff;
pub mod endurance;
pub mod memory;
pub mod rebuilt;
pub mod status;
pub mod transcript;
pub mod transcript_panel;
pub mod verifier;

use chrono::{DateTime, Utc};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::panel::{Effects, Offer, Panel, PanelId, Placement, scroll_delta, scroll_offers};
use super::state::WorkbenchState;
use crate::config::keymap::{Action, KeyContext, Keymap};
use super::text::wrap;
use super::widgets::highlight::Highlighter;
use crate::config::theme::Theme;
use crate::protocol::TaskStatus;

/// What every panel may read while drawing.
pub struct RenderCtx<'a> {
    pub theme: &'a Theme,
    pub hl: &'a Highlighter,
    pub state: &'a WorkbenchState,
    pub now: DateTime<Utc>,
    /// Spinner frame; only advances while something animates.
    pub spinner: usize,
    /// Commands can be sent: a live session, not a replay.
    pub live: bool,
    pub keymap: &'a Keymap,
    /// Corrections sent and not yet acknowledged, shown at the transcript's end.
    pub pending: &'a [transcript::Sent],
    /// The context budget the session's figures are measured against.
    pub context_budget: u64,
}

impl RenderCtx<'_> {
    /// The key shown for `action` in `layer` (or the global section).
    pub fn key(&self, layer: KeyContext, action: Action) -> String {
        self.keymap.binding_for(layer, action).map(|b| b.notation.clone()).unwrap_or_else(|| "(unbound)".into())
    }
}

#[derive(Debug, Default)]
pub struct TasksView {
    pub scroll: usize,
}

impl TasksView {
    pub fn render(&mut self, f: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let th = ctx.theme;
        let tasks = &ctx.state.tasks();
        if tasks.is_empty() {
            empty_state(f, area, ctx, "The agent's task list appears here once it writes one.");
            return;
        }
        let h = usize::from(area.height);
        self.scroll = self.scroll.min(tasks.len().saturating_sub(h));
        // Keep the task in progress on screen unless the user scrolled on purpose.
        let lines: Vec<Line> = tasks
            .iter()
            .skip(self.scroll)
            .take(h)
            .map(|t| {
                let (icon, scope) = match t.status {
                    TaskStatus::Done => ("✓", "tasks.done"),
                    TaskStatus::InProgress => ("▶", "tasks.active"),
                    TaskStatus::Pending => ("○", "tasks.pending"),
                };
                let st = th.style(scope);
                let line = Line::from(vec![Span::styled(format!("{icon} "), st), Span::styled(t.title.clone(), st)]);
                if t.status == TaskStatus::InProgress { line.patch_style(th.style("ui.selection")) } else { line }
            })
            .collect();
        f.render_widget(Paragraph::new(lines), area);
    }

    pub fn scroll_by(&mut self, delta: isize, len: usize) {
        self.scroll = self.scroll.saturating_add_signed(delta).min(len.saturating_sub(1));
    }
}

impl Panel for TasksView {
    fn id(&self) -> PanelId {
        PanelId::Tasks
    }
    fn title(&self) -> &'static str {
        "Tasks"
    }
    fn layer(&self) -> KeyContext {
        KeyContext::Tasks
    }
    fn placement(&self) -> Placement {
        Placement::Side
    }
    fn weight(&self) -> u16 {
        2
    }
    fn offers(&self, _cx: &RenderCtx) -> Vec<Offer> {
        scroll_offers().to_vec()
    }
    fn act(&mut self, a: Action, cx: &RenderCtx, _fx: &mut Effects) {
        if let Some(d) = scroll_delta(a, 10) {
            self.scroll(d, cx);
        }
    }
    fn scroll(&mut self, delta: isize, cx: &RenderCtx) {
        self.scroll_by(delta, cx.state.tasks().len());
    }
    fn render(&mut self, f: &mut Frame, area: Rect, cx: &RenderCtx) {
        TasksView::render(self, f, area, cx)
    }
    crate::panel_any!();
}

/// Centered, wrapped text for a panel with nothing to show yet.
pub fn empty_state(f: &mut Frame, area: Rect, ctx: &RenderCtx, text: &str) {
    let lines: Vec<Line> = wrap(text, usize::from(area.width.saturating_sub(2)).max(1))
        .into_iter()
        .map(|l| Line::styled(l, ctx.theme.style("ui.dim")))
        .collect();
    let top = area.height.saturating_sub(lines.len() as u16) / 2;
    let r = Rect { y: area.y + top, height: area.height - top, ..area };
    f.render_widget(Paragraph::new(lines).alignment(ratatui::layout::Alignment::Center), r);
}

/// What the empty Checkpoints panel says, with the session's own thresholds.
pub fn checkpoints_empty(thresholds: &[u32]) -> String {
    let pcts: Vec<String> = thresholds.iter().map(|t| format!("{t}%")).collect();
    let list = match pcts.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    format!("Checkpoints appear here when the background writer saves one, at {list} of the context budget.")
}
pub const VERIFIER_EMPTY: &str =
    "Goal-verifier verdicts appear here when the agent calls done: whether the goal is met, what is missing, and the evidence. \
     You can accept the work or send it back with a note from here.";
