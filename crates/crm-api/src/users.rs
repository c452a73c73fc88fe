//! User use cases for owner settings: list, add, reset password, remove (with key rotation
//! and progress). crm-core checks the manage-users right; front ends only hide buttons.

use crm_core::vault::ProgressFn;
use crm_core::{KeyFileDigest, NewUser, Password, Session};
use serde::{Deserialize, Serialize};

use crate::error::ApiResult;

/// A user row on the users screen.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
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

/// The roles a user may be given (the vault's roles, templates first).
pub fn role_names(session: &mut Session) -> ApiResult<Vec<String>> {
    Ok(session
        .list_roles()?
        .into_iter()
        .map(|summary| summary.role.name)
        .collect())
}

/// Gives a user another role; applies to their open session at once.
pub fn set_user_role(session: &mut Session, name: &str, role: &str) -> ApiResult<()> {
    Ok(session.set_user_role(name, role)?)
}

/// Puts a user in a team (made if new; records they create from now on belong to it), or
/// takes them out of theirs with `None`.
pub fn set_user_team(session: &mut Session, name: &str, team: Option<&str>) -> ApiResult<()> {
    Ok(session.set_user_team(name, team)?)
}

/// Active users with their roles.
pub fn list_users(session: &mut Session) -> ApiResult<Vec<UserRow>> {
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
}

/// Adds a user with a role, an initial password and optionally a key file (its digest: the
/// file itself stays on the workstation).
pub fn add_user(
    session: &mut Session,
    name: &str,
    role: String,
    password: Password,
    key_file: Option<KeyFileDigest>,
) -> ApiResult<()> {
    session.add_user(NewUser {
        name: name.trim().to_string(),
        role,
        password,
        key_file,
    })?;
    Ok(())
}

/// Gives a user a new password (and optionally a new key file: the way to give one to a user
/// whose role requires a key file their sign-in lacks).
pub fn reset_password(
    session: &mut Session,
    name: &str,
    password: Password,
    key_file: Option<KeyFileDigest>,
) -> ApiResult<()> {
    Ok(session.reset_password(name, password, key_file)?)
}

/// Removes a user and rotates the data key (a long operation, reporting to `progress`).
pub fn remove_user(session: &mut Session, name: &str, progress: ProgressFn<'_>) -> ApiResult<()> {
    Ok(session.remove_user(name, progress)?)
}

/// Rotates the data key now (suspected compromise), reporting to `progress`.
pub fn rotate_data_key(session: &mut Session, progress: ProgressFn<'_>) -> ApiResult<()> {
    Ok(session.rotate_data_key(progress)?)
}
