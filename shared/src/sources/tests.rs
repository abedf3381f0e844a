//! Helpers for the source modules' tests, and the tests that concern every source: dispatch,
//! bad input, round trips.

use serde_json::{json, Value};

use super::{parse, Parsed, SourceError, Timestamp, SUMMARY_MAX};
use crate::domain::Signal;

/// Every fixture, by file name.
const FIXTURES: &[(&str, &str)] = &[
    (
        "cloudtrail-iamuser-console-signin",
        include_str!("../../../tests/fixtures/events/cloudtrail-iamuser-console-signin.json"),
    ),
    (
        "cloudtrail-root-api-call",
        include_str!("../../../tests/fixtures/events/cloudtrail-root-api-call.json"),
    ),
    (
        "cloudtrail-root-console-signin",
        include_str!("../../../tests/fixtures/events/cloudtrail-root-console-signin.json"),
    ),
    (
        "cloudwatch-alarm-composite",
        include_str!("../../../tests/fixtures/events/cloudwatch-alarm-composite.json"),
    ),
    (
        "cloudwatch-alarm-ec2-cpu-high",
        include_str!("../../../tests/fixtures/events/cloudwatch-alarm-ec2-cpu-high.json"),
    ),
    (
        "cloudwatch-alarm-ec2-status-check-system",
        include_str!(
            "../../../tests/fixtures/events/cloudwatch-alarm-ec2-status-check-system.json"
        ),
    ),
    (
        "cloudwatch-alarm-ec2-status-check-system-ok",
        include_str!(
            "../../../tests/fixtures/events/cloudwatch-alarm-ec2-status-check-system-ok.json"
        ),
    ),
    (
        "cloudwatch-alarm-insufficient-data",
        include_str!("../../../tests/fixtures/events/cloudwatch-alarm-insufficient-data.json"),
    ),
    (
        "cloudwatch-alarm-lambda-action",
        include_str!("../../../tests/fixtures/events/cloudwatch-alarm-lambda-action.json"),
    ),
    (
        "cloudwatch-alarm-metric-math",
        include_str!("../../../tests/fixtures/events/cloudwatch-alarm-metric-math.json"),
    ),
    (
        "cloudwatch-alarm-vpn-tunnel-down",
        include_str!("../../../tests/fixtures/events/cloudwatch-alarm-vpn-tunnel-down.json"),
    ),
    (
        "cloudwatch-alarm-vpn-tunnel-ip-down",
        include_str!("../../../tests/fixtures/events/cloudwatch-alarm-vpn-tunnel-ip-down.json"),
    ),
    (
        "cloudwatch-alarm-vpn-tunnel-ip-ok",
        include_str!("../../../tests/fixtures/events/cloudwatch-alarm-vpn-tunnel-ip-ok.json"),
    ),
    (
        "cloudwatch-alarm-vpn-tunnel-ok",
        include_str!("../../../tests/fixtures/events/cloudwatch-alarm-vpn-tunnel-ok.json"),
    ),
    (
        "guardduty-finding-high",
        include_str!("../../../tests/fixtures/events/guardduty-finding-high.json"),
    ),
    (
        "guardduty-finding-low",
        include_str!("../../../tests/fixtures/events/guardduty-finding-low.json"),
    ),
    (
        "health-vpn-single-tunnel",
        include_str!("../../../tests/fixtures/events/health-vpn-single-tunnel.json"),
    ),
    (
        "health-vpn-tunnel-endpoint-replacement",
        include_str!("../../../tests/fixtures/events/health-vpn-tunnel-endpoint-replacement.json"),
    ),
    (
        "malformed-alarm-missing-state",
        include_str!("../../../tests/fixtures/events/malformed-alarm-missing-state.json"),
    ),
    (
        "securityhub-finding-critical",
        include_str!("../../../tests/fixtures/events/securityhub-finding-critical.json"),
    ),
    (
        "securityhub-finding-resolved",
        include_str!("../../../tests/fixtures/events/securityhub-finding-resolved.json"),
    ),
    (
        "securityhub-finding-guardduty",
        include_str!("../../../tests/fixtures/events/securityhub-finding-guardduty.json"),
    ),
    (
        "securityhub-findings-multiple",
        include_str!("../../../tests/fixtures/events/securityhub-findings-multiple.json"),
    ),
    (
        "unknown-source",
        include_str!("../../../tests/fixtures/events/unknown-source.json"),
    ),
];

/// Fixtures that do not give signals.
const NOT_SIGNALS: &[&str] = &[
    "cloudtrail-iamuser-console-signin",
    "malformed-alarm-missing-state",
    "unknown-source",
];

/// A fixture, parsed.
pub(super) fn fixture(name: &str) -> Value {
    match FIXTURES.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => json(text),
        None => panic!("no fixture {name}"),
    }
}

pub(super) fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("fixture is not JSON: {e}"))
}

