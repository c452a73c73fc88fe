//! The tamper-evident audit trail.
//!
//! An append-only table inside the encrypted database. Every entry carries the MAC of the entry
//! before it and its own HMAC-SHA256 over both, so editing, deleting or reordering any entry
//! breaks the chain from that point on; triggers refuse `UPDATE` and `DELETE` outright. After
//! every committed batch the chain head (sequence number and MAC) is also written to
//! `audit-head.json` beside the database and into every backup manifest, so cutting off the
//! newest entries, or swapping in an older copy of the database, is detected too.
//!
//! The HMAC key is 32 random bytes made at the first unlock and kept in the encrypted
//! database, not derived from the data key: the data key changes at every rotation, and the
//! trail must stay verifiable across rotations. Whoever holds the data key can read the HMAC
//! key, which is why the head is also kept outside the database.
//!
//! Domain code records events through [`crate::Session::write`] (changes, in the same
//! transaction as the data), [`crate::Session::record`] (standalone events such as exports
//! and reveals, written before the data is handed out) and `Session::note_read` (views and
//! searches, batched).

pub mod alerts;
pub mod review;
pub(crate) mod session;

use std::path::Path;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::fsutil;

/// The schema of the trail, appended to the store's migrations.
pub(crate) const MIGRATION: &str = "
CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY,
    at           TEXT NOT NULL,
    user_name    TEXT,
    role         TEXT,
    workstation  TEXT NOT NULL,
    action       TEXT NOT NULL,
    entity       TEXT,
    record_id    TEXT,
    field        TEXT,
    old_value    TEXT,
    new_value    TEXT,
    level        INTEGER NOT NULL DEFAULT 0,
    detail       TEXT NOT NULL DEFAULT '{}',
    prev_mac     TEXT NOT NULL,
    mac          TEXT NOT NULL
) STRICT;
CREATE INDEX audit_by_user_time ON audit_log (user_name, at);
CREATE INDEX audit_by_target ON audit_log (entity, record_id);
CREATE INDEX audit_by_action_time ON audit_log (action, at);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;

-- What retention pruning removed: the chain resumes from `last_mac` at `last_seq + 1`.
CREATE TABLE audit_checkpoints (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    by_user     TEXT NOT NULL,
    first_seq   INTEGER NOT NULL,
    last_seq    INTEGER NOT NULL,
    last_mac    TEXT NOT NULL,
    entries     INTEGER NOT NULL,
    mac         TEXT NOT NULL
) STRICT;

CREATE TABLE audit_alerts (
    id              INTEGER PRIMARY KEY,
    at              TEXT NOT NULL,
    user_name       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    hour            TEXT NOT NULL,
    count           INTEGER NOT NULL,
    baseline        REAL NOT NULL,
    acknowledged_by TEXT,
    acknowledged_at TEXT,
    UNIQUE (user_name, kind, hour)
) STRICT;
";

const GENESIS_MAC: &str = "genesis";

/// What happened. Stored as its snake_case name; the set only grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// A user unlocked the vault.
    Unlock,
    /// An unlock attempt failed (recorded at the next successful unlock, with its own time).
    UnlockFailed,
    /// A user locked the vault.
    Lock,
    /// The app locked the vault after the idle period.
    AutoLock,
    /// A record holding Confidential or higher fields was shown.
    View,
    /// A Highly Confidential value was revealed, with a reason.
    Reveal,
    /// A search was run.
    Search,
    /// Records were imported.
    Import,
    /// Records were exported.
    Export,
    /// A record was created.
    Create,
    /// A field changed (old → new).
    Update,
    /// A record was deleted.
    Delete,
    /// Personal data was erased on request.
    Erase,
    /// A user was added.
    UserAdded,
    /// A user was removed.
    UserRemoved,
    /// A user's role changed.
    RoleAssigned,
    /// A user changed their own password.
    PasswordChanged,
    /// An administrator reset someone's password.
    PasswordReset,
    /// A role was created, edited or deleted.
    RoleChanged,
    /// A field's classification changed.
    ClassificationChanged,
    /// A security or backup policy changed.
    PolicyChanged,
    /// The data key was rotated.
    KeyRotated,
    /// The raw data key was shown to a holder of the recovery identity.
    DataKeyShown,
    /// A backup was made.
    Backup,
    /// A backup was verified (detail says whether it passed).
    BackupVerified,
    /// A vault was restored from a backup.
    Restore,
    /// An access review was signed off.
    AccessReviewSigned,
    /// An unusual-activity alert was acknowledged.
    AlertAcknowledged,
    /// Old entries were pruned under the retention policy.
    AuditPruned,
}

