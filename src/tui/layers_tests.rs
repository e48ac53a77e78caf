use super::*;

#[test]
fn the_top_is_the_last_pushed_and_an_empty_stack_reads_as_none() {
    let mut l = Layers::default();
    assert!(matches!(l.top(), Overlay::None));
    l.push(Overlay::None);
    assert!(l.is_empty(), "None is never on the stack");
    l.push(Overlay::Escalation(3));
    l.push(Overlay::Help { scroll: 0, filter: String::new() });
    assert_eq!(l.top().context(), KeyContext::Help);
    l.push_under(Overlay::Rebuild);
    assert!(matches!(l.iter().next(), Some(Overlay::Rebuild)), "drawn first, under the others");
    assert!(matches!(l.pop(), Some(Overlay::Help { .. })));
    assert!(matches!(l.top(), Overlay::Escalation(3)), "closing a layer gives the keyboard back to the one under it");
    assert_eq!(l.len(), 2);
}

#[test]
fn only_the_rebuild_view_lets_keys_through() {
    assert!(!Overlay::Rebuild.is_modal());
    assert!(Overlay::Escalation(1).is_modal() && Overlay::Confirm(ConfirmKind::Quit).is_modal());
    assert!(Overlay::Composer(Composer::default()).takes_text());
    assert_eq!(Overlay::Rebuild.context(), KeyContext::Rebuild);
}

fn with_cx<R>(f: impl FnOnce(&crate::tui::panels::RenderCtx) -> R) -> R {
    let theme = crate::config::theme::Theme::default();
    let hl = crate::tui::widgets::highlight::Highlighter::new(&theme);
    let state = crate::tui::state::WorkbenchState::default();
    let keymap = crate::tui::testkit::default_keymap();
    let cx = crate::tui::panels::RenderCtx {
        theme: &theme,
        hl: &hl,
        state: &state,
        root: &state,
        now: crate::tui::testkit::t0(),
        spinner: 0,
        live: true,
        keymap: &keymap,
        pending: &[],
        context_budget: 128_000,
        search_input: None,
    };
    f(&cx)
}

fn press(layer: Overlay, action: Option<crate::config::keymap::Action>) -> (Option<Overlay>, Vec<crate::tui::panel::Effect>) {
    let key = crossterm::event::KeyEvent::new(crossterm::event::KeyCode::Null, crossterm::event::KeyModifiers::NONE);
    let mut fx = crate::tui::panel::Effects::default();
    let kept = with_cx(|cx| layer.key(key, action, cx, &mut fx));
    (kept, fx.0)
}

#[test]
fn a_layer_answers_its_keys_with_effects_and_never_sends_itself() {
    use crate::config::keymap::Action;
    use crate::protocol::Command;
    use crate::tui::panel::Effect;
    let (kept, fx) = press(Overlay::Confirm(ConfirmKind::Rollback("1.2".into())), Some(Action::Confirm));
    assert!(kept.is_none(), "answered: closed");
    assert!(matches!(&fx[0], Effect::Send(Command::Rollback(id)) if id == "1.2"), "{fx:?}");
    let (kept, fx) = press(Overlay::Confirm(ConfirmKind::Quit), Some(Action::Cancel));
    assert!(kept.is_none() && fx.is_empty(), "no is no");
    // Denying an escalation keeps the question under the note's editor.
    let (kept, fx) = press(Overlay::Escalation(7), Some(Action::Cancel));
    assert!(matches!(kept, Some(Overlay::Escalation(7))));
    assert!(matches!(&fx[..], [Effect::Edit(EditorKind::EscalationNote(7), t)] if t.is_empty()), "{fx:?}");
    // Any other key leaves the question waiting.
    let (kept, fx) = press(Overlay::Escalation(7), Some(Action::Quit));
    assert!(matches!(kept, Some(Overlay::Escalation(7))) && fx.is_empty());
    let (kept, fx) = press(Overlay::Escalation(7), Some(Action::Confirm));
    assert!(kept.is_none());
    assert!(matches!(&fx[..], [Effect::AnswerEscalation { id: 7, approve: true, note: None }]), "{fx:?}");
    // An empty correction is not sent, and the composer stays.
    let (kept, fx) = press(Overlay::Composer(Composer::default()), Some(Action::EditorSend));
    assert!(matches!(kept, Some(Overlay::Composer(_))));
    assert!(matches!(&fx[..], [Effect::Error(e)] if e == "nothing to send"), "{fx:?}");
}

#[test]
fn the_search_line_is_a_layer_that_takes_text_and_hands_its_query_to_the_transcript() {
    use crate::config::keymap::Action;
    use crate::tui::panel::Effect;
    let search = Overlay::Search("cargo".into());
    assert!(search.is_modal() && search.takes_text());
    assert_eq!(search.context(), KeyContext::Search);
    let mut l = Layers::default();
    l.push(Overlay::Search("car".into()));
    assert_eq!(l.search_typing(), Some("car"), "the transcript highlights what is being typed");
    let (kept, fx) = press(search, Some(Action::EditorSend));
    assert!(kept.is_none(), "Enter closes the line");
    assert!(matches!(&fx[..], [Effect::SearchFor(q)] if q == "cargo"), "{fx:?}");
    let (kept, fx) = press(Overlay::Search("x".into()), Some(Action::EditorCancel));
    assert!(kept.is_none() && fx.is_empty(), "Esc closes it without searching");
}
