//! The `enrich` function: the on-call engineer's first ten minutes, done before anyone is paged.
//!
//! It reads the responder bus's `Incident Opened` events (every other lifecycle event is
//! `ignored`) and, for the incident's signal:
//! - a **VPN** (the alarm's `VpnId` dimension or tag, a `vpn-…` resource, or the tunnel whose
//!   outside IP is the alarm's `TunnelIpAddress`): describes the connection, its virtual private
//!   or transit gateway and its customer gateway, reads each tunnel's `TunnelState` over the last
//!   three hours, and writes one line saying which tunnel is down since when and why;
//! - any **other alarm**: attaches the metrics it watches and writes its state reason;
//! - a **GuardDuty or Security Hub finding**: attaches its resources and a console link to it;
//!
//! then writes the related items and one `diagnosis` timeline entry onto the incident (through
//! [`IncidentStore`], the same code for Incident Manager and OpsCenter) and publishes
//! `Incident Enriched` with the [`Diagnosis`].
//!
//! What cannot be read because it no longer exists or IAM denies it becomes a note and the
//! diagnosis is partial; a throttled or unavailable service fails the invocation so that Lambda
//! retries it. Each incident is enriched once: a re-delivery replays the stored answer, and a
//! retry after a failure writes with the same client tokens.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::{error, info, warn, Instrument};

use crate::console::percent_encode;
use crate::diagnosis::{
    CustomerGateway, Diagnosis, MetricQuery, TunnelHistory, TunnelStatus, VpnConnection, VpnFacts,
};
use crate::domain::{
    one_line, stable_hash, trim_chars, Backend, IncidentRef, IncidentSummary, LifecycleDetail,
    LifecycleEvent, LifecycleKind, MetricRef, RelatedItem, RelatedItemKind, RelatedValue, Signal,
    SignalKind, TimelineEntry,
};
use crate::handlers::envelope::{parse_lifecycle, EnvelopeError};
use crate::handlers::once::{run_once, Once};
use crate::ports::{
    Clock, EventBus, IncidentStore, MetricSource, NetworkInventory, PortError, PortErrorKind,
    StateStore,
};

/// How far back the tunnels' `TunnelState` history is read.
const LOOK_BACK: Duration = Duration::hours(3);
/// The `TunnelState` period read and linked, in seconds.
const TUNNEL_PERIOD: u32 = 60;
/// The timeline entry's machine label.
pub const TIMELINE_EVENT: &str = "diagnosis";

/// Text limits: well inside every backend's (Incident Manager's `eventData` takes 12,000
/// characters, OpsCenter's operational data 20 KB), and short enough to read.
const SUMMARY_MAX: usize = 1_000;
const LINE_MAX: usize = 1_000;
const NOTE_MAX: usize = 300;
const NOTES_MAX: usize = 10;
const TEXT_MAX: usize = 4_000;
const TITLE_MAX: usize = 200;
const REASON_MAX: usize = 2_000;
const STATUS_MESSAGE_MAX: usize = 120;
/// Related items written per incident (Incident Manager keeps at most 100 per record).
const ITEMS_MAX: usize = 40;
/// Alarm metrics listed on the timeline.
const METRICS_LISTED: usize = 5;

/// What enrich did (**contract**).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrichAction {
    /// The incident was diagnosed (possibly partially: see `notes`).
    Enriched,
    /// Not an `Incident Opened` event: nothing done.
    Ignored,
}

/// Enrich's answer for one event (**contract**).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichAnswer {
    pub action: EnrichAction,
    /// The incident (record ARN or OpsItem id).
    pub incident: Option<String>,
    /// The diagnosis line (for `ignored`, why nothing was done).
    pub summary: String,
    /// What could not be read.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// Why an invocation failed. Each variant has a stable error type for Lambda's error report.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// Not a responder-bus event, or one whose detail breaks the contract.
    #[error(transparent)]
    Event(#[from] EnvelopeError),
    /// An outside call failed in a way a retry may fix (or that is not a missing resource or a
    /// denied describe), including every incident, state and bus write.
    #[error("{0}")]
    Port(#[from] PortError),
    /// Another invocation is enriching this incident right now.
    #[error("incident {incident} is being enriched by another invocation right now; retry later")]
    EventInProgress { incident: String },
    /// The incident lives in another backend than the one this function writes to.
    #[error("incident {incident} is in {found}, but this function writes to {configured}")]
    WrongBackend {
        incident: String,
        found: Backend,
        configured: Backend,
    },
}

impl EnrichError {
    /// Stable names for the Lambda error report (`errorType`).
    pub fn error_type(&self) -> &'static str {
        match self {
            EnrichError::Event(e) => e.error_type(),
            EnrichError::Port(e) => e.kind.error_type(),
            EnrichError::EventInProgress { .. } => "EventInProgress",
            EnrichError::WrongBackend { .. } => "WrongBackend",
        }
    }
}

