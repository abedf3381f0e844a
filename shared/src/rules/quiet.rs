//! The rules' quiet-hours sections: `windows` (maintenance), `silences` (their limits) and
//! `inhibitions` (a dependency's incident folds its dependents' signals).
//!
//! - **windows**: while one is open, a firing signal it matches opens no incident and pages
//!   nobody; triage holds it and looks again when the window ends. A window matches by rule,
//!   service, tier, account, region, alarm name (globs) and alarm or resource tags, and is open
//!   `once` (start, end), `recurring` (cron, duration, time zone) or while an SSM Change Calendar
//!   is in a given state (`calendar`, `CLOSED` unless said otherwise).
//! - **silences**: the longest a silence from Slack may last (`max`, default 24 h).
//! - **inhibitions**: while an incident of a `when_open` rule is open for a dependency, a signal
//!   of a `fold` rule (default: any other) naming the same dependency — a tag, or a metric
//!   dimension, called `equal` on both — joins that incident as downstream instead of opening
//!   its own.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::document::{OneOrMany, RawDuration};
use super::matcher::glob;
use super::schedule::{Cron, Recurring, Zone};
use super::RulesError;
use crate::domain::{Classification, Signal};

/// The longest a recurring window lasts from each start.
const MAX_RECURRING_SECS: u64 = 7 * 86_400;
/// The longest silence the rules may allow, and the default.
const MAX_SILENCE_SECS: u64 = 7 * 86_400;
const DEFAULT_SILENCE_SECS: u64 = 86_400;

/// Which signals a window covers: every condition given must hold (globs for names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    rule: Vec<String>,
    service: Vec<String>,
    tier: Vec<String>,
    account: Vec<String>,
    region: Vec<String>,
    alarm_name: Vec<String>,
    tags: BTreeMap<String, String>,
}

impl Scope {
    pub fn covers(&self, signal: &Signal, c: &Classification) -> bool {
        let any = |patterns: &[String], value: &str| {
            patterns.is_empty() || patterns.iter().any(|p| glob(p, value))
        };
        any(&self.rule, &c.rule_id)
            && any(&self.service, &c.service)
            && any(&self.tier, &c.tier)
            && any(&self.account, &signal.account)
            && any(&self.region, &signal.region)
            && (self.alarm_name.is_empty()
                || signal
                    .alarm_name
                    .as_deref()
                    .is_some_and(|n| any(&self.alarm_name, n)))
            && self
                .tags
                .iter()
                .all(|(k, v)| signal.tag(k).is_some_and(|t| glob(v, t)))
    }
}

/// The Change Calendar state that means "in maintenance".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum CalendarState {
    #[serde(rename = "CLOSED")]
    Closed,
    #[serde(rename = "OPEN")]
    Open,
}

impl CalendarState {
    pub fn as_str(self) -> &'static str {
        match self {
            CalendarState::Closed => "CLOSED",
            CalendarState::Open => "OPEN",
        }
    }
}

/// When a window is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    Once {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    Recurring(Recurring),
    /// While the SSM Change Calendar (name or ARN) is in `state`.
    Calendar {
        name: String,
        state: CalendarState,
    },
}

/// One maintenance window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub id: String,
    pub description: Option<String>,
    pub scope: Scope,
    pub when: When,
}

impl Window {
    /// For a window on the clock: the end of the occurrence open at `at`, if one is, and how it
    /// reads. `None` for a calendar (that needs the calendar's state).
    pub fn open_at(&self, at: DateTime<Utc>) -> Option<(DateTime<Utc>, String)> {
        match &self.when {
            When::Once { start, end } => (*start <= at && at < *end).then(|| {
                (
                    *end,
                    format!("from {} to {}", utc_text(*start), utc_text(*end)),
                )
            }),
            When::Recurring(r) => r.occurrence_at(at).map(|(start, end)| {
                (
                    end,
                    format!(
                        "cron `{}` in {} for {} min: this occurrence runs from {} to {}",
                        r.cron,
                        r.zone.name,
                        r.duration.num_minutes(),
                        utc_text(start),
                        utc_text(end)
                    ),
                )
            }),
            When::Calendar { .. } => None,
        }
    }

