//! `LocalBackend`: the use cases with the session hosted in this process, for a front end on
//! the computer that holds the vault (the desktop app on "This computer", the CLI, the
//! office server's own process).
//!
//! It adds to the use cases only what hosting takes: the session's lock state and long
//! operations ([`host`]), the backup scheduler and the auto-lock timer ([`scheduler`]), and
//! the recovery identity held between "shown once" and "saved".

pub mod host;
pub mod scheduler;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crm_core::password::PasswordRule;
use crm_core::{
    Credentials, KdfStrength, KeyFileDigest, NewVault, Password, RecoveryIdentity, SecretText,
    Session, Vault, VaultPaths,
};

use self::host::{Lock, SessionHost};
use crate::audit::{self, AlertId, AlertRow, AuditQuery, AuditRow, ChainCheck, ReviewView};
use crate::backend::Backend;
use crate::backup::{
    self, BackupOverview, BackupPlan, BackupRow, BackupRunView, RestoreDone, RestoreRequest,
    ScheduleExplained,
};
use crate::client::ClientInfo;
use crate::error::{ApiError, ApiResult};
use crate::events::{EventSink, progress_to};
use crate::records::{
    self, DashboardView, DependentsChoice, FieldInfo, FieldInput, ListFilter, RecordDetail,
    RecordPage, RecordRights, SearchResult, StageEdit, StageInfo,
};
use crate::security::{self, SecurityCheckup};
use crate::settings::{
    self, AutoLockPolicy, CustomFieldEdit, FieldLevel, NewCustomField, RoleCatalog, RoleForm,
    RoleKeyFilePolicy,
};
use crate::transfer::{self, ImportFile, ImportRequest, ImportSummary};
use crate::users::{self, UserRow};
use crate::vault::{self, CreatedVaultView, SessionInfo, SignInUser, Strength, VaultStatus};
use crate::vocab::{Level, RecordId, RecordKind};

/// The use cases over a session in this process.
#[derive(Clone)]
pub struct LocalBackend {
    host: SessionHost,
    events: Arc<dyn EventSink>,
}

impl std::fmt::Debug for LocalBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBackend")
            .field("vault_dir", &self.host.vault_dir)
            .finish_non_exhaustive()
    }
}

impl LocalBackend {
    /// A backend for the vault in `vault_dir`, locked. `auto_lock_override` fixes the idle
    /// period (tests, kiosks); otherwise the vault's policy applies from each unlock.
    pub fn new(
        vault_dir: PathBuf,
        auto_lock_override: Option<Duration>,
        events: Arc<dyn EventSink>,
    ) -> Self {
        Self {
            host: SessionHost::new(vault_dir, auto_lock_override),
            events,
        }
    }

    /// Starts the auto-lock timer and the backup scheduler (once). Fails only when the timer
    /// cannot start, and then the host must not run: the vault would never lock itself.
    pub fn start_background(&self) -> std::io::Result<()> {
        scheduler::start_idle_timer(self.host.clone(), self.events.clone())?;
        scheduler::start_scheduler(self.host.clone(), self.events.clone());
        Ok(())
    }

    /// The vault directory.
    pub fn vault_dir(&self) -> &Path {
        &self.host.vault_dir
    }

    /// The session host (lock state, long operations), for hosts that add their own work.
    pub fn host(&self) -> &SessionHost {
        &self.host
    }

    /// Runs `work` with the open session (`locked`, or `busy` while a long operation holds
    /// it). Counts as activity.
    fn session<T>(&self, work: impl FnOnce(&mut Session) -> ApiResult<T>) -> ApiResult<T> {
        self.host.with_session(work)
    }

    /// Runs a long operation (`name` as the user knows it) with the session, reporting its
    /// progress as `operation`. `exclusive`: it needs the vault alone (a key rotation), so it
    /// is refused while a backup job runs.
    fn long_operation<T>(
        &self,
        name: &str,
        operation: &str,
        exclusive: bool,
        work: impl FnOnce(&mut Session, crm_core::vault::ProgressFn<'_>) -> ApiResult<T>,
    ) -> ApiResult<T> {
        if exclusive {
            self.host.refuse_during_backup()?;
        }
        let _busy = self.host.start_long_operation(name)?;
        let mut progress = progress_to(self.events.as_ref(), operation);
        self.host
            .with_session(|session| work(session, &mut progress))
    }

    fn session_info_of(&self, session: &mut Session) -> ApiResult<SessionInfo> {
        vault::session_info(session, self.host.auto_lock_after().as_secs())
    }
}

impl Backend for LocalBackend {
    fn vault_status(&self) -> ApiResult<VaultStatus> {
        // Waits for a running long operation rather than answer `busy`: front ends ask at
        // start and after locking.
        let session = match &mut *self.host.lock_state() {
            Lock::Locked => None,
            Lock::Unlocked(session) => Some(self.session_info_of(session)?),
        };
        let dir = self.vault_dir().display().to_string();
        if !VaultPaths::new(self.vault_dir()).exists() {
            return Ok(VaultStatus {
                dir,
                exists: false,
                users: Vec::new(),
                warnings: Vec::new(),
                session,
            });
        }
        let vault = Vault::open(self.vault_dir())?;
        Ok(VaultStatus {
            dir,
            exists: true,
            users: vault
                .users()
                .into_iter()
                .map(|user| SignInUser {
                    name: user.name,
                    requires_key_file: user.requires_key_file,
                })
                .collect(),
            warnings: vault.warnings().to_vec(),
            session,
        })
    }

