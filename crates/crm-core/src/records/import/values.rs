//! Cell values as other systems write them, tidied into what the field registry's parser reads.
//!
//! Only the form changes here (`TRUE` → `true`, `$12,500.00` → `12500.00`, `25/12/1985` →
//! `1985-12-25`, Google's ` ::: ` list separator → `, `); whether the value is acceptable is
//! still decided by `parse_value`, the same rule `create` and `update` use.

use super::super::EffectiveField;
use super::super::fields::Kind;
use super::dates::{Century, DateOrder, parse_date, parse_date_time};

/// The longest tag (the same limit as tagging a record by hand).
pub(crate) const MAX_TAG_CHARS: usize = 40;

/// Tidies one value for `field`; `Err` is the reason for the row report (never the value).
/// An empty result means "no value" (Outlook's `0/0/00` birthday).
pub(crate) fn normalise(
    field: &EffectiveField,
    value: &str,
    order: Option<DateOrder>,
) -> std::result::Result<String, String> {
    let value = value.trim();
    match field.kind {
        Kind::Emails => Ok(value.replace(" ::: ", ", ")),
        Kind::Phones => Ok(extension_marks(&value.replace(" ::: ", ", "))),
        Kind::Date => {
            let century = if field.name == "birthday" {
                Century::NotFuture
            } else {
                Century::Posix
            };
            parse_date(value, order, century)
                .map(|date| date.map(|d| d.to_string()).unwrap_or_default())
        }
        Kind::DateTime => parse_date_time(value, order).map(Option::unwrap_or_default),
        Kind::Bool => Ok(boolean(value).unwrap_or(value).to_owned()),
        Kind::Money => Ok(amount(value)),
        Kind::Integer if field.name == "probability" => Ok(percentage(value)),
        Kind::Choice if field.name == "size" => Ok(company_size(value).unwrap_or(value).to_owned()),
        Kind::Choice if field.name == "kind" => Ok(activity_kind(value).to_owned()),
        _ => Ok(value.to_owned()),
    }
}

/// Writes a phone extension the way the phone parser reads it: `ext. 12`, `ext 12`,
/// `extension 12` → `x 12`.
fn extension_marks(value: &str) -> String {
    if !value.contains(['e', 'E']) {
        return value.to_owned();
    }
    let lower = value.to_ascii_lowercase();
    let mut out = String::with_capacity(value.len());
    let mut index = 0;
    while let Some(c) = value[index..].chars().next() {
        let rest = &lower[index..];
        match ["extension", "ext.", "ext"]
            .iter()
            .find(|mark| rest.starts_with(**mark))
        {
            Some(mark) => {
                out.push('x');
                index += mark.len();
            }
            None => {
                out.push(c);
                index += c.len_utf8();
            }
        }
    }
    out
}

/// Yes/no words of exports: opt-out flags (`TRUE`), task states (`Completed`, `NOT_STARTED`,
/// Pipedrive's `Done` / `To do`).
fn boolean(value: &str) -> Option<&'static str> {
    let lower = value.to_ascii_lowercase().replace(['_', '-'], " ");
    match lower.as_str() {
        "true" | "yes" | "y" | "1" | "done" | "completed" | "complete" | "closed" => Some("true"),
        "false"
        | "no"
        | "n"
        | "0"
        | "to do"
        | "todo"
        | "not started"
        | "in progress"
        | "open"
        | "waiting"
        | "deferred"
        | "waiting on someone else" => Some("false"),
        _ => None,
    }
}

/// `$12,500.00`, `€ 900`, `USD 12500` → `12500.00`, `900`, `12500`: currency marks and spaces
/// go (the currency has its own column).
fn amount(value: &str) -> String {
    let trimmed =
        value.trim_matches(|c: char| c.is_alphabetic() || c.is_whitespace() || "$€£¥".contains(c));
    trimmed.replace(' ', "")
}

/// `20%` → `20`; HubSpot's fractions (`0.2`) → `20`; `20.0` → `20`.
fn percentage(value: &str) -> String {
    let number = value.trim_end_matches('%').trim();
    match number.parse::<f64>() {
        Ok(fraction) if number.contains('.') && (0.0..=1.0).contains(&fraction) => {
            format!("{}", (fraction * 100.0).round())
        }
        Ok(whole) if number.contains('.') && whole.fract() == 0.0 => format!("{whole}"),
        _ => number.to_owned(),
    }
}

/// A head count (`250`) into the size band it falls in.
fn company_size(value: &str) -> Option<&'static str> {
    let count: u64 = value.replace([',', ' '], "").parse().ok()?;
    Some(match count {
        0..=10 => "1-10",
        11..=50 => "11-50",
        51..=200 => "51-200",
        201..=1000 => "201-1000",
        _ => "1000+",
    })
}

/// Activity types of other CRMs onto ours: HubSpot's `TODO`, Pipedrive's `Deadline` and
/// `Lunch`. Anything else is left for the choice check to name.
fn activity_kind(value: &str) -> &str {
    match value.to_ascii_lowercase().as_str() {
        "todo" | "to do" | "to-do" | "deadline" => "task",
        "lunch" | "appointment" | "event" => "meeting",
        "phone call" | "logged call" => "call",
        _ => value,
    }
}

