//! The use cases as every front end reaches them: through `wire::dispatch` (the JSON the
//! desktop's commands and a remote client send) to a `LocalBackend` on a real vault on disk.
//! First run, lock, unlock with a key file, role checks, error shape, auto-lock, the
//! long-operation guard and `busy` answers, backups off the session (scheduled and on
//! demand, locking during one), the backup plan, alerts at unlock, key files required per
//! role, readable audit details, the customer-base settings and imports.
//!
//! The harness takes the desktop's arguments (a key file's path, an import's path, a
//! recovery identity file) and turns them into what crosses the seam (digest, content,
//! text), as the desktop shell does on the workstation; so these read as the desktop's
//! scenarios without a window.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use crm_api::events::Recorded;
use crm_api::local::host::SessionHost;
use crm_api::local::scheduler::{Outcome, run_if_due};
use crm_api::{ClientInfo, LocalBackend, wire};
use serde_json::{Value, json};

struct Harness {
    backend: LocalBackend,
}

fn harness(vault_dir: &Path, auto_lock: Duration) -> Harness {
    harness_with(vault_dir, auto_lock, true)
}

/// `background`: start the auto-lock timer and the backup scheduler (as the app does); without
/// them a test drives the scheduled run itself.
fn harness_with(vault_dir: &Path, auto_lock: Duration, background: bool) -> Harness {
    let backend = LocalBackend::new(
        vault_dir.to_path_buf(),
        Some(auto_lock),
        Arc::new(Recorded::default()),
    );
    if background {
        backend
            .start_background()
            .expect("the background threads start");
    }
    Harness { backend }
}

/// The desktop's arguments as they cross the seam: files become digest, content or text.
fn across_the_seam(command: &str, mut body: Value) -> (String, Value) {
    let text_of = |value: &Value| value.as_str().unwrap_or_default().trim().to_owned();
    if let Some(path) = body.as_object_mut().and_then(|args| args.remove("keyFile")) {
        let digest = Some(text_of(&path))
            .filter(|path| !path.is_empty())
            .map(|path| {
                let digest =
                    crm_core::KeyFileDigest::from_file(Path::new(&path)).expect("key file");
                digest.to_hex().expose().to_owned()
            });
        body["keyFileDigest"] = json!(digest);
    }
    match command {
        "import_records" => {
            let path = PathBuf::from(text_of(&body["path"]));
            let content = std::fs::read(&path).expect("the import file");
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let file = json!({
                "name": name,
                "content": base64::engine::general_purpose::STANDARD.encode(content),
            });
            (
                command.into(),
                json!({ "file": file, "request": body["request"].clone() }),
            )
        }
        "restore_backup" => {
            // A file that cannot be read sends no identity: the backend checks the right first.
            let identity =
                std::fs::read_to_string(text_of(&body["identityFile"])).unwrap_or_default();
            let request = json!({
                "backup": body["backup"].clone(),
                "to": body["to"].clone(),
                "move_aside": body["moveAside"].clone(),
            });
            (
                command.into(),
                json!({ "request": request, "identity": identity, "password": body["password"].clone() }),
            )
        }
        _ => (command.into(), body),
    }
}

impl Harness {
    /// Calls a use case as the desktop would.
    fn call(&self, cmd: &str, body: Value) -> Result<Value, Value> {
        let client = ClientInfo::this_computer();
        if cmd == "save_recovery_identity" {
            // The shell writes what the backend holds to the file the owner chose.
            let path = PathBuf::from(body["path"].as_str().unwrap_or_default());
            let identity =
                wire::dispatch(&self.backend, "held_recovery_identity", json!({}), &client)
                    .map_err(|error| serde_json::to_value(error).expect("json"))?;
            std::fs::write(path, identity.as_str().unwrap_or_default()).expect("written");
            return Ok(Value::Null);
        }
        let (cmd, body) = across_the_seam(cmd, body);
        wire::dispatch(&self.backend, &cmd, body, &client)
            .map_err(|error| serde_json::to_value(error).expect("json"))
    }

    fn ok(&self, cmd: &str, body: Value) -> Value {
        match self.call(cmd, body) {
            Ok(value) => value,
            Err(error) => panic!("{cmd} failed: {error}"),
        }
    }

    fn err(&self, cmd: &str, body: Value) -> Value {
        match self.call(cmd, body) {
            Ok(value) => panic!("{cmd} should have failed but returned {value}"),
            Err(error) => error,
        }
    }
}

fn key_file(dir: &Path) -> PathBuf {
    let path = dir.join("owner.key");
    crm_core::secret::generate_key_file(&path).expect("a key file");
    path
}

const OWNER_PASSWORD: &str = "correct horse battery staple 9";

fn create_owner(h: &Harness, key: Option<&Path>) -> Value {
    h.ok(
        "create_vault",
        json!({ "owner": "olivia", "password": OWNER_PASSWORD, "keyFile": key.map(|k| k.display().to_string()) }),
    )
}

