use super::*;

fn texts(terms: &[Term]) -> Vec<&str> {
    terms.iter().map(Term::as_str).collect()
}

fn cp(intent: &str, directives: &[&str]) -> Checkpoint {
    Checkpoint {
        active_intent: CheckpointField::Text(intent.into()),
        directives: CheckpointField::List(directives.iter().map(|d| d.to_string()).collect()),
        ..Checkpoint::default()
    }
}

#[test]
fn key_terms_are_numbers_quotes_file_names_and_identifiers() {
    let t = key_terms("Advance the counter to 60, one step at a time");
    assert_eq!(texts(&t), ["60"]);
    let t = key_terms(
        "Rename `parse_args` to parseArgs in src/cli.rs and main.rs, set \"timeout\" to 2.5s at 90%, use the v2 API with --dry-run; don't touch README.md.",
    );
    let got = texts(&t);
    for want in ["parse_args", "timeout", "parseArgs", "src/cli.rs", "main.rs", "v2", "--dry-run", "README.md", "90"] {
        assert!(got.contains(&want), "{want} missing from {got:?}");
    }
    // Plain words, an apostrophe and a sentence's capital are not key terms.
    for not in ["Rename", "don't", "don", "API", "the"] {
        assert!(!got.contains(&not), "{not} is not a key term: {got:?}");
    }
    assert!(key_terms("Refactor the module step by step").is_empty());
}

#[test]
fn numbers_compare_as_whole_numbers() {
    let n = Term::Number("60".into());
    assert!(contains_term("advance to 60, one at a time", &n));
    assert!(contains_term("(60)", &n));
    assert!(!contains_term("advance to 600", &n));
    assert!(!contains_term("advance to 1.60", &n));
    assert!(!contains_term("advance to 60.5", &n));
    assert!(!contains_term("advance to the end", &n));
}

#[test]
fn a_paraphrase_that_loses_60_is_intent_drift() {
    let task = "Advance the counter to 60, one step at a time";
    let flag = intent_drift(task, &cp("Advance the counter to the end, one step at a time", &[])).expect("flagged");
    assert_eq!(flag.kind, INTENT_DRIFT);
    assert!(flag.detail.contains("\"60\""), "{}", flag.detail);
    assert!(intent_drift(task, &cp(task, &[])).is_none());
    assert!(intent_drift(task, &cp("Get the counter to 60 step by step", &[])).is_none(), "a paraphrase keeping the number is fine");
    assert_eq!(intent_drift(task, &cp("", &[])).map(|f| f.detail), Some("active_intent is empty".into()));
}

#[test]
fn lost_directives_compare_loosely_but_name_what_is_gone() {
    let required = vec!["Use tabs, not spaces.".to_string(), "Never push to main".to_string()];
    assert!(lost_directives(&required, &cp("x", &["use tabs,   not spaces", "- Never push to main."])).is_none());
    let flag = lost_directives(&required, &cp("x", &["Use tabs, not spaces."])).expect("flagged");
    assert_eq!(flag.kind, LOST_DIRECTIVE);
    assert!(flag.detail.contains("\"Never push to main\"") && !flag.detail.contains("tabs"), "{}", flag.detail);
    // Directives written as text lines count too.
    let mut text = cp("x", &[]);
    text.directives = CheckpointField::Text("- Use tabs, not spaces.\n- Never push to main".into());
    assert!(lost_directives(&required, &text).is_none());
    assert_eq!(directive_items(&text), ["Use tabs, not spaces.", "Never push to main"]);
}
