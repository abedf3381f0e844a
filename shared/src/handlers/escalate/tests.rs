use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use serde_json::{json, Value};

use super::*;
use crate::domain::{Backend, EntryKind, Impact, IncidentRef, LifecycleEvent};
use crate::handlers::testkit::{to_envelope, Fakes};
use crate::memory::{MemoryPager, MemoryTimers};
use crate::ports::{Clock, PortErrorKind};
use crate::shell::Shell;

struct Bench {
    fakes: Fakes,
    timers: Arc<MemoryTimers>,
    pager: Arc<MemoryPager>,
    shell: Shell<Escalate>,
}

fn bench(backend: Backend) -> Bench {
    bench_with(backend, |stage| stage)
}

/// The bench with the stage as `wire` finishes it (its own roles, a watchdog).
fn bench_with(backend: Backend, wire: impl FnOnce(Escalate) -> Escalate) -> Bench {
    let start = Utc.with_ymd_and_hms(2026, 12, 5, 3, 0, 0).single().unwrap();
    let fakes = Fakes::new(backend, start);
    let timers = Arc::new(MemoryTimers::new());
    let pager = Arc::new(MemoryPager::new());
    let stage = wire(
        Escalate::new(
            Rules::embedded().unwrap(),
            fakes.incidents.clone(),
            fakes.references.clone(),
            timers.clone(),
            pager.clone(),
        )
        .with_keys(fakes.keys.clone()),
    );
    let shell = fakes.shell(stage);
    Bench {
        fakes,
        timers,
        pager,
        shell,
    }
}

impl Bench {
    /// Triage opens the VPN incident; its impact is set to `impact`.
    async fn opened(&self, impact: u8) -> LifecycleEvent {
        let mut event = self
            .fakes
            .opened_by_triage("cloudwatch-alarm-vpn-tunnel-down")
            .await;
        event.detail.incident.impact = Impact::new(impact).unwrap();
        event
    }

    async fn run(&self, payload: &Value) -> Result<EscalateAnswer, EscalateError> {
        self.fakes.run(&self.shell, payload).await
    }

    /// Moves the clock to the next timer and fires it, as Scheduler would.
    async fn fire_next(&self) -> Option<EscalateAnswer> {
        let next = self.timers.pending().into_iter().next()?;
        self.fakes.clock.set(next.at);
        let fired = self.timers.fire_due(next.at);
        let input: Value = serde_json::from_str(&fired[0].input).unwrap();
        Some(self.run(&input).await.unwrap())
    }

    fn paged(&self) -> Vec<String> {
        self.pager.pages().into_iter().map(|(t, _)| t).collect()
    }

    fn kinds(&self) -> Vec<LifecycleKind> {
        self.fakes.bus.events().iter().map(|e| e.kind).collect()
    }
}

fn envelope(event: &LifecycleEvent) -> Value {
    to_envelope(event, "111122223333", "eu-west-1")
}

