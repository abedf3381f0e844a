//! [`LogQueries`] on CloudWatch Logs Insights (`StartQuery`, `GetQueryResults`, `StopQuery`).
//!
//! One query per look-up over one log group and the incident's window, for the newest error
//! lines ([`ERROR_QUERY`]); its results are polled every [`POLL`] for at most [`WAIT`], and a
//! query still running then is stopped (it scans, and bills, until it ends) and answered as
//! `None`. `@timestamp` comes back as `2026-12-06 04:20:31.123` (UTC).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::QueryStatus;
use aws_sdk_cloudwatchlogs::Client;
use chrono::{DateTime, NaiveDateTime, Utc};

use crate::aws::error::from_sdk_error;
use crate::inspect::LogLine;
use crate::ports::{LogQueries, PortError, PortErrorKind};

/// The query: error lines of a Lambda function (its runtime's `ERROR` lines, exceptions and
/// tracebacks, `Task timed out`), newest first. `{max}` is the limit.
pub const ERROR_QUERY: &str = "fields @timestamp, @message \
| filter @message like /(?i)error/ or @message like /(?i)exception/ or @message like /Traceback/ or @message like /Task timed out/ \
| sort @timestamp desc \
| limit {max}";

/// How often the results are asked for, and for how long.
pub const POLL: Duration = Duration::from_millis(500);
pub const WAIT: Duration = Duration::from_secs(10);

/// CloudWatch Logs in one region.
#[derive(Debug, Clone)]
pub struct LogsInsights {
    client: Client,
    poll: Duration,
    wait: Duration,
}

impl LogsInsights {
    pub fn new(client: Client) -> Self {
        LogsInsights {
            client,
            poll: POLL,
            wait: WAIT,
        }
    }

    /// Another polling interval and bound (tests).
    pub fn with_wait(mut self, poll: Duration, wait: Duration) -> Self {
        self.poll = poll;
        self.wait = wait;
        self
    }
}

/// Logs Insights' `@timestamp` (`2026-12-06 04:20:31.123`, UTC), or epoch milliseconds.
fn timestamp(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(millis) = text.parse::<i64>() {
        return DateTime::from_timestamp_millis(millis);
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// `time` in whole seconds, rounded up.
fn ceil_seconds(time: DateTime<Utc>) -> i64 {
    time.timestamp() + i64::from(time.timestamp_subsec_nanos() > 0)
}

#[async_trait]
impl LogQueries for LogsInsights {
    async fn error_lines(
        &self,
        log_group: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        max: usize,
    ) -> Result<Option<Vec<LogLine>>, PortError> {
        let limit = i32::try_from(max.clamp(1, 100)).unwrap_or(10);
        let started = self
            .client
            .start_query()
            .log_group_name(log_group)
            .start_time(since.timestamp())
            // Whole seconds: the end rounds up, so the lines of the last second are in.
            .end_time(ceil_seconds(until).max(since.timestamp() + 1))
            .query_string(ERROR_QUERY.replace("{max}", &limit.to_string()))
            .limit(limit)
            .send()
            .await
            .map_err(|e| from_sdk_error("StartQuery", &e))?;
        let id = started
            .query_id()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                PortError::new(
                    "StartQuery",
                    PortErrorKind::Other,
                    "no queryId in the answer",
                )
            })?
            .to_string();
        let read = self.results(&id, max).await;
        if !matches!(read, Ok(Some(_))) {
            // Still running, or the polling failed: a running query scans (and bills) until
            // it ends, and counts against the account's concurrent queries. Best effort: a
            // query that ended meanwhile cannot be stopped, and that is fine.
            let _ = self.client.stop_query().query_id(&id).send().await;
        }
        read
    }
}

