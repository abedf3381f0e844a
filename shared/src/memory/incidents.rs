//! The incident backend in memory: opening, writing onto, reading back and resolving incidents.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{lock, Faults};
use crate::domain::{Backend, Impact, IncidentRef, NewIncident, RelatedItem, TimelineEntry};
use crate::ports::{
    IncidentOpener, IncidentRecord, IncidentResolver, IncidentWriter, PortError, PortErrorKind,
    Standing,
};

/// One incident as the in-memory backend holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredIncident {
    pub reference: IncidentRef,
    pub request: NewIncident,
    /// In the order written; an entry written again with the same client token replaces itself.
    pub timeline: Vec<TimelineEntry>,
    pub related_items: Vec<RelatedItem>,
    /// When it was opened (the time `open` was called, by the wall clock unless set by a test).
    pub created_at: DateTime<Utc>,
    /// The impact now (the request's, unless a graver signal raised it).
    pub impact: Impact,
    /// The closing summary, once resolved.
    pub resolution: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The client token of each timeline entry, in the same order.
    timeline_tokens: Vec<String>,
}

/// An incident backend in memory, idempotent like the real ones: `open` on the client token,
/// a timeline entry on its client token, a related item on its value.
#[derive(Debug)]
pub struct MemoryIncidents {
    backend: Backend,
    incidents: Mutex<Vec<StoredIncident>>,
    tokens: Mutex<HashMap<String, usize>>,
    faults: Faults,
    /// The backend's clock: creation and resolution times.
    now: Mutex<DateTime<Utc>>,
}

impl MemoryIncidents {
    pub fn new(backend: Backend) -> Self {
        MemoryIncidents {
            backend,
            incidents: Mutex::new(Vec::new()),
            tokens: Mutex::new(HashMap::new()),
            faults: Faults::default(),
            now: Mutex::new(Utc::now()),
        }
    }

    /// The backend it stands for.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Sets the backend's clock (the times it records on open and resolve).
    pub fn set_time(&self, now: DateTime<Utc>) {
        *lock(&self.now) = now;
    }

    /// The next `n` calls of `operation` (`open`, `add_timeline`, `add_related_items`,
    /// `standing`, `set_impact`, `resolve`, `record`) fail.
    pub fn fail_next(&self, operation: &'static str, n: usize, kind: PortErrorKind) {
        self.faults.set(operation, n, kind);
    }

    pub fn incidents(&self) -> Vec<StoredIncident> {
        lock(&self.incidents).clone()
    }

    /// A person resolves the incident in the console: no event, no summary.
    pub fn close_in_console(&self, incident: &IncidentRef) {
        let now = *lock(&self.now);
        if let Some(i) = lock(&self.incidents)
            .iter_mut()
            .find(|i| i.reference == *incident)
        {
            i.resolved_at.get_or_insert(now);
        }
    }

    fn with_incident<R>(
        &self,
        operation: &'static str,
        incident: &IncidentRef,
        f: impl FnOnce(&mut StoredIncident) -> R,
    ) -> Result<R, PortError> {
        self.faults.check(operation)?;
        if incident.backend != self.backend {
            return Err(PortError::new(
                operation,
                PortErrorKind::Invalid,
                format!(
                    "incident {} belongs to {}, not {}",
                    incident.id, incident.backend, self.backend
                ),
            ));
        }
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
impl IncidentOpener for MemoryIncidents {
    async fn open(&self, incident: &NewIncident) -> Result<IncidentRef, PortError> {
        self.faults.check("open")?;
        let mut incidents = lock(&self.incidents);
        let mut tokens = lock(&self.tokens);
        if let Some(existing) = tokens
            .get(&incident.client_token)
            .and_then(|&index| incidents.get(index))
        {
            return Ok(existing.reference.clone());
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
            created_at: *lock(&self.now),
            impact: incident.impact,
            resolution: None,
            resolved_at: None,
            timeline_tokens: Vec::new(),
        });
        Ok(reference)
    }
}

#[async_trait]
impl IncidentWriter for MemoryIncidents {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn add_timeline(
        &self,
        incident: &IncidentRef,
        entry: &TimelineEntry,
        client_token: &str,
    ) -> Result<(), PortError> {
        self.with_incident("add_timeline", incident, |i| {
            match i.timeline_tokens.iter().position(|t| t == client_token) {
                Some(at) => i.timeline[at] = entry.clone(),
                None => {
                    i.timeline.push(entry.clone());
                    i.timeline_tokens.push(client_token.to_string());
                }
            }
        })
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

    async fn standing(&self, incident: &IncidentRef) -> Result<Standing, PortError> {
        self.with_incident("standing", incident, |i| Standing {
            open: i.resolved_at.is_none(),
            status: if i.resolved_at.is_none() {
                "OPEN"
            } else {
                "RESOLVED"
            }
            .to_string(),
            impact: Some(i.impact),
        })
    }

    async fn set_impact(&self, incident: &IncidentRef, impact: Impact) -> Result<(), PortError> {
        self.with_incident("set_impact", incident, |i| i.impact = impact)
    }
}

#[async_trait]
impl IncidentResolver for MemoryIncidents {
    async fn record(&self, incident: &IncidentRef) -> Result<IncidentRecord, PortError> {
        self.with_incident("record", incident, |i| {
            let mut timeline = i.timeline.clone();
            timeline.sort_by_key(|e| e.time);
            IncidentRecord {
                title: i.request.title.clone(),
                resolved: i.resolved_at.is_some(),
                created_at: Some(i.created_at),
                resolved_at: i.resolved_at,
                timeline,
            }
        })
    }

    async fn resolve(&self, incident: &IncidentRef, summary: &str) -> Result<(), PortError> {
        let now = *lock(&self.now);
        self.with_incident("resolve", incident, |i| {
            if i.resolved_at.is_none() {
                i.resolved_at = Some(now);
            }
            i.resolution = Some(summary.to_string());
        })
    }
}
