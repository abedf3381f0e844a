//! SDK adapters, one module per AWS service, each behind its cargo feature.
//!
//! - [`config`]: the shared `SdkConfig` (explicit time-outs and retry budget);
//! - [`error`]: maps any SDK error onto a [`PortError`](crate::ports::PortError);
//! - [`incident_manager`]: the incident ports on Incident Manager;
//! - [`opscenter`]: the incident ports on OpsCenter OpsItems;
//! - [`opscenter::calendar`]: [`Calendars`](crate::ports::Calendars) on SSM Change Calendar
//!   (the same SSM client);
//! - [`dynamodb`]: the state table's ports (dedupe keys, run-once records, references);
//! - [`eventbridge`]: [`EventBus`](crate::ports::EventBus) on the responder bus;
//! - [`ec2`]: [`NetworkInventory`](crate::ports::NetworkInventory) on EC2 `Describe*`;
//! - [`mod@cloudwatch`]: [`MetricSource`](crate::ports::MetricSource) on `GetMetricData`, and
//!   [`AlarmStates`](crate::ports::AlarmStates) on `DescribeAlarms`;
//! - [`automation`]: [`AutomationRunner`](crate::ports::AutomationRunner) on SSM Automation;
//! - [`sns`]: [`Notifier`](crate::ports::Notifier) on the notification topic, and
//!   [`Pager`](crate::ports::Pager) on the paging topics;
//! - [`s3`]: [`ReportStore`](crate::ports::ReportStore) on the report bucket;
//! - [`scheduler`]: [`Timers`](crate::ports::Timers) on EventBridge Scheduler;
//! - [`cloudtrail`]: [`Trail`](crate::ports::Trail) on CloudTrail `LookupEvents`;
//! - [`cloudformation`]: [`Stacks`](crate::ports::Stacks) on CloudFormation `DescribeStacks`;
//! - [`health`]: [`Health`](crate::ports::Health) on AWS Health `DescribeEvents`;
//! - [`lambda_functions`]: [`Functions`](crate::ports::Functions) on Lambda `GetFunction`;
//! - [`logs`]: [`LogQueries`](crate::ports::LogQueries) on CloudWatch Logs Insights;
//! - [`elbv2`]: [`TargetGroups`](crate::ports::TargetGroups) on ELB `DescribeTarget*`;
//! - [`rds`]: [`Databases`](crate::ports::Databases) on RDS `DescribeDBInstances` and
//!   `DescribeEvents`.

pub mod config;
pub mod error;

// Unused only in a build with no adapter feature: the wiring helpers below each need one.
#[allow(unused_imports)]
use std::sync::Arc;

mod convert;

#[cfg(test)]
mod testkit;

#[cfg(feature = "incident-manager")]
pub mod incident_manager;

#[cfg(feature = "opscenter")]
pub mod opscenter;

#[cfg(feature = "dynamodb")]
pub mod dynamodb;

#[cfg(feature = "eventbridge")]
pub mod eventbridge;

#[cfg(feature = "ec2")]
pub mod ec2;

#[cfg(feature = "cloudwatch")]
pub mod cloudwatch;

#[cfg(feature = "automation")]
pub mod automation;

#[cfg(feature = "sns")]
pub mod sns;

#[cfg(feature = "s3")]
pub mod s3;

#[cfg(feature = "cloudformation")]
pub mod cloudformation;
#[cfg(feature = "cloudtrail")]
pub mod cloudtrail;
#[cfg(feature = "elbv2")]
pub mod elbv2;
#[cfg(feature = "health")]
pub mod health;
#[cfg(feature = "lambda_functions")]
pub mod lambda_functions;
#[cfg(feature = "logs")]
pub mod logs;
#[cfg(feature = "rds")]
pub mod rds;
#[cfg(feature = "scheduler")]
pub mod scheduler;

// What each function's `main.rs` wires: one adapter per port, from the shared `SdkConfig`.

/// The state table `STATE_TABLE` (the dedupe, run-once and reference stores).
#[cfg(feature = "dynamodb")]
pub fn state_table(sdk: &aws_types::SdkConfig, table: &str) -> Arc<dynamodb::DynamoStateStore> {
    Arc::new(dynamodb::DynamoStateStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        table,
    ))
}

