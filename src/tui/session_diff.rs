//! The whole-session diff, composed from the per-step diffs in `file_changed` events alone.
//!
//! Why not read the workspace: replay shows any step of a session whose workspace has moved on
//! (or is gone), so the disk is not the state at that step. Instead each file keeps a sparse
//! model of itself: the current lines, each either an original line (by its 1-based number in
//! the file as it was before the session, text known once some hunk showed it) or a line the
//! session added. Applying a step's hunks edits that model; removed original lines are
//! remembered with their text. The session diff is then read off the model: original lines
//! that were removed, lines that were added, and the known original lines around them as
//! context. It is exact for every region a diff ever touched, and the regions nobody touched
//! are unchanged by definition. If a diff does not fit the model (hand-edited logs), the file
//! falls back to the concatenated per-step diffs and says so.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq)]
enum Entry {
    Orig(usize),
    Added(String),
}

#[derive(Debug, Clone, PartialEq, Default)]
struct FileModel {
    doc: Vec<Entry>,
    /// The original line number the implicit, untouched tail of the file continues from.
    next_orig: usize,
    /// Nothing follows `doc`: the file was created or deleted in the session.
    tail_empty: bool,
    orig_text: BTreeMap<usize, String>,
    removed: BTreeSet<usize>,
    first_before: Option<Option<String>>,
    last_after: Option<String>,
    broken: bool,
    raw: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    Created,
    Deleted,
    Modified,
}

/// One file's net change over the session, as a unified diff.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionFileDiff {
    pub path: String,
    pub status: FileStatus,
    pub diff: String,
    pub plus: usize,
    pub minus: usize,
    /// False when the per-step diffs could not be composed and `diff` is their concatenation.
    pub exact: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionDiff {
    files: BTreeMap<String, FileModel>,
}

struct Hunk {
    old_start: usize,
    old_len: usize,
    lines: Vec<(char, String)>,
}

fn parse_range(s: &str) -> Option<(usize, usize)> {
    let s = s.get(1..)?;
    match s.split_once(',') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => Some((s.parse().ok()?, 1)),
    }
}

fn parse_hunks(diff: &str) -> Option<Vec<Hunk>> {
    let mut hunks: Vec<Hunk> = Vec::new();
    for line in diff.lines() {
        if let Some(rest) = line.strip_prefix("@@ ") {
            let mut parts = rest.split_whitespace();
            let (old_start, old_len) = parse_range(parts.next()?)?;
            hunks.push(Hunk { old_start, old_len, lines: Vec::new() });
            continue;
        }
        let Some(h) = hunks.last_mut() else { continue };
        let mut chars = line.chars();
        match chars.next() {
            Some(c @ (' ' | '-' | '+')) => h.lines.push((c, chars.as_str().to_string())),
            // An empty context line whose leading space was trimmed by some tool.
            None => h.lines.push((' ', String::new())),
            _ => {}
        }
    }
    Some(hunks)
}

impl FileModel {
    fn materialize(&mut self, len: usize) -> bool {
        while self.doc.len() < len {
            if self.tail_empty {
                return false;
            }
            self.doc.push(Entry::Orig(self.next_orig));
            self.next_orig += 1;
        }
        true
    }

    fn learn(&mut self, idx: usize, text: &str) -> bool {
        match self.doc.get(idx) {
            Some(Entry::Orig(n)) => {
                let known = self.orig_text.entry(*n).or_insert_with(|| text.to_string());
                known == text
            }
            Some(Entry::Added(t)) => t == text,
            None => false,
        }
    }

    fn apply_hunk(&mut self, h: &Hunk) -> bool {
        let pos = if h.old_len == 0 { h.old_start } else { h.old_start.saturating_sub(1) };
        if !self.materialize(pos + h.old_len) {
            return false;
        }
        let mut idx = pos;
        for (c, text) in &h.lines {
            match c {
                ' ' => {
                    if !self.learn(idx, text) {
                        return false;
                    }
                    idx += 1;
                }
                '-' => {
                    if !self.learn(idx, text) {
                        return false;
                    }
                    if let Entry::Orig(n) = self.doc.remove(idx) {
                        self.removed.insert(n);
                    }
                }
                _ => {
                    self.doc.insert(idx, Entry::Added(text.clone()));
                    idx += 1;
                }
            }
        }
        true
    }

    fn apply(&mut self, before: Option<&str>, after: Option<&str>, diff: &str) {
        if self.first_before.is_none() {
            self.first_before = Some(before.map(str::to_string));
            self.next_orig = 1;
            self.tail_empty = before.is_none();
        } else if before.is_none() {
            self.doc.clear();
            self.tail_empty = true;
        }
        self.last_after = after.map(str::to_string);
        self.raw.push(diff.to_string());
        if self.broken {
            return;
        }
        let Some(hunks) = parse_hunks(diff) else {
            self.broken = true;
            return;
        };
        // Hunk positions refer to the file before this diff, so apply the last one first.
        for h in hunks.iter().rev() {
            if !self.apply_hunk(h) {
                self.broken = true;
                return;
            }
        }
        if after.is_none() {
            self.doc.clear();
            self.tail_empty = true;
        }
    }

