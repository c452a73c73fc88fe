//! `crm import csv|vcard FILE` and `crm export csv|json|vcard`: argument parsing and the
//! report as text; every rule (mapping, dedupe, dates, links, rights) is crm-core's.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use crm_core::records::export::ExportFormat;
use crm_core::records::fields::Entity;
use crm_core::records::import::{
    DateOrder, ImportOptions, ImportReport, PlanAction, SourceEncoding,
};
use crm_core::records::vcard::VcardVersion;
use crm_core::{Error, Result, Session};

use crate::Cli;
use crate::credentials::unlock;
use crate::output::Output;

/// The exit status of an import or dry run with rejected rows (nothing was committed).
pub const EXIT_ROWS_REJECTED: u8 = 3;

const IMPORT_EXIT_STATUS: &str = "Exit status: 0 when every row is accepted (and, without \
--dry-run, committed); 3 when rows are rejected — nothing is committed and the report names each \
row and column; 1 for any other failure (unreadable file, bad --map, no permission); 2 for wrong \
arguments.";

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import companies, contacts, deals, activities or notes from CSV (HubSpot, Salesforce, Pipedrive, Google and Outlook exports are recognised)
    #[command(after_help = IMPORT_EXIT_STATUS)]
    Csv(CsvArgs),
    /// Import contacts from a vCard 2.1, 3.0 or 4.0 file
    #[command(after_help = IMPORT_EXIT_STATUS)]
    Vcard(VcardArgs),
}

