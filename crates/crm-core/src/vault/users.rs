//! Users of a vault: listing, adding, password changes and resets, removal (with a key
//! rotation), each one a key-slot edit under the manage-users right.

use chrono::Utc;
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use super::*;
use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::keyslot::{Credentials, KeySlotFile, UserSlot};
use crate::policy::{self, RoleDef};
use crate::secret::{KeyFileDigest, Password};
use crate::store::Store;

/// The person behind a session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CurrentUser {
    /// Row id in `users`.
    pub id: i64,
    /// Login name.
    pub name: String,
    /// Role name.
    pub role: String,
}

pub(super) fn load_active_user(store: &Store, name: &str) -> Result<Option<CurrentUser>> {
    Ok(store
        .conn()
        .query_row(
            "SELECT id, name, role FROM users WHERE name = ?1 AND removed_at IS NULL",
            [name],
            |row| {
                Ok(CurrentUser {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    role: row.get(2)?,
                })
            },
        )
        .optional()?)
}

/// A user as listed to the owner.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserInfo {
    /// Login name.
    pub name: String,
    /// Role name.
    pub role: String,
    /// Their team, if any: records they create belong to it.
    pub team: Option<String>,
    /// Whether their slot needs a key file.
    pub requires_key_file: bool,
    /// Whether their role requires a key file at sign-in.
    pub role_requires_key_file: bool,
    /// Their role requires a key file but their slot has none (the role gained the
    /// requirement later): they cannot unlock until an administrator gives them one.
    pub key_file_missing: bool,
    /// When the user was added (RFC 3339).
    pub created_at: String,
    /// Last successful unlock (RFC 3339), if any.
    pub last_unlock_at: Option<String>,
}

/// A user to add.
#[derive(Debug)]
pub struct NewUser {
    /// Login name.
    pub name: String,
    /// Role name (a template or custom role).
    pub role: String,
    /// Initial password (the user should change it).
    pub password: Password,
    /// Key file digest if the user's slot should require one.
    pub key_file: Option<KeyFileDigest>,
}

