//! [`IncidentStore`] on AWS Systems Manager OpsCenter (`ssm` OpsItems).
//!
//! - `open` → `CreateOpsItem` with `/aws/dedup` = `{"dedupString": <client token>}`, so a retried
//!   create of the same occurrence makes no second OpsItem (if OpsCenter answers
//!   `OpsItemAlreadyExistsException` with the existing id, that id is returned);
//! - `add_timeline` → `UpdateOpsItem` adding one operational-data entry per timeline entry (an
//!   OpsItem has no timeline; the key is derived from the entry, so a retry overwrites it);
//! - `add_related_items`: resource ARNs are merged into `/aws/resources`; Incident Manager
//!   records and SSM documents are associated (`AssociateOpsItemRelatedItem`, the only two
//!   resource types it supports); anything else becomes a `responder:related:*` entry;
//! - `resolve` → `UpdateOpsItem` with `Status` `Resolved` and the summary as the
//!   `responder:resolution` entry (type `String`, within 20 KB); resolving again rewrites the
//!   same entry;
//! - `record` → `GetOpsItem`: `Title`, `Status` (`Resolved` or not), `CreatedTime`, and as the
//!   resolution time `ActualEndTime` when set, else `LastModifiedTime` (while `Resolved`: the
//!   last change, usually the resolution itself). The timeline is every `responder:timeline:*`
//!   entry read back (time from the key, text the value, event `note`), sorted by time then key.
//!
//! Limits (API reference, `API_CreateOpsItem.html`): `Title` 1–1,024 characters, `Description`
//! 1–2,048 characters, `Source` 1–128 characters and must not contain `aws`, `amazon` or `amzn`,
//! `Severity` "1"–"4", `Priority` 1–5, operational-data keys ≤ 128 characters, values ≤ 20 KB.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use aws_sdk_ssm::operation::associate_ops_item_related_item::AssociateOpsItemRelatedItemError;
use aws_sdk_ssm::operation::create_ops_item::CreateOpsItemError;
use aws_sdk_ssm::types::{OpsItemDataType, OpsItemDataValue, OpsItemNotification, OpsItemStatus};
use aws_sdk_ssm::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::convert::{is_arn, parse_arn, to_chrono};
use super::error::from_sdk_error;
use crate::domain::{
    stable_hash, trim_bytes, trim_chars, Backend, Impact, IncidentRef, NewIncident, RelatedItem,
    RelatedItemKind, RelatedValue, TimelineEntry, RESPONDER_SOURCE,
};
use crate::ports::{IncidentRecord, IncidentStore, PortError, PortErrorKind};

/// `Title`: at most 1,024 characters.
pub const TITLE_MAX: usize = 1_024;
/// `Description`: 1 to 2,048 characters.
pub const DESCRIPTION_MAX: usize = 2_048;
/// An operational-data key: at most 128 characters.
pub const DATA_KEY_MAX: usize = 128;
/// An operational-data value: at most 20 KB (kept at 20,000 bytes to be safe either way).
pub const DATA_VALUE_MAX_BYTES: usize = 20_000;

/// Reserved key: OpsCenter's own de-duplication (`{"dedupString": …}`).
pub const KEY_DEDUP: &str = "/aws/dedup";
/// Reserved key: the related AWS resources (`[{"arn": …}, …]`), shown in the console.
pub const KEY_RESOURCES: &str = "/aws/resources";
pub const KEY_RULE: &str = "responder:rule";
pub const KEY_SERVICE: &str = "responder:service";
pub const KEY_DEDUPE_KEY: &str = "responder:dedupe_key";
pub const KEY_IMPACT: &str = "responder:impact";
pub const KEY_TRIGGER: &str = "responder:trigger";
/// Prefix of timeline entries: `responder:timeline:<RFC 3339 time, ms>:<8 chars of client token>`.
pub const KEY_TIMELINE_PREFIX: &str = "responder:timeline:";
/// Prefix of related items kept as data: `responder:related:<16 hex of the value's hash>`.
pub const KEY_RELATED_PREFIX: &str = "responder:related:";
/// The closing summary, written by `resolve`.
pub const KEY_RESOLUTION: &str = "responder:resolution";
/// The `event` of a timeline entry read back (an OpsItem keeps only the entry's text).
pub const TIMELINE_EVENT: &str = "note";