#[tokio::test]
async fn impact_1_pages_now_repages_then_adds_the_secondary_until_acknowledged() {
    let b = bench(Backend::OpsCenter);
    let opened = b.opened(1).await;
    let id = opened.detail.incident.id.clone();
    let first = b.run(&envelope(&opened)).await.unwrap();
    assert_eq!(first.action, EscalateAction::Paged);
    assert_eq!(first.paged, vec!["primary"]);
    assert_eq!(b.paged(), vec!["primary"]);
    let next = first.next.clone().unwrap();
    assert_eq!((next.stage, next.round), (1, 2));
    assert_eq!(
        next.at,
        opened.time.max(b.fakes.clock.now()) + Duration::minutes(5)
    );

    // A re-delivered `Incident Opened` pages nobody again.
    let again = b.run(&envelope(&opened)).await.unwrap();
    assert_eq!(again.action, EscalateAction::Ignored);
    assert_eq!(b.paged().len(), 1);

    // Two more pages of stage 1, then stage 2 adds the secondary.
    for _ in 0..3 {
        b.fire_next().await.unwrap();
    }
    assert_eq!(
        b.paged(),
        vec!["primary", "primary", "primary", "primary", "secondary"]
    );
    let page = &b.pager.pages()[4].1;
    assert!(
        page.text.contains("Unanswered for: 15 min"),
        "{}",
        page.text
    );
    assert!(page.subject.starts_with("[Impact 1 "), "{}", page.subject);
    let json: Value = serde_json::from_str(&page.json).unwrap();
    assert_eq!(json["incident"], json!(id));
    assert_eq!(json["stage"], json!(2));

    // A retried step (Scheduler's retry after a time-out) pages nobody twice; a step of a
    // policy the incident does not run does nothing.
    let other = json!({"escalation_step": {"incident": id, "policy": "page-after-10m", "stage": 2,
        "round": 1, "at": b.fakes.clock.now().to_rfc3339()}});
    assert_eq!(b.run(&other).await.unwrap().action, EscalateAction::Ignored);
    let retry = json!({"escalation_step": {"incident": id, "policy": "page-now", "stage": 2, "round": 1,
        "at": b.fakes.clock.now().to_rfc3339()}});
    assert_eq!(b.run(&retry).await.unwrap().action, EscalateAction::Ignored);
    assert_eq!(b.paged().len(), 5);

    // The button acknowledges: paging stops and the pending timer is cancelled.
    let pending = b.timers.pending();
    assert_eq!(pending.len(), 1);
    let ack = b
        .run(&json!({"action": "acknowledge", "incident": id}))
        .await
        .unwrap();
    assert_eq!(ack.action, EscalateAction::Acknowledged);
    assert!(b.timers.pending().is_empty());
    assert_eq!(b.timers.cancelled(), vec![pending[0].name.clone()]);
    // A step that fires anyway does nothing; a second click says who acknowledged.
    let late: Value = serde_json::from_str(&pending[0].input).unwrap();
    assert_eq!(b.run(&late).await.unwrap().action, EscalateAction::Ignored);
    let twice = b
        .run(&json!({"action": "acknowledge", "incident": id}))
        .await
        .unwrap();
    assert_eq!(twice.action, EscalateAction::Ignored);
    assert!(
        twice.reason.contains("acknowledged by someone in Slack"),
        "{}",
        twice.reason
    );
    assert_eq!(b.paged().len(), 5);

    let kinds = b.kinds();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == LifecycleKind::IncidentEscalated)
            .count(),
        4
    );
    assert_eq!(kinds.last(), Some(&LifecycleKind::IncidentAcknowledged));
    let timeline = &b.fakes.incidents.incidents()[0].timeline;
    assert!(timeline
        .iter()
        .any(|e| matches!(&e.kind, EntryKind::Acknowledged { via, .. } if via == "slack")));
    assert_eq!(
        timeline
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::Paged { .. }))
            .count(),
        4
    );
}

#[tokio::test]
async fn impact_2_waits_ten_minutes_in_slack_then_pages_and_then_ends() {
    let b = bench(Backend::IncidentManager);
    let opened = b.opened(2).await;
    let first = b.run(&envelope(&opened)).await.unwrap();
    assert_eq!(first.action, EscalateAction::Scheduled);
    assert!(b.paged().is_empty());
    assert_eq!(first.next.as_ref().map(|n| n.stage), Some(2));
    let stage2 = b.fire_next().await.unwrap();
    assert_eq!(stage2.action, EscalateAction::Paged);
    assert_eq!(b.paged(), vec!["primary"]);
    b.fire_next().await.unwrap();
    b.fire_next().await.unwrap();
    let end = b.fire_next().await.unwrap();
    assert_eq!(end.action, EscalateAction::Stopped);
    assert!(b.timers.pending().is_empty());
    let last = b.fakes.bus.events().last().cloned().unwrap();
    assert!(last.detail.escalation.unwrap().exhausted);
}

#[tokio::test]
async fn impact_3_stays_in_slack_but_escalate_now_pages_impact_1s_policy() {
    let b = bench(Backend::OpsCenter);
    let opened = b.opened(3).await;
    let id = opened.detail.incident.id.clone();
    let answer = b.run(&envelope(&opened)).await.unwrap();
    assert_eq!(answer.action, EscalateAction::Skipped);
    assert!(b.timers.pending().is_empty());
    let now = b
        .run(&json!({"action": "escalate", "incident": id}))
        .await
        .unwrap();
    assert_eq!(now.action, EscalateAction::Paged);
    assert_eq!(now.policy.as_deref(), Some("page-now"));
    assert_eq!(b.paged(), vec!["primary"]);
    assert_eq!(b.timers.pending().len(), 1);
}

