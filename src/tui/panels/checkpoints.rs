//! Checkpoints: every checkpoint the background writer saved, by cycle, over the selected
//! one's 11 fields, or those fields as a diff against the checkpoint it continues from.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::status::tokens;
use super::{empty_state, RenderCtx};
use crate::config::keymap::{Action, KeyContext};
use crate::tui::app::ConfirmKind;
use crate::tui::pager::{Pager, selection_step};
use crate::tui::panel::{Effect, Effects, Offer, PanelId, Placement, READ_ONLY, scroll_delta, scroll_offers};
use crate::config::theme::Theme;
use crate::protocol::CheckpointField;
use crate::tui::state::{CheckpointEntry, WorkbenchState};
use crate::tui::text::{hard_wrap, truncate, wrap};

#[derive(Debug, Default)]
pub struct CheckpointsView {
    /// The selected checkpoint; `None` follows the newest, so a checkpoint saved while the
    /// panel is open is the one shown unless the user picked another.
    pub selected: Option<usize>,
    /// The field view's scrolling.
    pub detail: Pager,
    /// Show the fields as a diff against the marked checkpoint, else the previous one.
    pub diff: bool,
    /// The checkpoint diffs compare against, chosen by the supervisor.
    pub marked: Option<usize>,
    /// Fields only, without the list.
    pub expanded: bool,
}

impl CheckpointsView {
    /// The index of the selected checkpoint among `n`.
    pub fn selected_index(&self, n: usize) -> Option<usize> {
        let last = n.checked_sub(1)?;
        Some(self.selected.unwrap_or(last).min(last))
    }

    pub fn move_selection(&mut self, delta: isize, n: usize) {
        let Some(cur) = self.selected_index(n) else { return };
        let next = cur.saturating_add_signed(delta).min(n - 1);
        // Back on the newest: follow again.
        self.selected = if next + 1 == n { None } else { Some(next) };
        self.detail.reset();
    }

    /// The selected checkpoint's id, for the rollback prompt.
    pub fn selected_id(&self, state: &WorkbenchState) -> Option<String> {
        let i = self.selected_index(state.checkpoints.len())?;
        state.checkpoints.get(i).map(|c| c.id.clone())
    }

    pub fn render(&mut self, f: &mut Frame, area: Rect, ctx: &RenderCtx) {
        let th = ctx.theme;
        let st = ctx.state;
        let cps = &st.checkpoints;
        let Some(sel) = self.selected_index(cps.len()) else {
            empty_state(f, area, ctx, &super::checkpoints_empty(&ctx.state.thresholds()));
            return;
        };
        let list_h = if self.expanded { 0 } else { (cps.len().min(usize::from(u16::MAX)) as u16).min(area.height / 3).max(1.min(area.height)) };
        let [header, list, detail] = Layout::vertical([Constraint::Length(1), Constraint::Length(list_h), Constraint::Min(0)]).areas(area);
        let w = usize::from(area.width);

        let mut head = format!("cycle {}", st.core.cycle);
        for (n, what) in [(st.core.rollovers, "rollover"), (st.core.rollbacks, "rollback")] {
            if n > 0 {
                head.push_str(&format!(" · {n} {what}{}", if n == 1 { "" } else { "s" }));
            }
        }
        let against = self.marked.filter(|m| *m != sel && *m < cps.len()).or(cps[sel].prev);
        if self.diff {
            let name = against.and_then(|p| cps.get(p)).map_or("nothing".to_string(), |p| p.id.clone());
            head.push_str(&format!(" · diff against {name}"));
        }
        f.render_widget(Paragraph::new(Line::styled(truncate(&head, w), th.style("ui.dim"))), header);

        // Keep the selection in the list window.
        let lh = usize::from(list.height);
        let first = if lh == 0 { 0 } else { sel.saturating_sub(lh - 1) };
        let rows: Vec<Line> = cps
            .iter()
            .enumerate()
            .skip(first)
            .take(lh)
            .map(|(i, c)| {
                let line = list_row(c, th, w, self.marked == Some(i));
                if i == sel { line.patch_style(th.style("ui.selection")) } else { line }
            })
            .collect();
        f.render_widget(Paragraph::new(rows), list);

        if detail.height == 0 {
            return;
        }
        let entry = &cps[sel];
        let prev = against.and_then(|p| cps.get(p));
        let lines = if self.diff { diff_lines(entry, prev, th, w) } else { field_lines(entry, th, w) };
        f.render_widget(Paragraph::new(self.detail.visible(&lines, detail.height)), detail);
    }
}

