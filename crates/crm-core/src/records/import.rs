//! Importing companies, contacts, deals, activities and notes from CSV files (and contacts from
//! vCards, through the same row path).
//!
//! * **What and where.** The header row tells the record type and where each column goes
//!   (`layouts`): the export layouts of HubSpot, Salesforce, Pipedrive, Google Contacts and
//!   Outlook, our own export, or common header words. `--entity` settles a header that fits two
//!   types; `--map "Header=field"` adds or overrides single columns. Unmapped columns are listed
//!   and ignored.
//! * **One transaction.** Every row is validated and written inside one [`Session::write_bulk`],
//!   so an import commits entirely or not at all; a dry run is the same work rolled back, which
//!   makes its report exact. Any rejected row rolls everything back.
//! * **Same rules as `create` / `update`.** Each value goes through the field registry's parser
//!   (`parse_value`) and the role view's visibility check; new records are owned by the
//!   importer; only records the importer may edit are updated.
//! * **Dedupe and links** (`lookup`, `writer`). A contact row updates the oldest editable
//!   contact that has any of the row's emails among its first five (ignoring case): emails and
//!   phones are merged (existing first, new ones added), other non-empty values replace, empty
//!   cells change nothing.
//!   Companies match by name (ignoring case) or website domain, deals by title within the same
//!   company; activities and notes have no natural key, so every row creates one. Rows name
//!   their company, contact, deal and stage: a missing company is created (if the role may); a
//!   contact (by email, or `First Last`) or deal (by title) must exist and be the only one of
//!   that name the importer can see; a stage must be in the pipeline (`--stage-map` renames one,
//!   and `Closed Won` / `Closed Lost` or Pipedrive's won/lost status find the won and lost
//!   stages). Tag columns (Google and Pipedrive `Labels`, Outlook `Categories`, our `tags`)
//!   add tags.
//! * **Dates** (`dates`): the day/month order is chosen (`--date-order`) or told from the
//!   file's values; a date that fits both orders with nothing to tell them apart is rejected.
//! * **Report.** Counts; the plan — which rows create a record and which update which existing
//!   record, and why (the first [`MAX_PLAN`] rows); the first [`MAX_ERRORS`] rejections with
//!   row and column (never the cell's value); notices about date columns and unknown stages.
//! * **Audit.** A committed import is one entry with its counts; a dry run, a rejected file or
//!   a failed import is one entry saying what was attempted.
//! * **Streaming.** Rows are read one at a time with the `csv` crate into one reused record;
//!   only counts and the first rows of plan and errors are kept, so memory does not grow with
//!   the file. Only a file with day/month dates to check is read twice.
//! * **Encodings.** UTF-8 with or without BOM, Windows-1252 and Windows-1251: chosen, or sniffed
//!   from the first 64 KiB (valid UTF-8 wins; otherwise whichever code page turns the high
//!   bytes into letters that sit together in words).
//! * **Separators.** Commas, semicolons (Excel where the decimal separator is a comma) or tabs,
//!   told from the header row, or named by an Excel `sep=` first line (`CsvDialect`).

pub mod dates;
pub(crate) mod layouts;
pub(crate) mod lookup;
mod source;
pub(crate) mod values;
pub(crate) mod writer;

use std::io::Read;

use serde::Serialize;

use super::EffectiveField;
use super::fields::{Entity, Kind};
use crate::audit::{Action as AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::vault::{Progress, ProgressFn, Session};
pub use dates::{DateColumn, DateOrder};
pub use source::ImportSource;
pub(crate) use writer::{Cell, RowWriter};

/// At most this many row errors are kept in a report (the count goes on).
pub const MAX_ERRORS: usize = 1_000;
/// At most this many rows of the plan are kept in a report (the counts go on).
pub const MAX_PLAN: usize = 1_000;
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
    /// The record type of the rows; `None` tells it from the header (CSV only).
    pub entity: Option<Entity>,
    /// Explicit `(CSV header, field)` pairs; they win over the automatic mapping. The field is a
    /// field name of the record type, or `company`, `contact`, `deal`, `stage`, `status`,
    /// `full_name` (contacts), `tags` or `ignore`.
    pub mapping: Vec<(String, String)>,
    /// The file's encoding (CSV only).
    pub encoding: SourceEncoding,
    /// The day/month order of numeric dates; `None` tells it from the file's values.
    pub date_order: Option<DateOrder>,
    /// `(their stage, our stage)` pairs for deals whose stage names differ from the pipeline's.
    pub stage_map: Vec<(String, String)>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            entity: None,
            mapping: Vec::new(),
            encoding: SourceEncoding::Auto,
            date_order: None,
            stage_map: Vec::new(),
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

/// Where an imported value goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A field of the record (built-in or custom) by name.
    Field(String),
    /// A company by name: found (or created), then linked.
    Company,
    /// A contact by email or full name, linked.
    Contact,
    /// A deal by title, linked.
    Deal,
    /// A pipeline stage by name (deals).
    Stage,
    /// Open, won or lost (deals): won and lost pick the pipeline's won and lost stages.
    Status,
    /// "First Last" when a contact file has no separate name columns.
    FullName,
    /// Tags, separated by commas, semicolons or ` ::: `.
    Tags,
    /// Not imported.
    Ignore,
}

