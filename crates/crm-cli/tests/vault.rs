//! The vault through the real `crm` binary and real files: create, unlock, wrong and missing
//! credentials, how scripts pass passwords, key files, damaged files, password changes, who
//! may manage whom, removal with key rotation, rotations killed mid-way, and the recovery
//! identity opening the database with stock SQLCipher settings.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{OWNER_PASSWORD, Run, TestVault};

/// `crm --vault DIR ARGS` with a clean environment plus `env`, without starting it.
fn crm_command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crm"));
    command
        .arg("--vault")
        .arg(dir)
        .args(args)
        .env("STRONGROOM_KDF", "floor");
    for variable in [
        "STRONGROOM_USER",
        "STRONGROOM_PASSWORD",
        "CRM_PASSWORD",
        "STRONGROOM_KEY_FILE",
        "STRONGROOM_VAULT",
        "STRONGROOM_FAULT",
        "STRONGROOM_FAULT_SIGNAL",
    ] {
        command.env_remove(variable);
    }
    command.envs(env.iter().copied());
    command
}

/// Runs `crm --vault DIR ARGS` with `env` and `stdin` (passwords, one per line).
fn crm_in(dir: &Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
    let mut child = crm_command(dir, args, env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn crm");
    // crm may exit before reading (e.g. refusing early); a closed pipe is not a failure.
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    let output = child.wait_with_output().expect("wait crm");
    Run {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf8 path")
}

/// Whether the key-slot file on disk holds a pending set (a rotation under way).
fn rotation_pending(vault_dir: &Path) -> bool {
    let bytes = std::fs::read(vault_dir.join("keyslots.json")).expect("read key slots");
    let file: serde_json::Value = serde_json::from_slice(&bytes).expect("key slots are JSON");
    file.get("pending").is_some()
}

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

/// After an interrupted `crm user remove sam`: the owner still unlocks, sam no longer does, and
/// no committed user row is lost (sam's row stays, marked removed, once the rotation finishes).
fn assert_owner_opens_sam_is_refused_and_no_row_is_lost(vault: &TestVault, point: &str) {
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
        assert_owner_opens_sam_is_refused_and_no_row_is_lost(&vault, point);
    }
}

/// Kills a real `crm user remove` (SIGKILL) while it waits at each named point of a rotation
/// (`STRONGROOM_FAULT=pause:POINT`), so every kill lands exactly there; checks what it left on
/// disk, then that the vault opens for everyone remaining with every committed row.
#[test]
fn a_rotation_killed_at_each_named_point_leaves_a_vault_that_opens() {
    for (point, pending_left) in [
        ("rotation:begin", false),
        ("rotation:before-rekey", true),
        ("rotation:after-rekey", true),
    ] {
        let vault = TestVault::new();
        vault.add_user("sam", "Sales Representative", "sam-password-1");
        vault.add_user("rita", "Sales Representative", "rita-password-1");
        let reached = vault.root().join("reached");
        let fault = format!("pause:{point}");
        let mut child = crm_command(
            &vault.dir(),
            &["user", "remove", "sam"],
            &[
                ("STRONGROOM_USER", "olivia"),
                ("CRM_PASSWORD", OWNER_PASSWORD),
                ("STRONGROOM_FAULT", &fault),
                ("STRONGROOM_FAULT_SIGNAL", utf8(&reached)),
            ],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn crm");
        assert!(
            wait_for_signal(&mut child, &reached),
            "{point}: the rotation reached the point"
        );
        child.kill().expect("kill");
        let _ = child.wait();

        assert_eq!(
            rotation_pending(&vault.dir()),
            pending_left,
            "{point}: the kill landed where it was meant to"
        );
        vault
            .crm_as("rita", "rita-password-1", &["status"])
            .success();
        assert!(
            !rotation_pending(&vault.dir()),
            "{point}: the next unlock finished the rotation"
        );
        assert_owner_opens_sam_is_refused_and_no_row_is_lost(&vault, point);
    }
}

/// Waits until the child announces a fault point by creating `signal`; false if it exited
/// first.
fn wait_for_signal(child: &mut Child, signal: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        if signal.exists() {
            return true;
        }
        if matches!(child.try_wait(), Ok(Some(_))) {
            return signal.exists();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

/// Starts `crm user remove NAME` as the owner, announcing the start of its rotation in
/// `signal` (`STRONGROOM_FAULT=signal:rotation:begin`) without stopping there.
fn spawn_removal(vault: &TestVault, name: &str, signal: &Path) -> Child {
    crm_command(
        &vault.dir(),
        &["user", "remove", name],
        &[
            ("STRONGROOM_USER", "olivia"),
            ("CRM_PASSWORD", OWNER_PASSWORD),
            ("STRONGROOM_FAULT", "signal:rotation:begin"),
            ("STRONGROOM_FAULT_SIGNAL", utf8(signal)),
        ],
    )
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn crm")
}

/// Kills a real `crm user remove` at random moments of its rotation, many times. The kills are
/// timed from the moment the rotation starts (not from process start, which is mostly
/// Argon2), spread over the rotation's measured length, and the test checks that some of them
/// really landed mid-rotation (a pending set or `vault.db.rotating` left on disk). After each
/// kill the vault opens for every remaining user and every committed row is still there.
#[test]
fn rotations_killed_at_random_moments_never_lose_the_vault() {
    let vault = TestVault::new();
    vault.add_user("rita", "Sales Representative", "rita-password-1");
    // Time one full rotation, from its start to the end of the process.
    vault.add_user("probe", "Support", "probe-password-1");
    let probe_signal = vault.root().join("probe-started");
    let mut probe = spawn_removal(&vault, "probe", &probe_signal);
    assert!(wait_for_signal(&mut probe, &probe_signal));
    let started = Instant::now();
    assert!(probe.wait().expect("wait").success());
    let rotation = started.elapsed().as_micros().max(1) as u64;

    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let rounds = 24;
    let mut landed_mid_rotation = 0;
    for round in 0..rounds {
        let name = format!("leaver{round}");
        vault.add_user(&name, "Support", "leaver-password-1");
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_micros(seed % (rotation + rotation / 4));
        let signal = vault.root().join(format!("started-{round}"));
        let mut child = spawn_removal(&vault, &name, &signal);
        wait_for_signal(&mut child, &signal);
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        if rotation_pending(&vault.dir()) || vault.dir().join("vault.db.rotating").exists() {
            landed_mid_rotation += 1;
        }

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
    eprintln!("{landed_mid_rotation} of {rounds} kills landed mid-rotation");
    assert!(
        landed_mid_rotation > 0,
        "no kill landed mid-rotation in {rounds} rounds: the test would prove nothing"
    );
    let list = vault.crm_as("olivia", OWNER_PASSWORD, &["user", "list", "--json"]);
    list.success();
}

#[test]
fn scripts_pass_the_password_with_password_stdin_or_crm_password() {
    let vault = TestVault::new();
    let dir = vault.dir();
    // --password-stdin: the first line of standard input, even over CRM_PASSWORD.
    crm_in(
        &dir,
        &["--password-stdin", "--user", "olivia", "status"],
        &[("CRM_PASSWORD", "not-the-password")],
        &format!("{OWNER_PASSWORD}\n"),
    )
    .success();
    // CRM_PASSWORD, and STRONGROOM_PASSWORD as its older alias; CRM_PASSWORD wins.
    for env in [
        vec![("CRM_PASSWORD", OWNER_PASSWORD)],
        vec![("STRONGROOM_PASSWORD", OWNER_PASSWORD)],
        vec![
            ("CRM_PASSWORD", OWNER_PASSWORD),
            ("STRONGROOM_PASSWORD", "not-the-password"),
        ],
    ] {
        crm_in(&dir, &["--user", "olivia", "status"], &env, "").success();
    }
    // With CRM_PASSWORD for signing in, a new password still comes from standard input.
    crm_in(
        &dir,
        &[
            "--user", "olivia", "user", "add", "sam", "--role", "Support",
        ],
        &[("CRM_PASSWORD", OWNER_PASSWORD)],
        "sam-password-12\n",
    )
    .success();
    vault
        .crm_as("sam", "sam-password-12", &["status"])
        .success();
    let empty = crm_in(
        &dir,
        &["--password-stdin", "--user", "olivia", "status"],
        &[],
        "",
    );
    empty.failure();
    assert!(
        empty.stderr.contains("standard input is empty"),
        "{}",
        empty.stderr
    );

    let help = vault.crm(&["--help"]);
    help.success();
    for documented in [
        "--password-stdin",
        "CRM_PASSWORD",
        "STRONGROOM_PASSWORD",
        "--keyfile",
    ] {
        assert!(
            help.stdout.contains(documented),
            "--help names {documented}"
        );
    }
}

#[test]
fn json_init_without_recovery_out_carries_the_recovery_identity() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("vault");
    let init = crm_in(
        &dir,
        &["--json", "init", "--owner", "olivia"],
        &[],
        &format!("{OWNER_PASSWORD}\n"),
    );
    init.success();
    let answer = init.json();
    let identity = answer["recovery_identity"]
        .as_str()
        .expect("identity in the answer");
    assert!(identity.contains("AGE-SECRET-KEY-1"), "{identity}");
    assert!(answer["recovery_identity_file"].is_null());
    // What the answer carried is a working identity file.
    let saved = root.path().join("recovery.txt");
    std::fs::write(&saved, identity).expect("save identity");
    let key = crm_in(
        &dir,
        &["--json", "key", "show-data-key", "--identity", utf8(&saved)],
        &[],
        "",
    );
    key.success();
    assert_eq!(key.json()["data_key_hex"].as_str().map(str::len), Some(64));

    // With --recovery-out the identity goes to the file only.
    let other = root.path().join("other");
    let out_file = root.path().join("other-recovery.txt");
    let init = crm_in(
        &other,
        &[
            "--json",
            "init",
            "--owner",
            "olivia",
            "--recovery-out",
            utf8(&out_file),
        ],
        &[],
        &format!("{OWNER_PASSWORD}\n"),
    );
    init.success();
    assert!(init.json()["recovery_identity"].is_null());
    assert!(!init.stdout.contains("AGE-SECRET-KEY"));
    assert!(
        std::fs::read_to_string(&out_file)
            .expect("identity file")
            .contains("AGE-SECRET-KEY-1")
    );
}

/// Regression: the generated key file was written before the vault existed, so a failed
/// init left a file that made the rerun refuse.
#[test]
fn a_failed_init_leaves_no_generated_key_file_behind() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("vault");
    let key = root.path().join("usb.key");
    let args = [
        "init",
        "--owner",
        "olivia",
        "--generate-key-file",
        utf8(&key),
    ];
    let failed = crm_in(&dir, &args, &[], "too-short\n");
    failed.failure();
    assert!(failed.stderr.contains("at least"), "{}", failed.stderr);
    assert!(!key.exists(), "no key file for a vault that does not exist");
    crm_in(&dir, &args, &[], &format!("{OWNER_PASSWORD}\n")).success();
    assert!(key.exists());
    vault_status_with_key(&dir, &key).success();
}

fn vault_status_with_key(dir: &Path, key: &Path) -> Run {
    crm_in(
        dir,
        &["--user", "olivia", "--keyfile", utf8(key), "status"],
        &[("CRM_PASSWORD", OWNER_PASSWORD)],
        "",
    )
}

#[test]
fn generate_keyfile_writes_a_private_random_file_and_never_overwrites_one() {
    let vault = TestVault::new();
    let path = vault.root().join("sam.key");
    vault
        .crm(&["key", "generate-keyfile", utf8(&path)])
        .success();
    let bytes = std::fs::read(&path).expect("key file");
    assert_eq!(bytes.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "readable by its owner only");
    }
    let again = vault.crm(&["key", "generate-keyfile", utf8(&path)]);
    again.failure();
    assert_eq!(std::fs::read(&path).expect("key file"), bytes, "untouched");
    let second = vault.root().join("second.key");
    vault
        .crm(&["key", "generate-keyfile", utf8(&second)])
        .success();
    assert_ne!(std::fs::read(&second).expect("key file"), bytes, "random");

    // The generated file is a working key file.
    vault
        .crm_stdin_as(
            "olivia",
            &[
                "user",
                "add",
                "sam",
                "--role",
                "Sales Representative",
                "--new-key-file",
                utf8(&path),
            ],
            &format!("{OWNER_PASSWORD}\nsam-password-1\n"),
        )
        .success();
    vault
        .crm_as(
            "sam",
            "sam-password-1",
            &["--keyfile", utf8(&path), "status"],
        )
        .success();
    let without = vault.crm_as("sam", "sam-password-1", &["status"]);
    without.failure();
    assert!(
        without.stderr.contains("requires a key file"),
        "{}",
        without.stderr
    );
}

#[test]
fn any_existing_file_serves_as_a_key_file_and_only_that_exact_file() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("vault");
    let photo = root.path().join("holiday.jpg");
    let contents: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&photo, &contents).expect("write photo");
    crm_in(
        &dir,
        &[
            "init",
            "--owner",
            "olivia",
            "--owner-key-file",
            utf8(&photo),
        ],
        &[],
        &format!("{OWNER_PASSWORD}\n"),
    )
    .success();
    assert_eq!(std::fs::read(&photo).expect("photo"), contents, "only read");
    vault_status_with_key(&dir, &photo).success();

    let mut altered = contents.clone();
    altered[12_345] ^= 1;
    let copy = root.path().join("holiday-edited.jpg");
    std::fs::write(&copy, &altered).expect("write copy");
    let wrong = vault_status_with_key(&dir, &copy);
    assert_eq!(wrong.stderr.trim(), "error: wrong password or key file");

    let empty = root.path().join("empty.txt");
    std::fs::write(&empty, b"").expect("write empty");
    let refused = vault_status_with_key(&dir, &empty);
    refused.failure();
    assert!(refused.stderr.contains("empty"), "{}", refused.stderr);
}