/// `1.2  45% · 57.6k tok`, with its flags as badges, `◆` when marked for comparison, and
/// dimmed when a rollback abandoned it.
fn list_row(c: &CheckpointEntry, th: &Theme, width: usize, marked: bool) -> Line<'static> {
    let mut text = format!("{:<5} {:>3}% · {} tok", c.id, c.threshold_pct, tokens(c.window_tokens));
    for f in &c.flags {
        text.push_str(&format!(" [{}]", badge(&f.kind)));
    }
    if marked {
        text.push_str(" ◆ compared");
    }
    if c.abandoned {
        let text = truncate(&format!("{text} · abandoned"), width);
        Line::styled(text, th.style("ui.abandoned"))
    } else {
        Line::styled(truncate(&text, width), th.style("ui"))
    }
}

/// A flag's short badge.
fn badge(kind: &str) -> &str {
    match kind {
        crate::memory::drift::INTENT_DRIFT => "drift",
        crate::memory::drift::STALE_TASK => "stale",
        crate::memory::drift::LOST_DIRECTIVE => "lost",
        crate::memory::drift::SNAPSHOT_MISSING => "no snap",
        other => other,
    }
}

/// A field's value as text: a string as it is, a list one bullet a line. Also what the diff
/// compares, so a reordered list shows as moved lines.
pub fn field_text(v: &CheckpointField) -> String {
    match v {
        CheckpointField::Text(t) => t.trim_end().to_string(),
        CheckpointField::List(items) => items.iter().map(|i| format!("• {}", i.trim_end())).collect::<Vec<_>>().join("\n"),
    }
}

fn summary(c: &CheckpointEntry) -> String {
    format!("checkpoint {} · at {}% · {} tok · up to event {} · {}", c.id, c.threshold_pct, tokens(c.window_tokens), c.upto_seq, c.path)
}

/// One line per flag the runtime raised on the checkpoint.
fn flag_lines(c: &CheckpointEntry, th: &Theme, width: usize) -> Vec<Line<'static>> {
    c.flags
        .iter()
        .flat_map(|f| wrap(&format!("⚑ {}: {}", f.kind, f.detail), width))
        .map(|l| Line::styled(l, th.style("transcript.notice.warning")))
        .collect()
}

/// Field name, then the value indented; a list's items hang under their bullets.
pub fn field_lines(c: &CheckpointEntry, th: &Theme, width: usize) -> Vec<Line<'static>> {
    let mut out: Vec<Line> = wrap(&summary(c), width).into_iter().map(|l| Line::styled(l, th.style("ui.dim"))).collect();
    out.extend(flag_lines(c, th, width));
    let body = th.style("ui");
    for (name, value) in c.checkpoint.fields() {
        out.push(Line::styled(name.to_string(), th.style("ui.field")));
        let text = field_text(value);
        if text.trim().is_empty() {
            out.push(Line::styled("  —", th.style("ui.dim")));
            continue;
        }
        for para in text.split('\n') {
            let (first, rest, inner) = match para.strip_prefix("• ") {
                Some(item) => ("  • ", "    ", item),
                None => ("  ", "  ", para),
            };
            let avail = width.saturating_sub(first.chars().count()).max(1);
            for (k, l) in wrap(inner, avail).into_iter().enumerate() {
                let lead = if k == 0 { first } else { rest };
                out.push(Line::from(vec![Span::styled(lead.to_string(), th.style("markdown.list")), Span::styled(l, body)]));
            }
        }
    }
    out
}

