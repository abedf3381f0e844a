//! In-memory implementations of the ports: for handler tests and for the offline rule tester.
//! They keep the same semantics as the AWS adapters (conditional claims, idempotent opens by
//! client token) and record every call so tests can assert what a user would see.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::domain::{
    Backend, IncidentRef, LifecycleEvent, NewIncident, RelatedItem, TimelineEntry,
};
use crate::ports::{
    Begin, Claim, ClaimOutcome, Clock, DedupeRecord, EventBus, IncidentStore, KeyStatus, PortError,
    PortErrorKind, StateStore,
};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another test thread panicked; the data is still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Failures to inject: the next `n` calls of an operation fail with `kind`.
#[derive(Debug, Default)]
struct Faults {
    pending: HashMap<&'static str, (usize, PortErrorKind)>,
}

impl Faults {
    fn check(&mut self, operation: &'static str) -> Result<(), PortError> {
        if let Some((left, kind)) = self.pending.get_mut(operation) {
            if *left > 0 {
                *left -= 1;
                return Err(PortError::new(operation, *kind, "injected failure"));
            }
        }
        Ok(())
    }
}

/// One incident as the in-memory backend holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredIncident {
    pub reference: IncidentRef,
    pub request: NewIncident,
    pub timeline: Vec<TimelineEntry>,
    pub related_items: Vec<RelatedItem>,
}

/// An incident backend in memory; `open` is idempotent on the client token like the real ones.
#[derive(Debug)]
pub struct MemoryIncidents {
    backend: Backend,
    incidents: Mutex<Vec<StoredIncident>>,
    tokens: Mutex<HashMap<String, usize>>,
    faults: Mutex<Faults>,
}

impl MemoryIncidents {
    pub fn new(backend: Backend) -> Self {
        MemoryIncidents {
            backend,
            incidents: Mutex::new(Vec::new()),
            tokens: Mutex::new(HashMap::new()),
            faults: Mutex::new(Faults::default()),
        }
    }

    /// The next `n` calls of `operation` (`open`, `add_timeline`, `add_related_items`) fail.
    pub fn fail_next(&self, operation: &'static str, n: usize, kind: PortErrorKind) {
        lock(&self.faults).pending.insert(operation, (n, kind));
    }

    pub fn incidents(&self) -> Vec<StoredIncident> {
        lock(&self.incidents).clone()
    }

    fn with_incident<R>(
        &self,
        operation: &'static str,
        incident: &IncidentRef,
        f: impl FnOnce(&mut StoredIncident) -> R,
    ) -> Result<R, PortError> {
        lock(&self.faults).check(operation)?;
        let mut incidents = lock(&self.incidents);
        let stored = incidents
            .iter_mut()
            .find(|i| i.reference == *incident)
            .ok_or_else(|| {
                PortError::new(
                    operation,
                    PortErrorKind::NotFound,
                    format!("no incident {}", incident.id),
                )
            })?;
        Ok(f(stored))
    }
}

#[async_trait]
impl IncidentStore for MemoryIncidents {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn open(&self, incident: &NewIncident) -> Result<IncidentRef, PortError> {
        lock(&self.faults).check("open")?;
        let mut incidents = lock(&self.incidents);
        let mut tokens = lock(&self.tokens);
        if let Some(&index) = tokens.get(&incident.client_token) {
            if let Some(existing) = incidents.get(index) {
                return Ok(existing.reference.clone());
            }
        }
        let n = incidents.len() + 1;
        let id = match self.backend {
            Backend::IncidentManager => {
                format!("arn:aws:ssm-incidents::111122223333:incident-record/responder/{n:08}")
            }
            Backend::OpsCenter => format!("oi-{n:012x}"),
        };
        let reference = IncidentRef {
            backend: self.backend,
            id,
        };
        tokens.insert(incident.client_token.clone(), incidents.len());
        incidents.push(StoredIncident {
            reference: reference.clone(),
            request: incident.clone(),
            timeline: Vec::new(),
            related_items: Vec::new(),
        });
        Ok(reference)
    }

    async fn add_timeline(
        &self,
        incident: &IncidentRef,
        entry: &TimelineEntry,
        _client_token: &str,
    ) -> Result<(), PortError> {
        self.with_incident("add_timeline", incident, |i| i.timeline.push(entry.clone()))
    }

    async fn add_related_items(
        &self,
        incident: &IncidentRef,
        items: &[RelatedItem],
        _client_token: &str,
    ) -> Result<(), PortError> {
        self.with_incident("add_related_items", incident, |i| {
            for item in items {
                if !i.related_items.iter().any(|r| r.value == item.value) {
                    i.related_items.push(item.clone());
                }
            }
        })
    }
}

#[derive(Debug, Clone)]
struct IdempotencyRow {
    completed: Option<String>,
    lease_until: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// The state table in memory, with the DynamoDB adapter's conditional semantics.
#[derive(Debug, Default)]
pub struct MemoryState {
    keys: Mutex<BTreeMap<String, DedupeRecord>>,
    idempotency: Mutex<HashMap<String, IdempotencyRow>>,
    faults: Mutex<Faults>,
}

impl MemoryState {
    pub fn new() -> Self {
        MemoryState::default()
    }

