//! The vault on disk: creating it, unlocking it into a [`Session`], and the key operations
//! that keep it safe when people come and go (add user, password change, removal with key
//! rotation).
//!
//! A vault is a directory:
//!
//! | file | what |
//! |---|---|
//! | `vault.db` (+ `-wal`, `-shm`) | the SQLCipher database |
//! | `keyslots.json`, `keyslots.json.bak` | the key-slot file and its copy |
//! | `unlock-failures.json` | failed unlocks not yet in the audit trail |
//! | `audit-head.json` | the audit chain head, to detect truncation or an older database |
//! | `vault.lock` | held shared by every open session, exclusively by a key rotation |
//! | `keyslots.lock` | serialises read-modify-write of the key-slot file |

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use crate::audit::{self, Action, Actor, AuditEvent, AuditKey, ChainHead, HeadFile};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::keyslot::{
    Credentials, KdfStrength, KeySlotFile, KeySlotPaths, RecoverySlot, SlotSet, UserSlot,
};
use crate::policy::{self, Right, RoleDef};
use crate::secret::{DataKey, KeyFileDigest, MIN_PASSWORD_CHARS, Password, RecoveryIdentity};
use crate::store::{OpenFailure, Store, remove_if_exists};
use crate::throttle::{FailedUnlock, FailureLog};

/// Where each file of a vault lives.
#[derive(Debug, Clone)]
pub struct VaultPaths {
    /// The vault directory.
    pub dir: PathBuf,
    /// The SQLCipher database.
    pub database: PathBuf,
    /// The key-slot file and its copy.
    pub key_slots: KeySlotPaths,
    /// The chain head kept outside the database (`audit-head.json`).
    pub audit_head: PathBuf,
    failures: PathBuf,
    lock: PathBuf,
    slots_lock: PathBuf,
    rotation_staging: PathBuf,
    creation_staging: PathBuf,
}

impl VaultPaths {
    /// The layout of the vault directory `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            database: dir.join("vault.db"),
            key_slots: KeySlotPaths {
                primary: dir.join("keyslots.json"),
                backup: dir.join("keyslots.json.bak"),
            },
            audit_head: dir.join("audit-head.json"),
            failures: dir.join("unlock-failures.json"),
            lock: dir.join("vault.lock"),
            slots_lock: dir.join("keyslots.lock"),
            rotation_staging: dir.join("vault.db.rotating"),
            creation_staging: dir.join("vault.db.creating"),
            dir,
        }
    }

    /// Whether a vault exists here.
    pub fn exists(&self) -> bool {
        self.database.exists()
    }
}

/// The default vault directory: `$STRONGROOM_VAULT`, else `strongroom/vault` in the user's
/// data directory (`~/.local/share` on Linux, `%APPDATA%` on Windows, `~/Library/Application
/// Support` on macOS).
pub fn default_vault_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("STRONGROOM_VAULT") {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "strongroom")
        .map(|dirs| dirs.data_dir().join("vault"))
        .ok_or_else(|| Error::Invalid("no home directory: pass --vault PATH".into()))
}

/// What `crm init` (or the first-run screen) asks for.
#[derive(Debug)]
pub struct NewVault {
    /// The owner's login name.
    pub owner: String,
    /// The owner's password.
    pub password: Password,
    /// The owner's key file digest, if the owner chose one.
    pub key_file: Option<KeyFileDigest>,
    /// KDF cost for the owner's slot.
    pub kdf: KdfStrength,
}

/// A new vault: the owner's open session and the recovery identity, to be shown once.
#[derive(Debug)]
pub struct CreatedVault {
    /// The owner's session.
    pub session: Session,
    /// The offline recovery identity; show it once and drop it.
    pub recovery: RecoveryIdentity,
}

/// What the unlock screen may know before unlocking.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SlotUser {
    /// Login name.
    pub name: String,
    /// Whether the user's slot needs a key file.
    pub requires_key_file: bool,
}

/// A vault on disk, not yet unlocked.
#[derive(Debug)]
pub struct Vault {
    paths: VaultPaths,
    slots: KeySlotFile,
    warnings: Vec<String>,
}

