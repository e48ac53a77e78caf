//! Drawing the whole workbench: banner, title and timeline, panel frames, overlays.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::app::{App, ConfirmKind, EditorKind, Mode, Overlay};
use super::layout::{self, Screen};
use super::panels::memory;
use super::panels::{self, RenderCtx, status};
use super::rebuild::RebuildKeys;
use super::text::truncate;
use crate::config::keymap::{Action, KeyContext};

pub fn render(app: &mut App, f: &mut Frame) {
    let area = f.area();
    let tabs: Vec<layout::Tab> = app
        .panels
        .iter()
        .enumerate()
        .filter(|(_, p)| !app.hidden.contains(&p.id()))
        .map(|(i, p)| layout::Tab { id: p.id(), number: i + 1, title: p.title(), placement: p.placement(), weight: p.weight() })
        .collect();
    let screen = layout::compute(area, app.opts.banner.len() as u16, &tabs, app.focus, app.maximized, app.last_side);
    let spinner = if app.is_animating() { app.spinner_frame() } else { 0 };
    let context_budget = app.context_budget();
    let mut panels = std::mem::take(&mut app.panels);
    {
        let ctx = app.cx(spinner);
        let th = ctx.theme;
        // The base style first: widgets mostly set a foreground only, so a theme's own
        // background (light's white page) shows only if every cell starts from it.
        f.render_widget(Block::default().style(th.style("ui")), area);

        let banner: Vec<Line> =
            app.opts.banner.iter().map(|b| Line::styled(truncate(b, usize::from(area.width)), th.style("ui.banner.error"))).collect();
        f.render_widget(Paragraph::new(banner).style(th.style("ui.banner.error")), screen.banner);
        render_title(f, screen.title, app, &ctx);

        for slot in &screen.slots {
            let Some(panel) = panels.iter_mut().find(|p| p.id() == slot.shown) else { continue };
            let focused = slot.shown == app.focus;
            let border = th.style(if focused { "ui.border.focused" } else { "ui.border" });
            let title: Line = if slot.tabs.len() > 1 {
                Line::from(
                    slot.tabs
                        .iter()
                        .zip(layout::tab_labels(&slot.tabs, slot.shown, slot.area.width))
                        .map(|(p, label)| Span::styled(label, th.style(if p.id == slot.shown { "ui.tab.active" } else { "ui.tab" })))
                        .collect::<Vec<_>>(),
                )
            } else {
                let max = if app.maximized { " [max]" } else { "" };
                let number = slot.tabs.first().map_or(0, |t| t.number);
                Line::styled(
                    format!(" {number} {}{}{max} ", panel.title(), panel.title_suffix()),
                    th.style(if focused { "ui.title.focused" } else { "ui.title" }),
                )
            };
            let block = Block::default().borders(Borders::ALL).border_style(border).title(title);
            let inner = block.inner(slot.area);
            f.render_widget(block, slot.area);
            panel.render(f, inner, &ctx);
        }
        if screen.slots.is_empty() && screen.body.height > 0 {
            panels::empty_state(f, screen.body, &ctx, "All panels are hidden; focus one by number to show it.");
        }
    }
    app.panels = panels;
    let now = app.now();
    let th = &app.opts.theme;
    let ctx = RenderCtx {
        theme: th,
        hl: &app.hl,
        state: app.state.scoped(),
        root: &app.state,
        now,
        spinner,
        live: !app.is_replay(),
        keymap: &app.opts.keymap,
        pending: &app.pending,
        context_budget,
        search_input: app.layers.search_typing(),
    };
    // The Rebuild view is a layer over the panels while a rebuilt window waits for review.
    if app.rebuild_shown() && screen.body.height > 2 {
        let key = |a| binding_notation(app, KeyContext::Rebuild, a);
        let keys = RebuildKeys {
            approve: key(Action::RebuildApprove),
            veto: key(Action::RebuildVeto),
            edit: key(Action::RebuildEdit),
            pin: key(Action::RebuildPin),
            drop: key(Action::RebuildDrop),
            hide: key(Action::ToggleRebuildView),
        };
        clear(f, screen.body, th);
        app.rebuild.render(f, screen.body, &ctx, &keys);
    }

    let hints = app.hints();
    let info = status::StatusInfo { context_budget, hints: &hints, notice: app.notice.as_deref(), error: app.error.as_deref() };
    status::render(f, screen.status, &ctx, &info);

    // The other layers, bottom to top, each over the ones below.
    for layer in app.layers.iter() {
        render_layer(f, area, &screen, app, &ctx, layer);
    }
    app.screen = screen;
}

