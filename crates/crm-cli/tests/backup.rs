//! Backups through the real `crm` binary and real files: a vault full of customer records comes
//! back identical (compared as JSON exports) after backup → destroy → restore; a flipped byte
//! is caught and named; killed backups never list as good; a missing, full or unmounted
//! destination fails clearly with an alert and the vault untouched; a backup failing its own
//! check is kept as failed; no customer value is readable in the backup files; the backup opens
//! with stock SQLCipher given the key unsealed by the recovery identity; an extra sysadmin
//! recipient restores; erasures made after a backup are applied again by the restore; the
//! schedule in words; the agent makes backups and can change nothing; `crm status` survives a
//! failing due backup; `verify --all` goes on after a damaged backup.

#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    reason = "these tests open the database file with stock SQLCipher, as an insider would"
)]

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

/// [`destination`], set as the vault's backup destination.
fn configured_destination(vault: &TestVault) -> PathBuf {
    let dir = destination(vault);
    owner(vault, &["backup", "settings", "--destination", text(&dir)]).success();
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

/// `crm ENTITY add --set …` as the owner; returns the new id.
fn add(vault: &TestVault, entity: &str, sets: &[&str]) -> String {
    let mut args = vec![entity, "add", "--json"];
    for set in sets {
        args.push("--set");
        args.push(set);
    }
    let run = owner(vault, &args);
    run.success();
    run.json()["id"].as_i64().expect("id").to_string()
}

/// Values that must come back from a restore and must never be readable in a backup file.
const CUSTOMER_VALUES: [&str; 8] = [
    "Quillfeather Optics AB",
    "Vasquez-Lindqvist",
    "ingrid.vl@quillfeather.example",
    "+1 (555) 123-4567",
    "Periscope lens retrofit",
    "Asked for a quote on 40 periscope lenses",
    "prefers calls after 3pm",
    "platinum-reseller",
];

/// A vault with the kinds of records a customer base holds: companies, contacts with emails
/// and phones, a deal, an activity, a note, tags and a custom field value.
fn customer_vault() -> TestVault {
    let vault = TestVault::new();
    owner(
        &vault,
        &[
            "field",
            "add",
            "contact",
            "loyalty_tier",
            "--label",
            "Loyalty tier",
            "--kind",
            "choice",
            "--choice",
            "gold",
            "--choice",
            "platinum-reseller",
        ],
    )
    .success();
    let company = add(
        &vault,
        "company",
        &[
            "name=Quillfeather Optics AB",
            "industry=Optics",
            "phone=+46 8 555 010 99",
        ],
    );
    let contact = add(
        &vault,
        "contact",
        &[
            "first_name=Ingrid",
            "last_name=Vasquez-Lindqvist",
            &format!("company_id={company}"),
            "emails=ingrid.vl@quillfeather.example, ingrid@home.example",
            "phones=+1 (555) 123-4567",
            "birthday=1984-03-09",
            "loyalty_tier=platinum-reseller",
        ],
    );
    add(
        &vault,
        "contact",
        &[
            "first_name=Bo",
            "last_name=Ekström",
            "emails=bo@ekstrom.example",
        ],
    );
    let deal = add(
        &vault,
        "deal",
        &[
            "title=Periscope lens retrofit",
            &format!("company_id={company}"),
            &format!("contact_id={contact}"),
            "value=48000",
            "currency=SEK",
        ],
    );
    add(
        &vault,
        "activity",
        &[
            "kind=call",
            "subject=Asked for a quote on 40 periscope lenses",
            &format!("contact_id={contact}"),
            &format!("deal_id={deal}"),
        ],
    );
    add(
        &vault,
        "note",
        &[
            "body=prefers calls after 3pm",
            &format!("contact_id={contact}"),
        ],
    );
    owner(
        &vault,
        &["company", "tag", &company, "key-account", "optics"],
    )
    .success();
    owner(&vault, &["contact", "tag", &contact, "decision-maker"]).success();
    vault
}

/// Every entity exported as JSON by the owner of the vault in `dir`.
fn exports(dir: &Path, password: &str) -> Vec<serde_json::Value> {
    ["company", "contact", "deal", "activity", "note"]
        .iter()
        .map(|entity| {
            let output = crm_at(dir, password, &["export", "json", "--entity", entity]);
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            serde_json::from_slice(&output.stdout).expect("json export")
        })
        .collect()
}

#[test]
fn a_vault_of_customer_records_is_identical_after_backup_destroy_and_restore() {
    let vault = customer_vault();
    vault.add_user("bob", "Sales Representative", "bob-password-12");
    vault.add_user("carol", "Auditor", "carol-password-1");
    let users_before = user_list(&vault, &vault.dir(), OWNER_PASSWORD);
    let before = exports(&vault.dir(), OWNER_PASSWORD);
    let exported = serde_json::to_string(&before).expect("json");
    for value in CUSTOMER_VALUES {
        assert!(exported.contains(value), "{value} is in the export");
    }
    let dest = destination(&vault);
    let made = backup_now(&vault, &dest);
    assert_eq!(made["state"], "verified");
    let backup = PathBuf::from(made["path"].as_str().expect("path"));
    let old_recipient = vault.slot_json("olivia")["recipient"].clone();

    std::fs::remove_dir_all(vault.dir()).expect("destroy the vault");
    let restored = vault.root().join("restored");
    let run = restore(&vault, &backup, &restored, &[]);
    run.success();
    assert!(run.stderr.contains("[6/6] restored"), "{}", run.stderr);
    assert!(
        run.stdout.contains("No erasure was made after this backup"),
        "{}",
        run.stdout
    );

    assert_eq!(exports(&restored, NEW_OWNER_PASSWORD), before);
    assert_eq!(
        user_list(&vault, &restored, NEW_OWNER_PASSWORD),
        users_before
    );
    // A new recovery identity (see docs/backup-format.md); not the user slot's either.
    let again = vault.root().join("restored-json");
    let json = restore(&vault, &backup, &again, &["--json"]);
    let json = json.success().json();
    assert!(
        json["recovery_recipient"]
            .as_str()
            .is_some_and(|r| r.starts_with("age1"))
    );
    assert_ne!(json["recovery_recipient"], old_recipient);
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

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn no_file_in_a_backup_destination_holds_a_customer_value_in_plain_bytes() {
    let vault = customer_vault();
    let dest = configured_destination(&vault);
    owner(&vault, &["backup", "now"]).success();
    // An erasure writes the erasure log into the destination too.
    let bo = owner(&vault, &["search", "Ekström", "--json"]).json()[0]["id"]
        .as_i64()
        .expect("id")
        .to_string();
    owner(&vault, &["erase", &bo, "--reason", "request #2026-117"]).success();
    let files = files_under(&dest);
    assert!(files.len() >= 6, "{files:?}");
    for path in files {
        let bytes = std::fs::read(&path).expect("read");
        for needle in CUSTOMER_VALUES.iter().map(|value| value.as_bytes()).chain([
            &b"Ekstr"[..],
            b"SQLite format 3",
            b"CREATE TABLE",
        ]) {
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

/// A NAS share that went away blocks file calls on it (an NFS hard mount: until it is back).
/// The fault point parks the destination probe for good, as such a mount would: the status
/// still answers and names the destination, and a backup fails clearly, with an alert, instead
/// of waiting with the vault open.
#[test]
fn a_destination_that_stops_answering_is_reported_instead_of_freezing_status_and_backups() {
    let vault = TestVault::new();
    let dest = configured_destination(&vault);
    let before = user_list(&vault, &vault.dir(), OWNER_PASSWORD);
    let hanging = |args: &[&str]| {
        vault.crm_env(
            args,
            &[
                ("STRONGROOM_USER", "olivia"),
                ("STRONGROOM_PASSWORD", OWNER_PASSWORD),
                ("STRONGROOM_FAULT", "pause:backup:destination-probe"),
            ],
        )
    };

    let status = hanging(&["backup", "status", "--json"]);
    let status = status.success().json();
    let state = &status["destinations"][0];
    assert_eq!(state["reachable"], false, "{status}");
    assert!(
        state["problem"]
            .as_str()
            .is_some_and(|problem| problem.contains("does not answer")),
        "{status}"
    );

    let run = hanging(&["backup", "now"]);
    run.failure();
    assert!(run.stderr.contains("does not answer"), "{}", run.stderr);
    assert!(run.stderr.contains(text(&dest)), "{}", run.stderr);
    let alerts = owner(&vault, &["alerts", "--json"]);
    assert!(alerts.stdout.contains("backup_failed"), "{}", alerts.stdout);
    assert_eq!(before, user_list(&vault, &vault.dir(), OWNER_PASSWORD));

    // Back on the network: the same destination takes the next backup.
    owner(&vault, &["backup", "now"]).success();
    assert_eq!(list(&vault, &dest).len(), 1);
}

/// The same as the tmpfs test, for any user: the destination fills up during the copy
/// (injected `ENOSPC`-like failure at the point a full disk stops the copy).
#[test]
fn a_destination_filling_up_during_the_copy_fails_clearly_and_keeps_nothing() {
    let vault = TestVault::new();
    let dest = destination(&vault);
    let before = user_list(&vault, &vault.dir(), OWNER_PASSWORD);
    let run = vault.crm_env(
        &["backup", "now", "--to", text(&dest)],
        &[
            ("STRONGROOM_USER", "olivia"),
            ("STRONGROOM_PASSWORD", OWNER_PASSWORD),
            ("STRONGROOM_FAULT", "backup:destination-full"),
        ],
    );
    run.failure();
    assert!(run.stderr.contains("is full"), "{}", run.stderr);
    assert!(run.stderr.contains(text(&dest)), "{}", run.stderr);
    assert_eq!(
        std::fs::read_dir(&dest).expect("read").count(),
        0,
        "nothing left behind"
    );
    let alerts = owner(&vault, &["alerts", "--json"]);
    assert!(alerts.stdout.contains("backup_failed"), "{}", alerts.stdout);
    assert_eq!(before, user_list(&vault, &vault.dir(), OWNER_PASSWORD));
    owner(&vault, &["audit", "verify"]).success();
}

#[test]
fn a_backup_that_fails_its_own_check_is_kept_listed_as_failed_and_alerted() {
    let vault = TestVault::new();
    let dest = destination(&vault);
    let run = vault.crm_env(
        &["backup", "now", "--to", text(&dest)],
        &[
            ("STRONGROOM_USER", "olivia"),
            ("STRONGROOM_PASSWORD", OWNER_PASSWORD),
            ("STRONGROOM_FAULT", "backup:damage-before-verify"),
        ],
    );
    run.failure();
    assert!(
        run.stderr
            .contains("failed verification (kept for inspection)"),
        "{}",
        run.stderr
    );
    let listed = list(&vault, &dest);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["state"], "failed");
    assert!(
        listed[0]["problems"].to_string().contains("vault.db"),
        "{}",
        listed[0]
    );
    let alerts = owner(&vault, &["alerts", "--json"]);
    assert!(alerts.stdout.contains("backup_failed"), "{}", alerts.stdout);
    let status = owner(&vault, &["backup", "status", "--json"]);
    let status = status.success().json();
    assert_eq!(status["last_outcome"], "failed");
    assert_eq!(status["newest_verified_at"], serde_json::Value::Null);
    // Kept, and never counted as good: a restore refuses it.
    let path = PathBuf::from(listed[0]["path"].as_str().expect("path"));
    restore(&vault, &path, &vault.root().join("r"), &[]).failure();
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
        "backup:after-rename",
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
        // The vault holds the key of every listed backup (recorded before the rename), so it
        // re-verifies each without the recovery identity.
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
    assert_eq!(
        first.success().json()["made"].as_array().map(Vec::len),
        Some(1)
    );
    let second = owner(&vault, &["backup", "run-due", "--json"]);
    assert_eq!(
        second.success().json()["made"].as_array().map(Vec::len),
        Some(0)
    );
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
    // Nor may it redirect backups or seal them to a key of its own choosing.
    let settings_before = owner(&vault, &["backup", "settings", "--json"]).json();
    let elsewhere = vault.root().join("attacker");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    let own_key = age::x25519::Identity::generate().to_public().to_string();
    for args in [
        &["backup", "settings", "--recipient", own_key.as_str()][..],
        &["backup", "settings", "--destination", text(&elsewhere)][..],
        &["backup", "settings", "--schedule", "off"][..],
    ] {
        let refused = vault.crm_as("backup-agent", secret.trim(), args);
        refused.failure();
        assert!(
            refused.stderr.contains("not permitted"),
            "{args:?}: {}",
            refused.stderr
        );
    }
    assert_eq!(
        owner(&vault, &["backup", "settings", "--json"]).json(),
        settings_before
    );
    assert_eq!(std::fs::read_dir(&elsewhere).expect("read").count(), 0);
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

/// A due backup that fails (its drive is gone) is reported by `crm status`, which still
/// unlocks and answers: one failing destination never locks everyone out.
#[test]
fn status_reports_a_failing_due_backup_instead_of_failing() {
    let vault = TestVault::new();
    let usb = vault.root().join("usb");
    std::fs::create_dir_all(&usb).expect("mkdir");
    owner(
        &vault,
        &[
            "backup",
            "settings",
            "--destination",
            text(&usb),
            "--every-hours",
            "1",
        ],
    )
    .success();
    std::fs::remove_dir_all(&usb).expect("unplug the drive");
    let status = owner(&vault, &["status", "--json"]);
    let json = status.success().json();
    assert_eq!(json["user"], "olivia");
    assert_eq!(json["backups_made"], 0);
    let failures = json["backup_failures"].to_string();
    assert!(failures.contains("does not exist"), "{failures}");
    let text = owner(&vault, &["status"]);
    text.success();
    let alerts = owner(&vault, &["alerts", "--json"]);
    assert!(alerts.stdout.contains("backup_failed"), "{}", alerts.stdout);
    // `backup status` names the destination that cannot be reached.
    let backup_status = owner(&vault, &["backup", "status", "--json"]).json();
    assert_eq!(backup_status["destinations"][0]["reachable"], false);
}

/// An unmounted drive leaves an empty mount point: the destination's marker is missing, so
/// the backup is refused instead of landing on the system disk.
#[test]
fn an_unmounted_destination_is_refused_and_receives_nothing() {
    let vault = TestVault::new();
    let usb = vault.root().join("usb");
    std::fs::create_dir_all(&usb).expect("mkdir");
    owner(&vault, &["backup", "settings", "--destination", text(&usb)]).success();
    let marked: Vec<_> = std::fs::read_dir(&usb).expect("read").flatten().collect();
    assert_eq!(marked.len(), 1, "the marker");
    std::fs::remove_dir_all(&usb).expect("unmount");
    std::fs::create_dir_all(&usb).expect("empty mount point");
    let run = owner(&vault, &["backup", "now"]);
    run.failure();
    assert!(run.stderr.contains("not mounted"), "{}", run.stderr);
    assert_eq!(std::fs::read_dir(&usb).expect("read").count(), 0);
    let alerts = owner(&vault, &["alerts", "--json"]);
    assert!(alerts.stdout.contains("backup_failed"), "{}", alerts.stdout);
}

#[test]
fn the_schedule_is_set_in_words_and_a_bad_one_is_refused_with_the_old_one_kept() {
    let vault = TestVault::new();
    let dest = destination(&vault);
    let set = owner(
        &vault,
        &[
            "backup",
            "settings",
            "--json",
            "--destination",
            text(&dest),
            "--schedule",
            "hourly mon-fri 8:00-18:00",
        ],
    );
    assert_eq!(
        set.success().json()["schedule"],
        "hourly mon-fri 08:00-18:00"
    );
    let status = owner(&vault, &["backup", "status"]);
    assert!(
        status
            .success()
            .stdout
            .contains("every hour from 08:00 to 18:00, Monday to Friday (local time)"),
        "{}",
        status.stdout
    );
    let refused = owner(&vault, &["backup", "settings", "--schedule", "daily 25:00"]);
    refused.failure();
    assert!(
        refused.stderr.contains("not a time of day"),
        "{}",
        refused.stderr
    );
    let kept = owner(&vault, &["backup", "settings", "--json"]).json();
    assert_eq!(kept["schedule"], "hourly mon-fri 08:00-18:00");
    owner(&vault, &["backup", "settings", "--schedule", "daily 13:00"]).success();
    let settings = owner(&vault, &["backup", "settings"]);
    assert!(
        settings
            .success()
            .stdout
            .contains("daily 13:00 (at 13:00, every day (local time))"),
        "{}",
        settings.stdout
    );
}

/// "daily HH:MM" with a time half a day ago: the run that time was missed (nothing was
/// unlocked), so it happens at the next unlock, once.
#[test]
fn a_missed_daily_backup_is_made_once_at_the_next_unlock() {
    let vault = TestVault::new();
    let dest = destination(&vault);
    let half_a_day_ago = (chrono::Utc::now() - chrono::Duration::hours(12))
        .format("%H:%M")
        .to_string();
    let schedule = format!("daily {half_a_day_ago}");
    let as_utc = |args: &[&str]| {
        vault.crm_env(
            args,
            &[
                ("STRONGROOM_USER", "olivia"),
                ("STRONGROOM_PASSWORD", OWNER_PASSWORD),
                ("TZ", "UTC"),
            ],
        )
    };
    as_utc(&[
        "backup",
        "settings",
        "--destination",
        text(&dest),
        "--schedule",
        &schedule,
        "--drill-every-days",
        "0",
    ])
    .success();
    let first = as_utc(&["status", "--json"]);
    assert_eq!(first.success().json()["backups_made"], 1);
    let again = as_utc(&["status", "--json"]);
    assert_eq!(again.success().json()["backups_made"], 0);
    let status = as_utc(&["backup", "status", "--json"]).json();
    assert_eq!(status["due"], false);
    assert!(
        status["next_run_at"]
            .as_str()
            .is_some_and(|at| at.contains(&format!("T{half_a_day_ago}:00"))),
        "{status}"
    );
}

#[test]
fn an_extra_sysadmin_recipient_restores_and_recipients_and_second_destination_can_be_cleared() {
    let vault = TestVault::new();
    let dest = destination(&vault);
    let usb = vault.root().join("usb");
    std::fs::create_dir_all(&usb).expect("mkdir");
    let sysadmin = age::x25519::Identity::generate();
    let sysadmin_file = vault.root().join("sysadmin.txt");
    {
        use age::secrecy::ExposeSecret;
        std::fs::write(
            &sysadmin_file,
            format!("{}\n", sysadmin.to_string().expose_secret()),
        )
        .expect("write identity");
    }
    let recipient = sysadmin.to_public().to_string();
    owner(
        &vault,
        &[
            "backup",
            "settings",
            "--destination",
            text(&dest),
            "--second-destination",
            text(&usb),
            "--recipient",
            &recipient,
        ],
    )
    .success();
    let made = owner(&vault, &["backup", "now", "--json"]);
    let made = made.success().json();
    assert_eq!(
        made.as_array().map(Vec::len),
        Some(2),
        "one per destination"
    );
    let backup = PathBuf::from(made[0]["path"].as_str().expect("path"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).expect("manifest"))
            .expect("json");
    assert_eq!(manifest["sealed_key"]["recipients"][1], recipient.as_str());

    let restored = vault.root().join("restored-by-sysadmin");
    let run = vault.crm_stdin(
        &[
            "backup",
            "restore",
            text(&backup),
            "--identity",
            text(&sysadmin_file),
            "--to",
            text(&restored),
        ],
        &format!("{NEW_OWNER_PASSWORD}\n"),
    );
    run.success();
    assert!(
        crm_at(&restored, NEW_OWNER_PASSWORD, &["status"])
            .status
            .success()
    );

    let cleared = owner(
        &vault,
        &[
            "backup",
            "settings",
            "--json",
            "--clear-recipients",
            "--clear-second-destination",
        ],
    );
    let cleared = cleared.success().json();
    assert_eq!(cleared["extra_recipients"], serde_json::json!([]));
    assert_eq!(cleared["destinations"], serde_json::json!([text(&dest)]));
    let made = owner(&vault, &["backup", "now", "--json"]).json();
    let newest = PathBuf::from(made[0]["path"].as_str().expect("path"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(newest.join("manifest.json")).expect("manifest"))
            .expect("json");
    assert_eq!(
        manifest["sealed_key"]["recipients"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "the recovery recipient only"
    );
}

#[test]
fn verify_all_reports_a_damaged_backup_and_goes_on_with_the_others() {
    let vault = TestVault::new();
    let dest = configured_destination(&vault);
    let first = PathBuf::from(
        owner(&vault, &["backup", "now", "--json"]).json()[0]["path"]
            .as_str()
            .expect("path"),
    );
    owner(&vault, &["backup", "now"]).success();
    std::fs::write(first.join("manifest.json"), "{ damaged").expect("damage");
    let listed = list(&vault, &dest);
    assert_eq!(listed.len(), 2, "the damaged backup is listed, not skipped");
    assert_eq!(listed[0]["state"], "failed");
    let run = owner(&vault, &["backup", "verify", "--all", "--json"]);
    run.failure();
    let results = run.json();
    let states: Vec<&str> = results
        .as_array()
        .expect("array")
        .iter()
        .map(|info| info["state"].as_str().expect("state"))
        .collect();
    assert_eq!(states, ["failed", "verified"]);
    assert!(run.stderr.contains("1 of 2"), "{}", run.stderr);
    let alerts = owner(&vault, &["alerts", "--json"]);
    assert!(alerts.stdout.contains("backup_failed"), "{}", alerts.stdout);
}

#[test]
fn a_restore_erases_again_the_contacts_erased_after_the_backup_and_says_so() {
    let vault = customer_vault();
    configured_destination(&vault);
    let backup = PathBuf::from(
        owner(&vault, &["backup", "now", "--json"]).json()[0]["path"]
            .as_str()
            .expect("path"),
    );
    let ingrid = owner(&vault, &["search", "Vasquez", "--json"]).json()[0]["id"]
        .as_i64()
        .expect("id");
    owner(
        &vault,
        &[
            "erase",
            &ingrid.to_string(),
            "--reason",
            "request #2026-117",
        ],
    )
    .success();
    std::fs::remove_dir_all(vault.dir()).expect("the vault is lost");
    let restored = vault.root().join("restored");
    let run = restore(&vault, &backup, &restored, &["--json"]);
    let json = run.success().json();
    assert_eq!(json["erasures"]["reapplied"][0]["contact_id"], ingrid);
    let shown = crm_at(
        &restored,
        NEW_OWNER_PASSWORD,
        &["contact", "show", &ingrid.to_string(), "--json"],
    );
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(shown.contains("Erased person"), "{shown}");
    assert!(!shown.contains("Vasquez"), "{shown}");
    assert!(!shown.contains("ingrid.vl@quillfeather"), "{shown}");
}
