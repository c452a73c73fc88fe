//! The work screens: the owner adds a company, a contact and a deal through the forms, logs a
//! call, finds the contact with the search box, tags it, sees the dashboard and the pipeline
//! (moving a deal by drag and drop), switches lists without filters carrying over, sees "my
//! tasks due" naming the contact each task is about, imports contacts and deals with the plan
//! shown first (and an Excel file whose columns it names by hand), and gives the contact to the
//! Sales Representative; the representative then sees it without its financial field and with
//! the owner's company shown as not shared, reveals a Highly Confidential value with a reason,
//! and the next record shows that field masked again.

use super::{Fallible, REP, Ui};

const COMPANY: &str = "Northwind Traders";
const CONTACT: &str = "Anna Berg";
const OTHER_CONTACT: &str = "Ben Carter";

impl Ui {
    /// Picks `title` in the reference picker `#f-{field}` after typing `typed`.
    async fn pick(&self, field: &str, typed: &str, title: &str) -> Fallible<()> {
        self.type_into(&format!("#f-{field}"), typed).await?;
        self.wait_text(".picker .menu", title).await?;
        self.click(".picker .menu button").await?;
        Ok(())
    }
}

/// Run by the owner right after the first run: a company with a call logged on it, and a
/// contact at that company with a task.
pub(crate) async fn owner_adds_company_and_contact(ui: &Ui) -> Fallible<()> {
    ui.click("#nav-company").await?;
    ui.click("#new-company").await?;
    ui.type_into("#f-name", COMPANY).await?;
    ui.type_into("#f-industry", "Wholesale").await?;
    ui.type_into("#f-phone", "+1 555 0100").await?;
    ui.type_into("#f-tax_id", "US-99-1234567").await?;
    ui.click("#save-record").await?;
    ui.wait_text("[data-testid=record-title]", COMPANY).await?;
    ui.click("#log-call").await?;
    ui.type_into("#quick-text", "Intro call with purchasing")
        .await?;
    ui.click("#save-quick").await?;
    ui.wait_text("[data-testid=record-company]", "Intro call with purchasing")
        .await?;

    ui.click("#nav-contact").await?;
    ui.click("#new-contact").await?;
    ui.type_into("#f-first_name", "Anna").await?;
    ui.type_into("#f-last_name", "Berg").await?;
    ui.type_into("#f-job_title", "Head of purchasing").await?;
    ui.pick("company_id", "Northw", COMPANY).await?;
    ui.type_into("#f-emails", "anna.berg@northwind.example")
        .await?;
    ui.type_into("#f-phones", "+1 (555) 0199-123").await?;
    ui.type_into("#f-bank_account", "DE89 3704 0044 0532 0130 00")
        .await?;
    ui.screenshot("11-contact-new").await?;
    ui.click("#save-record").await?;
    ui.wait_text("[data-testid=record-title]", CONTACT).await?;
    // A task due today: "my tasks" lists it under Today.
    ui.click("#add-task").await?;
    ui.type_into("#quick-text", "Send the renewal offer")
        .await?;
    let today = ui
        .client
        .execute(
            "const d = new Date(); const pad = (n) => String(n).padStart(2, '0'); return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;",
            vec![],
        )
        .await?;
    ui.type_into(
        ".quick-form .date-field input",
        today.as_str().unwrap_or_default(),
    )
    .await?;
    ui.click("#save-quick").await?;
    ui.wait_text("[data-testid=record-contact]", "Send the renewal offer")
        .await?;
    ui.click("#nav-overview").await?;
    Ok(())
}

/// After locking and unlocking: the company and the contact are still there.
pub(crate) async fn data_is_still_there(ui: &Ui) -> Fallible<()> {
    ui.click("#nav-company").await?;
    ui.wait_text("[data-testid=list-company]", COMPANY).await?;
    ui.click("#nav-contact").await?;
    ui.wait_text("[data-testid=list-contact]", CONTACT).await?;
    ui.click("#nav-overview").await?;
    Ok(())
}

