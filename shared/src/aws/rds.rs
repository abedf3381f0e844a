//! [`Databases`] on Amazon RDS (`DescribeDBInstances`, `DescribeEvents`).
//!
//! `DescribeDBInstances` with `DBInstanceIdentifier` answers `DBInstances[]`
//! (`DBInstanceArn`, `DBInstanceClass`, `Engine`, `EngineVersion`, `DBInstanceStatus`,
//! `MultiAZ`, `AvailabilityZone`, `AllocatedStorage`, `MaxAllocatedStorage`, `StorageType`); an
//! instance that does not exist is `DBInstanceNotFound`. `DescribeEvents` with
//! `SourceIdentifier`, `SourceType=db-instance`, `StartTime` and `EndTime` answers `Events[]`
//! oldest first (`Date`, `Message`, `EventCategories`), pages of at most [`EVENTS_PAGE`] with
//! a `Marker`: up to [`EVENT_PAGES`] are read, so the newest are among them.

use async_trait::async_trait;
use aws_sdk_rds::types::SourceType;
use aws_sdk_rds::Client;
use chrono::{DateTime, Utc};

use super::convert::to_chrono;
use crate::aws::error::from_sdk_error;
use crate::inspect::{DatabaseFacts, DbEvent};
use crate::ports::{Databases, PortError, PortErrorKind};

/// Events read per page (the API takes 20 to 100), and pages per look-up.
pub const EVENTS_PAGE: i32 = 100;
pub const EVENT_PAGES: usize = 3;

/// RDS in one region.
#[derive(Debug, Clone)]
pub struct Rds {
    client: Client,
}

impl Rds {
    pub fn new(client: Client) -> Self {
        Rds { client }
    }
}

#[async_trait]
impl Databases for Rds {
    async fn database(&self, id: &str) -> Result<DatabaseFacts, PortError> {
        const OP: &str = "DescribeDBInstances";
        let output = self
            .client
            .describe_db_instances()
            .db_instance_identifier(id)
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        let db = output.db_instances().first().ok_or_else(|| {
            PortError::new(OP, PortErrorKind::NotFound, format!("{id} is not listed"))
        })?;
        Ok(DatabaseFacts {
            id: db.db_instance_identifier().unwrap_or(id).to_string(),
            arn: db.db_instance_arn().unwrap_or_default().to_string(),
            class: db.db_instance_class().unwrap_or_default().to_string(),
            engine: db.engine().unwrap_or_default().to_string(),
            engine_version: db.engine_version().map(str::to_string),
            status: db.db_instance_status().unwrap_or("unknown").to_string(),
            multi_az: db.multi_az().unwrap_or(false),
            zone: db.availability_zone().map(str::to_string),
            storage_gib: db.allocated_storage(),
            max_storage_gib: db.max_allocated_storage(),
            storage_type: db.storage_type().map(str::to_string),
            events: Vec::new(),
        })
    }

    async fn events(
        &self,
        id: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        max: usize,
    ) -> Result<Vec<DbEvent>, PortError> {
        let mut events: Vec<DbEvent> = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..EVENT_PAGES {
            let output = self
                .client
                .describe_events()
                .source_identifier(id)
                .source_type(SourceType::DbInstance)
                .start_time(aws_smithy_types::DateTime::from_secs(since.timestamp()))
                .end_time(aws_smithy_types::DateTime::from_secs(until.timestamp() + 1))
                .max_records(EVENTS_PAGE)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| from_sdk_error("DescribeEvents", &e))?;
            events.extend(output.events().iter().map(|e| DbEvent {
                time: e.date().and_then(to_chrono),
                message: e.message().unwrap_or_default().to_string(),
                categories: e.event_categories().to_vec(),
            }));
            marker = output
                .marker()
                .filter(|m| !m.is_empty())
                .map(str::to_string);
            if marker.is_none() {
                break;
            }
        }
        events.sort_by_key(|e| std::cmp::Reverse(e.time));
        events.truncate(max);
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::testkit::*;
    use aws_sdk_rds::operation::describe_db_instances::{
        DescribeDBInstancesError, DescribeDbInstancesOutput,
    };
    use aws_sdk_rds::operation::describe_events::DescribeEventsOutput;
    use aws_sdk_rds::types::{DbInstance, Event};
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};

    fn rds(rules: &[&Rule]) -> Rds {
        let client = mock_client!(aws_sdk_rds, RuleMode::Sequential, rules, |b| b
            .retry_config(fast_retries(1)));
        Rds::new(client)
    }

    #[tokio::test]
    async fn the_instance_and_its_newest_events_are_read() {
        let db = mock!(Client::describe_db_instances)
            .match_requests(|r| r.db_instance_identifier() == Some("orders-db"))
            .then_output(|| {
                DescribeDbInstancesOutput::builder()
                    .db_instances(
                        DbInstance::builder()
                            .db_instance_identifier("orders-db")
                            .db_instance_class("db.t3.micro")
                            .engine("postgres")
                            .engine_version("16.3")
                            .db_instance_status("storage-full")
                            .multi_az(true)
                            .allocated_storage(20)
                            .max_allocated_storage(100)
                            .storage_type("gp3")
                            .build(),
                    )
                    .build()
            });
        let events = mock!(Client::describe_events)
            .match_requests(|r| {
                r.source_identifier() == Some("orders-db")
                    && r.source_type() == Some(&SourceType::DbInstance)
            })
            .then_output(|| {
                let event = |h: u32, m: &str| {
                    Event::builder()
                        .message(m)
                        .date(aws_smithy_types::DateTime::from_secs(
                            at(2026, 12, 6, h, 0, 0).timestamp(),
                        ))
                        .event_categories("notification")
                        .build()
                };
                DescribeEventsOutput::builder()
                    .events(event(1, "older"))
                    .events(event(3, "newer"))
                    .events(event(2, "middle"))
                    .build()
            });
        let rds = rds(&[&db, &events]);
        let facts = must(rds.database("orders-db").await);
        assert_eq!(
            facts.line(),
            "RDS instance orders-db (db.t3.micro, postgres 16.3, Multi-AZ): storage-full, 20 GiB gp3 (autoscaling to 100 GiB)"
        );
        let since = at(2026, 12, 5, 4, 0, 0);
        let read = must(
            rds.events("orders-db", since, at(2026, 12, 6, 4, 0, 0), 2)
                .await,
        );
        let messages: Vec<_> = read.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["newer", "middle"]);
    }

    #[tokio::test]
    async fn a_missing_instance_is_not_found() {
        let rule = mock!(Client::describe_db_instances).then_error(|| {
            DescribeDBInstancesError::generic(meta(
                "DBInstanceNotFound",
                "DBInstance orders-db not found.",
            ))
        });
        let err = must_fail(rds(&[&rule]).database("orders-db").await);
        assert_eq!(err.kind, PortErrorKind::NotFound);
    }
}
