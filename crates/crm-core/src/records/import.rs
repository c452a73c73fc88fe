//! Importing contacts from CSV files (and, through the same row path, vCards).
//!
//! * **Mapping.** The header row is matched against the export layouts of HubSpot, Salesforce,
//!   Pipedrive, Google Contacts and Outlook (and our own export); `--map "Header=field"` adds
//!   or overrides single columns. Unmapped columns are listed and ignored.
//! * **One transaction.** Every row is validated and written inside one [`Session::write`], so
//!   an import commits entirely or not at all; a dry run is the same work rolled back, which
//!   makes its created / updated / rejected report exact. Any rejected row rolls everything back.
//! * **Same rules as `create` / `update`.** Each value goes through the field registry's parser
//!   (`parse_value`) and the role view's visibility check; contacts are created owned by the
//!   importer, or update the first contact with the same first email that the importer may edit.
//!   Companies named in a company column are found by name among those the importer may see,
//!   or created (owned by the importer) if the role may create companies.
//! * **Audited.** One `import` entry (format, rows, created, updated); every contact the import
//!   updates also records each changed field old → new, as an edit does. Those entries wait in
//!   memory until the transaction commits, so only an import that updates many existing
//!   contacts grows with them.
//! * **Streaming.** Rows are read one at a time with the `csv` crate into one reused record;
//!   only counts and the first [`MAX_ERRORS`] row errors are kept, so memory does not grow
//!   with the file.
//! * **Encodings.** UTF-8 with or without BOM, Windows-1252 and Windows-1251: chosen, or sniffed
//!   from the first 64 KiB (valid UTF-8 wins; otherwise whichever code page turns the high
//!   bytes into letters that sit together in words).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use chrono::Utc;
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Transaction, params_from_iter};
use serde::Serialize;

use super::fields::{Entity, Kind};
use super::{
    EffectiveField, RecordInput, Stored, email_key, parse_value, search, set_custom, view,
};
use crate::audit::{Action as AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::policy::{Action, RoleDef, Scope};
use crate::vault::{AuditSink, Progress, ProgressFn, Session};

/// At most this many row errors are kept in a report (the count goes on).
pub const MAX_ERRORS: usize = 1_000;
const SNIFF_BYTES: u64 = 64 * 1024;
const PROGRESS_EVERY: u64 = 10_000;

/// The character encoding of a CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceEncoding {
    /// Sniff the first 64 KiB.
    Auto,
    /// UTF-8, with or without a byte-order mark.
    Utf8,
    /// Windows-1252 (Western European Excel exports).
    Windows1252,
    /// Windows-1251 (Cyrillic Excel exports).
    Windows1251,
}

impl SourceEncoding {
    /// Parses `auto`, `utf-8`, `windows-1252`, `windows-1251` (also `cp1252`, `utf8`…).
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().replace('_', "-").as_str() {
            "auto" => Ok(Self::Auto),
            "utf-8" | "utf8" => Ok(Self::Utf8),
            "windows-1252" | "cp1252" | "latin1" => Ok(Self::Windows1252),
            "windows-1251" | "cp1251" => Ok(Self::Windows1251),
            _ => Err(Error::Invalid(format!(
                "unknown encoding {text:?}; use utf-8, windows-1252 or windows-1251"
            ))),
        }
    }

    /// Name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Utf8 => "utf-8",
            Self::Windows1252 => "windows-1252",
            Self::Windows1251 => "windows-1251",
        }
    }
}

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Validate and report, commit nothing.
    pub dry_run: bool,
    /// Explicit `(CSV header, field)` pairs; they win over the automatic mapping. The field is a
    /// contact field name, `company` (a company name), `full_name`, or `ignore`.
    pub mapping: Vec<(String, String)>,
    /// The file's encoding (CSV only).
    pub encoding: SourceEncoding,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            mapping: Vec::new(),
            encoding: SourceEncoding::Auto,
        }
    }
}

/// Why one row was rejected. Messages name the row and column, never the cell's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// Row number as a spreadsheet shows it (the header is row 1), or the card number for vCards.
    pub row: u64,
    /// The column (CSV header or vCard property), when one is to blame.
    pub column: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// What an import did, or would do on a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// `csv` or `vcard`.
    pub format: String,
    /// The recognised layout (`hubspot`, `salesforce`, `pipedrive`, `google`, `outlook`,
    /// `strongroom`, `generic`), for CSV.
    pub layout: Option<String>,
    /// The encoding used.
    pub encoding: String,
    /// Column → field, as applied.
    pub mapping: Vec<(String, String)>,
    /// Columns nobody maps (ignored).
    pub ignored_columns: Vec<String>,
    /// Only validated.
    pub dry_run: bool,
    /// Whether the changes were committed.
    pub committed: bool,
    /// Data rows read.
    pub rows: u64,
    /// Contacts created (or that would be).
    pub created: u64,
    /// Contacts updated (or that would be).
    pub updated: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// Companies created for company names.
    pub companies_created: u64,
    /// The first [`MAX_ERRORS`] rejections.
    pub errors: Vec<RowError>,
    /// More rejections than listed.
    pub errors_truncated: bool,
}

