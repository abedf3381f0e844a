//! `enrich`: on `Incident Opened`, reads what an on-call engineer would look up first (the VPN
//! connection, its gateways and tunnel metrics; the alarm's metrics; the finding's resources)
//! and writes it onto the incident. Configuration comes only from the environment (README).

use std::sync::Arc;

use responder::aws::{
    self, cloudwatch::CloudWatchMetrics, dynamodb::DynamoStateStore, ec2::Ec2Inventory,
    eventbridge::EventBridgeBus,
};
use responder::config::StageConfig;
use responder::handlers::enrich::Enrich;
use responder::lambda::{serve, Error};
use responder::ports::SystemClock;
use responder::shell::Shell;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    responder::logging::init();
    let config = StageConfig::from_env()?;
    let sdk = aws::config::load().await;
    let state = Arc::new(DynamoStateStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &config.state_table,
    ));
    let bus = Arc::new(EventBridgeBus::new(
        aws_sdk_eventbridge::Client::new(&sdk),
        &config.responder_bus,
    ));
    let enrich = Enrich::new(
        aws::incidents(&sdk, config.backend).writer,
        Arc::new(Ec2Inventory::new(aws_sdk_ec2::Client::new(&sdk))),
        Arc::new(CloudWatchMetrics::new(aws_sdk_cloudwatch::Client::new(
            &sdk,
        ))),
    );
    serve(Shell::new(enrich, state, Arc::new(SystemClock)).with_bus(bus)).await
}