impl Session {
    /// Active users with their roles. Needs the manage-users right.
    pub fn list_users(&self) -> Result<Vec<UserInfo>> {
        self.require_manage_users()?;
        let mut statement = self.store.conn().prepare(
            "SELECT u.name, u.role, t.name, u.created_at, u.last_unlock_at
             FROM users u LEFT JOIN teams t ON t.id = u.team_id
             WHERE u.removed_at IS NULL ORDER BY u.name",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, Option<String>>(4)?,
            ))
        })?;
        let mut users = Vec::new();
        for row in rows {
            let (name, role, team, created_at, last_unlock_at) = row?;
            let requires_key_file = self.slot_requires_key_file(&name);
            let role_requires_key_file = policy::role_requires_key_file(self.store.conn(), &role)?;
            users.push(UserInfo {
                name,
                role,
                team,
                requires_key_file,
                role_requires_key_file,
                key_file_missing: role_requires_key_file && !requires_key_file,
                created_at,
                last_unlock_at,
            });
        }
        Ok(users)
    }

    /// Whether `name`'s slot requires a key file.
    pub(crate) fn slot_requires_key_file(&self, name: &str) -> bool {
        self.slots
            .current
            .user(name)
            .is_some_and(|slot| slot.requires_key_file)
    }

    /// Refuses a password (new user, change or reset) without a key file for a user whose role
    /// requires one.
    pub(super) fn require_key_file_if_role_needs(
        &self,
        role: &str,
        key_file: Option<&KeyFileDigest>,
    ) -> Result<()> {
        if key_file.is_none() && policy::role_requires_key_file(self.store.conn(), role)? {
            return Err(Error::Invalid(format!(
                "the {role} role requires a key file: choose one for this sign-in (any file, e.g. one made by `crm key generate-keyfile`)"
            )));
        }
        Ok(())
    }

    /// The acting user's role and `target`'s record, if the actor may manage `target`: that
    /// needs the manage-users right and a role holding every right, scope and clearance that
    /// `target`'s role holds ([`RoleDef::dominates`], the rule role edits and role grants
    /// use). So an Administrator cannot reset, remove or re-role an Owner.
    pub(crate) fn require_authority_over(&self, target: &str) -> Result<(RoleDef, CurrentUser)> {
        let mine = self.require_manage_users()?;
        let target_user = load_active_user(&self.store, target)?
            .ok_or_else(|| Error::NotFound(format!("user {target}")))?;
        let theirs = policy::load(self.store.conn(), &target_user.role)?;
        if !mine.dominates(&theirs) {
            return Err(Error::Forbidden(format!(
                "{target} holds the {} role, which has rights, scopes or clearance you do not; only someone holding all of them can reset, remove or change their sign-in or role",
                target_user.role
            )));
        }
        Ok((mine, target_user))
    }

    /// Adds a user with their own slot. Needs the manage-users right.
    pub fn add_user(&mut self, new: NewUser) -> Result<()> {
        let my_role = self.require_manage_users()?;
        validate_user_name(&new.name)?;
        validate_password(&new.password)?;
        let role = self.existing_role(&new.role)?;
        if !my_role.dominates(&role) {
            return Err(Error::Forbidden(format!(
                "you cannot give the {} role: it holds rights you do not",
                role.name
            )));
        }
        self.require_key_file_if_role_needs(&role.name, new.key_file.as_ref())?;
        if load_active_user(&self.store, &new.name)?.is_some() {
            return Err(Error::AlreadyExists(format!("user {}", new.name)));
        }
        let slot = UserSlot::create(
            self.vault_id,
            self.slots.current.key_id,
            &new.name,
            &new.password,
            new.key_file.as_ref(),
            self.kdf,
            &self.data_key,
        )?;
        let slot_edit = self.prepare_slot_edit(slot, None)?;
        let actor = self.user.name.clone();
        let paths = self.paths.clone();
        let mut slots = self.slots.clone();
        self.write(|tx, audit| {
            tx.execute(
                "INSERT INTO users (name, role, created_at, created_by) VALUES (?1, ?2, ?3, ?4)",
                params![new.name, new.role, Utc::now().to_rfc3339(), actor],
            )?;
            audit.record(
                AuditEvent::new(AuditAction::UserAdded)
                    .target("user", &new.name)
                    .detail("role", &new.role)
                    .detail("requires_key_file", new.key_file.is_some()),
            );
            // The slot is written before the row commits: if the commit is lost, the orphan
            // slot is retired by the next rotation; the reverse would leave a user who cannot
            // unlock.
            slot_edit.apply(&paths, &mut slots)
        })?;
        self.slots = slots;
        Ok(())
    }

    /// Changes the signed-in user's own password. `key_file` says what happens to the key
    /// file: [`KeyFileChange::Keep`] (also `None`) keeps the slot's requirement and the very
    /// key file `current` offered; only an explicit [`KeyFileChange::Set`] or
    /// [`KeyFileChange::Remove`] changes it. Re-seals only this user's slot (in the pending set
    /// too while a rotation is unfinished). `current` is checked like an unlock: throttled,
    /// and a failure is recorded for the audit trail.
    pub fn change_password(
        &mut self,
        current: &Credentials,
        new_password: Password,
        key_file: impl Into<KeyFileChange>,
    ) -> Result<()> {
        if !current.user.eq_ignore_ascii_case(&self.user.name) {
            return Err(Error::Forbidden(
                "you can change only your own password".into(),
            ));
        }
        validate_password(&new_password)?;
        let name = self.user.name.clone();
        let slot = self
            .slots
            .current
            .user(&name)
            .ok_or(Error::WrongCredentials)?
            .clone();
        let mut failures = FailureLog::load(&self.paths.failures);
        failures.check(&name)?;
        let opened = match slot.open(self.vault_id, current) {
            Ok(opened) => opened,
            Err(error @ (Error::WrongCredentials | Error::KeyFileRequired)) => {
                failures.record_failure(&name, error.code())?;
                return Err(error);
            }
            Err(error) => return Err(error),
        };
        failures.clear_user(&name)?;
        let change = key_file.into();
        let new_key_file = match &change {
            // The very key file that just opened the slot stays part of the sign-in.
            KeyFileChange::Keep if slot.requires_key_file => {
                Some(current.key_file.as_ref().ok_or(Error::KeyFileRequired)?)
            }
            KeyFileChange::Keep | KeyFileChange::Remove => None,
            KeyFileChange::Set(digest) => Some(digest),
        };
        self.require_key_file_if_role_needs(&self.role()?.name, new_key_file)?;
        let mut resealed = slot.clone();
        resealed.reseal_credentials(
            self.vault_id,
            &opened,
            &new_password,
            new_key_file,
            self.kdf,
        )?;
        let requires_key_file = resealed.requires_key_file;
        self.prepare_slot_edit(resealed, Some(&slot))?
            .apply(&self.paths, &mut self.slots)?;
        self.record(
            AuditEvent::new(AuditAction::PasswordChanged)
                .target("user", &name)
                .detail("requires_key_file", requires_key_file),
        )
    }

    /// Gives another user a new password (they forgot theirs): their slot is replaced by a
    /// fresh one. Needs the manage-users right and authority over the user (see
    /// `Session::require_authority_over`). `key_file`: [`KeyFileChange::Set`] requires that
    /// file from now on, [`KeyFileChange::Remove`] drops the requirement; [`KeyFileChange::Keep`]
    /// (also `None`) is refused for a slot that requires a key file, because the key file is
    /// part of the secret the administrator does not have. For a suspected compromise, also
    /// rotate.
    pub fn reset_password(
        &mut self,
        name: &str,
        password: Password,
        key_file: impl Into<KeyFileChange>,
    ) -> Result<()> {
        let (_, target) = self.require_authority_over(name)?;
        validate_password(&password)?;
        let key_file = match key_file.into() {
            KeyFileChange::Keep if self.slot_requires_key_file(name) => {
                return Err(Error::Invalid(format!(
                    "{name}'s sign-in requires a key file: give that key file (or a new one) with the new password, or remove the requirement explicitly"
                )));
            }
            KeyFileChange::Keep | KeyFileChange::Remove => None,
            KeyFileChange::Set(digest) => Some(digest),
        };
        self.require_key_file_if_role_needs(&target.role, key_file.as_ref())?;
        let slot = UserSlot::create(
            self.vault_id,
            self.slots.current.key_id,
            name,
            &password,
            key_file.as_ref(),
            self.kdf,
            &self.data_key,
        )?;
        self.prepare_slot_edit(slot, None)?
            .apply(&self.paths, &mut self.slots)?;
        FailureLog::load(&self.paths.failures).clear_user(name)?;
        self.record(
            AuditEvent::new(AuditAction::PasswordReset)
                .target("user", name)
                .detail("requires_key_file", key_file.is_some()),
        )
    }

    /// Readies `slot` to replace its user's slot in the current set and, while a rotation is
    /// pending, in the pending set too: the pending data key is sealed to the same slot
    /// identity, so promoting the pending set keeps the edit instead of undoing it.
    /// `replacing`: the slot the edit was made from; the write is refused if the file no
    /// longer holds it (someone changed this sign-in meanwhile).
    pub(super) fn prepare_slot_edit(
        &self,
        slot: UserSlot,
        replacing: Option<&UserSlot>,
    ) -> Result<SlotEdit> {
        let pending = match (&self.slots.pending, &self.pending_key) {
            (None, _) => None,
            (Some(pending), Some(key)) => {
                Some(slot.resealed_for(self.vault_id, pending.key_id, key)?)
            }
            // This session cannot seal for the pending set (its user has no pending slot):
            // the rotation must finish first, which needs the vault alone.
            (Some(_), None) => return Err(Error::VaultBusy),
        };
        Ok(SlotEdit {
            vault_id: self.vault_id,
            expected_pending: self.slots.pending.as_ref().map(|set| set.key_id),
            replacing_identity: replacing.map(|old| old.sealed_identity.clone()),
            current: slot,
            pending,
        })
    }

    /// Removes a user and rotates the data key so that anything they copied stops working on
    /// the live vault. Needs the manage-users right, authority over the user (see
    /// `Session::require_authority_over`) and the vault alone.
    pub fn remove_user(&mut self, name: &str, progress: ProgressFn<'_>) -> Result<()> {
        let (_, target) = self.require_authority_over(name)?;
        if target.id == self.user.id {
            return Err(Error::Invalid("you cannot remove yourself".into()));
        }
        if policy::is_owner_role(&target.role) {
            let owners: i64 = self.store.conn().query_row(
                "SELECT count(*) FROM users WHERE removed_at IS NULL AND role = ?1",
                [policy::OWNER_ROLE],
                |row| row.get(0),
            )?;
            if owners <= 1 {
                return Err(Error::Invalid("the last Owner cannot be removed".into()));
            }
        }
        self.with_exclusive(|session| {
            session.write(|tx, audit| {
                tx.execute(
                    "UPDATE users SET removed_at = ?1 WHERE id = ?2",
                    params![Utc::now().to_rfc3339(), target.id],
                )?;
                audit.record(AuditEvent::new(AuditAction::UserRemoved).target("user", name));
                Ok(())
            })?;
            session.rotate_keeping(progress)?;
            session
                .record(AuditEvent::new(AuditAction::KeyRotated).detail("reason", "user removed"))
        })
    }
}

