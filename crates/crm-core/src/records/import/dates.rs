//! Dates as other CRMs and address books write them, read into `YYYY-MM-DD`.
//!
//! ISO dates (`1985-12-25`, `19851225`, `1985/12/25`) and month names (`25 Dec 1985`,
//! `December 25, 1985`) say what they mean. Numeric dates with the year last (`12/25/1985`,
//! `25.12.85`) do not: US exports write month/day, UK and most European ones day/month. The
//! order is the one chosen with `--date-order`, or else the one a column's own values settle (a
//! first number above 12 is a day, so is a second one); a column whose values never settle it
//! takes the order the file's other date columns agree on. A value that fits both orders and has
//! no order to go by is rejected with its column named — never guessed. `5/5/1985` reads the
//! same either way and is always accepted.
//!
//! Two-digit years: a birthday goes to the century that does not put it in the future; other
//! dates use the POSIX window (69–99 → 1900s, 00–68 → 2000s).
//!
//! Year-less dates (`--04-15`, `--0415`: Google's CSV and vCard 4.0 birthdays) are kept with the
//! year [`NO_YEAR`], as Apple's address book does, so day and month survive a migration and the
//! vCard export writes them year-less again.

use chrono::{Datelike, NaiveDate, NaiveTime};
use serde::Serialize;

use crate::error::{Error, Result};

/// The year stored for a date that has none (a birthday without its year): 1604, a leap year
/// (so 29 February fits) that no real birthday in a CRM has.
pub const NO_YEAR: i32 = 1604;

/// The order of day, month and year in numeric dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DateOrder {
    /// Day, month, year (`25/12/1985`: UK, most of Europe).
    Dmy,
    /// Month, day, year (`12/25/1985`: US).
    Mdy,
    /// Year, month, day (`85/12/25`; four-digit years first are read this way anyhow).
    Ymd,
}

impl DateOrder {
    /// Parses `dmy`, `mdy` or `ymd`.
    pub fn parse(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "dmy" => Ok(Self::Dmy),
            "mdy" => Ok(Self::Mdy),
            "ymd" => Ok(Self::Ymd),
            _ => Err(Error::Invalid(format!(
                "unknown date order {text:?}; use dmy, mdy or ymd"
            ))),
        }
    }

    /// `dmy`, `mdy` or `ymd`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dmy => "dmy",
            Self::Mdy => "mdy",
            Self::Ymd => "ymd",
        }
    }
}

/// How a two-digit year is given its century.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Century {
    /// The latest century that does not put the date in the future (birthdays).
    NotFuture,
    /// 69–99 → 1900s, 00–68 → 2000s.
    Posix,
}

/// What one value tells about the day/month order of its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Evidence {
    /// Its first number can only be a day.
    DayFirst,
    /// Its second number can only be a day.
    MonthFirst,
    /// Both numbers could be the month.
    Either,
    /// Nothing to decide (ISO, month names, equal numbers, not a date).
    Neutral,
}

/// The numeric part of a value before any time (`25/12/1985 14:30` → `25/12/1985`).
fn date_part(text: &str) -> &str {
    let text = text.trim();
    let cut = text.find([' ', 'T']).unwrap_or(text.len());
    &text[..cut]
}

/// Three groups of digits separated by `/`, `.` or `-`.
fn numeric(text: &str) -> Option<[&str; 3]> {
    let mut parts = text.split(['/', '.', '-']);
    let found = [parts.next()?, parts.next()?, parts.next()?];
    let digits = |part: &&str| {
        !part.is_empty() && part.len() <= 4 && part.bytes().all(|b| b.is_ascii_digit())
    };
    (parts.next().is_none() && found.iter().all(digits)).then_some(found)
}

fn number(text: &str) -> u32 {
    text.parse().unwrap_or(0)
}

/// What `value` says about the order of its column.
pub(crate) fn evidence(value: &str) -> Evidence {
    let Some([first, second, third]) = numeric(date_part(value)) else {
        return Evidence::Neutral;
    };
    if first.len() > 2 || third.len() == 3 {
        return Evidence::Neutral;
    }
    let (a, b) = (number(first), number(second));
    match (a > 12, b > 12) {
        _ if a == b || a == 0 || b == 0 => Evidence::Neutral,
        (true, false) => Evidence::DayFirst,
        (false, true) => Evidence::MonthFirst,
        (false, false) => Evidence::Either,
        (true, true) => Evidence::Neutral,
    }
}

