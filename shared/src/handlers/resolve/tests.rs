use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

use super::verify::tunnels_check;
use super::*;
use crate::diagnosis::{Tunnel, TunnelStatus, VpnConnection};
use crate::domain::{Backend, RESPONDER_SOURCE};
use crate::handlers::testkit::to_envelope;
use crate::handlers::testkit::{fixture, Fakes};
use crate::handlers::triage::Triage;
use crate::memory::{
    MemoryAlarms, MemoryBus, MemoryDedupe, MemoryNetwork, MemoryReports, MemoryResources,
    StoredIncident,
};
use crate::ports::{
    AlarmState, DedupeStore, IncidentWriter, Join, Joined, PortError, PortErrorKind, RunOnceStore,
};
use crate::rules::Rules;
use crate::shell::{Failure, Shell};

const VPN: &str = "vpn-0123456789abcdef0";
const ALARM: &str = "vpn-tunnel-down-vpn-0123456789abcdef0";
const KEY: &str = "vpn-tunnel-down:vpn-0123456789abcdef0";
const TUNNEL_1: &str = "203.0.113.10";
const TUNNEL_2: &str = "203.0.113.11";
const BUCKET: &str = "responder-reports";

/// 2024-05-14 at `h:m:s` UTC: the fixtures' alarm fires at 03:02:10 and is OK at 03:21:10.
fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 14, h, m, s).unwrap()
}

/// When resolve runs.
fn now() -> DateTime<Utc> {
    at(3, 23, 30)
}

/// The alarm event `event` turned into its recovery (state OK at `time`).
fn recovery_of(mut event: Value, time: &str) -> Value {
    event["detail"]["previousState"] = event["detail"]["state"].clone();
    event["detail"]["state"] = json!({
        "value": "OK",
        "reason": "Threshold Crossed: 3 out of the last 3 datapoints were not less than the threshold (1.0).",
        "timestamp": time,
    });
    event
}

fn tunnel(ip: &str, status: TunnelStatus, message: &str, since: DateTime<Utc>) -> Tunnel {
    Tunnel {
        outside_ip: ip.to_string(),
        status: Some(status),
        status_message: Some(message.to_string()),
        last_status_change: Some(since),
        accepted_routes: None,
        ike_versions: Vec::new(),
        log: None,
    }
}

fn connection(tunnels: Vec<Tunnel>) -> VpnConnection {
    VpnConnection {
        id: VPN.to_string(),
        state: "available".to_string(),
        category: Some("VPN".to_string()),
        vpn_type: Some("ipsec.1".to_string()),
        customer_gateway_id: None,
        vpn_gateway_id: None,
        transit_gateway_id: None,
        tunnels,
        tags: BTreeMap::new(),
    }
}

fn both_up() -> VpnConnection {
    connection(vec![
        tunnel(TUNNEL_1, TunnelStatus::Up, "2 BGP ROUTES", at(3, 20, 41)),
        tunnel(TUNNEL_2, TunnelStatus::Up, "2 BGP ROUTES", at(1, 10, 0)),
    ])
}

struct Bench {
    fakes: Fakes,
    network: Arc<MemoryNetwork>,
    alarms: Arc<MemoryAlarms>,
    reports: Arc<MemoryReports>,
    resources: Arc<MemoryResources>,
    triage: Shell<Triage>,
    /// What triage published.
    triage_bus: Arc<MemoryBus>,
    resolve: Shell<Resolve>,
}

impl std::ops::Deref for Bench {
    type Target = Fakes;
    fn deref(&self) -> &Fakes {
        &self.fakes
    }
}

fn bench(backend: Backend) -> Bench {
    bench_with_alarms(backend, |_| None)
}

/// A bench whose resolve reads alarms from what `alarms` gives (given the dedupe keys), instead
/// of the fake's.
fn bench_with_alarms(
    backend: Backend,
    alarms: impl FnOnce(Arc<MemoryDedupe>) -> Option<Arc<dyn AlarmStates>>,
) -> Bench {
    let fakes = Fakes::new(backend, at(3, 2, 11));
    let network = Arc::new(MemoryNetwork::new());
    let fake_alarms = Arc::new(MemoryAlarms::new());
    let reports = Arc::new(MemoryReports::new(BUCKET));
    let triage_bus = Arc::new(MemoryBus::new());
    let triage = Shell::new(
        Triage::new(
            Rules::embedded().unwrap(),
            fakes.incidents.clone(),
            fakes.incidents.clone(),
            fakes.keys.clone(),
            fakes.changes.clone(),
        ),
        fakes.runs.clone(),
        fakes.clock.clone(),
    )
    .with_bus(triage_bus.clone());
    let resources = Arc::new(MemoryResources::new());
    let resolve = fakes.shell(
        Resolve::new(
            fakes.incidents.clone(),
            fakes.incidents.clone(),
            network.clone(),
            alarms(fakes.keys.clone()).unwrap_or_else(|| fake_alarms.clone()),
            reports.clone(),
            fakes.keys.clone(),
            fakes.references.clone(),
        )
        .with_target_groups(resources.clone()),
    );
    network.add_connection(both_up());
    fake_alarms.set(ALARM, "OK");
    Bench {
        fakes,
        network,
        alarms: fake_alarms,
        reports,
        resources,
        triage,
        triage_bus,
        resolve,
    }
}

impl Bench {
    /// Triage handles `event` at `time` (the incident's backend clock moves with it).
    async fn triage(&self, event: &Value, time: DateTime<Utc>) {
        self.clock.set(time);
        self.incidents.set_time(time);
        self.fakes
            .run(&self.triage, event)
            .await
            .unwrap_or_else(|e| panic!("triage: {e}"));
    }

    /// The VPN story up to the recovery: the alarm fires at 03:02:10 and triage opens the
    /// incident at 03:02:11, enrich writes its diagnosis, the alarm is OK at 03:21:10 and triage
    /// marks it recovered at 03:21:11. Returns the `Signal Recovered` envelope; the clock is at
    /// [`now`].
    async fn recovered(&self) -> Value {
        self.recovered_from(
            fixture("cloudwatch-alarm-vpn-tunnel-down"),
            fixture("cloudwatch-alarm-vpn-tunnel-ok"),
        )
        .await
    }

    async fn recovered_from(&self, down: Value, ok: Value) -> Value {
        self.triage(&down, at(3, 2, 11)).await;
        let incident = self.incident().reference;
        let diagnosis = TimelineEntry::new(
            at(3, 2, 11),
            EntryKind::Diagnosis,
            &format!("Tunnel 1 ({TUNNEL_1}) DOWN since 02:55 UTC — 'IPSEC IS DOWN'; tunnel 2 ({TUNNEL_2}) UP"),
        );
        self.incidents
            .add_timeline(&incident, &diagnosis, "enrich")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        self.triage(&ok, at(3, 21, 11)).await;
        let recovered = self
            .triage_bus
            .events()
            .into_iter()
            .rfind(|e| e.kind == LifecycleKind::SignalRecovered)
            .unwrap_or_else(|| panic!("triage published no Signal Recovered"));
        self.clock.set(now());
        self.incidents.set_time(now());
        to_envelope(&recovered, "111122223333", "eu-west-1")
    }

