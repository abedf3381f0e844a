//! Dedupe keys: one row per key, `pk = dedupe#<key>`, `sk = incident` (layout in the module
//! above). A claim is one conditional `PutItem`; `settle` one conditional `UpdateItem`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};

use super::{
    epoch, malformed, n, names, rfc3339, s, DynamoStateStore, ATTR_EXPIRES_AT, ATTR_LEASE_UNTIL,
    ATTR_PK, ATTR_SK, ATTR_STATUS,
};
use crate::aws::error::from_sdk_error;
use crate::domain::{Backend, Impact, IncidentRef};
use crate::ports::{
    Claim, ClaimOutcome, DedupeRecord, DedupeStore, KeyStatus, PortError, PortErrorKind, Settle,
};

pub const ATTR_OWNER: &str = "owner";
pub const ATTR_INCIDENT_BACKEND: &str = "incident_backend";
pub const ATTR_INCIDENT_ID: &str = "incident_id";
pub const ATTR_RULE_ID: &str = "rule_id";
pub const ATTR_IMPACT: &str = "impact";
pub const ATTR_TITLE: &str = "title";
pub const ATTR_OPENED_AT: &str = "opened_at";
pub const ATTR_LAST_SIGNAL_AT: &str = "last_signal_at";
/// When the first signal fired (optional: older rows lack it).
pub const ATTR_DETECTED_AT: &str = "detected_at";
/// When the key was settled (`resolved`); written by `settle`, not part of [`DedupeRecord`].
pub const ATTR_RESOLVED_AT: &str = "resolved_at";
pub const ATTR_SIGNAL_COUNT: &str = "signal_count";

/// `pk` prefix of every row of a dedupe key.
pub const PK_PREFIX: &str = "dedupe#";
/// `sk` of a dedupe key's own row.
pub const SK_INCIDENT: &str = "incident";

/// A key is free when no row binds it (see [`DedupeRecord::binds`]): absent, expired (TTL
/// deletion lags by up to days), resolved, or an `Opening` whose lease ran out.
const CLAIM_CONDITION: &str = "attribute_not_exists(#pk) OR #expires_at <= :now \
     OR #status = :resolved OR (#status = :opening AND #lease_until <= :now)";

/// A key settles only while it is bound to the incident and its signal is not firing.
const SETTLE_CONDITION: &str = "#incident_id = :id AND #status IN (:recovered, :resolved)";

/// What `settle` writes.
const SETTLE_UPDATE: &str =
    "SET #status = :resolved, #resolved_at = :at, #expires_at = :expires_at";

fn pk(key: &str) -> String {
    format!("{PK_PREFIX}{key}")
}

/// The primary key of a dedupe key's own row.
pub(super) fn incident_key(key: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (ATTR_PK.to_string(), s(pk(key))),
        (ATTR_SK.to_string(), s(SK_INCIDENT)),
    ])
}

/// The row for a dedupe record.
pub fn record_to_item(record: &DedupeRecord) -> HashMap<String, AttributeValue> {
    let mut item = incident_key(&record.key);
    item.extend([
        (ATTR_STATUS.to_string(), s(record.status.as_str())),
        (ATTR_OWNER.to_string(), s(record.owner.as_str())),
        (ATTR_RULE_ID.to_string(), s(record.rule_id.as_str())),
        (ATTR_IMPACT.to_string(), n(record.impact.get())),
        (ATTR_TITLE.to_string(), s(record.title.as_str())),
        (ATTR_OPENED_AT.to_string(), rfc3339(record.opened_at)),
        (
            ATTR_LAST_SIGNAL_AT.to_string(),
            rfc3339(record.last_signal_at),
        ),
        (ATTR_SIGNAL_COUNT.to_string(), n(record.signal_count)),
        (ATTR_LEASE_UNTIL.to_string(), epoch(record.lease_until)),
        (ATTR_EXPIRES_AT.to_string(), epoch(record.expires_at)),
    ]);
    if let Some(detected_at) = record.detected_at {
        item.insert(ATTR_DETECTED_AT.to_string(), rfc3339(detected_at));
    }
    if let Some(incident) = &record.incident {
        item.insert(
            ATTR_INCIDENT_BACKEND.to_string(),
            s(incident.backend.as_str()),
        );
        item.insert(ATTR_INCIDENT_ID.to_string(), s(incident.id.as_str()));
    }
    item
}