/// The responder bus `RESPONDER_BUS`.
#[cfg(feature = "eventbridge")]
pub fn responder_bus(sdk: &aws_types::SdkConfig, bus: &str) -> Arc<eventbridge::EventBridgeBus> {
    Arc::new(eventbridge::EventBridgeBus::new(
        aws_sdk_eventbridge::Client::new(sdk),
        bus,
    ))
}

/// EC2's inventory (VPN connections and their gateways).
#[cfg(feature = "ec2")]
pub fn network(sdk: &aws_types::SdkConfig) -> Arc<ec2::Ec2Inventory> {
    Arc::new(ec2::Ec2Inventory::new(aws_sdk_ec2::Client::new(sdk)))
}

/// CloudWatch: metric data and alarm states.
#[cfg(feature = "cloudwatch")]
pub fn cloudwatch(sdk: &aws_types::SdkConfig) -> Arc<cloudwatch::CloudWatchMetrics> {
    Arc::new(cloudwatch::CloudWatchMetrics::new(
        aws_sdk_cloudwatch::Client::new(sdk),
    ))
}

/// Lambda functions.
#[cfg(feature = "lambda_functions")]
pub fn functions(sdk: &aws_types::SdkConfig) -> Arc<lambda_functions::Lambda> {
    Arc::new(lambda_functions::Lambda::new(aws_sdk_lambda::Client::new(
        sdk,
    )))
}

/// CloudWatch Logs Insights.
#[cfg(feature = "logs")]
pub fn log_queries(sdk: &aws_types::SdkConfig) -> Arc<logs::LogsInsights> {
    Arc::new(logs::LogsInsights::new(
        aws_sdk_cloudwatchlogs::Client::new(sdk),
    ))
}

/// Elastic Load Balancing target groups.
#[cfg(feature = "elbv2")]
pub fn target_groups(sdk: &aws_types::SdkConfig) -> Arc<elbv2::LoadBalancing> {
    Arc::new(elbv2::LoadBalancing::new(
        aws_sdk_elasticloadbalancingv2::Client::new(sdk),
    ))
}

/// RDS DB instances.
#[cfg(feature = "rds")]
pub fn databases(sdk: &aws_types::SdkConfig) -> Arc<rds::Rds> {
    Arc::new(rds::Rds::new(aws_sdk_rds::Client::new(sdk)))
}

/// SSM Automation, which runs the runbooks.
#[cfg(feature = "automation")]
pub fn automation(sdk: &aws_types::SdkConfig) -> Arc<automation::SsmAutomation> {
    Arc::new(automation::SsmAutomation::new(aws_sdk_ssm::Client::new(
        sdk,
    )))
}

/// The Chatbot topic `NOTIFY_TOPIC_ARN`.
#[cfg(feature = "sns")]
pub fn notifier(sdk: &aws_types::SdkConfig, topic_arn: &str) -> Arc<sns::SnsNotifier> {
    Arc::new(sns::SnsNotifier::new(
        aws_sdk_sns::Client::new(sdk),
        topic_arn.to_string(),
    ))
}

/// The paging topics (`PAGING_TOPICS`), by the rules' topic names.
#[cfg(feature = "sns")]
pub fn pager(
    sdk: &aws_types::SdkConfig,
    topics: &std::collections::BTreeMap<String, String>,
) -> Arc<sns::SnsPager> {
    Arc::new(sns::SnsPager::new(
        aws_sdk_sns::Client::new(sdk),
        topics.clone(),
    ))
}

/// The timers: one-time schedules in `SCHEDULE_GROUP` invoking `SCHEDULE_TARGET_ARN` through
/// `SCHEDULE_ROLE_ARN`.
#[cfg(feature = "scheduler")]
pub fn timers(
    sdk: &aws_types::SdkConfig,
    config: &crate::config::TimerConfig,
) -> Arc<scheduler::SchedulerTimers> {
    Arc::new(scheduler::SchedulerTimers::new(
        aws_sdk_scheduler::Client::new(sdk),
        config.group.clone(),
        config.target_arn.clone(),
        config.role_arn.clone(),
    ))
}

/// The report bucket `REPORT_BUCKET`, in the function's region (its console links name it).
#[cfg(feature = "s3")]
pub fn reports(sdk: &aws_types::SdkConfig, bucket: &str) -> Arc<s3::S3Reports> {
    let region = sdk.region().map(|r| r.as_ref().to_string());
    Arc::new(s3::S3Reports::new(
        aws_sdk_s3::Client::new(sdk),
        bucket.to_string(),
        region.unwrap_or_default(),
    ))
}

