//! [`IncidentStore`] on AWS Systems Manager Incident Manager (`ssm-incidents`).
//!
//! - `open` → `StartIncident`, idempotent on `clientToken`;
//! - `add_timeline` → `CreateTimelineEvent` (`Custom Event`);
//! - `add_related_items` → `UpdateRelatedItems`, one call per item (the API takes one
//!   `itemToAdd`), each with its own derived `clientToken`.
//!
//! Every field is trimmed to its documented limit here, so callers pass domain values as they are.
//! Limits: <https://docs.aws.amazon.com/incident-manager/latest/APIReference/API_StartIncident.html>,
//! `API_RelatedItem.html`, `API_CreateTimelineEvent.html`.

use std::collections::HashSet;

use async_trait::async_trait;
use aws_sdk_ssmincidents::types::{
    ItemIdentifier, ItemType, ItemValue, RelatedItem as SdkRelatedItem, RelatedItemsUpdate,
    TriggerDetails,
};
use aws_sdk_ssmincidents::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::convert::{is_arn, to_smithy_time};
use super::error::from_sdk_error;
use crate::domain::{
    stable_hash, trim_chars, Backend, IncidentRef, NewIncident, RelatedItem, RelatedItemKind,
    RelatedValue, TimelineEntry, RESPONDER_SOURCE,
};
use crate::ports::{IncidentStore, PortError, PortErrorKind};

/// `clientToken`: at most 128 characters.
pub const CLIENT_TOKEN_MAX: usize = 128;
/// `StartIncident.title`: at most 200 characters.
pub const TITLE_MAX: usize = 200;
/// `TriggerDetails.source`: at most 50 characters, must not start with `aws.`.
pub const TRIGGER_SOURCE_MAX: usize = 50;
/// `TriggerDetails.rawData`: at most 10,000 characters.
pub const RAW_DATA_MAX: usize = 10_000;
/// `StartIncident.relatedItems`: at most 100 items.
pub const RELATED_ITEMS_MAX: usize = 100;
/// `RelatedItem.title`: at most 200 characters.
pub const RELATED_ITEM_TITLE_MAX: usize = 200;
/// `CreateTimelineEvent.eventData`: at most 12,000 characters.
pub const EVENT_DATA_MAX: usize = 12_000;
/// The timeline event type for our entries (`Note` is the other one the API accepts).
pub const TIMELINE_EVENT_TYPE: &str = "Custom Event";

/// Incident records in Incident Manager, opened against one response plan.
#[derive(Debug, Clone)]
pub struct IncidentManagerStore {
    client: Client,
    response_plan_arn: String,
}

impl IncidentManagerStore {
    pub fn new(client: Client, response_plan_arn: impl Into<String>) -> Self {
        IncidentManagerStore {
            client,
            response_plan_arn: response_plan_arn.into(),
        }
    }
}

/// A client token the API accepts: as given when it fits in 128 characters; otherwise a
/// 95-character prefix, `-` and 32 hex digits of the whole token's hash (stable across retries,
/// and two long tokens sharing a prefix stay distinct). `None` when empty (the SDK then makes one
/// up, and the call is not idempotent: the caller's bug, logged).
fn normalise_token(token: &str) -> Option<String> {
    let token = token.trim();
    if token.is_empty() {
        tracing::warn!("empty client token: the call will not be idempotent");
        return None;
    }
    if token.chars().count() <= CLIENT_TOKEN_MAX {
        return Some(token.to_string());
    }
    let prefix: String = token.chars().take(CLIENT_TOKEN_MAX - 33).collect();
    Some(format!("{prefix}-{}", stable_hash(&[token], 32)))
}

fn item_type(kind: RelatedItemKind) -> ItemType {
    match kind {
        RelatedItemKind::Analysis => ItemType::Analysis,
        RelatedItemKind::Incident => ItemType::Incident,
        RelatedItemKind::Metric => ItemType::Metric,
        RelatedItemKind::Parent => ItemType::Parent,
        RelatedItemKind::Attachment => ItemType::Attachment,
        RelatedItemKind::Other => ItemType::Other,
        RelatedItemKind::Automation => ItemType::Automation,
        RelatedItemKind::InvolvedResource => ItemType::InvolvedResource,
        RelatedItemKind::Task => ItemType::Task,
    }
}

/// The value's text and a tag telling the variants apart (for de-duplication).
fn value_key(value: &RelatedValue) -> (u8, &str) {
    match value {
        RelatedValue::Arn(v) => (0, v.as_str()),
        RelatedValue::Url(v) => (1, v.as_str()),
        RelatedValue::MetricDefinition(v) => (2, v.as_str()),
    }
}

