//! `enrich`: on `Incident Opened`, reads what an on-call engineer would look up first (the VPN
//! connection, its gateways and tunnel metrics; the alarm's metrics; the finding's resources)
//! and writes it onto the incident. Configuration comes only from the environment (README).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use responder::aws::{
    self, cloudwatch::CloudWatchMetrics, dynamodb::DynamoStateStore, ec2::Ec2Inventory,
    eventbridge::EventBridgeBus,
};
use responder::config::StageConfig;
use responder::domain::Backend;
use responder::handlers::enrich::Enrich;
use responder::ports::{IncidentStore, SystemClock};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    responder::logging::init();
    let config = StageConfig::from_env()?;
    let sdk = aws::config::load().await;
    // enrich writes onto incidents triage opened; it never opens one, so it needs no plan.
    let incidents: Arc<dyn IncidentStore> = match config.backend {
        Backend::IncidentManager => Arc::new(aws::incident_manager::IncidentManagerStore::new(
            aws_sdk_ssmincidents::Client::new(&sdk),
            String::new(),
        )),
        Backend::OpsCenter => Arc::new(aws::opscenter::OpsCenterStore::new(
            aws_sdk_ssm::Client::new(&sdk),
            None,
        )),
    };
    let enrich = Enrich::new(
        incidents,
        Arc::new(Ec2Inventory::new(aws_sdk_ec2::Client::new(&sdk))),
        Arc::new(CloudWatchMetrics::new(aws_sdk_cloudwatch::Client::new(
            &sdk,
        ))),
        Arc::new(DynamoStateStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            config.state_table.clone(),
        )),
        Arc::new(EventBridgeBus::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            config.responder_bus.clone(),
        )),
        Arc::new(SystemClock),
    );

    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let enrich = &enrich;
        async move {
            let deadline = DateTime::<Utc>::from(event.context.deadline());
            enrich
                .handle(&event.payload, deadline)
                .await
                .map_err(|e| Diagnostic {
                    error_type: e.error_type().to_string(),
                    error_message: e.to_string(),
                })
        }
    }))
    .await
}