/// Regression: `crm user passwd` without --new-key-file silently dropped the key file.
#[test]
fn passwd_keeps_the_key_file_unless_told_to_drop_it() {
    let vault = TestVault::with_key_file();
    let key = vault.key_file();
    vault
        .crm_stdin(
            &[
                "--user",
                "olivia",
                "--keyfile",
                utf8(&key),
                "user",
                "passwd",
            ],
            &format!("{OWNER_PASSWORD}\nsecond-password-2\n"),
        )
        .success();
    let without = vault.crm_as("olivia", "second-password-2", &["status"]);
    without.failure();
    assert!(
        without.stderr.contains("requires a key file"),
        "{}",
        without.stderr
    );
    vault
        .crm_as(
            "olivia",
            "second-password-2",
            &["--key-file", utf8(&key), "status"],
        )
        .success();

    vault
        .crm_stdin(
            &[
                "--user",
                "olivia",
                "--key-file",
                utf8(&key),
                "user",
                "passwd",
                "--no-key-file",
            ],
            "second-password-2\nthird-password-3\n",
        )
        .success();
    vault
        .crm_as("olivia", "third-password-3", &["status"])
        .success();
}

/// Regression: any Administrator could reset the Owner's password or remove an Owner.
#[test]
fn an_administrator_cannot_take_over_demote_or_remove_an_owner() {
    let vault = TestVault::new();
    vault.add_user("adam", "Administrator", "adam-password-1");
    vault.add_user("otto", "Owner", "otto-password-12");
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    let attempts: [(&[&str], &str); 3] = [
        (
            &["user", "passwd", "olivia"],
            "adam-password-1\ntaken-over-pass-1\n",
        ),
        (&["user", "remove", "otto"], "adam-password-1\n"),
        (
            &["user", "set-role", "otto", "Support"],
            "adam-password-1\n",
        ),
    ];
    for (args, stdin) in attempts {
        let attempt = vault.crm_stdin_as("adam", args, stdin);
        attempt.failure();
        assert!(
            attempt.stderr.contains("not permitted"),
            "{args:?}: {}",
            attempt.stderr
        );
    }
    vault
        .crm_as("olivia", OWNER_PASSWORD, &["status"])
        .success();
    let otto = vault.crm_as("otto", "otto-password-12", &["status", "--json"]);
    otto.success();
    assert_eq!(otto.json()["role"], "Owner");
    // Over users whose every right the Administrator holds, nothing changes.
    vault
        .crm_stdin_as(
            "adam",
            &["user", "passwd", "sam"],
            "adam-password-1\nsam-new-password-2\n",
        )
        .success();
    vault
        .crm_as("sam", "sam-new-password-2", &["status"])
        .success();
}

