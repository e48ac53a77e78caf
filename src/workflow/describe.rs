//! One-line descriptions of workflow events, shared by the headless progress log and the
//! workbench's transcript (until the Workflow panel replaces the latter).

use crate::protocol::{AgentUsage, EventKind};

fn short(s: &str, n: usize) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() <= n && !s.contains('\n') {
        line.to_string()
    } else {
        format!("{}…", line.chars().take(n).collect::<String>())
    }
}

fn spent(u: &AgentUsage) -> String {
    if u.cost_usd > 0.0 { format!("{} tokens, ${:.4}", u.tokens(), u.cost_usd) } else { format!("{} tokens", u.tokens()) }
}

/// The line for a workflow event that marks a milestone, and whether it reports a failure.
/// Step-by-step progress (`agent_step`) and live events have none.
pub fn milestone(kind: &EventKind) -> Option<(bool, String)> {
    let line = match kind {
        EventKind::WorkflowStarted { run, name, resumed, .. } => {
            format!("workflow {run} {} {name}", if *resumed { "resumed:" } else { "started:" })
        }
        EventKind::WorkflowPhase { name, .. } => format!("phase: {}", short(name, 120)),
        EventKind::WorkflowLog { message, .. } => format!("log: {}", short(message, 200)),
        EventKind::WorkflowBudget { caps, .. } => {
            let mut parts = Vec::new();
            if let Some(t) = caps.tokens {
                parts.push(format!("{t} tokens"));
            }
            if let Some(c) = caps.cost {
                parts.push(format!("${c:.4}"));
            }
            if let Some(a) = caps.agents {
                parts.push(format!("{a} agents"));
            }
            format!("workflow budget: {}", if parts.is_empty() { "no caps".to_string() } else { parts.join(", ") })
        }
        EventKind::WorkflowPaused { reason, .. } => format!("workflow paused: {}", short(reason, 160)),
        EventKind::WorkflowResumed { .. } => "workflow resumed".to_string(),
        EventKind::WorkflowMerged { agent, branch, applied, conflicts, .. } => {
            if conflicts.is_empty() {
                format!("merged agent {agent} ({branch}): {} file(s)", applied.len())
            } else {
                return Some((true, format!("merge of agent {agent} ({branch}) refused: conflicts in {}", conflicts.join(", "))));
            }
        }
        EventKind::WorkflowFinished { run, ok, error, agents, usage, .. } => {
            let tail = format!("{agents} agent(s), {}", spent(usage));
            if *ok {
                format!("workflow {run} finished: {tail}")
            } else {
                return Some((true, format!("workflow {run} failed: {} ({tail})", short(error.as_deref().unwrap_or(""), 300))));
            }
        }
        EventKind::AgentQueued { agent, label, .. } => format!("agent {agent} [{label}] queued"),
        EventKind::AgentStarted { agent, label, resumed, isolation, .. } => format!(
            "agent {agent} [{label}] {}{}",
            if *resumed { "resumed from its log" } else { "started" },
            isolation.as_deref().map(|i| format!(" in its own {i}")).unwrap_or_default()
        ),
        EventKind::AgentPaused { agent, .. } => format!("agent {agent} paused"),
        EventKind::AgentResumed { agent, .. } => format!("agent {agent} resumed"),
        EventKind::AgentFinished { agent, label, steps, usage, journaled, result, .. } => {
            let answer = match result {
                serde_json::Value::String(s) => short(s, 100),
                other => short(&other.to_string(), 100),
            };
            if *journaled {
                format!("agent {agent} [{label}] done (from the journal): {answer}")
            } else {
                format!("agent {agent} [{label}] done in {steps} step(s), {}: {answer}", spent(usage))
            }
        }
        EventKind::AgentFailed { agent, label, error, .. } => {
            return Some((true, format!("agent {agent} [{label}] failed: {}", short(error, 300))));
        }
        _ => return None,
    };
    Some((false, line))
}
