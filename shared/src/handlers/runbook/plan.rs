//! Resolving a runbook's parameters from what is known about the incident (the rule's templates
//! over the diagnosis: README, "Runbook parameters"), and checking each value against what the
//! document accepts before anything starts. What cannot be resolved becomes a [`Problem`] that
//! says how to fix it.

use std::collections::BTreeMap;

use crate::diagnosis::{Instance, Tunnel, TunnelStatus, VpnFacts};
use crate::domain::{trim_chars, unique, LifecycleDetail, RunbookRef};
use crate::rules::{
    known_runbook, KnownRunbook, ParamPart, ParamTemplate, RunbookField, TunnelSide,
};

/// The parameters a runbook would start with, or why it cannot.
#[derive(Debug, Default)]
pub(super) struct Plan {
    /// Resolved values, by parameter name.
    pub(super) values: BTreeMap<String, String>,
    /// The order to show them in: the document's own order, then the others by name.
    pub(super) order: Vec<String>,
    /// Things worth knowing about the values (an assumed IKE version, a parameter left out).
    pub(super) notes: Vec<String>,
    pub(super) problems: Vec<Problem>,
}

impl Plan {
    /// The timeline's words for an execution started with this plan's values.
    pub(super) fn started_text(&self, document: &str, execution: &str) -> String {
        let plan = self;
        let values: Vec<String> = plan
            .order
            .iter()
            .filter_map(|name| plan.values.get(name).map(|v| format!("{name}={v}")))
            .collect();
        let mut text = if values.is_empty() {
            format!("Runbook {document} started (execution {execution}) with no parameters.")
        } else {
            format!(
                "Runbook {document} started (execution {execution}) with {}.",
                values.join(", ")
            )
        };
        for note in &plan.notes {
            text.push_str(&format!(" Note: {note}."));
        }
        text
    }
}

/// Why a parameter cannot be given, and how to fix it.
#[derive(Debug)]
pub(super) enum Problem {
    /// Required parameters whose templates have no value, for the same reasons.
    NoValue {
        parameters: Vec<String>,
        /// Why, one clause per placeholder alternative.
        why: String,
        fixes: Vec<Fix>,
    },
    /// Anything else: `what` is a clause, `fix` an imperative clause.
    Other {
        parameter: String,
        what: String,
        fix: String,
    },
}

/// How to give a placeholder a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fix {
    /// Turn on tunnel logging in JSON format.
    TunnelLogging,
    /// Let `enrich` describe the VPN connection.
    DescribeVpn,
    /// Let `enrich` describe the instance.
    DescribeInstance,
    /// Configure the function's role.
    AutomationRole,
    /// Tag the alarm.
    Tag(String),
    /// Put a literal value in the rule.
    SetInRule,
}

impl Fix {
    /// The fix as an imperative clause; `target` names the parameters ("LogGroupName", "them").
    fn clause(&self, target: &str) -> String {
        match self {
            Fix::TunnelLogging => format!(
                "enable tunnel logging to CloudWatch Logs in JSON format on the VPN's tunnel \
                 options (Modify VPN tunnel options → Tunnel activity log), or set {target} in \
                 the rule"
            ),
            Fix::DescribeVpn => format!(
                "make sure enrich can describe the VPN connection (ec2:DescribeVpnConnections; \
                 its notes are on the timeline), or set {target} in the rule"
            ),
            Fix::DescribeInstance => format!(
                "make sure enrich can describe the instance (ec2:DescribeInstances; its notes are \
                 on the timeline) and that it still exists, or set {target} in the rule"
            ),
            Fix::AutomationRole => "set AUTOMATION_ROLE_ARN on the runbook function".to_string(),
            Fix::Tag(key) => format!(
                "tag the alarm with {key} and turn on alarm tag propagation, or set {target} in \
                 the rule"
            ),
            Fix::SetInRule => format!("set {target} in the rule"),
        }
    }
}

impl Problem {
    pub(super) fn parameters(&self) -> Vec<&str> {
        match self {
            Problem::NoValue { parameters, .. } => parameters.iter().map(String::as_str).collect(),
            Problem::Other { parameter, .. } => vec![parameter.as_str()],
        }
    }

    pub(super) fn sentence(&self) -> String {
        match self {
            Problem::NoValue {
                parameters,
                why,
                fixes,
            } => {
                let (subject, target) = match parameters.as_slice() {
                    [one] => (format!("{one} has"), one.clone()),
                    [init @ .., last] => (
                        format!("{} and {last} have", init.join(", ")),
                        "them".to_string(),
                    ),
                    [] => ("The parameters have".to_string(), "them".to_string()),
                };
                let fixes: Vec<String> = fixes.iter().map(|f| f.clause(&target)).collect();
                format!(
                    "{subject} no value ({why}). To fix: {}.",
                    fixes.join("; or ")
                )
            }
            Problem::Other { what, fix, .. } => format!("{what}. To fix: {fix}."),
        }
    }
}