#[derive(Debug, Args)]
pub struct CsvArgs {
    /// The CSV file
    file: PathBuf,
    /// Check every row and report what would be created, updated (which record, and why) or rejected; commit nothing
    #[arg(long)]
    dry_run: bool,
    /// The record type of the rows [default: told from the header row]
    #[arg(long, value_parser = ["company", "contact", "deal", "activity", "note"])]
    entity: Option<String>,
    /// Column mapping, "CSV Header=field" (repeatable): a field of the record type, or company, contact, deal, stage, status, full_name, tags, ignore
    #[arg(long = "map", value_name = "HEADER=FIELD")]
    map: Vec<String>,
    /// The file's encoding [default: detected]
    #[arg(long, value_parser = ["utf-8", "windows-1252", "windows-1251"])]
    encoding: Option<String>,
    /// The date order, of day and month in dates like 03/04/1985 [default: told from the file's values; rows with dates that fit both orders are rejected]
    #[arg(long, value_parser = ["dmy", "mdy", "ymd"])]
    date_order: Option<String>,
    /// Stage names, "Their stage=Our stage" (repeatable): deal stages the other CRM names differently
    #[arg(long = "stage-map", value_name = "THEIRS=OURS")]
    stage_map: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VcardArgs {
    /// The .vcf file
    file: PathBuf,
    /// Check every card and report what would be created, updated or rejected; commit nothing
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// csv, json or vcard (contacts)
    #[arg(value_parser = ["csv", "json", "vcard"])]
    format: String,
    /// company, contact, deal, activity or note
    #[arg(long, default_value = "contact")]
    entity: String,
    /// vCard version to write (vcard only)
    #[arg(long, value_parser = ["3.0", "4.0"], default_value = "4.0")]
    vcard_version: String,
    /// Write to this file instead of standard output: a new owner-only (0600) file that replaces
    /// any file there once the export is complete; a symbolic link is refused
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

fn render(report: &ImportReport) -> String {
    let entity = report.entity.map(Entity::table).unwrap_or("records");
    let mut text = format!(
        "{}{} rows of {entity} ({}, {}{}): {} created, {} updated, {} rejected, {} companies created\n",
        if report.dry_run { "dry run: " } else { "" },
        report.rows,
        report.format,
        match report.separator.as_deref() {
            Some(separator) if separator != "comma" => format!("separated by {separator}s, "),
            _ => String::new(),
        } + &report.encoding,
        report
            .layout
            .as_deref()
            .map(|layout| format!(", {layout} layout"))
            .unwrap_or_default(),
        report.created,
        report.updated,
        report.rejected,
        report.companies_created,
    );
    if !report.mapping.is_empty() {
        let pairs: Vec<String> = report
            .mapping
            .iter()
            .map(|(column, field)| format!("{column} → {field}"))
            .collect();
        text.push_str(&format!("mapping: {}\n", pairs.join("; ")));
    }
    if !report.ignored_columns.is_empty() {
        text.push_str(&format!(
            "ignored columns: {}\n",
            report.ignored_columns.join(", ")
        ));
        // The header could not be imported as it is: say what a column can be mapped to.
        let header_refused = report.errors.iter().any(|error| error.row == 1);
        if header_refused && !report.mappable.is_empty() {
            text.push_str(&format!(
                "  map one with --map \"Header=field\"; fields: {}\n",
                report.mappable.join(", ")
            ));
        }
    }
    for column in &report.date_columns {
        let order = match column.order {
            Some(DateOrder::Dmy) => "day/month/year",
            Some(DateOrder::Mdy) => "month/day/year",
            Some(DateOrder::Ymd) => "year/month/day",
            None => "undecided",
        };
        text.push_str(&format!(
            "dates in {:?}: {order} ({})\n",
            column.column, column.decided_by
        ));
    }
    for notice in &report.notices {
        text.push_str(&format!("notice: {notice}\n"));
    }
    if report.dry_run {
        for entry in &report.plan {
            let mut line = match entry.action {
                PlanAction::Create => format!("row {}: create {:?}", entry.row, entry.name),
                PlanAction::Update => format!(
                    "row {}: update {} {}{} with {:?}",
                    entry.row,
                    report.entity.map_or("record", Entity::name),
                    entry.existing_id.unwrap_or_default(),
                    entry
                        .existing_name
                        .as_deref()
                        .map(|name| format!(" ({name})"))
                        .unwrap_or_default(),
                    entry.name
                ),
            };
            if let Some(reason) = &entry.matched_by {
                line.push_str(&format!(": {reason}"));
            }
            if let Some(company) = &entry.new_company {
                line.push_str(&format!(" (new company {company:?})"));
            }
            text.push_str(&line);
            text.push('\n');
        }
        if report.plan_truncated {
            text.push_str("(more rows not listed)\n");
        }
    }
    for error in &report.errors {
        match &error.column {
            Some(column) => text.push_str(&format!(
                "row {}, column {column:?}: {}\n",
                error.row, error.reason
            )),
            None => text.push_str(&format!("row {}: {}\n", error.row, error.reason)),
        }
    }
    if report.errors_truncated {
        text.push_str("(more rejected rows not listed)\n");
    }
    text.push_str(if report.committed {
        "committed\n"
    } else if report.dry_run {
        "nothing committed (dry run)\n"
    } else {
        "nothing committed: fix the rejected rows and import again\n"
    });
    text
}

/// Prints the report; rows rejected end the process with [`EXIT_ROWS_REJECTED`] once the
/// session is locked (which flushes its audit entries).
fn finish(report: &ImportReport, session: Session, out: &Output) -> Result<()> {
    out.show(report, render);
    if report.rejected > 0 {
        drop(session);
        out.error(&Error::Invalid(format!(
            "{} row(s) rejected: nothing was imported",
            report.rejected
        )));
        // Best effort: the report was printed line by line already.
        let _ = std::io::stdout().flush();
        std::process::exit(i32::from(EXIT_ROWS_REJECTED));
    }
    Ok(())
}

/// `"A=B"` pairs of a repeatable option, split at the last `=`.
fn pairs(option: &str, values: &[String]) -> Result<Vec<(String, String)>> {
    values
        .iter()
        .map(|pair| {
            pair.rsplit_once('=')
                .map(|(left, right)| (left.to_owned(), right.to_owned()))
                .ok_or_else(|| Error::Invalid(format!("{option} {pair:?}: use \"A=B\"")))
        })
        .collect()
}

pub fn import(cli: &Cli, command: &ImportCommand, out: &Output) -> Result<()> {
    let options = match command {
        ImportCommand::Csv(args) => ImportOptions {
            dry_run: args.dry_run,
            entity: args.entity.as_deref().map(Entity::parse).transpose()?,
            mapping: pairs("--map", &args.map)?,
            encoding: match &args.encoding {
                Some(name) => SourceEncoding::parse(name)?,
                None => SourceEncoding::Auto,
            },
            date_order: args
                .date_order
                .as_deref()
                .map(DateOrder::parse)
                .transpose()?,
            stage_map: pairs("--stage-map", &args.stage_map)?,
        },
        ImportCommand::Vcard(args) => ImportOptions {
            dry_run: args.dry_run,
            ..ImportOptions::default()
        },
    };
    let mut session = unlock(cli)?;
    let mut progress = |progress: crm_core::Progress| out.progress(&progress);
    let report = match command {
        ImportCommand::Csv(args) => session.import_csv(&args.file, &options, &mut progress)?,
        ImportCommand::Vcard(args) => session.import_vcard(&args.file, &options, &mut progress)?,
    };
    finish(&report, session, out)
}

pub fn export(cli: &Cli, args: &ExportArgs, out: &Output) -> Result<()> {
    let entity = Entity::parse(&args.entity)?;
    let format = match ExportFormat::parse(&args.format)? {
        ExportFormat::Vcard => ExportFormat::vcard(VcardVersion::parse(&args.vcard_version)?),
        other => other,
    };
    let mut session = unlock(cli)?;
    let mut progress = |progress: crm_core::Progress| {
        if args.out.is_some() {
            out.progress(&progress);
        }
    };
    match &args.out {
        Some(path) => {
            refuse_symlink(path)?;
            // A new owner-only file renamed over the target: an existing file's looser mode is
            // not kept, and a failed export leaves the old file as it was.
            let report = crm_core::fsutil::replace_with(path, |file| {
                let mut writer = std::io::BufWriter::with_capacity(256 * 1024, file);
                let report = session.export(entity, format, &mut writer, &mut progress)?;
                writer.flush().map_err(|source| Error::Io {
                    context: format!("writing {}", path.display()),
                    source,
                })?;
                Ok(report)
            })?;
            out.show(&report, |report| {
                format!(
                    "exported {} {} record(s) as {} to {}",
                    report.rows,
                    entity.name(),
                    format.name(),
                    path.display()
                )
            });
        }
        None => {
            let stdout = std::io::stdout();
            let mut writer = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
            session.export(entity, format, &mut writer, &mut progress)?;
            writer.flush().map_err(|source| Error::Io {
                context: "writing standard output".into(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Refuses an `--out` that is a symbolic link: the export would land wherever the link points
/// (another user's planted link in a shared folder), so say so instead of replacing it.
fn refuse_symlink(path: &std::path::Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(Error::Invalid(format!(
            "{} is a symbolic link; give the export a plain file name",
            path.display()
        ))),
        _ => Ok(()),
    }
}