impl Action {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        ACTION_NAMES
            .iter()
            .find(|(action, _)| *action == self)
            .map_or("unknown", |(_, name)| name)
    }

    /// Every action's stored name (for filter menus).
    pub fn names() -> impl Iterator<Item = &'static str> {
        ACTION_NAMES.iter().map(|(_, name)| *name)
    }

    /// Parses a stored or typed name.
    pub fn parse(name: &str) -> Result<Self> {
        ACTION_NAMES
            .iter()
            .find(|(_, known)| *known == name)
            .map(|(action, _)| *action)
            .ok_or_else(|| {
                let names: Vec<&str> = ACTION_NAMES.iter().map(|(_, name)| *name).collect();
                Error::Invalid(format!(
                    "unknown audit action {name:?}; known: {}",
                    names.join(", ")
                ))
            })
    }
}

const ACTION_NAMES: &[(Action, &str)] = &[
    (Action::Unlock, "unlock"),
    (Action::UnlockFailed, "unlock_failed"),
    (Action::Lock, "lock"),
    (Action::AutoLock, "auto_lock"),
    (Action::View, "view"),
    (Action::Reveal, "reveal"),
    (Action::Search, "search"),
    (Action::Import, "import"),
    (Action::Export, "export"),
    (Action::Create, "create"),
    (Action::Update, "update"),
    (Action::Delete, "delete"),
    (Action::Erase, "erase"),
    (Action::UserAdded, "user_added"),
    (Action::UserRemoved, "user_removed"),
    (Action::RoleAssigned, "role_assigned"),
    (Action::PasswordChanged, "password_changed"),
    (Action::PasswordReset, "password_reset"),
    (Action::RoleChanged, "role_changed"),
    (Action::ClassificationChanged, "classification_changed"),
    (Action::PolicyChanged, "policy_changed"),
    (Action::KeyRotated, "key_rotated"),
    (Action::DataKeyShown, "data_key_shown"),
    (Action::Backup, "backup"),
    (Action::BackupVerified, "backup_verified"),
    (Action::Restore, "restore"),
    (Action::AccessReviewSigned, "access_review_signed"),
    (Action::AlertAcknowledged, "alert_acknowledged"),
    (Action::AuditPruned, "audit_pruned"),
];

/// One event to record. Build with [`AuditEvent::new`] and the chained setters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// What happened.
    pub action: Action,
    /// Entity kind of the target (`contact`, `user`, `role`, …).
    pub entity: Option<String>,
    /// Id of the target.
    pub record_id: Option<String>,
    /// Field of the target, for changes and reveals.
    pub field: Option<String>,
    /// Value before a change (masked to the viewer's clearance when listed).
    pub old_value: Option<String>,
    /// Value after a change (masked to the viewer's clearance when listed).
    pub new_value: Option<String>,
    /// Classification level of the values (0 Public … 3 Highly Confidential).
    pub level: u8,
    /// Anything else: a reason, a row count, a format, the ids exported.
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// An event with no target.
    pub fn new(action: Action) -> Self {
        Self {
            action,
            entity: None,
            record_id: None,
            field: None,
            old_value: None,
            new_value: None,
            level: 0,
            detail: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// Sets the target record.
    pub fn target(mut self, entity: &str, record_id: impl ToString) -> Self {
        self.entity = Some(entity.to_owned());
        self.record_id = Some(record_id.to_string());
        self
    }

    /// Sets the field and the classification level of its values.
    pub fn field(mut self, field: &str, level: u8) -> Self {
        self.field = Some(field.to_owned());
        self.level = level;
        self
    }

    /// Sets old and new values of a change.
    pub fn change(mut self, old: Option<String>, new: Option<String>) -> Self {
        self.old_value = old;
        self.new_value = new;
        self
    }

    /// Adds a detail key.
    pub fn detail(mut self, key: &str, value: impl Serialize) -> Self {
        if let serde_json::Value::Object(map) = &mut self.detail {
            map.insert(
                key.to_owned(),
                serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
            );
        }
        self
    }
}

/// Who did it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Actor<'a> {
    pub user: Option<&'a str>,
    pub role: Option<&'a str>,
    pub workstation: &'a str,
}

