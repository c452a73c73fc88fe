//! Schema migrations, in order. Each migration creates the tables of one domain module and
//! names it; never edit a released migration, add a new one.

use rusqlite_migration::{M, Migrations};

/// Migrations of the vault itself: metadata and users.
const VAULT: &str = "
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

/// Every migration, oldest first. Append only.
const ALL: &[&str] = &[
    VAULT,
    crate::audit::MIGRATION,
    crate::backup::MIGRATION,
    crate::policy::MIGRATION,
    crate::records::MIGRATION,
    crate::records::search::MIGRATION,
    crate::records::LIST_INDEXES,
    crate::audit::checkpoint::TRIGGERS_MIGRATION,
    crate::backup::PENDING_RUNS_AND_SETTINGS_RIGHT,
    crate::records::import::lookup::MIGRATION,
    crate::records::search::PER_KIND_MIGRATION,
    crate::records::OWNER_NAME_INDEXES,
    crate::records::tags::SPELLING_MIGRATION,
];

pub(crate) fn migrations() -> Migrations<'static> {
    Migrations::new(ALL.iter().map(|sql| M::up(sql)).collect())
}

/// The `user_version` a fully migrated database carries (one per migration).
pub(crate) const SCHEMA_VERSION: i64 = ALL.len() as i64;

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        assert!(super::migrations().validate().is_ok());
    }
}
