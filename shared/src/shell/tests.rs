use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::*;
use crate::domain::LifecycleKind;
use crate::handlers::testkit::to_envelope;
use crate::handlers::testkit::Fakes;
use crate::memory::{MemoryBus, MemoryRunOnce};
use crate::ports::{Clock, PortErrorKind};

/// A stage that counts its work, fails when told, and announces what it did.
#[derive(Default)]
struct Counter {
    calls: AtomicUsize,
    fail: AtomicUsize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Counted {
    call: usize,
    reason: String,
}

impl Outcome for Counted {
    fn action(&self) -> &'static str {
        "counted"
    }
    fn incident(&self) -> Option<&str> {
        None
    }
    fn reason(&self) -> &str {
        &self.reason
    }
}

#[async_trait]
impl Stage for Counter {
    const NAME: &'static str = "counter";
    const TAKES: &'static str = "`Incident Opened` from incident.responder";
    const PUBLISHES: bool = true;
    type Input = BusEvent;
    type Answer = Counted;
    type Error = StageError;

    async fn handle(&self, input: BusEvent, cx: &Invocation<'_>) -> Result<Counted, StageError> {
        let key = format!("counter#{}", input.event.detail.incident.id);
        let replay = |first: Option<Counted>| {
            let first = first.unwrap();
            Counted {
                reason: format!("replayed: {}", first.reason),
                ..first
            }
        };
        cx.once(&key, replay, |_| async {
            let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            cx.publish(LifecycleKind::IncidentUpdated, input.event.detail.clone())
                .await?;
            if self.fail.load(Ordering::SeqCst) > 0 {
                self.fail.fetch_sub(1, Ordering::SeqCst);
                return Err(PortError::new("Work", PortErrorKind::Unavailable, "down").into());
            }
            Ok(Counted {
                call,
                reason: format!(
                    "call {call} from {} {}",
                    input.origin.account, input.origin.region
                ),
            })
        })
        .await
    }
}

/// A responder-bus event, as the bus delivers it.
async fn opened(fakes: &Fakes) -> Value {
    let event = fakes
        .opened_by_triage("cloudwatch-alarm-vpn-tunnel-down")
        .await;
    to_envelope(&event, "111122223333", "eu-west-1")
}

fn fakes() -> Fakes {
    Fakes::new(
        crate::domain::Backend::OpsCenter,
        Utc.with_ymd_and_hms(2026, 11, 21, 4, 0, 0).unwrap(),
    )
}

#[tokio::test]
async fn work_runs_once_and_a_redelivery_replays_its_answer() {
    let fakes = fakes();
    let mut event = opened(&fakes).await;
    event["account"] = json!("444455556666");
    event["region"] = json!("eu-central-1");
    fakes.clock.advance(chrono::Duration::milliseconds(90_500));
    let shell = fakes.shell(Counter::default());
    let first = fakes.run(&shell, &event).await.unwrap();
    assert_eq!(first.call, 1);
    assert_eq!(
        first.reason, "call 1 from 444455556666 eu-central-1",
        "the envelope's account and region"
    );
    let again = fakes.run(&shell, &event).await.unwrap();
    assert_eq!(again.call, 1);
    assert_eq!(
        again.reason,
        "replayed: call 1 from 444455556666 eu-central-1"
    );
    assert_eq!(shell.stage.calls.load(Ordering::SeqCst), 1);
    let published: Vec<_> = fakes.bus.events().into_iter().skip(1).collect();
    assert_eq!(published.len(), 1, "announced once");
    assert_ne!(published[0].time, fakes.bus.events()[0].time);
    assert_eq!(published[0].time, fakes.clock.now(), "timed by the clock");
}

#[tokio::test]
async fn an_envelope_without_account_or_region_falls_back_to_the_signals() {
    let fakes = fakes();
    let mut event = opened(&fakes).await;
    event.as_object_mut().unwrap().remove("account");
    event["region"] = json!("");
    let shell = fakes.shell(Counter::default());
    let first = fakes.run(&shell, &event).await.unwrap();
    let signal = &event["detail"]["signal"];
    assert_eq!(
        first.reason,
        format!(
            "call 1 from {} {}",
            signal["account"].as_str().unwrap(),
            signal["region"].as_str().unwrap()
        )
    );
}