/// Run by the owner, signed in, with the Sales Representative added.
pub(crate) async fn owner_works_the_customer_base(ui: &Ui) -> Fallible<()> {
    // An empty pipeline says so in words.
    ui.click("#nav-overview").await?;
    ui.wait_text(
        "[data-testid=pipeline-chart]",
        "No deals in the pipeline yet",
    )
    .await?;

    // A second contact the owner keeps.
    ui.click("#nav-contact").await?;
    ui.click("#new-contact").await?;
    ui.type_into("#f-first_name", "Ben").await?;
    ui.type_into("#f-last_name", "Carter").await?;
    ui.type_into("#f-job_title", "Harbour master").await?;
    ui.type_into("#f-emails", "ben.carter@harbour.example")
        .await?;
    ui.type_into("#f-phones", "+44 20 7946 0958").await?;
    ui.click("#save-record").await?;
    ui.wait_text("[data-testid=record-title]", OTHER_CONTACT)
        .await?;

    // A deal for the pipeline and the dashboard.
    ui.click("#nav-deal").await?;
    ui.click("#new-deal").await?;
    ui.type_into("#f-title", "Northwind renewal 2027").await?;
    ui.pick("company_id", "Northw", COMPANY).await?;
    ui.type_into("#f-value", "12500").await?;
    ui.type_into("#f-currency", "EUR").await?;
    ui.click("#save-record").await?;
    ui.wait_text("[data-testid=record-title]", "Northwind renewal")
        .await?;

    // Lists: a stage filter on deals does not follow to companies.
    ui.click("#nav-deal").await?;
    ui.wait_text("[data-testid=list-deal]", "Northwind renewal")
        .await?;
    ui.find("[data-testid=list-deal] .filters select")
        .await?
        .select_by_label("Won")
        .await?;
    ui.wait_text("[data-testid=list-deal]", "Nothing here yet")
        .await?;
    ui.click("#nav-company").await?;
    ui.wait_text("[data-testid=list-company]", COMPANY).await?;
    assert!(
        ui.absent("[data-testid=list-company] .error").await?,
        "no error carried over from the deal filter"
    );
    ui.click("#nav-deal").await?;
    ui.wait_text("[data-testid=list-deal]", "Northwind renewal")
        .await?;
    ui.click("#nav-contact").await?;
    ui.wait_text("[data-testid=list-contact]", CONTACT).await?;
    ui.screenshot("12-contacts").await?;

    // The search box: digits of the phone in another format find the contact.
    ui.type_into("#global-search", "5550199").await?;
    ui.wait_text("[data-testid=search-results]", CONTACT)
        .await?;
    ui.type_into("#global-search", "berg").await?;
    ui.wait_text("[data-testid=search-results]", CONTACT)
        .await?;
    ui.screenshot("13-search").await?;
    ui.find("#global-search")
        .await?
        .send_keys("\u{E007}")
        .await?;
    ui.wait_text("[data-testid=record-title]", CONTACT).await?;
    ui.wait_text("[data-testid=record-contact]", "DE89 3704")
        .await?;
    // Tags: added and removed on the record; who made and changed it is shown.
    for tag in ["vip", "renewal"] {
        ui.type_into("#new-tag", &format!("{tag}\u{E007}")).await?;
        ui.wait_text("[data-testid=record-tags]", tag).await?;
    }
    ui.click("[aria-label='Remove the tag renewal']").await?;
    ui.wait_until(
        "return !document.querySelector('[data-testid=record-tags]').textContent.includes('renewal');",
        "the tag is removed",
    )
    .await?;
    ui.wait_text("[data-testid=record-meta]", "by olivia")
        .await?;
    ui.screenshot("14-contact-owner").await?;

    // Dashboard (money grouped by thousands) and pipeline.
    ui.click("#nav-overview").await?;
    ui.wait_text("[data-testid=pipeline-chart]", "12,500.00")
        .await?;
    ui.wait_text("[data-testid=pipeline-chart]", "Values in EUR")
        .await?;
    ui.screenshot("10-dashboard").await?;
    ui.click("#nav-pipeline").await?;
    ui.wait_text("[data-testid=pipeline]", "Northwind renewal")
        .await?;
    drag_deal_to_stage(ui, "Qualified").await?;
    ui.wait_text("[data-stage=Qualified]", "Northwind renewal")
        .await?;
    ui.screenshot("15-pipeline").await?;

    // My tasks: today's task, grouped, with Done where the owner may edit it.
    ui.click("#nav-tasks").await?;
    ui.wait_text("[data-testid=task-list-today]", "Send the renewal offer")
        .await?;
    ui.find("[data-testid=task-list-today] [data-testid=task-done]")
        .await?;
    // The task names the contact it is about (a link, not "not shared").
    ui.wait_text(
        "[data-testid=task-list-today] [data-testid=task-about]",
        CONTACT,
    )
    .await?;
    ui.screenshot("19-my-tasks").await?;

    // The contact goes to the Sales Representative.
    ui.type_into("#global-search", "anna").await?;
    ui.wait_text("[data-testid=search-results]", CONTACT)
        .await?;
    ui.find("#global-search")
        .await?
        .send_keys("\u{E007}")
        .await?;
    ui.wait_text("[data-testid=record-title]", CONTACT).await?;
    ui.find("#new-owner").await?.select_by_value(REP).await?;
    ui.click("#reassign").await?;
    ui.wait_text("[data-testid=record-contact]", &format!("Owner {REP}"))
        .await?;
    // …and to their team, chosen from the teams there are.
    ui.click("#change-team").await?;
    ui.find("#new-team").await?.select_by_value("North").await?;
    ui.click("#save-team").await?;
    ui.wait_text("[data-testid=record-contact]", "team North")
        .await?;
    ui.click("#nav-overview").await?;
    Ok(())
}

