//! Tables of the audit trail (`crate::audit`): the chain, its checkpoints and alerts.

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

/// Makes `audit_checkpoints` append-only, as `audit_log` is (appended to the migrations).
pub(crate) const TRIGGERS_MIGRATION: &str = "
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
";