#[test]
fn first_run_then_lock_then_unlock_with_key_file() {
    let temp = tempfile::tempdir().expect("temp dir");
    let vault = temp.path().join("vault");
    let h = harness(&vault, Duration::from_secs(600));

    let status = h.ok("vault_status", json!({}));
    assert_eq!(status["exists"], false, "no vault yet: first-run screen");

    let key = key_file(temp.path());
    let created = create_owner(&h, Some(&key));
    assert_eq!(created["session"]["role"], "Owner");
    assert_eq!(created["session"]["can_manage_users"], true);
    let identity = created["recovery_identity"]
        .as_str()
        .expect("identity text");
    assert!(
        identity.contains("AGE-SECRET-KEY-"),
        "the identity is shown once"
    );

    // Saving the identity works until the owner confirms; then it is forgotten.
    let saved = temp.path().join("recovery.txt");
    h.ok(
        "save_recovery_identity",
        json!({ "path": saved.display().to_string() }),
    );
    let text = std::fs::read_to_string(&saved).expect("saved identity");
    assert!(text.contains(identity.trim()));
    h.ok("confirm_recovery_saved", json!({}));
    let gone = h.err(
        "save_recovery_identity",
        json!({ "path": temp.path().join("again.txt").display().to_string() }),
    );
    assert_eq!(gone["code"], "not_found");

    h.ok("lock", json!({}));
    let status = h.ok("vault_status", json!({}));
    assert_eq!(status["session"], Value::Null, "locked: no session");
    assert_eq!(status["users"][0]["name"], "olivia");
    assert_eq!(status["users"][0]["requires_key_file"], true);
    assert_eq!(h.err("list_users", json!({}))["code"], "locked");

    // Without the key file: a clear, coded error.
    let missing = h.err(
        "unlock",
        json!({ "user": "olivia", "password": OWNER_PASSWORD, "keyFile": null }),
    );
    assert_eq!(missing["code"], "key_file_required");

    let session = h.ok(
        "unlock",
        json!({ "user": "olivia", "password": OWNER_PASSWORD, "keyFile": key.display().to_string() }),
    );
    assert_eq!(session["user"], "olivia");
    let users = h.ok("list_users", json!({}));
    assert_eq!(users.as_array().map(Vec::len), Some(1));
}

#[test]
fn wrong_password_crosses_as_code_and_message_and_is_throttled() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(600));
    create_owner(&h, None);
    h.ok("confirm_recovery_saved", json!({}));
    h.ok("lock", json!({}));

    let mut last = Value::Null;
    for _ in 0..6 {
        last = h.err(
            "unlock",
            json!({ "user": "olivia", "password": "nope", "keyFile": null }),
        );
        if last["code"] == "throttled" {
            break;
        }
        assert_eq!(last["code"], "wrong_credentials");
        assert_eq!(last["message"], "wrong password or key file");
    }
    assert_eq!(last["code"], "throttled", "repeated failures are throttled");
    assert!(last["retry_after_secs"].as_u64().unwrap_or(0) > 0);
    let delay = h.ok("unlock_delay", json!({ "user": "olivia" }));
    assert!(
        delay.as_u64().unwrap_or(0) > 0,
        "the unlock screen can show the wait"
    );
}

#[test]
fn sales_representative_cannot_manage_users() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(600));
    create_owner(&h, None);
    h.ok(
        "add_user",
        json!({ "name": "sam", "role": "Sales Representative", "password": "sam's own long password", "keyFile": null }),
    );
    h.ok("lock", json!({}));
    let session = h.ok(
        "unlock",
        json!({ "user": "sam", "password": "sam's own long password", "keyFile": null }),
    );
    assert_eq!(
        session["can_manage_users"], false,
        "the UI hides owner settings"
    );
    // And the core refuses even if the UI were bypassed.
    let refused = h.err(
        "add_user",
        json!({ "name": "eve", "role": "Owner", "password": "another long password", "keyFile": null }),
    );
    assert_eq!(refused["code"], "forbidden");
    assert_eq!(
        h.err("remove_user", json!({ "name": "olivia" }))["code"],
        "forbidden"
    );
}

#[test]
fn owner_removes_a_user_with_key_rotation() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(600));
    create_owner(&h, None);
    h.ok(
        "add_user",
        json!({ "name": "sam", "role": "Sales Representative", "password": "sam's own long password", "keyFile": null }),
    );
    h.ok(
        "reset_password",
        json!({ "name": "sam", "password": "a brand new long password", "keyFile": null }),
    );
    h.ok("remove_user", json!({ "name": "sam" }));
    let users = h.ok("list_users", json!({}));
    assert_eq!(
        users.as_array().map(Vec::len),
        Some(1),
        "only the owner is left"
    );
    h.ok("lock", json!({}));
    let removed = h.err(
        "unlock",
        json!({ "user": "sam", "password": "a brand new long password", "keyFile": null }),
    );
    assert_eq!(removed["code"], "wrong_credentials");
}

fn app_state(h: &Harness) -> SessionHost {
    h.backend.host().clone()
}

#[test]
fn a_long_operation_cannot_be_started_twice() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(600));
    create_owner(&h, None);
    let state = app_state(&h);
    let guard = state
        .start_long_operation("a backup")
        .expect("nothing running yet");
    let refused = h.err("rotate_data_key", json!({}));
    assert_eq!(refused["code"], "busy");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|message| message.contains("a backup")),
        "the answer names what is running: {refused}"
    );
    drop(guard);
    h.ok("rotate_data_key", json!({}));
}

