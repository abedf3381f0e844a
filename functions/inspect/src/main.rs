//! `inspect`: on `Incident Enriched`, reads the Lambda function (configuration, latest error
//! lines through Logs Insights), the target group (each target's health) or the RDS instance
//! (status, storage, recent events) an alarm is about, and writes it onto the incident.
//! Configuration comes only from the environment (see the README).

use std::sync::Arc;

use responder::aws;
use responder::config::StageConfig;
use responder::handlers::inspect::Inspect;
use responder::lambda::{serve, Error};
use responder::ports::SystemClock;
use responder::shell::Shell;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    responder::logging::init();
    let config = StageConfig::from_env()?;
    let sdk = aws::config::load().await;
    let state = aws::state_table(&sdk, &config.state_table);
    let bus = aws::responder_bus(&sdk, &config.responder_bus);
    let incidents = aws::incidents(&sdk, config.backend).writer;
    let stage = Inspect::new(
        incidents,
        aws::functions(&sdk),
        aws::log_queries(&sdk),
        aws::target_groups(&sdk),
        aws::databases(&sdk),
    );
    serve(Shell::new(stage, state, Arc::new(SystemClock)).with_bus(bus)).await
}