    async fn run(&self, event: &Value) -> Result<ResolveAnswer, StageError> {
        self.fakes.run(&self.resolve, event).await
    }

    async fn ok(&self, event: &Value) -> ResolveAnswer {
        self.run(event)
            .await
            .unwrap_or_else(|e| panic!("resolve failed ({}): {e}", e.error_type()))
    }

    fn incident(&self) -> StoredIncident {
        let all = self.incidents.incidents();
        assert_eq!(all.len(), 1, "one incident");
        all[0].clone()
    }

    fn row(&self) -> DedupeRecord {
        self.keys
            .records()
            .into_iter()
            .find(|r| r.key == KEY)
            .unwrap_or_else(|| panic!("no row for {KEY}"))
    }

    fn published(&self, kind: LifecycleKind) -> Vec<LifecycleEvent> {
        self.bus
            .events()
            .into_iter()
            .filter(|e| e.kind == kind)
            .collect()
    }

    /// The timeline entries resolve wrote: the resolution, or waiting for a responder.
    fn entries(&self, waiting: bool) -> Vec<TimelineEntry> {
        self.incident()
            .timeline
            .into_iter()
            .filter(|e| match e.kind {
                EntryKind::Resolved => !waiting,
                EntryKind::AwaitingResponder { .. } => waiting,
                _ => false,
            })
            .collect()
    }

    /// Nothing written by resolve: no resolution, report, item, entry or event.
    fn assert_untouched(&self) {
        let stored = self.incident();
        assert_eq!(stored.resolution, None);
        assert!(self.reports.objects().is_empty());
        assert!(stored
            .related_items
            .iter()
            .all(|i| i.title != REPORT_ITEM_TITLE));
        assert!(self.entries(false).is_empty());
        assert!(self.entries(true).is_empty());
        assert!(self.bus.events().is_empty(), "{:?}", self.bus.events());
    }
}

fn safe_id(incident: &str) -> String {
    crate::report::safe_incident_id(incident)
}

// -------------------------------------------------------------------------------------------------
// Verification passes.

#[tokio::test]
async fn a_verified_recovery_resolves_the_incident_and_writes_the_record() {
    for backend in [Backend::IncidentManager, Backend::OpsCenter] {
        let b = bench(backend);
        let event = b.recovered().await;
        let answer = b.ok(&event).await;
        assert_eq!(answer.action, ResolveAction::Resolved, "{answer:?}");
        let stored = b.incident();
        let id = stored.reference.id.clone();
        assert_eq!(answer.incident.as_deref(), Some(id.as_str()));

        // The S3 object: dated by detection, named by the incident.
        let key = format!("incidents/2024/05/14/{}.md", safe_id(&id));
        let uri = format!("s3://{BUCKET}/{key}");
        assert_eq!(answer.report.as_deref(), Some(uri.as_str()));
        match backend {
            Backend::IncidentManager => {
                assert_eq!(key, "incidents/2024/05/14/responder-00000001.md")
            }
            Backend::OpsCenter => assert_eq!(key, "incidents/2024/05/14/oi-000000000001.md"),
        }
        let objects = b.reports.objects();
        assert_eq!(objects.keys().collect::<Vec<_>>(), vec![&key]);
        let (body, content_type) = &objects[&key];
        assert_eq!(content_type, "text/markdown; charset=utf-8");
        for expected in [
            format!("# Post-incident record: Site-to-Site VPN {VPN}: tunnel down"),
            format!("- **Incident:** `{id}` ({})", backend.label()),
            "| Detected (first signal) | 2024-05-14 03:02:10 | — |".to_string(),
            "| Diagnosed | 2024-05-14 03:02:11 | 1 s |".to_string(),
            "| Recovered (signal cleared) | 2024-05-14 03:21:10 | 19 min |".to_string(),
            "| Resolved | 2024-05-14 03:23:30 | 21 min |".to_string(),
            format!("- DescribeAlarms: alarm {ALARM} is OK"),
            format!(
                "- DescribeVpnConnections: both tunnels of {VPN} are UP ({TUNNEL_1}, {TUNNEL_2})"
            ),
            format!("> Tunnel 1 ({TUNNEL_1}) DOWN since 02:55 UTC"),
            "### Action items".to_string(),
        ] {
            assert!(body.contains(&expected), "{expected:?} in\n{body}");
        }

        // Linked from the incident.
        let console = crate::console::s3_object("eu-west-1", BUCKET, &key);
        let report_items: Vec<&RelatedItem> = stored
            .related_items
            .iter()
            .filter(|i| i.title == REPORT_ITEM_TITLE)
            .collect();
        assert_eq!(report_items.len(), 1);
        assert_eq!(report_items[0].kind, RelatedItemKind::Attachment);
        assert_eq!(report_items[0].value, RelatedValue::Url(console.clone()));

        // One timeline entry saying what verified it, at the recovery event's time.
        let checks = format!(
            "DescribeAlarms: alarm {ALARM} is OK; DescribeVpnConnections: both tunnels of {VPN} \
             are UP ({TUNNEL_1}, {TUNNEL_2})"
        );
        let resolved = b.entries(false);
        assert_eq!(resolved.len(), 1);
        assert_eq!(
            resolved[0].text,
            format!("Resolved automatically: {checks}. Post-incident record: {uri}")
        );
        assert_eq!(resolved[0].time, at(3, 21, 11));

        // Resolved in the backend, with a closing summary.
        assert_eq!(stored.resolved_at, Some(now()));
        let closing = stored.resolution.clone().unwrap();
        assert_eq!(
            closing,
            format!(
                "Site-to-Site VPN {VPN}: tunnel down — resolved automatically 21 min after \
                 detection. Recovery verified: {checks}. Post-incident record: {uri}"
            )
        );

        // The key is free for the next occurrence.
        assert_eq!(b.row().status, KeyStatus::Resolved);

        // Announced with the resolution.
        let events = b.published(LifecycleKind::IncidentResolved);
        assert_eq!(events.len(), 1, "{:?}", b.bus.events());
        assert_eq!(b.bus.events().len(), 1);
        let resolution = events[0].detail.resolution.clone();
        assert_eq!(
            resolution,
            Some(Resolution {
                status: ResolutionStatus::Resolved,
                verified: true,
                checks: vec![
                    format!("DescribeAlarms: alarm {ALARM} is OK"),
                    format!(
                        "DescribeVpnConnections: both tunnels of {VPN} are UP ({TUNNEL_1}, {TUNNEL_2})"
                    ),
                ],
                waiting_reason: None,
                report: Some(ReportLink {
                    uri: uri.clone(),
                    url: console,
                }),
                // 03:02:10.485 → 03:23:30.
                time_to_resolve_secs: Some(1279),
                resolved_by: None,
            })
        );
        assert_eq!(events[0].detail.incident.id, id);
        assert_eq!(events[0].detail.signal_count, Some(1));

        // What was asked: the alarm by name, the VPN by id.
        assert_eq!(b.alarms.calls(), vec![ALARM.to_string()]);
        assert_eq!(b.network.calls(), vec![format!("vpn_connections({VPN})")]);
    }
}

