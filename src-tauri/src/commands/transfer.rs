//! Importing records from a CSV or vCard file the user picks: a dry run that shows the plan
//! (which row creates a record and which updates which existing one, and why), the rejected
//! rows (row, column and reason, never a cell's value) and notices (undecided date orders,
//! unknown stages); then the all-or-nothing import with progress events. The record type is
//! told from the header or chosen; the date order, stage names, encoding and any column's
//! field are chosen where the file leaves them open or the detection got them wrong. Detection, mapping, dedupe, dates and the import right are crm-core's.

use std::path::PathBuf;

use crm_core::records::fields::Entity;
use crm_core::records::import::{
    DateOrder, ImportOptions, ImportReport, PlanAction, SourceEncoding,
};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, Runtime};

use super::blocking;
use super::users::emit_progress;
use crate::error::CommandResult;
use crate::state::AppState;

/// How to import.
#[derive(Debug, Clone, Default, Deserialize, specta::Type)]
pub struct ImportRequest {
    /// Only check and report, write nothing.
    pub dry_run: bool,
    /// The record type (`company`, `contact`, `deal`, `activity`, `note`); `null` tells it
    /// from the header.
    pub entity: Option<String>,
    /// The day/month order of numeric dates (`dmy`, `mdy`, `ymd`); `null` tells it from the
    /// file's values.
    pub date_order: Option<String>,
    /// Their stage names mapped to the pipeline's (deals).
    pub stage_map: Vec<StageMapping>,
    /// The file's encoding (`utf-8`, `windows-1252`, `windows-1251`); `null` detects it.
    pub encoding: Option<String>,
    /// Columns mapped by hand; they win over the automatic mapping.
    pub mapping: Vec<ColumnMapping>,
}

/// One of the file's stage names and the pipeline stage its deals go to.
#[derive(Debug, Clone, Deserialize, specta::Type)]
pub struct StageMapping {
    /// The stage name in the file.
    pub theirs: String,
    /// The pipeline's stage name.
    pub ours: String,
}

/// A column and the field it goes to.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct ColumnMapping {
    /// The CSV header (or vCard property).
    pub column: String,
    /// The field (or link: `company`, `stage`, `tags`, …).
    pub field: String,
}

/// What one accepted row does.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct PlanRow {
    /// Row number as a spreadsheet shows it (the header is row 1), or the card number.
    pub row: u32,
    /// `create` or `update`.
    pub action: String,
    /// The record's name as the row gives it.
    pub name: String,
    /// The existing record it updates, when the importer may see its name.
    pub existing_name: Option<String>,
    /// Why the row matched it (`same email (column "Email")`).
    pub matched_by: Option<String>,
    /// A company created for the row's company name.
    pub new_company: Option<String>,
}

/// A rejected row.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct RejectedRow {
    /// Row number as a spreadsheet shows it (the header is row 1), or the card number.
    pub row: u32,
    /// The column to blame, if one is.
    pub column: Option<String>,
    /// What is wrong (never the cell's value).
    pub reason: String,
}

/// How the day/month order of one date column was decided.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct DateColumnView {
    /// The CSV header.
    pub column: String,
    /// `dmy`, `mdy`, `ymd`, or none when undecided.
    pub order: Option<String>,
    /// `chosen`, `detected`, `from other columns`, `not needed`, `ambiguous` or
    /// `conflicting`.
    pub decided_by: String,
    /// It needs the user's choice (crm-core's notice for it).
    pub needs_choice: bool,
}

/// What an import did, or would do.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ImportSummary {
    /// Only checked, nothing written.
    pub dry_run: bool,
    /// The changes were committed.
    pub committed: bool,
    /// `csv` or `vcard`.
    pub format: String,
    /// The record type imported, once known.
    pub entity: Option<String>,
    /// The recognised layout (`hubspot-deals`, `google`, `generic`, …), for CSV.
    pub layout: Option<String>,
    /// The encoding read.
    pub encoding: String,
    /// What separates a CSV file's fields (`comma`, `semicolon`, `tab`).
    pub separator: Option<String>,
    /// Column → field, as applied.
    pub mapping: Vec<ColumnMapping>,
    /// Columns nobody maps (ignored).
    pub ignored_columns: Vec<String>,
    /// What a column can be mapped to, once the record type is known.
    pub mappable: Vec<String>,
    /// How each date column's day/month order was decided.
    pub date_columns: Vec<DateColumnView>,
    /// A date column's order is undecided: the user should choose one.
    pub date_order_needed: bool,
    /// Things to look at before importing (undecided dates, unknown stages).
    pub notices: Vec<String>,
    /// Data rows read.
    pub rows: u32,
    /// Records created (or that would be).
    pub created: u32,
    /// Records updated (or that would be).
    pub updated: u32,
    /// Rows rejected.
    pub rejected: u32,
    /// Companies created for company names.
    pub companies_created: u32,
    /// What the first accepted rows do.
    pub plan: Vec<PlanRow>,
    /// More rows than listed in the plan.
    pub more_plan: bool,
    /// The first rejections.
    pub rejections: Vec<RejectedRow>,
    /// More rejections than listed.
    pub more_rejections: bool,
}