/// WebDriver cannot drive HTML5 drag and drop in WebKit: the page's own drag events are
/// dispatched instead (the same handlers a mouse drag runs).
async fn drag_deal_to_stage(ui: &Ui, stage: &str) -> Fallible<()> {
    let script = r#"
        const [stage] = arguments;
        const card = document.querySelector('.deal-card');
        const column = document.querySelector(`[data-stage="${stage}"]`);
        const data = new DataTransfer();
        card.dispatchEvent(new DragEvent('dragstart', { bubbles: true, dataTransfer: data }));
        column.dispatchEvent(new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: data }));
        column.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: data }));
        card.dispatchEvent(new DragEvent('dragend', { bubbles: true, dataTransfer: data }));
    "#;
    ui.client.execute(script, vec![stage.into()]).await?;
    Ok(())
}

/// Run by the Sales Representative, signed in.
pub(crate) async fn rep_sees_masked_fields(ui: &Ui) -> Fallible<()> {
    ui.click("#nav-contact").await?;
    ui.wait_text("[data-testid=list-contact]", CONTACT).await?;
    open_by_search(ui, "anna", CONTACT).await?;
    // Own record at the rep's clearance: contact details visible. The company belongs to the
    // owner, outside the rep's scope: shown as not shared, never by name or id. The bank
    // account is financial data, which the role may not see: not there at all.
    ui.wait_text(
        "[data-testid=record-contact]",
        "anna.berg@northwind.example",
    )
    .await?;
    let company = ui.text("[data-testid=masked-company_id]").await?;
    assert!(
        company.contains("not shared with you"),
        "company: {company:?}"
    );
    let page = ui.text("[data-testid=record-contact]").await?;
    assert!(!page.contains("DE89"), "the bank account stays hidden");
    assert!(
        !page.contains("Head of purchasing"),
        "the Highly Confidential job title is masked"
    );
    assert!(
        !page.contains("Bank account"),
        "financial fields are absent"
    );
    assert!(!page.contains(COMPANY), "the owner's company is not named");
    assert!(
        ui.absent("#reassign").await?,
        "a rep cannot give records away"
    );
    ui.screenshot("16-contact-sales-rep").await?;
    // The owner's company is not in the rep's scope: searching its name finds the rep's own
    // contact (by her email's domain) and never the company.
    ui.type_into("#global-search", "Northwind").await?;
    let found = ui
        .wait_text("[data-testid=search-results]", CONTACT)
        .await?;
    assert!(!found.contains(COMPANY), "results: {found:?}");
    Ok(())
}

/// Run by the Sales Representative on their own contact, after the owner gave the role the
/// reveal right and made job titles Highly Confidential: the reveal asks for a reason, then
/// shows the value.
pub(crate) async fn rep_reveals_with_a_reason(ui: &Ui) -> Fallible<()> {
    open_by_search(ui, "anna", CONTACT).await?;
    ui.find("[data-testid=masked-job_title]").await?;
    ui.click("[data-testid=reveal-job_title]").await?;
    let reveal = ui.find("form.reveal button[type=submit]").await?;
    assert!(!reveal.is_enabled().await?, "a reason is needed first");
    ui.type_into(
        "form.reveal input",
        "Confirming the buyer before the renewal call",
    )
    .await?;
    ui.click("form.reveal button[type=submit]").await?;
    ui.wait_text("[data-testid=revealed-job_title]", "Head of purchasing")
        .await?;
    Ok(())
}

