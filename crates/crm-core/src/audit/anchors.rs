//! The chain's anchors outside the database: `audit-head.json` and the backup manifests.
//!
//! Whoever holds the data key can read the chain key and rewrite the trail so that it verifies
//! on its own. What they cannot rewrite as easily are copies of the chain head kept elsewhere:
//! the head file beside the database (rewritten after every committed batch) and the head in
//! every backup manifest (written once, often on another disk). A trail that no longer holds
//! the entry an anchor names, with the MAC it names, was cut short, rewritten, or replaced by
//! an older copy.
//!
//! - A **missing** head file is reported, never taken as fine: unlock warns, raises an
//!   `audit_head_missing` alert and writes it again; `verify` names it.
//! - A head file that does not match is kept untouched as evidence (the session stops writing
//!   it) and raises an `audit_head_mismatch` alert.
//! - Retention pruning always leaves the head beyond its checkpoint (the pruning itself is
//!   recorded after it), so a head file pointing into a pruned range means a checkpoint was
//!   forged to hide entries. A backup older than the pruning may point there; its entry at the
//!   checkpoint's boundary must carry the MAC the checkpoint records.
//! - Backups made before a restore recorded in the trail belong to the abandoned timeline and
//!   are reported as such, not as a break.

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, Checkpoint};
use super::{BadEntry, ChainHead, alerts, head};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::store::Connection;

/// Alert raised at unlock when `audit-head.json` is gone.
pub const HEAD_MISSING_ALERT: &str = "audit_head_missing";
/// Alert raised at unlock when the trail no longer holds the head in `audit-head.json`.
pub const HEAD_MISMATCH_ALERT: &str = "audit_head_mismatch";
/// Alert raised when retention pruning finds the range to prune broken and leaves it.
pub const PRUNE_REFUSED_ALERT: &str = "audit_prune_refused";

/// The copy of the chain head kept outside the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadFile {
    /// The vault it belongs to.
    pub vault_id: String,
    /// The head when it was written.
    #[serde(flatten)]
    pub head: ChainHead,
    /// When it was written.
    pub written_at: DateTime<Utc>,
}

impl HeadFile {
    /// Reads `audit-head.json`, if there is one.
    pub fn read(path: &Path) -> Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|error| Error::Invalid(format!("{}: {error}", path.display()))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(Error::io(format!("reading {}", path.display()))(error)),
        }
    }

    /// Writes the head atomically.
    pub(crate) fn write(path: &Path, vault_id: &str, head: &ChainHead) -> Result<()> {
        let file = HeadFile {
            vault_id: vault_id.to_owned(),
            head: head.clone(),
            written_at: Utc::now(),
        };
        let bytes = serde_json::to_vec_pretty(&file)
            .map_err(|error| Error::Invalid(format!("audit head: {error}")))?;
        fsutil::write_atomic(path, &bytes)
    }
}

/// The head file as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeadFileState {
    /// Not there.
    Missing,
    /// There but not readable as a head file (the reason).
    Unreadable(String),
    /// Read.
    Present(HeadFile),
}

impl HeadFileState {
    /// Reads the head file at `path`; never fails (an unreadable file is a finding).
    pub(crate) fn read(path: &Path) -> Self {
        match HeadFile::read(path) {
            Ok(Some(file)) => Self::Present(file),
            Ok(None) => Self::Missing,
            Err(error) => Self::Unreadable(error.to_string()),
        }
    }
}

/// The MAC the trail holds at `seq`, if that entry is still there.
fn mac_at(conn: &Connection, seq: i64) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT mac FROM audit_log WHERE seq = ?1", [seq], |row| {
            row.get(0)
        })
        .optional()?)
}

