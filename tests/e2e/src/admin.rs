//! Owner settings beyond users: the owner widens the Sales Representative role on the roles
//! matrix (contacts: view all; the reveal right), which the representative's next session
//! shows; makes job titles Highly Confidential and adds a custom field; creates and deletes
//! (after confirming) a scratch role; sets the auto-lock policy and a key file for a role on
//! the security page; renames a pipeline stage, which the board then shows; saves a backup plan
//! "daily at 13:00" (the schedule editor explains it), sees the scheduled backup run, backs up
//! now and restores through the wizard (moving an existing folder aside); reviews the audit
//! trail; after someone guessed a password, sees the alert banner at unlock and opens the
//! alerts; finds the representative's reveal in the trail. Last, the restored vault opens in a
//! new run of the app and holds the data.

use std::path::{Path, PathBuf};

use super::{Fallible, OWNER, OWNER_PASSWORD, REP, REP_PASSWORD, RESTORED_PASSWORD, Ui};

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

    // A custom field for companies, a choice list.
    ui.click("#fields-company").await?;
    ui.wait_text("[data-testid=classification]", "Tax id")
        .await?;
    ui.click("#add-field").await?;
    ui.type_into("#cf-label", "Customer tier").await?;
    ui.find("#cf-kind").await?.select_by_value("choice").await?;
    ui.type_into("#cf-choices", "Gold\u{E007}Silver\u{E007}Bronze")
        .await?;
    ui.click("#save-field").await?;
    ui.wait_text("[data-testid=fields-notice]", "Customer tier added")
        .await?;
    ui.wait_text("[data-field=customer_tier]", "Gold, Silver, Bronze")
        .await?;
    ui.screenshot("21-fields").await?;

    // Security policy: the app locks after 15 minutes without activity, for everyone.
    ui.click("#nav-security").await?;
    ui.type_into("#auto-lock-minutes", "15").await?;
    ui.click("#save-auto-lock").await?;
    ui.wait_text("[data-testid=security-policy]", "after 15 min")
        .await?;
    // Auditors must sign in with a key file from now on (nobody holds the role yet).
    ui.click("#key-file-auditor").await?;
    ui.wait_text(
        "[data-testid=key-file-notice]",
        "Auditor: a key file is now needed",
    )
    .await?;
    ui.wait_text(
        "[data-testid=key-file-policy] tr[data-role=Auditor]",
        "required",
    )
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
    // The schedule editor: "once a day at 13:00", explained by the core as it is typed.
    ui.click("#schedule-daily").await?;
    ui.type_into("#schedule-time", "25:00").await?;
    ui.wait_text("[data-testid=schedule-error]", "25:00")
        .await?;
    assert!(
        !ui.find("#save-plan").await?.is_enabled().await?,
        "a schedule the core cannot read is not saved"
    );
    ui.type_into("#schedule-time", "13:00").await?;
    ui.wait_text(
        "[data-testid=schedule-explained]",
        "at 13:00, every day (local time)",
    )
    .await?;
    ui.click("#save-plan").await?;
    ui.wait_text("[data-testid=backup-notice]", "Backup plan saved")
        .await?;
    ui.wait_text("[data-testid=schedule-summary]", "at 13:00, every day")
        .await?;
    ui.wait_text("[data-testid=destinations]", "reachable")
        .await?;
    // No backup yet, so one is due at once: the app runs it by itself.
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
    ui.screenshot_showing("23-restore", Some("[data-testid=restore]"))
        .await?;
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
    ui.screenshot_showing("26-restore-done", Some("[data-testid=restore]"))
        .await?;
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
    ui.wait_text("[data-testid=chain-result]", "Backups")
        .await?;
    ui.screenshot("24-audit").await?;
    ui.click("#tab-review").await?;
    ui.wait_text("[data-testid=access-review]", super::REP)
        .await?;
    ui.click("#sign-off").await?;
    ui.wait_text("[data-testid=audit]", "signed off").await?;
    ui.click("#nav-overview").await?;
    Ok(())
}

/// Run by the owner, signed in: Sales Representatives must sign in with a key file. The users
/// screen marks the representative, who has none, and offers to give one; the representative's
/// password alone is refused at the unlock screen with the reason. The owner then lifts the
/// requirement again (the representative signs in with a password later in the flow).
pub(crate) async fn owner_requires_a_key_file_for_a_role(
    ui: &Ui,
    owner_key: &Path,
) -> Fallible<()> {
    ui.click("#nav-security").await?;
    ui.click("#key-file-sales-representative").await?;
    ui.wait_text(
        "[data-testid=key-file-notice]",
        &format!("{REP} cannot sign in until you give them one"),
    )
    .await?;
    ui.click("#nav-users").await?;
    ui.wait_text(
        &format!("tr[data-user={REP}] [data-testid=key-file-missing]"),
        "cannot sign in",
    )
    .await?;
    ui.click(&format!("#give-key-file-{REP}")).await?;
    ui.wait_text(
        "[data-testid=user-form]",
        &format!("A key file and a new password for {REP}"),
    )
    .await?;
    ui.screenshot("30-users-key-file-missing").await?;
    ui.click("#cancel-user-form").await?;

    ui.click("#lock").await?;
    ui.unlock(REP, REP_PASSWORD, None).await?;
    ui.wait_text(
        "[data-testid=unlock-error]",
        "Your role now requires a USB key file",
    )
    .await?;
    ui.screenshot("31-unlock-key-file-required").await?;
    ui.unlock(OWNER, OWNER_PASSWORD, Some(owner_key)).await?;
    ui.wait_text("[data-testid=signed-in-user]", OWNER).await?;
    ui.click("#nav-security").await?;
    ui.click("#key-file-sales-representative").await?;
    ui.wait_text(
        "[data-testid=key-file-notice]",
        "a password alone signs in again",
    )
    .await?;
    ui.click("#nav-overview").await?;
    Ok(())
}

