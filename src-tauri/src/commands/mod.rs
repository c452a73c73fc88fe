//! The commands the window may call: one line each over the [`Backend`](crm_api::Backend).
//! Every use case and its rules live in crm-api and crm-core; a command only moves its
//! arguments to a worker thread (Argon2, rotations and imports must never block the window)
//! and its answer back. The few that take a file the user picked are in [`files`]: they
//! read the file here, on the workstation, and send its content or digest.

pub mod files;

use std::sync::Arc;

use crm_api::audit::{AlertId, AlertRow, AuditQuery, AuditRow, ChainCheck, ReviewView};
use crm_api::backup::{BackupOverview, BackupPlan, BackupRow, BackupRunView, ScheduleExplained};
use crm_api::records::{
    DashboardView, DependentsChoice, FieldInfo, FieldInput, ListFilter, RecordDetail, RecordPage,
    RecordRights, SearchResult, StageEdit, StageInfo,
};
use crm_api::security::SecurityCheckup;
use crm_api::settings::{
    AutoLockPolicy, CustomFieldEdit, FieldLevel, NewCustomField, RoleCatalog, RoleForm,
    RoleKeyFilePolicy,
};
use crm_api::users::UserRow;
use crm_api::vault::{SessionInfo, Strength, VaultStatus};
use crm_api::vocab::{Level, RecordId, RecordKind};
use crm_api::{ApiError, ApiResult, Backend};
use crm_core::Password;

/// What every command reaches: the backend, and where this window's vault is.
pub struct Shell {
    backend: Arc<dyn Backend>,
    /// The vault directory (the key-file memory is kept per vault).
    pub vault_dir: std::path::PathBuf,
}

impl Shell {
    /// The shell over `backend`, for the vault in `vault_dir`.
    pub fn new(backend: Arc<dyn Backend>, vault_dir: std::path::PathBuf) -> Self {
        Self { backend, vault_dir }
    }

    /// The backend, to move into a worker.
    pub fn backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }
}

/// Runs blocking work off the window's thread.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::new("internal", format!("background task failed: {error}")))?
}

