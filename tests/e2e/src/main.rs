//! End-to-end test of the desktop app in a real WebKitGTK window.
//!
//! Run by `scripts/e2e.sh` inside Xvfb: starts `tauri-driver` on its own ports (polling
//! `/status` before creating a session), drives the release-like build of the app against a
//! fresh vault in a temp dir, and saves a screenshot of each main screen into the folder it is
//! given (the script passes `target/e2e-screenshots/`; `--update-screenshots` copies them to
//! `docs/screenshots/`), the window grown to the page's height so nothing is cut off.
//!
//! Flow, as the issue reads: first run with a key file → recovery identity confirmed → the
//! owner adds a company and a contact → lock → wrong password (clear error) → unlock with the
//! key file, the data still there. Then the owner adds a Sales Representative, works the
//! customer base (`work`: tags, my tasks naming what a task is about), imports contacts and
//! deals with the plan shown before importing (choosing the date order and mapping a stage),
//! lets Sales Representatives view every contact and reveal Highly Confidential values,
//! classifies a field and adds a custom field, sets the security policy (auto-lock, a key file
//! for a role: the users screen marks who lacks one, and the unlock screen says why their
//! password alone is refused), renames a pipeline stage and sees it on the board, saves a backup plan "daily at
//! 13:00", sees the scheduled backup run, backs up now and restores through the wizard, and
//! reviews the audit trail (`admin`) → lock → the Sales Representative signs in: no owner
//! settings in the navigation, an owner command invoked from the page is refused by the core,
//! masked fields, a reveal with a reason → lock → someone guesses the representative's
//! password five times → the owner unlocks and sees the alert banner, opens the alerts, and
//! finds the reveal in the audit trail. Last, the app is started again with `--vault` on the
//! restored vault, which unlocks with the new password and holds the data.
//!
//! tauri-driver is stopped with SIGTERM (never SIGKILL: WebKitWebDriver would outlive it and
//! hold its port).
//!
//! Usage: `strongroom-e2e APP_BINARY SCREENSHOT_DIR` (DISPLAY must be set).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

mod admin;
mod work;

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

const OWNER: &str = "olivia";
const OWNER_PASSWORD: &str = "Harbour lights at 6 o'clock";
const REP: &str = "sam";
const REP_PASSWORD: &str = "Sam sells 40 sea shells!";
const WAIT: Duration = Duration::from_secs(30);
/// The window's size for the screenshots (the page may grow it taller).
const WINDOW: (u32, u32) = (1280, 860);
/// The tallest a screenshot gets (the Xvfb screen is this tall).
const MAX_SHOT_HEIGHT: u32 = 2000;
/// The restored vault's owner password.
pub(crate) const RESTORED_PASSWORD: &str = "Restored vault, new password 1";

/// tauri-driver, stopped with SIGTERM on drop.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        // SIGTERM lets tauri-driver stop WebKitWebDriver and the app it started.
        let pid = self.0.id().to_string();
        if let Err(error) = Command::new("kill").args(["-TERM", &pid]).status() {
            eprintln!("e2e: could not send SIGTERM to tauri-driver: {error}");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("e2e: tauri-driver did not stop within 10 s after SIGTERM");
    }
}

fn free_port() -> Fallible<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_for_status(port: u16) -> Fallible<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            stream.set_read_timeout(Some(Duration::from_secs(2)))?;
            let request = format!(
                "GET /status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut response = String::new();
                let _ = stream.read_to_string(&mut response);
                if response.starts_with("HTTP/1.1 200") {
                    return Ok(());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("tauri-driver did not answer /status on port {port}").into())
}

struct Ui {
    client: Client,
    shots: PathBuf,
}

impl Ui {
    async fn find(&self, css: &str) -> Fallible<Element> {
        Ok(self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await?)
    }

    async fn type_into(&self, css: &str, text: &str) -> Fallible<()> {
        let field = self.find(css).await?;
        field.clear().await?;
        field.send_keys(text).await?;
        Ok(())
    }

    async fn click(&self, css: &str) -> Fallible<()> {
        self.find(css).await?.click().await?;
        Ok(())
    }

    async fn text(&self, css: &str) -> Fallible<String> {
        Ok(self.find(css).await?.text().await?)
    }

    async fn absent(&self, css: &str) -> Fallible<bool> {
        Ok(self.client.find_all(Locator::Css(css)).await?.is_empty())
    }

