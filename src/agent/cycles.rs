//! Cycles: the background writer that checkpoints the session, the rollover that rebuilds a
//! fresh window from the newest checkpoint, and rollback to any checkpoint.
//!
//! The writer runs as its own task while the agent keeps working. Its results are taken in at
//! step boundaries, so the log orders them deterministically. One writer runs at a time; a
//! threshold crossed while it runs waits in a one-slot queue where the newest request wins.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::task::JoinHandle;

use super::rebuild::{self, Prepared, WindowSpec};
use super::recorder::SharedRecorder;
use crate::config::prices::ModelTable;
use crate::memory::checkpoint::{self, WriterAnswer, WriterInput};
use crate::memory::memory_file::MemoryFile;
use crate::memory::tokens;
use crate::memory::window::{Adjustments, RebuildError, RebuiltWindow};
use crate::model::ask::{AskError, Spent, TRIES, ask_until_valid};
use crate::model::{ModelRequest, Provider, RetryPolicy};
use crate::protocol::{Checkpoint, CheckpointFlag, Event, EventKind, Message, RebuildReview, Role, RolloverReason};
use crate::session::{LogError, SessionState};
use crate::workspace::snapshot::Snapshots;

/// What a writer run needs, cloned into its task.
#[derive(Clone)]
pub(super) struct WriterSetup {
    pub provider: Arc<dyn Provider>,
    pub model: String,
    pub retry: RetryPolicy,
    pub prices: ModelTable,
    pub max_output_tokens: u32,
}

/// A threshold crossing: the writer will checkpoint the conversation as it was here.
#[derive(Debug, Clone)]
struct Trigger {
    cycle: u32,
    pct: u32,
    upto_seq: u64,
    window_tokens: u64,
    /// The snapshot's id, or why there is none.
    snapshot: Result<String, String>,
}

struct WriterRun {
    answer: Result<WriterAnswer, String>,
    /// What each call cost.
    usage: Vec<Spent>,
    /// What the first valid answer lost of the user's words, when the writer was asked again.
    asked_again: Vec<CheckpointFlag>,
}

/// The window should be rebuilt now; `forced` when it is full, so a review is not waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Roll {
    pub forced: bool,
}

/// A rebuild may be proposed again after a veto when the window reaches the next multiple of
/// this (in percent of the budget).
const VETO_STEP_PCT: u32 = 5;

pub(super) struct Cycles {
    workspace: PathBuf,
    session_dir: PathBuf,
    budget: u64,
    checkpoints: Vec<u32>,
    rollover_pct: u32,
    window_cap: u64,
    writer: WriterSetup,
    snapshots: Option<Snapshots>,
    running: Option<(Trigger, JoinHandle<WriterRun>)>,
    queued: Option<Trigger>,
    /// (cycle, pct) already handed to a writer, so a failed one does not fire again at once.
    attempted: Vec<(u32, u32)>,
    /// After a veto (or a rebuild that could not be built), the fill that asks again.
    ask_again_at: Option<u32>,
}

/// What the next request will carry: the last request and its answer, plus what was added
/// since (tool results, corrections). Deciding on the last request alone lets one large tool
/// result push a request past the budget before any rollover.
pub(super) fn next_request_tokens(s: &SessionState) -> u64 {
    s.window_tokens + tokens::estimate_messages(s.messages.since(s.window_covers))
}

/// Fill of the window in whole percent of the budget.
pub(super) fn fill_pct(window_tokens: u64, budget: u64) -> u32 {
    window_tokens.saturating_mul(100).checked_div(budget).map_or(0, |p| p.min(u32::MAX as u64) as u32)
}

