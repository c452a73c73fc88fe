//! Shared helpers for the CLI integration tests: a fresh vault in a temp directory and the
//! real `crm` binary run against it.

#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    reason = "these tests open the database file with stock SQLCipher, as an insider would"
)]
#![allow(dead_code)] // each test binary uses a different part of this module

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The owner's password in every test vault.
pub const OWNER_PASSWORD: &str = "owner-password-1";

/// The result of one `crm` run.
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Self {
        Self {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn success(&self) -> &Self {
        assert!(
            self.status.success(),
            "crm failed: {}\nstdout: {}",
            self.stderr,
            self.stdout
        );
        self
    }

    #[track_caller]
    pub fn failure(&self) -> &Self {
        assert!(
            !self.status.success(),
            "crm unexpectedly succeeded: {}",
            self.stdout
        );
        self
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.stdout))
    }
}

/// A vault created by `crm init` with owner `olivia`, in its own temp directory.
pub struct TestVault {
    root: tempfile::TempDir,
}

impl TestVault {
    pub fn new() -> Self {
        Self::create(&[])
    }

    /// A vault whose owner slot requires a generated key file (see [`TestVault::key_file`]).
    pub fn with_key_file() -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        let key = root.path().join("usb.key");
        Self::create_in(root, &["--generate-key-file", key.to_str().expect("utf8")])
    }

    fn create(extra: &[&str]) -> Self {
        Self::create_in(tempfile::tempdir().expect("tempdir"), extra)
    }

    fn create_in(root: tempfile::TempDir, extra: &[&str]) -> Self {
        let vault = Self { root };
        let recovery = vault.recovery_file();
        let mut args = vec![
            "init",
            "--owner",
            "olivia",
            "--recovery-out",
            recovery.to_str().expect("utf8"),
        ];
        args.extend_from_slice(extra);
        vault
            .crm_stdin(&args, &format!("{OWNER_PASSWORD}\n"))
            .success();
        vault
    }

    pub fn dir(&self) -> PathBuf {
        self.root.path().join("vault")
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn recovery_file(&self) -> PathBuf {
        self.root.path().join("recovery.txt")
    }

    pub fn key_file(&self) -> PathBuf {
        self.root.path().join("usb.key")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_crm"));
        command
            .arg("--vault")
            .arg(self.dir())
            .args(args)
            .env("STRONGROOM_KDF", "floor")
            .env_remove("STRONGROOM_USER")
            .env_remove("STRONGROOM_PASSWORD")
            .env_remove("CRM_PASSWORD")
            .env_remove("STRONGROOM_KEY_FILE")
            .env_remove("STRONGROOM_VAULT")
            .env_remove("STRONGROOM_FAULT");
        command
    }

    /// Runs `crm` with no standard input.
    pub fn crm(&self, args: &[&str]) -> Run {
        self.crm_env(args, &[])
    }

    /// Runs `crm` with extra environment variables.
    pub fn crm_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command(args);
        command.envs(env.iter().copied()).stdin(Stdio::null());
        Run::from(command.output().expect("run crm"))
    }

    /// Runs `crm` feeding `stdin` (passwords, one per line).
    pub fn crm_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self
            .command(args)
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
        Run::from(child.wait_with_output().expect("wait crm"))
    }

    /// Runs `crm` signed in as `user` with `password`.
    pub fn crm_as(&self, user: &str, password: &str, args: &[&str]) -> Run {
        self.crm_env(
            args,
            &[("STRONGROOM_USER", user), ("STRONGROOM_PASSWORD", password)],
        )
    }

    /// Runs `crm` signed in as `user`, whose password is the first stdin line.
    pub fn crm_stdin_as(&self, user: &str, args: &[&str], stdin: &str) -> Run {
        let mut full = vec!["--user", user];
        full.extend_from_slice(args);
        self.crm_stdin(&full, stdin)
    }

    /// Starts `crm` as `user` without waiting (for kill tests).
    pub fn spawn_as(&self, user: &str, password: &str, args: &[&str]) -> Child {
        self.command(args)
            .env("STRONGROOM_USER", user)
            .env("STRONGROOM_PASSWORD", password)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn crm")
    }

    /// Adds a user as the owner.
    pub fn add_user(&self, name: &str, role: &str, password: &str) {
        self.crm_stdin_as(
            "olivia",
            &["user", "add", name, "--role", role],
            &format!("{OWNER_PASSWORD}\n{password}\n"),
        )
        .success();
    }

    /// The raw data key in hex, via the recovery identity.
    pub fn data_key(&self) -> String {
        let run = self.crm(&[
            "key",
            "show-data-key",
            "--json",
            "--identity",
            self.recovery_file().to_str().expect("utf8"),
        ]);
        run.success();
        run.json()["data_key_hex"].as_str().expect("key").to_owned()
    }

    /// Opens the database as any SQLCipher 4 tool would (only `PRAGMA key`) and lists users.
    pub fn stock_sqlcipher_user_names(&self, key_hex: &str) -> rusqlite::Result<Vec<String>> {
        let conn = rusqlite::Connection::open(self.dir().join("vault.db"))?;
        conn.pragma_update(None, "cipher_log_level", "NONE")?;
        conn.pragma_update(None, "key", format!("x'{key_hex}'"))?;
        let mut statement = conn.prepare("SELECT name FROM users ORDER BY name")?;
        let names = statement
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(names)
    }

    /// One user's slot from the primary key-slot file, as JSON.
    pub fn slot_json(&self, user: &str) -> serde_json::Value {
        let bytes = std::fs::read(self.dir().join("keyslots.json")).expect("read slots");
        let file: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        file["current"]["users"]
            .as_array()
            .expect("users")
            .iter()
            .find(|slot| slot["user"] == user)
            .cloned()
            .expect("slot")
    }
}
