//! Import and export through the real `crm` binary and real files: each CRM's CSV layout, bad
//! files committing nothing, code pages, vCard round trips, role limits on export, and a large
//! import streamed in bounded memory.

mod common;

use std::path::{Path, PathBuf};

use common::{OWNER_PASSWORD, Run, TestVault};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn owner(vault: &TestVault, args: &[&str]) -> Run {
    vault.crm_as("olivia", OWNER_PASSWORD, args)
}

fn import_csv(vault: &TestVault, path: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["--json", "import", "csv", path.to_str().expect("utf8")];
    args.extend_from_slice(extra);
    owner(vault, &args)
}

/// The exported contacts' fields, keyed by last name (ids and timestamps dropped).
fn contacts(vault: &TestVault) -> serde_json::Map<String, serde_json::Value> {
    let run = owner(vault, &["export", "json"]);
    run.success();
    let mut map = serde_json::Map::new();
    for record in run.json().as_array().expect("array") {
        let fields = record["fields"].clone();
        let mut fields = fields.as_object().expect("fields").clone();
        fields.remove("company_id");
        let last = fields["last_name"].as_str().expect("last name").to_owned();
        map.insert(last, serde_json::Value::Object(fields));
    }
    map
}

#[test]
fn each_crm_layout_is_mapped_automatically() {
    let vault = TestVault::new();
    for (file, layout) in [
        ("hubspot.csv", "hubspot"),
        ("salesforce.csv", "salesforce"),
        ("pipedrive.csv", "pipedrive"),
        ("google.csv", "google"),
        ("outlook.csv", "outlook"),
    ] {
        let run = import_csv(&vault, &fixture(file), &[]);
        run.success();
        let report = run.json();
        assert_eq!(report["layout"], layout, "{file}");
        assert_eq!(report["created"], 2, "{file}: {report}");
        assert_eq!(report["committed"], true);
    }
    let all = contacts(&vault);
    assert_eq!(all.len(), 10);
    let ada = &all["Quillfeather"];
    assert_eq!(ada["first_name"], "Ada");
    assert_eq!(ada["emails"][0], "ada.quillfeather@example.com");
    assert_eq!(ada["job_title"], "Buyer");
    assert_eq!(ada["company"], "Tinkerbox Ltd");
    let cora = &all["Lindqvist-Vale"];
    assert_eq!(cora["job_title"], "Head of Sales");
    assert_eq!(cora["birthday"], "1985-03-12");
    assert_eq!(cora["company"], "Granite Works AB");
    assert_eq!(all["Pennywhistle"]["do_not_contact"], true);
    let elsa = &all["Brightwater"];
    assert_eq!(elsa["first_name"], "Elsa");
    assert_eq!(elsa["company"], "Harbor Optics");
    let greta = &all["Holmvik"];
    assert_eq!(
        greta["emails"],
        serde_json::json!(["greta@example.com", "greta.holmvik@example.org"])
    );
    assert_eq!(
        greta["phones"],
        serde_json::json!(["+47 555 01 234", "+47 555 01 235"])
    );
    assert_eq!(greta["job_title"], "Owner");
    let ines = &all["Carvalhosa"];
    // Outlook's "Title" is a salutation, not the job title.
    assert_eq!(ines["job_title"], "Chemist");
    assert_eq!(ines["birthday"], "1985-03-12");
    assert_eq!(ines["address"], "1 Lab Way, Lisbon, 1000-001, Portugal");
    assert!(
        all["Quist"].get("birthday").is_none(),
        "Outlook's 0/0/00 is no birthday"
    );
    // Two files name the same companies: each company exists once.
    let companies = owner(&vault, &["export", "json", "--entity", "company"]);
    companies.success();
    assert_eq!(companies.json().as_array().expect("array").len(), 5);
}

