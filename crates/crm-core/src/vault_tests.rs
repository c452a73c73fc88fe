//! Vault behaviour on real files: creation, unlock, rotation phases, plaintext on disk.

use super::*;
use crate::keyslot::KdfStrength;

const OWNER_PASSWORD: &str = "owner-password-1";
const REP_PASSWORD: &str = "rep-password-12";

fn creds(user: &str, password: &str) -> Credentials {
    Credentials {
        user: user.into(),
        password: Password::new(password),
        key_file: None,
    }
}

fn new_vault(dir: &Path) -> Result<CreatedVault> {
    Vault::create(
        dir,
        NewVault {
            owner: "olivia".into(),
            password: Password::new(OWNER_PASSWORD),
            key_file: None,
            kdf: KdfStrength::Floor,
        },
    )
}

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(Error::io("tempdir"))
}

fn add_rep(session: &mut Session, name: &str) -> Result<()> {
    session.set_kdf_strength(KdfStrength::Floor);
    session.add_user(NewUser {
        name: name.into(),
        role: "Sales Representative".into(),
        password: Password::new(REP_PASSWORD),
        key_file: None,
    })
}

fn files_containing(dir: &Path, needle: &[u8]) -> Result<Vec<PathBuf>> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(Error::io("listing"))? {
        let path = entry.map_err(Error::io("listing"))?.path();
        if path.is_file() {
            let bytes = std::fs::read(&path).map_err(Error::io("reading"))?;
            if bytes.windows(needle.len()).any(|window| window == needle) {
                hits.push(path);
            }
        }
    }
    Ok(hits)
}

#[test]
fn no_file_in_the_vault_holds_a_stored_value_in_plain_bytes() -> Result<()> {
    let dir = tempdir()?;
    let created = new_vault(dir.path())?;
    let secret_value = "Zebulon-Quartermaine-7731";
    created.session.store().conn().execute(
        "INSERT INTO vault_meta (key, value) VALUES ('probe', ?1)",
        [secret_value],
    )?;
    // While the session is open the value sits in the WAL; after lock, in the database.
    assert_eq!(
        files_containing(dir.path(), secret_value.as_bytes())?,
        Vec::<PathBuf>::new()
    );
    drop(created);
    assert_eq!(
        files_containing(dir.path(), secret_value.as_bytes())?,
        Vec::<PathBuf>::new()
    );
    // The SQLite header is encrypted too: nothing says "SQLite format 3".
    assert!(files_containing(dir.path(), b"SQLite format 3")?.is_empty());
    Ok(())
}

#[test]
fn removing_a_user_rotates_the_key_and_the_old_key_stops_working() -> Result<()> {
    let dir = tempdir()?;
    let created = new_vault(dir.path())?;
    let recovery = created.recovery;
    let mut session = created.session;
    add_rep(&mut session, "sam")?;
    let old_key = Vault::open(dir.path())?.recover_data_key(&recovery)?;
    session.remove_user("sam", &mut |_| {})?;
    drop(session);

    let new_key = Vault::open(dir.path())?.recover_data_key(&recovery)?;
    assert_ne!(old_key.as_bytes(), new_key.as_bytes());
    assert!(matches!(
        Store::open(&VaultPaths::new(dir.path()).database, &old_key),
        Err(OpenFailure::WrongKey)
    ));
    let vault = Vault::open(dir.path())?;
    assert!(matches!(
        vault.unlock(&creds("sam", REP_PASSWORD)),
        Err(Error::WrongCredentials)
    ));
    assert_eq!(
        vault.unlock(&creds("olivia", OWNER_PASSWORD))?.user().name,
        "olivia"
    );
    Ok(())
}

/// Replays each phase boundary of a rotation by hand, as a crash would leave it.
#[test]
fn a_rotation_interrupted_after_sealing_the_new_key_still_opens_and_completes() -> Result<()> {
    let dir = tempdir()?;
    let mut session = new_vault(dir.path())?.session;
    add_rep(&mut session, "sam")?;
    let paths = session.paths.clone();
    // Phase 1 only: the pending set is on disk, the database still under the old key.
    let vault_id = session.vault_id;
    let new_key = DataKey::generate();
    update_slots(&paths, vault_id, &mut session.slots, |file| {
        file.pending = Some(file.current.rotated(vault_id, &new_key, |_| true)?);
        Ok(())
    })?;
    drop(session);

    let session = Vault::open(dir.path())?.unlock(&creds("sam", REP_PASSWORD))?;
    assert!(
        session.slots.pending.is_none(),
        "the rotation was completed at unlock"
    );
    assert_eq!(session.data_key.as_bytes(), new_key.as_bytes());
    Ok(())
}

