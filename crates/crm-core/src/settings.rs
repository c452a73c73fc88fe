//! The owner's settings API: roles, user ↔ role and team assignments. Each change is
//! validated, explained on refusal, recorded in the audit trail, and applies to open sessions
//! at once (roles are re-read on every check).

use chrono::Utc;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::policy::{self, Right, RoleDef};
use crate::vault::Session;

/// A role with how many users hold it.
#[derive(Debug, Clone, Serialize)]
pub struct RoleSummary {
    /// The definition.
    #[serde(flatten)]
    pub role: RoleDef,
    /// Active users holding it.
    pub users: i64,
    /// Whether its users must sign in with a key file.
    pub requires_key_file: bool,
}

impl Session {
    /// Every role with its holders count. Readable by anyone who manages users or roles.
    pub fn list_roles(&self) -> Result<Vec<RoleSummary>> {
        let me = self.role()?;
        if !(me.has(Right::ManageRoles) || me.has(Right::ManageUsers)) {
            return Err(Error::Forbidden(
                "only role and user managers can list roles".into(),
            ));
        }
        policy::list(self.store().conn())?
            .into_iter()
            .map(|role| {
                let users = self.store().conn().query_row(
                    "SELECT count(*) FROM users WHERE role = ?1 AND removed_at IS NULL",
                    [&role.name],
                    |row| row.get(0),
                )?;
                let requires_key_file =
                    policy::role_requires_key_file(self.store().conn(), &role.name)?;
                Ok(RoleSummary {
                    role,
                    users,
                    requires_key_file,
                })
            })
            .collect()
    }

    /// Creates (`create`) or replaces a role. You cannot grant what you do not hold, and the
    /// Owner role cannot change.
    pub fn save_role(&mut self, role: &RoleDef, create: bool) -> Result<()> {
        let editor = self.require_right(Right::ManageRoles)?;
        let old = if create {
            None
        } else {
            Some(policy::load(self.store().conn(), &role.name)?)
        };
        self.write(|tx, audit| {
            policy::save(tx, &editor, role, create)?;
            audit.record(
                AuditEvent::new(AuditAction::RoleChanged)
                    .target("role", &role.name)
                    .change(
                        old.as_ref().and_then(|old| serde_json::to_string(old).ok()),
                        serde_json::to_string(role).ok(),
                    ),
            );
            Ok(())
        })
    }

    /// Deletes a role that nobody holds.
    pub fn delete_role(&mut self, name: &str) -> Result<()> {
        self.require_right(Right::ManageRoles)?;
        self.write(|tx, audit| {
            policy::delete(tx, name)?;
            audit.record(
                AuditEvent::new(AuditAction::RoleChanged)
                    .target("role", name)
                    .detail("deleted", true),
            );
            Ok(())
        })
    }

    /// Gives a user another role. You may only give roles you dominate, only to users whose
    /// role you dominate, and the last Owner keeps the Owner role. A role that requires a key
    /// file goes only to a user whose sign-in has one.
    pub fn set_user_role(&mut self, user: &str, role_name: &str) -> Result<()> {
        let (mine, target) = self.require_authority_over(user)?;
        let role = self.existing_role(role_name)?;
        if !mine.dominates(&role) {
            return Err(Error::Forbidden(format!(
                "you cannot give the {role_name} role: it holds rights you do not"
            )));
        }
        if !self.slot_requires_key_file(user)
            && policy::role_requires_key_file(self.store().conn(), role_name)?
        {
            return Err(Error::Invalid(format!(
                "the {role_name} role requires a key file and {user}'s sign-in has none: give them one first (`crm user passwd {user} --new-key-file PATH`)"
            )));
        }
        let (user_id, old_role) = (target.id, target.role);
        if policy::is_owner_role(&old_role) && !policy::is_owner_role(role_name) {
            let owners: i64 = self.store().conn().query_row(
                "SELECT count(*) FROM users WHERE role = ?1 AND removed_at IS NULL",
                [policy::OWNER_ROLE],
                |row| row.get(0),
            )?;
            if owners <= 1 {
                return Err(Error::Invalid(
                    "the last Owner cannot be given another role".into(),
                ));
            }
        }
        self.write(|tx, audit| {
            tx.execute(
                "UPDATE users SET role = ?1 WHERE id = ?2",
                params![role_name, user_id],
            )?;
            audit.record(
                AuditEvent::new(AuditAction::RoleAssigned)
                    .target("user", user)
                    .change(Some(old_role.clone()), Some(role_name.to_owned())),
            );
            Ok(())
        })?;
        if user_id == self.user().id {
            self.set_user_role_cache(role_name);
        }
        Ok(())
    }

    /// Puts a user in a team (created if new), or takes them out with `None`. Records they
    /// create from now on belong to that team.
    pub fn set_user_team(&mut self, user: &str, team: Option<&str>) -> Result<()> {
        self.require_right(Right::ManageUsers)?;
        let team = team.map(str::trim).filter(|team| !team.is_empty());
        self.write(|tx, audit| {
            let team_id: Option<i64> = match team {
                Some(name) => {
                    tx.execute("INSERT OR IGNORE INTO teams (name) VALUES (?1)", [name])?;
                    Some(
                        tx.query_row("SELECT id FROM teams WHERE name = ?1", [name], |row| {
                            row.get(0)
                        })?,
                    )
                }
                None => None,
            };
            let changed = tx.execute(
                "UPDATE users SET team_id = ?1 WHERE name = ?2 AND removed_at IS NULL",
                params![team_id, user],
            )?;
            if changed == 0 {
                return Err(Error::NotFound(format!("user {user}")));
            }
            audit.record(
                AuditEvent::new(AuditAction::PolicyChanged)
                    .target("user", user)
                    .field("team", 0)
                    .change(None, team.map(str::to_owned))
                    .detail("at", Utc::now().to_rfc3339()),
            );
            Ok(())
        })
    }
}