fn render_layer(f: &mut Frame, area: Rect, screen: &Screen, app: &App, ctx: &RenderCtx, layer: &Overlay) {
    let th = ctx.theme;
    match layer {
        // Drawn with the panels, under the status bar.
        Overlay::None | Overlay::Rebuild => {}
        // The transcript panel draws the line being typed in its last row, with its hits.
        Overlay::Search(_) => {}
        Overlay::Help { scroll, filter } => render_help(f, area, app, *scroll, filter),
        Overlay::Confirm(kind) => render_confirm(f, area, app, kind),
        Overlay::Escalation(id) => super::escalation::render(f, area, app, *id),
        Overlay::Composer(c) => {
            let h = c.height(screen.body.height);
            let r = Rect { y: screen.body.bottom().saturating_sub(h), height: h, ..screen.body };
            clear(f, r, th);
            c.render(f, r, ctx);
        }
        Overlay::Dropped(list) => {
            let r = centered(area, area.width.saturating_sub(8).min(120), area.height.saturating_sub(6).max(3));
            clear(f, r, th);
            let key = |a| binding_notation(app, KeyContext::Dropped, a);
            let footer = format!(" {} opens the message · {} close ", key(Action::Expand), key(Action::Cancel));
            list.render(f, r, ctx, &footer);
        }
        Overlay::MemoryEditor(edit) => {
            // MEMORY.md is a document, not a one-off message: give it most of the screen.
            let r = centered(area, area.width.saturating_sub(4).min(110), area.height.saturating_sub(4));
            clear(f, r, th);
            let save = binding_notation(app, KeyContext::Editor, Action::EditorSend);
            let cancel = binding_notation(app, KeyContext::Editor, Action::EditorCancel);
            let block = Block::default().borders(Borders::ALL).border_style(th.style("ui.border.focused")).title(Line::styled(
                format!(" {} — {save} save · {cancel} close without saving ", memory::MEMORY_FILE),
                th.style("ui.title.focused"),
            ));
            let inner = block.inner(r);
            f.render_widget(block, r);
            f.render_widget(&*edit.editor, inner);
        }
        Overlay::MemoryConflict { edit, theirs, scroll } => render_conflict(f, area, app, &edit.editor, theirs, *scroll),
        Overlay::Editor(kind, ta) => {
            let r = centered(area, 70, 12);
            clear(f, r, th);
            let send = binding_notation(app, KeyContext::Editor, Action::EditorSend);
            let cancel = binding_notation(app, KeyContext::Editor, Action::EditorCancel);
            let what = match kind {
                EditorKind::Task => "Task",
                EditorKind::Inject => "Correction",
                EditorKind::RejectNote => "Reject the work — a note for the agent",
                EditorKind::EscalationNote(_) => "Deny the escalation — a note for the agent",
                EditorKind::RebuildField => "Checkpoint field in the rebuilt window",
            };
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(th.style("ui.border.focused"))
                .title(Line::styled(format!(" {what} — {send} send · {cancel} cancel "), th.style("ui.title.focused")));
            let inner = block.inner(r);
            f.render_widget(block, r);
            f.render_widget(&**ta, inner);
        }
    }
}

fn render_title(f: &mut Frame, area: Rect, app: &App, ctx: &RenderCtx) {
    if area.height == 0 {
        return;
    }
    let th = ctx.theme;
    // The timeline is what the user acts on in replay, so it is drawn first, right-aligned,
    // and the title and task get what is left.
    let mut right = Vec::new();
    if let Mode::Replay(tl) = &app.mode {
        let (k, n) = (tl.position(), tl.steps());
        let prev = binding_notation(app, KeyContext::Global, Action::TimelinePrev);
        let next = binding_notation(app, KeyContext::Global, Action::TimelineNext);
        let width = 20usize;
        let filled = (k * width).checked_div(n).unwrap_or(width);
        right.push(Span::styled(" replay (read-only) ", th.style("ui.replay")));
        right.push(Span::styled(format!(" {prev} ◀ "), th.style("ui.dim")));
        right.push(Span::styled("━".repeat(filled), th.style("gauge.fill")));
        right.push(Span::styled("─".repeat(width - filled), th.style("gauge.empty")));
        right.push(Span::styled(format!(" ▶ {next} "), th.style("ui.dim")));
        right.push(Span::styled(format!("step {k}/{n} "), th.style("ui.timeline")));
    }
    let right = Line::from(right);
    let right_width = (right.width() as u16).min(area.width);
    let [left_area, right_area] = Layout::horizontal([Constraint::Min(0), Constraint::Length(right_width)]).areas(area);
    let title = format!(" {} ", app.opts.title);
    let room = usize::from(left_area.width).saturating_sub(super::text::str_width(&title) + 3);
    let mut spans = vec![Span::styled(title, th.style("ui.title"))];
    if let Some(a) = ctx.root.scope.and_then(|n| ctx.root.workflow.agents.get(&n)) {
        spans.push(Span::styled(format!(" ▸ agent {} [{}] ", a.n, a.label), th.style("ui.replay")));
        spans.push(Span::raw(" "));
    }
    if let Some(info) = ctx.state.session() {
        spans.push(Span::styled(format!("· {} ", truncate(&info.task.replace('\n', " "), room)), th.style("ui.dim")));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), left_area);
    f.render_widget(Paragraph::new(right), right_area);
}