    fn password_strength(&self, user: &str, password: Password) -> Strength {
        // The open vault's rule when a session is open; otherwise (locked, first run, busy)
        // the rule a new vault here would get. The meter only advises: every write of a
        // password checks it again with the vault's own rule.
        let open = self
            .host
            .with_session_untouched(|session| Ok(session.password_strength(user, &password)?));
        match open {
            Ok(strength) => strength.into(),
            Err(_) => PasswordRule::for_new_vault(self.vault_dir())
                .check(user, &password)
                .into(),
        }
    }

    fn create_vault(
        &self,
        owner: &str,
        password: Password,
        key_file: Option<KeyFileDigest>,
        _client: ClientInfo,
    ) -> ApiResult<CreatedVaultView> {
        let _busy = self.host.start_long_operation("creating the vault")?;
        let mut created = Vault::create(
            self.vault_dir(),
            NewVault {
                owner: owner.trim().to_string(),
                password,
                key_file,
                kdf: KdfStrength::from_env(),
            },
        )?;
        let recovery_identity = created.recovery.to_identity_file().expose().to_string();
        let recovery_recipient = created.recovery.recipient();
        *self.host.recovery() = Some(created.recovery);
        let session = self.session_info_of(&mut created.session)?;
        self.host.set_session(created.session);
        Ok(CreatedVaultView {
            session,
            recovery_identity,
            recovery_recipient,
        })
    }

    fn held_recovery_identity(&self) -> ApiResult<SecretText> {
        let guard = self.host.recovery();
        let identity = guard.as_ref().ok_or_else(|| {
            ApiError::new(
                "not_found",
                "the recovery identity is no longer held: it is shown only once",
            )
        })?;
        Ok(identity.to_identity_file())
    }

    fn confirm_recovery_saved(&self) {
        self.host.recovery().take();
    }

    fn unlock_delay(&self, user: &str) -> ApiResult<u32> {
        let vault = Vault::open(self.vault_dir())?;
        Ok(crate::error::count(vault.unlock_delay(user)))
    }

    fn unlock(
        &self,
        user: &str,
        password: Password,
        key_file: Option<KeyFileDigest>,
        client: ClientInfo,
    ) -> ApiResult<SessionInfo> {
        let vault = Vault::open(self.vault_dir())?;
        let mut session = vault.unlock_from(
            &Credentials {
                user: user.to_owned(),
                password,
                key_file,
            },
            &client.audit_name(),
        )?;
        let info = self.session_info_of(&mut session)?;
        self.host.set_session(session);
        Ok(info)
    }

    fn session_info(&self) -> ApiResult<SessionInfo> {
        self.session(|session| self.session_info_of(session))
    }

    fn lock(&self) -> ApiResult<()> {
        // A running long operation is let finish first (this waits); a running backup job is
        // not waited for: the session is locked as soon as it has recorded the backup.
        self.host.recovery().take();
        self.host.lock_now(false);
        Ok(())
    }

    fn touch(&self) {
        self.host.touch();
    }

    fn role_names(&self) -> ApiResult<Vec<String>> {
        self.session(users::role_names)
    }

    fn list_users(&self) -> ApiResult<Vec<UserRow>> {
        self.session(users::list_users)
    }

    fn set_user_role(&self, name: &str, role: &str) -> ApiResult<()> {
        self.session(|session| users::set_user_role(session, name, role))
    }

    fn set_user_team(&self, name: &str, team: Option<&str>) -> ApiResult<()> {
        self.session(|session| users::set_user_team(session, name, team))
    }

    fn add_user(
        &self,
        name: &str,
        role: &str,
        password: Password,
        key_file: Option<KeyFileDigest>,
    ) -> ApiResult<()> {
        self.session(|session| users::add_user(session, name, role.to_owned(), password, key_file))
    }

    fn reset_password(
        &self,
        name: &str,
        password: Password,
        key_file: Option<KeyFileDigest>,
    ) -> ApiResult<()> {
        self.session(|session| users::reset_password(session, name, password, key_file))
    }

