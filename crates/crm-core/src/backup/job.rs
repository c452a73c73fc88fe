//! A backup run in three steps, so the long part needs no session.
//!
//! 1. [`Session::start_backup_now`] or [`Session::start_due_backups`] checks the rights and the
//!    schedule and returns a [`BackupJob`]: its own connection to the live database (with its
//!    own shared vault lock), the recipients, the erasure log and the destinations.
//!    This takes milliseconds.
//! 2. [`BackupJob::run`] copies, seals and verifies each backup under `.partial-<id>/`, and
//!    runs a restore drill when one is due. It may take minutes and borrows nothing: the
//!    caller's session stays free (the desktop keeps its session behind a mutex and releases it
//!    meanwhile), and people keep writing (the copy is one read transaction in WAL mode).
//! 3. [`Session::finish_backup_job`] records each run, renames each backup into the listing,
//!    prunes and alerts. It never fails: every problem is in the [`RunReport`].
//!
//! Each destination is attempted on its own: one missing drive does not stop the others.
//! A run's key is recorded (as `pending`) before its backup is renamed into the listing, and
//! the run is marked verified or failed only once the backup is in place, so the vault holds
//! the key of every listed backup and never counts a backup that is not there. A job dropped
//! without being finished (the app locked meanwhile) removes its unfinished backups.
//!
//! [`Session::run_due_backups`] does all three at once: the catch-up after every unlock and the
//! agent's tick.

use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Local, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use uuid::Uuid;

use super::archive::{self, BackupKey, PARTIAL_PREFIX, StatusFile};
use super::destination;
use super::erasure_log;
use super::manifest::{self, MANIFEST_FILE, Manifest, PAYLOAD_FILE, SEALED_KEY_FILE, SealedKey};
use super::{ALERT_KIND, BackupInfo, BackupState, DrillReport, Retention};
use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::policy::Right;
use crate::records::erase::Erasure;
use crate::schema::SCHEMA_VERSION;
use crate::vault::{Progress, ProgressFn, Session, SideConnection};

/// A destination (or drill) that failed is tried again after this long, not at every check:
/// an unplugged drive raises one alert an hour, not one a minute.
pub const RETRY_AFTER_MINUTES: i64 = 60;

/// The lock file that keeps two processes (the desktop app and the agent) from making the
/// same scheduled backups at once.
const RUN_LOCK_FILE: &str = "backup-run.lock";

/// A prepared backup run; see the module doc. `Send`: run it on another thread.
#[derive(Debug)]
pub struct BackupJob {
    side: SideConnection,
    vault_id: Uuid,
    made_by: String,
    recipients: Vec<String>,
    erasures: Vec<Erasure>,
    targets: Vec<Target>,
    drill: Option<DrillPlan>,
    retention: Option<Retention>,
    run_lock: Option<RunLock>,
}

#[derive(Debug, Clone)]
struct Target {
    destination: PathBuf,
    /// A configured destination must carry the vault's marker.
    configured: bool,
}

/// A restore drill to run after the backups: of the newest backup this job makes, else of
/// `fallback` (the newest verified backup present when the job started).
#[derive(Debug)]
struct DrillPlan {
    fallback: Option<(PathBuf, Manifest, BackupKey)>,
}

/// A backup written and checked under its `.partial-` name, not yet in the listing. Dropped
/// without being installed, it is removed.
#[derive(Debug)]
struct Prepared {
    id: String,
    partial: PathBuf,
    manifest: Manifest,
    key: BackupKey,
    problems: Vec<String>,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        // After a successful rename the partial name no longer exists: nothing to remove.
        if self.partial.exists() {
            let _ = std::fs::remove_dir_all(&self.partial);
        }
    }
}

#[derive(Debug)]
struct Attempt {
    destination: PathBuf,
    started: DateTime<Utc>,
    result: Result<Prepared>,
}

#[derive(Debug)]
struct DrillOutcome {
    /// The backup directory drilled (its final name).
    dir: PathBuf,
    backup_id: String,
    started: DateTime<Utc>,
    result: Result<DrillReport>,
}

