use std::collections::HashMap;

use aws_sdk_ssm::types::{OpsItemDataType, OpsItemDataValue};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::data::*;
use super::*;
use crate::aws::testkit::*;
use crate::domain::{stable_hash, EntryKind, Impact, RelatedItemKind, RelatedValue};
use aws_sdk_ssm::operation::associate_ops_item_related_item::{
    AssociateOpsItemRelatedItemInput, AssociateOpsItemRelatedItemOutput,
};
use aws_sdk_ssm::operation::create_ops_item::{CreateOpsItemInput, CreateOpsItemOutput};
use aws_sdk_ssm::operation::get_ops_item::GetOpsItemOutput;
use aws_sdk_ssm::operation::update_ops_item::{
    UpdateOpsItemError, UpdateOpsItemInput, UpdateOpsItemOutput,
};
use aws_sdk_ssm::types::error::{
    OpsItemAlreadyExistsException, OpsItemRelatedItemAlreadyExistsException,
};
use aws_sdk_ssm::types::OpsItem;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use serde_json::json;

const TOPIC: &str = "arn:aws:sns:eu-west-1:111122223333:responder-notify";
const OPS_ID: &str = "oi-0123456789ab";
const DOC_ARN: &str = "arn:aws:ssm:eu-west-1::document/AWSSupport-TroubleshootVPN";
const EXEC_ARN: &str =
    "arn:aws:ssm:eu-west-1:111122223333:automation-execution/4105a4fc-f944-11e6-9d32-0123456789ab";

fn created() -> CreateOpsItemOutput {
    CreateOpsItemOutput::builder().ops_item_id(OPS_ID).build()
}

fn store(rules: &[&Rule], attempts: u32, topic: Option<&str>) -> OpsCenterStore {
    let client = mock_client!(aws_sdk_ssm, RuleMode::Sequential, rules, |b| b
        .retry_config(fast_retries(attempts)));
    OpsCenterStore::new(client, topic.map(str::to_string))
}

fn ops_ref() -> IncidentRef {
    IncidentRef {
        backend: Backend::OpsCenter,
        id: OPS_ID.to_string(),
    }
}

fn value_of<'a>(
    data: Option<&'a HashMap<String, OpsItemDataValue>>,
    key: &str,
) -> (&'a str, OpsItemDataType) {
    let v = data
        .and_then(|d| d.get(key))
        .unwrap_or_else(|| panic!("no {key}"));
    (
        v.value().unwrap(),
        v.r#type()
            .cloned()
            .unwrap_or_else(|| panic!("{key} untyped")),
    )
}

fn json_of(text: &str) -> Value {
    must(serde_json::from_str(text))
}

