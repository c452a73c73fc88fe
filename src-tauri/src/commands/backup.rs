//! Backups for the sysadmin: status and list, schedule and destinations, "back up now",
//! re-verify, and the restore wizard (a backup + the recovery identity → a new vault
//! elsewhere). crm-core checks the run-backups and restore rights and records every run.

use std::path::PathBuf;

use crm_core::RecoveryIdentity;
use crm_core::backup::{BackupInfo, BackupSettings, BackupState, Schedule};
use crm_core::backup::{RestoreOptions, restore};
use crm_core::policy::Right;
use crm_core::{KdfStrength, Password};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, Runtime, State};

use super::blocking;
use super::users::emit_progress;
use crate::error::CommandResult;
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

/// The schedule and where backups go.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct BackupPlan {
    /// Destination folders (the first is the main one).
    pub destinations: Vec<String>,
    /// A backup is due when the newest verified one is older than this (0: no schedule).
    pub interval_hours: u32,
    /// Restore drill interval in days (0: none).
    pub drill_interval_days: u32,
    /// Keep the newest backup of each of the last N days.
    pub keep_daily: u32,
    /// … of each of the last N weeks.
    pub keep_weekly: u32,
    /// … of each of the last N months.
    pub keep_monthly: u32,
}

/// The backups screen.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct BackupOverview {
    /// Schedule and destinations.
    pub plan: BackupPlan,
    /// Age of the newest verified backup in hours, if any.
    pub newest_verified_age_hours: Option<u32>,
    /// A scheduled backup is due now.
    pub due: bool,
    /// Why the latest run failed, if it did.
    pub last_problem: Option<String>,
    /// Backups in the destinations, oldest first.
    pub backups: Vec<BackupRow>,
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
        // The plan edits `every N h` schedules; one set by the clock with `crm backup
        // settings --schedule` shows as 0 here and is kept unless the hours are changed.
        interval_hours: settings.schedule.interval_hours().unwrap_or(0),
        drill_interval_days: settings.drill_interval_days,
        keep_daily: settings.retention.keep_daily,
        keep_weekly: settings.retention.keep_weekly,
        keep_monthly: settings.retention.keep_monthly,
    }
}

/// Status, plan and list.
#[tauri::command]
#[specta::specta]
pub async fn backup_overview(state: State<'_, AppState>) -> CommandResult<BackupOverview> {
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
                newest_verified_age_hours: status
                    .newest_verified_age_hours
                    .map(|hours| u32::try_from(hours.max(0)).unwrap_or(u32::MAX)),
                due: status.due,
                last_problem: status.last_problem,
                backups,
            })
        })
        .await
}

/// Saves the schedule, retention and destinations.
#[tauri::command]
#[specta::specta]
pub async fn save_backup_plan(state: State<'_, AppState>, plan: BackupPlan) -> CommandResult<()> {
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
            if settings.schedule.interval_hours().unwrap_or(0) != plan.interval_hours {
                settings.schedule = Schedule::every_hours(plan.interval_hours)?;
            }
            settings.drill_interval_days = plan.drill_interval_days;
            settings.retention.keep_daily = plan.keep_daily;
            settings.retention.keep_weekly = plan.keep_weekly;
            settings.retention.keep_monthly = plan.keep_monthly;
            Ok(session.set_backup_settings(settings)?)
        })
        .await?;
    // A new destination or a shorter interval may make a backup due now.
    state.wake_scheduler();
    Ok(())
}

/// Makes and verifies a backup in every destination now (progress: `backup`).
#[tauri::command]
#[specta::specta]
pub async fn backup_now<R: Runtime>(app: AppHandle<R>) -> CommandResult<Vec<BackupRow>> {
    blocking(move || {
        let state = app.state::<AppState>();
        let _busy = state.start_long_operation("a backup")?;
        let mut progress = emit_progress(&app, "backup");
        state.with_session(|session| {
            Ok(session
                .backup_now(None, &mut progress)?
                .into_iter()
                .map(row)
                .collect())
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
        state.with_session(|session| {
            if !session.role()?.has(Right::Restore) {
                return Err(
                    crm_core::Error::Forbidden("restoring needs the restore right".into()).into(),
                );
            }
            Ok(())
        })?;
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
