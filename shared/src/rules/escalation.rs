//! The rules' `escalation` section: who is paged when an incident goes unacknowledged, and when.
//!
//! - **targets** name where a page goes: an SNS topic bound at deploy time (`topic: primary`, its
//!   ARN from `PAGING_TOPICS`; e-mail, SMS and HTTPS subscriptions such as PagerDuty's or
//!   Opsgenie's event integrations), or a line in the incident's Slack thread that may mention a
//!   Slack user group (`slack: {usergroup: S0123ABCD}`). Recipients and mentions come only from
//!   here, never from a signal.
//! - **policies** are lists of stages: whom a stage pages, how long it waits for an
//!   acknowledgement, and how many times it pages (`repeat`) before the next stage. A stage that
//!   pages nobody (`page: []`) waits in Slack. After the last stage's last wait, escalation ends
//!   and the thread says nobody answered.
//! - **by_impact** chooses a policy per impact (`none`: Slack only); **by_service** overrides it
//!   for a service, impact by impact; a rule's own `escalation:` (a policy or `none`) overrides
//!   both.
//!
//! Without the section, the defaults: impact 1 pages `primary` at once and every 5 min, three
//! times, then `primary` and `secondary` every 15 min, three times; impact 2 waits 10 min in
//! Slack, then pages `primary` every 10 min, three times; impacts 3–5 stay in Slack.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::document::RawDuration;
use super::RulesError;
use crate::domain::Impact;

/// The most stages a policy has, and the most pages a stage sends.
const MAX_STAGES: usize = 10;
const MAX_REPEAT: u32 = 10;
/// A stage's wait: at least a minute (Scheduler's granularity), at most a day.
const MIN_WAIT_SECS: u64 = 60;
const MAX_WAIT_SECS: u64 = 86_400;

/// Where a page goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An SNS topic, by the name `PAGING_TOPICS` binds to its ARN at deploy time.
    Topic(String),
    /// A line in the incident's Slack thread, mentioning the user group when one is given.
    Slack { usergroup: Option<String> },
}

/// One stage of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The targets paged, by name (empty: wait in Slack).
    pub page: Vec<String>,
    /// How long each round waits for an acknowledgement, in seconds.
    pub wait_secs: u64,
    /// How many rounds the stage pages before the next stage.
    pub repeat: u32,
}

/// A named escalation policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub stages: Vec<Stage>,
}

/// Where an incident's escalation stands: a stage (0-based) and a round (1-based) of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Step {
    pub stage: usize,
    pub round: u32,
}

impl Step {
    pub const FIRST: Step = Step { stage: 0, round: 1 };
}

impl Policy {
    /// The stage of a step, `None` past the last one (escalation exhausted).
    pub fn stage(&self, step: Step) -> Option<&Stage> {
        self.stages.get(step.stage)
    }

    /// The step after `step`, and how long after it: the next round, else the next stage's
    /// first; past the last stage, the step that says escalation is exhausted.
    pub fn after(&self, step: Step) -> Option<(Step, u64)> {
        let stage = self.stage(step)?;
        let next = if step.round < stage.repeat {
            Step {
                stage: step.stage,
                round: step.round + 1,
            }
        } else {
            Step {
                stage: step.stage + 1,
                round: 1,
            }
        };
        Some((next, stage.wait_secs))
    }

    /// The next step that pages someone, from `step` on (for "Escalate now").
    pub fn next_paging(&self, step: Step) -> Option<Step> {
        let mut at = step;
        loop {
            let stage = self.stage(at)?;
            if !stage.page.is_empty() {
                return Some(at);
            }
            at = self.after(at)?.0;
        }
    }
}

/// A rule's own choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleEscalation {
    Policy(String),
    None,
}

/// The validated `escalation` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    targets: BTreeMap<String, Target>,
    policies: BTreeMap<String, Policy>,
    /// Index 0 is impact 1; `None` is Slack only.
    by_impact: [Option<String>; 5],
    by_service: BTreeMap<String, [Option<String>; 5]>,
}

