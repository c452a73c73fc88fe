//! Roles as stored in the vault: the `roles` table (templates and custom roles, each checked
//! against what its editor may grant) and the roles whose users must sign in with a key file.

use std::collections::BTreeSet;

use rusqlite::{OptionalExtension, params};

use super::*;
use crate::error::{Error, Result};
use crate::store::Connection;

/// Creates the `roles` table rows for the templates that are missing.
pub(crate) fn ensure_templates(conn: &Connection) -> Result<()> {
    for role in templates() {
        conn.execute(
            "INSERT OR IGNORE INTO roles (name, definition) VALUES (?1, ?2)",
            params![role.name, encode(&role)?],
        )?;
    }
    Ok(())
}

fn encode(role: &RoleDef) -> Result<String> {
    serde_json::to_string(role).map_err(|error| Error::Invalid(format!("role: {error}")))
}

/// The current definition of a role (a deleted role can do nothing).
pub(crate) fn load(conn: &Connection, name: &str) -> Result<RoleDef> {
    let stored: Option<String> = conn
        .query_row(
            "SELECT definition FROM roles WHERE name = ?1",
            [name],
            |row| row.get(0),
        )
        .optional()?;
    match stored {
        Some(json) => serde_json::from_str(&json)
            .map_err(|error| Error::damaged_by(format!("role {name}: {error}"), error)),
        None => Ok(RoleDef::nothing(name)),
    }
}

/// Every role, templates first.
pub(crate) fn list(conn: &Connection) -> Result<Vec<RoleDef>> {
    let mut statement = conn.prepare("SELECT definition FROM roles")?;
    let mut roles = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .map(|json| {
            json.map_err(Error::from).and_then(|json| {
                serde_json::from_str::<RoleDef>(&json)
                    .map_err(|error| Error::damaged_by(format!("role: {error}"), error))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let order = template_names();
    roles.sort_by_key(|role| {
        (
            order
                .iter()
                .position(|name| *name == role.name)
                .unwrap_or(usize::MAX),
            role.name.clone(),
        )
    });
    Ok(roles)
}

/// Creates or replaces a role after checking that `editor` may grant everything in it.
pub(crate) fn save(
    conn: &Connection,
    editor: &RoleDef,
    role: &RoleDef,
    create: bool,
) -> Result<()> {
    role.validate()?;
    if role.name == OWNER_ROLE {
        return Err(Error::Invalid("the Owner role cannot be changed".into()));
    }
    if !editor.dominates(role) {
        return Err(Error::Forbidden(
            "you cannot grant a right, scope or clearance you do not hold yourself".into(),
        ));
    }
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM roles WHERE name = ?1)",
        [&role.name],
        |row| row.get(0),
    )?;
    match (create, exists) {
        (true, true) => return Err(Error::AlreadyExists(format!("role {}", role.name))),
        (false, false) => return Err(Error::NotFound(format!("role {}", role.name))),
        _ => {}
    }
    let mut stored = role.clone();
    // Whether a role is a built-in template is the vault's fact, never the editor's input.
    stored.builtin = !create && load(conn, &role.name)?.builtin;
    conn.execute(
        "INSERT INTO roles (name, definition) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET definition = excluded.definition",
        params![stored.name, encode(&stored)?],
    )?;
    Ok(())
}

/// Deletes a role nobody holds.
pub(crate) fn delete(conn: &Connection, name: &str) -> Result<()> {
    if name == OWNER_ROLE {
        return Err(Error::Invalid("the Owner role cannot be deleted".into()));
    }
    let holders: i64 = conn.query_row(
        "SELECT count(*) FROM users WHERE role = ?1 AND removed_at IS NULL",
        [name],
        |row| row.get(0),
    )?;
    if holders > 0 {
        return Err(Error::Invalid(format!(
            "{holders} user(s) hold the role {name}; give them another role first"
        )));
    }
    if conn.execute("DELETE FROM roles WHERE name = ?1", [name])? == 0 {
        return Err(Error::NotFound(format!("role {name}")));
    }
    // A role made later under the same name starts without the deleted role's policy.
    set_role_requires_key_file(conn, name, false)
}

/// `vault_meta` key listing the roles whose users must sign in with a key file (a JSON array
/// of role names). Kept beside the other vault-wide security settings rather than in the role
/// definition, so that the policy also applies to the Owner role, whose definition is fixed.
const KEY_FILE_ROLES_KEY: &str = "key_file_required_roles";

fn key_file_roles(conn: &Connection) -> Result<BTreeSet<String>> {
    let stored: Option<String> = conn
        .query_row(
            "SELECT value FROM vault_meta WHERE key = ?1",
            [KEY_FILE_ROLES_KEY],
            |row| row.get(0),
        )
        .optional()?;
    match stored {
        Some(json) => serde_json::from_str(&json)
            .map_err(|error| Error::damaged_by(format!("{KEY_FILE_ROLES_KEY}: {error}"), error)),
        None => Ok(BTreeSet::new()),
    }
}

/// Whether users holding `role` must sign in with a key file.
pub(crate) fn role_requires_key_file(conn: &Connection, role: &str) -> Result<bool> {
    Ok(key_file_roles(conn)?.contains(role))
}

/// Makes users holding `role` need (or no longer need) a key file to sign in. The caller
/// checks who may do it and records it.
pub(crate) fn set_role_requires_key_file(
    conn: &Connection,
    role: &str,
    required: bool,
) -> Result<()> {
    let mut roles = key_file_roles(conn)?;
    let changed = if required {
        roles.insert(role.to_owned())
    } else {
        roles.remove(role)
    };
    if changed {
        let json = serde_json::to_string(&roles)
            .map_err(|error| Error::Invalid(format!("{KEY_FILE_ROLES_KEY}: {error}")))?;
        conn.execute(
            "INSERT INTO vault_meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![KEY_FILE_ROLES_KEY, json],
        )?;
    }
    Ok(())
}

/// Lifts the key-file requirement from the role `user` holds; returns that role if it had the
/// requirement. For a restore, whose new owner slot has a password only: the requirement would
/// lock the restored vault's only sign-in out. The restore records what was lifted.
pub(crate) fn lift_key_file_requirement_of(
    conn: &Connection,
    user: &str,
) -> Result<Option<String>> {
    let role: Option<String> = conn
        .query_row(
            "SELECT role FROM users WHERE name = ?1 AND removed_at IS NULL",
            [user],
            |row| row.get(0),
        )
        .optional()?;
    match role {
        Some(role) if role_requires_key_file(conn, &role)? => {
            set_role_requires_key_file(conn, &role, false)?;
            Ok(Some(role))
        }
        _ => Ok(None),
    }
}
