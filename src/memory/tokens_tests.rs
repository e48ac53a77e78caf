use super::*;
use crate::protocol::ToolCallRequest;

const PROSE: &str = "The supervisor noticed that the agent kept re-reading the same configuration file after \
every rollover, which wasted a large part of each fresh window. We traced it to the rebuilt context: it listed \
the files that had been touched, but it never said that their contents were already summarised, so the model \
assumed it had to look again. The fix is small. The header of the rebuilt window now states plainly which \
blocks are already loaded, and the checkpoint keeps one line per file with its purpose. After the change, the \
median number of tool calls in the first ten steps of a new window dropped from nine to three, and nobody \
reported the agent losing track of a decision it had made before the rollover. There is still one open \
question: whether corrections given by the supervisor should be repeated at the end of the window as well as \
at the start. Repeating them costs a few hundred tokens, but models attend most to the beginning and the end \
of their context, and a forgotten correction is exactly the failure a human supervisor notices first.\n";

const RUST: &str = r#"use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Finds the newest checkpoint in `dir`, ordered by cycle and then by sequence number.
pub fn newest_checkpoint(dir: &Path) -> std::io::Result<Option<PathBuf>> {
    let mut best: Option<((u32, u32), PathBuf)> = None;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        let mut parts = stem.splitn(2, '.');
        let (Some(cycle), Some(n)) = (parts.next(), parts.next()) else { continue };
        let (Ok(cycle), Ok(n)) = (cycle.parse::<u32>(), n.parse::<u32>()) else { continue };
        if best.as_ref().is_none_or(|(key, _)| (cycle, n) > *key) {
            best = Some(((cycle, n), entry.path()));
        }
    }
    Ok(best.map(|(_, p)| p))
}

#[derive(Debug, Default)]
struct Counts {
    by_tool: HashMap<String, usize>,
    total: usize,
}

impl Counts {
    fn add(&mut self, tool: &str) {
        *self.by_tool.entry(tool.to_string()).or_insert(0) += 1;
        self.total += 1;
    }
}
"#;

const PYTHON: &str = r#"import json
import os
from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Invoice:
    number: str
    customer_id: int
    lines: list[dict] = field(default_factory=list)
    paid: bool = False

    def total(self) -> float:
        return round(sum(line["qty"] * line["unit_price"] for line in self.lines), 2)


def load_invoices(path: str) -> list[Invoice]:
    if not os.path.exists(path):
        raise FileNotFoundError(f"no invoices at {path}")
    with open(path, encoding="utf-8") as fh:
        raw = json.load(fh)
    invoices = []
    for item in raw.get("invoices", []):
        invoices.append(Invoice(item["number"], int(item["customer"]), item.get("lines", [])))
    return invoices


def overdue(invoices: list[Invoice], today: Optional[str] = None) -> list[str]:
    """Numbers of unpaid invoices, oldest first."""
    return sorted(inv.number for inv in invoices if not inv.paid)
"#;

const JSON_ARGS: &str = r#"{"path": "src/billing/invoice.py", "old": "    def total(self) -> float:\n        return sum(line[\"qty\"] * line[\"unit_price\"] for line in self.lines)\n", "new": "    def total(self) -> float:\n        return round(sum(line[\"qty\"] * line[\"unit_price\"] for line in self.lines), 2)\n"}
{"command": "cd backend && python -m pytest tests/test_invoice.py -x -q --tb=short", "timeout_secs": 300}
{"tasks": [{"title": "Reproduce the rounding bug in Invoice.total", "status": "done"}, {"title": "Fix rounding and add a regression test", "status": "in_progress"}, {"title": "Run the whole suite", "status": "pending"}]}
{"pattern": "unit_price", "path": "src/billing", "max_results": 50}
"#;

const PYTEST: &str = r#"============================= test session starts ==============================
platform linux -- Python 3.12.3, pytest-8.3.2, pluggy-1.5.0
rootdir: /home/dev/shop/backend
configfile: pyproject.toml
plugins: cov-5.0.0, anyio-4.4.0
collected 47 items

tests/test_invoice.py ......F...                                         [ 21%]
tests/test_orders.py .........................                           [ 74%]
tests/test_tax.py ..........s.                                           [100%]

=================================== FAILURES ===================================
_________________________ test_total_rounds_to_cents __________________________

    def test_total_rounds_to_cents():
        inv = Invoice("A-17", 4, [{"qty": 3, "unit_price": 0.1}])
