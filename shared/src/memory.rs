//! In-memory implementations of the ports: for handler tests and for the offline rule tester.
//! They keep the same semantics as the AWS adapters (conditional claims, idempotent opens by
//! client token) and record every call so tests can assert what a user would see.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::diagnosis::{
    AutomationExecution, AutomationRequest, CustomerGateway, Gateway, MetricQuery, MetricSeries,
    VpnConnection,
};
use crate::domain::{
    Backend, IncidentRef, LifecycleEvent, NewIncident, RelatedItem, TimelineEntry,
};
use crate::ports::{
    AlarmState, AlarmStates, AutomationRunner, Begin, Claim, ClaimOutcome, Clock, DedupeRecord,
    EventBus, IncidentRecord, IncidentStore, KeyStatus, MetricSource, NetworkInventory,
    Notification, Notifier, PortError, PortErrorKind, ReportStore, Settle, StateStore,
    StoredReport,
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
    /// When it was opened (the time `open` was called, by the wall clock unless set by a test).
    pub created_at: DateTime<Utc>,
    /// The closing summary, once resolved.
    pub resolution: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

/// An incident backend in memory; `open` is idempotent on the client token like the real ones.
#[derive(Debug)]
pub struct MemoryIncidents {
    backend: Backend,
    incidents: Mutex<Vec<StoredIncident>>,
    tokens: Mutex<HashMap<String, usize>>,
    faults: Mutex<Faults>,
    /// The backend's clock: creation and resolution times.
    now: Mutex<DateTime<Utc>>,
}

impl MemoryIncidents {
    pub fn new(backend: Backend) -> Self {
        MemoryIncidents {
            backend,
            incidents: Mutex::new(Vec::new()),
            tokens: Mutex::new(HashMap::new()),
            faults: Mutex::new(Faults::default()),
            now: Mutex::new(Utc::now()),
        }
    }

    /// Sets the backend's clock (the times it records on open and resolve).
    pub fn set_time(&self, now: DateTime<Utc>) {
        *lock(&self.now) = now;
    }

    /// The next `n` calls of `operation` (`open`, `add_timeline`, `add_related_items`,
    /// `resolve`, `record`) fail.
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
            created_at: *lock(&self.now),
            resolution: None,
            resolved_at: None,
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

    async fn resolve(&self, incident: &IncidentRef, summary: &str) -> Result<(), PortError> {
        let now = *lock(&self.now);
        self.with_incident("resolve", incident, |i| {
            if i.resolved_at.is_none() {
                i.resolved_at = Some(now);
            }
            i.resolution = Some(summary.to_string());
        })
    }

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
    references: Mutex<HashMap<String, (String, DateTime<Utc>)>>,
    faults: Mutex<Faults>,
}

impl MemoryState {
    pub fn new() -> Self {
        MemoryState::default()
    }

    /// The next `n` calls of `operation` (`claim`, `confirm_open`, `get`, `touch`, `begin`,
    /// `abandon`, `complete`, `remember`, `recall`) fail.
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
                detected_at: Some(claim.detected_at),
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

    async fn remember(
        &self,
        key: &str,
        value: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), PortError> {
        lock(&self.faults).check("remember")?;
        lock(&self.references).insert(key.to_string(), (value.to_string(), expires_at));
        Ok(())
    }

    async fn recall(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, PortError> {
        lock(&self.faults).check("recall")?;
        Ok(lock(&self.references)
            .get(key)
            .filter(|(_, expires_at)| *expires_at > now)
            .map(|(value, _)| value.clone()))
    }

    async fn settle(
        &self,
        key: &str,
        incident_id: &str,
        _at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Settle, PortError> {
        lock(&self.faults).check("settle")?;
        let mut keys = lock(&self.keys);
        let Some(row) = keys.get_mut(key) else {
            return Ok(Settle::NotBound(None));
        };
        let ours = row.incident.as_ref().is_some_and(|i| i.id == incident_id);
        match row.status {
            KeyStatus::Recovered | KeyStatus::Resolved if ours => {
                row.status = KeyStatus::Resolved;
                row.expires_at = expires_at;
                Ok(Settle::Settled(row.clone()))
            }
            KeyStatus::Open if ours => Ok(Settle::FiredAgain(row.clone())),
            _ => Ok(Settle::NotBound(Some(row.clone()))),
        }
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

/// The EC2 inventory in memory. An id it does not hold is NotFound, like the real API; an
/// operation can be made to fail (`vpn_connections`, `vpn_gateway`, `transit_gateway`,
/// `customer_gateway`).
#[derive(Debug, Default)]
pub struct MemoryNetwork {
    connections: Mutex<Vec<VpnConnection>>,
    gateways: Mutex<Vec<Gateway>>,
    customer_gateways: Mutex<Vec<CustomerGateway>>,
    faults: Mutex<Faults>,
    calls: Mutex<Vec<String>>,
}

impl MemoryNetwork {
    pub fn new() -> Self {
        MemoryNetwork::default()
    }

    pub fn add_connection(&self, connection: VpnConnection) {
        lock(&self.connections).push(connection);
    }

    pub fn add_gateway(&self, gateway: Gateway) {
        lock(&self.gateways).push(gateway);
    }

    pub fn add_customer_gateway(&self, gateway: CustomerGateway) {
        lock(&self.customer_gateways).push(gateway);
    }

    /// Removes everything with this id (the resource was deleted).
    pub fn remove(&self, id: &str) {
        lock(&self.connections).retain(|c| c.id != id);
        lock(&self.gateways).retain(|g| g.id != id);
        lock(&self.customer_gateways).retain(|g| g.id != id);
    }

    pub fn fail_next(&self, operation: &'static str, n: usize, kind: PortErrorKind) {
        lock(&self.faults).pending.insert(operation, (n, kind));
    }

    /// Every call, as `operation(argument)`.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }

    fn record(&self, operation: &'static str, argument: &str) -> Result<(), PortError> {
        lock(&self.calls).push(format!("{operation}({argument})"));
        lock(&self.faults).check(operation)
    }
}

fn not_found(operation: &str, what: &str, id: &str) -> PortError {
    PortError::new(
        operation,
        PortErrorKind::NotFound,
        format!("The {what} ID '{id}' does not exist"),
    )
}

#[async_trait]
impl NetworkInventory for MemoryNetwork {
    async fn vpn_connections(&self, ids: &[String]) -> Result<Vec<VpnConnection>, PortError> {
        self.record("vpn_connections", &ids.join(","))?;
        let all = lock(&self.connections);
        if ids.is_empty() {
            return Ok(all.clone());
        }
        ids.iter()
            .map(|id| {
                all.iter()
                    .find(|c| &c.id == id)
                    .cloned()
                    .ok_or_else(|| not_found("DescribeVpnConnections", "vpnConnection", id))
            })
            .collect()
    }

    async fn vpn_gateway(&self, id: &str) -> Result<Gateway, PortError> {
        self.record("vpn_gateway", id)?;
        lock(&self.gateways)
            .iter()
            .find(|g| g.id == id)
            .cloned()
            .ok_or_else(|| not_found("DescribeVpnGateways", "vpnGateway", id))
    }

    async fn transit_gateway(&self, id: &str) -> Result<Gateway, PortError> {
        self.record("transit_gateway", id)?;
        lock(&self.gateways)
            .iter()
            .find(|g| g.id == id)
            .cloned()
            .ok_or_else(|| not_found("DescribeTransitGateways", "transitGateway", id))
    }

    async fn customer_gateway(&self, id: &str) -> Result<CustomerGateway, PortError> {
        self.record("customer_gateway", id)?;
        lock(&self.customer_gateways)
            .iter()
            .find(|g| g.id == id)
            .cloned()
            .ok_or_else(|| not_found("DescribeCustomerGateways", "customerGateway", id))
    }
}

/// One stored datapoint: namespace, metric name, dimensions, time, value.
type Datapoint = (String, String, BTreeMap<String, String>, DateTime<Utc>, f64);

/// CloudWatch metrics in memory: datapoints stored per (namespace, name, dimensions), answered
/// for any statistic and period (tests give one value per period already).
#[derive(Debug, Default)]
pub struct MemoryMetrics {
    data: Mutex<Vec<Datapoint>>,
    faults: Mutex<Faults>,
    queries: Mutex<Vec<MetricQuery>>,
}

impl MemoryMetrics {
    pub fn new() -> Self {
        MemoryMetrics::default()
    }

    pub fn put(
        &self,
        namespace: &str,
        name: &str,
        dimensions: &[(&str, &str)],
        at: DateTime<Utc>,
        value: f64,
    ) {
        let dims = dimensions
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        lock(&self.data).push((namespace.to_string(), name.to_string(), dims, at, value));
    }

    /// The next `n` calls of `metric_data` fail.
    pub fn fail_next(&self, n: usize, kind: PortErrorKind) {
        lock(&self.faults).pending.insert("metric_data", (n, kind));
    }

    /// Every query asked, in order.
    pub fn queries(&self) -> Vec<MetricQuery> {
        lock(&self.queries).clone()
    }
}

#[async_trait]
impl MetricSource for MemoryMetrics {
    async fn metric_data(
        &self,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>, PortError> {
        lock(&self.faults).check("metric_data")?;
        lock(&self.queries).extend(queries.iter().cloned());
        let data = lock(&self.data);
        Ok(queries
            .iter()
            .map(|q| {
                let mut points: Vec<(DateTime<Utc>, f64)> = data
                    .iter()
                    .filter(|(ns, name, dims, at, _)| {
                        ns == &q.namespace
                            && name == &q.name
                            && dims == &q.dimensions
                            && *at >= start
                            && *at < end
                    })
                    .map(|(_, _, _, at, value)| (*at, *value))
                    .collect();
                points.sort_by_key(|(at, _)| *at);
                MetricSeries {
                    id: q.id.clone(),
                    points,
                }
            })
            .collect())
    }
}

/// SSM Automation in memory: `start` is idempotent on the client token; executions stay
/// `InProgress` until [`MemoryAutomation::finish`].
#[derive(Debug, Default)]
pub struct MemoryAutomation {
    executions: Mutex<Vec<(AutomationRequest, AutomationExecution)>>,
    faults: Mutex<Faults>,
}

impl MemoryAutomation {
    pub fn new() -> Self {
        MemoryAutomation::default()
    }

    /// The next `n` calls of `operation` (`start`, `execution`) fail.
    pub fn fail_next(&self, operation: &'static str, n: usize, kind: PortErrorKind) {
        lock(&self.faults).pending.insert(operation, (n, kind));
    }

    /// Every execution started, with the request that started it.
    pub fn started(&self) -> Vec<(AutomationRequest, AutomationExecution)> {
        lock(&self.executions).clone()
    }

    /// Ends an execution with `status`, `outputs` and an optional failure message.
    pub fn finish(
        &self,
        id: &str,
        status: &str,
        outputs: &[(&str, &str)],
        failure_message: Option<&str>,
        at: DateTime<Utc>,
    ) {
        for (_, execution) in lock(&self.executions).iter_mut() {
            if execution.id == id {
                execution.status = status.to_string();
                execution.outputs = outputs
                    .iter()
                    .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
                    .collect();
                execution.failure_message = failure_message.map(str::to_string);
                execution.ended = Some(at);
            }
        }
    }
}

#[async_trait]
impl AutomationRunner for MemoryAutomation {
    async fn start(&self, request: &AutomationRequest) -> Result<String, PortError> {
        lock(&self.faults).check("start")?;
        let mut executions = lock(&self.executions);
        if let Some((_, existing)) = executions
            .iter()
            .find(|(r, _)| r.client_token.eq_ignore_ascii_case(&request.client_token))
        {
            return Ok(existing.id.clone());
        }
        let n = executions.len() + 1;
        let id = format!("00000000-0000-4000-8000-{n:012x}");
        executions.push((
            request.clone(),
            AutomationExecution {
                id: id.clone(),
                document: Some(request.document.clone()),
                status: "InProgress".into(),
                outputs: BTreeMap::new(),
                failure_message: None,
                started: None,
                ended: None,
            },
        ));
        Ok(id)
    }

    async fn execution(&self, id: &str) -> Result<AutomationExecution, PortError> {
        lock(&self.faults).check("execution")?;
        lock(&self.executions)
            .iter()
            .find(|(_, e)| e.id == id)
            .map(|(_, e)| e.clone())
            .ok_or_else(|| {
                PortError::new(
                    "GetAutomationExecution",
                    PortErrorKind::NotFound,
                    format!("Automation execution {id} does not exist"),
                )
            })
    }
}

/// The notification topic in memory: keeps every published message, in order.
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    published: Mutex<Vec<Notification>>,
    faults: Mutex<Faults>,
}

impl MemoryNotifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` publishes fail with `kind`.
    pub fn fail_next(&self, n: usize, kind: PortErrorKind) {
        lock(&self.faults).pending.insert("publish", (n, kind));
    }

    pub fn published(&self) -> Vec<Notification> {
        lock(&self.published).clone()
    }
}

#[async_trait]
impl Notifier for MemoryNotifier {
    async fn publish(&self, notification: &Notification) -> Result<String, PortError> {
        lock(&self.faults).check("publish")?;
        let mut published = lock(&self.published);
        published.push(notification.clone());
        Ok(format!("00000000-0000-4000-8000-{:012}", published.len()))
    }
}

/// The report bucket in memory: key → (body, content type).
#[derive(Debug)]
pub struct MemoryReports {
    bucket: String,
    objects: Mutex<BTreeMap<String, (String, String)>>,
    puts: Mutex<usize>,
    faults: Mutex<Faults>,
}

impl MemoryReports {
    pub fn new(bucket: impl Into<String>) -> Self {
        MemoryReports {
            bucket: bucket.into(),
            objects: Mutex::new(BTreeMap::new()),
            puts: Mutex::new(0),
            faults: Mutex::new(Faults::default()),
        }
    }

    /// The next `n` puts fail with `kind`.
    pub fn fail_next(&self, n: usize, kind: PortErrorKind) {
        lock(&self.faults).pending.insert("put", (n, kind));
    }

    /// Every object: key → (body, content type).
    pub fn objects(&self) -> BTreeMap<String, (String, String)> {
        lock(&self.objects).clone()
    }

    /// How many puts succeeded (a retry overwrites the same key).
    pub fn puts(&self) -> usize {
        *lock(&self.puts)
    }
}

#[async_trait]
impl ReportStore for MemoryReports {
    async fn put(
        &self,
        key: &str,
        body: &str,
        content_type: &str,
    ) -> Result<StoredReport, PortError> {
        lock(&self.faults).check("put")?;
        lock(&self.objects).insert(
            key.to_string(),
            (body.to_string(), content_type.to_string()),
        );
        *lock(&self.puts) += 1;
        Ok(StoredReport {
            uri: format!("s3://{}/{key}", self.bucket),
            console_url: format!(
                "https://s3.console.aws.amazon.com/s3/object/{}?prefix={key}",
                self.bucket
            ),
        })
    }
}

/// CloudWatch alarms in memory: name → state.
#[derive(Debug, Default)]
pub struct MemoryAlarms {
    alarms: Mutex<BTreeMap<String, AlarmState>>,
    faults: Mutex<Faults>,
    calls: Mutex<Vec<String>>,
}

impl MemoryAlarms {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets an alarm's state value (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
    pub fn set(&self, name: &str, value: &str) {
        lock(&self.alarms).insert(
            name.to_string(),
            AlarmState {
                name: name.to_string(),
                value: value.to_string(),
                reason: None,
                updated_at: None,
            },
        );
    }

    /// The next `n` lookups fail with `kind`.
    pub fn fail_next(&self, n: usize, kind: PortErrorKind) {
        lock(&self.faults).pending.insert("alarm_state", (n, kind));
    }

    /// The alarm names asked for, in order.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }
}

#[async_trait]
impl AlarmStates for MemoryAlarms {
    async fn alarm_state(&self, name: &str) -> Result<Option<AlarmState>, PortError> {
        lock(&self.faults).check("alarm_state")?;
        lock(&self.calls).push(name.to_string());
        Ok(lock(&self.alarms).get(name).cloned())
    }
}