/// Evidence gathered over one column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ColumnEvidence {
    day_first: bool,
    month_first: bool,
    either: bool,
}

impl ColumnEvidence {
    pub(crate) fn add(&mut self, value: &str) {
        match evidence(value) {
            Evidence::DayFirst => self.day_first = true,
            Evidence::MonthFirst => self.month_first = true,
            Evidence::Either => self.either = true,
            Evidence::Neutral => {}
        }
    }

    /// The order this column's values settle, if they settle one.
    fn settled(self) -> Option<DateOrder> {
        match (self.day_first, self.month_first) {
            (true, false) => Some(DateOrder::Dmy),
            (false, true) => Some(DateOrder::Mdy),
            _ => None,
        }
    }
}

/// How the order of one date column was decided, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DateColumn {
    /// The CSV header.
    pub column: String,
    /// The order applied to its day/month dates; `None` when undecided (its ambiguous values are
    /// rejected).
    pub order: Option<DateOrder>,
    /// `chosen` (--date-order), `detected` (this column's values), `from other columns`,
    /// `not needed` (no value fits both orders), `ambiguous` (values fit both orders and nothing
    /// settles it) or `conflicting` (some values are day-first, others month-first).
    pub decided_by: String,
}

impl DateColumn {
    /// A sentence for people when the column needs attention, else `None`.
    pub fn notice(&self) -> Option<String> {
        match self.decided_by.as_str() {
            "ambiguous" => Some(format!(
                "column {:?}: its dates fit both day/month and month/day and nothing in the file tells which; those rows are rejected: choose the date order, day/month (dmy) or month/day (mdy)",
                self.column
            )),
            "conflicting" => Some(format!(
                "column {:?}: some dates are day/month and others month/day; rows whose date fits neither one order are rejected: check the column, or choose the date order",
                self.column
            )),
            _ => None,
        }
    }
}

/// Decides each date column's order from the chosen order or the evidence of all columns.
pub(crate) fn decide(
    columns: &[(String, ColumnEvidence)],
    chosen: Option<DateOrder>,
) -> Vec<DateColumn> {
    let settled: Vec<DateOrder> = columns
        .iter()
        .filter_map(|(_, evidence)| evidence.settled())
        .collect();
    let file_order = match settled.split_first() {
        Some((first, rest)) if rest.iter().all(|order| order == first) => Some(*first),
        _ => None,
    };
    columns
        .iter()
        .map(|(column, evidence)| {
            let (order, decided_by) = if let Some(order) = chosen {
                (Some(order), "chosen")
            } else if let Some(order) = evidence.settled() {
                (Some(order), "detected")
            } else if evidence.day_first && evidence.month_first {
                (None, "conflicting")
            } else if !evidence.either {
                (file_order, "not needed")
            } else if let Some(order) = file_order {
                (Some(order), "from other columns")
            } else {
                (None, "ambiguous")
            };
            DateColumn {
                column: column.clone(),
                order,
                decided_by: decided_by.into(),
            }
        })
        .collect()
}

fn full_year(digits: &str, century: Century, month: u32, day: u32) -> Option<i32> {
    let year: i32 = digits.parse().ok()?;
    if digits.len() > 2 {
        return Some(year);
    }
    match century {
        Century::Posix => Some(if year < 69 { 2000 + year } else { 1900 + year }),
        Century::NotFuture => {
            let today = chrono::Utc::now().date_naive();
            let recent = 2000 + year;
            let in_future =
                NaiveDate::from_ymd_opt(recent, month, day).is_none_or(|date| date > today);
            Some(if in_future { recent - 100 } else { recent })
        }
    }
}

const NAMED_MONTH_FORMATS: &[&str] = &[
    "%d %B %Y",
    "%d %B, %Y",
    "%B %d, %Y",
    "%B %d %Y",
    "%d-%B-%Y",
    "%A, %B %d, %Y",
];

