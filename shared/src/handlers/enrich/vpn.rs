//! The VPN diagnosis: the connection the signal names, its gateways, and each tunnel's status
//! and `TunnelState` history, summed up in one line.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tracing::warn;

use super::{tolerate, Draft, Enrich, Place, TITLE_MAX};
use crate::console;
use crate::diagnosis::{
    named_vpn, tunnel_ip, CustomerGateway, MetricQuery, TunnelHistory, TunnelStatus, VpnConnection,
    VpnFacts,
};
use crate::domain::{
    clock_time, one_line, trim_chars, LifecycleDetail, RelatedItem, RelatedItemKind, RelatedValue,
};
use crate::ports::PortErrorKind;
use crate::shell::StageError;

/// How far back the tunnels' `TunnelState` history is read.
pub(super) const LOOK_BACK: Duration = Duration::hours(3);
/// The `TunnelState` period read and linked, in seconds.
const TUNNEL_PERIOD: u32 = 60;
/// A tunnel's status message quoted in the line, in characters.
const STATUS_MESSAGE_MAX: usize = 120;

enum Target {
    /// Known by id; still to be described.
    Id(String),
    /// Found by listing every connection (by a tunnel's outside IP).
    Connection(VpnConnection),
}

/// Diagnoses the VPN the signal names, if it names one (then `true`).
pub(super) async fn diagnose(
    enrich: &Enrich,
    detail: &LifecycleDetail,
    place: &Place<'_>,
    now: DateTime<Utc>,
    draft: &mut Draft,
) -> Result<bool, StageError> {
    let Some(target) = locate(enrich, detail, &mut draft.notes).await? else {
        return Ok(false);
    };
    describe(enrich, target, place, now, draft).await?;
    Ok(true)
}

/// Which VPN connection the signal is about, if any.
async fn locate(
    enrich: &Enrich,
    detail: &LifecycleDetail,
    notes: &mut Vec<String>,
) -> Result<Option<Target>, StageError> {
    let signal = &detail.signal;
    if let Some(id) = named_vpn(signal, &detail.incident) {
        return Ok(Some(Target::Id(id)));
    }
    let Some(ip) = tunnel_ip(signal) else {
        return Ok(None);
    };
    let all = match enrich.network.vpn_connections(&[]).await {
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
        Some(connection) => Ok(Some(Target::Connection(connection))),
        None => {
            notes.push(format!("no VPN connection has a tunnel at {ip}"));
            Ok(None)
        }
    }
}

async fn describe(
    enrich: &Enrich,
    target: Target,
    place: &Place<'_>,
    now: DateTime<Utc>,
    draft: &mut Draft,
) -> Result<(), StageError> {
    let network = enrich.network.as_ref();
    let (id, connection) = match target {
        Target::Connection(connection) => (connection.id.clone(), Some(connection)),
        Target::Id(id) => {
            let read = network.vpn_connections(std::slice::from_ref(&id)).await;
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
            let read = network.vpn_gateway(gw).await;
            tolerate(gw, read, &mut draft.notes)?
        }
        (None, Some(tgw)) => {
            let read = network.transit_gateway(tgw).await;
            tolerate(tgw, read, &mut draft.notes)?
        }
        (None, None) => None,
    };
    let customer_gateway = match &connection.customer_gateway_id {
        Some(cgw) => {
            let read = network.customer_gateway(cgw).await;
            tolerate(cgw, read, &mut draft.notes)?
        }
        None => None,
    };
    let reads = tunnel_history(enrich, &connection, now, &mut draft.notes).await?;

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
    enrich: &Enrich,
    connection: &VpnConnection,
    now: DateTime<Utc>,
    notes: &mut Vec<String>,
) -> Result<Vec<TunnelRead>, StageError> {
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
    let series = match enrich
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

/// One tunnel's history, and whether its current "down" run fills the whole window (then the
/// tunnel went down before the window began).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TunnelRead {
    pub(super) history: TunnelHistory,
    pub(super) down_all_window: bool,
}

/// The history of one tunnel from its datapoints (oldest first): a value below 1 is down.
pub(super) fn tunnel_read(outside_ip: String, points: &[(DateTime<Utc>, f64)]) -> TunnelRead {
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
        value: RelatedValue::Url(console::vpn_connection(place.region, id)),
    }
}

/// Logs Insights on the tunnel's log group: its lines of the look-back window.
pub(super) fn logs_insights_url(place: &Place<'_>, group: &str, tunnel_ip: &str) -> String {
    let query = format!(
        "fields @timestamp, @message | filter @message like \"{tunnel_ip}\" | sort @timestamp desc | limit 200"
    );
    console::logs_insights(place.region, group, &query, LOOK_BACK.num_seconds())
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
