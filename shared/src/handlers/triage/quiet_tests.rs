//! Quiet hours in triage, on the fakes: windows (clock and calendar), silences, inhibitions,
//! and the re-check that acts on what they held.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

use super::*;
use crate::domain::{Backend, EntryKind, HoldKind, IncidentRef, LifecycleKind};
use crate::handlers::testkit::{fixture, Fakes};
use crate::quiet::{self, Hold, Silence};
use crate::rules::DEFAULT_RULES;
use crate::shell::Shell;

const VPN_ALARM: &str =
    "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:vpn-tunnel-down-vpn-0123456789abcdef0";
const VPN_ALARM_NAME: &str = "vpn-tunnel-down-vpn-0123456789abcdef0";
const ORDERS_ALARM: &str = "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:partner-orders-failing";
const VPN_KEY: &str = "vpn-tunnel-down:vpn-0123456789abcdef0";

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, h, m, 0).unwrap()
}

/// The default rules with `windows` added.
fn with_windows(windows: &str) -> Rules {
    let text = DEFAULT_RULES.replace("silences:\n", &format!("windows:\n{windows}\nsilences:\n"));
    Rules::from_yaml(&text).unwrap_or_else(|e| panic!("{e}"))
}

struct Quiet {
    fakes: Fakes,
    triage: Shell<Triage>,
}

impl std::ops::Deref for Quiet {
    type Target = Fakes;
    fn deref(&self) -> &Fakes {
        &self.fakes
    }
}

fn bench(rules: Rules) -> Quiet {
    let fakes = Fakes::new(Backend::OpsCenter, t(4, 0));
    let triage = fakes.triage_with(rules);
    Quiet { fakes, triage }
}

impl Quiet {
    async fn ok(&self, event: &Value) -> TriageAnswer {
        self.fakes
            .run(&self.triage, event)
            .await
            .unwrap_or_else(|e| panic!("triage failed: {e}"))
    }

    async fn recheck(&self, subject: &str, at: DateTime<Utc>) -> TriageAnswer {
        self.ok(&json!({"recheck": {"subject": subject, "at": at}}))
            .await
    }

    fn held(&self) -> Vec<crate::domain::HoldNote> {
        self.bus
            .events()
            .iter()
            .filter(|e| e.kind == LifecycleKind::SignalHeld)
            .filter_map(|e| e.detail.hold.clone())
            .collect()
    }

