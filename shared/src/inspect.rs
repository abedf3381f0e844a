//! The resource behind an alarm, for the kinds operators see most after EC2: a Lambda function,
//! a load balancer's target group, an RDS DB instance. Which one an alarm names
//! ([`subject_of`]), the facts a responder looks up first about it, and the sentences for them.
//! Plain Rust types, no SDK types, no I/O: the [`crate::ports::Functions`],
//! [`crate::ports::LogQueries`], [`crate::ports::TargetGroups`] and [`crate::ports::Databases`]
//! ports return them, the `inspect` stage gathers them, and `Resource Inspected` carries them as
//! its `inspection`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{one_line, trim_chars, Signal, SignalKind};

/// The longest quoted line (a log line, a reason, an event).
const QUOTE_MAX: usize = 240;

/// The resource an alarm is about, from its metric's namespace and dimensions (validated: a
/// dimension value becomes an API parameter and an ARN, never anything else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// `AWS/Lambda` `FunctionName` (with `Resource` `name:qualifier` when the alarm is on an
    /// alias or a version).
    Function {
        name: String,
        qualifier: Option<String>,
    },
    /// `AWS/ApplicationELB` or `AWS/NetworkELB` `TargetGroup` (`targetgroup/<name>/<id>`): its
    /// ARN in the signal's account and region.
    TargetGroup { arn: String },
    /// `AWS/RDS` `DBInstanceIdentifier`.
    Database { id: String },
}

impl Subject {
    /// What it is, in words: `Lambda function orders-api`.
    pub fn label(&self) -> String {
        match self {
            Subject::Function { name, qualifier } => match qualifier {
                Some(q) => format!("Lambda function {name}:{q}"),
                None => format!("Lambda function {name}"),
            },
            Subject::TargetGroup { arn } => {
                format!("target group {}", target_group_name(arn).unwrap_or(arn))
            }
            Subject::Database { id } => format!("RDS instance {id}"),
        }
    }
}

/// The Lambda function, target group or RDS instance a metric or composite alarm names; `None`
/// for any other signal.
pub fn subject_of(signal: &Signal) -> Option<Subject> {
    if !matches!(
        signal.kind,
        SignalKind::MetricAlarm | SignalKind::CompositeAlarm
    ) {
        return None;
    }
    signal.metrics.iter().find_map(|metric| {
        let dim = |key: &str| metric.dimensions.get(key).map(|v| v.trim());
        match metric.namespace.as_deref()? {
            "AWS/Lambda" => {
                let name = dim("FunctionName").filter(|n| is_function_name(n))?;
                let qualifier = dim("Resource")
                    .and_then(|r| r.strip_prefix(name)?.strip_prefix(':'))
                    .filter(|q| is_qualifier(q))
                    .map(str::to_string);
                Some(Subject::Function {
                    name: name.to_string(),
                    qualifier,
                })
            }
            "AWS/ApplicationELB" | "AWS/NetworkELB" => {
                let resource = dim("TargetGroup").filter(|t| target_group_name(t).is_some())?;
                Some(Subject::TargetGroup {
                    arn: crate::arn::format(
                        &signal.region,
                        &signal.account,
                        "elasticloadbalancing",
                        resource,
                    ),
                })
            }
            "AWS/RDS" => {
                let id = dim("DBInstanceIdentifier").filter(|i| is_db_instance_id(i))?;
                Some(Subject::Database { id: id.to_string() })
            }
            _ => None,
        }
    })
}

