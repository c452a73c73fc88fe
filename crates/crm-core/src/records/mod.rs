//! The customer base: companies, contacts, deals, activities and notes, with tags, pipelines
//! and custom fields — always read and written through a [`Session`], which applies the role.
//!
//! API overview (all on [`Session`]):
//!
//! | call | what |
//! |---|---|
//! | `create(entity, input)` / `update(entity, id, input)` | write, field by field, audited old → new |
//! | `delete(entity, id, dependents)` | delete, deciding what happens to linked records ([`delete`]) |
//! | `show(entity, id)` | one [`RecordView`], fields masked or absent per the role |
//! | `list(entity, &ListQuery)` | a [`Page`] of views with filters, sorting and paging |
//! | `search(text, limit)` | ranked [`search::SearchHit`]s over companies, contacts and deals |
//! | `reveal(entity, id, field, reason)` | one Highly Confidential value, audited |
//! | `reassign(entity, id, user)` / `set_team(entity, id, team)` | a record's owner and team |
//! | `tag` / `untag` / `tags(entity)` | tags ([`tags`]) |
//! | `fields(entity)` / `classify` / custom fields | the field list with levels ([`custom_fields`]) |
//! | `pipeline()` / `set_stages` / `add_stage` / … | configurable stages ([`pipeline`]); a deal moves with `update` of `stage_id` |
//! | `dashboard(today)` | pipeline totals and the week ([`summary`]) |
//! | `import_csv` / `import_vcard` / `export` | files, through the same view |
//!
//! Every field is described once in [`fields`]; the role view in [`view`] is the only place that
//! decides what leaves the core.

pub mod custom_fields;
pub mod delete;
pub mod demo;
pub mod erase;
pub mod export;
pub mod fields;
pub mod import;
pub mod pipeline;
pub mod search;
pub mod summary;
pub mod tags;
pub mod vcard;
pub mod view;

use std::collections::BTreeMap;

use chrono::Utc;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter};
use serde::{Deserialize, Serialize};

use crate::audit::{Action as AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::policy::{Action, Right, RoleDef, Scope};
use crate::vault::Session;
use fields::{Entity, FieldDef, Kind, Level, MaskStyle};
pub use pipeline::{Outcome, Stage, StagePlan};
pub use view::{FieldView, RecordView};

/// Schema of the customer base, appended to the store's migrations.
pub(crate) const MIGRATION: &str = "
CREATE TABLE pipelines (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
) STRICT;
CREATE TABLE stages (
    id          INTEGER PRIMARY KEY,
    pipeline_id INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    position    INTEGER NOT NULL,
    probability INTEGER NOT NULL DEFAULT 0,
    outcome     TEXT NOT NULL DEFAULT 'open' CHECK (outcome IN ('open', 'won', 'lost')),
    UNIQUE (pipeline_id, name)
) STRICT;
INSERT INTO pipelines (id, name) VALUES (1, 'Sales');
INSERT INTO stages (pipeline_id, name, position, probability, outcome) VALUES
    (1, 'Lead', 1, 10, 'open'), (1, 'Qualified', 2, 25, 'open'), (1, 'Proposal', 3, 50, 'open'),
    (1, 'Negotiation', 4, 75, 'open'), (1, 'Won', 5, 100, 'won'), (1, 'Lost', 6, 0, 'lost');

CREATE TABLE companies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL, industry TEXT, size TEXT, website TEXT, address TEXT, phone TEXT,
    tax_id TEXT, notes TEXT,
    owner_id INTEGER NOT NULL REFERENCES users (id), team_id INTEGER REFERENCES teams (id),
    created_at TEXT NOT NULL, created_by INTEGER, updated_at TEXT NOT NULL, updated_by INTEGER
) STRICT;
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    first_name TEXT, last_name TEXT NOT NULL, job_title TEXT,
    company_id INTEGER REFERENCES companies (id) ON DELETE RESTRICT,
    emails TEXT, phones TEXT, address TEXT, birthday TEXT, notes TEXT,
    do_not_contact INTEGER, consent TEXT, bank_account TEXT,
    email_key TEXT,
    owner_id INTEGER NOT NULL REFERENCES users (id), team_id INTEGER REFERENCES teams (id),
    created_at TEXT NOT NULL, created_by INTEGER, updated_at TEXT NOT NULL, updated_by INTEGER
) STRICT;
CREATE TABLE deals (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    company_id INTEGER REFERENCES companies (id) ON DELETE RESTRICT,
    contact_id INTEGER REFERENCES contacts (id) ON DELETE SET NULL,
    value INTEGER, currency TEXT,
    stage_id INTEGER REFERENCES stages (id),
    expected_close TEXT, probability INTEGER, lost_reason TEXT,
    owner_id INTEGER NOT NULL REFERENCES users (id), team_id INTEGER REFERENCES teams (id),
    created_at TEXT NOT NULL, created_by INTEGER, updated_at TEXT NOT NULL, updated_by INTEGER
) STRICT;
CREATE TABLE activities (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL, subject TEXT NOT NULL, due_at TEXT, done INTEGER,
    company_id INTEGER REFERENCES companies (id) ON DELETE CASCADE,
    contact_id INTEGER REFERENCES contacts (id) ON DELETE CASCADE,
    deal_id INTEGER REFERENCES deals (id) ON DELETE CASCADE,
    notes TEXT,
    owner_id INTEGER NOT NULL REFERENCES users (id), team_id INTEGER REFERENCES teams (id),
    created_at TEXT NOT NULL, created_by INTEGER, updated_at TEXT NOT NULL, updated_by INTEGER
) STRICT;
CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    company_id INTEGER REFERENCES companies (id) ON DELETE CASCADE,
    contact_id INTEGER REFERENCES contacts (id) ON DELETE CASCADE,
    deal_id INTEGER REFERENCES deals (id) ON DELETE CASCADE,
    owner_id INTEGER NOT NULL REFERENCES users (id), team_id INTEGER REFERENCES teams (id),
    created_at TEXT NOT NULL, created_by INTEGER, updated_at TEXT NOT NULL, updated_by INTEGER
) STRICT;