impl Target {
    /// Parses a target name for `entity`: a field name, or one of the link words.
    pub(crate) fn parse(text: &str, entity: Entity, fields: &[EffectiveField]) -> Result<Self> {
        let name = text.trim().to_ascii_lowercase();
        let has = |field: &str| fields.iter().any(|candidate| candidate.name == field);
        let link = match name.as_str() {
            "ignore" | "skip" | "" => Some(Target::Ignore),
            "tags" | "tag" | "labels" => Some(Target::Tags),
            "company" | "company_name" if entity == Entity::Company => {
                Some(Target::Field("name".into()))
            }
            "company" | "company_name" if has("company_id") => Some(Target::Company),
            "contact" if has("contact_id") => Some(Target::Contact),
            "deal" if has("deal_id") => Some(Target::Deal),
            "stage" if has("stage_id") => Some(Target::Stage),
            "status" if entity == Entity::Deal => Some(Target::Status),
            "full_name" | "name" if entity == Entity::Contact => Some(Target::FullName),
            _ => None,
        };
        if let Some(target) = link {
            return Ok(target);
        }
        if fields
            .iter()
            .any(|field| field.name == name && !is_reference(field.kind))
        {
            return Ok(Target::Field(name));
        }
        Err(Error::Invalid(format!(
            "unknown import field {text:?} for {}; use one of: {}",
            entity.table(),
            Self::names(entity, fields).join(", ")
        )))
    }

    /// Every name a column of `entity` rows can be mapped to: the record's own fields (built-in
    /// and custom), the link words, `tags` and `ignore`.
    pub(crate) fn names(entity: Entity, fields: &[EffectiveField]) -> Vec<String> {
        let has = |field: &str| fields.iter().any(|candidate| candidate.name == field);
        let mut known: Vec<String> = fields
            .iter()
            .filter(|field| !is_reference(field.kind))
            .map(|field| field.name.clone())
            .collect();
        let links = [
            ("company_id", &["company"][..]),
            ("contact_id", &["contact"][..]),
            ("deal_id", &["deal"][..]),
            ("stage_id", &["stage", "status"][..]),
        ];
        for (reference, words) in links {
            if has(reference) {
                known.extend(words.iter().map(|word| word.to_string()));
            }
        }
        if entity == Entity::Contact {
            known.push("full_name".into());
        }
        known.extend(["tags".into(), "ignore".into()]);
        known
    }

    /// The name shown in the report's mapping.
    fn label(&self) -> String {
        match self {
            Target::Field(name) => name.clone(),
            Target::Company => "company".into(),
            Target::Contact => "contact".into(),
            Target::Deal => "deal".into(),
            Target::Stage => "stage".into(),
            Target::Status => "status".into(),
            Target::FullName => "full_name".into(),
            Target::Tags => "tags".into(),
            Target::Ignore => "ignore".into(),
        }
    }
}

/// Reference fields hold ids of this vault: imports link by name instead.
fn is_reference(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::CompanyRef | Kind::ContactRef | Kind::DealRef | Kind::StageRef
    )
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

/// How a CSV file is laid out beyond its encoding: where the header starts and what separates
/// the fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CsvDialect {
    /// Bytes before the header row: a UTF-8 byte-order mark, an Excel `sep=` line.
    skip: u64,
    /// `,`, `;` or tab.
    delimiter: u8,
}

