//! `crm import csv|vcard FILE` and `crm export csv|json|vcard`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use crm_core::records::export::ExportFormat;
use crm_core::records::fields::Entity;
use crm_core::records::import::{ImportOptions, ImportReport, SourceEncoding};
use crm_core::{Error, Result};

use crate::Cli;
use crate::credentials::unlock;
use crate::output::Output;

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import contacts from CSV (HubSpot, Salesforce, Pipedrive, Google, Outlook layouts mapped automatically)
    Csv(CsvArgs),
    /// Import contacts from a vCard 3.0 or 4.0 file
    Vcard(VcardArgs),
}

#[derive(Debug, Args)]
pub struct CsvArgs {
    /// The CSV file
    file: PathBuf,
    /// Check every row and report what would be created, updated or rejected; commit nothing
    #[arg(long)]
    dry_run: bool,
    /// "CSV Header=field" (repeatable): field is a contact field, company, full_name or ignore
    #[arg(long = "map", value_name = "HEADER=FIELD")]
    map: Vec<String>,
    /// The file's encoding [default: detected]
    #[arg(long, value_parser = ["utf-8", "windows-1252", "windows-1251"])]
    encoding: Option<String>,
}

#[derive(Debug, Args)]
pub struct VcardArgs {
    /// The .vcf file
    file: PathBuf,
    /// Check every card and report; commit nothing
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
    /// Write to this file (created, owner-only permissions) instead of standard output
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

fn render(report: &ImportReport) -> String {
    let mut text = format!(
        "{}{} rows ({}, {}{}): {} created, {} updated, {} rejected, {} companies created\n",
        if report.dry_run { "dry run: " } else { "" },
        report.rows,
        report.format,
        report.encoding,
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

fn finish(report: &ImportReport, out: &Output) -> Result<()> {
    out.show(report, render);
    if !report.committed && !report.dry_run {
        return Err(Error::Invalid(format!(
            "nothing was imported: {} row(s) rejected",
            report.rejected
        )));
    }
    Ok(())
}

pub fn import(cli: &Cli, command: &ImportCommand, out: &Output) -> Result<()> {
    let mut session = unlock(cli)?;
    let mut progress = |progress: crm_core::Progress| out.progress(&progress);
    let report = match command {
        ImportCommand::Csv(args) => {
            let mut mapping = Vec::new();
            for pair in &args.map {
                let (header, field) = pair.rsplit_once('=').ok_or_else(|| {
                    Error::Invalid(format!("--map {pair:?}: use \"CSV Header=field\""))
                })?;
                mapping.push((header.to_owned(), field.to_owned()));
            }
            let options = ImportOptions {
                dry_run: args.dry_run,
                mapping,
                encoding: match &args.encoding {
                    Some(name) => SourceEncoding::parse(name)?,
                    None => SourceEncoding::Auto,
                },
            };
            session.import_csv(&args.file, &options, &mut progress)?
        }
        ImportCommand::Vcard(args) => {
            let options = ImportOptions {
                dry_run: args.dry_run,
                ..ImportOptions::default()
            };
            session.import_vcard(&args.file, &options, &mut progress)?
        }
    };
    finish(&report, out)
}

pub fn export(cli: &Cli, args: &ExportArgs, out: &Output) -> Result<()> {
    let entity = Entity::parse(&args.entity)?;
    let format = ExportFormat::parse(&args.format)?;
    let mut session = unlock(cli)?;
    let mut progress = |progress: crm_core::Progress| {
        if args.out.is_some() {
            out.progress(&progress);
        }
    };
    match &args.out {
        Some(path) => {
            let file = create_private(path)?;
            let mut writer = std::io::BufWriter::with_capacity(256 * 1024, file);
            let report = session.export(entity, format, &mut writer, &mut progress)?;
            writer.flush().map_err(|source| Error::Io {
                context: format!("writing {}", path.display()),
                source,
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

/// A new file readable by its owner only (an export holds customer data in the clear).
fn create_private(path: &std::path::Path) -> Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(|source| Error::Io {
        context: format!("creating {}", path.display()),
        source,
    })
}