CREATE INDEX companies_owner ON companies (owner_id, updated_at);
CREATE INDEX companies_name ON companies (name COLLATE NOCASE);
CREATE INDEX contacts_owner ON contacts (owner_id, updated_at);
CREATE INDEX contacts_company ON contacts (company_id);
CREATE INDEX contacts_email ON contacts (email_key);
CREATE INDEX contacts_last_name ON contacts (last_name COLLATE NOCASE);
CREATE INDEX deals_owner ON deals (owner_id, updated_at);
CREATE INDEX deals_stage ON deals (stage_id);
CREATE INDEX deals_company ON deals (company_id);
CREATE INDEX activities_owner_due ON activities (owner_id, done, due_at);
CREATE INDEX activities_contact ON activities (contact_id);
CREATE INDEX activities_company ON activities (company_id);
CREATE INDEX activities_deal ON activities (deal_id);
CREATE INDEX notes_contact ON notes (contact_id);
CREATE INDEX notes_company ON notes (company_id);
CREATE INDEX notes_deal ON notes (deal_id);

CREATE TABLE tags (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE
) STRICT;
CREATE TABLE record_tags (
    entity    TEXT NOT NULL,
    record_id INTEGER NOT NULL,
    tag_id    INTEGER NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (entity, record_id, tag_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX record_tags_by_tag ON record_tags (tag_id, entity);

-- The owner's reclassification of built-in fields.
CREATE TABLE field_levels (
    entity TEXT NOT NULL,
    field  TEXT NOT NULL,
    level  INTEGER NOT NULL CHECK (level BETWEEN 0 AND 3),
    PRIMARY KEY (entity, field)
) STRICT, WITHOUT ROWID;

CREATE TABLE custom_fields (
    id        INTEGER PRIMARY KEY,
    entity    TEXT NOT NULL,
    name      TEXT NOT NULL,
    label     TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('text', 'number', 'date', 'choice', 'money')),
    choices   TEXT NOT NULL DEFAULT '[]',
    level     INTEGER NOT NULL CHECK (level BETWEEN 0 AND 3),
    financial INTEGER NOT NULL DEFAULT 0,
    UNIQUE (entity, name)
) STRICT;
CREATE TABLE custom_values (
    entity    TEXT NOT NULL,
    record_id INTEGER NOT NULL,
    field_id  INTEGER NOT NULL REFERENCES custom_fields (id) ON DELETE CASCADE,
    value     TEXT NOT NULL,
    PRIMARY KEY (entity, record_id, field_id)
) STRICT, WITHOUT ROWID;
";

/// Indexes for the list filters people use most (measured by `crm bench`): companies by
/// industry and name, deals by stage and close date, and every list's default order.
pub(crate) const LIST_INDEXES: &str = "
CREATE INDEX companies_industry_name ON companies (industry COLLATE NOCASE, name COLLATE NOCASE);
CREATE INDEX deals_stage_close ON deals (stage_id, expected_close);
CREATE INDEX companies_updated ON companies (updated_at);
CREATE INDEX contacts_updated ON contacts (updated_at);
CREATE INDEX deals_updated ON deals (updated_at);
CREATE INDEX activities_updated ON activities (updated_at);
CREATE INDEX notes_updated ON notes (updated_at);
";

/// A sales rep's contacts by name and companies by name: with only `(owner_id, updated_at)`,
/// SQLite planned "every record of mine, then sort" (half a million rows at a million contacts,
/// 1.7 s a page) rather than walking the name index, whatever the statistics said.
pub(crate) const OWNER_NAME_INDEXES: &str = "
CREATE INDEX contacts_owner_last_name ON contacts (owner_id, last_name COLLATE NOCASE);
CREATE INDEX companies_owner_name ON companies (owner_id, name COLLATE NOCASE);
";

/// A field as it currently applies: the built-in definition with the owner's classification,
/// or a custom field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EffectiveField {
    /// Name.
    pub name: String,
    /// Label.
    pub label: String,
    /// Type.
    pub kind: Kind,
    /// Current classification.
    pub level: Level,
    /// Financial data.
    pub financial: bool,
    /// In the search index.
    pub searchable: bool,
    /// Masking style.
    pub mask: MaskStyle,
    /// Required on create.
    pub required: bool,
    /// Allowed values for choices.
    pub choices: Vec<String>,
    /// The custom field's id, for custom fields.
    pub custom_id: Option<i64>,
}

impl EffectiveField {
    fn from_builtin(def: &FieldDef, level: Level) -> Self {
        Self {
            name: def.name.into(),
            label: def.label.into(),
            kind: def.kind,
            level,
            financial: def.financial,
            searchable: def.searchable,
            mask: def.mask,
            required: def.required,
            choices: def
                .choices
                .iter()
                .map(|choice| (*choice).to_owned())
                .collect(),
            custom_id: None,
        }
    }
}

/// The current field list of an entity (built-in with classification overrides, then custom).
pub(crate) fn effective_fields(
    conn: &rusqlite::Connection,
    entity: Entity,
) -> Result<Vec<EffectiveField>> {
    let mut overrides = BTreeMap::new();
    {
        let mut statement =
            conn.prepare_cached("SELECT field, level FROM field_levels WHERE entity = ?1")?;
        let rows = statement.query_map([entity.name()], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, u8>(1)?))
        })?;
        for row in rows {
            let (field, level) = row?;
            overrides.insert(field, Level::from_u8(level)?);
        }
    }
    let mut list: Vec<EffectiveField> = entity
        .fields()
        .iter()
        .map(|def| {
            EffectiveField::from_builtin(def, overrides.get(def.name).copied().unwrap_or(def.level))
        })
        .collect();
    let mut statement = conn.prepare_cached(
        "SELECT id, name, label, kind, choices, level, financial FROM custom_fields
         WHERE entity = ?1 ORDER BY id",
    )?;
    let rows = statement.query_map([entity.name()], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, u8>(5)?,
            row.get::<_, bool>(6)?,
        ))
    })?;
    for row in rows {
        let (id, name, label, kind, choices, level, financial) = row?;
        list.push(EffectiveField {
            name,
            label,
            kind: custom_fields::parse_kind(&kind)?,
            level: Level::from_u8(level)?,
            financial,
            searchable: false,
            mask: MaskStyle::Absent,
            required: false,
            choices: serde_json::from_str(&choices).unwrap_or_default(),
            custom_id: Some(id),
        });
    }
    Ok(list)
}

/// Field values for a create or update: field name → value (text is parsed by the field's type;
/// `null` clears a field).
pub type RecordInput = BTreeMap<String, serde_json::Value>;

