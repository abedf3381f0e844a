//! AWS Health in "what changed": the open issues of the incident's services in the signal's
//! region (`DescribeEvents`), when the account can read them. The Health API needs a Business,
//! Enterprise On-Ramp or Enterprise support plan; without one the incident says so once, and
//! the account is not asked again for [`NO_PLAN_KEEP`] (a state-table reference), so later
//! incidents neither call nor repeat it.

use chrono::{DateTime, Duration, Utc};

use super::utc;
use crate::changes::{health_services, HealthIssue, Lookup};
use crate::domain::{one_line, trim_chars, Signal};
use crate::handlers::not_gathered;
use crate::ports::{Health, ReferenceStore};
use crate::shell::StageError;

/// How long an account without a support plan is not asked again.
pub(super) const NO_PLAN_KEEP: Duration = Duration::days(7);

/// The note an account without a support plan gets, once.
pub(super) const NO_PLAN: &str = "AWS Health: not read: the Health API needs a Business, \
Enterprise On-Ramp or Enterprise support plan, which this account does not have (said once; \
asked again in 7 days)";

/// The open issues, when they could be read (notes say what could not).
pub(super) async fn open_issues(
    health: &dyn Health,
    references: &dyn ReferenceStore,
    incident: &str,
    signal: &Signal,
    lookups: &[Lookup],
    now: DateTime<Utc>,
    notes: &mut Vec<String>,
) -> Result<Option<Vec<HealthIssue>>, StageError> {
    let services = health_services(lookups);
    if services.is_empty() {
        return Ok(None);
    }
    let key = format!("health-no-plan#{}", signal.account);
    match references.recall(&key, now).await? {
        // Said on this incident (a retry says it again), else on an earlier one: not again.
        Some(said_on) if said_on == incident => {
            notes.push(NO_PLAN.to_string());
            return Ok(None);
        }
        Some(_) => return Ok(None),
        None => {}
    }
    let read = health.open_issues(&services, &signal.region).await;
    match not_gathered("AWS Health", &services.join(", "), read, notes)? {
        Some(Some(issues)) => Ok(Some(issues)),
        Some(None) => {
            references
                .remember(&key, incident, now + NO_PLAN_KEEP)
                .await?;
            notes.push(NO_PLAN.to_string());
            Ok(None)
        }
        None => Ok(None),
    }
}

/// `AWS_EC2_OPERATIONAL_ISSUE (EC2, eu-west-1a) open since 2026-12-06 01:30 UTC`.
pub fn issue_line(issue: &HealthIssue) -> String {
    let place = issue
        .availability_zone
        .as_deref()
        .unwrap_or(issue.region.as_str());
    let mut line = format!("{} ({}, {place}) open", issue.event_type, issue.service);
    if let Some(start) = issue.start {
        line.push_str(&format!(" since {}", utc(start)));
    }
    trim_chars(&one_line(&line), 300)
}
