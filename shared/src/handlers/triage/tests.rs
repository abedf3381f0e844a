use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use super::*;
use crate::domain::{Backend, Impact, LifecycleKind, NewIncident, RelatedValue};
use crate::handlers::testkit::{fixture, Fakes};
use crate::memory::MemoryIncidents;
use crate::ports::{opening_token, KeyStatus, PortErrorKind};
use crate::shell::Shell;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 4, 0, 0).unwrap()
}

struct Bench {
    fakes: Fakes,
    triage: Shell<Triage>,
}

impl std::ops::Deref for Bench {
    type Target = Fakes;
    fn deref(&self) -> &Fakes {
        &self.fakes
    }
}

fn bench(backend: Backend) -> Bench {
    let fakes = Fakes::new(backend, start());
    let triage = fakes.triage();
    Bench { fakes, triage }
}

/// Triage opening its incidents through what `opener` makes of the fake backend.
fn bench_with(opener: impl FnOnce(Arc<MemoryIncidents>) -> Arc<dyn IncidentOpener>) -> Bench {
    let fakes = Fakes::new(Backend::IncidentManager, start());
    let triage = fakes.shell(Triage::new(
        Rules::embedded().unwrap(),
        opener(fakes.incidents.clone()),
        fakes.incidents.clone(),
        fakes.keys.clone(),
        fakes.changes.clone(),
    ));
    Bench { fakes, triage }
}

impl Bench {
    async fn run(&self, event: &Value) -> Result<TriageAnswer, TriageError> {
        self.fakes.run(&self.triage, event).await
    }

    async fn ok(&self, event: &Value) -> TriageAnswer {
        self.run(event)
            .await
            .unwrap_or_else(|e| panic!("triage failed: {e}"))
    }

    fn kinds(&self) -> Vec<LifecycleKind> {
        self.bus.events().iter().map(|e| e.kind).collect()
    }
}

const VPN_KEY: &str = "vpn-tunnel-down:vpn-0123456789abcdef0";

#[tokio::test]
async fn an_unreadable_stored_answer_is_a_join_under_the_rule() {
    let b = bench(Backend::OpsCenter);
    let down = fixture("cloudwatch-alarm-vpn-tunnel-down");
    assert_eq!(b.ok(&down).await.action, Action::Opened);
    b.runs.spoil_answers();
    let again = b.ok(&down).await;
    assert_eq!(again.action, Action::Joined, "{again:?}");
    assert_eq!(again.rule.as_deref(), Some("vpn-tunnel-down"));
    assert_eq!(again.dedupe_key.as_deref(), Some(VPN_KEY));
    assert_eq!(b.incidents.incidents().len(), 1);
    assert_eq!(b.kinds(), vec![LifecycleKind::IncidentOpened]);
}

#[tokio::test]
async fn vpn_alarm_opens_one_incident_and_redeliveries_join_it() {
    for backend in [Backend::IncidentManager, Backend::OpsCenter] {
        let b = bench(backend);
        let down = fixture("cloudwatch-alarm-vpn-tunnel-down");

        let first = b.ok(&down).await;
        assert_eq!(first.action, Action::Opened, "{first:?}");
        assert_eq!(first.rule.as_deref(), Some("vpn-tunnel-down"));
        assert_eq!(first.impact, Some(Impact::HIGH));
        assert_eq!(first.dedupe_key.as_deref(), Some(VPN_KEY));
        let incident = first.incident.clone().unwrap();
        match backend {
            Backend::IncidentManager => {
                assert!(incident.starts_with("arn:aws:ssm-incidents"), "{incident}")
            }
            Backend::OpsCenter => assert!(incident.starts_with("oi-"), "{incident}"),
        }

        for _ in 0..2 {
            let again = b.ok(&down).await;
            assert_eq!(again.action, Action::Joined, "{again:?}");
            assert_eq!(again.incident.as_deref(), Some(incident.as_str()));
            assert!(again.reason.contains("Re-delivery"), "{}", again.reason);
        }

        let stored = b.incidents.incidents();
        assert_eq!(stored.len(), 1, "one incident for three deliveries");
        assert_eq!(
            b.kinds(),
            vec![LifecycleKind::IncidentOpened],
            "re-deliveries announce nothing"
        );
        let opened = &b.bus.events()[0];
        assert_eq!(opened.detail.incident.id, incident);
        assert_eq!(opened.detail.incident.backend, backend);
        assert_eq!(opened.detail.incident.dedupe_key, VPN_KEY);
        assert_eq!(
            opened.detail.signal.alarm_name.as_deref(),
            Some("vpn-tunnel-down-vpn-0123456789abcdef0")
        );

        let request = &stored[0].request;
        assert_eq!(
            request.title,
            "Site-to-Site VPN vpn-0123456789abcdef0: tunnel down"
        );
        assert_eq!(request.trigger.source, "incident.responder");
        assert!(request.trigger.raw_data.contains("TunnelState"));
        assert!(request
            .trigger
            .arn
            .as_deref()
            .is_some_and(|a| a.contains(":alarm:")));
        let arns: Vec<&RelatedValue> = request.related_items.iter().map(|i| &i.value).collect();
        assert!(
            arns.iter().any(|v| matches!(v, RelatedValue::Arn(a)
                if a.ends_with(":111122223333:vpn-connection/vpn-0123456789abcdef0"))),
            "{arns:?}"
        );

        let rows = b.keys.records();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].status, KeyStatus::Open);
        assert_eq!(
            rows[0].incident.as_ref().map(|i| i.id.as_str()),
            Some(incident.as_str())
        );
    }
}

