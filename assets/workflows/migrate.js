// Migrate modules in dependency order: each one once the modules it depends on are migrated.
// args: {modules?: {name: [dependencies]}, target?: "what to migrate to"}
const modules = (args && args.modules) || { util: [], models: ["util"], api: ["models", "util"], cli: ["api"] };
const target = (args && args.target) || "the new API";

phase("migrate");
const nodes = {};
for (const [name, deps] of Object.entries(modules)) {
  nodes[name] = {
    deps,
    run: (inputs) => {
      const before = Object.entries(inputs).map(([d, r]) => `- ${d}: ${r}`).join("\n");
      return agent(`Migrate the module ${name} to ${target}.${before ? `\nAlready migrated:\n${before}` : ""}`, { label: `migrate-${name}` });
    },
  };
}
const results = await dag(nodes);

phase("check");
const failed = Object.keys(results).filter((m) => results[m] instanceof Error);
const check = await agent(`Check that the migration to ${target} is complete and the tests pass.${failed.length ? ` These modules failed: ${failed.join(", ")}.` : ""}`, {
  label: "check",
  tools: ["run", "read_file", "search"],
});
const summary = {};
for (const [m, r] of Object.entries(results)) summary[m] = r instanceof Error ? { error: r.message } : r;
return { modules: summary, check };