/// What to do with a record's linked records when it is deleted: a company's contacts, deals,
/// activities and notes; a contact's deals, activities and notes; a deal's activities and notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dependents {
    /// Refuse if there are any (the default: nothing is removed silently).
    Refuse,
    /// Keep them, unlinked.
    Detach,
    /// Delete them too, with what is linked to the deleted contacts and deals in turn.
    Delete,
}

/// Validated input: each field with its converted value.
type Prepared<'f> = Vec<(&'f EffectiveField, Stored)>;

/// A value converted for storage, with its display text for the audit trail.
struct Stored {
    sql: SqlValue,
    text: Option<String>,
}

fn parse_value(field: &EffectiveField, value: &serde_json::Value) -> Result<Stored> {
    use serde_json::Value as J;
    let bad = |why: &str| Error::Invalid(format!("{}: {why}", field.label));
    if value.is_null() || value.as_str().is_some_and(|text| text.trim().is_empty()) {
        if field.required {
            return Err(bad("is required"));
        }
        return Ok(Stored {
            sql: SqlValue::Null,
            text: None,
        });
    }
    let text = match value {
        J::String(text) => text.trim().to_owned(),
        J::Number(number) => number.to_string(),
        J::Bool(flag) => flag.to_string(),
        J::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| item.to_string())
            })
            .collect::<Vec<_>>()
            .join(", "),
        J::Object(_) | J::Null => return Err(bad("has an unsupported value")),
    };
    let stored = |sql: SqlValue, shown: String| {
        Ok(Stored {
            sql,
            text: Some(shown),
        })
    };
    match field.kind {
        Kind::Text | Kind::LongText => {
            if text.chars().count() > 20_000 {
                return Err(bad("is longer than 20,000 characters"));
            }
            stored(SqlValue::Text(text.clone()), text)
        }
        Kind::Emails => {
            let list = split_list(&text);
            for email in &list {
                if !looks_like_email(email) {
                    return Err(bad("is not an email address (name@domain)"));
                }
            }
            let json = serde_json::to_string(&list).unwrap_or_default();
            stored(SqlValue::Text(json), list.join(", "))
        }
        Kind::Phones => {
            let list = split_list(&text);
            for phone in &list {
                let digits = phone.chars().filter(char::is_ascii_digit).count();
                if !(3..=20).contains(&digits)
                    || phone
                        .chars()
                        .any(|c| !(c.is_ascii_digit() || " +-().x/".contains(c)))
                {
                    return Err(bad("is not a phone number"));
                }
            }
            let json = serde_json::to_string(&list).unwrap_or_default();
            stored(SqlValue::Text(json), list.join(", "))
        }
        Kind::Date => {
            let date = chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                .map_err(|_| bad("is not a date (YYYY-MM-DD)"))?;
            stored(SqlValue::Text(date.to_string()), date.to_string())
        }
        Kind::DateTime => {
            let at = chrono::DateTime::parse_from_rfc3339(&text)
                .map(|at| at.with_timezone(&Utc))
                .or_else(|_| {
                    chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M")
                        .map(|naive| naive.and_utc())
                })
                .or_else(|_| {
                    chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                        .map(|date| date.and_hms_opt(9, 0, 0).unwrap_or_default().and_utc())
                })
                .map_err(|_| bad("is not a date and time (YYYY-MM-DD HH:MM)"))?;
            let shown = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            stored(SqlValue::Text(shown.clone()), shown)
        }
        Kind::Integer => {
            let number: i64 = text.parse().map_err(|_| bad("is not a whole number"))?;
            if field.name == "probability" && !(0..=100).contains(&number) {
                return Err(bad("must be between 0 and 100"));
            }
            stored(SqlValue::Integer(number), number.to_string())
        }
        Kind::Number => {
            let number: f64 = text.parse().map_err(|_| bad("is not a number"))?;
            stored(SqlValue::Real(number), number.to_string())
        }
        Kind::Money => {
            let cents = parse_money(&text).ok_or_else(|| bad("is not an amount (e.g. 1250.00)"))?;
            stored(SqlValue::Integer(cents), format_money(cents))
        }
        Kind::Bool => {
            let flag = match text.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "y" => true,
                "false" | "no" | "0" | "n" => false,
                _ => return Err(bad("must be yes or no")),
            };
            stored(SqlValue::Integer(i64::from(flag)), flag.to_string())
        }
        Kind::Choice => {
            let choice = field
                .choices
                .iter()
                .find(|choice| choice.eq_ignore_ascii_case(&text))
                .ok_or_else(|| bad(&format!("must be one of: {}", field.choices.join(", "))))?;
            stored(SqlValue::Text(choice.clone()), choice.clone())
        }
        Kind::CompanyRef | Kind::ContactRef | Kind::DealRef | Kind::StageRef => {
            let id: i64 = text.parse().map_err(|_| bad("must be a record id"))?;
            stored(SqlValue::Integer(id), id.to_string())
        }
    }
}

fn split_list(text: &str) -> Vec<String> {
    text.split([',', ';', '\n'])
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

fn looks_like_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !text.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// Parses `1250`, `1250.5`, `1,250.50` into cents.
pub fn parse_money(text: &str) -> Option<i64> {
    let cleaned: String = text.chars().filter(|c| *c != ',' && *c != ' ').collect();
    let (whole, fraction) = match cleaned.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (cleaned.as_str(), ""),
    };
    if fraction.len() > 2 || whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let negative = whole.starts_with('-');
    let whole: i64 =
        whole
            .trim_start_matches('-')
            .parse()
            .ok()
            .or(if whole.is_empty() || whole == "-" {
                Some(0)
            } else {
                None
            })?;
    let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
    let cents = whole.checked_mul(100)?.checked_add(fraction)?;
    Some(if negative { -cents } else { cents })
}

/// Formats cents as `1250.00`.
pub fn format_money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// Filters, sorting and paging for lists.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListQuery {
    /// Only records owned by this user name.
    pub owner: Option<String>,
    /// Only deals in this stage id.
    pub stage: Option<i64>,
    /// Only records with this tag.
    pub tag: Option<String>,
    /// Only records updated at or after this time (RFC 3339 or date).
    pub updated_since: Option<String>,
    /// Field equals value (built-in or custom), e.g. `industry = Retail`.
    #[serde(default)]
    pub filters: Vec<(String, String)>,
    /// Only activities: open tasks due up to this time.
    pub due_before: Option<String>,
    /// Only activities: done or not.
    pub done: Option<bool>,
    /// Related to this company id.
    pub company_id: Option<i64>,
    /// Related to this contact id.
    pub contact_id: Option<i64>,
    /// Related to this deal id.
    pub deal_id: Option<i64>,
    /// Sort field (a visible built-in field, or `updated_at` / `created_at`).
    pub sort: Option<String>,
    /// Sort descending.
    #[serde(default)]
    pub descending: bool,
    /// Page number from 1.
    pub page: Option<u32>,
    /// Rows per page (default 50, at most 500).
    pub page_size: Option<u32>,
}