impl ImportReport {
    pub(crate) fn new(format: &str, dry_run: bool) -> Self {
        Self {
            format: format.into(),
            layout: None,
            encoding: "utf-8".into(),
            mapping: Vec::new(),
            ignored_columns: Vec::new(),
            dry_run,
            committed: false,
            rows: 0,
            created: 0,
            updated: 0,
            rejected: 0,
            companies_created: 0,
            errors: Vec::new(),
            errors_truncated: false,
        }
    }

    pub(crate) fn reject(&mut self, row: u64, column: Option<&str>, reason: impl Into<String>) {
        self.rejected += 1;
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(RowError {
                row,
                column: column.map(str::to_owned),
                reason: reason.into(),
            });
        } else {
            self.errors_truncated = true;
        }
    }
}

/// Where an imported value goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A contact field (built-in or custom) by name.
    Field(String),
    /// A company name: found or created, then linked.
    Company,
    /// "First Last" when the file has no separate name columns.
    FullName,
    /// Not imported.
    Ignore,
}

impl Target {
    fn parse(text: &str, fields: &[EffectiveField]) -> Result<Self> {
        let name = text.trim().to_ascii_lowercase();
        match name.as_str() {
            "company" | "company_name" => return Ok(Target::Company),
            "full_name" | "name" => return Ok(Target::FullName),
            "ignore" | "skip" | "" => return Ok(Target::Ignore),
            _ => {}
        }
        if fields
            .iter()
            .any(|field| field.name == name && field.name != "company_id")
        {
            return Ok(Target::Field(name));
        }
        let known: Vec<&str> = fields
            .iter()
            .filter(|field| field.name != "company_id")
            .map(|field| field.name.as_str())
            .collect();
        Err(Error::Invalid(format!(
            "unknown import field {text:?}; use one of: {}, company, full_name, ignore",
            known.join(", ")
        )))
    }

    fn label(&self) -> String {
        match self {
            Target::Field(name) => name.clone(),
            Target::Company => "company".into(),
            Target::FullName => "full_name".into(),
            Target::Ignore => "ignore".into(),
        }
    }
}

/// Header layouts of the CRMs and address books we recognise: (layout, signature headers that
/// identify it, header → target).
struct Layout {
    name: &'static str,
    signature: &'static [&'static str],
    columns: &'static [(&'static str, &'static str)],
}

const LAYOUTS: &[Layout] = &[
    Layout {
        name: "hubspot",
        signature: &["Record ID", "Lifecycle Stage", "Contact owner"],
        columns: &[
            ("First Name", "first_name"),
            ("Last Name", "last_name"),
            ("Email", "emails"),
            ("Phone Number", "phones"),
            ("Mobile Phone Number", "phones"),
            ("Job Title", "job_title"),
            ("Company Name", "company"),
            ("Associated Company", "company"),
            ("Street Address", "address"),
            ("City", "address"),
            ("State/Region", "address"),
            ("Postal Code", "address"),
            ("Country/Region", "address"),
            ("Date of birth", "birthday"),
            ("Notes", "notes"),
        ],
    },
    Layout {
        name: "salesforce",
        signature: &[
            "Account Name",
            "Mailing Street",
            "Email Opt Out",
            "Account.Name",
            "MailingStreet",
            "HasOptedOutOfEmail",
        ],
        columns: &[
            ("First Name", "first_name"),
            ("Last Name", "last_name"),
            ("Title", "job_title"),
            ("Account Name", "company"),
            ("Email", "emails"),
            ("Phone", "phones"),
            ("Mobile", "phones"),
            ("Mobile Phone", "phones"),
            ("Mailing Street", "address"),
            ("Mailing City", "address"),
            ("Mailing State/Province", "address"),
            ("Mailing Zip/Postal Code", "address"),
            ("Mailing Country", "address"),
            ("Birthdate", "birthday"),
            ("Description", "notes"),
            ("Email Opt Out", "do_not_contact"),
            ("FirstName", "first_name"),
            ("LastName", "last_name"),
            ("Account.Name", "company"),
            ("MobilePhone", "phones"),
            ("MailingStreet", "address"),
            ("MailingCity", "address"),
            ("MailingState", "address"),
            ("MailingPostalCode", "address"),
            ("MailingCountry", "address"),
            ("HasOptedOutOfEmail", "do_not_contact"),
        ],
    },
    Layout {
        name: "pipedrive",
        signature: &[
            "Person - Name",
            "Person - Organization",
            "Person - Email - Work",
        ],
        columns: &[
            ("Person - Name", "full_name"),
            ("Person - First name", "first_name"),
            ("Person - Last name", "last_name"),
            ("Person - Organization", "company"),
            ("Person - Email - Work", "emails"),
            ("Person - Email - Home", "emails"),
            ("Person - Email - Other", "emails"),
            ("Person - Phone - Work", "phones"),
            ("Person - Phone - Mobile", "phones"),
            ("Person - Phone - Home", "phones"),
            ("Person - Phone - Other", "phones"),
            ("Person - Job title", "job_title"),
            ("Person - Postal address", "address"),
            ("Person - Birthday", "birthday"),
            ("Person - Notes", "notes"),
        ],
    },
    Layout {
        name: "google",
        signature: &[
            "E-mail 1 - Value",
            "Given Name",
            "Organization Name",
            "Organization 1 - Name",
        ],
        columns: &[
            ("First Name", "first_name"),
            ("Given Name", "first_name"),
            ("Last Name", "last_name"),
            ("Family Name", "last_name"),
            ("Name", "full_name"),
            ("E-mail 1 - Value", "emails"),
            ("E-mail 2 - Value", "emails"),
            ("E-mail 3 - Value", "emails"),
            ("Phone 1 - Value", "phones"),
            ("Phone 2 - Value", "phones"),
            ("Phone 3 - Value", "phones"),
            ("Address 1 - Formatted", "address"),
            ("Organization Name", "company"),
            ("Organization 1 - Name", "company"),
            ("Organization Title", "job_title"),
            ("Organization 1 - Title", "job_title"),
            ("Birthday", "birthday"),
            ("Notes", "notes"),
        ],
    },
    Layout {
        name: "outlook",
        signature: &[
            "E-mail Address",
            "Business Phone",
            "E-mail Display Name",
            "Business Street",
        ],
        columns: &[
            ("First Name", "first_name"),
            ("Last Name", "last_name"),
            ("Job Title", "job_title"),
            ("Company", "company"),
            ("E-mail Address", "emails"),
            ("E-mail 2 Address", "emails"),
            ("E-mail 3 Address", "emails"),
            ("Business Phone", "phones"),
            ("Business Phone 2", "phones"),
            ("Mobile Phone", "phones"),
            ("Home Phone", "phones"),
            ("Other Phone", "phones"),
            ("Business Street", "address"),
            ("Business City", "address"),
            ("Business State", "address"),
            ("Business Postal Code", "address"),
            ("Business Country/Region", "address"),
            ("Birthday", "birthday"),
            ("Notes", "notes"),
        ],
    },
];

