//! What changed before an incident: the write calls CloudTrail recorded for its resources, the
//! CloudFormation stack that owns them, and the open AWS Health issues of their services, the
//! first question of every responder ("what changed?"). Plain Rust types, no SDK types, no I/O:
//! the [`crate::ports::Trail`], [`crate::ports::Stacks`] and [`crate::ports::Health`] ports
//! return them, the `changes` stage gathers them, and
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

/// What one `LookupEvents` look-up found: the write calls, and how far back it looked when its
/// pages ran out before the look-back's start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrailLookup {
    pub events: Vec<TrailEvent>,
    /// The oldest event examined, when more were left unread (a resource busy with reads).
    pub examined_back_to: Option<DateTime<Utc>>,
}

/// One change, as the responder shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub time: DateTime<Utc>,
    /// What was done: the API call (`ModifyInstanceAttribute`), or the stack's status.
    pub what: String,
    /// What it was done to: the resource looked up, or `stack <name>`.
    pub on: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The CloudTrail event's id (its console page is built from it, never taken from an
    /// event); `None` for the stack's own change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

/// What changed before the incident (**contract**: `Changes Gathered`'s `changes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// The look-back: from `since` (before the signal fired) to `until` (when the incident was
    /// diagnosed).
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// The resources looked up in CloudTrail.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Whether anything could be read: `false` when every look-up failed (the notes say why),
    /// so that "nothing changed" is never said of what was not looked at.
    #[serde(default)]
    pub gathered: bool,
    /// Newest first.
    #[serde(default)]
    pub items: Vec<Change>,
    /// The stack that owns the incident's resources, if one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<StackFacts>,
    /// Open AWS Health issues of the resources' services in the signal's region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health: Vec<HealthIssue>,
    /// What was not gathered, and why ("CloudTrail: not gathered for i-0abc: AccessDenied").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// An open AWS Health issue (`DescribeEvents`: category `issue`, status `open`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthIssue {
    /// The event's ARN (`arn:aws:health:us-east-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/…`).
    pub arn: String,
    /// Health's service code: `EC2`, `VPN`, `LAMBDA`, …
    pub service: String,
    /// `AWS_EC2_OPERATIONAL_ISSUE`, …
    pub event_type: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<DateTime<Utc>>,
}

/// The AWS Health service codes of the resources looked up (`VPN` for a VPN connection, else
/// the service of the resource's CloudTrail source), each once, in order.
pub fn health_services(lookups: &[Lookup]) -> Vec<String> {
    let mut services: Vec<String> = Vec::new();
    for lookup in lookups {
        let code = if crate::diagnosis::is_vpn_id(&lookup.name) {
            "VPN"
        } else {
            match lookup.source {
                "ec2.amazonaws.com" => "EC2",
                "lambda.amazonaws.com" => "LAMBDA",
                "rds.amazonaws.com" => "RDS",
                "autoscaling.amazonaws.com" => "AUTOSCALING",
                "dynamodb.amazonaws.com" => "DYNAMODB",
                "sqs.amazonaws.com" => "SQS",
                "s3.amazonaws.com" => "S3",
                _ => continue,
            }
        };
        if !services.iter().any(|s| s == code) {
            services.push(code.to_string());
        }
    }
    services
}

/// A resource to look up: its name, and the service whose calls count (CloudTrail's
/// `EventSource`), since a bare name (`orders`) can name a table, a queue and a function alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub name: String,
    pub source: &'static str,
}

/// The dimensions whose value names a resource, and the service that owns it.
const RESOURCE_DIMENSIONS: &[(&str, &str)] = &[
    ("InstanceId", "ec2.amazonaws.com"),
    ("VpnId", "ec2.amazonaws.com"),
    ("FunctionName", "lambda.amazonaws.com"),
    ("DBInstanceIdentifier", "rds.amazonaws.com"),
    ("DBClusterIdentifier", "rds.amazonaws.com"),
    ("AutoScalingGroupName", "autoscaling.amazonaws.com"),
    ("TableName", "dynamodb.amazonaws.com"),
    ("QueueName", "sqs.amazonaws.com"),
    ("BucketName", "s3.amazonaws.com"),
];

/// The resources to look up for an incident, at most [`RESOURCES_MAX`]: the diagnosed VPN, the
/// alarm's resource dimensions, then the signal's resources of a kind named here (an ARN by its
/// resource's name; the alarm itself is not one of them, what it watches is). Only names of
/// AWS identifier characters: a value from an event never becomes a look-up of something else.
pub fn resources_of(signal: &Signal, diagnosis: Option<&Diagnosis>) -> Vec<Lookup> {
    let mut found: Vec<Lookup> = Vec::new();
    let mut add = |name: &str, source: &'static str| {
        let name = name.trim();
        if found.len() < RESOURCES_MAX && is_name(name) && !found.iter().any(|l| l.name == name) {
            found.push(Lookup {
                name: name.to_string(),
                source,
            });
        }
    };
    if let Some(vpn) = diagnosis.and_then(|d| d.vpn.as_ref()) {
        add(&vpn.connection.id, "ec2.amazonaws.com");
    }
    if let Some(facts) = diagnosis.and_then(|d| d.instance.as_ref()) {
        add(&facts.instance.id, "ec2.amazonaws.com");
    }
    for metric in &signal.metrics {
        for (name, value) in &metric.dimensions {
            if let Some((_, source)) = RESOURCE_DIMENSIONS.iter().find(|(d, _)| d == name) {
                add(value, source);
            }
        }
    }
    for resource in std::iter::once(&signal.resource).chain(&signal.resources) {
        if let Some((name, source)) = named(resource) {
            add(name, source);
        }
    }
    found
}

