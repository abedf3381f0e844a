//! [`MetricSource`] on CloudWatch `GetMetricData` and [`AlarmStates`] on `DescribeAlarms` (the
//! SDK speaks Smithy RPC v2 CBOR).
//!
//! ## `GetMetricData`
//!
//! One request carries every query as a `MetricStat` query (`Namespace`, `MetricName`,
//! `Dimensions`, `Period`, `Stat`, `ReturnData` true), scanned `TimestampAscending`; `NextToken`
//! pages are followed and each query's datapoints concatenated, then sorted oldest first. The
//! answer has one series per query, in the order asked, empty when CloudWatch has no data.
//!
//! Limits (`API_GetMetricData.html`): at most 500 queries per request and distinct ids; both are
//! checked before sending, as `Invalid`, as are a period that does not fit an `i32` and a window
//! whose end is not after its start. No queries is no call and no series.
//!
//! Errors: through [`from_sdk_error`] (`Throttling` → `Throttled`, `AccessDenied` →
//! `AccessDenied`, `InvalidNextToken` / `InvalidParameterValue` → `Invalid`,
//! `InternalServiceError` and 5xx → `Unavailable`). A result whose `StatusCode` is `Forbidden`
//! (no access to the metric) is `AccessDenied` and one that is `InternalError` is `Unavailable`,
//! rather than an empty series that would read as "no data".
//!
//! ## `DescribeAlarms`
//!
//! One request with `AlarmNames = [name]` and `AlarmTypes = [MetricAlarm, CompositeAlarm]`
//! (without `AlarmTypes` the API returns metric alarms only, `API_DescribeAlarms.html`). The
//! first metric alarm of that name, else the first composite alarm, gives the state:
//! `StateValue`, `StateReason`, `StateUpdatedTimestamp`; no alarm of that name is `None`. A name
//! that is empty or longer than 255 characters is refused before sending, as `Invalid`. Errors go
//! through [`from_sdk_error`] like `GetMetricData`'s.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{
    AlarmType, Dimension, Metric, MetricDataQuery, MetricDataResult, MetricStat, ScanBy,
    StateValue, StatusCode,
};
use aws_sdk_cloudwatch::Client;
use chrono::{DateTime, Utc};

use super::convert::{to_chrono, to_smithy_time};
use super::error::from_sdk_error;
use crate::diagnosis::{MetricQuery, MetricSeries};
use crate::ports::{AlarmState, AlarmStates, MetricSource, PortError, PortErrorKind};

/// `GetMetricData`: at most 500 `MetricDataQuery` structures per request.
pub const QUERIES_MAX: usize = 500;

/// `DescribeAlarms`: an alarm name is 1 to 255 characters.
pub const ALARM_NAME_MAX: usize = 255;

const OP: &str = "GetMetricData";

/// CloudWatch metrics of one region.
#[derive(Debug, Clone)]
pub struct CloudWatchMetrics {
    client: Client,
}

impl CloudWatchMetrics {
    pub fn new(client: Client) -> Self {
        CloudWatchMetrics { client }
    }
}

fn invalid(message: impl Into<String>) -> PortError {
    PortError::new(OP, PortErrorKind::Invalid, message)
}

/// The SDK query for one of ours.
fn to_sdk_query(query: &MetricQuery) -> Result<MetricDataQuery, PortError> {
    let period = i32::try_from(query.period).map_err(|_| {
        invalid(format!(
            "query {}: period {} is too long",
            query.id, query.period
        ))
    })?;
    let dimensions = query
        .dimensions
        .iter()
        .map(|(name, value)| Dimension::builder().name(name).value(value).build())
        .collect();
    let metric = Metric::builder()
        .namespace(&query.namespace)
        .metric_name(&query.name)
        .set_dimensions(Some(dimensions))
        .build();
    let stat = MetricStat::builder()
        .metric(metric)
        .period(period)
        .stat(&query.stat)
        .build();
    Ok(MetricDataQuery::builder()
        .id(&query.id)
        .metric_stat(stat)
        .return_data(true)
        .build())
}

