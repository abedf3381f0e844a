//! `runbook`: on `Incident Enriched`, starts the rule's SSM Automation runbook with parameters
//! taken from the diagnosis; on SSM's automation status-change events, records the outcome.
//! Configuration comes only from the environment (README).

use std::sync::Arc;

use responder::aws;
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
    let state = aws::state_table(&sdk, &config.stage.state_table);
    let bus = aws::responder_bus(&sdk, &config.stage.responder_bus);
    let incidents = aws::incidents(&sdk, config.stage.backend).writer;
    let runbook = Runbook::new(
        config.rules()?,
        incidents,
        aws::automation(&sdk),
        state.clone(),
        config.automation_role_arn,
    );
    serve(Shell::new(runbook, state, Arc::new(SystemClock)).with_bus(bus)).await
}
