//! `crm company|contact|deal|activity|note …`, `crm search`, `crm demo`, `crm role …`,
//! `crm field …`, `crm reveal` and `crm pipeline …`.

use clap::{Args, Subcommand};
use crm_core::policy::{Action, Right, RoleDef, Scope};
use crm_core::records::custom_fields::{self, CustomFieldChange, CustomFieldSpec};
use crm_core::records::demo::DemoScale;
use crm_core::records::fields::{Entity, Level};
use crm_core::records::pipeline::{Outcome, plan_from_text};
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
        /// Financial data: hidden from roles without the view_financial right
        #[arg(long)]
        financial: bool,
    },
    /// Change a custom field's label, choices or financial mark (its level: `field classify`)
    Edit {
        /// company, contact, deal, activity or note
        entity: String,
        /// Field name
        name: String,
        /// New label
        #[arg(long)]
        label: Option<String>,
        /// The new list of choices (repeatable; replaces the list; a choice records still hold
        /// cannot go)
        #[arg(long = "choice")]
        choices: Vec<String>,
        /// Mark the field financial
        #[arg(long, conflicts_with = "not_financial")]
        financial: bool,
        /// Remove the financial mark
        #[arg(long)]
        not_financial: bool,
    },
    /// Delete a custom field with every value stored in it (recorded in the audit trail)
    Delete {
        /// company, contact, deal, activity or note
        entity: String,
        /// Field name
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// The pipeline's stages: id, name, default probability, outcome
    Show,
    /// Replace the stage list: NAME[:PROBABILITY[:OUTCOME]], comma-separated, in order
    SetStages {
        /// e.g. "Lead:10, Qualified:30, Proposal:50, Won:100:won, Lost:0:lost"; a current
        /// stage named again keeps its deals
        stages: String,
        /// Move deals out of stages left out into this stage (id or name)
        #[arg(long, value_name = "STAGE")]
        move_deals_to: Option<String>,
    },
    /// Add a stage
    AddStage {
        /// Stage name
        name: String,
        /// Default probability in percent (0–100)
        #[arg(long, default_value_t = 0)]
        probability: i64,
        /// open, won or lost
        #[arg(long, default_value = "open")]
        outcome: String,
        /// Position from 1 (default: last)
        #[arg(long)]
        position: Option<usize>,
    },
    /// Rename a stage; its deals stay in it
    RenameStage {
        /// Stage id or name
        stage: String,
        /// New name
        name: String,
    },
    /// Change a stage's probability, outcome or position
    EditStage {
        /// Stage id or name
        stage: String,
        /// Default probability in percent (0–100)
        #[arg(long)]
        probability: Option<i64>,
        /// open, won or lost
        #[arg(long)]
        outcome: Option<String>,
        /// Position from 1
        #[arg(long)]
        position: Option<usize>,
    },
    /// Remove a stage: refused while deals sit in it, unless --move-deals-to says where
    RemoveStage {
        /// Stage id or name
        stage: String,
        /// Move its deals to this stage (id or name)
        #[arg(long, value_name = "STAGE")]
        move_deals_to: Option<String>,
    },
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
            let summary = session
                .list_roles()?
                .into_iter()
                .find(|summary| summary.role.name == *name)
                .ok_or_else(|| Error::NotFound(format!("role {name}")))?;
            out.show(&summary, |summary| {
                format!(
                    "{}  users: {}\n  key file at sign-in: {}\n",
                    render_role(&summary.role),
                    summary.users,
                    if summary.requires_key_file {
                        "required"
                    } else {
                        "not required"
                    }
                )
            });
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
            financial,
        } => {
            let entity = Entity::parse(entity)?;
            let spec = CustomFieldSpec {
                name: name.clone(),
                label: label.clone(),
                kind: custom_fields::parse_kind(kind)?,
                choices: choices.clone(),
                level: Level::parse(level)?,
                financial: *financial,
            };
            session.add_custom_field(entity, &spec)?;
            out.done(&format!("added custom field {}.{name}", entity.name()));
        }
        FieldCommand::Edit {
            entity,
            name,
            label,
            choices,
            financial,
            not_financial,
        } => {
            let entity = Entity::parse(entity)?;
            let change = CustomFieldChange {
                label: label.clone(),
                choices: (!choices.is_empty()).then(|| choices.clone()),
                financial: match (financial, not_financial) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
            };
            session.change_custom_field(entity, name, &change)?;
            out.done(&format!("changed custom field {}.{name}", entity.name()));
        }
        FieldCommand::Delete { entity, name } => {
            let entity = Entity::parse(entity)?;
            let values = session.delete_custom_field(entity, name)?;
            out.show(
                &serde_json::json!({ "ok": true, "field": name, "values_deleted": values }),
                |_| {
                    format!(
                        "deleted custom field {}.{name} and its {values} value(s)",
                        entity.name()
                    )
                },
            );
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
    let stage_id = |session: &crm_core::Session, text: &Option<String>| -> Result<Option<i64>> {
        text.as_deref()
            .map(|text| session.find_stage(text).map(|stage| stage.id))
            .transpose()
    };
    match command {
        PipelineCommand::Show => {}
        PipelineCommand::SetStages {
            stages,
            move_deals_to,
        } => {
            let plan = plan_from_text(&session.pipeline()?, stages)?;
            let target = stage_id(&session, move_deals_to)?;
            session.set_stages(&plan, target)?;
        }
        PipelineCommand::AddStage {
            name,
            probability,
            outcome,
            position,
        } => {
            session.add_stage(name, *probability, Outcome::parse(outcome)?, *position)?;
        }
        PipelineCommand::RenameStage { stage, name } => {
            let id = session.find_stage(stage)?.id;
            session.rename_stage(id, name)?;
        }
        PipelineCommand::EditStage {
            stage,
            probability,
            outcome,
            position,
        } => {
            let id = session.find_stage(stage)?.id;
            let outcome = outcome.as_deref().map(Outcome::parse).transpose()?;
            session.edit_stage(id, *probability, outcome, *position)?;
        }
        PipelineCommand::RemoveStage {
            stage,
            move_deals_to,
        } => {
            let id = session.find_stage(stage)?.id;
            let target = stage_id(&session, move_deals_to)?;
            session.remove_stage(id, target)?;
        }
    }
    let stages = session.pipeline()?;
    out.show(&stages, |stages| {
        stages
            .iter()
            .map(|stage| {
                format!(
                    "{:>4}  {:<24} {:>3}%  {}",
                    stage.id,
                    stage.name,
                    stage.probability,
                    stage.outcome.name()
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