/// 1 to 64 letters, digits, hyphens and underscores (Lambda's function name).
pub fn is_function_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// An alias or a version: 1 to 128 letters, digits, hyphens and underscores.
pub fn is_qualifier(q: &str) -> bool {
    (1..=128).contains(&q.len())
        && q.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// 1 to 63 letters, digits and hyphens, starting with a letter, no `--`, not ending in `-`.
pub fn is_db_instance_id(id: &str) -> bool {
    (1..=63).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !id.contains("--")
        && !id.ends_with('-')
}

/// The name in a target group's resource (`targetgroup/<name>/<16 hex digits>`, or the ARN
/// ending in it), when it has that form: 1 to 32 letters, digits and hyphens.
pub fn target_group_name(resource: &str) -> Option<&str> {
    let tail = match resource.rsplit_once(":targetgroup/") {
        Some((_, tail)) => tail,
        None => resource.strip_prefix("targetgroup/")?,
    };
    let (name, id) = tail.split_once('/')?;
    let name_ok = (1..=32).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let id_ok = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
    (name_ok && id_ok).then_some(name)
}

/// What `inspect` found (**contract**: the `inspection` of `Resource Inspected`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group: Option<TargetGroupFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseFacts>,
    /// What was not gathered, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A Lambda function as `GetFunction` reports it, with its latest error lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionFacts {
    pub name: String,
    pub arn: String,
    /// `$LATEST` or the published version the alias or qualifier points at.
    pub version: String,
    /// `python3.12`, …; `None` for a container image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<DateTime<Utc>>,
    /// `Active`, `Pending`, `Inactive`, `Failed`, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    /// The last update's status when it is not `Successful` (`Failed`, `InProgress`), and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update: Option<String>,
    /// Reserved concurrency; `None` when the function uses the account's unreserved pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_concurrency: Option<i32>,
    /// Where the function logs (its logging configuration, else `/aws/lambda/<name>`).
    pub log_group: String,
    /// The latest error lines of its logs, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<LogLine>,
}

/// One line of a log, as Logs Insights returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<DateTime<Utc>>,
    pub message: String,
}

/// A target group and its targets' health (`DescribeTargetGroups`, `DescribeTargetHealth`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroupFacts {
    pub arn: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// `instance`, `ip`, `lambda`, `alb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<String>,
    /// `HTTP /health on traffic-port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<String>,
    /// The load balancers' ARNs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancers: Vec<String>,
    pub targets: Vec<TargetHealth>,
}

/// One target's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetHealth {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// `initial`, `healthy`, `unhealthy`, `unhealthy.draining`, `unused`, `draining`,
    /// `unavailable`.
    pub state: String,
    /// `Target.ResponseCodeMismatch`, `Target.Timeout`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl TargetHealth {
    pub fn is_healthy(&self) -> bool {
        self.state == "healthy"
    }

    /// Health checks are off for the group (a Lambda target's default): the load balancer
    /// sends it traffic as if healthy.
    fn unchecked(&self) -> bool {
        self.state == "unavailable" && self.reason.as_deref() == Some("Target.HealthCheckDisabled")
    }

    /// Taking traffic: healthy, or unchecked.
    pub fn is_serving(&self) -> bool {
        self.is_healthy() || self.unchecked()
    }

    /// A target that keeps a recovery from being verified: failing or not yet passing its
    /// health checks, or stopped/terminated under the target group (`unused` with
    /// `Target.InvalidState`). Draining targets, unchecked ones and ones unused for other
    /// reasons (an availability zone the load balancer does not use) do not.
    pub fn blocks(&self) -> bool {
        match self.state.as_str() {
            "healthy" | "draining" => false,
            "unused" => self.reason.as_deref() == Some("Target.InvalidState"),
            _ => !self.unchecked(),
        }
    }

    /// `i-0abc:80 unhealthy (Target.ResponseCodeMismatch: Health checks failed with these
    /// codes: [502])`.
    pub fn line(&self) -> String {
        let mut text = self.id.clone();
        if let Some(port) = self.port {
            text.push_str(&format!(":{port}"));
        }
        text.push(' ');
        text.push_str(&self.state);
        match (&self.reason, &self.description) {
            (Some(r), Some(d)) => text.push_str(&format!(" ({r}: {d})")),
            (Some(r), None) => text.push_str(&format!(" ({r})")),
            (None, Some(d)) => text.push_str(&format!(" ({d})")),
            (None, None) => {}
        }
        trim_chars(&one_line(&text), QUOTE_MAX)
    }
}

/// Whether a target group's targets show a recovery: at least one serving, none blocking.
pub fn targets_ok(targets: &[TargetHealth]) -> bool {
    targets.iter().any(TargetHealth::is_serving) && !targets.iter().any(TargetHealth::blocks)
}

/// The target-group metrics whose recovery the targets' health must confirm (a 5XX alarm
/// recovers by its own metric: a target failing for another reason is not what it was about).
pub const TARGET_HEALTH_METRICS: &[&str] = &["UnHealthyHostCount", "HealthyHostCount"];