#[test]
fn a_command_answers_busy_while_a_long_operation_holds_the_session() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(600));
    create_owner(&h, None);
    let state = app_state(&h);
    {
        // What a running backup does: mark itself and hold the session for its whole run.
        let _running = state
            .start_long_operation("a backup")
            .expect("nothing running yet");
        let _held = state.lock_state();
        let answer = h.err("list_users", json!({}));
        assert_eq!(answer["code"], "busy", "{answer}");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|message| message.contains("a backup is running")),
            "{answer}"
        );
    }
    // Once it finishes, the same command works.
    assert_eq!(
        h.ok("list_users", json!({})).as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn a_long_operation_holds_auto_lock_off_until_it_ends() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(1));
    create_owner(&h, None);
    let state = app_state(&h);
    let running = state
        .start_long_operation("a backup")
        .expect("nothing running yet");
    // Several idle periods pass while it runs: the vault stays open.
    std::thread::sleep(Duration::from_millis(3500));
    assert!(
        h.ok("vault_status", json!({}))["session"].is_object(),
        "not locked during a long operation"
    );
    drop(running);
    // It ended just now, which counts as activity: still open.
    assert!(state.idle_for() < state.auto_lock_after());
    assert!(h.ok("vault_status", json!({}))["session"].is_object());
    // And an idle period after it, the vault locks as usual.
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(h.ok("vault_status", json!({}))["session"], Value::Null);
}

/// Backup directories in `dir` (beside them: the vault's marker and sealed erasure log).
fn backups_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|entry| entry.path().is_dir())
            .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
            .count()
    })
}

fn save_daily_plan(h: &Harness, destination: &Path) {
    save_plan(h, &[destination], "every 24h", &[]);
}

fn save_plan(h: &Harness, destinations: &[&Path], schedule: &str, recipients: &[&str]) {
    h.ok(
        "save_backup_plan",
        json!({ "plan": {
            "destinations": destinations.iter().map(|path| path.display().to_string()).collect::<Vec<_>>(),
            "schedule": schedule, "drill_interval_days": 0,
            "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6,
            "extra_recipients": recipients,
        }}),
    );
}

const REP_PASSWORD: &str = "sam's own long password";

fn add_rep(h: &Harness) {
    h.ok(
        "add_user",
        json!({ "name": "sam", "role": "Sales Representative", "password": REP_PASSWORD, "keyFile": null }),
    );
}

fn sign_in(h: &Harness, user: &str, password: &str, key: Option<&Path>) -> Value {
    h.ok(
        "unlock",
        json!({ "user": user, "password": password, "keyFile": key.map(|k| k.display().to_string()) }),
    )
}

/// A temp dir with a vault created by the owner (recovery identity confirmed) and a backup
/// folder; the harness has no background threads, so tests drive the scheduled run.
fn owner_with_backup_folder() -> (tempfile::TempDir, Harness, PathBuf) {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness_with(&temp.path().join("vault"), Duration::from_secs(600), false);
    create_owner(&h, None);
    h.ok("confirm_recovery_saved", json!({}));
    let backups = temp.path().join("backups");
    std::fs::create_dir_all(&backups).expect("backup folder");
    (temp, h, backups)
}

#[test]
fn a_due_backup_runs_for_whoever_is_signed_in() {
    let (_temp, h, backups) = owner_with_backup_folder();
    let state = app_state(&h);
    add_rep(&h);
    save_daily_plan(&h, &backups);

    // The Sales Representative is signed in while the backup is due: it runs for them too,
    // though they may not start one themselves.
    h.ok("lock", json!({}));
    sign_in(&h, "sam", REP_PASSWORD, None);
    assert_eq!(h.err("backup_now", json!({}))["code"], "forbidden");
    let restore = h.err(
        "restore_backup",
        json!({ "backup": backups.display().to_string(), "identityFile": "/nonexistent",
                "to": backups.join("restored").display().to_string(),
                "password": REP_PASSWORD, "moveAside": false }),
    );
    assert_eq!(restore["code"], "forbidden", "{restore}");
    assert!(
        restore["message"]
            .as_str()
            .is_some_and(|m| m.contains("Sales Representative")),
        "the role is named: {restore}"
    );
    let mut steps = 0;
    let outcome = run_if_due(&state, &mut |_| steps += 1).expect("the run works");
    assert!(
        matches!(&outcome, Outcome::Made(report) if report.made.len() == 1 && report.succeeded()),
        "{outcome:?}"
    );
    assert!(steps > 0, "the run reports progress");
    assert_eq!(backups_in(&backups), 1);
    // Done for today.
    let outcome = run_if_due(&state, &mut |_| {}).expect("the check works");
    assert!(matches!(outcome, Outcome::NotDue), "{outcome:?}");
    assert_eq!(backups_in(&backups), 1);
}

#[test]
fn search_lists_and_edits_keep_working_while_a_backup_runs() {
    let (_temp, h, backups) = owner_with_backup_folder();
    let state = app_state(&h);
    save_daily_plan(&h, &backups);
    let mut checked = false;
    let outcome = run_if_due(&state, &mut |_| {
        if checked {
            return;
        }
        checked = true;
        // The job is copying: the session is free for the window.
        let id = h.ok(
            "create_record",
            json!({ "entity": "company", "values": [{ "name": "name", "value": "Harbour Foods" }] }),
        );
        h.ok(
            "update_record",
            json!({ "entity": "company", "id": id, "values": [{ "name": "industry", "value": "Food" }] }),
        );
        let found = h.ok("search_records", json!({ "text": "harbour" }));
        assert_eq!(found[0]["title"], "Harbour Foods", "{found}");
        let page = h.ok(
            "list_records",
            json!({ "entity": "company", "filter": { "descending": true, "page": 1, "page_size": 10 } }),
        );
        assert_eq!(page["records"].as_array().map(Vec::len), Some(1));
        // What must not overlap a backup is refused, naming it.
        for command in ["rotate_data_key", "backup_now"] {
            let busy = h.err(command, json!({}));
            assert_eq!(busy["code"], "busy", "{command}: {busy}");
            assert!(
                busy["message"]
                    .as_str()
                    .is_some_and(|message| message.contains("a scheduled backup is running")),
                "{command}: {busy}"
            );
        }
        let overview = h.ok("backup_overview", json!({}));
        assert_eq!(overview["running_backup"], "a scheduled backup");
    })
    .expect("the run works");
    assert!(checked, "the job reported progress");
    assert!(
        matches!(&outcome, Outcome::Made(report) if report.made.len() == 1 && report.succeeded()),
        "{outcome:?}"
    );
    assert_eq!(
        h.ok("backup_overview", json!({}))["running_backup"],
        Value::Null
    );
    // The key rotation refused meanwhile works now.
    h.ok("rotate_data_key", json!({}));
}

