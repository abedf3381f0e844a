//! Root-account activity seen by CloudTrail: the EventBridge `AWS Console Sign In via
//! CloudTrail` (source `aws.signin`) and `AWS API Call via CloudTrail` (source `aws.<service>`)
//! events, accepted from any source.
//!
//! Only the root user is a signal. Any other identity, and root calls made by an AWS service on
//! the account's behalf (`userIdentity.invokedBy`), are not handled. The identity is read first,
//! so a non-root event is never rejected for the shape of the rest of its detail.
//!
//! Severity: a successful root console sign-in is critical, a failed one medium, any other root
//! activity high.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{decode, fingerprint, summary_line, unique, Envelope, Parsed, SourceError, Timestamp};
use crate::arn;
use crate::domain::{trim_chars, Severity, Signal, SignalKind, SignalState};

pub(super) const SIGN_IN_DETAIL_TYPE: &str = "AWS Console Sign In via CloudTrail";
pub(super) const API_CALL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";

/// Just enough of the detail to decide whether the event is ours.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentityOnly {
    user_identity: UserIdentity,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity {
    #[serde(rename = "type", default)]
    identity_type: Option<String>,
    #[serde(default)]
    arn: Option<String>,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    invoked_by: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    user_identity: UserIdentity,
    event_time: Timestamp,
    #[serde(default)]
    event_source: Option<String>,
    event_name: String,
    #[serde(rename = "eventID")]
    event_id: String,
    #[serde(rename = "sourceIPAddress", default)]
    source_ip_address: Option<String>,
    /// Free-form per API; for a console sign-in, `{"ConsoleLogin": "Success" | "Failure"}`.
    #[serde(default)]
    response_elements: Option<Value>,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    resources: Option<Vec<TrailResource>>,
}

#[derive(Deserialize)]
struct TrailResource {
    #[serde(rename = "ARN", default)]
    arn: Option<String>,
}