/// Run by the owner, signed in: "Proposal" becomes "Offer sent" in the pipeline settings, and
/// the board shows the new name.
pub(crate) async fn owner_renames_a_pipeline_stage(ui: &Ui) -> Fallible<()> {
    ui.click("#nav-stages").await?;
    ui.find("[data-testid=pipeline-settings]").await?;
    ui.find("[data-stage-row=Proposal]").await?;
    let name = ui
        .find("[data-stage-row=Proposal] input[type=text]")
        .await?;
    name.clear().await?;
    name.send_keys("Offer sent").await?;
    ui.click("#save-stages").await?;
    ui.wait_text("[data-testid=pipeline-notice]", "Pipeline saved")
        .await?;
    ui.find("[data-stage-row='Offer sent']").await?;
    ui.screenshot("28-pipeline-stages").await?;
    ui.click("#nav-pipeline").await?;
    ui.find("[data-stage='Offer sent']").await?;
    assert!(
        ui.absent("[data-stage=Proposal]").await?,
        "the old name is gone from the board"
    );
    // The deal moved there earlier is still in its stage.
    ui.wait_text("[data-stage=Qualified]", "Northwind renewal")
        .await?;
    ui.click("#nav-overview").await?;
    Ok(())
}

/// At the unlock screen: five wrong passwords for `user`, each answered before the next.
pub(crate) async fn someone_guesses_a_password(ui: &Ui, user: &str) -> Fallible<()> {
    ui.find("[data-testid=unlock]").await?;
    ui.find(&format!("#user option[value='{user}']")).await?;
    ui.find("#user").await?.select_by_value(user).await?;
    for attempt in 1..=5 {
        // The error shown is a new element for each answer (the old one goes when a try starts).
        ui.client
            .execute(
                "window.__previousError = document.querySelector('[data-testid=unlock-error]'); return true;",
                vec![],
            )
            .await?;
        ui.type_into("#password", &format!("a wrong guess {attempt}"))
            .await?;
        ui.click("#unlock").await?;
        ui.wait_until(
            "const error = document.querySelector('[data-testid=unlock-error]'); \
             const button = document.querySelector('#unlock'); \
             return error !== null && error !== window.__previousError \
                 && button !== null && !button.textContent.includes('Unlocking');",
            "the wrong password is answered",
        )
        .await?;
        ui.wait_text("[data-testid=unlock-error]", "wrong password or key file")
            .await?;
    }
    Ok(())
}

/// Run by the owner right after unlocking: the banner names the failed sign-ins and opens the
/// audit viewer's alerts.
pub(crate) async fn owner_sees_the_alert_banner(ui: &Ui) -> Fallible<()> {
    let banner = ui
        .wait_text("[data-testid=alert-banner]", "failed sign-ins for")
        .await?;
    assert!(banner.contains(super::REP), "whose sign-ins: {banner}");
    ui.screenshot("29-alert-banner").await?;
    ui.click("#open-alerts").await?;
    ui.wait_text("[data-testid=alerts]", "failed sign-ins for")
        .await?;
    assert!(
        ui.absent("[data-testid=alert-banner]").await?,
        "the banner goes once the alerts are open"
    );
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

/// Run by the owner, signed in: the security checkup rates the vault out of 100, lists each
/// finding with why it matters and its fix, and keeps the score's history.
pub(crate) async fn owner_runs_the_security_checkup(ui: &Ui) -> Fallible<()> {
    ui.click("#nav-checkup").await?;
    ui.wait_text("[data-testid=checkup-score]", "/100").await?;
    let page = ui.text("[data-testid=security-checkup]").await?;
    assert!(
        page.contains("Fix:"),
        "findings say how to fix them: {page}"
    );
    // Ratings are shown in capitals (CSS); WebDriver reads the rendered text.
    assert!(
        page.to_lowercase().contains("meets standard"),
        "passing checks are listed: {page}"
    );
    ui.click("#run-checkup").await?;
    ui.wait_text("[data-testid=security-checkup]", "Score history")
        .await?;
    ui.screenshot("33-security-checkup").await?;
    ui.click("#nav-overview").await?;
    Ok(())
}
