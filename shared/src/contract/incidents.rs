//! The incident backends' contract: what every [`IncidentOpener`], [`IncidentWriter`] and
//! [`IncidentResolver`] does — opening idempotently, keeping each timeline entry's kind and
//! words, resolving once.

use super::{fresh, second};
use crate::domain::{stable_hash, Impact};
use crate::domain::{
    Backend, Category, EntryKind, IncidentRef, NewIncident, RelatedItem, Severity, TimelineEntry,
    Trigger, RESPONDER_SOURCE,
};
use crate::ports::{IncidentOpener, IncidentResolver, IncidentWriter, PortErrorKind};

const VPN_ARN: &str = "arn:aws:ec2:eu-west-1:111122223333:vpn-connection/vpn-0123456789abcdef0";

fn new_incident() -> NewIncident {
    let key = fresh("incident");
    NewIncident {
        title: "Site-to-Site VPN vpn-0123456789abcdef0: tunnel down".to_string(),
        summary: "Tunnel 1 of vpn-0123456789abcdef0 is down.".to_string(),
        impact: Impact::HIGH,
        severity: Severity::High,
        category: Category::Availability,
        rule_id: "vpn-tunnel-down".to_string(),
        service: "site-to-site-vpn".to_string(),
        dedupe_key: key.clone(),
        client_token: stable_hash(&["contract", &key], 64),
        trigger: Trigger {
            source: RESPONDER_SOURCE.to_string(),
            timestamp: second(0),
            raw_data: r#"{"detail-type":"CloudWatch Alarm State Change"}"#.to_string(),
            arn: None,
        },
        related_items: vec![RelatedItem::resource(VPN_ARN, "VPN connection")],
        resources: vec![VPN_ARN.to_string()],
    }
}

/// The entries the stages write, out of time order, with words that need escaping.
fn entries() -> Vec<(TimelineEntry, String)> {
    let entry = |at: i64, kind: EntryKind, text: &str| {
        (
            TimelineEntry::new(second(at), kind, text),
            stable_hash(&["contract", &at.to_string()], 64),
        )
    };
    vec![
        entry(
            2,
            EntryKind::Diagnosis,
            "Tunnel 1 (203.0.113.10) DOWN — 'IPSEC IS DOWN'\nNote: \"quoted\"",
        ),
        entry(
            5,
            EntryKind::RunbookFinished {
                document: "AWSSupport-TroubleshootVPN".into(),
                execution: "e-1".into(),
                status: "Success".into(),
            },
            "Runbook finished.\nsummary.output: NO_PROPOSAL_CHOSEN | AES128",
        ),
        entry(
            3,
            EntryKind::RunbookStarted {
                document: "AWSSupport-TroubleshootVPN".into(),
                execution: "e-1".into(),
                parameters: vec![("VpnConnectionId".into(), "vpn-0123456789abcdef0".into())],
                notes: vec!["IKEv2 was assumed".into()],
            },
            "Runbook started.",
        ),
        entry(
            6,
            EntryKind::ImpactRaised {
                from: 2,
                to: 1,
                signal: "fp-3".into(),
            },
            "Impact raised from 2 to 1: a graver signal joined.",
        ),
        entry(
            4,
            EntryKind::SignalJoined {
                signal: "fp-2".into(),
            },
            "Another signal joined (signal 2).",
        ),
    ]
}

/// Opening, writing, reading back and resolving one incident of the writer's backend.
pub(crate) async fn incidents(
    opener: &dyn IncidentOpener,
    writer: &dyn IncidentWriter,
    resolver: &dyn IncidentResolver,
) {
    let backend = writer.backend();
    let new = new_incident();
    let opened = opener.open(&new).await.unwrap();
    assert_eq!(opened.backend, backend);
    assert_eq!(
        opener.open(&new).await.unwrap(),
        opened,
        "a retried opening opens nothing new"
    );
    let other = opener.open(&new_incident()).await.unwrap();
    assert_ne!(other, opened, "another occurrence opens another incident");

    // Every entry reads back with its kind and words, oldest first; a retried write (the same
    // client token) writes nothing new.
    let written = entries();
    for (entry, token) in &written {
        writer.add_timeline(&opened, entry, token).await.unwrap();
    }
    let (first, token) = &written[0];
    writer.add_timeline(&opened, first, token).await.unwrap();
    let mut expected: Vec<TimelineEntry> = written.into_iter().map(|(e, _)| e).collect();
    expected.sort_by_key(|e| e.time);
    let record = resolver.record(&opened).await.unwrap();
    let ours: Vec<TimelineEntry> = record
        .timeline
        .iter()
        .filter(|e| !matches!(e.kind, EntryKind::External { .. }))
        .cloned()
        .collect();
    assert_eq!(ours, expected);
    assert_eq!(record.title, new.title);
    assert!(!record.resolved && record.resolved_at.is_none());
    assert!(record.created_at.is_some());

    // Its standing: open at the impact it opened with; a graver impact is kept.
    let standing = writer.standing(&opened).await.unwrap();
    assert!(standing.open, "{standing:?}");
    assert_eq!(standing.impact, Some(Impact::HIGH));
    writer.set_impact(&opened, Impact::CRITICAL).await.unwrap();
    writer.set_impact(&opened, Impact::CRITICAL).await.unwrap();
    assert_eq!(
        writer.standing(&opened).await.unwrap().impact,
        Some(Impact::CRITICAL)
    );

    let items = [RelatedItem::resource(
        "arn:aws:ec2:eu-west-1:111122223333:customer-gateway/cgw-0123456789abcdef0",
        "Customer gateway",
    )];
    writer
        .add_related_items(&opened, &items, "items")
        .await
        .unwrap();
    writer
        .add_related_items(&opened, &items, "items")
        .await
        .unwrap();

    resolver
        .resolve(&opened, "Resolved: both tunnels UP.")
        .await
        .unwrap();
    resolver
        .resolve(&opened, "Resolved: both tunnels UP.")
        .await
        .unwrap();
    let record = resolver.record(&opened).await.unwrap();
    assert!(
        record.resolved && record.resolved_at.is_some(),
        "{record:?}"
    );
    let standing = writer.standing(&opened).await.unwrap();
    assert!(!standing.open, "resolved: {standing:?}");
    assert!(writer.standing(&other).await.unwrap().open);
    assert!(!resolver.record(&other).await.unwrap().resolved);

    let unknown = IncidentRef {
        backend,
        id: match backend {
            Backend::IncidentManager => format!(
                "arn:aws:ssm-incidents::111122223333:incident-record/responder/{}",
                stable_hash(&[&fresh("gone")], 32)
            ),
            Backend::OpsCenter => format!("oi-{}", &stable_hash(&[&fresh("gone")], 12)),
        },
    };
    let err = resolver.record(&unknown).await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::NotFound, "{err}");
    let err = writer.standing(&unknown).await.unwrap_err();
    assert_eq!(err.kind, PortErrorKind::NotFound, "{err}");
    let elsewhere = IncidentRef {
        backend: match backend {
            Backend::IncidentManager => Backend::OpsCenter,
            Backend::OpsCenter => Backend::IncidentManager,
        },
        id: opened.id.clone(),
    };
    let err = writer
        .add_timeline(&elsewhere, &expected[0], "elsewhere")
        .await
        .unwrap_err();
    assert_eq!(
        err.kind,
        PortErrorKind::Invalid,
        "another backend's incident"
    );
}
