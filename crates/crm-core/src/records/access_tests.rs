//! Access control as properties, then each role template by name.
//!
//! The property test draws, per case, a random role (clearances, a scope for every entity ×
//! action, the view-financial and reveal rights), a random classification of every field
//! (built-in and custom, custom fields also randomly financial) and a random customer base
//! (values of every type, owners and teams, links, tags). It then walks every read path as
//! that role — list, show, export in every format, filters and sorts on every field, tag and
//! activity filters, activity and note feeds of every record, search, the dashboard — and the
//! error paths of reveal, update and delete, and checks against the rules restated here,
//! independently of the code under test:
//!
//! - no value above the reader's clearance on that record, outside their view scope, or
//!   financial without the right appears in any serialised output or error message, byte for
//!   byte (distinctive values: text, emails, phones, dates, times, amounts, tags);
//! - every returned record is in scope and carries values only for fields it may show (all
//!   types, including flags, numbers and references, checked on the view itself);
//! - filtering or sorting is refused exactly when the field is hidden at the filter level;
//! - a reveal succeeds exactly for an in-scope Highly Confidential field with the right;
//! - dashboard totals equal a recount of what the reader may see.
//!
//! The named tests below check the template defaults of issue 4 one by one.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::export::ExportFormat;
use super::fields::{Entity, Kind, Level};
use super::{Dependents, EffectiveField, ListQuery, RecordInput, effective_fields, search};
use crate::error::{Error, Result};
use crate::policy::{Action, Right, RoleDef, Scope};
use crate::test_support::{add_user, login, owner_vault};
use crate::vault::Session;

/// Records per entity in a random customer base.
const RECORDS: i64 = 4;
/// The user names; `probe` is the reader whose role is drawn.
const USERS: [&str; 4] = ["olivia", "probe", "mate", "stranger"];
const TEAMS: [&str; 2] = ["north", "south"];
/// The Monday-to-Sunday week the dashboard is asked about; activities fall in and around it.
const TODAY: (i32, u32, u32) = (2027, 3, 3);

/// One custom field per entity, of varied types; levels and the financial mark are drawn.
const CUSTOM: [(Entity, &str, Kind); 5] = [
    (Entity::Company, "formula", Kind::Text),
    (Entity::Contact, "shoe_size", Kind::Number),
    (Entity::Deal, "margin", Kind::Money),
    (Entity::Activity, "venue", Kind::Text),
    (Entity::Note, "mood", Kind::Choice),
];
const MOODS: [&str; 3] = ["calm", "tense", "upbeat"];

type CaseResult = std::result::Result<(), TestCaseError>;

fn fail(message: impl Into<String>) -> TestCaseError {
    TestCaseError::fail(message.into())
}

fn fail_on(error: Error) -> TestCaseError {
    fail(format!("unexpected error: {error}"))
}

// ---------------------------------------------------------------------------------------------
// The vault shared by every case
// ---------------------------------------------------------------------------------------------

struct Vault {
    _dir: tempfile::TempDir,
    owner: Session,
    probe: Session,
    /// User ids in [`USERS`] order, team ids in [`TEAMS`] order.
    user_ids: Vec<i64>,
    team_ids: Vec<i64>,
    /// Team of each user (index into `team_ids`).
    user_teams: Vec<Option<usize>>,
}

fn vault() -> Result<Vault> {
    let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
    let mut owner = owner_vault(dir.path())?;
    for user in &USERS[1..] {
        add_user(&mut owner, user, "Auditor")?;
    }
    let user_teams = vec![None, Some(0), Some(0), Some(1)];
    for (user, team) in USERS.iter().zip(&user_teams) {
        owner.set_user_team(user, team.map(|team| TEAMS[team]))?;
    }
    for (entity, name, kind) in CUSTOM {
        let spec = super::custom_fields::CustomFieldSpec {
            name: name.into(),
            label: name.replace('_', " "),
            kind,
            choices: if kind == Kind::Choice {
                MOODS.iter().map(|mood| (*mood).to_owned()).collect()
            } else {
                Vec::new()
            },
            level: Level::Internal,
            financial: false,
        };
        owner.add_custom_field(entity, &spec)?;
    }
    owner.save_role(&RoleDef::nothing("Probe"), true)?;
    owner.set_user_role("probe", "Probe")?;
    let conn = owner.store().conn();
    let id_of = |table: &str, name: &str| -> Result<i64> {
        Ok(conn.query_row(
            &format!("SELECT id FROM {table} WHERE name = ?1"),
            [name],
            |row| row.get(0),
        )?)
    };
    let user_ids = USERS
        .iter()
        .map(|user| id_of("users", user))
        .collect::<Result<Vec<_>>>()?;
    let team_ids = TEAMS
        .iter()
        .map(|team| id_of("teams", team))
        .collect::<Result<Vec<_>>>()?;
    let probe = login(dir.path(), "probe")?;
    Ok(Vault {
        _dir: dir,
        owner,
        probe,
        user_ids,
        team_ids,
        user_teams,
    })
}