#[test]
fn dedupe_by_email_updates_and_explicit_mapping_wins() {
    let vault = TestVault::new();
    import_csv(&vault, &fixture("hubspot.csv"), &[]).success();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("update.csv");
    std::fs::write(&file, "Surname,Mail,Role\nQuillfeather,ADA.QUILLFEATHER@example.com,Chief Buyer\nNewperson,new@example.com,Intern\n").expect("write");
    let dry = import_csv(
        &vault,
        &file,
        &[
            "--map",
            "Surname=last_name",
            "--map",
            "Mail=emails",
            "--map",
            "Role=job_title",
            "--dry-run",
        ],
    );
    dry.success();
    assert_eq!(
        (
            dry.json()["created"].as_u64(),
            dry.json()["updated"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(contacts(&vault).len(), 2, "a dry run commits nothing");
    import_csv(
        &vault,
        &file,
        &[
            "--map",
            "Surname=last_name",
            "--map",
            "Mail=emails",
            "--map",
            "Role=job_title",
        ],
    )
    .success();
    let all = contacts(&vault);
    assert_eq!(all.len(), 3);
    assert_eq!(all["Quillfeather"]["job_title"], "Chief Buyer");
    assert_eq!(
        all["Quillfeather"]["first_name"], "Ada",
        "empty cells do not clear fields"
    );
}

/// A bad file: name, bytes, expected reason, the row it names, extra arguments.
type Case<'a> = (&'a str, Vec<u8>, &'a str, Option<u64>, Vec<&'a str>);

#[test]
fn malformed_files_give_row_errors_and_leave_the_vault_as_it_was() {
    let vault = TestVault::new();
    import_csv(&vault, &fixture("hubspot.csv"), &[]).success();
    let before = owner(&vault, &["export", "json"]);
    before.success();
    let dir = tempfile::tempdir().expect("tempdir");
    let header = "First Name,Last Name,Email\n";
    let latin = latin(&format!("{header}Zoë,Müller,zoe@example.com\n"));
    let cases: Vec<Case<'_>> = vec![
        (
            "ragged.csv",
            format!("{header}Ann,Ash,ann@example.com\nBob,Birch\nCid,Cole,cid@example.com\n")
                .into_bytes(),
            "has 2 columns",
            Some(3),
            vec![],
        ),
        (
            "quote.csv",
            format!("{header}Ann,\"Ash,ann@example.com\nBob,Birch,bob@example.com\n").into_bytes(),
            "never closed",
            Some(2),
            vec![],
        ),
        ("empty.csv", Vec::new(), "empty", Some(1), vec![]),
        (
            "encoding.csv",
            latin,
            "not valid utf-8",
            Some(2),
            vec!["--encoding", "utf-8"],
        ),
        (
            "email.csv",
            format!("{header}Ann,Ash,not-an-email\n").into_bytes(),
            "not an email",
            Some(2),
            vec![],
        ),
    ];
    for (name, bytes, reason, row, extra) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let run = import_csv(&vault, &path, &extra);
        run.failure();
        let report = run.json();
        assert_eq!(report["committed"], false, "{name}");
        let errors = report["errors"].as_array().expect("errors");
        assert!(
            errors.iter().any(|error| error["reason"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase()
                .contains(reason)
                && error["row"].as_u64() == row),
            "{name}: {report}"
        );
        if name == "email.csv" {
            assert_eq!(errors[0]["column"], "Email");
        }
    }
    let after = owner(&vault, &["export", "json"]);
    after.success();
    assert_eq!(
        before.stdout, after.stdout,
        "a failed import changes nothing"
    );
}

/// Windows-1252 bytes of `text`.
fn latin(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            'ë' => 0xEB,
            'ü' => 0xFC,
            'é' => 0xE9,
            'ç' => 0xE7,
            c => c as u8,
        })
        .collect()
}

