use std::collections::HashMap;

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};

use super::dedupe::*;
use super::references::*;
use super::run_once::*;
use super::*;
use crate::aws::testkit::*;
use crate::domain::{Backend, Impact, IncidentRef};
use crate::ports::{
    Begin, Claim, ClaimOutcome, Clear, Cleared, DedupeRecord, DedupeStore, Join, Joined, KeyStatus,
    PortErrorKind, ReferenceStore, RunOnceStore, Settle, SettleWhen,
};
use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::{PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::update_item::{UpdateItemInput, UpdateItemOutput};
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use chrono::TimeZone;

const TABLE: &str = "responder-state";
const KEY: &str = "vpn-tunnel-down#vpn-0abc1234";

fn store(rules: &[&Rule], attempts: u32) -> DynamoStateStore {
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, rules, |b| b
        .retry_config(fast_retries(attempts)));
    DynamoStateStore::new(client, TABLE)
}

fn open_record() -> DedupeRecord {
    DedupeRecord {
        key: KEY.to_string(),
        status: KeyStatus::Open,
        owner: "fp-owner".to_string(),
        incident: Some(IncidentRef {
            backend: Backend::IncidentManager,
            id: INCIDENT_ARN.to_string(),
        }),
        rule_id: "vpn-tunnel-down".to_string(),
        impact: Impact::HIGH,
        title: "VPN vpn-0abc1234: tunnel down".to_string(),
        opened_at: Utc
            .timestamp_opt(1_795_000_000, 123_000_000)
            .single()
            .unwrap_or_else(|| panic!("time")),
        last_signal_at: at(2026, 11, 21, 4, 0, 0),
        signal_count: 3,
        detected_at: None,
        lease_until: at(2026, 11, 21, 3, 56, 0),
        expires_at: at(2026, 11, 22, 4, 0, 0),
        token: "tok-open".to_string(),
        firing: [ALARM_A.to_string()].into(),
    }
}

const ALARM_A: &str = "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:vpn-tunnel-1";
const ALARM_B: &str = "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:vpn-tunnel-2";

fn claim() -> Claim {
    Claim {
        key: KEY.to_string(),
        owner: "fp-new".to_string(),
        rule_id: "vpn-tunnel-down".to_string(),
        impact: Impact::HIGH,
        title: "VPN vpn-0abc1234: tunnel down".to_string(),
        now: at(2026, 11, 21, 5, 0, 0),
        detected_at: at(2026, 11, 21, 4, 58, 30),
        lease_until: at(2026, 11, 21, 5, 1, 0),
        expires_at: at(2026, 11, 22, 5, 0, 0),
        subject: Some(ALARM_A.to_string()),
    }
}

fn ccf_put(item: Option<HashMap<String, AttributeValue>>) -> PutItemError {
    let mut b = ConditionalCheckFailedException::builder()
        .message("The conditional request failed")
        .meta(meta(
            "ConditionalCheckFailedException",
            "The conditional request failed",
        ));
    if let Some(item) = item {
        b = b.set_item(Some(item));
    }
    PutItemError::ConditionalCheckFailedException(b.build())
}

fn ccf_update() -> UpdateItemError {
    UpdateItemError::ConditionalCheckFailedException(
        ConditionalCheckFailedException::builder()
            .message("The conditional request failed")
            .build(),
    )
}

fn names_of(map: Option<&HashMap<String, String>>) -> Vec<(String, String)> {
    let mut v: Vec<_> = map
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap();
    v.sort();
    v
}

#[test]
fn rows_round_trip() {
    let record = open_record();
    let item = record_to_item(&record);
    assert_eq!(item.get("pk"), Some(&s(format!("dedupe#{KEY}"))));
    assert_eq!(item.get("sk"), Some(&s("incident")));
    assert_eq!(item.get("status"), Some(&s("open")));
    assert_eq!(item.get("impact"), Some(&n(2)));
    assert_eq!(item.get("incident_backend"), Some(&s("incident-manager")));
    assert_eq!(
        item.get("expires_at"),
        Some(&n(record.expires_at.timestamp()))
    );
    assert_eq!(item.get("opened_at"), Some(&s("2026-11-18T11:06:40.123Z")));
    assert_eq!(must(record_from_item("GetItem", &item)), record);

    let mut opening = record.clone();
    opening.status = KeyStatus::Opening;
    opening.incident = None;
    let item = record_to_item(&opening);
    assert!(!item.contains_key("incident_id"));
    assert_eq!(must(record_from_item("GetItem", &item)), opening);
}