/// The enrich handler with its ports.
pub struct Enrich {
    incidents: Arc<dyn IncidentStore>,
    network: Arc<dyn NetworkInventory>,
    metrics: Arc<dyn MetricSource>,
    state: Arc<dyn StateStore>,
    bus: Arc<dyn EventBus>,
    clock: Arc<dyn Clock>,
}

impl Enrich {
    pub fn new(
        incidents: Arc<dyn IncidentStore>,
        network: Arc<dyn NetworkInventory>,
        metrics: Arc<dyn MetricSource>,
        state: Arc<dyn StateStore>,
        bus: Arc<dyn EventBus>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Enrich {
            incidents,
            network,
            metrics,
            state,
            bus,
            clock,
        }
    }

    /// Handles one responder-bus event. `deadline` is the invocation's deadline: the incident is
    /// leased until then, so a retry after a crash can take over.
    pub async fn handle(
        &self,
        event: &Value,
        deadline: DateTime<Utc>,
    ) -> Result<EnrichAnswer, EnrichError> {
        let event_id = event.get("id").and_then(Value::as_str).unwrap_or("");
        let span = tracing::info_span!("enrich", service = "enrich", event_id);
        let result = self
            .handle_event(event, deadline)
            .instrument(span.clone())
            .await;
        if let Err(e) = &result {
            span.in_scope(|| error!(error_type = e.error_type(), error = %e, "event not handled"));
        }
        result
    }

    async fn handle_event(
        &self,
        event: &Value,
        deadline: DateTime<Utc>,
    ) -> Result<EnrichAnswer, EnrichError> {
        let opened = parse_lifecycle(event)?;
        let opened_incident = &opened.detail.incident;
        if opened.kind != LifecycleKind::IncidentOpened {
            let reason = format!(
                "`{}` events are not enriched; only `Incident Opened` is.",
                opened.kind.detail_type()
            );
            info!(incident = %opened_incident.id, %reason, "event ignored");
            return Ok(EnrichAnswer {
                action: EnrichAction::Ignored,
                incident: Some(opened_incident.id.clone()),
                summary: reason,
                notes: Vec::new(),
            });
        }
        let incident = IncidentRef {
            backend: opened_incident.backend,
            id: opened_incident.id.clone(),
        };
        let configured = self.incidents.backend();
        if incident.backend != configured {
            return Err(EnrichError::WrongBackend {
                incident: incident.id,
                found: opened_incident.backend,
                configured,
            });
        }

        let now = self.clock.now();
        let key = format!("enrich#{}", incident.id);
        let ran = run_once(
            self.state.as_ref(),
            self.clock.as_ref(),
            &key,
            deadline,
            |_| self.enrich(&opened, &incident, now),
        )
        .await;
        let result = match ran {
            Ok(Once::Done(answer)) => Ok(answer),
            Ok(Once::Replayed(stored)) => {
                info!(incident = %incident.id, "re-delivery of an enriched incident; nothing done");
                return Ok(replay(&stored, &incident));
            }
            Ok(Once::Busy) => {
                return Err(EnrichError::EventInProgress {
                    incident: incident.id,
                })
            }
            Err(e) => Err(e),
        };
        if let Ok(answer) = &result {
            info!(
                incident = %incident.id,
                rule = %opened_incident.rule,
                notes = answer.notes.len(),
                summary = %answer.summary,
                "enriched"
            );
        }
        result
    }