/// `kind` is the event's detail-type, [`SIGN_IN_DETAIL_TYPE`] or [`API_CALL_DETAIL_TYPE`].
pub(super) fn parse(event: &Value, kind: &'static str) -> Result<Parsed, SourceError> {
    let identity = decode::<Envelope<IdentityOnly>>(kind, event)?
        .detail
        .user_identity;
    match identity.identity_type.as_deref() {
        Some("Root") => {}
        Some(other) => {
            return Ok(Parsed::NotHandled(format!(
                "CloudTrail event by {}, not the root user",
                trim_chars(other, 100)
            )))
        }
        None => {
            return Ok(Parsed::NotHandled(
                "CloudTrail event by an identity without a type, not the root user".to_string(),
            ))
        }
    }
    if let Some(service) = identity.invoked_by {
        return Ok(Parsed::NotHandled(format!(
            "CloudTrail event by the root user through the AWS service `{}`, not a person",
            trim_chars(&service, 100)
        )));
    }

    let envelope: Envelope<Detail> = decode(kind, event)?;
    let detail = envelope.detail;
    let account = detail
        .user_identity
        .account_id
        .unwrap_or_else(|| envelope.account.clone());
    let root_arn = detail
        .user_identity
        .arn
        .unwrap_or_else(|| arn::global(&envelope.region, &account, "iam", "root"));

    let console_login = detail
        .response_elements
        .as_ref()
        .and_then(|r| r.get("ConsoleLogin"))
        .and_then(Value::as_str);
    let severity = match console_login {
        Some("Success") => Severity::Critical,
        Some("Failure") => Severity::Medium,
        _ => Severity::High,
    };
    let outcome = match (console_login, &detail.error_code) {
        (Some(login), _) => login.to_string(),
        (None, Some(error)) => format!("failed: {error}"),
        (None, None) => detail
            .event_source
            .unwrap_or_else(|| "API call".to_string()),
    };
    let summary = format!(
        "Root user {} ({outcome}) from {} in {account}",
        detail.event_name,
        detail
            .source_ip_address
            .as_deref()
            .unwrap_or("an unknown address"),
    );
    let resources = unique(
        [root_arn.clone()].into_iter().chain(
            detail
                .resources
                .unwrap_or_default()
                .into_iter()
                .filter_map(|r| r.arn),
        ),
    );

    let signal = Signal {
        source: envelope.source,
        detail_type: envelope.detail_type,
        kind: SignalKind::RootActivity,
        state: SignalState::Firing,
        severity: Some(severity),
        severity_score: None,
        account,
        region: envelope.region,
        time: detail.event_time.time,
        event_id: envelope.id,
        fingerprint: fingerprint(&[&detail.event_id]),
        resource: root_arn,
        resources,
        tags: BTreeMap::new(),
        summary: summary_line(&summary),
        alarm_name: None,
        metrics: Vec::new(),
        finding_type: Some(detail.event_name),
        finding_id: Some(detail.event_id),
        reason: None,
        product: None,
    };
    Ok(Parsed::Signals(vec![signal]))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::domain::{stable_hash, Severity, SignalKind, SignalState};
    use crate::sources::tests::{error_of, fixture, not_handled, signal_of};

    const ROOT: &str = "arn:aws:iam::111122223333:root";

    #[test]
    fn a_root_console_sign_in_is_critical() {
        let s = signal_of(&fixture("cloudtrail-root-console-signin"));
        assert_eq!(s.source, "aws.signin");
        assert_eq!(s.detail_type, "AWS Console Sign In via CloudTrail");
        assert_eq!(s.kind, SignalKind::RootActivity);
        assert_eq!(s.state, SignalState::Firing);
        assert_eq!(s.severity, Some(Severity::Critical));
        assert_eq!(s.account, "111122223333");
        assert_eq!(s.region, "us-east-1");
        assert_eq!(s.time.to_rfc3339(), "2024-05-14T22:47:03+00:00");
        assert_eq!(
            s.fingerprint,
            stable_hash(&["3e2f9c4a-7d1b-4e8f-a6c5-0b9d8e7f6a5c"], 32)
        );
        assert_eq!(s.resource, ROOT);
        assert_eq!(s.resources, vec![ROOT]);
        assert_eq!(s.finding_type.as_deref(), Some("ConsoleLogin"));
        assert_eq!(
            s.finding_id.as_deref(),
            Some("3e2f9c4a-7d1b-4e8f-a6c5-0b9d8e7f6a5c")
        );
        assert_eq!(
            s.summary,
            "Root user ConsoleLogin (Success) from 203.0.113.5 in 111122223333"
        );
    }

    #[test]
    fn root_activity_comes_only_from_cloudtrail_sources() {
        // Anyone may put events with their own source on a bus; only AWS puts `aws.*`.
        for (fixture_name, forged) in [
            ("cloudtrail-root-console-signin", "custom.signin"),
            ("cloudtrail-root-console-signin", "aws.kms"),
            ("cloudtrail-root-api-call", "acme.kms"),
        ] {
            let mut event = fixture(fixture_name);
            event["source"] = json!(forged);
            let reason = not_handled(&event);
            assert!(reason.contains("no parser"), "{forged}: {reason}");
        }
    }

    #[test]
    fn a_failed_root_sign_in_is_medium() {
        let mut event = fixture("cloudtrail-root-console-signin");
        event["detail"]["responseElements"]["ConsoleLogin"] = json!("Failure");
        let s = signal_of(&event);
        assert_eq!(s.severity, Some(Severity::Medium));
        assert_eq!(
            s.summary,
            "Root user ConsoleLogin (Failure) from 203.0.113.5 in 111122223333"
        );
    }

    #[test]
    fn a_root_api_call_is_high_and_names_its_resources() {
        let s = signal_of(&fixture("cloudtrail-root-api-call"));
        assert_eq!(s.source, "aws.kms");
        assert_eq!(s.detail_type, "AWS API Call via CloudTrail");
        assert_eq!(s.severity, Some(Severity::High));
        assert_eq!(s.resource, ROOT);
        assert_eq!(
            s.resources,
            vec![
                ROOT,
                "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
            ]
        );
        assert_eq!(s.finding_type.as_deref(), Some("ScheduleKeyDeletion"));
        assert_eq!(
            s.summary,
            "Root user ScheduleKeyDeletion (kms.amazonaws.com) from 203.0.113.5 in 111122223333"
        );
    }

    #[test]
    fn a_denied_root_api_call_says_so() {
        let mut event = fixture("cloudtrail-root-api-call");
        event["detail"]["errorCode"] = json!("AccessDenied");
        assert!(signal_of(&event)
            .summary
            .starts_with("Root user ScheduleKeyDeletion (failed: AccessDenied) from"));
    }

    #[test]
    fn other_identities_are_not_handled() {
        assert_eq!(
            not_handled(&fixture("cloudtrail-iamuser-console-signin")),
            "CloudTrail event by IAMUser, not the root user"
        );
        // Whatever the rest of their detail looks like.
        let mut event = fixture("cloudtrail-iamuser-console-signin");
        event["detail"]["userIdentity"]["type"] = json!("AssumedRole");
        if let Some(detail) = event["detail"].as_object_mut() {
            detail.remove("eventID");
        }
        assert_eq!(
            not_handled(&event),
            "CloudTrail event by AssumedRole, not the root user"
        );
    }

    #[test]
    fn root_calls_made_by_an_aws_service_are_not_handled() {
        let mut event = fixture("cloudtrail-root-api-call");
        event["detail"]["userIdentity"]["invokedBy"] = json!("cloudformation.amazonaws.com");
        assert!(not_handled(&event).contains("`cloudformation.amazonaws.com`"));
    }

    #[test]
    fn a_root_identity_without_arn_gets_the_root_arn() {
        let mut event = fixture("cloudtrail-root-console-signin");
        if let Some(identity) = event["detail"]["userIdentity"].as_object_mut() {
            identity.remove("arn");
        }
        assert_eq!(signal_of(&event).resource, ROOT);
    }

    #[test]
    fn a_root_event_without_event_id_is_an_error() {
        let mut event = fixture("cloudtrail-root-console-signin");
        if let Some(detail) = event["detail"].as_object_mut() {
            detail.remove("eventID");
        }
        assert_eq!(
            error_of(&event).to_string(),
            "AWS Console Sign In via CloudTrail event: detail: missing field `eventID`"
        );
    }
}
