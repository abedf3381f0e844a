//! The incident ports on AWS Systems Manager Incident Manager (`ssm-incidents`):
//! [`IncidentManagerOpener`] opens incidents against the response plan for their impact;
//! [`IncidentManagerStore`] writes onto them, reads them back and resolves them.
//!
//! - `open` → `StartIncident`, idempotent on `clientToken`;
//! - `add_timeline` → `CreateTimelineEvent` (`Custom Event`), the entry stored as its
//!   `eventData`: `{"text": …, "kind": …}` ([`crate::domain::timeline::to_stored`]);
//! - `add_related_items` → `UpdateRelatedItems`, one call per item (the API takes one
//!   `itemToAdd`), each with its own derived `clientToken`;
//! - `resolve` → `UpdateIncidentRecord` (`status` `RESOLVED`, `summary`, a `clientToken` derived
//!   from the ARN and the summary, so a retried invocation sends the same request);
//! - `record` → `GetIncidentRecord` (title, status, `creationTime`, `resolvedTime`), then
//!   `ListTimelineEvents` (`sortBy` `EVENT_TIME`, `sortOrder` `ASCENDING`, every `nextToken`
//!   page) and one `GetTimelineEvent` per event: the list's `EventSummary` carries no
//!   `eventData` (`API_EventSummary.html`). What `add_timeline` wrote reads back with its kind;
//!   anything else (the service's own events carry a JSON object, a person's a string) is an
//!   [`EntryKind::External`] entry named by its event type, its words as a person would read
//!   them. An event that vanished between the list and the get is left out.
//!
//! Every field is trimmed to its documented limit here, so callers pass domain values as they are.
//! Limits: <https://docs.aws.amazon.com/incident-manager/latest/APIReference/API_StartIncident.html>,
//! `API_RelatedItem.html`, `API_CreateTimelineEvent.html`, `API_UpdateIncidentRecord.html`
//! (`summary` ≤ 8,000 characters), `API_ListTimelineEvents.html` (`maxResults` ≤ 100).

use std::collections::HashSet;

use async_trait::async_trait;
use aws_sdk_ssmincidents::operation::get_timeline_event::GetTimelineEventError;
use aws_sdk_ssmincidents::types::{
    IncidentRecordStatus, ItemIdentifier, ItemType, ItemValue, RelatedItem as SdkRelatedItem,
    RelatedItemsUpdate, SortOrder, TimelineEventSort, TriggerDetails,
};
use aws_sdk_ssmincidents::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::convert::{to_chrono, to_smithy_time};
use super::error::from_sdk_error;
use crate::arn::is_arn;
use crate::domain::timeline::{from_stored, to_stored};
use crate::domain::{
    stable_hash, trim_chars, Backend, EntryKind, Impact, IncidentRef, NewIncident, RelatedItem,
    RelatedItemKind, RelatedValue, ResponsePlans, TimelineEntry, RESPONDER_SOURCE,
};
use crate::ports::{
    IncidentOpener, IncidentRecord, IncidentResolver, IncidentWriter, PortError, PortErrorKind,
    Standing,
};

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
/// `UpdateIncidentRecord.summary`: at most 8,000 characters.
pub const SUMMARY_MAX: usize = 8_000;
/// `ListTimelineEvents.maxResults`: at most 100 per page.
pub const TIMELINE_PAGE_MAX: i32 = 100;
/// The most timeline events read back for the post-incident record.
pub const TIMELINE_READ_MAX: usize = 2_000;
/// How many `GetTimelineEvent` calls run at once.
pub const TIMELINE_READS_AT_ONCE: usize = 10;

/// Opens incident records, each against the response plan for its impact.
#[derive(Debug, Clone)]
pub struct IncidentManagerOpener {
    client: Client,
    plans: ResponsePlans,
}

impl IncidentManagerOpener {
    pub fn new(client: Client, plans: ResponsePlans) -> Self {
        IncidentManagerOpener { client, plans }
    }
}

/// Writes onto incident records, reads them back and resolves them.
#[derive(Debug, Clone)]
pub struct IncidentManagerStore {
    client: Client,
}