/// What a placeholder can be resolved from.
struct Facts<'a> {
    detail: &'a LifecycleDetail,
    vpn: Option<&'a VpnFacts>,
    tunnel_a: Option<&'a Tunnel>,
    tunnel_b: Option<&'a Tunnel>,
    role: &'a str,
}

/// A placeholder's value, with a note when it was assumed rather than read.
struct Filled {
    text: String,
    note: Option<String>,
}

impl Filled {
    fn plain(text: impl Into<String>) -> Filled {
        Filled {
            text: text.into(),
            note: None,
        }
    }
}

impl<'a> Facts<'a> {
    fn new(detail: &'a LifecycleDetail, role: &'a str) -> Facts<'a> {
        let vpn = detail.diagnosis.as_ref().and_then(|d| d.vpn.as_ref());
        let tunnels = vpn.map(|v| v.connection.tunnels.as_slice()).unwrap_or(&[]);
        let a = tunnels
            .iter()
            .position(|t| t.status == Some(TunnelStatus::Down))
            .or((!tunnels.is_empty()).then_some(0));
        let tunnel_a = a.and_then(|i| tunnels.get(i));
        let tunnel_b = tunnels
            .iter()
            .enumerate()
            .find(|(i, _)| Some(*i) != a)
            .map(|(_, t)| t);
        Facts {
            detail,
            vpn,
            tunnel_a,
            tunnel_b,
            role,
        }
    }

    /// The value of one placeholder, or why it has none.
    fn value(&self, field: &RunbookField) -> Result<Filled, String> {
        let present = |value: &str, why: &str| {
            if value.trim().is_empty() {
                Err(why.to_string())
            } else {
                Ok(Filled::plain(value))
            }
        };
        let signal = &self.detail.signal;
        match field {
            RunbookField::VpnId => Ok(Filled::plain(self.vpn()?.connection.id.clone())),
            RunbookField::InstanceId => Ok(Filled::plain(self.instance()?.id.clone())),
            RunbookField::InstanceSubnet => match &self.instance()?.subnet_id {
                Some(subnet) => present(subnet, "the instance names no subnet"),
                None => Err("the instance names no subnet".into()),
            },
            RunbookField::CustomerGatewayId => match &self.vpn()?.connection.customer_gateway_id {
                Some(id) => present(id, "the VPN connection names no customer gateway"),
                None => Err("the VPN connection names no customer gateway".into()),
            },
            RunbookField::TunnelIp(side) => {
                Ok(Filled::plain(self.tunnel(*side)?.outside_ip.clone()))
            }
            RunbookField::TunnelIkeVersion(side) => Ok(ike_version(self.tunnel(*side)?)),
            RunbookField::TunnelLogGroup(side) => log_group(self.tunnel(*side)?),
            RunbookField::AutomationRole => {
                present(self.role, "the runbook function has no AUTOMATION_ROLE_ARN")
            }
            RunbookField::IncidentId => present(&self.detail.incident.id, "the incident has no id"),
            RunbookField::Rule => present(&self.detail.incident.rule, "the incident has no rule"),
            RunbookField::Account => present(&signal.account, "the signal names no account"),
            RunbookField::Region => present(&signal.region, "the signal names no region"),
            RunbookField::Resource => present(&signal.resource, "the signal names no resource"),
            RunbookField::Dimension(name) => match signal.dimension(name) {
                Some(v) => present(v, &format!("the signal's {name} dimension is empty")),
                None => Err(format!("the signal has no {name} dimension")),
            },
            RunbookField::Tag(key) => match signal.tag(key) {
                Some(v) => present(v, &format!("the signal's {key} tag is empty")),
                None => Err(format!("the signal has no {key} tag")),
            },
        }
    }

    fn vpn(&self) -> Result<&'a VpnFacts, String> {
        if let Some(vpn) = self.vpn {
            // A connection being deleted has nothing left to troubleshoot.
            let state = vpn.connection.state.as_str();
            if state == "deleted" || state == "deleting" {
                return Err(format!("VPN {} is {state}", vpn.connection.id));
            }
            return Ok(vpn);
        }
        let Some(diagnosis) = &self.detail.diagnosis else {
            return Err("the event carries no diagnosis".into());
        };
        if diagnosis.notes.is_empty() {
            Err("the diagnosis describes no VPN connection".into())
        } else {
            Err(format!(
                "the diagnosis describes no VPN connection — {}",
                diagnosis.notes.join(", ")
            ))
        }
    }

    /// The instance enrich described, when a runbook may act on it: running, failing a status
    /// check, and not a member of an Auto Scaling group (which replaces an unhealthy instance
    /// itself, and marks a stopped one unhealthy).
    fn instance(&self) -> Result<&'a Instance, String> {
        let Some(diagnosis) = &self.detail.diagnosis else {
            return Err("the event carries no diagnosis".into());
        };
        let Some(facts) = &diagnosis.instance else {
            return Err("the diagnosis describes no EC2 instance".into());
        };
        let instance = &facts.instance;
        let id = &instance.id;
        if instance.state != "running" {
            let state = if instance.state.is_empty() {
                "in no reported state"
            } else {
                instance.state.as_str()
            };
            return Err(format!(
                "instance {id} is {state}: only a running instance that fails a status check is acted on"
            ));
        }
        if let Some(group) = instance.tags.get("aws:autoscaling:groupName") {
            return Err(format!(
                "instance {id} belongs to Auto Scaling group {group}, which replaces an unhealthy instance itself"
            ));
        }
        match &facts.health {
            Some(h) if h.system.is_impaired() || h.instance.is_impaired() => Ok(instance),
            Some(_) => Err(format!("instance {id} passes its status checks")),
            None => Err(format!(
                "the status checks of instance {id} could not be read"
            )),
        }
    }

    fn tunnel(&self, side: TunnelSide) -> Result<&'a Tunnel, String> {
        let vpn = self.vpn()?;
        let tunnel = match side {
            TunnelSide::A => self.tunnel_a,
            TunnelSide::B => self.tunnel_b,
        };
        tunnel.ok_or_else(|| match side {
            TunnelSide::A => format!("VPN {} reports no tunnels", vpn.connection.id),
            TunnelSide::B => format!("VPN {} reports no second tunnel", vpn.connection.id),
        })
    }
}

