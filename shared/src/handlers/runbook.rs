//! The `runbook` function: starts the SSM Automation runbook a rule names once `enrich` has
//! described the incident, and reports how the execution ended.
//!
//! Two inputs:
//! - `Incident Enriched` from the responder bus: the incident's rule names a runbook
//!   ([`crate::domain::RunbookRef`]) whose parameter templates are resolved from the diagnosis
//!   (vocabulary: [`crate::rules`], "Runbook parameters"). Every required parameter with a valid
//!   value → `StartAutomationExecution`, an AUTOMATION related item and a timeline entry on the
//!   incident, and `Runbook Started` on the bus (`started`). A required parameter without a value,
//!   or any value the runbook would refuse → not started; one timeline entry says what is
//!   missing and how to fix it (`skipped`). No runbook in the rule → `skipped`, nothing done.
//! - `EC2 Automation Execution Status-change Notification` from `aws.ssm`: for an execution this
//!   stage started (it remembers each one in the state table) that reached a final status, a
//!   timeline entry with the outcome and `Runbook Finished` on the bus (`finished`). Other
//!   statuses and other executions are `ignored`.
//!
//! Both are handled once per occurrence (Powertools-style idempotency, as in `triage`): a
//! re-delivered event replays its stored answer without side effects, and a retried invocation
//! repeats the same writes with the same client tokens (the execution's `ClientToken` comes from
//! the incident and the document, so a retry cannot start a second execution).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{error, info, warn, Instrument};

use crate::diagnosis::{AutomationRequest, RunbookRun, Tunnel, TunnelStatus, VpnFacts};
use crate::domain::{
    stable_hash, trim_chars, IncidentRef, LifecycleDetail, LifecycleEvent, LifecycleKind,
    RelatedItem, RelatedItemKind, RelatedValue, TimelineEntry, RESPONDER_SOURCE,
};
use crate::handlers::envelope::{self, EnvelopeError};
use crate::handlers::once::{run_once, Once};
use crate::metrics::{self, Metric};
use crate::ports::{
    AutomationRunner, Clock, EventBus, IncidentStore, PortError, PortErrorKind, StateStore,
};
use crate::rules::{
    known_runbook, KnownRunbook, ParamPart, ParamTemplate, RunbookField, TunnelSide,
};

/// The source of Automation's status-change events.
pub const SSM_SOURCE: &str = "aws.ssm";
/// The detail-type of Automation's execution status-change events.
pub const STATUS_CHANGE_DETAIL_TYPE: &str = "EC2 Automation Execution Status-change Notification";
/// The statuses after which an execution does not change any more.
pub const TERMINAL_STATUSES: [&str; 8] = [
    "Success",
    "Failed",
    "TimedOut",
    "Cancelled",
    "CompletedWithSuccess",
    "CompletedWithFailure",
    "Rejected",
    "Exited",
];

/// How long the state table links an execution to its incident: longer than any runbook runs.
const EXECUTION_LINK: Duration = Duration::days(7);
/// A timeline entry's text, in characters: well inside Incident Manager's 12,000 (after JSON
/// escaping) and OpsCenter's 20 KB.
const TIMELINE_TEXT_MAX: usize = 8_000;
/// One output value or failure message, in characters (timeline and bus event alike).
const OUTPUT_VALUE_MAX: usize = 3_000;
/// How many outputs are reported.
const OUTPUTS_MAX: usize = 20;
/// SSM tag values.
const TAG_VALUE_MAX: usize = 256;

/// What the runbook stage did with an event (**contract**).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunbookAction {
    /// An automation execution was started.
    Started,
    /// A started execution ended, and the incident says how.
    Finished,
    /// The incident's runbook was not started (none named, or a parameter without a valid value).
    Skipped,
    /// Nothing to do: another lifecycle event, a status that is not final, an execution the
    /// responder did not start, or a re-delivery.
    Ignored,
}

/// The runbook stage's answer for one event (**contract**).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunbookAnswer {
    pub action: RunbookAction,
    pub incident: Option<String>,
    pub execution: Option<String>,
    pub reason: String,
}

impl RunbookAnswer {
    fn new(
        action: RunbookAction,
        incident: Option<&str>,
        execution: Option<&str>,
        reason: impl Into<String>,
    ) -> Self {
        RunbookAnswer {
            action,
            incident: incident.map(str::to_string),
            execution: execution.map(str::to_string),
            reason: reason.into(),
        }
    }
}

/// Why an invocation failed. Each variant has a stable error type for Lambda's error report.
#[derive(Debug, thiserror::Error)]
pub enum RunbookError {
    /// Neither a responder-bus event nor an Automation status change.
    #[error("{0}")]
    UnknownEvent(String),
    /// The right kind of event, without the fields it must have.
    #[error("{0}")]
    MalformedEvent(String),
    #[error("{0}")]
    Port(#[from] PortError),
    #[error("this event is being handled by another invocation right now; retry later")]
    EventInProgress,
    #[error(
        "the state table's record of automation execution {execution} is unreadable: {problem}"
    )]
    Inconsistent { execution: String, problem: String },
}

