//! What changed before an incident: the write calls CloudTrail recorded for its resources and
//! the CloudFormation stack that owns them, the first question of every responder ("what
//! changed?"). Plain Rust types, no SDK types, no I/O: the [`crate::ports::Trail`] and
//! [`crate::ports::Stacks`] ports return them, the `changes` stage gathers them, and
//! `Changes Gathered` carries them as its `changes`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::diagnosis::Diagnosis;
use crate::domain::Signal;

/// The tag CloudFormation puts on the resources a stack creates.
pub const STACK_TAG: &str = "aws:cloudformation:stack-name";

/// At most this many resources are looked up: CloudTrail allows two `LookupEvents` a second per
/// account and region, shared by everything in the account.
pub const RESOURCES_MAX: usize = 3;

/// One API call CloudTrail recorded (`LookupEvents`' `Events[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailEvent {
    pub id: String,
    /// `ModifyInstanceAttribute`, `UpdateFunctionConfiguration20150331v2`, …
    pub name: String,
    /// The service called: `ec2.amazonaws.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub time: DateTime<Utc>,
    /// Who called it (`Username`: an IAM user, a role session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// `ReadOnly` as CloudTrail says it; `None` when it says nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

/// A CloudFormation stack as `DescribeStacks` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackFacts {
    pub name: String,
    /// The stack's ARN (its id).
    pub id: String,
    /// `UPDATE_COMPLETE`, `UPDATE_ROLLBACK_COMPLETE`, …
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<DateTime<Utc>>,
}

impl StackFacts {
    /// When the stack last changed: its last update, else its creation.
    pub fn changed_at(&self) -> DateTime<Utc> {
        self.last_updated.unwrap_or(self.created)
    }
}

/// One change, as the responder shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub time: DateTime<Utc>,
    /// What was done: the API call (`ModifyInstanceAttribute`), or the stack's status.
    pub what: String,
    /// What it was done to: the resource looked up, or the stack's name.
    pub on: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The console page of the event or the stack.
    pub link: String,
}

/// What changed before the incident opened (**contract**: `Changes Gathered`'s `changes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// The look-back: from `since` to the incident's opening.
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// The resources looked up in CloudTrail.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Newest first.
    #[serde(default)]
    pub items: Vec<Change>,
    /// The stack that owns the incident's resources, if one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<StackFacts>,
    /// What was not gathered, and why ("CloudTrail: not gathered: AccessDenied").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The dimensions whose value names a resource CloudTrail records by that name.
const RESOURCE_DIMENSIONS: &[&str] = &[
    "InstanceId",
    "VpnId",
    "FunctionName",
    "DBInstanceIdentifier",
    "DBClusterIdentifier",
    "AutoScalingGroupName",
    "TableName",
    "QueueName",
    "BucketName",
    "ClusterName",
];

/// The resources to look up for an incident, at most [`RESOURCES_MAX`]: the diagnosed VPN, the
/// alarm's resource dimensions, then the signal's resources but the alarm (an ARN by its
/// resource id). Only
/// names of AWS identifier characters: a value from an event never becomes a lookup of
/// something else.
pub fn resources_of(signal: &Signal, diagnosis: Option<&Diagnosis>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        let name = name.trim();
        if names.len() < RESOURCES_MAX && is_name(name) && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    };
    if let Some(vpn) = diagnosis.and_then(|d| d.vpn.as_ref()) {
        add(&vpn.connection.id);
    }
    for metric in &signal.metrics {
        for (name, value) in &metric.dimensions {
            if RESOURCE_DIMENSIONS.contains(&name.as_str()) {
                add(value);
            }
        }
    }
    // The alarm itself is not one of them: what it watches is.
    let watched = std::iter::once(&signal.resource)
        .chain(&signal.resources)
        .filter(|r| crate::arn::Arn::parse(r).is_none_or(|a| a.service != "cloudwatch"));
    for resource in watched {
        add(resource_id(resource));
    }
    names
}

/// An ARN's resource id (`arn:aws:ec2:…:instance/i-0abc` → `i-0abc`); anything else as it is.
fn resource_id(resource: &str) -> &str {
    match crate::arn::Arn::parse(resource) {
        Some(arn) => arn
            .resource
            .rsplit(['/', ':'])
            .next()
            .unwrap_or(arn.resource),
        None => resource,
    }
}

/// Letters, digits and `-_.`, 1 to 255 of them.
fn is_name(text: &str) -> bool {
    (1..=255).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The stack that owns the incident's resources, from their `aws:cloudformation:stack-name`
/// tag (today the diagnosed VPN's).
pub fn stack_of(diagnosis: Option<&Diagnosis>) -> Option<String> {
    let vpn = diagnosis?.vpn.as_ref()?;
    vpn.connection
        .tags
        .get(STACK_TAG)
        .filter(|name| is_name(name))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_come_from_arns_and_only_names_are_looked_up() {
        assert_eq!(
            resource_id("arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc"),
            "i-0abc"
        );
        assert_eq!(
            resource_id("arn:aws:lambda:eu-west-1:111122223333:function:orders"),
            "orders"
        );
        assert_eq!(resource_id("vpn-0123"), "vpn-0123");
        assert!(is_name("i-0123456789abcdef0"));
        assert!(!is_name(""));
        assert!(!is_name("a b"));
        assert!(!is_name("x\" OR"));
    }
}