#[tokio::test]
async fn a_second_alarm_on_the_same_vpn_joins_and_the_incident_recovers_when_both_are_ok() {
    let b = bench(Backend::IncidentManager);
    let opened = b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-down")).await;
    b.clock.advance(Duration::minutes(2));

    let joined = b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-ip-down")).await;
    assert_eq!(joined.action, Action::Joined, "{joined:?}");
    assert_eq!(joined.incident, opened.incident);
    assert_eq!(joined.dedupe_key.as_deref(), Some(VPN_KEY));

    let stored = &b.incidents.incidents()[0];
    assert!(
        stored.timeline.iter().any(
            |t| matches!(t.kind, EntryKind::SignalJoined { .. }) && t.text.contains("signal 2")
        ),
        "{:?}",
        stored.timeline
    );
    assert!(
        stored.related_items.iter().any(|i| matches!(&i.value, RelatedValue::Arn(a) if a.ends_with("vpn-tunnel-down-203.0.113.10"))),
        "second alarm attached: {:?}",
        stored.related_items
    );

    // The first alarm's OK: the second still fires, so the incident stays open.
    b.clock.advance(Duration::minutes(10));
    let first_ok = b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-ok")).await;
    assert_eq!(first_ok.action, Action::Joined, "{first_ok:?}");
    assert!(
        first_ok.reason.contains("1 other signal"),
        "{}",
        first_ok.reason
    );
    let row = &b.keys.records()[0];
    assert_eq!(row.status, KeyStatus::Open);
    assert_eq!(
        row.firing.iter().collect::<Vec<_>>(),
        vec!["arn:aws:cloudwatch:eu-west-1:111122223333:alarm:vpn-tunnel-down-203.0.113.10"]
    );

    b.clock.advance(Duration::minutes(1));
    let recovered = b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-ip-ok")).await;
    assert_eq!(recovered.action, Action::Recovered, "{recovered:?}");
    assert_eq!(recovered.incident, opened.incident);
    assert_eq!(
        b.kinds(),
        vec![
            LifecycleKind::IncidentOpened,
            LifecycleKind::IncidentUpdated,
            LifecycleKind::IncidentUpdated,
            LifecycleKind::SignalRecovered
        ]
    );
    let last = b.bus.events().pop().map(|e| e.detail);
    assert!(
        last.as_ref()
            .is_some_and(|d| d.incident.auto_resolve && d.signal_count == Some(2)),
        "{last:?}"
    );
    assert_eq!(b.keys.records()[0].status, KeyStatus::Recovered);
    assert_eq!(b.incidents.incidents().len(), 1);
    // The entries name the signal each is about, as the bus events do.
    let events = b.bus.events();
    let kinds: Vec<EntryKind> = b.incidents.incidents()[0]
        .timeline
        .iter()
        .map(|t| t.kind.clone())
        .collect();
    assert_eq!(
        kinds,
        vec![
            EntryKind::SignalJoined {
                signal: events[1].detail.signal.fingerprint.clone()
            },
            EntryKind::SignalRecovered {
                signal: events[2].detail.signal.fingerprint.clone()
            },
            EntryKind::SignalRecovered {
                signal: events[3].detail.signal.fingerprint.clone()
            },
        ]
    );
}

#[tokio::test]
async fn flapping_inside_the_window_joins_and_after_it_opens_anew() {
    let b = bench(Backend::OpsCenter);
    let down = fixture("cloudwatch-alarm-vpn-tunnel-down");
    let ok = fixture("cloudwatch-alarm-vpn-tunnel-ok");
    let first = b.ok(&down).await;
    b.ok(&ok).await;

    // The same alarm fires again ten minutes later: a new transition (new state timestamp).
    b.clock.advance(Duration::minutes(10));
    let refire = retimed(&down, "2026-11-21T04:10:00.000+0000");
    let joined = b.ok(&refire).await;
    assert_eq!(joined.action, Action::Joined, "{joined:?}");
    assert_eq!(joined.incident, first.incident);
    assert!(
        joined.reason.contains("had recovered and fires again"),
        "{}",
        joined.reason
    );

    // Recovered, then quiet for longer than the 30-minute window: a new fire is a new incident.
    b.ok(&retimed(&ok, "2026-11-21T04:12:00.000+0000")).await;
    b.clock.advance(Duration::minutes(45));
    let later = b.ok(&retimed(&down, "2026-11-21T05:00:00.000+0000")).await;
    assert_eq!(later.action, Action::Opened, "{later:?}");
    assert_ne!(later.incident, first.incident);
    assert_eq!(b.incidents.incidents().len(), 2);
}