    fn status(&self) -> FileStatus {
        match (&self.first_before, &self.last_after) {
            (Some(None), _) => FileStatus::Created,
            (_, None) => FileStatus::Deleted,
            _ => FileStatus::Modified,
        }
    }

    fn render(&self, path: &str) -> Option<SessionFileDiff> {
        if let Some(first) = &self.first_before {
            if first.as_deref() == self.last_after.as_deref() && first.is_some() {
                return None;
            }
            if first.is_none() && self.last_after.is_none() {
                return None;
            }
        }
        let status = self.status();
        if self.broken {
            let diff = self.raw.join("\n");
            let (plus, minus) = super::state::count_diff(&diff);
            return Some(SessionFileDiff { path: path.to_string(), status, diff, plus, minus, exact: false });
        }
        let body = self.compose();
        if body.is_empty() {
            return None;
        }
        let old = if status == FileStatus::Created { "/dev/null".to_string() } else { format!("a/{path}") };
        let new = if status == FileStatus::Deleted { "/dev/null".to_string() } else { format!("b/{path}") };
        let diff = format!("--- {old}\n+++ {new}\n{body}");
        let (plus, minus) = super::state::count_diff(&diff);
        Some(SessionFileDiff { path: path.to_string(), status, diff, plus, minus, exact: true })
    }