#[tokio::test]
async fn an_incident_closed_in_the_console_stops_paging_at_the_next_step() {
    let b = bench(Backend::OpsCenter);
    let opened = b.opened(1).await;
    b.run(&envelope(&opened)).await.unwrap();
    let incident = IncidentRef {
        backend: Backend::OpsCenter,
        id: opened.detail.incident.id.clone(),
    };
    b.fakes.incidents.close_in_console(&incident);
    let step = b.fire_next().await.unwrap();
    assert_eq!(step.action, EscalateAction::Ignored);
    assert!(step.reason.contains("paging stopped"), "{}", step.reason);
    assert_eq!(b.paged().len(), 1);
}

#[tokio::test]
async fn a_failed_page_fails_the_step_and_its_retry_pages_once() {
    let b = bench(Backend::OpsCenter);
    let opened = b.opened(1).await;
    b.pager.fail_next(1, PortErrorKind::Throttled);
    assert!(b.run(&envelope(&opened)).await.is_err());
    assert!(b.paged().is_empty());
    let retried = b.run(&envelope(&opened)).await.unwrap();
    assert_eq!(retried.action, EscalateAction::Paged);
    assert_eq!(b.paged(), vec!["primary"]);
}

#[tokio::test]
async fn buttons_for_unknown_incidents_and_forged_payloads_fail_clearly() {
    let b = bench(Backend::OpsCenter);
    let unknown = b
        .run(&json!({"action": "acknowledge", "incident": "oi-000000000000"}))
        .await
        .err()
        .unwrap();
    assert_eq!(unknown.error_type(), "UnknownIncident");
    for payload in [
        json!({"action": "page-everyone", "incident": "oi-1"}),
        json!({"action": "acknowledge", "incident": "$incident"}),
        json!({"action": "acknowledge", "incident": "oi-1", "target": "+15550100"}),
        json!({"escalation_step": {"incident": "oi-1"}}),
    ] {
        let err = b.run(&payload).await.err().unwrap();
        assert_eq!(err.error_type(), "MalformedEvent", "{payload}");
    }
}

fn opsitem_update(id: &str, status: &str, by: &str) -> Value {
    let mut event = crate::handlers::testkit::fixture("ssm-opsitem-update");
    event["detail"]["ops-item-id"] = json!(id);
    event["detail"]["status"] = json!(status);
    event["detail"]["modified-by"] = json!(by);
    event
}

const PERSON: &str = "arn:aws:iam::111122223333:user/JaneDoe";
const OWN_ROLE: &str = "arn:aws:iam::111122223333:role/responder-ResolveRole-1A2B";

#[tokio::test]
async fn in_progress_set_by_a_person_in_the_console_acknowledges_and_the_responders_own_change_does_not(
) {
    let b = bench_with(Backend::OpsCenter, |e| {
        e.with_own_roles(vec![OWN_ROLE.to_string()])
    });
    let opened = b.opened(1).await;
    let id = opened.detail.incident.id.clone();
    b.run(&envelope(&opened)).await.unwrap();
    let own = "arn:aws:sts::111122223333:assumed-role/responder-ResolveRole-1A2B/responder-resolve";
    let ours = b
        .run(&opsitem_update(&id, "InProgress", own))
        .await
        .unwrap();
    assert_eq!(ours.action, EscalateAction::Ignored);
    assert_eq!(b.timers.pending().len(), 1);
    let stranger = b
        .run(&opsitem_update("oi-999999999999", "InProgress", PERSON))
        .await
        .unwrap();
    assert_eq!(stranger.action, EscalateAction::Ignored);
    let ack = b
        .run(&opsitem_update(&id, "InProgress", PERSON))
        .await
        .unwrap();
    assert_eq!(ack.action, EscalateAction::Acknowledged);
    assert!(b.timers.pending().is_empty());
    let last = b.fakes.bus.events().last().cloned().unwrap();
    let note = last.detail.escalation.unwrap();
    assert_eq!(note.acknowledged_by.as_deref(), Some(PERSON));
    assert_eq!(note.via.as_deref(), Some("console"));
}

