//! Tables of access control (`crate::policy`): roles and teams.

/// The role schema, appended to the store's migrations.
pub(crate) const MIGRATION: &str = "
CREATE TABLE roles (
    name       TEXT PRIMARY KEY NOT NULL,
    definition TEXT NOT NULL
) STRICT;
CREATE TABLE teams (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE
) STRICT;
ALTER TABLE users ADD COLUMN team_id INTEGER REFERENCES teams (id);
";
