//! The customer base through the real `crm` binary: every record type from add to delete,
//! search and list filters (phones in any format, owner, stage, tag, time, custom fields),
//! deletes that ask about linked records, pipelines, custom fields, tags, owner and team,
//! bad input, per-role masking and refusals, and no plaintext on disk.

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
    let link = format!("company_id={company}");
    let call = add(
        &vault,
        "activity",
        &["kind=call", "subject=Intro call", &link],
    );
    let refused = owner(&vault, &["company", "delete", &company.to_string()]);
    refused.failure();
    assert!(
        refused.stderr.contains("1 contact and 1 activity"),
        "{}",
        refused.stderr
    );
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
    for (entity, id) in [("contact", contact), ("activity", call)] {
        let shown = owner(&vault, &[entity, "show", &id.to_string(), "--json"]);
        shown.success();
        let fields = shown.json()["fields"].as_array().expect("fields").clone();
        assert!(
            fields
                .iter()
                .any(|field| field["name"] == "company_id" && field["value"].is_null()),
            "{entity} kept, unlinked"
        );
    }
    let audit = owner(
        &vault,
        &[
            "audit", "list", "--action", "update", "--target", "activity", "--json",
        ],
    );
    assert!(
        audit.stdout.contains("detached_from"),
        "the detach is audited: {}",
        audit.stdout
    );
}

#[test]
fn deleting_a_company_with_its_dependents_removes_and_audits_every_linked_record() {
    let vault = TestVault::new();
    let (company, contact) = seed(&vault);
    let deal = add(
        &vault,
        "deal",
        &[
            "title=Lens order",
            &format!("company_id={company}"),
            &format!("contact_id={contact}"),
        ],
    );
    let call = add(
        &vault,
        "activity",
        &[
            "kind=call",
            "subject=Follow up",
            &format!("contact_id={contact}"),
        ],
    );
    let note = add(
        &vault,
        "note",
        &["body=Prefers email", &format!("deal_id={deal}")],
    );
    owner(&vault, &["activity", "tag", &call.to_string(), "follow-up"]).success();
    owner(
        &vault,
        &[
            "company",
            "delete",
            &company.to_string(),
            "--dependents",
            "delete",
        ],
    )
    .success();
    for (entity, id) in [
        ("company", company),
        ("contact", contact),
        ("deal", deal),
        ("activity", call),
        ("note", note),
    ] {
        let shown = owner(&vault, &[entity, "show", &id.to_string()]);
        shown.failure();
        assert!(
            shown.stderr.contains("not found"),
            "{entity}: {}",
            shown.stderr
        );
    }
    let audit = owner(&vault, &["audit", "list", "--action", "delete", "--json"]);
    audit.success();
    let targets: Vec<String> = audit
        .json()
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| {
            format!(
                "{}:{}",
                entry["entity"].as_str().unwrap_or(""),
                entry["record_id"].as_str().unwrap_or("")
            )
        })
        .collect();
    for (entity, id) in [
        ("company", company),
        ("contact", contact),
        ("deal", deal),
        ("activity", call),
        ("note", note),
    ] {
        assert!(
            targets.contains(&format!("{entity}:{id}")),
            "{entity} {id}: {targets:?}"
        );
    }
    let tags = owner(&vault, &["activity", "tags", "--json"]);
    assert_eq!(
        tags.json().as_array().map(Vec::len),
        Some(0),
        "no tag left behind"
    );
}

/// Adds a record as the owner and returns its id; `show --json` of it.
fn show(vault: &TestVault, entity: &str, id: i64) -> serde_json::Value {
    let run = owner(vault, &[entity, "show", &id.to_string(), "--json"]);
    run.success();
    run.json()
}

