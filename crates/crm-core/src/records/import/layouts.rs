//! Which record type a CSV file holds and where each column goes, from its header row.
//!
//! The export layouts of HubSpot, Salesforce and Pipedrive (contacts, companies, deals,
//! activities, and HubSpot's notes), Google Contacts and Outlook are recognised by their
//! signature headers; the layout whose signature matches most headers wins, and a tie between
//! layouts of different record types is reported as ambiguous rather than guessed. A file in no
//! known layout (our own export, a hand-made sheet) is matched against each record type's field
//! names and common header words; the type that maps the most columns and has a column for its
//! required field wins, again only when no other type does as well. `--entity` settles any
//! doubt, and `--map "Header=field"` wins over everything for single columns.

use super::super::EffectiveField;
use super::super::fields::Entity;
use super::Target;
use crate::error::{Error, Result};

/// One recognised export layout.
pub(crate) struct Layout {
    /// Name in reports (`hubspot-deals`).
    pub name: &'static str,
    /// The record type its rows are.
    pub entity: Entity,
    /// Headers that identify it; the more present, the surer.
    pub signature: &'static [&'static str],
    /// Header → target (a field name or `company`, `contact`, `deal`, `stage`, `status`,
    /// `full_name`, `tags`, `ignore`).
    pub columns: &'static [(&'static str, &'static str)],
    /// Values for fields the export does not carry (a tasks export has no activity kind).
    pub defaults: &'static [(&'static str, &'static str)],
}

const ADDRESS_US: [&str; 5] = [
    "Street Address",
    "City",
    "State/Region",
    "Postal Code",
    "Country/Region",
];

