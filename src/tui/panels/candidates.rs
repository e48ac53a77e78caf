//! Max Mode candidates: the N proposals of one step side by side, drawn in the Transcript
//! panel's place while the step is in flight (or when the supervisor asks for them).
//!
//! Each column holds a candidate's text, one line per proposed tool call, and a diff preview of
//! the file edits it would make, so a pick can be judged on what would actually change. When
//! the columns do not fit, a strip of numbers says which ones are on screen and the selection
//! scrolls through them.

use crate::tui::pager::Pager;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use serde_json::Value;

use super::{RenderCtx, empty_state};
use crate::config::theme::Theme;
use crate::protocol::{PickedBy, ToolCallRequest};
use crate::tui::state::call_target;
use crate::tui::state::{Candidate, CandidateStatus, MaxStep, WorkbenchState};
use crate::tui::text::{hard_wrap, truncate, wrap};
use crate::tui::widgets::diffview;
use crate::tui::widgets::highlight::Highlighter;
use crate::tui::widgets::markdown;

/// Narrower than this, a candidate's Markdown and diff stop being readable.
const MIN_COLUMN: u16 = 32;

/// Key notations the view names, from the active keymap.
#[derive(Debug, Clone, Default)]
pub struct CandidateKeys {
    pub prev: String,
    pub next: String,
    pub pick: String,
    pub toggle: String,
    pub step_prev: String,
    pub step_next: String,
    pub max_mode: String,
    pub review: String,
}

#[derive(Debug, Default)]
pub struct CandidatesView {
    /// The newest Max Mode step the view has reacted to, so that only a new step opens it.
    pub followed_step: Option<u64>,
    /// Drawn in the Transcript panel's place.
    pub shown: bool,
    /// Shown because a Max Mode step started streaming rather than because the supervisor
    /// asked, so the transcript comes back by itself when that step ends.
    pub auto: bool,
    /// Index into `WorkbenchState::max_steps`; `None` follows the newest step.
    pub step: Option<usize>,
    /// Position of the selected candidate among the step's candidates.
    pub selected: usize,
    /// Rows scrolled past, shared by every column so they stay comparable.
    pub pager: Pager,
}

impl CandidatesView {
    /// The index of the step shown among `n` steps.
    pub fn step_index(&self, n: usize) -> Option<usize> {
        let last = n.checked_sub(1)?;
        Some(self.step.unwrap_or(last).min(last))
    }

