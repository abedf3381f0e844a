//! Signals: one thing that happened in an account, normalised from its source's event.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Category;

/// Where a signal stands: is something wrong now, did it clear, or is it neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalState {
    /// Something is wrong now (alarm in ALARM, an active finding, root activity).
    Firing,
    /// The condition cleared (alarm back to OK, finding resolved or archived).
    Recovered,
    /// Neither (alarm in INSUFFICIENT_DATA): never opens or resolves an incident.
    Informational,
}

/// Normalised severity of a signal, lowest first so that `>=` reads naturally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Informational,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses a label case-insensitively (`HIGH`, `High`, `high`; ASFF's `INFORMATIONAL`).
    pub fn parse(label: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(label.trim()))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What produced a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// A CloudWatch metric alarm (single metric or metric math).
    MetricAlarm,
    /// A CloudWatch composite alarm.
    CompositeAlarm,
    /// One ASFF finding from Security Hub.
    SecurityHubFinding,
    /// A GuardDuty finding.
    GuardDutyFinding,
    /// Root-account activity seen by CloudTrail (console sign-in or API call).
    RootActivity,
    /// An AWS Health event.
    HealthEvent,
}

impl SignalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::MetricAlarm => "metric_alarm",
            SignalKind::CompositeAlarm => "composite_alarm",
            SignalKind::SecurityHubFinding => "security_hub_finding",
            SignalKind::GuardDutyFinding => "guardduty_finding",
            SignalKind::RootActivity => "root_activity",
            SignalKind::HealthEvent => "health_event",
        }
    }

    /// Whether a signal of this kind ever clears: an alarm returns to `OK`, a Security Hub
    /// finding is resolved, a Health event closes. GuardDuty findings and root activity never
    /// do (GuardDuty sends no event when a finding is archived).
    pub fn recovers(self) -> bool {
        !matches!(
            self,
            SignalKind::GuardDutyFinding | SignalKind::RootActivity
        )
    }

    /// The OpsCenter category a signal of this kind belongs to unless a rule says otherwise.
    pub fn default_category(self) -> Category {
        match self {
            SignalKind::MetricAlarm | SignalKind::CompositeAlarm | SignalKind::HealthEvent => {
                Category::Availability
            }
            SignalKind::SecurityHubFinding
            | SignalKind::GuardDutyFinding
            | SignalKind::RootActivity => Category::Security,
        }
    }
}

/// One metric an alarm watches: a plain metric or a metric-math expression.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricRef {
    /// The query id inside the alarm (`m1`, `e1`), when the alarm has several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u32>,
    /// A metric-math expression (then namespace/name are absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// Whether this query is the alarm's evaluated result.
    #[serde(default)]
    pub return_data: bool,
}

/// One normalised inbound signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// EventBridge `source` (`aws.cloudwatch`, `aws.guardduty`, …).
    pub source: String,
    /// EventBridge `detail-type`; for an alarm's direct Lambda action, `CloudWatch Alarm Lambda Action`.
    pub detail_type: String,
    pub kind: SignalKind,
    pub state: SignalState,
    /// The signal's own severity, where it has one (findings do, alarms don't: the rule decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// The numeric score behind the severity (GuardDuty 1–10, ASFF `Normalized` 0–100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_score: Option<f64>,
    pub account: String,
    pub region: String,
    /// When the signal's state was reached (alarm state timestamp, finding update time).
    pub time: DateTime<Utc>,
    /// The EventBridge event id, when the signal came through EventBridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// Identity of this occurrence: equal for re-deliveries of the same occurrence (and for the
    /// same alarm transition arriving both through EventBridge and the alarm's Lambda action).
    pub fingerprint: String,
    /// The primary resource: the alarm ARN, the finding's first resource, the root user ARN.
    pub resource: String,
    /// Every involved resource, as an ARN where one can be formed, else as an id.
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// One human line: what happened, where.
    pub summary: String,
    /// The alarm name, for alarms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_name: Option<String>,
    /// The metrics an alarm watches (empty for composite alarms and findings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricRef>,
    /// The finding type (GuardDuty `type`, ASFF `Types[0]`), the Health `eventTypeCode`, or the
    /// CloudTrail `eventName` for root activity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding_type: Option<String>,
    /// The finding id (GuardDuty `id`, ASFF `Id`), the Health event ARN, or the CloudTrail `eventID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding_id: Option<String>,
    /// Why the state was reached (the alarm's state reason), when the source says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The product that reported a Security Hub finding (ASFF `ProductName`: `GuardDuty` for
    /// the copies of GuardDuty's findings Security Hub receives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
}

impl Signal {
    /// The value of a dimension on any of the alarm's metrics.
    pub fn dimension(&self, name: &str) -> Option<&str> {
        self.metrics
            .iter()
            .find_map(|m| m.dimensions.get(name))
            .map(String::as_str)
    }

    /// What changes state over time: the alarm (its ARN), the finding (its id; a Security Hub
    /// copy of a GuardDuty finding is that GuardDuty finding), the Health event (its ARN); for
    /// root activity, the CloudTrail event itself.
    pub fn subject(&self) -> &str {
        match self.kind {
            SignalKind::MetricAlarm | SignalKind::CompositeAlarm => &self.resource,
            _ => self
                .copy_of_guardduty()
                .or(self.finding_id.as_deref())
                .unwrap_or(&self.resource),
        }
    }

    /// For a Security Hub copy of a GuardDuty finding, GuardDuty's own finding id (ASFF `Id` is
    /// `arn:aws:guardduty:<region>:<account>:detector/<detector>/finding/<id>`).
    pub fn copy_of_guardduty(&self) -> Option<&str> {
        if self.kind != SignalKind::SecurityHubFinding
            || !self
                .product
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case("GuardDuty"))
        {
            return None;
        }
        let id = self.finding_id.as_deref()?;
        id.rsplit_once("/finding/")
            .map(|(_, finding)| finding)
            .filter(|f| !f.is_empty() && !f.contains('/'))
    }

    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags.get(name).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_parses_any_case() {
        assert_eq!(Severity::parse("CRITICAL"), Some(Severity::Critical));
        assert_eq!(
            Severity::parse("Informational"),
            Some(Severity::Informational)
        );
        assert_eq!(Severity::parse("severe"), None);
        assert!(Severity::High > Severity::Medium);
    }
}
