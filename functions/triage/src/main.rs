//! `triage`: classifies each inbound AWS event and opens, joins or recovers its incident.
//! Configuration comes only from the environment (see the README).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use responder::aws::{self, dynamodb::DynamoStateStore, eventbridge::EventBridgeBus};
use responder::config::TriageConfig;
use responder::domain::Backend;
use responder::handlers::triage::Triage;
use responder::ports::{IncidentStore, SystemClock};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    responder::logging::init();
    let config = TriageConfig::from_env()?;
    let rules = config.rules()?;
    let sdk = aws::config::load().await;
    let incidents: Arc<dyn IncidentStore> = match config.backend {
        Backend::IncidentManager => Arc::new(aws::incident_manager::IncidentManagerStore::new(
            aws_sdk_ssmincidents::Client::new(&sdk),
            config.response_plan_arn.clone().unwrap_or_default(),
        )),
        Backend::OpsCenter => Arc::new(aws::opscenter::OpsCenterStore::new(
            aws_sdk_ssm::Client::new(&sdk),
            None,
        )),
    };
    let state = DynamoStateStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        config.state_table.clone(),
    );
    let bus = EventBridgeBus::new(
        aws_sdk_eventbridge::Client::new(&sdk),
        config.responder_bus.clone(),
    );
    let triage = Triage::new(
        rules,
        incidents,
        Arc::new(state),
        Arc::new(bus),
        Arc::new(SystemClock),
    );

    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let triage = &triage;
        async move {
            let deadline = DateTime::<Utc>::from(event.context.deadline());
            triage
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
