//! Finding the JSON object a model answered, whether fenced, bare, or inside prose.

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
