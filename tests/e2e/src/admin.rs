//! Owner settings beyond users: the owner widens the Sales Representative role on the roles
//! matrix (contacts: view all; the reveal right), which the representative's next session
//! shows; makes job titles Highly Confidential; creates and deletes (after confirming) a
//! scratch role; sets the auto-lock policy on the security page; sees the scheduled backup run
//! once a destination is set, backs up now and restores through the wizard (moving an existing
//! folder aside); reviews the audit trail and later finds the representative's reveal there.
//! Last, the restored vault opens in a new run of the app and holds the data.

use std::path::{Path, PathBuf};

use super::{Fallible, OWNER, RESTORED_PASSWORD, Ui};

/// Run by the owner, signed in.
pub(crate) async fn owner_widens_the_sales_representative_role(ui: &Ui) -> Fallible<()> {
    ui.click("#nav-roles").await?;
    ui.find("[data-testid=roles]").await?;
    ui.click("[data-role='Sales Representative']").await?;
    ui.wait_text(".role-editor h2", "Sales Representative")
        .await?;
    ui.find("#scope-contact-view")
        .await?
        .select_by_value("all")
        .await?;
    ui.click("#right-reveal").await?;
    ui.click("#save-role").await?;
    ui.wait_text("[data-testid=role-saved]", "Sales Representative")
        .await?;
    ui.screenshot("20-roles").await?;

    // A scratch role is deleted only after a confirmation.
    ui.click("#new-role").await?;
    ui.type_into("#role-name", "Temp helper").await?;
    ui.click("#save-role").await?;
    ui.wait_text("[data-testid=role-saved]", "Temp helper")
        .await?;
    ui.click("#delete-role").await?;
    ui.wait_text(
        "[data-testid=confirm-delete-role]",
        "Delete the Temp helper role?",
    )
    .await?;
    assert!(
        !ui.absent("[data-role='Temp helper']").await?,
        "nothing is deleted before the confirmation"
    );
    ui.click("#confirm-delete-role").await?;
    ui.wait_text("[data-testid=role-saved]", "deleted").await?;
    assert!(ui.absent("[data-role='Temp helper']").await?);

    // Job titles become Highly Confidential: shown to roles below that only as a mask.
    ui.click("#nav-fields").await?;
    ui.wait_text("[data-testid=classification]", "Bank account")
        .await?;
    ui.find("#level-job_title")
        .await?
        .select_by_value("Highly Confidential")
        .await?;
    ui.wait_text("[data-testid=classification]", "is now Highly Confidential")
        .await?;
    ui.screenshot("21-fields").await?;

    // Security policy: the app locks after 15 minutes without activity, for everyone.
    ui.click("#nav-security").await?;
    ui.type_into("#auto-lock-minutes", "15").await?;
    ui.click("#save-auto-lock").await?;
    ui.wait_text("[data-testid=security-policy]", "after 15 min")
        .await?;
    ui.screenshot("25-security").await?;
    ui.click("#nav-overview").await?;
    ui.wait_text("[data-testid=overview]", "after 15 min")
        .await?;
    Ok(())
}

