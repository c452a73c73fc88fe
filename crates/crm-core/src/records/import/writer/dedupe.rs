//! Which existing record an import row updates: a contact by any of its emails, a company by
//! name or website domain, a deal by title within its company; the oldest the importer may
//! edit wins, and the plan names it.

use rusqlite::Transaction;

use super::*;

impl RowWriter {
    /// The existing record the row updates: the oldest one the importer may edit that shares
    /// the record type's key, on which the key's field is visible.
    pub(super) fn existing(
        &self,
        tx: &Transaction<'_>,
        parsed: &[Parsed<'_, '_>],
        company: Option<&CompanyLink>,
    ) -> Result<Option<Match>> {
        let Some(scope) = &self.edit_scope else {
            return Ok(None);
        };
        let value = |name: &str| {
            parsed
                .iter()
                .find(|(field, _, _)| field.name == name)
                .and_then(|(_, stored, columns)| {
                    let column = columns_text(columns).unwrap_or_else(|| "-".into());
                    stored.text.as_deref().map(|text| (text, column))
                })
        };
        let first_visible = |found: Vec<Hit>, field: &str, why: &dyn Fn() -> String| {
            found
                .into_iter()
                .find(|hit| self.sees(&self.fields, field, self.allowed_on(hit)))
                .map(|hit| Match { hit, reason: why() })
        };
        Ok(match self.entity {
            Entity::Contact => match value("emails") {
                Some((emails, column)) => {
                    let emails: Vec<String> = emails.split(", ").map(str::to_owned).collect();
                    let found =
                        lookup::contacts_by_email(tx, &emails, self.later_emails.get(), scope)?;
                    first_visible(found, "emails", &|| {
                        format!("same email (column {column:?})")
                    })
                }
                None => None,
            },
            Entity::Company => {
                let by_name = match value("name") {
                    Some((name, column)) => {
                        first_visible(lookup::companies_by_name(tx, name, scope)?, "name", &|| {
                            format!("same name (column {column:?})")
                        })
                    }
                    None => None,
                };
                match (by_name, value("website")) {
                    (Some(found), _) => Some(found),
                    (None, Some((website, column))) => first_visible(
                        lookup::companies_by_domain(tx, website, scope)?,
                        "website",
                        &|| format!("same website domain (column {column:?})"),
                    ),
                    (None, None) => None,
                }
            }
            Entity::Deal => {
                let company_id = match company {
                    // A company about to be created has no deals yet.
                    Some(CompanyLink::New(_)) => return Ok(None),
                    Some(CompanyLink::Existing(id)) => Some(*id),
                    None => None,
                };
                match value("title") {
                    Some((title, column)) => first_visible(
                        lookup::deals_by_title(tx, title, Some(company_id), scope)?,
                        "title",
                        &|| format!("same title (column {column:?}) and company"),
                    ),
                    None => None,
                }
            }
            // Activities and notes have no natural key: every row is a new one.
            Entity::Activity | Entity::Note => None,
        })
    }

    /// The name of the record a row describes, for the plan.
    pub(super) fn record_name(&self, parsed: &[Parsed<'_, '_>]) -> String {
        let text = |name: &str| {
            parsed
                .iter()
                .find(|(field, _, _)| field.name == name)
                .and_then(|(_, stored, _)| stored.text.clone())
        };
        match self.entity {
            Entity::Contact => [text("first_name"), text("last_name")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
            Entity::Note => text("body")
                .map(|body| body.chars().take(60).collect())
                .unwrap_or_default(),
            entity => text(entity.title_field()).unwrap_or_default(),
        }
    }

    /// The existing record's name, from fields the importer may see on it.
    pub(super) fn existing_name(&self, hit: &Hit) -> Option<String> {
        let allowed = self.allowed_on(hit);
        let names: &[&str] = match self.entity {
            Entity::Contact => &["emails", "first_name", "last_name"],
            Entity::Company => &["name"],
            Entity::Deal => &["title"],
            Entity::Activity | Entity::Note => &[],
        };
        let parts: Vec<String> = names
            .iter()
            .zip(&hit.values)
            .filter(|(name, _)| **name != "emails" && self.sees(&self.fields, name, allowed))
            .filter_map(|(_, value)| value.clone())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}
