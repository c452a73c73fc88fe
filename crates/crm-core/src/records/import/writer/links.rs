//! Links named by an import row: the company (found by name or website domain, or created if
//! the role may), the contact (by email or full name), the deal (by title) and the pipeline
//! stage, each of which must be the one record of that name the importer can see.

use rusqlite::Transaction;

use super::*;

impl RowWriter {
    /// Finds what the row links to by name; a missing company is only planned, not created.
    pub(super) fn resolve_links(
        &self,
        tx: &Transaction<'_>,
        row: &RowCells<'_>,
        report: &mut ImportReport,
    ) -> RowResult<Links> {
        for (name, cell) in row.link_cells() {
            if let Some((column, _)) = cell
                && !self.sees(&self.fields, name, self.role.clearance)
            {
                return reject(
                    Some(column),
                    format!("the {} field is above your clearance", self.label(name)),
                );
            }
        }
        Ok(Links {
            stage: self.stage(row.stage, row.status, report)?,
            contact: row.contact.map(|cell| self.contact(tx, cell)).transpose()?,
            deal: row.deal.map(|cell| self.deal(tx, cell)).transpose()?,
            company: row.company.map(|cell| self.company(tx, cell)).transpose()?,
        })
    }

    /// Refuses to update a record on which the importer could not see one of the fields the
    /// row writes (writing a field you cannot read would let you probe it).
    pub(super) fn check_visible_on(
        &self,
        found: &Match,
        parsed: &[Parsed<'_, '_>],
        row: &RowCells<'_>,
    ) -> RowResult<()> {
        let allowed = self.allowed_on(&found.hit);
        let links = row.link_cells();
        let hidden = parsed
            .iter()
            .map(|(field, _, columns)| (field.name.as_str(), *columns))
            .chain(links.iter().filter_map(|(name, cell)| {
                cell.as_ref()
                    .map(|(column, _)| (*name, std::slice::from_ref(column)))
            }))
            .find(|(name, _)| !self.sees(&self.fields, name, allowed));
        match hidden {
            Some((name, columns)) => reject(
                columns_text(columns).as_deref(),
                format!(
                    "the {} field of the existing {} with the {} is above your clearance",
                    self.label(name),
                    self.entity.name(),
                    found.reason
                ),
            ),
            None => Ok(()),
        }
    }

    /// The stage a row names (by name, `--stage-map`, or won/lost status), checked.
    pub(super) fn stage(
        &self,
        stage: LinkCell<'_>,
        status: LinkCell<'_>,
        report: &mut ImportReport,
    ) -> RowResult<Option<i64>> {
        let by_outcome = |outcome: Outcome| {
            self.stages
                .iter()
                .find(|stage| stage.outcome == outcome)
                .map(|stage| stage.id)
        };
        if let Some((column, value)) = status {
            let ended = match value.to_ascii_lowercase().as_str() {
                "won" => Some(Outcome::Won),
                "lost" => Some(Outcome::Lost),
                _ => None,
            };
            match ended {
                Some(outcome) => {
                    let outcome_name = outcome.name();
                    return match by_outcome(outcome) {
                        Some(id) => Ok(Some(id)),
                        None => reject(
                            Some(column),
                            format!("the pipeline has no {outcome_name} stage"),
                        ),
                    };
                }
                None if value.eq_ignore_ascii_case("open") => {}
                None => return reject(Some(column), "must be open, won or lost"),
            }
        }
        let Some((column, name)) = stage else {
            return Ok(None);
        };
        let mapped = self
            .stage_map
            .iter()
            .find(|(theirs, _)| theirs.eq_ignore_ascii_case(name))
            .map(|(_, id)| *id);
        let named = || {
            self.stages
                .iter()
                .find(|stage| stage.name.eq_ignore_ascii_case(name))
                .map(|stage| stage.id)
        };
        // HubSpot's and Salesforce's names for the won and lost stages.
        let outcome = || match name.to_ascii_lowercase().as_str() {
            "closed won" | "closedwon" => by_outcome(Outcome::Won),
            "closed lost" | "closedlost" => by_outcome(Outcome::Lost),
            _ => None,
        };
        match mapped.or_else(named).or_else(outcome) {
            Some(id) => Ok(Some(id)),
            None => {
                report.notice(format!(
                    "stage {name:?} (column {column:?}) is not in the pipeline: map the stage name to one of its stages ({})",
                    stage_list(&self.stages)
                ));
                reject(
                    Some(column),
                    format!(
                        "no pipeline stage of that name: map the stage name to one of its stages ({})",
                        stage_list(&self.stages)
                    ),
                )
            }
        }
    }

