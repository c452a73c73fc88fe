//! The unlocked session: who is signed in, the one write path that appends every change to
//! the audit trail in the same transaction, batched read entries, the role checks every use
//! case starts with, and locking. The use cases themselves are `impl Session` blocks in the
//! modules above this one (records, backup, settings, the session-facing audit).

use chrono::Utc;
use rusqlite::OptionalExtension;
use uuid::Uuid;

use super::*;
use crate::audit::{self, Actor, AuditAction, AuditEvent, AuditKey, ChainHead, HeadFile};
use crate::error::{Error, Result};
use crate::keyslot::{KdfStrength, KeySlotFile};
use crate::policy::{self, Right, RoleDef};
use crate::secret::DataKey;
use crate::store::{OpenFailure, Store};
use crate::throttle::FailedUnlock;

/// One step of a long operation, for progress bars.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    /// What is happening now.
    pub step: String,
    /// Steps done.
    pub done: u64,
    /// Steps in all.
    pub total: u64,
}

/// Receives progress of long operations.
pub type ProgressFn<'a> = &'a mut dyn FnMut(Progress);

/// An unlocked vault: one user's authenticated access. Every read or write of customer data
/// goes through a session, which applies that user's role. Dropping it locks: the data key
/// is zeroized and the connection closed.
#[derive(Debug)]
pub struct Session {
    pub(super) paths: VaultPaths,
    pub(super) vault_id: Uuid,
    pub(super) slots: KeySlotFile,
    pub(super) store: Store,
    pub(super) data_key: DataKey,
    /// While a rotation is pending and the database is still under `data_key`: the next data
    /// key, so that slot edits are sealed into the pending set too (promoting it then keeps
    /// them). `None` when no rotation is pending or this user has no pending slot.
    pub(super) pending_key: Option<DataKey>,
    pub(super) user: CurrentUser,
    pub(super) lock: VaultLock,
    pub(super) kdf: KdfStrength,
    pub(super) warnings: Vec<String>,
    pub(super) failed_unlocks: Vec<FailedUnlock>,
    /// False when the trail no longer holds the head in `audit-head.json`: the file is then
    /// kept untouched as evidence.
    pub(super) head_trusted: bool,
    /// `audit-head.json` was missing at unlock (reported by `audit_verify`).
    pub(super) audit_head_missing: bool,
    /// The benchmark has swapped in a plain twin store (see `swap_store_for_bench`).
    pub(super) store_swapped: bool,
    pub(super) audit_key: AuditKey,
    /// Views and searches waiting to be appended to the trail (batched: see `note_read`).
    pub(super) pending_reads: Vec<(chrono::DateTime<Utc>, AuditEvent)>,
    pub(super) workstation: String,
    pub(super) closed: bool,
}

/// Events recorded by the work inside `Session::write`.
#[derive(Debug, Default)]
pub struct AuditSink {
    pub(super) events: Vec<SinkEntry>,
}

#[derive(Debug)]
pub(super) struct SinkEntry {
    at: chrono::DateTime<Utc>,
    /// Someone other than the session's user (failed unlocks of other names).
    foreign_actor: Option<(String, String)>,
    event: AuditEvent,
}

impl AuditSink {
    /// Records an event by the session's user, now.
    pub fn record(&mut self, event: AuditEvent) {
        self.events.push(SinkEntry {
            at: Utc::now(),
            foreign_actor: None,
            event,
        });
    }

    pub(super) fn record_failed_unlock(&mut self, failure: &FailedUnlock) {
        self.events.push(SinkEntry {
            at: failure.at,
            foreign_actor: Some((failure.user.clone(), failure.workstation.clone())),
            event: AuditEvent::new(AuditAction::UnlockFailed).detail("reason", &failure.reason),
        });
    }
}

/// Reads are flushed to the trail once this many are waiting (and at every write and lock).
pub(super) const READ_BATCH: usize = 32;

pub(super) fn write_head(paths: &VaultPaths, vault_id: Uuid, head: &ChainHead) {
    // The data is committed either way; a head file that lags is reported by `verify`.
    if let Err(error) = HeadFile::write(&paths.audit_head, &vault_id.to_string(), head) {
        tracing::warn!("could not write the audit head file: {error}");
    }
}

