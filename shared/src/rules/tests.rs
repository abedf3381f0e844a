use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};

use super::document::parse_duration;
use super::*;
use crate::domain::{MetricRef, SignalKind, SignalState};

fn vpn_alarm(dimension: (&str, &str), tags: &[(&str, &str)]) -> Signal {
    Signal {
        source: "aws.cloudwatch".into(),
        detail_type: "CloudWatch Alarm State Change".into(),
        kind: SignalKind::MetricAlarm,
        state: SignalState::Firing,
        severity: None,
        severity_score: None,
        account: "111122223333".into(),
        region: "us-east-1".into(),
        time: Utc.with_ymd_and_hms(2026, 11, 21, 3, 55, 0).unwrap(),
        event_id: Some("e1".into()),
        fingerprint: "fp".into(),
        resource: "arn:aws:cloudwatch:us-east-1:111122223333:alarm:vpn".into(),
        resources: vec![],
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        summary: "vpn: ALARM".into(),
        alarm_name: Some("vpn-tunnel-down".into()),
        metrics: vec![MetricRef {
            namespace: Some("AWS/VPN".into()),
            name: Some("TunnelState".into()),
            dimensions: BTreeMap::from([(dimension.0.to_string(), dimension.1.to_string())]),
            ..MetricRef::default()
        }],
        finding_type: None,
        finding_id: None,
        reason: None,
        product: None,
    }
}

fn finding(source: &str, severity: Severity, score: f64) -> Signal {
    Signal {
        source: source.into(),
        detail_type: "GuardDuty Finding".into(),
        kind: SignalKind::GuardDutyFinding,
        severity: Some(severity),
        severity_score: Some(score),
        resource: "arn:aws:ec2:us-east-1:111122223333:instance/i-0abc".into(),
        alarm_name: None,
        metrics: vec![],
        finding_type: Some("Backdoor:EC2/C&CActivity.B".into()),
        finding_id: Some("f-1".into()),
        ..vpn_alarm(("x", "y"), &[])
    }
}

fn rules() -> Rules {
    match Rules::embedded() {
        Ok(r) => r,
        Err(e) => panic!("embedded rules must load: {e}"),
    }
}

#[test]
fn embedded_rules_load_and_cover_the_required_cases() {
    let r = rules();
    let ids: Vec<&str> = r.rules().iter().map(|r| r.id.as_str()).collect();
    for id in [
        "vpn-tunnel-down",
        "root-account-use",
        "guardduty-high",
        "securityhub-critical-high",
        "health-vpn-redundancy",
    ] {
        assert!(ids.contains(&id), "default rules lack {id}: {ids:?}");
    }
}

#[test]
fn vpn_tunnel_alarm_classifies_with_vpn_dedupe_key() {
    let c = rules()
        .classify(&vpn_alarm(("VpnId", "vpn-0123456789abcdef0"), &[]))
        .unwrap_or_else(|| panic!("no rule matched"));
    assert_eq!(c.rule_id, "vpn-tunnel-down");
    assert_eq!(c.dedupe_key, "vpn-tunnel-down:vpn-0123456789abcdef0");
    assert_eq!(c.impact, Impact::HIGH, "business tier x high severity");
    assert_eq!(
        c.title,
        "Site-to-Site VPN vpn-0123456789abcdef0: tunnel down"
    );
    assert!(c.auto_resolve);
    assert_eq!(c.correlation_window_secs, 1800);
    assert_eq!(
        c.runbook.map(|r| r.document).as_deref(),
        Some("AWSSupport-TroubleshootVPN")
    );
}

#[test]
fn per_tunnel_alarm_with_vpn_tag_joins_the_vpn_key() {
    let r = rules();
    let tagged = r
        .classify(&vpn_alarm(
            ("TunnelIpAddress", "203.0.113.10"),
            &[("VpnId", "vpn-0123456789abcdef0")],
        ))
        .map(|c| c.dedupe_key);
    assert_eq!(
        tagged.as_deref(),
        Some("vpn-tunnel-down:vpn-0123456789abcdef0")
    );
    let untagged = r
        .classify(&vpn_alarm(("TunnelIpAddress", "203.0.113.10"), &[]))
        .map(|c| c.dedupe_key);
    assert_eq!(untagged.as_deref(), Some("vpn-tunnel-down:203.0.113.10"));
}

