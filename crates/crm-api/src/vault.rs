//! The vault's front door: whether a vault exists and who may sign in, the signed-in user's
//! session view (what the front end lets them open), and password strength. Creating,
//! unlocking and locking belong to the backend that hosts the session.

use crm_core::Session;
use crm_core::password::PasswordStrength;
use crm_core::policy::Right;
use serde::{Deserialize, Serialize};

use crate::audit::{AlertRow, alert_row};
use crate::error::{ApiResult, count};

/// A user who may sign in, as the unlock screen shows them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SignInUser {
    /// Login name.
    pub name: String,
    /// Whether a key file is required.
    pub requires_key_file: bool,
}

/// Who is signed in and what the shell lets them open.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SessionInfo {
    /// Login name.
    pub user: String,
    /// Role name.
    pub role: String,
    /// May open the users screen (owner settings).
    pub can_manage_users: bool,
    /// May open the audit viewer.
    pub can_view_audit: bool,
    /// May edit roles and field classification.
    pub can_manage_roles: bool,
    /// May make and verify backups ("Back up now").
    pub can_run_backups: bool,
    /// May change the backup plan (schedule, destinations, retention, recipients).
    pub can_manage_backup_settings: bool,
    /// May restore a backup into a new vault.
    pub can_restore: bool,
    /// May run the security checkup.
    pub can_run_checkup: bool,
    /// Failed unlock attempts since this user's previous unlock (shown once after unlock).
    pub failed_unlocks: u32,
    /// Warnings about the vault (e.g. a repaired key-slot copy).
    pub warnings: Vec<String>,
    /// Unacknowledged unusual-activity alerts, for roles that read the audit trail (shown
    /// after unlock until acknowledged in the audit viewer).
    pub alerts: Vec<AlertRow>,
    /// Idle seconds before auto-lock.
    pub auto_lock_secs: u32,
}

/// What the app sees at start: whether a vault exists and who may sign in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct VaultStatus {
    /// The vault directory.
    pub dir: String,
    /// Whether a vault exists there (if not, the first-run screen shows).
    pub exists: bool,
    /// Users with a key slot.
    pub users: Vec<SignInUser>,
    /// Warnings from opening the vault.
    pub warnings: Vec<String>,
    /// The open session, if any.
    pub session: Option<SessionInfo>,
}

/// A password strength estimate (zxcvbn's, against the vault's minimum score).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Strength {
    /// zxcvbn's score, 0 (guessed at once) to 4 (more than 10^10 guesses).
    pub score: u8,
    /// The score in a word: `very weak`, `weak`, `fair`, `good` or `strong`.
    pub label: String,
    /// The vault's minimum score.
    pub min_score: u8,
    /// Whether the vault would accept it (long enough and at least the minimum score).
    pub acceptable: bool,
    /// Why it is weak, when zxcvbn says.
    pub warning: Option<String>,
    /// How to make it stronger.
    pub suggestions: Vec<String>,
}

impl From<PasswordStrength> for Strength {
    fn from(strength: PasswordStrength) -> Self {
        Strength {
            score: strength.score,
            label: strength.label,
            min_score: strength.min_score,
            acceptable: strength.acceptable,
            warning: strength.warning,
            suggestions: strength.suggestions,
        }
    }
}

/// A new vault: the owner's session and the recovery identity, shown once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CreatedVaultView {
    /// The owner's session.
    pub session: SessionInfo,
    /// The age identity file text (`AGE-SECRET-KEY-…`): shown once, then forgotten.
    pub recovery_identity: String,
    /// Its public recipient (safe to keep).
    pub recovery_recipient: String,
}

/// The signed-in user's session view. The role is re-read from the vault, so an owner's
/// change applies at once. `auto_lock_secs` is the idle period the host applies.
pub fn session_info(session: &mut Session, auto_lock_secs: u64) -> ApiResult<SessionInfo> {
    let user = session.user();
    let (name, role_name) = (user.name.clone(), user.role.clone());
    let role = session.role()?;
    Ok(SessionInfo {
        user: name,
        role: role_name,
        can_manage_users: role.has(Right::ManageUsers),
        can_view_audit: role.has(Right::ViewAudit),
        can_manage_roles: role.has(Right::ManageRoles),
        can_run_backups: role.has(Right::RunBackups),
        can_manage_backup_settings: role.has(Right::ManageBackupSettings),
        can_restore: role.has(Right::Restore),
        can_run_checkup: session.may_run_security_checkup()?,
        failed_unlocks: count(session.failed_unlocks().len()),
        warnings: session.warnings().to_vec(),
        alerts: session
            .alerts_to_show()?
            .into_iter()
            .map(alert_row)
            .collect(),
        auto_lock_secs: count(auto_lock_secs),
    })
}
