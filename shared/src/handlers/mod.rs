//! One module per function: its whole behaviour as a [`crate::shell::Stage`], written against
//! the ports. A module directory holds the stage's flow (`mod.rs`) and, beside it, each idea
//! that flow uses (a diagnosis kind, the Slack renderer, parameter planning).

pub mod changes;
pub mod enrich;
pub mod escalate;
pub mod inspect;
pub mod notify;
pub mod resolve;
pub mod runbook;
pub mod triage;

#[cfg(test)]
pub(crate) mod testkit;

use tracing::warn;

use crate::domain::{one_line, trim_chars};
use crate::ports::{PortError, PortErrorKind};

/// A look-up's result, with what cannot be read turned into a note ("CloudTrail: not gathered
/// for i-0abc: AccessDenied"): denied, gone, refused, or an answer that does not read. Only
/// throttling and outages (past the SDK's retries) fail the invocation, for Lambda to retry.
pub(crate) fn not_gathered<T>(
    what: &str,
    on: &str,
    result: Result<T, PortError>,
    notes: &mut Vec<String>,
) -> Result<Option<T>, PortError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e)
            if matches!(
                e.kind,
                PortErrorKind::Throttled | PortErrorKind::Unavailable
            ) =>
        {
            Err(e)
        }
        Err(e) => {
            warn!(error = %e, "{what} not gathered for {on}");
            let why = match e.kind {
                PortErrorKind::AccessDenied => "AccessDenied".to_string(),
                PortErrorKind::NotFound => "it no longer exists".to_string(),
                _ => trim_chars(&one_line(&e.message), 200),
            };
            notes.push(format!("{what}: not gathered for {on}: {why}"));
            Ok(None)
        }
    }
}
