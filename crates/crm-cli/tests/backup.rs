//! Backups through the real `crm` binary and real files: backup → destroy → restore gives the
//! same data; a flipped byte is caught and named; killed backups never list as good; missing
//! or full destinations fail clearly with an alert; nothing readable in the backup files; the
//! backup opens with stock SQLCipher given the key unsealed by the recovery identity; retention,
//! drills, and restore refusing an existing path.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{OWNER_PASSWORD, Run, TestVault};

const NEW_OWNER_PASSWORD: &str = "restored-owner-password-1";

fn owner(vault: &TestVault, args: &[&str]) -> Run {
    vault.crm_as("olivia", OWNER_PASSWORD, args)
}

fn destination(vault: &TestVault) -> PathBuf {
    let dir = vault.root().join("backups");
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

fn backup_now(vault: &TestVault, dest: &Path) -> serde_json::Value {
    let run = owner(vault, &["backup", "now", "--json", "--to", text(dest)]);
    run.success();
    run.json()[0].clone()
}

fn text(path: &Path) -> &str {
    path.to_str().expect("utf8 path")
}

fn list(vault: &TestVault, dest: &Path) -> Vec<serde_json::Value> {
    let run = owner(vault, &["backup", "list", "--json", "--dir", text(dest)]);
    run.success();
    run.json().as_array().expect("array").clone()
}

fn restore(vault: &TestVault, backup: &Path, to: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "backup",
        "restore",
        text(backup),
        "--identity",
        text(&vault.recovery_file()).to_owned().leak(),
        "--to",
        text(to),
    ];
    args.extend_from_slice(extra);
    vault.crm_stdin(&args, &format!("{NEW_OWNER_PASSWORD}\n"))
}

/// Runs `crm` as olivia against another vault directory (a restored one).
fn crm_at(dir: &Path, password: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_crm"))
        .arg("--vault")
        .arg(dir)
        .args(args)
        .env("STRONGROOM_KDF", "floor")
        .env("STRONGROOM_USER", "olivia")
        .env("STRONGROOM_PASSWORD", password)
        .env_remove("STRONGROOM_KEY_FILE")
        .env_remove("STRONGROOM_VAULT")
        .env_remove("STRONGROOM_FAULT")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run crm")
}

