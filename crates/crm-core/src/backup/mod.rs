//! Scheduled, encrypted, verified backups; retention; restore drills and restore.
//!
//! A backup is a directory `<destination>/<id>/` holding:
//!
//! | file | what |
//! |---|---|
//! | `vault.db` | a consistent SQLCipher copy of the live database under a fresh random backup key |
//! | `backup-key.age` | that key, sealed with age to the vault's recovery recipient (+ extra recipients) |
//! | `manifest.json` | format, schema version, vault id, sizes, SHA-256s, row counts, audit head |
//! | `status.json` | the latest verification: `verified` or `failed`, with the problems found |
//!
//! Beside the backups each destination holds the vault's marker
//! (`strongroom-destination-<vault id>.json`, see [`destination`]) and its sealed erasure log
//! (`strongroom-erasures-<vault id>.age`, see [`erasure_log`]).
//!
//! A backup is written under `.partial-<id>/`, synced, verified and only then renamed into the
//! listing, so a killed process never leaves a partial backup that looks good. The copy is
//! taken on its own connection inside one read transaction in WAL mode: people keep writing
//! while it runs, and the session that started it is free meanwhile ([`job`]).
//!
//! What counts is what is on disk: the status, the schedule and drills look at the verified
//! backups of this vault actually present in the destinations, not at the vault's own records
//! of past runs. The live vault keeps each backup's key (inside the encrypted database, table
//! `backup_runs`), so it can re-verify and drill its own backups without the offline recovery
//! identity; a restore on another machine needs only the backup and the recovery identity.
//! Format details: `docs/backup-format.md`.

mod archive;
pub mod destination;
pub mod erasure_log;
pub mod job;
pub mod manifest;
mod restore;
mod retention;
pub mod schedule;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Local, Utc};
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use archive::{BackupKey, StatusFile};
pub use erasure_log::ErasureReplay;
pub use job::{BackupJob, FinishedJob, RunFailure, RunReport};
pub use manifest::Manifest;
pub use restore::{RestoreOptions, Restored, restore};
pub use retention::Retention;
pub use schedule::{Schedule, Weekdays};
// The tables live with the rest of the schema (`crate::schema`); named here as before.
pub use crate::schema::backup::{MIGRATION, PENDING_RUNS_AND_SETTINGS_RIGHT};

use self::manifest::MANIFEST_FILE;
use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::keyslot::KdfStrength;
use crate::policy::Right;
use crate::secret::{Password, RecoveryIdentity};
use crate::vault::{ProgressFn, Session};

/// Alert kind raised when a backup, verification or drill fails.
pub const ALERT_KIND: &str = "backup_failed";

/// What the owner sets: where, when, how long, and who else can unseal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredSettings")]
pub struct BackupSettings {
    /// Destination folders: the first is the main one, a second (USB drive, NAS) optional.
    pub destinations: Vec<PathBuf>,
    /// When scheduled backups run (local time).
    pub schedule: Schedule,
    /// A restore drill is due when the last good one is older than this (0: no drills).
    pub drill_interval_days: u32,
    /// How many backups to keep.
    pub retention: Retention,
    /// Extra age recipients (`age1…`, e.g. the sysadmin's) the backup key is sealed to.
    pub extra_recipients: Vec<String>,
}

/// Settings as stored, including those of vaults from before schedules (`interval_hours`).
#[derive(Deserialize)]
struct StoredSettings {
    destinations: Vec<PathBuf>,
    #[serde(default)]
    schedule: Option<Schedule>,
    #[serde(default)]
    interval_hours: Option<u32>,
    drill_interval_days: u32,
    retention: Retention,
    #[serde(default)]
    extra_recipients: Vec<String>,
}

impl From<StoredSettings> for BackupSettings {
    fn from(stored: StoredSettings) -> Self {
        let schedule = match (stored.schedule, stored.interval_hours) {
            (Some(schedule), _) => schedule,
            (None, Some(hours)) => Schedule::every_hours(hours).unwrap_or_default(),
            (None, None) => Schedule::default(),
        };
        Self {
            destinations: stored.destinations,
            schedule,
            drill_interval_days: stored.drill_interval_days,
            retention: stored.retention,
            extra_recipients: stored.extra_recipients,
        }
    }
}

