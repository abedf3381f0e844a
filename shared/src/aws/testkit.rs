//! Test fixtures and helpers shared by the adapter tests (not every feature set uses them all).
#![allow(dead_code)]

use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use chrono::{DateTime, TimeZone, Utc};

use crate::domain::{
    Category, Impact, NewIncident, RelatedItem, RelatedItemKind, RelatedValue, Severity, Trigger,
};

pub(crate) const VPN_ARN: &str = "arn:aws:ec2:eu-west-1:111122223333:vpn-connection/vpn-0abc1234";
pub(crate) const ALARM_ARN: &str =
    "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:vpn-0abc1234-tunnel-down";
pub(crate) const INCIDENT_ARN: &str =
    "arn:aws:ssm-incidents::111122223333:incident-record/vpn-plan/6ebcc812-85f5-b7eb-8b2f-283e4EXAMPLE";
pub(crate) const METRIC_JSON: &str = r#"{"metrics":[["AWS/VPN","TunnelState","VpnId","vpn-0abc1234"]],"stat":"Minimum","period":60}"#;

/// The result, or a panic naming the error.
pub(crate) fn must<T, E: Debug>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|e| panic!("unexpected error: {e:?}"))
}

/// The error, or a panic naming the value.
pub(crate) fn must_fail<T: Debug, E>(result: Result<T, E>) -> E {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e,
    }
}

pub(crate) fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
        .single()
        .unwrap_or_else(|| panic!("bad fixture time"))
}

/// Error metadata as the SDK's deserializer fills it for a service error.
pub(crate) fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

/// Standard retries, `attempts` in all, with millisecond backoff so tests stay fast.
pub(crate) fn fast_retries(attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(attempts)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
}

/// Requests seen by a mock rule's matcher.
#[derive(Clone, Default)]
pub(crate) struct Captured<T>(Arc<Mutex<Vec<T>>>);

impl<T: Clone> Captured<T> {
    pub(crate) fn new() -> Self {
        Captured(Arc::new(Mutex::new(Vec::new())))
    }

    /// Records `item`; returns `true` so it can end a `match_requests` closure.
    pub(crate) fn push(&self, item: T) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(item);
        true
    }

    pub(crate) fn all(&self) -> Vec<T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn only(&self) -> T {
        let all = self.all();
        assert_eq!(all.len(), 1, "expected exactly one captured request");
        all.into_iter()
            .next()
            .unwrap_or_else(|| panic!("nothing captured"))
    }
}

/// A VPN-down incident: an ARN, a metric and a URL among its related items.
pub(crate) fn new_incident() -> NewIncident {
    NewIncident {
        title: "VPN vpn-0abc1234: tunnel down".to_string(),
        summary: "Tunnel 1 of vpn-0abc1234 is down (TunnelState 0 for 3 minutes).".to_string(),
        impact: Impact::HIGH,
        severity: Severity::High,
        category: Category::Availability,
        rule_id: "vpn-tunnel-down".to_string(),
        service: "network".to_string(),
        dedupe_key: "vpn-tunnel-down#vpn-0abc1234".to_string(),
        client_token: "5d41402abc4b2a76b9719d911017c592".to_string(),
        trigger: Trigger {
            source: "incident.responder".to_string(),
            timestamp: at(2026, 11, 21, 3, 55, 0),
            raw_data: r#"{"detail-type":"CloudWatch Alarm State Change"}"#.to_string(),
            arn: Some(ALARM_ARN.to_string()),
        },
        related_items: vec![
            RelatedItem::resource(VPN_ARN, "VPN connection vpn-0abc1234"),
            RelatedItem {
                kind: RelatedItemKind::Metric,
                title: "TunnelState".to_string(),
                value: RelatedValue::MetricDefinition(METRIC_JSON.to_string()),
            },
            RelatedItem {
                kind: RelatedItemKind::Attachment,
                title: "Runbook".to_string(),
                value: RelatedValue::Url("https://wiki.example.com/runbooks/vpn".to_string()),
            },
        ],
        resources: vec![
            VPN_ARN.to_string(),
            "vpn-0abc1234".to_string(),
            ALARM_ARN.to_string(),
        ],
    }
}
