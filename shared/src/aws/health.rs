//! [`Health`] on AWS Health (`DescribeEvents`).
//!
//! The Health API is global: its endpoint is in `us-east-1` for the `aws` partition
//! (`cn-northwest-1` in China, `us-gov-west-1` in GovCloud), whatever the function's region, so
//! the client is built for that region ([`endpoint_region`]); the filter names the signal's
//! region. `DescribeEvents` with `services`, `regions`, `eventStatusCodes: [open]` and
//! `eventTypeCategories: [issue]`, one page of at most [`ISSUES_MAX`], answers `events[]`
//! (`arn`, `service`, `eventTypeCode`, `region`, `availabilityZone`, `startTime`,
//! `lastUpdatedTime`). An account without a Business, Enterprise On-Ramp or Enterprise support
//! plan gets `SubscriptionRequiredException`: that is `Ok(None)`, not an error.

use async_trait::async_trait;
use aws_sdk_health::types::{EventFilter, EventStatusCode, EventTypeCategory};
use aws_sdk_health::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::convert::to_chrono;
use crate::aws::error::from_sdk_error;
use crate::changes::HealthIssue;
use crate::ports::{Health, PortError};

/// Open issues read per look-up (one page; the API takes 10 to 100).
pub const ISSUES_MAX: i32 = 10;

/// The region of the Health API's endpoint for a function in `region`.
pub fn endpoint_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "cn-northwest-1"
    } else if region.starts_with("us-gov-") {
        "us-gov-west-1"
    } else {
        "us-east-1"
    }
}

/// AWS Health, for this account.
#[derive(Debug, Clone)]
pub struct AwsHealth {
    client: Client,
}

impl AwsHealth {
    pub fn new(client: Client) -> Self {
        AwsHealth { client }
    }
}

#[async_trait]
impl Health for AwsHealth {
    async fn open_issues(
        &self,
        services: &[String],
        region: &str,
    ) -> Result<Option<Vec<HealthIssue>>, PortError> {
        const OP: &str = "DescribeEvents";
        let filter = EventFilter::builder()
            .set_services(Some(services.to_vec()))
            .regions(region)
            .event_status_codes(EventStatusCode::Open)
            .event_type_categories(EventTypeCategory::Issue)
            .build();
        let sent = self
            .client
            .describe_events()
            .filter(filter)
            .max_results(ISSUES_MAX)
            .send()
            .await;
        let output = match sent {
            Ok(output) => output,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.code() == Some("SubscriptionRequiredException")) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(from_sdk_error(OP, &e)),
        };
        let issues = output
            .events()
            .iter()
            .filter_map(|e| {
                Some(HealthIssue {
                    arn: e.arn()?.to_string(),
                    service: e.service().unwrap_or_default().to_string(),
                    event_type: e.event_type_code().unwrap_or_default().to_string(),
                    region: e.region().unwrap_or(region).to_string(),
                    availability_zone: e.availability_zone().map(str::to_string),
                    start: e.start_time().and_then(to_chrono),
                    last_updated: e.last_updated_time().and_then(to_chrono),
                })
            })
            .collect();
        Ok(Some(issues))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::testkit::*;
    use crate::ports::PortErrorKind;
    use aws_sdk_health::operation::describe_events::{
        DescribeEventsError, DescribeEventsInput, DescribeEventsOutput,
    };
    use aws_sdk_health::types::Event;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};

    const ARN: &str =
        "arn:aws:health:us-east-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/AWS_EC2_OPERATIONAL_ISSUE_ABC";

    fn health(rules: &[&Rule]) -> AwsHealth {
        let client = mock_client!(aws_sdk_health, RuleMode::Sequential, rules, |b| b
            .retry_config(fast_retries(1)));
        AwsHealth::new(client)
    }

    #[tokio::test]
    async fn open_issues_of_the_services_in_the_region_are_asked_for() {
        let seen = Captured::<DescribeEventsInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::describe_events)
            .match_requests(move |r| s.push(r.clone()))
            .then_output(|| {
                DescribeEventsOutput::builder()
                    .events(
                        Event::builder()
                            .arn(ARN)
                            .service("EC2")
                            .event_type_code("AWS_EC2_OPERATIONAL_ISSUE")
                            .region("eu-west-1")
                            .availability_zone("eu-west-1a")
                            .start_time(aws_smithy_types::DateTime::from_secs(
                                at(2026, 12, 6, 1, 30, 0).timestamp(),
                            ))
                            .build(),
                    )
                    .events(Event::builder().service("EC2").build())
                    .build()
            });
        let issues = must(
            health(&[&rule])
                .open_issues(&["EC2".to_string(), "VPN".to_string()], "eu-west-1")
                .await,
        )
        .unwrap_or_else(|| panic!("subscribed"));
        let input = seen.only();
        let filter = input.filter().unwrap_or_else(|| panic!("a filter"));
        assert_eq!(filter.services(), ["EC2", "VPN"]);
        assert_eq!(filter.regions(), ["eu-west-1"]);
        assert_eq!(filter.event_status_codes(), [EventStatusCode::Open]);
        assert_eq!(filter.event_type_categories(), [EventTypeCategory::Issue]);
        assert_eq!(input.max_results(), Some(ISSUES_MAX));
        assert_eq!(issues.len(), 1, "an event without an ARN is left out");
        assert_eq!(issues[0].event_type, "AWS_EC2_OPERATIONAL_ISSUE");
        assert_eq!(issues[0].start, Some(at(2026, 12, 6, 1, 30, 0)));
    }

    #[tokio::test]
    async fn no_support_plan_is_none_and_other_errors_keep_their_kind() {
        let unsubscribed = mock!(Client::describe_events).then_error(|| {
            DescribeEventsError::generic(meta("SubscriptionRequiredException", "no plan"))
        });
        assert_eq!(
            must(
                health(&[&unsubscribed])
                    .open_issues(&["EC2".into()], "eu-west-1")
                    .await
            ),
            None
        );
        let denied = mock!(Client::describe_events)
            .then_error(|| DescribeEventsError::generic(meta("AccessDeniedException", "no")));
        let err = must_fail(
            health(&[&denied])
                .open_issues(&["EC2".into()], "eu-west-1")
                .await,
        );
        assert_eq!(err.kind, PortErrorKind::AccessDenied);
        assert_eq!(err.operation, "DescribeEvents");
    }

    #[test]
    fn the_endpoint_region_follows_the_partition() {
        assert_eq!(endpoint_region("eu-west-1"), "us-east-1");
        assert_eq!(endpoint_region("cn-north-1"), "cn-northwest-1");
        assert_eq!(endpoint_region("us-gov-east-1"), "us-gov-west-1");
    }
}
