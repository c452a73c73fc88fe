//! The tamper-evident audit trail.
//!
//! An append-only table inside the encrypted database. Every entry carries the MAC of the entry
//! before it and its own HMAC-SHA256 over both, so editing, deleting or reordering any entry
//! breaks the chain from that point on; triggers refuse `UPDATE` and `DELETE` outright. After
//! every committed batch the chain head (sequence number and MAC) is also written to
//! `audit-head.json` beside the database and into every backup manifest, so cutting off the
//! newest entries, or swapping in an older copy of the database, is detected too (see
//! [`anchors`]). Retention pruning leaves a chained, MACed checkpoint behind (see
//! `checkpoint`), so what remains still verifies.
//!
//! The HMAC key is 32 random bytes made at the first unlock and kept in the encrypted
//! database, not derived from the data key: the data key changes at every rotation, and the
//! trail must stay verifiable across rotations. Whoever holds the data key can read the HMAC
//! key, which is why the head is also kept outside the database.
//!
//! Domain code records events through `Session::write` (changes, in the same
//! transaction as the data), [`crate::Session::record`] (standalone events such as exports
//! and reveals, written before the data is handed out) and `Session::note_read` (views and
//! searches, batched).

pub mod alerts;
pub mod anchors;
pub(crate) mod checkpoint;
#[cfg(test)]
mod golden_tests;
pub mod review;
#[cfg(test)]
mod trail_tests;

pub use anchors::{BackupAnchor, HeadFile};

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::store::Connection;

const GENESIS_MAC: &str = "genesis";

/// What happened. Stored as its snake_case name; the set only grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditAction {
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
    /// The security checkup ran (detail: its score and failing checks).
    SecurityCheck,
    /// Someone showed they hold the recovery identity.
    RecoveryConfirmed,
}

impl AuditAction {
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

const ACTION_NAMES: &[(AuditAction, &str)] = &[
    (AuditAction::Unlock, "unlock"),
    (AuditAction::UnlockFailed, "unlock_failed"),
    (AuditAction::Lock, "lock"),
    (AuditAction::AutoLock, "auto_lock"),
    (AuditAction::View, "view"),
    (AuditAction::Reveal, "reveal"),
    (AuditAction::Search, "search"),
    (AuditAction::Import, "import"),
    (AuditAction::Export, "export"),
    (AuditAction::Create, "create"),
    (AuditAction::Update, "update"),
    (AuditAction::Delete, "delete"),
    (AuditAction::Erase, "erase"),
    (AuditAction::UserAdded, "user_added"),
    (AuditAction::UserRemoved, "user_removed"),
    (AuditAction::RoleAssigned, "role_assigned"),
    (AuditAction::PasswordChanged, "password_changed"),
    (AuditAction::PasswordReset, "password_reset"),
    (AuditAction::RoleChanged, "role_changed"),
    (AuditAction::ClassificationChanged, "classification_changed"),
    (AuditAction::PolicyChanged, "policy_changed"),
    (AuditAction::KeyRotated, "key_rotated"),
    (AuditAction::DataKeyShown, "data_key_shown"),
    (AuditAction::Backup, "backup"),
    (AuditAction::BackupVerified, "backup_verified"),
    (AuditAction::Restore, "restore"),
    (AuditAction::AccessReviewSigned, "access_review_signed"),
    (AuditAction::AlertAcknowledged, "alert_acknowledged"),
    (AuditAction::AuditPruned, "audit_pruned"),
    (AuditAction::SecurityCheck, "security_check"),
    (AuditAction::RecoveryConfirmed, "recovery_confirmed"),
];

/// One event to record. Build with [`AuditEvent::new`] and the chained setters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// What happened.
    pub action: AuditAction,
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
    /// Classification level of the values when written (0 Public … 3 Highly Confidential).
    /// Listing masks record fields by their current level; this one serves everything else.
    pub level: u8,
    /// Anything else: a reason, a row count, a format, the ids exported.
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// An event with no target.
    pub fn new(action: AuditAction) -> Self {
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
            .map_err(|_| Error::damaged("the audit key is unreadable"))?;
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
        None => Ok(checkpoint::last(conn)?
            .map(|checkpoint| ChainHead {
                seq: checkpoint.last_seq,
                mac: checkpoint.last_mac,
            })
            .unwrap_or(ChainHead {
                seq: 0,
                mac: GENESIS_MAC.into(),
            })),
    }
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

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: i64,
    /// Retention checkpoints checked.
    pub checkpoints: i64,
    /// Whether the chain, its checkpoints, the head file and the backups agree.
    pub intact: bool,
    /// The first entry that fails, with why.
    pub first_bad: Option<BadEntry>,
    /// How the external head file compares.
    pub head_file: String,
    /// How the heads recorded in reachable backup manifests compare.
    pub backups: String,
    /// Findings that do not break the chain but need a person's attention (the head file was
    /// missing at unlock, append-only triggers were dropped, a destination was unreachable).
    pub warnings: Vec<String>,
}

