//! The seam: one method per use case, so every front end (the desktop shell, the CLI, a
//! remote client) reaches the same use cases the same way, whether the session lives in this
//! process ([`LocalBackend`](crate::LocalBackend)) or on the office server.
//!
//! Methods block (they may run Argon2 or a key rotation): front ends with an event loop call
//! them from a worker thread. Nothing here carries a workstation path where content is meant:
//! key files arrive as their digest, imports as their bytes, recovery identities as text.
//! Errors are [`ApiError`](crate::ApiError)s, `{ code, message }`.

use crm_core::{KeyFileDigest, Password, SecretText};

use crate::audit::{AlertId, AlertRow, AuditQuery, AuditRow, ChainCheck, ReviewView};
use crate::backup::{
    BackupOverview, BackupPlan, BackupRow, BackupRunView, RestoreDone, RestoreRequest,
    ScheduleExplained,
};
use crate::client::ClientInfo;
use crate::error::ApiResult;
use crate::records::{
    DashboardView, DependentsChoice, FieldInfo, FieldInput, ListFilter, RecordDetail, RecordPage,
    RecordRights, SearchResult, StageEdit, StageInfo,
};
use crate::security::SecurityCheckup;
use crate::settings::{
    AutoLockPolicy, CustomFieldEdit, FieldLevel, NewCustomField, RoleCatalog, RoleForm,
    RoleKeyFilePolicy,
};
use crate::transfer::{ImportFile, ImportRequest, ImportSummary};
use crate::users::UserRow;
use crate::vault::{CreatedVaultView, SessionInfo, Strength, VaultStatus};
use crate::vocab::{Level, RecordId, RecordKind};

/// Every use case, as a front end calls it. See each module for what a use case does.
pub trait Backend: Send + Sync {
    // --- the vault's front door -------------------------------------------------------
    /// Whether a vault exists, who may sign in, and the open session if any.
    fn vault_status(&self) -> ApiResult<VaultStatus>;
    /// `password`'s strength as `user`'s, for the meter: against the open vault's rule, or a
    /// new vault's when none is open.
    fn password_strength(&self, user: &str, password: Password) -> Strength;
    /// First run: creates the vault with its owner and opens the owner's session. The
    /// recovery identity is shown once; the backend holds it until confirmed saved.
    fn create_vault(
        &self,
        owner: &str,
        password: Password,
        key_file: Option<KeyFileDigest>,
        client: ClientInfo,
    ) -> ApiResult<CreatedVaultView>;
    /// The recovery identity of a vault just created or restored, until confirmed saved.
    fn held_recovery_identity(&self) -> ApiResult<SecretText>;
    /// The owner confirms the recovery identity is stored safely: the backend forgets it.
    fn confirm_recovery_saved(&self);
    /// Seconds this user must wait before the next unlock attempt (0 if none).
    fn unlock_delay(&self, user: &str) -> ApiResult<u32>;
    /// Signs in as `user` from `client`.
    fn unlock(
        &self,
        user: &str,
        password: Password,
        key_file: Option<KeyFileDigest>,
        client: ClientInfo,
    ) -> ApiResult<SessionInfo>;
    /// The signed-in user's session view, re-read.
    fn session_info(&self) -> ApiResult<SessionInfo>;
    /// Locks now: the session ends and its key is zeroized.
    fn lock(&self) -> ApiResult<()>;
    /// The user is active (resets the idle timer).
    fn touch(&self);

