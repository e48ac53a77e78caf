// Parallel read-only reviewers, one per aspect, then a synthesis agent that answers with a schema.
// args: {aspects?: ["correctness", ...], scope?: "what to review"}
const aspects = (args && args.aspects) || ["correctness", "tests", "readability"];
const scope = (args && args.scope) || "the code in this workspace";

phase("review");
const reviews = await parallel(
  aspects.map((aspect) => () =>
    agent(
      `Review ${scope} for ${aspect}. Read the code; change nothing. List each concrete problem with its file and line, most important first.`,
      { label: `review-${aspect}`, tools: ["read_file", "list_files", "search"] },
    ),
  ),
);

phase("synthesis");
const notes = reviews
  .map((r, i) => `## ${aspects[i]}\n${r instanceof Error ? `(this review failed: ${r.message})` : r}`)
  .join("\n\n");
log(`${reviews.filter((r) => !(r instanceof Error)).length} of ${aspects.length} reviews done`);
return await agent(`Merge these reviews into one verdict, dropping duplicates and anything not backed by the code.\n\n${notes}`, {
  label: "synthesis",
  tools: ["read_file", "search"],
  schema: {
    type: "object",
    properties: {
      verdict: { type: "string", enum: ["approve", "request_changes"] },
      issues: {
        type: "array",
        items: {
          type: "object",
          properties: { file: { type: "string" }, line: { type: "integer" }, problem: { type: "string" } },
          required: ["file", "problem"],
        },
      },
    },
    required: ["verdict", "issues"],
  },
});