/// The name CloudTrail records a resource by, and its service, for the ARNs (and EC2 ids) of
/// the kinds the responder knows; `None` for any other.
fn named(resource: &str) -> Option<(&str, &'static str)> {
    let Some(arn) = crate::arn::Arn::parse(resource) else {
        let ec2 = [
            "i-", "vpn-", "vgw-", "tgw-", "cgw-", "vpc-", "sg-", "subnet-",
        ];
        return ec2
            .iter()
            .any(|p| resource.starts_with(p))
            .then_some((resource, "ec2.amazonaws.com"));
    };
    let r = arn.resource;
    match arn.service {
        // instance/i-…, vpn-connection/vpn-…, security-group/sg-…
        "ec2" => r.split_once('/').map(|(_, id)| (id, "ec2.amazonaws.com")),
        // function:<name>[:<qualifier>]
        "lambda" => r.strip_prefix("function:").map(|rest| {
            (
                rest.split(':').next().unwrap_or(rest),
                "lambda.amazonaws.com",
            )
        }),
        // db:<name>, cluster:<name>
        "rds" => r
            .strip_prefix("db:")
            .or_else(|| r.strip_prefix("cluster:"))
            .map(|name| (name, "rds.amazonaws.com")),
        // table/<name> (not its indexes or streams)
        "dynamodb" => r
            .strip_prefix("table/")
            .filter(|name| !name.contains('/'))
            .map(|name| (name, "dynamodb.amazonaws.com")),
        "sqs" => Some((r, "sqs.amazonaws.com")),
        "s3" if !r.contains('/') => Some((r, "s3.amazonaws.com")),
        _ => None,
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
/// tag as the diagnosis read it (the VPN's or the instance's: each diagnosis kind that reads its
/// resource's tags adds its own).
pub fn stack_of(diagnosis: Option<&Diagnosis>) -> Option<String> {
    let diagnosis = diagnosis?;
    let vpn = diagnosis.vpn.as_ref().map(|v| &v.connection.tags);
    let instance = diagnosis.instance.as_ref().map(|i| &i.instance.tags);
    vpn.into_iter()
        .chain(instance)
        .filter_map(|tags| tags.get(STACK_TAG))
        .find(|name| is_name(name))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_named_as_cloudtrail_records_them_with_their_service() {
        let cases = [
            (
                "arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc",
                Some(("i-0abc", "ec2.amazonaws.com")),
            ),
            (
                "arn:aws:lambda:eu-west-1:111122223333:function:orders:live",
                Some(("orders", "lambda.amazonaws.com")),
            ),
            (
                "arn:aws:rds:eu-west-1:111122223333:db:orders-db",
                Some(("orders-db", "rds.amazonaws.com")),
            ),
            (
                "arn:aws:dynamodb:eu-west-1:111122223333:table/orders/index/by-date",
                None,
            ),
            ("arn:aws:iam::111122223333:root", None),
            (
                "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:orders-failing",
                None,
            ),
            ("vpn-0123", Some(("vpn-0123", "ec2.amazonaws.com"))),
            ("orders", None),
        ];
        for (resource, expected) in cases {
            assert_eq!(named(resource), expected, "{resource}");
        }
        assert!(is_name("i-0123456789abcdef0"));
        assert!(!is_name(""));
        assert!(!is_name("a b"));
        assert!(!is_name("x\" OR"));
    }

    #[test]
    fn an_instance_is_looked_up_and_its_stack_tag_names_the_stack() {
        use crate::diagnosis::{Instance, InstanceFacts};
        let diagnosis = Diagnosis {
            instance: Some(InstanceFacts {
                instance: Instance {
                    id: "i-0123456789abcdef0".into(),
                    tags: [(STACK_TAG.to_string(), "web".to_string())]
                        .into_iter()
                        .collect(),
                    ..Instance::default()
                },
                health: None,
                console: Vec::new(),
            }),
            ..Diagnosis::default()
        };
        assert_eq!(stack_of(Some(&diagnosis)).as_deref(), Some("web"));
        assert_eq!(stack_of(Some(&Diagnosis::default())), None);
        // A composite alarm names no resource of its own: the instance comes from the diagnosis.
        let event: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/events/cloudwatch-alarm-composite.json"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let signal = match crate::sources::parse(&event) {
            Ok(crate::sources::Parsed::Signals(mut s)) => s.remove(0),
            other => panic!("{other:?}"),
        };
        assert!(resources_of(&signal, None).is_empty());
        let found = resources_of(&signal, Some(&diagnosis));
        assert_eq!(found[0].name, "i-0123456789abcdef0");
        assert_eq!(found[0].source, "ec2.amazonaws.com");
    }
}
