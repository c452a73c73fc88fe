//! Strongroom CRM core: the encrypted vault and everything that touches customer data.
//!
//! Every read or write goes through an authenticated [`Session`], obtained by unlocking a
//! [`Vault`] with a user's credentials. The session applies that user's role before any data
//! leaves this crate, so the desktop app, the CLI and any later server enforce the same rules.
//!
//! # Layers
//!
//! Each module imports only from the layers below it, so there is no import cycle between
//! modules (docs/decisions.md, "crm-core in layers"). Use cases are `impl Session` blocks in
//! the layer of the domain they serve. Top to bottom:
//!
//! | layer | modules | what |
//! |---|---|---|
//! | tools (feature `bench`) | `bench`, `records::demo` | the benchmark and the demo-data generator, not in the default API |
//! | use cases across domains | `audit_session`, `erasure` | the audit trail as a session reads it (masked by the records' rule, compared with backups); erasing a person in the vault and its backups |
//! | backups | [`backup`] | encrypted, verified backups, schedules, restore |
//! | customer data | [`records`], [`settings`] | records, search, import and export, the pipeline; vault-wide settings |
//! | the session | [`vault`] | [`Vault`] and [`Session`]: unlock, the audited write path, users, key rotation, audit retention |
//! | domain rules | [`audit`], [`policy`], [`keyslot`], [`throttle`] | the tamper-evident chain, roles and rights, key slots, unlock throttling |
//! | schema | `schema` | every migration of the vault database, in order (the store is handed it) |
//! | storage | `store` | the one owner of a SQL connection (clippy.toml bans it elsewhere) |
//! | foundations | [`vocab`], [`secret`], [`fsutil`], [`fault`], [`process`], [`error`] | the shared vocabulary (`Entity`, `Level`, the field registry), secret types, file helpers, fault injection, the error type |
//!
//! ```no_run
//! use crm_core::{Credentials, KdfStrength, NewVault, Password, Vault};
//!
//! # fn main() -> crm_core::Result<()> {
//! let dir = std::path::Path::new("/tmp/example-vault");
//! let created = Vault::create(dir, NewVault {
//!     owner: "olivia".into(),
//!     password: Password::new("a long passphrase"),
//!     key_file: None,
//!     kdf: KdfStrength::from_env(),
//! })?;
//! // Show `created.recovery.to_identity_file()` once, then forget it.
//! drop(created);
//!
//! let session = Vault::open(dir)?.unlock(&Credentials {
//!     user: "olivia".into(),
//!     password: Password::new("a long passphrase"),
//!     key_file: None,
//! })?;
//! assert_eq!(session.user().role, "Owner");
//! # Ok(())
//! # }
//! ```

pub mod audit;
mod audit_session;
pub mod backup;
#[cfg(feature = "bench")]
pub mod bench;
pub mod checkup;
mod erasure;
pub mod error;
pub mod fault;
pub mod fsutil;
#[cfg(test)]
mod fuzz_tests;
pub mod keyslot;
pub mod password;
pub mod policy;
pub mod process;
pub mod records;
mod schema;
pub mod secret;
pub mod settings;
mod store;
pub mod test_hooks;
#[cfg(test)]
mod test_support;
pub mod throttle;
pub mod vault;
pub mod vocab;

pub use error::{Error, Result};
pub use keyslot::{Credentials, KdfStrength};
pub use secret::{DataKey, KeyFileDigest, Password, RecoveryIdentity, SecretText};
pub use vault::{
    AuditSink, CreatedVault, CurrentUser, NewUser, NewVault, Progress, Session, SlotUser, UserInfo,
    Vault, VaultPaths, default_vault_dir,
};
