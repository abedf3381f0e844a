//! Runbook parameters: templates over what the `runbook` stage knows about an incident, and the
//! runbooks whose parameters it knows.
//!
//! A parameter's template is literal text and `{a|b}` placeholders, like the rule's own templates
//! (the first alternative with a value wins). The vocabulary:
//!
//! - `vpn.id`, `vpn.customer_gateway_id`: the VPN connection `enrich` described;
//! - `instance.id`, `instance.subnet_id`: the EC2 instance `enrich` described (not one that is
//!   terminated or shutting down);
//! - `tunnel_a.*`, `tunnel_b.*`: tunnel A is the first tunnel reported DOWN (else the first
//!   tunnel), tunnel B the other one; each has
//!   - `ip`: its outside IP address,
//!   - `ike_version`: `IKEv1` or `IKEv2` when the tunnel allows exactly that one, else `IKEv2`
//!     (both or none configured; the timeline says so),
//!   - `log_group`: its CloudWatch Logs log group's name, only when tunnel logging is enabled in
//!     JSON format (what AWSSupport-TroubleshootVPN reads);
//! - `automation_role`: the runbook function's `AUTOMATION_ROLE_ARN`;
//! - `incident.id`: the incident record ARN or OpsItem id; `rule`: the rule's id;
//! - `account`, `region`, `resource`, `dimension.<Name>`, `tag.<Key>`: from the signal.

use super::template::{Part, Template};
use crate::arn::is_role_arn;

/// Which of a VPN's tunnels a placeholder means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelSide {
    /// The first tunnel reported DOWN, else the first tunnel.
    A,
    /// The first tunnel that is not tunnel A.
    B,
}

impl TunnelSide {
    pub fn as_str(self) -> &'static str {
        match self {
            TunnelSide::A => "tunnel_a",
            TunnelSide::B => "tunnel_b",
        }
    }
}

/// One placeholder of a runbook parameter template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunbookField {
    VpnId,
    InstanceId,
    InstanceSubnet,
    CustomerGatewayId,
    TunnelIp(TunnelSide),
    TunnelIkeVersion(TunnelSide),
    TunnelLogGroup(TunnelSide),
    AutomationRole,
    IncidentId,
    Rule,
    Account,
    Region,
    Resource,
    Dimension(String),
    Tag(String),
}

/// Every placeholder a runbook parameter template may use.
pub const RUNBOOK_FIELD_NAMES: &str = "vpn.id, vpn.customer_gateway_id, instance.id, \
instance.subnet_id, tunnel_a.ip, \
tunnel_a.ike_version, tunnel_a.log_group, tunnel_b.ip, tunnel_b.ike_version, tunnel_b.log_group, \
automation_role, incident.id, rule, account, region, resource, dimension.<Name>, tag.<Key>";

impl RunbookField {
    fn parse(name: &str) -> Result<RunbookField, String> {
        let name = name.trim();
        let field = match name {
            "vpn.id" => RunbookField::VpnId,
            "vpn.customer_gateway_id" => RunbookField::CustomerGatewayId,
            "instance.id" => RunbookField::InstanceId,
            "instance.subnet_id" => RunbookField::InstanceSubnet,
            "automation_role" => RunbookField::AutomationRole,
            "incident.id" => RunbookField::IncidentId,
            "rule" => RunbookField::Rule,
            "account" => RunbookField::Account,
            "region" => RunbookField::Region,
            "resource" => RunbookField::Resource,
            _ => match name.split_once('.') {
                Some((tunnel @ ("tunnel_a" | "tunnel_b"), what)) => {
                    let side = if tunnel == "tunnel_a" {
                        TunnelSide::A
                    } else {
                        TunnelSide::B
                    };
                    match what {
                        "ip" => RunbookField::TunnelIp(side),
                        "ike_version" => RunbookField::TunnelIkeVersion(side),
                        "log_group" => RunbookField::TunnelLogGroup(side),
                        _ => return Err(unknown_runbook_field(name)),
                    }
                }
                Some(("dimension", dim)) if !dim.is_empty() => {
                    RunbookField::Dimension(dim.to_string())
                }
                Some(("tag", key)) if !key.is_empty() => RunbookField::Tag(key.to_string()),
                _ => return Err(unknown_runbook_field(name)),
            },
        };
        Ok(field)
    }