    fn compose(&self) -> String {
        #[derive(Clone)]
        enum Item<'a> {
            Ctx { old: usize, new: usize, text: Option<&'a str> },
            Del { old: usize, text: &'a str },
            Add { new: usize, text: &'a str },
        }
        let mut items: Vec<Item> = Vec::new();
        let mut removed = self.removed.iter().peekable();
        let mut run_dels: Vec<Item> = Vec::new();
        let mut run_adds: Vec<Item> = Vec::new();
        // Conventional order inside a change block: removals first.
        fn flush<T>(items: &mut Vec<T>, dels: &mut Vec<T>, adds: &mut Vec<T>) {
            items.append(dels);
            items.append(adds);
        }
        let text_of = |n: usize| self.orig_text.get(&n).map(String::as_str).unwrap_or("");
        for (i, e) in self.doc.iter().enumerate() {
            let new = i + 1;
            match e {
                Entry::Orig(n) => {
                    while let Some(r) = removed.next_if(|r| **r < *n) {
                        run_dels.push(Item::Del { old: *r, text: text_of(*r) });
                    }
                    flush(&mut items, &mut run_dels, &mut run_adds);
                    items.push(Item::Ctx { old: *n, new, text: self.orig_text.get(n).map(String::as_str) });
                }
                Entry::Added(t) => run_adds.push(Item::Add { new, text: t }),
            }
        }
        for r in removed {
            run_dels.push(Item::Del { old: *r, text: text_of(*r) });
        }
        flush(&mut items, &mut run_dels, &mut run_adds);

        const CONTEXT: usize = 3;
        let is_change = |it: &Item| !matches!(it, Item::Ctx { .. });
        let known_ctx = |it: &Item| matches!(it, Item::Ctx { text: Some(_), .. });
        let mut keep = vec![false; items.len()];
        for i in 0..items.len() {
            if !is_change(&items[i]) {
                continue;
            }
            keep[i] = true;
            let mut j = i;
            let mut n = 0;
            while j > 0 && n < CONTEXT && known_ctx(&items[j - 1]) {
                j -= 1;
                keep[j] = true;
                n += 1;
            }
            let (mut j, mut n) = (i + 1, 0);
            while j < items.len() && n < CONTEXT && known_ctx(&items[j]) {
                keep[j] = true;
                j += 1;
                n += 1;
            }
        }
        let mut out = String::new();
        let (mut last_old, mut last_new) = (0usize, 0usize);
        let mut i = 0;
        while i < items.len() {
            if !keep[i] {
                match &items[i] {
                    Item::Ctx { old, new, .. } => (last_old, last_new) = (*old, *new),
                    Item::Del { old, .. } => last_old = *old,
                    Item::Add { new, .. } => last_new = *new,
                }
                i += 1;
                continue;
            }
            let start = i;
            while i < items.len() && keep[i] {
                i += 1;
            }
            let hunk = &items[start..i];
            let (mut old_start, mut new_start) = (None, None);
            let (mut old_len, mut new_len) = (0, 0);
            let mut body = String::new();
            for it in hunk {
                match it {
                    Item::Ctx { old, new, text } => {
                        old_start.get_or_insert(*old);
                        new_start.get_or_insert(*new);
                        old_len += 1;
                        new_len += 1;
                        (last_old, last_new) = (*old, *new);
                        body.push(' ');
                        body.push_str(text.unwrap_or(""));
                    }
                    Item::Del { old, text } => {
                        old_start.get_or_insert(*old);
                        old_len += 1;
                        last_old = *old;
                        body.push('-');
                        body.push_str(text);
                    }
                    Item::Add { new, text } => {
                        new_start.get_or_insert(*new);
                        new_len += 1;
                        last_new = *new;
                        body.push('+');
                        body.push_str(text);
                    }
                }
                body.push('\n');
            }
            // An empty side starts at the line before it, as in `@@ -4,0 +5,2 @@`.
            let old_start = old_start.unwrap_or(last_old);
            let new_start = new_start.unwrap_or(last_new);
            out.push_str(&format!("@@ -{old_start},{old_len} +{new_start},{new_len} @@\n"));
            out.push_str(&body);
        }
        out
    }
}

impl SessionDiff {
    pub fn apply(&mut self, path: &str, before: Option<&str>, after: Option<&str>, diff: &str) {
        self.files.entry(path.to_string()).or_default().apply(before, after, diff);
    }

    /// Net changes per file, in path order; files that ended as they began are left out.
    pub fn files(&self) -> Vec<SessionFileDiff> {
        self.files.iter().filter_map(|(p, m)| m.render(p)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("line {i}")).collect()
    }

    /// Applies a unified diff to text, to check a composed diff takes the original to the end.
    fn patch(orig: &[String], diff: &str) -> Vec<String> {
        let hunks = parse_hunks(diff).unwrap_or_default();
        let mut out: Vec<String> = Vec::new();
        let mut at = 0usize;
        for h in hunks {
            let pos = if h.old_len == 0 { h.old_start } else { h.old_start - 1 };
            out.extend(orig[at..pos].iter().cloned());
            at = pos;
            for (c, t) in h.lines {
                match c {
                    ' ' => {
                        assert_eq!(orig[at], t, "context mismatch");
                        out.push(t);
                        at += 1;
                    }
                    '-' => {
                        assert_eq!(orig[at], t, "removed line mismatch");
                        at += 1;
                    }
                    _ => out.push(t),
                }
            }
        }
        out.extend(orig[at..].iter().cloned());
        out
    }

    fn udiff(a: &[String], b: &[String]) -> String {
        let text = |v: &[String]| v.iter().map(|l| format!("{l}\n")).collect::<String>();
        let (a, b) = (text(a), text(b));
        similar::TextDiff::from_lines(&a, &b).unified_diff().context_radius(3).header("a/f", "b/f").to_string()
    }

    #[test]
    fn composes_several_steps_into_one_net_diff() {
        let v0 = lines(40);
        let mut v1 = v0.clone();
        v1[4] = "changed 5".into();
        v1.insert(20, "inserted".into());
        let mut v2 = v1.clone();
        v2.remove(30);
        v2[4] = "changed 5 again".into();
        v2.push("tail".into());
        let mut sd = SessionDiff::default();
        sd.apply("f", Some("h0"), Some("h1"), &udiff(&v0, &v1));
        sd.apply("f", Some("h1"), Some("h2"), &udiff(&v1, &v2));
        let files = sd.files();
        assert_eq!(files.len(), 1);
        let f = &files[0];
        assert!(f.exact);
        assert_eq!(f.status, FileStatus::Modified);
        assert_eq!(patch(&v0, &f.diff), v2);
        assert!(!f.diff.contains("changed 5\n"), "intermediate state must not show: {}", f.diff);
    }

    #[test]
    fn created_file_then_edited_shows_final_content_as_added() {
        let v1 = lines(3);
        let mut v2 = v1.clone();
        v2[1] = "two".into();
        let mut sd = SessionDiff::default();
        sd.apply("n.rs", None, Some("h1"), &udiff(&[], &v1));
        sd.apply("n.rs", Some("h1"), Some("h2"), &udiff(&v1, &v2));
        let f = &sd.files()[0];
        assert_eq!(f.status, FileStatus::Created);
        assert_eq!((f.plus, f.minus), (3, 0));
        assert_eq!(patch(&[], &f.diff), v2);
    }

    #[test]
    fn reverted_file_has_no_net_change() {
        let v0 = lines(5);
        let mut v1 = v0.clone();
        v1[2] = "x".into();
        let mut sd = SessionDiff::default();
        sd.apply("f", Some("h0"), Some("h1"), &udiff(&v0, &v1));
        sd.apply("f", Some("h1"), Some("h0"), &udiff(&v1, &v0));
        assert!(sd.files().is_empty());
    }

    #[test]
    fn inconsistent_diff_falls_back_to_concatenation() {
        let mut sd = SessionDiff::default();
        sd.apply("f", Some("a"), Some("b"), "@@ -1,1 +1,1 @@\n-x\n+y\n");
        sd.apply("f", Some("b"), Some("c"), "@@ -1,1 +1,1 @@\n-not y\n+z\n");
        let f = &sd.files()[0];
        assert!(!f.exact);
        assert!(f.diff.contains("-not y"));
    }
}