impl Default for BackupSettings {
    fn default() -> Self {
        Self {
            destinations: Vec::new(),
            schedule: Schedule::default(),
            drill_interval_days: 7,
            retention: Retention::default(),
            extra_recipients: Vec::new(),
        }
    }
}

impl BackupSettings {
    /// Reads settings as stored (JSON, older forms included); unreadable text is an error that
    /// says so, never a panic (fuzzed in `crate::fuzz_tests`).
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|error| Error::Database {
            message: format!("backup settings unreadable: {error}"),
            source: Some(Box::new(error)),
        })
    }

    /// Checks every rule a saved setting must keep; the message says which and how to fix it.
    pub fn validate(&self) -> Result<()> {
        if self.destinations.len() > 2 {
            return Err(Error::Invalid(
                "at most two destinations: a main folder and a second one".into(),
            ));
        }
        for destination in &self.destinations {
            if !destination.is_absolute() {
                return Err(Error::Invalid(format!(
                    "backup destination {} must be an absolute path",
                    destination.display()
                )));
            }
        }
        if self.destinations.len() == 2 && self.destinations[0] == self.destinations[1] {
            return Err(Error::Invalid(
                "the second destination is the same folder as the first".into(),
            ));
        }
        self.schedule.validate()?;
        if self.drill_interval_days > 366 {
            return Err(Error::Invalid(
                "restore drills run at least once a year (0 to 366 days)".into(),
            ));
        }
        for (index, recipient) in self.extra_recipients.iter().enumerate() {
            if recipient.parse::<age::x25519::Recipient>().is_err() {
                return Err(Error::Invalid(format!(
                    "{recipient} is not an age X25519 recipient (age1…)"
                )));
            }
            if self.extra_recipients[..index].contains(recipient) {
                return Err(Error::Invalid(format!("{recipient} is given twice")));
            }
        }
        Ok(())
    }
}

/// State of one backup directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupState {
    /// Its latest verification passed.
    Verified,
    /// Its latest verification failed, a file is missing, or its manifest is damaged (kept
    /// for inspection).
    Failed,
    /// Complete but never verified (not counted as good).
    Unverified,
}

/// One backup as listed.
#[derive(Debug, Clone, Serialize)]
pub struct BackupInfo {
    /// The backup's id (its directory name).
    pub id: String,
    /// Its directory.
    pub path: PathBuf,
    /// The vault it belongs to (`None` when its manifest cannot be read).
    pub vault_id: Option<Uuid>,
    /// When the snapshot was taken (RFC 3339).
    pub created_at: String,
    /// Bytes of the encrypted database copy.
    pub size_bytes: u64,
    /// Verified, failed or unverified.
    pub state: BackupState,
    /// When it was last checked.
    pub checked_at: Option<String>,
    /// What failed, naming the file or check.
    pub problems: Vec<String>,
}

impl BackupInfo {
    fn load(dir: &Path) -> Result<Self> {
        Ok(Self::from_manifest(dir, Manifest::read(dir)?))
    }

    /// A backup with a readable manifest: its latest verification, and any file now missing
    /// or of the wrong size (cheap checks, no hashing).
    pub(crate) fn from_manifest(dir: &Path, manifest: Manifest) -> Self {
        let status = StatusFile::read(dir);
        let mut state = match status.as_ref().map(|status| status.state.as_str()) {
            Some("verified") => BackupState::Verified,
            Some(_) => BackupState::Failed,
            None => BackupState::Unverified,
        };
        let mut problems = status
            .as_ref()
            .map(|status| status.problems.clone())
            .unwrap_or_default();
        let missing = destination::missing_files(dir, &manifest);
        if !missing.is_empty() {
            state = BackupState::Failed;
            problems.extend(missing);
        }
        Self {
            id: manifest.backup_id,
            path: dir.to_path_buf(),
            vault_id: Some(manifest.vault_id),
            created_at: manifest.created_at,
            size_bytes: manifest.payload.size_bytes,
            state,
            checked_at: status.map(|status| status.checked_at),
            problems,
        }
    }

