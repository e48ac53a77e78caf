//! Attempts: the session's attempt tree (rollbacks with the branches they abandoned, Max
//! Mode candidates not taken), built by the same `session::attempts::build` as `endure tree`
//! from the events the projection keeps. The selected node shows the checkpoint it starts
//! from, what it proposed and the files it changed (with their diffs on demand); a marked node
//! is compared with the selected one: tests and cost side by side, and the files.
//!
//! Forks are other sessions, whose logs the panel never reads: the runtime lists them
//! (`forks_found`) when the session resumes and when the panel asks (`ListForks`, on Expand).
//! In a replay there is no runtime to ask, so a replay shows no forks; `endure tree` does.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::checkpoints::field_text;
use super::{RenderCtx, empty_state};
use crate::config::keymap::{Action, KeyContext};
use crate::config::theme::Theme;
use crate::session::attempts::{self, AttemptNode, NodeKind, OtherLog};
use crate::tui::panel::{Effects, Offer, Panel, PanelId, Placement, scroll_offers};
use crate::tui::text::{truncate, wrap};

pub const EMPTY: &str = "The attempt tree appears here: each rollback with the branch it abandoned (steps, cost, last test counts), \
     each Max Mode step's candidates not taken, and the forks of this session (endure fork) with their outcome.";

#[derive(Debug, Default)]
pub struct AttemptsPanel {
    tree: Option<AttemptNode>,
    /// The kept events and forks the tree was built from (counts): rebuilt when more arrived,
    /// or fewer, when a replay moved back.
    built_from: (usize, usize, usize),
    selected: usize,
    /// The node compared with the selected one.
    marked: Option<String>,
    /// Show the diffs of the selected node's files.
    diffs: bool,
    scroll: usize,
    detail_height: u16,
}

impl AttemptsPanel {
    fn refresh(&mut self, cx: &RenderCtx) {
        let log = &cx.state.attempt_log;
        let forks = &cx.state.fork_logs;
        let key = (log.len(), forks.len(), forks.iter().map(|f| f.events.len()).sum::<usize>());
        if self.tree.is_some() && self.built_from == key {
            return;
        }
        let id = cx.state.session().map(|i| i.session_id.clone()).unwrap_or_else(|| "this session".into());
        let others: Vec<OtherLog> = forks.iter().map(|f| OtherLog { id: &f.id, events: &f.events }).collect();
        self.tree = Some(attempts::build(&id, &log.events(), &others));
        self.built_from = key;
    }

    fn nodes(&self) -> Vec<(usize, &AttemptNode)> {
        self.tree.as_ref().map(AttemptNode::flatten).unwrap_or_default()
    }

    fn has_branches(&self) -> bool {
        self.tree.as_ref().is_some_and(|t| !t.children.is_empty())
    }

    fn selected_node(&self) -> Option<&AttemptNode> {
        let nodes = self.nodes();
        nodes.get(self.selected.min(nodes.len().saturating_sub(1))).map(|(_, n)| *n)
    }
}

fn glyph(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Root => "●",
        NodeKind::Rollback => "↶",
        NodeKind::Pick => "◇",
        NodeKind::Fork => "⑂",
    }
}

fn styled_lines(text: &[String], th: &Theme, width: usize) -> Vec<Line<'static>> {
    text.iter()
        .map(|l| {
            let style = if l.starts_with("──") {
                th.style("diff.header")
            } else if l.starts_with("@@") {
                th.style("diff.hunk")
            } else if l.starts_with('+') && !l.starts_with("+++") {
                th.style("diff.plus")
            } else if l.starts_with('-') && !l.starts_with("---") {
                th.style("diff.minus")
            } else {
                th.style("ui")
            };
            Line::styled(truncate(l, width), style)
        })
        .collect()
}

