//! What people do in the console, as AWS tells it (**contract**, README "Escalation"):
//!
//! - OpsCenter's `OpsItem Update` (source `aws.ssm`): `detail.ops-item-id`, `detail.status`,
//!   `detail.modified-by`. `InProgress` set by a person acknowledges; `Resolved` resolves.
//! - Incident Manager has no events of its own: its `UpdateIncidentRecord` calls arrive as
//!   `AWS API Call via CloudTrail` (source `aws.ssm-incidents`; this needs a CloudTrail trail),
//!   `detail.requestParameters.{arn, status}`, `detail.userIdentity`. `RESOLVED` resolves
//!   (Incident Manager has no acknowledged status for an incident).
//!
//! A change made by one of the responder's own roles (`RESPONDER_ROLE_ARNS`, compared by
//! account and role name, whether the event names the role or its assumed-role session) is
//! the responder's and is ignored.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::arn::Arn;
use crate::shell::StageError;

/// What a person did to an incident in the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleChange {
    /// The incident: an OpsItem id or an incident record ARN.
    pub incident: String,
    pub change: Change,
    /// Who: the principal's ARN as the event gives it.
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Acknowledged,
    Resolved,
    /// Any other status: nothing to do.
    Other,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "detail-type")]
    detail_type: String,
    source: String,
    #[serde(default)]
    time: Option<DateTime<Utc>>,
    detail: Value,
}