#[tokio::test]
async fn open_sends_the_documented_fields() {
    let seen = Captured::<CreateOpsItemInput>::new();
    let s = seen.clone();
    let rule = mock!(Client::create_ops_item)
        .match_requests(move |req| s.push(req.clone()))
        .then_output(created);
    let incident = new_incident();
    let opened = must(store(&[&rule], 1, Some(TOPIC)).open(&incident).await);
    assert_eq!(
        opened,
        IncidentRef {
            backend: Backend::OpsCenter,
            id: OPS_ID.to_string()
        }
    );

    let req = seen.only();
    assert_eq!(req.title(), Some(incident.title.as_str()));
    assert_eq!(req.description(), Some(incident.summary.as_str()));
    assert_eq!(req.source(), Some("incident.responder"));
    assert_eq!(req.severity(), Some("2"));
    assert_eq!(req.priority(), Some(2));
    assert_eq!(req.category(), Some("Availability"));
    assert_eq!(req.notifications().len(), 1);
    assert_eq!(req.notifications()[0].arn(), Some(TOPIC));

    let data = req.operational_data();
    let (dedup, t) = value_of(data, "/aws/dedup");
    assert_eq!(t, OpsItemDataType::SearchableString);
    assert_eq!(
        json_of(dedup),
        json!({"dedupString": incident.client_token})
    );
    let (resources, t) = value_of(data, "/aws/resources");
    assert_eq!(t, OpsItemDataType::SearchableString);
    // The id "vpn-0abc1234" is not an ARN; the related VPN ARN is not repeated.
    assert_eq!(
        json_of(resources),
        json!([{"arn": VPN_ARN}, {"arn": ALARM_ARN}])
    );
    assert_eq!(value_of(data, "responder:rule").0, "vpn-tunnel-down");
    assert_eq!(value_of(data, "responder:service").0, "network");
    assert_eq!(
        value_of(data, "responder:dedupe_key"),
        (
            "vpn-tunnel-down#vpn-0abc1234",
            OpsItemDataType::SearchableString
        )
    );
    assert_eq!(value_of(data, "responder:impact").0, "2");
    assert_eq!(
        value_of(data, "responder:trigger"),
        (incident.trigger.raw_data.as_str(), OpsItemDataType::String)
    );
    // The metric definition and the URL are kept as data entries.
    let related = data
        .map(|d| {
            d.keys()
                .filter(|k| k.starts_with("responder:related:"))
                .count()
        })
        .unwrap();
    assert_eq!(related, 2);
    let key = format!("responder:related:{}", stable_hash(&[METRIC_JSON], 16));
    assert_eq!(
        json_of(value_of(data, &key).0),
        json!({"kind": "METRIC", "title": "TunnelState", "value": METRIC_JSON})
    );
    assert!(data
        .map(|d| d.keys().all(|k| k.chars().count() <= DATA_KEY_MAX))
        .unwrap_or(false));
}

#[tokio::test]
async fn severity_and_priority_follow_impact() {
    let seen = Captured::<CreateOpsItemInput>::new();
    let s = seen.clone();
    let rule = mock!(Client::create_ops_item)
        .match_requests(move |req| s.push(req.clone()))
        .then_output(created);
    let store = {
        let client = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&rule], |b| b
            .retry_config(fast_retries(1)));
        OpsCenterStore::new(client, None)
    };
    for impact in 1..=5u8 {
        let mut incident = new_incident();
        incident.impact = Impact::new(impact).unwrap_or_else(|| panic!("impact {impact}"));
        must(store.open(&incident).await);
    }
    let got: Vec<_> = seen
        .all()
        .iter()
        .map(|r| (r.severity().map(str::to_string), r.priority()))
        .collect();
    let want: Vec<_> = [("1", 1), ("2", 2), ("3", 3), ("4", 4), ("4", 5)]
        .into_iter()
        .map(|(s, p)| (Some(s.to_string()), Some(p)))
        .collect();
    assert_eq!(got, want);
    assert!(seen.all().iter().all(|r| r.notifications().is_empty()));
}

#[tokio::test]
async fn oversized_fields_are_trimmed() {
    let seen = Captured::<CreateOpsItemInput>::new();
    let s = seen.clone();
    let rule = mock!(Client::create_ops_item)
        .match_requests(move |req| s.push(req.clone()))
        .then_output(created);
    let mut incident = new_incident();
    incident.title = "T".repeat(3_000);
    incident.summary = "   ".to_string();
    incident.trigger.raw_data = "é".repeat(30_000);
    incident.resources = (0..1_000).map(|i| format!("{VPN_ARN}{i:04}")).collect();
    must(store(&[&rule], 1, None).open(&incident).await);
    let req = seen.only();
    assert_eq!(req.title().map(|t| t.chars().count()), Some(TITLE_MAX));
    // An empty summary falls back to the title: Description is required and non-empty.
    assert_eq!(
        req.description().map(|t| t.chars().count()),
        Some(DESCRIPTION_MAX)
    );
    let data = req.operational_data();
    assert!(value_of(data, "responder:trigger").0.len() <= DATA_VALUE_MAX_BYTES);
    let resources = value_of(data, "/aws/resources").0;
    assert!(resources.len() <= DATA_VALUE_MAX_BYTES);
    assert!(json_of(resources).as_array().is_some_and(|a| a.len() > 100));
}

