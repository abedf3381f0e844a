//! Incidents: what the rules decide about a signal, and what a backend records.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Severity;

/// Business impact of an incident, 1 (critical) … 5 (no impact), as Incident Manager defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Impact(u8);

impl Impact {
    pub const CRITICAL: Impact = Impact(1);
    pub const HIGH: Impact = Impact(2);
    pub const MEDIUM: Impact = Impact(3);
    pub const LOW: Impact = Impact(4);
    pub const NONE: Impact = Impact(5);

    pub fn new(value: u8) -> Option<Impact> {
        (1..=5).contains(&value).then_some(Impact(value))
    }

    pub fn get(self) -> u8 {
        self.0
    }

    pub fn label(self) -> &'static str {
        match self.0 {
            1 => "Critical",
            2 => "High",
            3 => "Medium",
            4 => "Low",
            _ => "No impact",
        }
    }
}

impl TryFrom<u8> for Impact {
    type Error = String;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Impact::new(value).ok_or_else(|| format!("impact must be 1..=5, got {value}"))
    }
}

impl From<Impact> for u8 {
    fn from(value: Impact) -> u8 {
        value.0
    }
}

impl fmt::Display for Impact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.label())
    }
}

/// OpsCenter's categories; also a coarse label for Incident Manager records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Category {
    Availability,
    Cost,
    Performance,
    Recovery,
    Security,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Availability => "Availability",
            Category::Cost => "Cost",
            Category::Performance => "Performance",
            Category::Recovery => "Recovery",
            Category::Security => "Security",
        }
    }
}

/// The SSM Automation runbook a rule names for later stages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunbookRef {
    pub document: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Parameter templates; resolved by the runbook stage from the gathered facts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
}

/// What the rules decided about a signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub rule_id: String,
    pub service: String,
    pub tier: String,
    pub severity: Severity,
    pub impact: Impact,
    pub dedupe_key: String,
    pub title: String,
    pub category: Category,
    pub suppress: bool,
    /// How long after the signal recovered a re-fire still joins the same incident.
    pub correlation_window_secs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<RunbookRef>,
    pub auto_resolve: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_steps: Vec<String>,
}

/// Which incident record system holds the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Backend {
    #[serde(rename = "incident-manager")]
    IncidentManager,
    #[serde(rename = "opscenter")]
    OpsCenter,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::IncidentManager => "incident-manager",
            Backend::OpsCenter => "opscenter",
        }
    }

    /// The product name, for people.
    pub fn label(self) -> &'static str {
        match self {
            Backend::IncidentManager => "Incident Manager",
            Backend::OpsCenter => "OpsCenter",
        }
    }

    pub fn parse(value: &str) -> Option<Backend> {
        match value.trim() {
            "incident-manager" => Some(Backend::IncidentManager),
            "opscenter" => Some(Backend::OpsCenter),
            _ => None,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A handle on an incident record: the incident record ARN, or the OpsItem id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentRef {
    pub backend: Backend,
    pub id: String,
}

/// Incident Manager's related-item types (OpsCenter maps them onto its own associations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RelatedItemKind {
    Analysis,
    Incident,
    Metric,
    Parent,
    Attachment,
    Other,
    Automation,
    InvolvedResource,
    Task,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RelatedValue {
    Arn(String),
    Url(String),
    /// A CloudWatch metric definition (JSON), for METRIC items.
    MetricDefinition(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelatedItem {
    pub kind: RelatedItemKind,
    pub title: String,
    pub value: RelatedValue,
}

impl RelatedItem {
    /// An involved resource, by ARN.
    pub fn resource(arn: impl Into<String>, title: impl Into<String>) -> RelatedItem {
        RelatedItem {
            kind: RelatedItemKind::InvolvedResource,
            title: title.into(),
            value: RelatedValue::Arn(arn.into()),
        }
    }
}

/// The trigger of an incident, as Incident Manager records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// Always `incident.responder` (Incident Manager forbids sources starting with `aws.`).
    pub source: String,
    pub timestamp: DateTime<Utc>,
    /// The raw inbound event, trimmed by the adapter to the backend's limit.
    pub raw_data: String,
    /// The ARN of what triggered it (alarm ARN, finding ARN), when it is an ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}

/// The Incident Manager response plans `triage` opens incidents with: the plan configured for the
/// incident's impact (`RESPONSE_PLAN_ARN_BY_IMPACT`), else the default (`RESPONSE_PLAN_ARN`). Per-impact
/// plans let impact 1 and 2 engage on-call contacts while lower impacts only post to chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponsePlans {
    default: String,
    by_impact: [Option<String>; 5],
}

impl ResponsePlans {
    pub fn new(default: impl Into<String>) -> Self {
        ResponsePlans {
            default: default.into(),
            by_impact: Default::default(),
        }
    }

    /// The same, with `arn` for incidents of `impact`.
    pub fn with(mut self, impact: Impact, arn: impl Into<String>) -> Self {
        self.by_impact[usize::from(impact.get() - 1)] = Some(arn.into());
        self
    }

    /// The plan an incident of `impact` opens with.
    pub fn for_impact(&self, impact: Impact) -> &str {
        self.by_impact[usize::from(impact.get() - 1)]
            .as_deref()
            .unwrap_or(&self.default)
    }
}

/// Everything a backend needs to open an incident. Adapters trim fields to their limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewIncident {
    pub title: String,
    /// A few lines for the record's summary/description.
    pub summary: String,
    pub impact: Impact,
    pub severity: Severity,
    pub category: Category,
    pub rule_id: String,
    pub service: String,
    pub dedupe_key: String,
    /// Stable for one occurrence: a retried invocation sends the same token.
    pub client_token: String,
    pub trigger: Trigger,
    pub related_items: Vec<RelatedItem>,
    /// Involved resources (ARNs or ids) for OpsCenter's `/aws/resources`.
    pub resources: Vec<String>,
}

/// Title, impact and provenance of an incident, as carried on the responder bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentSummary {
    pub backend: Backend,
    pub id: String,
    pub title: String,
    pub impact: Impact,
    pub severity: Severity,
    pub rule: String,
    pub service: String,
    pub tier: String,
    pub dedupe_key: String,
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<RunbookRef>,
    pub auto_resolve: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_steps: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impact_is_bounded() {
        assert!(Impact::new(0).is_none());
        assert!(Impact::new(6).is_none());
        assert_eq!(Impact::new(3), Some(Impact::MEDIUM));
        assert!(serde_json::from_str::<Impact>("9").is_err());
        assert_eq!(
            serde_json::to_string(&Impact::HIGH).ok().as_deref(),
            Some("2")
        );
    }
}
