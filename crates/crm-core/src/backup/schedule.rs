//! When scheduled backups are due: the owner's schedule, in local time.
//!
//! A schedule is one of four kinds, written and stored as short text (the stored form is the
//! canonical text, so the owner reads exactly what the vault holds):
//!
//! | text | meaning |
//! |---|---|
//! | `off` | no scheduled backups; `crm backup now` only |
//! | `every 24h` | whenever the newest verified backup is 24 hours old |
//! | `hourly mon-fri 08:00-18:00` | on the hour from 08:00 to 18:00 inclusive, Monday to Friday |
//! | `daily 13:00` | at 13:00 every day (`daily mon-sat 12:30,18:00`: several times, some days) |
//!
//! Times are local wall-clock times of the computer that runs the backup. A backup is due when
//! the latest scheduled moment at or before now is newer than the newest verified backup, so a
//! moment missed while nothing had the vault unlocked is caught up at the next unlock (once,
//! however many moments were missed). On the spring-forward night a time inside the skipped
//! hour runs one hour later (e.g. 02:30 runs at 03:30); in the repeated autumn hour it runs at
//! its first occurrence.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc, Weekday,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest interval an `every Nh` schedule accepts (30 days).
pub const MAX_INTERVAL_HOURS: u32 = 720;
/// Most times a `daily` schedule accepts.
pub const MAX_DAILY_TIMES: usize = 24;

const EXAMPLES: &str = "e.g. \"daily 13:00\", \"daily mon-fri 12:30,18:00\", \"hourly mon-fri 08:00-18:00\", \"every 24h\" or \"off\"";

/// When scheduled backups run. Serialised as its canonical text (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Schedule {
    /// No scheduled backups.
    Off,
    /// A backup whenever the newest verified one is this many hours old.
    Interval {
        /// Hours between verified backups (1 to [`MAX_INTERVAL_HOURS`]).
        hours: u32,
    },
    /// On the hour (counted from `from`) between `from` and `until` inclusive, on `days`.
    Hourly {
        /// The days it runs.
        days: Weekdays,
        /// First run of the day (local time).
        from: NaiveTime,
        /// Last run of the day at the latest (local time); after `from`.
        until: NaiveTime,
    },
    /// At fixed local times on `days`.
    Daily {
        /// The days it runs.
        days: Weekdays,
        /// Times of day, sorted, distinct, at least one.
        at: Vec<NaiveTime>,
    },
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::Interval { hours: 24 }
    }
}

impl Schedule {
    /// `every N h`, or [`Schedule::Off`] for 0 (the CLI's `--every-hours N`).
    pub fn every_hours(hours: u32) -> Result<Self> {
        if hours == 0 {
            return Ok(Schedule::Off);
        }
        let schedule = Schedule::Interval { hours };
        schedule.validate()?;
        Ok(schedule)
    }

    /// The hours of an `every N h` schedule (0 for `off`; `None` for a schedule by the clock).
    pub fn interval_hours(&self) -> Option<u32> {
        match self {
            Schedule::Off => Some(0),
            Schedule::Interval { hours } => Some(*hours),
            Schedule::Hourly { .. } | Schedule::Daily { .. } => None,
        }
    }

    /// Checks the limits a parsed or deserialised schedule must keep.
    pub fn validate(&self) -> Result<()> {
        match self {
            Schedule::Off => Ok(()),
            Schedule::Interval { hours } => {
                if (1..=MAX_INTERVAL_HOURS).contains(hours) {
                    Ok(())
                } else {
                    Err(Error::Invalid(format!(
                        "a backup interval is 1 to {MAX_INTERVAL_HOURS} hours (use \"off\" for none), not {hours}"
                    )))
                }
            }
            Schedule::Hourly { days, from, until } => {
                days.validate()?;
                if from >= until {
                    return Err(Error::Invalid(format!(
                        "hourly backups need a start before the end ({} is not before {})",
                        hhmm(*from),
                        hhmm(*until)
                    )));
                }
                Ok(())
            }
            Schedule::Daily { days, at } => {
                days.validate()?;
                if at.is_empty() || at.len() > MAX_DAILY_TIMES {
                    return Err(Error::Invalid(format!(
                        "daily backups need 1 to {MAX_DAILY_TIMES} times of day"
                    )));
                }
                if at.windows(2).any(|pair| pair[0] >= pair[1]) {
                    return Err(Error::Invalid(
                        "daily backup times must be distinct and in order".into(),
                    ));
                }
                Ok(())
            }
        }
    }

