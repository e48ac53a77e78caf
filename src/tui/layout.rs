//! Which panels are on screen and where, for a given terminal size.

use ratatui::layout::{Constraint, Layout, Rect};

use crate::config::keymap::KeyContext;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PanelId {
    Transcript,
    Tasks,
    Diff,
    Checkpoints,
    Verifier,
    Memory,
    Endurance,
}

impl PanelId {
    /// In focus order; the position + 1 is the panel's number for `focus N`.
    pub const ALL: [PanelId; 7] = [
        PanelId::Transcript,
        PanelId::Tasks,
        PanelId::Diff,
        PanelId::Checkpoints,
        PanelId::Verifier,
        PanelId::Memory,
        PanelId::Endurance,
    ];

    pub fn number(self) -> usize {
        PanelId::ALL.iter().position(|p| *p == self).map(|i| i + 1).unwrap_or(1)
    }

    pub fn from_number(n: u8) -> Option<PanelId> {
        PanelId::ALL.get(usize::from(n).checked_sub(1)?).copied()
    }

    pub fn title(self) -> &'static str {
        match self {
            PanelId::Transcript => "Transcript",
            PanelId::Tasks => "Tasks",
            PanelId::Diff => "Diff",
            PanelId::Checkpoints => "Checkpoints",
            PanelId::Verifier => "Verifier",
            PanelId::Memory => "Memory",
            PanelId::Endurance => "Endurance",
        }
    }

    pub fn context(self) -> KeyContext {
        match self {
            PanelId::Transcript => KeyContext::Transcript,
            PanelId::Tasks => KeyContext::Tasks,
            PanelId::Diff => KeyContext::Diff,
            PanelId::Checkpoints => KeyContext::Checkpoints,
            PanelId::Verifier => KeyContext::Verifier,
            // The memory keys live in [global] (the keymap has no memory section); the app
            // only acts on them while this panel has focus.
            PanelId::Memory => KeyContext::Global,
            // Nothing to act on, only to read: scrolling and focus are global keys.
            PanelId::Endurance => KeyContext::Global,
        }
    }
}

/// Terminal widths at which more panels fit side by side.
pub const WIDE: u16 = 160;
pub const MEDIUM: u16 = 100;

/// A group of panels sharing one area; with more than one, a tab bar picks the shown one.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub area: Rect,
    pub tabs: Vec<PanelId>,
    pub shown: PanelId,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Screen {
    pub banner: Rect,
    pub title: Rect,
    pub body: Rect,
    pub status: Rect,
    pub slots: Vec<Slot>,
}

impl Screen {
    pub fn panel_at(&self, col: u16, row: u16) -> Option<(PanelId, Option<PanelId>)> {
        let pos = ratatui::layout::Position { x: col, y: row };
        for slot in &self.slots {
            if slot.area.contains(pos) {
                // A click on a tab bar picks that tab.
                if slot.tabs.len() > 1 && row == slot.area.y {
                    let mut x = slot.area.x;
                    for (p, label) in slot.tabs.iter().zip(tab_labels(&slot.tabs, slot.shown, slot.area.width)) {
                        let w = label.chars().count() as u16;
                        if col >= x && col < x + w {
                            return Some((slot.shown, Some(*p)));
                        }
                        x += w;
                    }
                }
                return Some((slot.shown, None));
            }
        }
        None
    }
}

pub fn tab_label(p: PanelId) -> String {
    format!(" {} {} ", p.number(), p.title())
}

/// The tab bar's labels for a frame `width` wide. When every full name does not fit, the
/// shown tab keeps its name and the others shrink to their number and a four-letter abbreviation, so
/// no tab falls off the edge (the number is what focuses it).
pub fn tab_labels(tabs: &[PanelId], shown: PanelId, width: u16) -> Vec<String> {
    let full: Vec<String> = tabs.iter().map(|p| tab_label(*p)).collect();
    let room = usize::from(width.saturating_sub(2));
    if full.iter().map(|l| l.chars().count()).sum::<usize>() <= room {
        return full;
    }
    tabs.iter()
        .map(|p| if *p == shown { tab_label(*p) } else { format!(" {} {} ", p.number(), p.title().chars().take(4).collect::<String>()) })
        .collect()
}