/// A job that has run; hand it to [`Session::finish_backup_job`].
#[derive(Debug)]
pub struct FinishedJob {
    attempts: Vec<Attempt>,
    drill: Option<DrillOutcome>,
    retention: Option<Retention>,
    _run_lock: Option<RunLock>,
}

/// What a run did, for the caller to show. Nothing in it is secret.
#[derive(Debug, Default, Clone, Serialize)]
pub struct RunReport {
    /// Backups now in the listing (verified, or failed their own check and kept).
    pub made: Vec<BackupInfo>,
    /// Everything that went wrong, each naming the destination or backup.
    pub failures: Vec<RunFailure>,
    /// Backups removed by retention.
    pub pruned: Vec<String>,
    /// The restore drill, if one ran.
    pub drill: Option<DrillReport>,
}

impl RunReport {
    /// Whether nothing went wrong.
    pub fn succeeded(&self) -> bool {
        self.failures.is_empty()
    }

    /// Whether the run did nothing at all (nothing was due).
    pub fn is_empty(&self) -> bool {
        self.made.is_empty()
            && self.failures.is_empty()
            && self.pruned.is_empty()
            && self.drill.is_none()
    }

    /// The failures in one line, for an error message.
    pub fn failure_text(&self) -> String {
        self.failures
            .iter()
            .map(|failure| failure.problem.clone())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// One thing that went wrong in a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunFailure {
    /// The destination or backup concerned, if any.
    pub path: Option<PathBuf>,
    /// What went wrong (names the file or check).
    pub problem: String,
}

impl RunFailure {
    fn at(path: &Path, problem: impl Into<String>) -> Self {
        Self {
            path: Some(path.to_path_buf()),
            problem: problem.into(),
        }
    }
}

/// Held while scheduled backups run; another process finds it taken and skips.
#[derive(Debug)]
struct RunLock {
    _file: File,
}

impl RunLock {
    fn try_acquire(vault_dir: &Path) -> Result<Option<Self>> {
        let path = vault_dir.join(RUN_LOCK_FILE);
        let file = crate::fsutil::open_private(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(error)) => {
                Err(Error::io(format!("locking {}", path.display()))(error))
            }
        }
    }
}

impl Session {
    /// Prepares a backup now, to `to` or to every configured destination. Needs the
    /// run-backups right.
    pub fn start_backup_now(&self, to: Option<&Path>) -> Result<BackupJob> {
        self.require_right(Right::RunBackups)?;
        let settings = self.stored_backup_settings()?;
        let targets = match to {
            Some(path) => vec![Target {
                destination: path.to_path_buf(),
                configured: settings.destinations.iter().any(|known| known == path),
            }],
            None if settings.destinations.is_empty() => {
                return Err(Error::Backup(
                    "no backup destination: pass --to DIR or set one with `crm backup settings --destination DIR`"
                        .into(),
                ));
            }
            None => settings
                .destinations
                .iter()
                .map(|destination| Target {
                    destination: destination.clone(),
                    configured: true,
                })
                .collect(),
        };
        self.job(targets, None, None, None)
    }

    /// Prepares what the schedule says is due now: a backup to each configured destination
    /// whose newest verified backup is older than the latest scheduled moment, and a restore
    /// drill when the last one is older than the drill interval. `None` when nothing is due, or
    /// when another process is making the scheduled backups right now. Any session may run
    /// it: a backup reveals nothing to the user who triggers it.
    pub fn start_due_backups(&self) -> Result<Option<BackupJob>> {
        let settings = self.stored_backup_settings()?;
        if settings.destinations.is_empty() {
            return Ok(None);
        }
        let Some(run_lock) = RunLock::try_acquire(&self.paths().dir)? else {
            return Ok(None);
        };
        let now = Utc::now();
        let states = self.destination_states(&settings, now)?;
        let targets: Vec<Target> = states
            .iter()
            .filter(|state| state.due)
            .map(|state| Target {
                destination: state.path.clone(),
                configured: true,
            })
            .collect();
        let drill = if self.drill_due(&settings, now)? {
            let fallback = self.newest_drillable(&states)?;
            (fallback.is_some() || !targets.is_empty()).then_some(DrillPlan { fallback })
        } else {
            None
        };
        if targets.is_empty() && drill.is_none() {
            return Ok(None);
        }
        self.job(targets, drill, Some(settings.retention), Some(run_lock))
            .map(Some)
    }

