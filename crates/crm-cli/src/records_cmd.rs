//! `crm company|contact|deal|activity|note …`, `crm search`, `crm demo`, `crm reveal` and
//! `crm erase`. Roles, fields and the pipeline have their own command files.

use clap::{Args, Subcommand};
use crm_core::records::demo::DemoScale;
use crm_core::records::fields::Entity;
use crm_core::records::{Dependents, ListQuery, RecordView};
use crm_core::{Error, Result};

use crate::Cli;
use crate::credentials::unlock;
use crate::output::Output;
use crate::set_input::SetArgs;

#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// Add a record: FIELD=VALUE for each field (see `crm field list ENTITY`), with --set, or
    /// out of the process list with --set-stdin or --set-file
    Add {
        #[command(flatten)]
        set: SetArgs,
    },
    /// List records with filters, sorting and paging
    List(ListArgs),
    /// Show one record, as your role may see it
    Show {
        /// Record id
        id: i64,
    },
    /// Change fields of a record
    Edit {
        /// Record id
        id: i64,
        #[command(flatten)]
        set: SetArgs,
    },
    /// Delete a record; linked records (a company's contacts, deals, activities and notes; a
    /// contact's deals, activities and notes; a deal's activities and notes) need --dependents
    Delete {
        /// Record id
        id: i64,
        /// What to do with linked records: detach them (keep them, unlinked) or delete them too
        /// (with what is linked to deleted contacts and deals in turn)
        #[arg(long, value_parser = ["detach", "delete"])]
        dependents: Option<String>,
    },
    /// Add tags to a record
    Tag {
        /// Record id
        id: i64,
        /// Tags
        #[arg(required = true)]
        tags: Vec<String>,
    },
    /// Remove tags from a record
    Untag {
        /// Record id
        id: i64,
        /// Tags
        #[arg(required = true)]
        tags: Vec<String>,
    },
    /// The tags in use on records you can see, with how many carry each
    Tags,
    /// Put a record in a team (managers; the team must exist, see `crm user set-team`)
    SetTeam {
        /// Record id
        id: i64,
        /// Team name
        #[arg(required_unless_present = "none", conflicts_with = "none")]
        team: Option<String>,
        /// Take the record out of any team
        #[arg(long)]
        none: bool,
    },
    /// Give a record to another user (managers)
    SetOwner {
        /// Record id
        id: i64,
        /// The new owner's user name
        #[arg(value_name = "USER")]
        new_owner: String,
    },
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only records owned by this user
    #[arg(long)]
    owner: Option<String>,
    /// Only records with this tag
    #[arg(long)]
    tag: Option<String>,
    /// Only deals in this stage (id; see `crm pipeline show`)
    #[arg(long)]
    stage: Option<i64>,
    /// Only records updated since (YYYY-MM-DD or RFC 3339)
    #[arg(long)]
    since: Option<String>,
    /// FIELD=VALUE filter (repeatable), also for custom fields
    #[arg(long = "where", value_name = "FIELD=VALUE")]
    filters: Vec<String>,
    /// Activities: only open (not done) ones due before this time
    #[arg(long)]
    due_before: Option<String>,
    /// Sort by this field (or updated_at, created_at)
    #[arg(long)]
    sort: Option<String>,
    /// Sort descending
    #[arg(long)]
    desc: bool,
    /// Page number, from 1
    #[arg(long, default_value_t = 1)]
    page: u32,
    /// Rows per page
    #[arg(long, default_value_t = 50)]
    page_size: u32,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Contacts to generate (companies, deals and activities follow in proportion)
    #[arg(long, default_value_t = 1_000)]
    contacts: u64,
    /// Seed: the same seed gives the same data
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// `2026-11-24T09:00:00…` as `2026-11-24 09:00`.
fn short_time(time: &str) -> String {
    time.get(..16).unwrap_or(time).replace('T', " ")
}

fn render_record(record: &RecordView) -> String {
    let by = |who: &Option<String>| {
        who.as_ref()
            .map(|name| format!(" by {name}"))
            .unwrap_or_default()
    };
    let mut text = format!(
        "{} #{} — {}\nowner: {}   team: {}\ncreated: {}{}   updated: {}{}\n",
        record.entity.name(),
        record.id,
        record.title,
        record.owner,
        record.team.as_deref().unwrap_or("—"),
        short_time(&record.created_at),
        by(&record.created_by),
        short_time(&record.updated_at),
        by(&record.updated_by),
    );
    if !record.tags.is_empty() {
        text.push_str(&format!("tags: {}\n", record.tags.join(", ")));
    }
    for field in &record.fields {
        let shown = match (&field.value, &field.masked) {
            (Some(value), _) => {
                let mut shown = crm_core::records::view::value_text(value);
                if let Some(display) = &field.display {
                    shown = format!("{display} (#{shown})");
                }
                shown
            }
            (None, Some(mask)) if field.revealable => {
                format!("{mask}  [hidden — `crm reveal` with a reason]")
            }
            (None, Some(mask)) => format!("{mask}  [masked]"),
            (None, None) => continue,
        };
        text.push_str(&format!("  {:<16} {shown}\n", field.label));
    }
    text
}

fn render_rows(records: &[RecordView]) -> String {
    let mut text = String::new();
    for record in records {
        text.push_str(&format!(
            "{:>7}  {:<40}  {}\n",
            record.id, record.title, record.owner
        ));
    }
    if text.is_empty() {
        text.push_str("no records");
    }
    text
}

