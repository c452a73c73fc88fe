//! Retention checkpoints: what pruning removed, chained and MACed like the entries.
//!
//! Pruning removes a prefix of the trail (entries `first_seq..=last_seq`, every one of them
//! older than the retention period) and writes one row in `audit_checkpoints` that records the
//! last pruned entry's MAC, so the remaining chain still verifies from there. Each checkpoint
//! carries an HMAC, under the trail's key, over the previous checkpoint's MAC and its own
//! fields; the first chains from the genesis value. A checkpoint inserted, edited or removed
//! with a stock SQLCipher tool therefore breaks the checkpoint chain, and triggers refuse
//! `UPDATE` and `DELETE` on the table outright.
//!
//! Pruning never launders a broken chain: the range to prune is verified first, and a range
//! that fails is left in place (the caller raises an alert instead).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{AuditKey, BadEntry, GENESIS_MAC, check_entries};
use crate::error::Result;
use crate::store::Connection;

/// The triggers that keep the trail append-only; `verify` warns when any is missing.
pub(crate) const APPEND_ONLY_TRIGGERS: [&str; 4] = [
    "audit_log_no_update",
    "audit_log_no_delete",
    "audit_checkpoints_no_update",
    "audit_checkpoints_no_delete",
];

/// Dropped for the length of one pruning transaction and put back before it commits (the same
/// text as the trail's migration).
const DROP_NO_DELETE: &str = "DROP TRIGGER audit_log_no_delete;";
const CREATE_NO_DELETE: &str = "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;";

/// One row of `audit_checkpoints`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub id: i64,
    /// When the pruning ran (RFC 3339).
    pub at: String,
    pub by_user: String,
    pub first_seq: i64,
    pub last_seq: i64,
    /// MAC of entry `last_seq`: the remaining chain continues from it.
    pub last_mac: String,
    pub entries: i64,
    pub mac: String,
}

impl Checkpoint {
    /// The MACed body. Unchanged from the first checkpoint format, so a vault's first
    /// checkpoint written before checkpoints were chained still verifies.
    fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!([
            "checkpoint",
            self.at,
            self.by_user,
            self.first_seq,
            self.last_seq,
            self.last_mac,
            self.entries
        ]))
        .unwrap_or_default()
    }
}

