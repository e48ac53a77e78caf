//! `dotnet test`. No .NET SDK can be installed here, so these inputs follow the console
//! logger's documented shape rather than a capture: they check the parser's logic, not its
//! fidelity to real output (which no fixture covers; see README's feedback section).

use super::*;

#[test]
fn failed_tests_messages_frames_and_the_summary() {
    let out = "  Failed Shop.Tests.CartTests.TotalUsesQuantity [12 ms]\n  Error Message:\n   Assert.Equal() Failure\nExpected: 6\nActual:   3\n  Stack Trace:\n     at Shop.Tests.CartTests.TotalUsesQuantity() in /home/dev/shop/tests/CartTests.cs:line 18\n\nFailed!  - Failed:     1, Passed:     3, Skipped:     1, Total:     5, Duration: 40 ms - Shop.Tests.dll (net8.0)\n";
    let ctx = Context { root: Some("/home/dev/shop".into()), tree: None };
    let fb = analyze_in(out, &ctx);
    assert_eq!(fb.tests, counts(3, 1, 1));
    assert_eq!(fb.failing_tests, ["Shop.Tests.CartTests.TotalUsesQuantity"]);
    let d = only(&fb);
    assert_eq!(at(d), (Some("tests/CartTests.cs"), Some(18), None));
    assert_eq!(d.message, "Assert.Equal() Failure Expected: 6 Actual:   3");
}

#[test]
fn compiler_errors_from_msbuild() {
    let fb = analyze(
        "src/Cart.cs(12,5): error CS0103: The name 'totl' does not exist in the current context [/home/dev/shop/src/Shop.csproj]\n",
    );
    let d = only(&fb);
    assert_eq!(d.kind, "dotnet CS0103");
    assert_eq!(at(d), (Some("src/Cart.cs"), Some(12), Some(5)));
    assert_eq!(d.message, "The name 'totl' does not exist in the current context");
}