/// Our related items, de-duplicated by value (first wins), empty values dropped, at most `max`.
fn distinct_items(items: &[RelatedItem], max: usize) -> Vec<&RelatedItem> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for item in items {
        let key = value_key(&item.value);
        if key.1.trim().is_empty() {
            tracing::warn!(kind = ?item.kind, "related item with an empty value dropped");
            continue;
        }
        if !seen.insert(key) {
            continue;
        }
        if out.len() == max {
            tracing::warn!(
                max,
                total = items.len(),
                "related items over the limit dropped"
            );
            break;
        }
        out.push(item);
    }
    out
}

/// One of our related items as the SDK's, title trimmed to its limit.
fn to_sdk_item(operation: &str, item: &RelatedItem) -> Result<SdkRelatedItem, PortError> {
    let value = match &item.value {
        RelatedValue::Arn(arn) => ItemValue::Arn(arn.clone()),
        RelatedValue::Url(url) => ItemValue::Url(url.clone()),
        RelatedValue::MetricDefinition(json) => ItemValue::MetricDefinition(json.clone()),
    };
    let identifier = ItemIdentifier::builder()
        .r#type(item_type(item.kind))
        .value(value)
        .build()
        .map_err(|e| PortError::new(operation, PortErrorKind::Invalid, e.to_string()))?;
    let title = trim_chars(item.title.trim(), RELATED_ITEM_TITLE_MAX);
    let builder = SdkRelatedItem::builder().identifier(identifier);
    Ok(if title.is_empty() {
        builder.build()
    } else {
        builder.title(title).build()
    })
}

/// `eventData`: the text as a JSON string value (what the console renders, as in the AWS CLI
/// example `--event-data "\"example timeline event\""`), cut so the *encoded* form fits.
fn event_data(text: &str) -> String {
    let mut max = EVENT_DATA_MAX.saturating_sub(2);
    loop {
        let encoded = serde_json::Value::String(trim_chars(text, max)).to_string();
        let len = encoded.chars().count();
        if len <= EVENT_DATA_MAX || max == 0 {
            return encoded;
        }
        max = max.saturating_sub(len - EVENT_DATA_MAX);
    }
}

/// The trigger source Incident Manager accepts: ours unless it is empty, too long or `aws.…`.
fn trigger_source(source: &str) -> &str {
    let source = source.trim();
    if source.is_empty()
        || source.starts_with("aws.")
        || source.chars().count() > TRIGGER_SOURCE_MAX
    {
        tracing::warn!(
            source,
            "trigger source not accepted by Incident Manager, using ours"
        );
        RESPONDER_SOURCE
    } else {
        source
    }
}

fn expect_backend(operation: &str, incident: &IncidentRef) -> Result<(), PortError> {
    if incident.backend == Backend::IncidentManager {
        Ok(())
    } else {
        Err(PortError::new(
            operation,
            PortErrorKind::Invalid,
            format!(
                "incident {} belongs to {}, not incident-manager",
                incident.id, incident.backend
            ),
        ))
    }
}

#[async_trait]
impl IncidentStore for IncidentManagerStore {
    fn backend(&self) -> Backend {
        Backend::IncidentManager
    }

    // Placeholder until the adapter work lands (replaced, not kept).
    async fn resolve(&self, _incident: &IncidentRef, _summary: &str) -> Result<(), PortError> {
        Err(PortError::new(
            "resolve",
            crate::ports::PortErrorKind::Other,
            "not implemented",
        ))
    }

    async fn record(
        &self,
        _incident: &IncidentRef,
    ) -> Result<crate::ports::IncidentRecord, PortError> {
        Err(PortError::new(
            "record",
            crate::ports::PortErrorKind::Other,
            "not implemented",
        ))
    }