impl Cycles {
    pub(super) fn new(
        workspace: &Path,
        session_dir: &Path,
        budget: u64,
        settings: &super::CycleSettings,
        writer: WriterSetup,
        rec: &SharedRecorder,
    ) -> Result<Cycles, LogError> {
        let snapshots = match Snapshots::open(workspace) {
            Ok(s) => Some(s),
            Err(e) => {
                rec.emit(EventKind::Warning {
                    message: format!("workspace snapshots are off, so checkpoints cannot be rolled back to: {e}"),
                })?;
                None
            }
        };
        Ok(Cycles {
            workspace: workspace.to_path_buf(),
            session_dir: session_dir.to_path_buf(),
            budget,
            checkpoints: settings.checkpoints.clone(),
            rollover_pct: settings.rollover_pct,
            window_cap: settings.window_cap,
            writer,
            snapshots,
            running: None,
            queued: None,
            attempted: Vec::new(),
            ask_again_at: None,
        })
    }

    /// Records the workspace as it is now. When snapshots are off or the snapshot failed,
    /// the run goes on without a rollback point rather than stopping, but the supervisor is
    /// told (a warning) and the reason is returned for the checkpoint to record.
    pub(super) fn snapshot(&self, rec: &SharedRecorder, label: &str) -> Result<Result<String, String>, LogError> {
        let Some(s) = &self.snapshots else { return Ok(Err("workspace snapshots are off".into())) };
        let taken = s.snapshot(label);
        for note in s.take_notes() {
            rec.emit(EventKind::Warning { message: format!("workspace snapshot: {note}") })?;
        }
        match taken {
            Ok(id) => Ok(Ok(id)),
            Err(e) => {
                rec.emit(EventKind::Warning {
                    message: format!("workspace snapshot failed ({label}), so this point cannot be rolled back to: {e}"),
                })?;
                Ok(Err(e.to_string()))
            }
        }
    }

    pub(super) fn snapshots(&self) -> Option<&Snapshots> {
        self.snapshots.as_ref()
    }

    /// At a step boundary: take in a finished writer, start a queued one, and start the writer
    /// for a newly crossed threshold. Returns whether the window should roll over now: at the
    /// rollover threshold, or after a veto at the next step of the fill; always when full.
    pub(super) async fn on_boundary(&mut self, rec: &SharedRecorder) -> Result<Option<Roll>, LogError> {
        self.take_in_finished(rec).await?;
        let (cycle, window, fired, seq) = rec.with_state(|s| (s.cycle, next_request_tokens(s), s.fired_thresholds.clone(), s.next_seq));
        let fill = fill_pct(window, self.budget);
        let crossed =
            self.checkpoints.iter().copied().filter(|p| fill >= *p && !fired.contains(p) && !self.attempted.contains(&(cycle, *p))).max();
        if let Some(pct) = crossed {
            for p in self.checkpoints.iter().filter(|p| **p <= pct) {
                self.attempted.push((cycle, *p));
            }
            let snapshot = self.snapshot(rec, &format!("checkpoint at {pct}%"))?;
            let trigger = Trigger { cycle, pct, upto_seq: seq.saturating_sub(1), window_tokens: window, snapshot };
            if self.running.is_some() {
                self.queued = Some(trigger);
            } else {
                self.start_writer(rec, trigger, false);
            }
        }
        let due = fill >= self.rollover_pct && self.ask_again_at.is_none_or(|at| fill >= at);
        Ok(due.then_some(Roll { forced: fill >= 100 }))
    }

    /// The run stays in the old window (a veto, or a window that could not be built): the
    /// rebuild is due again at the next step of the fill. Returns that fill.
    pub(super) fn postpone(&mut self, fill_pct: u32) -> u32 {
        let next = ((fill_pct / VETO_STEP_PCT + 1) * VETO_STEP_PCT).min(100);
        self.ask_again_at = Some(next);
        next
    }

