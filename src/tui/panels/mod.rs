//! The panels, each drawing one concern of the projection.

pub mod candidates;
pub mod rebuilt;
pub mod status;
pub mod transcript;

/// Declares each panel's module and builds the registry from the same list, so adding a
/// panel is its file plus one line here.
macro_rules! panels {
    ($($module:ident :: $panel:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// One of every panel, in the order listed (reading order sorts them by placement).
        pub fn all() -> Vec<Box<dyn Panel>> {
            vec![$(Box::new($module::$panel::default())),*]
        }
    };
}

panels![
    transcript_panel::TranscriptPanel,
    diff::DiffView,
    endurance::EndurancePanel,
    tasks::TasksView,
    verifier::VerifierView,
    checkpoints::CheckpointsView,
    memory::MemoryView,
    processes::ProcessesPanel,
    fleet::FleetPanel,
    attempts::AttemptsPanel,
    // Last: it stays hidden until a workflow starts, and then takes the focus itself.
    workflow::WorkflowPanel,
];

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::panel::Panel;
use super::state::WorkbenchState;
use super::text::wrap;
use super::widgets::highlight::Highlighter;
use crate::config::keymap::{Action, KeyContext, Keymap};
use crate::config::theme::Theme;

/// What every panel may read while drawing.
pub struct RenderCtx<'a> {
    pub theme: &'a Theme,
    pub hl: &'a Highlighter,
    /// What the usual panels show: the session, or the subagent it is scoped to.
    pub state: &'a WorkbenchState,
    /// The session's own state, whatever the scope (the Workflow panel's tree).
    pub root: &'a WorkbenchState,
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
    /// The transcript search being typed, while the search layer is open.
    pub search_input: Option<&'a str>,
}

impl RenderCtx<'_> {
    /// The key shown for `action` in `layer` (or the global section).
    pub fn key(&self, layer: KeyContext, action: Action) -> String {
        self.keymap.binding_for(layer, action).map(|b| b.notation.clone()).unwrap_or_else(|| "(unbound)".into())
    }
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
pub const VERIFIER_EMPTY: &str = "Goal-verifier verdicts appear here when the agent calls done: whether the goal is met, what is missing, and the evidence. \
     You can accept the work or send it back with a note from here.";