    fn remove_user(&self, name: &str) -> ApiResult<()> {
        self.long_operation(
            "removing a user (key rotation)",
            "remove_user",
            true,
            |session, progress| users::remove_user(session, name, progress),
        )
    }

    fn rotate_data_key(&self) -> ApiResult<()> {
        self.long_operation("a key rotation", "rotate_key", true, users::rotate_data_key)
    }

    fn record_rights(&self) -> ApiResult<RecordRights> {
        self.session(records::record_rights)
    }

    fn form_fields(&self, entity: RecordKind) -> ApiResult<Vec<FieldInfo>> {
        self.session(|session| records::form_fields(session, entity))
    }

    fn search_records(&self, text: &str) -> ApiResult<Vec<SearchResult>> {
        self.session(|session| records::search_records(session, text))
    }

    fn list_records(&self, entity: RecordKind, filter: ListFilter) -> ApiResult<RecordPage> {
        self.session(|session| records::list_records(session, entity, filter))
    }

    fn show_record(&self, entity: RecordKind, id: RecordId) -> ApiResult<RecordDetail> {
        self.session(|session| records::show_record(session, entity, id))
    }

    fn create_record(&self, entity: RecordKind, values: Vec<FieldInput>) -> ApiResult<RecordId> {
        self.session(|session| records::create_record(session, entity, values))
    }

    fn update_record(
        &self,
        entity: RecordKind,
        id: RecordId,
        values: Vec<FieldInput>,
    ) -> ApiResult<()> {
        self.session(|session| records::update_record(session, entity, id, values))
    }

    fn delete_record(
        &self,
        entity: RecordKind,
        id: RecordId,
        dependents: DependentsChoice,
    ) -> ApiResult<()> {
        self.session(|session| records::delete_record(session, entity, id, dependents))
    }

    fn reveal_field(
        &self,
        entity: RecordKind,
        id: RecordId,
        field: &str,
        reason: &str,
    ) -> ApiResult<String> {
        self.session(|session| records::reveal_field(session, entity, id, field, reason))
    }

    fn pipeline_stages(&self) -> ApiResult<Vec<StageInfo>> {
        self.session(records::pipeline_stages)
    }

    fn save_pipeline(
        &self,
        stages: Vec<StageEdit>,
        move_deals_to: Option<RecordId>,
    ) -> ApiResult<()> {
        self.session(|session| records::save_pipeline(session, stages, move_deals_to))
    }

    fn tag_record(&self, entity: RecordKind, id: RecordId, tag: &str) -> ApiResult<()> {
        self.session(|session| records::tag_record(session, entity, id, tag.to_owned()))
    }

    fn untag_record(&self, entity: RecordKind, id: RecordId, tag: &str) -> ApiResult<()> {
        self.session(|session| records::untag_record(session, entity, id, tag.to_owned()))
    }

    fn set_record_team(
        &self,
        entity: RecordKind,
        id: RecordId,
        team: Option<&str>,
    ) -> ApiResult<()> {
        self.session(|session| records::set_record_team(session, entity, id, team))
    }

    fn reassign_record(&self, entity: RecordKind, id: RecordId, user: &str) -> ApiResult<()> {
        self.session(|session| records::reassign_record(session, entity, id, user))
    }

    fn dashboard(&self) -> ApiResult<DashboardView> {
        self.session(records::dashboard)
    }

    fn assignable_users(&self) -> ApiResult<Vec<String>> {
        self.session(records::assignable_users)
    }

    fn assignable_teams(&self) -> ApiResult<Vec<String>> {
        self.session(records::assignable_teams)
    }

    fn role_catalog(&self) -> RoleCatalog {
        settings::role_catalog()
    }

    fn list_roles(&self) -> ApiResult<Vec<RoleForm>> {
        self.session(settings::list_roles)
    }

    fn save_role(&self, role: RoleForm, create: bool) -> ApiResult<()> {
        self.session(|session| settings::save_role(session, role, create))
    }

    fn delete_role(&self, name: &str) -> ApiResult<()> {
        self.session(|session| settings::delete_role(session, name))
    }

    fn field_levels(&self, entity: RecordKind) -> ApiResult<Vec<FieldLevel>> {
        self.session(|session| settings::field_levels(session, entity))
    }

    fn classify_field(&self, entity: RecordKind, field: &str, level: Level) -> ApiResult<()> {
        self.long_operation(
            "a field reclassification",
            "classify",
            false,
            |session, progress| settings::classify_field(session, entity, field, level, progress),
        )
    }

    fn add_custom_field(&self, entity: RecordKind, field: NewCustomField) -> ApiResult<()> {
        self.session(|session| settings::add_custom_field(session, entity, field))
    }