/// The first broken place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadEntry {
    /// Its sequence number.
    pub seq: i64,
    /// What is wrong.
    pub reason: String,
}

/// Re-computes the chain from `resume` (through `through`, or to the end) and returns how many
/// entries it checked and the first that fails.
pub(crate) fn check_entries(
    conn: &Connection,
    key: &AuditKey,
    resume: &checkpoint::Resume,
    through: Option<i64>,
) -> Result<(i64, Option<BadEntry>)> {
    let mut expected_seq = resume.next_seq;
    let mut prev_mac = resume.prev_mac.clone();
    let mut statement = conn.prepare(
        "SELECT seq, at, user_name, role, workstation, action, entity, record_id, field,
                old_value, new_value, level, detail, prev_mac, mac
         FROM audit_log WHERE seq <= ?1 ORDER BY seq",
    )?;
    let mut rows = statement.query([through.unwrap_or(i64::MAX)])?;
    let mut entries = 0i64;
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
            return Ok((entries, Some(BadEntry { seq, reason })));
        }
        prev_mac = stored_mac;
        expected_seq = seq + 1;
    }
    Ok((entries, None))
}

/// The append-only triggers that are missing (someone with the data key dropped them).
fn missing_triggers(conn: &Connection) -> Result<Vec<&'static str>> {
    let mut missing = Vec::new();
    for name in checkpoint::APPEND_ONLY_TRIGGERS {
        let present: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?1)",
            [name],
            |row| row.get(0),
        )?;
        if !present {
            missing.push(name);
        }
    }
    Ok(missing)
}

