//! The incident ports on AWS Systems Manager OpsCenter (`ssm` OpsItems): [`OpsCenterStore`]
//! opens OpsItems, writes onto them, reads them back and resolves them. Where each piece goes
//! in an OpsItem's operational data is `data`'s.
//!
//! - `open` → `CreateOpsItem` with `/aws/dedup` = `{"dedupString": <client token>}`, so a retried
//!   create of the same occurrence makes no second OpsItem (if OpsCenter answers
//!   `OpsItemAlreadyExistsException` with the existing id, that id is returned);
//! - `add_timeline` → `UpdateOpsItem` adding one operational-data entry per timeline entry (an
//!   OpsItem has no timeline; the key is derived from the entry, so a retry overwrites it), its
//!   value the entry's words and kind, `{"text": …, "kind": …}`;
//! - `add_related_items`: resource ARNs are merged into `/aws/resources`; Incident Manager
//!   records and SSM documents are associated (`AssociateOpsItemRelatedItem`, the only two
//!   resource types it supports); anything else becomes a `responder:related:*` entry;
//! - `resolve` → `UpdateOpsItem` with `Status` `Resolved` and the summary as the
//!   `responder:resolution` entry (type `String`, within 20 KB); resolving again rewrites the
//!   same entry;
//! - `record` → `GetOpsItem`: `Title`, `Status` (`Resolved` or not), `CreatedTime`, and as the
//!   resolution time `ActualEndTime` when set, else `LastModifiedTime` (while `Resolved`: the
//!   last change, usually the resolution itself). The timeline is every `responder:timeline:*`
//!   entry read back (time from the key, words and kind from the value), sorted by time then key.
//!
//! [`calendar`] reads SSM Change Calendars with the same SSM SDK (maintenance windows).
//!
//! Limits (API reference, `API_CreateOpsItem.html`): `Title` 1–1,024 characters, `Description`
//! 1–2,048 characters, `Source` 1–128 characters and must not contain `aws`, `amazon` or `amzn`,
//! `Severity` "1"–"4", `Priority` 1–5, operational-data keys ≤ 128 characters, values ≤ 20 KB.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_ssm::operation::associate_ops_item_related_item::AssociateOpsItemRelatedItemError;
use aws_sdk_ssm::operation::create_ops_item::CreateOpsItemError;
use aws_sdk_ssm::types::{OpsItemNotification, OpsItemStatus};
use aws_sdk_ssm::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::Value;

use super::convert::to_chrono;
use super::error::from_sdk_error;
use crate::domain::{
    trim_bytes, trim_chars, Backend, Impact, IncidentRef, NewIncident, RelatedItem, TimelineEntry,
    RESPONDER_SOURCE,
};
use crate::ports::{
    IncidentOpener, IncidentRecord, IncidentResolver, IncidentWriter, PortError, PortErrorKind,
    Standing,
};

pub mod calendar;
mod data;

use data::{
    creation_data, merge_resources, place, plain, searchable, timeline_from_data, timeline_key,
    timeline_value,
};

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
/// The event an OpsItem timeline entry without a kind reads back as (`EntryKind::External`).
pub const EXTERNAL_EVENT: &str = "note";

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

impl OpsCenterStore {
    /// `GetOpsItem`'s OpsItem.
    async fn ops_item(
        &self,
        incident: &IncidentRef,
    ) -> Result<aws_sdk_ssm::types::OpsItem, PortError> {
        const OP: &str = "GetOpsItem";
        expect_backend(OP, incident)?;
        let output = self
            .client
            .get_ops_item()
            .ops_item_id(&incident.id)
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        output.ops_item.ok_or_else(|| {
            PortError::new(OP, PortErrorKind::Other, "the response carries no OpsItem")
        })
    }
}

#[async_trait]
impl IncidentResolver for OpsCenterStore {
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
        let item = self.ops_item(incident).await?;
        let item = &item;
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
}

#[async_trait]
impl IncidentOpener for OpsCenterStore {
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
}

#[async_trait]
impl IncidentWriter for OpsCenterStore {
    fn backend(&self) -> Backend {
        Backend::OpsCenter
    }

    async fn add_timeline(
        &self,
        incident: &IncidentRef,
        entry: &TimelineEntry,
        client_token: &str,
    ) -> Result<(), PortError> {
        const OP: &str = "UpdateOpsItem";
        expect_backend(OP, incident)?;
        self.client
            .update_ops_item()
            .ops_item_id(&incident.id)
            .operational_data(
                timeline_key(entry, client_token),
                plain(timeline_value(entry)),
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

    async fn standing(&self, incident: &IncidentRef) -> Result<Standing, PortError> {
        let item = self.ops_item(incident).await?;
        let item = &item;
        let status = item.status();
        Ok(Standing {
            open: matches!(
                status,
                None | Some(OpsItemStatus::Open | OpsItemStatus::InProgress)
            ),
            status: status.map(|s| s.as_str()).unwrap_or("Open").to_string(),
            impact: item
                .priority()
                .and_then(|p| u8::try_from(p).ok())
                .and_then(Impact::new),
        })
    }

    async fn set_impact(&self, incident: &IncidentRef, impact: Impact) -> Result<(), PortError> {
        const OP: &str = "UpdateOpsItem";
        expect_backend(OP, incident)?;
        self.client
            .update_ops_item()
            .ops_item_id(&incident.id)
            .severity(severity_for(impact))
            .priority(i32::from(impact.get()))
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
