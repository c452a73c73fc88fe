//! The vault through the real `crm` binary and real files: create, unlock, wrong and missing
//! credentials, damaged files, password changes, removal with key rotation, rotations killed
//! mid-way, and the recovery identity opening the database with stock SQLCipher settings.

mod common;

use std::time::{Duration, Instant};

use common::{OWNER_PASSWORD, TestVault};

#[test]
fn init_creates_a_vault_that_unlocks_as_the_owner() {
    let vault = TestVault::new();
    let status = vault.crm_as("olivia", OWNER_PASSWORD, &["status", "--json"]);
    status.success();
    let json = status.json();
    assert_eq!(json["user"], "olivia");
    assert_eq!(json["role"], "Owner");
    let identity = std::fs::read_to_string(vault.recovery_file()).expect("identity file");
    assert!(identity.contains("AGE-SECRET-KEY-1"));
}

#[test]
fn init_refuses_to_overwrite_an_existing_vault() {
    let vault = TestVault::new();
    let again = vault.crm_stdin(&["init", "--owner", "mallory"], "another-password-1\n");
    again.failure();
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
}

#[test]
fn a_wrong_password_gets_one_coarse_message_and_a_nonzero_exit() {
    let vault = TestVault::new();
    let wrong = vault.crm_as("olivia", "not-the-password", &["status"]);
    wrong.failure();
    assert_eq!(wrong.stderr.trim(), "error: wrong password or key file");
    let unknown = vault.crm_as("nobody", OWNER_PASSWORD, &["status"]);
    assert_eq!(unknown.stderr.trim(), "error: wrong password or key file");
}

#[test]
fn a_slot_with_a_key_file_needs_exactly_that_file() {
    let vault = TestVault::with_key_file();
    let key = vault.key_file();

    let missing = vault.crm_as("olivia", OWNER_PASSWORD, &["status"]);
    missing.failure();
    assert!(
        missing.stderr.contains("requires a key file"),
        "{}",
        missing.stderr
    );

    let other_key = vault.dir().join("../other.key");
    std::fs::write(&other_key, b"some other file on the stick").expect("write");
    let wrong = vault.crm_as(
        "olivia",
        OWNER_PASSWORD,
        &["--key-file", other_key.to_str().expect("utf8"), "status"],
    );
    assert_eq!(wrong.stderr.trim(), "error: wrong password or key file");

    let unreadable = vault.crm_as(
        "olivia",
        OWNER_PASSWORD,
        &["--key-file", "/nonexistent/usb/key", "status"],
    );
    unreadable.failure();
    assert!(
        unreadable.stderr.contains("key file"),
        "{}",
        unreadable.stderr
    );

    vault
        .crm_as(
            "olivia",
            OWNER_PASSWORD,
            &["--key-file", key.to_str().expect("utf8"), "status"],
        )
        .success();
}

#[test]
fn five_failures_slow_down_further_attempts_even_with_the_right_password() {
    let vault = TestVault::new();
    for _ in 0..5 {
        vault
            .crm_as("olivia", "guess-password-1", &["status"])
            .failure();
    }
    let throttled = vault.crm_as("olivia", OWNER_PASSWORD, &["status"]);
    throttled.failure();
    assert!(
        throttled.stderr.contains("too many failed unlock attempts"),
        "{}",
        throttled.stderr
    );
    std::thread::sleep(Duration::from_millis(1100));
    let status = vault.crm_as("olivia", OWNER_PASSWORD, &["status", "--json"]);
    status.success();
    assert_eq!(status.json()["failed_unlocks_since_last"], 5);
}