fn check(
    queries: &[MetricQuery],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(), PortError> {
    if queries.len() > QUERIES_MAX {
        return Err(invalid(format!(
            "{} queries, at most {QUERIES_MAX} per request",
            queries.len()
        )));
    }
    let mut ids = HashSet::new();
    if let Some(dup) = queries.iter().find(|q| !ids.insert(q.id.as_str())) {
        return Err(invalid(format!("query id {} appears twice", dup.id)));
    }
    if end <= start {
        return Err(invalid(format!(
            "the window must end after it starts (start {start}, end {end})"
        )));
    }
    Ok(())
}

/// The messages of a result, `"<code>: <value>"` joined, for an error.
fn messages(result: &MetricDataResult) -> String {
    let text: Vec<String> = result
        .messages()
        .iter()
        .map(|m| {
            format!(
                "{}: {}",
                m.code().unwrap_or("(no code)"),
                m.value().unwrap_or("")
            )
        })
        .collect();
    if text.is_empty() {
        "no message".to_string()
    } else {
        text.join("; ")
    }
}

/// The failure a result's status code stands for, if any.
fn result_failure(result: &MetricDataResult) -> Option<PortError> {
    let kind = match result.status_code()? {
        StatusCode::Forbidden => PortErrorKind::AccessDenied,
        StatusCode::InternalError => PortErrorKind::Unavailable,
        _ => return None,
    };
    Some(PortError::new(
        OP,
        kind,
        format!(
            "query {}: {} ({})",
            result.id().unwrap_or("?"),
            result.status_code().map_or("", |s| s.as_str()),
            messages(result)
        ),
    ))
}

#[async_trait]
impl MetricSource for CloudWatchMetrics {
    async fn metric_data(
        &self,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>, PortError> {
        if queries.is_empty() {
            return Ok(Vec::new());
        }
        check(queries, start, end)?;
        let sdk_queries = queries
            .iter()
            .map(to_sdk_query)
            .collect::<Result<Vec<_>, _>>()?;

        let mut points: HashMap<&str, Vec<(DateTime<Utc>, f64)>> = queries
            .iter()
            .map(|q| (q.id.as_str(), Vec::new()))
            .collect();
        let mut token: Option<String> = None;
        let mut pages = 0usize;
        loop {
            let output = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(sdk_queries.clone()))
                .start_time(to_smithy_time(start))
                .end_time(to_smithy_time(end))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| from_sdk_error(OP, &e))?;
            pages += 1;
            for result in output.metric_data_results() {
                if let Some(failure) = result_failure(result) {
                    return Err(failure);
                }
                let Some(series) = result.id().and_then(|id| points.get_mut(id)) else {
                    tracing::debug!(id = ?result.id(), "result for a query we did not ask");
                    continue;
                };
                if result.timestamps().len() != result.values().len() {
                    tracing::warn!(
                        id = ?result.id(),
                        timestamps = result.timestamps().len(),
                        values = result.values().len(),
                        "timestamps and values differ in number; the extra ones are dropped"
                    );
                }
                series.extend(
                    result
                        .timestamps()
                        .iter()
                        .zip(result.values())
                        .filter_map(|(at, value)| Some((to_chrono(at)?, *value))),
                );
            }
            match output.next_token().filter(|t| !t.is_empty()) {
                None => break,
                Some(next) if token.as_deref() == Some(next) => {
                    tracing::warn!(pages, "GetMetricData repeated its NextToken; stopped");
                    break;
                }
                Some(next) => token = Some(next.to_string()),
            }
        }
        tracing::debug!(queries = queries.len(), pages, "metric data read");

        Ok(queries
            .iter()
            .map(|q| {
                let mut points = points.remove(q.id.as_str()).unwrap_or_default();
                points.sort_by_key(|(at, _)| *at);
                MetricSeries {
                    id: q.id.clone(),
                    points,
                }
            })
            .collect())
    }
}

