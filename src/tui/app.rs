//! Input to actions, actions to commands and view changes. `App` routes: keys go to the top of
//! the layer stack (`tui::layers`: a modal layer answers them itself, the Rebuild view takes its
//! own), else to the focused panel (whose `offers` say what it does now), then to the app's own
//! global actions; layers and panels ask for commands, other layers and messages through
//! `Effects`, which the app carries out. No terminal in here: tests drive
//! `handle_key`/`handle_event` and draw with `render` on a `TestBackend`.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEventKind};
use ratatui::Frame;

use super::WorkbenchOptions;
use super::layers::Layers;
pub use super::layers::Overlay;
use super::layout::Screen;
use super::panel::{Effect, Effects, Offer, Panel, PanelId, READ_ONLY, registry};
use super::panels::RenderCtx;
use super::panels::transcript::Sent;
use super::rebuild::RebuildView;
use super::replay::Timeline;
use super::state::{NoticeLevel, RunState, WorkbenchState};
use super::widgets::highlight::Highlighter;
use crate::agent::CommandSender;
use crate::config::keymap::{Action, KeyContext, SeqMatch};
use crate::protocol::{Command, Event, EventKind};

#[path = "app_cycles.rs"]
mod cycles;
#[path = "app_overlays.rs"]
mod overlays;
#[path = "app_workflow.rs"]
mod workflow;

/// Where "now" comes from: the wall clock, or a fixed instant so tests are deterministic.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    Fixed(DateTime<Utc>),
}