#[test]
fn guardduty_score_splits_incident_and_suppression() {
    let r = rules();
    let high = r.classify(&finding("aws.guardduty", Severity::High, 8.0));
    let high = high.unwrap_or_else(|| panic!("no match"));
    assert_eq!(high.rule_id, "guardduty-high");
    assert_eq!(high.impact, Impact::HIGH);
    assert!(!high.suppress);
    assert_eq!(high.category, Category::Security);

    let low = r.classify(&finding("aws.guardduty", Severity::Low, 2.0));
    let low = low.unwrap_or_else(|| panic!("no match"));
    assert_eq!(low.rule_id, "guardduty-low");
    assert!(low.suppress);
}

#[test]
fn impact_matrix_crosses_tier_and_severity() {
    let r = rules();
    assert_eq!(
        r.impact("critical", Severity::Critical),
        Some(Impact::CRITICAL)
    );
    assert_eq!(r.impact("business", Severity::Medium), Some(Impact::MEDIUM));
    assert_eq!(r.impact("internal", Severity::Low), Some(Impact::NONE));
    assert_eq!(r.impact("gold", Severity::Low), None);
}

#[test]
fn unmatched_signal_gives_none() {
    let mut s = finding("aws.inspector2", Severity::Critical, 9.5);
    s.kind = SignalKind::SecurityHubFinding;
    assert!(rules().classify(&s).is_none());
}

const HEADER: &str =
    "version: 1\ntiers:\n  t: {critical: 1, high: 2, medium: 3, low: 4, informational: 5}\n";

fn load(rules_yaml: &str) -> Result<Rules, RulesError> {
    Rules::from_yaml(&format!("{HEADER}rules:\n{rules_yaml}"))
}

fn error(rules_yaml: &str) -> RulesError {
    match load(rules_yaml) {
        Ok(_) => panic!("should have been rejected:\n{rules_yaml}"),
        Err(e) => e,
    }
}

#[test]
fn a_mistake_names_the_rule_and_the_field() {
    let e = error(
        "  - id: ok\n    match: {source: aws.x}\n    service: s\n    tier: t\n  - id: broken\n    match: {source: aws.y}\n    service: s\n    tier: gold\n",
    );
    assert_eq!(e.rule.as_deref(), Some("broken"));
    assert_eq!(e.field.as_deref(), Some("tier"));
    assert!(
        e.to_string().contains("unknown tier `gold` (known: t)"),
        "{e}"
    );
}

#[test]
fn misspelt_field_is_rejected_with_its_name() {
    let e = error("  - id: typo\n    match: {source: aws.x}\n    service: s\n    tier: t\n    severty: high\n");
    assert_eq!(e.rule.as_deref(), Some("typo"));
    assert!(e.to_string().contains("severty"), "{e}");
}

#[test]
fn bad_values_are_rejected() {
    let cases = [
        ("    severity: severe\n", "severity"),
        ("    dedupe_key: \"{rule}:{vpn}\"\n", "dedupe_key"),
        ("    title: \"{rule\"\n", "title"),
        ("    correlation_window: soon\n", "correlation_window"),
    ];
    for (extra, field) in cases {
        let e = error(&format!(
            "  - id: r\n    match: {{source: aws.x}}\n    service: s\n    tier: t\n{extra}"
        ));
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
        assert_eq!(e.rule.as_deref(), Some("r"));
    }
}