    /// Runs what is due now, start to finish, and says what happened. Never fails: call it
    /// after every unlock (a missed run catches up) and from the agent's loop. Holds the
    /// session for the whole run; the desktop uses the three steps instead.
    pub fn run_due_backups(&mut self, progress: ProgressFn<'_>) -> RunReport {
        match self.start_due_backups() {
            Ok(Some(job)) => {
                let finished = job.run(progress);
                self.finish_backup_job(finished)
            }
            Ok(None) => RunReport::default(),
            Err(error) => RunReport {
                failures: vec![RunFailure {
                    path: None,
                    problem: format!("could not check which backups are due: {error}"),
                }],
                ..RunReport::default()
            },
        }
    }

    /// Makes and verifies a backup now, to `to` or to every configured destination; every
    /// destination is attempted. Needs the run-backups right. The error names every
    /// destination that failed (a backup failing its own check is kept, listed as failed and
    /// alerted on); the backups made elsewhere stay.
    pub fn backup_now(
        &mut self,
        to: Option<&Path>,
        progress: ProgressFn<'_>,
    ) -> Result<Vec<BackupInfo>> {
        let job = self.start_backup_now(to)?;
        let finished = job.run(progress);
        let report = self.finish_backup_job(finished);
        if report.succeeded() {
            Ok(report.made)
        } else {
            Err(Error::Backup(report.failure_text()))
        }
    }

    fn job(
        &self,
        targets: Vec<Target>,
        drill: Option<DrillPlan>,
        retention: Option<Retention>,
        run_lock: Option<RunLock>,
    ) -> Result<BackupJob> {
        let settings = self.stored_backup_settings()?;
        let recipients = self.backup_recipients(&settings);
        let erasures = crate::records::erase::read_log(&self.paths().dir)?;
        Ok(BackupJob {
            side: self.open_side_connection()?,
            vault_id: self.vault_id(),
            made_by: self.user().name.clone(),
            recipients,
            erasures,
            targets,
            drill,
            retention,
            run_lock,
        })
    }

    /// Records each run, installs each backup, prunes after a new verified backup (scheduled
    /// runs), records the drill. Never fails: problems are in the report and alerted on.
    pub fn finish_backup_job(&mut self, finished: FinishedJob) -> RunReport {
        let mut report = RunReport::default();
        let mut fresh = Vec::new();
        for attempt in finished.attempts {
            match attempt.result {
                Err(error) => {
                    let problem = problem_text(&error);
                    if let Err(error) = self.record_run(
                        "backup",
                        None,
                        &attempt.destination,
                        attempt.started,
                        Some(&problem),
                        None,
                    ) {
                        report.failures.push(RunFailure::at(
                            &attempt.destination,
                            format!("the failure could not be recorded: {error}"),
                        ));
                    }
                    report
                        .failures
                        .push(RunFailure::at(&attempt.destination, problem));
                }
                Ok(prepared) => {
                    match self.install(&attempt.destination, attempt.started, prepared) {
                        Ok(info) => {
                            if info.state == BackupState::Verified {
                                fresh.push(attempt.destination.clone());
                            } else {
                                report.failures.push(RunFailure::at(
                                    &info.path,
                                    format!(
                                        "backup {} failed verification (kept for inspection): {}",
                                        info.id,
                                        info.problems.join("; ")
                                    ),
                                ));
                            }
                            report.made.push(info);
                        }
                        Err(error) => report
                            .failures
                            .push(RunFailure::at(&attempt.destination, problem_text(&error))),
                    }
                }
            }
        }
        if let Some(retention) = finished.retention {
            for destination in &fresh {
                match self.prune_in(destination, &retention) {
                    Ok(removed) => report.pruned.extend(removed),
                    Err(error) => report.failures.push(RunFailure::at(
                        destination,
                        format!("pruning failed: {error}"),
                    )),
                }
            }
        }
        if let Some(drill) = finished.drill {
            let problem = match &drill.result {
                Ok(found) if found.problems.is_empty() => None,
                Ok(found) => Some(found.problems.join("; ")),
                Err(error) => Some(problem_text(error)),
            };
            if let Err(error) = self.record_run(
                "drill",
                Some(&drill.backup_id),
                &drill.dir,
                drill.started,
                problem.as_deref(),
                None,
            ) {
                report.failures.push(RunFailure::at(
                    &drill.dir,
                    format!("the drill could not be recorded: {error}"),
                ));
            }
            if let Some(problem) = &problem {
                report.failures.push(RunFailure::at(
                    &drill.dir,
                    format!("restore drill of {} failed: {problem}", drill.backup_id),
                ));
            }
            if let Ok(found) = drill.result {
                report.drill = Some(found);
            }
        }
        report
    }

