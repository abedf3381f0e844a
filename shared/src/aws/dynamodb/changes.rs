//! Each signal's newest state change: one row per signal, `pk = change#<subject>`, `sk = change`,
//! written by one conditional `PutItem` that only a newer change (or the same occurrence) passes.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::DateTime;

use super::{epoch, malformed, n, s, DynamoStateStore, ATTR_EXPIRES_AT, ATTR_PK, ATTR_SK};
use crate::domain::SignalState;
use crate::ports::{ChangeStore, Observed, PortError, StateChange};

/// `pk` prefix of a signal's change row.
pub const PK_CHANGE_PREFIX: &str = "change#";
/// `sk` of a change row.
pub const SK_CHANGE: &str = "change";
/// The state (S: firing/recovered/informational).
pub const ATTR_STATE: &str = "state";
/// The signal's own time of the change, epoch milliseconds (N).
pub const ATTR_AT_MS: &str = "at_ms";
/// The occurrence (S).
pub const ATTR_FINGERPRINT: &str = "fingerprint";

/// Written only over an older change, or the same occurrence again.
const NEWER_CONDITION: &str =
    "attribute_not_exists(#pk) OR #at_ms < :at_ms OR #fingerprint = :fingerprint";

fn change_key(subject: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            ATTR_PK.to_string(),
            s(format!("{PK_CHANGE_PREFIX}{subject}")),
        ),
        (ATTR_SK.to_string(), s(SK_CHANGE)),
    ])
}

fn state_text(state: SignalState) -> &'static str {
    match state {
        SignalState::Firing => "firing",
        SignalState::Recovered => "recovered",
        SignalState::Informational => "informational",
    }
}

/// The change a row records, read back.
fn stale_from_item(item: &HashMap<String, AttributeValue>) -> Result<Observed, PortError> {
    const OP: &str = "PutItem";
    let state = match item
        .get(ATTR_STATE)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
    {
        Some("firing") => SignalState::Firing,
        Some("recovered") => SignalState::Recovered,
        Some("informational") => SignalState::Informational,
        other => return Err(malformed(OP, ATTR_STATE, format!("is unknown ({other:?})"))),
    };
    let at = item
        .get(ATTR_AT_MS)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis)
        .ok_or_else(|| malformed(OP, ATTR_AT_MS, "is not epoch milliseconds"))?;
    Ok(Observed::Stale { state, at })
}

#[async_trait]
impl ChangeStore for DynamoStateStore {
    async fn observe(&self, change: &StateChange) -> Result<Observed, PortError> {
        let mut item = change_key(&change.subject);
        item.extend([
            (ATTR_STATE.to_string(), s(state_text(change.state))),
            (ATTR_AT_MS.to_string(), n(change.at.timestamp_millis())),
            (ATTR_FINGERPRINT.to_string(), s(change.fingerprint.as_str())),
            (ATTR_EXPIRES_AT.to_string(), epoch(change.expires_at)),
        ]);
        let held = self
            .put_unless_held(
                change_key(&change.subject),
                item,
                NEWER_CONDITION,
                &[ATTR_PK, ATTR_AT_MS, ATTR_FINGERPRINT],
                &[
                    (":at_ms", n(change.at.timestamp_millis())),
                    (":fingerprint", s(change.fingerprint.as_str())),
                ],
            )
            .await?;
        match held {
            None => Ok(Observed::Newest),
            Some(row) => stale_from_item(&row),
        }
    }
}
