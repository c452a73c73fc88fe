//! The customer base through the real `crm` binary: records, search in any phone format,
//! deletes that ask about dependents, bad input, per-role masking, and no plaintext on disk.

mod common;

use common::{OWNER_PASSWORD, TestVault};

fn owner(vault: &TestVault, args: &[&str]) -> common::Run {
    vault.crm_as("olivia", OWNER_PASSWORD, args)
}

fn add(vault: &TestVault, entity: &str, sets: &[&str]) -> i64 {
    let mut args = vec![entity, "add", "--json"];
    for set in sets {
        args.push("--set");
        args.push(set);
    }
    let run = owner(vault, &args);
    run.success();
    run.json()["id"].as_i64().expect("id")
}

fn search_ids(vault: &TestVault, user: &str, password: &str, text: &str) -> Vec<(String, i64)> {
    let run = vault.crm_as(user, password, &["search", text, "--json"]);
    run.success();
    run.json()
        .as_array()
        .expect("hits")
        .iter()
        .map(|hit| {
            (
                hit["entity"].as_str().expect("entity").to_owned(),
                hit["id"].as_i64().expect("id"),
            )
        })
        .collect()
}

fn seed(vault: &TestVault) -> (i64, i64) {
    let company = add(
        vault,
        "company",
        &[
            "name=Quillfeather Optics AB",
            "industry=Optics",
            "phone=+46 8 555 010 99",
        ],
    );
    let contact = add(
        vault,
        "contact",
        &[
            "first_name=Ingrid",
            "last_name=Vasquez-Lindqvist",
            &format!("company_id={company}"),
            "emails=ingrid.vl@quillfeather.example, ingrid@home.example",
            "phones=+1 (555) 123-4567",
            "birthday=1984-03-09",
            "bank_account=SE4550000000058398257466",
        ],
    );
    (company, contact)
}

#[test]
fn search_finds_by_partial_name_email_and_any_phone_formatting() {
    let vault = TestVault::new();
    let (company, contact) = seed(&vault);
    let me = ("contact".to_owned(), contact);
    for query in [
        "Ingr",
        "vasquez",
        "lindq",
        "ingrid.vl@quill",
        "ingrid@home",
        "555 123",
        "(555) 123-4567",
        "5551234567",
        "+1 555 123 4567",
        "15551234",
    ] {
        let hits = search_ids(&vault, "olivia", OWNER_PASSWORD, query);
        assert!(
            hits.contains(&me),
            "{query:?} should find the contact: {hits:?}"
        );
    }
    let hits = search_ids(&vault, "olivia", OWNER_PASSWORD, "quillfeather");
    assert!(hits.contains(&("company".to_owned(), company)));
    assert!(search_ids(&vault, "olivia", OWNER_PASSWORD, "zzzznothing").is_empty());
}

#[test]
fn deleting_a_company_with_contacts_asks_what_to_do_with_them() {
    let vault = TestVault::new();
    let (company, contact) = seed(&vault);
    let refused = owner(&vault, &["company", "delete", &company.to_string()]);
    refused.failure();
    assert!(refused.stderr.contains("1 contacts"), "{}", refused.stderr);
    owner(
        &vault,
        &[
            "company",
            "delete",
            &company.to_string(),
            "--dependents",
            "detach",
        ],
    )
    .success();
    let shown = owner(&vault, &["contact", "show", &contact.to_string(), "--json"]);
    shown.success();
    let fields = shown.json()["fields"].as_array().expect("fields").clone();
    assert!(
        fields
            .iter()
            .any(|field| field["name"] == "company_id" && field["value"].is_null())
    );
}

#[test]
fn bad_input_gets_a_clear_error_and_creates_nothing() {
    let vault = TestVault::new();
    for (sets, message) in [
        (vec!["last_name=Doe", "emails=not-an-email"], "not an email"),
        (vec!["first_name=Jane"], "Last name is required"),
        (vec!["last_name=Doe", "birthday=31/12/1990"], "not a date"),
        (vec!["last_name=Doe", "company_id=999"], "no company 999"),
        (vec!["last_name=Doe", "shoe_size=44"], "unknown field"),
    ] {
        let mut args = vec!["contact", "add"];
        for set in &sets {
            args.push("--set");
            args.push(set);
        }
        let run = owner(&vault, &args);
        run.failure();
        assert!(run.stderr.contains(message), "{sets:?}: {}", run.stderr);
    }
    let list = owner(&vault, &["contact", "list", "--json"]);
    assert_eq!(list.json()["records"].as_array().map(Vec::len), Some(0));
}

