//! Custom fields the owner defines per entity (text, number, date, choice, money): add,
//! relabel, change choices, mark financial, delete. Their level changes through
//! [`Session::classify`], like built-in fields.
//!
//! Who may change a field: a holder of the manage-roles right who can see the field as it is
//! now (its level within their clearance, and the view-financial right if it is financial) —
//! nobody reshapes what they cannot read. Marking a field financial, or unmarking it, needs the
//! view-financial right for the same reason. Every change is audited old → new; deleting a
//! field deletes its values and is audited with how many there were.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::fields::{self, Entity, Kind, Level};
use super::{EffectiveField, view};
use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::policy::{Right, RoleDef};
use crate::vault::Session;

const MAX_LABEL_CHARS: usize = 60;
const MAX_CHOICES: usize = 100;

/// The types a custom field may have, with their stored names.
const CUSTOM_KINDS: [(Kind, &str); 5] = [
    (Kind::Text, "text"),
    (Kind::Number, "number"),
    (Kind::Date, "date"),
    (Kind::Choice, "choice"),
    (Kind::Money, "money"),
];

/// Parses a custom field type: `text`, `number`, `date`, `choice` or `money`.
pub fn parse_kind(text: &str) -> Result<Kind> {
    let wanted = text.trim().to_ascii_lowercase();
    CUSTOM_KINDS
        .iter()
        .find(|(_, name)| *name == wanted)
        .map(|(kind, _)| *kind)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "unknown custom field type {text:?}; use text, number, date, choice or money"
            ))
        })
}

/// The stored name of a custom field type.
pub(crate) fn kind_name(kind: Kind) -> Result<&'static str> {
    CUSTOM_KINDS
        .iter()
        .find(|(known, _)| *known == kind)
        .map(|(_, name)| *name)
        .ok_or_else(|| Error::Invalid(format!("{kind:?} is not a custom field type")))
}

/// A new custom field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomFieldSpec {
    /// Name (lowercase letters, digits and `_`; not a built-in field's name).
    pub name: String,
    /// Label for people.
    pub label: String,
    /// Type: text, number, date, choice or money.
    pub kind: Kind,
    /// Allowed values (choice fields only).
    pub choices: Vec<String>,
    /// Classification.
    pub level: Level,
    /// Financial data (hidden from roles without the view-financial right).
    pub financial: bool,
}

impl CustomFieldSpec {
    /// An Internal, non-financial text field.
    pub fn text(name: &str, label: &str) -> Self {
        Self {
            name: name.into(),
            label: label.into(),
            kind: Kind::Text,
            choices: Vec::new(),
            level: Level::Internal,
            financial: false,
        }
    }
}

/// Changes to a custom field; `None` leaves a property as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomFieldChange {
    /// New label.
    pub label: Option<String>,
    /// New list of choices (choice fields). A choice that records still hold cannot go;
    /// a choice respelled (same letters, other case) is respelled in the records too.
    pub choices: Option<Vec<String>>,
    /// Mark or unmark as financial.
    pub financial: Option<bool>,
}

fn checked_label(label: &str) -> Result<String> {
    let label = label.trim();
    if label.is_empty() || label.chars().count() > MAX_LABEL_CHARS {
        return Err(Error::Invalid(format!(
            "a field label is 1 to {MAX_LABEL_CHARS} characters"
        )));
    }
    Ok(label.to_owned())
}

fn checked_choices(kind: Kind, choices: &[String]) -> Result<Vec<String>> {
    if kind != Kind::Choice {
        return if choices.is_empty() {
            Ok(Vec::new())
        } else {
            Err(Error::Invalid("only choice fields have choices".into()))
        };
    }
    let mut list: Vec<String> = Vec::new();
    for choice in choices {
        let choice = choice.trim();
        if choice.is_empty() || choice.chars().count() > MAX_LABEL_CHARS {
            return Err(Error::Invalid(format!(
                "a choice is 1 to {MAX_LABEL_CHARS} characters"
            )));
        }
        if list.iter().any(|known| known.eq_ignore_ascii_case(choice)) {
            return Err(Error::Invalid(format!("{choice:?} is listed twice")));
        }
        list.push(choice.to_owned());
    }
    if list.is_empty() || list.len() > MAX_CHOICES {
        return Err(Error::Invalid(format!(
            "a choice field needs 1 to {MAX_CHOICES} choices"
        )));
    }
    Ok(list)
}

/// Refuses a change to `field` by an editor who cannot see it as it is now.
pub(crate) fn require_visible_to_editor(role: &RoleDef, field: &EffectiveField) -> Result<()> {
    if view::visible(role, field, role.clearance) {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "you cannot change the {} field: it is above your clearance",
            field.label
        )))
    }
}