/// The same alarm event with another state timestamp (another transition of the alarm).
fn retimed(event: &Value, timestamp: &str) -> Value {
    let mut event = event.clone();
    if let Some(state) = event.pointer_mut("/detail/state/timestamp") {
        *state = Value::String(timestamp.to_string());
    }
    event
}

#[tokio::test]
async fn recovery_without_an_incident_and_missing_data_are_ignored() {
    let b = bench(Backend::IncidentManager);
    let ok = b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-ok")).await;
    assert_eq!(ok.action, Action::Ignored, "{ok:?}");
    assert!(ok.reason.contains("no open incident"), "{}", ok.reason);

    let no_data = b.ok(&fixture("cloudwatch-alarm-insufficient-data")).await;
    assert_eq!(no_data.action, Action::Ignored, "{no_data:?}");
    assert!(b.incidents.incidents().is_empty());
    assert!(b.bus.events().is_empty());
}

#[tokio::test]
async fn missing_data_on_an_open_incident_is_noted_not_resolved() {
    let b = bench(Backend::IncidentManager);
    let opened = b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-down")).await;
    let mut no_data = fixture("cloudwatch-alarm-vpn-tunnel-down");
    if let Some(value) = no_data.pointer_mut("/detail/state/value") {
        *value = Value::String("INSUFFICIENT_DATA".into());
    }
    if let Some(value) = no_data.pointer_mut("/detail/state/timestamp") {
        *value = Value::String("2026-11-21T04:20:00.000+0000".into());
    }
    let noted = b.ok(&no_data).await;
    assert_eq!(noted.action, Action::Joined, "{noted:?}");
    assert_eq!(noted.incident, opened.incident);
    assert_eq!(b.keys.records()[0].status, KeyStatus::Open, "still open");
    assert!(b.incidents.incidents()[0]
        .timeline
        .iter()
        .any(|t| matches!(t.kind, EntryKind::SignalNoData { .. })));
}

/// An incident backend that takes its time to open, so invocations overlap.
struct SlowOpener(Arc<MemoryIncidents>);

#[async_trait]
impl IncidentOpener for SlowOpener {
    async fn open(&self, incident: &NewIncident) -> Result<IncidentRef, PortError> {
        tokio::time::sleep(StdDuration::from_millis(150)).await;
        self.0.open(incident).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_signals_on_one_key_open_exactly_one_incident() {
    let b = Arc::new(bench_with(|incidents| Arc::new(SlowOpener(incidents))));
    let down = fixture("cloudwatch-alarm-vpn-tunnel-down");
    let by_ip = fixture("cloudwatch-alarm-vpn-tunnel-ip-down");
    let (a, c) = tokio::join!(b.run(&down), b.run(&by_ip));
    let mut actions = vec![
        a.unwrap_or_else(|e| panic!("{e}")).action,
        c.unwrap_or_else(|e| panic!("{e}")).action,
    ];
    actions.sort();
    assert_eq!(actions, vec![Action::Joined, Action::Opened]);
    assert_eq!(b.incidents.incidents().len(), 1);
    assert_eq!(
        b.kinds(),
        vec![
            LifecycleKind::IncidentOpened,
            LifecycleKind::IncidentUpdated
        ]
    );
}

#[tokio::test]
async fn a_retry_after_any_failed_step_opens_exactly_once() {
    let down = fixture("cloudwatch-alarm-vpn-tunnel-down");
    type Inject = fn(&Bench);
    let steps: [(&str, Inject); 4] = [
        ("open", |b| {
            b.incidents.fail_next("open", 1, PortErrorKind::Throttled)
        }),
        ("confirm_open", |b| {
            b.keys
                .fail_next("confirm_open", 1, PortErrorKind::Unavailable)
        }),
        ("publish", |b| b.bus.fail_next(1, PortErrorKind::Throttled)),
        ("complete", |b| {
            b.runs.fail_next("complete", 1, PortErrorKind::Unavailable)
        }),
    ];
    for (step, inject) in steps {
        let b = bench(Backend::IncidentManager);
        inject(&b);
        let failed = b.run(&down).await;
        assert!(
            failed.is_err(),
            "{step}: the failure must fail the invocation"
        );
        // The retry may come at once: the failed invocation released the occurrence (also
        // when only recording completion failed).
        let retried = b.ok(&down).await;
        assert_eq!(retried.action, Action::Opened, "{step}: {retried:?}");
        assert_eq!(b.incidents.incidents().len(), 1, "{step}");
        let opened = b
            .kinds()
            .into_iter()
            .filter(|k| *k == LifecycleKind::IncidentOpened)
            .count();
        let expected = if step == "complete" { 2 } else { 1 };
        assert_eq!(opened, expected, "{step}: announcements");
        let again = b.ok(&down).await;
        assert_eq!(again.action, Action::Joined, "{step}");
    }
}

#[tokio::test]
async fn errors_name_the_problem_and_unknown_events_are_ignored() {
    let b = bench(Backend::IncidentManager);
    let err = match b.run(&fixture("malformed-alarm-missing-state")).await {
        Err(e) => e,
        Ok(a) => panic!("malformed event accepted: {a:?}"),
    };
    assert!(err.to_string().contains("detail.state"), "{err}");
    assert_eq!(err.error_type(), "MalformedEvent");

    let unknown = b.ok(&fixture("unknown-source")).await;
    assert_eq!(unknown.action, Action::Ignored);
    assert!(!unknown.reason.is_empty());

    for bad in [
        Value::Null,
        Value::String("hello".into()),
        serde_json::json!([1, 2]),
        serde_json::json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "detail": null}),
    ] {
        match b.run(&bad).await {
            Err(e) => assert!(!e.to_string().is_empty()),
            Ok(a) => assert_eq!(a.action, Action::Ignored, "{bad}: {a:?}"),
        }
    }
    assert!(b.incidents.incidents().is_empty());
}