/// Every layout we recognise. Headers are compared ignoring case and surrounding spaces.
pub(crate) const LAYOUTS: &[Layout] = &[
    Layout {
        name: "hubspot",
        entity: Entity::Contact,
        signature: &["Contact owner", "Lifecycle Stage"],
        columns: &[
            ("First Name", "first_name"),
            ("Last Name", "last_name"),
            ("Email", "emails"),
            ("Phone Number", "phones"),
            ("Mobile Phone Number", "phones"),
            ("Job Title", "job_title"),
            ("Company Name", "company"),
            ("Associated Company", "company"),
            (ADDRESS_US[0], "address"),
            (ADDRESS_US[1], "address"),
            (ADDRESS_US[2], "address"),
            (ADDRESS_US[3], "address"),
            (ADDRESS_US[4], "address"),
            ("Date of birth", "birthday"),
            ("Notes", "notes"),
            ("Record ID", "ignore"),
        ],
        defaults: &[],
    },
    Layout {
        name: "hubspot-companies",
        entity: Entity::Company,
        signature: &["Company owner", "Company Domain Name", "Company name"],
        columns: &[
            ("Company name", "name"),
            ("Company Domain Name", "website"),
            ("Website URL", "website"),
            ("Industry", "industry"),
            ("Phone Number", "phone"),
            (ADDRESS_US[0], "address"),
            ("Street Address 2", "address"),
            (ADDRESS_US[1], "address"),
            (ADDRESS_US[2], "address"),
            (ADDRESS_US[3], "address"),
            (ADDRESS_US[4], "address"),
            ("Number of Employees", "size"),
            ("Description", "notes"),
            ("Record ID", "ignore"),
        ],
        defaults: &[],
    },
    Layout {
        name: "hubspot-deals",
        entity: Entity::Deal,
        signature: &["Deal owner", "Deal Name", "Deal Stage"],
        columns: &[
            ("Deal Name", "title"),
            ("Amount", "value"),
            ("Currency", "currency"),
            ("Deal Stage", "stage"),
            ("Close Date", "expected_close"),
            ("Deal probability", "probability"),
            ("Closed Lost Reason", "lost_reason"),
            ("Associated Company", "company"),
            ("Associated Contact", "contact"),
            ("Record ID", "ignore"),
        ],
        defaults: &[],
    },
    Layout {
        name: "hubspot-tasks",
        entity: Entity::Activity,
        signature: &["Task Title", "Task Type", "Task Status"],
        columns: &[
            ("Task Title", "subject"),
            ("Task Type", "kind"),
            ("Due Date", "due_at"),
            ("Task Status", "done"),
            ("Notes", "notes"),
            ("Associated Contact", "contact"),
            ("Associated Company", "company"),
            ("Associated Deal", "deal"),
            ("Record ID", "ignore"),
        ],
        defaults: &[("kind", "task")],
    },
    Layout {
        name: "hubspot-notes",
        entity: Entity::Note,
        signature: &["Note body"],
        columns: &[
            ("Note body", "body"),
            ("Associated Contact", "contact"),
            ("Associated Company", "company"),
            ("Associated Deal", "deal"),
            ("Record ID", "ignore"),
        ],
        defaults: &[],
    },
    Layout {
        name: "salesforce",
        entity: Entity::Contact,
        signature: &[
            "Mailing Street",
            "Mailing City",
            "Email Opt Out",
            "Contact Owner",
            "MailingStreet",
            "HasOptedOutOfEmail",
        ],
        columns: &[
            ("First Name", "first_name"),
            ("Last Name", "last_name"),
            ("Title", "job_title"),
            ("Account Name", "company"),
            ("Email", "emails"),
            ("Phone", "phones"),
            ("Mobile", "phones"),
            ("Mobile Phone", "phones"),
            ("Mailing Street", "address"),
            ("Mailing City", "address"),
            ("Mailing State/Province", "address"),
            ("Mailing Zip/Postal Code", "address"),
            ("Mailing Country", "address"),
            ("Birthdate", "birthday"),
            ("Description", "notes"),
            ("Email Opt Out", "do_not_contact"),
            ("FirstName", "first_name"),
            ("LastName", "last_name"),
            ("Account.Name", "company"),
            ("MobilePhone", "phones"),
            ("MailingStreet", "address"),
            ("MailingCity", "address"),
            ("MailingState", "address"),
            ("MailingPostalCode", "address"),
            ("MailingCountry", "address"),
            ("HasOptedOutOfEmail", "do_not_contact"),
        ],
        defaults: &[],
    },
    Layout {
        name: "salesforce-accounts",
        entity: Entity::Company,
        signature: &[
            "Account Owner",
            "Billing Street",
            "Billing City",
            "BillingStreet",
            "NumberOfEmployees",
        ],
        columns: &[
            ("Account Name", "name"),
            ("Industry", "industry"),
            ("Website", "website"),
            ("Phone", "phone"),
            ("Billing Street", "address"),
            ("Billing City", "address"),
            ("Billing State/Province", "address"),
            ("Billing Zip/Postal Code", "address"),
            ("Billing Country", "address"),
            ("Employees", "size"),
            ("Description", "notes"),
            ("Name", "name"),
            ("BillingStreet", "address"),
            ("BillingCity", "address"),
            ("BillingState", "address"),
            ("BillingPostalCode", "address"),
            ("BillingCountry", "address"),
            ("NumberOfEmployees", "size"),
        ],
        defaults: &[],
    },
    Layout {
        name: "salesforce-opportunities",
        entity: Entity::Deal,
        signature: &[
            "Opportunity Name",
            "Opportunity Owner",
            "StageName",
            "Probability (%)",
        ],
        columns: &[
            ("Opportunity Name", "title"),
            ("Account Name", "company"),
            ("Amount", "value"),
            ("Opportunity Currency", "currency"),
            ("Close Date", "expected_close"),
            ("Stage", "stage"),
            ("Probability (%)", "probability"),
            ("Name", "title"),
            ("Account.Name", "company"),
            ("CurrencyIsoCode", "currency"),
            ("CloseDate", "expected_close"),
            ("StageName", "stage"),
            ("Probability", "probability"),
        ],
        defaults: &[],
    },
    Layout {
        name: "salesforce-tasks",
        entity: Entity::Activity,
        signature: &["Task Subtype", "Company / Account"],
        columns: &[
            ("Subject", "subject"),
            ("Task Subtype", "kind"),
            ("Due Date", "due_at"),
            ("Status", "done"),
            ("Contact", "contact"),
            ("Company / Account", "company"),
            ("Opportunity", "deal"),
            ("Comments", "notes"),
        ],
        defaults: &[("kind", "task")],
    },
    Layout {
        name: "pipedrive",
        entity: Entity::Contact,
        signature: &[
            "Person - Name",
            "Person - Organization",
            "Person - Email - Work",
        ],
        columns: &[
            ("Person - Name", "full_name"),
            ("Person - First name", "first_name"),
            ("Person - Last name", "last_name"),
            ("Person - Organization", "company"),
            ("Person - Email - Work", "emails"),
            ("Person - Email - Home", "emails"),
            ("Person - Email - Other", "emails"),
            ("Person - Phone - Work", "phones"),
            ("Person - Phone - Mobile", "phones"),
            ("Person - Phone - Home", "phones"),
            ("Person - Phone - Other", "phones"),
            ("Person - Job title", "job_title"),
            ("Person - Postal address", "address"),
            ("Person - Birthday", "birthday"),
            ("Person - Notes", "notes"),
            ("Person - Labels", "tags"),
        ],
        defaults: &[],
    },
    Layout {
        name: "pipedrive-organizations",
        entity: Entity::Company,
        signature: &["Organization - Name", "Organization - Owner"],
        columns: &[
            ("Organization - Name", "name"),
            ("Organization - Address", "address"),
            ("Organization - Website", "website"),
            ("Organization - Industry", "industry"),
            ("Organization - Phone", "phone"),
            ("Organization - Labels", "tags"),
        ],
        defaults: &[],
    },
    Layout {
        name: "pipedrive-deals",
        entity: Entity::Deal,
        signature: &["Deal - Title", "Deal - Stage", "Deal - Status"],
        columns: &[
            ("Deal - Title", "title"),
            ("Deal - Value", "value"),
            ("Deal - Currency", "currency"),
            ("Deal - Organization", "company"),
            ("Deal - Contact person", "contact"),
            ("Deal - Stage", "stage"),
            ("Deal - Status", "status"),
            ("Deal - Expected close date", "expected_close"),
            ("Deal - Probability", "probability"),
            ("Deal - Lost reason", "lost_reason"),
            ("Deal - Labels", "tags"),
        ],
        defaults: &[],
    },
    Layout {
        name: "pipedrive-activities",
        entity: Entity::Activity,
        signature: &["Activity - Subject", "Activity - Type"],
        columns: &[
            ("Activity - Subject", "subject"),
            ("Activity - Type", "kind"),
            ("Activity - Due date", "due_at"),
            ("Activity - Due time", "due_at"),
            ("Activity - Done", "done"),
            ("Activity - Note", "notes"),
            ("Activity - Organization", "company"),
            ("Activity - Contact person", "contact"),
            ("Activity - Deal", "deal"),
        ],
        defaults: &[],
    },
    Layout {
        name: "google",
        entity: Entity::Contact,
        signature: &[
            "E-mail 1 - Value",
            "Given Name",
            "Organization Name",
            "Organization 1 - Name",
        ],
        columns: &[
            ("First Name", "first_name"),
            ("Given Name", "first_name"),
            ("Last Name", "last_name"),
            ("Family Name", "last_name"),
            ("Name", "full_name"),
            ("E-mail 1 - Value", "emails"),
            ("E-mail 2 - Value", "emails"),
            ("E-mail 3 - Value", "emails"),
            ("Phone 1 - Value", "phones"),
            ("Phone 2 - Value", "phones"),
            ("Phone 3 - Value", "phones"),
            ("Address 1 - Formatted", "address"),
            ("Organization Name", "company"),
            ("Organization 1 - Name", "company"),
            ("Organization Title", "job_title"),
            ("Organization 1 - Title", "job_title"),
            ("Birthday", "birthday"),
            ("Notes", "notes"),
            ("Labels", "tags"),
            ("Group Membership", "tags"),
        ],
        defaults: &[],
    },
    Layout {
        name: "outlook",
        entity: Entity::Contact,
        signature: &[
            "E-mail Address",
            "Business Phone",
            "E-mail Display Name",
            "Business Street",
        ],
        columns: &[
            ("First Name", "first_name"),
            ("Last Name", "last_name"),
            ("Job Title", "job_title"),
            ("Company", "company"),
            ("E-mail Address", "emails"),
            ("E-mail 2 Address", "emails"),
            ("E-mail 3 Address", "emails"),
            ("Business Phone", "phones"),
            ("Business Phone 2", "phones"),
            ("Mobile Phone", "phones"),
            ("Home Phone", "phones"),
            ("Other Phone", "phones"),
            ("Business Street", "address"),
            ("Business City", "address"),
            ("Business State", "address"),
            ("Business Postal Code", "address"),
            ("Business Country/Region", "address"),
            ("Birthday", "birthday"),
            ("Notes", "notes"),
            ("Categories", "tags"),
        ],
        defaults: &[],
    },
];