>       assert inv.total() == 0.3
E       AssertionError: assert 0.30000000000000004 == 0.3
E        +  where 0.30000000000000004 = <bound method Invoice.total of Invoice(number='A-17', customer_id=4, lines=[{'qty': 3, 'unit_price': 0.1}], paid=False)>()

tests/test_invoice.py:58: AssertionError
=========================== short test summary info ============================
FAILED tests/test_invoice.py::test_total_rounds_to_cents - AssertionError: assert 0.30000000000000004 == 0.3
=================== 1 failed, 45 passed, 1 skipped in 0.84s ====================
"#;

const CARGO: &str = r#"   Compiling endure v0.1.0 (/home/dev/endure)
error[E0308]: mismatched types
  --> src/memory/window.rs:142:29
   |
142 |         let budget: usize = input.limit_tokens - used;
   |                     -----   ^^^^^^^^^^^^^^^^^^^^^^^^^ expected `usize`, found `u64`
   |                     |
   |                     expected due to this
   |
help: you can convert a `u64` to a `usize` and panic if the converted value doesn't fit
   |
142 |         let budget: usize = (input.limit_tokens - used).try_into().unwrap();
   |                             +                         +++++++++++++++++++++

warning: unused variable: `cycle`
  --> src/memory/window.rs:88:9
   |
88 |     let cycle = input.facts.cycle;
   |         ^^^^^ help: if this is intentional, prefix it with an underscore: `_cycle`
   |
   = note: `#[warn(unused_variables)]` on by default

For more information about this error, try `rustc --explain E0308`.
error: could not compile `endure` (lib) due to 1 previous error; 1 warning emitted
"#;

const DIFF: &str = r#"--- a/src/billing/invoice.py
+++ b/src/billing/invoice.py
@@ -12,7 +12,7 @@ class Invoice:
     paid: bool = False
 
     def total(self) -> float:
-        return sum(line["qty"] * line["unit_price"] for line in self.lines)
+        return round(sum(line["qty"] * line["unit_price"] for line in self.lines), 2)
 
 
 def load_invoices(path: str) -> list[Invoice]:
@@ -40,3 +40,8 @@ def overdue(invoices: list[Invoice], today: Optional[str] = None) -> list[str]:
     """Numbers of unpaid invoices, oldest first."""
     return sorted(inv.number for inv in invoices if not inv.paid)
+
+
+def paid_total(invoices: list[Invoice]) -> float:
+    return round(sum(inv.total() for inv in invoices if inv.paid), 2)
"#;

const LISTING: &str = r#"total 64
drwxr-xr-x  7 dev dev  4096 Nov 21 08:02 .
drwxr-xr-x 12 dev dev  4096 Nov 20 17:45 ..
-rw-r--r--  1 dev dev   312 Nov 20 17:45 .gitignore
drwxr-xr-x  8 dev dev  4096 Nov 21 08:02 .git
-rw-r--r--  1 dev dev  1893 Nov 21 07:58 pyproject.toml
-rw-r--r--  1 dev dev  2210 Nov 20 17:45 README.md
drwxr-xr-x  4 dev dev  4096 Nov 21 07:40 src
drwxr-xr-x  3 dev dev  4096 Nov 21 08:01 tests
 M src/billing/invoice.py
?? tests/test_rounding.py
 2 files changed, 14 insertions(+), 3 deletions(-)
"#;

const NON_ASCII: &str = "Die Prüfung schlägt fehl, weil die Summe nicht auf Cent gerundet wird. Bitte ändere nur \
die Funktion `total` und lass die Migrationen unverändert — danke!\n修复发票总额的舍入错误，只修改 total 函数，不要动数据库迁移。\n\
Le total arrondi doit être égal à 0,30 € ; vérifiez aussi les reçus déjà émis.\n";