#[derive(Deserialize)]
struct OpsItemUpdate {
    #[serde(rename = "ops-item-id")]
    ops_item_id: String,
    status: String,
    #[serde(rename = "modified-by")]
    modified_by: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiCall {
    event_name: String,
    #[serde(default)]
    error_code: Option<String>,
    user_identity: Identity,
    #[serde(default)]
    request_parameters: Option<UpdateIncidentRecord>,
}

#[derive(Deserialize)]
struct Identity {
    #[serde(default)]
    arn: Option<String>,
    #[serde(default, rename = "sessionContext")]
    session: Option<Session>,
}

#[derive(Deserialize)]
struct Session {
    #[serde(default, rename = "sessionIssuer")]
    issuer: Option<Issuer>,
}

#[derive(Deserialize)]
struct Issuer {
    #[serde(default)]
    arn: Option<String>,
}

#[derive(Deserialize)]
struct UpdateIncidentRecord {
    arn: String,
    #[serde(default)]
    status: Option<String>,
}

fn malformed(what: &str, e: impl std::fmt::Display) -> StageError {
    StageError::MalformedEvent(format!("{what} event: {e}"))
}

/// Reads a console change, `None` for an event of another kind. A failed API call is `Other`.
pub fn parse(event: &Value) -> Result<Option<ConsoleChange>, StageError> {
    let source = event.get("source").and_then(Value::as_str);
    let kind = event.get("detail-type").and_then(Value::as_str);
    match (source, kind) {
        (Some("aws.ssm"), Some("OpsItem Update")) => {}
        (Some("aws.ssm-incidents"), Some("AWS API Call via CloudTrail")) => {}
        _ => return Ok(None),
    }
    let envelope: Envelope =
        serde_json::from_value(event.clone()).map_err(|e| malformed("a console", e))?;
    let at = envelope.time.unwrap_or_else(Utc::now);
    if envelope.source == "aws.ssm" {
        let what = "`OpsItem Update`";
        let update: OpsItemUpdate = serde_path_to_error::deserialize(&envelope.detail)
            .map_err(|e| malformed(what, format!("detail.{}: {}", e.path(), e.inner())))?;
        let change = match update.status.as_str() {
            "InProgress" => Change::Acknowledged,
            "Resolved" => Change::Resolved,
            _ => Change::Other,
        };
        return Ok(Some(ConsoleChange {
            incident: update.ops_item_id,
            change,
            by: update.modified_by,
            at,
        }));
    }
    let what = format!("`{}`", envelope.detail_type);
    let call: ApiCall = serde_path_to_error::deserialize(&envelope.detail)
        .map_err(|e| malformed(&what, format!("detail.{}: {}", e.path(), e.inner())))?;
    let Some(update) = call
        .request_parameters
        .filter(|_| call.event_name == "UpdateIncidentRecord")
    else {
        return Ok(None);
    };
    let change = match (update.status.as_deref(), &call.error_code) {
        (Some("RESOLVED"), None) => Change::Resolved,
        _ => Change::Other,
    };
    let by = call
        .user_identity
        .arn
        .or_else(|| call.user_identity.session.and_then(|s| s.issuer?.arn))
        .unwrap_or_else(|| "an unknown principal".to_string());
    Ok(Some(ConsoleChange {
        incident: update.arn,
        change,
        by,
        at,
    }))
}

/// `(account, role name)` of a role ARN (`arn:…:iam::<account>:role/<path/>name`) or of an
/// assumed-role session (`arn:…:sts::<account>:assumed-role/<name>/<session>`).
pub fn role_of(arn: &str) -> Option<(&str, &str)> {
    let arn = Arn::parse(arn)?;
    let name = match arn.service {
        "iam" => arn.resource.strip_prefix("role/")?.rsplit('/').next()?,
        "sts" => arn
            .resource
            .strip_prefix("assumed-role/")?
            .split('/')
            .next()?,
        _ => return None,
    };
    (!name.is_empty()).then_some((arn.account, name))
}

/// Whether `by` is one of `roles` (role ARNs), as a role or a session of it.
pub fn is_responder(by: &str, roles: &[String]) -> bool {
    let Some(who) = role_of(by) else {
        return false;
    };
    roles.iter().any(|r| role_of(r) == Some(who))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::testkit::fixture;

    #[test]
    fn an_opsitem_update_says_who_set_which_status() {
        let change = parse(&fixture("ssm-opsitem-update")).unwrap().unwrap();
        assert_eq!(change.incident, "oi-0123456789ab");
        assert_eq!(change.change, Change::Acknowledged);
        assert_eq!(change.by, "arn:aws:iam::111122223333:user/JaneDoe");
        let mut resolved = fixture("ssm-opsitem-update");
        resolved["detail"]["status"] = "Resolved".into();
        assert_eq!(parse(&resolved).unwrap().unwrap().change, Change::Resolved);
        resolved["detail"]["status"] = "Open".into();
        assert_eq!(parse(&resolved).unwrap().unwrap().change, Change::Other);
    }

    #[test]
    fn an_incident_manager_resolution_comes_through_cloudtrail() {
        let event = fixture("cloudtrail-ssm-incidents-update-incident-record");
        let change = parse(&event).unwrap().unwrap();
        assert_eq!(
            change.incident,
            "arn:aws:ssm-incidents::111122223333:incident-record/responder/00000001"
        );
        assert_eq!(change.change, Change::Resolved);
        assert_eq!(
            change.by,
            "arn:aws:sts::111122223333:assumed-role/OnCallEngineer/jane.doe"
        );
        let mut failed = event.clone();
        failed["detail"]["errorCode"] = "AccessDeniedException".into();
        assert_eq!(parse(&failed).unwrap().unwrap().change, Change::Other);
        let mut impact = event.clone();
        impact["detail"]["requestParameters"] = serde_json::json!({"arn": "x", "impact": 1});
        assert_eq!(parse(&impact).unwrap().unwrap().change, Change::Other);
        let mut other = event;
        other["detail"]["eventName"] = "CreateTimelineEvent".into();
        assert_eq!(parse(&other).unwrap(), None);
    }

    #[test]
    fn malformed_console_events_name_the_field() {
        let mut event = fixture("ssm-opsitem-update");
        event["detail"]
            .as_object_mut()
            .unwrap()
            .remove("modified-by");
        let err = parse(&event).err().unwrap().to_string();
        assert!(err.contains("modified-by"), "{err}");
    }

    #[test]
    fn the_responders_own_roles_are_recognised_as_role_or_session() {
        let roles = vec![
            "arn:aws:iam::111122223333:role/responder-TriageRole-1A2B3C4D5E6F".to_string(),
            "arn:aws:iam::111122223333:role/service/responder-ResolveRole-9Z8Y".to_string(),
        ];
        for ours in [
            "arn:aws:sts::111122223333:assumed-role/responder-TriageRole-1A2B3C4D5E6F/responder-triage",
            "arn:aws:iam::111122223333:role/responder-TriageRole-1A2B3C4D5E6F",
            "arn:aws:sts::111122223333:assumed-role/responder-ResolveRole-9Z8Y/responder-resolve",
        ] {
            assert!(is_responder(ours, &roles), "{ours}");
        }
        for theirs in [
            "arn:aws:iam::111122223333:user/JaneDoe",
            "arn:aws:sts::444455556666:assumed-role/responder-TriageRole-1A2B3C4D5E6F/x",
            "arn:aws:sts::111122223333:assumed-role/OnCallEngineer/jane.doe",
            "not an arn",
        ] {
            assert!(!is_responder(theirs, &roles), "{theirs}");
        }
    }
}
