//! Tables of the backup module (`crate::backup`): settings and the record of every run.

/// Tables of the backup module: the owner's settings and every run (with its backup key).
pub const MIGRATION: &str = "
CREATE TABLE backup_settings (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    settings TEXT NOT NULL
) STRICT;

CREATE TABLE backup_runs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('backup', 'drill')),
    backup_id   TEXT,
    destination TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('verified', 'failed')),
    problem     TEXT,
    size_bytes  INTEGER,
    -- hex; lets this vault re-verify and drill its own backups (inside the encrypted database)
    backup_key  TEXT
) STRICT;
CREATE INDEX backup_runs_backup_id ON backup_runs (backup_id);
";

/// A run is recorded `pending` (with its key) before its backup is renamed into the listing,
/// and `verified` or `failed` once it is there. Changing backup settings becomes its own right
/// (the backup agent makes backups; it must not redirect them): existing Owner and
/// Administrator roles receive it.
pub const PENDING_RUNS_AND_SETTINGS_RIGHT: &str = "
CREATE TABLE backup_runs_v2 (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('backup', 'drill')),
    backup_id   TEXT,
    destination TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('pending', 'verified', 'failed')),
    problem     TEXT,
    size_bytes  INTEGER,
    backup_key  TEXT
) STRICT;
INSERT INTO backup_runs_v2 (id, kind, backup_id, destination, started_at, finished_at, outcome,
                            problem, size_bytes, backup_key)
    SELECT id, kind, backup_id, destination, started_at, finished_at, outcome, problem,
           size_bytes, backup_key
    FROM backup_runs;
DROP TABLE backup_runs;
ALTER TABLE backup_runs_v2 RENAME TO backup_runs;
CREATE INDEX backup_runs_backup_id ON backup_runs (backup_id);
CREATE INDEX backup_runs_destination ON backup_runs (kind, destination, started_at);

UPDATE roles
SET definition = json_insert(definition, '$.rights[#]', 'manage_backup_settings')
WHERE name IN ('Owner', 'Administrator')
  AND NOT EXISTS (
      SELECT 1 FROM json_each(roles.definition, '$.rights')
      WHERE value = 'manage_backup_settings'
  );
";