/// Why the trail does not hold `anchor` (an entry named by a head file or a manifest), or
/// `None` when it does. `what` names the anchor in the message.
fn anchor_problem(
    conn: &Connection,
    anchor: &ChainHead,
    current: &ChainHead,
    last_checkpoint: Option<&Checkpoint>,
    what: &str,
) -> Result<Option<String>> {
    if anchor.seq == 0 {
        return Ok(None);
    }
    if let Some(mac) = mac_at(conn, anchor.seq)? {
        return Ok((mac != anchor.mac).then(|| {
            format!(
                "entry {} differs from {what}: the database was replaced or its trail rewritten",
                anchor.seq
            )
        }));
    }
    if anchor.seq > current.seq {
        return Ok(Some(format!(
            "{what} records entry {} but the trail ends at {}: newest entries were removed or an \
             older database was put back",
            anchor.seq, current.seq
        )));
    }
    Ok(match last_checkpoint {
        Some(checkpoint) if anchor.seq == checkpoint.last_seq => {
            (anchor.mac != checkpoint.last_mac).then(|| {
                format!(
                    "entry {} differs from {what}: the retention checkpoint that pruned it names \
                     another MAC",
                    anchor.seq
                )
            })
        }
        Some(checkpoint) if anchor.seq < checkpoint.last_seq => None,
        _ => Some(format!(
            "entry {} of {what} is missing from the trail",
            anchor.seq
        )),
    })
}

/// How the head file compares with the trail: `(problem, description)`.
pub(crate) fn compare_head_file(
    conn: &Connection,
    state: &HeadFileState,
    vault_id: &str,
) -> Result<(Option<BadEntry>, String)> {
    let current = head(conn)?;
    let file = match state {
        HeadFileState::Missing => {
            return Ok((
                None,
                "missing: audit-head.json is not in the vault directory".to_owned(),
            ));
        }
        HeadFileState::Unreadable(why) => {
            return Ok((
                Some(BadEntry {
                    seq: current.seq,
                    reason: format!("audit-head.json is unreadable: {why}"),
                }),
                format!("unreadable: {why}"),
            ));
        }
        HeadFileState::Present(file) => file,
    };
    if file.vault_id != vault_id {
        let reason = format!(
            "audit-head.json belongs to vault {}, not this one: the database or the head file \
             was swapped",
            file.vault_id
        );
        return Ok((
            Some(BadEntry {
                seq: current.seq,
                reason: reason.clone(),
            }),
            reason,
        ));
    }
    let last_checkpoint = checkpoint::last(conn)?;
    let problem = head_file_problem(conn, file, &current, last_checkpoint.as_ref())?;
    Ok(match problem {
        None => (None, format!("matches (entry {})", file.head.seq)),
        Some(reason) => (
            Some(BadEntry {
                seq: file.head.seq.min(current.seq + 1),
                reason: reason.clone(),
            }),
            reason,
        ),
    })
}

fn head_file_problem(
    conn: &Connection,
    file: &HeadFile,
    current: &ChainHead,
    last_checkpoint: Option<&Checkpoint>,
) -> Result<Option<String>> {
    // Pruning records itself after its checkpoint, in the same transaction, and the head file
    // is written after that: it always lies beyond every checkpoint. At or inside a pruned
    // range it means a checkpoint was forged to hide the entries up to it.
    if let Some(checkpoint) = last_checkpoint
        && file.head.seq > 0
        && file.head.seq <= checkpoint.last_seq
    {
        return Ok(Some(format!(
            "the head file records entry {} but retention checkpoint {} claims entries up to {} \
             were pruned, which pruning never does up to the head: a checkpoint was forged to \
             hide entries",
            file.head.seq, checkpoint.id, checkpoint.last_seq
        )));
    }
    anchor_problem(conn, &file.head, current, last_checkpoint, "the head file")
}

/// What unlock found about the head file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeadAtUnlock {
    /// The trail holds the head file's entry: the session may write newer heads over it.
    pub trusted: bool,
    /// The head file was missing (and will be written again).
    pub missing: bool,
}