/// One alarm's state as [`AlarmState`]; an alarm without `StateValue` is malformed.
fn alarm_state(
    name: &str,
    value: Option<&StateValue>,
    reason: Option<&str>,
    updated: Option<&aws_smithy_types::DateTime>,
) -> Result<AlarmState, PortError> {
    let value = value.map(StateValue::as_str).ok_or_else(|| {
        PortError::new(
            "DescribeAlarms",
            PortErrorKind::Other,
            format!("alarm {name} is described without a StateValue"),
        )
    })?;
    Ok(AlarmState {
        name: name.to_string(),
        value: value.to_string(),
        reason: reason.map(str::to_string),
        updated_at: updated.and_then(to_chrono),
    })
}

#[async_trait]
impl AlarmStates for CloudWatchMetrics {
    async fn alarm_state(&self, name: &str) -> Result<Option<AlarmState>, PortError> {
        const OP: &str = "DescribeAlarms";
        let count = name.chars().count();
        if count == 0 || count > ALARM_NAME_MAX {
            return Err(PortError::new(
                OP,
                PortErrorKind::Invalid,
                format!("alarm name of {count} characters: it must be 1 to {ALARM_NAME_MAX}"),
            ));
        }
        let output = self
            .client
            .describe_alarms()
            .alarm_names(name)
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        if let Some(alarm) = output
            .metric_alarms()
            .iter()
            .find(|a| a.alarm_name() == Some(name))
        {
            return alarm_state(
                name,
                alarm.state_value(),
                alarm.state_reason(),
                alarm.state_updated_timestamp(),
            )
            .map(Some);
        }
        if let Some(alarm) = output
            .composite_alarms()
            .iter()
            .find(|a| a.alarm_name() == Some(name))
        {
            return alarm_state(
                name,
                alarm.state_value(),
                alarm.state_reason(),
                alarm.state_updated_timestamp(),
            )
            .map(Some);
        }
        tracing::debug!(alarm = name, "no metric or composite alarm of that name");
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::testkit::*;
    use aws_sdk_cloudwatch::operation::get_metric_data::{
        GetMetricDataError, GetMetricDataInput, GetMetricDataOutput,
    };
    use aws_sdk_cloudwatch::types::MessageData;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use std::collections::BTreeMap;

    fn metrics(rules: &[&Rule], attempts: u32) -> CloudWatchMetrics {
        let client = mock_client!(aws_sdk_cloudwatch, RuleMode::Sequential, rules, |b| b
            .retry_config(fast_retries(attempts)));
        CloudWatchMetrics::new(client)
    }

    fn tunnel_query(id: &str, ip: &str) -> MetricQuery {
        MetricQuery {
            id: id.to_string(),
            namespace: "AWS/VPN".to_string(),
            name: "TunnelState".to_string(),
            dimensions: BTreeMap::from([
                ("TunnelIpAddress".to_string(), ip.to_string()),
                ("VpnId".to_string(), "vpn-0abc1234".to_string()),
            ]),
            stat: "Minimum".to_string(),
            period: 60,
        }
    }

    fn queries() -> Vec<MetricQuery> {
        vec![
            tunnel_query("t1", "203.0.113.10"),
            tunnel_query("t2", "203.0.113.20"),
        ]
    }

    fn minute(m: u32) -> DateTime<Utc> {
        at(2026, 11, 21, 3, m, 0)
    }

    fn result(id: &str, points: &[(u32, f64)], status: StatusCode) -> MetricDataResult {
        MetricDataResult::builder()
            .id(id)
            .label("TunnelState")
            .set_timestamps(Some(
                points
                    .iter()
                    .map(|(m, _)| to_smithy_time(minute(*m)))
                    .collect(),
            ))
            .set_values(Some(points.iter().map(|(_, v)| *v).collect()))
            .status_code(status)
            .build()
    }

    #[tokio::test]
    async fn one_request_carries_every_query() {
        let seen = Captured::<GetMetricDataInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::get_metric_data)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(|| {
                GetMetricDataOutput::builder()
                    .metric_data_results(result(
                        "t1",
                        &[(50, 1.0), (51, 1.0)],
                        StatusCode::Complete,
                    ))
                    .metric_data_results(result("t2", &[], StatusCode::Complete))
                    .build()
            });
        let got = must(
            metrics(&[&rule], 1)
                .metric_data(&queries(), minute(45), minute(55))
                .await,
        );

        let req = seen.only();
        assert_eq!(
            req.start_time().map(|t| t.secs()),
            Some(minute(45).timestamp())
        );
        assert_eq!(
            req.end_time().map(|t| t.secs()),
            Some(minute(55).timestamp())
        );
        assert_eq!(req.scan_by(), Some(&ScanBy::TimestampAscending));
        assert_eq!(req.next_token(), None);
        let sent = req.metric_data_queries();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].id(), Some("t1"));
        assert_eq!(sent[1].id(), Some("t2"));
        assert_eq!(sent[0].return_data(), Some(true));
        let stat = sent[0]
            .metric_stat()
            .unwrap_or_else(|| panic!("no MetricStat"));
        assert_eq!(stat.period(), Some(60));
        assert_eq!(stat.stat(), Some("Minimum"));
        let metric = stat.metric().unwrap_or_else(|| panic!("no Metric"));
        assert_eq!(metric.namespace(), Some("AWS/VPN"));
        assert_eq!(metric.metric_name(), Some("TunnelState"));
        let dims: Vec<_> = metric
            .dimensions()
            .iter()
            .map(|d| (d.name().unwrap_or(""), d.value().unwrap_or("")))
            .collect();
        assert_eq!(
            dims,
            [
                ("TunnelIpAddress", "203.0.113.10"),
                ("VpnId", "vpn-0abc1234")
            ]
        );

        assert_eq!(
            got,
            vec![
                MetricSeries {
                    id: "t1".to_string(),
                    points: vec![(minute(50), 1.0), (minute(51), 1.0)],
                },
                MetricSeries {
                    id: "t2".to_string(),
                    points: Vec::new(),
                },
            ]
        );
    }

    #[tokio::test]
    async fn pages_are_followed_and_concatenated_per_id() {
        let seen = Captured::<GetMetricDataInput>::new();
        let (s1, s2) = (seen.clone(), seen.clone());
        let first = mock!(Client::get_metric_data)
            .match_requests(move |req| s1.push(req.clone()))
            .then_output(|| {
                GetMetricDataOutput::builder()
                    .metric_data_results(result(
                        "t2",
                        &[(50, 0.0), (51, 0.0)],
                        StatusCode::PartialData,
                    ))
                    .metric_data_results(result("t1", &[(50, 1.0)], StatusCode::PartialData))
                    .next_token("page-2")
                    .build()
            });
        let second = mock!(Client::get_metric_data)
            .match_requests(move |req| s2.push(req.clone()))
            .then_output(|| {
                GetMetricDataOutput::builder()
                    .metric_data_results(result("t1", &[(52, 1.0)], StatusCode::Complete))
                    // Out of order on purpose: the series still comes back oldest first.
                    .metric_data_results(result(
                        "t2",
                        &[(53, 1.0), (52, 0.0)],
                        StatusCode::Complete,
                    ))
                    .metric_data_results(result("other", &[(52, 9.0)], StatusCode::Complete))
                    .build()
            });
        let got = must(
            metrics(&[&first, &second], 1)
                .metric_data(&queries(), minute(45), minute(55))
                .await,
        );
        let reqs = seen.all();
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].next_token(), None);
        assert_eq!(reqs[1].next_token(), Some("page-2"));
        assert_eq!(reqs[1].metric_data_queries().len(), 2);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].id, "t1");
        assert_eq!(got[0].points, vec![(minute(50), 1.0), (minute(52), 1.0)]);
        assert_eq!(got[1].id, "t2");
        assert_eq!(
            got[1].points,
            vec![
                (minute(50), 0.0),
                (minute(51), 0.0),
                (minute(52), 0.0),
                (minute(53), 1.0)
            ]
        );
    }

    #[tokio::test]
    async fn a_repeated_token_stops_the_paging() {
        let page = || {
            GetMetricDataOutput::builder()
                .metric_data_results(result("t1", &[(50, 1.0)], StatusCode::PartialData))
                .next_token("same")
                .build()
        };
        let first = mock!(Client::get_metric_data).then_output(page);
        let second = mock!(Client::get_metric_data).then_output(page);
        let got = must(
            metrics(&[&first, &second], 1)
                .metric_data(&queries()[..1], minute(45), minute(55))
                .await,
        );
        assert_eq!(second.num_calls(), 1);
        assert_eq!(got[0].points.len(), 2);
    }

    #[tokio::test]
    async fn an_empty_answer_gives_empty_series() {
        let rule =
            mock!(Client::get_metric_data).then_output(|| GetMetricDataOutput::builder().build());
        let got = must(
            metrics(&[&rule], 1)
                .metric_data(&queries(), minute(45), minute(55))
                .await,
        );
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|s| s.points.is_empty()));
        assert_eq!(got[1].id, "t2");
    }

    #[tokio::test]
    async fn bad_requests_are_refused_before_sending() {
        let rule =
            mock!(Client::get_metric_data).then_output(|| GetMetricDataOutput::builder().build());
        let m = metrics(&[&rule], 1);
        let many: Vec<_> = (0..=QUERIES_MAX)
            .map(|i| tunnel_query(&format!("q{i}"), "203.0.113.10"))
            .collect();
        let err = must_fail(m.metric_data(&many, minute(45), minute(55)).await);
        assert_eq!(err.kind, PortErrorKind::Invalid);
        assert_eq!(err.operation, "GetMetricData");
        let twice = vec![tunnel_query("t1", "a"), tunnel_query("t1", "b")];
        let err = must_fail(m.metric_data(&twice, minute(45), minute(55)).await);
        assert_eq!(err.kind, PortErrorKind::Invalid);
        let mut long = tunnel_query("t1", "a");
        long.period = u32::MAX;
        let err = must_fail(m.metric_data(&[long], minute(45), minute(55)).await);
        assert_eq!(err.kind, PortErrorKind::Invalid);
        let err = must_fail(m.metric_data(&queries(), minute(55), minute(45)).await);
        assert_eq!(err.kind, PortErrorKind::Invalid);
        assert!(must(m.metric_data(&[], minute(45), minute(55)).await).is_empty());
        assert_eq!(rule.num_calls(), 0);
    }

    #[tokio::test]
    async fn exactly_the_limit_is_sent() {
        let seen = Captured::<GetMetricDataInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::get_metric_data)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(|| GetMetricDataOutput::builder().build());
        let all: Vec<_> = (0..QUERIES_MAX)
            .map(|i| tunnel_query(&format!("q{i}"), "203.0.113.10"))
            .collect();
        let got = must(
            metrics(&[&rule], 1)
                .metric_data(&all, minute(45), minute(55))
                .await,
        );
        assert_eq!(got.len(), QUERIES_MAX);
        assert_eq!(seen.only().metric_data_queries().len(), QUERIES_MAX);
    }

    #[tokio::test]
    async fn error_codes_map_to_kinds() {
        let cases = [
            ("Throttling", PortErrorKind::Throttled),
            ("AccessDenied", PortErrorKind::AccessDenied),
            ("InvalidNextToken", PortErrorKind::Invalid),
            ("InvalidParameterValue", PortErrorKind::Invalid),
            ("InternalServiceError", PortErrorKind::Unavailable),
            ("SomethingElse", PortErrorKind::Other),
        ];
        for (code, kind) in cases {
            let rule = mock!(Client::get_metric_data)
                .then_error(move || GetMetricDataError::generic(meta(code, "no")));
            let err = must_fail(
                metrics(&[&rule], 1)
                    .metric_data(&queries(), minute(45), minute(55))
                    .await,
            );
            assert_eq!(err.kind, kind, "{code}");
            assert_eq!(err.operation, "GetMetricData");
            assert_eq!(err.message, format!("{code}: no"));
        }
        let rule = mock!(Client::get_metric_data)
            .sequence()
            .http_status(503, None)
            .build();
        let err = must_fail(
            metrics(&[&rule], 1)
                .metric_data(&queries(), minute(45), minute(55))
                .await,
        );
        assert_eq!(err.kind, PortErrorKind::Unavailable);
    }

    #[tokio::test]
    async fn throttling_is_retried_then_succeeds() {
        let seen = Captured::<GetMetricDataInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::get_metric_data)
            .match_requests(move |req| s.push(req.clone()))
            .sequence()
            .error(|| GetMetricDataError::generic(meta("Throttling", "Rate exceeded")))
            .times(2)
            .output(|| {
                GetMetricDataOutput::builder()
                    .metric_data_results(result("t1", &[(50, 1.0)], StatusCode::Complete))
                    .build()
            })
            .build();
        let got = must(
            metrics(&[&rule], 3)
                .metric_data(&queries()[..1], minute(45), minute(55))
                .await,
        );
        assert_eq!(got[0].points, vec![(minute(50), 1.0)]);
        assert_eq!(rule.num_calls(), 3);
        let req = seen.only();
        assert_eq!(req.metric_data_queries().len(), 1);
        assert_eq!(req.metric_data_queries()[0].id(), Some("t1"));
    }

    #[tokio::test]
    async fn a_forbidden_result_is_access_denied_not_an_empty_series() {
        let rule = mock!(Client::get_metric_data).then_output(|| {
            GetMetricDataOutput::builder()
                .metric_data_results(
                    MetricDataResult::builder()
                        .id("t1")
                        .status_code(StatusCode::Forbidden)
                        .messages(
                            MessageData::builder()
                                .code("Forbidden")
                                .value("not authorized for the source account")
                                .build(),
                        )
                        .build(),
                )
                .build()
        });
        let err = must_fail(
            metrics(&[&rule], 1)
                .metric_data(&queries(), minute(45), minute(55))
                .await,
        );
        assert_eq!(err.kind, PortErrorKind::AccessDenied);
        assert!(err.message.contains("t1"), "{}", err.message);
        assert!(err.message.contains("not authorized"), "{}", err.message);
    }

    mod alarms {
        use super::*;
        use aws_sdk_cloudwatch::operation::describe_alarms::{
            DescribeAlarmsError, DescribeAlarmsInput, DescribeAlarmsOutput,
        };
        use aws_sdk_cloudwatch::types::{CompositeAlarm, MetricAlarm};

        const NAME: &str = "vpn-0abc1234-tunnel-down";

        fn metric_alarm(name: &str, state: StateValue) -> MetricAlarm {
            MetricAlarm::builder()
                .alarm_name(name)
                .state_value(state)
                .state_reason("Threshold Crossed: 3 datapoints [0.0, 0.0, 0.0] were less than 1.0")
                .state_updated_timestamp(to_smithy_time(minute(50)))
                .build()
        }

        #[tokio::test]
        async fn asks_for_metric_and_composite_alarms_by_name() {
            let seen = Captured::<DescribeAlarmsInput>::new();
            let s = seen.clone();
            let rule = mock!(Client::describe_alarms)
                .match_requests(move |req| s.push(req.clone()))
                .then_output(|| {
                    DescribeAlarmsOutput::builder()
                        .metric_alarms(metric_alarm(NAME, StateValue::Alarm))
                        .build()
                });
            let got = must(metrics(&[&rule], 1).alarm_state(NAME).await);
            assert_eq!(
                got,
                Some(AlarmState {
                    name: NAME.to_string(),
                    value: "ALARM".to_string(),
                    reason: Some(
                        "Threshold Crossed: 3 datapoints [0.0, 0.0, 0.0] were less than 1.0"
                            .to_string()
                    ),
                    updated_at: Some(minute(50)),
                })
            );
            let req = seen.only();
            assert_eq!(req.alarm_names(), [NAME.to_string()]);
            assert_eq!(
                req.alarm_types(),
                [AlarmType::MetricAlarm, AlarmType::CompositeAlarm]
            );
            assert_eq!(req.alarm_name_prefix(), None);
            assert_eq!(req.state_value(), None);
        }

        #[tokio::test]
        async fn a_composite_alarm_counts_too() {
            let rule = mock!(Client::describe_alarms).then_output(|| {
                DescribeAlarmsOutput::builder()
                    .composite_alarms(
                        CompositeAlarm::builder()
                            .alarm_name(NAME)
                            .alarm_rule("ALARM(tunnel-1) AND ALARM(tunnel-2)")
                            .state_value(StateValue::Ok)
                            .build(),
                    )
                    .build()
            });
            let got = must(metrics(&[&rule], 1).alarm_state(NAME).await);
            assert_eq!(
                got,
                Some(AlarmState {
                    name: NAME.to_string(),
                    value: "OK".to_string(),
                    reason: None,
                    updated_at: None,
                })
            );
        }

        #[tokio::test]
        async fn no_alarm_of_that_name_is_none() {
            let empty = mock!(Client::describe_alarms)
                .then_output(|| DescribeAlarmsOutput::builder().build());
            let other = mock!(Client::describe_alarms).then_output(|| {
                DescribeAlarmsOutput::builder()
                    .metric_alarms(metric_alarm("another", StateValue::Alarm))
                    .build()
            });
            let m = metrics(&[&empty, &other], 1);
            assert_eq!(must(m.alarm_state(NAME).await), None);
            assert_eq!(must(m.alarm_state(NAME).await), None);
        }

        #[tokio::test]
        async fn a_state_less_alarm_and_bad_names_are_errors() {
            let rule = mock!(Client::describe_alarms).then_output(|| {
                DescribeAlarmsOutput::builder()
                    .metric_alarms(MetricAlarm::builder().alarm_name(NAME).build())
                    .build()
            });
            let m = metrics(&[&rule], 1);
            let err = must_fail(m.alarm_state(NAME).await);
            assert_eq!(
                (err.kind, err.operation.as_str()),
                (PortErrorKind::Other, "DescribeAlarms")
            );
            for name in [String::new(), "a".repeat(ALARM_NAME_MAX + 1)] {
                let err = must_fail(m.alarm_state(&name).await);
                assert_eq!(err.kind, PortErrorKind::Invalid);
            }
            assert_eq!(rule.num_calls(), 1);
        }

        #[tokio::test]
        async fn error_codes_map_to_kinds() {
            let cases = [
                ("Throttling", PortErrorKind::Throttled),
                ("AccessDenied", PortErrorKind::AccessDenied),
                ("InvalidNextToken", PortErrorKind::Invalid),
                ("InternalServiceError", PortErrorKind::Unavailable),
            ];
            for (code, kind) in cases {
                let rule = mock!(Client::describe_alarms)
                    .then_error(move || DescribeAlarmsError::generic(meta(code, "no")));
                let err = must_fail(metrics(&[&rule], 1).alarm_state(NAME).await);
                assert_eq!(
                    (err.kind, err.operation.as_str()),
                    (kind, "DescribeAlarms"),
                    "{code}"
                );
            }
        }
    }
}
