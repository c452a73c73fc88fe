//! Export of any entity to CSV, JSON or vCard 3.0 / 4.0 (contacts), through the role view only.
//!
//! Records come from `view::load`, so a value the role cannot see is never in hand; masked
//! hints are not values either and are left out (the cell stays empty). Export needs the export
//! scope on the entity (intersected with the view scope). The export is written to the audit
//! trail — with the ids, as ranges — *before* the first byte is written, and a failure to record
//! refuses the export. Records are streamed page by page (keyset on id) to the writer.
//!
//! References are written twice: the id, and beside it the name an import links by — `company`
//! and `stage` names, `contact` as `First Last <email>`, `deal` titles — from what the role may
//! see of the referenced record, so an export imports into another vault with its links (and
//! tags) intact.

use std::collections::BTreeMap;
use std::io::Write;

use rusqlite::params_from_iter;
use rusqlite::types::Value as SqlValue;
use serde::Serialize;

use super::fields::Entity;
use super::vcard::VcardVersion;
use super::view::{self, RecordView};
use crate::audit::{AuditAction, AuditEvent};
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
    /// vCard 3.0 (contacts only).
    Vcard3,
}

impl ExportFormat {
    /// Parses `csv`, `json`, `vcard` (4.0), `vcard3`.
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "csv" => Ok(Self::Csv),
            "json" => Ok(Self::Json),
            "vcard" | "vcf" | "vcard4" => Ok(Self::Vcard),
            "vcard3" => Ok(Self::Vcard3),
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
            Self::Vcard3 => "vcard3",
        }
    }

    /// vCard of a given version (contacts only).
    pub fn vcard(version: VcardVersion) -> Self {
        match version {
            VcardVersion::V3 => Self::Vcard3,
            VcardVersion::V4 => Self::Vcard,
        }
    }

    fn vcard_version(self) -> Option<VcardVersion> {
        match self {
            Self::Vcard => Some(VcardVersion::V4),
            Self::Vcard3 => Some(VcardVersion::V3),
            Self::Csv | Self::Json => None,
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
        if format.vcard_version().is_some() && entity != Entity::Contact {
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
                    if let Some(companion) = companion(&field.name) {
                        header.push(companion.into());
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
            ExportFormat::Vcard | ExportFormat::Vcard3 => {}
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
            let names = if format.vcard_version().is_some() {
                References::default()
            } else {
                References::of(self, &role, &records)?
            };
            for record in &records {
                match format {
                    ExportFormat::Csv => {
                        if let Some(writer) = csv_writer.as_mut() {
                            write_csv_row(writer, record, &columns, &names)?;
                            drain(writer, out)?;
                        }
                    }
                    ExportFormat::Json => {
                        if written > 0 {
                            out.write_all(b",").map_err(io)?;
                        }
                        out.write_all(b"\n").map_err(io)?;
                        serde_json::to_writer(&mut *out, &json_object(record, &names)).map_err(
                            |error| Error::Io {
                                context: "writing the export".into(),
                                source: error.into(),
                            },
                        )?;
                    }
                    ExportFormat::Vcard | ExportFormat::Vcard3 => {
                        let version = format.vcard_version().unwrap_or(VcardVersion::V4);
                        super::vcard::write_card(out, record, version).map_err(io)?;
                    }
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
    names: &References,
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
        if companion(&field.name).is_some() {
            row.push(shown.and_then(|view| names.name(view)).unwrap_or_default());
        }
    }
    row.push(record.tags.join(", "));
    writer.write_record(&row).map_err(|error| Error::Io {
        context: "writing the export".into(),
        source: error.into(),
    })
}

/// Only visible values: masked hints and revealable markers are left out.
fn json_object(record: &RecordView, names: &References) -> serde_json::Value {
    let mut fields = serde_json::Map::new();
    for field in &record.fields {
        if let Some(value) = &field.value {
            fields.insert(field.name.clone(), value.clone());
            if let (Some(companion), Some(name)) = (companion(&field.name), names.name(field)) {
                fields.insert(companion.into(), serde_json::Value::String(name));
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

/// The name column written beside a reference column.
fn companion(field: &str) -> Option<&'static str> {
    match field {
        "company_id" => Some("company"),
        "contact_id" => Some("contact"),
        "deal_id" => Some("deal"),
        "stage_id" => Some("stage"),
        _ => None,
    }
}

/// Names of the contacts and deals one page of records refers to, as the role sees them
/// (companies and stages come resolved in the view).
#[derive(Debug, Default)]
struct References {
    contacts: BTreeMap<i64, String>,
    deals: BTreeMap<i64, String>,
}

impl References {
    fn of(
        session: &Session,
        role: &crate::policy::RoleDef,
        records: &[RecordView],
    ) -> Result<Self> {
        let ids = |name: &str| -> Vec<i64> {
            let mut ids: Vec<i64> = records
                .iter()
                .filter_map(|record| record.value(name).and_then(serde_json::Value::as_i64))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        Ok(Self {
            contacts: Self::load(
                session,
                role,
                Entity::Contact,
                &ids("contact_id"),
                |contact| {
                    let text = |name: &str| {
                        contact
                            .value(name)
                            .and_then(|value| value.as_str().map(str::to_owned))
                    };
                    let name = [text("first_name"), text("last_name")]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ");
                    let email = match contact.value("emails") {
                        Some(serde_json::Value::Array(emails)) => emails
                            .first()
                            .and_then(|email| email.as_str().map(str::to_owned)),
                        _ => None,
                    };
                    match (name.is_empty(), email) {
                        (false, Some(email)) => Some(format!("{name} <{email}>")),
                        (true, Some(email)) => Some(email),
                        (false, None) => Some(name),
                        (true, None) => None,
                    }
                },
            )?,
            deals: Self::load(session, role, Entity::Deal, &ids("deal_id"), |deal| {
                deal.value("title")
                    .and_then(|title| title.as_str().map(str::to_owned))
            })?,
        })
    }

    /// Loads `ids` of `entity` through the role view and names them — only records the role
    /// may export as well as view, so a deal export never carries contact emails that a
    /// contact export would have refused.
    fn load(
        session: &Session,
        role: &crate::policy::RoleDef,
        entity: Entity,
        ids: &[i64],
        name: impl Fn(&RecordView) -> Option<String>,
    ) -> Result<BTreeMap<i64, String>> {
        let scope = role
            .scope(entity, Action::Export)
            .min(role.scope(entity, Action::View));
        if ids.is_empty() || scope == crate::policy::Scope::None {
            return Ok(BTreeMap::new());
        }
        let (condition, values) = session.scope_condition(scope)?;
        let fields = session.fields(entity)?;
        let list = ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let records = view::load(
            session,
            role,
            entity,
            &fields,
            &format!("{condition} AND r.id IN ({list})"),
            &values,
            None,
            ids.len() as u32,
            0,
        )?;
        Ok(records
            .iter()
            .filter_map(|record| name(record).map(|text| (record.id, text)))
            .collect())
    }

    /// The name beside a visible reference value.
    fn name(&self, field: &view::FieldView) -> Option<String> {
        let id = field.value.as_ref()?.as_i64()?;
        match field.name.as_str() {
            "contact_id" => self.contacts.get(&id).cloned(),
            "deal_id" => self.deals.get(&id).cloned(),
            _ => field.display.clone(),
        }
    }
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
