//! One backup directory on disk: writing it crash-safely, sealing its key, checking it.
//!
//! A backup is built in `.partial-<id>/` beside the others, every file synced, verified, its
//! `status.json` written, and only then renamed to `<id>/` (and the destination synced). A
//! process killed at any point leaves at most a `.partial-*` directory, which is never listed.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::manifest::{FileDigest, Manifest, PAYLOAD_FILE, SEALED_KEY_FILE, STATUS_FILE};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::secret::{DataKey, RecoveryIdentity};
use crate::store::{OpenFailure, Store};

/// Prefix of a backup still being written (or abandoned by a killed process).
pub(crate) const PARTIAL_PREFIX: &str = ".partial-";

/// The random key a backup's database copy is encrypted under. Zeroized on drop, redacted.
#[derive(Debug)]
pub struct BackupKey(DataKey);

impl BackupKey {
    pub(crate) fn generate() -> Self {
        Self(DataKey::generate())
    }

    pub(crate) fn from_hex(text: &str) -> Result<Self> {
        let bytes = Zeroizing::new(
            hex::decode(text.trim()).map_err(|_| Error::Backup("backup key is not hex".into()))?,
        );
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| Error::Backup("backup key has the wrong length".into()))?;
        Ok(Self(DataKey::from_bytes(array)))
    }

    pub(crate) fn as_data_key(&self) -> &DataKey {
        &self.0
    }
}

/// The text sealed in `backup-key.age`: readable with the stock `age` tool by the holder of
/// the recovery identity, and bound to its vault and backup.
fn sealed_text(vault_id: Uuid, backup_id: &str, key: &BackupKey) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "strongroom-backup-key v1\nvault {vault_id}\nbackup {backup_id}\nkey {}\n",
        key.0.to_hex().expose()
    ))
}

/// Seals the backup key to every recipient (age, binary format).
pub(crate) fn seal_key(
    vault_id: Uuid,
    backup_id: &str,
    key: &BackupKey,
    recipients: &[String],
) -> Result<Vec<u8>> {
    seal_to(recipients, sealed_text(vault_id, backup_id, key).as_bytes())
}

/// Encrypts `plaintext` with age to every recipient (`age1…`), binary format.
pub(crate) fn seal_to(recipients: &[String], plaintext: &[u8]) -> Result<Vec<u8>> {
    let parsed = recipients
        .iter()
        .map(|text| {
            text.parse::<age::x25519::Recipient>()
                .map_err(|_| Error::Invalid(format!("{text} is not an age X25519 recipient")))
        })
        .collect::<Result<Vec<_>>>()?;
    let encryptor = age::Encryptor::with_recipients(
        parsed
            .iter()
            .map(|recipient| recipient as &dyn age::Recipient),
    )
    .map_err(|error| Error::Crypto(error.to_string()))?;
    let mut sealed = Vec::new();
    let mut writer = encryptor
        .wrap_output(&mut sealed)
        .map_err(|error| Error::Crypto(error.to_string()))?;
    writer
        .write_all(plaintext)
        .and_then(|()| writer.finish().map(|_| ()))
        .map_err(|error| Error::Crypto(error.to_string()))?;
    Ok(sealed)
}

/// Unseals a backup's key with a recovery (or sysadmin) identity.
pub(crate) fn unseal_key(
    dir: &Path,
    manifest: &Manifest,
    identity: &RecoveryIdentity,
) -> Result<BackupKey> {
    let path = dir.join(SEALED_KEY_FILE);
    let sealed = std::fs::read(&path).map_err(Error::io(format!("reading {}", path.display())))?;
    let text = Zeroizing::new(
        age::decrypt(identity.as_age(), &sealed).map_err(|_| Error::RecoveryIdentityMismatch)?,
    );
    let text = std::str::from_utf8(&text)
        .map_err(|_| Error::Backup(format!("{}: unexpected content", path.display())))?;
    let mut lines = text.lines();
    let expected = [
        "strongroom-backup-key v1".to_owned(),
        format!("vault {}", manifest.vault_id),
        format!("backup {}", manifest.backup_id),
    ];
    for want in &expected {
        if lines.next() != Some(want.as_str()) {
            return Err(Error::Backup(format!(
                "{}: the sealed key belongs to another vault or backup",
                path.display()
            )));
        }
    }
    let key = lines
        .next()
        .and_then(|line| line.strip_prefix("key "))
        .ok_or_else(|| Error::Backup(format!("{}: no key inside", path.display())))?;
    BackupKey::from_hex(key)
}