/// Reads one date. `Ok(None)` is "no date" (an empty cell, Outlook's `0/0/00`); `Err` carries
/// the reason for the row report (never the value).
pub(crate) fn parse_date(
    text: &str,
    order: Option<DateOrder>,
    century: Century,
) -> std::result::Result<Option<NaiveDate>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Some(rest) = text.strip_prefix("--") {
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        let valid_shape = digits.len() == 4 && rest.chars().all(|c| c.is_ascii_digit() || c == '-');
        return match (valid_shape, digits.get(..2), digits.get(2..)) {
            (true, Some(month), Some(day)) => {
                NaiveDate::from_ymd_opt(NO_YEAR, number(month), number(day))
                    .map(Some)
                    .ok_or_else(|| "is not a valid day and month".into())
            }
            _ => Err("is not a date (a year-less date is --MM-DD)".into()),
        };
    }
    if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDate::parse_from_str(text, "%Y%m%d")
            .map(Some)
            .map_err(|_| "is not a valid date".into());
    }
    if let Some([first, second, third]) = numeric(text) {
        if [first, second, third].iter().all(|part| number(part) == 0) {
            return Ok(None);
        }
        return numeric_date([first, second, third], order, century);
    }
    for format in NAMED_MONTH_FORMATS {
        // `%Y` reads any number of digits: a two-digit year is left to the branch below.
        if let Ok(date) = NaiveDate::parse_from_str(text, format)
            && date.year() >= 1000
        {
            return Ok(Some(date));
        }
    }
    // Excel's `25-Dec-85`: a two-digit year after a month name.
    if let Some((head, year)) = text.rsplit_once(['-', ' '])
        && year.len() == 2
        && let Ok(date) = NaiveDate::parse_from_str(&format!("{head}-2000"), "%d-%B-%Y")
        && let Some(full) = full_year(year, century, date.month(), date.day())
    {
        return NaiveDate::from_ymd_opt(full, date.month(), date.day())
            .map(Some)
            .ok_or_else(|| "is not a valid date".into());
    }
    Err("is not a date (e.g. 1985-12-25, 25/12/1985 or 12/25/1985)".into())
}

fn numeric_date(
    [first, second, third]: [&str; 3],
    order: Option<DateOrder>,
    century: Century,
) -> std::result::Result<Option<NaiveDate>, String> {
    let invalid = || "is not a valid date".to_owned();
    let build = |year: &str, month: u32, day: u32| {
        full_year(year, century, month, day)
            .and_then(|year| NaiveDate::from_ymd_opt(year, month, day))
            .map(Some)
            .ok_or_else(invalid)
    };
    if first.len() > 2 || (order == Some(DateOrder::Ymd) && third.len() <= 2) {
        // Year first: 1985/12/25, or 85/12/25 when the file is year-first.
        return build(first, number(second), number(third));
    }
    if third.len() == 3 {
        return Err(invalid());
    }
    let (a, b) = (number(first), number(second));
    let day_first = match order {
        Some(DateOrder::Dmy) => {
            if b > 12 {
                return Err("is not a day/month/year date (the file's order)".into());
            }
            true
        }
        Some(DateOrder::Mdy) => {
            if a > 12 {
                return Err("is not a month/day/year date (the file's order)".into());
            }
            false
        }
        Some(DateOrder::Ymd) => {
            return Err("is not a year/month/day date (the file's order)".into());
        }
        None if a == b || a > 12 => true,
        None if b > 12 => false,
        None => {
            return Err(
                "fits both day/month and month/day: choose the date order, dmy or mdy".into(),
            );
        }
    };
    let (day, month) = if day_first { (a, b) } else { (b, a) };
    build(third, month, day)
}

