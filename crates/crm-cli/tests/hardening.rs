//! Attacks from the red-team review (issue 19, items 9 and 10), tried with the real `crm`
//! binary: each test performs one and checks that it no longer works.

mod common;

use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{OWNER_PASSWORD, TestVault};

fn text(path: &Path) -> &str {
    path.to_str().expect("utf8 path")
}

fn owner(vault: &TestVault, args: &[&str]) -> common::Run {
    vault.crm_as("olivia", OWNER_PASSWORD, args)
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Every file in `dir` with a mode that lets anyone but its owner in.
fn loose_files(dir: &Path) -> Vec<String> {
    let mut loose = Vec::new();
    for entry in std::fs::read_dir(dir).expect("list the vault folder") {
        let path = entry.expect("entry").path();
        if mode(&path) & 0o077 != 0 {
            loose.push(format!("{} {:o}", path.display(), mode(&path)));
        }
    }
    loose
}

/// `crm init --keyfile PATH` took the global (signing-in) option and made a vault whose owner
/// needs no key file at all, without a word.
#[test]
fn init_refuses_the_signing_in_key_file_and_names_the_owners_option() {
    let root = tempfile::tempdir().expect("tempdir");
    let key = root.path().join("usb.key");
    std::fs::write(&key, b"any bytes will do").expect("key file");
    let vault = root.path().join("vault");
    for option in ["--keyfile", "--key-file"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crm"))
            .args([
                "--vault",
                text(&vault),
                "init",
                "--owner",
                "olivia",
                option,
                text(&key),
            ])
            .env("STRONGROOM_KDF", "floor")
            .env_remove("STRONGROOM_KEY_FILE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn crm");
        let _ = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{OWNER_PASSWORD}\n").as_bytes());
        let run = child.wait_with_output().expect("crm");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{option}: init went ahead");
        assert!(stderr.contains("--owner-key-file"), "{option}: {stderr}");
        assert!(!vault.join("vault.db").exists(), "{option}: no vault made");
    }
}

/// The database, its `-wal` and `-shm`, the lock files and `erasures.log` were created 0644:
/// only the folder's mode stood between them and every other user of the machine.
#[test]
fn every_file_the_vault_writes_is_owner_only_even_while_it_is_open() {
    let vault = TestVault::new();
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    let dest = vault.root().join("backups");
    std::fs::create_dir(&dest).expect("destination");
    owner(
        &vault,
        &["backup", "settings", "--destination", text(&dest)],
    )
    .success();
    let id = owner(
        &vault,
        &["contact", "add", "--set", "last_name=Holm", "--json"],
    )
    .success()
    .json()["id"]
        .to_string();
    owner(&vault, &["erase", &id, "--reason", "asked to be forgotten"]).success();
    owner(&vault, &["backup", "run-due"]).success();
    for file in [
        "erasures.log",
        "backup-run.lock",
        "vault.lock",
        "keyslots.lock",
    ] {
        assert!(vault.dir().join(file).exists(), "{file} was written");
    }

    // Stop a backup half-way, with its session open: the WAL files exist now.
    let reached = vault.root().join("reached");
    let mut child = Command::new(env!("CARGO_BIN_EXE_crm"))
        .args([
            "--vault",
            text(&vault.dir()),
            "backup",
            "now",
            "--to",
            text(&dest),
        ])
        .env("STRONGROOM_KDF", "floor")
        .env("STRONGROOM_USER", "olivia")
        .env("CRM_PASSWORD", OWNER_PASSWORD)
        .env("STRONGROOM_FAULT", "pause:backup:before-copy")
        .env("STRONGROOM_FAULT_SIGNAL", &reached)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn crm");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !reached.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let open_files = std::fs::read_dir(vault.dir())
        .expect("list")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect::<Vec<_>>();
    let loose = loose_files(&vault.dir());
    child.kill().expect("kill");
    let _ = child.wait();
    assert!(reached.exists(), "the backup reached its pause");
    for file in ["vault.db", "vault.db-wal", "vault.db-shm"] {
        assert!(
            open_files.iter().any(|name| name == file),
            "{file} in {open_files:?}"
        );
    }
    assert!(loose.is_empty(), "readable by others: {loose:?}");
    assert_eq!(mode(&vault.dir()), 0o700);
}

/// A vault from an older version, with world-readable files, is tightened when it is opened.
#[test]
fn opening_a_vault_makes_files_an_older_version_left_readable_owner_only() {
    let vault = TestVault::new();
    for file in ["vault.db", "vault.lock"] {
        std::fs::set_permissions(vault.dir().join(file), PermissionsExt::from_mode(0o644))
            .expect("loosen");
    }
    owner(&vault, &["status"]).success();
    assert_eq!(loose_files(&vault.dir()), Vec::<String>::new());
}

/// `export --out` wrote into an existing file and kept its mode (a world-readable export of
/// every customer), and followed a symbolic link planted at the target.
#[test]
fn export_out_makes_a_new_owner_only_file_and_refuses_a_symbolic_link() {
    let vault = TestVault::new();
    owner(&vault, &["contact", "add", "--set", "last_name=Berg"]).success();
    let out = vault.root().join("contacts.csv");
    std::fs::write(
        &out,
        "old contents, much longer than the export will be\n".repeat(100),
    )
    .expect("existing file");
    std::fs::set_permissions(&out, PermissionsExt::from_mode(0o644)).expect("world-readable");
    owner(&vault, &["export", "csv", "--out", text(&out)]).success();
    assert_eq!(mode(&out), 0o600);
    let written = std::fs::read_to_string(&out).expect("export");
    assert!(
        written.contains("Berg") && !written.contains("old contents"),
        "{written}"
    );

    let elsewhere: PathBuf = vault.root().join("planted-target.csv");
    let link = vault.root().join("link.csv");
    symlink(&elsewhere, &link).expect("symlink");
    let run = owner(&vault, &["export", "csv", "--out", text(&link)]);
    run.failure();
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert!(!elsewhere.exists(), "nothing was written through the link");
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("link")
            .file_type()
            .is_symlink()
    );
}