/// The one place that finds the key shown for an action: the layer's binding, else the global one.
pub(super) fn binding_notation(app: &App, ctx: KeyContext, action: Action) -> String {
    app.opts.keymap.binding_for(ctx, action).map(|b| b.notation.clone()).unwrap_or_else(|| "(unbound)".into())
}

/// Blanks an overlay's area back to the theme's base style (`Clear` alone resets cells to the
/// terminal's colours, which on a light theme punches a dark hole).
pub(super) fn clear(f: &mut Frame, r: Rect, th: &crate::config::theme::Theme) {
    f.render_widget(Clear, r);
    f.render_widget(Block::default().style(th.style("ui")), r);
}

pub(super) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [r] = Layout::horizontal([Constraint::Length(width.min(area.width))]).flex(Flex::Center).areas(area);
    let [r] = Layout::vertical([Constraint::Length(height.min(area.height))]).flex(Flex::Center).areas(r);
    r
}

/// The help overlay lists the active keymap, so it is right whatever the user rebound:
/// grouped by layer, the one that has the keyboard first, quitting at the top of the global
/// keys, and only the lines containing `filter` (case-insensitive) when one is typed. Under a
/// panel, its keys and the global ones say what they do now from the same offers that drive
/// dispatch and hints: a key that would do nothing is dimmed with the reason.
pub fn help_lines(app: &App, filter: &str) -> Vec<Line<'static>> {
    let th = &app.opts.theme;
    let under = match app.layers.top() {
        Overlay::Help { .. } => app.layer_under_top(),
        _ => app.layer(),
    };
    let mut order = vec![under];
    if under != KeyContext::Global {
        order.push(KeyContext::Global);
    }
    let rest: Vec<KeyContext> = KeyContext::ALL.into_iter().filter(|c| !order.contains(c)).collect();
    order.extend(rest);
    let needle = filter.to_lowercase();
    // The offers answer for the focused panel and the app, not for a layer such as the
    // Rebuild view, which claims keys of its own.
    let offers = (under == app.focus_layer()).then(|| app.offers_now());
    let why_not = |ctx: KeyContext, a: Action| -> Option<String> {
        let offers = offers.as_ref().filter(|_| ctx == under || ctx == KeyContext::Global)?;
        match offers.iter().find(|o| o.action == a) {
            Some(o) => o.disabled.clone(),
            None => Some("nothing to do here".into()),
        }
    };
    let mut lines = Vec::new();
    for ctx in order {
        let mut bindings: Vec<&crate::config::keymap::Binding> = app.opts.keymap.bindings(ctx).iter().collect();
        // Quit first: the one key everybody needs to find.
        bindings.sort_by_key(|b| b.action != Action::Quit);
        bindings.retain(|b| needle.is_empty() || b.desc.to_lowercase().contains(&needle) || b.notation.to_lowercase().contains(&needle));
        if bindings.is_empty() {
            continue;
        }
        if !lines.is_empty() {
            lines.push(Line::default());
        }
        let here = if ctx == under { " (here)" } else { "" };
        lines.push(Line::styled(format!("{}{here}", ctx.as_str()), th.style("ui.help.section")));
        let w = bindings.iter().map(|b| b.notation.chars().count()).max().unwrap_or(0);
        for b in bindings {
            let line = match why_not(ctx, b.action) {
                None => Line::from(vec![
                    Span::styled(format!("  {:<w$}  ", b.notation), th.style("ui.help.key")),
                    Span::styled(b.desc.clone(), th.style("ui.help.desc")),
                ]),
                Some(why) => Line::styled(format!("  {:<w$}  {} — {why}", b.notation, b.desc), th.style("ui.dim")),
            };
            lines.push(line);
        }
    }
    if lines.is_empty() {
        lines.push(Line::raw(if needle.is_empty() { "The keymap is empty." } else { "No key matches what you typed." }));
    }
    lines
}