/// Lays out the screen. `last_side` is the side panel shown most recently, so a medium-width
/// screen keeps showing it while the transcript is focused.
pub fn compute(area: Rect, banner_lines: u16, visible: &[PanelId], focus: PanelId, maximized: bool, last_side: PanelId) -> Screen {
    let banner_h = banner_lines.min(area.height.saturating_sub(3) / 2);
    let status_h = if area.height >= 6 { 2 } else { 1.min(area.height) };
    let [banner, title, body, status] = Layout::vertical([
        Constraint::Length(banner_h),
        Constraint::Length(1.min(area.height)),
        Constraint::Min(0),
        Constraint::Length(status_h),
    ])
    .areas(area);
    let mut screen = Screen { banner, title, body, status, slots: Vec::new() };
    if visible.is_empty() || body.height == 0 {
        return screen;
    }
    if maximized {
        screen.slots.push(Slot { area: body, tabs: vec![focus], shown: focus });
        return screen;
    }
    let has = |p: PanelId| visible.contains(&p);
    let pick = |group: &[PanelId]| -> Option<PanelId> {
        if group.contains(&focus) {
            Some(focus)
        } else if group.contains(&last_side) {
            Some(last_side)
        } else {
            group.first().copied()
        }
    };
    if area.width >= WIDE {
        // Two side columns: the narrow one for tasks and verdicts, the wider one for the two
        // panels of prose (checkpoint fields, MEMORY.md), which need the width to stay readable.
        let side: Vec<PanelId> = [PanelId::Tasks, PanelId::Verifier].into_iter().filter(|p| has(*p)).collect();
        let memory: Vec<PanelId> = [PanelId::Checkpoints, PanelId::Memory].into_iter().filter(|p| has(*p)).collect();
        let mut cols: Vec<(Constraint, Vec<PanelId>)> = Vec::new();
        if has(PanelId::Transcript) {
            cols.push((Constraint::Fill(5), vec![PanelId::Transcript]));
        }
        // The endurance charts want width more than height, so they share the diff's column.
        let wide: Vec<PanelId> = [PanelId::Diff, PanelId::Endurance].into_iter().filter(|p| has(*p)).collect();
        if !wide.is_empty() {
            cols.push((Constraint::Fill(4), wide));
        }
        if !side.is_empty() {
            cols.push((Constraint::Fill(2), side));
        }
        if !memory.is_empty() {
            cols.push((Constraint::Fill(3), memory));
        }
        let areas = Layout::horizontal(cols.iter().map(|c| c.0)).split(body);
        for ((_, panels), col) in cols.iter().zip(areas.iter()) {
            if panels.len() == 1 {
                screen.slots.push(Slot { area: *col, tabs: panels.clone(), shown: panels[0] });
            } else {
                // A column stacks its panels; tasks get the most room in theirs.
                let cons: Vec<Constraint> = panels
                    .iter()
                    .map(|p| match p {
                        PanelId::Tasks => Constraint::Fill(2),
                        PanelId::Diff => Constraint::Fill(3),
                        PanelId::Endurance => Constraint::Fill(2),
                        _ => Constraint::Fill(1),
                    })
                    .collect();
                let rows = Layout::vertical(cons).split(*col);
                for (p, r) in panels.iter().zip(rows.iter()) {
                    screen.slots.push(Slot { area: *r, tabs: vec![*p], shown: *p });
                }
            }
        }
    } else if area.width >= MEDIUM && has(PanelId::Transcript) && visible.len() > 1 {
        let others: Vec<PanelId> = visible.iter().copied().filter(|p| *p != PanelId::Transcript).collect();
        let [left, right] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(body);
        screen.slots.push(Slot { area: left, tabs: vec![PanelId::Transcript], shown: PanelId::Transcript });
        let shown = pick(&others).unwrap_or(PanelId::Tasks);
        screen.slots.push(Slot { area: right, tabs: others, shown });
    } else {
        let shown = pick(visible).unwrap_or(PanelId::Transcript);
        screen.slots.push(Slot { area: body, tabs: visible.to_vec(), shown });
    }
    screen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_screens_show_every_visible_panel() {
        let s = compute(Rect::new(0, 0, 200, 50), 0, &PanelId::ALL, PanelId::Transcript, false, PanelId::Tasks);
        assert_eq!(s.slots.len(), 7);
        assert!(s.slots.iter().all(|sl| sl.tabs.len() == 1));
        let memory = s.slots.iter().find(|sl| sl.shown == PanelId::Memory).map(|sl| sl.area).unwrap_or_default();
        assert!(memory.width >= 40 && memory.height >= 20, "MEMORY.md gets a readable area: {memory:?}");
    }

    #[test]
    fn narrow_screens_use_tabs() {
        let s = compute(Rect::new(0, 0, 80, 24), 0, &PanelId::ALL, PanelId::Diff, false, PanelId::Tasks);
        assert_eq!(s.slots.len(), 1);
        assert_eq!(s.slots[0].shown, PanelId::Diff);
        assert_eq!(s.slots[0].tabs.len(), 7);
        let m = compute(Rect::new(0, 0, 120, 40), 0, &PanelId::ALL, PanelId::Transcript, false, PanelId::Diff);
        assert_eq!(m.slots.len(), 2);
        assert_eq!(m.slots[1].shown, PanelId::Diff);
    }

    #[test]
    fn maximized_takes_the_body() {
        let s = compute(Rect::new(0, 0, 200, 50), 1, &PanelId::ALL, PanelId::Diff, true, PanelId::Tasks);
        assert_eq!(s.slots.len(), 1);
        assert_eq!(s.slots[0].area, s.body);
        assert_eq!(s.banner.height, 1);
    }
}
