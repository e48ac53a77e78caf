//! The composer: an input line at the bottom where corrections are typed, as in the peers'
//! chat inputs. Enter sends, Alt+Enter (or Shift+Enter) starts a new line, Up and Down walk
//! through earlier corrections, Esc leaves.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders};
use ratatui_textarea::TextArea;

use super::panels::RenderCtx;
use super::state::{CellKind, WorkbenchState};
use crate::config::keymap::{Action, KeyContext};

pub struct Composer {
    pub editor: Box<TextArea<'static>>,
    /// Which earlier correction is shown (counted back from the newest), and the draft it
    /// replaced.
    recalled: Option<(usize, String)>,
}

impl std::fmt::Debug for Composer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Composer").field("text", &self.text()).finish_non_exhaustive()
    }
}

impl Default for Composer {
    fn default() -> Self {
        Composer { editor: Box::new(fresh("")), recalled: None }
    }
}

fn fresh(text: &str) -> TextArea<'static> {
    let mut ta = super::panels::memory::textarea(text);
    ta.set_placeholder_text("A correction for the agent, delivered before its next step…");
    ta.move_cursor(ratatui_textarea::CursorMove::Bottom);
    ta.move_cursor(ratatui_textarea::CursorMove::End);
    ta
}

/// Every correction of the session, oldest first: what Up recalls.
pub fn history(state: &WorkbenchState) -> Vec<String> {
    state
        .cells
        .iter()
        .filter_map(|c| match &c.kind {
            CellKind::Correction { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

impl Composer {
    pub fn text(&self) -> String {
        self.editor.lines().join("\n")
    }

    pub fn clear(&mut self) {
        *self.editor = fresh("");
        self.recalled = None;
    }

    pub fn newline(&mut self) {
        self.editor.insert_newline();
    }

    /// Shows an earlier (`back`) or later correction; past the newest, the draft again.
    pub fn recall(&mut self, history: &[String], back: bool) {
        let n = history.len();
        let (at, draft) = match (self.recalled.take(), back) {
            (None, false) => return,
            (None, true) if n == 0 => return,
            (None, true) => (0, self.text()),
            (Some((k, d)), true) => ((k + 1).min(n - 1), d),
            (Some((0, d)), false) => {
                *self.editor = fresh(&d);
                return;
            }
            (Some((k, d)), false) => (k - 1, d),
        };
        *self.editor = fresh(&history[n - 1 - at]);
        self.recalled = Some((at, draft));
    }

    /// Rows the composer takes at the bottom of the body.
    pub fn height(&self, room: u16) -> u16 {
        (self.editor.lines().len() as u16 + 2).clamp(3, 8).min(room)
    }

    pub fn render(&self, f: &mut Frame, area: Rect, cx: &RenderCtx) {
        let th = cx.theme;
        let k = |a| cx.key(KeyContext::Composer, a);
        let title = format!(
            " Correction — {} send · {} new line · {} earlier · {} leave ",
            k(Action::EditorSend),
            k(Action::ComposerNewline),
            k(Action::HistoryPrev),
            k(Action::EditorCancel)
        );
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(th.style("ui.border.focused"))
            .title(Line::styled(title, th.style("ui.title.focused")));
        let inner = block.inner(area);
        f.render_widget(block, area);
        f.render_widget(&*self.editor, inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_recalls_earlier_corrections_and_down_comes_back_to_the_draft() {
        let history = vec!["use v2".to_string(), "no network".to_string()];
        let mut c = Composer::default();
        c.editor.insert_str("dra");
        c.recall(&history, true);
        assert_eq!(c.text(), "no network");
        c.recall(&history, true);
        assert_eq!(c.text(), "use v2");
        c.recall(&history, true);
        assert_eq!(c.text(), "use v2", "stops at the oldest");
        c.recall(&history, false);
        assert_eq!(c.text(), "no network");
        c.recall(&history, false);
        assert_eq!(c.text(), "dra", "the draft is back");
        c.newline();
        c.editor.insert_str("ft");
        assert_eq!(c.text(), "dra\nft");
    }
}