/// One page of a list.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// The records on this page.
    pub records: Vec<RecordView>,
    /// Page number.
    pub page: u32,
    /// Rows per page.
    pub page_size: u32,
    /// Whether another page follows.
    pub has_more: bool,
}

impl Session {
    /// The role, refusing if `action` on `entity` has no scope at all.
    pub(crate) fn require_scope(&self, entity: Entity, action: Action) -> Result<(RoleDef, Scope)> {
        let role = self.role()?;
        let scope = role.scope(entity, action);
        if scope == Scope::None {
            return Err(Error::Forbidden(format!(
                "the {} role cannot {} {}",
                role.name,
                action.name(),
                entity.table()
            )));
        }
        Ok((role, scope))
    }

    /// SQL condition (on alias `r`) limiting rows to `scope`, with its parameters.
    pub(crate) fn scope_condition(&self, scope: Scope) -> Result<(String, Vec<SqlValue>)> {
        let me = SqlValue::Integer(self.user().id);
        Ok(match scope {
            Scope::All => ("1 = 1".into(), Vec::new()),
            Scope::Own => ("r.owner_id = ?".into(), vec![me]),
            Scope::Team => match self.team_id()? {
                Some(team) => (
                    "(r.team_id = ? OR r.owner_id = ?)".into(),
                    vec![SqlValue::Integer(team), me],
                ),
                None => ("r.owner_id = ?".into(), vec![me]),
            },
            Scope::None => ("0 = 1".into(), Vec::new()),
        })
    }

    pub(crate) fn team_id(&self) -> Result<Option<i64>> {
        Ok(self.store().conn().query_row(
            "SELECT team_id FROM users WHERE id = ?1",
            [self.user().id],
            |row| row.get(0),
        )?)
    }

    /// The effective fields of an entity, for forms and the settings screen.
    pub fn fields(&self, entity: Entity) -> Result<Vec<EffectiveField>> {
        effective_fields(self.store().conn(), entity)
    }

    /// Whether the signed-in user may take `action` on this record (for showing only the
    /// buttons that will work; the action itself checks again).
    pub fn may(&self, entity: Entity, id: i64, action: Action) -> Result<bool> {
        let scope = self.role()?.scope(entity, action);
        if scope == Scope::None {
            return Ok(false);
        }
        self.record_in_scope(entity, id, scope)
    }

