//! Why an invocation failed: a sentence, and a stable `errorType` (README, "Error types"). A
//! failed invocation is retried by Lambda and, in the end, dead-lettered.

use crate::domain::Backend;
use crate::ports::PortError;
use crate::sources::SourceError;

/// A stage's failure: the sentence is its `Display`, the `errorType` Lambda reports is
/// [`Failure::error_type`].
pub trait Failure: std::error::Error {
    fn error_type(&self) -> &'static str;
}

/// The failures every stage can have. A stage with failures of its own wraps this in its own
/// error type.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// Not an event this stage handles (another source or detail-type, not JSON object).
    #[error("{0}")]
    UnknownEvent(String),
    /// The right kind of event, without the fields it must have.
    #[error("{0}")]
    MalformedEvent(String),
    /// An inbound AWS event that cannot be turned into signals (triage).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// An outside call failed in a way a retry may fix, or one the stage cannot do without.
    #[error("{0}")]
    Port(#[from] PortError),
    /// Another live invocation holds this work's run-once key.
    #[error("`{key}` is being handled by another invocation right now; retry later")]
    InProgress { key: String },
    /// The incident lives in another backend than the one this function writes to.
    #[error("incident {incident} is in {found}, but this function writes to {configured}")]
    WrongBackend {
        incident: String,
        found: Backend,
        configured: Backend,
    },
    /// Something the state table holds contradicts itself or cannot be read back.
    #[error("the state table's record of {what} cannot be used: {problem}")]
    Inconsistent { what: String, problem: String },
}

impl Failure for StageError {
    fn error_type(&self) -> &'static str {
        match self {
            StageError::UnknownEvent(_) => "UnknownEvent",
            StageError::MalformedEvent(_) => "MalformedEvent",
            StageError::Source(e) => e.error_type(),
            StageError::Port(e) => e.kind.error_type(),
            StageError::InProgress { .. } => "EventInProgress",
            StageError::WrongBackend { .. } => "WrongBackend",
            StageError::Inconsistent { .. } => "InconsistentState",
        }
    }
}

impl StageError {
    /// Refuses an incident of another backend than `configured`.
    pub fn check_backend(
        incident: &crate::domain::IncidentSummary,
        configured: Backend,
    ) -> Result<(), StageError> {
        if incident.backend == configured {
            Ok(())
        } else {
            Err(StageError::WrongBackend {
                incident: incident.id.clone(),
                found: incident.backend,
                configured,
            })
        }
    }
}
