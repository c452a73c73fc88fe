//! The audit trail through the real `crm` binary: what each action leaves, and tampering by
//! someone holding the data key (a stock SQLCipher connection) being detected by `verify`.

#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    reason = "these tests open the database file with stock SQLCipher, as an insider would"
)]

mod common;

use common::{OWNER_PASSWORD, TestVault};

fn actions(vault: &TestVault) -> Vec<String> {
    let list = vault.crm_as(
        "olivia",
        OWNER_PASSWORD,
        &["audit", "list", "--json", "--limit", "1000"],
    );
    list.success();
    let mut actions: Vec<String> = list
        .json()
        .as_array()
        .expect("array")
        .iter()
        .map(|entry| entry["action"].as_str().expect("action").to_owned())
        .collect();
    actions.reverse();
    actions
}

/// A connection that knows only the data key, as an insider with stock tools would have.
fn stock_connection(vault: &TestVault) -> rusqlite::Connection {
    let key = vault.data_key();
    let conn = rusqlite::Connection::open(vault.dir().join("vault.db")).expect("open");
    conn.pragma_update(None, "key", format!("x'{key}'"))
        .expect("key");
    conn
}

fn verify(vault: &TestVault) -> common::Run {
    vault.crm_as("olivia", OWNER_PASSWORD, &["audit", "verify", "--json"])
}

#[test]
fn each_vault_action_leaves_exactly_its_entry() {
    let vault = TestVault::new();
    // `init` leaves unlock + lock.
    vault
        .crm_as("olivia", "wrong-password-9", &["status"])
        .failure();
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    vault
        .crm_stdin_as(
            "olivia",
            &["user", "passwd", "sam"],
            &format!("{OWNER_PASSWORD}\nsam-password-2\n"),
        )
        .success();
    vault
        .crm_stdin_as(
            "sam",
            &["user", "passwd"],
            "sam-password-2\nsam-password-3\n",
        )
        .success();
    vault
        .crm_as("olivia", OWNER_PASSWORD, &["user", "remove", "sam"])
        .success();
    vault
        .crm_as("olivia", OWNER_PASSWORD, &["key", "rotate"])
        .success();
    vault.data_key();
    vault
        .crm_as(
            "olivia",
            OWNER_PASSWORD,
            &["audit", "retention", "--days", "400"],
        )
        .success();
    vault
        .crm_as(
            "olivia",
            OWNER_PASSWORD,
            &["review", "access", "--sign-off"],
        )
        .success();

    let expected = [
        "unlock",
        "lock", // init
        "unlock_failed",
        "unlock",
        "user_added",
        "lock", // the failure is folded in at the next unlock
        "unlock",
        "password_reset",
        "lock",
        "unlock",
        "password_changed",
        "lock", // sam
        "unlock",
        "user_removed",
        "key_rotated",
        "lock",
        "unlock",
        "key_rotated",
        "lock",
        "data_key_shown",
        "unlock",
        "policy_changed",
        "lock",
        "unlock",
        "access_review_signed",
        "lock",
        "unlock", // this listing
    ];
    assert_eq!(actions(&vault), expected);
    verify(&vault).success();
}

#[test]
fn the_trail_refuses_update_and_delete_even_with_the_data_key() {
    let vault = TestVault::new();
    let conn = stock_connection(&vault);
    let update = conn.execute(
        "UPDATE audit_log SET user_name = 'mallory' WHERE seq = 1",
        [],
    );
    assert!(
        update
            .expect_err("refused")
            .to_string()
            .contains("append-only")
    );
    let delete = conn.execute("DELETE FROM audit_log WHERE seq = 1", []);
    assert!(
        delete
            .expect_err("refused")
            .to_string()
            .contains("append-only")
    );
}

