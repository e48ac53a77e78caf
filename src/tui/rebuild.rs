//! The Rebuild view: a rebuilt window waiting for the supervisor's review, section by section
//! (each with its tokens and its cap), then the old window's messages to pin.
//!
//! It only reads the proposal from the projection; every change is a `ReviewRebuild`
//! command, and the runtime answers with the revised proposal, so the totals shown are
//! always the runtime's own.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::pager::Pager;
use super::panels::RenderCtx;
use super::panels::status::tokens;
use super::state::RebuildProposal;
use super::text::{truncate, wrap};

/// One selectable row: a section of the new window, or a unit of the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    Section(usize),
    Unit(usize),
}

/// The key notations shown in the view's footer.
pub struct RebuildKeys {
    pub approve: String,
    pub veto: String,
    pub edit: String,
    pub pin: String,
    pub drop: String,
    pub hide: String,
}

#[derive(Debug, Default)]
pub struct RebuildView {
    pub selected: usize,
    /// The detail's scrolling.
    pub detail: Pager,
    /// The proposal the view last opened by itself, so hiding it sticks until the next one.
    pub opened_for: Option<u64>,
    /// The field whose editor is open: (proposal, field).
    pub editing: Option<(u64, String)>,
}

pub fn rows(p: &RebuildProposal) -> Vec<Row> {
    (0..p.sections.len()).map(Row::Section).chain((0..p.old_window.len()).map(Row::Unit)).collect()
}

impl RebuildView {
    pub fn selected_row(&self, p: &RebuildProposal) -> Option<Row> {
        let rows = rows(p);
        rows.get(self.selected.min(rows.len().saturating_sub(1))).copied()
    }

    pub fn move_by(&mut self, delta: isize, p: &RebuildProposal) {
        let n = rows(p).len();
        self.selected = self.selected.saturating_add_signed(delta).min(n.saturating_sub(1));
        self.detail.reset();
    }

    /// Draws the view over `area` (the caller blanks it first).
    pub fn render(&mut self, f: &mut Frame, area: Rect, ctx: &RenderCtx, keys: &RebuildKeys) {
        let th = ctx.theme;
        let Some(p) = &ctx.state.rebuild else { return };
        let title = format!(
            " Rebuild — cycle {} · {} of {} tokens · old window at {}% · {} · revision {} ",
            p.cycle,
            tokens(p.total_tokens),
            tokens(p.limit_tokens),
            p.fill_pct,
            p.checkpoint.as_deref().map_or("no checkpoint".to_string(), |c| format!("checkpoint {c}")),
            p.revision
        );
        let footer = format!(
            " {} approve · {} veto · {} edit field · {} pin message · {} drop/restore section · {} hide ",
            keys.approve, keys.veto, keys.edit, keys.pin, keys.drop, keys.hide
        );
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(th.style("ui.border.focused"))
            .title(Line::styled(truncate(&title, usize::from(area.width.saturating_sub(2))), th.style("ui.title.focused")))
            .title_bottom(Line::styled(truncate(&footer, usize::from(area.width.saturating_sub(2))), th.style("ui.dim")));
        let inner = block.inner(area);
        f.render_widget(block, area);
        let [list, detail] = Layout::horizontal([Constraint::Percentage(45), Constraint::Min(0)]).spacing(1).areas(inner);
        let all = rows(p);
        self.selected = self.selected.min(all.len().saturating_sub(1));
        let w = usize::from(list.width);

        // The list, with the old window under its own heading; the selection stays in view.
        let mut lines: Vec<(Option<usize>, Line)> = Vec::new();
        for (i, row) in all.iter().enumerate() {
            if *row == Row::Unit(0) {
                lines.push((None, Line::default()));
                lines.push((None, Line::styled(truncate("Old window — pin a message to carry it verbatim", w), th.style("ui.field"))));
            }
            let text = match row {
                Row::Section(s) => {
                    let s = &p.sections[*s];
                    let mut marks = Vec::new();
                    if !s.droppable {
                        marks.push("verbatim");
                    }
                    if s.dropped {
                        marks.push("dropped");
                    }
                    if s.edited {
                        marks.push("edited");
                    }
                    if s.trimmed {
                        marks.push("cut");
                    }
                    let size = format!("{} / {}", tokens(s.tokens), tokens(s.cap));
                    let name_w = w.saturating_sub(size.chars().count() + 2).min(30);
                    format!("{:<name_w$} {size} {}", truncate(&s.title, name_w), marks.join(" "))
                }
                Row::Unit(u) => {
                    let u = &p.old_window[*u];
                    let mark = if u.pinned {
                        "[pin] "
                    } else if u.in_tail {
                        "[tail]"
                    } else {
                        "[ -- ]"
                    };
                    format!("{mark} step {:<3} {} · {}", u.step, tokens(u.tokens), u.label)
                }
            };
            let style = match row {
                Row::Section(s) if p.sections[*s].dropped => th.style("ui.dim"),
                Row::Unit(u) if !p.old_window[*u].in_tail && !p.old_window[*u].pinned => th.style("ui.dim"),
                _ => th.style("ui"),
            };
            let line = Line::styled(truncate(&text, w), style);
            lines.push((Some(i), if i == self.selected { line.patch_style(th.style("ui.selection")) } else { line }));
        }
        let h = usize::from(list.height);
        let sel_pos = lines.iter().position(|(i, _)| *i == Some(self.selected)).unwrap_or(0);
        let first = sel_pos.saturating_sub(h.saturating_sub(1));
        f.render_widget(Paragraph::new(lines.into_iter().skip(first).take(h).map(|(_, l)| l).collect::<Vec<_>>()), list);

        let body = detail_lines(p, all.get(self.selected).copied(), ctx, usize::from(detail.width).max(1));
        f.render_widget(Paragraph::new(self.detail.visible(&body, detail.height)), detail);
    }
}

