//! Use cases by name, with JSON in and out: `dispatch(backend, "list_records", args)`.
//!
//! This is the one decoding of a request into a [`Backend`] call, for any transport that
//! carries JSON (the office server's requests, scripted tests). Arguments are an object with
//! the same names the desktop's commands take, in camelCase (`moveDealsTo`), so every front
//! end names things alike. Where a desktop command takes a workstation path, the wire takes
//! content: `keyFileDigest` (hex, see `KeyFileDigest::to_hex`), `file` (`{name, content}`,
//! content in base64) and `identity` (the recovery identity file's text).
//!
//! Unknown use cases, malformed or missing arguments are `invalid` errors that name the
//! use case and the problem; they never echo argument values (they may be secrets).

use crm_core::{KeyFileDigest, Password, SecretText};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::backend::Backend;
use crate::client::ClientInfo;
use crate::error::{ApiError, ApiResult};

fn args<T: DeserializeOwned>(use_case: &str, args: Value) -> ApiResult<T> {
    let args = if args.is_null() {
        Value::Object(Default::default())
    } else {
        args
    };
    serde_json::from_value(args).map_err(|error| {
        // serde's messages name the field and the expected type, not the value.
        ApiError::invalid(format!("{use_case}: {error}"))
    })
}

fn json<T: serde::Serialize>(value: ApiResult<T>) -> ApiResult<Value> {
    let value = value?;
    serde_json::to_value(value)
        .map_err(|error| ApiError::new("internal", format!("answer not serialisable: {error}")))
}

fn digest(hex: Option<String>) -> ApiResult<Option<KeyFileDigest>> {
    hex.filter(|hex| !hex.trim().is_empty())
        .map(|hex| KeyFileDigest::from_hex(&hex))
        .transpose()
        .map_err(Into::into)
}

/// Declares each use case's arguments and call, and generates the dispatcher over them.
macro_rules! use_cases {
    ($( $name:literal $args:ident { $($field:ident : $ty:ty),* $(,)? } => |$b:ident, $c:ident| $call:expr ;)*) => {
        /// Every use case [`dispatch`] knows, by name.
        pub const USE_CASES: &[&str] = &[$($name),*];

        /// Runs the use case `name` on `backend` with JSON `args` (an object, or null for
        /// none) from `client`, returning its JSON answer.
        pub fn dispatch(
            backend: &dyn Backend,
            name: &str,
            args: Value,
            client: &ClientInfo,
        ) -> ApiResult<Value> {
            match name {
                $(
                    $name => {
                        #[derive(Deserialize)]
                        #[serde(rename_all = "camelCase", deny_unknown_fields)]
                                                struct $args { $($field: $ty),* }
                        let $args { $($field),* } = self::args::<$args>($name, args)?;
                        let ($b, $c) = (backend, client);
                        let _ = $c;
                        json($call)
                    }
                )*
                other => Err(ApiError::new(
                    "unknown_use_case",
                    format!("there is no use case called {other:?}"),
                )),
            }
        }
    };
}

