use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

use super::vpn::{logs_insights_url, tunnel_read};
use super::*;
use crate::console;
use crate::diagnosis::{
    CustomerGateway, Gateway, GatewayKind, Tunnel, TunnelLog, TunnelStatus, VpnConnection,
};
use crate::domain::{Backend, RelatedItemKind, RelatedValue, Signal};
use crate::handlers::testkit::to_envelope;
use crate::handlers::testkit::{fixture, Fakes};
use crate::handlers::triage::{lifecycle_detail, new_incident};
use crate::memory::{MemoryMetrics, MemoryNetwork, StoredIncident};
use crate::ports::{Begin, IncidentOpener, RunOnceStore};
use crate::rules::Rules;
use crate::shell::{Failure, Shell};
use crate::sources::{self, Parsed};

const VPN: &str = "vpn-0123456789abcdef0";
const VGW: &str = "vgw-0fedcba9876543210";
const TGW: &str = "tgw-0a1b2c3d4e5f67890";
const CGW: &str = "cgw-0a1b2c3d4e5f60718";
const TUNNEL_1: &str = "203.0.113.10";
const TUNNEL_2: &str = "203.0.113.11";
const LOG_GROUP: &str = "arn:aws:logs:eu-west-1:111122223333:log-group:/vpn/tunnels:*";
const ARN_PREFIX: &str = "arn:aws:ec2:eu-west-1:111122223333:";

/// 2024-05-14 at `h:m` UTC: the fixtures' alarm fires at 03:02.
fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 14, h, m, 0).unwrap()
}

fn now() -> DateTime<Utc> {
    at(3, 5)
}

fn signal_of(event: &Value) -> Signal {
    match sources::parse(event) {
        Ok(Parsed::Signals(mut signals)) if !signals.is_empty() => signals.remove(0),
        other => panic!("no signal: {other:?}"),
    }
}

struct Bench {
    fakes: Fakes,
    network: Arc<MemoryNetwork>,
    metrics: Arc<MemoryMetrics>,
    enrich: Shell<Enrich>,
}

impl std::ops::Deref for Bench {
    type Target = Fakes;
    fn deref(&self) -> &Fakes {
        &self.fakes
    }
}

fn bench(backend: Backend) -> Bench {
    let fakes = Fakes::new(backend, now());
    let network = Arc::new(MemoryNetwork::new());
    let metrics = Arc::new(MemoryMetrics::new());
    let enrich = fakes.enrich(network.clone(), metrics.clone());
    Bench {
        fakes,
        network,
        metrics,
        enrich,
    }
}

fn tunnel(ip: &str, status: TunnelStatus, message: &str, changed: DateTime<Utc>) -> Tunnel {
    Tunnel {
        outside_ip: ip.to_string(),
        status: Some(status),
        status_message: Some(message.to_string()),
        last_status_change: Some(changed),
        accepted_routes: Some(if status == TunnelStatus::Up { 2 } else { 0 }),
        ike_versions: vec!["ikev2".into()],
        log: Some(TunnelLog {
            enabled: true,
            group_arn: Some(LOG_GROUP.into()),
            format: Some("json".into()),
        }),
    }
}

/// vpn-… on vgw-… and cgw-…: tunnel 1 DOWN ('IPSEC IS DOWN', telemetry changed 02:56:12),
/// tunnel 2 UP.
fn connection() -> VpnConnection {
    VpnConnection {
        id: VPN.into(),
        state: "available".into(),
        category: Some("VPN".into()),
        vpn_type: Some("ipsec.1".into()),
        customer_gateway_id: Some(CGW.into()),
        vpn_gateway_id: Some(VGW.into()),
        transit_gateway_id: None,
        tunnels: vec![
            tunnel(
                TUNNEL_1,
                TunnelStatus::Down,
                "IPSEC IS DOWN",
                at(2, 56) + Duration::seconds(12),
            ),
            tunnel(TUNNEL_2, TunnelStatus::Up, "2 BGP ROUTES", at(1, 10)),
        ],
        tags: BTreeMap::new(),
    }
}

impl Bench {
    /// The fixture VPN: connection, virtual private gateway, customer gateway, and per-minute
    /// `TunnelState` from 00:05: tunnel 1 up until 02:54 and down from 02:55, tunnel 2 up.
    fn with_vpn(&self, connection: VpnConnection) {
        self.network.add_connection(connection);
        self.network.add_gateway(Gateway {
            kind: GatewayKind::VpnGateway,
            id: VGW.into(),
            state: Some("available".into()),
            amazon_side_asn: Some(64512),
            vpc_ids: vec!["vpc-0123456789abcdef0".into()],
        });
        self.network.add_customer_gateway(CustomerGateway {
            id: CGW.into(),
            ip_address: Some("198.51.100.7".into()),
            bgp_asn: Some("65000".into()),
            device_name: Some("branch-router".into()),
            state: Some("available".into()),
        });
        self.tunnel_state(TUNNEL_1, Some(at(2, 55)));
        self.tunnel_state(TUNNEL_2, None);
    }

    fn tunnel_state(&self, ip: &str, down_from: Option<DateTime<Utc>>) {
        let mut t = at(0, 5);
        while t < now() {
            let down = down_from.is_some_and(|d| t >= d);
            let value = if down { 0.0 } else { 1.0 };
            self.metrics.put(
                "AWS/VPN",
                "TunnelState",
                &[("TunnelIpAddress", ip)],
                t,
                value,
            );
            t += Duration::minutes(1);
        }
    }

    /// Opens the incident for the fixture's signal (as triage would) and returns the
    /// `Incident Opened` event the responder bus delivers to enrich.
    async fn opened(&self, name: &str, edit: impl FnOnce(&mut Value)) -> Value {
        let mut raw = fixture(name);
        edit(&mut raw);
        let signal = signal_of(&raw);
        self.opened_for(signal, LifecycleKind::IncidentOpened).await
    }