/// Every field of every entity as the vault defines them before classification.
fn all_fields(session: &Session) -> Result<BTreeMap<Entity, Vec<EffectiveField>>> {
    Entity::ALL
        .into_iter()
        .map(|entity| Ok((entity, effective_fields(session.store().conn(), entity)?)))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn level_strategy() -> impl Strategy<Value = Level> {
    prop::sample::select(Level::ALL.to_vec())
}

fn scope_strategy() -> impl Strategy<Value = Scope> {
    prop::sample::select(vec![Scope::None, Scope::Own, Scope::Team, Scope::All])
}

/// A role with random clearances, a random scope for every entity × action, and random
/// view-financial and reveal rights.
fn role_strategy() -> impl Strategy<Value = RoleDef> {
    (
        level_strategy(),
        level_strategy(),
        prop::collection::vec(scope_strategy(), Entity::ALL.len() * Action::ALL.len()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(clearance, others, scopes, financial, reveal)| {
            let mut grants: BTreeMap<Entity, BTreeMap<Action, Scope>> = BTreeMap::new();
            let mut scopes = scopes.into_iter();
            for entity in Entity::ALL {
                for action in Action::ALL {
                    let scope = scopes.next().unwrap_or(Scope::None);
                    grants.entry(entity).or_default().insert(action, scope);
                }
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

/// A level for every field (built-in and custom), and a financial mark for custom fields.
type Classification = BTreeMap<(Entity, String), (Level, bool)>;

fn classification_strategy(
    fields: &BTreeMap<Entity, Vec<EffectiveField>>,
) -> BoxedStrategy<Classification> {
    let targets: Vec<(Entity, String, bool)> = fields
        .iter()
        .flat_map(|(entity, list)| {
            list.iter()
                .map(move |field| (*entity, field.name.clone(), field.custom_id.is_some()))
        })
        .collect();
    prop::collection::vec((level_strategy(), any::<bool>()), targets.len())
        .prop_map(move |drawn| {
            targets
                .iter()
                .zip(drawn)
                .map(|((entity, name, custom), (level, financial))| {
                    ((*entity, name.clone()), (level, *custom && financial))
                })
                .collect()
        })
        .boxed()
}

/// A word of 7 to 11 letters, some of them accented: long enough not to occur by chance in
/// the rest of an output.
fn word() -> impl Strategy<Value = String> {
    "[A-Za-zÄÖÜäöüßéèñ][a-zäöüßéèñ]{6,10}"
}

fn text_value() -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 1..=2).prop_map(|words| words.join(" "))
}

fn email() -> impl Strategy<Value = String> {
    "[a-z]{5,9}\\.[a-z]{3,7}@[a-z]{4,8}\\.(com|example|org)"
}

fn phone() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\+[1-9][0-9]{1,2} [0-9]{3} [0-9]{3,4} [0-9]{2,4}",
        "0[1-9][0-9]{2}-[0-9]{6,7}",
        "\\([0-9]{3}\\) [0-9]{3}-[0-9]{4}",
    ]
}

/// Text input for a field of `kind`, shaped to pass its validation.
fn value_strategy(kind: Kind, choices: &[String]) -> BoxedStrategy<String> {
    match kind {
        Kind::Text | Kind::LongText => text_value().boxed(),
        Kind::Emails => prop::collection::vec(email(), 1..=2)
            .prop_map(|list| list.join(", "))
            .boxed(),
        Kind::Phones => prop::collection::vec(phone(), 1..=2)
            .prop_map(|list| list.join(", "))
            .boxed(),
        Kind::Date => (1930..2010i32, 1..=12u32, 1..=28u32)
            .prop_map(|(year, month, day)| format!("{year}-{month:02}-{day:02}"))
            .boxed(),
        Kind::DateTime => (1..=9u32, 0..24u32, 0..60u32)
            .prop_map(|(day, hour, minute)| format!("2027-03-{day:02} {hour:02}:{minute:02}"))
            .boxed(),
        Kind::Integer => (0..=100i64).prop_map(|n| n.to_string()).boxed(),
        Kind::Number => (0..100_000i64, 0..10i64)
            .prop_map(|(whole, tenth)| format!("{whole}.{tenth}"))
            .boxed(),
        Kind::Money => (10_000_000..99_999_999i64)
            .prop_map(super::format_money)
            .boxed(),
        Kind::Bool => any::<bool>().prop_map(|flag| flag.to_string()).boxed(),
        Kind::Choice => prop::sample::select(choices.to_vec()).boxed(),
        Kind::CompanyRef | Kind::ContactRef | Kind::DealRef => {
            (1..=RECORDS).prop_map(|id| id.to_string()).boxed()
        }
        Kind::StageRef => (1..=6i64).prop_map(|id| id.to_string()).boxed(),
    }
}

/// One record as drawn: owner and team (indexes), tags, and a text input per field.
#[derive(Debug, Clone)]
struct DrawnRecord {
    owner: usize,
    team: Option<usize>,
    tags: Vec<String>,
    values: Vec<Option<String>>,
}

/// A customer base: [`RECORDS`] records of every entity.
type Drawn = BTreeMap<Entity, Vec<DrawnRecord>>;

fn data_strategy(fields: &BTreeMap<Entity, Vec<EffectiveField>>) -> BoxedStrategy<Drawn> {
    let mut per_entity: Vec<BoxedStrategy<(Entity, Vec<DrawnRecord>)>> = Vec::new();
    for (entity, list) in fields {
        let entity = *entity;
        let values: Vec<BoxedStrategy<Option<String>>> = list
            .iter()
            .map(|field| {
                let value = value_strategy(field.kind, &field.choices);
                if field.required {
                    value.prop_map(Some).boxed()
                } else {
                    prop::option::weighted(0.8, value).boxed()
                }
            })
            .collect();
        let record = (
            0..USERS.len(),
            prop::option::of(0..TEAMS.len()),
            prop::collection::vec("[a-z]{4,6}-[a-z]{4,6}", 0..=2),
            values,
        )
            .prop_map(|(owner, team, tags, values)| DrawnRecord {
                owner,
                team,
                tags,
                values,
            });
        per_entity.push(
            prop::collection::vec(record, RECORDS as usize)
                .prop_map(move |records| (entity, records))
                .boxed(),
        );
    }
    per_entity
        .prop_map(|entities| entities.into_iter().collect())
        .boxed()
}

// ---------------------------------------------------------------------------------------------
// Writing a case into the vault, and the model of what the reader may see
// ---------------------------------------------------------------------------------------------

/// A record as stored: owner and team ids, tags, and each field's display text.
#[derive(Debug, Clone)]
struct Row {
    owner: i64,
    team: Option<i64>,
    tags: Vec<String>,
    values: BTreeMap<String, String>,
    /// References by field name (company_id, …) → id.
    links: BTreeMap<String, i64>,
}

type Rows = BTreeMap<(Entity, i64), Row>;

/// Replaces the customer base and the classification in one transaction.
fn write_case(
    vault: &mut Vault,
    classification: &Classification,
    drawn: &Drawn,
) -> Result<(BTreeMap<Entity, Vec<EffectiveField>>, Rows)> {
    let user_ids = vault.user_ids.clone();
    let team_ids = vault.team_ids.clone();
    vault.owner.write(|tx, _| {
        for table in [
            "notes",
            "activities",
            "deals",
            "contacts",
            "companies",
            "custom_values",
            "record_tags",
            "tags",
            "field_levels",
        ] {
            tx.execute(&format!("DELETE FROM {table}"), [])?;
        }
        for ((entity, name), (level, financial)) in classification {
            let custom = tx.execute(
                "UPDATE custom_fields SET level = ?1, financial = ?2 WHERE entity = ?3 AND name = ?4",
                rusqlite::params![level.as_u8(), financial, entity.name(), name],
            )?;
            if custom == 0 {
                tx.execute(
                    "INSERT INTO field_levels (entity, field, level) VALUES (?1, ?2, ?3)",
                    rusqlite::params![entity.name(), name, level.as_u8()],
                )?;
            }
        }
        let mut fields = BTreeMap::new();
        let mut rows = Rows::new();
        for (entity, records) in drawn {
            let list = effective_fields(tx, *entity)?;
            for (index, record) in records.iter().enumerate() {
                let id = index as i64 + 1;
                let owner = user_ids[record.owner];
                let team = record.team.map(|team| team_ids[team]);
                let mut columns = vec![
                    "id",
                    "owner_id",
                    "team_id",
                    "created_at",
                    "created_by",
                    "updated_at",
                    "updated_by",
                ];
                let mut values: Vec<rusqlite::types::Value> = vec![
                    id.into(),
                    owner.into(),
                    team.into(),
                    "2026-01-01T00:00:00+00:00".to_owned().into(),
                    owner.into(),
                    "2026-01-01T00:00:00+00:00".to_owned().into(),
                    owner.into(),
                ];
                let mut row = Row {
                    owner,
                    team,
                    tags: record.tags.clone(),
                    values: BTreeMap::new(),
                    links: BTreeMap::new(),
                };
                let mut custom = Vec::new();
                for (field, input) in list.iter().zip(&record.values) {
                    let Some(input) = input else { continue };
                    let stored = super::parse_value(field, &serde_json::json!(input))?;
                    let Some(text) = stored.text.clone() else {
                        continue;
                    };
                    if matches!(
                        field.kind,
                        Kind::CompanyRef | Kind::ContactRef | Kind::DealRef
                    ) {
                        row.links.insert(field.name.clone(), input.parse().unwrap_or(0));
                    }
                    match field.custom_id {
                        Some(field_id) => custom.push((field_id, text.clone())),
                        None => {
                            columns.push(&field.name);
                            values.push(stored.sql);
                        }
                    }
                    row.values.insert(field.name.clone(), text);
                }
                tx.execute(
                    &format!(
                        "INSERT INTO {} ({}) VALUES ({})",
                        entity.table(),
                        columns.join(", "),
                        vec!["?"; columns.len()].join(", ")
                    ),
                    rusqlite::params_from_iter(values),
                )?;
                for (field_id, text) in custom {
                    tx.execute(
                        "INSERT INTO custom_values (entity, record_id, field_id, value) VALUES (?1, ?2, ?3, ?4)",
                        rusqlite::params![entity.name(), id, field_id, text],
                    )?;
                }
                for tag in &record.tags {
                    tx.execute("INSERT OR IGNORE INTO tags (name) VALUES (?1)", [tag])?;
                    tx.execute(
                        "INSERT OR IGNORE INTO record_tags (entity, record_id, tag_id)
                         SELECT ?1, ?2, id FROM tags WHERE name = ?3",
                        rusqlite::params![entity.name(), id, tag],
                    )?;
                }
                rows.insert((*entity, id), row);
            }
            search::reindex_all(tx, *entity, &mut |_| {})?;
            fields.insert(*entity, list);
        }
        Ok((fields, rows))
    })
}

/// The rules of issue 4, restated for one reader.
struct Model<'a> {
    role: &'a RoleDef,
    me: i64,
    my_team: Option<i64>,
    fields: &'a BTreeMap<Entity, Vec<EffectiveField>>,
    rows: &'a Rows,
}

impl Model<'_> {
    fn reaches(&self, scope: Scope, row: &Row) -> bool {
        match scope {
            Scope::None => false,
            Scope::Own => row.owner == self.me,
            Scope::Team => {
                row.owner == self.me || (self.my_team.is_some() && row.team == self.my_team)
            }
            Scope::All => true,
        }
    }

    fn viewable(&self, entity: Entity, row: &Row) -> bool {
        self.reaches(self.role.scope(entity, Action::View), row)
    }

    fn level_on(&self, row: &Row) -> Level {
        if row.owner == self.me {
            self.role.clearance
        } else {
            self.role.others_clearance.min(self.role.clearance)
        }
    }

    fn shows_field(&self, field: &EffectiveField, level: Level) -> bool {
        field.level <= level && (!field.financial || self.role.has(Right::ViewFinancial))
    }

    /// Whether the reader may see `field` of this record.
    fn sees(&self, entity: Entity, row: &Row, field: &EffectiveField) -> bool {
        self.viewable(entity, row) && self.shows_field(field, self.level_on(row))
    }

    fn sees_tags(&self, entity: Entity, row: &Row) -> bool {
        self.viewable(entity, row) && self.level_on(row) >= Level::Internal
    }

    /// The level filters and sorts may use on this entity.
    fn filter_level(&self, entity: Entity) -> Level {
        if self.role.scope(entity, Action::View) == Scope::Own {
            self.role.clearance
        } else {
            self.role.others_clearance.min(self.role.clearance)
        }
    }

    fn field(&self, entity: Entity, name: &str) -> Option<&EffectiveField> {
        self.fields[&entity].iter().find(|field| field.name == name)
    }

    /// Distinctive strings of every stored value and tag that the reader must never receive,
    /// each with where it comes from (none that the reader may see somewhere else).
    fn forbidden(&self) -> Vec<(String, String)> {
        let mut hidden: BTreeMap<String, String> = BTreeMap::new();
        let mut shown: BTreeSet<String> = BTreeSet::new();
        for ((entity, id), row) in self.rows {
            for (name, text) in &row.values {
                let Some(field) = self.field(*entity, name) else {
                    continue;
                };
                let visible = self.sees(*entity, row, field);
                for token in tokens(field.kind, text) {
                    if visible {
                        shown.insert(token);
                    } else {
                        hidden.entry(token).or_insert_with(|| {
                            format!(
                                "{}:{id}.{name} ({:?}, financial {}, record in view: {})",
                                entity.name(),
                                field.level,
                                field.financial,
                                self.viewable(*entity, row)
                            )
                        });
                    }
                }
            }
            for tag in &row.tags {
                if self.sees_tags(*entity, row) {
                    shown.insert(tag.clone());
                } else {
                    hidden
                        .entry(tag.clone())
                        .or_insert_with(|| format!("{}:{id} tag", entity.name()));
                }
            }
        }
        hidden
            .into_iter()
            .filter(|(token, _)| !shown.iter().any(|seen| seen.contains(token.as_str())))
            .collect()
    }
}

