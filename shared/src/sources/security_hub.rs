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
    /// The product that reported it (`GuardDuty` for GuardDuty's copies).
    #[serde(default)]
    product_name: Option<String>,
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
        product: finding.product_name.filter(|p| !p.trim().is_empty()),
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

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde_json::json;

    use crate::domain::{stable_hash, Severity, SignalKind, SignalState};
    use crate::sources::tests::{error_of, fixture, not_handled, signal_of, signals_of};

    const FINDING_ID: &str = "arn:aws:securityhub:us-east-1:111122223333:security-control/EC2.19/finding/3f2e1d0c-9b8a-4765-a4b3-c2d1e0f9a8b7";
    const SG_ARN: &str = "arn:aws:ec2:us-east-1:111122223333:security-group/sg-0123456789abcdef0";

    #[test]
    fn a_critical_finding_fires() {
        let s = signal_of(&fixture("securityhub-finding-critical"));
        assert_eq!(s.source, "aws.securityhub");
        assert_eq!(s.detail_type, "Security Hub Findings - Imported");
        assert_eq!(s.kind, SignalKind::SecurityHubFinding);
        assert_eq!(s.state, SignalState::Firing);
        assert_eq!(s.severity, Some(Severity::Critical));
        assert_eq!(s.severity_score, Some(90.0));
        assert_eq!(s.account, "111122223333");
        assert_eq!(s.region, "us-east-1");
        assert_eq!(
            Some(s.time),
            "2024-05-14T08:14:51.611Z".parse::<DateTime<Utc>>().ok()
        );
        assert_eq!(
            s.event_id.as_deref(),
            Some("1d4a6c2e-8b0f-4a3d-9e5c-7b1f3d5a9c2e")
        );
        assert_eq!(
            s.fingerprint,
            stable_hash(&[FINDING_ID, "2024-05-14T08:14:51.611Z"], 32)
        );
        assert_eq!(s.resource, SG_ARN);
        assert_eq!(s.resources, vec![SG_ARN]);
        assert_eq!(
            s.finding_type.as_deref(),
            Some("Software and Configuration Checks/Industry and Regulatory Standards")
        );
        assert_eq!(s.finding_id.as_deref(), Some(FINDING_ID));
        assert_eq!(
            s.summary,
            format!(
                "Security Hub CRITICAL: Security groups should not allow unrestricted access \
                 to ports with high risk on {SG_ARN}"
            )
        );
        assert_eq!(s.alarm_name, None);
        assert!(s.metrics.is_empty());
    }

    #[test]
    fn each_finding_is_its_own_signal() {
        let signals = signals_of(&fixture("securityhub-findings-multiple"));
        assert_eq!(signals.len(), 2);
        let (high, low) = (&signals[0], &signals[1]);
        assert_eq!(high.severity, Some(Severity::High));
        assert_eq!(high.resource, "arn:aws:s3:::example-reports-111122223333");
        assert_eq!(
            high.summary,
            "Security Hub HIGH: S3 general purpose buckets should block public access on \
             arn:aws:s3:::example-reports-111122223333"
        );
        assert_eq!(low.severity, Some(Severity::Low));
        assert_eq!(low.severity_score, Some(1.0));
        assert_eq!(
            low.resource,
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/management-events"
        );
        assert_ne!(high.fingerprint, low.fingerprint);
        assert_ne!(high.finding_id, low.finding_id);
        assert_eq!(high.event_id, low.event_id);
        assert!(signals.iter().all(|s| s.state == SignalState::Firing));
    }

    #[test]
    fn a_resolved_finding_recovers() {
        let firing = signal_of(&fixture("securityhub-finding-critical"));
        let resolved = signal_of(&fixture("securityhub-finding-resolved"));
        assert_eq!(resolved.state, SignalState::Recovered);
        assert_eq!(resolved.finding_id, firing.finding_id);
        assert_eq!(resolved.resource, firing.resource);
        assert_ne!(resolved.fingerprint, firing.fingerprint);
    }

    #[test]
    fn suppressed_archived_or_passed_findings_recover() {
        let cases = [
            ("/Workflow/Status", "SUPPRESSED"),
            ("/RecordState", "ARCHIVED"),
            ("/Compliance/Status", "PASSED"),
        ];
        for (pointer, value) in cases {
            let mut event = fixture("securityhub-finding-critical");
            if let Some(node) = event.pointer_mut(&format!("/detail/findings/0{pointer}")) {
                *node = json!(value);
            }
            assert_eq!(signal_of(&event).state, SignalState::Recovered, "{value}");
        }
    }

    #[test]
    fn without_a_label_the_normalized_score_decides() {
        let mut event = fixture("securityhub-finding-critical");
        event["detail"]["findings"][0]["Severity"] = json!({"Normalized": 45});
        let s = signal_of(&event);
        assert_eq!(s.severity, Some(Severity::Medium));
        assert!(s.summary.starts_with("Security Hub MEDIUM: "));

        event["detail"]["findings"][0]["Severity"] = json!({});
        let s = signal_of(&event);
        assert_eq!(s.severity, None);
        assert!(s.summary.starts_with("Security Hub UNRATED: "));
    }

    #[test]
    fn an_event_without_findings_is_not_handled() {
        let mut event = fixture("securityhub-finding-critical");
        event["detail"]["findings"] = json!([]);
        assert_eq!(not_handled(&event), "Security Hub event without findings");
    }

    #[test]
    fn ocsf_findings_are_not_handled_by_name() {
        let mut event = fixture("securityhub-finding-critical");
        event["detail-type"] = json!("Findings Imported V2");
        assert!(not_handled(&event).contains("`Findings Imported V2`"));
    }

    #[test]
    fn a_finding_without_id_is_an_error_naming_it() {
        let mut event = fixture("securityhub-findings-multiple");
        if let Some(finding) = event["detail"]["findings"][1].as_object_mut() {
            finding.remove("Id");
        }
        assert_eq!(
            error_of(&event).to_string(),
            "Security Hub Findings - Imported event: detail.findings[1]: missing field `Id`"
        );
    }
}
