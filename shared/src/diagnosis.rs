//! What the `enrich` stage gathers about an incident and the `runbook` stage acts on: plain
//! Rust types, no SDK types, no I/O. The network, instance and metric ports return them, and the
//! `Incident Enriched` event carries them as its `diagnosis`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::arn::Arn;
use crate::domain::{IncidentSummary, Signal};

/// A tunnel's status as `DescribeVpnConnections` reports it in `VgwTelemetry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TunnelStatus {
    Up,
    Down,
}

impl TunnelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TunnelStatus::Up => "UP",
            TunnelStatus::Down => "DOWN",
        }
    }
}

/// A tunnel's logging to CloudWatch Logs (`TunnelOptions[].LogOptions.CloudWatchLogOptions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelLog {
    pub enabled: bool,
    /// `arn:aws:logs:<region>:<account>:log-group:<name>` (sometimes with a trailing `:*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_arn: Option<String>,
    /// `json` or `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

impl TunnelLog {
    /// The log group's name, from its ARN.
    pub fn group_name(&self) -> Option<&str> {
        let arn = self.group_arn.as_deref()?;
        let (_, rest) = arn.split_once(":log-group:")?;
        let name = rest.strip_suffix(":*").unwrap_or(rest);
        (!name.is_empty()).then_some(name)
    }
}

/// One tunnel of a VPN connection: its telemetry merged with its options, by outside IP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tunnel {
    pub outside_ip: String,
    /// From `VgwTelemetry`; `None` when the connection reports no telemetry for this tunnel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TunnelStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status_change: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_routes: Option<i32>,
    /// `TunnelOptions[].IkeVersions[].Value`, as the API spells them (`ikev1`, `ikev2`); empty
    /// when the tunnel allows the defaults (both).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ike_versions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<TunnelLog>,
}

/// A Site-to-Site VPN connection as `DescribeVpnConnections` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VpnConnection {
    pub id: String,
    /// `pending`, `available`, `deleting`, `deleted`.
    pub state: String,
    /// `VPN` or `VPN-Classic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// `ipsec.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpn_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_gateway_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpn_gateway_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transit_gateway_id: Option<String>,
    /// In the order `VgwTelemetry` lists them (tunnel 1, tunnel 2); tunnels that only appear in
    /// the options follow.
    #[serde(default)]
    pub tunnels: Vec<Tunnel>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// Which kind of AWS-side gateway terminates a VPN connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewayKind {
    VpnGateway,
    TransitGateway,
}

/// The AWS side of a VPN: a virtual private gateway or a transit gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gateway {
    pub kind: GatewayKind,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amazon_side_asn: Option<i64>,
    /// The VPCs a virtual private gateway is attached to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vpc_ids: Vec<String>,
}

/// The customer side of a VPN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerGateway {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp_asn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// One metric to read with `GetMetricData` (a `MetricStat` query).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricQuery {
    /// The query id: lowercase letter first, then letters, digits, underscores.
    pub id: String,
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    /// `Minimum`, `Maximum`, `Average`, …
    pub stat: String,
    /// Seconds.
    pub period: u32,
}

/// The datapoints of one query, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSeries {
    pub id: String,
    pub points: Vec<(DateTime<Utc>, f64)>,
}

/// The `TunnelState` history of one tunnel over the look-back window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TunnelHistory {
    pub outside_ip: String,
    /// Datapoints seen in the window.
    pub points: usize,
    /// The latest value (1 up, 0 down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_value: Option<f64>,
    /// When the current run of "down" datapoints began, if the tunnel is down now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_since: Option<DateTime<Utc>>,
}

/// Everything known about a VPN incident's connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VpnFacts {
    pub connection: VpnConnection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Gateway>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_gateway: Option<CustomerGateway>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tunnel_history: Vec<TunnelHistory>,
}

/// An EC2 instance as `DescribeInstances` reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub id: String,
    /// `pending`, `running`, `stopping`, `stopped`, `shutting-down` or `terminated`.
    pub state: String,
    /// Why it last changed state (`StateReason.Message`), when EC2 says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_time: Option<DateTime<Utc>>,
    /// `PlatformDetails` (`Linux/UNIX`, `Windows`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

impl Instance {
    /// Its `Name` tag, if it has a usable one.
    pub fn name(&self) -> Option<&str> {
        self.tags
            .get("Name")
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())
    }
}

/// One status check of `DescribeInstanceStatus` (system, instance or attached EBS).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCheck {
    /// `ok`, `impaired`, `insufficient-data`, `not-applicable` or `initializing`.
    pub status: String,
    /// When its reachability check started failing (`ImpairedSince`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impaired_since: Option<DateTime<Utc>>,
}