impl LogsInsights {
    /// The query's results once it completes; `None` when it is still running after the wait.
    async fn results(&self, id: &str, max: usize) -> Result<Option<Vec<LogLine>>, PortError> {
        let started = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.poll).await;
            let output = self
                .client
                .get_query_results()
                .query_id(id)
                .send()
                .await
                .map_err(|e| from_sdk_error("GetQueryResults", &e))?;
            match output.status() {
                Some(QueryStatus::Complete) => {
                    let lines = output
                        .results()
                        .iter()
                        .filter_map(|row| {
                            let field = |name: &str| {
                                row.iter()
                                    .find(|f| f.field() == Some(name))
                                    .and_then(|f| f.value())
                            };
                            Some(LogLine {
                                time: field("@timestamp").and_then(timestamp),
                                message: field("@message")?.trim_end().to_string(),
                            })
                        })
                        .take(max)
                        .collect();
                    return Ok(Some(lines));
                }
                Some(QueryStatus::Running | QueryStatus::Scheduled) | None => {}
                Some(other) => {
                    return Err(PortError::new(
                        "GetQueryResults",
                        PortErrorKind::Other,
                        format!("the query ended {}", other.as_str()),
                    ))
                }
            }
            if started.elapsed() >= self.wait {
                return Ok(None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::testkit::*;
    use aws_sdk_cloudwatchlogs::operation::get_query_results::{
        GetQueryResultsError, GetQueryResultsOutput,
    };
    use aws_sdk_cloudwatchlogs::operation::start_query::{StartQueryInput, StartQueryOutput};
    use aws_sdk_cloudwatchlogs::operation::stop_query::StopQueryOutput;
    use aws_sdk_cloudwatchlogs::types::ResultField;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};

    fn logs(rules: &[&Rule]) -> LogsInsights {
        let client = mock_client!(aws_sdk_cloudwatchlogs, RuleMode::Sequential, rules, |b| b
            .retry_config(fast_retries(1)));
        LogsInsights::new(client).with_wait(Duration::from_millis(1), Duration::from_millis(20))
    }

    fn start(seen: &Captured<StartQueryInput>) -> Rule {
        let s = seen.clone();
        mock!(Client::start_query)
            .match_requests(move |r| s.push(r.clone()))
            .then_output(|| StartQueryOutput::builder().query_id("q-1").build())
    }

    fn row(time: &str, message: &str) -> Vec<ResultField> {
        vec![
            ResultField::builder()
                .field("@timestamp")
                .value(time)
                .build(),
            ResultField::builder()
                .field("@message")
                .value(message)
                .build(),
            ResultField::builder().field("@ptr").value("x").build(),
        ]
    }

    #[tokio::test]
    async fn the_newest_error_lines_of_the_window_are_read_once_the_query_completes() {
        let seen = Captured::new();
        let running = mock!(Client::get_query_results).then_output(|| {
            GetQueryResultsOutput::builder()
                .status(QueryStatus::Running)
                .build()
        });
        let done = mock!(Client::get_query_results).then_output(|| {
            GetQueryResultsOutput::builder()
                .status(QueryStatus::Complete)
                .results(row("2026-12-06 04:20:31.123", "ERROR boom\n"))
                .results(row("1765000000000", "Task timed out after 30.00 seconds"))
                .build()
        });
        let lines = must(
            logs(&[&start(&seen), &running, &done])
                .error_lines(
                    "/aws/lambda/f",
                    at(2026, 12, 6, 4, 0, 0),
                    at(2026, 12, 6, 4, 30, 0) + chrono::Duration::milliseconds(250),
                    10,
                )
                .await,
        );
        let lines = lines.unwrap_or_else(|| panic!("no lines"));
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].message, "ERROR boom");
        assert_eq!(
            lines[0].time.map(|t| t.timestamp_millis()),
            Some(at(2026, 12, 6, 4, 20, 31).timestamp_millis() + 123)
        );
        assert!(lines[1].time.is_some());
        let sent = seen.only();
        assert_eq!(sent.log_group_name(), Some("/aws/lambda/f"));
        assert_eq!(
            sent.start_time(),
            Some(at(2026, 12, 6, 4, 0, 0).timestamp())
        );
        // The last second's lines are in: the end rounds up.
        assert_eq!(sent.end_time(), Some(at(2026, 12, 6, 4, 30, 1).timestamp()));
        assert!(sent.query_string().is_some_and(|q| q.ends_with("limit 10")));
    }

    #[tokio::test]
    async fn a_query_whose_polling_fails_is_stopped_and_the_failure_returned() {
        let seen = Captured::new();
        let throttled = mock!(Client::get_query_results).then_error(|| {
            GetQueryResultsError::generic(meta("ThrottlingException", "Rate exceeded"))
        });
        let stopped = mock!(Client::stop_query)
            .then_output(|| StopQueryOutput::builder().success(true).build());
        let logs = logs(&[&start(&seen), &throttled, &stopped]);
        let err = must_fail(
            logs.error_lines(
                "/aws/lambda/f",
                at(2026, 12, 6, 4, 0, 0),
                at(2026, 12, 6, 4, 30, 0),
                10,
            )
            .await,
        );
        assert_eq!(err.kind, PortErrorKind::Throttled);
        assert_eq!(stopped.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_query_that_does_not_finish_in_time_is_stopped() {
        let seen = Captured::new();
        let running = mock!(Client::get_query_results)
            .sequence()
            .output(|| {
                GetQueryResultsOutput::builder()
                    .status(QueryStatus::Running)
                    .build()
            })
            .repeatedly()
            .build();
        let stopped = mock!(Client::stop_query)
            .then_output(|| StopQueryOutput::builder().success(true).build());
        let logs = LogsInsights::new(mock_client!(
            aws_sdk_cloudwatchlogs,
            RuleMode::MatchAny,
            [&start(&seen), &running, &stopped]
        ))
        .with_wait(Duration::from_millis(1), Duration::from_millis(10));
        let read = must(
            logs.error_lines(
                "/aws/lambda/f",
                at(2026, 12, 6, 4, 0, 0),
                at(2026, 12, 6, 4, 30, 0),
                10,
            )
            .await,
        );
        assert_eq!(read, None);
        assert_eq!(stopped.num_calls(), 1);
    }
}
