//! The responder's vocabulary: plain Rust types, no SDK types, no I/O.
//!
//! A [`Signal`] is one thing that happened in an account (an alarm changed state, a finding
//! arrived, root signed in). Rules turn it into a [`Classification`]; the triage handler turns
//! that into a [`NewIncident`] or joins it to an open one, and announces the step as a
//! [`LifecycleEvent`] on the responder bus.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diagnosis::{Diagnosis, RunbookRun};

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
}

impl Signal {
    /// The value of a dimension on any of the alarm's metrics.
    pub fn dimension(&self, name: &str) -> Option<&str> {
        self.metrics
            .iter()
            .find_map(|m| m.dimensions.get(name))
            .map(String::as_str)
    }

    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags.get(name).map(String::as_str)
    }
}

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

/// One entry on an incident's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub time: DateTime<Utc>,
    /// Short machine label (`signal-joined`, `signal-recovered`, …).
    pub event: String,
    /// What a human reads.
    pub text: String,
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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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

/// The detail-types on the responder bus (**contract**).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifecycleKind {
    #[serde(rename = "Incident Opened")]
    IncidentOpened,
    #[serde(rename = "Incident Updated")]
    IncidentUpdated,
    #[serde(rename = "Signal Recovered")]
    SignalRecovered,
    #[serde(rename = "Incident Resolved")]
    IncidentResolved,
    #[serde(rename = "Runbook Started")]
    RunbookStarted,
    #[serde(rename = "Runbook Finished")]
    RunbookFinished,
    #[serde(rename = "Incident Enriched")]
    IncidentEnriched,
}

impl LifecycleKind {
    pub fn detail_type(self) -> &'static str {
        match self {
            LifecycleKind::IncidentOpened => "Incident Opened",
            LifecycleKind::IncidentUpdated => "Incident Updated",
            LifecycleKind::SignalRecovered => "Signal Recovered",
            LifecycleKind::IncidentResolved => "Incident Resolved",
            LifecycleKind::RunbookStarted => "Runbook Started",
            LifecycleKind::RunbookFinished => "Runbook Finished",
            LifecycleKind::IncidentEnriched => "Incident Enriched",
        }
    }
}

/// The source of every event on the responder bus (**contract**).
pub const RESPONDER_SOURCE: &str = "incident.responder";

/// The `detail` of a responder-bus event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleDetail {
    pub incident: IncidentSummary,
    pub signal: Signal,
    /// One human sentence: why this event was published.
    pub reason: String,
    /// How many signals the incident has absorbed so far, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_count: Option<u64>,
    /// What `enrich` found (`Incident Enriched`, and the runbook events after it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<Diagnosis>,
    /// The runbook execution (`Runbook Started`, `Runbook Finished`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automation: Option<RunbookRun>,
    /// What `resolve` decided after the signal recovered (`Incident Resolved`, and
    /// `Incident Updated` when the incident waits for a responder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
}

/// Where an incident stands after its signal recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionStatus {
    /// Verified and resolved by the responder.
    Resolved,
    /// The signal recovered, but verification failed or the rule leaves resolution to a
    /// responder: a human resolves it.
    AwaitingResponder,
}

/// `resolve`'s verdict on a recovered signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    pub status: ResolutionStatus,
    /// Whether every verification check passed.
    pub verified: bool,
    /// One sentence per check, e.g. "DescribeVpnConnections: both tunnels of vpn-… are UP".
    #[serde(default)]
    pub checks: Vec<String>,
    /// Why it was not resolved, for `AwaitingResponder`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_reason: Option<String>,
    /// The post-incident record, once written (`Resolved`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<ReportLink>,
    /// From the first signal to the resolution, in seconds, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_resolve_secs: Option<i64>,
}

/// A stored post-incident record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportLink {
    /// `s3://<bucket>/<key>`.
    pub uri: String,
    /// The object in the S3 console.
    pub url: String,
}

/// One event for the responder bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    pub kind: LifecycleKind,
    pub time: DateTime<Utc>,
    pub detail: LifecycleDetail,
}

/// Lowercase hex SHA-256 of the parts joined by a unit separator, cut to `len` characters.
/// Used for client tokens and fingerprints: stable, short, and free of characters a backend
/// might reject.
pub fn stable_hash(parts: &[&str], len: usize) -> String {
    let mut hasher = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update([0x1f]);
        }
        hasher.update(part.as_bytes());
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = hasher.finalize();
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out.truncate(len.min(64));
    out
}

/// The text on one line: whitespace runs (newlines included) become one space.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Cuts `text` to at most `max` characters (not bytes), marking the cut with `…`.
pub fn trim_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut with `…`.
pub fn trim_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let ellipsis = '…'.len_utf8();
    if max < ellipsis {
        return String::new();
    }
    let mut end = max - ellipsis;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = text[..end].to_string();
    out.push('…');
    out
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

    #[test]
    fn trimming_respects_characters() {
        assert_eq!(trim_chars("abcdef", 4), "abc…");
        assert_eq!(trim_chars("abc", 4), "abc");
        let s = "ééééé"; // 2 bytes each
        let t = trim_bytes(s, 6);
        assert!(t.len() <= 6);
        assert!(t.ends_with('…'));
        assert_eq!(trim_bytes("plain", 10), "plain");
    }

    #[test]
    fn stable_hash_is_stable_and_separates_parts() {
        assert_eq!(stable_hash(&["a", "b"], 16), stable_hash(&["a", "b"], 16));
        assert_ne!(stable_hash(&["ab", ""], 16), stable_hash(&["a", "b"], 16));
        assert_eq!(stable_hash(&["x"], 100).len(), 64);
    }
}
