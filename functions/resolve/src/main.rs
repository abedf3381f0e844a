//! `resolve`: on `Signal Recovered`, verifies the recovery (the VPN's tunnels, the alarm's
//! state, the finding's own state); when it holds and the rule allows it, resolves the incident,
//! writes the post-incident record to S3 and announces `Incident Resolved`; otherwise leaves the
//! incident to a responder and says why. Configuration comes only from the environment (README).

use std::sync::Arc;

use responder::aws::{
    self, cloudwatch::CloudWatchMetrics, dynamodb::DynamoStateStore, ec2::Ec2Inventory,
    eventbridge::EventBridgeBus, s3::S3Reports,
};
use responder::config::ResolveConfig;
use responder::handlers::resolve::Resolve;
use responder::lambda::{serve, Error};
use responder::ports::SystemClock;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    responder::logging::init();
    let config = ResolveConfig::from_env()?;
    let sdk = aws::config::load().await;
    let region = sdk
        .region()
        .map(|r| r.as_ref().to_string())
        .unwrap_or_default();
    let resolve = Resolve::new(
        aws::incident_store(&sdk, config.stage.backend, None),
        Arc::new(Ec2Inventory::new(aws_sdk_ec2::Client::new(&sdk))),
        Arc::new(CloudWatchMetrics::new(aws_sdk_cloudwatch::Client::new(
            &sdk,
        ))),
        Arc::new(S3Reports::new(
            aws_sdk_s3::Client::new(&sdk),
            config.report_bucket.clone(),
            region,
        )),
        Arc::new(DynamoStateStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            config.stage.state_table.clone(),
        )),
        Arc::new(EventBridgeBus::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            config.stage.responder_bus.clone(),
        )),
        Arc::new(SystemClock),
    );
    let resolve = &resolve;
    serve(move |event, deadline| async move { resolve.handle(&event, deadline).await }).await
}
