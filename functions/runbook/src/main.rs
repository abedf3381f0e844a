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
use responder::shell::Shell;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    responder::logging::init();
    let config = RunbookConfig::from_env()?;
    let sdk = aws::config::load().await;
    let state = Arc::new(DynamoStateStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &config.stage.state_table,
    ));
    let bus = Arc::new(EventBridgeBus::new(
        aws_sdk_eventbridge::Client::new(&sdk),
        &config.stage.responder_bus,
    ));
    let runbook = Runbook::new(
        aws::incidents(&sdk, config.stage.backend).writer,
        Arc::new(SsmAutomation::new(aws_sdk_ssm::Client::new(&sdk))),
        state.clone(),
        config.automation_role_arn,
    );
    serve(Shell::new(runbook, state, Arc::new(SystemClock)).with_bus(bus)).await
}
