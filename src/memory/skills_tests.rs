use super::*;

fn skill(name: &str, description: &str) -> Skill {
    Skill { name: name.into(), description: description.into(), body: "1. Run `python3 -m pytest -x`.\n2. Read the first failure.".into() }
}

#[test]
fn write_list_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let tricky = "Use when: tests fail with \"fixture not found\" # not a comment\nsecond line";
    let path = write_skill(dir.path(), &skill("run-python-tests", tricky)).unwrap();
    assert_eq!(path, dir.path().join(".endure/skills/run-python-tests/SKILL.md"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("---\nname: \"run-python-tests\"\ndescription: \"Use when: tests fail with \\\"fixture not found\\\" # not a comment\\nsecond line\"\n---\n\n1. Run"), "{text}");
    write_skill(dir.path(), &skill("cargo-check-first", "Before a long build.")).unwrap();

    let (list, warnings) = list_skills(dir.path());
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        list,
        vec![
            SkillMeta { name: "cargo-check-first".into(), description: "Before a long build.".into() },
            SkillMeta { name: "run-python-tests".into(), description: tricky.into() },
        ]
    );
    assert_eq!(load_skill(dir.path(), "run-python-tests").unwrap(), "1. Run `python3 -m pytest -x`.\n2. Read the first failure.");
    // Rewriting replaces the file whole, with nothing left beside it.
    write_skill(dir.path(), &Skill { body: "new body".into(), ..skill("run-python-tests", "d") }).unwrap();
    assert_eq!(load_skill(dir.path(), "run-python-tests").unwrap(), "new body");
    let entries = std::fs::read_dir(dir.path().join(".endure/skills/run-python-tests")).unwrap().count();
    assert_eq!(entries, 1);
}

#[test]
fn bad_names_are_refused_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["", "../escape", "a/b", "Upper", "has space", "-leading", "dot.dot", &"a".repeat(65)] {
        assert!(validate_name(name).is_err(), "{name:?} accepted");
        let err = write_skill(dir.path(), &skill(name, "d")).unwrap_err();
        assert!(matches!(err, MemoryError::BadSkillName { .. }), "{err:?}");
        assert!(matches!(load_skill(dir.path(), name), Err(MemoryError::BadSkillName { .. })));
    }
    for name in ["a", "run-tests-2", &"a".repeat(64)] {
        assert!(validate_name(name).is_ok(), "{name:?} refused");
    }
    assert!(!dir.path().join(".endure").exists(), "nothing was written");
}

#[test]
fn unknown_skill_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_skill(dir.path(), "nope").unwrap_err();
    assert_eq!(err.to_string(), "no skill named `nope` (known: none)");
    write_skill(dir.path(), &skill("alpha", "a")).unwrap();
    write_skill(dir.path(), &skill("beta", "b")).unwrap();
    let err = load_skill(dir.path(), "gamma").unwrap_err();
    assert_eq!(err.to_string(), "no skill named `gamma` (known: alpha, beta)");
}

#[test]
fn malformed_files_are_skipped_with_warnings() {
    let dir = tempfile::tempdir().unwrap();
    write_skill(dir.path(), &skill("good", "fine")).unwrap();
    let root = skills_dir(dir.path());
    let put = |name: &str, text: &str| {
        std::fs::create_dir_all(root.join(name)).unwrap();
        std::fs::write(root.join(name).join(SKILL_FILE), text).unwrap();
    };
    put("no-front", "just a body\n");
    put("unclosed", "---\nname: unclosed\ndescription: x\n");
    put("no-desc", "---\nname: no-desc\n---\nbody\n");
    put("mismatch", "---\nname: other\ndescription: x\n---\nbody\n");
    put("bad-quote", "---\nname: bad-quote\ndescription: \"open\n---\nbody\n");
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();
    let (list, warnings) = list_skills(dir.path());
    assert_eq!(list.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), vec!["good"]);
    assert_eq!(warnings.len(), 6, "{warnings:#?}");
    assert!(warnings.iter().any(|w| w.contains("mismatch") && w.contains("must match the directory")), "{warnings:#?}");
    let err = load_skill(dir.path(), "no-desc").unwrap_err();
    assert!(matches!(err, MemoryError::MalformedSkill { .. }), "{err:?}");
}

#[test]
fn hand_written_yaml_forms_parse() {
    let text = "---\n# a comment\nname: 'it''s-fine'\ndescription: >\n  Folded over\n  two lines.\nextra: ignored\n---\n\nBody\n";
    // The name is not a valid slug, so the file is refused.
    assert!(parse_skill(text).is_err());
    let text = "---\nname: ok-name   # trailing comment\ndescription: |\n  line one\n  line two\n---\nBody\n";
    let s = parse_skill(text).unwrap();
    assert_eq!(s.name, "ok-name");
    assert_eq!(s.description, "line one\nline two");
    assert_eq!(s.body, "Body");
    let s = parse_skill("---\nname: x\ndescription: 'a: ''b'''\n---\n").unwrap();
    assert_eq!(s.description, "a: 'b'");
    assert_eq!(s.body, "");
}