#[tokio::test]
async fn a_resolution_in_the_console_or_from_slack_is_handed_to_resolve_once() {
    let b = bench(Backend::OpsCenter);
    let opened = b.opened(1).await;
    let id = opened.detail.incident.id.clone();
    b.run(&envelope(&opened)).await.unwrap();
    let resolved = b
        .run(&opsitem_update(&id, "Resolved", PERSON))
        .await
        .unwrap();
    assert_eq!(resolved.action, EscalateAction::ResolutionRequested);
    let again = b
        .run(&json!({"action": "resolve", "incident": id}))
        .await
        .unwrap();
    assert_eq!(again.action, EscalateAction::Ignored);
    let requests: Vec<_> = b
        .fakes
        .bus
        .events()
        .into_iter()
        .filter(|e| e.kind == LifecycleKind::ResolutionRequested)
        .collect();
    assert_eq!(requests.len(), 1);
    let request = requests[0].detail.request.clone().unwrap();
    assert_eq!(
        (request.by.as_str(), request.via.as_str()),
        (PERSON, "console")
    );
    assert!(request.closed);
}

#[tokio::test]
async fn an_impact_raised_to_1_switches_to_its_policy_at_once() {
    let b = bench(Backend::OpsCenter);
    let opened = b.opened(2).await;
    assert_eq!(
        b.run(&envelope(&opened)).await.unwrap().action,
        EscalateAction::Scheduled
    );
    let waiting = b.timers.pending();
    let mut raised = opened.clone();
    raised.kind = LifecycleKind::IncidentUpdated;
    raised.detail.incident.impact = Impact::CRITICAL;
    let answer = b.run(&envelope(&raised)).await.unwrap();
    assert_eq!(answer.action, EscalateAction::Paged);
    assert_eq!(answer.policy.as_deref(), Some("page-now"));
    assert_eq!(b.paged(), vec!["primary"]);
    assert_eq!(b.timers.cancelled(), vec![waiting[0].name.clone()]);
    // The next join at the same impact changes nothing.
    assert_eq!(
        b.run(&envelope(&raised)).await.unwrap().action,
        EscalateAction::Ignored
    );
    assert_eq!(b.paged().len(), 1);
}

#[tokio::test]
async fn a_started_runbook_is_watched_until_it_finishes() {
    let watchdog = Arc::new(MemoryTimers::new());
    let b = bench_with(Backend::OpsCenter, |e| e.with_watchdog(watchdog.clone()));
    let mut started = b.opened(2).await;
    started.kind = LifecycleKind::RunbookStarted;
    started.detail.automation = Some(crate::diagnosis::RunbookRun {
        document: "AWSSupport-TroubleshootVPN".into(),
        execution_id: "4c1a6e2d-9b7f-4e0a-8d3c-2f5b6a7c8d9e".into(),
        status: "InProgress".into(),
        parameters: Default::default(),
        outputs: Default::default(),
        failure_message: None,
    });
    let answer = b.run(&envelope(&started)).await.unwrap();
    assert_eq!(answer.action, EscalateAction::Scheduled);
    let pending = watchdog.pending();
    assert_eq!(pending.len(), 12);
    assert_eq!(pending[0].at, b.fakes.clock.now() + Duration::minutes(30));
    // A retry sets nothing twice.
    b.run(&envelope(&started)).await.unwrap();
    assert_eq!(watchdog.pending().len(), 12);
    let mut finished = started.clone();
    finished.kind = LifecycleKind::RunbookFinished;
    let answer = b.run(&envelope(&finished)).await.unwrap();
    assert_eq!(answer.action, EscalateAction::Stopped);
    assert!(watchdog.pending().is_empty());
    // No page, no escalation timer: the watchdog is not escalation.
    assert!(b.paged().is_empty() && b.timers.pending().is_empty());
}