    pub(super) fn spec(&self) -> WindowSpec<'_> {
        WindowSpec { workspace: &self.workspace, budget: self.budget, cap: self.window_cap }
    }

    /// Records the writer's checkpoint if it has finished, without waiting for it.
    pub(super) async fn take_in_finished(&mut self, rec: &SharedRecorder) -> Result<(), LogError> {
        if self.running.as_ref().is_some_and(|(_, h)| h.is_finished()) {
            self.take_in_writer(rec).await?;
        }
        Ok(())
    }

    pub(super) fn writer_running(&self) -> bool {
        self.running.is_some()
    }

    fn start_writer(&mut self, rec: &SharedRecorder, trigger: Trigger, want_memory: bool) {
        let input = writer_input(rec, &self.workspace, want_memory, self.budget);
        let setup = self.writer.clone();
        let handle = tokio::spawn(async move { run_writer(setup, input).await });
        self.running = Some((trigger, handle));
    }

    /// Waits for the writer in flight, if any, and records its result.
    async fn take_in_writer(&mut self, rec: &SharedRecorder) -> Result<Option<(String, Checkpoint, WriterAnswer)>, LogError> {
        let Some((trigger, handle)) = self.running.take() else { return Ok(None) };
        let run = match handle.await {
            Ok(run) => run,
            Err(e) => WriterRun { answer: Err(format!("the writer task failed: {e}")), usage: Vec::new(), asked_again: Vec::new() },
        };
        let saved = self.record_writer_run(rec, &trigger, run)?;
        if let Some(next) = self.queued.take() {
            self.start_writer(rec, next, false);
        }
        Ok(saved)
    }

    fn record_writer_run(
        &mut self,
        rec: &SharedRecorder,
        trigger: &Trigger,
        run: WriterRun,
    ) -> Result<Option<(String, Checkpoint, WriterAnswer)>, LogError> {
        for spent in &run.usage {
            rec.emit_spent(&self.writer.prices, spent, false)?;
        }
        if !run.asked_again.is_empty() {
            let lost: Vec<String> = run.asked_again.iter().map(|f| format!("{}: {}", f.kind, f.detail)).collect();
            rec.emit(EventKind::Warning {
                message: format!("the checkpoint writer lost the user's words ({}); it was asked once more", lost.join("; ")),
            })?;
        }
        let answer = match run.answer {
            Ok(a) => a,
            Err(reason) => {
                let stands = rec.with_state(|s| s.checkpoints.last().map(|c| c.id.clone()));
                rec.emit(EventKind::Warning {
                    message: format!(
                        "the checkpoint writer failed at {}% ({reason}); {}",
                        trigger.pct,
                        match stands {
                            Some(id) => format!("checkpoint {id} stands"),
                            None => "there is no checkpoint yet".into(),
                        }
                    ),
                })?;
                return Ok(None);
            }
        };
        let n = rec.with_state(|s| s.checkpoints.iter().filter(|c| c.cycle == trigger.cycle).map(|c| c.n).max().unwrap_or(0) + 1);
        let id = format!("{}.{n}", trigger.cycle);
        let dir = self.session_dir.join("checkpoints");
        let json = match checkpoint::save(&dir, &id, &answer.checkpoint, rec.redactor()) {
            Ok(p) => p,
            Err(e) => {
                rec.emit(EventKind::Warning { message: format!("cannot save checkpoint {id}: {e}") })?;
                return Ok(None);
            }
        };
        let path = json.strip_prefix(&self.workspace).unwrap_or(&json).display().to_string();
        rec.emit(EventKind::CheckpointSaved {
            id: id.clone(),
            cycle: trigger.cycle,
            n,
            threshold_pct: trigger.pct,
            window_tokens: trigger.window_tokens,
            upto_seq: trigger.upto_seq,
            snapshot: trigger.snapshot.clone().ok(),
            snapshot_error: trigger.snapshot.clone().err(),
            path,
            checkpoint: Box::new(answer.checkpoint.clone()),
        })?;
        let flags = rec.with_state(|s| crate::session::timeline::flags_for(s, &id, &answer.checkpoint));
        if !flags.is_empty() {
            rec.emit(EventKind::CheckpointFlagged { id: id.clone(), flags })?;
        }
        Ok(Some((id, answer.checkpoint.clone(), answer)))
    }

    /// Everything a rollover does before the window is built: the writer in flight is waited
    /// for so nothing it saw is lost, then a final checkpoint (with memory updates) is saved.
    pub(super) async fn prepare_rollover(&mut self, rec: &SharedRecorder, reason: RolloverReason) -> Result<Prepared, LogError> {
        self.take_in_writer(rec).await?;
        self.queued = None;
        let (cycle, window, seq) = rec.with_state(|s| (s.cycle, next_request_tokens(s), s.next_seq));
        let pct = fill_pct(window, self.budget);
        let snapshot = self.snapshot(rec, &format!("rollover at {pct}%"))?;
        let trigger = Trigger { cycle, pct, upto_seq: seq.saturating_sub(1), window_tokens: window, snapshot };
        let input = writer_input(rec, &self.workspace, true, self.budget);
        let run = run_writer(self.writer.clone(), input).await;
        let saved = self.record_writer_run(rec, &trigger, run)?;
        if let Some((_, _, answer)) = &saved
            && !answer.memory_updates.is_empty()
        {
            self.merge_memory(rec, &answer.memory_updates)?;
        }
        let state = rec.state();
        let checkpoint = state.checkpoints.last().map(|c| c.id.clone()).zip(state.latest_checkpoint.clone());
        Ok(Prepared { reason, checkpoint, fill_pct: pct, state: Box::new(state) })
    }

    /// The window `prepared` rebuilds to, with a supervisor's adjustments.
    pub(super) fn build(&self, prepared: &Prepared, adj: &Adjustments) -> Result<RebuiltWindow, RebuildError> {
        prepared.build(&self.spec(), adj)
    }

    /// Replaces the window: the `rollover` event with the window, where its messages came
    /// from, what it dropped and how it was reviewed. A new cycle begins.
    pub(super) fn commit(
        &mut self,
        rec: &SharedRecorder,
        prepared: &Prepared,
        built: RebuiltWindow,
        review: Option<RebuildReview>,
        cause: Option<&str>,
    ) -> Result<(), LogError> {
        self.ask_again_at = None;
        let s = &prepared.state;
        rec.emit_for(
            cause,
            EventKind::Rollover {
                cycle: s.cycle + 1,
                reason: prepared.reason,
                checkpoint: prepared.checkpoint.as_ref().map(|(id, _)| id.clone()),
                window_tokens: built.tokens,
                origins: rebuild::origins(&built, &s.message_origins),
                dropped: rebuild::dropped(&s.messages.to_vec(), &s.message_origins, &built.kept),
                window: built.messages,
                review,
            },
        )
    }

    /// A window that cannot be built without cutting the user's words: recorded, and asked
    /// again at the next step of the fill. Returns the reason.
    pub(super) fn failed(&mut self, rec: &SharedRecorder, prepared: &Prepared, e: &RebuildError) -> Result<String, LogError> {
        let (needed, room) = match e {
            RebuildError::Verbatim { needed, room } => (*needed, *room),
            _ => (0, 0),
        };
        let next = self.postpone(prepared.fill_pct);
        let reason = format!(
            "the context window cannot be rebuilt: {e}. The run continues in the old window; the rebuild is tried again at {next}%"
        );
        rec.emit(EventKind::RebuildFailed { reason: reason.clone(), needed_tokens: needed, room_tokens: room })?;
        Ok(reason)
    }

    fn merge_memory(&self, rec: &SharedRecorder, updates: &std::collections::BTreeMap<String, Vec<String>>) -> Result<(), LogError> {
        let session = rec.with_state(|s| s.info.as_ref().map(|i| i.session_id.clone()).unwrap_or_default());
        // The writer is a model: what it proposes for MEMORY.md is redacted like the log.
        let updates = match rec.redactor().redacted(updates) {
            Ok(u) => u,
            Err(e) => return rec.emit(EventKind::Warning { message: format!("cannot update MEMORY.md: {e}") }),
        };
        let result = MemoryFile::load(&self.workspace).and_then(|mut m| {
            let added = m.merge_updates(&updates, &session);
            m.save(&self.workspace).map(|_| added)
        });
        match result {
            Ok(0) => Ok(()),
            Ok(added) => rec.emit(EventKind::MemoryUpdated {
                id: None,
                source: "writer".into(),
                added,
                summary: format!("{added} entr{} from session {session}", if added == 1 { "y" } else { "ies" }),
            }),
            Err(e) => rec.emit(EventKind::Warning { message: format!("cannot update MEMORY.md: {e}") }),
        }
    }

    /// Waits for the writer in flight and the queued one, so that a session that ends keeps
    /// its last checkpoints.
    pub(super) async fn drain(&mut self, rec: &SharedRecorder) -> Result<(), LogError> {
        while self.running.is_some() {
            self.take_in_writer(rec).await?;
        }
        Ok(())
    }

    /// Stops a writer in flight (a rollback makes what it saw obsolete).
    pub(super) fn abandon_writer(&mut self) {
        if let Some((_, h)) = self.running.take() {
            h.abort();
        }
        self.queued = None;
    }
}

