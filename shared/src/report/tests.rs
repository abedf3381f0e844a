use chrono::TimeZone;

use super::markdown::{cell, fence_for, CELL_MAX};
use super::*;
use crate::domain::{Backend, EntryKind, Impact, IncidentRef, RunbookRef, Severity, TimelineEntry};
use crate::handlers::testkit::fixture;
use crate::ports::KeyStatus;
use crate::sources::{self, Parsed};

const VPN: &str = "vpn-0123456789abcdef0";
const INCIDENT: &str = "arn:aws:ssm-incidents::111122223333:incident-record/responder/00000001";
const EXECUTION: &str = "00000000-0000-4000-8000-000000000001";
const SNAPSHOT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/report/snapshots/vpn-story.md"
);

/// 2024-05-14 at `h:m:s` UTC (the fixtures' day).
fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 14, h, m, s).unwrap()
}

fn signal(name: &str) -> Signal {
    match sources::parse(&fixture(name)) {
        Ok(Parsed::Signals(mut signals)) if !signals.is_empty() => signals.remove(0),
        other => panic!("no signal in {name}: {other:?}"),
    }
}

fn entry(time: DateTime<Utc>, kind: EntryKind, text: &str) -> TimelineEntry {
    TimelineEntry::new(time, kind, text)
}

/// The parameters the story's runbook started with, in the document's order.
fn parameters() -> Vec<(String, String)> {
    [
        ("VpnConnectionId", VPN),
        ("TunnelAIPAddress", "203.0.113.10"),
        ("TunnelBIPAddress", "203.0.113.11"),
        ("IKEVersion", "IKEv2"),
        ("LogGroupName", "/vpn/tunnels"),
        ("LookBackPeriod", "03"),
        (
            "AutomationAssumeRole",
            "arn:aws:iam::111122223333:role/responder-runbook",
        ),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect()
}

fn finished(status: &str) -> EntryKind {
    EntryKind::RunbookFinished {
        document: "AWSSupport-TroubleshootVPN".into(),
        execution: EXECUTION.into(),
        status: status.into(),
    }
}

struct Story {
    incident: IncidentSummary,
    signal: Signal,
    row: DedupeRecord,
    record: IncidentRecord,
    checks: Vec<String>,
    resolved_at: DateTime<Utc>,
}

impl Story {
    fn input(&self) -> ReportInput<'_> {
        ReportInput {
            incident: &self.incident,
            signal: &self.signal,
            row: &self.row,
            record: &self.record,
            checks: &self.checks,
            resolved_at: self.resolved_at,
            resolved_by: None,
        }
    }
}

