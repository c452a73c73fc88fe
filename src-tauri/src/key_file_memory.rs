//! Where each user's key file usually is (e.g. `/media/anna/USB/strongroom.key`), remembered in
//! the OS keyring so the unlock screen can offer it again.
//!
//! Only the path is stored, never the file's contents or digest, and only after an unlock with
//! that file succeeded. The keyring is per OS account, so another account on a shared office PC
//! does not see it. Where no keyring answers (a headless test display), nothing is remembered
//! and unlocking works as before. On Linux the keyring is the kernel key store of the login
//! session (keyring's `linux-native` backend, shared with the backup agent): it is forgotten at
//! reboot; Windows and macOS keep it.

use std::path::Path;

const SERVICE: &str = "Strongroom CRM key file";

fn entry(vault_dir: &Path, user: &str) -> Option<keyring::Entry> {
    let vault = std::fs::canonicalize(vault_dir).unwrap_or_else(|_| vault_dir.to_owned());
    let account = format!("{user}@{}", vault.display());
    match keyring::Entry::new(SERVICE, &account) {
        Ok(entry) => Some(entry),
        Err(error) => {
            tracing::debug!("no OS keyring for the key file location: {error}");
            None
        }
    }
}

/// Remembers `key_file` as where `user` keeps their key file for this vault.
pub fn remember(vault_dir: &Path, user: &str, key_file: &str) {
    if let Some(entry) = entry(vault_dir, user)
        && let Err(error) = entry.set_password(key_file)
    {
        tracing::debug!("could not remember the key file location: {error}");
    }
}

/// Where `user` last unlocked this vault's key file from, if remembered.
pub fn recall(vault_dir: &Path, user: &str) -> Option<String> {
    entry(vault_dir, user)?.get_password().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_location_comes_back_for_the_same_user_and_vault_only() {
        #[cfg(target_os = "linux")]
        linux_keyutils::KeyRing::from_special_id(linux_keyutils::KeyRingIdentifier::Session, true)
            .expect("a session keyring");
        let vault = tempfile::tempdir().expect("tempdir");
        let other_vault = tempfile::tempdir().expect("tempdir");
        remember(vault.path(), "anna", "/media/anna/USB/strongroom.key");
        assert_eq!(
            recall(vault.path(), "anna").as_deref(),
            Some("/media/anna/USB/strongroom.key")
        );
        assert_eq!(recall(vault.path(), "bert"), None);
        assert_eq!(recall(other_vault.path(), "anna"), None);
        remember(vault.path(), "anna", "/media/anna/NEW/strongroom.key");
        assert_eq!(
            recall(vault.path(), "anna").as_deref(),
            Some("/media/anna/NEW/strongroom.key")
        );
    }
}
