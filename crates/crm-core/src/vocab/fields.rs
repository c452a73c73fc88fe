//! The field registry: every built-in field of every entity, with its type, its default
//! classification and how it is masked.
//!
//! Storage, validation, the role view, masking, search indexing, import mapping and export all
//! read this one table, so a field is classified in exactly one place. Custom fields join it at
//! run time from the `custom_fields` table (`crate::records::custom_fields`).
//!
//! Part of the shared vocabulary: policy documents the default classification from it and
//! audit masks old values by it, without depending on the records module.

use serde::Serialize;

use super::{Entity, Kind, Level, MaskStyle};

/// The built-in field table of each record type.
impl Entity {
    /// The built-in fields of this entity.
    pub fn fields(self) -> &'static [FieldDef] {
        match self {
            Entity::Company => COMPANY,
            Entity::Contact => CONTACT,
            Entity::Deal => DEAL,
            Entity::Activity => ACTIVITY,
            Entity::Note => NOTE,
        }
    }
}

/// One built-in field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FieldDef {
    /// Name (also the column).
    pub name: &'static str,
    /// Label for people.
    pub label: &'static str,
    /// Value type.
    pub kind: Kind,
    /// Default classification (the owner may change it).
    pub level: Level,
    /// Financial data: hidden from roles without the financial right whatever their clearance.
    pub financial: bool,
    /// Part of the search index.
    pub searchable: bool,
    /// Masking when above clearance.
    pub mask: MaskStyle,
    /// Must be present on create.
    pub required: bool,
    /// Allowed values for `Choice`.
    pub choices: &'static [&'static str],
}

const fn field(name: &'static str, label: &'static str, kind: Kind, level: Level) -> FieldDef {
    FieldDef {
        name,
        label,
        kind,
        level,
        financial: false,
        searchable: false,
        mask: MaskStyle::Absent,
        required: false,
        choices: &[],
    }
}

const fn searchable(mut def: FieldDef) -> FieldDef {
    def.searchable = true;
    def
}

const fn required(mut def: FieldDef) -> FieldDef {
    def.required = true;
    def
}

const fn financial(mut def: FieldDef) -> FieldDef {
    def.financial = true;
    def
}

const fn masked(mut def: FieldDef, mask: MaskStyle) -> FieldDef {
    def.mask = mask;
    def
}

const fn choice(mut def: FieldDef, choices: &'static [&'static str]) -> FieldDef {
    def.choices = choices;
    def
}

use Kind as K;
use Level as L;

const COMPANY: &[FieldDef] = &[
    required(searchable(field("name", "Name", K::Text, L::Public))),
    field("industry", "Industry", K::Text, L::Public),
    choice(
        field("size", "Size", K::Choice, L::Public),
        &["1-10", "11-50", "51-200", "201-1000", "1000+"],
    ),
    searchable(field("website", "Website", K::Text, L::Public)),
    field("address", "Address", K::LongText, L::Public),
    masked(
        searchable(field("phone", "Phone", K::Phones, L::Public)),
        MaskStyle::LastFour,
    ),
    masked(
        financial(field("tax_id", "Tax id", K::Text, L::Confidential)),
        MaskStyle::LastFour,
    ),
    field("notes", "Internal notes", K::LongText, L::Internal),
];

const CONTACT: &[FieldDef] = &[
    searchable(field("first_name", "First name", K::Text, L::Internal)),
    required(searchable(field(
        "last_name",
        "Last name",
        K::Text,
        L::Internal,
    ))),
    field("job_title", "Job title", K::Text, L::Internal),
    field("company_id", "Company", K::CompanyRef, L::Public),
    masked(
        searchable(field("emails", "Emails", K::Emails, L::Confidential)),
        MaskStyle::Email,
    ),
    masked(
        searchable(field("phones", "Phones", K::Phones, L::Confidential)),
        MaskStyle::LastFour,
    ),
    field("address", "Address", K::LongText, L::Confidential),
    field("birthday", "Birthday", K::Date, L::Confidential),
    field("notes", "Internal notes", K::LongText, L::Internal),
    field("do_not_contact", "Do not contact", K::Bool, L::Internal),
    field("consent", "Consent", K::Text, L::Internal),
    masked(
        financial(field(
            "bank_account",
            "Bank account",
            K::Text,
            L::Confidential,
        )),
        MaskStyle::LastFour,
    ),
];

