mod analyze;
mod dotnet;
mod go;
mod js;
mod lint;
mod pytest;
mod python;
mod rust;

use super::*;

/// File, line and column of a diagnostic, for compact assertions.
pub(super) fn at(d: &Diagnostic) -> (Option<&str>, Option<u32>, Option<u32>) {
    (d.file.as_deref(), d.line, d.col)
}

pub(super) fn only(fb: &Feedback) -> &Diagnostic {
    assert_eq!(fb.diagnostics.len(), 1, "expected one diagnostic: {fb:#?}");
    &fb.diagnostics[0]
}

pub(super) fn only_owned(fb: Feedback) -> Diagnostic {
    only(&fb).clone()
}

pub(super) fn counts(passed: u32, failed: u32, skipped: u32) -> Option<TestCounts> {
    Some(TestCounts { passed, failed, skipped })
}