#[test]
fn a_role_can_require_a_key_file_and_its_users_without_one_must_get_one() {
    let vault = TestVault::new();
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    let edit = vault.crm_as(
        "olivia",
        OWNER_PASSWORD,
        &[
            "role",
            "edit",
            "Sales Representative",
            "--require-key-file",
            "true",
        ],
    );
    edit.success();
    assert!(
        edit.stderr.contains("sam"),
        "the owner is told: {}",
        edit.stderr
    );
    let shown = vault.crm_as(
        "olivia",
        OWNER_PASSWORD,
        &["role", "show", "Sales Representative"],
    );
    assert!(
        shown.stdout.contains("key file at sign-in: required"),
        "{}",
        shown.stdout
    );
    let shown = vault.crm_as(
        "olivia",
        OWNER_PASSWORD,
        &["role", "show", "Sales Representative", "--json"],
    );
    assert_eq!(shown.json()["requires_key_file"], true);

    let list = vault.crm_as("olivia", OWNER_PASSWORD, &["user", "list", "--json"]);
    let users = list.json();
    let sam = users
        .as_array()
        .expect("users")
        .iter()
        .find(|user| user["name"] == "sam")
        .cloned()
        .expect("sam listed");
    assert_eq!(sam["key_file_missing"], true);
    let text = vault.crm_as("olivia", OWNER_PASSWORD, &["user", "list"]);
    assert!(text.stdout.contains("MISSING"), "{}", text.stdout);

    let refused = vault.crm_as("sam", "sam-password-1", &["status"]);
    refused.failure();
    assert!(
        refused.stderr.contains("your role requires a key file"),
        "{}",
        refused.stderr
    );
    let roles = vault.crm_as("olivia", OWNER_PASSWORD, &["role", "list", "--json"]);
    let rep = roles
        .json()
        .as_array()
        .expect("roles")
        .iter()
        .find(|role| role["name"] == "Sales Representative")
        .cloned()
        .expect("role listed");
    assert_eq!(rep["requires_key_file"], true);

    // The owner gives sam a key file; sam signs in with it.
    let key = vault.root().join("sam.key");
    vault
        .crm(&["key", "generate-keyfile", utf8(&key)])
        .success();
    vault
        .crm_stdin_as(
            "olivia",
            &["user", "passwd", "sam", "--new-key-file", utf8(&key)],
            &format!("{OWNER_PASSWORD}\nsam-password-2\n"),
        )
        .success();
    vault
        .crm_as(
            "sam",
            "sam-password-2",
            &["--keyfile", utf8(&key), "status"],
        )
        .success();
    // A new Sales Representative needs a key file from the start.
    let no_key = vault.crm_stdin_as(
        "olivia",
        &["user", "add", "rex", "--role", "Sales Representative"],
        &format!("{OWNER_PASSWORD}\nrex-password-12\n"),
    );
    no_key.failure();
    assert!(
        no_key.stderr.contains("requires a key file"),
        "{}",
        no_key.stderr
    );
}