/// The strings of a stored value that identify it in any output: text as is, each email and
/// phone of a list (phones also as digits), dates, times and amounts. Flags, small numbers,
/// choices and references are not distinctive; the view checks cover them.
fn tokens(kind: Kind, text: &str) -> Vec<String> {
    match kind {
        Kind::Text | Kind::LongText | Kind::Date | Kind::DateTime | Kind::Money => {
            vec![text.to_owned()]
        }
        Kind::Emails => text.split(", ").map(str::to_owned).collect(),
        Kind::Phones => text
            .split(", ")
            .flat_map(|phone| {
                let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
                [phone.to_owned(), digits]
            })
            .filter(|token| token.len() >= 9)
            .collect(),
        _ => Vec::new(),
    }
}

fn assert_clean(output: &str, forbidden: &[(String, String)], path: &str) -> CaseResult {
    for (value, why) in forbidden {
        if output.contains(value.as_str()) {
            return Err(fail(format!("{path} leaked {why}: {value}")));
        }
    }
    Ok(())
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// A returned record is in scope and carries values only for fields the reader may see.
fn check_view(model: &Model<'_>, record: &super::RecordView, path: &str) -> CaseResult {
    let row = model
        .rows
        .get(&(record.entity, record.id))
        .ok_or_else(|| fail(format!("{path}: unknown record {}", record.id)))?;
    if !model.viewable(record.entity, row) {
        return Err(fail(format!(
            "{path}: {} {} is outside the view scope",
            record.entity.name(),
            record.id
        )));
    }
    for view in &record.fields {
        let field = model
            .field(record.entity, &view.name)
            .ok_or_else(|| fail(format!("{path}: unknown field {}", view.name)))?;
        if view.value.is_some() && !model.sees(record.entity, row, field) {
            return Err(fail(format!(
                "{path}: {}:{}.{} carries a value above clearance",
                record.entity.name(),
                record.id,
                view.name
            )));
        }
        if view.revealable
            && (field.level != Level::HighlyConfidential || !model.role.has(Right::Reveal))
        {
            return Err(fail(format!("{path}: {} offered for reveal", view.name)));
        }
    }
    if !record.tags.is_empty() && !model.sees_tags(record.entity, row) {
        return Err(fail(format!("{path}: tags above clearance")));
    }
    Ok(())
}

fn check_page(
    model: &Model<'_>,
    forbidden: &[(String, String)],
    result: Result<super::Page>,
    path: &str,
) -> CaseResult {
    match result {
        Ok(page) => {
            assert_clean(&json(&page), forbidden, path)?;
            for record in &page.records {
                check_view(model, record, path)?;
            }
            Ok(())
        }
        Err(error) => assert_clean(&error.to_string(), forbidden, path),
    }
}

/// Filtering or sorting on something at `level` (and `financial`) is refused exactly when the
/// reader cannot see it at the filter level.
fn check_refusal(
    model: &Model<'_>,
    entity: Entity,
    level: Level,
    financial: bool,
    result: &Result<super::Page>,
    path: &str,
) -> CaseResult {
    if model.role.scope(entity, Action::View) == Scope::None {
        return match result {
            Err(Error::Forbidden(_)) => Ok(()),
            other => Err(fail(format!("{path}: no view scope, yet {other:?}"))),
        };
    }
    let hidden =
        level > model.filter_level(entity) || (financial && !model.role.has(Right::ViewFinancial));
    match (hidden, result) {
        (true, Err(Error::Forbidden(_))) | (false, Ok(_)) => Ok(()),
        (false, Err(Error::Invalid(_))) => Ok(()), // a value that does not parse as a filter
        (hidden, other) => Err(fail(format!(
            "{path}: hidden at the filter level = {hidden}, yet {:?}",
            other.as_ref().map(|page| page.records.len())
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------------

fn run_case(
    vault: &mut Vault,
    role: &RoleDef,
    classification: &Classification,
    drawn: &Drawn,
) -> CaseResult {
    let (fields, rows) = write_case(vault, classification, drawn).map_err(fail_on)?;
    vault.owner.save_role(role, false).map_err(fail_on)?;
    let me = vault.user_ids[1];
    let my_team = vault.user_teams[1].map(|team| vault.team_ids[team]);
    let model = Model {
        role,
        me,
        my_team,
        fields: &fields,
        rows: &rows,
    };
    let forbidden = model.forbidden();
    let probe = &mut vault.probe;

    for entity in Entity::ALL {
        let scope = role.scope(entity, Action::View);
        // The whole list: exactly the records in scope.
        let all = ListQuery {
            page_size: Some(500),
            ..ListQuery::default()
        };
        let listed = probe.list(entity, &all);
        if let Ok(page) = &listed {
            let got: BTreeSet<i64> = page.records.iter().map(|record| record.id).collect();
            let want: BTreeSet<i64> = rows
                .iter()
                .filter(|((kind, _), row)| *kind == entity && model.viewable(entity, row))
                .map(|((_, id), _)| *id)
                .collect();
            prop_assert_eq!(got, want, "{} list", entity.name());
        } else {
            prop_assert_eq!(scope, Scope::None, "{} list refused", entity.name());
        }
        check_page(&model, &forbidden, listed, "list")?;

        // Every record shown alone; out of scope is "not found".
        for id in 1..=RECORDS + 1 {
            match probe.show(entity, id) {
                Ok(record) => {
                    assert_clean(&json(&record), &forbidden, "show")?;
                    check_view(&model, &record, "show")?;
                }
                Err(error) => {
                    assert_clean(&error.to_string(), &forbidden, "show error")?;
                    let row = rows.get(&(entity, id));
                    prop_assert!(
                        row.is_none_or(|row| !model.viewable(entity, row)),
                        "{} {id} in scope but refused: {error}",
                        entity.name()
                    );
                }
            }
        }

        // Exports in every format, with the export scope.
        for format in [ExportFormat::Csv, ExportFormat::Json, ExportFormat::Vcard] {
            if format == ExportFormat::Vcard && entity != Entity::Contact {
                continue;
            }
            let mut bytes = Vec::new();
            match probe.export(entity, format, &mut bytes, &mut |_| {}) {
                Ok(_) => {
                    prop_assert!(role.scope(entity, Action::Export) != Scope::None);
                    assert_clean(&String::from_utf8_lossy(&bytes), &forbidden, "export")?;
                }
                Err(error) => assert_clean(&error.to_string(), &forbidden, "export error")?,
            }
        }

        // Filters and sorts on every field, with a value the field really holds.
        for field in &fields[&entity] {
            let value = rows
                .iter()
                .filter(|((kind, _), _)| *kind == entity)
                .find_map(|(_, row)| row.values.get(&field.name).cloned());
            if let Some(value) = value {
                let query = ListQuery {
                    filters: vec![(field.name.clone(), value)],
                    page_size: Some(500),
                    ..ListQuery::default()
                };
                let result = probe.list(entity, &query);
                let path = format!("filter on {}.{}", entity.name(), field.name);
                check_refusal(&model, entity, field.level, field.financial, &result, &path)?;
                check_page(&model, &forbidden, result, &path)?;
            }
            let query = ListQuery {
                sort: Some(field.name.clone()),
                page_size: Some(500),
                ..ListQuery::default()
            };
            let result = probe.list(entity, &query);
            let path = format!("sort on {}.{}", entity.name(), field.name);
            check_refusal(&model, entity, field.level, field.financial, &result, &path)?;
            check_page(&model, &forbidden, result, &path)?;
        }

        // The tag filter, with a tag in use.
        if let Some(tag) = rows
            .iter()
            .filter(|((kind, _), _)| *kind == entity)
            .find_map(|(_, row)| row.tags.first().cloned())
        {
            let query = ListQuery {
                tag: Some(tag),
                ..ListQuery::default()
            };
            let result = probe.list(entity, &query);
            check_refusal(
                &model,
                entity,
                Level::Internal,
                false,
                &result,
                "tag filter",
            )?;
            check_page(&model, &forbidden, result, "tag filter")?;
            if let Ok(tags) = probe.tags(entity) {
                assert_clean(&json(&tags), &forbidden, "tag list")?;
            }
        }

        // Feeds: the activities and notes of every record.
        if let Some(link) = match entity {
            Entity::Company => Some("company_id"),
            Entity::Contact => Some("contact_id"),
            Entity::Deal => Some("deal_id"),
            Entity::Activity | Entity::Note => None,
        } {
            for feed in [Entity::Activity, Entity::Note] {
                let level = model
                    .field(feed, link)
                    .map(|field| (field.level, field.financial));
                for id in 1..=RECORDS {
                    let mut query = ListQuery::default();
                    match entity {
                        Entity::Company => query.company_id = Some(id),
                        Entity::Contact => query.contact_id = Some(id),
                        _ => query.deal_id = Some(id),
                    }
                    let result = probe.list(feed, &query);
                    if let Some((level, financial)) = level {
                        check_refusal(&model, feed, level, financial, &result, "feed")?;
                    }
                    check_page(&model, &forbidden, result, "feed")?;
                }
            }
        }
    }

    // Activities: the due list and the done filter follow their fields' levels.
    for (name, query) in [
        (
            "done",
            ListQuery {
                done: Some(false),
                ..ListQuery::default()
            },
        ),
        (
            "due_at",
            ListQuery {
                due_before: Some("2027-03-05".into()),
                ..ListQuery::default()
            },
        ),
    ] {
        let result = probe.list(Entity::Activity, &query);
        if let Some(field) = model.field(Entity::Activity, name) {
            check_refusal(
                &model,
                Entity::Activity,
                field.level,
                field.financial,
                &result,
                name,
            )?;
        }
        check_page(&model, &forbidden, result, name)?;
    }

    // Search: no hidden value finds its record through itself. (A sample: searches are the
    // slowest read.)
    let step = forbidden.len().div_ceil(24).max(1);
    for (value, why) in forbidden.iter().step_by(step) {
        let hits = probe.search(value, 50).map_err(fail_on)?;
        assert_clean(&json(&hits), &forbidden, "search")?;
        for hit in &hits {
            let row = &rows[&(hit.entity, hit.id)];
            prop_assert!(model.viewable(hit.entity, row), "search hit out of scope");
            let hidden_here = row.values.iter().any(|(name, text)| {
                model
                    .field(hit.entity, name)
                    .is_some_and(|field| !model.sees(hit.entity, row, field))
                    && tokens(field_kind(&model, hit.entity, name), text).contains(value)
            }) || (row.tags.contains(value) && !model.sees_tags(hit.entity, row));
            prop_assert!(
                !hidden_here,
                "search for a hidden value found its record: {why}"
            );
        }
    }

    // The dashboard counts and sums only what the reader may see.
    check_dashboard(&model, probe, &forbidden)?;

    // Reveal: exactly in-scope Highly Confidential fields, with the right; errors name no value.
    for entity in Entity::ALL {
        // One record per entity, varying with the classification drawn.
        let secret = fields[&entity]
            .iter()
            .filter(|field| field.level == Level::HighlyConfidential)
            .count() as i64;
        let id = 1 + secret % RECORDS;
        let row = &rows[&(entity, id)];
        for field in &fields[&entity] {
            if field.level != Level::HighlyConfidential && field.name != entity.title_field() {
                continue;
            }
            let result = probe.reveal(entity, id, &field.name, "checking the property");
            let allowed = role.has(Right::Reveal)
                && model.viewable(entity, row)
                && field.level == Level::HighlyConfidential
                && (!field.financial || role.has(Right::ViewFinancial));
            match result {
                Ok(value) => {
                    prop_assert!(allowed, "revealed {}.{}", entity.name(), field.name);
                    prop_assert_eq!(
                        value,
                        row.values.get(&field.name).cloned().unwrap_or_default()
                    );
                }
                Err(error) => {
                    prop_assert!(!allowed, "reveal refused: {error}");
                    assert_clean(&error.to_string(), &forbidden, "reveal error")?;
                }
            }
        }
    }

    // Update with values that never parse: refused for scope, clearance or the value, and the
    // message names no stored value.
    for entity in Entity::ALL {
        let id = 1 + (usize::from(role.clearance.as_u8()) as i64 % RECORDS);
        let row = &rows[&(entity, id)];
        for field in &fields[&entity] {
            let mut input = RecordInput::new();
            input.insert(
                field.name.clone(),
                serde_json::json!(unparsable(field.kind)),
            );
            let error = match probe.update(entity, id, &input) {
                Ok(()) => return Err(fail(format!("{} accepted nonsense", field.name))),
                Err(error) => error,
            };
            assert_clean(&error.to_string(), &forbidden, "update error")?;
            let in_scope = model.reaches(role.scope(entity, Action::Edit), row);
            let writable = model.shows_field(field, model.level_on(row));
            match (&error, in_scope, writable) {
                (Error::NotFound(_) | Error::Forbidden(_), false, _)
                | (Error::Forbidden(_), true, false)
                | (Error::Invalid(_), true, true) => {}
                _ => {
                    return Err(fail(format!(
                        "update {}.{}: in scope {in_scope}, writable {writable}: {error}",
                        entity.name(),
                        field.name
                    )));
                }
            }
        }
    }

    // Delete while linked records exist: the refusal counts only what the reader may view.
    // (Last: a record without links is really deleted.)
    for entity in [Entity::Company, Entity::Contact, Entity::Deal] {
        let id = 1;
        let row = &rows[&(entity, id)];
        let column = match entity {
            Entity::Company => "company_id",
            Entity::Contact => "contact_id",
            _ => "deal_id",
        };
        let mut visible: BTreeMap<Entity, usize> = BTreeMap::new();
        let mut any_hidden = false;
        let mut any = false;
        for ((child, _), child_row) in &rows {
            if child_row.links.get(column) == Some(&id)
                && super::delete::links(entity).contains(&(*child, column))
            {
                any = true;
                if model.viewable(*child, child_row) {
                    *visible.entry(*child).or_default() += 1;
                } else {
                    any_hidden = true;
                }
            }
        }
        let result = probe.delete(entity, id, Dependents::Refuse);
        let may_delete = model.reaches(role.scope(entity, Action::Delete), row);
        match (result, may_delete, any) {
            (Ok(()), true, false) => {}
            (Err(Error::Invalid(message)), true, true) => {
                assert_clean(&message, &forbidden, "delete refusal")?;
                for (child, count) in &visible {
                    let noun = if *count == 1 {
                        child.name()
                    } else {
                        child.table()
                    };
                    prop_assert!(message.contains(&format!("{count} {noun}")), "{message}");
                }
                prop_assert_eq!(message.contains("records you cannot see"), any_hidden);
                prop_assert_eq!(
                    visible.len() + usize::from(any_hidden),
                    message.matches(" and ").count() + message.matches(", ").count() + 1,
                    "{}",
                    message
                );
            }
            (Err(Error::NotFound(_) | Error::Forbidden(_)), false, _) => {}
            (other, may_delete, any) => {
                return Err(fail(format!(
                    "delete {}: may delete {may_delete}, linked {any}: {other:?}",
                    entity.name()
                )));
            }
        }
    }
    Ok(())
}

fn field_kind(model: &Model<'_>, entity: Entity, name: &str) -> Kind {
    model
        .field(entity, name)
        .map_or(Kind::Text, |field| field.kind)
}

/// Input that no field of `kind` accepts.
fn unparsable(kind: Kind) -> String {
    match kind {
        Kind::Text | Kind::LongText => "x".repeat(20_001),
        Kind::Emails => "not an address".into(),
        Kind::Phones => "call me".into(),
        Kind::Date => "31/12".into(),
        Kind::DateTime => "soon".into(),
        Kind::Integer | Kind::Number => "many".into(),
        Kind::Money => "a lot".into(),
        Kind::Bool => "perhaps".into(),
        Kind::Choice => "none of these".into(),
        Kind::CompanyRef | Kind::ContactRef | Kind::DealRef | Kind::StageRef => "first".into(),
    }
}

/// The dashboard against a recount from the model.
fn check_dashboard(
    model: &Model<'_>,
    probe: &Session,
    forbidden: &[(String, String)],
) -> CaseResult {
    let today = NaiveDate::from_ymd_opt(TODAY.0, TODAY.1, TODAY.2).ok_or_else(|| fail("date"))?;
    let dashboard = probe.dashboard(today).map_err(fail_on)?;
    assert_clean(&json(&dashboard), forbidden, "dashboard")?;
    let role = model.role;
    let stage = model.field(Entity::Deal, "stage_id");
    let value = model.field(Entity::Deal, "value");
    let currency = model.field(Entity::Deal, "currency");
    if role.scope(Entity::Deal, Action::View) == Scope::None {
        prop_assert!(dashboard.pipeline.is_empty());
    } else {
        let deals: Vec<&Row> = model
            .rows
            .iter()
            .filter(|((entity, _), row)| {
                *entity == Entity::Deal && model.viewable(Entity::Deal, row)
            })
            .map(|(_, row)| row)
            .collect();
        let shows = |field: Option<&EffectiveField>, row: &Row| {
            field.is_some_and(|field| model.sees(Entity::Deal, row, field))
        };
        for total in &dashboard.pipeline {
            let here: Vec<&&Row> = deals
                .iter()
                .filter(|row| {
                    shows(stage, row)
                        && row.values.get("stage_id") == Some(&total.stage_id.to_string())
                })
                .collect();
            let summed: i64 = here
                .iter()
                .filter(|row| shows(value, row))
                .filter_map(|row| row.values.get("value"))
                .filter_map(|text| super::parse_money(text))
                .sum();
            let hidden = here.iter().filter(|row| !shows(value, row)).count() as u64;
            prop_assert_eq!(total.deals, here.len() as u64, "deals in {}", &total.name);
            prop_assert_eq!(total.value_cents, summed, "value in {}", &total.name);
            prop_assert_eq!(total.hidden_values, hidden, "hidden in {}", &total.name);
        }
        let currencies: BTreeSet<String> = deals
            .iter()
            .filter(|row| {
                shows(value, row) && shows(currency, row) && row.values.contains_key("value")
            })
            .filter_map(|row| row.values.get("currency").cloned())
            .collect();
        prop_assert_eq!(
            dashboard
                .currencies
                .iter()
                .cloned()
                .collect::<BTreeSet<_>>(),
            currencies
        );
    }
    // The week: the reader's own activities whose due time they may see.
    let due = model.field(Entity::Activity, "due_at");
    let done = model.field(Entity::Activity, "done");
    let own_level = role.clearance;
    let may = |field: Option<&EffectiveField>| {
        field.is_some_and(|field| model.shows_field(field, own_level))
    };
    for day in &dashboard.week {
        let mut want = (0u64, 0u64);
        if role.scope(Entity::Activity, Action::View) != Scope::None && may(due) {
            for ((entity, _), row) in model.rows {
                let on_day = row
                    .values
                    .get("due_at")
                    .is_some_and(|due| due.starts_with(&day.day));
                if *entity == Entity::Activity && row.owner == model.me && on_day {
                    want.0 += 1;
                    if may(done) && row.values.get("done").map(String::as_str) == Some("true") {
                        want.1 += 1;
                    }
                }
            }
        }
        prop_assert_eq!((day.due, day.done), want, "week day {}", &day.day);
    }
    Ok(())
}

#[test]
fn no_read_path_returns_a_value_above_clearance_or_outside_scope() -> Result<()> {
    let mut vault = vault()?;
    let fields = all_fields(&vault.owner)?;
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        role_strategy(),
        classification_strategy(&fields),
        data_strategy(&fields),
    );
    let cell = std::cell::RefCell::new(&mut vault);
    let outcome = runner.run(&strategy, |(role, classification, drawn)| {
        let mut guard = cell.borrow_mut();
        run_case(&mut guard, &role, &classification, &drawn)
    });
    outcome.map_err(|error| Error::Invalid(error.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Each template by name, on a fixed customer base
// ---------------------------------------------------------------------------------------------

/// A fixed base for the named tests: users in two teams, six records of each type owned in
/// turn by `olivia` (no team), `probe` and `mate` (north) and `far` (south), with a phone, an
/// email, a bank account and a tax id where the type has them.
struct Fixed {
    _dir: tempfile::TempDir,
    owner: Session,
    probe: Session,
    /// (entity, id) → owner name.
    owners: BTreeMap<(Entity, i64), &'static str>,
}

const FIXED_USERS: [(&str, Option<&str>); 4] = [
    ("olivia", None),
    ("probe", Some("north")),
    ("mate", Some("north")),
    ("far", Some("south")),
];

fn fixed(template: &str) -> Result<Fixed> {
    let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
    let mut owner = owner_vault(dir.path())?;
    for (name, team) in &FIXED_USERS[1..] {
        add_user(&mut owner, name, "Sales Representative")?;
        owner.set_user_team(name, *team)?;
    }
    let mut owners = BTreeMap::new();
    let mut sessions: BTreeMap<&str, Session> = BTreeMap::new();
    for (name, _) in &FIXED_USERS[1..] {
        sessions.insert(name, login(dir.path(), name)?);
    }
    // Everyone may create everything while the base is made.
    let mut maker = RoleDef::nothing("Maker");
    maker.clearance = Level::Confidential;
    maker.others_clearance = Level::Confidential;
    maker.rights.insert(Right::ViewFinancial);
    for entity in Entity::ALL {
        for action in [Action::View, Action::Create] {
            maker
                .grants
                .entry(entity)
                .or_default()
                .insert(action, Scope::All);
        }
    }
    owner.save_role(&maker, true)?;
    for (name, _) in &FIXED_USERS[1..] {
        owner.set_user_role(name, "Maker")?;
    }
    for index in 0..6usize {
        let (name, _) = FIXED_USERS[index % FIXED_USERS.len()];
        let session = match sessions.get_mut(name) {
            Some(session) => session,
            None => &mut owner,
        };
        let id = index as i64 + 1;
        let pairs: Vec<(Entity, Vec<(&str, String)>)> = vec![
            (
                Entity::Company,
                vec![
                    ("name", format!("Company{id}")),
                    ("phone", format!("+46 8 555 {id:03} 11")),
                    ("tax_id", format!("TAX-{id}-998877")),
                ],
            ),
            (
                Entity::Contact,
                vec![
                    ("last_name", format!("Person{id}")),
                    ("company_id", id.to_string()),
                    ("emails", format!("person{id}@example.com")),
                    ("phones", format!("+1 555 {id:03} 4567")),
                    ("bank_account", format!("SE45500000000583982574{id:02}")),
                ],
            ),
            (
                Entity::Deal,
                vec![
                    ("title", format!("Deal{id}")),
                    ("contact_id", id.to_string()),
                    ("value", format!("{id}000.00")),
                ],
            ),
            (
                Entity::Activity,
                vec![
                    ("kind", "call".into()),
                    ("subject", format!("Call{id}")),
                    ("contact_id", id.to_string()),
                ],
            ),
            (
                Entity::Note,
                vec![
                    ("body", format!("Note{id}")),
                    ("contact_id", id.to_string()),
                ],
            ),
        ];
        for (entity, fields) in pairs {
            let input: RecordInput = fields
                .into_iter()
                .map(|(field, value)| (field.to_owned(), serde_json::json!(value)))
                .collect();
            let created = session.create(entity, &input)?;
            assert_eq!(created, id);
            owners.insert((entity, id), name);
        }
    }
    drop(sessions);
    for (name, _) in &FIXED_USERS[1..] {
        owner.set_user_role(name, "Sales Representative")?;
    }
    owner.set_user_role("probe", template)?;
    let probe = login(dir.path(), "probe")?;
    Ok(Fixed {
        _dir: dir,
        owner,
        probe,
        owners,
    })
}

impl Fixed {
    fn listed(&mut self, entity: Entity) -> Result<Vec<super::RecordView>> {
        Ok(self
            .probe
            .list(
                entity,
                &ListQuery {
                    page_size: Some(100),
                    ..ListQuery::default()
                },
            )?
            .records)
    }

    fn owners_of(&self, records: &[super::RecordView]) -> BTreeSet<&'static str> {
        records
            .iter()
            .map(|record| self.owners[&(record.entity, record.id)])
            .collect()
    }

    fn exports(&mut self, entity: Entity) -> bool {
        self.probe
            .export(entity, ExportFormat::Json, &mut Vec::new(), &mut |_| {})
            .is_ok()
    }
}

fn set(names: &[&'static str]) -> BTreeSet<&'static str> {
    names.iter().copied().collect()
}

#[test]
fn owner_template_sees_everything_and_reveals_highly_confidential_values() -> Result<()> {
    let mut fixed = fixed("Owner")?;
    fixed.owner.classify(
        Entity::Company,
        "tax_id",
        Level::HighlyConfidential,
        &mut |_| {},
    )?;
    for entity in Entity::ALL {
        assert_eq!(fixed.listed(entity)?.len(), 6, "{entity:?}");
        assert!(fixed.exports(entity));
    }
    let company = fixed.probe.show(Entity::Company, 4)?;
    assert_eq!(
        company.value("tax_id"),
        Some(&serde_json::json!("TAX-4-998877"))
    );
    assert_eq!(
        fixed
            .probe
            .reveal(Entity::Company, 4, "tax_id", "invoice check")?,
        "TAX-4-998877"
    );
    Ok(())
}

#[test]
fn administrator_template_sees_confidential_and_financial_data_but_reveals_nothing() -> Result<()> {
    let mut fixed = fixed("Administrator")?;
    fixed.owner.classify(
        Entity::Company,
        "tax_id",
        Level::HighlyConfidential,
        &mut |_| {},
    )?;
    let contacts = fixed.listed(Entity::Contact)?;
    assert_eq!(contacts.len(), 6);
    assert!(
        contacts.iter().all(
            |record| record.value("bank_account").is_some() && record.value("emails").is_some()
        )
    );
    for record in fixed.listed(Entity::Company)? {
        assert!(
            record.value("tax_id").is_none(),
            "Highly Confidential stays hidden"
        );
        assert!(!record.fields.iter().any(|field| field.revealable));
    }
    assert!(matches!(
        fixed
            .probe
            .reveal(Entity::Company, 1, "tax_id", "invoice check"),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        fixed
            .probe
            .classify(Entity::Company, "tax_id", Level::Confidential, &mut |_| {}),
        Err(Error::Forbidden(_))
    ));
    assert!(fixed.probe.list_roles().is_ok(), "manages roles and users");
    Ok(())
}

#[test]
fn sales_manager_template_works_its_team_records_and_sees_financial_fields() -> Result<()> {
    let mut fixed = fixed("Sales Manager")?;
    let deals = fixed.listed(Entity::Deal)?;
    assert_eq!(
        fixed.owners_of(&deals),
        set(&["probe", "mate"]),
        "the team's deals only"
    );
    let contacts = fixed.listed(Entity::Contact)?;
    assert_eq!(contacts.len(), 6, "every contact is viewable");
    assert!(
        contacts
            .iter()
            .all(|record| record.value("bank_account").is_some())
    );
    assert!(fixed.exports(Entity::Deal));
    // Edits reach the team, not the other team.
    let mut input = RecordInput::new();
    input.insert("title".into(), serde_json::json!("Renamed"));
    let by_owner = |name: &str| {
        fixed
            .owners
            .iter()
            .find(|((entity, _), owner)| *entity == Entity::Deal && **owner == name)
            .map(|((_, id), _)| *id)
            .unwrap_or_default()
    };
    let (mates, fars) = (by_owner("mate"), by_owner("far"));
    fixed.probe.update(Entity::Deal, mates, &input)?;
    assert!(matches!(
        fixed.probe.update(Entity::Deal, fars, &input),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(fixed.probe.list_roles(), Err(Error::Forbidden(_))));
    Ok(())
}

#[test]
fn sales_rep_template_works_own_records_without_exports_or_financial_fields() -> Result<()> {
    let mut fixed = fixed("Sales Representative")?;
    for entity in Entity::ALL {
        let records = fixed.listed(entity)?;
        assert_eq!(fixed.owners_of(&records), set(&["probe"]), "{entity:?}");
        assert!(!fixed.exports(entity), "{entity:?}: no exports");
    }
    for record in fixed.listed(Entity::Contact)? {
        assert!(record.value("emails").is_some(), "own emails visible");
        assert!(
            !record
                .fields
                .iter()
                .any(|field| field.name == "bank_account"),
            "financial fields are absent, not even masked"
        );
    }
    assert!(matches!(
        fixed.probe.delete(Entity::Company, 2, Dependents::Refuse),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        fixed.probe.list(
            Entity::Contact,
            &ListQuery {
                filters: vec![("bank_account".into(), "SE45".into())],
                ..ListQuery::default()
            }
        ),
        Err(Error::Forbidden(_))
    ));
    Ok(())
}

#[test]
fn marketing_template_sees_companies_and_contacts_but_no_deals_or_financial_data() -> Result<()> {
    let mut fixed = fixed("Marketing")?;
    let contacts = fixed.listed(Entity::Contact)?;
    assert_eq!(contacts.len(), 6);
    assert!(
        contacts.iter().all(
            |record| record.value("emails").is_some() && record.value("bank_account").is_none()
        )
    );
    assert_eq!(fixed.listed(Entity::Company)?.len(), 6);
    assert!(fixed.exports(Entity::Contact), "campaign lists");
    assert!(matches!(
        fixed.probe.list(Entity::Deal, &ListQuery::default()),
        Err(Error::Forbidden(_))
    ));
    assert!(!fixed.exports(Entity::Deal));
    Ok(())
}

#[test]
fn support_template_reads_customers_and_logs_its_own_activities_and_notes() -> Result<()> {
    let mut fixed = fixed("Support")?;
    assert_eq!(fixed.listed(Entity::Contact)?.len(), 6);
    assert_eq!(
        fixed.listed(Entity::Activity)?.len(),
        6,
        "the customers' history"
    );
    let mut input = RecordInput::new();
    input.insert("job_title".into(), serde_json::json!("Changed"));
    assert!(matches!(
        fixed.probe.update(Entity::Contact, 1, &input),
        Err(Error::NotFound(_))
    ));
    let mut note = RecordInput::new();
    note.insert(
        "body".into(),
        serde_json::json!("Called about a broken lens"),
    );
    note.insert("contact_id".into(), serde_json::json!("1"));
    fixed.probe.create(Entity::Note, &note)?;
    let mut company = RecordInput::new();
    company.insert("name".into(), serde_json::json!("New Co"));
    assert!(matches!(
        fixed.probe.create(Entity::Company, &company),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        fixed.probe.list(Entity::Deal, &ListQuery::default()),
        Err(Error::Forbidden(_))
    ));
    assert!(!fixed.exports(Entity::Contact));
    Ok(())
}

#[test]
fn auditor_template_reads_the_audit_trail_and_no_customer_record() -> Result<()> {
    let mut fixed = fixed("Auditor")?;
    for entity in Entity::ALL {
        assert!(matches!(
            fixed.probe.list(entity, &ListQuery::default()),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            fixed.probe.show(entity, 1),
            Err(Error::Forbidden(_))
        ));
    }
    assert!(fixed.probe.search("Person", 10)?.is_empty());
    let trail = fixed
        .probe
        .audit_list(&crate::audit::AuditFilter::default())?;
    assert!(!trail.is_empty());
    let dashboard = fixed
        .probe
        .dashboard(NaiveDate::from_ymd_opt(2027, 3, 3).ok_or(Error::Invalid("date".into()))?)?;
    assert!(dashboard.pipeline.is_empty());
    Ok(())
}

#[test]
fn a_policy_change_applies_to_a_session_already_open() -> Result<()> {
    let mut fixed = fixed("Sales Representative")?;
    let before = fixed.listed(Entity::Contact)?.len();
    let mut rep = crate::policy::templates()
        .into_iter()
        .find(|role| role.name == "Sales Representative")
        .ok_or(Error::NotFound("template".into()))?;
    rep.grants
        .entry(Entity::Contact)
        .or_default()
        .insert(Action::View, Scope::All);
    fixed.owner.save_role(&rep, false)?;
    let after = fixed.listed(Entity::Contact)?;
    assert!(
        after.len() > before,
        "the open session sees the wider scope at once"
    );
    // Others' contacts come with Internal fields only: emails masked, never in clear.
    for record in after.iter().filter(|record| !record.mine) {
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
    fixed.owner.save_role(&rep, false)?;
    assert!(matches!(
        fixed.probe.list(Entity::Contact, &ListQuery::default()),
        Err(Error::Forbidden(_))
    ));
    Ok(())
}

#[test]
fn no_one_grants_what_they_do_not_hold_and_the_last_owner_stays() -> Result<()> {
    let mut fixed = fixed("Administrator")?;
    let mut greedy = RoleDef::nothing("Greedy");
    greedy.rights.insert(Right::Reveal);
    assert!(matches!(
        fixed.probe.save_role(&greedy, true),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        fixed.probe.set_user_role("mate", "Owner"),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        fixed.owner.set_user_role("olivia", "Administrator"),
        Err(Error::Invalid(_))
    ));
    Ok(())
}
