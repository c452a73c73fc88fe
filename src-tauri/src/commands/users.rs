//! User commands for owner settings: list, add, reset password, remove (with key rotation
//! and progress events). crm-core checks the manage-users right; the UI only hides buttons.

use crm_core::{NewUser, Password};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, Runtime, State};
use tauri_specta::Event;

use super::{blocking, key_file_digest};
use crate::error::CommandResult;
use crate::state::AppState;

/// A user row on the users screen.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct UserRow {
    /// Login name.
    pub name: String,
    /// Role name.
    pub role: String,
    /// Their team, if any.
    pub team: Option<String>,
    /// Whether their slot requires a key file.
    pub requires_key_file: bool,
    /// Whether their role requires a key file at sign-in (security policy).
    pub role_requires_key_file: bool,
    /// Their role requires a key file and their sign-in has none: they cannot unlock until
    /// they are given one (a password reset with a key file).
    pub key_file_missing: bool,
    /// When they were added (RFC 3339).
    pub created_at: String,
    /// Their last successful unlock (RFC 3339), if any.
    pub last_unlock_at: Option<String>,
}

/// Progress of a long operation, streamed to the UI as the `progress-event` event.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, Event)]
pub struct ProgressEvent {
    /// Which operation (`remove_user`, `rotate_key`, …).
    pub operation: String,
    /// What is happening now.
    pub step: String,
    /// Steps done.
    pub done: u32,
    /// Steps in all.
    pub total: u32,
}

/// The vault locked itself after the idle period (or was locked elsewhere).
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type, Event)]
pub struct LockedEvent {
    /// `idle` or `explicit`.
    pub reason: String,
}

pub(crate) fn emit_progress<R: Runtime>(
    app: &AppHandle<R>,
    operation: &str,
) -> impl FnMut(crm_core::Progress) + use<R> {
    let app = app.clone();
    let operation = operation.to_string();
    move |progress: crm_core::Progress| {
        let event = ProgressEvent {
            operation: operation.clone(),
            step: progress.step,
            done: u32::try_from(progress.done).unwrap_or(u32::MAX),
            total: u32::try_from(progress.total).unwrap_or(u32::MAX),
        };
        if let Err(error) = event.emit(&app) {
            tracing::warn!("could not send a progress event: {error}");
        }
    }
}

/// The roles a user may be given (the vault's roles, templates first).
#[tauri::command]
#[specta::specta]
pub async fn role_names(state: State<'_, AppState>) -> CommandResult<Vec<String>> {
    state
        .session(move |session| {
            Ok(session
                .list_roles()?
                .into_iter()
                .map(|summary| summary.role.name)
                .collect())
        })
        .await
}

/// Gives a user another role; applies to their open session at once.
#[tauri::command]
#[specta::specta]
pub async fn set_user_role(
    state: State<'_, AppState>,
    name: String,
    role: String,
) -> CommandResult<()> {
    state
        .session(move |session| {
            session.set_user_role(&name, &role)?;
            Ok(())
        })
        .await
}

/// Puts a user in a team (made if new; records they create from now on belong to it), or
/// takes them out of theirs with `null`.
#[tauri::command]
#[specta::specta]
pub async fn set_user_team(
    state: State<'_, AppState>,
    name: String,
    team: Option<String>,
) -> CommandResult<()> {
    state
        .session(move |session| {
            session.set_user_team(&name, team.as_deref())?;
            Ok(())
        })
        .await
}

/// Active users with their roles.
#[tauri::command]
#[specta::specta]
pub async fn list_users(state: State<'_, AppState>) -> CommandResult<Vec<UserRow>> {
    state
        .session(move |session| {
            Ok(session
                .list_users()?
                .into_iter()
                .map(|u| UserRow {
                    name: u.name,
                    role: u.role,
                    team: u.team,
                    requires_key_file: u.requires_key_file,
                    role_requires_key_file: u.role_requires_key_file,
                    key_file_missing: u.key_file_missing,
                    created_at: u.created_at,
                    last_unlock_at: u.last_unlock_at,
                })
                .collect())
        })
        .await
}

/// Adds a user with a role, an initial password and optionally a key file.
#[tauri::command]
#[specta::specta]
pub async fn add_user<R: Runtime>(
    app: AppHandle<R>,
    name: String,
    role: String,
    password: String,
    key_file: Option<String>,
) -> CommandResult<()> {
    blocking(move || {
        let state = app.state::<AppState>();
        let key_file = key_file_digest(key_file)?;
        state.with_session(|session| {
            session.add_user(NewUser {
                name: name.trim().to_string(),
                role,
                password: Password::new(password),
                key_file,
            })?;
            Ok(())
        })
    })
    .await
}

/// Gives a user a new password (and optionally a new key file: the way to give one to a user
/// whose role requires a key file their sign-in lacks).
#[tauri::command]
#[specta::specta]
pub async fn reset_password<R: Runtime>(
    app: AppHandle<R>,
    name: String,
    password: String,
    key_file: Option<String>,
) -> CommandResult<()> {
    blocking(move || {
        let state = app.state::<AppState>();
        let key_file = key_file_digest(key_file)?;
        state.with_session(|session| {
            session.reset_password(&name, Password::new(password), key_file)?;
            Ok(())
        })
    })
    .await
}

/// Removes a user and rotates the data key, streaming `ProgressEvent`s. Refused with `busy`
/// while another long operation or a backup runs.
#[tauri::command]
#[specta::specta]
pub async fn remove_user<R: Runtime>(app: AppHandle<R>, name: String) -> CommandResult<()> {
    blocking(move || {
        let state = app.state::<AppState>();
        // A rotation needs the vault alone; a running backup job holds it open.
        state.refuse_during_backup()?;
        let _busy = state.start_long_operation("removing a user (key rotation)")?;
        let mut progress = emit_progress(&app, "remove_user");
        state.with_session(|session| {
            session.remove_user(&name, &mut progress)?;
            Ok(())
        })
    })
    .await
}

/// Rotates the data key now (suspected compromise), streaming `ProgressEvent`s.
#[tauri::command]
#[specta::specta]
pub async fn rotate_data_key<R: Runtime>(app: AppHandle<R>) -> CommandResult<()> {
    blocking(move || {
        let state = app.state::<AppState>();
        state.refuse_during_backup()?;
        let _busy = state.start_long_operation("a key rotation")?;
        let mut progress = emit_progress(&app, "rotate_key");
        state.with_session(|session| {
            session.rotate_data_key(&mut progress)?;
            Ok(())
        })
    })
    .await
}