impl IncidentManagerStore {
    pub fn new(client: Client) -> Self {
        IncidentManagerStore { client }
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

/// A timeline event as an entry's kind and words: what `add_timeline` stored, else an
/// [`EntryKind::External`] entry named by the event's type.
fn read_entry(event_type: &str, event_data: &str) -> (EntryKind, String) {
    from_stored(event_data).unwrap_or_else(|| {
        let event = event_type.to_string();
        (EntryKind::External { event }, event_text(event_data))
    })
}

/// Words of an event the responder did not write: a JSON string decoded, the service's own
/// JSON objects as a person would read them, anything else as it is.
fn event_text(event_data: &str) -> String {
    use serde_json::Value;
    match serde_json::from_str::<Value>(event_data) {
        Ok(Value::String(text)) => text,
        // The service's own events (`{"summary": "Incident Created", "impact": 2, …}`): the
        // summary, then the other plain fields, as a person would read them.
        Ok(Value::Object(fields)) => match fields.get("summary").and_then(Value::as_str) {
            Some(summary) => {
                let details: Vec<String> = fields
                    .iter()
                    .filter(|(key, _)| key.as_str() != "summary")
                    .filter_map(|(key, value)| match value {
                        Value::String(text) if !text.is_empty() => Some(format!("{key} {text}")),
                        Value::Number(number) => Some(format!("{key} {number}")),
                        Value::Bool(flag) => Some(format!("{key} {flag}")),
                        _ => None,
                    })
                    .collect();
                if details.is_empty() {
                    summary.to_string()
                } else {
                    format!("{summary} ({})", details.join(", "))
                }
            }
            None => event_data.to_string(),
        },
        _ => event_data.to_string(),
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

impl IncidentManagerStore {
    /// The incident's timeline events, oldest first, with their words: at most
    /// [`TIMELINE_READ_MAX`] of them, each page's words read [`TIMELINE_READS_AT_ONCE`] at a
    /// time (`GetTimelineEvent` is one call per event), so that an incident with hundreds of
    /// joins is read well inside the function's timeout.
    async fn timeline(&self, arn: &str) -> Result<Vec<TimelineEntry>, PortError> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};

        const OP: &str = "ListTimelineEvents";
        let mut entries = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let output = self
                .client
                .list_timeline_events()
                .incident_record_arn(arn)
                .sort_by(TimelineEventSort::EventTime)
                .sort_order(SortOrder::Ascending)
                .max_results(TIMELINE_PAGE_MAX)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| from_sdk_error(OP, &e))?;
            let room = TIMELINE_READ_MAX.saturating_sub(entries.len());
            let summaries: Vec<_> = output.event_summaries().iter().take(room).collect();
            let ids: Vec<String> = summaries.iter().map(|s| s.event_id().to_string()).collect();
            let words: Vec<Option<String>> = stream::iter(ids)
                .map(|id| async move { self.event_data(arn, &id).await })
                .buffered(TIMELINE_READS_AT_ONCE)
                .try_collect()
                .await?;
            for (summary, data) in summaries.iter().zip(words) {
                let Some(data) = data else {
                    continue;
                };
                let Some(time) = to_chrono(summary.event_time()) else {
                    tracing::warn!(
                        event = summary.event_id(),
                        "event time out of range; left out"
                    );
                    continue;
                };
                let (kind, text) = read_entry(summary.event_type(), &data);
                entries.push(TimelineEntry { time, kind, text });
            }
            if summaries.len() < output.event_summaries().len() {
                tracing::warn!(
                    incident = arn,
                    "the timeline holds more than {TIMELINE_READ_MAX} events; the rest is left out"
                );
                break;
            }
            match output.next_token().filter(|t| !t.is_empty()) {
                None => break,
                Some(next) if token.as_deref() == Some(next) => {
                    tracing::warn!("ListTimelineEvents repeated its nextToken; stopped");
                    break;
                }
                Some(next) => token = Some(next.to_string()),
            }
        }
        Ok(entries)
    }

    /// One event's `eventData` (`GetTimelineEvent`); `None` when the event is gone.
    async fn event_data(&self, arn: &str, event_id: &str) -> Result<Option<String>, PortError> {
        const OP: &str = "GetTimelineEvent";
        let result = self
            .client
            .get_timeline_event()
            .incident_record_arn(arn)
            .event_id(event_id)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.event().map(|e| e.event_data().to_string())),
            Err(err)
                if err.as_service_error().is_some_and(|e| {
                    matches!(e, GetTimelineEventError::ResourceNotFoundException(_))
                        || e.code() == Some("ResourceNotFoundException")
                }) =>
            {
                tracing::debug!(event = event_id, "timeline event gone since it was listed");
                Ok(None)
            }
            Err(err) => Err(from_sdk_error(OP, &err)),
        }
    }
}

