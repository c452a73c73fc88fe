//! Owner settings: roles (the entity × action scope matrix, clearances, special rights), field
//! classification, custom fields, and the security policy (auto-lock, key file required per
//! role). crm-core checks the manage-roles right, refuses to grant what the editor does not
//! hold, validates every change and records it in the audit trail.

use std::time::Duration;

use crm_core::Session;
use crm_core::policy::{Action, Right, RoleDef};
use crm_core::records::custom_fields::{CustomFieldChange, CustomFieldSpec, parse_kind};
use crm_core::records::fields::{Entity, Level as CoreLevel};
use crm_core::vault::ProgressFn;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult, count};
use crate::vocab::{Level, RecordKind, Scope};

/// The vocabulary of the roles screen, from crm-core.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RoleCatalog {
    /// Classification levels, lowest first.
    pub levels: Vec<Level>,
    /// Kinds of record (matrix rows).
    pub entities: Vec<RecordKind>,
    /// Actions (matrix columns).
    pub actions: Vec<String>,
    /// Scopes, narrowest first.
    pub scopes: Vec<Scope>,
    /// Special rights with what each allows.
    pub rights: Vec<RightInfo>,
}

/// A special right.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RightInfo {
    /// Name (`manage_users`, …).
    pub name: String,
    /// What it allows.
    pub explanation: String,
}

/// A role as the roles screen shows and edits it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RoleForm {
    /// Name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Highest level visible on the user's own records.
    pub clearance: Level,
    /// Highest level visible on others' records.
    pub others_clearance: Level,
    /// One row per entity: the scope of each action, in catalog order.
    pub grants: Vec<GrantRow>,
    /// Special rights held.
    pub rights: Vec<String>,
    /// A built-in template.
    pub builtin: bool,
    /// Active users holding it (0 on input).
    pub users: u32,
}

/// The scopes of one entity, one per action in catalog order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GrantRow {
    /// The kind of record.
    pub entity: RecordKind,
    /// One scope per action, in catalog order.
    pub scopes: Vec<Scope>,
}

/// One field's classification.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FieldLevel {
    /// Field name.
    pub name: String,
    /// Label.
    pub label: String,
    /// Current level.
    pub level: Level,
    /// Financial data (hidden from roles without the view-financial right).
    pub financial: bool,
    /// Owner-defined.
    pub custom: bool,
    /// Value type (`text`, `number`, `date`, `choice`, `money`, …).
    pub kind: String,
    /// Allowed values (choice fields).
    pub choices: Vec<String>,
}

/// A custom field to add.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct NewCustomField {
    /// Name (lowercase letters, digits and `_`).
    pub name: String,
    /// Label for people.
    pub label: String,
    /// `text`, `number`, `date`, `choice` or `money`.
    pub kind: String,
    /// Classification level.
    pub level: Level,
    /// Financial data.
    pub financial: bool,
    /// Allowed values (choice fields only).
    pub choices: Vec<String>,
}

/// Changes to a custom field; `null` leaves a property as it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CustomFieldEdit {
    /// New label.
    pub label: Option<String>,
    /// New choices (choice fields).
    pub choices: Option<Vec<String>>,
    /// Mark or unmark as financial.
    pub financial: Option<bool>,
}

fn form(role: RoleDef, users: i64) -> RoleForm {
    RoleForm {
        grants: Entity::ALL
            .into_iter()
            .map(|entity| GrantRow {
                entity: entity.into(),
                scopes: Action::ALL
                    .into_iter()
                    .map(|action| role.scope(entity, action).into())
                    .collect(),
            })
            .collect(),
        rights: role
            .rights
            .iter()
            .map(|right| right.name().into())
            .collect(),
        clearance: role.clearance.into(),
        others_clearance: role.others_clearance.into(),
        name: role.name,
        description: role.description,
        builtin: role.builtin,
        users: count(users),
    }
}

fn definition(form: RoleForm) -> ApiResult<RoleDef> {
    let mut grants = std::collections::BTreeMap::new();
    for row in &form.grants {
        let entity = Entity::from(row.entity);
        if row.scopes.len() != Action::ALL.len() {
            return Err(ApiError::invalid(format!(
                "{}: one scope per action is needed",
                entity.name()
            )));
        }
        let mut actions = std::collections::BTreeMap::new();
        for (action, scope) in Action::ALL.into_iter().zip(&row.scopes) {
            if *scope != Scope::None {
                actions.insert(action, (*scope).into());
            }
        }
        grants.insert(entity, actions);
    }
    Ok(RoleDef {
        name: form.name.trim().to_owned(),
        description: form.description.trim().to_owned(),
        clearance: form.clearance.into(),
        others_clearance: form.others_clearance.into(),
        grants,
        rights: form
            .rights
            .iter()
            .map(|name| Right::parse(name))
            .collect::<crm_core::Result<_>>()?,
        // crm-core keeps the stored flag; an editor cannot turn a role into a template.
        builtin: false,
    })
}

/// Levels, entities, actions, scopes and rights, for the matrix.
pub fn role_catalog() -> RoleCatalog {
    RoleCatalog {
        levels: CoreLevel::ALL.into_iter().map(Level::from).collect(),
        entities: Entity::ALL.into_iter().map(RecordKind::from).collect(),
        actions: Action::ALL
            .iter()
            .map(|action| action.name().into())
            .collect(),
        scopes: vec![Scope::None, Scope::Own, Scope::Team, Scope::All],
        rights: Right::ALL
            .iter()
            .map(|right| RightInfo {
                name: right.name().into(),
                explanation: right.explanation().into(),
            })
            .collect(),
    }
}

