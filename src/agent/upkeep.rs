//! Keeping project memory healthy: dream (consolidate MEMORY.md) and distill (turn repeated
//! patterns of past sessions into skills), on a schedule at session start or on demand.

use std::path::Path;

use chrono::Utc;

use super::AgentConfig;
use super::recorder::SharedRecorder;
use crate::memory::distill::{self, Patterns};
use crate::memory::dream::{self, DreamResult};
use crate::memory::memory_file::MemoryFile;
use crate::memory::skills;
use crate::memory::store::MemoryState;
use crate::model::ask::Spent;
use crate::protocol::{Checkpoint, Event, EventKind};
use crate::session::LogError;

/// Checkpoints a dream reads: the newest ones across past sessions.
const DREAM_CHECKPOINTS: usize = 12;

/// Past sessions' logs, oldest first, without `except` (the session running now).
pub fn past_sessions(workspace: &Path, except: Option<&str>) -> Vec<(String, Vec<Event>)> {
    crate::session::list::session_ids(workspace)
        .into_iter()
        .filter(|id| Some(id.as_str()) != except)
        .filter_map(|id| {
            let read = crate::session::read_log(&crate::session::log_path(workspace, &id)).ok()?;
            Some((id, read.events))
        })
        .collect()
}

fn recent_checkpoints(sessions: &[(String, Vec<Event>)]) -> Vec<(String, Checkpoint)> {
    let mut all: Vec<(String, Checkpoint)> = sessions
        .iter()
        .flat_map(|(sid, events)| {
            events.iter().filter_map(move |e| match &e.kind {
                EventKind::CheckpointSaved { id, checkpoint, .. } => Some((format!("{sid}/{id}"), (**checkpoint).clone())),
                _ => None,
            })
        })
        .collect();
    let skip = all.len().saturating_sub(DREAM_CHECKPOINTS);
    all.drain(..skip);
    all
}

