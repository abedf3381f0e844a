//! [`StateStore`] on the DynamoDB state table (`STATE_TABLE`).
//!
//! Single-table design: string partition key `pk`, string sort key `sk`, TTL attribute
//! `expires_at` (epoch seconds, a Number).
//!
//! | row | `pk` | `sk` | other attributes |
//! |---|---|---|---|
//! | dedupe key | `dedupe#<key>` | `incident` | `status` (S: opening/open/recovered/resolved), `owner` (S), `incident_backend` + `incident_id` (S, once known), `rule_id` (S), `impact` (N), `title` (S), `opened_at` + `last_signal_at` (S, RFC 3339), `detected_at` (S, RFC 3339: when the first signal fired; absent on rows written before it was recorded), `resolved_at` (S, RFC 3339, once settled), `signal_count` (N), `lease_until` + `expires_at` (N, epoch seconds) |
//! | occurrence (idempotency) | `idem#<key>` | `idem` | `status` (S: in_progress/completed), `lease_until` (N), `expires_at` (N), `answer` (S, once completed) |
//! | reference (a stage's note for a later one) | `ref#<key>` | `ref` | `value` (S, JSON), `expires_at` (N) |
//!
//! Every conversion between a dedupe row and a [`DedupeRecord`] lives in [`record_to_item`] and
//! [`record_from_item`]; an occurrence row is read by [`begin_from_item`]. Every attribute name in an expression goes through a `#placeholder`
//! (`status` and `owner` are DynamoDB reserved words).
//!
//! A claim and a `begin` are each one conditional `PutItem` (Powertools-style idempotency): when
//! the condition fails, `ReturnValuesOnConditionCheckFailure = ALL_OLD` hands back the row that
//! holds the key.
//!
//! `settle` is one conditional `UpdateItem` on the dedupe row: `SET status = resolved,
//! resolved_at, expires_at` if `incident_id = :id AND status IN (recovered, resolved)`,
//! `ReturnValues = ALL_NEW`. When the condition fails, the row as it stands (from
//! `ReturnValuesOnConditionCheckFailure = ALL_OLD`, else a consistent `GetItem`) says why: `open`
//! and bound to the incident is [`Settle::FiredAgain`], anything else [`Settle::NotBound`]. A row
//! that became settleable in between (it recovered meanwhile) is updated once more.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, SecondsFormat, Utc};

use super::error::from_sdk_error;
use crate::domain::{Backend, Impact, IncidentRef};
use crate::ports::{
    Begin, Claim, ClaimOutcome, DedupeRecord, KeyStatus, PortError, PortErrorKind, Settle,
    StateStore,
};

pub const ATTR_PK: &str = "pk";
pub const ATTR_SK: &str = "sk";
pub const ATTR_STATUS: &str = "status";
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
pub const ATTR_LEASE_UNTIL: &str = "lease_until";
/// The table's TTL attribute.
pub const ATTR_EXPIRES_AT: &str = "expires_at";

/// `pk` prefix of every row of a dedupe key.
pub const PK_PREFIX: &str = "dedupe#";
/// `sk` of a dedupe key's own row.
pub const SK_INCIDENT: &str = "incident";
/// `pk` prefix of a reference row.
pub const PK_REF_PREFIX: &str = "ref#";
/// `sk` of a reference row.
pub const SK_REF: &str = "ref";
/// The stored value of a reference row.
pub const ATTR_VALUE: &str = "value";
/// `pk` prefix of an occurrence's idempotency row.
pub const PK_IDEM_PREFIX: &str = "idem#";
/// `sk` of an occurrence's idempotency row.
pub const SK_IDEM: &str = "idem";
/// The stored answer of a completed occurrence.
pub const ATTR_ANSWER: &str = "answer";
/// `status` of an occurrence being handled.
pub const IDEM_IN_PROGRESS: &str = "in_progress";
/// `status` of an occurrence handled (its `answer` is replayed).
pub const IDEM_COMPLETED: &str = "completed";