/// The HMAC key of the chain.
pub(crate) struct AuditKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey([redacted])")
    }
}

impl AuditKey {
    /// Loads the vault's chain key, making it on first use.
    pub(crate) fn load_or_create(conn: &Connection) -> Result<Self> {
        let stored: Option<String> = conn
            .query_row(
                "SELECT value FROM vault_meta WHERE key = 'audit_hmac_key'",
                [],
                |row| row.get(0),
            )
            .optional()?;
        let hex_key = match stored {
            Some(hex_key) => Zeroizing::new(hex_key),
            None => {
                use rand::RngCore;
                let mut bytes = Zeroizing::new([0u8; 32]);
                rand::rngs::OsRng.fill_bytes(bytes.as_mut());
                let hex_key = Zeroizing::new(hex::encode(bytes.as_ref()));
                conn.execute(
                    "INSERT OR IGNORE INTO vault_meta (key, value) VALUES ('audit_hmac_key', ?1)",
                    [hex_key.as_str()],
                )?;
                // Another process may have won the race: read back what is stored.
                Zeroizing::new(conn.query_row(
                    "SELECT value FROM vault_meta WHERE key = 'audit_hmac_key'",
                    [],
                    |row| row.get::<_, String>(0),
                )?)
            }
        };
        let mut key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_key.as_str(), key.as_mut())
            .map_err(|_| Error::DatabaseDamaged("the audit key is unreadable".into()))?;
        Ok(Self(key))
    }

    fn mac(&self, prev_mac: &str, body: &[u8]) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(prev_mac.as_bytes());
        mac.update(b"\n");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }
}

/// The newest entry of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// Sequence number of the newest entry (0 for an empty trail).
    pub seq: i64,
    /// Its MAC.
    pub mac: String,
}

/// The current head of the chain.
pub(crate) fn head(conn: &Connection) -> Result<ChainHead> {
    let last = conn
        .query_row(
            "SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |row| {
                Ok(ChainHead {
                    seq: row.get(0)?,
                    mac: row.get(1)?,
                })
            },
        )
        .optional()?;
    match last {
        Some(head) => Ok(head),
        None => Ok(last_checkpoint(conn)?
            .map(|(seq, mac)| ChainHead { seq, mac })
            .unwrap_or(ChainHead {
                seq: 0,
                mac: GENESIS_MAC.into(),
            })),
    }
}

fn last_checkpoint(conn: &Connection) -> Result<Option<(i64, String)>> {
    Ok(conn
        .query_row(
            "SELECT last_seq, last_mac FROM audit_checkpoints ORDER BY last_seq DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?)
}

#[allow(clippy::too_many_arguments)]
fn entry_body(
    seq: i64,
    at: &str,
    user: Option<&str>,
    role: Option<&str>,
    workstation: &str,
    action: &str,
    entity: Option<&str>,
    record_id: Option<&str>,
    field: Option<&str>,
    old_value: Option<&str>,
    new_value: Option<&str>,
    level: i64,
    detail: &str,
) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!([
        seq,
        at,
        user,
        role,
        workstation,
        action,
        entity,
        record_id,
        field,
        old_value,
        new_value,
        level,
        detail
    ]))
    .unwrap_or_default()
}

/// Appends one entry inside the caller's transaction and returns the new head.
pub(crate) fn append(
    conn: &Connection,
    key: &AuditKey,
    actor: Actor<'_>,
    at: DateTime<Utc>,
    event: &AuditEvent,
) -> Result<ChainHead> {
    let previous = head(conn)?;
    let seq = previous.seq + 1;
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let detail = event.detail.to_string();
    let body = entry_body(
        seq,
        &at,
        actor.user,
        actor.role,
        actor.workstation,
        event.action.as_str(),
        event.entity.as_deref(),
        event.record_id.as_deref(),
        event.field.as_deref(),
        event.old_value.as_deref(),
        event.new_value.as_deref(),
        i64::from(event.level),
        &detail,
    );
    let mac = key.mac(&previous.mac, &body);
    conn.execute(
        "INSERT INTO audit_log (seq, at, user_name, role, workstation, action, entity, record_id,
             field, old_value, new_value, level, detail, prev_mac, mac)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            seq,
            at,
            actor.user,
            actor.role,
            actor.workstation,
            event.action.as_str(),
            event.entity,
            event.record_id,
            event.field,
            event.old_value,
            event.new_value,
            i64::from(event.level),
            detail,
            previous.mac,
            mac
        ],
    )?;
    Ok(ChainHead { seq, mac })
}

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