    fn change_custom_field(
        &self,
        entity: RecordKind,
        name: &str,
        change: CustomFieldEdit,
    ) -> ApiResult<()> {
        self.session(|session| settings::change_custom_field(session, entity, name, change))
    }

    fn delete_custom_field(&self, entity: RecordKind, name: &str) -> ApiResult<u32> {
        self.session(|session| settings::delete_custom_field(session, entity, name))
    }

    fn auto_lock_policy(&self) -> ApiResult<AutoLockPolicy> {
        let minutes = self.session(|session| Ok(session.auto_lock_minutes()?))?;
        Ok(settings::auto_lock_view(
            minutes,
            self.host.auto_lock_after(),
        ))
    }

    fn set_auto_lock_policy(&self, minutes: u32) -> ApiResult<AutoLockPolicy> {
        self.session(|session| Ok(session.set_auto_lock_minutes(minutes)?))?;
        self.host.set_auto_lock_policy(minutes);
        Ok(settings::auto_lock_view(
            minutes,
            self.host.auto_lock_after(),
        ))
    }

    fn key_file_policy(&self) -> ApiResult<Vec<RoleKeyFilePolicy>> {
        self.session(settings::key_file_policy)
    }

    fn set_role_requires_key_file(&self, role: &str, required: bool) -> ApiResult<Vec<String>> {
        self.session(|session| settings::set_role_requires_key_file(session, role, required))
    }

    fn import_records(&self, file: ImportFile, request: ImportRequest) -> ApiResult<ImportSummary> {
        self.long_operation("an import", "import", false, |session, progress| {
            transfer::import_records(session, &file, request, progress)
        })
    }

    fn backup_overview(&self) -> ApiResult<BackupOverview> {
        let running = self.host.running_backup();
        self.session(|session| backup::backup_overview(session, running))
    }

    fn explain_schedule(&self, text: &str) -> ApiResult<ScheduleExplained> {
        backup::explain_schedule(text)
    }

    fn check_backup_recipient(&self, recipient: &str) -> ApiResult<String> {
        backup::check_backup_recipient(recipient)
    }

    fn save_backup_plan(&self, plan: BackupPlan) -> ApiResult<()> {
        self.session(|session| backup::save_backup_plan(session, plan))?;
        // A new destination or a new schedule may make a backup due now.
        self.host.wake_scheduler();
        Ok(())
    }

    fn backup_now(&self) -> ApiResult<BackupRunView> {
        let (run, job) = self
            .host
            .start_backup("a backup", true, |session| {
                Ok(Some(session.start_backup_now(None)?))
            })?
            .ok_or_else(|| ApiError::new("internal", "no backup job was prepared"))?;
        let mut progress = progress_to(self.events.as_ref(), "backup");
        Ok(backup::run_view(run.finish(job.run(&mut progress))))
    }

    fn verify_backup(&self, path: &str) -> ApiResult<BackupRow> {
        self.long_operation("a backup verification", "verify", false, |session, _| {
            backup::verify_backup(session, path)
        })
    }

    fn restore_backup(
        &self,
        request: RestoreRequest,
        identity: SecretText,
        password: Password,
    ) -> ApiResult<RestoreDone> {
        let _busy = self.host.start_long_operation("a restore")?;
        self.host.with_session(backup::require_restore_right)?;
        let identity = RecoveryIdentity::parse(identity.expose())?;
        let mut progress = progress_to(self.events.as_ref(), "restore");
        let (done, recovery) =
            backup::restore_backup(&request, &identity, password, &mut progress)?;
        // This host keeps working on its own vault; the new one's identity is held (as at
        // first run) until the user saves it and confirms.
        *self.host.recovery() = Some(recovery);
        Ok(done)
    }

    fn security_checkup(&self) -> ApiResult<SecurityCheckup> {
        self.session(security::security_checkup)
    }

    fn audit_actions(&self) -> Vec<String> {
        audit::audit_actions()
    }

    fn audit_entries(&self, query: AuditQuery) -> ApiResult<Vec<AuditRow>> {
        self.session(|session| audit::audit_entries(session, query))
    }

    fn verify_audit_chain(&self) -> ApiResult<ChainCheck> {
        self.session(audit::verify_audit_chain)
    }

    fn access_review(&self, period_days: u32) -> ApiResult<ReviewView> {
        self.session(|session| audit::access_review(session, period_days))
    }

    fn sign_off_access_review(&self, period_days: u32) -> ApiResult<ReviewView> {
        self.session(|session| audit::sign_off_access_review(session, period_days))
    }

    fn audit_alerts(&self, all: bool) -> ApiResult<Vec<AlertRow>> {
        self.session(|session| audit::audit_alerts(session, all))
    }

    fn acknowledge_alert(&self, id: AlertId) -> ApiResult<()> {
        self.session(|session| audit::acknowledge_alert(session, id))
    }
}