/// The VPN story: tunnel 1 of the VPN goes down, the alarm fires at 03:02:10, the incident
/// opens, enrich diagnoses it, AWSSupport-TroubleshootVPN runs, the alarm is OK again at
/// 03:21:10 and resolve closes the incident at 03:23:30.
fn vpn_story() -> Story {
    let down = signal("cloudwatch-alarm-vpn-tunnel-down");
    let ok = signal("cloudwatch-alarm-vpn-tunnel-ok");
    let title = format!("Site-to-Site VPN {VPN}: tunnel down");
    let incident = IncidentSummary {
        backend: Backend::IncidentManager,
        id: INCIDENT.to_string(),
        title: title.clone(),
        impact: Impact::HIGH,
        severity: Severity::High,
        rule: "vpn-tunnel-down".into(),
        service: "site-to-site-vpn".into(),
        tier: "business".into(),
        dedupe_key: format!("vpn-tunnel-down:{VPN}"),
        resources: down.resources.clone(),
        runbook: Some(RunbookRef {
            document: "AWSSupport-TroubleshootVPN".into(),
            version: None,
            parameters: Default::default(),
        }),
        auto_resolve: true,
        next_steps: Vec::new(),
    };
    let row = DedupeRecord {
        key: incident.dedupe_key.clone(),
        status: KeyStatus::Resolved,
        owner: down.fingerprint.clone(),
        incident: Some(IncidentRef {
            backend: Backend::IncidentManager,
            id: INCIDENT.to_string(),
        }),
        rule_id: incident.rule.clone(),
        impact: Impact::HIGH,
        title: title.clone(),
        opened_at: at(3, 2, 11),
        last_signal_at: at(3, 21, 11),
        signal_count: 2,
        detected_at: Some(down.time),
        lease_until: at(3, 2, 21),
        expires_at: at(3, 23, 30) + Duration::hours(24),
        token: "tok".to_string(),
        firing: Default::default(),
    };
    let record = IncidentRecord {
        title,
        resolved: false,
        created_at: Some(at(3, 2, 12)),
        resolved_at: None,
        timeline: vec![
            entry(
                at(3, 2, 13),
                EntryKind::Diagnosis,
                "Tunnel 1 (203.0.113.10) DOWN since 02:55 UTC — 'IPSEC IS DOWN'; tunnel 2 \
                 (203.0.113.11) UP; customer gateway cgw-0a1b2c3d4e5f60718 198.51.100.7 \
                 (ASN 65000)",
            ),
            entry(
                at(3, 2, 20),
                EntryKind::RunbookStarted {
                    document: "AWSSupport-TroubleshootVPN".into(),
                    execution: EXECUTION.into(),
                    parameters: parameters(),
                    notes: Vec::new(),
                },
                &format!(
                    "Runbook AWSSupport-TroubleshootVPN started (execution {EXECUTION}) with \
                     VpnConnectionId={VPN}, TunnelAIPAddress=203.0.113.10, \
                     TunnelBIPAddress=203.0.113.11, IKEVersion=IKEv2, \
                     LogGroupName=/vpn/tunnels, LookBackPeriod=03, \
                     AutomationAssumeRole=arn:aws:iam::111122223333:role/responder-runbook."
                ),
            ),
            entry(
                at(3, 9, 44),
                finished("Success"),
                &format!(
                    "Runbook AWSSupport-TroubleshootVPN finished: Success (execution \
                     {EXECUTION}).\nsummary.output: Tunnel 203.0.113.10: IKE phase 1 \
                     failed | NO_PROPOSAL_CHOSEN: the customer gateway proposed \
                     AES128-SHA1-DH2, the tunnel allows AES256-SHA256-DH14.\nTunnel \
                     203.0.113.11: no errors in the last 3 hours."
                ),
            ),
            entry(
                ok.time,
                EntryKind::SignalRecovered {
                    signal: ok.fingerprint.clone(),
                },
                &format!(
                    "Signal recovered: {} — the responder will verify and resolve.",
                    ok.summary
                ),
            ),
        ],
    };
    Story {
        incident,
        signal: ok,
        row,
        record,
        checks: vec![
            format!("DescribeAlarms: alarm vpn-tunnel-down-{VPN} is OK"),
            format!(
                "DescribeVpnConnections: both tunnels of {VPN} are UP (203.0.113.10, 203.0.113.11)"
            ),
        ],
        resolved_at: at(3, 23, 30),
    }
}

/// Compares `actual` with the snapshot file; `UPDATE_SNAPSHOTS=1` rewrites it.
fn assert_snapshot(path: &str, actual: &str) {
    if std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        if let Some(dir) = std::path::Path::new(path).parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(path, actual).unwrap_or_else(|e| panic!("{path}: {e}"));
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run with UPDATE_SNAPSHOTS=1 to write it)"));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "the end".to_string(), |n| format!("line {}", n + 1));
        panic!(
            "the report differs from {path} at {line} (UPDATE_SNAPSHOTS=1 rewrites it):\n{actual}"
        );
    }
}

#[test]
fn the_vpn_story_renders_as_the_snapshot() {
    let story = vpn_story();
    assert_snapshot(SNAPSHOT, &render(&story.input()));
}