    /// A backup directory whose manifest is missing or unreadable.
    pub(crate) fn damaged(dir: &Path, name: &str, error: &Error) -> Self {
        Self {
            id: name.to_owned(),
            path: dir.to_path_buf(),
            vault_id: None,
            created_at: archive::created_at_of_id(name).unwrap_or_default(),
            size_bytes: 0,
            state: BackupState::Failed,
            checked_at: None,
            problems: vec![format!(
                "{MANIFEST_FILE}: damaged or missing, the backup cannot be checked or restored ({error})"
            )],
        }
    }
}

/// The backup state the app shows at a glance, from what the destinations hold.
#[derive(Debug, Clone, Serialize)]
pub struct BackupStatus {
    /// Whether any destination is set.
    pub configured: bool,
    /// The schedule (canonical text, e.g. `hourly mon-fri 08:00-18:00`).
    pub schedule: String,
    /// The schedule in words.
    pub schedule_text: String,
    /// When the newest verified backup present in a destination was made, if any.
    pub newest_verified_at: Option<String>,
    /// Its age in hours.
    pub newest_verified_age_hours: Option<i64>,
    /// Outcome of the latest recorded run (`verified` / `failed`).
    pub last_outcome: Option<String>,
    /// Why the latest recorded run failed.
    pub last_problem: Option<String>,
    /// Whether a scheduled backup would run now (in at least one destination).
    pub due: bool,
    /// When the next scheduled backup runs (local time, RFC 3339; `None` when off).
    pub next_run_at: Option<String>,
    /// When the next restore drill is due (local time; `None` when drills are off).
    pub next_drill_at: Option<String>,
    /// Each configured destination.
    pub destinations: Vec<DestinationStatus>,
}

/// One configured destination as it is now.
#[derive(Debug, Clone, Serialize)]
pub struct DestinationStatus {
    /// The folder.
    pub path: PathBuf,
    /// Whether a backup could be written there now (folder present, marker in place).
    pub reachable: bool,
    /// Why it is not reachable, or why its latest backup attempt failed.
    pub problem: Option<String>,
    /// This vault's verified backups present there.
    pub verified_backups: usize,
    /// This vault's failed (or damaged) backups present there.
    pub failed_backups: usize,
    /// Newest verified backup present there.
    pub newest_verified_at: Option<String>,
    /// Whether a scheduled backup to it would run now.
    pub due: bool,
}

/// What a restore drill found.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    /// The backup drilled.
    pub backup_id: String,
    /// Tables compared with the manifest.
    pub tables_compared: usize,
    /// Differences found (empty: the restore came back identical).
    pub problems: Vec<String>,
}

