//! When a recurring maintenance window is open: a cron expression in a time zone, and a
//! duration from each start.
//!
//! - [`Cron`]: the five fields of crontab (`minute hour day-of-month month day-of-week`) with
//!   `*`, `?`, lists, ranges, steps and names (`JAN`, `MON`); day 0 and 7 are Sunday. As in
//!   cron, when both day fields are restricted a day matching either runs.
//! - [`Zone`]: an IANA time zone by its current rule (the POSIX TZ string at the end of its
//!   tzdata file, table in `zones.txt`, `infra/tools/zones.py`): standard and daylight offsets
//!   and the dates daylight time starts and ends. No history — a window is about now and the
//!   coming months — and 12 KB instead of the 2 MB a whole tz database adds to a binary.
//!
//! As in ISC cron, a start a clock change skips (02:30 on the night clocks go forward) happens at
//! the first minute after the change, and a start the change repeats happens once, the first
//! time.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Timelike, Utc, Weekday};

/// The zones the responder knows, from `zones.txt`.
const ZONES: &str = include_str!("zones.txt");

/// One cron field: the values it allows, as bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    bits: u64,
    /// Written as `*` or `?`: for the two day fields, "not restricted".
    any: bool,
}

impl Field {
    fn has(self, value: u32) -> bool {
        value < 64 && self.bits & (1 << value) != 0
    }
}

/// A five-field cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minute: Field,
    hour: Field,
    day: Field,
    month: Field,
    weekday: Field,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Cron {
    pub fn parse(text: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields.as_slice() else {
            return Err(format!(
                "`{text}` is not a cron expression of five fields (minute hour day-of-month month day-of-week, e.g. \"0 2 * * SUN\")"
            ));
        };
        let mut weekday = field(weekday, "day-of-week", 0, 7, &WEEKDAYS, 0)?;
        if weekday.has(7) {
            weekday.bits |= 1; // 7 is Sunday too
        }
        Ok(Cron {
            text: fields.join(" "),
            minute: field(minute, "minute", 0, 59, &[], 0)?,
            hour: field(hour, "hour", 0, 23, &[], 0)?,
            day: field(day, "day-of-month", 1, 31, &[], 0)?,
            month: field(month, "month", 1, 12, &MONTHS, 1)?,
            weekday,
        })
    }

    /// Whether a local wall-clock minute is one the expression names.
    pub fn matches(&self, local: NaiveDateTime) -> bool {
        if !(self.minute.has(local.minute())
            && self.hour.has(local.hour())
            && self.month.has(local.month()))
        {
            return false;
        }
        let day = self.day.has(local.day());
        let weekday = self.weekday.has(local.weekday().num_days_from_sunday());
        match (self.day.any, self.weekday.any) {
            (true, true) => true,
            (true, false) => weekday,
            (false, true) => day,
            (false, false) => day || weekday,
        }
    }
}

impl std::fmt::Display for Cron {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// One field's values; `names` are accepted for the values from `first_name`.
fn field(
    text: &str,
    what: &str,
    min: u32,
    max: u32,
    names: &[&str],
    first_name: u32,
) -> Result<Field, String> {
    let value = |part: &str| -> Result<u32, String> {
        let upper = part.to_ascii_uppercase();
        if let Some(i) = names.iter().position(|n| *n == upper) {
            return Ok(first_name + i as u32);
        }
        part.parse::<u32>()
            .ok()
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(|| format!("cron {what} `{part}` is not a value from {min} to {max}"))
    };
    if text == "*" || text == "?" {
        return Ok(Field {
            bits: (min..=max).fold(0, |b, v| b | 1 << v),
            any: true,
        });
    }
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (
                range,
                step.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("cron {what} step `{step}` is not a number above 0"))?,
            ),
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (min, max),
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if step > 1 => (value(range)?, max),
                None => (value(range)?, value(range)?),
            },
        };
        if from > to {
            return Err(format!("cron {what} range `{range}` runs backwards"));
        }
        bits |= (from..=to)
            .step_by(step as usize)
            .fold(0, |b, v| b | 1 << v);
    }
    Ok(Field { bits, any: false })
}

/// A time zone's current rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    /// Standard time's offset east of UTC, in seconds.
    std: i32,
    /// Daylight time: its offset and the rules that start and end it (local times).
    dst: Option<(i32, Transition, Transition)>,
}