/// A key is free when no row binds it (see [`DedupeRecord::binds`]): absent, expired (TTL
/// deletion lags by up to days), resolved, or an `Opening` whose lease ran out.
const CLAIM_CONDITION: &str = "attribute_not_exists(#pk) OR #expires_at <= :now \
     OR #status = :resolved OR (#status = :opening AND #lease_until <= :now)";

/// A key settles only while it is bound to the incident and its signal is not firing.
const SETTLE_CONDITION: &str = "#incident_id = :id AND #status IN (:recovered, :resolved)";

/// What `settle` writes.
const SETTLE_UPDATE: &str =
    "SET #status = :resolved, #resolved_at = :at, #expires_at = :expires_at";

/// An occurrence may be handled when no row says it was (completed, not expired) or is being
/// handled (in progress with a lease still running).
const BEGIN_CONDITION: &str = "attribute_not_exists(#pk) OR #expires_at <= :now \
     OR (#status = :in_progress AND #lease_until <= :now)";

/// The state table.
#[derive(Debug, Clone)]
pub struct DynamoStateStore {
    client: Client,
    table: String,
}

impl DynamoStateStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStateStore {
            client,
            table: table.into(),
        }
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn epoch(time: DateTime<Utc>) -> AttributeValue {
    n(time.timestamp())
}

fn rfc3339(time: DateTime<Utc>) -> AttributeValue {
    s(time.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn pk(key: &str) -> String {
    format!("{PK_PREFIX}{key}")
}

/// One row as the SDK holds it.
type Item = HashMap<String, AttributeValue>;

/// The primary key of a dedupe key's own row.
fn incident_key(key: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (ATTR_PK.to_string(), s(pk(key))),
        (ATTR_SK.to_string(), s(SK_INCIDENT)),
    ])
}

/// The primary key of an occurrence's idempotency row.
fn idem_key(key: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (ATTR_PK.to_string(), s(format!("{PK_IDEM_PREFIX}{key}"))),
        (ATTR_SK.to_string(), s(SK_IDEM)),
    ])
}

/// The primary key of a reference row.
fn ref_key(key: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (ATTR_PK.to_string(), s(format!("{PK_REF_PREFIX}{key}"))),
        (ATTR_SK.to_string(), s(SK_REF)),
    ])
}

/// `#name` → `name` for every attribute an expression mentions.
fn names(attrs: &[&str]) -> HashMap<String, String> {
    attrs
        .iter()
        .map(|a| (format!("#{a}"), (*a).to_string()))
        .collect()
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

/// A row that cannot be read back: names the attribute and what is wrong with it.
fn malformed(operation: &str, attr: &str, problem: impl std::fmt::Display) -> PortError {
    PortError::new(
        operation,
        PortErrorKind::Invalid,
        format!("malformed state row: attribute `{attr}` {problem}"),
    )
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

/// What an existing occurrence row means for a new attempt: `Completed` with its answer, or
/// `InProgress`. Only called for a row that failed `begin`'s condition, so it is live.
pub fn begin_from_item(
    operation: &str,
    item: &HashMap<String, AttributeValue>,
) -> Result<Begin, PortError> {
    let text = |attr: &str| match item.get(attr) {
        None => Err(malformed(operation, attr, "is missing")),
        Some(AttributeValue::S(v)) => Ok(v.as_str()),
        Some(_) => Err(malformed(operation, attr, "is not a string (S)")),
    };
    match text(ATTR_STATUS)? {
        IDEM_COMPLETED => Ok(Begin::Completed(text(ATTR_ANSWER)?.to_string())),
        IDEM_IN_PROGRESS => Ok(Begin::InProgress),
        other => Err(malformed(
            operation,
            ATTR_STATUS,
            format!("is unknown ({other:?})"),
        )),
    }
}

impl DynamoStateStore {
    /// A row by its key, read strongly consistent.
    async fn get_row(&self, key: Item) -> Result<Option<Item>, PortError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| from_sdk_error("GetItem", &e))?;
        Ok(output.item().cloned())
    }

    /// Writes a whole row, unconditionally.
    async fn put(&self, item: Item) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| from_sdk_error("PutItem", &e))?;
        Ok(())
    }

    /// The row of a dedupe key, read strongly consistent.
    async fn read(&self, key: &str) -> Result<Option<DedupeRecord>, PortError> {
        self.get_row(incident_key(key))
            .await?
            .map(|item| record_from_item("GetItem", &item))
            .transpose()
    }

    /// Writes `item` (whose key is `key`) only if `condition` holds. `Ok(None)`: written.
    /// `Ok(Some(row))`: the condition failed and `row` is what stopped it (from the failure,
    /// else read back). A row that vanished in between (TTL deletion of an expired row) frees
    /// the key, so the write is tried once more.
    async fn put_unless_held(
        &self,
        key: Item,
        item: Item,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<Option<Item>, PortError> {
        const OP: &str = "PutItem";
        for _ in 0..2 {
            let mut request = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names(&[
                    ATTR_PK,
                    ATTR_EXPIRES_AT,
                    ATTR_STATUS,
                    ATTR_LEASE_UNTIL,
                ])))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            for (name, value) in values {
                request = request.expression_attribute_values(*name, value.clone());
            }
            let err = match request.send().await {
                Ok(_) => return Ok(None),
                Err(err) => err,
            };
            let Some(PutItemError::ConditionalCheckFailedException(failed)) =
                err.as_service_error()
            else {
                return Err(from_sdk_error(OP, &err));
            };
            if let Some(row) = failed.item().filter(|i| !i.is_empty()) {
                return Ok(Some(row.clone()));
            }
            if let Some(row) = self.get_row(key.clone()).await? {
                return Ok(Some(row));
            }
            tracing::debug!("holding row vanished; writing again");
        }
        Err(PortError::new(
            OP,
            PortErrorKind::Conflict,
            "the row neither took the write nor held it (it keeps changing)",
        ))
    }
}