#[tokio::test]
async fn an_impact_raised_after_escalation_ran_out_pages_again_but_not_after_an_acknowledgement() {
    let b = bench(Backend::OpsCenter);
    let opened = b.opened(2).await;
    b.run(&envelope(&opened)).await.unwrap();
    while b.fire_next().await.is_some() {}
    let exhausted = b.paged().len();
    let mut raised = opened.clone();
    raised.kind = LifecycleKind::IncidentUpdated;
    raised.detail.incident.impact = Impact::CRITICAL;
    assert_eq!(
        b.run(&envelope(&raised)).await.unwrap().action,
        EscalateAction::Paged
    );
    assert_eq!(b.paged().len(), exhausted + 1);
    // A lower impact afterwards (a person's change in the console) switches nothing back.
    let mut lowered = raised.clone();
    lowered.detail.incident.impact = Impact::HIGH;
    assert_eq!(
        b.run(&envelope(&lowered)).await.unwrap().action,
        EscalateAction::Ignored
    );
    assert_eq!(b.timers.pending().len(), 1);

    let c = bench(Backend::OpsCenter);
    let opened = c.opened(2).await;
    let id = opened.detail.incident.id.clone();
    c.run(&envelope(&opened)).await.unwrap();
    c.run(&json!({"action": "acknowledge", "incident": id}))
        .await
        .unwrap();
    let mut raised = opened.clone();
    raised.kind = LifecycleKind::IncidentUpdated;
    raised.detail.incident.impact = Impact::CRITICAL;
    assert_eq!(
        c.run(&envelope(&raised)).await.unwrap().action,
        EscalateAction::Ignored
    );
    assert!(c.paged().is_empty());
}

#[tokio::test]
async fn through_the_buttons_alias_only_a_button_passes() {
    let b = bench(Backend::OpsCenter);
    let opened = b.opened(1).await;
    let id = opened.detail.incident.id.clone();
    b.run(&envelope(&opened)).await.unwrap();
    let alias = "arn:aws:lambda:eu-west-1:111122223333:function:responder-escalate:buttons";
    let deadline = b.fakes.clock.now() + Duration::seconds(10);
    let mut resolved = opened.clone();
    resolved.kind = LifecycleKind::IncidentResolved;
    let forged = [
        envelope(&resolved),
        opsitem_update(&id, "Resolved", PERSON),
        json!({"escalation_step": {"incident": id, "policy": "page-now", "stage": 1, "round": 2,
            "at": deadline.to_rfc3339()}}),
    ];
    for event in forged {
        let err = b.shell.handle_invoked(&event, deadline, alias).await.err();
        assert_eq!(err.map(|e| e.error_type()), Some("UnknownEvent"), "{event}");
    }
    assert_eq!(b.timers.pending().len(), 1, "nothing forged got through");
    let ack = json!({"action": "acknowledge", "incident": id});
    let answer = b.shell.handle_invoked(&ack, deadline, alias).await.unwrap();
    assert_eq!(answer.action, EscalateAction::Acknowledged);
}

#[tokio::test]
async fn a_held_signal_gets_a_timer_that_has_triage_act_on_it_when_the_window_ends() {
    let rechecks = Arc::new(MemoryTimers::new());
    let b = bench_with(Backend::IncidentManager, |e| {
        e.with_rechecks(rechecks.clone())
    });
    let rules = crate::rules::DEFAULT_RULES.replace(
        "silences:\n",
        "windows:\n  - id: change\n    once: { start: \"2026-12-05T02:00:00Z\", end: \"2026-12-05T03:20:00Z\" }\nsilences:\n",
    );
    let triage = b.fakes.triage_with(Rules::from_yaml(&rules).unwrap());
    let down = crate::handlers::testkit::fixture("cloudwatch-alarm-vpn-tunnel-down");
    let held = b.fakes.run(&triage, &down).await.unwrap();
    assert_eq!(held.action, crate::handlers::triage::Action::Suppressed);
    let event = b.fakes.bus.events().last().cloned().unwrap();
    assert_eq!(event.kind, LifecycleKind::SignalHeld);

    let answer = b.run(&envelope(&event)).await.unwrap();
    assert_eq!(answer.action, EscalateAction::Scheduled, "{answer:?}");
    assert!(answer.incident.is_none(), "no incident holds it yet");
    b.run(&envelope(&event)).await.unwrap(); // re-delivered: the same timer
    let pending = rechecks.pending();
    assert_eq!(pending.len(), 1);
    let end = Utc
        .with_ymd_and_hms(2026, 12, 5, 3, 20, 0)
        .single()
        .unwrap();
    assert_eq!(pending[0].at, end);
    assert!(pending[0].name.starts_with("hold-"), "{}", pending[0].name);
    assert!(b.timers.pending().is_empty(), "not an escalation timer");

    // Scheduler fires it into triage: the alarm still fires, the incident opens.
    b.fakes
        .alarms
        .set("vpn-tunnel-down-vpn-0123456789abcdef0", "ALARM");
    let input: Value = serde_json::from_str(&rechecks.fire_due(end)[0].input).unwrap();
    let opened = b.fakes.run(&triage, &input).await.unwrap();
    assert_eq!(
        opened.action,
        crate::handlers::triage::Action::Opened,
        "{opened:?}"
    );
    assert_eq!(b.fakes.incidents.incidents().len(), 1);
}