impl RunbookError {
    /// Stable names for the Lambda error report (`errorType`).
    pub fn error_type(&self) -> &'static str {
        match self {
            RunbookError::UnknownEvent(_) => "UnknownEvent",
            RunbookError::MalformedEvent(_) => "MalformedEvent",
            RunbookError::Port(e) => e.kind.error_type(),
            RunbookError::EventInProgress => "EventInProgress",
            RunbookError::Inconsistent { .. } => "InconsistentState",
        }
    }
}

impl From<EnvelopeError> for RunbookError {
    fn from(e: EnvelopeError) -> Self {
        match e {
            EnvelopeError::Foreign(_) => RunbookError::UnknownEvent(e.to_string()),
            EnvelopeError::Malformed { .. } => RunbookError::MalformedEvent(e.to_string()),
        }
    }
}

/// The runbook handler with its ports.
pub struct Runbook {
    incidents: Arc<dyn IncidentStore>,
    automation: Arc<dyn AutomationRunner>,
    state: Arc<dyn StateStore>,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
    automation_role_arn: String,
}

impl Runbook {
    pub fn new(
        incidents: Arc<dyn IncidentStore>,
        automation: Arc<dyn AutomationRunner>,
        state: Arc<dyn StateStore>,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
        automation_role_arn: String,
    ) -> Self {
        Runbook {
            incidents,
            automation,
            state,
            bus,
            clock,
            automation_role_arn,
        }
    }

    /// Handles one event. `deadline` is the invocation's deadline: work it starts is leased
    /// until then, so a retry after a crash can take over.
    pub async fn handle(
        &self,
        event: &Value,
        deadline: DateTime<Utc>,
    ) -> Result<RunbookAnswer, RunbookError> {
        let event_id = event.get("id").and_then(Value::as_str).unwrap_or("");
        let span = tracing::info_span!("runbook", service = "runbook", event_id);
        let result = self
            .handle_event(event, deadline)
            .instrument(span.clone())
            .await;
        match &result {
            Ok(answer) => span.in_scope(|| {
                info!(
                    action = ?answer.action,
                    incident = answer.incident.as_deref().unwrap_or(""),
                    execution = answer.execution.as_deref().unwrap_or(""),
                    reason = %answer.reason,
                    "handled"
                )
            }),
            Err(e) => span
                .in_scope(|| error!(error_type = e.error_type(), error = %e, "event not handled")),
        }
        result
    }

    async fn handle_event(
        &self,
        event: &Value,
        deadline: DateTime<Utc>,
    ) -> Result<RunbookAnswer, RunbookError> {
        if envelope::has_source(event, RESPONDER_SOURCE) {
            let lifecycle = envelope::parse_lifecycle(event)?;
            if lifecycle.kind != LifecycleKind::IncidentEnriched {
                return Ok(RunbookAnswer::new(
                    RunbookAction::Ignored,
                    Some(&lifecycle.detail.incident.id),
                    None,
                    format!(
                        "`{}` is not for the runbook stage (it acts on `Incident Enriched`).",
                        lifecycle.kind.detail_type()
                    ),
                ));
            }
            let origin = Origin::of(event, &lifecycle.detail);
            return self.enriched(lifecycle.detail, &origin, deadline).await;
        }
        if envelope::has_source(event, SSM_SOURCE)
            && event.get("detail-type").and_then(Value::as_str) == Some(STATUS_CHANGE_DETAIL_TYPE)
        {
            let change = parse_status_change(event)?;
            return self.status_changed(&change, deadline).await;
        }
        let what = match (
            event.get("source").and_then(Value::as_str),
            event.get("detail-type").and_then(Value::as_str),
        ) {
            (Some(source), Some(detail_type)) => format!("`{source}` `{detail_type}` event"),
            _ if event.is_object() => {
                "payload without an EventBridge source and detail-type".into()
            }
            _ => "payload that is not a JSON object".into(),
        };
        Err(RunbookError::UnknownEvent(format!(
            "the runbook stage does not handle this {what} (it takes `Incident Enriched` from \
             {RESPONDER_SOURCE} and `{STATUS_CHANGE_DETAIL_TYPE}` from {SSM_SOURCE})"
        )))
    }

    // -----------------------------------------------------------------------------------------
    // Incident Enriched: start the rule's runbook.

    async fn enriched(
        &self,
        detail: LifecycleDetail,
        origin: &Origin,
        deadline: DateTime<Utc>,
    ) -> Result<RunbookAnswer, RunbookError> {
        let incident_id = detail.incident.id.clone();
        let Some(runbook) = detail.incident.runbook.clone() else {
            return Ok(RunbookAnswer::new(
                RunbookAction::Skipped,
                Some(&incident_id),
                None,
                format!(
                    "Rule {} names no runbook; nothing to start.",
                    detail.incident.rule
                ),
            ));
        };
        let key = format!("runbook#{incident_id}#{}", runbook.document);
        self.once(&key, deadline, || async {
            let plan = plan(&detail, &runbook, &self.automation_role_arn);
            if plan.problems.is_empty() {
                self.start(detail.clone(), &runbook, plan, origin).await
            } else {
                self.not_started(&detail, &runbook.document, &plan).await
            }
        })
        .await
    }