/// Whether the trail in the database still holds the head recorded in the head file, so a
/// newer head extends it. When it does not (entries cut off, an older database put back), the
/// head file must be left alone as evidence rather than overwritten by the next write.
pub(crate) fn head_file_consistent(
    conn: &Connection,
    file: Option<&HeadFile>,
    vault_id: &str,
) -> Result<bool> {
    let Some(file) = file else {
        return Ok(true);
    };
    if file.vault_id != vault_id {
        return Ok(false);
    }
    if file.head.seq == 0 {
        return Ok(true);
    }
    let mac_at: Option<String> = conn
        .query_row(
            "SELECT mac FROM audit_log WHERE seq = ?1",
            [file.head.seq],
            |row| row.get(0),
        )
        .optional()?;
    Ok(match mac_at {
        Some(mac) => mac == file.head.mac,
        // Pruned under retention: the checkpoint vouches for it.
        None => last_checkpoint(conn)?.is_some_and(|(last_seq, _)| file.head.seq <= last_seq),
    })
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: i64,
    /// Whether the chain and the head file agree and nothing is broken.
    pub intact: bool,
    /// The first entry that fails, with why.
    pub first_bad: Option<BadEntry>,
    /// How the external head file compares.
    pub head_file: String,
}

/// The first broken place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadEntry {
    /// Its sequence number.
    pub seq: i64,
    /// What is wrong.
    pub reason: String,
}

/// Re-computes the whole chain and compares its head with the head file.
pub(crate) fn verify(
    conn: &Connection,
    key: &AuditKey,
    head_file: Option<&HeadFile>,
) -> Result<VerifyReport> {
    let (mut expected_seq, mut prev_mac) = match last_checkpoint(conn)? {
        Some((seq, mac)) => (seq + 1, mac),
        None => (1, GENESIS_MAC.to_owned()),
    };
    let mut statement = conn.prepare(
        "SELECT seq, at, user_name, role, workstation, action, entity, record_id, field,
                old_value, new_value, level, detail, prev_mac, mac
         FROM audit_log ORDER BY seq",
    )?;
    let mut rows = statement.query([])?;
    let mut entries = 0i64;
    let mut first_bad = None;
    while let Some(row) = rows.next()? {
        entries += 1;
        let seq: i64 = row.get(0)?;
        let stored_prev: String = row.get(13)?;
        let stored_mac: String = row.get(14)?;
        let body = entry_body(
            seq,
            &row.get::<_, String>(1)?,
            row.get::<_, Option<String>>(2)?.as_deref(),
            row.get::<_, Option<String>>(3)?.as_deref(),
            &row.get::<_, String>(4)?,
            &row.get::<_, String>(5)?,
            row.get::<_, Option<String>>(6)?.as_deref(),
            row.get::<_, Option<String>>(7)?.as_deref(),
            row.get::<_, Option<String>>(8)?.as_deref(),
            row.get::<_, Option<String>>(9)?.as_deref(),
            row.get::<_, Option<String>>(10)?.as_deref(),
            row.get(11)?,
            &row.get::<_, String>(12)?,
        );
        let reason = if seq != expected_seq {
            Some(format!(
                "expected entry {expected_seq} here: entries are missing"
            ))
        } else if stored_prev != prev_mac {
            Some("does not follow the entry before it".to_owned())
        } else if key.mac(&prev_mac, &body) != stored_mac {
            Some("its contents were changed after it was written".to_owned())
        } else {
            None
        };
        if let Some(reason) = reason {
            first_bad = Some(BadEntry { seq, reason });
            break;
        }
        prev_mac = stored_mac;
        expected_seq = seq + 1;
    }
    let current = head(conn)?;
    let (head_ok, head_text) = match head_file {
        None => (true, "no head file yet".to_owned()),
        Some(file) if file.head.seq > current.seq => (
            false,
            format!(
                "the head file records entry {} but the trail ends at {}: newest entries were removed or an older database was put back",
                file.head.seq, current.seq
            ),
        ),
        Some(file) => {
            let mac_at: Option<String> = conn
                .query_row(
                    "SELECT mac FROM audit_log WHERE seq = ?1",
                    [file.head.seq],
                    |row| row.get(0),
                )
                .optional()?;
            let matches = mac_at.as_deref() == Some(file.head.mac.as_str())
                || (file.head.seq == current.seq && file.head.mac == current.mac);
            if matches {
                (true, format!("matches (entry {})", file.head.seq))
            } else {
                (
                    false,
                    format!(
                        "entry {} differs from the head file: the database was replaced or rewritten",
                        file.head.seq
                    ),
                )
            }
        }
    };
    if first_bad.is_none() && !head_ok {
        first_bad = Some(BadEntry {
            seq: head_file.map_or(current.seq, |file| file.head.seq.min(current.seq + 1)),
            reason: head_text.clone(),
        });
    }
    Ok(VerifyReport {
        entries,
        intact: first_bad.is_none(),
        first_bad,
        head_file: head_text,
    })
}

