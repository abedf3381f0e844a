use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

use super::*;
use crate::chatbot::assert_valid;
use crate::console;
use crate::diagnosis::RunbookRun;
use crate::domain::{Backend, Impact, ReportLink, Resolution, SignalState};
use crate::handlers::testkit::to_envelope;
use crate::memory::{ManualClock, MemoryNotifier, MemoryReferences, MemoryRunOnce};
use crate::ports::{AttributeValue, Begin, Clock, PortErrorKind, RunOnceStore};
use crate::shell::Shell;

const ACCOUNT: &str = "111122223333";
const REGION: &str = "eu-west-1";
const VPN: &str = "vpn-0123456789abcdef0";
const INCIDENT: &str = "arn:aws:ssm-incidents::111122223333:incident-record/responder/00000001";
const ALARM_ARN: &str =
    "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:vpn-tunnel-down-vpn-0123456789abcdef0";
const VPN_ARN: &str = "arn:aws:ec2:eu-west-1:111122223333:vpn-connection/vpn-0123456789abcdef0";
const EXECUTION: &str = "4c1a6e2d-9b7f-4e0a-8d3c-2f5b6a7c8d9e";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 14, 3, 2, 10).unwrap()
}

fn at(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

// ---------------------------------------------------------------------------------------------
// The VPN story, with fixed inputs.

/// The incident triage opens for the VPN alarm fixture: impact 2, Incident Manager.
fn opened_detail() -> LifecycleDetail {
    let detail = json!({
        "incident": {
            "backend": "incident-manager",
            "id": INCIDENT,
            "title": "Site-to-Site VPN vpn-0123456789abcdef0: tunnel down",
            "impact": 2,
            "severity": "high",
            "rule": "vpn-tunnel-down",
            "service": "site-to-site-vpn",
            "tier": "business",
            "dedupe_key": "vpn-tunnel-down:vpn-0123456789abcdef0",
            "resources": [ALARM_ARN, VPN_ARN],
            "runbook": {
                "document": "AWSSupport-TroubleshootVPN",
                "parameters": {"VpnConnectionId": "{vpn.id}"}
            },
            "auto_resolve": true,
            "next_steps": [
                "Check the tunnel status and status message in the VPC console (Site-to-Site VPN connections).",
                "Read the AWSSupport-TroubleshootVPN output on the incident timeline.",
                "Check the customer gateway device for IKE/IPsec errors and recent configuration changes."
            ]
        },
        "signal": {
            "source": "aws.cloudwatch",
            "detail_type": "CloudWatch Alarm State Change",
            "kind": "metric_alarm",
            "state": "firing",
            "account": ACCOUNT,
            "region": REGION,
            "time": "2024-05-14T03:02:10.485Z",
            "event_id": "8f3e6a1c-5b7d-2e4f-9a0b-1c2d3e4f5a6b",
            "fingerprint": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            "resource": ALARM_ARN,
            "resources": [ALARM_ARN, VPN_ARN],
            "summary": "vpn-tunnel-down-vpn-0123456789abcdef0: ALARM — Threshold Crossed: 3 out of the last 3 datapoints [0.0 (14/05/24 02:59:00), 0.0 (14/05/24 02:58:00), 0.0 (14/05/24 02:57:00)] was less than the threshold (1.0) (minimum 3 datapoints for OK -> ALARM transition).",
            "alarm_name": "vpn-tunnel-down-vpn-0123456789abcdef0",
            "metrics": [{
                "namespace": "AWS/VPN",
                "name": "TunnelState",
                "dimensions": {"VpnId": VPN},
                "stat": "Minimum",
                "period": 60,
                "return_data": true
            }]
        },
        "reason": "Opened an incident in Incident Manager, impact 2 (High), for rule vpn-tunnel-down: Site-to-Site VPN vpn-0123456789abcdef0: tunnel down.",
        "signal_count": 1
    });
    serde_json::from_value(detail).unwrap_or_else(|e| panic!("opened detail: {e}"))
}

fn diagnosis() -> crate::diagnosis::Diagnosis {
    serde_json::from_value(json!({
        "summary": "vpn-0123456789abcdef0 (available): tunnel 203.0.113.10 DOWN since 2024-05-14 03:01 UTC, tunnel 203.0.113.11 UP",
        "vpn": {
            "connection": {
                "id": VPN,
                "state": "available",
                "category": "VPN",
                "vpn_type": "ipsec.1",
                "customer_gateway_id": "cgw-0123456789abcdef0",
                "vpn_gateway_id": "vgw-0123456789abcdef0",
                "tunnels": [
                    {
                        "outside_ip": "203.0.113.10",
                        "status": "DOWN",
                        "status_message": "IPSEC IS DOWN",
                        "last_status_change": "2024-05-14T03:01:02Z",
                        "accepted_routes": 0
                    },
                    {
                        "outside_ip": "203.0.113.11",
                        "status": "UP",
                        "last_status_change": "2024-05-13T22:14:40Z",
                        "accepted_routes": 2
                    }
                ]
            },
            "customer_gateway": {"id": "cgw-0123456789abcdef0", "ip_address": "198.51.100.7"}
        },
        "notes": ["Tunnel 203.0.113.11 does not log to CloudWatch Logs."]
    }))
    .unwrap_or_else(|e| panic!("diagnosis: {e}"))
}

fn run(status: &str) -> RunbookRun {
    let mut outputs = BTreeMap::new();
    let mut failure_message = None;
    if status == "Success" {
        outputs.insert(
            "TroubleshootVPN.Summary".to_string(),
            vec!["Tunnel 203.0.113.10: IKE phase 1 negotiation failed (no proposal chosen); check the customer gateway's IKE settings.".to_string()],
        );
    } else if status != "InProgress" {
        failure_message = Some("Step fails when it is Executing. Fail message: An error occurred (AccessDeniedException) when calling the StartQuery operation".to_string());
    }
    RunbookRun {
        document: "AWSSupport-TroubleshootVPN".to_string(),
        execution_id: EXECUTION.to_string(),
        status: status.to_string(),
        parameters: [
            ("VpnConnectionId", VPN),
            ("TunnelAIPAddress", "203.0.113.10"),
            ("TunnelBIPAddress", "203.0.113.11"),
            ("IKEVersion", "IKEv2"),
            ("LogGroupName", "/vpn/tunnels"),
            ("LookBackPeriod", "03"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
        .collect(),
        outputs,
        failure_message,
    }
}

fn recovered_signal(detail: &mut LifecycleDetail, minutes: i64) {
    detail.signal.state = SignalState::Recovered;
    detail.signal.time = at(minutes);
    detail.signal.fingerprint = format!("recovered-{minutes:04}");
    detail.signal.summary = "vpn-tunnel-down-vpn-0123456789abcdef0: OK — Threshold Crossed: 3 out of the last 3 datapoints [1.0 (14/05/24 03:46:00), 1.0 (14/05/24 03:45:00), 1.0 (14/05/24 03:44:00)] was not less than the threshold (1.0).".to_string();
}

/// One lifecycle event of the story.
struct Step {
    name: &'static str,
    kind: LifecycleKind,
    time: DateTime<Utc>,
    detail: LifecycleDetail,
}

fn story() -> Vec<Step> {
    let opened = opened_detail();
    let mut diagnosed = opened.clone();
    diagnosed.reason = "Described vpn-0123456789abcdef0: one tunnel down.".to_string();
    diagnosed.diagnosis = Some(diagnosis());
    let mut started = diagnosed.clone();
    started.reason = format!("Runbook AWSSupport-TroubleshootVPN started (execution {EXECUTION}).");
    started.automation = Some(run("InProgress"));
    let mut finished = diagnosed.clone();
    finished.reason =
        format!("Runbook AWSSupport-TroubleshootVPN finished: Success (execution {EXECUTION}).");
    finished.automation = Some(run("Success"));
    let mut recovered = opened.clone();
    recovered_signal(&mut recovered, 45);
    recovered.reason = "The signal cleared; the incident holding `vpn-tunnel-down:vpn-0123456789abcdef0` is marked recovered (auto-resolve after verification).".to_string();
    recovered.signal_count = Some(3);
    let mut awaiting = recovered.clone();
    awaiting.reason = "Signal recovered; waiting for a responder to resolve.".to_string();
    awaiting.resolution = Some(Resolution {
        status: ResolutionStatus::AwaitingResponder,
        verified: false,
        checks: vec![
            "DescribeVpnConnections: tunnel 203.0.113.10 of vpn-0123456789abcdef0 is still DOWN (IPSEC IS DOWN)".to_string(),
            "DescribeAlarms: vpn-tunnel-down-vpn-0123456789abcdef0 is OK".to_string(),
        ],
        waiting_reason: Some(
            "verification failed: tunnel 203.0.113.10 of vpn-0123456789abcdef0 is still DOWN."
                .to_string(),
        ),
        report: None,
        time_to_resolve_secs: None,
        resolved_by: None,
    });
    let mut resolved = opened.clone();
    recovered_signal(&mut resolved, 50);
    resolved.reason = "Resolved after verification.".to_string();
    resolved.signal_count = Some(3);
    resolved.resolution = Some(Resolution {
        status: ResolutionStatus::Resolved,
        verified: true,
        checks: vec![
            "DescribeVpnConnections: both tunnels of vpn-0123456789abcdef0 are UP".to_string(),
            "DescribeAlarms: vpn-tunnel-down-vpn-0123456789abcdef0 is OK".to_string(),
        ],
        waiting_reason: None,
        report: Some(ReportLink {
            uri: "s3://responder-reports/2024/05/14/00000001.md".to_string(),
            url: "https://s3.console.aws.amazon.com/s3/object/responder-reports?region=eu-west-1&prefix=2024/05/14/00000001.md".to_string(),
        }),
        time_to_resolve_secs: Some(2_880),
        resolved_by: None,
    });
    vec![
        Step {
            name: "opened",
            kind: LifecycleKind::IncidentOpened,
            time: at(0),
            detail: opened,
        },
        Step {
            name: "diagnosed",
            kind: LifecycleKind::IncidentEnriched,
            time: at(1),
            detail: diagnosed,
        },
        Step {
            name: "runbook-started",
            kind: LifecycleKind::RunbookStarted,
            time: at(2),
            detail: started,
        },
        Step {
            name: "runbook-finished",
            kind: LifecycleKind::RunbookFinished,
            time: at(9),
            detail: finished,
        },
        Step {
            name: "recovered",
            kind: LifecycleKind::SignalRecovered,
            time: at(45),
            detail: recovered,
        },
        Step {
            name: "awaiting",
            kind: LifecycleKind::IncidentUpdated,
            time: at(46),
            detail: awaiting,
        },
        Step {
            name: "resolved",
            kind: LifecycleKind::IncidentResolved,
            time: at(50),
            detail: resolved,
        },
    ]
}

fn envelope(kind: LifecycleKind, time: DateTime<Utc>, detail: &LifecycleDetail) -> Value {
    let event = LifecycleEvent {
        kind,
        time,
        detail: detail.clone(),
    };
    to_envelope(&event, ACCOUNT, REGION)
}

fn step_event(step: &Step) -> Value {
    envelope(step.kind, step.time, &step.detail)
}

/// `Incident Updated` from triage: another signal joined (the incident now has `count`).
fn joined_event(detail: &LifecycleDetail, count: u64, time: DateTime<Utc>) -> Value {
    let mut d = detail.clone();
    d.signal_count = Some(count);
    d.signal.time = time;
    d.signal.fingerprint = format!("joined-{count:05}");
    d.reason = format!(
        "Joined the open incident \"{}\" (key `{}`, {count} signals so far).",
        d.incident.title, d.incident.dedupe_key
    );
    envelope(LifecycleKind::IncidentUpdated, time, &d)
}

fn with_impact(detail: &LifecycleDetail, impact: u8) -> LifecycleDetail {
    let mut d = detail.clone();
    d.incident.impact = Impact::new(impact).unwrap_or(Impact::HIGH);
    d
}

// ---------------------------------------------------------------------------------------------
// The bench.

struct Bench {
    notifier: Arc<MemoryNotifier>,
    runs: Arc<MemoryRunOnce>,
    references: Arc<MemoryReferences>,
    clock: Arc<ManualClock>,
    notify: Arc<Shell<Notify>>,
}

fn bench() -> Bench {
    bench_with(NotificationPolicy::default())
}

fn bench_with(policy: NotificationPolicy) -> Bench {
    let notifier = Arc::new(MemoryNotifier::new());
    let runs = Arc::new(MemoryRunOnce::new());
    let references = Arc::new(MemoryReferences::new());
    let clock = Arc::new(ManualClock::new(t0()));
    let notify = Arc::new(Shell::new(
        Notify::new(notifier.clone(), references.clone(), policy),
        runs.clone(),
        clock.clone(),
    ));
    Bench {
        notifier,
        runs,
        references,
        clock,
        notify,
    }
}

impl Bench {
    async fn run(&self, event: &Value) -> Result<NotifyAnswer, NotifyError> {
        let deadline = self.clock.now() + Duration::seconds(10);
        let result = self.notify.handle(event, deadline).await;
        self.check_published();
        result
    }

    async fn ok(&self, event: &Value) -> NotifyAnswer {
        self.run(event)
            .await
            .unwrap_or_else(|e| panic!("notify failed ({}): {e}", e.error_type()))
    }

    /// Every message published so far is a valid Chatbot custom notification.
    fn check_published(&self) {
        for notification in self.notifier.published() {
            assert_valid(&notification.message);
        }
    }

    fn published(&self) -> Vec<Notification> {
        self.check_published();
        self.notifier.published()
    }

    fn messages(&self) -> Vec<Value> {
        self.published()
            .iter()
            .map(|n| {
                serde_json::from_str(&n.message).unwrap_or_else(|e| panic!("{e}: {}", n.message))
            })
            .collect()
    }

    /// The published message bodies, as posted ("title\ndescription").
    fn texts(&self) -> Vec<String> {
        self.messages()
            .iter()
            .map(|m| {
                format!(
                    "{}\n{}",
                    m["content"]["title"].as_str().unwrap_or(""),
                    m["content"]["description"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    fn steps(&self) -> Vec<String> {
        self.published()
            .iter()
            .map(|n| match n.attributes.get("step") {
                Some(AttributeValue::String(step)) => step.clone(),
                other => panic!("no step attribute: {other:?}"),
            })
            .collect()
    }
}

fn action(answer: &NotifyAnswer) -> NotifyAction {
    answer.action
}

// ---------------------------------------------------------------------------------------------
// Posting each step.

#[tokio::test]
async fn the_vpn_story_at_impact_2_posts_every_step_once_in_one_thread() {
    let b = bench();
    for step in story() {
        b.clock.set(step.time);
        let answer = b.ok(&step_event(&step)).await;
        assert_eq!(
            action(&answer),
            NotifyAction::Posted,
            "{}: {answer:?}",
            step.name
        );
        assert_eq!(answer.incident.as_deref(), Some(INCIDENT));
        assert!(answer.message_id.is_some(), "{answer:?}");
        // The same event again: nothing more.
        let again = b.ok(&step_event(&step)).await;
        assert_eq!(
            action(&again),
            NotifyAction::Ignored,
            "{}: {again:?}",
            step.name
        );
        assert_eq!(again.message_id, answer.message_id);
    }
    assert_eq!(
        b.steps(),
        [
            "opened",
            "diagnosed",
            "runbook",
            "runbook",
            "recovered",
            "resolved",
            "resolved"
        ]
    );
    let messages = b.messages();
    let thread = thread_id(INCIDENT);
    for m in &messages {
        assert_eq!(m["metadata"]["threadId"], json!(thread));
        assert_eq!(m["content"]["textType"], json!("client-markdown"));
        assert_eq!(
            m["content"]["keywords"],
            json!(["Impact 2 (High)", "site-to-site-vpn", ACCOUNT, REGION])
        );
        let title = m["content"]["title"].as_str().unwrap_or("");
        assert!(
            title.contains("[Impact 2 · High] site-to-site-vpn — "),
            "{title}"
        );
        assert_eq!(
            m["metadata"]["additionalContext"]["incident"],
            json!(INCIDENT)
        );
        assert_eq!(
            m["metadata"]["additionalContext"]["rule"],
            json!("vpn-tunnel-down")
        );
    }
    // nextSteps on opened, diagnosed and awaiting only.
    let with_next_steps: Vec<bool> = messages
        .iter()
        .map(|m| m["content"].get("nextSteps").is_some())
        .collect();
    assert_eq!(
        with_next_steps,
        [true, true, false, false, false, true, false]
    );
    // The report's URI joins the related resources of the resolved message.
    assert_eq!(
        messages[6]["metadata"]["relatedResources"],
        json!([
            ALARM_ARN,
            VPN_ARN,
            "s3://responder-reports/2024/05/14/00000001.md"
        ])
    );
}

#[tokio::test]
async fn attributes_let_subscribers_filter_by_impact_service_step_and_rule() {
    let b = bench();
    let steps = story();
    b.ok(&step_event(&steps[0])).await;
    let published = b.published();
    let attributes = &published[0].attributes;
    assert_eq!(
        attributes,
        &BTreeMap::from([
            ("impact".to_string(), AttributeValue::Number("2".into())),
            (
                "service".to_string(),
                AttributeValue::String("site-to-site-vpn".into())
            ),
            ("step".to_string(), AttributeValue::String("opened".into())),
            (
                "rule".to_string(),
                AttributeValue::String("vpn-tunnel-down".into())
            ),
        ])
    );
}

#[tokio::test]
async fn the_impact_decides_which_steps_post() {
    let joined_at = |b: &Bench, d: &LifecycleDetail| {
        b.clock.set(at(30));
        joined_event(d, 2, at(30))
    };
    for (impact, expected) in [
        (
            1,
            vec![
                "opened",
                "joined",
                "diagnosed",
                "runbook",
                "runbook",
                "recovered",
                "resolved",
                "resolved",
            ],
        ),
        (3, vec!["opened", "diagnosed", "resolved", "resolved"]),
        (4, vec!["opened", "resolved", "resolved"]),
        (5, vec!["opened", "resolved", "resolved"]),
    ] {
        let b = bench();
        let mut posted = Vec::new();
        let mut skipped = Vec::new();
        let steps = story();
        for (i, step) in steps.iter().enumerate() {
            let detail = with_impact(&step.detail, impact);
            b.clock.set(step.time);
            let answer = b.ok(&envelope(step.kind, step.time, &detail)).await;
            match answer.action {
                NotifyAction::Posted => posted.push(step.name),
                NotifyAction::Skipped => {
                    assert!(
                        answer.reason.starts_with(&format!("Impact {impact} (")),
                        "{answer:?}"
                    );
                    skipped.push(step.name)
                }
                other => panic!("impact {impact}, {}: {other:?}", step.name),
            }
            if i == 0 {
                // A joined signal long after the opening post.
                let answer = b.ok(&joined_at(&b, &detail)).await;
                assert!(
                    matches!(answer.action, NotifyAction::Posted | NotifyAction::Skipped),
                    "{answer:?}"
                );
            }
        }
        assert_eq!(b.steps(), expected, "impact {impact}");
    }
    // The reason names what the impact posts.
    let b = bench();
    let detail = with_impact(&story()[1].detail, 4);
    let answer = b
        .ok(&envelope(LifecycleKind::IncidentEnriched, at(1), &detail))
        .await;
    assert_eq!(answer.action, NotifyAction::Skipped);
    assert_eq!(answer.step, Some(NotifyStep::Diagnosed));
    assert_eq!(
        answer.reason,
        "Impact 4 (Low) posts only opened, resolved, escalation; `diagnosed` (Incident Enriched) is not posted."
    );
}

#[tokio::test]
async fn a_redelivered_event_posts_once() {
    let b = bench();
    let event = step_event(&story()[0]);
    let first = b.ok(&event).await;
    assert_eq!(first.action, NotifyAction::Posted);
    b.clock.advance(Duration::hours(3));
    let again = b.ok(&event).await;
    assert_eq!(again.action, NotifyAction::Ignored, "{again:?}");
    assert_eq!(again.step, Some(NotifyStep::Opened));
    assert!(
        again.reason.starts_with("Already posted (message "),
        "{again:?}"
    );
    assert_eq!(b.published().len(), 1);
}

#[tokio::test]
async fn an_unreadable_stored_answer_still_names_the_incident_and_step() {
    let b = bench();
    let event = step_event(&story()[0]);
    let first = b.ok(&event).await;
    b.runs.spoil_answers();
    let again = b.ok(&event).await;
    assert_eq!(again.action, NotifyAction::Ignored, "{again:?}");
    assert_eq!(again.incident, first.incident);
    assert_eq!(again.step, Some(NotifyStep::Opened));
    assert_eq!(again.reason, "Already posted; nothing done.");
    assert_eq!(b.published().len(), 1);
}

#[tokio::test]
async fn a_duplicate_publication_with_another_eventbridge_id_posts_once() {
    let b = bench();
    let steps = story();
    for step in [&steps[0], &steps[3]] {
        let first = step_event(step);
        let mut duplicate = envelope(step.kind, step.time + Duration::seconds(7), &step.detail);
        duplicate["id"] = json!("a-different-eventbridge-id");
        assert_ne!(first["id"], duplicate["id"]);
        assert_eq!(b.ok(&first).await.action, NotifyAction::Posted);
        assert_eq!(b.ok(&duplicate).await.action, NotifyAction::Ignored);
    }
    assert_eq!(b.steps(), ["opened", "runbook"]);
}

#[tokio::test]
async fn each_recovery_of_an_incident_posts_but_each_only_once() {
    let b = bench();
    let steps = story();
    let recovered = &steps[4];
    b.ok(&step_event(recovered)).await;
    b.ok(&step_event(recovered)).await;
    // The signal fired and recovered again (flapping): a new recovery, a new post.
    let mut again = recovered.detail.clone();
    recovered_signal(&mut again, 70);
    let answer = b
        .ok(&envelope(LifecycleKind::SignalRecovered, at(70), &again))
        .await;
    assert_eq!(answer.action, NotifyAction::Posted);
    assert_eq!(b.steps(), ["recovered", "recovered"]);
}

#[tokio::test]
async fn a_step_another_invocation_is_posting_is_an_error_to_retry() {
    let b = bench();
    let now = b.clock.now();
    let key = format!("notify#{INCIDENT}#opened");
    let begun = b
        .runs
        .begin(
            &key,
            now,
            now + Duration::minutes(1),
            now + Duration::days(1),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(begun, Begin::Started);
    let e = b.run(&step_event(&story()[0])).await.err();
    assert_eq!(e.as_ref().map(Failure::error_type), Some("EventInProgress"));
    assert!(b.published().is_empty());
}

#[tokio::test]
async fn a_failed_publish_fails_the_invocation_and_the_retry_posts_exactly_once() {
    let b = bench();
    let event = step_event(&story()[1]);
    b.notifier.fail_next(1, PortErrorKind::Unavailable);
    let e = b.run(&event).await.err();
    assert_eq!(
        e.as_ref().map(Failure::error_type),
        Some("ServiceUnavailable"),
        "{e:?}"
    );
    assert!(b.published().is_empty());
    // Lambda's retry: the key was released, so it posts now.
    let retry = b.ok(&event).await;
    assert_eq!(retry.action, NotifyAction::Posted);
    let again = b.ok(&event).await;
    assert_eq!(again.action, NotifyAction::Ignored);
    assert_eq!(b.steps(), ["diagnosed"]);
}

#[tokio::test]
async fn a_state_table_failure_before_posting_fails_without_posting() {
    let b = bench();
    b.runs.fail_next("begin", 1, PortErrorKind::Throttled);
    let e = b.run(&step_event(&story()[0])).await.err();
    assert_eq!(e.as_ref().map(Failure::error_type), Some("Throttled"));
    assert!(b.published().is_empty());
    assert_eq!(
        b.ok(&step_event(&story()[0])).await.action,
        NotifyAction::Posted
    );
}

/// The guarantee is at least once: a post is never lost, and repeats only in the window between
/// SNS accepting it and the state table recording it.
#[tokio::test]
async fn a_post_whose_record_fails_is_posted_again_never_lost() {
    let b = bench();
    let event = step_event(&story()[1]);
    b.runs.fail_next("complete", 1, PortErrorKind::Unavailable);
    let e = b.run(&event).await.err();
    assert_eq!(
        e.as_ref().map(Failure::error_type),
        Some("ServiceUnavailable"),
        "{e:?}"
    );
    assert_eq!(b.published().len(), 1, "SNS took it");
    // Lambda's retry posts it again: the thread shows the step twice, never zero times.
    assert_eq!(b.ok(&event).await.action, NotifyAction::Posted);
    assert_eq!(b.steps(), ["diagnosed", "diagnosed"]);
    // After that it is recorded: a re-delivery posts nothing.
    assert_eq!(b.ok(&event).await.action, NotifyAction::Ignored);
    assert_eq!(b.published().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Storms of joined signals.

#[tokio::test]
async fn a_storm_of_joined_signals_is_summed_up_once_per_interval() {
    let b = bench();
    let opened = opened_detail();
    b.ok(&envelope(LifecycleKind::IncidentOpened, at(0), &opened))
        .await;
    // 50 signals join within the 15-minute interval after the opening post: none posts.
    for n in 0..50_u64 {
        let time = t0() + Duration::seconds(10 + i64::try_from(n).unwrap_or(0) * 17);
        b.clock.set(time);
        let answer = b.ok(&joined_event(&opened, n + 2, time)).await;
        assert_eq!(answer.action, NotifyAction::Throttled, "{n}: {answer:?}");
        assert_eq!(answer.step, Some(NotifyStep::Joined));
    }
    assert_eq!(b.steps(), ["opened"]);
    // After the interval: one update counting all of them.
    b.clock.set(at(16));
    let answer = b.ok(&joined_event(&opened, 52, at(16))).await;
    assert_eq!(answer.action, NotifyAction::Posted, "{answer:?}");
    let texts = b.texts();
    let update = texts.last().cloned().unwrap();
    assert!(
        update.starts_with(
            ":heavy_plus_sign: [Impact 2 · High] site-to-site-vpn — 51 more signals joined: "
        ),
        "{update}"
    );
    assert!(
        update.contains("*51 more signals joined* since the last update (2024-05-14 03:02:10 UTC) — 52 in total."),
        "{update}"
    );
    // Right after it, throttled again; then the next interval counts from 52.
    b.clock.set(at(17));
    let answer = b.ok(&joined_event(&opened, 53, at(17))).await;
    assert_eq!(answer.action, NotifyAction::Throttled);
    assert!(
        answer
            .reason
            .contains("no sooner than 2024-05-14 03:33:10 UTC"),
        "{answer:?}"
    );
    b.clock.set(at(32));
    let answer = b.ok(&joined_event(&opened, 60, at(32))).await;
    assert_eq!(answer.action, NotifyAction::Posted);
    let update = b.texts().last().cloned().unwrap();
    assert!(
        update.contains("*8 more signals joined* since the last update (2024-05-14 03:18:10 UTC) — 60 in total."),
        "{update}"
    );
    // A late re-delivery of an older join after yet another interval: nothing new to say.
    b.clock.set(at(50));
    let answer = b.ok(&joined_event(&opened, 60, at(31))).await;
    assert_eq!(answer.action, NotifyAction::Ignored, "{answer:?}");
    assert_eq!(b.steps(), ["opened", "joined", "joined"]);
}

#[tokio::test]
async fn without_an_opening_post_the_first_join_posts_and_the_storm_after_it_does_not() {
    // Impact 1 posts joins; the opening post was made before this function had a state row.
    let b = bench();
    let opened = with_impact(&opened_detail(), 1);
    for n in 0..50_u64 {
        let time = t0() + Duration::seconds(i64::try_from(n).unwrap_or(0) * 10);
        b.clock.set(time);
        b.ok(&joined_event(&opened, n + 2, time)).await;
    }
    let texts = b.texts();
    assert_eq!(texts.len(), 1, "{texts:#?}");
    assert!(
        texts[0].contains("*1 more signal joined* since the incident opened — 2 in total."),
        "{}",
        texts[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_joined_deliveries_post_once() {
    let b = bench();
    let opened = opened_detail();
    b.ok(&envelope(LifecycleKind::IncidentOpened, at(0), &opened))
        .await;
    b.clock.set(at(20));
    let deliveries = 24_u64;
    let barrier = Arc::new(tokio::sync::Barrier::new(deliveries as usize));
    let mut handles = Vec::new();
    for n in 0..deliveries {
        let notify = b.notify.clone();
        let barrier = barrier.clone();
        let event = joined_event(&opened, n + 2, at(20));
        let deadline = at(20) + Duration::seconds(10);
        handles.push(tokio::spawn(async move {
            barrier.wait().await;
            notify.handle(&event, deadline).await
        }));
    }
    // (`futures::join_all` is not a dependency; awaiting the spawned tasks in turn is the same.)
    let mut answers = Vec::new();
    for handle in handles {
        let answer = handle
            .await
            .unwrap_or_else(|e| panic!("task: {e}"))
            .unwrap_or_else(|e| panic!("notify failed ({}): {e}", e.error_type()));
        answers.push(answer.action);
    }
    let posted = answers
        .iter()
        .filter(|a| **a == NotifyAction::Posted)
        .count();
    assert_eq!(posted, 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, NotifyAction::Posted | NotifyAction::Throttled)),
        "{answers:?}"
    );
    assert_eq!(b.steps(), ["opened", "joined"]);
}

#[tokio::test]
async fn a_lost_record_of_the_last_update_is_repaired_without_a_second_post() {
    let b = bench();
    let opened = opened_detail();
    b.ok(&envelope(LifecycleKind::IncidentOpened, at(0), &opened))
        .await;
    b.clock.set(at(16));
    b.references
        .fail_next("remember", 1, PortErrorKind::Unavailable);
    let answer = b.ok(&joined_event(&opened, 5, at(16))).await;
    assert_eq!(
        answer.action,
        NotifyAction::Posted,
        "the post is out: no error"
    );
    // The state table still has the opening post as the last update: this invocation competes
    // for the key already used, finds the update made there, and repairs the record.
    b.clock.set(at(17));
    let answer = b.ok(&joined_event(&opened, 6, at(17))).await;
    assert_eq!(answer.action, NotifyAction::Throttled, "{answer:?}");
    b.clock.set(at(20));
    let answer = b.ok(&joined_event(&opened, 7, at(20))).await;
    assert_eq!(answer.action, NotifyAction::Throttled, "{answer:?}");
    assert!(
        answer
            .reason
            .contains("last updated at 2024-05-14 03:18:10 UTC"),
        "{answer:?}"
    );
    b.clock.set(at(32));
    b.ok(&joined_event(&opened, 8, at(32))).await;
    let texts = b.texts();
    assert_eq!(texts.len(), 3, "{texts:#?}");
    assert!(texts[2].contains("*3 more signals joined*"), "{}", texts[2]);
}

#[tokio::test]
async fn a_no_data_note_posts_as_an_update() {
    let b = bench();
    let opened = opened_detail();
    b.ok(&envelope(LifecycleKind::IncidentOpened, at(0), &opened))
        .await;
    let mut note = opened.clone();
    note.signal.state = SignalState::Informational;
    note.signal.time = at(20);
    note.signal.summary = "vpn-tunnel-down-vpn-0123456789abcdef0: INSUFFICIENT_DATA".to_string();
    note.reason = "Noted on the incident holding `vpn-tunnel-down:vpn-0123456789abcdef0`: the signal has no data (neither firing nor recovered).".to_string();
    b.clock.set(at(20));
    let answer = b
        .ok(&envelope(LifecycleKind::IncidentUpdated, at(20), &note))
        .await;
    assert_eq!(answer.action, NotifyAction::Posted, "{answer:?}");
    let text = b.texts().last().cloned().unwrap();
    assert!(text.contains("— Update: Site-to-Site VPN"), "{text}");
    assert!(text.contains("*Update:* Noted on the incident"), "{text}");
    assert!(
        text.contains("*Latest (no data):* vpn-tunnel-down"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// Events that are not ours.

#[tokio::test]
async fn unknown_and_malformed_events_are_errors_naming_what_was_wrong() {
    let b = bench();
    let path = format!(
        "{}/../tests/fixtures/events/unknown-source.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let unknown: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let mut not_lifecycle = step_event(&story()[0]);
    not_lifecycle["detail-type"] = json!("Incident Exploded");
    let mut no_incident = step_event(&story()[0]);
    if let Some(detail) = no_incident["detail"].as_object_mut() {
        detail.remove("incident");
    }
    let mut bad_impact = step_event(&story()[0]);
    bad_impact["detail"]["incident"]["impact"] = json!(9);
    let mut no_automation = step_event(&story()[2]);
    if let Some(detail) = no_automation["detail"].as_object_mut() {
        detail.remove("automation");
    }
    let cases = [
        (
            unknown,
            "UnknownEvent",
            "`aws.autoscaling` `EC2 Instance Launch Successful` event",
        ),
        (
            json!([1, 2]),
            "UnknownEvent",
            "payload that is not a JSON object",
        ),
        (
            json!({"hello": "world"}),
            "UnknownEvent",
            "without an EventBridge source",
        ),
        (
            not_lifecycle,
            "UnknownEvent",
            "detail-type `Incident Exploded`",
        ),
        (no_incident, "MalformedEvent", "missing field `incident`"),
        (bad_impact, "MalformedEvent", "detail.incident.impact"),
        (
            no_automation,
            "MalformedEvent",
            "detail.automation is missing",
        ),
    ];
    for (event, error_type, says) in cases {
        let e = b.run(&event).await.err();
        assert_eq!(
            e.as_ref().map(Failure::error_type),
            Some(error_type),
            "{event}: {e:?}"
        );
        let message = e.map(|e| e.to_string()).unwrap();
        assert!(message.contains(says), "{message:?} should say {says:?}");
    }
    assert!(b.published().is_empty());
}

#[test]
fn an_invalid_message_is_a_loud_error() {
    let e = NotifyError::InvalidMessage(vec!["content.description: must not be empty".into()]);
    assert_eq!(e.error_type(), "InvalidMessage");
    assert!(e
        .to_string()
        .contains("content.description: must not be empty"));
}

// ---------------------------------------------------------------------------------------------
// Any input renders a valid message.

#[tokio::test]
async fn messages_that_would_be_too_long_are_trimmed_and_still_valid() {
    let b = bench_with(NotificationPolicy::default());
    let long = |unit: &str, n: usize| unit.repeat(n);
    let mut steps = story();
    for step in &mut steps {
        let d = &mut step.detail;
        d.incident.title = format!("<!channel> {}", long("Tunnel down — ", 100));
        d.incident.service = long("service-", 40);
        d.incident.rule = long("rule-", 200);
        d.incident.next_steps = (0..30)
            .map(|i| format!("{i}: {}", long("do this ", 200)))
            .collect();
        d.incident.resources = (0..40)
            .map(|i| format!("arn:aws:ec2:eu-west-1:111122223333:instance/i-{i:017}"))
            .chain([long("x", 2_000)])
            .collect();
        d.signal.summary = format!("{}\u{0}\u{7}", long("ALARM ✓ <@U123> ", 1_000));
        d.reason = long("because ", 2_000);
        if let Some(diagnosis) = &mut d.diagnosis {
            diagnosis.summary = long("𝄞", 5_000);
            diagnosis.notes = (0..40)
                .map(|i| format!("note {i} {}", long("n", 900)))
                .collect();
        }
        if let Some(run) = &mut d.automation {
            run.outputs = (0..40)
                .map(|i| (format!("Output{i}"), vec![long("o", 5_000)]))
                .collect();
            run.failure_message = Some(long("failure ", 1_000));
        }
        if let Some(resolution) = &mut d.resolution {
            resolution.checks = (0..40)
                .map(|i| format!("check {i} {}", long("c", 900)))
                .collect();
            resolution.waiting_reason = Some(long("waiting ", 1_000));
        }
        b.clock.set(step.time);
        let answer = b.ok(&step_event(step)).await;
        assert_eq!(
            answer.action,
            NotifyAction::Posted,
            "{}: {answer:?}",
            step.name
        );
    }
    // A joined update too.
    b.clock.set(at(20));
    let answer = b.ok(&joined_event(&steps[0].detail, 9, at(20))).await;
    assert_eq!(answer.action, NotifyAction::Posted, "{answer:?}");
    let messages = b.messages();
    assert_eq!(messages.len(), 8);
    for m in &messages {
        let title = m["content"]["title"].as_str().unwrap_or("");
        assert!(title.chars().count() <= chatbot::TITLE_MAX);
        assert!(
            title.contains("[Impact 2 · High] service-service-"),
            "{title}"
        );
        let text = m.to_string();
        assert!(
            !text.contains("<!channel>"),
            "a mention got through: {title}"
        );
        assert!(!text.contains("<@U123>"), "a mention got through");
        assert!(!text.contains("\\u0000"), "a control character got through");
    }
}

// ---------------------------------------------------------------------------------------------
// Other backends and partitions.

#[tokio::test]
async fn an_opsitem_is_linked_in_its_console() {
    let b = bench();
    let mut detail = opened_detail();
    detail.incident.backend = Backend::OpsCenter;
    detail.incident.id = "oi-0123456789ab".to_string();
    b.ok(&envelope(LifecycleKind::IncidentOpened, at(0), &detail))
        .await;
    let text = b.texts().join("\n");
    assert!(
        text.contains("*Incident:* <https://eu-west-1.console.aws.amazon.com/systems-manager/opsitems/oi-0123456789ab?region=eu-west-1|OpsItem oi-0123456789ab>"),
        "{text}"
    );
}

#[test]
fn console_links_follow_the_partition() {
    assert_eq!(console::host("cn-north-1"), "console.amazonaws.cn");
    assert_eq!(
        console::host("us-gov-west-1"),
        "console.amazonaws-us-gov.com"
    );
    let (label, url) = console::resource_page(
        "arn:aws-cn:cloudwatch:cn-north-1:111122223333:alarm:a b",
        "eu-west-1",
    )
    .unwrap();
    assert_eq!(label, "Alarm a b");
    assert_eq!(
        url,
        "https://console.amazonaws.cn/cloudwatch/home?region=cn-north-1#alarmsV2:alarm/a%20b"
    );
    assert_eq!(
        console::resource_page("vpn-0123456789abcdef0", "eu-west-1").map(|(_, u)| u),
        Some("https://eu-west-1.console.aws.amazon.com/vpcconsole/home?region=eu-west-1#VpnConnectionDetails:VpnConnectionId=vpn-0123456789abcdef0".to_string())
    );
    assert_eq!(
        console::resource_page("arn:aws:s3:::bucket", "eu-west-1"),
        None
    );
}

// ---------------------------------------------------------------------------------------------
// Snapshots of the VPN story's messages.

#[tokio::test]
async fn the_vpn_story_renders_as_the_snapshots_say() {
    let update = std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1");
    let dir = format!(
        "{}/src/handlers/notify/snapshots",
        env!("CARGO_MANIFEST_DIR")
    );
    let b = bench();
    let mut failures = Vec::new();
    for step in story() {
        b.clock.set(step.time);
        b.ok(&step_event(&step)).await;
        let message = b.messages().last().cloned().unwrap_or(Value::Null);
        let rendered = serde_json::to_string_pretty(&message).unwrap() + "\n";
        let path = format!("{dir}/{}.json", step.name);
        if update {
            std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{dir}: {e}"));
            std::fs::write(&path, &rendered).unwrap_or_else(|e| panic!("{path}: {e}"));
            continue;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e} (run with UPDATE_SNAPSHOTS=1 to write it)"));
        if expected != rendered {
            failures.push(format!(
                "{path} differs (UPDATE_SNAPSHOTS=1 rewrites it); rendered now:\n{rendered}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Escalation posts.

#[tokio::test]
async fn a_page_mentions_only_the_rules_user_groups_and_every_message_names_the_buttons_function() {
    let with_team = crate::rules::DEFAULT_RULES.replace(
        "    secondary: { topic: secondary }\n",
        "    secondary: { topic: secondary }\n    team: { slack: { usergroup: S0123ABCD } }\n",
    );
    assert_ne!(with_team, crate::rules::DEFAULT_RULES);
    let rules = crate::rules::Rules::from_yaml(&with_team).unwrap();
    let notifier = Arc::new(MemoryNotifier::new());
    let shell = Shell::new(
        Notify::new(
            notifier.clone(),
            Arc::new(MemoryReferences::new()),
            NotificationPolicy::default(),
        )
        .with_escalation(rules.escalation().clone())
        .with_buttons(Some("responder-escalate".into())),
        Arc::new(MemoryRunOnce::new()),
        Arc::new(ManualClock::new(t0())),
    );
    let mut detail = opened_detail();
    // Text from the signal that looks like a mention stays text.
    detail.incident.title = "<!channel> tunnel down".into();
    detail.escalation = Some(crate::domain::EscalationNote {
        policy: Some("page-now".into()),
        stage: Some(1),
        round: Some(2),
        paged: vec!["primary".into(), "team".into(), "S999FORGED".into()],
        exhausted: false,
        unanswered_secs: 300,
        acknowledged_by: None,
        via: None,
    });
    let deadline = t0() + Duration::seconds(10);
    let event = envelope(LifecycleKind::IncidentEscalated, at(5), &detail);
    let answer = shell.handle(&event, deadline).await.unwrap();
    assert_eq!(answer.action, NotifyAction::Posted);
    assert_eq!(answer.step, Some(NotifyStep::Escalation));
    // The same page again posts nothing.
    let again = shell.handle(&event, deadline).await.unwrap();
    assert_eq!(again.action, NotifyAction::Ignored);
    let mut ack = detail.clone();
    ack.escalation = Some(crate::domain::EscalationNote {
        paged: vec![],
        stage: None,
        round: None,
        acknowledged_by: Some("someone in Slack".into()),
        via: Some("slack".into()),
        unanswered_secs: 420,
        ..detail.escalation.clone().unwrap()
    });
    let event = envelope(LifecycleKind::IncidentAcknowledged, at(7), &ack);
    assert_eq!(
        shell.handle(&event, deadline).await.unwrap().action,
        NotifyAction::Posted
    );
    let published = notifier.published();
    assert_eq!(published.len(), 2);
    let page: Value = serde_json::from_str(&published[0].message).unwrap();
    assert_valid(&published[0].message);
    let text = page["content"]["description"].as_str().unwrap();
    assert!(text.contains("<!subteam^S0123ABCD>"), "{text}");
    assert!(!text.contains("S999FORGED>"), "{text}");
    assert!(text.contains("*Unanswered for:* 5 min"), "{text}");
    assert!(!page.to_string().contains("<!channel>"), "{page}");
    assert_eq!(
        page["metadata"]["additionalContext"]["escalate"],
        json!("responder-escalate")
    );
    let acknowledged: Value = serde_json::from_str(&published[1].message).unwrap();
    assert!(acknowledged["content"]["description"]
        .as_str()
        .unwrap()
        .contains("*Paging stopped.*"));
    assert_eq!(
        acknowledged["metadata"]["threadId"],
        page["metadata"]["threadId"]
    );
}

// ---------------------------------------------------------------------------------------------
// Quiet hours.

fn silence_event(change: crate::domain::SilenceChange, minutes: i64) -> Value {
    let mut d = opened_detail();
    d.silence = Some(crate::domain::SilenceNote {
        change,
        by: "someone in Slack".into(),
        until: at(60),
        until_resolved: false,
    });
    envelope(LifecycleKind::IncidentSilenced, at(minutes), &d)
}

#[tokio::test]
async fn a_silence_posts_who_and_until_when_then_mutes_all_but_the_resolution() {
    let b = bench();
    let set = b
        .ok(&silence_event(crate::domain::SilenceChange::Set, 1))
        .await;
    assert_eq!(action(&set), NotifyAction::Posted, "{set:?}");
    let text = b.texts().pop().unwrap();
    assert!(text.contains("Silenced"), "{text}");
    assert!(
        text.contains("someone in Slack until 2024-05-14 04:02:10 UTC"),
        "{text}"
    );
    let message = b.messages().pop().unwrap();
    assert_eq!(
        message["metadata"]["additionalContext"]["silenced"],
        json!("yes"),
        "the Lift silence button"
    );

    // The row escalate wrote: notify reads it and mutes the joined update and the recovery.
    let silence = crate::quiet::Silence {
        incident: INCIDENT.into(),
        by: "someone in Slack".into(),
        set_at: at(1),
        until: at(60),
        until_resolved: false,
        lifted_at: None,
    };
    let row = crate::quiet::silence_key("vpn-tunnel-down:vpn-0123456789abcdef0");
    crate::quiet::write(b.references.as_ref(), &row, &silence, at(120))
        .await
        .unwrap();
    b.clock.set(at(5));
    let joined = b.ok(&joined_event(&opened_detail(), 2, at(5))).await;
    assert_eq!(action(&joined), NotifyAction::Muted, "{joined:?}");
    let mut recovered = opened_detail();
    recovered_signal(&mut recovered, 6);
    let muted = b
        .ok(&envelope(LifecycleKind::SignalRecovered, at(6), &recovered))
        .await;
    assert_eq!(action(&muted), NotifyAction::Muted);
    let mut resolved = opened_detail();
    resolved.resolution = Some(Resolution {
        status: ResolutionStatus::Resolved,
        verified: true,
        checks: vec!["DescribeVpnConnections: both tunnels UP".into()],
        waiting_reason: None,
        report: None,
        time_to_resolve_secs: Some(420),
        resolved_by: None,
    });
    let posted = b
        .ok(&envelope(LifecycleKind::IncidentResolved, at(7), &resolved))
        .await;
    assert_eq!(
        action(&posted),
        NotifyAction::Posted,
        "the resolution always posts"
    );
    assert_eq!(b.published().len(), 2);

    // Lifted: posts again, and says so.
    let lifted = b
        .ok(&silence_event(crate::domain::SilenceChange::Lifted, 8))
        .await;
    assert_eq!(action(&lifted), NotifyAction::Posted);
    assert!(b.texts().pop().unwrap().contains("Silence lifted"));
}

#[tokio::test]
async fn downstream_signals_post_once_per_joined_interval_with_the_count() {
    let b = bench();
    let held = |count: u64, minutes: i64| {
        let mut d = opened_detail();
        d.signal.summary = "partner-orders-failing: ALARM — orders to the partner fail".into();
        d.signal.fingerprint = format!("orders-{count}");
        d.hold = Some(crate::domain::HoldNote {
            kind: crate::domain::HoldKind::Downstream,
            by: "vpn-dependents".into(),
            subject: "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:partner-orders-failing"
                .into(),
            recheck_at: at(minutes + 5),
            folded: Some(count),
        });
        envelope(LifecycleKind::SignalHeld, at(minutes), &d)
    };
    assert_eq!(action(&b.ok(&held(1, 1)).await), NotifyAction::Posted);
    let text = b.texts().pop().unwrap();
    assert!(text.contains("Downstream signal folded"), "{text}");
    assert!(text.contains("1 downstream signal* folded"), "{text}");
    assert_eq!(
        action(&b.ok(&held(2, 2)).await),
        NotifyAction::Ignored,
        "same interval"
    );
    assert_eq!(action(&b.ok(&held(3, 16)).await), NotifyAction::Posted);
    assert!(b.texts().pop().unwrap().contains("3 downstream signals"));
    // Looked at again and still folded (no new count): nothing new to post.
    let mut again: Value = held(3, 32);
    again["detail"]["hold"]["folded"] = Value::Null;
    assert_eq!(action(&b.ok(&again).await), NotifyAction::Ignored);
    assert_eq!(b.steps(), vec!["joined", "joined"]);

    // A held signal that folded nowhere is not notify's.
    let mut window = opened_detail();
    window.incident.id = String::new();
    window.hold = Some(crate::domain::HoldNote {
        kind: crate::domain::HoldKind::Window,
        by: "nightly".into(),
        subject: ALARM_ARN.into(),
        recheck_at: at(30),
        folded: None,
    });
    let err = b
        .run(&envelope(LifecycleKind::SignalHeld, at(3), &window))
        .await;
    assert!(err.is_err(), "misrouted: loud");
}

#[tokio::test]
async fn what_changed_posts_each_change_linked_and_what_was_not_gathered() {
    let b = bench();
    let mut detail = story()[1].detail.clone();
    let change = |what: &str, minutes: i64, event: &str| crate::changes::Change {
        time: at(-minutes),
        what: what.into(),
        on: "vpn-0123456789abcdef0".into(),
        by: Some("alice".into()),
        event: Some(event.into()),
    };
    detail.reason = "2 changes from 3 h before the signal until now".into();
    detail.changes = Some(crate::changes::Changes {
        since: at(-180),
        until: at(1),
        resources: vec!["vpn-0123456789abcdef0".into()],
        gathered: true,
        items: vec![
            change("ModifyVpnTunnelOptions", 20, "ev-1"),
            change("CreateTags|<!channel>", 60, "ev-2>|x"),
        ],
        stack: None,
        health: Vec::new(),
        notes: vec!["CloudFormation: not gathered for partner-vpn: AccessDenied".into()],
    });
    let answer = b
        .ok(&envelope(LifecycleKind::ChangesGathered, at(1), &detail))
        .await;
    assert_eq!(answer.action, NotifyAction::Posted, "{answer:?}");
    assert_eq!(answer.step, Some(NotifyStep::Diagnosed));
    let text = &b.texts()[0];
    assert!(text.contains("2 recent changes"), "{text}");
    assert!(
        text.contains("• <https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1#/events/ev-1|ModifyVpnTunnelOptions on vpn-0123456789abcdef0"),
        "{text}"
    );
    assert!(
        !text.contains("<!channel>"),
        "an event's words mention nobody: {text}"
    );
    assert!(
        text.contains("#/events/ev-2%3E%7Cx|"),
        "an event id stays inside the link: {text}"
    );
    assert!(
        text.contains("*Note:* CloudFormation: not gathered for partner-vpn: AccessDenied"),
        "{text}"
    );

    // The event without its changes is refused, not posted empty.
    detail.changes = None;
    let err = b
        .run(&envelope(LifecycleKind::ChangesGathered, at(2), &detail))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "MalformedEvent", "{err}");
}
