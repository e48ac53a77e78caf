//! Workflow: the live tree of a workflow run (phases, then agents, each with its state, step,
//! tokens, cost and latest action; totals and the budget on top), and the run's script, read
//! only, with the line of each pending `await` marked. Selecting an agent scopes the usual
//! panels to it; pause, resume and stop act on the selected agent or on the whole run.
//!
//! Everything drawn here comes from the session's events (`WorkbenchState::workflow`).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{RenderCtx, empty_state};
use crate::config::keymap::{Action, KeyContext};
use crate::protocol::{AgentUsage, Command};
use crate::tui::app::ConfirmKind;
use crate::tui::panel::{Effect, Effects, Offer, Panel, PanelId, Placement, scroll_delta, scroll_offers};
use crate::tui::state::{AgentStatus, AgentView, RunView, WorkflowView, thousands};
use crate::tui::text::truncate;

pub const ID: PanelId = PanelId("workflow");

/// One selectable line of the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    Run(u32),
    Phase(u32, Option<String>),
    Agent(u64),
}

/// The tree's rows: each run, its phases, their agents.
pub fn rows(w: &WorkflowView) -> Vec<Row> {
    let mut out = Vec::new();
    for r in &w.runs {
        out.push(Row::Run(r.run));
        for (phase, agents) in w.tree(r) {
            if phase.is_some() {
                out.push(Row::Phase(r.run, phase.map(str::to_string)));
            }
            out.extend(agents.iter().map(|a| Row::Agent(a.n)));
        }
    }
    out
}

#[derive(Debug, Default)]
pub struct WorkflowPanel {
    selected: usize,
    /// Shows the script instead of the tree.
    script: bool,
    /// The script's first line shown; None follows the first pending `await`.
    script_top: Option<usize>,
    /// The tree as last drawn, for clicks: the panel row of its first line, and the rows
    /// scrolled past.
    first_row: usize,
    skip: usize,
}

impl WorkflowPanel {
    fn selected_row(&self, cx: &RenderCtx) -> Option<Row> {
        rows(&cx.root.workflow).get(self.selected).cloned()
    }

