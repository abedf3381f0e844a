//! The Lambda side every function shares: run a handler on the Lambda runtime, with each
//! failure reported as `{errorType, errorMessage}` so Lambda retries (and in the end
//! dead-letters) the event and the error names what went wrong.

use std::future::Future;

use chrono::{DateTime, Utc};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::Value;

use crate::handlers::{
    enrich::EnrichError, notify::NotifyError, resolve::ResolveError, runbook::RunbookError,
    triage::TriageError,
};

/// What `main` returns when the function cannot start (a configuration error, say).
pub type Error = lambda_runtime::Error;

/// A handler's failure: a sentence, and the stable `errorType` of the README's table.
pub trait Failure: std::fmt::Display {
    fn error_type(&self) -> &'static str;
}

impl Failure for TriageError {
    fn error_type(&self) -> &'static str {
        TriageError::error_type(self)
    }
}

impl Failure for EnrichError {
    fn error_type(&self) -> &'static str {
        EnrichError::error_type(self)
    }
}

impl Failure for RunbookError {
    fn error_type(&self) -> &'static str {
        RunbookError::error_type(self)
    }
}

impl Failure for NotifyError {
    fn error_type(&self) -> &'static str {
        NotifyError::error_type(self)
    }
}

impl Failure for ResolveError {
    fn error_type(&self) -> &'static str {
        ResolveError::error_type(self)
    }
}

/// Serves invocations one at a time until the runtime stops: each event's payload and
/// deadline go to `handler`; its answer is the invocation's response, its failure the
/// invocation's error.
pub async fn serve<F, Fut, A, E>(handler: F) -> Result<(), Error>
where
    F: Fn(Value, DateTime<Utc>) -> Fut,
    Fut: Future<Output = Result<A, E>>,
    A: Serialize,
    E: Failure,
{
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let deadline = DateTime::<Utc>::from(event.context.deadline());
        let answer = handler(event.payload, deadline);
        async move {
            answer.await.map_err(|e| Diagnostic {
                error_type: e.error_type().to_string(),
                error_message: e.to_string(),
            })
        }
    }))
    .await
}
