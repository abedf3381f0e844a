//! The incident record system (Incident Manager or OpsCenter), one trait per capability:
//! opening an incident (triage), writing onto one that exists (every stage), and reading one
//! back to resolve it (resolve). One adapter per backend implements them all; each function is
//! handed only the capabilities it uses.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PortError;
use crate::domain::{Backend, Impact, IncidentRef, NewIncident, RelatedItem, TimelineEntry};

/// Opens incidents.
#[async_trait]
pub trait IncidentOpener: Send + Sync {
    /// Opens an incident. Idempotent on `incident.client_token` (Incident Manager's
    /// `clientToken`; OpsCenter's `/aws/dedup` string): a retry returns the same record.
    async fn open(&self, incident: &NewIncident) -> Result<IncidentRef, PortError>;
}

/// Writes onto an incident that exists.
#[async_trait]
pub trait IncidentWriter: Send + Sync {
    /// The backend this writer writes to.
    fn backend(&self) -> Backend;

    /// Adds one entry to the incident's timeline, its kind stored with it so that it reads back
    /// as written ([`IncidentResolver::record`]). `client_token` makes a retry a no-op where the
    /// backend supports it.
    async fn add_timeline(
        &self,
        incident: &IncidentRef,
        entry: &TimelineEntry,
        client_token: &str,
    ) -> Result<(), PortError>;

    /// Attaches related items (resources, metrics, links) to the incident.
    async fn add_related_items(
        &self,
        incident: &IncidentRef,
        items: &[RelatedItem],
        client_token: &str,
    ) -> Result<(), PortError>;

    /// Where the incident stands in its backend now, whoever changed it (a person in the
    /// console, another tool): Incident Manager `GetIncidentRecord`, OpsCenter `GetOpsItem`.
    async fn standing(&self, incident: &IncidentRef) -> Result<Standing, PortError>;

    /// Sets the incident's impact (a graver signal joined): Incident Manager
    /// `UpdateIncidentRecord` `impact`; OpsCenter `UpdateOpsItem` `Severity` and `Priority`.
    async fn set_impact(&self, incident: &IncidentRef, impact: Impact) -> Result<(), PortError>;
}

/// An incident's state in its backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// Still open: Incident Manager `OPEN`; OpsItem `Open` or `InProgress`. Anything else
    /// (resolved, closed, cancelled) is not.
    pub open: bool,
    /// The backend's own word for its status.
    pub status: String,
    /// Its impact as the backend has it (OpsItem: its priority), when it says.
    pub impact: Option<Impact>,
}

/// Reads an incident back and resolves it.
#[async_trait]
pub trait IncidentResolver: Send + Sync {
    /// The incident as its backend records it, for the post-incident record: status, times,
    /// and the whole timeline oldest first (Incident Manager `GetIncidentRecord` +
    /// `ListTimelineEvents`; OpsCenter `GetOpsItem`). NotFound when it does not exist.
    async fn record(&self, incident: &IncidentRef) -> Result<IncidentRecord, PortError>;

    /// Resolves the incident with a closing summary: Incident Manager `UpdateIncidentRecord`
    /// (status `RESOLVED`, `summary`), OpsCenter `UpdateOpsItem` (status `Resolved`). Resolving
    /// an incident that is already resolved succeeds and changes nothing else.
    async fn resolve(&self, incident: &IncidentRef, summary: &str) -> Result<(), PortError>;
}

/// An incident as read back from its backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentRecord {
    pub title: String,
    /// Whether the backend has it resolved (`RESOLVED` / `Resolved`).
    pub resolved: bool,
    /// When the backend created it.
    pub created_at: Option<DateTime<Utc>>,
    /// When the backend resolved it, where it says.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Every timeline entry, oldest first: ours with the kind they were written with, and the
    /// backend's own (or a person's) as [`crate::domain::EntryKind::External`].
    pub timeline: Vec<TimelineEntry>,
}