#[test]
fn a_corrupted_primary_key_slot_file_falls_back_to_its_copy_with_a_warning() {
    let vault = TestVault::new();
    let primary = vault.dir().join("keyslots.json");
    let mut bytes = std::fs::read(&primary).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&primary, &bytes).expect("write");
    let status = vault.crm_as("olivia", OWNER_PASSWORD, &["status"]);
    status.success();
    assert!(status.stderr.contains("warning"), "{}", status.stderr);
    // The unlock repaired the damaged copy from the good one.
    let again = vault.crm_as("olivia", OWNER_PASSWORD, &["status"]);
    again.success();
    assert!(!again.stderr.contains("warning"), "{}", again.stderr);
}

#[test]
fn truncated_key_slot_files_give_a_clear_error_not_a_crash() {
    let vault = TestVault::new();
    for name in ["keyslots.json", "keyslots.json.bak"] {
        let path = vault.dir().join(name);
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() / 3]).expect("truncate");
    }
    let status = vault.crm_as("olivia", OWNER_PASSWORD, &["status"]);
    status.failure();
    assert!(
        status.stderr.contains("key-slot file is damaged"),
        "{}",
        status.stderr
    );
}

#[test]
fn a_truncated_database_is_reported_as_damaged() {
    let vault = TestVault::new();
    let database = vault.dir().join("vault.db");
    let bytes = std::fs::read(&database).expect("read");
    std::fs::write(&database, &bytes[..bytes.len() - 1500]).expect("truncate");
    let status = vault.crm_as("olivia", OWNER_PASSWORD, &["status"]);
    status.failure();
    assert!(status.stderr.contains("damaged"), "{}", status.stderr);
    assert!(!status.stderr.contains("panicked"));
}

#[test]
fn changing_a_password_reseals_only_that_users_slot() {
    let vault = TestVault::new();
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    let before = vault.slot_json("sam");
    vault
        .crm_stdin_as(
            "olivia",
            &["user", "passwd"],
            &format!("{OWNER_PASSWORD}\nnew-owner-password-2\n"),
        )
        .success();
    assert_eq!(vault.slot_json("sam"), before, "other slots are untouched");
    vault
        .crm_as("olivia", OWNER_PASSWORD, &["status"])
        .failure();
    vault
        .crm_as("olivia", "new-owner-password-2", &["status"])
        .success();
    vault.crm_as("sam", "sam-password-1", &["status"]).success();
}

#[test]
fn the_owner_can_reset_a_forgotten_password() {
    let vault = TestVault::new();
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    vault
        .crm_stdin_as(
            "olivia",
            &["user", "passwd", "sam"],
            &format!("{OWNER_PASSWORD}\nsam-new-password-2\n"),
        )
        .success();
    vault.crm_as("sam", "sam-password-1", &["status"]).failure();
    vault
        .crm_as("sam", "sam-new-password-2", &["status"])
        .success();
}

#[test]
fn removing_a_user_rotates_the_data_key() {
    let vault = TestVault::new();
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    let old_key = vault.data_key();
    let removal = vault.crm_as("olivia", OWNER_PASSWORD, &["user", "remove", "sam"]);
    removal.success();
    assert!(
        removal.stderr.contains("re-encrypting"),
        "progress is shown: {}",
        removal.stderr
    );
    let new_key = vault.data_key();
    assert_ne!(old_key, new_key);
    assert!(
        vault.stock_sqlcipher_user_names(&old_key).is_err(),
        "a copied old key no longer opens the vault"
    );
    assert_eq!(
        vault.stock_sqlcipher_user_names(&new_key).expect("opens"),
        ["olivia", "sam"]
    );
    let sam = vault.crm_as("sam", "sam-password-1", &["status"]);
    assert_eq!(sam.stderr.trim(), "error: wrong password or key file");
    let list = vault.crm_as("olivia", OWNER_PASSWORD, &["user", "list", "--json"]);
    assert_eq!(list.json().as_array().map(Vec::len), Some(1));
}

#[test]
fn a_sales_rep_cannot_add_or_remove_users() {
    let vault = TestVault::new();
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    let attempt = vault.crm_stdin_as(
        "sam",
        &["user", "add", "eve", "--role", "Owner"],
        "sam-password-1\neve-password-123\n",
    );
    attempt.failure();
    assert!(
        attempt.stderr.contains("not permitted"),
        "{}",
        attempt.stderr
    );
}

