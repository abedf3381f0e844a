//! GuardDuty findings, from the EventBridge `GuardDuty Finding` event.
//!
//! GuardDuty re-sends an active finding when it sees the activity again (same `id`, a later
//! `updatedAt`, a larger `service.count`): each such update is a distinct occurrence of the same
//! finding, so the fingerprint hashes `id` and `updatedAt`, and rules can correlate on the
//! finding id. Archived findings are not sent, so every finding fires.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{decode, fingerprint, summary_line, unique, Envelope, Parsed, SourceError, Timestamp};
use crate::arn;
use crate::domain::{Severity, Signal, SignalKind, SignalState};

pub(super) const DETAIL_TYPE: &str = "GuardDuty Finding";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Finding {
    id: String,
    #[serde(default)]
    arn: Option<String>,
    #[serde(rename = "type")]
    finding_type: String,
    /// 1.0–10.0; sent as an integer or a float.
    severity: f64,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    region: Option<String>,
    updated_at: Timestamp,
    #[serde(default)]
    resource: Option<Resource>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Resource {
    #[serde(default)]
    resource_type: Option<String>,
    #[serde(default)]
    instance_details: Option<InstanceDetails>,
    #[serde(default)]
    access_key_details: Option<AccessKeyDetails>,
    #[serde(default)]
    s3_bucket_details: Option<Vec<S3BucketDetails>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InstanceDetails {
    #[serde(default)]
    instance_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessKeyDetails {
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    user_type: Option<String>,
}

#[derive(Deserialize)]
struct S3BucketDetails {
    #[serde(default)]
    name: Option<String>,
}

pub(super) fn parse(event: &Value) -> Result<Parsed, SourceError> {
    let envelope: Envelope<Finding> = decode(DETAIL_TYPE, event)?;
    let finding = envelope.detail;
    let account = finding.account_id.unwrap_or(envelope.account);
    let region = finding.region.unwrap_or(envelope.region);
    let severity = severity(finding.severity);
    let resource = finding
        .resource
        .as_ref()
        .and_then(|r| resource_arn(r, &account, &region))
        .or_else(|| finding.arn.clone())
        .unwrap_or_else(|| finding.id.clone());
    let summary = format!(
        "GuardDuty {:.1} ({severity}): {}",
        finding.severity,
        finding.title.as_deref().unwrap_or(&finding.finding_type)
    );
    let signal = Signal {
        source: envelope.source,
        detail_type: envelope.detail_type,
        kind: SignalKind::GuardDutyFinding,
        state: SignalState::Firing,
        severity: Some(severity),
        severity_score: Some(finding.severity),
        account,
        region,
        time: finding.updated_at.time,
        event_id: envelope.id,
        fingerprint: fingerprint(&[&finding.id, &finding.updated_at.raw]),
        resources: unique([resource.clone()].into_iter().chain(finding.arn)),
        resource,
        tags: BTreeMap::new(),
        summary: summary_line(&summary),
        alarm_name: None,
        metrics: Vec::new(),
        finding_type: Some(finding.finding_type),
        finding_id: Some(finding.id),
        reason: None,
        product: None,
    };
    Ok(Parsed::Signals(vec![signal]))
}

/// GuardDuty's bands: low below 4, medium below 7, high below 9, critical from 9.
fn severity(score: f64) -> Severity {
    match score {
        s if s >= 9.0 => Severity::Critical,
        s if s >= 7.0 => Severity::High,
        s if s >= 4.0 => Severity::Medium,
        _ => Severity::Low,
    }
}

/// The ARN of the affected resource, where the finding says enough to form one.
fn resource_arn(resource: &Resource, account: &str, region: &str) -> Option<String> {
    match resource.resource_type.as_deref()? {
        "Instance" => {
            let id = resource.instance_details.as_ref()?.instance_id.as_deref()?;
            Some(arn::format(
                region,
                account,
                "ec2",
                &format!("instance/{id}"),
            ))
        }
        "AccessKey" => {
            let key = resource.access_key_details.as_ref()?;
            match (key.user_type.as_deref(), key.user_name.as_deref()) {
                (Some("Root"), _) => Some(arn::global(region, account, "iam", "root")),
                (Some("IAMUser") | None, Some(name)) if !name.is_empty() => {
                    Some(arn::global(region, account, "iam", &format!("user/{name}")))
                }
                _ => None,
            }
        }
        "S3Bucket" => {
            let buckets = resource.s3_bucket_details.as_ref()?;
            let name = buckets.iter().find_map(|b| b.name.as_deref())?;
            Some(arn::global(region, "", "s3", name))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::severity;
    use crate::domain::{stable_hash, Severity, SignalKind, SignalState};
    use crate::sources::tests::{error_of, fixture, signal_of};

    const FINDING_ARN: &str = "arn:aws:guardduty:us-east-1:111122223333:detector/123456789012345678901234567890ab/finding/16afba5c5c43e07c9e3e5e2e544e95df";

    #[test]
    fn a_high_finding_on_an_instance() {
        let s = signal_of(&fixture("guardduty-finding-high"));
        assert_eq!(s.source, "aws.guardduty");
        assert_eq!(s.detail_type, "GuardDuty Finding");
        assert_eq!(s.kind, SignalKind::GuardDutyFinding);
        assert_eq!(s.state, SignalState::Firing);
        assert_eq!(s.severity, Some(Severity::High));
        assert_eq!(s.severity_score, Some(8.0));
        assert_eq!(s.account, "111122223333");
        assert_eq!(s.region, "us-east-1");
        assert_eq!(
            s.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "2024-05-14T12:04:51.692Z"
        );
        assert_eq!(
            s.fingerprint,
            stable_hash(
                &[
                    "16afba5c5c43e07c9e3e5e2e544e95df",
                    "2024-05-14T12:04:51.692Z"
                ],
                32
            )
        );
        let instance = "arn:aws:ec2:us-east-1:111122223333:instance/i-0123456789abcdef0";
        assert_eq!(s.resource, instance);
        assert_eq!(s.resources, vec![instance, FINDING_ARN]);
        assert_eq!(
            s.finding_type.as_deref(),
            Some("Backdoor:EC2/C&CActivity.B!DNS")
        );
        assert_eq!(
            s.finding_id.as_deref(),
            Some("16afba5c5c43e07c9e3e5e2e544e95df")
        );
        assert_eq!(
            s.summary,
            "GuardDuty 8.0 (high): Command and Control server domain name queried by EC2 \
             instance i-0123456789abcdef0."
        );
    }

    #[test]
    fn a_low_finding_on_a_bucket() {
        let s = signal_of(&fixture("guardduty-finding-low"));
        assert_eq!(s.severity, Some(Severity::Low));
        assert_eq!(s.severity_score, Some(2.0));
        assert_eq!(s.resource, "arn:aws:s3:::example-reports-111122223333");
        assert!(s
            .summary
            .starts_with("GuardDuty 2.0 (low): Amazon S3 Block Public Access"));
    }

    #[test]
    fn a_repeat_is_a_new_occurrence_of_the_same_finding() {
        let first = signal_of(&fixture("guardduty-finding-high"));
        let mut event = fixture("guardduty-finding-high");
        event["detail"]["updatedAt"] = json!("2024-05-14T18:04:51.692Z");
        event["detail"]["service"]["count"] = json!(9);
        let repeat = signal_of(&event);
        assert_eq!(repeat.finding_id, first.finding_id);
        assert_eq!(repeat.resource, first.resource);
        assert_ne!(repeat.fingerprint, first.fingerprint);
        assert!(repeat.time > first.time);
    }

    #[test]
    fn access_keys_name_their_user() {
        let mut event = fixture("guardduty-finding-high");
        event["detail"]["resource"] = json!({
            "resourceType": "AccessKey",
            "accessKeyDetails": {"userName": "mary", "userType": "IAMUser"}
        });
        assert_eq!(
            signal_of(&event).resource,
            "arn:aws:iam::111122223333:user/mary"
        );
        event["detail"]["resource"]["accessKeyDetails"] =
            json!({"userName": "Root", "userType": "Root"});
        assert_eq!(signal_of(&event).resource, "arn:aws:iam::111122223333:root");
        event["detail"]["resource"]["accessKeyDetails"] =
            json!({"userName": "ops", "userType": "AssumedRole"});
        assert_eq!(signal_of(&event).resource, FINDING_ARN);
    }

    #[test]
    fn severity_bands() {
        let cases = [
            (1.0, Severity::Low),
            (3.9, Severity::Low),
            (4.0, Severity::Medium),
            (6.9, Severity::Medium),
            (7.0, Severity::High),
            (8.9, Severity::High),
            (9.0, Severity::Critical),
            (10.0, Severity::Critical),
        ];
        for (score, expected) in cases {
            assert_eq!(severity(score), expected, "{score}");
        }
    }

    #[test]
    fn a_textual_severity_is_an_error_naming_it() {
        let mut event = fixture("guardduty-finding-high");
        event["detail"]["severity"] = json!("HIGH");
        assert_eq!(
            error_of(&event).to_string(),
            "GuardDuty Finding event: detail.severity: invalid type: string \"HIGH\", expected f64"
        );
    }
}
