//! The security checkup and the password rule, through the real `crm` binary.
//!
//! - a vault built to meet every standard: score 100, no finding;
//! - a vault built to fail every check: each check listed with its risk, what fails it, why
//!   and the fix;
//! - the password rule at every place a password is set (init, user add, passwd), with the
//!   owner's minimum set through `crm policy password`.

#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    reason = "backdating a user opens the database file with stock SQLCipher, as an insider would"
)]

mod common;

use std::path::{Path, PathBuf};

use common::{OWNER_PASSWORD, TestVault};
use serde_json::Value;

/// A password every vault accepts.
const GOOD: &str = "Harbour lights at 6 o'clock";

/// A folder on another filesystem than `near` (a second backup destination off the vault's
/// disk): /dev/shm is its own tmpfs on Linux.
fn other_disk(near: &Path) -> tempfile::TempDir {
    use std::os::unix::fs::MetadataExt;
    let here = std::fs::metadata(near).expect("stat").dev();
    let dir = tempfile::tempdir_in("/dev/shm").expect("a folder in /dev/shm");
    assert_ne!(
        std::fs::metadata(dir.path()).expect("stat").dev(),
        here,
        "this test needs /dev/shm on another filesystem than the temp folder"
    );
    dir
}

fn checks(report: &Value) -> &Vec<Value> {
    report["checks"].as_array().expect("checks")
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    checks(report)
        .iter()
        .find(|check| check["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

fn subjects(check: &Value) -> String {
    check["subjects"]
        .as_array()
        .expect("subjects")
        .iter()
        .map(|subject| subject.as_str().expect("text"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Makes the vault folder 0700 and its files 0600.
fn close_permissions(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).expect("chmod dir");
    for entry in std::fs::read_dir(dir).expect("list") {
        let path = entry.expect("entry").path();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
}

/// Backdates `user`'s creation (as if added `days` ago and never signed in since), with the
/// data key in a stock SQLCipher connection: the only way to age a vault in a test.
fn backdate_user(vault: &TestVault, user: &str, days: i64) {
    let key = vault.data_key();
    let conn = rusqlite::Connection::open(vault.dir().join("vault.db")).expect("open");
    conn.pragma_update(None, "key", format!("x'{key}'"))
        .expect("key");
    let then = (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339();
    conn.execute(
        "UPDATE users SET created_at = ?1, last_unlock_at = NULL WHERE name = ?2",
        [then.as_str(), user],
    )
    .expect("backdate");
}

#[test]
fn a_vault_built_to_meet_every_standard_has_no_finding() {
    let vault = TestVault::with_key_file();
    let key = vault.key_file();
    let key = key.to_str().expect("utf8");
    let owner = |args: &[&str]| {
        vault.crm_env(
            args,
            &[
                ("STRONGROOM_USER", "olivia"),
                ("STRONGROOM_PASSWORD", OWNER_PASSWORD),
                ("STRONGROOM_KEY_FILE", key),
            ],
        )
    };
    owner(&["role", "edit", "Owner", "--require-key-file", "true"]).success();
    let main = vault.root().join("backups");
    std::fs::create_dir(&main).expect("mkdir");
    let second = other_disk(vault.root());
    let main_text = main.to_str().expect("utf8");
    let second_text = second.path().to_str().expect("utf8");
    owner(&[
        "backup",
        "settings",
        "--destination",
        main_text,
        "--destination",
        second_text,
        "--schedule",
        "every 24h",
    ])
    .success();
    owner(&["backup", "now"]).success();
    owner(&["backup", "drill"]).success();
    let recovery = vault.recovery_file();
    owner(&[
        "security",
        "confirm-recovery",
        "--identity",
        recovery.to_str().expect("utf8"),
    ])
    .success();
    // Until every file the vault writes is created private, the test closes them itself.
    close_permissions(&vault.dir());

    let run = owner(&["security", "check", "--json"]);
    let report = run.success().json();
    let failing: Vec<&Value> = checks(&report)
        .iter()
        .filter(|check| check["rating"] != "meets_standard")
        .collect();
    assert!(failing.is_empty(), "findings: {failing:#?}");
    assert_eq!(report["score"], 100);
    assert_eq!(report["findings"], 0);
    assert!(checks(&report).len() >= 12, "{report:#}");

    let text = owner(&["security", "check"]);
    assert!(
        text.success()
            .stdout
            .contains("security score: 100/100 (previous 100); every check meets the standard"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_vault_built_to_fail_every_check_lists_each_finding() {
    let vault = TestVault::new();
    let owner = |args: &[&str]| vault.crm_as("olivia", OWNER_PASSWORD, args);
    // An administrator without a key file; a lowered bar and a weak password under it.
    vault.add_user("ada", "Administrator", GOOD);
    owner(&["policy", "password", "--min-score", "1"]).success();
    vault.add_user("wes", "Sales Representative", "Password12");
    // A sales manager added 100 days ago who never signed in nor exported.
    vault.add_user("sam", "Sales Manager", GOOD);
    backdate_user(&vault, "sam", 100);
    owner(&["policy", "auto-lock", "--minutes", "60"]).success();
    // The head file gone and the folder opened to others.
    std::fs::remove_file(vault.dir().join("audit-head.json")).expect("remove head");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(vault.dir(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }

    let run = owner(&["security", "check", "--json"]);
    let report = run.success().json();
    let expected = [
        ("privileged_key_files", "high_risk", "olivia (Owner)"),
        ("privileged_key_files", "high_risk", "ada (Administrator)"),
        ("weak_passwords", "high_risk", "wes:"),
        ("password_policy", "medium_risk", "strength 1 of 4"),
        (
            "unused_export_reveal",
            "medium_risk",
            "Sales Manager: export",
        ),
        ("inactive_users", "medium_risk", "sam: never signed in"),
        ("backup_current", "high_risk", "no backup destination"),
        ("second_destination", "medium_risk", "no backup destination"),
        ("restore_drill", "medium_risk", "no restore drill"),
        ("audit_trail", "high_risk", "audit-head.json"),
        ("file_permissions", "high_risk", "the vault folder is 0755"),
        ("auto_lock", "medium_risk", "60 idle minutes"),
        ("recovery_confirmed", "high_risk", "never been confirmed"),
    ];
    for (id, rating, subject) in expected {
        let found = check(&report, id);
        assert_eq!(found["rating"], rating, "{found:#}");
        assert!(
            subjects(found).contains(subject),
            "{id} should name {subject:?}: {found:#}"
        );
        for field in ["title", "why", "fix"] {
            assert!(
                found[field].as_str().is_some_and(|text| text.len() > 20),
                "{id} lacks {field}"
            );
        }
    }
    assert!(
        checks(&report)
            .iter()
            .all(|check| check["rating"] != "meets_standard"),
        "{report:#}"
    );
    assert_eq!(report["score"], 0);
    // Users who meet the standard are not named.
    let weak = subjects(check(&report, "weak_passwords"));
    assert!(!weak.contains("ada") && !weak.contains("sam"), "{weak}");

    let text = owner(&["security", "check"]);
    let stdout = &text.success().stdout;
    assert!(stdout.contains("HIGH RISK: The Owner and administrators sign in with a key file"));
    assert!(stdout.contains("fix: Shorten the period: `crm policy auto-lock --minutes 10`."));

    // Fixing one check raises the score; the history keeps every run.
    owner(&["policy", "auto-lock", "--minutes", "10"]).success();
    let better = owner(&["security", "check", "--json"]).success().json();
    assert_eq!(check(&better, "auto_lock")["rating"], "meets_standard");
    assert!(better["score"].as_u64() > Some(0));
    let history = owner(&["security", "history", "--json"]).success().json();
    assert_eq!(history.as_array().map(Vec::len), Some(3));
}

#[test]
fn the_checkup_is_for_the_owner_and_administrators_only() {
    let vault = TestVault::new();
    vault.add_user("aude", "Auditor", GOOD);
    vault.add_user("rita", "Sales Representative", GOOD);
    for user in ["aude", "rita"] {
        let run = vault.crm_as(user, GOOD, &["security", "check"]);
        assert!(
            run.failure().stderr.contains("manage-users and view-audit"),
            "{}",
            run.stderr
        );
    }
    let run = vault.crm_as("rita", GOOD, &["policy", "password", "--min-score", "0"]);
    run.failure();
}

#[test]
fn weak_passwords_are_refused_wherever_a_password_is_set() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir: PathBuf = root.path().join("vault");
    let init = |password: &str| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_crm"));
        command
            .args([
                "--vault",
                dir.to_str().expect("utf8"),
                "init",
                "--owner",
                "olivia",
            ])
            .arg("--recovery-out")
            .arg(root.path().join(format!("recovery-{}.txt", password.len())))
            .env("STRONGROOM_KDF", "floor")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().expect("spawn");
        use std::io::Write;
        let _ = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{password}\n").as_bytes());
        child.wait_with_output().expect("wait")
    };
    for weak in [
        "Password12",
        "aaaaaaaaaa",
        "Summer2024!",
        "olivia2024",
        "Olivia123456",
    ] {
        let output = init(weak);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "init accepted {weak:?}");
        assert!(stderr.contains("too easy to guess"), "{weak}: {stderr}");
        assert!(!dir.join("vault.db").exists());
    }
    assert!(init(GOOD).status.success());

    let vault = TestVault::new();
    let add = vault.crm_stdin_as(
        "olivia",
        &["user", "add", "rita", "--role", "Sales Representative"],
        &format!("{OWNER_PASSWORD}\nrita123456\n"),
    );
    assert!(
        add.failure().stderr.contains("too easy to guess"),
        "{}",
        add.stderr
    );
    vault.add_user("rita", "Sales Representative", GOOD);
    let passwd = vault.crm_stdin_as(
        "rita",
        &["user", "passwd"],
        &format!("{GOOD}\nSummer2024!\n"),
    );
    assert!(passwd.failure().stderr.contains("too easy to guess"));
    let reset = vault.crm_stdin_as(
        "olivia",
        &["user", "passwd", "rita"],
        &format!("{OWNER_PASSWORD}\nPassword12\n"),
    );
    assert!(reset.failure().stderr.contains("too easy to guess"));
    // The old password still opens: nothing was changed by the refusals.
    vault.crm_as("rita", GOOD, &["status"]).success();

    // The owner raises the bar: a password of strength 3 is then refused.
    let owner = |args: &[&str]| vault.crm_as("olivia", OWNER_PASSWORD, args);
    let shown = owner(&["policy", "password", "--min-score", "4", "--json"])
        .success()
        .json();
    assert_eq!(shown["password_min_score"], 4);
    let policy_entries = owner(&["audit", "list", "--action", "policy_changed", "--json"])
        .success()
        .json();
    assert!(policy_entries.to_string().contains("password_min_score"));
}

#[test]
fn backups_on_the_vaults_own_disk_without_a_schedule_are_findings() {
    let vault = TestVault::new();
    let owner = |args: &[&str]| vault.crm_as("olivia", OWNER_PASSWORD, args);
    let (main, second) = (vault.root().join("main"), vault.root().join("second"));
    std::fs::create_dir(&main).expect("mkdir");
    std::fs::create_dir(&second).expect("mkdir");
    owner(&[
        "backup",
        "settings",
        "--destination",
        main.to_str().expect("utf8"),
        "--destination",
        second.to_str().expect("utf8"),
        "--schedule",
        "off",
    ])
    .success();
    owner(&["backup", "now"]).success();
    let report = owner(&["security", "check", "--json"]).success().json();
    let current = check(&report, "backup_current");
    assert_eq!(current["rating"], "high_risk");
    assert!(
        subjects(current).contains("scheduled backups are off"),
        "{current:#}"
    );
    let second_destination = check(&report, "second_destination");
    assert_eq!(second_destination["rating"], "medium_risk");
    assert!(
        subjects(second_destination).contains("every destination is on the vault's own disk"),
        "{second_destination:#}"
    );

    // A schedule and a fresh verified backup meet the standard.
    owner(&["backup", "settings", "--schedule", "every 24h"]).success();
    let report = owner(&["security", "check", "--json"]).success().json();
    assert_eq!(check(&report, "backup_current")["rating"], "meets_standard");
}