/// The escalate bench with the dedupe keys wired, as `functions/escalate` does.
fn silence_bench() -> Bench {
    bench_with(Backend::OpsCenter, |e| e)
}

async fn silence_row(b: &Bench, now: chrono::DateTime<Utc>) -> Option<crate::quiet::Silence> {
    let key = crate::quiet::silence_key("vpn-tunnel-down:vpn-0123456789abcdef0");
    crate::quiet::read(b.fakes.references.as_ref(), &key, now)
        .await
        .unwrap()
}

#[tokio::test]
async fn silence_for_an_hour_pauses_paging_and_its_end_resumes_it_while_the_key_fires() {
    let b = silence_bench();
    let opened = b.opened(1).await;
    let id = opened.detail.incident.id.clone();
    b.run(&envelope(&opened)).await.unwrap();
    assert_eq!(b.paged(), vec!["primary"]);
    let pending = b.timers.pending();
    assert_eq!(pending.len(), 1, "the next page is due in 5 min");

    let set = b
        .run(&json!({"action": "silence_1h", "incident": id}))
        .await
        .unwrap();
    assert_eq!(set.action, EscalateAction::Silenced, "{set:?}");
    let now = b.fakes.clock.now();
    let silence = silence_row(&b, now).await.unwrap();
    assert_eq!(silence.until, now + Duration::hours(1));
    assert_eq!(silence.by, "someone in Slack");
    assert_eq!(b.timers.cancelled(), vec![pending[0].name.clone()]);
    let end = b.timers.pending();
    assert_eq!(end.len(), 1, "only the silence's end is pending");
    assert!(end[0].name.starts_with("sil-"), "{}", end[0].name);
    assert_eq!(b.kinds().last(), Some(&LifecycleKind::IncidentSilenced));
    let note = b
        .fakes
        .bus
        .events()
        .last()
        .unwrap()
        .detail
        .silence
        .clone()
        .unwrap();
    assert_eq!(note.change, crate::domain::SilenceChange::Set);
    assert!(b.fakes.incidents.incidents()[0]
        .timeline
        .iter()
        .any(|e| matches!(e.kind, EntryKind::Silenced { lifted: false, .. })));

    // The cancelled step fires anyway (it raced the cancel): nothing is paged.
    let late: Value = serde_json::from_str(&pending[0].input).unwrap();
    let skipped = b.run(&late).await.unwrap();
    assert_eq!(skipped.action, EscalateAction::Ignored);
    assert!(skipped.reason.contains("Silenced by"), "{}", skipped.reason);
    assert_eq!(b.paged().len(), 1);

    // The hour ends with the key still firing: announced, and the waiting step pages now.
    let resumed = b.fire_next().await.unwrap();
    assert_eq!(resumed.action, EscalateAction::Resumed, "{resumed:?}");
    assert_eq!(b.paged(), vec!["primary", "primary"]);
    let ended = b
        .fakes
        .bus
        .events()
        .iter()
        .filter_map(|e| e.detail.silence.clone())
        .map(|n| n.change)
        .collect::<Vec<_>>();
    assert_eq!(
        ended,
        vec![
            crate::domain::SilenceChange::Set,
            crate::domain::SilenceChange::Ended
        ]
    );
}

