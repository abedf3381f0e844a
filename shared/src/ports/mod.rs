//! One narrow trait per outside capability, returning domain types. Handlers are written
//! against these; `aws` holds the SDK adapters and `memory` the in-memory ones used by tests
//! and the offline rule tester. A function's wiring hands each handler only the capabilities it
//! uses.
//!
//! - [`incidents`]: opening, writing onto, and reading back and resolving incidents;
//! - [`state`]: the state table's dedupe keys, run-once records and references;
//! - [`observe`]: what diagnosis and verification read (EC2, metrics, alarm states, CloudTrail,
//!   CloudFormation);
//! - [`outputs`]: the responder bus, the Slack topic, the report bucket, SSM Automation.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod incidents;
pub mod observe;
pub mod outputs;
pub mod state;

pub use incidents::{IncidentOpener, IncidentRecord, IncidentResolver, IncidentWriter, Standing};
pub use observe::{
    AlarmState, AlarmStates, CalendarReading, Calendars, Databases, Ec2Reads, Functions, Health,
    Instances, LogQueries, MetricSource, NetworkInventory, Stacks, TargetGroups, Trail,
};
pub use outputs::{
    AttributeValue, AutomationRunner, EventBus, Notification, Notifier, Page, Pager, ReportStore,
    StoredReport, Timer, Timers,
};
pub use state::{
    opening_token, Begin, ChangeStore, Claim, ClaimOutcome, Clear, Cleared, DedupeRecord,
    DedupeStore, Join, Joined, KeyStatus, Observed, ReferenceStore, RunOnceStore, Settle,
    SettleWhen, StateChange, SETTLED_KEEP,
};

/// What went wrong talking to an outside service, in terms a handler can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortErrorKind {
    /// The service throttled us and the SDK's retries ran out.
    Throttled,
    /// The thing asked for does not exist.
    NotFound,
    /// IAM denied the call.
    AccessDenied,
    /// A conflicting write or a failed condition.
    Conflict,
    /// The service rejected the request as invalid (a bug on our side or bad config).
    Invalid,
    /// The service could not be reached or answered 5xx / timed out.
    Unavailable,
    /// Anything else.
    Other,
}

impl PortErrorKind {
    /// The `errorType` a failed invocation reports for this kind (README, errorType table).
    pub fn error_type(self) -> &'static str {
        match self {
            PortErrorKind::Throttled => "Throttled",
            PortErrorKind::NotFound => "NotFound",
            PortErrorKind::AccessDenied => "AccessDenied",
            PortErrorKind::Conflict => "Conflict",
            PortErrorKind::Invalid => "InvalidRequest",
            PortErrorKind::Unavailable => "ServiceUnavailable",
            PortErrorKind::Other => "ServiceError",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PortErrorKind::Throttled => "Throttled",
            PortErrorKind::NotFound => "NotFound",
            PortErrorKind::AccessDenied => "AccessDenied",
            PortErrorKind::Conflict => "Conflict",
            PortErrorKind::Invalid => "Invalid",
            PortErrorKind::Unavailable => "Unavailable",
            PortErrorKind::Other => "Other",
        }
    }
}

/// An outside call that failed: which operation, what kind of failure, and the service's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed ({kind}): {message}")]
pub struct PortError {
    pub operation: String,
    pub kind: PortErrorKind,
    pub message: String,
}

impl PortError {
    pub fn new(
        operation: impl Into<String>,
        kind: PortErrorKind,
        message: impl Into<String>,
    ) -> Self {
        PortError {
            operation: operation.into(),
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for PortErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The time, injectable so tests can move it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