/// Headers matched when no layout is recognised (our own export, hand-made files).
const GENERIC: &[(&str, &str)] = &[
    ("first name", "first_name"),
    ("firstname", "first_name"),
    ("given name", "first_name"),
    ("last name", "last_name"),
    ("lastname", "last_name"),
    ("surname", "last_name"),
    ("family name", "last_name"),
    ("name", "full_name"),
    ("full name", "full_name"),
    ("email", "emails"),
    ("e-mail", "emails"),
    ("email address", "emails"),
    ("phone", "phones"),
    ("telephone", "phones"),
    ("mobile", "phones"),
    ("company", "company"),
    ("organization", "company"),
    ("organisation", "company"),
    ("job title", "job_title"),
    ("title", "job_title"),
    ("birthday", "birthday"),
    ("address", "address"),
    ("notes", "notes"),
];

/// Maps a header row: (layout name, column → target).
fn auto_mapping(headers: &[String], fields: &[EffectiveField]) -> (String, Vec<Target>) {
    let has = |name: &str| headers.iter().any(|header| header == name);
    let layout = LAYOUTS
        .iter()
        .find(|layout| layout.signature.iter().any(|header| has(header)));
    let targets = headers
        .iter()
        .map(|header| {
            let from_layout = layout.and_then(|layout| {
                layout
                    .columns
                    .iter()
                    .find(|(name, _)| *name == header)
                    .map(|(_, target)| *target)
            });
            let lower = header.trim().to_ascii_lowercase();
            let target = from_layout
                .or_else(|| {
                    // Our own export's columns are field names.
                    fields
                        .iter()
                        .find(|field| field.name == lower && field.name != "company_id")
                        .map(|field| field.name.as_str())
                })
                .or_else(|| {
                    layout.is_none().then_some(()).and_then(|()| {
                        GENERIC
                            .iter()
                            .find(|(name, _)| *name == lower)
                            .map(|(_, target)| *target)
                    })
                });
            target
                .and_then(|target| Target::parse(target, fields).ok())
                .unwrap_or(Target::Ignore)
        })
        .collect();
    let name = match layout {
        Some(layout) => layout.name,
        None if headers.iter().any(|header| header == "last_name") => "strongroom",
        None => "generic",
    };
    (name.into(), targets)
}

/// Everything the rows need, computed before the write transaction (which borrows the session).
pub(crate) struct RowWriter {
    role: RoleDef,
    fields: Vec<EffectiveField>,
    company_fields: Vec<EffectiveField>,
    user_id: i64,
    team: Option<i64>,
    now: String,
    edit_scope: Option<(String, Vec<SqlValue>)>,
    company_view: Option<(String, Vec<SqlValue>)>,
    may_create_companies: bool,
}

/// One value of a row: where it goes, the column it came from, the text.
pub(crate) struct Cell<'a> {
    pub target: &'a Target,
    pub column: &'a str,
    pub value: String,
}

enum Outcome {
    Created,
    Updated,
}

