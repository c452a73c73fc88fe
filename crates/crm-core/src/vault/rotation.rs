//! Data-key rotation: a new data key sealed for the remaining users, the database re-keyed
//! under the exclusive vault lock, and an interrupted rotation finished at the next unlock.

use super::*;
use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::secret::DataKey;

impl Session {
    /// Rotates the data key now (e.g. after a suspected compromise). Needs the vault alone.
    pub fn rotate_data_key(&mut self, progress: ProgressFn<'_>) -> Result<()> {
        self.require_manage_users()?;
        self.with_exclusive(|session| {
            session.rotate_keeping(progress)?;
            session.record(AuditEvent::new(AuditAction::KeyRotated).detail("reason", "requested"))
        })
    }

    pub(super) fn with_exclusive<T>(
        &mut self,
        work: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        self.lock.upgrade()?;
        let result = work(self);
        self.lock.downgrade();
        result
    }

    /// New data key, sealed for every slot whose user is still active; then re-encrypt.
    pub(super) fn rotate_keeping(&mut self, progress: ProgressFn<'_>) -> Result<()> {
        crate::fault::point("rotation:begin");
        let active = self.active_user_names()?;
        progress(Progress {
            step: "sealing a new data key for the remaining users".into(),
            done: 0,
            total: 3,
        });
        let new_key = DataKey::generate();
        let vault_id = self.vault_id;
        update_slots(&self.paths, vault_id, &mut self.slots, |file| {
            file.pending = Some(
                file.current
                    .rotated(vault_id, &new_key, |slot| active.contains(&slot.user))?,
            );
            Ok(())
        })?;
        self.pending_key = Some(new_key);
        self.complete_rotation(progress)
    }

    /// Re-encrypts the database under the pending key and promotes the pending set.
    pub(super) fn complete_rotation(&mut self, progress: ProgressFn<'_>) -> Result<()> {
        let new_key = self
            .pending_key
            .take()
            .ok_or_else(|| Error::KeySlotsDamaged("rotation lost its pending key".into()))?;
        progress(Progress {
            step: "re-encrypting the database under the new key".into(),
            done: 1,
            total: 3,
        });
        crate::fault::point("rotation:before-rekey");
        if let Err(error) =
            self.store
                .rekey(&self.paths.database, &self.paths.rotation_staging, &new_key)
        {
            // The database is still under the current key; the pending set stays for a retry.
            self.pending_key = Some(new_key);
            return Err(error);
        }
        crate::fault::point("rotation:after-rekey");
        // From here the database is under the new key whatever happens next.
        self.data_key = new_key;
        progress(Progress {
            step: "retiring the old key".into(),
            done: 2,
            total: 3,
        });
        update_slots(&self.paths, self.vault_id, &mut self.slots, |file| {
            file.current = file
                .pending
                .take()
                .ok_or_else(|| Error::KeySlotsDamaged("rotation lost its pending slots".into()))?;
            Ok(())
        })?;
        progress(Progress {
            step: "key rotated".into(),
            done: 3,
            total: 3,
        });
        Ok(())
    }

    pub(super) fn active_user_names(&self) -> Result<Vec<String>> {
        let mut statement = self
            .store
            .conn()
            .prepare("SELECT name FROM users WHERE removed_at IS NULL")?;
        let names = statement
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(names)
    }

    /// Finishes what a killed rotation left: promotes the pending slots if the database is
    /// already re-keyed, re-keys to the pending key if not, and retires slots of removed
    /// users. Needs the vault alone; if others have it open, it is left for a later unlock.
    pub(super) fn finish_interrupted_rotation(&mut self, rekey_done: bool) -> Result<()> {
        if rekey_done {
            update_slots(&self.paths, self.vault_id, &mut self.slots, |file| {
                if let Some(pending) = file.pending.take() {
                    file.current = pending;
                }
                Ok(())
            })?;
            self.warnings
                .push("an interrupted key rotation was completed".into());
        }
        let active = self.active_user_names()?;
        let has_orphans = self
            .slots
            .current
            .users
            .iter()
            .any(|slot| !active.contains(&slot.user));
        if self.slots.pending.is_none() && !has_orphans {
            remove_if_exists(&self.paths.rotation_staging)?;
            return Ok(());
        }
        let outcome = self.with_exclusive(|session| {
            if session.pending_key.is_some()
                && (!has_orphans || session.pending_drops_orphans(&active))
            {
                session.complete_rotation(&mut |_| {})
            } else {
                session.rotate_keeping(&mut |_| {})
            }
        });
        match outcome {
            Ok(()) => {
                self.warnings
                    .push("an interrupted key rotation was completed".into());
                self.record(
                    AuditEvent::new(AuditAction::KeyRotated)
                        .detail("reason", "resumed after interruption"),
                )
            }
            Err(Error::VaultBusy) => {
                self.warnings.push(
                    "a key rotation is unfinished; it completes at the next unlock when no one else has the vault open".into(),
                );
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    pub(super) fn pending_drops_orphans(&self, active: &[String]) -> bool {
        self.slots
            .pending
            .as_ref()
            .is_some_and(|pending| pending.users.iter().all(|slot| active.contains(&slot.user)))
    }
}
