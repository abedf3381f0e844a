//! Verification before anything is resolved: one [`Check`] per thing that must hold, each a
//! sentence. A VPN must show every tunnel UP (`DescribeVpnConnections`); an EC2 instance must be
//! running with its system and instance status checks `ok` (`DescribeInstanceStatus`); a target
//! group must have a healthy target and none failing (`DescribeTargetHealth`); an alarm must be `OK`
//! (`DescribeAlarms`; a VPN alarm gets both); a Security Hub or GuardDuty finding and an AWS Health
//! event recover by their own workflow/record state, which the recovering event reports. A check
//! that IAM denies, or whose resource is gone, fails with the reason; a throttled or unavailable
//! service fails the invocation so that Lambda retries it.

use chrono::{DateTime, Utc};
use tracing::warn;

use super::Resolve;
use crate::diagnosis::{named_instance, named_vpn, tunnel_ip, TunnelStatus, VpnConnection};
use crate::domain::{clock_time, one_line, trim_chars, IncidentSummary, Signal, SignalKind};
use crate::inspect::{subject_of, target_group_name, targets_ok, Subject, TARGET_HEALTH_METRICS};
use crate::ports::{PortError, PortErrorKind, TargetGroups};
use crate::shell::StageError;

/// An alarm's state reason quoted in a check.
const REASON_MAX: usize = 300;
/// A status message quoted in a check.
const STATUS_MESSAGE_MAX: usize = 120;

/// One verification check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Check {
    pub(super) passed: bool,
    pub(super) sentence: String,
}

impl Check {
    fn pass(sentence: impl Into<String>) -> Check {
        Check {
            passed: true,
            sentence: sentence.into(),
        }
    }

    fn fail(sentence: impl Into<String>) -> Check {
        Check {
            passed: false,
            sentence: sentence.into(),
        }
    }
}

impl Resolve {
    pub(super) async fn verify(
        &self,
        signal: &Signal,
        incident: &IncidentSummary,
        now: DateTime<Utc>,
        home: Option<(&str, &str)>,
    ) -> Result<Vec<Check>, StageError> {
        let mut checks = Vec::new();
        if matches!(
            signal.kind,
            SignalKind::MetricAlarm | SignalKind::CompositeAlarm
        ) {
            if let Some(name) = signal.alarm_name.as_deref().filter(|n| !n.is_empty()) {
                checks.push(self.check_alarm(name).await?);
            }
        }
        let is_alarm = matches!(
            signal.kind,
            SignalKind::MetricAlarm | SignalKind::CompositeAlarm
        );
        if let Some(check) = self.check_vpn(signal, incident, now).await? {
            checks.push(check);
        } else if let Some(id) = named_instance(signal, incident).filter(|_| is_alarm) {
            // An instance an alarm names (as enrich diagnoses it); a finding or Health event
            // about an instance recovers by its own state (an isolated instance may stay down).
            let signal_home = (signal.account.as_str(), signal.region.as_str());
            match home.filter(|home| *home != signal_home) {
                // EC2 answers for this function's account and region only.
                Some((account, region)) => checks.push(Check::fail(format!(
                    "DescribeInstanceStatus: {id} is in account {} in {}; this responder reads \
                     {account} in {region}, so a person verifies it",
                    signal.account, signal.region
                ))),
                None => checks.push(self.check_instance(&id).await?),
            }
        } else if let Some(Subject::TargetGroup { arn }) =
            subject_of(signal).filter(|_| watches_target_health(signal))
        {
            let signal_home = (signal.account.as_str(), signal.region.as_str());
            match (
                &self.target_groups,
                home.filter(|home| *home != signal_home),
            ) {
                (None, _) => {}
                // ELB answers for this function's account and region only.
                (Some(_), Some((account, region))) => checks.push(Check::fail(format!(
                    "DescribeTargetHealth: {arn} is in account {} in {}; this responder reads \
                     {account} in {region}, so a person verifies it",
                    signal.account, signal.region
                ))),
                (Some(groups), None) => {
                    checks.push(check_target_group(groups.as_ref(), &arn).await?)
                }
            }
        }
        let finding = signal.finding_id.as_deref().unwrap_or(&signal.resource);
        match signal.kind {
            SignalKind::SecurityHubFinding => checks.push(Check::pass(format!(
                "Security Hub: the recovering event itself reports finding {finding} resolved, \
                 suppressed, archived or passed (its workflow/record state; no API call)"
            ))),
            SignalKind::GuardDutyFinding => checks.push(Check::pass(format!(
                "GuardDuty: the recovering event itself reports finding {finding} archived \
                 (its record state; no API call)"
            ))),
            SignalKind::HealthEvent => checks.push(Check::pass(format!(
                "AWS Health: the recovering event itself reports event {finding} closed \
                 (its status; no API call)"
            ))),
            SignalKind::MetricAlarm | SignalKind::CompositeAlarm | SignalKind::RootActivity => {}
        }
        if checks.is_empty() {
            checks.push(Check::pass(format!(
                "No check applies to a {} signal: the recovering signal itself is the evidence",
                signal.kind.as_str().replace('_', " ")
            )));
        }
        Ok(checks)
    }