pub(super) fn signals_of(event: &Value) -> Vec<Signal> {
    match parse(event) {
        Ok(Parsed::Signals(signals)) => signals,
        Ok(Parsed::NotHandled(reason)) => panic!("not handled: {reason}"),
        Err(e) => panic!("error: {e}"),
    }
}

/// The one signal of an event.
pub(super) fn signal_of(event: &Value) -> Signal {
    let mut signals = signals_of(event);
    assert_eq!(signals.len(), 1, "expected one signal");
    signals.remove(0)
}

pub(super) fn not_handled(event: &Value) -> String {
    match parse(event) {
        Ok(Parsed::NotHandled(reason)) => reason,
        Ok(Parsed::Signals(signals)) => panic!("handled: {signals:?}"),
        Err(e) => panic!("error: {e}"),
    }
}

pub(super) fn error_of(event: &Value) -> SourceError {
    match parse(event) {
        Err(e) => e,
        Ok(parsed) => panic!("parsed: {parsed:?}"),
    }
}

#[test]
fn every_fixture_is_json_and_signals_round_trip() {
    for (name, text) in FIXTURES {
        let event = json(text);
        if NOT_SIGNALS.contains(name) {
            continue;
        }
        let signals = signals_of(&event);
        assert!(!signals.is_empty(), "{name}: no signals");
        for signal in signals {
            let serialized = serde_json::to_string(&signal)
                .unwrap_or_else(|e| panic!("{name}: cannot serialize: {e}"));
            let back: Signal = serde_json::from_str(&serialized)
                .unwrap_or_else(|e| panic!("{name}: cannot deserialize: {e}"));
            assert_eq!(back, signal, "{name}");
            assert_eq!(signal.fingerprint.len(), 32, "{name}");
            assert!(!signal.resource.is_empty(), "{name}");
            assert!(signal.resources.contains(&signal.resource), "{name}");
            assert!(signal.summary.chars().count() <= SUMMARY_MAX, "{name}");
            assert!(!signal.summary.contains('\n'), "{name}");
        }
    }
}

#[test]
fn unknown_source_is_not_handled_by_name() {
    assert_eq!(
        not_handled(&fixture("unknown-source")),
        "no parser for source `aws.autoscaling` detail-type `EC2 Instance Launch Successful`"
    );
}

#[test]
fn non_objects_are_errors() {
    for (event, found) in [
        (json!([1, 2]), "an array"),
        (json!("CloudWatch Alarm State Change"), "a string"),
        (json!(42), "a number"),
        (json!(true), "a boolean"),
        (Value::Null, "null"),
    ] {
        let error = error_of(&event);
        assert_eq!(error.error_type(), "NotAnEvent");
        assert_eq!(
            error.to_string(),
            format!("event is not a JSON object but {found}")
        );
    }
}

#[test]
fn objects_of_no_known_shape_are_not_handled() {
    for event in [
        json!({}),
        json!({"source": "aws.cloudwatch"}),
        json!({"Records": []}),
    ] {
        assert_eq!(
            not_handled(&event),
            "not an EventBridge event or CloudWatch alarm action payload"
        );
    }
}

#[test]
fn an_incomplete_envelope_names_the_missing_field() {
    let cases = [
        (
            json!({"source": "aws.cloudwatch", "detail-type": "x"}),
            "EventBridge event: missing field `detail`",
        ),
        (
            json!({"detail-type": "x", "detail": {}}),
            "EventBridge event: missing field `source`",
        ),
        (
            json!({"source": "aws.health", "detail": {}}),
            "EventBridge event: missing field `detail-type`",
        ),
        (
            json!({"source": "aws.health", "detail-type": 7, "detail": {}}),
            "EventBridge event: detail-type: invalid type: integer `7`, expected a string",
        ),
    ];
    for (event, message) in cases {
        let error = error_of(&event);
        assert_eq!(error.error_type(), "MalformedEvent");
        assert_eq!(error.to_string(), message);
    }
}

/// An envelope for `source`/`detail-type` with the given detail.
fn event_with_detail(source: &str, detail_type: &str, detail: Value) -> Value {
    json!({
        "version": "0",
        "id": "0",
        "detail-type": detail_type,
        "source": source,
        "account": "111122223333",
        "time": "2024-05-14T03:02:10Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail
    })
}

const KNOWN: &[(&str, &str)] = &[
    ("aws.cloudwatch", "CloudWatch Alarm State Change"),
    ("aws.securityhub", "Security Hub Findings - Imported"),
    ("aws.guardduty", "GuardDuty Finding"),
    ("aws.signin", "AWS Console Sign In via CloudTrail"),
    ("aws.ec2", "AWS API Call via CloudTrail"),
    ("aws.health", "AWS Health Event"),
];

#[test]
fn a_known_event_with_a_null_detail_is_an_error_naming_it() {
    for (source, detail_type) in KNOWN {
        let error = error_of(&event_with_detail(source, detail_type, Value::Null));
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("{detail_type} event: detail: invalid type: null")),
            "{message}"
        );
    }
}