fn writer_input(rec: &SharedRecorder, workspace: &Path, want_memory: bool, budget: u64) -> OwnedWriterInput {
    let memory = MemoryFile::load(workspace).ok().map(|m| m.render());
    rec.with_state(|s| OwnedWriterInput {
        task: s.task().to_string(),
        previous: s.latest_checkpoint.clone(),
        conversation: s.messages.to_vec(),
        corrections: s.corrections.clone(),
        memory_md: memory,
        want_memory_updates: want_memory,
        limit_tokens: (budget / 2).max(4_000),
        required_directives: s.branch_directives(),
    })
}

struct OwnedWriterInput {
    task: String,
    previous: Option<Checkpoint>,
    conversation: Vec<Message>,
    corrections: Vec<String>,
    memory_md: Option<String>,
    want_memory_updates: bool,
    limit_tokens: u64,
    /// Directives of the checkpoints this one continues: it must keep them.
    required_directives: Vec<String>,
}

/// The message that asks the writer again after it lost the user's words.
fn lost_words_message(flags: &[CheckpointFlag]) -> String {
    let mut text = String::from("Your checkpoint lost the user's own words, which the agent's next window depends on:\n");
    for f in flags {
        text.push_str(&format!("- {}: {}\n", f.kind, f.detail));
    }
    text.push_str(
        "\nAnswer again with the whole JSON object (the same 11 keys). `active_intent` is the user's request \
         verbatim, every number, quoted string, file name and identifier included; `directives` keeps every \
         earlier directive and correction verbatim.",
    );
    text
}