/// A restore gives the new owner a password-only slot; a key-file requirement on their role
/// would lock the restored vault's only sign-in out, so the restore lifts it and records that.
#[test]
fn a_restore_lifts_a_key_file_requirement_that_would_lock_out_its_new_owner() {
    let vault = TestVault::with_key_file();
    let key = vault.key_file();
    let as_owner = |args: &[&str]| {
        let mut full = vec!["--key-file", utf8(&key)];
        full.extend_from_slice(args);
        vault.crm_as("olivia", OWNER_PASSWORD, &full)
    };
    as_owner(&["role", "edit", "Owner", "--require-key-file", "true"]).success();
    let destination = vault.root().join("backups");
    std::fs::create_dir_all(&destination).expect("mkdir");
    let made = as_owner(&["backup", "now", "--json", "--to", utf8(&destination)]);
    made.success();
    let backup = made.json()[0]["path"].as_str().expect("path").to_owned();

    let restored = vault.root().join("restored");
    vault
        .crm_stdin(
            &[
                "backup",
                "restore",
                &backup,
                "--identity",
                utf8(&vault.recovery_file()),
                "--to",
                utf8(&restored),
            ],
            "restored-owner-password-1\n",
        )
        .success();
    let signed_in = [("CRM_PASSWORD", "restored-owner-password-1")];
    crm_in(&restored, &["--user", "olivia", "status"], &signed_in, "").success();
    let entries = crm_in(
        &restored,
        &[
            "--user", "olivia", "--json", "audit", "list", "--action", "restore",
        ],
        &signed_in,
        "",
    );
    entries.success();
    assert_eq!(
        entries.json()[0]["detail"]["key_file_requirement_lifted_for_role"],
        "Owner"
    );
}
