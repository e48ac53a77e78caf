//! The transcript panel: the conversation (with its search), or the Max Mode candidates in
//! its place while a Max Mode step is in flight or the supervisor opened them.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::RenderCtx;
use super::candidates::{CandidateKeys, CandidatesView};
use super::transcript::{Anchor, TranscriptView};
use crate::config::keymap::{Action, KeyContext};
use crate::protocol::{Command, Event, EventKind};
use crate::tui::app::{Overlay, toggle_max_mode, toggle_review_picks};
use crate::tui::dropped::DroppedList;
use crate::tui::panel::{Effect, Effects, Offer, PanelId, Placement, READ_ONLY, scroll_delta, scroll_offers};
use crate::tui::search::Search;
use crate::tui::state::{CandidateStatus, CellKind};
use crate::tui::text::find_all;

#[derive(Default)]
pub struct TranscriptPanel {
    pub view: TranscriptView,
    pub candidates: CandidatesView,
    pub search: Search,
}

impl TranscriptPanel {
    fn selected_cell<'a>(&self, cx: &RenderCtx<'a>) -> Option<&'a crate::tui::state::Cell> {
        let id = self.view.selected?;
        cx.state.cells.iter().find(|c| c.id == id)
    }

    fn candidate_offers(&self, cx: &RenderCtx) -> Vec<Offer> {
        let waiting = cx.state.awaiting_pick().map(|m| m.step);
        let shown = self.candidates.shown_step(cx.state).map(|m| m.step);
        let pick = if !cx.live {
            Offer::when(Action::PickCandidate, false, READ_ONLY)
        } else if waiting.is_none() || shown != waiting {
            let why = if cx.state.core.review_picks { "nothing waits for a pick now" } else { "picks run without you: turn review picks on first" };
            Offer::when(Action::PickCandidate, false, why)
        } else {
            Offer::on(Action::PickCandidate).urgent()
        };
        let pending = pick.enabled();
        let mut v = vec![pick];
        for a in [Action::CandidatePrev, Action::CandidateNext] {
            v.push(if pending { Offer::on(a).urgent() } else { Offer::on(a) });
        }
        // The way back to the transcript is named first.
        v.insert(0, Offer::on(Action::ToggleCandidates).urgent());
        v.extend([Offer::on(Action::CandidateStepPrev), Offer::on(Action::CandidateStepNext)]);
        // The Max Mode settings, named where their effect is shown.
        v.extend([Offer::live(Action::ToggleMaxMode, cx), Offer::live(Action::ToggleReviewPicks, cx)]);
        v.extend(scroll_offers());
        v
    }

    fn pick(&mut self, cx: &RenderCtx, fx: &mut Effects) {
        let Some(i) = self.candidates.selected_number(cx.state) else { return };
        let failed = self
            .candidates
            .shown_step(cx.state)
            .and_then(|m| m.candidate(i))
            .is_some_and(|c| matches!(c.status, CandidateStatus::Failed(_)));
        if failed {
            fx.error(format!("candidate {i} failed: pick another"));
            return;
        }
        fx.send(Command::PickCandidate(i));
        fx.notice(format!("candidate {i} picked"));
    }

    /// Shows the candidates (of the selected tool call's step when it ran in Max Mode, else
    /// of the newest Max Mode step), or the transcript again.
    fn toggle_candidates(&mut self, cx: &RenderCtx, fx: &mut Effects) {
        if self.candidates.shown {
            self.candidates.shown = false;
            self.candidates.auto = false;
            return;
        }
        let selected_step = self.selected_cell(cx).and_then(|c| match &c.kind {
            CellKind::Tool(t) => Some(t.step),
            _ => None,
        });
        let at = selected_step.and_then(|s| cx.state.max_steps.iter().position(|m| m.step == s));
        // The newest step is followed rather than pinned, so new steps still show up.
        let at = at.filter(|i| i + 1 < cx.state.max_steps.len());
        self.candidates.open(at, false);
        if cx.state.max_steps.is_empty() {
            fx.notice("no Max Mode step yet");
        }
    }

    /// Searches for `query` (what the search layer sent) and goes to its first hit.
    pub fn search_for(&mut self, query: String, cx: &RenderCtx, fx: &mut Effects) {
        self.search.commit(query, cx.state);
        if self.search.hits.is_empty() {
            fx.error(format!("no matches for {:?}", self.search.query));
        } else {
            self.search_step(true, cx, fx);
        }
    }

    fn search_step(&mut self, forward: bool, cx: &RenderCtx, fx: &mut Effects) {
        let Some(hit) = self.search.step(cx.state, forward) else {
            fx.error(format!("no matches for {:?}", self.search.query));
            return;
        };
        let needle = self.search.query.to_ascii_lowercase();
        let rows = self.view.rows(cx, cx.pending, hit.cell);
        // The row holding the nth occurrence; the cell's first row when markup moved it.
        let mut seen = 0;
        let mut row = 0;
        for (i, l) in rows.iter().enumerate() {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            let n = find_all(&text, &needle).len();
            if seen + n > hit.nth {
                row = i;
                break;
            }
            seen += n;
        }
        self.view.jump_to(cx, cx.pending, Anchor { entry: hit.cell, row });
    }

    /// Withdraw is offered on a correction that is queued and not delivered yet.
    fn withdraw_offer(&self, cx: &RenderCtx) -> Offer {
        let queued = matches!(self.selected_cell(cx).map(|c| &c.kind), Some(CellKind::Correction { delivered_at: None, withdrawn: false, .. }));
        if !cx.live {
            Offer::when(Action::Withdraw, false, READ_ONLY)
        } else {
            let o = Offer::when(Action::Withdraw, queued, "select a queued correction to withdraw it");
            if queued { o.urgent() } else { o }
        }
    }

    /// Moves the selection cursor `delta` cells, keeping it on screen; past the newest cell
    /// the transcript follows the tail again.
    fn move_cursor(&mut self, delta: isize, cx: &RenderCtx) {
        let cells = &cx.state.cells;
        let Some(last) = cells.len().checked_sub(1) else { return };
        // Without a cursor the view follows the tail: up selects the newest cell.
        let here = match self.view.cursor.and_then(|id| cells.iter().position(|c| c.id == id)) {
            Some(i) => i,
            None if delta < 0 => last + 1,
            None => return,
        };
        let Some(next) = here.checked_add_signed(delta) else { return };
        if next > last {
            self.view.cursor = None;
            self.view.bottom();
            return;
        }
        self.view.cursor = Some(cells[next].id);
        self.view.selected = self.view.cursor;
        let on_screen = self.view.row_owners.first().is_some_and(|f| *f <= next) && self.view.row_owners.last().is_some_and(|l| *l > next);
        if !on_screen {
            self.view.jump_to(cx, cx.pending, Anchor { entry: next, row: 0 });
        }
    }

    /// Lists what the selected rollover divider dropped.
    fn open_dropped(&self, cx: &RenderCtx, fx: &mut Effects) {
        let Some(CellKind::Rebuilt(r)) = self.selected_cell(cx).map(|c| &c.kind) else { return };
        match &r.dropped {
            Some(d) if !d.seqs.is_empty() => {
                fx.push(Effect::Overlay(Overlay::Dropped(DroppedList { title: r.summary(), seqs: d.seqs.clone(), selected: 0 })))
            }
            _ => fx.error("that rollover dropped nothing"),
        }
    }
}

