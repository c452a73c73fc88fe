//! The only owner of a `rusqlite::Connection`.
//!
//! Opens the SQLCipher database with the raw data key (`PRAGMA key = "x'…'"`, SQLCipher 4
//! defaults, temp store in memory, WAL, `synchronous = FULL`), runs the schema migrations and
//! re-keys the database for a key rotation. Nothing outside this module touches SQL
//! connections: domain modules receive `&Connection` or a transaction from here.
//!
//! The store knows no table: whoever opens it passes the ordered migrations to bring the file
//! to (`crate::schema::MIGRATIONS` for a vault), so it imports no domain module.
//!
//! `clippy.toml` bans naming `rusqlite::Connection` or opening one anywhere else; domain
//! modules take the [`Connection`] handle this module lends (`&Connection`, or a transaction,
//! which derefs to one).
#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    reason = "the store is the one owner of SQL connections"
)]

use std::path::Path;

use rusqlite::{OpenFlags, OptionalExtension, ffi::ErrorCode};
use rusqlite_migration::M;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::secret::DataKey;

/// The connection as the store lends it: domain code names this, never the rusqlite type,
/// and receives it only by reference (it cannot open one: clippy.toml).
pub(crate) type Connection = rusqlite::Connection;

/// The ordered migrations a store brings its file to, oldest first.
pub(crate) type Migrations = &'static [&'static str];

/// Page cache for interactive work: at a million contacts the search index and list
/// indexes stay hot (docs/performance.md).
pub(crate) const PAGE_CACHE_MIB: i64 = 256;

/// Page cache while one transaction writes many rows (import): the dirty pages spill to the
/// encrypted WAL instead of growing memory with the size of the file.
pub(crate) const BULK_CACHE_MIB: i64 = 32;

/// The record tables whose query plans depend on the planner's statistics.
const PLANNED_TABLES: [&str; 5] = ["companies", "contacts", "deals", "activities", "notes"];

/// A record table this large gets statistics (below it any plan is fast).
const STATISTICS_FLOOR: i64 = 5_000;

/// An open, keyed, migrated vault database.
pub struct Store {
    conn: Connection,
    /// What the file was brought to on opening; a re-key opens the new file with the same.
    migrations: Migrations,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

/// Why a database did not open with a given key.
#[derive(Debug)]
pub(crate) enum OpenFailure {
    /// Page 1 does not decrypt: the key is not this database's (or page 1 is destroyed).
    WrongKey,
    /// The key fits but the file is damaged (truncated, corrupt) or unreadable.
    Damaged(Error),
}

impl Store {
    /// Creates a new database file at `path` keyed with `key` and brings it to the current
    /// schema.
    pub(crate) fn create(path: &Path, key: &DataKey, migrations: Migrations) -> Result<Self> {
        // SQLite would create the file with its default mode (0644 under the usual umask), and
        // the `-wal` and `-shm` files after it with the same: make it owner-only first.
        drop(fsutil::open_private(path)?);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?;
        let mut store = Self { conn, migrations };
        store.apply_key(key)?;
        store.configure()?;
        store.migrate(migrations)?;
        Ok(store)
    }

    /// Opens an existing database with `key`, telling a wrong key apart from damage.
    pub(crate) fn open(
        path: &Path,
        key: &DataKey,
        migrations: Migrations,
    ) -> Result<Self, OpenFailure> {
        if !path.exists() {
            return Err(OpenFailure::Damaged(Error::damaged(
                "the database file is missing",
            )));
        }
        // A vault made by an older version may have world-readable files: owner-only from now.
        for suffix in ["", "-wal", "-shm"] {
            fsutil::restrict_if_present(&with_suffix(path, suffix))
                .map_err(OpenFailure::Damaged)?;
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)
            .map_err(|error| OpenFailure::Damaged(error.into()))?;
        let mut store = Self { conn, migrations };
        store.apply_key(key).map_err(OpenFailure::Damaged)?;
        // The first read decrypts page 1: NOTADB means the key does not fit.
        store.check_key()?;
        // SQLite refuses a file cut at a page boundary below the page count in its header (the
        // read above fails as corrupt); a cut inside a page is caught here, as a SQLCipher file
        // is always whole pages. Neither needs a full scan, so unlock stays fast.
        store
            .check_whole_pages(path)
            .map_err(OpenFailure::Damaged)?;
        store.configure().map_err(OpenFailure::Damaged)?;
        store.migrate(migrations).map_err(OpenFailure::Damaged)?;
        Ok(store)
    }

