//! Vault commands: status, first run (create), unlock, lock, activity, password strength,
//! key files and the once-shown recovery identity.

use std::path::PathBuf;

use crm_core::policy::Right;
use crm_core::{Credentials, KdfStrength, NewVault, Password, Vault};
use serde::Serialize;
use tauri::{AppHandle, Manager, Runtime, State};

use super::audit::{AlertRow, alert_row};
use super::{blocking, key_file_digest};
use crate::error::{CommandError, CommandResult};
use crate::state::AppState;

/// A user who may sign in, as the unlock screen shows them.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct SignInUser {
    /// Login name.
    pub name: String,
    /// Whether a key file is required.
    pub requires_key_file: bool,
}

/// Who is signed in and what the shell lets them open.
#[derive(Debug, Clone, Serialize, specta::Type)]
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
#[derive(Debug, Clone, Serialize, specta::Type)]
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

/// A password strength estimate.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct Strength {
    /// Estimated entropy in bits.
    pub bits: u32,
    /// `weak`, `fair`, `good` or `strong`.
    pub verdict: String,
}

/// A new vault: the owner's session and the recovery identity, shown once.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct CreatedVaultView {
    /// The owner's session.
    pub session: SessionInfo,
    /// The age identity file text (`AGE-SECRET-KEY-…`): shown once, then forgotten.
    pub recovery_identity: String,
    /// Its public recipient (safe to keep).
    pub recovery_recipient: String,
}

pub(crate) fn session_info(
    state: &AppState,
    session: &crm_core::Session,
) -> CommandResult<SessionInfo> {
    let user = session.user();
    // The role is re-read from the vault: an owner's change applies at once.
    let role = session.role()?;
    Ok(SessionInfo {
        user: user.name.clone(),
        role: user.role.clone(),
        can_manage_users: role.has(Right::ManageUsers),
        can_view_audit: role.has(Right::ViewAudit),
        can_manage_roles: role.has(Right::ManageRoles),
        can_run_backups: role.has(Right::RunBackups),
        can_manage_backup_settings: role.has(Right::ManageBackupSettings),
        can_restore: role.has(Right::Restore),
        failed_unlocks: u32::try_from(session.failed_unlocks().len()).unwrap_or(u32::MAX),
        warnings: session.warnings().to_vec(),
        alerts: session
            .alerts_to_show()?
            .into_iter()
            .map(alert_row)
            .collect(),
        auto_lock_secs: u32::try_from(state.auto_lock_after().as_secs()).unwrap_or(u32::MAX),
    })
}

/// Whether a vault exists, who may sign in, and the open session if any. Runs on a worker:
/// it waits for a running long operation rather than answer `busy` (the app asks at start and
/// after locking).
#[tauri::command]
#[specta::specta]
pub async fn vault_status(state: State<'_, AppState>) -> CommandResult<VaultStatus> {
    let state = state.inner().clone();
    blocking(move || vault_status_now(&state)).await
}

fn vault_status_now(state: &AppState) -> CommandResult<VaultStatus> {
    let dir = state.vault_dir.display().to_string();
    let session = match &*state.lock_state() {
        crate::state::Lock::Locked => None,
        crate::state::Lock::Unlocked(session) => Some(session_info(state, session)?),
    };
    if !crm_core::VaultPaths::new(&state.vault_dir).exists() {
        return Ok(VaultStatus {
            dir,
            exists: false,
            users: Vec::new(),
            warnings: Vec::new(),
            session,
        });
    }
    let vault = Vault::open(&state.vault_dir)?;
    Ok(VaultStatus {
        dir,
        exists: true,
        users: vault
            .users()
            .into_iter()
            .map(|u| SignInUser {
                name: u.name,
                requires_key_file: u.requires_key_file,
            })
            .collect(),
        warnings: vault.warnings().to_vec(),
        session,
    })
}

/// Estimates a password's strength for the meter (nothing is stored).
#[tauri::command]
#[specta::specta]
pub fn password_strength(password: String) -> Strength {
    let (bits, verdict) = crm_core::secret::password_strength(&Password::new(password));
    Strength {
        bits,
        verdict: verdict.into(),
    }
}

/// Writes a new random key file at the path the user chose in the save dialog.
#[tauri::command]
#[specta::specta]
pub fn generate_key_file(path: String) -> CommandResult<()> {
    crm_core::secret::generate_key_file(&PathBuf::from(path))?;
    Ok(())
}