#[test]
fn malformed_rows_name_the_attribute() {
    let good = record_to_item(&open_record());
    let cases: Vec<(&str, Option<AttributeValue>)> = vec![
        ("owner", None),
        ("status", Some(s("paused"))),
        ("impact", Some(n(9))),
        ("impact", Some(s("2"))),
        ("signal_count", Some(n("-1"))),
        ("opened_at", Some(s("yesterday"))),
        ("expires_at", Some(n("soon"))),
        ("incident_id", None),
        ("incident_backend", Some(s("pagerduty"))),
        ("pk", Some(s("other#x"))),
    ];
    for (attr, value) in cases {
        let mut item = good.clone();
        match value {
            Some(v) => item.insert(attr.to_string(), v),
            None => item.remove(attr),
        };
        let err = must_fail(record_from_item("GetItem", &item));
        assert_eq!(err.kind, PortErrorKind::Invalid, "{attr}");
        assert!(
            err.message.contains(&format!("`{attr}`")),
            "{attr}: {}",
            err.message
        );
    }
}

#[tokio::test]
async fn claim_writes_an_opening_row_conditionally() {
    let seen = Captured::<PutItemInput>::new();
    let sn = seen.clone();
    let rule = mock!(Client::put_item)
        .match_requests(move |req| sn.push(req.clone()))
        .then_output(|| PutItemOutput::builder().build());
    let c = claim();
    assert_eq!(
        must(store(&[&rule], 1).claim(&c).await),
        ClaimOutcome::Claimed(c.record())
    );

    let req = seen.only();
    assert_eq!(req.table_name(), Some(TABLE));
    let item = req.item().cloned().unwrap();
    let back = must(record_from_item("PutItem", &item));
    assert_eq!(back.status, KeyStatus::Opening);
    assert_eq!(back.owner, "fp-new");
    assert_eq!(back.signal_count, 1);
    assert_eq!((back.opened_at, back.last_signal_at), (c.now, c.now));
    assert_eq!(
        (back.lease_until, back.expires_at),
        (c.lease_until, c.expires_at)
    );
    assert_eq!(back.incident, None);
    assert_eq!(back.detected_at, Some(c.detected_at));
    assert_eq!(item.get("detected_at"), Some(&s("2026-11-21T04:58:30Z")));
    assert_eq!(item.get("token"), Some(&s(c.record().token)));
    assert_eq!(
        item.get("firing"),
        Some(&AttributeValue::Ss(vec![ALARM_A.to_string()]))
    );
    assert_eq!(
        req.condition_expression(),
        Some("attribute_not_exists(#pk) OR #expires_at <= :now OR #status = :resolved")
    );
    assert_eq!(
        names_of(req.expression_attribute_names()),
        vec![
            ("#expires_at".into(), "expires_at".into()),
            ("#pk".into(), "pk".into()),
            ("#status".into(), "status".into()),
        ]
    );
    let values = req.expression_attribute_values().cloned().unwrap();
    assert_eq!(values.get(":now"), Some(&n(c.now.timestamp())));
    assert_eq!(values.get(":resolved"), Some(&s("resolved")));
    assert_eq!(values.len(), 2);
    assert_eq!(
        req.return_values_on_condition_check_failure(),
        Some(&ReturnValuesOnConditionCheckFailure::AllOld)
    );
}

#[tokio::test]
async fn a_held_key_returns_the_holding_row() {
    let rule = mock!(Client::put_item).then_error(|| ccf_put(Some(record_to_item(&open_record()))));
    let outcome = must(store(&[&rule], 1).claim(&claim()).await);
    assert_eq!(outcome, ClaimOutcome::Held(open_record()));
}

#[tokio::test]
async fn a_held_key_without_old_item_is_read_consistently() {
    let put = mock!(Client::put_item).then_error(|| ccf_put(None));
    let reads = Captured::<GetItemInput>::new();
    let r = reads.clone();
    let get = mock!(Client::get_item)
        .match_requests(move |req| r.push(req.clone()))
        .then_output(|| {
            GetItemOutput::builder()
                .set_item(Some(record_to_item(&open_record())))
                .build()
        });
    let outcome = must(store(&[&put, &get], 1).claim(&claim()).await);
    assert_eq!(outcome, ClaimOutcome::Held(open_record()));
    let req = reads.only();
    assert_eq!(req.consistent_read(), Some(true));
    assert_eq!(req.key(), Some(&incident_key(KEY)));
}

#[tokio::test]
async fn a_row_that_vanished_is_claimed_on_the_second_try() {
    let seen = Captured::<PutItemInput>::new();
    let (s1, s2) = (seen.clone(), seen.clone());
    let put1 = mock!(Client::put_item)
        .match_requests(move |req| s1.push(req.clone()))
        .then_error(|| ccf_put(None));
    let get = mock!(Client::get_item).then_output(|| GetItemOutput::builder().build());
    let put2 = mock!(Client::put_item)
        .match_requests(move |req| s2.push(req.clone()))
        .then_output(|| PutItemOutput::builder().build());
    let outcome = must(store(&[&put1, &get, &put2], 1).claim(&claim()).await);
    assert_eq!(outcome, ClaimOutcome::Claimed(claim().record()));
    // The second try is the same conditional write: it cannot take a row someone else holds.
    let puts = seen.all();
    assert_eq!(puts.len(), 2);
    assert_eq!(puts[1].item(), puts[0].item());
    assert!(puts[1].condition_expression().is_some());
    assert_eq!(
        puts[1].condition_expression(),
        puts[0].condition_expression()
    );
}

