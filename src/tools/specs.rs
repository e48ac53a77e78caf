//! The tool descriptions given to the model.

use serde_json::json;

use crate::model::ToolSpec;

pub const TOOL_NAMES: &[&str] =
    &["read_file", "write_file", "edit_file", "list_files", "search", "run", "process", "todo", "done", "skill", "workflow"];

fn spec(name: &str, description: &str, parameters: serde_json::Value) -> ToolSpec {
    ToolSpec { name: name.to_string(), description: description.to_string(), parameters }
}

pub(super) fn all() -> Vec<ToolSpec> {
    vec![
        spec(
            "read_file",
            "Read a text file of the workspace. Each line is prefixed with its line number and a tab \
             (the prefix is not part of the file). Reads up to 2000 lines from `offset`; when more \
             remain, the result ends with a note saying which offset to continue from. Lines longer \
             than 2000 characters are truncated. Binary files cannot be read.",
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Path relative to the workspace root (absolute paths inside the workspace also work)."},
                    "offset": {"type": "integer", "minimum": 1, "description": "1-based line number to start from. Default 1."},
                    "limit": {"type": "integer", "minimum": 1, "description": "Maximum number of lines to return. Default 2000."}
                },
                "required": ["path"],
                "additionalProperties": false
            }),
        ),
        spec(
            "write_file",
            "Create a file or replace its whole content. Parent directories are created as needed. \
             Use edit_file for a targeted change to an existing file. MEMORY.md, .endure/ and .git/ \
             cannot be written.",
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Path relative to the workspace root."},
                    "content": {"type": "string", "description": "The complete new content of the file."}
                },
                "required": ["path", "content"],
                "additionalProperties": false
            }),
        ),
        spec(
            "edit_file",
            "Replace one exact occurrence of `old` with `new` in an existing file. `old` must match \
             the file exactly, including whitespace and indentation, and must occur exactly once: \
             include enough surrounding lines to make it unique. Do not include the line-number \
             prefixes that read_file shows.",
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Path relative to the workspace root."},
                    "old": {"type": "string", "description": "The exact text to replace; must occur exactly once."},
                    "new": {"type": "string", "description": "The replacement text."}
                },
                "required": ["path", "old", "new"],
                "additionalProperties": false
            }),
        ),
        spec(
            "list_files",
            "List the files and directories under a directory of the workspace, recursively, \
             honouring .gitignore. Paths are relative to the workspace root; directories end with \
             `/`. At most 1000 entries are shown; list a subdirectory to see more.",
            json!({
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "Directory to list, relative to the workspace root. Default: the root."}
                },
                "additionalProperties": false
            }),
        ),
        spec(
            "search",
            "Search file contents with a regular expression (Rust regex syntax, matched against each \
             line), honouring .gitignore and skipping binary files. Prints `path:line: text` for each \
             matching line, at most 200 matches.",
            json!({
                "type": "object",
                "properties": {
                    "pattern": {"type": "string", "description": "Regular expression, e.g. `fn\\s+main` or `(?i)todo`."},
                    "path": {"type": "string", "description": "File or directory to search in, relative to the workspace root. Default: the root."}
                },
                "required": ["pattern"],
                "additionalProperties": false
            }),
        ),
        spec(
            "run",
            "Run a shell command (`sh -c`) in the workspace root and return its exit code and its \
             combined stdout and stderr. stdin is empty, so interactive programs will not work; \
             pagers and colours are disabled. Long output keeps its head and tail. The command is \
             killed when it exceeds its timeout, and every process it started is killed when it \
             returns. Files it creates, modifies or deletes are recorded. Commands run in the \
             session's sandbox (see the system prompt): use `background` for a server that must \
             keep running, and `escalate` only when the sandbox stops necessary work.",
            json!({
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "The shell command line, e.g. `cargo test 2>&1 | tail -50`."},
                    "timeout_s": {"type": "number", "description": "Timeout in seconds. Default 120; longer values are capped by the session's limit."},
                    "background": {"type": "boolean", "description": "Start the command in the background and return its process id at once; it keeps running after this call (e.g. a server that tests talk to over loopback). Read or end it with the `process` tool."},
                    "escalate": {"type": "boolean", "description": "Ask to run this one command outside the sandbox. The supervisor approves or denies it; headless runs deny it unless allowed. Give a `justification`."},
                    "justification": {"type": "string", "description": "With `escalate`: why the command must run outside the sandbox."}
                },
                "required": ["command"],
                "additionalProperties": false
            }),
        ),
        spec(
            "process",
            "Read the recent output of a background process started with `run` {background: true}, \
             with whether it is still running and its exit code, or end it.",
            json!({
                "type": "object",
                "properties": {
                    "id": {"type": "integer", "minimum": 1, "description": "The id `run` returned."},
                    "action": {"type": "string", "enum": ["output", "kill"], "description": "`output`: its state and recent output; `kill`: end it and everything it started."}
                },
                "required": ["id", "action"],
                "additionalProperties": false
            }),
        ),
        spec(
            "todo",
            "Replace your task list with this one. Keep it current: plan the work as tasks, mark one \
             in_progress while you work on it, and mark tasks done when they are finished. The \
             supervisor watches this list.",
            json!({
                "type": "object",
                "properties": {
                    "tasks": {
                        "type": "array",
                        "description": "The complete task list, in order.",
                        "items": {
                            "type": "object",
                            "properties": {
                                "title": {"type": "string", "description": "Short imperative description of the task."},
                                "status": {"type": "string", "enum": ["pending", "in_progress", "done"]}
                            },
                            "required": ["title", "status"],
                            "additionalProperties": false
                        }
                    }
                },
                "required": ["tasks"],
                "additionalProperties": false
            }),
        ),
        spec(
            "done",
            "Declare the whole task complete and end the session. Call it only when the work is \
             finished and verified (for instance the tests pass), with a summary of what was done \
             and anything left open.",
            json!({
                "type": "object",
                "properties": {
                    "summary": {"type": "string", "description": "What was done, how it was verified, and what remains, if anything."}
                },
                "required": ["summary"],
                "additionalProperties": false
            }),
        ),
        spec(
            "skill",
            "Load a skill: step-by-step instructions distilled from earlier sessions in this \
             project. The system prompt lists the available skills by name and description.",
            json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "The skill's name, as listed in the system prompt."}
                },
                "required": ["name"],
                "additionalProperties": false
            }),
        ),
        spec(
            "workflow",
            "Run a workflow: a JavaScript orchestration script whose `agent(prompt, opts)` calls run \
             subagents (each its own session with its own context window), with `parallel`, \
             `pipeline`, `dag`, `barrier`, `phase`, `log`, `args`, `budget` and `merge`. Give \
             `name` to run `.endure/workflows/NAME.js` (or `.claude/workflows/NAME.js`), or the \
             `script` itself. The call returns the script's return value as JSON when the run \
             ends; finished agents are journaled, so a crashed run resumes without redoing them. \
             Scripts must be deterministic: no Date.now(), new Date() or Math.random().",
            json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "A saved workflow: .endure/workflows/NAME.js or .claude/workflows/NAME.js."},
                    "script": {"type": "string", "description": "The script itself, when not a saved one. Top-level await and return work."},
                    "args": {"description": "Any JSON value, given to the script as `args`."}
                },
                "additionalProperties": false
            }),
        ),
    ]
}