    async fn enrich(
        &self,
        opened: &LifecycleEvent,
        incident: &IncidentRef,
        now: DateTime<Utc>,
    ) -> Result<EnrichAnswer, EnrichError> {
        let detail = &opened.detail;
        let draft = self.diagnose(detail, now).await?;
        let summary = trim_chars(&one_line(&draft.summary), SUMMARY_MAX);
        let notes: Vec<String> = draft
            .notes
            .iter()
            .take(NOTES_MAX)
            .map(|n| trim_chars(&one_line(n), NOTE_MAX))
            .collect();

        let items = distinct(draft.items);
        if !items.is_empty() {
            let token = client_token(&incident.id, "related-items");
            self.incidents
                .add_related_items(incident, &items, &token)
                .await?;
        }
        // The entry's time is the opening's, not the clock's: a retry writes the very same entry
        // (OpsCenter keys timeline entries by time and token).
        let entry = TimelineEntry {
            time: opened.time,
            event: TIMELINE_EVENT.to_string(),
            text: timeline_text(&summary, &draft.lines, &notes),
        };
        let token = client_token(&incident.id, "timeline:diagnosis");
        self.incidents
            .add_timeline(incident, &entry, &token)
            .await?;

        let mut reason = format!("Enriched the incident before paging: {summary}");
        if !notes.is_empty() {
            reason.push_str(&format!(" (partial: {})", notes.join("; ")));
        }
        let event = LifecycleEvent {
            kind: LifecycleKind::IncidentEnriched,
            time: now,
            detail: LifecycleDetail {
                incident: detail.incident.clone(),
                signal: detail.signal.clone(),
                reason: trim_chars(&reason, REASON_MAX),
                signal_count: detail.signal_count,
                diagnosis: Some(Diagnosis {
                    summary: summary.clone(),
                    vpn: draft.vpn,
                    notes: notes.clone(),
                }),
                automation: None,
                resolution: None,
            },
        };
        if let Err(e) = self.bus.publish(&event).await {
            warn!(error = %e, "publishing Incident Enriched failed");
            return Err(e.into());
        }
        Ok(EnrichAnswer {
            action: EnrichAction::Enriched,
            incident: Some(incident.id.clone()),
            summary,
            notes,
        })
    }

    /// Everything known about the incident's signal: the line, the items, the notes.
    async fn diagnose(
        &self,
        detail: &LifecycleDetail,
        now: DateTime<Utc>,
    ) -> Result<Draft, EnrichError> {
        let signal = &detail.signal;
        let place = Place {
            region: &signal.region,
            account: &signal.account,
        };
        let mut draft = Draft::default();
        let target = self
            .locate_vpn(signal, &detail.incident, &mut draft.notes)
            .await?;
        let is_vpn = target.is_some();
        if let Some(target) = target {
            self.diagnose_vpn(target, &place, now, &mut draft).await?;
        }
        let is_finding = matches!(
            signal.kind,
            SignalKind::GuardDutyFinding | SignalKind::SecurityHubFinding
        ) && signal.finding_id.is_some();
        if is_finding {
            describe_finding(signal, &place, &mut draft);
        } else if signal.alarm_name.is_some() || !signal.metrics.is_empty() {
            describe_alarm(signal, &place, !is_vpn, &mut draft);
        } else if draft.summary.is_empty() {
            draft.summary = signal.summary.clone();
            if let Some(reason) = signal.reason.as_deref().filter(|r| !r.trim().is_empty()) {
                draft.lines.push(format!("Reason: {reason}"));
            }
        }
        // Whatever else the signal names is attached by ARN, whatever kind of resource it is.
        for arn in std::iter::once(&signal.resource)
            .chain(&signal.resources)
            .chain(&detail.incident.resources)
            .filter(|r| is_arn(r))
        {
            draft
                .items
                .push(RelatedItem::resource(arn.clone(), resource_title(arn)));
        }
        Ok(draft)
    }