    async fn opened_for(&self, signal: Signal, kind: LifecycleKind) -> Value {
        let rules = Rules::embedded().unwrap_or_else(|e| panic!("{e}"));
        let c = rules
            .classify(&signal)
            .unwrap_or_else(|| panic!("no rule for {}", signal.summary));
        let reference = self
            .incidents
            .open(&new_incident(&signal, &c, "{}", &signal.fingerprint))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let event = LifecycleEvent {
            kind,
            time: now() - Duration::seconds(2),
            detail: lifecycle_detail(
                &signal,
                &c,
                &reference,
                &c.title,
                c.impact,
                "Opened an incident.",
                Some(1),
            ),
        };
        to_envelope(&event, &signal.account, &signal.region)
    }

    async fn run(&self, event: &Value) -> Result<EnrichAnswer, StageError> {
        self.fakes.run(&self.enrich, event).await
    }

    async fn ok(&self, event: &Value) -> EnrichAnswer {
        self.run(event)
            .await
            .unwrap_or_else(|e| panic!("enrich failed ({}): {e}", e.error_type()))
    }

    fn incident(&self) -> StoredIncident {
        let all = self.incidents.incidents();
        assert_eq!(all.len(), 1, "one incident");
        all[0].clone()
    }

    fn enriched(&self) -> Vec<LifecycleEvent> {
        self.bus
            .events()
            .into_iter()
            .filter(|e| e.kind == LifecycleKind::IncidentEnriched)
            .collect()
    }

    /// The only `diagnosis` timeline entry's text.
    fn timeline_text(&self) -> String {
        let timeline = self.incident().timeline;
        assert_eq!(timeline.len(), 1, "one timeline entry: {timeline:?}");
        assert_eq!(timeline[0].kind, EntryKind::Diagnosis);
        timeline[0].text.clone()
    }
}

fn arns(items: &[RelatedItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| match (&i.kind, &i.value) {
            (RelatedItemKind::InvolvedResource, RelatedValue::Arn(a)) => Some(a.clone()),
            _ => None,
        })
        .collect()
}

fn urls(items: &[RelatedItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| match &i.value {
            RelatedValue::Url(u) => Some(u.clone()),
            _ => None,
        })
        .collect()
}

fn metric_definitions(items: &[RelatedItem]) -> Vec<Value> {
    items
        .iter()
        .filter_map(|i| match (&i.kind, &i.value) {
            (RelatedItemKind::Metric, RelatedValue::MetricDefinition(d)) => {
                Some(serde_json::from_str(d).unwrap_or_else(|e| panic!("{d}: {e}")))
            }
            _ => None,
        })
        .collect()
}

const ONE_DOWN: &str = "Tunnel 1 (203.0.113.10) DOWN since 02:55 UTC — 'IPSEC IS DOWN'; \
     tunnel 2 (203.0.113.11) UP; customer gateway cgw-0a1b2c3d4e5f60718 198.51.100.7 (ASN 65000)";

#[tokio::test]
async fn vpn_with_one_tunnel_down_is_diagnosed_on_the_incident() {
    for backend in [Backend::IncidentManager, Backend::OpsCenter] {
        let b = bench(backend);
        b.with_vpn(connection());
        let event = b.opened("cloudwatch-alarm-vpn-tunnel-down", |_| {}).await;

        let answer = b.ok(&event).await;
        assert_eq!(answer.action, EnrichAction::Enriched);
        assert_eq!(answer.summary, ONE_DOWN);
        assert!(answer.notes.is_empty(), "{:?}", answer.notes);
        let stored = b.incident();
        assert_eq!(
            answer.incident.as_deref(),
            Some(stored.reference.id.as_str())
        );

        // One entry a human reads in five seconds, at the time the incident was opened.
        assert_eq!(b.timeline_text(), ONE_DOWN);
        assert_eq!(stored.timeline[0].time, now() - Duration::seconds(2));

        let items = &stored.related_items;
        let resources = arns(items);
        for expected in [
            format!("{ARN_PREFIX}vpn-connection/{VPN}"),
            format!("{ARN_PREFIX}vpn-gateway/{VGW}"),
            format!("{ARN_PREFIX}customer-gateway/{CGW}"),
            "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:vpn-tunnel-down-vpn-0123456789abcdef0"
                .to_string(),
        ] {
            assert!(resources.contains(&expected), "{expected} in {resources:?}");
        }
        assert_eq!(
            metric_definitions(items),
            vec![json!({
                "metrics": [["AWS/VPN", "TunnelState", "VpnId", VPN]],
                "stat": "Minimum",
                "period": 60,
                "region": "eu-west-1"
            })]
        );
        let links = urls(items);
        assert!(links.contains(&format!(
            "https://eu-west-1.console.aws.amazon.com/vpcconsole/home?region=eu-west-1#VpnConnectionDetails:VpnConnectionId={VPN}"
        )), "{links:?}");
        let insights: Vec<&String> = links
            .iter()
            .filter(|u| u.contains("logs-insights"))
            .collect();
        assert_eq!(
            insights.len(),
            2,
            "one Logs Insights link per tunnel: {links:?}"
        );
        assert!(insights[0].starts_with(
            "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:logs-insights$3FqueryDetail$3D$257E$2528end$257E0$257Estart$257E-10800$257E"
        ), "{}", insights[0]);
        assert!(insights[0].contains("source$257E$2528$257E$2527*2fvpn*2ftunnels$2529$2529"));
        assert!(insights[0].contains("203.0.113.10") && insights[1].contains("203.0.113.11"));
        assert!(items
            .iter()
            .all(|i| !i.title.is_empty() && i.title.chars().count() <= 200));

        // The TunnelState history came from one GetMetricData call, per tunnel, by IP.
        let queries = b.metrics.queries();
        assert_eq!(
            queries
                .iter()
                .map(|q| (
                    q.id.as_str(),
                    q.dimensions.get("TunnelIpAddress").map(String::as_str),
                    q.stat.as_str(),
                    q.period
                ))
                .collect::<Vec<_>>(),
            vec![
                ("t1", Some(TUNNEL_1), "Minimum", 60),
                ("t2", Some(TUNNEL_2), "Minimum", 60)
            ]
        );
        assert_eq!(
            b.network.calls(),
            vec![
                format!("vpn_connections({VPN})"),
                format!("vpn_gateway({VGW})"),
                format!("customer_gateway({CGW})")
            ]
        );

        // Incident Enriched carries the facts for runbook and notify.
        let enriched = b.enriched();
        assert_eq!(enriched.len(), 1);
        let detail = &enriched[0].detail;
        assert_eq!(detail.incident.id, stored.reference.id);
        assert_eq!(detail.incident.rule, "vpn-tunnel-down");
        assert_eq!(detail.signal.dimension("VpnId"), Some(VPN));
        assert!(detail.reason.contains(ONE_DOWN), "{}", detail.reason);
        let diagnosis = detail.diagnosis.clone().unwrap();
        assert_eq!(diagnosis.summary, ONE_DOWN);
        let vpn = diagnosis.vpn.unwrap_or_else(|| panic!("no VPN facts"));
        assert_eq!(vpn.connection.id, VPN);
        assert_eq!(vpn.gateway.map(|g| g.id), Some(VGW.to_string()));
        assert_eq!(
            vpn.customer_gateway.and_then(|c| c.ip_address),
            Some("198.51.100.7".to_string())
        );
        assert_eq!(vpn.tunnel_history.len(), 2);
        let t1 = &vpn.tunnel_history[0];
        assert_eq!(t1.outside_ip, TUNNEL_1);
        assert_eq!(t1.points, 180);
        assert_eq!(t1.last_value, Some(0.0));
        assert_eq!(t1.down_since, Some(at(2, 55)));
        let t2 = &vpn.tunnel_history[1];
        assert_eq!((t2.last_value, t2.down_since), (Some(1.0), None));

        // The answer is the function's output, as the contract spells it.
        let output = serde_json::to_value(&answer).unwrap();
        assert_eq!(output["action"], "enriched");
        assert_eq!(output["summary"], ONE_DOWN);
    }
}

