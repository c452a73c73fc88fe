//! `crm audit …`, `crm review access` and `crm alerts`.

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};
use crm_core::audit::{AuditAction, AuditEntry, AuditFilter, VerifyReport};
use crm_core::{Error, Result};

use crate::Cli;
use crate::credentials::unlock;
use crate::output::{Output, render_alerts};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List entries, newest first (values masked to your clearance)
    List(ListArgs),
    /// Check the whole chain and the head file; exits non-zero on any break
    Verify,
    /// Who viewed, revealed, changed or exported a record in a period (for breach reports)
    Who {
        /// The record, as ENTITY:ID (e.g. contact:42)
        #[arg(long, value_name = "ENTITY:ID")]
        target: String,
        /// From this time (RFC 3339 or YYYY-MM-DD)
        #[arg(long, value_parser = parse_time)]
        since: Option<DateTime<Utc>>,
        /// Until this time, exclusive (RFC 3339 or YYYY-MM-DD)
        #[arg(long, value_parser = parse_time)]
        until: Option<DateTime<Utc>>,
    },
    /// Show or set how long entries are kept (default: forever)
    Retention {
        /// Keep entries this many days (at least 30); older ones are pruned behind a checkpoint
        #[arg(long, conflicts_with = "keep_all")]
        days: Option<u32>,
        /// Keep everything (the default)
        #[arg(long)]
        keep_all: bool,
    },
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only entries by this user (not `--user`, which is who signs in)
    #[arg(long, value_name = "NAME")]
    by: Option<String>,
    /// Only this action (repeatable), e.g. unlock, view, export, update
    #[arg(long = "action")]
    actions: Vec<String>,
    /// From this time (RFC 3339 or YYYY-MM-DD)
    #[arg(long, value_parser = parse_time)]
    since: Option<DateTime<Utc>>,
    /// Until this time, exclusive (RFC 3339 or YYYY-MM-DD)
    #[arg(long, value_parser = parse_time)]
    until: Option<DateTime<Utc>>,
    /// Only entries about this record, as ENTITY:ID or ENTITY
    #[arg(long, value_name = "ENTITY[:ID]")]
    target: Option<String>,
    /// At most this many entries
    #[arg(long, default_value_t = 200)]
    limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// Users, their rights and how they used them; `--sign-off` records the owner's approval
    Access {
        /// The period to review, in days
        #[arg(long, default_value_t = 90)]
        days: i64,
        /// Record that you reviewed and approve it
        #[arg(long)]
        sign_off: bool,
    },
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// Include acknowledged alerts
    #[arg(long)]
    all: bool,
    /// Acknowledge this alert
    #[arg(long, value_name = "ID")]
    ack: Option<i64>,
}

fn parse_time(text: &str) -> std::result::Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|time| time.and_utc())
        .ok_or_else(|| format!("{text:?} is not a time (use 2026-11-22 or 2026-11-22T13:00:00Z)"))
}

fn split_target(target: &str) -> (String, Option<String>) {
    match target.split_once(':') {
        Some((entity, id)) => (entity.to_owned(), Some(id.to_owned())),
        None => (target.to_owned(), None),
    }
}

fn render_entries(entries: &[AuditEntry]) -> String {
    let mut text = String::new();
    for entry in entries {
        let target = match (&entry.entity, &entry.record_id) {
            (Some(entity), Some(id)) => format!(" {entity}:{id}"),
            (Some(entity), None) => format!(" {entity}"),
            _ => String::new(),
        };
        let field = entry
            .field
            .as_ref()
            .map(|f| format!(".{f}"))
            .unwrap_or_default();
        let change = match (&entry.old_value, &entry.new_value) {
            (None, None) => String::new(),
            (old, new) => format!(
                " {} → {}",
                old.as_deref().unwrap_or("∅"),
                new.as_deref().unwrap_or("∅")
            ),
        };
        let detail = match &entry.detail {
            serde_json::Value::Object(map) if !map.is_empty() => format!(" {}", entry.detail),
            _ => String::new(),
        };
        text.push_str(&format!(
            "{:>6} {} {:<14} {:<22}{target}{field}{change}{detail}\n",
            entry.seq,
            &entry.at[..entry.at.len().min(19)],
            entry.user.as_deref().unwrap_or("-"),
            entry.action,
        ));
    }
    if text.is_empty() {
        text.push_str("no entries");
    }
    text
}

