//! The library's error type.
//!
//! Unlock failures are deliberately coarse: a wrong password and a wrong key file give the same
//! [`Error::WrongCredentials`], so an attacker learns nothing about which half was wrong.
//! Messages never contain customer values or secrets; [`Error::code`] gives the stable code
//! that crosses IPC to the desktop UI.

use std::path::PathBuf;

/// The underlying error a variant keeps as its [`std::error::Error::source`].
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias used throughout crm-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything crm-core can refuse or fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Unlock: the password or key file is wrong, or the user has no slot. Coarse on purpose.
    #[error("wrong password or key file")]
    WrongCredentials,

    /// Unlock: the user's slot requires a key file and none was given.
    #[error("this user's slot requires a key file: insert the USB key and choose the file")]
    KeyFileRequired,

    /// Unlock: the user's role requires a key file and their sign-in has none yet (the role
    /// gained the requirement after their slot was made); an administrator must give them one.
    #[error(
        "your role requires a key file, and your sign-in has none yet: ask an administrator to give you one"
    )]
    RoleRequiresKeyFile,

    /// Unlock: too many recent failures for this user; try again after the delay.
    #[error("too many failed unlock attempts for this user: try again in {retry_after_secs} s")]
    Throttled {
        /// Seconds until the next attempt is accepted.
        retry_after_secs: u64,
    },

    /// Unlock: the slot decrypted but the user was removed from the vault.
    #[error("this user has been removed from the vault")]
    UserRemoved,

    /// A key file could not be read or is unusable.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The file the user pointed at.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },

    /// No vault exists at the given location.
    #[error("no vault at {0} (create one with `crm init`)")]
    NoVault(PathBuf),

    /// `init` was asked to create a vault where one already exists.
    #[error("a vault already exists at {0}")]
    VaultExists(PathBuf),

    /// Both copies of the key-slot file are missing, unreadable or corrupt.
    #[error("the key-slot file is damaged and its backup copy too ({0}); restore from a backup")]
    KeySlotsDamaged(String),

    /// The key-slot file names a KDF setting outside the accepted range.
    #[error("the key-slot file asks for unsupported key-derivation settings ({0})")]
    UnsupportedKdf(String),

    /// The database file cannot be opened with the unsealed key: corrupt, truncated or replaced.
    #[error("the vault database is damaged or does not belong to this key-slot file ({reason})")]
    DatabaseDamaged {
        /// What is wrong, for people (never a customer value).
        reason: String,
        /// The error that showed it, when one did (SQLite's, a JSON parser's).
        #[source]
        source: Option<Source>,
    },

    /// The recovery identity text is not a valid age X25519 identity.
    #[error("not a valid recovery identity (expected an AGE-SECRET-KEY-1… line)")]
    RecoveryIdentityInvalid,

    /// The recovery identity is valid but is not this vault's.
    #[error("this recovery identity does not belong to this vault")]
    RecoveryIdentityMismatch,

    /// Input that breaks a rule; the message says which and how to fix it.
    #[error("{0}")]
    Invalid(String),

    /// A named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),

    /// A thing with this name already exists.
    #[error("{0} already exists")]
    AlreadyExists(String),

    /// The acting user's role does not permit this.
    #[error("not permitted: {0}")]
    Forbidden(String),

    /// Another process has the vault open and the operation needs it alone.
    #[error("the vault is in use by another session (close the desktop app or agent first)")]
    VaultBusy,

    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },

    /// The disk holding the database has no room for a write; the write was rolled back whole.
    #[error(
        "the disk holding the vault is full: nothing of this change was saved; free some space and try again ({message})"
    )]
    DiskFull {
        /// SQLite's message.
        message: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// The database refused an operation.
    #[error("database error: {message}")]
    Database {
        /// What was refused (SQLite messages name tables and constraints, never values).
        message: String,
        /// The error behind it, when there is one.
        #[source]
        source: Option<Source>,
    },

    /// A backup could not be made, verified or restored; the message names the file or step.
    #[error("backup: {0}")]
    Backup(String),

    /// Sealing or unsealing failed for a reason other than wrong credentials.
    #[error("cryptographic failure: {0}")]
    Crypto(String),
}

impl Error {
    /// A stable machine-readable code for the UI and scripts; it changes only by decision.
    pub fn code(&self) -> &'static str {
        match self {
            Error::WrongCredentials => "wrong_credentials",
            Error::KeyFileRequired => "key_file_required",
            Error::RoleRequiresKeyFile => "role_requires_key_file",
            Error::Throttled { .. } => "throttled",
            Error::UserRemoved => "user_removed",
            Error::KeyFile { .. } => "key_file",
            Error::NoVault(_) => "no_vault",
            Error::VaultExists(_) => "vault_exists",
            Error::KeySlotsDamaged(_) => "key_slots_damaged",
            Error::UnsupportedKdf(_) => "unsupported_kdf",
            Error::DatabaseDamaged { .. } => "database_damaged",
            Error::RecoveryIdentityInvalid | Error::RecoveryIdentityMismatch => "recovery_identity",
            Error::Invalid(_) => "invalid",
            Error::NotFound(_) => "not_found",
            Error::AlreadyExists(_) => "already_exists",
            Error::Forbidden(_) => "forbidden",
            Error::VaultBusy => "vault_busy",
            Error::Io { .. } => "io",
            Error::DiskFull { .. } => "disk_full",
            Error::Database { .. } => "database",
            Error::Crypto(_) => "crypto",
            Error::Backup(_) => "backup",
        }
    }

    /// [`Error::DatabaseDamaged`] for a reason found without an underlying error.
    pub(crate) fn damaged(reason: impl Into<String>) -> Error {
        Error::DatabaseDamaged {
            reason: reason.into(),
            source: None,
        }
    }

    /// [`Error::DatabaseDamaged`] shown by `source` (the reason names what was being read).
    pub(crate) fn damaged_by(
        reason: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::DatabaseDamaged {
            reason: reason.into(),
            source: Some(Box::new(source)),
        }
    }

    /// [`Error::Database`] without an underlying error.
    pub(crate) fn database(message: impl Into<String>) -> Error {
        Error::Database {
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        // SQLite messages name tables and constraints, never bound values, so they are safe
        // to pass on.
        let message = error.to_string();
        match error.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
                Error::damaged_by(message, error)
            }
            Some(ErrorCode::DiskFull) => Error::DiskFull {
                message,
                source: error,
            },
            _ => Error::Database {
                message,
                source: Some(Box::new(error)),
            },
        }
    }
}

impl From<rusqlite_migration::Error> for Error {
    fn from(error: rusqlite_migration::Error) -> Self {
        Error::Database {
            message: format!("schema migration failed: {error}"),
            source: Some(Box::new(error)),
        }
    }
}