#[tokio::test]
async fn both_tunnels_down_says_so_first() {
    let b = bench(Backend::IncidentManager);
    let mut c = connection();
    c.tunnels[1] = tunnel(TUNNEL_2, TunnelStatus::Down, "IPSEC IS DOWN", at(3, 1));
    b.network.add_connection(c);
    b.network.add_gateway(Gateway {
        kind: GatewayKind::VpnGateway,
        id: VGW.into(),
        state: None,
        amazon_side_asn: None,
        vpc_ids: Vec::new(),
    });
    b.network.add_customer_gateway(CustomerGateway {
        id: CGW.into(),
        ip_address: Some("198.51.100.7".into()),
        bgp_asn: Some("65000".into()),
        device_name: None,
        state: None,
    });
    b.tunnel_state(TUNNEL_1, Some(at(2, 55)));
    b.tunnel_state(TUNNEL_2, Some(at(3, 1)));
    let event = b.opened("cloudwatch-alarm-vpn-tunnel-down", |_| {}).await;

    let answer = b.ok(&event).await;
    let expected =
        "Both tunnels DOWN: tunnel 1 (203.0.113.10) DOWN since 02:55 UTC — 'IPSEC IS DOWN'; \
         tunnel 2 (203.0.113.11) DOWN since 03:01 UTC — 'IPSEC IS DOWN'; \
         customer gateway cgw-0a1b2c3d4e5f60718 198.51.100.7 (ASN 65000)";
    assert_eq!(answer.summary, expected);
    assert_eq!(b.timeline_text(), expected);
    let history = b.enriched()[0]
        .detail
        .diagnosis
        .clone()
        .and_then(|d| d.vpn)
        .map(|v| v.tunnel_history)
        .unwrap();
    assert_eq!(
        history.iter().map(|h| h.down_since).collect::<Vec<_>>(),
        vec![Some(at(2, 55)), Some(at(3, 1))]
    );
}

#[tokio::test]
async fn a_tunnel_alarm_without_the_vpn_tag_finds_its_connection_by_outside_ip() {
    let b = bench(Backend::OpsCenter);
    b.with_vpn(connection());
    // Another connection in the region, to be skipped.
    let mut other = connection();
    other.id = "vpn-0aaaaaaaaaaaaaaa1".into();
    other.tunnels[0].outside_ip = "192.0.2.1".into();
    other.tunnels[1].outside_ip = "192.0.2.2".into();
    b.network.add_connection(other);
    let event = b
        .opened("cloudwatch-alarm-vpn-tunnel-ip-down", |e| {
            if let Some(detail) = e["detail"].as_object_mut() {
                detail.remove("alarmTags");
            }
        })
        .await;

    let answer = b.ok(&event).await;
    assert_eq!(answer.summary, ONE_DOWN);
    // Found by listing once; not described a second time.
    assert_eq!(
        b.network.calls(),
        vec![
            "vpn_connections()".to_string(),
            format!("vpn_gateway({VGW})"),
            format!("customer_gateway({CGW})")
        ]
    );
    let resources = arns(&b.incident().related_items);
    assert!(resources.contains(&format!("{ARN_PREFIX}vpn-connection/{VPN}")));
    assert!(resources.contains(
        &"arn:aws:cloudwatch:eu-west-1:111122223333:alarm:vpn-tunnel-down-203.0.113.10".to_string()
    ));
}

#[tokio::test]
async fn an_unknown_tunnel_ip_is_a_note_and_the_alarm_is_still_described() {
    let b = bench(Backend::IncidentManager);
    let event = b
        .opened("cloudwatch-alarm-vpn-tunnel-ip-down", |e| {
            if let Some(detail) = e["detail"].as_object_mut() {
                detail.remove("alarmTags");
            }
        })
        .await;
    let answer = b.ok(&event).await;
    assert_eq!(
        answer.notes,
        vec!["no VPN connection has a tunnel at 203.0.113.10"]
    );
    assert!(
        answer
            .summary
            .starts_with("Alarm vpn-tunnel-down-203.0.113.10: Threshold Crossed"),
        "{}",
        answer.summary
    );
    // The alarm's own metric is attached instead.
    let definitions = metric_definitions(&b.incident().related_items);
    assert_eq!(
        definitions[0]["metrics"],
        json!([["AWS/VPN", "TunnelState", "TunnelIpAddress", TUNNEL_1]])
    );
}