    /// The schedule in words, for people.
    pub fn describe(&self) -> String {
        match self {
            Schedule::Off => "off: backups are made only on demand".into(),
            Schedule::Interval { hours: 1 } => "every hour after the newest verified backup".into(),
            Schedule::Interval { hours } => {
                format!("every {hours} hours after the newest verified backup")
            }
            Schedule::Hourly { days, from, until } => format!(
                "every hour from {} to {}, {} (local time)",
                hhmm(*from),
                hhmm(*until),
                days.describe()
            ),
            Schedule::Daily { days, at } => {
                let times: Vec<String> = at.iter().map(|time| hhmm(*time)).collect();
                format!(
                    "at {}, {} (local time)",
                    join_words(&times),
                    days.describe()
                )
            }
        }
    }

    /// Local times of the scheduled runs on `date` (none for the interval kinds).
    fn times_on(&self, date: NaiveDate) -> Vec<NaiveTime> {
        match self {
            Schedule::Off | Schedule::Interval { .. } => Vec::new(),
            Schedule::Hourly { days, from, until } => {
                if !days.contains(date.weekday()) {
                    return Vec::new();
                }
                let mut times = Vec::new();
                let mut time = *from;
                while time <= *until {
                    times.push(time);
                    let (next, wrapped) = time.overflowing_add_signed(Duration::hours(1));
                    if wrapped != 0 {
                        break;
                    }
                    time = next;
                }
                times
            }
            Schedule::Daily { days, at } => {
                if days.contains(date.weekday()) {
                    at.clone()
                } else {
                    Vec::new()
                }
            }
        }
    }

    /// The latest scheduled moment at or before `now` (schedules by the clock only).
    pub fn previous_run<Tz: TimeZone>(
        &self,
        now: DateTime<Utc>,
        zone: &Tz,
    ) -> Option<DateTime<Utc>> {
        let today = now.with_timezone(zone).date_naive();
        // Every schedule by the clock runs at least once a week.
        for back in 0..=8 {
            let date = today - Duration::days(back);
            for time in self.times_on(date).into_iter().rev() {
                let at = resolve(zone, date, time);
                if at <= now {
                    return Some(at);
                }
            }
        }
        None
    }

    /// The first scheduled moment after `now` (schedules by the clock only).
    pub fn following_run<Tz: TimeZone>(
        &self,
        now: DateTime<Utc>,
        zone: &Tz,
    ) -> Option<DateTime<Utc>> {
        let today = now.with_timezone(zone).date_naive();
        for ahead in 0..=8 {
            let date = today + Duration::days(ahead);
            for time in self.times_on(date) {
                let at = resolve(zone, date, time);
                if at > now {
                    return Some(at);
                }
            }
        }
        None
    }

    /// Since when a backup has been due, given the creation time of the newest verified
    /// backup (`None`: there is none, so one has been due since ever); `None` when nothing is
    /// due at `now`.
    pub fn due_since<Tz: TimeZone>(
        &self,
        newest_verified: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        zone: &Tz,
    ) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Off => None,
            Schedule::Interval { hours } => match newest_verified {
                None => Some(DateTime::UNIX_EPOCH),
                Some(newest) => {
                    let due = newest + Duration::hours(i64::from(*hours));
                    (due <= now).then_some(due)
                }
            },
            Schedule::Hourly { .. } | Schedule::Daily { .. } => match newest_verified {
                None => Some(DateTime::UNIX_EPOCH),
                Some(newest) => self
                    .previous_run(now, zone)
                    .filter(|moment| *moment > newest),
            },
        }
    }

    /// When the next scheduled backup will run: `now` if one is due, else the next moment
    /// (`None` when the schedule is off).
    pub fn next_run<Tz: TimeZone>(
        &self,
        newest_verified: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        zone: &Tz,
    ) -> Option<DateTime<Utc>> {
        if self.due_since(newest_verified, now, zone).is_some() {
            return Some(now);
        }
        match self {
            Schedule::Off => None,
            Schedule::Interval { hours } => {
                newest_verified.map(|newest| newest + Duration::hours(i64::from(*hours)))
            }
            Schedule::Hourly { .. } | Schedule::Daily { .. } => self.following_run(now, zone),
        }
    }
}

