//! Inbound event shapes → [`crate::domain::Signal`].
//!
//! [`parse`] takes the raw JSON a function was invoked with and either returns the signals it
//! carries, says in one sentence why this responder does not handle it, or fails with an error
//! naming the event kind and the JSON path of what was wrong.
//!
//! Two outer shapes arrive:
//! - an **EventBridge event** (`source`, `detail-type`, `detail`, …), dispatched on
//!   (`source`, `detail-type`) to one module per event kind;
//! - the **CloudWatch alarm Lambda action** payload (`alarmArn`, `alarmData`, …), sent when an
//!   alarm invokes the function directly.
//!
//! The serde types are our own: `aws_lambda_events`' alarm types overflow on one-day periods
//! (`period: u16`), reject metric-math alarms (`metricStat` required) and turn a missing state
//! value into `OK`; and its EventBridge envelope leaves `account` and `region` optional, which
//! every signal needs. Only what a signal uses is read; unknown fields are ignored, missing
//! required ones and wrong types are errors.

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::domain::{stable_hash, trim_chars, Signal};

pub(crate) use crate::domain::unique;

mod cloudtrail_root;
mod cloudwatch_alarm;
mod guardduty;
mod health;
mod security_hub;
pub mod ssm_automation;

#[cfg(test)]
mod tests;

/// What an inbound event amounts to.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// One or more signals (a Security Hub event with several findings gives one Signal per finding).
    Signals(Vec<Signal>),
    /// A well-formed event this responder does not handle (unknown source/detail-type, CloudTrail
    /// event by a non-root identity, …); the String is one human sentence saying why.
    NotHandled(String),
}

/// An event that cannot be turned into signals. The invocation should fail (so Lambda retries
/// and dead-letters it) with this message.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The payload is JSON, but not an object.
    #[error("event is not a JSON object but {found}")]
    NotAnObject { found: &'static str },
    /// A known event shape with a required field that is empty.
    #[error("{kind} event: {path} is empty")]
    Empty { kind: &'static str, path: String },
    /// A known event shape with a missing field, a wrong type or an impossible value.
    #[error("{kind} event: {}{error}", at(path))]
    Malformed {
        /// The event kind (`CloudWatch Alarm State Change`, `EventBridge`, …).
        kind: &'static str,
        /// Where in the event, like `detail.state`; empty for the top level.
        path: String,
        #[source]
        error: serde_json::Error,
    },
}

impl SourceError {
    /// A stable short name, used as the Lambda error type.
    pub fn error_type(&self) -> &'static str {
        match self {
            SourceError::NotAnObject { .. } => "NotAnEvent",
            SourceError::Malformed { .. } | SourceError::Empty { .. } => "MalformedEvent",
        }
    }
}

fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

/// Turns one inbound event into signals.
pub fn parse(event: &Value) -> Result<Parsed, SourceError> {
    let Value::Object(fields) = event else {
        return Err(SourceError::NotAnObject {
            found: json_type(event),
        });
    };
    if fields.contains_key("detail-type") || fields.contains_key("detail") {
        parse_eventbridge(event)
    } else if fields.contains_key("alarmData") || fields.contains_key("alarmArn") {
        cloudwatch_alarm::parse_lambda_action(event)
    } else {
        Ok(Parsed::NotHandled(
            "not an EventBridge event or CloudWatch alarm action payload".to_string(),
        ))
    }
}

/// The part of an EventBridge event that decides which parser reads the rest.
#[derive(Deserialize)]
struct EnvelopeHead {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    /// Not read here; required so that an event without `detail` is an error.
    #[serde(rename = "detail")]
    _detail: IgnoredAny,
}

