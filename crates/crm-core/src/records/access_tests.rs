//! Access control as properties: for random roles, random field classifications and data
//! owned by different people, no read path (show, list, search, filters, errors) returns a value
//! above the reader's clearance or outside their scope — checked on the serialised output,
//! byte for byte. Plus named tests of the role templates and of a policy change reaching an
//! open session.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rusqlite::params;

use super::export::ExportFormat;
use super::fields::{Entity, Kind, Level};
use super::{ListQuery, effective_fields, search};
use crate::error::{Error, Result};
use crate::keyslot::{Credentials, KdfStrength};
use crate::policy::{Action, Right, RoleDef, Scope};
use crate::secret::Password;
use crate::vault::{NewUser, NewVault, Session, Vault};

const PASSWORD: &str = "test-password-1";
const READABLE: [Entity; 5] = Entity::ALL;

struct Fixture {
    _dir: tempfile::TempDir,
    owner: Session,
    probe: Session,
    /// (entity, id) → (owner user id, field → display value) for every record.
    records: BTreeMap<(Entity, i64), (i64, BTreeMap<String, String>)>,
}

fn login(dir: &std::path::Path, user: &str) -> Result<Session> {
    Vault::open(dir)?.unlock(&Credentials {
        user: user.into(),
        password: Password::new(PASSWORD),
        key_file: None,
    })
}

/// A unique marker value for a field of a record, shaped to pass the field's validation.
fn marker(entity: Entity, id: i64, field: &str, kind: Kind) -> Option<String> {
    let token = format!("mk{}{}{}q", entity.name(), id, field.replace('_', ""));
    Some(match kind {
        Kind::Text | Kind::LongText => token,
        Kind::Emails => format!("{token}@x{id}.example"),
        Kind::Phones => format!("+9 {:03} {:04} {:02}", 100 + id, 1000 + id * 7, field.len()),
        _ => return None,
    })
}

fn fixture() -> Result<Fixture> {
    let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
    let created = Vault::create(
        dir.path(),
        NewVault {
            owner: "olivia".into(),
            password: Password::new(PASSWORD),
            key_file: None,
            kdf: KdfStrength::Floor,
        },
    )?;
    let mut owner = created.session;
    owner.set_kdf_strength(KdfStrength::Floor);
    for (name, role) in [("probe", "Auditor"), ("other", "Sales Representative")] {
        owner.add_user(NewUser {
            name: name.into(),
            role: role.into(),
            password: Password::new(PASSWORD),
            key_file: None,
        })?;
    }
    owner.set_user_team("probe", Some("north"))?;
    owner.set_user_team("other", Some("north"))?;
    let users: Vec<(i64, Option<i64>)> = owner
        .store()
        .conn()
        .prepare("SELECT id, team_id FROM users ORDER BY id")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut records = BTreeMap::new();
    owner.write(|tx, _| {
        for entity in READABLE {
            let fields = effective_fields(tx, entity)?;
            for index in 0..6i64 {
                let id = index + 1;
                let (owner_id, team_id) = users[index as usize % users.len()];
                let mut values = BTreeMap::new();
                let mut columns = vec![
                    "id".to_owned(),
                    "owner_id".into(),
                    "team_id".into(),
                    "created_at".into(),
                    "updated_at".into(),
                ];
                let mut sql_values: Vec<rusqlite::types::Value> = vec![
                    id.into(),
                    owner_id.into(),
                    team_id.into(),
                    "2026-01-01T00:00:00Z".to_owned().into(),
                    "2026-01-01T00:00:00Z".to_owned().into(),
                ];
                for field in &fields {
                    let stored = match field.kind {
                        Kind::Choice => field.choices.first().cloned(),
                        _ => marker(entity, id, &field.name, field.kind),
                    };
                    let Some(display) = stored else { continue };
                    let sql = match field.kind {
                        Kind::Emails | Kind::Phones => serde_json::json!([display]).to_string(),
                        _ => display.clone(),
                    };
                    columns.push(field.name.clone());
                    sql_values.push(sql.into());
                    if field.kind != Kind::Choice {
                        values.insert(field.name.clone(), display);
                    }
                }
                tx.execute(
                    &format!(
                        "INSERT INTO {} ({}) VALUES ({})",
                        entity.table(),
                        columns.join(", "),
                        vec!["?"; columns.len()].join(", ")
                    ),
                    rusqlite::params_from_iter(sql_values),
                )?;
                tx.execute(
                    "INSERT OR IGNORE INTO tags (name) VALUES (?1)",
                    [format!("tg{}{id}q", entity.name())],
                )?;
                records.insert((entity, id), (owner_id, values));
            }
            search::reindex_all(tx, entity, &mut |_| {})?;
        }
        Ok(())
    })?;
    let probe = login(dir.path(), "probe")?;
    Ok(Fixture {
        _dir: dir,
        owner,
        probe,
        records,
    })
}