    async fn open(&self, incident: &NewIncident) -> Result<IncidentRef, PortError> {
        const OP: &str = "StartIncident";
        let trigger = &incident.trigger;
        let mut details = TriggerDetails::builder()
            .source(trigger_source(&trigger.source))
            .timestamp(to_smithy_time(trigger.timestamp));
        let raw = trim_chars(&trigger.raw_data, RAW_DATA_MAX);
        if !raw.is_empty() {
            details = details.raw_data(raw);
        }
        if let Some(arn) = trigger.arn.as_deref().filter(|a| is_arn(a)) {
            details = details.trigger_arn(arn);
        }
        let details = details
            .build()
            .map_err(|e| PortError::new(OP, PortErrorKind::Invalid, e.to_string()))?;

        let related = distinct_items(&incident.related_items, RELATED_ITEMS_MAX)
            .into_iter()
            .map(|item| to_sdk_item(OP, item))
            .collect::<Result<Vec<_>, _>>()?;

        let title = trim_chars(incident.title.trim(), TITLE_MAX);
        let output = self
            .client
            .start_incident()
            .response_plan_arn(&self.response_plan_arn)
            .set_client_token(normalise_token(&incident.client_token))
            .impact(i32::from(incident.impact.get()))
            .set_title((!title.is_empty()).then_some(title))
            .trigger_details(details)
            .set_related_items((!related.is_empty()).then_some(related))
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;

        let arn = output.incident_record_arn();
        if arn.is_empty() {
            return Err(PortError::new(
                OP,
                PortErrorKind::Other,
                "the response carries no incidentRecordArn",
            ));
        }
        tracing::info!(incident = arn, "incident started");
        Ok(IncidentRef {
            backend: Backend::IncidentManager,
            id: arn.to_string(),
        })
    }

    async fn add_timeline(
        &self,
        incident: &IncidentRef,
        entry: &TimelineEntry,
        client_token: &str,
    ) -> Result<(), PortError> {
        const OP: &str = "CreateTimelineEvent";
        expect_backend(OP, incident)?;
        self.client
            .create_timeline_event()
            .incident_record_arn(&incident.id)
            .set_client_token(normalise_token(client_token))
            .event_time(to_smithy_time(entry.time))
            .event_type(TIMELINE_EVENT_TYPE)
            .event_data(event_data(&entry.text))
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        Ok(())
    }

