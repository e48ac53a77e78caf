//! What the benches share: the scripted session they measure.

use std::fmt::Write as _;

/// A long session: mostly reads, a task-list update every 10 steps and an edit every 25, the
/// mix of a real refactor's tool calls, then `done` and an accepting verifier.
pub fn refactor_session(steps: usize) -> String {
    let mut s = String::new();
    for i in 0..steps {
        let _ = write!(s, "[[agent]]\ntext = \"Step {i}: checking the next function before changing it.\"\n");
        if i % 25 == 24 {
            let _ = write!(
                s,
                "[[agent.tool_calls]]\nname = \"edit_file\"\narguments = {{ path = \"src/lib.rs\", old = \"// marker {}\", new = \"// marker {}\" }}\n",
                i / 25,
                i / 25 + 1
            );
        } else if i % 10 == 9 {
            let _ = write!(
                s,
                "[[agent.tool_calls]]\nname = \"todo\"\narguments = {{ tasks = [{{ title = \"refactor part {i}\", status = \"in_progress\" }}] }}\n"
            );
        } else {
            let _ = write!(s, "[[agent.tool_calls]]\nname = \"read_file\"\narguments = {{ path = \"src/lib.rs\", limit = 40 }}\n");
        }
    }
    s.push_str("[[agent]]\ntext = \"Done.\"\n[[agent.tool_calls]]\nname = \"done\"\narguments = { summary = \"ok\" }\n");
    s.push_str("[[verifier]]\ntext = '{\"met\": true, \"missing\": [], \"evidence\": [\"refactored\"]}'\n");
    s
}