#[tokio::test]
async fn a_lifted_silence_resumes_and_a_silence_while_open_ends_with_the_incident() {
    let b = silence_bench();
    let opened = b.opened(1).await;
    let id = opened.detail.incident.id.clone();
    b.run(&envelope(&opened)).await.unwrap();
    let set = b
        .run(&json!({"action": "silence_open", "incident": id}))
        .await
        .unwrap();
    assert_eq!(set.action, EscalateAction::Silenced);
    let now = b.fakes.clock.now();
    assert_eq!(
        silence_row(&b, now).await.unwrap().until,
        now + Duration::hours(24),
        "the rules' max"
    );
    // A double click within the minute is one silence.
    let again = b
        .run(&json!({"action": "silence_open", "incident": id}))
        .await
        .unwrap();
    assert_eq!(again.action, EscalateAction::Ignored);

    b.fakes.clock.advance(Duration::minutes(20));
    let lifted = b
        .run(&json!({"action": "unsilence", "incident": id}))
        .await
        .unwrap();
    assert_eq!(lifted.action, EscalateAction::Resumed, "{lifted:?}");
    assert_eq!(b.paged().len(), 2, "the step due meanwhile pages at once");
    assert!(silence_row(&b, b.fakes.clock.now())
        .await
        .unwrap()
        .lifted_at
        .is_some());

    // Silenced again while open; the incident resolves: the silence ends with it.
    b.run(&json!({"action": "silence_open", "incident": id}))
        .await
        .unwrap();
    let mut resolved = opened.clone();
    resolved.kind = LifecycleKind::IncidentResolved;
    b.run(&envelope(&resolved)).await.unwrap();
    assert!(silence_row(&b, b.fakes.clock.now())
        .await
        .unwrap()
        .lifted_at
        .is_some());
    assert!(
        b.timers.pending().is_empty(),
        "no silence end, no step left"
    );
}

#[tokio::test]
async fn a_silence_ending_after_a_recovery_still_resumes_paging_while_the_incident_is_open() {
    let b = silence_bench();
    let opened = b.opened(1).await;
    let id = opened.detail.incident.id.clone();
    b.run(&envelope(&opened)).await.unwrap();
    b.run(&json!({"action": "silence_1h", "incident": id}))
        .await
        .unwrap();
    // The alarm recovers during the silence, but nothing resolves the incident (a rule without
    // auto-resolve, or a verification that failed): it is open and nobody has answered.
    let triage = b.fakes.triage();
    let ok = crate::handlers::testkit::fixture("cloudwatch-alarm-vpn-tunnel-ok");
    let recovered = b.fakes.run(&triage, &ok).await.unwrap();
    assert_eq!(
        recovered.action,
        crate::handlers::triage::Action::Recovered,
        "{recovered:?}"
    );
    let resumed = b.fire_next().await.unwrap();
    assert_eq!(resumed.action, EscalateAction::Resumed, "{resumed:?}");
    assert!(resumed.reason.contains("still open"), "{}", resumed.reason);
    assert_eq!(
        b.paged(),
        vec!["primary", "primary"],
        "the waiting step pages"
    );
}

#[tokio::test]
async fn lift_acts_on_its_own_incident_and_a_silence_set_again_after_a_lift_is_new() {
    let b = silence_bench();
    let opened = b.opened(1).await;
    let id = opened.detail.incident.id.clone();
    b.run(&envelope(&opened)).await.unwrap();
    // A button on an older incident's post of the same key lifts nothing of this one's.
    b.run(&json!({"action": "silence_1h", "incident": id}))
        .await
        .unwrap();
    let mut older = silence_row(&b, b.fakes.clock.now()).await.unwrap();
    older.incident = "oi-older0000000".into();
    let key = crate::quiet::silence_key("vpn-tunnel-down:vpn-0123456789abcdef0");
    let until = older.until;
    crate::quiet::write(b.fakes.references.as_ref(), &key, &older, until)
        .await
        .unwrap();
    let stranger = b
        .run(&json!({"action": "unsilence", "incident": id}))
        .await
        .unwrap();
    assert_eq!(stranger.action, EscalateAction::Ignored, "{stranger:?}");
    assert_eq!(stranger.reason, "Not silenced.");

    // Silence, lift, silence again within one minute: the second silence is set.
    older.incident = id.clone();
    crate::quiet::write(b.fakes.references.as_ref(), &key, &older, until)
        .await
        .unwrap();
    let lifted = b
        .run(&json!({"action": "unsilence", "incident": id}))
        .await
        .unwrap();
    assert_eq!(lifted.action, EscalateAction::Resumed, "{lifted:?}");
    let again = b
        .run(&json!({"action": "silence_1h", "incident": id}))
        .await
        .unwrap();
    assert_eq!(again.action, EscalateAction::Silenced, "{again:?}");
    let row = silence_row(&b, b.fakes.clock.now()).await.unwrap();
    assert!(row.lifted_at.is_none() && row.stands(b.fakes.clock.now()));
}