#[tokio::test]
async fn a_create_without_id_is_an_error() {
    let rule =
        mock!(Client::create_ops_item).then_output(|| CreateOpsItemOutput::builder().build());
    let err = must_fail(store(&[&rule], 1, None).open(&new_incident()).await);
    assert_eq!(err.kind, PortErrorKind::Other);
    assert!(err.message.contains("OpsItemId"), "{}", err.message);
}

#[tokio::test]
async fn an_existing_ops_item_is_the_answer_to_a_retried_create() {
    let rule = mock!(Client::create_ops_item).then_error(|| {
        CreateOpsItemError::OpsItemAlreadyExistsException(
            OpsItemAlreadyExistsException::builder()
                .message("OpsItem already exists")
                .ops_item_id("oi-fedcba987654")
                .meta(meta(
                    "OpsItemAlreadyExistsException",
                    "OpsItem already exists",
                ))
                .build(),
        )
    });
    let opened = must(store(&[&rule], 1, None).open(&new_incident()).await);
    assert_eq!(opened.id, "oi-fedcba987654");
}

#[tokio::test]
async fn throttling_is_retried_then_succeeds() {
    let seen = Captured::<CreateOpsItemInput>::new();
    let s = seen.clone();
    let rule = mock!(Client::create_ops_item)
        .match_requests(move |req| s.push(req.clone()))
        .sequence()
        .error(|| CreateOpsItemError::generic(meta("ThrottlingException", "Rate exceeded")))
        .times(2)
        .output(created)
        .build();
    let opened = must(store(&[&rule], 3, None).open(&new_incident()).await);
    assert_eq!(opened.id, OPS_ID);
    // The request retried carries the dedup string: a late first attempt cannot open twice.
    assert_eq!(rule.num_calls(), 3);
    let req = seen.only();
    let dedup = value_of(req.operational_data(), "/aws/dedup").0;
    assert_eq!(
        json_of(dedup),
        json!({"dedupString": new_incident().client_token})
    );
}

#[tokio::test]
async fn error_codes_map_to_kinds() {
    let cases = [
        ("OpsItemInvalidParameterException", PortErrorKind::Invalid),
        ("OpsItemAccessDeniedException", PortErrorKind::AccessDenied),
        ("AccessDeniedException", PortErrorKind::AccessDenied),
        ("OpsItemLimitExceededException", PortErrorKind::Other),
        ("InternalServerError", PortErrorKind::Unavailable),
    ];
    for (code, kind) in cases {
        let rule = mock!(Client::create_ops_item)
            .then_error(move || CreateOpsItemError::generic(meta(code, "no")));
        let err = must_fail(store(&[&rule], 1, None).open(&new_incident()).await);
        assert_eq!(
            (err.kind, err.operation.as_str()),
            (kind, "CreateOpsItem"),
            "{code}"
        );
    }
    let rule = mock!(Client::update_ops_item).then_error(|| {
        UpdateOpsItemError::generic(meta("OpsItemNotFoundException", "no such OpsItem"))
    });
    let entry = TimelineEntry::new(at(2026, 11, 21, 4, 0, 0), EntryKind::Resolved, "t");
    let err = must_fail(
        store(&[&rule], 1, None)
            .add_timeline(&ops_ref(), &entry, "tok")
            .await,
    );
    assert_eq!(err.kind, PortErrorKind::NotFound);
}

