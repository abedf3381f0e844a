//! The Lambda side every function shares: serve a [`Shell`]ed stage on the Lambda runtime, each
//! failure reported as `{errorType, errorMessage}` so that Lambda retries (and in the end
//! dead-letters) the event and the error names what went wrong.

use chrono::{DateTime, Utc};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

use crate::shell::{Failure, Shell, Stage};

/// What `main` returns when the function cannot start (a configuration error, say).
pub type Error = lambda_runtime::Error;

/// Serves invocations one at a time until the runtime stops: each event's payload and deadline
/// go to the stage; its answer is the invocation's response, its failure the invocation's error.
pub async fn serve<S: Stage>(shell: Shell<S>) -> Result<(), Error> {
    shell.ready()?;
    let shell = &shell;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = DateTime::<Utc>::from(event.context.deadline());
        let invoked = event.context.invoked_function_arn.as_str();
        shell
            .handle_invoked(&event.payload, deadline, invoked)
            .await
            .map_err(|e| Diagnostic {
                error_type: e.error_type().to_string(),
                error_message: e.to_string(),
            })
    }))
    .await
}