#[tokio::test]
async fn a_redelivered_recovery_is_replayed_without_side_effects() {
    let b = bench(Backend::IncidentManager);
    let event = b.recovered().await;
    let first = b.ok(&event).await;
    b.clock.advance(Duration::minutes(3));
    let again = b.ok(&event).await;
    assert_eq!(again.action, ResolveAction::Resolved);
    assert_eq!(again.report, first.report);
    assert!(
        again
            .reason
            .starts_with("Re-delivery of a recovery already handled; nothing done."),
        "{}",
        again.reason
    );
    assert_eq!(b.reports.puts(), 1);
    assert_eq!(b.bus.events().len(), 1);
    assert_eq!(b.entries(false).len(), 1);
    assert_eq!(b.alarms.calls().len(), 1, "no second verification");
}

#[tokio::test]
async fn an_unreadable_stored_answer_still_names_the_incident() {
    let b = bench(Backend::IncidentManager);
    let event = b.recovered().await;
    let first = b.ok(&event).await;
    b.runs.spoil_answers();
    let again = b.ok(&event).await;
    assert_eq!(again.action, ResolveAction::Ignored);
    assert_eq!(again.incident, first.incident);
    assert!(again.incident.is_some());
    assert_eq!(b.reports.puts(), 1);
    assert_eq!(b.bus.events().len(), 1);
}

/// Which write fails first.
#[derive(Debug, Clone, Copy)]
enum Step {
    Get,
    Settle,
    Record,
    Put,
    RelatedItem,
    Timeline,
    Resolve,
    Publish,
}

impl Step {
    fn fail_once(self, b: &Bench) {
        let kind = PortErrorKind::Unavailable;
        match self {
            Step::Get => b.keys.fail_next("get", 1, kind),
            Step::Settle => b.keys.fail_next("settle", 1, kind),
            Step::Record => b.incidents.fail_next("record", 1, kind),
            Step::Put => b.reports.fail_next(1, kind),
            Step::RelatedItem => b.incidents.fail_next("add_related_items", 1, kind),
            Step::Timeline => b.incidents.fail_next("add_timeline", 1, kind),
            Step::Resolve => b.incidents.fail_next("resolve", 1, kind),
            Step::Publish => b.bus.fail_next(1, kind),
        }
    }
}

#[tokio::test]
async fn a_failure_at_any_step_is_retried_into_exactly_one_resolution() {
    for step in [
        Step::Get,
        Step::Settle,
        Step::Record,
        Step::Put,
        Step::RelatedItem,
        Step::Timeline,
        Step::Resolve,
        Step::Publish,
    ] {
        let b = bench(Backend::OpsCenter);
        let event = b.recovered().await;
        step.fail_once(&b);
        let failed = b.run(&event).await;
        match &failed {
            Err(e) => assert_eq!(e.error_type(), "ServiceUnavailable", "{step:?}: {e}"),
            Ok(answer) => panic!("{step:?}: no failure: {answer:?}"),
        }
        assert!(
            b.published(LifecycleKind::IncidentResolved).is_empty(),
            "{step:?}"
        );

        // Lambda's retry, a little later: the key was released, so it runs at once.
        b.clock.advance(Duration::seconds(5));
        let answer = b.ok(&event).await;
        assert_eq!(
            answer.action,
            ResolveAction::Resolved,
            "{step:?}: {answer:?}"
        );
        assert_eq!(
            b.published(LifecycleKind::IncidentResolved).len(),
            1,
            "{step:?}"
        );
        assert_eq!(b.bus.events().len(), 1, "{step:?}");
        let stored = b.incident();
        assert!(stored.resolution.is_some(), "{step:?}");
        assert_eq!(
            b.reports.objects().len(),
            1,
            "{step:?}: one object, overwritten"
        );
        assert_eq!(
            stored
                .related_items
                .iter()
                .filter(|i| i.title == REPORT_ITEM_TITLE)
                .count(),
            1,
            "{step:?}"
        );
        // A repeated timeline write is the very same entry (time and token), which the
        // backends keep once.
        let resolved = b.entries(false);
        assert!(!resolved.is_empty(), "{step:?}");
        assert!(
            resolved.iter().all(|e| *e == resolved[0]),
            "{step:?}: {resolved:?}"
        );
        assert_eq!(b.row().status, KeyStatus::Resolved, "{step:?}");
    }
}

#[tokio::test]
async fn a_retry_after_the_key_moved_on_still_finishes_the_resolution() {
    for step in [Step::Record, Step::Resolve, Step::Publish] {
        let b = bench(Backend::IncidentManager);
        let event = b.recovered().await;
        step.fail_once(&b);
        assert!(b.run(&event).await.is_err(), "{step:?}");
        let old = b.incident().reference;
        // Before Lambda's retry, the VPN fails again: the settled key opens a new incident.
        let refire = alarm_refire();
        b.triage(&refire, at(3, 24, 0)).await;
        assert_eq!(b.incidents.incidents().len(), 2, "{step:?}");
        b.clock.set(at(3, 25, 0));
        let answer = b.ok(&event).await;
        assert_eq!(
            (answer.action, answer.incident.as_deref()),
            (ResolveAction::Resolved, Some(old.id.as_str())),
            "{step:?}: {answer:?}"
        );
        let stored = b.incidents.incidents();
        assert!(
            stored[0].resolved_at.is_some(),
            "{step:?}: the old one resolved"
        );
        assert!(
            stored[1].resolved_at.is_none(),
            "{step:?}: the new one open"
        );
        let row = b.keys.records()[0].clone();
        assert_eq!(
            (row.status, row.incident.map(|i| i.id)),
            (KeyStatus::Open, Some(stored[1].reference.id.clone())),
            "{step:?}: the key stays with the new incident"
        );
    }
}

#[tokio::test]
async fn a_retry_after_the_signal_fired_again_resolves_nothing() {
    let b = bench(Backend::OpsCenter);
    let event = b.recovered().await;
    // Recorded, then the settle fails: the invocation fails before the point of no return.
    b.keys.fail_next("settle", 1, PortErrorKind::Unavailable);
    assert!(b.run(&event).await.is_err());
    // The VPN fails again before Lambda's retry: the signal joins the incident again.
    b.triage(&alarm_refire(), at(3, 24, 0)).await;
    assert_eq!(b.row().status, KeyStatus::Open);
    b.clock.set(at(3, 25, 0));
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, ResolveAction::Ignored, "{answer:?}");
    assert!(answer.reason.contains("fired again"), "{}", answer.reason);
    assert!(b.incident().resolution.is_none(), "the incident stays open");
    assert!(b.published(LifecycleKind::IncidentResolved).is_empty());
}

