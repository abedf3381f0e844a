//! SDK adapters, one module per AWS service, each behind its cargo feature.
//!
//! - [`config`]: the shared `SdkConfig` (explicit time-outs and retry budget);
//! - [`error`]: maps any SDK error onto a [`PortError`](crate::ports::PortError);
//! - [`incident_manager`]: the incident ports on Incident Manager;
//! - [`opscenter`]: the incident ports on OpsCenter OpsItems;
//! - [`dynamodb`]: the state table's ports (dedupe keys, run-once records, references);
//! - [`eventbridge`]: [`EventBus`](crate::ports::EventBus) on the responder bus;
//! - [`ec2`]: [`NetworkInventory`](crate::ports::NetworkInventory) on EC2 `Describe*`;
//! - [`mod@cloudwatch`]: [`MetricSource`](crate::ports::MetricSource) on `GetMetricData`, and
//!   [`AlarmStates`](crate::ports::AlarmStates) on `DescribeAlarms`;
//! - [`automation`]: [`AutomationRunner`](crate::ports::AutomationRunner) on SSM Automation;
//! - [`sns`]: [`Notifier`](crate::ports::Notifier) on the notification topic;
//! - [`s3`]: [`ReportStore`](crate::ports::ReportStore) on the report bucket.

pub mod config;
pub mod error;

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

/// The state table `STATE_TABLE` (the dedupe, run-once and reference stores).
#[cfg(feature = "dynamodb")]
pub fn state_table(
    sdk: &aws_types::SdkConfig,
    table: &str,
) -> std::sync::Arc<dynamodb::DynamoStateStore> {
    std::sync::Arc::new(dynamodb::DynamoStateStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        table,
    ))
}

/// The responder bus `RESPONDER_BUS`.
#[cfg(feature = "eventbridge")]
pub fn responder_bus(
    sdk: &aws_types::SdkConfig,
    bus: &str,
) -> std::sync::Arc<eventbridge::EventBridgeBus> {
    std::sync::Arc::new(eventbridge::EventBridgeBus::new(
        aws_sdk_eventbridge::Client::new(sdk),
        bus,
    ))
}

/// EC2's inventory (VPN connections and their gateways).
#[cfg(feature = "ec2")]
pub fn network(sdk: &aws_types::SdkConfig) -> std::sync::Arc<ec2::Ec2Inventory> {
    std::sync::Arc::new(ec2::Ec2Inventory::new(aws_sdk_ec2::Client::new(sdk)))
}

/// CloudWatch: metric data and alarm states.
#[cfg(feature = "cloudwatch")]
pub fn cloudwatch(sdk: &aws_types::SdkConfig) -> std::sync::Arc<cloudwatch::CloudWatchMetrics> {
    std::sync::Arc::new(cloudwatch::CloudWatchMetrics::new(
        aws_sdk_cloudwatch::Client::new(sdk),
    ))
}

/// The incident ports of the backend `INCIDENT_BACKEND` names, for the stages that write onto
/// incidents that exist (`writer`) and resolve them (`resolver`): one adapter behind both.
#[cfg(all(feature = "incident-manager", feature = "opscenter"))]
pub struct Incidents {
    pub writer: std::sync::Arc<dyn crate::ports::IncidentWriter>,
    pub resolver: std::sync::Arc<dyn crate::ports::IncidentResolver>,
}

#[cfg(all(feature = "incident-manager", feature = "opscenter"))]
pub fn incidents(sdk: &aws_types::SdkConfig, backend: crate::domain::Backend) -> Incidents {
    use std::sync::Arc;
    match backend {
        crate::domain::Backend::IncidentManager => {
            let store = Arc::new(incident_manager::IncidentManagerStore::new(
                aws_sdk_ssmincidents::Client::new(sdk),
            ));
            Incidents {
                writer: store.clone(),
                resolver: store,
            }
        }
        crate::domain::Backend::OpsCenter => {
            let store = Arc::new(opscenter::OpsCenterStore::new(
                aws_sdk_ssm::Client::new(sdk),
                None,
            ));
            Incidents {
                writer: store.clone(),
                resolver: store,
            }
        }
    }
}

/// What opens incidents and writes onto them (triage): Incident Manager against the configured
/// response plans, or OpsCenter; one client behind both.
#[cfg(all(feature = "incident-manager", feature = "opscenter"))]
pub fn incidents_to_open(
    sdk: &aws_types::SdkConfig,
    opening: &crate::config::Opening,
) -> (
    std::sync::Arc<dyn crate::ports::IncidentOpener>,
    std::sync::Arc<dyn crate::ports::IncidentWriter>,
) {
    use crate::config::Opening;
    use std::sync::Arc;
    match opening {
        Opening::IncidentManager(plans) => {
            let client = aws_sdk_ssmincidents::Client::new(sdk);
            (
                Arc::new(incident_manager::IncidentManagerOpener::new(
                    client.clone(),
                    plans.clone(),
                )),
                Arc::new(incident_manager::IncidentManagerStore::new(client)),
            )
        }
        Opening::OpsCenter => {
            let store = Arc::new(opscenter::OpsCenterStore::new(
                aws_sdk_ssm::Client::new(sdk),
                None,
            ));
            (store.clone(), store)
        }
    }
}