/// Asks the writer model for a consolidated MEMORY.md. `None` when there is nothing to
/// consolidate (no MEMORY.md entries). What the writer's calls cost is added to `spent`, failed
/// calls too.
pub async fn propose_dream(cfg: &AgentConfig, except: Option<&str>, spent: &mut Vec<Spent>) -> Result<Option<DreamResult>, String> {
    let memory = MemoryFile::load(&cfg.workspace).map_err(|e| e.to_string())?;
    if memory.entry_count() == 0 {
        return Ok(None);
    }
    let sessions = past_sessions(&cfg.workspace, except);
    let checkpoints = recent_checkpoints(&sessions);
    let ids: Vec<String> = sessions.iter().map(|(id, _)| id.clone()).collect();
    dream::dream(cfg.provider.as_ref(), &cfg.models.writer, &cfg.retry, &memory.render(), &checkpoints, &ids, spent)
        .await
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Mines past sessions and asks the writer model for skills (none, without a model call, when
/// nothing repeated). What the writer's calls cost is added to `spent`.
pub async fn distill_skills(
    cfg: &AgentConfig,
    except: Option<&str>,
    spent: &mut Vec<Spent>,
) -> Result<(Patterns, Vec<skills::Skill>), String> {
    let sessions = past_sessions(&cfg.workspace, except);
    let patterns = distill::mine(&sessions);
    if patterns.is_empty() {
        return Ok((patterns, Vec::new()));
    }
    let (existing, _) = skills::list_skills(&cfg.workspace);
    let found = distill::distill(cfg.provider.as_ref(), &cfg.models.writer, &cfg.retry, &patterns, &existing, spent)
        .await
        .map_err(|e| e.to_string())?;
    // Skills are files in the workspace, written from a model's answer: redacted like the log.
    let found = found.iter().map(|s| cfg.redactor.redacted(s).map_err(|e| e.to_string())).collect::<Result<Vec<_>, _>>()?;
    Ok((patterns, found))
}

/// [`distill_skills`], then writes them. Returns the names written.
async fn run_distill(cfg: &AgentConfig, except: Option<&str>, spent: &mut Vec<Spent>) -> Result<(Patterns, Vec<String>), String> {
    let (patterns, found) = distill_skills(cfg, except, spent).await?;
    let mut written = Vec::new();
    for skill in found {
        skills::write_skill(&cfg.workspace, &skill).map_err(|e| e.to_string())?;
        written.push(skill.name);
    }
    Ok((patterns, written))
}

/// At session start: dream when due (the workbench asks the supervisor to approve the new
/// MEMORY.md; headless only says it is due, since nobody can approve), distill when due.
pub(super) async fn at_session_start(
    cfg: &AgentConfig,
    rec: &SharedRecorder,
    proposals: &mut Vec<(u64, String, String)>,
) -> Result<(), LogError> {
    let now = Utc::now();
    let (mut state, warnings) = MemoryState::load(&cfg.workspace);
    for w in warnings {
        rec.emit(EventKind::Warning { message: w })?;
    }
    let session = rec.with_state(|s| s.info.as_ref().map(|i| i.session_id.clone()));
    let mut changed = false;
    if let Some(every) = cfg.memory.dream_every
        && state.dream_due(now, every)
    {
        match cfg.supervision {
            super::Supervision::Supervised => match dream_recorded(cfg, rec, session.as_deref()).await? {
                Ok(Some(d)) if d.content.trim() != MemoryFile::load(&cfg.workspace).map(|m| m.render()).unwrap_or_default().trim() => {
                    let id = rec.with_state(|s| s.memory_proposed) + 1;
                    rec.emit(EventKind::MemoryProposed { id, source: "dream".into(), diff: d.diff, content: d.content.clone() })?;
                    proposals.push((id, "dream".into(), d.content));
                    state.mark_dreamed(now);
                    changed = true;
                }
                Ok(_) => {
                    state.mark_dreamed(now);
                    changed = true;
                }
                Err(e) => rec.emit(EventKind::Warning { message: format!("dream (MEMORY.md consolidation) failed: {e}") })?,
            },
            super::Supervision::Headless => {
                if MemoryFile::load(&cfg.workspace).is_ok_and(|m| m.entry_count() > 0) {
                    rec.emit(EventKind::Warning {
                        message:
                            "MEMORY.md is due for consolidation: run `endure memory dream` to review the change, or `--yes` to apply it"
                                .into(),
                    })?;
                }
            }
        }
    }
    if let Some(every) = cfg.memory.distill_every
        && state.distill_due(now, every)
    {
        let mut spent = Vec::new();
        let distilled = run_distill(cfg, session.as_deref(), &mut spent).await;
        record_spent(cfg, rec, &spent)?;
        match distilled {
            Ok((_, written)) => {
                if !written.is_empty() {
                    rec.emit(EventKind::MemoryUpdated {
                        id: None,
                        source: "distill".into(),
                        added: written.len() as u32,
                        summary: format!("new skills: {}", written.join(", ")),
                    })?;
                }
                state.mark_distilled(now);
                changed = true;
            }
            Err(e) => rec.emit(EventKind::Warning { message: format!("distill (skills from past sessions) failed: {e}") })?,
        }
    }
    if changed && let Err(e) = state.save(&cfg.workspace) {
        rec.emit(EventKind::Warning { message: format!("cannot save .endure/state.json: {e}") })?;
    }
    Ok(())
}

/// [`propose_dream`], with what its model calls cost recorded in the session.
async fn dream_recorded(
    cfg: &AgentConfig,
    rec: &SharedRecorder,
    except: Option<&str>,
) -> Result<Result<Option<DreamResult>, String>, LogError> {
    let mut spent = Vec::new();
    let dreamed = propose_dream(cfg, except, &mut spent).await;
    record_spent(cfg, rec, &spent)?;
    Ok(dreamed)
}

/// Records what dream's or distill's model calls cost as the writer's `usage`, whatever their
/// outcome, so they count toward the session's budgets like every other role.
fn record_spent(cfg: &AgentConfig, rec: &SharedRecorder, spent: &[Spent]) -> Result<(), LogError> {
    spent.iter().try_for_each(|s| rec.emit_spent(&cfg.prices, s, false))
}

/// Applies or drops proposal `id` after the supervisor's answer (command `command_id`):
/// `memory_resolved` records the answer either way, and `memory_updated` the write.
pub(super) fn resolve_proposal(
    workspace: &Path,
    rec: &SharedRecorder,
    command_id: &str,
    id: u64,
    source: &str,
    content: &str,
    accept: bool,
) -> Result<(), LogError> {
    rec.emit_for(Some(command_id), EventKind::MemoryResolved { id, accept })?;
    if !accept {
        return Ok(());
    }
    let content = rec.redactor().redact(content);
    match crate::memory::memory_file::write_memory_md(&workspace.join("MEMORY.md"), content.as_bytes()) {
        Ok(()) => rec.emit_for(
            Some(command_id),
            EventKind::MemoryUpdated {
                id: Some(id),
                source: source.to_string(),
                added: 0,
                summary: format!("proposed by {source}, approved by the supervisor"),
            },
        ),
        Err(e) => rec.emit_for(Some(command_id), EventKind::Warning { message: format!("cannot write MEMORY.md: {e}") }),
    }
}

/// The supervisor's edit of MEMORY.md (`Command::SaveMemory`). Written when the file is
/// still the one the edit started from (`base_hash`); otherwise nothing is overwritten and
/// the edit becomes a proposal against the file as it is now, for the supervisor to accept
/// or reject. Returns that proposal (id, content).
pub(super) fn save_memory(
    workspace: &Path,
    rec: &SharedRecorder,
    command_id: &str,
    text: &str,
    base_hash: &str,
) -> Result<Option<(u64, String)>, LogError> {
    let path = workspace.join("MEMORY.md");
    let now = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            rec.emit_for(
                Some(command_id),
                EventKind::Warning { message: format!("cannot read MEMORY.md before saving: {e}; nothing was written") },
            )?;
            return Ok(None);
        }
    };
    let text = rec.redactor().redact(text).into_owned();
    if crate::workspace::sha256_hex(&now) != base_hash {
        let current = String::from_utf8_lossy(&now).into_owned();
        if current == text {
            return Ok(None);
        }
        let id = rec.with_state(|s| s.memory_proposed) + 1;
        let diff = crate::workspace::file_diff("MEMORY.md", "MEMORY.md", &current, &text);
        rec.emit_for(
            Some(command_id),
            EventKind::Warning {
                message: "MEMORY.md changed since you opened it: your edit was not written; it is proposed against the file as it is now"
                    .into(),
            },
        )?;
        rec.emit_for(Some(command_id), EventKind::MemoryProposed { id, source: "supervisor".into(), diff, content: text.clone() })?;
        return Ok(Some((id, text)));
    }
    let before = MemoryFile::parse(&String::from_utf8_lossy(&now)).entry_count();
    match crate::memory::memory_file::write_memory_md(&path, text.as_bytes()) {
        Ok(()) => {
            let after = MemoryFile::parse(&text).entry_count();
            rec.emit_for(
                Some(command_id),
                EventKind::MemoryUpdated {
                    id: None,
                    source: "supervisor".into(),
                    added: after.saturating_sub(before) as u32,
                    summary: "edited by the supervisor".into(),
                },
            )?;
        }
        Err(e) => {
            rec.emit_for(Some(command_id), EventKind::Warning { message: format!("cannot write MEMORY.md: {e}; your edit was not saved") })?
        }
    }
    Ok(None)
}
