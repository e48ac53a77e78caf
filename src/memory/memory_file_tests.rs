use super::*;

fn updates(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
}

const HAND_WRITTEN: &str = "\
# Memory for textstats

Notes I keep by hand. Do not delete.

## Rules

Prose the user put above the entries.

- Use `python3 -m pytest -x`, never bare pytest <!-- from: 20261101-aaaa -->
* Keep the public API stable
  even across minor versions (this line continues the bullet)

## Team contacts

- alice: owns the CI
- bob

## Verified knowledge
- stats.mean raises on empty input <!--from:20261102-bbbb-->

```sh
## not a heading, a shell comment
- not an entry
```

## Patterns

## Gotchas

- the fixture dir is `tests/data`, not `data`
Trailing words without a newline";

#[test]
fn hand_written_files_round_trip_exactly() {
    for text in [HAND_WRITTEN.to_string(), format!("{HAND_WRITTEN}\n"), HAND_WRITTEN.replace('\n', "\r\n"), String::new()] {
        let f = MemoryFile::parse(&text);
        assert_eq!(f.render(), text);
    }
    let t = MemoryFile::template().render();
    assert_eq!(MemoryFile::parse(&t).render(), t);
}

#[test]
fn parses_sections_entries_and_source_markers() {
    let f = MemoryFile::parse(HAND_WRITTEN);
    // Architecture decisions is not in the file.
    assert_eq!(f.missing_sections(), vec!["Architecture decisions"]);
    let rules = f.entries("rules");
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert_eq!(rules[0].text, "Use `python3 -m pytest -x`, never bare pytest");
    assert_eq!(rules[0].source.as_deref(), Some("20261101-aaaa"));
    assert_eq!(rules[1].text, "Keep the public API stable even across minor versions (this line continues the bullet)");
    assert_eq!(rules[1].source, None);
    let known = f.entries("Verified knowledge");
    assert_eq!(known.len(), 1, "the bullet inside the code fence is not an entry: {known:?}");
    assert_eq!(known[0].source.as_deref(), Some("20261102-bbbb"));
    assert_eq!(known[0].text, "stats.mean raises on empty input");
    // The user's own section is kept but its bullets are not memory entries.
    assert_eq!(f.entry_count(), 4);
    assert_eq!(f.sourced_entry_count(), 2);
    assert!(f.entries("Team contacts").is_empty());
}

#[test]
fn template_has_the_five_sections_and_missing_file_loads_it() {
    let dir = tempfile::tempdir().unwrap();
    let f = MemoryFile::load(dir.path()).unwrap();
    assert!(f.missing_sections().is_empty());
    assert_eq!(f.entry_count(), 0);
    let text = f.render();
    for s in SECTIONS {
        assert!(text.contains(&format!("\n## {s}\n")), "{text}");
    }
    std::fs::write(dir.path().join(MEMORY_FILE), "  \n").unwrap();
    assert_eq!(MemoryFile::load(dir.path()).unwrap(), MemoryFile::template());
}

#[test]
fn merge_adds_marked_entries_and_skips_duplicates() {
    let mut f = MemoryFile::template();
    let report = f.merge(
        &updates(&[
            ("Rules", &["Run tests with `cargo test -q`", "run tests with cargo test -q!"]),
            ("gotchas", &["- The fixture dir is tests/data", "  "]),
        ]),
        "sess-1",
    );
    assert_eq!(report.added, 2);
    assert_eq!(report.duplicates, 1, "same text in other case and punctuation");
    assert!(report.remapped.is_empty(), "case-insensitive names are exact: {:?}", report.remapped);
    assert!(!report.dream_suggested);

    let text = f.render();
    assert!(text.contains("## Rules\n\n- Run tests with `cargo test -q` <!-- from: sess-1 -->\n\n## Architecture"), "{text}");
    assert!(text.ends_with("## Gotchas\n\n- The fixture dir is tests/data <!-- from: sess-1 -->\n"), "{text}");

    // A later session proposes the same fact again, and a new one.
    let added = f.merge_updates(
        &updates(&[("Verified knowledge", &["the FIXTURE dir is tests/data.", "mean() raises ValueError on []"])]),
        "sess-2",
    );
    assert_eq!(added, 1, "duplicates are found across sections");
    let back = MemoryFile::parse(&f.render());
    assert_eq!(back, MemoryFile::parse(&back.render()));
    let known = back.entries("Verified knowledge");
    assert_eq!(known.len(), 1);
    assert_eq!(known[0].text, "mean() raises ValueError on []");
    assert_eq!(known[0].source.as_deref(), Some("sess-2"));
    assert_eq!(back.entries("Rules")[0].source.as_deref(), Some("sess-1"));
}