    /// The run the header and the script are about: the selected row's, else the newest.
    fn run_in_view<'a>(&self, cx: &'a RenderCtx) -> Option<&'a RunView> {
        let w = &cx.root.workflow;
        let run = match self.selected_row(cx) {
            Some(Row::Run(r) | Row::Phase(r, _)) => Some(r),
            Some(Row::Agent(n)) => w.agents.get(&n).map(|a| a.run),
            None => None,
        };
        run.and_then(|r| w.run(r)).or(w.runs.last())
    }

    fn selected_agent<'a>(&self, cx: &'a RenderCtx) -> Option<&'a AgentView> {
        match self.selected_row(cx) {
            Some(Row::Agent(n)) => cx.root.workflow.agents.get(&n),
            _ => None,
        }
    }

    /// Selects agent `n`'s row (tests, and a click's target).
    pub fn select_agent(&mut self, n: u64, cx: &RenderCtx) {
        if let Some(i) = rows(&cx.root.workflow).iter().position(|r| *r == Row::Agent(n)) {
            self.selected = i;
        }
    }

    pub fn showing_script(&self) -> bool {
        self.script
    }

    fn pause_offer(&self, cx: &RenderCtx) -> Offer {
        if let Some(a) = self.selected_agent(cx) {
            let ok = matches!(a.status, AgentStatus::Running | AgentStatus::Paused);
            return Offer::when(Action::PauseResume, cx.live && ok, &not_running(cx, a));
        }
        match self.run_in_view(cx) {
            Some(r) => Offer::when(Action::PauseResume, cx.live && r.finished.is_none(), &run_over(cx, r)),
            None => Offer::when(Action::PauseResume, false, "no workflow has started"),
        }
    }

    fn stop_offer(&self, cx: &RenderCtx) -> Offer {
        if let Some(a) = self.selected_agent(cx) {
            let ok = matches!(a.status, AgentStatus::Running | AgentStatus::Paused);
            return Offer::when(Action::Stop, cx.live && ok, &not_running(cx, a));
        }
        match self.run_in_view(cx) {
            Some(r) => Offer::when(Action::Stop, cx.live && r.finished.is_none(), &run_over(cx, r)),
            None => Offer::when(Action::Stop, false, "no workflow has started"),
        }
    }

    fn pause_or_resume(&self, cx: &RenderCtx, fx: &mut Effects) {
        if let Some(a) = self.selected_agent(cx) {
            let (command, what) = if a.status == AgentStatus::Paused { (Command::Resume, "resuming") } else { (Command::Pause, "pausing") };
            fx.push(Effect::Send(Command::ToAgent { target: a.n, command: Box::new(command) }));
            fx.notice(format!("{what} agent {} [{}] (at its next step boundary); the others go on", a.n, a.label));
            return;
        }
        let Some(r) = self.run_in_view(cx) else { return };
        if r.paused.is_some() {
            fx.push(Effect::Send(Command::Resume));
            fx.notice(format!("resuming workflow run {}", r.run));
        } else {
            fx.push(Effect::Send(Command::Pause));
            fx.notice(format!("pausing workflow run {}: queued agents wait, running ones pause at their next boundary", r.run));
        }
    }

    fn stop(&self, cx: &RenderCtx, fx: &mut Effects) {
        if let Some(a) = self.selected_agent(cx) {
            fx.push(Effect::Send(Command::ToAgent { target: a.n, command: Box::new(Command::Stop) }));
            fx.notice(format!("stopping agent {} [{}]: its agent() call rejects; the run goes on", a.n, a.label));
            return;
        }
        // The whole run: after the usual confirmation, and for the session, not a subagent.
        fx.push(Effect::Scope(None));
        fx.push(Effect::Confirm(ConfirmKind::Stop));
    }

    fn render_tree(&mut self, f: &mut Frame, area: Rect, cx: &RenderCtx) {
        let th = cx.theme;
        let w = &cx.root.workflow;
        let width = usize::from(area.width);
        let mut lines = Vec::new();
        if let Some(r) = self.run_in_view(cx) {
            lines.extend(header(w, r, cx, width));
        }
        let all = rows(w);
        self.selected = self.selected.min(all.len().saturating_sub(1));
        let room = usize::from(area.height).saturating_sub(lines.len()).max(1);
        let skip = self.selected.saturating_sub(room.saturating_sub(1));
        self.first_row = lines.len();
        self.skip = skip;
        for (i, row) in all.iter().enumerate().skip(skip).take(room) {
            let line = match row {
                Row::Run(n) => run_line(w, *n, cx, width),
                Row::Phase(_, name) => {
                    Line::styled(truncate(&format!("  ▸ phase {}", name.as_deref().unwrap_or("")), width), th.style("ui.help.section"))
                }
                Row::Agent(n) => match w.agents.get(n) {
                    Some(a) => agent_line(a, cx.root.scope == Some(a.n), cx, width),
                    None => Line::default(),
                },
            };
            // The cursor is drawn as a character too, so it shows without colours.
            let mut line = line;
            if let Some(first) = line.spans.first_mut()
                && first.content.starts_with(' ')
            {
                let cursor = if i == self.selected { "›" } else { " " };
                first.content = format!("{cursor}{}", &first.content[1..]).into();
            }
            lines.push(if i == self.selected { line.patch_style(th.style("ui.selection")) } else { line });
        }
        f.render_widget(Paragraph::new(lines), area);
    }

    fn render_script(&mut self, f: &mut Frame, area: Rect, cx: &RenderCtx) {
        let th = cx.theme;
        let w = &cx.root.workflow;
        let Some(r) = self.run_in_view(cx) else { return };
        let width = usize::from(area.width);
        if r.source.is_empty() {
            empty_state(f, area, cx, "The run's events do not carry its script (a log written before scripts were recorded).");
            return;
        }
        let pending = pending_lines(w, r);
        let mut lines = vec![Line::styled(
            truncate(&format!("script of run {} {} (read-only) · ▶ marks each pending await", r.run, r.name), width),
            th.style("ui.dim"),
        )];
        let source: Vec<&str> = r.source.lines().collect();
        let room = usize::from(area.height).saturating_sub(1).max(1);
        let first_pending = pending.first().map(|(l, _)| *l as usize).unwrap_or(1);
        let top = self.script_top.unwrap_or_else(|| first_pending.saturating_sub(3)).min(source.len().saturating_sub(room));
        self.script_top = self.script_top.map(|_| top);
        let digits = source.len().to_string().len();
        for (i, text) in source.iter().enumerate().skip(top).take(room) {
            let n = i + 1;
            let waiting: Vec<&&AgentView> = pending.iter().filter(|(l, _)| *l as usize == n).map(|(_, a)| a).collect();
            let text = crate::tui::text::expand_tabs(text, &mut 0);
            let mut spans = if waiting.is_empty() {
                vec![Span::styled(format!("  {n:>digits$} │ "), th.style("ui.dim")), Span::raw(text)]
            } else {
                vec![Span::styled(format!("▶ {n:>digits$} │ "), th.style("status.running")), Span::styled(text, th.style("ui.flash"))]
            };
            if !waiting.is_empty() {
                let who: Vec<String> = waiting.iter().map(|a| format!("#{} {} {}", a.n, a.label, a.status.label())).collect();
                spans.push(Span::styled(format!("  ← {}", who.join(", ")), th.style("status.waiting")));
            }
            lines.push(truncate_line(Line::from(spans), width));
        }
        f.render_widget(Paragraph::new(lines), area);
    }
}