    fn record_in_scope(&self, entity: Entity, id: i64, scope: Scope) -> Result<bool> {
        let (condition, params) = self.scope_condition(scope)?;
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {} r WHERE r.id = ? AND {condition})",
            entity.table()
        );
        let mut values: Vec<SqlValue> = vec![SqlValue::Integer(id)];
        values.extend(params);
        Ok(self
            .store()
            .conn()
            .query_row(&sql, params_from_iter(values), |row| row.get(0))?)
    }

    /// Refuses (as "not found", so nothing leaks) if the record is outside the scope.
    fn require_in_scope(&self, entity: Entity, id: i64, scope: Scope) -> Result<()> {
        if self.record_in_scope(entity, id, scope)? {
            Ok(())
        } else {
            Err(Error::NotFound(format!("{} {id}", entity.name())))
        }
    }

    /// Checks that a referenced record exists and is visible to this user.
    fn check_reference(&self, role: &RoleDef, field: &EffectiveField, id: i64) -> Result<()> {
        let target = match field.kind {
            Kind::CompanyRef => Entity::Company,
            Kind::ContactRef => Entity::Contact,
            Kind::DealRef => Entity::Deal,
            Kind::StageRef => {
                let exists: bool = self.store().conn().query_row(
                    "SELECT EXISTS (SELECT 1 FROM stages WHERE id = ?1)",
                    [id],
                    |row| row.get(0),
                )?;
                return if exists {
                    Ok(())
                } else {
                    Err(Error::Invalid(format!("{}: no stage {id}", field.label)))
                };
            }
            _ => return Ok(()),
        };
        let scope = role.scope(target, Action::View);
        if scope != Scope::None && self.record_in_scope(target, id, scope)? {
            Ok(())
        } else {
            Err(Error::Invalid(format!(
                "{}: no {} {id} that you can see",
                field.label,
                target.name()
            )))
        }
    }

    /// The fields this user may fill in on a record of their own (a create form): at or below
    /// their clearance, financial ones only with the view-financial right. `create` refuses
    /// the others, so a form built from this never offers a field that would be refused.
    pub fn writable_fields(&self, entity: Entity) -> Result<Vec<EffectiveField>> {
        let role = self.role()?;
        Ok(self
            .fields(entity)?
            .into_iter()
            .filter(|field| view::visible(&role, field, role.clearance))
            .collect())
    }

    /// Creates a record owned by the signed-in user; returns its id.
    pub fn create(&mut self, entity: Entity, input: &RecordInput) -> Result<i64> {
        let (role, _) = self.require_scope(entity, Action::Create)?;
        let fields = self.fields(entity)?;
        let (builtin, custom) = self.prepare_input(&role, role.clearance, &fields, input, true)?;
        let user_id = self.user().id;
        let team = self.team_id()?;
        let now = Utc::now().to_rfc3339();
        let id = self.write(|tx, audit| {
            let mut columns = vec![
                "owner_id",
                "team_id",
                "created_at",
                "created_by",
                "updated_at",
                "updated_by",
            ];
            let mut values = vec![
                SqlValue::Integer(user_id),
                team.map_or(SqlValue::Null, SqlValue::Integer),
                SqlValue::Text(now.clone()),
                SqlValue::Integer(user_id),
                SqlValue::Text(now.clone()),
                SqlValue::Integer(user_id),
            ];
            for (field, stored) in &builtin {
                columns.push(&field.name);
                values.push(stored.sql.clone());
            }
            if entity == Entity::Contact {
                columns.push("email_key");
                values.push(email_key(&builtin).map_or(SqlValue::Null, SqlValue::Text));
            }
            let placeholders = vec!["?"; columns.len()].join(", ");
            tx.execute(
                &format!(
                    "INSERT INTO {} ({}) VALUES ({placeholders})",
                    entity.table(),
                    columns.join(", ")
                ),
                params_from_iter(values),
            )?;
            let id = tx.last_insert_rowid();
            for (field, stored) in &custom {
                set_custom(tx, entity, id, field, stored)?;
            }
            search::reindex(tx, entity, id)?;
            let mut event = AuditEvent::new(AuditAction::Create).target(entity.name(), id);
            for (field, stored) in builtin.iter().chain(custom.iter()) {
                audit.record(
                    AuditEvent::new(AuditAction::Update)
                        .target(entity.name(), id)
                        .field(&field.name, field.level.as_u8())
                        .change(None, stored.text.clone()),
                );
            }
            event = event.detail("fields", builtin.len() + custom.len());
            audit.record(event);
            Ok(id)
        })?;
        Ok(id)
    }

    /// Changes fields of a record; each changed field is audited old → new.
    pub fn update(&mut self, entity: Entity, id: i64, input: &RecordInput) -> Result<()> {
        let (role, scope) = self.require_scope(entity, Action::Edit)?;
        self.require_in_scope(entity, id, scope)?;
        let fields = self.fields(entity)?;
        let owner: i64 = self.store().conn().query_row(
            &format!("SELECT owner_id FROM {} WHERE id = ?1", entity.table()),
            [id],
            |row| row.get(0),
        )?;
        let allowed = view::allowed_level(&role, owner == self.user().id);
        let (builtin, custom) = self.prepare_input(&role, allowed, &fields, input, false)?;
        let old = view::raw_values(self.store().conn(), entity, id, &fields)?;
        let user_id = self.user().id;
        self.write(|tx, audit| {
            let mut sets = vec!["updated_at = ?".to_owned(), "updated_by = ?".to_owned()];
            let mut values = vec![
                SqlValue::Text(Utc::now().to_rfc3339()),
                SqlValue::Integer(user_id),
            ];
            for (field, stored) in &builtin {
                sets.push(format!("{} = ?", field.name));
                values.push(stored.sql.clone());
            }
            if entity == Entity::Contact && builtin.iter().any(|(field, _)| field.name == "emails")
            {
                sets.push("email_key = ?".into());
                values.push(email_key(&builtin).map_or(SqlValue::Null, SqlValue::Text));
            }
            values.push(SqlValue::Integer(id));
            tx.execute(
                &format!(
                    "UPDATE {} SET {} WHERE id = ?",
                    entity.table(),
                    sets.join(", ")
                ),
                params_from_iter(values),
            )?;
            for (field, stored) in &custom {
                set_custom(tx, entity, id, field, stored)?;
            }
            search::reindex(tx, entity, id)?;
            for (field, stored) in builtin.iter().chain(custom.iter()) {
                let before = old.get(&field.name).cloned().flatten();
                if before != stored.text {
                    audit.record(
                        AuditEvent::new(AuditAction::Update)
                            .target(entity.name(), id)
                            .field(&field.name, field.level.as_u8())
                            .change(before, stored.text.clone()),
                    );
                }
            }
            Ok(())
        })
    }

    /// Who owns a record and in which team it is may be changed only with edit scope on it
    /// wider than `own`: who may edit only their own records cannot give them away, take
    /// others' or move them between teams.
    fn require_edit_beyond_own(&self, entity: Entity, id: i64, what: &str) -> Result<()> {
        let (role, scope) = self.require_scope(entity, Action::Edit)?;
        self.require_in_scope(entity, id, scope)?;
        if scope == Scope::Own {
            return Err(Error::Forbidden(format!(
                "the {} role edits only its own {}: it cannot change their {what}",
                role.name,
                entity.table()
            )));
        }
        Ok(())
    }

    /// Gives a record to another user (a manager hands a lead to a sales rep). Needs edit
    /// scope on the record wider than `own`: who may only edit their own records cannot give
    /// them away or take others'. The record moves to the new owner's team; audited.
    pub fn reassign(&mut self, entity: Entity, id: i64, new_owner: &str) -> Result<()> {
        self.require_edit_beyond_own(entity, id, "owner")?;
        use rusqlite::OptionalExtension;
        let conn = self.store().conn();
        let (owner_id, team_id): (i64, Option<i64>) = conn
            .query_row(
                "SELECT id, team_id FROM users WHERE name = ?1 AND removed_at IS NULL",
                [new_owner],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("user {new_owner:?}")))?;
        let before: String = conn.query_row(
            &format!(
                "SELECT u.name FROM {} r JOIN users u ON u.id = r.owner_id WHERE r.id = ?1",
                entity.table()
            ),
            [id],
            |row| row.get(0),
        )?;
        let user_id = self.user().id;
        self.write(|tx, audit| {
            tx.execute(
                &format!(
                    "UPDATE {} SET owner_id = ?1, team_id = ?2, updated_at = ?3, updated_by = ?4 WHERE id = ?5",
                    entity.table()
                ),
                params![owner_id, team_id, Utc::now().to_rfc3339(), user_id, id],
            )?;
            audit.record(
                AuditEvent::new(AuditAction::Update)
                    .target(entity.name(), id)
                    .field("owner", Level::Public.as_u8())
                    .change(Some(before), Some(new_owner.to_owned())),
            );
            Ok(())
        })
    }

    /// Puts a record in a team, or in none (`None`). Like [`Session::reassign`], this needs
    /// edit scope on the record wider than `own`; the team must exist (teams are made by
    /// putting users in them). Audited as a `team` update.
    pub fn set_team(&mut self, entity: Entity, id: i64, team: Option<&str>) -> Result<()> {
        self.require_edit_beyond_own(entity, id, "team")?;
        use rusqlite::OptionalExtension;
        let conn = self.store().conn();
        let team = team.map(str::trim).filter(|team| !team.is_empty());
        let team_id: Option<i64> = match team {
            Some(name) => Some(
                conn.query_row("SELECT id FROM teams WHERE name = ?1", [name], |row| {
                    row.get(0)
                })
                .optional()?
                .ok_or_else(|| Error::NotFound(format!("team {name:?}")))?,
            ),
            None => None,
        };
        let before: Option<String> = conn.query_row(
            &format!(
                "SELECT t.name FROM {} r LEFT JOIN teams t ON t.id = r.team_id WHERE r.id = ?1",
                entity.table()
            ),
            [id],
            |row| row.get(0),
        )?;
        let user_id = self.user().id;
        self.write(|tx, audit| {
            tx.execute(
                &format!(
                    "UPDATE {} SET team_id = ?1, updated_at = ?2, updated_by = ?3 WHERE id = ?4",
                    entity.table()
                ),
                params![team_id, Utc::now().to_rfc3339(), user_id, id],
            )?;
            audit.record(
                AuditEvent::new(AuditAction::Update)
                    .target(entity.name(), id)
                    .field("team", Level::Public.as_u8())
                    .change(before, team.map(str::to_owned)),
            );
            Ok(())
        })
    }

    /// The names of active users, for choosing a record's new owner. Only for roles that may
    /// reassign something (edit scope wider than `own` on any kind of record).
    pub fn assignable_users(&self) -> Result<Vec<String>> {
        self.require_reassigning("change the owner of records")?;
        self.names("SELECT name FROM users WHERE removed_at IS NULL ORDER BY name")
    }

    /// The names of the vault's teams (made by giving users a team), for choosing a record's
    /// team. Only for the roles [`Self::assignable_users`] serves.
    pub fn assignable_teams(&self) -> Result<Vec<String>> {
        self.require_reassigning("change the team of records")?;
        self.names("SELECT name FROM teams ORDER BY name")
    }

    fn require_reassigning(&self, what: &str) -> Result<()> {
        let role = self.role()?;
        let may_reassign = Entity::ALL
            .into_iter()
            .any(|entity| matches!(role.scope(entity, Action::Edit), Scope::Team | Scope::All));
        if may_reassign {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "the {} role cannot {what}",
                role.name
            )))
        }
    }

    fn names(&self, sql: &str) -> Result<Vec<String>> {
        let mut statement = self.store().conn().prepare(sql)?;
        let names = statement
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(names)
    }

    /// Validates and converts input; refuses fields the role may not see (writing a field you
    /// cannot read would let you probe it).
    fn prepare_input<'f>(
        &self,
        role: &RoleDef,
        allowed: Level,
        fields: &'f [EffectiveField],
        input: &RecordInput,
        creating: bool,
    ) -> Result<(Prepared<'f>, Prepared<'f>)> {
        let mut builtin = Vec::new();
        let mut custom = Vec::new();
        for name in input.keys() {
            if !fields.iter().any(|field| field.name == *name) {
                let known: Vec<&str> = fields.iter().map(|field| field.name.as_str()).collect();
                return Err(Error::Invalid(format!(
                    "unknown field {name:?}; fields: {}",
                    known.join(", ")
                )));
            }
        }
        for field in fields {
            let value = match input.get(&field.name) {
                Some(value) => value,
                None if creating && field.required => {
                    return Err(Error::Invalid(format!("{} is required", field.label)));
                }
                None => continue,
            };
            if !view::visible(role, field, allowed) {
                return Err(Error::Forbidden(format!(
                    "the {} field is above your clearance",
                    field.label
                )));
            }
            let stored = parse_value(field, value)?;
            if let SqlValue::Integer(target) = stored.sql
                && matches!(
                    field.kind,
                    Kind::CompanyRef | Kind::ContactRef | Kind::DealRef | Kind::StageRef
                )
            {
                self.check_reference(role, field, target)?;
            }
            if field.custom_id.is_some() {
                custom.push((field, stored));
            } else {
                builtin.push((field, stored));
            }
        }
        Ok((builtin, custom))
    }

    /// One record, as the role may see it. Viewing a record with visible Confidential fields is
    /// recorded in the audit trail.
    pub fn show(&mut self, entity: Entity, id: i64) -> Result<RecordView> {
        let (role, scope) = self.require_scope(entity, Action::View)?;
        self.require_in_scope(entity, id, scope)?;
        let fields = self.fields(entity)?;
        let views = view::load(
            self,
            &role,
            entity,
            &fields,
            &format!("r.id = {id}"),
            &[],
            None,
            1,
            0,
        )?;
        let record = views
            .into_iter()
            .next()
            .ok_or_else(|| Error::NotFound(format!("{} {id}", entity.name())))?;
        if record.shows_level(Level::Confidential) {
            self.note_read(AuditEvent::new(AuditAction::View).target(entity.name(), id))?;
        }
        Ok(record)
    }

    /// A page of records with filters and sorting. Filtering or sorting on a field the role
    /// cannot see is refused (it would be an oracle for the hidden value).
    pub fn list(&mut self, entity: Entity, query: &ListQuery) -> Result<Page> {
        let (role, scope) = self.require_scope(entity, Action::View)?;
        let fields = self.fields(entity)?;
        let (scope_sql, scope_values) = self.scope_condition(scope)?;
        let mut conditions = vec![scope_sql];
        let mut values: Vec<SqlValue> = scope_values;
        let filter_level = view::filter_clearance(&role, scope);
        let visible = |name: &str| -> Result<&EffectiveField> {
            let field = fields
                .iter()
                .find(|field| field.name == name)
                .ok_or_else(|| Error::Invalid(format!("unknown field {name:?}")))?;
            if field.level > filter_level || (field.financial && !role.has(Right::ViewFinancial)) {
                return Err(Error::Forbidden(format!(
                    "you cannot filter or sort on {}: it is above your clearance",
                    field.label
                )));
            }
            Ok(field)
        };
        if let Some(owner) = &query.owner {
            conditions.push(
                "r.owner_id = (SELECT id FROM users WHERE name = ? AND removed_at IS NULL)".into(),
            );
            values.push(SqlValue::Text(owner.clone()));
        }
        if let Some(stage) = query.stage {
            if entity != Entity::Deal {
                return Err(Error::Invalid("only deals have a stage".into()));
            }
            visible("stage_id")?;
            conditions.push("r.stage_id = ?".into());
            values.push(SqlValue::Integer(stage));
        }
        for (column, value) in [
            ("company_id", query.company_id),
            ("contact_id", query.contact_id),
            ("deal_id", query.deal_id),
        ] {
            if let Some(value) = value {
                visible(column)?;
                conditions.push(format!("r.{column} = ?"));
                values.push(SqlValue::Integer(value));
            }
        }
        if let Some(tag) = &query.tag {
            if filter_level < view::TAGS_LEVEL {
                return Err(Error::Forbidden(
                    "you cannot filter on tags: they are above your clearance".into(),
                ));
            }
            conditions.push(
                "EXISTS (SELECT 1 FROM record_tags t JOIN tags g ON g.id = t.tag_id
                 WHERE t.entity = ? AND t.record_id = r.id AND g.name = ? COLLATE NOCASE)"
                    .into(),
            );
            values.push(SqlValue::Text(entity.name().into()));
            values.push(SqlValue::Text(tag.clone()));
        }
        // Record times are shown with every record the reader may view, whatever the levels
        // of its fields, so filtering on them tells nothing a list would not.
        if let Some(since) = &query.updated_since {
            conditions.push("r.updated_at >= ?".into());
            values.push(SqlValue::Text(normalise_time(since)?));
        }
        if (query.done.is_some() || query.due_before.is_some()) && entity != Entity::Activity {
            return Err(Error::Invalid(
                "only activities have a due time and a done flag".into(),
            ));
        }
        if entity == Entity::Activity {
            if let Some(done) = query.done {
                visible("done")?;
                conditions.push("coalesce(r.done, 0) = ?".into());
                values.push(SqlValue::Integer(i64::from(done)));
            }
            if let Some(before) = &query.due_before {
                visible("due_at")?;
                conditions.push("r.due_at IS NOT NULL AND r.due_at <= ?".into());
                values.push(SqlValue::Text(as_stored_due_time(&normalise_time(before)?)));
            }
        }
        for (name, value) in &query.filters {
            let field = visible(name)?;
            let stored = parse_value(field, &serde_json::Value::String(value.clone()))?;
            match field.custom_id {
                Some(field_id) => {
                    conditions.push(format!(
                        "EXISTS (SELECT 1 FROM custom_values v WHERE v.entity = '{}' AND v.record_id = r.id AND v.field_id = {field_id} AND v.value = ?)",
                        entity.name()
                    ));
                    values.push(SqlValue::Text(stored.text.unwrap_or_default()));
                }
                None if field.kind == Kind::Phones => {
                    let (condition, bound) = phone_filter(&field.name, value)?;
                    conditions.push(condition);
                    values.extend(bound.map(SqlValue::Text));
                }
                None if field.kind == Kind::Emails => {
                    conditions.push(format!("r.{} LIKE ?", field.name));
                    values.push(SqlValue::Text(format!(
                        "%{}%",
                        value.replace(['%', '_'], "")
                    )));
                }
                None if matches!(field.kind, Kind::Text | Kind::LongText) => {
                    conditions.push(format!("r.{} = ? COLLATE NOCASE", field.name));
                    values.push(stored.sql);
                }
                None => {
                    conditions.push(format!("r.{} = ?", field.name));
                    values.push(stored.sql);
                }
            }
        }
        let order = match query.sort.as_deref() {
            None | Some("updated_at") => "r.updated_at".to_owned(),
            Some("created_at") => "r.created_at".to_owned(),
            Some(name) => {
                let field = visible(name)?;
                // Text sorts ignore case (and use the NOCASE indexes); dates and numbers sort as
                // stored, so their indexes apply too. Custom values are stored as text: numbers
                // and amounts sort by their value, the rest as text.
                let column = match field.custom_id {
                    Some(field_id) => format!(
                        "(SELECT v.value FROM custom_values v WHERE v.entity = '{}' AND v.record_id = r.id AND v.field_id = {field_id})",
                        entity.name()
                    ),
                    None => format!("r.{}", field.name),
                };
                match (field.kind, field.custom_id) {
                    (Kind::Number | Kind::Money, Some(_)) => format!("CAST({column} AS REAL)"),
                    (Kind::Text | Kind::LongText | Kind::Choice, _) => {
                        format!("{column} COLLATE NOCASE")
                    }
                    _ => column,
                }
            }
        };
        let direction = if query.descending || query.sort.is_none() {
            "DESC"
        } else {
            "ASC"
        };
        let page_size = query.page_size.unwrap_or(50).clamp(1, 500);
        let page = query.page.unwrap_or(1).max(1);
        let order_by = format!("{order} {direction}, r.id {direction}");
        let mut records = view::load(
            self,
            &role,
            entity,
            &fields,
            &conditions.join(" AND "),
            &values,
            Some(&order_by),
            page_size + 1,
            (page - 1) * page_size,
        )?;
        let has_more = records.len() > page_size as usize;
        records.truncate(page_size as usize);
        let confidential: Vec<i64> = records
            .iter()
            .filter(|record| record.shows_level(Level::Confidential))
            .map(|record| record.id)
            .collect();
        if !confidential.is_empty() {
            self.note_read(
                AuditEvent::new(AuditAction::View)
                    .target(entity.name(), "list")
                    .detail("ids", &confidential),
            )?;
        }
        Ok(Page {
            records,
            page,
            page_size,
            has_more,
        })
    }

    /// Reveals one Highly Confidential value: needs the reveal right, the record in view scope,
    /// a reason, and a field classified Highly Confidential (anything lower is shown or hidden
    /// by clearance alone, never revealed). The reveal is written to the audit trail before the
    /// value is returned.
    pub fn reveal(
        &mut self,
        entity: Entity,
        id: i64,
        field_name: &str,
        reason: &str,
    ) -> Result<String> {
        let role = self.require_right(Right::Reveal)?;
        let (_, scope) = self.require_scope(entity, Action::View)?;
        self.require_in_scope(entity, id, scope)?;
        if reason.trim().chars().count() < 5 {
            return Err(Error::Invalid(
                "give a reason for revealing this value (at least 5 characters)".into(),
            ));
        }
        let fields = self.fields(entity)?;
        let field = fields
            .iter()
            .find(|field| field.name == field_name)
            .ok_or_else(|| Error::Invalid(format!("unknown field {field_name:?}")))?;
        if field.level != Level::HighlyConfidential {
            return Err(Error::Invalid(format!(
                "only Highly Confidential values are revealed; {} is {}",
                field.label,
                field.level.label()
            )));
        }
        if field.financial && !role.has(Right::ViewFinancial) {
            return Err(Error::Forbidden(
                "financial fields need the view-financial right".into(),
            ));
        }
        let values = view::raw_values(self.store().conn(), entity, id, &fields)?;
        let value = values
            .get(field_name)
            .cloned()
            .flatten()
            .unwrap_or_default();
        self.record(
            AuditEvent::new(AuditAction::Reveal)
                .target(entity.name(), id)
                .field(field_name, field.level.as_u8())
                .detail("reason", reason.trim()),
        )?;
        Ok(value)
    }

    /// Reclassifies a field (owner or role manager who can see the field as it is now, and
    /// only up to their own clearance); the search index of that entity is rebuilt so search
    /// follows the new level at once.
    pub fn classify(
        &mut self,
        entity: Entity,
        field_name: &str,
        level: Level,
        progress: crate::vault::ProgressFn<'_>,
    ) -> Result<()> {
        let role = self.require_right(Right::ManageRoles)?;
        if level > role.clearance {
            return Err(Error::Forbidden(
                "you cannot classify a field above your own clearance".into(),
            ));
        }
        let fields = self.fields(entity)?;
        let field = fields
            .iter()
            .find(|field| field.name == field_name)
            .ok_or_else(|| Error::Invalid(format!("unknown field {field_name:?}")))?
            .clone();
        // Lowering a field you cannot see would be a way to read it.
        custom_fields::require_visible_to_editor(&role, &field)?;
        self.write(|tx, audit| {
            match field.custom_id {
                Some(id) => {
                    tx.execute(
                        "UPDATE custom_fields SET level = ?1 WHERE id = ?2",
                        params![level.as_u8(), id],
                    )?;
                }
                None => {
                    tx.execute(
                        "INSERT INTO field_levels (entity, field, level) VALUES (?1, ?2, ?3)
                         ON CONFLICT (entity, field) DO UPDATE SET level = excluded.level",
                        params![entity.name(), field_name, level.as_u8()],
                    )?;
                }
            }
            if field.searchable {
                search::reindex_all(tx, entity, progress)?;
            }
            audit.record(
                AuditEvent::new(AuditAction::ClassificationChanged)
                    .target("field", format!("{}.{field_name}", entity.name()))
                    .change(Some(field.level.label().into()), Some(level.label().into())),
            );
            Ok(())
        })
    }
}

