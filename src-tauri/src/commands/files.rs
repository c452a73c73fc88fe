//! Commands that take a file the user picked in a dialog. The file is read here, on the
//! workstation: a key file becomes its digest, an import its content, a recovery identity its
//! parsed form; no path crosses to the backend. Files the user asked to create are written
//! here too (a new key file, the recovery identity shown once).

use std::path::{Path, PathBuf};

use crm_api::backup::{RestoreDone, RestoreRequest};
use crm_api::transfer::{ImportFile, ImportRequest, ImportSummary};
use crm_api::vault::{CreatedVaultView, SessionInfo};
use crm_api::{ApiError, ApiResult, ClientInfo};
use crm_core::{KeyFileDigest, Password, SecretText};
use tauri::State;

use super::{Shell, blocking};

/// Reads the key file the user chose (or none): only its digest leaves this computer.
fn key_file_digest(path: Option<&str>) -> ApiResult<Option<KeyFileDigest>> {
    match path.filter(|path| !path.trim().is_empty()) {
        None => Ok(None),
        Some(path) => Ok(Some(KeyFileDigest::from_file(Path::new(path))?)),
    }
}

/// Writes a new random key file at the path the user chose in the save dialog (never over an
/// existing file).
#[tauri::command]
#[specta::specta]
pub fn generate_key_file(path: String) -> ApiResult<()> {
    crm_core::secret::generate_key_file(&PathBuf::from(path))?;
    Ok(())
}

/// First run: creates the vault with its owner and opens the owner's session.
#[tauri::command]
#[specta::specta]
pub async fn create_vault(
    shell: State<'_, Shell>,
    owner: String,
    password: String,
    key_file: Option<String>,
) -> ApiResult<CreatedVaultView> {
    let backend = shell.backend();
    blocking(move || {
        let digest = key_file_digest(key_file.as_deref())?;
        backend.create_vault(
            &owner,
            Password::new(password),
            digest,
            ClientInfo::this_computer(),
        )
    })
    .await
}

/// Saves the recovery identity of the vault just created (or restored) to a new file the owner
/// chose, with owner-only permissions. An existing file is never replaced: a path from the
/// window cannot be used to overwrite anything. Fails once it was confirmed saved and forgotten.
#[tauri::command]
#[specta::specta]
pub fn save_recovery_identity(shell: State<'_, Shell>, path: String) -> ApiResult<()> {
    let identity = shell.backend().held_recovery_identity()?;
    crm_core::fsutil::write_new_private_file(&PathBuf::from(path), identity.expose().as_bytes())?;
    Ok(())
}

/// Signs in. A key file that worked is remembered (its path only) in this OS account's
/// keyring, for the unlock screen to offer next time.
#[tauri::command]
#[specta::specta]
pub async fn unlock(
    shell: State<'_, Shell>,
    user: String,
    password: String,
    key_file: Option<String>,
) -> ApiResult<SessionInfo> {
    let backend = shell.backend();
    let vault_dir = shell.vault_dir.clone();
    blocking(move || {
        let digest = key_file_digest(key_file.as_deref())?;
        let info = backend.unlock(
            &user,
            Password::new(password),
            digest,
            ClientInfo::this_computer(),
        )?;
        if let Some(path) = key_file.filter(|path| !path.trim().is_empty()) {
            crate::key_file_memory::remember(&vault_dir, &user, &path);
        }
        Ok(info)
    })
    .await
}

/// Where `user` last unlocked this vault with a key file from, if this OS account's keyring
/// remembers it (the unlock screen offers it; the file itself is still needed).
#[tauri::command]
#[specta::specta]
pub fn remembered_key_file(shell: State<'_, Shell>, user: String) -> Option<String> {
    crate::key_file_memory::recall(&shell.vault_dir, &user)
}

/// Adds a user with a role, an initial password and optionally a key file.
#[tauri::command]
#[specta::specta]
pub async fn add_user(
    shell: State<'_, Shell>,
    name: String,
    role: String,
    password: String,
    key_file: Option<String>,
) -> ApiResult<()> {
    let backend = shell.backend();
    blocking(move || {
        let digest = key_file_digest(key_file.as_deref())?;
        backend.add_user(&name, &role, Password::new(password), digest)
    })
    .await
}

/// Gives a user a new password (and optionally a new key file).
#[tauri::command]
#[specta::specta]
pub async fn reset_password(
    shell: State<'_, Shell>,
    name: String,
    password: String,
    key_file: Option<String>,
) -> ApiResult<()> {
    let backend = shell.backend();
    blocking(move || {
        let digest = key_file_digest(key_file.as_deref())?;
        backend.reset_password(&name, Password::new(password), digest)
    })
    .await
}

/// Imports the file at `path` (`.vcf` / `.vcard` as vCard, anything else as CSV); a dry run
/// only reports (progress events: `import`).
#[tauri::command]
#[specta::specta]
pub async fn import_records(
    shell: State<'_, Shell>,
    path: String,
    request: ImportRequest,
) -> ApiResult<ImportSummary> {
    let backend = shell.backend();
    blocking(move || {
        let path = PathBuf::from(path.trim());
        let content = std::fs::read(&path).map_err(|error| {
            ApiError::new("io", format!("could not read {}: {error}", path.display()))
        })?;
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        backend.import_records(ImportFile { name, content }, request)
    })
    .await
}

/// Restores a backup into a new vault folder with the recovery identity from the file the
/// sysadmin picked, giving the backup's owner a new password (progress events: `restore`).
/// The restore runs where the vault is; this window stays on its own vault.
#[tauri::command]
#[specta::specta]
pub async fn restore_backup(
    shell: State<'_, Shell>,
    backup: String,
    identity_file: String,
    to: String,
    password: String,
    move_aside: bool,
) -> ApiResult<RestoreDone> {
    let backend = shell.backend();
    blocking(move || {
        let path = Path::new(identity_file.trim());
        let identity = std::fs::read_to_string(path)
            .map(SecretText::from_string)
            .map_err(|error| {
                ApiError::new(
                    "io",
                    format!(
                        "could not read the recovery identity {}: {error}",
                        path.display()
                    ),
                )
            })?;
        backend.restore_backup(
            RestoreRequest {
                backup,
                to,
                move_aside,
            },
            identity,
            Password::new(password),
        )
    })
    .await
}