/// The instant a local date and time names: the first of two in the repeated autumn hour, an
/// hour later in the skipped spring hour.
fn resolve<Tz: TimeZone>(zone: &Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let local = date.and_time(time);
    match zone.from_local_datetime(&local).earliest() {
        Some(at) => at.with_timezone(&Utc),
        None => {
            let later = local + Duration::hours(1);
            match zone.from_local_datetime(&later).earliest() {
                Some(at) => at.with_timezone(&Utc),
                // No zone skips two hours; fall back to reading the time as UTC.
                None => Utc.from_utc_datetime(&local),
            }
        }
    }
}

impl fmt::Display for Schedule {
    /// The canonical text, which [`Schedule::from_str`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = |days: &Weekdays| {
            if *days == Weekdays::ALL {
                String::new()
            } else {
                format!("{days} ")
            }
        };
        match self {
            Schedule::Off => f.write_str("off"),
            Schedule::Interval { hours } => write!(f, "every {hours}h"),
            Schedule::Hourly {
                days: weekdays,
                from,
                until,
            } => write!(
                f,
                "hourly {}{}-{}",
                days(weekdays),
                hhmm(*from),
                hhmm(*until)
            ),
            Schedule::Daily { days: weekdays, at } => {
                let times: Vec<String> = at.iter().map(|time| hhmm(*time)).collect();
                write!(f, "daily {}{}", days(weekdays), times.join(","))
            }
        }
    }
}

impl FromStr for Schedule {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let lowered = text.trim().to_ascii_lowercase();
        let words: Vec<&str> = lowered.split_whitespace().collect();
        let unknown = || {
            Error::Invalid(format!(
                "not a backup schedule: {:?} ({EXAMPLES})",
                text.trim()
            ))
        };
        let schedule = match words.as_slice() {
            ["off" | "none" | "manual"] => Schedule::Off,
            ["every", amount] => Schedule::Interval {
                hours: parse_hours(amount.strip_suffix('h').ok_or_else(unknown)?)?,
            },
            ["every", amount, "h" | "hour" | "hours"] => Schedule::Interval {
                hours: parse_hours(amount)?,
            },
            ["hourly", rest @ ..] => {
                let (days, window) = split_days(rest).ok_or_else(unknown)?;
                let (from, until) = window.split_once('-').ok_or_else(|| {
                    Error::Invalid(format!(
                        "hourly backups need a window such as 08:00-18:00, not {window:?}"
                    ))
                })?;
                Schedule::Hourly {
                    days,
                    from: parse_time(from)?,
                    until: parse_time(until)?,
                }
            }
            ["daily", rest @ ..] => {
                let (days, times) = split_days(rest).ok_or_else(unknown)?;
                let mut at = times
                    .split(',')
                    .filter(|part| !part.is_empty())
                    .map(parse_time)
                    .collect::<Result<Vec<_>>>()?;
                at.sort();
                let count = at.len();
                at.dedup();
                if at.len() != count {
                    return Err(Error::Invalid(format!(
                        "a backup time is given twice in {times:?}"
                    )));
                }
                Schedule::Daily { days, at }
            }
            _ => return Err(unknown()),
        };
        schedule.validate()?;
        Ok(schedule)
    }
}

impl TryFrom<String> for Schedule {
    type Error = Error;

    fn try_from(text: String) -> Result<Self> {
        text.parse()
    }
}

impl From<Schedule> for String {
    fn from(schedule: Schedule) -> Self {
        schedule.to_string()
    }
}

/// `[DAYS] VALUE` after the kind: the days are optional (every day by default).
fn split_days(rest: &[&str]) -> Option<(Weekdays, String)> {
    match rest {
        [value] => Some((Weekdays::ALL, (*value).to_owned())),
        [days, value] => Weekdays::from_str(days)
            .ok()
            .map(|days| (days, (*value).to_owned())),
        _ => None,
    }
}

