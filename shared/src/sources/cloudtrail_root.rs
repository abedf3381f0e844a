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

use super::{
    decode, fingerprint, partition, summary_line, unique, Envelope, Parsed, SourceError,
    Timestamp,
};
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

/// `detail_type` is one of [`SIGN_IN_DETAIL_TYPE`] and [`API_CALL_DETAIL_TYPE`].
pub(super) fn parse(event: &Value, detail_type: &str) -> Result<Parsed, SourceError> {
    let kind = if detail_type == SIGN_IN_DETAIL_TYPE {
        SIGN_IN_DETAIL_TYPE
    } else {
        API_CALL_DETAIL_TYPE
    };
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
        .unwrap_or_else(|| format!("arn:{}:iam::{account}:root", partition(&envelope.region)));

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
        (None, None) => detail.event_source.unwrap_or_else(|| "API call".to_string()),
    };
    let summary = format!(
        "Root user {} ({outcome}) from {} in {account}",
        detail.event_name,
        detail.source_ip_address.as_deref().unwrap_or("an unknown address"),
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
    };
    Ok(Parsed::Signals(vec![signal]))
}