/// First run: creates the vault with its owner and opens the owner's session.
#[tauri::command]
#[specta::specta]
pub async fn create_vault<R: Runtime>(
    app: AppHandle<R>,
    owner: String,
    password: String,
    key_file: Option<String>,
) -> CommandResult<CreatedVaultView> {
    blocking(move || {
        let state = app.state::<AppState>();
        let _busy = state.start_long_operation("creating the vault")?;
        let created = Vault::create(
            &state.vault_dir,
            NewVault {
                owner: owner.trim().to_string(),
                password: Password::new(password),
                key_file: key_file_digest(key_file)?,
                kdf: KdfStrength::from_env(),
            },
        )?;
        let recovery_identity = created.recovery.to_identity_file().expose().to_string();
        let recovery_recipient = created.recovery.recipient();
        *state.recovery() = Some(created.recovery);
        let session = session_info(&state, &created.session)?;
        state.set_session(created.session);
        Ok(CreatedVaultView {
            session,
            recovery_identity,
            recovery_recipient,
        })
    })
    .await
}

/// Saves the recovery identity of the vault just created to the file the owner chose
/// (owner-only permissions). Fails once the owner has confirmed and it was forgotten.
#[tauri::command]
#[specta::specta]
pub fn save_recovery_identity(state: State<'_, AppState>, path: String) -> CommandResult<()> {
    let guard = state.recovery();
    let identity = guard.as_ref().ok_or_else(|| {
        CommandError::new(
            "not_found",
            "the recovery identity is no longer held: it is shown only once",
        )
    })?;
    crm_core::fsutil::write_atomic(
        &PathBuf::from(path),
        identity.to_identity_file().expose().as_bytes(),
    )?;
    Ok(())
}

/// The owner confirms the recovery identity is stored safely: the app forgets it.
#[tauri::command]
#[specta::specta]
pub fn confirm_recovery_saved(state: State<'_, AppState>) {
    state.recovery().take();
}

/// Seconds this user must wait before the next unlock attempt (0 if none).
#[tauri::command]
#[specta::specta]
pub fn unlock_delay(state: State<'_, AppState>, user: String) -> CommandResult<u32> {
    let vault = Vault::open(&state.vault_dir)?;
    Ok(u32::try_from(vault.unlock_delay(&user)).unwrap_or(u32::MAX))
}

/// Unlocks the vault as `user`.
#[tauri::command]
#[specta::specta]
pub async fn unlock<R: Runtime>(
    app: AppHandle<R>,
    user: String,
    password: String,
    key_file: Option<String>,
) -> CommandResult<SessionInfo> {
    blocking(move || {
        let state = app.state::<AppState>();
        let vault = Vault::open(&state.vault_dir)?;
        let session = vault.unlock(&Credentials {
            user: user.clone(),
            password: Password::new(password),
            key_file: key_file_digest(key_file.clone())?,
        })?;
        if let Some(path) = key_file.filter(|path| !path.trim().is_empty()) {
            crate::key_file_memory::remember(&state.vault_dir, &user, &path);
        }
        let info = session_info(&state, &session)?;
        state.set_session(session);
        Ok(info)
    })
    .await
}

/// Where `user` last unlocked this vault with a key file from, if this OS account's keyring
/// remembers it (the unlock screen offers it; the file itself is still needed).
#[tauri::command]
#[specta::specta]
pub fn remembered_key_file(state: State<'_, AppState>, user: String) -> Option<String> {
    crate::key_file_memory::recall(&state.vault_dir, &user)
}

/// The signed-in user's session view, re-read (after a role change, for example).
#[tauri::command]
#[specta::specta]
pub async fn session_info_now(state: State<'_, AppState>) -> CommandResult<SessionInfo> {
    let info_state = state.inner().clone();
    state
        .session(move |session| session_info(&info_state, session))
        .await
}

/// Locks now: the session is dropped and its key zeroized. A running long operation is let
/// finish first (this waits on a worker, never on the window's thread); a running backup job
/// is not waited for: the window locks at once and the session is locked as soon as it has
/// recorded the backup (see `state`).
#[tauri::command]
#[specta::specta]
pub async fn lock(state: State<'_, AppState>) -> CommandResult<()> {
    let state = state.inner().clone();
    blocking(move || {
        state.recovery().take();
        state.lock_now(false);
        Ok(())
    })
    .await
}

/// The UI reports user activity (keys, clicks), which resets the idle timer.
#[tauri::command]
#[specta::specta]
pub fn touch(state: State<'_, AppState>) {
    state.touch();
}