impl RowWriter {
    /// Checks the import right and gathers what the transaction needs.
    pub(crate) fn new(session: &Session) -> Result<Self> {
        let (role, _) = session.require_scope(Entity::Contact, Action::Import)?;
        // Importing creates contacts: the role must be able to create them at all.
        session.require_scope(Entity::Contact, Action::Create)?;
        let edit = role.scope(Entity::Contact, Action::Edit);
        let edit_scope = if edit == Scope::None {
            None
        } else {
            Some(session.scope_condition(edit)?)
        };
        let company_view_scope = role.scope(Entity::Company, Action::View);
        let company_view = if company_view_scope == Scope::None {
            None
        } else {
            Some(session.scope_condition(company_view_scope)?)
        };
        Ok(Self {
            may_create_companies: role.scope(Entity::Company, Action::Create) != Scope::None,
            fields: session.fields(Entity::Contact)?,
            company_fields: session.fields(Entity::Company)?,
            user_id: session.user().id,
            team: session.team_id()?,
            now: Utc::now().to_rfc3339(),
            role,
            edit_scope,
            company_view,
        })
    }

    pub(crate) fn fields(&self) -> &[EffectiveField] {
        &self.fields
    }

    /// Validates one row and writes it inside `tx`; rejections go to the report. A row that
    /// updates an existing contact records each changed field in `audit`, old → new, as an
    /// edit does.
    pub(crate) fn apply(
        &self,
        tx: &Transaction<'_>,
        row: u64,
        cells: &[Cell<'_>],
        report: &mut ImportReport,
        audit: &mut AuditSink,
    ) -> Result<()> {
        match self.apply_inner(tx, row, cells, report, audit) {
            Ok(Ok(Outcome::Created)) => report.created += 1,
            Ok(Ok(Outcome::Updated)) => report.updated += 1,
            Ok(Err((column, reason))) => report.reject(row, column.as_deref(), reason),
            Err(error) => return Err(error),
        }
        Ok(())
    }

    /// `Ok(Err(..))` is a rejection of this row; `Err` a failure of the whole import.
    #[allow(clippy::type_complexity)]
    fn apply_inner(
        &self,
        tx: &Transaction<'_>,
        _row: u64,
        cells: &[Cell<'_>],
        report: &mut ImportReport,
        audit: &mut AuditSink,
    ) -> Result<std::result::Result<Outcome, (Option<String>, String)>> {
        // Gather values per field; several columns may feed one field (address parts, emails).
        let mut input = RecordInput::new();
        let mut sources: Vec<(String, String)> = Vec::new();
        let mut company: Option<(&str, String)> = None;
        let mut full_name: Option<(&str, String)> = None;
        for cell in cells {
            let value = cell.value.trim();
            if value.is_empty() {
                continue;
            }
            match cell.target {
                Target::Ignore => {}
                Target::Company => company = Some((cell.column, value.to_owned())),
                Target::FullName => full_name = Some((cell.column, value.to_owned())),
                Target::Field(name) => {
                    let field = self.fields.iter().find(|field| field.name == *name);
                    let kind = field.map(|field| field.kind);
                    let value = normalise(kind, value);
                    if value.is_empty() {
                        continue;
                    }
                    let joined = match input.remove(name) {
                        Some(serde_json::Value::String(before)) => {
                            let separator = if matches!(kind, Some(Kind::Text)) {
                                " "
                            } else {
                                ", "
                            };
                            format!("{before}{separator}{value}")
                        }
                        _ => value,
                    };
                    input.insert(name.clone(), serde_json::Value::String(joined));
                    match sources.iter_mut().find(|(field, _)| field == name) {
                        Some((_, columns)) => {
                            columns.push_str(", ");
                            columns.push_str(cell.column);
                        }
                        None => sources.push((name.clone(), cell.column.to_owned())),
                    }
                }
            }
        }
        if let Some((column, name)) = full_name
            && !input.contains_key("last_name")
        {
            let name = name.trim();
            let (first, last) = match name.rsplit_once(' ') {
                Some((first, last)) => (Some(first.trim()), last.trim()),
                None => (None, name),
            };
            if let Some(first) = first
                && !input.contains_key("first_name")
            {
                input.insert("first_name".into(), first.into());
                sources.push(("first_name".into(), column.to_owned()));
            }
            input.insert("last_name".into(), last.into());
            sources.push(("last_name".into(), column.to_owned()));
        }
        let column_of = |name: &str| {
            sources
                .iter()
                .find(|(field, _)| field == name)
                .map(|(_, column)| column.clone())
        };
        if !input.contains_key("last_name") {
            if input.is_empty() && company.is_none() {
                return Ok(Err((None, "the row is empty".into())));
            }
            return Ok(Err((
                None,
                "Last name is required (map a last-name or full-name column)".into(),
            )));
        }
        // Validate every value as `create` / `update` would.
        let mut parsed: Vec<(&EffectiveField, Stored)> = Vec::new();
        for field in &self.fields {
            let Some(value) = input.get(&field.name) else {
                continue;
            };
            if !view::visible(&self.role, field, self.role.clearance) {
                return Ok(Err((
                    column_of(&field.name),
                    format!("the {} field is above your clearance", field.label),
                )));
            }
            match parse_value(field, value) {
                Ok(stored) => parsed.push((field, stored)),
                Err(error) => return Ok(Err((column_of(&field.name), reason(&error)))),
            }
        }
        let company_id = match &company {
            Some((column, name)) => match self.company(tx, name, report)? {
                Ok(id) => Some(id),
                Err(why) => return Ok(Err((Some((*column).to_owned()), why))),
            },
            None => None,
        };
        let builtin: Vec<(&EffectiveField, Stored)> = parsed
            .iter()
            .filter(|(field, _)| field.custom_id.is_none())
            .map(|(field, stored)| {
                (
                    *field,
                    Stored {
                        sql: stored.sql.clone(),
                        text: stored.text.clone(),
                    },
                )
            })
            .collect();
        let key = email_key(&builtin);
        // Dedupe: the first contact with this first email that the importer may edit.
        let existing = match (&key, &self.edit_scope) {
            (Some(key), Some((condition, values))) => {
                let mut all = vec![SqlValue::Text(key.clone())];
                all.extend(values.iter().cloned());
                tx.prepare_cached(&format!(
                    "SELECT r.id, r.owner_id FROM contacts r WHERE r.email_key = ? AND {condition} ORDER BY r.id LIMIT 1"
                ))?
                .query_row(params_from_iter(all), |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))
                .optional()?
            }
            _ => None,
        };
        match existing {
            Some((id, owner)) => {
                let allowed = view::allowed_level(&self.role, owner == self.user_id);
                for (field, _) in &parsed {
                    if !view::visible(&self.role, field, allowed) {
                        return Ok(Err((
                            column_of(&field.name),
                            format!(
                                "the {} field of the existing contact with this email is above your clearance",
                                field.label
                            ),
                        )));
                    }
                }
                self.update(tx, id, &builtin, &parsed, company_id, key, audit)?;
                Ok(Ok(Outcome::Updated))
            }
            None => {
                self.create(tx, &builtin, &parsed, company_id, key)?;
                Ok(Ok(Outcome::Created))
            }
        }
    }

    /// The id of a visible company with this name, or a new one; `Ok(Err(reason))` if neither.
    fn company(
        &self,
        tx: &Transaction<'_>,
        name: &str,
        report: &mut ImportReport,
    ) -> Result<std::result::Result<i64, String>> {
        if let Some((condition, values)) = &self.company_view {
            let mut all = vec![SqlValue::Text(name.to_owned())];
            all.extend(values.iter().cloned());
            let found: Option<i64> = tx
                .prepare_cached(&format!(
                    "SELECT r.id FROM companies r WHERE r.name = ? COLLATE NOCASE AND {condition} ORDER BY r.id LIMIT 1"
                ))?
                .query_row(params_from_iter(all), |row| row.get(0))
                .optional()?;
            if let Some(id) = found {
                return Ok(Ok(id));
            }
        }
        if !self.may_create_companies {
            return Ok(Err(
                "no company of that name that you can see, and your role cannot create companies"
                    .into(),
            ));
        }
        let Some(name_field) = self
            .company_fields
            .iter()
            .find(|field| field.name == "name")
        else {
            return Err(Error::Invalid("the company name field is missing".into()));
        };
        let stored = match parse_value(name_field, &serde_json::Value::String(name.to_owned())) {
            Ok(stored) => stored,
            Err(error) => return Ok(Err(reason(&error))),
        };
        tx.prepare_cached(
            "INSERT INTO companies (name, owner_id, team_id, created_at, created_by, updated_at, updated_by)
             VALUES (?1, ?2, ?3, ?4, ?2, ?4, ?2)",
        )?
        .execute(rusqlite::params![stored.sql, self.user_id, self.team, self.now])?;
        let id = tx.last_insert_rowid();
        let texts = search::index_texts(std::iter::once((
            name_field,
            stored.text.as_deref().unwrap_or_default(),
        )));
        search::put(tx, Entity::Company, id, &texts)?;
        report.companies_created += 1;
        Ok(Ok(id))
    }

    fn create(
        &self,
        tx: &Transaction<'_>,
        builtin: &[(&EffectiveField, Stored)],
        parsed: &[(&EffectiveField, Stored)],
        company_id: Option<i64>,
        key: Option<String>,
    ) -> Result<()> {
        let mut columns = vec![
            "owner_id",
            "team_id",
            "created_at",
            "created_by",
            "updated_at",
            "updated_by",
            "email_key",
        ];
        let mut values = vec![
            SqlValue::Integer(self.user_id),
            self.team.map_or(SqlValue::Null, SqlValue::Integer),
            SqlValue::Text(self.now.clone()),
            SqlValue::Integer(self.user_id),
            SqlValue::Text(self.now.clone()),
            SqlValue::Integer(self.user_id),
            key.map_or(SqlValue::Null, SqlValue::Text),
        ];
        for (field, stored) in builtin {
            columns.push(&field.name);
            values.push(stored.sql.clone());
        }
        if let Some(company_id) = company_id {
            columns.push("company_id");
            values.push(SqlValue::Integer(company_id));
        }
        let placeholders = vec!["?"; columns.len()].join(", ");
        tx.prepare_cached(&format!(
            "INSERT INTO contacts ({}) VALUES ({placeholders})",
            columns.join(", ")
        ))?
        .execute(params_from_iter(values))?;
        let id = tx.last_insert_rowid();
        for (field, stored) in parsed.iter().filter(|(field, _)| field.custom_id.is_some()) {
            set_custom(tx, Entity::Contact, id, field, stored)?;
        }
        // Index from the values in hand (as `reindex` would read them back), company by name.
        let company_name: Option<String> = match company_id {
            Some(company_id) => tx
                .prepare_cached("SELECT name FROM companies WHERE id = ?1")?
                .query_row([company_id], |row| row.get(0))
                .optional()?,
            None => None,
        };
        let company_field = self.fields.iter().find(|field| field.name == "company_id");
        let texts = search::index_texts(
            builtin
                .iter()
                .filter_map(|(field, stored)| stored.text.as_deref().map(|text| (*field, text)))
                .chain(company_field.zip(company_name.as_deref())),
        );
        search::put(tx, Entity::Contact, id, &texts)
    }

    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        tx: &Transaction<'_>,
        id: i64,
        builtin: &[(&EffectiveField, Stored)],
        parsed: &[(&EffectiveField, Stored)],
        company_id: Option<i64>,
        key: Option<String>,
        audit: &mut AuditSink,
    ) -> Result<()> {
        let old = view::raw_values(tx, Entity::Contact, id, &self.fields)?;
        let mut sets = vec!["updated_at = ?".to_owned(), "updated_by = ?".to_owned()];
        let mut values = vec![
            SqlValue::Text(self.now.clone()),
            SqlValue::Integer(self.user_id),
        ];
        for (field, stored) in builtin {
            sets.push(format!("{} = ?", field.name));
            values.push(stored.sql.clone());
        }
        if builtin.iter().any(|(field, _)| field.name == "emails") {
            sets.push("email_key = ?".into());
            values.push(key.map_or(SqlValue::Null, SqlValue::Text));
        }
        if let Some(company_id) = company_id {
            sets.push("company_id = ?".into());
            values.push(SqlValue::Integer(company_id));
        }
        values.push(SqlValue::Integer(id));
        tx.prepare_cached(&format!(
            "UPDATE contacts SET {} WHERE id = ?",
            sets.join(", ")
        ))?
        .execute(params_from_iter(values))?;
        for (field, stored) in parsed.iter().filter(|(field, _)| field.custom_id.is_some()) {
            set_custom(tx, Entity::Contact, id, field, stored)?;
        }
        let company_change = company_id.and_then(|company_id| {
            let field = self
                .fields
                .iter()
                .find(|field| field.name == "company_id")?;
            Some((field, Some(company_id.to_string())))
        });
        let changes = parsed
            .iter()
            .map(|(field, stored)| (*field, stored.text.clone()))
            .chain(company_change);
        for (field, after) in changes {
            let before = old.get(&field.name).cloned().flatten();
            if before != after {
                audit.record(
                    AuditEvent::new(AuditAction::Update)
                        .target(Entity::Contact.name(), id)
                        .field(&field.name, field.level.as_u8())
                        .change(before, after),
                );
            }
        }
        search::reindex(tx, Entity::Contact, id)
    }
}