/// Opens a record through the search box.
async fn open_by_search(ui: &Ui, typed: &str, title: &str) -> Fallible<()> {
    ui.type_into("#global-search", typed).await?;
    ui.wait_text("[data-testid=search-results]", title).await?;
    ui.find("#global-search")
        .await?
        .send_keys("\u{E007}")
        .await?;
    ui.wait_text("[data-testid=record-title]", title).await?;
    Ok(())
}

/// Run by the Sales Representative after the owner let the role view every contact: the
/// owner's contact opens, with details above the role's clearance on others' records masked,
/// and its hidden phone number finds nothing in search.
pub(crate) async fn rep_sees_others_contact_masked(ui: &Ui) -> Fallible<()> {
    open_by_search(ui, "carter", OTHER_CONTACT).await?;
    // The value revealed on the previous record does not show here: the field is masked.
    ui.find("[data-testid=masked-job_title]").await?;
    assert!(
        ui.absent("[data-testid=revealed-job_title]").await?,
        "a revealed value stays with its record"
    );
    let page = ui.text("[data-testid=record-contact]").await?;
    assert!(!page.contains("Head of purchasing") && !page.contains("Harbour master"));
    let phones = ui.text("[data-testid=masked-phones]").await?;
    assert!(phones.contains("•••• 0958"), "phones: {phones:?}");
    let emails = ui.text("[data-testid=masked-emails]").await?;
    assert!(
        emails.contains("b•••@harbour.example"),
        "emails: {emails:?}"
    );
    let page = ui.text("[data-testid=record-contact]").await?;
    assert!(!page.contains("7946"), "the phone number stays hidden");
    assert!(
        ui.absent("#edit-record").await?,
        "a rep edits only their own contacts"
    );
    ui.screenshot("17-contact-masked").await?;
    ui.type_into("#global-search", "2079460958").await?;
    ui.wait_text("[data-testid=search-results]", "No match")
        .await?;
    Ok(())
}

/// Run by the owner: a Google-Contacts-style CSV with one bad row is checked: the plan says
/// what each good row would do and the rejection names the row and column; the import is all
/// or nothing, so the row is fixed, checked again and the file imported.
pub(crate) async fn owner_imports_contacts(ui: &Ui, scratch: &std::path::Path) -> Fallible<()> {
    let file = scratch.join("contacts-export.csv");
    std::fs::write(
        &file,
        "Given Name,Family Name,E-mail 1 - Value,Phone 1 - Value,Organization 1 - Name\n\
         Carla,Diaz,carla.diaz@example.org,+34 600 111 222,Harbour Foods\n\
         Dan,Evans,not-an-email,+44 7700 900123,Harbour Foods\n\
         Erin,Fox,erin.fox@example.org,,\n\
         Anna,Berg,anna.berg@northwind.example,,\n",
    )?;
    ui.click("#nav-contact").await?;
    ui.click("#import-records").await?;
    ui.type_into("#import-path", &file.display().to_string())
        .await?;
    ui.click("#import-check").await?;
    let report = ui
        .wait_text("[data-testid=import-report]", "Would create")
        .await?;
    assert!(report.contains("Contacts"), "the record type: {report}");
    // The plan before anything is written: new contacts, and the existing one updated by email.
    let plan = ui.text("[data-testid=import-plan]").await?;
    assert!(
        plan.contains("Carla Diaz") && plan.contains("new"),
        "plan: {plan}"
    );
    assert!(
        plan.contains("update") && plan.contains(CONTACT),
        "plan: {plan}"
    );
    let rejected = ui.text("[data-testid=import-rejections]").await?;
    assert!(
        rejected.contains('3') && rejected.contains("E-mail 1 - Value"),
        "row and column of the bad row: {rejected}"
    );
    assert!(
        !ui.find("#import-commit").await?.is_enabled().await?,
        "nothing imports while a row is rejected"
    );
    ui.screenshot("18-import-check").await?;
    // All or nothing: the row is fixed in the file, checked again, then imported.
    let fixed = std::fs::read_to_string(&file)?.replace("not-an-email", "dan.evans@example.org");
    std::fs::write(&file, fixed)?;
    ui.click("#import-check").await?;
    ui.wait_text("[data-testid=import-report]", "reject 0")
        .await?;
    ui.click("#import-commit").await?;
    ui.wait_text("[data-testid=import-report]", "Created")
        .await?;
    ui.wait_text("[data-testid=list-contact]", "Carla Diaz")
        .await?;
    ui.wait_text("[data-testid=list-contact]", "Erin Fox")
        .await?;
    ui.wait_text("[data-testid=list-contact]", "Dan Evans")
        .await?;
    ui.click("#nav-overview").await?;
    Ok(())
}