    pub fn shown_step<'a>(&self, state: &'a WorkbenchState) -> Option<&'a MaxStep> {
        state.max_steps.get(self.step_index(state.max_steps.len())?)
    }

    /// Opens the view on step index `i` (None: the newest).
    pub fn open(&mut self, i: Option<usize>, auto: bool) {
        self.shown = true;
        self.auto = auto;
        self.step = i;
        self.selected = 0;
        self.pager.reset();
    }

    pub fn move_step(&mut self, delta: isize, n: usize) {
        let Some(cur) = self.step_index(n) else { return };
        let next = cur.saturating_add_signed(delta).min(n - 1);
        self.step = if next + 1 == n { None } else { Some(next) };
        self.selected = 0;
        self.pager.reset();
    }

    pub fn move_selection(&mut self, delta: isize, n: usize) {
        self.selected = self.selected.saturating_add_signed(delta).min(n.saturating_sub(1));
    }

    /// The 1-based number of the selected candidate of the shown step.
    pub fn selected_number(&self, state: &WorkbenchState) -> Option<u32> {
        let m = self.shown_step(state)?;
        m.candidates.get(self.selected.min(m.candidates.len().saturating_sub(1))).map(|c| c.index)
    }

    pub fn render(&mut self, f: &mut Frame, area: Rect, ctx: &RenderCtx, keys: &CandidateKeys) {
        let th = ctx.theme;
        let st = ctx.state;
        let Some(si) = self.step_index(st.max_steps.len()) else {
            let text = format!(
                "No Max Mode step yet. {} turns Max Mode on (5 candidates per step, judged; the losers cost overhead, not context); \
                 {} makes every pick wait for you; {} goes back to the transcript.",
                keys.max_mode, keys.review, keys.toggle
            );
            empty_state(f, area, ctx, &text);
            return;
        };
        let m = &st.max_steps[si];
        let n = m.candidates.len();
        self.selected = self.selected.min(n.saturating_sub(1));
        let waiting = st.awaiting_pick().is_some_and(|w| w.step == m.step);
        let w = usize::from(area.width);

        let mut head: Vec<Line> = Vec::new();
        let mut title = format!("step {} · {n} candidate{}", m.step, if n == 1 { "" } else { "s" });
        if st.max_steps.len() > 1 {
            title.push_str(&format!(
                " · Max Mode step {} of {} ({}/{} browse)",
                si + 1,
                st.max_steps.len(),
                keys.step_prev,
                keys.step_next
            ));
        }
        title.push_str(&format!(" · {} transcript", keys.toggle));
        head.push(Line::styled(truncate(&title, w), th.style("ui.dim")));
        let (verdict, scope) = verdict_text(m, waiting, self.selected_number(st), keys);
        for l in wrap(&verdict, w).into_iter().take(3) {
            head.push(Line::styled(l, th.style(scope)));
        }

        let fit = usize::from((area.width / MIN_COLUMN).max(1));
        let shown = n.min(fit).max(1);
        let first = if self.selected < shown { 0 } else { self.selected + 1 - shown };
        let strip = n > shown;
        let head_h = (head.len() + usize::from(strip)) as u16;
        let [head_area, body] = Layout::vertical([Constraint::Length(head_h), Constraint::Min(0)]).areas(area);
        if strip {
            head.push(strip_line(m, first, shown, self.selected, th, keys));
        }
        f.render_widget(Paragraph::new(head), head_area);
        if body.height == 0 {
            return;
        }
        if n == 0 {
            empty_state(f, body, ctx, "Waiting for the first candidate…");
            return;
        }
        let cols = Layout::horizontal(vec![Constraint::Fill(1); shown]).split(body);
        let (mut max_rows, mut height) = (0, 0);
        for (k, col) in cols.iter().enumerate() {
            let pos = first + k;
            let Some(c) = m.candidates.get(pos) else { continue };
            let selected = pos == self.selected;
            let block =
                Block::default().borders(Borders::ALL).border_style(th.style(border_scope(m, c, selected))).title(column_title(m, c, th));
            let inner = block.inner(*col);
            f.render_widget(block, *col);
            let lines = candidate_lines(c, inner.width, th, ctx.hl);
            max_rows = max_rows.max(lines.len().saturating_sub(usize::from(inner.height)));
            height = inner.height;
            let visible: Vec<Line> = lines.into_iter().skip(self.pager.offset).take(usize::from(inner.height)).collect();
            f.render_widget(Paragraph::new(visible), inner);
        }
        self.pager.fit(height, max_rows);
    }
}

/// What the judge and the pick say, and its scope: the call to act while the run waits.
fn verdict_text(m: &MaxStep, waiting: bool, selected: Option<u32>, keys: &CandidateKeys) -> (String, &'static str) {
    let judge = m.judge.as_ref().map(|(p, r)| format!("the judge picked #{p}: {r}"));
    if waiting {
        let sel = selected.map_or(String::new(), |s| format!(" · {} executes #{s}", keys.pick));
        let j = judge.unwrap_or_default();
        return (format!("◆ waiting for your pick — {}/{} select{sel} · {j}", keys.prev, keys.next), "candidate.waiting");
    }
    if let Some((p, by)) = m.picked {
        let who = match by {
            PickedBy::Judge => "picked by the judge".to_string(),
            PickedBy::Supervisor => "picked by you".to_string(),
            PickedBy::Fallback => "fallback: the judge's answer was unusable, so the first candidate runs".to_string(),
        };
        let rest = judge.map_or(String::new(), |j| format!(" · {j}"));
        return (format!("▶ #{p} executes ({who}){rest}"), "candidate.picked");
    }
    match judge {
        Some(j) => (format!("★ {j}"), "candidate.judge"),
        None => {
            let done = m.candidates.iter().filter(|c| c.status != CandidateStatus::Streaming).count();
            (format!("candidates streaming ({done} of {} complete); the judge answers when all are in", m.candidates.len()), "ui.dim")
        }
    }
}

/// `‹ 1 2 [3] 4 ›`: which candidates the columns show, when not all fit.
fn strip_line(m: &MaxStep, first: usize, shown: usize, selected: usize, th: &Theme, keys: &CandidateKeys) -> Line<'static> {
    let mut spans = vec![Span::styled(format!("{} ", keys.prev), th.style("ui.dim"))];
    for (i, c) in m.candidates.iter().enumerate() {
        let label = if i == selected { format!("[{}]", c.index) } else { format!(" {} ", c.index) };
        let on_screen = i >= first && i < first + shown;
        let scope = if i == selected {
            "ui.tab.active"
        } else if on_screen {
            "ui.tab"
        } else {
            "ui.dim"
        };
        spans.push(Span::styled(label, th.style(scope)));
    }
    spans.push(Span::styled(format!(" {}", keys.next), th.style("ui.dim")));
    Line::from(spans)
}