/// When daylight time starts or ends: a date rule and a local time (seconds, may be negative or
/// past 24 h, as POSIX allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Transition {
    date: DateRule,
    secs: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateRule {
    /// `Jn`: day 1–365, February 29 never counted.
    Julian(u32),
    /// `n`: day 0–365, February 29 counted.
    Ordinal(u32),
    /// `Mm.w.d`: the w-th (5 = last) weekday d (0 = Sunday) of month m.
    Month { month: u32, week: u32, weekday: u32 },
}

impl Zone {
    /// The zone by IANA name (`Europe/Berlin`, `UTC`).
    pub fn named(name: &str) -> Result<Zone, String> {
        let rule = ZONES
            .lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| l.split_once(' ').filter(|(n, _)| *n == name).map(|(_, r)| r))
            .ok_or_else(|| {
                format!("unknown time zone `{name}` (use an IANA name such as Europe/Berlin, America/New_York or UTC)")
            })?;
        let mut zone = Zone::posix(rule).ok_or_else(|| {
            format!("time zone `{name}` has a rule this build cannot read: {rule}")
        })?;
        zone.name = name.to_string();
        Ok(zone)
    }

    /// A POSIX TZ string: `std offset [dst [offset] [,start[/time],end[/time]]]`.
    fn posix(text: &str) -> Option<Zone> {
        let mut rest = text;
        abbreviation(&mut rest)?;
        let std = -offset(&mut rest)?;
        if rest.is_empty() {
            return Some(Zone {
                name: String::new(),
                std,
                dst: None,
            });
        }
        abbreviation(&mut rest)?;
        let dst = if rest.starts_with(',') {
            std + 3600
        } else {
            -offset(&mut rest)?
        };
        let rules = rest.strip_prefix(',')?;
        let (start, end) = rules.split_once(',')?;
        Some(Zone {
            name: String::new(),
            std,
            dst: Some((dst, transition(start)?, transition(end)?)),
        })
    }

    /// The offset east of UTC, in seconds, at an instant.
    pub fn offset_at(&self, at: DateTime<Utc>) -> i32 {
        let Some((dst, start, end)) = self.dst else {
            return self.std;
        };
        let year = (at + Duration::seconds(i64::from(self.std))).year();
        let (Some(starts), Some(ends)) = (start.utc(year, self.std), end.utc(year, dst)) else {
            return self.std;
        };
        let daylight = if starts < ends {
            starts <= at && at < ends
        } else {
            !(ends <= at && at < starts)
        };
        if daylight {
            dst
        } else {
            self.std
        }
    }

    /// The wall-clock time at an instant.
    pub fn local(&self, at: DateTime<Utc>) -> NaiveDateTime {
        (at + Duration::seconds(i64::from(self.offset_at(at)))).naive_utc()
    }
}

impl Transition {
    /// The instant of the transition in `year`, its local time read with `offset` (the offset in
    /// force just before it).
    fn utc(self, year: i32, offset: i32) -> Option<DateTime<Utc>> {
        let date = match self.date {
            DateRule::Julian(n) => {
                // Days 1–365 as if February had 28 days.
                let day = NaiveDate::from_yo_opt(year, n.min(365))?;
                let leap = NaiveDate::from_ymd_opt(year, 2, 29).is_some();
                if leap && n >= 60 {
                    day.succ_opt()?
                } else {
                    day
                }
            }
            DateRule::Ordinal(n) => NaiveDate::from_yo_opt(year, n + 1)?,
            DateRule::Month {
                month,
                week,
                weekday,
            } => {
                let first = NaiveDate::from_ymd_opt(year, month, 1)?;
                let weekday = Weekday::try_from(((weekday + 6) % 7) as u8).ok()?;
                let mut day = first;
                while day.weekday() != weekday {
                    day = day.succ_opt()?;
                }
                let mut nth = day + Duration::weeks(i64::from(week - 1));
                while nth.month() != month {
                    nth -= Duration::weeks(1);
                }
                nth
            }
        };
        let local = date.and_hms_opt(0, 0, 0)? + Duration::seconds(i64::from(self.secs));
        Some((local - Duration::seconds(i64::from(offset))).and_utc())
    }
}

fn abbreviation(rest: &mut &str) -> Option<()> {
    let len = if let Some(quoted) = rest.strip_prefix('<') {
        quoted.find('>')? + 2
    } else {
        rest.find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len())
    };
    (len >= 3).then(|| *rest = &rest[len..])
}

/// `[+-]hh[:mm[:ss]]` in seconds, as written (POSIX: positive is west of UTC).
fn offset(rest: &mut &str) -> Option<i32> {
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '+' | '-' | ':')))
        .unwrap_or(rest.len());
    let secs = clock(&rest[..end])?;
    *rest = &rest[end..];
    Some(secs)
}

