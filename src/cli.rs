//! Command-line interface definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::settings::RunOptions;

/// `endure [OPTIONS] [TASK]` opens the workbench; the subcommands do everything else.
#[derive(Debug, Parser)]
#[command(
    name = "endure",
    version,
    about = "A terminal workbench for supervising long-horizon coding agents",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    #[command(flatten)]
    pub run: RunOptions,
    /// What the agent should do. Without it, the workbench opens with the task editor.
    pub task: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent headless until it finishes: progress on stderr, events as JSONL with --json.
    Exec(ExecArgs),
    /// List the sessions of the workspace.
    Sessions(SessionsArgs),
    /// Run the bundled demo: a scripted session that fixes a small Python project, in a fresh
    /// copy under a temporary directory, showing every feature (checkpoints, a rollover, Max
    /// Mode, the verifier, a memory proposal, corrections, rollback). No API key needed; needs
    /// python3.
    Demo(DemoArgs),
    /// Open a session's event log read-only in the workbench, following it while it grows.
    Replay(ReplayArgs),
    /// Continue a session in the workbench: after a crash or a stop, or from a checkpoint with --at.
    Resume(ResumeArgs),
    /// Roll a session (not running) back to a checkpoint: workspace files and conversation.
    Rollback(RollbackArgs),
    /// List a session's checkpoints in order, with the fields each changed and the flags that
    /// say where the writer may have drifted.
    Checkpoints(CheckpointsArgs),
    /// Project memory: consolidate MEMORY.md (dream) or distill past sessions into skills.
    #[command(subcommand)]
    Memory(MemoryCommand),
    /// Configuration: `endure config check` reports every problem in config, theme and keymap files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// What the sandbox can enforce on this machine, capability by capability; exits non-zero
    /// when the default (workspace-write, network off) cannot be enforced.
    Doctor(DoctorArgs),
    /// MCP servers: `endure mcp list` starts each configured server and shows its state and tools.
    #[command(subcommand)]
    Mcp(McpCommand),
    /// Dynamic Workflow: run a JavaScript orchestration of subagents (`endure workflow FILE.js`
    /// opens it in the workbench), list saved workflows, resume a run.
    Workflow(Box<WorkflowArgs>),
    /// List running sessions, of every workspace: state, step, cost, context fill.
    Ps(PsArgs),
    /// Stop a running session and wait for it to end.
    Stop(StopArgs),
    /// Print a session's progress lines, as `exec` does; with -f, follow it until it ends.
    Logs(LogsArgs),
    /// Start a new session from a checkpoint of another, headless, in a git worktree of its own
    /// restored to the checkpoint's snapshot; the original may keep running.
    Fork(Box<ForkArgs>),
    /// A session's attempt tree: rollbacks with their abandoned branches, Max Mode candidates
    /// not taken, and forks, each with steps, cost, last test counts and outcome.
    Tree(TreeArgs),
    /// Open the workbench on a running session (detached, or run by another workbench), over
    /// its control socket. `q` detaches and leaves the agent running; `s` stops it.
    Attach(AttachArgs),
    /// Every running session, live, the ones waiting for you first. Enter attaches; pause,
    /// resume, stop, approve or deny, accept or reject act on a row without attaching.
    Fleet(FleetArgs),
}

#[derive(Debug, Args)]
pub struct ForkArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// The session to fork (an id or a unique prefix).
    pub session: String,
    /// The checkpoint to start from, `<cycle>.<n>`.
    #[arg(long, value_name = "ID")]
    pub at: String,
    /// The new worktree (default: .endure/worktrees/<new session id>).
    #[arg(long, value_name = "DIR")]
    pub into: Option<PathBuf>,
    /// Print every event as a JSON line on stdout.
    #[arg(long)]
    pub json: bool,
    /// Run in the background once the worktree is ready: print the new session id and return.
    #[arg(long)]
    pub detach: bool,
    /// The background process of `--detach`: the fork's session id, its worktree already made.
    #[arg(long, hide = true, value_name = "SESSION", conflicts_with = "detach", requires = "into")]
    pub detached_session: Option<String>,
    /// Flags as for `exec`; without them the fork runs with the options its parent recorded.
    #[command(flatten)]
    pub run: RunOptions,
}

