//! Tables of the vault itself (`crate::vault`): metadata and users.

/// Migrations of the vault itself: metadata and users.
pub(crate) const VAULT: &str = "
CREATE TABLE vault_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL COLLATE NOCASE,
    role           TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    created_by     TEXT,
    removed_at     TEXT,
    last_unlock_at TEXT
) STRICT;

-- Names are unique among active users; a removed user's row stays for the records they own.
CREATE UNIQUE INDEX users_active_name ON users (name) WHERE removed_at IS NULL;
";