fn clock(text: &str) -> Option<i32> {
    let (sign, digits) = match text.as_bytes().first()? {
        b'-' => (-1, &text[1..]),
        b'+' => (1, &text[1..]),
        _ => (1, text),
    };
    let mut secs = 0;
    for (i, part) in digits.split(':').enumerate() {
        let value: i32 = part.parse().ok()?;
        secs += value * [3600, 60, 1].get(i)?;
    }
    Some(sign * secs)
}

fn transition(text: &str) -> Option<Transition> {
    let (date, time) = match text.split_once('/') {
        Some((date, time)) => (date, clock(time)?),
        None => (text, 7200),
    };
    let date = if let Some(n) = date.strip_prefix('J') {
        DateRule::Julian(n.parse().ok().filter(|n| (1..=365).contains(n))?)
    } else if let Some(m) = date.strip_prefix('M') {
        let mut parts = m.split('.').map(|p| p.parse::<u32>().ok());
        let (Some(Some(month)), Some(Some(week)), Some(Some(weekday)), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        if !(1..=12).contains(&month) || !(1..=5).contains(&week) || weekday > 6 {
            return None;
        }
        DateRule::Month {
            month,
            week,
            weekday,
        }
    } else {
        DateRule::Ordinal(date.parse().ok().filter(|n| *n <= 365)?)
    };
    Some(Transition { date, secs: time })
}

/// A recurring window: starts at each minute `cron` names in `zone`, lasts `duration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recurring {
    pub cron: Cron,
    pub zone: Zone,
    pub duration: Duration,
}

impl Recurring {
    /// The occurrence open at `at`, as (start, end); the latest start when occurrences overlap.
    pub fn occurrence_at(&self, at: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let minute = at.with_second(0)?.with_nanosecond(0)?;
        let minutes = self.duration.num_minutes();
        (0..=minutes)
            .map(|back| minute - Duration::minutes(back))
            .filter(|start| *start + self.duration > at)
            .find(|start| self.starts_at(*start))
            .map(|start| (start, start + self.duration))
    }

