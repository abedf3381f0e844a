//! `escalate`: pages the on-call by the rules' escalation policy until someone acknowledges,
//! on EventBridge Scheduler timers, and takes the Slack buttons (acknowledge, escalate now).
//! Configuration comes only from the environment (README).

use std::sync::Arc;

use responder::aws;
use responder::config::EscalateConfig;
use responder::handlers::escalate::Escalate;
use responder::lambda::{serve, Error};
use responder::ports::SystemClock;
use responder::shell::Shell;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    responder::logging::init();
    let config = EscalateConfig::from_env()?;
    let rules = config.rules()?;
    let sdk = aws::config::load().await;
    let state = aws::state_table(&sdk, &config.stage.state_table);
    let bus = aws::responder_bus(&sdk, &config.stage.responder_bus);
    let incidents = aws::incidents(&sdk, config.stage.backend);
    let timers = aws::timers(&sdk, &config.timers);
    let pager = aws::pager(&sdk, &config.paging_topics);
    let mut escalate = Escalate::new(rules, incidents.writer, state.clone(), timers, pager)
        .with_own_roles(config.responder_roles.clone())
        .with_keys(state.clone());
    if let Some(watchdog) = config.watchdog_timers() {
        escalate = escalate.with_watchdog(aws::timers(&sdk, &watchdog));
    }
    if let Some(rechecks) = config.recheck_timers() {
        escalate = escalate.with_rechecks(aws::timers(&sdk, &rechecks));
    }
    serve(Shell::new(escalate, state, Arc::new(SystemClock)).with_bus(bus)).await
}