#[test]
fn locking_during_a_backup_locks_at_once_and_the_backup_is_still_recorded() {
    let (_temp, h, backups) = owner_with_backup_folder();
    let state = app_state(&h);
    save_daily_plan(&h, &backups);
    let mut locked = false;
    let outcome = run_if_due(&state, &mut |_| {
        if !locked {
            locked = true;
            h.ok("lock", json!({}));
            assert_eq!(
                h.ok("vault_status", json!({}))["session"],
                Value::Null,
                "the window is locked while the backup goes on"
            );
            assert_eq!(h.err("list_users", json!({}))["code"], "locked");
        }
    })
    .expect("the run works");
    assert!(
        matches!(&outcome, Outcome::Made(report) if report.made.len() == 1 && report.succeeded()),
        "{outcome:?}"
    );
    sign_in(&h, "olivia", OWNER_PASSWORD, None);
    let overview = h.ok("backup_overview", json!({}));
    assert_eq!(overview["backups"][0]["state"], "verified", "{overview}");
    assert_eq!(overview["due"], false, "the backup counts: {overview}");
    let locks = h.ok("audit_entries", json!({ "query": { "action": "lock" } }));
    assert!(
        locks.as_array().is_some_and(|entries| !entries.is_empty()),
        "the lock is recorded once the backup is: {locks}"
    );
}

#[test]
fn back_up_now_reports_each_destination() {
    let (temp, h, backups) = owner_with_backup_folder();
    let usb = temp.path().join("usb");
    std::fs::create_dir_all(&usb).expect("second folder");
    save_plan(&h, &[&backups, &usb], "off", &[]);
    // The second drive is unplugged: the first destination still gets its backup.
    std::fs::remove_dir_all(&usb).expect("unplugged");
    let run = h.ok("backup_now", json!({}));
    assert_eq!(run["made"].as_array().map(Vec::len), Some(1), "{run}");
    let problems = run["problems"].as_array().cloned().unwrap_or_default();
    assert_eq!(problems.len(), 1, "{run}");
    assert!(
        problems[0]
            .as_str()
            .is_some_and(|problem| problem.contains("usb")),
        "the problem names the destination: {run}"
    );
    let overview = h.ok("backup_overview", json!({}));
    let destinations = overview["destinations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(destinations.len(), 2, "{overview}");
    assert_eq!(destinations[0]["reachable"], true);
    assert_eq!(destinations[0]["verified_backups"], 1);
    assert_eq!(destinations[1]["reachable"], false);
    assert!(destinations[1]["problem"].is_string(), "{overview}");
}

#[test]
fn the_backup_plan_takes_a_schedule_in_words_and_extra_recipients() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness_with(&temp.path().join("vault"), Duration::from_secs(600), false);
    let created = create_owner(&h, None);
    let recipient = created["recovery_recipient"]
        .as_str()
        .expect("a recipient")
        .to_owned();
    let backups = temp.path().join("backups");
    std::fs::create_dir_all(&backups).expect("backup folder");

    let explained = h.ok("explain_schedule", json!({ "text": "Daily 13:00" }));
    assert_eq!(explained["text"], "daily 13:00");
    assert_eq!(explained["description"], "at 13:00, every day (local time)");
    let refused = h.err("explain_schedule", json!({ "text": "daily 25:00" }));
    assert_eq!(refused["code"], "invalid");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|message| message.contains("25:00")),
        "{refused}"
    );
    assert_eq!(
        h.err("check_backup_recipient", json!({ "recipient": "age1nope" }))["code"],
        "invalid"
    );
    assert_eq!(
        h.ok(
            "check_backup_recipient",
            json!({ "recipient": format!(" {recipient} ") })
        ),
        json!(recipient)
    );

    save_plan(&h, &[&backups], "daily 13:00", &[&recipient]);
    let overview = h.ok("backup_overview", json!({}));
    assert_eq!(overview["plan"]["schedule"], "daily 13:00");
    assert_eq!(
        overview["schedule_text"],
        "at 13:00, every day (local time)"
    );
    assert_eq!(overview["plan"]["extra_recipients"], json!([recipient]));
    assert!(overview["next_run_at"].is_string(), "{overview}");
    // A schedule that is not one is refused and the saved plan stays.
    let bad = h.err(
        "save_backup_plan",
        json!({ "plan": {
            "destinations": [backups.display().to_string()], "schedule": "sometimes",
            "drill_interval_days": 0, "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6,
            "extra_recipients": [],
        }}),
    );
    assert_eq!(bad["code"], "invalid");
    assert_eq!(
        h.ok("backup_overview", json!({}))["plan"]["schedule"],
        "daily 13:00"
    );
}

