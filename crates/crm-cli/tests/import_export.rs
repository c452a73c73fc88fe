//! Import and export through the real `crm` binary and real files. Modules of this file, in order:
//! each CRM's CSV layout for every record type; dedupe and merging; tags and a whole vault
//! round-tripping through CSV; dates; the dry run's plan and exit status; bad files committing
//! nothing (every record type and the tag list compared) and leaving an audit entry; code pages;
//! vCard 2.1/3.0/4.0 edge cases and round trips in both export versions; role limits on
//! export; large files streamed in bounded memory with progress on stderr.

#![allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    reason = "these tests open the database file with stock SQLCipher, as an insider would"
)]

mod common;

use std::path::{Path, PathBuf};

use common::{OWNER_PASSWORD, Run, TestVault};

/// The exit status of an import or dry run with rejected rows.
const EXIT_ROWS_REJECTED: i32 = 3;

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

fn import_vcard(vault: &TestVault, path: &Path) -> Run {
    owner(
        vault,
        &["--json", "import", "vcard", path.to_str().expect("utf8")],
    )
}

#[track_caller]
fn rejected(run: &Run) -> serde_json::Value {
    assert_eq!(
        run.status.code(),
        Some(EXIT_ROWS_REJECTED),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    run.json()
}

/// The exported records of one type as JSON objects.
fn exported(vault: &TestVault, entity: &str) -> Vec<serde_json::Value> {
    let run = owner(vault, &["export", "json", "--entity", entity]);
    run.success();
    run.json().as_array().expect("array").clone()
}

/// Records keyed by their name field, with what differs between vaults left out (ids, times,
/// the ids inside references: their names stay).
fn by_name(
    vault: &TestVault,
    entity: &str,
    key: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    for record in exported(vault, entity) {
        let mut fields = record["fields"].as_object().expect("fields").clone();
        for id in ["company_id", "contact_id", "deal_id", "stage_id"] {
            fields.remove(id);
        }
        fields.insert("tags".into(), record["tags"].clone());
        let name = fields[key].as_str().expect("name").to_owned();
        map.insert(name, serde_json::Value::Object(fields));
    }
    map
}

/// Contacts' fields (and tags) by last name.
fn contacts(vault: &TestVault) -> serde_json::Map<String, serde_json::Value> {
    by_name(vault, "contact", "last_name")
}

/// Every tag in the vault, read from the database itself (unused tags too).
fn tag_list(vault: &TestVault) -> Vec<String> {
    let key = vault.data_key();
    let conn = rusqlite::Connection::open(vault.dir().join("vault.db")).expect("open");
    conn.pragma_update(None, "cipher_log_level", "NONE")
        .expect("quiet");
    conn.pragma_update(None, "key", format!("x'{key}'"))
        .expect("key");
    let mut statement = conn
        .prepare("SELECT name FROM tags ORDER BY name")
        .expect("prepare");
    statement
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<rusqlite::Result<Vec<String>>>()
        .expect("tags")
}

/// Every record of every type as exported, plus the tag list: what "unchanged" means.
fn snapshot(vault: &TestVault) -> String {
    let mut all = String::new();
    for entity in ["company", "contact", "deal", "activity", "note"] {
        let run = owner(vault, &["export", "json", "--entity", entity]);
        run.success();
        all.push_str(&run.stdout);
    }
    all.push_str(&tag_list(vault).join("\n"));
    all
}

/// The contacts of the HubSpot, Salesforce and Pipedrive fixtures.
fn import_crm_contacts(vault: &TestVault) {
    for file in ["hubspot.csv", "salesforce.csv", "pipedrive.csv"] {
        import_csv(vault, &fixture(file), &[]).success();
    }
}

/// Every fixture of every record type, in the order a migration takes.
fn import_everything(vault: &TestVault) {
    import_crm_contacts(vault);
    for (file, extra) in [
        ("google.csv", &[][..]),
        ("outlook.csv", &[]),
        ("hubspot-companies.csv", &[]),
        ("salesforce-accounts.csv", &[]),
        ("pipedrive-organizations.csv", &[]),
        (
            "hubspot-deals.csv",
            &["--stage-map", "Contract Sent=Negotiation"],
        ),
        ("salesforce-opportunities.csv", &[]),
        (
            "pipedrive-deals.csv",
            &["--stage-map", "Proposal Made=Proposal"],
        ),
        ("hubspot-tasks.csv", &[]),
        ("salesforce-tasks.csv", &[]),
        ("pipedrive-activities.csv", &[]),
        ("hubspot-notes.csv", &[]),
    ] {
        let run = import_csv(vault, &fixture(file), extra);
        run.success();
        assert_eq!(run.json()["committed"], true, "{file}");
    }
}

#[test]
fn each_crm_contact_layout_is_mapped_automatically() {
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
        assert_eq!(report["entity"], "contact", "{file}");
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
    assert_eq!(
        elsa["tags"],
        serde_json::json!(["Hot lead"]),
        "Pipedrive labels"
    );
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
    assert_eq!(
        greta["tags"],
        serde_json::json!(["Trade fair"]),
        "Google labels, without the * myContacts system group"
    );
    assert_eq!(
        all["Vantablack"]["birthday"], "1604-04-15",
        "a year-less Google birthday keeps day and month"
    );
    let ines = &all["Carvalhosa"];
    // Outlook's "Title" is a salutation, not the job title.
    assert_eq!(ines["job_title"], "Chemist");
    assert_eq!(ines["birthday"], "1985-03-22");
    assert_eq!(ines["address"], "1 Lab Way, Lisbon, 1000-001, Portugal");
    assert!(
        all["Quist"].get("birthday").is_none(),
        "Outlook's 0/0/00 is no birthday"
    );
    // Two files name the same companies: each company exists once.
    assert_eq!(exported(&vault, "company").len(), 5);
}

#[test]
fn companies_deals_activities_and_notes_import_from_each_crms_exports() {
    let vault = TestVault::new();
    import_crm_contacts(&vault);
    // Companies: the ones contact rows created by name are updated, not doubled.
    for (file, layout, created, updated) in [
        ("hubspot-companies.csv", "hubspot-companies", 0, 2),
        ("salesforce-accounts.csv", "salesforce-accounts", 1, 1),
        (
            "pipedrive-organizations.csv",
            "pipedrive-organizations",
            1,
            1,
        ),
    ] {
        let run = import_csv(&vault, &fixture(file), &[]);
        run.success();
        let report = run.json();
        assert_eq!(report["entity"], "company", "{file}");
        assert_eq!(report["layout"], layout, "{file}");
        assert_eq!(
            (report["created"].as_u64(), report["updated"].as_u64()),
            (Some(created), Some(updated)),
            "{file}: {report}"
        );
    }
    let companies = by_name(&vault, "company", "name");
    assert_eq!(companies.len(), 5, "{companies:?}");
    let tinkerbox = &companies["Tinkerbox Ltd"];
    assert_eq!(tinkerbox["website"], "tinkerbox.example");
    assert_eq!(tinkerbox["industry"], "Manufacturing");
    assert_eq!(tinkerbox["size"], "11-50", "45 employees");
    assert_eq!(
        tinkerbox["address"],
        "12 Gear Lane, Springfield, IL, 62701, United States"
    );
    assert_eq!(companies["Harbor Optics"]["size"], "201-1000");
    assert_eq!(
        companies["Harbor Optics"]["tags"],
        serde_json::json!(["Customer"])
    );
    assert_eq!(
        companies["Lumen Labs"]["tags"],
        serde_json::json!(["Hot lead", "Prospect"])
    );
    assert_eq!(
        companies["Granite Works AB"]["website"],
        "www.graniteworks.example"
    );

    // Deals: HubSpot's own stage names need a map; the dry run names the column and stage.
    let unmapped = import_csv(&vault, &fixture("hubspot-deals.csv"), &["--dry-run"]);
    let report = rejected(&unmapped);
    assert_eq!(report["entity"], "deal");
    assert_eq!(report["errors"][0]["column"], "Deal Stage");
    assert_eq!(report["errors"][0]["row"], 2);
    assert!(
        report["notices"][0]
            .as_str()
            .is_some_and(|notice| notice.contains("Contract Sent")),
        "{report}"
    );
    for (file, extra, layout) in [
        (
            "hubspot-deals.csv",
            &["--stage-map", "Contract Sent=Negotiation"][..],
            "hubspot-deals",
        ),
        (
            "salesforce-opportunities.csv",
            &[],
            "salesforce-opportunities",
        ),
        (
            "pipedrive-deals.csv",
            &["--stage-map", "Proposal Made=Proposal"],
            "pipedrive-deals",
        ),
    ] {
        let run = import_csv(&vault, &fixture(file), extra);
        run.success();
        let report = run.json();
        assert_eq!(report["layout"], layout);
        assert_eq!(report["created"], 2, "{file}: {report}");
    }
    let deals = by_name(&vault, "deal", "title");
    assert_eq!(deals.len(), 6);
    let restock = &deals["Tinkerbox restock"];
    assert_eq!(restock["stage"], "Negotiation");
    assert_eq!(restock["value"], "12500.00");
    assert_eq!(
        restock["probability"], 25,
        "HubSpot writes probabilities as fractions"
    );
    assert_eq!(restock["expected_close"], "2025-06-30");
    assert_eq!(restock["company"], "Tinkerbox Ltd");
    assert_eq!(
        restock["contact"],
        "Ada Quillfeather <ada.quillfeather@example.com>"
    );
    let spares = &deals["Tinkerbox spares"];
    assert_eq!(spares["stage"], "Lost", "Closed Lost is the lost stage");
    assert_eq!(spares["lost_reason"], "Budget cut");
    assert_eq!(
        spares["contact"], "Bram Oakenshaw <bram@example.org>",
        "found by name"
    );
    let paving = &deals["Granite paving 2025"];
    assert_eq!(paving["value"], "48000.00");
    assert_eq!(
        paving["expected_close"], "2025-09-30",
        "US dates told from 9/30"
    );
    assert_eq!(paving["stage"], "Proposal");
    assert_eq!(deals["Northwind pilot"]["stage"], "Won");
    assert_eq!(deals["Northwind pilot"]["expected_close"], "2025-12-01");
    let lenses = &deals["Harbor lenses"];
    assert_eq!(lenses["stage"], "Proposal");
    assert_eq!(lenses["currency"], "EUR");
    assert_eq!(lenses["tags"], serde_json::json!(["Hot"]));
    assert_eq!(lenses["contact"], "Elsa Brightwater <elsa.b@example.com>");
    assert_eq!(
        deals["Lumen pilot"]["stage"], "Won",
        "Pipedrive's won status"
    );
    // The same deals again update them (same title and company) instead of doubling them.
    let again = import_csv(&vault, &fixture("salesforce-opportunities.csv"), &[]);
    again.success();
    assert_eq!(again.json()["updated"], 2, "{}", again.stdout);
    assert_eq!(exported(&vault, "deal").len(), 6);

    // Activities and notes, linked to contacts (by email or name), companies and deals.
    for (file, layout) in [
        ("hubspot-tasks.csv", "hubspot-tasks"),
        ("salesforce-tasks.csv", "salesforce-tasks"),
        ("pipedrive-activities.csv", "pipedrive-activities"),
        ("hubspot-notes.csv", "hubspot-notes"),
    ] {
        let run = import_csv(&vault, &fixture(file), &[]);
        run.success();
        assert_eq!(run.json()["layout"], layout, "{}", run.stdout);
    }
    let activities = by_name(&vault, "activity", "subject");
    assert_eq!(activities.len(), 6);
    let call = &activities["Call Ada about the restock"];
    assert_eq!(call["kind"], "call");
    assert_eq!(call["due_at"], "2025-03-03T14:30:00Z");
    assert_eq!(call["done"], false);
    assert_eq!(call["deal"], "Tinkerbox restock");
    assert_eq!(
        call["contact"],
        "Ada Quillfeather <ada.quillfeather@example.com>"
    );
    assert_eq!(call["notes"], "Ask about volumes");
    let price_list = &activities["Send the price list"];
    assert_eq!(price_list["kind"], "task", "HubSpot's TODO");
    assert_eq!(price_list["done"], true);
    let follow_up = &activities["Follow up on the paving quote"];
    assert_eq!(
        follow_up["due_at"], "2025-10-02T09:00:00Z",
        "US order told from 10/14; a due date without a time is due at nine"
    );
    assert_eq!(
        follow_up["contact"],
        "Cora Lindqvist-Vale <cora.vale@example.net>"
    );
    assert_eq!(follow_up["company"], "Granite Works AB");
    let lunch = &activities["Lunch with Fenn"];
    assert_eq!(lunch["kind"], "meeting");
    assert_eq!(
        lunch["due_at"], "2025-06-20T12:00:00Z",
        "date and time columns joined"
    );
    assert_eq!(lunch["done"], true);
    let notes = exported(&vault, "note");
    assert_eq!(notes.len(), 1);
    let note = &notes[0]["fields"];
    assert_eq!(note["body"], "Met at the trade fair; wants samples, soon.");
    assert_eq!(note["deal"], "Tinkerbox restock");
    assert_eq!(note["company"], "Tinkerbox Ltd");

    // A company is found by its website's domain when the name differs.
    let dir = tempfile::tempdir().expect("tempdir");
    let renamed = dir.path().join("renamed.csv");
    std::fs::write(
        &renamed,
        "Company,Website,Industry\nTinkerbox Limited,https://TINKERBOX.example/shop,Toys\n",
    )
    .expect("write");
    let run = import_csv(&vault, &renamed, &[]);
    run.success();
    let report = run.json();
    assert_eq!(report["entity"], "company");
    assert_eq!(report["updated"], 1, "{report}");
    assert!(
        report["plan"][0]["matched_by"]
            .as_str()
            .is_some_and(|why| why.contains("website domain")),
        "{report}"
    );
    let companies = by_name(&vault, "company", "name");
    assert_eq!(companies.len(), 5, "{companies:?}");
    let tinkerbox = &companies["Tinkerbox Limited"];
    assert_eq!(tinkerbox["website"], "https://TINKERBOX.example/shop");
    assert_eq!(tinkerbox["industry"], "Toys");
    assert_eq!(
        by_name(&vault, "deal", "title")["Tinkerbox restock"]["company"],
        "Tinkerbox Limited",
        "the deal stays linked to the same company"
    );
}

#[test]
fn a_contact_matches_on_any_email_and_merges_emails_and_phones() {
    let vault = TestVault::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let first = dir.path().join("first.csv");
    std::fs::write(
        &first,
        "First Name,Last Name,Email,Phone,Notes\nAda,Quill,ada@work.example; ada@home.example,+1 555 0101,Old note\n",
    )
    .expect("write");
    import_csv(&vault, &first, &[]).success();
    let second = dir.path().join("second.csv");
    std::fs::write(
        &second,
        "Last Name,Email,Phone,Notes\nQuill,ADA@HOME.example; ada@new.example,(1) 555-0101; +1 555 0202,New note\n",
    )
    .expect("write");
    let run = import_csv(&vault, &second, &["--dry-run"]);
    run.success();
    let report = run.json();
    assert_eq!(report["updated"], 1, "the second email matches: {report}");
    assert_eq!(report["plan"][0]["action"], "update");
    assert_eq!(report["plan"][0]["existing_name"], "Ada Quill");
    assert_eq!(
        report["plan"][0]["matched_by"],
        "same email (column \"Email\")"
    );
    import_csv(&vault, &second, &[]).success();
    let all = contacts(&vault);
    assert_eq!(all.len(), 1);
    let ada = &all["Quill"];
    assert_eq!(
        ada["emails"],
        serde_json::json!(["ada@work.example", "ada@home.example", "ada@new.example"]),
        "existing emails kept first, in order; the new one added"
    );
    assert_eq!(
        ada["phones"],
        serde_json::json!(["+1 555 0101", "+1 555 0202"]),
        "the same number written differently is not added twice"
    );
    assert_eq!(ada["notes"], "New note");
    assert_eq!(ada["first_name"], "Ada", "empty cells do not clear fields");
    // The merged list is what later imports match on.
    let third = dir.path().join("third.csv");
    std::fs::write(&third, "Last Name,Email\nQuill,ada@new.example\n").expect("write");
    let run = import_csv(&vault, &third, &[]);
    run.success();
    assert_eq!(run.json()["updated"], 1);
}

#[test]
fn explicit_mapping_wins_and_a_dry_run_commits_nothing() {
    let vault = TestVault::new();
    import_csv(&vault, &fixture("hubspot.csv"), &[]).success();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("update.csv");
    std::fs::write(&file, "Surname,Mail,Role\nQuillfeather,ADA.QUILLFEATHER@example.com,Chief Buyer\nNewperson,new@example.com,Intern\n").expect("write");
    let map = [
        "--map",
        "Surname=last_name",
        "--map",
        "Mail=emails",
        "--map",
        "Role=job_title",
    ];
    let mut dry_args = map.to_vec();
    dry_args.push("--dry-run");
    let dry = import_csv(&vault, &file, &dry_args);
    dry.success();
    let report = dry.json();
    assert_eq!(
        (report["created"].as_u64(), report["updated"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(report["plan"][0]["row"], 2);
    assert_eq!(report["plan"][0]["action"], "update");
    assert_eq!(report["plan"][0]["name"], "Quillfeather");
    assert_eq!(report["plan"][1]["action"], "create");
    assert_eq!(report["plan"][1]["name"], "Newperson");
    assert_eq!(contacts(&vault).len(), 2, "a dry run commits nothing");
    import_csv(&vault, &file, &map).success();
    let all = contacts(&vault);
    assert_eq!(all.len(), 3);
    assert_eq!(all["Quillfeather"]["job_title"], "Chief Buyer");
    assert_eq!(all["Quillfeather"]["first_name"], "Ada");
}

#[test]
fn a_whole_vault_round_trips_through_csv_export_and_import_with_links_and_tags() {
    let first = TestVault::new();
    import_everything(&first);
    let dir = tempfile::tempdir().expect("tempdir");
    let second = TestVault::new();
    for entity in ["company", "contact", "deal", "activity", "note"] {
        let file = dir.path().join(format!("{entity}.csv"));
        owner(
            &first,
            &[
                "export",
                "csv",
                "--entity",
                entity,
                "--out",
                file.to_str().expect("utf8"),
            ],
        )
        .success();
        let run = import_csv(&second, &file, &[]);
        run.success();
        let report = run.json();
        assert_eq!(report["layout"], "strongroom", "{entity}");
        assert_eq!(report["entity"], entity);
        assert_eq!(
            report["companies_created"], 0,
            "{entity}: companies came first"
        );
    }
    for (entity, key) in [
        ("company", "name"),
        ("contact", "last_name"),
        ("deal", "title"),
        ("activity", "subject"),
        ("note", "body"),
    ] {
        assert_eq!(
            by_name(&second, entity, key),
            by_name(&first, entity, key),
            "{entity}"
        );
    }
    assert_eq!(tag_list(&second), tag_list(&first));
    assert!(tag_list(&first).contains(&"Trade fair".to_owned()));
}

#[test]
fn day_month_order_is_told_from_the_file_or_chosen_and_never_guessed() {
    let vault = TestVault::new();
    let run = import_csv(&vault, &fixture("outlook-uk.csv"), &[]);
    run.success();
    let report = run.json();
    assert_eq!(report["date_columns"][0]["column"], "Birthday");
    assert_eq!(report["date_columns"][0]["order"], "dmy");
    assert_eq!(report["date_columns"][0]["decided_by"], "detected");
    let all = contacts(&vault);
    assert_eq!(all["Thornbury"]["birthday"], "1985-12-25");
    assert_eq!(
        all["Ashdown"]["birthday"], "1979-04-03",
        "03/04/79 read day first, like the rest of the file; 79 is 1979"
    );
    assert_eq!(
        all["Ashdown"]["phones"],
        serde_json::json!(["+44 113 496 0001 x 12"])
    );
    assert_eq!(
        all["Thornbury"]["tags"],
        serde_json::json!(["Suppliers", "VIP"])
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let ambiguous = dir.path().join("ambiguous.csv");
    std::fs::write(
        &ambiguous,
        "First Name,Last Name,Birthday\nAnn,Ash,03/04/1985\nBo,Birch,5/5/1990\n",
    )
    .expect("write");
    let dry = import_csv(&vault, &ambiguous, &["--dry-run"]);
    let report = rejected(&dry);
    assert_eq!(report["date_columns"][0]["decided_by"], "ambiguous");
    assert!(
        report["notices"][0]
            .as_str()
            .is_some_and(|notice| notice.contains("\"Birthday\"")
                && notice.contains("choose the date order")),
        "{report}"
    );
    assert_eq!(report["rejected"], 1, "5/5/1990 reads the same either way");
    assert_eq!(report["errors"][0]["row"], 2);
    assert_eq!(report["errors"][0]["column"], "Birthday");
    let text = owner(
        &vault,
        &[
            "import",
            "csv",
            ambiguous.to_str().expect("utf8"),
            "--dry-run",
        ],
    );
    assert_eq!(text.status.code(), Some(EXIT_ROWS_REJECTED));
    assert!(
        text.stdout
            .contains("dates in \"Birthday\": undecided (ambiguous)"),
        "{}",
        text.stdout
    );
    for (order, expected) in [("dmy", "1985-04-03"), ("mdy", "1985-03-04")] {
        let fresh = TestVault::new();
        import_csv(&fresh, &ambiguous, &["--date-order", order]).success();
        assert_eq!(contacts(&fresh)["Ash"]["birthday"], expected, "{order}");
    }
}

#[test]
fn the_dry_run_lists_every_rows_fate_and_rejections_exit_with_their_own_status() {
    let vault = TestVault::new();
    import_crm_contacts(&vault);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("mixed.csv");
    std::fs::write(
        &file,
        "First Name,Last Name,Email,Company\nAda,Quillfeather,ada.quillfeather@example.com,Tinkerbox Ltd\nNew,,new@example.com,\nZed,Zimmer,zed@example.com,Zimmer GmbH\n",
    )
    .expect("write");
    let dry = import_csv(&vault, &file, &["--dry-run"]);
    let report = rejected(&dry);
    assert_eq!(report["committed"], false);
    assert_eq!(report["plan"][0]["row"], 2);
    assert_eq!(report["plan"][0]["action"], "update");
    assert_eq!(report["plan"][0]["existing_name"], "Ada Quillfeather");
    assert!(report["plan"][0]["existing_id"].as_i64().is_some());
    assert_eq!(report["plan"][1]["row"], 4);
    assert_eq!(report["plan"][1]["action"], "create");
    assert_eq!(report["plan"][1]["name"], "Zed Zimmer");
    assert_eq!(report["plan"][1]["new_company"], "Zimmer GmbH");
    assert_eq!(report["errors"][0]["row"], 3);
    assert_eq!(
        report["errors"][0]["column"], "Last Name",
        "a missing required value names its column"
    );
    assert_eq!(report["errors"][0]["reason"], "Last name is required");
    let text = owner(
        &vault,
        &["import", "csv", file.to_str().expect("utf8"), "--dry-run"],
    );
    assert_eq!(text.status.code(), Some(EXIT_ROWS_REJECTED));
    for line in [
        "row 2: update contact",
        "(Ada Quillfeather) with \"Ada Quillfeather\": same email (column \"Email\")",
        "row 4: create \"Zed Zimmer\" (new company \"Zimmer GmbH\")",
        "row 3, column \"Last Name\": Last name is required",
    ] {
        assert!(text.stdout.contains(line), "{line}\n{}", text.stdout);
    }
    // The same file for real: the same status, nothing committed.
    let real = import_csv(&vault, &file, &[]);
    assert_eq!(rejected(&real)["committed"], false);
    assert_eq!(exported(&vault, "contact").len(), 6);
    // A header without a last-name column is told so, naming no column.
    let nameless = dir.path().join("nameless.csv");
    std::fs::write(&nameless, "First Name,Email\nAda,a@example.com\n").expect("write");
    let report = rejected(&import_csv(&vault, &nameless, &[]));
    assert!(
        report["errors"][0]["reason"]
            .as_str()
            .is_some_and(|why| why.starts_with("no column maps to the last name")),
        "{report}"
    );
    let help = owner(&vault, &["import", "csv", "--help"]);
    help.success();
    let words = help.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("3 when rows are rejected"),
        "{}",
        help.stdout
    );
}

/// A bad file: name, bytes, expected reason, the row it names, extra arguments.
type Case<'a> = (&'a str, Vec<u8>, &'a str, Option<u64>, Vec<&'a str>);

#[test]
fn malformed_files_give_row_errors_and_leave_every_record_and_tag_as_it_was() {
    let vault = TestVault::new();
    import_everything(&vault);
    let before = snapshot(&vault);
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
        (
            // New tags, a new company and a new deal on the good row; a bad stage on the next.
            "deals.csv",
            b"Deal Name,Deal Stage,Associated Company,Deal owner,Labels\nFresh deal,Lead,Brand New Co,x,Brand new tag\nBad deal,No such stage,Other New Co,x,\n".to_vec(),
            "no pipeline stage",
            Some(3),
            vec!["--map", "Labels=tags"],
        ),
        (
            "companies.csv",
            b"Company name,Company Domain Name,Company owner,Number of Employees\nTinkerbox Limited,tinkerbox.example,x,12\nNew Co,newco.example,x,many\n".to_vec(),
            "size",
            Some(3),
            vec![],
        ),
    ];
    for (name, bytes, reason, row, extra) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        let run = import_csv(&vault, &path, &extra);
        let report = rejected(&run);
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
        if name == "deals.csv" {
            assert_eq!(errors[0]["column"], "Deal Stage");
        }
    }
    assert_eq!(
        snapshot(&vault),
        before,
        "a failed import changes no record of any type and no tag"
    );
    // Each attempt is in the audit trail, saying what was tried.
    let trail = owner(
        &vault,
        &[
            "audit", "list", "--json", "--action", "import", "--limit", "200",
        ],
    );
    trail.success();
    let attempts: Vec<serde_json::Value> = trail
        .json()
        .as_array()
        .expect("array")
        .iter()
        .filter(|entry| entry["detail"]["outcome"] == "rolled back: rows rejected")
        .cloned()
        .collect();
    assert_eq!(attempts.len(), 7, "{}", trail.stdout);
    assert!(
        attempts
            .iter()
            .any(|entry| entry["entity"] == "deal" && entry["detail"]["rejected"] == 1)
    );
}

#[test]
fn dry_runs_are_recorded_in_the_audit_trail() {
    let vault = TestVault::new();
    import_csv(&vault, &fixture("hubspot.csv"), &["--dry-run"]).success();
    import_vcard(&vault, &fixture("contacts.vcf")).success();
    let trail = owner(&vault, &["audit", "list", "--json", "--action", "import"]);
    trail.success();
    let entries = trail.json();
    let entries = entries.as_array().expect("array");
    let dry = entries
        .iter()
        .find(|entry| entry["detail"]["outcome"] == "dry run")
        .unwrap_or_else(|| panic!("no dry run entry: {}", trail.stdout));
    assert_eq!(dry["entity"], "contact");
    assert_eq!(dry["detail"]["would_create"], 2);
    assert_eq!(dry["detail"]["format"], "csv");
    assert!(
        entries
            .iter()
            .any(|entry| entry["detail"]["format"] == "vcard" && entry["detail"]["created"] == 2),
        "the committed import is recorded too: {}",
        trail.stdout
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
fn excel_files_separated_by_semicolons_or_tabs_import_like_commas() {
    let vault = TestVault::new();
    let dir = tempfile::tempdir().expect("tempdir");
    // Excel in a comma-decimal locale: semicolons, Windows-1252, CRLF, a quoted `;` in a cell.
    let french = latin(
        "First Name;Last Name;Email;Notes\r\nZoë;Müller;zoe@example.com;\"prefers email; not calls\"\r\n",
    );
    let french_path = dir.path().join("excel-fr.csv");
    std::fs::write(&french_path, french).expect("write");
    let run = import_csv(&vault, &french_path, &[]);
    run.success();
    assert_eq!(run.json()["separator"], "semicolon", "{}", run.stdout);
    assert_eq!(run.json()["encoding"], "windows-1252");
    // Excel's "sep=" first line names the separator and is not the header.
    let named =
        latin("sep=\t\r\nFirst Name\tLast Name\tEmail\r\nJosé\tGarçon\tjose@example.com\r\n");
    let named_path = dir.path().join("excel-sep.csv");
    std::fs::write(&named_path, named).expect("write");
    let run = import_csv(&vault, &named_path, &[]);
    run.success();
    assert_eq!(run.json()["separator"], "tab", "{}", run.stdout);
    assert_eq!(run.json()["mapping"][0][0], "First Name");
    let all = contacts(&vault);
    assert_eq!(all["Müller"]["first_name"], "Zoë");
    assert_eq!(all["Müller"]["notes"], "prefers email; not calls");
    assert_eq!(all["Garçon"]["first_name"], "José");
}

#[test]
fn vcard_edge_cases_of_outlook_apple_and_4_0_import_instead_of_failing() {
    let vault = TestVault::new();
    let run = import_vcard(&vault, &fixture("address-books.vcf"));
    run.success();
    assert_eq!(run.json()["created"], 3, "{}", run.stdout);
    let all = contacts(&vault);
    let jurgen = &all["Grünewald"];
    assert_eq!(
        jurgen["first_name"], "Jürgen",
        "CHARSET=Windows-1252 decoded"
    );
    assert_eq!(
        jurgen["notes"],
        "Bestellt jeden März.\nZweite Zeile, lang genug für einen weichen Umbruch.",
        "quoted-printable with a soft line break"
    );
    assert_eq!(jurgen["birthday"], "1604-04-15", "year-less --0415");
    assert_eq!(jurgen["tags"], serde_json::json!(["Brewery", "VIP"]));
    assert_eq!(jurgen["company"], "Brauhaus Nord");
    let mara = &all["Lindholm"];
    assert_eq!(mara["phones"], serde_json::json!(["+1-555-555-0100 x123"]));
    assert_eq!(mara["birthday"], "1604-11-02");
    assert_eq!(
        all["Okafor"]["birthday"], "1604-02-29",
        "Apple's X-APPLE-OMIT-YEAR"
    );
}

#[test]
fn vcards_round_trip_through_export_in_both_versions_and_a_fresh_vault() {
    let first = TestVault::new();
    let run = import_vcard(&first, &fixture("contacts.vcf"));
    run.success();
    assert_eq!(run.json()["created"], 2, "{}", run.stdout);
    import_vcard(&first, &fixture("address-books.vcf")).success();
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
    for version in ["3.0", "4.0"] {
        let exported = dir.path().join(format!("out-{version}.vcf"));
        owner(
            &first,
            &[
                "export",
                "vcard",
                "--vcard-version",
                version,
                "--out",
                exported.to_str().expect("utf8"),
            ],
        )
        .success();
        let text = std::fs::read_to_string(&exported).expect("read");
        assert_eq!(text.matches(&format!("VERSION:{version}\r\n")).count(), 5);
        assert!(
            text.split("\r\n").all(|line| line.len() <= 75),
            "folded at 75 octets"
        );
        let year_less = if version == "4.0" {
            "BDAY:--0415\r\n"
        } else {
            "BDAY;X-APPLE-OMIT-YEAR=1604:1604-04-15\r\n"
        };
        assert!(text.contains(year_less), "{version}: {text}");
        assert!(text.contains("CATEGORIES:Brewery,VIP\r\n"), "{text}");
        let second = TestVault::new();
        let run = import_vcard(&second, &exported);
        run.success();
        assert_eq!(contacts(&second), original, "vCard {version}");
    }
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
    for args in [
        &["export", "csv"][..],
        &["export", "json"],
        &["export", "vcard"],
        &["export", "vcard", "--vcard-version", "3.0"],
    ] {
        let run = vault.crm_as("mia", "mia-password-1", args);
        run.success();
        assert!(run.stdout.contains("Banks"), "{args:?}: {}", run.stdout);
        assert!(
            !run.stdout.contains("4931") && !run.stdout.contains("DE44"),
            "{args:?}: {}",
            run.stdout
        );
        assert!(
            !run.stdout.contains("bank_account"),
            "{args:?}: no column for a field the role never sees"
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
        exports >= 5,
        "every export is in the trail: {}",
        trail.stdout
    );
}

#[test]
fn a_deal_export_names_contacts_only_for_a_role_that_may_export_contacts() {
    let vault = TestVault::new();
    vault.add_user("max", "Sales Manager", "max-password-1");
    let max = |args: &[&str]| vault.crm_as("max", "max-password-1", args);
    for (file, extra) in [
        ("hubspot.csv", &[][..]),
        (
            "hubspot-deals.csv",
            &["--stage-map", "Contract Sent=Negotiation"],
        ),
    ] {
        let path = fixture(file);
        let mut args = vec!["import", "csv", path.to_str().expect("utf8")];
        args.extend_from_slice(extra);
        max(&args).success();
    }
    let email = "ada.quillfeather@example.com";
    let allowed = max(&["export", "csv", "--entity", "deal"]);
    allowed.success();
    assert!(allowed.stdout.contains(email), "{}", allowed.stdout);
    owner(
        &vault,
        &[
            "role",
            "edit",
            "Sales Manager",
            "--grant",
            "contact:export=none",
        ],
    )
    .success();
    for format in ["csv", "json"] {
        let refused = max(&["export", format, "--entity", "deal"]);
        refused.success();
        assert!(
            refused.stdout.contains("Tinkerbox restock"),
            "{}",
            refused.stdout
        );
        assert!(
            !refused.stdout.contains(email) && !refused.stdout.contains("Quillfeather"),
            "{format}: {}",
            refused.stdout
        );
    }
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

/// Writes a CSV of `rows` contacts (every tenth with a second email and a tag).
fn big_file(path: &Path, rows: u32) {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    writeln!(file, "First Name,Last Name,Email,Phone,Company,Labels").expect("write");
    for index in 0..rows {
        let second = if index % 10 == 0 {
            format!("; other{index}@example.org")
        } else {
            String::new()
        };
        writeln!(
            file,
            "Person{index},Family{},p{index}@example.com{second},+1 555 {:07},Company {},Group {}",
            index % 977,
            index,
            index % 500,
            index % 7
        )
        .expect("write");
    }
}

/// Imports `path` with `--json`, watching memory. Returns (peak RSS in KiB, stdout, stderr).
fn import_watching_memory(vault: &TestVault, path: &Path) -> (u64, String, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_crm"))
        .args([
            "--vault",
            vault.dir().to_str().expect("utf8"),
            "--json",
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
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut peak = 0;
    while child.try_wait().expect("wait").is_none() {
        if let Some(kib) = peak_kib(pid) {
            peak = peak.max(kib);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = child.wait().expect("status");
    let (stdout, stderr) = (out.join().expect("join"), err.join().expect("join"));
    assert!(status.success(), "{stderr}");
    (peak, stdout, stderr)
}

#[test]
fn memory_stays_flat_from_60k_to_300k_rows_and_progress_goes_to_stderr_as_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut peaks = Vec::new();
    for rows in [60_000u32, 300_000] {
        let vault = TestVault::new();
        let path = dir.path().join(format!("big-{rows}.csv"));
        big_file(&path, rows);
        let size = std::fs::metadata(&path).expect("size").len();
        let started = std::time::Instant::now();
        let (peak, stdout, stderr) = import_watching_memory(&vault, &path);
        let elapsed = started.elapsed().as_secs_f64();
        eprintln!(
            "imported {rows} rows ({} MiB) in {elapsed:.1} s = {:.0} rows/s; peak RSS {} MiB",
            size / 1_048_576,
            f64::from(rows) / elapsed,
            peak / 1024
        );
        // Standard output is the report alone; progress is JSON lines on standard error.
        let report: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON report");
        assert_eq!(report["created"], u64::from(rows));
        assert_eq!(
            report["plan"].as_array().map(Vec::len),
            Some(1_000),
            "the plan is capped"
        );
        assert_eq!(report["plan_truncated"], true);
        let progress: Vec<serde_json::Value> = stderr
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
            .collect();
        assert!(
            progress
                .iter()
                .filter(|line| line["progress"]["step"]
                    .as_str()
                    .is_some_and(|step| step.contains("rows read")))
                .count()
                >= (rows / 10_000) as usize,
            "{stderr}"
        );
        peaks.push(peak);
        if rows == 300_000 {
            let out = dir.path().join("export.csv");
            owner(
                &vault,
                &["export", "csv", "--out", out.to_str().expect("utf8")],
            )
            .success();
            let lines = std::io::BufRead::lines(std::io::BufReader::new(
                std::fs::File::open(&out).expect("open"),
            ))
            .count();
            assert_eq!(lines, rows as usize + 1);
        }
    }
    let bound = 150 * 1024;
    assert!(
        peaks.iter().all(|peak| *peak < bound),
        "peaks {peaks:?} KiB"
    );
    assert!(
        peaks[1] < peaks[0] + 16 * 1024,
        "five times the rows, about the same memory: {peaks:?} KiB"
    );
}