    // --- users ----------------------------------------------------------------------------
    /// The roles a user may be given.
    fn role_names(&self) -> ApiResult<Vec<String>>;
    /// Active users with their roles.
    fn list_users(&self) -> ApiResult<Vec<UserRow>>;
    /// Gives a user another role.
    fn set_user_role(&self, name: &str, role: &str) -> ApiResult<()>;
    /// Puts a user in a team, or in none.
    fn set_user_team(&self, name: &str, team: Option<&str>) -> ApiResult<()>;
    /// Adds a user.
    fn add_user(
        &self,
        name: &str,
        role: &str,
        password: Password,
        key_file: Option<KeyFileDigest>,
    ) -> ApiResult<()>;
    /// Gives a user a new password (and optionally a new key file).
    fn reset_password(
        &self,
        name: &str,
        password: Password,
        key_file: Option<KeyFileDigest>,
    ) -> ApiResult<()>;
    /// Removes a user and rotates the data key (progress: `remove_user`).
    fn remove_user(&self, name: &str) -> ApiResult<()>;
    /// Rotates the data key now (progress: `rotate_key`).
    fn rotate_data_key(&self) -> ApiResult<()>;

    // --- records ------------------------------------------------------------------------
    /// What the role may do with records.
    fn record_rights(&self) -> ApiResult<RecordRights>;
    /// The fields of a new record's form.
    fn form_fields(&self, entity: RecordKind) -> ApiResult<Vec<FieldInfo>>;
    /// Search as you type.
    fn search_records(&self, text: &str) -> ApiResult<Vec<SearchResult>>;
    /// One page of a list.
    fn list_records(&self, entity: RecordKind, filter: ListFilter) -> ApiResult<RecordPage>;
    /// One record.
    fn show_record(&self, entity: RecordKind, id: RecordId) -> ApiResult<RecordDetail>;
    /// Creates a record; returns its id.
    fn create_record(&self, entity: RecordKind, values: Vec<FieldInput>) -> ApiResult<RecordId>;
    /// Changes fields of a record.
    fn update_record(
        &self,
        entity: RecordKind,
        id: RecordId,
        values: Vec<FieldInput>,
    ) -> ApiResult<()>;
    /// Deletes a record.
    fn delete_record(
        &self,
        entity: RecordKind,
        id: RecordId,
        dependents: DependentsChoice,
    ) -> ApiResult<()>;
    /// Reveals one Highly Confidential value, with a reason.
    fn reveal_field(
        &self,
        entity: RecordKind,
        id: RecordId,
        field: &str,
        reason: &str,
    ) -> ApiResult<String>;
    /// The pipeline's stages.
    fn pipeline_stages(&self) -> ApiResult<Vec<StageInfo>>;
    /// Replaces the pipeline's stages.
    fn save_pipeline(
        &self,
        stages: Vec<StageEdit>,
        move_deals_to: Option<RecordId>,
    ) -> ApiResult<()>;
    /// Adds a tag to a record.
    fn tag_record(&self, entity: RecordKind, id: RecordId, tag: &str) -> ApiResult<()>;
    /// Removes a tag from a record.
    fn untag_record(&self, entity: RecordKind, id: RecordId, tag: &str) -> ApiResult<()>;
    /// Puts a record in a team, or in none.
    fn set_record_team(
        &self,
        entity: RecordKind,
        id: RecordId,
        team: Option<&str>,
    ) -> ApiResult<()>;
    /// Gives a record to another user.
    fn reassign_record(&self, entity: RecordKind, id: RecordId, user: &str) -> ApiResult<()>;
    /// Pipeline and this week's activities.
    fn dashboard(&self) -> ApiResult<DashboardView>;
    /// Users a record can be given to.
    fn assignable_users(&self) -> ApiResult<Vec<String>>;
    /// Teams a record can be given to.
    fn assignable_teams(&self) -> ApiResult<Vec<String>>;

