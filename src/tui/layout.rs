//! Which panels are on screen and where, for a given terminal size.

use ratatui::layout::{Constraint, Layout, Rect};

pub use super::panel::{PanelId, Placement};

/// What the layout needs to know of a panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tab {
    pub id: PanelId,
    pub number: usize,
    pub title: &'static str,
    pub placement: Placement,
    pub weight: u16,
}

/// Terminal widths at which more panels fit side by side.
pub const WIDE: u16 = 160;
pub const MEDIUM: u16 = 100;

/// A group of panels sharing one area; with more than one, a tab bar picks the shown one.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub area: Rect,
    pub tabs: Vec<Tab>,
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
                            return Some((slot.shown, Some(p.id)));
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

pub fn tab_label(p: &Tab) -> String {
    format!(" {} {} ", p.number, p.title)
}

/// The tab bar's labels for a frame `width` wide. When every full name does not fit, the
/// shown tab keeps its name and the others are cut to the longest length that still fits
/// (at least their number), so the labels use the room there is and no tab falls off.
pub fn tab_labels(tabs: &[Tab], shown: PanelId, width: u16) -> Vec<String> {
    let room = usize::from(width.saturating_sub(2));
    let label = |p: &Tab, max: usize| {
        if p.id == shown || p.title.chars().count() <= max {
            tab_label(p)
        } else if max == 0 {
            format!(" {} ", p.number)
        } else {
            format!(" {} {} ", p.number, p.title.chars().take(max).collect::<String>())
        }
    };
    let longest = tabs.iter().map(|p| p.title.chars().count()).max().unwrap_or(0);
    for max in (0..=longest).rev() {
        let labels: Vec<String> = tabs.iter().map(|p| label(p, max)).collect();
        if labels.iter().map(|l| l.chars().count()).sum::<usize>() <= room || max == 0 {
            return labels;
        }
    }
    Vec::new()
}

/// Lays out the screen. `last_side` is the side panel shown most recently, so a medium-width
/// screen keeps showing it while the main panel is focused.
pub fn compute(area: Rect, banner_lines: u16, visible: &[Tab], focus: PanelId, maximized: bool, last_side: PanelId) -> Screen {
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
        let tabs: Vec<Tab> = visible.iter().filter(|t| t.id == focus).copied().collect();
        screen.slots.push(Slot { area: body, tabs, shown: focus });
        return screen;
    }
    let pick = |group: &[Tab]| -> Option<PanelId> {
        if group.iter().any(|t| t.id == focus) {
            Some(focus)
        } else if group.iter().any(|t| t.id == last_side) {
            Some(last_side)
        } else {
            group.first().map(|t| t.id)
        }
    };
    let main: Vec<Tab> = visible.iter().filter(|t| t.placement == Placement::Main).copied().collect();
    if area.width >= WIDE {
        // Columns by placement: the main panel, the wide one (diffs, charts), the narrow lists,
        // and the prose (checkpoint fields, MEMORY.md), which needs the width to stay readable.
        let mut cols: Vec<(Constraint, Vec<Tab>)> = Vec::new();
        for (placement, fill) in [(Placement::Main, 5), (Placement::Wide, 4), (Placement::Side, 2), (Placement::Prose, 3)] {
            let group: Vec<Tab> = visible.iter().filter(|t| t.placement == placement).copied().collect();
            if !group.is_empty() {
                cols.push((Constraint::Fill(fill), group));
            }
        }
        let areas = Layout::horizontal(cols.iter().map(|c| c.0)).split(body);
        for ((_, panels), col) in cols.iter().zip(areas.iter()) {
            // A column stacks its panels by their weight.
            let rows = Layout::vertical(panels.iter().map(|p| Constraint::Fill(p.weight))).split(*col);
            for (p, r) in panels.iter().zip(rows.iter()) {
                screen.slots.push(Slot { area: *r, tabs: vec![*p], shown: p.id });
            }
        }
    } else if area.width >= MEDIUM && !main.is_empty() && visible.len() > main.len() {
        let others: Vec<Tab> = visible.iter().filter(|t| t.placement != Placement::Main).copied().collect();
        let [left, right] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(body);
        let shown_main = pick(&main).unwrap_or(main[0].id);
        screen.slots.push(Slot { area: left, tabs: main, shown: shown_main });
        let shown = pick(&others).unwrap_or(others[0].id);
        screen.slots.push(Slot { area: right, tabs: others, shown });
    } else {
        let shown = pick(visible).unwrap_or(visible[0].id);
        screen.slots.push(Slot { area: body, tabs: visible.to_vec(), shown });
    }
    screen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Tab> {
        let t = |id, title, placement, weight| Tab { id, number: 0, title, placement, weight };
        let mut v = vec![
            t(PanelId::Transcript, "Transcript", Placement::Main, 1),
            t(PanelId::Diff, "Diff", Placement::Wide, 3),
            t(PanelId::Endurance, "Endurance", Placement::Wide, 2),
            t(PanelId::Tasks, "Tasks", Placement::Side, 2),
            t(PanelId::Verifier, "Verifier", Placement::Side, 1),
            t(PanelId::Checkpoints, "Checkpoints", Placement::Prose, 1),
            t(PanelId::Memory, "Memory", Placement::Prose, 1),
        ];
        for (i, p) in v.iter_mut().enumerate() {
            p.number = i + 1;
        }
        v
    }

    #[test]
    fn wide_screens_show_every_visible_panel_in_reading_order() {
        let s = compute(Rect::new(0, 0, 200, 50), 0, &all(), PanelId::Transcript, false, PanelId::Tasks);
        assert_eq!(s.slots.len(), 7);
        assert!(s.slots.iter().all(|sl| sl.tabs.len() == 1));
        let memory = s.slots.iter().find(|sl| sl.shown == PanelId::Memory).map(|sl| sl.area).unwrap_or_default();
        assert!(memory.width >= 40 && memory.height >= 20, "MEMORY.md gets a readable area: {memory:?}");
        // Numbers follow reading order: left to right, then top to bottom within a column.
        let mut order: Vec<(u16, u16, usize)> = s.slots.iter().map(|sl| (sl.area.x, sl.area.y, sl.tabs[0].number)).collect();
        order.sort();
        assert_eq!(order.iter().map(|o| o.2).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn narrow_screens_use_tabs() {
        let s = compute(Rect::new(0, 0, 80, 24), 0, &all(), PanelId::Diff, false, PanelId::Tasks);
        assert_eq!(s.slots.len(), 1);
        assert_eq!(s.slots[0].shown, PanelId::Diff);
        assert_eq!(s.slots[0].tabs.len(), 7);
        let m = compute(Rect::new(0, 0, 120, 40), 0, &all(), PanelId::Transcript, false, PanelId::Diff);
        assert_eq!(m.slots.len(), 2);
        assert_eq!(m.slots[1].shown, PanelId::Diff);
    }

    #[test]
    fn maximized_takes_the_body() {
        let s = compute(Rect::new(0, 0, 200, 50), 1, &all(), PanelId::Diff, true, PanelId::Tasks);
        assert_eq!(s.slots.len(), 1);
        assert_eq!(s.slots[0].area, s.body);
        assert_eq!(s.banner.height, 1);
    }
}
