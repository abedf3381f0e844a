//! The `resolve` function: verifies a recovery before closing anything, and leaves a record the
//! team can learn from.
//!
//! It reads the responder bus's `Signal Recovered` events (every other lifecycle event is
//! `ignored`). For the recovered signal, once (a re-delivery replays the stored answer):
//! 1. the dedupe key's row must still be this incident's and `recovered` (or `resolved` by an
//!    earlier attempt that failed later); a key that fired again, moved on or is gone → `ignored`;
//! 2. verification, one sentence per check: a VPN (found like `enrich` finds it) must show every
//!    tunnel UP in `DescribeVpnConnections`; an alarm must be `OK` in `DescribeAlarms` (a VPN
//!    alarm gets both); a Security Hub or GuardDuty finding and an AWS Health event recover by
//!    their own workflow/record state, which the recovering event itself reports. A check that
//!    IAM denies, or whose resource is gone, fails with the reason; a throttled or unavailable
//!    service fails the invocation so that Lambda retries it;
//! 3. every check passed and the rule allows auto-resolve → the key is settled (`resolved`), the
//!    post-incident record ([`crate::report`]) is written to S3 and attached to the incident,
//!    a timeline entry says what verified the recovery, the incident is resolved with a closing
//!    summary, and `Incident Resolved` is published (`resolved`);
//! 4. otherwise → one timeline entry "Signal recovered; waiting for a responder to resolve: …"
//!    and `Incident Updated` with the reason, for `notify` to post (`awaiting_responder`).
//!
//! Every write repeats safely when Lambda retries a failed invocation: the same client tokens,
//! the same timeline times, the same S3 key. Metrics (EMF on stdout): `IncidentsResolved` and
//! `TimeToResolve`, or `IncidentsAwaitingResponder`, by `Impact` and by `Service`.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{error, info, warn, Instrument};

use crate::diagnosis::{TunnelStatus, VpnConnection};
use crate::domain::{
    one_line, stable_hash, trim_chars, Backend, IncidentRef, IncidentSummary, LifecycleDetail,
    LifecycleEvent, LifecycleKind, RelatedItem, RelatedItemKind, RelatedValue, ReportLink,
    Resolution, ResolutionStatus, Signal, SignalKind, TimelineEntry,
};
use crate::handlers::enrich::{named_vpn, tunnel_ip};
use crate::handlers::envelope::{self, EnvelopeError};
use crate::handlers::once::{run_once, Once};
use crate::metrics::{self, Metric};
use crate::ports::{
    AlarmStates, Clock, DedupeRecord, EventBus, IncidentStore, KeyStatus, NetworkInventory,
    PortError, PortErrorKind, ReportStore, Settle, StateStore,
};
use crate::report::{self, ReportInput};

/// How long a settled key's row is kept for the record (it no longer binds anything).
const SETTLED_KEEP: Duration = Duration::hours(24);
/// Timeline text, in characters: inside Incident Manager's 12,000 and OpsCenter's 20 KB.
const TIMELINE_TEXT_MAX: usize = 8_000;
/// The closing summary, in characters (Incident Manager's `summary` takes 8,000).
const SUMMARY_MAX: usize = 4_000;
/// An alarm's state reason quoted in a check.
const REASON_MAX: usize = 300;
/// A status message quoted in a check.
const STATUS_MESSAGE_MAX: usize = 120;
/// The related item's title.
pub const REPORT_ITEM_TITLE: &str = "Post-incident record";
/// Timeline labels.
pub const RESOLVED_EVENT: &str = "resolved";
pub const WAITING_EVENT: &str = "awaiting-responder";

/// What resolve did (**contract**).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResolveAction {
    /// Verified and resolved; the post-incident record is written.
    Resolved,
    /// The signal recovered, but verification failed or the rule leaves it to a responder.
    AwaitingResponder,
    /// Nothing to do: another lifecycle event, a key that fired again or moved on.
    Ignored,
}