impl Panel for WorkflowPanel {
    fn id(&self) -> PanelId {
        ID
    }
    fn title(&self) -> &'static str {
        "Workflow"
    }
    fn title_suffix(&self) -> &'static str {
        if self.script { " · script" } else { "" }
    }
    fn layer(&self) -> KeyContext {
        KeyContext::Workflow
    }
    fn placement(&self) -> Placement {
        Placement::Prose
    }
    fn weight(&self) -> u16 {
        3
    }
    fn offers(&self, cx: &RenderCtx) -> Vec<Offer> {
        let w = &cx.root.workflow;
        let mut v = scroll_offers().to_vec();
        if self.script {
            v.push(Offer::on(Action::ToggleScript));
            v.push(Offer::when(Action::Cancel, cx.root.scope.is_some(), "the panels show the whole session"));
            return v;
        }
        let expand = match self.selected_row(cx) {
            Some(Row::Agent(_)) => Offer::on(Action::Expand),
            _ => Offer::when(Action::Expand, cx.root.scope.is_some(), "select an agent to open its transcript, diffs and tasks"),
        };
        v.push(expand);
        v.push(Offer::when(Action::Cancel, cx.root.scope.is_some(), "the panels show the whole session"));
        v.push(self.pause_offer(cx));
        v.push(self.stop_offer(cx));
        let has_script = self.run_in_view(cx).is_some_and(|r| !r.source.is_empty());
        v.push(Offer::when(Action::ToggleScript, has_script, if w.is_empty() { "no workflow has started" } else { "no script recorded" }));
        v
    }
    fn act(&mut self, a: Action, cx: &RenderCtx, fx: &mut Effects) {
        match a {
            Action::Expand => match self.selected_row(cx) {
                Some(Row::Agent(n)) if cx.root.scope != Some(n) => fx.push(Effect::Scope(Some(n))),
                _ => fx.push(Effect::Scope(None)),
            },
            Action::Cancel => fx.push(Effect::Scope(None)),
            Action::PauseResume => self.pause_or_resume(cx, fx),
            Action::Stop => self.stop(cx, fx),
            Action::ToggleScript => {
                self.script = !self.script;
                self.script_top = None;
            }
            _ => {
                if let Some(d) = scroll_delta(a, 10) {
                    self.scroll(d, cx);
                }
            }
        }
    }
    fn scroll(&mut self, delta: isize, cx: &RenderCtx) {
        if self.script {
            let len = self.run_in_view(cx).map_or(0, |r| r.source.lines().count());
            let top = self.script_top.unwrap_or(0);
            self.script_top = Some(top.saturating_add_signed(delta).min(len.saturating_sub(1)));
            return;
        }
        let n = rows(&cx.root.workflow).len();
        self.selected = self.selected.saturating_add_signed(delta).min(n.saturating_sub(1));
    }
    fn click(&mut self, row: u16, cx: &RenderCtx) {
        if self.script {
            return;
        }
        let row = usize::from(row);
        if row >= self.first_row {
            let n = rows(&cx.root.workflow).len();
            self.selected = (row - self.first_row + self.skip).min(n.saturating_sub(1));
        }
    }
    fn render(&mut self, f: &mut Frame, area: Rect, cx: &RenderCtx) {
        if cx.root.workflow.is_empty() {
            empty_state(
                f,
                area,
                cx,
                "Workflow runs appear here: their phases and agents, live. Run one with `endure workflow FILE.js`, or the agent calls the workflow tool.",
            );
            return;
        }
        if self.script { self.render_script(f, area, cx) } else { self.render_tree(f, area, cx) }
    }
    crate::panel_any!();
}

