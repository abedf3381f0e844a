//! `notify`: on every responder-bus lifecycle event, posts the step to the incident's Slack
//! thread as an AWS Chatbot custom notification on the SNS topic — once, and only the steps the
//! rules' `notifications` section gives the incident's impact. Configuration comes only from the
//! environment (README).

use std::sync::Arc;

use responder::aws;
use responder::config::NotifyConfig;
use responder::handlers::notify::Notify;
use responder::lambda::{serve, Error};
use responder::ports::SystemClock;
use responder::shell::Shell;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    responder::logging::init();
    let config = NotifyConfig::from_env()?;
    let rules = config.rules()?;
    let sdk = aws::config::load().await;
    let state = aws::state_table(&sdk, &config.state_table);
    let topic = aws::notifier(&sdk, &config.topic_arn);
    let notify = Notify::new(topic, state.clone(), rules.notifications().clone())
        .with_escalation(rules.escalation().clone())
        .with_buttons(config.escalate_function.clone());
    serve(Shell::new(notify, state, Arc::new(SystemClock))).await
}
