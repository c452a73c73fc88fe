//! Faults in the middle of ordinary work, with the real `crm` binary on real files: a process
//! killed while it writes, and a disk that fills up. Whatever happens, every committed record is
//! still there, nothing half-written appears, and the audit trail still verifies.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{OWNER_PASSWORD, TestVault};

fn owner(vault: &TestVault, args: &[&str]) -> common::Run {
    vault.crm_as("olivia", OWNER_PASSWORD, args)
}

/// Last names of every contact, sorted (the export sees them all).
fn contact_names(vault: &TestVault) -> Vec<String> {
    let run = owner(vault, &["export", "json", "--entity", "contact"]);
    run.success();
    let mut names: Vec<String> = run
        .json()
        .as_array()
        .expect("records")
        .iter()
        .map(|record| {
            record["fields"]["last_name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    names.sort();
    names
}

fn write_contacts_csv(path: &Path, rows: usize) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create csv"));
    writeln!(file, "First name,Last name,Email,Phone").expect("write");
    for row in 0..rows {
        writeln!(
            file,
            "Imported,Person{row:06},person{row}@import.example,+44 20 7946 {:04}",
            row % 10_000
        )
        .expect("write");
    }
    file.flush().expect("flush");
}

/// An import is one transaction: killed (SIGKILL) after it has written tens of thousands of
/// rows, it leaves the vault exactly as committed before it, and the vault opens, verifies and
/// imports the same file afterwards.
#[test]
fn an_import_killed_half_way_leaves_what_was_committed_and_none_of_the_import() {
    let vault = TestVault::new();
    for name in ["Okafor", "Berg", "Holm"] {
        owner(
            &vault,
            &["contact", "add", "--set", &format!("last_name={name}")],
        )
        .success();
    }
    let committed = contact_names(&vault);
    let csv = vault.root().join("big.csv");
    write_contacts_csv(&csv, 80_000);
    let csv_text = csv.to_str().expect("utf8");

    // Killed after the 1st, 2nd … 5th progress report (every 10,000 rows): each time inside
    // the import's transaction, never during the unlock.
    for reports in 1..=5 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crm"))
            .args(["--vault", vault.dir().to_str().expect("utf8"), "--json"])
            .args(["import", "csv", csv_text])
            .env("STRONGROOM_KDF", "floor")
            .env("STRONGROOM_USER", "olivia")
            .env("STRONGROOM_PASSWORD", OWNER_PASSWORD)
            .env_remove("CRM_PASSWORD")
            .env_remove("STRONGROOM_FAULT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn crm import");
        let stderr = child.stderr.take().expect("stderr");
        let mut seen = 0;
        for line in BufReader::new(stderr).lines() {
            let line = line.expect("stderr line");
            if line.contains("rows read") {
                seen += 1;
                if seen == reports {
                    break;
                }
            }
        }
        assert_eq!(seen, reports, "the import ended before it was killed");
        child.kill().expect("kill the import");
        let _ = child.wait();

        assert_eq!(
            contact_names(&vault),
            committed,
            "killed after {reports} progress report(s): the vault holds exactly what was committed"
        );
        owner(&vault, &["audit", "verify"]).success();
    }

    // Nothing is stuck: the same file imports completely now.
    owner(&vault, &["import", "csv", csv_text]).success();
    let names = contact_names(&vault);
    assert_eq!(names.len(), committed.len() + 80_000);
    owner(&vault, &["audit", "verify"]).success();
    let found = owner(&vault, &["search", "Person079999", "--json"]);
    assert!(
        found.success().stdout.contains("Person079999"),
        "{}",
        found.stdout
    );
}

/// Mounts a tmpfs of `size` at `dir`; `None` where mounting is not allowed (not root).
fn mount_tmpfs(dir: &Path, size: &str) -> Option<TmpfsMount> {
    std::fs::create_dir_all(dir).expect("mount point");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|status| status.success());
    mounted.then(|| TmpfsMount(dir.to_path_buf()))
}

/// Unmounts on drop, so a failing test leaves no mount behind.
struct TmpfsMount(PathBuf);

impl TmpfsMount {
    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("remount");
        assert!(status.success(), "remount {size}");
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The vault's own disk fills up while people add records: the write that does not fit fails
/// with a clear message and changes nothing; every record added before it is kept; once there
/// is room again the vault opens, verifies and takes new records. (Needs root to mount a small
/// tmpfs; CI runs as root. Elsewhere it says so and does nothing.)
#[test]
fn a_full_disk_refuses_the_write_that_does_not_fit_and_loses_nothing_committed() {
    let root = tempfile::tempdir().expect("tempdir");
    let disk = root.path().join("disk");
    let Some(mount) = mount_tmpfs(&disk, "3m") else {
        eprintln!("not run: mounting a small tmpfs needs root");
        return;
    };
    let vault_dir = disk.join("vault");
    let crm = |args: &[&str], stdin: Option<&str>| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crm"))
            .arg("--vault")
            .arg(&vault_dir)
            .args(args)
            .env("STRONGROOM_KDF", "floor")
            .env("STRONGROOM_USER", "olivia")
            .env("STRONGROOM_PASSWORD", OWNER_PASSWORD)
            .env_remove("CRM_PASSWORD")
            .env_remove("STRONGROOM_FAULT")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn crm");
        if let Some(text) = stdin {
            let _ = child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes());
        }
        child.wait_with_output().expect("wait crm")
    };
    let recovery = root.path().join("recovery.txt");
    let init = crm(
        &[
            "init",
            "--owner",
            "olivia",
            "--recovery-out",
            recovery.to_str().expect("utf8"),
        ],
        Some(&format!("{OWNER_PASSWORD}\n")),
    );
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );

    // Records with long notes until the disk is full.
    let notes = "n".repeat(20_000);
    let mut added: Vec<String> = Vec::new();
    let failure = loop {
        assert!(added.len() < 1_000, "the disk never filled up");
        let name = format!("Full{:04}", added.len());
        let run = crm(
            &[
                "contact",
                "add",
                "--set",
                &format!("last_name={name}"),
                "--set",
                &format!("notes={notes}"),
            ],
            None,
        );
        if run.status.success() {
            added.push(name);
        } else {
            break String::from_utf8_lossy(&run.stderr).into_owned();
        }
    };
    assert!(!added.is_empty(), "nothing fitted: {failure}");
    eprintln!(
        "{} records fitted; the next add: {}",
        added.len(),
        failure.trim()
    );
    assert!(
        failure.contains("the disk holding the vault is full: nothing of this change was saved"),
        "the refusal says the disk is full and nothing was saved: {failure}"
    );

    // Room again: everything committed is there, nothing half-written, the trail verifies.
    mount.resize("64m");
    let verify = crm(&["audit", "verify"], None);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let export = crm(&["export", "json", "--entity", "contact"], None);
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let records: serde_json::Value = serde_json::from_slice(&export.stdout).expect("json");
    let mut names: Vec<String> = records
        .as_array()
        .expect("records")
        .iter()
        .map(|record| {
            record["fields"]["last_name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names, added, "exactly the records whose add succeeded");
    let again = crm(&["contact", "add", "--set", "last_name=AfterRoom"], None);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
