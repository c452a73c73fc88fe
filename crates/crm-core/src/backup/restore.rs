//! Restore: a backup plus the recovery identity become a new vault beside the old one.
//!
//! The backup key is unsealed with the recovery identity, the backup is verified in full, the
//! copy is migrated to the current schema and re-encrypted under a new data key inside the
//! new directory, and a key-slot file with one Owner slot (new password) and a **new recovery
//! identity** is written; the database is renamed into place last. The old vault is never
//! touched: an existing target path is refused unless the caller asks to move it aside.
//! Finally every personal-data erasure made after the backup is applied again, from the sealed
//! erasure log beside the backup (see [`super::erasure_log`]), and reported.

use std::path::{Path, PathBuf};

use chrono::Utc;

use super::archive::{self, BackupKey};
use super::erasure_log::{self, ErasureReplay};
use super::manifest::{Manifest, PAYLOAD_FILE};
use crate::audit::{AuditAction, AuditEvent, HeadFile};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::keyslot::{Credentials, KdfStrength};
use crate::secret::{DataKey, Password, RecoveryIdentity};
use crate::store::{OpenFailure, Store, remove_if_exists, with_suffix};
use crate::vault::{Progress, ProgressFn, Session, Vault, VaultPaths};

/// Where and how to restore.
#[derive(Debug)]
pub struct RestoreOptions {
    /// The new vault directory.
    pub to: PathBuf,
    /// Move an existing directory at `to` aside (renamed `…​.before-restore-<time>`).
    pub move_aside: bool,
    /// The Owner whose slot is made; default: the backup's only active Owner.
    pub owner: Option<String>,
    /// That owner's new password.
    pub password: Password,
    /// KDF cost of the new slot.
    pub kdf: KdfStrength,
}

/// A restored vault.
#[derive(Debug)]
pub struct Restored {
    /// The owner's session on the new vault.
    pub session: Session,
    /// The new vault's recovery identity: show it once, then drop it.
    pub recovery: RecoveryIdentity,
    /// Where an existing directory at the target was moved.
    pub moved_aside: Option<PathBuf>,
    /// The backup restored.
    pub manifest: Manifest,
    /// The erasures made after the backup and applied again (`None` for a restore drill).
    pub erasures: Option<ErasureReplay>,
}

/// Restores `backup` (a backup directory) with the recovery identity.
pub fn restore(
    backup: &Path,
    identity: &RecoveryIdentity,
    options: RestoreOptions,
    progress: ProgressFn<'_>,
) -> Result<Restored> {
    let manifest = Manifest::read(backup)?;
    step(
        progress,
        "unsealing the backup key with the recovery identity",
        0,
    );
    let key = archive::unseal_key(backup, &manifest, identity)?;
    let mut restored = restore_with_key(backup, manifest, &key, options, progress)?;
    step(progress, "re-applying erasures made after the backup", 5);
    let replay = replay_erasures(&mut restored.session, backup, &restored.manifest, identity);
    restored.erasures = Some(replay);
    step(progress, "restored", 6);
    Ok(restored)
}

/// Applies again every erasure in the log beside the backup that is newer than the backup,
/// and gives the new vault the whole log (so its own backups carry it on). Whatever goes wrong
/// here is reported, never an error: the restore itself is complete, and its new recovery
/// identity must still reach the caller.
fn replay_erasures(
    session: &mut Session,
    backup: &Path,
    manifest: &Manifest,
    identity: &RecoveryIdentity,
) -> ErasureReplay {
    let (log_file, read) = erasure_log::read_beside(backup, manifest.vault_id, identity);
    let mut replay = ErasureReplay {
        log_file,
        read: false,
        problem: None,
        reapplied: Vec::new(),
    };
    match read {
        Ok(None) => {
            replay.problem = Some(format!(
                "no erasure log beside the backup ({}): erasures made after it were not applied again",
                replay.log_file.display()
            ));
        }
        Err(error) => replay.problem = Some(error.to_string()),
        Ok(Some(entries)) => {
            replay.read = true;
            let made_at = super::job::parse_time(&manifest.created_at);
            let own_dir = session.paths().dir.clone();
            for entry in &entries {
                if let Err(error) = crate::records::erase::append_log(&own_dir, entry) {
                    replay.problem = Some(format!(
                        "the erasure log could not be copied into the new vault: {error}"
                    ));
                    break;
                }
            }
            // An entry whose time does not parse is applied again: erasing twice is harmless,
            // not erasing is not.
            let newer: Vec<_> = entries
                .into_iter()
                .filter(|entry| match (super::job::parse_time(&entry.at), made_at) {
                    (Some(at), Some(made)) => at > made,
                    _ => true,
                })
                .collect();
            match session.erase_again(&newer) {
                Ok(reapplied) => replay.reapplied = reapplied,
                Err(error) => {
                    let ids: Vec<String> = newer
                        .iter()
                        .map(|erasure| erasure.contact_id.to_string())
                        .collect();
                    replay.problem = Some(format!(
                        "erasures made after the backup could not all be applied again ({error}); \
                         erase these contacts again with `crm erase ID`: {}",
                        ids.join(", ")
                    ));
                }
            }
        }
    }
    replay
}