/// An error's message without the variant's prefix, for a row report.
fn reason(error: &Error) -> String {
    match error {
        Error::Invalid(message) | Error::Forbidden(message) => message.clone(),
        other => other.to_string(),
    }
}

/// Tidies values the way exports write them: Google's ` ::: ` list separator, US and European
/// dates, Outlook's `0/0/00` for "no birthday", `TRUE`/`FALSE` flags.
fn normalise(kind: Option<Kind>, value: &str) -> String {
    match kind {
        Some(Kind::Emails | Kind::Phones) => value.replace(" ::: ", ", "),
        Some(Kind::Date) => {
            if value == "0/0/00" || value == "0/0/0000" {
                return String::new();
            }
            for format in ["%Y-%m-%d", "%m/%d/%Y", "%d.%m.%Y", "%Y%m%d", "%Y/%m/%d"] {
                if let Ok(date) = chrono::NaiveDate::parse_from_str(value, format) {
                    return date.to_string();
                }
            }
            value.to_owned()
        }
        _ => value.to_owned(),
    }
}

/// Sniffs the encoding of the first bytes of a file (BOM already stripped or not).
pub fn detect_encoding(sample: &[u8]) -> SourceEncoding {
    let sample = sample.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(sample);
    match std::str::from_utf8(sample) {
        Ok(_) => return SourceEncoding::Utf8,
        // Cut in the middle of a character at the end of the sample: still UTF-8.
        Err(error) if error.error_len().is_none() => return SourceEncoding::Utf8,
        Err(_) => {}
    }
    // Cyrillic words are runs of high bytes; Western accented letters sit between ASCII letters.
    let high = |byte: u8| byte >= 0x80;
    let mut cyrillic = 0usize;
    let mut western = 0usize;
    for (index, &byte) in sample.iter().enumerate() {
        if !high(byte) {
            continue;
        }
        let before = index.checked_sub(1).and_then(|i| sample.get(i)).copied();
        let after = sample.get(index + 1).copied();
        let high_neighbour = before.is_some_and(high) || after.is_some_and(high);
        let ascii_letter_neighbour = before.is_some_and(|b| b.is_ascii_alphabetic())
            || after.is_some_and(|b| b.is_ascii_alphabetic());
        let as_1251 = decode_char(encoding_rs::WINDOWS_1251, byte);
        let as_1252 = decode_char(encoding_rs::WINDOWS_1252, byte);
        if high_neighbour && as_1251.is_alphabetic() {
            cyrillic += 1;
        }
        if ascii_letter_neighbour && as_1252.is_alphabetic() {
            western += 1;
        }
    }
    if cyrillic > western {
        SourceEncoding::Windows1251
    } else {
        SourceEncoding::Windows1252
    }
}