impl CsvDialect {
    /// Reads the dialect from the file's first bytes. Excel writes `;` where the decimal
    /// separator is a comma (most of Europe) and tabs for "Unicode text", and may name the
    /// separator outright in a first `sep=;` line. Otherwise the separator is the one of `,`
    /// `;` and tab that occurs most often, outside quotes, in the header row; a tie is a comma.
    fn sniff(sample: &[u8], encoding: SourceEncoding) -> Self {
        let bom: &[u8] = b"\xEF\xBB\xBF";
        let skip = if encoding == SourceEncoding::Utf8 && sample.starts_with(bom) {
            bom.len()
        } else {
            0
        };
        let rest = &sample[skip..];
        let line_end = rest
            .iter()
            .position(|&byte| byte == b'\n')
            .unwrap_or(rest.len());
        let first = &rest[..line_end];
        let first = first.strip_suffix(b"\r").unwrap_or(first);
        if let [b's' | b'S', b'e' | b'E', b'p' | b'P', b'=', named] = first {
            return Self {
                skip: (skip + line_end + 1) as u64,
                delimiter: *named,
            };
        }
        let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
        let mut quoted = false;
        for &byte in first {
            if byte == b'"' {
                quoted = !quoted;
            } else if let Some(slot) = counts.iter_mut().find(|(delimiter, _)| *delimiter == byte)
                && !quoted
            {
                slot.1 += 1;
            }
        }
        // `max_by_key` keeps the last of equals: walk backwards so a tie goes to the comma.
        let (delimiter, _) = counts
            .into_iter()
            .rev()
            .max_by_key(|(_, count)| *count)
            .unwrap_or((b',', 0));
        Self {
            skip: skip as u64,
            delimiter,
        }
    }

    /// The separator's name for reports.
    fn separator_name(self) -> String {
        match self.delimiter {
            b',' => "comma".into(),
            b';' => "semicolon".into(),
            b'\t' => "tab".into(),
            other => format!("{:?}", char::from(other)),
        }
    }
}

/// A CSV reader over the file from the header row on (after any BOM or `sep=` line), decoding
/// a code page to UTF-8.
fn csv_reader<'a>(
    source: &ImportSource<'a>,
    encoding: SourceEncoding,
    dialect: CsvDialect,
) -> Result<csv::Reader<Box<dyn Read + 'a>>> {
    let file = source.open_at(dialect.skip)?;
    let buffered = std::io::BufReader::with_capacity(64 * 1024, file);
    let source: Box<dyn Read + 'a> = match encoding {
        SourceEncoding::Windows1252 | SourceEncoding::Windows1251 => {
            let code_page = if encoding == SourceEncoding::Windows1252 {
                encoding_rs::WINDOWS_1252
            } else {
                encoding_rs::WINDOWS_1251
            };
            Box::new(
                encoding_rs_io::DecodeReaderBytesBuilder::new()
                    .encoding(Some(code_page))
                    .build(buffered),
            )
        }
        _ => Box::new(buffered),
    };
    Ok(csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(dialect.delimiter)
        .from_reader(source))
}

/// Reads the whole file once for what its date columns say about day/month order.
fn scan_date_columns(
    source: &ImportSource<'_>,
    encoding: SourceEncoding,
    dialect: CsvDialect,
    columns: &[usize],
) -> Result<Vec<dates::ColumnEvidence>> {
    let mut reader = csv_reader(source, encoding, dialect)?;
    let mut record = csv::ByteRecord::new();
    let mut evidence = vec![dates::ColumnEvidence::default(); columns.len()];
    let mut header = true;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            // Broken rows are reported by the import pass itself.
            Err(error) if !matches!(error.kind(), csv::ErrorKind::Io(_)) => continue,
            Err(error) => {
                return Err(source.error(std::io::Error::other(csv_reason(&error))));
            }
        }
        if std::mem::take(&mut header) {
            continue;
        }
        for (slot, &index) in evidence.iter_mut().zip(columns) {
            if let Some(text) = record
                .get(index)
                .and_then(|cell| std::str::from_utf8(cell).ok())
            {
                slot.add(text);
            }
        }
    }
    Ok(evidence)
}