    async fn not_started(
        &self,
        detail: &LifecycleDetail,
        document: &str,
        plan: &Plan,
    ) -> Result<RunbookAnswer, RunbookError> {
        let incident = incident_ref(detail);
        let problems: Vec<String> = plan.problems.iter().map(Problem::sentence).collect();
        let text = format!("Runbook {document} not started: {}", problems.join(" "));
        let token = stable_hash(&["runbook", "not-started", &incident.id, document], 64);
        self.note(&incident, "runbook-not-started", &text, &token)
            .await?;
        let names: Vec<&str> = plan.problems.iter().flat_map(Problem::parameters).collect();
        Ok(RunbookAnswer::new(
            RunbookAction::Skipped,
            Some(&incident.id),
            None,
            format!(
                "Runbook {document} not started: no valid value for {}; the incident's timeline says how to fix it.",
                names.join(", ")
            ),
        ))
    }

    async fn start(
        &self,
        mut detail: LifecycleDetail,
        runbook: &crate::domain::RunbookRef,
        plan: Plan,
        origin: &Origin,
    ) -> Result<RunbookAnswer, RunbookError> {
        let incident = incident_ref(&detail);
        let document = runbook.document.as_str();
        let parameters: BTreeMap<String, Vec<String>> = plan
            .values
            .iter()
            .map(|(name, value)| (name.clone(), vec![value.clone()]))
            .collect();
        let request = AutomationRequest {
            document: document.to_string(),
            version: runbook.version.clone(),
            parameters: parameters.clone(),
            client_token: client_token(&incident.id, document),
            tags: BTreeMap::from([
                ("incident".to_string(), tag_value(&incident.id)),
                (
                    "responder:rule".to_string(),
                    tag_value(&detail.incident.rule),
                ),
            ]),
        };
        let execution = self.automation.start(&request).await?;
        let text = started_text(document, &execution, &plan);
        detail.reason = format!("Runbook {document} started (execution {execution}).");
        detail.automation = Some(RunbookRun {
            document: document.to_string(),
            execution_id: execution.clone(),
            status: "InProgress".to_string(),
            parameters,
            outputs: BTreeMap::new(),
            failure_message: None,
        });

        // First of all, so that the status change can find its incident however soon it comes.
        let now = self.clock.now();
        let link = serde_json::to_string(&detail).map_err(|e| RunbookError::Inconsistent {
            execution: execution.clone(),
            problem: e.to_string(),
        })?;
        self.state
            .remember(&execution_key(&execution), &link, now + EXECUTION_LINK)
            .await?;

        let arn = format!(
            "arn:aws:ssm:{}:{}:automation-execution/{execution}",
            origin.region, origin.account
        );
        let item = RelatedItem {
            kind: RelatedItemKind::Automation,
            title: format!("Runbook {document}"),
            value: RelatedValue::Arn(arn),
        };
        let token = stable_hash(&["runbook", "related", &incident.id, &execution], 64);
        self.incidents
            .add_related_items(&incident, &[item], &token)
            .await?;
        let token = stable_hash(&["runbook", "started", &incident.id, &execution], 64);
        self.note(&incident, "runbook-started", &text, &token)
            .await?;
        let reason = detail.reason.clone();
        self.publish(LifecycleKind::RunbookStarted, detail).await?;
        Ok(RunbookAnswer::new(
            RunbookAction::Started,
            Some(&incident.id),
            Some(&execution),
            reason,
        ))
    }

    // -----------------------------------------------------------------------------------------
    // Automation status change: report how an execution we started ended.

    async fn status_changed(
        &self,
        change: &StatusChange,
        deadline: DateTime<Utc>,
    ) -> Result<RunbookAnswer, RunbookError> {
        let execution = change.execution_id.as_str();
        if !TERMINAL_STATUSES.contains(&change.status.as_str()) {
            return Ok(RunbookAnswer::new(
                RunbookAction::Ignored,
                None,
                Some(execution),
                format!(
                    "Execution {execution} is {}; only a final status is reported.",
                    change.status
                ),
            ));
        }
        let now = self.clock.now();
        let Some(link) = self.state.recall(&execution_key(execution), now).await? else {
            return Ok(RunbookAnswer::new(
                RunbookAction::Ignored,
                None,
                Some(execution),
                format!(
                    "Execution {execution} ({}) was not started by the responder, or too long ago.",
                    change.definition.as_deref().unwrap_or("unknown runbook")
                ),
            ));
        };
        let detail: LifecycleDetail =
            serde_json::from_str(&link).map_err(|e| RunbookError::Inconsistent {
                execution: execution.to_string(),
                problem: e.to_string(),
            })?;
        let key = format!("runbook-finished#{execution}");
        self.once(&key, deadline, || self.finish(detail.clone(), change))
            .await
    }