fn level_strategy() -> impl Strategy<Value = Level> {
    prop_oneof![
        Just(Level::Public),
        Just(Level::Internal),
        Just(Level::Confidential),
        Just(Level::HighlyConfidential)
    ]
}

fn scope_strategy() -> impl Strategy<Value = Scope> {
    prop_oneof![
        Just(Scope::None),
        Just(Scope::Own),
        Just(Scope::Team),
        Just(Scope::All)
    ]
}

fn role_strategy() -> impl Strategy<Value = RoleDef> {
    (
        level_strategy(),
        level_strategy(),
        proptest::collection::vec((scope_strategy(), scope_strategy()), READABLE.len()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(clearance, others, scopes, financial, reveal)| {
            let mut grants = BTreeMap::new();
            for (entity, (view, export)) in READABLE.iter().zip(scopes) {
                grants.insert(
                    *entity,
                    BTreeMap::from([(Action::View, view), (Action::Export, export)]),
                );
            }
            let mut rights = BTreeSet::new();
            if financial {
                rights.insert(Right::ViewFinancial);
            }
            if reveal {
                rights.insert(Right::Reveal);
            }
            RoleDef {
                name: "Probe".into(),
                description: "random".into(),
                clearance,
                others_clearance: others.min(clearance),
                grants,
                rights,
                builtin: false,
            }
        })
}

/// Random reclassification of every searchable or sensitive built-in text field.
fn classification_strategy() -> impl Strategy<Value = Vec<(Entity, &'static str, Level)>> {
    let targets: Vec<(Entity, &'static str)> = READABLE
        .iter()
        .flat_map(|entity| {
            entity
                .fields()
                .iter()
                .filter(|def| {
                    matches!(
                        def.kind,
                        Kind::Text | Kind::LongText | Kind::Emails | Kind::Phones
                    )
                })
                .map(move |def| (*entity, def.name))
        })
        .collect();
    proptest::collection::vec(level_strategy(), targets.len()).prop_map(move |levels| {
        targets
            .iter()
            .zip(levels)
            .map(|((entity, field), level)| (*entity, *field, level))
            .collect()
    })
}

fn in_scope(scope: Scope, record_owner: i64, me: i64, same_team: bool) -> bool {
    match scope {
        Scope::None => false,
        Scope::Own => record_owner == me,
        Scope::Team => record_owner == me || same_team,
        Scope::All => true,
    }
}

/// Every value that `role` must not receive, with why.
fn forbidden_values(fixture: &Fixture, role: &RoleDef) -> Result<Vec<(String, String)>> {
    let me = fixture.probe.user().id;
    let conn = fixture.owner.store().conn();
    let team_of = |user: i64| -> Result<Option<i64>> {
        Ok(
            conn.query_row("SELECT team_id FROM users WHERE id = ?1", [user], |row| {
                row.get(0)
            })?,
        )
    };
    let my_team = team_of(me)?;
    let mut forbidden = Vec::new();
    for ((entity, id), (owner_id, values)) in &fixture.records {
        let fields = effective_fields(conn, *entity)?;
        let same_team = my_team.is_some() && team_of(*owner_id)? == my_team;
        let visible_record = in_scope(role.scope(*entity, Action::View), *owner_id, me, same_team);
        // The rule restated independently of the code under test.
        let allowed = if *owner_id == me {
            role.clearance
        } else {
            role.others_clearance.min(role.clearance)
        };
        for (name, value) in values {
            let Some(field) = fields.iter().find(|field| field.name == *name) else {
                continue;
            };
            let financial_ok = !field.financial || role.rights.contains(&Right::ViewFinancial);
            let visible = visible_record && field.level <= allowed && financial_ok;
            if !visible {
                forbidden.push((
                    value.clone(),
                    format!(
                        "{}:{id}.{name} ({:?}, record visible: {visible_record})",
                        entity.name(),
                        field.level
                    ),
                ));
            }
        }
    }
    Ok(forbidden)
}

fn assert_clean(
    output: &str,
    forbidden: &[(String, String)],
    path: &str,
) -> std::result::Result<(), TestCaseError> {
    for (value, why) in forbidden {
        if output.contains(value.as_str()) {
            return Err(TestCaseError::fail(format!("{path} leaked {why}: {value}")));
        }
    }
    Ok(())
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[test]
fn no_read_path_returns_a_value_above_clearance_or_outside_scope() -> Result<()> {
    let mut fixture = fixture()?;
    // The probe role starts empty; each case redefines it, which open sessions see at once.
    fixture.owner.save_role(&RoleDef::nothing("Probe"), true)?;
    fixture.owner.set_user_role("probe", "Probe")?;
    let mut runner = TestRunner::new(Config {
        cases: 40,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (role_strategy(), classification_strategy());
    let cell = std::cell::RefCell::new(&mut fixture);
    let outcome = runner.run(&strategy, |(role, classification)| {
        let mut guard = cell.borrow_mut();
        let fixture: &mut Fixture = &mut guard;
        let setup = (|| -> Result<()> {
            for (entity, field, level) in &classification {
                fixture
                    .owner
                    .classify(*entity, field, *level, &mut |_| {})?;
            }
            fixture.owner.save_role(&role, false)
        })();
        setup.map_err(|error| TestCaseError::fail(format!("setup: {error}")))?;
        let forbidden =
            forbidden_values(fixture, &role).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for entity in READABLE {
            // list
            match fixture.probe.list(
                entity,
                &ListQuery {
                    page_size: Some(500),
                    ..ListQuery::default()
                },
            ) {
                Ok(page) => assert_clean(&json(&page), &forbidden, "list")?,
                Err(error) => assert_clean(&error.to_string(), &forbidden, "list error")?,
            }
            // export in every format the entity has
            for format in [ExportFormat::Csv, ExportFormat::Json, ExportFormat::Vcard] {
                if format == ExportFormat::Vcard && entity != Entity::Contact {
                    continue;
                }
                let mut bytes = Vec::new();
                match fixture
                    .probe
                    .export(entity, format, &mut bytes, &mut |_| {})
                {
                    Ok(_) => assert_clean(&String::from_utf8_lossy(&bytes), &forbidden, "export")?,
                    Err(error) => assert_clean(&error.to_string(), &forbidden, "export error")?,
                }
            }
            // show, including records out of scope (must be "not found", naming nothing)
            for id in 1..=6 {
                match fixture.probe.show(entity, id) {
                    Ok(record) => assert_clean(&json(&record), &forbidden, "show")?,
                    Err(error) => assert_clean(&error.to_string(), &forbidden, "show error")?,
                }
            }
            // filters and sorts on every field: refused or clean, never an oracle
            for field in entity.fields() {
                if let Some(value) = marker(entity, 1, field.name, field.kind) {
                    let query = ListQuery {
                        filters: vec![(field.name.into(), value)],
                        ..ListQuery::default()
                    };
                    if let Ok(page) = fixture.probe.list(entity, &query) {
                        assert_clean(&json(&page), &forbidden, "filter")?;
                        let hidden = forbidden.iter().any(|(value, _)| {
                            Some(value) == marker(entity, 1, field.name, field.kind).as_ref()
                        });
                        if hidden {
                            prop_assert!(
                                page.records.iter().all(|record| record.id != 1),
                                "filter on a hidden {}.{} matched",
                                entity.name(),
                                field.name
                            );
                        }
                    }
                }
            }
        }
        // search: every hidden value finds nothing through itself
        for (value, why) in &forbidden {
            let hits = fixture
                .probe
                .search(value, 50)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            assert_clean(&json(&hits), &forbidden, "search")?;
            let _ = why;
            for hit in &hits {
                let own_values = &fixture.records[&(hit.entity, hit.id)].1;
                let matched_hidden = own_values.values().any(|v| v == value);
                prop_assert!(
                    !matched_hidden,
                    "search for a hidden value found its record: {why}"
                );
            }
        }
        Ok(())
    });
    outcome.map_err(|error| Error::Invalid(error.to_string()))
}

fn template_session(fixture: &mut Fixture, template: &str) -> Result<()> {
    fixture.owner.set_user_role("probe", template)
}

#[test]
fn sales_rep_template_sees_own_confidential_fields_and_nothing_of_others() -> Result<()> {
    let mut fixture = fixture()?;
    template_session(&mut fixture, "Sales Representative")?;
    let me = fixture.probe.user().id;
    let page = fixture.probe.list(Entity::Contact, &ListQuery::default())?;
    assert!(!page.records.is_empty());
    for record in &page.records {
        assert_eq!(
            fixture.records[&(Entity::Contact, record.id)].0,
            me,
            "only own contacts"
        );
        assert!(record.value("emails").is_some(), "own emails visible");
        assert!(record.value("bank_account").is_none(), "no financial field");
        assert!(
            !record
                .fields
                .iter()
                .any(|field| field.name == "bank_account"),
            "not even masked"
        );
    }
    assert!(matches!(
        fixture.probe.list(
            Entity::Contact,
            &ListQuery {
                filters: vec![("bank_account".into(), "x".into())],
                ..ListQuery::default()
            }
        ),
        Err(Error::Forbidden(_))
    ));
    Ok(())
}

#[test]
fn auditor_template_reads_no_customer_record() -> Result<()> {
    let mut fixture = fixture()?;
    template_session(&mut fixture, "Auditor")?;
    for entity in READABLE {
        assert!(matches!(
            fixture.probe.list(entity, &ListQuery::default()),
            Err(Error::Forbidden(_))
        ));
    }
    assert!(fixture.probe.search("mk", 10)?.is_empty());
    Ok(())
}

#[test]
fn marketing_template_sees_contacts_but_no_deals_or_financial_data() -> Result<()> {
    let mut fixture = fixture()?;
    template_session(&mut fixture, "Marketing")?;
    let page = fixture.probe.list(
        Entity::Contact,
        &ListQuery {
            page_size: Some(100),
            ..ListQuery::default()
        },
    )?;
    assert_eq!(page.records.len(), 6);
    assert!(
        page.records.iter().all(
            |record| record.value("emails").is_some() && record.value("bank_account").is_none()
        )
    );
    assert!(matches!(
        fixture.probe.list(Entity::Deal, &ListQuery::default()),
        Err(Error::Forbidden(_))
    ));
    Ok(())
}

#[test]
fn support_template_reads_contacts_and_cannot_edit_others() -> Result<()> {
    let mut fixture = fixture()?;
    template_session(&mut fixture, "Support")?;
    let others: Vec<i64> = fixture
        .records
        .iter()
        .filter(|((entity, _), (owner, _))| {
            *entity == Entity::Contact && *owner != fixture.probe.user().id
        })
        .map(|((_, id), _)| *id)
        .collect();
    let mut input = super::RecordInput::new();
    input.insert("job_title".into(), "Changed".into());
    assert!(matches!(
        fixture.probe.update(Entity::Contact, others[0], &input),
        Err(Error::NotFound(_))
    ));
    assert!(fixture.probe.show(Entity::Contact, others[0]).is_ok());
    Ok(())
}

#[test]
fn sales_manager_and_administrator_see_confidential_but_reveal_needs_the_owner() -> Result<()> {
    let mut fixture = fixture()?;
    fixture.owner.classify(
        Entity::Company,
        "tax_id",
        Level::HighlyConfidential,
        &mut |_| {},
    )?;
    for template in ["Sales Manager", "Administrator"] {
        template_session(&mut fixture, template)?;
        let page = fixture.probe.list(Entity::Company, &ListQuery::default())?;
        for record in &page.records {
            assert!(
                record.value("tax_id").is_none(),
                "{template}: Highly Confidential hidden"
            );
        }
        assert!(matches!(
            fixture
                .probe
                .reveal(Entity::Company, 1, "tax_id", "checking an invoice"),
            Err(Error::Forbidden(_))
        ));
    }
    let value = fixture
        .owner
        .reveal(Entity::Company, 1, "tax_id", "checking an invoice")?;
    assert_eq!(
        Some(&value),
        fixture.records[&(Entity::Company, 1)].1.get("tax_id")
    );
    assert!(
        matches!(
            fixture.owner.reveal(Entity::Company, 1, "tax_id", "x"),
            Err(Error::Invalid(_))
        ),
        "a reason is required"
    );
    Ok(())
}

#[test]
fn a_policy_change_applies_to_a_session_already_open() -> Result<()> {
    let mut fixture = fixture()?;
    template_session(&mut fixture, "Sales Representative")?;
    let before = fixture
        .probe
        .list(Entity::Contact, &ListQuery::default())?
        .records
        .len();
    let mut rep = crate::policy::templates()
        .into_iter()
        .find(|role| role.name == "Sales Representative")
        .ok_or(Error::NotFound("template".into()))?;
    rep.grants
        .entry(Entity::Contact)
        .or_default()
        .insert(Action::View, Scope::All);
    fixture.owner.save_role(&rep, false)?;
    let after = fixture.probe.list(
        Entity::Contact,
        &ListQuery {
            page_size: Some(100),
            ..ListQuery::default()
        },
    )?;
    assert!(
        after.records.len() > before,
        "the open session sees the wider scope at once"
    );
    // Others' contacts come with Internal fields only: emails masked, never in clear.
    for record in after.records.iter().filter(|record| !record.mine) {
        assert!(record.value("emails").is_none());
        assert!(
            record
                .fields
                .iter()
                .any(|field| field.name == "emails" && field.masked.is_some())
        );
    }
    rep.grants
        .entry(Entity::Contact)
        .or_default()
        .insert(Action::View, Scope::None);
    fixture.owner.save_role(&rep, false)?;
    assert!(matches!(
        fixture.probe.list(Entity::Contact, &ListQuery::default()),
        Err(Error::Forbidden(_))
    ));
    Ok(())
}

#[test]
fn no_one_grants_what_they_do_not_hold_and_the_last_owner_stays() -> Result<()> {
    let mut fixture = fixture()?;
    template_session(&mut fixture, "Administrator")?;
    let mut greedy = RoleDef::nothing("Greedy");
    greedy.rights.insert(Right::Reveal);
    assert!(matches!(
        fixture.probe.save_role(&greedy, true),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        fixture.probe.set_user_role("other", "Owner"),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        fixture.owner.set_user_role("olivia", "Administrator"),
        Err(Error::Invalid(_))
    ));
    let conn = fixture.owner.store().conn();
    let count: i64 = conn.query_row("SELECT count(*) FROM roles", [], |row| row.get(0))?;
    assert!(count >= 7);
    let _ = params![1];
    Ok(())
}