impl Default for Escalation {
    fn default() -> Self {
        let topic = |name: &str| (name.to_string(), Target::Topic(name.to_string()));
        let stage = |page: &[&str], wait_mins: u64, repeat| Stage {
            page: page.iter().map(|s| s.to_string()).collect(),
            wait_secs: wait_mins * 60,
            repeat,
        };
        let policies = [
            Policy {
                name: "page-now".into(),
                stages: vec![
                    stage(&["primary"], 5, 3),
                    stage(&["primary", "secondary"], 15, 3),
                ],
            },
            Policy {
                name: "page-after-10m".into(),
                stages: vec![stage(&[], 10, 1), stage(&["primary"], 10, 3)],
            },
        ];
        Escalation {
            targets: [topic("primary"), topic("secondary")].into(),
            policies: policies.into_iter().map(|p| (p.name.clone(), p)).collect(),
            by_impact: [
                Some("page-now".into()),
                Some("page-after-10m".into()),
                None,
                None,
                None,
            ],
            by_service: BTreeMap::new(),
        }
    }
}

impl Escalation {
    /// The policy for an incident: the rule's own choice, else its service's for the impact,
    /// else the impact's.
    pub fn policy_for(
        &self,
        rule: Option<&RuleEscalation>,
        service: &str,
        impact: Impact,
    ) -> Option<&Policy> {
        let name = match rule {
            Some(RuleEscalation::None) => return None,
            Some(RuleEscalation::Policy(name)) => Some(name),
            None => {
                let index = usize::from(impact.get()).saturating_sub(1);
                let row = self.by_service.get(service).unwrap_or(&self.by_impact);
                row.get(index).and_then(Option::as_ref)
            }
        }?;
        self.policies.get(name)
    }

    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.get(name)
    }

    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.get(name)
    }

    /// The topic names the targets use (each needs a `PAGING_TOPICS` binding).
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.targets.values().filter_map(|t| match t {
            Target::Topic(name) => Some(name.as_str()),
            Target::Slack { .. } => None,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The section as written, and its validation.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEscalation {
    #[serde(default)]
    targets: Option<BTreeMap<String, RawTarget>>,
    #[serde(default)]
    policies: Option<BTreeMap<String, RawPolicy>>,
    #[serde(default)]
    by_impact: Option<BTreeMap<u8, String>>,
    #[serde(default)]
    by_service: BTreeMap<String, BTreeMap<u8, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    #[serde(default)]
    topic: Option<String>,
    #[serde(default)]
    slack: Option<RawSlack>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    #[serde(default)]
    usergroup: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    stages: Vec<RawStage>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    #[serde(default)]
    page: Vec<String>,
    wait: RawDuration,
    #[serde(default)]
    repeat: Option<u32>,
}

/// `none`, for a rule or an impact that pages nobody.
pub const NONE: &str = "none";

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A Slack user group id, as Slack forms it (`S` and upper-case letters and digits).
fn is_usergroup(id: &str) -> bool {
    id.len() >= 3
        && id.len() <= 24
        && id.starts_with('S')
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

pub(super) fn load_escalation(raw: Option<&RawEscalation>) -> Result<Escalation, RulesError> {
    let defaults = Escalation::default();
    let Some(raw) = raw else {
        return Ok(defaults);
    };
    let targets = match &raw.targets {
        Some(targets) => load_targets(targets)?,
        None => defaults.targets.clone(),
    };
    let policies = match &raw.policies {
        Some(policies) => load_policies(policies, &targets)?,
        None => {
            for policy in defaults.policies.values() {
                check_pages(
                    policy,
                    &targets,
                    &format!("escalation.policies.{}", policy.name),
                )?;
            }
            defaults.policies.clone()
        }
    };
    let by_impact = match &raw.by_impact {
        Some(map) => impact_row(map, &[NONE; 5], &policies, "escalation.by_impact")?,
        None => {
            let row = defaults.by_impact.clone();
            for name in row.iter().flatten() {
                if !policies.contains_key(name) {
                    return Err(RulesError::doc(
                        Some("escalation.by_impact"),
                        format!("the default policy `{name}` is not defined in `policies`; give by_impact"),
                    ));
                }
            }
            row
        }
    };
    let mut by_service = BTreeMap::new();
    for (service, map) in &raw.by_service {
        let base: Vec<&str> = by_impact
            .iter()
            .map(|p| p.as_deref().unwrap_or(NONE))
            .collect();
        let field = format!("escalation.by_service.{service}");
        by_service.insert(service.clone(), impact_row(map, &base, &policies, &field)?);
    }
    Ok(Escalation {
        targets,
        policies,
        by_impact,
        by_service,
    })
}

fn load_targets(raw: &BTreeMap<String, RawTarget>) -> Result<BTreeMap<String, Target>, RulesError> {
    let mut targets = BTreeMap::new();
    for (name, target) in raw {
        let field = format!("escalation.targets.{name}");
        if !is_name(name) {
            return Err(RulesError::doc(
                Some(&field),
                "a target name is 1–64 letters, digits, `-` or `_`",
            ));
        }
        let target = match (&target.topic, &target.slack) {
            (Some(topic), None) if is_name(topic) => Target::Topic(topic.clone()),
            (Some(topic), None) => {
                return Err(RulesError::doc(
                    Some(&format!("{field}.topic")),
                    format!("`{topic}` is not a topic name (1–64 letters, digits, `-` or `_`; its ARN comes from PAGING_TOPICS)"),
                ))
            }
            (None, Some(slack)) => match &slack.usergroup {
                Some(id) if !is_usergroup(id) => {
                    return Err(RulesError::doc(
                        Some(&format!("{field}.slack.usergroup")),
                        format!("`{id}` is not a Slack user group id (S followed by upper-case letters and digits, e.g. S0123ABCD)"),
                    ))
                }
                usergroup => Target::Slack {
                    usergroup: usergroup.clone(),
                },
            },
            _ => {
                return Err(RulesError::doc(
                    Some(&field),
                    "a target is exactly one of `topic` or `slack`",
                ))
            }
        };
        targets.insert(name.clone(), target);
    }
    Ok(targets)
}

fn load_policies(
    raw: &BTreeMap<String, RawPolicy>,
    targets: &BTreeMap<String, Target>,
) -> Result<BTreeMap<String, Policy>, RulesError> {
    let mut policies = BTreeMap::new();
    for (name, policy) in raw {
        let field = format!("escalation.policies.{name}");
        if !is_name(name) || name == NONE {
            return Err(RulesError::doc(
                Some(&field),
                "a policy name is 1–64 letters, digits, `-` or `_`, and not `none`",
            ));
        }
        if policy.stages.is_empty() || policy.stages.len() > MAX_STAGES {
            return Err(RulesError::doc(
                Some(&format!("{field}.stages")),
                format!("a policy has 1–{MAX_STAGES} stages"),
            ));
        }
        let mut stages = Vec::with_capacity(policy.stages.len());
        for (index, stage) in policy.stages.iter().enumerate() {
            let at = format!("{field}.stages.{}", index + 1);
            let wait_secs = stage
                .wait
                .seconds()
                .map_err(|m| RulesError::doc(Some(&format!("{at}.wait")), m))?;
            if !(MIN_WAIT_SECS..=MAX_WAIT_SECS).contains(&wait_secs) {
                return Err(RulesError::doc(
                    Some(&format!("{at}.wait")),
                    format!("{wait_secs} s: a stage waits between 1 minute and 1 day"),
                ));
            }
            let repeat = stage.repeat.unwrap_or(1);
            if !(1..=MAX_REPEAT).contains(&repeat) {
                return Err(RulesError::doc(
                    Some(&format!("{at}.repeat")),
                    format!("{repeat}: a stage pages 1–{MAX_REPEAT} times"),
                ));
            }
            stages.push(Stage {
                page: stage.page.clone(),
                wait_secs,
                repeat,
            });
        }
        let policy = Policy {
            name: name.clone(),
            stages,
        };
        check_pages(&policy, targets, &field)?;
        policies.insert(name.clone(), policy);
    }
    Ok(policies)
}

fn check_pages(
    policy: &Policy,
    targets: &BTreeMap<String, Target>,
    field: &str,
) -> Result<(), RulesError> {
    for (index, stage) in policy.stages.iter().enumerate() {
        for target in &stage.page {
            if !targets.contains_key(target) {
                return Err(RulesError::doc(
                    Some(&format!("{field}.stages.{}.page", index + 1)),
                    format!("no target `{target}` in escalation.targets"),
                ));
            }
        }
    }
    Ok(())
}

fn impact_row(
    map: &BTreeMap<u8, String>,
    base: &[&str],
    policies: &BTreeMap<String, Policy>,
    field: &str,
) -> Result<[Option<String>; 5], RulesError> {
    let mut row: [Option<String>; 5] = Default::default();
    for (slot, name) in row.iter_mut().zip(base) {
        *slot = (*name != NONE).then(|| name.to_string());
    }
    for (impact, name) in map {
        let at = format!("{field}.{impact}");
        let slot = usize::from(*impact)
            .checked_sub(1)
            .and_then(|i| row.get_mut(i))
            .ok_or_else(|| {
                RulesError::doc(Some(&at), format!("impact must be 1..=5, got {impact}"))
            })?;
        *slot = policy_choice(name, policies).map_err(|m| RulesError::doc(Some(&at), m))?;
    }
    Ok(row)
}

/// A policy name that exists, or `none`.
pub(super) fn policy_choice(
    name: &str,
    policies: &BTreeMap<String, Policy>,
) -> Result<Option<String>, String> {
    if name == NONE {
        return Ok(None);
    }
    if policies.contains_key(name) {
        return Ok(Some(name.to_string()));
    }
    let known: Vec<&str> = policies.keys().map(String::as_str).collect();
    Err(format!(
        "no policy `{name}` in escalation.policies (known: {}; or `none`)",
        known.join(", ")
    ))
}

impl Escalation {
    /// Checks a rule's own choice against the policies.
    pub(super) fn rule_choice(&self, name: &str) -> Result<RuleEscalation, String> {
        Ok(match policy_choice(name, &self.policies)? {
            Some(name) => RuleEscalation::Policy(name),
            None => RuleEscalation::None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Rules;

    const HEAD: &str =
        "version: 1\ntiers:\n  t: { critical: 1, high: 2, medium: 3, low: 4, informational: 5 }\n";
    const RULE: &str =
        "rules:\n  - id: r\n    match: { kind: metric_alarm }\n    service: s\n    tier: t\n";

    fn load(section: &str) -> Result<Rules, RulesError> {
        Rules::from_yaml(&format!("{HEAD}{section}{RULE}"))
    }

    fn names(e: &Escalation, service: &str) -> Vec<Option<String>> {
        (1..=5)
            .map(|i| {
                Impact::new(i)
                    .and_then(|impact| e.policy_for(None, service, impact))
                    .map(|p| p.name.clone())
            })
            .collect()
    }

    #[test]
    fn without_the_section_impact_1_pages_now_and_2_after_ten_minutes() -> Result<(), RulesError> {
        let rules = load("")?;
        let e = rules.escalation();
        assert_eq!(
            names(e, "s"),
            vec![
                Some("page-now".into()),
                Some("page-after-10m".into()),
                None,
                None,
                None
            ]
        );
        let now = e.policy("page-now").map(|p| p.stages.clone());
        assert_eq!(
            now,
            Some(vec![
                Stage {
                    page: vec!["primary".into()],
                    wait_secs: 300,
                    repeat: 3
                },
                Stage {
                    page: vec!["primary".into(), "secondary".into()],
                    wait_secs: 900,
                    repeat: 3
                },
            ])
        );
        assert_eq!(e.topics().collect::<Vec<_>>(), vec!["primary", "secondary"]);
        Ok(())
    }

    #[test]
    fn steps_go_round_by_round_then_stage_by_stage_then_end() {
        let e = Escalation::default();
        let Some(p) = e.policy("page-now") else {
            panic!("default policy")
        };
        let mut step = Step::FIRST;
        let mut seen = vec![];
        while let Some((next, wait)) = p.after(step) {
            seen.push((step.stage, step.round, wait));
            step = next;
        }
        assert_eq!(
            seen,
            vec![
                (0, 1, 300),
                (0, 2, 300),
                (0, 3, 300),
                (1, 1, 900),
                (1, 2, 900),
                (1, 3, 900)
            ]
        );
        assert_eq!(step, Step { stage: 2, round: 1 });
        assert!(p.stage(step).is_none());
        let Some(later) = e.policy("page-after-10m") else {
            panic!("default policy")
        };
        assert_eq!(
            later.next_paging(Step::FIRST),
            Some(Step { stage: 1, round: 1 })
        );
    }

    #[test]
    fn a_rule_or_a_service_overrides_the_impact() -> Result<(), RulesError> {
        let rules = load(
            "escalation:\n  targets:\n    oncall: { topic: oncall }\n    team: { slack: { usergroup: S0123ABCD } }\n  policies:\n    loud:\n      stages:\n        - { page: [oncall, team], wait: 5m, repeat: 2 }\n  by_impact: { 1: loud }\n  by_service:\n    payments: { 3: loud, 1: none }\n",
        )?;
        let e = rules.escalation();
        assert_eq!(
            names(e, "s"),
            vec![Some("loud".into()), None, None, None, None]
        );
        assert_eq!(
            names(e, "payments"),
            vec![None, None, Some("loud".into()), None, None]
        );
        let rule = RuleEscalation::None;
        assert!(e.policy_for(Some(&rule), "s", Impact::CRITICAL).is_none());
        assert_eq!(
            e.target("team"),
            Some(&Target::Slack {
                usergroup: Some("S0123ABCD".into())
            })
        );
        assert_eq!(e.topics().collect::<Vec<_>>(), vec!["oncall"]);
        Ok(())
    }

    #[test]
    fn mistakes_name_the_field() {
        for (section, field, words) in [
            (
                "escalation:\n  targets:\n    a: { topic: a, slack: {} }\n",
                "escalation.targets.a",
                "exactly one",
            ),
            (
                "escalation:\n  targets:\n    a: { slack: { usergroup: \"<!here>\" } }\n",
                "escalation.targets.a.slack.usergroup",
                "user group",
            ),
            (
                "escalation:\n  policies:\n    p:\n      stages:\n        - { page: [nobody], wait: 5m }\n",
                "escalation.policies.p.stages.1.page",
                "no target `nobody`",
            ),
            (
                "escalation:\n  policies:\n    p:\n      stages:\n        - { page: [primary], wait: 10s }\n",
                "escalation.policies.p.stages.1.wait",
                "1 minute",
            ),
            (
                "escalation:\n  policies:\n    p:\n      stages:\n        - { page: [primary], wait: 5m, repeat: 0 }\n",
                "escalation.policies.p.stages.1.repeat",
                "1–10",
            ),
            (
                "escalation:\n  by_impact: { 1: loud }\n",
                "escalation.by_impact.1",
                "no policy `loud`",
            ),
            (
                "escalation:\n  by_impact: { 7: none }\n",
                "escalation.by_impact.7",
                "1..=5",
            ),
            (
                "escalation:\n  targets:\n    a: { topic: a }\n",
                "escalation.policies.page-after-10m.stages.2.page",
                "no target `primary`",
            ),
        ] {
            let err = match load(section) {
                Err(e) => e,
                Ok(_) => panic!("accepted: {section}"),
            };
            assert_eq!(err.field.as_deref(), Some(field), "{section}: {err}");
            assert!(err.message.contains(words), "{section}: {err}");
        }
    }
}