    /// The placeholder as written (`tunnel_a.ip`).
    pub fn name(&self) -> String {
        match self {
            RunbookField::VpnId => "vpn.id".into(),
            RunbookField::CustomerGatewayId => "vpn.customer_gateway_id".into(),
            RunbookField::InstanceId => "instance.id".into(),
            RunbookField::InstanceSubnet => "instance.subnet_id".into(),
            RunbookField::TunnelIp(side) => format!("{}.ip", side.as_str()),
            RunbookField::TunnelIkeVersion(side) => format!("{}.ike_version", side.as_str()),
            RunbookField::TunnelLogGroup(side) => format!("{}.log_group", side.as_str()),
            RunbookField::AutomationRole => "automation_role".into(),
            RunbookField::IncidentId => "incident.id".into(),
            RunbookField::Rule => "rule".into(),
            RunbookField::Account => "account".into(),
            RunbookField::Region => "region".into(),
            RunbookField::Resource => "resource".into(),
            RunbookField::Dimension(name) => format!("dimension.{name}"),
            RunbookField::Tag(key) => format!("tag.{key}"),
        }
    }
}

fn unknown_runbook_field(name: &str) -> String {
    format!("unknown placeholder `{{{name}}}` (known: {RUNBOOK_FIELD_NAMES})")
}

/// A runbook parameter's template, parsed.
#[derive(Debug, Clone)]
pub struct ParamTemplate(Template<RunbookField>);

/// A piece of a [`ParamTemplate`].
#[derive(Debug, Clone, Copy)]
pub enum ParamPart<'a> {
    Text(&'a str),
    /// Alternatives: the first with a value wins.
    Field(&'a [RunbookField]),
}

impl ParamTemplate {
    /// Parses `text`; the error says what is wrong (unbalanced braces, an unknown placeholder).
    pub fn parse(text: &str) -> Result<ParamTemplate, String> {
        Template::parse_with(text, RunbookField::parse).map(ParamTemplate)
    }

    pub fn parts(&self) -> impl Iterator<Item = ParamPart<'_>> {
        self.0.parts.iter().map(|part| match part {
            Part::Text(text) => ParamPart::Text(text),
            Part::Field(alternatives) => ParamPart::Field(alternatives),
        })
    }

    /// The text, when the template is literal (no placeholder).
    pub fn literal(&self) -> Option<&str> {
        match self.0.parts.as_slice() {
            [Part::Text(text)] => Some(text),
            _ => None,
        }
    }
}

/// What a runbook parameter's value must look like, checked by hand (no regex engine in the
/// binary). Each mirrors the pattern the runbook documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueCheck {
    /// `^vpn-[0-9a-f]{8,17}$`
    VpnConnectionId,
    /// `i-` and 8 or 17 lowercase hex digits (what EC2 issues).
    InstanceId,
    /// A dotted-quad IPv4 address (no leading zeros).
    Ipv4,
    /// One of the listed values, exactly.
    OneOf(&'static [&'static str]),
    /// `^[\.\-_/#A-Za-z0-9]{1,512}$`
    LogGroupName,
    /// Hours as two digits, `01`–`99`.
    TwoDigitHours,
    /// `^arn:aws[a-z0-9-]*:iam::\d{12}:role/[\w+=/,.@-]+$`
    IamRoleArn,
}

impl ValueCheck {
    /// `Ok` when `value` is acceptable; else what it must be ("must be …").
    pub fn check(self, value: &str) -> Result<(), String> {
        let ok = match self {
            ValueCheck::VpnConnectionId => value.strip_prefix("vpn-").is_some_and(|hex| {
                (8..=17).contains(&hex.len())
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            }),
            ValueCheck::InstanceId => crate::diagnosis::is_instance_id(value),
            ValueCheck::Ipv4 => is_ipv4(value),
            ValueCheck::OneOf(allowed) => allowed.contains(&value),
            ValueCheck::LogGroupName => {
                (1..=512).contains(&value.len())
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-_/#".contains(&b))
            }
            ValueCheck::TwoDigitHours => {
                value.len() == 2 && value.bytes().all(|b| b.is_ascii_digit()) && value != "00"
            }
            ValueCheck::IamRoleArn => is_role_arn(value),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("must be {}", self.describe()))
        }
    }

    /// What a valid value looks like, for people.
    pub fn describe(self) -> String {
        match self {
            ValueCheck::VpnConnectionId => {
                "a VPN connection id (vpn- and 8 to 17 lowercase hex digits)".into()
            }
            ValueCheck::InstanceId => "an instance id (i- and 8 to 17 lowercase hex digits)".into(),
            ValueCheck::Ipv4 => "an IPv4 address".into(),
            ValueCheck::OneOf(allowed) => format!("one of {}", allowed.join(", ")),
            ValueCheck::LogGroupName => {
                "a log group name (1 to 512 of A–Z a–z 0–9 . - _ / #)".into()
            }
            ValueCheck::TwoDigitHours => "a number of hours as two digits, 01 to 99".into(),
            ValueCheck::IamRoleArn => "an IAM role ARN (arn:aws:iam::<account>:role/<name>)".into(),
        }
    }
}