#[tokio::test]
async fn a_transit_gateway_vpn_reads_the_transit_gateway() {
    let b = bench(Backend::IncidentManager);
    let mut c = connection();
    c.vpn_gateway_id = None;
    c.transit_gateway_id = Some(TGW.into());
    b.with_vpn(c);
    b.network.add_gateway(Gateway {
        kind: GatewayKind::TransitGateway,
        id: TGW.into(),
        state: Some("available".into()),
        amazon_side_asn: Some(64512),
        vpc_ids: Vec::new(),
    });
    let event = b.opened("cloudwatch-alarm-vpn-tunnel-down", |_| {}).await;

    let answer = b.ok(&event).await;
    assert_eq!(answer.summary, ONE_DOWN);
    assert!(b
        .network
        .calls()
        .contains(&format!("transit_gateway({TGW})")));
    assert!(!b
        .network
        .calls()
        .iter()
        .any(|c| c.starts_with("vpn_gateway")));
    let resources = arns(&b.incident().related_items);
    assert!(resources.contains(&format!("{ARN_PREFIX}transit-gateway/{TGW}")));
    assert!(!resources.iter().any(|a| a.contains("vpn-gateway/")));
    let gateway = b.enriched()[0]
        .detail
        .diagnosis
        .clone()
        .and_then(|d| d.vpn)
        .and_then(|v| v.gateway);
    assert_eq!(
        gateway.map(|g| (g.kind, g.id)),
        Some((GatewayKind::TransitGateway, TGW.to_string()))
    );
}

#[tokio::test]
async fn a_deleted_connection_is_a_note_and_the_incident_is_still_enriched() {
    let b = bench(Backend::OpsCenter);
    b.with_vpn(connection());
    b.network.remove(VPN);
    let event = b.opened("cloudwatch-alarm-vpn-tunnel-down", |_| {}).await;

    let answer = b.ok(&event).await;
    assert_eq!(answer.action, EnrichAction::Enriched);
    assert_eq!(answer.notes, vec![format!("{VPN} no longer exists")]);
    assert!(
        answer
            .summary
            .starts_with("Alarm vpn-tunnel-down-vpn-0123456789abcdef0: Threshold Crossed: 3 out of the last 3 datapoints"),
        "{}",
        answer.summary
    );
    let text = b.timeline_text();
    assert!(text.starts_with(&answer.summary), "{text}");
    assert!(
        text.ends_with(&format!("\nNote: {VPN} no longer exists")),
        "{text}"
    );
    // Nothing else is asked about a connection that is gone.
    assert_eq!(b.network.calls(), vec![format!("vpn_connections({VPN})")]);
    assert!(b.metrics.queries().is_empty());
    // What is known from the id alone is still attached.
    let items = b.incident().related_items;
    assert!(arns(&items).contains(&format!("{ARN_PREFIX}vpn-connection/{VPN}")));
    assert_eq!(metric_definitions(&items).len(), 1);
    let diagnosis = b.enriched()[0].detail.diagnosis.clone().unwrap();
    assert!(diagnosis.vpn.is_none());
    assert_eq!(diagnosis.notes, answer.notes);
}

#[tokio::test]
async fn a_customer_gateway_denied_by_iam_is_a_note() {
    let b = bench(Backend::IncidentManager);
    b.with_vpn(connection());
    b.network
        .fail_next("customer_gateway", 1, PortErrorKind::AccessDenied);
    let event = b.opened("cloudwatch-alarm-vpn-tunnel-down", |_| {}).await;

    let answer = b.ok(&event).await;
    let line = "Tunnel 1 (203.0.113.10) DOWN since 02:55 UTC — 'IPSEC IS DOWN'; \
         tunnel 2 (203.0.113.11) UP; customer gateway cgw-0a1b2c3d4e5f60718";
    assert_eq!(answer.summary, line);
    assert_eq!(
        answer.notes,
        vec![format!("could not read {CGW}: AccessDenied")]
    );
    assert_eq!(
        b.timeline_text(),
        format!("{line}\nNote: could not read {CGW}: AccessDenied")
    );
    assert!(
        arns(&b.incident().related_items).contains(&format!("{ARN_PREFIX}customer-gateway/{CGW}"))
    );
    let diagnosis = b.enriched()[0].detail.diagnosis.clone().unwrap();
    assert!(diagnosis.vpn.is_some_and(|v| v.customer_gateway.is_none()));
    assert_eq!(diagnosis.notes, answer.notes);
}

#[tokio::test]
async fn metrics_denied_by_iam_fall_back_on_the_telemetry() {
    let b = bench(Backend::IncidentManager);
    b.with_vpn(connection());
    b.metrics.fail_next(1, PortErrorKind::AccessDenied);
    let event = b.opened("cloudwatch-alarm-vpn-tunnel-down", |_| {}).await;

    let answer = b.ok(&event).await;
    // "since" comes from the telemetry's last status change.
    assert_eq!(
        answer.summary,
        "Tunnel 1 (203.0.113.10) DOWN since 02:56 UTC — 'IPSEC IS DOWN'; \
         tunnel 2 (203.0.113.11) UP; customer gateway cgw-0a1b2c3d4e5f60718 198.51.100.7 (ASN 65000)"
    );
    assert_eq!(
        answer.notes,
        vec!["could not read TunnelState metrics: AccessDenied"]
    );
    let vpn = b.enriched()[0].detail.diagnosis.clone().and_then(|d| d.vpn);
    assert!(vpn.is_some_and(|v| v.tunnel_history.is_empty()));
}

#[tokio::test]
async fn a_tunnel_down_longer_than_the_window_dates_from_the_telemetry() {
    let b = bench(Backend::IncidentManager);
    let mut c = connection();
    c.tunnels[0].last_status_change = Some(at(0, 0) - Duration::hours(5));
    // Only the connection: its gateways are not in the inventory.
    b.network.add_connection(c);
    b.tunnel_state(TUNNEL_1, Some(at(0, 0)));
    b.tunnel_state(TUNNEL_2, None);
    let event = b.opened("cloudwatch-alarm-vpn-tunnel-down", |_| {}).await;

    let answer = b.ok(&event).await;
    assert_eq!(
        answer.summary,
        "Tunnel 1 (203.0.113.10) DOWN since 2024-05-13 19:00 UTC — 'IPSEC IS DOWN'; \
         tunnel 2 (203.0.113.11) UP; customer gateway cgw-0a1b2c3d4e5f60718"
    );
    assert_eq!(
        answer.notes,
        vec![
            format!("{VGW} no longer exists"),
            format!("{CGW} no longer exists")
        ]
    );
}