/// Every checkpoint, oldest first.
pub(crate) fn all(conn: &Connection) -> Result<Vec<Checkpoint>> {
    let mut statement = conn.prepare(
        "SELECT id, at, by_user, first_seq, last_seq, last_mac, entries, mac
         FROM audit_checkpoints ORDER BY id",
    )?;
    let rows = statement
        .query_map([], |row| {
            Ok(Checkpoint {
                id: row.get(0)?,
                at: row.get(1)?,
                by_user: row.get(2)?,
                first_seq: row.get(3)?,
                last_seq: row.get(4)?,
                last_mac: row.get(5)?,
                entries: row.get(6)?,
                mac: row.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The newest checkpoint, if any pruning ever ran.
pub(crate) fn last(conn: &Connection) -> Result<Option<Checkpoint>> {
    Ok(all(conn)?.pop())
}

/// Where the remaining chain resumes once the checkpoints are accounted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resume {
    /// The sequence number the first remaining entry must carry.
    pub next_seq: i64,
    /// The MAC that entry must chain from.
    pub prev_mac: String,
    /// How many checkpoints there are.
    pub checkpoints: i64,
}

/// Checks the checkpoint chain: each one MACed over the previous, covering the entries right
/// after the previous one's. Returns where the entries resume (as the checkpoints say) and
/// the first broken checkpoint, named by the first entry it claims to cover.
pub(crate) fn check(conn: &Connection, key: &AuditKey) -> Result<(Resume, Option<BadEntry>)> {
    let checkpoints = all(conn)?;
    let mut expected_first = 1;
    let mut prev_checkpoint_mac = GENESIS_MAC.to_owned();
    let mut first_bad = None;
    for checkpoint in &checkpoints {
        let reason = if checkpoint.first_seq != expected_first {
            Some(format!(
                "retention checkpoint {} says it pruned entries {}–{} but entry {expected_first} \
                 comes next: a checkpoint was removed or inserted",
                checkpoint.id, checkpoint.first_seq, checkpoint.last_seq
            ))
        } else if checkpoint.last_seq < checkpoint.first_seq
            || checkpoint.entries != checkpoint.last_seq - checkpoint.first_seq + 1
        {
            Some(format!(
                "retention checkpoint {} does not add up ({} entries in {}–{})",
                checkpoint.id, checkpoint.entries, checkpoint.first_seq, checkpoint.last_seq
            ))
        } else if key.mac(&prev_checkpoint_mac, &checkpoint.body()) != checkpoint.mac {
            Some(format!(
                "retention checkpoint {} (entries {}–{}) was forged or changed: its MAC does not \
                 match",
                checkpoint.id, checkpoint.first_seq, checkpoint.last_seq
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            first_bad = Some(BadEntry {
                seq: expected_first,
                reason,
            });
            break;
        }
        expected_first = checkpoint.last_seq + 1;
        prev_checkpoint_mac = checkpoint.mac.clone();
    }
    // The entries resume where the newest checkpoint says, even past a broken one: the
    // entries are then still checked among themselves.
    let resume = match checkpoints.last() {
        Some(last) => Resume {
            next_seq: last.last_seq + 1,
            prev_mac: last.last_mac.clone(),
            checkpoints: checkpoints.len() as i64,
        },
        None => Resume {
            next_seq: 1,
            prev_mac: GENESIS_MAC.to_owned(),
            checkpoints: 0,
        },
    };
    Ok((resume, first_bad))
}

/// What a pruning run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pruned {
    /// This many entries went behind a new checkpoint.
    Entries(i64),
    /// No entry is older than the cutoff.
    Nothing,
    /// The range to prune does not verify; it was left in place as evidence.
    RefusedBroken(BadEntry),
}

/// Removes the longest prefix of the trail whose entries are all older than `before`, behind a
/// checkpoint chained to the previous one. Runs inside the caller's transaction.
pub(crate) fn prune(
    conn: &Connection,
    key: &AuditKey,
    before: DateTime<Utc>,
    by_user: &str,
) -> Result<Pruned> {
    let cutoff = before.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let first_seq: Option<i64> =
        conn.query_row("SELECT min(seq) FROM audit_log", [], |row| row.get(0))?;
    let Some(first_seq) = first_seq else {
        return Ok(Pruned::Nothing);
    };
    // Entries are not in time order (failed unlocks and batched reads carry their own earlier
    // times), so the prefix ends right before the first entry that is not old enough.
    let first_recent: Option<i64> = conn.query_row(
        "SELECT min(seq) FROM audit_log WHERE at >= ?1",
        [&cutoff],
        |row| row.get(0),
    )?;
    let last_seq = match first_recent {
        Some(seq) => seq - 1,
        None => conn.query_row("SELECT max(seq) FROM audit_log", [], |row| row.get(0))?,
    };
    if last_seq < first_seq {
        return Ok(Pruned::Nothing);
    }
    let (resume, checkpoint_bad) = check(conn, key)?;
    if let Some(bad) = checkpoint_bad {
        return Ok(Pruned::RefusedBroken(bad));
    }
    let (_, entry_bad) = check_entries(conn, key, &resume, Some(last_seq))?;
    if let Some(bad) = entry_bad {
        return Ok(Pruned::RefusedBroken(bad));
    }
    let last_mac: String = conn
        .query_row(
            "SELECT mac FROM audit_log WHERE seq = ?1",
            [last_seq],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or_default();
    let previous = last(conn)?;
    let mut checkpoint = Checkpoint {
        id: previous.as_ref().map_or(1, |previous| previous.id + 1),
        at: Utc::now().to_rfc3339(),
        by_user: by_user.to_owned(),
        first_seq,
        last_seq,
        last_mac,
        entries: last_seq - first_seq + 1,
        mac: String::new(),
    };
    let prev_checkpoint_mac = previous.map_or_else(|| GENESIS_MAC.to_owned(), |cp| cp.mac);
    checkpoint.mac = key.mac(&prev_checkpoint_mac, &checkpoint.body());
    conn.execute_batch(DROP_NO_DELETE)?;
    conn.execute("DELETE FROM audit_log WHERE seq <= ?1", [last_seq])?;
    conn.execute_batch(CREATE_NO_DELETE)?;
    conn.execute(
        "INSERT INTO audit_checkpoints (id, at, by_user, first_seq, last_seq, last_mac, entries, mac)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            checkpoint.id,
            checkpoint.at,
            checkpoint.by_user,
            checkpoint.first_seq,
            checkpoint.last_seq,
            checkpoint.last_mac,
            checkpoint.entries,
            checkpoint.mac
        ],
    )?;
    Ok(Pruned::Entries(checkpoint.entries))
}
