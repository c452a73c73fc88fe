//! The audit trail through the real `crm` binary: what each action leaves, and tampering by
//! someone holding the data key (a stock SQLCipher connection) being detected by `verify`.

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