    async fn add_related_items(
        &self,
        incident: &IncidentRef,
        items: &[RelatedItem],
        client_token: &str,
    ) -> Result<(), PortError> {
        const OP: &str = "UpdateRelatedItems";
        expect_backend(OP, incident)?;
        for item in distinct_items(items, usize::MAX) {
            let token = stable_hash(&[client_token, value_key(&item.value).1], 64);
            let result = self
                .client
                .update_related_items()
                .incident_record_arn(&incident.id)
                .client_token(token)
                .related_items_update(RelatedItemsUpdate::ItemToAdd(to_sdk_item(OP, item)?))
                .send()
                .await;
            match result {
                Ok(_) => {}
                // The item is already on the record (a retried call): that is what we wanted.
                Err(err)
                    if err.as_service_error().is_some_and(|e| {
                        e.is_conflict_exception() || e.code() == Some("ConflictException")
                    }) =>
                {
                    tracing::debug!(
                        incident = %incident.id,
                        "related item already present: {}",
                        err.as_service_error().and_then(|e| e.message()).unwrap_or("")
                    );
                }
                Err(err) => return Err(from_sdk_error(OP, &err)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::testkit::*;
    use crate::domain::{RelatedItemKind, TimelineEntry};
    use aws_sdk_ssmincidents::operation::create_timeline_event::{
        CreateTimelineEventError, CreateTimelineEventInput, CreateTimelineEventOutput,
    };
    use aws_sdk_ssmincidents::operation::start_incident::{
        StartIncidentError, StartIncidentInput, StartIncidentOutput,
    };
    use aws_sdk_ssmincidents::operation::update_related_items::{
        UpdateRelatedItemsError, UpdateRelatedItemsInput, UpdateRelatedItemsOutput,
    };
    use aws_sdk_ssmincidents::types::error::ConflictException;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};

    const PLAN: &str = "arn:aws:ssm-incidents::111122223333:response-plan/vpn-plan";

    fn started() -> StartIncidentOutput {
        must(
            StartIncidentOutput::builder()
                .incident_record_arn(INCIDENT_ARN)
                .build(),
        )
    }

    fn timeline_created() -> CreateTimelineEventOutput {
        must(
            CreateTimelineEventOutput::builder()
                .incident_record_arn(INCIDENT_ARN)
                .event_id("c0bcc885-a41d-eb01-b4ab-9d2de193643c")
                .build(),
        )
    }

    fn store(rules: &[&Rule], attempts: u32) -> IncidentManagerStore {
        let client = mock_client!(aws_sdk_ssmincidents, RuleMode::Sequential, rules, |b| b
            .retry_config(fast_retries(attempts)));
        IncidentManagerStore::new(client, PLAN)
    }

    fn incident_ref() -> IncidentRef {
        IncidentRef {
            backend: Backend::IncidentManager,
            id: INCIDENT_ARN.to_string(),
        }
    }

    #[tokio::test]
    async fn open_sends_the_documented_fields() {
        let seen = Captured::<StartIncidentInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::start_incident)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(started);
        let incident = new_incident();
        let opened = must(store(&[&rule], 1).open(&incident).await);
        assert_eq!(
            opened,
            IncidentRef {
                backend: Backend::IncidentManager,
                id: INCIDENT_ARN.to_string()
            }
        );

        let req = seen.only();
        assert_eq!(req.response_plan_arn(), Some(PLAN));
        assert_eq!(req.client_token(), Some(incident.client_token.as_str()));
        assert_eq!(req.impact(), Some(2));
        assert_eq!(req.title(), Some("VPN vpn-0abc1234: tunnel down"));
        let trigger = req
            .trigger_details()
            .unwrap_or_else(|| panic!("no trigger"));
        assert_eq!(trigger.source(), "incident.responder");
        assert_eq!(
            trigger.timestamp().secs(),
            incident.trigger.timestamp.timestamp()
        );
        assert_eq!(trigger.raw_data(), Some(incident.trigger.raw_data.as_str()));
        assert_eq!(trigger.trigger_arn(), Some(ALARM_ARN));

        let items = req.related_items();
        assert_eq!(items.len(), 3);
        let id = |i: usize| {
            items[i]
                .identifier()
                .unwrap_or_else(|| panic!("no identifier"))
        };
        assert_eq!(id(0).r#type(), &ItemType::InvolvedResource);
        assert_eq!(id(0).value(), Some(&ItemValue::Arn(VPN_ARN.to_string())));
        assert_eq!(items[0].title(), Some("VPN connection vpn-0abc1234"));
        assert_eq!(id(1).r#type(), &ItemType::Metric);
        assert_eq!(
            id(1).value(),
            Some(&ItemValue::MetricDefinition(METRIC_JSON.to_string()))
        );
        assert_eq!(id(2).r#type(), &ItemType::Attachment);
        assert_eq!(
            id(2).value(),
            Some(&ItemValue::Url(
                "https://wiki.example.com/runbooks/vpn".to_string()
            ))
        );
    }

    #[tokio::test]
    async fn client_token_is_stable_across_retried_invocations() {
        let seen = Captured::<StartIncidentInput>::new();
        let (s1, s2) = (seen.clone(), seen.clone());
        let first = mock!(Client::start_incident)
            .match_requests(move |req| s1.push(req.clone()))
            .then_output(started);
        let second = mock!(Client::start_incident)
            .match_requests(move |req| s2.push(req.clone()))
            .then_output(started);
        let store = store(&[&first, &second], 1);
        let incident = new_incident();
        let a = must(store.open(&incident).await);
        let b = must(store.open(&incident.clone()).await);
        assert_eq!(a, b);
        let tokens: Vec<_> = seen
            .all()
            .iter()
            .map(|r| r.client_token().map(str::to_string))
            .collect();
        assert_eq!(tokens.len(), 2);
        assert!(tokens[0].is_some());
        assert_eq!(tokens[0], tokens[1]);
    }

    #[tokio::test]
    async fn oversized_fields_are_trimmed_and_items_capped() {
        let seen = Captured::<StartIncidentInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::start_incident)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(started);
        let mut incident = new_incident();
        incident.title = "T".repeat(500);
        incident.trigger.raw_data = "é".repeat(25_000);
        incident.client_token = "k".repeat(300);
        incident.trigger.arn = Some("not-an-arn".to_string());
        incident.related_items = (0..150)
            .map(|i| RelatedItem::resource(format!("{VPN_ARN}-{}", i % 120), "x".repeat(300)))
            .collect();
        must(store(&[&rule], 1).open(&incident).await);

        let req = seen.only();
        let title = req.title().unwrap_or_default();
        assert_eq!(title.chars().count(), TITLE_MAX);
        assert!(title.ends_with('…'));
        let raw = req
            .trigger_details()
            .and_then(|t| t.raw_data())
            .unwrap_or_default();
        assert_eq!(raw.chars().count(), RAW_DATA_MAX);
        assert_eq!(req.trigger_details().and_then(|t| t.trigger_arn()), None);
        let token = req.client_token().unwrap_or_default();
        assert_eq!(token.chars().count(), CLIENT_TOKEN_MAX);
        assert_eq!(Some(token.to_string()), normalise_token(&"k".repeat(300)));
        assert_ne!(
            normalise_token(&"k".repeat(300)),
            normalise_token(&"k".repeat(301))
        );

        let items = req.related_items();
        assert_eq!(items.len(), RELATED_ITEMS_MAX);
        let values: HashSet<_> = items
            .iter()
            .filter_map(|i| i.identifier().and_then(|id| id.value()))
            .map(|v| format!("{v:?}"))
            .collect();
        assert_eq!(values.len(), RELATED_ITEMS_MAX, "items are distinct");
        assert!(items
            .iter()
            .all(|i| i.title().unwrap_or_default().chars().count() == RELATED_ITEM_TITLE_MAX));
    }

    #[test]
    fn duplicates_are_dropped_before_the_cap() {
        let items: Vec<_> = (0..10)
            .map(|i| RelatedItem::resource(format!("arn:aws:s3:::b{}", i % 3), "b"))
            .collect();
        assert_eq!(distinct_items(&items, 100).len(), 3);
        assert_eq!(distinct_items(&items, 2).len(), 2);
    }

    #[tokio::test]
    async fn throttling_is_retried_then_succeeds() {
        let rule = mock!(Client::start_incident)
            .sequence()
            .error(|| StartIncidentError::generic(meta("ThrottlingException", "Rate exceeded")))
            .times(2)
            .output(started)
            .build();
        let opened = must(store(&[&rule], 3).open(&new_incident()).await);
        assert_eq!(opened.id, INCIDENT_ARN);
        assert_eq!(rule.num_calls(), 3);
    }

    #[tokio::test]
    async fn throttling_past_the_budget_is_throttled() {
        let rule = mock!(Client::start_incident)
            .sequence()
            .error(|| StartIncidentError::generic(meta("ThrottlingException", "Rate exceeded")))
            .times(3)
            .build();
        let err = must_fail(store(&[&rule], 3).open(&new_incident()).await);
        assert_eq!(err.kind, PortErrorKind::Throttled);
        assert_eq!(err.operation, "StartIncident");
        assert_eq!(err.message, "ThrottlingException: Rate exceeded");
        assert_eq!(rule.num_calls(), 3);
    }

    #[tokio::test]
    async fn error_codes_map_to_kinds() {
        let cases = [
            ("AccessDeniedException", PortErrorKind::AccessDenied),
            ("ResourceNotFoundException", PortErrorKind::NotFound),
            ("ValidationException", PortErrorKind::Invalid),
            ("ConflictException", PortErrorKind::Conflict),
            ("InternalServerException", PortErrorKind::Unavailable),
            ("SomethingElse", PortErrorKind::Other),
        ];
        for (code, kind) in cases {
            let rule = mock!(Client::start_incident)
                .then_error(move || StartIncidentError::generic(meta(code, "no")));
            let err = must_fail(store(&[&rule], 1).open(&new_incident()).await);
            assert_eq!(err.kind, kind, "{code}");
            assert!(err.message.starts_with(code), "{}", err.message);
        }
        let rule = mock!(Client::start_incident)
            .sequence()
            .http_status(503, None)
            .build();
        let err = must_fail(store(&[&rule], 1).open(&new_incident()).await);
        assert_eq!(err.kind, PortErrorKind::Unavailable);
    }

    #[tokio::test]
    async fn timeline_event_carries_a_json_string() {
        let seen = Captured::<CreateTimelineEventInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::create_timeline_event)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(timeline_created);
        let entry = TimelineEntry {
            time: at(2026, 11, 21, 4, 0, 0),
            event: "signal-joined".to_string(),
            text: "Tunnel 2 went \"down\" too".to_string(),
        };
        must(
            store(&[&rule], 1)
                .add_timeline(&incident_ref(), &entry, "tok-1")
                .await,
        );
        let req = seen.only();
        assert_eq!(req.incident_record_arn(), Some(INCIDENT_ARN));
        assert_eq!(req.client_token(), Some("tok-1"));
        assert_eq!(req.event_type(), Some("Custom Event"));
        assert_eq!(
            req.event_time().map(|t| t.secs()),
            Some(entry.time.timestamp())
        );
        assert_eq!(req.event_data(), Some(r#""Tunnel 2 went \"down\" too""#));
        let parsed: String = must(serde_json::from_str(req.event_data().unwrap_or_default()));
        assert_eq!(parsed, entry.text);
    }

    #[test]
    fn event_data_fits_even_when_escaping_grows_it() {
        let plain = event_data(&"a".repeat(20_000));
        assert_eq!(plain.chars().count(), EVENT_DATA_MAX);
        let quoted = event_data(&"\"".repeat(20_000));
        assert!(quoted.chars().count() <= EVENT_DATA_MAX);
        let back: String = must(serde_json::from_str(&quoted));
        assert!(back.ends_with('…'));
    }

    #[tokio::test]
    async fn timeline_errors_map_and_wrong_backend_is_refused() {
        let rule = mock!(Client::create_timeline_event).then_error(|| {
            CreateTimelineEventError::generic(meta("ResourceNotFoundException", "no such incident"))
        });
        let store = store(&[&rule], 1);
        let entry = TimelineEntry {
            time: at(2026, 11, 21, 4, 0, 0),
            event: "e".to_string(),
            text: "t".to_string(),
        };
        let err = must_fail(store.add_timeline(&incident_ref(), &entry, "t").await);
        assert_eq!(err.kind, PortErrorKind::NotFound);
        let ops = IncidentRef {
            backend: Backend::OpsCenter,
            id: "oi-0123456789ab".to_string(),
        };
        let err = must_fail(store.add_timeline(&ops, &entry, "t").await);
        assert_eq!(err.kind, PortErrorKind::Invalid);
    }

    #[tokio::test]
    async fn related_items_go_one_per_call_and_existing_ones_count_as_added() {
        let seen = Captured::<UpdateRelatedItemsInput>::new();
        let (s1, s2, s3) = (seen.clone(), seen.clone(), seen.clone());
        let first = mock!(Client::update_related_items)
            .match_requests(move |req| s1.push(req.clone()))
            .then_output(|| UpdateRelatedItemsOutput::builder().build());
        let exists = mock!(Client::update_related_items)
            .match_requests(move |req| s2.push(req.clone()))
            .then_error(|| {
                UpdateRelatedItemsError::ConflictException(must(
                    ConflictException::builder()
                        .message("Related item already exists")
                        .meta(meta("ConflictException", "Related item already exists"))
                        .build(),
                ))
            });
        let third = mock!(Client::update_related_items)
            .match_requests(move |req| s3.push(req.clone()))
            .then_output(|| UpdateRelatedItemsOutput::builder().build());
        let mut items = new_incident().related_items;
        items.push(items[0].clone()); // a duplicate: not sent twice
        must(
            store(&[&first, &exists, &third], 1)
                .add_related_items(&incident_ref(), &items, "tok-9")
                .await,
        );
        let reqs = seen.all();
        assert_eq!(reqs.len(), 3);
        let expected_tokens = [
            stable_hash(&["tok-9", VPN_ARN], 64),
            stable_hash(&["tok-9", METRIC_JSON], 64),
            stable_hash(&["tok-9", "https://wiki.example.com/runbooks/vpn"], 64),
        ];
        for (req, token) in reqs.iter().zip(expected_tokens.iter()) {
            assert_eq!(req.incident_record_arn(), Some(INCIDENT_ARN));
            assert_eq!(req.client_token(), Some(token.as_str()));
        }
        let added = |i: usize| match reqs[i].related_items_update() {
            Some(RelatedItemsUpdate::ItemToAdd(item)) => item.clone(),
            other => panic!("not an itemToAdd: {other:?}"),
        };
        assert_eq!(
            added(0).identifier().map(|i| i.r#type().clone()),
            Some(ItemType::InvolvedResource)
        );
        assert_eq!(
            added(1).identifier().and_then(|i| i.value().cloned()),
            Some(ItemValue::MetricDefinition(METRIC_JSON.to_string()))
        );
        assert_eq!(added(2).title(), Some("Runbook"));
    }

    #[tokio::test]
    async fn related_item_failures_other_than_conflict_fail() {
        let rule = mock!(Client::update_related_items).then_error(|| {
            UpdateRelatedItemsError::generic(meta("AccessDeniedException", "not allowed"))
        });
        let items = vec![RelatedItem {
            kind: RelatedItemKind::Other,
            title: String::new(),
            value: RelatedValue::Url("https://example.com".to_string()),
        }];
        let err = must_fail(
            store(&[&rule], 1)
                .add_related_items(&incident_ref(), &items, "t")
                .await,
        );
        assert_eq!(err.kind, PortErrorKind::AccessDenied);
        assert_eq!(err.operation, "UpdateRelatedItems");
    }
}