/// Reads a dedupe key's row back as a record. A missing attribute, a wrong type or an
/// unparseable value is an `Invalid` error naming the attribute, never a panic.
pub fn record_from_item(
    operation: &str,
    item: &HashMap<String, AttributeValue>,
) -> Result<DedupeRecord, PortError> {
    let text = |attr: &str| -> Result<&str, PortError> {
        match item.get(attr) {
            None => Err(malformed(operation, attr, "is missing")),
            Some(AttributeValue::S(v)) => Ok(v.as_str()),
            Some(_) => Err(malformed(operation, attr, "is not a string (S)")),
        }
    };
    let number = |attr: &str| -> Result<&str, PortError> {
        match item.get(attr) {
            None => Err(malformed(operation, attr, "is missing")),
            Some(AttributeValue::N(v)) => Ok(v.as_str()),
            Some(_) => Err(malformed(operation, attr, "is not a number (N)")),
        }
    };
    let time = |attr: &str| -> Result<DateTime<Utc>, PortError> {
        let v = text(attr)?;
        DateTime::parse_from_rfc3339(v)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                malformed(
                    operation,
                    attr,
                    format!("is not an RFC 3339 time ({v:?}: {e})"),
                )
            })
    };
    let epoch = |attr: &str| -> Result<DateTime<Utc>, PortError> {
        let v = number(attr)?;
        v.parse::<i64>()
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
            .ok_or_else(|| malformed(operation, attr, format!("is not epoch seconds ({v:?})")))
    };

    let pk_value = text(ATTR_PK)?;
    let key = pk_value.strip_prefix(PK_PREFIX).ok_or_else(|| {
        malformed(
            operation,
            ATTR_PK,
            format!("lacks the `{PK_PREFIX}` prefix"),
        )
    })?;
    let status_text = text(ATTR_STATUS)?;
    let status = KeyStatus::parse(status_text).ok_or_else(|| {
        malformed(
            operation,
            ATTR_STATUS,
            format!("is unknown ({status_text:?})"),
        )
    })?;
    let impact_text = number(ATTR_IMPACT)?;
    let impact = impact_text
        .parse::<u8>()
        .ok()
        .and_then(Impact::new)
        .ok_or_else(|| {
            malformed(
                operation,
                ATTR_IMPACT,
                format!("is not 1..=5 ({impact_text:?})"),
            )
        })?;
    let count_text = number(ATTR_SIGNAL_COUNT)?;
    let signal_count = count_text.parse::<u64>().map_err(|_| {
        malformed(
            operation,
            ATTR_SIGNAL_COUNT,
            format!("is not a count ({count_text:?})"),
        )
    })?;
    let incident = match (
        item.contains_key(ATTR_INCIDENT_BACKEND),
        item.contains_key(ATTR_INCIDENT_ID),
    ) {
        (false, false) => None,
        _ => {
            let backend_text = text(ATTR_INCIDENT_BACKEND)?;
            let backend = Backend::parse(backend_text).ok_or_else(|| {
                malformed(
                    operation,
                    ATTR_INCIDENT_BACKEND,
                    format!("is unknown ({backend_text:?})"),
                )
            })?;
            Some(IncidentRef {
                backend,
                id: text(ATTR_INCIDENT_ID)?.to_string(),
            })
        }
    };
    Ok(DedupeRecord {
        key: key.to_string(),
        status,
        owner: text(ATTR_OWNER)?.to_string(),
        incident,
        rule_id: text(ATTR_RULE_ID)?.to_string(),
        impact,
        title: text(ATTR_TITLE)?.to_string(),
        opened_at: time(ATTR_OPENED_AT)?,
        last_signal_at: time(ATTR_LAST_SIGNAL_AT)?,
        signal_count,
        detected_at: item
            .contains_key(ATTR_DETECTED_AT)
            .then(|| time(ATTR_DETECTED_AT))
            .transpose()?,
        lease_until: epoch(ATTR_LEASE_UNTIL)?,
        expires_at: epoch(ATTR_EXPIRES_AT)?,
    })
}

impl DynamoStateStore {
    /// The row of a dedupe key, read strongly consistent.
    async fn read(&self, key: &str) -> Result<Option<DedupeRecord>, PortError> {
        self.get_row(incident_key(key))
            .await?
            .map(|item| record_from_item("GetItem", &item))
            .transpose()
    }
}

#[async_trait]
impl DedupeStore for DynamoStateStore {
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, PortError> {
        const OP: &str = "PutItem";
        let record = claim.record();
        let held = self
            .put_unless_held(
                incident_key(&claim.key),
                record_to_item(&record),
                CLAIM_CONDITION,
                &[
                    (":now", epoch(claim.now)),
                    (":resolved", s(KeyStatus::Resolved.as_str())),
                    (":opening", s(KeyStatus::Opening.as_str())),
                ],
            )
            .await?;
        match held {
            None => Ok(ClaimOutcome::Claimed),
            Some(row) => record_from_item(OP, &row).map(ClaimOutcome::Held),
        }
    }