/// Compares the trail with `audit-head.json` before anything is appended. A mismatch warns,
/// raises an alert and keeps the file as evidence; a missing file warns, raises an alert and
/// lets the session write it again (a brand-new vault has none yet, and that is fine).
pub(crate) fn check_head_at_unlock(
    conn: &Connection,
    path: &Path,
    vault_id: &str,
    warnings: &mut Vec<String>,
) -> Result<HeadAtUnlock> {
    let state = HeadFileState::read(path);
    if state == HeadFileState::Missing {
        let empty = head(conn)?.seq == 0;
        if empty {
            return Ok(HeadAtUnlock {
                trusted: true,
                missing: false,
            });
        }
        warnings.push(
            "audit-head.json was missing: it is written again from this database. If nobody \
             removed it on purpose, run `crm audit verify`: it compares the trail with your \
             backups to tell whether an older database was put back"
                .into(),
        );
        alerts::raise(conn, "-", HEAD_MISSING_ALERT, Utc::now())?;
        return Ok(HeadAtUnlock {
            trusted: true,
            missing: true,
        });
    }
    let (problem, _) = compare_head_file(conn, &state, vault_id)?;
    if problem.is_some() {
        warnings.push(
            "the audit trail does not match audit-head.json (newest entries removed, or an older \
             database put back): run `crm audit verify`"
                .into(),
        );
        alerts::raise(conn, "-", HEAD_MISMATCH_ALERT, Utc::now())?;
    }
    Ok(HeadAtUnlock {
        trusted: problem.is_none(),
        missing: false,
    })
}

/// A chain head as a backup recorded it, with what names the backup. The backup module makes
/// these from its manifests (`crate::backup::Manifest::audit_anchor`), so the trail compares
/// heads without depending on the manifest's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupAnchor {
    /// The backup's id.
    pub backup_id: String,
    /// The vault the backup was made of.
    pub vault_id: String,
    /// When the backup was made (RFC 3339).
    pub created_at: String,
    /// The chain head at the moment of the snapshot.
    pub head: ChainHead,
}

/// How the trail compares with the heads in the backup manifests: `(problem, description)`.
/// The problem reported is that of the newest backup that does not fit.
pub(crate) fn compare_backups(
    conn: &Connection,
    anchors: &[BackupAnchor],
    vault_id: &str,
) -> Result<(Option<BadEntry>, String)> {
    let current = head(conn)?;
    let last_checkpoint = checkpoint::last(conn)?;
    let latest_restore: Option<DateTime<Utc>> = conn
        .query_row(
            "SELECT max(at) FROM audit_log WHERE action = 'restore'",
            [],
            |row| row.get::<_, Option<String>>(0),
        )?
        .and_then(|at| parse_time(&at));
    let mut ours: Vec<(&BackupAnchor, &ChainHead)> = anchors
        .iter()
        .filter(|anchor| anchor.vault_id == vault_id)
        .map(|anchor| (anchor, &anchor.head))
        .collect();
    ours.sort_by(|a, b| b.0.created_at.cmp(&a.0.created_at));
    ours.dedup_by(|a, b| a.0.backup_id == b.0.backup_id);
    if ours.is_empty() {
        return Ok((None, "no backup of this vault to compare with".to_owned()));
    }
    let (mut on_chain, mut pruned, mut before_restore) = (0, 0, 0);
    let mut problem: Option<BadEntry> = None;
    for (backup, anchor) in &ours {
        let what = format!("backup {} (made {})", backup.backup_id, backup.created_at);
        match anchor_problem(conn, anchor, &current, last_checkpoint.as_ref(), &what)? {
            None if anchor.seq > 0 && mac_at(conn, anchor.seq)?.is_none() => pruned += 1,
            None => on_chain += 1,
            Some(_)
                if latest_restore.is_some_and(|restored| {
                    parse_time(&backup.created_at).is_some_and(|made| made < restored)
                }) =>
            {
                before_restore += 1;
            }
            Some(reason) => {
                if problem.is_none() {
                    problem = Some(BadEntry {
                        seq: anchor.seq.min(current.seq + 1),
                        reason,
                    });
                }
            }
        }
    }
    let mut text = format!("{} compared", plural(ours.len(), "backup"));
    let mut parts = vec![format!("{on_chain} on this chain")];
    if pruned > 0 {
        parts.push(format!("{pruned} older than the retention checkpoint"));
    }
    if before_restore > 0 {
        parts.push(format!(
            "{before_restore} from before the restore recorded in the trail"
        ));
    }
    text.push_str(": ");
    text.push_str(&parts.join(", "));
    if let Some(problem) = &problem {
        text.push_str(&format!("; {}", problem.reason));
    }
    Ok((problem, text))
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}
