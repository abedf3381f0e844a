//! What the diagnosis and the verification read about the account: the network's inventory
//! and instances (EC2 `Describe*`), CloudWatch metrics and alarm states.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PortError;
use crate::diagnosis::{
    CustomerGateway, Gateway, Instance, InstanceHealth, MetricQuery, MetricSeries, VpnConnection,
};

/// The network's inventory (EC2 `Describe*`): what a VPN incident's diagnosis reads.
#[async_trait]
pub trait NetworkInventory: Send + Sync {
    /// `DescribeVpnConnections` for `ids`; every connection in the region when `ids` is empty.
    /// An id that does not exist is a [`super::PortErrorKind::NotFound`] error.
    async fn vpn_connections(&self, ids: &[String]) -> Result<Vec<VpnConnection>, PortError>;

    /// `DescribeVpnGateways` for one gateway; NotFound when it does not exist.
    async fn vpn_gateway(&self, id: &str) -> Result<Gateway, PortError>;

    /// `DescribeTransitGateways` for one gateway; NotFound when it does not exist.
    async fn transit_gateway(&self, id: &str) -> Result<Gateway, PortError>;

    /// `DescribeCustomerGateways` for one gateway; NotFound when it does not exist.
    async fn customer_gateway(&self, id: &str) -> Result<CustomerGateway, PortError>;
}

/// EC2 instances: what an instance incident's diagnosis and verification read.
#[async_trait]
pub trait Instances: Send + Sync {
    /// `DescribeInstances` for one instance; NotFound when it does not exist (a terminated one
    /// is returned while EC2 still lists it).
    async fn instance(&self, id: &str) -> Result<Instance, PortError>;

    /// `DescribeInstanceStatus` for one instance, stopped ones included; `None` when EC2 reports
    /// no status for it.
    async fn instance_health(&self, id: &str) -> Result<Option<InstanceHealth>, PortError>;

    /// `GetConsoleOutput`: the instance's console output as text, `None` when there is none yet.
    async fn console_output(&self, id: &str) -> Result<Option<String>, PortError>;
}

/// Both EC2 reads, for a stage that verifies VPNs and instances alike through one client.
pub trait Ec2Reads: NetworkInventory + Instances {}

impl<T: NetworkInventory + Instances> Ec2Reads for T {}

/// CloudWatch metrics (`GetMetricData`).
#[async_trait]
pub trait MetricSource: Send + Sync {
    /// One series per query (same ids, datapoints oldest first) between `start` and `end`;
    /// a query with no data gives an empty series.
    async fn metric_data(
        &self,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>, PortError>;
}

/// A CloudWatch alarm's current state, as `DescribeAlarms` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmState {
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub value: String,
    pub reason: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// CloudWatch alarms (`DescribeAlarms`).
#[async_trait]
pub trait AlarmStates: Send + Sync {
    /// The alarm's state (metric and composite alarms alike); `None` when no alarm has that name.
    async fn alarm_state(&self, name: &str) -> Result<Option<AlarmState>, PortError>;
}

/// An SSM Change Calendar's state at a time (`GetCalendarState`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarReading {
    /// `OPEN` or `CLOSED`.
    pub state: String,
    /// When the state changes next, where the calendar says.
    pub next_transition: Option<DateTime<Utc>>,
}

/// SSM Change Calendars (`GetCalendarState`).
#[async_trait]
pub trait Calendars: Send + Sync {
    /// The calendar's state at `at`; a calendar that does not exist (or is not a change
    /// calendar) is `NotFound`.
    async fn state(&self, calendar: &str, at: DateTime<Utc>) -> Result<CalendarReading, PortError>;
}

/// CloudTrail's event history (`LookupEvents`).
#[async_trait]
pub trait Trail: Send + Sync {
    /// The write calls recorded for the resource named `resource` between `since` and `until`,
    /// newest first, at most `max` of them, reading at most a few pages (and saying how far
    /// back they reached when events were left unread).
    async fn writes(
        &self,
        resource: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        max: usize,
    ) -> Result<crate::changes::TrailLookup, PortError>;
}

/// CloudFormation stacks (`DescribeStacks`).
#[async_trait]
pub trait Stacks: Send + Sync {
    /// The stack named `name`; NotFound when there is none.
    async fn stack(&self, name: &str) -> Result<crate::changes::StackFacts, PortError>;
}

/// AWS Health (`DescribeEvents`).
#[async_trait]
pub trait Health: Send + Sync {
    /// The open issues of `services` (Health's codes: `EC2`, `VPN`, …) in `region`, newest
    /// first, at most one page; `None` when the account cannot use the Health API (it needs a
    /// Business, Enterprise On-Ramp or Enterprise support plan: `SubscriptionRequiredException`).
    async fn open_issues(
        &self,
        services: &[String],
        region: &str,
    ) -> Result<Option<Vec<crate::changes::HealthIssue>>, PortError>;
}

/// Lambda functions (`GetFunctionConfiguration`, `GetFunctionConcurrency`): what a function
/// incident's diagnosis reads — never `GetFunction`, whose answer links the function's code.
#[async_trait]
pub trait Functions: Send + Sync {
    /// The function's configuration and version (its `reserved_concurrency` and `errors`
    /// empty); NotFound when it (or the qualifier) does not exist.
    async fn function(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<crate::inspect::FunctionFacts, PortError>;

    /// The function's reserved concurrency; `None` when it has none.
    async fn reserved_concurrency(&self, name: &str) -> Result<Option<i32>, PortError>;
}

/// CloudWatch Logs Insights (`StartQuery`, `GetQueryResults`, `StopQuery`).
#[async_trait]
pub trait LogQueries: Send + Sync {
    /// The newest `max` error lines (errors, exceptions, tracebacks, time-outs) of `log_group`
    /// between `since` and `until`, newest first; `None` when the query did not finish within
    /// the adapter's bounded wait (it is stopped then).
    async fn error_lines(
        &self,
        log_group: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        max: usize,
    ) -> Result<Option<Vec<crate::inspect::LogLine>>, PortError>;
}

/// Elastic Load Balancing target groups (`DescribeTargetGroups`, `DescribeTargetHealth`).
#[async_trait]
pub trait TargetGroups: Send + Sync {
    /// The target group (its `targets` empty); NotFound when it does not exist.
    async fn target_group(&self, arn: &str) -> Result<crate::inspect::TargetGroupFacts, PortError>;

    /// Its targets' health; NotFound when the group does not exist.
    async fn target_health(
        &self,
        arn: &str,
    ) -> Result<Vec<crate::inspect::TargetHealth>, PortError>;
}

/// RDS DB instances (`DescribeDBInstances`, `DescribeEvents`).
#[async_trait]
pub trait Databases: Send + Sync {
    /// The DB instance (its `events` empty); NotFound when it does not exist.
    async fn database(&self, id: &str) -> Result<crate::inspect::DatabaseFacts, PortError>;

    /// The instance's events between `since` and `until`, newest first, at most `max`.
    async fn events(
        &self,
        id: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        max: usize,
    ) -> Result<Vec<crate::inspect::DbEvent>, PortError>;
}
