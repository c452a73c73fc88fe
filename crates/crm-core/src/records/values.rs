//! Field values from the outside world, checked and converted for storage: each kind's parsing
//! (emails, phones, dates, money, choices, references), with the display text the audit trail
//! records. Create, update and import all convert through here.

use chrono::Utc;
use rusqlite::types::Value as SqlValue;

use super::*;
use crate::error::{Error, Result};

/// Validated input: each field with its converted value.
pub(crate) type Prepared<'f> = Vec<(&'f EffectiveField, Stored)>;

/// A value converted for storage, with its display text for the audit trail.
pub(crate) struct Stored {
    pub(crate) sql: SqlValue,
    pub(crate) text: Option<String>,
}

pub(crate) fn parse_value(field: &EffectiveField, value: &serde_json::Value) -> Result<Stored> {
    use serde_json::Value as J;
    let bad = |why: &str| Error::Invalid(format!("{}: {why}", field.label));
    if value.is_null() || value.as_str().is_some_and(|text| text.trim().is_empty()) {
        if field.required {
            return Err(bad("is required"));
        }
        return Ok(Stored {
            sql: SqlValue::Null,
            text: None,
        });
    }
    let text = match value {
        J::String(text) => text.trim().to_owned(),
        J::Number(number) => number.to_string(),
        J::Bool(flag) => flag.to_string(),
        J::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| item.to_string())
            })
            .collect::<Vec<_>>()
            .join(", "),
        J::Object(_) | J::Null => return Err(bad("has an unsupported value")),
    };
    let stored = |sql: SqlValue, shown: String| {
        Ok(Stored {
            sql,
            text: Some(shown),
        })
    };
    match field.kind {
        Kind::Text | Kind::LongText => {
            if text.chars().count() > 20_000 {
                return Err(bad("is longer than 20,000 characters"));
            }
            stored(SqlValue::Text(text.clone()), text)
        }
        Kind::Emails => {
            let list = split_list(&text);
            for email in &list {
                if !looks_like_email(email) {
                    return Err(bad("is not an email address (name@domain)"));
                }
            }
            let json = serde_json::to_string(&list).unwrap_or_default();
            stored(SqlValue::Text(json), list.join(", "))
        }
        Kind::Phones => {
            let list = split_list(&text);
            for phone in &list {
                let digits = phone.chars().filter(char::is_ascii_digit).count();
                if !(3..=20).contains(&digits)
                    || phone
                        .chars()
                        .any(|c| !(c.is_ascii_digit() || " +-().x/".contains(c)))
                {
                    return Err(bad("is not a phone number"));
                }
            }
            let json = serde_json::to_string(&list).unwrap_or_default();
            stored(SqlValue::Text(json), list.join(", "))
        }
        Kind::Date => {
            let date = chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                .map_err(|_| bad("is not a date (YYYY-MM-DD)"))?;
            stored(SqlValue::Text(date.to_string()), date.to_string())
        }
        Kind::DateTime => {
            let at = chrono::DateTime::parse_from_rfc3339(&text)
                .map(|at| at.with_timezone(&Utc))
                .or_else(|_| {
                    chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M")
                        .map(|naive| naive.and_utc())
                })
                .or_else(|_| {
                    chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                        .map(|date| date.and_hms_opt(9, 0, 0).unwrap_or_default().and_utc())
                })
                .map_err(|_| bad("is not a date and time (YYYY-MM-DD HH:MM)"))?;
            let shown = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            stored(SqlValue::Text(shown.clone()), shown)
        }
        Kind::Integer => {
            let number: i64 = text.parse().map_err(|_| bad("is not a whole number"))?;
            if field.name == "probability" && !(0..=100).contains(&number) {
                return Err(bad("must be between 0 and 100"));
            }
            stored(SqlValue::Integer(number), number.to_string())
        }
        Kind::Number => {
            let number: f64 = text.parse().map_err(|_| bad("is not a number"))?;
            stored(SqlValue::Real(number), number.to_string())
        }
        Kind::Money => {
            let cents = parse_money(&text).ok_or_else(|| bad("is not an amount (e.g. 1250.00)"))?;
            stored(SqlValue::Integer(cents), format_money(cents))
        }
        Kind::Bool => {
            let flag = match text.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "y" => true,
                "false" | "no" | "0" | "n" => false,
                _ => return Err(bad("must be yes or no")),
            };
            stored(SqlValue::Integer(i64::from(flag)), flag.to_string())
        }
        Kind::Choice => {
            let choice = field
                .choices
                .iter()
                .find(|choice| choice.eq_ignore_ascii_case(&text))
                .ok_or_else(|| bad(&format!("must be one of: {}", field.choices.join(", "))))?;
            stored(SqlValue::Text(choice.clone()), choice.clone())
        }
        Kind::CompanyRef | Kind::ContactRef | Kind::DealRef | Kind::StageRef => {
            let id: i64 = text.parse().map_err(|_| bad("must be a record id"))?;
            stored(SqlValue::Integer(id), id.to_string())
        }
    }
}

pub(crate) fn split_list(text: &str) -> Vec<String> {
    text.split([',', ';', '\n'])
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

pub(crate) fn looks_like_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !text.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// Parses `1250`, `1250.5`, `1,250.50` into cents.
pub fn parse_money(text: &str) -> Option<i64> {
    let cleaned: String = text.chars().filter(|c| *c != ',' && *c != ' ').collect();
    let (whole, fraction) = match cleaned.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (cleaned.as_str(), ""),
    };
    if fraction.len() > 2 || whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let negative = whole.starts_with('-');
    let whole: i64 =
        whole
            .trim_start_matches('-')
            .parse()
            .ok()
            .or(if whole.is_empty() || whole == "-" {
                Some(0)
            } else {
                None
            })?;
    let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
    let cents = whole.checked_mul(100)?.checked_add(fraction)?;
    Some(if negative { -cents } else { cents })
}

/// Formats cents as `1250.00`.
pub fn format_money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}
