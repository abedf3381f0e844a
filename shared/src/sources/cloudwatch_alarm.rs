//! CloudWatch alarm state changes: the EventBridge `CloudWatch Alarm State Change` event and
//! the payload an alarm sends when it invokes a Lambda function directly (its "Lambda action").
//!
//! Both carry the same alarm data (`alarmName`, `state`, `configuration`, …) and give the same
//! signal, except for `detail_type` (`CloudWatch Alarm Lambda Action` for the direct payload) and
//! `event_id` (EventBridge only). The fingerprint hashes the alarm ARN, the state value and the
//! state timestamp as sent, so one transition arriving both ways is recognised as one.
//!
//! Metric alarms list their queries in `configuration.metrics` (a plain `metricStat`, or
//! metric-math `expression`s beside the `metricStat`s they combine); composite alarms have
//! `configuration.alarmRule` instead, and name the child alarms that triggered them in
//! `state.reasonData`, a JSON document inside a string.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{
    decode, fingerprint, push_unique, summary_line, Envelope, Parsed, SourceError, Timestamp,
};
use crate::arn;
use crate::domain::{trim_chars, MetricRef, Signal, SignalKind, SignalState};

pub(super) const DETAIL_TYPE: &str = "CloudWatch Alarm State Change";
const LAMBDA_ACTION_DETAIL_TYPE: &str = "CloudWatch Alarm Lambda Action";
const SOURCE: &str = "aws.cloudwatch";

/// The payload of an alarm's Lambda action.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LambdaAction {
    source: String,
    alarm_arn: String,
    account_id: String,
    region: String,
    alarm_data: AlarmData,
}

/// `detail` of the EventBridge event, `alarmData` of the Lambda action.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlarmData {
    alarm_name: String,
    state: AlarmState,
    #[serde(default)]
    configuration: Option<Configuration>,
    /// Present only where the alarm's tag propagation is on.
    #[serde(default)]
    alarm_tags: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AlarmState {
    value: StateValue,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    reason_data: Option<String>,
    timestamp: Timestamp,
}

#[derive(Debug, Clone, Copy, Deserialize)]
enum StateValue {
    #[serde(rename = "OK")]
    Ok,
    #[serde(rename = "ALARM")]
    Alarm,
    #[serde(rename = "INSUFFICIENT_DATA")]
    InsufficientData,
}