/// Every role, templates first.
pub fn list_roles(session: &mut Session) -> ApiResult<Vec<RoleForm>> {
    Ok(session
        .list_roles()?
        .into_iter()
        .map(|summary| form(summary.role, summary.users))
        .collect())
}

/// Saves a role (`create` for a new custom one); applies to open sessions at once.
pub fn save_role(session: &mut Session, role: RoleForm, create: bool) -> ApiResult<()> {
    let role = definition(role)?;
    Ok(session.save_role(&role, create)?)
}

/// Deletes a custom role nobody holds.
pub fn delete_role(session: &mut Session, name: &str) -> ApiResult<()> {
    Ok(session.delete_role(name)?)
}

/// The fields of one kind of record with their classification.
pub fn field_levels(session: &mut Session, entity: RecordKind) -> ApiResult<Vec<FieldLevel>> {
    Ok(session
        .fields(entity.into())?
        .into_iter()
        .map(|field| FieldLevel {
            name: field.name,
            label: field.label,
            level: field.level.into(),
            financial: field.financial,
            custom: field.custom_id.is_some(),
            kind: crate::records::kind_name(field.kind),
            choices: field.choices,
        })
        .collect())
}

/// Adds a custom field to one kind of record.
pub fn add_custom_field(
    session: &mut Session,
    entity: RecordKind,
    field: NewCustomField,
) -> ApiResult<()> {
    let spec = CustomFieldSpec {
        name: field.name.trim().to_owned(),
        label: field.label,
        kind: parse_kind(&field.kind)?,
        choices: field.choices,
        level: field.level.into(),
        financial: field.financial,
    };
    Ok(session.add_custom_field(entity.into(), &spec)?)
}

/// Relabels a custom field, changes its choices or its financial mark.
pub fn change_custom_field(
    session: &mut Session,
    entity: RecordKind,
    name: &str,
    change: CustomFieldEdit,
) -> ApiResult<()> {
    let change = CustomFieldChange {
        label: change.label,
        choices: change.choices,
        financial: change.financial,
    };
    Ok(session.change_custom_field(entity.into(), name, &change)?)
}

/// Deletes a custom field and every value stored in it; returns how many values went.
pub fn delete_custom_field(
    session: &mut Session,
    entity: RecordKind,
    name: &str,
) -> ApiResult<u32> {
    Ok(count(session.delete_custom_field(entity.into(), name)?))
}

/// Reclassifies a field. The search index is rebuilt for that kind of record: a long
/// operation, reporting to `progress`.
pub fn classify_field(
    session: &mut Session,
    entity: RecordKind,
    field: &str,
    level: Level,
    progress: ProgressFn<'_>,
) -> ApiResult<()> {
    Ok(session.classify(entity.into(), field, level.into(), progress)?)
}

/// The security policy's auto-lock period.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct AutoLockPolicy {
    /// Minutes without activity before the app locks itself (the vault's policy).
    pub minutes: u32,
    /// Allowed range.
    pub min_minutes: u32,
    /// Allowed range.
    pub max_minutes: u32,
    /// Set when this computer overrides the policy (`STRONGROOM_AUTO_LOCK_SECS`).
    pub overridden_secs: Option<u32>,
}

/// The auto-lock policy as it applies here: the vault's minutes, and the idle period this
/// host really uses (`effective`), shown as an override when they differ.
pub fn auto_lock_view(minutes: u32, effective: Duration) -> AutoLockPolicy {
    let range = crm_core::settings::AUTO_LOCK_MINUTES;
    let effective = effective.as_secs();
    AutoLockPolicy {
        minutes,
        min_minutes: *range.start(),
        max_minutes: *range.end(),
        overridden_secs: (effective != u64::from(minutes) * 60).then(|| count(effective)),
    }
}

/// One role's sign-in rule on the security page.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RoleKeyFilePolicy {
    /// Role name.
    pub role: String,
    /// Its users must sign in with a key file besides their password.
    pub required: bool,
    /// Active users holding it.
    pub users: u32,
    /// Its users whose sign-in has no key file (while required, they cannot unlock until
    /// given one); `None` when the viewer may not list users.
    pub without_key_file: Option<Vec<String>>,
}

/// Whether each role requires a key file, with who lacks one (`None` for viewers who may not
/// list users).
pub fn key_file_policy(session: &mut Session) -> ApiResult<Vec<RoleKeyFilePolicy>> {
    let users = match session.list_users() {
        Ok(users) => Some(users),
        Err(crm_core::Error::Forbidden(_)) => None,
        Err(error) => return Err(error.into()),
    };
    Ok(session
        .list_roles()?
        .into_iter()
        .map(|summary| RoleKeyFilePolicy {
            without_key_file: users.as_ref().map(|users| {
                users
                    .iter()
                    .filter(|user| user.role == summary.role.name && !user.requires_key_file)
                    .map(|user| user.name.clone())
                    .collect()
            }),
            role: summary.role.name,
            required: summary.requires_key_file,
            users: count(summary.users),
        })
        .collect())
}

/// Makes a role's users need (or no longer need) a key file to sign in; returns the users of
/// the role who now cannot unlock until they are given one.
pub fn set_role_requires_key_file(
    session: &mut Session,
    role: &str,
    required: bool,
) -> ApiResult<Vec<String>> {
    Ok(session.set_role_requires_key_file(role, required)?)
}