#[derive(Debug, Args)]
pub struct TreeArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Session id or a unique prefix (default: the most recent).
    pub session: Option<String>,
    /// Print the tree as JSON: {id, kind, at, children, summary}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// The running session (an id, or the start of one). Without it: the one running in the
    /// workspace, or a choice when there are several.
    pub session: Option<String>,
    /// UI theme.
    #[arg(long)]
    pub theme: Option<String>,
    /// Keymap: default, vim or emacs.
    #[arg(long)]
    pub keymap: Option<String>,
}

#[derive(Debug, Args)]
pub struct FleetArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// UI theme.
    #[arg(long)]
    pub theme: Option<String>,
    /// Keymap: default, vim or emacs.
    #[arg(long)]
    pub keymap: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Start each MCP server of the workspace's configuration (in the sandbox, as a session
    /// would) and show its state and tools; exits non-zero when an enabled server fails.
    List(McpListArgs),
}

#[derive(Debug, Args)]
pub struct McpListArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub run: RunOptions,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct WorkflowArgs {
    #[command(subcommand)]
    pub command: Option<WorkflowCommand>,
    /// A script to run in the workbench (the same as `workflow run FILE --tui`).
    #[arg(value_name = "FILE.js")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub opts: WorkflowRunOpts,
}

#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// Run a workflow script: headless (progress on stderr, the script's return value on
    /// stdout, or every event as JSONL with --json), or in the workbench with --tui.
    Run(WorkflowRunArgs),
    /// The saved workflows: .endure/workflows/*.js and .claude/workflows/*.js.
    List(WorkflowListArgs),
    /// Continue a workflow run killed or stopped midway: finished agents are taken from its
    /// journal, unfinished ones continue from their own logs.
    Resume(WorkflowResumeArgs),
}

#[derive(Debug, Args)]
pub struct WorkflowRunArgs {
    /// The script.
    #[arg(value_name = "FILE.js")]
    pub file: PathBuf,
    #[command(flatten)]
    pub opts: WorkflowRunOpts,
}

#[derive(Debug, Args)]
pub struct WorkflowRunOpts {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// The script's `args`, as JSON.
    #[arg(long = "args", value_name = "JSON")]
    pub script_args: Option<String>,
    /// Run in the background: print the session id and return once the run holds its
    /// session and serves its control socket (`endure logs -f`, `endure stop`).
    #[arg(long, conflicts_with_all = ["tui", "json"])]
    pub detach: bool,
    /// The background process of `--detach`: the session id it must use.
    #[arg(long, hide = true, value_name = "SESSION", conflicts_with = "detach")]
    pub detached_session: Option<String>,
    #[command(flatten)]
    pub common: WorkflowCommonOpts,
    #[command(flatten)]
    pub run: RunOptions,
}

/// Flags shared by `workflow run` and `workflow resume`.
#[derive(Debug, Clone, Args)]
pub struct WorkflowCommonOpts {
    /// Print every event as a JSON line on stdout.
    #[arg(long, conflicts_with = "tui")]
    pub json: bool,
    /// Open the workbench on the run.
    #[arg(long)]
    pub tui: bool,
    /// Memory the script may use, in MiB (default 64).
    #[arg(long, value_name = "MIB")]
    pub memory_limit: Option<u64>,
    /// CPU time the script itself may use, in seconds (default 30; waiting for agents is free).
    #[arg(long, value_name = "SECS")]
    pub cpu_limit: Option<f64>,
    /// Subagents running at once, whatever the script asks for (default 16).
    #[arg(long, value_name = "N")]
    pub agents_at_once: Option<usize>,
}