fn user_list(_vault: &TestVault, dir: &Path, password: &str) -> serde_json::Value {
    let output = crm_at(dir, password, &["user", "list", "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut users: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    for user in users.as_array_mut().expect("array") {
        // Unlock times change with every unlock; everything else must come back identical.
        user.as_object_mut()
            .expect("object")
            .remove("last_unlock_at");
    }
    users
}

#[test]
fn backup_then_destroy_the_vault_then_restore_gives_identical_data() {
    let vault = TestVault::new();
    vault.add_user("bob", "Sales Representative", "bob-password-12");
    vault.add_user("carol", "Auditor", "carol-password-1");
    let before = user_list(&vault, &vault.dir(), OWNER_PASSWORD);
    let dest = destination(&vault);
    let made = backup_now(&vault, &dest);
    assert_eq!(made["state"], "verified");
    let backup = PathBuf::from(made["path"].as_str().expect("path"));
    let old_recipient = vault.slot_json("olivia")["recipient"].clone();

    std::fs::remove_dir_all(vault.dir()).expect("destroy the vault");
    let restored = vault.root().join("restored");
    let run = restore(&vault, &backup, &restored, &["--json"]);
    run.success();
    assert!(
        run.stderr.contains("[5/5] restored") || run.stderr.is_empty(),
        "{}",
        run.stderr
    );
    let json = run.json();
    // A new recovery identity (see docs/backup-format.md); not the user slot's either.
    assert!(
        json["recovery_recipient"]
            .as_str()
            .is_some_and(|r| r.starts_with("age1"))
    );
    assert_ne!(json["recovery_recipient"], old_recipient);

    let after = user_list(&vault, &restored, NEW_OWNER_PASSWORD);
    assert_eq!(before, after);
    // The old password does not open the restored vault: it has a new data key and slot.
    assert!(
        !crm_at(&restored, OWNER_PASSWORD, &["status"])
            .status
            .success()
    );
    // The restored audit trail continues the original chain and verifies.
    let verified = crm_at(&restored, NEW_OWNER_PASSWORD, &["audit", "verify"]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
}

#[test]
fn restore_refuses_an_existing_path_unless_told_to_move_it_aside() {
    let vault = TestVault::new();
    let dest = destination(&vault);
    let backup = PathBuf::from(
        backup_now(&vault, &dest)["path"]
            .as_str()
            .expect("path")
            .to_owned(),
    );
    let refused = restore(&vault, &backup, &vault.dir(), &[]);
    refused.failure();
    assert!(
        refused.stderr.contains("--move-aside"),
        "{}",
        refused.stderr
    );
    owner(&vault, &["status"]).success();

    let moved = restore(&vault, &backup, &vault.dir(), &["--move-aside", "--json"]);
    moved.success();
    let aside = PathBuf::from(moved.json()["moved_aside"].as_str().expect("aside"));
    assert!(
        aside.join("vault.db").is_file(),
        "the old vault is kept beside"
    );
    assert!(crm_at(&aside, OWNER_PASSWORD, &["status"]).status.success());
    vault
        .crm_as("olivia", NEW_OWNER_PASSWORD, &["status"])
        .success();
}

fn flip_byte(path: &Path, offset_from_middle: i64) {
    let mut bytes = std::fs::read(path).expect("read");
    let at = (bytes.len() as i64 / 2 + offset_from_middle) as usize;
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn one_flipped_byte_fails_verification_and_names_the_file() {
    let vault = TestVault::new();
    let dest = destination(&vault);
    let first = backup_now(&vault, &dest);
    let second = backup_now(&vault, &dest);
    let first_dir = PathBuf::from(first["path"].as_str().expect("path"));
    let second_dir = PathBuf::from(second["path"].as_str().expect("path"));

    flip_byte(&first_dir.join("vault.db"), 0);
    let id = first["id"].as_str().expect("id");
    let failed = owner(&vault, &["backup", "verify", text(&first_dir)]);
    failed.failure();
    assert!(failed.stderr.contains(id), "{}", failed.stderr);
    assert!(failed.stderr.contains("vault.db"), "{}", failed.stderr);

    flip_byte(&second_dir.join("backup-key.age"), 0);
    let failed = owner(&vault, &["backup", "verify", text(&second_dir)]);
    failed.failure();
    assert!(
        failed.stderr.contains("backup-key.age"),
        "{}",
        failed.stderr
    );

    let states: Vec<_> = list(&vault, &dest)
        .iter()
        .map(|info| info["state"].as_str().expect("state").to_owned())
        .collect();
    assert_eq!(states, ["failed", "failed"]);
    let alerts = owner(&vault, &["alerts", "--json"]);
    assert!(alerts.stdout.contains("backup_failed"), "{}", alerts.stdout);
    // A damaged backup is never restored.
    let refused = restore(&vault, &first_dir, &vault.root().join("r"), &[]);
    refused.failure();
    assert!(!vault.root().join("r").join("vault.db").exists());
}

#[test]
fn a_backup_opens_with_stock_sqlcipher_given_the_key_unsealed_by_the_recovery_identity() {
    let vault = TestVault::new();
    vault.add_user("bob", "Sales Representative", "bob-password-12");
    let dest = destination(&vault);
    let backup = PathBuf::from(
        backup_now(&vault, &dest)["path"]
            .as_str()
            .expect("path")
            .to_owned(),
    );

    // Only the age crate and the recovery identity file: what `age -d -i recovery.txt` does.
    let identity_text = std::fs::read_to_string(vault.recovery_file()).expect("identity");
    let line = identity_text
        .lines()
        .find(|line| line.starts_with("AGE-SECRET-KEY-1"))
        .expect("identity line");
    let identity: age::x25519::Identity = line.parse().expect("identity parses");
    let sealed = std::fs::read(backup.join("backup-key.age")).expect("sealed key");
    let opened =
        String::from_utf8(age::decrypt(&identity, &sealed).expect("unseals")).expect("utf8");
    let key = opened
        .lines()
        .find_map(|line| line.strip_prefix("key "))
        .expect("key line");

    let conn = rusqlite::Connection::open(backup.join("vault.db")).expect("open");
    conn.pragma_update(None, "key", format!("x'{key}'"))
        .expect("key");
    let mut statement = conn
        .prepare("SELECT name FROM users ORDER BY name")
        .expect("query");
    let names: Vec<String> = statement
        .query_map([], |row| row.get(0))
        .expect("rows")
        .collect::<rusqlite::Result<_>>()
        .expect("names");
    assert_eq!(names, ["bob", "olivia"]);
}

#[test]
fn backup_files_contain_no_plain_value_from_the_vault() {
    let vault = TestVault::new();
    let marker = "zebulon-quixotic-marker";
    vault.add_user(marker, "Sales Representative", "zeb-password-12");
    let dest = destination(&vault);
    let backup = PathBuf::from(
        backup_now(&vault, &dest)["path"]
            .as_str()
            .expect("path")
            .to_owned(),
    );
    for entry in std::fs::read_dir(&backup).expect("read dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        for needle in [
            marker.as_bytes(),
            b"Sales Representative",
            b"SQLite format 3",
            b"CREATE TABLE",
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|window| window == needle),
                "{} contains {:?}",
                path.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }
}

#[test]
fn a_missing_destination_fails_clearly_raises_an_alert_and_leaves_the_vault_untouched() {
    let vault = TestVault::new();
    let before = user_list(&vault, &vault.dir(), OWNER_PASSWORD);
    let missing = vault.root().join("unplugged-usb-drive");
    let run = owner(&vault, &["backup", "now", "--to", text(&missing)]);
    run.failure();
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
    assert!(!missing.exists());
    let alerts = owner(&vault, &["alerts", "--json"]);
    assert!(alerts.stdout.contains("backup_failed"), "{}", alerts.stdout);
    assert_eq!(before, user_list(&vault, &vault.dir(), OWNER_PASSWORD));
    let status = owner(&vault, &["backup", "status", "--json"]);
    assert_eq!(status.success().json()["last_outcome"], "failed");
}

#[test]
fn a_full_destination_fails_clearly_leaves_nothing_listed_and_the_vault_untouched() {
    let vault = TestVault::new();
    let dest = vault.root().join("tiny");
    std::fs::create_dir_all(&dest).expect("mkdir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs", text(&dest)])
        .output()
        .is_ok_and(|output| output.status.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tiny tmpfs here (needs root)");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&dest);
    let before = user_list(&vault, &vault.dir(), OWNER_PASSWORD);
    let run = owner(&vault, &["backup", "now", "--to", text(&dest)]);
    run.failure();
    assert!(
        run.stderr.to_lowercase().contains("full") || run.stderr.contains("space"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_dir(&dest).expect("read").count(),
        0,
        "nothing left behind"
    );
    let alerts = owner(&vault, &["alerts", "--json"]);
    assert!(alerts.stdout.contains("backup_failed"), "{}", alerts.stdout);
    assert_eq!(before, user_list(&vault, &vault.dir(), OWNER_PASSWORD));
}

#[test]
fn killing_backups_at_random_points_never_lists_a_partial_backup_as_good() {
    let vault = TestVault::new();
    vault.add_user("bob", "Sales Representative", "bob-password-12");
    let dest = destination(&vault);
    let faults = [
        "backup:before-copy",
        "backup:after-copy",
        "backup:before-verify",
        "backup:before-rename",
    ];
    for fault in faults {
        let run = vault.crm_env(
            &["backup", "now", "--to", text(&dest)],
            &[
                ("STRONGROOM_USER", "olivia"),
                ("STRONGROOM_PASSWORD", OWNER_PASSWORD),
                ("STRONGROOM_FAULT", fault),
            ],
        );
        run.failure();
    }
    // Killed by signal at moments spread over the second half of a real run (the first half
    // is mostly the unlock's key derivation), where the copy, sealing and rename happen.
    let started = std::time::Instant::now();
    backup_now(&vault, &dest);
    let whole = started.elapsed().as_secs_f64();
    for round in 0..16u32 {
        let mut child = vault.spawn_as(
            "olivia",
            OWNER_PASSWORD,
            &["backup", "now", "--to", text(&dest)],
        );
        let at = whole * (0.45 + f64::from(round) * 0.04);
        std::thread::sleep(Duration::from_secs_f64(at));
        let _ = child.kill();
        let _ = child.wait();
    }
    let listed = list(&vault, &dest);
    for info in &listed {
        assert_eq!(info["state"], "verified", "{info}");
        let path = info["path"].as_str().expect("path");
        owner(&vault, &["backup", "verify", path]).success();
    }
    let before_partials = std::fs::read_dir(&dest)
        .expect("read")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|entry| entry.file_name().to_string_lossy().starts_with(".partial-"))
        })
        .count();
    eprintln!(
        "{} complete backups listed, {before_partials} partial leftovers ignored",
        listed.len()
    );
    // The live vault is intact and its trail verifies.
    owner(&vault, &["audit", "verify"]).success();
    assert_eq!(
        user_list(&vault, &vault.dir(), OWNER_PASSWORD)
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // And a backup still works afterwards.
    assert_eq!(backup_now(&vault, &dest)["state"], "verified");
}

#[test]
fn prune_keeps_the_newest_verified_backup_and_drill_restores_it_identically() {
    let vault = TestVault::new();
    let dest = destination(&vault);
    owner(
        &vault,
        &[
            "backup",
            "settings",
            "--destination",
            text(&dest),
            "--keep-daily",
            "1",
            "--keep-weekly",
            "0",
            "--keep-monthly",
            "0",
        ],
    )
    .success();
    for _ in 0..3 {
        owner(&vault, &["backup", "now"]).success();
    }
    let newest = list(&vault, &dest).last().expect("newest")["id"].clone();
    let pruned = owner(&vault, &["backup", "prune", "--json"]);
    assert_eq!(pruned.success().json().as_array().map(Vec::len), Some(2));
    let left = list(&vault, &dest);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["id"], newest);

    let drill = owner(&vault, &["backup", "drill", "--json"]);
    let report = drill.success().json();
    assert_eq!(
        report["problems"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );
    assert!(report["tables_compared"].as_u64().unwrap_or(0) > 3);
}

#[test]
fn a_due_backup_runs_at_the_next_unlock_and_not_again_until_the_interval_passes() {
    let vault = TestVault::new();
    let dest = destination(&vault);
    owner(
        &vault,
        &[
            "backup",
            "settings",
            "--destination",
            text(&dest),
            "--every-hours",
            "24",
            "--drill-every-days",
            "0",
        ],
    )
    .success();
    let first = owner(&vault, &["backup", "run-due", "--json"]);
    assert_eq!(first.success().json().as_array().map(Vec::len), Some(1));
    let second = owner(&vault, &["backup", "run-due", "--json"]);
    assert_eq!(second.success().json().as_array().map(Vec::len), Some(0));
    let status = owner(&vault, &["backup", "status", "--json"]).json();
    assert_eq!(status["due"], false);
    assert_eq!(status["last_outcome"], "verified");
}

#[test]
fn a_sales_rep_cannot_make_or_restore_backups_on_demand() {
    let vault = TestVault::new();
    vault.add_user("bob", "Sales Representative", "bob-password-12");
    let dest = destination(&vault);
    let run = vault.crm_as(
        "bob",
        "bob-password-12",
        &["backup", "now", "--to", text(&dest)],
    );
    run.failure();
    assert!(run.stderr.contains("not permitted"), "{}", run.stderr);
    assert_eq!(std::fs::read_dir(&dest).expect("read").count(), 0);
}

/// The unattended agent: a backup-only credential in a root-only file (the headless server
/// path; the OS keyring is the desktop path), one scheduled run, and nothing else allowed.
#[test]
fn the_backup_agent_makes_scheduled_backups_and_can_do_nothing_else() {
    let vault = TestVault::new();
    let destination = vault.root().join("nas");
    std::fs::create_dir_all(&destination).expect("mkdir");
    vault
        .crm_as(
            "olivia",
            OWNER_PASSWORD,
            &[
                "backup",
                "settings",
                "--destination",
                destination.to_str().expect("utf8"),
                "--every-hours",
                "24",
            ],
        )
        .success();
    let credential = vault.root().join("agent.credential");
    let credential_arg = credential.to_str().expect("utf8");
    vault
        .crm_as(
            "olivia",
            OWNER_PASSWORD,
            &[
                "backup",
                "agent",
                "setup",
                "--credential-file",
                credential_arg,
            ],
        )
        .success();
    let secret = std::fs::read_to_string(&credential).expect("credential");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&credential)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the credential file is private");
    }
    vault
        .crm(&[
            "backup",
            "agent",
            "run",
            "--once",
            "--credential-file",
            credential_arg,
        ])
        .success();
    let list = vault.crm_as("olivia", OWNER_PASSWORD, &["backup", "list", "--json"]);
    assert!(list.stdout.contains("verified"), "{}", list.stdout);
    // The agent's credential opens nothing but backups.
    for args in [
        &["contact", "list"][..],
        &["audit", "list"][..],
        &["user", "list"][..],
    ] {
        let refused = vault.crm_as("backup-agent", secret.trim(), args);
        refused.failure();
        assert!(
            refused.stderr.contains("cannot") || refused.stderr.contains("right"),
            "{args:?}: {}",
            refused.stderr
        );
    }
}

/// A scheduled backup that nobody was unlocked for happens at the next unlock.
#[test]
fn a_missed_scheduled_backup_is_made_at_the_next_unlock() {
    let vault = TestVault::new();
    let destination = vault.root().join("usb");
    std::fs::create_dir_all(&destination).expect("mkdir");
    vault
        .crm_as(
            "olivia",
            OWNER_PASSWORD,
            &[
                "backup",
                "settings",
                "--destination",
                destination.to_str().expect("utf8"),
                "--every-hours",
                "1",
            ],
        )
        .success();
    let status = vault.crm_as("olivia", OWNER_PASSWORD, &["status", "--json"]);
    status.success();
    assert_eq!(status.json()["backups_made"], 1);
    let again = vault.crm_as("olivia", OWNER_PASSWORD, &["status", "--json"]);
    assert_eq!(
        again.json()["backups_made"],
        0,
        "not due again within the hour"
    );
}