/// One writer run: ask, parse, and ask once more if the answer was not a valid checkpoint.
async fn run_writer(setup: WriterSetup, input: OwnedWriterInput) -> WriterRun {
    let (system, user) = checkpoint::writer_prompt(&WriterInput {
        task: &input.task,
        previous: input.previous.as_ref(),
        conversation: &input.conversation,
        corrections: &input.corrections,
        memory_md: input.memory_md.as_deref(),
        want_memory_updates: input.want_memory_updates,
        limit_tokens: input.limit_tokens,
    });
    let mut req = ModelRequest {
        role: Role::Writer,
        model: setup.model.clone(),
        system,
        messages: vec![Message::User { text: user }].into(),
        tools: Vec::new(),
        temperature: Some(0.0),
        max_tokens: setup.max_output_tokens,
    };
    let parse = |text: &str| checkpoint::parse_writer_answer(text).map_err(|e| e.to_string());
    let again =
        |why: &str| format!("That answer is not a valid checkpoint: {why}. Answer again with one JSON object with exactly the 11 keys.");
    let provider = setup.provider.as_ref();
    let first = ask_until_valid(provider, &setup.retry, &mut req, TRIES, parse, again).await;
    let mut usage = first.spent;
    let first = match first.answer {
        Ok(v) => v,
        Err(AskError::Model(e)) => return WriterRun { answer: Err(e.to_string()), usage, asked_again: Vec::new() },
        Err(AskError::Invalid(e)) => {
            return WriterRun { answer: Err(format!("invalid answer twice: {e}")), usage, asked_again: Vec::new() };
        }
    };
    let lost = crate::memory::drift::writer_flags(&input.task, &input.required_directives, &first.value.checkpoint);
    if lost.is_empty() {
        return WriterRun { answer: Ok(first.value), usage, asked_again: lost };
    }
    // One more try for an answer that lost the user's words; the first answer stands when
    // the second is no better or unusable.
    req.messages.push(Message::Assistant { text: first.text, tool_calls: Vec::new(), blocks: Vec::new() });
    req.messages.push(Message::User { text: lost_words_message(&lost) });
    let second = ask_until_valid(provider, &setup.retry, &mut req, 1, parse, again).await;
    usage.extend(second.spent);
    let answer = second.answer.map_or(first.value, |v| v.value);
    WriterRun { answer: Ok(answer), usage, asked_again: lost }
}