/// `name(args) -> T => |backend| call;` makes an async command answering `ApiResult<T>`,
/// run on a worker.
macro_rules! commands {
    ($( $(#[doc = $doc:literal])* $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty => |$b:ident| $call:expr ; )*) => {$(
        $(#[doc = $doc])*
        #[tauri::command]
        #[specta::specta]
        pub async fn $name(shell: tauri::State<'_, Shell>, $($arg: $ty),*) -> ApiResult<$ret> {
            let $b = shell.backend();
            blocking(move || $call).await
        }
    )*};
}

/// The same for quick commands that answer `T` at once (no session to wait for).
macro_rules! quick_commands {
    ($( $(#[doc = $doc:literal])* $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty => |$b:ident| $call:expr ; )*) => {$(
        $(#[doc = $doc])*
        #[tauri::command]
        #[specta::specta]
        pub fn $name(shell: tauri::State<'_, Shell>, $($arg: $ty),*) -> $ret {
            let $b = shell.backend();
            $call
        }
    )*};
}

quick_commands! {
    /// A password's strength for the meter (nothing is stored).
    password_strength(user: String, password: String) -> Strength => |b| b.password_strength(&user, Password::new(password));
    /// The owner confirms the recovery identity is saved: it is forgotten.
    confirm_recovery_saved() -> () => |b| b.confirm_recovery_saved();
    /// The user is active (keys, clicks): resets the idle timer.
    touch() -> () => |b| b.touch();
    /// Levels, entities, actions, scopes and rights, for the roles matrix.
    role_catalog() -> RoleCatalog => |b| b.role_catalog();
    /// Action names for the audit filter.
    audit_actions() -> Vec<String> => |b| b.audit_actions();
}

commands! {
    /// Whether a vault exists, who may sign in, and the open session if any.
    vault_status() -> VaultStatus => |b| b.vault_status();
    /// Seconds this user must wait before the next unlock attempt.
    unlock_delay(user: String) -> u32 => |b| b.unlock_delay(&user);
    /// The signed-in user's session view, re-read.
    session_info_now() -> SessionInfo => |b| b.session_info();
    /// Locks now.
    lock() -> () => |b| b.lock();

    /// The roles a user may be given.
    role_names() -> Vec<String> => |b| b.role_names();
    /// Active users with their roles.
    list_users() -> Vec<UserRow> => |b| b.list_users();
    /// Gives a user another role.
    set_user_role(name: String, role: String) -> () => |b| b.set_user_role(&name, &role);
    /// Puts a user in a team, or in none.
    set_user_team(name: String, team: Option<String>) -> () => |b| b.set_user_team(&name, team.as_deref());
    /// Removes a user and rotates the data key (progress events).
    remove_user(name: String) -> () => |b| b.remove_user(&name);
    /// Rotates the data key now (progress events).
    rotate_data_key() -> () => |b| b.rotate_data_key();

    /// What the role may do with records.
    record_rights() -> RecordRights => |b| b.record_rights();
    /// The fields of a new record's form.
    form_fields(entity: RecordKind) -> Vec<FieldInfo> => |b| b.form_fields(entity);
    /// Search as you type.
    search_records(text: String) -> Vec<SearchResult> => |b| b.search_records(&text);
    /// One page of a list.
    list_records(entity: RecordKind, filter: ListFilter) -> RecordPage => |b| b.list_records(entity, filter);
    /// One record.
    show_record(entity: RecordKind, id: RecordId) -> RecordDetail => |b| b.show_record(entity, id);
    /// Creates a record; returns its id.
    create_record(entity: RecordKind, values: Vec<FieldInput>) -> RecordId => |b| b.create_record(entity, values);
    /// Changes fields of a record.
    update_record(entity: RecordKind, id: RecordId, values: Vec<FieldInput>) -> () => |b| b.update_record(entity, id, values);
    /// Deletes a record, with what happens to its dependents.
    delete_record(entity: RecordKind, id: RecordId, dependents: DependentsChoice) -> () => |b| b.delete_record(entity, id, dependents);
    /// Reveals one Highly Confidential value, with a reason.
    reveal_field(entity: RecordKind, id: RecordId, field: String, reason: String) -> String => |b| b.reveal_field(entity, id, &field, &reason);
    /// The pipeline's stages.
    pipeline_stages() -> Vec<StageInfo> => |b| b.pipeline_stages();
    /// Replaces the pipeline's stages.
    save_pipeline(stages: Vec<StageEdit>, move_deals_to: Option<RecordId>) -> () => |b| b.save_pipeline(stages, move_deals_to);
    /// Adds a tag to a record.
    tag_record(entity: RecordKind, id: RecordId, tag: String) -> () => |b| b.tag_record(entity, id, &tag);
    /// Removes a tag from a record.
    untag_record(entity: RecordKind, id: RecordId, tag: String) -> () => |b| b.untag_record(entity, id, &tag);
    /// Puts a record in a team, or in none.
    set_record_team(entity: RecordKind, id: RecordId, team: Option<String>) -> () => |b| b.set_record_team(entity, id, team.as_deref());
    /// Gives a record to another user.
    reassign_record(entity: RecordKind, id: RecordId, user: String) -> () => |b| b.reassign_record(entity, id, &user);
    /// Pipeline value by stage and this week's activities.
    dashboard() -> DashboardView => |b| b.dashboard();
    /// Users a record can be given to.
    assignable_users() -> Vec<String> => |b| b.assignable_users();
    /// Teams a record can be given to.
    assignable_teams() -> Vec<String> => |b| b.assignable_teams();

    /// Every role.
    list_roles() -> Vec<RoleForm> => |b| b.list_roles();
    /// Saves a role (`create` for a new custom one).
    save_role(role: RoleForm, create: bool) -> () => |b| b.save_role(role, create);
    /// Deletes a custom role nobody holds.
    delete_role(name: String) -> () => |b| b.delete_role(&name);
    /// The fields of a kind of record with their classification.
    field_levels(entity: RecordKind) -> Vec<FieldLevel> => |b| b.field_levels(entity);
    /// Reclassifies a field (progress events).
    classify_field(entity: RecordKind, field: String, level: Level) -> () => |b| b.classify_field(entity, &field, level);
    /// Adds a custom field.
    add_custom_field(entity: RecordKind, field: NewCustomField) -> () => |b| b.add_custom_field(entity, field);
    /// Relabels a custom field, changes its choices or its financial mark.
    change_custom_field(entity: RecordKind, name: String, change: CustomFieldEdit) -> () => |b| b.change_custom_field(entity, &name, change);
    /// Deletes a custom field and its values; returns how many values went.
    delete_custom_field(entity: RecordKind, name: String) -> u32 => |b| b.delete_custom_field(entity, &name);
    /// The auto-lock policy.
    auto_lock_policy() -> AutoLockPolicy => |b| b.auto_lock_policy();
    /// Sets the auto-lock period for everyone.
    set_auto_lock_policy(minutes: u32) -> AutoLockPolicy => |b| b.set_auto_lock_policy(minutes);
    /// Whether each role requires a key file, with who lacks one.
    key_file_policy() -> Vec<RoleKeyFilePolicy> => |b| b.key_file_policy();
    /// Makes a role require a key file (or not); returns who now cannot unlock.
    set_role_requires_key_file(role: String, required: bool) -> Vec<String> => |b| b.set_role_requires_key_file(&role, required);

    /// The backups screen.
    backup_overview() -> BackupOverview => |b| b.backup_overview();
    /// A schedule read the way the vault will.
    explain_schedule(text: String) -> ScheduleExplained => |b| b.explain_schedule(&text);
    /// An extra backup recipient, checked as it will be stored.
    check_backup_recipient(recipient: String) -> String => |b| b.check_backup_recipient(&recipient);
    /// Saves the backup plan.
    save_backup_plan(plan: BackupPlan) -> () => |b| b.save_backup_plan(plan);
    /// Makes and verifies a backup now (progress events).
    backup_now() -> BackupRunView => |b| b.backup_now();
    /// Re-verifies one backup in full.
    verify_backup(path: String) -> BackupRow => |b| b.verify_backup(&path);

    /// Runs the security checkup now, with the score's history.
    security_checkup() -> SecurityCheckup => |b| b.security_checkup();
    /// Audit entries matching the filters, newest first.
    audit_entries(query: AuditQuery) -> Vec<AuditRow> => |b| b.audit_entries(query);
    /// Checks the whole chain.
    verify_audit_chain() -> ChainCheck => |b| b.verify_audit_chain();
    /// The access review over the last `period_days`.
    access_review(period_days: u32) -> ReviewView => |b| b.access_review(period_days);
    /// Signs the access review off.
    sign_off_access_review(period_days: u32) -> ReviewView => |b| b.sign_off_access_review(period_days);
    /// Unusual-activity alerts (`all`: acknowledged ones too).
    audit_alerts(all: bool) -> Vec<AlertRow> => |b| b.audit_alerts(all);
    /// Acknowledges an alert.
    acknowledge_alert(id: AlertId) -> () => |b| b.acknowledge_alert(id);
}