fn render_help(f: &mut Frame, area: Rect, app: &App, scroll: usize, filter: &str) {
    let th = &app.opts.theme;
    let r = centered(area, 64, area.height.saturating_sub(4).max(3));
    clear(f, r, th);
    let close = binding_notation(app, KeyContext::Help, Action::Help);
    let lines = help_lines(app, filter);
    let what = if filter.is_empty() { "type to filter".to_string() } else { format!("filter: {filter}") };
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.style("ui.border.focused"))
        .title(Line::styled(format!(" Keys — {close} closes · {what} "), th.style("ui.title.focused")));
    let height = usize::from(block.inner(r).height);
    let scroll = scroll.min(lines.len().saturating_sub(height));
    // Say when the list goes on below, or the last section shown looks like the end.
    if scroll + height < lines.len() {
        let down = binding_notation(app, KeyContext::Global, Action::PageDown);
        let more = format!(" {} more — {down} scrolls ", lines.len() - scroll - height);
        block = block.title_bottom(Line::styled(more, th.style("ui.dim")).right_aligned());
    }
    let inner = block.inner(r);
    f.render_widget(block, r);
    let visible: Vec<Line> = lines.into_iter().skip(scroll).take(usize::from(inner.height)).collect();
    f.render_widget(Paragraph::new(visible), inner);
}

fn render_confirm(f: &mut Frame, area: Rect, app: &App, kind: &ConfirmKind) {
    let th = &app.opts.theme;
    let yes = binding_notation(app, KeyContext::Confirm, Action::Confirm);
    let q = match kind {
        ConfirmKind::Quit => match &app.opts.attached {
            Some(id) => format!(
                "Detach from session {id}? The agent keeps running: `endure attach {id}` comes back. ({} stops the agent instead.)",
                binding_notation(app, KeyContext::Global, Action::Stop)
            ),
            None => "The agent is still running. Quit the workbench?".to_string(),
        },
        ConfirmKind::Stop => "Stop the agent and finish the session?".to_string(),
        ConfirmKind::Rollback(id) => {
            format!("Roll back the workspace and conversation to checkpoint {id}? Files created since are deleted.")
        }
        ConfirmKind::AcceptWork => {
            let last = app
                .state
                .verdicts
                .last()
                .map_or(String::new(), |v| format!(" (verifier attempt {}: {})", v.attempt, if v.met { "met" } else { "not met" }));
            format!("Accept the work as done, overriding the goal verifier{last}?")
        }
    };
    let width: u16 = 56;
    let mut lines: Vec<Line> =
        super::text::wrap(&q, usize::from(width - 2)).into_iter().map(|l| Line::styled(l, th.style("ui.confirm"))).collect();
    lines.push(Line::styled(format!("{yes} confirms · any other key cancels"), th.style("ui.dim")));
    let r = centered(area, width, lines.len() as u16 + 2);
    clear(f, r, th);
    let block = Block::default().borders(Borders::ALL).border_style(th.style("ui.border.focused"));
    let inner = block.inner(r);
    f.render_widget(block, r);
    f.render_widget(Paragraph::new(lines), inner);
}

/// The MEMORY.md conflict: what the buffer would change in the file on disk, and the three
/// ways out.
fn render_conflict(f: &mut Frame, area: Rect, app: &App, editor: &ratatui_textarea::TextArea, theirs: &str, scroll: usize) {
    let th = &app.opts.theme;
    let r = centered(area, area.width.saturating_sub(4).min(110), area.height.saturating_sub(4));
    clear(f, r, th);
    let key = |a| binding_notation(app, KeyContext::Conflict, a);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(th.style("ui.border.focused"))
        .title(Line::styled(" MEMORY.md changed on disk while you were editing ", th.style("ui.conflict")));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let w = usize::from(inner.width);
    let mine = memory::buffer_text(editor);
    let explain = "Nothing has been written. Below: the file on disk (-) against your unsaved edits (+).";
    let choices = format!(
        "{} keep mine (overwrite the file) · {} take theirs (drop my edits) · {} keep editing",
        key(Action::MemoryKeepMine),
        key(Action::MemoryTakeTheirs),
        key(Action::MemoryEdit)
    );
    let mut lines: Vec<Line> = super::text::wrap(explain, w).into_iter().map(|l| Line::styled(l, th.style("ui.dim"))).collect();
    lines.extend(super::text::wrap(&choices, w).into_iter().map(|l| Line::styled(l, th.style("ui.conflict"))));
    let head = lines.len();
    let body = memory::conflict_lines(theirs, &mine, th, &app.hl, w);
    let room = usize::from(inner.height).saturating_sub(head);
    let scroll = scroll.min(body.len().saturating_sub(room));
    lines.extend(body.into_iter().skip(scroll).take(room));
    f.render_widget(Paragraph::new(lines), inner);
}
