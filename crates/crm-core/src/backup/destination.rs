//! Backup destinations: the marker that proves the right drive is mounted, and reading which
//! of this vault's backups a folder holds.
//!
//! When the owner configures a destination, a marker file
//! `strongroom-destination-<vault id>.json` is written into it. A scheduled backup refuses a
//! configured destination without its marker: an unmounted USB drive or NAS share leaves an
//! empty mount point behind, and writing there would put the "offsite" backup on the system
//! disk. A folder that already holds this vault's backups (made before markers existed) is
//! adopted: its marker is written and the backup proceeds.
//!
//! A destination may be shared by several vaults (one NAS folder for the office): listing,
//! pruning and drills only ever look at backups whose manifest names this vault. A backup
//! directory whose manifest cannot be read is listed as failed (whoever it belongs to, someone
//! should look at it) and never pruned.
//!
//! A network share that went away can block every file call on it for minutes (an NFS hard
//! mount: until it is back). Before anything touches a destination, `answers` asks it on a
//! thread of its own and gives up after a few seconds, so a dead NAS makes the status screen
//! say so, and a scheduled backup fail with an alert, instead of freezing them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::BackupInfo;
use super::archive::{self, PARTIAL_PREFIX};
use super::manifest::{MANIFEST_FILE, Manifest};
use crate::error::{Error, Result};
use crate::fsutil;

/// The marker's `format` value.
const MARKER_FORMAT: &str = "strongroom-destination";

/// The marker file of `vault_id` in `destination`.
pub fn marker_path(destination: &Path, vault_id: Uuid) -> PathBuf {
    destination.join(format!("strongroom-destination-{vault_id}.json"))
}

/// What the marker holds (no secret, no customer value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Marker {
    format: String,
    vault_id: Uuid,
    marked_at: String,
    note: String,
}

/// How long a destination may take to answer before it counts as unreachable.
const ANSWER_LIMIT: Duration = Duration::from_secs(5);

/// Destinations whose probe gave up and has not come back yet: not asked again until it has
/// (each question would leave another thread stuck behind the first).
static NOT_ANSWERING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Where one probe stands, shared by the asking thread and the probe's own.
#[derive(Default)]
struct Probe {
    answered: bool,
    given_up: bool,
}

/// Refuses a destination that does not answer a metadata call within [`ANSWER_LIMIT`] (see the
/// module docs). The probe thread stuck in the kernel is left to finish whenever the share
/// comes back, and takes the destination off [`NOT_ANSWERING`] when it does.
pub(crate) fn answers(destination: &Path) -> Result<()> {
    let silent = || {
        Error::Backup(format!(
            "destination {} does not answer (a network drive that went away?): nothing was read or written there",
            destination.display()
        ))
    };
    let not_answering = || NOT_ANSWERING.lock().unwrap_or_else(PoisonError::into_inner);
    if not_answering().iter().any(|path| path == destination) {
        return Err(silent());
    }
    let probe = Arc::new(Mutex::new(Probe::default()));
    let (sender, receiver) = mpsc::channel();
    let spawned = {
        let probe = Arc::clone(&probe);
        let path = destination.to_owned();
        std::thread::Builder::new()
            .name("backup-destination-probe".into())
            .spawn(move || {
                crate::fault::point("backup:destination-probe");
                // Whether it exists is for the caller to find out; this only waits for an answer.
                let _ = std::fs::metadata(&path);
                let mut probe = probe.lock().unwrap_or_else(PoisonError::into_inner);
                probe.answered = true;
                if probe.given_up {
                    not_answering().retain(|stuck| *stuck != path);
                }
                let _ = sender.send(());
            })
    };
    if spawned.is_err() {
        // No thread to spare: ask directly rather than refuse a destination that may be fine.
        return Ok(());
    }
    if receiver.recv_timeout(ANSWER_LIMIT).is_ok() {
        return Ok(());
    }
    // Decided under the probe's lock, so an answer arriving now either counts or finds the
    // destination listed and takes it off again.
    let mut probe = probe.lock().unwrap_or_else(PoisonError::into_inner);
    if probe.answered {
        return Ok(());
    }
    probe.given_up = true;
    not_answering().push(destination.to_owned());
    tracing::warn!(
        "backup destination {} does not answer",
        destination.display()
    );
    Err(silent())
}

/// Writes the marker of `vault_id` into `destination` unless it is there already. The folder
/// must exist: configuring a destination is the moment the drive is known to be mounted.
pub(crate) fn mark(destination: &Path, vault_id: Uuid) -> Result<()> {
    answers(destination)?;
    if !destination.is_dir() {
        return Err(Error::Invalid(format!(
            "backup destination {} does not exist or is not a folder: create it (or mount the drive) first",
            destination.display()
        )));
    }
    let path = marker_path(destination, vault_id);
    if read_marker(&path, vault_id).is_ok() {
        return Ok(());
    }
    let marker = Marker {
        format: MARKER_FORMAT.into(),
        vault_id,
        marked_at: Utc::now().to_rfc3339(),
        note: "Strongroom CRM backups of this vault go here. Backups refuse this folder when \
               this file is missing (e.g. the drive is not mounted)."
            .into(),
    };
    let mut bytes = serde_json::to_vec_pretty(&marker)
        .map_err(|error| Error::Backup(format!("encoding the destination marker: {error}")))?;
    bytes.push(b'\n');
    fsutil::write_atomic(&path, &bytes)
}