    /// The first read decrypts page 1: NOTADB means the key does not fit.
    fn check_key(&self) -> Result<(), OpenFailure> {
        match self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| {
                row.get::<_, i64>(0)
            }) {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(failure, _))
                if failure.code == ErrorCode::NotADatabase =>
            {
                Err(OpenFailure::WrongKey)
            }
            Err(error) => Err(OpenFailure::Damaged(damaged(error))),
        }
    }

    fn check_whole_pages(&self, path: &Path) -> Result<()> {
        // SQLCipher answers `cipher_page_size` as text.
        let page_size: String = self
            .conn
            .query_row("PRAGMA cipher_page_size", [], |row| row.get(0))?;
        let page_size: u64 = page_size.trim().parse().unwrap_or(0);
        let length = std::fs::metadata(path)
            .map_err(Error::io("reading the database size"))?
            .len();
        if page_size == 0 || length % page_size != 0 {
            return Err(Error::damaged(format!(
                "the file ends inside a page ({length} bytes): it was truncated"
            )));
        }
        Ok(())
    }

    fn apply_key(&mut self, key: &DataKey) -> Result<()> {
        // Trying a candidate key that does not fit is normal during rotation recovery; keep
        // SQLCipher from printing its own error lines to the terminal.
        self.conn.pragma_update(None, "cipher_log_level", "NONE")?;
        let literal = Zeroizing::new(format!("x'{}'", key.to_hex().expose()));
        self.conn.pragma_update(None, "key", &*literal)?;
        Ok(())
    }

    fn configure(&mut self) -> Result<()> {
        // Temporary tables and sort spills stay in memory so no plaintext reaches temp files.
        self.conn.execute_batch(
            "PRAGMA temp_store = MEMORY;
             PRAGMA foreign_keys = ON;
             PRAGMA synchronous = FULL;",
        )?;
        self.set_cache_mib(PAGE_CACHE_MIB)?;
        // rusqlite keeps 16 by default; an import row alone uses more than that, and a
        // statement evicted from the cache is parsed again on its next use.
        self.conn.set_prepared_statement_cache_capacity(64);
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::database(format!(
                "could not enable WAL (got {mode})"
            )));
        }
        self.conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(())
    }

    /// Applies those of `migrations` (oldest first) that the file does not have yet.
    fn migrate(&mut self, migrations: Migrations) -> Result<()> {
        rusqlite_migration::Migrations::new(migrations.iter().map(|sql| M::up(sql)).collect())
            .to_latest(&mut self.conn)?;
        Ok(())
    }

    /// Sets the page cache ceiling. SQLite keeps a transaction's dirty pages in this cache
    /// until it is full, so a bulk write runs under a smaller ceiling to keep memory bounded.
    pub(crate) fn set_cache_mib(&self, mib: i64) -> Result<()> {
        self.conn.pragma_update(None, "cache_size", -(mib * 1024))?;
        Ok(())
    }

    /// Measures again (`ANALYZE`) the record tables whose size has more than doubled or halved
    /// since the query planner's statistics were taken, or that have grown past
    /// [`STATISTICS_FLOOR`] rows without any. Returns how many tables were measured.
    ///
    /// Without statistics SQLite takes an equality on any index for selective. In a small
    /// business a record's owner is one of a handful of people, so a sales rep's list sorted by
    /// name was planned as "all my records, then sort" (half a million rows at a million
    /// contacts) instead of walking the name index; with statistics the planner sees how
    /// common each owner is. A full measurement takes about a second per 200,000 rows, so it
    /// runs only when the numbers have moved that much (after imports, and at lock).
    pub(crate) fn refresh_statistics(&self) -> Result<usize> {
        let measured_before: bool = self.conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'",
            [],
            |row| row.get::<_, i64>(0).map(|count| count > 0),
        )?;
        let mut measured = 0;
        for table in PLANNED_TABLES {
            let rows: i64 = self.conn.query_row(
                &format!("SELECT coalesce(max(rowid), 0) FROM {table}"),
                [],
                |row| row.get(0),
            )?;
            let last: Option<i64> = if measured_before {
                self.conn
                    .query_row(
                        "SELECT stat FROM sqlite_stat1 WHERE tbl = ?1 LIMIT 1",
                        [table],
                        |row| row.get::<_, String>(0),
                    )
                    .optional()?
                    .and_then(|stat| stat.split(' ').next()?.parse().ok())
            } else {
                None
            };
            let stale = match last {
                None => rows >= STATISTICS_FLOOR,
                Some(last) => rows > last.saturating_mul(2) || rows.saturating_mul(2) < last,
            };
            if stale {
                self.conn.execute_batch(&format!("ANALYZE {table}"))?;
                measured += 1;
            }
        }
        Ok(measured)
    }

    /// Read access for domain modules.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// A write transaction for domain modules; dropped without commit, it rolls back.
    pub(crate) fn transaction(&mut self) -> Result<rusqlite::Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
    }

    /// Re-encrypts the whole database under `new_key`, crash-safely.
    ///
    /// The database is exported to `staging` under the new key and synced; this connection is
    /// closed (checkpointing and removing the WAL); the staged file is renamed over the live
    /// one and the directory synced; the store reopens on it. Killed before the rename, the
    /// old file is untouched; after it, the new file is complete. The caller must hold the
    /// vault exclusively (no other connection may write meanwhile).
    pub(crate) fn rekey(&mut self, live: &Path, staging: &Path, new_key: &DataKey) -> Result<()> {
        remove_if_exists(staging)?;
        self.export_copy(staging, new_key, |_| Ok(()))?;

        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        let old = std::mem::replace(&mut self.conn, Connection::open_in_memory()?);
        old.close().map_err(|(_, error)| Error::from(error))?;
        // Fully checkpointed and closed: any WAL left belongs to the old file and must not be
        // replayed onto the new one.
        for suffix in ["-wal", "-shm"] {
            remove_if_exists(&with_suffix(live, suffix))?;
        }
        std::fs::rename(staging, live).map_err(Error::io("installing the re-keyed database"))?;
        if let Some(dir) = live.parent() {
            fsutil::sync_dir(dir)?;
        }
        *self = Store::open(live, new_key, self.migrations).map_err(|failure| match failure {
            OpenFailure::WrongKey => Error::damaged("re-keyed database does not open"),
            OpenFailure::Damaged(error) => error,
        })?;
        Ok(())
    }

    /// Writes a consistent copy of this database to the new file `target`, encrypted under
    /// `key`, and syncs it. `read` runs first inside the same read transaction, so what it reads
    /// (row counts, the audit head) describes exactly the copy. In WAL mode a read transaction
    /// blocks no writer: other sessions keep working while the copy is made. Used by key
    /// rotation and by backups.
    ///
    /// The copy is page by page (SQLite's online backup API in one step): SQLCipher decrypts
    /// each page with the live key and encrypts it with `key`. Unlike `sqlcipher_export`, which
    /// re-inserts every row and rebuilds every index, the b-trees are copied as they are
    /// (figures in docs/performance.md).
    pub(crate) fn export_copy<T>(
        &self,
        target: &Path,
        key: &DataKey,
        read: impl FnOnce(&Connection) -> Result<T>,
    ) -> Result<T> {
        fsutil::write_new_private_file(target, &[])?;
        let mut copy = Self {
            conn: Connection::open_with_flags(target, OpenFlags::SQLITE_OPEN_READ_WRITE)?,
            migrations: self.migrations,
        };
        copy.apply_key(key)?;
        // A copy killed half-way is thrown away whole (the backup's `.partial-` folder, the
        // rotation's staging file), so it needs no journal while it is written; with one,
        // every cache spill would wait for an fsync. It is synced once, at the end.
        copy.conn
            .query_row("PRAGMA journal_mode = OFF", [], |_| Ok(()))?;
        copy.conn
            .execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -65536;")?;
        self.conn.execute_batch("BEGIN DEFERRED")?;
        let outcome: Result<T> = (|| {
            let value = read(&self.conn)?;
            let backup = rusqlite::backup::Backup::new(&self.conn, &mut copy.conn)?;
            // -1: every page in one step, under the read transaction opened above.
            match backup.step(-1)? {
                rusqlite::backup::StepResult::Done => Ok(value),
                other => Err(Error::database(format!(
                    "the database copy did not complete ({other:?})"
                ))),
            }
        })();
        let ended = self.conn.execute_batch("COMMIT");
        let value = outcome?;
        ended?;
        // The copy is a standalone file: a rollback journal, so it opens read-only anywhere
        // without a -wal/-shm beside it.
        let mode: String = copy
            .conn
            .query_row("PRAGMA journal_mode = DELETE", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("delete") {
            return Err(Error::database(format!(
                "the database copy kept journal mode {mode}"
            )));
        }
        drop(copy);
        std::fs::File::open(target)
            .and_then(|file| file.sync_all())
            .map_err(Error::io("syncing the exported database"))?;
        Ok(value)
    }

    /// Opens a database copy read-only with `key`, without migrating or writing anything
    /// beside it (backup verification must not change what it checks).
    pub(crate) fn open_snapshot(path: &Path, key: &DataKey) -> Result<Self, OpenFailure> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|error| OpenFailure::Damaged(error.into()))?;
        // Read-only: never migrated or re-keyed.
        let mut store = Self {
            conn,
            migrations: &[],
        };
        store.apply_key(key).map_err(OpenFailure::Damaged)?;
        store.check_key()?;
        store
            .conn
            .execute_batch("PRAGMA temp_store = MEMORY;")
            .map_err(|error| OpenFailure::Damaged(error.into()))?;
        // `integrity_check` looks every row up in every index: with SQLite's 2 MiB default
        // cache each page would be decrypted again and again.
        store
            .set_cache_mib(PAGE_CACHE_MIB)
            .map_err(OpenFailure::Damaged)?;
        Ok(store)
    }

    /// An unencrypted twin of this database (same schema and rows) for the benchmark's plain
    /// SQLite baseline. Never used on customer vaults: the bench makes its own synthetic data.
    #[cfg(feature = "bench")]
    pub(crate) fn export_plain_twin(&self, target: &Path) -> Result<()> {
        remove_if_exists(target)?;
        fsutil::write_new_private_file(target, &[])?;
        let target_text = target
            .to_str()
            .ok_or_else(|| Error::Invalid("path is not valid UTF-8".into()))?;
        self.conn
            .execute("ATTACH DATABASE ?1 AS plain KEY ''", [target_text])?;
        let exported = self
            .conn
            .query_row("SELECT sqlcipher_export('plain')", [], |_| Ok(()))
            .and_then(|()| {
                self.conn
                    .query_row("PRAGMA main.user_version", [], |row| row.get::<_, i64>(0))
                    .and_then(|version| {
                        self.conn
                            .pragma_update(Some("plain"), "user_version", version)
                    })
            });
        self.conn.execute("DETACH DATABASE plain", [])?;
        exported?;
        Ok(())
    }

    /// Opens a plain (unencrypted) database made by [`Store::export_plain_twin`], with the same
    /// settings as a vault, for the benchmark baseline.
    #[cfg(feature = "bench")]
    pub(crate) fn open_plain_twin(path: &Path, migrations: Migrations) -> Result<Self> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        let mut store = Self { conn, migrations };
        store
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |row| {
                row.get::<_, i64>(0)
            })?;
        store.configure()?;
        store.migrate(migrations)?;
        store.refresh_statistics()?;
        Ok(store)
    }

    /// The database's own record of which vault it belongs to.
    pub(crate) fn vault_id(&self) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM vault_meta WHERE key = 'vault_id'",
                [],
                |row| row.get(0),
            )
            .optional()?)
    }
}

fn damaged(error: rusqlite::Error) -> Error {
    Error::damaged_by(error.to_string(), error)
}

pub(crate) fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut text = path.as_os_str().to_owned();
    text.push(suffix);
    text.into()
}

pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(Error::Io {
            context: format!("removing {}", path.display()),
            source: error,
        }),
    }
}
