//! The responder bus's events: what one stage tells the others.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{IncidentSummary, Signal};
use crate::diagnosis::{Diagnosis, RunbookRun};

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
    #[serde(rename = "Incident Escalated")]
    IncidentEscalated,
    #[serde(rename = "Incident Acknowledged")]
    IncidentAcknowledged,
    #[serde(rename = "Resolution Requested")]
    ResolutionRequested,
    #[serde(rename = "Signal Held")]
    SignalHeld,
    #[serde(rename = "Incident Silenced")]
    IncidentSilenced,
    #[serde(rename = "Changes Gathered")]
    ChangesGathered,
    #[serde(rename = "Resource Inspected")]
    ResourceInspected,
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
            LifecycleKind::IncidentEscalated => "Incident Escalated",
            LifecycleKind::IncidentAcknowledged => "Incident Acknowledged",
            LifecycleKind::ResolutionRequested => "Resolution Requested",
            LifecycleKind::SignalHeld => "Signal Held",
            LifecycleKind::IncidentSilenced => "Incident Silenced",
            LifecycleKind::ChangesGathered => "Changes Gathered",
            LifecycleKind::ResourceInspected => "Resource Inspected",
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
    /// Who was paged, or who acknowledged (`Incident Escalated`, `Incident Acknowledged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<EscalationNote>,
    /// A person's resolution (`Resolution Requested`): from a Slack button, or made in the
    /// console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<ResolutionRequest>,
    /// A firing signal held back by a window, a silence or an inhibition (`Signal Held`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<HoldNote>,
    /// A silence set, lifted or ended on the incident's key (`Incident Silenced`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silence: Option<SilenceNote>,
    /// What changed before the incident opened (`Changes Gathered`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<crate::changes::Changes>,
    /// The Lambda function, target group or RDS instance behind the alarm (`Resource
    /// Inspected`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inspection: Option<crate::inspect::Inspection>,
}

/// What holds a firing signal back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldKind {
    /// A maintenance window of the rules (or its Change Calendar) is open.
    Window,
    /// Someone silenced the signal's dedupe key from Slack.
    Silence,
    /// An inhibition: the incident of a dependency is open; the signal folded into it.
    Downstream,
}

impl HoldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldKind::Window => "window",
            HoldKind::Silence => "silence",
            HoldKind::Downstream => "downstream",
        }
    }
}

/// A firing signal triage held back instead of opening or joining (**contract**: the `hold` of
/// `Signal Held`). Its `incident` is the dependency's for a downstream signal, else the one the
/// signal would open (`id` empty) or join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldNote {
    pub kind: HoldKind,
    /// The window's or the inhibition's id, or who silenced the key.
    pub by: String,
    /// The held alarm or finding (the signal's subject).
    pub subject: String,
    /// When triage looks at the signal again: the window's or silence's end; for a downstream
    /// signal, its next check while the dependency's incident is open.
    pub recheck_at: DateTime<Utc>,
    /// Downstream signals folded into the dependency's incident so far, when this signal just
    /// folded (`downstream`; absent when it was looked at again and still folds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folded: Option<u64>,
}

/// What happened to a silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SilenceChange {
    /// Someone silenced the incident's key.
    Set,
    /// Someone lifted the silence before it ended.
    Lifted,
    /// The silence ran out while the incident's signals still fire.
    Ended,
}

/// A silence on an incident's dedupe key (**contract**: the `silence` of `Incident Silenced`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceNote {
    pub change: SilenceChange,
    /// Who set or lifted it ("someone in Slack": Chatbot names nobody).
    pub by: String,
    /// When it ends at the latest (the rules' `silences.max` caps it).
    pub until: DateTime<Utc>,
    /// Set with "until resolved": it also ends when the incident resolves.
    #[serde(default)]
    pub until_resolved: bool,
}

/// A person resolving an incident (**contract**: the `request` of `Resolution Requested`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolutionRequest {
    /// Who: a principal's ARN from the console's event, or "someone in Slack".
    pub by: String,
    /// `slack` or `console`.
    pub via: String,
    /// Already resolved in the backend (the console): resolve records it and closes nothing.
    pub closed: bool,
    pub at: DateTime<Utc>,
}

/// What `escalate` did: a page of the policy's stage and round, the end of escalation, or an
/// acknowledgement (**contract**: the `escalation` of `Incident Escalated` and `Incident
/// Acknowledged`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationNote {
    /// The policy, from the rules (`None` for an incident acknowledged without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The stage and round paged, both from 1 (`Incident Escalated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<u32>,
    /// The targets paged, by name from the rules' `escalation.targets`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paged: Vec<String>,
    /// Every stage paged and nobody acknowledged: escalation has ended.
    #[serde(default)]
    pub exhausted: bool,
    /// Since the incident opened, in seconds.
    pub unanswered_secs: i64,
    /// Who acknowledged, and through what (`slack`, `console`) (`Incident Acknowledged`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
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
    /// Who resolved it, when a person did (absent: the responder, after verification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
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
