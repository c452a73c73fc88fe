//! Vaults for unit tests: a real SQLCipher vault in a temporary directory, an Owner named
//! `olivia`, users added with one shared password, Argon2 at its floor so unlocks are quick.

use std::path::Path;

use crate::error::Result;
use crate::keyslot::{Credentials, KdfStrength};
use crate::secret::Password;
use crate::vault::{NewUser, NewVault, Session, Vault};

/// Every test user's password.
pub(crate) const PASSWORD: &str = "test-password-1";

/// A new vault in `dir`, signed in as its Owner `olivia`.
pub(crate) fn owner_vault(dir: &Path) -> Result<Session> {
    let mut owner = Vault::create(
        dir,
        NewVault {
            owner: "olivia".into(),
            password: Password::new(PASSWORD),
            key_file: None,
            kdf: KdfStrength::Floor,
        },
    )?
    .session;
    owner.set_kdf_strength(KdfStrength::Floor);
    Ok(owner)
}

/// Adds `name` with `role` (no key file).
pub(crate) fn add_user(owner: &mut Session, name: &str, role: &str) -> Result<()> {
    owner.add_user(NewUser {
        name: name.into(),
        role: role.into(),
        password: Password::new(PASSWORD),
        key_file: None,
    })
}

/// Signs `user` in on the vault in `dir` (new slots it makes at the floor, as the vault's were).
pub(crate) fn login(dir: &Path, user: &str) -> Result<Session> {
    let mut session = Vault::open(dir)?.unlock(&Credentials {
        user: user.into(),
        password: Password::new(PASSWORD),
        key_file: None,
    })?;
    session.set_kdf_strength(KdfStrength::Floor);
    Ok(session)
}