fn decode_char(encoding: &'static encoding_rs::Encoding, byte: u8) -> char {
    let bytes = [byte];
    let (text, _) = encoding.decode_without_bom_handling(&bytes);
    text.chars().next().unwrap_or('\u{fffd}')
}

fn open_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        context: format!("reading {}", path.display()),
        source,
    }
}

impl Session {
    /// Imports contacts from a CSV file, all or nothing (see the module docs). Needs the import
    /// right on contacts. Returns the report; `committed` says whether anything was written.
    pub fn import_csv(
        &mut self,
        path: &Path,
        options: &ImportOptions,
        progress: ProgressFn<'_>,
    ) -> Result<ImportReport> {
        let writer = RowWriter::new(self)?;
        let mut report = ImportReport::new("csv", options.dry_run);
        let mut file = File::open(path).map_err(|source| open_error(path, source))?;
        let total = file.metadata().map(|meta| meta.len()).unwrap_or(0);
        let mut sample = Vec::new();
        (&mut file)
            .take(SNIFF_BYTES)
            .read_to_end(&mut sample)
            .map_err(|source| open_error(path, source))?;
        let encoding = match options.encoding {
            SourceEncoding::Auto => detect_encoding(&sample),
            chosen => chosen,
        };
        report.encoding = encoding.name().into();
        let bom = if sample.starts_with(b"\xEF\xBB\xBF") && encoding == SourceEncoding::Utf8 {
            3
        } else {
            0
        };
        file.seek(SeekFrom::Start(bom))
            .map_err(|source| open_error(path, source))?;
        let source: Box<dyn Read> = match encoding {
            SourceEncoding::Windows1252 | SourceEncoding::Windows1251 => {
                let code_page = if encoding == SourceEncoding::Windows1252 {
                    encoding_rs::WINDOWS_1252
                } else {
                    encoding_rs::WINDOWS_1251
                };
                Box::new(
                    encoding_rs_io::DecodeReaderBytesBuilder::new()
                        .encoding(Some(code_page))
                        .build(std::io::BufReader::with_capacity(64 * 1024, file)),
                )
            }
            _ => Box::new(std::io::BufReader::with_capacity(64 * 1024, file)),
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(source);
        let mut record = csv::ByteRecord::new();
        let headers: Vec<String> = match reader.read_byte_record(&mut record) {
            Ok(true) => {
                let mut headers = Vec::with_capacity(record.len());
                for (index, cell) in record.iter().enumerate() {
                    match std::str::from_utf8(cell) {
                        Ok(text) => headers.push(text.trim().to_owned()),
                        Err(_) => {
                            report.reject(1, None, format!(
                                "header column {} is not valid {}: choose the file's encoding (--encoding)",
                                index + 1,
                                encoding.name()
                            ));
                            return Ok(report);
                        }
                    }
                }
                headers
            }
            Ok(false) => {
                report.reject(1, None, "the file is empty: no header row");
                return Ok(report);
            }
            Err(error) => {
                report.reject(
                    1,
                    None,
                    format!("the header row cannot be read: {}", csv_reason(&error)),
                );
                return Ok(report);
            }
        };
        if headers.iter().all(String::is_empty) {
            report.reject(1, None, "the header row is empty");
            return Ok(report);
        }
        let (layout, mut targets) = auto_mapping(&headers, writer.fields());
        for (header, field) in &options.mapping {
            let target = Target::parse(field, writer.fields())?;
            let Some(index) = headers
                .iter()
                .position(|name| name.eq_ignore_ascii_case(header.trim()))
            else {
                return Err(Error::Invalid(format!(
                    "--map: the file has no column {header:?}"
                )));
            };
            targets[index] = target;
        }
        report.layout = Some(layout);
        for (header, target) in headers.iter().zip(&targets) {
            if *target == Target::Ignore {
                report.ignored_columns.push(header.clone());
            } else {
                report.mapping.push((header.clone(), target.label()));
            }
        }
        if !targets.iter().any(|target| {
            matches!(target, Target::Field(name) if name == "last_name")
                || *target == Target::FullName
        }) {
            report.reject(
                1,
                None,
                "no column maps to the last name (use --map \"Header=last_name\")",
            );
            return Ok(report);
        }
        let dry_run = options.dry_run;
        let mut intentional = false;
        let result = self.write_bulk(|tx, audit| {
            let mut row = 1u64;
            let mut cells_text: Vec<String> = Vec::with_capacity(headers.len());
            loop {
                match reader.read_byte_record(&mut record) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(error) => {
                        row += 1;
                        report.rows += 1;
                        if matches!(error.kind(), csv::ErrorKind::Io(_)) {
                            return Err(Error::Io {
                                context: "reading the CSV file".into(),
                                source: std::io::Error::other(csv_reason(&error)),
                            });
                        }
                        report.reject(row, None, csv_reason(&error));
                        continue;
                    }
                }
                row += 1;
                report.rows += 1;
                if report.rows.is_multiple_of(PROGRESS_EVERY) {
                    let done = reader.position().byte().min(total);
                    progress(Progress {
                        step: format!("importing: {} rows read", report.rows),
                        done,
                        total,
                    });
                }
                if record.len() == 1 && record.get(0).is_some_and(<[u8]>::is_empty) {
                    // A blank line: nothing to import, nothing wrong.
                    report.rows -= 1;
                    continue;
                }
                if record.len() != headers.len() {
                    let hint = if record.iter().any(|cell| cell.contains(&b'\n')) {
                        " (a quote is opened and never closed)"
                    } else {
                        ""
                    };
                    report.reject(
                        row,
                        None,
                        format!(
                            "has {} columns, the header has {}{hint}",
                            record.len(),
                            headers.len()
                        ),
                    );
                    continue;
                }
                cells_text.clear();
                let mut bad_column = None;
                for (index, cell) in record.iter().enumerate() {
                    match std::str::from_utf8(cell) {
                        Ok(text) => cells_text.push(text.to_owned()),
                        Err(_) => {
                            bad_column = Some(index);
                            break;
                        }
                    }
                }
                if let Some(index) = bad_column {
                    report.reject(
                        row,
                        Some(&headers[index]),
                        format!(
                            "is not valid {} text: wrong encoding? choose it with --encoding",
                            encoding.name()
                        ),
                    );
                    continue;
                }
                let cells: Vec<Cell<'_>> = cells_text
                    .iter()
                    .zip(&targets)
                    .zip(&headers)
                    .map(|((value, target), column)| Cell {
                        target,
                        column,
                        value: value.clone(),
                    })
                    .collect();
                writer.apply(tx, row, &cells, &mut report, audit)?;
            }
            finish(
                &mut report,
                dry_run,
                audit,
                &mut intentional,
                total,
                progress,
            )
        });
        settle(result, intentional, report)
    }
}

