//! Declares the app's own commands so the ACL checks them: a window may call only what its
//! capability file grants (`capabilities/main.json`).

const COMMANDS: &[&str] = &[
    "vault_status",
    "password_strength",
    "generate_key_file",
    "create_vault",
    "save_recovery_identity",
    "confirm_recovery_saved",
    "unlock_delay",
    "unlock",
    "session_info_now",
    "lock",
    "touch",
    "role_names",
    "list_users",
    "set_user_role",
    "add_user",
    "reset_password",
    "remove_user",
    "rotate_data_key",
    "remembered_key_file",
    "record_rights",
    "form_fields",
    "search_records",
    "list_records",
    "show_record",
    "create_record",
    "update_record",
    "delete_record",
    "reveal_field",
    "pipeline_stages",
    "dashboard",
    "assignable_users",
    "reassign_record",
    "role_catalog",
    "list_roles",
    "save_role",
    "delete_role",
    "field_levels",
    "classify_field",
    "backup_overview",
    "save_backup_plan",
    "backup_now",
    "verify_backup",
    "restore_backup",
    "audit_actions",
    "audit_entries",
    "verify_audit_chain",
    "access_review",
    "sign_off_access_review",
    "audit_alerts",
    "acknowledge_alert",
    "auto_lock_policy",
    "set_auto_lock_policy",
    "import_contacts",
];

fn main() {
    let attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(error) = tauri_build::try_build(attributes) {
        panic!("tauri build configuration failed: {error:#}");
    }
}
