//! Backups for the owner and the sysadmin: status and list, the plan (schedule in words,
//! destinations and their state, retention, extra recipients), re-verify, and the restore
//! (a backup + the recovery identity → a new vault elsewhere). crm-core reads schedules,
//! validates plans, checks the rights and records every run; running a backup off the
//! session is the host's part ([`crate::local`]).

use std::path::PathBuf;

use crm_core::backup::{
    BackupInfo, BackupSettings, BackupState, DestinationStatus, RestoreOptions, RunReport,
    Schedule, restore,
};
use crm_core::policy::Right;
use crm_core::vault::ProgressFn;
use crm_core::{KdfStrength, Password, RecoveryIdentity, Session};
use serde::{Deserialize, Serialize};

use crate::error::{ApiResult, count};

/// Whether a backup was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum BackupCheck {
    /// Reopened and checked in full.
    Verified,
    /// The check failed (see its problems).
    Failed,
    /// Not checked yet.
    Unverified,
}

impl From<BackupState> for BackupCheck {
    fn from(state: BackupState) -> Self {
        match state {
            BackupState::Verified => Self::Verified,
            BackupState::Failed => Self::Failed,
            BackupState::Unverified => Self::Unverified,
        }
    }
}

/// One backup in the list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct BackupRow {
    /// Id (its folder name).
    pub id: String,
    /// Its folder.
    pub path: String,
    /// When the snapshot was taken (RFC 3339).
    pub created_at: String,
    /// Size of the encrypted copy in MB.
    pub size_mb: f64,
    /// Whether it was verified.
    pub state: BackupCheck,
    /// When it was last checked (RFC 3339).
    pub checked_at: Option<String>,
    /// What failed.
    pub problems: Vec<String>,
}

/// The owner's backup plan, as the plan form edits it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ScheduleExplained {
    /// The canonical text the vault stores (`daily 13:00`).
    pub text: String,
    /// What it means, in words (`at 13:00, every day (local time)`).
    pub description: String,
}

/// What "Back up now" did.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct BackupRunView {
    /// Backups made (one per destination that worked).
    pub made: Vec<BackupRow>,
    /// What went wrong, each naming the destination or backup.
    pub problems: Vec<String>,
}

/// What a restore needs besides the backup's recovery identity.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RestoreRequest {
    /// The backup's folder, as the backend listed it.
    pub backup: String,
    /// The new vault's folder, on the backend's machine.
    pub to: String,
    /// Rename a folder that stands at `to` out of the way (nothing is ever deleted).
    pub move_aside: bool,
}

/// A finished restore.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
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

/// A backup as listed.
pub fn row(info: BackupInfo) -> BackupRow {
    BackupRow {
        id: info.id,
        path: info.path.display().to_string(),
        created_at: info.created_at,
        size_mb: info.size_bytes as f64 / 1_000_000.0,
        state: info.state.into(),
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

/// Status, plan, destinations and list. `running_backup` is the host's own knowledge of a
/// backup job under way.
pub fn backup_overview(
    session: &mut Session,
    running_backup: Option<String>,
) -> ApiResult<BackupOverview> {
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
            .map(|hours| count(hours.max(0))),
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
}

/// Reads a schedule the way the vault will (for the plan form's live check): its canonical
/// text and what it means, or why it is not a schedule.
pub fn explain_schedule(text: &str) -> ApiResult<ScheduleExplained> {
    let schedule: Schedule = text.parse()?;
    Ok(ScheduleExplained {
        text: schedule.to_string(),
        description: schedule.describe(),
    })
}

/// Checks an extra backup recipient by crm-core's rule for saved settings; returns it as it
/// will be stored.
pub fn check_backup_recipient(recipient: &str) -> ApiResult<String> {
    let recipient = recipient.trim().to_owned();
    BackupSettings {
        extra_recipients: vec![recipient.clone()],
        ..BackupSettings::default()
    }
    .validate()?;
    Ok(recipient)
}

/// Saves the schedule, retention, destinations and extra recipients (crm-core validates them
/// and needs the manage-backup-settings right). Blank destinations and recipients are dropped.
pub fn save_backup_plan(session: &mut Session, plan: BackupPlan) -> ApiResult<()> {
    let schedule: Schedule = plan.schedule.parse()?;
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
}

/// What a backup run did, for the front end.
pub fn run_view(report: RunReport) -> BackupRunView {
    BackupRunView {
        made: report.made.into_iter().map(row).collect(),
        problems: report
            .failures
            .into_iter()
            .map(|failure| failure.problem)
            .collect(),
    }
}

/// Re-verifies one backup in full (it reads the whole copy).
pub fn verify_backup(session: &mut Session, path: &str) -> ApiResult<BackupRow> {
    Ok(row(session.verify_backup(&PathBuf::from(path), None)?))
}

/// Checks the restore right before a restore begins (the restore itself runs on no session).
pub fn require_restore_right(session: &mut Session) -> ApiResult<()> {
    session.require_right(Right::Restore)?;
    Ok(())
}

/// Restores a backup into a new vault folder with its recovery identity, giving the backup's
/// owner a new password. An existing folder at `to` is refused unless `move_aside` asks to
/// rename it out of the way. The new vault is closed again at once; its new recovery
/// identity is returned to be shown once (and kept by the host until saved).
pub fn restore_backup(
    request: &RestoreRequest,
    identity: &RecoveryIdentity,
    password: Password,
    progress: ProgressFn<'_>,
) -> ApiResult<(RestoreDone, RecoveryIdentity)> {
    let restored = restore(
        &PathBuf::from(request.backup.trim()),
        identity,
        RestoreOptions {
            to: PathBuf::from(request.to.trim()),
            move_aside: request.move_aside,
            owner: None,
            password,
            kdf: KdfStrength::from_env(),
        },
        progress,
    )?;
    let done = RestoreDone {
        dir: request.to.trim().to_owned(),
        backup_id: restored.manifest.backup_id.clone(),
        recovery_identity: restored.recovery.to_identity_file().expose().to_string(),
        owner: restored.session.user().name.clone(),
        moved_aside: restored
            .moved_aside
            .as_ref()
            .map(|path| path.display().to_string()),
    };
    restored.session.lock();
    Ok((done, restored.recovery))
}
