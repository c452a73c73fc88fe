//! The background work of a session host: scheduled backups while unlocked, and auto-lock
//! after the idle period.
//!
//! Backups run in whichever process has the vault unlocked: a background thread checks right
//! after each unlock (so a run missed while nothing was unlocked happens then), when the backup
//! plan changes, and every minute. When the vault's schedule says a backup is due, crm-core
//! prepares a backup job (`Session::start_due_backups`) and the job runs off the session
//! (`BackupJob::run`): search, lists and edits keep working meanwhile. Progress
//! (`scheduled_backup`) and the outcome ([`ScheduledBackup`]) go to the event sink. A run that
//! failed is retried at the next unlock or plan change, or after [`RETRY_AFTER_FAILURE`], not
//! every minute.
//!
//! A due backup runs for whoever is signed in, whatever their role: it protects everyone and
//! shows the signed-in user nothing, and crm-core decides who may start one (any session may
//! make a due backup; "Back up now" needs the run-backups right).

use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use crm_core::backup::RunReport;
use crm_core::vault::ProgressFn;

use super::host::SessionHost;
use crate::error::ApiResult;
use crate::events::{EventSink, Locked, ScheduledBackup, progress_to};

/// How often the schedule is checked while unlocked.
pub const CHECK_EVERY: Duration = Duration::from_secs(60);

/// How long a failed scheduled run waits before it is tried again (unless the user unlocks or
/// changes the plan first).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(15 * 60);

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
pub fn run_if_due(host: &SessionHost, progress: ProgressFn<'_>) -> ApiResult<Outcome> {
    if host.running_operation().is_some() || host.running_backup().is_some() {
        return Ok(Outcome::Busy);
    }
    let started = host.start_backup("a scheduled backup", false, |session| {
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

/// Starts the scheduler thread (once per host; later calls do nothing).
pub fn start_scheduler(host: SessionHost, events: Arc<dyn EventSink>) {
    let Some(wakeups) = host.take_scheduler_wakeups() else {
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
                let mut progress = progress_to(events.as_ref(), "scheduled_backup");
                let outcome = match run_if_due(&host, &mut progress) {
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
                        ScheduledBackup {
                            made: crate::error::count(report.made.len()),
                            problem,
                        }
                    }
                    Ok(_) => continue,
                    Err(error) => {
                        tracing::warn!("scheduled backup failed: {}", error.message);
                        retry_at = Some(Instant::now() + RETRY_AFTER_FAILURE);
                        ScheduledBackup {
                            made: 0,
                            problem: Some(error.message),
                        }
                    }
                };
                events.scheduled_backup(outcome);
            }
        });
    if let Err(error) = spawned {
        // The host still works; backups then run from "Back up now" or the agent.
        tracing::error!("cannot start the backup scheduler: {error}");
    }
}

/// Checks for idleness every second and locks when the period has passed, telling the front
/// end so it shows the unlock screen. Without this thread the vault would stay open, so a
/// host that cannot start it refuses to run.
pub fn start_idle_timer(host: SessionHost, events: Arc<dyn EventSink>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("auto-lock".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                if host.auto_lock_if_idle() {
                    host.recovery().take();
                    events.locked(Locked {
                        reason: "idle".into(),
                    });
                }
            }
        })
        .map(drop)
}
