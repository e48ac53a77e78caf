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