/// `AssociateOpsItemRelatedItem` resource type for an Incident Manager incident record.
pub const RESOURCE_TYPE_INCIDENT: &str = "AWS::SSMIncidents::IncidentRecord";
/// `AssociateOpsItemRelatedItem` resource type for an SSM document.
pub const RESOURCE_TYPE_DOCUMENT: &str = "AWS::SSM::Document";
/// The association we make (`IsParentOf` is the other one).
pub const ASSOCIATION_TYPE: &str = "RelatesTo";

/// OpsItems in OpsCenter, optionally notifying an SNS topic on every change.
#[derive(Debug, Clone)]
pub struct OpsCenterStore {
    client: Client,
    notification_topic_arn: Option<String>,
}

impl OpsCenterStore {
    pub fn new(client: Client, notification_topic_arn: Option<String>) -> Self {
        OpsCenterStore {
            client,
            notification_topic_arn: notification_topic_arn.filter(|t| !t.trim().is_empty()),
        }
    }
}

/// OpsCenter severity "1" (critical) … "4" (low) from Incident Manager's impact 1 … 5
/// (impact 4 "Low" and 5 "No impact" both map to "4").
pub fn severity_for(impact: Impact) -> &'static str {
    match impact.get() {
        1 => "1",
        2 => "2",
        3 => "3",
        _ => "4",
    }
}

fn data(value: impl Into<String>, kind: OpsItemDataType) -> OpsItemDataValue {
    OpsItemDataValue::builder()
        .value(value)
        .r#type(kind)
        .build()
}

fn searchable(value: impl Into<String>) -> OpsItemDataValue {
    data(value, OpsItemDataType::SearchableString)
}

fn plain(value: impl Into<String>) -> OpsItemDataValue {
    data(value, OpsItemDataType::String)
}

fn kind_label(kind: RelatedItemKind) -> &'static str {
    match kind {
        RelatedItemKind::Analysis => "ANALYSIS",
        RelatedItemKind::Incident => "INCIDENT",
        RelatedItemKind::Metric => "METRIC",
        RelatedItemKind::Parent => "PARENT",
        RelatedItemKind::Attachment => "ATTACHMENT",
        RelatedItemKind::Other => "OTHER",
        RelatedItemKind::Automation => "AUTOMATION",
        RelatedItemKind::InvolvedResource => "INVOLVED_RESOURCE",
        RelatedItemKind::Task => "TASK",
    }
}