    async fn hold_row(&self, subject: &str) -> Option<Hold> {
        quiet::read(self.references.as_ref(), &quiet::hold_key(subject), t(4, 0))
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_recurring_window_holds_the_alarm_and_its_end_opens_the_incident() {
    let b = bench(with_windows(
        "  - id: nightly\n    match: { rule: vpn-tunnel-down }\n    recurring: { cron: \"0 4 * * *\", duration: 30m, time_zone: UTC }",
    ));
    let down = fixture("cloudwatch-alarm-vpn-tunnel-down");
    let held = b.ok(&down).await;
    assert_eq!(held.action, Action::Suppressed, "{held:?}");
    assert!(
        held.reason.contains("Maintenance window nightly"),
        "{}",
        held.reason
    );
    assert!(
        b.incidents.incidents().is_empty(),
        "nothing opens in the window"
    );
    let notes = b.held();
    assert_eq!(notes.len(), 1);
    assert_eq!(
        (notes[0].kind, notes[0].by.as_str()),
        (HoldKind::Window, "nightly")
    );
    assert_eq!(notes[0].recheck_at, t(4, 30));
    assert_eq!(notes[0].subject, VPN_ALARM);

    // Early: the hold still stands (the timer's `at` is the window's end, not later).
    let early = b.recheck(VPN_ALARM, t(4, 10)).await;
    assert_eq!(early.action, Action::Ignored, "{early:?}");
    assert!(b.incidents.incidents().is_empty());

    b.alarms.set(VPN_ALARM_NAME, "ALARM");
    let opened = b.recheck(VPN_ALARM, t(4, 30)).await;
    assert_eq!(opened.action, Action::Opened, "{opened:?}");
    assert!(opened.reason.starts_with("Re-checked"), "{}", opened.reason);
    assert_eq!(b.incidents.incidents().len(), 1);
    assert_eq!(b.alarms.calls(), vec![VPN_ALARM_NAME.to_string()]);

    // The timer again (Scheduler retried it): nothing more.
    let again = b.recheck(VPN_ALARM, t(4, 30)).await;
    assert_eq!(again.action, Action::Ignored, "{again:?}");
    assert_eq!(b.incidents.incidents().len(), 1);
}

#[tokio::test]
async fn a_recovery_in_the_window_releases_the_hold_and_the_end_opens_nothing() {
    let b = bench(with_windows(
        "  - id: migration\n    once: { start: \"2026-11-21T03:00:00Z\", end: \"2026-11-21T05:00:00Z\" }",
    ));
    assert_eq!(
        b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-down"))
            .await
            .action,
        Action::Suppressed
    );
    let ok = b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-ok")).await;
    assert_eq!(ok.action, Action::Ignored, "{ok:?}");
    let row = b.hold_row(VPN_ALARM).await.unwrap();
    assert!(
        row.released
            .as_deref()
            .unwrap_or("")
            .starts_with("recovered"),
        "{row:?}"
    );
    let end = b.recheck(VPN_ALARM, t(5, 0)).await;
    assert_eq!(end.action, Action::Ignored);
    assert!(end.reason.contains("no longer held"), "{}", end.reason);
    assert!(b.incidents.incidents().is_empty());
    assert!(b.alarms.calls().is_empty(), "nothing to ask CloudWatch");
}

#[tokio::test]
async fn an_alarm_that_cleared_without_its_event_opens_nothing_at_the_end() {
    let b = bench(with_windows(
        "  - id: migration\n    once: { start: \"2026-11-21T03:00:00Z\", end: \"2026-11-21T05:00:00Z\" }",
    ));
    b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-down")).await;
    b.alarms.set(VPN_ALARM_NAME, "OK");
    let end = b.recheck(VPN_ALARM, t(5, 0)).await;
    assert_eq!(end.action, Action::Ignored, "{end:?}");
    assert!(
        end.reason.contains("DescribeAlarms says OK"),
        "{}",
        end.reason
    );
    assert!(b.incidents.incidents().is_empty());
    // An alarm CloudWatch does not know here (another account's) is acted on.
    let c = bench(with_windows(
        "  - id: migration\n    once: { start: \"2026-11-21T03:00:00Z\", end: \"2026-11-21T05:00:00Z\" }",
    ));
    c.ok(&fixture("cloudwatch-alarm-vpn-tunnel-down")).await;
    let acted = c.recheck(VPN_ALARM, t(5, 0)).await;
    assert_eq!(acted.action, Action::Opened, "{acted:?}");
    assert!(
        acted.reason.contains("does not know the alarm"),
        "{}",
        acted.reason
    );
}

#[tokio::test]
async fn a_closed_change_calendar_holds_until_it_opens_and_an_unreadable_one_holds_nothing() {
    let window = "  - id: freeze\n    match: { service: site-to-site-vpn }\n    calendar: MaintenanceCalendar";
    let b = bench(with_windows(window));
    b.calendars
        .set("MaintenanceCalendar", "CLOSED", Some(t(6, 0)));
    let held = b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-down")).await;
    assert_eq!(held.action, Action::Suppressed, "{held:?}");
    assert!(
        held.reason
            .contains("Change Calendar MaintenanceCalendar is CLOSED until 2026-11-21 06:00 UTC"),
        "{}",
        held.reason
    );
    assert_eq!(b.held()[0].recheck_at, t(6, 0));

    let open = bench(with_windows(window));
    open.calendars
        .set("MaintenanceCalendar", "OPEN", Some(t(6, 0)));
    assert_eq!(
        open.ok(&fixture("cloudwatch-alarm-vpn-tunnel-down"))
            .await
            .action,
        Action::Opened
    );

    let unreadable = bench(with_windows(window));
    assert_eq!(
        unreadable
            .ok(&fixture("cloudwatch-alarm-vpn-tunnel-down"))
            .await
            .action,
        Action::Opened,
        "a calendar that is not there holds nothing"
    );
    let throttled = bench(with_windows(window));
    throttled.calendars.fail_next(1, PortErrorKind::Throttled);
    let err = throttled
        .fakes
        .run(
            &throttled.triage,
            &fixture("cloudwatch-alarm-vpn-tunnel-down"),
        )
        .await;
    assert!(err.is_err(), "a throttled read is retried, not guessed");
}

#[tokio::test]
async fn a_silence_holds_its_incidents_firing_signals_and_looks_again_every_five_minutes() {
    let b = bench(Rules::embedded().unwrap());
    let opened = b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-down")).await;
    assert_eq!(opened.action, Action::Opened);
    let incident = opened.incident.clone().unwrap();
    let silence = Silence {
        incident: incident.clone(),
        by: "someone in Slack".into(),
        set_at: t(3, 50),
        until: t(4, 50),
        until_resolved: false,
        lifted_at: None,
    };
    let key = quiet::silence_key(VPN_KEY);
    quiet::write(b.references.as_ref(), &key, &silence, t(6, 0))
        .await
        .unwrap();
    let held = b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-ip-down")).await;
    assert_eq!(held.action, Action::Suppressed, "{held:?}");
    assert!(
        held.reason
            .contains("silenced by someone in Slack until 2026-11-21 04:50 UTC"),
        "{}",
        held.reason
    );
    let note = &b.held()[0];
    assert_eq!(note.kind, HoldKind::Silence);
    assert_eq!(
        note.recheck_at,
        t(4, 5),
        "looked at again in 5 minutes, not at 04:50"
    );

    // The silence is lifted before its end: the re-check lets what still fires join at once.
    let lifted = Silence {
        lifted_at: Some(t(4, 1)),
        ..silence.clone()
    };
    quiet::write(b.references.as_ref(), &key, &lifted, t(6, 0))
        .await
        .unwrap();
    b.alarms.set("vpn-tunnel-ip-down-203.0.113.10", "ALARM");
    b.alarms.set(VPN_ALARM_NAME, "ALARM");
    let subject = note.subject.clone();
    let joined = b.recheck(&subject, t(4, 5)).await;
    assert_eq!(joined.action, Action::Joined, "{joined:?}");
    assert_eq!(joined.incident.as_deref(), Some(incident.as_str()));
}

#[tokio::test]
async fn a_silence_of_another_or_a_closed_incident_holds_nothing() {
    let b = bench(Rules::embedded().unwrap());
    let opened = b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-down")).await;
    let incident = opened.incident.clone().unwrap();
    // Left by an earlier incident on the same key.
    let key = quiet::silence_key(VPN_KEY);
    let older = Silence {
        incident: "oi-older0000000".into(),
        by: "someone in Slack".into(),
        set_at: t(3, 50),
        until: t(4, 50),
        until_resolved: true,
        lifted_at: None,
    };
    quiet::write(b.references.as_ref(), &key, &older, t(6, 0))
        .await
        .unwrap();
    let joined = b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-ip-down")).await;
    assert_eq!(joined.action, Action::Joined, "{joined:?}");
    assert!(b.held().is_empty());

    // This incident's silence, but someone closed the incident in the console.
    let ours = Silence {
        incident: incident.clone(),
        ..older
    };
    quiet::write(b.references.as_ref(), &key, &ours, t(6, 0))
        .await
        .unwrap();
    b.incidents.close_in_console(&IncidentRef {
        backend: Backend::OpsCenter,
        id: incident.clone(),
    });
    b.clock.set(t(4, 10));
    let answer = b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-down")).await;
    assert_ne!(answer.action, Action::Suppressed, "{answer:?}");
    assert!(b.held().is_empty());
}

#[tokio::test]
async fn a_recheck_acts_on_missing_data_and_on_another_regions_alarm() {
    let b = bench(with_windows(
        "  - id: nightly\n    match: { rule: vpn-tunnel-down }\n    recurring: { cron: \"0 4 * * *\", duration: 30m, time_zone: UTC }",
    ));
    assert_eq!(
        b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-down"))
            .await
            .action,
        Action::Suppressed
    );
    // No data after the maintenance: missing data never closes what fired.
    b.alarms.set(VPN_ALARM_NAME, "INSUFFICIENT_DATA");
    let opened = b.recheck(VPN_ALARM, t(4, 30)).await;
    assert_eq!(opened.action, Action::Opened, "{opened:?}");
    assert!(
        opened.reason.contains("INSUFFICIENT_DATA"),
        "{}",
        opened.reason
    );

    // Triage runs in us-east-1: an eu-west-1 alarm of the same name here says nothing of it.
    let other = bench(with_windows(
        "  - id: nightly\n    match: { rule: vpn-tunnel-down }\n    recurring: { cron: \"0 4 * * *\", duration: 30m, time_zone: UTC }",
    ));
    other.ok(&fixture("cloudwatch-alarm-vpn-tunnel-down")).await;
    other.alarms.set(VPN_ALARM_NAME, "OK");
    other.clock.set(t(4, 30));
    let acted = other
        .triage
        .handle_invoked(
            &json!({"recheck": {"subject": VPN_ALARM, "at": t(4, 30)}}),
            t(4, 31),
            "arn:aws:lambda:us-east-1:111122223333:function:responder-triage",
        )
        .await
        .unwrap();
    assert_eq!(acted.action, Action::Opened, "{acted:?}");
    assert!(
        acted.reason.contains("not where triage runs"),
        "{}",
        acted.reason
    );
    assert!(other.alarms.calls().is_empty(), "DescribeAlarms not asked");
}

#[tokio::test]
async fn a_downstream_alarm_folds_into_the_vpn_incident_and_opens_its_own_after_the_vpn_recovers() {
    let b = bench(Rules::embedded().unwrap());
    let vpn = b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-down")).await;
    assert_eq!(vpn.action, Action::Opened);
    let downstream = fixture("cloudwatch-alarm-downstream-of-vpn");
    let folded = b.ok(&downstream).await;
    assert_eq!(folded.action, Action::Joined, "{folded:?}");
    assert_eq!(folded.incident, vpn.incident, "into the VPN's incident");
    assert!(
        folded.reason.contains("inhibition vpn-dependents"),
        "{}",
        folded.reason
    );
    assert_eq!(b.incidents.incidents().len(), 1, "no incident of its own");
    let timeline = &b.incidents.incidents()[0].timeline;
    assert_eq!(
        timeline
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::DownstreamFolded { .. }))
            .count(),
        1
    );
    assert_eq!(b.held()[0].folded, Some(1));
    assert_eq!(b.held()[0].kind, HoldKind::Downstream);