const DEAL: &[FieldDef] = &[
    required(searchable(field("title", "Title", K::Text, L::Internal))),
    field("company_id", "Company", K::CompanyRef, L::Public),
    field("contact_id", "Contact", K::ContactRef, L::Internal),
    field("value", "Value", K::Money, L::Internal),
    field("currency", "Currency", K::Text, L::Internal),
    field("stage_id", "Stage", K::StageRef, L::Internal),
    field("expected_close", "Expected close", K::Date, L::Internal),
    field("probability", "Probability %", K::Integer, L::Internal),
    field("lost_reason", "Lost reason", K::Text, L::Internal),
];

const ACTIVITY: &[FieldDef] = &[
    required(choice(
        field("kind", "Kind", K::Choice, L::Internal),
        &["call", "meeting", "email", "task"],
    )),
    required(field("subject", "Subject", K::Text, L::Internal)),
    field("due_at", "Due", K::DateTime, L::Internal),
    field("done", "Done", K::Bool, L::Internal),
    field("company_id", "Company", K::CompanyRef, L::Public),
    field("contact_id", "Contact", K::ContactRef, L::Internal),
    field("deal_id", "Deal", K::DealRef, L::Internal),
    field("notes", "Notes", K::LongText, L::Internal),
];

const NOTE: &[FieldDef] = &[
    required(field("body", "Note", K::LongText, L::Internal)),
    field("company_id", "Company", K::CompanyRef, L::Public),
    field("contact_id", "Contact", K::ContactRef, L::Internal),
    field("deal_id", "Deal", K::DealRef, L::Internal),
];

/// A built-in field by entity and name.
pub fn builtin(entity: Entity, name: &str) -> Option<&'static FieldDef> {
    entity.fields().iter().find(|def| def.name == name)
}

/// Masks `value` for someone below the field's level, in the field's style. The hint never
/// shows more than four characters (digits of a phone or id) or the first letter and domain of
/// an email; short values are masked entirely.
pub fn mask_hint(style: MaskStyle, value: &str) -> Option<String> {
    match style {
        MaskStyle::Absent => None,
        MaskStyle::LastFour => {
            let tail: Vec<char> = value
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect();
            if tail.len() < 8 {
                Some("••••".into())
            } else {
                let last: String = tail[tail.len() - 4..].iter().collect();
                Some(format!("•••• {last}"))
            }
        }
        MaskStyle::Email => match value.split_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
                let first = local.chars().next().unwrap_or('•');
                Some(format!("{first}•••@{domain}"))
            }
            _ => Some("•••".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_reveal_at_most_the_hint() {
        assert_eq!(
            mask_hint(MaskStyle::LastFour, "+1 (555) 123-4567").as_deref(),
            Some("•••• 4567")
        );
        assert_eq!(
            mask_hint(MaskStyle::LastFour, "123").as_deref(),
            Some("••••")
        );
        assert_eq!(
            mask_hint(MaskStyle::Email, "jane.doe@example.com").as_deref(),
            Some("j•••@example.com")
        );
        assert_eq!(mask_hint(MaskStyle::Absent, "secret"), None);
    }

    #[test]
    fn every_entity_has_its_title_field_and_one_required_field() {
        for entity in Entity::ALL {
            assert!(
                builtin(entity, entity.title_field()).is_some(),
                "{entity:?}"
            );
            assert!(entity.fields().iter().any(|def| def.required), "{entity:?}");
        }
    }
}
