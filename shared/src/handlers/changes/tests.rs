//! The changes stage on the fakes: what changed for a VPN incident, what cannot be read, and
//! re-delivery.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

use super::*;
use crate::changes::{StackFacts, TrailEvent};
use crate::diagnosis::{Diagnosis, VpnFacts};
use crate::domain::{Backend, EntryKind};
use crate::handlers::testkit::{to_envelope, Fakes};
use crate::memory::{MemoryHealth, MemoryStacks, MemoryTrail};
use crate::ports::PortErrorKind;
use crate::shell::{Failure, Shell};

const VPN: &str = "vpn-0123456789abcdef0";
const STACK_ARN: &str =
    "arn:aws:cloudformation:eu-west-1:111122223333:stack/partner-vpn/0a1b2c3d-4e5f-6789-abcd-ef0123456789";

fn at(h: u32, m: u32) -> DateTime<Utc> {
    // The fixture's alarm fires at 2024-05-14 03:02:10 UTC.
    Utc.with_ymd_and_hms(2024, 5, 14, h, m, 0).unwrap()
}

struct Bench {
    fakes: Fakes,
    trail: Arc<MemoryTrail>,
    stacks: Arc<MemoryStacks>,
    health: Arc<MemoryHealth>,
    shell: Shell<ChangesStage>,
}

fn bench(backend: Backend) -> Bench {
    bench_remembering(backend, None)
}

/// A bench whose state-table references are `references` (another bench's), if given.
fn bench_remembering(
    backend: Backend,
    references: Option<Arc<crate::memory::MemoryReferences>>,
) -> Bench {
    let mut fakes = Fakes::new(backend, at(4, 0));
    if let Some(references) = references {
        fakes.references = references;
    }
    let trail = Arc::new(MemoryTrail::new());
    let stacks = Arc::new(MemoryStacks::new());
    let health = Arc::new(MemoryHealth::new());
    let shell = fakes.shell(ChangesStage::new(
        fakes.incidents.clone(),
        trail.clone(),
        stacks.clone(),
        health.clone(),
        fakes.references.clone(),
        Duration::hours(3),
        10,
    ));
    Bench {
        fakes,
        trail,
        stacks,
        health,
        shell,
    }
}

fn write(id: &str, name: &str, time: DateTime<Utc>, by: &str) -> TrailEvent {
    TrailEvent {
        id: id.into(),
        name: name.into(),
        source: Some("ec2.amazonaws.com".into()),
        time,
        by: Some(by.into()),
        read_only: Some(false),
    }
}

impl Bench {
    /// Triage opens the VPN incident; `Incident Enriched` follows with the connection, tagged by
    /// its stack.
    async fn enriched(&self) -> Value {
        let mut event = self
            .fakes
            .opened_by_triage("cloudwatch-alarm-vpn-tunnel-down")
            .await;
        let connection = serde_json::from_value(json!({
            "id": VPN,
            "state": "available",
            "tags": {"aws:cloudformation:stack-name": "partner-vpn", "Name": "partner"}
        }))
        .unwrap();
        event.kind = LifecycleKind::IncidentEnriched;
        event.detail.diagnosis = Some(Diagnosis {
            summary: "Tunnel 1 DOWN".into(),
            instance: None,
            vpn: Some(VpnFacts {
                connection,
                gateway: None,
                customer_gateway: None,
                tunnel_history: Vec::new(),
            }),
            notes: Vec::new(),
        });
        to_envelope(&event, "111122223333", "eu-west-1")
    }

    async fn run(&self, payload: &Value) -> Result<ChangesAnswer, StageError> {
        self.fakes.run(&self.shell, payload).await
    }
}