#[test]
fn windows_code_pages_are_detected_and_decoded() {
    let vault = TestVault::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let western = latin(
        "First Name,Last Name,Email\nZoë,Müller,zoe@example.com\nJosé,Garçon,jose@example.com\n",
    );
    let western_path = dir.path().join("western.csv");
    std::fs::write(&western_path, western).expect("write");
    let run = import_csv(&vault, &western_path, &[]);
    run.success();
    assert_eq!(run.json()["encoding"], "windows-1252");
    // Петров,Иван / Смирнова,Ольга in Windows-1251.
    let mut cyrillic = b"First Name,Last Name,Email\n".to_vec();
    cyrillic.extend_from_slice(&[
        0xC8, 0xE2, 0xE0, 0xED, b',', 0xCF, 0xE5, 0xF2, 0xF0, 0xEE, 0xE2,
    ]);
    cyrillic.extend_from_slice(b",ivan@example.com\n");
    cyrillic.extend_from_slice(&[
        0xCE, 0xEB, 0xFC, 0xE3, 0xE0, b',', 0xD1, 0xEC, 0xE8, 0xF0, 0xED, 0xEE, 0xE2, 0xE0,
    ]);
    cyrillic.extend_from_slice(b",olga@example.com\n");
    let cyrillic_path = dir.path().join("cyrillic.csv");
    std::fs::write(&cyrillic_path, cyrillic).expect("write");
    let run = import_csv(&vault, &cyrillic_path, &[]);
    run.success();
    assert_eq!(run.json()["encoding"], "windows-1251");
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice("First Name,Last Name,Email\nÅsa,Ödegaard,asa@example.com\n".as_bytes());
    let bom_path = dir.path().join("bom.csv");
    std::fs::write(&bom_path, bom).expect("write");
    let run = import_csv(&vault, &bom_path, &[]);
    run.success();
    assert_eq!(
        run.json()["mapping"][0][0],
        "First Name",
        "the BOM is not part of the header"
    );
    let all = contacts(&vault);
    assert_eq!(all["Müller"]["first_name"], "Zoë");
    assert_eq!(all["Garçon"]["first_name"], "José");
    assert_eq!(all["Петров"]["first_name"], "Иван");
    assert_eq!(all["Смирнова"]["first_name"], "Ольга");
    assert_eq!(all["Ödegaard"]["first_name"], "Åsa");
}

#[test]
fn vcards_round_trip_through_export_and_a_fresh_vault() {
    let first = TestVault::new();
    let run = owner(
        &first,
        &[
            "--json",
            "import",
            "vcard",
            fixture("contacts.vcf").to_str().expect("utf8"),
        ],
    );
    run.success();
    assert_eq!(run.json()["created"], 2, "{}", run.stdout);
    let original = contacts(&first);
    let kemi = &original["Okonkwo-Lindgren"];
    assert_eq!(
        kemi["emails"],
        serde_json::json!(["kemi@example.com", "kemi.home@example.org"])
    );
    assert_eq!(kemi["company"], "Falcon Ceramics, Ltd");
    assert_eq!(kemi["birthday"], "1979-11-30");
    assert_eq!(
        kemi["notes"],
        "Likes long notes that are folded across several physical lines so that the unfolding is exercised; also commas, and\nnew lines."
    );
    assert_eq!(
        original["Żółć"]["phones"],
        serde_json::json!(["+48-22-555-0100"])
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let exported = dir.path().join("out.vcf");
    owner(
        &first,
        &["export", "vcard", "--out", exported.to_str().expect("utf8")],
    )
    .success();
    let text = std::fs::read_to_string(&exported).expect("read");
    assert!(text.contains("VERSION:4.0\r\n"));
    assert!(
        text.split("\r\n").all(|line| line.len() <= 75),
        "folded at 75 octets"
    );
    let second = TestVault::new();
    owner(
        &second,
        &["import", "vcard", exported.to_str().expect("utf8")],
    )
    .success();
    assert_eq!(contacts(&second), original);
}

#[test]
fn a_sales_rep_cannot_export_and_marketing_never_gets_bank_accounts() {
    let vault = TestVault::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bank.csv");
    std::fs::write(
        &file,
        "First Name,Last Name,Email,IBAN\nNia,Banks,nia@example.com,DE44500105175407324931\n",
    )
    .expect("write");
    import_csv(&vault, &file, &["--map", "IBAN=bank_account"]).success();
    assert!(
        owner(&vault, &["export", "csv"])
            .stdout
            .contains("DE44500105175407324931")
    );
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    vault.add_user("mia", "Marketing", "mia-password-1");
    let refused = vault.crm_as("sam", "sam-password-1", &["--json", "export", "csv"]);
    refused.failure();
    assert!(refused.stderr.contains("forbidden"), "{}", refused.stderr);
    for format in ["csv", "json", "vcard"] {
        let run = vault.crm_as("mia", "mia-password-1", &["export", format]);
        run.success();
        assert!(run.stdout.contains("Banks"), "{format}: {}", run.stdout);
        assert!(
            !run.stdout.contains("4931") && !run.stdout.contains("DE44"),
            "{format}: {}",
            run.stdout
        );
        assert!(
            !run.stdout.contains("bank_account"),
            "{format}: no column for a field the role never sees"
        );
    }
    let trail = owner(&vault, &["audit", "list", "--json", "--limit", "100"]);
    trail.success();
    let exports = trail
        .json()
        .as_array()
        .expect("array")
        .iter()
        .filter(|entry| entry["action"] == "export")
        .count();
    assert!(
        exports >= 4,
        "every export is in the trail: {}",
        trail.stdout
    );
}

/// Peak resident memory (VmHWM, KiB) of a running process.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
}

