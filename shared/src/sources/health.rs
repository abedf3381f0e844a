//! AWS Health events (`AWS Health Event`), for every service: rules decide which matter.
//!
//! Site-to-Site VPN sends, among others, `AWS_VPN_SINGLE_TUNNEL_NOTIFICATION` (a connection ran
//! on one tunnel for more than an hour in a day) and `AWS_VPN_REDUNDANCY_LOSS` (a tunnel endpoint
//! was replaced and redundancy was briefly lost). Their affected entities are VPN connection
//! ids (`vpn-…`), which become VPN connection ARNs.
//!
//! Closed events have recovered; open and upcoming ones fire. Severity is a default by category
//! (issue high, anything else low) for rules to override. Health writes times as RFC 1123
//! (`Sat, 05 Jun 2021 21:52:00 GMT`) or ISO 8601; both are accepted.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{decode, fingerprint, summary_line, unique, Envelope, Parsed, SourceError, Timestamp};
use crate::arn;
use crate::domain::{trim_chars, Severity, Signal, SignalKind, SignalState};

pub(super) const DETAIL_TYPE: &str = "AWS Health Event";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    event_arn: String,
    service: String,
    event_type_code: String,
    event_type_category: String,
    /// `open`, `upcoming` or `closed`.
    #[serde(default)]
    status_code: Option<String>,
    start_time: Timestamp,
    #[serde(default)]
    last_updated_time: Option<Timestamp>,
    #[serde(default)]
    event_description: Vec<Description>,
    #[serde(default)]
    affected_entities: Vec<AffectedEntity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Description {
    latest_description: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AffectedEntity {
    entity_value: String,
}

pub(super) fn parse(event: &Value) -> Result<Parsed, SourceError> {
    let envelope: Envelope<Detail> = decode(DETAIL_TYPE, event)?;
    let detail = envelope.detail;
    let status = detail.status_code.as_deref().unwrap_or("open");
    let updated = detail
        .last_updated_time
        .as_ref()
        .unwrap_or(&detail.start_time);

    let entity = |id: String| entity_resource(id, &envelope.region, &envelope.account);
    let resources = unique(
        detail
            .affected_entities
            .into_iter()
            .map(|e| e.entity_value)
            .chain(envelope.resources)
            .map(entity),
    );
    let description = detail
        .event_description
        .first()
        .map(|d| trim_chars(&d.latest_description, 150))
        .unwrap_or_default();
    let summary = format!(
        "AWS Health {} {} ({status}): {description}",
        detail.service, detail.event_type_code
    );

    let signal = Signal {
        source: envelope.source,
        detail_type: envelope.detail_type,
        kind: SignalKind::HealthEvent,
        state: if status.eq_ignore_ascii_case("closed") {
            SignalState::Recovered
        } else {
            SignalState::Firing
        },
        severity: Some(if detail.event_type_category == "issue" {
            Severity::High
        } else {
            Severity::Low
        }),
        severity_score: None,
        account: envelope.account,
        region: envelope.region,
        time: updated.time,
        event_id: envelope.id,
        fingerprint: fingerprint(&[&detail.event_arn, status, &updated.raw]),
        resource: resources
            .first()
            .cloned()
            .unwrap_or_else(|| detail.event_arn.clone()),
        resources,
        tags: BTreeMap::new(),
        summary: summary_line(&summary),
        alarm_name: None,
        metrics: Vec::new(),
        finding_type: Some(detail.event_type_code),
        finding_id: Some(detail.event_arn),
        reason: None,
        product: None,
    };
    Ok(Parsed::Signals(vec![signal]))
}

/// A VPN connection id as its ARN; anything else as given.
fn entity_resource(id: String, region: &str, account: &str) -> String {
    if id.starts_with("vpn-") {
        arn::format(region, account, "ec2", &format!("vpn-connection/{id}"))
    } else {
        id
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::domain::{stable_hash, Severity, SignalKind, SignalState};
    use crate::sources::tests::{error_of, fixture, signal_of};

    const VPN_ARN: &str = "arn:aws:ec2:eu-west-1:111122223333:vpn-connection/vpn-0123456789abcdef0";

    #[test]
    fn a_single_tunnel_notice_fires_on_the_vpn_connection() {
        let s = signal_of(&fixture("health-vpn-single-tunnel"));
        let arn = "arn:aws:health:eu-west-1::event/VPN/AWS_VPN_SINGLE_TUNNEL_NOTIFICATION/AWS_VPN_SINGLE_TUNNEL_NOTIFICATION-1714543254164-6104858-DUB";
        assert_eq!(s.source, "aws.health");
        assert_eq!(s.detail_type, "AWS Health Event");
        assert_eq!(s.kind, SignalKind::HealthEvent);
        assert_eq!(s.state, SignalState::Firing);
        assert_eq!(s.severity, Some(Severity::Low));
        assert_eq!(s.account, "111122223333");
        assert_eq!(s.region, "eu-west-1");
        assert_eq!(s.time.to_rfc3339(), "2024-05-01T06:00:54+00:00");
        assert_eq!(
            s.fingerprint,
            stable_hash(&[arn, "open", "Wed, 01 May 2024 06:00:54 GMT"], 32)
        );
        assert_eq!(s.resource, VPN_ARN);
        assert_eq!(s.resources, vec![VPN_ARN]);
        assert!(s.tags.is_empty());
        assert_eq!(s.alarm_name, None);
        assert_eq!(
            s.finding_type.as_deref(),
            Some("AWS_VPN_SINGLE_TUNNEL_NOTIFICATION")
        );
        assert_eq!(s.finding_id.as_deref(), Some(arn));
        assert_eq!(
            s.summary,
            "AWS Health VPN AWS_VPN_SINGLE_TUNNEL_NOTIFICATION (open): You have one or more \
             VPN connections in the EU-WEST-1 Region that were detected with only one tunnel \
             up for more than one hour in a day. A Site-to-Si…"
        );
    }

    #[test]
    fn a_tunnel_endpoint_replacement_notice() {
        let s = signal_of(&fixture("health-vpn-tunnel-endpoint-replacement"));
        assert_eq!(s.finding_type.as_deref(), Some("AWS_VPN_REDUNDANCY_LOSS"));
        assert_eq!(s.state, SignalState::Firing);
        assert_eq!(s.resource, VPN_ARN);
        // lastUpdatedTime wins over startTime.
        assert_eq!(s.time.to_rfc3339(), "2024-05-20T10:02:58+00:00");
    }

    #[test]
    fn a_closed_event_recovers_as_a_new_occurrence() {
        let open = signal_of(&fixture("health-vpn-tunnel-endpoint-replacement"));
        let mut event = fixture("health-vpn-tunnel-endpoint-replacement");
        event["detail"]["statusCode"] = json!("closed");
        let closed = signal_of(&event);
        assert_eq!(closed.state, SignalState::Recovered);
        assert_eq!(closed.finding_id, open.finding_id);
        assert_ne!(closed.fingerprint, open.fingerprint);
    }

    #[test]
    fn iso_times_other_services_and_issues() {
        let mut event = fixture("health-vpn-single-tunnel");
        event["detail"]["service"] = json!("EC2");
        event["detail"]["eventTypeCode"] = json!("AWS_EC2_OPERATIONAL_ISSUE");
        event["detail"]["eventTypeCategory"] = json!("issue");
        event["detail"]["startTime"] = json!("2024-05-01T05:00:00Z");
        event["detail"]["lastUpdatedTime"] = json!("2024-05-01T06:30:00.000Z");
        event["detail"]["affectedEntities"] = json!([{"entityValue": "i-0123456789abcdef0"}]);
        event["resources"] = json!([]);
        let s = signal_of(&event);
        assert_eq!(s.severity, Some(Severity::High));
        assert_eq!(s.time.to_rfc3339(), "2024-05-01T06:30:00+00:00");
        assert_eq!(s.resources, vec!["i-0123456789abcdef0"]);
        assert!(s
            .summary
            .starts_with("AWS Health EC2 AWS_EC2_OPERATIONAL_ISSUE (open): "));
    }

    #[test]
    fn without_entities_the_event_itself_is_the_resource() {
        let mut event = fixture("health-vpn-single-tunnel");
        event["detail"]["affectedEntities"] = json!([]);
        event["resources"] = json!([]);
        let s = signal_of(&event);
        assert_eq!(s.finding_id.as_ref(), Some(&s.resource));
        assert_eq!(s.resources, Vec::<String>::new());
    }

    #[test]
    fn a_bad_start_time_is_an_error_naming_it() {
        let mut event = fixture("health-vpn-single-tunnel");
        event["detail"]["startTime"] = json!("soon");
        assert_eq!(
            error_of(&event).to_string(),
            "AWS Health Event event: detail.startTime: invalid timestamp `soon`: expected \
             RFC 3339, ISO 8601 or RFC 1123"
        );
    }
}
