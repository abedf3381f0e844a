//! SSM Automation's `EC2 Automation Execution Status-change Notification` (source `aws.ssm`):
//! how an execution ended. The runbook stage reads it for the executions it started.

use serde::Deserialize;
use serde_json::Value;

use super::{decode, SourceError};

/// The source of Automation's status-change events.
pub const SOURCE: &str = "aws.ssm";
/// The detail-type of Automation's execution status-change events.
pub const DETAIL_TYPE: &str = "EC2 Automation Execution Status-change Notification";

/// The statuses after which an execution does not change any more.
pub const TERMINAL_STATUSES: [&str; 8] = [
    "Success",
    "Failed",
    "TimedOut",
    "Cancelled",
    "CompletedWithSuccess",
    "CompletedWithFailure",
    "Rejected",
    "Exited",
];

/// Whether a final status means the runbook did its job.
pub fn succeeded(status: &str) -> bool {
    matches!(status, "Success" | "CompletedWithSuccess")
}

/// An execution's status change, as far as the responder reads it. The detail's
/// `StartTime`/`EndTime` ("Nov 29, 2024 7:43:25 PM") are not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub execution_id: String,
    pub status: String,
    /// The runbook's name (`Definition`).
    pub definition: Option<String>,
}

impl StatusChange {
    /// Whether the execution has ended.
    pub fn is_final(&self) -> bool {
        TERMINAL_STATUSES.contains(&self.status.as_str())
    }
}

#[derive(Deserialize)]
struct RawEvent {
    detail: RawDetail,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawDetail {
    execution_id: String,
    status: String,
    #[serde(default)]
    definition: Option<String>,
}

/// Whether `event` is one of these status changes (by source and detail-type).
pub fn is_status_change(event: &Value) -> bool {
    event.get("source").and_then(Value::as_str) == Some(SOURCE)
        && event.get("detail-type").and_then(Value::as_str) == Some(DETAIL_TYPE)
}

/// Reads a status-change event; a missing or empty `ExecutionId` or `Status` is malformed.
pub fn parse(event: &Value) -> Result<StatusChange, SourceError> {
    let raw: RawEvent = decode(DETAIL_TYPE, event)?;
    let execution_id = raw.detail.execution_id.trim().to_string();
    let status = raw.detail.status.trim().to_string();
    for (value, name) in [(&execution_id, "ExecutionId"), (&status, "Status")] {
        if value.is_empty() {
            return Err(SourceError::Empty {
                kind: DETAIL_TYPE,
                path: format!("detail.{name}"),
            });
        }
    }
    Ok(StatusChange {
        execution_id,
        status,
        definition: raw.detail.definition.filter(|d| !d.trim().is_empty()),
    })
}