    /// The calendar a window follows, if it does.
    pub fn calendar(&self) -> Option<(&str, CalendarState)> {
        match &self.when {
            When::Calendar { name, state } => Some((name, *state)),
            _ => None,
        }
    }
}

pub fn utc_text(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// One inhibition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inhibition {
    pub id: String,
    /// The rules whose open incident inhibits (the dependency's).
    pub when_open: Vec<String>,
    /// The rules whose signals fold; empty: any rule not in `when_open`.
    pub fold: Vec<String>,
    /// The tag or metric dimension naming the dependency on both signals.
    pub equal: String,
}

impl Inhibition {
    /// The dependency a signal names: its tag `equal`, else its metric dimension `equal`.
    pub fn dependency<'s>(&self, signal: &'s Signal) -> Option<&'s str> {
        signal
            .tag(&self.equal)
            .or_else(|| signal.dimension(&self.equal))
            .filter(|v| !v.is_empty())
    }

    /// Whether a signal of `rule` stands for the dependency.
    pub fn is_source(&self, rule: &str) -> bool {
        self.when_open.iter().any(|r| r == rule)
    }

    /// Whether a signal of `rule` folds into the dependency's incident.
    pub fn folds(&self, rule: &str) -> bool {
        !self.is_source(rule) && (self.fold.is_empty() || self.fold.iter().any(|r| glob(r, rule)))
    }
}

/// The quiet-hours sections, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quiet {
    pub windows: Vec<Window>,
    /// The longest silence from Slack.
    pub silence_max: Duration,
    pub inhibitions: Vec<Inhibition>,
}

impl Default for Quiet {
    fn default() -> Self {
        Quiet {
            windows: Vec::new(),
            silence_max: Duration::seconds(DEFAULT_SILENCE_SECS as i64),
            inhibitions: Vec::new(),
        }
    }
}

impl Quiet {
    /// The Change Calendars the windows name (for the template's `ssm:GetCalendarState`).
    pub fn calendars(&self) -> impl Iterator<Item = &str> {
        self.windows
            .iter()
            .filter_map(|w| w.calendar().map(|(n, _)| n))
    }

    /// The inhibitions in which a signal of `rule` folds.
    pub fn folding(&self, rule: &str) -> impl Iterator<Item = &Inhibition> {
        let rule = rule.to_string();
        self.inhibitions.iter().filter(move |i| i.folds(&rule))
    }

    /// The inhibitions in which a signal of `rule` stands for the dependency.
    pub fn sourcing(&self, rule: &str) -> impl Iterator<Item = &Inhibition> {
        let rule = rule.to_string();
        self.inhibitions.iter().filter(move |i| i.is_source(&rule))
    }
}

