//! The state-table rows of quiet hours (reference rows, **contract**: README "Quiet hours"):
//!
//! - `hold#<hash of the subject>`: a firing signal triage held back (a window, a silence, an
//!   inhibition): the event itself, so that the re-check can act on it, and when to look again;
//! - `silence#<dedupe key>`: a silence set from Slack (escalate writes it; triage, notify and
//!   escalate read it);
//! - `dependency#<inhibition>#<value>`: the dedupe key of the incident that stands for a
//!   dependency (a VPN), written when a `when_open` rule's signal fires;
//! - `folded#<incident>`: how many downstream signals folded into an incident (a counter).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{stable_hash, HoldKind};
use crate::ports::{PortError, PortErrorKind, ReferenceStore};

/// How long a hold row outlives its re-check (a timer retried by Scheduler, a late look).
pub const HOLD_KEEP: Duration = Duration::days(3);

/// A held signal (`hold#…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub kind: HoldKind,
    /// The window's or inhibition's id, or who silenced.
    pub by: String,
    pub rule: String,
    pub dedupe_key: String,
    pub subject: String,
    pub fingerprint: String,
    /// When the signal fired.
    pub fired_at: DateTime<Utc>,
    pub held_at: DateTime<Utc>,
    pub recheck_at: DateTime<Utc>,
    /// The EventBridge event (or alarm action) that carried the signal, as JSON.
    pub event: String,
    /// The incident a downstream signal folded into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub into: Option<String>,
    /// Why the hold no longer stands (recovered, re-checked), once it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<String>,
}

/// A silence on a dedupe key (`silence#…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    /// The incident silenced from Slack.
    pub incident: String,
    pub by: String,
    pub set_at: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Also ends when the incident resolves.
    #[serde(default)]
    pub until_resolved: bool,
    /// Lifted by someone before `until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifted_at: Option<DateTime<Utc>>,
}

impl Silence {
    /// Whether it silences at `now`.
    pub fn stands(&self, now: DateTime<Utc>) -> bool {
        self.lifted_at.is_none() && self.until > now
    }
}

pub fn hold_key(subject: &str) -> String {
    format!("hold#{}", stable_hash(&[subject], 32))
}

pub fn silence_key(dedupe_key: &str) -> String {
    format!("silence#{dedupe_key}")
}

pub fn dependency_key(inhibition: &str, value: &str) -> String {
    format!("dependency#{inhibition}#{value}")
}

pub fn folded_key(incident: &str) -> String {
    format!("folded#{incident}")
}

/// Reads a JSON row; a row that does not parse is an error naming it.
pub async fn read<T: for<'de> Deserialize<'de>>(
    store: &dyn ReferenceStore,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<T>, PortError> {
    let Some(text) = store.recall(key, now).await? else {
        return Ok(None);
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        PortError::new(
            "GetItem",
            PortErrorKind::Other,
            format!("the state row `{key}` does not read: {e}"),
        )
    })
}

/// Writes a JSON row until `expires_at`.
pub async fn write<T: Serialize>(
    store: &dyn ReferenceStore,
    key: &str,
    value: &T,
    expires_at: DateTime<Utc>,
) -> Result<(), PortError> {
    let text = serde_json::to_string(value)
        .map_err(|e| PortError::new("PutItem", PortErrorKind::Invalid, e.to_string()))?;
    store.remember(key, &text, expires_at).await
}