#[test]
fn an_entry_edited_with_stock_sqlcipher_is_named_by_verify() {
    let vault = TestVault::new();
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    {
        let conn = stock_connection(&vault);
        conn.execute_batch(
            "DROP TRIGGER audit_log_no_update;
             UPDATE audit_log SET detail = '{\"role\":\"Auditor\"}' WHERE action = 'user_added';",
        )
        .expect("tamper");
    }
    let seq = {
        let conn = stock_connection(&vault);
        conn.query_row(
            "SELECT seq FROM audit_log WHERE action = 'user_added'",
            [],
            |row| row.get::<_, i64>(0),
        )
        .expect("seq")
    };
    let report = verify(&vault);
    report.failure();
    assert!(
        report.stderr.contains("failed verification"),
        "{}",
        report.stderr
    );
    let json = report.json();
    assert_eq!(json["intact"], false);
    assert_eq!(json["first_bad"]["seq"], seq);
    assert!(
        json["first_bad"]["reason"]
            .as_str()
            .expect("reason")
            .contains("changed")
    );
}

#[test]
fn an_entry_deleted_from_the_middle_is_detected() {
    let vault = TestVault::new();
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    {
        let conn = stock_connection(&vault);
        conn.execute_batch(
            "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 3;",
        )
        .expect("tamper");
    }
    let report = verify(&vault);
    report.failure();
    assert_eq!(report.json()["first_bad"]["seq"], 4);
}

#[test]
fn cutting_off_the_newest_entries_is_detected_by_the_head_file() {
    let vault = TestVault::new();
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    {
        let conn = stock_connection(&vault);
        conn.execute_batch(
            "DROP TRIGGER audit_log_no_delete;
             DELETE FROM audit_log WHERE seq > (SELECT max(seq) - 3 FROM audit_log);",
        )
        .expect("tamper");
    }
    let report = verify(&vault);
    report.failure();
    let json = report.json();
    assert!(
        json["head_file"]
            .as_str()
            .expect("text")
            .contains("newest entries were removed"),
        "{json}"
    );
}

#[test]
fn an_older_copy_of_the_database_put_back_is_detected() {
    let vault = TestVault::new();
    let database = vault.dir().join("vault.db");
    let old_copy = std::fs::read(&database).expect("copy");
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    vault
        .crm_as("olivia", OWNER_PASSWORD, &["status"])
        .success();
    std::fs::write(&database, old_copy).expect("swap back");
    let report = verify(&vault);
    report.failure();
    assert!(
        report.json()["head_file"]
            .as_str()
            .expect("text")
            .contains("older database")
    );
}

#[test]
fn a_sales_rep_cannot_read_the_trail() {
    let vault = TestVault::new();
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    let list = vault.crm_as("sam", "sam-password-1", &["audit", "list"]);
    list.failure();
    assert!(
        list.stderr
            .contains("does not have the right to read the audit trail"),
        "{}",
        list.stderr
    );
}

