//! File changes: a newest-first list with +/- counts over a detail view of the selected one,
//! per step or for the whole session, unified or side by side.

use std::rc::Rc;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{empty_state, RenderCtx};
use crate::config::keymap::{Action, KeyContext};
use crate::tui::pager::{Pager, selection_step};
use crate::tui::panel::{Effects, Offer, PanelId, Placement, scroll_delta, scroll_offers};
use crate::tui::session_diff::{FileStatus, SessionFileDiff};
use crate::tui::text::{hard_wrap, truncate};
use crate::tui::widgets::diffview;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum DiffMode {
    #[default]
    Unified,
    SideBySide,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum DiffScope {
    #[default]
    Step,
    Session,
}

/// One row of the list, borrowed from the projection or the session diff.
struct Item {
    label_prefix: String,
    path: String,
    diff: String,
    plus: usize,
    minus: usize,
}

/// What the rendered detail depends on: scope, mode, file, width and the change count.
type DetailKey = (DiffScope, DiffMode, usize, u16, u64);

#[derive(Default)]
pub struct DiffView {
    pub mode: DiffMode,
    pub scope: DiffScope,
    pub selected: usize,
    /// The detail's scrolling.
    pub detail_pager: Pager,
    /// Detail only, without the file list.
    pub expanded: bool,
    session: Option<(u64, Rc<Vec<SessionFileDiff>>)>,
    detail: Option<(DetailKey, Rc<Vec<Line<'static>>>)>,
    pub item_count: usize,
}

impl DiffView {
    fn session_files(&mut self, ctx: &RenderCtx) -> Rc<Vec<SessionFileDiff>> {
        let rev = ctx.state.changes.len() as u64;
        match &self.session {
            Some((r, files)) if *r == rev => files.clone(),
            _ => {
                let files = Rc::new(ctx.state.session_diff.files());
                self.session = Some((rev, files.clone()));
                files
            }
        }
    }

    fn count(&mut self, ctx: &RenderCtx) -> usize {
        match self.scope {
            DiffScope::Step => ctx.state.changes.len(),
            DiffScope::Session => self.session_files(ctx).len(),
        }
    }

    /// Row `i` of the list; built only for rows on screen so a long session costs nothing.
    fn item(&mut self, ctx: &RenderCtx, i: usize) -> Option<Item> {
        match self.scope {
            DiffScope::Step => {
                let n = ctx.state.changes.len();
                let c = ctx.state.changes.get(n.checked_sub(i + 1)?)?;
                Some(Item { label_prefix: format!("step {:>3}", c.step), path: c.path.clone(), diff: c.diff.clone(), plus: c.plus, minus: c.minus })
            }
            DiffScope::Session => {
                let files = self.session_files(ctx);
                let f = files.get(i)?;
                let st = match f.status {
                    FileStatus::Created => "added",
                    FileStatus::Deleted => "deleted",
                    FileStatus::Modified if f.exact => "modified",
                    FileStatus::Modified => "modified*",
                };
                Some(Item { label_prefix: format!("{st:<9}"), path: f.path.clone(), diff: f.diff.clone(), plus: f.plus, minus: f.minus })
            }
        }
    }

    pub fn move_selection(&mut self, delta: isize) {
        self.selected = self.selected.saturating_add_signed(delta).min(self.item_count.saturating_sub(1));
        self.detail_pager.reset();
    }

    pub fn render(&mut self, f: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let th = ctx.theme;
        let count = self.count(ctx);
        self.item_count = count;
        if count == 0 {
            let text = match self.scope {
                DiffScope::Step => "File changes appear here, newest first, as the agent edits the workspace.",
                DiffScope::Session => "No net changes to the workspace since the session started.",
            };
            self.render_header(f, area, ctx);
            empty_state(f, Rect { y: area.y.saturating_add(1), height: area.height.saturating_sub(1), ..area }, ctx, text);
            return;
        }
        self.selected = self.selected.min(count - 1);
        let list_h = if self.expanded { 0 } else { (count.min(usize::from(u16::MAX)) as u16).min(area.height / 3).max(1.min(area.height)) };
        let [header, list, detail] = Layout::vertical([Constraint::Length(1), Constraint::Length(list_h), Constraint::Min(0)]).areas(area);
        self.render_header(f, header, ctx);
        // Keep the selected file in the list window.
        let lh = usize::from(list.height);
        let first = if lh == 0 { 0 } else { self.selected.saturating_sub(lh - 1) };
        let w = usize::from(list.width);
        let visible_items: Vec<(usize, Item)> = (first..count.min(first + lh)).filter_map(|i| Some((i, self.item(ctx, i)?))).collect();
        let rows: Vec<Line> = visible_items
            .iter()
            .map(|(i, it)| {
                let counts = format!(" +{} -{}", it.plus, it.minus);
                let head = format!("{} ", it.label_prefix);
                let path_w = w.saturating_sub(head.chars().count() + counts.chars().count());
                let path = truncate(&it.path, path_w);
                let pad = path_w.saturating_sub(path.chars().count());
                let line = Line::from(vec![
                    Span::styled(head, th.style("ui.dim")),
                    Span::styled(path, th.style("diff.file")),
                    Span::raw(" ".repeat(pad)),
                    Span::styled(format!(" +{}", it.plus), th.style("diff.plus")),
                    Span::styled(format!(" -{}", it.minus), th.style("diff.minus")),
                ]);
                if *i == self.selected { line.patch_style(th.style("ui.selection")) } else { line }
            })
            .collect();
        f.render_widget(Paragraph::new(rows), list);

        if detail.height == 0 {
            return;
        }
        let Some(item) = self.item(ctx, self.selected) else { return };
        let key = (self.scope, self.mode, self.selected, detail.width, ctx.state.changes.len() as u64);
        let lines = match &self.detail {
            Some((k, l)) if *k == key => l.clone(),
            _ => {
                let raw = match self.mode {
                    DiffMode::Unified => diffview::unified(&item.diff, &item.path, th, ctx.hl),
                    DiffMode::SideBySide => diffview::side_by_side(&item.diff, &item.path, detail.width, th, ctx.hl),
                };
                let w = usize::from(detail.width);
                let l: Rc<Vec<Line<'static>>> = Rc::new(raw.into_iter().flat_map(|l| hard_wrap(l, w)).collect());
                self.detail = Some((key, l.clone()));
                l
            }
        };
        f.render_widget(Paragraph::new(self.detail_pager.visible(&lines, detail.height)), detail);
    }

    fn render_header(&self, f: &mut Frame, area: Rect, ctx: &RenderCtx) {
        if area.height == 0 {
            return;
        }
        let th = ctx.theme;
        let on = th.style("ui.tab.active");
        let off = th.style("ui.dim");
        let pick = |b: bool| if b { on } else { off };
        let line = Line::from(vec![
            Span::styled(" per step ", pick(self.scope == DiffScope::Step)),
            Span::styled(" session ", pick(self.scope == DiffScope::Session)),
            Span::raw("│"),
            Span::styled(" unified ", pick(self.mode == DiffMode::Unified)),
            Span::styled(" side by side ", pick(self.mode == DiffMode::SideBySide)),
        ]);
        f.render_widget(Paragraph::new(line), Rect { height: 1, ..area });
    }
}

impl crate::tui::panel::Panel for DiffView {
    fn id(&self) -> PanelId {
        PanelId::Diff
    }
    fn title(&self) -> &'static str {
        "Diff"
    }
    fn layer(&self) -> KeyContext {
        KeyContext::Diff
    }
    fn placement(&self) -> Placement {
        Placement::Wide
    }
    fn weight(&self) -> u16 {
        3
    }
    fn offers(&self, _cx: &RenderCtx) -> Vec<Offer> {
        let mut v = vec![Offer::on(Action::ToggleDiffScope), Offer::on(Action::ToggleDiffMode), Offer::on(Action::Expand)];
        v.extend(scroll_offers());
        v
    }
    fn act(&mut self, a: Action, cx: &RenderCtx, _fx: &mut Effects) {
        match a {
            Action::ToggleDiffMode => {
                self.mode = match self.mode {
                    DiffMode::Unified => DiffMode::SideBySide,
                    DiffMode::SideBySide => DiffMode::Unified,
                }
            }
            Action::ToggleDiffScope => {
                self.scope = match self.scope {
                    DiffScope::Step => DiffScope::Session,
                    DiffScope::Session => DiffScope::Step,
                };
                self.selected = 0;
                self.detail_pager.reset();
            }
            Action::Expand => self.expanded = !self.expanded,
            a if self.detail_pager.page_key(a) => {}
            _ => {
                if let Some(d) = scroll_delta(a, 1) {
                    self.scroll(d, cx);
                }
            }
        }
    }
    fn scroll(&mut self, delta: isize, _cx: &RenderCtx) {
        self.move_selection(selection_step(delta));
    }
    fn render(&mut self, f: &mut Frame, area: Rect, cx: &RenderCtx) {
        DiffView::render(self, f, area, cx)
    }
    crate::panel_any!();
}