#[test]
fn empty_match_duplicate_ids_and_bad_matrix_are_rejected() {
    let e = error("  - id: all\n    match: {}\n    service: s\n    tier: t\n");
    assert_eq!(e.field.as_deref(), Some("match"));

    let e = error("  - id: a\n    match: {source: x}\n    service: s\n    tier: t\n  - id: a\n    match: {source: y}\n    service: s\n    tier: t\n");
    assert_eq!(e.field.as_deref(), Some("id"));

    let e = Rules::from_yaml(
        "version: 1\ntiers:\n  t: {critical: 0, high: 2, medium: 3, low: 4, informational: 5}\nrules: []\n",
    )
    .err()
    .unwrap_or_else(|| panic!("impact 0 accepted"));
    assert_eq!(e.field.as_deref(), Some("tiers.t.critical"));

    let e = Rules::from_yaml("version: 1\ntiers:\n  t: {critical: 1}\nrules: []\n")
        .err()
        .unwrap_or_else(|| panic!("partial tier accepted"));
    assert!(e.to_string().contains("no impact for severity"), "{e}");

    let e = Rules::from_yaml("version: 2\ntiers: {}\nrules: []\n")
        .err()
        .unwrap_or_else(|| panic!("version 2 accepted"));
    assert_eq!(e.field.as_deref(), Some("version"));

    assert!(Rules::from_yaml("not: [valid").is_err());
    assert!(Rules::from_yaml("").is_err());
}

#[test]
fn missing_placeholder_value_falls_back_to_rule_and_resource() {
    let r = match load("  - id: r\n    match: {source: aws.cloudwatch}\n    service: s\n    tier: t\n    dedupe_key: \"{rule}:{dimension.Nope}\"\n") {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let s = vpn_alarm(("VpnId", "vpn-1"), &[]);
    let c = r.classify(&s).unwrap_or_else(|| panic!("no match"));
    assert_eq!(c.dedupe_key, format!("r:{}", s.resource));
    assert_eq!(
        c.impact,
        Impact::MEDIUM,
        "default severity medium on tier t"
    );
}

#[test]
fn matching_conditions_combine() {
    let r = match load(concat!(
        "  - id: tagged\n    match:\n      alarm_name: 'vpn-*'\n      tags: {team: net*}\n      dimensions: {VpnId: 'vpn-?'}\n      state: [firing]\n    service: s\n    tier: t\n",
        "  - id: by-severity\n    match: {min_severity: high, severity: [critical, high]}\n    service: s\n    tier: t\n",
    )) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let matched = |s: &Signal| r.classify(s).map(|c| c.rule_id);
    assert_eq!(
        matched(&vpn_alarm(("VpnId", "vpn-1"), &[("team", "network")])).as_deref(),
        Some("tagged")
    );
    assert_eq!(
        matched(&vpn_alarm(("VpnId", "vpn-1"), &[])),
        None,
        "tag missing"
    );
    assert_eq!(
        matched(&vpn_alarm(("VpnId", "vpn-12"), &[("team", "net")])),
        None,
        "? is one character"
    );
    let mut recovered = vpn_alarm(("VpnId", "vpn-1"), &[("team", "net")]);
    recovered.state = SignalState::Recovered;
    assert_eq!(matched(&recovered), None, "state condition");
    assert_eq!(
        matched(&finding("aws.guardduty", Severity::High, 7.0)).as_deref(),
        Some("by-severity")
    );
    assert_eq!(
        matched(&finding("aws.guardduty", Severity::Medium, 5.0)),
        None
    );
}

#[test]
fn glob_patterns() {
    assert!(glob("*", ""));
    assert!(glob("vpn-*", "vpn-0abc"));
    assert!(glob("*-down-*", "vpn-tunnel-down-203.0.113.10"));
    assert!(glob("a?c", "abc"));
    assert!(!glob("a?c", "ac"));
    assert!(!glob("vpn-*", "VPN-0abc"));
    assert!(glob("*é*", "café crème"));
    assert!(glob("caf?", "café"), "? is one character, not one byte");
    assert!(!glob("caf??", "café"));
    assert!(glob("*-down-*", "vpn-tunnel-down-ü"));
    assert!(glob("exact", "exact") && !glob("exact", "exactly"));
}

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("90s"), Ok(90));
    assert_eq!(parse_duration("30m"), Ok(1800));
    assert_eq!(parse_duration("2d"), Ok(172_800));
    assert_eq!(parse_duration("45"), Ok(45));
    assert!(parse_duration("1w").is_err());
    assert!(parse_duration("").is_err());
    assert!(parse_duration("99999999999999999999d").is_err());
}

