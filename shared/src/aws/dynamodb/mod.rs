//! The state table (`STATE_TABLE`) on DynamoDB: [`DedupeStore`](crate::ports::DedupeStore)
//! ([`dedupe`]), [`RunOnceStore`](crate::ports::RunOnceStore) ([`run_once`]) and
//! [`ReferenceStore`](crate::ports::ReferenceStore) ([`references`]), one struct for all three.
//!
//! Single-table design: string partition key `pk`, string sort key `sk`, TTL attribute
//! `expires_at` (epoch seconds, a Number).
//!
//! | row | `pk` | `sk` | other attributes |
//! |---|---|---|---|
//! | dedupe key | `dedupe#<key>` | `incident` | `status` (S: opening/open/recovered/resolved), `owner` (S), `incident_backend` + `incident_id` (S, once known), `rule_id` (S), `impact` (N), `title` (S), `opened_at` + `last_signal_at` (S, RFC 3339), `detected_at` (S, RFC 3339: when the first signal fired; absent on rows written before it was recorded), `resolved_at` (S, RFC 3339, once settled), `signal_count` (N), `lease_until` + `expires_at` (N, epoch seconds), `token` (S: the opening's client token; absent on older rows, which opened with `legacy_token`), `firing` (SS: the signals firing; absent when none) |
//! | occurrence (idempotency) | `idem#<key>` | `idem` | `status` (S: in_progress/completed), `lease_until` (N), `expires_at` (N), `answer` (S, once completed) |
//! | reference (a stage's note for a later one) | `ref#<key>` | `ref` | `value` (S, JSON), `expires_at` (N); or, for a counter, `count` (N, `ADD`) |
//! | a signal's newest state change | `change#<subject>` | `change` | `state` (S: firing/recovered/informational), `at_ms` (N: the signal's own time, epoch milliseconds), `fingerprint` (S: the occurrence), `expires_at` (N) |
//!
//! Every conversion between a dedupe row and a [`DedupeRecord`](crate::ports::DedupeRecord)
//! lives in [`dedupe::record_to_item`] and [`dedupe::record_from_item`]; a run-once row is read by
//! [`run_once::begin_from_item`]. Every attribute name in an expression goes through a
//! `#placeholder` (`status` and `owner` are DynamoDB reserved words).
//!
//! A claim and a `begin` are each one conditional `PutItem` (Powertools-style idempotency): when
//! the condition fails, `ReturnValuesOnConditionCheckFailure = ALL_OLD` hands back the row that
//! holds the key.
//!
//! `settle` is one conditional `UpdateItem` on the dedupe row: `SET status = resolved,
//! resolved_at, expires_at` if `incident_id = :id AND status IN (recovered, resolved)`,
//! `ReturnValues = ALL_NEW`. When the condition fails, the row as it stands (from
//! `ReturnValuesOnConditionCheckFailure = ALL_OLD`, else a consistent `GetItem`) says why: `open`
//! and bound to the incident is `Settle::FiredAgain`, anything else `Settle::NotBound`. A row
//! that became settleable in between (it recovered meanwhile) is updated once more.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, SecondsFormat, Utc};

use super::error::from_sdk_error;
use crate::ports::{PortError, PortErrorKind};

pub mod changes;
pub mod dedupe;
pub mod references;
pub mod run_once;

pub const ATTR_PK: &str = "pk";
pub const ATTR_SK: &str = "sk";
pub const ATTR_STATUS: &str = "status";
pub const ATTR_LEASE_UNTIL: &str = "lease_until";
/// The table's TTL attribute.
pub const ATTR_EXPIRES_AT: &str = "expires_at";

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

/// One row as the SDK holds it.
type Item = HashMap<String, AttributeValue>;

/// `#name` → `name` for every attribute an expression mentions.
fn names(attrs: &[&str]) -> HashMap<String, String> {
    attrs
        .iter()
        .map(|a| (format!("#{a}"), (*a).to_string()))
        .collect()
}

/// A row that cannot be read back: names the attribute and what is wrong with it.
fn malformed(operation: &str, attr: &str, problem: impl std::fmt::Display) -> PortError {
    PortError::new(
        operation,
        PortErrorKind::Invalid,
        format!("malformed state row: attribute `{attr}` {problem}"),
    )
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

    /// Updates the row `key` only if `condition` holds. `Ok(Ok(row))`: updated, the row as it is
    /// now. `Ok(Err(row))`: the condition failed and `row` is the row as it stands (from the
    /// failure, else read back; `None` when there is none).
    async fn update_if(
        &self,
        key: Item,
        update: &str,
        condition: &str,
        attrs: &[&str],
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Result<Item, Option<Item>>, PortError> {
        const OP: &str = "UpdateItem";
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.clone()))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names(attrs)))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        let err = match request.send().await {
            Ok(output) => {
                return output.attributes().cloned().map(Ok).ok_or_else(|| {
                    PortError::new(
                        OP,
                        PortErrorKind::Other,
                        "the response carries no attributes",
                    )
                })
            }
            Err(err) => err,
        };
        let Some(UpdateItemError::ConditionalCheckFailedException(failed)) = err.as_service_error()
        else {
            return Err(from_sdk_error(OP, &err));
        };
        match failed.item().filter(|i| !i.is_empty()) {
            Some(row) => Ok(Err(Some(row.clone()))),
            None => Ok(Err(self.get_row(key).await?)),
        }
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
        attrs: &[&str],
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
                .set_expression_attribute_names(Some(names(attrs)))
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

#[cfg(test)]
mod tests;
