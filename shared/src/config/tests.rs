//! The configuration read from the environment: what each function accepts and refuses.

use std::collections::HashMap;

use super::*;

fn config(vars: &[(&str, &str)]) -> Result<TriageConfig, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    TriageConfig::from_lookup(|name| map.get(name).cloned())
}

const PLAN: &str = "arn:aws:ssm-incidents::111122223333:response-plan/vpn";

#[test]
fn rules_may_follow_only_the_change_calendars_triage_may_read() {
    let rules = crate::rules::DEFAULT_RULES.replace(
        "silences:\n",
        "windows:\n  - id: freeze\n    calendar: arn:aws:ssm:eu-west-1:111122223333:document/Freeze\nsilences:\n",
    );
    let path = std::env::temp_dir().join(format!("rules-calendar-{}.yaml", std::process::id()));
    std::fs::write(&path, rules).unwrap();
    let file = path.display().to_string();
    let base = [
        ("INCIDENT_BACKEND", "opscenter"),
        ("RESPONDER_BUS", "responder"),
        ("STATE_TABLE", "state"),
        ("RULES", file.as_str()),
    ];
    let unlisted = config(&base).unwrap().rules();
    assert!(
        matches!(&unlisted, Err(ConfigError::Invalid { name: "CHANGE_CALENDARS", problem }) if problem.contains("`Freeze`")),
        "{unlisted:?}"
    );
    let mut listed = base.to_vec();
    listed.push(("CHANGE_CALENDARS", "Other, Freeze"));
    assert!(config(&listed).unwrap().rules().is_ok());
    let mut elsewhere = listed.clone();
    elsewhere.push(("AWS_REGION", "us-east-1"));
    assert!(
        matches!(config(&elsewhere).unwrap().rules(), Err(ConfigError::Invalid { problem, .. }) if problem.contains("in eu-west-1")),
        "a calendar in another region cannot be read"
    );
    let _ = std::fs::remove_file(&path);

    // The template grants three calendars, by name.
    let mut four = base.to_vec();
    four.push(("CHANGE_CALENDARS", "A,B,C,D"));
    assert!(matches!(
        config(&four),
        Err(ConfigError::Invalid {
            name: "CHANGE_CALENDARS",
            ..
        })
    ));
    let mut arn = base.to_vec();
    arn.push((
        "CHANGE_CALENDARS",
        "arn:aws:ssm:eu-west-1:111122223333:document/Freeze",
    ));
    assert!(matches!(
        config(&arn),
        Err(ConfigError::Invalid {
            name: "CHANGE_CALENDARS",
            ..
        })
    ));
}

#[test]
fn reads_the_contract_variables() {
    let c = config(&[
        ("INCIDENT_BACKEND", "incident-manager"),
        ("RESPONSE_PLAN_ARN", PLAN),
        ("RESPONDER_BUS", "responder"),
        ("STATE_TABLE", "state"),
    ]);
    let c = c.unwrap();
    assert_eq!(c.stage.backend, Backend::IncidentManager);
    assert_eq!(
        c.opening,
        Opening::IncidentManager(ResponsePlans::new(PLAN))
    );
    assert_eq!(c.rules_path, None);
    assert!(c.rules().is_ok());
}

#[test]
fn reads_a_response_plan_per_impact() {
    let high = "arn:aws:ssm-incidents::111122223333:response-plan/responder-impact-2";
    let list = format!("1={PLAN}, 2={high}");
    let c = config(&[
        ("INCIDENT_BACKEND", "incident-manager"),
        ("RESPONSE_PLAN_ARN", PLAN),
        ("RESPONSE_PLAN_ARN_BY_IMPACT", list.as_str()),
        ("RESPONDER_BUS", "responder"),
        ("STATE_TABLE", "state"),
    ]);
    let Opening::IncidentManager(plans) = c.unwrap().opening else {
        panic!("no plans");
    };
    assert_eq!(plans.for_impact(Impact::HIGH), high);
    assert_eq!(plans.for_impact(Impact::CRITICAL), PLAN);
    assert_eq!(plans.for_impact(Impact::LOW), PLAN, "unlisted: the default");

    for (bad, says) in [
        (
            "0=arn:aws:ssm-incidents::1:response-plan/a",
            "`0` is not an impact",
        ),
        (
            "2:arn:aws:ssm-incidents::1:response-plan/a",
            "is not `<impact>=",
        ),
        ("2=responder-impact-2", "not a response plan ARN"),
        (
            "2=arn:aws:ssm-incidents::1:response-plan/a,2=arn:aws:ssm-incidents::1:response-plan/b",
            "impact 2 is listed twice",
        ),
    ] {
        let e = config(&[
            ("INCIDENT_BACKEND", "incident-manager"),
            ("RESPONSE_PLAN_ARN", PLAN),
            ("RESPONSE_PLAN_ARN_BY_IMPACT", bad),
            ("RESPONDER_BUS", "responder"),
            ("STATE_TABLE", "state"),
        ])
        .err()
        .map(|e| e.to_string())
        .unwrap();
        assert!(
            e.contains("RESPONSE_PLAN_ARN_BY_IMPACT") && e.contains(says),
            "{bad}: {e}"
        );
        // OpsCenter has no response plans: it reads neither variable.
        let c = config(&[
            ("INCIDENT_BACKEND", "opscenter"),
            ("RESPONSE_PLAN_ARN_BY_IMPACT", bad),
            ("RESPONDER_BUS", "responder"),
            ("STATE_TABLE", "state"),
        ]);
        assert_eq!(c.map(|c| c.opening).ok(), Some(Opening::OpsCenter), "{bad}");
    }
}

