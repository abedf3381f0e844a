//! The state table, one trait per kind of record: dedupe keys (which incident a problem is
//! bound to), run-once records (which work is done), and references (a note one stage leaves
//! for a later one). The row layouts are the adapter's (`aws::dynamodb`); the contract suites
//! (`contract`) hold the fake and the adapter to the same behaviour.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PortError;
use crate::domain::{Impact, IncidentRef};

/// Where a dedupe key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Claimed by an invocation that is opening the incident right now.
    Opening,
    /// An incident is open and its signal is firing.
    Open,
    /// The signal recovered; re-fires inside the correlation window still join.
    Recovered,
    /// The incident was resolved; the key is free.
    Resolved,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Opening => "opening",
            KeyStatus::Open => "open",
            KeyStatus::Recovered => "recovered",
            KeyStatus::Resolved => "resolved",
        }
    }

    pub fn parse(value: &str) -> Option<KeyStatus> {
        match value {
            "opening" => Some(KeyStatus::Opening),
            "open" => Some(KeyStatus::Open),
            "recovered" => Some(KeyStatus::Recovered),
            "resolved" => Some(KeyStatus::Resolved),
            _ => None,
        }
    }
}

/// One dedupe key's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DedupeRecord {
    pub key: String,
    pub status: KeyStatus,
    /// Fingerprint of the signal whose invocation claimed the key.
    pub owner: String,
    /// Set once the incident exists.
    pub incident: Option<IncidentRef>,
    pub rule_id: String,
    pub impact: Impact,
    pub title: String,
    pub opened_at: DateTime<Utc>,
    pub last_signal_at: DateTime<Utc>,
    pub signal_count: u64,
    /// When the first signal fired (the signal's own time). Records written before this was
    /// kept have none.
    #[serde(default)]
    pub detected_at: Option<DateTime<Utc>>,
    /// While `Opening`: when the claiming invocation's deadline passes and another may take over.
    pub lease_until: DateTime<Utc>,
    /// When the binding lapses.
    pub expires_at: DateTime<Utc>,
}

impl DedupeRecord {
    /// Whether this record still binds its key to an incident at `now`: not resolved, not
    /// expired, and, while opening, with its claimer's lease still running.
    pub fn binds(&self, now: DateTime<Utc>) -> bool {
        match self.status {
            KeyStatus::Resolved => false,
            KeyStatus::Opening => self.lease_until > now && self.expires_at > now,
            KeyStatus::Open | KeyStatus::Recovered => self.expires_at > now,
        }
    }
}

/// An attempt to bind a dedupe key to a new incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    pub key: String,
    pub owner: String,
    pub rule_id: String,
    pub impact: Impact,
    pub title: String,
    pub now: DateTime<Utc>,
    /// The claiming signal's own time (when it fired): the incident's detection time.
    pub detected_at: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Claim {
    /// The record a successful claim writes: `Opening`, one signal, no incident yet.
    pub fn record(&self) -> DedupeRecord {
        DedupeRecord {
            key: self.key.clone(),
            status: KeyStatus::Opening,
            owner: self.owner.clone(),
            incident: None,
            rule_id: self.rule_id.clone(),
            impact: self.impact,
            title: self.title.clone(),
            opened_at: self.now,
            last_signal_at: self.now,
            signal_count: 1,
            detected_at: Some(self.detected_at),
            lease_until: self.lease_until,
            expires_at: self.expires_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// The key was free (absent, expired, resolved, or an abandoned `Opening`); it is ours now.
    Claimed,
    /// The key is bound: here is its record as it stands.
    Held(DedupeRecord),
}

/// The outcome of [`DedupeStore::settle`].
#[derive(Debug, Clone, PartialEq)]
pub enum Settle {
    /// The key was `recovered` (or already `resolved`) and bound to the incident: it is
    /// `resolved` now, so the next firing signal opens a new incident. The record as updated.
    Settled(DedupeRecord),
    /// The signal fired again since it recovered (status `open`): the incident stays open.
    FiredAgain(DedupeRecord),
    /// The key is bound to another incident, still opening, or gone.
    NotBound(Option<DedupeRecord>),
}

/// Dedupe keys: one record per key, binding it to the incident its problem opened.
#[async_trait]
pub trait DedupeStore: Send + Sync {
    /// Binds `claim.key` (status `Opening`) only when no record binds it at `claim.now` (see
    /// [`DedupeRecord::binds`]), in one conditional write. Two concurrent claims: exactly one
    /// wins; the other is told who holds the key.
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, PortError>;

    /// Records the opened incident on a key this owner claimed (status `Open`). A key not (or no
    /// longer) claimed by `owner` is a `Conflict`.
    async fn confirm_open(
        &self,
        key: &str,
        owner: &str,
        incident: &IncidentRef,
        expires_at: DateTime<Utc>,
    ) -> Result<(), PortError>;

    /// The key's record, read strongly consistent; `None` when there is none.
    async fn get(&self, key: &str) -> Result<Option<DedupeRecord>, PortError>;

    /// A new signal joined the key: moves it to `status`, counts it, extends the binding.
    /// Returns the record as updated; a key without a record is `NotFound`.
    async fn touch(
        &self,
        key: &str,
        status: KeyStatus,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<DedupeRecord, PortError>;

    /// Marks the key `resolved`, conditionally: only while its status is `recovered` or
    /// `resolved` and it is bound to `incident_id` (one conditional write; a retry after success
    /// settles again). `at` is kept as the resolution time; the record stays until `expires_at`
    /// for the post-incident record. See [`Settle`].
    async fn settle(
        &self,
        key: &str,
        incident_id: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Settle, PortError>;
}

/// The outcome of [`RunOnceStore::begin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// This invocation may do the work (also when it took over an abandoned record whose lease
    /// ran out).
    Started,
    /// Already done; the stored answer (JSON).
    Completed(String),
    /// Another invocation holds a live lease on it.
    InProgress,
}

/// Run-once records (Powertools-style idempotency): which work is in progress or done.
#[async_trait]
pub trait RunOnceStore: Send + Sync {
    /// Starts the work `key`: records it in progress, leased until `lease_until`, unless a
    /// record says it is done (and has not expired at `now`) or in progress with a lease still
    /// running at `now`. One conditional write.
    async fn begin(
        &self,
        key: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Begin, PortError>;

    /// Marks the work done and stores the answer a re-delivery replays, until `expires_at`.
    async fn complete(
        &self,
        key: &str,
        answer: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), PortError>;

    /// Forgets work whose invocation failed, while it is still in progress, so that Lambda's
    /// retry starts at once instead of waiting for the lease to run out. Done work is kept.
    async fn abandon(&self, key: &str) -> Result<(), PortError>;
}

/// References: a small JSON value one stage stores for a later one (which incident an
/// automation execution belongs to; notify's last joined-signals update).
#[async_trait]
pub trait ReferenceStore: Send + Sync {
    /// Stores `value` under `key` until `expires_at`, replacing any earlier value.
    async fn remember(
        &self,
        key: &str,
        value: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), PortError>;

    /// The value stored under `key`, unless absent or expired at `now`.
    async fn recall(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, PortError>;
}