pub fn audit(cli: &Cli, command: &AuditCommand, out: &Output) -> Result<()> {
    let mut session = unlock(cli)?;
    match command {
        AuditCommand::List(args) => {
            let (entity, record_id) = match &args.target {
                Some(target) => {
                    let (entity, id) = split_target(target);
                    (Some(entity), id)
                }
                None => (None, None),
            };
            let filter = AuditFilter {
                user: args.by.clone(),
                actions: args
                    .actions
                    .iter()
                    .map(|name| AuditAction::parse(name))
                    .collect::<Result<Vec<_>>>()?,
                since: args.since,
                until: args.until,
                entity,
                record_id,
                limit: Some(args.limit),
            };
            let entries = session.audit_list(&filter)?;
            out.show(&entries, |entries| render_entries(entries));
        }
        AuditCommand::Verify => {
            let report = session.audit_verify()?;
            out.show(&report, render_verify);
            if !report.intact {
                return Err(Error::Invalid("the audit trail failed verification".into()));
            }
        }
        AuditCommand::Who {
            target,
            since,
            until,
        } => {
            let (entity, id) = split_target(target);
            let id = id.ok_or_else(|| {
                Error::Invalid("--target needs ENTITY:ID, e.g. contact:42".into())
            })?;
            let entries = session.audit_who(&entity, &id, *since, *until)?;
            out.show(&entries, |entries| render_entries(entries));
        }
        AuditCommand::Retention { days, keep_all } => {
            if *keep_all {
                session.set_audit_retention_days(None)?;
            } else if let Some(days) = days {
                session.set_audit_retention_days(Some(*days))?;
            }
            let current = session.audit_retention_days()?;
            out.show(
                &serde_json::json!({ "retention_days": current }),
                |_| match current {
                    Some(days) => format!("audit entries are kept {days} days"),
                    None => "audit entries are kept forever".to_owned(),
                },
            );
        }
    }
    Ok(())
}

fn render_verify(report: &VerifyReport) -> String {
    let mut text = match &report.first_bad {
        None => format!(
            "audit trail intact: {} entries, {} retention checkpoint(s)",
            report.entries, report.checkpoints
        ),
        Some(bad) => format!("AUDIT TRAIL BROKEN at entry {}: {}", bad.seq, bad.reason),
    };
    text.push_str(&format!(
        "\nhead file: {}\nbackups: {}",
        report.head_file, report.backups
    ));
    for warning in &report.warnings {
        text.push_str(&format!("\nWARNING: {warning}"));
    }
    text
}

pub fn review(cli: &Cli, command: &ReviewCommand, out: &Output) -> Result<()> {
    let mut session = unlock(cli)?;
    let ReviewCommand::Access { days, sign_off } = command;
    let review = if *sign_off {
        session.sign_off_access_review(*days)?
    } else {
        session.access_review(*days)?
    };
    out.show(&review, |review| {
        let mut text = format!("Access review, last {} days\n", review.period_days);
        for user in &review.users {
            text.push_str(&format!(
                "\n{} ({})\n  last unlock: {}; last activity: {}\n  viewed {} records, exported {} rows\n  rights: {}\n",
                user.user,
                user.role,
                user.last_unlock.as_deref().unwrap_or("never"),
                user.last_activity.as_deref().unwrap_or("never"),
                user.records_viewed,
                user.records_exported,
                user.rights.join(", "),
            ));
            if !user.unused_rights.is_empty() {
                text.push_str(&format!(
                    "  unused for 90 days: {}\n",
                    user.unused_rights.join(", ")
                ));
            }
        }
        match (&review.last_signed_off, sign_off) {
            (_, true) => text.push_str("\nSigned off (recorded in the audit trail)."),
            (Some((by, at)), false) => {
                text.push_str(&format!("\nLast signed off by {by} at {at}."))
            }
            (None, false) => text.push_str("\nNever signed off: add --sign-off after reviewing."),
        }
        text
    });
    Ok(())
}

pub fn alerts(cli: &Cli, args: &AlertsArgs, out: &Output) -> Result<()> {
    let mut session = unlock(cli)?;
    if let Some(id) = args.ack {
        session.acknowledge_alert(id)?;
        out.done(&format!("acknowledged alert {id}"));
        return Ok(());
    }
    let alerts = session.alerts(args.all)?;
    out.show(&alerts, |alerts| {
        if alerts.is_empty() {
            "no unusual activity".to_owned()
        } else {
            render_alerts(alerts)
        }
    });
    Ok(())
}
