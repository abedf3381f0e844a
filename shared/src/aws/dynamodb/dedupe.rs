//! Dedupe keys: one row per key, `pk = dedupe#<key>`, `sk = incident` (layout in the module
//! above). A claim is one conditional `PutItem` (a take-over of a lapsed opening one conditional
//! `UpdateItem` more); a join and `settle` one conditional `UpdateItem` each; a clearing signal
//! one, and one more when it was the last one firing.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::{
    epoch, malformed, n, names, rfc3339, s, DynamoStateStore, ATTR_EXPIRES_AT, ATTR_LEASE_UNTIL,
    ATTR_PK, ATTR_SK, ATTR_STATUS,
};
use crate::aws::error::from_sdk_error;
use crate::domain::{stable_hash, Backend, Impact, IncidentRef};
use crate::ports::{
    Claim, ClaimOutcome, Clear, Cleared, DedupeRecord, DedupeStore, Join, Joined, KeyStatus,
    PortError, PortErrorKind, Settle, SettleWhen,
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
/// The opening's client token (optional: older rows lack it, see [`legacy_token`]).
pub const ATTR_TOKEN: &str = "token";
/// The signals firing on the key (SS; absent when none: DynamoDB keeps no empty set).
pub const ATTR_FIRING: &str = "firing";

/// `pk` prefix of every row of a dedupe key.
pub const PK_PREFIX: &str = "dedupe#";
/// `sk` of a dedupe key's own row.
pub const SK_INCIDENT: &str = "incident";

/// A key is free for a fresh claim when no row holds it: absent, expired (TTL deletion lags by up
/// to days) or resolved. An `Opening` whose lease ran out is taken over instead (its token kept).
const CLAIM_CONDITION: &str =
    "attribute_not_exists(#pk) OR #expires_at <= :now OR #status = :resolved";

/// A take-over: still the same abandoned opening.
const TAKE_OVER_CONDITION: &str = "#owner = :previous AND #status = :opening \
     AND #lease_until <= :now AND #expires_at > :now";

/// A key bound to the incident: open or recovered.
const BOUND_CONDITION: &str = "#incident_id = :id AND #status IN (:open, :recovered)";

/// A key settles, when its signals recovered, only while it is bound to the incident and its
/// signal is not firing; when the incident was closed in the backend, whatever fires.
const SETTLE_RECOVERED: &str = "#incident_id = :id AND #status IN (:recovered, :resolved)";
const SETTLE_CLOSED: &str = "#incident_id = :id AND #status IN (:open, :recovered, :resolved)";

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
        (ATTR_TOKEN.to_string(), s(record.token.as_str())),
    ]);
    if !record.firing.is_empty() {
        item.insert(
            ATTR_FIRING.to_string(),
            AttributeValue::Ss(record.firing.iter().cloned().collect()),
        );
    }
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
    let owner = text(ATTR_OWNER)?;
    let token = match item.get(ATTR_TOKEN) {
        None => legacy_token(key, owner),
        Some(_) => text(ATTR_TOKEN)?.to_string(),
    };
    let firing = match item.get(ATTR_FIRING) {
        None => Default::default(),
        Some(AttributeValue::Ss(set)) => set.iter().cloned().collect(),
        Some(_) => {
            return Err(malformed(
                operation,
                ATTR_FIRING,
                "is not a string set (SS)",
            ))
        }
    };
    Ok(DedupeRecord {
        key: key.to_string(),
        status,
        owner: owner.to_string(),
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
        token,
        firing,
    })
}

