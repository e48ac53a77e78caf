//! Maven: surefire's test report (`Tests run: 5, Failures: 1, Errors: 1, Skipped: 1`, one
//! `name(Class)  Time elapsed: … <<< FAILURE!` block per failing test) and javac errors as the
//! compiler plugin prints them (`[ERROR] /abs/File.java:[16,20] cannot find symbol`).
//!
//! Stack frames name a class and a bare file (`at shop.CartTest.total(CartTest.java:18)`); the
//! file is looked up under Maven's source roots so that the location is a workspace path.

use std::sync::LazyLock;

use regex::Regex;

use super::{Context, Loc, Sink, re};

/// Maven's log level prefix, which every line of interest carries.
static LEVEL_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\[(?:INFO|ERROR|WARNING|WARN)\] ?"));
/// `Tests run: 5, Failures: 1, Errors: 1, Skipped: 1` alone is a module's total; with a
/// `Time elapsed` it is one class's, which the total already counts.
static TOTALS_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^Tests run: (\d+), Failures: (\d+), Errors: (\d+), Skipped: (\d+)\s*$"));
/// surefire 2: `method(pkg.Class)  Time elapsed: 0.01 s  <<< FAILURE!`; surefire 3:
/// `pkg.Class.method -- Time elapsed: 0.01 s <<< ERROR!`.
static FAILED_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?:([^\s(]+)\(([\w.$]+)\)|([\w.$]+)\.([\w$]+))\s+(?:-- )?Time elapsed: .*<<< (?:FAILURE|ERROR)!\s*$"));
static EXCEPTION_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(?:[a-z_$][\w$]*\.)+([A-Z][\w$]*)(?:: (.*))?$"));
static FRAME_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^\s+at ([\w.$<>]+)\.[\w$<>]+\(([\w$]+\.(?:java|kt|groovy|scala)):(\d+)\)\s*$"));
static JAVAC_RE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\S.*?\.(?:java|kt)):\[(\d+),(\d+)\] (.+)$"));

/// Lines between a failing test's header and the frame that locates it.
const MAX_BLOCK_LINES: usize = 40;

fn is_library(class: &str) -> bool {
    ["java.", "javax.", "jdk.", "sun.", "org.junit.", "junit.", "org.apache.maven.", "org.opentest4j.", "org.assertj.", "org.hamcrest."]
        .iter()
        .any(|p| class.starts_with(p))
}

/// The workspace path of a class's source file, looked up under Maven's source roots.
fn source_path(ctx: &Context, class: &str, file: &str) -> String {
    let outer = class.split('$').next().unwrap_or(class);
    let package = outer.rsplit_once('.').map_or("", |(p, _)| p).replace('.', "/");
    let rel = if package.is_empty() { file.to_string() } else { format!("{package}/{file}") };
    ["src/test/java", "src/main/java", "src/test/kotlin", "src/main/kotlin"]
        .iter()
        .find_map(|root| ctx.existing(&format!("{root}/{rel}")))
        .unwrap_or(rel)
}

pub(super) fn parse(lines: &[&str], sink: &mut Sink) {
    let mut i = 0;
    let mut totals: Option<[u32; 3]> = None;
    while i < lines.len() {
        let Some(m) = LEVEL_RE.find(lines[i]) else {
            i += 1;
            continue;
        };
        let warning = lines[i].starts_with("[WARN");
        let line = &lines[i][m.end()..];
        if let Some(c) = TOTALS_RE.captures(line) {
            let n = |k: usize| c.get(k).and_then(|m| m.as_str().parse().ok()).unwrap_or(0u32);
            let failed = n(2).saturating_add(n(3));
            let t = totals.get_or_insert([0; 3]);
            t[0] = t[0].saturating_add(n(1).saturating_sub(failed).saturating_sub(n(4)));
            t[1] = t[1].saturating_add(failed);
            t[2] = t[2].saturating_add(n(4));
        } else if let Some(c) = FAILED_RE.captures(line) {
            let (method, class) = match (c.get(1), c.get(2)) {
                (Some(m), Some(k)) => (m.as_str(), k.as_str()),
                _ => (c.get(4).map_or("", |m| m.as_str()), c.get(3).map_or("", |m| m.as_str())),
            };
            sink.failing(i, &format!("{class}.{method}"));
            i = failure(lines, i, sink);
            continue;
        } else if let Some(c) = JAVAC_RE.captures(line) {
            let get = |k: usize| c.get(k).map_or("", |m| m.as_str());
            let loc = Loc::new(get(1), get(2), Some(get(3)));
            // `cannot find symbol` says which on the next line: `  symbol:   variable totl`.
            let symbol =
                lines.get(i + 1).map(|l| LEVEL_RE.find(l).map_or(*l, |m| &l[m.end()..]).trim()).filter(|l| l.starts_with("symbol:"));
            let message = match symbol {
                Some(s) => format!("{} ({})", get(4), s.split_whitespace().collect::<Vec<_>>().join(" ")),
                None => get(4).to_string(),
            };
            if warning {
                sink.warning(i, "javac warning", loc, &message);
            } else {
                sink.error(i, "javac", loc, &message);
            }
        }
        i += 1;
    }
    if let Some([p, f, s]) = totals {
        sink.add_counts(p, f, s);
    }
}

/// Reads the exception and the first frame in user code after a failing test's header.
/// Returns the index to continue from.
fn failure(lines: &[&str], header: usize, sink: &mut Sink) -> usize {
    let mut exception: Option<(&str, &str)> = None;
    let mut end = header + 1;
    for (j, line) in lines.iter().enumerate().skip(header + 1).take(MAX_BLOCK_LINES) {
        end = j;
        if line.trim().is_empty() || LEVEL_RE.is_match(line) {
            break;
        }
        if exception.is_none()
            && let Some(c) = EXCEPTION_RE.captures(line.trim())
        {
            exception = Some((c.get(1).map_or("", |m| m.as_str()), c.get(2).map_or("", |m| m.as_str())));
        } else if let Some(c) = FRAME_RE.captures(line) {
            let class = c.get(1).map_or("", |m| m.as_str());
            if is_library(class) {
                continue;
            }
            let file = source_path(sink.ctx, class, c.get(2).map_or("", |m| m.as_str()));
            let (ty, message) = exception.unwrap_or(("Error", "test failed"));
            let message = if message.is_empty() { ty } else { message };
            sink.error(header, format!("java {ty}"), Loc::new(&file, c.get(3).map_or("", |m| m.as_str()), None), message);
            return j + 1;
        }
    }
    if let Some((ty, message)) = exception {
        sink.error(header, format!("java {ty}"), Loc::default(), if message.is_empty() { ty } else { message });
    }
    end
}
