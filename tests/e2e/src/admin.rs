//! Owner settings beyond users: the owner widens the Sales Representative role on the roles
//! matrix (contacts: view all), which the representative's next session shows, and sets the
//! auto-lock policy; the field classification screen, backups with a restore, and the audit
//! trail follow.

use super::{Fallible, Ui};

/// Run by the owner, signed in.
pub(crate) async fn owner_lets_sales_reps_view_all_contacts(ui: &Ui) -> Fallible<()> {
    ui.click("#nav-roles").await?;
    ui.find("[data-testid=roles]").await?;
    ui.click("[data-role='Sales Representative']").await?;
    ui.wait_text(".role-editor h2", "Sales Representative")
        .await?;
    ui.find("#scope-contact-view")
        .await?
        .select_by_value("all")
        .await?;
    ui.click("#save-role").await?;
    ui.wait_text("[data-testid=role-saved]", "Sales Representative")
        .await?;
    // Security policy: the app locks after 15 minutes without activity, for everyone.
    ui.type_into("#auto-lock-minutes", "15").await?;
    ui.click("#save-auto-lock").await?;
    ui.wait_text("[data-testid=security-policy]", "after 15 min")
        .await?;
    ui.screenshot("20-roles").await?;
    ui.click("#nav-fields").await?;
    ui.wait_text("[data-testid=classification]", "Bank account")
        .await?;
    ui.screenshot("21-fields").await?;
    ui.click("#nav-overview").await?;
    ui.wait_text("[data-testid=overview]", "after 15 min")
        .await?;
    Ok(())
}

/// Run by the owner, signed in: backups go to `folder`; "Back up now" makes a verified backup;
/// the restore wizard restores it, with the recovery identity from `identity_file`, into a new
/// vault folder under `folder`, which then holds a complete vault.
pub(crate) async fn owner_backs_up_and_restores(
    ui: &Ui,
    folder: &std::path::Path,
    identity_file: &std::path::Path,
) -> Fallible<()> {
    let backups = folder.join("backups");
    std::fs::create_dir_all(&backups)?;
    let restored = folder.join("restored-vault");
    ui.click("#nav-backups").await?;
    ui.wait_text("[data-testid=backup-status]", "No verified backup yet")
        .await?;
    ui.type_into("#destination-0", &backups.display().to_string())
        .await?;
    ui.click("#save-plan").await?;
    ui.wait_text("[data-testid=backup-notice]", "saved").await?;
    ui.click("#backup-now").await?;
    ui.wait_text("[data-testid=backup-notice]", "Backup made and verified")
        .await?;
    ui.wait_text("[data-testid=backup-list]", "verified")
        .await?;
    ui.wait_text("[data-testid=backup-status]", "Newest verified backup")
        .await?;
    ui.screenshot("22-backups").await?;

    ui.click("[data-testid=backup-list] td.actions-cell button:nth-of-type(2)")
        .await?;
    ui.type_into("#identity-file", &identity_file.display().to_string())
        .await?;
    ui.type_into("#restore-to", &restored.display().to_string())
        .await?;
    ui.type_into("#restore-password", "Restored vault, new password 1")
        .await?;
    ui.type_into("#restore-repeat", "Restored vault, new password 1")
        .await?;
    ui.screenshot("23-restore").await?;
    ui.click("#restore-start").await?;
    ui.wait_text("[data-testid=restore-done]", "restored into")
        .await?;
    for file in ["vault.db", "keyslots.json"] {
        assert!(
            restored.join(file).is_file(),
            "the restored vault has {file}"
        );
    }
    ui.click("#confirm-restored-identity").await?;
    ui.click("#finish-restore").await?;
    ui.click("#nav-overview").await?;
    Ok(())
}

/// Run by the owner, signed in: the audit trail lists what happened (the role change and the
/// backup among it), the chain checks out, and the access review is signed off.
pub(crate) async fn owner_reviews_the_audit_trail(ui: &Ui) -> Fallible<()> {
    ui.click("#nav-audit").await?;
    ui.wait_text("[data-testid=audit-entries]", "role_changed")
        .await?;
    ui.wait_text("[data-testid=audit-entries]", "backup")
        .await?;
    ui.click("#verify-chain").await?;
    ui.wait_text("[data-testid=chain-result]", "Intact").await?;
    ui.screenshot("24-audit").await?;
    ui.click("#tab-review").await?;
    ui.wait_text("[data-testid=access-review]", super::REP)
        .await?;
    ui.click("#sign-off").await?;
    ui.wait_text("[data-testid=audit]", "signed off").await?;
    ui.click("#nav-overview").await?;
    Ok(())
}
