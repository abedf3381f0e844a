//! `runbook`: on `Incident Enriched`, starts the rule's SSM Automation runbook with parameters
//! taken from the diagnosis; on SSM's automation status-change events, records the outcome.
//! Configuration comes only from the environment (README).

use std::sync::Arc;

use responder::aws::{
    self, automation::SsmAutomation, dynamodb::DynamoStateStore, eventbridge::EventBridgeBus,
};
use responder::config::RunbookConfig;
use responder::handlers::runbook::Runbook;
use responder::lambda::{serve, Error};
use responder::ports::SystemClock;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    responder::logging::init();
    let config = RunbookConfig::from_env()?;
    let sdk = aws::config::load().await;
    let runbook = Runbook::new(
        aws::incident_store(&sdk, config.stage.backend, None),
        Arc::new(SsmAutomation::new(aws_sdk_ssm::Client::new(&sdk))),
        Arc::new(DynamoStateStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            config.stage.state_table.clone(),
        )),
        Arc::new(EventBridgeBus::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            config.stage.responder_bus.clone(),
        )),
        Arc::new(SystemClock),
        config.automation_role_arn.clone(),
    );
    let runbook = &runbook;
    serve(move |event, deadline| async move { runbook.handle(&event, deadline).await }).await
}