fn parse_eventbridge(event: &Value) -> Result<Parsed, SourceError> {
    let head: EnvelopeHead = decode("EventBridge", event)?;
    match (head.source.as_str(), head.detail_type.as_str()) {
        ("aws.cloudwatch", cloudwatch_alarm::DETAIL_TYPE) => {
            cloudwatch_alarm::parse_eventbridge(event)
        }
        ("aws.securityhub", security_hub::DETAIL_TYPE) => security_hub::parse(event),
        ("aws.securityhub", security_hub::OCSF_DETAIL_TYPE) => Ok(Parsed::NotHandled(format!(
            "Security Hub `{}` events (OCSF) are not handled; route `{}` (ASFF) events instead",
            security_hub::OCSF_DETAIL_TYPE,
            security_hub::DETAIL_TYPE
        ))),
        ("aws.guardduty", guardduty::DETAIL_TYPE) => guardduty::parse(event),
        // Root activity comes from CloudTrail only: console sign-ins as `aws.signin`, API calls
        // as the service's own `aws.<service>` (EventBridge refuses `aws.*` from anyone else).
        ("aws.signin", cloudtrail_root::SIGN_IN_DETAIL_TYPE) => {
            cloudtrail_root::parse(event, cloudtrail_root::SIGN_IN_DETAIL_TYPE)
        }
        (source, cloudtrail_root::API_CALL_DETAIL_TYPE) if source.starts_with("aws.") => {
            cloudtrail_root::parse(event, cloudtrail_root::API_CALL_DETAIL_TYPE)
        }
        ("aws.health", health::DETAIL_TYPE) => health::parse(event),
        (source, detail_type) => Ok(Parsed::NotHandled(format!(
            "no parser for source `{}` detail-type `{}`",
            trim_chars(source, 100),
            trim_chars(detail_type, 100)
        ))),
    }
}

/// An EventBridge event with a typed `detail`. `account` and `region` are required: every
/// signal carries them.
#[derive(Deserialize)]
struct Envelope<D> {
    #[serde(default)]
    id: Option<String>,
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    account: String,
    region: String,
    #[serde(default)]
    resources: Vec<String>,
    detail: D,
}

impl<D> Envelope<D> {
    /// Splits off the detail, for parsers that make several signals from one event.
    fn into_parts(self) -> (Envelope<()>, D) {
        let head = Envelope {
            id: self.id,
            source: self.source,
            detail_type: self.detail_type,
            account: self.account,
            region: self.region,
            resources: self.resources,
            detail: (),
        };
        (head, self.detail)
    }
}

/// Deserializes `value`, naming the JSON path of the first problem.
fn decode<T: DeserializeOwned>(kind: &'static str, value: &Value) -> Result<T, SourceError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        SourceError::Malformed {
            kind,
            path: if path == "." { String::new() } else { path },
            error: err.into_inner(),
        }
    })
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A timestamp as AWS writes it, kept verbatim (fingerprints hash the text both delivery paths
/// share) next to its parsed value.
///
/// Accepted: RFC 3339 (`2019-10-02T17:04:40Z`, also with a space for `T`), ISO 8601 with a
/// colon-less offset as CloudWatch writes it (`2019-10-02T17:04:40.985+0000`), and RFC 1123 as
/// AWS Health writes it (`Sat, 05 Jun 2021 21:52:00 GMT`).
#[derive(Debug, Clone)]
struct Timestamp {
    raw: String,
    time: DateTime<Utc>,
}

impl Timestamp {
    fn parse(raw: &str) -> Option<DateTime<Utc>> {
        let text = raw.trim();
        DateTime::parse_from_rfc3339(text)
            .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
            .or_else(|_| DateTime::parse_from_rfc2822(text))
            .map(|t: DateTime<FixedOffset>| t.with_timezone(&Utc))
            .ok()
            // ISO 8601 without any offset: AWS means UTC.
            .or_else(|| {
                NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                    .ok()
                    .map(|t| t.and_utc())
            })
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        match Timestamp::parse(&raw) {
            Some(time) => Ok(Timestamp { raw, time }),
            None => Err(serde::de::Error::custom(format!(
                "invalid timestamp `{}`: expected RFC 3339, ISO 8601 or RFC 1123",
                trim_chars(&raw, 60)
            ))),
        }
    }
}

/// Longest summary, in characters.
const SUMMARY_MAX: usize = 300;

/// One human line: whitespace runs (newlines included) become one space, other control
/// characters are dropped, and the result is cut to [`SUMMARY_MAX`] characters.
fn summary_line(text: &str) -> String {
    let line: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    trim_chars(&line, SUMMARY_MAX)
}

/// The identity of one occurrence: 32 hex characters of SHA-256 over the parts.
fn fingerprint(parts: &[&str]) -> String {
    stable_hash(parts, 32)
}

/// Appends `item` unless it is empty or already present, keeping first-seen order.
fn push_unique(list: &mut Vec<String>, item: String) {
    if !item.is_empty() && !list.contains(&item) {
        list.push(item);
    }
}