    async fn finish(
        &self,
        mut detail: LifecycleDetail,
        change: &StatusChange,
    ) -> Result<RunbookAnswer, RunbookError> {
        let incident = incident_ref(&detail);
        let execution = change.execution_id.as_str();
        let started = detail.automation.take();
        let document = started
            .as_ref()
            .map(|r| r.document.clone())
            .or_else(|| change.definition.clone())
            .unwrap_or_else(|| "(unknown)".to_string());
        let (outputs, failure_message, unread) = match self.automation.execution(execution).await {
            Ok(found) => (trim_outputs(found.outputs), found.failure_message, None),
            Err(e)
                if matches!(
                    e.kind,
                    PortErrorKind::NotFound | PortErrorKind::AccessDenied
                ) =>
            {
                warn!(error = %e, "could not read the execution; reporting the event's status");
                (BTreeMap::new(), None, Some(e))
            }
            Err(e) => return Err(e.into()),
        };
        let failure_message = failure_message.map(|m| trim_chars(m.trim(), OUTPUT_VALUE_MAX));
        let text = finished_text(
            &document,
            execution,
            &change.status,
            &outputs,
            failure_message.as_deref(),
            unread.as_ref(),
        );
        let token = stable_hash(&["runbook", "finished", &incident.id, execution], 64);
        self.note(&incident, "runbook-finished", &text, &token)
            .await?;
        detail.reason = format!(
            "Runbook {document} finished: {} (execution {execution}).",
            change.status
        );
        detail.automation = Some(RunbookRun {
            document: document.clone(),
            execution_id: execution.to_string(),
            status: change.status.clone(),
            parameters: started.map(|r| r.parameters).unwrap_or_default(),
            outputs,
            failure_message,
        });
        let reason = detail.reason.clone();
        self.publish(LifecycleKind::RunbookFinished, detail).await?;
        let (metric, dimensions) = finished_metric(&document, &change.status);
        let dimensions: Vec<(&str, &str)> =
            dimensions.iter().map(|(k, v)| (*k, v.as_str())).collect();
        metrics::emit(self.clock.now(), &dimensions, &[metric]);
        Ok(RunbookAnswer::new(
            RunbookAction::Finished,
            Some(&incident.id),
            Some(execution),
            reason,
        ))
    }

    // -----------------------------------------------------------------------------------------
    // Shared steps.

    /// Runs `work` once per `key` ([`run_once`]): a completed key replays its answer, a key
    /// another live invocation holds is an error to retry, and a failure releases the key.
    async fn once<F, Fut>(
        &self,
        key: &str,
        deadline: DateTime<Utc>,
        work: F,
    ) -> Result<RunbookAnswer, RunbookError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<RunbookAnswer, RunbookError>>,
    {
        let ran = run_once(
            self.state.as_ref(),
            self.clock.as_ref(),
            key,
            deadline,
            |_| work(),
        )
        .await?;
        match ran {
            Once::Done(answer) => Ok(answer),
            Once::Replayed(stored) => Ok(replay(&stored)),
            Once::Busy => Err(RunbookError::EventInProgress),
        }
    }

    async fn note(
        &self,
        incident: &IncidentRef,
        event: &str,
        text: &str,
        token: &str,
    ) -> Result<(), RunbookError> {
        let entry = TimelineEntry {
            time: self.clock.now(),
            event: event.to_string(),
            text: trim_chars(text, TIMELINE_TEXT_MAX),
        };
        self.incidents.add_timeline(incident, &entry, token).await?;
        Ok(())
    }

    async fn publish(
        &self,
        kind: LifecycleKind,
        detail: LifecycleDetail,
    ) -> Result<(), RunbookError> {
        let event = LifecycleEvent {
            kind,
            time: self.clock.now(),
            detail,
        };
        if let Err(e) = self.bus.publish(&event).await {
            warn!(error = %e, detail_type = kind.detail_type(), "publishing to the responder bus failed");
            return Err(e.into());
        }
        Ok(())
    }
}

/// Where the responder runs (the account and region of the event that reached it), for the
/// execution's ARN: the automation runs beside the function.
struct Origin {
    account: String,
    region: String,
}

impl Origin {
    fn of(event: &Value, detail: &LifecycleDetail) -> Origin {
        let field = |name: &str, fallback: &str| {
            event
                .get(name)
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .unwrap_or(fallback)
                .to_string()
        };
        Origin {
            account: field("account", &detail.signal.account),
            region: field("region", &detail.signal.region),
        }
    }
}

fn incident_ref(detail: &LifecycleDetail) -> IncidentRef {
    IncidentRef {
        backend: detail.incident.backend,
        id: detail.incident.id.clone(),
    }
}