/// Header words of hand-made files, per record type (compared in lower case). Our own export's
/// headers are field names, matched separately.
fn words(entity: Entity) -> &'static [(&'static str, &'static str)] {
    match entity {
        Entity::Contact => &[
            ("first name", "first_name"),
            ("firstname", "first_name"),
            ("given name", "first_name"),
            ("last name", "last_name"),
            ("lastname", "last_name"),
            ("surname", "last_name"),
            ("family name", "last_name"),
            ("name", "full_name"),
            ("full name", "full_name"),
            ("email", "emails"),
            ("e-mail", "emails"),
            ("email address", "emails"),
            ("phone", "phones"),
            ("telephone", "phones"),
            ("mobile", "phones"),
            ("company", "company"),
            ("organization", "company"),
            ("organisation", "company"),
            ("job title", "job_title"),
            ("title", "job_title"),
            ("birthday", "birthday"),
            ("address", "address"),
            ("notes", "notes"),
            ("labels", "tags"),
            ("categories", "tags"),
        ],
        Entity::Company => &[
            ("company", "name"),
            ("company name", "name"),
            ("organization", "name"),
            ("organisation", "name"),
            ("organization name", "name"),
            ("account name", "name"),
            ("web site", "website"),
            ("url", "website"),
            ("domain", "website"),
            ("telephone", "phone"),
            ("employees", "size"),
            ("number of employees", "size"),
            ("tax id", "tax_id"),
            ("vat number", "tax_id"),
            ("description", "notes"),
            ("labels", "tags"),
        ],
        Entity::Deal => &[
            ("deal", "title"),
            ("deal name", "title"),
            ("deal title", "title"),
            ("opportunity", "title"),
            ("opportunity name", "title"),
            ("amount", "value"),
            ("organization", "company"),
            ("account", "company"),
            ("account name", "company"),
            ("person", "contact"),
            ("contact person", "contact"),
            ("expected close", "expected_close"),
            ("expected close date", "expected_close"),
            ("close date", "expected_close"),
            ("lost reason", "lost_reason"),
            ("labels", "tags"),
        ],
        Entity::Activity => &[
            ("type", "kind"),
            ("due", "due_at"),
            ("due date", "due_at"),
            ("due at", "due_at"),
            ("status", "done"),
            ("description", "notes"),
        ],
        Entity::Note => &[("note", "body"), ("content", "body"), ("text", "body")],
    }
}

