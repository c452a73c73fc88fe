//! The desktop shell through Tauri's real IPC path (mock runtime, real ACL from the app's
//! capability file, real vault on disk): what the shell itself adds to the use cases. Files
//! the user picks are read on this side (a key file's digest, an import's content, the
//! recovery identity written where the owner chose), the ACL refuses what the capability
//! does not grant, and the generated bindings are current. The use cases themselves are
//! tested without a window in crates/crm-api/tests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow, WebviewWindowBuilder};

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
    // A path from the window never overwrites a file (it could name any file of the user's).
    let elsewhere = temp.path().join("notes.txt");
    std::fs::write(&elsewhere, "my notes").expect("an existing file");
    h.err(
        "save_recovery_identity",
        json!({ "path": elsewhere.display().to_string() }),
    );
    assert_eq!(
        std::fs::read_to_string(&elsewhere).expect("still there"),
        "my notes"
    );
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