    /// Waits until a script run in the page returns `true` (`what` names it in the error).
    async fn wait_until(&self, script: &str, what: &str) -> Fallible<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.client.execute(script, vec![]).await?.as_bool() == Some(true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("never happened: {what}").into());
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Waits until an element's text contains `needle`.
    async fn wait_text(&self, css: &str, needle: &str) -> Fallible<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text(css).await.unwrap_or_default();
            if text.contains(needle) {
                return Ok(text);
            }
            if Instant::now() > deadline {
                return Err(format!("{css} never showed {needle:?} (last: {text:?})").into());
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Saves a picture of the whole screen: the window grows to the page's height (so no
    /// heading or button is cut off), then returns to its usual size. A page taller than the
    /// screen is shown from its top.
    async fn screenshot(&self, name: &str) -> Fallible<()> {
        self.screenshot_showing(name, None).await
    }

    /// As [`screenshot`](Self::screenshot); a page taller than the screen is shown down to the
    /// end of the element `anchor` (a panel at the bottom of a long page).
    async fn screenshot_showing(&self, name: &str, anchor: Option<&str>) -> Fallible<()> {
        // Let transitions and fonts settle so the picture shows the finished screen.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let height = self
            .client
            .execute(
                "return Math.ceil(Math.max(document.documentElement.scrollHeight, document.body.scrollHeight));",
                vec![],
            )
            .await?
            .as_u64()
            .and_then(|height| u32::try_from(height).ok())
            .unwrap_or(WINDOW.1);
        let tall = height.clamp(WINDOW.1, MAX_SHOT_HEIGHT);
        if tall > WINDOW.1 {
            self.client.set_window_size(WINDOW.0, tall).await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        match anchor {
            None => {
                self.client
                    .execute("window.scrollTo(0, 0);", vec![])
                    .await?
            }
            Some(css) => {
                self.client
                    .execute(
                        "document.querySelector(arguments[0]).scrollIntoView({ block: 'end' });",
                        vec![css.into()],
                    )
                    .await?
            }
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let png = self.client.screenshot().await?;
        if tall > WINDOW.1 {
            self.client.set_window_size(WINDOW.0, WINDOW.1).await?;
        }
        std::fs::write(self.shots.join(format!("{name}.png")), png)?;
        println!("e2e: screenshot {name}.png ({}x{tall})", WINDOW.0);
        Ok(())
    }

    /// Every navigation entry an owner has and a Sales Representative must not.
    async fn owner_settings_absent(&self) -> Fallible<()> {
        for id in ["users", "roles", "fields", "security", "backups", "audit"] {
            assert!(
                self.absent(&format!("#nav-{id}")).await?,
                "no {id} entry for a Sales Representative"
            );
        }
        Ok(())
    }

    /// Calls a command through the page's own IPC, as a tampered UI could; returns the error
    /// object the app answered with (or "allowed").
    async fn invoke_from_page(&self, command: &str, args: serde_json::Value) -> Fallible<String> {
        let script = r#"
            const [command, args, done] = arguments;
            window.__TAURI_INTERNALS__.invoke(command, args).then(
                () => done("allowed"),
                (error) => done(JSON.stringify(error)),
            );
        "#;
        let answer = self
            .client
            .execute_async(script, vec![command.into(), args])
            .await?;
        Ok(answer.as_str().unwrap_or_default().to_owned())
    }

    async fn unlock(&self, user: &str, password: &str, key_file: Option<&Path>) -> Fallible<()> {
        self.find("[data-testid=unlock]").await?;
        // The list of users is read again after locking: wait for this one.
        self.find(&format!("#user option[value='{user}']")).await?;
        self.find("#user").await?.select_by_value(user).await?;
        self.type_into("#password", password).await?;
        if let Some(key) = key_file {
            if self.absent("#key-file").await? {
                self.click("button.link").await?;
            }
            self.type_into("#key-file", &key.display().to_string())
                .await?;
        }
        self.click("#unlock").await?;
        Ok(())
    }
}

async fn flow(ui: &Ui, key_file: &Path, scratch: &Path) -> Fallible<PathBuf> {
    // First run.
    ui.find("[data-testid=first-run]").await?;
    ui.type_into("#owner", OWNER).await?;
    ui.type_into("#password", OWNER_PASSWORD).await?;
    ui.type_into("#repeat", OWNER_PASSWORD).await?;
    ui.wait_text("[data-testid=strength]", "of 4").await?;
    ui.click("#use-key-file").await?;
    ui.type_into("#key-file", &key_file.display().to_string())
        .await?;
    ui.screenshot("01-first-run").await?;
    ui.click("#create").await?;

    // The recovery identity, shown once, with an explicit confirmation.
    let identity = ui.text("#recovery-identity").await?;
    assert!(
        identity.contains("AGE-SECRET-KEY-"),
        "recovery identity shown"
    );
    // What the owner prints or saves: the restore step reads it back.
    let identity_file = scratch.join("recovery-identity.txt");
    std::fs::write(&identity_file, &identity)?;
    let finish = ui.find("#finish").await?;
    assert!(
        !finish.is_enabled().await?,
        "Continue needs the confirmation"
    );
    ui.screenshot("02-recovery-identity").await?;
    ui.click("#confirm-recovery").await?;
    ui.click("#finish").await?;
    ui.wait_text("[data-testid=overview] h1", OWNER).await?;

    // Add a company and a contact; lock; unlock with the key file: the data is still there.
    work::owner_adds_company_and_contact(ui).await?;
    ui.click("#lock").await?;
    ui.unlock(OWNER, "not my password", Some(key_file)).await?;
    ui.wait_text("[data-testid=unlock-error]", "wrong password or key file")
        .await?;
    ui.screenshot("06-unlock-error").await?;
    ui.unlock(OWNER, OWNER_PASSWORD, Some(key_file)).await?;
    ui.wait_text("[data-testid=overview] h1", OWNER).await?;
    ui.wait_text("[data-testid=failed-unlocks]", "1 failed unlock attempt")
        .await?;
    ui.screenshot("03-overview-owner").await?;
    work::data_is_still_there(ui).await?;

    // Owner settings → users: add a Sales Representative.
    ui.click("#nav-users").await?;
    ui.find("[data-testid=users]").await?;
    ui.click("#add-user").await?;
    ui.type_into("#new-name", REP).await?;
    ui.find("#new-role")
        .await?
        .select_by_value("Sales Representative")
        .await?;
    ui.type_into("#new-password", REP_PASSWORD).await?;
    ui.type_into("#new-repeat", REP_PASSWORD).await?;
    ui.screenshot("04-users-add").await?;
    ui.click("#save-user").await?;
    ui.wait_text(&format!("tr[data-user={REP}]"), "Sales Representative")
        .await?;
    // …and put them in a new team, which records can then be given to.
    ui.find(&format!("select[data-team-of={REP}]"))
        .await?
        .select_by_value("new")
        .await?;
    ui.type_into("#new-team-name", "North").await?;
    ui.click("#save-new-team").await?;
    ui.wait_text("[data-testid=users] .notice", "is in the North team")
        .await?;
    ui.screenshot("05-users").await?;

    work::owner_works_the_customer_base(ui).await?;
    work::owner_imports_contacts(ui, scratch).await?;
    work::owner_imports_deals_choosing_dates_and_stages(ui, scratch).await?;
    work::owner_imports_an_excel_file_choosing_its_columns(ui, scratch).await?;
    admin::owner_widens_the_sales_representative_role(ui).await?;
    admin::owner_requires_a_key_file_for_a_role(ui, key_file).await?;
    admin::owner_renames_a_pipeline_stage(ui).await?;
    let restored = admin::owner_backs_up_and_restores(ui, scratch, &identity_file).await?;
    admin::owner_reviews_the_audit_trail(ui).await?;
    admin::owner_runs_the_security_checkup(ui).await?;

    // The Sales Representative: no owner settings, in the navigation or through the IPC.
    ui.click("#lock").await?;
    ui.find("[data-testid=unlock]").await?;
    ui.find(&format!("#user option[value='{REP}']")).await?;
    ui.find("#user").await?.select_by_value(REP).await?;
    ui.screenshot("07-unlock").await?;
    ui.unlock(REP, REP_PASSWORD, None).await?;
    ui.wait_text("[data-testid=signed-in-user]", REP).await?;
    ui.wait_text("[data-testid=overview]", "Sales Representative")
        .await?;
    // The owner's auto-lock policy applies to this session too.
    ui.wait_text("[data-testid=overview]", "after 15 min")
        .await?;
    ui.owner_settings_absent().await?;
    for (command, args) in [
        (
            "add_user",
            serde_json::json!({ "name": "eve", "role": "Owner", "password": "eve's long password 1", "keyFile": null }),
        ),
        ("list_users", serde_json::json!({})),
        ("audit_entries", serde_json::json!({ "query": {} })),
        ("backup_now", serde_json::json!({})),
    ] {
        let answer = ui.invoke_from_page(command, args).await?;
        assert!(
            answer.contains("\"code\":\"forbidden\""),
            "{command} as the rep: {answer}"
        );
    }
    ui.screenshot("08-overview-sales-rep").await?;
    work::rep_sees_masked_fields(ui).await?;
    work::rep_reveals_with_a_reason(ui).await?;
    work::rep_sees_others_contact_masked(ui).await?;

    // Ctrl+L locks from anywhere.
    ui.find("body").await?.send_keys("\u{E009}l").await?;
    ui.find("[data-testid=unlock]").await?;

    // Someone guesses the representative's password: the owner is told at the next unlock.
    admin::someone_guesses_a_password(ui, REP).await?;
    ui.unlock(OWNER, OWNER_PASSWORD, Some(key_file)).await?;
    ui.wait_text("[data-testid=signed-in-user]", OWNER).await?;
    admin::owner_sees_the_alert_banner(ui).await?;

    // The owner sees the reveal, with its reason, in the audit trail.
    admin::owner_sees_the_reveal(ui).await?;
    ui.click("#lock").await?;
    ui.find("[data-testid=unlock]").await?;
    Ok(restored)
}

/// A tauri-driver session on the app, started with `args`.
async fn session(port: u16, app: &Path, args: &[String]) -> Fallible<Client> {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "tauri:options".into(),
        serde_json::json!({ "application": app, "args": args }),
    );
    let client = ClientBuilder::native()
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await?;
    client.set_window_size(WINDOW.0, WINDOW.1).await?;
    Ok(client)
}

/// Runs `flow` with a failure screenshot and closes the session either way.
async fn with_session<T>(
    client: Client,
    shots: &Path,
    flow: impl AsyncFnOnce(&Ui) -> Fallible<T>,
) -> Fallible<T> {
    let ui = Ui {
        client,
        shots: shots.to_path_buf(),
    };
    let outcome = flow(&ui).await;
    if outcome.is_err() {
        let failure = Ui {
            client: ui.client.clone(),
            shots: std::env::temp_dir(),
        };
        let _ = failure.screenshot("strongroom-e2e-failure").await;
    }
    let _ = ui.client.close().await;
    outcome
}

#[tokio::main]
async fn main() -> Fallible<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(app), Some(shots)) = (args.next(), args.next()) else {
        return Err("usage: strongroom-e2e APP_BINARY SCREENSHOT_DIR".into());
    };
    let app = std::fs::canonicalize(PathBuf::from(app))?;
    let shots = PathBuf::from(shots);
    std::fs::create_dir_all(&shots)?;