#[test]
fn an_owner_sees_alerts_after_unlock() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(600));
    create_owner(&h, None);
    h.ok("confirm_recovery_saved", json!({}));
    add_rep(&h);
    h.ok("lock", json!({}));
    // Someone guesses sam's password five times.
    for _ in 0..5 {
        let refused = h.err(
            "unlock",
            json!({ "user": "sam", "password": "guess", "keyFile": null }),
        );
        assert_eq!(refused["code"], "wrong_credentials");
    }
    let session = sign_in(&h, "olivia", OWNER_PASSWORD, None);
    let alerts = session["alerts"].as_array().cloned().unwrap_or_default();
    assert!(
        alerts
            .iter()
            .any(|alert| alert["user"] == "sam" && alert["kind"] == "unlock_failed"),
        "the owner is told at unlock: {session}"
    );
    // Once acknowledged, it is no longer shown.
    for alert in &alerts {
        h.ok("acknowledge_alert", json!({ "id": alert["id"] }));
    }
    assert_eq!(h.ok("session_info_now", json!({}))["alerts"], json!([]));
}

#[test]
fn a_role_that_requires_a_key_file_locks_out_users_without_one_until_they_get_one() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(600));
    create_owner(&h, None);
    h.ok("confirm_recovery_saved", json!({}));
    add_rep(&h);
    let missing = h.ok(
        "set_role_requires_key_file",
        json!({ "role": "Sales Representative", "required": true }),
    );
    assert_eq!(missing, json!(["sam"]), "who cannot sign in now");
    let policy = h.ok("key_file_policy", json!({}));
    let rep = policy
        .as_array()
        .into_iter()
        .flatten()
        .find(|role| role["role"] == "Sales Representative")
        .cloned()
        .expect("the role");
    assert_eq!(rep["required"], true);
    assert_eq!(rep["without_key_file"], json!(["sam"]));
    let users = h.ok("list_users", json!({}));
    let sam = users
        .as_array()
        .into_iter()
        .flatten()
        .find(|user| user["name"] == "sam")
        .cloned()
        .expect("sam");
    assert_eq!(sam["key_file_missing"], true, "{sam}");

    h.ok("lock", json!({}));
    let refused = h.err(
        "unlock",
        json!({ "user": "sam", "password": REP_PASSWORD, "keyFile": null }),
    );
    assert_eq!(refused["code"], "role_requires_key_file", "{refused}");

    // The owner gives sam a key file with a password reset; sam signs in with it.
    sign_in(&h, "olivia", OWNER_PASSWORD, None);
    let key = temp.path().join("sam.key");
    crm_core::secret::generate_key_file(&key).expect("a key file");
    h.ok(
        "reset_password",
        json!({ "name": "sam", "password": "a brand new long password", "keyFile": key.display().to_string() }),
    );
    let users = h.ok("list_users", json!({}));
    assert!(
        users
            .as_array()
            .into_iter()
            .flatten()
            .all(|user| user["key_file_missing"] == false),
        "{users}"
    );
    h.ok("lock", json!({}));
    sign_in(&h, "sam", "a brand new long password", Some(&key));
}

#[test]
fn the_app_makes_a_due_backup_in_the_background() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(600));
    create_owner(&h, None);
    let backups = temp.path().join("backups");
    std::fs::create_dir_all(&backups).expect("backup folder");
    // Saving a plan that makes a backup due wakes the scheduler; no command starts the run.
    save_daily_plan(&h, &backups);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let overview = loop {
        let overview = h.call("backup_overview", json!({}));
        if let Ok(overview) = &overview
            && overview["backups"]
                .as_array()
                .is_some_and(|list| !list.is_empty())
            && overview["due"] == false
        {
            break overview.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scheduled backup appeared: {overview:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(overview["backups"][0]["state"], "verified");
}

#[test]
fn audit_details_read_as_key_value_pairs_without_empty_objects() {
    use crm_api::audit::{AuditDetail, detail_pairs};
    assert!(detail_pairs(&json!({})).is_empty(), "no stray {{}}");
    assert!(detail_pairs(&Value::Null).is_empty());
    assert_eq!(
        detail_pairs(
            &json!({ "reason": "customer called back", "empty": "", "nothing": null, "list": [] })
        ),
        [AuditDetail {
            key: "reason".into(),
            value: "customer called back".into()
        }]
    );
    assert_eq!(
        detail_pairs(&json!({ "settings_changed": true, "ids": [3, 4] })),
        [
            AuditDetail {
                key: "ids".into(),
                value: "3, 4".into()
            },
            AuditDetail {
                key: "settings changed".into(),
                value: "yes".into()
            },
        ]
    );
}

#[test]
fn a_role_change_reads_as_the_settings_that_changed() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(600));
    create_owner(&h, None);
    let roles = h.ok("list_roles", json!({}));
    let mut rep = roles
        .as_array()
        .into_iter()
        .flatten()
        .find(|role| role["name"] == "Sales Representative")
        .cloned()
        .expect("the template");
    let catalog = h.ok("role_catalog", json!({}));
    let entities: Vec<Value> = catalog["entities"].as_array().cloned().unwrap_or_default();
    let actions: Vec<Value> = catalog["actions"].as_array().cloned().unwrap_or_default();
    let row = entities
        .iter()
        .position(|entity| entity == "contact")
        .expect("contacts");
    let column = actions
        .iter()
        .position(|action| action == "view")
        .expect("view");
    rep["grants"][row]["scopes"][column] = json!("all");
    h.ok("save_role", json!({ "role": rep, "create": false }));

    let entries = h.ok(
        "audit_entries",
        json!({ "query": { "action": "role_changed" } }),
    );
    let change = &entries[0];
    assert_eq!(change["old_value"], Value::Null, "no raw JSON: {change}");
    assert_eq!(change["new_value"], Value::Null, "no raw JSON: {change}");
    let changes = change["changes"].as_array().cloned().unwrap_or_default();
    assert!(
        changes.contains(&json!({ "what": "grants.contact.view", "old": "own", "new": "all" })),
        "{changes:?}"
    );
    assert!(
        changes.iter().all(|c| c["what"] != "name"),
        "only what changed is listed: {changes:?}"
    );
}