/// Our own export's bookkeeping columns: never imported (ids belong to another vault).
const EXPORT_ONLY: &[&str] = &[
    "id",
    "owner",
    "created_at",
    "updated_at",
    "company_id",
    "contact_id",
    "deal_id",
    "stage_id",
];

/// What the header row says.
pub(crate) struct Detected {
    /// The record type of the rows.
    pub entity: Entity,
    /// The layout's name, `strongroom` (our own export) or `generic`.
    pub layout: &'static str,
    /// One target per column.
    pub targets: Vec<Target>,
    /// Values for fields the layout does not carry.
    pub defaults: &'static [(&'static str, &'static str)],
}

fn same(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// The target of one header without a layout: a field name, a companion column of our export,
/// or a common header word.
fn generic_target(entity: Entity, header: &str, fields: &[EffectiveField]) -> Option<Target> {
    let lower = header.trim().to_ascii_lowercase();
    if EXPORT_ONLY.contains(&lower.as_str()) {
        return Some(Target::Ignore);
    }
    let word = words(entity)
        .iter()
        .find(|(word, _)| *word == lower)
        .map(|(_, target)| *target)
        .unwrap_or(lower.as_str());
    Target::parse(word, entity, fields).ok()
}

/// Applies `--map` pairs over `targets`; an unknown field or header is an error.
fn apply_explicit(
    headers: &[String],
    targets: &mut [Target],
    explicit: &[(String, String)],
    entity: Entity,
    fields: &[EffectiveField],
) -> Result<()> {
    for (header, field) in explicit {
        let target = Target::parse(field, entity, fields)?;
        let index = headers
            .iter()
            .position(|name| same(name, header))
            .ok_or_else(|| {
                Error::Invalid(format!("column mapping: the file has no column {header:?}"))
            })?;
        targets[index] = target;
    }
    Ok(())
}

/// Whether the targets fill the record type's required field (a contact's last name may come
/// from a full name), or the layout gives it a default.
pub(crate) fn covers_required(
    targets: &[Target],
    defaults: &[(&str, &str)],
    fields: &[EffectiveField],
) -> Option<String> {
    for field in fields.iter().filter(|field| field.required) {
        let mapped = targets.iter().any(|target| match target {
            Target::Field(name) => *name == field.name,
            Target::FullName => field.name == "last_name",
            _ => false,
        });
        let defaulted = defaults.iter().any(|(name, _)| *name == field.name);
        if !mapped && !defaulted {
            return Some(field.name.clone());
        }
    }
    None
}

/// Reads the header row: record type, layout and one target per column. `Ok(Err(reason))` is
/// a header the rows cannot be imported under (ambiguous); `Err` a bad `--map`.
pub(crate) fn detect(
    headers: &[String],
    requested: Option<Entity>,
    explicit: &[(String, String)],
    fields_of: &dyn Fn(Entity) -> Vec<EffectiveField>,
) -> Result<std::result::Result<Detected, String>> {
    let present = |name: &str| headers.iter().any(|header| same(header, name));
    let mut scored: Vec<(usize, &Layout)> = LAYOUTS
        .iter()
        .filter(|layout| requested.is_none_or(|entity| entity == layout.entity))
        .map(|layout| {
            let hits = layout.signature.iter().filter(|name| present(name)).count();
            (hits, layout)
        })
        .filter(|(hits, _)| *hits > 0)
        .collect();
    scored.sort_by_key(|(hits, _)| std::cmp::Reverse(*hits));
    if let Some(&(best, layout)) = scored.first() {
        let rivals: Vec<Entity> = scored
            .iter()
            .filter(|(hits, other)| *hits == best && other.entity != layout.entity)
            .map(|(_, other)| other.entity)
            .collect();
        if !rivals.is_empty() {
            return Ok(Err(ambiguous(layout.entity, rivals[0])));
        }
        let fields = fields_of(layout.entity);
        let mut targets: Vec<Target> = headers
            .iter()
            .map(|header| {
                layout
                    .columns
                    .iter()
                    .find(|(name, _)| same(name, header))
                    .and_then(|(_, target)| Target::parse(target, layout.entity, &fields).ok())
                    .or_else(|| {
                        // Columns the layout does not name may still be our field names.
                        let lower = header.trim().to_ascii_lowercase();
                        Target::parse(&lower, layout.entity, &fields)
                            .ok()
                            .filter(|target| matches!(target, Target::Field(_)))
                    })
                    .unwrap_or(Target::Ignore)
            })
            .collect();
        apply_explicit(headers, &mut targets, explicit, layout.entity, &fields)?;
        return Ok(Ok(Detected {
            entity: layout.entity,
            layout: layout.name,
            targets,
            defaults: layout.defaults,
        }));
    }
    // No known layout: the record type that maps most columns and has its required field.
    let candidates: Vec<Entity> = match requested {
        Some(entity) => vec![entity],
        None => Entity::ALL.to_vec(),
    };
    let mut fits: Vec<(usize, bool, Entity, Vec<Target>)> = Vec::new();
    let mut explicit_error = None;
    for entity in candidates {
        let fields = fields_of(entity);
        let mut targets: Vec<Target> = headers
            .iter()
            .map(|header| generic_target(entity, header, &fields).unwrap_or(Target::Ignore))
            .collect();
        if let Err(error) = apply_explicit(headers, &mut targets, explicit, entity, &fields) {
            explicit_error.get_or_insert(error);
            continue;
        }
        let mapped = targets.iter().filter(|t| **t != Target::Ignore).count();
        let complete = covers_required(&targets, &[], &fields).is_none();
        fits.push((mapped, complete, entity, targets));
    }
    // Complete fits first, then by mapped columns; contacts win a draw among incomplete ones
    // (the file's rows will then be told what is missing).
    fits.sort_by(|a, b| {
        (b.1, b.0)
            .cmp(&(a.1, a.0))
            .then_with(|| (b.2 == Entity::Contact).cmp(&(a.2 == Entity::Contact)))
    });
    let Some((mapped, complete, entity, targets)) = fits.first().cloned() else {
        return Err(explicit_error
            .unwrap_or_else(|| Error::Invalid("no record type fits the file's columns".into())));
    };
    if complete
        && let Some((_, _, rival, _)) = fits
            .iter()
            .skip(1)
            .find(|(other_mapped, other_complete, _, _)| *other_complete && *other_mapped == mapped)
    {
        return Ok(Err(ambiguous(entity, *rival)));
    }
    let fields = fields_of(entity);
    let ours = headers.iter().any(|header| same(header, "updated_at"))
        && headers
            .iter()
            .any(|header| fields.iter().any(|field| same(header, &field.name)));
    Ok(Ok(Detected {
        entity,
        layout: if ours { "strongroom" } else { "generic" },
        targets,
        defaults: &[],
    }))
}

fn ambiguous(one: Entity, other: Entity) -> String {
    format!(
        "the columns fit both {} and {}: choose the record type ({} or {})",
        one.table(),
        other.table(),
        one.name(),
        other.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields_of(entity: Entity) -> Vec<EffectiveField> {
        entity
            .fields()
            .iter()
            .map(|def| EffectiveField::from_builtin(def, def.level))
            .collect()
    }

    fn detect_headers(
        headers: &[&str],
        requested: Option<Entity>,
    ) -> std::result::Result<Detected, String> {
        let headers: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
        detect(&headers, requested, &[], &fields_of).expect("no --map")
    }

    #[test]
    fn each_layout_is_recognised_from_its_own_signature() {
        for layout in LAYOUTS {
            let detected = detect_headers(layout.signature, None)
                .unwrap_or_else(|why| panic!("{}: {why}", layout.name));
            assert_eq!(detected.layout, layout.name);
            assert_eq!(detected.entity, layout.entity);
        }
    }

    #[test]
    fn every_layout_target_is_a_target_of_its_record_type() {
        for layout in LAYOUTS {
            let fields = fields_of(layout.entity);
            for (header, target) in layout.columns {
                assert!(
                    Target::parse(target, layout.entity, &fields).is_ok(),
                    "{}: {header} → {target}",
                    layout.name
                );
            }
            for (field, _) in layout.defaults {
                assert!(
                    fields.iter().any(|candidate| candidate.name == *field),
                    "{}: default for {field}",
                    layout.name
                );
            }
        }
    }

    #[test]
    fn our_own_exports_are_told_apart_by_their_field_names() {
        for (headers, entity) in [
            (
                &[
                    "id",
                    "owner",
                    "created_at",
                    "updated_at",
                    "first_name",
                    "last_name",
                    "company",
                    "tags",
                ][..],
                Entity::Contact,
            ),
            (
                &[
                    "id",
                    "owner",
                    "created_at",
                    "updated_at",
                    "name",
                    "website",
                    "industry",
                    "tags",
                ][..],
                Entity::Company,
            ),
            (
                &[
                    "id",
                    "owner",
                    "created_at",
                    "updated_at",
                    "title",
                    "company",
                    "value",
                    "stage",
                    "tags",
                ][..],
                Entity::Deal,
            ),
            (
                &[
                    "id",
                    "owner",
                    "created_at",
                    "updated_at",
                    "kind",
                    "subject",
                    "due_at",
                    "done",
                ][..],
                Entity::Activity,
            ),
            (
                &[
                    "id",
                    "owner",
                    "created_at",
                    "updated_at",
                    "body",
                    "company",
                    "contact",
                ][..],
                Entity::Note,
            ),
        ] {
            let detected = detect_headers(headers, None).expect("detected");
            assert_eq!(detected.entity, entity, "{headers:?}");
            assert_eq!(detected.layout, "strongroom");
        }
    }

    #[test]
    fn a_header_that_fits_two_record_types_equally_is_ambiguous_unless_chosen() {
        let why = match detect_headers(&["Name"], None) {
            Err(why) => why,
            Ok(detected) => panic!("detected {:?}", detected.entity),
        };
        assert!(why.contains("choose the record type"), "{why}");
        let chosen = detect_headers(&["Name"], Some(Entity::Company)).expect("chosen");
        assert_eq!(chosen.entity, Entity::Company);
        assert_eq!(chosen.targets, vec![Target::Field("name".into())]);
        let contact = detect_headers(&["Name", "Email"], None).expect("contact");
        assert_eq!(contact.entity, Entity::Contact);
    }
}