impl IncidentManagerStore {
    /// `GetIncidentRecord`'s record.
    async fn incident_record(
        &self,
        incident: &IncidentRef,
    ) -> Result<aws_sdk_ssmincidents::types::IncidentRecord, PortError> {
        const OP: &str = "GetIncidentRecord";
        expect_backend(OP, incident)?;
        let output = self
            .client
            .get_incident_record()
            .arn(&incident.id)
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        output.incident_record.ok_or_else(|| {
            PortError::new(
                OP,
                PortErrorKind::Other,
                "the response carries no incidentRecord",
            )
        })
    }
}

#[async_trait]
impl IncidentResolver for IncidentManagerStore {
    async fn resolve(&self, incident: &IncidentRef, summary: &str) -> Result<(), PortError> {
        const OP: &str = "UpdateIncidentRecord";
        expect_backend(OP, incident)?;
        let summary = trim_chars(summary.trim(), SUMMARY_MAX);
        let token = stable_hash(&[&incident.id, "resolve", &summary], 64);
        self.client
            .update_incident_record()
            .arn(&incident.id)
            .client_token(token)
            .status(IncidentRecordStatus::Resolved)
            .set_summary((!summary.is_empty()).then_some(summary))
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        tracing::info!(incident = %incident.id, "incident resolved");
        Ok(())
    }

    async fn record(&self, incident: &IncidentRef) -> Result<IncidentRecord, PortError> {
        let record = self.incident_record(incident).await?;
        let mut timeline = self.timeline(&incident.id).await?;
        timeline.sort_by_key(|e| e.time);
        Ok(IncidentRecord {
            title: record.title().to_string(),
            resolved: *record.status() == IncidentRecordStatus::Resolved,
            created_at: to_chrono(record.creation_time()),
            resolved_at: record.resolved_time().and_then(to_chrono),
            timeline,
        })
    }
}

#[async_trait]
impl IncidentWriter for IncidentManagerStore {
    fn backend(&self) -> Backend {
        Backend::IncidentManager
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
            .event_data(to_stored(entry, EVENT_DATA_MAX, |s| s.chars().count()))
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

    async fn standing(&self, incident: &IncidentRef) -> Result<Standing, PortError> {
        let record = self.incident_record(incident).await?;
        Ok(Standing {
            open: *record.status() == IncidentRecordStatus::Open,
            status: record.status().as_str().to_string(),
            impact: u8::try_from(record.impact()).ok().and_then(Impact::new),
        })
    }

    async fn set_impact(&self, incident: &IncidentRef, impact: Impact) -> Result<(), PortError> {
        const OP: &str = "UpdateIncidentRecord";
        expect_backend(OP, incident)?;
        let token = stable_hash(&[&incident.id, "impact", &impact.get().to_string()], 64);
        self.client
            .update_incident_record()
            .arn(&incident.id)
            .client_token(token)
            .impact(i32::from(impact.get()))
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        Ok(())
    }
}

#[async_trait]
impl IncidentOpener for IncidentManagerOpener {
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
            .response_plan_arn(self.plans.for_impact(incident.impact))
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::testkit::*;
    use crate::domain::{EntryKind, RelatedItemKind, TimelineEntry};
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
        IncidentManagerStore::new(client)
    }

    fn opener(rules: &[&Rule], attempts: u32) -> IncidentManagerOpener {
        let client = mock_client!(aws_sdk_ssmincidents, RuleMode::Sequential, rules, |b| b
            .retry_config(fast_retries(attempts)));
        IncidentManagerOpener::new(client, ResponsePlans::new(PLAN))
    }

    /// What `add_timeline` stores as `eventData` for an entry.
    fn stored(kind: EntryKind, text: &str) -> String {
        let entry = TimelineEntry::new(at(2026, 11, 21, 4, 0, 0), kind, text);
        to_stored(&entry, EVENT_DATA_MAX, |s| s.chars().count())
    }

