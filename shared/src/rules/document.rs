//! The rules document as written: serde types that take the YAML as it stands, before
//! validation, and the durations it writes (`90s`, `30m`, `1h`, `2d`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::MAX_CORRELATION_WINDOW_SECS;
use crate::domain::{Category, SignalKind, SignalState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDocument {
    pub(super) version: u32,
    pub(super) tiers: BTreeMap<String, BTreeMap<String, u8>>,
    #[serde(default)]
    pub(super) defaults: RawDefaults,
    #[serde(default)]
    pub(super) notifications: RawNotifications,
    #[serde(default)]
    pub(super) escalation: Option<super::escalation::RawEscalation>,
    #[serde(default)]
    pub(super) windows: Vec<super::quiet::RawWindow>,
    #[serde(default)]
    pub(super) silences: Option<super::quiet::RawSilences>,
    #[serde(default)]
    pub(super) inhibitions: Vec<super::quiet::RawInhibition>,
    pub(super) rules: Vec<serde_norway::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotifications {
    /// Impact (1–5) → `all` or a list of steps.
    #[serde(default)]
    pub(super) steps: BTreeMap<u8, OneOrMany>,
    #[serde(default)]
    pub(super) joined_interval: Option<RawDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    pub(super) severity: Option<String>,
    pub(super) correlation_window: Option<RawDuration>,
    pub(super) auto_resolve: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub(super) id: String,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(rename = "match")]
    pub(super) matcher: RawMatch,
    pub(super) service: String,
    pub(super) tier: String,
    #[serde(default)]
    pub(super) severity: Option<String>,
    #[serde(default)]
    pub(super) dedupe_key: Option<String>,
    #[serde(default)]
    pub(super) title: Option<String>,
    #[serde(default)]
    pub(super) category: Option<Category>,
    #[serde(default)]
    pub(super) suppress: bool,
    #[serde(default)]
    pub(super) correlation_window: Option<RawDuration>,
    #[serde(default)]
    pub(super) runbook: Option<RawRunbook>,
    #[serde(default)]
    pub(super) auto_resolve: Option<bool>,
    #[serde(default)]
    pub(super) next_steps: Vec<String>,
    #[serde(default)]
    pub(super) escalation: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMatch {
    #[serde(default)]
    pub(super) source: OneOrMany,
    #[serde(default)]
    pub(super) detail_type: OneOrMany,
    #[serde(default)]
    pub(super) kind: OneOrMany<SignalKind>,
    #[serde(default)]
    pub(super) state: OneOrMany<SignalState>,
    #[serde(default)]
    pub(super) alarm_name: OneOrMany,
    #[serde(default)]
    pub(super) namespace: OneOrMany,
    #[serde(default)]
    pub(super) metric_name: OneOrMany,
    #[serde(default)]
    pub(super) dimensions: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) tags: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) finding_type: OneOrMany,
    #[serde(default)]
    pub(super) severity: OneOrMany,
    #[serde(default)]
    pub(super) min_severity: Option<String>,
    #[serde(default)]
    pub(super) min_score: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRunbook {
    pub(super) document: String,
    #[serde(default)]
    pub(super) version: Option<String>,
    #[serde(default)]
    pub(super) parameters: BTreeMap<String, String>,
}

/// One value or a list of values.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany<T = String> {
    One(T),
    Many(Vec<T>),
    #[default]
    None,
}

impl<T> OneOrMany<T> {
    pub(super) fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// `90`, `"90s"`, `"30m"`, `"1h"`, `"2d"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawDuration {
    Seconds(u64),
    Text(String),
}

impl RawDuration {
    pub(super) fn seconds(&self) -> Result<u64, String> {
        match self {
            RawDuration::Seconds(s) => Ok(*s),
            RawDuration::Text(text) => parse_duration(text),
        }
    }
}

pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let bad = || format!("`{text}` is not a duration (use 90s, 30m, 1h or 2d)");
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let multiplier = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return text.parse::<u64>().map_err(|_| bad()),
    };
    let seconds = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(bad)?;
    Ok(seconds)
}

pub(super) fn window_seconds(raw: &RawDuration) -> Result<u64, String> {
    let seconds = raw.seconds()?;
    if seconds > MAX_CORRELATION_WINDOW_SECS {
        return Err(format!("{seconds} s is longer than the 30-day maximum"));
    }
    Ok(seconds)
}