    /// The next `n` calls of `operation` (`claim`, `confirm_open`, `get`, `touch`, `begin`,
    /// `abandon`, `complete`) fail.
    pub fn fail_next(&self, operation: &'static str, n: usize, kind: PortErrorKind) {
        lock(&self.faults).pending.insert(operation, (n, kind));
    }

    pub fn records(&self) -> Vec<DedupeRecord> {
        lock(&self.keys).values().cloned().collect()
    }
}

#[async_trait]
impl StateStore for MemoryState {
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, PortError> {
        lock(&self.faults).check("claim")?;
        let mut keys = lock(&self.keys);
        if let Some(existing) = keys.get(&claim.key) {
            if existing.binds(claim.now) {
                return Ok(ClaimOutcome::Held(existing.clone()));
            }
        }
        keys.insert(
            claim.key.clone(),
            DedupeRecord {
                key: claim.key.clone(),
                status: KeyStatus::Opening,
                owner: claim.owner.clone(),
                incident: None,
                rule_id: claim.rule_id.clone(),
                impact: claim.impact,
                title: claim.title.clone(),
                opened_at: claim.now,
                last_signal_at: claim.now,
                signal_count: 1,
                lease_until: claim.lease_until,
                expires_at: claim.expires_at,
            },
        );
        Ok(ClaimOutcome::Claimed)
    }

    async fn confirm_open(
        &self,
        key: &str,
        owner: &str,
        incident: &IncidentRef,
        expires_at: DateTime<Utc>,
    ) -> Result<(), PortError> {
        lock(&self.faults).check("confirm_open")?;
        let mut keys = lock(&self.keys);
        match keys.get_mut(key) {
            Some(row) if row.owner == owner => {
                row.status = KeyStatus::Open;
                row.incident = Some(incident.clone());
                row.expires_at = expires_at;
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
        lock(&self.faults).check("get")?;
        Ok(lock(&self.keys).get(key).cloned())
    }

    async fn begin(
        &self,
        key: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Begin, PortError> {
        lock(&self.faults).check("begin")?;
        let mut rows = lock(&self.idempotency);
        if let Some(row) = rows.get(key) {
            if row.expires_at > now {
                if let Some(answer) = &row.completed {
                    return Ok(Begin::Completed(answer.clone()));
                }
                if row.lease_until > now {
                    return Ok(Begin::InProgress);
                }
            }
        }
        rows.insert(
            key.to_string(),
            IdempotencyRow {
                completed: None,
                lease_until,
                expires_at,
            },
        );
        Ok(Begin::Started)
    }

    async fn abandon(&self, key: &str) -> Result<(), PortError> {
        lock(&self.faults).check("abandon")?;
        let mut rows = lock(&self.idempotency);
        if rows.get(key).is_some_and(|row| row.completed.is_none()) {
            rows.remove(key);
        }
        Ok(())
    }

    async fn complete(
        &self,
        key: &str,
        answer: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), PortError> {
        lock(&self.faults).check("complete")?;
        let mut rows = lock(&self.idempotency);
        let lease_until = rows.get(key).map(|r| r.lease_until).unwrap_or(expires_at);
        rows.insert(
            key.to_string(),
            IdempotencyRow {
                completed: Some(answer.to_string()),
                lease_until,
                expires_at,
            },
        );
        Ok(())
    }

    async fn touch(
        &self,
        key: &str,
        status: KeyStatus,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<DedupeRecord, PortError> {
        lock(&self.faults).check("touch")?;
        let mut keys = lock(&self.keys);
        let row = keys.get_mut(key).ok_or_else(|| {
            PortError::new(
                "touch",
                PortErrorKind::NotFound,
                format!("no row for key {key}"),
            )
        })?;
        row.status = status;
        row.last_signal_at = at;
        row.expires_at = expires_at;
        row.signal_count += 1;
        Ok(row.clone())
    }
}

/// The responder bus in memory: keeps what was published, in order.
#[derive(Debug, Default)]
pub struct MemoryBus {
    events: Mutex<Vec<LifecycleEvent>>,
    faults: Mutex<Faults>,
}

impl MemoryBus {
    pub fn new() -> Self {
        MemoryBus::default()
    }

    pub fn fail_next(&self, n: usize, kind: PortErrorKind) {
        lock(&self.faults).pending.insert("publish", (n, kind));
    }

    pub fn events(&self) -> Vec<LifecycleEvent> {
        lock(&self.events).clone()
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, event: &LifecycleEvent) -> Result<(), PortError> {
        lock(&self.faults).check("publish")?;
        lock(&self.events).push(event.clone());
        Ok(())
    }
}

/// A clock that stands still until moved.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(now: DateTime<Utc>) -> Self {
        ManualClock {
            now: Mutex::new(now),
        }
    }

    pub fn advance(&self, by: Duration) {
        let mut now = lock(&self.now);
        *now += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *lock(&self.now) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.now)
    }
}