/// Run by the owner: a HubSpot deals export whose dates fit both day/month orders and which
/// names a stage the pipeline does not have. The check says so; the owner chooses the date
/// order and maps the stage, checks again, and imports.
pub(crate) async fn owner_imports_deals_choosing_dates_and_stages(
    ui: &Ui,
    scratch: &std::path::Path,
) -> Fallible<()> {
    let file = scratch.join("hubspot-deals.csv");
    std::fs::write(
        &file,
        "Deal Name,Deal Stage,Amount,Close Date,Deal owner\n\
         Harbour Foods supply 2027,Contract Sent,8000,03/04/2027,olivia\n\
         Fox catering,Qualified,2500,05/06/2027,olivia\n",
    )?;
    ui.click("#nav-deal").await?;
    ui.click("#import-records").await?;
    ui.type_into("#import-path", &file.display().to_string())
        .await?;
    ui.click("#import-check").await?;
    ui.wait_text("[data-testid=import-report]", "Deals").await?;
    ui.wait_text("[data-testid=date-order-needed]", "Close Date")
        .await?;
    ui.find("#import-date-order")
        .await?
        .select_by_value("dmy")
        .await?;
    ui.click("#import-check").await?;
    ui.wait_text("[data-testid=import-notices]", "Contract Sent")
        .await?;
    ui.wait_text("[data-testid=import-rejections]", "Deal Stage")
        .await?;
    ui.click("#add-stage-map").await?;
    ui.type_into("#stage-theirs-0", "Contract Sent").await?;
    ui.find("#stage-ours-0")
        .await?
        .select_by_value("Negotiation")
        .await?;
    ui.click("#import-check").await?;
    ui.wait_text("[data-testid=import-report]", "reject 0")
        .await?;
    ui.wait_text("[data-testid=import-plan]", "Fox catering")
        .await?;
    ui.screenshot("27-import-deals").await?;
    ui.click("#import-commit").await?;
    ui.wait_text("[data-testid=import-report]", "Created")
        .await?;
    ui.wait_text("[data-testid=list-deal]", "Harbour Foods supply 2027")
        .await?;
    ui.click("#nav-overview").await?;
    Ok(())
}

/// Run by the owner: a contact list saved by Excel in a French locale (semicolons,
/// Windows-1252) with headers no layout knows. The check says no column gives the last name;
/// the owner says what each column is, checks again, and imports.
pub(crate) async fn owner_imports_an_excel_file_choosing_its_columns(
    ui: &Ui,
    scratch: &std::path::Path,
) -> Fallible<()> {
    let file = scratch.join("clients-excel.csv");
    std::fs::write(
        &file,
        b"Nom;Pr\xe9nom;Courriel;Remarque\r\nDurand;H\xe9l\xe8ne;helene.durand@example.fr;\"rappeler; lundi\"\r\n",
    )?;
    ui.click("#nav-contact").await?;
    ui.click("#import-records").await?;
    ui.type_into("#import-path", &file.display().to_string())
        .await?;
    ui.find("#import-entity")
        .await?
        .select_by_value("contact")
        .await?;
    ui.click("#import-check").await?;
    let rejected = ui
        .wait_text(
            "[data-testid=import-rejections]",
            "no column maps to the last name",
        )
        .await?;
    assert!(
        !rejected.contains("--"),
        "no command-line option in the desktop: {rejected}"
    );
    let report = ui.text("[data-testid=import-report]").await?;
    assert!(
        report.contains("separated by semicolons") && report.contains("windows-1252"),
        "how the file was read: {report}"
    );
    for (column, field) in [
        ("Nom", "last_name"),
        ("Prénom", "first_name"),
        ("Courriel", "emails"),
        ("Remarque", "notes"),
    ] {
        ui.find(&format!(
            "[data-testid=import-columns] select[data-column='{column}']"
        ))
        .await?
        .select_by_value(field)
        .await?;
    }
    ui.click("#import-check").await?;
    ui.wait_text("[data-testid=import-report]", "reject 0")
        .await?;
    ui.wait_text("[data-testid=import-plan]", "Hélène Durand")
        .await?;
    ui.screenshot("32-import-columns").await?;
    ui.click("#import-commit").await?;
    ui.wait_text("[data-testid=import-report]", "Created")
        .await?;
    ui.wait_text("[data-testid=list-contact]", "Hélène Durand")
        .await?;
    ui.click("#nav-overview").await?;
    Ok(())
}
