//! Backups for the owner and the sysadmin: status and list, the plan (schedule in words,
//! destinations and their state, retention, extra recipients), "back up now" (off the
//! session), re-verify, and the restore wizard (a backup + the recovery identity → a new vault
//! elsewhere). crm-core reads schedules, validates plans, checks the rights and records every
//! run.

use std::path::PathBuf;

use crm_core::RecoveryIdentity;
use crm_core::backup::{BackupInfo, BackupSettings, BackupState, DestinationStatus, Schedule};
use crm_core::backup::{RestoreOptions, restore};
use crm_core::policy::Right;
use crm_core::{KdfStrength, Password};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, Runtime, State};

use super::blocking;
use super::users::emit_progress;
use crate::error::{CommandError, CommandResult};
use crate::state::AppState;

/// One backup in the list.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct BackupRow {
    /// Id (its folder name).
    pub id: String,
    /// Its folder.
    pub path: String,
    /// When the snapshot was taken (RFC 3339).
    pub created_at: String,
    /// Size of the encrypted copy in MB.
    pub size_mb: f64,
    /// `verified`, `failed` or `unverified`.
    pub state: String,
    /// When it was last checked (RFC 3339).
    pub checked_at: Option<String>,
    /// What failed.
    pub problems: Vec<String>,
}

/// The owner's backup plan, as the plan form edits it.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct BackupPlan {
    /// Destination folders: the main one, and optionally a second (USB drive, NAS).
    pub destinations: Vec<String>,
    /// The schedule as text (`off`, `every 24h`, `hourly mon-fri 08:00-18:00`,
    /// `daily 13:00`, …), read by crm-core.
    pub schedule: String,
    /// Restore drill interval in days (0: none).
    pub drill_interval_days: u32,
    /// Keep the newest backup of each of the last N days.
    pub keep_daily: u32,
    /// … of each of the last N weeks.
    pub keep_weekly: u32,
    /// … of each of the last N months.
    pub keep_monthly: u32,
    /// Extra age recipients (`age1…`, e.g. the sysadmin's) who can open every backup too.
    pub extra_recipients: Vec<String>,
}

/// One configured destination as it is now.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct DestinationRow {
    /// The folder.
    pub path: String,
    /// A backup could be written there now (folder present, this vault's marker in place).
    pub reachable: bool,
    /// Why it is not reachable, or why its latest backup failed.
    pub problem: Option<String>,
    /// This vault's verified backups there.
    pub verified_backups: u32,
    /// This vault's failed (or damaged) backups there.
    pub failed_backups: u32,
    /// Its newest verified backup (RFC 3339).
    pub newest_verified_at: Option<String>,
    /// A scheduled backup to it is due now.
    pub due: bool,
}

/// The backups screen.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct BackupOverview {
    /// The plan as saved.
    pub plan: BackupPlan,
    /// The schedule in words (crm-core's explanation).
    pub schedule_text: String,
    /// Age of the newest verified backup in hours, if any.
    pub newest_verified_age_hours: Option<u32>,
    /// When the newest verified backup was made (RFC 3339).
    pub newest_verified_at: Option<String>,
    /// A scheduled backup is due now.
    pub due: bool,
    /// When the next scheduled backup runs (local time, RFC 3339; none when off or no
    /// destination is set).
    pub next_run_at: Option<String>,
    /// When the next restore drill is due (none when drills are off).
    pub next_drill_at: Option<String>,
    /// Why the latest run failed, if it did.
    pub last_problem: Option<String>,
    /// Each configured destination's state.
    pub destinations: Vec<DestinationRow>,
    /// Backups in the destinations, oldest first.
    pub backups: Vec<BackupRow>,
    /// The backup running now, if any (`a backup`, `a scheduled backup`).
    pub running_backup: Option<String>,
}

/// A schedule as crm-core reads it.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ScheduleExplained {
    /// The canonical text the vault stores (`daily 13:00`).
    pub text: String,
    /// What it means, in words (`at 13:00, every day (local time)`).
    pub description: String,
}

/// What "Back up now" did.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct BackupRunView {
    /// Backups made (one per destination that worked).
    pub made: Vec<BackupRow>,
    /// What went wrong, each naming the destination or backup.
    pub problems: Vec<String>,
}