/// Re-computes the checkpoints and the whole chain, then compares the trail with its anchors
/// outside the database: the head file and the heads in `backups` (backups of any vault;
/// only this vault's are used).
pub(crate) fn verify(
    conn: &Connection,
    key: &AuditKey,
    vault_id: &str,
    head_file: &anchors::HeadFileState,
    backups: &[anchors::BackupAnchor],
) -> Result<VerifyReport> {
    let (resume, checkpoint_bad) = checkpoint::check(conn, key)?;
    let (entries, entry_bad) = check_entries(conn, key, &resume, None)?;
    let (head_bad, head_text) = anchors::compare_head_file(conn, head_file, vault_id)?;
    let (backup_bad, backup_text) = anchors::compare_backups(conn, backups, vault_id)?;
    let mut warnings = Vec::new();
    if *head_file == anchors::HeadFileState::Missing {
        warnings.push(
            "audit-head.json is missing from the vault directory: truncation of the newest \
             entries cannot be detected without it"
                .to_owned(),
        );
    }
    let missing = missing_triggers(conn)?;
    if !missing.is_empty() {
        warnings.push(format!(
            "the append-only triggers {} were dropped: someone changed the schema with the data \
             key (the chain still shows any entry they changed)",
            missing.join(", ")
        ));
    }
    let first_bad = checkpoint_bad.or(entry_bad).or(head_bad).or(backup_bad);
    Ok(VerifyReport {
        entries,
        checkpoints: resume.checkpoints,
        intact: first_bad.is_none(),
        first_bad,
        head_file: head_text,
        backups: backup_text,
        warnings,
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
    /// The role they held when the entry was written.
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
    pub actions: Vec<AuditAction>,
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

/// How many records one entry names, as SQL over `audit_log`: a list view carries the ids it
/// showed in `detail.ids`, anything else names one. View spikes and the access review count
/// records with it, so one page of 50 contacts counts 50.
pub(crate) const RECORDS_NAMED_SQL: &str = "CASE WHEN json_type(detail, '$.ids') = 'array' THEN json_array_length(detail, '$.ids') ELSE 1 END";

/// What the masking of listed values needs to know about one entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ValueTarget<'a> {
    /// Target entity kind as stored (`contact`, `role`, …).
    pub entity: Option<&'a str>,
    /// Target id as stored.
    pub record_id: Option<&'a str>,
    /// Target field as stored.
    pub field: Option<&'a str>,
    /// The level the field had when the entry was written.
    pub level_then: u8,
}

/// Lists entries matching `filter`, newest first. Old and new values are kept only where
/// `may_see` says the reader may see that field now; elsewhere they read [`MASKED`], so an
/// unmasked value never leaves this function.
pub(crate) fn list(
    conn: &Connection,
    filter: &AuditFilter,
    may_see: &mut dyn FnMut(ValueTarget<'_>) -> Result<bool>,
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
    let mut rows = statement.query(params.as_slice())?;
    let mut entries = Vec::new();
    while let Some(row) = rows.next()? {
        let entity: Option<String> = row.get(6)?;
        let record_id: Option<String> = row.get(7)?;
        let detail: serde_json::Value =
            serde_json::from_str(&row.get::<_, String>(12)?).unwrap_or(serde_json::Value::Null);
        if let Some(wanted) = &filter.record_id
            && record_id.as_deref() != Some(wanted.as_str())
            && !ids_include(&detail, wanted)
        {
            continue;
        }
        let field: Option<String> = row.get(8)?;
        let old_value: Option<String> = row.get(9)?;
        let new_value: Option<String> = row.get(10)?;
        let action: String = row.get(5)?;
        let level_then = u8::try_from(row.get::<_, i64>(11)?).unwrap_or(u8::MAX);
        let mut may_see_at = |level_then: u8| {
            may_see(ValueTarget {
                entity: entity.as_deref(),
                record_id: record_id.as_deref(),
                field: field.as_deref(),
                level_then,
            })
        };
        let visible = old_value.is_none() && new_value.is_none() || may_see_at(level_then)?;
        let mask = |value: Option<String>| {
            value.map(|value| if visible { value } else { MASKED.to_owned() })
        };
        let mut detail = detail;
        if let Some(reason_level) = reason_level(&action, level_then)
            && !may_see_at(reason_level)?
            && let Some(reason) = detail.get_mut("reason")
        {
            *reason = serde_json::Value::String(MASKED.to_owned());
        }
        entries.push(AuditEntry {
            seq: row.get(0)?,
            at: row.get(1)?,
            user: row.get(2)?,
            role: row.get(3)?,
            workstation: row.get(4)?,
            action,
            entity,
            record_id,
            field,
            old_value: mask(old_value),
            new_value: mask(new_value),
            detail,
        });
        if entries.len() >= limit {
            break;
        }
    }
    Ok(entries)
}

/// The level at which the free-text reason of an entry is listed, for the actions whose reason
/// a user typed about a person: a reveal's reason can quote the value revealed, so it is read
/// as that value is; an erasure's names why a person asked to be forgotten, so it is at least
/// Confidential, as personal data is. Auditors (Public clearance) see that a reason was given,
/// not what it says; the owner reads it (docs/decisions.md).
fn reason_level(action: &str, level_then: u8) -> Option<u8> {
    match AuditAction::parse(action) {
        Ok(AuditAction::Reveal) => Some(level_then),
        Ok(AuditAction::Erase) => {
            Some(level_then.max(crate::records::fields::Level::Confidential.as_u8()))
        }
        _ => None,
    }
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
