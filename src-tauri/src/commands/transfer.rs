//! Importing contacts from a CSV or vCard file the user picks: a dry run that reports what
//! would be created, updated or rejected (row and column, never a cell's value), then the
//! all-or-nothing import with progress events. Mapping, dedupe by email and the import right
//! are crm-core's.

use std::path::PathBuf;

use crm_core::records::import::{ImportOptions, ImportReport};
use serde::Serialize;
use tauri::{AppHandle, Manager, Runtime};

use super::blocking;
use super::users::emit_progress;
use crate::error::CommandResult;
use crate::state::AppState;

/// What an import did, or would do.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct ImportSummary {
    /// Only checked, nothing written.
    pub dry_run: bool,
    /// The changes were committed.
    pub committed: bool,
    /// The recognised layout (`hubspot`, `google`, …) and encoding.
    pub source: String,
    /// Column → field, as applied.
    pub mapping: Vec<String>,
    /// Columns nobody maps.
    pub ignored_columns: Vec<String>,
    /// Data rows read.
    pub rows: u32,
    /// Contacts created (or that would be).
    pub created: u32,
    /// Contacts updated (or that would be).
    pub updated: u32,
    /// Rows rejected.
    pub rejected: u32,
    /// Companies created for company names.
    pub companies_created: u32,
    /// The first rejections: `row 7, Email: not an email address`.
    pub problems: Vec<String>,
    /// More rejections than listed.
    pub more_problems: bool,
}

fn summary(report: ImportReport) -> ImportSummary {
    let count = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    ImportSummary {
        dry_run: report.dry_run,
        committed: report.committed,
        source: match &report.layout {
            Some(layout) => format!("{} ({layout} layout, {})", report.format, report.encoding),
            None => format!("{} ({})", report.format, report.encoding),
        },
        mapping: report
            .mapping
            .iter()
            .map(|(column, field)| format!("{column} → {field}"))
            .collect(),
        ignored_columns: report.ignored_columns,
        rows: count(report.rows),
        created: count(report.created),
        updated: count(report.updated),
        rejected: count(report.rejected),
        companies_created: count(report.companies_created),
        problems: report
            .errors
            .iter()
            .map(|error| match &error.column {
                Some(column) => format!("row {}, {column}: {}", error.row, error.reason),
                None => format!("row {}: {}", error.row, error.reason),
            })
            .collect(),
        more_problems: report.errors_truncated,
    }
}

/// Imports contacts from `path` (`.vcf` / `.vcard` as vCard, anything else as CSV);
/// `dry_run` only reports. Progress events: `import`.
#[tauri::command]
#[specta::specta]
pub async fn import_contacts<R: Runtime>(
    app: AppHandle<R>,
    path: String,
    dry_run: bool,
) -> CommandResult<ImportSummary> {
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
        let options = ImportOptions {
            dry_run,
            ..ImportOptions::default()
        };
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
