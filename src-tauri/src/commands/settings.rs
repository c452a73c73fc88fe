//! Owner settings: roles (the entity × action scope matrix, clearances, special rights), field
//! classification, custom fields, and the security policy (auto-lock, key file required per
//! role). crm-core checks the manage-roles right, refuses to grant what the editor does not
//! hold, validates every change and records it in the audit trail.

use crm_core::policy::{Action, Right, RoleDef, Scope};
use crm_core::records::custom_fields::{CustomFieldChange, CustomFieldSpec, parse_kind};
use crm_core::records::fields::{Entity, Level};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, Runtime, State};

use super::blocking;
use super::users::emit_progress;
use crate::error::{CommandError, CommandResult};
use crate::state::AppState;

/// The vocabulary of the roles screen, from crm-core.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct RoleCatalog {
    /// Classification levels, lowest first.
    pub levels: Vec<String>,
    /// Kinds of record (matrix rows).
    pub entities: Vec<String>,
    /// Actions (matrix columns).
    pub actions: Vec<String>,
    /// Scopes, narrowest first.
    pub scopes: Vec<String>,
    /// Special rights with what each allows.
    pub rights: Vec<RightInfo>,
}

/// A special right.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct RightInfo {
    /// Name (`manage_users`, …).
    pub name: String,
    /// What it allows.
    pub explanation: String,
}

/// A role as the roles screen shows and edits it.
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct RoleForm {
    /// Name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Highest level visible on the user's own records.
    pub clearance: String,
    /// Highest level visible on others' records.
    pub others_clearance: String,
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
#[derive(Debug, Clone, Serialize, Deserialize, specta::Type)]
pub struct GrantRow {
    /// Entity name.
    pub entity: String,
    /// Scope names.
    pub scopes: Vec<String>,
}

/// One field's classification.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct FieldLevel {
    /// Field name.
    pub name: String,
    /// Label.
    pub label: String,
    /// Current level.
    pub level: String,
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
#[derive(Debug, Clone, Deserialize, specta::Type)]
pub struct NewCustomField {
    /// Name (lowercase letters, digits and `_`).
    pub name: String,
    /// Label for people.
    pub label: String,
    /// `text`, `number`, `date`, `choice` or `money`.
    pub kind: String,
    /// Classification level label.
    pub level: String,
    /// Financial data.
    pub financial: bool,
    /// Allowed values (choice fields only).
    pub choices: Vec<String>,
}

/// Changes to a custom field; `null` leaves a property as it is.
#[derive(Debug, Clone, Deserialize, specta::Type)]
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
                entity: entity.name().into(),
                scopes: Action::ALL
                    .into_iter()
                    .map(|action| role.scope(entity, action).name().into())
                    .collect(),
            })
            .collect(),
        rights: role
            .rights
            .iter()
            .map(|right| right.name().into())
            .collect(),
        clearance: role.clearance.label().into(),
        others_clearance: role.others_clearance.label().into(),
        name: role.name,
        description: role.description,
        builtin: role.builtin,
        users: u32::try_from(users).unwrap_or(u32::MAX),
    }
}

