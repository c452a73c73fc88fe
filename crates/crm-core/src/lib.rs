//! Strongroom CRM core: the encrypted vault and everything that touches customer data.
//!
//! Every read or write goes through an authenticated [`Session`], obtained by unlocking a
//! [`Vault`] with a user's credentials. The session applies that user's role before any data
//! leaves this crate, so the desktop app, the CLI and any later server enforce the same rules.
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
pub mod backup;
pub mod bench;
pub mod error;
pub mod fault;
pub mod fsutil;
#[cfg(test)]
mod fuzz_tests;
pub mod keyslot;
pub mod policy;
pub mod process;
pub mod records;
pub mod secret;
pub mod settings;
mod store;
pub mod test_hooks;
#[cfg(test)]
mod test_support;
pub mod throttle;
pub mod vault;

pub use error::{Error, Result};
pub use keyslot::{Credentials, KdfStrength};
pub use secret::{DataKey, KeyFileDigest, Password, RecoveryIdentity, SecretText};
pub use vault::{
    AuditSink, CreatedVault, CurrentUser, NewUser, NewVault, Progress, Session, SlotUser, UserInfo,
    Vault, VaultPaths, default_vault_dir,
};
