//! The backup manifest (`manifest.json`): what a backup holds and how to check it.
//!
//! Versioned and frozen by a golden test (`tests/golden/backup-manifest-v1.json`): a change to
//! this format is a decision, documented in `docs/backup-format.md`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit::{BackupAnchor, ChainHead};
use crate::error::{Error, Result};

/// The manifest's `format` value.
pub const FORMAT: &str = "strongroom-backup";
/// The manifest's `version` value.
pub const VERSION: u32 = 1;
/// The encrypted database copy inside a backup directory.
pub const PAYLOAD_FILE: &str = "vault.db";
/// The backup key, sealed with age.
pub const SEALED_KEY_FILE: &str = "backup-key.age";
/// The manifest itself.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The outcome of the latest verification.
pub const STATUS_FILE: &str = "status.json";

/// Everything needed to check a backup without trusting its producer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`] for this layout.
    pub version: u32,
    /// The backup's id (also its directory name).
    pub backup_id: String,
    /// The vault the database belongs to.
    pub vault_id: Uuid,
    /// When the snapshot was taken (RFC 3339, UTC).
    pub created_at: String,
    /// The vault schema version (`PRAGMA user_version`) of the copy.
    pub schema_version: i64,
    /// Who made it (a login name, or `backup agent`).
    pub made_by: String,
    /// The encrypted database copy.
    pub payload: FileDigest,
    /// The sealed backup key and who can unseal it.
    pub sealed_key: SealedKey,
    /// Rows per table at the moment of the snapshot.
    pub row_counts: BTreeMap<String, i64>,
    /// The audit chain head at the moment of the snapshot.
    pub audit_head: Option<ChainHead>,
}

/// A file of the backup and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// File name inside the backup directory.
    pub file: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: String,
}

/// The sealed backup key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedKey {
    /// The age file and its digest.
    #[serde(flatten)]
    pub file: FileDigest,
    /// The age recipients (`age1…`) it is sealed to: the vault's recovery recipient first.
    pub recipients: Vec<String>,
}

impl Manifest {
    /// The audit chain head this backup recorded, as the trail compares it (`None` for a
    /// backup made before heads were recorded).
    pub fn audit_anchor(&self) -> Option<BackupAnchor> {
        self.audit_head.clone().map(|head| BackupAnchor {
            backup_id: self.backup_id.clone(),
            vault_id: self.vault_id.to_string(),
            created_at: self.created_at.clone(),
            head,
        })
    }

    /// Reads and checks the manifest in a backup directory.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let bytes =
            std::fs::read(&path).map_err(Error::io(format!("reading {}", path.display())))?;
        let manifest: Self = serde_json::from_slice(&bytes).map_err(|error| {
            Error::Backup(format!(
                "{} is not a valid manifest: {error}",
                path.display()
            ))
        })?;
        if manifest.format != FORMAT || manifest.version != VERSION {
            return Err(Error::Backup(format!(
                "{}: unsupported backup format {} v{}",
                path.display(),
                manifest.format,
                manifest.version
            )));
        }
        Ok(manifest)
    }

    /// The manifest as written to disk (pretty JSON, trailing newline).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|error| Error::Backup(format!("encoding the manifest: {error}")))?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            version: VERSION,
            backup_id: "20261122T220000.000Z-0a1b2c3d".into(),
            vault_id: Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            created_at: "2026-11-22T22:00:00+00:00".into(),
            schema_version: 3,
            made_by: "olivia".into(),
            payload: FileDigest {
                file: PAYLOAD_FILE.into(),
                size_bytes: 126_976,
                sha256: "ab".repeat(32),
            },
            sealed_key: SealedKey {
                file: FileDigest {
                    file: SEALED_KEY_FILE.into(),
                    size_bytes: 412,
                    sha256: "cd".repeat(32),
                },
                recipients: vec![
                    "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p".into(),
                ],
            },
            row_counts: BTreeMap::from([("audit_log".into(), 4), ("users".into(), 1)]),
            audit_head: Some(ChainHead {
                seq: 4,
                mac: "ef".repeat(32),
            }),
        }
    }

    /// The manifest is a wire format: this freezes it (update the golden file only by
    /// decision, with a version bump and a note in docs/backup-format.md).
    #[test]
    fn manifest_wire_format_is_stable() -> Result<()> {
        let golden = include_str!("../../tests/golden/backup-manifest-v1.json");
        let written =
            String::from_utf8(sample().to_json()?).map_err(|_| Error::Invalid("utf8".into()))?;
        assert_eq!(written, golden);
        let parsed: Manifest =
            serde_json::from_str(golden).map_err(|error| Error::Invalid(error.to_string()))?;
        assert_eq!(parsed, sample());
        Ok(())
    }

    #[test]
    fn an_unknown_format_version_is_refused_with_the_file_named() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut manifest = sample();
        manifest.version = 99;
        std::fs::write(dir.path().join(MANIFEST_FILE), manifest.to_json()?)
            .map_err(Error::io("write"))?;
        let error = Manifest::read(dir.path())
            .err()
            .map(|error| error.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|text| text.contains("manifest.json") && text.contains("v99")),
            "{error:?}"
        );
        Ok(())
    }
}