/// An SSM tag value: at most 256 characters of letters, digits, spaces and `_ . : / = + - @`
/// (anything else becomes `_`).
fn tag_value(text: &str) -> String {
    text.chars()
        .take(TAG_VALUE_MAX)
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn execution_key(execution: &str) -> String {
    format!("automation#{execution}")
}

/// SSM's `ClientToken`: UUID-shaped (8-4-4-4-12 lowercase hex), stable for one incident and
/// document, so a retried start returns the execution the first attempt started.
pub fn client_token(incident: &str, document: &str) -> String {
    let hex = stable_hash(&[incident, document], 32);
    let mut token = String::with_capacity(36);
    for (i, c) in hex.chars().enumerate() {
        if matches!(i, 8 | 12 | 16 | 20) {
            token.push('-');
        }
        token.push(c);
    }
    token
}

/// The answer for a re-delivered event: what it did the first time, as a no-op.
fn replay(stored: &str) -> RunbookAnswer {
    match serde_json::from_str::<RunbookAnswer>(stored) {
        Ok(first) => RunbookAnswer {
            action: RunbookAction::Ignored,
            reason: format!(
                "Re-delivery of an event already handled; nothing done. First time: {}",
                first.reason
            ),
            ..first
        },
        Err(_) => RunbookAnswer::new(
            RunbookAction::Ignored,
            None,
            None,
            "Re-delivery of an event already handled; nothing done.",
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Resolving a runbook's parameters.

/// The parameters a runbook would start with, or why it cannot.
#[derive(Debug, Default)]
struct Plan {
    /// Resolved values, by parameter name.
    values: BTreeMap<String, String>,
    /// The order to show them in: the document's own order, then the others by name.
    order: Vec<String>,
    /// Things worth knowing about the values (an assumed IKE version, a parameter left out).
    notes: Vec<String>,
    problems: Vec<Problem>,
}

/// Why a parameter cannot be given, and how to fix it.
#[derive(Debug)]
enum Problem {
    /// Required parameters whose templates have no value, for the same reasons.
    NoValue {
        parameters: Vec<String>,
        /// Why, one clause per placeholder alternative.
        why: String,
        fixes: Vec<Fix>,
    },
    /// Anything else: `what` is a clause, `fix` an imperative clause.
    Other {
        parameter: String,
        what: String,
        fix: String,
    },
}

/// How to give a placeholder a value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fix {
    /// Turn on tunnel logging in JSON format.
    TunnelLogging,
    /// Let `enrich` describe the VPN connection.
    DescribeVpn,
    /// Configure the function's role.
    AutomationRole,
    /// Tag the alarm.
    Tag(String),
    /// Put a literal value in the rule.
    SetInRule,
}

impl Fix {
    /// The fix as an imperative clause; `target` names the parameters ("LogGroupName", "them").
    fn clause(&self, target: &str) -> String {
        match self {
            Fix::TunnelLogging => format!(
                "enable tunnel logging to CloudWatch Logs in JSON format on the VPN's tunnel \
                 options (Modify VPN tunnel options → Tunnel activity log), or set {target} in \
                 the rule"
            ),
            Fix::DescribeVpn => format!(
                "make sure enrich can describe the VPN connection (ec2:DescribeVpnConnections; \
                 its notes are on the timeline), or set {target} in the rule"
            ),
            Fix::AutomationRole => "set AUTOMATION_ROLE_ARN on the runbook function".to_string(),
            Fix::Tag(key) => format!(
                "tag the alarm with {key} and turn on alarm tag propagation, or set {target} in \
                 the rule"
            ),
            Fix::SetInRule => format!("set {target} in the rule"),
        }
    }
}

impl Problem {
    fn parameters(&self) -> Vec<&str> {
        match self {
            Problem::NoValue { parameters, .. } => parameters.iter().map(String::as_str).collect(),
            Problem::Other { parameter, .. } => vec![parameter.as_str()],
        }
    }

    fn sentence(&self) -> String {
        match self {
            Problem::NoValue {
                parameters,
                why,
                fixes,
            } => {
                let (subject, target) = match parameters.as_slice() {
                    [one] => (format!("{one} has"), one.clone()),
                    [init @ .., last] => (
                        format!("{} and {last} have", init.join(", ")),
                        "them".to_string(),
                    ),
                    [] => ("The parameters have".to_string(), "them".to_string()),
                };
                let fixes: Vec<String> = fixes.iter().map(|f| f.clause(&target)).collect();
                format!(
                    "{subject} no value ({why}). To fix: {}.",
                    fixes.join("; or ")
                )
            }
            Problem::Other { what, fix, .. } => format!("{what}. To fix: {fix}."),
        }
    }
}

/// What a placeholder can be resolved from.
struct Facts<'a> {
    detail: &'a LifecycleDetail,
    vpn: Option<&'a VpnFacts>,
    tunnel_a: Option<&'a Tunnel>,
    tunnel_b: Option<&'a Tunnel>,
    role: &'a str,
}

/// A placeholder's value, with a note when it was assumed rather than read.
struct Filled {
    text: String,
    note: Option<String>,
}

impl Filled {
    fn plain(text: impl Into<String>) -> Filled {
        Filled {
            text: text.into(),
            note: None,
        }
    }
}

impl<'a> Facts<'a> {
    fn new(detail: &'a LifecycleDetail, role: &'a str) -> Facts<'a> {
        let vpn = detail.diagnosis.as_ref().and_then(|d| d.vpn.as_ref());
        let tunnels = vpn.map(|v| v.connection.tunnels.as_slice()).unwrap_or(&[]);
        let a = tunnels
            .iter()
            .position(|t| t.status == Some(TunnelStatus::Down))
            .or((!tunnels.is_empty()).then_some(0));
        let tunnel_a = a.and_then(|i| tunnels.get(i));
        let tunnel_b = tunnels
            .iter()
            .enumerate()
            .find(|(i, _)| Some(*i) != a)
            .map(|(_, t)| t);
        Facts {
            detail,
            vpn,
            tunnel_a,
            tunnel_b,
            role,
        }
    }

    /// The value of one placeholder, or why it has none.
    fn value(&self, field: &RunbookField) -> Result<Filled, String> {
        let present = |value: &str, why: &str| {
            if value.trim().is_empty() {
                Err(why.to_string())
            } else {
                Ok(Filled::plain(value))
            }
        };
        let signal = &self.detail.signal;
        match field {
            RunbookField::VpnId => Ok(Filled::plain(self.vpn()?.connection.id.clone())),
            RunbookField::CustomerGatewayId => match &self.vpn()?.connection.customer_gateway_id {
                Some(id) => present(id, "the VPN connection names no customer gateway"),
                None => Err("the VPN connection names no customer gateway".into()),
            },
            RunbookField::TunnelIp(side) => {
                Ok(Filled::plain(self.tunnel(*side)?.outside_ip.clone()))
            }
            RunbookField::TunnelIkeVersion(side) => Ok(ike_version(self.tunnel(*side)?)),
            RunbookField::TunnelLogGroup(side) => log_group(self.tunnel(*side)?),
            RunbookField::AutomationRole => {
                present(self.role, "the runbook function has no AUTOMATION_ROLE_ARN")
            }
            RunbookField::IncidentId => present(&self.detail.incident.id, "the incident has no id"),
            RunbookField::Rule => present(&self.detail.incident.rule, "the incident has no rule"),
            RunbookField::Account => present(&signal.account, "the signal names no account"),
            RunbookField::Region => present(&signal.region, "the signal names no region"),
            RunbookField::Resource => present(&signal.resource, "the signal names no resource"),
            RunbookField::Dimension(name) => match signal.dimension(name) {
                Some(v) => present(v, &format!("the signal's {name} dimension is empty")),
                None => Err(format!("the signal has no {name} dimension")),
            },
            RunbookField::Tag(key) => match signal.tag(key) {
                Some(v) => present(v, &format!("the signal's {key} tag is empty")),
                None => Err(format!("the signal has no {key} tag")),
            },
        }
    }

    fn vpn(&self) -> Result<&'a VpnFacts, String> {
        if let Some(vpn) = self.vpn {
            // A connection being deleted has nothing left to troubleshoot.
            let state = vpn.connection.state.as_str();
            if state == "deleted" || state == "deleting" {
                return Err(format!("VPN {} is {state}", vpn.connection.id));
            }
            return Ok(vpn);
        }
        let Some(diagnosis) = &self.detail.diagnosis else {
            return Err("the event carries no diagnosis".into());
        };
        if diagnosis.notes.is_empty() {
            Err("the diagnosis describes no VPN connection".into())
        } else {
            Err(format!(
                "the diagnosis describes no VPN connection — {}",
                diagnosis.notes.join(", ")
            ))
        }
    }

    fn tunnel(&self, side: TunnelSide) -> Result<&'a Tunnel, String> {
        let vpn = self.vpn()?;
        let tunnel = match side {
            TunnelSide::A => self.tunnel_a,
            TunnelSide::B => self.tunnel_b,
        };
        tunnel.ok_or_else(|| match side {
            TunnelSide::A => format!("VPN {} reports no tunnels", vpn.connection.id),
            TunnelSide::B => format!("VPN {} reports no second tunnel", vpn.connection.id),
        })
    }
}