/// Resolve's answer for one event (**contract**).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveAnswer {
    pub action: ResolveAction,
    /// The incident (record ARN or OpsItem id).
    pub incident: Option<String>,
    /// The post-incident record (`s3://bucket/key`), once written.
    pub report: Option<String>,
    /// One human sentence.
    pub reason: String,
}

impl ResolveAnswer {
    fn new(action: ResolveAction, incident: &str, reason: impl Into<String>) -> Self {
        ResolveAnswer {
            action,
            incident: Some(incident.to_string()),
            report: None,
            reason: reason.into(),
        }
    }
}

/// Why an invocation failed. Each variant has a stable error type for Lambda's error report.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Not a responder-bus event.
    #[error("{0}")]
    UnknownEvent(String),
    /// A responder-bus event whose detail breaks the contract.
    #[error("{0}")]
    MalformedEvent(String),
    /// An outside call failed in a way a retry may fix (or any write).
    #[error("{0}")]
    Port(#[from] PortError),
    /// Another invocation is handling this recovery right now.
    #[error("the recovery of incident {incident} is being handled by another invocation right now; retry later")]
    EventInProgress { incident: String },
    /// The incident lives in another backend than the one this function writes to.
    #[error("incident {incident} is in {found}, but this function writes to {configured}")]
    WrongBackend {
        incident: String,
        found: Backend,
        configured: Backend,
    },
}

impl ResolveError {
    /// Stable names for the Lambda error report (`errorType`).
    pub fn error_type(&self) -> &'static str {
        match self {
            ResolveError::UnknownEvent(_) => "UnknownEvent",
            ResolveError::MalformedEvent(_) => "MalformedEvent",
            ResolveError::Port(e) => e.kind.error_type(),
            ResolveError::EventInProgress { .. } => "EventInProgress",
            ResolveError::WrongBackend { .. } => "WrongBackend",
        }
    }
}

impl From<EnvelopeError> for ResolveError {
    fn from(e: EnvelopeError) -> Self {
        match e {
            EnvelopeError::Foreign(_) => ResolveError::UnknownEvent(e.to_string()),
            EnvelopeError::Malformed { .. } => ResolveError::MalformedEvent(e.to_string()),
        }
    }
}

/// One verification check.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Check {
    passed: bool,
    sentence: String,
}

impl Check {
    fn pass(sentence: impl Into<String>) -> Check {
        Check {
            passed: true,
            sentence: sentence.into(),
        }
    }

    fn fail(sentence: impl Into<String>) -> Check {
        Check {
            passed: false,
            sentence: sentence.into(),
        }
    }
}

/// The resolve handler with its ports.
pub struct Resolve {
    incidents: Arc<dyn IncidentStore>,
    network: Arc<dyn NetworkInventory>,
    alarms: Arc<dyn AlarmStates>,
    reports: Arc<dyn ReportStore>,
    state: Arc<dyn StateStore>,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
}

impl Resolve {
    pub fn new(
        incidents: Arc<dyn IncidentStore>,
        network: Arc<dyn NetworkInventory>,
        alarms: Arc<dyn AlarmStates>,
        reports: Arc<dyn ReportStore>,
        state: Arc<dyn StateStore>,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Resolve {
            incidents,
            network,
            alarms,
            reports,
            state,
            bus,
            clock,
        }
    }