impl StateValue {
    fn as_str(self) -> &'static str {
        match self {
            StateValue::Ok => "OK",
            StateValue::Alarm => "ALARM",
            StateValue::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    fn signal_state(self) -> SignalState {
        match self {
            StateValue::Alarm => SignalState::Firing,
            StateValue::Ok => SignalState::Recovered,
            StateValue::InsufficientData => SignalState::Informational,
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Configuration {
    #[serde(default)]
    metrics: Vec<MetricQuery>,
    /// Only composite alarms have one.
    #[serde(default)]
    alarm_rule: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricQuery {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    metric_stat: Option<MetricStat>,
    #[serde(default)]
    expression: Option<String>,
    /// The period of an expression query (a `metricStat` has its own).
    #[serde(default)]
    period: Option<u32>,
    #[serde(default)]
    return_data: Option<bool>,
}

#[derive(Deserialize)]
struct MetricStat {
    metric: Metric,
    #[serde(default)]
    period: Option<u32>,
    #[serde(default)]
    stat: Option<String>,
}

#[derive(Deserialize)]
struct Metric {
    namespace: String,
    name: String,
    #[serde(default)]
    dimensions: BTreeMap<String, String>,
}

/// The parsed `state.reasonData` of a composite alarm.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompositeReason {
    #[serde(default)]
    triggering_alarms: Vec<TriggeringAlarm>,
}

#[derive(Deserialize)]
struct TriggeringAlarm {
    arn: String,
}

/// Where the alarm data came from.
struct Origin {
    detail_type: String,
    event_id: Option<String>,
    account: String,
    region: String,
    alarm_arn: String,
}

pub(super) fn parse_eventbridge(event: &Value) -> Result<Parsed, SourceError> {
    let envelope: Envelope<AlarmData> = decode(DETAIL_TYPE, event)?;
    let alarm_arn = match envelope.resources.first() {
        Some(arn) => arn.clone(),
        None => arn::format(
            &envelope.region,
            &envelope.account,
            "cloudwatch",
            &format!("alarm:{}", envelope.detail.alarm_name),
        ),
    };
    let origin = Origin {
        detail_type: envelope.detail_type,
        event_id: envelope.id,
        account: envelope.account,
        region: envelope.region,
        alarm_arn,
    };
    Ok(Parsed::Signals(vec![to_signal(origin, envelope.detail)]))
}

pub(super) fn parse_lambda_action(event: &Value) -> Result<Parsed, SourceError> {
    let action: LambdaAction = decode(LAMBDA_ACTION_DETAIL_TYPE, event)?;
    if action.source != SOURCE {
        return Ok(Parsed::NotHandled(format!(
            "alarm action payload from source `{}`, expected `{SOURCE}`",
            trim_chars(&action.source, 100)
        )));
    }
    let origin = Origin {
        detail_type: LAMBDA_ACTION_DETAIL_TYPE.to_string(),
        event_id: None,
        account: action.account_id,
        region: action.region,
        alarm_arn: action.alarm_arn,
    };
    Ok(Parsed::Signals(vec![to_signal(origin, action.alarm_data)]))
}

fn to_signal(origin: Origin, alarm: AlarmData) -> Signal {
    let configuration = alarm.configuration.unwrap_or_default();
    let composite = configuration.alarm_rule.is_some();
    let metrics: Vec<MetricRef> = configuration.metrics.into_iter().map(metric_ref).collect();

    let mut resources = vec![origin.alarm_arn.clone()];
    if composite {
        for arn in triggering_alarms(alarm.state.reason_data.as_deref()) {
            push_unique(&mut resources, arn);
        }
    }
    for metric in &metrics {
        for (name, value) in &metric.dimensions {
            if let Some(resource) = dimension_resource(name, value, &origin.region, &origin.account)
            {
                push_unique(&mut resources, resource);
            }
        }
    }

    let state = alarm.state.value;
    let reason = alarm.state.reason.filter(|r| !r.trim().is_empty());
    let summary = match &reason {
        Some(reason) => format!("{}: {} — {reason}", alarm.alarm_name, state.as_str()),
        None => format!("{}: {}", alarm.alarm_name, state.as_str()),
    };

    Signal {
        source: SOURCE.to_string(),
        detail_type: origin.detail_type,
        kind: if composite {
            SignalKind::CompositeAlarm
        } else {
            SignalKind::MetricAlarm
        },
        state: state.signal_state(),
        severity: None,
        severity_score: None,
        account: origin.account,
        region: origin.region,
        time: alarm.state.timestamp.time,
        event_id: origin.event_id,
        fingerprint: fingerprint(&[
            &origin.alarm_arn,
            state.as_str(),
            &alarm.state.timestamp.raw,
        ]),
        resource: origin.alarm_arn,
        resources,
        tags: alarm.alarm_tags.unwrap_or_default(),
        summary: summary_line(&summary),
        alarm_name: Some(alarm.alarm_name),
        metrics,
        finding_type: None,
        finding_id: None,
        reason,
        product: None,
    }
}

fn metric_ref(query: MetricQuery) -> MetricRef {
    let return_data = query.return_data.unwrap_or(true); // CloudWatch's default
    match query.metric_stat {
        Some(stat) => MetricRef {
            id: query.id,
            namespace: Some(stat.metric.namespace),
            name: Some(stat.metric.name),
            dimensions: stat.metric.dimensions,
            stat: stat.stat,
            period: stat.period.or(query.period),
            expression: query.expression,
            return_data,
        },
        None => MetricRef {
            id: query.id,
            period: query.period,
            expression: query.expression,
            return_data,
            ..MetricRef::default()
        },
    }
}

/// The child alarms a composite alarm names in its `reasonData`; nothing if that is absent or
/// not the documented JSON (it is informative, not essential).
fn triggering_alarms(reason_data: Option<&str>) -> Vec<String> {
    reason_data
        .and_then(|data| serde_json::from_str::<CompositeReason>(data).ok())
        .map(|reason| {
            reason
                .triggering_alarms
                .into_iter()
                .map(|alarm| alarm.arn)
                .collect()
        })
        .unwrap_or_default()
}

/// The resource a well-known metric dimension names: an ARN where one can be formed, the
/// tunnel's outside IP address for `TunnelIpAddress`.
fn dimension_resource(name: &str, value: &str, region: &str, account: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    let (service, resource) = match name {
        "VpnId" => ("ec2", format!("vpn-connection/{value}")),
        "InstanceId" => ("ec2", format!("instance/{value}")),
        "FunctionName" => ("lambda", format!("function:{value}")),
        "DBInstanceIdentifier" => ("rds", format!("db:{value}")),
        "TableName" => ("dynamodb", format!("table/{value}")),
        "QueueName" => ("sqs", value.to_string()),
        "LoadBalancer" => ("elasticloadbalancing", format!("loadbalancer/{value}")),
        "TunnelIpAddress" => return Some(value.to_string()),
        _ => return None,
    };
    Some(arn::format(region, account, service, &resource))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::dimension_resource;
    use crate::domain::{stable_hash, SignalKind, SignalState};
    use crate::sources::tests::{error_of, fixture, not_handled, signal_of};

    const ALARM_ARN: &str =
        "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:vpn-tunnel-down-vpn-0123456789abcdef0";
    const VPN_ARN: &str = "arn:aws:ec2:eu-west-1:111122223333:vpn-connection/vpn-0123456789abcdef0";

    #[test]
    fn vpn_tunnel_down_fires_on_the_alarm_and_the_vpn_connection() {
        let s = signal_of(&fixture("cloudwatch-alarm-vpn-tunnel-down"));
        assert_eq!(s.source, "aws.cloudwatch");
        assert_eq!(s.detail_type, "CloudWatch Alarm State Change");
        assert_eq!(s.kind, SignalKind::MetricAlarm);
        assert_eq!(s.state, SignalState::Firing);
        assert_eq!(s.severity, None);
        assert_eq!(s.severity_score, None);
        assert_eq!(s.account, "111122223333");
        assert_eq!(s.region, "eu-west-1");
        assert_eq!(
            Some(s.time),
            Utc.with_ymd_and_hms(2024, 5, 14, 3, 2, 10)
                .single()
                .map(|t| t + chrono::Duration::milliseconds(485))
        );
        assert_eq!(
            s.event_id.as_deref(),
            Some("8f3e6a1c-5b7d-2e4f-9a0b-1c2d3e4f5a6b")
        );
        assert_eq!(
            s.fingerprint,
            stable_hash(&[ALARM_ARN, "ALARM", "2024-05-14T03:02:10.485+0000"], 32)
        );
        assert_eq!(s.resource, ALARM_ARN);
        assert_eq!(
            s.resources,
            vec![ALARM_ARN.to_string(), VPN_ARN.to_string()]
        );
        assert!(s.tags.is_empty());
        assert_eq!(
            s.alarm_name.as_deref(),
            Some("vpn-tunnel-down-vpn-0123456789abcdef0")
        );
        assert_eq!(
            s.summary,
            "vpn-tunnel-down-vpn-0123456789abcdef0: ALARM — Threshold Crossed: 3 out of the \
             last 3 datapoints [0.0 (14/05/24 02:59:00), 0.0 (14/05/24 02:58:00), 0.0 \
             (14/05/24 02:57:00)] was less than the threshold (1.0) (minimum 3 datapoints for \
             OK -> ALARM transition)."
        );
        assert!(s
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("Threshold Crossed")));
        assert_eq!(s.finding_type, None);
        assert_eq!(s.finding_id, None);

        assert_eq!(s.metrics.len(), 1);
        let m = &s.metrics[0];
        assert_eq!(m.namespace.as_deref(), Some("AWS/VPN"));
        assert_eq!(m.name.as_deref(), Some("TunnelState"));
        assert_eq!(m.stat.as_deref(), Some("Minimum"));
        assert_eq!(m.period, Some(60));
        assert_eq!(m.expression, None);
        assert!(m.return_data);
        assert_eq!(s.dimension("VpnId"), Some("vpn-0123456789abcdef0"));
    }

    #[test]
    fn back_to_ok_recovers_as_a_new_occurrence() {
        let down = signal_of(&fixture("cloudwatch-alarm-vpn-tunnel-down"));
        let ok = signal_of(&fixture("cloudwatch-alarm-vpn-tunnel-ok"));
        assert_eq!(ok.state, SignalState::Recovered);
        assert_eq!(ok.resource, down.resource);
        assert_eq!(ok.resources, down.resources);
        assert!(ok.time > down.time);
        assert_ne!(ok.fingerprint, down.fingerprint);
        assert!(ok
            .summary
            .starts_with("vpn-tunnel-down-vpn-0123456789abcdef0: OK — "));
    }

    #[test]
    fn insufficient_data_is_informational() {
        let s = signal_of(&fixture("cloudwatch-alarm-insufficient-data"));
        assert_eq!(s.state, SignalState::Informational);
        assert_eq!(
            s.reason.as_deref(),
            Some("Insufficient Data: 3 datapoints were unknown.")
        );
    }

    #[test]
    fn a_tunnel_ip_alarm_carries_its_tags_and_the_ip() {
        let s = signal_of(&fixture("cloudwatch-alarm-vpn-tunnel-ip-down"));
        let arn = "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:vpn-tunnel-down-203.0.113.10";
        assert_eq!(s.resource, arn);
        assert_eq!(
            s.resources,
            vec![arn.to_string(), "203.0.113.10".to_string()]
        );
        assert_eq!(s.tag("VpnId"), Some("vpn-0123456789abcdef0"));
        assert_eq!(s.tag("responder"), Some("vpn"));
        assert_eq!(s.tags.len(), 2);
        assert_eq!(s.dimension("TunnelIpAddress"), Some("203.0.113.10"));
        assert_eq!(s.metrics[0].stat.as_deref(), Some("Maximum"));
    }

    #[test]
    fn the_lambda_action_gives_the_same_signal_as_eventbridge() {
        let via_eventbridge = signal_of(&fixture("cloudwatch-alarm-vpn-tunnel-down"));
        let via_lambda = signal_of(&fixture("cloudwatch-alarm-lambda-action"));
        assert_eq!(via_lambda.fingerprint, via_eventbridge.fingerprint);
        assert_eq!(via_lambda.detail_type, "CloudWatch Alarm Lambda Action");
        assert_eq!(via_lambda.event_id, None);

        let mut expected = via_eventbridge;
        expected.detail_type = via_lambda.detail_type.clone();
        expected.event_id = None;
        assert_eq!(via_lambda, expected);
    }

    #[test]
    fn metric_math_keeps_every_query_and_a_one_day_period() {
        let s = signal_of(&fixture("cloudwatch-alarm-metric-math"));
        assert_eq!(s.kind, SignalKind::MetricAlarm);
        let ids: Vec<_> = s.metrics.iter().map(|m| m.id.as_deref()).collect();
        assert_eq!(ids, vec![Some("e1"), Some("m1"), Some("m2")]);
        let e1 = &s.metrics[0];
        assert_eq!(e1.expression.as_deref(), Some("SUM(METRICS())"));
        assert_eq!(e1.namespace, None);
        assert!(e1.return_data);
        let m1 = &s.metrics[1];
        assert_eq!(m1.name.as_deref(), Some("NetworkIn"));
        assert_eq!(m1.period, Some(86_400));
        assert!(!m1.return_data);
        // Both metrics name the same instance: it is listed once.
        assert_eq!(
            s.resources,
            vec![
                "arn:aws:cloudwatch:us-east-1:111122223333:alarm:DailyNetworkTrafficTooHigh"
                    .to_string(),
                "arn:aws:ec2:us-east-1:111122223333:instance/i-0123456789abcdef0".to_string(),
            ]
        );
    }

    #[test]
    fn a_composite_alarm_lists_its_triggering_alarms() {
        let s = signal_of(&fixture("cloudwatch-alarm-composite"));
        assert_eq!(s.kind, SignalKind::CompositeAlarm);
        assert_eq!(s.state, SignalState::Firing);
        assert!(s.metrics.is_empty());
        assert_eq!(
            s.resources,
            vec![
                "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:vpn-0123456789abcdef0-both-tunnels-down",
                "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:vpn-tunnel-down-203.0.113.10",
                "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:vpn-tunnel-down-203.0.113.20",
            ]
        );
    }

    #[test]
    fn a_composite_alarm_with_unreadable_reason_data_still_parses() {
        let mut event = fixture("cloudwatch-alarm-composite");
        event["detail"]["state"]["reasonData"] = json!("{not json");
        let s = signal_of(&event);
        assert_eq!(s.resources, vec![s.resource.clone()]);
    }

    #[test]
    fn a_missing_state_value_is_an_error_naming_the_path() {
        let error = error_of(&fixture("malformed-alarm-missing-state"));
        assert_eq!(error.error_type(), "MalformedEvent");
        assert_eq!(
            error.to_string(),
            "CloudWatch Alarm State Change event: detail.state: missing field `value`"
        );

        let mut event = fixture("cloudwatch-alarm-lambda-action");
        if let Some(state) = event["alarmData"]["state"].as_object_mut() {
            state.remove("value");
        }
        assert_eq!(
            error_of(&event).to_string(),
            "CloudWatch Alarm Lambda Action event: alarmData.state: missing field `value`"
        );
    }

    #[test]
    fn an_unknown_state_value_is_an_error() {
        let mut event = fixture("cloudwatch-alarm-vpn-tunnel-down");
        event["detail"]["state"]["value"] = json!("BROKEN");
        assert_eq!(
            error_of(&event).to_string(),
            "CloudWatch Alarm State Change event: detail.state.value: unknown variant \
             `BROKEN`, expected one of `OK`, `ALARM`, `INSUFFICIENT_DATA`"
        );
    }

    #[test]
    fn a_wrong_type_names_the_path() {
        let mut event = fixture("cloudwatch-alarm-vpn-tunnel-down");
        event["detail"]["configuration"]["metrics"][0]["metricStat"]["period"] = json!("60");
        assert_eq!(
            error_of(&event).to_string(),
            "CloudWatch Alarm State Change event: detail.configuration.metrics[0].metricStat.\
             period: invalid type: string \"60\", expected u32"
        );
    }

    #[test]
    fn without_resources_the_alarm_arn_is_built() {
        let mut event = fixture("cloudwatch-alarm-vpn-tunnel-down");
        event["resources"] = json!([]);
        assert_eq!(signal_of(&event).resource, ALARM_ARN);
    }

    #[test]
    fn an_alarm_action_from_another_source_is_not_handled() {
        let mut event = fixture("cloudwatch-alarm-lambda-action");
        event["source"] = json!("custom.alarms");
        assert_eq!(
            not_handled(&event),
            "alarm action payload from source `custom.alarms`, expected `aws.cloudwatch`"
        );
    }

    #[test]
    fn well_known_dimensions_name_their_resources() {
        let cases = [
            ("VpnId", "vpn-1", "arn:aws:ec2:r:1:vpn-connection/vpn-1"),
            ("InstanceId", "i-1", "arn:aws:ec2:r:1:instance/i-1"),
            ("FunctionName", "f", "arn:aws:lambda:r:1:function:f"),
            ("DBInstanceIdentifier", "db", "arn:aws:rds:r:1:db:db"),
            ("TableName", "t", "arn:aws:dynamodb:r:1:table/t"),
            ("QueueName", "q", "arn:aws:sqs:r:1:q"),
            (
                "LoadBalancer",
                "app/web/50dc6c495c0c9188",
                "arn:aws:elasticloadbalancing:r:1:loadbalancer/app/web/50dc6c495c0c9188",
            ),
            ("TunnelIpAddress", "203.0.113.10", "203.0.113.10"),
        ];
        for (name, value, expected) in cases {
            assert_eq!(
                dimension_resource(name, value, "r", "1").as_deref(),
                Some(expected)
            );
        }
        assert_eq!(dimension_resource("Currency", "USD", "r", "1"), None);
        assert_eq!(dimension_resource("VpnId", "", "r", "1"), None);
        assert_eq!(
            dimension_resource("VpnId", "vpn-1", "cn-north-1", "1").as_deref(),
            Some("arn:aws-cn:ec2:cn-north-1:1:vpn-connection/vpn-1")
        );
    }
}
