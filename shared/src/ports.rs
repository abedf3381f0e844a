//! One narrow trait per outside capability. Handlers are written against these; `aws` holds the
//! SDK adapters and `memory` the in-memory implementations used by tests and the offline CLI.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::diagnosis::{
    AutomationExecution, AutomationRequest, CustomerGateway, Gateway, MetricQuery, MetricSeries,
    VpnConnection,
};
use crate::domain::{
    Backend, Impact, IncidentRef, LifecycleEvent, NewIncident, RelatedItem, TimelineEntry,
};

/// What went wrong talking to an outside service, in terms a handler can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortErrorKind {
    /// The service throttled us and the SDK's retries ran out.
    Throttled,
    /// The thing asked for does not exist.
    NotFound,
    /// IAM denied the call.
    AccessDenied,
    /// A conflicting write or a failed condition.
    Conflict,
    /// The service rejected the request as invalid (a bug on our side or bad config).
    Invalid,
    /// The service could not be reached or answered 5xx / timed out.
    Unavailable,
    /// Anything else.
    Other,
}

impl PortErrorKind {
    /// The `errorType` a failed invocation reports for this kind (README, errorType table).
    pub fn error_type(self) -> &'static str {
        match self {
            PortErrorKind::Throttled => "Throttled",
            PortErrorKind::NotFound => "NotFound",
            PortErrorKind::AccessDenied => "AccessDenied",
            PortErrorKind::Conflict => "Conflict",
            PortErrorKind::Invalid => "InvalidRequest",
            PortErrorKind::Unavailable => "ServiceUnavailable",
            PortErrorKind::Other => "ServiceError",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PortErrorKind::Throttled => "Throttled",
            PortErrorKind::NotFound => "NotFound",
            PortErrorKind::AccessDenied => "AccessDenied",
            PortErrorKind::Conflict => "Conflict",
            PortErrorKind::Invalid => "Invalid",
            PortErrorKind::Unavailable => "Unavailable",
            PortErrorKind::Other => "Other",
        }
    }
}

/// An outside call that failed: which operation, what kind of failure, and the service's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed ({kind}): {message}")]
pub struct PortError {
    pub operation: String,
    pub kind: PortErrorKind,
    pub message: String,
}