/// `IKEv1` or `IKEv2` when the tunnel allows exactly one of them; else `IKEv2`, noted.
fn ike_version(tunnel: &Tunnel) -> Filled {
    let allows = |v: &str| {
        tunnel
            .ike_versions
            .iter()
            .any(|x| x.eq_ignore_ascii_case(v))
    };
    let (v1, v2) = (allows("ikev1"), allows("ikev2"));
    match (v1, v2) {
        (true, false) => Filled::plain("IKEv1"),
        (false, true) => Filled::plain("IKEv2"),
        (true, true) => Filled {
            text: "IKEv2".into(),
            note: Some(format!(
                "tunnel {} allows both IKEv1 and IKEv2, so IKEv2 was assumed",
                tunnel.outside_ip
            )),
        },
        (false, false) => Filled {
            text: "IKEv2".into(),
            note: Some(format!(
                "tunnel {} names no IKE version (it accepts both), so IKEv2 was assumed",
                tunnel.outside_ip
            )),
        },
    }
}

/// The tunnel's log group, when it logs to CloudWatch Logs in JSON format (what
/// AWSSupport-TroubleshootVPN queries).
fn log_group(tunnel: &Tunnel) -> Result<Filled, String> {
    let ip = &tunnel.outside_ip;
    let log = match &tunnel.log {
        Some(log) if log.enabled => log,
        _ => return Err(format!("tunnel {ip} does not log to CloudWatch Logs")),
    };
    match log.format.as_deref() {
        Some(f) if f.eq_ignore_ascii_case("json") => {}
        Some(f) => return Err(format!("tunnel {ip} logs in {f} format, not JSON")),
        None => {
            return Err(format!(
                "tunnel {ip} does not say its logs are in JSON format"
            ))
        }
    }
    log.group_name()
        .map(Filled::plain)
        .ok_or_else(|| format!("tunnel {ip} logs to CloudWatch Logs but names no log group"))
}