#[tokio::test]
async fn a_failure_releases_the_key_and_a_held_key_fails_to_be_retried() {
    let fakes = fakes();
    let event = opened(&fakes).await;
    let shell = fakes.shell(Counter::default());
    shell.stage.fail.store(1, Ordering::SeqCst);
    let failed = fakes.run(&shell, &event).await.unwrap_err();
    assert_eq!(failed.error_type(), "ServiceUnavailable");
    // Lambda's retry starts at once: the failed invocation released the key.
    assert_eq!(fakes.run(&shell, &event).await.unwrap().call, 2);

    let other = fakes.opened_by_triage("cloudwatch-alarm-composite").await;
    let other = to_envelope(&other, "111122223333", "eu-west-1");
    let key = format!(
        "counter#{}",
        other["detail"]["incident"]["id"].as_str().unwrap()
    );
    let now = fakes.clock.now();
    fakes
        .runs
        .begin(
            &key,
            now,
            now + Duration::minutes(1),
            now + Duration::days(1),
        )
        .await
        .unwrap();
    let busy = fakes.run(&shell, &other).await.unwrap_err();
    assert_eq!(busy.error_type(), "EventInProgress");
    assert!(busy.to_string().contains(&key), "{busy}");
}

#[tokio::test]
async fn payloads_it_does_not_take_name_the_stage_and_what_it_takes() {
    let fakes = fakes();
    let shell = fakes.shell(Counter::default());
    let cases = [
        (
            json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change"}),
            "UnknownEvent",
            "the counter stage does not handle this `aws.cloudwatch` `CloudWatch Alarm State Change` event (it takes `Incident Opened` from incident.responder)",
        ),
        (
            json!([1, 2]),
            "UnknownEvent",
            "payload that is not a JSON object",
        ),
        (
            json!({"hello": "world"}),
            "UnknownEvent",
            "payload without an EventBridge source and detail-type",
        ),
        (
            json!({"source": "incident.responder", "detail-type": "Incident Exploded", "detail": {}}),
            "UnknownEvent",
            "detail-type `Incident Exploded` is not a lifecycle event",
        ),
        (
            json!({"source": "incident.responder", "detail-type": "Incident Opened", "detail": {"incident": {}}}),
            "MalformedEvent",
            "responder bus `Incident Opened` event: detail.incident: missing field",
        ),
    ];
    for (event, error_type, says) in cases {
        let e = fakes.run(&shell, &event).await.unwrap_err();
        assert_eq!(e.error_type(), error_type, "{event}");
        assert!(e.to_string().contains(says), "{e} (expected {says:?})");
    }
    assert_eq!(shell.stage.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_stage_without_a_bus_cannot_publish() {
    let fakes = fakes();
    let event = opened(&fakes).await;
    let shell = Shell::new(
        Counter::default(),
        Arc::new(MemoryRunOnce::new()),
        fakes.clock.clone(),
    );
    let refused = shell.ready().unwrap_err();
    assert!(refused.contains("counter stage publishes"), "{refused}");
    let e = fakes.run(&shell, &event).await.unwrap_err();
    assert_eq!(e.error_type(), "InvalidRequest");
    assert!(e.to_string().contains("no responder bus"), "{e}");

    let bus = Arc::new(MemoryBus::new());
    bus.fail_next(1, PortErrorKind::Throttled);
    let shell = Shell::new(
        Counter::default(),
        Arc::new(MemoryRunOnce::new()),
        fakes.clock.clone(),
    )
    .with_bus(bus.clone());
    assert_eq!(shell.ready(), Ok(()));
    let e = fakes.run(&shell, &event).await.unwrap_err();
    assert_eq!(
        e.error_type(),
        "Throttled",
        "a refused event fails the invocation"
    );
    assert_eq!(fakes.run(&shell, &event).await.unwrap().call, 2);
    assert_eq!(bus.events().len(), 1);
}