#[tokio::test]
async fn timeline_entries_are_keyed_data_and_a_retry_writes_the_same_key() {
    let seen = Captured::<UpdateOpsItemInput>::new();
    let (s1, s2) = (seen.clone(), seen.clone());
    let first = mock!(Client::update_ops_item)
        .match_requests(move |req| s1.push(req.clone()))
        .then_output(|| UpdateOpsItemOutput::builder().build());
    let retry = mock!(Client::update_ops_item)
        .match_requests(move |req| s2.push(req.clone()))
        .then_output(|| UpdateOpsItemOutput::builder().build());
    let store = store(&[&first, &retry], 1, None);
    let joined = EntryKind::SignalJoined {
        signal: "fp-2".into(),
    };
    let entry = TimelineEntry::new(at(2026, 11, 21, 4, 0, 0), joined, "Tunnel 2 is down too");
    must(
        store
            .add_timeline(&ops_ref(), &entry, "5d41402abc4b2a76")
            .await,
    );
    must(
        store
            .add_timeline(&ops_ref(), &entry, "5d41402abc4b2a76")
            .await,
    );
    let reqs = seen.all();
    assert_eq!(reqs.len(), 2);
    let key = "responder:timeline:2026-11-21T04:00:00.000Z:5d41402a";
    for req in &reqs {
        assert_eq!(req.ops_item_id(), Some(OPS_ID));
        let data = req.operational_data();
        assert_eq!(data.map(HashMap::len), Some(1));
        let (value, kind) = value_of(data, key);
        assert_eq!(kind, OpsItemDataType::String);
        assert_eq!(
            json_of(value),
            json!({"text": "Tunnel 2 is down too", "kind": "signal-joined", "signal": "fp-2"})
        );
    }
    let long = TimelineEntry {
        text: "x".repeat(50_000),
        ..entry
    };
    assert!(timeline_key(&long, &"z".repeat(500)).chars().count() <= DATA_KEY_MAX);
}

#[tokio::test]
async fn related_items_are_merged_associated_or_kept_as_data() {
    const VGW_ARN: &str = "arn:aws:ec2:eu-west-1:111122223333:vpn-gateway/vgw-1";
    let existing = json!([{"arn": VPN_ARN}, {"arn": VGW_ARN}]).to_string();
    let get = mock!(Client::get_ops_item).then_output(move || {
        GetOpsItemOutput::builder()
            .ops_item(
                OpsItem::builder()
                    .ops_item_id(OPS_ID)
                    .operational_data("/aws/resources", searchable(existing.clone()))
                    .build(),
            )
            .build()
    });
    let updates = Captured::<UpdateOpsItemInput>::new();
    let u = updates.clone();
    let update = mock!(Client::update_ops_item)
        .match_requests(move |req| u.push(req.clone()))
        .then_output(|| UpdateOpsItemOutput::builder().build());
    let assoc = Captured::<AssociateOpsItemRelatedItemInput>::new();
    let (a1, a2) = (assoc.clone(), assoc.clone());
    let associate_incident = mock!(Client::associate_ops_item_related_item)
        .match_requests(move |req| a1.push(req.clone()))
        .then_output(|| {
            AssociateOpsItemRelatedItemOutput::builder()
                .association_id("assoc-1")
                .build()
        });
    let associate_document = mock!(Client::associate_ops_item_related_item)
        .match_requests(move |req| a2.push(req.clone()))
        .then_error(|| {
            AssociateOpsItemRelatedItemError::OpsItemRelatedItemAlreadyExistsException(
                OpsItemRelatedItemAlreadyExistsException::builder()
                    .message("already associated")
                    .build(),
            )
        });
    let items = vec![
        RelatedItem::resource(VPN_ARN, "already there"),
        RelatedItem::resource(ALARM_ARN, "alarm"),
        RelatedItem {
            kind: RelatedItemKind::Incident,
            title: "IM record".into(),
            value: RelatedValue::Arn(INCIDENT_ARN.into()),
        },
        RelatedItem {
            kind: RelatedItemKind::Automation,
            title: "runbook".into(),
            value: RelatedValue::Arn(DOC_ARN.into()),
        },
        RelatedItem {
            kind: RelatedItemKind::Automation,
            title: "execution".into(),
            value: RelatedValue::Arn(EXEC_ARN.into()),
        },
        RelatedItem {
            kind: RelatedItemKind::Attachment,
            title: "dashboard".into(),
            value: RelatedValue::Url("https://console.aws.amazon.com/cloudwatch".into()),
        },
    ];
    let store = store(
        &[&get, &update, &associate_incident, &associate_document],
        1,
        None,
    );
    must(store.add_related_items(&ops_ref(), &items, "tok").await);

    let req = updates.only();
    assert_eq!(req.ops_item_id(), Some(OPS_ID));
    let data = req.operational_data();
    assert_eq!(
        json_of(value_of(data, "/aws/resources").0),
        json!([
            {"arn": VPN_ARN},
            {"arn": VGW_ARN},
            {"arn": ALARM_ARN}
        ])
    );
    let exec_key = format!("responder:related:{}", stable_hash(&[EXEC_ARN], 16));
    assert_eq!(
        json_of(value_of(data, &exec_key).0),
        json!({"kind": "AUTOMATION", "title": "execution", "value": EXEC_ARN})
    );
    assert_eq!(data.map(HashMap::len), Some(3));

    let assocs: Vec<_> = assoc
        .all()
        .iter()
        .map(|r| {
            (
                r.ops_item_id().map(str::to_string),
                r.association_type().map(str::to_string),
                r.resource_type().map(str::to_string),
                r.resource_uri().map(str::to_string),
            )
        })
        .collect();
    let some = |s: &str| Some(s.to_string());
    assert_eq!(
        assocs,
        vec![
            (
                some(OPS_ID),
                some("RelatesTo"),
                some(RESOURCE_TYPE_INCIDENT),
                some(INCIDENT_ARN)
            ),
            (
                some(OPS_ID),
                some("RelatesTo"),
                some(RESOURCE_TYPE_DOCUMENT),
                some(DOC_ARN)
            ),
        ]
    );
}