/// Ends the transaction's work: counts, progress, the audit event, and the decision to keep
/// (a clean, real run) or roll back (a dry run, or any rejected row).
pub(crate) fn finish(
    report: &mut ImportReport,
    dry_run: bool,
    audit: &mut crate::vault::AuditSink,
    intentional: &mut bool,
    total: u64,
    progress: ProgressFn<'_>,
) -> Result<()> {
    progress(Progress {
        step: format!("read {} rows", report.rows),
        done: total,
        total,
    });
    if report.rows == 0 && report.rejected == 0 {
        report.reject(2, None, "the file has a header but no rows");
    }
    if dry_run || report.rejected > 0 {
        *intentional = true;
        return Err(Error::Invalid("import rolled back".into()));
    }
    audit.record(
        AuditEvent::new(AuditAction::Import)
            .target(Entity::Contact.name(), "import")
            .detail("format", &report.format)
            .detail("rows", report.rows)
            .detail("created", report.created)
            .detail("updated", report.updated)
            .detail("companies_created", report.companies_created),
    );
    Ok(())
}

/// Turns the write's result into the report: an intended rollback is not an error.
pub(crate) fn settle(
    result: Result<()>,
    intentional: bool,
    mut report: ImportReport,
) -> Result<ImportReport> {
    match result {
        Ok(()) => {
            report.committed = true;
            Ok(report)
        }
        Err(_) if intentional => Ok(report),
        Err(error) => Err(error),
    }
}

