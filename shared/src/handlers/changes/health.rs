//! AWS Health in "what changed": the open issues of the incident's services in the signal's
//! region (`DescribeEvents`), when the account can read them. The Health API needs a Business
//! or Enterprise support plan; without one the incident says so once, and the account is not
//! asked again for [`NO_PLAN_KEEP`] (a state-table reference written once the incident's entry
//! is), so later incidents neither call nor repeat it. Health is context: when it cannot be
//! read, for whatever reason, the entry says so and the rest is written.

use chrono::{DateTime, Duration, Utc};

use super::utc;
use crate::changes::{health_services, HealthIssue, Lookup};
use crate::domain::{one_line, trim_chars, Signal};
use tracing::warn;

use crate::ports::{Health, PortErrorKind, ReferenceStore};
use crate::shell::StageError;

/// How long an account without a support plan is not asked again.
pub(super) const NO_PLAN_KEEP: Duration = Duration::days(7);

/// The note an account without a support plan gets, once.
pub(super) const NO_PLAN: &str = "AWS Health: not read: the Health API needs a Business or \
Enterprise support plan, which this account does not have (said once; asked again in 7 days)";

/// What the look-up found: the open issues, when they could be read, and the reference to keep
/// once the incident's entry is written (an account without a support plan).
pub(super) struct HealthRead {
    pub(super) issues: Option<Vec<HealthIssue>>,
    pub(super) no_plan: Option<String>,
}

/// The open issues of the resources' services in the signal's region. Health is context: any
/// failure, throttling and outages included, is a note, never a failed invocation.
pub(super) async fn open_issues(
    health: &dyn Health,
    references: &dyn ReferenceStore,
    incident: &str,
    signal: &Signal,
    lookups: &[Lookup],
    now: DateTime<Utc>,
    notes: &mut Vec<String>,
) -> Result<HealthRead, StageError> {
    let mut read = HealthRead {
        issues: None,
        no_plan: None,
    };
    let services = health_services(lookups);
    if services.is_empty() {
        return Ok(read);
    }
    let key = no_plan_key(&signal.account);
    match references.recall(&key, now).await? {
        // Said on this incident (a retry says it again), else on an earlier one: not again.
        Some(said_on) if said_on == incident => {
            notes.push(NO_PLAN.to_string());
            return Ok(read);
        }
        Some(_) => return Ok(read),
        None => {}
    }
    let on = services.join(", ");
    match health.open_issues(&services, &signal.region).await {
        Ok(Some(issues)) => read.issues = Some(issues),
        Ok(None) => {
            notes.push(NO_PLAN.to_string());
            read.no_plan = Some(key);
        }
        Err(e) => {
            warn!(error = %e, "AWS Health not gathered for {on}");
            let why = match e.kind {
                PortErrorKind::AccessDenied => "AccessDenied".to_string(),
                PortErrorKind::Throttled => "throttled".to_string(),
                PortErrorKind::Unavailable => "unavailable".to_string(),
                _ => trim_chars(&one_line(&e.message), 200),
            };
            notes.push(format!("AWS Health: not gathered for {on}: {why}"));
        }
    }
    Ok(read)
}

/// Remembers that the account has no support plan, once the incident that says so is written.
pub(super) async fn remember_no_plan(
    references: &dyn ReferenceStore,
    key: &str,
    incident: &str,
    now: DateTime<Utc>,
) -> Result<(), StageError> {
    references
        .remember(key, incident, now + NO_PLAN_KEEP)
        .await?;
    Ok(())
}

fn no_plan_key(account: &str) -> String {
    format!("health-no-plan#{account}")
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
