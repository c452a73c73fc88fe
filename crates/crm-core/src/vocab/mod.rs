//! The shared vocabulary: the words every layer of the crate uses to talk about customer data.
//!
//! The record types ([`Entity`]), the classification levels ([`Level`]), the value types
//! ([`Kind`]) and how a hidden value is shown ([`MaskStyle`]). Policy, audit, records and the
//! front ends all name these, so they live at the bottom of the crate and import nothing but
//! the error type: a module that needs to say "contact" or "confidential" does not have to
//! depend on the records module that stores them. The built-in field registry ([`fields`]) is
//! part of it for the same reason.

pub mod fields;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How sensitive a field is. Ordered: a role with clearance `Confidential` sees `Public`,
/// `Internal` and `Confidential` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Anyone with access to the record (company name and address).
    Public = 0,
    /// Staff (pipeline, deal values, internal notes).
    Internal = 1,
    /// Personal and financial data (emails, phones, birthday, tax id).
    Confidential = 2,
    /// Trade secrets and sensitive financial data: revealed one value at a time, with a reason.
    HighlyConfidential = 3,
}

impl Level {
    /// All levels, lowest first.
    pub const ALL: [Level; 4] = [
        Level::Public,
        Level::Internal,
        Level::Confidential,
        Level::HighlyConfidential,
    ];

    /// Stored integer.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// From the stored integer.
    pub fn from_u8(value: u8) -> Result<Self> {
        Level::ALL
            .get(usize::from(value))
            .copied()
            .ok_or_else(|| Error::Invalid(format!("no classification level {value}")))
    }

    /// Parses `public`, `internal`, `confidential`, `highly_confidential` (or `highly-confidential`).
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
            "public" => Ok(Level::Public),
            "internal" => Ok(Level::Internal),
            "confidential" => Ok(Level::Confidential),
            "highly_confidential" => Ok(Level::HighlyConfidential),
            _ => Err(Error::Invalid(format!(
                "unknown level {text:?}; use public, internal, confidential or highly_confidential"
            ))),
        }
    }

    /// Human name.
    pub fn label(self) -> &'static str {
        match self {
            Level::Public => "Public",
            Level::Internal => "Internal",
            Level::Confidential => "Confidential",
            Level::HighlyConfidential => "Highly Confidential",
        }
    }
}

/// The record types of the customer base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    /// A customer organisation.
    Company,
    /// A person.
    Contact,
    /// A sales opportunity.
    Deal,
    /// A call, meeting, email or task.
    Activity,
    /// A free-text note.
    Note,
}

impl Entity {
    /// All entities.
    pub const ALL: [Entity; 5] = [
        Entity::Company,
        Entity::Contact,
        Entity::Deal,
        Entity::Activity,
        Entity::Note,
    ];

    /// Singular name (`contact`).
    pub fn name(self) -> &'static str {
        match self {
            Entity::Company => "company",
            Entity::Contact => "contact",
            Entity::Deal => "deal",
            Entity::Activity => "activity",
            Entity::Note => "note",
        }
    }

    /// Plural name (also the table).
    pub fn table(self) -> &'static str {
        match self {
            Entity::Company => "companies",
            Entity::Contact => "contacts",
            Entity::Deal => "deals",
            Entity::Activity => "activities",
            Entity::Note => "notes",
        }
    }

    /// Parses a singular or plural name.
    pub fn parse(text: &str) -> Result<Self> {
        let lower = text.to_ascii_lowercase();
        Entity::ALL
            .into_iter()
            .find(|entity| entity.name() == lower || entity.table() == lower)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown record type {text:?}; use company, contact, deal, activity or note"
                ))
            })
    }

    /// The field that names a record in lists and search results.
    pub fn title_field(self) -> &'static str {
        match self {
            Entity::Company => "name",
            Entity::Contact => "last_name",
            Entity::Deal => "title",
            Entity::Activity => "subject",
            Entity::Note => "body",
        }
    }
}

/// The type of a field's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// One line of text.
    Text,
    /// Multi-line text.
    LongText,
    /// A list of email addresses.
    Emails,
    /// A list of phone numbers.
    Phones,
    /// A calendar date (`YYYY-MM-DD`).
    Date,
    /// A date and time (RFC 3339).
    DateTime,
    /// A whole number.
    Integer,
    /// A decimal number.
    Number,
    /// An amount of money in minor units (cents).
    Money,
    /// Yes or no.
    Bool,
    /// One of a fixed list (the `choices`).
    Choice,
    /// The id of a company.
    CompanyRef,
    /// The id of a contact.
    ContactRef,
    /// The id of a deal.
    DealRef,
    /// The id of a pipeline stage.
    StageRef,
}

/// How a field above the reader's clearance is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskStyle {
    /// Left out entirely.
    Absent,
    /// `•••• 1234`: the last four characters (phones, tax ids, bank numbers).
    LastFour,
    /// `j•••@example.com`: first letter and domain.
    Email,
}