impl Session {
    /// Whether users of `role` must sign in with a key file (anyone signed in may ask).
    pub fn role_requires_key_file(&self, role: &str) -> Result<bool> {
        policy::role_requires_key_file(self.store().conn(), role)
    }

    /// Makes users of `role` need (or no longer need) a key file to sign in: security policy,
    /// so it needs the manage-roles right and a role that holds everything `role` holds (the
    /// rule for role edits). Recorded in the audit trail.
    ///
    /// Users of the role whose sign-in already has a key file are unaffected. The others are
    /// returned: from now on they are refused at unlock ("your role requires a key file")
    /// until an administrator gives them one with a password reset, because a password alone
    /// must no longer open the vault for that role. You cannot set it on your own role while
    /// your own sign-in has no key file (you would lock yourself out).
    pub fn set_role_requires_key_file(
        &mut self,
        role: &str,
        required: bool,
    ) -> Result<Vec<String>> {
        let editor = self.require_right(Right::ManageRoles)?;
        let target = self.existing_role(role)?;
        if !editor.dominates(&target) {
            return Err(Error::Forbidden(format!(
                "the {role} role holds rights you do not; you cannot change its sign-in policy"
            )));
        }
        let me = self.user().name.clone();
        if required && editor.name == role && !self.slot_requires_key_file(&me) {
            return Err(Error::Invalid(format!(
                "you hold the {role} role and sign in without a key file: add one to your own sign-in first (`crm user passwd --new-key-file PATH`)"
            )));
        }
        let before = policy::role_requires_key_file(self.store().conn(), role)?;
        if before != required {
            self.write(|tx, audit| {
                policy::set_role_requires_key_file(tx, role, required)?;
                audit.record(
                    AuditEvent::new(AuditAction::PolicyChanged)
                        .target("role", role)
                        .field("requires_key_file", 0)
                        .change(Some(before.to_string()), Some(required.to_string())),
                );
                Ok(())
            })?;
        }
        if !required {
            return Ok(Vec::new());
        }
        let mut statement = self.store().conn().prepare(
            "SELECT name FROM users WHERE role = ?1 AND removed_at IS NULL ORDER BY name",
        )?;
        let holders = statement
            .query_map([role], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(holders
            .into_iter()
            .filter(|name| !self.slot_requires_key_file(name))
            .collect())
    }
}

/// The idle period before the desktop app locks itself, until the owner sets another.
pub const DEFAULT_AUTO_LOCK_MINUTES: u32 = 10;

/// The range an owner may choose: long enough to read, short enough to matter.
pub const AUTO_LOCK_MINUTES: std::ops::RangeInclusive<u32> = 1..=240;

impl Session {
    /// The security policy's auto-lock period in minutes (any session reads it: the app
    /// applies it to whoever is signed in).
    pub fn auto_lock_minutes(&self) -> Result<u32> {
        let stored: Option<String> = self
            .store()
            .conn()
            .query_row(
                "SELECT value FROM vault_meta WHERE key = 'auto_lock_minutes'",
                [],
                |row| row.get(0),
            )
            .optional()?;
        Ok(stored
            .and_then(|text| text.parse().ok())
            .filter(|minutes| AUTO_LOCK_MINUTES.contains(minutes))
            .unwrap_or(DEFAULT_AUTO_LOCK_MINUTES))
    }

    /// Sets the auto-lock period for everyone (manage-roles right: it is security policy).
    pub fn set_auto_lock_minutes(&mut self, minutes: u32) -> Result<()> {
        self.require_right(Right::ManageRoles)?;
        if !AUTO_LOCK_MINUTES.contains(&minutes) {
            return Err(Error::Invalid(format!(
                "auto-lock must be between {} and {} minutes",
                AUTO_LOCK_MINUTES.start(),
                AUTO_LOCK_MINUTES.end()
            )));
        }
        let before = self.auto_lock_minutes()?;
        self.write(|tx, audit| {
            tx.execute(
                "INSERT INTO vault_meta (key, value) VALUES ('auto_lock_minutes', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![minutes.to_string()],
            )?;
            audit.record(
                AuditEvent::new(AuditAction::PolicyChanged)
                    .target("policy", "auto_lock_minutes")
                    .change(Some(before.to_string()), Some(minutes.to_string())),
            );
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{add_user, login, owner_vault};

    #[test]
    fn the_owner_sets_the_auto_lock_period_for_everyone_within_bounds() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut owner = owner_vault(dir.path())?;
        add_user(&mut owner, "rita", "Sales Representative")?;
        assert_eq!(owner.auto_lock_minutes()?, DEFAULT_AUTO_LOCK_MINUTES);
        assert!(matches!(
            owner.set_auto_lock_minutes(0),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            owner.set_auto_lock_minutes(241),
            Err(Error::Invalid(_))
        ));
        owner.set_auto_lock_minutes(5)?;
        let mut rep = login(dir.path(), "rita")?;
        assert_eq!(rep.auto_lock_minutes()?, 5);
        assert!(matches!(
            rep.set_auto_lock_minutes(60),
            Err(Error::Forbidden(_))
        ));
        Ok(())
    }
}