    async fn confirm_open(
        &self,
        key: &str,
        owner: &str,
        incident: &IncidentRef,
        expires_at: DateTime<Utc>,
    ) -> Result<(), PortError> {
        const OP: &str = "UpdateItem";
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(incident_key(key)))
            .update_expression(
                "SET #status = :open, #incident_backend = :backend, \
                 #incident_id = :incident, #expires_at = :expires_at",
            )
            .condition_expression("#owner = :owner")
            .set_expression_attribute_names(Some(names(&[
                ATTR_STATUS,
                ATTR_INCIDENT_BACKEND,
                ATTR_INCIDENT_ID,
                ATTR_EXPIRES_AT,
                ATTR_OWNER,
            ])))
            .expression_attribute_values(":open", s(KeyStatus::Open.as_str()))
            .expression_attribute_values(":backend", s(incident.backend.as_str()))
            .expression_attribute_values(":incident", s(incident.id.as_str()))
            .expression_attribute_values(":expires_at", epoch(expires_at))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Err(PortError::new(
                    OP,
                    PortErrorKind::Conflict,
                    format!("dedupe key {key} is not (or no longer) claimed by {owner}"),
                ))
            }
            Err(err) => Err(from_sdk_error(OP, &err)),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<DedupeRecord>, PortError> {
        self.read(key).await
    }

    async fn touch(
        &self,
        key: &str,
        status: KeyStatus,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<DedupeRecord, PortError> {
        const OP: &str = "UpdateItem";
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(incident_key(key)))
            .update_expression(
                "SET #status = :status, #last_signal_at = :at, #expires_at = :expires_at \
                 ADD #signal_count :one",
            )
            .condition_expression("attribute_exists(#pk)")
            .set_expression_attribute_names(Some(names(&[
                ATTR_STATUS,
                ATTR_LAST_SIGNAL_AT,
                ATTR_EXPIRES_AT,
                ATTR_SIGNAL_COUNT,
                ATTR_PK,
            ])))
            .expression_attribute_values(":status", s(status.as_str()))
            .expression_attribute_values(":at", rfc3339(at))
            .expression_attribute_values(":expires_at", epoch(expires_at))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes().ok_or_else(|| {
                    PortError::new(
                        OP,
                        PortErrorKind::Other,
                        "the response carries no attributes",
                    )
                })?;
                record_from_item(OP, item)
            }
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Err(PortError::new(
                    OP,
                    PortErrorKind::NotFound,
                    format!("dedupe key {key} has no row"),
                ))
            }
            Err(err) => Err(from_sdk_error(OP, &err)),
        }
    }

    async fn settle(
        &self,
        key: &str,
        incident_id: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Settle, PortError> {
        const OP: &str = "UpdateItem";
        for _ in 0..2 {
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(incident_key(key)))
                .update_expression(SETTLE_UPDATE)
                .condition_expression(SETTLE_CONDITION)
                .set_expression_attribute_names(Some(names(&[
                    ATTR_STATUS,
                    ATTR_RESOLVED_AT,
                    ATTR_EXPIRES_AT,
                    ATTR_INCIDENT_ID,
                ])))
                .expression_attribute_values(":resolved", s(KeyStatus::Resolved.as_str()))
                .expression_attribute_values(":recovered", s(KeyStatus::Recovered.as_str()))
                .expression_attribute_values(":id", s(incident_id))
                .expression_attribute_values(":at", rfc3339(at))
                .expression_attribute_values(":expires_at", epoch(expires_at))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let err = match result {
                Ok(output) => {
                    let item = output.attributes().ok_or_else(|| {
                        PortError::new(
                            OP,
                            PortErrorKind::Other,
                            "the response carries no attributes",
                        )
                    })?;
                    return record_from_item(OP, item).map(Settle::Settled);
                }
                Err(err) => err,
            };
            let Some(UpdateItemError::ConditionalCheckFailedException(failed)) =
                err.as_service_error()
            else {
                return Err(from_sdk_error(OP, &err));
            };
            let row = match failed.item().filter(|i| !i.is_empty()) {
                Some(item) => Some(record_from_item(OP, item)?),
                None => self.read(key).await?,
            };
            let Some(row) = row else {
                return Ok(Settle::NotBound(None));
            };
            let ours = row.incident.as_ref().is_some_and(|i| i.id == incident_id);
            match row.status {
                KeyStatus::Open if ours => return Ok(Settle::FiredAgain(row)),
                KeyStatus::Recovered | KeyStatus::Resolved if ours => {
                    tracing::debug!(
                        key,
                        "dedupe row became settleable meanwhile; settling again"
                    );
                }
                _ => return Ok(Settle::NotBound(Some(row))),
            }
        }
        Err(PortError::new(
            OP,
            PortErrorKind::Conflict,
            format!("dedupe key {key} keeps changing; not settled"),
        ))
    }
}