/// Splits a tags cell: `a, b`, `a; b`, Google's `a ::: b`. Google's system groups (`* myContacts`)
/// are left out; other `* ` marks (`* starred`) are dropped from the name.
pub(crate) fn split_tags(value: &str) -> Vec<String> {
    value
        .split(" ::: ")
        .flat_map(|part| part.split([',', ';']))
        .map(str::trim)
        .filter(|tag| !tag.is_empty() && !tag.eq_ignore_ascii_case("* myContacts"))
        .map(|tag| tag.trim_start_matches("* ").trim().to_owned())
        .filter(|tag| !tag.is_empty())
        .collect()
}

/// How a row names a contact: `Jane Doe <jane@x.example>`, `Jane Doe (jane@x.example)`,
/// `jane@x.example` or `Jane Doe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ContactRef {
    /// By email (any of the contact's emails).
    Email(String),
    /// By full name (`First Last`).
    Name(String),
}

pub(crate) fn contact_ref(value: &str) -> ContactRef {
    let value = value.trim();
    let inner = value
        .rsplit_once(['<', '('])
        .map(|(_, rest)| rest.trim_end_matches(['>', ')']).trim());
    match inner {
        Some(email) if email.contains('@') => ContactRef::Email(email.to_owned()),
        _ if value.contains('@') && !value.contains(' ') => ContactRef::Email(value.to_owned()),
        _ => ContactRef::Name(value.to_owned()),
    }
}

/// Joins two lists keeping the first one's order and adding the second one's new items, equal
/// by `key` (emails ignore case; phones compare their digits).
pub(crate) fn union(
    existing: &[String],
    new: &[String],
    key: impl Fn(&str) -> String,
) -> Vec<String> {
    let mut merged: Vec<String> = Vec::with_capacity(existing.len() + new.len());
    let mut keys: Vec<String> = Vec::with_capacity(existing.len() + new.len());
    for item in existing.iter().chain(new) {
        let item_key = key(item);
        if !keys.contains(&item_key) {
            keys.push(item_key);
            merged.push(item.clone());
        }
    }
    merged
}

/// The comparison key of a list item of `kind`.
pub(crate) fn list_key(kind: Kind) -> fn(&str) -> String {
    match kind {
        Kind::Phones => |phone| phone.chars().filter(char::is_ascii_digit).collect(),
        _ => str::to_lowercase,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_words_become_values_the_parser_reads() {
        assert_eq!(boolean("TRUE"), Some("true"));
        assert_eq!(boolean("NOT_STARTED"), Some("false"));
        assert_eq!(boolean("To do"), Some("false"));
        assert_eq!(boolean("Completed"), Some("true"));
        assert_eq!(amount("$12,500.00"), "12,500.00");
        assert_eq!(amount("USD 900"), "900");
        assert_eq!(percentage("0.2"), "20");
        assert_eq!(percentage("75%"), "75");
        assert_eq!(percentage("40.0"), "40");
        assert_eq!(company_size("250"), Some("201-1000"));
        assert_eq!(activity_kind("TODO"), "task");
        assert_eq!(activity_kind("Call"), "Call");
        assert_eq!(
            extension_marks("+44 113 496 0001 ext. 12"),
            "+44 113 496 0001 x 12"
        );
        assert_eq!(extension_marks("Ext 7"), "x 7");
    }

    #[test]
    fn tags_split_on_every_separator_exports_use() {
        assert_eq!(
            split_tags("* myContacts ::: Friends ::: * starred"),
            vec!["Friends", "starred"]
        );
        assert_eq!(
            split_tags("VIP, Hot lead; Partner"),
            vec!["VIP", "Hot lead", "Partner"]
        );
    }

    #[test]
    fn contacts_are_named_by_email_when_one_is_given() {
        assert_eq!(
            contact_ref("Ada Quill <ada@x.example>"),
            ContactRef::Email("ada@x.example".into())
        );
        assert_eq!(
            contact_ref("Ada Quill (ada@x.example)"),
            ContactRef::Email("ada@x.example".into())
        );
        assert_eq!(
            contact_ref("ada@x.example"),
            ContactRef::Email("ada@x.example".into())
        );
        assert_eq!(
            contact_ref("Ada Quill"),
            ContactRef::Name("Ada Quill".into())
        );
    }

    #[test]
    fn merged_lists_keep_existing_order_and_add_only_new_items() {
        let existing = vec!["Ada@X.example".to_owned(), "second@x.example".to_owned()];
        let new = vec!["ada@x.example".to_owned(), "third@x.example".to_owned()];
        assert_eq!(
            union(&existing, &new, list_key(Kind::Emails)),
            vec!["Ada@X.example", "second@x.example", "third@x.example"]
        );
        let phones = union(
            &["+1 555 0101".into()],
            &["(1) 555-0101".into(), "+1 555 0102".into()],
            list_key(Kind::Phones),
        );
        assert_eq!(phones, vec!["+1 555 0101", "+1 555 0102"]);
    }
}