/// One listed entry, values masked to the viewer's clearance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Sequence number.
    pub seq: i64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Who.
    pub user: Option<String>,
    /// Their role at the time.
    pub role: Option<String>,
    /// The machine.
    pub workstation: String,
    /// What.
    pub action: String,
    /// Target entity kind.
    pub entity: Option<String>,
    /// Target id.
    pub record_id: Option<String>,
    /// Target field.
    pub field: Option<String>,
    /// Old value (masked above the viewer's clearance).
    pub old_value: Option<String>,
    /// New value (masked above the viewer's clearance).
    pub new_value: Option<String>,
    /// Detail.
    pub detail: serde_json::Value,
}

/// Filters for listing the trail.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this user.
    pub user: Option<String>,
    /// Only these actions.
    pub actions: Vec<Action>,
    /// From (inclusive).
    pub since: Option<DateTime<Utc>>,
    /// Until (exclusive).
    pub until: Option<DateTime<Utc>>,
    /// Only this entity kind.
    pub entity: Option<String>,
    /// Only this record id (with `entity`).
    pub record_id: Option<String>,
    /// At most this many, newest first (default 200).
    pub limit: Option<u32>,
}

/// Text shown instead of a value above the viewer's clearance.
pub const MASKED: &str = "•••• (above your clearance)";