impl Session {
    /// Imports records from a CSV file (a path, or bytes with [`ImportSource::bytes`]), all
    /// or nothing (see the module docs). Needs the import and create rights on the record
    /// type. Returns the report; `committed` says whether anything was written. Every attempt
    /// that is not committed is recorded in the audit trail.
    pub fn import_csv<'a>(
        &mut self,
        source: impl Into<ImportSource<'a>>,
        options: &ImportOptions,
        progress: ProgressFn<'_>,
    ) -> Result<ImportReport> {
        let source = source.into();
        let result = self.import_csv_rows(&source, options, progress);
        self.record_attempt("csv", options, &result)?;
        result
    }

    fn import_csv_rows(
        &mut self,
        source: &ImportSource<'_>,
        options: &ImportOptions,
        progress: ProgressFn<'_>,
    ) -> Result<ImportReport> {
        let mut report = ImportReport::new("csv", options.dry_run);
        let total = source.len();
        let mut sample = Vec::new();
        source
            .open_at(0)?
            .take(SNIFF_BYTES)
            .read_to_end(&mut sample)
            .map_err(|error| source.error(error))?;
        let encoding = match options.encoding {
            SourceEncoding::Auto => detect_encoding(&sample),
            chosen => chosen,
        };
        report.encoding = encoding.name().into();
        let dialect = CsvDialect::sniff(&sample, encoding);
        report.separator = Some(dialect.separator_name());
        let mut reader = csv_reader(source, encoding, dialect)?;
        let mut record = csv::ByteRecord::new();
        let headers: Vec<String> =
            match reader.read_byte_record(&mut record) {
                Ok(true) => {
                    let mut headers = Vec::with_capacity(record.len());
                    for (index, cell) in record.iter().enumerate() {
                        match std::str::from_utf8(cell) {
                            Ok(text) => headers.push(text.trim().to_owned()),
                            Err(_) => {
                                report.reject(1, None, format!(
                                "header column {} is not valid {}: choose the file's encoding",
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
        let all_fields: Vec<(Entity, Vec<EffectiveField>)> = Entity::ALL
            .into_iter()
            .map(|entity| Ok((entity, self.fields(entity)?)))
            .collect::<Result<_>>()?;
        let fields_of = |entity: Entity| {
            all_fields
                .iter()
                .find(|(candidate, _)| *candidate == entity)
                .map(|(_, fields)| fields.clone())
                .unwrap_or_default()
        };
        let detected =
            match layouts::detect(&headers, options.entity, &options.mapping, &fields_of)? {
                Ok(detected) => detected,
                Err(reason) => {
                    report.reject(1, None, reason);
                    return Ok(report);
                }
            };
        report.entity = Some(detected.entity);
        report.layout = Some(detected.layout.into());
        let targets = detected.targets;
        for (header, target) in headers.iter().zip(&targets) {
            if *target == Target::Ignore {
                report.ignored_columns.push(header.clone());
            } else {
                report.mapping.push((header.clone(), target.label()));
            }
        }
        let writer = RowWriter::new(self, detected.entity, options, detected.defaults)?;
        report.mappable = Target::names(detected.entity, writer.fields());
        if let Some(missing) =
            layouts::covers_required(&targets, detected.defaults, writer.fields())
        {
            let label = writer
                .fields()
                .iter()
                .find(|field| field.name == missing)
                .map_or(missing.clone(), |field| field.label.to_lowercase());
            report.reject(
                1,
                None,
                format!("no column maps to the {label}: map a column to {missing}"),
            );
            return Ok(report);
        }
        // Day/month order of each date column: chosen, or told from the whole file.
        let date_indexes: Vec<usize> = targets
            .iter()
            .enumerate()
            .filter(|(_, target)| {
                matches!(target, Target::Field(name) if writer.fields().iter().any(|field| field.name == *name && matches!(field.kind, Kind::Date | Kind::DateTime)))
            })
            .map(|(index, _)| index)
            .collect();
        let mut column_orders: Vec<Option<DateOrder>> = vec![None; headers.len()];
        if !date_indexes.is_empty() {
            let evidence = match options.date_order {
                Some(_) => vec![dates::ColumnEvidence::default(); date_indexes.len()],
                None => {
                    progress(Progress {
                        step: "checking the order of dates".into(),
                        done: 0,
                        total,
                    });
                    scan_date_columns(source, encoding, dialect, &date_indexes)?
                }
            };
            let named: Vec<(String, dates::ColumnEvidence)> = date_indexes
                .iter()
                .zip(evidence)
                .map(|(&index, evidence)| (headers[index].clone(), evidence))
                .collect();
            report.date_columns = dates::decide(&named, options.date_order);
            for (&index, column) in date_indexes.iter().zip(&report.date_columns) {
                column_orders[index] = column.order;
            }
            let notices: Vec<String> = report
                .date_columns
                .iter()
                .filter_map(DateColumn::notice)
                .collect();
            for notice in notices {
                report.notice(notice);
            }
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
                            "is not valid {} text: wrong encoding? choose the file's encoding",
                            encoding.name()
                        ),
                    );
                    continue;
                }
                let cells: Vec<Cell<'_>> = cells_text
                    .iter()
                    .zip(&targets)
                    .zip(&headers)
                    .zip(&column_orders)
                    .map(|(((value, target), column), order)| Cell {
                        target,
                        column,
                        value,
                        date_order: *order,
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

    /// Records an import that was not committed — a dry run, a rejected file, a failure — with
    /// what was attempted. A committed import was recorded inside its own transaction.
    pub(crate) fn record_attempt(
        &mut self,
        format: &str,
        options: &ImportOptions,
        result: &Result<ImportReport>,
    ) -> Result<()> {
        let event = match result {
            Ok(report) if report.committed => return Ok(()),
            Ok(report) => AuditEvent::new(AuditAction::Import)
                .target(
                    report
                        .entity
                        .or(options.entity)
                        .map_or("record", Entity::name),
                    "import",
                )
                .detail("format", format)
                .detail(
                    "outcome",
                    if report.dry_run && report.rejected == 0 {
                        "dry run"
                    } else if report.dry_run {
                        "dry run with rejected rows"
                    } else {
                        "rolled back: rows rejected"
                    },
                )
                .detail("rows", report.rows)
                .detail("would_create", report.created)
                .detail("would_update", report.updated)
                .detail("rejected", report.rejected),
            Err(error) => AuditEvent::new(AuditAction::Import)
                .target(options.entity.map_or("record", Entity::name), "import")
                .detail("format", format)
                .detail("outcome", "failed")
                .detail("error", error.code()),
        };
        match (self.record(event), result) {
            // The import's own failure is the one to report.
            (Err(audit_error), Err(_)) => {
                tracing::warn!("could not record the failed import: {audit_error}");
                Ok(())
            }
            (recorded, _) => recorded,
        }
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
        if report.format == "vcard" {
            report.reject(1, None, "the file holds no vCard");
        } else {
            report.reject(2, None, "the file has a header but no rows");
        }
    }
    if dry_run || report.rejected > 0 {
        *intentional = true;
        return Err(Error::Invalid("import rolled back".into()));
    }
    audit.record(
        AuditEvent::new(AuditAction::Import)
            .target(report.entity.map_or("record", Entity::name), "import")
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
    fn the_separator_is_told_from_the_header_row_or_an_excel_sep_line() {
        let sniff = |text: &[u8]| CsvDialect::sniff(text, detect_encoding(text));
        let dialect = |skip: u64, delimiter: u8| CsvDialect { skip, delimiter };
        assert_eq!(sniff(b"Name,Email\nA;B,c\n"), dialect(0, b','));
        assert_eq!(sniff(b"Nom;Pr\xe9nom;Courriel\r\n"), dialect(0, b';'));
        assert_eq!(sniff(b"\xEF\xBB\xBFName\tEmail\n"), dialect(3, b'\t'));
        // Separators inside a quoted header do not count; a tie is a comma.
        assert_eq!(
            sniff(b"\"Name; full\";\"Mail; work\",x\n"),
            dialect(0, b',')
        );
        assert_eq!(sniff(b"Name\n"), dialect(0, b','));
        assert_eq!(sniff(b"sep=;\r\nName;Email\n"), dialect(7, b';'));
        assert_eq!(sniff(b"\xEF\xBB\xBFsep=|\nName|Email\n"), dialect(9, b'|'));
    }

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
    fn targets_are_the_record_types_own_fields_and_links() {
        let fields = |entity: Entity| {
            entity
                .fields()
                .iter()
                .map(|def| EffectiveField::from_builtin(def, def.level))
                .collect::<Vec<_>>()
        };
        let deal = fields(Entity::Deal);
        assert_eq!(
            Target::parse("Stage", Entity::Deal, &deal).ok(),
            Some(Target::Stage)
        );
        assert_eq!(
            Target::parse("contact", Entity::Deal, &deal).ok(),
            Some(Target::Contact)
        );
        let company = fields(Entity::Company);
        assert_eq!(
            Target::parse("company", Entity::Company, &company).ok(),
            Some(Target::Field("name".into()))
        );
        assert!(Target::parse("stage", Entity::Company, &company).is_err());
        assert!(
            Target::parse("company_id", Entity::Contact, &fields(Entity::Contact)).is_err(),
            "ids of another vault are never imported"
        );
    }
}
