//! An OpsItem's operational data, as the responder writes and reads it: where each related item
//! goes, what a new OpsItem carries, and the timeline entries (keys and values).

use std::collections::{HashMap, HashSet};

use aws_sdk_ssm::types::{OpsItemDataType, OpsItemDataValue};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::{
    DATA_KEY_MAX, DATA_VALUE_MAX_BYTES, EXTERNAL_EVENT, KEY_DEDUP, KEY_DEDUPE_KEY, KEY_IMPACT,
    KEY_RELATED_PREFIX, KEY_RESOURCES, KEY_RULE, KEY_SERVICE, KEY_TIMELINE_PREFIX, KEY_TRIGGER,
    RESOURCE_TYPE_DOCUMENT, RESOURCE_TYPE_INCIDENT,
};
use crate::arn::{is_arn, Arn};
use crate::domain::timeline::{from_stored, to_stored};
use crate::domain::{
    stable_hash, trim_bytes, trim_chars, EntryKind, NewIncident, RelatedItem, RelatedItemKind,
    RelatedValue, TimelineEntry,
};

pub(super) fn data(value: impl Into<String>, kind: OpsItemDataType) -> OpsItemDataValue {
    OpsItemDataValue::builder()
        .value(value)
        .r#type(kind)
        .build()
}

pub(super) fn searchable(value: impl Into<String>) -> OpsItemDataValue {
    data(value, OpsItemDataType::SearchableString)
}

pub(super) fn plain(value: impl Into<String>) -> OpsItemDataValue {
    data(value, OpsItemDataType::String)
}

pub(super) fn kind_label(kind: RelatedItemKind) -> &'static str {
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
pub(super) struct Placement {
    /// ARNs of AWS resources, for `/aws/resources` (distinct, in order).
    pub(super) resources: Vec<String>,
    /// `(resource type, ARN)` pairs for `AssociateOpsItemRelatedItem`.
    pub(super) associations: Vec<(&'static str, String)>,
    /// `responder:related:*` entries (URLs, metric definitions, automation executions).
    pub(super) entries: Vec<(String, String)>,
}

/// The `responder:related:*` entry for an item: `{"kind", "title", "value"}` within 20 KB.
pub(super) fn related_entry(item: &RelatedItem, value: &str) -> (String, String) {
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

pub(super) fn place(items: &[RelatedItem]) -> Placement {
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
            RelatedValue::Arn(_) if is_arn(value) => Arn::parse(value),
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
pub(super) fn merge_resources(existing: Vec<Value>, arns: &[String]) -> String {
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

/// The operational data of a new OpsItem.
pub(super) fn creation_data(
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
pub(super) fn timeline_key(entry: &TimelineEntry, client_token: &str) -> String {
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
pub(super) fn timeline_time(key: &str) -> Option<DateTime<Utc>> {
    let rest = key.strip_prefix(KEY_TIMELINE_PREFIX)?;
    let (time, _token) = rest.rsplit_once(':')?;
    DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The value of a timeline entry: its words and kind ([`to_stored`]), within 20 KB.
pub(super) fn timeline_value(entry: &TimelineEntry) -> String {
    to_stored(entry, DATA_VALUE_MAX_BYTES, str::len)
}

/// The timeline entries among an OpsItem's operational data, sorted by time then key: ours with
/// their kind; any other value under a timeline key (written before entries had kinds) as an
/// [`EntryKind::External`] `note`.
pub(super) fn timeline_from_data(
    data: Option<&HashMap<String, OpsItemDataValue>>,
) -> Vec<TimelineEntry> {
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
        .map(|(time, _, value)| {
            let (kind, text) = from_stored(value).unwrap_or_else(|| {
                let event = EXTERNAL_EVENT.to_string();
                (EntryKind::External { event }, value.to_string())
            });
            TimelineEntry { time, kind, text }
        })
        .collect()
}