impl Session {
    /// Adds a custom field (owner or role manager).
    pub fn add_custom_field(&mut self, entity: Entity, spec: &CustomFieldSpec) -> Result<()> {
        let role = self.require_right(Right::ManageRoles)?;
        let kind = kind_name(spec.kind)?;
        if spec.level > role.clearance {
            return Err(Error::Forbidden(
                "you cannot classify a field above your own clearance".into(),
            ));
        }
        if spec.financial && !role.has(Right::ViewFinancial) {
            return Err(Error::Forbidden(
                "only holders of the view-financial right define financial fields".into(),
            ));
        }
        let name = spec.name.as_str();
        let valid = !name.is_empty()
            && name.len() <= 40
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid || fields::builtin(entity, name).is_some() {
            return Err(Error::Invalid(format!(
                "{name:?}: a custom field name is lowercase letters, digits and _ and not a built-in field"
            )));
        }
        let label = checked_label(&spec.label)?;
        let choices = checked_choices(spec.kind, &spec.choices)?;
        let choices_json = serde_json::to_string(&choices)
            .map_err(|error| Error::Invalid(format!("choices: {error}")))?;
        self.write(|tx, audit| {
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO custom_fields (entity, name, label, kind, choices, level, financial)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![entity.name(), name, label, kind, choices_json, spec.level.as_u8(), spec.financial],
            )?;
            if inserted == 0 {
                return Err(Error::AlreadyExists(format!("field {name}")));
            }
            audit.record(
                AuditEvent::new(AuditAction::PolicyChanged)
                    .target("field", format!("{}.{name}", entity.name()))
                    .detail("added", kind)
                    .detail("level", spec.level.label())
                    .detail("financial", spec.financial),
            );
            Ok(())
        })
    }

    /// The custom field `name` of `entity`, refusing built-in and unknown fields.
    fn custom_field(&self, entity: Entity, name: &str) -> Result<(i64, EffectiveField)> {
        let field = self
            .fields(entity)?
            .into_iter()
            .find(|field| field.name == name)
            .ok_or_else(|| Error::NotFound(format!("field {}.{name}", entity.name())))?;
        match field.custom_id {
            Some(id) => Ok((id, field)),
            None => Err(Error::Invalid(format!(
                "{} is a built-in field: only its classification can change",
                field.label
            ))),
        }
    }

    /// Changes a custom field's label, choices or financial mark (owner or role manager who
    /// can see the field).
    pub fn change_custom_field(
        &mut self,
        entity: Entity,
        name: &str,
        change: &CustomFieldChange,
    ) -> Result<()> {
        let role = self.require_right(Right::ManageRoles)?;
        let (id, field) = self.custom_field(entity, name)?;
        require_visible_to_editor(&role, &field)?;
        if change.financial.is_some() && !role.has(Right::ViewFinancial) {
            return Err(Error::Forbidden(
                "only holders of the view-financial right mark fields financial".into(),
            ));
        }
        let label = change.label.as_deref().map(checked_label).transpose()?;
        let choices = change
            .choices
            .as_deref()
            .map(|choices| checked_choices(field.kind, choices))
            .transpose()?;
        let target = format!("{}.{name}", entity.name());
        self.write(|tx, audit| {
            if let Some(label) = &label
                && *label != field.label
            {
                tx.execute(
                    "UPDATE custom_fields SET label = ?1 WHERE id = ?2",
                    params![label, id],
                )?;
                audit.record(
                    AuditEvent::new(AuditAction::PolicyChanged)
                        .target("field", &target)
                        .field("label", 0)
                        .change(Some(field.label.clone()), Some(label.clone())),
                );
            }
            if let Some(choices) = &choices
                && *choices != field.choices
            {
                for old in &field.choices {
                    match choices.iter().find(|new| new.eq_ignore_ascii_case(old)) {
                        Some(new) if new != old => {
                            tx.execute(
                                "UPDATE custom_values SET value = ?1 WHERE field_id = ?2 AND value = ?3",
                                params![new, id, old],
                            )?;
                        }
                        Some(_) => {}
                        None => {
                            let in_use: bool = tx.query_row(
                                "SELECT EXISTS (SELECT 1 FROM custom_values WHERE field_id = ?1 AND value = ?2)",
                                params![id, old],
                                |row| row.get(0),
                            )?;
                            if in_use {
                                return Err(Error::Invalid(format!(
                                    "records still hold the choice {old:?}: change them first, or keep it"
                                )));
                            }
                        }
                    }
                }
                let json = serde_json::to_string(choices)
                    .map_err(|error| Error::Invalid(format!("choices: {error}")))?;
                tx.execute(
                    "UPDATE custom_fields SET choices = ?1 WHERE id = ?2",
                    params![json, id],
                )?;
                audit.record(
                    AuditEvent::new(AuditAction::PolicyChanged)
                        .target("field", &target)
                        .field("choices", 0)
                        .change(Some(field.choices.join(", ")), Some(choices.join(", "))),
                );
            }
            if let Some(financial) = change.financial
                && financial != field.financial
            {
                tx.execute(
                    "UPDATE custom_fields SET financial = ?1 WHERE id = ?2",
                    params![financial, id],
                )?;
                audit.record(
                    AuditEvent::new(AuditAction::ClassificationChanged)
                        .target("field", &target)
                        .field("financial", 0)
                        .change(
                            Some(field.financial.to_string()),
                            Some(financial.to_string()),
                        ),
                );
            }
            Ok(())
        })
    }

    /// Deletes a custom field and every value stored in it (owner or role manager who can see
    /// the field); returns how many values went. Audited with that count, not the values.
    pub fn delete_custom_field(&mut self, entity: Entity, name: &str) -> Result<u64> {
        let role = self.require_right(Right::ManageRoles)?;
        let (id, field) = self.custom_field(entity, name)?;
        require_visible_to_editor(&role, &field)?;
        self.write(|tx, audit| {
            let values = tx.execute("DELETE FROM custom_values WHERE field_id = ?1", [id])?;
            let deleted = tx
                .query_row(
                    "DELETE FROM custom_fields WHERE id = ?1 RETURNING kind",
                    [id],
                    |row| row.get::<_, String>(0),
                )
                .optional()?;
            let kind = deleted.ok_or_else(|| Error::NotFound(format!("field {name}")))?;
            audit.record(
                AuditEvent::new(AuditAction::PolicyChanged)
                    .target("field", format!("{}.{name}", entity.name()))
                    .field(name, field.level.as_u8())
                    .detail("deleted", kind)
                    .detail("values", values),
            );
            Ok(values as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{ListQuery, RecordInput};
    use crate::test_support::{add_user, login, owner_vault};

    fn tier() -> CustomFieldSpec {
        CustomFieldSpec {
            name: "tier".into(),
            label: "Tier".into(),
            kind: Kind::Choice,
            choices: vec!["gold".into(), "silver".into()],
            level: Level::Internal,
            financial: false,
        }
    }

    fn company(session: &mut Session, name: &str, tier: &str) -> Result<i64> {
        let input: RecordInput = [
            ("name".to_owned(), serde_json::json!(name)),
            ("tier".to_owned(), serde_json::json!(tier)),
        ]
        .into_iter()
        .collect();
        session.create(Entity::Company, &input)
    }

    #[test]
    fn the_owner_relabels_respells_and_retires_choices_without_losing_values() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut owner = owner_vault(dir.path())?;
        owner.add_custom_field(Entity::Company, &tier())?;
        let id = company(&mut owner, "Acme", "gold")?;
        owner.change_custom_field(
            Entity::Company,
            "tier",
            &CustomFieldChange {
                label: Some("Partner tier".into()),
                choices: Some(vec!["Gold".into(), "Silver".into(), "Bronze".into()]),
                financial: None,
            },
        )?;
        let shown = owner.show(Entity::Company, id)?;
        assert_eq!(shown.value("tier"), Some(&serde_json::json!("Gold")));
        let field = owner.custom_field(Entity::Company, "tier")?.1;
        assert_eq!(field.label, "Partner tier");
        let refused = owner.change_custom_field(
            Entity::Company,
            "tier",
            &CustomFieldChange {
                choices: Some(vec!["Silver".into()]),
                ..CustomFieldChange::default()
            },
        );
        assert!(matches!(refused, Err(Error::Invalid(_))), "{refused:?}");
        owner.change_custom_field(
            Entity::Company,
            "tier",
            &CustomFieldChange {
                choices: Some(vec!["Gold".into(), "Silver".into()]),
                ..CustomFieldChange::default()
            },
        )?;
        Ok(())
    }

    #[test]
    fn deleting_a_field_deletes_its_values_and_frees_its_name() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut owner = owner_vault(dir.path())?;
        owner.add_custom_field(Entity::Company, &tier())?;
        company(&mut owner, "Acme", "gold")?;
        company(&mut owner, "Bolt", "silver")?;
        assert_eq!(owner.delete_custom_field(Entity::Company, "tier")?, 2);
        let values: i64 =
            owner
                .store()
                .conn()
                .query_row("SELECT count(*) FROM custom_values", [], |row| row.get(0))?;
        assert_eq!(values, 0);
        assert!(matches!(
            owner.list(
                Entity::Company,
                &ListQuery {
                    filters: vec![("tier".into(), "gold".into())],
                    ..ListQuery::default()
                }
            ),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            owner.delete_custom_field(Entity::Company, "name"),
            Err(Error::Invalid(_))
        ));
        owner.add_custom_field(Entity::Company, &tier())?;
        Ok(())
    }

    #[test]
    fn nobody_changes_a_field_they_cannot_see() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut owner = owner_vault(dir.path())?;
        add_user(&mut owner, "adam", "Administrator")?;
        let mut secret = CustomFieldSpec::text("formula", "Formula");
        secret.level = Level::HighlyConfidential;
        owner.add_custom_field(Entity::Company, &secret)?;
        let mut admin = login(dir.path(), "adam")?;
        let relabel = CustomFieldChange {
            label: Some("Recipe".into()),
            ..CustomFieldChange::default()
        };
        assert!(matches!(
            admin.change_custom_field(Entity::Company, "formula", &relabel),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            admin.delete_custom_field(Entity::Company, "formula"),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            admin.classify(Entity::Company, "formula", Level::Internal, &mut |_| {}),
            Err(Error::Forbidden(_))
        ));
        assert_eq!(
            owner.custom_field(Entity::Company, "formula")?.1.level,
            Level::HighlyConfidential
        );
        Ok(())
    }
}
