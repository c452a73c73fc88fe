//! Writing one import row, inside the import's transaction: values tidied and checked as
//! `create` / `update` check them, links resolved by name, the existing record found, then the
//! record created or updated, with its tags and search index row.
//!
//! Nothing is written for a row until every check has passed, so a rejected row leaves no
//! company behind even within the (rolled back) transaction, and a dry run's counts are exact.
//! Rows are written by the records module's `RecordWriter`, the one `create` and `update` use:
//! statements are fixed per record type (every column is bound; an update keeps a column whose
//! row value is empty with `coalesce`), so each is prepared once per import. Files by job:
//! `cells` (sorting and parsing a row's cells), `links` (company, contact, deal and stage by
//! name), `dedupe` (which existing record a row updates).

use rusqlite::Transaction;
use rusqlite::types::Value as SqlValue;

use super::super::fields::{Entity, Kind, Level};
use super::super::pipeline::Outcome;
use super::super::tags;
use super::super::write::{Nulls, RecordWriter, Stamp, email_key};
use super::super::{EffectiveField, Stored, parse_value, search, set_custom, view};
mod cells;
mod dedupe;
mod links;

use super::dates::DateOrder;
use super::lookup::{self, Hit};
use super::values::{self, ContactRef, MAX_TAG_CHARS};
use super::{ImportOptions, ImportReport, PlanAction, PlanEntry, Target};
use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::policy::{Action, RoleDef, Scope};
use crate::vault::{AuditSink, Session};

/// One value of a row: where it goes, the column it came from, the text, and the day/month
/// order of its column when it holds dates.
pub(crate) struct Cell<'a> {
    pub target: &'a Target,
    pub column: &'a str,
    pub value: &'a str,
    pub date_order: Option<DateOrder>,
}

/// A scope as an SQL condition on alias `r`, with its parameters.
type Scoped = (String, Vec<SqlValue>);

/// Why a row's work stops: the row is rejected (the column to blame, if one is, and the
/// reason), or the whole import fails.
enum Stop {
    Rejected(Option<String>, String),
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(error: Error) -> Self {
        Stop::Failed(error)
    }
}

impl From<rusqlite::Error> for Stop {
    fn from(error: rusqlite::Error) -> Self {
        Stop::Failed(error.into())
    }
}

/// A rejection of the row, blaming `column`.
fn reject<T>(column: Option<&str>, why: impl Into<String>) -> std::result::Result<T, Stop> {
    Err(Stop::Rejected(column.map(str::to_owned), why.into()))
}

type RowResult<T> = std::result::Result<T, Stop>;

/// A pipeline stage, as rows name it.
struct StageName {
    id: i64,
    name: String,
    outcome: Outcome,
}

/// A field's value gathered from one or more columns (address parts, several email columns).
struct Gathered<'a> {
    field: &'a EffectiveField,
    text: String,
    columns: Vec<&'a str>,
    order: Option<DateOrder>,
}

