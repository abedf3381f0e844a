//! SDK adapters, one module per AWS service, each behind its cargo feature.
//!
//! - [`config`]: the shared `SdkConfig` (explicit time-outs and retry budget);
//! - [`error`]: maps any SDK error onto a [`PortError`](crate::ports::PortError);
//! - [`incident_manager`]: [`IncidentStore`](crate::ports::IncidentStore) on Incident Manager;
//! - [`opscenter`]: [`IncidentStore`](crate::ports::IncidentStore) on OpsCenter OpsItems;
//! - [`dynamodb`]: [`StateStore`](crate::ports::StateStore) on the state table;
//! - [`eventbridge`]: [`EventBus`](crate::ports::EventBus) on the responder bus;
//! - [`ec2`]: [`NetworkInventory`](crate::ports::NetworkInventory) on EC2 `Describe*`;
//! - [`cloudwatch`]: [`MetricSource`](crate::ports::MetricSource) on `GetMetricData`;
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

/// The incident store `INCIDENT_BACKEND` names. The response plans are needed only to open
/// incidents (triage); the later stages write onto incidents that exist.
#[cfg(all(feature = "incident-manager", feature = "opscenter"))]
pub fn incident_store(
    sdk: &aws_types::SdkConfig,
    backend: crate::domain::Backend,
    response_plans: Option<crate::domain::ResponsePlans>,
) -> std::sync::Arc<dyn crate::ports::IncidentStore> {
    use crate::domain::Backend;
    match backend {
        Backend::IncidentManager => {
            std::sync::Arc::new(incident_manager::IncidentManagerStore::new(
                aws_sdk_ssmincidents::Client::new(sdk),
                response_plans.unwrap_or_default(),
            ))
        }
        Backend::OpsCenter => std::sync::Arc::new(opscenter::OpsCenterStore::new(
            aws_sdk_ssm::Client::new(sdk),
            None,
        )),
    }
}