/// A finished restore.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct RestoreDone {
    /// The new vault's folder.
    pub dir: String,
    /// The backup restored.
    pub backup_id: String,
    /// The new vault's recovery identity, shown once (save it with `save_recovery_identity`).
    pub recovery_identity: String,
    /// The owner whose password was set.
    pub owner: String,
    /// Where a folder that stood at the target was moved, if one did.
    pub moved_aside: Option<String>,
}

fn row(info: BackupInfo) -> BackupRow {
    BackupRow {
        id: info.id,
        path: info.path.display().to_string(),
        created_at: info.created_at,
        size_mb: info.size_bytes as f64 / 1_000_000.0,
        state: match info.state {
            BackupState::Verified => "verified",
            BackupState::Failed => "failed",
            BackupState::Unverified => "unverified",
        }
        .into(),
        checked_at: info.checked_at,
        problems: info.problems,
    }
}

fn plan(settings: BackupSettings) -> BackupPlan {
    BackupPlan {
        destinations: settings
            .destinations
            .iter()
            .map(|path| path.display().to_string())
            .collect(),
        schedule: settings.schedule.to_string(),
        drill_interval_days: settings.drill_interval_days,
        keep_daily: settings.retention.keep_daily,
        keep_weekly: settings.retention.keep_weekly,
        keep_monthly: settings.retention.keep_monthly,
        extra_recipients: settings.extra_recipients,
    }
}

fn destination_row(status: DestinationStatus) -> DestinationRow {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    DestinationRow {
        path: status.path.display().to_string(),
        reachable: status.reachable,
        problem: status.problem,
        verified_backups: count(status.verified_backups),
        failed_backups: count(status.failed_backups),
        newest_verified_at: status.newest_verified_at,
        due: status.due,
    }
}

/// Status, plan, destinations and list.
#[tauri::command]
#[specta::specta]
pub async fn backup_overview(state: State<'_, AppState>) -> CommandResult<BackupOverview> {
    let running_backup = state.running_backup();
    state
        .session(move |session| {
            let status = session.backup_status()?;
            let settings = session.backup_settings()?;
            // Nothing to list before a destination is chosen (the core would say so as an error).
            let backups = if settings.destinations.is_empty() {
                Vec::new()
            } else {
                session.list_backups(None)?.into_iter().map(row).collect()
            };
            Ok(BackupOverview {
                plan: plan(settings),
                schedule_text: status.schedule_text,
                newest_verified_age_hours: status
                    .newest_verified_age_hours
                    .map(|hours| u32::try_from(hours.max(0)).unwrap_or(u32::MAX)),
                newest_verified_at: status.newest_verified_at,
                due: status.due,
                next_run_at: status.next_run_at,
                next_drill_at: status.next_drill_at,
                last_problem: status.last_problem,
                destinations: status
                    .destinations
                    .into_iter()
                    .map(destination_row)
                    .collect(),
                backups,
                running_backup,
            })
        })
        .await
}

/// Reads a schedule the way the vault will (for the plan form's live check): its canonical
/// text and what it means, or why it is not a schedule.
#[tauri::command]
#[specta::specta]
pub fn explain_schedule(text: String) -> CommandResult<ScheduleExplained> {
    let schedule: Schedule = text.parse()?;
    Ok(ScheduleExplained {
        text: schedule.to_string(),
        description: schedule.describe(),
    })
}

/// Checks an extra backup recipient by crm-core's rule for saved settings; returns it as it
/// will be stored.
#[tauri::command]
#[specta::specta]
pub fn check_backup_recipient(recipient: String) -> CommandResult<String> {
    let recipient = recipient.trim().to_owned();
    BackupSettings {
        extra_recipients: vec![recipient.clone()],
        ..BackupSettings::default()
    }
    .validate()?;
    Ok(recipient)
}