/// The lines of `r`'s script where an `await` waits on an agent, sorted, with the agent.
pub fn pending_lines<'a>(w: &'a WorkflowView, r: &RunView) -> Vec<(u32, &'a AgentView)> {
    let mut out: Vec<(u32, &AgentView)> = r
        .agents
        .iter()
        .filter_map(|n| w.agents.get(n))
        .filter(|a| a.status.pending())
        .filter_map(|a| a.line.map(|l| (l, a)))
        .collect();
    out.sort_by_key(|(l, a)| (*l, a.n));
    out
}

fn not_running(cx: &RenderCtx, a: &AgentView) -> String {
    if !cx.live { crate::tui::panel::READ_ONLY.into() } else { format!("agent {} is {}", a.n, a.status.label()) }
}

fn run_over(cx: &RenderCtx, r: &RunView) -> String {
    if !cx.live { crate::tui::panel::READ_ONLY.into() } else { format!("workflow run {} has ended", r.run) }
}

fn status_style(s: AgentStatus) -> &'static str {
    match s {
        AgentStatus::Queued => "status.idle",
        AgentStatus::Running => "status.running",
        AgentStatus::Paused => "status.paused",
        AgentStatus::Done => "status.done",
        AgentStatus::Failed => "status.failed",
    }
}

fn spent(u: &AgentUsage) -> String {
    format!("{} tokens · ${:.4}", thousands(u.tokens()), u.cost_usd)
}

/// Totals and the budget of run `r`, on top.
fn header<'a>(w: &WorkflowView, r: &RunView, cx: &RenderCtx, width: usize) -> Vec<Line<'a>> {
    let th = cx.theme;
    let [queued, running, paused, done, failed] = w.counts(r);
    let state = run_state(r);
    let total = r.agents.len();
    let all = if width < 64 {
        String::new()
    } else {
        format!("· {total} agents: {running} running, {paused} paused, {queued} queued, {done} done, {failed} failed")
    };
    let first = Line::from(vec![
        Span::styled(truncate(&format!("run {} {} ", r.run, r.name), width / 2), th.style("ui.title")),
        Span::styled(format!("{} ", state.0), th.style(state.1)),
        Span::styled(all, th.style("ui.dim")),
    ]);
    let u = w.spent(r);
    let mut caps = Vec::new();
    if let Some(t) = r.caps.tokens {
        caps.push(format!("tokens {}/{}", thousands(u.tokens()), thousands(t)));
    }
    if let Some(c) = r.caps.cost {
        caps.push(format!("cost ${:.4}/${c:.4}", u.cost_usd));
    }
    if let Some(a) = r.caps.agents {
        caps.push(format!("agents {total}/{a}"));
    }
    let budget = if caps.is_empty() { "no caps".to_string() } else { caps.join(" · ") };
    let both = format!("spent {} · budget: {budget}", spent(&u));
    let mut out = vec![truncate_line(first, width)];
    // A narrow column gets the counts, the spending and the budget on lines of their own.
    if width < 64 {
        let counts: Vec<String> = [(running, "running"), (paused, "paused"), (queued, "queued"), (done, "done"), (failed, "failed")]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
        for text in [format!("{total} agents: {}", counts.join(", ")), format!("spent {}", spent(&u)), format!("budget: {budget}")] {
            out.push(Line::styled(truncate(&text, width), th.style("ui.dim")));
        }
    } else {
        out.push(Line::styled(truncate(&both, width), th.style("ui.dim")));
    }
    if let Some(reason) = &r.paused {
        out.push(Line::styled(truncate(&format!("paused: {reason}"), width), th.style("status.paused")));
    }
    if let Some(last) = r.logs.last() {
        out.push(Line::styled(truncate(&format!("log: {last}"), width), th.style("ui.dim")));
    }
    out
}