#[tokio::test]
async fn a_vpn_incident_lists_the_writes_on_its_connection_and_its_stack_update() {
    for backend in [Backend::OpsCenter, Backend::IncidentManager] {
        let b = bench(backend);
        b.trail.record(
            VPN,
            write("ev-1", "ModifyVpnTunnelOptions", at(2, 41), "alice"),
        );
        b.trail
            .record(VPN, write("ev-0", "CreateTags", at(1, 10), "deploy-role"));
        // Older than the look-back, and a read: neither is listed.
        b.trail
            .record(VPN, write("ev-old", "CreateTags", at(0, 0), "bob"));
        let mut read = write("ev-read", "DescribeVpnConnections", at(3, 50), "carol");
        read.read_only = Some(true);
        b.trail.record(VPN, read);
        b.stacks.add(StackFacts {
            name: "partner-vpn".into(),
            id: STACK_ARN.into(),
            status: "UPDATE_COMPLETE".into(),
            reason: None,
            created: at(1, 0) - Duration::days(30),
            last_updated: Some(at(2, 30)),
        });
        let enriched = b.enriched().await;
        let answer = b.run(&enriched).await.unwrap();
        assert_eq!(answer.action, ChangesAction::Gathered, "{answer:?}");
        assert_eq!(answer.count, 3, "{answer:?}");
        assert!(
            answer.summary.starts_with(
                "3 changes from 3 h before the signal until it was diagnosed (calls of the last minutes may not show yet); the latest: ModifyVpnTunnelOptions on vpn-0123456789abcdef0 at 2024-05-14 02:41 UTC by alice"
            ),
            "{}",
            answer.summary
        );
        assert_eq!(b.trail.calls(), vec![VPN.to_string()]);

        let incident = &b.fakes.incidents.incidents()[0];
        let entry = incident
            .timeline
            .iter()
            .find(|e| matches!(e.kind, EntryKind::Changes { count: 3 }))
            .expect("a changes entry");
        let lines: Vec<&str> = entry.text.lines().collect();
        assert_eq!(
            &lines[1..],
            [
                "Stack partner-vpn: UPDATE_COMPLETE, last changed 2024-05-14 02:30 UTC",
                "- ModifyVpnTunnelOptions on vpn-0123456789abcdef0 at 2024-05-14 02:41 UTC by alice",
                "- UPDATE_COMPLETE on stack partner-vpn at 2024-05-14 02:30 UTC",
                "- CreateTags on vpn-0123456789abcdef0 at 2024-05-14 01:10 UTC by deploy-role",
            ]
        );
        assert!(incident
            .related_items
            .iter()
            .any(|i| i.title == "Stack partner-vpn"));

        let published = b.fakes.bus.events();
        let gathered = published.last().unwrap();
        assert_eq!(gathered.kind, LifecycleKind::ChangesGathered);
        let changes = gathered.detail.changes.as_ref().unwrap();
        assert_eq!(
            changes.since,
            Utc.with_ymd_and_hms(2024, 5, 14, 0, 2, 10).unwrap() + Duration::milliseconds(485),
            "3 h before the alarm fired"
        );
        assert_eq!(changes.items[0].event.as_deref(), Some("ev-1"));
        assert!(changes.gathered);
        assert_eq!(changes.stack.as_ref().unwrap().status, "UPDATE_COMPLETE");

        // Re-delivered: the first answer, nothing written or looked up again.
        let again = b.run(&enriched).await.unwrap();
        assert_eq!(again, answer);
        assert_eq!(b.trail.calls().len(), 1);
        assert_eq!(b.fakes.bus.events().len(), published.len());
    }
}

#[tokio::test]
async fn what_cannot_be_read_is_not_gathered_and_throttling_is_retried() {
    let b = bench(Backend::OpsCenter);
    b.trail.fail_next(1, PortErrorKind::AccessDenied);
    let enriched = b.enriched().await;
    let answer = b.run(&enriched).await.unwrap();
    assert_eq!(answer.action, ChangesAction::Gathered);
    assert_eq!(
        answer.notes,
        vec![
            "CloudTrail: not gathered for vpn-0123456789abcdef0: AccessDenied".to_string(),
            "CloudFormation: not gathered for partner-vpn: it no longer exists".to_string(),
        ]
    );
    assert_eq!(
        answer.summary,
        "What changed could not be gathered: CloudTrail: not gathered for vpn-0123456789abcdef0: AccessDenied",
        "nothing was looked at: never \"nothing changed\""
    );

    let throttled = bench(Backend::OpsCenter);
    throttled.trail.fail_next(1, PortErrorKind::Throttled);
    let enriched = throttled.enriched().await;
    let err = throttled.run(&enriched).await.unwrap_err();
    assert_eq!(err.error_type(), "Throttled", "{err}");
    // Lambda's retry finds the run-once key released and does the work.
    let retried = throttled.run(&enriched).await.unwrap();
    assert_eq!(retried.action, ChangesAction::Gathered, "{retried:?}");
}

#[tokio::test]
async fn other_lifecycle_events_are_ignored() {
    let b = bench(Backend::OpsCenter);
    let opened = b
        .fakes
        .opened_by_triage("cloudwatch-alarm-vpn-tunnel-down")
        .await;
    let answer = b
        .run(&to_envelope(&opened, "111122223333", "eu-west-1"))
        .await
        .unwrap();
    assert_eq!(answer.action, ChangesAction::Ignored);
    assert!(b.trail.calls().is_empty());
}