/// Run by the owner, signed in: backups go to `folder`; saving the plan makes a backup due,
/// which the app runs in the background; "Back up now" makes another. The restore wizard
/// restores with the recovery identity from `identity_file` into a folder that already exists:
/// the refusal offers to move it aside, which the retry does. Returns the restored vault.
pub(crate) async fn owner_backs_up_and_restores(
    ui: &Ui,
    folder: &Path,
    identity_file: &Path,
) -> Fallible<PathBuf> {
    let backups = folder.join("backups");
    std::fs::create_dir_all(&backups)?;
    let restored = folder.join("restored-vault");
    // Something already stands where the restore goes.
    std::fs::create_dir_all(&restored)?;
    std::fs::write(restored.join("notes.txt"), "an older copy, kept")?;

    ui.click("#nav-backups").await?;
    ui.wait_text("[data-testid=backup-status]", "No verified backup yet")
        .await?;
    ui.type_into("#destination-0", &backups.display().to_string())
        .await?;
    ui.click("#save-plan").await?;
    ui.wait_text("[data-testid=backup-notice]", "saved").await?;
    // The schedule (every 24 h, none made yet) makes one due: the app runs it by itself.
    ui.wait_text(
        "[data-testid=scheduled-backup-result]",
        "Scheduled backup made and verified",
    )
    .await?;
    ui.wait_text("[data-testid=backup-list]", "verified")
        .await?;
    ui.click("#backup-now").await?;
    ui.wait_text("[data-testid=backup-notice]", "Backup made and verified")
        .await?;
    ui.wait_text("[data-testid=backup-status]", "Newest verified backup")
        .await?;
    ui.screenshot("22-backups").await?;

    // The wizard: backup → recovery identity → location and password → progress → done.
    ui.click("[data-testid=restore-this]").await?;
    ui.type_into("#identity-file", &identity_file.display().to_string())
        .await?;
    ui.click("#restore-next").await?;
    ui.type_into("#restore-to", &restored.display().to_string())
        .await?;
    ui.type_into("#restore-password", RESTORED_PASSWORD).await?;
    ui.type_into("#restore-repeat", RESTORED_PASSWORD).await?;
    ui.screenshot("23-restore").await?;
    ui.click("#restore-start").await?;
    ui.wait_text("[data-testid=restore-error]", "already exists")
        .await?;
    assert!(
        restored.join("notes.txt").is_file(),
        "the existing folder is untouched"
    );
    ui.click("#restore-move-aside").await?;
    ui.click("#restore-start").await?;
    let done = ui
        .wait_text("[data-testid=restore-done]", "restored into")
        .await?;
    assert!(
        done.contains("before-restore"),
        "where the old folder went: {done}"
    );
    assert!(done.contains("--vault"), "how to open it: {done}");
    for file in ["vault.db", "keyslots.json"] {
        assert!(
            restored.join(file).is_file(),
            "the restored vault has {file}"
        );
    }
    ui.screenshot("26-restore-done").await?;
    ui.click("#confirm-restored-identity").await?;
    ui.click("#finish-restore").await?;
    ui.click("#nav-overview").await?;
    Ok(restored)
}

/// Run by the owner, signed in: the audit trail lists what happened (the role change and the
/// backup among it) readably, the chain checks out, and the access review is signed off.
pub(crate) async fn owner_reviews_the_audit_trail(ui: &Ui) -> Fallible<()> {
    ui.click("#nav-audit").await?;
    ui.wait_text("[data-testid=audit-entries]", "role_changed")
        .await?;
    ui.wait_text("[data-testid=audit-entries]", "backup")
        .await?;
    let entries = ui.text("[data-testid=audit-entries]").await?;
    assert!(!entries.contains("{}"), "no empty objects: {entries}");
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

/// Run by the owner after the representative revealed a value: the reveal is in the trail,
/// with who, which field and the reason given.
pub(crate) async fn owner_sees_the_reveal(ui: &Ui) -> Fallible<()> {
    ui.click("#nav-audit").await?;
    ui.find("#audit-action")
        .await?
        .select_by_value("reveal")
        .await?;
    let entries = ui
        .wait_text(
            "[data-testid=audit-entries]",
            "Confirming the buyer before the renewal call",
        )
        .await?;
    assert!(entries.contains(super::REP), "who revealed: {entries}");
    assert!(entries.contains("job_title"), "which field: {entries}");
    assert!(
        entries.contains("reason:"),
        "the reason as a detail: {entries}"
    );
    ui.click("#nav-overview").await?;
    Ok(())
}

/// A new run of the app, started with `--vault` on the restored vault: the owner unlocks it
/// with the password set in the wizard and finds the customer base.
pub(crate) async fn restored_vault_opens_with_the_data(ui: &Ui) -> Fallible<()> {
    ui.unlock(OWNER, RESTORED_PASSWORD, None).await?;
    ui.wait_text("[data-testid=signed-in-user]", OWNER).await?;
    ui.click("#nav-company").await?;
    ui.wait_text("[data-testid=list-company]", "Northwind Traders")
        .await?;
    ui.click("#nav-contact").await?;
    ui.wait_text("[data-testid=list-contact]", "Ben Carter")
        .await?;
    Ok(())
}