/// The VPN's alarm in ALARM again, after its recovery.
fn alarm_refire() -> Value {
    let mut event = fixture("cloudwatch-alarm-vpn-tunnel-down");
    event["id"] = json!("refire");
    event["detail"]["state"]["timestamp"] = json!("2024-05-14T03:23:59.000+0000");
    event
}

// -------------------------------------------------------------------------------------------------
// Verification fails, or the rule leaves it to a responder.

#[tokio::test]
async fn a_tunnel_still_down_leaves_the_incident_to_a_responder() {
    let b = bench(Backend::IncidentManager);
    let event = b.recovered().await;
    b.network.remove(VPN);
    b.network.add_connection(connection(vec![
        tunnel(TUNNEL_1, TunnelStatus::Up, "2 BGP ROUTES", at(3, 20, 41)),
        tunnel(TUNNEL_2, TunnelStatus::Down, "IPSEC IS DOWN", at(3, 22, 5)),
    ]));
    let answer = b.ok(&event).await;
    assert_eq!(
        answer.action,
        ResolveAction::AwaitingResponder,
        "{answer:?}"
    );
    assert_eq!(answer.report, None);

    let down = format!(
        "DescribeVpnConnections: tunnel 2 ({TUNNEL_2}) of {VPN} is DOWN since 03:22 UTC — 'IPSEC IS DOWN'"
    );
    let why = format!("verification failed: {down}");
    let text = format!(
        "Signal recovered; waiting for a responder to resolve: {why} (DescribeAlarms: alarm {ALARM} is OK)"
    );
    assert_eq!(answer.reason, text);
    let waiting = b.entries(true);
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].text, text);

    // No resolution: not settled, not resolved, no record.
    let stored = b.incident();
    assert_eq!(stored.resolution, None);
    assert_eq!(stored.resolved_at, None);
    assert!(b.reports.objects().is_empty());
    assert_eq!(b.row().status, KeyStatus::Recovered);
    assert!(b.published(LifecycleKind::IncidentResolved).is_empty());

    // Notify posts the Incident Updated.
    let updated = b.published(LifecycleKind::IncidentUpdated);
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].detail.reason, text);
    assert_eq!(
        updated[0].detail.resolution,
        Some(Resolution {
            status: ResolutionStatus::AwaitingResponder,
            verified: false,
            checks: vec![format!("DescribeAlarms: alarm {ALARM} is OK"), down],
            waiting_reason: Some(why),
            report: None,
            time_to_resolve_secs: None,
            resolved_by: None,
        })
    );
}

#[tokio::test]
async fn an_alarm_still_in_alarm_leaves_the_incident_to_a_responder() {
    let b = bench(Backend::OpsCenter);
    let event = b.recovered().await;
    b.alarms.set(ALARM, "ALARM");
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, ResolveAction::AwaitingResponder);
    let updated = b.published(LifecycleKind::IncidentUpdated);
    assert_eq!(updated.len(), 1);
    let resolution = updated[0]
        .detail
        .resolution
        .clone()
        .unwrap_or_else(|| panic!("no resolution"));
    assert!(!resolution.verified);
    assert_eq!(
        resolution.waiting_reason.as_deref(),
        Some(format!("verification failed: DescribeAlarms: alarm {ALARM} is ALARM").as_str())
    );
    assert_eq!(b.incident().resolution, None);
    assert_eq!(b.row().status, KeyStatus::Recovered);
}

#[tokio::test]
async fn an_alarm_that_no_longer_exists_fails_its_check() {
    let b = bench_with_alarms(Backend::IncidentManager, |_| {
        Some(Arc::new(MemoryAlarms::new()))
    });
    let event = b.recovered().await;
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, ResolveAction::AwaitingResponder);
    assert!(
        answer
            .reason
            .contains(&format!("DescribeAlarms: alarm {ALARM} no longer exists")),
        "{}",
        answer.reason
    );
}

#[tokio::test]
async fn without_auto_resolve_a_verified_recovery_still_waits_for_a_responder() {
    let b = bench(Backend::IncidentManager);
    let mut event = b.recovered().await;
    event["detail"]["incident"]["auto_resolve"] = json!(false);
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, ResolveAction::AwaitingResponder);
    let updated = b.published(LifecycleKind::IncidentUpdated);
    assert_eq!(updated.len(), 1);
    let resolution = updated[0]
        .detail
        .resolution
        .clone()
        .unwrap_or_else(|| panic!("no resolution"));
    assert!(resolution.verified);
    assert_eq!(resolution.status, ResolutionStatus::AwaitingResponder);
    assert_eq!(
        resolution.waiting_reason.as_deref(),
        Some("rule vpn-tunnel-down leaves resolution to a responder")
    );
    assert_eq!(resolution.checks.len(), 2);
    assert_eq!(b.incident().resolution, None);
    assert!(b.reports.objects().is_empty());
    assert_eq!(b.row().status, KeyStatus::Recovered);
}

#[tokio::test]
async fn access_denied_on_describe_vpn_connections_fails_the_check_not_the_invocation() {
    let b = bench(Backend::IncidentManager);
    let event = b.recovered().await;
    b.network
        .fail_next("vpn_connections", 1, PortErrorKind::AccessDenied);
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, ResolveAction::AwaitingResponder);
    let reason = b.published(LifecycleKind::IncidentUpdated)[0]
        .detail
        .resolution
        .clone()
        .and_then(|r| r.waiting_reason)
        .unwrap();
    assert_eq!(
        reason,
        format!(
            "verification failed: DescribeVpnConnections: could not verify {VPN}: AccessDenied \
             (injected failure)"
        )
    );
}

#[tokio::test]
async fn a_deleted_vpn_fails_its_check() {
    let b = bench(Backend::IncidentManager);
    let event = b.recovered().await;
    b.network.remove(VPN);
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, ResolveAction::AwaitingResponder);
    assert!(
        answer.reason.contains(&format!(
            "DescribeVpnConnections: {VPN} no longer exists (NotFound)"
        )),
        "{}",
        answer.reason
    );
}

#[tokio::test]
async fn a_throttled_check_fails_the_invocation_and_the_retry_resolves() {
    for throttle in ["vpn", "alarm"] {
        let b = bench(Backend::IncidentManager);
        let event = b.recovered().await;
        match throttle {
            "vpn" => b
                .network
                .fail_next("vpn_connections", 1, PortErrorKind::Throttled),
            _ => b.alarms.fail_next(1, PortErrorKind::Throttled),
        }
        match b.run(&event).await {
            Err(e) => assert_eq!(e.error_type(), "Throttled", "{throttle}: {e}"),
            Ok(answer) => panic!("{throttle}: {answer:?}"),
        }
        b.assert_untouched();
        assert_eq!(b.row().status, KeyStatus::Recovered);

        let answer = b.ok(&event).await;
        assert_eq!(answer.action, ResolveAction::Resolved, "{throttle}");
    }
}