    /// Whether an occurrence starts at the UTC minute `at`: its local time matches, unless that
    /// local time was already passed once before the clocks went back; or the clocks went
    /// forward just before it over a local minute that matches.
    fn starts_at(&self, at: DateTime<Utc>) -> bool {
        let offset = self.zone.offset_at(at);
        let local = (at + Duration::seconds(i64::from(offset))).naive_utc();
        if self.cron.matches(local) {
            // Daylight shifts are at most two hours: the offset three hours before is the one
            // the clocks went back from, if they did.
            let shift = self.zone.offset_at(at - Duration::hours(3)) - offset;
            let earlier = at - Duration::seconds(i64::from(shift));
            return !(shift > 0 && self.zone.local(earlier) == local);
        }
        let before = self.zone.local(at - Duration::minutes(1));
        let skipped = (local - before).num_minutes() - 1;
        (1..=skipped).any(|m| self.cron.matches(before + Duration::minutes(m)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn cron_fields_take_lists_ranges_steps_and_names() -> Result<(), String> {
        let cron = Cron::parse("*/15 2-4 * JAN,dec MON-FRI")?;
        let at = |s: &str| utc(s).naive_utc();
        assert!(
            cron.matches(at("2026-12-07T03:45:00Z")),
            "a Monday in December"
        );
        assert!(!cron.matches(at("2026-12-06T03:45:00Z")), "a Sunday");
        assert!(
            !cron.matches(at("2026-12-07T03:50:00Z")),
            "not a quarter hour"
        );
        assert!(!cron.matches(at("2026-11-09T03:45:00Z")), "November");
        let sunday = Cron::parse("0 2 ? * 7")?;
        assert!(sunday.matches(at("2026-12-06T02:00:00Z")));
        // Both day fields restricted: either day runs.
        let either = Cron::parse("0 0 1 * SUN")?;
        assert!(
            either.matches(at("2026-12-01T00:00:00Z"))
                && either.matches(at("2026-12-06T00:00:00Z"))
        );
        assert!(!either.matches(at("2026-12-02T00:00:00Z")));
        for bad in [
            "0 2 * *",
            "60 * * * *",
            "0 5-2 * * *",
            "0 */0 * * *",
            "0 0 * FOO *",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn zones_follow_their_daylight_rules() -> Result<(), String> {
        let berlin = Zone::named("Europe/Berlin")?;
        assert_eq!(berlin.offset_at(utc("2026-01-15T12:00:00Z")), 3600);
        assert_eq!(berlin.offset_at(utc("2026-07-15T12:00:00Z")), 7200);
        // 2026: CEST from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(berlin.offset_at(utc("2026-03-29T00:59:00Z")), 3600);
        assert_eq!(berlin.offset_at(utc("2026-03-29T01:00:00Z")), 7200);
        assert_eq!(berlin.offset_at(utc("2026-10-25T00:59:00Z")), 7200);
        assert_eq!(berlin.offset_at(utc("2026-10-25T01:00:00Z")), 3600);
        let sydney = Zone::named("Australia/Sydney")?;
        assert_eq!(sydney.offset_at(utc("2026-01-15T00:00:00Z")), 11 * 3600);
        assert_eq!(sydney.offset_at(utc("2026-07-15T00:00:00Z")), 10 * 3600);
        let new_york = Zone::named("America/New_York")?;
        assert_eq!(new_york.offset_at(utc("2026-11-01T05:59:00Z")), -4 * 3600);
        assert_eq!(new_york.offset_at(utc("2026-11-01T06:00:00Z")), -5 * 3600);
        assert_eq!(
            Zone::named("Asia/Kolkata")?.offset_at(utc("2026-07-01T00:00:00Z")),
            19_800
        );
        assert_eq!(
            Zone::named("UTC")?.offset_at(utc("2026-07-01T00:00:00Z")),
            0
        );
        assert!(Zone::named("Mars/Olympus").is_err());
        Ok(())
    }

    #[test]
    fn every_zone_in_the_table_reads() {
        for line in ZONES.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(' ').next().unwrap_or_default();
            assert!(Zone::named(name).is_ok(), "{line}");
        }
    }

    #[test]
    fn a_recurring_window_is_open_from_each_start_for_its_duration() -> Result<(), String> {
        let nightly = Recurring {
            cron: Cron::parse("0 2 * * *")?,
            zone: Zone::named("Europe/Berlin")?,
            duration: Duration::minutes(30),
        };
        // 02:00–02:30 in Berlin is 01:00–01:30 UTC in winter, 00:00–00:30 in summer.
        let winter = nightly.occurrence_at(utc("2026-12-05T01:10:00Z"));
        assert_eq!(
            winter,
            Some((utc("2026-12-05T01:00:00Z"), utc("2026-12-05T01:30:00Z")))
        );
        assert_eq!(nightly.occurrence_at(utc("2026-12-05T01:30:00Z")), None);
        assert_eq!(nightly.occurrence_at(utc("2026-12-05T00:59:59Z")), None);
        let summer = nightly.occurrence_at(utc("2026-07-05T00:29:59Z"));
        assert_eq!(
            summer.map(|(_, end)| end),
            Some(utc("2026-07-05T00:30:00Z"))
        );
        Ok(())
    }

    #[test]
    fn a_start_the_clocks_skip_happens_after_the_change_and_a_repeated_one_once(
    ) -> Result<(), String> {
        let berlin = Zone::named("Europe/Berlin")?;
        // 29 March 2026: at 01:00 UTC Berlin goes from 02:00 CET to 03:00 CEST; 02:30 never is.
        let sunday = Recurring {
            cron: Cron::parse("30 2 * * SUN")?,
            zone: berlin.clone(),
            duration: Duration::hours(1),
        };
        assert_eq!(
            sunday.occurrence_at(utc("2026-03-29T01:10:00Z")),
            Some((utc("2026-03-29T01:00:00Z"), utc("2026-03-29T02:00:00Z"))),
            "starts at 03:00 CEST, the first minute after the change"
        );
        assert_eq!(sunday.occurrence_at(utc("2026-03-29T00:59:00Z")), None);
        // 25 October 2026: at 01:00 UTC Berlin goes back from 03:00 CEST to 02:00 CET; 02:30
        // is 00:30 UTC and again 01:30 UTC: one start, the first.
        let window = sunday.occurrence_at(utc("2026-10-25T01:10:00Z"));
        assert_eq!(
            window,
            Some((utc("2026-10-25T00:30:00Z"), utc("2026-10-25T01:30:00Z")))
        );
        assert_eq!(
            sunday.occurrence_at(utc("2026-10-25T01:45:00Z")),
            None,
            "02:30 CET repeats 02:30 CEST: no second start"
        );
        // An ordinary Sunday: 02:30 CET is 01:30 UTC.
        assert_eq!(
            sunday.occurrence_at(utc("2026-11-01T01:45:00Z")),
            Some((utc("2026-11-01T01:30:00Z"), utc("2026-11-01T02:30:00Z")))
        );
        Ok(())
    }
}
