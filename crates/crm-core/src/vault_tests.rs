//! Vault behaviour on real files: creation, unlock, rotation phases, plaintext on disk.

use std::fs::OpenOptions;

use super::*;
use std::time::Duration;

use crate::keyslot::KdfStrength;
use crate::throttle::FailureLog;

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
        Store::open(&VaultPaths::new(dir.path()).database, &old_key, MIGRATIONS),
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
        matches!(result, Err(Error::DatabaseDamaged { .. })),
        "{result:?}"
    );
    Ok(())
}

fn key_file(dir: &Path, name: &str, contents: &[u8]) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, contents).map_err(Error::io("writing a key file"))?;
    Ok(path)
}

fn creds_with_key(user: &str, password: &str, key: &Path) -> Result<Credentials> {
    Ok(Credentials {
        user: user.into(),
        password: Password::new(password),
        key_file: Some(KeyFileDigest::from_file(key)?),
    })
}

/// Regression: add_user, change_password and reset_password changed only the current slots,
/// so promoting a pending rotation undid them (a new user locked out, an old password working
/// again).
#[test]
fn slot_edits_made_while_a_rotation_is_pending_survive_its_completion() -> Result<()> {
    let dir = tempdir()?;
    let mut owner = new_vault(dir.path())?.session;
    add_rep(&mut owner, "sam")?;
    add_rep(&mut owner, "rita")?;
    // Rita keeps the vault open, so the owner's next unlock cannot finish the rotation.
    let rita = Vault::open(dir.path())?.unlock(&creds("rita", REP_PASSWORD))?;
    // A rotation killed after its first phase: the pending set on disk, the database still
    // under the current key.
    let vault_id = owner.vault_id;
    let next_key = DataKey::generate();
    let paths = owner.paths.clone();
    update_slots(&paths, vault_id, &mut owner.slots, |file| {
        file.pending = Some(file.current.rotated(vault_id, &next_key, |_| true)?);
        Ok(())
    })?;
    drop(owner);

    let mut owner = Vault::open(dir.path())?.unlock(&creds("olivia", OWNER_PASSWORD))?;
    assert!(owner.slots.pending.is_some(), "the rotation waits for rita");
    owner.set_kdf_strength(KdfStrength::Floor);
    add_rep(&mut owner, "newbie")?;
    owner.reset_password("sam", Password::new("sam-new-password"), None)?;
    owner.change_password(
        &creds("olivia", OWNER_PASSWORD),
        Password::new("owner-new-password"),
        None,
    )?;
    drop(owner);
    drop(rita);

    // The next unlock finishes the rotation by promoting the pending set.
    let session = Vault::open(dir.path())?.unlock(&creds("rita", REP_PASSWORD))?;
    assert!(session.slots.pending.is_none());
    assert_eq!(session.data_key.as_bytes(), next_key.as_bytes());
    drop(session);

    let vault = Vault::open(dir.path())?;
    vault.unlock(&creds("newbie", REP_PASSWORD))?;
    vault.unlock(&creds("sam", "sam-new-password"))?;
    vault.unlock(&creds("olivia", "owner-new-password"))?;
    for (user, old_password) in [("sam", REP_PASSWORD), ("olivia", OWNER_PASSWORD)] {
        assert!(
            matches!(
                vault.unlock(&creds(user, old_password)),
                Err(Error::WrongCredentials)
            ),
            "{user}'s old password stays retired"
        );
    }
    Ok(())
}

/// Regression: a password change without a new key file silently dropped the requirement.
#[test]
fn a_password_change_keeps_the_key_file_unless_explicitly_removed() -> Result<()> {
    let dir = tempdir()?;
    let key = key_file(dir.path(), "olivia.key", b"olivia's usb stick")?;
    let vault_dir = dir.path().join("vault");
    let mut session = Vault::create(
        &vault_dir,
        NewVault {
            owner: "olivia".into(),
            password: Password::new(OWNER_PASSWORD),
            key_file: Some(KeyFileDigest::from_file(&key)?),
            kdf: KdfStrength::Floor,
        },
    )?
    .session;
    session.set_kdf_strength(KdfStrength::Floor);
    session.change_password(
        &creds_with_key("olivia", OWNER_PASSWORD, &key)?,
        Password::new("second-password-2"),
        None,
    )?;
    drop(session);
    let vault = Vault::open(&vault_dir)?;
    assert!(matches!(
        vault.unlock(&creds("olivia", "second-password-2")),
        Err(Error::KeyFileRequired)
    ));
    let mut session = vault.unlock(&creds_with_key("olivia", "second-password-2", &key)?)?;
    session.set_kdf_strength(KdfStrength::Floor);

    session.change_password(
        &creds_with_key("olivia", "second-password-2", &key)?,
        Password::new("third-password-3"),
        KeyFileChange::Remove,
    )?;
    drop(session);
    Vault::open(&vault_dir)?.unlock(&creds("olivia", "third-password-3"))?;
    Ok(())
}