    /// Records the run with its key (pending), renames the backup into the listing, then
    /// records the outcome (and alerts on a failed check).
    fn install(
        &mut self,
        destination: &Path,
        started: DateTime<Utc>,
        prepared: Prepared,
    ) -> Result<BackupInfo> {
        let run = self.record_pending(&prepared, destination, started)?;
        crate::fault::point("backup:before-rename");
        let final_dir = destination.join(&prepared.id);
        if let Err(error) = std::fs::rename(&prepared.partial, &final_dir)
            .map_err(Error::io(format!(
                "installing backup {}",
                final_dir.display()
            )))
            .and_then(|()| fsutil::sync_dir(destination))
        {
            let problem = error.to_string();
            self.complete_run(run, &prepared.id, destination, Some(&problem))?;
            return Err(error);
        }
        crate::fault::point("backup:after-rename");
        let problem = (!prepared.problems.is_empty()).then(|| prepared.problems.join("; "));
        self.complete_run(run, &prepared.id, destination, problem.as_deref())?;
        Ok(BackupInfo::from_manifest(
            &final_dir,
            prepared.manifest.clone(),
        ))
    }

    fn record_pending(
        &mut self,
        prepared: &Prepared,
        destination: &Path,
        started: DateTime<Utc>,
    ) -> Result<i64> {
        let key_hex = prepared.key.as_data_key().to_hex();
        let destination = destination.display().to_string();
        self.write(|tx, _| {
            tx.execute(
                "INSERT INTO backup_runs (kind, backup_id, destination, started_at, finished_at,
                     outcome, problem, size_bytes, backup_key)
                 VALUES ('backup', ?1, ?2, ?3, ?4, 'pending', NULL, ?5, ?6)",
                params![
                    prepared.id,
                    destination,
                    started.to_rfc3339(),
                    Utc::now().to_rfc3339(),
                    prepared.manifest.payload.size_bytes as i64,
                    key_hex.expose(),
                ],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    fn complete_run(
        &mut self,
        run: i64,
        backup_id: &str,
        destination: &Path,
        problem: Option<&str>,
    ) -> Result<()> {
        let destination = destination.display().to_string();
        self.write(|tx, audit| {
            tx.execute(
                "UPDATE backup_runs SET outcome = ?1, problem = ?2, finished_at = ?3 WHERE id = ?4",
                params![
                    if problem.is_none() {
                        "verified"
                    } else {
                        "failed"
                    },
                    problem,
                    Utc::now().to_rfc3339(),
                    run
                ],
            )?;
            if problem.is_some() {
                crate::audit::alerts::raise(tx, "-", ALERT_KIND, Utc::now())?;
            }
            audit.record(
                AuditEvent::new(AuditAction::Backup)
                    .target("backup", backup_id)
                    .detail("kind", "backup")
                    .detail("destination", &destination)
                    .detail("passed", problem.is_none()),
            );
            Ok(())
        })
    }

    /// Records a finished run that installed nothing (a failed write) or a drill.
    pub(crate) fn record_run(
        &mut self,
        kind: &str,
        backup_id: Option<&str>,
        destination: &Path,
        started: DateTime<Utc>,
        problem: Option<&str>,
        size: Option<u64>,
    ) -> Result<()> {
        let destination = destination.display().to_string();
        self.write(|tx, audit| {
            tx.execute(
                "INSERT INTO backup_runs (kind, backup_id, destination, started_at, finished_at,
                     outcome, problem, size_bytes, backup_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL)",
                params![
                    kind,
                    backup_id,
                    destination,
                    started.to_rfc3339(),
                    Utc::now().to_rfc3339(),
                    if problem.is_none() {
                        "verified"
                    } else {
                        "failed"
                    },
                    problem,
                    size.map(|size| size as i64),
                ],
            )?;
            if problem.is_some() {
                crate::audit::alerts::raise(tx, "-", ALERT_KIND, Utc::now())?;
            }
            let action = if kind == "drill" {
                AuditAction::BackupVerified
            } else {
                AuditAction::Backup
            };
            let mut event = AuditEvent::new(action)
                .detail("kind", kind)
                .detail("destination", &destination)
                .detail("passed", problem.is_none());
            if let Some(id) = backup_id {
                event = event.target("backup", id);
            }
            audit.record(event);
            Ok(())
        })
    }

    /// The latest failed attempt of `kind` at `place` (a destination, or any for drills).
    pub(crate) fn last_failed_attempt(
        &self,
        kind: &str,
        place: Option<&Path>,
    ) -> Result<Option<DateTime<Utc>>> {
        let place = place.map(|path| path.display().to_string());
        let at: Option<String> = self
            .store()
            .conn()
            .query_row(
                "SELECT max(started_at) FROM backup_runs
                 WHERE kind = ?1 AND outcome = 'failed' AND (?2 IS NULL OR destination = ?2)",
                params![kind, place],
                |row| row.get(0),
            )
            .optional()?
            .flatten();
        Ok(at.and_then(|text| parse_time(&text)))
    }

    /// Whether a drill is due: the drill interval has passed since the last good drill, and
    /// no drill failed within the retry period.
    fn drill_due(&self, settings: &super::BackupSettings, now: DateTime<Utc>) -> Result<bool> {
        if settings.drill_interval_days == 0 {
            return Ok(false);
        }
        let interval = Duration::days(i64::from(settings.drill_interval_days));
        let last_good = self.last_good_run("drill")?;
        if last_good.is_some_and(|at| now - at < interval) {
            return Ok(false);
        }
        let failed_recently = self
            .last_failed_attempt("drill", None)?
            .is_some_and(|at| now - at < Duration::minutes(RETRY_AFTER_MINUTES));
        Ok(!failed_recently)
    }

    /// The newest verified backup present in a ready destination whose key this vault holds.
    fn newest_drillable(
        &self,
        states: &[super::DestinationStatus],
    ) -> Result<Option<(PathBuf, Manifest, BackupKey)>> {
        let mut candidates = Vec::new();
        for state in states.iter().filter(|state| state.reachable) {
            if let Ok(backups) = destination::scan(&state.path, self.vault_id()) {
                candidates.extend(
                    backups
                        .into_iter()
                        .filter(|info| info.state == BackupState::Verified),
                );
            }
        }
        candidates.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        for info in candidates.into_iter().rev() {
            if let Some(key) = self.stored_key(&info.id)? {
                let manifest = Manifest::read(&info.path)?;
                return Ok(Some((info.path, manifest, key)));
            }
        }
        Ok(None)
    }

    /// The start of the newest good run of `kind` on record.
    pub(crate) fn last_good_run(&self, kind: &str) -> Result<Option<DateTime<Utc>>> {
        let at: Option<String> = self.store().conn().query_row(
            "SELECT max(started_at) FROM backup_runs WHERE kind = ?1 AND outcome = 'verified'",
            [kind],
            |row| row.get(0),
        )?;
        Ok(at.and_then(|text| parse_time(&text)))
    }

    /// This vault's own record of a backup's key.
    pub(crate) fn stored_key(&self, backup_id: &str) -> Result<Option<BackupKey>> {
        let hex_key: Option<zeroize::Zeroizing<String>> = self
            .store()
            .conn()
            .query_row(
                "SELECT backup_key FROM backup_runs
                 WHERE kind = 'backup' AND backup_id = ?1 AND backup_key IS NOT NULL
                 ORDER BY id DESC LIMIT 1",
                [backup_id],
                |row| row.get::<_, String>(0).map(zeroize::Zeroizing::new),
            )
            .optional()?;
        hex_key.map(|text| BackupKey::from_hex(&text)).transpose()
    }
}

/// An error as a report line: without the `backup:` prefix the report's own error adds again.
fn problem_text(error: &Error) -> String {
    match error {
        Error::Backup(message) => message.clone(),
        other => other.to_string(),
    }
}

/// An RFC 3339 time as stored, in UTC.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

impl BackupJob {
    /// The destinations this job will back up to.
    pub fn destinations(&self) -> Vec<PathBuf> {
        self.targets
            .iter()
            .map(|target| target.destination.clone())
            .collect()
    }

    /// Makes, seals and verifies each backup (each destination on its own), then the drill if
    /// one is due. Never fails: the outcome of each step is in the [`FinishedJob`].
    pub fn run(self, progress: ProgressFn<'_>) -> FinishedJob {
        let mut attempts = Vec::new();
        for target in &self.targets {
            let started = Utc::now();
            let result = self
                .write_backup(target, started, progress)
                .map_err(|error| explain_write_failure(&target.destination, error));
            attempts.push(Attempt {
                destination: target.destination.clone(),
                started,
                result,
            });
        }
        let drill = self.drill.as_ref().and_then(|plan| {
            let fresh = attempts
                .iter()
                .rev()
                .find_map(|attempt| match &attempt.result {
                    Ok(prepared) if prepared.problems.is_empty() => Some((
                        attempt.destination.join(&prepared.id),
                        prepared.partial.clone(),
                        &prepared.manifest,
                        &prepared.key,
                    )),
                    _ => None,
                });
            let (dir, read_from, manifest, key) = match (&fresh, &plan.fallback) {
                (Some((dir, partial, manifest, key)), _) => {
                    (dir.clone(), partial.clone(), *manifest, *key)
                }
                (None, Some((dir, manifest, key))) => (dir.clone(), dir.clone(), manifest, key),
                (None, None) => return None,
            };
            let started = Utc::now();
            Some(DrillOutcome {
                dir,
                backup_id: manifest.backup_id.clone(),
                started,
                result: super::drill_with_key(&read_from, manifest, key, progress),
            })
        });
        FinishedJob {
            attempts,
            drill,
            retention: self.retention,
            _run_lock: self.run_lock,
        }
    }

    /// Writes and checks one backup under its `.partial-` name.
    fn write_backup(
        &self,
        target: &Target,
        started: DateTime<Utc>,
        progress: ProgressFn<'_>,
    ) -> Result<Prepared> {
        let report = |progress: &mut dyn FnMut(Progress), step: &str, done: u64| {
            progress(Progress {
                step: step.into(),
                done,
                total: 4,
            })
        };
        let destination = &target.destination;
        destination::check_ready(destination, self.vault_id, target.configured)?;
        let id = archive::new_backup_id(started);
        let partial = destination.join(format!("{PARTIAL_PREFIX}{id}"));
        fsutil::create_private_dir(&partial)?;
        // From here on the partial directory is removed on any failure (by `Prepared`'s drop,
        // or below), so a full disk or a vanished drive leaves nothing behind.
        let written = (|| {
            report(progress, "copying the database under a new backup key", 0);
            let key = BackupKey::generate();
            crate::fault::point("backup:before-copy");
            let facts = self.side.store.export_copy(
                &partial.join(PAYLOAD_FILE),
                key.as_data_key(),
                archive::read_facts,
            )?;
            if crate::fault::injected("backup:destination-full") {
                return Err(Error::Io {
                    context: format!("writing {}", partial.join(PAYLOAD_FILE).display()),
                    source: std::io::Error::from(std::io::ErrorKind::StorageFull),
                });
            }
            crate::fault::point("backup:after-copy");
            report(
                progress,
                "sealing the backup key and writing the manifest",
                1,
            );
            let sealed = archive::seal_key(self.vault_id, &id, &key, &self.recipients)?;
            archive::write_file(&partial, SEALED_KEY_FILE, &sealed)?;
            let manifest = Manifest {
                format: manifest::FORMAT.into(),
                version: manifest::VERSION,
                backup_id: id.clone(),
                vault_id: self.vault_id,
                created_at: started.to_rfc3339(),
                schema_version: SCHEMA_VERSION,
                made_by: self.made_by.clone(),
                payload: archive::digest_file(&partial, PAYLOAD_FILE)?,
                sealed_key: SealedKey {
                    file: archive::digest_file(&partial, SEALED_KEY_FILE)?,
                    recipients: self.recipients.clone(),
                },
                row_counts: facts.row_counts,
                audit_head: facts.audit_head,
            };
            archive::write_file(&partial, MANIFEST_FILE, &manifest.to_json()?)?;
            if crate::fault::injected("backup:damage-before-verify") {
                damage_one_byte(&partial.join(PAYLOAD_FILE))?;
            }
            crate::fault::point("backup:before-verify");
            report(progress, "verifying the backup", 2);
            let problems =
                archive::verify_dir(&partial, &manifest, Some(&key), archive::Depth::Quick);
            StatusFile::new(problems.clone()).write(&partial)?;
            fsutil::sync_dir(&partial)?;
            // Last, so a backup that could not be written leaves nothing behind; a restore of
            // this backup finds the erasures made up to now beside it.
            erasure_log::write(destination, self.vault_id, &self.erasures, &self.recipients)?;
            Ok(Prepared {
                id: id.clone(),
                partial: partial.clone(),
                manifest,
                key,
                problems,
            })
        })();
        if written.is_err() {
            let _ = std::fs::remove_dir_all(&partial);
        }
        written
    }
}

/// Flips one byte in the middle of `path` (the `backup:damage-before-verify` fault: a copy
/// damaged on its way to the disk, which the check after the backup must catch).
fn damage_one_byte(path: &Path) -> Result<()> {
    let mut bytes =
        std::fs::read(path).map_err(Error::io(format!("reading {}", path.display())))?;
    let middle = bytes.len() / 2;
    if let Some(byte) = bytes.get_mut(middle) {
        *byte ^= 0x01;
    }
    std::fs::write(path, bytes).map_err(Error::io(format!("writing {}", path.display())))
}

/// A failed write said plainly: a full destination is named as such.
fn explain_write_failure(destination: &Path, error: Error) -> Error {
    let out_of_space = match &error {
        Error::Io { source, .. } => matches!(
            source.kind(),
            std::io::ErrorKind::StorageFull
                | std::io::ErrorKind::QuotaExceeded
                | std::io::ErrorKind::FileTooLarge
        ),
        Error::DiskFull { .. } => true,
        Error::Database { message, .. }
        | Error::DatabaseDamaged {
            reason: message, ..
        } => message.contains("database or disk is full"),
        _ => false,
    };
    if out_of_space {
        Error::Backup(format!(
            "destination {} is full (no space left for the backup; nothing was kept there): {error}",
            destination.display()
        ))
    } else {
        error
    }
}

/// Newest first: which backup of `backups` the status calls the newest verified one.
pub(crate) fn newest_verified(backups: &[BackupInfo]) -> Option<DateTime<Utc>> {
    backups
        .iter()
        .filter(|info| info.state == BackupState::Verified)
        .filter_map(destination::created_at)
        .max()
}

/// The local time zone's view of `at`, for people (RFC 3339 with the local offset).
pub(crate) fn local_text(at: DateTime<Utc>) -> String {
    at.with_timezone(&Local).to_rfc3339()
}