/// A parsed value: its field, the value to store, and the columns it came from (none for a
/// layout's default).
type Parsed<'g, 'c> = (&'g EffectiveField, Stored, &'g [&'c str]);

/// Columns as a report names them: `None` for none, else joined with commas.
fn columns_text(columns: &[&str]) -> Option<String> {
    (!columns.is_empty()).then(|| columns.join(", "))
}

/// A link cell: the column and its text.
type LinkCell<'a> = Option<(&'a str, &'a str)>;

/// A row's non-empty cells, sorted by where they go.
#[derive(Default)]
struct RowCells<'a> {
    fields: Vec<Gathered<'a>>,
    company: LinkCell<'a>,
    contact: LinkCell<'a>,
    deal: LinkCell<'a>,
    stage: LinkCell<'a>,
    status: LinkCell<'a>,
    full_name: LinkCell<'a>,
    tags: Vec<(&'a str, String)>,
}

impl RowCells<'_> {
    fn has(&self, field: &str) -> bool {
        self.fields.iter().any(|item| item.field.name == field)
    }

    /// The link cells with the reference field each one fills.
    fn link_cells(&self) -> [(&'static str, LinkCell<'_>); 4] {
        [
            ("company_id", self.company),
            ("contact_id", self.contact),
            ("deal_id", self.deal),
            ("stage_id", self.stage.or(self.status)),
        ]
    }
}

/// What a row's links resolve to; a company may still have to be created.
struct Links {
    company: Option<CompanyLink>,
    contact: Option<i64>,
    deal: Option<i64>,
    stage: Option<i64>,
}

/// The row's company: one that exists, or one to create with this name.
enum CompanyLink {
    Existing(i64),
    New(Stored),
}

/// The existing record a row updates, and why.
struct Match {
    hit: Hit,
    reason: String,
}

/// Everything the rows need, computed before the write transaction (which borrows the session).
pub(crate) struct RowWriter {
    entity: Entity,
    role: RoleDef,
    fields: Vec<EffectiveField>,
    company_fields: Vec<EffectiveField>,
    contact_fields: Vec<EffectiveField>,
    deal_fields: Vec<EffectiveField>,
    stamp: Stamp,
    edit_scope: Option<Scoped>,
    company_view: Option<Scoped>,
    contact_view: Option<Scoped>,
    deal_view: Option<Scoped>,
    may_create_companies: bool,
    stages: Vec<StageName>,
    stage_map: Vec<(String, i64)>,
    defaults: Vec<(String, String)>,
    /// Writes the imported entity's rows (every built-in column; an empty cell keeps what an
    /// updated record holds).
    record: RecordWriter,
    /// Writes the companies a row links to by a name not found.
    company: RecordWriter,
    lists_sql: Option<String>,
    /// How many later-email indexes have entries (grows as the import writes contacts).
    later_emails: std::cell::Cell<usize>,
    /// Where the importer sees tags: a tag takes a spelling they can see, else theirs.
    tag_sight: tags::TagSight,
}

fn scope_of(
    session: &Session,
    role: &RoleDef,
    entity: Entity,
    action: Action,
) -> Result<Option<Scoped>> {
    match role.scope(entity, action) {
        Scope::None => Ok(None),
        scope => session.scope_condition(scope).map(Some),
    }
}

/// An error's message without the variant's prefix, for a row report.
fn reason(error: &Error) -> String {
    match error {
        Error::Invalid(message) | Error::Forbidden(message) => message.clone(),
        other => other.to_string(),
    }
}

fn text_value(text: &str) -> serde_json::Value {
    serde_json::Value::String(text.to_owned())
}

impl RowWriter {
    /// Checks the import and create rights on `entity` and gathers what the transaction needs.
    pub(crate) fn new(
        session: &Session,
        entity: Entity,
        options: &ImportOptions,
        defaults: &[(&str, &str)],
    ) -> Result<Self> {
        let (role, _) = session.require_scope(entity, Action::Import)?;
        // Importing creates records: the role must be able to create them at all.
        session.require_scope(entity, Action::Create)?;
        let stages: Vec<StageName> = session
            .pipeline()?
            .into_iter()
            .map(|stage| StageName {
                id: stage.id,
                name: stage.name,
                outcome: stage.outcome,
            })
            .collect();
        let mut stage_map = Vec::with_capacity(options.stage_map.len());
        for (theirs, ours) in &options.stage_map {
            let stage = stages
                .iter()
                .find(|stage| stage.name.eq_ignore_ascii_case(ours.trim()))
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "stage names: the pipeline has no stage {ours:?} (stages: {})",
                        stage_list(&stages)
                    ))
                })?;
            stage_map.push((theirs.trim().to_owned(), stage.id));
        }
        let fields = session.fields(entity)?;
        let builtin: Vec<&str> = fields
            .iter()
            .filter(|field| field.custom_id.is_none())
            .map(|field| field.name.as_str())
            .collect();
        let record = RecordWriter::new(entity, &builtin, entity == Entity::Contact, Nulls::Keep);
        let list_columns: Vec<&str> = fields
            .iter()
            .filter(|field| {
                field.custom_id.is_none() && matches!(field.kind, Kind::Emails | Kind::Phones)
            })
            .map(|field| field.name.as_str())
            .collect();
        let lists_sql = (!list_columns.is_empty()).then(|| {
            format!(
                "SELECT {} FROM {} WHERE id = ?1",
                list_columns.join(", "),
                entity.table()
            )
        });
        Ok(Self {
            entity,
            may_create_companies: role.scope(Entity::Company, Action::Create) != Scope::None,
            edit_scope: scope_of(session, &role, entity, Action::Edit)?,
            company_view: scope_of(session, &role, Entity::Company, Action::View)?,
            contact_view: scope_of(session, &role, Entity::Contact, Action::View)?,
            deal_view: scope_of(session, &role, Entity::Deal, Action::View)?,
            fields,
            company_fields: session.fields(Entity::Company)?,
            contact_fields: session.fields(Entity::Contact)?,
            deal_fields: session.fields(Entity::Deal)?,
            stamp: Stamp {
                user_id: session.user().id,
                team: session.team_id()?,
                now: chrono::Utc::now().to_rfc3339(),
            },
            role,
            stages,
            stage_map,
            defaults: defaults
                .iter()
                .map(|(field, value)| ((*field).to_owned(), (*value).to_owned()))
                .collect(),
            record,
            company: RecordWriter::new(Entity::Company, &["name"], false, Nulls::Keep),
            lists_sql,
            later_emails: std::cell::Cell::new(lookup::later_emails_in_use(
                session.store().conn(),
            )?),
            tag_sight: session.tag_sight(entity)?,
        })
    }

    /// The fields of the record type being imported.
    pub(crate) fn fields(&self) -> &[EffectiveField] {
        &self.fields
    }

    /// Validates one row and writes it inside `tx`; the outcome goes to the report. A row that
    /// updates an existing record records each changed field in `audit`, old → new, as an
    /// edit does.
    pub(crate) fn apply(
        &self,
        tx: &Transaction<'_>,
        row: u64,
        cells: &[Cell<'_>],
        report: &mut ImportReport,
        audit: &mut AuditSink,
    ) -> Result<()> {
        match self.apply_row(tx, cells, report, audit) {
            Ok(mut entry) => {
                entry.row = row;
                report.accept(entry);
                Ok(())
            }
            Err(Stop::Rejected(column, why)) => {
                report.reject(row, column.as_deref(), why);
                Ok(())
            }
            Err(Stop::Failed(error)) => Err(error),
        }
    }

    /// Whether the role sees `field_name` of `fields` on a record at `allowed`.
    fn sees(&self, fields: &[EffectiveField], field_name: &str, allowed: Level) -> bool {
        fields
            .iter()
            .find(|field| field.name == field_name)
            .is_some_and(|field| view::visible(&self.role, field, allowed))
    }

    fn allowed_on(&self, hit: &Hit) -> Level {
        view::allowed_level(&self.role, hit.owner_id == self.stamp.user_id)
    }

    fn label<'f>(&'f self, field: &'f str) -> &'f str {
        self.fields
            .iter()
            .find(|candidate| candidate.name == field)
            .map_or(field, |candidate| candidate.label.as_str())
    }

    /// Checks every value and link of the row, then writes it. Nothing is written before the
    /// last check has passed.
    fn apply_row(
        &self,
        tx: &Transaction<'_>,
        cells: &[Cell<'_>],
        report: &mut ImportReport,
        audit: &mut AuditSink,
    ) -> RowResult<PlanEntry> {
        let row = self.sort_cells(cells)?;
        let parsed = self.parse_fields(&row, cells)?;
        let links = self.resolve_links(tx, &row, report)?;
        let found = self.existing(tx, &parsed, links.company.as_ref())?;
        if let Some(found) = &found {
            self.check_visible_on(found, &parsed, &row)?;
        }
        // Every check passed: write.
        let mut new_company = None;
        let company_id = match links.company {
            Some(CompanyLink::Existing(id)) => Some(id),
            Some(CompanyLink::New(name)) => {
                new_company = name.text.clone();
                Some(self.create_company(tx, &name)?)
            }
            None => None,
        };
        let link_ids = [
            ("company_id", company_id),
            ("contact_id", links.contact),
            ("deal_id", links.deal),
            ("stage_id", links.stage),
        ];
        // Names are only for the plan's first rows; later rows are counted.
        let listed = !report.plan_full();
        let name = if listed {
            self.record_name(&parsed)
        } else {
            String::new()
        };
        let tags: Vec<&str> = row.tags.iter().map(|(_, tag)| tag.as_str()).collect();
        Ok(match found {
            Some(found) => {
                let before = view::raw_values(tx, self.entity, found.hit.id, &self.fields)?;
                self.update(tx, found.hit.id, &parsed, &link_ids)?;
                self.add_tags(tx, found.hit.id, &tags)?;
                self.record_changes(tx, found.hit.id, &before, audit)?;
                search::reindex(tx, self.entity, found.hit.id)?;
                PlanEntry {
                    row: 0,
                    action: PlanAction::Update,
                    name,
                    existing_id: Some(found.hit.id),
                    existing_name: listed.then(|| self.existing_name(&found.hit)).flatten(),
                    matched_by: Some(found.reason),
                    new_company,
                }
            }
            None => {
                let id = self.create(tx, &parsed, &link_ids, &tags)?;
                self.add_tags(tx, id, &tags)?;
                PlanEntry {
                    row: 0,
                    action: PlanAction::Create,
                    name,
                    existing_id: None,
                    existing_name: None,
                    matched_by: None,
                    new_company,
                }
            }
        })
    }

    /// One bound value per built-in column: the row's value, a link, or NULL.
    fn column_values(
        &self,
        parsed: &[Parsed<'_, '_>],
        links: &[(&str, Option<i64>)],
        merged: &[(String, Stored)],
    ) -> Vec<SqlValue> {
        self.fields
            .iter()
            .filter(|field| field.custom_id.is_none())
            .map(|field| {
                if let Some((_, stored)) = merged.iter().find(|(name, _)| *name == field.name) {
                    return stored.sql.clone();
                }
                if let Some((_, stored, _)) = parsed
                    .iter()
                    .find(|(parsed, _, _)| parsed.name == field.name)
                {
                    return stored.sql.clone();
                }
                links
                    .iter()
                    .find(|(name, _)| *name == field.name)
                    .and_then(|(_, id)| *id)
                    .map_or(SqlValue::Null, SqlValue::Integer)
            })
            .collect()
    }

    fn create(
        &self,
        tx: &Transaction<'_>,
        parsed: &[Parsed<'_, '_>],
        links: &[(&str, Option<i64>)],
        tags: &[&str],
    ) -> Result<i64> {
        let values = self.column_values(parsed, links, &[]);
        if self.entity == Entity::Contact {
            self.note_emails(parsed, &[]);
        }
        let id = self
            .record
            .insert(tx, values, email_key(emails_of(parsed, &[])), &self.stamp)?;
        for (field, stored, _) in parsed
            .iter()
            .filter(|(field, _, _)| field.custom_id.is_some())
        {
            set_custom(tx, self.entity, id, field, stored)?;
        }
        // Index from the values in hand, as `search::reindex` would read them back.
        let mut texts = search::index_texts(
            parsed
                .iter()
                .filter(|(field, _, _)| field.custom_id.is_none())
                .filter_map(|(field, stored, _)| stored.text.as_deref().map(|text| (*field, text))),
        );
        for tag in tags {
            let slot = &mut texts[usize::from(Level::Internal.as_u8())];
            slot.push_str(tag);
            slot.push(' ');
        }
        search::put(tx, self.entity, id, &texts)?;
        Ok(id)
    }

    /// Writes the row's values over the existing record: lists (emails, phones) are merged —
    /// the existing items first, new ones added — other values replace, absent ones stay.
    fn update(
        &self,
        tx: &Transaction<'_>,
        id: i64,
        parsed: &[Parsed<'_, '_>],
        links: &[(&str, Option<i64>)],
    ) -> Result<()> {
        let mut merged: Vec<(String, Stored)> = Vec::new();
        if let Some(sql) = &self.lists_sql {
            let list_fields: Vec<&EffectiveField> = self
                .fields
                .iter()
                .filter(|field| {
                    field.custom_id.is_none() && matches!(field.kind, Kind::Emails | Kind::Phones)
                })
                .collect();
            let existing: Vec<Option<String>> = tx.prepare_cached(sql)?.query_row([id], |row| {
                (0..list_fields.len())
                    .map(|index| row.get::<_, Option<String>>(index))
                    .collect()
            })?;
            for (field, before) in list_fields.iter().zip(existing) {
                let Some((_, stored, _)) = parsed
                    .iter()
                    .find(|(parsed, _, _)| parsed.name == field.name)
                else {
                    continue;
                };
                let before: Vec<String> = before
                    .and_then(|json| serde_json::from_str(&json).ok())
                    .unwrap_or_default();
                let new: Vec<String> = stored
                    .text
                    .as_deref()
                    .map(|text| text.split(", ").map(str::to_owned).collect())
                    .unwrap_or_default();
                let union = values::union(&before, &new, values::list_key(field.kind));
                merged.push((
                    field.name.clone(),
                    Stored {
                        sql: SqlValue::Text(serde_json::to_string(&union).unwrap_or_default()),
                        text: Some(union.join(", ")),
                    },
                ));
            }
        }
        let values = self.column_values(parsed, links, &merged);
        if self.entity == Entity::Contact {
            self.note_emails(parsed, &merged);
        }
        let key = email_key(emails_of(parsed, &merged));
        self.record.update(tx, id, values, key, &self.stamp)?;
        for (field, stored, _) in parsed
            .iter()
            .filter(|(field, _, _)| field.custom_id.is_some())
        {
            set_custom(tx, self.entity, id, field, stored)?;
        }
        Ok(())
    }

    /// Records each field the update changed, old → new, as an edit does.
    fn record_changes(
        &self,
        tx: &Transaction<'_>,
        id: i64,
        before: &std::collections::BTreeMap<String, Option<String>>,
        audit: &mut AuditSink,
    ) -> Result<()> {
        let after = view::raw_values(tx, self.entity, id, &self.fields)?;
        for field in &self.fields {
            let old = before.get(&field.name).cloned().flatten();
            let new = after.get(&field.name).cloned().flatten();
            if old != new {
                audit.record(
                    AuditEvent::new(AuditAction::Update)
                        .target(self.entity.name(), id)
                        .field(&field.name, field.level.as_u8())
                        .change(old, new),
                );
            }
        }
        Ok(())
    }

    /// Keeps [`RowWriter::later_emails`] true when this import writes a contact with more
    /// emails than any before it.
    fn note_emails(&self, parsed: &[Parsed<'_, '_>], merged: &[(String, Stored)]) {
        let count = emails_of(parsed, merged).map_or(0, |list| list.split(", ").count());
        let later = count.saturating_sub(1).min(4);
        if later > self.later_emails.get() {
            self.later_emails.set(later);
        }
    }

    fn add_tags(&self, tx: &Transaction<'_>, id: i64, tags: &[&str]) -> Result<()> {
        for tag in tags {
            tags::link_tag(tx, &self.tag_sight, id, tag)?;
        }
        Ok(())
    }
}

/// The emails a contact is written with (merged, else the row's), as display text.
fn emails_of<'a>(parsed: &'a [Parsed<'a, 'a>], merged: &'a [(String, Stored)]) -> Option<&'a str> {
    merged
        .iter()
        .find(|(name, _)| name == "emails")
        .map(|(_, stored)| stored)
        .or_else(|| {
            parsed
                .iter()
                .find(|(field, _, _)| field.name == "emails")
                .map(|(_, stored, _)| stored)
        })
        .and_then(|stored| stored.text.as_deref())
}

fn stage_list(stages: &[StageName]) -> String {
    stages
        .iter()
        .map(|stage| stage.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
