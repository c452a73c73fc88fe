//! Owner settings beyond users: the owner widens the Sales Representative role on the roles
//! matrix (contacts: view all), which the representative's next session shows; the field
//! classification screen is shown.

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
    ui.screenshot("20-roles").await?;
    ui.click("#nav-fields").await?;
    ui.wait_text("[data-testid=classification]", "Bank account")
        .await?;
    ui.screenshot("21-fields").await?;
    ui.click("#nav-overview").await?;
    Ok(())
}