#[tokio::test]
async fn throttling_fails_the_invocation_and_a_retry_starts_at_once() {
    let b = bench(Backend::IncidentManager);
    b.with_vpn(connection());
    b.network
        .fail_next("vpn_connections", 1, PortErrorKind::Throttled);
    let event = b.opened("cloudwatch-alarm-vpn-tunnel-down", |_| {}).await;

    let failed = b.run(&event).await;
    match &failed {
        Err(e) => assert_eq!(e.error_type(), "Throttled", "{e}"),
        Ok(answer) => panic!("expected an error, got {answer:?}"),
    }
    assert!(b.incident().timeline.is_empty());
    assert!(b.incident().related_items.is_empty());
    assert!(b.enriched().is_empty());

    // The state row was released: Lambda's retry does the work, not "in progress".
    let answer = b.ok(&event).await;
    assert_eq!(answer.summary, ONE_DOWN);
    assert_eq!(b.enriched().len(), 1);
    assert_eq!(b.timeline_text(), ONE_DOWN);
}

#[tokio::test]
async fn a_failed_write_is_retried_with_the_same_client_tokens() {
    let b = bench(Backend::IncidentManager);
    b.with_vpn(connection());
    b.bus.fail_next(1, PortErrorKind::Unavailable);
    let event = b.opened("cloudwatch-alarm-vpn-tunnel-down", |_| {}).await;
    let failed = b.run(&event).await;
    assert!(
        matches!(&failed, Err(e) if e.error_type() == "ServiceUnavailable"),
        "{failed:?}"
    );
    let items = b.incident().related_items.len();
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, EnrichAction::Enriched);
    assert_eq!(b.incident().related_items.len(), items, "no item twice");
    assert_eq!(b.enriched().len(), 1);
}

#[tokio::test]
async fn a_redelivery_replays_the_answer_without_side_effects() {
    let b = bench(Backend::OpsCenter);
    b.with_vpn(connection());
    let event = b.opened("cloudwatch-alarm-vpn-tunnel-down", |_| {}).await;
    let first = b.ok(&event).await;
    let items = b.incident().related_items;
    let calls = b.network.calls().len();
    let queries = b.metrics.queries().len();

    for _ in 0..2 {
        let again = b.ok(&event).await;
        assert_eq!(again, first);
    }
    assert_eq!(b.timeline_text(), ONE_DOWN, "one timeline entry");
    assert_eq!(b.incident().related_items, items, "no item twice");
    assert_eq!(b.enriched().len(), 1, "announced once");
    assert_eq!(b.network.calls().len(), calls, "nothing described again");
    assert_eq!(b.metrics.queries().len(), queries);
}

#[tokio::test]
async fn an_unreadable_stored_answer_still_names_the_incident() {
    let b = bench(Backend::OpsCenter);
    b.with_vpn(connection());
    let event = b.opened("cloudwatch-alarm-vpn-tunnel-down", |_| {}).await;
    let first = b.ok(&event).await;
    b.runs.spoil_answers();
    let again = b.ok(&event).await;
    assert_eq!(again.action, EnrichAction::Enriched);
    assert_eq!(again.incident, first.incident);
    assert!(
        again.summary.starts_with("Re-delivery"),
        "{}",
        again.summary
    );
    assert_eq!(b.enriched().len(), 1, "announced once");
}

#[tokio::test]
async fn a_concurrent_invocation_is_told_to_retry() {
    let b = bench(Backend::IncidentManager);
    b.with_vpn(connection());
    let event = b.opened("cloudwatch-alarm-vpn-tunnel-down", |_| {}).await;
    let id = b.incident().reference.id;
    let begun = b
        .runs
        .begin(
            &format!("enrich#{id}"),
            now(),
            now() + Duration::seconds(60),
            now() + Duration::hours(24),
        )
        .await;
    assert_eq!(begun.ok(), Some(Begin::Started));
    let result = b.run(&event).await;
    assert!(
        matches!(&result, Err(e) if e.error_type() == "EventInProgress"),
        "{result:?}"
    );
    assert!(b.incident().timeline.is_empty());
}

#[tokio::test]
async fn a_health_event_names_the_vpn_by_id() {
    let b = bench(Backend::IncidentManager);
    b.with_vpn(connection());
    let event = b.opened("health-vpn-single-tunnel", |_| {}).await;
    let answer = b.ok(&event).await;
    assert_eq!(answer.summary, ONE_DOWN);
    assert_eq!(b.network.calls()[0], format!("vpn_connections({VPN})"));
}

#[tokio::test]
async fn another_metric_alarm_attaches_its_metrics_and_reason() {
    let b = bench(Backend::IncidentManager);
    let event = b.opened("cloudwatch-alarm-metric-math", |_| {}).await;

    let answer = b.ok(&event).await;
    let reason = "Alarm DailyNetworkTrafficTooHigh: Threshold Crossed: 1 out of the last 1 datapoints \
         [5.62E11 (15/05/24 00:00:00)] was greater than the threshold (5.0E11) (minimum 1 datapoint \
         for OK -> ALARM transition).";
    assert_eq!(answer.summary, reason);
    assert_eq!(
        b.timeline_text(),
        format!(
            "{reason}\nWatching: e1 = SUM(METRICS()); \
             AWS/EC2 NetworkIn InstanceId=i-0123456789abcdef0 (Sum, 86400 s); \
             AWS/EC2 NetworkOut InstanceId=i-0123456789abcdef0 (Sum, 86400 s)\n\
             Note: DescribeInstances: not gathered for i-0123456789abcdef0: it no longer exists"
        )
    );
    let items = b.incident().related_items;
    assert_eq!(
        metric_definitions(&items),
        vec![
            json!({"metrics": [["AWS/EC2", "NetworkIn", "InstanceId", "i-0123456789abcdef0"]],
                   "stat": "Sum", "period": 86400, "region": "us-east-1"}),
            json!({"metrics": [["AWS/EC2", "NetworkOut", "InstanceId", "i-0123456789abcdef0"]],
                   "stat": "Sum", "period": 86400, "region": "us-east-1"}),
        ]
    );
    assert!(urls(&items).contains(
        &"https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/DailyNetworkTrafficTooHigh"
            .to_string()
    ));
    assert_eq!(
        b.network.calls(),
        ["instance(i-0123456789abcdef0)"],
        "the instance it names is described (here it is gone); no VPN calls"
    );
    assert!(b.metrics.queries().is_empty());
    let diagnosis = b.enriched()[0].detail.diagnosis.clone().unwrap();
    assert_eq!(diagnosis.summary, reason);
    assert!(diagnosis.vpn.is_none());
}