fn parse_hours(text: &str) -> Result<u32> {
    let hours: u32 = text
        .parse()
        .map_err(|_| Error::Invalid(format!("{text:?} is not a number of hours ({EXAMPLES})")))?;
    if hours == 0 {
        return Err(Error::Invalid(
            "an interval of 0 hours: use \"off\" for no scheduled backups".into(),
        ));
    }
    Ok(hours)
}

/// `H:MM` or `HH:MM`, 00:00 to 23:59.
fn parse_time(text: &str) -> Result<NaiveTime> {
    let invalid = || {
        Error::Invalid(format!(
            "{text:?} is not a time of day (HH:MM, 00:00 to 23:59)"
        ))
    };
    let (hours, minutes) = text.split_once(':').ok_or_else(invalid)?;
    if hours.is_empty() || hours.len() > 2 || minutes.len() != 2 {
        return Err(invalid());
    }
    let hours: u32 = hours.parse().map_err(|_| invalid())?;
    let minutes: u32 = minutes.parse().map_err(|_| invalid())?;
    NaiveTime::from_hms_opt(hours, minutes, 0).ok_or_else(invalid)
}

fn hhmm(time: NaiveTime) -> String {
    format!("{:02}:{:02}", time.hour(), time.minute())
}

/// "a", "a and b", "a, b and c".
fn join_words(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// A set of days of the week. Text: `mon-fri`, `mon,wed,fri`, `sat-sun`, `weekdays`,
/// `weekends`, `every-day`; a range may wrap (`fri-mon`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Weekdays(u8);

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_WORDS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

impl Weekdays {
    /// Every day.
    pub const ALL: Weekdays = Weekdays(0b111_1111);
    /// Monday to Friday.
    pub const MONDAY_TO_FRIDAY: Weekdays = Weekdays(0b001_1111);

    /// Whether `day` is in the set.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    fn validate(self) -> Result<()> {
        if self.0 == 0 || self.0 & !Self::ALL.0 != 0 {
            return Err(Error::Invalid("a schedule needs at least one day".into()));
        }
        Ok(())
    }

    /// Maximal runs of consecutive days, Monday first (no wrap), as (first, last) indexes.
    fn runs(self) -> Vec<(usize, usize)> {
        let mut runs = Vec::new();
        let mut index = 0;
        while index < 7 {
            if self.0 & (1 << index) == 0 {
                index += 1;
                continue;
            }
            let start = index;
            while index + 1 < 7 && self.0 & (1 << (index + 1)) != 0 {
                index += 1;
            }
            runs.push((start, index));
            index += 1;
        }
        runs
    }

    fn describe(self) -> String {
        if self == Self::ALL {
            return "every day".into();
        }
        let parts: Vec<String> = self
            .runs()
            .into_iter()
            .map(|(first, last)| match last - first {
                0 => DAY_WORDS[first].to_owned(),
                1 => format!("{} and {}", DAY_WORDS[first], DAY_WORDS[last]),
                _ => format!("{} to {}", DAY_WORDS[first], DAY_WORDS[last]),
            })
            .collect();
        join_words(&parts)
    }
}

