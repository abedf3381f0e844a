//! What `escalate` keeps per incident on the state table (references), the timers' names and
//! their input (**contract**: README, "Escalation").
//!
//! - `ref#escalation#<incident>`: the incident as opened (summary, signal, where), its policy and
//!   the step pending on a timer;
//! - `ref#escalation-stop#<incident>`: why paging stopped (acknowledged, resolved, exhausted), by
//!   whom and when. A step that finds it pages nobody.

use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::domain::{stable_hash, IncidentSummary, Signal};
use crate::ports::{PortError, ReferenceStore};
use crate::rules::Step;
use crate::shell::StageError;

/// How long the records are kept after their last write.
const KEEP_DAYS: i64 = 30;

/// One incident's escalation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscalationRecord {
    pub incident: IncidentSummary,
    pub signal: Signal,
    pub account: String,
    pub region: String,
    pub opened_at: DateTime<Utc>,
    /// The rules' policy, `None` for an incident that stays in Slack.
    pub policy: Option<String>,
    /// The step a timer waits to run, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
}

/// A step set on a timer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// From 1, as in the timer's input.
    pub stage: u32,
    pub round: u32,
    pub at: DateTime<Utc>,
    pub timer: String,
}

/// Why paging stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Acknowledged,
    Resolved,
    Exhausted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    pub reason: StopReason,
    pub by: String,
    pub via: String,
    pub at: DateTime<Utc>,
}

impl Stop {
    pub fn sentence(&self) -> String {
        match self.reason {
            StopReason::Acknowledged => format!(
                "acknowledged by {} (from {}) at {}",
                self.by,
                self.via,
                self.at.format("%H:%M UTC")
            ),
            StopReason::Resolved => format!("resolved ({})", self.by),
            StopReason::Exhausted => "every stage paged without an acknowledgement".to_string(),
        }
    }
}

/// The input a step's timer invokes `escalate` with (**contract**).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepInput {
    pub incident: String,
    /// The policy the step belongs to: a step of a policy the incident no longer runs (its
    /// impact rose) does nothing.
    pub policy: String,
    /// From 1.
    pub stage: u32,
    pub round: u32,
    /// When the step is due: the step's "now" unless the clock is later.
    pub at: DateTime<Utc>,
}

impl StepInput {
    pub fn step(&self) -> Step {
        Step {
            stage: self.stage.saturating_sub(1) as usize,
            round: self.round.max(1),
        }
    }
}

/// A step's timer name: `esc-<16 hex of the incident and policy>-s<stage>-r<round>` (stage
/// from 1).
pub fn timer_name(incident: &str, policy: &str, step: Step) -> String {
    format!(
        "esc-{}-s{}-r{}",
        stable_hash(&[incident, policy], 16),
        step.stage + 1,
        step.round
    )
}

fn record_key(incident: &str) -> String {
    format!("escalation#{incident}")
}

fn stop_key(incident: &str) -> String {
    format!("escalation-stop#{incident}")
}

/// The records on the state table.
pub struct Records<'a> {
    pub store: &'a dyn ReferenceStore,
}

impl Records<'_> {
    /// The JSON value under `key`, read back as `T`; `what` names it in an error.
    async fn read<T: DeserializeOwned>(
        &self,
        key: &str,
        what: String,
        now: DateTime<Utc>,
    ) -> Result<Option<T>, StageError> {
        let Some(text) = self.store.recall(key, now).await? else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StageError::Inconsistent {
                what,
                problem: e.to_string(),
            })
    }

    async fn write<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        now: DateTime<Utc>,
    ) -> Result<(), PortError> {
        let text = serde_json::to_string(value).unwrap_or_default();
        let until = now + Duration::days(KEEP_DAYS);
        self.store.remember(key, &text, until).await
    }

    pub async fn get(
        &self,
        incident: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<EscalationRecord>, StageError> {
        let what = format!("incident {incident}'s escalation");
        self.read(&record_key(incident), what, now).await
    }

    pub async fn put(
        &self,
        record: &EscalationRecord,
        now: DateTime<Utc>,
    ) -> Result<(), PortError> {
        self.write(&record_key(&record.incident.id), record, now)
            .await
    }

    pub async fn stop(
        &self,
        incident: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Stop>, StageError> {
        let what = format!("why incident {incident}'s paging stopped");
        self.read(&stop_key(incident), what, now).await
    }

    /// Forgets why paging stopped (an exhausted escalation that a graver impact restarts).
    pub async fn clear_stop(&self, incident: &str, now: DateTime<Utc>) -> Result<(), PortError> {
        // A note expiring now reads as absent.
        self.store.remember(&stop_key(incident), "", now).await
    }

    pub async fn put_stop(
        &self,
        incident: &str,
        stop: &Stop,
        now: DateTime<Utc>,
    ) -> Result<(), PortError> {
        self.write(&stop_key(incident), stop, now).await
    }
}