    let temp = tempfile::tempdir()?;
    let vault = temp.path().join("vault");
    let key_file = temp.path().join("usb").join("olivia.key");
    std::fs::create_dir_all(temp.path().join("usb"))?;
    crm_core::secret::generate_key_file(&key_file)?;

    let port = free_port()?;
    let native_port = free_port()?;
    let started = Instant::now();
    let driver = Driver(
        Command::new("tauri-driver")
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .env("STRONGROOM_VAULT", &vault)
            .env("STRONGROOM_KDF", "floor")
            .env("NO_AT_BRIDGE", "1")
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("cannot start tauri-driver (scripts/setup.sh installs it): {e}")
            })?,
    );
    wait_for_status(port).await?;

    let outcome = async {
        let client = session(port, &app, &[]).await?;
        let restored = with_session(client, &shots, async |ui: &Ui| {
            flow(ui, &key_file, temp.path()).await
        })
        .await?;
        // The app started on the restored vault (`--vault`) opens it with the new password.
        let args = ["--vault".to_owned(), restored.display().to_string()];
        let client = session(port, &app, &args).await?;
        with_session(client, &shots, async |ui: &Ui| {
            admin::restored_vault_opens_with_the_data(ui).await
        })
        .await
    }
    .await;
    drop(driver);
    outcome?;
    println!("e2e: passed in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
