//! Security Hub findings in the AWS Security Finding Format (ASFF), from the EventBridge
//! `Security Hub Findings - Imported` event.
//!
//! **One signal per finding.** `detail.findings` is an array; AWS sends one finding per event
//! today, but each finding has its own identity, resources and workflow state, so each is its
//! own signal and the handler treats them one by one. An event with no findings is not handled.
//!
//! The newer OCSF event (`Findings Imported V2`) has a different shape and is not handled here.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{decode, fingerprint, summary_line, unique, Envelope, Parsed, SourceError, Timestamp};
use crate::domain::{Severity, Signal, SignalKind, SignalState};

pub(super) const DETAIL_TYPE: &str = "Security Hub Findings - Imported";
pub(super) const OCSF_DETAIL_TYPE: &str = "Findings Imported V2";

#[derive(Deserialize)]
struct Detail {
    findings: Vec<Finding>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Finding {
    id: String,
    #[serde(default)]
    types: Vec<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    severity: Option<FindingSeverity>,
    #[serde(default)]
    resources: Vec<Resource>,
    #[serde(default)]
    aws_account_id: Option<String>,
    #[serde(default)]
    region: Option<String>,
    updated_at: Timestamp,
    #[serde(default)]
    workflow: Option<Status>,
    #[serde(default)]
    record_state: Option<String>,
    #[serde(default)]
    compliance: Option<Status>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FindingSeverity {
    #[serde(default)]
    label: Option<String>,
    /// 0–100.
    #[serde(default)]
    normalized: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Resource {
    id: String,
}

/// `Workflow` and `Compliance` both hold a `Status`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Status {
    #[serde(default)]
    status: Option<String>,
}

pub(super) fn parse(event: &Value) -> Result<Parsed, SourceError> {
    let (envelope, detail) = decode::<Envelope<Detail>>(DETAIL_TYPE, event)?.into_parts();
    if detail.findings.is_empty() {
        return Ok(Parsed::NotHandled(
            "Security Hub event without findings".to_string(),
        ));
    }
    let signals = detail
        .findings
        .into_iter()
        .map(|finding| to_signal(&envelope, finding))
        .collect();
    Ok(Parsed::Signals(signals))
}

fn to_signal(envelope: &Envelope<()>, finding: Finding) -> Signal {
    let severity = finding.severity.as_ref().and_then(asff_severity);
    let resource = finding
        .resources
        .first()
        .map(|r| r.id.clone())
        .unwrap_or_else(|| finding.id.clone());
    let summary = format!(
        "Security Hub {}: {} on {resource}",
        severity.map_or_else(|| "UNRATED".to_string(), |s| s.as_str().to_uppercase()),
        finding.title.as_deref().unwrap_or("untitled finding"),
    );
    Signal {
        source: envelope.source.clone(),
        detail_type: envelope.detail_type.clone(),
        kind: SignalKind::SecurityHubFinding,
        state: finding_state(&finding),
        severity,
        severity_score: finding.severity.as_ref().and_then(|s| s.normalized),
        account: finding
            .aws_account_id
            .unwrap_or_else(|| envelope.account.clone()),
        region: finding.region.unwrap_or_else(|| envelope.region.clone()),
        time: finding.updated_at.time,
        event_id: envelope.id.clone(),
        fingerprint: fingerprint(&[&finding.id, &finding.updated_at.raw]),
        resource,
        resources: unique(finding.resources.into_iter().map(|r| r.id)),
        tags: BTreeMap::new(),
        summary: summary_line(&summary),
        alarm_name: None,
        metrics: Vec::new(),
        finding_type: finding.types.into_iter().next(),
        finding_id: Some(finding.id),
        reason: None,
    }
}

/// Resolved, suppressed, archived or passed findings have recovered; everything else fires.
fn finding_state(finding: &Finding) -> SignalState {
    let is = |value: Option<&String>, expected: &[&str]| {
        value.is_some_and(|v| expected.iter().any(|e| v.eq_ignore_ascii_case(e)))
    };
    let recovered = is(
        finding.workflow.as_ref().and_then(|w| w.status.as_ref()),
        &["RESOLVED", "SUPPRESSED"],
    ) || is(finding.record_state.as_ref(), &["ARCHIVED"])
        || is(
            finding.compliance.as_ref().and_then(|c| c.status.as_ref()),
            &["PASSED"],
        );
    if recovered {
        SignalState::Recovered
    } else {
        SignalState::Firing
    }
}

/// `Severity.Label`, else the label ASFF documents for the `Normalized` score.
fn asff_severity(severity: &FindingSeverity) -> Option<Severity> {
    if let Some(label) = severity.label.as_deref().and_then(Severity::parse) {
        return Some(label);
    }
    severity.normalized.map(|score| match score {
        s if s >= 90.0 => Severity::Critical,
        s if s >= 70.0 => Severity::High,
        s if s >= 40.0 => Severity::Medium,
        s if s >= 1.0 => Severity::Low,
        _ => Severity::Informational,
    })
}