impl Session {
    /// Runs `work` in one write transaction. The events it records in the [`AuditSink`] (and
    /// any batched reads) are appended to the audit trail in the same transaction, so a change
    /// and its audit entry commit together or not at all; the chain head is written out after.
    pub(crate) fn write<T>(
        &mut self,
        work: impl FnOnce(&rusqlite::Transaction<'_>, &mut AuditSink) -> Result<T>,
    ) -> Result<T> {
        self.write_with_audit_key(|tx, _, audit| work(tx, audit))
    }

    /// [`Session::write`] for the audit module's own work that needs the chain key (retention
    /// pruning MACs its checkpoint).
    pub(crate) fn write_with_audit_key<T>(
        &mut self,
        work: impl FnOnce(&rusqlite::Transaction<'_>, &AuditKey, &mut AuditSink) -> Result<T>,
    ) -> Result<T> {
        let mut sink = AuditSink::default();
        let tx = self.store.transaction()?;
        let value = work(&tx, &self.audit_key, &mut sink)?;
        // Entries name the role the user holds now, not the one cached at unlock.
        let role_now: Option<String> = if self.pending_reads.is_empty() && sink.events.is_empty() {
            None
        } else {
            tx.query_row(
                "SELECT role FROM users WHERE id = ?1 AND removed_at IS NULL",
                [self.user.id],
                |row| row.get(0),
            )
            .optional()?
        };
        // Taken only once the work succeeded: a failed write keeps them queued.
        let reads = std::mem::take(&mut self.pending_reads);
        let actor = Actor {
            user: Some(&self.user.name),
            role: role_now.as_deref(),
            workstation: &self.workstation,
        };
        let mut head = None;
        for (at, event) in &reads {
            head = Some(audit::append(&tx, &self.audit_key, actor, *at, event)?);
        }
        for entry in &sink.events {
            let actor = match &entry.foreign_actor {
                Some((user, workstation)) => Actor {
                    user: Some(user),
                    role: None,
                    workstation,
                },
                None => actor,
            };
            head = Some(audit::append(
                &tx,
                &self.audit_key,
                actor,
                entry.at,
                &entry.event,
            )?);
        }
        tx.commit()?;
        if let Some(head) = head
            && self.head_trusted
            && !self.store_swapped
        {
            write_head(&self.paths, self.vault_id, &head);
        }
        Ok(value)
    }

    /// [`Session::write`] for work that writes many rows in one transaction (an import): memory
    /// stays bounded by a smaller page cache for its duration, whatever the size of the input.
    pub(crate) fn write_bulk<T>(
        &mut self,
        work: impl FnOnce(&rusqlite::Transaction<'_>, &mut AuditSink) -> Result<T>,
    ) -> Result<T> {
        self.store.set_cache_mib(crate::store::BULK_CACHE_MIB)?;
        let result = self.write(work);
        if result.is_ok() {
            // Under the small cache too: measuring reads every index once.
            self.refresh_statistics();
        }
        let restored = self.store.set_cache_mib(crate::store::PAGE_CACHE_MIB);
        let value = result?;
        restored?;
        Ok(value)
    }

    /// Keeps the query planner's statistics in step with the data (after bulk writes, at
    /// lock). A failure only costs speed, so it is logged, never returned.
    pub(super) fn refresh_statistics(&self) {
        if let Err(error) = self.store.refresh_statistics() {
            tracing::warn!("could not refresh the query planner's statistics: {error}");
        }
    }

    /// Appends one event now, in its own transaction. Use it *before* handing out what the
    /// event describes (an export, a revealed value): if recording fails, refuse.
    pub fn record(&mut self, event: AuditEvent) -> Result<()> {
        self.write(|_, audit| {
            audit.record(event);
            Ok(())
        })
    }

    /// Notes a read (a view of a Confidential record, a search) for the trail. Reads are
    /// batched so search-as-you-type does not commit on every keystroke; they are flushed with
    /// the next write, when `READ_BATCH` are waiting, and at lock. A process killed outright
    /// can lose up to that many unflushed read entries, never a change.
    pub fn note_read(&mut self, event: AuditEvent) -> Result<()> {
        self.pending_reads.push((Utc::now(), event));
        if self.pending_reads.len() >= READ_BATCH {
            self.write(|_, _| Ok(()))?;
        }
        Ok(())
    }

    /// Work done right after every unlock: alerts and retention.
    pub(super) fn after_unlock(&mut self) -> Result<()> {
        super::retention::after_unlock(self)
    }

    /// The store and the audit key at once, for work that needs both (pruning, verifying).
    pub(crate) fn store_and_audit_key(&mut self) -> (&mut Store, &AuditKey) {
        (&mut self.store, &self.audit_key)
    }

    pub(super) fn close(&mut self, action: AuditAction) {
        if self.closed {
            return;
        }
        self.closed = true;
        if let Err(error) = self.record(AuditEvent::new(action)) {
            tracing::warn!("could not record the lock in the audit trail: {error}");
        }
        self.refresh_statistics();
    }

    /// Locks the vault at the user's request: records it, then drops the session (the data
    /// key is zeroized, the connection closed).
    pub fn lock(mut self) {
        self.close(AuditAction::Lock);
    }

    /// Locks after the idle period (recorded as an auto-lock).
    pub fn auto_lock(mut self) {
        self.close(AuditAction::AutoLock);
    }
    /// Who is signed in.
    pub fn user(&self) -> &CurrentUser {
        &self.user
    }

    /// The vault's id.
    pub fn vault_id(&self) -> Uuid {
        self.vault_id
    }

    /// The vault's files.
    pub fn paths(&self) -> &VaultPaths {
        &self.paths
    }

    /// Warnings raised while unlocking (a damaged key-slot copy, an unfinished rotation).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Adds a warning for the user (work done right after unlock that needs their attention).
    pub(crate) fn warn(&mut self, warning: String) {
        tracing::warn!("{warning}");
        self.warnings.push(warning);
    }

    /// Whether `audit-head.json` was missing when this session unlocked.
    pub(crate) fn audit_head_was_missing(&self) -> bool {
        self.audit_head_missing
    }

    /// Failed unlock attempts (any user) since the previous successful unlock.
    pub fn failed_unlocks(&self) -> &[FailedUnlock] {
        &self.failed_unlocks
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    #[allow(dead_code)]
    pub(crate) fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    #[allow(dead_code)]
    pub(crate) fn data_key(&self) -> &DataKey {
        &self.data_key
    }

    /// The recovery identity's public recipient (`age1…`): backups are sealed to it.
    pub(crate) fn recovery_recipient(&self) -> &str {
        &self.slots.current.recovery.recipient
    }

    /// Swaps the session's store (the benchmark runs the same calls on a plain twin). The
    /// audit head file is not written while swapped: it describes the real database only.
    #[cfg(feature = "bench")]
    pub(crate) fn swap_store_for_bench(&mut self, other: &mut Store) {
        std::mem::swap(&mut self.store, other);
        self.store_swapped = !self.store_swapped;
    }

    /// Sets the KDF cost for slots made by this session (tests use the floor).
    pub fn set_kdf_strength(&mut self, kdf: KdfStrength) {
        self.kdf = kdf;
    }

    /// The signed-in user's role as currently defined (re-read on every check, so a policy
    /// change applies to open sessions at once).
    pub fn role(&self) -> Result<RoleDef> {
        // The assignment is re-read too: an owner may change this user's role meanwhile.
        let current: Option<String> = self
            .store
            .conn()
            .query_row(
                "SELECT role FROM users WHERE id = ?1 AND removed_at IS NULL",
                [self.user.id],
                |row| row.get(0),
            )
            .optional()?;
        match current {
            Some(name) => policy::load(self.store.conn(), &name),
            None => Ok(RoleDef::nothing("removed")),
        }
    }

    /// Refuses unless the user's role holds `right`, naming the role and what the right allows.
    /// Public for work done beside the session on the user's behalf (the desktop's restore
    /// into a new folder), so the rule and its message stay here.
    pub fn require_right(&self, right: Right) -> Result<RoleDef> {
        let role = self.role()?;
        if role.has(right) {
            Ok(role)
        } else {
            Err(Error::Forbidden(format!(
                "the {} role does not have the right to {}",
                role.name,
                right.explanation()
            )))
        }
    }

    pub(crate) fn existing_role(&self, name: &str) -> Result<RoleDef> {
        let exists: bool = self.store.conn().query_row(
            "SELECT EXISTS (SELECT 1 FROM roles WHERE name = ?1)",
            [name],
            |row| row.get(0),
        )?;
        if !exists {
            let names: Vec<String> = policy::list(self.store.conn())?
                .into_iter()
                .map(|role| role.name)
                .collect();
            return Err(Error::Invalid(format!(
                "unknown role {name:?}; choose one of: {}",
                names.join(", ")
            )));
        }
        policy::load(self.store.conn(), name)
    }

    pub(super) fn require_manage_users(&self) -> Result<RoleDef> {
        self.require_right(Right::ManageUsers)
    }

    /// Refreshes the cached user after their role changed.
    pub(crate) fn set_user_role_cache(&mut self, role: &str) {
        self.user.role = role.to_owned();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close(AuditAction::Lock);
    }
}

/// A second connection to the live database with its own shared vault lock, for long reads
/// that must not keep the session busy (a backup job). The lock keeps a key rotation from
/// replacing the file under it, even after the session that opened it is gone.
#[derive(Debug)]
pub(crate) struct SideConnection {
    pub(crate) store: Store,
    _lock: VaultLock,
}

impl Session {
    /// Opens a [`SideConnection`] with this session's key.
    pub(crate) fn open_side_connection(&self) -> Result<SideConnection> {
        let lock = VaultLock::shared(&self.paths.lock)?;
        let store =
            Store::open(&self.paths.database, &self.data_key, MIGRATIONS).map_err(|failure| {
                match failure {
                    OpenFailure::WrongKey => {
                        Error::damaged("the live database no longer opens with this session's key")
                    }
                    OpenFailure::Damaged(error) => error,
                }
            })?;
        Ok(SideConnection { store, _lock: lock })
    }
}