/// How to give a placeholder a value.
fn fix_for(field: &RunbookField, facts: &Facts<'_>) -> Fix {
    match field {
        RunbookField::VpnId
        | RunbookField::CustomerGatewayId
        | RunbookField::TunnelIp(_)
        | RunbookField::TunnelIkeVersion(_)
        | RunbookField::TunnelLogGroup(_)
            if facts.vpn.is_none() =>
        {
            Fix::DescribeVpn
        }
        RunbookField::TunnelLogGroup(_) => Fix::TunnelLogging,
        RunbookField::AutomationRole => Fix::AutomationRole,
        RunbookField::Tag(key) => Fix::Tag(key.clone()),
        _ => Fix::SetInRule,
    }
}

/// Resolves every parameter of `runbook` against the facts, and checks the values against what
/// the document accepts (for a known document) before anything is started.
fn plan(detail: &LifecycleDetail, runbook: &crate::domain::RunbookRef, role: &str) -> Plan {
    let facts = Facts::new(detail, role);
    let known = known_runbook(&runbook.document);
    let mut plan = Plan::default();
    for name in parameter_order(known, runbook) {
        let spec = known.and_then(|k| k.parameter(&name));
        let required = spec.is_none_or(|s| s.required);
        let Some(template) = runbook.parameters.get(&name) else {
            if required {
                plan.problems.push(Problem::Other {
                    parameter: name.clone(),
                    what: format!(
                        "{name} is required by {} but the rule does not set it",
                        runbook.document
                    ),
                    fix: format!("add {name} to the rule's runbook parameters"),
                });
            }
            continue;
        };
        let parsed = match ParamTemplate::parse(template) {
            Ok(parsed) => parsed,
            Err(e) => {
                plan.problems.push(Problem::Other {
                    parameter: name.clone(),
                    what: format!("the rule's template for {name} is invalid: {e}"),
                    fix: format!("correct {name} in the rule"),
                });
                continue;
            }
        };
        match render(&parsed, &facts) {
            Ok((value, notes)) => {
                if let Some(check) = spec.and_then(|s| s.check) {
                    if let Err(must) = check.check(&value) {
                        plan.problems.push(Problem::Other {
                            parameter: name.clone(),
                            what: format!(
                                "{name} would be `{}` (from \"{template}\"), but it {must}",
                                trim_chars(&value, 200)
                            ),
                            fix: format!(
                                "correct the rule's template for {name}, or set {name} in the rule"
                            ),
                        });
                        continue;
                    }
                }
                plan.notes.extend(notes);
                plan.values.insert(name.clone(), value);
                plan.order.push(name);
            }
            Err(missing) if required => {
                let why = dedup(missing.iter().map(|(_, why)| why.as_str())).join("; ");
                let mut fixes: Vec<Fix> = Vec::new();
                for (field, _) in &missing {
                    let fix = fix_for(field, &facts);
                    if !fixes.contains(&fix) {
                        fixes.push(fix);
                    }
                }
                // Parameters missing for the very same reasons make one sentence.
                let same = plan.problems.iter_mut().find_map(|p| match p {
                    Problem::NoValue {
                        parameters,
                        why: w,
                        fixes: f,
                    } if *w == why && *f == fixes => Some(parameters),
                    _ => None,
                });
                match same {
                    Some(parameters) => parameters.push(name),
                    None => plan.problems.push(Problem::NoValue {
                        parameters: vec![name],
                        why,
                        fixes,
                    }),
                }
            }
            Err(missing) => {
                let whys: Vec<&str> = dedup(missing.iter().map(|(_, why)| why.as_str()));
                plan.notes
                    .push(format!("{name} was left out ({})", whys.join("; ")));
            }
        }
    }
    plan
}

/// The parameters to resolve: the known document's in its order, then the rule's others by name.
fn parameter_order(
    known: Option<&KnownRunbook>,
    runbook: &crate::domain::RunbookRef,
) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    if let Some(known) = known {
        for spec in known.parameters {
            if spec.required || runbook.parameters.contains_key(spec.name) {
                names.push(spec.name.to_string());
            }
        }
    }
    for name in runbook.parameters.keys() {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// Every alternative of a placeholder without a value, with why.
type Missing<'t> = Vec<(&'t RunbookField, String)>;