fn read_marker(path: &Path, vault_id: Uuid) -> Result<()> {
    let bytes = std::fs::read(path).map_err(Error::io(format!("reading {}", path.display())))?;
    let marker: Marker = serde_json::from_slice(&bytes)
        .map_err(|error| Error::Backup(format!("{} is damaged: {error}", path.display())))?;
    if marker.format != MARKER_FORMAT || marker.vault_id != vault_id {
        return Err(Error::Backup(format!(
            "{} names another vault",
            path.display()
        )));
    }
    Ok(())
}

/// Checks that `destination` can take a backup of `vault_id` now. A configured destination
/// must carry the vault's marker (or already hold its backups, and is then marked); a folder
/// given for one backup (`--to`) only has to exist.
pub(crate) fn check_ready(destination: &Path, vault_id: Uuid, configured: bool) -> Result<()> {
    readiness(destination, vault_id, configured, true)
}

/// [`check_ready`] for a configured destination, writing nothing (for the status): a folder
/// that the next backup would mark counts as ready.
pub(crate) fn is_ready(destination: &Path, vault_id: Uuid) -> Result<()> {
    readiness(destination, vault_id, true, false)
}

fn readiness(destination: &Path, vault_id: Uuid, configured: bool, adopt: bool) -> Result<()> {
    answers(destination)?;
    if !destination.is_dir() {
        return Err(Error::Backup(format!(
            "destination {} does not exist or is not a folder (is the drive mounted?)",
            destination.display()
        )));
    }
    if !configured {
        return Ok(());
    }
    let path = marker_path(destination, vault_id);
    match read_marker(&path, vault_id) {
        Ok(()) => Ok(()),
        Err(_) if path.exists() => Err(Error::Backup(format!(
            "destination {}: its marker {} is damaged or names another vault; set the destination again with `crm backup settings --destination …`",
            destination.display(),
            path.display()
        ))),
        Err(_) => {
            let holds_ours = scan(destination, vault_id)
                .is_ok_and(|backups| backups.iter().any(|info| info.vault_id == Some(vault_id)));
            if holds_ours {
                return if adopt {
                    mark(destination, vault_id)
                } else {
                    Ok(())
                };
            }
            Err(Error::Backup(format!(
                "destination {} is not marked for this vault ({} is missing): the drive or share \
                 is probably not mounted, and a backup here would land on the system disk. Mount \
                 it, or set the destination again with `crm backup settings --destination …`",
                destination.display(),
                path.display()
            )))
        }
    }
}

/// This vault's backups in `destination`, plus every backup directory with a damaged or
/// missing manifest (listed as failed), oldest first. Other vaults' backups are left out.
pub(crate) fn scan(destination: &Path, vault_id: Uuid) -> Result<Vec<BackupInfo>> {
    answers(destination)?;
    let entries = std::fs::read_dir(destination).map_err(Error::io(format!(
        "reading backup destination {}",
        destination.display()
    )))?;
    let mut backups = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io(format!("reading {}", destination.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let dir = entry.path();
        if name.starts_with('.') || !dir.is_dir() {
            continue;
        }
        let has_manifest = dir.join(MANIFEST_FILE).is_file();
        if !has_manifest && archive::created_at_of_id(&name).is_none() {
            // Some other folder on a shared drive.
            continue;
        }
        match Manifest::read(&dir) {
            Ok(manifest) if manifest.vault_id == vault_id => {
                backups.push(BackupInfo::from_manifest(&dir, manifest));
            }
            Ok(_) => {}
            Err(error) => backups.push(BackupInfo::damaged(&dir, &name, &error)),
        }
    }
    backups.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(backups)
}

/// Problems a listing can see without reading the copy: files missing or of the wrong size.
pub(crate) fn missing_files(dir: &Path, manifest: &Manifest) -> Vec<String> {
    let mut problems = Vec::new();
    for expected in [&manifest.payload, &manifest.sealed_key.file] {
        match std::fs::metadata(dir.join(&expected.file)) {
            Ok(meta) if meta.len() == expected.size_bytes => {}
            Ok(meta) => problems.push(format!(
                "{}: size {} bytes, the manifest says {}",
                expected.file,
                meta.len(),
                expected.size_bytes
            )),
            Err(_) => problems.push(format!("{}: missing", expected.file)),
        }
    }
    problems
}

/// Leftovers of killed runs: `.partial-*` directories untouched for a day. A leftover whose
/// manifest names another vault is left to that vault.
pub(crate) fn remove_stale_partials(destination: &Path, vault_id: Uuid) -> Result<()> {
    let entries = std::fs::read_dir(destination)
        .map_err(Error::io(format!("reading {}", destination.display())))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(PARTIAL_PREFIX) {
            continue;
        }
        let stale = entry
            .metadata()
            .and_then(|meta| meta.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(24 * 3600));
        let others =
            Manifest::read(&entry.path()).is_ok_and(|manifest| manifest.vault_id != vault_id);
        if stale && !others {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

/// The creation time of a listed backup, if its `created_at` parses.
pub(crate) fn created_at(info: &BackupInfo) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&info.created_at)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}