#[test]
fn the_audit_viewer_gets_a_reveal_reason_as_a_detail() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(600));
    create_owner(&h, None);
    let id = h.ok(
        "create_record",
        json!({ "entity": "contact", "values": [
            { "name": "first_name", "value": "Anna" },
            { "name": "last_name", "value": "Berg" }
        ]}),
    );
    // Only Highly Confidential values are revealed.
    h.ok(
        "classify_field",
        json!({ "entity": "contact", "field": "first_name", "level": "Highly Confidential" }),
    );
    h.ok(
        "reveal_field",
        json!({ "entity": "contact", "id": id, "field": "first_name", "reason": "checking the spelling" }),
    );
    let entries = h.ok("audit_entries", json!({ "query": { "action": "reveal" } }));
    let reveal = &entries[0];
    assert_eq!(reveal["action"], "reveal");
    assert_eq!(
        reveal["details"],
        json!([{ "key": "reason", "value": "checking the spelling" }])
    );
    for entry in entries.as_array().into_iter().flatten() {
        assert!(
            !entry.to_string().contains("{}"),
            "no empty object reaches the viewer: {entry}"
        );
    }
}

#[test]
fn the_vault_locks_itself_after_the_idle_period() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(1));
    create_owner(&h, None);
    std::thread::sleep(Duration::from_millis(3500));
    let status = h.ok("vault_status", json!({}));
    assert_eq!(status["session"], Value::Null, "auto-locked");
    assert_eq!(h.err("list_users", json!({}))["code"], "locked");
}

#[test]
fn password_strength_is_the_core_estimate() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(600));
    assert_eq!(
        h.ok("password_strength", json!({ "password": "abc" }))["verdict"],
        "weak"
    );
    assert_eq!(
        h.ok(
            "password_strength",
            json!({ "password": "Tr0ub4dor & horse staple!" })
        )["verdict"],
        "strong"
    );
}

fn stages(h: &Harness) -> Vec<Value> {
    h.ok("pipeline_stages", json!({}))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn stage_edits(stages: &[Value]) -> Vec<Value> {
    stages
        .iter()
        .map(|stage| {
            json!({ "id": stage["id"], "name": stage["name"], "probability": stage["probability"], "outcome": stage["outcome"] })
        })
        .collect()
}

#[test]
fn pipeline_settings_rename_reorder_add_and_remove_stages_keeping_deals() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(600));
    create_owner(&h, None);
    let before = stages(&h);
    assert_eq!(before[0]["name"], "Lead");
    assert_eq!(before[4]["outcome"], "won");
    let lead = before[0]["id"].clone();
    let qualified = before[1]["id"].clone();
    let deal = h.ok(
        "create_record",
        json!({ "entity": "deal", "values": [
            { "name": "title", "value": "Harbour renewal" },
            { "name": "stage_id", "value": lead.to_string() }
        ]}),
    );

    // Rename Lead, move it after Qualified, add a stage: the deal stays in its stage.
    let mut edits = stage_edits(&before);
    edits[0]["name"] = json!("First contact");
    edits.swap(0, 1);
    edits.insert(
        2,
        json!({ "id": null, "name": "Demo", "probability": 40, "outcome": "open" }),
    );
    h.ok(
        "save_pipeline",
        json!({ "stages": edits, "moveDealsTo": null }),
    );
    let after = stages(&h);
    let names: Vec<&str> = after
        .iter()
        .filter_map(|stage| stage["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Qualified",
            "First contact",
            "Demo",
            "Proposal",
            "Negotiation",
            "Won",
            "Lost"
        ]
    );
    let shown = h.ok("show_record", json!({ "entity": "deal", "id": deal }));
    let stage = shown["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|field| field["name"] == "stage_id")
        .cloned()
        .expect("the stage field");
    assert_eq!(stage["value"], "First contact", "{shown}");

    // Removing the stage that holds the deal needs a stage to move it to.
    let without: Vec<Value> = stage_edits(&after)
        .into_iter()
        .filter(|stage| stage["id"] != lead)
        .collect();
    let refused = h.err(
        "save_pipeline",
        json!({ "stages": without, "moveDealsTo": null }),
    );
    assert_eq!(refused["code"], "invalid");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|message| message.contains("First contact")),
        "{refused}"
    );
    assert_eq!(stages(&h).len(), 7, "nothing changed");
    h.ok(
        "save_pipeline",
        json!({ "stages": without, "moveDealsTo": qualified }),
    );
    let shown = h.ok("show_record", json!({ "entity": "deal", "id": deal }));
    assert!(
        shown.to_string().contains("\"value\":\"Qualified\""),
        "{shown}"
    );
}

