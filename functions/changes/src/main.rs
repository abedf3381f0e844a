//! `changes`: on `Incident Enriched`, lists what changed before the incident (the write calls
//! CloudTrail recorded on its resources, their CloudFormation stack, open AWS Health issues) and
//! writes it onto the incident. Configuration comes only from the environment (see the README).

use std::sync::Arc;

use responder::aws;
use responder::config::ChangesConfig;
use responder::handlers::changes::ChangesStage;
use responder::lambda::{serve, Error};
use responder::ports::SystemClock;
use responder::shell::Shell;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    responder::logging::init();
    let config = ChangesConfig::from_env()?;
    let sdk = aws::config::load().await;
    let state = aws::state_table(&sdk, &config.stage.state_table);
    let bus = aws::responder_bus(&sdk, &config.stage.responder_bus);
    let incidents = aws::incidents(&sdk, config.stage.backend).writer;
    let stage = ChangesStage::new(
        incidents,
        aws::trail(&sdk),
        aws::stacks(&sdk),
        aws::health(&sdk),
        state.clone(),
        config.lookback,
        config.max,
    );
    serve(Shell::new(stage, state, Arc::new(SystemClock)).with_bus(bus)).await
}
