//! What an import tells: counts, the plan (which rows create a record and which update which
//! existing one, and why), rejected rows with row and column, and notices.

use serde::Serialize;

use super::super::fields::Entity;
use super::{DateColumn, MAX_ERRORS, MAX_PLAN};

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

/// Whether a row creates a record or updates one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanAction {
    /// A new record.
    Create,
    /// An existing record gets the row's values.
    Update,
}

/// What one row does (or would do, in a dry run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanEntry {
    /// Row number as a spreadsheet shows it, or the card number.
    pub row: u64,
    /// Create or update.
    pub action: PlanAction,
    /// The record's name as the row gives it.
    pub name: String,
    /// The existing record updated.
    pub existing_id: Option<i64>,
    /// Its name, when the importer may see it.
    pub existing_name: Option<String>,
    /// Why the row matched it (`same email (column "Email")`).
    pub matched_by: Option<String>,
    /// A company created for this row's company name.
    pub new_company: Option<String>,
}

/// What an import did, or would do on a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// `csv` or `vcard`.
    pub format: String,
    /// The record type imported, once known.
    pub entity: Option<Entity>,
    /// The recognised layout (`hubspot`, `hubspot-deals`, `salesforce-accounts`, `pipedrive`,
    /// `google`, `outlook`, `strongroom`, `generic`, …), for CSV.
    pub layout: Option<String>,
    /// The encoding used.
    pub encoding: String,
    /// What separates a CSV file's fields: `comma`, `semicolon` or `tab`.
    pub separator: Option<String>,
    /// Column → field, as applied.
    pub mapping: Vec<(String, String)>,
    /// Columns nobody maps (ignored).
    pub ignored_columns: Vec<String>,
    /// What a column of this record type can be mapped to (for a mapping of one's own), once
    /// the record type is known.
    pub mappable: Vec<String>,
    /// How the day/month order of each date column was decided.
    pub date_columns: Vec<DateColumn>,
    /// Things to look at before importing (undecided date orders, unknown stages).
    pub notices: Vec<String>,
    /// Only validated.
    pub dry_run: bool,
    /// Whether the changes were committed.
    pub committed: bool,
    /// Data rows read.
    pub rows: u64,
    /// Records created (or that would be).
    pub created: u64,
    /// Records updated (or that would be).
    pub updated: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// Companies created for company names.
    pub companies_created: u64,
    /// What the first [`MAX_PLAN`] accepted rows do.
    pub plan: Vec<PlanEntry>,
    /// More rows than listed in the plan.
    pub plan_truncated: bool,
    /// The first [`MAX_ERRORS`] rejections.
    pub errors: Vec<RowError>,
    /// More rejections than listed.
    pub errors_truncated: bool,
}

impl ImportReport {
    pub(crate) fn new(format: &str, dry_run: bool) -> Self {
        Self {
            format: format.into(),
            entity: None,
            layout: None,
            encoding: "utf-8".into(),
            separator: None,
            mapping: Vec::new(),
            ignored_columns: Vec::new(),
            mappable: Vec::new(),
            date_columns: Vec::new(),
            notices: Vec::new(),
            dry_run,
            committed: false,
            rows: 0,
            created: 0,
            updated: 0,
            rejected: 0,
            companies_created: 0,
            plan: Vec::new(),
            plan_truncated: false,
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

    pub(crate) fn accept(&mut self, entry: PlanEntry) {
        match entry.action {
            PlanAction::Create => self.created += 1,
            PlanAction::Update => self.updated += 1,
        }
        if entry.new_company.is_some() {
            self.companies_created += 1;
        }
        if self.plan.len() < MAX_PLAN {
            self.plan.push(entry);
        } else {
            self.plan_truncated = true;
        }
    }

    /// Whether the plan has all the rows it keeps (later rows are only counted).
    pub(crate) fn plan_full(&self) -> bool {
        self.plan.len() >= MAX_PLAN
    }

    /// Adds a notice once.
    pub(crate) fn notice(&mut self, text: String) {
        if !self.notices.contains(&text) {
            self.notices.push(text);
        }
    }
}