/// What the selected node shows: its summary, the checkpoint it starts from, a candidate's
/// proposal, and its files (with their diffs when asked).
fn detail_lines(n: &AttemptNode, diffs: bool, th: &Theme, width: usize) -> Vec<Line<'static>> {
    let dim = th.style("ui.dim");
    let mut out: Vec<Line> = wrap(&n.label(), width).into_iter().map(|l| Line::styled(l, th.style("ui.field"))).collect();
    if let Some(cp) = &n.detail.checkpoint {
        out.push(Line::styled(format!("from checkpoint {}", n.at.as_deref().unwrap_or("?")), dim));
        for (name, value) in cp.fields() {
            let text = field_text(value);
            if text.trim().is_empty() {
                continue;
            }
            out.push(Line::styled(format!("  {name}"), th.style("ui.field")));
            for para in text.split('\n') {
                out.extend(wrap(para, width.saturating_sub(4).max(1)).into_iter().map(|l| Line::styled(format!("    {l}"), th.style("ui"))));
            }
        }
    }
    if let Some((text, calls)) = &n.detail.candidate {
        out.push(Line::styled("proposed, not run:", dim));
        for para in text.lines() {
            out.extend(wrap(para, width.saturating_sub(2).max(1)).into_iter().map(|l| Line::styled(format!("  {l}"), th.style("ui"))));
        }
        for c in calls {
            out.push(Line::styled(truncate(&format!("  → {} {}", c.name, c.arguments), width), th.style("transcript.tool.target")));
        }
    }
    if n.detail.files.is_empty() {
        if n.detail.candidate.is_none() {
            out.push(Line::styled("no file changed", dim));
        }
        return out;
    }
    out.push(Line::styled(format!("files{}", if diffs { "" } else { " (diffs hidden)" }), dim));
    for f in &n.detail.files {
        let what = if f.after.is_none() { "deleted" } else { "changed" };
        out.push(Line::from(vec![Span::styled(format!("  {} ", f.path), th.style("diff.file")), Span::styled(what.to_string(), dim)]));
        if diffs {
            let lines: Vec<String> = f.diff.lines().map(str::to_string).collect();
            out.extend(styled_lines(&lines, th, width));
        }
    }
    out
}

impl Panel for AttemptsPanel {
    fn id(&self) -> PanelId {
        PanelId("attempts")
    }
    fn title(&self) -> &'static str {
        "Attempts"
    }
    fn layer(&self) -> KeyContext {
        // Its keys are the checkpoint list's: mark to compare, toggle the diff.
        KeyContext::Checkpoints
    }
    fn placement(&self) -> Placement {
        // Last in the last column, so that adding it renumbers no other panel.
        Placement::Prose
    }
    fn offers(&self, cx: &RenderCtx) -> Vec<Offer> {
        let any = self.has_branches();
        const NONE: &str = "no rollback or Max Mode pick yet";
        let mut v = vec![
            Offer::when(Action::MarkCheckpoint, any, NONE),
            Offer::when(Action::ToggleCheckpointDiff, any, NONE),
            // Forks appear while the session is open; the runtime reads their logs again.
            Offer::live(Action::Expand, cx),
        ];
        v.extend(scroll_offers());
        v
    }
    fn act(&mut self, a: Action, cx: &RenderCtx, fx: &mut Effects) {
        self.refresh(cx);
        match a {
            Action::MarkCheckpoint => {
                let Some(id) = self.selected_node().map(|n| n.id.clone()) else { return };
                if self.marked.as_deref() == Some(id.as_str()) {
                    self.marked = None;
                    fx.notice("comparison off");
                } else {
                    fx.notice(format!("{id} marked: select another node to compare them"));
                    self.marked = Some(id);
                }
                self.scroll = 0;
            }
            Action::ToggleCheckpointDiff => {
                self.diffs = !self.diffs;
                self.scroll = 0;
            }
            Action::Expand => {
                fx.send(crate::protocol::Command::ListForks);
                fx.notice("reading the forks of this session again");
            }
            Action::PageUp | Action::PageDown => {
                let page = self.detail_height.saturating_sub(1).max(1) as isize;
                self.scroll = self.scroll.saturating_add_signed(if a == Action::PageUp { -page } else { page });
            }
            Action::ScrollDown => self.scroll(1, cx),
            Action::ScrollUp => self.scroll(-1, cx),
            Action::Top => self.scroll(isize::MIN / 2, cx),
            Action::Bottom => self.scroll(isize::MAX / 2, cx),
            _ => {}
        }
    }
    fn scroll(&mut self, delta: isize, cx: &RenderCtx) {
        self.refresh(cx);
        let n = self.nodes().len();
        self.selected = self.selected.saturating_add_signed(delta).min(n.saturating_sub(1));
        self.scroll = 0;
    }
    fn render(&mut self, f: &mut Frame, area: Rect, cx: &RenderCtx) {
        self.refresh(cx);
        let forked = cx.state.core.forked_from.as_ref().map(|(p, at)| format!("forked from session {p} at checkpoint {at}"));
        if !self.has_branches() && forked.is_none() {
            empty_state(f, area, cx, EMPTY);
            return;
        }
        // Taken for the frame, so that the selection and scroll can change while it is read.
        let Some(tree) = self.tree.take() else { return };
        self.draw(f, area, cx, &tree, forked);
        self.tree = Some(tree);
    }
    crate::panel_any!();
}

