//! The vault database's schema: every migration, oldest first, and nothing else.
//!
//! The migration history is one ordered list for the whole file (a migration may alter a table
//! another domain made, as `policy` adds `users.team_id`), so it is kept in one place rather
//! than gathered from the domain modules: the store, which applies it, and the domains, whose
//! tables it creates, both stay free of each other. This module imports nothing from the
//! crate. Each submodule holds one domain's tables; never edit a released migration, append a
//! new one.

pub(crate) mod audit;
pub(crate) mod backup;
pub(crate) mod checkup;
pub(crate) mod lookup;
pub(crate) mod policy;
pub(crate) mod records;
pub(crate) mod search;
pub(crate) mod vault;

/// Every migration, oldest first. Append only: the position is the `user_version` at which a
/// database has it.
pub(crate) const MIGRATIONS: &[&str] = &[
    vault::VAULT,
    audit::MIGRATION,
    backup::MIGRATION,
    policy::MIGRATION,
    records::MIGRATION,
    search::MIGRATION,
    records::LIST_INDEXES,
    audit::TRIGGERS_MIGRATION,
    backup::PENDING_RUNS_AND_SETTINGS_RIGHT,
    lookup::MIGRATION,
    search::PER_KIND_MIGRATION,
    records::OWNER_NAME_INDEXES,
    checkup::MIGRATION,
    records::SPELLING_MIGRATION,
];

/// The `user_version` a fully migrated database carries (one per migration).
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        let migrations = rusqlite_migration::Migrations::new(
            super::MIGRATIONS
                .iter()
                .map(|sql| rusqlite_migration::M::up(sql))
                .collect(),
        );
        assert!(migrations.validate().is_ok());
    }
}