    // --- owner settings -------------------------------------------------------------------
    /// The roles screen's vocabulary.
    fn role_catalog(&self) -> RoleCatalog;
    /// Every role.
    fn list_roles(&self) -> ApiResult<Vec<RoleForm>>;
    /// Saves a role (`create` for a new one).
    fn save_role(&self, role: RoleForm, create: bool) -> ApiResult<()>;
    /// Deletes a custom role nobody holds.
    fn delete_role(&self, name: &str) -> ApiResult<()>;
    /// The fields of a kind of record with their classification.
    fn field_levels(&self, entity: RecordKind) -> ApiResult<Vec<FieldLevel>>;
    /// Reclassifies a field (progress: `classify`).
    fn classify_field(&self, entity: RecordKind, field: &str, level: Level) -> ApiResult<()>;
    /// Adds a custom field.
    fn add_custom_field(&self, entity: RecordKind, field: NewCustomField) -> ApiResult<()>;
    /// Changes a custom field.
    fn change_custom_field(
        &self,
        entity: RecordKind,
        name: &str,
        change: CustomFieldEdit,
    ) -> ApiResult<()>;
    /// Deletes a custom field and its values; returns how many values went.
    fn delete_custom_field(&self, entity: RecordKind, name: &str) -> ApiResult<u32>;
    /// The auto-lock policy.
    fn auto_lock_policy(&self) -> ApiResult<AutoLockPolicy>;
    /// Sets the auto-lock period for everyone.
    fn set_auto_lock_policy(&self, minutes: u32) -> ApiResult<AutoLockPolicy>;
    /// Whether each role requires a key file.
    fn key_file_policy(&self) -> ApiResult<Vec<RoleKeyFilePolicy>>;
    /// Makes a role require a key file (or not); returns who now cannot unlock.
    fn set_role_requires_key_file(&self, role: &str, required: bool) -> ApiResult<Vec<String>>;

    // --- moving data in -------------------------------------------------------------------
    /// Imports a file's content (progress: `import`).
    fn import_records(&self, file: ImportFile, request: ImportRequest) -> ApiResult<ImportSummary>;

    // --- backups --------------------------------------------------------------------------
    /// The backups screen.
    fn backup_overview(&self) -> ApiResult<BackupOverview>;
    /// A schedule read the way the vault will.
    fn explain_schedule(&self, text: &str) -> ApiResult<ScheduleExplained>;
    /// An extra recipient checked as it will be stored.
    fn check_backup_recipient(&self, recipient: &str) -> ApiResult<String>;
    /// Saves the backup plan.
    fn save_backup_plan(&self, plan: BackupPlan) -> ApiResult<()>;
    /// Makes and verifies a backup now (progress: `backup`), off the session.
    fn backup_now(&self) -> ApiResult<BackupRunView>;
    /// Re-verifies one backup in full.
    fn verify_backup(&self, path: &str) -> ApiResult<BackupRow>;
    /// Restores a backup into a new vault (progress: `restore`); runs where the backend is.
    /// `identity` is the recovery identity file's text; the restore right is checked first.
    fn restore_backup(
        &self,
        request: RestoreRequest,
        identity: SecretText,
        password: Password,
    ) -> ApiResult<RestoreDone>;

    // --- security ------------------------------------------------------------------------
    /// Runs the security checkup now, with the score's history.
    fn security_checkup(&self) -> ApiResult<SecurityCheckup>;

    // --- audit ----------------------------------------------------------------------------
    /// Action names for the filter menu.
    fn audit_actions(&self) -> Vec<String>;
    /// Entries matching the filters, newest first.
    fn audit_entries(&self, query: AuditQuery) -> ApiResult<Vec<AuditRow>>;
    /// Checks the whole chain.
    fn verify_audit_chain(&self) -> ApiResult<ChainCheck>;
    /// The access review.
    fn access_review(&self, period_days: u32) -> ApiResult<ReviewView>;
    /// Signs the access review off.
    fn sign_off_access_review(&self, period_days: u32) -> ApiResult<ReviewView>;
    /// Unusual-activity alerts (`all`: acknowledged ones too).
    fn audit_alerts(&self, all: bool) -> ApiResult<Vec<AlertRow>>;
    /// Acknowledges an alert.
    fn acknowledge_alert(&self, id: AlertId) -> ApiResult<()>;
}