#[test]
fn custom_fields_are_added_changed_and_deleted_with_their_values() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(600));
    create_owner(&h, None);
    h.ok(
        "add_custom_field",
        json!({ "entity": "company", "field": {
            "name": "tier", "label": "Tier", "kind": "choice", "level": "Internal",
            "financial": false, "choices": ["gold", "silver"]
        }}),
    );
    let bad = h.err(
        "add_custom_field",
        json!({ "entity": "company", "field": {
            "name": "Bad Name", "label": "Bad", "kind": "text", "level": "Internal",
            "financial": false, "choices": []
        }}),
    );
    assert_eq!(bad["code"], "invalid");
    let id = h.ok(
        "create_record",
        json!({ "entity": "company", "values": [
            { "name": "name", "value": "Acme" }, { "name": "tier", "value": "gold" }
        ]}),
    );
    // A choice records still hold cannot go; relabelling and adding one can.
    let in_use = h.err(
        "change_custom_field",
        json!({ "entity": "company", "name": "tier", "change": { "label": null, "choices": ["silver"], "financial": null } }),
    );
    assert_eq!(in_use["code"], "invalid");
    h.ok(
        "change_custom_field",
        json!({ "entity": "company", "name": "tier", "change": { "label": "Customer tier", "choices": ["gold", "silver", "bronze"], "financial": null } }),
    );
    let fields = h.ok("field_levels", json!({ "entity": "company" }));
    let tier = fields
        .as_array()
        .into_iter()
        .flatten()
        .find(|field| field["name"] == "tier")
        .cloned()
        .expect("the field");
    assert_eq!(tier["label"], "Customer tier");
    assert_eq!(tier["kind"], "choice");
    assert_eq!(tier["choices"], json!(["gold", "silver", "bronze"]));
    assert_eq!(tier["custom"], true);

    let deleted = h.ok(
        "delete_custom_field",
        json!({ "entity": "company", "name": "tier" }),
    );
    assert_eq!(deleted, 1, "one value went with the field");
    let shown = h.ok("show_record", json!({ "entity": "company", "id": id }));
    assert!(!shown.to_string().contains("gold"), "{shown}");
}

#[test]
fn a_record_shows_its_team_and_authors_and_takes_and_drops_tags() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(600));
    create_owner(&h, None);
    let id = h.ok(
        "create_record",
        json!({ "entity": "company", "values": [{ "name": "name", "value": "Acme" }] }),
    );
    h.ok(
        "tag_record",
        json!({ "entity": "company", "id": id, "tag": "vip" }),
    );
    h.ok(
        "tag_record",
        json!({ "entity": "company", "id": id, "tag": "north" }),
    );
    h.ok(
        "untag_record",
        json!({ "entity": "company", "id": id, "tag": "vip" }),
    );
    let shown = h.ok("show_record", json!({ "entity": "company", "id": id }));
    assert_eq!(shown["tags"], json!(["north"]));
    assert_eq!(shown["created_by"], "olivia");
    assert_eq!(shown["updated_by"], "olivia");
    assert_eq!(shown["team"], Value::Null);
    // A team must exist (teams are made by putting users in them).
    let unknown = h.err(
        "set_record_team",
        json!({ "entity": "company", "id": id, "team": "north" }),
    );
    assert_eq!(unknown["code"], "not_found", "{unknown}");

    // The owner puts a user in a team on the Users screen; the team is then offered for
    // records, and the record takes it.
    assert_eq!(h.ok("assignable_teams", json!({})), json!([]));
    add_rep(&h);
    h.ok("set_user_team", json!({ "name": "sam", "team": "north" }));
    let users = h.ok("list_users", json!({}));
    let sam = users
        .as_array()
        .and_then(|users| users.iter().find(|user| user["name"] == "sam"))
        .cloned()
        .expect("sam listed");
    assert_eq!(sam["team"], "north", "{users}");
    assert_eq!(h.ok("assignable_teams", json!({})), json!(["north"]));
    h.ok(
        "set_record_team",
        json!({ "entity": "company", "id": id, "team": "north" }),
    );
    let shown = h.ok("show_record", json!({ "entity": "company", "id": id }));
    assert_eq!(shown["team"], "north");
    h.ok("set_user_team", json!({ "name": "sam", "team": null }));
    assert_eq!(
        h.err(
            "set_user_team",
            json!({ "name": "nobody", "team": "north" })
        )["code"],
        "not_found"
    );

    // A Sales Representative changes no one's team: nothing to choose from.
    h.ok("lock", json!({}));
    sign_in(&h, "sam", REP_PASSWORD, None);
    assert_eq!(h.ok("assignable_teams", json!({})), json!([]));
    assert_eq!(
        h.err("set_user_team", json!({ "name": "sam", "team": "south" }))["code"],
        "forbidden"
    );
}