pub fn record(cli: &Cli, entity: Entity, command: &RecordCommand, out: &Output) -> Result<()> {
    let mut session = unlock(cli)?;
    match command {
        RecordCommand::Add { set } => {
            let id = session.create(entity, &set.input()?)?;
            out.show(&serde_json::json!({ "id": id }), |_| {
                format!("added {} #{id}", entity.name())
            });
        }
        RecordCommand::List(args) => {
            let filters = args
                .filters
                .iter()
                .map(|filter| {
                    filter
                        .split_once('=')
                        .map(|(field, value)| (field.trim().to_owned(), value.to_owned()))
                        .ok_or_else(|| Error::Invalid(format!("{filter:?}: use FIELD=VALUE")))
                })
                .collect::<Result<Vec<_>>>()?;
            let query = ListQuery {
                owner: args.owner.clone(),
                stage: args.stage,
                tag: args.tag.clone(),
                updated_since: args.since.clone(),
                filters,
                due_before: args.due_before.clone(),
                done: args.due_before.as_ref().map(|_| false),
                sort: args.sort.clone(),
                descending: args.desc,
                page: Some(args.page),
                page_size: Some(args.page_size),
                ..ListQuery::default()
            };
            let page = session.list(entity, &query)?;
            out.show(&page, |page| {
                let mut text = render_rows(&page.records);
                if page.has_more {
                    text.push_str(&format!("\n… more on page {}", page.page + 1));
                }
                text
            });
        }
        RecordCommand::Show { id } => {
            let record = session.show(entity, *id)?;
            out.show(&record, render_record);
        }
        RecordCommand::Edit { id, set } => {
            session.update(entity, *id, &set.input()?)?;
            out.done(&format!("updated {} #{id}", entity.name()));
        }
        RecordCommand::Delete { id, dependents } => {
            let dependents = match dependents.as_deref() {
                Some("detach") => Dependents::Detach,
                Some("delete") => Dependents::Delete,
                _ => Dependents::Refuse,
            };
            session.delete(entity, *id, dependents)?;
            out.done(&format!("deleted {} #{id}", entity.name()));
        }
        RecordCommand::Tag { id, tags } => {
            session.tag(entity, *id, tags)?;
            out.done(&format!("tagged {} #{id}", entity.name()));
        }
        RecordCommand::Untag { id, tags } => {
            session.untag(entity, *id, tags)?;
            out.done(&format!("untagged {} #{id}", entity.name()));
        }
        RecordCommand::Tags => {
            let tags = session.tags(entity)?;
            out.show(&tags, |tags| {
                if tags.is_empty() {
                    return "no tags".to_owned();
                }
                tags.iter()
                    .map(|tag| format!("{:>7}  {}", tag.records, tag.name))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        RecordCommand::SetTeam { id, team, .. } => {
            session.set_team(entity, *id, team.as_deref())?;
            out.done(&match team {
                Some(team) => format!("{} #{id} is now in team {team}", entity.name()),
                None => format!("{} #{id} is in no team", entity.name()),
            });
        }
        RecordCommand::SetOwner { id, new_owner } => {
            session.reassign(entity, *id, new_owner)?;
            out.done(&format!(
                "{} #{id} now belongs to {new_owner}",
                entity.name()
            ));
        }
    }
    Ok(())
}

pub fn search(cli: &Cli, text: &str, limit: usize, out: &Output) -> Result<()> {
    let mut session = unlock(cli)?;
    let hits = session.search(text, limit)?;
    out.show(&hits, |hits| {
        if hits.is_empty() {
            return "no matches".to_owned();
        }
        hits.iter()
            .map(|hit| {
                format!(
                    "{:<8} {:>7}  {}{}",
                    hit.entity.name(),
                    hit.id,
                    hit.title,
                    hit.subtitle
                        .as_ref()
                        .map(|s| format!(" — {s}"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub fn demo(cli: &Cli, args: &DemoArgs, out: &Output) -> Result<()> {
    let mut session = unlock(cli)?;
    let started = std::time::Instant::now();
    let report = session.generate_demo(
        DemoScale::for_contacts(args.contacts, args.seed),
        &mut |progress| out.progress(&progress),
    )?;
    out.show(&report, |report| {
        format!(
            "generated {} companies, {} contacts, {} deals, {} activities in {:.1} s",
            report.companies,
            report.contacts,
            report.deals,
            report.activities,
            started.elapsed().as_secs_f64()
        )
    });
    Ok(())
}

pub fn reveal(
    cli: &Cli,
    entity: &str,
    id: i64,
    field: &str,
    reason: &str,
    out: &Output,
) -> Result<()> {
    let mut session = unlock(cli)?;
    let value = session.reveal(Entity::parse(entity)?, id, field, reason)?;
    out.show(&serde_json::json!({ "value": value }), |_| value.clone());
    Ok(())
}

pub fn erase(
    cli: &Cli,
    contact: Option<i64>,
    reason: Option<&str>,
    reapply_from: Option<&std::path::Path>,
    out: &Output,
) -> Result<()> {
    let mut session = unlock(cli)?;
    match (reapply_from, contact, reason) {
        (Some(dir), _, _) => {
            let applied = session.reapply_erasures(dir)?;
            out.done(&format!(
                "re-applied {applied} erasure(s) from {}",
                dir.display()
            ));
        }
        (None, Some(contact), Some(reason)) => {
            session.erase_contact(contact, reason)?;
            out.done(&format!("erased the personal data of contact #{contact}"));
        }
        _ => return Err(Error::Invalid("name the contact and give --reason".into())),
    }
    Ok(())
}
