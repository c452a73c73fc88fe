//! `crm company|contact|deal|activity|note …`, `crm search`, `crm demo`, `crm role …`,
//! `crm field …`, `crm reveal` and `crm pipeline …`.

use clap::{Args, Subcommand};
use crm_core::policy::{Action, Right, RoleDef, Scope};
use crm_core::records::demo::DemoScale;
use crm_core::records::fields::{Entity, Level};
use crm_core::records::{Dependents, ListQuery, RecordInput, RecordView};
use crm_core::{Error, Result};

use crate::Cli;
use crate::credentials::unlock;
use crate::output::Output;

#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// Add a record: --set FIELD=VALUE for each field (see `crm field list ENTITY`)
    Add {
        /// FIELD=VALUE (repeatable); lists (emails, phones) are comma-separated
        #[arg(long = "set", value_name = "FIELD=VALUE", required = true)]
        set: Vec<String>,
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
        /// FIELD=VALUE (repeatable); an empty VALUE clears the field
        #[arg(long = "set", value_name = "FIELD=VALUE", required = true)]
        set: Vec<String>,
    },
    /// Delete a record; a company's contacts and deals need --dependents
    Delete {
        /// Record id
        id: i64,
        /// What to do with linked contacts and deals: detach them or delete them too
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

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Roles with clearance, rights and how many users hold each
    List,
    /// One role's full matrix
    Show {
        /// Role name
        name: String,
    },
    /// Create a custom role, starting from a template
    Create(RoleEditArgs),
    /// Change a role (not the Owner role)
    Edit(RoleEditArgs),
    /// Delete a role nobody holds
    Delete {
        /// Role name
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct RoleEditArgs {
    /// Role name
    name: String,
    /// Start from this role's definition (create only; default: no access)
    #[arg(long)]
    from: Option<String>,
    /// Description
    #[arg(long)]
    description: Option<String>,
    /// Clearance on own records: public, internal, confidential, highly_confidential
    #[arg(long)]
    clearance: Option<String>,
    /// Clearance on records owned by others
    #[arg(long)]
    others_clearance: Option<String>,
    /// ENTITY:ACTION=SCOPE, e.g. contact:view=all (repeatable)
    #[arg(long = "grant", value_name = "ENTITY:ACTION=SCOPE")]
    grants: Vec<String>,
    /// Give a special right (repeatable): manage_users, manage_roles, view_audit, run_backups,
    /// restore, erase_personal_data, reveal, view_financial
    #[arg(long = "right")]
    rights: Vec<String>,
    /// Take a special right away (repeatable)
    #[arg(long = "revoke")]
    revoke: Vec<String>,
    /// Whether the role's users must sign in with a key file (security policy; also for the
    /// Owner role). Users of the role without one are listed and cannot sign in until given one
    #[arg(long, value_name = "true|false")]
    require_key_file: Option<bool>,
}

impl RoleEditArgs {
    /// Whether anything beyond the key-file policy changes the role's definition.
    fn edits_definition(&self) -> bool {
        self.from.is_some()
            || self.description.is_some()
            || self.clearance.is_some()
            || self.others_clearance.is_some()
            || !self.grants.is_empty()
            || !self.rights.is_empty()
            || !self.revoke.is_empty()
    }
}

#[derive(Debug, Subcommand)]
pub enum FieldCommand {
    /// Fields of an entity with their classification
    List {
        /// company, contact, deal, activity or note
        entity: String,
    },
    /// Change a field's classification level (re-indexes search)
    Classify {
        /// company, contact, deal, activity or note
        entity: String,
        /// Field name
        field: String,
        /// public, internal, confidential or highly_confidential
        level: String,
    },
    /// Add a custom field
    Add {
        /// company, contact, deal, activity or note
        entity: String,
        /// Field name (lowercase letters, digits, _)
        name: String,
        /// Label shown to people
        #[arg(long)]
        label: String,
        /// text, number, date, choice or money
        #[arg(long)]
        kind: String,
        /// Allowed value for a choice field (repeatable)
        #[arg(long = "choice")]
        choices: Vec<String>,
        /// Classification level
        #[arg(long, default_value = "internal")]
        level: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// The pipeline's stages
    Show,
    /// Replace the stages (comma-separated, in order; deals must not sit in removed stages)
    SetStages {
        /// e.g. "Lead,Qualified,Proposal,Won,Lost"
        stages: String,
    },
}

fn parse_sets(sets: &[String]) -> Result<RecordInput> {
    let mut input = RecordInput::new();
    for set in sets {
        let (field, value) = set
            .split_once('=')
            .ok_or_else(|| Error::Invalid(format!("{set:?}: use FIELD=VALUE")))?;
        input.insert(
            field.trim().to_owned(),
            serde_json::Value::String(value.to_owned()),
        );
    }
    Ok(input)
}

fn render_record(record: &RecordView) -> String {
    let mut text = format!(
        "{} #{} — {}\nowner: {}   updated: {}\n",
        record.entity.name(),
        record.id,
        record.title,
        record.owner,
        record.updated_at.get(..19).unwrap_or(&record.updated_at)
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
            let id = session.create(entity, &parse_sets(set)?)?;
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
            session.update(entity, *id, &parse_sets(set)?)?;
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

fn render_role(role: &RoleDef) -> String {
    let mut text = format!(
        "{}{}\n  {}\n  clearance: {} on own records, {} on others'\n  rights: {}\n",
        role.name,
        if role.builtin { " (template)" } else { "" },
        role.description,
        role.clearance.label(),
        role.others_clearance.label(),
        if role.rights.is_empty() {
            "none".to_owned()
        } else {
            role.rights
                .iter()
                .map(|right| right.name())
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    text.push_str(&format!("  {:<12}", ""));
    for action in Action::ALL {
        text.push_str(&format!("{:<8}", action.name()));
    }
    text.push('\n');
    for entity in Entity::ALL {
        text.push_str(&format!("  {:<12}", entity.table()));
        for action in Action::ALL {
            let scope = role.scope(entity, action);
            text.push_str(&format!(
                "{:<8}",
                if scope == Scope::None {
                    "-"
                } else {
                    scope.name()
                }
            ));
        }
        text.push('\n');
    }
    text
}

fn apply_role_edits(role: &mut RoleDef, args: &RoleEditArgs) -> Result<()> {
    if let Some(description) = &args.description {
        role.description = description.clone();
    }
    if let Some(level) = &args.clearance {
        role.clearance = Level::parse(level)?;
    }
    if let Some(level) = &args.others_clearance {
        role.others_clearance = Level::parse(level)?;
    }
    for grant in &args.grants {
        let bad = || {
            Error::Invalid(format!(
                "{grant:?}: use ENTITY:ACTION=SCOPE, e.g. contact:view=all"
            ))
        };
        let (target, scope) = grant.split_once('=').ok_or_else(bad)?;
        let (entity, action) = target.split_once(':').ok_or_else(bad)?;
        let entity = Entity::parse(entity)?;
        let action = Action::ALL
            .into_iter()
            .find(|known| known.name() == action.to_ascii_lowercase())
            .ok_or_else(bad)?;
        role.grants
            .entry(entity)
            .or_default()
            .insert(action, Scope::parse(scope)?);
    }
    for right in &args.rights {
        role.rights.insert(Right::parse(right)?);
    }
    for right in &args.revoke {
        role.rights.remove(&Right::parse(right)?);
    }
    Ok(())
}

pub fn role(cli: &Cli, command: &RoleCommand, out: &Output) -> Result<()> {
    let mut session = unlock(cli)?;
    match command {
        RoleCommand::List => {
            let roles = session.list_roles()?;
            out.show(&roles, |roles| {
                let mut text = format!(
                    "{:<24} {:<20} {:<20} {:>5}  RIGHTS\n",
                    "ROLE", "CLEARANCE", "OTHERS'", "USERS"
                );
                for summary in roles {
                    let role = &summary.role;
                    text.push_str(&format!(
                        "{:<24} {:<20} {:<20} {:>5}  {}\n",
                        role.name,
                        role.clearance.label(),
                        role.others_clearance.label(),
                        summary.users,
                        role.rights
                            .iter()
                            .map(|right| right.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                text
            });
        }
        RoleCommand::Show { name } => {
            let role = session
                .list_roles()?
                .into_iter()
                .find(|summary| summary.role.name == *name)
                .ok_or_else(|| Error::NotFound(format!("role {name}")))?
                .role;
            out.show(&role, render_role);
        }
        RoleCommand::Create(args) | RoleCommand::Edit(args) => {
            let create = matches!(command, RoleCommand::Create(_));
            let roles = session.list_roles()?;
            let find = |name: &str| {
                roles
                    .iter()
                    .find(|summary| summary.role.name == name)
                    .map(|summary| summary.role.clone())
                    .ok_or_else(|| Error::NotFound(format!("role {name}")))
            };
            let mut role = if create {
                let mut base = match &args.from {
                    Some(template) => find(template)?,
                    None => RoleDef::nothing(&args.name),
                };
                base.name = args.name.clone();
                base.builtin = false;
                base
            } else {
                find(&args.name)?
            };
            if create || args.edits_definition() || args.require_key_file.is_none() {
                apply_role_edits(&mut role, args)?;
                session.save_role(&role, create)?;
            }
            if let Some(required) = args.require_key_file {
                let missing = session.set_role_requires_key_file(&role.name, required)?;
                eprintln!(
                    "the {} role {} a key file at sign-in",
                    role.name,
                    if required {
                        "now requires"
                    } else {
                        "no longer requires"
                    }
                );
                if !missing.is_empty() {
                    eprintln!(
                        "warning: {} of the {} role sign in without a key file and cannot sign in until given one (`crm user passwd NAME --new-key-file PATH`)",
                        missing.join(", "),
                        role.name
                    );
                }
            }
            out.show(&role, render_role);
        }
        RoleCommand::Delete { name } => {
            session.delete_role(name)?;
            out.done(&format!("deleted role {name}"));
        }
    }
    Ok(())
}

pub fn field(cli: &Cli, command: &FieldCommand, out: &Output) -> Result<()> {
    let mut session = unlock(cli)?;
    match command {
        FieldCommand::List { entity } => {
            let fields = session.fields(Entity::parse(entity)?)?;
            out.show(&fields, |fields| {
                let mut text = format!(
                    "{:<16} {:<20} {:<12} {:<20} NOTES\n",
                    "FIELD", "LABEL", "TYPE", "LEVEL"
                );
                for field in fields {
                    let mut notes = Vec::new();
                    if field.financial {
                        notes.push("financial");
                    }
                    if field.searchable {
                        notes.push("searchable");
                    }
                    if field.custom_id.is_some() {
                        notes.push("custom");
                    }
                    text.push_str(&format!(
                        "{:<16} {:<20} {:<12} {:<20} {}\n",
                        field.name,
                        field.label,
                        serde_json::to_value(field.kind)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        field.level.label(),
                        notes.join(", ")
                    ));
                }
                text
            });
        }
        FieldCommand::Classify {
            entity,
            field,
            level,
        } => {
            let entity = Entity::parse(entity)?;
            let level = Level::parse(level)?;
            session.classify(entity, field, level, &mut |progress| {
                out.progress(&progress)
            })?;
            out.done(&format!(
                "{}.{field} is now {}",
                entity.name(),
                level.label()
            ));
        }
        FieldCommand::Add {
            entity,
            name,
            label,
            kind,
            choices,
            level,
        } => {
            let entity = Entity::parse(entity)?;
            session.add_custom_field(entity, name, label, kind, choices, Level::parse(level)?)?;
            out.done(&format!("added custom field {}.{name}", entity.name()));
        }
    }
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

pub fn pipeline(cli: &Cli, command: &PipelineCommand, out: &Output) -> Result<()> {
    let mut session = unlock(cli)?;
    if let PipelineCommand::SetStages { stages } = command {
        let names: Vec<String> = stages
            .split(',')
            .map(|name| name.trim().to_owned())
            .collect();
        session.set_stages(&names)?;
    }
    let stages = session.pipeline()?;
    out.show(&stages, |stages| {
        stages
            .iter()
            .map(|stage| {
                format!(
                    "{:>4}  {:<16} {:>3}%  {}",
                    stage.id, stage.name, stage.probability, stage.outcome
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
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
