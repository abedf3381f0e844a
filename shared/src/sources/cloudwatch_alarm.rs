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
    decode, fingerprint, partition, push_unique, summary_line, Envelope, Parsed, SourceError,
    Timestamp,
};
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
        None => format!(
            "arn:{}:cloudwatch:{}:{}:alarm:{}",
            partition(&envelope.region),
            envelope.region,
            envelope.account,
            envelope.detail.alarm_name
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
            if let Some(resource) =
                dimension_resource(name, value, &origin.region, &origin.account)
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
    let p = partition(region);
    let resource = match name {
        "VpnId" => format!("arn:{p}:ec2:{region}:{account}:vpn-connection/{value}"),
        "InstanceId" => format!("arn:{p}:ec2:{region}:{account}:instance/{value}"),
        "FunctionName" => format!("arn:{p}:lambda:{region}:{account}:function:{value}"),
        "DBInstanceIdentifier" => format!("arn:{p}:rds:{region}:{account}:db:{value}"),
        "TableName" => format!("arn:{p}:dynamodb:{region}:{account}:table/{value}"),
        "QueueName" => format!("arn:{p}:sqs:{region}:{account}:{value}"),
        "LoadBalancer" => {
            format!("arn:{p}:elasticloadbalancing:{region}:{account}:loadbalancer/{value}")
        }
        "TunnelIpAddress" => value.to_string(),
        _ => return None,
    };
    Some(resource)
}
