//! Export of any entity to CSV, JSON or vCard (contacts), through the role view only.
//!
//! Records come from [`view::load`], so a value the role cannot see is never in hand; masked
//! hints are not values either and are left out (the cell stays empty). Export needs the export
//! scope on the entity (intersected with the view scope). The export is written to the audit
//! trail — with the ids, as ranges — *before* the first byte is written, and a failure to record
//! refuses the export. Records are streamed page by page (keyset on id) to the writer.

use std::io::Write;

use rusqlite::params_from_iter;
use rusqlite::types::Value as SqlValue;
use serde::Serialize;

use super::fields::Entity;
use super::view::{self, RecordView};
use crate::audit::{Action as AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::policy::Action;
use crate::vault::{Progress, ProgressFn, Session};

const PAGE: u32 = 1_000;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// Comma-separated, one header row of field names.
    Csv,
    /// A JSON array of objects.
    Json,
    /// vCard 4.0 (contacts only).
    Vcard,
}

impl ExportFormat {
    /// Parses `csv`, `json`, `vcard`.
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "csv" => Ok(Self::Csv),
            "json" => Ok(Self::Json),
            "vcard" | "vcf" => Ok(Self::Vcard),
            _ => Err(Error::Invalid(format!(
                "unknown export format {text:?}; use csv, json or vcard"
            ))),
        }
    }

    /// Name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "json",
            Self::Vcard => "vcard",
        }
    }
}

/// What was exported.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    /// Record type.
    pub entity: Entity,
    /// Format.
    pub format: ExportFormat,
    /// Records written.
    pub rows: u64,
}

