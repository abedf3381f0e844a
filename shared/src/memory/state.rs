//! The state table in memory: dedupe keys, run-once records and references, each with the
//! conditional semantics of the DynamoDB adapter (held to them by the contract suites). Leases
//! and expiry count in whole seconds, as the table's epoch-second attributes do.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};

use super::{lock, Faults};
use crate::domain::IncidentRef;
use crate::ports::{
    Begin, ChangeStore, Claim, ClaimOutcome, Clear, Cleared, DedupeRecord, DedupeStore, Join,
    Joined, KeyStatus, Observed, PortError, PortErrorKind, ReferenceStore, RunOnceStore, Settle,
    SettleWhen, StateChange,
};

/// `time` in whole seconds, as the DynamoDB adapter stores and compares leases and expiry.
fn whole(time: DateTime<Utc>) -> DateTime<Utc> {
    time.trunc_subsecs(0)
}

/// Dedupe keys in memory.
#[derive(Debug, Default)]
pub struct MemoryDedupe {
    keys: Mutex<BTreeMap<String, DedupeRecord>>,
    faults: Faults,
}

impl MemoryDedupe {
    pub fn new() -> Self {
        MemoryDedupe::default()
    }

    /// The next `n` calls of `operation` (`claim`, `confirm_open`, `get`, `join`, `clear`,
    /// `settle`)
    /// fail.
    pub fn fail_next(&self, operation: &'static str, n: usize, kind: PortErrorKind) {
        self.faults.set(operation, n, kind);
    }

    pub fn records(&self) -> Vec<DedupeRecord> {
        lock(&self.keys).values().cloned().collect()
    }
}

#[async_trait]
impl DedupeStore for MemoryDedupe {
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, PortError> {
        self.faults.check("claim")?;
        let now = whole(claim.now);
        let mut keys = lock(&self.keys);
        let mut record = claim.record();
        record.lease_until = whole(record.lease_until);
        record.expires_at = whole(record.expires_at);
        if let Some(existing) = keys.get_mut(&claim.key) {
            if existing.binds(now) {
                return Ok(ClaimOutcome::Held(existing.clone()));
            }
            if existing.status == KeyStatus::Opening && existing.expires_at > now {
                // An abandoned opening: take it over, with its token; the taking signal counts
                // and fires.
                existing.owner = claim.owner.clone();
                existing.lease_until = record.lease_until;
                existing.signal_count += 1;
                existing.firing.extend(claim.subject.iter().cloned());
                return Ok(ClaimOutcome::Claimed(existing.clone()));
            }
        }
        keys.insert(claim.key.clone(), record.clone());
        Ok(ClaimOutcome::Claimed(record))
    }