/// The opening token of a row written before tokens were kept: the one its claimer opened with.
pub fn legacy_token(key: &str, owner: &str) -> String {
    stable_hash(&["triage-open", key, owner], 64)
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
                &[ATTR_PK, ATTR_EXPIRES_AT, ATTR_STATUS],
                &[
                    (":now", epoch(claim.now)),
                    (":resolved", s(KeyStatus::Resolved.as_str())),
                ],
            )
            .await?;
        let held = match held {
            None => return Ok(ClaimOutcome::Claimed(record)),
            Some(row) => record_from_item(OP, &row)?,
        };
        if held.status != KeyStatus::Opening || held.binds(claim.now) {
            return Ok(ClaimOutcome::Held(held));
        }
        // An abandoned opening: take it over, keeping its token (a row from before tokens were
        // kept gets its first claimer's), so that whoever finishes it opens the same incident.
        // The taking signal counts, and fires.
        let mut update = "SET #owner = :owner, #lease_until = :lease_until, \
                          #token = if_not_exists(#token, :legacy) ADD #signal_count :one"
            .to_string();
        let mut attrs = vec![
            ATTR_OWNER,
            ATTR_STATUS,
            ATTR_LEASE_UNTIL,
            ATTR_EXPIRES_AT,
            ATTR_TOKEN,
            ATTR_SIGNAL_COUNT,
        ];
        let mut values = vec![
            (":owner", s(claim.owner.as_str())),
            (":lease_until", epoch(claim.lease_until)),
            (":legacy", s(legacy_token(&claim.key, &held.owner))),
            (":one", n(1)),
            (":previous", s(held.owner.as_str())),
            (":opening", s(KeyStatus::Opening.as_str())),
            (":now", epoch(claim.now)),
        ];
        if let Some(subject) = &claim.subject {
            update.push_str(", #firing :subject");
            attrs.push(ATTR_FIRING);
            values.push((":subject", AttributeValue::Ss(vec![subject.clone()])));
        }
        let taken = self
            .update_if(
                incident_key(&claim.key),
                &update,
                TAKE_OVER_CONDITION,
                &attrs,
                values,
            )
            .await?;
        match taken {
            Ok(row) => record_from_item("UpdateItem", &row).map(ClaimOutcome::Claimed),
            Err(Some(row)) => record_from_item("UpdateItem", &row).map(ClaimOutcome::Held),
            // Gone meanwhile (TTL): free again.
            Err(None) => Box::pin(self.claim(claim)).await,
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

    async fn join(&self, join: &Join) -> Result<Joined, PortError> {
        const OP: &str = "UpdateItem";
        let mut set = vec!["#status = :open", "#last_signal_at = :at"];
        let mut condition = format!("{BOUND_CONDITION} AND #expires_at > :now");
        let mut attrs = vec![
            ATTR_STATUS,
            ATTR_LAST_SIGNAL_AT,
            ATTR_SIGNAL_COUNT,
            ATTR_INCIDENT_ID,
            ATTR_EXPIRES_AT,
        ];
        let mut values = vec![
            (":open", s(KeyStatus::Open.as_str())),
            (":recovered", s(KeyStatus::Recovered.as_str())),
            (":id", s(join.incident_id.as_str())),
            (":at", rfc3339(join.at)),
            (":now", epoch(join.at)),
            (":one", n(1)),
        ];
        if let Some(expires_at) = join.expires_at {
            set.push("#expires_at = :expires_at");
            values.push((":expires_at", epoch(expires_at)));
        }
        if let Some(impact) = join.raise_to {
            set.push("#impact = :impact");
            condition.push_str(" AND #impact > :impact");
            attrs.push(ATTR_IMPACT);
            values.push((":impact", n(impact.get())));
        }
        let mut update = format!("SET {} ADD #signal_count :one", set.join(", "));
        if let Some(subject) = &join.subject {
            update.push_str(", #firing :subject");
            attrs.push(ATTR_FIRING);
            values.push((":subject", AttributeValue::Ss(vec![subject.clone()])));
        }
        let result = self
            .update_if(incident_key(&join.key), &update, &condition, &attrs, values)
            .await?;
        match result {
            Ok(row) => record_from_item(OP, &row).map(Joined::Joined),
            Err(row) => Ok(Joined::Changed(
                row.map(|r| record_from_item(OP, &r)).transpose()?,
            )),
        }
    }

    async fn clear(&self, clear: &Clear) -> Result<Cleared, PortError> {
        const OP: &str = "UpdateItem";
        let bound = |extra: &str| format!("{BOUND_CONDITION}{extra}");
        let result = self
            .update_if(
                incident_key(&clear.key),
                "SET #last_signal_at = :at DELETE #firing :subject",
                &bound(""),
                &[
                    ATTR_LAST_SIGNAL_AT,
                    ATTR_FIRING,
                    ATTR_INCIDENT_ID,
                    ATTR_STATUS,
                ],
                vec![
                    (":at", rfc3339(clear.at)),
                    (":subject", AttributeValue::Ss(vec![clear.subject.clone()])),
                    (":id", s(clear.incident_id.as_str())),
                    (":open", s(KeyStatus::Open.as_str())),
                    (":recovered", s(KeyStatus::Recovered.as_str())),
                ],
            )
            .await?;
        let row = match result {
            Ok(row) => record_from_item(OP, &row)?,
            Err(row) => {
                return Ok(Cleared::NotBound(
                    row.map(|r| record_from_item(OP, &r)).transpose()?,
                ))
            }
        };
        if !row.firing.is_empty() {
            return Ok(Cleared::StillFiring(row));
        }
        // The last one: recovered, unless a signal joined in between.
        let result = self
            .update_if(
                incident_key(&clear.key),
                "SET #status = :recovered, #expires_at = :expires_at",
                &bound(" AND attribute_not_exists(#firing)"),
                &[ATTR_STATUS, ATTR_EXPIRES_AT, ATTR_FIRING, ATTR_INCIDENT_ID],
                vec![
                    (":expires_at", epoch(clear.expires_at)),
                    (":id", s(clear.incident_id.as_str())),
                    (":open", s(KeyStatus::Open.as_str())),
                    (":recovered", s(KeyStatus::Recovered.as_str())),
                ],
            )
            .await?;
        match result {
            Ok(row) => record_from_item(OP, &row).map(Cleared::AllClear),
            Err(None) => Ok(Cleared::NotBound(None)),
            Err(Some(row)) => {
                let row = record_from_item(OP, &row)?;
                let ours = row
                    .incident
                    .as_ref()
                    .is_some_and(|i| i.id == clear.incident_id);
                Ok(if ours && !row.firing.is_empty() {
                    Cleared::StillFiring(row)
                } else {
                    Cleared::NotBound(Some(row))
                })
            }
        }
    }

    async fn settle(
        &self,
        key: &str,
        incident_id: &str,
        when: SettleWhen,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Settle, PortError> {
        const OP: &str = "UpdateItem";
        let condition = match when {
            SettleWhen::Recovered => SETTLE_RECOVERED,
            SettleWhen::Closed => SETTLE_CLOSED,
        };
        for _ in 0..2 {
            let mut values = vec![
                (":resolved", s(KeyStatus::Resolved.as_str())),
                (":recovered", s(KeyStatus::Recovered.as_str())),
                (":id", s(incident_id)),
                (":at", rfc3339(at)),
                (":expires_at", epoch(expires_at)),
            ];
            if when == SettleWhen::Closed {
                values.push((":open", s(KeyStatus::Open.as_str())));
            }
            let result = self
                .update_if(
                    incident_key(key),
                    SETTLE_UPDATE,
                    condition,
                    &[
                        ATTR_STATUS,
                        ATTR_RESOLVED_AT,
                        ATTR_EXPIRES_AT,
                        ATTR_INCIDENT_ID,
                    ],
                    values,
                )
                .await?;
            let row = match result {
                Ok(row) => return record_from_item(OP, &row).map(Settle::Settled),
                Err(None) => return Ok(Settle::NotBound(None)),
                Err(Some(row)) => record_from_item(OP, &row)?,
            };
            let ours = row.incident.as_ref().is_some_and(|i| i.id == incident_id);
            match row.status {
                KeyStatus::Open if ours && when == SettleWhen::Recovered => {
                    return Ok(Settle::FiredAgain(row))
                }
                KeyStatus::Open | KeyStatus::Recovered | KeyStatus::Resolved if ours => {
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