#[tokio::test]
async fn a_malformed_resources_value_is_not_overwritten() {
    let get = mock!(Client::get_ops_item).then_output(|| {
        GetOpsItemOutput::builder()
            .ops_item(
                OpsItem::builder()
                    .operational_data("/aws/resources", searchable("not json"))
                    .build(),
            )
            .build()
    });
    let items = vec![RelatedItem::resource(ALARM_ARN, "alarm")];
    let err = must_fail(
        store(&[&get], 1, None)
            .add_related_items(&ops_ref(), &items, "tok")
            .await,
    );
    assert_eq!(err.kind, PortErrorKind::Invalid);
    assert_eq!(err.operation, "GetOpsItem");

    let empty = mock!(Client::get_ops_item).then_output(|| GetOpsItemOutput::builder().build());
    let err = must_fail(
        store(&[&empty], 1, None)
            .add_related_items(&ops_ref(), &items, "tok")
            .await,
    );
    assert_eq!(err.kind, PortErrorKind::Other);
}

#[tokio::test]
async fn the_wrong_backend_is_refused() {
    let store = store(&[], 1, None);
    let im = IncidentRef {
        backend: Backend::IncidentManager,
        id: INCIDENT_ARN.into(),
    };
    let err = must_fail(store.add_related_items(&im, &[], "t").await);
    assert_eq!(err.kind, PortErrorKind::Invalid);
}

mod resolve_and_record {
    use super::*;
    use aws_sdk_ssm::operation::get_ops_item::{GetOpsItemError, GetOpsItemInput};
    use aws_smithy_types::DateTime as SmithyTime;

    fn smithy(t: DateTime<Utc>) -> SmithyTime {
        SmithyTime::from_secs_and_nanos(t.timestamp(), t.timestamp_subsec_nanos())
    }

    fn joined() -> EntryKind {
        EntryKind::SignalJoined {
            signal: "fp-2".into(),
        }
    }

    /// A timeline entry's key and value as `add_timeline` writes them.
    fn entry(
        minute: u32,
        second: u32,
        kind: EntryKind,
        text: &str,
        token: &str,
    ) -> (String, String) {
        let e = TimelineEntry::new(at(2026, 11, 21, 4, minute, second), kind, text);
        (timeline_key(&e, token), timeline_value(&e))
    }