// ---------------------------------------------------------------------------------------------
// As written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWindow {
    id: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, rename = "match")]
    scope: RawScope,
    #[serde(default)]
    once: Option<RawOnce>,
    #[serde(default)]
    recurring: Option<RawRecurring>,
    #[serde(default)]
    calendar: Option<RawCalendar>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScope {
    #[serde(default)]
    rule: OneOrMany,
    #[serde(default)]
    service: OneOrMany,
    #[serde(default)]
    tier: OneOrMany,
    #[serde(default)]
    account: OneOrMany,
    #[serde(default)]
    region: OneOrMany,
    #[serde(default)]
    alarm_name: OneOrMany,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOnce {
    start: String,
    end: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecurring {
    cron: String,
    duration: RawDuration,
    #[serde(default)]
    time_zone: Option<String>,
}

/// `calendar: Name` or `calendar: {name: Name, state: OPEN}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawCalendar {
    Name(String),
    Full {
        name: String,
        #[serde(default)]
        state: Option<CalendarState>,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSilences {
    #[serde(default)]
    max: Option<RawDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInhibition {
    id: String,
    when_open: OneOrMany,
    #[serde(default)]
    fold: OneOrMany,
    equal: String,
}

pub(super) fn load_quiet(
    windows: Vec<RawWindow>,
    silences: Option<RawSilences>,
    inhibitions: Vec<RawInhibition>,
    rule_ids: &[&str],
) -> Result<Quiet, RulesError> {
    let mut quiet = Quiet::default();
    for raw in windows {
        let window = load_window(raw, rule_ids)?;
        if quiet.windows.iter().any(|w| w.id == window.id) {
            return Err(section(
                "windows",
                &window.id,
                "id",
                "the same id is used twice",
            ));
        }
        quiet.windows.push(window);
    }
    if let Some(max) = silences.and_then(|s| s.max) {
        let secs = max
            .seconds()
            .map_err(|m| RulesError::doc(Some("silences.max"), m))?;
        if !(60..=MAX_SILENCE_SECS).contains(&secs) {
            return Err(RulesError::doc(
                Some("silences.max"),
                "a silence lasts from 1 minute to 7 days",
            ));
        }
        quiet.silence_max = Duration::seconds(secs as i64);
    }
    for raw in inhibitions {
        let inhibition = load_inhibition(raw, rule_ids)?;
        if quiet.inhibitions.iter().any(|i| i.id == inhibition.id) {
            return Err(section(
                "inhibitions",
                &inhibition.id,
                "id",
                "the same id is used twice",
            ));
        }
        quiet.inhibitions.push(inhibition);
    }
    Ok(quiet)
}

fn section(name: &str, id: &str, field: &str, message: impl Into<String>) -> RulesError {
    RulesError::doc(Some(&format!("{name}.{id}.{field}")), message)
}

fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn load_window(raw: RawWindow, rule_ids: &[&str]) -> Result<Window, RulesError> {
    let id = raw.id.trim().to_string();
    if !is_id(&id) {
        return Err(RulesError::doc(
            Some("windows.id"),
            format!("`{id}` is not a window id (1–64 of A–Z a–z 0–9 - _)"),
        ));
    }
    let err = |field: &str, m: String| section("windows", &id, field, m);
    let scope = Scope {
        rule: raw.scope.rule.into_vec(),
        service: raw.scope.service.into_vec(),
        tier: raw.scope.tier.into_vec(),
        account: raw.scope.account.into_vec(),
        region: raw.scope.region.into_vec(),
        alarm_name: raw.scope.alarm_name.into_vec(),
        tags: raw.scope.tags,
    };
    if let Some(unknown) = scope
        .rule
        .iter()
        .find(|p| !rule_ids.iter().any(|r| glob(p, r)))
    {
        return Err(err("match.rule", format!("`{unknown}` names no rule")));
    }
    let when = match (raw.once, raw.recurring, raw.calendar) {
        (Some(once), None, None) => {
            let time = |field: &str, text: &str| {
                DateTime::parse_from_rfc3339(text.trim())
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        err(
                            field,
                            format!("`{text}` is not a time like 2026-12-06T22:00:00Z"),
                        )
                    })
            };
            let start = time("once.start", &once.start)?;
            let end = time("once.end", &once.end)?;
            if end <= start {
                return Err(err("once.end", "the window ends before it starts".into()));
            }
            When::Once { start, end }
        }
        (None, Some(r), None) => {
            let cron = Cron::parse(&r.cron).map_err(|m| err("recurring.cron", m))?;
            let zone = Zone::named(r.time_zone.as_deref().unwrap_or("UTC"))
                .map_err(|m| err("recurring.time_zone", m))?;
            let secs = r
                .duration
                .seconds()
                .map_err(|m| err("recurring.duration", m))?;
            if !(60..=MAX_RECURRING_SECS).contains(&secs) || secs % 60 != 0 {
                return Err(err(
                    "recurring.duration",
                    "whole minutes, from 1 minute to 7 days".into(),
                ));
            }
            When::Recurring(Recurring {
                cron,
                zone,
                duration: Duration::seconds(secs as i64),
            })
        }
        (None, None, Some(calendar)) => {
            let (name, state) = match calendar {
                RawCalendar::Name(name) => (name, None),
                RawCalendar::Full { name, state } => (name, state),
            };
            let name = name.trim().to_string();
            if !is_calendar(&name) {
                return Err(err(
                    "calendar",
                    format!("`{name}` is not a Change Calendar name or ARN"),
                ));
            }
            When::Calendar {
                name,
                state: state.unwrap_or(CalendarState::Closed),
            }
        }
        _ => {
            return Err(err(
                "once",
                "give exactly one of once, recurring or calendar".into(),
            ))
        }
    };
    Ok(Window {
        id,
        description: raw.description,
        scope,
        when,
    })
}

/// A document name (3–128 of A–Z a–z 0–9 _ - .) or an SSM document ARN.
fn is_calendar(name: &str) -> bool {
    let document = match name.strip_prefix("arn:") {
        Some(_) => match name.split_once(":document/") {
            Some((head, doc)) if head.split(':').nth(2) == Some("ssm") => doc,
            _ => return false,
        },
        None => name,
    };
    (3..=128).contains(&document.len())
        && document
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

fn load_inhibition(raw: RawInhibition, rule_ids: &[&str]) -> Result<Inhibition, RulesError> {
    let id = raw.id.trim().to_string();
    if !is_id(&id) {
        return Err(RulesError::doc(
            Some("inhibitions.id"),
            format!("`{id}` is not an inhibition id (1–64 of A–Z a–z 0–9 - _)"),
        ));
    }
    let err = |field: &str, m: String| section("inhibitions", &id, field, m);
    let when_open = raw.when_open.into_vec();
    if when_open.is_empty() {
        return Err(err("when_open", "name at least one rule".into()));
    }
    if let Some(unknown) = when_open.iter().find(|r| !rule_ids.contains(&r.as_str())) {
        return Err(err("when_open", format!("`{unknown}` names no rule")));
    }
    let fold = raw.fold.into_vec();
    if let Some(unknown) = fold.iter().find(|p| !rule_ids.iter().any(|r| glob(p, r))) {
        return Err(err("fold", format!("`{unknown}` names no rule")));
    }
    if let Some(both) = fold.iter().find(|p| when_open.iter().any(|r| glob(p, r))) {
        return Err(err(
            "fold",
            format!("`{both}` is also in when_open: a rule cannot fold into itself"),
        ));
    }
    let equal = raw.equal.trim().to_string();
    if equal.is_empty() || equal.len() > 128 {
        return Err(err(
            "equal",
            "name the tag or dimension both signals carry (e.g. VpnId)".into(),
        ));
    }
    Ok(Inhibition {
        id,
        when_open,
        fold,
        equal,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Rules, DEFAULT_RULES};
    use super::*;

    fn load(sections: &str) -> Result<Rules, RulesError> {
        let text = DEFAULT_RULES.replace("silences:\n  max: 24h\n", &format!("{sections}\n"));
        let text = text.replace(
            "inhibitions:\n  - id: vpn-dependents\n    when_open: vpn-tunnel-down\n    equal: VpnId\n",
            "",
        );
        Rules::from_yaml(&text)
    }

    #[test]
    fn the_default_rules_fold_a_vpns_dependents_and_cap_silences_at_a_day() -> Result<(), RulesError>
    {
        let rules = Rules::embedded()?;
        let q = rules.quiet();
        assert!(q.windows.is_empty());
        assert_eq!(q.silence_max, Duration::hours(24));
        let vpn = &q.inhibitions[0];
        assert_eq!(
            (vpn.id.as_str(), vpn.equal.as_str()),
            ("vpn-dependents", "VpnId")
        );
        assert!(vpn.folds("cloudwatch-alarm") && !vpn.folds("vpn-tunnel-down"));
        assert_eq!(q.sourcing("vpn-tunnel-down").count(), 1);
        Ok(())
    }

    #[test]
    fn each_kind_of_window_loads() -> Result<(), RulesError> {
        let rules = load(
            "windows:
  - id: nightly
    match: { rule: vpn-*, tags: { env: prod } }
    recurring: { cron: \"0 2 * * SUN\", duration: 1h, time_zone: Europe/Berlin }
  - id: freeze
    calendar: { name: MaintenanceCalendar, state: OPEN }
  - id: arn-calendar
    calendar: arn:aws:ssm:eu-west-1:111122223333:document/MaintenanceCalendar
  - id: migration
    once: { start: \"2026-12-12T22:00:00Z\", end: \"2026-12-13T02:00:00+00:00\" }
silences:
  max: 2h",
        )?;
        let q = rules.quiet();
        assert_eq!(q.windows.len(), 4);
        assert_eq!(q.silence_max, Duration::hours(2));
        assert_eq!(
            q.calendars().collect::<Vec<_>>(),
            vec![
                "MaintenanceCalendar",
                "arn:aws:ssm:eu-west-1:111122223333:document/MaintenanceCalendar"
            ]
        );
        assert_eq!(
            q.windows[1].calendar().map(|c| c.1),
            Some(CalendarState::Open)
        );
        assert_eq!(
            q.windows[2].calendar().map(|c| c.1),
            Some(CalendarState::Closed)
        );
        Ok(())
    }

    #[test]
    fn mistakes_name_the_section_the_entry_and_the_field() {
        let cases = [
            ("windows:\n  - id: w\n    match: { rule: nope }\n    once: { start: \"2026-12-12T22:00:00Z\", end: \"2026-12-13T02:00:00Z\" }", "windows.w.match.rule"),
            ("windows:\n  - id: w\n    recurring: { cron: \"0 2 * *\", duration: 1h }", "windows.w.recurring.cron"),
            ("windows:\n  - id: w\n    recurring: { cron: \"0 2 * * *\", duration: 1h, time_zone: Mars/Olympus }", "windows.w.recurring.time_zone"),
            ("windows:\n  - id: w\n    recurring: { cron: \"0 2 * * *\", duration: 8d }", "windows.w.recurring.duration"),
            ("windows:\n  - id: w\n    once: { start: \"2026-12-13T02:00:00Z\", end: \"2026-12-12T22:00:00Z\" }", "windows.w.once.end"),
            ("windows:\n  - id: w\n    once: { start: \"2026-12-12T22:00:00Z\", end: \"2026-12-13T02:00:00Z\" }\n    calendar: C1a", "windows.w.once"),
            ("windows:\n  - id: w\n    calendar: \"no spaces\"", "windows.w.calendar"),
            ("windows:\n  - id: w\n    calendar: C1a\n  - id: w\n    calendar: C2a", "windows.w.id"),
            ("silences:\n  max: 30s", "silences.max"),
            ("inhibitions:\n  - id: i\n    when_open: nope\n    equal: VpnId", "inhibitions.i.when_open"),
            ("inhibitions:\n  - id: i\n    when_open: vpn-tunnel-down\n    fold: vpn-*\n    equal: VpnId", "inhibitions.i.fold"),
            ("inhibitions:\n  - id: i\n    when_open: vpn-tunnel-down\n    equal: \"\"", "inhibitions.i.equal"),
        ];
        for (section, field) in cases {
            match load(section) {
                Ok(_) => panic!("accepted: {section}"),
                Err(e) => assert_eq!(e.field.as_deref(), Some(field), "{section}: {e}"),
            }
        }
    }
}
