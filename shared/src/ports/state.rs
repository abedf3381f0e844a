//! The state table, one trait per kind of record: dedupe keys (which incident a problem is
//! bound to), run-once records (which work is done), and references (a note one stage leaves
//! for a later one). The row layouts are the adapter's (`aws::dynamodb`); the contract suites
//! (`contract`) hold the fake and the adapter to the same behaviour.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PortError;
use crate::domain::{stable_hash, Impact, IncidentRef, SignalState};

/// Where a dedupe key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// Claimed by an invocation that is opening the incident right now.
    Opening,
    /// An incident is open and at least one of its signals is firing (or its signals cannot
    /// recover: findings, root activity).
    Open,
    /// Every signal that fired on the key recovered; re-fires inside the correlation window
    /// still join.
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
    /// The opening's client token (Incident Manager `clientToken`, OpsItem `/aws/dedup`),
    /// fixed by the claim: whoever finishes an opening (the claimer's retry, or another
    /// invocation taking over its lapsed lease) opens the same incident.
    pub token: String,
    /// The signals (alarm ARNs, finding ids: [`crate::domain::Signal::subject`]) that fired on
    /// this key and have not recovered since. Only signals that can recover are kept.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub firing: BTreeSet<String>,
}

/// The client token of an opening claimed by `owner` on `key` at `now`.
pub fn opening_token(key: &str, owner: &str, now: DateTime<Utc>) -> String {
    stable_hash(
        &["triage-open", key, owner, &now.timestamp().to_string()],
        64,
    )
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

/// How long a settled key's record is kept after its incident is resolved (for the
/// post-incident record); it binds nothing meanwhile.
pub const SETTLED_KEEP: chrono::Duration = chrono::Duration::hours(24);

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
    /// The claiming signal, when it can recover (kept in [`DedupeRecord::firing`]).
    pub subject: Option<String>,
}

impl Claim {
    /// The record a successful claim of a free key writes: `Opening`, one signal, no incident
    /// yet, a fresh opening token.
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
            token: opening_token(&self.key, &self.owner, self.now),
            firing: self.subject.iter().cloned().collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// The key is ours now: it was free (absent, expired, resolved), or an `Opening` whose
    /// claimer's lease ran out, taken over with its opening token. The record as written.
    Claimed(DedupeRecord),
    /// The key is bound: here is its record as it stands.
    Held(DedupeRecord),
}

/// A signal joining the incident a key is bound to.
#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    pub key: String,
    /// The incident the joiner saw bound to the key: the join happens only while it still is,
    /// and is not resolved.
    pub incident_id: String,
    /// The joining signal, when it can recover: added to the firing signals.
    pub subject: Option<String>,
    /// A graver impact the join raises the key to (only while the key's impact is milder).
    pub raise_to: Option<Impact>,
    pub at: DateTime<Utc>,
    /// A new end for the binding; `None` keeps it (a bounded correlation window).
    pub expires_at: Option<DateTime<Utc>>,
}

/// The outcome of [`DedupeStore::join`].
#[derive(Debug, Clone, PartialEq)]
pub enum Joined {
    /// Counted and `open`; the record as updated.
    Joined(DedupeRecord),
    /// The key is no longer bound to that incident as the joiner saw it (settled, re-claimed,
    /// expired, gone, or its impact raised meanwhile): look again. The row as it stands.
    Changed(Option<DedupeRecord>),
}

/// A signal of a key's incident clearing.
#[derive(Debug, Clone, PartialEq)]
pub struct Clear {
    pub key: String,
    pub incident_id: String,
    /// The signal that cleared.
    pub subject: String,
    pub at: DateTime<Utc>,
    /// The end of the binding once every signal is clear (the correlation window).
    pub expires_at: DateTime<Utc>,
}

/// The outcome of [`DedupeStore::clear`].
#[derive(Debug, Clone, PartialEq)]
pub enum Cleared {
    /// No signal of the key fires any more: it is `recovered`. The record as updated.
    AllClear(DedupeRecord),
    /// Other signals still fire ([`DedupeRecord::firing`]): the key stays `open`.
    StillFiring(DedupeRecord),
    /// The key is not bound to that incident (or not open or recovered). The row, if any.
    NotBound(Option<DedupeRecord>),
}