fn is_ipv4(value: &str) -> bool {
    let mut octets = 0;
    for octet in value.split('.') {
        octets += 1;
        let digits =
            !octet.is_empty() && octet.len() <= 3 && octet.bytes().all(|b| b.is_ascii_digit());
        let canonical = octet.len() == 1 || !octet.starts_with('0');
        if octets > 4 || !digits || !canonical || octet.parse::<u16>().map_or(true, |n| n > 255) {
            return false;
        }
    }
    octets == 4
}

/// One parameter of a known runbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    pub name: &'static str,
    /// A required parameter must have a value, or the runbook is not started; an optional one
    /// whose template has no value is left out.
    pub required: bool,
    pub check: Option<ValueCheck>,
}

/// A runbook whose parameters the responder knows (for any other document, every parameter in
/// the rule is required and only checked for being non-empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownRunbook {
    pub document: &'static str,
    /// In the order the runbook's documentation lists them.
    pub parameters: &'static [ParamSpec],
}

impl KnownRunbook {
    pub fn parameter(&self, name: &str) -> Option<&'static ParamSpec> {
        self.parameters.iter().find(|p| p.name == name)
    }

    pub(super) fn parameter_names(&self) -> String {
        let names: Vec<&str> = self.parameters.iter().map(|p| p.name).collect();
        names.join(", ")
    }
}

const fn param(name: &'static str, required: bool, check: ValueCheck) -> ParamSpec {
    ParamSpec {
        name,
        required,
        check: Some(check),
    }
}

/// The runbooks the responder knows, with their documented parameters.
pub const KNOWN_RUNBOOKS: &[KnownRunbook] = &[
    KnownRunbook {
        // https://docs.aws.amazon.com/systems-manager-automation-runbooks/latest/userguide/automation-aws-troubleshoot-vpn.html
        document: "AWSSupport-TroubleshootVPN",
        parameters: &[
            param("VpnConnectionId", true, ValueCheck::VpnConnectionId),
            param("TunnelAIPAddress", true, ValueCheck::Ipv4),
            param("TunnelBIPAddress", false, ValueCheck::Ipv4),
            param("IKEVersion", true, ValueCheck::OneOf(&["IKEv1", "IKEv2"])),
            param("LogGroupName", true, ValueCheck::LogGroupName),
            param("LookBackPeriod", false, ValueCheck::TwoDigitHours),
            param("AutomationAssumeRole", false, ValueCheck::IamRoleArn),
        ],
    },
    KnownRunbook {
        // https://docs.aws.amazon.com/systems-manager-automation-runbooks/latest/userguide/automation-aws-restartec2instance.html
        // (stops and starts the instance: a system check failure moves to healthy hardware)
        document: "AWS-RestartEC2Instance",
        parameters: &[
            param("InstanceId", true, ValueCheck::InstanceId),
            param("AutomationAssumeRole", false, ValueCheck::IamRoleArn),
        ],
    },
    KnownRunbook {
        // https://docs.aws.amazon.com/systems-manager-automation-runbooks/latest/userguide/automation-awssupport-executeec2rescue.html
        // (fixes an unreachable instance's OS offline, from a helper instance in SubnetId)
        document: "AWSSupport-ExecuteEC2Rescue",
        parameters: &[
            param("UnreachableInstanceId", true, ValueCheck::InstanceId),
            ParamSpec {
                name: "SubnetId",
                required: false,
                check: None,
            },
            param("AutomationAssumeRole", false, ValueCheck::IamRoleArn),
        ],
    },
];

/// The known runbook named `document`, if it is one.
pub fn known_runbook(document: &str) -> Option<&'static KnownRunbook> {
    KNOWN_RUNBOOKS.iter().find(|k| k.document == document)
}
