//! [`Trail`] on CloudTrail's event history (`LookupEvents`).
//!
//! `LookupEvents` takes one `LookupAttributes` entry (here `ResourceName`), a `StartTime` and
//! `EndTime`, `MaxResults` (at most 50) and a `NextToken`; it answers `Events[]` newest first
//! (`EventId`, `EventName`, `EventSource`, `EventTime`, `Username`, `ReadOnly` as the text
//! `"true"`/`"false"`). Only one attribute can be given, so read calls are dropped here rather
//! than by a `ReadOnly` attribute. It allows two calls a second per account and region, shared
//! by everything in the account: the calls are spaced [`SPACING`] apart, and at most [`PAGES`]
//! pages are read per resource (a `NextToken` left over is reported as how far back they
//! reached). The API has no resource-level permissions (IAM `Resource: "*"`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_sdk_cloudtrail::Client;
use chrono::{DateTime, Utc};

use super::convert::{to_chrono, to_smithy_time};
use crate::aws::error::from_sdk_error;
use crate::changes::{TrailEvent, TrailLookup};
use crate::ports::{PortError, PortErrorKind, Trail};

/// Pages read per resource: a resource busy with reads needs more than one to find its writes.
pub const PAGES: usize = 2;
/// Events per page (the API's maximum).
const PAGE_SIZE: i32 = 50;

/// The least time between two calls (the API allows two a second).
pub const SPACING: Duration = Duration::from_millis(500);

/// CloudTrail in one region.
#[derive(Debug)]
pub struct CloudTrail {
    client: Client,
    /// When the last call went out (a warm function's next invocation waits for it too).
    last: Mutex<Option<Instant>>,
}

impl CloudTrail {
    pub fn new(client: Client) -> Self {
        CloudTrail {
            client,
            last: Mutex::new(None),
        }
    }

    /// Waits until [`SPACING`] has passed since the last call.
    async fn spaced(&self) {
        let wait = {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let next = last.map_or(now, |t| (t + SPACING).max(now));
            *last = Some(next);
            next - now
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[async_trait]
impl Trail for CloudTrail {
    async fn writes(
        &self,
        resource: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        max: usize,
    ) -> Result<TrailLookup, PortError> {
        const OP: &str = "LookupEvents";
        let attribute = LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::ResourceName)
            .attribute_value(resource)
            .build()
            .map_err(|e| PortError::new(OP, PortErrorKind::Invalid, e.to_string()))?;
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        let mut oldest: Option<DateTime<Utc>> = None;
        for _ in 0..PAGES {
            self.spaced().await;
            let output = self
                .client
                .lookup_events()
                .lookup_attributes(attribute.clone())
                .start_time(to_smithy_time(since))
                .end_time(to_smithy_time(until))
                .max_results(PAGE_SIZE)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| from_sdk_error(OP, &e))?;
            for event in output.events() {
                let (Some(id), Some(name), Some(time)) = (
                    event.event_id(),
                    event.event_name(),
                    event.event_time().and_then(to_chrono),
                ) else {
                    continue;
                };
                oldest = Some(oldest.map_or(time, |o| o.min(time)));
                let read_only = event.read_only().map(|r| r.eq_ignore_ascii_case("true"));
                if read_only == Some(true) {
                    continue;
                }
                found.push(TrailEvent {
                    id: id.to_string(),
                    name: name.to_string(),
                    source: event.event_source().map(str::to_string),
                    time,
                    by: event.username().map(str::to_string),
                    read_only,
                });
            }
            token = output.next_token().map(str::to_string);
            if found.len() >= max || token.is_none() {
                break;
            }
        }
        found.sort_by_key(|e| std::cmp::Reverse(e.time));
        let enough = found.len() >= max;
        found.truncate(max);
        Ok(TrailLookup {
            events: found,
            // Pages left unread matter only while fewer than `max` writes were found.
            examined_back_to: if token.is_some() && !enough {
                oldest
            } else {
                None
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_cloudtrail::operation::lookup_events::{LookupEventsInput, LookupEventsOutput};
    use aws_sdk_cloudtrail::types::Event;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use chrono::TimeZone;

    use super::*;
    use crate::aws::testkit::Captured;

    fn event(id: &str, name: &str, secs: i64, read_only: &str) -> Event {
        Event::builder()
            .event_id(id)
            .event_name(name)
            .event_source("ec2.amazonaws.com")
            .event_time(aws_smithy_types::DateTime::from_secs(secs))
            .username("alice")
            .read_only(read_only)
            .build()
    }

    #[tokio::test]
    async fn writes_by_resource_name_newest_first_reads_dropped_pages_bounded() {
        let seen = Captured::<LookupEventsInput>::new();
        let s = seen.clone();
        let page = mock!(Client::lookup_events)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(|| {
                LookupEventsOutput::builder()
                    .events(event("b", "DescribeVpnConnections", 1_700_000_300, "true"))
                    .events(event("a", "ModifyVpnTunnelOptions", 1_700_000_200, "false"))
                    .next_token("more")
                    .build()
            });
        let client = mock_client!(aws_sdk_cloudtrail, RuleMode::MatchAny, [&page]);
        let since = Utc.timestamp_opt(1_699_990_000, 0).unwrap();
        let until = Utc.timestamp_opt(1_700_001_000, 0).unwrap();
        let found = CloudTrail::new(client)
            .writes("vpn-0123", since, until, 10)
            .await
            .unwrap();
        assert_eq!(
            found.events.len(),
            PAGES,
            "one write per page, {PAGES} pages at most"
        );
        assert!(found
            .events
            .iter()
            .all(|e| e.name == "ModifyVpnTunnelOptions"));
        assert_eq!(
            found.examined_back_to,
            Utc.timestamp_opt(1_700_000_200, 0).single(),
            "a token was left: how far back the pages reached"
        );
        let requests = seen.all();
        assert_eq!(requests.len(), PAGES);
        let attribute = &requests[0].lookup_attributes()[0];
        assert_eq!(attribute.attribute_key(), &LookupAttributeKey::ResourceName);
        assert_eq!(attribute.attribute_value(), "vpn-0123");
        assert_eq!(requests[0].max_results(), Some(50));
        assert_eq!(requests[1].next_token(), Some("more"));
    }
}