/// `IKEv1` or `IKEv2` when the tunnel allows exactly one of them; else `IKEv2`, noted.
fn ike_version(tunnel: &Tunnel) -> Filled {
    let allows = |v: &str| {
        tunnel
            .ike_versions
            .iter()
            .any(|x| x.eq_ignore_ascii_case(v))
    };
    let (v1, v2) = (allows("ikev1"), allows("ikev2"));
    match (v1, v2) {
        (true, false) => Filled::plain("IKEv1"),
        (false, true) => Filled::plain("IKEv2"),
        (true, true) => Filled {
            text: "IKEv2".into(),
            note: Some(format!(
                "tunnel {} allows both IKEv1 and IKEv2, so IKEv2 was assumed",
                tunnel.outside_ip
            )),
        },
        (false, false) => Filled {
            text: "IKEv2".into(),
            note: Some(format!(
                "tunnel {} names no IKE version (it accepts both), so IKEv2 was assumed",
                tunnel.outside_ip
            )),
        },
    }
}

/// The tunnel's log group, when it logs to CloudWatch Logs in JSON format (what
/// AWSSupport-TroubleshootVPN queries).
fn log_group(tunnel: &Tunnel) -> Result<Filled, String> {
    let ip = &tunnel.outside_ip;
    let log = match &tunnel.log {
        Some(log) if log.enabled => log,
        _ => return Err(format!("tunnel {ip} does not log to CloudWatch Logs")),
    };
    match log.format.as_deref() {
        Some(f) if f.eq_ignore_ascii_case("json") => {}
        Some(f) => return Err(format!("tunnel {ip} logs in {f} format, not JSON")),
        None => {
            return Err(format!(
                "tunnel {ip} does not say its logs are in JSON format"
            ))
        }
    }
    log.group_name()
        .map(Filled::plain)
        .ok_or_else(|| format!("tunnel {ip} logs to CloudWatch Logs but names no log group"))
}

/// How to give a placeholder a value.
fn fix_for(field: &RunbookField, facts: &Facts<'_>) -> Fix {
    match field {
        RunbookField::VpnId
        | RunbookField::CustomerGatewayId
        | RunbookField::TunnelIp(_)
        | RunbookField::TunnelIkeVersion(_)
        | RunbookField::TunnelLogGroup(_)
            if facts.vpn.is_none() =>
        {
            Fix::DescribeVpn
        }
        RunbookField::TunnelLogGroup(_) => Fix::TunnelLogging,
        RunbookField::InstanceId | RunbookField::InstanceSubnet => Fix::DescribeInstance,
        RunbookField::AutomationRole => Fix::AutomationRole,
        RunbookField::Tag(key) => Fix::Tag(key.clone()),
        _ => Fix::SetInRule,
    }
}