    /// Which VPN connection the signal is about, if any.
    async fn locate_vpn(
        &self,
        signal: &Signal,
        incident: &IncidentSummary,
        notes: &mut Vec<String>,
    ) -> Result<Option<VpnTarget>, EnrichError> {
        if let Some(id) = named_vpn(signal, incident) {
            return Ok(Some(VpnTarget::Id(id)));
        }
        let Some(ip) = tunnel_ip(signal) else {
            return Ok(None);
        };
        let all = match self.network.vpn_connections(&[]).await {
            Ok(all) => all,
            Err(e) if e.kind == PortErrorKind::AccessDenied => {
                warn!(error = %e, "listing VPN connections denied");
                notes.push(format!(
                    "could not list VPN connections to find tunnel {ip}: AccessDenied"
                ));
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        match all
            .into_iter()
            .find(|c| c.tunnels.iter().any(|t| t.outside_ip == ip))
        {
            Some(connection) => Ok(Some(VpnTarget::Connection(connection))),
            None => {
                notes.push(format!("no VPN connection has a tunnel at {ip}"));
                Ok(None)
            }
        }
    }

    async fn diagnose_vpn(
        &self,
        target: VpnTarget,
        place: &Place<'_>,
        now: DateTime<Utc>,
        draft: &mut Draft,
    ) -> Result<(), EnrichError> {
        let (id, connection) = match target {
            VpnTarget::Connection(connection) => (connection.id.clone(), Some(connection)),
            VpnTarget::Id(id) => {
                let read = self
                    .network
                    .vpn_connections(std::slice::from_ref(&id))
                    .await;
                let connection = match tolerate(&id, read, &mut draft.notes)? {
                    Some(list) => {
                        let found = list.into_iter().find(|c| c.id == id);
                        if found.is_none() {
                            draft.notes.push(format!("{id} no longer exists"));
                        }
                        found
                    }
                    None => None,
                };
                (id, connection)
            }
        };
        let Some(connection) = connection else {
            draft.items.push(connection_item(place, &id));
            draft.items.push(tunnel_state_item(place, &id));
            draft.items.push(vpc_console_item(place, &id));
            return Ok(());
        };

        let gateway = match (&connection.vpn_gateway_id, &connection.transit_gateway_id) {
            (Some(gw), _) => {
                let read = self.network.vpn_gateway(gw).await;
                tolerate(gw, read, &mut draft.notes)?
            }
            (None, Some(tgw)) => {
                let read = self.network.transit_gateway(tgw).await;
                tolerate(tgw, read, &mut draft.notes)?
            }
            (None, None) => None,
        };
        let customer_gateway = match &connection.customer_gateway_id {
            Some(cgw) => {
                let read = self.network.customer_gateway(cgw).await;
                tolerate(cgw, read, &mut draft.notes)?
            }
            None => None,
        };
        let reads = self
            .tunnel_history(&connection, now, &mut draft.notes)
            .await?;

        draft.summary = vpn_line(&connection, customer_gateway.as_ref(), &reads, now);
        draft.items.push(connection_item(place, &id));
        if let Some(gw) = &connection.vpn_gateway_id {
            draft.items.push(RelatedItem::resource(
                place.arn("ec2", &format!("vpn-gateway/{gw}")),
                format!("Virtual private gateway {gw}"),
            ));
        } else if let Some(tgw) = &connection.transit_gateway_id {
            draft.items.push(RelatedItem::resource(
                place.arn("ec2", &format!("transit-gateway/{tgw}")),
                format!("Transit gateway {tgw}"),
            ));
        }
        if let Some(cgw) = &connection.customer_gateway_id {
            let ip = customer_gateway
                .as_ref()
                .and_then(|c| c.ip_address.as_deref());
            draft.items.push(RelatedItem::resource(
                place.arn("ec2", &format!("customer-gateway/{cgw}")),
                match ip {
                    Some(ip) => format!("Customer gateway {cgw} ({ip})"),
                    None => format!("Customer gateway {cgw}"),
                },
            ));
        }
        draft.items.push(tunnel_state_item(place, &id));
        draft.items.push(vpc_console_item(place, &id));
        for (n, tunnel) in connection.tunnels.iter().enumerate() {
            let group = tunnel
                .log
                .as_ref()
                .filter(|log| log.enabled)
                .and_then(|log| log.group_name());
            if let (Some(group), false) = (group, tunnel.outside_ip.is_empty()) {
                draft.items.push(RelatedItem {
                    kind: RelatedItemKind::Other,
                    title: trim_chars(
                        &format!(
                            "Tunnel {} ({}) logs in Logs Insights",
                            n + 1,
                            tunnel.outside_ip
                        ),
                        TITLE_MAX,
                    ),
                    value: RelatedValue::Url(logs_insights_url(place, group, &tunnel.outside_ip)),
                });
            }
        }
        draft.vpn = Some(VpnFacts {
            connection,
            gateway,
            customer_gateway,
            tunnel_history: reads.into_iter().map(|r| r.history).collect(),
        });
        Ok(())
    }

    /// Each tunnel's `TunnelState` (Minimum per minute) over the look-back window.
    async fn tunnel_history(
        &self,
        connection: &VpnConnection,
        now: DateTime<Utc>,
        notes: &mut Vec<String>,
    ) -> Result<Vec<TunnelRead>, EnrichError> {
        let queries: Vec<MetricQuery> = connection
            .tunnels
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.outside_ip.is_empty())
            .map(|(n, t)| MetricQuery {
                id: format!("t{}", n + 1),
                namespace: "AWS/VPN".into(),
                name: "TunnelState".into(),
                dimensions: [("TunnelIpAddress".to_string(), t.outside_ip.clone())]
                    .into_iter()
                    .collect(),
                stat: "Minimum".into(),
                period: TUNNEL_PERIOD,
            })
            .collect();
        if queries.is_empty() {
            return Ok(Vec::new());
        }
        let series = match self
            .metrics
            .metric_data(&queries, now - LOOK_BACK, now)
            .await
        {
            Ok(series) => series,
            Err(e) if e.kind == PortErrorKind::AccessDenied => {
                warn!(error = %e, "reading TunnelState denied");
                notes.push("could not read TunnelState metrics: AccessDenied".to_string());
                return Ok(Vec::new());
            }
            Err(e) => return Err(e.into()),
        };
        Ok(queries
            .iter()
            .map(|q| {
                let ip = q
                    .dimensions
                    .get("TunnelIpAddress")
                    .cloned()
                    .unwrap_or_default();
                let points = series
                    .iter()
                    .find(|s| s.id == q.id)
                    .map(|s| s.points.as_slice())
                    .unwrap_or(&[]);
                tunnel_read(ip, points)
            })
            .collect())
    }
}

/// What is gathered before anything is written.
#[derive(Debug, Default)]
struct Draft {
    /// The diagnosis line.
    summary: String,
    /// More lines for the timeline entry (not for the VPN line, which says it all).
    lines: Vec<String>,
    vpn: Option<VpnFacts>,
    items: Vec<RelatedItem>,
    notes: Vec<String>,
}

enum VpnTarget {
    /// Known by id; still to be described.
    Id(String),
    /// Found by listing every connection (by a tunnel's outside IP).
    Connection(VpnConnection),
}

/// One tunnel's history, and whether its current "down" run fills the whole window (then the
/// tunnel went down before the window began).
#[derive(Debug, Clone, PartialEq)]
struct TunnelRead {
    history: TunnelHistory,
    down_all_window: bool,
}

/// The history of one tunnel from its datapoints (oldest first): a value below 1 is down.
fn tunnel_read(outside_ip: String, points: &[(DateTime<Utc>, f64)]) -> TunnelRead {
    let last_value = points.last().map(|(_, v)| *v);
    let down_run = points.iter().rev().take_while(|(_, v)| *v < 1.0).count();
    let down_since = (down_run > 0)
        .then(|| points.get(points.len() - down_run).map(|(t, _)| *t))
        .flatten();
    TunnelRead {
        history: TunnelHistory {
            outside_ip,
            points: points.len(),
            last_value,
            down_since,
        },
        down_all_window: down_run > 0 && down_run == points.len(),
    }
}

/// A describe call's result, with a missing resource or a denied call turned into a note.
fn tolerate<T>(
    what: &str,
    result: Result<T, PortError>,
    notes: &mut Vec<String>,
) -> Result<Option<T>, PortError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind == PortErrorKind::NotFound => {
            warn!(error = %e, "{what} no longer exists");
            notes.push(format!("{what} no longer exists"));
            Ok(None)
        }
        Err(e) if e.kind == PortErrorKind::AccessDenied => {
            warn!(error = %e, "reading {what} denied");
            notes.push(format!("could not read {what}: AccessDenied"));
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The VPN line: each tunnel's status (since when and why, when down), then the customer
/// gateway. `Tunnel 1 (203.0.113.10) DOWN since 02:55 UTC — 'IPSEC IS DOWN'; tunnel 2
/// (203.0.113.11) UP; customer gateway cgw-… 198.51.100.7 (ASN 65000)`.
fn vpn_line(
    connection: &VpnConnection,
    customer_gateway: Option<&CustomerGateway>,
    reads: &[TunnelRead],
    now: DateTime<Utc>,
) -> String {
    let mut parts = Vec::new();
    let mut down = 0;
    for (n, tunnel) in connection.tunnels.iter().enumerate() {
        let read = reads
            .iter()
            .find(|r| r.history.outside_ip == tunnel.outside_ip && !tunnel.outside_ip.is_empty());
        let last = read.and_then(|r| r.history.last_value);
        let status = tunnel.status.or_else(|| {
            last.map(|v| {
                if v < 1.0 {
                    TunnelStatus::Down
                } else {
                    TunnelStatus::Up
                }
            })
        });
        let mut part = format!("tunnel {} ({})", n + 1, tunnel.outside_ip);
        match status {
            Some(TunnelStatus::Down) => {
                down += 1;
                part.push_str(" DOWN");
                let changed = tunnel.last_status_change;
                let since = match read.and_then(|r| r.history.down_since.map(|d| (d, r))) {
                    // Down for the whole window: the telemetry knows when it really went down.
                    Some((d, r)) if r.down_all_window => {
                        Some(changed.filter(|c| *c < d).unwrap_or(d))
                    }
                    Some((d, _)) => Some(d),
                    None => changed,
                };
                if let Some(since) = since {
                    part.push_str(&format!(" since {}", clock_time(since, now)));
                }
                if let Some(message) = tunnel
                    .status_message
                    .as_deref()
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                {
                    let message = trim_chars(&one_line(message), STATUS_MESSAGE_MAX);
                    part.push_str(&format!(" — '{message}'"));
                }
            }
            Some(TunnelStatus::Up) => part.push_str(" UP"),
            None => part.push_str(" status unknown"),
        }
        parts.push(part);
    }
    let mut line = String::new();
    if connection.state != "available" && !connection.state.is_empty() {
        line.push_str(&format!("VPN {} is {}: ", connection.id, connection.state));
    }
    let tunnels = connection.tunnels.len();
    if tunnels >= 2 && down == tunnels {
        if tunnels == 2 {
            line.push_str("Both tunnels DOWN: ");
        } else {
            line.push_str(&format!("All {tunnels} tunnels DOWN: "));
        }
    }
    if parts.is_empty() {
        line.push_str(&format!("VPN {}: no tunnel telemetry", connection.id));
    } else {
        line.push_str(&parts.join("; "));
    }
    if let Some(cgw) = &connection.customer_gateway_id {
        line.push_str(&format!("; customer gateway {cgw}"));
        if let Some(c) = customer_gateway {
            if let Some(ip) = c.ip_address.as_deref().filter(|ip| !ip.is_empty()) {
                line.push_str(&format!(" {ip}"));
            }
            if let Some(asn) = c.bgp_asn.as_deref().filter(|asn| !asn.is_empty()) {
                line.push_str(&format!(" (ASN {asn})"));
            }
        }
    }
    capitalise(&line)
}

/// Alarm signals: the state reason, the metrics watched (as METRIC items when `attach`), and a
/// console link to the alarm.
fn describe_alarm(signal: &Signal, place: &Place<'_>, attach: bool, draft: &mut Draft) {
    let reason = signal.reason.as_deref().filter(|r| !r.trim().is_empty());
    let line = match (&signal.alarm_name, reason) {
        (Some(name), Some(reason)) => format!("Alarm {name}: {reason}"),
        _ => signal.summary.clone(),
    };
    if draft.summary.is_empty() {
        draft.summary = line;
    }
    if !attach {
        return;
    }
    let watched: Vec<String> = signal.metrics.iter().filter_map(metric_label).collect();
    if !watched.is_empty() {
        let mut listed = watched
            .iter()
            .take(METRICS_LISTED)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        if watched.len() > METRICS_LISTED {
            listed.push_str(&format!("; and {} more", watched.len() - METRICS_LISTED));
        }
        draft.lines.push(format!("Watching: {listed}"));
    }
    for metric in &signal.metrics {
        if let Some(item) = metric_item(place, metric) {
            draft.items.push(item);
        }
    }
    if let Some(name) = &signal.alarm_name {
        draft.items.push(RelatedItem {
            kind: RelatedItemKind::Other,
            title: trim_chars(
                &format!("Alarm {name} in the CloudWatch console"),
                TITLE_MAX,
            ),
            value: RelatedValue::Url(format!(
                "https://{}/cloudwatch/home?region={}#alarmsV2:alarm/{}",
                place.console_host(),
                place.region,
                percent_encode(name)
            )),
        });
    }
}

/// Findings: the summary, the resources (non-ARN ones are only named: an ARN item must hold an
/// ARN), and a link to the finding in its console.
fn describe_finding(signal: &Signal, place: &Place<'_>, draft: &mut Draft) {
    if draft.summary.is_empty() {
        draft.summary = signal.summary.clone();
    }
    let mut resources: Vec<&str> = Vec::new();
    for r in std::iter::once(&signal.resource).chain(&signal.resources) {
        let is_finding_itself =
            signal.finding_id.as_deref() == Some(r.as_str()) || r.contains("/finding/");
        if !r.is_empty() && !is_finding_itself && !resources.contains(&r.as_str()) {
            resources.push(r);
        }
    }
    if !resources.is_empty() {
        draft
            .lines
            .push(format!("Resources: {}", resources.join(", ")));
    }
    let Some(id) = signal.finding_id.as_deref() else {
        return;
    };
    let host = place.console_host();
    let region = place.region;
    let (title, url) = match signal.kind {
        SignalKind::GuardDutyFinding => (
            format!(
                "GuardDuty finding {}",
                signal.finding_type.as_deref().unwrap_or(id)
            ),
            format!(
                "https://{host}/guardduty/home?region={region}#/findings?fId={}",
                percent_encode(id)
            ),
        ),
        _ => (
            format!(
                "Security Hub finding {}",
                signal.finding_type.as_deref().unwrap_or("")
            ),
            format!(
                "https://{host}/securityhub/home?region={region}#/findings?search=Id%3D%255Coperator%255C%253AEQUALS%255C%253A{}",
                percent_encode(&percent_encode(id))
            ),
        ),
    };
    draft.items.push(RelatedItem {
        kind: RelatedItemKind::Other,
        title: trim_chars(title.trim(), TITLE_MAX),
        value: RelatedValue::Url(url),
    });
}

/// `AWS/EC2 NetworkIn InstanceId=i-… (Sum, 86400 s)`, or `e1 = SUM(METRICS())`.
fn metric_label(metric: &MetricRef) -> Option<String> {
    if let (Some(ns), Some(name)) = (&metric.namespace, &metric.name) {
        let mut label = format!("{ns} {name}");
        for (k, v) in &metric.dimensions {
            label.push_str(&format!(" {k}={v}"));
        }
        match (&metric.stat, metric.period) {
            (Some(stat), Some(period)) => label.push_str(&format!(" ({stat}, {period} s)")),
            (Some(stat), None) => label.push_str(&format!(" ({stat})")),
            _ => {}
        }
        return Some(label);
    }
    let expression = metric.expression.as_deref()?;
    Some(match &metric.id {
        Some(id) => format!("{id} = {expression}"),
        None => expression.to_string(),
    })
}

/// A plain metric as a METRIC item (metric-math expressions are only listed on the timeline).
fn metric_item(place: &Place<'_>, metric: &MetricRef) -> Option<RelatedItem> {
    let (ns, name) = (metric.namespace.as_deref()?, metric.name.as_deref()?);
    let mut line = vec![ns.to_string(), name.to_string()];
    let mut title = format!("{ns} {name}");
    for (k, v) in &metric.dimensions {
        line.push(k.clone());
        line.push(v.clone());
        title.push_str(&format!(" {k}={v}"));
    }
    let definition = json!({
        "metrics": [line],
        "stat": metric.stat.as_deref().unwrap_or("Average"),
        "period": metric.period.unwrap_or(300),
        "region": place.region,
    });
    Some(RelatedItem {
        kind: RelatedItemKind::Metric,
        title: trim_chars(&title, TITLE_MAX),
        value: RelatedValue::MetricDefinition(definition.to_string()),
    })
}

fn connection_item(place: &Place<'_>, id: &str) -> RelatedItem {
    RelatedItem::resource(
        place.arn("ec2", &format!("vpn-connection/{id}")),
        format!("VPN connection {id}"),
    )
}

/// The connection's `TunnelState` (Minimum per minute: below 1 when any tunnel is down).
fn tunnel_state_item(place: &Place<'_>, id: &str) -> RelatedItem {
    let definition = json!({
        "metrics": [["AWS/VPN", "TunnelState", "VpnId", id]],
        "stat": "Minimum",
        "period": TUNNEL_PERIOD,
        "region": place.region,
    });
    RelatedItem {
        kind: RelatedItemKind::Metric,
        title: format!("TunnelState of {id} (Minimum, 1 minute)"),
        value: RelatedValue::MetricDefinition(definition.to_string()),
    }
}

fn vpc_console_item(place: &Place<'_>, id: &str) -> RelatedItem {
    RelatedItem {
        kind: RelatedItemKind::Other,
        title: format!("{id} in the VPC console"),
        value: RelatedValue::Url(format!(
            "https://{}/vpcconsole/home?region={}#VpnConnectionDetails:VpnConnectionId={id}",
            place.console_host(),
            place.region
        )),
    }
}

/// A CloudWatch console link opening Logs Insights on `group` with the tunnel's last three hours
/// of log lines. The console's format: the query detail is a JSURL-like object (`~(key~value)`,
/// strings prefixed `'`, their other characters as `*hex`), URL-encoded twice with `%` written
/// as `$` (so `~` is `$257E`, `(` `$2528`, `)` `$2529`, `'` `$2527`).
fn logs_insights_url(place: &Place<'_>, group: &str, tunnel_ip: &str) -> String {
    let query = format!(
        "fields @timestamp, @message | filter @message like \"{tunnel_ip}\" | sort @timestamp desc | limit 200"
    );
    let detail = format!(
        "~(end~0~start~-{}~timeType~'RELATIVE~unit~'seconds~editorString~'{}~source~(~'{}))",
        LOOK_BACK.num_seconds(),
        insights_string(&query),
        insights_string(group)
    );
    let mut encoded = String::with_capacity(detail.len() * 2);
    for c in detail.chars() {
        match c {
            '~' => encoded.push_str("$257E"),
            '(' => encoded.push_str("$2528"),
            ')' => encoded.push_str("$2529"),
            '\'' => encoded.push_str("$2527"),
            other => encoded.push(other),
        }
    }
    format!(
        "https://{}/cloudwatch/home?region={}#logsV2:logs-insights$3FqueryDetail$3D{encoded}",
        place.console_host(),
        place.region
    )
}

/// A string value inside the Logs Insights query detail: letters, digits, `-`, `_` and `.` as
/// they are, every other byte as `*` and two lowercase hex digits.
fn insights_string(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(text.len() * 2);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
            out.push(char::from(byte));
        } else {
            out.push('*');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

/// Where the signal happened: builds ARNs and console links.
struct Place<'a> {
    region: &'a str,
    account: &'a str,
}

impl Place<'_> {
    fn partition(&self) -> &'static str {
        crate::console::partition(self.region)
    }

    fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.partition(),
            self.region,
            self.account
        )
    }

    fn console_host(&self) -> String {
        crate::console::host(self.region)
    }
}

/// The VPN connection a signal names: its `VpnId` dimension or tag, else a `vpn-…` resource of
/// the signal or the incident. A per-tunnel signal names only its tunnel: see [`tunnel_ip`].
pub(crate) fn named_vpn(signal: &Signal, incident: &IncidentSummary) -> Option<String> {
    let named = [signal.dimension("VpnId"), signal.tag("VpnId")]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|id| is_vpn_id(id));
    if let Some(id) = named {
        return Some(id.to_string());
    }
    std::iter::once(&signal.resource)
        .chain(&signal.resources)
        .chain(&incident.resources)
        .find_map(|r| vpn_id_in(r))
        .map(str::to_string)
}

/// The tunnel outside IP a per-tunnel signal names (its `TunnelIpAddress` dimension).
pub(crate) fn tunnel_ip(signal: &Signal) -> Option<&str> {
    signal
        .dimension("TunnelIpAddress")
        .map(str::trim)
        .filter(|ip| ip.parse::<IpAddr>().is_ok())
}

/// `vpn-` and 8 to 17 lowercase hex digits (the runbook's `VpnConnectionId` pattern).
fn is_vpn_id(text: &str) -> bool {
    text.strip_prefix("vpn-").is_some_and(|hex| {
        (8..=17).contains(&hex.len())
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The VPN connection id a resource names: a bare `vpn-…` id or an EC2 `vpn-connection/…` ARN.
fn vpn_id_in(resource: &str) -> Option<&str> {
    let resource = resource.trim();
    let id = if resource.starts_with("arn:") {
        let mut parts = resource.splitn(6, ':');
        let service = parts.nth(2)?;
        let path = parts.nth(2)?;
        if service != "ec2" {
            return None;
        }
        path.strip_prefix("vpn-connection/")?
    } else {
        resource
    };
    is_vpn_id(id).then_some(id)
}

fn is_arn(text: &str) -> bool {
    text.starts_with("arn:")
        && text.splitn(6, ':').count() == 6
        && !text.chars().any(char::is_whitespace)
}

/// A short title for a resource ARN: its resource part with its type.
fn resource_title(arn: &str) -> String {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or(arn);
    trim_chars(&resource.replace([':', '/'], " "), TITLE_MAX)
}

/// `02:55 UTC` on the current day, `2024-05-13 22:10 UTC` before it.
fn clock_time(time: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if time.date_naive() == now.date_naive() {
        time.format("%H:%M UTC").to_string()
    } else {
        time.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The timeline entry: the line, the details, then what could not be read.
fn timeline_text(summary: &str, lines: &[String], notes: &[String]) -> String {
    let mut text = summary.to_string();
    for line in lines {
        text.push('\n');
        text.push_str(&trim_chars(&one_line(line), LINE_MAX));
    }
    for note in notes {
        text.push_str("\nNote: ");
        text.push_str(note);
    }
    trim_chars(&text, TEXT_MAX)
}

/// Items in order, each value once, titles within limits, at most [`ITEMS_MAX`].
fn distinct(items: Vec<RelatedItem>) -> Vec<RelatedItem> {
    let mut out: Vec<RelatedItem> = Vec::new();
    for mut item in items {
        if out.len() == ITEMS_MAX {
            warn!(max = ITEMS_MAX, "related items over the limit dropped");
            break;
        }
        if !out.iter().any(|i| i.value == item.value) {
            item.title = trim_chars(&item.title, TITLE_MAX);
            out.push(item);
        }
    }
    out
}

/// The client token of one write onto an incident: a retry sends the same one.
fn client_token(incident: &str, item: &str) -> String {
    stable_hash(&[incident, "enrich", item], 64)
}

/// The answer for a re-delivered event: what the first delivery answered.
fn replay(stored: &str, incident: &IncidentRef) -> EnrichAnswer {
    serde_json::from_str(stored).unwrap_or_else(|_| EnrichAnswer {
        action: EnrichAction::Enriched,
        incident: Some(incident.id.clone()),
        summary: "Re-delivery of an incident already enriched; nothing done.".to_string(),
        notes: Vec::new(),
    })
}

#[cfg(test)]
mod tests;