/// `1-5,7,9-12` from sorted ids: compact enough for a million ids in one audit entry.
fn id_ranges(ids: &[i64]) -> String {
    let mut out = String::new();
    let mut index = 0;
    while index < ids.len() {
        let start = ids[index];
        let mut end = start;
        while index + 1 < ids.len() && ids[index + 1] == end + 1 {
            index += 1;
            end = ids[index];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
        index += 1;
    }
    out
}

fn io(error: std::io::Error) -> Error {
    Error::Io {
        context: "writing the export".into(),
        source: error,
    }
}

/// A visible value as one CSV cell (lists joined with ", ").
fn cell(value: Option<&serde_json::Value>) -> String {
    value.map(super::view::value_text).unwrap_or_default()
}

impl Session {
    /// Exports every record of `entity` the role may export and see, as the role sees it, to
    /// `out`. Needs the export scope; recorded in the audit trail before any data is written.
    pub fn export(
        &mut self,
        entity: Entity,
        format: ExportFormat,
        out: &mut dyn Write,
        progress: ProgressFn<'_>,
    ) -> Result<ExportReport> {
        if format == ExportFormat::Vcard && entity != Entity::Contact {
            return Err(Error::Invalid(
                "vCard export is for contacts only; use csv or json".into(),
            ));
        }
        let (role, export_scope) = self.require_scope(entity, Action::Export)?;
        let (_, view_scope) = self.require_scope(entity, Action::View)?;
        let scope = export_scope.min(view_scope);
        let fields = self.fields(entity)?;
        let (condition, values) = self.scope_condition(scope)?;
        let ids: Vec<i64> = {
            let mut statement = self.store().conn().prepare(&format!(
                "SELECT r.id FROM {} r WHERE {condition} ORDER BY r.id",
                entity.table()
            ))?;
            statement
                .query_map(params_from_iter(values.iter()), |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        let total = ids.len() as u64;
        let last = ids.last().copied().unwrap_or(0);
        self.record(
            AuditEvent::new(AuditAction::Export)
                .target(entity.name(), "list")
                .detail("rows", total)
                .detail("format", format.name())
                .detail("ids", id_ranges(&ids)),
        )?;
        drop(ids);
        // Columns: fields the role can see at all (on its own records); others never appear.
        let columns: Vec<&super::EffectiveField> = fields
            .iter()
            .filter(|field| view::visible(&role, field, role.clearance))
            .collect();
        let mut csv_writer = None;
        match format {
            ExportFormat::Csv => {
                let mut writer = csv::WriterBuilder::new().from_writer(Vec::new());
                let mut header: Vec<String> = vec![
                    "id".into(),
                    "owner".into(),
                    "created_at".into(),
                    "updated_at".into(),
                ];
                for field in &columns {
                    header.push(field.name.clone());
                    if field.name == "company_id" {
                        header.push("company".into());
                    }
                }
                header.push("tags".into());
                writer.write_record(&header).map_err(|error| Error::Io {
                    context: "writing the export".into(),
                    source: error.into(),
                })?;
                drain(&mut writer, out)?;
                csv_writer = Some(writer);
            }
            ExportFormat::Json => out.write_all(b"[").map_err(io)?,
            ExportFormat::Vcard => {}
        }
        let mut after = 0i64;
        let mut written = 0u64;
        loop {
            let mut page_values = values.clone();
            page_values.push(SqlValue::Integer(after));
            page_values.push(SqlValue::Integer(last));
            let records = view::load(
                self,
                &role,
                entity,
                &fields,
                &format!("{condition} AND r.id > ? AND r.id <= ?"),
                &page_values,
                Some("r.id"),
                PAGE,
                0,
            )?;
            let Some(tail) = records.last() else { break };
            after = tail.id;
            for record in &records {
                match format {
                    ExportFormat::Csv => {
                        if let Some(writer) = csv_writer.as_mut() {
                            write_csv_row(writer, record, &columns)?;
                            drain(writer, out)?;
                        }
                    }
                    ExportFormat::Json => {
                        if written > 0 {
                            out.write_all(b",").map_err(io)?;
                        }
                        out.write_all(b"\n").map_err(io)?;
                        serde_json::to_writer(&mut *out, &json_object(record)).map_err(
                            |error| Error::Io {
                                context: "writing the export".into(),
                                source: error.into(),
                            },
                        )?;
                    }
                    ExportFormat::Vcard => super::vcard::write_card(out, record).map_err(io)?,
                }
                written += 1;
            }
            progress(Progress {
                step: format!("exporting {}", entity.table()),
                done: written,
                total,
            });
        }
        if format == ExportFormat::Json {
            out.write_all(b"\n]\n").map_err(io)?;
        }
        out.flush().map_err(io)?;
        Ok(ExportReport {
            entity,
            format,
            rows: written,
        })
    }
}

/// Moves what the CSV writer has encoded to `out` (the writer buffers into a Vec so `out`
/// stays free for the other formats).
fn drain(writer: &mut csv::Writer<Vec<u8>>, out: &mut dyn Write) -> Result<()> {
    let done = std::mem::replace(
        writer,
        csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new()),
    );
    let bytes = done
        .into_inner()
        .map_err(|error| io(std::io::Error::other(error.to_string())))?;
    out.write_all(&bytes).map_err(io)
}

fn write_csv_row<W: Write>(
    writer: &mut csv::Writer<W>,
    record: &RecordView,
    columns: &[&super::EffectiveField],
) -> Result<()> {
    let mut row: Vec<String> = vec![
        record.id.to_string(),
        record.owner.clone(),
        record.created_at.clone(),
        record.updated_at.clone(),
    ];
    for field in columns {
        let shown = record.fields.iter().find(|view| view.name == field.name);
        row.push(cell(shown.and_then(|view| view.value.as_ref())));
        if field.name == "company_id" {
            row.push(
                shown
                    .filter(|view| view.value.is_some())
                    .and_then(|view| view.display.clone())
                    .unwrap_or_default(),
            );
        }
    }
    row.push(record.tags.join(", "));
    writer.write_record(&row).map_err(|error| Error::Io {
        context: "writing the export".into(),
        source: error.into(),
    })
}

/// Only visible values: masked hints and revealable markers are left out.
fn json_object(record: &RecordView) -> serde_json::Value {
    let mut fields = serde_json::Map::new();
    for field in &record.fields {
        if let Some(value) = &field.value {
            fields.insert(field.name.clone(), value.clone());
            if let Some(display) = &field.display
                && field.name == "company_id"
            {
                fields.insert("company".into(), serde_json::Value::String(display.clone()));
            }
        }
    }
    serde_json::json!({
        "entity": record.entity,
        "id": record.id,
        "owner": record.owner,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "tags": record.tags,
        "fields": fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_recorded_as_ranges() {
        assert_eq!(id_ranges(&[1, 2, 3, 5, 7, 8]), "1-3,5,7-8");
        assert_eq!(id_ranges(&[]), "");
    }
}