#[test]
fn a_reset_never_drops_a_key_file_requirement_by_omission() -> Result<()> {
    let dir = tempdir()?;
    let key = key_file(dir.path(), "sam.key", b"sam's usb stick")?;
    let vault_dir = dir.path().join("vault");
    let mut owner = new_vault(&vault_dir)?.session;
    owner.set_kdf_strength(KdfStrength::Floor);
    owner.add_user(NewUser {
        name: "sam".into(),
        role: "Sales Representative".into(),
        password: Password::new(REP_PASSWORD),
        key_file: Some(KeyFileDigest::from_file(&key)?),
    })?;
    assert!(matches!(
        owner.reset_password("sam", Password::new("sam-new-password"), None),
        Err(Error::Invalid(_))
    ));
    owner.reset_password(
        "sam",
        Password::new("sam-new-password"),
        Some(KeyFileDigest::from_file(&key)?),
    )?;
    let vault = Vault::open(&vault_dir)?;
    assert!(matches!(
        vault.unlock(&creds("sam", "sam-new-password")),
        Err(Error::KeyFileRequired)
    ));
    drop(vault.unlock(&creds_with_key("sam", "sam-new-password", &key)?)?);
    owner.reset_password(
        "sam",
        Password::new("sam-third-password"),
        KeyFileChange::Remove,
    )?;
    drop(Vault::open(&vault_dir)?.unlock(&creds("sam", "sam-third-password"))?);
    Ok(())
}

/// A wrong current password in a password change counts like a failed unlock.
#[test]
fn a_password_change_with_a_wrong_current_password_is_throttled_like_an_unlock() -> Result<()> {
    let dir = tempdir()?;
    let mut session = new_vault(dir.path())?.session;
    for _ in 0..crate::throttle::FREE_ATTEMPTS {
        assert!(matches!(
            session.change_password(
                &creds("olivia", "a-wrong-guess-1"),
                Password::new("new-password-123"),
                None
            ),
            Err(Error::WrongCredentials)
        ));
    }
    assert!(matches!(
        session.change_password(
            &creds("olivia", OWNER_PASSWORD),
            Password::new("new-password-123"),
            None
        ),
        Err(Error::Throttled { .. })
    ));
    let log = FailureLog::load(&session.paths.failures);
    assert_eq!(
        log.pending_events().len(),
        crate::throttle::FREE_ATTEMPTS as usize,
        "each failure waits for the audit trail"
    );
    Ok(())
}

#[test]
fn recovering_the_data_key_waits_while_a_rotation_holds_the_vault() -> Result<()> {
    let dir = tempdir()?;
    let created = new_vault(dir.path())?;
    let recovery = created.recovery;
    drop(created.session);
    let vault = Vault::open(dir.path())?;
    // Stand in for a rotation: hold vault.lock exclusively.
    let rotation = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&vault.paths.lock)
        .map_err(Error::io("opening the lock"))?;
    rotation.lock().map_err(Error::io("locking"))?;
    let order = std::sync::Mutex::new(Vec::new());
    let recovered = std::thread::scope(|scope| {
        let recovering = scope.spawn(|| {
            let key = vault.recover_data_key(&recovery);
            order.lock().map(|mut order| order.push("recovered")).ok();
            key
        });
        // Long enough for an unlocked read to finish first; the order proves the wait.
        std::thread::sleep(Duration::from_millis(300));
        order.lock().map(|mut order| order.push("released")).ok();
        rotation.unlock().map_err(Error::io("unlocking"))?;
        recovering
            .join()
            .map_err(|_| Error::Invalid("the recovering thread panicked".into()))?
    })?;
    assert_eq!(
        *order
            .lock()
            .map_err(|_| Error::Invalid("poisoned".into()))?,
        ["released", "recovered"]
    );
    assert!(
        Store::open(&vault.paths.database, &recovered, MIGRATIONS).is_ok(),
        "the recovered key opens the database"
    );
    Ok(())
}

