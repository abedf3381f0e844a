//! `resolve`: on `Signal Recovered`, verifies the recovery (the VPN's tunnels, the alarm's
//! state, the finding's own state); when it holds and the rule allows it, resolves the incident,
//! writes the post-incident record to S3 and announces `Incident Resolved`; otherwise leaves the
//! incident to a responder and says why. Configuration comes only from the environment (README).

use std::sync::Arc;

use responder::aws;
use responder::config::ResolveConfig;
use responder::handlers::resolve::Resolve;
use responder::lambda::{serve, Error};
use responder::ports::SystemClock;
use responder::shell::Shell;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    responder::logging::init();
    let config = ResolveConfig::from_env()?;
    let sdk = aws::config::load().await;
    let state = aws::state_table(&sdk, &config.stage.state_table);
    let bus = aws::responder_bus(&sdk, &config.stage.responder_bus);
    let incidents = aws::incidents(&sdk, config.stage.backend);
    let resolve = Resolve::new(
        incidents.writer,
        incidents.resolver,
        aws::network(&sdk),
        aws::cloudwatch(&sdk),
        aws::reports(&sdk, &config.report_bucket),
        state.clone(),
        state.clone(),
    )
    .with_target_groups(aws::target_groups(&sdk));
    serve(Shell::new(resolve, state, Arc::new(SystemClock)).with_bus(bus)).await
}