// ---------------------------------------------------------------------------------------------
// Runbook parameters.

#[test]
fn default_vpn_rule_resolves_the_troubleshooting_runbook_from_the_facts() {
    let c = rules()
        .classify(&vpn_alarm(("VpnId", "vpn-0123456789abcdef0"), &[]))
        .unwrap_or_else(|| panic!("no rule matched"));
    let runbook = c.runbook.unwrap_or_else(|| panic!("no runbook"));
    let expected: BTreeMap<String, String> = [
        ("VpnConnectionId", "{vpn.id}"),
        ("TunnelAIPAddress", "{tunnel_a.ip}"),
        ("TunnelBIPAddress", "{tunnel_b.ip}"),
        ("IKEVersion", "{tunnel_a.ike_version}"),
        ("LogGroupName", "{tunnel_a.log_group|tunnel_b.log_group}"),
        ("LookBackPeriod", "03"),
        ("AutomationAssumeRole", "{automation_role}"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(runbook.parameters, expected);
    assert_eq!(runbook.version, None);
}

fn runbook_rule(runbook_yaml: &str) -> String {
    format!("  - id: vpn\n    match: {{source: aws.x}}\n    service: s\n    tier: t\n    runbook:\n{runbook_yaml}")
}

const VPN_PARAMS: &str = "      parameters:\n        VpnConnectionId: \"{vpn.id}\"\n        TunnelAIPAddress: \"{tunnel_a.ip}\"\n        IKEVersion: \"{tunnel_a.ike_version}\"\n        LogGroupName: \"{tunnel_a.log_group|tunnel_b.log_group}\"\n";

#[test]
fn a_valid_runbook_block_loads() {
    let r = load(&runbook_rule(&format!(
        "      document: AWSSupport-TroubleshootVPN\n      version: \"$DEFAULT\"\n{VPN_PARAMS}"
    )));
    let r = r.unwrap_or_else(|e| panic!("{e}"));
    let runbook = r.rules()[0].runbook.clone();
    assert_eq!(
        runbook.as_ref().map(|rb| rb.parameters.len()),
        Some(4),
        "{runbook:?}"
    );
    // Other documents: any parameter names, any placeholders of the vocabulary.
    let r = load(&runbook_rule(
        "      document: Custom-Runbook\n      version: \"3\"\n      parameters:\n        Target: \"{region}/{dimension.VpnId|tag.VpnId}:{incident.id}\"\n        Gateway: \"{vpn.customer_gateway_id}\"\n",
    ));
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn a_bad_runbook_parameter_names_the_rule_and_the_field() {
    let troubleshoot = |extra: &str| {
        runbook_rule(&format!(
            "      document: AWSSupport-TroubleshootVPN\n{VPN_PARAMS}{extra}"
        ))
    };
    let cases = [
        (
            troubleshoot("        LookBackPeriod: \"{tunnel_a.address}\"\n"),
            "runbook.parameters.LookBackPeriod",
            "unknown placeholder `{tunnel_a.address}`",
        ),
        (
            troubleshoot("        TunnelBIPAddress: \"{tunnel_b.ip\"\n"),
            "runbook.parameters.TunnelBIPAddress",
            "without a closing",
        ),
        (
            troubleshoot("        TunnelBIPAddress: \"x}{tunnel_b.ip}\"\n"),
            "runbook.parameters.TunnelBIPAddress",
            "without an opening",
        ),
        (
            troubleshoot("        LookBackPeriod: \"3\"\n"),
            "runbook.parameters.LookBackPeriod",
            "`3` must be a number of hours as two digits, 01 to 99",
        ),
        (
            troubleshoot("        AutomationAssumeRole: \"responder-role\"\n"),
            "runbook.parameters.AutomationAssumeRole",
            "must be an IAM role ARN",
        ),
        (
            troubleshoot("        VpnConectionId: \"{vpn.id}\"\n"),
            "runbook.parameters.VpnConectionId",
            "`VpnConectionId` is not a parameter of AWSSupport-TroubleshootVPN (its parameters: VpnConnectionId, TunnelAIPAddress",
        ),
        (
            troubleshoot("        TunnelBIPAddress: \"\"\n"),
            "runbook.parameters.TunnelBIPAddress",
            "must not be empty",
        ),
        (
            runbook_rule("      document: AWSSupport-TroubleshootVPN\n      parameters:\n        VpnConnectionId: \"{vpn.id}\"\n        TunnelAIPAddress: \"{tunnel_a.ip}\"\n"),
            "runbook.parameters",
            "AWSSupport-TroubleshootVPN needs IKEVersion, LogGroupName",
        ),
        (
            runbook_rule(&format!("      document: AWSSupport-TroubleshootVPN\n      version: v2\n{VPN_PARAMS}")),
            "runbook.version",
            "`v2` is not a document version",
        ),
        (
            runbook_rule("      document: \" \"\n"),
            "runbook.document",
            "must not be empty",
        ),
        (
            runbook_rule("      document: \"My runbook\"\n"),
            "runbook.document",
            "is not a document name",
        ),
        (
            runbook_rule("      document: Custom-Runbook\n      parameters:\n        Target: \"{signal.id}\"\n"),
            "runbook.parameters.Target",
            "unknown placeholder `{signal.id}` (known: vpn.id,",
        ),
    ];
    for (yaml, field, message) in cases {
        let e = error(&yaml);
        assert_eq!(e.rule.as_deref(), Some("vpn"), "{e}");
        assert_eq!(e.field.as_deref(), Some(field), "{e}");
        assert!(e.to_string().contains(message), "{e}\nwanted: {message}");
    }
}

#[test]
fn runbook_templates_parse_into_text_and_alternatives() {
    let t = ParamTemplate::parse("{region}-{tunnel_a.log_group|tunnel_b.log_group}")
        .unwrap_or_else(|e| panic!("{e}"));
    let parts: Vec<String> = t
        .parts()
        .map(|p| match p {
            ParamPart::Text(text) => format!("text:{text}"),
            ParamPart::Field(alternatives) => alternatives
                .iter()
                .map(RunbookField::name)
                .collect::<Vec<_>>()
                .join("|"),
        })
        .collect();
    assert_eq!(
        parts,
        vec!["region", "text:-", "tunnel_a.log_group|tunnel_b.log_group"]
    );
    assert_eq!(t.literal(), None);
    let literal = ParamTemplate::parse("03").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(literal.literal(), Some("03"));
    for name in RUNBOOK_FIELD_NAMES.split(", ") {
        let name = name.replace("<Name>", "VpnId").replace("<Key>", "Team");
        let t = ParamTemplate::parse(&format!("{{{name}}}"));
        let t = t.unwrap_or_else(|e| panic!("{name}: {e}"));
        let round_trip: Vec<String> = t
            .parts()
            .filter_map(|p| match p {
                ParamPart::Field(f) => f.first().map(RunbookField::name),
                ParamPart::Text(_) => None,
            })
            .collect();
        assert_eq!(round_trip, vec![name.clone()]);
    }
}

#[test]
fn value_checks_follow_the_documented_patterns() {
    let ok = |check: ValueCheck, value: &str| check.check(value).is_ok();
    assert!(ok(ValueCheck::VpnConnectionId, "vpn-0123456789abcdef0"));
    assert!(ok(ValueCheck::VpnConnectionId, "vpn-01234567"));
    assert!(!ok(ValueCheck::VpnConnectionId, "vpn-0123456"), "7 digits");
    assert!(
        !ok(ValueCheck::VpnConnectionId, "vpn-0123456789abcdef01"),
        "18"
    );
    assert!(!ok(ValueCheck::VpnConnectionId, "vpn-0123456789ABCDEF0"));
    assert!(!ok(ValueCheck::VpnConnectionId, "vgw-0123456789abcdef0"));

    for ip in ["203.0.113.10", "0.0.0.0", "255.255.255.255", "10.0.0.1"] {
        assert!(ok(ValueCheck::Ipv4, ip), "{ip}");
    }
    for ip in [
        "203.0.113.256",
        "203.0.113",
        "203.0.113.10.1",
        "203.0.113.010",
        "203.0.113.",
        "203.0..10",
        "+1.0.0.1",
        "2001:db8::1",
        "",
    ] {
        assert!(!ok(ValueCheck::Ipv4, ip), "{ip}");
    }

    let ike = ValueCheck::OneOf(&["IKEv1", "IKEv2"]);
    assert!(ok(ike, "IKEv1") && ok(ike, "IKEv2"));
    assert!(!ok(ike, "ikev2"));
    assert_eq!(
        ike.check("v3").err().as_deref(),
        Some("must be one of IKEv1, IKEv2")
    );

    assert!(ok(ValueCheck::LogGroupName, "/vpn/tunnels"));
    assert!(ok(ValueCheck::LogGroupName, "a.b-c_d#e/F9"));
    assert!(!ok(ValueCheck::LogGroupName, ""));
    assert!(!ok(ValueCheck::LogGroupName, "vpn logs"));
    assert!(!ok(ValueCheck::LogGroupName, "vpn:logs"));
    assert!(ok(ValueCheck::LogGroupName, &"a".repeat(512)));
    assert!(!ok(ValueCheck::LogGroupName, &"a".repeat(513)));

    for hours in ["01", "03", "10", "99"] {
        assert!(ok(ValueCheck::TwoDigitHours, hours), "{hours}");
    }
    for hours in ["00", "3", "100", "0x", ""] {
        assert!(!ok(ValueCheck::TwoDigitHours, hours), "{hours}");
    }

    for arn in [
        "arn:aws:iam::111122223333:role/responder-runbook",
        "arn:aws-us-gov:iam::111122223333:role/path/to/role+=,.@_-",
        "arn:aws-cn:iam::111122223333:role/r",
    ] {
        assert!(ok(ValueCheck::IamRoleArn, arn), "{arn}");
    }
    for arn in [
        "arn:aws:iam::11112222333:role/r",
        "arn:aws:iam::111122223333:user/r",
        "arn:aws:iam::111122223333:role/",
        "arn:aws:iam:us-east-1:111122223333:role/r",
        "arn:AWS:iam::111122223333:role/r",
        "arn:aws:iam::111122223333:role/with space",
        "responder-runbook",
    ] {
        assert!(!ok(ValueCheck::IamRoleArn, arn), "{arn}");
    }
}

#[test]
fn known_runbooks_list_troubleshoot_vpn() {
    let known = known_runbook("AWSSupport-TroubleshootVPN").unwrap_or_else(|| panic!("unknown"));
    let required: Vec<&str> = known
        .parameters
        .iter()
        .filter(|p| p.required)
        .map(|p| p.name)
        .collect();
    assert_eq!(
        required,
        vec![
            "VpnConnectionId",
            "TunnelAIPAddress",
            "IKEVersion",
            "LogGroupName"
        ]
    );
    let restart = known_runbook("AWS-RestartEC2Instance").unwrap_or_else(|| panic!("unknown"));
    assert_eq!(restart.parameters[0].name, "InstanceId");
    assert!(restart.parameters[0].required);
    assert!(known_runbook("AWSSupport-ExecuteEC2Rescue").is_some());
    assert!(known_runbook("AWS-TerminateEC2Instance").is_none());
    assert!(ValueCheck::InstanceId.check("i-0123456789abcdef0").is_ok());
    assert!(ValueCheck::InstanceId.check("i-0123456789ABCDEF0").is_err());
}

#[test]
fn a_closing_brace_before_a_placeholder_is_rejected() {
    let e = error("  - id: r\n    match: {source: aws.x}\n    service: s\n    tier: t\n    title: \"x}{rule}\"\n");
    assert_eq!(e.field.as_deref(), Some("title"), "{e}");
}

#[test]
fn notification_policy_defaults_and_overrides() {
    let rules = Rules::embedded().unwrap_or_else(|e| panic!("{e}"));
    let policy = rules.notifications();
    assert!(policy.posts(Impact::HIGH, NotifyStep::Joined));
    assert!(policy.posts(Impact::MEDIUM, NotifyStep::Diagnosed));
    assert!(!policy.posts(Impact::MEDIUM, NotifyStep::Runbook));
    assert!(!policy.posts(Impact::LOW, NotifyStep::Diagnosed));
    assert!(policy.posts(Impact::NONE, NotifyStep::Resolved));
    assert_eq!(policy.joined_interval_secs, 900);

    let doc = |notifications: &str| {
        format!(
            "version: 1\ntiers:\n  t: {{ critical: 1, high: 2, medium: 3, low: 4, informational: 5 }}\n{notifications}rules: []\n"
        )
    };
    let custom = Rules::from_yaml(&doc(
        "notifications:\n  steps:\n    3: all\n    5: []\n  joined_interval: 5m\n",
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let policy = custom.notifications();
    assert!(policy.posts(Impact::MEDIUM, NotifyStep::Runbook));
    assert!(!policy.posts(Impact::NONE, NotifyStep::Opened));
    assert!(
        policy.posts(Impact::LOW, NotifyStep::Opened),
        "unlisted impacts keep the default"
    );
    assert_eq!(policy.joined_interval_secs, 300);

    let without = Rules::from_yaml(&doc("")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(without.notifications(), &NotificationPolicy::default());

    let bad = Rules::from_yaml(&doc("notifications:\n  steps:\n    2: [opened, paged]\n"));
    let e = bad.err().map(|e| e.to_string()).unwrap();
    assert!(
        e.contains("notifications.steps.2") && e.contains("`paged`"),
        "{e}"
    );
    let bad = Rules::from_yaml(&doc("notifications:\n  steps:\n    7: all\n"));
    assert!(bad.err().is_some_and(|e| e.to_string().contains("1..=5")));
    let bad = Rules::from_yaml(&doc("notifications:\n  joined_interval: 2d\n"));
    assert!(bad.err().is_some_and(|e| e.to_string().contains("1-day")));
}

#[test]
fn ec2_status_check_alarms_of_one_instance_share_a_key_and_start_no_runbook() {
    let parse = |text: &str| match crate::sources::parse(&serde_json::from_str(text).unwrap()) {
        Ok(crate::sources::Parsed::Signals(mut s)) => s.remove(0),
        other => panic!("{other:?}"),
    };
    let fired = parse(include_str!(
        "../../../tests/fixtures/events/cloudwatch-alarm-ec2-status-check-system.json"
    ));
    let c = rules().classify(&fired).unwrap();
    assert_eq!(c.rule_id, "ec2-status-check");
    assert_eq!(c.dedupe_key, "ec2-status-check:i-0123456789abcdef0");
    assert_eq!(
        c.title,
        "EC2 instance i-0123456789abcdef0: status check failed"
    );
    assert_eq!(c.impact, Impact::HIGH);
    assert!(c.auto_resolve);
    assert!(c.runbook.is_none(), "restarting an instance is opt-in");
    assert_eq!(c.next_steps.len(), 3);

    // The instance check of the same instance joins the same incident.
    let mut instance_check = fired.clone();
    instance_check.metrics[0].name = Some("StatusCheckFailed_Instance".into());
    assert_eq!(
        rules().classify(&instance_check).unwrap().dedupe_key,
        c.dedupe_key
    );
    // An Auto Scaling group's status-check alarm names no instance: the generic rule takes it.
    let mut group = fired.clone();
    group.metrics[0].dimensions = [("AutoScalingGroupName".to_string(), "web".to_string())]
        .into_iter()
        .collect();
    assert_eq!(
        rules().classify(&group).unwrap().rule_id,
        "cloudwatch-alarm"
    );
}