impl Session {
    /// Refuses unless the user holds a backup right (run backups, manage backup settings or
    /// restore): backup settings, destinations and recipients say where copies of every record
    /// lie and who can open them, which is not every role's business.
    pub(crate) fn require_backup_reader(&self) -> Result<()> {
        let role = self.role()?;
        if [
            Right::RunBackups,
            Right::ManageBackupSettings,
            Right::Restore,
        ]
        .into_iter()
        .any(|right| role.has(right))
        {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "the {} role has no backup right: backup settings, destinations and recipients \
                 are for roles that make, manage or restore backups",
                role.name
            )))
        }
    }

    /// The owner's backup settings (defaults until set). Needs a backup right.
    pub fn backup_settings(&self) -> Result<BackupSettings> {
        self.require_backup_reader()?;
        self.stored_backup_settings()
    }

    /// The backup settings as stored, for the operations that check their own right first.
    pub(crate) fn stored_backup_settings(&self) -> Result<BackupSettings> {
        let stored: Option<String> = self
            .store()
            .conn()
            .query_row(
                "SELECT settings FROM backup_settings WHERE id = 1",
                [],
                |row| row.get(0),
            )
            .optional()?;
        match stored {
            Some(text) => BackupSettings::from_json(&text),
            None => Ok(BackupSettings::default()),
        }
    }

    /// Saves backup settings: a policy change, recorded as such. Needs the
    /// manage-backup-settings right (the backup agent, which may make backups, may not change
    /// where they go or who can read them). A newly added destination must exist; it receives
    /// this vault's marker.
    pub fn set_backup_settings(&mut self, settings: BackupSettings) -> Result<()> {
        self.require_right(Right::ManageBackupSettings)?;
        settings.validate()?;
        let before = self.stored_backup_settings()?;
        for destination in &settings.destinations {
            if !before.destinations.contains(destination) {
                destination::mark(destination, self.vault_id())?;
            }
        }
        let encode = |settings: &BackupSettings| {
            serde_json::to_string(settings).map_err(|error| Error::Invalid(error.to_string()))
        };
        let (old_text, new_text) = (encode(&before)?, encode(&settings)?);
        self.write(|tx, audit| {
            tx.execute(
                "INSERT INTO backup_settings (id, settings) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET settings = excluded.settings",
                [&new_text],
            )?;
            audit.record(
                AuditEvent::new(AuditAction::PolicyChanged)
                    .target("policy", "backup_settings")
                    .change(Some(old_text.clone()), Some(new_text.clone())),
            );
            Ok(())
        })
    }

    /// Who backup keys and the erasure log are sealed to: the recovery recipient first.
    pub(crate) fn backup_recipients(&self, settings: &BackupSettings) -> Vec<String> {
        let mut recipients = vec![self.recovery_recipient().to_owned()];
        for extra in &settings.extra_recipients {
            if !recipients.contains(extra) {
                recipients.push(extra.clone());
            }
        }
        recipients
    }

    /// The newest verified backup present, the schedule, whether a run is due, and each
    /// destination's state (an unplugged drive says so). Needs a backup right.
    pub fn backup_status(&self) -> Result<BackupStatus> {
        self.require_backup_reader()?;
        let settings = self.stored_backup_settings()?;
        let now = Utc::now();
        let destinations = self.destination_states(&settings, now)?;
        let newest = destinations
            .iter()
            .filter_map(|state| state.newest_verified_at.as_deref())
            .filter_map(job::parse_time)
            .max();
        let last: Option<(String, Option<String>)> = self
            .store()
            .conn()
            .query_row(
                "SELECT outcome, problem FROM backup_runs
                 WHERE kind = 'backup' AND outcome != 'pending'
                 ORDER BY id DESC LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let next_run = if settings.destinations.is_empty() {
            None
        } else if destinations.iter().any(|state| state.due) {
            Some(now)
        } else {
            // The destination that needs a backup soonest (retries of failed ones included).
            destinations
                .iter()
                .filter_map(|state| {
                    let newest = state
                        .newest_verified_at
                        .as_deref()
                        .and_then(job::parse_time);
                    let planned = settings.schedule.next_run(newest, now, &Local)?;
                    let retry = self
                        .last_failed_attempt("backup", Some(&state.path))
                        .ok()
                        .flatten()
                        .map(|at| at + Duration::minutes(job::RETRY_AFTER_MINUTES));
                    Some(planned.max(retry.unwrap_or(planned)))
                })
                .min()
        };
        let next_drill = if settings.drill_interval_days == 0 || settings.destinations.is_empty() {
            None
        } else {
            let interval = Duration::days(i64::from(settings.drill_interval_days));
            Some(
                self.last_good_run("drill")?
                    .map_or(now, |at| (at + interval).max(now)),
            )
        };
        Ok(BackupStatus {
            configured: !settings.destinations.is_empty(),
            schedule: settings.schedule.to_string(),
            schedule_text: settings.schedule.describe(),
            newest_verified_at: newest.map(|at| at.to_rfc3339()),
            newest_verified_age_hours: newest.map(|at| (now - at).num_hours()),
            last_outcome: last.as_ref().map(|(outcome, _)| outcome.clone()),
            last_problem: last.and_then(|(_, problem)| problem),
            due: destinations.iter().any(|state| state.due),
            next_run_at: next_run.map(job::local_text),
            next_drill_at: next_drill.map(job::local_text),
            destinations,
        })
    }

    /// Each configured destination: reachable or why not, this vault's backups there, and
    /// whether a scheduled backup to it is due (a destination whose attempt failed is retried
    /// after [`job::RETRY_AFTER_MINUTES`]).
    pub(crate) fn destination_states(
        &self,
        settings: &BackupSettings,
        now: DateTime<Utc>,
    ) -> Result<Vec<DestinationStatus>> {
        let mut states = Vec::new();
        for path in &settings.destinations {
            let ready = destination::is_ready(path, self.vault_id());
            // Missing, unmounted or not answering: no backups to count there (`ready` says why).
            let backups = destination::scan(path, self.vault_id()).unwrap_or_default();
            let newest = job::newest_verified(&backups);
            let last_failed = self.last_failed_attempt("backup", Some(path))?;
            let due = settings
                .schedule
                .due_since(newest, now, &Local)
                .is_some_and(|since| {
                    !last_failed.is_some_and(|failed| {
                        failed >= since
                            && now - failed < Duration::minutes(job::RETRY_AFTER_MINUTES)
                    })
                });
            let last_problem =
                if last_failed.is_some_and(|failed| newest.is_none_or(|ok| failed > ok)) {
                    self.last_problem_at(path)?
                } else {
                    None
                };
            states.push(DestinationStatus {
                path: path.clone(),
                reachable: ready.is_ok(),
                problem: ready.err().map(|error| error.to_string()).or(last_problem),
                verified_backups: backups
                    .iter()
                    .filter(|info| info.state == BackupState::Verified)
                    .count(),
                failed_backups: backups
                    .iter()
                    .filter(|info| info.state == BackupState::Failed)
                    .count(),
                newest_verified_at: newest.map(|at| at.to_rfc3339()),
                due,
            });
        }
        Ok(states)
    }

    fn last_problem_at(&self, destination: &Path) -> Result<Option<String>> {
        Ok(self
            .store()
            .conn()
            .query_row(
                "SELECT problem FROM backup_runs
                 WHERE kind = 'backup' AND destination = ?1 AND outcome = 'failed'
                 ORDER BY started_at DESC LIMIT 1",
                [destination.display().to_string()],
                |row| row.get(0),
            )
            .optional()?
            .flatten())
    }

    /// This vault's backups in `destination` (or in every configured destination that can be
    /// read), oldest first, with every backup directory whose manifest is damaged listed as
    /// failed (and alerted on). Other vaults' backups in a shared folder are left out. Needs a
    /// backup right.
    pub fn list_backups(&self, destination: Option<&Path>) -> Result<Vec<BackupInfo>> {
        self.require_backup_reader()?;
        self.backups_in(destination)
    }

    /// [`Session::list_backups`] without the right check, for operations that check their own
    /// (`audit verify` compares the trail with the backups).
    pub(crate) fn backups_in(&self, destination: Option<&Path>) -> Result<Vec<BackupInfo>> {
        let mut list = Vec::new();
        match destination {
            Some(path) => list.extend(destination::scan(path, self.vault_id())?),
            None => {
                for path in self.stored_backup_settings()?.destinations {
                    match destination::scan(&path, self.vault_id()) {
                        Ok(found) => list.extend(found),
                        // An unplugged drive: `backup_status` reports it.
                        Err(error) => tracing::warn!("{error}"),
                    }
                }
            }
        }
        list.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        if list.iter().any(|info| info.vault_id.is_none()) {
            crate::audit::alerts::raise(self.store().conn(), "-", ALERT_KIND, Utc::now())?;
        }
        Ok(list)
    }

    /// Re-verifies one backup directory in full and records the outcome in its `status.json`.
    /// The key comes from this vault's records, or from `identity` for other backups.
    pub fn verify_backup(
        &mut self,
        dir: &Path,
        identity: Option<&RecoveryIdentity>,
    ) -> Result<BackupInfo> {
        self.require_right(Right::RunBackups)?;
        let manifest = Manifest::read(dir)?;
        let key = match identity {
            Some(identity) => archive::unseal_key(dir, &manifest, identity)?,
            None => self.stored_key(&manifest.backup_id)?.ok_or_else(|| {
                Error::Backup(format!(
                    "this vault holds no key for backup {}: pass --identity RECOVERY_FILE",
                    manifest.backup_id
                ))
            })?,
        };
        let problems = archive::verify_dir(dir, &manifest, Some(&key), archive::Depth::Full);
        StatusFile::new(problems.clone()).write(dir)?;
        let passed = problems.is_empty();
        self.write(|tx, audit| {
            if !passed {
                crate::audit::alerts::raise(tx, "-", ALERT_KIND, Utc::now())?;
            }
            audit.record(
                AuditEvent::new(AuditAction::BackupVerified)
                    .target("backup", &manifest.backup_id)
                    .detail("passed", passed),
            );
            Ok(())
        })?;
        BackupInfo::load(dir)
    }

    /// Re-verifies every backup of this vault in the configured destinations, going on after
    /// each failure; a damaged backup directory is reported as failed, one this vault cannot
    /// open without the recovery identity as unverified with the reason. Needs the
    /// run-backups right.
    pub fn verify_all_backups(
        &mut self,
        identity: Option<&RecoveryIdentity>,
    ) -> Result<Vec<BackupInfo>> {
        self.require_right(Right::RunBackups)?;
        let mut results = Vec::new();
        for listed in self.backups_in(None)? {
            if listed.vault_id.is_none() {
                results.push(listed);
                continue;
            }
            match self.verify_backup(&listed.path, identity) {
                Ok(info) => results.push(info),
                Err(error) => {
                    let mut info = listed;
                    info.state = match error {
                        Error::Backup(_) | Error::RecoveryIdentityMismatch => {
                            BackupState::Unverified
                        }
                        _ => BackupState::Failed,
                    };
                    info.problems = vec![error.to_string()];
                    results.push(info);
                }
            }
        }
        Ok(results)
    }

    /// Resolves a backup given as a path or as an id in the configured destinations (an id
    /// needs a backup right).
    pub fn find_backup(&self, id_or_path: &str) -> Result<PathBuf> {
        let path = Path::new(id_or_path);
        if path.join(MANIFEST_FILE).is_file() {
            return Ok(path.to_path_buf());
        }
        for destination in self.backup_settings()?.destinations {
            let candidate = destination.join(id_or_path);
            if !id_or_path.contains(['/', '\\'])
                && destination::answers(&destination).is_ok()
                && candidate.is_dir()
            {
                return Ok(candidate);
            }
        }
        Err(Error::NotFound(format!("backup {id_or_path}")))
    }

    /// Applies retention to this vault's backups in `destination` (or every configured one);
    /// returns removed ids. Only verified backups older than the newest verified one are ever
    /// removed; failed backups are kept for inspection; other vaults' backups are untouched.
    pub fn prune_backups(&mut self, destination: Option<&Path>) -> Result<Vec<String>> {
        self.require_right(Right::RunBackups)?;
        let settings = self.stored_backup_settings()?;
        let destinations = match destination {
            Some(path) => vec![path.to_path_buf()],
            None => settings.destinations.clone(),
        };
        let mut removed = Vec::new();
        for destination in destinations {
            removed.extend(self.prune_in(&destination, &settings.retention)?);
        }
        Ok(removed)
    }

    pub(crate) fn prune_in(
        &mut self,
        destination: &Path,
        retention: &Retention,
    ) -> Result<Vec<String>> {
        let verified: Vec<(BackupInfo, DateTime<Utc>)> =
            destination::scan(destination, self.vault_id())?
                .into_iter()
                .filter(|info| {
                    info.state == BackupState::Verified && info.vault_id == Some(self.vault_id())
                })
                .filter_map(|info| {
                    let at = destination::created_at(&info)?;
                    Some((info, at))
                })
                .collect();
        let times: Vec<DateTime<Utc>> = verified.iter().map(|(_, at)| *at).collect();
        let keep = retention.keep(&times);
        let mut removed = Vec::new();
        for (index, (info, _)) in verified.iter().enumerate() {
            if !keep.contains(&index) {
                archive::remove_backup(&info.path)?;
                removed.push(info.id.clone());
            }
        }
        destination::remove_stale_partials(destination, self.vault_id())?;
        if !removed.is_empty() {
            self.record(
                AuditEvent::new(AuditAction::Backup)
                    .detail("pruned", &removed)
                    .detail("destination", destination.display().to_string()),
            )?;
        }
        Ok(removed)
    }

    /// Restores a backup of this vault (default: the newest verified) into a scratch vault,
    /// compares it with its manifest, and removes the scratch vault. Needs the run-backups
    /// right. The outcome is recorded (a failure alerts).
    pub fn drill_backup(
        &mut self,
        dir: Option<&Path>,
        progress: ProgressFn<'_>,
    ) -> Result<DrillReport> {
        self.require_right(Right::RunBackups)?;
        let dir = match dir {
            Some(dir) => dir.to_path_buf(),
            None => self
                .backups_in(None)?
                .into_iter()
                .rfind(|info| info.state == BackupState::Verified)
                .map(|info| info.path)
                .ok_or_else(|| Error::Backup("no verified backup of this vault to drill".into()))?,
        };
        let started = Utc::now();
        let outcome = (|| {
            let manifest = Manifest::read(&dir)?;
            if manifest.vault_id != self.vault_id() {
                return Err(Error::Backup(format!(
                    "{} is a backup of another vault",
                    dir.display()
                )));
            }
            let key = self.stored_key(&manifest.backup_id)?.ok_or_else(|| {
                Error::Backup(format!(
                    "this vault holds no key for backup {}",
                    manifest.backup_id
                ))
            })?;
            drill_with_key(&dir, &manifest, &key, progress)
        })();
        let (backup_id, problem) = match &outcome {
            Ok(report) if report.problems.is_empty() => (Some(report.backup_id.clone()), None),
            Ok(report) => (
                Some(report.backup_id.clone()),
                Some(report.problems.join("; ")),
            ),
            Err(error) => (None, Some(error.to_string())),
        };
        self.record_run(
            "drill",
            backup_id.as_deref(),
            &dir,
            started,
            problem.as_deref(),
            None,
        )?;
        outcome
    }

    /// Every folder this vault backs up to: the configured destinations and those of recorded
    /// runs (`--to DIR`). `crm audit verify` compares the trail with the backups found there.
    pub(crate) fn known_backup_destinations(&self) -> Result<Vec<PathBuf>> {
        let mut destinations = self.stored_backup_settings()?.destinations;
        let mut statement = self
            .store()
            .conn()
            .prepare("SELECT DISTINCT destination FROM backup_runs WHERE kind = 'backup'")?;
        let recorded = statement
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for destination in recorded.into_iter().map(PathBuf::from) {
            if !destinations.contains(&destination) {
                destinations.push(destination);
            }
        }
        Ok(destinations)
    }
}