use_cases! {
    "vault_status" VaultStatusArgs {} => |b, client| b.vault_status();
    "password_strength" PasswordStrengthArgs { user: String, password: String } =>
        |b, client| Ok(b.password_strength(&user, Password::new(password)));
    "create_vault" CreateVaultArgs { owner: String, password: String, key_file_digest: Option<String> } =>
        |b, client| b.create_vault(&owner, Password::new(password), digest(key_file_digest)?, client.clone());
    "held_recovery_identity" HeldRecoveryIdentityArgs {} =>
        |b, client| b.held_recovery_identity().map(|text| text.expose().to_owned());
    "confirm_recovery_saved" ConfirmRecoverySavedArgs {} => |b, client| { b.confirm_recovery_saved(); Ok(()) };
    "unlock_delay" UnlockDelayArgs { user: String } => |b, client| b.unlock_delay(&user);
    "unlock" UnlockArgs { user: String, password: String, key_file_digest: Option<String> } =>
        |b, client| b.unlock(&user, Password::new(password), digest(key_file_digest)?, client.clone());
    "session_info_now" SessionInfoArgs {} => |b, client| b.session_info();
    "lock" LockArgs {} => |b, client| b.lock();
    "touch" TouchArgs {} => |b, client| { b.touch(); Ok(()) };

    "role_names" RoleNamesArgs {} => |b, client| b.role_names();
    "list_users" ListUsersArgs {} => |b, client| b.list_users();
    "set_user_role" SetUserRoleArgs { name: String, role: String } => |b, client| b.set_user_role(&name, &role);
    "set_user_team" SetUserTeamArgs { name: String, team: Option<String> } =>
        |b, client| b.set_user_team(&name, team.as_deref());
    "add_user" AddUserArgs { name: String, role: String, password: String, key_file_digest: Option<String> } =>
        |b, client| b.add_user(&name, &role, Password::new(password), digest(key_file_digest)?);
    "reset_password" ResetPasswordArgs { name: String, password: String, key_file_digest: Option<String> } =>
        |b, client| b.reset_password(&name, Password::new(password), digest(key_file_digest)?);
    "remove_user" RemoveUserArgs { name: String } => |b, client| b.remove_user(&name);
    "rotate_data_key" RotateArgs {} => |b, client| b.rotate_data_key();

    "record_rights" RecordRightsArgs {} => |b, client| b.record_rights();
    "form_fields" FormFieldsArgs { entity: crate::vocab::RecordKind } => |b, client| b.form_fields(entity);
    "search_records" SearchArgs { text: String } => |b, client| b.search_records(&text);
    "list_records" ListArgs { entity: crate::vocab::RecordKind, filter: crate::records::ListFilter } =>
        |b, client| b.list_records(entity, filter);
    "show_record" ShowArgs { entity: crate::vocab::RecordKind, id: crate::vocab::RecordId } =>
        |b, client| b.show_record(entity, id);
    "create_record" CreateArgs { entity: crate::vocab::RecordKind, values: Vec<crate::records::FieldInput> } =>
        |b, client| b.create_record(entity, values);
    "update_record" UpdateArgs { entity: crate::vocab::RecordKind, id: crate::vocab::RecordId, values: Vec<crate::records::FieldInput> } =>
        |b, client| b.update_record(entity, id, values);
    "delete_record" DeleteArgs { entity: crate::vocab::RecordKind, id: crate::vocab::RecordId, dependents: crate::records::DependentsChoice } =>
        |b, client| b.delete_record(entity, id, dependents);
    "reveal_field" RevealArgs { entity: crate::vocab::RecordKind, id: crate::vocab::RecordId, field: String, reason: String } =>
        |b, client| b.reveal_field(entity, id, &field, &reason);
    "pipeline_stages" StagesArgs {} => |b, client| b.pipeline_stages();
    "save_pipeline" SavePipelineArgs { stages: Vec<crate::records::StageEdit>, move_deals_to: Option<crate::vocab::RecordId> } =>
        |b, client| b.save_pipeline(stages, move_deals_to);
    "tag_record" TagArgs { entity: crate::vocab::RecordKind, id: crate::vocab::RecordId, tag: String } =>
        |b, client| b.tag_record(entity, id, &tag);
    "untag_record" UntagArgs { entity: crate::vocab::RecordKind, id: crate::vocab::RecordId, tag: String } =>
        |b, client| b.untag_record(entity, id, &tag);
    "set_record_team" SetTeamArgs { entity: crate::vocab::RecordKind, id: crate::vocab::RecordId, team: Option<String> } =>
        |b, client| b.set_record_team(entity, id, team.as_deref());
    "reassign_record" ReassignArgs { entity: crate::vocab::RecordKind, id: crate::vocab::RecordId, user: String } =>
        |b, client| b.reassign_record(entity, id, &user);
    "dashboard" DashboardArgs {} => |b, client| b.dashboard();
    "assignable_users" AssignableUsersArgs {} => |b, client| b.assignable_users();
    "assignable_teams" AssignableTeamsArgs {} => |b, client| b.assignable_teams();

    "role_catalog" RoleCatalogArgs {} => |b, client| Ok(b.role_catalog());
    "list_roles" ListRolesArgs {} => |b, client| b.list_roles();
    "save_role" SaveRoleArgs { role: crate::settings::RoleForm, create: bool } => |b, client| b.save_role(role, create);
    "delete_role" DeleteRoleArgs { name: String } => |b, client| b.delete_role(&name);
    "field_levels" FieldLevelsArgs { entity: crate::vocab::RecordKind } => |b, client| b.field_levels(entity);
    "classify_field" ClassifyArgs { entity: crate::vocab::RecordKind, field: String, level: crate::vocab::Level } =>
        |b, client| b.classify_field(entity, &field, level);
    "add_custom_field" AddFieldArgs { entity: crate::vocab::RecordKind, field: crate::settings::NewCustomField } =>
        |b, client| b.add_custom_field(entity, field);
    "change_custom_field" ChangeFieldArgs { entity: crate::vocab::RecordKind, name: String, change: crate::settings::CustomFieldEdit } =>
        |b, client| b.change_custom_field(entity, &name, change);
    "delete_custom_field" DeleteFieldArgs { entity: crate::vocab::RecordKind, name: String } =>
        |b, client| b.delete_custom_field(entity, &name);
    "auto_lock_policy" AutoLockArgs {} => |b, client| b.auto_lock_policy();
    "set_auto_lock_policy" SetAutoLockArgs { minutes: u32 } => |b, client| b.set_auto_lock_policy(minutes);
    "key_file_policy" KeyFilePolicyArgs {} => |b, client| b.key_file_policy();
    "set_role_requires_key_file" RequireKeyFileArgs { role: String, required: bool } =>
        |b, client| b.set_role_requires_key_file(&role, required);

    "import_records" ImportArgs { file: crate::transfer::ImportFile, request: crate::transfer::ImportRequest } =>
        |b, client| b.import_records(file, request);

    "backup_overview" BackupOverviewArgs {} => |b, client| b.backup_overview();
    "explain_schedule" ExplainArgs { text: String } => |b, client| b.explain_schedule(&text);
    "check_backup_recipient" RecipientArgs { recipient: String } => |b, client| b.check_backup_recipient(&recipient);
    "save_backup_plan" SavePlanArgs { plan: crate::backup::BackupPlan } => |b, client| b.save_backup_plan(plan);
    "backup_now" BackupNowArgs {} => |b, client| b.backup_now();
    "verify_backup" VerifyArgs { path: String } => |b, client| b.verify_backup(&path);
    "restore_backup" RestoreArgs { request: crate::backup::RestoreRequest, identity: String, password: String } =>
        |b, client| b.restore_backup(request, SecretText::from_string(identity), Password::new(password));

    "security_checkup" SecurityCheckupArgs {} => |b, client| b.security_checkup();

    "audit_actions" AuditActionsArgs {} => |b, client| Ok(b.audit_actions());
    "audit_entries" AuditEntriesArgs { query: crate::audit::AuditQuery } => |b, client| b.audit_entries(query);
    "verify_audit_chain" VerifyChainArgs {} => |b, client| b.verify_audit_chain();
    "access_review" ReviewArgs { period_days: u32 } => |b, client| b.access_review(period_days);
    "sign_off_access_review" SignOffArgs { period_days: u32 } => |b, client| b.sign_off_access_review(period_days);
    "audit_alerts" AlertsArgs { all: bool } => |b, client| b.audit_alerts(all);
    "acknowledge_alert" AcknowledgeArgs { id: crate::audit::AlertId } => |b, client| b.acknowledge_alert(id);
}
