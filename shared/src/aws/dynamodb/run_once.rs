//! Run-once records: one row per piece of work, `pk = idem#<key>`, `sk = idem`. `begin` is one
//! conditional `PutItem` (Powertools-style idempotency), `abandon` one conditional `DeleteItem`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::{
    epoch, malformed, names, s, DynamoStateStore, ATTR_EXPIRES_AT, ATTR_LEASE_UNTIL, ATTR_PK,
    ATTR_SK, ATTR_STATUS,
};
use crate::aws::error::from_sdk_error;
use crate::ports::{Begin, PortError, RunOnceStore};

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

/// An occurrence may be handled when no row says it was (completed, not expired) or is being
/// handled (in progress with a lease still running).
const BEGIN_CONDITION: &str = "attribute_not_exists(#pk) OR #expires_at <= :now \
     OR (#status = :in_progress AND #lease_until <= :now)";

/// The primary key of an occurrence's idempotency row.
pub(super) fn idem_key(key: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (ATTR_PK.to_string(), s(format!("{PK_IDEM_PREFIX}{key}"))),
        (ATTR_SK.to_string(), s(SK_IDEM)),
    ])
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

#[async_trait]
impl RunOnceStore for DynamoStateStore {
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
                &[ATTR_PK, ATTR_EXPIRES_AT, ATTR_STATUS, ATTR_LEASE_UNTIL],
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
}
