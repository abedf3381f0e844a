//! Which SSM Change Calendars triage may read: the template grants `ssm:GetCalendarState` on up
//! to three, by document name, in the function's own account and region. A list it could not
//! grant, or rules following a calendar outside it, fail at start instead of holding nothing.

use super::ConfigError;
use crate::rules::Rules;

/// At most this many calendars (the template's `ChangeCalendars`).
const MAX: usize = 3;

fn invalid(problem: String) -> ConfigError {
    ConfigError::Invalid {
        name: "CHANGE_CALENDARS",
        problem,
    }
}

/// `CHANGE_CALENDARS` as listed: at most three document names.
pub(super) fn check(calendars: &[String]) -> Result<(), ConfigError> {
    if calendars.len() > MAX {
        return Err(invalid(format!(
            "{} calendars listed; the template's ChangeCalendars grants at most {MAX}",
            calendars.len()
        )));
    }
    match calendars.iter().find(|c| c.contains(':') || c.contains('/')) {
        Some(c) => Err(invalid(format!(
            "`{c}` is not a document name: list each calendar by its name (in this account and region)"
        ))),
        None => Ok(()),
    }
}

/// Every calendar the rules' windows follow is listed, and (named by ARN) in `region`.
pub(super) fn followed(
    rules: &Rules,
    listed: &[String],
    region: Option<&str>,
) -> Result<(), ConfigError> {
    for calendar in rules.quiet().calendars() {
        // A calendar named by ARN is the document after `document/`.
        let name = calendar
            .rsplit_once(":document/")
            .map_or(calendar, |(_, n)| n);
        let elsewhere = crate::arn::Arn::parse(calendar)
            .zip(region)
            .filter(|(arn, region)| arn.region != *region);
        if let Some((arn, region)) = elsewhere {
            return Err(invalid(format!(
                "the rules' maintenance windows follow Change Calendar `{calendar}` in {}, and triage runs in {region}: it could not read it",
                arn.region
            )));
        }
        if !listed.iter().any(|c| c == name) {
            return Err(invalid(format!(
                "the rules' maintenance windows follow Change Calendar `{name}`, which is not listed (the template's ChangeCalendars parameter): triage could not read it"
            )));
        }
    }
    Ok(())
}