#[tokio::test]
async fn throttling_is_retried_then_succeeds() {
    let seen = Captured::<PutItemInput>::new();
    let sn = seen.clone();
    let rule = mock!(Client::put_item)
        .match_requests(move |req| sn.push(req.clone()))
        .sequence()
        .error(|| {
            PutItemError::generic(meta(
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded",
            ))
        })
        .times(2)
        .output(|| PutItemOutput::builder().build())
        .build();
    let outcome = must(store(&[&rule], 3).claim(&claim()).await);
    assert_eq!(outcome, ClaimOutcome::Claimed(claim().record()));
    assert_eq!(rule.num_calls(), 3);
    // The SDK retries the one request the adapter built: the conditional claim.
    let put = seen.only();
    assert_eq!(put.item(), Some(&record_to_item(&claim().record())));
    assert!(put.condition_expression().is_some());
}

#[tokio::test]
async fn error_codes_map_to_kinds() {
    let cases = [
        ("ResourceNotFoundException", PortErrorKind::NotFound),
        ("AccessDeniedException", PortErrorKind::AccessDenied),
        ("ValidationException", PortErrorKind::Invalid),
        ("ThrottlingException", PortErrorKind::Throttled),
        ("TransactionConflictException", PortErrorKind::Conflict),
        ("InternalServerError", PortErrorKind::Unavailable),
    ];
    for (code, kind) in cases {
        let rule =
            mock!(Client::put_item).then_error(move || PutItemError::generic(meta(code, "no")));
        let err = must_fail(store(&[&rule], 1).claim(&claim()).await);
        assert_eq!(
            (err.kind, err.operation.as_str()),
            (kind, "PutItem"),
            "{code}"
        );
    }
}

#[tokio::test]
async fn confirm_open_sets_the_incident_for_its_owner_only() {
    let seen = Captured::<UpdateItemInput>::new();
    let sn = seen.clone();
    let ok = mock!(Client::update_item)
        .match_requests(move |req| sn.push(req.clone()))
        .then_output(|| UpdateItemOutput::builder().build());
    let lost = mock!(Client::update_item).then_error(ccf_update);
    let store = store(&[&ok, &lost], 1);
    let incident = IncidentRef {
        backend: Backend::OpsCenter,
        id: "oi-0123456789ab".to_string(),
    };
    let exp = at(2026, 11, 22, 5, 0, 0);
    must(store.confirm_open(KEY, "fp-new", &incident, exp).await);
    let req = seen.only();
    assert_eq!(req.key(), Some(&incident_key(KEY)));
    assert_eq!(
        req.update_expression(),
        Some(
            "SET #status = :open, #incident_backend = :backend, \
             #incident_id = :incident, #expires_at = :expires_at"
        )
    );
    assert_eq!(req.condition_expression(), Some("#owner = :owner"));
    let values = req.expression_attribute_values().cloned().unwrap();
    assert_eq!(values.get(":open"), Some(&s("open")));
    assert_eq!(values.get(":backend"), Some(&s("opscenter")));
    assert_eq!(values.get(":incident"), Some(&s("oi-0123456789ab")));
    assert_eq!(values.get(":expires_at"), Some(&n(exp.timestamp())));
    assert_eq!(values.get(":owner"), Some(&s("fp-new")));
    assert_eq!(
        names_of(req.expression_attribute_names())
            .iter()
            .find(|(k, _)| k == "#owner"),
        Some(&("#owner".to_string(), "owner".to_string()))
    );

    let err = must_fail(store.confirm_open(KEY, "fp-new", &incident, exp).await);
    assert_eq!(err.kind, PortErrorKind::Conflict);
}

#[tokio::test]
async fn get_reads_consistently_and_rejects_malformed_rows() {
    let absent = mock!(Client::get_item).then_output(|| GetItemOutput::builder().build());
    let present = mock!(Client::get_item).then_output(|| {
        GetItemOutput::builder()
            .set_item(Some(record_to_item(&open_record())))
            .build()
    });
    let broken = mock!(Client::get_item).then_output(|| {
        let mut item = record_to_item(&open_record());
        item.remove("last_signal_at");
        GetItemOutput::builder().set_item(Some(item)).build()
    });
    let store = store(&[&absent, &present, &broken], 1);
    assert_eq!(must(store.get(KEY).await), None);
    assert_eq!(must(store.get(KEY).await), Some(open_record()));
    let err = must_fail(store.get(KEY).await);
    assert_eq!(
        (err.kind, err.operation.as_str()),
        (PortErrorKind::Invalid, "GetItem")
    );
    assert!(err.message.contains("last_signal_at"), "{}", err.message);
}