impl AttemptsPanel {
    fn draw(&mut self, f: &mut Frame, area: Rect, cx: &RenderCtx, tree: &AttemptNode, forked: Option<String>) {
        let th = cx.theme;
        let w = usize::from(area.width);
        let nodes = tree.flatten();
        self.selected = self.selected.min(nodes.len().saturating_sub(1));
        let list_h = (nodes.len().min(usize::from(u16::MAX)) as u16).min(area.height / 2).max(1.min(area.height));
        let [header, list, detail] = Layout::vertical([Constraint::Length(1), Constraint::Length(list_h), Constraint::Min(0)]).areas(area);
        let branches = nodes.len().saturating_sub(1);
        let mut head = format!("{branches} other attempt{}", if branches == 1 { "" } else { "s" });
        if let Some(fk) = &forked {
            head = format!("{fk} · {head}");
        }
        if let Some(m) = &self.marked {
            head.push_str(&format!(" · comparing with {m}"));
        }
        f.render_widget(Paragraph::new(Line::styled(truncate(&head, w), th.style("ui.dim"))), header);

        let lh = usize::from(list.height);
        let first = if lh == 0 { 0 } else { self.selected.saturating_sub(lh - 1) };
        let rows: Vec<Line> = nodes
            .iter()
            .enumerate()
            .skip(first)
            .take(lh)
            .map(|(i, (depth, n))| {
                let mark = if self.marked.as_deref() == Some(n.id.as_str()) { "◆ " } else { "" };
                let style = match n.kind {
                    NodeKind::Root | NodeKind::Fork => th.style("ui"),
                    NodeKind::Rollback | NodeKind::Pick => th.style("ui.dim"),
                };
                let text = format!("{}{}{} {}", "  ".repeat(*depth), mark, glyph(n.kind), n.label());
                let line = Line::styled(truncate(&text, w), style);
                if i == self.selected { line.patch_style(th.style("ui.selection")) } else { line }
            })
            .collect();
        f.render_widget(Paragraph::new(rows), list);

        self.detail_height = detail.height;
        if detail.height == 0 {
            return;
        }
        let Some((_, sel)) = nodes.get(self.selected) else { return };
        let marked = self.marked.as_deref().and_then(|m| nodes.iter().map(|(_, n)| *n).find(|n| n.id == m)).filter(|m| m.id != sel.id);
        let lines = match marked {
            Some(m) => styled_lines(&attempts::compare(m, sel), th, w),
            None => detail_lines(sel, self.diffs, th, w),
        };
        self.scroll = self.scroll.min(lines.len().saturating_sub(usize::from(detail.height)));
        let visible: Vec<Line> = lines.into_iter().skip(self.scroll).take(usize::from(detail.height)).collect();
        f.render_widget(Paragraph::new(visible).style(Style::default()), detail);
    }
}