#[test]
fn an_activity_names_its_contact_and_deal_for_the_owner() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(600));
    create_owner(&h, None);
    let contact = h.ok(
        "create_record",
        json!({ "entity": "contact", "values": [
            { "name": "first_name", "value": "Anna" }, { "name": "last_name", "value": "Berg" }
        ]}),
    );
    let deal = h.ok(
        "create_record",
        json!({ "entity": "deal", "values": [{ "name": "title", "value": "Harbour renewal" }] }),
    );
    let task = h.ok(
        "create_record",
        json!({ "entity": "activity", "values": [
            { "name": "kind", "value": "task" }, { "name": "subject", "value": "Send the offer" },
            { "name": "contact_id", "value": contact.to_string() },
            { "name": "deal_id", "value": deal.to_string() }
        ]}),
    );
    let shown = h.ok("show_record", json!({ "entity": "activity", "id": task }));
    let field = |name: &str| {
        shown["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|field| field["name"] == name)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(field("contact_id")["value"], "Anna Berg");
    assert_eq!(field("contact_id")["link"]["id"], contact);
    assert_eq!(field("contact_id")["masked"], Value::Null);
    assert_eq!(field("deal_id")["value"], "Harbour renewal");
    assert_eq!(field("deal_id")["link"]["entity"], "deal");
}

#[test]
fn an_import_check_shows_the_record_type_plan_rejections_and_undecided_dates() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(600));
    create_owner(&h, None);
    let file = temp.path().join("hubspot-deals.csv");
    std::fs::write(
        &file,
        "Deal Name,Deal Stage,Amount,Close Date,Deal owner\n\
         Harbour renewal,Qualified,12500,03/04/2027,olivia\n\
         Dock extension,Contract Sent,4000,05/06/2027,olivia\n",
    )
    .expect("the file");
    let path = file.display().to_string();
    let check = |request: Value| {
        h.ok(
            "import_records",
            json!({ "path": path, "request": request }),
        )
    };
    let report = check(
        json!({ "dry_run": true, "entity": null, "date_order": null, "stage_map": [], "encoding": null, "mapping": [] }),
    );
    assert_eq!(report["entity"], "deal", "told from the header: {report}");
    assert_eq!(report["layout"], "hubspot-deals");
    assert_eq!(report["date_order_needed"], true, "{report}");
    assert_eq!(report["date_columns"][0]["column"], "Close Date");
    let rejections = report["rejections"].as_array().cloned().unwrap_or_default();
    assert!(
        rejections.iter().all(|r| r["column"] == "Close Date") && rejections.len() == 2,
        "both dates fit either order: {report}"
    );

    // With the order chosen, the unknown stage is what is left.
    let report = check(
        json!({ "dry_run": true, "entity": "deal", "date_order": "dmy", "stage_map": [], "encoding": null, "mapping": [] }),
    );
    assert_eq!(report["date_order_needed"], false, "{report}");
    assert!(
        report["notices"].as_array().is_some_and(|notices| notices
            .iter()
            .any(|n| n.as_str().is_some_and(|n| n.contains("Contract Sent")))),
        "the unknown stage is named: {report}"
    );
    let rejections = report["rejections"].as_array().cloned().unwrap_or_default();
    assert_eq!(rejections.len(), 1, "{report}");
    assert_eq!(rejections[0]["row"], 3);
    assert_eq!(rejections[0]["column"], "Deal Stage");
    assert_eq!(report["plan"][0]["name"], "Harbour renewal", "{report}");

    // The stage mapped too: the plan is clean.
    let report = check(json!({
        "dry_run": true, "entity": "deal", "date_order": "dmy",
        "stage_map": [{ "theirs": "Contract Sent", "ours": "Negotiation" }],
        "encoding": null, "mapping": []
    }));
    assert_eq!(report["rejected"], 0, "{report}");
    assert_eq!(report["date_order_needed"], false, "{report}");
    let plan = report["plan"].as_array().cloned().unwrap_or_default();
    assert_eq!(plan.len(), 2, "{report}");
    assert_eq!(plan[0]["action"], "create");
    assert_eq!(plan[0]["name"], "Harbour renewal");
    assert_eq!(
        h.ok("list_records", json!({ "entity": "deal", "filter": { "descending": true, "page": 1, "page_size": 10 } }))["records"],
        json!([]),
        "a check writes nothing"
    );
    let done = check(json!({
        "dry_run": false, "entity": "deal", "date_order": "dmy",
        "stage_map": [{ "theirs": "Contract Sent", "ours": "Negotiation" }],
        "encoding": null, "mapping": []
    }));
    assert_eq!(done["committed"], true, "{done}");
    assert_eq!(done["created"], 2);
}

#[test]
fn an_import_check_offers_the_fields_a_column_can_take_and_reads_a_chosen_encoding() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(600));
    create_owner(&h, None);
    // A French Excel export: headers nobody recognises, and Windows-1252 bytes ("Hélène").
    let file = temp.path().join("contacts-fr.csv");
    std::fs::write(
        &file,
        b"Nom;Pr\xe9nom;Courriel\nDurand;H\xe9l\xe8ne;helene@example.fr\n",
    )
    .expect("the file");
    let path = file.display().to_string();
    let check = |mapping: Value, encoding: Value| {
        h.ok(
            "import_records",
            json!({ "path": path, "request": {
                "dry_run": true, "entity": "contact", "date_order": null, "stage_map": [],
                "encoding": encoding, "mapping": mapping
            } }),
        )
    };

    let report = check(json!([]), Value::Null);
    assert_eq!(report["rejections"][0]["row"], 1, "{report}");
    let reason = report["rejections"][0]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.contains("map a column to last_name") && !reason.contains("--"),
        "the remedy is one the desktop offers, not a command-line option: {reason}"
    );
    let mappable: Vec<&str> = report["mappable"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for name in [
        "last_name",
        "first_name",
        "emails",
        "company",
        "tags",
        "ignore",
    ] {
        assert!(mappable.contains(&name), "{name} offered: {report}");
    }

    let mapping = json!([
        { "column": "Nom", "field": "last_name" },
        { "column": "Prénom", "field": "first_name" },
        { "column": "Courriel", "field": "emails" }
    ]);
    let report = check(mapping.clone(), json!("windows-1252"));
    assert_eq!(report["encoding"], "windows-1252", "{report}");
    assert_eq!(report["separator"], "semicolon", "{report}");
    assert_eq!(report["rejected"], 0, "{report}");
    assert_eq!(report["plan"][0]["name"], "Hélène Durand", "{report}");

    let refused = h.err(
        "import_records",
        json!({ "path": path, "request": {
            "dry_run": true, "entity": "contact", "date_order": null, "stage_map": [],
            "encoding": "ebcdic", "mapping": mapping
        } }),
    );
    assert_eq!(refused["code"], "invalid", "{refused}");
}
