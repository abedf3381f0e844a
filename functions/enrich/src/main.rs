//! `enrich`: on `Incident Opened`, reads what an on-call engineer would look up first (the VPN
//! connection, its gateways and tunnel metrics; the EC2 instance, its status checks and console; the alarm's metrics; the finding's resources)
//! and writes it onto the incident. Configuration comes only from the environment (README).

use std::sync::Arc;

use responder::aws;
use responder::config::StageConfig;
use responder::handlers::enrich::Enrich;
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
    let ec2 = aws::network(&sdk);
    let enrich = Enrich::new(incidents, ec2.clone(), ec2, aws::cloudwatch(&sdk));
    serve(Shell::new(enrich, state, Arc::new(SystemClock)).with_bus(bus)).await
}