/// The template's text with every placeholder filled, and the notes of the values used; or the
/// first placeholder without a value.
fn render<'t>(
    template: &'t ParamTemplate,
    facts: &Facts<'_>,
) -> Result<(String, Vec<String>), Missing<'t>> {
    let mut out = String::new();
    let mut notes = Vec::new();
    for part in template.parts() {
        match part {
            ParamPart::Text(text) => out.push_str(text),
            ParamPart::Field(alternatives) => {
                let mut missing = Vec::new();
                let mut found = None;
                for field in alternatives {
                    match facts.value(field) {
                        Ok(value) => {
                            found = Some(value);
                            break;
                        }
                        Err(why) => missing.push((field, why)),
                    }
                }
                let Some(value) = found else {
                    return Err(missing);
                };
                out.push_str(&value.text);
                notes.extend(value.note);
            }
        }
    }
    Ok((out, notes))
}

fn dedup<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn started_text(document: &str, execution: &str, plan: &Plan) -> String {
    let values: Vec<String> = plan
        .order
        .iter()
        .filter_map(|name| plan.values.get(name).map(|v| format!("{name}={v}")))
        .collect();
    let mut text = if values.is_empty() {
        format!("Runbook {document} started (execution {execution}) with no parameters.")
    } else {
        format!(
            "Runbook {document} started (execution {execution}) with {}.",
            values.join(", ")
        )
    };
    for note in &plan.notes {
        text.push_str(&format!(" Note: {note}."));
    }
    text
}

/// The metric of a finished execution: `RunbookExecutions` by `Document` and by `Status`.
fn finished_metric(document: &str, status: &str) -> (Metric, [(&'static str, String); 2]) {
    (
        Metric::count("RunbookExecutions"),
        [
            ("Document", document.to_string()),
            ("Status", status.to_string()),
        ],
    )
}

fn trim_outputs(outputs: BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
    outputs
        .into_iter()
        .take(OUTPUTS_MAX)
        .map(|(name, values)| {
            let values = values
                .iter()
                .map(|v| trim_chars(v.trim(), OUTPUT_VALUE_MAX))
                .collect();
            (name, values)
        })
        .collect()
}

fn finished_text(
    document: &str,
    execution: &str,
    status: &str,
    outputs: &BTreeMap<String, Vec<String>>,
    failure_message: Option<&str>,
    unread: Option<&PortError>,
) -> String {
    let mut text = format!("Runbook {document} finished: {status} (execution {execution}).");
    if let Some(message) = failure_message.filter(|m| !m.is_empty()) {
        text.push_str(&format!("\nFailure: {message}"));
    }
    if let Some(e) = unread {
        text.push_str(&format!(
            "\nIts outputs could not be read ({}: {}); the status is the one Automation's event reported.",
            e.kind, e.message
        ));
    } else if outputs.is_empty() {
        text.push_str("\nNo outputs.");
    } else {
        for (name, values) in outputs {
            text.push_str(&format!("\n{name}: {}", values.join(", ")));
        }
    }
    text
}

// ---------------------------------------------------------------------------------------------
// Automation's status-change event.

/// `EC2 Automation Execution Status-change Notification`, as far as this stage reads it. The
/// detail's `StartTime`/`EndTime` ("Nov 29, 2024 7:43:25 PM") are not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub execution_id: String,
    pub status: String,
    /// The runbook's name (`Definition`).
    pub definition: Option<String>,
}

#[derive(Deserialize)]
struct RawStatusEvent {
    detail: RawStatusDetail,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawStatusDetail {
    execution_id: String,
    status: String,
    #[serde(default)]
    definition: Option<String>,
}

/// Reads an Automation status-change event; a missing `ExecutionId` or `Status` is malformed.
pub fn parse_status_change(event: &Value) -> Result<StatusChange, RunbookError> {
    let raw: RawStatusEvent = serde_path_to_error::deserialize(event).map_err(|e| {
        RunbookError::MalformedEvent(format!(
            "`{STATUS_CHANGE_DETAIL_TYPE}` event: {}: {}",
            e.path(),
            e.inner()
        ))
    })?;
    let execution_id = raw.detail.execution_id.trim().to_string();
    let status = raw.detail.status.trim().to_string();
    for (value, name) in [(&execution_id, "ExecutionId"), (&status, "Status")] {
        if value.is_empty() {
            return Err(RunbookError::MalformedEvent(format!(
                "`{STATUS_CHANGE_DETAIL_TYPE}` event: detail.{name} is empty"
            )));
        }
    }
    Ok(StatusChange {
        execution_id,
        status,
        definition: raw.detail.definition.filter(|d| !d.trim().is_empty()),
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod metric_tests {
    use super::*;

    #[test]
    fn a_finished_execution_counts_by_document_and_status() {
        let (metric, dimensions) = finished_metric("AWSSupport-TroubleshootVPN", "Failed");
        assert_eq!(metric, Metric::count("RunbookExecutions"));
        assert_eq!(
            dimensions,
            [
                ("Document", "AWSSupport-TroubleshootVPN".to_string()),
                ("Status", "Failed".to_string()),
            ]
        );
    }
}