pub enum Mode {
    Live { task_pending: bool },
    Replay(Timeline),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfirmKind {
    Quit,
    Stop,
    /// Roll back to this checkpoint id.
    Rollback(String),
    /// Overrule the goal verifier and accept the work as done.
    AcceptWork,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditorKind {
    Task,
    Inject,
    /// The note that goes with rejecting the work over the verifier's verdict.
    RejectNote,
    /// The note that goes to the agent with denying escalation `id` (may be empty).
    EscalationNote(u64),
    /// A checkpoint field's text in a rebuilt window under review.
    RebuildField,
}

pub struct App {
    pub opts: WorkbenchOptions,
    pub(super) hl: Highlighter,
    pub state: WorkbenchState,
    pub mode: Mode,
    commands: Option<CommandSender>,
    /// Every panel, in reading order (their numbers).
    pub panels: Vec<Box<dyn Panel>>,
    pub focus: PanelId,
    pub hidden: HashSet<PanelId>,
    pub maximized: bool,
    pub(super) last_side: PanelId,
    /// The Rebuild view's state (selection, scroll), kept while the view is hidden; the view
    /// itself is a layer.
    pub rebuild: RebuildView,
    /// Escalations this workbench answered, so the overlay does not reopen before the
    /// runtime's `escalation_resolved` arrives.
    pub answered_escalations: HashSet<u64>,
    /// The layers over the panels (help, confirmations, editors, the Rebuild view, ...), top
    /// last: the top one has the keyboard.
    pub layers: Layers,
    /// Corrections sent but not yet acknowledged by a `CorrectionQueued`.
    pub pending: Vec<Sent>,
    /// What the last key did, for the status bar until the next key.
    pub notice: Option<String>,
    /// Why the last key could not do what it asked.
    pub error: Option<String>,
    pub should_quit: bool,
    pub clock: Clock,
    pub(super) screen: Screen,
    /// Events lost to a lagging broadcast receiver.
    pub lagged: u64,
    /// Text to put on the clipboard: the terminal loop writes it as OSC 52.
    pub clipboard: Option<String>,
    /// The keys of a sequence typed so far (`g` of `g g`), while they are a prefix.
    pub pending_keys: Vec<KeyEvent>,
    /// The Workflow panel was shown (by a workflow starting, or by the user).
    workflow_shown: bool,
}

impl App {
    pub fn new(opts: WorkbenchOptions, mode: Mode, commands: Option<CommandSender>) -> App {
        let hl = Highlighter::new(&opts.theme);
        let mut app = App {
            opts,
            hl,
            state: WorkbenchState::default(),
            mode,
            commands,
            panels: registry(),
            focus: PanelId::Transcript,
            hidden: HashSet::new(),
            maximized: false,
            last_side: PanelId::Tasks,
            rebuild: RebuildView::default(),
            answered_escalations: HashSet::new(),
            layers: Layers::default(),
            pending: Vec::new(),
            notice: None,
            error: None,
            should_quit: false,
            clock: Clock::System,
            screen: Screen::default(),
            lagged: 0,
            pending_keys: Vec::new(),
            clipboard: None,
            workflow_shown: false,
        };
        // The Workflow panel waits, hidden, until a workflow starts.
        app.hidden.insert(super::panels::workflow::ID);
        if let Mode::Replay(tl) = &mut app.mode {
            tl.seek(tl.steps(), &mut app.state);
        }
        if let Some(r) = app.state.workflow.runs.first() {
            let own = !r.by_tool;
            app.workflow_started(own);
        }
        app.session_known();
        if matches!(app.mode, Mode::Live { task_pending: true }) {
            app.open_editor(EditorKind::Task, "");
        }
        app
    }

    pub fn live(opts: WorkbenchOptions, history: &[Event], commands: CommandSender, task_pending: bool) -> App {
        let mut app = App::new(opts, Mode::Live { task_pending }, Some(commands));
        for e in history {
            app.apply_event(e);
        }
        app
    }

    pub fn replay(opts: WorkbenchOptions, events: Vec<Event>) -> App {
        App::new(opts, Mode::Replay(Timeline::new(events)), None)
    }

    pub fn is_replay(&self) -> bool {
        matches!(self.mode, Mode::Replay(_))
    }

    /// The status bar's message: an error wins over a notice.
    pub fn message(&self) -> Option<&str> {
        self.error.as_deref().or(self.notice.as_deref())
    }

    pub fn now(&self) -> DateTime<Utc> {
        match (self.clock, &self.mode) {
            (Clock::Fixed(t), _) => t,
            // A replay's "now" is the moment of the step shown.
            (Clock::System, Mode::Replay(_)) => self.state.last_ts.unwrap_or_else(Utc::now),
            (Clock::System, Mode::Live { .. }) => Utc::now(),
        }
    }

    pub fn spinner_frame(&self) -> usize {
        (self.now().timestamp_millis() / 100).rem_euclid(8) as usize
    }

    /// True while something on screen moves by itself, which is the only time the loop
    /// schedules frames without an input.
    pub fn is_animating(&self) -> bool {
        let s = self.state.scoped();
        !self.is_replay() && s.run.is_active() && (s.run == RunState::WaitingForModel || s.running_tools() > 0)
    }

    /// The session's own budget is what its checkpoints were measured against.
    pub fn context_budget(&self) -> u64 {
        self.state.session().map(|s| s.context_budget).filter(|b| *b > 0).unwrap_or(self.opts.context_budget)
    }

    /// What every panel reads while drawing or acting.
    pub fn cx(&self, spinner: usize) -> RenderCtx<'_> {
        RenderCtx {
            theme: &self.opts.theme,
            hl: &self.hl,
            state: self.state.scoped(),
            root: &self.state,
            now: self.now(),
            spinner,
            live: !self.is_replay(),
            keymap: &self.opts.keymap,
            pending: &self.pending,
            context_budget: self.context_budget(),
            search_input: self.layers.search_typing(),
        }
    }

    /// The panel registered as `T`.
    pub fn panel<T: Panel>(&self) -> &T {
        self.panels.iter().find_map(|p| p.as_any().downcast_ref::<T>()).unwrap_or_else(|| unreachable!("every panel type is registered"))
    }

    pub fn panel_mut<T: Panel>(&mut self) -> &mut T {
        self.panels
            .iter_mut()
            .find_map(|p| p.as_any_mut().downcast_mut::<T>())
            .unwrap_or_else(|| unreachable!("every panel type is registered"))
    }

    fn index_of(&self, id: PanelId) -> Option<usize> {
        self.panels.iter().position(|p| p.id() == id)
    }

    /// Runs `f` on panel `id` with the context; the panel is taken out meanwhile so that it
    /// can read the app's state while changing itself.
    fn with_panel<R>(&mut self, id: PanelId, f: impl FnOnce(&mut dyn Panel, &RenderCtx, &mut Effects) -> R) -> Option<R> {
        let i = self.index_of(id)?;
        let mut panel = self.panels.remove(i);
        let mut fx = Effects::default();
        let r = {
            let cx = self.cx(0);
            f(panel.as_mut(), &cx, &mut fx)
        };
        self.panels.insert(i, panel);
        self.apply_effects(fx);
        Some(r)
    }

    /// Folds a live event into the projection.
    pub fn apply_event(&mut self, e: &Event) {
        if let (EventKind::CorrectionQueued { .. }, Some(cause)) = (&e.kind, &e.command_id) {
            self.pending.retain(|p| p.command_id != *cause);
        }
        // A correction sent to a subagent is acknowledged in its own session.
        if let EventKind::SubagentEvent { event, .. } = &e.kind
            && let (EventKind::CorrectionQueued { .. }, Some(cause)) = (&event.kind, &event.command_id)
        {
            self.pending.retain(|p| p.command_id != *cause);
        }
        if let EventKind::WorkflowStarted { call_id, .. } = &e.kind {
            self.workflow_started(call_id.is_none());
        }
        if let (EventKind::SessionStarted { .. }, Mode::Live { task_pending }) = (&e.kind, &mut self.mode) {
            *task_pending = false;
        }
        self.state.apply(e);
        if matches!(e.kind, EventKind::SessionStarted { .. }) {
            self.session_known();
        }
        let ids: Vec<PanelId> = self.panels.iter().map(|p| p.id()).collect();
        for id in ids {
            self.with_panel(id, |p, cx, _| p.on_event(e, cx));
        }
        self.follow_rebuild(e);
        self.sync_escalation();
    }

    fn session_known(&mut self) {
        if self.state.session().is_none() {
            return;
        }
        let ids: Vec<PanelId> = self.panels.iter().map(|p| p.id()).collect();
        for id in ids {
            self.with_panel(id, |p, cx, _| p.session_known(cx));
        }
    }

    /// An escalation nobody here has answered yet opens its layer as soon as no other is
    /// open (or only the Rebuild view); one the runtime resolved (or that is gone) closes,
    /// wherever it is in the stack.
    pub fn sync_escalation(&mut self) {
        let pending = match &self.mode {
            Mode::Live { .. } => self.state.sandbox.escalation.as_ref().map(|e| e.id).filter(|id| !self.answered_escalations.contains(id)),
            Mode::Replay(_) => None,
        };
        self.layers.retain(|l| !matches!(l, Overlay::Escalation(open) if pending != Some(*open)));
        if let Some(id) = pending
            && !self.layers.top().is_modal()
            && !self.layers.any(|l| matches!(l, Overlay::Escalation(_)))
        {
            self.layers.push(Overlay::Escalation(id));
        }
    }

    /// Appends events read from a followed log.
    pub fn append_replay(&mut self, events: Vec<Event>) {
        if let Mode::Replay(tl) = &mut self.mode {
            tl.append_following(events, &mut self.state);
        }
        self.session_known();
    }

    /// The files panels show, for the watcher.
    pub fn watched_files(&self) -> Vec<std::path::PathBuf> {
        self.panels.iter().filter_map(|p| p.watched_file().map(std::path::Path::to_path_buf)).collect()
    }

    /// A watched file changed on disk (the watcher's reload message).
    pub fn file_changed(&mut self) {
        self.reload_files();
        self.memory_changed();
    }

    pub fn note(&mut self, level: NoticeLevel, text: String) {
        self.state.push_local_notice(level, text);
    }

    pub fn note_lagged(&mut self, n: u64) {
        self.lagged += n;
        self.note(NoticeLevel::Warning, format!("the workbench fell behind and missed {n} events; the session log has them all"));
    }

    pub fn visible_panels(&self) -> Vec<PanelId> {
        self.panels.iter().map(|p| p.id()).filter(|p| !self.hidden.contains(p)).collect()
    }

    /// A panel's number: its place in reading order.
    pub fn number(&self, id: PanelId) -> usize {
        self.index_of(id).map_or(1, |i| i + 1)
    }

    fn focused(&self) -> Option<&dyn Panel> {
        self.panels.iter().find(|p| p.id() == self.focus).map(|p| p.as_ref())
    }

    /// The keymap layer that has the keyboard now: the top layer's, else the focused panel's.
    pub fn layer(&self) -> KeyContext {
        match self.layers.top() {
            Overlay::None => self.focus_layer(),
            Overlay::Rebuild if !self.rebuild_in_view() => self.focus_layer(),
            top => top.context(),
        }
    }

    /// The keymap layer under the top layer (what the help lists first): the next layer down
    /// when it takes keys, else the focused panel's.
    pub fn layer_under_top(&self) -> KeyContext {
        match self.layers.iter().rev().nth(1) {
            Some(Overlay::Rebuild) if self.state.rebuild.is_some() => KeyContext::Rebuild,
            Some(l) if l.is_modal() => l.context(),
            _ => self.focus_layer(),
        }
    }

    /// The layer of the focused panel.
    pub fn focus_layer(&self) -> KeyContext {
        self.focused().map_or(KeyContext::Global, |p| p.layer())
    }

    /// The binding for a key: as sent, then with the shift state that terminals disagree on
    /// (`?` with or without SHIFT, `N` with or without it).
    pub fn lookup(&self, ctx: KeyContext, key: &KeyEvent) -> Option<Action> {
        if let Some(b) = self.opts.keymap.lookup(ctx, key) {
            return Some(b.action);
        }
        if let KeyCode::Char(c) = key.code {
            let mut alt = *key;
            if c.is_ascii_uppercase() {
                alt.modifiers ^= KeyModifiers::SHIFT;
            } else if key.modifiers.contains(KeyModifiers::SHIFT) {
                alt.modifiers.remove(KeyModifiers::SHIFT);
            } else {
                return None;
            }
            return self.opts.keymap.lookup(ctx, &alt).map(|b| b.action);
        }
        None
    }

    pub fn handle_event(&mut self, ev: TermEvent) {
        match ev {
            TermEvent::Key(k) => self.handle_key(k),
            TermEvent::Paste(text) => self.paste(&text),
            TermEvent::Mouse(m) => match m.kind {
                MouseEventKind::Down(MouseButton::Left) => {
                    if let Some((shown, tab)) = self.screen.panel_at(m.column, m.row) {
                        self.set_focus(tab.unwrap_or(shown));
                        // A click inside the frame selects what is under it.
                        let inner_top = self.screen.slots.iter().find(|s| s.shown == shown).map(|s| s.area.y + 1);
                        if tab.is_none()
                            && let Some(top) = inner_top.filter(|t| m.row >= *t)
                        {
                            self.with_panel(shown, |p, cx, _| p.click(m.row - top, cx));
                        }
                    }
                }
                MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                    let up = matches!(m.kind, MouseEventKind::ScrollUp);
                    if let Some((p, _)) = self.screen.panel_at(m.column, m.row) {
                        self.with_panel(p, |p, cx, _| p.scroll(if up { -3 } else { 3 }, cx));
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn paste(&mut self, text: &str) {
        match self.layers.top_mut() {
            Some(Overlay::Editor(_, ta)) => {
                ta.insert_str(text);
            }
            Some(Overlay::MemoryEditor(e)) => {
                e.editor.insert_str(text);
            }
            Some(Overlay::Composer(c)) => {
                c.editor.insert_str(text);
            }
            Some(Overlay::Search(q)) => q.push_str(&text.replace(['\n', '\r'], " ")),
            _ => {
                let focus = self.focus;
                self.with_panel(focus, |p, _, _| p.paste(text));
            }
        }
    }

    pub fn handle_key(&mut self, key: KeyEvent) {
        if key.kind == KeyEventKind::Release {
            return;
        }
        self.notice = None;
        self.error = None;
        self.sync_escalation();
        let layer = self.layer();
        let action = self.lookup(layer, &key);
        // A modal layer takes every key; the Rebuild view takes its own (in `act`) and lets
        // the rest through to the panels and the global keys.
        if self.layers.top().is_modal() {
            self.overlay_key(key, action);
            return;
        }
        let focus = self.focus;
        if self.focused().is_some_and(|p| p.takes_text()) {
            self.with_panel(focus, |p, cx, fx| p.input(key, cx, fx));
            return;
        }
        self.sequence_key(layer, key, action);
    }

    /// A key outside overlays: part of a sequence (`g g`), or a binding of its own.
    fn sequence_key(&mut self, layer: KeyContext, key: KeyEvent, single: Option<Action>) {
        if !self.pending_keys.is_empty() && key.code == KeyCode::Esc {
            self.pending_keys.clear();
            return;
        }
        self.pending_keys.push(key);
        match self.opts.keymap.lookup_sequence(layer, &self.pending_keys) {
            SeqMatch::Exact(b) => {
                let a = b.action;
                self.pending_keys.clear();
                self.act(a);
            }
            // The status bar lists what can follow (`hints`).
            SeqMatch::Prefix => {}
            SeqMatch::None => {
                let typed = std::mem::take(&mut self.pending_keys);
                if typed.len() > 1 {
                    let keys: Vec<String> = typed.iter().map(crate::config::keymap::notation).collect();
                    self.error = Some(format!("no binding for {}", keys.join(" ")));
                } else if let Some(a) = single {
                    self.act(a);
                }
            }
        }
    }

    /// Runs an action: the Rebuild view's when it is shown, else the focused panel's when it
    /// offers it, else the app's own; an action offered but disabled says why.
    pub fn act(&mut self, a: Action) {
        if self.rebuild_in_view() && self.rebuild_act(a) {
            return;
        }
        let offer = {
            let cx = self.cx(0);
            self.focused().and_then(|p| p.offers(&cx).into_iter().find(|o| o.action == a))
        };
        match offer {
            Some(o) if o.enabled() => {
                let focus = self.focus;
                self.with_panel(focus, |p, cx, fx| p.act(a, cx, fx));
                if a == Action::Cancel {
                    self.maximized = false;
                }
            }
            Some(o) => self.error = o.disabled,
            None => match self.global_offers().into_iter().find(|o| o.action == a) {
                Some(o) if o.enabled() => self.global_act(a),
                Some(o) => self.error = o.disabled,
                None => {
                    let what = self.opts.keymap.binding_for(self.layer(), a).map_or(String::new(), |b| format!("{}: ", b.desc));
                    self.error = Some(format!("{what}nothing to do in the {} panel", self.focused().map_or("", |p| p.title())));
                }
            },
        }
    }

    /// Everything the keyboard can do under the layers now: the focused panel's offers, then
    /// the app's own (a panel's answer for an action comes first, as in `act`). The help is
    /// made from this, like the hints.
    pub fn offers_now(&self) -> Vec<Offer> {
        let cx = self.cx(0);
        let mut v = self.focused().map(|p| p.offers(&cx)).unwrap_or_default();
        v.extend(self.global_offers());
        v
    }

    /// The app's own actions and whether they do something now.
    pub fn global_offers(&self) -> Vec<Offer> {
        let live = !self.is_replay();
        // Scoped to a subagent, the run controls are that subagent's.
        let run = &self.state.scoped().run;
        let active = run.is_active();
        let ended = matches!(run, RunState::Finished { .. });
        let finished = format!("the session is {}", run.label());
        let live_and = |a: Action, ok: bool, why: &str| if !live { Offer::when(a, false, READ_ONLY) } else { Offer::when(a, ok, why) };
        let task_pending = matches!(self.mode, Mode::Live { task_pending: true });
        let mut v = vec![
            Offer::on(Action::Help),
            live_and(Action::PauseResume, active, &format!("nothing to pause: {finished}")),
            live_and(Action::Inject, active || task_pending, &format!("nothing to correct: {finished}")),
            live_and(Action::Stop, active, &format!("nothing to stop: {finished}")),
            live_and(Action::Rollover, active, &format!("nothing to roll over: {finished}")),
            // Settings can be sent before the run starts: the runtime applies them when it does.
            live_and(Action::ToggleMaxMode, !ended, &finished),
            live_and(Action::ToggleReviewPicks, !ended, &finished),
            live_and(Action::ToggleReviewRebuilds, !ended, &finished),
            Offer::when(Action::ToggleRebuildView, self.state.rebuild.is_some(), "no rebuilt window waits for review"),
            Offer::on(Action::FocusNext),
            Offer::on(Action::FocusPrev),
            Offer::on(Action::Maximize),
            Offer::on(Action::HidePanel),
            Offer::on(Action::Cancel),
            Offer::on(Action::Quit),
        ];
        for n in 1..=10u8 {
            v.push(Offer::when(Action::Focus(n), usize::from(n) <= self.panels.len(), "no panel with that number"));
        }
        let replay = |a| Offer::when(a, !live, "the timeline is for replays (endure replay SESSION)");
        v.extend([replay(Action::TimelinePrev), replay(Action::TimelineNext)]);
        v
    }

    fn global_act(&mut self, a: Action) {
        match a {
            Action::Quit => {
                if !self.is_replay() && self.state.run.is_active() {
                    self.layers.push(Overlay::Confirm(ConfirmKind::Quit));
                } else {
                    self.should_quit = true;
                }
            }
            Action::Cancel => self.maximized = false,
            Action::PauseResume => match self.state.scoped().run {
                RunState::Paused(_) => {
                    self.send(Command::Resume);
                }
                // Pressed again before the pause landed: take it back.
                _ if self.state.scoped().pause_pending => {
                    if self.send(Command::Resume).is_some() {
                        self.state.scoped_mut().pause_pending = false;
                        self.notice = Some("pause cancelled".into());
                    }
                }
                _ => {
                    if self.send(Command::Pause).is_some() {
                        self.state.scoped_mut().pause_pending = true;
                        self.notice = Some("pausing… (at once while the model answers; after the running tools otherwise)".into());
                    }
                }
            },
            Action::Inject => {
                if matches!(self.mode, Mode::Live { task_pending: true }) {
                    self.open_editor(EditorKind::Task, "");
                } else {
                    self.layers.push(Overlay::Composer(super::composer::Composer::default()));
                }
            }
            Action::Stop => self.layers.push(Overlay::Confirm(ConfirmKind::Stop)),
            Action::FocusNext => self.cycle_focus(true),
            Action::FocusPrev => self.cycle_focus(false),
            Action::Focus(n) => {
                if let Some(p) = self.panels.get(usize::from(n).saturating_sub(1)).map(|p| p.id()) {
                    self.set_focus(p);
                }
            }
            Action::Maximize => self.maximized = !self.maximized,
            Action::HidePanel => {
                if self.visible_panels().len() <= 1 {
                    self.error = Some("the last visible panel cannot be hidden".into());
                } else {
                    let hide = self.focus;
                    self.cycle_focus(true);
                    self.hidden.insert(hide);
                    self.maximized = false;
                }
            }
            Action::Help => self.layers.push(Overlay::Help { scroll: 0, filter: String::new() }),
            Action::TimelinePrev | Action::TimelineNext => {
                if let Mode::Replay(tl) = &mut self.mode {
                    let k = if a == Action::TimelineNext { tl.position() + 1 } else { tl.position().saturating_sub(1) };
                    tl.seek(k, &mut self.state);
                }
            }
            Action::Rollover => self.send_noting(Command::Rollover, "rollover requested"),
            Action::ToggleMaxMode | Action::ToggleReviewPicks => {
                let (cmd, what) = if a == Action::ToggleMaxMode { toggle_max_mode(&self.state) } else { toggle_review_picks(&self.state) };
                self.send_noting(cmd, what);
            }
            Action::ToggleReviewRebuilds => self.toggle_review_rebuilds(),
            Action::ToggleRebuildView => self.toggle_rebuild_view(),
            _ => {}
        }
    }

    /// Carries out what a panel asked for.
    fn apply_effects(&mut self, fx: Effects) {
        for e in fx.0 {
            match e {
                // A panel addresses its commands itself (the Workflow panel to one agent).
                Effect::Send(c) => {
                    self.send_as_is(c);
                }
                Effect::Scope(n) => self.set_scope(n),
                Effect::Notice(s) => {
                    self.notice.get_or_insert(s);
                }
                Effect::Error(s) => self.error = Some(s),
                Effect::Confirm(k) => self.layers.push(Overlay::Confirm(k)),
                Effect::Edit(kind, text) => self.open_editor(kind, &text),
                Effect::Overlay(o) => self.layers.push(o),
                Effect::SearchFor(query) => {
                    self.with_panel(PanelId::Transcript, |p, cx, fx| {
                        if let Some(t) = p.as_any_mut().downcast_mut::<super::panels::transcript_panel::TranscriptPanel>() {
                            t.search_for(query, cx, fx);
                        }
                    });
                }
                Effect::Focus(p) => self.set_focus(p),
                Effect::Copy(text) => {
                    self.notice = Some(format!("copied {} characters to the clipboard", text.chars().count()));
                    self.clipboard = Some(text);
                }
                Effect::Quit => self.should_quit = true,
                Effect::StartTask(text) => self.start_task(text),
                Effect::Correct(text) => self.correct(text),
                Effect::AnswerEscalation { id, approve, note } => self.answer_escalation(id, approve, note),
                Effect::RebuildField(text) => self.send_field_edit(text),
                Effect::SaveMemory { text, base, edit } => self.request_memory_save(text, &base, edit),
                Effect::ReloadFiles => self.reload_files(),
                Effect::Reveal(seq) => {
                    let ids: Vec<PanelId> = self.panels.iter().map(|p| p.id()).collect();
                    let shown = ids.into_iter().find(|id| self.with_panel(*id, |p, cx, _| p.reveal(seq, cx)).unwrap_or(false));
                    match shown {
                        Some(id) => {
                            self.set_focus(id);
                            self.notice = Some(format!("the original message of event #{seq}"));
                        }
                        None => self.error = Some(format!("event #{seq} is not in this view")),
                    }
                }
            }
        }
    }

    /// Sends `cmd` and returns its id, which the events it causes echo.
    /// Sends a command and, once the runtime took it, says what will happen.
    pub(super) fn send_noting(&mut self, cmd: Command, notice: impl Into<String>) {
        if self.send(cmd).is_some() {
            self.notice = Some(notice.into());
        }
    }

    /// Sends `cmd` to the runtime, or, while the panels are scoped to a workflow subagent,
    /// the pause, resume, stop or correction to that subagent only.
    fn send(&mut self, cmd: Command) -> Option<String> {
        let cmd = match (self.state.scope, cmd) {
            (Some(target), c @ (Command::Pause | Command::Resume | Command::Stop | Command::Inject(_))) => {
                Command::ToAgent { target, command: Box::new(c) }
            }
            // These act on one agent's run, and would reach the session's instead of the agent
            // on screen (a withdrawal would take back the session's correction with the same
            // number). MEMORY.md and the session's own questions stay the session's.
            (
                Some(target),
                Command::WithdrawCorrection { .. }
                | Command::Rollback(_)
                | Command::Rollover
                | Command::SetMaxMode(_)
                | Command::SetReviewPicks(_)
                | Command::SetReviewRebuilds(_)
                | Command::ReviewRebuild { .. }
                | Command::PickCandidate(_)
                | Command::OverrideVerdict { .. },
            ) => {
                self.error = Some(format!(
                    "agent {target} takes pause, resume, stop and corrections only; Esc in the Workflow panel shows the session again"
                ));
                return None;
            }
            (_, c) => c,
        };
        self.send_as_is(cmd)
    }

    fn send_as_is(&mut self, cmd: Command) -> Option<String> {
        if self.is_replay() {
            self.error = Some(READ_ONLY.into());
            return None;
        }
        let id = self.commands.as_ref().and_then(|tx| tx.send(cmd).ok());
        if id.is_none() {
            self.error = Some("the runtime is not listening any more".into());
        }
        id
    }

    pub(super) fn open_editor(&mut self, kind: EditorKind, text: &str) {
        let mut ta = super::panels::memory::textarea(text);
        ta.set_placeholder_text(match kind {
            EditorKind::Task => "Describe the task for the agent…",
            EditorKind::Inject => "A correction for the agent, delivered at the next step…",
            EditorKind::RejectNote => "What is still wrong or missing: the agent gets this note and keeps working…",
            EditorKind::EscalationNote(_) => "Why not, or what to do instead: the agent gets this note (may be empty)…",
            EditorKind::RebuildField => "The field's text for the new window…",
        });
        self.layers.push(Overlay::Editor(kind, Box::new(ta)));
    }

    pub fn set_focus(&mut self, p: PanelId) {
        if self.index_of(p).is_none() {
            return;
        }
        self.hidden.remove(&p);
        self.workflow_shown |= p == super::panels::workflow::ID;
        self.focus = p;
        if p != PanelId::Transcript {
            self.last_side = p;
        }
    }

    fn cycle_focus(&mut self, forward: bool) {
        let vis = self.visible_panels();
        if vis.is_empty() {
            return;
        }
        let i = vis.iter().position(|p| *p == self.focus).unwrap_or(0);
        let n = vis.len();
        let next = if forward { (i + 1) % n } else { (i + n - 1) % n };
        self.set_focus(vis[next]);
    }

    /// Bindings to show in the status bar for the layer that has the keyboard, most useful
    /// first (the bar shows as many whole hints as fit), one per action. Only enabled
    /// actions are named.
    pub fn hints(&self) -> Vec<(String, String)> {
        let km = &self.opts.keymap;
        let mut seen = HashSet::new();
        let mut out: Vec<(String, String)> = Vec::new();
        if !self.pending_keys.is_empty() && !self.layers.top().is_modal() {
            // Which-key: what the keys typed so far can become.
            let typed: Vec<String> = self.pending_keys.iter().map(crate::config::keymap::notation).collect();
            let mut out = vec![(format!("{}…", typed.join(" ")), "then:".to_string())];
            out.extend(km.continuations(self.layer(), &self.pending_keys));
            out.push(("<Esc>".into(), "cancel".into()));
            return out;
        }
        let mut add = |layer: KeyContext, actions: &[Action]| {
            for a in actions {
                if let Some(b) = km.binding_for(layer, *a)
                    && seen.insert(b.action)
                {
                    out.push((b.notation.clone(), b.desc.clone()));
                }
            }
        };
        let top = self.layers.top();
        if top.is_modal() {
            // A layer names its own keys (and what they mean there).
            let h = top.hints();
            add(top.context(), h.actions);
            for ((_, d), new) in out.iter_mut().zip(h.descs) {
                *d = new.to_string();
            }
            out.extend(h.extra.iter().map(|(k, d)| (k.to_string(), d.to_string())));
            return out;
        }
        // Help and quit first, so the footer always shows them: they lead to every
        // other key, and out.
        add(KeyContext::Global, &[Action::Help, Action::Quit]);
        if self.rebuild_in_view() {
            // The view claims the keys (`p` pins there), so only its own are hinted.
            add(KeyContext::Rebuild, Overlay::Rebuild.hints().actions);
            add(KeyContext::Global, &[Action::Quit]);
            return out;
        }
        let cx = self.cx(0);
        let layer = self.layer();
        let panel: Vec<Offer> = self.focused().map(|p| p.offers(&cx)).unwrap_or_default();
        let global = self.global_offers();
        let on = |offers: &[Offer], a: Action| offers.iter().any(|o| o.action == a && o.enabled());
        if on(&global, Action::ToggleRebuildView) {
            add(KeyContext::Global, &[Action::ToggleRebuildView]);
        }
        // Then what the moment asks for: a pick that waits, a verdict to answer.
        let urgent: Vec<Action> = panel.iter().filter(|o| o.urgent && o.enabled()).map(|o| o.action).collect();
        add(layer, &urgent);
        let controls = if self.is_replay() {
            vec![Action::TimelinePrev, Action::TimelineNext]
        } else {
            [Action::PauseResume, Action::Inject, Action::Stop].into_iter().filter(|a| on(&global, *a)).collect()
        };
        add(KeyContext::Global, &controls);
        // The panel's own keys: those of its section, then the global ones it handles
        // that are not plain scrolling.
        let own: Vec<Action> = km.bindings(layer).iter().map(|b| b.action).filter(|a| on(&panel, *a)).collect();
        add(layer, &own);
        let scrolling =
            [Action::ScrollDown, Action::ScrollUp, Action::PageDown, Action::PageUp, Action::Top, Action::Bottom, Action::Cancel];
        let rest: Vec<Action> = panel.iter().filter(|o| o.enabled() && !scrolling.contains(&o.action)).map(|o| o.action).collect();
        add(layer, &rest);
        add(KeyContext::Global, &[Action::FocusNext, Action::Maximize, Action::Quit]);
        out
    }

    pub fn render(&mut self, f: &mut Frame) {
        super::view::render(self, f);
    }
}

/// Candidates per step when the supervisor turns Max Mode on from the workbench.
pub const MAX_MODE_CANDIDATES: u32 = 5;

/// The command that turns Max Mode on or off from the next step, and what to tell the user.
pub fn toggle_max_mode(state: &WorkbenchState) -> (Command, String) {
    let next = if state.core.max_mode.is_some() { None } else { Some(MAX_MODE_CANDIDATES) };
    let what = match next {
        Some(n) => format!("Max Mode on from the next step: {n} candidates, judged (about {n}x the cost)"),
        None => "Max Mode off from the next step".into(),
    };
    (Command::SetMaxMode(next), what)
}

pub fn toggle_review_picks(state: &WorkbenchState) -> (Command, String) {
    let on = !state.core.review_picks;
    let what = if on { "review picks on: every Max Mode pick waits for you" } else { "review picks off: the judge's pick runs" };
    (Command::SetReviewPicks(on), what.into())
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