#[test]
fn a_sales_rep_sees_others_contacts_masked_only_once_the_owner_allows_it() {
    let vault = TestVault::new();
    let (_, contact) = seed(&vault);
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    let id = contact.to_string();
    let hidden = vault.crm_as("sam", "sam-password-1", &["contact", "show", &id]);
    hidden.failure();
    assert!(hidden.stderr.contains("not found"), "{}", hidden.stderr);
    assert!(search_ids(&vault, "sam", "sam-password-1", "Ingrid").is_empty());

    owner(
        &vault,
        &[
            "role",
            "edit",
            "Sales Representative",
            "--grant",
            "contact:view=all",
        ],
    )
    .success();
    let shown = vault.crm_as("sam", "sam-password-1", &["contact", "show", &id, "--json"]);
    shown.success();
    let text = shown.stdout.clone();
    assert!(text.contains("Ingrid"), "Internal fields are visible");
    for secret in [
        "ingrid.vl@quillfeather.example",
        "123-4567",
        "1984-03-09",
        "SE4550000000058398257466",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert!(
        text.contains("i•••@quillfeather.example") && text.contains("•••• 4567"),
        "{text}"
    );
    assert!(
        !text.contains("bank_account"),
        "financial fields are absent, not masked"
    );
    // No oracle: the hidden phone finds nothing, the visible name does.
    assert!(search_ids(&vault, "sam", "sam-password-1", "5551234567").is_empty());
    assert_eq!(
        search_ids(&vault, "sam", "sam-password-1", "Ingrid").len(),
        1
    );
    let filter = vault.crm_as(
        "sam",
        "sam-password-1",
        &["contact", "list", "--where", "birthday=1984-03-09"],
    );
    filter.failure();
    assert!(
        filter.stderr.contains("above your clearance"),
        "{}",
        filter.stderr
    );
}

#[test]
fn the_owner_reveals_a_highly_confidential_value_with_a_reason() {
    let vault = TestVault::new();
    let (_, contact) = seed(&vault);
    owner(
        &vault,
        &[
            "field",
            "classify",
            "contact",
            "bank_account",
            "highly_confidential",
        ],
    )
    .success();
    vault.add_user("adam", "Administrator", "adam-password-1");
    let id = contact.to_string();
    let admin = vault.crm_as(
        "adam",
        "adam-password-1",
        &["contact", "show", &id, "--json"],
    );
    assert!(!admin.stdout.contains("SE4550000000058398257466"));
    let refused = vault.crm_as(
        "adam",
        "adam-password-1",
        &[
            "reveal",
            "contact",
            &id,
            "bank_account",
            "--reason",
            "refund",
        ],
    );
    refused.failure();
    let revealed = owner(
        &vault,
        &[
            "reveal",
            "contact",
            &id,
            "bank_account",
            "--reason",
            "refund to customer",
        ],
    );
    revealed.success();
    assert_eq!(revealed.stdout.trim(), "SE4550000000058398257466");
    let audit = owner(&vault, &["audit", "list", "--action", "reveal", "--json"]);
    assert!(audit.stdout.contains("refund to customer"));
}

#[test]
fn no_file_the_product_writes_holds_a_customer_value_in_plain_bytes() {
    let vault = TestVault::new();
    seed(&vault);
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    owner(&vault, &["search", "Vasquez"]).success();
    owner(
        &vault,
        &[
            "contact",
            "edit",
            "1",
            "--set",
            "job_title=Chief Lens Officer",
        ],
    )
    .success();
    let values: [&[u8]; 4] = [
        b"Vasquez-Lindqvist",
        b"ingrid.vl@quillfeather",
        b"SE4550000000058398257466",
        b"Chief Lens Officer",
    ];
    let mut scanned = 0;
    for entry in walk(&vault.dir()) {
        let bytes = std::fs::read(&entry).expect("read");
        scanned += 1;
        for value in values {
            assert!(
                !bytes.windows(value.len()).any(|window| window == value),
                "{} holds {}",
                entry.display(),
                String::from_utf8_lossy(value)
            );
        }
    }
    assert!(scanned >= 5, "scanned {scanned} files");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn demo_data_is_deterministic_for_a_seed() {
    let first = TestVault::new();
    let second = TestVault::new();
    for vault in [&first, &second] {
        owner(vault, &["demo", "--contacts", "300", "--seed", "7"]).success();
    }
    let list = |vault: &TestVault| {
        let run = owner(
            vault,
            &[
                "contact",
                "list",
                "--sort",
                "last_name",
                "--page-size",
                "300",
                "--json",
            ],
        );
        run.success();
        run.json()["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|record| record["title"].as_str().expect("title").to_owned())
            .collect::<Vec<_>>()
    };
    let names = list(&first);
    assert_eq!(names.len(), 300);
    assert_eq!(names, list(&second));
}

#[test]
fn an_erasure_clears_the_person_and_is_re_applied_after_restoring_older_data() {
    let vault = TestVault::new();
    let (_, contact) = seed(&vault);
    let id = contact.to_string();
    // A copy of the vault from before the erasure stands in for a restored backup.
    let restored = vault.root().join("restored");
    copy_dir(&vault.dir(), &restored);
    owner(&vault, &["erase", &id, "--reason", "request #2026-117"]).success();
    let shown = owner(&vault, &["contact", "show", &id, "--json"]);
    assert!(
        !shown.stdout.contains("Ingrid") && !shown.stdout.contains("ingrid.vl"),
        "{}",
        shown.stdout
    );
    assert!(search_ids(&vault, "olivia", OWNER_PASSWORD, "Ingrid").is_empty());
    let log = std::fs::read_to_string(vault.dir().join("erasures.log")).expect("log");
    assert!(!log.contains("Ingrid"), "the log holds ids and times only");

    let old = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_crm"))
            .arg("--vault")
            .arg(&restored)
            .args(args)
            .env("STRONGROOM_KDF", "floor")
            .env("STRONGROOM_USER", "olivia")
            .env("STRONGROOM_PASSWORD", OWNER_PASSWORD)
            .output()
            .expect("run crm");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(
        old(&["contact", "show", &id]).contains("Ingrid"),
        "the older copy still has her"
    );
    old(&[
        "erase",
        "--reapply-from",
        vault.dir().to_str().expect("utf8"),
    ]);
    assert!(!old(&["contact", "show", &id]).contains("Ingrid"));
    let audit = owner(&vault, &["audit", "list", "--action", "erase", "--json"]);
    assert!(audit.stdout.contains("request #2026-117"));
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("dir").flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}