#[test]
fn the_vpn_story_has_every_milestone_and_duration() {
    let story = vpn_story();
    let text = render(&story.input());
    for expected in [
        "| Detected (first signal) | 2024-05-14 03:02:10 | — |",
        "| Opened | 2024-05-14 03:02:12 | 2 s |",
        "| Diagnosed | 2024-05-14 03:02:13 | 3 s |",
        "| Runbook started | 2024-05-14 03:02:20 | 10 s |",
        "| Runbook finished | 2024-05-14 03:09:44 | 8 min |",
        "| Recovered (signal cleared) | 2024-05-14 03:21:10 | 19 min |",
        "| Resolved | 2024-05-14 03:23:30 | 21 min |",
        "- **Time to open:** 2 s",
        "- **Time to recover:** 19 min",
        "- **Time to resolve:** 21 min",
        "### AWSSupport-TroubleshootVPN: Success",
        "- Finished: 2024-05-14 03:09:44 UTC, after 7 min",
        "  - `LogGroupName=/vpn/tunnels`",
        "failed \\| NO_PROPOSAL_CHOSEN",
        "### Root cause",
        "### What detected it",
        "### What would have prevented it",
        "### Action items",
        "- [ ] Confirm the root cause",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    // The runbook's output is quoted as it is, `|` and all, in its own block.
    assert!(text.contains(
        "```text\nsummary.output: Tunnel 203.0.113.10: IKE phase 1 failed | NO_PROPOSAL"
    ));
}

#[test]
fn the_record_reads_the_kinds_never_the_words() {
    let mut story = vpn_story();
    // Reworded entries: the milestones, the runbook's parameters and its outcome stay.
    for e in &mut story.record.timeline {
        e.text = format!("(reworded) {}", e.text.replace("Runbook", "Playbook"));
    }
    // The backend's own events and a person's note that reads like ours are no milestones.
    story.record.timeline.insert(
        0,
        entry(
            at(3, 2, 12),
            EntryKind::External {
                event: "Incident Created".into(),
            },
            "Incident created by the response plan",
        ),
    );
    story.record.timeline.push(entry(
        at(3, 22, 0),
        EntryKind::External {
            event: "note".into(),
        },
        "Runbook AWSSupport-Other started (execution x) with A=1.",
    ));
    let text = render(&story.input());
    for expected in [
        "| Diagnosed | 2024-05-14 03:02:13 | 3 s |",
        "| Runbook started | 2024-05-14 03:02:20 | 10 s |",
        "| Runbook finished | 2024-05-14 03:09:44 | 8 min |",
        "> (reworded) Tunnel 1 (203.0.113.10) DOWN since 02:55 UTC",
        "### AWSSupport-TroubleshootVPN: Success",
        "  - `LogGroupName=/vpn/tunnels`",
        "| 2024-05-14 03:02:12 | Incident created by the response plan |",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    assert!(!text.contains("### AWSSupport-Other"), "{text}");
    assert_eq!(text.matches("\n### AWSSupport-").count(), 1, "{text}");
}

#[test]
fn missing_milestones_and_a_runbook_not_started_are_said() {
    let mut story = vpn_story();
    story.record.timeline = vec![entry(
        at(3, 2, 20),
        EntryKind::RunbookNotStarted {
            document: "AWSSupport-TroubleshootVPN".into(),
            why: "no valid value for LogGroupName (tunnel 203.0.113.10 does not log to \
                  CloudWatch Logs). Enable tunnel logging."
                .into(),
        },
        "Runbook AWSSupport-TroubleshootVPN not started: no valid value for LogGroupName \
         (tunnel 203.0.113.10 does not log to CloudWatch Logs). Enable tunnel logging.",
    )];
    story.record.created_at = None;
    story.row.detected_at = None;
    let text = render(&story.input());
    assert!(
        text.contains("| Diagnosed | — | not on the timeline |"),
        "{text}"
    );
    assert!(
        text.contains("| Runbook started | — | not on the timeline |"),
        "{text}"
    );
    // Without a detection time on the row, the key's claim is the detection; without a
    // creation time from the backend, the row's opening is the opening.
    assert!(
        text.contains("| Detected (first signal) | 2024-05-14 03:02:11 | — |"),
        "{text}"
    );
    assert!(
        text.contains("| Opened | 2024-05-14 03:02:11 | 0 s |"),
        "{text}"
    );
    assert!(
        text.contains("### AWSSupport-TroubleshootVPN: not started"),
        "{text}"
    );
    assert!(
        text.contains("- [ ] Fix what kept AWSSupport-TroubleshootVPN from starting: no valid value for LogGroupName"),
        "{text}"
    );
    assert!(
        text.contains("No diagnosis was recorded on the timeline."),
        "{text}"
    );
}

#[test]
fn a_failed_runbook_becomes_an_action_item() {
    let mut story = vpn_story();
    for e in &mut story.record.timeline {
        if matches!(e.kind, EntryKind::RunbookFinished { .. }) {
            e.kind = finished("Failed");
            e.text = e.text.replace("finished: Success", "finished: Failed");
        }
    }
    let text = render(&story.input());
    assert!(
        text.contains("### AWSSupport-TroubleshootVPN: Failed"),
        "{text}"
    );
    assert!(
        text.contains("- [ ] Find out why AWSSupport-TroubleshootVPN ended Failed"),
        "{text}"
    );
}

#[test]
fn the_runbook_notes_are_listed_under_its_run() {
    let mut story = vpn_story();
    for e in &mut story.record.timeline {
        if let EntryKind::RunbookStarted { notes, .. } = &mut e.kind {
            notes.push("IKEVersion: the tunnel's IKE version was not logged; IKEv2 assumed".into());
        }
    }
    let text = render(&story.input());
    assert!(
        text.contains("- Note: IKEVersion: the tunnel's IKE version was not logged; IKEv2 assumed"),
        "{text}"
    );
}

#[test]
fn keys_are_dated_by_detection_and_safe() {
    let detected = at(3, 2, 10);
    assert_eq!(
        object_key(INCIDENT, detected),
        "incidents/2024/05/14/responder-00000001.md"
    );
    assert_eq!(
        object_key("oi-0123456789ab", detected),
        "incidents/2024/05/14/oi-0123456789ab.md"
    );
    assert_eq!(safe_incident_id("a b/../c"), "a-b-..-c");
    assert_eq!(safe_incident_id(""), "incident");
}

#[test]
fn durations_read_like_people_write_them() {
    assert_eq!(human_duration(Duration::seconds(-5)), "0 s");
    assert_eq!(human_duration(Duration::seconds(59)), "59 s");
    assert_eq!(human_duration(Duration::milliseconds(59_400)), "59 s");
    assert_eq!(human_duration(Duration::seconds(21 * 60 + 29)), "21 min");
    assert_eq!(
        human_duration(Duration::milliseconds(18 * 60_000 + 59_700)),
        "19 min"
    );
    assert_eq!(
        human_duration(Duration::seconds(59 * 60 + 45)),
        "1 h 00 min"
    );
    assert_eq!(human_duration(Duration::seconds(64 * 60)), "1 h 04 min");
    assert_eq!(
        human_duration(Duration::minutes(2 * 24 * 60 + 3 * 60 + 10)),
        "2 d 03 h 10 min"
    );
}

#[test]
fn table_cells_stay_one_row() {
    assert_eq!(cell("a | b\n\nc"), "a \\| b<br>c");
    assert!(cell(&"x".repeat(2 * CELL_MAX)).chars().count() <= CELL_MAX);
    assert_eq!(fence_for("no ticks"), "```");
    assert_eq!(fence_for("a ```` b"), "`````");
}

#[test]
fn pages_and_the_acknowledgement_are_in_the_record() {
    let mut story = vpn_story();
    let paged = |round| EntryKind::Paged {
        policy: "page-now".into(),
        stage: 1,
        round,
        targets: vec!["primary".into()],
    };
    story.record.timeline.extend([
        entry(at(3, 2, 14), paged(1), "Paged primary"),
        entry(at(3, 7, 14), paged(2), "Paged primary"),
        entry(
            at(3, 9, 12),
            EntryKind::Acknowledged {
                by: "someone in Slack".into(),
                via: "slack".into(),
            },
            "Acknowledged",
        ),
    ]);
    story.record.timeline.sort_by_key(|e| e.time);
    let text = render(&story.input());
    for expected in [
        "| First page | 2024-05-14 03:02:14 | 4 s |",
        "| Acknowledged | 2024-05-14 03:09:12 | 7 min |",
        "- **Time to acknowledge:** 7 min (opened → acknowledged by someone in Slack, from slack)",
        "- **Pages sent:** primary ×2",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    // Without escalation, the record says nothing about paging.
    let quiet = render(&vpn_story().input());
    assert!(!quiet.contains("Pages sent") && !quiet.contains("| Acknowledged |"));
}

#[test]
fn downstream_signals_and_silences_are_in_the_record() {
    let mut story = vpn_story();
    story.record.timeline.extend([
        entry(
            at(3, 4, 40),
            EntryKind::DownstreamFolded {
                signal: "orders-1".into(),
            },
            "Downstream signal folded (rule cloudwatch-alarm, inhibition vpn-dependents): partner-orders-failing: ALARM",
        ),
        entry(
            at(3, 5, 0),
            EntryKind::DownstreamFolded {
                signal: "payments-1".into(),
            },
            "Downstream signal folded (rule cloudwatch-alarm, inhibition vpn-dependents): partner-payments-failing: ALARM",
        ),
        entry(
            at(3, 6, 0),
            EntryKind::Silenced {
                by: "someone in Slack".into(),
                until: at(4, 6, 0),
                lifted: false,
            },
            "Silenced by someone in Slack until 2024-05-14 04:06 UTC: no pages, no posts but the resolution",
        ),
    ]);
    story.record.timeline.sort_by_key(|e| e.time);
    let text = render(&story.input());
    for expected in [
        "- **Downstream signals folded:** 2 (they paged nobody while this incident was open)",
        "- **Silence:** Silenced by someone in Slack until 2024-05-14 04:06 UTC: no pages, no posts but the resolution (2024-05-14 03:06:00)",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    let plain = render(&vpn_story().input());
    assert!(!plain.contains("Downstream") && !plain.contains("Silence"));
}

#[test]
fn what_changed_before_the_incident_is_in_the_record() {
    let mut story = vpn_story();
    story.record.timeline.push(entry(
        at(3, 2, 30),
        EntryKind::Changes { count: 2 },
        "2 changes from 3 h before the signal until now; the latest: ModifyVpnTunnelOptions on vpn-0123456789abcdef0 at 2024-05-14 02:41 UTC by alice\n\
         - ModifyVpnTunnelOptions on vpn-0123456789abcdef0 at 2024-05-14 02:41 UTC by alice\n\
         - UPDATE_COMPLETE on stack partner-vpn at 2024-05-14 02:30 UTC\n\
         Stack partner-vpn: UPDATE_COMPLETE, last changed 2024-05-14 02:30 UTC",
    ));
    story.record.timeline.sort_by_key(|e| e.time);
    let text = render(&story.input());
    for expected in [
        "## What changed\n\n2 changes from 3 h before the signal until now;",
        "- ModifyVpnTunnelOptions on vpn-0123456789abcdef0 at 2024-05-14 02:41 UTC by alice\n- UPDATE_COMPLETE on stack partner-vpn",
        "- Stack partner-vpn: UPDATE_COMPLETE, last changed 2024-05-14 02:30 UTC",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    assert!(!render(&vpn_story().input()).contains("## What changed"));
}

#[test]
fn what_inspect_found_about_the_resource_is_in_the_record_after_the_diagnosis() {
    let mut story = vpn_story();
    story.record.timeline.push(entry(
        at(3, 2, 13),
        EntryKind::Inspected,
        "Target group web-tg (HTTP:80): 1 of 2 targets healthy; i-0bbb:80 unhealthy (Target.Timeout)\n\
         - i-0aaa:80 healthy\n\
         - i-0bbb:80 unhealthy (Target.Timeout)",
    ));
    story.record.timeline.sort_by_key(|e| e.time);
    let text = render(&story.input());
    for expected in [
        "The resource at the time: Target group web-tg (HTTP:80): 1 of 2 targets healthy;",
        "(ASN 65000)\n> Target group web-tg (HTTP:80): 1 of 2 targets healthy;",
        "> - i-0bbb:80 unhealthy (Target.Timeout)",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
}
