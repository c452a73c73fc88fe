//! The erasure log kept in every backup destination, so a restore can erase again.
//!
//! A restore brings back a database from before the latest personal-data erasures. The live
//! vault lists its erasures in `erasures.log` beside the database, but that file is lost with
//! the vault. So each destination also holds `strongroom-erasures-<vault id>.age`: the whole
//! log (contact ids and times, no names), sealed with age because contact ids name records. It
//! is sealed to the recipients of the next backup (the recovery recipient and the extra ones)
//! and to every recipient of this vault's backups already in that folder, so any identity that
//! opens a backup there opens the log beside it, also after a restore gave the vault a new
//! recovery identity. It is rewritten (atomically) after every erasure, to each configured
//! destination that is ready, and before every backup. A restore with the recovery identity
//! reads the log beside the backup, erases again every contact erased after the backup was
//! made, and reports them.
//!
//! Decrypted, the file is:
//!
//! ```text
//! strongroom-erasure-log v1
//! vault <vault id>
//! {"contact_id":42,"at":"2026-11-23T09:12:00+00:00"}
//! …
//! ```

use std::path::{Path, PathBuf};

use serde::Serialize;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::archive;
use super::destination;
use super::manifest::Manifest;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::records::erase::Erasure;
use crate::secret::RecoveryIdentity;
use crate::vault::Session;

const HEADER: &str = "strongroom-erasure-log v1";

/// The file name of `vault_id`'s erasure log inside a destination.
pub fn file_name(vault_id: Uuid) -> String {
    format!("strongroom-erasures-{vault_id}.age")
}

/// The log sealed to `recipients`.
fn seal(vault_id: Uuid, erasures: &[Erasure], recipients: &[String]) -> Result<Vec<u8>> {
    let mut text = Zeroizing::new(format!("{HEADER}\nvault {vault_id}\n"));
    for erasure in erasures {
        let line = serde_json::to_string(erasure)
            .map_err(|error| Error::Backup(format!("encoding the erasure log: {error}")))?;
        text.push_str(&line);
        text.push('\n');
    }
    archive::seal_to(recipients, text.as_bytes())
}

/// Replaces the log in `destination`, atomically, sealed to `recipients` plus every recipient
/// of this vault's backups already there.
pub(crate) fn write(
    destination: &Path,
    vault_id: Uuid,
    erasures: &[Erasure],
    recipients: &[String],
) -> Result<()> {
    let mut everyone = recipients.to_vec();
    for info in destination::scan(destination, vault_id)? {
        if info.vault_id != Some(vault_id) {
            continue;
        }
        if let Ok(manifest) = Manifest::read(&info.path) {
            for recipient in manifest.sealed_key.recipients {
                if !everyone.contains(&recipient) {
                    everyone.push(recipient);
                }
            }
        }
    }
    let sealed = seal(vault_id, erasures, &everyone)?;
    fsutil::write_atomic(&destination.join(file_name(vault_id)), &sealed)
}

/// What a restore found beside the backup.
#[derive(Debug, Clone, Serialize)]
pub struct ErasureReplay {
    /// The log file looked for (beside the backup directory).
    pub log_file: PathBuf,
    /// Whether it was found and read.
    pub read: bool,
    /// Why it could not be used (missing, sealed to another identity, damaged).
    pub problem: Option<String>,
    /// Contacts erased again because they were erased after the backup was made.
    pub reapplied: Vec<Erasure>,
}

/// Reads the log beside `backup_dir` (in its destination) with `identity`: `Ok(None)` when
/// there is no log file.
pub(crate) fn read_beside(
    backup_dir: &Path,
    vault_id: Uuid,
    identity: &RecoveryIdentity,
) -> (PathBuf, Result<Option<Vec<Erasure>>>) {
    let folder = backup_dir
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let path = folder.join(file_name(vault_id));
    let result = (|| {
        let sealed = match std::fs::read(&path) {
            Ok(sealed) => sealed,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(Error::io(format!("reading {}", path.display()))(error)),
        };
        let text = Zeroizing::new(age::decrypt(identity.as_age(), &sealed).map_err(|_| {
            Error::Backup(format!(
                "{} does not open with this identity (sealed to another recovery identity, or damaged)",
                path.display()
            ))
        })?);
        let text = std::str::from_utf8(&text)
            .map_err(|_| Error::Backup(format!("{}: unexpected content", path.display())))?;
        let mut lines = text.lines();
        let vault_line = format!("vault {vault_id}");
        if lines.next() != Some(HEADER) || lines.next() != Some(vault_line.as_str()) {
            return Err(Error::Backup(format!(
                "{} is not this vault's erasure log",
                path.display()
            )));
        }
        lines
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str::<Erasure>(line).map_err(|error| {
                    Error::Backup(format!("{}: damaged entry ({error})", path.display()))
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    })();
    (path, result)
}

impl Session {
    /// Copies the erasure log, sealed, into every configured destination that is ready.
    /// Called after each erasure. A destination that cannot take it (drive not mounted) is
    /// logged and alerted on, never an error: the erasure is done, and the next backup to that
    /// destination writes the log again.
    pub(crate) fn publish_erasure_log(&mut self) {
        if let Err(error) = self.try_publish_erasure_log() {
            tracing::warn!("the erasure log was not copied to the backup destinations: {error}");
            if let Err(error) = crate::audit::alerts::raise(
                self.store().conn(),
                "-",
                super::ALERT_KIND,
                chrono::Utc::now(),
            ) {
                tracing::warn!("could not raise the alert: {error}");
            }
        }
    }

    fn try_publish_erasure_log(&mut self) -> Result<()> {
        let settings = self.stored_backup_settings()?;
        if settings.destinations.is_empty() {
            return Ok(());
        }
        let erasures = crate::records::erase::read_log(&self.paths().dir)?;
        let recipients = self.backup_recipients(&settings);
        let mut problems = Vec::new();
        for destination in &settings.destinations {
            let written = destination::check_ready(destination, self.vault_id(), true)
                .and_then(|()| write(destination, self.vault_id(), &erasures, &recipients));
            if let Err(error) = written {
                problems.push(error.to_string());
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Backup(problems.join("; ")))
        }
    }
}