fn step(progress: ProgressFn<'_>, what: &str, done: u64) {
    progress(Progress {
        step: what.into(),
        done,
        total: 6,
    });
}

/// Restore once the backup key is known (restore drills take it from the live vault).
pub(crate) fn restore_with_key(
    backup: &Path,
    manifest: Manifest,
    key: &BackupKey,
    options: RestoreOptions,
    progress: ProgressFn<'_>,
) -> Result<Restored> {
    step(progress, "verifying the backup", 1);
    let problems = archive::verify_dir(backup, &manifest, Some(key), archive::Depth::Full);
    if !problems.is_empty() {
        return Err(Error::Backup(format!(
            "{} failed verification, nothing restored: {}",
            backup.display(),
            problems.join("; ")
        )));
    }
    let moved_aside = prepare_target(&options.to, options.move_aside)?;
    let paths = VaultPaths::new(&options.to);
    fsutil::create_private_dir(&paths.dir)?;

    step(progress, "copying the backup into the new vault", 2);
    let staged = paths.dir.join("vault.db.restoring");
    let rotating = paths.dir.join("vault.db.restoring-rekey");
    remove_if_exists(&staged)?;
    std::fs::copy(backup.join(PAYLOAD_FILE), &staged).map_err(Error::io(format!(
        "copying the backup to {}",
        staged.display()
    )))?;
    archive::sync_file(&staged)?;

    step(progress, "re-encrypting under a new data key", 3);
    let data_key = DataKey::generate();
    let (owner, head, lifted) = {
        let mut store = Store::open(&staged, key.as_data_key(), crate::schema::MIGRATIONS)
            .map_err(|failure| match failure {
                OpenFailure::WrongKey => Error::Backup("the backup copy does not open".into()),
                OpenFailure::Damaged(error) => error,
            })?;
        let owner = choose_owner(&store, options.owner.as_deref())?;
        // The new owner slot has a password only; a key-file requirement on their role would
        // lock them out. It is lifted here and the restore's audit entry names it.
        let lifted = crate::policy::lift_key_file_requirement_of(store.conn(), &owner)?;
        store.rekey(&staged, &rotating, &data_key)?;
        let head = crate::audit::head(store.conn())?;
        store
            .conn()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        (owner, head, lifted)
    };
    for suffix in ["-wal", "-shm"] {
        remove_if_exists(&with_suffix(&staged, suffix))?;
    }

    step(progress, "writing key slots for the new owner password", 4);
    let recovery = Vault::adopt_database(
        &paths,
        &staged,
        manifest.vault_id,
        &data_key,
        &owner,
        &options.password,
        options.kdf,
    )?;
    HeadFile::write(&paths.audit_head, &manifest.vault_id.to_string(), &head)?;
    let mut session = Vault::open(&paths.dir)?.unlock(&Credentials {
        user: owner,
        password: options.password,
        key_file: None,
    })?;
    session.record(
        AuditEvent::new(AuditAction::Restore)
            .detail("backup_id", &manifest.backup_id)
            .detail("backup_created_at", &manifest.created_at)
            .detail("key_file_requirement_lifted_for_role", &lifted),
    )?;
    Ok(Restored {
        session,
        recovery,
        moved_aside,
        manifest,
        erasures: None,
    })
}

/// Refuses an existing target unless asked to move it aside; never deletes anything.
fn prepare_target(to: &Path, move_aside: bool) -> Result<Option<PathBuf>> {
    if std::fs::symlink_metadata(to).is_err() {
        return Ok(None);
    }
    if !move_aside {
        return Err(Error::AlreadyExists(format!(
            "{} (restore into a new path, or pass --move-aside to keep the existing one beside it)",
            to.display()
        )));
    }
    let mut aside = to.as_os_str().to_owned();
    aside.push(format!(
        ".before-restore-{}",
        Utc::now().format("%Y%m%dT%H%M%SZ")
    ));
    let aside = PathBuf::from(aside);
    std::fs::rename(to, &aside).map_err(Error::io(format!("moving {} aside", to.display())))?;
    if let Some(parent) = aside.parent() {
        fsutil::sync_dir(parent)?;
    }
    Ok(Some(aside))
}

fn choose_owner(store: &Store, wanted: Option<&str>) -> Result<String> {
    let mut statement = store
        .conn()
        .prepare("SELECT name FROM users WHERE removed_at IS NULL AND role = ?1 ORDER BY name")?;
    let owners = statement
        .query_map([crate::policy::OWNER_ROLE], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    match wanted {
        Some(name) => owners
            .iter()
            .find(|owner| owner.eq_ignore_ascii_case(name))
            .cloned()
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{name} is not an active Owner in this backup; Owners: {}",
                    owners.join(", ")
                ))
            }),
        None => owners.first().cloned().ok_or_else(|| {
            Error::Backup("the backup has no active Owner to restore access for".into())
        }),
    }
}