/// What a rollback did.
pub struct RollbackReport {
    pub restored: u32,
    pub removed: u32,
}

/// Rolls a session back to checkpoint `id`: files from its snapshot, the conversation rebuilt
/// from it, and a `rolled_back` event. Used by the live runtime and by `endure rollback`.
pub(crate) fn rollback_to(
    rec: &SharedRecorder,
    workspace: &Path,
    log_path: &Path,
    snapshots: &Snapshots,
    id: &str,
    budget: u64,
    cap: u64,
) -> Result<Result<RollbackReport, String>, LogError> {
    let state = rec.state();
    let Some(record) = state.checkpoint(id).cloned() else {
        let known: Vec<&str> = state.checkpoints.iter().map(|c| c.id.as_str()).collect();
        return Ok(Err(format!(
            "no checkpoint {id} in this session (it has: {})",
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        )));
    };
    let Some(snapshot) = record.snapshot.clone() else {
        let why = record.snapshot_error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default();
        return Ok(Err(format!("checkpoint {id} has no workspace snapshot to restore{why}")));
    };
    let events = match crate::session::read_log(log_path) {
        Ok(r) => r.events,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let then = SessionState::from_events(events.iter().take_while(|e| e.seq <= record.upto_seq));
    let checkpoint = events.iter().find_map(|e: &Event| match &e.kind {
        EventKind::CheckpointSaved { id: cid, checkpoint, .. } if cid == id => Some(checkpoint.clone()),
        _ => None,
    });
    // Corrections given since still stand: the supervisor usually rolls back to correct. The
    // window is built before any file is touched, so one that cannot be built changes nothing.
    let spec = WindowSpec { workspace, budget, cap };
    let built = match rebuild::build_window(
        &spec,
        &state,
        checkpoint.as_deref().map(|c| (id, c)),
        &then.messages.to_vec(),
        &then.tasks,
        &Adjustments::default(),
    ) {
        Ok(b) => b,
        Err(e) => return Ok(Err(format!("the window cannot be rebuilt: {e}"))),
    };
    let restored = snapshots.restore(&snapshot);
    for note in snapshots.take_notes() {
        rec.emit(EventKind::Warning { message: format!("workspace snapshot: {note}") })?;
    }
    let report = match restored {
        Ok(r) => r,
        Err(e) => return Ok(Err(format!("cannot restore the workspace: {e}"))),
    };
    let cycle = state.checkpoints.iter().map(|c| c.cycle).chain([state.cycle]).max().unwrap_or(1) + 1;
    rec.emit(EventKind::RolledBack {
        to: id.to_string(),
        snapshot: Some(snapshot),
        cycle,
        window_tokens: built.tokens,
        origins: rebuild::origins(&built, &then.message_origins),
        window: built.messages,
        tasks: then.tasks.clone(),
        restored: report.restored,
        removed: report.removed,
    })?;
    Ok(Ok(RollbackReport { restored: report.restored, removed: report.removed }))
}
