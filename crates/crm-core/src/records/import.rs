//! Importing companies, contacts, deals, activities and notes from CSV files (and contacts from
//! vCards, through the same row path).
//!
//! * **What and where.** The header row tells the record type and where each column goes
//!   (`layouts`): the export layouts of HubSpot, Salesforce, Pipedrive, Google Contacts and
//!   Outlook, our own export, or common header words. `--entity` settles a header that fits two
//!   types; `--map "Header=field"` adds or overrides single columns. Unmapped columns are listed
//!   and ignored.
//! * **One transaction.** Every row is validated and written inside one `Session::write_bulk`,
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
mod reading;
mod report;
mod source;
pub(crate) mod values;
pub(crate) mod writer;

use std::io::Read;

use super::EffectiveField;
use super::fields::{Entity, Kind};
use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::vault::{Progress, ProgressFn, Session};
pub use dates::{DateColumn, DateOrder};
use reading::{CsvDialect, csv_reader, csv_reason, scan_date_columns};
pub use reading::{SourceEncoding, detect_encoding};
pub use report::{ImportReport, PlanAction, PlanEntry, RowError};
pub use source::ImportSource;
pub(crate) use writer::{Cell, RowWriter};

/// At most this many row errors are kept in a report (the count goes on).
pub const MAX_ERRORS: usize = 1_000;
/// At most this many rows of the plan are kept in a report (the counts go on).
pub const MAX_PLAN: usize = 1_000;
const SNIFF_BYTES: u64 = 64 * 1024;
const PROGRESS_EVERY: u64 = 10_000;

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