#[tokio::test]
async fn a_guardduty_finding_attaches_its_resources_and_a_console_link() {
    let b = bench(Backend::OpsCenter);
    let event = b.opened("guardduty-finding-high", |_| {}).await;

    let answer = b.ok(&event).await;
    let summary = "GuardDuty 8.0 (high): Command and Control server domain name queried by EC2 \
                   instance i-0123456789abcdef0.";
    assert_eq!(answer.summary, summary);
    assert_eq!(
        b.timeline_text(),
        format!(
            "{summary}\nResources: arn:aws:ec2:us-east-1:111122223333:instance/i-0123456789abcdef0"
        )
    );
    let items = b.incident().related_items;
    assert!(arns(&items)
        .contains(&"arn:aws:ec2:us-east-1:111122223333:instance/i-0123456789abcdef0".to_string()));
    assert!(urls(&items).contains(
        &"https://us-east-1.console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?fId=16afba5c5c43e07c9e3e5e2e544e95df"
            .to_string()
    ));
    assert!(b.network.calls().is_empty());
    assert_eq!(b.enriched().len(), 1);
}

#[tokio::test]
async fn a_security_hub_finding_links_to_its_search() {
    let b = bench(Backend::IncidentManager);
    let event = b.opened("securityhub-finding-critical", |_| {}).await;
    b.ok(&event).await;
    let items = b.incident().related_items;
    assert!(urls(&items).contains(
        &"https://us-east-1.console.aws.amazon.com/securityhub/home?region=us-east-1#/findings?search=Id%3D%255Coperator%255C%253AEQUALS%255C%253Aarn%253Aaws%253Asecurityhub%253Aus-east-1%253A111122223333%253Asecurity-control%252FEC2.19%252Ffinding%252F3f2e1d0c-9b8a-4765-a4b3-c2d1e0f9a8b7"
            .to_string()
    ), "{:?}", urls(&items));
    assert!(arns(&items).contains(
        &"arn:aws:ec2:us-east-1:111122223333:security-group/sg-0123456789abcdef0".to_string()
    ));
}

#[tokio::test]
async fn other_lifecycle_events_are_ignored() {
    let b = bench(Backend::IncidentManager);
    b.with_vpn(connection());
    let raw = fixture("cloudwatch-alarm-vpn-tunnel-down");
    let event = b
        .opened_for(signal_of(&raw), LifecycleKind::IncidentUpdated)
        .await;
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, EnrichAction::Ignored);
    assert!(
        answer.summary.contains("Incident Updated"),
        "{}",
        answer.summary
    );
    assert!(b.incident().timeline.is_empty());
    assert!(b.bus.events().is_empty());
    assert!(b.network.calls().is_empty());
}

#[tokio::test]
async fn foreign_and_malformed_events_fail_with_their_error_types() {
    let b = bench(Backend::IncidentManager);
    let foreign = fixture("cloudwatch-alarm-vpn-tunnel-down");
    let result = b.run(&foreign).await;
    assert!(
        matches!(&result, Err(e) if e.error_type() == "UnknownEvent"),
        "{result:?}"
    );
    let result = b.run(&json!("not an event")).await;
    assert!(matches!(&result, Err(e) if e.error_type() == "UnknownEvent"));

    let malformed = json!({
        "version": "0", "id": "x", "source": "incident.responder",
        "detail-type": "Incident Opened", "account": "111122223333",
        "time": "2024-05-14T03:05:00Z", "region": "eu-west-1", "resources": [],
        "detail": {"incident": {"id": 7}}
    });
    let result = b.run(&malformed).await;
    assert!(
        matches!(&result, Err(e) if e.error_type() == "MalformedEvent"),
        "{result:?}"
    );
    assert!(b.bus.events().is_empty());
}

#[tokio::test]
async fn an_incident_of_the_other_backend_is_refused() {
    let b = bench(Backend::IncidentManager);
    let other = bench(Backend::OpsCenter);
    let event = other.opened("cloudwatch-alarm-metric-math", |_| {}).await;
    let result = b.run(&event).await;
    assert!(
        matches!(&result, Err(e) if e.error_type() == "WrongBackend"),
        "{result:?}"
    );
}

#[test]
fn tunnel_history_finds_the_latest_down_run() {
    let p = |m: u32, v: f64| (at(2, m), v);
    let read = tunnel_read(
        TUNNEL_1.into(),
        &[p(0, 0.0), p(1, 1.0), p(2, 0.0), p(3, 0.0)],
    );
    assert_eq!(read.history.points, 4);
    assert_eq!(read.history.last_value, Some(0.0));
    assert_eq!(read.history.down_since, Some(at(2, 2)));
    assert!(!read.down_all_window);

    let up = tunnel_read(TUNNEL_1.into(), &[p(0, 0.0), p(1, 1.0)]);
    assert_eq!(up.history.down_since, None);
    let all = tunnel_read(TUNNEL_1.into(), &[p(0, 0.0), p(1, 0.0)]);
    assert_eq!(all.history.down_since, Some(at(2, 0)));
    assert!(all.down_all_window);
    let none = tunnel_read(TUNNEL_1.into(), &[]);
    assert_eq!(
        (
            none.history.points,
            none.history.last_value,
            none.history.down_since
        ),
        (0, None, None)
    );
}