impl crate::tui::panel::Panel for TranscriptPanel {
    fn id(&self) -> PanelId {
        PanelId::Transcript
    }
    fn title(&self) -> &'static str {
        "Transcript"
    }
    fn title_suffix(&self) -> &'static str {
        // The candidates borrow the transcript's frame; the title says whose content it is.
        if self.candidates.shown { " · Max Mode candidates" } else { "" }
    }
    fn layer(&self) -> KeyContext {
        if self.candidates.shown { KeyContext::Candidates } else { KeyContext::Transcript }
    }
    fn placement(&self) -> Placement {
        Placement::Main
    }
    fn offers(&self, cx: &RenderCtx) -> Vec<Offer> {
        if self.candidates.shown {
            return self.candidate_offers(cx);
        }
        let selected = self.selected_cell(cx);
        let divider = selected.is_some_and(|c| matches!(c.kind, CellKind::Rebuilt(_)));
        let searched = !self.search.query.is_empty();
        let any = !cx.state.cells.is_empty();
        let mut v = vec![
            Offer::when(Action::SelectNext, any, "nothing to select yet"),
            Offer::when(Action::SelectPrev, any, "nothing to select yet"),
            Offer::when(Action::Expand, selected.is_some(), "no tool call on screen to expand"),
            Offer::when(Action::Copy, selected.is_some(), "select a cell to copy first"),
            self.withdraw_offer(cx),
            Offer::when(Action::OpenDropped, divider, "select a rollover divider in the transcript first"),
            Offer::on(Action::Search),
            Offer::when(Action::SearchNext, searched, "no search yet: press the search key first"),
            Offer::when(Action::SearchPrev, searched, "no search yet: press the search key first"),
            Offer::on(Action::ToggleCandidates),
            Offer::on(Action::Cancel),
        ];
        v.extend(scroll_offers());
        v
    }
    fn act(&mut self, a: Action, cx: &RenderCtx, fx: &mut Effects) {
        if self.candidates.shown {
            let n = self.candidates.shown_step(cx.state).map_or(0, |m| m.candidates.len());
            match a {
                Action::PickCandidate => self.pick(cx, fx),
                Action::CandidatePrev | Action::CandidateNext => self.candidates.move_selection(if a == Action::CandidateNext { 1 } else { -1 }, n),
                Action::CandidateStepPrev | Action::CandidateStepNext => {
                    self.candidates.move_step(if a == Action::CandidateStepNext { 1 } else { -1 }, cx.state.max_steps.len());
                    // Reading an older step is a choice: keep the view when the run moves on.
                    self.candidates.auto = false;
                }
                Action::ToggleCandidates => self.toggle_candidates(cx, fx),
                Action::ToggleMaxMode | Action::ToggleReviewPicks => {
                    let (cmd, what) = if a == Action::ToggleMaxMode { toggle_max_mode(cx.state) } else { toggle_review_picks(cx.state) };
                    fx.send(cmd);
                    fx.notice(what);
                }
                _ => {
                    if let Some(d) = scroll_delta(a, self.candidates.pager.page()) {
                        self.candidates.pager.by(d);
                    }
                }
            }
            return;
        }
        match a {
            Action::Expand => {
                if let Some(id) = self.view.selected
                    && !self.view.expanded.remove(&id)
                {
                    self.view.expanded.insert(id);
                }
            }
            Action::OpenDropped => self.open_dropped(cx, fx),
            Action::SelectNext | Action::SelectPrev => self.move_cursor(if a == Action::SelectNext { 1 } else { -1 }, cx),
            Action::Withdraw => {
                if let Some(CellKind::Correction { id, .. }) = self.selected_cell(cx).map(|c| &c.kind) {
                    fx.send(Command::WithdrawCorrection { id: *id });
                    fx.notice(format!("withdrawing correction {id}"));
                }
            }
            Action::Copy => {
                if let Some(c) = self.selected_cell(cx) {
                    fx.push(Effect::Copy(c.search_text()));
                }
            }
            Action::Search => fx.push(Effect::Overlay(crate::tui::layers::Overlay::Search(String::new()))),
            Action::SearchNext | Action::SearchPrev => self.search_step(a == Action::SearchNext, cx, fx),
            Action::ToggleCandidates => self.toggle_candidates(cx, fx),
            Action::Cancel => self.search.clear(),
            Action::Top => self.view.top(cx, cx.pending),
            Action::Bottom => self.view.bottom(),
            Action::PageUp | Action::PageDown => {
                let page = self.view.height.saturating_sub(1).max(1) as isize;
                self.scroll(if a == Action::PageUp { -page } else { page }, cx);
            }
            _ => {
                if let Some(d) = scroll_delta(a, 1) {
                    self.scroll(d, cx);
                }
            }
        }
    }
    fn scroll(&mut self, delta: isize, cx: &RenderCtx) {
        if self.candidates.shown {
            self.candidates.pager.by(delta);
        } else if delta < 0 {
            self.view.scroll_up(cx, cx.pending, delta.unsigned_abs());
        } else {
            self.view.scroll_down(cx, cx.pending, delta.unsigned_abs());
        }
    }
    fn render(&mut self, f: &mut Frame, area: Rect, cx: &RenderCtx) {
        if self.candidates.shown {
            let key = |l, a| cx.key(l, a);
            let keys = CandidateKeys {
                prev: key(KeyContext::Candidates, Action::CandidatePrev),
                next: key(KeyContext::Candidates, Action::CandidateNext),
                pick: key(KeyContext::Candidates, Action::PickCandidate),
                step_prev: key(KeyContext::Candidates, Action::CandidateStepPrev),
                step_next: key(KeyContext::Candidates, Action::CandidateStepNext),
                toggle: key(KeyContext::Candidates, Action::ToggleCandidates),
                max_mode: key(KeyContext::Global, Action::ToggleMaxMode),
                review: key(KeyContext::Global, Action::ToggleReviewPicks),
            };
            self.candidates.render(f, area, cx, &keys);
            return;
        }
        let search_line = self.search.status(cx.search_input);
        let (body, line) = if search_line.is_empty() || area.height < 2 {
            (area, None)
        } else {
            let [b, l] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
            (b, Some(l))
        };
        self.view.render(f, body, cx, cx.pending, &self.search);
        if let Some(l) = line {
            f.render_widget(Paragraph::new(Line::styled(search_line.clone(), cx.theme.style("ui.search.input"))), l);
            if cx.search_input.is_some() {
                let x = l.x.saturating_add(crate::tui::text::str_width(&search_line) as u16).min(l.right().saturating_sub(1));
                f.set_cursor_position((x, l.y));
            }
        }
    }
    fn on_event(&mut self, e: &Event, cx: &RenderCtx) {
        let st = cx.state;
        match &e.kind {
            // A new step: follow it, unless the supervisor is reading an older one.
            EventKind::CandidateDelta { step, .. } | EventKind::CandidateProposed { step, .. } | EventKind::CandidateFailed { step, .. }
                if st.max_steps.last().is_some_and(|m| m.step == *step) && self.candidates.followed_step != Some(*step) =>
            {
                self.candidates.followed_step = Some(*step);
                if !self.candidates.shown || self.candidates.auto || self.candidates.step.is_none() {
                    self.candidates.open(None, !self.candidates.shown || self.candidates.auto);
                }
            }
            EventKind::JudgeVerdict { step, pick, .. } if st.core.review_picks => {
                // Start the review on the judge's choice: confirming it is one key.
                if self.candidates.shown_step(st).is_some_and(|m| m.step == *step)
                    && let Some(pos) = st.max_steps.last().and_then(|m| m.candidates.iter().position(|c| c.index == *pick))
                {
                    self.candidates.selected = pos;
                }
            }
            EventKind::StepFinished { step } | EventKind::StepStarted { step }
                if self.candidates.shown && self.candidates.auto && self.candidates.step.is_none() =>
            {
                let done = st.max_steps.last().is_some_and(|m| m.picked.is_some() && (m.step < *step || matches!(e.kind, EventKind::StepFinished { .. })));
                if done {
                    self.candidates.shown = false;
                    self.candidates.auto = false;
                }
            }
            _ => {}
        }
    }
    fn click(&mut self, row: u16, cx: &RenderCtx) {
        if self.candidates.shown {
            return;
        }
        if let Some(c) = self.view.row_owners.get(usize::from(row)).and_then(|i| cx.state.cells.get(*i)) {
            self.view.cursor = Some(c.id);
            self.view.selected = self.view.cursor;
        }
    }
    fn reveal(&mut self, seq: u64, cx: &RenderCtx) -> bool {
        let Some(cell) = cx.state.cell_for_seq(seq).map(|c| c.id) else { return false };
        let Some(entry) = cx.state.cells.iter().position(|c| c.id == cell) else { return false };
        self.candidates.shown = false;
        self.view.expanded.insert(cell);
        self.view.jump_to(cx, cx.pending, Anchor { entry, row: 0 });
        true
    }
    crate::panel_any!();
}
