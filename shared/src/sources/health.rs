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

use super::{
    decode, fingerprint, partition, summary_line, unique, Envelope, Parsed, SourceError,
    Timestamp,
};
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
    let updated = detail.last_updated_time.as_ref().unwrap_or(&detail.start_time);

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
    };
    Ok(Parsed::Signals(vec![signal]))
}

/// A VPN connection id as its ARN; anything else as given.
fn entity_resource(id: String, region: &str, account: &str) -> String {
    if id.starts_with("vpn-") {
        format!(
            "arn:{}:ec2:{region}:{account}:vpn-connection/{id}",
            partition(region)
        )
    } else {
        id
    }
}
