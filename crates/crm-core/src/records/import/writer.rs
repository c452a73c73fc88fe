//! Writing one import row, inside the import's transaction: values tidied and checked as
//! `create` / `update` check them, links resolved by name, the existing record found, then the
//! record created or updated, with its tags and search index row.
//!
//! Nothing is written for a row until every check has passed, so a rejected row leaves no
//! company behind even within the (rolled back) transaction, and a dry run's counts are exact.
//! Statements are fixed per record type (every column is bound; an update keeps a column whose
//! row value is empty with `coalesce`), so each is prepared once per import.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Transaction, params, params_from_iter};

use super::super::fields::{Entity, Kind, Level};
use super::super::pipeline::Outcome;
use super::super::tags;
use super::super::{EffectiveField, Stored, parse_value, search, set_custom, view};
use super::dates::DateOrder;
use super::lookup::{self, Hit};
use super::values::{self, ContactRef, MAX_TAG_CHARS};
use super::{ImportOptions, ImportReport, PlanAction, PlanEntry, Target};
use crate::audit::{Action as AuditAction, AuditEvent};
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
    user_id: i64,
    team: Option<i64>,
    now: String,
    edit_scope: Option<Scoped>,
    company_view: Option<Scoped>,
    contact_view: Option<Scoped>,
    deal_view: Option<Scoped>,
    may_create_companies: bool,
    stages: Vec<StageName>,
    stage_map: Vec<(String, i64)>,
    defaults: Vec<(String, String)>,
    insert_sql: String,
    update_sql: String,
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
        let is_contact = entity == Entity::Contact;
        let mut insert_columns: Vec<&str> = builtin.clone();
        insert_columns.extend([
            "owner_id",
            "team_id",
            "created_at",
            "created_by",
            "updated_at",
            "updated_by",
        ]);
        if is_contact {
            insert_columns.push("email_key");
        }
        let insert_sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            entity.table(),
            insert_columns.join(", "),
            vec!["?"; insert_columns.len()].join(", ")
        );
        let mut sets = vec!["updated_at = ?".to_owned(), "updated_by = ?".to_owned()];
        sets.extend(
            builtin
                .iter()
                .map(|name| format!("{name} = coalesce(?, {name})")),
        );
        if is_contact {
            sets.push("email_key = coalesce(?, email_key)".into());
        }
        let update_sql = format!(
            "UPDATE {} SET {} WHERE id = ?",
            entity.table(),
            sets.join(", ")
        );
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
            user_id: session.user().id,
            team: session.team_id()?,
            now: chrono::Utc::now().to_rfc3339(),
            role,
            stages,
            stage_map,
            defaults: defaults
                .iter()
                .map(|(field, value)| ((*field).to_owned(), (*value).to_owned()))
                .collect(),
            insert_sql,
            update_sql,
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
        view::allowed_level(&self.role, hit.owner_id == self.user_id)
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

    /// Sorts the non-empty cells by target: several columns may feed one field (address
    /// parts, email columns), a full name fills first and last name, and the layout's defaults
    /// fill fields no column gave.
    fn sort_cells<'a>(&'a self, cells: &[Cell<'a>]) -> RowResult<RowCells<'a>> {
        let mut row = RowCells::default();
        for cell in cells {
            let value = cell.value.trim();
            if value.is_empty() {
                continue;
            }
            let link = Some((cell.column, value));
            match cell.target {
                Target::Ignore => {}
                Target::Company => row.company = link,
                Target::Contact => row.contact = link,
                Target::Deal => row.deal = link,
                Target::Stage => row.stage = link,
                Target::Status => row.status = link,
                Target::FullName => row.full_name = link,
                Target::Tags => row.tags.extend(
                    values::split_tags(value)
                        .into_iter()
                        .map(|tag| (cell.column, tag)),
                ),
                Target::Field(name) => {
                    let Some(field) = self.fields.iter().find(|field| field.name == *name) else {
                        continue;
                    };
                    match row.fields.iter_mut().find(|item| item.field.name == *name) {
                        Some(item) => {
                            let separator = match field.kind {
                                Kind::Text | Kind::DateTime => " ",
                                _ => ", ",
                            };
                            item.text.push_str(separator);
                            item.text.push_str(value);
                            item.columns.push(cell.column);
                            item.order = item.order.or(cell.date_order);
                        }
                        None => row.fields.push(Gathered {
                            field,
                            text: value.to_owned(),
                            columns: vec![cell.column],
                            order: cell.date_order,
                        }),
                    }
                }
            }
        }
        if row.fields.is_empty()
            && row.full_name.is_none()
            && row.tags.is_empty()
            && row.link_cells().iter().all(|(_, cell)| cell.is_none())
        {
            return reject(None, "the row is empty");
        }
        let field = |name: &str| self.fields.iter().find(|field| field.name == name);
        if let Some((column, name)) = row.full_name
            && !row.has("last_name")
        {
            let (first, last) = match name.rsplit_once(' ') {
                Some((first, last)) => (Some(first.trim()), last.trim()),
                None => (None, name),
            };
            if let (Some(first), Some(field)) = (first, field("first_name"))
                && !row.has("first_name")
            {
                row.fields.push(Gathered {
                    field,
                    text: first.to_owned(),
                    columns: vec![column],
                    order: None,
                });
            }
            if let Some(field) = field("last_name") {
                row.fields.push(Gathered {
                    field,
                    text: last.to_owned(),
                    columns: vec![column],
                    order: None,
                });
            }
        }
        for (name, value) in &self.defaults {
            if !row.has(name)
                && let Some(field) = field(name)
            {
                row.fields.push(Gathered {
                    field,
                    text: value.clone(),
                    columns: Vec::new(),
                    order: None,
                });
            }
        }
        Ok(row)
    }

    /// Tidies, checks and parses every value as `create` / `update` would; required fields and
    /// tag lengths are checked too.
    fn parse_fields<'r>(
        &self,
        row: &'r RowCells<'_>,
        cells: &[Cell<'_>],
    ) -> RowResult<Vec<Parsed<'r, 'r>>> {
        let mut parsed: Vec<Parsed<'_, '_>> = Vec::with_capacity(row.fields.len());
        for item in &row.fields {
            let field = item.field;
            let column = columns_text(&item.columns);
            if !view::visible(&self.role, field, self.role.clearance) {
                return reject(
                    column.as_deref(),
                    format!("the {} field is above your clearance", field.label),
                );
            }
            let value = match values::normalise(field, &item.text, item.order) {
                Ok(value) => value,
                Err(why) => return reject(column.as_deref(), format!("{}: {why}", field.label)),
            };
            if value.is_empty() && !field.required {
                continue;
            }
            match parse_value(field, &text_value(&value)) {
                Ok(stored) => parsed.push((field, stored, &item.columns)),
                Err(error) => return reject(column.as_deref(), reason(&error)),
            }
        }
        for field in self.fields.iter().filter(|field| field.required) {
            if !parsed
                .iter()
                .any(|(parsed, _, _)| parsed.name == field.name)
            {
                let columns: Vec<&str> = cells
                    .iter()
                    .filter(|cell| match cell.target {
                        Target::Field(name) => *name == field.name,
                        Target::FullName => field.name == "last_name",
                        _ => false,
                    })
                    .map(|cell| cell.column)
                    .collect();
                return reject(
                    columns_text(&columns).as_deref(),
                    format!("{} is required", field.label),
                );
            }
        }
        for (column, tag) in &row.tags {
            if tag.chars().count() > MAX_TAG_CHARS {
                return reject(
                    Some(column),
                    format!("a tag is 1 to {MAX_TAG_CHARS} characters"),
                );
            }
        }
        Ok(parsed)
    }

    /// Finds what the row links to by name; a missing company is only planned, not created.
    fn resolve_links(
        &self,
        tx: &Transaction<'_>,
        row: &RowCells<'_>,
        report: &mut ImportReport,
    ) -> RowResult<Links> {
        for (name, cell) in row.link_cells() {
            if let Some((column, _)) = cell
                && !self.sees(&self.fields, name, self.role.clearance)
            {
                return reject(
                    Some(column),
                    format!("the {} field is above your clearance", self.label(name)),
                );
            }
        }
        Ok(Links {
            stage: self.stage(row.stage, row.status, report)?,
            contact: row.contact.map(|cell| self.contact(tx, cell)).transpose()?,
            deal: row.deal.map(|cell| self.deal(tx, cell)).transpose()?,
            company: row.company.map(|cell| self.company(tx, cell)).transpose()?,
        })
    }

    /// Refuses to update a record on which the importer could not see one of the fields the
    /// row writes (writing a field you cannot read would let you probe it).
    fn check_visible_on(
        &self,
        found: &Match,
        parsed: &[Parsed<'_, '_>],
        row: &RowCells<'_>,
    ) -> RowResult<()> {
        let allowed = self.allowed_on(&found.hit);
        let links = row.link_cells();
        let hidden = parsed
            .iter()
            .map(|(field, _, columns)| (field.name.as_str(), *columns))
            .chain(links.iter().filter_map(|(name, cell)| {
                cell.as_ref()
                    .map(|(column, _)| (*name, std::slice::from_ref(column)))
            }))
            .find(|(name, _)| !self.sees(&self.fields, name, allowed));
        match hidden {
            Some((name, columns)) => reject(
                columns_text(columns).as_deref(),
                format!(
                    "the {} field of the existing {} with the {} is above your clearance",
                    self.label(name),
                    self.entity.name(),
                    found.reason
                ),
            ),
            None => Ok(()),
        }
    }

    /// The stage a row names (by name, `--stage-map`, or won/lost status), checked.
    fn stage(
        &self,
        stage: LinkCell<'_>,
        status: LinkCell<'_>,
        report: &mut ImportReport,
    ) -> RowResult<Option<i64>> {
        let by_outcome = |outcome: Outcome| {
            self.stages
                .iter()
                .find(|stage| stage.outcome == outcome)
                .map(|stage| stage.id)
        };
        if let Some((column, value)) = status {
            let ended = match value.to_ascii_lowercase().as_str() {
                "won" => Some(Outcome::Won),
                "lost" => Some(Outcome::Lost),
                _ => None,
            };
            match ended {
                Some(outcome) => {
                    let outcome_name = outcome.name();
                    return match by_outcome(outcome) {
                        Some(id) => Ok(Some(id)),
                        None => reject(
                            Some(column),
                            format!("the pipeline has no {outcome_name} stage"),
                        ),
                    };
                }
                None if value.eq_ignore_ascii_case("open") => {}
                None => return reject(Some(column), "must be open, won or lost"),
            }
        }
        let Some((column, name)) = stage else {
            return Ok(None);
        };
        let mapped = self
            .stage_map
            .iter()
            .find(|(theirs, _)| theirs.eq_ignore_ascii_case(name))
            .map(|(_, id)| *id);
        let named = || {
            self.stages
                .iter()
                .find(|stage| stage.name.eq_ignore_ascii_case(name))
                .map(|stage| stage.id)
        };
        // HubSpot's and Salesforce's names for the won and lost stages.
        let outcome = || match name.to_ascii_lowercase().as_str() {
            "closed won" | "closedwon" => by_outcome(Outcome::Won),
            "closed lost" | "closedlost" => by_outcome(Outcome::Lost),
            _ => None,
        };
        match mapped.or_else(named).or_else(outcome) {
            Some(id) => Ok(Some(id)),
            None => {
                report.notice(format!(
                    "stage {name:?} (column {column:?}) is not in the pipeline: map the stage name to one of its stages ({})",
                    stage_list(&self.stages)
                ));
                reject(
                    Some(column),
                    format!(
                        "no pipeline stage of that name: map the stage name to one of its stages ({})",
                        stage_list(&self.stages)
                    ),
                )
            }
        }
    }

    /// The one contact the row names, by email or full name, among those the importer sees.
    fn contact(&self, tx: &Transaction<'_>, (column, value): (&str, &str)) -> RowResult<i64> {
        let Some(scope) = &self.contact_view else {
            return reject(
                Some(column),
                "your role cannot see contacts, so a row cannot name one",
            );
        };
        let (found, by_email) = match values::contact_ref(value) {
            ContactRef::Email(email) => (
                lookup::contacts_by_email(tx, &[email], self.later_emails.get(), scope)?,
                true,
            ),
            ContactRef::Name(name) => (lookup::contacts_by_name(tx, &name, scope)?, false),
        };
        let seen: Vec<&Hit> = found
            .iter()
            .filter(|hit| {
                let allowed = self.allowed_on(hit);
                if by_email {
                    self.sees(&self.contact_fields, "emails", allowed)
                } else {
                    self.sees(&self.contact_fields, "last_name", allowed)
                        && self.sees(&self.contact_fields, "first_name", allowed)
                }
            })
            .collect();
        match (seen.as_slice(), by_email) {
            ([], true) => reject(
                Some(column),
                "no contact with that email that you can see (import contacts first)",
            ),
            ([], false) => reject(
                Some(column),
                "no contact of that name that you can see (import contacts first)",
            ),
            // Several contacts may share an email; the oldest is the one dedupe would update.
            ([first, ..], true) | ([first], false) => Ok(first.id),
            (several, false) => reject(
                Some(column),
                format!(
                    "{} contacts have that name: name the contact by email instead",
                    several.len()
                ),
            ),
        }
    }

    /// The one deal the row names by title, among those the importer sees.
    fn deal(&self, tx: &Transaction<'_>, (column, title): (&str, &str)) -> RowResult<i64> {
        let Some(scope) = &self.deal_view else {
            return reject(
                Some(column),
                "your role cannot see deals, so a row cannot name one",
            );
        };
        let found = lookup::deals_by_title(tx, title, None, scope)?;
        let seen: Vec<&Hit> = found
            .iter()
            .filter(|hit| self.sees(&self.deal_fields, "title", self.allowed_on(hit)))
            .collect();
        match seen.as_slice() {
            [] => reject(
                Some(column),
                "no deal with that title that you can see (import deals first)",
            ),
            [deal] => Ok(deal.id),
            several => reject(
                Some(column),
                format!("{} deals have that title", several.len()),
            ),
        }
    }

    /// The company the row names: the oldest visible one of that name, or a new one.
    fn company(
        &self,
        tx: &Transaction<'_>,
        (column, name): (&str, &str),
    ) -> RowResult<CompanyLink> {
        if let Some(scope) = &self.company_view {
            let found = lookup::companies_by_name(tx, name, scope)?;
            if let Some(hit) = found
                .iter()
                .find(|hit| self.sees(&self.company_fields, "name", self.allowed_on(hit)))
            {
                return Ok(CompanyLink::Existing(hit.id));
            }
        }
        if !self.may_create_companies {
            return reject(
                Some(column),
                "no company of that name that you can see, and your role cannot create companies",
            );
        }
        let Some(name_field) = self
            .company_fields
            .iter()
            .find(|field| field.name == "name")
        else {
            return Err(Error::Invalid("the company name field is missing".into()).into());
        };
        match parse_value(name_field, &text_value(name)) {
            Ok(stored) => Ok(CompanyLink::New(stored)),
            Err(error) => reject(Some(column), reason(&error)),
        }
    }

    /// The existing record the row updates: the oldest one the importer may edit that shares
    /// the record type's key, on which the key's field is visible.
    fn existing(
        &self,
        tx: &Transaction<'_>,
        parsed: &[Parsed<'_, '_>],
        company: Option<&CompanyLink>,
    ) -> Result<Option<Match>> {
        let Some(scope) = &self.edit_scope else {
            return Ok(None);
        };
        let value = |name: &str| {
            parsed
                .iter()
                .find(|(field, _, _)| field.name == name)
                .and_then(|(_, stored, columns)| {
                    let column = columns_text(columns).unwrap_or_else(|| "-".into());
                    stored.text.as_deref().map(|text| (text, column))
                })
        };
        let first_visible = |found: Vec<Hit>, field: &str, why: &dyn Fn() -> String| {
            found
                .into_iter()
                .find(|hit| self.sees(&self.fields, field, self.allowed_on(hit)))
                .map(|hit| Match { hit, reason: why() })
        };
        Ok(match self.entity {
            Entity::Contact => match value("emails") {
                Some((emails, column)) => {
                    let emails: Vec<String> = emails.split(", ").map(str::to_owned).collect();
                    let found =
                        lookup::contacts_by_email(tx, &emails, self.later_emails.get(), scope)?;
                    first_visible(found, "emails", &|| {
                        format!("same email (column {column:?})")
                    })
                }
                None => None,
            },
            Entity::Company => {
                let by_name = match value("name") {
                    Some((name, column)) => {
                        first_visible(lookup::companies_by_name(tx, name, scope)?, "name", &|| {
                            format!("same name (column {column:?})")
                        })
                    }
                    None => None,
                };
                match (by_name, value("website")) {
                    (Some(found), _) => Some(found),
                    (None, Some((website, column))) => first_visible(
                        lookup::companies_by_domain(tx, website, scope)?,
                        "website",
                        &|| format!("same website domain (column {column:?})"),
                    ),
                    (None, None) => None,
                }
            }
            Entity::Deal => {
                let company_id = match company {
                    // A company about to be created has no deals yet.
                    Some(CompanyLink::New(_)) => return Ok(None),
                    Some(CompanyLink::Existing(id)) => Some(*id),
                    None => None,
                };
                match value("title") {
                    Some((title, column)) => first_visible(
                        lookup::deals_by_title(tx, title, Some(company_id), scope)?,
                        "title",
                        &|| format!("same title (column {column:?}) and company"),
                    ),
                    None => None,
                }
            }
            // Activities and notes have no natural key: every row is a new one.
            Entity::Activity | Entity::Note => None,
        })
    }

    /// The name of the record a row describes, for the plan.
    fn record_name(&self, parsed: &[Parsed<'_, '_>]) -> String {
        let text = |name: &str| {
            parsed
                .iter()
                .find(|(field, _, _)| field.name == name)
                .and_then(|(_, stored, _)| stored.text.clone())
        };
        match self.entity {
            Entity::Contact => [text("first_name"), text("last_name")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
            Entity::Note => text("body")
                .map(|body| body.chars().take(60).collect())
                .unwrap_or_default(),
            entity => text(entity.title_field()).unwrap_or_default(),
        }
    }

    /// The existing record's name, from fields the importer may see on it.
    fn existing_name(&self, hit: &Hit) -> Option<String> {
        let allowed = self.allowed_on(hit);
        let names: &[&str] = match self.entity {
            Entity::Contact => &["emails", "first_name", "last_name"],
            Entity::Company => &["name"],
            Entity::Deal => &["title"],
            Entity::Activity | Entity::Note => &[],
        };
        let parts: Vec<String> = names
            .iter()
            .zip(&hit.values)
            .filter(|(name, _)| **name != "emails" && self.sees(&self.fields, name, allowed))
            .filter_map(|(_, value)| value.clone())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    fn create_company(&self, tx: &Transaction<'_>, name: &Stored) -> Result<i64> {
        tx.prepare_cached(
            "INSERT INTO companies (name, owner_id, team_id, created_at, created_by, updated_at, updated_by)
             VALUES (?1, ?2, ?3, ?4, ?2, ?4, ?2)",
        )?
        .execute(params![name.sql, self.user_id, self.team, self.now])?;
        let id = tx.last_insert_rowid();
        if let Some(name_field) = self
            .company_fields
            .iter()
            .find(|field| field.name == "name")
        {
            let texts = search::index_texts(std::iter::once((
                name_field,
                name.text.as_deref().unwrap_or_default(),
            )));
            search::put(tx, Entity::Company, id, &texts)?;
        }
        Ok(id)
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
        let mut values = self.column_values(parsed, links, &[]);
        values.extend([
            SqlValue::Integer(self.user_id),
            self.team.map_or(SqlValue::Null, SqlValue::Integer),
            SqlValue::Text(self.now.clone()),
            SqlValue::Integer(self.user_id),
            SqlValue::Text(self.now.clone()),
            SqlValue::Integer(self.user_id),
        ]);
        if self.entity == Entity::Contact {
            values.push(email_key(parsed, &[]).map_or(SqlValue::Null, SqlValue::Text));
            self.note_emails(parsed, &[]);
        }
        tx.prepare_cached(&self.insert_sql)?
            .execute(params_from_iter(values))?;
        let id = tx.last_insert_rowid();
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
        let mut values = vec![
            SqlValue::Text(self.now.clone()),
            SqlValue::Integer(self.user_id),
        ];
        values.extend(self.column_values(parsed, links, &merged));
        if self.entity == Entity::Contact {
            values.push(email_key(parsed, &merged).map_or(SqlValue::Null, SqlValue::Text));
            self.note_emails(parsed, &merged);
        }
        values.push(SqlValue::Integer(id));
        tx.prepare_cached(&self.update_sql)?
            .execute(params_from_iter(values))?;
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

/// The contact's dedupe key: its first email in lower case (as `records::email_key` keeps it).
fn email_key(parsed: &[Parsed<'_, '_>], merged: &[(String, Stored)]) -> Option<String> {
    emails_of(parsed, merged)
        .and_then(|list| list.split(", ").next())
        .map(str::to_lowercase)
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