impl StatusCheck {
    pub fn is_impaired(&self) -> bool {
        self.status == "impaired"
    }
}

/// A scheduled event of an instance (a reboot, a retirement, maintenance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledEvent {
    /// `instance-reboot`, `system-reboot`, `system-maintenance`, `instance-retirement`,
    /// `instance-stop`.
    pub code: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<DateTime<Utc>>,
}

impl ScheduledEvent {
    /// EC2 keeps a completed or cancelled event for a while, its description starting
    /// `[Completed]` or `[Canceled]`.
    pub fn is_done(&self) -> bool {
        self.description.starts_with("[Completed]") || self.description.starts_with("[Canceled]")
    }
}

/// `DescribeInstanceStatus` for one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceHealth {
    pub system: StatusCheck,
    pub instance: StatusCheck,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebs: Option<StatusCheck>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<ScheduledEvent>,
}

impl InstanceHealth {
    /// The system and instance checks are `ok`, and the attached-EBS check (where reported) is
    /// not impaired: what resolve verifies and the diagnosis calls passing.
    pub fn is_ok(&self) -> bool {
        self.system.status == "ok"
            && self.instance.status == "ok"
            && !self.ebs.as_ref().is_some_and(StatusCheck::is_impaired)
    }
}

/// Everything known about an EC2 instance incident's instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceFacts {
    pub instance: Instance,
    /// Its status checks; `None` when they could not be read (the notes say why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<InstanceHealth>,
    /// The last lines of its console output (`GetConsoleOutput`), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub console: Vec<String>,
}

/// The diagnosis `enrich` writes onto an incident and publishes with `Incident Enriched`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// One line a human reads in five seconds.
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpn: Option<VpnFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<InstanceFacts>,
    /// What could not be read, one sentence each ("could not read vpn-…: AccessDenied").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A request to start an SSM Automation runbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomationRequest {
    pub document: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub parameters: BTreeMap<String, Vec<String>>,
    /// UUID-shaped (SSM requires it), derived from the incident so a retry cannot start twice.
    pub client_token: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// An automation execution as `GetAutomationExecution` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomationExecution {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    /// `AutomationExecutionStatus` as SSM spells it (`InProgress`, `Success`, `Failed`, …).
    pub status: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<DateTime<Utc>>,
}

/// What the `runbook` stage did, carried by `Runbook Started` and `Runbook Finished`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunbookRun {
    pub document: String,
    pub execution_id: String,
    /// The execution's status (`InProgress` when started).
    pub status: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
}

/// The VPN connection a signal names: its `VpnId` dimension or tag, else a `vpn-…` resource of
/// the signal or the incident. A per-tunnel signal names only its tunnel: see [`tunnel_ip`].
/// (enrich describes this connection; resolve verifies it.)
pub fn named_vpn(signal: &Signal, incident: &IncidentSummary) -> Option<String> {
    named(signal, incident, "VpnId", vpn_id_in)
}

/// The EC2 instance a signal names: its `InstanceId` dimension or tag, else an `i-…` id or EC2
/// `instance/…` ARN among the signal's or the incident's resources. (enrich describes this
/// instance; resolve verifies it; changes looks its writes up.)
pub fn named_instance(signal: &Signal, incident: &IncidentSummary) -> Option<String> {
    named(signal, incident, "InstanceId", instance_id_in)
}

/// The resource a signal names by its dimension or tag `key`, else among the signal's or the
/// incident's resources, as `id_in` reads one.
fn named(
    signal: &Signal,
    incident: &IncidentSummary,
    key: &str,
    id_in: fn(&str) -> Option<&str>,
) -> Option<String> {
    [signal.dimension(key), signal.tag(key)]
        .into_iter()
        .flatten()
        .chain(std::iter::once(signal.resource.as_str()))
        .chain(signal.resources.iter().map(String::as_str))
        .chain(incident.resources.iter().map(String::as_str))
        .find_map(id_in)
        .map(str::to_string)
}

/// The tunnel outside IP a per-tunnel signal names (its `TunnelIpAddress` dimension).
pub fn tunnel_ip(signal: &Signal) -> Option<&str> {
    signal
        .dimension("TunnelIpAddress")
        .map(str::trim)
        .filter(|ip| ip.parse::<IpAddr>().is_ok())
}

/// How many lowercase hex digits follow `prefix` in `text`, when nothing else does.
fn hex_digits(text: &str, prefix: &str) -> Option<usize> {
    let hex = text.strip_prefix(prefix)?;
    hex.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        .then_some(hex.len())
}

/// `vpn-` and 8 to 17 lowercase hex digits (the runbook's `VpnConnectionId` pattern).
pub fn is_vpn_id(text: &str) -> bool {
    hex_digits(text, "vpn-").is_some_and(|n| (8..=17).contains(&n))
}