/// Resolves every parameter of `runbook` against the facts, and checks the values against what
/// the document accepts (for a known document) before anything is started.
pub(super) fn plan(detail: &LifecycleDetail, runbook: &RunbookRef, role: &str) -> Plan {
    let facts = Facts::new(detail, role);
    let known = known_runbook(&runbook.document);
    let mut plan = Plan::default();
    for name in parameter_order(known, runbook) {
        let spec = known.and_then(|k| k.parameter(&name));
        let required = spec.is_none_or(|s| s.required);
        let Some(template) = runbook.parameters.get(&name) else {
            if required {
                plan.problems.push(Problem::Other {
                    parameter: name.clone(),
                    what: format!(
                        "{name} is required by {} but the rule does not set it",
                        runbook.document
                    ),
                    fix: format!("add {name} to the rule's runbook parameters"),
                });
            }
            continue;
        };
        let parsed = match ParamTemplate::parse(template) {
            Ok(parsed) => parsed,
            Err(e) => {
                plan.problems.push(Problem::Other {
                    parameter: name.clone(),
                    what: format!("the rule's template for {name} is invalid: {e}"),
                    fix: format!("correct {name} in the rule"),
                });
                continue;
            }
        };
        match render(&parsed, &facts) {
            Ok((value, notes)) => {
                if let Some(check) = spec.and_then(|s| s.check) {
                    if let Err(must) = check.check(&value) {
                        plan.problems.push(Problem::Other {
                            parameter: name.clone(),
                            what: format!(
                                "{name} would be `{}` (from \"{template}\"), but it {must}",
                                trim_chars(&value, 200)
                            ),
                            fix: format!(
                                "correct the rule's template for {name}, or set {name} in the rule"
                            ),
                        });
                        continue;
                    }
                }
                plan.notes.extend(notes);
                plan.values.insert(name.clone(), value);
                plan.order.push(name);
            }
            Err(missing) if required => {
                let why = unique(missing.iter().map(|(_, why)| why.as_str())).join("; ");
                let mut fixes: Vec<Fix> = Vec::new();
                for (field, _) in &missing {
                    let fix = fix_for(field, &facts);
                    if !fixes.contains(&fix) {
                        fixes.push(fix);
                    }
                }
                // Parameters missing for the very same reasons make one sentence.
                let same = plan.problems.iter_mut().find_map(|p| match p {
                    Problem::NoValue {
                        parameters,
                        why: w,
                        fixes: f,
                    } if *w == why && *f == fixes => Some(parameters),
                    _ => None,
                });
                match same {
                    Some(parameters) => parameters.push(name),
                    None => plan.problems.push(Problem::NoValue {
                        parameters: vec![name],
                        why,
                        fixes,
                    }),
                }
            }
            Err(missing) => {
                let whys = unique(missing.iter().map(|(_, why)| why.as_str()));
                plan.notes
                    .push(format!("{name} was left out ({})", whys.join("; ")));
            }
        }
    }
    plan
}

/// The parameters to resolve: the known document's in its order, then the rule's others by name.
fn parameter_order(known: Option<&KnownRunbook>, runbook: &RunbookRef) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    if let Some(known) = known {
        for spec in known.parameters {
            if spec.required || runbook.parameters.contains_key(spec.name) {
                names.push(spec.name.to_string());
            }
        }
    }
    for name in runbook.parameters.keys() {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// Every alternative of a placeholder without a value, with why.
type Missing<'t> = Vec<(&'t RunbookField, String)>;

/// The template's text with every placeholder filled, and the notes of the values used; or the
/// first placeholder without a value.
fn render<'t>(
    template: &'t ParamTemplate,
    facts: &Facts<'_>,
) -> Result<(String, Vec<String>), Missing<'t>> {
    let mut out = String::new();
    let mut notes = Vec::new();
    for part in template.parts() {
        match part {
            ParamPart::Text(text) => out.push_str(text),
            ParamPart::Field(alternatives) => {
                let mut missing = Vec::new();
                let mut found = None;
                for field in alternatives {
                    match facts.value(field) {
                        Ok(value) => {
                            found = Some(value);
                            break;
                        }
                        Err(why) => missing.push((field, why)),
                    }
                }
                let Some(value) = found else {
                    return Err(missing);
                };
                out.push_str(&value.text);
                notes.extend(value.note);
            }
        }
    }
    Ok((out, notes))
}
