//! `runbook`: on `Incident Enriched`, starts the rule's SSM Automation runbook with parameters
//! taken from the diagnosis; on SSM's automation status-change events, records the outcome.
//! Configuration comes only from the environment (README).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use responder::aws::{
    self, automation::SsmAutomation, dynamodb::DynamoStateStore, eventbridge::EventBridgeBus,
};
use responder::config::RunbookConfig;
use responder::domain::Backend;
use responder::handlers::runbook::Runbook;
use responder::ports::{IncidentStore, SystemClock};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    responder::logging::init();
    let config = RunbookConfig::from_env()?;
    let sdk = aws::config::load().await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    // runbook writes onto incidents triage opened; it never opens one, so it needs no plan.
    let incidents: Arc<dyn IncidentStore> = match config.stage.backend {
        Backend::IncidentManager => Arc::new(aws::incident_manager::IncidentManagerStore::new(
            aws_sdk_ssmincidents::Client::new(&sdk),
            String::new(),
        )),
        Backend::OpsCenter => Arc::new(aws::opscenter::OpsCenterStore::new(ssm.clone(), None)),
    };
    let runbook = Runbook::new(
        incidents,
        Arc::new(SsmAutomation::new(ssm)),
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

    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let runbook = &runbook;
        async move {
            let deadline = DateTime::<Utc>::from(event.context.deadline());
            runbook
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