fn border_scope(m: &MaxStep, c: &Candidate, selected: bool) -> &'static str {
    if selected {
        "ui.border.focused"
    } else if m.picked.is_some_and(|(p, _)| p == c.index) {
        "candidate.picked"
    } else if m.judge.as_ref().is_some_and(|(p, _)| *p == c.index) {
        "candidate.judge"
    } else if matches!(c.status, CandidateStatus::Failed(_)) {
        "candidate.failed"
    } else {
        "ui.border"
    }
}

/// ` #2 ★ judge ▶ runs `: the marks carry the meaning, colour only repeats it.
fn column_title(m: &MaxStep, c: &Candidate, th: &Theme) -> Line<'static> {
    let mut spans = vec![Span::styled(format!(" #{} ", c.index), th.style("ui.title"))];
    if m.judge.as_ref().is_some_and(|(p, _)| *p == c.index) {
        spans.push(Span::styled("★ judge ", th.style("candidate.judge")));
    }
    if let Some((p, by)) = m.picked
        && p == c.index
    {
        let who = match by {
            PickedBy::Judge => "judge",
            PickedBy::Supervisor => "you",
            PickedBy::Fallback => "fallback",
        };
        spans.push(Span::styled(format!("▶ runs ({who}) "), th.style("candidate.picked")));
    }
    match &c.status {
        CandidateStatus::Streaming => spans.push(Span::styled("… ", th.style("ui.dim"))),
        CandidateStatus::Failed(_) => spans.push(Span::styled("✗ failed ", th.style("candidate.failed"))),
        CandidateStatus::Proposed => {}
    }
    Line::from(spans)
}

/// A candidate's column: why it failed, its text, its tool calls, and the diffs of its edits.
pub fn candidate_lines(c: &Candidate, width: u16, th: &Theme, hl: &Highlighter) -> Vec<Line<'static>> {
    let w = usize::from(width).max(1);
    let mut out: Vec<Line<'static>> = Vec::new();
    if let CandidateStatus::Failed(reason) = &c.status {
        out.extend(wrap(&format!("✗ {reason}"), w).into_iter().map(|l| Line::styled(l, th.style("candidate.failed"))));
    }
    if !c.text.trim().is_empty() {
        if !out.is_empty() {
            out.push(Line::default());
        }
        out.extend(markdown::render(&c.text, width, th, hl));
    } else if c.status == CandidateStatus::Streaming {
        out.push(Line::styled("(waiting for text…)", th.style("ui.dim")));
    }
    if c.tool_calls.is_empty() {
        return out;
    }
    out.push(Line::default());
    out.push(Line::styled(
        format!("{} tool call{}", c.tool_calls.len(), if c.tool_calls.len() == 1 { "" } else { "s" }),
        th.style("ui.field"),
    ));
    let parsed: Vec<(&ToolCallRequest, Value)> = c.tool_calls.iter().map(|t| (t, parse_args(&t.arguments))).collect();
    for (t, args) in &parsed {
        let name = truncate(&format!("{} ", t.name), w);
        let room = w.saturating_sub(crate::tui::text::str_width(&name));
        out.push(Line::from(vec![
            Span::styled(name, th.style("transcript.tool.name")),
            Span::styled(truncate(&call_target(&t.name, args), room), th.style("transcript.tool.target")),
        ]));
    }
    for (t, args) in &parsed {
        if let Some((path, diff)) = edit_preview(&t.name, args) {
            out.push(Line::default());
            for l in diffview::unified(&diff, &path, th, hl) {
                out.extend(hard_wrap(l, w));
            }
        }
    }
    out
}

/// The model's argument text as JSON, or as the raw string when it is not JSON (which is
/// also what the runtime would report back for it).
fn parse_args(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

/// The unified diff a file-writing call would make: `edit_file` from `old` to `new`,
/// `write_file` as all-added content. The real file is not read: the preview shows what the
/// candidate proposes, which is what is being judged.
pub fn edit_preview(name: &str, args: &Value) -> Option<(String, String)> {
    let field = |k: &str| args.get(k).and_then(Value::as_str);
    let path = field("path")?.to_string();
    let diff = match name {
        "edit_file" => {
            let (old, new) = (field("old")?, field("new")?);
            similar::TextDiff::from_lines(old, new)
                .unified_diff()
                .context_radius(2)
                .header(&format!("a/{path}"), &format!("b/{path}"))
                .to_string()
        }
        "write_file" => {
            let content = field("content")?;
            let n = content.lines().count();
            let mut d = format!("--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{n} @@\n");
            for l in content.lines() {
                d.push('+');
                d.push_str(l);
                d.push('\n');
            }
            d
        }
        _ => return None,
    };
    Some((path, diff))
}
