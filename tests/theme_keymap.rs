use endure::config::keymap::*;
use endure::config::theme::*;

#[test]
fn smoke() {
    for n in bundled_theme_names() {
        let (t, p) = load_theme(n, None);
        assert!(p.is_empty(), "{n}: {p:?}");
        assert_eq!(t.name, *n);
    }
    for n in bundled_keymap_names() {
        let (_, p) = load_keymap(n, None);
        assert!(p.is_empty(), "{n}: {p:?}");
    }
}