#[derive(Debug, Args)]
pub struct WorkflowListArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WorkflowResumeArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// The run's session id or a unique prefix (default: the most recent session).
    #[arg(value_name = "RUN")]
    pub run_id: Option<String>,
    #[command(flatten)]
    pub common: WorkflowCommonOpts,
    /// Flags given again override those recorded when the run started.
    #[command(flatten)]
    pub run: RunOptions,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Session id or a unique prefix of one (default: the most recent).
    pub session: Option<String>,
    /// Do not follow events appended after opening.
    #[arg(long)]
    pub no_follow: bool,
    /// UI theme.
    #[arg(long)]
    pub theme: Option<String>,
    /// Keymap: default, vim or emacs.
    #[arg(long)]
    pub keymap: Option<String>,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Roll back to checkpoint `<cycle>.<n>` first.
    #[arg(long, value_name = "ID")]
    pub at: Option<String>,
    /// Flags given again override those recorded at the session's start.
    #[command(flatten)]
    pub run: RunOptions,
    /// Session id or a unique prefix (default: the most recent).
    pub session: Option<String>,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Session id or a unique prefix.
    pub session: String,
    /// The checkpoint, `<cycle>.<n>`.
    #[arg(long, value_name = "ID")]
    pub to: String,
}

#[derive(Debug, Args)]
pub struct CheckpointsArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Session id or a unique prefix.
    pub session: String,
    /// Print a JSON array of {id, cycle, upto_seq, changed, flags} instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// Ask the writer model to consolidate and deduplicate MEMORY.md; shows the diff.
    Dream(MemoryArgs),
    /// Turn repeated commands, corrections and fixes of past sessions into skills.
    Distill(MemoryArgs),
}

#[derive(Debug, Args)]
pub struct MemoryArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Apply the result (without it, only show it).
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub run: RunOptions,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check config.toml files, themes and keymaps; print every problem and exit non-zero if any.
    Check(WorkspaceArg),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// UI theme.
    #[arg(long)]
    pub theme: Option<String>,
    /// Keymap: default, vim or emacs.
    #[arg(long)]
    pub keymap: Option<String>,
    /// Run without the workbench, printing progress like `endure exec`.
    #[arg(long)]
    pub headless: bool,
    /// With --headless: print every event as a JSON line on stdout.
    #[arg(long, requires = "headless")]
    pub json: bool,
    /// Delay factor for the scripted answers: 1 = human pace (the demo takes about 80 seconds),
    /// 2 = twice as slow, 0.5 = twice as fast, 0 = no delay at all.
    #[arg(long, value_name = "FACTOR")]
    pub speed: Option<f64>,
    /// Where to put the demo copy (default: a new temporary directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct WorkspaceArg {
    /// The workspace the agent works in (default: the current directory).
    #[arg(long, short = 'C', value_name = "DIR")]
    pub workspace: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Print every event as a JSON line on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub run: RunOptions,
    /// Continue a session (default: the most recent) from its log instead of starting one.
    #[arg(long, value_name = "SESSION", num_args = 0..=1, default_missing_value = "")]
    pub resume: Option<String>,
    /// With --resume: roll back to checkpoint `<cycle>.<n>` first.
    #[arg(long, value_name = "ID", requires = "resume")]
    pub at: Option<String>,
    /// Run in the background: print the session id and return once the run holds its
    /// session and serves its control socket. Follow it with `endure logs -f`, end it with
    /// `endure stop`.
    #[arg(long)]
    pub detach: bool,
    /// Wait for a supervisor (`endure attach`, `endure fleet`) where a headless run would
    /// stop: a budget, a stall, a verifier hand-over, an escalation, a pick to review.
    #[arg(long)]
    pub supervised: bool,
    /// The background process of `--detach`: the session id it must use.
    #[arg(long, hide = true, value_name = "SESSION", conflicts_with = "detach")]
    pub detached_session: Option<String>,
    /// What the agent should do.
    #[arg(required_unless_present = "resume")]
    pub task: Option<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// The running session (an id, or the start of one).
    pub session: String,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Keep following a running session until it ends.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// A running session (from any workspace), or a session of the workspace.
    pub session: String,
}

#[derive(Debug, Args)]
pub struct SessionsArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl WorkspaceArg {
    pub fn dir(&self) -> PathBuf {
        self.workspace.clone().unwrap_or_else(|| PathBuf::from("."))
    }
}