/// Why a key is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettleWhen {
    /// Its signals recovered and the recovery was verified: only a `recovered` (or already
    /// `resolved`) key settles; one that fired again does not.
    Recovered,
    /// Its incident is resolved or closed in the backend (by a person, another tool): the key
    /// settles whatever its signals do, unless it is being opened.
    Closed,
}

/// The outcome of [`DedupeStore::settle`].
#[derive(Debug, Clone, PartialEq)]
pub enum Settle {
    /// The key was bound to the incident (and, for [`SettleWhen::Recovered`], `recovered` or
    /// already `resolved`): it is `resolved` now, so the next firing signal opens a new
    /// incident. The record as updated.
    Settled(DedupeRecord),
    /// [`SettleWhen::Recovered`] only: the signal fired again since it recovered (status
    /// `open`): the incident stays open.
    FiredAgain(DedupeRecord),
    /// The key is bound to another incident, still opening, or gone.
    NotBound(Option<DedupeRecord>),
}

/// Dedupe keys: one record per key, binding it to the incident its problem opened.
#[async_trait]
pub trait DedupeStore: Send + Sync {
    /// Binds `claim.key` (status `Opening`) only when no record binds it at `claim.now` (see
    /// [`DedupeRecord::binds`]), in one conditional write. Two concurrent claims: exactly one
    /// wins; the other is told who holds the key. Taking over an `Opening` whose lease ran out
    /// keeps its opening token (and what it recorded); the owner and lease change, and the
    /// taking signal is counted and added to the firing signals.
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

    /// A signal joins the key's incident, in one conditional write: only while the key is bound
    /// to `join.incident_id` (status `open` or `recovered`, not expired at `join.at`) and, when
    /// raising, its impact is milder than `join.raise_to`. It becomes `open`, counts the signal,
    /// adds it to the firing signals, and moves the binding's end when asked. See [`Joined`].
    async fn join(&self, join: &Join) -> Result<Joined, PortError>;

    /// A signal of the key's incident cleared: it leaves the firing signals; when none is left
    /// the key becomes `recovered` until `clear.expires_at`. Conditional on the key being bound
    /// to `clear.incident_id` (open or recovered); a signal joining meanwhile keeps it `open`.
    async fn clear(&self, clear: &Clear) -> Result<Cleared, PortError>;

    /// Marks the key `resolved` when it is bound to `incident_id` and `when` allows it (one
    /// conditional write; a retry after success settles again). `at` is kept as the resolution
    /// time; the record stays until `expires_at` for the post-incident record. See [`Settle`].
    async fn settle(
        &self,
        key: &str,
        incident_id: &str,
        when: SettleWhen,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Settle, PortError>;
}

/// A signal's newest state change seen, per signal ([`crate::domain::Signal::subject`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    pub subject: String,
    pub state: SignalState,
    /// The signal's own time for the change (the alarm's state timestamp, the finding's update).
    pub at: DateTime<Utc>,
    /// The occurrence ([`crate::domain::Signal::fingerprint`]): its re-deliveries and retries
    /// are the same change, not an older one.
    pub fingerprint: String,
    pub expires_at: DateTime<Utc>,
}

/// The outcome of [`ChangeStore::observe`].
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// Nothing newer was seen for the signal: this change is its newest now.
    Newest,
    /// A newer change (or another occurrence at the same time) was seen: this one is stale.
    Stale {
        state: SignalState,
        at: DateTime<Utc>,
    },
}

/// The newest state change seen per signal, so that a late or re-ordered event changes nothing.
#[async_trait]
pub trait ChangeStore: Send + Sync {
    /// Records `change` as the signal's newest, in one conditional write, unless a newer change
    /// (by the signal's own time, to the millisecond), or another occurrence at the same time,
    /// was recorded. The same occurrence again is `Newest`.
    async fn observe(&self, change: &StateChange) -> Result<Observed, PortError>;
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

    /// Adds one to the counter under `key` (atomically: concurrent calls each count) and keeps
    /// it until `expires_at`; returns the new count. A counter is not a remembered value.
    async fn count(&self, key: &str, expires_at: DateTime<Utc>) -> Result<u64, PortError>;
}