fn csv_reason(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("has {len} columns, the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "is not valid text in the chosen encoding".into(),
        csv::ErrorKind::Io(error) => format!("read error: {error}"),
        _ => "is not valid CSV".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_utf8_is_utf8_even_with_a_bom_or_a_cut_character() {
        assert_eq!(
            detect_encoding("Müller,Zoë\n".as_bytes()),
            SourceEncoding::Utf8
        );
        assert_eq!(detect_encoding(b"\xEF\xBB\xBFname\n"), SourceEncoding::Utf8);
        let text = "Petrov,Пётр".as_bytes();
        assert_eq!(
            detect_encoding(&text[..text.len() - 1]),
            SourceEncoding::Utf8
        );
    }

    #[test]
    fn code_pages_are_told_apart_by_where_the_letters_are() {
        let (western, _, _) =
            encoding_rs::WINDOWS_1252.encode("Last Name,First Name\nMüller,Zoë\nGarçon,José\n");
        assert_eq!(detect_encoding(&western), SourceEncoding::Windows1252);
        let (cyrillic, _, _) =
            encoding_rs::WINDOWS_1251.encode("Last Name,First Name\nПетров,Иван\nСмирнова,Ольга\n");
        assert_eq!(detect_encoding(&cyrillic), SourceEncoding::Windows1251);
    }

    #[test]
    fn export_dates_become_iso_dates() {
        assert_eq!(normalise(Some(Kind::Date), "3/12/1985"), "1985-03-12");
        assert_eq!(normalise(Some(Kind::Date), "12.03.1985"), "1985-03-12");
        assert_eq!(normalise(Some(Kind::Date), "0/0/00"), "");
        assert_eq!(
            normalise(Some(Kind::Emails), "a@x.example ::: b@x.example"),
            "a@x.example, b@x.example"
        );
    }
}
