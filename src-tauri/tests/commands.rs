//! The desktop commands through Tauri's real IPC path (mock runtime, real ACL from the
//! app's capability file, real vault on disk): first run, lock, unlock with a key file,
//! role checks, error shape, auto-lock, the long-operation guard and `busy` answers,
//! scheduled backups, readable audit details, and bindings drift.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use strongroom_desktop::scheduled_backup::{Outcome, run_if_due};
use strongroom_desktop::state::AppState;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{App, Manager, WebviewWindow, WebviewWindowBuilder};

struct Harness {
    _app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
}

fn harness(vault_dir: &Path, auto_lock: Duration) -> Harness {
    harness_with(vault_dir, auto_lock, true)
}

/// `background`: start the auto-lock timer and the backup scheduler (as the app does); without
/// them a test drives the scheduled run itself.
fn harness_with(vault_dir: &Path, auto_lock: Duration, background: bool) -> Harness {
    let app = strongroom_desktop::builder(mock_builder(), vault_dir.to_path_buf(), Some(auto_lock))
        .build(tauri::generate_context!())
        .expect("the app builds on the mock runtime");
    if background {
        strongroom_desktop::on_ready(app.handle());
    } else {
        strongroom_desktop::specta_builder::<MockRuntime>().mount_events(app.handle());
    }
    let window = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("the main window opens");
    Harness { _app: app, window }
}

impl Harness {
    /// Calls a command as the UI would (from the app's own origin).
    fn call(&self, cmd: &str, body: Value) -> Result<Value, Value> {
        get_ipc_response(
            &self.window,
            InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().expect("a valid URL"),
                body: InvokeBody::Json(body),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.into(),
            },
        )
        .map(|body| body.deserialize::<Value>().expect("a JSON response"))
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

fn app_state(h: &Harness) -> AppState {
    h.window.state::<AppState>().inner().clone()
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

fn backups_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
            .count()
    })
}

fn save_daily_plan(h: &Harness, destination: &Path) {
    h.ok(
        "save_backup_plan",
        json!({ "plan": {
            "destinations": [destination.display().to_string()],
            "interval_hours": 24, "drill_interval_days": 0,
            "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6
        }}),
    );
}

#[test]
fn a_scheduled_backup_runs_only_for_a_role_with_the_backup_right() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness_with(&temp.path().join("vault"), Duration::from_secs(600), false);
    let state = app_state(&h);
    create_owner(&h, None);
    h.ok("confirm_recovery_saved", json!({}));
    h.ok(
        "add_user",
        json!({ "name": "sam", "role": "Sales Representative", "password": "sam's own long password", "keyFile": null }),
    );
    let backups = temp.path().join("backups");
    std::fs::create_dir_all(&backups).expect("backup folder");
    save_daily_plan(&h, &backups);

    // The Sales Representative is signed in while the backup is due: nothing runs for them.
    h.ok("lock", json!({}));
    h.ok(
        "unlock",
        json!({ "user": "sam", "password": "sam's own long password", "keyFile": null }),
    );
    let outcome = run_if_due(&state, &mut |_| {}).expect("the check itself works");
    assert!(matches!(outcome, Outcome::NotPermitted), "{outcome:?}");
    assert_eq!(backups_in(&backups), 0, "no backup made for the rep");

    // The owner's next unlock catches up on the missed run.
    h.ok("lock", json!({}));
    h.ok(
        "unlock",
        json!({ "user": "olivia", "password": OWNER_PASSWORD, "keyFile": null }),
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
    use strongroom_desktop::commands::audit::{AuditDetail, detail_pairs};
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

#[test]
fn a_command_not_granted_by_the_capability_is_refused() {
    let temp = tempfile::tempdir().expect("temp dir");
    let h = harness(&temp.path().join("vault"), Duration::from_secs(600));
    // The shell plugin is not part of the app; fs commands are not granted.
    assert!(
        h.call("plugin:fs|read_file", json!({ "path": "/etc/passwd" }))
            .is_err()
    );
}

/// The committed TypeScript bindings match the Rust commands. Regenerate with
/// `STRONGROOM_WRITE_BINDINGS=1 cargo test -p strongroom-desktop --test commands bindings`.
#[test]
fn typescript_bindings_are_current() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join(strongroom_desktop::BINDINGS_PATH);
    if std::env::var_os("STRONGROOM_WRITE_BINDINGS").is_some() {
        strongroom_desktop::export_bindings(&committed).expect("bindings written");
        return;
    }
    let temp = tempfile::tempdir().expect("temp dir");
    let fresh = temp.path().join("bindings.ts");
    strongroom_desktop::export_bindings(&fresh).expect("bindings generated");
    let fresh = std::fs::read_to_string(fresh).expect("fresh bindings");
    let committed = std::fs::read_to_string(&committed).expect("committed bindings");
    assert!(
        fresh == committed,
        "ui/src/lib/bindings.ts is stale: regenerate with STRONGROOM_WRITE_BINDINGS=1 cargo test -p strongroom-desktop --test commands bindings"
    );
}