fn email_key(builtin: &[(&EffectiveField, Stored)]) -> Option<String> {
    builtin
        .iter()
        .find(|(field, _)| field.name == "emails")
        .and_then(|(_, stored)| stored.text.as_deref())
        .and_then(|list| list.split(", ").next())
        .map(str::to_lowercase)
}

fn set_custom(
    tx: &rusqlite::Transaction<'_>,
    entity: Entity,
    id: i64,
    field: &EffectiveField,
    stored: &Stored,
) -> Result<()> {
    let Some(field_id) = field.custom_id else {
        return Ok(());
    };
    match &stored.text {
        Some(text) => tx.execute(
            "INSERT INTO custom_values (entity, record_id, field_id, value) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (entity, record_id, field_id) DO UPDATE SET value = excluded.value",
            params![entity.name(), id, field_id, text],
        )?,
        None => tx.execute(
            "DELETE FROM custom_values WHERE entity = ?1 AND record_id = ?2 AND field_id = ?3",
            params![entity.name(), id, field_id],
        )?,
    };
    Ok(())
}

/// Deletes one record row with its custom values, tag links and search entry. Callers make
/// sure nothing points at it any more (see [`delete`]).
fn delete_row(tx: &rusqlite::Transaction<'_>, entity: Entity, id: i64) -> Result<()> {
    tx.execute(
        "DELETE FROM custom_values WHERE entity = ?1 AND record_id = ?2",
        params![entity.name(), id],
    )?;
    tx.execute(
        "DELETE FROM record_tags WHERE entity = ?1 AND record_id = ?2",
        params![entity.name(), id],
    )?;
    search::remove(tx, entity, id)?;
    tx.execute(
        &format!("DELETE FROM {} WHERE id = ?1", entity.table()),
        [id],
    )?;
    Ok(())
}

