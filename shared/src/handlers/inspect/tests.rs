//! The inspect stage on the fakes: a Lambda function, a target group and an RDS instance behind
//! their alarms, what cannot be read, and re-delivery.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;

use super::*;
use crate::domain::{Backend, EntryKind};
use crate::handlers::testkit::{to_envelope, Fakes};
use crate::inspect::{
    DatabaseFacts, DbEvent, FunctionFacts, LogLine, TargetGroupFacts, TargetHealth,
};
use crate::memory::MemoryResources;
use crate::ports::PortErrorKind;
use crate::shell::Shell;

const TG_ARN: &str =
    "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/web-tg/6d0ecf831eec9f09";

/// The fixtures' alarms fire at 2026-12-06 04:21:40 UTC.
fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, h, m, 0).unwrap()
}

struct Bench {
    fakes: Fakes,
    resources: Arc<MemoryResources>,
    shell: Shell<Inspect>,
}

fn bench(backend: Backend) -> Bench {
    let fakes = Fakes::new(backend, at(4, 22));
    let resources = Arc::new(MemoryResources::new());
    let shell = fakes.shell(Inspect::new(
        fakes.incidents.clone(),
        resources.clone(),
        resources.clone(),
        resources.clone(),
        resources.clone(),
    ));
    Bench {
        fakes,
        resources,
        shell,
    }
}

fn function() -> FunctionFacts {
    FunctionFacts {
        name: "orders-api".into(),
        arn: "arn:aws:lambda:eu-west-1:111122223333:function:orders-api".into(),
        version: "$LATEST".into(),
        runtime: Some("python3.12".into()),
        memory_mb: Some(512),
        timeout_s: Some(30),
        last_modified: Some(at(4, 3)),
        state: Some("Active".into()),
        state_reason: None,
        last_update: None,
        reserved_concurrency: Some(10),
        log_group: "/aws/lambda/orders-api".into(),
        errors: Vec::new(),
    }
}

fn log(h: u32, m: u32, message: &str) -> LogLine {
    LogLine {
        time: Some(at(h, m)),
        message: message.into(),
    }
}

fn target(id: &str, state: &str, reason: Option<&str>) -> TargetHealth {
    TargetHealth {
        id: id.into(),
        port: Some(80),
        zone: Some("eu-west-1a".into()),
        state: state.into(),
        reason: reason.map(str::to_string),
        description: reason.map(|_| "Health checks failed with these codes: [502]".to_string()),
    }
}

impl Bench {
    /// Triage opens the incident for `fixture`; `Incident Enriched` follows.
    async fn enriched(&self, fixture: &str) -> Value {
        let mut event = self.fakes.opened_by_triage(fixture).await;
        event.kind = LifecycleKind::IncidentEnriched;
        to_envelope(&event, "111122223333", "eu-west-1")
    }

    async fn run(&self, payload: &Value) -> Result<InspectAnswer, StageError> {
        self.fakes.run(&self.shell, payload).await
    }

    fn entry(&self) -> String {
        let incident = &self.fakes.incidents.incidents()[0];
        incident
            .timeline
            .iter()
            .rfind(|e| matches!(e.kind, EntryKind::Inspected))
            .map(|e| e.text.clone())
            .expect("an inspected entry")
    }

    fn inspection(&self) -> Inspection {
        let published = self.fakes.bus.events();
        let last = published.last().unwrap();
        assert_eq!(last.kind, LifecycleKind::ResourceInspected);
        last.detail.inspection.clone().unwrap()
    }
}