#[tokio::test]
async fn a_per_tunnel_alarm_finds_its_vpn_by_the_tunnel_ip() {
    let b = bench(Backend::IncidentManager);
    let mut down = fixture("cloudwatch-alarm-vpn-tunnel-ip-down");
    if let Some(detail) = down["detail"].as_object_mut() {
        detail.remove("alarmTags");
    }
    let ok = recovery_of(down.clone(), "2024-05-14T03:21:10.210+0000");
    let event = b.recovered_from(down, ok).await;
    b.alarms.set("vpn-tunnel-down-203.0.113.10", "OK");
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, ResolveAction::Resolved, "{answer:?}");
    assert_eq!(b.network.calls(), vec!["vpn_connections()".to_string()]);
    let checks = b.published(LifecycleKind::IncidentResolved)[0]
        .detail
        .resolution
        .clone()
        .map(|r| r.checks)
        .unwrap();
    assert_eq!(
        checks,
        vec![
            "DescribeAlarms: alarm vpn-tunnel-down-203.0.113.10 is OK".to_string(),
            format!(
                "DescribeVpnConnections: both tunnels of {VPN} are UP ({TUNNEL_1}, {TUNNEL_2})"
            ),
        ]
    );
}

#[tokio::test]
async fn a_resolved_finding_is_verified_by_its_own_state() {
    let b = bench(Backend::OpsCenter);
    b.triage(&fixture("securityhub-finding-critical"), at(3, 2, 11))
        .await;
    b.triage(&fixture("securityhub-finding-resolved"), at(3, 21, 11))
        .await;
    let recovered = b
        .triage_bus
        .events()
        .into_iter()
        .rfind(|e| e.kind == LifecycleKind::SignalRecovered)
        .unwrap_or_else(|| panic!("no Signal Recovered"));
    b.clock.set(now());
    let answer = b
        .ok(&to_envelope(&recovered, "111122223333", "eu-west-1"))
        .await;
    // The Security Hub rule leaves resolution to a responder; the finding itself verified.
    assert_eq!(answer.action, ResolveAction::AwaitingResponder);
    let resolution = b.published(LifecycleKind::IncidentUpdated)[0]
        .detail
        .resolution
        .clone()
        .unwrap_or_else(|| panic!("no resolution"));
    assert!(resolution.verified);
    assert_eq!(resolution.checks.len(), 1);
    assert!(
        resolution.checks[0]
            .starts_with("Security Hub: the recovering event itself reports finding ")
            && resolution.checks[0].ends_with("(its workflow/record state; no API call)"),
        "{:?}",
        resolution.checks
    );
    assert!(b.alarms.calls().is_empty());
    assert!(b.network.calls().is_empty());
}

// -------------------------------------------------------------------------------------------------
// Nothing to do.

#[tokio::test]
async fn a_signal_that_fired_again_keeps_the_incident_open() {
    let b = bench(Backend::IncidentManager);
    let event = b.recovered().await;
    // The alarm fires again at 03:22:40 and triage joins it to the incident.
    let mut again = fixture("cloudwatch-alarm-vpn-tunnel-down");
    again["detail"]["state"]["timestamp"] = json!("2024-05-14T03:22:40.100+0000");
    b.triage(&again, at(3, 22, 41)).await;
    b.clock.set(now());
    let before = b.incident().timeline.len();

    let answer = b.ok(&event).await;
    assert_eq!(answer.action, ResolveAction::Ignored);
    assert!(answer.reason.contains("fired again"), "{}", answer.reason);
    b.assert_untouched();
    assert_eq!(b.incident().timeline.len(), before);
    assert_eq!(b.row().status, KeyStatus::Open);
    assert!(b.alarms.calls().is_empty(), "nothing verified");
}

/// Alarms that report OK, but the signal fires again (triage moves the key back to `open`) while
/// resolve is verifying.
struct RefiringAlarms {
    keys: Arc<MemoryDedupe>,
}

#[async_trait]
impl AlarmStates for RefiringAlarms {
    async fn alarm_state(&self, name: &str) -> Result<Option<AlarmState>, PortError> {
        let at = at(3, 23, 29);
        let row = self.keys.get(KEY).await?.expect("the key's row");
        let joined = self
            .keys
            .join(&Join {
                key: KEY.to_string(),
                incident_id: row.incident.expect("its incident").id,
                subject: Some("arn:aws:cloudwatch:eu-west-1:111122223333:alarm:other".into()),
                raise_to: None,
                at,
                expires_at: Some(at + Duration::days(14)),
            })
            .await?;
        assert!(matches!(joined, Joined::Joined(_)), "{joined:?}");
        Ok(Some(AlarmState {
            name: name.to_string(),
            value: "OK".to_string(),
            reason: None,
            updated_at: None,
        }))
    }
}

#[tokio::test]
async fn a_signal_that_fires_again_while_verifying_keeps_the_incident_open() {
    let b = bench_with_alarms(Backend::IncidentManager, |keys| {
        Some(Arc::new(RefiringAlarms { keys }))
    });
    let event = b.recovered().await;
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, ResolveAction::Ignored, "{answer:?}");
    assert!(
        answer
            .reason
            .contains("fired again while the recovery was being verified"),
        "{}",
        answer.reason
    );
    b.assert_untouched();
    assert_eq!(b.row().status, KeyStatus::Open);
}

#[tokio::test]
async fn a_key_gone_or_bound_to_another_incident_is_ignored() {
    // Gone: a recovery event for an incident whose key the state table no longer has.
    let b = bench(Backend::IncidentManager);
    let mut event = b.recovered().await;
    event["detail"]["incident"]["dedupe_key"] = json!("vpn-tunnel-down:vpn-0fedcba987654321f");
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, ResolveAction::Ignored);
    assert!(answer.reason.contains("is gone"), "{}", answer.reason);
    b.assert_untouched();

    // Another incident: the key is bound to a later incident than the event's.
    let b = bench(Backend::IncidentManager);
    let mut event = b.recovered().await;
    let other = "arn:aws:ssm-incidents::111122223333:incident-record/responder/00000099";
    event["detail"]["incident"]["id"] = json!(other);
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, ResolveAction::Ignored);
    assert!(
        answer.reason.contains("now belongs to incident"),
        "{}",
        answer.reason
    );
    b.assert_untouched();
}

#[tokio::test]
async fn other_lifecycle_events_are_ignored() {
    let b = bench(Backend::IncidentManager);
    let _ = b.recovered().await;
    let opened = b
        .triage_bus
        .events()
        .into_iter()
        .find(|e| e.kind == LifecycleKind::IncidentOpened)
        .unwrap_or_else(|| panic!("no Incident Opened"));
    let answer = b
        .ok(&to_envelope(&opened, "111122223333", "eu-west-1"))
        .await;
    assert_eq!(answer.action, ResolveAction::Ignored);
    assert_eq!(
        answer.reason,
        "`Incident Opened` is not for the resolve stage (it acts on `Signal Recovered`)."
    );
    b.assert_untouched();
}

