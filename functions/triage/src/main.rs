//! `triage`: classifies each inbound AWS event and opens, joins or recovers its incident, or
//! holds it (quiet hours) and looks at it again when the hold ends.
//! Configuration comes only from the environment (see the README).

use std::sync::Arc;

use responder::aws;
use responder::config::TriageConfig;
use responder::handlers::triage::{QuietPorts, Triage};
use responder::lambda::{serve, Error};
use responder::ports::SystemClock;
use responder::shell::Shell;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    responder::logging::init();
    let config = TriageConfig::from_env()?;
    let rules = config.rules()?;
    let sdk = aws::config::load().await;
    let state = aws::state_table(&sdk, &config.stage.state_table);
    let bus = aws::responder_bus(&sdk, &config.stage.responder_bus);
    let (opener, incidents) = aws::incidents_to_open(&sdk, &config.opening);
    let quiet = QuietPorts {
        references: state.clone(),
        calendars: aws::calendars(&sdk),
        alarms: aws::cloudwatch(&sdk),
        backend: config.stage.backend,
    };
    let triage =
        Triage::new(rules, opener, incidents, state.clone(), state.clone()).with_quiet(quiet);
    serve(Shell::new(triage, state, Arc::new(SystemClock)).with_bus(bus)).await
}