#[test]
fn a_known_event_with_an_empty_or_odd_detail_is_an_error() {
    for (source, detail_type) in KNOWN {
        for detail in [json!({}), json!([]), json!("detail"), json!(0)] {
            let error = error_of(&event_with_detail(source, detail_type, detail));
            assert_eq!(error.error_type(), "MalformedEvent");
            assert!(error.to_string().starts_with(detail_type), "{error}");
        }
    }
}

#[test]
fn an_envelope_without_account_is_an_error() {
    let mut event = fixture("cloudwatch-alarm-vpn-tunnel-down");
    if let Some(fields) = event.as_object_mut() {
        fields.remove("account");
    }
    assert_eq!(
        error_of(&event).to_string(),
        "CloudWatch Alarm State Change event: missing field `account`"
    );
}

fn alarm_named(name: &str, reason: &str) -> Value {
    event_with_detail(
        "aws.cloudwatch",
        "CloudWatch Alarm State Change",
        json!({
            "alarmName": name,
            "state": {"value": "ALARM", "reason": reason, "timestamp": "2024-05-14T03:02:10.485+0000"},
            "configuration": {"metrics": []}
        }),
    )
}

#[test]
fn oversized_strings_are_trimmed_in_the_summary() {
    let name = "n".repeat(100_000);
    let reason = "r".repeat(100_000);
    let signal = signal_of(&alarm_named(&name, &reason));
    assert_eq!(signal.alarm_name.as_deref(), Some(name.as_str()));
    assert_eq!(signal.summary.chars().count(), SUMMARY_MAX);
    assert!(signal.summary.ends_with('…'));

    let long_source = "s".repeat(100_000);
    let reason = not_handled(&event_with_detail(&long_source, "x", json!({})));
    assert!(reason.chars().count() < 300, "{reason}");
}

#[test]
fn any_unicode_is_carried_and_the_summary_stays_one_clean_line() {
    for name in [
        "vpn 🔥 down 🚨",
        "\u{5e0}\u{5e8}\u{5d5}\u{5d8}\u{5d5} \u{202e}RTL\u{202c}",
        "nul\u{0}inside",
        "line\nbreak\ttab\r\nend",
        "",
    ] {
        let signal = signal_of(&alarm_named(name, "reason with \u{0} and\nnewline"));
        assert_eq!(signal.alarm_name.as_deref(), Some(name));
        assert!(
            !signal.summary.chars().any(char::is_control),
            "{:?}",
            signal.summary
        );
    }
    let reason = not_handled(&event_with_detail("aws.\u{0}🔥", "\u{202e}x", json!({})));
    assert!(reason.starts_with("no parser for source"));
}

/// Every node of every fixture replaced in turn with null, an empty string, a long string, a
/// negative number and an empty array: parsing may fail, but never panics.
#[test]
fn no_mutation_of_a_fixture_panics() {
    let replacements = [
        Value::Null,
        json!(""),
        json!("x".repeat(10_000)),
        json!(-1),
        json!(1e300),
        json!([]),
    ];
    for (_, text) in FIXTURES {
        let event = json(text);
        for pointer in pointers(&event, String::new()) {
            for replacement in &replacements {
                let mut mutated = event.clone();
                if let Some(node) = mutated.pointer_mut(&pointer) {
                    *node = replacement.clone();
                }
                let _ = parse(&mutated);
            }
        }
    }
}

/// The JSON pointers of every node below `value`.
fn pointers(value: &Value, at: String) -> Vec<String> {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(fields) => fields
            .iter()
            .map(|(k, v)| {
                (
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    v,
                )
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("{at}/{i}"), v))
            .collect(),
        _ => Vec::new(),
    };
    let mut all = Vec::new();
    for (pointer, child) in children {
        all.extend(pointers(child, pointer.clone()));
        all.push(pointer);
    }
    all
}

#[test]
fn timestamps_in_every_aws_format() {
    let expected = "2021-06-05T21:52:00Z";
    for raw in [
        "2021-06-05T21:52:00Z",
        "2021-06-05T21:52:00.000+0000",
        "2021-06-05T23:52:00+02:00",
        "2021-06-05 21:52:00+00:00",
        "Sat, 05 Jun 2021 21:52:00 GMT",
        "2021-06-05T21:52:00",
    ] {
        let parsed =
            Timestamp::parse(raw).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        assert_eq!(parsed.as_deref(), Some(expected), "{raw}");
    }
    for raw in ["", "yesterday", "2021-13-05T21:52:00Z", "Sat, 05 Jun 2021"] {
        assert!(Timestamp::parse(raw).is_none(), "{raw}");
    }
}

#[test]
fn a_bad_timestamp_is_an_error_naming_its_path() {
    let mut event = alarm_named("a", "b");
    event["detail"]["state"]["timestamp"] = json!("02/10/19 17:04");
    assert_eq!(
        error_of(&event).to_string(),
        "CloudWatch Alarm State Change event: detail.state.timestamp: invalid timestamp \
         `02/10/19 17:04`: expected RFC 3339, ISO 8601 or RFC 1123"
    );
}