    // Re-delivered: held again, counted once.
    b.ok(&downstream).await;
    assert_eq!(b.held()[1].folded, None, "not a new fold");
    assert_eq!(b.incidents.incidents()[0].timeline.len(), timeline.len());

    // The VPN recovers; the orders alarm still fires: at its next look it opens its own.
    b.clock.set(t(4, 3));
    assert_eq!(
        b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-ok"))
            .await
            .action,
        Action::Recovered
    );
    b.alarms.set("partner-orders-failing", "ALARM");
    let own = b.recheck(ORDERS_ALARM, t(4, 5)).await;
    assert_eq!(own.action, Action::Opened, "{own:?}");
    assert_eq!(own.rule.as_deref(), Some("cloudwatch-alarm"));
    assert_eq!(b.incidents.incidents().len(), 2);
}

#[tokio::test]
async fn a_downstream_signal_stays_folded_while_the_dependency_fires() {
    let b = bench(Rules::embedded().unwrap());
    b.ok(&fixture("cloudwatch-alarm-vpn-tunnel-down")).await;
    b.ok(&fixture("cloudwatch-alarm-downstream-of-vpn")).await;
    b.alarms.set("partner-orders-failing", "ALARM");
    let again = b.recheck(ORDERS_ALARM, t(4, 5)).await;
    assert_eq!(again.action, Action::Joined, "{again:?}");
    let notes = b.held();
    assert_eq!(notes.len(), 2, "held again, with the next look");
    assert_eq!(notes[1].recheck_at, t(4, 5) + Duration::minutes(5));
    assert_eq!(b.incidents.incidents().len(), 1);
}