    /// Handles one responder-bus event. `deadline` is the invocation's deadline: the recovery is
    /// leased until then, so a retry after a crash can take over.
    pub async fn handle(
        &self,
        event: &Value,
        deadline: DateTime<Utc>,
    ) -> Result<ResolveAnswer, ResolveError> {
        let event_id = event.get("id").and_then(Value::as_str).unwrap_or("");
        let span = tracing::info_span!("resolve", service = "resolve", event_id);
        let result = self
            .handle_event(event, deadline)
            .instrument(span.clone())
            .await;
        match &result {
            Ok(answer) => span.in_scope(|| {
                info!(
                    action = ?answer.action,
                    incident = answer.incident.as_deref().unwrap_or(""),
                    report = answer.report.as_deref().unwrap_or(""),
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
    ) -> Result<ResolveAnswer, ResolveError> {
        let recovered = envelope::parse_lifecycle(event)?;
        let summary = &recovered.detail.incident;
        if recovered.kind != LifecycleKind::SignalRecovered {
            return Ok(ResolveAnswer::new(
                ResolveAction::Ignored,
                &summary.id,
                format!(
                    "`{}` is not for the resolve stage (it acts on `Signal Recovered`).",
                    recovered.kind.detail_type()
                ),
            ));
        }
        let configured = self.incidents.backend();
        if summary.backend != configured {
            return Err(ResolveError::WrongBackend {
                incident: summary.id.clone(),
                found: summary.backend,
                configured,
            });
        }
        let key = format!(
            "resolve#{}#{}",
            summary.id, recovered.detail.signal.fingerprint
        );
        let ran = run_once(
            self.state.as_ref(),
            self.clock.as_ref(),
            &key,
            deadline,
            |_| self.resolve(&recovered),
        )
        .await?;
        match ran {
            Once::Done(answer) => Ok(answer),
            Once::Replayed(stored) => {
                info!(incident = %summary.id, "re-delivery of a recovery already handled; nothing done");
                Ok(replay(&stored, &summary.id))
            }
            Once::Busy => Err(ResolveError::EventInProgress {
                incident: summary.id.clone(),
            }),
        }
    }

    async fn resolve(&self, recovered: &LifecycleEvent) -> Result<ResolveAnswer, ResolveError> {
        let detail = &recovered.detail;
        let summary = &detail.incident;
        let incident = IncidentRef {
            backend: summary.backend,
            id: summary.id.clone(),
        };
        let now = self.clock.now();
        let row = match self.state.get(&summary.dedupe_key).await? {
            Some(row) => row,
            None => {
                return Ok(ResolveAnswer::new(
                    ResolveAction::Ignored,
                    &incident.id,
                    format!(
                        "The dedupe key `{}` is gone; nothing binds it to this incident any more.",
                        summary.dedupe_key
                    ),
                ))
            }
        };
        if let Some(ignored) = not_ours(&row, &incident.id) {
            return Ok(ResolveAnswer::new(
                ResolveAction::Ignored,
                &incident.id,
                ignored,
            ));
        }
        let checks = self.verify(&detail.signal, summary, now).await?;
        let verified = checks.iter().all(|c| c.passed);
        if summary.auto_resolve && verified {
            self.close(recovered, &incident, &checks, now).await
        } else {
            self.wait(recovered, &incident, &row, &checks, verified, now)
                .await
        }
    }

    /// Verified, and the rule allows it: settle the key, write the record, resolve, announce.
    async fn close(
        &self,
        recovered: &LifecycleEvent,
        incident: &IncidentRef,
        checks: &[Check],
        now: DateTime<Utc>,
    ) -> Result<ResolveAnswer, ResolveError> {
        let detail = &recovered.detail;
        let summary = &detail.incident;
        let row = match self
            .state
            .settle(&summary.dedupe_key, &incident.id, now, now + SETTLED_KEEP)
            .await?
        {
            Settle::Settled(row) => row,
            Settle::FiredAgain(_) => {
                return Ok(ResolveAnswer::new(
                    ResolveAction::Ignored,
                    &incident.id,
                    "The signal fired again while the recovery was being verified; the incident stays open.",
                ))
            }
            Settle::NotBound(_) => {
                return Ok(ResolveAnswer::new(
                    ResolveAction::Ignored,
                    &incident.id,
                    format!(
                        "The dedupe key `{}` no longer belongs to this incident; nothing resolved.",
                        summary.dedupe_key
                    ),
                ))
            }
        };
        let sentences: Vec<String> = checks.iter().map(|c| c.sentence.clone()).collect();

        let record = self.incidents.record(incident).await?;
        let detected = report::detected_at(&row);
        let body = report::render(&ReportInput {
            incident: summary,
            signal: &detail.signal,
            row: &row,
            record: &record,
            checks: &sentences,
            resolved_at: now,
        });
        let key = report::object_key(&incident.id, detected);
        let stored = self.reports.put(&key, &body, report::CONTENT_TYPE).await?;

        let item = RelatedItem {
            kind: RelatedItemKind::Attachment,
            title: REPORT_ITEM_TITLE.to_string(),
            value: RelatedValue::Url(stored.console_url.clone()),
        };
        self.incidents
            .add_related_items(incident, &[item], &client_token(&incident.id, "report"))
            .await?;

        let text = format!(
            "Resolved automatically: {}. Post-incident record: {}",
            sentences.join("; "),
            stored.uri
        );
        self.note(
            recovered,
            incident,
            RESOLVED_EVENT,
            &text,
            &client_token(
                &incident.id,
                &format!("resolved:{}", detail.signal.fingerprint),
            ),
        )
        .await?;

        let time_to_resolve = now - detected;
        let closing = closing_summary(summary, &sentences, time_to_resolve, &stored.uri);
        self.incidents.resolve(incident, &closing).await?;

        let reason = format!(
            "Resolved automatically {} after detection: {}.",
            report::human_duration(time_to_resolve),
            sentences.join("; ")
        );
        let secs = time_to_resolve.num_seconds().max(0);
        let resolution = Resolution {
            status: ResolutionStatus::Resolved,
            verified: true,
            checks: sentences,
            waiting_reason: None,
            report: Some(ReportLink {
                uri: stored.uri.clone(),
                url: stored.console_url.clone(),
            }),
            time_to_resolve_secs: Some(secs),
        };
        self.publish(
            LifecycleKind::IncidentResolved,
            detail,
            &reason,
            row.signal_count,
            resolution,
        )
        .await?;

        emit(summary, now, &resolved_metrics(secs));
        Ok(ResolveAnswer {
            action: ResolveAction::Resolved,
            incident: Some(incident.id.clone()),
            report: Some(stored.uri),
            reason,
        })
    }

    /// Not verified, or not the rule's to resolve: say why on the incident and on the bus.
    async fn wait(
        &self,
        recovered: &LifecycleEvent,
        incident: &IncidentRef,
        row: &DedupeRecord,
        checks: &[Check],
        verified: bool,
        now: DateTime<Utc>,
    ) -> Result<ResolveAnswer, ResolveError> {
        let detail = &recovered.detail;
        let summary = &detail.incident;
        let why = waiting_reason(summary, checks);
        // The failed checks are the reason; the others are said in brackets.
        let others: Vec<&str> = checks
            .iter()
            .filter(|c| c.passed)
            .map(|c| c.sentence.as_str())
            .collect();
        let mut text = format!("Signal recovered; waiting for a responder to resolve: {why}");
        if !others.is_empty() {
            text.push_str(&format!(" ({})", others.join("; ")));
        }
        self.note(
            recovered,
            incident,
            WAITING_EVENT,
            &text,
            &client_token(
                &incident.id,
                &format!("waiting:{}", detail.signal.fingerprint),
            ),
        )
        .await?;
        let resolution = Resolution {
            status: ResolutionStatus::AwaitingResponder,
            verified,
            checks: checks.iter().map(|c| c.sentence.clone()).collect(),
            waiting_reason: Some(why.clone()),
            report: None,
            time_to_resolve_secs: None,
        };
        self.publish(
            LifecycleKind::IncidentUpdated,
            detail,
            &text,
            row.signal_count,
            resolution,
        )
        .await?;
        emit(summary, now, &awaiting_metrics());
        Ok(ResolveAnswer::new(
            ResolveAction::AwaitingResponder,
            &incident.id,
            text,
        ))
    }

    // -----------------------------------------------------------------------------------------
    // Verification.

    async fn verify(
        &self,
        signal: &Signal,
        incident: &IncidentSummary,
        now: DateTime<Utc>,
    ) -> Result<Vec<Check>, ResolveError> {
        let mut checks = Vec::new();
        if matches!(
            signal.kind,
            SignalKind::MetricAlarm | SignalKind::CompositeAlarm
        ) {
            if let Some(name) = signal.alarm_name.as_deref().filter(|n| !n.is_empty()) {
                checks.push(self.check_alarm(name).await?);
            }
        }
        if let Some(check) = self.check_vpn(signal, incident, now).await? {
            checks.push(check);
        }
        let finding = signal.finding_id.as_deref().unwrap_or(&signal.resource);
        match signal.kind {
            SignalKind::SecurityHubFinding => checks.push(Check::pass(format!(
                "Security Hub: the recovering event itself reports finding {finding} resolved, \
                 suppressed, archived or passed (its workflow/record state; no API call)"
            ))),
            SignalKind::GuardDutyFinding => checks.push(Check::pass(format!(
                "GuardDuty: the recovering event itself reports finding {finding} archived \
                 (its record state; no API call)"
            ))),
            SignalKind::HealthEvent => checks.push(Check::pass(format!(
                "AWS Health: the recovering event itself reports event {finding} closed \
                 (its status; no API call)"
            ))),
            SignalKind::MetricAlarm | SignalKind::CompositeAlarm | SignalKind::RootActivity => {}
        }
        if checks.is_empty() {
            checks.push(Check::pass(format!(
                "No check applies to a {} signal: the recovering signal itself is the evidence",
                signal.kind.as_str().replace('_', " ")
            )));
        }
        Ok(checks)
    }

    /// `DescribeAlarms`: the alarm must be `OK`.
    async fn check_alarm(&self, name: &str) -> Result<Check, ResolveError> {
        match self.alarms.alarm_state(name).await {
            Ok(Some(state)) if state.value == "OK" => {
                Ok(Check::pass(format!("DescribeAlarms: alarm {name} is OK")))
            }
            Ok(Some(state)) => {
                let mut sentence = format!("DescribeAlarms: alarm {name} is {}", state.value);
                if let Some(reason) = state.reason.as_deref().filter(|r| !r.trim().is_empty()) {
                    sentence.push_str(&format!(" — {}", trim_chars(&one_line(reason), REASON_MAX)));
                }
                Ok(Check::fail(sentence))
            }
            Ok(None) => Ok(Check::fail(format!(
                "DescribeAlarms: alarm {name} no longer exists"
            ))),
            Err(e) if tolerated(&e) => {
                warn!(error = %e, alarm = name, "could not read the alarm's state");
                Ok(Check::fail(format!(
                    "DescribeAlarms: could not read alarm {name}: {} ({})",
                    e.kind,
                    one_line(&e.message)
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `DescribeVpnConnections` for the signal's VPN, if it is about one: every tunnel UP.
    async fn check_vpn(
        &self,
        signal: &Signal,
        incident: &IncidentSummary,
        now: DateTime<Utc>,
    ) -> Result<Option<Check>, ResolveError> {
        if let Some(id) = named_vpn(signal, incident) {
            let read = self
                .network
                .vpn_connections(std::slice::from_ref(&id))
                .await;
            return match read {
                Ok(list) => Ok(Some(match list.iter().find(|c| c.id == id) {
                    Some(connection) => tunnels_check(connection, now),
                    None => Check::fail(format!("DescribeVpnConnections: {id} no longer exists")),
                })),
                Err(e) if e.kind == PortErrorKind::NotFound => Ok(Some(Check::fail(format!(
                    "DescribeVpnConnections: {id} no longer exists (NotFound)"
                )))),
                Err(e) if tolerated(&e) => {
                    warn!(error = %e, vpn = %id, "could not describe the VPN connection");
                    Ok(Some(Check::fail(format!(
                        "DescribeVpnConnections: could not verify {id}: {} ({})",
                        e.kind,
                        one_line(&e.message)
                    ))))
                }
                Err(e) => Err(e.into()),
            };
        }
        // A per-tunnel alarm names only the tunnel's outside IP: find its connection.
        let Some(ip) = tunnel_ip(signal) else {
            return Ok(None);
        };
        match self.network.vpn_connections(&[]).await {
            Ok(all) => Ok(Some(
                match all
                    .iter()
                    .find(|c| c.tunnels.iter().any(|t| t.outside_ip == ip))
                {
                    Some(connection) => tunnels_check(connection, now),
                    None => Check::fail(format!(
                        "DescribeVpnConnections: no VPN connection has a tunnel at {ip} any more"
                    )),
                },
            )),
            Err(e) if tolerated(&e) => {
                warn!(error = %e, "could not list the VPN connections");
                Ok(Some(Check::fail(format!(
                    "DescribeVpnConnections: could not list VPN connections to find tunnel {ip}: {} ({})",
                    e.kind,
                    one_line(&e.message)
                ))))
            }
            Err(e) => Err(e.into()),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Writes.

    /// One timeline entry, at the recovery event's time: a retry writes the very same entry
    /// (OpsCenter keys entries by time and token).
    async fn note(
        &self,
        recovered: &LifecycleEvent,
        incident: &IncidentRef,
        event: &str,
        text: &str,
        token: &str,
    ) -> Result<(), ResolveError> {
        let entry = TimelineEntry {
            time: recovered.time,
            event: event.to_string(),
            text: trim_chars(text, TIMELINE_TEXT_MAX),
        };
        self.incidents.add_timeline(incident, &entry, token).await?;
        Ok(())
    }

    async fn publish(
        &self,
        kind: LifecycleKind,
        detail: &LifecycleDetail,
        reason: &str,
        signal_count: u64,
        resolution: Resolution,
    ) -> Result<(), ResolveError> {
        let event = LifecycleEvent {
            kind,
            time: self.clock.now(),
            detail: LifecycleDetail {
                incident: detail.incident.clone(),
                signal: detail.signal.clone(),
                reason: trim_chars(reason, 2_000),
                signal_count: Some(signal_count),
                diagnosis: None,
                automation: None,
                resolution: Some(resolution),
            },
        };
        if let Err(e) = self.bus.publish(&event).await {
            warn!(error = %e, detail_type = kind.detail_type(), "publishing to the responder bus failed");
            return Err(e.into());
        }
        Ok(())
    }
}

/// Why the row does not let this incident be resolved, if it does not.
fn not_ours(row: &DedupeRecord, incident: &str) -> Option<String> {
    let bound = row.incident.as_ref().map(|i| i.id.as_str());
    if bound != Some(incident) {
        return Some(match bound {
            Some(other) => format!(
                "The dedupe key `{}` now belongs to incident {other}; nothing to resolve here.",
                row.key
            ),
            None => format!(
                "The dedupe key `{}` is being claimed for a new incident; nothing to resolve here.",
                row.key
            ),
        });
    }
    match row.status {
        KeyStatus::Open => Some(format!(
            "The signal fired again after it recovered (key `{}` is open); the incident stays open.",
            row.key
        )),
        KeyStatus::Opening => Some(format!(
            "The dedupe key `{}` is being claimed for a new incident; nothing to resolve here.",
            row.key
        )),
        KeyStatus::Recovered | KeyStatus::Resolved => None,
    }
}

/// Every tunnel of the connection UP passes; a tunnel DOWN (or without status) fails, named with
/// its outside IP and since when.
fn tunnels_check(connection: &VpnConnection, now: DateTime<Utc>) -> Check {
    let id = &connection.id;
    if !connection.state.is_empty() && connection.state != "available" {
        return Check::fail(format!(
            "DescribeVpnConnections: {id} is {}",
            connection.state
        ));
    }
    let tunnels = &connection.tunnels;
    if tunnels.is_empty() {
        return Check::fail(format!(
            "DescribeVpnConnections: {id} reports no tunnel status"
        ));
    }
    let mut problems: Vec<String> = Vec::new();
    for (n, tunnel) in tunnels.iter().enumerate() {
        let name = format!("tunnel {} ({})", n + 1, tunnel.outside_ip);
        match tunnel.status {
            Some(TunnelStatus::Up) => {}
            Some(TunnelStatus::Down) => {
                let mut problem = format!("{name} of {id} is DOWN");
                if let Some(since) = tunnel.last_status_change {
                    problem.push_str(&format!(" since {}", clock_time(since, now)));
                }
                if let Some(message) = tunnel
                    .status_message
                    .as_deref()
                    .filter(|m| !m.trim().is_empty())
                {
                    problem.push_str(&format!(
                        " — '{}'",
                        trim_chars(&one_line(message), STATUS_MESSAGE_MAX)
                    ));
                }
                problems.push(problem);
            }
            None => problems.push(format!("{name} of {id} reports no status")),
        }
    }
    if !problems.is_empty() {
        return Check::fail(format!("DescribeVpnConnections: {}", problems.join("; ")));
    }
    let ips: Vec<&str> = tunnels.iter().map(|t| t.outside_ip.as_str()).collect();
    let which = match tunnels.len() {
        1 => format!("the tunnel of {id} is"),
        2 => format!("both tunnels of {id} are"),
        n => format!("all {n} tunnels of {id} are"),
    };
    Check::pass(format!(
        "DescribeVpnConnections: {which} UP ({})",
        ips.join(", ")
    ))
}

/// Only a missing resource or a denied call fails a check; anything else fails the invocation.
fn tolerated(e: &PortError) -> bool {
    matches!(
        e.kind,
        PortErrorKind::AccessDenied | PortErrorKind::NotFound
    )
}

/// Why the incident waits for a responder: the failed checks, and/or the rule.
fn waiting_reason(summary: &IncidentSummary, checks: &[Check]) -> String {
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.sentence.as_str())
        .collect();
    let rule = format!("rule {} leaves resolution to a responder", summary.rule);
    match (failed.is_empty(), summary.auto_resolve) {
        (true, _) => rule,
        (false, true) => format!("verification failed: {}", failed.join("; ")),
        (false, false) => format!("verification failed: {}; and {rule}", failed.join("; ")),
    }
}

/// The incident's closing summary: what it was, what verified the recovery, how long it took,
/// and where the record is.
fn closing_summary(
    summary: &IncidentSummary,
    checks: &[String],
    time_to_resolve: Duration,
    uri: &str,
) -> String {
    trim_chars(
        &format!(
            "{} — resolved automatically {} after detection. Recovery verified: {}. \
             Post-incident record: {uri}",
            summary.title,
            report::human_duration(time_to_resolve),
            checks.join("; ")
        ),
        SUMMARY_MAX,
    )
}

/// The metrics of a resolution.
fn resolved_metrics(time_to_resolve_secs: i64) -> Vec<Metric> {
    vec![
        Metric::count("IncidentsResolved"),
        // Seconds fit an f64 exactly far beyond any incident's length.
        Metric::seconds("TimeToResolve", time_to_resolve_secs as f64),
    ]
}

/// The metrics of a recovery left to a responder.
fn awaiting_metrics() -> Vec<Metric> {
    vec![Metric::count("IncidentsAwaitingResponder")]
}

/// EMF on stdout, by impact and by service.
fn emit(summary: &IncidentSummary, now: DateTime<Utc>, list: &[Metric]) {
    let impact = summary.impact.get().to_string();
    metrics::emit(
        now,
        &[
            ("Impact", impact.as_str()),
            ("Service", summary.service.as_str()),
        ],
        list,
    );
}

/// The client token of one write onto an incident: a retry sends the same one.
fn client_token(incident: &str, item: &str) -> String {
    stable_hash(&[incident, "resolve", item], 64)
}

/// `03:25 UTC` on the current day, `2024-05-13 22:10 UTC` before it.
fn clock_time(time: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if time.date_naive() == now.date_naive() {
        time.format("%H:%M UTC").to_string()
    } else {
        time.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

/// The answer for a re-delivered event: what the first delivery answered, as a no-op.
fn replay(stored: &str, incident: &str) -> ResolveAnswer {
    match serde_json::from_str::<ResolveAnswer>(stored) {
        Ok(mut first) => {
            first.reason = format!(
                "Re-delivery of a recovery already handled; nothing done. First time: {}",
                first.reason
            );
            first
        }
        Err(_) => ResolveAnswer::new(
            ResolveAction::Ignored,
            incident,
            "Re-delivery of a recovery already handled; nothing done.",
        ),
    }
}

#[cfg(test)]
mod tests;
