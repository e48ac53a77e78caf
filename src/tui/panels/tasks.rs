//! The agent's task list, the task in progress highlighted.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{RenderCtx, empty_state};
use crate::config::keymap::{Action, KeyContext};
use crate::protocol::TaskStatus;
use crate::tui::pager::Pager;
use crate::tui::panel::{Effects, Offer, Panel, PanelId, Placement, scroll_delta, scroll_offers};

#[derive(Debug, Default)]
pub struct TasksView {
    pub pager: Pager,
}

impl TasksView {
    pub fn render(&mut self, f: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let th = ctx.theme;
        let tasks = &ctx.state.tasks();
        if tasks.is_empty() {
            empty_state(f, area, ctx, "The agent's task list appears here once it writes one.");
            return;
        }
        let lines: Vec<Line> = tasks[self.pager.window(tasks.len(), area.height)]
            .iter()
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
        if let Some(d) = scroll_delta(a, self.pager.page()) {
            self.scroll(d, cx);
        }
    }
    fn scroll(&mut self, delta: isize, _cx: &RenderCtx) {
        self.pager.by(delta);
    }
    fn render(&mut self, f: &mut Frame, area: Rect, cx: &RenderCtx) {
        TasksView::render(self, f, area, cx)
    }
    crate::panel_any!();
}