/// Lists entries matching `filter`, newest first, with values above `clearance` masked.
pub(crate) fn list(
    conn: &Connection,
    filter: &AuditFilter,
    clearance: u8,
) -> Result<Vec<AuditEntry>> {
    let mut sql = String::from(
        "SELECT seq, at, user_name, role, workstation, action, entity, record_id, field,
                old_value, new_value, level, detail
         FROM audit_log WHERE 1 = 1",
    );
    let mut values: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
    if let Some(user) = &filter.user {
        values.push(Box::new(user.clone()));
        sql.push_str(&format!(" AND user_name = ?{}", values.len()));
    }
    if !filter.actions.is_empty() {
        let mut placeholders = Vec::new();
        for action in &filter.actions {
            values.push(Box::new(action.as_str()));
            placeholders.push(format!("?{}", values.len()));
        }
        sql.push_str(&format!(" AND action IN ({})", placeholders.join(", ")));
    }
    if let Some(since) = filter.since {
        values.push(Box::new(
            since.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        ));
        sql.push_str(&format!(" AND at >= ?{}", values.len()));
    }
    if let Some(until) = filter.until {
        values.push(Box::new(
            until.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        ));
        sql.push_str(&format!(" AND at < ?{}", values.len()));
    }
    if let Some(entity) = &filter.entity {
        values.push(Box::new(entity.clone()));
        sql.push_str(&format!(" AND entity = ?{}", values.len()));
    }
    // Entries naming many records (list views, exports) carry their ids in `detail.ids`, as a
    // JSON array or as ranges ("1-300000,300002"); those are matched in Rust below.
    if let Some(record_id) = &filter.record_id {
        values.push(Box::new(record_id.clone()));
        sql.push_str(&format!(
            " AND (record_id = ?{} OR json_extract(detail, '$.ids') IS NOT NULL)",
            values.len()
        ));
    }
    let limit = filter.limit.unwrap_or(200) as usize;
    sql.push_str(" ORDER BY seq DESC");
    if filter.record_id.is_none() {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    let mut statement = conn.prepare(&sql)?;
    let params: Vec<&dyn rusqlite::ToSql> = values.iter().map(|value| value.as_ref()).collect();
    let rows = statement.query_map(params.as_slice(), |row| {
        let level: i64 = row.get(11)?;
        let visible = level <= i64::from(clearance);
        let mask = |value: Option<String>| {
            value.map(|value| if visible { value } else { MASKED.to_owned() })
        };
        Ok(AuditEntry {
            seq: row.get(0)?,
            at: row.get(1)?,
            user: row.get(2)?,
            role: row.get(3)?,
            workstation: row.get(4)?,
            action: row.get(5)?,
            entity: row.get(6)?,
            record_id: row.get(7)?,
            field: row.get(8)?,
            old_value: mask(row.get(9)?),
            new_value: mask(row.get(10)?),
            detail: serde_json::from_str(&row.get::<_, String>(12)?)
                .unwrap_or(serde_json::Value::Null),
        })
    })?;
    let mut entries = Vec::new();
    for row in rows {
        let entry = row?;
        let keep = match &filter.record_id {
            Some(wanted) => {
                entry.record_id.as_deref() == Some(wanted) || ids_include(&entry.detail, wanted)
            }
            None => true,
        };
        if keep {
            entries.push(entry);
            if entries.len() >= limit {
                break;
            }
        }
    }
    Ok(entries)
}

/// Whether `detail.ids` (a JSON array of ids, or a range string "1-5,9") names `wanted`.
fn ids_include(detail: &serde_json::Value, wanted: &str) -> bool {
    let Ok(wanted) = wanted.parse::<i64>() else {
        return false;
    };
    match detail.get("ids") {
        Some(serde_json::Value::Array(ids)) => ids.iter().any(|id| id.as_i64() == Some(wanted)),
        Some(serde_json::Value::String(ranges)) => ranges.split(',').any(|range| {
            let mut bounds = range
                .trim()
                .splitn(2, '-')
                .map(|bound| bound.trim().parse::<i64>());
            match (bounds.next(), bounds.next()) {
                (Some(Ok(first)), Some(Ok(last))) => (first..=last).contains(&wanted),
                (Some(Ok(only)), None) => only == wanted,
                _ => false,
            }
        }),
        _ => false,
    }
}

/// Removes entries older than `before`, keeping the chain verifiable with a checkpoint that
/// records where the remaining chain resumes. Returns how many entries were pruned.
pub(crate) fn prune(
    conn: &Connection,
    key: &AuditKey,
    before: DateTime<Utc>,
    by_user: &str,
) -> Result<i64> {
    let cutoff = before.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    // Only a prefix of the chain may go: the newest entry before the cutoff bounds it.
    let bounds: Option<(i64, i64, String)> = conn
        .query_row(
            "SELECT min(seq), max(seq), (SELECT mac FROM audit_log WHERE seq =
                 (SELECT max(seq) FROM audit_log WHERE at < ?1))
             FROM audit_log WHERE at < ?1",
            [&cutoff],
            |row| {
                Ok((
                    row.get::<_, Option<i64>>(0)?,
                    row.get::<_, Option<i64>>(1)?,
                    row.get::<_, Option<String>>(2)?,
                ))
            },
        )
        .map(|(first, last, mac)| match (first, last, mac) {
            (Some(first), Some(last), Some(mac)) => Some((first, last, mac)),
            _ => None,
        })?;
    let Some((first_seq, last_seq, last_mac)) = bounds else {
        return Ok(0);
    };
    let entries = last_seq - first_seq + 1;
    let at = Utc::now().to_rfc3339();
    let body = serde_json::to_vec(&serde_json::json!([
        "checkpoint",
        at,
        by_user,
        first_seq,
        last_seq,
        last_mac,
        entries
    ]))
    .unwrap_or_default();
    let mac = key.mac(GENESIS_MAC, &body);
    conn.execute_batch("DROP TRIGGER audit_log_no_delete;")?;
    conn.execute("DELETE FROM audit_log WHERE seq <= ?1", [last_seq])?;
    conn.execute_batch(
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
         BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;",
    )?;
    conn.execute(
        "INSERT INTO audit_checkpoints (at, by_user, first_seq, last_seq, last_mac, entries, mac)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![at, by_user, first_seq, last_seq, last_mac, entries, mac],
    )?;
    Ok(entries)
}