/// Saves the schedule, retention, destinations and extra recipients (crm-core validates them
/// and needs the manage-backup-settings right).
#[tauri::command]
#[specta::specta]
pub async fn save_backup_plan(state: State<'_, AppState>, plan: BackupPlan) -> CommandResult<()> {
    let schedule: Schedule = plan.schedule.parse()?;
    state
        .session(move |session| {
            let mut settings = session.backup_settings()?;
            settings.destinations = plan
                .destinations
                .iter()
                .map(|path| path.trim())
                .filter(|path| !path.is_empty())
                .map(PathBuf::from)
                .collect();
            settings.schedule = schedule;
            settings.drill_interval_days = plan.drill_interval_days;
            settings.retention.keep_daily = plan.keep_daily;
            settings.retention.keep_weekly = plan.keep_weekly;
            settings.retention.keep_monthly = plan.keep_monthly;
            settings.extra_recipients = plan
                .extra_recipients
                .iter()
                .map(|recipient| recipient.trim().to_owned())
                .filter(|recipient| !recipient.is_empty())
                .collect();
            Ok(session.set_backup_settings(settings)?)
        })
        .await?;
    // A new destination or a new schedule may make a backup due now.
    state.wake_scheduler();
    Ok(())
}

/// Makes and verifies a backup in every destination now (progress: `backup`). crm-core checks
/// the run-backups right; the copy runs off the session, so the rest of the app keeps working.
#[tauri::command]
#[specta::specta]
pub async fn backup_now<R: Runtime>(app: AppHandle<R>) -> CommandResult<BackupRunView> {
    blocking(move || {
        let state = app.state::<AppState>();
        let (run, job) = state
            .start_backup("a backup", true, |session| {
                Ok(Some(session.start_backup_now(None)?))
            })?
            .ok_or_else(|| CommandError::new("internal", "no backup job was prepared"))?;
        let mut progress = emit_progress(&app, "backup");
        let report = run.finish(job.run(&mut progress));
        Ok(BackupRunView {
            made: report.made.into_iter().map(row).collect(),
            problems: report
                .failures
                .into_iter()
                .map(|failure| failure.problem)
                .collect(),
        })
    })
    .await
}

/// Re-verifies one backup in full (progress-free; it reads the whole copy).
#[tauri::command]
#[specta::specta]
pub async fn verify_backup<R: Runtime>(
    app: AppHandle<R>,
    path: String,
) -> CommandResult<BackupRow> {
    blocking(move || {
        let state = app.state::<AppState>();
        let _busy = state.start_long_operation("a backup verification")?;
        state.with_session(|session| Ok(row(session.verify_backup(&PathBuf::from(&path), None)?)))
    })
    .await
}

/// Restores a backup into a new vault folder with the recovery identity from a file, giving
/// the backup's owner a new password. An existing folder at `to` is refused unless
/// `move_aside` asks to rename it out of the way (nothing is ever deleted). The running app
/// stays on its own vault; the new vault's recovery identity is held (like at first run) until
/// the user saves it and confirms. Progress: `restore`.
#[tauri::command]
#[specta::specta]
pub async fn restore_backup<R: Runtime>(
    app: AppHandle<R>,
    backup: String,
    identity_file: String,
    to: String,
    password: String,
    move_aside: bool,
) -> CommandResult<RestoreDone> {
    blocking(move || {
        let state = app.state::<AppState>();
        let _busy = state.start_long_operation("a restore")?;
        state.with_session(|session| Ok(session.require_right(Right::Restore)?))?;
        let identity = RecoveryIdentity::from_file(&PathBuf::from(identity_file.trim()))?;
        let mut progress = emit_progress(&app, "restore");
        let restored = restore(
            &PathBuf::from(backup.trim()),
            &identity,
            RestoreOptions {
                to: PathBuf::from(to.trim()),
                move_aside,
                owner: None,
                password: Password::new(password),
                kdf: KdfStrength::from_env(),
            },
            &mut progress,
        )?;
        let done = RestoreDone {
            dir: to.trim().to_owned(),
            backup_id: restored.manifest.backup_id.clone(),
            recovery_identity: restored.recovery.to_identity_file().expose().to_string(),
            owner: restored.session.user().name.clone(),
            moved_aside: restored
                .moved_aside
                .as_ref()
                .map(|path| path.display().to_string()),
        };
        // The new vault is closed again at once: this window keeps working on its own.
        restored.session.lock();
        *state.recovery() = Some(restored.recovery);
        Ok(done)
    })
    .await
}