    fn item(status: OpsItemStatus, end: Option<DateTime<Utc>>) -> OpsItem {
        let mut b = OpsItem::builder()
            .ops_item_id(OPS_ID)
            .title("VPN vpn-0abc1234: tunnel down")
            .status(status)
            .created_time(smithy(at(2026, 11, 21, 3, 55, 0)))
            .last_modified_time(smithy(at(2026, 11, 21, 4, 30, 0)))
            .operational_data("/aws/dedup", searchable(r#"{"dedupString":"x"}"#))
            .operational_data(KEY_RESOLUTION, plain("back up"));
        for (key, value) in [
            entry(9, 0, EntryKind::Resolved, "Tunnel back up", "tok-late"),
            entry(1, 0, joined(), "Tunnel 2 down too", "bbbbbbbb"),
            (
                // Written before entries had kinds (or by a person): words only.
                entry(1, 0, EntryKind::Diagnosis, "", "aaaaaaaa").0,
                "Runbook started".to_string(),
            ),
        ] {
            b = b.operational_data(key, plain(value));
        }
        b = b.operational_data("responder:timeline:yesterday:x", plain("unreadable"));
        if let Some(end) = end {
            b = b.actual_end_time(smithy(end));
        }
        b.build()
    }

    #[tokio::test]
    async fn resolve_sets_the_status_and_keeps_the_summary() {
        let seen = Captured::<UpdateOpsItemInput>::new();
        let (s1, s2) = (seen.clone(), seen.clone());
        let first = mock!(Client::update_ops_item)
            .match_requests(move |req| s1.push(req.clone()))
            .then_output(|| UpdateOpsItemOutput::builder().build());
        let long = mock!(Client::update_ops_item)
            .match_requests(move |req| s2.push(req.clone()))
            .then_output(|| UpdateOpsItemOutput::builder().build());
        let store = store(&[&first, &long], 1, None);
        must(
            store
                .resolve(&ops_ref(), " Tunnel back up after 14 minutes. ")
                .await,
        );
        must(store.resolve(&ops_ref(), &"é".repeat(30_000)).await);

        let reqs = seen.all();
        assert_eq!(reqs[0].ops_item_id(), Some(OPS_ID));
        assert_eq!(reqs[0].status(), Some(&OpsItemStatus::Resolved));
        let data = reqs[0].operational_data();
        assert_eq!(data.map(HashMap::len), Some(1));
        assert_eq!(
            value_of(data, "responder:resolution"),
            ("Tunnel back up after 14 minutes.", OpsItemDataType::String)
        );
        assert_eq!(reqs[0].title(), None);
        assert!(reqs[0].operational_data_to_delete().is_empty());
        let long = value_of(reqs[1].operational_data(), "responder:resolution").0;
        assert!(long.len() <= DATA_VALUE_MAX_BYTES && long.ends_with('…'));
    }

    #[tokio::test]
    async fn an_empty_summary_only_resolves() {
        let seen = Captured::<UpdateOpsItemInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::update_ops_item)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(|| UpdateOpsItemOutput::builder().build());
        must(store(&[&rule], 1, None).resolve(&ops_ref(), "  ").await);
        let req = seen.only();
        assert_eq!(req.status(), Some(&OpsItemStatus::Resolved));
        assert_eq!(req.operational_data(), None);
    }

    #[tokio::test]
    async fn resolve_errors_map_and_the_wrong_backend_is_refused() {
        let rule = mock!(Client::update_ops_item).then_error(|| {
            UpdateOpsItemError::generic(meta("OpsItemNotFoundException", "no such OpsItem"))
        });
        let store = store(&[&rule], 1, None);
        let err = must_fail(store.resolve(&ops_ref(), "done").await);
        assert_eq!(
            (err.kind, err.operation.as_str()),
            (PortErrorKind::NotFound, "UpdateOpsItem")
        );
        let im = IncidentRef {
            backend: Backend::IncidentManager,
            id: INCIDENT_ARN.into(),
        };
        assert_eq!(
            must_fail(store.resolve(&im, "done").await).kind,
            PortErrorKind::Invalid
        );
        assert_eq!(
            must_fail(store.record(&im).await).kind,
            PortErrorKind::Invalid
        );
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn record_reads_status_times_and_the_timeline_entries() {
        let seen = Captured::<GetOpsItemInput>::new();
        let s = seen.clone();
        let resolved = mock!(Client::get_ops_item)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(|| {
                GetOpsItemOutput::builder()
                    .ops_item(item(OpsItemStatus::Resolved, None))
                    .build()
            });
        let ended = mock!(Client::get_ops_item).then_output(|| {
            GetOpsItemOutput::builder()
                .ops_item(item(
                    OpsItemStatus::Resolved,
                    Some(at(2026, 11, 21, 4, 10, 0)),
                ))
                .build()
        });
        let open = mock!(Client::get_ops_item).then_output(|| {
            GetOpsItemOutput::builder()
                .ops_item(item(
                    OpsItemStatus::InProgress,
                    Some(at(2026, 11, 21, 4, 10, 0)),
                ))
                .build()
        });
        let store = store(&[&resolved, &ended, &open], 1, None);

        let got = must(store.record(&ops_ref()).await);
        assert_eq!(seen.only().ops_item_id(), Some(OPS_ID));
        assert_eq!(got.title, "VPN vpn-0abc1234: tunnel down");
        assert!(got.resolved);
        assert_eq!(got.created_at, Some(at(2026, 11, 21, 3, 55, 0)));
        assert_eq!(got.resolved_at, Some(at(2026, 11, 21, 4, 30, 0)));
        let note = EntryKind::External {
            event: "note".into(),
        };
        let timeline: Vec<_> = got
            .timeline
            .iter()
            .map(|e| (e.time, e.kind.clone(), e.text.as_str()))
            .collect();
        assert_eq!(
            timeline,
            vec![
                (at(2026, 11, 21, 4, 1, 0), note, "Runbook started"),
                (at(2026, 11, 21, 4, 1, 0), joined(), "Tunnel 2 down too"),
                (
                    at(2026, 11, 21, 4, 9, 0),
                    EntryKind::Resolved,
                    "Tunnel back up"
                ),
            ]
        );

        let got = must(store.record(&ops_ref()).await);
        assert_eq!(got.resolved_at, Some(at(2026, 11, 21, 4, 10, 0)));
        let got = must(store.record(&ops_ref()).await);
        assert!(!got.resolved);
        assert_eq!(got.resolved_at, None);
        assert_eq!(got.timeline.len(), 3);
    }

    #[tokio::test]
    async fn record_errors_map_to_kinds() {
        let missing = mock!(Client::get_ops_item).then_error(|| {
            GetOpsItemError::generic(meta("OpsItemNotFoundException", "no such OpsItem"))
        });
        let empty = mock!(Client::get_ops_item).then_output(|| GetOpsItemOutput::builder().build());
        let store = store(&[&missing, &empty], 1, None);
        let err = must_fail(store.record(&ops_ref()).await);
        assert_eq!(
            (err.kind, err.operation.as_str()),
            (PortErrorKind::NotFound, "GetOpsItem")
        );
        assert_eq!(
            must_fail(store.record(&ops_ref()).await).kind,
            PortErrorKind::Other
        );
    }

    #[test]
    fn timeline_keys_read_back_their_time() {
        let (key, _) = entry(4, 5, joined(), "x", "");
        assert_eq!(timeline_time(&key), Some(at(2026, 11, 21, 4, 4, 5)));
        let e = TimelineEntry::new(
            chrono::TimeZone::timestamp_opt(&Utc, 1_795_000_000, 123_000_000).unwrap(),
            EntryKind::Resolved,
            "t",
        );
        assert_eq!(timeline_time(&timeline_key(&e, "5d41402a")), Some(e.time));
        assert_eq!(timeline_time("responder:related:abc"), None);
        assert_eq!(timeline_time("responder:timeline:garbage"), None);
    }
}