    /// `DescribeAlarms`: the alarm must be `OK`.
    async fn check_alarm(&self, name: &str) -> Result<Check, StageError> {
        match self.alarms.alarm_state(name).await {
            Ok(Some(state)) if state.value == "OK" => {
                Ok(Check::pass(format!("DescribeAlarms: alarm {name} is OK")))
            }
            Ok(Some(state)) => {
                let mut sentence = format!("DescribeAlarms: alarm {name} is {}", state.value);
                if let Some(reason) = state.reason.as_deref().filter(|r| !r.trim().is_empty()) {
                    sentence.push_str(&format!(" — {}", trim_chars(&one_line(reason), REASON_MAX)));
                }
                Ok(Check::fail(sentence))
            }
            Ok(None) => Ok(Check::fail(format!(
                "DescribeAlarms: alarm {name} no longer exists"
            ))),
            Err(e) if tolerated(&e) => {
                warn!(error = %e, alarm = name, "could not read the alarm's state");
                Ok(Check::fail(format!(
                    "DescribeAlarms: could not read alarm {name}: {} ({})",
                    e.kind,
                    one_line(&e.message)
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `DescribeInstanceStatus`: the instance running, its system and instance checks `ok` (and
    /// its attached-EBS check, where reported, not impaired).
    async fn check_instance(&self, id: &str) -> Result<Check, StageError> {
        const CALL: &str = "DescribeInstanceStatus";
        let health = match self.network.instance_health(id).await {
            Ok(Some(health)) => health,
            Ok(None) => {
                return Ok(Check::fail(format!(
                    "{CALL}: {id} reports no status (it no longer exists)"
                )))
            }
            Err(e) if tolerated(&e) => {
                warn!(error = %e, instance = id, "could not read the instance's status");
                return Ok(Check::fail(format!(
                    "{CALL}: could not verify {id}: {} ({})",
                    e.kind,
                    one_line(&e.message)
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let status = |s: &str| if s.is_empty() { "unknown" } else { s }.to_string();
        let (system, instance) = (
            status(&health.system.status),
            status(&health.instance.status),
        );
        let ebs_impaired = health.ebs.as_ref().is_some_and(|e| e.is_impaired());
        if health.is_ok() {
            return Ok(Check::pass(format!(
                "{CALL}: {id} passes its status checks (system ok, instance ok)"
            )));
        }
        let mut sentence =
            format!("{CALL}: {id} status checks: system {system}, instance {instance}");
        if ebs_impaired {
            sentence.push_str(", attached EBS impaired");
        }
        if health.system.status == "not-applicable" {
            sentence.push_str(" (the instance is not running)");
        }
        Ok(Check::fail(sentence))
    }

    /// `DescribeVpnConnections` for the signal's VPN, if it is about one: every tunnel UP.
    async fn check_vpn(
        &self,
        signal: &Signal,
        incident: &IncidentSummary,
        now: DateTime<Utc>,
    ) -> Result<Option<Check>, StageError> {
        if let Some(id) = named_vpn(signal, incident) {
            let read = self
                .network
                .vpn_connections(std::slice::from_ref(&id))
                .await;
            return match read {
                Ok(list) => Ok(Some(match list.iter().find(|c| c.id == id) {
                    Some(connection) => tunnels_check(connection, now),
                    None => Check::fail(format!("DescribeVpnConnections: {id} no longer exists")),
                })),
                Err(e) if e.kind == PortErrorKind::NotFound => Ok(Some(Check::fail(format!(
                    "DescribeVpnConnections: {id} no longer exists (NotFound)"
                )))),
                Err(e) if tolerated(&e) => {
                    warn!(error = %e, vpn = %id, "could not describe the VPN connection");
                    Ok(Some(Check::fail(format!(
                        "DescribeVpnConnections: could not verify {id}: {} ({})",
                        e.kind,
                        one_line(&e.message)
                    ))))
                }
                Err(e) => Err(e.into()),
            };
        }
        // A per-tunnel alarm names only the tunnel's outside IP: find its connection.
        let Some(ip) = tunnel_ip(signal) else {
            return Ok(None);
        };
        match self.network.vpn_connections(&[]).await {
            Ok(all) => Ok(Some(
                match all
                    .iter()
                    .find(|c| c.tunnels.iter().any(|t| t.outside_ip == ip))
                {
                    Some(connection) => tunnels_check(connection, now),
                    None => Check::fail(format!(
                        "DescribeVpnConnections: no VPN connection has a tunnel at {ip} any more"
                    )),
                },
            )),
            Err(e) if tolerated(&e) => {
                warn!(error = %e, "could not list the VPN connections");
                Ok(Some(Check::fail(format!(
                    "DescribeVpnConnections: could not list VPN connections to find tunnel {ip}: {} ({})",
                    e.kind,
                    one_line(&e.message)
                ))))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Every tunnel of the connection UP passes; a tunnel DOWN (or without status) fails, named with
/// its outside IP and since when.
pub(super) fn tunnels_check(connection: &VpnConnection, now: DateTime<Utc>) -> Check {
    let id = &connection.id;
    if !connection.state.is_empty() && connection.state != "available" {
        return Check::fail(format!(
            "DescribeVpnConnections: {id} is {}",
            connection.state
        ));
    }
    let tunnels = &connection.tunnels;
    if tunnels.is_empty() {
        return Check::fail(format!(
            "DescribeVpnConnections: {id} reports no tunnel status"
        ));
    }
    let mut problems: Vec<String> = Vec::new();
    for (n, tunnel) in tunnels.iter().enumerate() {
        let name = format!("tunnel {} ({})", n + 1, tunnel.outside_ip);
        match tunnel.status {
            Some(TunnelStatus::Up) => {}
            Some(TunnelStatus::Down) => {
                let mut problem = format!("{name} of {id} is DOWN");
                if let Some(since) = tunnel.last_status_change {
                    problem.push_str(&format!(" since {}", clock_time(since, now)));
                }
                if let Some(message) = tunnel
                    .status_message
                    .as_deref()
                    .filter(|m| !m.trim().is_empty())
                {
                    problem.push_str(&format!(
                        " — '{}'",
                        trim_chars(&one_line(message), STATUS_MESSAGE_MAX)
                    ));
                }
                problems.push(problem);
            }
            None => problems.push(format!("{name} of {id} reports no status")),
        }
    }
    if !problems.is_empty() {
        return Check::fail(format!("DescribeVpnConnections: {}", problems.join("; ")));
    }
    let ips: Vec<&str> = tunnels.iter().map(|t| t.outside_ip.as_str()).collect();
    let which = match tunnels.len() {
        1 => format!("the tunnel of {id} is"),
        2 => format!("both tunnels of {id} are"),
        n => format!("all {n} tunnels of {id} are"),
    };
    Check::pass(format!(
        "DescribeVpnConnections: {which} UP ({})",
        ips.join(", ")
    ))
}

/// `DescribeTargetHealth`: a target serving and none failing its health checks (or stopped).
async fn check_target_group(groups: &dyn TargetGroups, arn: &str) -> Result<Check, StageError> {
    const CALL: &str = "DescribeTargetHealth";
    let name = target_group_name(arn).unwrap_or(arn);
    let targets = match groups.target_health(arn).await {
        Ok(targets) => targets,
        Err(e) if e.kind == PortErrorKind::NotFound => {
            return Ok(Check::fail(format!(
                "{CALL}: target group {name} no longer exists"
            )))
        }
        Err(e) if tolerated(&e) => {
            warn!(error = %e, target_group = arn, "could not read the targets' health");
            return Ok(Check::fail(format!(
                "{CALL}: could not verify target group {name}: {} ({})",
                e.kind,
                one_line(&e.message)
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let healthy = targets.iter().filter(|t| t.is_serving()).count();
    let count = format!("{healthy} of {} targets healthy", targets.len());
    if targets.is_empty() {
        return Ok(Check::fail(format!(
            "{CALL}: target group {name} has no registered targets"
        )));
    }
    if targets_ok(&targets) {
        return Ok(Check::pass(format!(
            "{CALL}: target group {name}: {count}, none failing"
        )));
    }
    let failing: Vec<_> = targets.iter().filter(|t| t.blocks()).collect();
    let mut sentence = format!("{CALL}: target group {name}: {count}");
    if let Some(first) = failing.first() {
        sentence.push_str(&format!(
            "; {}",
            trim_chars(&first.line(), STATUS_MESSAGE_MAX)
        ));
        if failing.len() > 1 {
            sentence.push_str(&format!(" and {} more", failing.len() - 1));
        }
    }
    Ok(Check::fail(sentence))
}

/// Only a missing resource or a denied call fails a check; anything else fails the invocation.
fn tolerated(e: &PortError) -> bool {
    matches!(
        e.kind,
        PortErrorKind::AccessDenied | PortErrorKind::NotFound
    )
}

/// An alarm on a target group's host counts: its recovery is the targets' health. (A 5XX
/// alarm recovers by its own metric.)
fn watches_target_health(signal: &Signal) -> bool {
    signal.metrics.iter().any(|m| {
        m.name
            .as_deref()
            .is_some_and(|n| TARGET_HEALTH_METRICS.contains(&n))
    })
}