fn summary(report: ImportReport) -> ImportSummary {
    let count = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    let date_columns: Vec<DateColumnView> = report
        .date_columns
        .iter()
        .map(|column| DateColumnView {
            column: column.column.clone(),
            order: column.order.map(|order| order.name().to_owned()),
            decided_by: column.decided_by.clone(),
            needs_choice: column.notice().is_some(),
        })
        .collect();
    ImportSummary {
        dry_run: report.dry_run,
        committed: report.committed,
        format: report.format,
        entity: report.entity.map(|entity| entity.name().to_owned()),
        layout: report.layout,
        encoding: report.encoding,
        separator: report.separator,
        mapping: report
            .mapping
            .into_iter()
            .map(|(column, field)| ColumnMapping { column, field })
            .collect(),
        ignored_columns: report.ignored_columns,
        mappable: report.mappable,
        date_order_needed: date_columns.iter().any(|column| column.needs_choice),
        date_columns,
        notices: report.notices,
        rows: count(report.rows),
        created: count(report.created),
        updated: count(report.updated),
        rejected: count(report.rejected),
        companies_created: count(report.companies_created),
        plan: report
            .plan
            .into_iter()
            .map(|entry| PlanRow {
                row: count(entry.row),
                action: match entry.action {
                    PlanAction::Create => "create",
                    PlanAction::Update => "update",
                }
                .into(),
                name: entry.name,
                existing_name: entry.existing_name,
                matched_by: entry.matched_by,
                new_company: entry.new_company,
            })
            .collect(),
        more_plan: report.plan_truncated,
        rejections: report
            .errors
            .into_iter()
            .map(|error| RejectedRow {
                row: count(error.row),
                column: error.column,
                reason: error.reason,
            })
            .collect(),
        more_rejections: report.errors_truncated,
    }
}

/// Imports records from `path` (`.vcf` / `.vcard` as vCard contacts, anything else as CSV);
/// a dry run only reports. Progress events: `import`.
#[tauri::command]
#[specta::specta]
pub async fn import_records<R: Runtime>(
    app: AppHandle<R>,
    path: String,
    request: ImportRequest,
) -> CommandResult<ImportSummary> {
    let options = ImportOptions {
        dry_run: request.dry_run,
        entity: request
            .entity
            .filter(|name| !name.trim().is_empty())
            .map(|name| Entity::parse(&name))
            .transpose()?,
        date_order: request
            .date_order
            .filter(|order| !order.trim().is_empty())
            .map(|order| DateOrder::parse(&order))
            .transpose()?,
        stage_map: request
            .stage_map
            .into_iter()
            .filter(|pair| !pair.theirs.trim().is_empty())
            .map(|pair| (pair.theirs, pair.ours))
            .collect(),
        encoding: match request.encoding.filter(|name| !name.trim().is_empty()) {
            Some(name) => SourceEncoding::parse(&name)?,
            None => SourceEncoding::Auto,
        },
        mapping: request
            .mapping
            .into_iter()
            .map(|pair| (pair.column, pair.field))
            .collect(),
    };
    blocking(move || {
        let state = app.state::<AppState>();
        let _busy = state.start_long_operation("an import")?;
        let path = PathBuf::from(path.trim());
        let is_vcard = path
            .extension()
            .and_then(|extension| extension.to_str())
            .is_some_and(|extension| {
                extension.eq_ignore_ascii_case("vcf") || extension.eq_ignore_ascii_case("vcard")
            });
        let mut progress = emit_progress(&app, "import");
        state.with_session(|session| {
            let report = if is_vcard {
                session.import_vcard(&path, &options, &mut progress)?
            } else {
                session.import_csv(&path, &options, &mut progress)?
            };
            Ok(summary(report))
        })
    })
    .await
}