#[tokio::test]
async fn a_signal_of_another_region_is_not_looked_up_here_and_other_services_calls_are_left_out() {
    let b = bench(Backend::OpsCenter);
    let enriched = b.enriched().await;
    let answer = b
        .shell
        .handle_invoked(
            &enriched,
            at(4, 1),
            "arn:aws:lambda:us-east-1:111122223333:function:responder-changes",
        )
        .await
        .unwrap();
    assert!(b.trail.calls().is_empty(), "nothing looked up in us-east-1");
    assert!(
        answer.summary.starts_with(
            "What changed could not be gathered: the signal is from account 111122223333 in eu-west-1"
        ),
        "{}",
        answer.summary
    );

    // Same region: a call of another service on a resource of the same name is not this one's.
    let b = bench(Backend::OpsCenter);
    let mut other = write("ev-s3", "PutBucketPolicy", at(2, 0), "bob");
    other.source = Some("s3.amazonaws.com".into());
    b.trail.record(VPN, other);
    b.trail
        .record(VPN, write("ev-ec2", "CreateTags", at(2, 5), "alice"));
    let enriched = b.enriched().await;
    let answer = b.run(&enriched).await.unwrap();
    assert_eq!(answer.count, 1, "{answer:?}");
}

fn vpn_issue() -> crate::changes::HealthIssue {
    crate::changes::HealthIssue {
        arn: "arn:aws:health:eu-west-1::event/VPN/AWS_VPN_CONNECTIVITY_ISSUE/AWS_VPN_CONNECTIVITY_ISSUE_A1".into(),
        service: "VPN".into(),
        event_type: "AWS_VPN_CONNECTIVITY_ISSUE".into(),
        region: "eu-west-1".into(),
        availability_zone: None,
        start: Some(at(2, 50)),
        last_updated: None,
    }
}

#[tokio::test]
async fn an_open_aws_health_issue_of_the_service_is_listed() {
    let b = bench(Backend::IncidentManager);
    b.health.add(vpn_issue());
    let enriched = b.enriched().await;
    let answer = b.run(&enriched).await.unwrap();
    assert!(
        answer.summary.ends_with("; AWS Health: 1 open issue"),
        "{}",
        answer.summary
    );
    assert_eq!(b.health.calls(), ["VPN@eu-west-1"]);
    let incident = &b.fakes.incidents.incidents()[0];
    let entry = incident
        .timeline
        .iter()
        .find(|e| matches!(e.kind, EntryKind::Changes { .. }))
        .expect("a changes entry");
    assert!(entry.text.contains(
        "\nAWS Health: AWS_VPN_CONNECTIVITY_ISSUE (VPN, eu-west-1) open since 2024-05-14 02:50 UTC"
    ), "{}", entry.text);
    let gathered = b.fakes.bus.events().last().unwrap().clone();
    assert_eq!(gathered.detail.changes.unwrap().health, [vpn_issue()]);
}

#[tokio::test]
async fn without_a_support_plan_health_is_said_once_and_not_asked_again() {
    let first = bench(Backend::OpsCenter);
    first.health.unsubscribe();
    let enriched = first.enriched().await;
    // The first attempt fails on its write: nothing is remembered, and Lambda's retry asks and
    // says it again.
    first
        .fakes
        .incidents
        .fail_next("add_timeline", 1, PortErrorKind::Unavailable);
    assert!(first.run(&enriched).await.is_err());
    let answer = first.run(&enriched).await.unwrap();
    assert_eq!(
        answer.notes.last(),
        Some(&health::NO_PLAN.to_string()),
        "{answer:?}"
    );
    assert!(
        !answer.summary.contains("could not be gathered"),
        "{}",
        answer.summary
    );
    assert_eq!(first.health.calls().len(), 2, "the retry asks again");

    // The account's next incident (another one: these fakes number each backend's from 1): no
    // call, no note.
    let next = bench_remembering(
        Backend::IncidentManager,
        Some(first.fakes.references.clone()),
    );
    next.health.unsubscribe();
    let enriched = next.enriched().await;
    let answer = next.run(&enriched).await.unwrap();
    assert!(
        !answer.notes.iter().any(|n| n.starts_with("AWS Health")),
        "{answer:?}"
    );
    assert!(next.health.calls().is_empty());

    // Health throttled or out past the SDK's retries: a note; what changed is still written.
    let throttled = bench(Backend::OpsCenter);
    throttled.health.fail_next(1, PortErrorKind::Unavailable);
    let enriched = throttled.enriched().await;
    let answer = throttled.run(&enriched).await.unwrap();
    assert_eq!(
        answer.notes.last().map(String::as_str),
        Some("AWS Health: not gathered for VPN: unavailable")
    );
}