fn value(record: &serde_json::Value, field: &str) -> serde_json::Value {
    record["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|view| view["name"] == field)
        .map(|view| view["value"].clone())
        .unwrap_or(serde_json::Value::Null)
}

fn list_ids(vault: &TestVault, user: (&str, &str), args: &[&str]) -> Vec<i64> {
    let mut full = args.to_vec();
    full.push("--json");
    let run = vault.crm_as(user.0, user.1, &full);
    run.success();
    run.json()["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|record| record["id"].as_i64().expect("id"))
        .collect()
}

const OLIVIA: (&str, &str) = ("olivia", OWNER_PASSWORD);

#[test]
fn deals_activities_and_notes_go_from_add_to_list_show_edit_and_delete() {
    let vault = TestVault::new();
    let (company, contact) = seed(&vault);
    let deal = add(
        &vault,
        "deal",
        &[
            "title=Lens order",
            &format!("company_id={company}"),
            "value=12,500.00",
            "currency=EUR",
            "expected_close=2026-12-15",
        ],
    );
    let task = add(
        &vault,
        "activity",
        &[
            "kind=task",
            "subject=Send the quote",
            "due_at=2026-11-24 09:00",
            &format!("deal_id={deal}"),
        ],
    );
    let note = add(
        &vault,
        "note",
        &[
            "body=Wants delivery before Christmas",
            &format!("contact_id={contact}"),
        ],
    );
    let cases = [
        (
            "deal",
            deal,
            "title",
            "Lens order",
            "lost_reason=Budget cut",
            "lost_reason",
            "Budget cut",
        ),
        (
            "activity",
            task,
            "subject",
            "Send the quote",
            "done=yes",
            "done",
            "true",
        ),
        (
            "note",
            note,
            "body",
            "Wants delivery before Christmas",
            "body=Delivery in January",
            "body",
            "Delivery in January",
        ),
    ];
    for (entity, id, field, first, edit, changed, expected) in cases {
        assert!(
            list_ids(&vault, OLIVIA, &[entity, "list"]).contains(&id),
            "{entity} listed"
        );
        let text = owner(&vault, &[entity, "show", &id.to_string()]);
        text.success();
        assert!(text.stdout.contains(first), "{entity}: {}", text.stdout);
        assert_eq!(
            value(&show(&vault, entity, id), field),
            serde_json::json!(first)
        );
        owner(&vault, &[entity, "edit", &id.to_string(), "--set", edit]).success();
        let shown = value(&show(&vault, entity, id), changed);
        assert_eq!(crm_text(&shown), expected, "{entity} edited");
    }
    assert_eq!(
        value(&show(&vault, "deal", deal), "value"),
        serde_json::json!("12500.00")
    );
    let due = list_ids(
        &vault,
        OLIVIA,
        &[
            "activity",
            "list",
            "--due-before",
            "2026-11-25",
            "--where",
            &format!("deal_id={deal}"),
        ],
    );
    assert!(due.is_empty(), "a done task is not due");
    // A deal with a task is not deleted silently; a task or note goes on its own.
    owner(&vault, &["deal", "delete", &deal.to_string()]).failure();
    for (entity, id) in [("activity", task), ("note", note), ("deal", deal)] {
        owner(&vault, &[entity, "delete", &id.to_string()]).success();
        owner(&vault, &[entity, "show", &id.to_string()]).failure();
        assert!(!list_ids(&vault, OLIVIA, &[entity, "list"]).contains(&id));
    }
}

fn crm_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[test]
fn lists_filter_by_owner_stage_tag_time_and_phone_in_any_format() {
    let vault = TestVault::new();
    let (_, contact) = seed(&vault);
    vault.add_user("sam", "Sales Manager", "sam-password-1");
    let sam = ("sam", "sam-password-1");
    let run = vault.crm_as(
        sam.0,
        sam.1,
        &[
            "contact",
            "add",
            "--set",
            "last_name=Okafor",
            "--set",
            "phones=020 7946 0018",
            "--json",
        ],
    );
    run.success();
    let sams = run.json()["id"].as_i64().expect("id");
    assert_eq!(
        list_ids(&vault, OLIVIA, &["contact", "list", "--owner", "sam"]),
        [sams]
    );
    assert_eq!(
        list_ids(&vault, OLIVIA, &["contact", "list", "--owner", "olivia"]),
        [contact]
    );

    for phone in [
        "5551234567",
        "+1 555 123 4567",
        "(555) 123-4567",
        "123-4567",
        "15551234567",
    ] {
        assert_eq!(
            list_ids(
                &vault,
                OLIVIA,
                &["contact", "list", "--where", &format!("phones={phone}")]
            ),
            [contact],
            "{phone}"
        );
    }
    assert_eq!(
        list_ids(
            &vault,
            OLIVIA,
            &["contact", "list", "--where", "phones=+44 20 7946 0018"]
        ),
        [sams]
    );
    assert!(
        list_ids(
            &vault,
            OLIVIA,
            &["contact", "list", "--where", "phones=999 999 9999"]
        )
        .is_empty()
    );

    owner(
        &vault,
        &["contact", "tag", &contact.to_string(), "lens-fair"],
    )
    .success();
    assert_eq!(
        list_ids(&vault, OLIVIA, &["contact", "list", "--tag", "Lens-Fair"]),
        [contact]
    );
    assert!(list_ids(&vault, OLIVIA, &["contact", "list", "--tag", "other"]).is_empty());

    let stages = owner(&vault, &["pipeline", "show", "--json"]);
    let stages = stages.json();
    let first = stages[0]["id"].as_i64().expect("stage id");
    let second = stages[1]["id"].as_i64().expect("stage id");
    let early = add(
        &vault,
        "deal",
        &["title=Early", &format!("stage_id={first}")],
    );
    let later = add(
        &vault,
        "deal",
        &["title=Later", &format!("stage_id={second}")],
    );
    assert_eq!(
        list_ids(
            &vault,
            OLIVIA,
            &["deal", "list", "--stage", &first.to_string()]
        ),
        [early]
    );
    assert_eq!(
        list_ids(
            &vault,
            OLIVIA,
            &["deal", "list", "--stage", &second.to_string()]
        ),
        [later]
    );

    assert!(
        list_ids(
            &vault,
            OLIVIA,
            &["contact", "list", "--since", "2999-01-01"]
        )
        .is_empty()
    );
    assert_eq!(
        list_ids(
            &vault,
            OLIVIA,
            &["contact", "list", "--since", "2000-01-01"]
        )
        .len(),
        2
    );
}

#[test]
fn sorting_or_filtering_on_a_field_above_clearance_is_refused_without_echoing_values() {
    let vault = TestVault::new();
    seed(&vault);
    vault.add_user("sam", "Sales Representative", "sam-password-1");
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
    for args in [
        vec!["contact", "list", "--sort", "birthday"],
        vec!["contact", "list", "--sort", "bank_account"],
        vec!["contact", "list", "--where", "phones=5551234567"],
        vec!["contact", "list", "--where", "emails=ingrid"],
    ] {
        let run = vault.crm_as("sam", "sam-password-1", &args);
        run.failure();
        assert!(
            run.stderr.contains("above your clearance"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("1984") && !run.stderr.contains("4567"),
            "{}",
            run.stderr
        );
    }
    // Visible fields sort and filter.
    assert_eq!(
        list_ids(
            &vault,
            ("sam", "sam-password-1"),
            &["contact", "list", "--sort", "last_name"]
        )
        .len(),
        1
    );
}

#[test]
fn the_pipeline_is_configured_from_the_cli_and_deals_keep_their_stage() {
    let vault = TestVault::new();
    let stages = |vault: &TestVault| {
        let run = owner(vault, &["pipeline", "show", "--json"]);
        run.success();
        run.json().as_array().expect("stages").clone()
    };
    let proposal = stages(&vault)
        .iter()
        .find(|stage| stage["name"] == "Proposal")
        .and_then(|stage| stage["id"].as_i64())
        .expect("Proposal");
    let deal = add(
        &vault,
        "deal",
        &["title=Lens order", &format!("stage_id={proposal}")],
    );
    owner(
        &vault,
        &["pipeline", "rename-stage", "proposal", "Offer sent"],
    )
    .success();
    owner(
        &vault,
        &[
            "pipeline",
            "edit-stage",
            "Offer sent",
            "--probability",
            "60",
            "--position",
            "1",
        ],
    )
    .success();
    let run = owner(
        &vault,
        &[
            "pipeline",
            "add-stage",
            "On hold",
            "--probability",
            "5",
            "--outcome",
            "lost",
            "--json",
        ],
    );
    run.success();
    let now = run.json();
    assert_eq!(now[0]["name"], "Offer sent");
    assert_eq!(now[0]["id"].as_i64(), Some(proposal));
    assert_eq!(now[0]["probability"], 60);
    let hold = now
        .as_array()
        .and_then(|list| list.last())
        .expect("last")
        .clone();
    assert_eq!(
        (hold["name"].as_str(), hold["outcome"].as_str()),
        (Some("On hold"), Some("lost"))
    );
    assert_eq!(
        value(&show(&vault, "deal", deal), "stage_id"),
        serde_json::json!(proposal)
    );

    let refused = owner(&vault, &["pipeline", "remove-stage", "Offer sent"]);
    refused.failure();
    assert!(
        refused.stderr.contains("deals are still in"),
        "{}",
        refused.stderr
    );
    owner(
        &vault,
        &[
            "pipeline",
            "remove-stage",
            "Offer sent",
            "--move-deals-to",
            "Lead",
        ],
    )
    .success();
    let lead = stages(&vault)
        .iter()
        .find(|stage| stage["name"] == "Lead")
        .and_then(|stage| stage["id"].as_i64())
        .expect("Lead");
    assert_eq!(
        value(&show(&vault, "deal", deal), "stage_id"),
        serde_json::json!(lead)
    );

    owner(
        &vault,
        &[
            "pipeline",
            "set-stages",
            "Lead:15, Demo:40, Won:100:won, Lost:0:lost",
        ],
    )
    .success();
    let names: Vec<(String, i64, String)> = stages(&vault)
        .iter()
        .map(|stage| {
            (
                stage["name"].as_str().unwrap_or("").to_owned(),
                stage["probability"].as_i64().unwrap_or(-1),
                stage["outcome"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("Lead".to_owned(), 15, "open".to_owned()),
            ("Demo".to_owned(), 40, "open".to_owned()),
            ("Won".to_owned(), 100, "won".to_owned()),
            ("Lost".to_owned(), 0, "lost".to_owned()),
        ]
    );
    assert_eq!(
        value(&show(&vault, "deal", deal), "stage_id"),
        serde_json::json!(lead)
    );
    let bad = owner(
        &vault,
        &["pipeline", "set-stages", "Won:100:won, Lost:0:lost"],
    );
    bad.failure();
    assert!(bad.stderr.contains("open stage"), "{}", bad.stderr);
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    vault
        .crm_as("sam", "sam-password-1", &["pipeline", "add-stage", "Mine"])
        .failure();
}

#[test]
fn custom_fields_are_added_filtered_sorted_edited_and_deleted() {
    let vault = TestVault::new();
    owner(
        &vault,
        &[
            "field", "add", "company", "tier", "--label", "Tier", "--kind", "choice", "--choice",
            "gold", "--choice", "silver",
        ],
    )
    .success();
    owner(
        &vault,
        &[
            "field", "add", "company", "seats", "--label", "Seats", "--kind", "number",
        ],
    )
    .success();
    let mut ids = Vec::new();
    for (name, tier, seats) in [
        ("Acme", "gold", "120"),
        ("Bolt", "silver", "9"),
        ("Cask", "gold", "15"),
    ] {
        ids.push(add(
            &vault,
            "company",
            &[
                &format!("name={name}"),
                &format!("tier={tier}"),
                &format!("seats={seats}"),
            ],
        ));
    }
    assert_eq!(
        list_ids(
            &vault,
            OLIVIA,
            &["company", "list", "--where", "tier=Gold", "--sort", "name"]
        ),
        [ids[0], ids[2]]
    );
    assert_eq!(
        list_ids(&vault, OLIVIA, &["company", "list", "--sort", "seats"]),
        [ids[1], ids[2], ids[0]],
        "numbers sort by value, not as text"
    );
    owner(
        &vault,
        &[
            "field",
            "edit",
            "company",
            "tier",
            "--label",
            "Partner tier",
            "--choice",
            "Gold",
            "--choice",
            "Silver",
            "--choice",
            "Bronze",
        ],
    )
    .success();
    let fields = owner(&vault, &["field", "list", "company", "--json"]);
    let tier = fields
        .json()
        .as_array()
        .expect("fields")
        .iter()
        .find(|field| field["name"] == "tier")
        .cloned()
        .expect("tier");
    assert_eq!(tier["label"], "Partner tier");
    assert_eq!(value(&show(&vault, "company", ids[0]), "tier"), "Gold");
    let refused = owner(
        &vault,
        &["field", "edit", "company", "tier", "--choice", "Bronze"],
    );
    refused.failure();
    assert!(refused.stderr.contains("still hold"), "{}", refused.stderr);
    owner(
        &vault,
        &["field", "edit", "company", "seats", "--financial"],
    )
    .success();
    let run = owner(&vault, &["field", "delete", "company", "seats", "--json"]);
    run.success();
    assert_eq!(run.json()["values_deleted"], 3);
    assert!(
        !show(&vault, "company", ids[0])
            .to_string()
            .contains("seats")
    );
    let audit = owner(&vault, &["audit", "list", "--target", "field", "--json"]);
    assert!(audit.stdout.contains("company.seats"), "{}", audit.stdout);
}

#[test]
fn tags_are_removed_listed_and_searched() {
    let vault = TestVault::new();
    let (company, contact) = seed(&vault);
    owner(
        &vault,
        &["contact", "tag", &contact.to_string(), "optics", "vip"],
    )
    .success();
    owner(&vault, &["company", "tag", &company.to_string(), "optics"]).success();
    let hits = search_ids(&vault, "olivia", OWNER_PASSWORD, "optic");
    assert!(hits.contains(&("contact".to_owned(), contact)), "{hits:?}");
    let run = owner(&vault, &["contact", "tags", "--json"]);
    let names: Vec<String> = run
        .json()
        .as_array()
        .expect("tags")
        .iter()
        .map(|tag| tag["name"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(names, ["optics", "vip"]);
    owner(&vault, &["contact", "untag", &contact.to_string(), "vip"]).success();
    assert!(list_ids(&vault, OLIVIA, &["contact", "list", "--tag", "vip"]).is_empty());
    let missing = owner(&vault, &["contact", "untag", &contact.to_string(), "vip"]);
    missing.failure();
    assert!(missing.stderr.contains("not found"), "{}", missing.stderr);
    let shown = owner(&vault, &["contact", "show", &contact.to_string()]);
    assert!(shown.stdout.contains("tags: optics"), "{}", shown.stdout);
}

#[test]
fn a_record_shows_its_owner_team_and_who_created_and_changed_it() {
    let vault = TestVault::new();
    let (_, contact) = seed(&vault);
    vault.add_user("mia", "Sales Manager", "mia-password-1");
    vault.add_user("sam", "Sales Representative", "sam-password-1");
    owner(&vault, &["user", "set-team", "mia", "north"]).success();
    owner(&vault, &["user", "set-team", "sam", "north"]).success();
    let id = contact.to_string();
    owner(&vault, &["contact", "set-owner", &id, "sam"]).success();
    let record = show(&vault, "contact", contact);
    assert_eq!(record["owner"], "sam");
    assert_eq!(
        record["team"], "north",
        "the record follows its new owner's team"
    );
    assert_eq!(record["created_by"], "olivia");
    let mia = ("mia", "mia-password-1");
    vault
        .crm_as(
            mia.0,
            mia.1,
            &["contact", "edit", &id, "--set", "job_title=Buyer"],
        )
        .success();
    let run = vault.crm_as(mia.0, mia.1, &["contact", "show", &id]);
    run.success();
    assert!(run.stdout.contains("team: north"), "{}", run.stdout);
    assert!(
        run.stdout.contains("by olivia") && run.stdout.contains("by mia"),
        "{}",
        run.stdout
    );
    // A manager takes the record out of the team; a representative cannot move records.
    vault
        .crm_as(mia.0, mia.1, &["contact", "set-team", &id, "--none"])
        .success();
    assert_eq!(
        show(&vault, "contact", contact)["team"],
        serde_json::Value::Null
    );
    let refused = vault.crm_as(
        "sam",
        "sam-password-1",
        &["contact", "set-team", &id, "north"],
    );
    refused.failure();
    assert!(
        refused.stderr.contains("not permitted"),
        "{}",
        refused.stderr
    );
    owner(&vault, &["contact", "set-team", &id, "nowhere"]).failure();
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
    // Only Highly Confidential values are revealed; the refusal names the field, not its value.
    let below = owner(
        &vault,
        &[
            "reveal",
            "contact",
            &id,
            "birthday",
            "--reason",
            "card for her birthday",
        ],
    );
    below.failure();
    assert!(
        below.stderr.contains("only Highly Confidential"),
        "{}",
        below.stderr
    );
    assert!(!below.stderr.contains("1984"), "{}", below.stderr);
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
