//! Importing records from a CSV or vCard file: a dry run that shows the plan (which row
//! creates a record and which updates which existing one, and why), the rejected rows (row,
//! column and reason, never a cell's value) and notices (undecided date orders, unknown
//! stages); then the all-or-nothing import with progress. The record type is told from the
//! header or chosen; the date order, stage names, encoding and any column's field are chosen
//! where the file leaves them open or the detection got them wrong. Detection, mapping,
//! dedupe, dates and the import right are crm-core's.
//!
//! The file travels as its content ([`ImportFile`]): a front end on a workstation reads the
//! file the user picked and sends the bytes, never a path.

use crm_core::Session;
use crm_core::records::import::{
    DateOrder, ImportOptions, ImportReport, ImportSource, PlanAction, SourceEncoding,
};
use crm_core::vault::ProgressFn;
use serde::{Deserialize, Serialize};

use crate::error::{ApiResult, count};
use crate::vocab::RecordKind;

/// A file to import, as the user picked it.
#[derive(Clone, Serialize, Deserialize)]
pub struct ImportFile {
    /// Its name (`contacts.vcf`): `.vcf`/`.vcard` is read as vCard, anything else as CSV.
    pub name: String,
    /// Its content (base64 in JSON).
    #[serde(with = "base64_bytes")]
    pub content: Vec<u8>,
}

/// Bytes as base64 text in JSON: a third of the size of a number array, and one string.
mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|_| serde::de::Error::custom("content is not base64"))
    }
}

impl std::fmt::Debug for ImportFile {
    // Customer data: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ImportFile({:?}, {} bytes)",
            self.name,
            self.content.len()
        )
    }
}

/// Whether an accepted row creates a record or updates one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum PlanStep {
    /// A new record.
    Create,
    /// An existing record it matched.
    Update,
}

/// How to import.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ImportRequest {
    /// Only check and report, write nothing.
    pub dry_run: bool,
    /// The record type; `null` tells it from the header.
    pub entity: Option<RecordKind>,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct StageMapping {
    /// The stage name in the file.
    pub theirs: String,
    /// The pipeline's stage name.
    pub ours: String,
}

/// A column and the field it goes to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ColumnMapping {
    /// The CSV header (or vCard property).
    pub column: String,
    /// The field (or link: `company`, `stage`, `tags`, …).
    pub field: String,
}

/// What one accepted row does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct PlanRow {
    /// Row number as a spreadsheet shows it (the header is row 1), or the card number.
    pub row: u32,
    /// Whether it creates a record or updates one.
    pub action: PlanStep,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RejectedRow {
    /// Row number as a spreadsheet shows it (the header is row 1), or the card number.
    pub row: u32,
    /// The column to blame, if one is.
    pub column: Option<String>,
    /// What is wrong (never the cell's value).
    pub reason: String,
}

/// How the day/month order of one date column was decided.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ImportSummary {
    /// Only checked, nothing written.
    pub dry_run: bool,
    /// The changes were committed.
    pub committed: bool,
    /// `csv` or `vcard`.
    pub format: String,
    /// The record type imported, once known.
    pub entity: Option<RecordKind>,
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

/// The report as a front end shows it.
pub fn summary(report: ImportReport) -> ImportSummary {
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
        entity: report.entity.map(RecordKind::from),
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
                    PlanAction::Create => PlanStep::Create,
                    PlanAction::Update => PlanStep::Update,
                },
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

fn options(request: ImportRequest) -> ApiResult<ImportOptions> {
    Ok(ImportOptions {
        dry_run: request.dry_run,
        entity: request.entity.map(Into::into),
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
    })
}

/// Imports records from a file's content (vCard by its name, else CSV); a dry run only
/// reports. A long operation, reporting to `progress`.
pub fn import_records(
    session: &mut Session,
    file: &ImportFile,
    request: ImportRequest,
    progress: ProgressFn<'_>,
) -> ApiResult<ImportSummary> {
    let options = options(request)?;
    let source = ImportSource::bytes(file.name.trim(), &file.content);
    let report = if source.is_vcard() {
        session.import_vcard(source, &options, progress)?
    } else {
        session.import_csv(source, &options, progress)?
    };
    Ok(summary(report))
}