/// Any role, an Auditor here, could read where the backups go and who else can open them.
#[test]
fn backup_settings_destinations_and_recipients_need_a_backup_right() {
    let vault = TestVault::new();
    let dest = vault.root().join("backups");
    std::fs::create_dir(&dest).expect("destination");
    let recipient = age::x25519::Identity::generate().to_public().to_string();
    owner(
        &vault,
        &[
            "backup",
            "settings",
            "--destination",
            text(&dest),
            "--recipient",
            &recipient,
        ],
    )
    .success();
    vault.add_user("ada", "Auditor", "ada-password-12");
    vault.add_user("rita", "Sales Representative", "rita-password-1");
    for (user, password) in [("ada", "ada-password-12"), ("rita", "rita-password-1")] {
        for args in [
            &["backup", "settings", "--json"][..],
            &["backup", "status", "--json"],
            &["backup", "list", "--json"],
        ] {
            let run = vault.crm_as(user, password, args);
            run.failure();
            assert!(
                !run.stdout.contains(text(&dest)) && !run.stdout.contains(&recipient),
                "{user} {args:?}: {}",
                run.stdout
            );
            assert!(
                run.stderr.contains("backup right"),
                "{user} {args:?}: {}",
                run.stderr
            );
        }
    }
    // Auditors still compare the trail with the backups, without learning where they lie,
    // even from a destination that cannot be read.
    let unplugged = vault.root().join("unplugged");
    std::fs::rename(&dest, &unplugged).expect("unplug the destination");
    let verify = vault.crm_as("ada", "ada-password-12", &["audit", "verify", "--json"]);
    assert!(verify.stdout.contains("not compared"), "{}", verify.stdout);
    assert!(!verify.stdout.contains(text(&dest)), "{}", verify.stdout);
    std::fs::rename(&unplugged, &dest).expect("plug it back");
    let settings = owner(&vault, &["backup", "settings", "--json"])
        .success()
        .json();
    assert_eq!(settings["extra_recipients"][0], recipient.as_str());
}

/// Values given with `--set` are in the command line, which every user of the machine can read
/// in `/proc/PID/cmdline` while crm runs; `--set-stdin` keeps them out of it.
#[test]
fn set_stdin_keeps_customer_values_out_of_the_process_list() {
    let vault = TestVault::new();
    let secret = "Vasquez-Private-555";
    // The command line as another user sees it, read while crm waits for its password.
    let command_line_while_waiting = |args: &[&str], stdin: &str| -> (String, common::Run) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crm"))
            .args(["--vault", text(&vault.dir()), "--user", "olivia"])
            .args(args)
            .env("STRONGROOM_KDF", "floor")
            .env_remove("CRM_PASSWORD")
            .env_remove("STRONGROOM_PASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn crm");
        std::thread::sleep(Duration::from_millis(200));
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id()))
            .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
            .unwrap_or_default();
        let _ = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes());
        let output = child.wait_with_output().expect("crm");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let run = common::Run {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        (cmdline, run)
    };

    let (shown, _) = command_line_while_waiting(
        &["contact", "add", "--set", &format!("last_name={secret}")],
        &format!("{OWNER_PASSWORD}\n"),
    );
    assert!(
        shown.contains(secret),
        "the attack: --set is in the process list: {shown}"
    );

    let (shown, run) = command_line_while_waiting(
        &["contact", "add", "--set-stdin", "--json"],
        &format!("{OWNER_PASSWORD}\nlast_name={secret}-2\nemails=v@example.com\n"),
    );
    assert!(
        shown.contains("--set-stdin") && !shown.contains(secret),
        "{shown}"
    );
    let id = run.json()["id"].to_string();
    let record = owner(&vault, &["contact", "show", &id, "--json"])
        .success()
        .json();
    let record = record.to_string();
    assert!(record.contains(&format!("{secret}-2")), "{record}");
    assert!(record.contains("v@example.com"), "{record}");

    let file = vault.root().join("fields.txt");
    std::fs::write(&file, "job_title=Buyer\n").expect("fields file");
    owner(&vault, &["contact", "edit", &id, "--set-file", text(&file)]).success();
    let record = owner(&vault, &["contact", "show", &id, "--json"])
        .success()
        .json();
    assert!(record.to_string().contains("Buyer"), "{record}");

    let run = owner(&vault, &["contact", "add"]);
    run.failure();
    assert!(run.stderr.contains("--set"), "{}", run.stderr);
}