/// Reads a date and an optional time after it (`3/15/2024 2:30 PM`, `2024-03-15 14:30`) into
/// RFC 3339; RFC 3339 text passes unchanged. Times are taken as written (no zone conversion).
pub(crate) fn parse_date_time(
    text: &str,
    order: Option<DateOrder>,
) -> std::result::Result<Option<String>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if chrono::DateTime::parse_from_rfc3339(text).is_ok() {
        return Ok(Some(text.to_owned()));
    }
    let (date_text, time_text) = match text.find([' ', 'T']) {
        Some(cut) => (&text[..cut], text[cut + 1..].trim()),
        None => (text, ""),
    };
    let Some(date) = parse_date(date_text, order, Century::Posix)? else {
        return Ok(None);
    };
    if time_text.is_empty() {
        return Ok(Some(date.to_string()));
    }
    let time_text = time_text.trim_end_matches('Z');
    let time = [
        "%H:%M:%S",
        "%H:%M",
        "%I:%M %p",
        "%I:%M:%S %p",
        "%I:%M%p",
        "%H:%M:%S%.f",
    ]
    .iter()
    .find_map(|format| NaiveTime::parse_from_str(time_text, format).ok())
    .ok_or_else(|| "has a time that is not HH:MM".to_owned())?;
    Ok(Some(format!("{date}T{}Z", time.format("%H:%M:%S"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str, order: Option<DateOrder>) -> std::result::Result<Option<String>, String> {
        parse_date(text, order, Century::NotFuture).map(|date| date.map(|d| d.to_string()))
    }

    #[test]
    fn unambiguous_forms_need_no_order() {
        for (text, expected) in [
            ("1985-12-25", "1985-12-25"),
            ("19851225", "1985-12-25"),
            ("1985/12/25", "1985-12-25"),
            ("25/12/1985", "1985-12-25"),
            ("12/25/1985", "1985-12-25"),
            ("25.12.1985", "1985-12-25"),
            ("5/5/1985", "1985-05-05"),
            ("25 December 1985", "1985-12-25"),
            ("Dec 25, 1985", "1985-12-25"),
            ("25-Dec-85", "1985-12-25"),
        ] {
            assert_eq!(date(text, None), Ok(Some(expected.into())), "{text}");
        }
        assert_eq!(date("0/0/00", None), Ok(None));
    }

    #[test]
    fn an_ambiguous_date_is_refused_without_an_order_and_read_with_one() {
        assert!(date("3/4/1985", None).is_err_and(|why| why.contains("choose the date order")));
        assert_eq!(
            date("3/4/1985", Some(DateOrder::Dmy)),
            Ok(Some("1985-04-03".into()))
        );
        assert_eq!(
            date("3/4/1985", Some(DateOrder::Mdy)),
            Ok(Some("1985-03-04".into()))
        );
        assert!(date("25/12/1985", Some(DateOrder::Mdy)).is_err());
        assert_eq!(
            date("85/12/25", Some(DateOrder::Ymd)),
            Ok(Some("1985-12-25".into()))
        );
    }

    #[test]
    fn two_digit_birthdays_are_never_in_the_future() {
        let this_year = chrono::Utc::now().year() % 100;
        let next = format!("1/1/{:02}", (this_year + 1) % 100);
        let born = date(&next, Some(DateOrder::Dmy))
            .expect("date")
            .expect("some");
        assert!(born.starts_with("19"), "{born}");
        assert_eq!(date("25/12/85", None), Ok(Some("1985-12-25".into())));
        assert_eq!(
            parse_date("1/2/30", Some(DateOrder::Dmy), Century::Posix).map(|d| d.map(|d| d.year())),
            Ok(Some(2030))
        );
    }

    #[test]
    fn year_less_dates_keep_day_and_month() {
        assert_eq!(date("--04-15", None), Ok(Some("1604-04-15".into())));
        assert_eq!(date("--0229", None), Ok(Some("1604-02-29".into())));
        assert!(date("--1331", None).is_err());
    }

    #[test]
    fn the_file_order_comes_from_a_column_that_settles_it() {
        let mut uk = ColumnEvidence::default();
        uk.add("25/12/1985");
        uk.add("3/4/1990");
        let mut unsettled = ColumnEvidence::default();
        unsettled.add("1/2/2024");
        let decided = decide(
            &[("Birthday".into(), uk), ("Anniversary".into(), unsettled)],
            None,
        );
        assert_eq!(decided[0].order, Some(DateOrder::Dmy));
        assert_eq!(decided[0].decided_by, "detected");
        assert_eq!(decided[1].order, Some(DateOrder::Dmy));
        assert_eq!(decided[1].decided_by, "from other columns");
        let alone = decide(&[("Anniversary".into(), unsettled)], None);
        assert_eq!(alone[0].order, None);
        assert!(
            alone[0]
                .notice()
                .is_some_and(|notice| notice.contains("Anniversary"))
        );
        let mut mixed = ColumnEvidence::default();
        mixed.add("25/12/1985");
        mixed.add("12/25/1985");
        assert_eq!(
            decide(&[("B".into(), mixed)], None)[0].decided_by,
            "conflicting"
        );
    }

    #[test]
    fn times_after_a_date_are_kept() {
        assert_eq!(
            parse_date_time("3/15/2024 2:30 PM", None),
            Ok(Some("2024-03-15T14:30:00Z".into()))
        );
        assert_eq!(
            parse_date_time("15.03.2024 14:30", None),
            Ok(Some("2024-03-15T14:30:00Z".into()))
        );
        assert_eq!(
            parse_date_time("2024-03-15T09:00:00Z", None),
            Ok(Some("2024-03-15T09:00:00Z".into()))
        );
        assert_eq!(
            parse_date_time("2024-03-15", None),
            Ok(Some("2024-03-15".into()))
        );
    }
}