#[test]
fn a_role_that_requires_a_key_file_refuses_sign_ins_without_one() -> Result<()> {
    let dir = tempdir()?;
    let key = key_file(dir.path(), "kim.key", b"kim's usb stick")?;
    let vault_dir = dir.path().join("vault");
    let mut owner = new_vault(&vault_dir)?.session;
    add_rep(&mut owner, "sam")?;
    owner.add_user(NewUser {
        name: "kim".into(),
        role: "Sales Representative".into(),
        password: Password::new(REP_PASSWORD),
        key_file: Some(KeyFileDigest::from_file(&key)?),
    })?;

    let missing = owner.set_role_requires_key_file("Sales Representative", true)?;
    assert_eq!(missing, ["sam"], "users without a key file are named");
    assert!(owner.role_requires_key_file("Sales Representative")?);
    let users = owner.list_users()?;
    let listed = |name: &str| users.iter().find(|user| user.name == name).cloned();
    assert_eq!(listed("sam").map(|user| user.key_file_missing), Some(true));
    assert_eq!(listed("kim").map(|user| user.key_file_missing), Some(false));
    let changes = owner.audit_list(&crate::audit::AuditFilter {
        actions: vec![AuditAction::PolicyChanged],
        ..Default::default()
    })?;
    assert!(
        changes
            .iter()
            .any(|entry| entry.field.as_deref() == Some("requires_key_file")
                && entry.new_value.as_deref() == Some("true")),
        "the change is audited"
    );

    let vault = Vault::open(&vault_dir)?;
    assert!(matches!(
        vault.unlock(&creds("sam", REP_PASSWORD)),
        Err(Error::RoleRequiresKeyFile)
    ));
    drop(vault.unlock(&creds_with_key("kim", REP_PASSWORD, &key)?)?);

    // No new password for the role without a key file.
    assert!(matches!(
        add_rep(&mut owner, "newrep"),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        owner.reset_password("sam", Password::new(REP_PASSWORD), None),
        Err(Error::Invalid(_))
    ));
    // An administrator gives sam a key file: sam is compliant and signs in with it.
    owner.reset_password(
        "sam",
        Password::new(REP_PASSWORD),
        Some(KeyFileDigest::from_file(&key)?),
    )?;
    drop(Vault::open(&vault_dir)?.unlock(&creds_with_key("sam", REP_PASSWORD, &key)?)?);

    // Nobody locks themselves out, and lifting the requirement lets password-only slots in.
    assert!(matches!(
        owner.set_role_requires_key_file(crate::policy::OWNER_ROLE, true),
        Err(Error::Invalid(_))
    ));
    owner.set_role_requires_key_file("Sales Representative", false)?;
    add_rep(&mut owner, "newrep")?;
    Ok(())
}

#[test]
fn only_someone_holding_every_right_of_a_role_may_change_its_key_file_policy() -> Result<()> {
    let dir = tempdir()?;
    let mut owner = new_vault(dir.path())?.session;
    owner.set_kdf_strength(KdfStrength::Floor);
    owner.add_user(NewUser {
        name: "adam".into(),
        role: "Administrator".into(),
        password: Password::new(REP_PASSWORD),
        key_file: None,
    })?;
    add_rep(&mut owner, "sam")?;
    drop(owner);
    let vault = Vault::open(dir.path())?;
    let mut admin = vault.unlock(&creds("adam", REP_PASSWORD))?;
    assert!(matches!(
        admin.set_role_requires_key_file(crate::policy::OWNER_ROLE, false),
        Err(Error::Forbidden(_))
    ));
    admin.set_role_requires_key_file("Support", true)?;
    drop(admin);
    let mut rep = vault.unlock(&creds("sam", REP_PASSWORD))?;
    assert!(matches!(
        rep.set_role_requires_key_file("Support", false),
        Err(Error::Forbidden(_))
    ));
    Ok(())
}

#[test]
fn an_administrator_cannot_reset_remove_or_re_role_an_owner() -> Result<()> {
    let dir = tempdir()?;
    let mut owner = new_vault(dir.path())?.session;
    owner.set_kdf_strength(KdfStrength::Floor);
    for (name, role) in [("adam", "Administrator"), ("otto", policy::OWNER_ROLE)] {
        owner.add_user(NewUser {
            name: name.into(),
            role: role.into(),
            password: Password::new(REP_PASSWORD),
            key_file: None,
        })?;
    }
    add_rep(&mut owner, "sam")?;
    drop(owner);
    let mut admin = Vault::open(dir.path())?.unlock(&creds("adam", REP_PASSWORD))?;
    admin.set_kdf_strength(KdfStrength::Floor);
    assert!(matches!(
        admin.reset_password("olivia", Password::new("taken-over-123"), None),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        admin.remove_user("otto", &mut |_| {}),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        admin.set_user_role("otto", "Support"),
        Err(Error::Forbidden(_))
    ));
    // Within their authority nothing changes.
    admin.reset_password("sam", Password::new("sam-new-password"), None)?;
    drop(admin);
    drop(Vault::open(dir.path())?.unlock(&creds("olivia", OWNER_PASSWORD))?);
    Ok(())
}