impl PortError {
    pub fn new(
        operation: impl Into<String>,
        kind: PortErrorKind,
        message: impl Into<String>,
    ) -> Self {
        PortError {
            operation: operation.into(),
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for PortErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The incident record system: Incident Manager or OpsCenter.
#[async_trait]
pub trait IncidentStore: Send + Sync {
    fn backend(&self) -> Backend;

    /// Opens an incident. Idempotent on `incident.client_token` (Incident Manager's
    /// `clientToken`; OpsCenter's `/aws/dedup` string): a retry returns the same record.
    async fn open(&self, incident: &NewIncident) -> Result<IncidentRef, PortError>;

    /// Adds one entry to the incident's timeline. `client_token` makes a retry a no-op where
    /// the backend supports it.
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

    /// Resolves the incident with a closing summary: Incident Manager `UpdateIncidentRecord`
    /// (status `RESOLVED`, `summary`), OpsCenter `UpdateOpsItem` (status `Resolved`). Resolving
    /// an incident that is already resolved succeeds and changes nothing else.
    async fn resolve(&self, incident: &IncidentRef, summary: &str) -> Result<(), PortError>;

    /// The incident as its backend records it, for the post-incident record: status, times,
    /// and the whole timeline oldest first (Incident Manager `GetIncidentRecord` +
    /// `ListTimelineEvents`; OpsCenter `GetOpsItem`). NotFound when it does not exist.
    async fn record(&self, incident: &IncidentRef) -> Result<IncidentRecord, PortError>;
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
    /// Every timeline entry, oldest first: ours and the backend's own (`event` is the backend's
    /// event type, e.g. Incident Manager's `Custom Event`; `text` the entry's words).
    pub timeline: Vec<TimelineEntry>,
}

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

/// The state table's row for one dedupe key.
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
    /// When the first signal fired (the signal's own time). Rows written before this was
    /// recorded have none.
    #[serde(default)]
    pub detected_at: Option<DateTime<Utc>>,
    /// While `Opening`: when the claiming invocation's deadline passes and another may take over.
    pub lease_until: DateTime<Utc>,
    /// When the binding lapses (also the DynamoDB TTL attribute).
    pub expires_at: DateTime<Utc>,
}

impl DedupeRecord {
    /// Whether this row still binds its key to an incident at `now`.
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

/// The outcome of [`StateStore::settle`].
#[derive(Debug, Clone, PartialEq)]
pub enum Settle {
    /// The key was `recovered` (or already `resolved`) and bound to the incident: it is
    /// `resolved` now, so the next firing signal opens a new incident. The row as updated.
    Settled(DedupeRecord),
    /// The signal fired again since it recovered (status `open`): the incident stays open.
    FiredAgain(DedupeRecord),
    /// The key is bound to another incident, still opening, or gone.
    NotBound(Option<DedupeRecord>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// The key was free (absent, expired, resolved, or an abandoned `Opening`); it is ours now.
    Claimed,
    /// The key is bound: here is the row as it stands.
    Held(DedupeRecord),
}

/// The outcome of [`StateStore::begin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    Started,
    /// Already handled; the stored answer (JSON).
    Completed(String),
    /// Another invocation holds a live lease on it.
    InProgress,
}

/// The state table: dedupe keys, correlation, and which side effects already happened.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Conditionally binds `claim.key` (status `Opening`): succeeds only when no row binds it at
    /// `claim.now` (see [`DedupeRecord::binds`]). Two concurrent claims: exactly one wins.
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, PortError>;

    /// Records the opened incident on a key this owner claimed (status `Open`).
    async fn confirm_open(
        &self,
        key: &str,
        owner: &str,
        incident: &IncidentRef,
        expires_at: DateTime<Utc>,
    ) -> Result<(), PortError>;

    async fn get(&self, key: &str) -> Result<Option<DedupeRecord>, PortError>;

    /// Starts handling one signal occurrence, Powertools-style: conditionally writes an
    /// in-progress row `pk = idem#<key>`, `sk = idem` (status `in_progress`, `lease_until`,
    /// `expires_at`) unless a row exists that is completed, or in progress with a lease still
    /// running at `now`. Returns [`Begin::Started`] when this invocation may go ahead (also when
    /// it took over an abandoned in-progress row whose lease ran out), [`Begin::Completed`] with
    /// the stored answer when the occurrence was already handled, [`Begin::InProgress`] when
    /// another live invocation is handling it.
    async fn begin(
        &self,
        key: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Begin, PortError>;

    /// Forgets an occurrence whose invocation failed: deletes its row while it is still in
    /// progress, so Lambda's retry starts at once instead of waiting for the lease to run out.
    /// A completed row is kept.
    async fn abandon(&self, key: &str) -> Result<(), PortError>;

    /// Marks the occurrence handled (status `completed`) and stores the answer to replay.
    async fn complete(
        &self,
        key: &str,
        answer: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), PortError>;

    /// A new signal joined the key: moves it to `status`, counts it, extends the binding.
    /// Returns the row as updated.
    async fn touch(
        &self,
        key: &str,
        status: KeyStatus,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<DedupeRecord, PortError>;

    /// Stores a small JSON value under `key` (row `pk = ref#<key>`, `sk = ref`) until
    /// `expires_at`, overwriting any earlier value: how a later stage finds what an earlier one
    /// did (which incident an automation execution belongs to).
    async fn remember(
        &self,
        key: &str,
        value: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), PortError>;

    /// The value stored under `key`, unless absent or expired at `now`.
    async fn recall(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, PortError>;

    /// Marks the dedupe key `resolved`, conditionally: only while its status is `recovered` or
    /// `resolved` and it is bound to `incident_id` (one conditional write; a retry after success
    /// settles again). `at` is stored as the row's `resolved_at`; the row is kept until
    /// `expires_at` for the record. See [`Settle`].
    async fn settle(
        &self,
        key: &str,
        incident_id: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Settle, PortError>;
}

/// The responder bus.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes one lifecycle event; an entry the bus refuses is an error.
    async fn publish(&self, event: &LifecycleEvent) -> Result<(), PortError>;
}

/// The network's inventory (EC2 `Describe*`): what a VPN incident's diagnosis reads.
#[async_trait]
pub trait NetworkInventory: Send + Sync {
    /// `DescribeVpnConnections` for `ids`; every connection in the region when `ids` is empty.
    /// An id that does not exist is a [`PortErrorKind::NotFound`] error.
    async fn vpn_connections(&self, ids: &[String]) -> Result<Vec<VpnConnection>, PortError>;

    /// `DescribeVpnGateways` for one gateway; NotFound when it does not exist.
    async fn vpn_gateway(&self, id: &str) -> Result<Gateway, PortError>;

    /// `DescribeTransitGateways` for one gateway; NotFound when it does not exist.
    async fn transit_gateway(&self, id: &str) -> Result<Gateway, PortError>;

    /// `DescribeCustomerGateways` for one gateway; NotFound when it does not exist.
    async fn customer_gateway(&self, id: &str) -> Result<CustomerGateway, PortError>;
}

/// CloudWatch metrics (`GetMetricData`).
#[async_trait]
pub trait MetricSource: Send + Sync {
    /// One series per query (same ids, datapoints oldest first) between `start` and `end`;
    /// a query with no data gives an empty series.
    async fn metric_data(
        &self,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>, PortError>;
}

/// SSM Automation.
#[async_trait]
pub trait AutomationRunner: Send + Sync {
    /// `StartAutomationExecution`; returns the execution id. Idempotent on
    /// `request.client_token`: a retry with the same token returns the same execution.
    async fn start(&self, request: &AutomationRequest) -> Result<String, PortError>;

    /// `GetAutomationExecution`; NotFound when the execution does not exist.
    async fn execution(&self, id: &str) -> Result<AutomationExecution, PortError>;
}

/// One message attribute on a notification (SNS `MessageAttributes`): subscribers filter on them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttributeValue {
    /// SNS `String`.
    String(String),
    /// SNS `Number` (the decimal text).
    Number(String),
}

/// A message for the notification topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The message body: an AWS Chatbot custom notification (JSON).
    pub message: String,
    /// Message attributes (`impact`, `service`, `step`, …).
    pub attributes: std::collections::BTreeMap<String, AttributeValue>,
}

/// The notification topic (SNS `Publish`).
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Publishes one message; returns the topic's message id.
    async fn publish(&self, notification: &Notification) -> Result<String, PortError>;
}

/// Where a stored post-incident record can be found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReport {
    /// `s3://<bucket>/<key>`.
    pub uri: String,
    /// The object in the S3 console.
    pub console_url: String,
}

/// The post-incident record store (S3 `PutObject` on `REPORT_BUCKET`).
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Writes (or overwrites) one object; a retry with the same key and body is harmless.
    async fn put(
        &self,
        key: &str,
        body: &str,
        content_type: &str,
    ) -> Result<StoredReport, PortError>;
}

/// A CloudWatch alarm's current state, as `DescribeAlarms` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmState {
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub value: String,
    pub reason: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// CloudWatch alarms (`DescribeAlarms`).
#[async_trait]
pub trait AlarmStates: Send + Sync {
    /// The alarm's state (metric and composite alarms alike); `None` when no alarm has that name.
    async fn alarm_state(&self, name: &str) -> Result<Option<AlarmState>, PortError>;
}

/// The time, injectable so tests can move it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