#[tokio::test]
async fn low_guardduty_findings_are_suppressed_high_ones_open() {
    let b = bench(Backend::OpsCenter);
    let low = b.ok(&fixture("guardduty-finding-low")).await;
    assert_eq!(low.action, Action::Suppressed, "{low:?}");
    assert!(b.keys.records().is_empty(), "suppression writes no state");

    let high = b.ok(&fixture("guardduty-finding-high")).await;
    assert_eq!(high.action, Action::Opened, "{high:?}");
    assert_eq!(high.rule.as_deref(), Some("guardduty-high"));
    let stored = b.incidents.incidents();
    assert_eq!(
        stored[0].request.category,
        crate::domain::Category::Security
    );
}

#[tokio::test]
async fn root_use_opens_a_critical_incident() {
    let b = bench(Backend::IncidentManager);
    let root = b.ok(&fixture("cloudtrail-root-console-signin")).await;
    assert_eq!(root.action, Action::Opened, "{root:?}");
    assert_eq!(root.impact, Some(Impact::CRITICAL));
    let iam_user = b.ok(&fixture("cloudtrail-iamuser-console-signin")).await;
    assert_eq!(iam_user.action, Action::Ignored);
}

#[tokio::test]
async fn a_security_hub_batch_answers_for_every_finding() {
    let b = bench(Backend::IncidentManager);
    let answer = b.ok(&fixture("securityhub-findings-multiple")).await;
    assert_eq!(answer.signals.len(), 2, "{answer:?}");
    assert_eq!(answer.action, Action::Opened, "the HIGH finding opens");
    assert!(
        answer.signals.iter().any(|a| a.action == Action::Ignored),
        "the LOW one matches no rule"
    );
    assert!(
        answer.reason.starts_with("2 signals (1 opened"),
        "{}",
        answer.reason
    );
}

#[tokio::test]
async fn the_answer_has_the_contract_shape() {
    let b = bench(Backend::IncidentManager);
    let answer = b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-down")).await;
    let json = serde_json::to_value(&answer).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "action",
            "dedupe_key",
            "impact",
            "incident",
            "reason",
            "rule"
        ]
    );
    assert_eq!(json["action"], "opened");
    assert_eq!(json["impact"], 2);

    let ignored = serde_json::to_value(b.ok(&fixture("unknown-source")).await).unwrap();
    assert_eq!(ignored["action"], "ignored");
    assert!(
        ignored["rule"].is_null() && ignored["impact"].is_null() && ignored["incident"].is_null()
    );
}

#[test]
fn the_client_token_is_the_claims() {
    let rules = Rules::embedded().unwrap_or_else(|e| panic!("{e}"));
    let event = fixture("cloudwatch-alarm-vpn-tunnel-down");
    let signal = match crate::sources::parse(&event) {
        Ok(Parsed::Signals(s)) => s[0].clone(),
        other => panic!("{other:?}"),
    };
    let c = rules.classify(&signal).unwrap_or_else(|| panic!("no rule"));
    let token = opening_token(&c.dedupe_key, &signal.fingerprint, start());
    let a = new_incident(&signal, &c, "{}", &token);
    assert_eq!(a.client_token, token);
    assert!(a.client_token.len() <= 128);
    assert_eq!(
        opening_token(&c.dedupe_key, &signal.fingerprint, start()),
        token,
        "stable per claim"
    );
    assert_ne!(
        opening_token(&c.dedupe_key, "another-transition", start()),
        token
    );
    assert_ne!(
        opening_token(
            &c.dedupe_key,
            &signal.fingerprint,
            start() + chrono::Duration::seconds(1)
        ),
        token,
        "a later claim of the same key opens another incident"
    );
    assert!(a.summary.contains("Impact 2 (High)"), "{}", a.summary);
}