/// Restores the backup in `dir` with its key into a scratch vault in the temp directory,
/// compares it with the manifest, and removes the scratch vault.
pub(crate) fn drill_with_key(
    dir: &Path,
    manifest: &Manifest,
    key: &BackupKey,
    progress: ProgressFn<'_>,
) -> Result<DrillReport> {
    let scratch = std::env::temp_dir().join(format!(
        "strongroom-drill-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let password = Password::new(hex::encode(rand::random::<[u8; 24]>()));
    let result = restore::restore_with_key(
        dir,
        manifest.clone(),
        key,
        RestoreOptions {
            to: scratch.clone(),
            move_aside: false,
            owner: None,
            password,
            kdf: KdfStrength::Floor,
        },
        progress,
    )
    .and_then(|restored| compare_with_manifest(&restored.session, manifest));
    let _ = std::fs::remove_dir_all(&scratch);
    let (tables_compared, problems) = result?;
    Ok(DrillReport {
        backup_id: manifest.backup_id.clone(),
        tables_compared,
        problems,
    })
}

/// Compares a restored vault with the manifest of its backup: every table's row count
/// (audit tables may only have grown by the restore's own entries) and the audit chain.
fn compare_with_manifest(session: &Session, manifest: &Manifest) -> Result<(usize, Vec<String>)> {
    let facts = archive::read_facts(session.store().conn())?;
    let mut problems = Vec::new();
    for (table, expected) in &manifest.row_counts {
        let actual = facts.row_counts.get(table).copied().unwrap_or(-1);
        let grows = table.starts_with("audit_");
        if (grows && actual < *expected) || (!grows && actual != *expected) {
            problems.push(format!("{table}: {actual} rows, the backup had {expected}"));
        }
    }
    if let Some(head) = &manifest.audit_head
        && head.seq > 0
    {
        let mac: Option<String> = session
            .store()
            .conn()
            .query_row(
                "SELECT mac FROM audit_log WHERE seq = ?1",
                [head.seq],
                |row| row.get(0),
            )
            .optional()?;
        if mac.as_deref() != Some(head.mac.as_str()) {
            problems.push("audit_log: the chain does not continue from the backup's head".into());
        }
    }
    Ok((manifest.row_counts.len(), problems))
}

#[cfg(test)]
mod tests;