#[test]
fn the_recovery_identity_yields_a_key_that_opens_the_database_with_stock_sqlcipher() {
    let vault = TestVault::new();
    let key = vault.data_key();
    assert_eq!(key.len(), 64);
    assert_eq!(
        vault.stock_sqlcipher_user_names(&key).expect("opens"),
        ["olivia"]
    );
    let wrong_identity = vault.dir().join("../wrong-identity.txt");
    std::fs::write(&wrong_identity, "AGE-SECRET-KEY-1NOTAKEY\n").expect("write");
    let refused = vault.crm(&[
        "key",
        "show-data-key",
        "--identity",
        wrong_identity.to_str().expect("utf8"),
    ]);
    refused.failure();
    assert!(
        refused.stderr.contains("recovery identity"),
        "{}",
        refused.stderr
    );
}

/// Crash points inside the rotation, hit deterministically.
#[test]
fn a_rotation_aborted_at_each_crash_point_leaves_a_vault_that_opens() {
    for point in ["rotation:before-rekey", "rotation:after-rekey"] {
        let vault = TestVault::new();
        vault.add_user("sam", "Sales Representative", "sam-password-1");
        vault.add_user("rita", "Sales Representative", "rita-password-1");
        let crashed = vault.crm_env(
            &["user", "remove", "sam"],
            &[
                ("STRONGROOM_USER", "olivia"),
                ("STRONGROOM_PASSWORD", OWNER_PASSWORD),
                ("STRONGROOM_FAULT", point),
            ],
        );
        assert!(
            !crashed.status.success(),
            "{point}: the process was aborted"
        );
        vault
            .crm_as("rita", "rita-password-1", &["status"])
            .success();
        vault
            .crm_as("olivia", OWNER_PASSWORD, &["status"])
            .success();
        let sam = vault.crm_as("sam", "sam-password-1", &["status"]);
        assert!(
            sam.stderr.contains("wrong password") || sam.stderr.contains("removed"),
            "{point}: {}",
            sam.stderr
        );
        let names = vault
            .stock_sqlcipher_user_names(&vault.data_key())
            .expect("opens");
        assert_eq!(
            names,
            ["olivia", "rita", "sam"],
            "{point}: no committed row lost"
        );
    }
}

/// Kills a real `crm user remove` at random moments, many times. After each kill the vault
/// opens for every remaining user and every committed row is still there.
#[test]
fn rotations_killed_at_random_moments_never_lose_the_vault() {
    let vault = TestVault::new();
    vault.add_user("rita", "Sales Representative", "rita-password-1");
    // Time one full removal to spread the kills over its whole length.
    vault.add_user("probe", "Support", "probe-password-1");
    let started = Instant::now();
    vault
        .crm_as("olivia", OWNER_PASSWORD, &["user", "remove", "probe"])
        .success();
    let full = started.elapsed().as_micros().max(1) as u64;

    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let rounds = 24;
    for round in 0..rounds {
        let name = format!("leaver{round}");
        vault.add_user(&name, "Support", "leaver-password-1");
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_micros(seed % (full + full / 4));
        let mut child = vault.spawn_as("olivia", OWNER_PASSWORD, &["user", "remove", &name]);
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();

        vault
            .crm_as("rita", "rita-password-1", &["status"])
            .success();
        let names = vault
            .stock_sqlcipher_user_names(&vault.data_key())
            .expect("opens");
        assert!(names.contains(&"olivia".to_owned()) && names.contains(&"rita".to_owned()));
        assert_eq!(
            names.iter().filter(|n| n.starts_with("leaver")).count(),
            round + 1,
            "round {round}: every committed user row survives"
        );
    }
    let list = vault.crm_as("olivia", OWNER_PASSWORD, &["user", "list", "--json"]);
    list.success();
}