fn definition(form: RoleForm) -> CommandResult<RoleDef> {
    let mut grants = std::collections::BTreeMap::new();
    for row in &form.grants {
        let entity = Entity::parse(&row.entity)?;
        if row.scopes.len() != Action::ALL.len() {
            return Err(CommandError::new(
                "invalid",
                format!("{}: one scope per action is needed", row.entity),
            ));
        }
        let mut actions = std::collections::BTreeMap::new();
        for (action, scope) in Action::ALL.into_iter().zip(&row.scopes) {
            let scope = Scope::parse(scope)?;
            if scope != Scope::None {
                actions.insert(action, scope);
            }
        }
        grants.insert(entity, actions);
    }
    Ok(RoleDef {
        name: form.name.trim().to_owned(),
        description: form.description.trim().to_owned(),
        clearance: Level::parse(&form.clearance)?,
        others_clearance: Level::parse(&form.others_clearance)?,
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
#[tauri::command]
#[specta::specta]
pub fn role_catalog() -> RoleCatalog {
    RoleCatalog {
        levels: Level::ALL
            .iter()
            .map(|level| level.label().into())
            .collect(),
        entities: Entity::ALL
            .iter()
            .map(|entity| entity.name().into())
            .collect(),
        actions: Action::ALL
            .iter()
            .map(|action| action.name().into())
            .collect(),
        scopes: [Scope::None, Scope::Own, Scope::Team, Scope::All]
            .iter()
            .map(|scope| scope.name().into())
            .collect(),
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
#[tauri::command]
#[specta::specta]
pub async fn list_roles(state: State<'_, AppState>) -> CommandResult<Vec<RoleForm>> {
    state
        .session(move |session| {
            Ok(session
                .list_roles()?
                .into_iter()
                .map(|summary| form(summary.role, summary.users))
                .collect())
        })
        .await
}

/// Saves a role (`create` for a new custom one); applies to open sessions at once.
#[tauri::command]
#[specta::specta]
pub async fn save_role(
    state: State<'_, AppState>,
    role: RoleForm,
    create: bool,
) -> CommandResult<()> {
    let role = definition(role)?;
    state
        .session(move |session| Ok(session.save_role(&role, create)?))
        .await
}

/// Deletes a custom role nobody holds.
#[tauri::command]
#[specta::specta]
pub async fn delete_role(state: State<'_, AppState>, name: String) -> CommandResult<()> {
    state
        .session(move |session| Ok(session.delete_role(&name)?))
        .await
}

/// The fields of one kind of record with their classification.
#[tauri::command]
#[specta::specta]
pub async fn field_levels(
    state: State<'_, AppState>,
    entity: String,
) -> CommandResult<Vec<FieldLevel>> {
    let entity = Entity::parse(&entity)?;
    state
        .session(move |session| {
            Ok(session
                .fields(entity)?
                .into_iter()
                .map(|field| FieldLevel {
                    name: field.name,
                    label: field.label,
                    level: field.level.label().into(),
                    financial: field.financial,
                    custom: field.custom_id.is_some(),
                    kind: super::records::kind_name(field.kind),
                    choices: field.choices,
                })
                .collect())
        })
        .await
}

/// Adds a custom field to one kind of record.
#[tauri::command]
#[specta::specta]
pub async fn add_custom_field(
    state: State<'_, AppState>,
    entity: String,
    field: NewCustomField,
) -> CommandResult<()> {
    let entity = Entity::parse(&entity)?;
    let spec = CustomFieldSpec {
        name: field.name.trim().to_owned(),
        label: field.label,
        kind: parse_kind(&field.kind)?,
        choices: field.choices,
        level: Level::parse(&field.level)?,
        financial: field.financial,
    };
    state
        .session(move |session| Ok(session.add_custom_field(entity, &spec)?))
        .await
}

/// Relabels a custom field, changes its choices or its financial mark.
#[tauri::command]
#[specta::specta]
pub async fn change_custom_field(
    state: State<'_, AppState>,
    entity: String,
    name: String,
    change: CustomFieldEdit,
) -> CommandResult<()> {
    let entity = Entity::parse(&entity)?;
    let change = CustomFieldChange {
        label: change.label,
        choices: change.choices,
        financial: change.financial,
    };
    state
        .session(move |session| Ok(session.change_custom_field(entity, &name, &change)?))
        .await
}

/// Deletes a custom field and every value stored in it; returns how many values went.
#[tauri::command]
#[specta::specta]
pub async fn delete_custom_field(
    state: State<'_, AppState>,
    entity: String,
    name: String,
) -> CommandResult<u32> {
    let entity = Entity::parse(&entity)?;
    state
        .session(move |session| {
            let deleted = session.delete_custom_field(entity, &name)?;
            Ok(u32::try_from(deleted).unwrap_or(u32::MAX))
        })
        .await
}

/// Reclassifies a field. The search index is rebuilt for that kind of record, so this is a
/// long operation with progress events.
#[tauri::command]
#[specta::specta]
pub async fn classify_field<R: Runtime>(
    app: AppHandle<R>,
    entity: String,
    field: String,
    level: String,
) -> CommandResult<()> {
    let entity = Entity::parse(&entity)?;
    let level = Level::parse(&level)?;
    blocking(move || {
        let state = app.state::<AppState>();
        let _busy = state.start_long_operation("a field reclassification")?;
        let mut progress = emit_progress(&app, "classify");
        state.with_session(|session| Ok(session.classify(entity, &field, level, &mut progress)?))
    })
    .await
}

/// The security policy's auto-lock period.
#[derive(Debug, Clone, Serialize, specta::Type)]
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

fn auto_lock_view(state: &AppState, minutes: u32) -> AutoLockPolicy {
    let range = crm_core::settings::AUTO_LOCK_MINUTES;
    let effective = state.auto_lock_after().as_secs();
    AutoLockPolicy {
        minutes,
        min_minutes: *range.start(),
        max_minutes: *range.end(),
        overridden_secs: (effective != u64::from(minutes) * 60)
            .then(|| u32::try_from(effective).unwrap_or(u32::MAX)),
    }
}

/// The auto-lock policy.
#[tauri::command]
#[specta::specta]
pub async fn auto_lock_policy(state: State<'_, AppState>) -> CommandResult<AutoLockPolicy> {
    let minutes = state
        .session(|session| Ok(session.auto_lock_minutes()?))
        .await?;
    Ok(auto_lock_view(&state, minutes))
}

/// Sets the auto-lock period for everyone; applies to this window at once.
#[tauri::command]
#[specta::specta]
pub async fn set_auto_lock_policy(
    state: State<'_, AppState>,
    minutes: u32,
) -> CommandResult<AutoLockPolicy> {
    state
        .session(move |session| Ok(session.set_auto_lock_minutes(minutes)?))
        .await?;
    state.set_auto_lock_policy(minutes);
    Ok(auto_lock_view(&state, minutes))
}

/// One role's sign-in rule on the security page.
#[derive(Debug, Clone, Serialize, specta::Type)]
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

/// Whether each role requires a key file, with who lacks one.
#[tauri::command]
#[specta::specta]
pub async fn key_file_policy(state: State<'_, AppState>) -> CommandResult<Vec<RoleKeyFilePolicy>> {
    state
        .session(move |session| {
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
                            .filter(|user| {
                                user.role == summary.role.name && !user.requires_key_file
                            })
                            .map(|user| user.name.clone())
                            .collect()
                    }),
                    role: summary.role.name,
                    required: summary.requires_key_file,
                    users: u32::try_from(summary.users).unwrap_or(u32::MAX),
                })
                .collect())
        })
        .await
}

/// Makes a role's users need (or no longer need) a key file to sign in; returns the users of
/// the role who now cannot unlock until they are given one.
#[tauri::command]
#[specta::specta]
pub async fn set_role_requires_key_file(
    state: State<'_, AppState>,
    role: String,
    required: bool,
) -> CommandResult<Vec<String>> {
    state
        .session(move |session| Ok(session.set_role_requires_key_file(&role, required)?))
        .await
}