    /// The one contact the row names, by email or full name, among those the importer sees.
    pub(super) fn contact(
        &self,
        tx: &Transaction<'_>,
        (column, value): (&str, &str),
    ) -> RowResult<i64> {
        let Some(scope) = &self.contact_view else {
            return reject(
                Some(column),
                "your role cannot see contacts, so a row cannot name one",
            );
        };
        let (found, by_email) = match values::contact_ref(value) {
            ContactRef::Email(email) => (
                lookup::contacts_by_email(tx, &[email], self.later_emails.get(), scope)?,
                true,
            ),
            ContactRef::Name(name) => (lookup::contacts_by_name(tx, &name, scope)?, false),
        };
        let seen: Vec<&Hit> = found
            .iter()
            .filter(|hit| {
                let allowed = self.allowed_on(hit);
                if by_email {
                    self.sees(&self.contact_fields, "emails", allowed)
                } else {
                    self.sees(&self.contact_fields, "last_name", allowed)
                        && self.sees(&self.contact_fields, "first_name", allowed)
                }
            })
            .collect();
        match (seen.as_slice(), by_email) {
            ([], true) => reject(
                Some(column),
                "no contact with that email that you can see (import contacts first)",
            ),
            ([], false) => reject(
                Some(column),
                "no contact of that name that you can see (import contacts first)",
            ),
            // Several contacts may share an email; the oldest is the one dedupe would update.
            ([first, ..], true) | ([first], false) => Ok(first.id),
            (several, false) => reject(
                Some(column),
                format!(
                    "{} contacts have that name: name the contact by email instead",
                    several.len()
                ),
            ),
        }
    }

    /// The one deal the row names by title, among those the importer sees.
    pub(super) fn deal(
        &self,
        tx: &Transaction<'_>,
        (column, title): (&str, &str),
    ) -> RowResult<i64> {
        let Some(scope) = &self.deal_view else {
            return reject(
                Some(column),
                "your role cannot see deals, so a row cannot name one",
            );
        };
        let found = lookup::deals_by_title(tx, title, None, scope)?;
        let seen: Vec<&Hit> = found
            .iter()
            .filter(|hit| self.sees(&self.deal_fields, "title", self.allowed_on(hit)))
            .collect();
        match seen.as_slice() {
            [] => reject(
                Some(column),
                "no deal with that title that you can see (import deals first)",
            ),
            [deal] => Ok(deal.id),
            several => reject(
                Some(column),
                format!("{} deals have that title", several.len()),
            ),
        }
    }

    /// The company the row names: the oldest visible one of that name, or a new one.
    pub(super) fn company(
        &self,
        tx: &Transaction<'_>,
        (column, name): (&str, &str),
    ) -> RowResult<CompanyLink> {
        if let Some(scope) = &self.company_view {
            let found = lookup::companies_by_name(tx, name, scope)?;
            if let Some(hit) = found
                .iter()
                .find(|hit| self.sees(&self.company_fields, "name", self.allowed_on(hit)))
            {
                return Ok(CompanyLink::Existing(hit.id));
            }
        }
        if !self.may_create_companies {
            return reject(
                Some(column),
                "no company of that name that you can see, and your role cannot create companies",
            );
        }
        let Some(name_field) = self
            .company_fields
            .iter()
            .find(|field| field.name == "name")
        else {
            return Err(Error::Invalid("the company name field is missing".into()).into());
        };
        match parse_value(name_field, &text_value(name)) {
            Ok(stored) => Ok(CompanyLink::New(stored)),
            Err(error) => reject(Some(column), reason(&error)),
        }
    }

    pub(super) fn create_company(&self, tx: &Transaction<'_>, name: &Stored) -> Result<i64> {
        let id = self
            .company
            .insert(tx, vec![name.sql.clone()], None, &self.stamp)?;
        if let Some(name_field) = self
            .company_fields
            .iter()
            .find(|field| field.name == "name")
        {
            let texts = search::index_texts(std::iter::once((
                name_field,
                name.text.as_deref().unwrap_or_default(),
            )));
            search::put(tx, Entity::Company, id, &texts)?;
        }
        Ok(id)
    }
}