#[test]
fn a_failed_unlock_burst_is_alerted_to_the_owner() {
    let vault = TestVault::new();
    for _ in 0..5 {
        vault
            .crm_as("olivia", "guess-password-1", &["status"])
            .failure();
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let alerts = vault.crm_as("olivia", OWNER_PASSWORD, &["alerts", "--json"]);
    alerts.success();
    let json = alerts.json();
    let list = json.as_array().expect("array");
    assert_eq!(list.len(), 1, "{json}");
    assert_eq!(list[0]["kind"], "unlock_failed");
    let id = list[0]["id"].to_string();
    vault
        .crm_as("olivia", OWNER_PASSWORD, &["alerts", "--ack", &id])
        .success();
    let after = vault.crm_as("olivia", OWNER_PASSWORD, &["alerts", "--json"]);
    assert_eq!(after.json().as_array().map(Vec::len), Some(0));
}

/// The breach-notification report: who saw or took a given record in a period.
#[test]
fn audit_who_names_everyone_who_viewed_or_exported_a_record() {
    let vault = TestVault::new();
    vault.add_user("mia", "Marketing", "mia-password-12");
    let added = vault.crm_as(
        "olivia",
        OWNER_PASSWORD,
        &[
            "contact",
            "add",
            "--json",
            "--set",
            "last_name=Okafor",
            "--set",
            "emails=okafor@example.com",
        ],
    );
    added.success();
    let id = added.json()["id"].to_string();
    let other = vault.crm_as(
        "olivia",
        OWNER_PASSWORD,
        &["contact", "add", "--json", "--set", "last_name=Berg"],
    );
    other.success();
    vault
        .crm_as("olivia", OWNER_PASSWORD, &["contact", "show", &id])
        .success();
    vault
        .crm_as(
            "mia",
            "mia-password-12",
            &["export", "csv", "--entity", "contact"],
        )
        .success();
    let who = vault.crm_as(
        "olivia",
        OWNER_PASSWORD,
        &[
            "audit",
            "who",
            "--target",
            &format!("contact:{id}"),
            "--json",
        ],
    );
    who.success();
    let entries = who.json();
    let seen: Vec<(String, String)> = entries
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| {
            (
                entry["user"].as_str().unwrap_or("").to_owned(),
                entry["action"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(seen.contains(&("olivia".into(), "view".into())), "{seen:?}");
    assert!(seen.contains(&("mia".into(), "export".into())), "{seen:?}");
    let before = vault.crm_as(
        "olivia",
        OWNER_PASSWORD,
        &[
            "audit",
            "who",
            "--target",
            &format!("contact:{id}"),
            "--until",
            "2000-01-01",
            "--json",
        ],
    );
    assert_eq!(before.json().as_array().map(Vec::len), Some(0));
}

/// Wipes the whole trail behind one checkpoint row, as an insider with stock SQLCipher would
/// (the data key in hand, not the chain key's use), and returns the forged row's first entry.
fn wipe_behind_a_forged_checkpoint(conn: &rusqlite::Connection) {
    conn.execute_batch(
        "DROP TRIGGER audit_log_no_delete;
         INSERT INTO audit_checkpoints (at, by_user, first_seq, last_seq, last_mac, entries, mac)
         SELECT '2026-01-01T00:00:00+00:00', 'olivia', 1, max(seq),
                (SELECT mac FROM audit_log ORDER BY seq DESC LIMIT 1), count(*),
                'ab3f9c2e1d0b7a6958473625140f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2c3'
         FROM audit_log;
         DELETE FROM audit_log;",
    )
    .expect("forge");
}

#[test]
fn a_checkpoint_forged_with_stock_sqlcipher_is_named_by_verify() {
    let vault = TestVault::new();
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    {
        let conn = stock_connection(&vault);
        wipe_behind_a_forged_checkpoint(&conn);
        let update = conn.execute("UPDATE audit_checkpoints SET by_user = 'mallory'", []);
        assert!(
            update
                .expect_err("checkpoints are append-only")
                .to_string()
                .contains("append-only")
        );
        let delete = conn.execute("DELETE FROM audit_checkpoints", []);
        assert!(
            delete
                .expect_err("checkpoints are append-only")
                .to_string()
                .contains("append-only")
        );
    }
    let report = verify(&vault);
    report.failure();
    let json = report.json();
    assert_eq!(json["intact"], false, "{json}");
    assert_eq!(json["first_bad"]["seq"], 1, "{json}");
    assert!(
        json["first_bad"]["reason"]
            .as_str()
            .expect("reason")
            .contains("retention checkpoint 1"),
        "{json}"
    );
}

#[test]
fn a_deleted_head_file_is_reported_raised_as_an_alert_and_written_again() {
    let vault = TestVault::new();
    let head_file = vault.dir().join("audit-head.json");
    std::fs::remove_file(&head_file).expect("delete the head file");
    let report = verify(&vault);
    report.success();
    assert!(
        report.stderr.contains("audit-head.json was missing"),
        "unlock warns: {}",
        report.stderr
    );
    let json = report.json();
    assert!(
        json["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .any(|warning| warning
                .as_str()
                .is_some_and(|text| text.contains("audit-head.json was missing"))),
        "{json}"
    );
    assert!(head_file.exists(), "unlock writes the head file again");
    let alerts = vault.crm_as("olivia", OWNER_PASSWORD, &["alerts", "--json"]);
    alerts.success();
    assert!(
        alerts
            .json()
            .as_array()
            .expect("alerts")
            .iter()
            .any(|alert| alert["kind"] == "audit_head_missing"),
        "{}",
        alerts.stdout
    );
}

/// Deleting the head file together with putting an older database back: the newer backup's
/// manifest still names an entry the old trail never had.
#[test]
fn an_older_database_put_back_without_its_head_file_is_detected_through_a_newer_backup() {
    let vault = TestVault::new();
    let backups = vault.root().join("backups");
    std::fs::create_dir_all(&backups).expect("destination");
    vault
        .crm_as(
            "olivia",
            OWNER_PASSWORD,
            &[
                "backup",
                "settings",
                "--destination",
                backups.to_str().expect("utf8"),
            ],
        )
        .success();
    let database = vault.dir().join("vault.db");
    let old_copy = std::fs::read(&database).expect("copy");
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    vault
        .crm_as("olivia", OWNER_PASSWORD, &["backup", "now"])
        .success();
    std::fs::write(&database, old_copy).expect("put the old copy back");
    std::fs::remove_file(vault.dir().join("audit-head.json")).expect("delete the head file");

    let report = verify(&vault);
    report.failure();
    let json = report.json();
    assert_eq!(json["intact"], false, "{json}");
    let backups_text = json["backups"].as_str().expect("backups");
    assert!(
        backups_text.contains("an older database was put back"),
        "{json}"
    );
    assert!(
        json["first_bad"]["reason"]
            .as_str()
            .expect("reason")
            .starts_with("backup "),
        "{json}"
    );
}

#[test]
fn alerts_are_shown_at_every_unlock_and_in_status_to_roles_that_read_the_trail() {
    let vault = TestVault::new();
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    for _ in 0..5 {
        vault
            .crm_as("mallory", "guess-password-1", &["status"])
            .failure();
    }
    let status = vault.crm_as("olivia", OWNER_PASSWORD, &["status", "--json"]);
    status.success();
    let json = status.json();
    let alerts = json["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 1, "{json}");
    assert_eq!(alerts[0]["kind"], "unlock_failed");
    assert_eq!(alerts[0]["user"], "mallory");
    assert!(
        status.stderr.contains(
            "alert: 1 unacknowledged unusual-activity alert(s) (unlock_failed by mallory)"
        ),
        "{}",
        status.stderr
    );
    let text = vault.crm_as("olivia", OWNER_PASSWORD, &["status"]);
    assert!(
        text.stdout.contains("Unusual activity (1 alert(s)"),
        "{}",
        text.stdout
    );

    let rep = vault.crm_as("sam", "sam-password-1", &["status", "--json"]);
    rep.success();
    assert_eq!(rep.json()["alerts"].as_array().map(Vec::len), Some(0));
    assert!(!rep.stderr.contains("alert"), "{}", rep.stderr);

    let id = alerts[0]["id"].to_string();
    vault
        .crm_as("olivia", OWNER_PASSWORD, &["alerts", "--ack", &id])
        .success();
    let after = vault.crm_as("olivia", OWNER_PASSWORD, &["status", "--json"]);
    assert_eq!(after.json()["alerts"].as_array().map(Vec::len), Some(0));
    assert!(!after.stderr.contains("alert"), "{}", after.stderr);
}

/// Values in the trail are masked to the reader's view of the field now: its current level
/// and its financial flag, as on the record itself.
#[test]
fn audit_list_never_shows_a_value_above_the_readers_current_view_of_its_field() {
    let vault = TestVault::new();
    let owner = |args: &[&str]| {
        let run = vault.crm_as("olivia", OWNER_PASSWORD, args);
        run.success();
        run
    };
    let added = owner(&[
        "contact",
        "add",
        "--json",
        "--set",
        "last_name=Okafor",
        "--set",
        "job_title=Chief Vault Officer",
        "--set",
        "emails=okafor.first@example.com",
        "--set",
        "bank_account=DE89370400440532013000",
    ]);
    let id = added.json()["id"].to_string();
    owner(&[
        "contact",
        "edit",
        &id,
        "--set",
        "emails=okafor.second@example.com",
        "--set",
        "bank_account=GB29NWBK60161331926819",
    ]);
    // Written while Internal; Confidential from now on.
    owner(&["field", "classify", "contact", "job_title", "confidential"]);
    for (role, clearance) in [("Compliance", "confidential"), ("Reviewer", "internal")] {
        owner(&[
            "role",
            "create",
            role,
            "--clearance",
            clearance,
            "--others-clearance",
            clearance,
            "--right",
            "view_audit",
        ]);
    }
    vault.add_user("audrey", "Auditor", "audrey-password-1");
    vault.add_user("cora", "Compliance", "cora-password-12");
    vault.add_user("ravi", "Reviewer", "ravi-password-12");

    let trail_as = |user: &str, password: &str| {
        let run = vault.crm_as(
            user,
            password,
            &["audit", "list", "--json", "--limit", "10000"],
        );
        run.success();
        run.stdout
    };
    let financial = ["DE89370400440532013000", "GB29NWBK60161331926819"];
    let confidential = [
        "okafor.first@example.com",
        "okafor.second@example.com",
        "Chief Vault Officer",
    ];
    // Public clearance: nothing but Public values.
    let audrey = trail_as("audrey", "audrey-password-1");
    for secret in financial.iter().chain(&confidential).chain(&["Okafor"]) {
        assert!(!audrey.contains(secret), "the Auditor sees {secret}");
    }
    assert!(audrey.contains("•••• (above your clearance)"));
    // Confidential clearance without the financial right: no bank accounts.
    let cora = trail_as("cora", "cora-password-12");
    for secret in financial {
        assert!(!cora.contains(secret), "Compliance sees {secret}");
    }
    assert!(cora.contains("okafor.second@example.com"));
    assert!(cora.contains("Chief Vault Officer"));
    // Internal clearance: the job title was Internal when written, Confidential now.
    let ravi = trail_as("ravi", "ravi-password-12");
    for secret in financial.iter().chain(&confidential) {
        assert!(!ravi.contains(secret), "the Reviewer sees {secret}");
    }
    assert!(ravi.contains("Okafor"));
    // The owner sees everything.
    let olivia = trail_as("olivia", OWNER_PASSWORD);
    for value in financial.iter().chain(&confidential) {
        assert!(olivia.contains(value), "the Owner misses {value}");
    }
}

/// The example end to end: someone who may see every contact pages through 400 of
/// them, 50 to a page. Eight list pages raise a view alert counting 400 records, and the
/// access review counts 400 records viewed.
#[test]
fn paging_through_400_contacts_raises_a_view_alert_and_shows_in_the_access_review() {
    let vault = TestVault::new();
    let file = vault.root().join("contacts.csv");
    let mut csv = String::from("first_name,last_name,emails\n");
    for n in 0..400 {
        csv.push_str(&format!("Pat,Customer{n},customer{n}@example.com\n"));
    }
    std::fs::write(&file, csv).expect("write csv");
    vault
        .crm_as(
            "olivia",
            OWNER_PASSWORD,
            &["import", "csv", file.to_str().expect("utf8")],
        )
        .success();
    vault.add_user("mia", "Marketing", "mia-password-12");
    for page in 1..=8 {
        let page = page.to_string();
        vault
            .crm_as(
                "mia",
                "mia-password-12",
                &["contact", "list", "--page", &page, "--page-size", "50"],
            )
            .success();
    }
    let alerts = vault.crm_as("olivia", OWNER_PASSWORD, &["alerts", "--json"]);
    alerts.success();
    let json = alerts.json();
    // Eight pages take well under an hour: the sliding 60 minutes hold all 400 records,
    // whether or not the pages straddle a clock hour.
    assert!(
        json.as_array().expect("alerts").iter().any(|alert| {
            alert["user"] == "mia" && alert["kind"] == "view" && alert["count"] == 400
        }),
        "{json}"
    );
    let review = vault.crm_as("olivia", OWNER_PASSWORD, &["review", "access", "--json"]);
    review.success();
    let review = review.json();
    let mia = review["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|line| line["user"] == "mia")
        .cloned()
        .expect("mia");
    assert_eq!(mia["records_viewed"], 400, "{mia}");
}