// -------------------------------------------------------------------------------------------------
// Errors.

#[tokio::test]
async fn an_incident_in_another_backend_is_an_error() {
    let b = bench(Backend::IncidentManager);
    let mut event = b.recovered().await;
    event["detail"]["incident"]["backend"] = json!("opscenter");
    match b.run(&event).await {
        Err(e @ StageError::WrongBackend { .. }) => {
            assert_eq!(e.error_type(), "WrongBackend");
            assert!(
                e.to_string()
                    .contains("is in opscenter, but this function writes to incident-manager"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    b.assert_untouched();
}

#[tokio::test]
async fn unknown_and_malformed_events_are_errors() {
    let b = bench(Backend::IncidentManager);
    for event in [
        fixture("unknown-source"),
        fixture("cloudwatch-alarm-vpn-tunnel-ok"),
        json!("not an object"),
    ] {
        match b.run(&event).await {
            Err(e) => assert_eq!(e.error_type(), "UnknownEvent", "{e}"),
            Ok(answer) => panic!("{answer:?}"),
        }
    }
    let malformed = json!({
        "version": "0",
        "id": "1",
        "detail-type": "Signal Recovered",
        "source": RESPONDER_SOURCE,
        "account": "111122223333",
        "time": "2024-05-14T03:21:11Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {"reason": "no incident"},
    });
    match b.run(&malformed).await {
        Err(e) => {
            assert_eq!(e.error_type(), "MalformedEvent");
            assert!(e.to_string().contains("Signal Recovered"), "{e}");
        }
        Ok(answer) => panic!("{answer:?}"),
    }
}

#[tokio::test]
async fn a_recovery_held_by_a_live_invocation_is_an_error_to_retry() {
    let b = bench(Backend::IncidentManager);
    let event = b.recovered().await;
    let fingerprint = event["detail"]["signal"]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let id = b.incident().reference.id;
    let key = format!("resolve#{id}#{fingerprint}");
    let _ = b
        .runs
        .begin(
            &key,
            now(),
            now() + Duration::minutes(1),
            now() + Duration::days(1),
        )
        .await;
    match b.run(&event).await {
        Err(e) => assert_eq!(e.error_type(), "EventInProgress", "{e}"),
        Ok(answer) => panic!("{answer:?}"),
    }
    b.assert_untouched();
}

// -------------------------------------------------------------------------------------------------
// Pieces.

#[test]
fn metrics_name_the_outcome() {
    let resolved = resolved_metrics(1279);
    assert_eq!(
        resolved.iter().map(|m| m.name).collect::<Vec<_>>(),
        vec!["IncidentsResolved", "TimeToResolve"]
    );
    assert_eq!(resolved[0].unit, crate::metrics::Unit::Count);
    assert_eq!(resolved[1].unit, crate::metrics::Unit::Seconds);
    assert!((resolved[1].value - 1279.0).abs() < f64::EPSILON);
    assert_eq!(
        awaiting_metrics()
            .iter()
            .map(|m| m.name)
            .collect::<Vec<_>>(),
        vec!["IncidentsAwaitingResponder"]
    );
}

#[test]
fn tunnel_checks_name_every_tunnel_that_is_not_up() {
    let both = tunnels_check(&both_up(), now());
    assert!(both.passed);
    let mut one = both_up();
    one.tunnels.truncate(1);
    assert_eq!(
        tunnels_check(&one, now()).sentence,
        format!("DescribeVpnConnections: the tunnel of {VPN} is UP ({TUNNEL_1})")
    );
    let mut unknown = both_up();
    unknown.tunnels[0].status = None;
    unknown.tunnels[1] = tunnel(
        TUNNEL_2,
        TunnelStatus::Down,
        "",
        at(2, 0, 0) - Duration::days(1),
    );
    let check = tunnels_check(&unknown, now());
    assert!(!check.passed);
    assert_eq!(
        check.sentence,
        format!(
            "DescribeVpnConnections: tunnel 1 ({TUNNEL_1}) of {VPN} reports no status; tunnel 2 \
             ({TUNNEL_2}) of {VPN} is DOWN since 2024-05-13 02:00 UTC"
        )
    );
    let mut deleted = both_up();
    deleted.state = "deleted".into();
    assert_eq!(
        tunnels_check(&deleted, now()).sentence,
        format!("DescribeVpnConnections: {VPN} is deleted")
    );
}

// -------------------------------------------------------------------------------------------------
// A person's resolution (`Resolution Requested`, from escalate).

/// The `Resolution Requested` escalate publishes for the incident triage opened at 03:02:11.
fn person_request(b: &Bench, closed: bool) -> Value {
    let opened = b
        .triage_bus
        .events()
        .into_iter()
        .find(|e| e.kind == LifecycleKind::IncidentOpened)
        .unwrap();
    let mut detail = opened.detail.clone();
    detail.request = Some(crate::domain::ResolutionRequest {
        by: "arn:aws:iam::111122223333:user/JaneDoe".into(),
        via: if closed { "console" } else { "slack" }.into(),
        closed,
        at: now(),
    });
    let event = LifecycleEvent {
        kind: LifecycleKind::ResolutionRequested,
        time: now(),
        detail,
    };
    to_envelope(&event, "111122223333", "eu-west-1")
}

#[tokio::test]
async fn a_person_resolving_in_the_console_gets_the_record_and_the_key_is_freed() {
    for backend in [Backend::IncidentManager, Backend::OpsCenter] {
        let b = bench(backend);
        b.triage(&fixture("cloudwatch-alarm-vpn-tunnel-down"), at(3, 2, 11))
            .await;
        b.clock.set(now());
        b.incidents.close_in_console(&b.incident().reference);
        let closed_at = b.incident().resolved_at;
        let answer = b.ok(&person_request(&b, true)).await;
        assert_eq!(answer.action, ResolveAction::Resolved, "{answer:?}");
        // Nothing closed twice: the person's own resolution stands.
        assert_eq!(b.incident().resolved_at, closed_at);
        assert_eq!(b.row().status, KeyStatus::Resolved);
        let [resolved] = b
            .published(LifecycleKind::IncidentResolved)
            .try_into()
            .unwrap();
        let resolution = resolved.detail.resolution.unwrap();
        assert_eq!(
            resolution.resolved_by.as_deref(),
            Some("arn:aws:iam::111122223333:user/JaneDoe")
        );
        // What could be verified at the time is said (the fakes' VPN is up, its alarm OK).
        assert!(resolution.verified && !resolution.checks.is_empty());
        let key = answer.report.unwrap();
        let body = b
            .reports
            .objects()
            .into_iter()
            .find(|(k, _)| key.ends_with(k.as_str()));
        let (_, (body, _)) = body.unwrap_or_else(|| panic!("no record at {key}"));
        assert!(
            body.contains("- **Resolved:** 2024-05-14 03:23:30 UTC, by arn:aws:iam::111122223333:user/JaneDoe"),
            "{body}"
        );
        assert!(
            body.contains("| Recovered (signal cleared) | — |"),
            "{body}"
        );
        let entry = b.entries(false).pop().unwrap();
        assert!(
            entry
                .text
                .starts_with("Resolved by arn:aws:iam::111122223333:user/JaneDoe (from console)"),
            "{}",
            entry.text
        );
        // A re-delivery does nothing more; nor does a late recovery of the alarm.
        let again = b.ok(&person_request(&b, true)).await;
        assert_eq!(again.action, ResolveAction::Resolved);
        assert_eq!(b.published(LifecycleKind::IncidentResolved).len(), 1);
    }
}

#[tokio::test]
async fn resolve_from_slack_resolves_the_incident_in_its_backend() {
    let b = bench(Backend::OpsCenter);
    b.triage(&fixture("cloudwatch-alarm-vpn-tunnel-down"), at(3, 2, 11))
        .await;
    b.clock.set(now());
    b.incidents.set_time(now());
    let answer = b.ok(&person_request(&b, false)).await;
    assert_eq!(answer.action, ResolveAction::Resolved);
    assert_eq!(b.incident().resolved_at, Some(now()));
    let closing = b.incident().resolution.unwrap();
    assert!(
        closing.contains("resolved by arn:aws:iam::111122223333:user/JaneDoe (from slack)"),
        "{closing}"
    );
    // A second request (Resolve pressed again, the console after Slack) records nothing more.
    let again = b.ok(&person_request(&b, true)).await;
    assert!(again.reason.starts_with("Re-delivery"), "{again:?}");
    assert_eq!(b.published(LifecycleKind::IncidentResolved).len(), 1);
    // The alarm's OK afterwards finds the key settled: triage recovers nothing, so resolve
    // hears nothing more.
    b.triage(&fixture("cloudwatch-alarm-vpn-tunnel-ok"), at(3, 25, 0))
        .await;
    let recovered = b
        .triage_bus
        .events()
        .into_iter()
        .filter(|e| e.kind == LifecycleKind::SignalRecovered)
        .count();
    assert_eq!(recovered, 0);
}

#[tokio::test]
async fn resolve_pressed_after_the_responder_resolved_records_nothing_more() {
    let b = bench(Backend::OpsCenter);
    let recovered = b.recovered().await;
    assert_eq!(b.ok(&recovered).await.action, ResolveAction::Resolved);
    let late = b.ok(&person_request(&b, false)).await;
    assert_eq!(late.action, ResolveAction::Ignored, "{late:?}");
    assert!(
        late.reason.contains("resolved already (automatically)"),
        "{}",
        late.reason
    );
    assert_eq!(b.published(LifecycleKind::IncidentResolved).len(), 1);
    assert_eq!(b.reports.puts(), 1);
}

// --- EC2 instances -----------------------------------------------------------------------------

const INSTANCE: &str = "i-0123456789abcdef0";
const INSTANCE_ALARM: &str = "i-0123456789abcdef0-StatusCheckFailed_System";

/// The instance story up to its recovery, with the instance's status checks as EC2 reports
/// them then.
async fn instance_recovered(b: &Bench, state: &str, checks: Option<(&str, &str)>) -> Value {
    use crate::diagnosis::{Instance, InstanceHealth, StatusCheck};
    let event = b
        .recovered_from(
            fixture("cloudwatch-alarm-ec2-status-check-system"),
            fixture("cloudwatch-alarm-ec2-status-check-system-ok"),
        )
        .await;
    b.alarms.set(INSTANCE_ALARM, "OK");
    let check = |status: &str| StatusCheck {
        status: status.into(),
        impaired_since: None,
    };
    b.network.put_instance(
        Instance {
            id: INSTANCE.into(),
            state: state.into(),
            ..Instance::default()
        },
        checks.map(|(system, instance)| InstanceHealth {
            system: check(system),
            instance: check(instance),
            ebs: None,
            events: Vec::new(),
        }),
        None,
    );
    event
}

fn checks_of(b: &Bench, kind: LifecycleKind) -> Vec<String> {
    b.published(kind)
        .last()
        .and_then(|e| e.detail.resolution.clone())
        .map(|r| r.checks)
        .unwrap_or_else(|| panic!("no {kind:?} with a resolution"))
}

#[tokio::test]
async fn an_instance_is_resolved_once_its_status_checks_pass() {
    let b = bench(Backend::IncidentManager);
    let event = instance_recovered(&b, "running", Some(("ok", "ok"))).await;
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, ResolveAction::Resolved, "{answer:?}");
    assert_eq!(
        checks_of(&b, LifecycleKind::IncidentResolved),
        [
            format!("DescribeAlarms: alarm {INSTANCE_ALARM} is OK"),
            format!("DescribeInstanceStatus: {INSTANCE} passes its status checks (system ok, instance ok)"),
        ]
    );
    assert_eq!(b.network.calls(), [format!("instance_health({INSTANCE})")]);
}

#[tokio::test]
async fn an_instance_still_impaired_or_stopped_waits_for_a_responder() {
    for (state, checks, says) in [
        (
            "running",
            Some(("impaired", "ok")),
            format!(
                "DescribeInstanceStatus: {INSTANCE} status checks: system impaired, instance ok"
            ),
        ),
        (
            "stopped",
            Some(("not-applicable", "not-applicable")),
            format!(
                "DescribeInstanceStatus: {INSTANCE} status checks: system not-applicable, \
                 instance not-applicable (the instance is not running)"
            ),
        ),
        (
            "terminated",
            None,
            format!("DescribeInstanceStatus: {INSTANCE} reports no status (it no longer exists)"),
        ),
    ] {
        let b = bench(Backend::OpsCenter);
        let event = instance_recovered(&b, state, checks).await;
        let answer = b.ok(&event).await;
        assert_eq!(answer.action, ResolveAction::AwaitingResponder, "{state}");
        let found = checks_of(&b, LifecycleKind::IncidentUpdated);
        assert!(found.contains(&says), "{state}: {found:?}");
        assert_eq!(b.incident().resolution, None);
    }
}

#[tokio::test]
async fn an_instance_check_denied_fails_the_check_and_throttling_the_invocation() {
    let b = bench(Backend::IncidentManager);
    let event = instance_recovered(&b, "running", Some(("ok", "ok"))).await;
    b.network
        .fail_next("instance_health", 1, PortErrorKind::AccessDenied);
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, ResolveAction::AwaitingResponder);
    let found = checks_of(&b, LifecycleKind::IncidentUpdated);
    assert!(
        found.iter().any(|c| c.starts_with(&format!(
            "DescribeInstanceStatus: could not verify {INSTANCE}: AccessDenied"
        ))),
        "{found:?}"
    );

    let t = bench(Backend::IncidentManager);
    let event = instance_recovered(&t, "running", Some(("ok", "ok"))).await;
    t.network
        .fail_next("instance_health", 1, PortErrorKind::Throttled);
    match t.run(&event).await {
        Err(e) => assert_eq!(e.error_type(), "Throttled"),
        Ok(a) => panic!("expected an error, got {a:?}"),
    }
    assert_eq!(t.ok(&event).await.action, ResolveAction::Resolved);
}

#[tokio::test]
async fn an_instance_of_another_region_is_left_to_a_person() {
    let b = bench(Backend::IncidentManager);
    let event = instance_recovered(&b, "running", Some(("ok", "ok"))).await;
    let answer = b
        .resolve
        .handle_invoked(
            &event,
            now() + Duration::seconds(10),
            "arn:aws:lambda:us-east-1:111122223333:function:responder-resolve",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        answer.action,
        ResolveAction::AwaitingResponder,
        "{answer:?}"
    );
    assert!(b.network.calls().is_empty(), "nothing read in us-east-1");
    let found = checks_of(&b, LifecycleKind::IncidentUpdated);
    assert!(
        found.iter().any(|c| c.starts_with(&format!(
            "DescribeInstanceStatus: {INSTANCE} is in account 111122223333 in eu-west-1"
        ))),
        "{found:?}"
    );
}

#[tokio::test]
async fn a_resolved_finding_about_an_instance_is_verified_by_its_own_state_only() {
    // An isolated (stopped) instance must not keep a resolved finding's incident open.
    let b = bench(Backend::OpsCenter);
    let on_instance = |name: &str| {
        let mut event = fixture(name);
        event["detail"]["findings"][0]["Resources"] = json!([{
            "Type": "AwsEc2Instance",
            "Id": format!("arn:aws:ec2:eu-west-1:111122223333:instance/{INSTANCE}"),
            "Partition": "aws",
            "Region": "eu-west-1"
        }]);
        event
    };
    b.triage(&on_instance("securityhub-finding-critical"), at(3, 2, 11))
        .await;
    b.triage(&on_instance("securityhub-finding-resolved"), at(3, 21, 11))
        .await;
    let recovered = b
        .triage_bus
        .events()
        .into_iter()
        .rfind(|e| e.kind == LifecycleKind::SignalRecovered)
        .unwrap_or_else(|| panic!("no Signal Recovered"));
    assert!(recovered
        .detail
        .signal
        .resources
        .iter()
        .chain(std::iter::once(&recovered.detail.signal.resource))
        .any(|r| r.ends_with(INSTANCE)));
    b.clock.set(now());
    b.ok(&to_envelope(&recovered, "111122223333", "eu-west-1"))
        .await;
    let resolution = b.published(LifecycleKind::IncidentUpdated)[0]
        .detail
        .resolution
        .clone()
        .unwrap_or_else(|| panic!("no resolution"));
    assert!(resolution.verified, "{:?}", resolution.checks);
    assert!(
        b.network.calls().is_empty(),
        "no instance check for a finding"
    );
}

const TG_ARN: &str =
    "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/web-tg/6d0ecf831eec9f09";

/// The target-group story up to its recovery, with the targets' health then.
async fn target_group_recovered(b: &Bench, targets: &[(&str, &str, Option<&str>)]) -> Value {
    target_group_metric_recovered(b, "UnHealthyHostCount", targets).await
}

async fn target_group_metric_recovered(
    b: &Bench,
    metric: &str,
    targets: &[(&str, &str, Option<&str>)],
) -> Value {
    use crate::inspect::{TargetGroupFacts, TargetHealth};
    // On the bench's clock: down at 03:02:10, OK at 03:21:10.
    let mut down = fixture("cloudwatch-alarm-alb-unhealthy-hosts");
    down["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["name"] = json!(metric);
    down["time"] = json!("2024-05-14T03:02:10Z");
    down["detail"]["state"]["timestamp"] = json!("2024-05-14T03:02:10.000+0000");
    let mut ok = down.clone();
    ok["detail"]["previousState"] = down["detail"]["state"].clone();
    ok["detail"]["state"]["value"] = json!("OK");
    ok["detail"]["state"]["timestamp"] = json!("2024-05-14T03:21:10.000+0000");
    ok["time"] = json!("2024-05-14T03:21:10Z");
    ok["id"] = json!("9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a");
    let event = b.recovered_from(down, ok).await;
    b.alarms.set("web-tg-UnHealthyHostCount", "OK");
    b.resources.put_target_group(TargetGroupFacts {
        arn: TG_ARN.into(),
        name: "web-tg".into(),
        protocol: None,
        port: None,
        target_type: None,
        health_check: None,
        load_balancers: Vec::new(),
        targets: targets
            .iter()
            .map(|(id, state, reason)| TargetHealth {
                id: id.to_string(),
                port: Some(80),
                zone: None,
                state: state.to_string(),
                reason: reason.map(str::to_string),
                description: None,
            })
            .collect(),
    });
    event
}

#[tokio::test]
async fn a_target_group_is_resolved_once_its_targets_are_healthy() {
    let b = bench(Backend::OpsCenter);
    let event = target_group_recovered(
        &b,
        &[("i-0aaa", "healthy", None), ("i-0bbb", "draining", None)],
    )
    .await;
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, ResolveAction::Resolved, "{answer:?}");
    assert_eq!(
        checks_of(&b, LifecycleKind::IncidentResolved),
        [
            "DescribeAlarms: alarm web-tg-UnHealthyHostCount is OK".to_string(),
            "DescribeTargetHealth: target group web-tg: 1 of 2 targets healthy, none failing"
                .to_string(),
        ]
    );
}

#[tokio::test]
async fn a_target_group_with_a_failing_target_waits_for_a_responder() {
    let b = bench(Backend::IncidentManager);
    let event = target_group_recovered(
        &b,
        &[
            ("i-0aaa", "healthy", None),
            ("i-0bbb", "unhealthy", Some("Target.Timeout")),
        ],
    )
    .await;
    let answer = b.ok(&event).await;
    assert_eq!(
        answer.action,
        ResolveAction::AwaitingResponder,
        "{answer:?}"
    );
    assert!(checks_of(&b, LifecycleKind::IncidentUpdated).contains(
        &"DescribeTargetHealth: target group web-tg: 1 of 2 targets healthy; i-0bbb:80 unhealthy (Target.Timeout)"
            .to_string()
    ));
}

#[tokio::test]
async fn a_target_groups_5xx_alarm_recovers_by_its_own_metric() {
    let b = bench(Backend::OpsCenter);
    let event = target_group_metric_recovered(
        &b,
        "HTTPCode_Target_5XX_Count",
        &[("i-0bbb", "unhealthy", Some("Target.Timeout"))],
    )
    .await;
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, ResolveAction::Resolved, "{answer:?}");
    assert!(b.resources.calls().is_empty(), "{:?}", b.resources.calls());
}
