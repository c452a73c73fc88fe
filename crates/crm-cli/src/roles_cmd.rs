//! `crm role …`: list, show, create, edit and delete roles, and which roles need a key file.

use clap::{Args, Subcommand};
use crm_core::policy::{Action, Right, RoleDef, Scope};
use crm_core::records::fields::{Entity, Level};
use crm_core::{Error, Result};

use crate::Cli;
use crate::credentials::unlock;
use crate::output::Output;

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
