// Find the failing tests, fix each in its own git worktree, verify each fix, merge the good ones.
// args: {command?: "how to run the tests"}
const command = (args && args.command) || "the project's test command";

phase("find");
const found = await agent(`Run ${command} and list the failing tests by name. Change nothing.`, {
  label: "find",
  tools: ["run", "read_file", "search", "list_files"],
  schema: { type: "object", properties: { failing: { type: "array", items: { type: "string" } } }, required: ["failing"] },
});
log(`${found.failing.length} failing: ${found.failing.join(", ")}`);

phase("fix");
const outcomes = await pipeline(
  found.failing,
  // Each fix gets its own worktree, so fixes never step on each other.
  (test) => agent(`Make the failing test ${test} pass. Change only what it needs, then run it to confirm.`, { label: `fix-${test}`, isolation: "worktree" }),
  async (fix, i) => {
    const check = await agent(`Review this fix for the test ${found.failing[i]}: does it fix the cause rather than the symptom, and break nothing?\n\n${fix.diff}`, {
      label: `verify-${found.failing[i]}`,
      tools: ["read_file", "search"],
      schema: { type: "object", properties: { ok: { type: "boolean" }, reason: { type: "string" } }, required: ["ok"] },
    });
    return { fix, check };
  },
  async ({ fix, check }, i) => {
    if (!check.ok) return { test: found.failing[i], merged: false, reason: check.reason || "the review rejected it" };
    const merged = await merge(fix);
    return { test: found.failing[i], merged: merged.ok, conflicts: merged.conflicts };
  },
);

phase("verify");
const report = outcomes.map((o, i) => (o instanceof Error ? { test: found.failing[i], merged: false, reason: o.message } : o));
const suite = await agent(`Run ${command} once more and say whether everything passes now.`, {
  label: "suite",
  tools: ["run", "read_file"],
  schema: { type: "object", properties: { passed: { type: "boolean" } }, required: ["passed"] },
});
return { fixes: report, passed: suite.passed };