#[test]
fn a_rotation_interrupted_after_rekeying_still_opens_and_promotes_the_new_slots() -> Result<()> {
    let dir = tempdir()?;
    let mut session = new_vault(dir.path())?.session;
    let paths = session.paths.clone();
    let vault_id = session.vault_id;
    let new_key = DataKey::generate();
    update_slots(&paths, vault_id, &mut session.slots, |file| {
        file.pending = Some(file.current.rotated(vault_id, &new_key, |_| true)?);
        Ok(())
    })?;
    session
        .store
        .rekey(&paths.database, &paths.rotation_staging, &new_key)?;
    drop(session);

    let session = Vault::open(dir.path())?.unlock(&creds("olivia", OWNER_PASSWORD))?;
    assert!(session.slots.pending.is_none());
    assert_eq!(session.data_key.as_bytes(), new_key.as_bytes());
    assert!(
        session
            .warnings()
            .iter()
            .any(|w| w.contains("interrupted key rotation"))
    );
    Ok(())
}

#[test]
fn a_removed_user_whose_rotation_never_ran_is_retired_at_the_next_unlock() -> Result<()> {
    let dir = tempdir()?;
    let mut session = new_vault(dir.path())?.session;
    add_rep(&mut session, "sam")?;
    // The removal committed, then the process died before the rotation began.
    session
        .store
        .conn()
        .execute("UPDATE users SET removed_at = 'now' WHERE name = 'sam'", [])?;
    drop(session);

    let session = Vault::open(dir.path())?.unlock(&creds("olivia", OWNER_PASSWORD))?;
    assert!(session.slots.current.user("sam").is_none());
    drop(session);
    assert!(matches!(
        Vault::open(dir.path())?.unlock(&creds("sam", REP_PASSWORD)),
        Err(Error::WrongCredentials)
    ));
    Ok(())
}

#[test]
fn rotation_is_refused_while_another_session_has_the_vault_open() -> Result<()> {
    let dir = tempdir()?;
    let mut session = new_vault(dir.path())?.session;
    add_rep(&mut session, "sam")?;
    let other = Vault::open(dir.path())?.unlock(&creds("sam", REP_PASSWORD))?;
    assert!(matches!(
        session.remove_user("sam", &mut |_| {}),
        Err(Error::VaultBusy)
    ));
    drop(other);
    session.remove_user("sam", &mut |_| {})?;
    Ok(())
}

#[test]
fn the_last_owner_cannot_be_removed_and_reps_cannot_manage_users() -> Result<()> {
    let dir = tempdir()?;
    let mut session = new_vault(dir.path())?.session;
    add_rep(&mut session, "sam")?;
    assert!(matches!(
        session.remove_user("olivia", &mut |_| {}),
        Err(Error::Invalid(_))
    ));
    drop(session);
    let mut rep = Vault::open(dir.path())?.unlock(&creds("sam", REP_PASSWORD))?;
    assert!(matches!(
        rep.remove_user("olivia", &mut |_| {}),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(add_rep(&mut rep, "eve"), Err(Error::Forbidden(_))));
    Ok(())
}

#[test]
fn a_database_from_another_vault_is_refused() -> Result<()> {
    let first = tempdir()?;
    let second = tempdir()?;
    drop(new_vault(first.path())?);
    drop(new_vault(second.path())?);
    std::fs::copy(
        second.path().join("vault.db"),
        first.path().join("vault.db"),
    )
    .map_err(Error::io("copy"))?;
    let result = Vault::open(first.path())?.unlock(&creds("olivia", OWNER_PASSWORD));
    assert!(
        matches!(result, Err(Error::DatabaseDamaged(_))),
        "{result:?}"
    );
    Ok(())
}
