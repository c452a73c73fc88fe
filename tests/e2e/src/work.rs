//! The work screens: the owner adds a company, a contact and a deal through the forms, logs a
//! call, finds the contact with the search box, sees the dashboard and the pipeline (moving a
//! deal by drag and drop), and gives the contact to the Sales Representative; the
//! representative then sees it without its financial field and with the owner's company
//! shown as not shared.

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

/// Run by the owner, signed in, on the dashboard.
pub(crate) async fn owner_adds_customers(ui: &Ui) -> Fallible<()> {
    // A company, with a call logged on it.
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

    // A contact at that company, with personal and financial details.
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
    ui.click("#add-task").await?;
    ui.type_into("#quick-text", "Send the renewal offer")
        .await?;
    ui.click("#save-quick").await?;
    ui.wait_text("[data-testid=record-contact]", "Send the renewal offer")
        .await?;

    // A second contact the owner keeps.
    ui.click("#nav-contact").await?;
    ui.click("#new-contact").await?;
    ui.type_into("#f-first_name", "Ben").await?;
    ui.type_into("#f-last_name", "Carter").await?;
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

    // Lists.
    ui.click("#nav-company").await?;
    ui.wait_text("[data-testid=list-company]", COMPANY).await?;
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
    ui.screenshot("14-contact-owner").await?;

    // Dashboard and pipeline.
    ui.click("#nav-overview").await?;
    ui.wait_text("[data-testid=pipeline-chart]", "12500.00")
        .await?;
    ui.screenshot("10-dashboard").await?;
    ui.click("#nav-pipeline").await?;
    ui.wait_text("[data-testid=pipeline]", "Northwind renewal")
        .await?;
    drag_deal_to_stage(ui, "Qualified").await?;
    ui.wait_text("[data-stage=Qualified]", "Northwind renewal")
        .await?;
    ui.screenshot("15-pipeline").await?;

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

/// Run by the owner: a Google-Contacts-style CSV with one bad row is checked (the report names
/// the row and column); the import is all or nothing, so the row is fixed, checked again and
/// the file imported.
pub(crate) async fn owner_imports_contacts(ui: &Ui, scratch: &std::path::Path) -> Fallible<()> {
    let file = scratch.join("contacts-export.csv");
    std::fs::write(
        &file,
        "Given Name,Family Name,E-mail 1 - Value,Phone 1 - Value,Organization 1 - Name\n\
         Carla,Diaz,carla.diaz@example.org,+34 600 111 222,Harbour Foods\n\
         Dan,Evans,not-an-email,+44 7700 900123,Harbour Foods\n\
         Erin,Fox,erin.fox@example.org,,\n",
    )?;
    ui.click("#nav-contact").await?;
    ui.click("#import-contacts").await?;
    ui.type_into("#import-path", &file.display().to_string())
        .await?;
    ui.click("#import-check").await?;
    let report = ui
        .wait_text("[data-testid=import-report]", "Would create")
        .await?;
    assert!(report.contains("row 3"), "the bad row is named: {report}");
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