#[test]
fn logs_insights_links_encode_the_query_and_group() {
    let place = Place {
        region: "eu-west-1",
        account: "111122223333",
    };
    let url = logs_insights_url(&place, "/vpn/tunnels", TUNNEL_1);
    assert_eq!(
        url,
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:logs-insights\
         $3FqueryDetail$3D$257E$2528end$257E0$257Estart$257E-10800$257EtimeType$257E$2527RELATIVE\
         $257Eunit$257E$2527seconds$257EeditorString$257E$2527fields*20*40timestamp*2c*20*40message\
         *20*7c*20filter*20*40message*20like*20*22203.0.113.10*22*20*7c*20sort*20*40timestamp*20desc\
         *20*7c*20limit*20200$257Esource$257E$2528$257E$2527*2fvpn*2ftunnels$2529$2529"
    );
    assert!(!url.contains(' ') && !url.contains('"'));
    assert_eq!(console::percent_encode("a b/c:d~"), "a%20b%2Fc%3Ad~");
    let cn = Place {
        region: "cn-north-1",
        account: "1",
    };
    assert_eq!(
        cn.arn("ec2", "vpn-connection/x"),
        "arn:aws-cn:ec2:cn-north-1:1:vpn-connection/x"
    );
    assert_eq!(console::host(cn.region), "console.amazonaws.cn");
}

// --- EC2 instances -----------------------------------------------------------------------------

const INSTANCE: &str = "i-0123456789abcdef0";
const STATUS_ALARM: &str = "i-0123456789abcdef0-StatusCheckFailed_System";

