//! One scrolled view of rows in a box whose height the last draw learnt: where it is, how far
//! a page goes, and which rows are on screen. Every panel and layer that scrolls text (the
//! checkpoint fields, a diff, MEMORY.md, verdicts, candidates, the Rebuild view) keeps one.

use std::ops::Range;

use crate::config::keymap::Action;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pager {
    /// Rows scrolled past.
    pub offset: usize,
    /// The box's height at the last draw.
    height: u16,
}

impl Pager {
    pub fn by(&mut self, delta: isize) {
        self.offset = self.offset.saturating_add_signed(delta);
    }

    pub fn reset(&mut self) {
        self.offset = 0;
    }

    /// A page: the box less one row, so the last row of a page is the first of the next.
    pub fn page(&self) -> isize {
        self.height.saturating_sub(1).max(1) as isize
    }

    /// Pages for `PageUp`/`PageDown`; false for any other action, which is the caller's.
    pub fn page_key(&mut self, a: Action) -> bool {
        match a {
            Action::PageDown => self.by(self.page()),
            Action::PageUp => self.by(-self.page()),
            _ => return false,
        }
        true
    }

    /// Lays the view over `total` rows in a box `height` tall: the offset is clamped so the
    /// last page is full, and the rows on screen are returned.
    pub fn window(&mut self, total: usize, height: u16) -> Range<usize> {
        self.height = height;
        let h = usize::from(height);
        self.offset = self.offset.min(total.saturating_sub(h));
        self.offset..(self.offset + h).min(total)
    }

    /// For views whose columns share one offset (the candidates side by side): the box's
    /// height, and the furthest the longest column can go.
    pub fn fit(&mut self, height: u16, max_offset: usize) {
        self.height = height;
        self.offset = self.offset.min(max_offset);
    }

    /// The rows of `lines` on screen (see [`Pager::window`]).
    pub fn visible<T: Clone>(&mut self, lines: &[T], height: u16) -> Vec<T> {
        let r = self.window(lines.len(), height);
        lines[r].to_vec()
    }
}

/// How far a wheel or arrow `delta` moves a list selection: one row at a time, except the
/// `Top`/`Bottom` jumps (see `panel::scroll_delta`), which go all the way.
pub fn selection_step(delta: isize) -> isize {
    if delta.unsigned_abs() > 1_000 { delta } else { delta.signum() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_overlap_by_a_row_and_the_last_page_is_full() {
        let mut p = Pager::default();
        let rows: Vec<u32> = (0..25).collect();
        assert_eq!(p.visible(&rows, 10), (0..10).collect::<Vec<_>>());
        assert!(p.page_key(Action::PageDown));
        assert_eq!(p.visible(&rows, 10), (9..19).collect::<Vec<_>>());
        p.page_key(Action::PageDown);
        p.page_key(Action::PageDown);
        assert_eq!(p.visible(&rows, 10), (15..25).collect::<Vec<_>>(), "never past the end");
        assert!(!p.page_key(Action::ScrollDown), "not a page key");
        p.by(-100);
        assert_eq!(p.window(25, 10), 0..10);
        assert_eq!(p.window(3, 10), 0..3, "fewer rows than the box");
        assert_eq!((selection_step(3), selection_step(-3), selection_step(isize::MAX / 2)), (1, -1, isize::MAX / 2));
    }
}