fn run_state(r: &RunView) -> (&'static str, &'static str) {
    match (&r.finished, &r.paused) {
        (Some(Ok(())), _) => ("done", "status.done"),
        (Some(Err(_)), _) => ("failed", "status.failed"),
        (None, Some(_)) => ("paused", "status.paused"),
        (None, None) => ("running", "status.running"),
    }
}

fn run_line<'a>(w: &WorkflowView, n: u32, cx: &RenderCtx, width: usize) -> Line<'a> {
    let th = cx.theme;
    let Some(r) = w.run(n) else { return Line::default() };
    let (state, style) = run_state(r);
    let back = if cx.root.scope.is_some() { "  (Enter: back to the session)" } else { "" };
    truncate_line(
        Line::from(vec![
            Span::styled(format!(" ▾ run {} {} ", r.run, r.name), th.style("ui.title")),
            Span::styled(state.to_string(), th.style(style)),
            Span::styled(back.to_string(), th.style("ui.dim")),
        ]),
        width,
    )
}

fn agent_line<'a>(a: &AgentView, scoped: bool, cx: &RenderCtx, width: usize) -> Line<'a> {
    let th = cx.theme;
    let mark = if scoped { "◉" } else { " " };
    let action = match (&a.status, &a.error) {
        (AgentStatus::Failed, Some(e)) => e.lines().next().unwrap_or("").to_string(),
        (AgentStatus::Done, _) if a.journaled => "from the journal".to_string(),
        _ => a.action.clone(),
    };
    // A narrow column (the wide layout's prose column) keeps the state and the step in view.
    let (head, figures) = if width < 64 {
        (
            format!("  {mark}#{} {:<10} ", a.n, truncate(&a.label, 10)),
            format!(" s{} {}t ${:.3} ", a.step, thousands(a.usage.tokens()), a.usage.cost_usd),
        )
    } else {
        (
            format!("   {mark} #{:<3} {:<14} ", a.n, truncate(&a.label, 14)),
            format!(" step {:>3} {:>9} tok ${:.4}  ", a.step, thousands(a.usage.tokens()), a.usage.cost_usd),
        )
    };
    truncate_line(
        Line::from(vec![
            Span::styled(head, th.style(if scoped { "ui.title.focused" } else { "ui.title" })),
            Span::styled(format!("{:<7}", a.status.label()), th.style(status_style(a.status))),
            Span::styled(figures, th.style("ui.dim")),
            Span::styled(action, th.style("transcript.tool.target")),
        ]),
        width,
    )
}

/// Cuts a line of spans to `width` columns.
fn truncate_line(line: Line<'_>, width: usize) -> Line<'_> {
    let mut left = width;
    let mut spans = Vec::new();
    for s in line.spans {
        if left == 0 {
            break;
        }
        let w = crate::tui::text::str_width(&s.content);
        if w <= left {
            left -= w;
            spans.push(s);
        } else {
            spans.push(Span::styled(truncate(&s.content, left), s.style));
            left = 0;
        }
    }
    Line::from(spans).style(line.style.patch(Style::default()))
}

#[cfg(test)]
#[path = "workflow_tests.rs"]
mod tests;