const GIT_LOG: &str = r#"commit 9abf4f3c1d2e8b7a6f5e4d3c2b1a09f8e7d6c5b4
Author: Dana Reyes <dana@example.com>
Date:   Sat Nov 21 08:02:11 2026 +0100

    Round invoice totals to cents (fixes #482)

commit 0bf2b5fe93a1c7d4b8e2f6a0c5d9e3b7f1a4c8d2
Merge: 85091f4 65ff33c
Author: Sam Okafor <sam.okafor@example.org>
Date:   Fri Nov 20 17:45:09 2026 +0100

    Merge branch 'wt-theme'
{"id":"3f2a9c1e-7b4d-4e8a-9c2f-1d5e6a7b8c9d","created_at":"2026-11-21T08:02:11Z","sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
"#;

const SAMPLES: [(&str, &str); 10] = [
    ("English prose", PROSE),
    ("Rust code", RUST),
    ("Python code", PYTHON),
    ("JSON tool arguments", JSON_ARGS),
    ("pytest output", PYTEST),
    ("cargo error output", CARGO),
    ("unified diff", DIFF),
    ("shell listing", LISTING),
    ("non-ASCII prose", NON_ASCII),
    ("git log and ids", GIT_LOG),
];

#[test]
fn estimate_is_calibrated_against_cl100k() {
    let bpe = tiktoken_rs::cl100k_base().unwrap();
    let (mut est_total, mut real_total, mut chars_total) = (0u64, 0u64, 0usize);
    let mut report = String::new();
    let mut under = Vec::new();
    for (name, text) in SAMPLES {
        let real = bpe.encode_ordinary(text).len() as u64;
        let est = estimate(text);
        let ratio = est as f64 / real as f64;
        report.push_str(&format!(
            "{name:<20} chars/token {:.2}  estimate {est:>5}  real {real:>5}  ratio {ratio:.2}\n",
            text.chars().count() as f64 / real as f64
        ));
        if ratio < 0.75 {
            under.push(name);
        }
        est_total += est;
        real_total += real;
        chars_total += text.chars().count();
    }
    let ratio = est_total as f64 / real_total as f64;
    report.push_str(&format!(
        "{:<20} chars/token {:.2}  estimate {est_total:>5}  real {real_total:>5}  ratio {ratio:.2}\n",
        "all samples",
        chars_total as f64 / real_total as f64
    ));
    println!("{report}");
    // The check is able to fail: the old flat rule of 4 characters per token fails it.
    let flat_under: Vec<&str> = SAMPLES
        .iter()
        .filter(|(_, t)| (t.len().div_ceil(4) as f64) < 0.75 * bpe.encode_ordinary(t).len() as f64)
        .map(|(n, _)| *n)
        .collect();
    assert!(!flat_under.is_empty(), "the samples no longer tell a flat rule from a calibrated one");
    assert!(under.is_empty(), "under-estimated by more than 25%: {under:?}\n{report}");
    assert!((0.75..=1.25).contains(&ratio), "aggregate off by more than 25%\n{report}");
}

#[test]
fn estimate_is_zero_for_empty_and_grows_with_text() {
    assert_eq!(estimate(""), 0);
    assert_eq!(estimate("word"), 1);
    // One plain space before a word is glued to it; indentation and newlines are not.
    assert_eq!(estimate("two words"), 2);
    // Indentation is one token and gives its last space to the word; the newline is one more.
    assert_eq!(estimate("    indent\n"), 3);
    // Long words split: 6 letters are one token, every started 6 more add one.
    assert_eq!(estimate("configuration"), 3);
    // Numbers take no space before them, so that space is a token of its own: `in`, ` `,
    // `202`, `6`, as cl100k cuts it.
    assert_eq!(estimate("in 2026"), 4);
    // A single symbol before a word joins it; newlines after symbols join them.
    assert_eq!(estimate("src/main.rs"), 3);
    assert_eq!(estimate("{\n"), 1);
    assert_eq!(estimate("1234567"), 3);
    assert_eq!(estimate("::"), 1);
    assert_eq!(estimate("日本語"), 3);
    let one = estimate(PROSE);
    let two = estimate(&PROSE.repeat(2));
    assert!(two >= 2 * one - 1 && two <= 2 * one + 1, "{one} {two}");
}

#[test]
fn message_estimate_counts_overhead_tool_calls_and_results() {
    let user = Message::User { text: "hello".into() };
    assert_eq!(estimate_messages(std::slice::from_ref(&user)), MESSAGE_OVERHEAD + 1);

    let call = ToolCallRequest { id: "c1".into(), name: "run".into(), arguments: r#"{"command": "cargo test"}"#.into() };
    let with_call = Message::Assistant { text: "Running the tests.".into(), tool_calls: vec![call.clone()], blocks: vec![] };
    let without = Message::Assistant { text: "Running the tests.".into(), tool_calls: vec![], blocks: vec![] };
    let call_cost = TOOL_CALL_OVERHEAD + estimate(&call.id) + estimate(&call.name) + estimate(&call.arguments);
    assert_eq!(estimate_message(&with_call), estimate_message(&without) + call_cost);

    let result = Message::Tool { call_id: "c1".into(), name: "run".into(), content: PYTEST.into(), is_error: false };
    assert!(estimate_message(&result) > estimate(PYTEST));
    let all = [user, with_call, result];
    assert_eq!(estimate_messages(&all), all.iter().map(estimate_message).sum::<u64>());
}