/// Where each related item goes on an OpsItem.
#[derive(Debug, Default, PartialEq)]
struct Placement {
    /// ARNs of AWS resources, for `/aws/resources` (distinct, in order).
    resources: Vec<String>,
    /// `(resource type, ARN)` pairs for `AssociateOpsItemRelatedItem`.
    associations: Vec<(&'static str, String)>,
    /// `responder:related:*` entries (URLs, metric definitions, automation executions).
    entries: Vec<(String, String)>,
}

/// The `responder:related:*` entry for an item: `{"kind", "title", "value"}` within 20 KB.
fn related_entry(item: &RelatedItem, value: &str) -> (String, String) {
    let key = format!("{KEY_RELATED_PREFIX}{}", stable_hash(&[value], 16));
    let title = trim_chars(item.title.trim(), 200);
    let encode = |value: String| {
        let mut map = Map::new();
        map.insert("kind".into(), Value::String(kind_label(item.kind).into()));
        map.insert("title".into(), Value::String(title.clone()));
        map.insert("value".into(), Value::String(value));
        Value::Object(map).to_string()
    };
    let mut budget = DATA_VALUE_MAX_BYTES;
    loop {
        let encoded = encode(trim_bytes(value, budget));
        if encoded.len() <= DATA_VALUE_MAX_BYTES || budget == 0 {
            return (key, encoded);
        }
        budget = budget.saturating_sub(encoded.len() - DATA_VALUE_MAX_BYTES);
    }
}

fn place(items: &[RelatedItem]) -> Placement {
    let mut placement = Placement::default();
    let mut seen = HashSet::new();
    for item in items {
        let (tag, value) = match &item.value {
            RelatedValue::Arn(v) => (0u8, v.trim()),
            RelatedValue::Url(v) => (1, v.trim()),
            RelatedValue::MetricDefinition(v) => (2, v.trim()),
        };
        if value.is_empty() || !seen.insert((tag, value)) {
            continue;
        }
        let arn = match &item.value {
            RelatedValue::Arn(_) => parse_arn(value),
            _ => None,
        };
        match arn {
            Some(a)
                if a.service == "ssm-incidents" && a.resource.starts_with("incident-record/") =>
            {
                placement
                    .associations
                    .push((RESOURCE_TYPE_INCIDENT, value.to_string()));
            }
            Some(a) if a.service == "ssm" && a.resource.starts_with("document/") => {
                placement
                    .associations
                    .push((RESOURCE_TYPE_DOCUMENT, value.to_string()));
            }
            Some(a)
                if item.kind != RelatedItemKind::Automation
                    && !(a.service == "ssm" && a.resource.starts_with("automation-execution/")) =>
            {
                placement.resources.push(value.to_string());
            }
            // Automation executions, URLs, metric definitions, and "ARNs" that do not parse.
            _ => placement.entries.push(related_entry(item, value)),
        }
    }
    placement
}

/// `/aws/resources`: the existing elements kept as they are, then each new ARN not already
/// there, as long as the value stays within 20 KB (the rest are dropped and logged).
fn merge_resources(existing: Vec<Value>, arns: &[String]) -> String {
    let mut present: HashSet<String> = existing
        .iter()
        .filter_map(|e| e.get("arn").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    let mut elements = existing;
    let mut size = Value::Array(elements.clone()).to_string().len();
    let mut dropped = 0usize;
    for arn in arns {
        if !present.insert(arn.clone()) {
            continue;
        }
        let mut obj = Map::new();
        obj.insert("arn".into(), Value::String(arn.clone()));
        let element = Value::Object(obj);
        let added = element.to_string().len() + usize::from(!elements.is_empty());
        if size + added > DATA_VALUE_MAX_BYTES {
            dropped += 1;
            continue;
        }
        size += added;
        elements.push(element);
    }
    if dropped > 0 {
        tracing::warn!(dropped, "ARNs left out of /aws/resources (20 KB limit)");
    }
    Value::Array(elements).to_string()
}

fn expect_backend(operation: &str, incident: &IncidentRef) -> Result<(), PortError> {
    if incident.backend == Backend::OpsCenter {
        Ok(())
    } else {
        Err(PortError::new(
            operation,
            PortErrorKind::Invalid,
            format!(
                "incident {} belongs to {}, not opscenter",
                incident.id, incident.backend
            ),
        ))
    }
}

/// The first non-empty of `candidates`, trimmed to `max` characters.
fn first_text(candidates: &[&str], max: usize) -> String {
    candidates
        .iter()
        .map(|c| c.trim())
        .find(|c| !c.is_empty())
        .map(|c| trim_chars(c, max))
        .unwrap_or_else(|| "Incident opened by incident.responder".to_string())
}

/// The operational data of a new OpsItem.
fn creation_data(
    incident: &NewIncident,
    placement: &Placement,
) -> HashMap<String, OpsItemDataValue> {
    let mut out = HashMap::new();
    let mut dedup = Map::new();
    dedup.insert(
        "dedupString".into(),
        Value::String(incident.client_token.clone()),
    );
    out.insert(
        KEY_DEDUP.to_string(),
        searchable(Value::Object(dedup).to_string()),
    );

    let mut arns: Vec<String> = incident
        .resources
        .iter()
        .map(|r| r.trim())
        .filter(|r| is_arn(r))
        .map(str::to_string)
        .collect();
    arns.extend(placement.resources.iter().cloned());
    if !arns.is_empty() {
        out.insert(
            KEY_RESOURCES.to_string(),
            searchable(merge_resources(Vec::new(), &arns)),
        );
    }

    let impact = incident.impact.get().to_string();
    for (key, value) in [
        (KEY_RULE, incident.rule_id.as_str()),
        (KEY_SERVICE, incident.service.as_str()),
        (KEY_DEDUPE_KEY, incident.dedupe_key.as_str()),
        (KEY_IMPACT, impact.as_str()),
    ] {
        if !value.trim().is_empty() {
            out.insert(
                key.to_string(),
                searchable(trim_bytes(value, DATA_VALUE_MAX_BYTES)),
            );
        }
    }
    if !incident.trigger.raw_data.trim().is_empty() {
        out.insert(
            KEY_TRIGGER.to_string(),
            plain(trim_bytes(&incident.trigger.raw_data, DATA_VALUE_MAX_BYTES)),
        );
    }
    for (key, value) in &placement.entries {
        out.insert(key.clone(), plain(value.clone()));
    }
    out
}

/// The key of a timeline entry: stable for one entry and client token, ≤ 128 characters.
fn timeline_key(entry: &TimelineEntry, client_token: &str) -> String {
    // Milliseconds: OpsCenter lists operational data by key, so entries written in the same
    // second still read in the order they happened.
    let time = entry.time.to_rfc3339_opts(SecondsFormat::Millis, true);
    let token: String = client_token
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(8)
        .collect();
    let mut key = format!("{KEY_TIMELINE_PREFIX}{time}:{token}");
    key.truncate(DATA_KEY_MAX);
    key
}

/// The time a timeline key was written for (see [`timeline_key`]); `None` for any other key or
/// one whose time does not parse.
fn timeline_time(key: &str) -> Option<DateTime<Utc>> {
    let rest = key.strip_prefix(KEY_TIMELINE_PREFIX)?;
    let (time, _token) = rest.rsplit_once(':')?;
    DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The timeline entries among an OpsItem's operational data, sorted by time then key.
fn timeline_from_data(data: Option<&HashMap<String, OpsItemDataValue>>) -> Vec<TimelineEntry> {
    let mut entries: Vec<(DateTime<Utc>, &str, &str)> = data
        .into_iter()
        .flatten()
        .filter(|(key, _)| key.starts_with(KEY_TIMELINE_PREFIX))
        .filter_map(|(key, value)| match timeline_time(key) {
            Some(time) => Some((time, key.as_str(), value.value().unwrap_or_default())),
            None => {
                tracing::warn!(
                    key = key.as_str(),
                    "timeline entry with an unreadable key left out"
                );
                None
            }
        })
        .collect();
    entries.sort();
    entries
        .into_iter()
        .map(|(time, _, text)| TimelineEntry {
            time,
            event: TIMELINE_EVENT.to_string(),
            text: text.to_string(),
        })
        .collect()
}

impl OpsCenterStore {
    /// Associates one Incident Manager record or SSM document; an existing association is fine.
    async fn associate(
        &self,
        ops_item_id: &str,
        resource_type: &str,
        arn: &str,
    ) -> Result<(), PortError> {
        const OP: &str = "AssociateOpsItemRelatedItem";
        let result = self
            .client
            .associate_ops_item_related_item()
            .ops_item_id(ops_item_id)
            .association_type(ASSOCIATION_TYPE)
            .resource_type(resource_type)
            .resource_uri(arn)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err.as_service_error().is_some_and(|e| {
                    matches!(
                        e,
                        AssociateOpsItemRelatedItemError::OpsItemRelatedItemAlreadyExistsException(
                            _
                        )
                    ) || e.code() == Some("OpsItemRelatedItemAlreadyExistsException")
                }) =>
            {
                tracing::debug!(ops_item_id, arn, "related item already associated");
                Ok(())
            }
            Err(err) => Err(from_sdk_error(OP, &err)),
        }
    }

    /// The current `/aws/resources` elements of an OpsItem (empty when it has none).
    async fn current_resources(&self, ops_item_id: &str) -> Result<Vec<Value>, PortError> {
        const OP: &str = "GetOpsItem";
        let output = self
            .client
            .get_ops_item()
            .ops_item_id(ops_item_id)
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        let item = output.ops_item().ok_or_else(|| {
            PortError::new(OP, PortErrorKind::Other, "the response carries no OpsItem")
        })?;
        let Some(raw) = item
            .operational_data()
            .and_then(|d| d.get(KEY_RESOURCES))
            .and_then(|v| v.value())
            .filter(|v| !v.trim().is_empty())
        else {
            return Ok(Vec::new());
        };
        match serde_json::from_str::<Value>(raw) {
            Ok(Value::Array(elements)) => Ok(elements),
            Ok(_) | Err(_) => Err(PortError::new(
                OP,
                PortErrorKind::Invalid,
                format!("{ops_item_id}: {KEY_RESOURCES} is not a JSON array; left untouched"),
            )),
        }
    }
}

#[async_trait]
impl IncidentStore for OpsCenterStore {
    fn backend(&self) -> Backend {
        Backend::OpsCenter
    }

    async fn resolve(&self, incident: &IncidentRef, summary: &str) -> Result<(), PortError> {
        const OP: &str = "UpdateOpsItem";
        expect_backend(OP, incident)?;
        let summary = summary.trim();
        let mut request = self
            .client
            .update_ops_item()
            .ops_item_id(&incident.id)
            .status(OpsItemStatus::Resolved);
        if !summary.is_empty() {
            request = request.operational_data(
                KEY_RESOLUTION,
                plain(trim_bytes(summary, DATA_VALUE_MAX_BYTES)),
            );
        }
        request.send().await.map_err(|e| from_sdk_error(OP, &e))?;
        tracing::info!(ops_item = %incident.id, "OpsItem resolved");
        Ok(())
    }

    async fn record(&self, incident: &IncidentRef) -> Result<IncidentRecord, PortError> {
        const OP: &str = "GetOpsItem";
        expect_backend(OP, incident)?;
        let output = self
            .client
            .get_ops_item()
            .ops_item_id(&incident.id)
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        let item = output.ops_item().ok_or_else(|| {
            PortError::new(OP, PortErrorKind::Other, "the response carries no OpsItem")
        })?;
        let resolved = item.status() == Some(&OpsItemStatus::Resolved);
        let resolved_at = if resolved {
            item.actual_end_time()
                .or(item.last_modified_time())
                .and_then(to_chrono)
        } else {
            None
        };
        Ok(IncidentRecord {
            title: item.title().unwrap_or_default().to_string(),
            resolved,
            created_at: item.created_time().and_then(to_chrono),
            resolved_at,
            timeline: timeline_from_data(item.operational_data()),
        })
    }

    async fn open(&self, incident: &NewIncident) -> Result<IncidentRef, PortError> {
        const OP: &str = "CreateOpsItem";
        let placement = place(&incident.related_items);
        let title = first_text(&[&incident.title, &incident.dedupe_key], TITLE_MAX);
        let description = first_text(&[&incident.summary, &incident.title], DESCRIPTION_MAX);
        let notifications = self
            .notification_topic_arn
            .as_ref()
            .map(|topic| vec![OpsItemNotification::builder().arn(topic).build()]);
        let result = self
            .client
            .create_ops_item()
            .title(title)
            .description(description)
            .source(RESPONDER_SOURCE)
            .severity(severity_for(incident.impact))
            .priority(i32::from(incident.impact.get()))
            .category(incident.category.as_str())
            .set_operational_data(Some(creation_data(incident, &placement)))
            .set_notifications(notifications)
            .send()
            .await;
        let id = match result {
            Ok(output) => output
                .ops_item_id()
                .filter(|id| !id.is_empty())
                .map(str::to_string)
                .ok_or_else(|| {
                    PortError::new(
                        OP,
                        PortErrorKind::Other,
                        "the response carries no OpsItemId",
                    )
                })?,
            // The same occurrence was already recorded (a retried invocation): same OpsItem.
            Err(err) => match err.as_service_error() {
                Some(CreateOpsItemError::OpsItemAlreadyExistsException(e)) => {
                    match e.ops_item_id().filter(|id| !id.is_empty()) {
                        Some(id) => id.to_string(),
                        None => return Err(from_sdk_error(OP, &err)),
                    }
                }
                _ => return Err(from_sdk_error(OP, &err)),
            },
        };
        for (resource_type, arn) in &placement.associations {
            self.associate(&id, resource_type, arn).await?;
        }
        tracing::info!(ops_item = %id, "OpsItem opened");
        Ok(IncidentRef {
            backend: Backend::OpsCenter,
            id,
        })
    }

    async fn add_timeline(
        &self,
        incident: &IncidentRef,
        entry: &TimelineEntry,
        client_token: &str,
    ) -> Result<(), PortError> {
        const OP: &str = "UpdateOpsItem";
        expect_backend(OP, incident)?;
        let text = if entry.text.trim().is_empty() {
            entry.event.as_str()
        } else {
            entry.text.as_str()
        };
        self.client
            .update_ops_item()
            .ops_item_id(&incident.id)
            .operational_data(
                timeline_key(entry, client_token),
                plain(trim_bytes(text, DATA_VALUE_MAX_BYTES)),
            )
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        Ok(())
    }

    async fn add_related_items(
        &self,
        incident: &IncidentRef,
        items: &[RelatedItem],
        _client_token: &str,
    ) -> Result<(), PortError> {
        const OP: &str = "UpdateOpsItem";
        expect_backend(OP, incident)?;
        let placement = place(items);
        let mut data = HashMap::new();
        if !placement.resources.is_empty() {
            let existing = self.current_resources(&incident.id).await?;
            let before = existing.len();
            let merged = merge_resources(existing, &placement.resources);
            let after = serde_json::from_str::<Value>(&merged)
                .ok()
                .and_then(|v| v.as_array().map(Vec::len))
                .unwrap_or(before);
            if after > before {
                data.insert(KEY_RESOURCES.to_string(), searchable(merged));
            }
        }
        for (key, value) in &placement.entries {
            data.insert(key.clone(), plain(value.clone()));
        }
        if !data.is_empty() {
            self.client
                .update_ops_item()
                .ops_item_id(&incident.id)
                .set_operational_data(Some(data))
                .send()
                .await
                .map_err(|e| from_sdk_error(OP, &e))?;
        }
        for (resource_type, arn) in &placement.associations {
            self.associate(&incident.id, resource_type, arn).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::testkit::*;
    use crate::domain::Impact;
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
            v.value().unwrap_or_default(),
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
            .unwrap_or_default();
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
        let rule = mock!(Client::create_ops_item)
            .sequence()
            .error(|| CreateOpsItemError::generic(meta("ThrottlingException", "Rate exceeded")))
            .times(2)
            .output(created)
            .build();
        let opened = must(store(&[&rule], 3, None).open(&new_incident()).await);
        assert_eq!(opened.id, OPS_ID);
        assert_eq!(rule.num_calls(), 3);
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
        let entry = TimelineEntry {
            time: at(2026, 11, 21, 4, 0, 0),
            event: "e".into(),
            text: "t".into(),
        };
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
        let entry = TimelineEntry {
            time: at(2026, 11, 21, 4, 0, 0),
            event: "signal-joined".into(),
            text: "Tunnel 2 is down too".into(),
        };
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
            assert_eq!(
                value_of(data, key),
                ("Tunnel 2 is down too", OpsItemDataType::String)
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

        fn entry(minute: u32, second: u32, text: &str, token: &str) -> (String, String) {
            let e = TimelineEntry {
                time: at(2026, 11, 21, 4, minute, second),
                event: "signal-joined".into(),
                text: text.into(),
            };
            (timeline_key(&e, token), text.to_string())
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
            for (key, text) in [
                entry(9, 0, "Tunnel back up", "tok-late"),
                entry(1, 0, "Tunnel 2 down too", "bbbbbbbb"),
                entry(1, 0, "Runbook started", "aaaaaaaa"),
            ] {
                b = b.operational_data(key, plain(text));
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
            let timeline: Vec<_> = got
                .timeline
                .iter()
                .map(|e| (e.time, e.event.as_str(), e.text.as_str()))
                .collect();
            assert_eq!(
                timeline,
                vec![
                    (at(2026, 11, 21, 4, 1, 0), "note", "Runbook started"),
                    (at(2026, 11, 21, 4, 1, 0), "note", "Tunnel 2 down too"),
                    (at(2026, 11, 21, 4, 9, 0), "note", "Tunnel back up"),
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
            let empty =
                mock!(Client::get_ops_item).then_output(|| GetOpsItemOutput::builder().build());
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
            let (key, _) = entry(4, 5, "x", "");
            assert_eq!(timeline_time(&key), Some(at(2026, 11, 21, 4, 4, 5)));
            let e = TimelineEntry {
                time: chrono::TimeZone::timestamp_opt(&Utc, 1_795_000_000, 123_000_000)
                    .single()
                    .unwrap_or_else(|| panic!("time")),
                event: "e".into(),
                text: "t".into(),
            };
            assert_eq!(timeline_time(&timeline_key(&e, "5d41402a")), Some(e.time));
            assert_eq!(timeline_time("responder:related:abc"), None);
            assert_eq!(timeline_time("responder:timeline:garbage"), None);
        }
    }
}
