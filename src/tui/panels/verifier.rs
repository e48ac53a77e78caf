//! The goal verifier's verdicts, newest first: met or not, what is missing, the evidence, and
//! the supervisor's override when there was one.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{empty_state, RenderCtx, VERIFIER_EMPTY};
use crate::config::keymap::{Action, KeyContext};
use crate::tui::app::{ConfirmKind, EditorKind};
use crate::tui::pager::Pager;
use crate::tui::panel::{Effect, Effects, Offer, PanelId, Placement, READ_ONLY, scroll_delta, scroll_offers};
use crate::config::theme::Theme;
use crate::tui::state::Verdict;
use crate::tui::text::wrap;

/// Key notations the panel names, from the active keymap.
#[derive(Debug, Clone, Default)]
pub struct VerifierKeys {
    pub accept: String,
    pub reject: String,
}

#[derive(Debug, Default)]
pub struct VerifierView {
    pub pager: Pager,
}

impl VerifierView {
    pub fn render(&mut self, f: &mut Frame, area: Rect, ctx: &RenderCtx, keys: &VerifierKeys) {
        let th = ctx.theme;
        let verdicts = &ctx.state.verdicts;
        if verdicts.is_empty() {
            empty_state(f, area, ctx, VERIFIER_EMPTY);
            return;
        }
        let w = usize::from(area.width).max(1);
        let mut lines: Vec<Line<'static>> = Vec::new();
        // Answering a verdict needs a run to answer to: not in a replay, not once it ended.
        if ctx.live && ctx.state.run.is_active() {
            let help = format!("{} accept the work as done · {} reject with a note", keys.accept, keys.reject);
            lines.extend(wrap(&help, w).into_iter().map(|l| Line::styled(l, th.style("ui.dim"))));
        }
        for v in verdicts.iter().rev() {
            lines.push(Line::default());
            lines.extend(verdict_lines(v, th, w));
        }
        f.render_widget(Paragraph::new(self.pager.visible(&lines, area.height)), area);
    }
}

/// One verdict: `#2 ✗ not met`, its override, then the missing items and evidence as bullets.
pub fn verdict_lines(v: &Verdict, th: &Theme, width: usize) -> Vec<Line<'static>> {
    let (mark, what, scope) = if v.met { ("✓", "goal met", "verdict.met") } else { ("✗", "not met", "verdict.unmet") };
    let mut out = vec![Line::from(vec![
        Span::styled(format!("#{} ", v.attempt), th.style("ui.field")),
        Span::styled(format!("{mark} {what}"), th.style(scope)),
    ])];
    if let Some((accept, note)) = &v.overridden {
        let text = match (accept, note.as_deref().filter(|n| !n.trim().is_empty())) {
            (true, _) => "overridden: you accepted the work as done".to_string(),
            (false, Some(n)) => format!("overridden: you rejected the work — “{n}”"),
            (false, None) => "overridden: you rejected the work".to_string(),
        };
        out.extend(wrap(&text, width).into_iter().map(|l| Line::styled(l, th.style("verdict.override"))));
    }
    for (title, items) in [("missing", &v.missing), ("evidence", &v.evidence)] {
        if items.is_empty() {
            continue;
        }
        out.push(Line::styled(title.to_string(), th.style("ui.dim")));
        for item in items {
            let avail = width.saturating_sub(4).max(1);
            for (k, l) in wrap(item, avail).into_iter().enumerate() {
                let lead = if k == 0 { "  • " } else { "    " };
                out.push(Line::from(vec![Span::styled(lead, th.style("markdown.list")), Span::styled(l, th.style("ui"))]));
            }
        }
    }
    out
}

impl crate::tui::panel::Panel for VerifierView {
    fn id(&self) -> PanelId {
        PanelId::Verifier
    }
    fn title(&self) -> &'static str {
        "Verifier"
    }
    fn layer(&self) -> KeyContext {
        KeyContext::Verifier
    }
    fn placement(&self) -> Placement {
        Placement::Side
    }
    fn offers(&self, cx: &RenderCtx) -> Vec<Offer> {
        let why = if !cx.live {
            Some(READ_ONLY.to_string())
        } else if cx.state.verdicts.is_empty() {
            Some("no verdict to override yet".to_string())
        } else if !cx.state.run.is_active() {
            Some(format!("the session is {}: nothing to override", cx.state.run.label()))
        } else {
            None
        };
        let answer = |a| Offer { action: a, disabled: why.clone(), urgent: why.is_none() };
        let mut v = vec![answer(Action::VerdictAccept), answer(Action::VerdictReject)];
        v.extend(scroll_offers());
        v
    }
    fn act(&mut self, a: Action, cx: &RenderCtx, fx: &mut Effects) {
        match a {
            Action::VerdictAccept => fx.push(Effect::Confirm(ConfirmKind::AcceptWork)),
            Action::VerdictReject => fx.push(Effect::Edit(EditorKind::RejectNote, String::new())),
            _ => {
                if let Some(d) = scroll_delta(a, self.pager.page()) {
                    self.scroll(d, cx);
                }
            }
        }
    }
    fn scroll(&mut self, delta: isize, _cx: &RenderCtx) {
        self.pager.by(delta);
    }
    fn render(&mut self, f: &mut Frame, area: Rect, cx: &RenderCtx) {
        let keys = VerifierKeys { accept: cx.key(KeyContext::Verifier, Action::VerdictAccept), reject: cx.key(KeyContext::Verifier, Action::VerdictReject) };
        VerifierView::render(self, f, area, cx, &keys)
    }
    crate::panel_any!();
}