/// SHA-256 and size of a file, streamed.
pub(crate) fn digest_file(dir: &Path, name: &str) -> Result<FileDigest> {
    let path = dir.join(name);
    let mut file =
        std::fs::File::open(&path).map_err(Error::io(format!("reading {}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let read = file
            .read(&mut buffer)
            .map_err(Error::io(format!("reading {}", path.display())))?;
        if read == 0 {
            break;
        }
        size += read as u64;
        hasher.update(&buffer[..read]);
    }
    Ok(FileDigest {
        file: name.into(),
        size_bytes: size,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// What the snapshot read inside its transaction.
pub(crate) struct SnapshotFacts {
    pub row_counts: BTreeMap<String, i64>,
    pub audit_head: Option<crate::audit::ChainHead>,
    pub vault_id: Option<String>,
}

/// Row counts of every table, the audit head and the vault id, as seen by `conn`.
pub(crate) fn read_facts(conn: &crate::store::Connection) -> Result<SnapshotFacts> {
    let mut statement = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )?;
    let tables = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut row_counts = BTreeMap::new();
    for table in tables {
        // Names come from sqlite_master; quoting keeps any odd name a single identifier.
        let quoted = format!("\"{}\"", table.replace('"', "\"\""));
        let count: i64 = conn.query_row(&format!("SELECT count(*) FROM {quoted}"), [], |row| {
            row.get(0)
        })?;
        row_counts.insert(table, count);
    }
    let audit_head = if row_counts.contains_key("audit_log") {
        Some(crate::audit::head(conn)?)
    } else {
        None
    };
    let vault_id = if row_counts.contains_key("vault_meta") {
        use rusqlite::OptionalExtension;
        conn.query_row(
            "SELECT value FROM vault_meta WHERE key = 'vault_id'",
            [],
            |row| row.get(0),
        )
        .optional()?
    } else {
        None
    };
    Ok(SnapshotFacts {
        row_counts,
        audit_head,
        vault_id,
    })
}

/// The outcome of the latest verification, kept in `status.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusFile {
    /// `verified` or `failed`.
    pub state: String,
    /// When it was checked (RFC 3339).
    pub checked_at: String,
    /// What failed, each naming the file or check.
    pub problems: Vec<String>,
}

impl StatusFile {
    pub(crate) fn new(problems: Vec<String>) -> Self {
        Self {
            state: if problems.is_empty() {
                "verified"
            } else {
                "failed"
            }
            .into(),
            checked_at: Utc::now().to_rfc3339(),
            problems,
        }
    }

    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|error| Error::Backup(format!("encoding status: {error}")))?;
        fsutil::write_atomic(&dir.join(STATUS_FILE), &bytes)
    }

    pub(crate) fn read(dir: &Path) -> Option<Self> {
        let bytes = std::fs::read(dir.join(STATUS_FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// How deep a verification looks inside the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// Every page authenticated (`cipher_integrity_check`) and every b-tree well formed
    /// (`quick_check`): what a page-by-page copy can get wrong. Runs after each backup.
    Quick,
    /// Also every index entry matched to its row (`integrity_check`, several times slower):
    /// for an explicit re-verification and before a restore.
    Full,
}

/// Checks a backup directory against its manifest. With the key, the copy is opened and
/// checked at `depth`; without it only the file digests can be compared. Returns the problems
/// found (empty: verified), each naming the file or the check.
pub(crate) fn verify_dir(
    dir: &Path,
    manifest: &Manifest,
    key: Option<&BackupKey>,
    depth: Depth,
) -> Vec<String> {
    let payload = dir.join(PAYLOAD_FILE);
    // Three independent reads of the whole payload (digests, the structure check, the page
    // HMACs) run side by side: each is bound by the CPU (SHA-256, AES and HMAC-SHA512), so on
    // a machine with two or more cores verification takes about as long as the slowest.
    let (mut problems, opened, cipher) = std::thread::scope(|scope| {
        let digests = scope.spawn(|| check_digests(dir, manifest));
        let cipher = key.map(|key| scope.spawn(|| check_page_hmacs(&payload, key)));
        let opened = key.map(|key| {
            Store::open_snapshot(&payload, key.as_data_key()).map(|store| {
                let mut problems = Vec::new();
                if let Err(error) = check_contents(&store, manifest, depth, &mut problems) {
                    problems.push(format!("{PAYLOAD_FILE}: {error}"));
                }
                problems
            })
        });
        let joined = |handle: std::thread::ScopedJoinHandle<'_, Vec<String>>| {
            handle
                .join()
                .unwrap_or_else(|_| vec![format!("{PAYLOAD_FILE}: a check stopped unexpectedly")])
        };
        (joined(digests), opened, cipher.map(joined))
    });
    match opened {
        None => {}
        Some(Ok(found)) => {
            problems.extend(found);
            problems.extend(cipher.unwrap_or_default());
        }
        Some(Err(OpenFailure::WrongKey)) => {
            problems.push(format!("{PAYLOAD_FILE}: does not open with the backup key"));
        }
        Some(Err(OpenFailure::Damaged(error))) => {
            problems.push(format!("{PAYLOAD_FILE}: {error}"));
        }
    }
    problems
}

/// The payload's and the sealed key's size and SHA-256 against the manifest.
fn check_digests(dir: &Path, manifest: &Manifest) -> Vec<String> {
    let mut problems = Vec::new();
    for expected in [&manifest.payload, &manifest.sealed_key.file] {
        match digest_file(dir, &expected.file) {
            Ok(actual) if actual == *expected => {}
            Ok(actual) if actual.size_bytes != expected.size_bytes => problems.push(format!(
                "{}: size {} bytes, the manifest says {}",
                expected.file, actual.size_bytes, expected.size_bytes
            )),
            Ok(_) => problems.push(format!(
                "{}: SHA-256 does not match the manifest (the file was changed or damaged)",
                expected.file
            )),
            Err(error) => problems.push(format!("{}: {error}", expected.file)),
        }
    }
    problems
}

/// `cipher_integrity_check` on its own connection: every page's HMAC, free pages included.
/// A payload that does not open is reported by the structure check, not here.
fn check_page_hmacs(payload: &Path, key: &BackupKey) -> Vec<String> {
    let Ok(store) = Store::open_snapshot(payload, key.as_data_key()) else {
        return Vec::new();
    };
    let found: Result<Vec<String>> = (|| {
        let mut statement = store.conn().prepare("PRAGMA cipher_integrity_check")?;
        let rows = statement
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    })();
    match found {
        Ok(cipher) if cipher.is_empty() => Vec::new(),
        Ok(cipher) => vec![format!(
            "{PAYLOAD_FILE}: cipher_integrity_check failed ({})",
            cipher.into_iter().take(3).collect::<Vec<_>>().join("; ")
        )],
        Err(error) => vec![format!("{PAYLOAD_FILE}: cipher_integrity_check: {error}")],
    }
}

fn check_contents(
    store: &Store,
    manifest: &Manifest,
    depth: Depth,
    problems: &mut Vec<String>,
) -> Result<()> {
    let conn = store.conn();
    let check = match depth {
        Depth::Quick => "quick_check",
        Depth::Full => "integrity_check",
    };
    let mut statement = conn.prepare(&format!("PRAGMA {check}"))?;
    let integrity = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if integrity != ["ok"] {
        problems.push(format!(
            "{PAYLOAD_FILE}: {check} failed ({})",
            integrity.into_iter().take(3).collect::<Vec<_>>().join("; ")
        ));
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version != manifest.schema_version {
        problems.push(format!(
            "{PAYLOAD_FILE}: schema version {version}, the manifest says {}",
            manifest.schema_version
        ));
    }
    let facts = read_facts(conn)?;
    if facts.vault_id.as_deref() != Some(manifest.vault_id.to_string().as_str()) {
        problems.push(format!(
            "{PAYLOAD_FILE}: belongs to another vault than the manifest says"
        ));
    }
    if facts.row_counts != manifest.row_counts {
        let differing: Vec<String> = manifest
            .row_counts
            .keys()
            .chain(facts.row_counts.keys())
            .filter(|table| manifest.row_counts.get(*table) != facts.row_counts.get(*table))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        problems.push(format!(
            "{PAYLOAD_FILE}: row counts differ from the manifest in {}",
            differing.join(", ")
        ));
    }
    if facts.audit_head != manifest.audit_head {
        problems.push(format!(
            "{PAYLOAD_FILE}: audit chain head differs from the manifest"
        ));
    }
    Ok(())
}

/// The time format that opens a backup id.
const ID_TIME_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";

/// A new backup id: sortable UTC time plus a random suffix.
pub(crate) fn new_backup_id(now: chrono::DateTime<Utc>) -> String {
    let random = Uuid::new_v4().simple().to_string();
    format!("{}-{}", now.format(ID_TIME_FORMAT), &random[..8])
}

/// The creation time (RFC 3339) a backup id names, or `None` if `name` is not a backup id
/// (`20261122T223455.123Z-bced8f33`).
pub(crate) fn created_at_of_id(name: &str) -> Option<String> {
    let (time, suffix) = name.split_once('-')?;
    if suffix.len() != 8 || !suffix.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    chrono::NaiveDateTime::parse_from_str(time, ID_TIME_FORMAT)
        .ok()
        .map(|at| at.and_utc().to_rfc3339())
}

/// Removes a backup directory crash-safely: renamed out of the listing first, then deleted.
pub(crate) fn remove_backup(dir: &Path) -> Result<()> {
    let name = dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = dir.parent().unwrap_or(Path::new("."));
    let doomed = parent.join(format!("{PARTIAL_PREFIX}deleting-{name}"));
    std::fs::rename(dir, &doomed).map_err(Error::io(format!("removing {}", dir.display())))?;
    fsutil::sync_dir(parent)?;
    std::fs::remove_dir_all(&doomed).map_err(Error::io(format!("removing {}", doomed.display())))
}

/// Syncs one file inside a backup directory.
pub(crate) fn sync_file(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(Error::io(format!("syncing {}", path.display())))
}

/// Writes a new file and syncs it.
pub(crate) fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    fsutil::write_new_private_file(&dir.join(name), bytes)
}