fn detail_lines(p: &RebuildProposal, row: Option<Row>, ctx: &RenderCtx, w: usize) -> Vec<Line<'static>> {
    let th = ctx.theme;
    let dim = th.style("ui.dim");
    let mut out: Vec<Line> = Vec::new();
    let mut para = |text: &str, style| {
        for l in text.split('\n') {
            for piece in wrap(l, w) {
                out.push(Line::styled(piece, style));
            }
        }
    };
    match row {
        Some(Row::Section(i)) => {
            let s = &p.sections[i];
            para(&s.title, th.style("ui.field"));
            para(
                &format!(
                    "{} tokens of a cap of {}{}",
                    tokens(s.tokens),
                    tokens(s.cap),
                    if s.trimmed { " · cut in the middle to fit" } else { "" }
                ),
                dim,
            );
            if !s.droppable {
                para("The user's own words: carried verbatim into every rebuilt window, never cut or dropped.", dim);
            }
            if s.dropped {
                para("Dropped: left out of the new window (restore it with the drop key).", dim);
            }
            para("", dim);
            if s.text.trim().is_empty() && s.key == "tail" {
                let kept: Vec<String> =
                    p.old_window.iter().filter(|u| u.in_tail || u.pinned).map(|u| format!("step {} · {}", u.step, u.label)).collect();
                para(&format!("{} message units carried verbatim, oldest first:", kept.len()), dim);
                for k in kept {
                    para(&k, th.style("ui"));
                }
            } else if s.text.trim().is_empty() {
                para("(empty)", dim);
            } else {
                para(&s.text, th.style("ui"));
            }
        }
        Some(Row::Unit(i)) => {
            let u = &p.old_window[i];
            let state = if u.pinned {
                "pinned: carried verbatim"
            } else if u.in_tail {
                "in the tail: carried verbatim as one of the newest messages"
            } else {
                "dropped: summarized by the checkpoint (pin it to carry it verbatim)"
            };
            para(&format!("Old window, unit {} · event #{} · step {}", u.index, u.seq, u.step), th.style("ui.field"));
            para(&format!("{} tokens · {state}", tokens(u.tokens)), dim);
            para("", dim);
            para(&u.label, th.style("ui"));
        }
        None => para("Nothing to review.", dim),
    }
    if !p.edits.is_empty() {
        out.push(Line::default());
        out.push(Line::from(vec![Span::styled(format!("{} change(s) so far", p.edits.len()), dim)]));
    }
    out
}