fn web_1(state: &str) -> crate::diagnosis::Instance {
    crate::diagnosis::Instance {
        id: INSTANCE.into(),
        state: state.into(),
        state_reason: (state == "stopped")
            .then(|| "Client.UserInitiatedShutdown: User initiated shutdown".into()),
        instance_type: Some("m5.large".into()),
        availability_zone: Some("eu-west-1a".into()),
        subnet_id: Some("subnet-0a1b2c3d".into()),
        launch_time: Some(at(1, 0)),
        platform: Some("Linux/UNIX".into()),
        tags: [("Name", "web-1"), ("aws:cloudformation:stack-name", "web")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn health(system: &str, instance: &str) -> crate::diagnosis::InstanceHealth {
    let check = |status: &str| crate::diagnosis::StatusCheck {
        status: status.into(),
        impaired_since: (status == "impaired").then(|| at(3, 1)),
    };
    crate::diagnosis::InstanceHealth {
        system: check(system),
        instance: check(instance),
        ebs: None,
        events: vec![
            crate::diagnosis::ScheduledEvent {
                code: "instance-retirement".into(),
                description: "The instance is running on degraded hardware".into(),
                not_before: Some(at(4, 0) + Duration::days(14)),
                not_after: None,
            },
            crate::diagnosis::ScheduledEvent {
                code: "system-reboot".into(),
                description: "[Completed] Scheduled reboot".into(),
                not_before: Some(at(1, 0)),
                not_after: None,
            },
        ],
    }
}

/// Fifteen boot lines, a coloured one and a redrawn progress line at the end.
fn console_text() -> String {
    let mut text: String = (1..=15)
        .map(|n| format!("[   {n}.000] boot line {n}\n"))
        .collect();
    text.push_str("\u{1b}[0;31m[FAILED]\u{1b}[0m Failed to mount /data.\n");
    text.push_str("fsck 10%\rfsck 100%\r\n\n");
    text
}

#[tokio::test]
async fn a_failing_system_check_is_diagnosed_with_the_instance_its_events_and_console() {
    let b = bench(Backend::IncidentManager);
    b.network.put_instance(
        web_1("running"),
        Some(health("impaired", "ok")),
        Some(&console_text()),
    );
    let event = b
        .opened("cloudwatch-alarm-ec2-status-check-system", |_| {})
        .await;

    let answer = b.ok(&event).await;
    assert_eq!(
        answer.summary,
        format!(
            "Instance web-1 ({INSTANCE}) fails its system status check since 03:01 UTC — the AWS \
             hardware, network or power under it; a stop and start moves it to healthy hardware \
             (instance-store data is lost)"
        )
    );
    assert!(answer.notes.is_empty(), "{:?}", answer.notes);
    let text = b.timeline_text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[1].starts_with(&format!("Alarm {STATUS_ALARM}: Threshold Crossed")),
        "{text}"
    );
    assert_eq!(
        lines[2],
        "Instance: m5.large · eu-west-1a · Linux/UNIX · subnet-0a1b2c3d · launched 01:00 UTC · state running"
    );
    assert_eq!(
        lines[3],
        "Scheduled: instance-retirement from 2024-05-28 04:00 UTC — The instance is running on degraded hardware",
        "completed events are left out"
    );
    assert!(lines[4].starts_with("Watching: AWS/EC2 StatusCheckFailed_System InstanceId="));
    assert_eq!(lines[5], "Console output (last 10 lines):");
    assert_eq!(
        lines[6], "| [ 8.000] boot line 8",
        "one line each, white space collapsed"
    );
    assert_eq!(
        lines[14], "| [FAILED] Failed to mount /data.",
        "escapes stripped"
    );
    assert_eq!(
        lines[15], "| fsck 100%",
        "a redrawn line shows what was drawn last"
    );
    assert_eq!(lines.len(), 16);

    let items = b.incident().related_items;
    assert!(arns(&items).contains(&format!("{ARN_PREFIX}instance/{INSTANCE}")));
    assert!(urls(&items).contains(&console::instance("eu-west-1", INSTANCE)));
    assert_eq!(
        b.network.calls(),
        [
            format!("instance({INSTANCE})"),
            format!("instance_health({INSTANCE})"),
            format!("console_output({INSTANCE})"),
        ]
    );
    let diagnosis = b.enriched()[0].detail.diagnosis.clone().unwrap();
    let facts = diagnosis.instance.expect("instance facts on the bus");
    assert_eq!(facts.instance.name(), Some("web-1"));
    assert!(facts.health.expect("health").system.is_impaired());
    assert_eq!(facts.console.len(), 10);
}

#[tokio::test]
async fn the_headline_names_the_failing_check_or_the_state() {
    let now = at(3, 5);
    let line = |state: &str, h: Option<crate::diagnosis::InstanceHealth>| {
        super::instance::headline(&web_1(state), h.as_ref(), now)
    };
    assert!(line("running", Some(health("ok", "impaired")))
        .starts_with("Instance web-1 (i-0123456789abcdef0) fails its instance status check since 03:01 UTC — inside the instance"));
    assert!(line("running", Some(health("impaired", "impaired")))
        .starts_with("Instance web-1 (i-0123456789abcdef0) fails both status checks (system since 03:01 UTC, instance since 03:01 UTC)"));
    assert_eq!(
        line("running", Some(health("ok", "ok"))),
        "Instance web-1 (i-0123456789abcdef0) is running and passes its status checks now (system ok, instance ok)"
    );
    assert_eq!(
        line("running", Some(health("initializing", "insufficient-data"))),
        "Instance web-1 (i-0123456789abcdef0) is running; status checks: system initializing, instance insufficient-data"
    );
    assert_eq!(
        line("stopped", Some(health("not-applicable", "not-applicable"))),
        "Instance web-1 (i-0123456789abcdef0) is stopped — Client.UserInitiatedShutdown: User initiated shutdown"
    );
    assert_eq!(
        line("running", None),
        "Instance web-1 (i-0123456789abcdef0) is running; its status checks could not be read"
    );
}

#[tokio::test]
async fn what_cannot_be_read_about_an_instance_is_a_note_never_a_failed_incident() {
    // The console output denied, the status not reported: the line still says what is known.
    let b = bench(Backend::OpsCenter);
    b.network.put_instance(web_1("running"), None, Some("x"));
    b.network
        .fail_next("console_output", 1, PortErrorKind::AccessDenied);
    let event = b
        .opened("cloudwatch-alarm-ec2-status-check-system", |_| {})
        .await;
    let answer = b.ok(&event).await;
    assert_eq!(
        answer.summary,
        format!("Instance web-1 ({INSTANCE}) is running; its status checks could not be read")
    );
    assert_eq!(
        answer.notes,
        [format!(
            "GetConsoleOutput: not gathered for {INSTANCE}: AccessDenied"
        )]
    );

    // The instance is gone (terminated and no longer listed): the alarm's reason leads.
    let gone = bench(Backend::IncidentManager);
    let event = gone
        .opened("cloudwatch-alarm-ec2-status-check-system", |_| {})
        .await;
    let answer = gone.ok(&event).await;
    assert!(answer
        .summary
        .starts_with(&format!("Alarm {STATUS_ALARM}: Threshold Crossed")));
    assert_eq!(
        answer.notes,
        [format!(
            "DescribeInstances: not gathered for {INSTANCE}: it no longer exists"
        )]
    );
    assert!(
        arns(&gone.incident().related_items).contains(&format!("{ARN_PREFIX}instance/{INSTANCE}"))
    );

    // A refused call (an instance type without console output) degrades the same way.
    let refused = bench(Backend::IncidentManager);
    refused
        .network
        .put_instance(web_1("running"), Some(health("ok", "impaired")), None);
    refused
        .network
        .fail_next("console_output", 1, PortErrorKind::Other);
    let event = refused
        .opened("cloudwatch-alarm-ec2-status-check-system", |_| {})
        .await;
    let answer = refused.ok(&event).await;
    assert!(answer.summary.contains("fails its instance status check"));
    assert_eq!(answer.notes.len(), 1);
    assert!(answer.notes[0].starts_with("GetConsoleOutput: not gathered for"));
}

#[tokio::test]
async fn a_throttled_instance_read_fails_the_invocation_for_a_retry() {
    let b = bench(Backend::IncidentManager);
    b.network
        .put_instance(web_1("running"), Some(health("impaired", "ok")), None);
    b.network
        .fail_next("instance_health", 1, PortErrorKind::Throttled);
    let event = b
        .opened("cloudwatch-alarm-ec2-status-check-system", |_| {})
        .await;
    match b.run(&event).await {
        Err(e) => assert_eq!(e.error_type(), "Throttled", "{e}"),
        Ok(answer) => panic!("expected an error, got {answer:?}"),
    }
    assert!(b.incident().timeline.is_empty());
    let answer = b.ok(&event).await;
    assert!(answer.summary.contains("fails its system status check"));
}

#[tokio::test]
async fn a_cpu_alarm_leads_with_its_reason_and_describes_the_instance_after() {
    let b = bench(Backend::IncidentManager);
    b.network
        .put_instance(web_1("running"), Some(health("ok", "ok")), None);
    let event = b.opened("cloudwatch-alarm-ec2-cpu-high", |_| {}).await;
    let answer = b.ok(&event).await;
    assert!(answer
        .summary
        .starts_with("Alarm i-0123456789abcdef0-CPUUtilization: Threshold Crossed"));
    let text = b.timeline_text();
    assert!(
        text.contains(&format!(
            "\nInstance web-1 ({INSTANCE}) is running and passes its status checks now"
        )),
        "{text}"
    );
    let c = Rules::embedded()
        .unwrap()
        .classify(&signal_of(&fixture("cloudwatch-alarm-ec2-cpu-high")))
        .unwrap();
    assert_eq!(
        (c.rule_id.as_str(), c.dedupe_key.as_str()),
        ("ec2-cpu-high", "ec2-cpu-high:i-0123456789abcdef0")
    );
}

#[tokio::test]
async fn an_instance_of_another_region_is_not_described_here() {
    let b = bench(Backend::IncidentManager);
    b.network
        .put_instance(web_1("running"), Some(health("impaired", "ok")), None);
    let event = b
        .opened("cloudwatch-alarm-ec2-status-check-system", |_| {})
        .await;
    let answer = b
        .enrich
        .handle_invoked(
            &event,
            now() + Duration::seconds(10),
            "arn:aws:lambda:us-east-1:111122223333:function:responder-enrich",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(b.network.calls().is_empty(), "nothing read in us-east-1");
    assert_eq!(
        answer.notes,
        [format!(
            "instance {INSTANCE} is in account 111122223333 in eu-west-1; this responder reads \
             111122223333 in us-east-1: not described"
        )]
    );
    assert!(answer
        .summary
        .starts_with(&format!("Alarm {STATUS_ALARM}:")));
}
