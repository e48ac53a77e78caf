//! Transcript search: the query (typed in the search layer, `layers::Overlay::Search`), then
//! hits that `n`/`N` walk through.

use super::state::WorkbenchState;
use super::text::find_all;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub cell: usize,
    /// Which occurrence within the cell's text.
    pub nth: usize,
}

#[derive(Debug, Default)]
pub struct Search {
    pub query: String,
    pub hits: Vec<Hit>,
    pub current: Option<usize>,
    /// The projection revision the hits were computed for.
    computed_for: Option<u64>,
}

impl Search {
    /// What to highlight: the query being typed (`typing`, while the search layer is open),
    /// else the last one searched.
    pub fn needle(&self, typing: Option<&str>) -> Option<String> {
        let q = typing.unwrap_or(&self.query);
        (!q.is_empty()).then(|| q.to_ascii_lowercase())
    }

    /// Makes `query` current and finds its hits.
    pub fn commit(&mut self, query: String, state: &WorkbenchState) {
        self.query = query;
        self.computed_for = None;
        self.refresh(state);
        self.current = None;
    }

    pub fn clear(&mut self) {
        *self = Search::default();
    }

    /// Recomputes hits when the transcript changed since the last time.
    pub fn refresh(&mut self, state: &WorkbenchState) {
        let rev = state.events_applied + state.cells.len() as u64;
        if self.computed_for == Some(rev) {
            return;
        }
        self.computed_for = Some(rev);
        self.hits.clear();
        let Some(needle) = (!self.query.is_empty()).then(|| self.query.to_ascii_lowercase()) else { return };
        for (i, c) in state.cells.iter().enumerate() {
            for nth in 0..find_all(&c.search_text(), &needle).len() {
                self.hits.push(Hit { cell: i, nth });
            }
        }
        if let Some(c) = self.current
            && c >= self.hits.len()
        {
            self.current = self.hits.len().checked_sub(1);
        }
    }

    /// Moves to the next (or previous) hit, wrapping around; the first `n` goes to the first
    /// hit, the first `N` to the last.
    pub fn step(&mut self, state: &WorkbenchState, forward: bool) -> Option<Hit> {
        self.refresh(state);
        let n = self.hits.len();
        if n == 0 {
            return None;
        }
        let next = match (self.current, forward) {
            (None, true) => 0,
            (None, false) => n - 1,
            (Some(c), true) => (c + 1) % n,
            (Some(c), false) => (c + n - 1) % n,
        };
        self.current = Some(next);
        self.hits.get(next).copied()
    }

    /// The hit `n`/`N` last moved to.
    pub fn current_hit(&self) -> Option<Hit> {
        self.hits.get(self.current?).copied()
    }

    /// The search line: what is being typed (`typing`), else the last query and where `n`
    /// stands among its hits.
    pub fn status(&self, typing: Option<&str>) -> String {
        if let Some(i) = typing {
            return format!("/{i}");
        }
        if self.query.is_empty() {
            return String::new();
        }
        match (self.current, self.hits.len()) {
            (_, 0) => format!("/{} — no matches", self.query),
            (Some(c), n) => format!("/{} — match {}/{n}", self.query, c + 1),
            (None, n) => format!("/{} — {n} matches", self.query),
        }
    }
}