#[tokio::test]
async fn a_lambda_alarm_shows_the_function_and_its_latest_error_lines() {
    for backend in [Backend::OpsCenter, Backend::IncidentManager] {
        let b = bench(backend);
        b.resources.put_function(function());
        b.resources.put_logs(
            "/aws/lambda/orders-api",
            Some(vec![
                log(4, 21, "ERROR KeyError: 'customer_id'"),
                log(4, 20, "Traceback (most recent call last):"),
                // Before the window (15 min before the signal): not read.
                log(3, 50, "ERROR older"),
            ]),
        );
        let enriched = b.enriched("cloudwatch-alarm-lambda-errors").await;
        let answer = b.run(&enriched).await.unwrap();
        assert_eq!(answer.action, InspectAction::Inspected, "{answer:?}");
        assert_eq!(
            answer.summary,
            "Lambda function orders-api ($LATEST, python3.12, 512 MB, 30 s timeout), last modified \
             2026-12-06 04:03 UTC, reserved concurrency 10; 2 error lines in its logs from 15 min \
             before the signal, the latest: 04:21:00 ERROR KeyError: 'customer_id'"
        );
        assert!(answer.notes.is_empty(), "{answer:?}");
        let entry = b.entry();
        assert!(
            entry.ends_with(
                "Latest errors in /aws/lambda/orders-api:\n- 04:21:00 ERROR KeyError: 'customer_id'\n- 04:20:00 Traceback (most recent call last):"
            ),
            "{entry}"
        );
        let incident = &b.fakes.incidents.incidents()[0];
        assert!(incident
            .related_items
            .iter()
            .any(|i| i.title == "Function orders-api"));
        assert_eq!(b.inspection().function.unwrap().errors.len(), 2);

        // Re-delivered: the first answer, nothing read or published again.
        let published = b.fakes.bus.events().len();
        let calls = b.resources.calls().len();
        assert_eq!(b.run(&enriched).await.unwrap(), answer);
        assert_eq!(b.resources.calls().len(), calls);
        assert_eq!(b.fakes.bus.events().len(), published);
    }
}

#[tokio::test]
async fn a_target_group_alarm_names_the_failing_targets_and_why() {
    let b = bench(Backend::IncidentManager);
    b.resources.put_target_group(TargetGroupFacts {
        arn: TG_ARN.into(),
        name: "web-tg".into(),
        protocol: Some("HTTP".into()),
        port: Some(80),
        target_type: Some("instance".into()),
        health_check: Some("HTTP /health".into()),
        load_balancers: Vec::new(),
        targets: vec![
            target("i-0aaa", "healthy", None),
            target("i-0bbb", "unhealthy", Some("Target.ResponseCodeMismatch")),
            target("i-0ccc", "unhealthy", Some("Target.ResponseCodeMismatch")),
        ],
    });
    let enriched = b.enriched("cloudwatch-alarm-alb-unhealthy-hosts").await;
    let answer = b.run(&enriched).await.unwrap();
    assert_eq!(
        answer.summary,
        "Target group web-tg (HTTP:80, instance targets, health check HTTP /health): 1 of 3 \
         targets healthy; i-0bbb:80 unhealthy (Target.ResponseCodeMismatch: Health checks failed \
         with these codes: [502]) and 1 more"
    );
    assert_eq!(
        b.resources.calls(),
        vec![
            format!("target_group({TG_ARN})"),
            format!("target_health({TG_ARN})")
        ]
    );
    assert_eq!(b.entry().lines().count(), 4, "{}", b.entry());
    assert_eq!(b.inspection().target_group.unwrap().healthy(), 1);
}

fn database() -> DatabaseFacts {
    DatabaseFacts {
        id: "orders-db".into(),
        arn: "arn:aws:rds:eu-west-1:111122223333:db:orders-db".into(),
        class: "db.t3.micro".into(),
        engine: "postgres".into(),
        engine_version: Some("16.3".into()),
        status: "available".into(),
        multi_az: false,
        zone: Some("eu-west-1a".into()),
        storage_gib: Some(20),
        max_storage_gib: None,
        storage_type: Some("gp3".into()),
        events: vec![
            DbEvent {
                time: Some(at(4, 0)),
                message: "Finished DB instance backup".into(),
                categories: vec!["backup".into()],
            },
            DbEvent {
                time: Some(at(4, 21) - Duration::days(2)),
                message: "too old".into(),
                categories: Vec::new(),
            },
        ],
    }
}

#[tokio::test]
async fn an_rds_alarm_shows_the_instance_and_its_recent_events() {
    let b = bench(Backend::OpsCenter);
    b.resources.put_database(database());
    let enriched = b.enriched("cloudwatch-alarm-rds-free-storage").await;
    let answer = b.run(&enriched).await.unwrap();
    assert_eq!(
        answer.summary,
        "RDS instance orders-db (db.t3.micro, postgres 16.3, Single-AZ): available, 20 GiB gp3; \
         the latest event: 2026-12-06 04:00 UTC: Finished DB instance backup"
    );
    assert_eq!(b.inspection().database.unwrap().events.len(), 1);
}