impl fmt::Display for Weekdays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .runs()
            .into_iter()
            .flat_map(|(first, last)| match last - first {
                0 => vec![DAY_NAMES[first].to_owned()],
                1 => vec![DAY_NAMES[first].to_owned(), DAY_NAMES[last].to_owned()],
                _ => vec![format!("{}-{}", DAY_NAMES[first], DAY_NAMES[last])],
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl FromStr for Weekdays {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let day = |name: &str| {
            DAY_NAMES
                .iter()
                .position(|known| *known == name)
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "{name:?} is not a day (mon, tue, wed, thu, fri, sat, sun)"
                    ))
                })
        };
        let mut bits = 0u8;
        for part in text.to_ascii_lowercase().split(',') {
            match part {
                "every-day" | "daily" => bits |= Self::ALL.0,
                "weekdays" => bits |= Self::MONDAY_TO_FRIDAY.0,
                "weekends" => bits |= 0b110_0000,
                _ => match part.split_once('-') {
                    Some((first, last)) => {
                        let (first, last) = (day(first)?, day(last)?);
                        let mut index = first;
                        loop {
                            bits |= 1 << index;
                            if index == last {
                                break;
                            }
                            index = (index + 1) % 7;
                        }
                    }
                    None => bits |= 1 << day(part)?,
                },
            }
        }
        let days = Weekdays(bits);
        days.validate()?;
        Ok(days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, LocalResult, NaiveDateTime};
    use proptest::prelude::*;

    fn parse(text: &str) -> Schedule {
        text.parse()
            .unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|at| at.with_timezone(&Utc))
            .unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    fn plus_two() -> FixedOffset {
        FixedOffset::east_opt(2 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("utc"))
    }

    #[test]
    fn the_issue_examples_parse_describe_and_print_back() {
        let office = parse("hourly mon-fri 08:00-18:00");
        assert_eq!(
            office,
            Schedule::Hourly {
                days: Weekdays::MONDAY_TO_FRIDAY,
                from: NaiveTime::from_hms_opt(8, 0, 0).expect("time"),
                until: NaiveTime::from_hms_opt(18, 0, 0).expect("time"),
            }
        );
        assert_eq!(office.to_string(), "hourly mon-fri 08:00-18:00");
        assert_eq!(
            office.describe(),
            "every hour from 08:00 to 18:00, Monday to Friday (local time)"
        );
        let lunch = parse("Daily 13:00");
        assert_eq!(lunch.to_string(), "daily 13:00");
        assert_eq!(lunch.describe(), "at 13:00, every day (local time)");
        assert_eq!(parse("every 24 hours").to_string(), "every 24h");
        assert_eq!(parse("off"), Schedule::Off);
        assert_eq!(
            parse("daily mon,wed,fri 18:00,7:30").to_string(),
            "daily mon,wed,fri 07:30,18:00"
        );
        assert_eq!(
            parse("daily weekends 10:00").describe(),
            "at 10:00, Saturday and Sunday (local time)"
        );
        assert_eq!(
            parse("hourly fri-mon 09:00-12:00").to_string(),
            "hourly mon,fri-sun 09:00-12:00"
        );
    }

    #[test]
    fn bad_schedules_are_refused_with_a_reason() {
        for (text, says) in [
            ("sometimes", "not a backup schedule"),
            ("every 0h", "off"),
            ("every 9999h", "1 to 720 hours"),
            ("every lots", "not a backup schedule"),
            ("hourly 18:00-08:00", "start before the end"),
            ("hourly mon-fri 08:00", "window"),
            ("daily 25:00", "not a time of day"),
            ("daily 13:00,13:00", "twice"),
            ("daily funday 13:00", "not a backup schedule"),
            ("daily mon-fri", "not a time of day"),
        ] {
            let error = text
                .parse::<Schedule>()
                .err()
                .map(|error| error.to_string());
            assert!(
                error
                    .as_deref()
                    .is_some_and(|message| message.contains(says)),
                "{text}: {error:?}"
            );
        }
    }

    #[test]
    fn a_stored_schedule_is_its_canonical_text_and_bad_stored_text_is_refused() {
        let json = serde_json::to_string(&parse("hourly mon-fri 8:00-18:00")).expect("json");
        assert_eq!(json, "\"hourly mon-fri 08:00-18:00\"");
        assert!(serde_json::from_str::<Schedule>("\"hourly 18:00-08:00\"").is_err());
    }

    #[test]
    fn office_hours_are_due_on_the_hour_on_weekdays_only() {
        let office = parse("hourly mon-fri 08:00-18:00");
        let zone = plus_two();
        // Wednesday 2026-03-04, 10:20 local (08:20 UTC): the 10:00 run is the latest.
        let now = utc("2026-03-04T08:20:00Z");
        assert_eq!(
            office.previous_run(now, &zone),
            Some(utc("2026-03-04T08:00:00Z"))
        );
        assert_eq!(
            office.following_run(now, &zone),
            Some(utc("2026-03-04T09:00:00Z"))
        );
        // A backup made at 10:05 local covers the 10:00 run.
        assert_eq!(
            office.due_since(Some(utc("2026-03-04T08:05:00Z")), now, &zone),
            None
        );
        // One made at 09:59 local does not.
        assert_eq!(
            office.due_since(Some(utc("2026-03-04T07:59:00Z")), now, &zone),
            Some(utc("2026-03-04T08:00:00Z"))
        );
        // Saturday 11:00 local: the last run was Friday 18:00; after a Friday 18:00 backup
        // nothing is due, and the next run is Monday 08:00.
        let saturday = utc("2026-03-07T09:00:00Z");
        assert_eq!(
            office.previous_run(saturday, &zone),
            Some(utc("2026-03-06T16:00:00Z"))
        );
        assert_eq!(
            office.next_run(Some(utc("2026-03-06T16:00:30Z")), saturday, &zone),
            Some(utc("2026-03-09T06:00:00Z"))
        );
        // The 18:00 run is inclusive: at 18:30 on a weekday the 18:00 run is the latest.
        assert_eq!(
            office.previous_run(utc("2026-03-04T16:30:00Z"), &zone),
            Some(utc("2026-03-04T16:00:00Z"))
        );
    }

    #[test]
    fn a_missed_daily_run_is_due_once_at_the_next_unlock() {
        let lunch = parse("daily 13:00");
        let zone = plus_two();
        // Last verified backup three days ago; the computer was off since.
        let newest = Some(utc("2026-03-01T11:00:10Z"));
        let now = utc("2026-03-04T09:00:00Z"); // 11:00 local, before today's 13:00
        assert_eq!(
            lunch.due_since(newest, now, &zone),
            Some(utc("2026-03-03T11:00:00Z")),
            "yesterday's 13:00 was missed"
        );
        assert_eq!(lunch.next_run(newest, now, &zone), Some(now));
        // Once caught up (a backup at 11:00 local today), nothing until 13:00 today.
        let caught_up = Some(now);
        let later = now + Duration::minutes(30);
        assert_eq!(lunch.due_since(caught_up, later, &zone), None);
        assert_eq!(
            lunch.next_run(caught_up, later, &zone),
            Some(utc("2026-03-04T11:00:00Z"))
        );
    }

    #[test]
    fn an_interval_counts_from_the_newest_verified_backup() {
        let every = parse("every 4h");
        let zone = plus_two();
        let newest = utc("2026-03-04T08:00:00Z");
        assert_eq!(
            every.due_since(Some(newest), utc("2026-03-04T11:59:00Z"), &zone),
            None
        );
        assert_eq!(
            every.due_since(Some(newest), utc("2026-03-04T12:00:00Z"), &zone),
            Some(utc("2026-03-04T12:00:00Z"))
        );
        assert_eq!(
            every.next_run(Some(newest), utc("2026-03-04T09:00:00Z"), &zone),
            Some(utc("2026-03-04T12:00:00Z"))
        );
    }

    #[test]
    fn without_any_verified_backup_every_schedule_but_off_is_due() {
        let now = utc("2026-03-04T08:20:00Z");
        for text in ["every 24h", "daily 13:00", "hourly sat 08:00-09:00"] {
            assert_eq!(
                parse(text).due_since(None, now, &Utc),
                Some(DateTime::UNIX_EPOCH),
                "{text}"
            );
        }
        assert_eq!(Schedule::Off.due_since(None, now, &Utc), None);
        assert_eq!(Schedule::Off.next_run(None, now, &Utc), None);
    }

    /// A zone like Central Europe in 2026: +01:00, +02:00 from 29 March 01:00 UTC to
    /// 25 October 01:00 UTC.
    #[derive(Debug, Clone, Copy)]
    struct Europe;

    fn summer_start() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 3, 29)
            .and_then(|date| date.and_hms_opt(1, 0, 0))
            .expect("date")
    }

    fn summer_end() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 10, 25)
            .and_then(|date| date.and_hms_opt(1, 0, 0))
            .expect("date")
    }

    fn hours(count: i32) -> FixedOffset {
        FixedOffset::east_opt(count * 3600).expect("offset")
    }

    impl TimeZone for Europe {
        type Offset = FixedOffset;

        fn from_offset(_: &FixedOffset) -> Self {
            Europe
        }

        fn offset_from_local_date(&self, local: &NaiveDate) -> LocalResult<FixedOffset> {
            self.offset_from_local_datetime(&local.and_hms_opt(12, 0, 0).expect("noon"))
        }

        fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> LocalResult<FixedOffset> {
            let as_winter = *local - Duration::hours(1);
            let as_summer = *local - Duration::hours(2);
            let winter_fits = self.offset_from_utc_datetime(&as_winter) == hours(1);
            let summer_fits = self.offset_from_utc_datetime(&as_summer) == hours(2);
            match (winter_fits, summer_fits) {
                (true, true) => LocalResult::Ambiguous(hours(2), hours(1)),
                (true, false) => LocalResult::Single(hours(1)),
                (false, true) => LocalResult::Single(hours(2)),
                (false, false) => LocalResult::None,
            }
        }

        fn offset_from_utc_date(&self, utc: &NaiveDate) -> FixedOffset {
            self.offset_from_utc_datetime(&utc.and_hms_opt(12, 0, 0).expect("noon"))
        }

        fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> FixedOffset {
            if *utc >= summer_start() && *utc < summer_end() {
                hours(2)
            } else {
                hours(1)
            }
        }
    }

    #[test]
    fn local_times_follow_summer_time_and_the_skipped_hour_runs_an_hour_later() {
        let lunch = parse("daily 13:00");
        // 13:00 local is 12:00 UTC in winter and 11:00 UTC in summer.
        assert_eq!(
            lunch.previous_run(utc("2026-03-28T20:00:00Z"), &Europe),
            Some(utc("2026-03-28T12:00:00Z"))
        );
        assert_eq!(
            lunch.previous_run(utc("2026-03-29T20:00:00Z"), &Europe),
            Some(utc("2026-03-29T11:00:00Z"))
        );
        // 02:30 does not exist on 29 March: it runs at 03:30 summer time (01:30 UTC).
        let night = parse("daily 02:30");
        assert_eq!(
            night.following_run(utc("2026-03-28T23:00:00Z"), &Europe),
            Some(utc("2026-03-29T01:30:00Z"))
        );
        // 02:30 happens twice on 25 October: it runs at the first (00:30 UTC), once.
        assert_eq!(
            night.following_run(utc("2026-10-24T23:00:00Z"), &Europe),
            Some(utc("2026-10-25T00:30:00Z"))
        );
        assert_eq!(
            night.following_run(utc("2026-10-25T00:30:00Z"), &Europe),
            Some(utc("2026-10-26T01:30:00Z"))
        );
    }

    fn any_schedule() -> impl Strategy<Value = Schedule> {
        let days = (1u8..128).prop_map(Weekdays);
        let time = (0u32..24, 0u32..60)
            .prop_map(|(hour, minute)| NaiveTime::from_hms_opt(hour, minute, 0).expect("time"));
        prop_oneof![
            Just(Schedule::Off),
            (1u32..=MAX_INTERVAL_HOURS).prop_map(|hours| Schedule::Interval { hours }),
            (days.clone(), time.clone(), time.clone())
                .prop_filter("from before until", |(_, from, until)| from < until)
                .prop_map(|(days, from, until)| Schedule::Hourly { days, from, until }),
            (days, proptest::collection::btree_set(time, 1..6)).prop_map(|(days, at)| {
                Schedule::Daily {
                    days,
                    at: at.into_iter().collect(),
                }
            }),
        ]
    }

    proptest! {
        /// The stored text reads back as the same schedule, for every valid schedule.
        #[test]
        fn every_schedule_reads_back_from_its_text(schedule in any_schedule()) {
            let text = schedule.to_string();
            prop_assert_eq!(text.parse::<Schedule>().ok(), Some(schedule));
        }

        /// The previous run is never after now, the following one always after, and nothing
        /// scheduled lies strictly between them.
        #[test]
        fn runs_bracket_now(schedule in any_schedule(), minutes in 0i64..(60 * 24 * 400)) {
            let now = utc("2026-01-01T00:00:00Z") + Duration::minutes(minutes);
            if let (Some(previous), Some(following)) =
                (schedule.previous_run(now, &Europe), schedule.following_run(now, &Europe))
            {
                prop_assert!(previous <= now && now < following);
                let just_after = previous + Duration::seconds(1);
                if just_after < following {
                    prop_assert_eq!(schedule.following_run(just_after, &Europe), Some(following));
                }
                prop_assert!(schedule.due_since(Some(previous), now, &Europe).is_none());
                prop_assert!(schedule.due_since(Some(previous - Duration::seconds(1)), now, &Europe).is_some());
            }
        }
    }
}