    async fn confirm_open(
        &self,
        key: &str,
        owner: &str,
        incident: &IncidentRef,
        expires_at: DateTime<Utc>,
    ) -> Result<(), PortError> {
        self.faults.check("confirm_open")?;
        let mut keys = lock(&self.keys);
        match keys.get_mut(key) {
            Some(row) if row.owner == owner => {
                row.status = KeyStatus::Open;
                row.incident = Some(incident.clone());
                row.expires_at = whole(expires_at);
                Ok(())
            }
            _ => Err(PortError::new(
                "confirm_open",
                PortErrorKind::Conflict,
                format!("key {key} is not claimed by {owner}"),
            )),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<DedupeRecord>, PortError> {
        self.faults.check("get")?;
        Ok(lock(&self.keys).get(key).cloned())
    }

    async fn join(&self, join: &Join) -> Result<Joined, PortError> {
        self.faults.check("join")?;
        let mut keys = lock(&self.keys);
        let Some(row) = keys.get_mut(&join.key) else {
            return Ok(Joined::Changed(None));
        };
        let raises = join.raise_to.is_none_or(|to| row.impact.get() > to.get());
        if !(bound_to(row, &join.incident_id) && row.expires_at > whole(join.at) && raises) {
            return Ok(Joined::Changed(Some(row.clone())));
        }
        row.status = KeyStatus::Open;
        row.last_signal_at = join.at;
        row.signal_count += 1;
        if let Some(to) = join.raise_to {
            row.impact = to;
        }
        if let Some(expires_at) = join.expires_at {
            row.expires_at = whole(expires_at);
        }
        if let Some(subject) = &join.subject {
            row.firing.insert(subject.clone());
        }
        Ok(Joined::Joined(row.clone()))
    }

    async fn clear(&self, clear: &Clear) -> Result<Cleared, PortError> {
        self.faults.check("clear")?;
        let mut keys = lock(&self.keys);
        let Some(row) = keys.get_mut(&clear.key) else {
            return Ok(Cleared::NotBound(None));
        };
        if !bound_to(row, &clear.incident_id) {
            return Ok(Cleared::NotBound(Some(row.clone())));
        }
        row.firing.remove(&clear.subject);
        row.last_signal_at = clear.at;
        if !row.firing.is_empty() {
            return Ok(Cleared::StillFiring(row.clone()));
        }
        row.status = KeyStatus::Recovered;
        row.expires_at = whole(clear.expires_at);
        Ok(Cleared::AllClear(row.clone()))
    }

    async fn settle(
        &self,
        key: &str,
        incident_id: &str,
        when: SettleWhen,
        _at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Settle, PortError> {
        self.faults.check("settle")?;
        let mut keys = lock(&self.keys);
        let Some(row) = keys.get_mut(key) else {
            return Ok(Settle::NotBound(None));
        };
        let ours = row.incident.as_ref().is_some_and(|i| i.id == incident_id);
        match (row.status, when) {
            (KeyStatus::Open, SettleWhen::Recovered) if ours => Ok(Settle::FiredAgain(row.clone())),
            (KeyStatus::Open | KeyStatus::Recovered | KeyStatus::Resolved, _) if ours => {
                // `open` here is a key closed in the backend: it settles whatever fires.
                row.status = KeyStatus::Resolved;
                row.expires_at = whole(expires_at);
                Ok(Settle::Settled(row.clone()))
            }
            _ => Ok(Settle::NotBound(Some(row.clone()))),
        }
    }
}

/// Whether `row` binds its key to the incident `incident_id`, open or recovered.
fn bound_to(row: &DedupeRecord, incident_id: &str) -> bool {
    matches!(row.status, KeyStatus::Open | KeyStatus::Recovered)
        && row.incident.as_ref().is_some_and(|i| i.id == incident_id)
}

/// Each signal's newest state change, in memory.
#[derive(Debug, Default)]
pub struct MemoryChanges {
    changes: Mutex<HashMap<String, StateChange>>,
    faults: Faults,
}

impl MemoryChanges {
    pub fn new() -> Self {
        MemoryChanges::default()
    }

    /// The next `n` calls of `observe` fail.
    pub fn fail_next(&self, n: usize, kind: PortErrorKind) {
        self.faults.set("observe", n, kind);
    }
}

#[async_trait]
impl ChangeStore for MemoryChanges {
    async fn observe(&self, change: &StateChange) -> Result<Observed, PortError> {
        self.faults.check("observe")?;
        let mut changes = lock(&self.changes);
        let at = change.at.trunc_subsecs(3);
        if let Some(seen) = changes.get(&change.subject) {
            let newer = seen.at < at;
            if !(newer || seen.fingerprint == change.fingerprint) {
                return Ok(Observed::Stale {
                    state: seen.state,
                    at: seen.at,
                });
            }
        }
        let mut kept = change.clone();
        kept.at = at;
        changes.insert(change.subject.clone(), kept);
        Ok(Observed::Newest)
    }
}

#[derive(Debug, Clone)]
struct RunRecord {
    completed: Option<String>,
    lease_until: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// Run-once records in memory.
#[derive(Debug, Default)]
pub struct MemoryRunOnce {
    runs: Mutex<HashMap<String, RunRecord>>,
    faults: Faults,
}

impl MemoryRunOnce {
    pub fn new() -> Self {
        MemoryRunOnce::default()
    }

    /// The next `n` calls of `operation` (`begin`, `complete`, `abandon`) fail.
    pub fn fail_next(&self, operation: &'static str, n: usize, kind: PortErrorKind) {
        self.faults.set(operation, n, kind);
    }

    /// Every stored answer becomes text no stage can read back (an answer stored by another
    /// version, or damaged).
    #[cfg(test)]
    pub fn spoil_answers(&self) {
        for run in lock(&self.runs).values_mut() {
            if run.completed.is_some() {
                run.completed = Some("not an answer".to_string());
            }
        }
    }
}

#[async_trait]
impl RunOnceStore for MemoryRunOnce {
    async fn begin(
        &self,
        key: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Begin, PortError> {
        self.faults.check("begin")?;
        let (now, lease_until, expires_at) = (whole(now), whole(lease_until), whole(expires_at));
        let mut runs = lock(&self.runs);
        if let Some(run) = runs.get(key).filter(|run| run.expires_at > now) {
            if let Some(answer) = &run.completed {
                return Ok(Begin::Completed(answer.clone()));
            }
            if run.lease_until > now {
                return Ok(Begin::InProgress);
            }
        }
        runs.insert(
            key.to_string(),
            RunRecord {
                completed: None,
                lease_until,
                expires_at,
            },
        );
        Ok(Begin::Started)
    }

    async fn complete(
        &self,
        key: &str,
        answer: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), PortError> {
        self.faults.check("complete")?;
        let expires_at = whole(expires_at);
        let mut runs = lock(&self.runs);
        let lease_until = runs.get(key).map(|r| r.lease_until).unwrap_or(expires_at);
        runs.insert(
            key.to_string(),
            RunRecord {
                completed: Some(answer.to_string()),
                lease_until,
                expires_at,
            },
        );
        Ok(())
    }

    async fn abandon(&self, key: &str) -> Result<(), PortError> {
        self.faults.check("abandon")?;
        let mut runs = lock(&self.runs);
        if runs.get(key).is_some_and(|run| run.completed.is_none()) {
            runs.remove(key);
        }
        Ok(())
    }
}

/// References in memory.
#[derive(Debug, Default)]
pub struct MemoryReferences {
    values: Mutex<HashMap<String, (String, DateTime<Utc>)>>,
    counters: Mutex<HashMap<String, u64>>,
    faults: Faults,
}

impl MemoryReferences {
    pub fn new() -> Self {
        MemoryReferences::default()
    }

    /// The next `n` calls of `operation` (`remember`, `recall`) fail.
    pub fn fail_next(&self, operation: &'static str, n: usize, kind: PortErrorKind) {
        self.faults.set(operation, n, kind);
    }
}

#[async_trait]
impl ReferenceStore for MemoryReferences {
    async fn remember(
        &self,
        key: &str,
        value: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), PortError> {
        self.faults.check("remember")?;
        lock(&self.values).insert(key.to_string(), (value.to_string(), whole(expires_at)));
        Ok(())
    }

    async fn recall(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, PortError> {
        self.faults.check("recall")?;
        Ok(lock(&self.values)
            .get(key)
            .filter(|(_, expires_at)| *expires_at > whole(now))
            .map(|(value, _)| value.clone()))
    }

    async fn count(&self, key: &str, _expires_at: DateTime<Utc>) -> Result<u64, PortError> {
        self.faults.check("count")?;
        let mut counters = lock(&self.counters);
        let count = counters.entry(key.to_string()).or_default();
        *count += 1;
        Ok(*count)
    }
}