#[tokio::test]
async fn what_cannot_be_read_is_a_note_and_throttling_is_retried() {
    // Events denied: the instance alone, and why the events are missing.
    let b = bench(Backend::OpsCenter);
    b.resources.put_database(database());
    b.resources
        .fail_next("events", 1, PortErrorKind::AccessDenied);
    let answer = b
        .run(&b.enriched("cloudwatch-alarm-rds-free-storage").await)
        .await
        .unwrap();
    assert_eq!(
        answer.notes,
        ["DescribeEvents: not gathered for RDS instance orders-db: AccessDenied"]
    );
    assert!(answer.summary.contains("no events"), "{answer:?}");

    // A function that is gone: said, not failed.
    let b = bench(Backend::OpsCenter);
    let answer = b
        .run(&b.enriched("cloudwatch-alarm-lambda-errors").await)
        .await
        .unwrap();
    assert_eq!(
        answer.summary,
        "GetFunctionConfiguration: not gathered for Lambda function orders-api: it no longer exists"
    );
    assert!(
        b.entry()
            .starts_with("GetFunctionConfiguration: not gathered"),
        "{}",
        b.entry()
    );

    // A query still running when the wait ends: the function without its lines.
    let b = bench(Backend::OpsCenter);
    b.resources.put_function(function());
    b.resources.put_logs("/aws/lambda/orders-api", None);
    let answer = b
        .run(&b.enriched("cloudwatch-alarm-lambda-errors").await)
        .await
        .unwrap();
    assert_eq!(
        answer.notes,
        ["Logs Insights: not gathered for /aws/lambda/orders-api: the query did not finish in time"]
    );
    assert!(!answer.summary.contains("no error lines"), "{answer:?}");

    // Throttled: the invocation fails (Lambda retries it), then succeeds.
    let b = bench(Backend::OpsCenter);
    b.resources.put_function(function());
    b.resources
        .put_logs("/aws/lambda/orders-api", Some(Vec::new()));
    b.resources
        .fail_next("function", 1, PortErrorKind::Throttled);
    let enriched = b.enriched("cloudwatch-alarm-lambda-errors").await;
    let published = b.fakes.bus.events().len();
    assert!(b.run(&enriched).await.is_err());
    assert_eq!(b.fakes.bus.events().len(), published);
    let answer = b.run(&enriched).await.unwrap();
    assert!(answer
        .summary
        .ends_with("no error lines in its logs from 15 min before the signal"));
}

#[tokio::test]
async fn other_events_and_signals_are_ignored() {
    let b = bench(Backend::OpsCenter);
    let opened = b
        .fakes
        .opened_by_triage("cloudwatch-alarm-lambda-errors")
        .await;
    let answer = b
        .run(&to_envelope(&opened, "111122223333", "eu-west-1"))
        .await
        .unwrap();
    assert_eq!(answer.action, InspectAction::Ignored);
    let ec2 = b.enriched("cloudwatch-alarm-ec2-cpu-high").await;
    let answer = b.run(&ec2).await.unwrap();
    assert_eq!(answer.action, InspectAction::Ignored, "{answer:?}");
    assert!(b.resources.calls().is_empty());
}

#[tokio::test]
async fn a_signal_of_another_account_is_not_inspected_here() {
    let b = bench(Backend::OpsCenter);
    b.resources.put_function(function());
    let enriched = b.enriched("cloudwatch-alarm-lambda-errors").await;
    let answer = b
        .shell
        .handle_invoked(
            &enriched,
            at(4, 23),
            "arn:aws:lambda:eu-west-1:444455556666:function:responder-inspect",
        )
        .await
        .unwrap();
    assert!(
        answer.summary.starts_with(
            "Lambda function orders-api: not inspected: the signal is from account 111122223333 \
             in eu-west-1; this responder reads 444455556666 in eu-west-1"
        ),
        "{answer:?}"
    );
    assert!(b.resources.calls().is_empty());
    assert!(b.inspection().function.is_none());
}