/// An RDS DB instance (`DescribeDBInstances`) and its recent events (`DescribeEvents`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseFacts {
    pub id: String,
    pub arn: String,
    /// `db.t3.micro`, …
    pub class: String,
    pub engine: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    /// `available`, `storage-full`, `rebooting`, …
    pub status: String,
    #[serde(default)]
    pub multi_az: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_gib: Option<i32>,
    /// Storage autoscaling's ceiling, where it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_storage_gib: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_type: Option<String>,
    /// Events of the instance, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<DbEvent>,
}

/// One RDS event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<DateTime<Utc>>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

fn utc(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A quoted line, on one line and bounded.
pub fn quote(text: &str) -> String {
    trim_chars(&one_line(text), QUOTE_MAX)
}

impl FunctionFacts {
    /// `Lambda function orders-api ($LATEST, python3.12, 512 MB, 30 s timeout), last modified
    /// 2026-12-06 03:41 UTC, reserved concurrency 10`, with its state when it is not `Active`.
    pub fn line(&self) -> String {
        let mut parts = vec![self.version.clone()];
        parts.extend(self.runtime.clone());
        parts.extend(self.memory_mb.map(|m| format!("{m} MB")));
        parts.extend(self.timeout_s.map(|t| format!("{t} s timeout")));
        let mut text = format!("Lambda function {} ({})", self.name, parts.join(", "));
        if let Some(state) = self.state.as_deref().filter(|s| *s != "Active") {
            text.push_str(&format!(", state {state}"));
            if let Some(reason) = &self.state_reason {
                text.push_str(&format!(" ({})", quote(reason)));
            }
        }
        if let Some(update) = &self.last_update {
            text.push_str(&format!(", last update {update}"));
        }
        if let Some(at) = self.last_modified {
            text.push_str(&format!(", last modified {}", utc(at)));
        }
        match self.reserved_concurrency {
            Some(0) => text.push_str(", reserved concurrency 0 (every invocation is throttled)"),
            Some(n) => text.push_str(&format!(", reserved concurrency {n}")),
            None => text.push_str(", no reserved concurrency"),
        }
        quote(&text)
    }
}

impl TargetGroupFacts {
    pub fn healthy(&self) -> usize {
        self.targets.iter().filter(|t| t.is_healthy()).count()
    }

    /// `Target group web-tg (HTTP:80, instance targets, health check HTTP /health): 1 of 3
    /// targets healthy`.
    pub fn line(&self) -> String {
        let text = self.described();
        if self.targets.is_empty() {
            return quote(&format!("{text}: no targets registered"));
        }
        quote(&format!(
            "{text}: {} of {} targets healthy",
            self.healthy(),
            self.targets.len()
        ))
    }

    /// `Target group web-tg (HTTP:80, instance targets, health check HTTP /health)`, without
    /// its targets (when their health could not be read).
    pub fn described(&self) -> String {
        let mut kind = Vec::new();
        match (&self.protocol, self.port) {
            (Some(p), Some(port)) => kind.push(format!("{p}:{port}")),
            (Some(p), None) => kind.push(p.clone()),
            _ => {}
        }
        kind.extend(self.target_type.as_ref().map(|t| format!("{t} targets")));
        kind.extend(
            self.health_check
                .as_ref()
                .map(|h| format!("health check {h}")),
        );
        let mut text = format!("Target group {}", self.name);
        if !kind.is_empty() {
            text.push_str(&format!(" ({})", kind.join(", ")));
        }
        quote(&text)
    }
}

impl DatabaseFacts {
    /// `RDS instance orders-db (db.t3.micro, postgres 16.3, Multi-AZ): available, 20 GiB gp3
    /// (autoscaling to 100 GiB)`.
    pub fn line(&self) -> String {
        let mut parts = vec![self.class.clone()];
        match &self.engine_version {
            Some(v) => parts.push(format!("{} {v}", self.engine)),
            None => parts.push(self.engine.clone()),
        }
        parts.push(
            if self.multi_az {
                "Multi-AZ"
            } else {
                "Single-AZ"
            }
            .to_string(),
        );
        let mut text = format!(
            "RDS instance {} ({}): {}",
            self.id,
            parts.join(", "),
            self.status
        );
        if let Some(gib) = self.storage_gib {
            text.push_str(&format!(", {gib} GiB"));
            if let Some(kind) = &self.storage_type {
                text.push_str(&format!(" {kind}"));
            }
            if let Some(max) = self.max_storage_gib.filter(|m| *m > gib) {
                text.push_str(&format!(" (autoscaling to {max} GiB)"));
            }
        }
        quote(&text)
    }
}

impl DbEvent {
    /// `2026-12-06 03:12 UTC: Finished DB instance backup`.
    pub fn line(&self) -> String {
        match self.time {
            Some(at) => quote(&format!("{}: {}", utc(at), self.message)),
            None => quote(&self.message),
        }
    }
}

impl LogLine {
    pub fn line(&self) -> String {
        match self.time {
            Some(at) => quote(&format!("{} {}", at.format("%H:%M:%S"), self.message)),
            None => quote(&self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MetricRef;

    fn alarm(namespace: &str, dims: &[(&str, &str)]) -> Signal {
        let event = crate::handlers::testkit::fixture("cloudwatch-alarm-lambda-errors");
        let Ok(crate::sources::Parsed::Signals(mut signals)) = crate::sources::parse(&event) else {
            panic!("the fixture is not a signal");
        };
        let mut signal = signals.remove(0);
        signal.metrics = vec![MetricRef {
            namespace: Some(namespace.to_string()),
            name: Some("Errors".to_string()),
            dimensions: dims
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..MetricRef::default()
        }];
        signal
    }

    #[test]
    fn an_alarm_names_its_function_target_group_or_database() {
        let f = alarm(
            "AWS/Lambda",
            &[
                ("FunctionName", "orders-api"),
                ("Resource", "orders-api:live"),
            ],
        );
        assert_eq!(
            subject_of(&f),
            Some(Subject::Function {
                name: "orders-api".into(),
                qualifier: Some("live".into())
            })
        );
        let tg = alarm(
            "AWS/ApplicationELB",
            &[
                ("TargetGroup", "targetgroup/web-tg/0123456789abcdef"),
                ("LoadBalancer", "app/web/fedcba9876543210"),
            ],
        );
        let Some(Subject::TargetGroup { arn }) = subject_of(&tg) else {
            panic!("no target group in {tg:?}");
        };
        assert!(
            arn.ends_with(":targetgroup/web-tg/0123456789abcdef"),
            "{arn}"
        );
        assert_eq!(target_group_name(&arn), Some("web-tg"));
        let db = alarm("AWS/RDS", &[("DBInstanceIdentifier", "orders-db")]);
        assert_eq!(
            subject_of(&db),
            Some(Subject::Database {
                id: "orders-db".into()
            })
        );
    }

    #[test]
    fn a_forged_dimension_names_nothing() {
        for (ns, key, value) in [
            ("AWS/Lambda", "FunctionName", "orders api"),
            ("AWS/Lambda", "FunctionName", "../../x"),
            ("AWS/ApplicationELB", "TargetGroup", "targetgroup/web/xyz"),
            (
                "AWS/ApplicationELB",
                "TargetGroup",
                "loadbalancer/app/web/0123456789abcdef",
            ),
            ("AWS/RDS", "DBInstanceIdentifier", "1db"),
            ("AWS/RDS", "DBInstanceIdentifier", "db--x"),
            ("AWS/EC2", "FunctionName", "orders-api"),
        ] {
            assert_eq!(
                subject_of(&alarm(ns, &[(key, value)])),
                None,
                "{ns} {key}={value}"
            );
        }
    }

    #[test]
    fn a_target_group_recovers_with_a_healthy_target_and_none_failing() {
        let t = |state: &str, reason: Option<&str>| TargetHealth {
            id: "i-0abc".into(),
            port: Some(80),
            zone: None,
            state: state.into(),
            reason: reason.map(str::to_string),
            description: None,
        };
        assert!(targets_ok(&[t("healthy", None), t("draining", None)]));
        assert!(targets_ok(&[
            t("healthy", None),
            t("unused", Some("Target.NotInUse"))
        ]));
        assert!(!targets_ok(&[]));
        assert!(!targets_ok(&[t("healthy", None), t("unhealthy", None)]));
        assert!(!targets_ok(&[t("healthy", None), t("initial", None)]));
        assert!(!targets_ok(&[
            t("healthy", None),
            t("unused", Some("Target.InvalidState"))
        ]));
        // A Lambda target group's health checks are off by default.
        assert!(targets_ok(&[t(
            "unavailable",
            Some("Target.HealthCheckDisabled")
        )]));
        assert!(!targets_ok(&[t("unavailable", Some("Elb.InternalError"))]));
    }
}