    fn incident_ref() -> IncidentRef {
        IncidentRef {
            backend: Backend::IncidentManager,
            id: INCIDENT_ARN.to_string(),
        }
    }

    #[tokio::test]
    async fn open_uses_the_response_plan_for_the_impact() {
        const CRITICAL_PLAN: &str = "arn:aws:ssm-incidents::111122223333:response-plan/impact-2";
        let seen = Captured::<StartIncidentInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::start_incident)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(started);
        let client = mock_client!(aws_sdk_ssmincidents, RuleMode::MatchAny, &[&rule], |b| b
            .retry_config(fast_retries(1)));
        let plans = ResponsePlans::new(PLAN).with(crate::domain::Impact::HIGH, CRITICAL_PLAN);
        let store = IncidentManagerOpener::new(client, plans);

        let mut incident = new_incident();
        must(store.open(&incident).await);
        incident.impact = crate::domain::Impact::LOW;
        must(store.open(&incident).await);

        let plans: Vec<_> = seen
            .all()
            .iter()
            .map(|r| r.response_plan_arn().map(str::to_string))
            .collect();
        assert_eq!(
            plans,
            [Some(CRITICAL_PLAN.to_string()), Some(PLAN.to_string())],
            "impact 2 opens with its own plan, impact 4 (none configured) with the default"
        );
    }

    #[tokio::test]
    async fn open_sends_the_documented_fields() {
        let seen = Captured::<StartIncidentInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::start_incident)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(started);
        let incident = new_incident();
        let opened = must(opener(&[&rule], 1).open(&incident).await);
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
        let store = opener(&[&first, &second], 1);
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
        must(opener(&[&rule], 1).open(&incident).await);

        let req = seen.only();
        let title = req.title().unwrap();
        assert_eq!(title.chars().count(), TITLE_MAX);
        assert!(title.ends_with('…'));
        let raw = req.trigger_details().and_then(|t| t.raw_data()).unwrap();
        assert_eq!(raw.chars().count(), RAW_DATA_MAX);
        assert_eq!(req.trigger_details().and_then(|t| t.trigger_arn()), None);
        let token = req.client_token().unwrap();
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
            .all(|i| i.title().unwrap().chars().count() == RELATED_ITEM_TITLE_MAX));
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
        let seen = Captured::<StartIncidentInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::start_incident)
            .match_requests(move |req| s.push(req.clone()))
            .sequence()
            .error(|| StartIncidentError::generic(meta("ThrottlingException", "Rate exceeded")))
            .times(2)
            .output(started)
            .build();
        let opened = must(opener(&[&rule], 3).open(&new_incident()).await);
        assert_eq!(opened.id, INCIDENT_ARN);
        // The request retried carries the client token: a late first attempt cannot open twice.
        assert_eq!(rule.num_calls(), 3);
        let req = seen.only();
        assert_eq!(
            req.client_token(),
            Some(new_incident().client_token.as_str())
        );
        assert_eq!(req.response_plan_arn(), Some(PLAN));
    }

    #[tokio::test]
    async fn throttling_past_the_budget_is_throttled() {
        let rule = mock!(Client::start_incident)
            .sequence()
            .error(|| StartIncidentError::generic(meta("ThrottlingException", "Rate exceeded")))
            .times(3)
            .build();
        let err = must_fail(opener(&[&rule], 3).open(&new_incident()).await);
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
            let err = must_fail(opener(&[&rule], 1).open(&new_incident()).await);
            assert_eq!(err.kind, kind, "{code}");
            assert!(err.message.starts_with(code), "{}", err.message);
        }
        let rule = mock!(Client::start_incident)
            .sequence()
            .http_status(503, None)
            .build();
        let err = must_fail(opener(&[&rule], 1).open(&new_incident()).await);
        assert_eq!(err.kind, PortErrorKind::Unavailable);
    }

    #[tokio::test]
    async fn a_timeline_event_carries_the_entry_s_words_and_kind() {
        let seen = Captured::<CreateTimelineEventInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::create_timeline_event)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(timeline_created);
        let joined = EntryKind::SignalJoined {
            signal: "fp-2".into(),
        };
        let entry = TimelineEntry::new(
            at(2026, 11, 21, 4, 0, 0),
            joined.clone(),
            "Tunnel 2 went \"down\" too",
        );
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
        assert_eq!(
            req.event_data(),
            Some(r#"{"text":"Tunnel 2 went \"down\" too","kind":"signal-joined","signal":"fp-2"}"#)
        );
        assert_eq!(
            read_entry(TIMELINE_EVENT_TYPE, req.event_data().unwrap()),
            (joined, entry.text)
        );
    }

    #[tokio::test]
    async fn event_data_fits_even_when_escaping_grows_it() {
        let seen = Captured::<CreateTimelineEventInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::create_timeline_event)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(timeline_created);
        let store = store(&[&rule], 1);
        let quoted = TimelineEntry::new(
            at(2026, 11, 21, 4, 0, 0),
            EntryKind::Resolved,
            &"\"".repeat(8_000),
        );
        must(store.add_timeline(&incident_ref(), &quoted, "t").await);
        let data = seen.only().event_data().unwrap().to_string();
        assert!(
            data.chars().count() <= EVENT_DATA_MAX,
            "{}",
            data.chars().count()
        );
        let (kind, text) = read_entry(TIMELINE_EVENT_TYPE, &data);
        assert_eq!(kind, EntryKind::Resolved);
        assert!(text.ends_with('…') && text.len() > 5_000, "{}", text.len());
    }

    #[tokio::test]
    async fn timeline_errors_map_and_wrong_backend_is_refused() {
        let rule = mock!(Client::create_timeline_event).then_error(|| {
            CreateTimelineEventError::generic(meta("ResourceNotFoundException", "no such incident"))
        });
        let store = store(&[&rule], 1);
        let entry = TimelineEntry::new(at(2026, 11, 21, 4, 0, 0), EntryKind::Resolved, "t");
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

    mod resolve_and_record {
        use super::*;
        use aws_sdk_ssmincidents::operation::get_incident_record::{
            GetIncidentRecordError, GetIncidentRecordInput, GetIncidentRecordOutput,
        };
        use aws_sdk_ssmincidents::operation::get_timeline_event::{
            GetTimelineEventInput, GetTimelineEventOutput,
        };
        use aws_sdk_ssmincidents::operation::list_timeline_events::{
            ListTimelineEventsError, ListTimelineEventsInput, ListTimelineEventsOutput,
        };
        use aws_sdk_ssmincidents::operation::update_incident_record::{
            UpdateIncidentRecordError, UpdateIncidentRecordInput, UpdateIncidentRecordOutput,
        };
        use aws_sdk_ssmincidents::types::error::ResourceNotFoundException;
        use aws_sdk_ssmincidents::types::{
            EventSummary, IncidentRecord as SdkRecord, TimelineEvent,
        };

        const SERVICE_EVENT: &str = "SSM Incident Record Update";
        const SERVICE_DATA: &str = r#"{"summary":"Incident Created","impact":2,"status":"OPEN"}"#;

        fn resolved() -> UpdateIncidentRecordOutput {
            UpdateIncidentRecordOutput::builder().build()
        }

        fn sdk_record(status: IncidentRecordStatus, resolved: bool) -> GetIncidentRecordOutput {
            let mut b = SdkRecord::builder()
                .arn(INCIDENT_ARN)
                .title("VPN vpn-0abc1234: tunnel down")
                .status(status)
                .impact(2)
                .creation_time(to_smithy_time(at(2026, 11, 21, 3, 55, 0)))
                .last_modified_time(to_smithy_time(at(2026, 11, 21, 4, 10, 0)))
                .last_modified_by("arn:aws:sts::111122223333:assumed-role/resolve/x")
                .dedupe_string("");
            if resolved {
                b = b.resolved_time(to_smithy_time(at(2026, 11, 21, 4, 10, 0)));
            }
            GetIncidentRecordOutput::builder()
                .incident_record(must(b.build()))
                .build()
        }

        fn summary(id: &str, minute: u32, kind: &str) -> EventSummary {
            let t = to_smithy_time(at(2026, 11, 21, 4, minute, 0));
            must(
                EventSummary::builder()
                    .incident_record_arn(INCIDENT_ARN)
                    .event_id(id)
                    .event_time(t)
                    .event_updated_time(t)
                    .event_type(kind)
                    .build(),
            )
        }

        fn page(events: Vec<EventSummary>, next: Option<&str>) -> ListTimelineEventsOutput {
            let mut b = ListTimelineEventsOutput::builder().set_event_summaries(Some(events));
            if let Some(next) = next {
                b = b.next_token(next);
            }
            must(b.build())
        }

        fn event(id: &str, minute: u32, kind: &str, data: &str) -> GetTimelineEventOutput {
            let t = to_smithy_time(at(2026, 11, 21, 4, minute, 0));
            GetTimelineEventOutput::builder()
                .event(must(
                    TimelineEvent::builder()
                        .incident_record_arn(INCIDENT_ARN)
                        .event_id(id)
                        .event_time(t)
                        .event_updated_time(t)
                        .event_type(kind)
                        .event_data(data)
                        .build(),
                ))
                .build()
        }

        #[tokio::test]
        async fn resolve_sends_status_summary_and_a_stable_token() {
            let seen = Captured::<UpdateIncidentRecordInput>::new();
            let (s1, s2, s3) = (seen.clone(), seen.clone(), seen.clone());
            let first = mock!(Client::update_incident_record)
                .match_requests(move |req| s1.push(req.clone()))
                .then_output(resolved);
            let retry = mock!(Client::update_incident_record)
                .match_requests(move |req| s2.push(req.clone()))
                .then_output(resolved);
            let long = mock!(Client::update_incident_record)
                .match_requests(move |req| s3.push(req.clone()))
                .then_output(resolved);
            let store = store(&[&first, &retry, &long], 1);
            let text = "Tunnel 1 back up at 04:09; 14 minutes down.";
            must(store.resolve(&incident_ref(), text).await);
            must(store.resolve(&incident_ref(), text).await);
            must(store.resolve(&incident_ref(), &"s".repeat(9_000)).await);

            let reqs = seen.all();
            assert_eq!(reqs.len(), 3);
            assert_eq!(reqs[0].arn(), Some(INCIDENT_ARN));
            assert_eq!(reqs[0].status(), Some(&IncidentRecordStatus::Resolved));
            assert_eq!(reqs[0].summary(), Some(text));
            assert_eq!(reqs[0].impact(), None);
            assert_eq!(reqs[0].title(), None);
            let token = stable_hash(&[INCIDENT_ARN, "resolve", text], 64);
            assert_eq!(reqs[0].client_token(), Some(token.as_str()));
            assert_eq!(reqs[1].client_token(), reqs[0].client_token());
            let trimmed = reqs[2].summary().unwrap();
            assert_eq!(trimmed.chars().count(), SUMMARY_MAX);
            assert!(trimmed.ends_with('…'));
            assert_ne!(reqs[2].client_token(), reqs[0].client_token());
            assert!(reqs
                .iter()
                .all(|r| r.client_token().unwrap().len() <= CLIENT_TOKEN_MAX));
        }

        #[tokio::test]
        async fn resolve_errors_map_and_the_wrong_backend_is_refused() {
            let rule = mock!(Client::update_incident_record).then_error(|| {
                UpdateIncidentRecordError::generic(meta(
                    "ResourceNotFoundException",
                    "Incident record not found",
                ))
            });
            let store = store(&[&rule], 1);
            let err = must_fail(store.resolve(&incident_ref(), "done").await);
            assert_eq!(
                (err.kind, err.operation.as_str()),
                (PortErrorKind::NotFound, "UpdateIncidentRecord")
            );
            let ops = IncidentRef {
                backend: Backend::OpsCenter,
                id: "oi-0123456789ab".to_string(),
            };
            let err = must_fail(store.resolve(&ops, "done").await);
            assert_eq!(err.kind, PortErrorKind::Invalid);
            let err = must_fail(store.record(&ops).await);
            assert_eq!(err.kind, PortErrorKind::Invalid);
            assert_eq!(rule.num_calls(), 1);
        }

        #[tokio::test]
        async fn record_reads_the_incident_and_every_timeline_page() {
            let gets = Captured::<GetIncidentRecordInput>::new();
            let lists = Captured::<ListTimelineEventsInput>::new();
            let events = Captured::<GetTimelineEventInput>::new();
            let g = gets.clone();
            let get = mock!(Client::get_incident_record)
                .match_requests(move |req| g.push(req.clone()))
                .then_output(|| sdk_record(IncidentRecordStatus::Resolved, true));
            let l1 = lists.clone();
            let page1 = mock!(Client::list_timeline_events)
                .match_requests(move |req| l1.push(req.clone()))
                .then_output(|| {
                    page(
                        vec![
                            summary("e-created", 0, SERVICE_EVENT),
                            summary("e-note", 2, TIMELINE_EVENT_TYPE),
                        ],
                        Some("page-2"),
                    )
                });
            let e1 = events.clone();
            let created = mock!(Client::get_timeline_event)
                .match_requests(move |req| e1.push(req.clone()))
                .then_output(|| event("e-created", 0, SERVICE_EVENT, SERVICE_DATA));
            let e2 = events.clone();
            let note = mock!(Client::get_timeline_event)
                .match_requests(move |req| e2.push(req.clone()))
                .then_output(|| {
                    event(
                        "e-note",
                        2,
                        TIMELINE_EVENT_TYPE,
                        &stored(
                            EntryKind::SignalJoined {
                                signal: "fp-2".into(),
                            },
                            "Tunnel 2 went \"down\" too",
                        ),
                    )
                });
            let l2 = lists.clone();
            let page2 = mock!(Client::list_timeline_events)
                .match_requests(move |req| l2.push(req.clone()))
                .then_output(|| {
                    page(
                        vec![
                            summary("e-gone", 5, TIMELINE_EVENT_TYPE),
                            summary("e-plain", 9, "Note"),
                        ],
                        None,
                    )
                });
            let gone = mock!(Client::get_timeline_event).then_error(|| {
                aws_sdk_ssmincidents::operation::get_timeline_event::GetTimelineEventError::ResourceNotFoundException(
                    must(
                        ResourceNotFoundException::builder()
                            .message("Timeline event not found")
                            .meta(meta("ResourceNotFoundException", "Timeline event not found"))
                            .build(),
                    ),
                )
            });
            let plain = mock!(Client::get_timeline_event)
                .then_output(|| event("e-plain", 9, "Note", "written in the console"));
            let store = store(&[&get, &page1, &created, &note, &page2, &gone, &plain], 1);
            let got = must(store.record(&incident_ref()).await);

            assert_eq!(gets.only().arn(), Some(INCIDENT_ARN));
            let lists = lists.all();
            assert_eq!(lists.len(), 2);
            for req in &lists {
                assert_eq!(req.incident_record_arn(), Some(INCIDENT_ARN));
                assert_eq!(req.sort_by(), Some(&TimelineEventSort::EventTime));
                assert_eq!(req.sort_order(), Some(&SortOrder::Ascending));
                assert_eq!(req.max_results(), Some(TIMELINE_PAGE_MAX));
            }
            assert_eq!(lists[0].next_token(), None);
            assert_eq!(lists[1].next_token(), Some("page-2"));
            let asked: Vec<_> = events
                .all()
                .iter()
                .map(|r| {
                    (
                        r.incident_record_arn().map(str::to_string),
                        r.event_id().map(str::to_string),
                    )
                })
                .collect();
            assert_eq!(
                asked,
                vec![
                    (
                        Some(INCIDENT_ARN.to_string()),
                        Some("e-created".to_string())
                    ),
                    (Some(INCIDENT_ARN.to_string()), Some("e-note".to_string())),
                ]
            );

            assert_eq!(
                got,
                IncidentRecord {
                    title: "VPN vpn-0abc1234: tunnel down".to_string(),
                    resolved: true,
                    created_at: Some(at(2026, 11, 21, 3, 55, 0)),
                    resolved_at: Some(at(2026, 11, 21, 4, 10, 0)),
                    timeline: vec![
                        TimelineEntry {
                            time: at(2026, 11, 21, 4, 0, 0),
                            kind: EntryKind::External {
                                event: SERVICE_EVENT.to_string()
                            },
                            text: "Incident Created (impact 2, status OPEN)".to_string(),
                        },
                        TimelineEntry {
                            time: at(2026, 11, 21, 4, 2, 0),
                            kind: EntryKind::SignalJoined {
                                signal: "fp-2".into()
                            },
                            text: "Tunnel 2 went \"down\" too".to_string(),
                        },
                        TimelineEntry {
                            time: at(2026, 11, 21, 4, 9, 0),
                            kind: EntryKind::External {
                                event: "Note".to_string()
                            },
                            text: "written in the console".to_string(),
                        },
                    ],
                }
            );
        }

        #[tokio::test]
        async fn an_open_incident_has_no_resolution_and_an_empty_timeline_is_fine() {
            let get = mock!(Client::get_incident_record)
                .then_output(|| sdk_record(IncidentRecordStatus::Open, false));
            let list = mock!(Client::list_timeline_events).then_output(|| page(vec![], None));
            let got = must(store(&[&get, &list], 1).record(&incident_ref()).await);
            assert!(!got.resolved);
            assert_eq!(got.resolved_at, None);
            assert_eq!(got.created_at, Some(at(2026, 11, 21, 3, 55, 0)));
            assert!(got.timeline.is_empty());
        }

        #[tokio::test]
        async fn a_repeated_token_stops_the_paging() {
            let get = mock!(Client::get_incident_record)
                .then_output(|| sdk_record(IncidentRecordStatus::Open, false));
            let first =
                mock!(Client::list_timeline_events).then_output(|| page(vec![], Some("same")));
            let second =
                mock!(Client::list_timeline_events).then_output(|| page(vec![], Some("same")));
            must(
                store(&[&get, &first, &second], 1)
                    .record(&incident_ref())
                    .await,
            );
            assert_eq!(second.num_calls(), 1);
        }

        #[tokio::test]
        async fn record_errors_map_to_kinds() {
            let missing = mock!(Client::get_incident_record).then_error(|| {
                GetIncidentRecordError::generic(meta(
                    "ResourceNotFoundException",
                    "Incident record not found",
                ))
            });
            let err = must_fail(store(&[&missing], 1).record(&incident_ref()).await);
            assert_eq!(
                (err.kind, err.operation.as_str()),
                (PortErrorKind::NotFound, "GetIncidentRecord")
            );

            let get = mock!(Client::get_incident_record)
                .then_output(|| sdk_record(IncidentRecordStatus::Open, false));
            let denied = mock!(Client::list_timeline_events).then_error(|| {
                ListTimelineEventsError::generic(meta("AccessDeniedException", "not allowed"))
            });
            let err = must_fail(store(&[&get, &denied], 1).record(&incident_ref()).await);
            assert_eq!(
                (err.kind, err.operation.as_str()),
                (PortErrorKind::AccessDenied, "ListTimelineEvents")
            );

            let get = mock!(Client::get_incident_record)
                .then_output(|| sdk_record(IncidentRecordStatus::Open, false));
            let list = mock!(Client::list_timeline_events)
                .then_output(|| page(vec![summary("e1", 1, TIMELINE_EVENT_TYPE)], None));
            let throttled = mock!(Client::get_timeline_event)
                .sequence()
                .error(|| {
                    aws_sdk_ssmincidents::operation::get_timeline_event::GetTimelineEventError::generic(
                        meta("ThrottlingException", "Rate exceeded"),
                    )
                })
                .times(2)
                .build();
            let err = must_fail(
                store(&[&get, &list, &throttled], 2)
                    .record(&incident_ref())
                    .await,
            );
            assert_eq!(
                (err.kind, err.operation.as_str()),
                (PortErrorKind::Throttled, "GetTimelineEvent")
            );
            assert_eq!(throttled.num_calls(), 2);
        }

        #[test]
        fn event_text_decodes_json_strings_only() {
            // Entries written before they carried a kind: a JSON string.
            assert_eq!(event_text(r#""a \"b\"\nc""#), "a \"b\"\nc");
            assert_eq!(
                read_entry("Custom Event", r#""old words""#),
                (
                    EntryKind::External {
                        event: "Custom Event".into()
                    },
                    "old words".into()
                )
            );
            assert_eq!(
                event_text(SERVICE_DATA),
                "Incident Created (impact 2, status OPEN)"
            );
            assert_eq!(event_text(r#"{"other":1}"#), r#"{"other":1}"#);
            assert_eq!(event_text("plain words"), "plain words");
            assert_eq!(event_text("42"), "42");
            assert_eq!(event_text(""), "");
        }
    }
}