/// What a password change or reset does to the key-file part of a sign-in.
#[derive(Debug)]
pub enum KeyFileChange {
    /// Leave it as it is: a slot that requires a key file goes on requiring the same one.
    Keep,
    /// Require this key file from now on.
    Set(KeyFileDigest),
    /// Stop requiring a key file.
    Remove,
}

/// `None` keeps the key file as it is, `Some` sets a new one: no key file given never
/// silently drops a requirement.
impl From<Option<KeyFileDigest>> for KeyFileChange {
    fn from(key_file: Option<KeyFileDigest>) -> Self {
        match key_file {
            Some(digest) => KeyFileChange::Set(digest),
            None => KeyFileChange::Keep,
        }
    }
}

/// One user's new slot, ready to be written into the current set and, during a pending
/// rotation, the pending set (see [`Session::prepare_slot_edit`]).
pub(super) struct SlotEdit {
    vault_id: Uuid,
    /// The pending set's key id the edit was sealed for (`None`: no rotation pending).
    expected_pending: Option<Uuid>,
    /// The sealed identity of the slot being replaced, for an edit made from it.
    replacing_identity: Option<String>,
    current: UserSlot,
    /// The same slot sealing the pending data key.
    pending: Option<UserSlot>,
}

impl SlotEdit {
    pub(super) fn apply(self, paths: &VaultPaths, cached: &mut KeySlotFile) -> Result<()> {
        let Self {
            vault_id,
            expected_pending,
            replacing_identity,
            current,
            pending,
        } = self;
        update_slots(paths, vault_id, cached, |file| {
            if file.pending.as_ref().map(|set| set.key_id) != expected_pending {
                return Err(Error::VaultBusy);
            }
            if let Some(identity) = &replacing_identity
                && file
                    .current
                    .user(&current.user)
                    .is_none_or(|slot| slot.sealed_identity != *identity)
            {
                return Err(Error::Invalid(
                    "this sign-in was changed by someone else meanwhile: sign in again and retry"
                        .into(),
                ));
            }
            let name = current.user.clone();
            file.current.users.retain(|slot| slot.user != name);
            file.current.users.push(current);
            if let (Some(set), Some(slot)) = (file.pending.as_mut(), pending) {
                set.users.retain(|existing| existing.user != name);
                set.users.push(slot);
            }
            Ok(())
        })
    }
}
