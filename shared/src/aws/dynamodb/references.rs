//! References: one row per key, `pk = ref#<key>`, `sk = ref`, holding a small JSON `value`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

use super::{epoch, s, DynamoStateStore, ATTR_EXPIRES_AT, ATTR_PK, ATTR_SK};
use crate::aws::error::from_sdk_error;
use crate::ports::{PortError, PortErrorKind, ReferenceStore};

/// `pk` prefix of a reference row.
pub const PK_REF_PREFIX: &str = "ref#";
/// `sk` of a reference row.
pub const SK_REF: &str = "ref";
/// The stored value of a reference row.
pub const ATTR_VALUE: &str = "value";
/// A counter's value on a reference row.
pub const ATTR_COUNT: &str = "count";

/// The primary key of a reference row.
pub(super) fn ref_key(key: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (ATTR_PK.to_string(), s(format!("{PK_REF_PREFIX}{key}"))),
        (ATTR_SK.to_string(), s(SK_REF)),
    ])
}

#[async_trait]
impl ReferenceStore for DynamoStateStore {
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

    async fn count(&self, key: &str, expires_at: DateTime<Utc>) -> Result<u64, PortError> {
        const OP: &str = "UpdateItem";
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(ref_key(key)))
            .update_expression("ADD #count :one SET #expires = :expires")
            .expression_attribute_names("#count", ATTR_COUNT)
            .expression_attribute_names("#expires", ATTR_EXPIRES_AT)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":expires", epoch(expires_at))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        output
            .attributes()
            .and_then(|a| a.get(ATTR_COUNT))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| {
                PortError::new(
                    OP,
                    PortErrorKind::Other,
                    format!("the counter `{key}` came back without a number `{ATTR_COUNT}`"),
                )
            })
    }
}