/// Per field: collapsed to one line when unchanged, else its lines marked added or removed.
pub fn diff_lines(c: &CheckpointEntry, prev: Option<&CheckpointEntry>, th: &Theme, width: usize) -> Vec<Line<'static>> {
    let mut out: Vec<Line> = wrap(&summary(c), width).into_iter().map(|l| Line::styled(l, th.style("ui.dim"))).collect();
    out.extend(flag_lines(c, th, width));
    let Some(prev) = prev else {
        let head = out.len();
        out.push(Line::styled("No earlier checkpoint on this branch: every field is new.", th.style("ui.dim")));
        // The fields as they are, without repeating the summary.
        out.extend(field_lines(c, th, width).into_iter().skip(head));
        return out;
    };
    out.push(Line::styled(format!("against {}", prev.id), th.style("ui.dim")));
    let mut unchanged = 0;
    for ((name, new), (_, old)) in c.checkpoint.fields().into_iter().zip(prev.checkpoint.fields()) {
        // Every line newline-terminated, so an unchanged last line is not reported as changed
        // just because another line now follows it.
        let (old, new) = (format!("{}\n", field_text(old)), format!("{}\n", field_text(new)));
        if old == new {
            unchanged += 1;
            out.push(Line::from(vec![Span::styled(name.to_string(), th.style("ui.field")), Span::styled("  unchanged", th.style("ui.dim"))]));
            continue;
        }
        out.push(Line::styled(name.to_string(), th.style("ui.field")));
        let diff = similar::TextDiff::from_lines(&old, &new);
        for ch in diff.iter_all_changes() {
            let (mark, st): (&str, Style) = match ch.tag() {
                similar::ChangeTag::Insert => ("+ ", th.style("diff.plus")),
                similar::ChangeTag::Delete => ("- ", th.style("diff.minus")),
                similar::ChangeTag::Equal => ("  ", th.style("diff.context")),
            };
            let text = ch.value().trim_end_matches('\n').to_string();
            out.extend(hard_wrap(Line::from(vec![Span::styled(mark, st), Span::styled(text, st)]), width));
        }
    }
    if unchanged == crate::protocol::Checkpoint::FIELDS.len() {
        out.push(Line::styled("Nothing changed since the previous checkpoint.", th.style("ui.dim")));
    }
    out
}

impl crate::tui::panel::Panel for CheckpointsView {
    fn id(&self) -> PanelId {
        PanelId::Checkpoints
    }
    fn title(&self) -> &'static str {
        "Checkpoints"
    }
    fn layer(&self) -> KeyContext {
        KeyContext::Checkpoints
    }
    fn placement(&self) -> Placement {
        Placement::Prose
    }
    fn offers(&self, cx: &RenderCtx) -> Vec<Offer> {
        let any = !cx.state.checkpoints.is_empty();
        const NONE: &str = "no checkpoint yet";
        let mut v = vec![
            Offer::when(Action::Rollback, any && cx.live, if cx.live { NONE } else { READ_ONLY }),
            Offer::when(Action::ToggleCheckpointDiff, any, NONE),
            Offer::when(Action::MarkCheckpoint, any, NONE),
            Offer::when(Action::Expand, any, NONE),
            // Named here because this is where the supervisor looks at what a rollover keeps.
            Offer::when(Action::Rollover, cx.live && cx.state.run.is_active(), if cx.live { "nothing to roll over now" } else { READ_ONLY }),
        ];
        v.extend(scroll_offers());
        v
    }
    fn act(&mut self, a: Action, cx: &RenderCtx, fx: &mut Effects) {
        let n = cx.state.checkpoints.len();
        match a {
            Action::Rollback => {
                if let Some(id) = self.selected_id(cx.state) {
                    fx.push(Effect::Confirm(ConfirmKind::Rollback(id)));
                }
            }
            Action::ToggleCheckpointDiff => {
                self.diff = !self.diff;
                self.detail.reset();
            }
            Action::MarkCheckpoint => {
                let Some(sel) = self.selected_index(n) else { return };
                if self.marked == Some(sel) {
                    self.marked = None;
                    fx.notice("diffs compare with the previous checkpoint again");
                } else {
                    self.marked = Some(sel);
                    self.diff = true;
                    fx.notice(format!("diffs now compare with checkpoint {}", cx.state.checkpoints[sel].id));
                }
            }
            Action::Expand => self.expanded = !self.expanded,
            Action::Rollover => {
                fx.send(crate::protocol::Command::Rollover);
                fx.notice("rollover requested");
            }
            a if self.detail.page_key(a) => {}
            _ => {
                if let Some(d) = scroll_delta(a, 1) {
                    self.scroll(d, cx);
                }
            }
        }
    }
    fn scroll(&mut self, delta: isize, cx: &RenderCtx) {
        self.move_selection(selection_step(delta), cx.state.checkpoints.len());
    }
    fn render(&mut self, f: &mut Frame, area: Rect, cx: &RenderCtx) {
        CheckpointsView::render(self, f, area, cx)
    }
    crate::panel_any!();
}
