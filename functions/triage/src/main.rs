//! `triage`: classifies each inbound AWS event and opens, joins or recovers its incident.
//! Configuration comes only from the environment (see the README).

use std::sync::Arc;

use responder::aws::{self, dynamodb::DynamoStateStore, eventbridge::EventBridgeBus};
use responder::config::TriageConfig;
use responder::handlers::triage::Triage;
use responder::lambda::{serve, Error};
use responder::ports::SystemClock;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    responder::logging::init();
    let config = TriageConfig::from_env()?;
    let rules = config.rules()?;
    let sdk = aws::config::load().await;
    let triage = Triage::new(
        rules,
        aws::incident_store(&sdk, config.backend, config.response_plans()),
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
    let triage = &triage;
    serve(move |event, deadline| async move { triage.handle(&event, deadline).await }).await
}