fn idem_row(status: &str, answer: Option<&str>) -> HashMap<String, AttributeValue> {
    let mut row = idem_key("occ-1");
    row.insert("status".into(), s(status));
    row.insert("lease_until".into(), n(1_795_000_060));
    row.insert("expires_at".into(), n(1_795_086_400));
    if let Some(a) = answer {
        row.insert("answer".into(), s(a));
    }
    row
}

#[tokio::test]
async fn begin_writes_an_in_progress_row_conditionally() {
    let seen = Captured::<PutItemInput>::new();
    let sn = seen.clone();
    let rule = mock!(Client::put_item)
        .match_requests(move |req| sn.push(req.clone()))
        .then_output(|| PutItemOutput::builder().build());
    let (now, lease, exp) = (
        at(2026, 11, 21, 5, 0, 0),
        at(2026, 11, 21, 5, 1, 0),
        at(2026, 11, 22, 5, 0, 0),
    );
    let got = must(store(&[&rule], 1).begin("occ-1", now, lease, exp).await);
    assert_eq!(got, Begin::Started);
    let req = seen.only();
    assert_eq!(req.table_name(), Some(TABLE));
    assert_eq!(
        req.item().cloned().unwrap(),
        HashMap::from([
            ("pk".to_string(), s("idem#occ-1")),
            ("sk".to_string(), s("idem")),
            ("status".to_string(), s("in_progress")),
            ("lease_until".to_string(), n(lease.timestamp())),
            ("expires_at".to_string(), n(exp.timestamp())),
        ])
    );
    assert_eq!(
        req.condition_expression(),
        Some(
            "attribute_not_exists(#pk) OR #expires_at <= :now \
             OR (#status = :in_progress AND #lease_until <= :now)"
        )
    );
    let values = req.expression_attribute_values().cloned().unwrap();
    assert_eq!(values.get(":now"), Some(&n(now.timestamp())));
    assert_eq!(values.get(":in_progress"), Some(&s("in_progress")));
    assert_eq!(
        req.return_values_on_condition_check_failure(),
        Some(&ReturnValuesOnConditionCheckFailure::AllOld)
    );
}

