//! `crm field …`: the field registry as the owner changes it: classification levels and
//! custom fields.

use clap::Subcommand;
use crm_core::Result;
use crm_core::records::custom_fields::{self, CustomFieldChange, CustomFieldSpec};
use crm_core::records::fields::{Entity, Level};

use crate::Cli;
use crate::credentials::unlock;
use crate::output::Output;

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
