//! Finding the JSON object a model answered, whether fenced, bare, or inside prose.

use serde_json::{Map, Value};

/// What a search for the answer's object found, best first.
#[derive(Debug, PartialEq)]
pub enum Found {
    /// The first object the caller wanted.
    Wanted(Map<String, Value>),
    /// No wanted object, but this one (the first that parsed).
    Other(Map<String, Value>),
    /// Nothing parsed as an object; the first candidate's parse error.
    Unparsable(String),
    /// No `{…}` at all.
    Nothing,
}

/// The first candidate object (see [`object_candidates`]) that `wanted` accepts; failing that,
/// what came closest, so the caller can say what was wrong. `wanted` lets an example or a
/// wrapper object in the prose be skipped (a wrapper's inner object is still a candidate).
pub fn find_object(text: &str, wanted: impl Fn(&Map<String, Value>) -> bool) -> Found {
    let mut other: Option<Map<String, Value>> = None;
    let mut first_error: Option<String> = None;
    for candidate in object_candidates(text) {
        match serde_json::from_str::<Value>(candidate) {
            Ok(Value::Object(map)) if wanted(&map) => return Found::Wanted(map),
            Ok(Value::Object(map)) => {
                other.get_or_insert(map);
            }
            Ok(_) => {}
            Err(e) => {
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    match (other, first_error) {
        (Some(map), _) => Found::Other(map),
        (None, Some(e)) => Found::Unparsable(e),
        (None, None) => Found::Nothing,
    }
}

/// How many balanced objects are tried before giving up; a long prose answer full of braces
/// must not make parsing quadratic.
pub const MAX_CANDIDATES: usize = 64;

/// Candidate objects in the order to try them: those inside fenced blocks first (the model's
/// own framing of its answer), then every balanced `{…}` of the whole text.
pub fn object_candidates(text: &str) -> impl Iterator<Item = &str> {
    fenced_blocks(text).into_iter().flat_map(balanced_objects).chain(balanced_objects(text))
}

/// The contents of the ``` fenced blocks of `text`, in order. An unclosed fence (a cut
/// answer) runs to the end of the text.
pub fn fenced_blocks(text: &str) -> Vec<&str> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        // The rest of the opening line is the info string (`json`), not content.
        let body = &after[after.find('\n').map_or(after.len(), |i| i + 1)..];
        match body.find("```") {
            Some(close) => {
                blocks.push(&body[..close]);
                rest = &body[close + 3..];
            }
            None => {
                blocks.push(body);
                break;
            }
        }
    }
    blocks
}

/// Every balanced `{…}` substring of `text`, outermost first, at most [`MAX_CANDIDATES`].
/// Braces inside JSON strings do not count, so `"a } b"` does not end an object early.
pub fn balanced_objects(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0usize;
    std::iter::from_fn(move || {
        while let Some(offset) = bytes.get(start..)?.iter().position(|&b| b == b'{') {
            let open = start + offset;
            start = open + 1;
            if let Some(end) = balanced_end(bytes, open) {
                return Some(&text[open..=end]);
            }
        }
        None
    })
    .take(MAX_CANDIDATES)
}

/// The index of the `}` that closes the `{` at `open`, if it is closed.
fn balanced_end(bytes: &[u8], open: usize) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wanted_object_wins_over_an_example_and_failures_say_what_came_closest() {
        let text = "For example {\"a\": 1}. My answer:\n```json\n{\"met\": true}\n```";
        let wanted = |m: &Map<String, Value>| m.contains_key("met");
        assert!(matches!(find_object(text, wanted), Found::Wanted(m) if m["met"] == Value::Bool(true)));
        assert!(matches!(find_object("see {\"a\": 1}", wanted), Found::Other(m) if m.contains_key("a")));
        assert!(matches!(find_object("{not json}", wanted), Found::Unparsable(_)));
        assert_eq!(find_object("no braces", wanted), Found::Nothing);
        // A wrapper's inner object is still a candidate.
        assert!(matches!(find_object("{\"outer\": {\"met\": false}}", wanted), Found::Wanted(m) if m["met"] == Value::Bool(false)));
    }
}