#[test]
fn an_alarm_named_with_spaces_keeps_its_arn_as_the_trigger() {
    let rules = Rules::embedded().unwrap_or_else(|e| panic!("{e}"));
    let mut event = fixture("cloudwatch-alarm-vpn-tunnel-down");
    let arn = "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:VPN tunnel down";
    event["resources"] = serde_json::json!([arn]);
    event["detail"]["alarmName"] = serde_json::json!("VPN tunnel down");
    let signal = match crate::sources::parse(&event) {
        Ok(Parsed::Signals(s)) => s[0].clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(signal.resource, arn);
    let c = rules.classify(&signal).unwrap_or_else(|| panic!("no rule"));
    let new = new_incident(&signal, &c, "{}", "tok");
    assert_eq!(new.trigger.arn.as_deref(), Some(arn));
    assert!(new
        .related_items
        .iter()
        .any(|i| i.value == RelatedValue::Arn(arn.to_string())));
}

/// `event` as its alarm's state change at `at` (the alarm's own state timestamp).
fn alarm_at(name: &str, at: &str) -> Value {
    let mut event = fixture(name);
    event["detail"]["state"]["timestamp"] = Value::String(at.to_string());
    event["id"] = Value::String(format!("{name}-{at}"));
    event
}

#[tokio::test]
async fn an_incident_closed_in_the_console_is_replaced_by_a_new_one_on_the_next_alarm() {
    for backend in [Backend::IncidentManager, Backend::OpsCenter] {
        let b = bench(backend);
        let first = b
            .ok(&alarm_at(
                "cloudwatch-alarm-vpn-tunnel-down",
                "2024-05-14T03:02:10.485+0000",
            ))
            .await;
        assert_eq!(first.action, Action::Opened);
        let old = b.incidents.incidents()[0].reference.clone();
        // A person resolves it in the console; no event reaches the responder.
        b.incidents.close_in_console(&old);
        b.clock.advance(Duration::hours(2));
        let next = b
            .ok(&alarm_at(
                "cloudwatch-alarm-vpn-tunnel-ip-down",
                "2024-05-14T05:02:40.617+0000",
            ))
            .await;
        assert_eq!(next.action, Action::Opened, "{next:?}");
        assert_ne!(next.incident, first.incident);
        assert!(
            next.reason.contains(&old.id) && next.reason.contains("closed outside the responder"),
            "{}",
            next.reason
        );
        assert_eq!(b.incidents.incidents().len(), 2);
        let row = &b.keys.records()[0];
        assert_eq!(row.status, KeyStatus::Open);
        assert_eq!(
            row.incident.as_ref().map(|i| i.id.clone()),
            next.incident.clone()
        );
        assert_eq!(
            b.kinds(),
            vec![LifecycleKind::IncidentOpened, LifecycleKind::IncidentOpened]
        );
    }
}

#[tokio::test]
async fn a_graver_root_sign_in_raises_the_incident_it_joins() {
    for backend in [Backend::IncidentManager, Backend::OpsCenter] {
        let b = bench(backend);
        let mut failed = fixture("cloudtrail-root-console-signin");
        failed["detail"]["responseElements"]["ConsoleLogin"] = Value::String("Failure".into());
        failed["detail"]["eventID"] = Value::String("failed-sign-in".into());
        let opened = b.ok(&failed).await;
        assert_eq!(
            (opened.action, opened.impact),
            (Action::Opened, Some(Impact::HIGH))
        );
        b.clock.advance(Duration::minutes(3));
        let success = fixture("cloudtrail-root-console-signin");
        let joined = b.ok(&success).await;
        assert_eq!(joined.action, Action::Joined, "{joined:?}");
        assert_eq!(joined.impact, Some(Impact::CRITICAL), "the answer's impact");
        assert!(
            joined
                .reason
                .contains("Impact raised from 2 (High) to 1 (Critical)"),
            "{}",
            joined.reason
        );
        let stored = &b.incidents.incidents()[0];
        assert_eq!(stored.impact, Impact::CRITICAL, "the backend's impact");
        assert!(stored
            .timeline
            .iter()
            .any(|e| matches!(e.kind, EntryKind::ImpactRaised { from: 2, to: 1, .. })));
        let updated = b.bus.events().pop().unwrap();
        assert_eq!(updated.kind, LifecycleKind::IncidentUpdated);
        assert_eq!(
            updated.detail.incident.impact,
            Impact::CRITICAL,
            "notify posts at the new impact"
        );
        assert_eq!(b.keys.records()[0].impact, Impact::CRITICAL);

        // A milder one joins without lowering it.
        b.clock.advance(Duration::minutes(1));
        failed["detail"]["eventID"] = Value::String("failed-again".into());
        let milder = b.ok(&failed).await;
        assert_eq!(
            (milder.action, milder.impact),
            (Action::Joined, Some(Impact::CRITICAL))
        );
        assert_eq!(b.incidents.incidents()[0].impact, Impact::CRITICAL);
    }
}

#[tokio::test]
async fn root_activity_joins_only_inside_its_correlation_window() {
    let b = bench(Backend::OpsCenter);
    let first = b.ok(&fixture("cloudtrail-root-console-signin")).await;
    assert_eq!(first.action, Action::Opened);
    let mut again = fixture("cloudtrail-root-api-call");
    b.clock.advance(Duration::minutes(50));
    again["detail"]["eventID"] = Value::String("inside".into());
    assert_eq!(b.ok(&again).await.action, Action::Joined);
    // Joins do not move the window: an hour after the opening, a new incident.
    b.clock.advance(Duration::minutes(11));
    again["detail"]["eventID"] = Value::String("after".into());
    let later = b.ok(&again).await;
    assert_eq!(later.action, Action::Opened, "{later:?}");
    assert_eq!(b.incidents.incidents().len(), 2);
}

#[tokio::test]
async fn an_older_alarm_after_a_newer_ok_changes_nothing() {
    let b = bench(Backend::IncidentManager);
    let down = alarm_at(
        "cloudwatch-alarm-vpn-tunnel-down",
        "2024-05-14T03:02:10.485+0000",
    );
    assert_eq!(b.ok(&down).await.action, Action::Opened);
    let ok = alarm_at(
        "cloudwatch-alarm-vpn-tunnel-ok",
        "2024-05-14T03:21:10.210+0000",
    );
    assert_eq!(b.ok(&ok).await.action, Action::Recovered);
    // An ALARM from before the OK, delivered late (an EventBridge retry).
    let late = alarm_at(
        "cloudwatch-alarm-vpn-tunnel-down",
        "2024-05-14T03:10:00.000+0000",
    );
    let answer = b.ok(&late).await;
    assert_eq!(answer.action, Action::Ignored, "{answer:?}");
    assert!(
        answer
            .reason
            .contains("recovered at 2024-05-14 03:21:10.210"),
        "{}",
        answer.reason
    );
    assert_eq!(b.keys.records()[0].status, KeyStatus::Recovered);
    assert_eq!(b.incidents.incidents().len(), 1);
    assert_eq!(
        b.kinds(),
        vec![
            LifecycleKind::IncidentOpened,
            LifecycleKind::SignalRecovered
        ]
    );
}

#[tokio::test]
async fn an_alarm_older_than_an_ok_seen_first_opens_nothing() {
    let b = bench(Backend::OpsCenter);
    let ok = alarm_at(
        "cloudwatch-alarm-vpn-tunnel-ok",
        "2024-05-14T03:21:10.210+0000",
    );
    assert_eq!(b.ok(&ok).await.action, Action::Ignored);
    let down = alarm_at(
        "cloudwatch-alarm-vpn-tunnel-down",
        "2024-05-14T03:02:10.485+0000",
    );
    let answer = b.ok(&down).await;
    assert_eq!(answer.action, Action::Ignored, "{answer:?}");
    assert!(answer.reason.contains("stale"), "{}", answer.reason);
    assert!(b.incidents.incidents().is_empty());
    assert!(b.keys.records().is_empty());
    // A newer ALARM does open.
    let newer = alarm_at(
        "cloudwatch-alarm-vpn-tunnel-down",
        "2024-05-14T03:30:00.000+0000",
    );
    assert_eq!(b.ok(&newer).await.action, Action::Opened);
}

#[tokio::test]
async fn a_take_over_of_a_lapsed_opening_opens_the_same_incident() {
    let b = bench(Backend::IncidentManager);
    let down = fixture("cloudwatch-alarm-vpn-tunnel-down");
    // The first invocation opens the incident, then its confirming write fails.
    b.keys
        .fail_next("confirm_open", 1, PortErrorKind::Unavailable);
    assert!(b.run(&down).await.is_err());
    assert_eq!(b.incidents.incidents().len(), 1);
    // Its lease runs out; another alarm on the VPN takes the key over.
    b.clock.advance(Duration::minutes(5));
    let other = b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-ip-down")).await;
    assert_eq!(other.action, Action::Opened, "{other:?}");
    assert_eq!(
        b.incidents.incidents().len(),
        1,
        "the same opening: one incident"
    );
    assert_eq!(
        other.incident.as_deref(),
        Some(b.incidents.incidents()[0].reference.id.as_str())
    );
    // The first one's retry joins it.
    let retry = b.ok(&down).await;
    assert_eq!(retry.action, Action::Joined, "{retry:?}");
    assert_eq!(retry.incident, other.incident);
    assert_eq!(b.incidents.incidents().len(), 1);
}

#[tokio::test]
async fn a_security_hub_copy_of_a_guardduty_finding_opens_nothing_more() {
    for first in ["guardduty-finding-high", "securityhub-finding-guardduty"] {
        let b = bench(Backend::OpsCenter);
        let (one, other) = if first.starts_with("guardduty") {
            (first, "securityhub-finding-guardduty")
        } else {
            (first, "guardduty-finding-high")
        };
        let answers = [b.ok(&fixture(one)).await, b.ok(&fixture(other)).await];
        let actions: Vec<Action> = answers.iter().map(|a| a.action).collect();
        assert!(
            actions.contains(&Action::Opened) && actions.contains(&Action::Ignored),
            "{answers:?}"
        );
        let copy = answers
            .iter()
            .find(|a| a.action == Action::Ignored)
            .map(|a| a.reason.clone())
            .unwrap_or_default();
        assert!(
            copy.contains("16afba5c5c43e07c9e3e5e2e544e95df") && copy.contains("guardduty-high"),
            "{copy}"
        );
        assert_eq!(b.incidents.incidents().len(), 1, "{first} first");
        assert_eq!(
            b.incidents.incidents()[0].request.rule_id,
            "guardduty-high",
            "GuardDuty's own rule"
        );
    }
}

/// A state table where the key is settled (resolve closing the incident) right before the
/// first join lands: the join must not revive it.
struct SettledBeforeTheJoin {
    inner: Arc<crate::memory::MemoryDedupe>,
    done: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl DedupeStore for SettledBeforeTheJoin {
    async fn claim(
        &self,
        claim: &crate::ports::Claim,
    ) -> Result<crate::ports::ClaimOutcome, PortError> {
        self.inner.claim(claim).await
    }
    async fn confirm_open(
        &self,
        key: &str,
        owner: &str,
        incident: &IncidentRef,
        expires_at: DateTime<Utc>,
    ) -> Result<(), PortError> {
        self.inner
            .confirm_open(key, owner, incident, expires_at)
            .await
    }
    async fn get(&self, key: &str) -> Result<Option<DedupeRecord>, PortError> {
        self.inner.get(key).await
    }
    async fn join(&self, join: &crate::ports::Join) -> Result<crate::ports::Joined, PortError> {
        if !self.done.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.inner
                .settle(
                    &join.key,
                    &join.incident_id,
                    crate::ports::SettleWhen::Closed,
                    join.at,
                    join.at + Duration::hours(24),
                )
                .await?;
        }
        self.inner.join(join).await
    }
    async fn clear(&self, clear: &crate::ports::Clear) -> Result<crate::ports::Cleared, PortError> {
        self.inner.clear(clear).await
    }
    async fn settle(
        &self,
        key: &str,
        incident_id: &str,
        when: crate::ports::SettleWhen,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<crate::ports::Settle, PortError> {
        self.inner
            .settle(key, incident_id, when, at, expires_at)
            .await
    }
}

#[tokio::test]
async fn a_join_never_revives_a_key_settled_under_it() {
    let fakes = Fakes::new(Backend::OpsCenter, start());
    let keys = Arc::new(SettledBeforeTheJoin {
        inner: fakes.keys.clone(),
        done: std::sync::atomic::AtomicBool::new(false),
    });
    let triage = fakes.shell(Triage::new(
        Rules::embedded().unwrap(),
        fakes.incidents.clone(),
        fakes.incidents.clone(),
        keys,
        fakes.changes.clone(),
    ));
    let first = fakes
        .run(&triage, &fixture("cloudwatch-alarm-vpn-tunnel-down"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.action, Action::Opened);
    fakes.clock.advance(Duration::minutes(1));
    let second = fakes
        .run(&triage, &fixture("cloudwatch-alarm-vpn-tunnel-ip-down"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // The key was settled between the read and the join: the signal went back through the
    // firing path and opened a new incident, instead of joining a resolved one.
    assert_eq!(second.action, Action::Opened, "{second:?}");
    assert_ne!(second.incident, first.incident);
    let row = &fakes.keys.records()[0];
    assert_eq!(row.status, KeyStatus::Open);
    assert_eq!(row.incident.as_ref().map(|i| i.id.clone()), second.incident);
}

#[tokio::test]
async fn missing_data_is_not_noted_on_an_incident_closed_in_the_console() {
    let b = bench(Backend::IncidentManager);
    let opened = b
        .ok(&alarm_at(
            "cloudwatch-alarm-vpn-tunnel-down",
            "2024-05-14T03:02:10.485+0000",
        ))
        .await;
    assert_eq!(opened.action, Action::Opened);
    let incident = b.incidents.incidents()[0].reference.clone();
    b.incidents.close_in_console(&incident);
    let mut no_data = fixture("cloudwatch-alarm-insufficient-data");
    no_data["detail"]["state"]["timestamp"] = Value::String("2024-05-14T04:00:00.000+0000".into());
    let answer = b.ok(&no_data).await;
    assert_eq!(answer.rule.as_deref(), Some("vpn-tunnel-down"));
    assert_eq!(answer.action, Action::Ignored, "{answer:?}");
    assert!(answer.reason.contains("RESOLVED"), "{}", answer.reason);
    assert_eq!(b.keys.records()[0].status, KeyStatus::Resolved);
    assert!(b.incidents.incidents()[0].timeline.is_empty());
}

#[tokio::test]
async fn a_recovery_during_an_unfinished_opening_waits_for_it_and_is_not_lost() {
    let b = bench(Backend::IncidentManager);
    let down = alarm_at(
        "cloudwatch-alarm-vpn-tunnel-down",
        "2024-05-14T03:02:10.485+0000",
    );
    // The opening fails after the claim (the bus is down): the key stays `opening`.
    b.bus.fail_next(1, PortErrorKind::Unavailable);
    assert!(b.run(&down).await.is_err());
    assert_eq!(b.keys.records()[0].status, KeyStatus::Open);
    // Past the claimer's lease, the alarm's OK arrives before the retry.
    b.clock.advance(Duration::minutes(2));
    let ok = alarm_at(
        "cloudwatch-alarm-vpn-tunnel-ok",
        "2024-05-14T03:04:00.000+0000",
    );
    let early = b.run(&ok).await;
    assert!(early.is_ok(), "{early:?}");
    // The retry of the ALARM is older than the OK, but it is this signal's own opening:
    // it is finished, not ignored.
    let retried = b.ok(&down).await;
    assert_eq!(retried.action, Action::Opened, "{retried:?}");
    assert_eq!(b.incidents.incidents().len(), 1);
}

#[tokio::test]
async fn a_recovery_while_an_opening_lapsed_is_an_error_to_retry() {
    let b = bench(Backend::IncidentManager);
    let down = alarm_at(
        "cloudwatch-alarm-vpn-tunnel-down",
        "2024-05-14T03:02:10.485+0000",
    );
    // The opening fails before the incident exists: the key stays `opening`.
    b.incidents.fail_next("open", 1, PortErrorKind::Unavailable);
    assert!(b.run(&down).await.is_err());
    assert_eq!(b.keys.records()[0].status, KeyStatus::Opening);
    b.clock.advance(Duration::minutes(2));
    let ok = alarm_at(
        "cloudwatch-alarm-vpn-tunnel-ok",
        "2024-05-14T03:04:00.000+0000",
    );
    match b.run(&ok).await {
        Err(e) => assert_eq!(e.error_type(), "OpeningInProgress", "{e}"),
        Ok(answer) => panic!("a recovery must not be lost to a lapsed opening: {answer:?}"),
    }
    // The ALARM's retry finishes the opening (its own, though an older change now) ...
    assert_eq!(b.ok(&down).await.action, Action::Opened);
    // ... and the OK's retry recovers it.
    assert_eq!(b.ok(&ok).await.action, Action::Recovered);
}

#[tokio::test]
async fn a_deleted_incident_is_replaced_like_a_closed_one() {
    let b = bench(Backend::OpsCenter);
    let first = b
        .ok(&alarm_at(
            "cloudwatch-alarm-vpn-tunnel-down",
            "2024-05-14T03:02:10.485+0000",
        ))
        .await;
    assert_eq!(first.action, Action::Opened);
    b.incidents
        .fail_next("standing", 1, PortErrorKind::NotFound);
    let next = b
        .ok(&alarm_at(
            "cloudwatch-alarm-vpn-tunnel-ip-down",
            "2024-05-14T03:05:00.000+0000",
        ))
        .await;
    assert_eq!(next.action, Action::Opened, "{next:?}");
    assert!(next.reason.contains("deleted"), "{}", next.reason);
}

#[tokio::test]
async fn a_failed_newest_state_write_fails_the_invocation_before_anything_happens() {
    let b = bench(Backend::OpsCenter);
    let down = fixture("cloudwatch-alarm-vpn-tunnel-down");
    b.changes.fail_next(1, PortErrorKind::Throttled);
    match b.run(&down).await {
        Err(e) => assert_eq!(e.error_type(), "Throttled", "{e}"),
        Ok(answer) => panic!("must fail for Lambda to retry: {answer:?}"),
    }
    assert!(b.incidents.incidents().is_empty());
    assert!(b.keys.records().is_empty());
    // The retry: the same occurrence is its own newest change.
    assert_eq!(b.ok(&down).await.action, Action::Opened);
}