#[tokio::test]
async fn begin_reports_a_completed_or_running_occurrence() {
    let done = mock!(Client::put_item)
        .then_error(|| ccf_put(Some(idem_row("completed", Some(r#"{"action":"opened"}"#)))));
    let running =
        mock!(Client::put_item).then_error(|| ccf_put(Some(idem_row("in_progress", None))));
    let bare = mock!(Client::put_item).then_error(|| ccf_put(None));
    let read = mock!(Client::get_item).then_output(|| {
        GetItemOutput::builder()
            .set_item(Some(idem_row("completed", Some("{}"))))
            .build()
    });
    let broken = mock!(Client::put_item).then_error(|| ccf_put(Some(idem_row("completed", None))));
    let store = store(&[&done, &running, &bare, &read, &broken], 1);
    let (now, lease, exp) = (
        at(2026, 11, 21, 5, 0, 0),
        at(2026, 11, 21, 5, 1, 0),
        at(2026, 11, 22, 5, 0, 0),
    );
    assert_eq!(
        must(store.begin("occ-1", now, lease, exp).await),
        Begin::Completed(r#"{"action":"opened"}"#.to_string())
    );
    assert_eq!(
        must(store.begin("occ-1", now, lease, exp).await),
        Begin::InProgress
    );
    assert_eq!(
        must(store.begin("occ-1", now, lease, exp).await),
        Begin::Completed("{}".to_string())
    );
    let err = must_fail(store.begin("occ-1", now, lease, exp).await);
    assert_eq!(err.kind, PortErrorKind::Invalid);
    assert!(err.message.contains("`answer`"), "{}", err.message);
}

#[tokio::test]
async fn complete_stores_the_answer() {
    let seen = Captured::<PutItemInput>::new();
    let sn = seen.clone();
    let rule = mock!(Client::put_item)
        .match_requests(move |req| sn.push(req.clone()))
        .then_output(|| PutItemOutput::builder().build());
    let exp = at(2026, 11, 22, 5, 0, 0);
    must(
        store(&[&rule], 1)
            .complete("occ-1", r#"{"action":"joined"}"#, exp)
            .await,
    );
    let req = seen.only();
    assert_eq!(
        req.item().cloned().unwrap(),
        HashMap::from([
            ("pk".to_string(), s("idem#occ-1")),
            ("sk".to_string(), s("idem")),
            ("status".to_string(), s("completed")),
            ("answer".to_string(), s(r#"{"action":"joined"}"#)),
            ("expires_at".to_string(), n(exp.timestamp())),
        ])
    );
    assert_eq!(req.condition_expression(), None);
}

#[tokio::test]
async fn abandon_deletes_only_an_in_progress_row() {
    use aws_sdk_dynamodb::operation::delete_item::{DeleteItemInput, DeleteItemOutput};
    let seen = Captured::<DeleteItemInput>::new();
    let sn = seen.clone();
    let deleted = mock!(Client::delete_item)
        .match_requests(move |req| sn.push(req.clone()))
        .then_output(|| DeleteItemOutput::builder().build());
    must(store(&[&deleted], 1).abandon("occ-1").await);
    let req = seen.only();
    assert_eq!(
        req.key().cloned().unwrap(),
        HashMap::from([
            ("pk".to_string(), s("idem#occ-1")),
            ("sk".to_string(), s("idem")),
        ])
    );
    assert_eq!(req.condition_expression(), Some("#status = :in_progress"));

    // Completed (or gone) meanwhile: the failed condition is not an error.
    let kept = mock!(Client::delete_item).then_error(|| {
        DeleteItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder().build(),
        )
    });
    must(store(&[&kept], 1).abandon("occ-1").await);
}

#[tokio::test]
async fn an_abandoned_opening_is_taken_over_with_its_token() {
    let mut abandoned = open_record();
    abandoned.status = KeyStatus::Opening;
    abandoned.incident = None;
    abandoned.owner = "fp-gone".into();
    let old = abandoned.clone();
    let put = mock!(Client::put_item).then_error(move || ccf_put(Some(record_to_item(&old))));
    let seen = Captured::<UpdateItemInput>::new();
    let sn = seen.clone();
    let mut taken = abandoned.clone();
    taken.owner = "fp-new".into();
    taken.lease_until = claim().lease_until;
    let returned = taken.clone();
    let update = mock!(Client::update_item)
        .match_requests(move |req| sn.push(req.clone()))
        .then_output(move || {
            UpdateItemOutput::builder()
                .set_attributes(Some(record_to_item(&returned)))
                .build()
        });
    let outcome = must(store(&[&put, &update], 1).claim(&claim()).await);
    assert_eq!(outcome, ClaimOutcome::Claimed(taken));
    let req = seen.only();
    assert_eq!(
        req.update_expression(),
        Some(
            "SET #owner = :owner, #lease_until = :lease_until, \
             #token = if_not_exists(#token, :legacy) ADD #signal_count :one, #firing :subject"
        )
    );
    assert_eq!(
        req.condition_expression(),
        Some(
            "#owner = :previous AND #status = :opening \
             AND #lease_until <= :now AND #expires_at > :now"
        )
    );
    let values = req.expression_attribute_values().cloned().unwrap();
    assert_eq!(values.get(":previous"), Some(&s("fp-gone")));
    assert_eq!(
        values.get(":legacy"),
        Some(&s(legacy_token(KEY, "fp-gone")))
    );
    assert_eq!(
        values.get(":subject"),
        Some(&AttributeValue::Ss(vec![ALARM_A.to_string()]))
    );
    assert_eq!(values.get(":owner"), Some(&s("fp-new")));
}

#[tokio::test]
async fn a_join_is_conditional_on_the_same_bound_incident() {
    let seen = Captured::<UpdateItemInput>::new();
    let sn = seen.clone();
    let mut joined = open_record();
    joined.signal_count = 4;
    joined.impact = Impact::CRITICAL;
    joined.firing.insert(ALARM_B.to_string());
    let returned = joined.clone();
    let ok = mock!(Client::update_item)
        .match_requests(move |req| sn.push(req.clone()))
        .then_output(move || {
            UpdateItemOutput::builder()
                .set_attributes(Some(record_to_item(&returned)))
                .build()
        });
    let mut settled = open_record();
    settled.status = KeyStatus::Resolved;
    let st = settled.clone();
    let moved = mock!(Client::update_item).then_error(move || {
        UpdateItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .message("The conditional request failed")
                .set_item(Some(record_to_item(&st)))
                .build(),
        )
    });
    let store = store(&[&ok, &moved], 1);
    let (now, exp) = (at(2026, 11, 21, 6, 0, 0), at(2026, 12, 5, 6, 0, 0));
    let join = Join {
        key: KEY.into(),
        incident_id: INCIDENT_ARN.into(),
        subject: Some(ALARM_B.into()),
        raise_to: Some(Impact::CRITICAL),
        at: now,
        expires_at: Some(exp),
    };
    assert_eq!(must(store.join(&join).await), Joined::Joined(joined));
    let req = seen.only();
    assert_eq!(
        req.update_expression(),
        Some(
            "SET #status = :open, #last_signal_at = :at, #expires_at = :expires_at, \
             #impact = :impact ADD #signal_count :one, #firing :subject"
        )
    );
    assert_eq!(
        req.condition_expression(),
        Some(
            "#incident_id = :id AND #status IN (:open, :recovered) AND #expires_at > :now \
             AND #impact > :impact"
        )
    );
    assert_eq!(req.return_values(), Some(&ReturnValue::AllNew));
    let values = req.expression_attribute_values().cloned().unwrap();
    assert_eq!(values.get(":id"), Some(&s(INCIDENT_ARN)));
    assert_eq!(values.get(":impact"), Some(&n(1)));
    assert_eq!(
        values.get(":subject"),
        Some(&AttributeValue::Ss(vec![ALARM_B.to_string()]))
    );
    assert_eq!(
        must(store.join(&join).await),
        Joined::Changed(Some(settled))
    );
}

#[tokio::test]
async fn the_last_signal_clearing_recovers_the_key() {
    let seen = Captured::<UpdateItemInput>::new();
    let (s1, s2) = (seen.clone(), seen.clone());
    let mut cleared = open_record();
    cleared.firing.clear();
    let c1 = cleared.clone();
    let first = mock!(Client::update_item)
        .match_requests(move |req| s1.push(req.clone()))
        .then_output(move || {
            UpdateItemOutput::builder()
                .set_attributes(Some(record_to_item(&c1)))
                .build()
        });
    let mut recovered = cleared.clone();
    recovered.status = KeyStatus::Recovered;
    let r = recovered.clone();
    let second = mock!(Client::update_item)
        .match_requests(move |req| s2.push(req.clone()))
        .then_output(move || {
            UpdateItemOutput::builder()
                .set_attributes(Some(record_to_item(&r)))
                .build()
        });
    let clear = Clear {
        key: KEY.into(),
        incident_id: INCIDENT_ARN.into(),
        subject: ALARM_A.into(),
        at: at(2026, 11, 21, 6, 0, 0),
        expires_at: at(2026, 11, 21, 6, 30, 0),
    };
    let got = must(store(&[&first, &second], 1).clear(&clear).await);
    assert_eq!(got, Cleared::AllClear(recovered));
    let reqs = seen.all();
    assert_eq!(
        reqs[0].update_expression(),
        Some("SET #last_signal_at = :at DELETE #firing :subject")
    );
    assert_eq!(
        reqs[1].condition_expression(),
        Some("#incident_id = :id AND #status IN (:open, :recovered) AND attribute_not_exists(#firing)")
    );

    // Another signal still fires: one write, the key stays open.
    let mut still = open_record();
    still.firing = [ALARM_B.to_string()].into();
    let st = still.clone();
    let one = mock!(Client::update_item).then_output(move || {
        UpdateItemOutput::builder()
            .set_attributes(Some(record_to_item(&st)))
            .build()
    });
    let one_store = store(&[&one], 1);
    assert_eq!(
        must(one_store.clear(&clear).await),
        Cleared::StillFiring(still)
    );
    assert_eq!(one.num_calls(), 1);
}

#[tokio::test]
async fn remember_writes_a_reference_row_and_recall_ignores_expired_ones() {
    let seen = Captured::<PutItemInput>::new();
    let sn = seen.clone();
    let put = mock!(Client::put_item)
        .match_requests(move |req| sn.push(req.clone()))
        .then_output(|| PutItemOutput::builder().build());
    let (now, exp) = (at(2026, 11, 21, 6, 0, 0), at(2026, 11, 28, 6, 0, 0));
    let row = move |expires: DateTime<Utc>| {
        let mut item = ref_key("automation#exec-1");
        item.insert(ATTR_VALUE.into(), s("{\"incident\":\"x\"}"));
        item.insert(ATTR_EXPIRES_AT.into(), epoch(expires));
        GetItemOutput::builder().set_item(Some(item)).build()
    };
    let live = mock!(Client::get_item).then_output(move || row(exp));
    let expired = mock!(Client::get_item).then_output(move || row(now));
    let absent = mock!(Client::get_item).then_output(|| GetItemOutput::builder().build());
    let store = store(&[&put, &live, &expired, &absent], 1);

    must(
        store
            .remember("automation#exec-1", "{\"incident\":\"x\"}", exp)
            .await,
    );
    let req = seen.only();
    let item = req.item().cloned().unwrap();
    assert_eq!(item.get(ATTR_PK), Some(&s("ref#automation#exec-1")));
    assert_eq!(item.get(ATTR_SK), Some(&s("ref")));
    assert_eq!(item.get(ATTR_EXPIRES_AT), Some(&epoch(exp)));

    let got = must(store.recall("automation#exec-1", now).await);
    assert_eq!(got.as_deref(), Some("{\"incident\":\"x\"}"));
    assert_eq!(must(store.recall("automation#exec-1", now).await), None);
    assert_eq!(must(store.recall("automation#exec-1", now).await), None);
}

#[test]
fn detected_at_is_optional_and_read_back() {
    let mut record = open_record();
    assert!(!record_to_item(&record).contains_key("detected_at"));
    record.detected_at = Some(at(2026, 11, 21, 3, 54, 30));
    let item = record_to_item(&record);
    assert_eq!(item.get("detected_at"), Some(&s("2026-11-21T03:54:30Z")));
    assert_eq!(must(record_from_item("GetItem", &item)), record);

    let mut legacy = item.clone();
    legacy.remove("token");
    legacy.remove("firing");
    let back = must(record_from_item("GetItem", &legacy));
    assert_eq!(back.token, legacy_token(KEY, "fp-owner"));
    assert!(back.firing.is_empty());

    for bad in [s("soon"), n(1_795_000_000)] {
        let mut item = item.clone();
        item.insert("detected_at".into(), bad);
        let err = must_fail(record_from_item("GetItem", &item));
        assert_eq!(err.kind, PortErrorKind::Invalid);
        assert!(err.message.contains("`detected_at`"), "{}", err.message);
    }
}

mod settle {
    use super::*;

    fn row(status: KeyStatus, incident_id: &str) -> DedupeRecord {
        let mut r = open_record();
        r.status = status;
        r.incident = Some(IncidentRef {
            backend: Backend::IncidentManager,
            id: incident_id.to_string(),
        });
        r
    }

    fn ccf(item: Option<DedupeRecord>) -> UpdateItemError {
        let mut b = ConditionalCheckFailedException::builder()
            .message("The conditional request failed")
            .meta(meta(
                "ConditionalCheckFailedException",
                "The conditional request failed",
            ));
        if let Some(r) = item {
            b = b.set_item(Some(record_to_item(&r)));
        }
        UpdateItemError::ConditionalCheckFailedException(b.build())
    }

    fn times() -> (DateTime<Utc>, DateTime<Utc>) {
        (at(2026, 11, 21, 4, 20, 0), at(2026, 12, 21, 4, 20, 0))
    }

    #[tokio::test]
    async fn a_recovered_key_bound_to_the_incident_is_resolved() {
        let seen = Captured::<UpdateItemInput>::new();
        let sn = seen.clone();
        let (now, exp) = times();
        let mut settled = row(KeyStatus::Resolved, INCIDENT_ARN);
        settled.expires_at = exp;
        let returned = settled.clone();
        let rule = mock!(Client::update_item)
            .match_requests(move |req| sn.push(req.clone()))
            .then_output(move || {
                let mut item = record_to_item(&returned);
                item.insert("resolved_at".into(), s("2026-11-21T04:20:00Z"));
                UpdateItemOutput::builder()
                    .set_attributes(Some(item))
                    .build()
            });
        let got = must(
            store(&[&rule], 1)
                .settle(KEY, INCIDENT_ARN, SettleWhen::Recovered, now, exp)
                .await,
        );
        assert_eq!(got, Settle::Settled(settled));

        let req = seen.only();
        assert_eq!(req.table_name(), Some(TABLE));
        assert_eq!(req.key(), Some(&incident_key(KEY)));
        assert_eq!(
            req.update_expression(),
            Some("SET #status = :resolved, #resolved_at = :at, #expires_at = :expires_at")
        );
        assert_eq!(
            req.condition_expression(),
            Some("#incident_id = :id AND #status IN (:recovered, :resolved)")
        );
        assert_eq!(
            names_of(req.expression_attribute_names()),
            vec![
                ("#expires_at".into(), "expires_at".into()),
                ("#incident_id".into(), "incident_id".into()),
                ("#resolved_at".into(), "resolved_at".into()),
                ("#status".into(), "status".into()),
            ]
        );
        let values = req.expression_attribute_values().cloned().unwrap();
        assert_eq!(
            values,
            HashMap::from([
                (":resolved".to_string(), s("resolved")),
                (":recovered".to_string(), s("recovered")),
                (":id".to_string(), s(INCIDENT_ARN)),
                (":at".to_string(), s("2026-11-21T04:20:00Z")),
                (":expires_at".to_string(), n(exp.timestamp())),
            ])
        );
        assert_eq!(req.return_values(), Some(&ReturnValue::AllNew));
        assert_eq!(
            req.return_values_on_condition_check_failure(),
            Some(&ReturnValuesOnConditionCheckFailure::AllOld)
        );
    }

    #[tokio::test]
    async fn a_key_firing_again_keeps_the_incident_open() {
        let (now, exp) = times();
        let firing = row(KeyStatus::Open, INCIDENT_ARN);
        let returned = firing.clone();
        let rule = mock!(Client::update_item).then_error(move || ccf(Some(returned.clone())));
        let got = must(
            store(&[&rule], 1)
                .settle(KEY, INCIDENT_ARN, SettleWhen::Recovered, now, exp)
                .await,
        );
        assert_eq!(got, Settle::FiredAgain(firing));
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn without_the_old_row_it_is_read_consistently() {
        let (now, exp) = times();
        let update = mock!(Client::update_item).then_error(|| ccf(None));
        let reads = Captured::<GetItemInput>::new();
        let r = reads.clone();
        let firing = row(KeyStatus::Open, INCIDENT_ARN);
        let returned = firing.clone();
        let get = mock!(Client::get_item)
            .match_requests(move |req| r.push(req.clone()))
            .then_output(move || {
                GetItemOutput::builder()
                    .set_item(Some(record_to_item(&returned)))
                    .build()
            });
        let got = must(
            store(&[&update, &get], 1)
                .settle(KEY, INCIDENT_ARN, SettleWhen::Recovered, now, exp)
                .await,
        );
        assert_eq!(got, Settle::FiredAgain(firing));
        let req = reads.only();
        assert_eq!(req.consistent_read(), Some(true));
        assert_eq!(req.key(), Some(&incident_key(KEY)));
    }

    #[tokio::test]
    async fn another_incident_an_opening_key_or_no_row_is_not_bound() {
        let (now, exp) = times();
        let other = row(
            KeyStatus::Recovered,
            "arn:aws:ssm-incidents::1:incident-record/p/other",
        );
        let o = other.clone();
        let taken = mock!(Client::update_item).then_error(move || ccf(Some(o.clone())));
        let mut opening = open_record();
        opening.status = KeyStatus::Opening;
        opening.incident = None;
        let op = opening.clone();
        let claimed = mock!(Client::update_item).then_error(move || ccf(Some(op.clone())));
        let gone = mock!(Client::update_item).then_error(|| ccf(None));
        let absent = mock!(Client::get_item).then_output(|| GetItemOutput::builder().build());
        let store = store(&[&taken, &claimed, &gone, &absent], 1);
        assert_eq!(
            must(
                store
                    .settle(KEY, INCIDENT_ARN, SettleWhen::Recovered, now, exp)
                    .await
            ),
            Settle::NotBound(Some(other))
        );
        assert_eq!(
            must(
                store
                    .settle(KEY, INCIDENT_ARN, SettleWhen::Recovered, now, exp)
                    .await
            ),
            Settle::NotBound(Some(opening))
        );
        assert_eq!(
            must(
                store
                    .settle(KEY, INCIDENT_ARN, SettleWhen::Recovered, now, exp)
                    .await
            ),
            Settle::NotBound(None)
        );
    }

    #[tokio::test]
    async fn a_key_that_recovered_meanwhile_is_settled_on_the_second_try() {
        let (now, exp) = times();
        let recovered = row(KeyStatus::Recovered, INCIDENT_ARN);
        let r = recovered.clone();
        let first = mock!(Client::update_item).then_error(move || ccf(Some(r.clone())));
        let done = row(KeyStatus::Resolved, INCIDENT_ARN);
        let d = done.clone();
        let second = mock!(Client::update_item).then_output(move || {
            UpdateItemOutput::builder()
                .set_attributes(Some(record_to_item(&d)))
                .build()
        });
        let got = must(
            store(&[&first, &second], 1)
                .settle(KEY, INCIDENT_ARN, SettleWhen::Recovered, now, exp)
                .await,
        );
        assert_eq!(got, Settle::Settled(done));

        let r1 = recovered.clone();
        let again1 = mock!(Client::update_item).then_error(move || ccf(Some(r1.clone())));
        let r2 = recovered.clone();
        let again2 = mock!(Client::update_item).then_error(move || ccf(Some(r2.clone())));
        let err = must_fail(
            store(&[&again1, &again2], 1)
                .settle(KEY, INCIDENT_ARN, SettleWhen::Recovered, now, exp)
                .await,
        );
        assert_eq!(err.kind, PortErrorKind::Conflict);
    }

    #[tokio::test]
    async fn errors_map_to_kinds() {
        let (now, exp) = times();
        let rule = mock!(Client::update_item)
            .then_error(|| UpdateItemError::generic(meta("ResourceNotFoundException", "no table")));
        let empty = mock!(Client::update_item).then_output(|| UpdateItemOutput::builder().build());
        let store = store(&[&rule, &empty], 1);
        let err = must_fail(
            store
                .settle(KEY, INCIDENT_ARN, SettleWhen::Recovered, now, exp)
                .await,
        );
        assert_eq!(
            (err.kind, err.operation.as_str()),
            (PortErrorKind::NotFound, "UpdateItem")
        );
        let err = must_fail(
            store
                .settle(KEY, INCIDENT_ARN, SettleWhen::Recovered, now, exp)
                .await,
        );
        assert_eq!(err.kind, PortErrorKind::Other);
    }
}