#[async_trait]
impl StateStore for DynamoStateStore {
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

    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, PortError> {
        const OP: &str = "PutItem";
        let record = DedupeRecord {
            key: claim.key.clone(),
            status: KeyStatus::Opening,
            owner: claim.owner.clone(),
            incident: None,
            rule_id: claim.rule_id.clone(),
            impact: claim.impact,
            title: claim.title.clone(),
            opened_at: claim.now,
            last_signal_at: claim.now,
            signal_count: 1,
            detected_at: Some(claim.detected_at),
            lease_until: claim.lease_until,
            expires_at: claim.expires_at,
        };
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

    async fn begin(
        &self,
        key: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Begin, PortError> {
        const OP: &str = "PutItem";
        let mut item = idem_key(key);
        item.extend([
            (ATTR_STATUS.to_string(), s(IDEM_IN_PROGRESS)),
            (ATTR_LEASE_UNTIL.to_string(), epoch(lease_until)),
            (ATTR_EXPIRES_AT.to_string(), epoch(expires_at)),
        ]);
        let held = self
            .put_unless_held(
                idem_key(key),
                item,
                BEGIN_CONDITION,
                &[(":now", epoch(now)), (":in_progress", s(IDEM_IN_PROGRESS))],
            )
            .await?;
        match held {
            None => Ok(Begin::Started),
            Some(row) => begin_from_item(OP, &row),
        }
    }

    async fn abandon(&self, key: &str) -> Result<(), PortError> {
        const OP: &str = "DeleteItem";
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(idem_key(key)))
            .condition_expression("#status = :in_progress")
            .set_expression_attribute_names(Some(names(&[ATTR_STATUS])))
            .expression_attribute_values(":in_progress", s(IDEM_IN_PROGRESS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Completed meanwhile, or already gone: nothing to forget.
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(DeleteItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(err) => Err(from_sdk_error(OP, &err)),
        }
    }

    async fn complete(
        &self,
        key: &str,
        answer: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), PortError> {
        let mut item = idem_key(key);
        item.extend([
            (ATTR_STATUS.to_string(), s(IDEM_COMPLETED)),
            (ATTR_ANSWER.to_string(), s(answer)),
            (ATTR_EXPIRES_AT.to_string(), epoch(expires_at)),
        ]);
        self.put(item).await
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

    async fn remember(
        &self,
        key: &str,
        value: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), PortError> {
        let mut item = ref_key(key);
        item.extend([
            (ATTR_VALUE.to_string(), s(value)),
            (ATTR_EXPIRES_AT.to_string(), epoch(expires_at)),
        ]);
        self.put(item).await
    }

    async fn recall(&self, key: &str, now: DateTime<Utc>) -> Result<Option<String>, PortError> {
        const OP: &str = "GetItem";
        let Some(item) = self.get_row(ref_key(key)).await? else {
            return Ok(None);
        };
        // TTL deletion lags by up to days: an expired row is absent.
        let expired = item
            .get(ATTR_EXPIRES_AT)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .is_some_and(|at| at <= now.timestamp());
        if expired {
            return Ok(None);
        }
        match item.get(ATTR_VALUE).and_then(|v| v.as_s().ok()) {
            Some(value) => Ok(Some(value.clone())),
            None => Err(PortError::new(
                OP,
                PortErrorKind::Other,
                format!("reference row for `{key}` has no string `{ATTR_VALUE}`"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::testkit::*;
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
        }
    }

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
            .unwrap_or_default();
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
            ClaimOutcome::Claimed
        );

        let req = seen.only();
        assert_eq!(req.table_name(), Some(TABLE));
        let item = req.item().cloned().unwrap_or_default();
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
        assert_eq!(
            req.condition_expression(),
            Some(
                "attribute_not_exists(#pk) OR #expires_at <= :now \
                 OR #status = :resolved OR (#status = :opening AND #lease_until <= :now)"
            )
        );
        assert_eq!(
            names_of(req.expression_attribute_names()),
            vec![
                ("#expires_at".into(), "expires_at".into()),
                ("#lease_until".into(), "lease_until".into()),
                ("#pk".into(), "pk".into()),
                ("#status".into(), "status".into()),
            ]
        );
        let values = req
            .expression_attribute_values()
            .cloned()
            .unwrap_or_default();
        assert_eq!(values.get(":now"), Some(&n(c.now.timestamp())));
        assert_eq!(values.get(":resolved"), Some(&s("resolved")));
        assert_eq!(values.get(":opening"), Some(&s("opening")));
        assert_eq!(
            req.return_values_on_condition_check_failure(),
            Some(&ReturnValuesOnConditionCheckFailure::AllOld)
        );
    }

    #[tokio::test]
    async fn a_held_key_returns_the_holding_row() {
        let rule =
            mock!(Client::put_item).then_error(|| ccf_put(Some(record_to_item(&open_record()))));
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
        let put1 = mock!(Client::put_item).then_error(|| ccf_put(None));
        let get = mock!(Client::get_item).then_output(|| GetItemOutput::builder().build());
        let put2 = mock!(Client::put_item).then_output(|| PutItemOutput::builder().build());
        let outcome = must(store(&[&put1, &get, &put2], 1).claim(&claim()).await);
        assert_eq!(outcome, ClaimOutcome::Claimed);
    }

    #[tokio::test]
    async fn throttling_is_retried_then_succeeds() {
        let rule = mock!(Client::put_item)
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
        assert_eq!(outcome, ClaimOutcome::Claimed);
        assert_eq!(rule.num_calls(), 3);
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
        let values = req
            .expression_attribute_values()
            .cloned()
            .unwrap_or_default();
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
            req.item().cloned().unwrap_or_default(),
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
        let values = req
            .expression_attribute_values()
            .cloned()
            .unwrap_or_default();
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
        let broken =
            mock!(Client::put_item).then_error(|| ccf_put(Some(idem_row("completed", None))));
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
            req.item().cloned().unwrap_or_default(),
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
            req.key().cloned().unwrap_or_default(),
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
    async fn touch_counts_the_signal_and_returns_the_row() {
        let seen = Captured::<UpdateItemInput>::new();
        let sn = seen.clone();
        let updated = {
            let mut r = open_record();
            r.status = KeyStatus::Recovered;
            r.signal_count = 4;
            r
        };
        let returned = updated.clone();
        let ok = mock!(Client::update_item)
            .match_requests(move |req| sn.push(req.clone()))
            .then_output(move || {
                UpdateItemOutput::builder()
                    .set_attributes(Some(record_to_item(&returned)))
                    .build()
            });
        let gone = mock!(Client::update_item).then_error(ccf_update);
        let empty = mock!(Client::update_item).then_output(|| UpdateItemOutput::builder().build());
        let store = store(&[&ok, &gone, &empty], 1);
        let (now, exp) = (at(2026, 11, 21, 6, 0, 0), at(2026, 11, 22, 6, 0, 0));
        let got = must(store.touch(KEY, KeyStatus::Recovered, now, exp).await);
        assert_eq!(got, updated);
        let req = seen.only();
        assert_eq!(
            req.update_expression(),
            Some(
                "SET #status = :status, #last_signal_at = :at, #expires_at = :expires_at \
                 ADD #signal_count :one"
            )
        );
        assert_eq!(req.condition_expression(), Some("attribute_exists(#pk)"));
        assert_eq!(req.return_values(), Some(&ReturnValue::AllNew));
        let values = req
            .expression_attribute_values()
            .cloned()
            .unwrap_or_default();
        assert_eq!(values.get(":status"), Some(&s("recovered")));
        assert_eq!(values.get(":at"), Some(&s("2026-11-21T06:00:00Z")));
        assert_eq!(values.get(":one"), Some(&n(1)));

        let err = must_fail(store.touch(KEY, KeyStatus::Open, now, exp).await);
        assert_eq!(err.kind, PortErrorKind::NotFound);
        let err = must_fail(store.touch(KEY, KeyStatus::Open, now, exp).await);
        assert_eq!(err.kind, PortErrorKind::Other);
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
        let item = req.item().cloned().unwrap_or_default();
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
            let got = must(store(&[&rule], 1).settle(KEY, INCIDENT_ARN, now, exp).await);
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
            let values = req
                .expression_attribute_values()
                .cloned()
                .unwrap_or_default();
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
            let got = must(store(&[&rule], 1).settle(KEY, INCIDENT_ARN, now, exp).await);
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
                    .settle(KEY, INCIDENT_ARN, now, exp)
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
                must(store.settle(KEY, INCIDENT_ARN, now, exp).await),
                Settle::NotBound(Some(other))
            );
            assert_eq!(
                must(store.settle(KEY, INCIDENT_ARN, now, exp).await),
                Settle::NotBound(Some(opening))
            );
            assert_eq!(
                must(store.settle(KEY, INCIDENT_ARN, now, exp).await),
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
                    .settle(KEY, INCIDENT_ARN, now, exp)
                    .await,
            );
            assert_eq!(got, Settle::Settled(done));

            let r1 = recovered.clone();
            let again1 = mock!(Client::update_item).then_error(move || ccf(Some(r1.clone())));
            let r2 = recovered.clone();
            let again2 = mock!(Client::update_item).then_error(move || ccf(Some(r2.clone())));
            let err = must_fail(
                store(&[&again1, &again2], 1)
                    .settle(KEY, INCIDENT_ARN, now, exp)
                    .await,
            );
            assert_eq!(err.kind, PortErrorKind::Conflict);
        }

        #[tokio::test]
        async fn errors_map_to_kinds() {
            let (now, exp) = times();
            let rule = mock!(Client::update_item).then_error(|| {
                UpdateItemError::generic(meta("ResourceNotFoundException", "no table"))
            });
            let empty =
                mock!(Client::update_item).then_output(|| UpdateItemOutput::builder().build());
            let store = store(&[&rule, &empty], 1);
            let err = must_fail(store.settle(KEY, INCIDENT_ARN, now, exp).await);
            assert_eq!(
                (err.kind, err.operation.as_str()),
                (PortErrorKind::NotFound, "UpdateItem")
            );
            let err = must_fail(store.settle(KEY, INCIDENT_ARN, now, exp).await);
            assert_eq!(err.kind, PortErrorKind::Other);
        }
    }
}
