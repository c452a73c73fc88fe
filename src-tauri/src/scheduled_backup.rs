//! Scheduled backups while the app is unlocked.
//!
//! Backups run in whichever process has the vault unlocked: here, a background thread checks
//! right after each unlock (so a run missed while nothing was unlocked happens then), when the
//! backup plan changes, and every minute. When the vault's schedule says a backup is due,
//! crm-core prepares a backup job (`Session::start_due_backups`) and the job runs off the
//! session (`BackupJob::run`): search, lists and edits keep working meanwhile. Progress events
//! (`scheduled_backup`) show in the window, and a [`ScheduledBackupEvent`] reports the outcome.
//! A run that failed is retried at the next unlock or plan change, or after
//! [`RETRY_AFTER_FAILURE`], not every minute.
//!
//! A due backup runs for whoever is signed in, whatever their role: it protects everyone and
//! shows the signed-in user nothing, and crm-core decides who may start one (any session may
//! make a due backup; "Back up now" needs the run-backups right).
//!
//! This module is the app's one call site of the scheduled run ([`run_if_due`]).

use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use crm_core::backup::RunReport;
use crm_core::vault::ProgressFn;
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, Runtime};
use tauri_specta::Event;

use crate::commands::users::emit_progress;
use crate::error::CommandResult;
use crate::state::AppState;

/// How often the schedule is checked while unlocked.
pub const CHECK_EVERY: Duration = Duration::from_secs(60);

/// How long a failed scheduled run waits before it is tried again (unless the user unlocks or
/// changes the plan first).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(15 * 60);

/// A scheduled backup finished (or failed), for the window to tell the user.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, Event)]
pub struct ScheduledBackupEvent {
    /// Verified backups made (one per destination).
    pub made: u32,
    /// Why the run failed, if it did.
    pub problem: Option<String>,
}

/// What a check of the schedule did.
#[derive(Debug)]
pub enum Outcome {
    /// Nobody is signed in.
    Locked,
    /// No backup is due (or no destination is set, or another process is making it).
    NotDue,
    /// Another backup, or a long operation holding the session, is running; the next check
    /// tries again.
    Busy,
    /// The due backups ran: what was made, and what went wrong.
    Made(RunReport),
}

/// Runs the due backup now if the schedule says so. Checking does not count as user activity
/// (it must not hold auto-lock off), and the run does not hold the session.
pub fn run_if_due(state: &AppState, progress: ProgressFn<'_>) -> CommandResult<Outcome> {
    if state.running_operation().is_some() || state.running_backup().is_some() {
        return Ok(Outcome::Busy);
    }
    let started = state.start_backup("a scheduled backup", false, |session| {
        Ok(session.start_due_backups()?)
    });
    let (run, job) = match started {
        Ok(Some(started)) => started,
        Ok(None) => return Ok(Outcome::NotDue),
        Err(error) if error.code == "locked" => return Ok(Outcome::Locked),
        Err(error) if error.code == "busy" => return Ok(Outcome::Busy),
        Err(error) => return Err(error),
    };
    let finished = job.run(progress);
    Ok(Outcome::Made(run.finish(finished)))
}

/// Starts the scheduler thread (once; later calls do nothing).
pub fn start<R: Runtime>(app: AppHandle<R>) {
    let state = app.state::<AppState>().inner().clone();
    let Some(wakeups) = state.take_scheduler_wakeups() else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("backup-scheduler".into())
        .spawn(move || {
            let mut retry_at: Option<Instant> = None;
            loop {
                match wakeups.recv_timeout(CHECK_EVERY) {
                    // An unlock or a changed plan: try now, even after a failure.
                    Ok(()) => retry_at = None,
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
                if retry_at.is_some_and(|at| Instant::now() < at) {
                    continue;
                }
                let mut progress = emit_progress(&app, "scheduled_backup");
                let event = match run_if_due(&state, &mut progress) {
                    Ok(Outcome::Made(report)) => {
                        let problem = (!report.succeeded()).then(|| {
                            report
                                .failures
                                .iter()
                                .map(|failure| failure.problem.as_str())
                                .collect::<Vec<_>>()
                                .join("; ")
                        });
                        retry_at = problem
                            .as_ref()
                            .map(|_| Instant::now() + RETRY_AFTER_FAILURE);
                        ScheduledBackupEvent {
                            made: u32::try_from(report.made.len()).unwrap_or(u32::MAX),
                            problem,
                        }
                    }
                    Ok(_) => continue,
                    Err(error) => {
                        tracing::warn!("scheduled backup failed: {}", error.message);
                        retry_at = Some(Instant::now() + RETRY_AFTER_FAILURE);
                        ScheduledBackupEvent {
                            made: 0,
                            problem: Some(error.message),
                        }
                    }
                };
                if let Err(error) = event.emit(&app) {
                    tracing::warn!("could not announce the scheduled backup: {error}");
                }
            }
        });
    if let Err(error) = spawned {
        // The app still works; backups then run from "Back up now" or the agent.
        tracing::error!("cannot start the backup scheduler: {error}");
    }
}
