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

//!
//! The vault module is split by job: this file opens and creates vaults; [`Session`] and its
//! audited write path are in `session`, user management in `users`, data-key rotation in
//! `rotation`, the advisory lock in `lock`.

mod lock;
mod retention;
mod rotation;
mod session;
mod users;

pub(crate) use retention::AUDIT_RETENTION_KEY;
pub(crate) use session::SideConnection;
pub use session::{AuditSink, Progress, ProgressFn, Session};
pub use users::{CurrentUser, KeyFileChange, NewUser, UserInfo};

use self::lock::VaultLock;
use self::session::write_head;
use self::users::load_active_user;

use std::path::{Path, PathBuf};

use chrono::Utc;
use rusqlite::params;
use uuid::Uuid;

use crate::audit::{self, Actor, AuditAction, AuditEvent, AuditKey};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::keyslot::{
    Credentials, KdfStrength, KeySlotFile, KeySlotPaths, RecoverySlot, SlotSet, UserSlot,
};
use crate::password::{self, PasswordRule};
use crate::policy::{self};
use crate::schema::MIGRATIONS;
use crate::secret::{DataKey, KeyFileDigest, Password, RecoveryIdentity};
use crate::store::{OpenFailure, Store, remove_if_exists};
use crate::throttle::FailureLog;

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
        let strength =
            PasswordRule::for_new_vault(&paths.dir).require(&new.owner, &new.password)?;
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
            let mut store = Store::create(&paths.creation_staging, &data_key, MIGRATIONS)?;
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
            password::record_score(&tx, &new.owner, &strength)?;
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
        // `password` was checked against the restored vault's rule by the restore.
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
                    audit.record(AuditEvent::new(AuditAction::Unlock));
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
            &AuditEvent::new(AuditAction::DataKeyShown),
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
        match Store::open(database, key, MIGRATIONS) {
            Ok(store) => return Ok((store, is_pending)),
            Err(OpenFailure::WrongKey) => {}
            Err(OpenFailure::Damaged(error)) => damage = Some(error),
        }
    }
    Err(damage
        .unwrap_or_else(|| Error::damaged("the database does not open with this vault's key")))
}

fn check_database_belongs(store: &Store, vault_id: Uuid) -> Result<()> {
    match store.vault_id()? {
        Some(id) if id == vault_id.to_string() => Ok(()),
        _ => Err(Error::damaged("the database belongs to another vault")),
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

#[cfg(test)]
#[path = "../vault_tests.rs"]
mod tests;