impl Vault {
    /// Creates a new vault in `dir` (created if missing; must not hold a vault already).
    pub fn create(dir: &Path, new: NewVault) -> Result<CreatedVault> {
        let paths = VaultPaths::new(dir);
        if paths.exists() {
            return Err(Error::VaultExists(paths.dir.clone()));
        }
        validate_user_name(&new.owner)?;
        validate_password(&new.password)?;
        fsutil::create_private_dir(&paths.dir)?;

        let vault_id = Uuid::new_v4();
        let data_key = DataKey::generate();
        let (mut slots, recovery) = first_slots(
            vault_id,
            &new.owner,
            &new.password,
            new.key_file.as_ref(),
            new.kdf,
            &data_key,
        )?;

        // The database is built under a staging name and renamed last, so a vault "exists"
        // only once it is complete; an interrupted init can simply be run again.
        remove_if_exists(&paths.creation_staging)?;
        {
            let mut store = Store::create(&paths.creation_staging, &data_key)?;
            let tx = store.transaction()?;
            tx.execute(
                "INSERT INTO vault_meta (key, value) VALUES ('vault_id', ?1), ('created_at', ?2)",
                params![vault_id.to_string(), Utc::now().to_rfc3339()],
            )?;
            policy::ensure_templates(&tx)?;
            tx.execute(
                "INSERT INTO users (name, role, created_at) VALUES (?1, ?2, ?3)",
                params![new.owner, policy::OWNER_ROLE, Utc::now().to_rfc3339()],
            )?;
            tx.commit()?;
            store
                .conn()
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        for suffix in ["-wal", "-shm"] {
            remove_if_exists(&crate::store::with_suffix(&paths.creation_staging, suffix))?;
        }
        slots.write(&paths.key_slots)?;
        std::fs::rename(&paths.creation_staging, &paths.database)
            .map_err(Error::io("installing the new database"))?;
        fsutil::sync_dir(&paths.dir)?;

        let vault = Vault::open(dir)?;
        let session = vault.unlock(&Credentials {
            user: new.owner,
            password: new.password,
            key_file: new.key_file,
        })?;
        Ok(CreatedVault { session, recovery })
    }

    /// Makes `paths.dir` a vault around `staged`, a complete database already encrypted under
    /// `data_key` and belonging to `vault_id` (a restored backup): writes a key-slot file with
    /// one slot for `owner` and a new recovery identity, then renames the database into place,
    /// so the vault exists only once complete. Used by `backup::restore`.
    pub(crate) fn adopt_database(
        paths: &VaultPaths,
        staged: &Path,
        vault_id: Uuid,
        data_key: &DataKey,
        owner: &str,
        password: &Password,
        kdf: KdfStrength,
    ) -> Result<RecoveryIdentity> {
        validate_password(password)?;
        let (mut slots, recovery) = first_slots(vault_id, owner, password, None, kdf, data_key)?;
        slots.write(&paths.key_slots)?;
        std::fs::rename(staged, &paths.database)
            .map_err(Error::io("installing the restored database"))?;
        fsutil::sync_dir(&paths.dir)?;
        Ok(recovery)
    }

    /// Opens the vault directory `dir` (reads the key-slot file; decrypts nothing).
    pub fn open(dir: &Path) -> Result<Self> {
        let paths = VaultPaths::new(dir);
        if !paths.exists() {
            return Err(Error::NoVault(paths.dir.clone()));
        }
        let (slots, report) = KeySlotFile::read(&paths.key_slots)?;
        for warning in &report.warnings {
            tracing::warn!("{warning}");
        }
        Ok(Self {
            paths,
            slots,
            warnings: report.warnings,
        })
    }

    /// The vault's files.
    pub fn paths(&self) -> &VaultPaths {
        &self.paths
    }

    /// Problems found while reading the key-slot file that its copy covered.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The users who hold a slot, for the unlock screen.
    pub fn users(&self) -> Vec<SlotUser> {
        self.slots
            .current
            .users
            .iter()
            .map(|slot| SlotUser {
                name: slot.user.clone(),
                requires_key_file: slot.requires_key_file,
            })
            .collect()
    }

    /// Seconds this user must wait before the next unlock attempt (0 if none).
    pub fn unlock_delay(&self, user: &str) -> u64 {
        FailureLog::load(&self.paths.failures)
            .wait_for(user, Utc::now())
            .unwrap_or(0)
    }

    /// Unlocks with a user's credentials.
    ///
    /// Failures are coarse ([`Error::WrongCredentials`]) and are recorded; after five in a
    /// row for one user, attempts are refused with [`Error::Throttled`] for a doubling delay.
    /// An interrupted key rotation is finished here when possible.
    pub fn unlock(&self, credentials: &Credentials) -> Result<Session> {
        self.unlock_from(credentials, &crate::throttle::workstation())
    }

    /// Unlocks for a user working at `workstation` (a name, with its address when it comes
    /// over a network): every audit entry of the session, the unlock first, names it.
    pub fn unlock_from(&self, credentials: &Credentials, workstation: &str) -> Result<Session> {
        let mut failures = FailureLog::load(&self.paths.failures);
        failures.check(&credentials.user)?;
        match self.open_session(credentials) {
            Ok(mut session) => {
                session.workstation = workstation.to_owned();
                let failed = failures.pending_events().to_vec();
                session.write(|_, audit| {
                    for failure in &failed {
                        audit.record_failed_unlock(failure);
                    }
                    audit.record(AuditEvent::new(Action::Unlock));
                    Ok(())
                })?;
                failures.record_success(&credentials.user)?;
                session.failed_unlocks = failed;
                session.after_unlock()?;
                Ok(session)
            }
            Err(
                error @ (Error::WrongCredentials
                | Error::KeyFileRequired
                | Error::RoleRequiresKeyFile
                | Error::UserRemoved),
            ) => {
                failures.record_failure(&credentials.user, error.code())?;
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

    fn open_session(&self, credentials: &Credentials) -> Result<Session> {
        let vault_id = self.slots.vault_id;
        let slot = self
            .slots
            .current
            .user(&credentials.user)
            .ok_or(Error::WrongCredentials)?;
        let opened = slot.open(vault_id, credentials)?;
        let lock = VaultLock::shared(&self.paths.lock)?;
        // Re-read under the lock: a rotation may have finished since `open`.
        let (mut slots, report) = KeySlotFile::read(&self.paths.key_slots)?;
        if !report.warnings.is_empty() {
            // One copy is damaged or stale: rewrite both from the good one.
            update_slots(&self.paths, vault_id, &mut slots, |_| Ok(()))?;
        }
        if slots.vault_id != vault_id {
            return Err(Error::KeySlotsDamaged(
                "the key-slot file changed vault".into(),
            ));
        }
        let current_key = opened.data_key_in(vault_id, &slots.current)?;
        let pending_key = match &slots.pending {
            Some(pending) => opened.data_key_in(vault_id, pending)?,
            None => None,
        };
        let (store, rekey_done) = open_with_any(
            &self.paths.database,
            current_key.as_ref(),
            pending_key.as_ref(),
        )?;
        // The session keeps the pending key while the database is still under the current
        // one, so slot edits made before the rotation completes reach the pending set too.
        let (data_key, pending_key) = match (rekey_done, current_key, pending_key) {
            (true, _, Some(pending)) => (pending, None),
            (false, Some(current), pending) => (current, pending),
            _ => return Err(Error::WrongCredentials),
        };
        check_database_belongs(&store, vault_id)?;

        let user = load_active_user(&store, &credentials.user)?.ok_or(Error::UserRemoved)?;
        // A role that gained the key-file requirement after this slot was made: the password
        // alone must not be enough, so the user waits for an administrator to give them a key
        // file (see docs/vault-format.md, "Key files required per role").
        if !slot.requires_key_file && policy::role_requires_key_file(store.conn(), &user.role)? {
            return Err(Error::RoleRequiresKeyFile);
        }
        store.conn().execute(
            "UPDATE users SET last_unlock_at = ?1 WHERE id = ?2",
            params![Utc::now().to_rfc3339(), user.id],
        )?;
        let audit_key = AuditKey::load_or_create(store.conn())?;
        let mut warnings = self.warnings.clone();
        let head = audit::anchors::check_head_at_unlock(
            store.conn(),
            &self.paths.audit_head,
            &vault_id.to_string(),
            &mut warnings,
        )?;
        let mut session = Session {
            paths: self.paths.clone(),
            vault_id,
            slots,
            store,
            data_key,
            pending_key,
            user,
            lock,
            kdf: KdfStrength::from_env(),
            warnings,
            failed_unlocks: Vec::new(),
            head_trusted: head.trusted,
            audit_head_missing: head.missing,
            store_swapped: false,
            audit_key,
            pending_reads: Vec::new(),
            workstation: crate::throttle::workstation(),
            closed: false,
        };
        session.finish_interrupted_rotation(rekey_done)?;
        Ok(session)
    }

    /// Unseals the data key with the recovery identity and proves it opens the database.
    /// For `crm key show-data-key` and disaster recovery with stock SQLCipher tools.
    ///
    /// It opens the database and appends to the audit trail, so it holds `vault.lock` shared
    /// like every session: a key rotation cannot replace the file meanwhile.
    pub fn recover_data_key(&self, identity: &RecoveryIdentity) -> Result<DataKey> {
        // Declared before the store, so it is released only after the store is closed.
        let _lock = VaultLock::shared(&self.paths.lock)?;
        // Re-read under the lock: a rotation may have finished since `open`.
        let (slots, _) = KeySlotFile::read(&self.paths.key_slots)?;
        if slots.vault_id != self.slots.vault_id {
            return Err(Error::KeySlotsDamaged(
                "the key-slot file changed vault".into(),
            ));
        }
        let vault_id = slots.vault_id;
        let current = slots
            .current
            .recovery
            .open(vault_id, slots.current.key_id, identity)?;
        let pending = slots
            .pending
            .as_ref()
            .map(|pending| pending.recovery.open(vault_id, pending.key_id, identity))
            .transpose()?;
        let (mut store, pending_opened) =
            open_with_any(&self.paths.database, Some(&current), pending.as_ref())?;
        let key = match (pending_opened, pending) {
            (true, Some(pending)) => pending,
            _ => current,
        };
        let audit_key = AuditKey::load_or_create(store.conn())?;
        let head_trusted = audit::anchors::check_head_at_unlock(
            store.conn(),
            &self.paths.audit_head,
            &self.slots.vault_id.to_string(),
            &mut Vec::new(),
        )?
        .trusted;
        let workstation = crate::throttle::workstation();
        let tx = store.transaction()?;
        let head = audit::append(
            &tx,
            &audit_key,
            Actor {
                user: Some("recovery identity"),
                role: None,
                workstation: &workstation,
            },
            Utc::now(),
            &AuditEvent::new(Action::DataKeyShown),
        )?;
        tx.commit()?;
        if head_trusted {
            write_head(&self.paths, self.slots.vault_id, &head);
        }
        Ok(key)
    }
}

/// The key-slot file of a new vault: one owner slot and a fresh recovery identity.
fn first_slots(
    vault_id: Uuid,
    owner: &str,
    password: &Password,
    key_file: Option<&KeyFileDigest>,
    kdf: KdfStrength,
    data_key: &DataKey,
) -> Result<(KeySlotFile, RecoveryIdentity)> {
    let key_id = Uuid::new_v4();
    let recovery = RecoveryIdentity::generate();
    let owner_slot = UserSlot::create(vault_id, key_id, owner, password, key_file, kdf, data_key)?;
    let slots = KeySlotFile {
        format: crate::keyslot::FORMAT.into(),
        version: crate::keyslot::VERSION,
        vault_id,
        generation: 0,
        current: SlotSet {
            key_id,
            users: vec![owner_slot],
            recovery: RecoverySlot::create(vault_id, key_id, &recovery.recipient(), data_key)?,
        },
        pending: None,
        checksum: String::new(),
    };
    Ok((slots, recovery))
}

/// Opens the database with the current key, else the pending (post-rotation) one; returns the
/// store and whether it was the pending key that fitted.
fn open_with_any(
    database: &Path,
    current: Option<&DataKey>,
    pending: Option<&DataKey>,
) -> Result<(Store, bool)> {
    if current.is_none() && pending.is_none() {
        return Err(Error::WrongCredentials);
    }
    let mut damage = None;
    for (key, is_pending) in [(current, false), (pending, true)] {
        let Some(key) = key else { continue };
        match Store::open(database, key) {
            Ok(store) => return Ok((store, is_pending)),
            Err(OpenFailure::WrongKey) => {}
            Err(OpenFailure::Damaged(error)) => damage = Some(error),
        }
    }
    Err(damage.unwrap_or_else(|| {
        Error::DatabaseDamaged("the database does not open with this vault's key".into())
    }))
}

fn check_database_belongs(store: &Store, vault_id: Uuid) -> Result<()> {
    match store.vault_id()? {
        Some(id) if id == vault_id.to_string() => Ok(()),
        _ => Err(Error::DatabaseDamaged(
            "the database belongs to another vault".into(),
        )),
    }
}

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

fn load_active_user(store: &Store, name: &str) -> Result<Option<CurrentUser>> {
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
    paths: VaultPaths,
    vault_id: Uuid,
    slots: KeySlotFile,
    store: Store,
    data_key: DataKey,
    /// While a rotation is pending and the database is still under `data_key`: the next data
    /// key, so that slot edits are sealed into the pending set too (promoting it then keeps
    /// them). `None` when no rotation is pending or this user has no pending slot.
    pending_key: Option<DataKey>,
    user: CurrentUser,
    lock: VaultLock,
    kdf: KdfStrength,
    warnings: Vec<String>,
    failed_unlocks: Vec<FailedUnlock>,
    /// False when the trail no longer holds the head in `audit-head.json`: the file is then
    /// kept untouched as evidence.
    head_trusted: bool,
    /// `audit-head.json` was missing at unlock (reported by `audit_verify`).
    audit_head_missing: bool,
    /// The benchmark has swapped in a plain twin store (see `swap_store_for_bench`).
    store_swapped: bool,
    audit_key: AuditKey,
    /// Views and searches waiting to be appended to the trail (batched: see `note_read`).
    pending_reads: Vec<(chrono::DateTime<Utc>, AuditEvent)>,
    workstation: String,
    closed: bool,
}

/// Events recorded by the work inside [`Session::write`].
#[derive(Debug, Default)]
pub struct AuditSink {
    events: Vec<SinkEntry>,
}

#[derive(Debug)]
struct SinkEntry {
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

    fn record_failed_unlock(&mut self, failure: &FailedUnlock) {
        self.events.push(SinkEntry {
            at: failure.at,
            foreign_actor: Some((failure.user.clone(), failure.workstation.clone())),
            event: AuditEvent::new(Action::UnlockFailed).detail("reason", &failure.reason),
        });
    }
}

/// Reads are flushed to the trail once this many are waiting (and at every write and lock).
const READ_BATCH: usize = 32;

fn write_head(paths: &VaultPaths, vault_id: Uuid, head: &ChainHead) {
    // The data is committed either way; a head file that lags is reported by `verify`.
    if let Err(error) = HeadFile::write(&paths.audit_head, &vault_id.to_string(), head) {
        tracing::warn!("could not write the audit head file: {error}");
    }
}

impl Session {
    /// Runs `work` in one write transaction. The events it records in the [`AuditSink`] (and
    /// any batched reads) are appended to the audit trail in the same transaction, so a change
    /// and its audit entry commit together or not at all; the chain head is written out after.
    pub fn write<T>(
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
    pub fn write_bulk<T>(
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
    fn refresh_statistics(&self) {
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
    fn after_unlock(&mut self) -> Result<()> {
        crate::audit::session::after_unlock(self)
    }

    /// The store and the audit key at once, for work that needs both (pruning, verifying).
    pub(crate) fn store_and_audit_key(&mut self) -> (&mut Store, &AuditKey) {
        (&mut self.store, &self.audit_key)
    }

    fn close(&mut self, action: Action) {
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
        self.close(Action::Lock);
    }

    /// Locks after the idle period (recorded as an auto-lock).
    pub fn auto_lock(mut self) {
        self.close(Action::AutoLock);
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

    fn require_manage_users(&self) -> Result<RoleDef> {
        self.require_right(Right::ManageUsers)
    }

    /// Refreshes the cached user after their role changed.
    pub(crate) fn set_user_role_cache(&mut self, role: &str) {
        self.user.role = role.to_owned();
    }

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
    fn require_key_file_if_role_needs(
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
                AuditEvent::new(Action::UserAdded)
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
            AuditEvent::new(Action::PasswordChanged)
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
            AuditEvent::new(Action::PasswordReset)
                .target("user", name)
                .detail("requires_key_file", key_file.is_some()),
        )
    }

    /// Readies `slot` to replace its user's slot in the current set and, while a rotation is
    /// pending, in the pending set too: the pending data key is sealed to the same slot
    /// identity, so promoting the pending set keeps the edit instead of undoing it.
    /// `replacing`: the slot the edit was made from; the write is refused if the file no
    /// longer holds it (someone changed this sign-in meanwhile).
    fn prepare_slot_edit(&self, slot: UserSlot, replacing: Option<&UserSlot>) -> Result<SlotEdit> {
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
                audit.record(AuditEvent::new(Action::UserRemoved).target("user", name));
                Ok(())
            })?;
            session.rotate_keeping(progress)?;
            session.record(AuditEvent::new(Action::KeyRotated).detail("reason", "user removed"))
        })
    }

    /// Rotates the data key now (e.g. after a suspected compromise). Needs the vault alone.
    pub fn rotate_data_key(&mut self, progress: ProgressFn<'_>) -> Result<()> {
        self.require_manage_users()?;
        self.with_exclusive(|session| {
            session.rotate_keeping(progress)?;
            session.record(AuditEvent::new(Action::KeyRotated).detail("reason", "requested"))
        })
    }

    fn with_exclusive<T>(&mut self, work: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.lock.upgrade()?;
        let result = work(self);
        self.lock.downgrade();
        result
    }

    /// New data key, sealed for every slot whose user is still active; then re-encrypt.
    fn rotate_keeping(&mut self, progress: ProgressFn<'_>) -> Result<()> {
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
    fn complete_rotation(&mut self, progress: ProgressFn<'_>) -> Result<()> {
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

    fn active_user_names(&self) -> Result<Vec<String>> {
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
    fn finish_interrupted_rotation(&mut self, rekey_done: bool) -> Result<()> {
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
                    AuditEvent::new(Action::KeyRotated)
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

    fn pending_drops_orphans(&self, active: &[String]) -> bool {
        self.slots
            .pending
            .as_ref()
            .is_some_and(|pending| pending.users.iter().all(|slot| active.contains(&slot.user)))
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
struct SlotEdit {
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
    fn apply(self, paths: &VaultPaths, cached: &mut KeySlotFile) -> Result<()> {
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

impl Drop for Session {
    fn drop(&mut self) {
        self.close(Action::Lock);
    }
}

/// Read-modify-write of the key-slot file under `keyslots.lock`, so two processes adding
/// users at once cannot lose each other's slots.
fn update_slots(
    paths: &VaultPaths,
    vault_id: Uuid,
    cached: &mut KeySlotFile,
    change: impl FnOnce(&mut KeySlotFile) -> Result<()>,
) -> Result<()> {
    let guard = fsutil::open_private(&paths.slots_lock)?;
    guard
        .lock()
        .map_err(Error::io("locking the key-slot file"))?;
    let (mut file, _) = KeySlotFile::read(&paths.key_slots)?;
    if file.vault_id != vault_id {
        return Err(Error::KeySlotsDamaged(
            "the key-slot file changed vault".into(),
        ));
    }
    change(&mut file)?;
    file.write(&paths.key_slots)?;
    *cached = file;
    Ok(())
}

/// The advisory lock on `vault.lock`: shared while a session is open, exclusive during a key
/// rotation (which replaces the database file under everyone's feet).
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
            Store::open(&self.paths.database, &self.data_key).map_err(|failure| match failure {
                OpenFailure::WrongKey => Error::DatabaseDamaged(
                    "the live database no longer opens with this session's key".into(),
                ),
                OpenFailure::Damaged(error) => error,
            })?;
        Ok(SideConnection { store, _lock: lock })
    }
}

#[derive(Debug)]
struct VaultLock {
    file: File,
}

impl VaultLock {
    fn shared(path: &Path) -> Result<Self> {
        let file = fsutil::open_private(path)?;
        // A rotation holds the lock exclusively for as long as re-encryption takes; wait.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match file.try_lock_shared() {
                Ok(()) => return Ok(Self { file }),
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => return Err(Error::VaultBusy),
                Err(std::fs::TryLockError::Error(error)) => {
                    return Err(Error::io("locking the vault")(error));
                }
            }
        }
    }

    fn upgrade(&self) -> Result<()> {
        match self.file.try_lock() {
            Ok(()) => Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::VaultBusy),
            Err(std::fs::TryLockError::Error(error)) => Err(Error::io("locking the vault")(error)),
        }
    }

    fn downgrade(&self) {
        if let Err(error) = self.file.lock_shared() {
            tracing::warn!("could not downgrade the vault lock: {error}");
        }
    }
}

fn validate_user_name(name: &str) -> Result<()> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed != name {
        return Err(Error::Invalid(
            "a user name must not be empty or start or end with spaces".into(),
        ));
    }
    if name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "a user name must be at most 64 printable characters".into(),
        ));
    }
    Ok(())
}

fn validate_password(password: &Password) -> Result<()> {
    if password.char_count() < MIN_PASSWORD_CHARS {
        return Err(Error::Invalid(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
#[path = "vault_tests.rs"]
mod tests;
