//! Reading an invocation's payload: the [`Input`] a stage takes, and the responder bus's own
//! events ([`BusEvent`]: source `incident.responder`, a lifecycle detail-type, the
//! [`LifecycleDetail`] as `detail`).
//!
//! A payload of another source or detail-type is `UnknownEvent`, saying which stage got what and
//! what it takes; a responder-bus event whose detail breaks the contract is `MalformedEvent`,
//! naming the JSON path of the problem.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::StageError;
use crate::domain::{LifecycleDetail, LifecycleEvent, LifecycleKind, RESPONDER_SOURCE};

/// What a stage reads from its payload.
pub trait Input: Sized + Send {
    /// Reads the payload: `None` for a payload of another kind (the shell answers it
    /// `UnknownEvent`, naming the stage and what it takes), an error for one of its kind that
    /// cannot be read.
    fn parse(event: &Value) -> Result<Option<Self>, StageError>;
}

/// Where the responder runs: the account and region of the event that reached it (the incident
/// record and the runbook execution live there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub account: String,
    pub region: String,
}

/// A responder-bus event as a rule delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct BusEvent {
    pub event: LifecycleEvent,
    /// The envelope's `account` and `region`, else the signal's.
    pub origin: Origin,
}

impl Input for BusEvent {
    fn parse(event: &Value) -> Result<Option<Self>, StageError> {
        if !has_source(event, RESPONDER_SOURCE) {
            return Ok(None);
        }
        let envelope = Envelope::deserialize(event).map_err(|e| {
            StageError::UnknownEvent(format!(
                "not a responder bus event: no EventBridge envelope ({e})"
            ))
        })?;
        let kind: LifecycleKind =
            serde_json::from_value(Value::String(envelope.detail_type.clone())).map_err(|_| {
                StageError::UnknownEvent(format!(
                    "not a responder bus event: detail-type `{}` is not a lifecycle event",
                    envelope.detail_type
                ))
            })?;
        let detail: LifecycleDetail =
            serde_path_to_error::deserialize(&envelope.detail).map_err(|e| {
                let path = e.path().to_string();
                let at = if path == "." {
                    "detail".to_string()
                } else {
                    format!("detail.{path}")
                };
                StageError::MalformedEvent(format!(
                    "responder bus `{}` event: {at}: {}",
                    envelope.detail_type,
                    e.inner()
                ))
            })?;
        let field = |value: Option<String>, fallback: &str| {
            value
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| fallback.to_string())
        };
        let origin = Origin {
            account: field(envelope.account, &detail.signal.account),
            region: field(envelope.region, &detail.signal.region),
        };
        Ok(Some(BusEvent {
            event: LifecycleEvent {
                kind,
                time: envelope.time.unwrap_or_else(Utc::now),
                detail,
            },
            origin,
        }))
    }
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "detail-type")]
    detail_type: String,
    #[serde(default)]
    time: Option<DateTime<Utc>>,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    detail: Value,
}

/// Whether `event` is an EventBridge event with this `source` (cheap: no full parse).
fn has_source(event: &Value, source: &str) -> bool {
    event.get("source").and_then(Value::as_str) == Some(source)
}

/// The error for a payload `stage` does not handle: what it got, and what it takes.
pub(super) fn unknown(event: &Value, stage: &str, takes: &str) -> StageError {
    let what = match (
        event.get("source").and_then(Value::as_str),
        event.get("detail-type").and_then(Value::as_str),
    ) {
        (Some(source), Some(detail_type)) => format!("`{source}` `{detail_type}` event"),
        (Some(source), None) => format!("`{source}` event without a detail-type"),
        _ if event.is_object() => "payload without an EventBridge source and detail-type".into(),
        _ => "payload that is not a JSON object".into(),
    };
    StageError::UnknownEvent(format!(
        "the {stage} stage does not handle this {what} (it takes {takes})"
    ))
}