/// `i-` and 8 or 17 lowercase hex digits (the runbooks' `InstanceId` pattern).
pub fn is_instance_id(text: &str) -> bool {
    hex_digits(text, "i-").is_some_and(|n| n == 8 || n == 17)
}

/// The VPN connection id a resource names: a bare `vpn-…` id or an EC2 `vpn-connection/…` ARN.
fn vpn_id_in(resource: &str) -> Option<&str> {
    ec2_id_in(resource, "vpn-connection/").filter(|id| is_vpn_id(id))
}

/// The instance id a resource names: a bare `i-…` id or an EC2 `instance/…` ARN.
fn instance_id_in(resource: &str) -> Option<&str> {
    ec2_id_in(resource, "instance/").filter(|id| is_instance_id(id))
}

/// A bare id, or the id in an EC2 ARN whose resource starts with `kind` (`instance/`).
fn ec2_id_in<'a>(resource: &'a str, kind: &str) -> Option<&'a str> {
    let resource = resource.trim();
    match Arn::parse(resource) {
        Some(arn) if arn.service == "ec2" => arn.resource.strip_prefix(kind),
        Some(_) => None,
        None => Some(resource),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_group_name_comes_from_the_arn() {
        let log = |arn: &str| TunnelLog {
            enabled: true,
            group_arn: Some(arn.to_string()),
            format: Some("json".into()),
        };
        assert_eq!(
            log("arn:aws:logs:eu-west-1:111122223333:log-group:/vpn/tunnels:*").group_name(),
            Some("/vpn/tunnels")
        );
        assert_eq!(
            log("arn:aws:logs:eu-west-1:111122223333:log-group:vpn-logs").group_name(),
            Some("vpn-logs")
        );
        assert_eq!(log("not-an-arn").group_name(), None);
    }

    #[test]
    fn vpn_ids_are_recognised_in_ids_and_arns() {
        assert!(is_vpn_id("vpn-0123456789abcdef0"));
        assert!(is_vpn_id("vpn-1a2b3c4d"));
        assert!(!is_vpn_id("vpn-1a2b3c4"));
        assert!(!is_vpn_id("vpn-0123456789ABCDEF0"));
        assert!(!is_vpn_id("vpn-XYZ") && !is_vpn_id("vpn-0123"));
        assert_eq!(
            vpn_id_in("arn:aws:ec2:eu-west-1:111122223333:vpn-connection/vpn-0123456789abcdef0"),
            Some("vpn-0123456789abcdef0")
        );
        assert_eq!(
            vpn_id_in(" vpn-0123456789abcdef0 "),
            Some("vpn-0123456789abcdef0")
        );
        assert_eq!(
            vpn_id_in("arn:aws:s3:::vpn-0123456789abcdef0"),
            None,
            "another service's resource is not a VPN"
        );
        assert_eq!(vpn_id_in("arn:aws:ec2:eu-west-1:1:vpn-gateway/vgw-1"), None);
    }

    #[test]
    fn instance_ids_are_recognised_in_ids_and_arns() {
        assert!(is_instance_id("i-0123456789abcdef0"));
        assert!(is_instance_id("i-1a2b3c4d"));
        assert!(
            !is_instance_id("i-1a2b3c4d5"),
            "8 or 17 digits, nothing between"
        );
        assert!(!is_instance_id("i-0123456789ABCDEF0"));
        assert!(!is_instance_id("vpn-1a2b3c4d"));
        assert_eq!(
            instance_id_in("arn:aws:ec2:eu-west-1:111122223333:instance/i-0123456789abcdef0"),
            Some("i-0123456789abcdef0")
        );
        assert_eq!(instance_id_in(" i-1a2b3c4d "), Some("i-1a2b3c4d"));
        assert_eq!(instance_id_in("arn:aws:s3:::i-1a2b3c4d"), None);
        assert_eq!(
            instance_id_in("arn:aws:ec2:eu-west-1:1:volume/vol-1a2b3c4d"),
            None
        );
    }

    #[test]
    fn an_instance_passes_when_both_checks_are_ok_and_ebs_is_not_impaired() {
        let check = |status: &str| StatusCheck {
            status: status.into(),
            impaired_since: None,
        };
        let health = |system: &str, ebs: Option<&str>| InstanceHealth {
            system: check(system),
            instance: check("ok"),
            ebs: ebs.map(check),
            events: Vec::new(),
        };
        assert!(health("ok", None).is_ok());
        assert!(health("ok", Some("insufficient-data")).is_ok());
        assert!(!health("ok", Some("impaired")).is_ok());
        assert!(!health("initializing", None).is_ok());
        assert!(!health("impaired", Some("ok")).is_ok());
    }
}