#[test]
fn unknown_section_names_are_mapped_and_reported() {
    let mut f = MemoryFile::template();
    let r = f.merge(&updates(&[("architecture_decisions", &["a"]), ("pitfalls", &["b"]), ("Random thoughts", &["c"])]), "s");
    assert_eq!(r.added, 3);
    assert_eq!(f.entries("Architecture decisions")[0].text, "a");
    assert_eq!(f.entries("Gotchas")[0].text, "b");
    assert_eq!(f.entries(DEFAULT_SECTION)[0].text, "c");
    let mut remapped = r.remapped.clone();
    remapped.sort();
    assert_eq!(remapped, vec![("Random thoughts".to_string(), DEFAULT_SECTION), ("pitfalls".to_string(), "Gotchas")]);
}

#[test]
fn merge_keeps_hand_written_text_and_adds_missing_sections() {
    let mut f = MemoryFile::parse(HAND_WRITTEN);
    let r = f.merge(&updates(&[("Rules", &["new rule"]), ("Architecture decisions", &["SQLite, not Postgres: single user"])]), "s9");
    assert_eq!(r.added, 2);
    let text = f.render();
    // Every hand-written line is still there, in order.
    let mut rest = text.as_str();
    for line in HAND_WRITTEN.lines() {
        let at = rest.find(line).unwrap_or_else(|| panic!("lost or reordered line {line:?} in\n{text}"));
        rest = &rest[at + line.len()..];
    }
    assert!(
        text.contains("even across minor versions (this line continues the bullet)\n- new rule <!-- from: s9 -->\n\n## Team contacts"),
        "{text}"
    );
    assert!(
        text.ends_with(
            "Trailing words without a newline\n\n## Architecture decisions\n\n- SQLite, not Postgres: single user <!-- from: s9 -->\n"
        ),
        "{text}"
    );
    let back = MemoryFile::parse(&text);
    assert!(back.missing_sections().is_empty());
    assert_eq!(back.entry_count(), 6);
}

#[test]
fn entry_text_cannot_forge_or_break_a_marker() {
    let mut f = MemoryFile::template();
    f.merge_updates(&updates(&[("Rules", &["use x --> y <!-- from: someone-else -->\nand z"])]), "real --> id");
    let back = MemoryFile::parse(&f.render());
    let e = &back.entries("Rules")[0];
    assert_eq!(e.source.as_deref(), Some("real - id"));
    assert!(!e.text.contains("someone-else -->"), "{e:?}");
    assert!(e.text.ends_with("and z"), "{e:?}");
}

#[test]
fn refuses_to_grow_past_the_cap_and_suggests_a_dream() {
    let mut f = MemoryFile::template();
    let many: Vec<String> = (0..DREAM_SUGGESTED_AT - 1).map(|i| format!("fact number {i}")).collect();
    let r = f.merge(&BTreeMap::from([("Verified knowledge".to_string(), many)]), "s");
    assert_eq!(r.added as usize, DREAM_SUGGESTED_AT - 1);
    assert!(!r.dream_suggested);
    assert!(!f.needs_dream());

    let r = f.merge(&updates(&[("Rules", &["one more"])]), "s");
    assert!(r.dream_suggested && r.refused == 0);
    assert!(f.needs_dream());

    let more: Vec<String> = (0..50).map(|i| format!("extra {i}")).collect();
    let r = f.merge(&BTreeMap::from([("Patterns".to_string(), more)]), "s");
    assert_eq!(f.entry_count(), MAX_ENTRIES);
    assert_eq!(r.added as usize, MAX_ENTRIES - DREAM_SUGGESTED_AT);
    assert_eq!(r.refused as usize, 50 - (MAX_ENTRIES - DREAM_SUGGESTED_AT));
    assert!(r.dream_suggested);
}

#[test]
fn save_is_atomic_and_load_reads_it_back() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(MEMORY_FILE), HAND_WRITTEN).unwrap();
    let mut f = MemoryFile::load(dir.path()).unwrap();
    f.merge_updates(&updates(&[("Patterns", &["build with make"])]), "s1");
    f.save(dir.path()).unwrap();
    let on_disk = std::fs::read_to_string(dir.path().join(MEMORY_FILE)).unwrap();
    assert_eq!(on_disk, f.render());
    assert_eq!(MemoryFile::load(dir.path()).unwrap().entries("Patterns")[0].text, "build with make");
    // Only MEMORY.md: no temporary file left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from(MEMORY_FILE)]);
}

#[test]
fn unreadable_memory_is_an_error_not_a_template() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be cannot be read as text.
    std::fs::create_dir(dir.path().join(MEMORY_FILE)).unwrap();
    let err = MemoryFile::load(dir.path()).unwrap_err();
    assert!(matches!(err, MemoryError::Read { .. }), "{err:?}");
}