/// The incident ports of the backend `INCIDENT_BACKEND` names, for the stages that write onto
/// incidents that exist (`writer`) and resolve them (`resolver`): one adapter behind both.
#[cfg(all(feature = "incident-manager", feature = "opscenter"))]
pub struct Incidents {
    pub writer: Arc<dyn crate::ports::IncidentWriter>,
    pub resolver: Arc<dyn crate::ports::IncidentResolver>,
}

#[cfg(all(feature = "incident-manager", feature = "opscenter"))]
pub fn incidents(sdk: &aws_types::SdkConfig, backend: crate::domain::Backend) -> Incidents {
    fn both<T>(store: Arc<T>) -> Incidents
    where
        T: crate::ports::IncidentWriter + crate::ports::IncidentResolver + 'static,
    {
        Incidents {
            writer: store.clone(),
            resolver: store,
        }
    }
    match backend {
        crate::domain::Backend::IncidentManager => both(incident_manager_store(
            aws_sdk_ssmincidents::Client::new(sdk),
        )),
        crate::domain::Backend::OpsCenter => both(opscenter_store(sdk)),
    }
}

/// What opens incidents and writes onto them (triage): Incident Manager against the configured
/// response plans, or OpsCenter; one client behind both.
#[cfg(all(feature = "incident-manager", feature = "opscenter"))]
pub fn incidents_to_open(
    sdk: &aws_types::SdkConfig,
    opening: &crate::config::Opening,
) -> (
    Arc<dyn crate::ports::IncidentOpener>,
    Arc<dyn crate::ports::IncidentWriter>,
) {
    use crate::config::Opening;
    match opening {
        Opening::IncidentManager(plans) => {
            let client = aws_sdk_ssmincidents::Client::new(sdk);
            let opener =
                incident_manager::IncidentManagerOpener::new(client.clone(), plans.clone());
            (Arc::new(opener), incident_manager_store(client))
        }
        Opening::OpsCenter => {
            let store = opscenter_store(sdk);
            (store.clone(), store)
        }
    }
}

#[cfg(feature = "incident-manager")]
fn incident_manager_store(
    client: aws_sdk_ssmincidents::Client,
) -> Arc<incident_manager::IncidentManagerStore> {
    Arc::new(incident_manager::IncidentManagerStore::new(client))
}

/// SSM Change Calendars, which maintenance windows may follow (triage).
#[cfg(feature = "opscenter")]
pub fn calendars(sdk: &aws_types::SdkConfig) -> Arc<opscenter::calendar::SsmCalendars> {
    Arc::new(opscenter::calendar::SsmCalendars::new(
        aws_sdk_ssm::Client::new(sdk),
    ))
}

#[cfg(feature = "opscenter")]
fn opscenter_store(sdk: &aws_types::SdkConfig) -> Arc<opscenter::OpsCenterStore> {
    Arc::new(opscenter::OpsCenterStore::new(
        aws_sdk_ssm::Client::new(sdk),
        None,
    ))
}

/// CloudTrail's event history (what changed).
#[cfg(feature = "cloudtrail")]
pub fn trail(sdk: &aws_types::SdkConfig) -> Arc<cloudtrail::CloudTrail> {
    Arc::new(cloudtrail::CloudTrail::new(
        aws_sdk_cloudtrail::Client::new(sdk),
    ))
}

/// CloudFormation's stacks (what changed).
#[cfg(feature = "cloudformation")]
pub fn stacks(sdk: &aws_types::SdkConfig) -> Arc<cloudformation::CloudFormation> {
    Arc::new(cloudformation::CloudFormation::new(
        aws_sdk_cloudformation::Client::new(sdk),
    ))
}

/// AWS Health (open issues), through its global endpoint's region.
#[cfg(feature = "health")]
pub fn health(sdk: &aws_types::SdkConfig) -> Arc<health::AwsHealth> {
    let region = sdk.region().map(|r| r.as_ref()).unwrap_or_default();
    let config = aws_sdk_health::config::Builder::from(sdk)
        .region(aws_types::region::Region::from_static(
            health::endpoint_region(region),
        ))
        .build();
    Arc::new(health::AwsHealth::new(aws_sdk_health::Client::from_conf(
        config,
    )))
}