/// A list filter on a phone field, matching numbers written in any format, as search does:
/// digits only, extensions (`x12`) ignored, and a national trunk `0` or an international
/// country code on either side does not prevent a match. A stored number matches when its
/// digits end with the filter's (leading zeros aside), or when the filter's digits end with the
/// stored number's (leading zeros aside, at least seven digits) — so `+44 20 7946 0018`,
/// `020 7946 0018` and `7946 0018` find each other. Returns the condition (on alias `r`, with
/// two `?`) and its two values.
fn phone_filter(column: &str, value: &str) -> Result<(String, [String; 2])> {
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0');
    if significant.len() < 3 {
        return Err(Error::Invalid(
            "a phone filter needs at least three digits".into(),
        ));
    }
    // The number part of a stored item, without its extension, reduced to digits and without
    // leading zeros: phones hold only digits and ` +-()./` before any `x` (see `parse_value`).
    let number = "CASE WHEN instr(p.value, 'x') > 0 THEN substr(p.value, 1, instr(p.value, 'x') - 1) ELSE p.value END";
    let mut stored = number.to_owned();
    for symbol in [" ", "+", "-", "(", ")", ".", "/"] {
        stored = format!("replace({stored}, '{symbol}', '')");
    }
    let stored = format!("ltrim({stored}, '0')");
    let condition = format!(
        "EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid(r.{column}) THEN r.{column} ELSE '[]' END) p
         WHERE {stored} LIKE '%' || ? OR (length({stored}) >= 7 AND ? LIKE '%' || {stored}))"
    );
    Ok((condition, [significant.to_owned(), digits]))
}

/// Deletes tags no record carries any more, so a deleted record's tag names do not linger.
fn remove_unused_tags(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    tx.execute(
        "DELETE FROM tags WHERE NOT EXISTS (SELECT 1 FROM record_tags t WHERE t.tag_id = tags.id)",
        [],
    )?;
    Ok(())
}

fn normalise_time(text: &str) -> Result<String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc).to_rfc3339());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|date| {
            date.and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc()
                .to_rfc3339()
        })
        .map_err(|_| {
            Error::Invalid(format!(
                "{text:?} is not a date (YYYY-MM-DD) or time (RFC 3339)"
            ))
        })
}

/// `due_at` is stored as `2026-11-24T09:00:00Z` (see `parse_value`), and compared as text: a
/// bound must be written the same way, or a task due exactly at the bound (`…+00:00` sorts
/// before `…Z`) would be left out.
fn as_stored_due_time(normalised: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(normalised)
        .map(|at| {
            at.with_timezone(&Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        })
        .unwrap_or_else(|_| normalised.to_owned())
}

#[cfg(test)]
mod access_tests;
#[cfg(test)]
mod ownership_tests;
