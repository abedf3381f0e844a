//! Reading the responder bus's own events back: the EventBridge envelope a rule delivers to
//! `enrich`, `runbook`, `notify` and `resolve` (source `incident.responder`, a lifecycle
//! detail-type, the [`LifecycleDetail`] as `detail`).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::domain::{LifecycleDetail, LifecycleEvent, LifecycleKind, RESPONDER_SOURCE};

/// Why a payload is not a responder-bus event.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Valid JSON, but not an EventBridge event from the responder bus.
    #[error("not a responder bus event: {0}")]
    Foreign(String),
    /// A responder-bus event whose detail does not have the contract's shape.
    #[error("responder bus `{detail_type}` event: {path}{error}")]
    Malformed {
        detail_type: String,
        path: String,
        #[source]
        error: serde_json::Error,
    },
}

impl EnvelopeError {
    /// The stable `errorType` Lambda reports.
    pub fn error_type(&self) -> &'static str {
        match self {
            EnvelopeError::Foreign(_) => "UnknownEvent",
            EnvelopeError::Malformed { .. } => "MalformedEvent",
        }
    }
}

#[derive(Deserialize)]
struct Envelope {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    time: Option<DateTime<Utc>>,
    #[serde(default)]
    detail: Value,
}

/// Whether `event` is an EventBridge event with this `source` (cheap: no full parse).
pub fn has_source(event: &Value, source: &str) -> bool {
    event.get("source").and_then(Value::as_str) == Some(source)
}

/// Parses a responder-bus event. The envelope's `time` becomes the event's time.
pub fn parse_lifecycle(event: &Value) -> Result<LifecycleEvent, EnvelopeError> {
    if !event.is_object() {
        return Err(EnvelopeError::Foreign(
            "the payload is not a JSON object".into(),
        ));
    }
    let envelope = Envelope::deserialize(event)
        .map_err(|e| EnvelopeError::Foreign(format!("no EventBridge envelope ({e})")))?;
    if envelope.source != RESPONDER_SOURCE {
        return Err(EnvelopeError::Foreign(format!(
            "source is `{}`, expected `{RESPONDER_SOURCE}`",
            envelope.source
        )));
    }
    let kind: LifecycleKind = serde_json::from_value(Value::String(envelope.detail_type.clone()))
        .map_err(|_| {
        EnvelopeError::Foreign(format!(
            "detail-type `{}` is not a lifecycle event",
            envelope.detail_type
        ))
    })?;
    let detail: LifecycleDetail =
        serde_path_to_error::deserialize(&envelope.detail).map_err(|e| {
            let path = e.path().to_string();
            EnvelopeError::Malformed {
                detail_type: envelope.detail_type.clone(),
                path: if path == "." {
                    "detail: ".to_string()
                } else {
                    format!("detail.{path}: ")
                },
                error: e.into_inner(),
            }
        })?;
    Ok(LifecycleEvent {
        kind,
        time: envelope.time.unwrap_or_else(Utc::now),
        detail,
    })
}

/// The EventBridge envelope a rule would deliver for `event` (tests, the offline tools).
pub fn to_envelope(event: &LifecycleEvent, account: &str, region: &str) -> Value {
    serde_json::json!({
        "version": "0",
        "id": crate::domain::stable_hash(
            &[event.kind.detail_type(), &event.detail.incident.id, &event.time.to_rfc3339()],
            32,
        ),
        "detail-type": event.kind.detail_type(),
        "source": RESPONDER_SOURCE,
        "account": account,
        "time": event.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": region,
        "resources": [],
        "detail": event.detail,
    })
}