#[test]
fn a_300k_row_file_imports_with_progress_in_bounded_memory() {
    use std::io::Write;
    let rows = 300_000u32;
    let vault = TestVault::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.csv");
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
        writeln!(file, "First Name,Last Name,Email,Phone,Company").expect("write");
        for index in 0..rows {
            writeln!(
                file,
                "Person{index},Family{},p{index}@example.com,+1 555 {:07},Company {}",
                index % 977,
                index,
                index % 500
            )
            .expect("write");
        }
    }
    let size = std::fs::metadata(&path).expect("size").len();
    let started = std::time::Instant::now();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_crm"))
        .args([
            "--vault",
            vault.dir().to_str().expect("utf8"),
            "import",
            "csv",
            path.to_str().expect("utf8"),
        ])
        .env("STRONGROOM_KDF", "floor")
        .env("STRONGROOM_USER", "olivia")
        .env("STRONGROOM_PASSWORD", OWNER_PASSWORD)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let stderr = child.stderr.take().expect("stderr");
    let progress = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut peak = 0;
    while child.try_wait().expect("wait").is_none() {
        if let Some(kib) = peak_kib(pid) {
            peak = peak.max(kib);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let output = child.wait_with_output().expect("output");
    let progress = progress.join().expect("join");
    assert!(output.status.success(), "{progress}");
    assert!(
        progress.matches("rows read").count() >= 10,
        "progress is reported: {progress}"
    );
    eprintln!(
        "imported {rows} rows ({} MiB) in {elapsed:.1} s = {:.0} rows/s; peak RSS {} MiB",
        size / 1_048_576,
        f64::from(rows) / elapsed,
        peak / 1024
    );
    assert!(peak < 150 * 1024, "peak RSS {} MiB", peak / 1024);
    let out = dir.path().join("export.csv");
    let started = std::time::Instant::now();
    owner(
        &vault,
        &["export", "csv", "--out", out.to_str().expect("utf8")],
    )
    .success();
    let elapsed = started.elapsed().as_secs_f64();
    let lines = std::io::BufRead::lines(std::io::BufReader::new(
        std::fs::File::open(&out).expect("open"),
    ))
    .count();
    assert_eq!(lines, rows as usize + 1);
    eprintln!(
        "exported {rows} rows in {elapsed:.1} s = {:.0} rows/s",
        f64::from(rows) / elapsed
    );
}