#[test]
fn names_what_is_missing_or_wrong() {
    let e = config(&[("INCIDENT_BACKEND", "jira")]).err();
    assert!(e.is_some_and(|e| e.to_string().contains("INCIDENT_BACKEND")));
    let e = config(&[
        ("INCIDENT_BACKEND", "incident-manager"),
        ("RESPONDER_BUS", "b"),
        ("STATE_TABLE", "t"),
    ])
    .err();
    assert!(e.is_some_and(|e| e.to_string().contains("RESPONSE_PLAN_ARN")));
    let e = config(&[("INCIDENT_BACKEND", "opscenter"), ("STATE_TABLE", "t")]).err();
    assert!(e.is_some_and(|e| e.to_string().contains("RESPONDER_BUS")));
    let e = config(&[
        ("INCIDENT_BACKEND", "opscenter"),
        ("RESPONDER_BUS", "b"),
        ("STATE_TABLE", "t"),
        ("RULES", "/nonexistent/rules.yaml"),
    ]);
    let e = e.unwrap_or_else(|e| panic!("{e}")).rules().err();
    assert!(e.is_some_and(|e| e.to_string().contains("/nonexistent/rules.yaml")));
}

#[test]
fn notify_needs_a_topic_arn_and_the_state_table() {
    let get = |vars: &[(&'static str, &'static str)]| {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        NotifyConfig::from_lookup(move |n| map.get(n).map(|v| v.to_string()))
    };
    let topic = "arn:aws:sns:eu-west-1:111122223333:responder-notify";
    let c = get(&[("NOTIFY_TOPIC_ARN", topic), ("STATE_TABLE", "state")]);
    let c = c.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.topic_arn, topic);
    assert!(c.rules().is_ok());
    let e = get(&[("STATE_TABLE", "state")]).err();
    assert!(e.is_some_and(|e| e.to_string().contains("NOTIFY_TOPIC_ARN")));
    let e = get(&[
        ("NOTIFY_TOPIC_ARN", "responder-notify"),
        ("STATE_TABLE", "s"),
    ])
    .err();
    assert!(e.is_some_and(|e| e.to_string().contains("not an SNS topic ARN")));
    let e = get(&[("NOTIFY_TOPIC_ARN", topic)]).err();
    assert!(e.is_some_and(|e| e.to_string().contains("STATE_TABLE")));
}

#[test]
fn stages_read_only_what_they_need() {
    let map: HashMap<&str, &str> = HashMap::from([
        ("INCIDENT_BACKEND", "opscenter"),
        ("RESPONDER_BUS", "responder"),
        ("STATE_TABLE", "state"),
    ]);
    let stage = StageConfig::from_lookup(|n| map.get(n).map(|v| v.to_string()));
    let stage = stage.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stage.backend, Backend::OpsCenter);
    let e = RunbookConfig::from_lookup(|n| map.get(n).map(|v| v.to_string())).err();
    assert!(e.is_some_and(|e| e.to_string().contains("AUTOMATION_ROLE_ARN")));

    let mut with_role = map.clone();
    with_role.insert(
        "AUTOMATION_ROLE_ARN",
        "arn:aws:iam::111122223333:role/vpn-runbook",
    );
    let c = RunbookConfig::from_lookup(|n| with_role.get(n).map(|v| v.to_string()));
    let c = c.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.automation_role_arn,
        "arn:aws:iam::111122223333:role/vpn-runbook"
    );

    let e = ResolveConfig::from_lookup(|n| map.get(n).map(|v| v.to_string())).err();
    assert!(e.is_some_and(|e| e.to_string().contains("REPORT_BUCKET")));
    let mut with_bucket = map.clone();
    with_bucket.insert("REPORT_BUCKET", "responder-reports-111122223333");
    let c = ResolveConfig::from_lookup(|n| with_bucket.get(n).map(|v| v.to_string()));
    let c = c.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.report_bucket, "responder-reports-111122223333");
    assert_eq!(c.stage, stage);
    with_bucket.insert("REPORT_BUCKET", "arn:aws:s3:::reports");
    let e = ResolveConfig::from_lookup(|n| with_bucket.get(n).map(|v| v.to_string())).err();
    assert!(e.is_some_and(|e| e.to_string().contains("not an S3 bucket name")));

    // Refused at start-up, as the runbook would refuse it for every incident.
    for role in [
        "vpn-runbook",
        "arn:aws:iam::1:role/r",
        "arn:aws:iam::111122223333:role/a b",
    ] {
        with_role.insert("AUTOMATION_ROLE_ARN", role);
        let e = RunbookConfig::from_lookup(|n| with_role.get(n).map(|v| v.to_string())).err();
        assert!(
            e.is_some_and(|e| e.to_string().contains("not an IAM role ARN")),
            "{role}"
        );
    }
}
